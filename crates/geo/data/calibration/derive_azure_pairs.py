#!/usr/bin/env python3
"""Derive azure-p50-2026-07.csv (src,dst,rtt_ms between edgelab place names) from the
published Azure P50 matrix (azure-p50-2026-07.matrix.csv, copied from the CSV block of
learn.microsoft.com/azure/networking/azure-network-latency, dataset of 2026-07-30).

Each Azure region is mapped to the edgelab place (city name) at or nearest its published
location; regions with no place within ~250 km are left out. The RTT of a pair is the mean
of its two directions. Run from this folder: python3 derive_azure_pairs.py
"""
import csv

PLACES = {
    "Australia East": "Sydney",
    "Australia Southeast": "Melbourne",
    "Austria East": "Vienna",
    "Belgium Central": "Brussels",
    "Brazil South": "Sao Paulo",
    "Canada Central": "Toronto",
    "Central India": "Pune",
    "Denmark East": "Copenhagen",
    "East Asia": "Hong Kong",
    "East US": "Ashburn",
    "France Central": "Paris",
    "France South": "Marseille",
    "Germany North": "Berlin",
    "Germany West Central": "Frankfurt",
    "Indonesia Central": "Jakarta",
    "Israel Central": "Tel Aviv",
    "Italy North": "Milan",
    "Japan East": "Tokyo",
    "Japan West": "Osaka",
    "Korea Central": "Seoul",
    "Malaysia West": "Kuala Lumpur",
    "Mexico Central": "Queretaro",
    "New Zealand North": "Auckland",
    "North Central US": "Chicago",
    "North Europe": "Dublin",
    "Norway East": "Oslo",
    "Poland Central": "Warsaw",
    "Qatar Central": "Doha",
    "South Africa North": "Johannesburg",
    "South Africa West": "Cape Town",
    "South India": "Chennai",
    "Southeast Asia": "Singapore",
    "Spain Central": "Madrid",
    "Sweden Central": "Stockholm",
    "Switzerland North": "Zurich",
    "UAE North": "Dubai",
    "UK South": "London",
    "West Europe": "Amsterdam",
    "West US": "San Francisco",
    "West US 3": "Phoenix",
}

rows = list(csv.reader(open("azure-p50-2026-07.matrix.csv")))
names = rows[0][1:]
value = {}
for row in rows[1:]:
    for dst, cell in zip(names, row[1:]):
        if cell:
            value[(row[0], dst)] = float(cell)

with open("azure-p50-2026-07.csv", "w") as out:
    out.write("# Azure inter-region round-trip P50, 30 days to 2026-07-30 (Microsoft Learn,\n")
    out.write("# 'Azure network round-trip latency statistics'); derived by derive_azure_pairs.py\n")
    out.write("src,dst,rtt_ms\n")
    keep = [n for n in names if n in PLACES]
    for i, a in enumerate(keep):
        for b in keep[i + 1:]:
            both = [value[p] for p in ((a, b), (b, a)) if p in value]
            if both:
                out.write(f"{PLACES[a]},{PLACES[b]},{sum(both) / len(both):g}\n")

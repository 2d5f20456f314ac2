#!/usr/bin/env python3
"""Convert Natural Earth's 1:110m land (as TopoJSON in npm's `world-atlas`) into land.txt.

Run once, by hand, when the source changes (the output is committed; nothing runs at build time):

    npm pack world-atlas@2.0.2 && tar xzf world-atlas-2.0.2.tgz
    python3 crates/geo/data/land/convert.py package/land-110m.json > crates/geo/data/land/land.txt

Steps, standard library only:
1. Decode the TopoJSON: undo the quantisation (delta-encoded integer arcs times the transform)
   and stitch each polygon ring from its arcs (a negative index is an arc reversed).
2. Keep outer rings only (holes at 1:110m are a handful of lakes and seas, e.g. the Caspian, which
   the map does not need) and drop Antarctica (every ring entirely south of 60 degrees S; the map
   is cropped at 58 degrees S, where no CDN location is).
3. Simplify every ring with Douglas-Peucker at TOLERANCE degrees (about half a pixel on the
   960-pixel-wide map) and drop rings left with fewer than four points or smaller than MIN_AREA
   square degrees (small islands that would draw as a dot).
4. Rings that cross the antimeridian (TopoJSON stitches Natural Earth's pieces of eastern Russia
   and Fiji back together) are unwrapped, so their longitudes run on past 180 degrees without a
   jump, and written twice: as unwrapped and shifted by 360 degrees. On a map from -180 to 180 the
   two copies show the two halves, each clipped at the edge.
5. Write one ring per line: `lon,lat` pairs to one decimal, separated by spaces, first point not
   repeated at the end.
"""

import json
import sys

TOLERANCE = 0.2
MIN_AREA = 0.5
SOUTH_LIMIT = -60.0


def decode_arcs(topology):
    sx, sy = topology["transform"]["scale"]
    tx, ty = topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x += dx
            y += dy
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)
    return arcs


def ring(arcs, indexes):
    points = []
    for index in indexes:
        arc = arcs[index] if index >= 0 else list(reversed(arcs[~index]))
        # Consecutive arcs share their joining point.
        points.extend(arc if not points else arc[1:])
    return points


def area(points):
    return abs(
        sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(points, points[1:] + points[:1]))
    ) / 2.0


def distance_to_segment(p, a, b):
    (px, py), (ax, ay), (bx, by) = p, a, b
    dx, dy = bx - ax, by - ay
    length = dx * dx + dy * dy
    if length == 0:
        return ((px - ax) ** 2 + (py - ay) ** 2) ** 0.5
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / length))
    return ((px - ax - t * dx) ** 2 + (py - ay - t * dy) ** 2) ** 0.5


def douglas_peucker(points, tolerance):
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        worst, at = 0.0, None
        for i in range(first + 1, last):
            d = distance_to_segment(points[i], points[first], points[last])
            if d > worst:
                worst, at = d, i
        if at is not None and worst > tolerance:
            keep[at] = True
            stack.extend([(first, at), (at, last)])
    return [p for p, k in zip(points, keep) if k]


def unwrapped(points):
    """The ring with each longitude moved by a multiple of 360 to follow on from the previous."""
    out = [points[0]]
    for lon, lat in points[1:]:
        previous = out[-1][0]
        while lon - previous > 180:
            lon -= 360
        while lon - previous < -180:
            lon += 360
        out.append((lon, lat))
    return out


def copies(points):
    """The ring, or its two copies either side of the antimeridian when it crosses it."""
    ring = unwrapped(points)
    low, high = min(p[0] for p in ring), max(p[0] for p in ring)
    if low >= -180 and high <= 180:
        return [points]
    shift = -360 if high > 180 else 360
    return [ring, [(lon + shift, lat) for lon, lat in ring]]


def main(path):
    topology = json.load(open(path, encoding="utf-8"))
    arcs = decode_arcs(topology)
    rings = []
    for geometry in topology["objects"]["land"]["geometries"]:
        polygons = geometry["arcs"] if geometry["type"] == "MultiPolygon" else [geometry["arcs"]]
        for polygon in polygons:
            outer = ring(arcs, polygon[0])
            if max(lat for _, lat in outer) < SOUTH_LIMIT:
                continue
            # The closing point repeats the first; simplify the open ring around it.
            simplified = douglas_peucker(outer, TOLERANCE)[:-1]
            if len(simplified) >= 4 and area(unwrapped(simplified)) >= MIN_AREA:
                rings.extend(copies(simplified))
    for points in rings:
        print(" ".join(f"{lon:.1f},{lat:.1f}" for lon, lat in points))


if __name__ == "__main__":
    main(sys.argv[1])

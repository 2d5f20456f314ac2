//! Properties that must hold for any input, not just the examples in the unit tests.

use std::time::Duration;

use edgelab_geo::{
    Coordinates, EARTH_RADIUS_KM, Endpoint, EndpointGroup, Failures, HopModel, LatencyModel,
    PathClass, Pop, Topology, distance_km, ga_route, nearest_pop,
};
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::SmallRng;

fn coords() -> impl Strategy<Value = Coordinates> {
    (-90.0f64..=90.0, -180.0f64..=180.0).prop_map(|(lat, lon)| Coordinates { lat, lon })
}

fn class() -> impl Strategy<Value = PathClass> {
    prop::sample::select(PathClass::ALL.to_vec())
}

fn hop() -> impl Strategy<Value = HopModel> {
    (
        0u64..300,
        0u64..20,
        0.0f64..0.5,
        prop::option::of(1_000u64..10_000_000),
        any::<bool>(),
    )
        .prop_map(|(rtt, jitter, loss, bandwidth, tls)| HopModel {
            rtt: Duration::from_millis(rtt),
            jitter: Duration::from_millis(jitter),
            loss,
            rto: Duration::from_millis(200),
            bandwidth_bytes_per_sec: bandwidth,
            tls,
        })
}

proptest! {
    #[test]
    fn distance_is_symmetric_bounded_and_zero_on_itself(a in coords(), b in coords()) {
        let d = distance_km(a, b);
        prop_assert!(d >= 0.0);
        prop_assert!(d <= std::f64::consts::PI * EARTH_RADIUS_KM + 1e-6);
        prop_assert!((d - distance_km(b, a)).abs() < 1e-9);
        prop_assert!(distance_km(a, a) < 1e-9);
    }

    #[test]
    fn distance_obeys_the_triangle_inequality(a in coords(), b in coords(), c in coords()) {
        let (ab, bc, ac) = (distance_km(a, b), distance_km(b, c), distance_km(a, c));
        prop_assert!(ac <= ab + bc + 1e-3, "{ac} > {ab} + {bc}");
    }

    #[test]
    fn last_mile_rtt_is_monotone_in_distance(a in coords(), b in coords(), c in coords()) {
        let model = LatencyModel::default();
        let class = PathClass::LastMile;
        let (near, far) = if distance_km(a, b) <= distance_km(a, c) { (b, c) } else { (c, b) };
        prop_assert!(model.rtt_ms(a, near, class) <= model.rtt_ms(a, far, class) + 1e-9);
        prop_assert!(model.rtt(a, near, class) <= model.rtt(a, far, class));
    }

    // Graph paths are not monotone in great-circle distance (that is their point: a
    // farther place on a cable can be nearer than a closer one off it), but they are never
    // faster than light along the great circle, and they are symmetric.
    #[test]
    fn rtt_never_beats_light_on_the_great_circle_and_is_symmetric(a in coords(), b in coords(), class in class()) {
        let model = LatencyModel::default();
        let rtt = model.rtt_ms(a, b, class);
        let light = 2.0 * distance_km(a, b) / model.fibre_km_per_ms;
        prop_assert!(rtt >= light + model.class(class).fixed_ms - 1e-6, "{rtt} < {light}");
        prop_assert!((rtt - model.rtt_ms(b, a, class)).abs() < 1e-6);
    }

    #[test]
    fn internet_is_never_faster_than_backbone_with_defaults(a in coords(), b in coords()) {
        let model = LatencyModel::default();
        prop_assert!(model.rtt(a, b, PathClass::Backbone) <= model.rtt(a, b, PathClass::Internet));
        prop_assert!(model.client_hop(a, b).rtt >= model.rtt(a, b, PathClass::Internet));
    }

    #[test]
    fn samples_never_beat_the_base_rtt(h in hop(), seed in any::<u64>()) {
        let mut rng = SmallRng::seed_from_u64(seed);
        for _ in 0..20 {
            let exchange = h.sample_exchange(&mut rng);
            prop_assert!(exchange >= h.rtt);
            prop_assert!(exchange <= h.rtt + h.jitter * 10 + h.rto);
            prop_assert!(h.sample_connect(&mut rng) >= h.rtt * h.connect_rtts());
        }
    }

    #[test]
    fn composing_hops_adds_rtt_and_keeps_the_narrowest_bandwidth(a in hop(), b in hop(), c in hop()) {
        let ab = a.then(&b);
        prop_assert_eq!(ab.rtt, a.rtt + b.rtt);
        prop_assert!(ab.loss >= a.loss.max(b.loss) - 1e-12 && ab.loss < 1.0);
        let left = a.then(&b).then(&c);
        let right = a.then(&b.then(&c));
        prop_assert_eq!(left.rtt, right.rtt);
        prop_assert_eq!(left.bandwidth_bytes_per_sec, right.bandwidth_bytes_per_sec);
        prop_assert!((left.loss - right.loss).abs() < 1e-12);
        prop_assert_eq!(HopModel::ZERO.then(&a), a);
    }

    #[test]
    fn routing_returns_a_healthy_pop_whenever_one_exists(
        client in coords(),
        picks in prop::collection::vec((0usize..107, any::<bool>()), 0..12),
    ) {
        let t = Topology::embedded();
        let edges: Vec<&Pop> = t.edges().collect();
        let candidates: Vec<&Pop> = picks.iter().map(|(i, _)| edges[*i]).collect();
        let healthy: Vec<String> = picks.iter().filter(|(_, up)| *up).map(|(i, _)| edges[*i].key()).collect();
        let model = LatencyModel::default();
        let chosen = nearest_pop(client, &candidates, |p| healthy.contains(&p.key()), &model);
        match chosen {
            None => prop_assert!(healthy.is_empty()),
            Some(pop) => {
                prop_assert!(healthy.contains(&pop.key()));
                let best = model.rtt_ms(client, pop.coordinates, PathClass::Internet);
                for other in candidates.iter().filter(|p| healthy.contains(&p.key())) {
                    prop_assert!(best <= model.rtt_ms(client, other.coordinates, PathClass::Internet));
                }
            }
        }
    }

    #[test]
    fn ga_sends_traffic_to_a_healthy_endpoint_unless_it_fails_open(
        client in coords(),
        spec in prop::collection::vec((0usize..36, 0.0f64..=1.0, prop::collection::vec((0u32..4, any::<bool>()), 1..4)), 1..6),
        region_down in prop::option::of(0usize..36),
        seed in any::<u64>(),
    ) {
        let t = Topology::embedded();
        let regions = t.regions();
        let groups: Vec<EndpointGroup> = spec.iter().map(|(r, dial, endpoints)| {
            let region = &regions[*r];
            EndpointGroup {
                region: region.code.clone(),
                coordinates: region.coordinates,
                traffic_dial: *dial,
                endpoints: endpoints.iter().enumerate().map(|(i, (weight, healthy))| Endpoint {
                    id: format!("e{i}"),
                    region: region.code.clone(),
                    az: region.az_ids.get(i).cloned(),
                    weight: *weight,
                    healthy: *healthy,
                }).collect(),
            }
        }).collect();
        let mut failures = Failures::none();
        if let Some(r) = region_down {
            failures.regions.insert(regions[r].code.clone());
        }
        let pops: Vec<&Pop> = t.edges().collect();
        let model = LatencyModel::default();
        let mut rng = SmallRng::seed_from_u64(seed);
        let any_weight = groups.iter().any(|g| g.endpoints.iter().any(|e| e.weight > 0));
        match ga_route(client, &pops, &groups, &failures, &model, &mut rng) {
            None => prop_assert!(!any_weight),
            Some(route) => {
                let endpoint = &groups[route.group].endpoints[route.endpoint];
                prop_assert!(endpoint.weight > 0);
                if route.failed_open {
                    // Fails open only when no group within reach has a usable endpoint.
                    prop_assert!(route.failovers <= 3);
                } else {
                    prop_assert!(failures.endpoint_up(endpoint));
                    prop_assert!(route.failovers <= 3);
                }
            }
        }
    }
}

fn region_code() -> impl Strategy<Value = String> {
    let codes: Vec<String> = Topology::embedded()
        .regions()
        .iter()
        .map(|r| r.code.clone())
        .collect();
    prop::sample::select(codes)
}

proptest! {
    #[test]
    fn the_measured_parser_never_panics(text in "(?s).{0,400}") {
        let _ = edgelab_geo::parse_measured(&text, Topology::embedded());
    }

    #[test]
    fn a_valid_measured_table_parses_back_with_its_line_numbers(
        rows in prop::collection::vec((region_code(), region_code(), 0.1f64..1000.0, any::<bool>()), 1..20),
    ) {
        let mut text = String::from("# generated\nsrc,dst,rtt_ms\n");
        let mut lines = Vec::new();
        let mut line = 3;
        for (src, dst, rtt, blank_before) in &rows {
            if *blank_before {
                text.push('\n');
                line += 1;
            }
            text.push_str(&format!("{src}, {dst},{rtt}\n"));
            lines.push(line);
            line += 1;
        }
        let parsed = edgelab_geo::parse_measured(&text, Topology::embedded()).unwrap();
        prop_assert_eq!(parsed.len(), rows.len());
        for ((m, (src, dst, rtt, _)), line) in parsed.iter().zip(&rows).zip(lines) {
            prop_assert_eq!(&m.src, src);
            prop_assert_eq!(&m.dst, dst);
            prop_assert_eq!(m.rtt_ms, *rtt);
            prop_assert_eq!(m.line, line);
        }
    }
}

//! [`Plan`]: the validated, seeded workload of a run, for a fixed list of client places, and
//! the open-loop requests it draws ([`Plan::requests`]).
//!
//! Its own module so that the engine ([`crate::run()`]) and the report ([`crate::report`]) both
//! depend on it without depending on each other.

use std::time::Duration;

use edgelab_common::config::ConfigErrors;
use rand::SeedableRng;
use rand::distr::weighted::WeightedIndex;
use rand::rngs::StdRng;
use rand_distr::Distribution;

use crate::catalog::Catalog;
use crate::replay::{Cursor, ReplayLog};
use crate::scenario::Settings;
use crate::schedule::Schedule;
use crate::workload::Workload;

/// A validated, seeded workload for a fixed list of client places.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The scenario with the command line applied.
    pub settings: Settings,
    /// The request sampler.
    pub workload: Workload,
    /// The client places, in the order targets must be given to [`crate::run()`].
    pub places: Vec<String>,
    /// An access log to replay instead of drawing requests ([`Plan::replaying`]).
    pub replay: Option<ReplayLog>,
}

impl Plan {
    /// Builds the plan for `places` (each target's place, in order).
    pub fn new(
        settings: Settings,
        catalog: &Catalog,
        places: &[String],
    ) -> Result<Plan, ConfigErrors> {
        let workload = Workload::new(&settings, catalog, places)?;
        Ok(Plan {
            settings,
            workload,
            places: places.to_vec(),
            replay: None,
        })
    }

    /// This plan sending the requests of `log` (its places, [`ReplayLog::places`], must be
    /// this plan's) instead of drawing them: each at its logged time from the first, divided
    /// by the log's speed, for an object of the catalog with its path (others are skipped).
    /// The run's duration should cover [`ReplayLog::span`].
    pub fn replaying(mut self, log: ReplayLog) -> Plan {
        self.replay = Some(log);
        self
    }

    /// The open-loop requests of this plan's shard ([`Settings::shard`]), in schedule order.
    ///
    /// Every request of the whole schedule is drawn (send offset, then place, then object,
    /// from one generator seeded with the run's seed), so the random sequence is the same
    /// whatever the shard; only the shard's own requests are yielded. The schedule ends at
    /// the run's duration or after `requests` requests of the *whole* run.
    pub fn requests(&self) -> PlannedRequests<'_> {
        let settings = &self.settings;
        let weights: Vec<f64> = self
            .places
            .iter()
            .map(|place| {
                settings
                    .populations
                    .iter()
                    .find(|p| &p.place == place)
                    .map_or(1.0, |p| p.weight)
            })
            .collect();
        PlannedRequests {
            replay: self
                .replay
                .as_ref()
                .and_then(|log| Cursor::open(log, self.workload.objects(), &self.places)),
            plan: self,
            rng: StdRng::seed_from_u64(settings.seed),
            schedule: Schedule::new(settings.arrival.clone()),
            // Weights are validated > 0 and finite; with one place there is nothing to pick.
            pick: (weights.len() > 1)
                .then(|| WeightedIndex::new(&weights).ok())
                .flatten(),
            next: 0,
            limit: settings.requests.unwrap_or(u64::MAX),
        }
    }
}

/// One open-loop request of a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedRequest {
    /// Its position in the whole run's schedule (from 0), whatever the shard.
    pub index: u64,
    /// When it is meant to leave, from the start of the run.
    pub offset: Duration,
    /// The place (target) sending it: an index into [`Plan::places`].
    pub place: usize,
    /// The object: an index into the plan's [`Workload::objects`].
    pub object: usize,
    /// A replayed request's logged query string (without `?`), sent after the object's
    /// path; `None` for drawn requests and when the catalog path already carries it.
    pub query: Option<Box<str>>,
}

/// The iterator of [`Plan::requests`].
#[derive(Debug)]
pub struct PlannedRequests<'a> {
    plan: &'a Plan,
    rng: StdRng,
    schedule: Schedule,
    pick: Option<WeightedIndex<f64>>,
    next: u64,
    limit: u64,
    replay: Option<Cursor>,
}

impl PlannedRequests<'_> {
    /// Replayed requests whose path the catalog lacks (skipped), so far.
    pub fn unknown_paths(&self) -> u64 {
        self.replay.as_ref().map_or(0, |c| c.unknown_paths)
    }
}

impl Iterator for PlannedRequests<'_> {
    type Item = PlannedRequest;

    fn next(&mut self) -> Option<PlannedRequest> {
        let settings = &self.plan.settings;
        if let Some(cursor) = &mut self.replay {
            loop {
                let request = cursor.next_request()?;
                if request.index >= self.limit {
                    return None;
                }
                if settings.shard.contains(request.index) {
                    return Some(request);
                }
            }
        }
        while self.next < self.limit {
            let offset = self.schedule.next_offset(&mut self.rng);
            if offset >= settings.duration {
                self.limit = self.next;
                return None;
            }
            let place = match &self.pick {
                Some(pick) => pick.sample(&mut self.rng),
                None => 0,
            };
            let object = self.plan.workload.sample(place, &mut self.rng);
            let index = self.next;
            self.next += 1;
            if settings.shard.contains(index) {
                return Some(PlannedRequest {
                    index,
                    offset,
                    place,
                    object,
                    query: None,
                });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::CatalogObject;
    use crate::scenario::{Arrival, Population};
    use crate::shard::Shard;

    fn plan(arrival: Arrival, requests: Option<u64>, shard: Shard) -> Plan {
        let objects = (0..50)
            .map(|i| CatalogObject {
                path: format!("/static/{i}.js"),
                class: "static".into(),
                size: Some(100),
                digest: None,
                content_type: None,
            })
            .collect();
        let catalog = Catalog {
            seed: Some(1),
            objects,
        };
        let population = |place: &str, weight: f64, skew: f64| Population {
            place: place.into(),
            weight,
            skew,
        };
        let settings = Settings {
            seed: 77,
            arrival,
            requests,
            duration: Duration::from_secs(3),
            populations: vec![
                population("London", 3.0, 0.0),
                population("Tokyo", 1.0, 0.5),
                population("Sydney", 2.0, 0.2),
            ],
            shard,
            ..Settings::default()
        };
        let places: Vec<String> = settings
            .populations
            .iter()
            .map(|p| p.place.clone())
            .collect();
        Plan::new(settings, &catalog, &places).unwrap()
    }

    fn union_of_shards(arrival: Arrival, requests: Option<u64>, count: u32) {
        let whole: Vec<PlannedRequest> = plan(arrival.clone(), requests, Shard::WHOLE)
            .requests()
            .collect();
        assert!(whole.len() > 100, "{}", whole.len());
        let mut union = Vec::new();
        for index in 1..=count {
            let shard = Shard::new(index, count).unwrap();
            let own: Vec<PlannedRequest> =
                plan(arrival.clone(), requests, shard).requests().collect();
            // Each shard carries its fair share (±1) spread over the whole run.
            let fair = whole.len() as f64 / f64::from(count);
            assert!(
                (own.len() as f64 - fair).abs() <= 1.0,
                "{} vs {fair}",
                own.len()
            );
            let last = own.last().unwrap().offset.as_secs_f64();
            let whole_last = whole.last().unwrap().offset.as_secs_f64();
            assert!(whole_last - last < 0.1, "shard {shard} ends at {last} s");
            union.extend(own);
        }
        union.sort_by_key(|r| r.index);
        let before = union.len();
        union.dedup_by_key(|r| r.index);
        assert_eq!(union.len(), before, "the shards are disjoint");
        assert_eq!(union, whole, "the shards together are the whole run");
    }

    #[test]
    fn the_union_of_the_shards_is_the_unsharded_plan() {
        union_of_shards(Arrival::Poisson { rate: 400.0 }, None, 3);
        union_of_shards(Arrival::Constant { rate: 300.0 }, Some(500), 4);
        union_of_shards(
            Arrival::Ramp {
                from: 10.0,
                to: 300.0,
                over_s: 2.0,
            },
            None,
            2,
        );
    }

    #[test]
    fn one_shard_of_one_is_the_whole_run_and_the_bounds_hold() {
        let whole: Vec<PlannedRequest> =
            plan(Arrival::Constant { rate: 100.0 }, None, Shard::WHOLE)
                .requests()
                .collect();
        assert_eq!(whole.len(), 300, "3 s at 100/s");
        assert!(whole.iter().enumerate().all(|(i, r)| r.index == i as u64));
        let capped: Vec<PlannedRequest> = plan(
            Arrival::Constant { rate: 100.0 },
            Some(10),
            Shard::new(2, 3).unwrap(),
        )
        .requests()
        .collect();
        let indices: Vec<u64> = capped.iter().map(|r| r.index).collect();
        assert_eq!(indices, [1, 4, 7], "the request bound counts the whole run");
    }
}

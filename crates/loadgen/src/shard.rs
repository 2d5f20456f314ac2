//! Sharding: one run's seeded schedule split into `N` disjoint slices, so `N` load generators
//! (machines, pods, Swarm tasks) together send exactly the requests one would.
//!
//! Request `i` (counting from 0 in the order the seeded schedule draws them) belongs to
//! shard `(i mod N) + 1`. Every shard draws the *whole* schedule (times, places, objects: the
//! random generator advances identically) and sends only its own requests, at their own
//! intended times. So each shard's load is `1/N` of the run's, spread evenly over the whole
//! run (its timeline is the run's, thinned), and the union of the `N` shards is the unsharded
//! run: same paths, same places, same send offsets. Shard indices are 1-based (`1/3`, `2/3`,
//! `3/3`; Docker Swarm's `{{.Task.Slot}}`); an orchestrator with a 0-based index (Kubernetes'
//! `JOB_COMPLETION_INDEX`) writes the index as a sum, `$(JOB_COMPLETION_INDEX)+1/3`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Most shards a run can be split into.
pub const MAX_SHARDS: u32 = 10_000;

/// One of `count` disjoint slices of a run's schedule: the requests whose index `i` (from 0)
/// has `i mod count == index - 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Shard {
    /// Which slice, from 1 to `count`.
    pub index: u32,
    /// How many slices the run is split into (1: the whole run).
    pub count: u32,
}

impl Default for Shard {
    fn default() -> Self {
        Shard::WHOLE
    }
}

impl Shard {
    /// The whole run (`1/1`).
    pub const WHOLE: Shard = Shard { index: 1, count: 1 };

    /// Shard `index` of `count`; `index` from 1 to `count`, `count` from 1 to [`MAX_SHARDS`].
    pub fn new(index: u32, count: u32) -> Result<Shard, String> {
        if !(1..=MAX_SHARDS).contains(&count) {
            return Err(format!(
                "the shard count must be between 1 and {MAX_SHARDS}, not {count}"
            ));
        }
        if !(1..=count).contains(&index) {
            return Err(format!(
                "the shard index must be between 1 and {count} (indices are 1-based; write a \
                 0-based index K as K+1/{count}), not {index}"
            ));
        }
        Ok(Shard { index, count })
    }

    /// Whether the request with schedule index `request` (from 0) is this shard's.
    pub fn contains(self, request: u64) -> bool {
        request % u64::from(self.count) == u64::from(self.index - 1)
    }

    /// Whether this is the whole run.
    pub fn is_whole(self) -> bool {
        self.count == 1
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    /// `I/N`, where `I` may be a sum of non-negative integers (`0+1/3` is `1/3`).
    fn from_str(text: &str) -> Result<Shard, String> {
        let usage = || format!("`{text}` is not I/N (e.g. 2/3: the second of three shards)");
        let (index, count) = text.trim().split_once('/').ok_or_else(usage)?;
        let number = |part: &str| part.trim().parse::<u32>().map_err(|_| usage());
        let mut sum: u32 = 0;
        for term in index.split('+') {
            sum = sum.checked_add(number(term)?).ok_or_else(usage)?;
        }
        Shard::new(sum, number(count)?)
    }
}

/// Which shards of an `count`-way split a report covers: one for a shard's own run, several
/// for a merged report (`edgelab report merge`), `1/1` for an unsharded run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardSet {
    /// How many shards the run was split into.
    pub count: u32,
    /// The shards covered (1-based, ascending, distinct).
    pub indices: Vec<u32>,
}

impl Default for ShardSet {
    fn default() -> Self {
        ShardSet::from(Shard::WHOLE)
    }
}

impl From<Shard> for ShardSet {
    fn from(shard: Shard) -> Self {
        ShardSet {
            count: shard.count,
            indices: vec![shard.index],
        }
    }
}

impl ShardSet {
    /// Whether every shard of the split is covered.
    pub fn is_complete(&self) -> bool {
        self.indices.len() as u64 == u64::from(self.count)
    }

    /// The shards of the split that are not covered.
    pub fn missing(&self) -> Vec<u32> {
        (1..=self.count)
            .filter(|i| !self.indices.contains(i))
            .collect()
    }
}

impl fmt::Display for ShardSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list: Vec<String> = self.indices.iter().map(u32::to_string).collect();
        write!(f, "{} of {}", list.join(","), self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_one_based_shards_and_sums() {
        assert_eq!("2/3".parse(), Ok(Shard { index: 2, count: 3 }));
        assert_eq!(" 1/1 ".parse(), Ok(Shard::WHOLE));
        assert_eq!("0+1/3".parse(), Ok(Shard { index: 1, count: 3 }));
        assert_eq!("2+1/3".parse(), Ok(Shard { index: 3, count: 3 }));
        assert_eq!(Shard { index: 2, count: 3 }.to_string(), "2/3");
    }

    #[test]
    fn rejects_what_is_not_a_shard() {
        for bad in [
            "0/3", "4/3", "3+1/3", "1/0", "2", "a/3", "1/b", "-1/3", "/3", "1/", "",
        ] {
            let error = bad.parse::<Shard>().unwrap_err();
            assert!(!error.is_empty(), "{bad}");
        }
        assert!("0/3".parse::<Shard>().unwrap_err().contains("1-based"));
        assert!("1/10001".parse::<Shard>().is_err());
        assert!("4294967295+1/3".parse::<Shard>().is_err(), "overflow");
    }

    #[test]
    fn shards_partition_the_request_indices() {
        let count = 3;
        let shards: Vec<Shard> = (1..=count).map(|i| Shard::new(i, count).unwrap()).collect();
        for request in 0..1000u64 {
            let owners = shards.iter().filter(|s| s.contains(request)).count();
            assert_eq!(owners, 1, "request {request}");
        }
        assert!(shards[0].contains(0) && shards[1].contains(1) && shards[0].contains(3));
        assert!((0..100).all(|i| Shard::WHOLE.contains(i)));
    }

    #[test]
    fn shard_sets_know_what_is_missing() {
        let set = ShardSet {
            count: 3,
            indices: vec![1, 3],
        };
        assert!(!set.is_complete());
        assert_eq!(set.missing(), [2]);
        assert_eq!(set.to_string(), "1,3 of 3");
        assert!(ShardSet::default().is_complete());
    }
}

//! LRU and FIFO on the cloudPhysics trace give exactly libCacheSim 0.3.5's miss counts
//! (`.ci/e2e/replay.sh` recomputes these with libCacheSim itself; they are pinned here so a
//! regression shows without Python).

use std::fs::File;
use std::io::BufReader;

use edgelab_replay::trace::Requests;
use edgelab_replay::{Eviction, TraceFormat, simulate};

const MIB: u64 = 1 << 20;

/// (misses, byte misses) at 128 MiB, 256 MiB, … 1 GiB, from libCacheSim 0.3.5.
const LRU: [(u64, u64); 8] = [
    (93374, 4214303232),
    (89783, 4061242368),
    (83572, 3778040320),
    (81722, 3660569600),
    (72494, 3100927488),
    (72104, 3078128640),
    (71972, 3075403776),
    (71704, 3061662720),
];
const FIFO: [(u64, u64); 8] = [
    (93403, 4213112832),
    (89386, 4052646400),
    (84387, 3829170176),
    (84025, 3807412736),
    (72498, 3093146112),
    (72228, 3079525888),
    (72182, 3079210496),
    (72140, 3077547520),
];

fn replay(eviction: Eviction) -> Vec<(u64, u64)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/cloudPhysicsIO.oracleGeneral.bin"
    );
    let file = BufReader::new(File::open(path).expect("the reference trace is shipped"));
    let capacities: Vec<u64> = (1..=8).map(|step| step * 128 * MIB).collect();
    let report = simulate(
        Requests::new(file, TraceFormat::OracleGeneral),
        eviction,
        &capacities,
    )
    .expect("the reference trace reads");
    assert_eq!(report.requests, 113_872);
    report
        .results
        .iter()
        .map(|o| (o.misses, o.byte_misses))
        .collect()
}

#[test]
fn lru_miss_counts_equal_libcachesim() {
    assert_eq!(replay(Eviction::Lru), LRU);
}

#[test]
fn fifo_miss_counts_equal_libcachesim() {
    assert_eq!(replay(Eviction::Fifo), FIFO);
}

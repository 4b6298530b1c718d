//! The smoke run of the stateful fuzz targets (`fuzz/fuzz_targets/node_sequence.rs`,
//! `two_site_sequence.rs`): seeded random byte strings become op sequences through the
//! same grammar, on one site and on a BC pair, plus every input of the checked-in corpus.
//! The long runs (30 minutes a target) are `fuzz/run.sh`.

use std::path::Path;

use arbitrary::{Arbitrary, Unstructured};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sim::hostile::{Hostile, Op};

fn run(sites: usize, data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(ops) = Vec::<Op>::arbitrary(&mut u) else { return };
    Hostile::new(sites, 1).run(&ops);
}

#[test]
fn random_sequences_on_one_site_and_on_a_pair() {
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    for round in 0..600 {
        let mut data = vec![0u8; 256 + (round % 8) * 512];
        rng.fill_bytes(&mut data);
        run(1 + round % 2, &data);
    }
}

#[test]
fn the_checked_in_corpus_replays_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let mut replayed = 0;
    for (target, sites) in [("node_sequence", 1), ("two_site_sequence", 2)] {
        let Ok(dir) = std::fs::read_dir(root.join(target)) else { continue };
        for entry in dir.flatten() {
            // A running fuzzer may be replacing files under us.
            let Ok(data) = std::fs::read(entry.path()) else { continue };
            run(sites, &data);
            replayed += 1;
        }
    }
    eprintln!("replayed {replayed} corpus inputs");
}

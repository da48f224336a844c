//! On stable, without libFuzzer: every seed runs through its target with the expected verdict,
//! and so does every input saved under `corpus/` and `artifacts/` by earlier fuzzing runs (a
//! crash saved there fails this test until it is fixed).

use orgbackup_fuzz::{TARGETS, Verdict, seeds::seeds};
use std::path::Path;

#[test]
fn every_seed_gets_its_expected_verdict() {
    let seeds = seeds();
    for (target, run) in TARGETS {
        let mine: Vec<_> = seeds.iter().filter(|s| s.target == target).collect();
        assert!(!mine.is_empty(), "no seed for {target}");
        for seed in mine {
            let verdict = run(&seed.bytes);
            assert_eq!(
                verdict == Verdict::Accepted,
                seed.valid,
                "{target}/{}: {verdict:?}",
                seed.name
            );
        }
    }
}

#[test]
fn saved_corpus_and_crashes_replay_without_a_broken_promise() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (target, run) in TARGETS {
        for folder in ["corpus", "artifacts"] {
            let Ok(dir) = std::fs::read_dir(root.join(folder).join(target)) else {
                continue;
            };
            for file in dir.filter_map(|e| e.ok()).map(|e| e.path()) {
                let bytes = std::fs::read(&file).unwrap();
                // A broken promise panics inside `run`; the verdict itself may be either.
                let _ = run(&bytes);
            }
        }
    }
}

//! Runs files through a target without libFuzzer (on stable): `replay TARGET FILE_OR_DIR...`,
//! e.g. a crash `cargo fuzz` saved under `artifacts/`, or a whole corpus folder.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let names: Vec<_> = orgbackup_fuzz::TARGETS.iter().map(|(n, _)| *n).collect();
    let Some(target) = args
        .next()
        .and_then(|name| orgbackup_fuzz::TARGETS.iter().find(|(n, _)| *n == name))
    else {
        eprintln!(
            "usage: replay TARGET FILE_OR_DIR... (TARGET: {})",
            names.join(", ")
        );
        return ExitCode::FAILURE;
    };
    let mut files = Vec::new();
    for arg in args {
        let path = Path::new(&arg);
        match std::fs::read_dir(path) {
            Ok(dir) => files.extend(dir.filter_map(|e| e.ok()).map(|e| e.path())),
            Err(_) => files.push(path.to_path_buf()),
        }
    }
    for file in &files {
        let bytes = match std::fs::read(file) {
            Ok(bytes) => bytes,
            Err(e) => {
                eprintln!("{}: {e}", file.display());
                return ExitCode::FAILURE;
            }
        };
        println!("{}: {:?}", file.display(), (target.1)(&bytes));
    }
    println!("{} inputs replayed through {}", files.len(), target.0);
    ExitCode::SUCCESS
}

//! `cargo xtask`: kit's developer tasks.
//!
//! - `ci`: everything CI checks (see `ci`).
//! - `fixtures [--out DIR]`: the OCI layout of test and example images (see `fixtures`).
//! - `example`: builds the fixtures and `examples/hello.yml` into `out/` (see `boot`).
//! - `boot`: builds the example system and boots it under QEMU (see `boot`).
//! - `bench build|pull|formats`: benchmarks of kit against its floors (see `bench`).

mod bench;
mod boot;
mod ci;
mod fixtures;

use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .ok_or_else(|| anyhow::anyhow!("xtask has no parent directory"))?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (task, rest) = match args.split_first() {
        Some((task, rest)) => (task.as_str(), rest),
        None => ("", &[][..]),
    };
    match task {
        "ci" => ci::run(&root),
        "fixtures" => fixtures::main(rest),
        "example" => boot::example(&root, rest),
        "boot" => boot::main(&root, rest),
        "bench" => bench::main(&root, rest),
        _ => anyhow::bail!(
            "unknown task {task:?}; tasks: ci, fixtures [--out DIR], example, boot, bench build|pull|formats"
        ),
    }
}

//! `cargo xtask`: kit's developer tasks (fixtures, boot tests, tidy, benchmarks).

mod ci;

use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .ok_or_else(|| anyhow::anyhow!("xtask has no parent directory"))?;
    let task = std::env::args().nth(1).unwrap_or_default();
    match task.as_str() {
        "ci" => ci::run(&root),
        _ => anyhow::bail!("unknown task {task:?}; tasks: ci"),
    }
}

//! `cargo xtask`: kit's developer tasks (fixtures, boot tests, tidy, benchmarks).

fn main() -> anyhow::Result<()> {
    let task = std::env::args().nth(1).unwrap_or_default();
    anyhow::bail!("unknown task {task:?}")
}

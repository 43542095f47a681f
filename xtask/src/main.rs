//! `cargo xtask`: kit's developer tasks.
//!
//! - `fixtures [--out DIR]`: the OCI layout of test and example images (see `fixtures`).
//! - `boot`: builds the example system and boots it under QEMU (see `boot`).

mod boot;
mod fixtures;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (task, rest) = match args.split_first() {
        Some((task, rest)) => (task.as_str(), rest),
        None => ("", &[][..]),
    };
    match task {
        "fixtures" => fixtures::main(rest),
        "boot" => boot::main(rest),
        _ => anyhow::bail!("unknown task {task:?}; tasks: fixtures [--out DIR], boot"),
    }
}

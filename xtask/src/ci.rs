//! `cargo xtask ci`: everything CI checks, in one command (the README's test command).
//!
//! Runs rustfmt and clippy with warnings denied, builds the test fixtures, then the whole test
//! suite with `CI` semantics left to the environment (a missing tool skips a test locally and
//! fails it when `CI` is set).

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

/// Runs every CI step from the workspace root, stopping at the first failure.
pub fn run(root: &Path) -> anyhow::Result<()> {
    print_tool_versions();
    step(root, "rustfmt", &["fmt", "--all", "--", "--check"])?;
    step(
        root,
        "clippy",
        &["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"],
    )?;
    eprintln!("xtask ci: fixtures: building the test images into target/kit-fixtures");
    crate::fixtures::build(&root.join("target").join("kit-fixtures"))?;
    step(root, "tests", &["test", "--workspace", "--locked", "--no-fail-fast"])?;
    Ok(())
}

fn step(root: &Path, name: &str, args: &[&str]) -> anyhow::Result<()> {
    eprintln!("xtask ci: {name}: cargo {}", args.join(" "));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args(args)
        .current_dir(root)
        .status()
        .with_context(|| format!("running cargo for the {name} step"))?;
    if !status.success() {
        bail!("the {name} step failed ({status})");
    }
    Ok(())
}

/// Prints the versions of the external checkers the tests use, so a CI log says what ran.
fn print_tool_versions() {
    let tools: [(&str, &[&str]); 10] = [
        ("qemu-system-x86_64", &["--version"]),
        ("qemu-system-aarch64", &["--version"]),
        ("qemu-img", &["--version"]),
        ("cpio", &["--version"]),
        ("tar", &["--version"]),
        ("bsdtar", &["--version"]),
        ("runc", &["--version"]),
        ("docker-registry", &["--version"]),
        ("skopeo", &["--version"]),
        ("openssl", &["version"]),
    ];
    for (tool, args) in tools {
        let version = Command::new(tool)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.lines().next().map(str::to_owned));
        eprintln!("xtask ci: {tool}: {}", version.as_deref().unwrap_or("not found"));
    }
}

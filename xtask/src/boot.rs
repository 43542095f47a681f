//! `cargo xtask example` and `cargo xtask boot`: the README's example system, for humans.
//!
//! `example` builds the fixture images (`cargo xtask fixtures`) and then `examples/hello.yml`
//! with kit into `out/`: `hello-kernel`, `hello-initrd.img`, `hello-cmdline`, `hello.tar` and
//! `hello-efi.img` (a UEFI disk: systemd-boot and a UKI on a FAT32 ESP in a GPT disk).
//! `boot` does the same and boots it with `kit run qemu`, showing the console, until the
//! onboot container's marker appears.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::fixtures;

/// The console line the example's first onboot container prints.
pub const MARKER: &str = "kit: hello from onboot";

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// Runs kit (built from this workspace) with `args`.
fn kit(root: &Path, args: &[&str]) -> Result<std::process::ExitStatus> {
    eprintln!("xtask: kit {}", args.join(" "));
    Command::new(cargo())
        .args(["run", "--quiet", "--package", "kit", "--"])
        .args(args)
        .current_dir(root)
        .status()
        .context("running cargo run --package kit")
}

fn check_no_args(task: &str, args: &[String]) -> Result<()> {
    if let Some(arg) = args.first() {
        bail!("{task}: unexpected argument {arg:?} (usage: cargo xtask {task})");
    }
    Ok(())
}

/// Builds the fixtures and then the example into `out/`, offline, from the fixture layout,
/// with a cache of its own under `target/` (the user's cache is left alone).
fn build_example(root: &Path) -> Result<()> {
    let fixtures = root.join("target").join("kit-fixtures");
    fixtures::build(&fixtures)?;
    let source = fixtures.join("oci");
    let cache = root.join("target").join("kit-example-cache");
    let status = kit(
        root,
        &[
            "build",
            "--offline",
            "--source",
            &source.to_string_lossy(),
            "--cache",
            &cache.to_string_lossy(),
            "--policy",
            &fixtures.join("example-policy.yaml").to_string_lossy(),
            "--explain",
            "--format",
            "kernel+initrd,tar,raw-efi",
            "--boot-image",
            "kit.example/efi-boot:252",
            "--dir",
            "out",
            "examples/hello.yml",
        ],
    )?;
    if !status.success() {
        bail!("kit build examples/hello.yml failed ({status})");
    }
    eprintln!(
        "xtask: built out/hello-kernel, out/hello-initrd.img, out/hello-cmdline, out/hello.tar \
         and out/hello-efi.img"
    );
    eprintln!("xtask: boot it with: cargo run -- run qemu --mem 512 out/hello");
    eprintln!("xtask: or its UEFI disk: cargo run -- run qemu --mem 512 out/hello-efi.img");
    Ok(())
}

/// `cargo xtask example`.
pub fn example(root: &Path, args: &[String]) -> Result<()> {
    check_no_args("example", args)?;
    build_example(root)
}

/// `cargo xtask boot`.
pub fn main(root: &Path, args: &[String]) -> Result<()> {
    check_no_args("boot", args)?;
    let started = std::time::Instant::now();
    build_example(root)?;
    let status = kit(
        root,
        &["run", "qemu", "--expect", MARKER, "--timeout", "180", "--mem", "512", "out/hello"],
    )?;
    if !status.success() {
        bail!("the example did not boot to {MARKER:?} ({status})");
    }
    eprintln!("xtask: boot done in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

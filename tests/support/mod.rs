//! Shared helpers for integration tests: finding external tools, the skip-locally /
//! fail-in-CI rule, the fixture OCI layout `cargo xtask fixtures` writes, and a build of the
//! example system with the kit binary.
//!
//! Rule (CONVENTIONS.md): a test that needs something missing (a tool, root, the fixtures)
//! prints why and passes locally, but fails when the `CI` environment variable is set.
#![allow(dead_code)] // Each test crate uses a different part of this module.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// True when running under CI (`CI` set to anything but empty or `false`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Skips the calling test locally (prints `why`) and fails it in CI. Returns `None` so callers
/// can write `let Some(x) = … else { return };`.
pub fn skip<T>(why: &str) -> Option<T> {
    assert!(!in_ci(), "CI is set, so this may not be skipped: {why}");
    eprintln!("skipping: {why}");
    None
}

/// Slow tests (QEMU boots) run in CI and when `KIT_SLOW_TESTS` is set; otherwise they skip.
pub fn require_slow_tests(what: &str) -> Option<()> {
    if in_ci() || std::env::var_os("KIT_SLOW_TESTS").is_some() {
        Some(())
    } else {
        eprintln!("skipping slow test ({what}): set KIT_SLOW_TESTS=1 to run it");
        None
    }
}

/// The path of an executable, searched in `PATH` and then the sbin directories (where Debian
/// puts runc); skips when it is missing.
pub fn require_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let extra = ["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from);
    let found =
        std::env::split_paths(&path).chain(extra).map(|dir| dir.join(name)).find(|candidate| {
            fs::metadata(candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        });
    match found {
        Some(path) => Some(path),
        None => skip(&format!("{name} is not installed")),
    }
}

/// True when running as root; skips otherwise.
pub fn require_root(why: &str) -> Option<()> {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    if uid.as_deref() == Some("0") { Some(()) } else { skip(&format!("not root: {why}")) }
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The fixtures directory (`KIT_FIXTURES_DIR`, else `target/kit-fixtures`) holding `oci/`;
/// skips when `cargo xtask fixtures` has not run.
pub fn fixtures_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("KIT_FIXTURES_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => workspace_root().join("target").join("kit-fixtures"),
    };
    if dir.join("oci").join("index.json").is_file() {
        Some(dir)
    } else {
        skip(&format!("no fixtures in {} (run `cargo xtask fixtures`)", dir.display()))
    }
}

/// Builds `examples/hello.yml` with the kit binary, offline, from the fixture layout and under
/// the fixtures' signature policy (the example images are signed by `cargo xtask fixtures`), into
/// `out` (kernel+initrd and tar) with a fresh cache there; returns the output prefix
/// (`out/hello`). The build itself must succeed: a failure fails the calling test.
pub fn build_example(fixtures: &Path, out: &Path) -> PathBuf {
    let output = Command::new(env!("CARGO_BIN_EXE_kit"))
        .arg("build")
        .arg("--offline")
        .arg("--source")
        .arg(fixtures.join("oci"))
        .arg("--cache")
        .arg(out.join("cache"))
        .arg("--policy")
        .arg(fixtures.join("example-policy.yaml"))
        .args(["--format", "kernel+initrd,tar", "--epoch", "1700000000", "--dir"])
        .arg(out)
        .arg(workspace_root().join("examples").join("hello.yml"))
        .stdin(Stdio::null())
        .output()
        .expect("running the kit binary");
    assert!(
        output.status.success(),
        "kit build examples/hello.yml failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let listed = String::from_utf8_lossy(&output.stdout);
    for name in ["hello-kernel", "hello-initrd.img", "hello-cmdline", "hello.tar"] {
        assert!(listed.contains(name), "kit build did not report {name}: {listed}");
        assert!(out.join(name).is_file(), "{name} is missing");
    }
    out.join("hello")
}

/// A path as `&str` (test paths are UTF-8).
pub fn s(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// `kit build` of `examples/hello.yml`, offline from the fixtures, under their policy, into
/// `out` with a cache there, at epoch 1700000000, with `env` set and `extra` arguments after
/// the configuration (flags or more configuration files). `UMASK` in `env` runs kit under that
/// umask (through `sh -c 'umask …; exec kit …'`).
pub fn kit_build(
    fixtures: &Path,
    out: &Path,
    formats: &str,
    env: &[(&str, &str)],
    extra: &[&str],
) -> std::process::Output {
    let kit = env!("CARGO_BIN_EXE_kit");
    let mut command = match env.iter().find(|(key, _)| *key == "UMASK") {
        Some((_, umask)) => {
            let mut shell = Command::new("sh");
            shell.args(["-c", &format!("umask {umask} && exec \"$0\" \"$@\""), kit]);
            shell
        }
        None => Command::new(kit),
    };
    command
        .args(["build", "--offline", "--source", s(&fixtures.join("oci"))])
        .args(["--cache", s(&out.join("cache"))])
        .args(["--policy", s(&fixtures.join("example-policy.yaml"))])
        .args(["--format", formats, "--epoch", "1700000000", "--dir", s(out)])
        .arg(workspace_root().join("examples/hello.yml"))
        .args(extra)
        .env_remove("SOURCE_DATE_EPOCH")
        .stdin(Stdio::null());
    for (key, value) in env.iter().filter(|(key, _)| *key != "UMASK") {
        command.env(key, value);
    }
    command.output().expect("running kit")
}

//! runc runs onboot bundles laid out the LinuxKit way, so runc itself validates each
//! `config.json` and the container's output is checked.
//!
//! Needs root, runc and the fixtures: skipped locally when one is missing, a failure in CI.
//! Bundles that could stop the host (CAP_SYS_BOOT, such as the example's poweroff container)
//! are never run.

mod support;

use std::path::Path;
use std::process::Command;

/// Runs `bundle` with `runc run` under a fresh id and state directory; returns (success, stdout,
/// stderr).
fn runc_run(runc: &Path, bundle: &Path, state: &Path, id: &str) -> (bool, String, String) {
    let config = std::fs::read_to_string(bundle.join("config.json")).unwrap();
    assert!(
        !config.contains("CAP_SYS_BOOT"),
        "refusing to run a bundle that may power off the host"
    );
    let output = Command::new(runc)
        .arg("--root")
        .arg(state)
        .args(["run", "--bundle"])
        .arg(bundle)
        .arg(id)
        .output()
        .unwrap();
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (output.status.success(), text(&output.stdout), text(&output.stderr))
}

#[test]
fn runc_runs_the_hello_onboot_bundle() {
    let Some(fixtures) = support::fixtures_dir() else { return };
    let Some(runc) = support::require_tool("runc") else { return };
    let Some(()) = support::require_root("runc needs root to create containers") else { return };
    let layout = support::Layout::open(&fixtures.join("oci"));
    let work = tempfile::tempdir().unwrap();
    let [hello, _poweroff] = support::hello_onboot();
    // FIXME(issue 5): take the bundle from `kit build --format tar` once the assembly lands.
    let bundle = work.path().join("containers/onboot/000-hello");
    support::write_onboot_bundle(&layout, &hello, &bundle, &bundle.display().to_string());
    let (ok, stdout, stderr) =
        runc_run(&runc, &bundle, &work.path().join("state"), "kit-test-hello");
    assert!(ok, "runc failed: {stderr}");
    assert_eq!(stdout, "kit: hello from onboot\n");
}

#[test]
fn runc_rejects_a_broken_config() {
    let Some(fixtures) = support::fixtures_dir() else { return };
    let Some(runc) = support::require_tool("runc") else { return };
    let Some(()) = support::require_root("runc needs root to create containers") else { return };
    let layout = support::Layout::open(&fixtures.join("oci"));
    let work = tempfile::tempdir().unwrap();
    let [hello, _] = support::hello_onboot();
    let bundle = work.path().join("bundle");
    support::write_onboot_bundle(&layout, &hello, &bundle, &bundle.display().to_string());
    // A bundle whose root is missing: the harness must see runc's refusal.
    std::fs::write(
        bundle.join("config.json"),
        r#"{"ociVersion":"1.2.1","root":{"path":"nowhere"}}"#,
    )
    .unwrap();
    let (ok, _, stderr) = runc_run(&runc, &bundle, &work.path().join("state"), "kit-test-broken");
    assert!(!ok, "runc accepted a bundle without a process or rootfs");
    assert!(!stderr.is_empty());
}

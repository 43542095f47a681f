//! runc takes the onboot bundles from kit's own tar output of the example: runc itself validates
//! every `config.json` (create, then delete, without starting the process), and the hello
//! container runs and its output is checked.
//!
//! Needs root, runc and the fixtures: skipped locally when one is missing, a failure in CI.
//! Bundles that could stop the host (CAP_SYS_BOOT, such as the example's poweroff container)
//! are never run.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};

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

/// Runs `runc create` and then `runc delete --force`: runc validates the bundle and sets the
/// container up without ever starting its process.
fn runc_create_and_delete(
    runc: &Path,
    bundle: &Path,
    state: &Path,
    id: &str,
) -> Result<(), String> {
    // The container's init process inherits stdout and stderr and lives until `delete`, so
    // they go to a file: a pipe would never reach end of file while it waits.
    let log = state.with_extension(format!("{id}.log"));
    std::fs::create_dir_all(state).unwrap();
    let create = Command::new(runc)
        .arg("--root")
        .arg(state)
        .args(["create", "--bundle"])
        .arg(bundle)
        .arg(id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .status()
        .unwrap();
    let _ = Command::new(runc)
        .arg("--root")
        .arg(state)
        .args(["delete", "--force", id])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if create.success() { Ok(()) } else { Err(std::fs::read_to_string(&log).unwrap_or_default()) }
}

/// Builds the example with kit and unpacks the onboot bundles of its tar output into `work`.
fn onboot_bundles(fixtures: &Path, work: &Path, tar: &Path) -> Vec<std::path::PathBuf> {
    support::build_example(fixtures, &work.join("out"));
    let root = work.join("root");
    std::fs::create_dir_all(&root).unwrap();
    let status = Command::new(tar)
        .arg("--warning=no-unknown-keyword")
        .arg("-xpf")
        .arg(work.join("out").join("hello.tar"))
        .arg("-C")
        .arg(&root)
        .arg("containers/onboot")
        .status()
        .unwrap();
    assert!(status.success(), "tar could not unpack kit's tar output");
    let mut bundles: Vec<_> = std::fs::read_dir(root.join("containers/onboot"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    bundles.sort();
    for bundle in &bundles {
        apply_rootfs_bind(&root, bundle);
    }
    bundles
}

/// Does what the init's `runtime.json` step does for the root filesystem of a de-duplicated
/// read-only bundle: LinuxKit extracts an image once and bind-mounts that copy onto the
/// `rootfs/` of every later container using the same image. The test copies the directory
/// instead of mounting it (runc refuses a symlinked rootfs, and a mount needs more than root
/// in some sandboxes).
fn apply_rootfs_bind(root: &Path, bundle: &Path) {
    let runtime: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join("runtime.json")).unwrap()).unwrap();
    let bundle_abs = format!("/{}", bundle.strip_prefix(root).unwrap().display());
    let rootfs_abs = format!("{bundle_abs}/rootfs");
    let mounts = runtime["mounts"].as_array().cloned().unwrap_or_default();
    let Some(first) = mounts.first() else { return };
    let binds = first["options"].as_array().is_some_and(|o| o.iter().any(|v| v == "bind"));
    let (Some(source), Some(destination)) =
        (first["source"].as_str(), first["destination"].as_str())
    else {
        return;
    };
    if binds && destination == rootfs_abs && source != destination {
        let rootfs = bundle.join("rootfs");
        assert!(
            std::fs::read_dir(&rootfs).unwrap().next().is_none(),
            "{rootfs_abs} is bound from {source} but is not empty"
        );
        let copied = Command::new("cp")
            .arg("-a")
            .arg(root.join(source.trim_start_matches('/')).join("."))
            .arg(&rootfs)
            .status()
            .unwrap();
        assert!(copied.success(), "copying {source} onto {rootfs_abs}");
    }
}

#[test]
fn runc_accepts_every_onboot_bundle_and_runs_hello() {
    let Some(fixtures) = support::fixtures_dir() else { return };
    let Some(runc) = support::require_tool("runc") else { return };
    let Some(tar) = support::require_tool("tar") else { return };
    let Some(()) = support::require_root("runc needs root to create containers") else { return };
    let work = tempfile::tempdir().unwrap();
    let bundles = onboot_bundles(&fixtures, work.path(), &tar);
    let names: Vec<_> =
        bundles.iter().map(|b| b.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["000-hello", "001-poweroff"], "kit's onboot bundles");
    let state = work.path().join("state");
    for (bundle, name) in bundles.iter().zip(&names) {
        for required in ["config.json", "runtime.json", "rootfs"] {
            assert!(bundle.join(required).exists(), "{name} has no {required}");
        }
        if let Err(stderr) =
            runc_create_and_delete(&runc, bundle, &state, &format!("kit-test-{name}"))
        {
            panic!("runc rejected kit's bundle {name}: {stderr}");
        }
    }
    let (ok, stdout, stderr) = runc_run(&runc, &bundles[0], &state, "kit-test-hello");
    assert!(ok, "runc failed: {stderr}");
    assert_eq!(stdout, "kit: hello from onboot\n");
}

#[test]
fn runc_rejects_a_broken_config() {
    let Some(fixtures) = support::fixtures_dir() else { return };
    let Some(runc) = support::require_tool("runc") else { return };
    let Some(tar) = support::require_tool("tar") else { return };
    let Some(()) = support::require_root("runc needs root to create containers") else { return };
    let work = tempfile::tempdir().unwrap();
    let bundles = onboot_bundles(&fixtures, work.path(), &tar);
    let bundle = &bundles[0];
    // A bundle whose root is missing: the harness must see runc's refusal.
    std::fs::write(
        bundle.join("config.json"),
        r#"{"ociVersion":"1.2.1","root":{"path":"nowhere"}}"#,
    )
    .unwrap();
    let state = work.path().join("state");
    assert!(runc_create_and_delete(&runc, bundle, &state, "kit-test-broken").is_err());
    let (ok, _, stderr) = runc_run(&runc, bundle, &state, "kit-test-broken");
    assert!(!ok, "runc accepted a bundle without a process or rootfs");
    assert!(!stderr.is_empty());
}

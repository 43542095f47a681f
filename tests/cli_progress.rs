//! What `kit build` shows while it runs: a verification warning as soon as the image is
//! verified (before any output is written), each step's start and end in `--progress plain`,
//! `step` events for every merge and output in `--progress json`, a summary at the end, and
//! nothing but the output paths with `--progress none`.
//!
//! Uses the fixture layout of `cargo xtask fixtures` (skipped locally without it, a failure in CI).

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn build(fixtures: &Path, out: &Path, policy: &Path, progress: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kit"))
        .args(["build", "--offline", "--source", s(&fixtures.join("oci"))])
        .args(["--cache", s(&out.join("cache")), "--policy", s(policy)])
        .args(["--format", "kernel+initrd,tar", "--dir", s(out), "--progress", progress])
        .arg(support::workspace_root().join("examples/hello.yml"))
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn steps_warnings_and_summary_show_in_order() {
    let Some(fixtures) = support::fixtures_dir() else { return };
    let out = tempfile::tempdir().unwrap();
    // The busybox image accepted unsigned (an explicit opt-out, which warns on every build).
    let policy = out.path().join("policy.yaml");
    let signed = std::fs::read_to_string(fixtures.join("example-policy.yaml")).unwrap();
    let key = signed.lines().find_map(|l| l.trim().strip_prefix("path: ")).unwrap();
    let key = fixtures.join(key).display().to_string();
    std::fs::write(
        &policy,
        format!(
            "version: 1\nsigners:\n  example:\n    cosign-key:\n      path: {key}\nrules:\n  \
             - images: [kit.example/busybox]\n    unsigned: accept\n  \
             - images: [kit.example/**]\n    signers: [example]\n"
        ),
    )
    .unwrap();

    let plain = build(&fixtures, out.path(), &policy, "plain");
    assert!(plain.status.success(), "{}", String::from_utf8_lossy(&plain.stderr));
    let stderr = String::from_utf8_lossy(&plain.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    let position = |prefix: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in:\n{stderr}"))
    };
    // The warning names the image once, and comes before any output is written.
    let warning =
        position("kit: warning: kit.example/busybox:1.35 accepted without signature verification");
    assert!(!lines[warning].contains("busybox:1.35: kit.example/busybox"), "{}", lines[warning]);
    let first_write = position("kit: write ");
    assert!(warning < first_write, "{stderr}");
    // Every step has a start and an end line, in order.
    for step in ["kit: merge kit.example/kernel:6.1", "kit: assemble", "kit: write "] {
        let start = position(step);
        assert!(lines[start].ends_with(" ..."), "{}", lines[start]);
        let end =
            lines.iter().position(|l| l.starts_with(step) && l.contains(": done in ")).unwrap();
        assert!(start < end, "{stderr}");
    }
    // The summary: each output with its size and SHA-256, and the total.
    let tar = out.path().join("hello.tar");
    let summary = position(&format!("kit: wrote {}", tar.display()));
    assert!(
        lines[summary]
            .contains(&format!("({} bytes, sha256 ", std::fs::metadata(&tar).unwrap().len()))
    );
    assert!(lines.last().unwrap().starts_with("kit: built in "), "{stderr}");
    // Standard output holds the paths only.
    let stdout = String::from_utf8_lossy(&plain.stdout);
    assert_eq!(stdout.lines().count(), 4, "{stdout}");

    // JSON: a step event for every merge and every output, each started before it is done.
    let json = build(&fixtures, out.path(), &policy, "json");
    assert!(json.status.success());
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&json.stderr)
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let steps: Vec<(String, String, String)> = events
        .iter()
        .filter(|e| e.get("step").is_some())
        .map(|e| {
            (
                e["step"].as_str().unwrap().to_owned(),
                e["subject"].as_str().unwrap().to_owned(),
                e["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for output in ["hello-kernel", "hello-initrd.img", "hello-cmdline", "hello.tar"] {
        let subject = out.path().join(output).display().to_string();
        let start = steps
            .iter()
            .position(|(step, s, st)| step == "write" && *s == subject && st == "start");
        let done =
            steps.iter().position(|(step, s, st)| step == "write" && *s == subject && st == "done");
        assert!(start.is_some() && start < done, "{output}: {steps:?}");
    }
    let merges = steps.iter().filter(|(step, _, state)| step == "merge" && state == "done").count();
    assert_eq!(merges, 4, "{steps:?}");
    let verified = events.iter().position(|e| e["state"] == "verified").unwrap();
    let first_step = events.iter().position(|e| e.get("step").is_some()).unwrap();
    assert!(verified < first_step, "verification is reported before the first merge");

    // none: the paths on standard output, nothing on standard error but the warning.
    let quiet = build(&fixtures, out.path(), &policy, "none");
    assert!(quiet.status.success());
    let stderr = String::from_utf8_lossy(&quiet.stderr);
    assert!(stderr.lines().all(|l| l.starts_with("kit: warning: ")), "{stderr}");
    assert!(
        stderr.contains("kit.example/busybox:1.35 accepted without signature verification"),
        "{stderr}"
    );
    assert_eq!(String::from_utf8_lossy(&quiet.stdout).lines().count(), 4);
}

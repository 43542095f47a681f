//! `kit inspect` on the example system's real outputs: the initrd (a gzip'd newc archive) and the
//! tar, written by two different writers and read by two different readers, list the same files
//! outside `boot/`; `--diff` names the first differing path and field; a kernel shows its
//! version; anything else is refused with its path.
//!
//! Uses the fixture layout of `cargo xtask fixtures` (skipped locally without it, a failure in CI).

mod support;

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn kit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kit"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running kit")
}

fn json(args: &[&str]) -> serde_json::Value {
    let output = kit(args);
    assert!(output.status.success(), "kit {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The entries of an inspection outside `/boot`, as JSON values.
fn entries_outside_boot(inspection: &serde_json::Value) -> Vec<serde_json::Value> {
    inspection["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            let path = e["path"].as_str().unwrap();
            path != "/" && path != "/boot" && !path.starts_with("/boot/")
        })
        .cloned()
        .collect()
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn initrd_and_tar_list_the_same_root_and_diff_names_the_field() {
    let Some(fixtures) = support::fixtures_dir() else { return };
    let out = tempfile::tempdir().unwrap();
    let prefix = support::build_example(&fixtures, out.path());
    let initrd = prefix.with_file_name("hello-initrd.img");
    let tar = prefix.with_file_name("hello.tar");

    let from_initrd = json(&["inspect", "--json", s(&initrd)]);
    let from_tar = json(&["inspect", "--json", s(&tar)]);
    assert_eq!(from_initrd["kind"], "initrd");
    assert_eq!(from_tar["kind"], "tar");
    assert_eq!(
        from_initrd["summary"]["segment 0"].as_str().unwrap().split(' ').next(),
        Some("gzip")
    );
    let bytes = fs::read(&initrd).unwrap();
    assert_eq!(from_initrd["size"], bytes.len());
    let a = entries_outside_boot(&from_initrd);
    let b = entries_outside_boot(&from_tar);
    assert!(a.len() > 100, "the example has busybox's links: {}", a.len());
    assert_eq!(a, b, "the initrd and the tar hold the same files outside /boot");
    let busybox = a.iter().find(|e| e["path"] == "/bin/busybox").unwrap();
    assert_eq!(busybox["type"], "file");
    assert_eq!(busybox["sha256"].as_str().unwrap().len(), 64);

    // The same artifact: no difference, exit 0.
    let same = kit(&["inspect", "--diff", s(&tar), s(&tar)]);
    assert!(same.status.success() && same.stdout.is_empty(), "{same:?}");

    // A build at another epoch: generated entries differ only in their mtime.
    let other = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_kit"))
        .args(["build", "--offline", "--source", s(&fixtures.join("oci"))])
        .args(["--cache", s(&other.path().join("cache"))])
        .args(["--policy", s(&fixtures.join("example-policy.yaml"))])
        .args(["--format", "tar", "--epoch", "1700000001", "--dir", s(other.path())])
        .arg(support::workspace_root().join("examples/hello.yml"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let differ = kit(&["inspect", "--diff", s(&tar), s(&other.path().join("hello.tar"))]);
    assert_eq!(differ.status.code(), Some(1));
    let text = String::from_utf8_lossy(&differ.stdout);
    assert!(text.contains(": mtime 1700000000 != 1700000001"), "{text}");

    // Different kinds are named as such.
    let kinds = kit(&["inspect", "--diff", "--json", s(&tar), s(&initrd)]);
    assert_eq!(kinds.status.code(), Some(1));
    let verdict: serde_json::Value = serde_json::from_slice(&kinds.stdout).unwrap();
    // The initrd leaves boot/kernel and boot/cmdline out; the rest of the tree is the same.
    assert_eq!(verdict["difference"], "/boot: only in the first");

    // The kernel shows its version string from the setup header.
    let kernel = kit(&["inspect", s(&prefix.with_file_name("hello-kernel"))]);
    let text = String::from_utf8_lossy(&kernel.stdout);
    assert!(text.contains("architecture: x86 bzImage") && text.contains("version: 6."), "{text}");
}

#[test]
fn unknown_and_damaged_artifacts_are_refused_with_their_path() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    fs::write(&text, "not an image\n").unwrap();
    let output = kit(&["inspect", s(&text)]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("notes.txt: not an artifact kit reads"), "{stderr}");

    // A gzip'd initrd cut short.
    let tree = formats::testutil::tree_from_fixture("//- /init\n#!/bin/sh\n").unwrap();
    let options = formats::cpio::CpioOptions { root_entry: false };
    let mut initrd = Vec::new();
    formats::cpio::write_gzip(
        &tree,
        &formats::tree::NoBlobs,
        &options,
        formats::gzip::GzipOptions { level: 6, threads: 1 },
        &mut initrd,
    )
    .unwrap();
    initrd.truncate(initrd.len() - 6);
    let cut = dir.path().join("cut.img");
    fs::write(&cut, &initrd).unwrap();
    let output = kit(&["inspect", s(&cut)]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cut.img: malformed initrd"), "{stderr}");

    let usage = kit(&["inspect", "--diff", s(&cut)]);
    assert_eq!(usage.status.code(), Some(2));
}

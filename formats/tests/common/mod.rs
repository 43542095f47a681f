//! Helpers for the cross-checks against independent tools (GNU tar, GNU cpio, bsdtar, Python).
//!
//! A missing tool skips the test with a message locally, and fails it when `CI` is set.

#![allow(dead_code)] // Each test binary uses a different subset.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};

use formats::tree::{Content, NodeKind, Tree};

/// True if `name --version` runs. Prints the version line once; skips (false) when missing,
/// panics instead under `CI`.
pub fn tool(name: &str) -> bool {
    match Command::new(name).arg("--version").output() {
        Ok(output) if output.status.success() => {
            let version = String::from_utf8_lossy(&output.stdout);
            eprintln!("using {}", version.lines().next().unwrap_or(name));
            true
        }
        _ => {
            assert!(std::env::var_os("CI").is_none(), "{name} is required when CI is set");
            eprintln!("skipping: {name} is not installed");
            false
        }
    }
}

/// Runs `command` with `stdin` as input; asserts success and returns stdout.
pub fn run(command: &mut Command, stdin: &[u8]) -> String {
    let mut child = command
        .env("TZ", "UTC")
        .env("LC_ALL", "C")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("spawning {command:?}: {err}"));
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        // The tool may stop reading early; a broken pipe then shows in its exit status.
        let _ = input.write_all(&data);
    });
    let output = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    assert!(
        output.status.success(),
        "{command:?} failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Collapses runs of spaces, so listings compare independently of column widths.
pub fn squeeze(listing: &str) -> String {
    listing.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ") + "\n").collect()
}

/// Asserts that the directory `root` holds exactly `tree` (devices excepted): kinds, permission
/// bits, contents, symlink targets, file mtimes, hard links sharing one inode, and owners when
/// the test runs as root (only root can give files away).
pub fn assert_dir_matches(root: &Path, tree: &Tree) {
    let check_owner = running_as_root();
    let mut expected_paths = Vec::new();
    let mut inode_of_file: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
    tree.walk::<()>(&mut |path, node| {
        let shown = String::from_utf8_lossy(path).into_owned();
        expected_paths.push(path.to_vec());
        let on_disk = root.join(std::ffi::OsStr::new(std::str::from_utf8(path).unwrap()));
        let meta = fs::symlink_metadata(&on_disk).unwrap_or_else(|e| panic!("{shown}: {e}"));
        let file_type = meta.file_type();
        match &node.kind {
            NodeKind::Dir(_) => assert!(file_type.is_dir(), "{shown} is not a directory"),
            NodeKind::File(Content::Inline(data)) => {
                assert!(file_type.is_file(), "{shown} is not a file");
                assert_eq!(fs::read(&on_disk).unwrap(), &data[..], "content of {shown}");
                assert_eq!(meta.mtime(), node.meta.mtime, "mtime of {shown}");
                let previous = inode_of_file.insert(path.to_vec(), meta.ino());
                assert!(previous.is_none());
            }
            NodeKind::File(Content::Blob(_)) => panic!("{shown}: blob content in a test tree"),
            NodeKind::Symlink(target) => {
                assert!(file_type.is_symlink(), "{shown} is not a symlink");
                let found = fs::read_link(&on_disk).unwrap();
                assert_eq!(found.as_os_str().as_encoded_bytes(), &target[..], "target of {shown}");
            }
            NodeKind::HardLink(target) => {
                assert!(file_type.is_file(), "{shown} is not a file");
                let target_path =
                    root.join(std::ffi::OsStr::new(std::str::from_utf8(target).unwrap()));
                let target_ino = fs::symlink_metadata(target_path).unwrap().ino();
                assert_eq!(meta.ino(), target_ino, "{shown} shares the inode of its target");
            }
            NodeKind::Fifo => assert!(file_type.is_fifo(), "{shown} is not a fifo"),
            NodeKind::CharDevice { .. } | NodeKind::BlockDevice { .. } => {
                panic!("{shown}: devices are left out of extraction tests")
            }
        }
        if !file_type.is_symlink() && !matches!(node.kind, NodeKind::HardLink(_)) {
            let mode = meta.permissions().mode() & 0o7777;
            assert_eq!(mode, node.meta.mode, "mode of {shown}: {mode:o} vs {:o}", node.meta.mode);
            if check_owner {
                let owner = (meta.uid(), meta.gid());
                assert_eq!(owner, (node.meta.uid, node.meta.gid), "owner of {shown}");
            }
        }
        Ok(())
    })
    .unwrap();
    // Nothing else was extracted.
    let mut found = Vec::new();
    list_dir(root, root, &mut found);
    found.sort();
    expected_paths.sort();
    let show = |paths: &[Vec<u8>]| {
        paths.iter().map(|p| String::from_utf8_lossy(p).into_owned()).collect::<Vec<_>>()
    };
    assert_eq!(show(&found), show(&expected_paths));
}

/// True when the tests run as uid 0.
pub fn running_as_root() -> bool {
    let output = Command::new("id").arg("-u").output().expect("id runs");
    String::from_utf8_lossy(&output.stdout).trim() == "0"
}

fn list_dir(root: &Path, dir: &Path, out: &mut Vec<Vec<u8>>) {
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        let relative = path.strip_prefix(root).unwrap();
        out.push(relative.as_os_str().as_encoded_bytes().to_vec());
        if entry.file_type().unwrap().is_dir() {
            list_dir(root, &path, out);
        }
    }
}

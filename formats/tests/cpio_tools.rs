//! Cross-checks of the newc writer against GNU cpio and bsdtar (libarchive): listings, and
//! extraction of a tree without device nodes compared file by file (contents, modes, owners,
//! mtimes, symlink targets, hard links sharing an inode).
//!
//! The expected listings are written by hand from the fixtures and the tools' `ls -l`-like
//! formats, not copied from kit's output.

mod common;

use std::process::Command;

use common::{assert_dir_matches, run, squeeze, tool};
use formats::cpio::{CpioOptions, read, to_vec};
use formats::dump::dump;
use formats::testutil::tree_from_fixture;
use formats::tree::NoBlobs;

const EVERYTHING: &str = r#"
//- /bin/busybox mode=04755 mtime=1700000000
#!/bin/sh
//- /bin/sh symlink=busybox mtime=1700000000
//- /dev/console char=5,1 mode=0600
//- /dev/sda block=8,16 mode=0660 gid=6
//- /etc/init.d/001-hello mode=0755 mtime=1700000000
echo hello
//- /etc/init.d/002-hello-hardlink hardlink=/etc/init.d/001-hello mode=0644
//- /etc/ping mode=0755 uid=3000000 gid=1000 xattr.security.capability=0x01
//- /run/fifo fifo mode=0600
//- /tmp dir mode=01777
"#;

fn everything() -> Vec<u8> {
    to_vec(&tree_from_fixture(EVERYTHING).unwrap(), &NoBlobs, &CpioOptions { root_entry: true })
        .unwrap()
}

#[test]
fn gnu_cpio_lists_every_kind() {
    if !tool("cpio") {
        return;
    }
    let listing = run(Command::new("cpio").args(["-itv", "--numeric-uid-gid"]), &everything());
    // The root has 5 subdirectories (nlink 7), /etc one (nlink 3); the two names of the hard
    // link share the file's mode, its mtime and nlink 2, and only the first carries the data.
    let expected = "\
drwxr-xr-x 7 0 0 0 Jan 1 1970 .
drwxr-xr-x 2 0 0 0 Jan 1 1970 bin
-rwsr-xr-x 1 0 0 10 Nov 14 2023 bin/busybox
lrwxrwxrwx 1 0 0 7 Nov 14 2023 bin/sh -> busybox
drwxr-xr-x 2 0 0 0 Jan 1 1970 dev
crw------- 1 0 0 5, 1 Jan 1 1970 dev/console
brw-rw---- 1 0 6 8, 16 Jan 1 1970 dev/sda
drwxr-xr-x 3 0 0 0 Jan 1 1970 etc
drwxr-xr-x 2 0 0 0 Jan 1 1970 etc/init.d
-rwxr-xr-x 2 0 0 11 Nov 14 2023 etc/init.d/001-hello
-rwxr-xr-x 2 0 0 0 Nov 14 2023 etc/init.d/002-hello-hardlink
-rwxr-xr-x 1 3000000 1000 0 Jan 1 1970 etc/ping
drwxr-xr-x 2 0 0 0 Jan 1 1970 run
prw------- 1 0 0 0 Jan 1 1970 run/fifo
drwxrwxrwt 2 0 0 0 Jan 1 1970 tmp
";
    assert_eq!(squeeze(&listing), expected);
}

#[test]
fn bsdtar_lists_every_kind() {
    if !tool("bsdtar") {
        return;
    }
    let listing = run(Command::new("bsdtar").args(["-tvf", "-", "--numeric-owner"]), &everything());
    // libarchive reports a later name of an inode as a hard link to the first, and a symlink's
    // size as the length of its target.
    let expected = "\
drwxr-xr-x 7 0 0 0 Jan 1 1970 .
drwxr-xr-x 2 0 0 0 Jan 1 1970 bin
-rwsr-xr-x 1 0 0 10 Nov 14 2023 bin/busybox
lrwxrwxrwx 1 0 0 7 Nov 14 2023 bin/sh -> busybox
drwxr-xr-x 2 0 0 0 Jan 1 1970 dev
crw------- 1 0 0 5,1 Jan 1 1970 dev/console
brw-rw---- 1 0 6 8,16 Jan 1 1970 dev/sda
drwxr-xr-x 3 0 0 0 Jan 1 1970 etc
drwxr-xr-x 2 0 0 0 Jan 1 1970 etc/init.d
-rwxr-xr-x 2 0 0 11 Nov 14 2023 etc/init.d/001-hello
-rwxr-xr-x 2 0 0 0 Nov 14 2023 etc/init.d/002-hello-hardlink link to etc/init.d/001-hello
-rwxr-xr-x 1 3000000 1000 0 Jan 1 1970 etc/ping
drwxr-xr-x 2 0 0 0 Jan 1 1970 run
prw------- 1 0 0 0 Jan 1 1970 run/fifo
drwxrwxrwt 2 0 0 0 Jan 1 1970 tmp
";
    assert_eq!(squeeze(&listing), expected);
}

/// No devices (creating them needs privileges); `/a/link` precedes its file in walk order.
const EXTRACTABLE: &str = r#"
//- /z/file mode=0750 mtime=1700000000 uid=3 gid=4
data
//- /a/link hardlink=/z/file mode=0600
//- /bin/busybox mode=04755 mtime=1700000000 uid=1 gid=2
#!/bin/sh
//- /bin/sh symlink=busybox
//- /dangling symlink=/does/not/exist
//- /empty mode=0400 mtime=5
//- /odd mode=0601 mtime=7
123456789
//- /run/fifo fifo mode=0600
//- /tmp dir mode=01777
//- /z/third hardlink=/z/file
"#;

/// What extracting EXTRACTABLE must give: the first name of the group holds the file, and every
/// name has the file's metadata.
const EXTRACTED: &str = r#"
//- /a/link mode=0750 mtime=1700000000 uid=3 gid=4
data
//- /bin/busybox mode=04755 mtime=1700000000 uid=1 gid=2
#!/bin/sh
//- /bin/sh symlink=busybox
//- /dangling symlink=/does/not/exist
//- /empty mode=0400 mtime=5
//- /odd mode=0601 mtime=7
123456789
//- /run/fifo fifo mode=0600
//- /tmp dir mode=01777
//- /z/file hardlink=/a/link mode=0750 mtime=1700000000 uid=3 gid=4
//- /z/third hardlink=/a/link mode=0750 mtime=1700000000 uid=3 gid=4
"#;

fn extractable() -> Vec<u8> {
    let tree = tree_from_fixture(EXTRACTABLE).unwrap();
    to_vec(&tree, &NoBlobs, &CpioOptions { root_entry: false }).unwrap()
}

#[test]
fn gnu_cpio_extracts_the_tree() {
    if !tool("cpio") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    run(
        Command::new("cpio")
            .args(["-idm", "--no-absolute-filenames", "--quiet"])
            .current_dir(dir.path()),
        &extractable(),
    );
    assert_dir_matches(dir.path(), &tree_from_fixture(EXTRACTED).unwrap());
}

#[test]
fn bsdtar_extracts_the_tree() {
    if !tool("bsdtar") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    run(Command::new("bsdtar").args(["-xpf", "-", "-C"]).arg(dir.path()), &extractable());
    assert_dir_matches(dir.path(), &tree_from_fixture(EXTRACTED).unwrap());
}

#[test]
fn our_reader_agrees_with_the_extractors() {
    assert_eq!(
        dump(&read(&extractable()[..]).unwrap()),
        dump(&tree_from_fixture(EXTRACTED).unwrap())
    );
}

#[test]
fn reader_reads_gnu_cpio_archives() {
    if !tool("cpio") {
        return;
    }
    // GNU cpio puts a hard link's data on the last name, pads to 512 bytes and names entries
    // as given on stdin.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("d")).unwrap();
    std::fs::write(dir.path().join("d/f"), b"data\n").unwrap();
    std::fs::hard_link(dir.path().join("d/f"), dir.path().join("g")).unwrap();
    std::os::unix::fs::symlink("d/f", dir.path().join("s")).unwrap();
    let archive = {
        let output = Command::new("cpio")
            .args(["-o", "-H", "newc", "--quiet", "--reproducible"])
            .current_dir(dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child.stdin.take().unwrap().write_all(b"d\nd/f\ng\ns\n")?;
                child.wait_with_output()
            })
            .unwrap();
        assert!(output.status.success());
        output.stdout
    };
    let tree = read(&archive[..]).unwrap();
    let listing: Vec<String> = dump(&tree)
        .lines()
        .skip(1)
        .map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            // kind, size, hash, path and what follows; modes, owners and times are the host's.
            let mut kept = vec![fields[0], fields[4], fields[5]];
            kept.extend(&fields[6..]);
            kept.join(" ")
        })
        .collect();
    assert_eq!(
        listing,
        [
            "dir - - /d",
            "file 5 6667b2d1aab6a00c /d/f",
            "hardlink - - /g => /d/f",
            "symlink - - /s -> d/f"
        ]
    );
}

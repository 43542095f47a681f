//! Cross-checks of the tar writer against GNU tar and Python's `tarfile`.
//!
//! The expected listings are written by hand from the fixtures and the tools' documented output
//! formats, not copied from kit's output.

mod common;

use std::process::Command;

use common::{assert_dir_matches, run, squeeze, tool};
use formats::tar::{TarOptions, read, to_vec};
use formats::testutil::tree_from_fixture;
use formats::tree::NoBlobs;

/// Every kind of entry, long names, large ids, xattrs (one value with a newline) and origins.
const EVERYTHING: &str = r#"
//- /bin/busybox mode=04755 mtime=1700000000
#!/bin/sh
//- /bin/sh symlink=busybox mtime=1700000000
//- /dev/console char=5,1 mode=0600
//- /dev/sda block=8,16 mode=0660 gid=6
//- /etc/init.d/001-hello mode=0755 mtime=1700000000 origin=init[1],lkfix/init:1
echo hello
//- /etc/init.d/002-hello-hardlink hardlink=/etc/init.d/001-hello mode=0644 mtime=1700000000
//- /etc/ping mode=0755 uid=3000000 gid=1000 xattr.security.capability=0x0a0b xattr.user.x=a\x0ab
//- /run/fifo fifo mode=0600
//- /tmp dir mode=01777
//- /usr/share/a-rather-long-directory-name-that-goes-on-and-on/and-a-file-name-that-pushes-it-over-one-hundred-bytes.txt
long
"#;

#[test]
fn gnu_tar_lists_every_kind() {
    if !tool("tar") {
        return;
    }
    let tree = tree_from_fixture(EVERYTHING).unwrap();
    let bytes = to_vec(&tree, &NoBlobs, &TarOptions { pax_origin: true }).unwrap();
    let listing = run(
        Command::new("tar").args(["--list", "-v", "--numeric-owner", "--full-time", "-f", "-"]),
        &bytes,
    );
    let long = "usr/share/a-rather-long-directory-name-that-goes-on-and-on/\
                and-a-file-name-that-pushes-it-over-one-hundred-bytes.txt";
    let expected = format!(
        "drwxr-xr-x 0/0 0 1970-01-01 00:00:00 bin
-rwsr-xr-x 0/0 10 2023-11-14 22:13:20 bin/busybox
lrwxrwxrwx 0/0 0 2023-11-14 22:13:20 bin/sh -> busybox
drwxr-xr-x 0/0 0 1970-01-01 00:00:00 dev
crw------- 0/0 5,1 1970-01-01 00:00:00 dev/console
brw-rw---- 0/6 8,16 1970-01-01 00:00:00 dev/sda
drwxr-xr-x 0/0 0 1970-01-01 00:00:00 etc
drwxr-xr-x 0/0 0 1970-01-01 00:00:00 etc/init.d
-rwxr-xr-x 0/0 11 2023-11-14 22:13:20 etc/init.d/001-hello
hrw-r--r-- 0/0 0 2023-11-14 22:13:20 etc/init.d/002-hello-hardlink link to etc/init.d/001-hello
-rwxr-xr-x 3000000/1000 0 1970-01-01 00:00:00 etc/ping
drwxr-xr-x 0/0 0 1970-01-01 00:00:00 run
prw------- 0/0 0 1970-01-01 00:00:00 run/fifo
drwxrwxrwt 0/0 0 1970-01-01 00:00:00 tmp
drwxr-xr-x 0/0 0 1970-01-01 00:00:00 usr
drwxr-xr-x 0/0 0 1970-01-01 00:00:00 usr/share
drwxr-xr-x 0/0 0 1970-01-01 00:00:00 usr/share/a-rather-long-directory-name-that-goes-on-and-on
-rw-r--r-- 0/0 5 1970-01-01 00:00:00 {long}
"
    );
    assert_eq!(squeeze(&listing), expected);
}

#[test]
fn python_tarfile_reads_pax_records() {
    if !tool("python3") {
        return;
    }
    let tree = tree_from_fixture(EVERYTHING).unwrap();
    let bytes = to_vec(&tree, &NoBlobs, &TarOptions { pax_origin: true }).unwrap();
    let script = r#"
import sys, tarfile
with tarfile.open(fileobj=sys.stdin.buffer, mode="r|") as archive:
    for m in archive:
        pax = {k: v for k, v in sorted(m.pax_headers.items()) if k != "path"}
        print(m.name, m.type.decode(), oct(m.mode), m.uid, m.gid, m.mtime, m.size,
              m.linkname or "-", f"{m.devmajor},{m.devminor}", repr(pax) if pax else "")
"#;
    let listing = run(Command::new("python3").args(["-c", script]), &bytes);
    let long = "usr/share/a-rather-long-directory-name-that-goes-on-and-on/\
                and-a-file-name-that-pushes-it-over-one-hundred-bytes.txt";
    // Python decodes SCHILY.xattr values as UTF-8 with surrogate escapes: b"\x0a\x0b" is "\n\x0b".
    let expected = format!(
        "bin 5 0o755 0 0 0 0 - 0,0 
bin/busybox 0 0o4755 0 0 1700000000 10 - 0,0 
bin/sh 2 0o777 0 0 1700000000 0 busybox 0,0 
dev 5 0o755 0 0 0 0 - 0,0 
dev/console 3 0o600 0 0 0 0 - 5,1 
dev/sda 4 0o660 0 6 0 0 - 8,16 
etc 5 0o755 0 0 0 0 - 0,0 
etc/init.d 5 0o755 0 0 0 0 - 0,0 
etc/init.d/001-hello 0 0o755 0 0 1700000000 11 - 0,0 {{'LINUXKIT.location': 'init[1]', 'LINUXKIT.source': 'lkfix/init:1'}}
etc/init.d/002-hello-hardlink 1 0o644 0 0 1700000000 0 etc/init.d/001-hello 0,0 
etc/ping 0 0o755 3000000 1000 0 0 - 0,0 {{'SCHILY.xattr.security.capability': '\\n\\x0b', 'SCHILY.xattr.user.x': 'a\\nb', 'uid': '3000000'}}
run 5 0o755 0 0 0 0 - 0,0 
run/fifo 6 0o600 0 0 0 0 - 0,0 
tmp 5 0o1777 0 0 0 0 - 0,0 
usr 5 0o755 0 0 0 0 - 0,0 
usr/share 5 0o755 0 0 0 0 - 0,0 
usr/share/a-rather-long-directory-name-that-goes-on-and-on 5 0o755 0 0 0 0 - 0,0 
{long} 0 0o644 0 0 0 5 - 0,0 
"
    );
    assert_eq!(listing, expected);
}

#[test]
fn gnu_tar_extracts_the_tree() {
    if !tool("tar") {
        return;
    }
    // No devices: creating them needs privileges the test may not have.
    // `/a/link` comes before its file in walk order, so it carries the data.
    let tree = tree_from_fixture(
        r#"
//- /z/file mode=0750 mtime=1700000000
data
//- /a/link hardlink=/z/file mode=0600
//- /bin/busybox mode=04755 mtime=1700000000 uid=1 gid=2
#!/bin/sh
//- /bin/sh symlink=busybox
//- /dangling symlink=/does/not/exist
//- /empty mode=0400 mtime=5
//- /run/fifo fifo mode=0600
//- /tmp dir mode=01777
//- /z/third hardlink=/z/file
"#,
    )
    .unwrap();
    let bytes = to_vec(&tree, &NoBlobs, &TarOptions { pax_origin: false }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    run(
        Command::new("tar").args(["-x", "-p", "--numeric-owner", "-f", "-", "-C"]).arg(dir.path()),
        &bytes,
    );
    // What extraction must give: the first name of the group holds the file.
    let expected = tree_from_fixture(
        r#"
//- /a/link mode=0750 mtime=1700000000
data
//- /bin/busybox mode=04755 mtime=1700000000 uid=1 gid=2
#!/bin/sh
//- /bin/sh symlink=busybox
//- /dangling symlink=/does/not/exist
//- /empty mode=0400 mtime=5
//- /run/fifo fifo mode=0600
//- /tmp dir mode=01777
//- /z/file hardlink=/a/link mode=0750 mtime=1700000000
//- /z/third hardlink=/a/link
"#,
    )
    .unwrap();
    assert_dir_matches(dir.path(), &expected);
    // Our reader gives the same tree; link entries keep their own metadata there.
    assert_eq!(formats::dump::dump(&read(&bytes[..]).unwrap()), formats::dump::dump(&expected));
}

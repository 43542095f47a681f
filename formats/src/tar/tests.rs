//! Unit tests of the tar writer and reader.
//!
//! `check` writes a fixture tree, lists the archive's raw headers with the `tar` crate's parser
//! in raw mode (every header, PAX records spelled out), reads the archive back with [`read`] and
//! dumps the tree. The expected listings follow from the rules in the module documentation.

use std::io::{self, Read};
use std::sync::Arc;

use expect_test::{Expect, expect};
use proptest::prelude::*;

use super::*;
use crate::arb::{arb_tree, tar_model};
use crate::dump::{dump, escape};
use crate::testutil::tree_from_fixture;
use crate::tree::{BlobRange, Content, Meta, NoBlobs, Node, NodeKind};

const WITH_ORIGIN: TarOptions = TarOptions { pax_origin: true };
const PLAIN: TarOptions = TarOptions { pax_origin: false };

fn check(fixture: &str, options: TarOptions, expect: Expect) {
    let tree = tree_from_fixture(fixture).unwrap();
    let bytes = match to_vec(&tree, &NoBlobs, &options) {
        Ok(bytes) => bytes,
        Err(err) => {
            expect.assert_eq(&format!("error: {err}\n"));
            return;
        }
    };
    let mut out = raw_listing(&bytes);
    out.push_str("--- read back\n");
    out.push_str(&dump(&read(&bytes[..]).unwrap()));
    expect.assert_eq(&out);
}

/// One line per raw header: typeflag, name, mode, owner, mtime, size, link name, device; the
/// records of PAX headers on the following lines.
fn raw_listing(bytes: &[u8]) -> String {
    let mut archive = ::tar::Archive::new(bytes);
    let mut out = String::new();
    for entry in archive.entries().unwrap().raw(true) {
        let mut entry = entry.unwrap();
        let header = entry.header().clone();
        let ustar = header.as_ustar().expect("ustar magic");
        assert_eq!(&ustar.uname, &[0u8; 32], "uname is empty");
        assert_eq!(&ustar.gname, &[0u8; 32], "gname is empty");
        assert_eq!(&ustar.prefix, &[0u8; 155], "prefix is unused");
        out.push_str(&format!(
            "{} {} {:o} {}:{} {} {} {} {},{}\n",
            char::from(header.entry_type().as_byte()),
            escape(&header.path_bytes()),
            header.mode().unwrap(),
            header.uid().unwrap(),
            header.gid().unwrap(),
            header.mtime().unwrap(),
            header.size().unwrap(),
            escape(&header.link_name_bytes().unwrap_or_default()),
            header.device_major().unwrap().unwrap(),
            header.device_minor().unwrap().unwrap(),
        ));
        if header.entry_type().is_pax_local_extensions() {
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            for record in data.split_inclusive(|b| *b == b'\n') {
                let record = escape(record.strip_suffix(b"\n").unwrap()).replace("\\x20", " ");
                out.push_str(&format!("    {record}\n"));
            }
        }
    }
    out
}

#[test]
fn every_kind_in_walk_order_without_root_entry() {
    check(
        r#"
//- / mode=0700 mtime=9
//- /etc/hostname mode=0644 uid=1 gid=2 mtime=1700000000
kit
//- /bin/sh symlink=busybox mtime=5
//- /bin/busybox mode=04755
//- /dev/console char=5,1 mode=0600
//- /dev/sda block=8,16 mode=0660 gid=6
//- /run/initctl fifo mode=0600
//- /tmp dir mode=01777
"#,
        PLAIN,
        expect![[r#"
            5 bin 755 0:0 0 0  0,0
            0 bin/busybox 4755 0:0 0 0  0,0
            2 bin/sh 777 0:0 5 0 busybox 0,0
            5 dev 755 0:0 0 0  0,0
            3 dev/console 600 0:0 0 0  5,1
            4 dev/sda 660 0:6 0 0  8,16
            5 etc 755 0:0 0 0  0,0
            0 etc/hostname 644 1:2 1700000000 4  0,0
            5 run 755 0:0 0 0  0,0
            6 run/initctl 600 0:0 0 0  0,0
            5 tmp 1777 0:0 0 0  0,0
            --- read back
            dir      0755 0:0 0 - - /
            dir      0755 0:0 0 - - /bin
            file     4755 0:0 0 0 e3b0c44298fc1c14 /bin/busybox
            symlink  0777 0:0 5 - - /bin/sh -> busybox
            dir      0755 0:0 0 - - /dev
            char     0600 0:0 0 - - /dev/console dev=5,1
            block    0660 0:6 0 - - /dev/sda dev=8,16
            dir      0755 0:0 0 - - /etc
            file     0644 1:2 1700000000 4 5a1f0dc9b09da1da /etc/hostname
            dir      0755 0:0 0 - - /run
            fifo     0600 0:0 0 - - /run/initctl
            dir      1777 0:0 0 - - /tmp
        "#]],
    );
}

#[test]
fn xattrs_and_origin_as_pax_records() {
    // Records are sorted by key; each length counts the whole record, e.g.
    // "31 LINUXKIT.location=onboot[0]\n" is 2 + 1 + 27 + 1 = 31 bytes (counted by hand).
    check(
        r#"
//- /bin/ping mode=0755 xattr.security.capability=0x0100000200200000 xattr.user.note=hi origin=onboot[0],docker.io/library/busybox:1.36
//- /etc dir origin=init[0],linuxkit/init:v1
"#,
        WITH_ORIGIN,
        expect![[r#"
            5 bin 755 0:0 0 0  0,0
            x bin/PaxHeaders.0/ping 0 0:0 0 155  0,0
                31 LINUXKIT.location=onboot[0]
                50 LINUXKIT.source=docker.io/library/busybox:1.36
                45 SCHILY.xattr.security.capability=\x01\x00\x00\x02\x00 \x00\x00
                29 SCHILY.xattr.user.note=hi
            0 bin/ping 755 0:0 0 0  0,0
            x PaxHeaders.0/etc 0 0:0 0 65  0,0
                29 LINUXKIT.location=init[0]
                36 LINUXKIT.source=linuxkit/init:v1
            5 etc 755 0:0 0 0  0,0
            --- read back
            dir      0755 0:0 0 - - /
            dir      0755 0:0 0 - - /bin
            file     0755 0:0 0 0 e3b0c44298fc1c14 /bin/ping xattr:security.capability=0100000200200000 xattr:user.note=6869 origin=onboot[0],docker.io/library/busybox:1.36
            dir      0755 0:0 0 - - /etc origin=init[0],linuxkit/init:v1
        "#]],
    );
}

#[test]
fn origin_is_left_out_unless_asked_for() {
    check(
        "//- /etc dir origin=init[0],linuxkit/init:v1\n",
        PLAIN,
        expect![[r#"
            5 etc 755 0:0 0 0  0,0
            --- read back
            dir      0755 0:0 0 - - /
            dir      0755 0:0 0 - - /etc
        "#]],
    );
}

#[test]
fn long_names_and_targets_use_pax_path_and_linkpath() {
    let long = "d".repeat(95);
    check(
        &format!("//- /{long}/file-name\n//- /short symlink=/{long}/target-name\n"),
        PLAIN,
        expect![[r#"
            5 ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd 755 0:0 0 0  0,0
            x ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd/PaxH 0 0:0 0 115  0,0
                115 path=ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd/file-name
            0 ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd/file 644 0:0 0 0  0,0
            x PaxHeaders.0/short 0 0:0 0 122  0,0
                122 linkpath=/ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd/target-name
            2 short 777 0:0 0 0 /ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd/tar 0,0
            --- read back
            dir      0755 0:0 0 - - /
            dir      0755 0:0 0 - - /ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd
            file     0644 0:0 0 0 e3b0c44298fc1c14 /ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd/file-name
            symlink  0777 0:0 0 - - /short -> /ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd/target-name
        "#]],
    );
}

#[test]
fn out_of_range_numbers_use_pax_records() {
    // 3000000 > 0o7777777 (2097151); -5 < 0; 9000000000 > 0o77777777777 (8589934591).
    check(
        "//- /a uid=3000000 gid=7 mtime=-5\n//- /b mtime=9000000000\n",
        PLAIN,
        expect![[r#"
            x PaxHeaders.0/a 0 0:0 0 27  0,0
                12 mtime=-5
                15 uid=3000000
            0 a 644 0:7 0 0  0,0
            x PaxHeaders.0/b 0 0:0 0 20  0,0
                20 mtime=9000000000
            0 b 644 0:0 8589934591 0  0,0
            --- read back
            dir      0755 0:0 0 - - /
            file     0644 3000000:7 -5 0 e3b0c44298fc1c14 /a
            file     0644 0:0 9000000000 0 e3b0c44298fc1c14 /b
        "#]],
    );
}

#[test]
fn hard_links_point_at_the_first_name() {
    // `/a/link` precedes `/z/file` in walk order: it carries the data and the file's mode;
    // `/z/file` and `/zz` become link entries naming it, each with its own mode.
    check(
        r#"
//- /z/file mode=0755 uid=5
data
//- /a/link hardlink=/z/file mode=0600
//- /zz hardlink=/z/file mode=0640
"#,
        PLAIN,
        expect![[r#"
            5 a 755 0:0 0 0  0,0
            0 a/link 755 5:0 0 5  0,0
            5 z 755 0:0 0 0  0,0
            1 z/file 755 5:0 0 0 a/link 0,0
            1 zz 640 0:0 0 0 a/link 0,0
            --- read back
            dir      0755 0:0 0 - - /
            dir      0755 0:0 0 - - /a
            file     0755 5:0 0 5 6667b2d1aab6a00c /a/link
            dir      0755 0:0 0 - - /z
            hardlink 0755 5:0 0 - - /z/file => /a/link
            hardlink 0640 0:0 0 - - /zz => /a/link
        "#]],
    );
}

#[test]
fn bad_trees_are_errors_naming_the_path() {
    check(
        "//- /etc/x mode=017777\n",
        PLAIN,
        expect![[r#"
            error: mode of /etc/x is 0o17777, expected permission bits within 0o7777
        "#]],
    );
    check(
        "//- /dev/big char=3000000,1\n",
        PLAIN,
        expect![[r#"
            error: major of device /dev/big is 3000000, expected at most 2097151 (0o7777777)
        "#]],
    );
    let mut tree = tree_from_fixture("//- /f\n").unwrap();
    let NodeKind::File(_) = tree.root[&b"f"[..]].kind else { unreachable!() };
    tree.root.get_mut(&b"f"[..]).unwrap().meta.xattrs.insert("a=b".to_owned(), b"c".to_vec());
    assert_eq!(
        to_vec(&tree, &NoBlobs, &PLAIN).unwrap_err().to_string(),
        "xattr name \"a=b\" of /f contains `=`"
    );
}

/// A content source whose blobs have a different length than announced.
struct Lying;

impl ContentSource for Lying {
    fn open(&self, range: &BlobRange) -> io::Result<Box<dyn Read + '_>> {
        let actual = usize::try_from(range.offset).unwrap();
        Ok(Box::new(io::repeat(b'x').take(u64::try_from(actual).unwrap())))
    }
}

fn blob_tree(announced: u64, actual: u64) -> Tree {
    let mut tree = Tree::new(0);
    let range = BlobRange { object: Arc::from("sha256:00"), offset: actual, len: announced };
    tree.root.insert(
        b"blob".to_vec(),
        Node::new(NodeKind::File(Content::Blob(range)), Meta::new(0o644, 0)),
    );
    tree
}

#[test]
fn content_length_is_checked() {
    let err = |tree: &Tree| to_vec(tree, &Lying, &PLAIN).unwrap_err().to_string();
    assert_eq!(err(&blob_tree(10, 4)), "content of /blob ended after 4 bytes, expected 10");
    assert_eq!(err(&blob_tree(10, 11)), "content of /blob is longer than its announced 10 bytes");
    assert_eq!(
        to_vec(&blob_tree(3, 0), &NoBlobs, &PLAIN).unwrap_err().to_string(),
        "reading the content of /blob: no content source for object sha256:00"
    );
    let bytes = to_vec(&blob_tree(700, 700), &Lying, &PLAIN).unwrap();
    // Header, 700 bytes padded to 1024, two zero blocks.
    assert_eq!(bytes.len(), 512 + 1024 + 1024);
}

#[test]
fn dangling_hard_link_is_an_error() {
    let mut tree = Tree::new(0);
    tree.root.insert(
        b"link".to_vec(),
        Node::new(NodeKind::HardLink(b"missing".to_vec()), Meta::new(0o644, 0)),
    );
    assert_eq!(
        to_vec(&tree, &NoBlobs, &PLAIN).unwrap_err().to_string(),
        "hard link /link: target /missing is missing, expected a regular file of the tree"
    );
}

#[test]
fn reader_rejects_escapes_and_keeps_the_last_duplicate() {
    let archive = |entries: &[(&str, &[u8])]| {
        let mut builder = ::tar::Builder::new(Vec::new());
        for (path, data) in entries {
            let mut header = ::tar::Header::new_gnu();
            header.set_size(u64::try_from(data.len()).unwrap());
            header.set_mode(0o644);
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(0);
            header.set_entry_type(::tar::EntryType::Regular);
            // Write the name raw so that `..` and absolute paths reach the reader.
            header.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
            header.set_cksum();
            builder.append(&header, *data).unwrap();
        }
        builder.into_inner().unwrap()
    };
    let err = read(&archive(&[("a/../../x", b"")])[..]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "path /a/../../x has a `..` component; expected a path that stays inside the root"
    );
    let err = read(&archive(&[("/etc/x", b"")])[..]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "path /etc/x is absolute; expected a path relative to the archive root"
    );
    let tree = read(&archive(&[("./x", b"one"), ("x", b"two")])[..]).unwrap();
    match &tree.get(b"x").unwrap().kind {
        NodeKind::File(Content::Inline(data)) => assert_eq!(&data[..], b"two"),
        other => panic!("expected a file, found {other:?}"),
    }
}

#[test]
fn reader_follows_gnu_long_names() {
    // The `tar` crate's own builder writes GNU `././@LongLink` entries for long names.
    let long = format!("{}/{}", "x".repeat(80), "y".repeat(80));
    let mut builder = ::tar::Builder::new(Vec::new());
    let mut header = ::tar::Header::new_gnu();
    header.set_size(2);
    header.set_mode(0o600);
    header.set_uid(0);
    header.set_gid(0);
    builder.append_data(&mut header, &long, &b"hi"[..]).unwrap();
    let tree = read(&builder.into_inner().unwrap()[..]).unwrap();
    assert!(matches!(tree.get(long.as_bytes()).unwrap().kind, NodeKind::File(_)));
}

#[test]
fn same_tree_same_bytes() {
    let fixture = "//- /b/c\nx\n//- /a symlink=b\n//- /b/d hardlink=/b/c\n";
    let first = to_vec(&tree_from_fixture(fixture).unwrap(), &NoBlobs, &WITH_ORIGIN).unwrap();
    let second = to_vec(&tree_from_fixture(fixture).unwrap(), &NoBlobs, &WITH_ORIGIN).unwrap();
    assert_eq!(first, second);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn round_trip(tree in arb_tree(), pax_origin in any::<bool>()) {
        let options = TarOptions { pax_origin };
        let bytes = to_vec(&tree, &NoBlobs, &options).unwrap();
        let back = read(&bytes[..]).unwrap();
        prop_assert_eq!(dump(&back), dump(&tar_model(&tree, pax_origin)));
        prop_assert_eq!(bytes, to_vec(&tree, &NoBlobs, &options).unwrap());
    }
}

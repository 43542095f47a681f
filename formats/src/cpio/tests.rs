//! Unit tests of the newc writer and reader.

use std::io::{self, Read};
use std::sync::Arc;

use expect_test::{Expect, expect};
use proptest::prelude::*;

use super::*;
use crate::arb::{arb_tree, cpio_model};
use crate::cpio::header::NewcHeader;
use crate::dump::dump;
use crate::testutil::tree_from_fixture;
use crate::tree::{BlobRange, Content, Meta, NoBlobs, Node, NodeKind};

fn gz(level: u32, threads: usize) -> crate::gzip::GzipOptions {
    crate::gzip::GzipOptions { level, threads }
}

const WITH_ROOT: CpioOptions = CpioOptions { root_entry: true };
const NO_ROOT: CpioOptions = CpioOptions { root_entry: false };

/// Writes the fixture, shows the archive's layout (offset and name of each header, total
/// length), then the tree read back.
fn check(fixture: &str, options: CpioOptions, expect: Expect) {
    let tree = tree_from_fixture(fixture).unwrap();
    let bytes = match to_vec(&tree, &NoBlobs, &options) {
        Ok(bytes) => bytes,
        Err(err) => {
            expect.assert_eq(&format!("error: {err}\n"));
            return;
        }
    };
    let mut out = String::new();
    let mut offset = 0;
    while offset < bytes.len() {
        let header: &[u8; NewcHeader::SIZE] =
            bytes[offset..offset + NewcHeader::SIZE].try_into().unwrap();
        let header = NewcHeader::decode(header).unwrap();
        let name_start = offset + NewcHeader::SIZE;
        let namesize = usize::try_from(header.namesize_bytes).unwrap();
        let name = String::from_utf8_lossy(&bytes[name_start..name_start + namesize - 1]);
        out.push_str(&format!("@{offset} {name} size={}\n", header.filesize_bytes));
        let data_start = (name_start + namesize).next_multiple_of(4);
        let filesize = usize::try_from(header.filesize_bytes).unwrap();
        offset = (data_start + filesize).next_multiple_of(4);
    }
    out.push_str(&format!("end @{}\n--- read back\n", bytes.len()));
    out.push_str(&dump(&read(&bytes[..]).unwrap()));
    expect.assert_eq(&out);
}

#[test]
fn layout_and_padding() {
    // "." entry: 110 + 2 = 112, already a multiple of 4.
    // "a": 110 + 2 = 112; data "xyz\n" 4 bytes -> next at 228 (112 + 112 + 4).
    // "bb": 110 + 3 = 113 -> 116; symlink data "a" 1 byte -> padded to 4 -> next at 348.
    // "TRAILER!!!": 110 + 11 = 121 -> 124 -> end at 472.
    check(
        r#"
//- /a mtime=1700000000
xyz
//- /bb symlink=a
"#,
        WITH_ROOT,
        expect![[r#"
            @0 . size=0
            @112 a size=4
            @228 bb size=1
            @348 TRAILER!!! size=0
            end @472
            --- read back
            dir      0755 0:0 0 - - /
            file     0644 0:0 1700000000 4 f34fe622a8fe7565 /a
            symlink  0777 0:0 0 - - /bb -> a
        "#]],
    );
}

#[test]
fn every_kind_round_trips_without_xattrs() {
    // sha256("#!/bin/sh\n") = 8b3d... per sha256sum; xattrs and origins are not stored.
    check(
        r#"
//- / mode=0700 mtime=3
//- /bin/busybox mode=04755 uid=1 gid=2 mtime=1700000000 xattr.security.capability=0x01 origin=init[0],busybox
#!/bin/sh
//- /bin/sh symlink=busybox
//- /dev/console char=5,1 mode=0600
//- /dev/sda block=8,16 mode=0660 gid=6
//- /run/fifo fifo mode=0600
//- /tmp dir mode=01777 mtime=-5
"#,
        NO_ROOT,
        expect![[r#"
            @0 bin size=0
            @116 bin/busybox size=10
            @252 bin/sh size=7
            @380 dev size=0
            @496 dev/console size=0
            @620 dev/sda size=0
            @740 run size=0
            @856 run/fifo size=0
            @976 tmp size=0
            @1092 TRAILER!!! size=0
            end @1216
            --- read back
            dir      0755 0:0 0 - - /
            dir      0755 0:0 0 - - /bin
            file     4755 1:2 1700000000 10 a8076d3d28d21e02 /bin/busybox
            symlink  0777 0:0 0 - - /bin/sh -> busybox
            dir      0755 0:0 0 - - /dev
            char     0600 0:0 0 - - /dev/console dev=5,1
            block    0660 0:6 0 - - /dev/sda dev=8,16
            dir      0755 0:0 0 - - /run
            fifo     0600 0:0 0 - - /run/fifo
            dir      1777 0:0 0 - - /tmp
        "#]],
    );
}

#[test]
fn hard_links_share_the_inode() {
    // The first name in walk order (/a/link) has the data; all names get the file's metadata.
    check(
        r#"
//- /z/file mode=0750 uid=5 mtime=9
data
//- /a/link hardlink=/z/file mode=0600
//- /z/third hardlink=/z/file
"#,
        NO_ROOT,
        expect![[r#"
            @0 a size=0
            @112 a/link size=5
            @240 z size=0
            @352 z/file size=0
            @472 z/third size=0
            @592 TRAILER!!! size=0
            end @716
            --- read back
            dir      0755 0:0 0 - - /
            dir      0755 0:0 0 - - /a
            file     0750 5:0 9 5 6667b2d1aab6a00c /a/link
            dir      0755 0:0 0 - - /z
            hardlink 0750 5:0 9 - - /z/file => /a/link
            hardlink 0750 5:0 9 - - /z/third => /a/link
        "#]],
    );
}

/// A newc entry built by hand, for reader tests.
fn raw_entry(out: &mut Vec<u8>, name: &str, mode: u32, ino: u32, nlink: u32, data: &[u8]) {
    let header = NewcHeader {
        magic: header::Magic::Newc,
        ino,
        mode,
        uid: 0,
        gid: 0,
        nlink,
        mtime_secs: 0,
        filesize_bytes: u32::try_from(data.len()).unwrap(),
        devmajor: 0,
        devminor: 0,
        rdevmajor: 0,
        rdevminor: 0,
        namesize_bytes: u32::try_from(name.len() + 1).unwrap(),
        check: 0,
    };
    let mut bytes = [0u8; NewcHeader::SIZE];
    header.encode(&mut bytes);
    out.extend_from_slice(&bytes);
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    out.resize(out.len().next_multiple_of(4), 0);
    out.extend_from_slice(data);
    out.resize(out.len().next_multiple_of(4), 0);
}

#[test]
fn reader_takes_link_data_from_the_last_name_like_gnu_cpio_writes_it() {
    let mut archive = Vec::new();
    raw_entry(&mut archive, "./a", 0o100_644, 7, 2, b"");
    raw_entry(&mut archive, "./b", 0o100_644, 7, 2, b"data\n");
    raw_entry(&mut archive, "TRAILER!!!", 0, 0, 1, b"");
    // A second archive (as after a ucode archive), padded as GNU cpio pads, reusing ino 7.
    archive.resize(1024, 0);
    raw_entry(&mut archive, "c", 0o100_600, 7, 1, b"x");
    raw_entry(&mut archive, "TRAILER!!!", 0, 0, 1, b"");
    expect![[r#"
        dir      0755 0:0 0 - - /
        file     0644 0:0 0 5 6667b2d1aab6a00c /a
        hardlink 0644 0:0 0 - - /b => /a
        file     0600 0:0 0 1 2d711642b726b044 /c
    "#]]
    .assert_eq(&dump(&read(&archive[..]).unwrap()));
}

#[test]
fn reader_errors_name_the_offset_or_path() {
    let err = |archive: &[u8]| read(archive).unwrap_err().to_string();
    let mut archive = Vec::new();
    raw_entry(&mut archive, "a", 0o100_644, 1, 1, b"abc");
    assert_eq!(err(&archive), "cpio archive ends at byte 116 without a TRAILER!!! entry");
    assert_eq!(
        err(&archive[..114]),
        "cpio archive ends at byte 114 inside the data of the entry at byte 0"
    );
    assert_eq!(
        err(&archive[..50]),
        "cpio archive ends at byte 50 inside the header of the entry at byte 0"
    );
    let mut sock = Vec::new();
    raw_entry(&mut sock, "s", 0o140_755, 1, 1, b"");
    assert_eq!(
        err(&sock),
        "cpio entry /s has mode 0o140755, expected a file, directory, symlink, device or fifo"
    );
    let mut escape = Vec::new();
    raw_entry(&mut escape, "../x", 0o100_644, 1, 1, b"");
    assert_eq!(
        err(&escape),
        "path /../x has a `..` component; expected a path that stays inside the root"
    );
    let mut odc = archive.clone();
    odc[..6].copy_from_slice(b"070707");
    assert_eq!(
        err(&odc),
        "cpio header at byte 0: magic is \"070707\", expected \"070701\" or \"070702\" (newc)"
    );
}

/// A content source whose blobs are `offset` bytes of `x`, whatever their announced length.
struct Lying;

impl ContentSource for Lying {
    fn open(&self, range: &BlobRange) -> io::Result<Box<dyn Read + '_>> {
        Ok(Box::new(io::repeat(b'x').take(range.offset)))
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
fn writer_errors_name_the_path() {
    let err = |tree: &Tree| to_vec(tree, &Lying, &NO_ROOT).unwrap_err().to_string();
    assert_eq!(err(&blob_tree(10, 4)), "content of /blob ended after 4 bytes, expected 10");
    assert_eq!(err(&blob_tree(10, 11)), "content of /blob is longer than its announced 10 bytes");
    assert_eq!(
        err(&blob_tree(1 << 32, 0)),
        "file /blob is 4294967296 bytes, expected less than 4 GiB (newc stores 32-bit sizes)"
    );
    let name = |len: usize| tree_from_fixture(&format!("//- /{}\n", "x".repeat(len))).unwrap();
    assert!(to_vec(&name(4095), &NoBlobs, &NO_ROOT).is_ok());
    let message = to_vec(&name(4096), &NoBlobs, &NO_ROOT).unwrap_err().to_string();
    assert!(
        message.ends_with("x is 4096 bytes long, expected at most 4095 (PATH_MAX with its NUL)"),
        "{message}"
    );
    let mut tree = tree_from_fixture("//- /f\n").unwrap();
    tree.root.get_mut(&b"f"[..]).unwrap().meta.mode = 0o10644;
    assert_eq!(err(&tree), "mode of /f is 0o10644, expected permission bits within 0o7777");
    assert_eq!(
        write_gzip(&tree, &NoBlobs, &NO_ROOT, gz(10, 1), &mut Vec::new()).unwrap_err().to_string(),
        "gzip level is 10, expected 0 to 9"
    );
}

#[test]
fn gzip_is_fixed_and_decompresses_to_the_archive() {
    let tree =
        tree_from_fixture("//- /init mode=0755\n#!/bin/sh\n//- /etc/hostname\nkit\n").unwrap();
    let plain = to_vec(&tree, &NoBlobs, &WITH_ROOT).unwrap();
    let mut bytes = Vec::new();
    write_gzip(&tree, &NoBlobs, &WITH_ROOT, gz(9, 1), &mut bytes).unwrap();
    // RFC 1952: ID1 ID2 CM=8 FLG=0 (no name, no comment, no extra), MTIME=0, XFL=2 (best),
    // OS=255 (unknown).
    assert_eq!(bytes[..10], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 255]);
    let mut unpacked = Vec::new();
    flate2::read::GzDecoder::new(&bytes[..]).read_to_end(&mut unpacked).unwrap();
    assert_eq!(unpacked, plain);
    let mut again = Vec::new();
    write_gzip(&tree, &NoBlobs, &WITH_ROOT, gz(9, 4), &mut again).unwrap();
    assert_eq!(bytes, again, "the thread count does not change the bytes");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn round_trip(tree in arb_tree()) {
        let bytes = to_vec(&tree, &NoBlobs, &WITH_ROOT).unwrap();
        let back = read(&bytes[..]).unwrap();
        prop_assert_eq!(dump(&back), dump(&cpio_model(&tree)));
        prop_assert_eq!(bytes, to_vec(&tree, &NoBlobs, &WITH_ROOT).unwrap());
    }
}

//! Unit tests of the EROFS writer and reader.

use std::io::{self, Cursor, Read};
use std::sync::Arc;

use expect_test::{Expect, expect};
use proptest::prelude::*;

use super::*;
use crate::arb::{arb_tree, erofs_model};
use crate::dump::{display_path, dump};
use crate::testutil::tree_from_fixture;
use crate::tree::{BlobRange, Content, Meta, NoBlobs, Node, NodeKind};

fn options(compression: Compression) -> ErofsOptions {
    ErofsOptions { epoch: 1_700_000_000, uuid: None, volume_name: b"kit".to_vec(), compression }
}

/// Plans and writes the fixture, shows each inode (nid, form, layout, size, xattr body size,
/// path), the image size, then the tree read back.
fn check(fixture: &str, compression: Compression, expect: Expect) {
    let tree = tree_from_fixture(fixture).unwrap();
    let options = options(compression);
    let mut out = String::new();
    match plan::plan(&tree, &options) {
        Ok(plan) => {
            for inode in &plan.inodes {
                let layout = match &inode.data {
                    plan::Data::None => "none",
                    plan::Data::Bytes(_, plan::Flat::Plain)
                    | plan::Data::File(_, plan::Flat::Plain) => "plain",
                    plan::Data::Bytes(_, plan::Flat::Inline)
                    | plan::Data::File(_, plan::Flat::Inline) => "inline",
                    plan::Data::Compress(_) => "lz4",
                };
                out.push_str(&format!(
                    "nid {} {} {:o} size={} {layout} xattrs={} nlink={} {}\n",
                    inode.nid(),
                    if inode.extended { "extended" } else { "compact" },
                    inode.mode,
                    inode.size,
                    inode.xattrs.len(),
                    inode.nlink,
                    display_path(&inode.path),
                ));
            }
            out.push_str(&format!(
                "shared xattrs {} bytes, data from block {}\n",
                plan.shared_xattrs.len(),
                plan.data_start_block
            ));
        }
        Err(err) => {
            expect.assert_eq(&format!("error: {err}\n"));
            return;
        }
    }
    let bytes = to_vec(&tree, &NoBlobs, &options).unwrap();
    out.push_str(&format!("image {} blocks\n--- read back\n", bytes.len() / 4096));
    out.push_str(&dump(&read(&mut Cursor::new(&bytes)).unwrap()));
    expect.assert_eq(&out);
}

#[test]
fn layout_of_every_kind() {
    // user.a=1 is on 3 inodes (hello, ping, pong): shared, 8 bytes (4 + "a" + "1", padded) in
    // block 1, so inodes start at block 2: root nid 8192 / 32 = 256. Directories with mtime 0
    // and /etc/ping (uid 3000000, mtime 5) are extended; the others carry the epoch: compact.
    // busybox's capability is inline: 12 + 4 + 10 + 20 = 46 -> 48 bytes; hello's and ping's
    // bodies hold one shared id (12 + 4); pong's adds trusted.t=x (4 + 1 + 1 -> 8). The hard
    // link is one inode with nlink 2. The root's entries: ".", "..", bin, dev, etc, run, tmp:
    // 7 * 12 + 1 + 2 + 3 * 4 + 3 = 102 bytes, inline.
    check(
        r#"
//- /bin/busybox mode=04755 mtime=1700000000 xattr.security.capability=0x0100000200200000000000000000000000000000
#!/bin/sh
//- /bin/sh symlink=busybox mtime=1700000000
//- /dev/console char=5,1 mode=0600 mtime=1700000000
//- /dev/sda block=8,16 mode=0660 gid=6 mtime=1700000000
//- /etc/hello mode=0755 mtime=1700000000 xattr.user.a=1
echo hello
//- /etc/hello-link hardlink=/etc/hello
//- /etc/ping mode=0755 uid=3000000 gid=1000 mtime=5 xattr.user.a=1
//- /etc/pong mode=0755 mtime=1700000000 xattr.user.a=1 xattr.trusted.t=x
//- /run/fifo fifo mode=0600 mtime=1700000000
//- /tmp dir mode=01777 mtime=1700000000
"#,
        Compression::None,
        expect![[r#"
            nid 256 extended 40755 size=102 inline xattrs=0 nlink=7 /
            nid 262 extended 40755 size=60 inline xattrs=0 nlink=2 /bin
            nid 266 compact 104755 size=10 inline xattrs=48 nlink=1 /bin/busybox
            nid 269 compact 120777 size=7 inline xattrs=0 nlink=1 /bin/sh
            nid 271 extended 40755 size=61 inline xattrs=0 nlink=2 /dev
            nid 275 compact 20600 size=0 none xattrs=0 nlink=1 /dev/console
            nid 276 compact 60660 size=0 none xattrs=0 nlink=1 /dev/sda
            nid 277 extended 40755 size=98 inline xattrs=0 nlink=2 /etc
            nid 283 compact 100755 size=11 inline xattrs=16 nlink=2 /etc/hello
            nid 285 extended 100755 size=0 none xattrs=16 nlink=1 /etc/ping
            nid 288 compact 100755 size=0 none xattrs=24 nlink=1 /etc/pong
            nid 290 extended 40755 size=43 inline xattrs=0 nlink=2 /run
            nid 294 compact 10600 size=0 none xattrs=0 nlink=1 /run/fifo
            nid 295 compact 41777 size=27 inline xattrs=0 nlink=2 /tmp
            shared xattrs 8 bytes, data from block 3
            image 3 blocks
            --- read back
            dir      0755 0:0 0 - - /
            dir      0755 0:0 0 - - /bin
            file     4755 0:0 1700000000 10 a8076d3d28d21e02 /bin/busybox xattr:security.capability=0100000200200000000000000000000000000000
            symlink  0777 0:0 1700000000 - - /bin/sh -> busybox
            dir      0755 0:0 0 - - /dev
            char     0600 0:0 1700000000 - - /dev/console dev=5,1
            block    0660 0:6 1700000000 - - /dev/sda dev=8,16
            dir      0755 0:0 0 - - /etc
            file     0755 0:0 1700000000 11 5dbad7dd0b9b122d /etc/hello xattr:user.a=31
            hardlink 0755 0:0 1700000000 - - /etc/hello-link => /etc/hello xattr:user.a=31
            file     0755 3000000:1000 5 0 e3b0c44298fc1c14 /etc/ping xattr:user.a=31
            file     0755 0:0 1700000000 0 e3b0c44298fc1c14 /etc/pong xattr:trusted.t=78 xattr:user.a=31
            dir      0755 0:0 0 - - /run
            fifo     0600 0:0 1700000000 - - /run/fifo
            dir      1777 0:0 1700000000 - - /tmp
        "#]],
    );
}

/// A file of `len` bytes of `byte`, as a fixture entry.
fn big_file(path: &str, len: usize) -> String {
    format!("//- {path} mtime=1700000000 noeol\n{}\n", "x".repeat(len))
}

#[test]
fn tails_are_inline_when_they_fit_in_the_block() {
    // 4096 bytes: one whole block, FLAT_PLAIN. 4097 and 8000: one block plus an inline tail.
    // 4090 bytes: the tail does not fit after a 32-byte inode in one block: FLAT_PLAIN.
    let fixture = [
        big_file("/a", 4096),
        big_file("/b", 4097),
        big_file("/c", 4090),
        big_file("/d", 8000),
        "//- /e mtime=1700000000\n".to_owned(),
    ]
    .concat();
    check(
        &fixture,
        Compression::None,
        expect![[r#"
        nid 128 extended 40755 size=92 inline xattrs=0 nlink=2 /
        nid 133 compact 100644 size=4096 plain xattrs=0 nlink=1 /a
        nid 134 compact 100644 size=4097 inline xattrs=0 nlink=1 /b
        nid 136 compact 100644 size=4090 plain xattrs=0 nlink=1 /c
        nid 256 compact 100644 size=8000 inline xattrs=0 nlink=1 /d
        nid 379 compact 100644 size=0 none xattrs=0 nlink=1 /e
        shared xattrs 0 bytes, data from block 3
        image 7 blocks
        --- read back
        dir      0755 0:0 0 - - /
        file     0644 0:0 1700000000 4096 a2e659dacb4691e8 /a
        file     0644 0:0 1700000000 4097 3e97197f4b8d46a8 /b
        file     0644 0:0 1700000000 4090 ea6e3402c15709a7 /c
        file     0644 0:0 1700000000 8000 606023a37d97fcdf /d
        file     0644 0:0 1700000000 0 e3b0c44298fc1c14 /e
    "#]],
    );
}

#[test]
fn compressible_files_are_lz4() {
    // /a (one block) gains nothing and /c fits in one block: both stay flat; /b's 100000 x's
    // compress into one pcluster, so the image is block 0, the metadata block, /a's block and
    // /b's pcluster.
    let fixture = [big_file("/a", 4096), big_file("/b", 100_000), big_file("/c", 3000)].concat();
    check(
        &fixture,
        Compression::Lz4,
        expect![[r#"
        nid 128 extended 40755 size=66 inline xattrs=0 nlink=2 /
        nid 133 compact 100644 size=4096 plain xattrs=0 nlink=1 /a
        nid 134 compact 100644 size=100000 lz4 xattrs=0 nlink=1 /b
        nid 142 compact 100644 size=3000 inline xattrs=0 nlink=1 /c
        shared xattrs 0 bytes, data from block 2
        image 4 blocks
        --- read back
        dir      0755 0:0 0 - - /
        file     0644 0:0 1700000000 4096 a2e659dacb4691e8 /a
        file     0644 0:0 1700000000 100000 d69e689881578332 /b
        file     0644 0:0 1700000000 3000 e1630f843370f402 /c
    "#]],
    );
}

#[test]
fn a_directory_of_hundreds_of_entries_spans_blocks() {
    let fixture: String =
        (0..400).map(|i| format!("//- /many/entry-{i:04} mtime=1700000000\n")).collect();
    let tree = tree_from_fixture(&fixture).unwrap();
    let bytes = to_vec(&tree, &NoBlobs, &options(Compression::None)).unwrap();
    assert_eq!(dump(&read(&mut Cursor::new(&bytes)).unwrap()), dump(&tree));
}

#[test]
fn errors_name_the_path_and_the_limit() {
    let err = |fixture: &str| {
        let tree = tree_from_fixture(fixture).unwrap();
        to_vec(&tree, &NoBlobs, &options(Compression::None)).unwrap_err().to_string()
    };
    assert_eq!(
        err(&format!("//- /d/{}\n", "n".repeat(256))),
        format!(
            "name of /d/{} is 256 bytes, erofs allows at most 255 (EROFS_NAME_LEN)",
            "n".repeat(256)
        )
    );
    assert!(
        to_vec(
            &tree_from_fixture(&format!("//- /{}\n", "n".repeat(255))).unwrap(),
            &NoBlobs,
            &options(Compression::None)
        )
        .is_ok()
    );
    assert_eq!(
        err("//- /dev/x char=4096,0\n"),
        "device /dev/x is 4096,0, erofs stores majors up to 4095 and minors up to 1048575"
    );
    assert_eq!(
        err("//- /f xattr.system.foo=1\n"),
        "xattr system.foo of /f has no prefix erofs stores (user., trusted., security., system.posix_acl_access, system.posix_acl_default)"
    );
    assert_eq!(
        err(&format!("//- /f xattr.user.{}=1\n", "k".repeat(256))),
        format!(
            "xattr user.{} of /f: name after the prefix is 256 bytes, erofs allows at most 255",
            "k".repeat(256)
        )
    );
    assert_eq!(
        err(&format!("//- /l symlink={}\n", "t".repeat(4096))),
        "symlink /l has a 4096-byte target, expected at most 4095 bytes"
    );
    let mut tree = tree_from_fixture("//- /f\n").unwrap();
    tree.root.get_mut(&b"f"[..]).unwrap().meta.mode = 0o10644;
    assert_eq!(
        to_vec(&tree, &NoBlobs, &options(Compression::None)).unwrap_err().to_string(),
        "mode of /f is 0o10644, expected permission bits within 0o7777"
    );
    let mut long_name = options(Compression::None);
    long_name.volume_name = vec![b'v'; 17];
    assert_eq!(
        to_vec(&tree_from_fixture("//- /f\n").unwrap(), &NoBlobs, &long_name)
            .unwrap_err()
            .to_string(),
        "volume name is 17 bytes, erofs allows at most 16"
    );
}

/// A content source whose blobs are `offset` bytes of `x`, whatever their announced length.
struct Lying;

impl ContentSource for Lying {
    fn open(&self, range: &BlobRange) -> io::Result<Box<dyn io::Read + '_>> {
        Ok(Box::new(io::repeat(b'x').take(range.offset)))
    }
}

#[test]
fn content_errors_name_the_path() {
    for compression in [Compression::None, Compression::Lz4] {
        for (announced, actual, message) in [
            (10_000, 4, "content of /blob ended after 4 bytes, expected 10000"),
            (10_000, 10_001, "content of /blob is longer than its announced 10000 bytes"),
            (10, 4, "content of /blob ended after 4 bytes, expected 10"),
        ] {
            let mut tree = Tree::new(0);
            let range =
                BlobRange { object: Arc::from("sha256:00"), offset: actual, len: announced };
            tree.root.insert(
                b"blob".to_vec(),
                Node::new(NodeKind::File(Content::Blob(range)), Meta::new(0o644, 0)),
            );
            let err = to_vec(&tree, &Lying, &options(compression)).unwrap_err().to_string();
            assert_eq!(err, message, "{compression:?}");
        }
    }
}

#[test]
fn superblock_fields_and_summary() {
    let tree = tree_from_fixture("//- /a mtime=1700000000\nx\n").unwrap();
    let mut fixed = options(Compression::None);
    fixed.uuid = Some([0x11; 16]);
    let bytes = to_vec(&tree, &NoBlobs, &fixed).unwrap();
    let lines: Vec<String> = summary(&mut Cursor::new(&bytes))
        .unwrap()
        .into_iter()
        .map(|(k, v)| format!("{k}: {v}\n"))
        .collect();
    expect![[r#"
        format: erofs
        magic: 0xe0f5e1e2
        block size: 4096
        blocks: 2
        image bytes: 8192
        features: sb_csum mtime
        compression: none
        uuid: 11111111-1111-1111-1111-111111111111
        volume name: kit
        build time: 1700000000
        inodes: 2
        root nid: 128
        meta blkaddr: 0
        xattr blkaddr: 0
        checksum: crc32c 0x84c781f2 (valid)
    "#]]
    .assert_eq(&lines.concat());
    // The derived UUID depends on the tree and the options.
    let derived = |tree: &Tree, options: &ErofsOptions| {
        to_vec(tree, &NoBlobs, options).unwrap()[1024 + 48..1024 + 64].to_vec()
    };
    let base = derived(&tree, &options(Compression::None));
    assert_eq!(base[6] >> 4, 4);
    assert_ne!(base, derived(&tree, &options(Compression::Lz4)));
    let other = tree_from_fixture("//- /a mtime=1700000000\ny\n").unwrap();
    assert_ne!(base, derived(&other, &options(Compression::None)));
}

#[test]
fn reader_refuses_garbage() {
    let err = |bytes: &[u8]| read(&mut Cursor::new(bytes)).unwrap_err().to_string();
    assert_eq!(
        err(&[0u8; 100]),
        "erofs image of 100 bytes: superblock at byte 1024 (+128) is outside the image"
    );
    assert_eq!(
        err(&[0u8; 4096]),
        "erofs superblock: superblock magic is 0x00000000, expected 0xe0f5e1e2 (EROFS)"
    );
    let tree = tree_from_fixture("//- /a mtime=1700000000\nx\n").unwrap();
    let mut bytes = to_vec(&tree, &NoBlobs, &options(Compression::None)).unwrap();
    bytes[1024 + 80] = 0x04;
    assert_eq!(
        err(&bytes),
        "erofs image: incompatible features 0x4 (chunked_file), this reader knows only lz4_0padding"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn round_trip(tree in arb_tree()) {
        for compression in [Compression::None, Compression::Lz4] {
            let bytes = to_vec(&tree, &NoBlobs, &options(compression)).unwrap();
            let back = read(&mut Cursor::new(&bytes)).unwrap();
            prop_assert_eq!(dump(&back), dump(&erofs_model(&tree)));
            prop_assert_eq!(bytes, to_vec(&tree, &NoBlobs, &options(compression)).unwrap());
        }
    }
}

//! Unit tests of the squashfs writer and reader.

use std::io::{self, Cursor, Read};
use std::sync::Arc;

use expect_test::{Expect, expect};
use proptest::prelude::*;

use super::*;
use crate::arb::{arb_tree, squashfs_model};
use crate::dump::dump;
use crate::squashfs::superblock::Superblock;
use crate::testutil::tree_from_fixture;
use crate::tree::{BlobRange, Content, Dir, Meta, NoBlobs, Node, NodeKind};

fn options(compression: Compression, block_size: u32) -> SquashfsOptions {
    SquashfsOptions {
        compression,
        block_size: BlockSize::new(block_size).unwrap(),
        epoch: 1_700_000_000,
        fragments: Fragments::SmallFiles,
        deduplicate: true,
        export_table: true,
        threads: 1,
    }
}

const GZIP: Compression = Compression::Gzip { level: 9 };

/// Writes the fixture with `options`, shows the superblock's layout and the tree read back.
fn check_with(fixture: &str, options: SquashfsOptions, expect: Expect) {
    let tree = tree_from_fixture(fixture).unwrap();
    let bytes = match to_vec(&tree, &NoBlobs, &options) {
        Ok(bytes) => bytes,
        Err(err) => {
            expect.assert_eq(&format!("error: {err}\n"));
            return;
        }
    };
    let sb = Superblock::decode(bytes[..Superblock::SIZE].try_into().unwrap()).unwrap();
    let table = |at: u64| if at == u64::MAX { "none".to_owned() } else { at.to_string() };
    let mut out = format!(
        "len={} used={} inodes={} fragments={} ids={} flags={:#x} root={:#x}\n\
         inode@{} dir@{} frag@{} export@{} id@{} xattr@{}\n--- read back\n",
        bytes.len(),
        sb.bytes_used,
        sb.inodes,
        sb.fragments,
        sb.no_ids,
        sb.flags,
        sb.root_inode,
        sb.inode_table_start,
        sb.directory_table_start,
        sb.fragment_table_start,
        table(sb.lookup_table_start),
        sb.id_table_start,
        table(sb.xattr_id_table_start),
    );
    out.push_str(&dump(&read(&mut Cursor::new(&bytes)).unwrap()));
    expect.assert_eq(&out);
}

fn check(fixture: &str, expect: Expect) {
    check_with(fixture, options(GZIP, 4096), expect);
}

#[test]
fn every_kind_round_trips() {
    check(
        r#"
//- / mode=0700 mtime=3 xattr.user.root=yes
//- /bin/busybox mode=04755 uid=1 gid=2 mtime=1700000000 xattr.security.capability=0x0100000200200000
#!/bin/sh
//- /bin/sh symlink=busybox
//- /dev/console char=5,1 mode=0600
//- /dev/sda block=8,16 mode=0660 gid=6 xattr.trusted.x=1
//- /run/fifo fifo mode=0600
//- /tmp dir mode=01777 mtime=-5
//- /etc/\xc3\xa9t\xc3\xa9 mtime=5000000000
caf\xc3\xa9
//- /empty
"#,
        expect![[r#"
            len=4096 used=654 inodes=13 fragments=1 ids=4 flags=0xc0 root=0x17f
            inode@118 dir@293 frag@458 export@513 id@539 xattr@630
            --- read back
            dir      0700 0:0 3 - - / xattr:user.root=796573
            dir      0755 0:0 0 - - /bin
            file     4755 1:2 1700000000 10 a8076d3d28d21e02 /bin/busybox xattr:security.capability=0100000200200000
            symlink  0777 0:0 0 - - /bin/sh -> busybox
            dir      0755 0:0 0 - - /dev
            char     0600 0:0 0 - - /dev/console dev=5,1
            block    0660 0:6 0 - - /dev/sda dev=8,16 xattr:trusted.x=31
            file     0644 0:0 0 0 e3b0c44298fc1c14 /empty
            dir      0755 0:0 0 - - /etc
            file     0644 0:0 4294967295 12 2ded03c4763a1052 /etc/\xc3\xa9t\xc3\xa9
            dir      0755 0:0 0 - - /run
            fifo     0600 0:0 0 - - /run/fifo
            dir      1777 0:0 0 - - /tmp
        "#]],
    );
}

#[test]
fn hard_links_share_one_inode_and_duplicates_share_data() {
    check(
        r#"
//- /z/file mode=0750 uid=5 mtime=9
data
//- /a/link hardlink=/z/file mode=0600
//- /z/third hardlink=/z/file
//- /copy
data
"#,
        expect![[r#"
            len=4096 used=315 inodes=5 fragments=1 ids=2 flags=0xc0 root=0x98
            inode@101 dir@177 frag@259 export@289 id@307 xattr@none
            --- read back
            dir      0755 0:0 0 - - /
            dir      0755 0:0 0 - - /a
            file     0750 5:0 9 5 6667b2d1aab6a00c /a/link
            file     0644 0:0 0 5 6667b2d1aab6a00c /copy
            dir      0755 0:0 0 - - /z
            hardlink 0750 5:0 9 - - /z/file => /a/link
            hardlink 0750 5:0 9 - - /z/third => /a/link
        "#]],
    );
}

fn big_tree() -> Tree {
    let mut tree = tree_from_fixture("//- /small\nx\n").unwrap();
    let mut add = |name: &str, data: Vec<u8>| {
        tree.root.insert(
            name.as_bytes().to_vec(),
            Node::new(NodeKind::File(Content::Inline(Arc::from(data))), Meta::new(0o644, 0)),
        );
    };
    let pattern = |len: usize, seed: u32| -> Vec<u8> {
        let mut x = seed;
        (0..len)
            .map(|i| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                if i % 3 == 0 { x.to_le_bytes()[2] } else { b'a' + u8::try_from(i % 7).unwrap() }
            })
            .collect()
    };
    add("one-block", pattern(4096, 1));
    add("blocks-and-tail", pattern(3 * 4096 + 100, 2));
    add("zeros", vec![0; 2 * 4096 + 10]);
    add("random", {
        let mut x = 7u32;
        (0..5000)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                x.to_le_bytes()[2]
            })
            .collect()
    });
    add("same-as-blocks", pattern(3 * 4096 + 100, 2));
    for i in 0..30 {
        add(&format!("tail-{i:02}"), pattern(300 + i * 10, 100 + u32::try_from(i).unwrap()));
    }
    let mut big = Dir::new();
    for i in 0..700 {
        big.insert(
            format!("entry-with-a-longish-name-{i:04}").into_bytes(),
            Node::new(NodeKind::Fifo, Meta::new(0o600, 0)),
        );
    }
    tree.root.insert(b"big".to_vec(), Node::new(NodeKind::Dir(big), Meta::new(0o755, 0)));
    tree
}

#[test]
fn layouts_of_blocks_fragments_holes_and_indexes() {
    let tree = big_tree();
    let mut lines = String::new();
    for (name, fragments, dedupe) in [
        ("small files", Fragments::SmallFiles, true),
        ("all tails", Fragments::AllTails, true),
        ("off", Fragments::Off, false),
    ] {
        let opts = SquashfsOptions { fragments, deduplicate: dedupe, ..options(GZIP, 4096) };
        let bytes = to_vec(&tree, &NoBlobs, &opts).unwrap();
        let sb = Superblock::decode(bytes[..Superblock::SIZE].try_into().unwrap()).unwrap();
        lines.push_str(&format!(
            "{name}: len={} used={} fragments={} inode@{} flags={:#x}\n",
            bytes.len(),
            sb.bytes_used,
            sb.fragments,
            sb.inode_table_start,
            sb.flags
        ));
        assert_eq!(dump(&read(&mut Cursor::new(&bytes)).unwrap()), dump(&tree));
    }
    expect![[r#"
        small files: len=32768 used=31686 fragments=4 inode@24289 flags=0xc0
        all tails: len=32768 used=31789 fragments=4 inode@24392 flags=0xe0
        off: len=45056 used=41722 fragments=0 inode@34256 flags=0x90
    "#]]
    .assert_eq(&lines);
}

#[test]
fn same_bytes_for_any_thread_count_and_compressor() {
    let tree = big_tree();
    for compression in [GZIP, Compression::Xz { preset: 6 }, Compression::Zstd, Compression::Lz4] {
        let one = to_vec(&tree, &NoBlobs, &options(compression, 4096)).unwrap();
        for threads in [0, 2, 3, 8] {
            let opts = SquashfsOptions { threads, ..options(compression, 4096) };
            assert!(one == to_vec(&tree, &NoBlobs, &opts).unwrap(), "{compression:?} x{threads}");
        }
        assert_eq!(dump(&read(&mut Cursor::new(&one)).unwrap()), dump(&tree), "{compression:?}");
    }
}

#[test]
fn summary_describes_the_superblock() {
    let tree = tree_from_fixture("//- /a xattr.user.x=1\nhello\n").unwrap();
    let bytes = to_vec(&tree, &NoBlobs, &options(Compression::Lz4, 1 << 20)).unwrap();
    let lines: Vec<String> = summary(&mut Cursor::new(&bytes))
        .unwrap()
        .into_iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    expect![[r#"
        format: squashfs 4.0
        compression: lz4
        compressor options: version 1, flags 0x0
        block size: 1048576
        flags: duplicates, exportable, compressor-options
        mkfs time: 1700000000
        inodes: 2
        fragments: 1
        ids: 1
        bytes used: 291
        root inode: 0x38
        inode table: 112
        directory table: 163
        fragment table: 196
        export table: 218
        id table: 232
        xattr id table: 267"#]]
    .assert_eq(&lines.join("\n"));
}

/// A content source whose blobs are `offset` bytes of `x`, whatever their announced length.
struct Lying;

impl ContentSource for Lying {
    fn open(&self, range: &BlobRange) -> io::Result<Box<dyn Read + '_>> {
        Ok(Box::new(io::repeat(b'x').take(range.offset)))
    }
}

#[test]
fn writer_errors_name_the_path() {
    let blob = |announced: u64, actual: u64| {
        let mut tree = Tree::new(0);
        let range = BlobRange { object: Arc::from("sha256:00"), offset: actual, len: announced };
        tree.root.insert(
            b"blob".to_vec(),
            Node::new(NodeKind::File(Content::Blob(range)), Meta::new(0o644, 0)),
        );
        tree
    };
    let err = |tree: &Tree, threads: usize| {
        let opts = SquashfsOptions { threads, ..options(GZIP, 4096) };
        to_vec(tree, &Lying, &opts).unwrap_err().to_string()
    };
    for threads in [1, 2] {
        assert_eq!(
            err(&blob(10_000, 4), threads),
            "content of /blob ended after 4 bytes, expected 10000"
        );
        assert_eq!(
            err(&blob(0, 1), threads),
            "content of /blob is longer than its announced 0 bytes"
        );
        assert_eq!(
            err(&blob(9000, 9001), threads),
            "content of /blob is longer than its announced 9000 bytes"
        );
    }
    let mut tree = tree_from_fixture("//- /f\n").unwrap();
    tree.root.get_mut(&b"f"[..]).unwrap().meta.mode = 0o10644;
    assert_eq!(err(&tree, 1), "mode of /f is 0o10644, expected permission bits within 0o7777");
    assert_eq!(
        BlockSize::new(3000).unwrap_err().to_string(),
        "block size is 3000 bytes, squashfs allows powers of two from 4096 to 1048576"
    );
    let opts =
        SquashfsOptions { compression: Compression::Gzip { level: 10 }, ..options(GZIP, 4096) };
    assert_eq!(
        to_vec(&tree_from_fixture("//- /f\n").unwrap(), &NoBlobs, &opts).unwrap_err().to_string(),
        "squashfs options: gzip level is 10, expected 1 to 9"
    );
}

#[test]
fn reader_rejects_garbage() {
    let tree = tree_from_fixture("//- /a/b\nhello\n//- /c symlink=a\n").unwrap();
    let bytes = to_vec(&tree, &NoBlobs, &options(GZIP, 4096)).unwrap();
    let err = |bytes: &[u8]| read(&mut Cursor::new(bytes)).unwrap_err().to_string();
    assert_eq!(
        err(&bytes[..50]),
        "squashfs superblock at byte 0 (+96) lies beyond the end of the image (50 bytes)"
    );
    let mut bad = bytes.clone();
    bad[0] = b'x';
    assert!(err(&bad).starts_with("squashfs superblock: magic is"), "{}", err(&bad));
    // Every truncation fails cleanly.
    for len in 96..bytes.len() {
        let _ = read(&mut Cursor::new(&bytes[..len]));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn round_trip(tree in arb_tree(), threads in 1usize..3) {
        let opts = SquashfsOptions { threads, ..options(GZIP, 4096) };
        let bytes = to_vec(&tree, &NoBlobs, &opts).unwrap();
        let back = read(&mut Cursor::new(&bytes)).unwrap();
        prop_assert_eq!(dump(&back), dump(&squashfs_model(&tree)));
        prop_assert!(bytes == to_vec(&tree, &NoBlobs, &opts).unwrap());
    }
}

/// Random byte changes (a fixed generator, so the test is repeatable) never make the reader
/// panic, whatever the compressor.
#[test]
fn corrupted_images_fail_cleanly() {
    let mut x = 12345u64;
    let mut next = || {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        x >> 33
    };
    let tree = big_tree();
    for compression in [Compression::Lz4, GZIP, Compression::Zstd, Compression::Xz { preset: 1 }] {
        let bytes = to_vec(&tree, &NoBlobs, &options(compression, 4096)).unwrap();
        for _ in 0..150 {
            let mut b = bytes.clone();
            for _ in 0..1 + next() % 6 {
                let at = usize::try_from(next()).unwrap() % b.len();
                b[at] = u8::try_from(next() % 256).unwrap();
            }
            crate::__fuzz::squashfs_read(&b);
        }
    }
}

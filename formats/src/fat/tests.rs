//! Unit tests of the FAT writer and reader: layouts read back, errors, round trips of random
//! trees, determinism, and damaged images.

use std::collections::BTreeSet;
use std::io::{self, Cursor, Read};
use std::sync::Arc;

use expect_test::{Expect, expect};
use proptest::prelude::*;

use super::*;
use crate::arb::arb_tree;
use crate::dump::dump;
use crate::fat::short_name::{case_key, long_name_units};
use crate::fat::time::{MAX_UNIX_SECS, MIN_UNIX_SECS};
use crate::testutil::tree_from_fixture;
use crate::tree::{BlobRange, Content, Dir, Meta, NoBlobs, Node, NodeKind};

fn options(size_bytes: Option<u64>, fat_type: Option<FatType>) -> FatOptions {
    FatOptions {
        size_bytes,
        fat_type,
        cluster_size_bytes: None,
        volume_id: VolumeId::Fixed(0x1234_abcd),
        volume_label: VolumeLabel::new("EFI").unwrap(),
        hidden_sectors: 2048,
        epoch: 1_700_000_000,
        oem_name: *b"kit     ",
    }
}

/// Writes the fixture, then shows the summary of the image and the tree read back.
fn check(fixture: &str, options: FatOptions, expect: Expect) {
    let tree = tree_from_fixture(fixture).unwrap();
    let bytes = match to_vec(&tree, &NoBlobs, &options) {
        Ok(bytes) => bytes,
        Err(err) => {
            expect.assert_eq(&format!("error: {err}\n"));
            return;
        }
    };
    let mut out = format!("{} bytes\n", bytes.len());
    for (key, value) in summary(&mut Cursor::new(&bytes)).unwrap() {
        out.push_str(&format!("{key}: {value}\n"));
    }
    out.push_str("--- read back\n");
    out.push_str(&dump(&read(&mut Cursor::new(&bytes)).unwrap()));
    expect.assert_eq(&out);
}

const ESP: &str = r#"
//- /EFI/BOOT/BOOTX64.EFI mtime=1700000000
MZ boot
//- /EFI/Linux/linux.efi mode=0444 mtime=1700000001
MZ linux
//- /loader/loader.conf mtime=1700000002
timeout 3
//- /loader/entries dir mtime=1700000004
"#;

#[test]
fn esp_on_fat32() {
    // 64 MiB FAT32 as mkfs.fat -F 32 lays it out (fat_tools.rs compares): 1009 sectors per
    // FAT, data at byte 2050 * 512, 129022 clusters. Ten clusters are used (root, EFI, BOOT,
    // BOOTX64.EFI, Linux, linux.efi, loader, entries, loader.conf), so 129013 are free and
    // cluster 11 is the next free one. Times: FAT keeps even seconds; linux.efi is read-only.
    // sha256("MZ boot\n") = ffd0ad1a..., sha256("MZ linux\n") = 0bc2fed3...,
    // sha256("timeout 3\n") = c135274c... (sha256sum).
    check(
        ESP,
        options(Some(64 << 20), Some(FatType::Fat32)),
        expect![[r#"
            67108864 bytes
            type: FAT32
            oem_name: kit
            volume_id: 1234-ABCD
            volume_label: EFI
            bytes_per_sector: 512
            cluster_bytes: 512
            reserved_sectors: 32
            fats: 2
            fat_sectors: 1009
            fat_start_byte: 16384
            root_cluster: 2
            data_start_byte: 1049600
            total_sectors: 131072
            hidden_sectors: 2048
            media: 0xf8
            data_clusters: 129022
            free_clusters: 129013
            backup_boot_sector: 6
            fsinfo_free_clusters: 129013
            fsinfo_next_free: 11
            root_label: EFI
            --- read back
            dir      0755 0:0 0 - - /
            dir      0755 0:0 315532800 - - /EFI
            dir      0755 0:0 315532800 - - /EFI/BOOT
            file     0644 0:0 1700000000 8 ffd0ad1a4c3a89a5 /EFI/BOOT/BOOTX64.EFI
            dir      0755 0:0 315532800 - - /EFI/Linux
            file     0444 0:0 1700000000 9 0bc2fed33bf006b4 /EFI/Linux/linux.efi
            dir      0755 0:0 315532800 - - /loader
            dir      0755 0:0 1700000004 - - /loader/entries
            file     0644 0:0 1700000002 10 c135274c6471e4e4 /loader/loader.conf
        "#]],
    );
}

#[test]
fn esp_just_big_enough() {
    // The smallest volume: FAT12 with 512-byte clusters, 1 reserved sector, two 1-sector FATs,
    // 32 sectors of root directory and the 8 clusters the tree needs: 43 sectors.
    check(
        ESP,
        options(None, None),
        expect![[r#"
            22016 bytes
            type: FAT12
            oem_name: kit
            volume_id: 1234-ABCD
            volume_label: EFI
            bytes_per_sector: 512
            cluster_bytes: 512
            reserved_sectors: 1
            fats: 2
            fat_sectors: 1
            fat_start_byte: 512
            root_entries: 512
            data_start_byte: 17920
            total_sectors: 43
            hidden_sectors: 2048
            media: 0xf8
            data_clusters: 8
            free_clusters: 0
            root_label: EFI
            --- read back
            dir      0755 0:0 0 - - /
            dir      0755 0:0 315532800 - - /EFI
            dir      0755 0:0 315532800 - - /EFI/BOOT
            file     0644 0:0 1700000000 8 ffd0ad1a4c3a89a5 /EFI/BOOT/BOOTX64.EFI
            dir      0755 0:0 315532800 - - /EFI/Linux
            file     0444 0:0 1700000000 9 0bc2fed33bf006b4 /EFI/Linux/linux.efi
            dir      0755 0:0 315532800 - - /loader
            dir      0755 0:0 1700000004 - - /loader/entries
            file     0644 0:0 1700000002 10 c135274c6471e4e4 /loader/loader.conf
        "#]],
    );
}

#[test]
fn hard_links_are_copies_and_times_clamp() {
    // The link gets the file's content and mtime; mtimes before 1980 read back as 1980-01-01,
    // after 2107 as 2107-12-31 23:59:58 (4354819198), odd seconds one second earlier.
    check(
        r#"
//- /a mtime=1700000001 mode=0600
data
//- /b hardlink=/a mtime=5
//- /old mtime=-100
//- /new mtime=9000000000
//- /dir dir mtime=0
"#,
        options(None, Some(FatType::Fat12)),
        expect![[r#"
            19456 bytes
            type: FAT12
            oem_name: kit
            volume_id: 1234-ABCD
            volume_label: EFI
            bytes_per_sector: 512
            cluster_bytes: 512
            reserved_sectors: 1
            fats: 2
            fat_sectors: 1
            fat_start_byte: 512
            root_entries: 512
            data_start_byte: 17920
            total_sectors: 38
            hidden_sectors: 2048
            media: 0xf8
            data_clusters: 3
            free_clusters: 0
            root_label: EFI
            --- read back
            dir      0755 0:0 0 - - /
            file     0644 0:0 1700000000 5 6667b2d1aab6a00c /a
            file     0644 0:0 1700000000 5 6667b2d1aab6a00c /b
            dir      0755 0:0 315532800 - - /dir
            file     0644 0:0 4354819198 0 e3b0c44298fc1c14 /new
            file     0644 0:0 315532800 0 e3b0c44298fc1c14 /old
        "#]],
    );
}

#[test]
fn refuses_what_fat_cannot_store() {
    let err = |fixture: &str, options: FatOptions| {
        let tree = tree_from_fixture(fixture).unwrap();
        to_vec(&tree, &NoBlobs, &options).unwrap_err().to_string()
    };
    assert_eq!(
        err("//- /bin/sh symlink=busybox\n", options(None, None)),
        "FAT cannot store the symlink /bin/sh"
    );
    assert_eq!(
        err("//- /a\n", options(Some(1000), None)),
        "volume size is 1000 bytes, expected a multiple of 512"
    );
    assert_eq!(
        err("//- /a\n", options(Some(1 << 42), None)),
        "volume size is 4398046511104 bytes, FAT allows at most 2199023255040 (2^32 - 1 sectors)"
    );
    assert_eq!(
        err("//- /a\n", options(Some(32 << 20), Some(FatType::Fat32))),
        "a FAT32 volume of 33554432 bytes with 512-byte clusters has 64496 clusters, FAT32 needs 65525 to 268435445"
    );
    assert_eq!(
        err("//- /a\n", options(Some(1 << 30), Some(FatType::Fat12))),
        "a FAT12 volume of 1073741824 bytes with 32768-byte clusters has 32762 clusters, FAT12 needs 1 to 4084"
    );
    assert_eq!(
        err("//- /a\n", FatOptions { cluster_size_bytes: Some(1000), ..options(None, None) }),
        "cluster size is 1000 bytes, expected a power of two from 512 to 32768"
    );
    assert_eq!(
        VolumeLabel::new("efi").unwrap_err().to_string(),
        "volume label \"efi\" may hold only upper-case ASCII letters, digits, spaces and !#$%&'()-@^_`{}~"
    );
    assert_eq!(
        VolumeLabel::new("TWELVE CHARS").unwrap_err().to_string(),
        "volume label \"TWELVE CHARS\" must be 1 to 11 bytes long"
    );
    // 100 KiB of data in a 64 KiB volume.
    let big = format!("//- /big noeol\n{}\n", "x".repeat(100 * 1024));
    assert_eq!(
        err(&big, options(Some(64 * 1024), None)),
        "the tree needs 102400 bytes of clusters, the 65536-byte volume holds 47104 (a volume of at least 120320 bytes would do)"
    );
}

#[test]
fn refuses_files_of_4_gib_and_huge_directories() {
    let mut tree = Tree::new(0);
    let range = BlobRange { object: Arc::from("sha256:00"), offset: 0, len: 1 << 32 };
    tree.root.insert(
        b"initrd".to_vec(),
        Node::new(NodeKind::File(Content::Blob(range)), Meta::new(0o644, 0)),
    );
    assert_eq!(
        required_size(&tree, &options(None, None)).unwrap_err().to_string(),
        "file /initrd is 4294967296 bytes, FAT allows at most 4294967295 (4 GiB - 1)"
    );
    // 65535 entries plus `.` and `..` is one more than a directory may hold.
    let mut big = Dir::new();
    for idx in 0..65_535u32 {
        let node =
            Node::new(NodeKind::File(Content::Inline(Arc::from(&b""[..]))), Meta::new(0o644, 0));
        big.insert(format!("F{idx}").into_bytes(), node);
    }
    let mut tree = Tree::new(0);
    tree.root.insert(b"d".to_vec(), Node::new(NodeKind::Dir(big), Meta::new(0o755, 0)));
    assert_eq!(
        required_size(&tree, &options(None, None)).unwrap_err().to_string(),
        "directory /d needs 65537 32-byte entries, FAT allows at most 65536"
    );
}

#[test]
fn content_errors_name_the_path() {
    struct Short;
    impl ContentSource for Short {
        fn open(&self, _range: &BlobRange) -> io::Result<Box<dyn Read + '_>> {
            Ok(Box::new(&b"abc"[..]))
        }
    }
    let mut tree = Tree::new(0);
    let range = BlobRange { object: Arc::from("sha256:00"), offset: 0, len: 10 };
    let mut efi = Dir::new();
    efi.insert(
        b"BOOTX64.EFI".to_vec(),
        Node::new(NodeKind::File(Content::Blob(range)), Meta::new(0o644, 0)),
    );
    tree.root.insert(b"EFI".to_vec(), Node::new(NodeKind::Dir(efi), Meta::new(0o755, 0)));
    assert_eq!(
        to_vec(&tree, &Short, &options(None, None)).unwrap_err().to_string(),
        "content of /EFI/BOOTX64.EFI ended after 3 bytes, expected 10"
    );
}

#[test]
fn volume_id_from_seed_depends_on_seed_epoch_and_tree() {
    let id = |fixture: &str, seed: &[u8], epoch: i64| {
        let tree = tree_from_fixture(fixture).unwrap();
        let options = FatOptions {
            volume_id: VolumeId::FromSeed(seed.to_vec()),
            epoch,
            ..options(None, None)
        };
        let bytes = to_vec(&tree, &NoBlobs, &options).unwrap();
        summary(&mut Cursor::new(bytes))
            .unwrap()
            .into_iter()
            .find(|(key, _)| key == "volume_id")
            .unwrap()
            .1
    };
    let base = id("//- /a\nx\n", b"esp", 0);
    assert_eq!(base, id("//- /a\nx\n", b"esp", 0));
    assert_ne!(base, id("//- /a\nx\n", b"iso", 0));
    assert_ne!(base, id("//- /a\nx\n", b"esp", 1));
    assert_ne!(base, id("//- /a\ny\n", b"esp", 0));
}

#[test]
fn required_size_is_enough_and_minimal() {
    let tree = tree_from_fixture(ESP).unwrap();
    for fat_type in [None, Some(FatType::Fat12), Some(FatType::Fat16), Some(FatType::Fat32)] {
        let opts = options(None, fat_type);
        let size = required_size(&tree, &opts).unwrap();
        for extra in [0, 512, 4096, 1 << 20] {
            let sized = FatOptions { size_bytes: Some(size + extra), ..opts.clone() };
            let bytes = to_vec(&tree, &NoBlobs, &sized).unwrap();
            assert_eq!(u64::try_from(bytes.len()).unwrap(), size + extra);
        }
        let smaller = FatOptions { size_bytes: Some(size - 512), ..opts.clone() };
        assert!(to_vec(&tree, &NoBlobs, &smaller).is_err(), "{fat_type:?} {size}");
    }
}

#[test]
fn every_size_above_the_required_one_fits() {
    // Sweeps across the 8192-sector boundary, where alignment to clusters starts.
    let tree = tree_from_fixture(ESP).unwrap();
    let opts = options(None, None);
    let required = required_size(&tree, &opts).unwrap() / 512;
    for sectors in (required..required + 16_384).step_by(7) {
        let sized = FatOptions { size_bytes: Some(sectors * 512), ..opts.clone() };
        assert!(extents(&tree, &sized).is_ok(), "{sectors} sectors");
    }
}

/// What FAT keeps of a tree it can store: directories 0o755 and files 0o644 (0o444 without
/// the owner-write bit), owner 0:0, no xattrs or origins, mtimes clamped to 1980..2107 and
/// rounded down to even seconds, hard links as copies of their file, the root 0o755 at 0.
fn fat_model(tree: &Tree) -> Tree {
    fn mtime(secs: i64) -> i64 {
        let clamped = secs.clamp(MIN_UNIX_SECS, MAX_UNIX_SECS);
        clamped - clamped % 2
    }
    fn convert(dir: &Dir, tree: &Tree) -> Dir {
        let mut out = Dir::new();
        for (name, node) in dir {
            let converted = match &node.kind {
                NodeKind::Dir(children) => Node::new(
                    NodeKind::Dir(convert(children, tree)),
                    Meta::new(0o755, mtime(node.meta.mtime)),
                ),
                NodeKind::File(_) | NodeKind::HardLink(_) => {
                    let file = match &node.kind {
                        NodeKind::HardLink(target) => tree.get(target).unwrap(),
                        _ => node,
                    };
                    let mode = if file.meta.mode & 0o200 == 0 { 0o444 } else { 0o644 };
                    Node::new(file.kind.clone(), Meta::new(mode, mtime(file.meta.mtime)))
                }
                _ => unreachable!("filtered out"),
            };
            out.insert(name.clone(), converted);
        }
        out
    }
    Tree { root_meta: Meta::new(0o755, 0), root: convert(&tree.root, tree) }
}

/// The part of `tree` FAT can store: directories, files and hard links with valid long names
/// that differ from earlier siblings' in more than case; hard links whose file remains.
fn representable(tree: &Tree) -> Tree {
    fn filter(dir: &Dir) -> Dir {
        let mut out = Dir::new();
        let mut seen = BTreeSet::new();
        for (name, node) in dir {
            let kind_ok =
                matches!(node.kind, NodeKind::Dir(_) | NodeKind::File(_) | NodeKind::HardLink(_));
            let name_ok = long_name_units(name).is_ok()
                && seen.insert(case_key(std::str::from_utf8(name).unwrap_or_default()));
            if !kind_ok || !name_ok {
                continue;
            }
            let mut node = node.clone();
            if let NodeKind::Dir(children) = &node.kind {
                node.kind = NodeKind::Dir(filter(children));
            }
            out.insert(name.clone(), node);
        }
        out
    }
    fn drop_links(dir: &mut Dir, kept: &Tree) {
        dir.retain(|_, node| match &node.kind {
            NodeKind::HardLink(target) => {
                matches!(kept.get(target).map(|n| &n.kind), Some(NodeKind::File(_)))
            }
            _ => true,
        });
        for node in dir.values_mut() {
            if let NodeKind::Dir(children) = &mut node.kind {
                drop_links(children, kept);
            }
        }
    }
    let mut out = Tree { root_meta: tree.root_meta.clone(), root: filter(&tree.root) };
    let kept = out.clone();
    drop_links(&mut out.root, &kept);
    out
}

/// Trees with names FAT accepts: long, short, lower and mixed case, non-ASCII, dots and
/// spaces inside; files from empty to a few clusters.
fn arb_fat_tree() -> impl Strategy<Value = Tree> {
    let name = prop_oneof![
        prop::sample::select(vec![
            "EFI",
            "BOOT",
            "BOOTX64.EFI",
            "linux.efi",
            "loader.conf",
            "a",
            "B",
            "Makefile",
            "long file name.txt",
            ".hidden",
            "a.b.c",
            "caf\u{e9}",
            "\u{65e5}\u{672c}\u{8a9e}",
            "x+y=z",
            "TOOLONGNAME.TXT",
            "\u{1f600}",
        ])
        .prop_map(str::to_owned),
        "[a-zA-Z0-9 ._+~-]{1,40}",
    ]
    .prop_filter("valid long name", |n| long_name_units(n.as_bytes()).is_ok());
    let path = prop::collection::vec(name, 1..4).prop_map(|parts| parts.join("/"));
    let data = prop::collection::vec(any::<u8>(), 0..3000);
    let mtime = prop::sample::select(vec![0i64, 315_532_801, 1_700_000_000, 1_700_000_001]);
    let node = (path, prop::option::of(data), mtime, prop::sample::select(vec![0o644u32, 0o444]));
    prop::collection::vec(node, 0..40).prop_map(|nodes| {
        let mut builder = crate::extract::TreeBuilder::new();
        for (path, data, mtime, mode) in nodes {
            let kind = match data {
                Some(data) => NodeKind::File(Content::Inline(Arc::from(data))),
                None => NodeKind::Dir(Dir::new()),
            };
            let _ = builder.insert(path.as_bytes(), Node::new(kind, Meta::new(mode, mtime)));
        }
        representable(&builder.finish())
    })
}

fn arb_options() -> impl Strategy<Value = FatOptions> {
    let fat_type = prop::sample::select(vec![None, Some(FatType::Fat12), Some(FatType::Fat16)]);
    let cluster = prop::sample::select(vec![None, Some(512u32), Some(4096)]);
    (fat_type, cluster).prop_map(|(fat_type, cluster_size_bytes)| FatOptions {
        cluster_size_bytes,
        ..options(None, fat_type)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn round_trip_of_arbitrary_trees(tree in arb_tree(), options in arb_options()) {
        // Symlinks, devices, fifos and names FAT refuses are left out first (the writer's
        // errors for them are tested above); see `fat_model` for what FAT keeps.
        let tree = representable(&tree);
        let bytes = to_vec(&tree, &NoBlobs, &options).unwrap();
        let back = read(&mut Cursor::new(&bytes)).unwrap();
        prop_assert_eq!(dump(&back), dump(&fat_model(&tree)));
        prop_assert_eq!(bytes, to_vec(&tree, &NoBlobs, &options).unwrap());
    }

    #[test]
    fn round_trip_of_fat_friendly_trees(tree in arb_fat_tree(), options in arb_options()) {
        let bytes = to_vec(&tree, &NoBlobs, &options).unwrap();
        let back = read(&mut Cursor::new(&bytes)).unwrap();
        prop_assert_eq!(dump(&back), dump(&fat_model(&tree)));
    }

    #[test]
    fn larger_sizes_hold_the_tree_too(
        tree in arb_fat_tree(),
        fat_type in prop::sample::select(vec![None, Some(FatType::Fat32)]),
        extra_sectors in prop::sample::select(vec![0u64, 1, 7, 64, 8192, 100_000, 1_048_576]),
    ) {
        let opts = options(None, fat_type);
        let size = required_size(&tree, &opts).unwrap();
        let sized = FatOptions { size_bytes: Some(size + 512 * extra_sectors), ..opts };
        let map = extents(&tree, &sized).unwrap();
        prop_assert_eq!(map.len_bytes(), size + 512 * extra_sectors);
    }

    #[test]
    fn damaged_images_do_not_panic(
        tree in arb_fat_tree(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        boot_flips in prop::collection::vec((0usize..512, any::<u8>()), 0..4),
        fat32 in any::<bool>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let fat_type = if fat32 { Some(FatType::Fat32) } else { None };
        let mut bytes = to_vec(&tree, &NoBlobs, &options(None, fat_type)).unwrap();
        for (at, value) in &boot_flips {
            bytes[*at] = *value;
        }
        // Damage the metadata (the first 64 KiB) more often than the data.
        let span = bytes.len().min(64 * 1024);
        for (idx, value) in &flips {
            let at = idx.index(span);
            bytes[at] = *value;
        }
        crate::__fuzz::fat_read(&bytes);
        crate::__fuzz::fat_read(&bytes[..cut.index(bytes.len())]);
    }
}

#[test]
fn fat32_round_trip_with_300_entries() {
    // 300 long names need 600 entries: 19200 bytes, 38 clusters of 512 bytes.
    let mut fixture = String::new();
    for idx in 0..300 {
        fixture.push_str(&format!("//- /many/file\\x20number\\x20{idx:03}.txt\n{idx}\n"));
    }
    let tree = tree_from_fixture(&fixture).unwrap();
    let opts = options(Some(40 << 20), Some(FatType::Fat32));
    let bytes = to_vec(&tree, &NoBlobs, &opts).unwrap();
    let back = read(&mut Cursor::new(&bytes)).unwrap();
    assert_eq!(dump(&back), dump(&fat_model(&tree)));
}

/// The offset of the short entry named `name` (11 bytes) in `image`.
fn find_entry(image: &[u8], name: &[u8; 11]) -> usize {
    image.windows(11).position(|w| w == name).unwrap()
}

#[test]
fn reader_applies_case_flags_and_code_page_850() {
    // mcopy stores "café.txt" as the short name "CAF\x90.TXT" (0x90 is É in code page 850)
    // with both lower-case flags (0x08 | 0x10) and no long name.
    let tree = tree_from_fixture("//- /CAFX.TXT\ncoffee\n//- /README.TXT\nr\n").unwrap();
    let mut image = to_vec(&tree, &NoBlobs, &options(None, None)).unwrap();
    let at = find_entry(&image, b"CAFX    TXT");
    image[at + 3] = 0x90;
    image[at + 12] = 0x18;
    let at = find_entry(&image, b"README  TXT");
    image[at + 12] = 0x08;
    let back = read(&mut Cursor::new(&image)).unwrap();
    let names: Vec<String> =
        back.root.keys().map(|name| String::from_utf8(name.clone()).unwrap()).collect();
    assert_eq!(names, ["caf\u{e9}.txt", "readme.TXT"]);
}

#[test]
fn reader_ignores_long_names_that_do_not_match() {
    // A long name whose checksum does not match its short entry is dropped, as Linux does:
    // the 8.3 name is used.
    let tree =
        tree_from_fixture("//- /long\\x20name.txt\nx\n//- /other\\x20long\\x20name\ny\n").unwrap();
    let mut image = to_vec(&tree, &NoBlobs, &options(None, None)).unwrap();
    let at = find_entry(&image, b"LONGNA~1TXT");
    // The long-name entry right before it: its checksum byte is at offset 13.
    image[at - 32 + 13] ^= 0xff;
    let back = read(&mut Cursor::new(&image)).unwrap();
    let names: Vec<String> =
        back.root.keys().map(|name| String::from_utf8(name.clone()).unwrap()).collect();
    assert_eq!(names, ["LONGNA~1.TXT", "other long name"]);
}

#[test]
fn reader_errors_name_the_place() {
    let tree = tree_from_fixture("//- /EFI/BOOT/BOOTX64.EFI\nMZ\n//- /b\nbb\n").unwrap();
    let image = to_vec(&tree, &NoBlobs, &options(None, Some(FatType::Fat16))).unwrap();
    let err = |image: &[u8]| read(&mut Cursor::new(image)).unwrap_err().to_string();
    assert_eq!(
        err(&image[..100]),
        "FAT volume is 100 bytes long, the boot sector at byte 0 (512 bytes) is past its end"
    );
    // Point /b at the cluster of /EFI/BOOT/BOOTX64.EFI.
    let mut shared = image.clone();
    let efi_file = find_entry(&image, b"BOOTX64 EFI");
    let b = find_entry(&image, b"B          ");
    shared[b + 26..b + 28].copy_from_slice(&image[efi_file + 26..efi_file + 28]);
    assert_eq!(
        err(&shared),
        "cluster chain of /b reaches cluster 4, which an earlier entry already uses"
    );
    let mut big = image.clone();
    big[b + 28..b + 32].copy_from_slice(&1_000_000u32.to_le_bytes());
    assert_eq!(err(&big), "file /b is 1000000 bytes but its cluster chain holds only 512");
    let mut bad = image;
    bad[12] = 3;
    assert_eq!(
        err(&bad),
        "FAT boot sector: BPB_BytsPerSec is 768, expected 512, 1024, 2048 or 4096"
    );
}

#[test]
fn same_tree_same_bytes() {
    // A regression pin: the bytes change only when the layout changes on purpose (then update
    // the digest after checking the image with fat_tools.rs).
    use sha2::{Digest, Sha256};
    let tree = tree_from_fixture(ESP).unwrap();
    let opts = FatOptions { volume_id: VolumeId::FromSeed(b"esp".to_vec()), ..options(None, None) };
    let bytes = to_vec(&tree, &NoBlobs, &opts).unwrap();
    assert_eq!(bytes, to_vec(&tree.clone(), &NoBlobs, &opts.clone()).unwrap());
    let digest: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    expect!["2841f499ff64b76a71d5eb9c5c44782a331ddbd6310bc8cd91cd758ad5bd8eaf"].assert_eq(&digest);
}

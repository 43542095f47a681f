//! Unit tests of the qcow2 writer and reader: on-disk structures, the planned layout, round trips and damaged images.

use std::io::Cursor;
use std::sync::Arc;

use expect_test::expect;

use super::*;
use crate::tree::{Content, NoBlobs};

const MIB: u64 = 1 << 20;

fn sample() -> ExtentMap {
    let mut disk = ExtentMap::new();
    disk.push_literal(&b"boot sector"[..]);
    disk.push_zeros(MIB - 11);
    let data: Vec<u8> = (0..200_000u32).map(|i| u8::try_from(i % 251).unwrap()).collect();
    disk.push_content(b"part", Content::Inline(Arc::from(&data[..])));
    disk.push_zeros(12 * MIB);
    disk.push_literal(&b"end"[..]);
    disk.push_zeros(1000);
    disk
}

#[test]
fn plan_of_a_sparse_disk() {
    let layout = plan(&sample()).unwrap();
    expect![[r#"
        Layout {
            size_bytes: 13832704,
            l1_size: 1,
            refcount_table_cluster: 1,
            refcount_table_clusters: 1,
            refcount_blocks: 1,
            l1_cluster: 3,
            l1_clusters: 1,
            l2_tables: [
                0,
            ],
            l2_cluster: 4,
            data_runs: [
                (
                    0,
                    1,
                ),
                (
                    16,
                    20,
                ),
                (
                    211,
                    212,
                ),
            ],
            data_cluster: 5,
            clusters: 11,
        }
    "#]]
    .assert_debug_eq(&layout);
}

#[test]
fn round_trip_and_determinism() {
    let disk = sample();
    let image = to_vec(&disk, &NoBlobs, &Qcow2Options::default()).unwrap();
    assert_eq!(image, to_vec(&disk, &NoBlobs, &Qcow2Options::default()).unwrap());
    assert_eq!(u64::try_from(image.len()).unwrap(), plan(&disk).unwrap().file_bytes());
    let mut back = Vec::new();
    let size = read_to(&mut Cursor::new(&image), &mut back).unwrap();
    assert_eq!(size, disk.len_bytes().next_multiple_of(512));
    let mut expected = disk.to_vec(&NoBlobs).unwrap();
    expected.resize(expected.len().next_multiple_of(512), 0);
    assert_eq!(back, expected);
}

#[test]
fn empty_and_all_zero_disks() {
    for disk in [ExtentMap::new(), {
        let mut d = ExtentMap::new();
        d.push_zeros(1 << 30);
        d
    }] {
        let image = to_vec(&disk, &NoBlobs, &Qcow2Options::default()).unwrap();
        assert!(image.len() <= 4 * 65536, "{}", image.len());
        let mut back = Vec::new();
        read_to(&mut Cursor::new(&image), &mut back).unwrap();
        assert_eq!(u64::try_from(back.len()).unwrap(), disk.len_bytes());
        assert!(back.iter().all(|b| *b == 0));
    }
}

#[test]
fn summary_lines() {
    let image = to_vec(&sample(), &NoBlobs, &Qcow2Options::default()).unwrap();
    let lines = summary(&mut Cursor::new(&image)).unwrap();
    let text: Vec<String> = lines.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    expect![[r#"
        format: qcow2
        version: 3
        virtual size: 13832704 bytes
        cluster size: 65536 bytes
        L1 entries: 1
        L1 table offset: 0x30000
        refcount table offset: 0x10000
        refcount bits: 16
        snapshots: 0
        features: incompatible 0x0, compatible 0x0, autoclear 0x0"#]]
    .assert_eq(&text.join("\n"));
}

#[test]
fn garbage_is_refused() {
    let err = read_to(&mut Cursor::new(b"not a disk"), &mut Vec::new()).unwrap_err();
    assert_eq!(err.to_string(), "not a qcow2 image (no QFI\\xfb header)");
}

#[test]
fn content_errors_name_the_path() {
    let mut disk = ExtentMap::new();
    disk.push_zeros(MIB);
    let blob = crate::tree::BlobRange { object: Arc::from("sha256:00"), offset: 0, len: 4 };
    disk.push_content(b"root.img", Content::Blob(blob));
    let err = to_vec(&disk, &NoBlobs, &Qcow2Options::default()).unwrap_err().to_string();
    assert!(err.starts_with("reading the content of /root.img"), "{err}");
}

#[test]
fn a_run_across_two_l2_tables() {
    // 8192 clusters per L2 table: data from just before 512 MiB to just after it.
    let mut disk = ExtentMap::new();
    disk.push_zeros(512 * MIB - 3 * 65536);
    disk.push_literal(vec![0x5au8; 5 * 65536]);
    disk.push_zeros(MIB);
    let layout = plan(&disk).unwrap();
    assert_eq!(layout.l2_tables, [0, 1]);
    assert_eq!(layout.data_runs, [(8189, 8194)]);
    let image = to_vec(&disk, &NoBlobs, &Qcow2Options::default()).unwrap();
    let mut back = Vec::new();
    read_to(&mut Cursor::new(&image), &mut back).unwrap();
    assert_eq!(u64::try_from(back.len()).unwrap(), disk.len_bytes());
    let start = usize::try_from(512 * MIB - 3 * 65536).unwrap();
    assert!(back[..start].iter().all(|b| *b == 0));
    assert!(back[start..start + 5 * 65536].iter().all(|b| *b == 0x5a));
    assert!(back[start + 5 * 65536..].iter().all(|b| *b == 0));
}

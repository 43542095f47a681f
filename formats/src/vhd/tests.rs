//! Tests of the VHD plan, writer and reader: layouts of fixture disks, the reader on kit's
//! images and on damaged ones, summaries, a proptest round trip and determinism.

use std::io::Cursor;

use expect_test::{Expect, expect};
use proptest::prelude::*;

use crate::extent::ExtentMap;
use crate::testutil_disk::disk;
use crate::tree::NoBlobs;
use crate::vhd::footer::Footer;
use crate::vhd::{CREATOR_KIT, Subformat, VhdOptions, plan, read_to, summary, to_vec};

fn options(subformat: Subformat) -> VhdOptions {
    VhdOptions {
        subformat,
        epoch: 1_700_000_000,
        seed: b"seed".to_vec(),
        creator_application: CREATOR_KIT,
        round_to_mib: false,
    }
}

fn check(spec: &str, options: &VhdOptions, expect: Expect) {
    let layout = plan(&disk(spec), options).unwrap();
    let f = &layout.footer;
    let mut text = format!(
        "size {} geometry {}/{}/{} type {} file {}\n",
        f.current_size_bytes,
        f.cylinders,
        f.heads,
        f.sectors_per_track,
        f.disk_type,
        layout.file_bytes
    );
    if let Some(dynamic) = &layout.dynamic {
        text += &format!(
            "BAT at {} ({} bytes, {} entries)\n",
            dynamic.header.table_offset, dynamic.bat_bytes, dynamic.header.max_table_entries
        );
        for (index, entry) in dynamic.bat.iter().enumerate() {
            if *entry == u32::MAX {
                text += &format!("block {index}: not allocated\n");
            } else {
                text += &format!("block {index}: bitmap at sector {entry}\n");
            }
        }
    }
    expect.assert_eq(&text);
}

fn raw(map: &ExtentMap, align: u64) -> Vec<u8> {
    let mut bytes = map.to_vec(&NoBlobs).unwrap();
    let len = u64::try_from(bytes.len()).unwrap().div_ceil(align) * align;
    bytes.resize(usize::try_from(len).unwrap(), 0);
    bytes
}

#[test]
fn fixed_layout() {
    // 5246880 bytes round up to 10248 sectors: 17 sectors per track, 602 cylinders × heads,
    // 4 heads, 150 cylinders.
    check(
        "L1000 Z5M C3000",
        &options(Subformat::Fixed),
        expect![[r#"
            size 5246976 geometry 150/4/17 type 2 file 5247488
        "#]],
    );
}

#[test]
fn dynamic_layout_skips_zero_blocks() {
    // Block 1 (2..4 MiB) is all zeros; blocks 0 and 2 hold data. The BAT (12 bytes) fills a
    // sector at 1536; block 0's bitmap is at byte 2048 (sector 4), block 2's 512 + 2 MiB later.
    check(
        "L1000 Z5M C3000",
        &options(Subformat::Dynamic),
        expect![[r#"
            size 5246976 geometry 150/4/17 type 3 file 4197888
            BAT at 1536 (512 bytes, 3 entries)
            block 0: bitmap at sector 4
            block 1: not allocated
            block 2: bitmap at sector 4101
        "#]],
    );
}

#[test]
fn round_to_mib_pads_the_disk() {
    let mut rounded = options(Subformat::Fixed);
    rounded.round_to_mib = true;
    // 10 MiB + 1 byte becomes 11 MiB = 22528 sectors: 17 sectors per track, 1325 cylinders ×
    // heads, 4 heads, 331 cylinders.
    check(
        "L1 Z10M",
        &rounded,
        expect![[r#"
            size 11534336 geometry 331/4/17 type 2 file 11534848
        "#]],
    );
}

#[test]
fn too_large_names_the_limit() {
    let err = plan(&disk("Z2041G"), &options(Subformat::Dynamic)).unwrap_err().to_string();
    assert_eq!(err, "disk of 2191507062784 bytes is larger than VHD allows (2190433320960 bytes)");
}

#[test]
fn fixed_image_is_the_disk_then_the_footer() {
    let map = disk("L1000 Z2M C700");
    let bytes = to_vec(&map, &NoBlobs, &options(Subformat::Fixed)).unwrap();
    let disk_bytes = raw(&map, 512);
    assert_eq!(&bytes[..disk_bytes.len()], &disk_bytes[..]);
    assert_eq!(bytes.len(), disk_bytes.len() + 512);
    assert_eq!(&bytes[disk_bytes.len()..disk_bytes.len() + 8], b"conectix");
}

#[test]
fn dynamic_image_starts_and_ends_with_the_footer() {
    let bytes = to_vec(&disk("L1000 Z5M C3000"), &NoBlobs, &options(Subformat::Dynamic)).unwrap();
    assert_eq!(bytes[..512], bytes[bytes.len() - 512..]);
    assert_eq!(&bytes[512..520], b"cxsparse");
    // The bitmap of block 0, all ones, then its data.
    assert!(bytes[2048..2560].iter().all(|b| *b == 0xff));
    assert_eq!(bytes[2560..2570], crate::testutil_disk::pattern(10, 0)[..]);
}

#[test]
fn summary_describes_the_image() {
    let bytes = to_vec(&disk("L1000 Z5M C3000"), &NoBlobs, &options(Subformat::Dynamic)).unwrap();
    let lines: String = summary(&mut Cursor::new(&bytes))
        .unwrap()
        .iter()
        .map(|(k, v)| format!("{k}: {v}\n"))
        .collect();
    // Time stamp: 1700000000 - 946684800 = 753315200.
    expect![[r#"
        format: VHD
        disk type: dynamic
        virtual size: 5246976 bytes
        original size: 5246976 bytes
        geometry: 150/4/17 (C/H/S)
        creator: "kit " version 0x00010000
        time stamp: 753315200 (unix 1700000000)
        unique id: 8b76e539d835d545945b99198b348b95
        checksum: 0xffffee64 (valid)
        block size: 2097152 bytes
        BAT entries: 3 at byte 1536
        allocated blocks: 2 of 3
    "#]]
    .assert_eq(&lines);
}

#[test]
fn timestamps_clamp() {
    let mut early = options(Subformat::Fixed);
    early.epoch = 0;
    assert_eq!(plan(&disk("L1"), &early).unwrap().footer.time_stamp, 0);
    early.epoch = i64::MAX;
    assert_eq!(plan(&disk("L1"), &early).unwrap().footer.time_stamp, u32::MAX);
}

fn read_err(bytes: &[u8]) -> String {
    read_to(&mut Cursor::new(bytes), &mut Vec::new()).unwrap_err().to_string()
}

#[test]
fn damaged_images_are_refused() {
    assert_eq!(
        read_err(&[0; 100]),
        "not a readable VHD: image is 100 bytes, shorter than a footer (512)"
    );
    let good = to_vec(&disk("L1000 Z5M C3000"), &NoBlobs, &options(Subformat::Dynamic)).unwrap();
    let end = good.len();

    let mut bad = good.clone();
    bad[end - 512] = b'X';
    assert_eq!(
        read_err(&bad),
        r#"not a readable VHD: footer cookie is "Xonectix", expected "conectix""#
    );

    let mut bad = good.clone();
    bad[end - 400] ^= 1;
    assert!(
        read_err(&bad).starts_with("not a readable VHD: footer checksum is"),
        "{}",
        read_err(&bad)
    );

    // A BAT entry past the end of the file.
    let mut bad = good.clone();
    bad[1536 + 8..1536 + 12].copy_from_slice(&0x00ff_0000u32.to_be_bytes());
    assert_eq!(
        read_err(&bad),
        "not a readable VHD: block 2 at byte 8556380160 is past the end (4197888)"
    );

    // A differencing disk.
    let mut footer = [0u8; Footer::SIZE];
    footer.copy_from_slice(&good[end - 512..]);
    let mut decoded = Footer::decode(&footer);
    decoded.disk_type = super::footer::DISK_TYPE_DIFFERENCING;
    decoded.with_checksum().encode(&mut footer);
    let mut bad = good.clone();
    bad[end - 512..].copy_from_slice(&footer);
    assert_eq!(read_err(&bad), "not a readable VHD: differencing disks are not supported");

    // Truncated: the header is gone.
    let mut bad = good[..600].to_vec();
    bad.extend_from_slice(&good[end - 512..]);
    assert!(read_err(&bad).contains("dynamic disk header"), "{}", read_err(&bad));
}

#[test]
fn cleared_bitmap_bits_read_as_zeros() {
    let mut bytes = to_vec(&disk("L4096"), &NoBlobs, &options(Subformat::Dynamic)).unwrap();
    // Sector 1 of block 0 not present.
    bytes[2048] = 0b1011_1111;
    let mut back = Vec::new();
    read_to(&mut Cursor::new(&bytes), &mut back).unwrap();
    let mut expected = crate::testutil_disk::pattern(4096, 0);
    expected[512..1024].fill(0);
    assert_eq!(back, expected);
}

#[test]
fn same_input_same_bytes() {
    for subformat in [Subformat::Fixed, Subformat::Dynamic] {
        let map = disk("C5000 Z3M L10 Z1M");
        assert_eq!(
            to_vec(&map, &NoBlobs, &options(subformat)).unwrap(),
            to_vec(&map, &NoBlobs, &options(subformat)).unwrap()
        );
    }
}

#[test]
fn fuzz_entry_survives_cut_and_damaged_images() {
    let bytes = to_vec(&disk("L1000 Z3M C3000"), &NoBlobs, &options(Subformat::Dynamic)).unwrap();
    for cut in [0, 511, 512, 1536, 2048, 3000, bytes.len() - 1] {
        crate::__fuzz::vhd_read(&bytes[..cut]);
    }
    crate::__fuzz::vhd_read(&bytes);
}

fn arb_disk() -> impl Strategy<Value = ExtentMap> {
    prop::collection::vec((any::<bool>(), 1u64..3 << 20, any::<u8>()), 0..6).prop_map(|parts| {
        let mut map = ExtentMap::new();
        for (zeros, len, salt) in parts {
            if zeros {
                map.push_zeros(len);
            } else {
                let len = usize::try_from(len % 70_000 + 1).unwrap();
                map.push_literal(crate::testutil_disk::pattern(len, salt));
            }
        }
        map
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn round_trip(map in arb_disk(), dynamic in any::<bool>(), round_to_mib in any::<bool>()) {
        let mut options = options(if dynamic { Subformat::Dynamic } else { Subformat::Fixed });
        options.round_to_mib = round_to_mib;
        let bytes = to_vec(&map, &NoBlobs, &options).unwrap();
        let mut back = Vec::new();
        let n = read_to(&mut Cursor::new(&bytes), &mut back).unwrap();
        prop_assert_eq!(n, u64::try_from(back.len()).unwrap());
        let expected = raw(&map, if round_to_mib { 1 << 20 } else { 512 });
        prop_assert!(back == expected);
    }
}

#[test]
fn content_errors_name_the_path() {
    let mut map = ExtentMap::new();
    map.push_zeros(4 << 20);
    let blob =
        crate::tree::BlobRange { object: std::sync::Arc::from("sha256:00"), offset: 0, len: 4 };
    map.push_content(b"ESP", crate::tree::Content::Blob(blob));
    for subformat in [Subformat::Fixed, Subformat::Dynamic] {
        let err = to_vec(&map, &NoBlobs, &options(subformat)).unwrap_err().to_string();
        assert!(err.starts_with("reading the content of /ESP:"), "{err}");
    }
    let vhdx_options = crate::vhdx::VhdxOptions {
        block_size: crate::vhdx::BlockSize::Mib1,
        logical_sector_size: crate::gpt::SectorSize::Bytes512,
        physical_sector_size: crate::gpt::SectorSize::Bytes512,
        leave_block_allocated: false,
        seed: Vec::new(),
    };
    let err = crate::vhdx::to_vec(&map, &NoBlobs, &vhdx_options).unwrap_err().to_string();
    assert!(err.starts_with("reading the content of /ESP:"), "{err}");
}

//! Tests of the VHDX plan, writer and reader: BAT layouts (chunk ratio interleaving) of
//! fixture disks, the reader on kit's images and on damaged ones, summaries, a proptest round
//! trip and determinism.

use std::io::Cursor;

use expect_test::{Expect, expect};
use proptest::prelude::*;

use crate::extent::ExtentMap;
use crate::gpt::{Guid, SectorSize};
use crate::testutil_disk::{disk, pattern};
use crate::tree::NoBlobs;
use crate::vhdx::header::Header;
use crate::vhdx::{BlockSize, VhdxOptions, plan, read_to, summary, to_vec};

fn options(block_size: BlockSize, logical: SectorSize) -> VhdxOptions {
    VhdxOptions {
        block_size,
        logical_sector_size: logical,
        physical_sector_size: SectorSize::Bytes4096,
        leave_block_allocated: false,
        seed: b"seed".to_vec(),
    }
}

fn check(spec: &str, options: &VhdxOptions, expect: Expect) {
    let layout = plan(&disk(spec), options).unwrap();
    let mut text = format!(
        "size {} block {} chunk ratio {} BAT {} entries, {} bytes; file {}\n",
        layout.virtual_size_bytes,
        layout.block_bytes,
        layout.chunk_ratio,
        layout.bat.len(),
        layout.bat_length_bytes,
        layout.file_bytes
    );
    for (index, entry) in layout.bat.iter().enumerate() {
        if *entry != 0 {
            text += &format!("entry {index}: state {} at {} MiB\n", entry & 7, entry >> 20);
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
fn layout_with_32_mib_blocks() {
    // 70 MiB + 4000 bytes: 3 blocks of 32 MiB, chunk ratio 2^23 × 512 / 32 MiB = 128, so 3 BAT
    // entries; the content at 40 MiB is in block 1, block 2 (64..96 MiB) holds only zeros. Blocks from 4 MiB (after header, log,
    // metadata and a 1 MiB BAT).
    check(
        "L1000 Z40M C3000 Z30M",
        &options(BlockSize::Mib32, SectorSize::Bytes512),
        expect![[r#"
            size 73404416 block 33554432 chunk ratio 128 BAT 3 entries, 1048576 bytes; file 71303168
            entry 0: state 6 at 4 MiB
            entry 1: state 6 at 36 MiB
        "#]],
    );
}

#[test]
fn sector_bitmap_entries_interleave() {
    // 1 MiB blocks of 512-byte sectors: chunk ratio 4096. 4097 MiB + 2000 bytes (4296017920 rounded up to a
    // sector) is 4098 blocks;
    // BAT entry 4096 is the first chunk's sector bitmap entry, so block 4097 is entry 4098,
    // and there are 4098 + 4097 / 4096 = 4099 entries (32792 bytes, one MiB).
    check(
        "L1000 Z4097M L1000",
        &options(BlockSize::Mib1, SectorSize::Bytes512),
        expect![[r#"
            size 4296017920 block 1048576 chunk ratio 4096 BAT 4099 entries, 1048576 bytes; file 6291456
            entry 0: state 6 at 4 MiB
            entry 4098: state 6 at 5 MiB
        "#]],
    );
    // 4096-byte logical sectors, 32 MiB blocks: chunk ratio 2^23 × 4096 / 32 MiB = 1024. The
    // size rounds up to 4096.
    check(
        "L1 Z100M",
        &options(BlockSize::Mib32, SectorSize::Bytes4096),
        expect![[r#"
            size 104861696 block 33554432 chunk ratio 1024 BAT 4 entries, 1048576 bytes; file 37748736
            entry 0: state 6 at 4 MiB
        "#]],
    );
}

#[test]
fn too_large_names_the_limit() {
    let err = plan(&disk("Z65537G"), &options(BlockSize::Mib32, SectorSize::Bytes512)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "disk of 70369817919488 bytes is larger than VHDX allows (70368744177664 bytes)"
    );
}

#[test]
fn structures_are_where_the_spec_puts_them() {
    let bytes = to_vec(
        &disk("L1000 Z40M C3000"),
        &NoBlobs,
        &options(BlockSize::Mib32, SectorSize::Bytes512),
    )
    .unwrap();
    assert_eq!(&bytes[..8], b"vhdxfile");
    assert_eq!(&bytes[64 << 10..(64 << 10) + 4], b"head");
    assert_eq!(&bytes[128 << 10..(128 << 10) + 4], b"head");
    assert_eq!(&bytes[192 << 10..(192 << 10) + 4], b"regi");
    assert_eq!(bytes[192 << 10..256 << 10], bytes[256 << 10..320 << 10]);
    assert_eq!(&bytes[2 << 20..(2 << 20) + 8], b"metadata");
    // The log is empty: all zeros.
    assert!(bytes[1 << 20..2 << 20].iter().all(|b| *b == 0));
    // Block 0's data at 4 MiB.
    assert_eq!(bytes[4 << 20..(4 << 20) + 1000], pattern(1000, 0)[..]);
}

#[test]
fn summary_describes_the_image() {
    let bytes = to_vec(
        &disk("L1000 Z40M C3000"),
        &NoBlobs,
        &options(BlockSize::Mib32, SectorSize::Bytes512),
    )
    .unwrap();
    let lines: String = summary(&mut Cursor::new(&bytes))
        .unwrap()
        .iter()
        .map(|(k, v)| format!("{k}: {v}\n"))
        .collect();
    expect![[r#"
        format: VHDX version 1
        creator: kit
        virtual size: 41947136 bytes
        block size: 33554432 bytes
        sector size: 512 logical, 4096 physical
        leave blocks allocated: false
        page 83 data: 3C6FAFC6-3D8C-49FE-93C2-4B5F938C53F2
        header sequence number: 2
        file write guid: F4801D3C-35FE-4DE8-8B99-FA7BC6683C20
        data write guid: D3561AF0-2A3C-4125-951A-B4219850F554
        log: 1048576 bytes at byte 1048576, empty
        BAT: 1048576 bytes at byte 3145728, chunk ratio 128
        present blocks: 2 of 2
    "#]]
    .assert_eq(&lines);
}

fn read_err(bytes: &[u8]) -> String {
    read_to(&mut Cursor::new(bytes), &mut Vec::new()).unwrap_err().to_string()
}

fn patch_header(bytes: &mut [u8], at: usize, change: impl Fn(&mut Header)) {
    let mut raw = [0u8; Header::SIZE];
    raw.copy_from_slice(&bytes[at..at + Header::SIZE]);
    let mut header = Header::decode(&raw);
    change(&mut header);
    header.with_checksum().encode(&mut raw);
    bytes[at..at + Header::SIZE].copy_from_slice(&raw);
}

#[test]
fn damaged_images_are_refused() {
    assert_eq!(
        read_err(&[0; 100]),
        "not a readable VHDX: image is 100 bytes, shorter than the header section"
    );
    let good = to_vec(
        &disk("L1000 Z40M C3000"),
        &NoBlobs,
        &options(BlockSize::Mib32, SectorSize::Bytes512),
    )
    .unwrap();

    let mut bad = good.clone();
    bad[0] = b'X';
    assert_eq!(
        read_err(&bad),
        r#"not a readable VHDX: file type identifier signature is not "vhdxfile""#
    );

    // One damaged header: the other is used. Both: refused.
    let mut bad = good.clone();
    bad[(128 << 10) + 100] ^= 1;
    let mut back = Vec::new();
    read_to(&mut Cursor::new(&bad), &mut back).unwrap();
    assert_eq!(back, raw(&disk("L1000 Z40M C3000"), 512));
    bad[(64 << 10) + 100] ^= 1;
    assert_eq!(
        read_err(&bad),
        "not a readable VHDX: neither header is valid (signature, CRC-32C, version 1)"
    );

    // A log to replay.
    let mut bad = good.clone();
    patch_header(&mut bad, 128 << 10, |h| h.log_guid = Guid::derive(b"x", "log"));
    assert!(read_err(&bad).contains("the log is not empty"), "{}", read_err(&bad));

    // The first region table damaged: the second is used.
    let mut bad = good.clone();
    bad[(192 << 10) + 20] ^= 1;
    read_to(&mut Cursor::new(&bad), &mut Vec::new()).unwrap();
    bad[(256 << 10) + 20] ^= 1;
    assert_eq!(
        read_err(&bad),
        "not a readable VHDX: neither region table is valid (signature, CRC-32C)"
    );

    // A BAT entry past the end.
    let mut bad = good.clone();
    bad[(3 << 20) + 8..(3 << 20) + 16].copy_from_slice(&((1000u64 << 20) | 6).to_le_bytes());
    assert_eq!(
        read_err(&bad),
        "not a readable VHDX: block 1 at byte 1048576000 is past the end (71303168)"
    );

    // A partially present block.
    let mut bad = good.clone();
    bad[3 << 20] = 7;
    assert_eq!(
        read_err(&bad),
        "not a readable VHDX: block 0 is partially present (differencing disks are not supported)"
    );
}

#[test]
fn same_input_same_bytes() {
    let map = disk("C5000 Z3M L10 Z1M");
    let options = options(BlockSize::Mib1, SectorSize::Bytes512);
    assert_eq!(
        to_vec(&map, &NoBlobs, &options).unwrap(),
        to_vec(&map, &NoBlobs, &options).unwrap()
    );
}

#[test]
fn fuzz_entry_survives_cut_images() {
    let bytes =
        to_vec(&disk("L1000 Z3M C3000"), &NoBlobs, &options(BlockSize::Mib1, SectorSize::Bytes512))
            .unwrap();
    for cut in [0, 520, 64 << 10, 200 << 10, 1 << 20, (2 << 20) + 100, 3 << 20, bytes.len() - 1] {
        crate::__fuzz::vhdx_read(&bytes[..cut]);
    }
    crate::__fuzz::vhdx_read(&bytes);
}

fn arb_disk() -> impl Strategy<Value = ExtentMap> {
    prop::collection::vec((any::<bool>(), 1u64..3 << 20, any::<u8>()), 0..6).prop_map(|parts| {
        let mut map = ExtentMap::new();
        for (zeros, len, salt) in parts {
            if zeros {
                map.push_zeros(len);
            } else {
                map.push_literal(pattern(usize::try_from(len % 70_000 + 1).unwrap(), salt));
            }
        }
        map
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn round_trip(map in arb_disk(), big_blocks in any::<bool>(), four_k in any::<bool>()) {
        let logical = if four_k { SectorSize::Bytes4096 } else { SectorSize::Bytes512 };
        let options = options(if big_blocks { BlockSize::Mib32 } else { BlockSize::Mib1 }, logical);
        let bytes = to_vec(&map, &NoBlobs, &options).unwrap();
        let mut back = Vec::new();
        read_to(&mut Cursor::new(&bytes), &mut back).unwrap();
        prop_assert!(back == raw(&map, logical.bytes()));
    }
}

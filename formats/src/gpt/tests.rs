//! Unit tests of the GPT planner, writer and reader.

use std::io::Cursor;
use std::sync::Arc;

use expect_test::{Expect, expect};
use proptest::prelude::*;

use super::*;
use crate::extent::{Extent, ExtentMap};
use crate::gpt::entry::ATTR_LEGACY_BIOS_BOOTABLE;
use crate::gpt::header::GptHeader;
use crate::tree::{Content, NoBlobs};

const MIB: u64 = 1 << 20;

fn options(disk_size: DiskSize) -> GptOptions {
    GptOptions {
        sector_size: SectorSize::Bytes512,
        disk_size,
        disk_guid: Guid::derive(b"test", "disk"),
        mbr: MbrOptions::protective(),
    }
}

fn spec(name: &str, type_guid: Guid, size: PartitionSize) -> PartitionSpec {
    PartitionSpec {
        name: name.to_owned(),
        type_guid,
        partition_guid: Guid::derive(b"test", name),
        size,
        attributes: 0,
    }
}

fn esp_and_root() -> Vec<PartitionSpec> {
    vec![
        spec("ESP", Guid::EFI_SYSTEM, PartitionSize::Bytes(32 * MIB)),
        PartitionSpec {
            attributes: ATTR_LEGACY_BIOS_BOOTABLE,
            ..spec("root", Guid::LINUX_ROOT_X86_64, PartitionSize::Bytes(100 * MIB + 1))
        },
    ]
}

/// Plans the disk and shows every LBA, the MBR's records, or the error.
fn check(options: &GptOptions, partitions: &[PartitionSpec], expect: Expect) {
    let out = match plan(options, partitions) {
        Ok(layout) => show_layout(&layout),
        Err(err) => format!("error: {err}\n"),
    };
    expect.assert_eq(&out);
}

fn show_layout(layout: &Layout) -> String {
    let mut out = format!(
        "disk {} bytes = {} LBAs of {}\nusable {}..={} entries @{} backup entries @{} header @{}\n",
        layout.disk_bytes,
        layout.total_lbas(),
        layout.sector_bytes,
        layout.first_usable_lba,
        layout.last_usable_lba,
        layout.primary_entries_lba,
        layout.backup_entries_lba,
        layout.backup_header_lba
    );
    for p in &layout.partitions {
        out.push_str(&format!(
            "{} {:?} {}..={} ({} bytes) attrs={:#x}\n",
            p.number,
            p.name,
            p.entry.starting_lba,
            p.entry.ending_lba,
            p.size_bytes(layout),
            p.entry.attributes
        ));
    }
    for (idx, r) in layout.mbr.partition_records.iter().enumerate() {
        if r.os_type != 0 {
            out.push_str(&format!(
                "mbr {} boot={:#x} type={:#x} chs={:02x?}..{:02x?} lba={} size={}\n",
                idx + 1,
                r.boot_indicator,
                r.os_type,
                r.starting_chs,
                r.ending_chs,
                r.starting_lba,
                r.size_in_lba
            ));
        }
    }
    out
}

#[test]
fn minimum_disk() {
    // 1 MiB + 32 MiB + 101 MiB = 134 MiB of partitions, plus 33 sectors of backup: 135 MiB.
    check(
        &options(DiskSize::Minimum),
        &esp_and_root(),
        expect![[r#"
            disk 141557760 bytes = 276480 LBAs of 512
            usable 34..=276446 entries @2 backup entries @276447 header @276479
            1 "ESP" 2048..=67583 (33554432 bytes) attrs=0x0
            2 "root" 67584..=274431 (105906176 bytes) attrs=0x4
            mbr 1 boot=0x0 type=0xee chs=[00, 02, 00]..[35, 24, 11] lba=1 size=276479
        "#]],
    );
    // Without partitions: the 1 MiB where the first would start, plus the backup table.
    check(
        &options(DiskSize::Minimum),
        &[],
        expect![[r#"
            disk 2097152 bytes = 4096 LBAs of 512
            usable 34..=4062 entries @2 backup entries @4063 header @4095
            mbr 1 boot=0x0 type=0xee chs=[00, 02, 00]..[41, 01, 00] lba=1 size=4095
        "#]],
    );
}

#[test]
fn given_disk_and_fill() {
    // 64 MiB: last usable LBA 131038; the root fills 1 MiB + 32 MiB .. 63 MiB (30 MiB).
    check(
        &options(DiskSize::Bytes(64 * MIB)),
        &[
            spec("ESP", Guid::EFI_SYSTEM, PartitionSize::Bytes(32 * MIB)),
            spec("root", Guid::LINUX_FILESYSTEM, PartitionSize::Fill),
        ],
        expect![[r#"
            disk 67108864 bytes = 131072 LBAs of 512
            usable 34..=131038 entries @2 backup entries @131039 header @131071
            1 "ESP" 2048..=67583 (33554432 bytes) attrs=0x0
            2 "root" 67584..=129023 (31457280 bytes) attrs=0x0
            mbr 1 boot=0x0 type=0xee chs=[00, 02, 00]..[28, 20, 08] lba=1 size=131071
        "#]],
    );
}

#[test]
fn four_k_sectors() {
    // 128 entries take 4 blocks of 4096; 1 MiB is 256 blocks.
    check(
        &GptOptions { sector_size: SectorSize::Bytes4096, ..options(DiskSize::Minimum) },
        &esp_and_root(),
        expect![[r#"
            disk 141557760 bytes = 34560 LBAs of 4096
            usable 6..=34554 entries @2 backup entries @34555 header @34559
            1 "ESP" 256..=8447 (33554432 bytes) attrs=0x0
            2 "root" 8448..=34303 (105906176 bytes) attrs=0x4
            mbr 1 boot=0x0 type=0xee chs=[00, 02, 00]..[26, 24, 02] lba=1 size=34559
        "#]],
    );
}

#[test]
fn protective_record_is_capped() {
    // 3 TiB of 512-byte blocks: more than 2^32 - 1 blocks.
    let layout = plan(&options(DiskSize::Bytes(3 << 40)), &[]).unwrap();
    let record = layout.mbr.partition_records[0];
    assert_eq!((record.starting_lba, record.size_in_lba), (1, 0xFFFF_FFFF));
    assert_eq!(record.ending_chs, [0xFF, 0xFF, 0xFF]);
}

#[test]
fn hybrid_mbr() {
    let mut options = options(DiskSize::Minimum);
    options.mbr = MbrOptions {
        boot_code: Arc::from(&[0xEB, 0x63][..]),
        disk_signature: 0xCAFE_F00D,
        extra_records: vec![
            MbrRecordSpec { bootable: true, os_type: 0x00, first_lba: 0, size_lbas: 2048 },
            MbrRecordSpec { bootable: false, os_type: 0xEF, first_lba: 2048, size_lbas: 65_536 },
        ],
    };
    check(
        &options,
        &esp_and_root()[..1],
        expect![[r#"
            disk 35651584 bytes = 69632 LBAs of 512
            usable 34..=69598 entries @2 backup entries @69599 header @69631
            1 "ESP" 2048..=67583 (33554432 bytes) attrs=0x0
            mbr 1 boot=0x0 type=0xee chs=[00, 02, 00]..[00, 22, 00] lba=1 size=33
            mbr 3 boot=0x0 type=0xef chs=[20, 21, 00]..[34, 30, 04] lba=2048 size=65536
        "#]],
    );
    let layout = plan(&options, &esp_and_root()[..1]).unwrap();
    // A record of type 0 is still written (an isohybrid's first record may be type 0x00).
    assert_eq!(layout.mbr.partition_records[1].boot_indicator, 0x80);
    assert_eq!(layout.mbr.partition_records[1].size_in_lba, 2048);
    let disk = write(&layout, &[ExtentMap::new()]).unwrap().to_vec(&NoBlobs).unwrap();
    assert_eq!(disk[..2], [0xEB, 0x63]);
    assert_eq!(disk[440..444], [0x0D, 0xF0, 0xFE, 0xCA]);
    let back = read(&mut Cursor::new(&disk)).unwrap();
    assert_eq!(back.mbr, layout.mbr);
}

#[test]
fn plan_errors_name_the_partition_and_limit() {
    let err = |options: &GptOptions, partitions: &[PartitionSpec]| {
        plan(options, partitions).unwrap_err().to_string()
    };
    let esp70 = spec("ESP", Guid::EFI_SYSTEM, PartitionSize::Bytes(70 * MIB));
    assert_eq!(
        err(&options(DiskSize::Bytes(64 * MIB)), std::slice::from_ref(&esp70)),
        "partition ESP is 70 MiB, the disk of 64 MiB leaves 62 MiB for it"
    );
    assert_eq!(
        err(&options(DiskSize::Bytes(64 * MIB + 1)), &[]),
        "disk size is 67108865 bytes, expected a multiple of the 512-byte sector size"
    );
    assert_eq!(
        err(&options(DiskSize::Bytes(512 * 67)), &[]),
        "disk of 34304 bytes is too small for GPT, expected at least 34 KiB"
    );
    assert!(plan(&options(DiskSize::Bytes(512 * 68)), &[]).is_ok());
    assert_eq!(
        err(&options(DiskSize::Bytes(MIB)), std::slice::from_ref(&esp70)),
        "partition ESP is 70 MiB, the disk of 1 MiB leaves 0 MiB for it"
    );
    let long = spec(&"é".repeat(37), Guid::EFI_SYSTEM, PartitionSize::Bytes(1));
    assert_eq!(
        err(&options(DiskSize::Minimum), &[long]),
        format!(
            "name of partition 1 ({:?}) is 37 UTF-16 code units long, GPT allows at most 36",
            "é".repeat(37)
        )
    );
    let fill = spec("root", Guid::LINUX_FILESYSTEM, PartitionSize::Fill);
    assert_eq!(
        err(&options(DiskSize::Minimum), std::slice::from_ref(&fill)),
        "partition root fills the rest of the disk: the disk size must be given"
    );
    assert_eq!(
        err(&options(DiskSize::Bytes(64 * MIB)), &[fill.clone(), esp70.clone()]),
        "partition root fills the rest of the disk: only the last partition can"
    );
    assert_eq!(
        err(&options(DiskSize::Bytes(MIB)), &[fill]),
        "partition root fills the rest of the disk: no aligned MiB is left"
    );
    let mut twin = esp70.clone();
    twin.name = "ESP2".to_owned();
    assert_eq!(
        err(&options(DiskSize::Minimum), &[esp70.clone(), twin]),
        format!("partitions ESP and ESP2 have the same unique GUID {}", esp70.partition_guid)
    );
    assert_eq!(
        err(&options(DiskSize::Minimum), &[spec("x", Guid::ZERO, PartitionSize::Bytes(1))]),
        "partition x has the zero type GUID, which marks an unused entry"
    );
    assert_eq!(
        err(&options(DiskSize::Minimum), &[spec("x", Guid::EFI_SYSTEM, PartitionSize::Bytes(0))]),
        "partition x has size 0, expected at least 1 byte"
    );
    assert_eq!(
        err(
            &options(DiskSize::Minimum),
            &[spec("x", Guid::EFI_SYSTEM, PartitionSize::Bytes(u64::MAX - 5))]
        ),
        "partition x ends beyond 2^64 bytes"
    );
    let many: Vec<PartitionSpec> = (0..129)
        .map(|idx| spec(&format!("p{idx}"), Guid::LINUX_FILESYSTEM, PartitionSize::Bytes(1)))
        .collect();
    assert_eq!(
        err(&options(DiskSize::Minimum), &many),
        "129 partitions given, the entry array holds at most 128"
    );
    assert!(plan(&options(DiskSize::Minimum), &many[..128]).is_ok());
    let mut bad_mbr = options(DiskSize::Minimum);
    bad_mbr.mbr.boot_code = Arc::from(vec![0u8; 441]);
    assert_eq!(err(&bad_mbr, &[]), "MBR: boot code is 441 bytes, the MBR holds at most 440");
    bad_mbr.mbr.boot_code = Arc::from(vec![0u8; 440]);
    bad_mbr.mbr.extra_records =
        vec![MbrRecordSpec { bootable: false, os_type: 0x83, first_lba: 4090, size_lbas: 7 }];
    assert_eq!(
        err(&bad_mbr, &[]),
        "MBR: record 2 covers blocks 4090 + 7, expected a non-empty range within the disk's 4096 blocks"
    );
    bad_mbr.mbr.extra_records = vec![bad_mbr.mbr.extra_records[0]; 4];
    assert_eq!(
        err(&bad_mbr, &[]),
        "MBR: 4 extra records given, the MBR has room for 3 besides the 0xEE record"
    );
}

fn inline(data: &[u8]) -> ExtentMap {
    let mut map = ExtentMap::new();
    map.push_content(b"part", Content::Inline(Arc::from(data)));
    map
}

/// A small disk: 1 MiB ESP, 2 MiB root, contents inline.
fn small_disk() -> (Layout, Vec<u8>) {
    let partitions = [
        spec("ESP", Guid::EFI_SYSTEM, PartitionSize::Bytes(MIB)),
        spec("root", Guid::LINUX_ROOT_X86_64, PartitionSize::Bytes(2 * MIB)),
    ];
    let layout = plan(&options(DiskSize::Minimum), &partitions).unwrap();
    let disk = write(&layout, &[inline(b"fat"), inline(&[7u8; 1000])]).unwrap();
    (layout, disk.to_vec(&NoBlobs).unwrap())
}

#[test]
fn extents_of_a_disk() {
    let partitions = [
        spec("ESP", Guid::EFI_SYSTEM, PartitionSize::Bytes(MIB)),
        spec("root", Guid::LINUX_ROOT_X86_64, PartitionSize::Bytes(2 * MIB)),
    ];
    let layout = plan(&options(DiskSize::Minimum), &partitions).unwrap();
    let disk = write(&layout, &[inline(b"fat"), inline(&[7u8; 1000])]).unwrap();
    let listing: String = disk
        .iter()
        .map(|(offset, extent)| match extent {
            Extent::Zeros { len_bytes } => format!("{offset} zeros {len_bytes}\n"),
            Extent::Literal(bytes) => format!("{offset} literal {}\n", bytes.len()),
            Extent::Content { path, content } => {
                format!("{offset} content {} {}\n", String::from_utf8_lossy(path), content.len())
            }
        })
        .collect();
    // MBR, primary header, array at 1024; ESP at 1 MiB, root at 2 MiB; backup array at
    // 5 MiB - 33 sectors, header in the last sector.
    expect![[r#"
        0 literal 512
        512 literal 92
        604 zeros 420
        1024 literal 16384
        17408 zeros 1031168
        1048576 content part 3
        1048579 zeros 1048573
        2097152 content part 1000
        2098152 zeros 3127832
        5225984 literal 16384
        5242368 literal 92
        5242460 zeros 420
    "#]]
    .assert_eq(&listing);
    assert_eq!(disk.len_bytes(), 5 * MIB);
}

#[test]
fn headers_and_crcs() {
    let (layout, bytes) = small_disk();
    let array = &bytes[1024..1024 + 16_384];
    let backup_start = usize::try_from(layout.backup_entries_lba * 512).unwrap();
    assert_eq!(backup_start, 5_242_880 - 33 * 512);
    assert!(array == &bytes[backup_start..backup_start + 16_384]);
    let primary = GptHeader::decode_checked(&bytes[512..1024]).unwrap();
    let backup = GptHeader::decode_checked(&bytes[bytes.len() - 512..]).unwrap();
    assert_eq!(primary.partition_entry_array_crc32, header::crc32(array));
    assert_eq!(backup.partition_entry_array_crc32, header::crc32(array));
    assert_eq!(
        (primary.my_lba, primary.alternate_lba, primary.partition_entry_lba),
        (1, 10_239, 2)
    );
    assert_eq!(
        (backup.my_lba, backup.alternate_lba, backup.partition_entry_lba),
        (10_239, 1, 10_207)
    );
    // The rest of each header sector is zero.
    assert!(bytes[512 + 92..1024].iter().all(|b| *b == 0));
    let disk = read(&mut Cursor::new(&bytes)).unwrap();
    assert_eq!(disk.primary, primary);
    assert_eq!(disk.backup, backup);
    assert_eq!(disk.partitions.len(), 2);
    for (read, planned) in disk.partitions.iter().zip(&layout.partitions) {
        assert_eq!(read.number, planned.number);
        assert_eq!(read.entry, planned.entry);
    }
    assert_eq!(&bytes[1 << 20..(1 << 20) + 3], b"fat");
}

#[test]
fn summary_lines() {
    let (_, bytes) = small_disk();
    let lines = summary(&mut Cursor::new(&bytes)).unwrap();
    let text: String = lines.iter().map(|(k, v)| format!("{k}: {v}\n")).collect();
    expect![[r#"
        format: GPT (UEFI 2.10)
        sector size: 512 bytes
        disk size: 5 MiB (5242880 bytes)
        disk GUID: 367EBA90-58E5-4E0C-87A4-DED42D50FE08
        usable LBAs: 34..=10206
        entries: 128 of 128 bytes at LBA 2 (backup at LBA 10207)
        backup header LBA: 10239
        MBR: protective
        partition 1: "ESP" LBAs 2048..=4095 (1 MiB) type C12A7328-F81F-11D2-BA4B-00A0C93EC93B (EFI System) GUID 2D08ACF3-6C5B-490B-B4AF-444A4A40BF1D attributes 0x0
        partition 2: "root" LBAs 4096..=8191 (2 MiB) type 4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709 (Linux root (x86-64)) GUID A083C741-C294-4B4D-8B8E-930501BB3DD0 attributes 0x0
    "#]]
    .assert_eq(&text);
}

#[test]
fn reader_detects_damage() {
    let (_, bytes) = small_disk();
    let err = |bytes: &[u8]| read(&mut Cursor::new(bytes)).unwrap_err().to_string();
    let last = bytes.len() - 512;
    let mut damaged = bytes.clone();
    // FirstUsableLBA of the primary header.
    damaged[512 + 40] ^= 1;
    let message = err(&damaged);
    assert!(message.starts_with("primary GPT header at LBA 1: HeaderCRC32 is 0x"), "{message}");
    let mut damaged = bytes.clone();
    damaged[last + 40] ^= 1;
    let message = err(&damaged);
    assert!(message.starts_with("backup GPT header at LBA 10239: HeaderCRC32 is 0x"), "{message}");
    let mut damaged = bytes.clone();
    damaged[1024 + 60] ^= 1;
    let message = err(&damaged);
    assert!(
        message.starts_with("primary partition entry array at LBA 2: CRC32 is 0x"),
        "{message}"
    );
    let mut damaged = bytes.clone();
    damaged[last - 16_384 + 60] ^= 1;
    assert!(damaged[last - 16_384..last] != bytes[1024..1024 + 16_384]);
    let message = err(&damaged);
    assert!(
        message.starts_with("backup partition entry array at LBA 10207: CRC32 is 0x"),
        "{message}"
    );
    let mut damaged = bytes.clone();
    damaged[510] = 0;
    assert_eq!(err(&damaged), "not a GPT disk: MBR signature is 0xaa00, expected 0xaa55");
    let mut damaged = bytes.clone();
    damaged[512] = b'X';
    assert_eq!(err(&damaged), "not a GPT disk: no \"EFI PART\" signature at byte 512 or 4096");
    assert_eq!(
        err(&bytes[..bytes.len() - 512]),
        "primary GPT header: AlternateLBA is 10239, expected an LBA within the disk's 10239 blocks"
    );
    assert_eq!(err(&bytes[..100]), "not a GPT disk: the image is 100 bytes long");
}

#[test]
fn content_errors() {
    let layout = plan(
        &options(DiskSize::Minimum),
        &[spec("ESP", Guid::EFI_SYSTEM, PartitionSize::Bytes(MIB))],
    )
    .unwrap();
    let mut big = ExtentMap::new();
    big.push_zeros(MIB + 512);
    assert_eq!(
        write(&layout, &[big]).unwrap_err().to_string(),
        "content of partition ESP is 1049088 bytes, its slot is 1 MiB"
    );
    assert_eq!(
        write(&layout, &[]).unwrap_err().to_string(),
        "0 partition contents given, the layout has 1 partitions"
    );
    let mut exact = ExtentMap::new();
    exact.push_zeros(MIB);
    assert!(write(&layout, &[exact]).is_ok());
}

#[test]
fn same_inputs_same_bytes() {
    let (_, a) = small_disk();
    let (_, b) = small_disk();
    assert_eq!(a, b);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn round_trip(
        parts in prop::collection::vec(
            ("[a-zA-Z0-9 é_-]{0,36}", 1u64..3 * MIB, any::<u64>(), prop::collection::vec(any::<u8>(), 0..600)),
            0..5,
        ),
        four_k in any::<bool>(),
    ) {
        let specs: Vec<PartitionSpec> = parts
            .iter()
            .enumerate()
            .map(|(idx, (name, size, attributes, _))| PartitionSpec {
                name: name.clone(),
                type_guid: Guid::derive(name.as_bytes(), "type"),
                partition_guid: Guid::derive(&idx.to_le_bytes(), "partition"),
                size: PartitionSize::Bytes(*size),
                attributes: *attributes,
            })
            .collect();
        let mut options = options(DiskSize::Minimum);
        if four_k {
            options.sector_size = SectorSize::Bytes4096;
        }
        let layout = plan(&options, &specs).unwrap();
        let contents: Vec<ExtentMap> = parts.iter().map(|(_, _, _, data)| inline(data)).collect();
        let bytes = write(&layout, &contents).unwrap().to_vec(&NoBlobs).unwrap();
        prop_assert_eq!(u64::try_from(bytes.len()).unwrap(), layout.disk_bytes);
        let disk = read(&mut Cursor::new(&bytes)).unwrap();
        prop_assert_eq!(disk.sector_bytes, layout.sector_bytes);
        prop_assert_eq!(disk.partitions.len(), specs.len());
        for ((read, spec), (_, _, _, data)) in disk.partitions.iter().zip(&specs).zip(&parts) {
            prop_assert_eq!(read.entry.name(), spec.name.clone());
            prop_assert_eq!(read.entry.unique_partition_guid, spec.partition_guid);
            prop_assert_eq!(read.entry.attributes, spec.attributes);
            let start = usize::try_from(read.entry.starting_lba * layout.sector_bytes).unwrap();
            prop_assert_eq!(&bytes[start..start + data.len()], &data[..]);
        }
    }
}

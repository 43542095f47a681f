//! Cross-checks of the GPT writer and reader against GPT fdisk (`sgdisk`) and util-linux
//! (`sfdisk`): verification, listings with the GUIDs, names, types, LBAs and attributes given,
//! tables written by `sgdisk` read by kit (byte-identical to kit's for the same inputs), a kit
//! disk moved by `sgdisk -e`, and a damaged header seen by both.
//!
//! The expected listings are written by hand from the partition specs and the tools' formats,
//! not copied from kit's output. Every GUID is a literal, so the listings can be.

mod common;

use std::fs;
use std::io::Cursor;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use common::{run, squeeze, tool};
use formats::extent::ExtentMap;
use formats::gpt::entry::ATTR_LEGACY_BIOS_BOOTABLE;
use formats::gpt::{
    DiskSize, GptOptions, Guid, MbrOptions, PartitionSize, PartitionSpec, SectorSize, plan, read,
    write,
};
use formats::tree::{Content, NoBlobs};

const MIB: u64 = 1 << 20;

fn guid(text: &str) -> Guid {
    text.parse().unwrap()
}

fn options(disk_guid: &str) -> GptOptions {
    GptOptions {
        sector_size: SectorSize::Bytes512,
        disk_size: DiskSize::Bytes(64 * MIB),
        disk_guid: guid(disk_guid),
        mbr: MbrOptions::protective(),
    }
}

/// A 64 MiB disk: ESP (32 MiB, some content), BIOS boot (1 MiB), root filling the rest, legacy
/// BIOS bootable and read-only (bit 60).
fn kit_disk(dir: &Path) -> (Vec<u8>, std::path::PathBuf) {
    let partitions = [
        PartitionSpec {
            name: "ESP".to_owned(),
            type_guid: Guid::EFI_SYSTEM,
            partition_guid: guid("AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE"),
            size: PartitionSize::Bytes(32 * MIB),
            attributes: 0,
        },
        PartitionSpec {
            name: "bios".to_owned(),
            type_guid: Guid::BIOS_BOOT,
            partition_guid: guid("12345678-9ABC-4DEF-8123-456789ABCDEF"),
            size: PartitionSize::Bytes(1000),
            attributes: 0,
        },
        PartitionSpec {
            name: "root ü".to_owned(),
            type_guid: Guid::LINUX_ROOT_X86_64,
            partition_guid: guid("0FEDCBA9-8765-4321-8FED-CBA987654321"),
            size: PartitionSize::Fill,
            attributes: ATTR_LEGACY_BIOS_BOOTABLE | 1 << 60,
        },
    ];
    let layout = plan(&options("01234567-89AB-4CDE-8F01-23456789ABCD"), &partitions).unwrap();
    let esp_data: Vec<u8> = (0..3000u32).map(|i| u8::try_from(i % 251).unwrap()).collect();
    let mut esp = ExtentMap::new();
    esp.push_content(b"ESP image", Content::Inline(Arc::from(&esp_data[..])));
    let disk = write(&layout, &[esp, ExtentMap::new(), ExtentMap::new()]).unwrap();
    let path = dir.join("disk.img");
    let mut file = fs::File::create(&path).unwrap();
    disk.write_to(&NoBlobs, &mut file).unwrap();
    (esp_data, path)
}

/// Runs a command in `dir`; returns (success, stdout, stderr).
fn run_in(dir: &Path, program: &str, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("LC_ALL", "C")
        .output()
        .unwrap_or_else(|err| panic!("spawning {program}: {err}"));
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn sgdisk_verifies_and_lists_a_kit_disk() {
    if !tool("sgdisk") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (esp_data, path) = kit_disk(dir.path());
    let (ok, verify, _) = run_in(dir.path(), "sgdisk", &["-v", "disk.img"]);
    assert!(ok);
    // Free: 34..=2047 (2014 sectors) and 129024..=131038 (2015 sectors), the root being rounded
    // down to a whole MiB.
    assert_eq!(
        verify.trim(),
        "No problems found. 4029 free sectors (2.0 MiB) available in 2\n\
         segments, the largest of which is 2015 (1007.5 KiB) in size."
    );
    let listing = run(Command::new("sgdisk").arg("-p").arg(&path), b"");
    let listing = listing.replace(&path.display().to_string(), "disk.img");
    let expected = "\
Disk disk.img: 131072 sectors, 64.0 MiB
Sector size (logical): 512 bytes
Disk identifier (GUID): 01234567-89AB-4CDE-8F01-23456789ABCD
Partition table holds up to 128 entries
Main partition table begins at sector 2 and ends at sector 33
First usable sector is 34, last usable sector is 131038
Partitions will be aligned on 2048-sector boundaries
Total free space is 4029 sectors (2.0 MiB)

Number Start (sector) End (sector) Size Code Name
1 2048 67583 32.0 MiB EF00 ESP
2 67584 69631 1024.0 KiB EF02 bios
3 69632 129023 29.0 MiB 8304 root ü
";
    assert_eq!(squeeze(&listing), squeeze(expected));
    let info = run(Command::new("sgdisk").arg("-i").arg("3").arg(&path), b"");
    let expected = "\
Partition GUID code: 4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709 (Linux x86-64 root (/))
Partition unique GUID: 0FEDCBA9-8765-4321-8FED-CBA987654321
First sector: 69632 (at 34.0 MiB)
Last sector: 129023 (at 63.0 MiB)
Partition size: 59392 sectors (29.0 MiB)
Attribute flags: 1000000000000004
Partition name: 'root ü'
";
    assert_eq!(info, expected);
    // The ESP's content is where the table says the ESP starts.
    let bytes = fs::read(&path).unwrap();
    assert_eq!(&bytes[2048 * 512..2048 * 512 + esp_data.len()], &esp_data[..]);
    assert!(bytes[2048 * 512 + esp_data.len()..67584 * 512].iter().all(|b| *b == 0));
}

#[test]
fn sfdisk_json_shows_the_guids_names_and_attributes() {
    if !tool("sfdisk") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    kit_disk(dir.path());
    let (ok, json, stderr) = run_in(dir.path(), "sfdisk", &["--json", "disk.img"]);
    assert!(ok, "{stderr}");
    let expected = r#"{
   "partitiontable": {
      "label": "gpt",
      "id": "01234567-89AB-4CDE-8F01-23456789ABCD",
      "device": "disk.img",
      "unit": "sectors",
      "firstlba": 34,
      "lastlba": 131038,
      "sectorsize": 512,
      "partitions": [
         {
            "node": "disk.img1",
            "start": 2048,
            "size": 65536,
            "type": "C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
            "uuid": "AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE",
            "name": "ESP"
         },{
            "node": "disk.img2",
            "start": 67584,
            "size": 2048,
            "type": "21686148-6449-6E6F-744E-656564454649",
            "uuid": "12345678-9ABC-4DEF-8123-456789ABCDEF",
            "name": "bios"
         },{
            "node": "disk.img3",
            "start": 69632,
            "size": 59392,
            "type": "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709",
            "uuid": "0FEDCBA9-8765-4321-8FED-CBA987654321",
            "name": "root ü",
            "attrs": "LegacyBIOSBootable GUID:60"
         }
      ]
   }
}
"#;
    assert_eq!(json, expected);
}

/// `sgdisk -o -n 1:2048:+32M -t 1:ef00 -c 1:ESP -U … -u 1:… -n 2:0:+8M -t 2:8300 -c 2:data
/// -u 2:… -A 2:set:2` on a 64 MiB file.
fn sgdisk_disk(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("sgdisk.img");
    fs::File::create(&path).unwrap().set_len(64 * MIB).unwrap();
    let (ok, _, stderr) = run_in(
        dir,
        "sgdisk",
        &[
            "-o",
            "-n",
            "1:2048:+32M",
            "-t",
            "1:ef00",
            "-c",
            "1:ESP",
            "-U",
            "11111111-2222-4333-8444-555555555555",
            "-u",
            "1:AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE",
            "-n",
            "2:0:+8M",
            "-t",
            "2:8300",
            "-c",
            "2:data",
            "-u",
            "2:0FEDCBA9-8765-4321-8FED-CBA987654321",
            "-A",
            "2:set:2",
            "sgdisk.img",
        ],
    );
    assert!(ok, "{stderr}");
    path
}

#[test]
fn kit_reads_sgdisk_tables_and_writes_the_same_bytes() {
    if !tool("sgdisk") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = sgdisk_disk(dir.path());
    let bytes = fs::read(&path).unwrap();
    let disk = read(&mut Cursor::new(&bytes)).unwrap();
    assert_eq!(disk.sector_bytes, 512);
    assert_eq!(disk.disk_bytes, 64 * MIB);
    assert_eq!(disk.primary.disk_guid, guid("11111111-2222-4333-8444-555555555555"));
    assert_eq!((disk.primary.first_usable_lba, disk.primary.last_usable_lba), (34, 131_038));
    assert_eq!((disk.primary.alternate_lba, disk.backup.my_lba), (131_071, 131_071));
    assert_eq!(disk.backup.partition_entry_lba, 131_039);
    let found: Vec<String> = disk
        .partitions
        .iter()
        .map(|p| {
            let e = &p.entry;
            format!(
                "{} {} {}..={} {} {} {:#x}",
                p.number,
                e.name(),
                e.starting_lba,
                e.ending_lba,
                e.partition_type_guid,
                e.unique_partition_guid,
                e.attributes
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            "1 ESP 2048..=67583 C12A7328-F81F-11D2-BA4B-00A0C93EC93B \
             AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE 0x0",
            "2 data 67584..=83967 0FC63DAF-8483-4772-8E79-3D69D8477DE4 \
             0FEDCBA9-8765-4321-8FED-CBA987654321 0x4",
        ]
    );

    // kit, given the same disk, GUIDs and partitions, writes the same MBR, headers and arrays.
    let partitions = [
        PartitionSpec {
            name: "ESP".to_owned(),
            type_guid: Guid::EFI_SYSTEM,
            partition_guid: guid("AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE"),
            size: PartitionSize::Bytes(32 * MIB),
            attributes: 0,
        },
        PartitionSpec {
            name: "data".to_owned(),
            type_guid: Guid::LINUX_FILESYSTEM,
            partition_guid: guid("0FEDCBA9-8765-4321-8FED-CBA987654321"),
            size: PartitionSize::Bytes(8 * MIB),
            attributes: ATTR_LEGACY_BIOS_BOOTABLE,
        },
    ];
    let layout = plan(&options("11111111-2222-4333-8444-555555555555"), &partitions).unwrap();
    let ours =
        write(&layout, &[ExtentMap::new(), ExtentMap::new()]).unwrap().to_vec(&NoBlobs).unwrap();
    assert_eq!(ours.len(), bytes.len());
    assert!(ours[..34 * 512] == bytes[..34 * 512], "MBR, primary header or array differ");
    let tail = bytes.len() - 33 * 512;
    assert!(ours[tail..] == bytes[tail..], "backup array or header differ");
}

#[test]
fn sgdisk_e_moves_the_backup_of_a_grown_kit_disk() {
    if !tool("sgdisk") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_, path) = kit_disk(dir.path());
    fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(65 * MIB).unwrap();
    // Grown: the backup header is still at LBA 131071, which kit follows.
    let disk = read(&mut fs::File::open(&path).unwrap()).unwrap();
    assert_eq!((disk.disk_bytes, disk.backup.my_lba), (65 * MIB, 131_071));
    let (ok, _, stderr) = run_in(dir.path(), "sgdisk", &["-e", "disk.img"]);
    assert!(ok, "{stderr}");
    let disk = read(&mut fs::File::open(&path).unwrap()).unwrap();
    // 65 MiB = 133120 sectors: backup header at 133119, array at 133087, last usable 133086.
    assert_eq!(disk.backup.my_lba, 133_119);
    assert_eq!(disk.primary.alternate_lba, 133_119);
    assert_eq!(disk.backup.partition_entry_lba, 133_087);
    assert_eq!(disk.primary.last_usable_lba, 133_086);
    assert_eq!(disk.partitions.len(), 3);
    assert_eq!(disk.partitions[2].entry.name(), "root ü");
    let (_, verify, _) = run_in(dir.path(), "sgdisk", &["-v", "disk.img"]);
    assert!(verify.trim_start().starts_with("No problems found."), "{verify}");
}

#[test]
fn a_damaged_primary_header_is_seen_by_kit_and_sgdisk() {
    if !tool("sgdisk") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_, path) = kit_disk(dir.path());
    let mut bytes = fs::read(&path).unwrap();
    // One byte of LastUsableLBA in the primary header.
    bytes[512 + 48] ^= 0x01;
    fs::write(&path, &bytes).unwrap();
    let err = read(&mut Cursor::new(&bytes)).unwrap_err().to_string();
    assert!(err.starts_with("primary GPT header at LBA 1: HeaderCRC32 is 0x"), "{err}");
    let (_, _, stderr) = run_in(dir.path(), "sgdisk", &["-v", "disk.img"]);
    assert!(stderr.contains("Invalid CRC on main header data"), "{stderr}");
    assert!(stderr.contains("Main header: ERROR"), "{stderr}");
    assert!(stderr.contains("Backup header: OK"), "{stderr}");
}

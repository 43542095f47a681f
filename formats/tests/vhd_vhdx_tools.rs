//! Cross-checks of the VHD and VHDX writers and readers against `qemu-img`: `info` (format,
//! virtual size), `check` (VHDX), `compare` with the raw disk, `convert -O raw` of kit's
//! images, and kit's readers on images `qemu-img convert` makes of the same raw disks.
//!
//! Expected sizes are computed by hand from the disk shapes, the VHD CHS algorithm and the
//! MS-VHDX layout, not copied from kit's output.

mod common;

use std::fs;
use std::io::Cursor;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use common::tool;
use formats::extent::ExtentMap;
use formats::gpt::{
    DiskSize, GptOptions, Guid, MbrOptions, PartitionSize, PartitionSpec, SectorSize,
};
use formats::tree::{Content, NoBlobs};
use formats::{vhd, vhdx};

const MIB: u64 = 1 << 20;

fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len).map(|i| u8::try_from(i % 251).unwrap() ^ salt).collect()
}

/// The disk shapes: (name, disk).
fn disks() -> Vec<(&'static str, ExtentMap)> {
    let mut zeros = ExtentMap::new();
    zeros.push_zeros(10 * MIB);

    // Data at the start, a hole of several blocks, data at the end; 70 MiB + 7 sectors is not
    // a multiple of any block size.
    let mut holes = ExtentMap::new();
    holes.push_literal(pattern(usize::try_from(MIB).unwrap() + 1000, 1));
    holes.push_zeros(40 * MIB);
    holes.push_content(b"tail", Content::Inline(Arc::from(pattern(3000, 2))));
    let rest = 70 * MIB + 7 * 512 - holes.len_bytes();
    holes.push_zeros(rest - 5000);
    holes.push_literal(pattern(5000, 3));

    // A GPT disk with one small partition.
    let partitions = [PartitionSpec {
        name: "data".to_owned(),
        type_guid: Guid::LINUX_FILESYSTEM,
        partition_guid: "AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE".parse().unwrap(),
        size: PartitionSize::Bytes(2 * MIB),
        attributes: 0,
    }];
    let options = GptOptions {
        sector_size: SectorSize::Bytes512,
        disk_size: DiskSize::Bytes(8 * MIB),
        disk_guid: "01234567-89AB-4CDE-8F01-23456789ABCD".parse().unwrap(),
        mbr: MbrOptions::protective(),
    };
    let layout = formats::gpt::plan(&options, &partitions).unwrap();
    let mut part = ExtentMap::new();
    part.push_content(b"partition", Content::Inline(Arc::from(pattern(70_000, 4))));
    let gpt = formats::gpt::write(&layout, &[part]).unwrap();

    vec![("zeros", zeros), ("holes", holes), ("gpt", gpt)]
}

fn vhd_options(subformat: vhd::Subformat, creator: [u8; 4]) -> vhd::VhdOptions {
    vhd::VhdOptions {
        subformat,
        epoch: 1_700_000_000,
        seed: b"test".to_vec(),
        creator_application: creator,
        round_to_mib: false,
    }
}

fn vhdx_options(block_size: vhdx::BlockSize) -> vhdx::VhdxOptions {
    vhdx::VhdxOptions {
        block_size,
        logical_sector_size: SectorSize::Bytes512,
        physical_sector_size: SectorSize::Bytes4096,
        leave_block_allocated: false,
        seed: b"test".to_vec(),
    }
}

/// Runs `qemu-img args`; returns (success, stdout, stderr).
fn qemu_img(args: &[&str]) -> (bool, String, String) {
    let output = Command::new("qemu-img").args(args).env("LC_ALL", "C").output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn qemu_ok(args: &[&str]) -> String {
    let (ok, out, err) = qemu_img(args);
    assert!(ok, "qemu-img {args:?} failed:\n{out}\n{err}");
    out
}

/// A number field of `qemu-img info --output=json` (the last one: the image's, after its
/// children's).
fn json_number(json: &str, key: &str) -> u64 {
    let at = json.rfind(&format!("\"{key}\": ")).unwrap_or_else(|| panic!("{key} in {json}"));
    json[at + key.len() + 4..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

fn json_string<'a>(json: &'a str, key: &str) -> &'a str {
    let at = json.rfind(&format!("\"{key}\": \"")).unwrap_or_else(|| panic!("{key} in {json}"));
    let rest = &json[at + key.len() + 5..];
    &rest[..rest.find('"').unwrap()]
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Checks a kit image at `img` of `raw` with qemu-img: info, check, compare, convert.
/// `cluster_size`: the block size qemu reports for dynamic images (none for a fixed VHD).
fn check_with_qemu(
    dir: &Path,
    raw_path: &Path,
    raw: &[u8],
    img: &Path,
    format: &str,
    cluster_size: Option<u64>,
) {
    let info = qemu_ok(&["info", "--output=json", "-f", format, path_str(img)]);
    assert_eq!(json_string(&info, "format"), format, "{info}");
    let top_level = &info[info.rfind("\"virtual-size\"").unwrap()..];
    match cluster_size {
        Some(bytes) => assert_eq!(json_number(top_level, "cluster-size"), bytes, "{info}"),
        None => assert!(!top_level.contains("cluster-size"), "{info}"),
    }
    assert_eq!(json_number(&info, "virtual-size"), u64::try_from(raw.len()).unwrap(), "{info}");
    if format == "vhdx" {
        let check = qemu_ok(&["check", "-f", "vhdx", path_str(img)]);
        assert!(check.contains("No errors were found on the image."), "{check}");
    }
    qemu_ok(&["compare", "-f", "raw", "-F", format, path_str(raw_path), path_str(img)]);
    let back = dir.join("back.raw");
    qemu_ok(&["convert", "-f", format, "-O", "raw", path_str(img), path_str(&back)]);
    assert!(fs::read(&back).unwrap() == raw, "qemu-img convert -O raw of {img:?} differs");
}

fn raw_of(disk: &ExtentMap, align: u64) -> Vec<u8> {
    let mut raw = disk.to_vec(&NoBlobs).unwrap();
    let len = u64::try_from(raw.len()).unwrap().div_ceil(align) * align;
    raw.resize(usize::try_from(len).unwrap(), 0);
    raw
}

#[test]
fn qemu_reads_kit_vhd_and_vhdx() {
    if !tool("qemu-img") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (name, disk) in disks() {
        eprintln!("disk {name}");
        let raw = raw_of(&disk, 512);
        let raw_path = dir.path().join("disk.raw");
        fs::write(&raw_path, &raw).unwrap();
        for subformat in [vhd::Subformat::Fixed, vhd::Subformat::Dynamic] {
            let options = vhd_options(subformat, vhd::CREATOR_KIT);
            let img = dir.path().join("kit.vhd");
            let mut file = fs::File::create(&img).unwrap();
            let written = vhd::write(&disk, &NoBlobs, &options, &mut file).unwrap();
            drop(file);
            assert_eq!(written, fs::metadata(&img).unwrap().len());
            let cluster_size = match subformat {
                vhd::Subformat::Fixed => None,
                vhd::Subformat::Dynamic => Some(2 * MIB),
            };
            check_with_qemu(dir.path(), &raw_path, &raw, &img, "vpc", cluster_size);
            let mut back = Vec::new();
            vhd::read_to(&mut fs::File::open(&img).unwrap(), &mut back).unwrap();
            assert!(back == raw, "kit reads back its own {subformat:?} VHD of {name}");
        }
        for block_size in [vhdx::BlockSize::Mib32, vhdx::BlockSize::Mib1] {
            let img = dir.path().join("kit.vhdx");
            let mut file = fs::File::create(&img).unwrap();
            vhdx::write(&disk, &NoBlobs, &vhdx_options(block_size), &mut file).unwrap();
            drop(file);
            let cluster_size = match block_size {
                vhdx::BlockSize::Mib1 => MIB,
                vhdx::BlockSize::Mib32 => 32 * MIB,
            };
            check_with_qemu(dir.path(), &raw_path, &raw, &img, "vhdx", Some(cluster_size));
            let mut back = Vec::new();
            vhdx::read_to(&mut fs::File::open(&img).unwrap(), &mut back).unwrap();
            assert!(back == raw, "kit reads back its own VHDX ({block_size:?}) of {name}");
        }
    }
}

#[test]
fn kit_reads_qemu_images() {
    if !tool("qemu-img") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (name, disk) in disks() {
        eprintln!("disk {name}");
        let raw = raw_of(&disk, 512);
        let raw_path = dir.path().join("disk.raw");
        fs::write(&raw_path, &raw).unwrap();
        for (format, opts) in [
            ("vpc", "subformat=fixed,force_size=on"),
            ("vpc", "subformat=dynamic,force_size=on"),
            ("vhdx", "subformat=dynamic"),
            ("vhdx", "subformat=dynamic,block_size=1M"),
            ("vhdx", "subformat=fixed"),
        ] {
            let img = dir.path().join("qemu.img");
            let _ = fs::remove_file(&img);
            qemu_ok(&[
                "convert",
                "-f",
                "raw",
                "-O",
                format,
                "-o",
                opts,
                path_str(&raw_path),
                path_str(&img),
            ]);
            let mut back = Vec::new();
            let mut input = fs::File::open(&img).unwrap();
            if format == "vpc" {
                vhd::read_to(&mut input, &mut back).unwrap();
            } else {
                vhdx::read_to(&mut input, &mut back).unwrap_or_else(|e| panic!("{opts}: {e}"));
            }
            assert!(back == raw, "kit reads qemu's {format} {opts} of {name}");
        }
        // Without force_size qemu rounds the size up to the CHS geometry: kit reads the padded
        // disk.
        let img = dir.path().join("qemu-chs.vhd");
        qemu_ok(&[
            "convert",
            "-f",
            "raw",
            "-O",
            "vpc",
            "-o",
            "subformat=dynamic",
            path_str(&raw_path),
            path_str(&img),
        ]);
        let mut back = Vec::new();
        vhd::read_to(&mut fs::File::open(&img).unwrap(), &mut back).unwrap();
        assert!(back.len() >= raw.len());
        assert!(back[..raw.len()] == raw[..] && back[raw.len()..].iter().all(|b| *b == 0));
    }
}

/// qemu 10 sizes a VHD by its CHS geometry (which rounds down) only for the creators `vpc `
/// and `qemu`, by `Current Size` for others such as kit's; with `round_to_mib` the size is a
/// whole MiB (Azure).
#[test]
fn qemu_sizes_vhd_by_creator() {
    if !tool("qemu-img") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut disk = ExtentMap::new();
    disk.push_literal(pattern(1000, 5));
    disk.push_zeros(10 * MIB - 1000);
    let img = dir.path().join("kit.vhd");
    let size_of = |options: &vhd::VhdOptions, disk: &ExtentMap| {
        fs::write(&img, vhd::to_vec(disk, &NoBlobs, options).unwrap()).unwrap();
        let info = qemu_ok(&["info", "--output=json", "-f", "vpc", path_str(&img)]);
        json_number(&info, "virtual-size")
    };
    let mut options = vhd_options(vhd::Subformat::Fixed, vhd::CREATOR_KIT);
    assert_eq!(size_of(&options, &disk), 10 * MIB);
    // 10 MiB = 20480 sectors: 17 sectors per track, 4 heads, 301 cylinders = 20468 sectors.
    options.creator_application = *b"vpc ";
    assert_eq!(size_of(&options, &disk), 301 * 4 * 17 * 512);
    // Round to MiB: 10 MiB + 1 sector becomes 11 MiB.
    disk.push_zeros(512);
    options.round_to_mib = true;
    options.creator_application = vhd::CREATOR_KIT;
    assert_eq!(size_of(&options, &disk), 11 * MIB);
    assert_eq!(fs::metadata(&img).unwrap().len(), 11 * MIB + 512);
    options.subformat = vhd::Subformat::Dynamic;
    assert_eq!(size_of(&options, &disk), 11 * MIB);
}

#[test]
fn a_gibibyte_of_zeros_is_small() {
    let mut disk = ExtentMap::new();
    disk.push_zeros(1 << 30);
    let options = vhd_options(vhd::Subformat::Dynamic, vhd::CREATOR_KIT);
    let vhd_bytes = vhd::to_vec(&disk, &NoBlobs, &options).unwrap();
    // Footer copy, header, BAT of 512 entries (2048 bytes), footer.
    assert_eq!(vhd_bytes.len(), 512 + 1024 + 2048 + 512);
    let vhdx_bytes = vhdx::to_vec(&disk, &NoBlobs, &vhdx_options(vhdx::BlockSize::Mib32)).unwrap();
    // Header section, log, metadata, BAT: 1 MiB each.
    assert_eq!(vhdx_bytes.len(), 4 << 20);
    let mut back = Vec::new();
    assert_eq!(vhdx::read_to(&mut Cursor::new(&vhdx_bytes), &mut back).unwrap(), 1 << 30);
    assert!(back.iter().all(|b| *b == 0));
    if !tool("qemu-img") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (bytes, format, name) in [(&vhd_bytes, "vpc", "z.vhd"), (&vhdx_bytes, "vhdx", "z.vhdx")] {
        let img = dir.path().join(name);
        fs::write(&img, bytes).unwrap();
        let info = qemu_ok(&["info", "--output=json", "-f", format, path_str(&img)]);
        assert_eq!(json_number(&info, "virtual-size"), 1 << 30, "{info}");
        if format == "vpc" {
            // qemu's vhdx driver reports no allocation status; its vpc driver does.
            let map = qemu_ok(&["map", "--output=json", "-f", format, path_str(&img)]);
            assert!(!map.contains("\"data\": true"), "{map}");
        }
    }
}

#[test]
fn same_input_same_bytes() {
    for (_, disk) in disks() {
        for subformat in [vhd::Subformat::Fixed, vhd::Subformat::Dynamic] {
            let options = vhd_options(subformat, vhd::CREATOR_KIT);
            assert_eq!(
                vhd::to_vec(&disk, &NoBlobs, &options).unwrap(),
                vhd::to_vec(&disk, &NoBlobs, &options.clone()).unwrap()
            );
        }
        let options = vhdx_options(vhdx::BlockSize::Mib1);
        assert_eq!(
            vhdx::to_vec(&disk, &NoBlobs, &options).unwrap(),
            vhdx::to_vec(&disk, &NoBlobs, &options.clone()).unwrap()
        );
    }
}

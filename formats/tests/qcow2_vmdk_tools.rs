//! Cross-checks of the qcow2 and VMDK writers and readers against `qemu-img`: `check` clean,
//! `info` shows the format and virtual size, `compare` with the raw disk says identical,
//! `convert -O raw` gives the raw bytes back, and kit reads what `qemu-img convert` writes.
//!
//! The raw disk is written with `ExtentMap::write_to`, independently of both writers.

mod common;

use std::fs;
use std::io::Cursor;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use common::tool;
use formats::extent::ExtentMap;
use formats::gpt::{
    DiskSize, GptOptions, Guid, MbrOptions, PartitionSize, PartitionSpec, SectorSize, plan,
};
use formats::tree::{Content, NoBlobs};
use formats::{qcow2, vmdk};

const MIB: u64 = 1 << 20;

fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len).map(|i| u8::try_from((u32::try_from(i).unwrap() * 7 + seed) % 251).unwrap()).collect()
}

/// The disks of the tests, by name.
fn disks() -> Vec<(&'static str, ExtentMap)> {
    let mut all_zero = ExtentMap::new();
    all_zero.push_zeros(16 * MIB);

    let mut holes = ExtentMap::new();
    holes.push_content(b"start", Content::Inline(Arc::from(pattern(300_000, 1))));
    holes.push_zeros(8 * MIB);
    holes.push_literal(pattern(65_536, 2));
    holes.pad_to(16 * MIB - 4096);
    holes.push_literal(pattern(4096, 3));

    // Not a multiple of 64 KiB (but of 512, as VMDK needs whole sectors).
    let mut odd = ExtentMap::new();
    odd.push_zeros(70_000 - 70_000 % 512);
    odd.push_literal(pattern(5 * 65_536 + 1024, 4));
    odd.push_zeros(3 * 512);

    // Not even a multiple of 512: both formats pad the last sector, as qemu-img does.
    let mut unaligned = ExtentMap::new();
    unaligned.push_zeros(900_000);
    unaligned.push_literal(pattern(100_003, 6));

    let layout = plan(
        &GptOptions {
            sector_size: SectorSize::Bytes512,
            disk_size: DiskSize::Bytes(8 * MIB),
            disk_guid: "01234567-89AB-4CDE-8F01-23456789ABCD".parse().unwrap(),
            mbr: MbrOptions::protective(),
        },
        &[PartitionSpec {
            name: "root".to_owned(),
            type_guid: Guid::LINUX_ROOT_X86_64,
            partition_guid: "0FEDCBA9-8765-4321-8FED-CBA987654321".parse().unwrap(),
            size: PartitionSize::Fill,
            attributes: 0,
        }],
    )
    .unwrap();
    let mut root = ExtentMap::new();
    root.push_literal(pattern(100_000, 5));
    let gpt = formats::gpt::write(&layout, &[root]).unwrap();

    vec![
        ("empty", ExtentMap::new()),
        ("zeros", all_zero),
        ("holes", holes),
        ("odd", odd),
        ("unaligned", unaligned),
        ("gpt", gpt),
    ]
}

/// Runs a command; returns (success, stdout + stderr).
fn run(program: &str, args: &[&str]) -> (bool, String) {
    let output = Command::new(program).args(args).env("LC_ALL", "C").output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Writes `disk` raw; returns its path.
fn write_raw(dir: &Path, name: &str, disk: &ExtentMap) -> std::path::PathBuf {
    let raw = dir.join(format!("{name}.raw"));
    disk.write_to(&NoBlobs, &mut fs::File::create(&raw).unwrap()).unwrap();
    raw
}

/// The shared checks for one container format and one disk.
fn check_with_qemu(fmt: &str, dir: &Path, name: &str, disk: &ExtentMap, image: &Path, raw: &Path) {
    let (ok, text) = run("qemu-img", &["check", "-f", fmt, s(image)]);
    assert!(ok, "{name}: qemu-img check: {text}");
    assert!(text.contains("No errors were found"), "{name}: {text}");
    assert!(!text.contains("leaked"), "{name}: {text}");

    let (ok, info) = run("qemu-img", &["info", "-f", fmt, "--output=json", s(image)]);
    assert!(ok, "{name}: {info}");
    let virtual_size = disk.len_bytes().next_multiple_of(512);
    assert!(info.contains(&format!("\"virtual-size\": {virtual_size},")), "{name}: {info}");
    assert!(info.contains(&format!("\"format\": \"{fmt}\"")), "{name}: {info}");
    if fmt == "qcow2" {
        assert!(info.contains("\"compat\": \"1.1\""), "{name}: {info}");
    } else {
        assert!(info.contains("\"create-type\": \"streamOptimized\""), "{name}: {info}");
    }

    let (ok, text) = run("qemu-img", &["compare", "-f", "raw", "-F", fmt, s(raw), s(image)]);
    assert!(ok, "{name}: qemu-img compare: {text}");
    assert!(text.contains("Images are identical"), "{name}: {text}");

    let back = dir.join(format!("{name}.{fmt}.back.raw"));
    let (ok, text) = run("qemu-img", &["convert", "-f", fmt, "-O", "raw", s(image), s(&back)]);
    assert!(ok, "{name}: {text}");
    let mut expected = fs::read(raw).unwrap();
    expected.resize(usize::try_from(virtual_size).unwrap(), 0);
    assert!(fs::read(&back).unwrap() == expected, "{name}: qemu-img convert -O raw differs");
}

#[test]
fn qcow2_against_qemu_img() {
    if !tool("qemu-img") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (name, disk) in disks() {
        let raw = write_raw(dir.path(), name, &disk);
        let mut expected = fs::read(&raw).unwrap();
        expected.resize(usize::try_from(disk.len_bytes().next_multiple_of(512)).unwrap(), 0);
        let image = dir.path().join(format!("{name}.qcow2"));
        let bytes = qcow2::to_vec(&disk, &NoBlobs, &qcow2::Qcow2Options::default()).unwrap();
        assert_eq!(bytes, qcow2::to_vec(&disk, &NoBlobs, &qcow2::Qcow2Options::default()).unwrap());
        fs::write(&image, &bytes).unwrap();
        check_with_qemu("qcow2", dir.path(), name, &disk, &image, &raw);

        // kit reads what qemu-img writes.
        let theirs = dir.path().join(format!("{name}.qemu.qcow2"));
        let (ok, text) =
            run("qemu-img", &["convert", "-f", "raw", "-O", "qcow2", s(&raw), s(&theirs)]);
        assert!(ok, "{text}");
        let mut back = Vec::new();
        qcow2::read_to(&mut fs::File::open(&theirs).unwrap(), &mut back).unwrap();
        assert!(back == expected, "{name}: kit's reading of qemu's qcow2 differs");
        // Compressed clusters, as `qemu-img convert -c` writes them.
        let (ok, text) =
            run("qemu-img", &["convert", "-c", "-f", "raw", "-O", "qcow2", s(&raw), s(&theirs)]);
        assert!(ok, "{text}");
        let mut back = Vec::new();
        qcow2::read_to(&mut fs::File::open(&theirs).unwrap(), &mut back).unwrap();
        assert!(back == expected, "{name}: kit's reading of qemu's -c qcow2 differs");
        let mut back = Vec::new();
        qcow2::read_to(&mut Cursor::new(&bytes), &mut back).unwrap();
        assert!(back == expected, "{name}: kit's reading of kit's qcow2 differs");
    }
}

#[test]
fn qcow2_of_a_gibibyte_of_zeros_is_small() {
    let mut disk = ExtentMap::new();
    disk.push_zeros(1 << 30);
    let len = qcow2::write(&disk, &NoBlobs, &qcow2::Qcow2Options::default(), &mut std::io::sink())
        .unwrap();
    assert!(len <= 4 * 65_536, "{len}");
}

#[test]
fn vmdk_against_qemu_img() {
    if !tool("qemu-img") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (name, disk) in disks() {
        if disk.is_empty() {
            // qemu cannot open a zero-capacity VMDK (it makes one but refuses to read it back).
            let options = vmdk::VmdkOptions {
                adapter_type: vmdk::AdapterType::Ide,
                file_name: "empty.vmdk".to_owned(),
                cid: None,
            };
            assert!(matches!(vmdk::to_vec(&disk, &NoBlobs, &options), Err(vmdk::Error::EmptyDisk)));
            continue;
        }
        let raw = write_raw(dir.path(), name, &disk);
        let mut expected = fs::read(&raw).unwrap();
        expected.resize(usize::try_from(disk.len_bytes().next_multiple_of(512)).unwrap(), 0);
        for adapter_type in [vmdk::AdapterType::LsiLogic, vmdk::AdapterType::Ide] {
            let options =
                vmdk::VmdkOptions { adapter_type, file_name: format!("{name}.vmdk"), cid: None };
            let image = dir.path().join(format!("{name}.vmdk"));
            let bytes = vmdk::to_vec(&disk, &NoBlobs, &options).unwrap();
            assert_eq!(bytes, vmdk::to_vec(&disk, &NoBlobs, &options).unwrap());
            fs::write(&image, &bytes).unwrap();
            check_with_qemu("vmdk", dir.path(), name, &disk, &image, &raw);
            let mut back = Vec::new();
            vmdk::read_to(&mut Cursor::new(&bytes), &mut back).unwrap();
            assert!(back == expected, "{name}: kit's reading of kit's vmdk differs");
        }

        // kit reads what qemu-img writes: streamOptimized and the default monolithicSparse.
        for subformat in ["streamOptimized", "monolithicSparse"] {
            let theirs = dir.path().join(format!("{name}.qemu.{subformat}.vmdk"));
            let option = format!("subformat={subformat}");
            let (ok, text) = run(
                "qemu-img",
                &["convert", "-f", "raw", "-O", "vmdk", "-o", &option, s(&raw), s(&theirs)],
            );
            assert!(ok, "{text}");
            let mut back = Vec::new();
            vmdk::read_to(&mut fs::File::open(&theirs).unwrap(), &mut back).unwrap();
            assert!(back == expected, "{name}: kit's reading of qemu's {subformat} vmdk differs");
        }
    }
}

#[test]
fn vmdk_geometry_matches_qemu_img() {
    if !tool("qemu-img") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut disk = ExtentMap::new();
    disk.push_literal(pattern(4096, 9));
    disk.push_zeros(3 * 1024 * MIB);
    let raw = write_raw(dir.path(), "big", &disk);
    for (adapter_type, adapter) in
        [(vmdk::AdapterType::LsiLogic, "lsilogic"), (vmdk::AdapterType::Ide, "ide")]
    {
        let theirs = dir.path().join("theirs.vmdk");
        let option = format!("subformat=streamOptimized,adapter_type={adapter}");
        let (ok, text) = run(
            "qemu-img",
            &["convert", "-f", "raw", "-O", "vmdk", "-o", &option, s(&raw), s(&theirs)],
        );
        assert!(ok, "{text}");
        let ours = vmdk::to_vec(
            &disk,
            &NoBlobs,
            &vmdk::VmdkOptions { adapter_type, file_name: "theirs.vmdk".to_owned(), cid: Some(0) },
        )
        .unwrap();
        let descriptor = |bytes: &[u8]| -> String {
            let text = String::from_utf8_lossy(&bytes[512..512 * 21]).into_owned();
            let text = text.trim_end_matches('\0');
            text.lines().filter(|l| !l.starts_with("CID=")).collect::<Vec<_>>().join("\n")
        };
        assert_eq!(descriptor(&ours), descriptor(&fs::read(&theirs).unwrap()), "{adapter}");
    }
}

#[test]
fn vmdk_of_a_gibibyte_of_zeros_is_small() {
    let mut disk = ExtentMap::new();
    disk.push_zeros(1 << 30);
    let options = vmdk::VmdkOptions {
        adapter_type: vmdk::AdapterType::LsiLogic,
        file_name: "zeros.vmdk".to_owned(),
        cid: None,
    };
    let len = vmdk::write(&disk, &NoBlobs, &options, &mut std::io::sink()).unwrap();
    assert!(len <= 70_000, "{len}");
}

//! Cross-checks of bootable ISO images (El Torito and the hybrid MBR/GPT system area) against
//! xorriso (`-report_el_torito`, `-report_system_area`, osirrox extraction), isoinfo, sfdisk
//! and sgdisk; and kit's reader on images that `xorriso -as mkisofs -e ... -no-emul-boot` makes.
//!
//! Expected reports are derived by hand from the plan of the fixture: the image's sectors
//! follow from the layout documented in `iso9660/plan.rs` (16 system sectors, the primary
//! descriptor, the boot record, the Joliet descriptor, the terminator, 4 path table sectors,
//! then one sector per directory, the Joliet directories, the catalog, then the files in
//! walk order) and xorriso's report columns from its documentation (`man xorriso`,
//! `-report_el_torito`).

mod common;

use std::fs;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use common::{assert_dir_matches, running_as_root, tool};
use formats::iso9660::{
    BiosBoot, ElTorito, Hybrid, IsoOptions, JolietNames, PrimaryNames, read, summary, to_vec,
};
use formats::tree::{Content, Dir, Meta, NoBlobs, Node, NodeKind, Tree};

/// A tree with a boot directory: `boot/efiboot.img` (`efi_len` bytes), a 2048-byte
/// `boot/isolinux.bin`, and a file.
fn boot_tree(efi_len: usize) -> Tree {
    let mut tree = Tree::new(1_700_000_000);
    let file = |data: Vec<u8>| {
        Node::new(NodeKind::File(Content::Inline(Arc::from(data))), Meta::new(0o644, 1_700_000_000))
    };
    let mut boot = Dir::new();
    let efi: Vec<u8> = (0..efi_len).map(|i| u8::try_from(i % 253).unwrap()).collect();
    boot.insert(b"efiboot.img".to_vec(), file(efi));
    boot.insert(b"isolinux.bin".to_vec(), file(vec![0xfa; 2048]));
    tree.root
        .insert(b"boot".to_vec(), Node::new(NodeKind::Dir(boot), Meta::new(0o755, 1_700_000_000)));
    tree.root.insert(b"hello.txt".to_vec(), file(b"hello\n".to_vec()));
    tree
}

fn options(boot: ElTorito) -> IsoOptions {
    IsoOptions {
        volume_id: "KITBOOT".to_owned(),
        epoch: 1_700_000_000,
        primary_names: PrimaryNames::Long31,
        joliet: Some(JolietNames::Long103),
        relocate_deep_directories: true,
        boot: Some(boot),
    }
}

fn efi_only(hybrid: Hybrid) -> ElTorito {
    ElTorito {
        bios: None,
        efi_image: Some(b"/boot/efiboot.img".to_vec()),
        hybrid,
        seed: b"test seed".to_vec(),
    }
}

fn write_image(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, bytes).unwrap();
    path
}

/// Runs `command`; asserts success and returns stdout and stderr together.
fn output(command: &mut Command) -> String {
    let output = command
        .env("TZ", "UTC")
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|err| panic!("spawning {command:?}: {err}"));
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{command:?} failed: {}\n{text}", output.status);
    text
}

/// The lines of xorriso's report that start with one of `prefixes`, columns squeezed.
fn report(image: &Path, what: &str, prefixes: &[&str]) -> String {
    let text = output(Command::new("xorriso").arg("-indev").arg(image).args([what, "plain"]));
    text.lines()
        .filter(|line| prefixes.iter().any(|p| line.starts_with(p)))
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" ") + "\n")
        .collect()
}

// Layout of `boot_tree` with Joliet: 16 system sectors, PVD 16, boot record 17, Joliet 18,
// terminator 19, path tables 20-23, primary directories / and /boot at 24 and 25, the root's
// Rock Ridge continuation area (its ER entry) at 26, Joliet directories at 27 and 28, the
// catalog at 29, then the files in walk order: boot/efiboot.img at 30, boot/isolinux.bin
// after it, hello.txt.
const CATALOG_LBA: u32 = 29;
const EFI_LBA: u32 = 30;

#[test]
fn efi_catalog_and_mbr() {
    if !tool("xorriso") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let efi_len = 2880 * 1024;
    let tree = boot_tree(efi_len);
    let bytes = to_vec(&tree, &NoBlobs, &options(efi_only(Hybrid::Mbr))).unwrap();
    let image = write_image(dir.path(), "efi-mbr.iso", &bytes);
    let efi_sectors = efi_len / 512;
    assert_eq!(
        report(&image, "-report_el_torito", &["El Torito"]),
        format!(
            "El Torito catalog : {CATALOG_LBA} 1\n\
             El Torito images : N Pltf B Emul Ld_seg Hdpt Ldsiz LBA\n\
             El Torito boot img : 1 UEFI y none 0x0000 0x00 {efi_sectors} {EFI_LBA}\n\
             El Torito img path : 1 /boot/efiboot.img\n"
        )
    );
    let volume_blocks = bytes.len() / 512;
    let efi_block = EFI_LBA * 4;
    assert_eq!(
        report(&image, "-report_system_area", &["MBR partition", "GPT", "ISO image size"]),
        format!(
            "ISO image size/512 : {volume_blocks}\n\
             MBR partition table: N Status Type Start Blocks\n\
             MBR partition : 1 0x00 0xef {efi_block} {efi_sectors}\n\
             MBR partition path : 1 /boot/efiboot.img\n"
        )
    );
    if tool("sfdisk") {
        let json = output(Command::new("sfdisk").arg("--json").arg(&image));
        let json = json.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            json.contains(&format!(
                "\"start\": {efi_block}, \"size\": {efi_sectors}, \"type\": \"ef\""
            )),
            "{json}"
        );
    }
    if tool("fdisk") {
        let text = output(Command::new("fdisk").arg("-l").arg(&image));
        let last = efi_block + u32::try_from(efi_sectors).unwrap() - 1;
        let want =
            format!("efi-mbr.iso1 {efi_block} {last} {efi_sectors} 2.8M ef EFI (FAT-12/16/32)");
        assert!(
            text.lines().any(|line| line
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .ends_with(&want)),
            "{text}"
        );
    }
    if tool("isoinfo") {
        let text = output(Command::new("isoinfo").arg("-d").arg("-i").arg(&image));
        assert!(
            text.contains(&format!(
                "El Torito VD version 1 found, boot catalog is in sector {CATALOG_LBA}"
            )),
            "{text}"
        );
    }
    extracts_to_tree(dir.path(), &image, &tree);
}

#[test]
fn efi_gpt() {
    if !tool("xorriso") || !tool("sgdisk") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let efi_len = 2880 * 1024;
    let tree = boot_tree(efi_len);
    let bytes = to_vec(&tree, &NoBlobs, &options(efi_only(Hybrid::Gpt))).unwrap();
    let image = write_image(dir.path(), "efi-gpt.iso", &bytes);
    let volume_blocks = bytes.len() / 512;
    let efi_block = EFI_LBA * 4;
    let efi_sectors = efi_len / 512;
    let text = output(Command::new("sgdisk").arg("-v").arg(&image));
    assert!(text.contains("No problems found."), "{text}");
    let text = output(Command::new("sgdisk").arg("-p").arg(&image));
    let last = efi_block + u32::try_from(efi_sectors).unwrap() - 1;
    assert!(
        text.lines().any(|line| line.split_whitespace().collect::<Vec<_>>()
            == [
                "1",
                &efi_block.to_string(),
                &last.to_string(),
                "2.8",
                "MiB",
                "EF00",
                "EFI",
                "boot",
                "image"
            ]),
        "{text}"
    );
    let system_area = report(
        &image,
        "-report_system_area",
        &["MBR partition ", "GPT start", "GPT type", "GPT lba"],
    );
    assert_eq!(
        system_area,
        format!(
            "MBR partition table: N Status Type Start Blocks\n\
             MBR partition : 1 0x00 0xee 1 {}\n\
             GPT lba range : 34 {} {}\n\
             GPT type GUID : 1 28732ac11ff8d211ba4b00a0c93ec93b\n\
             GPT start and size : 1 {efi_block} {efi_sectors}\n",
            volume_blocks - 1,
            volume_blocks - 34,
            volume_blocks - 1,
        )
    );
    extracts_to_tree(dir.path(), &image, &tree);
}

#[test]
fn bios_and_efi_catalog() {
    if !tool("xorriso") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let efi_len = 40 << 20;
    let tree = boot_tree(efi_len);
    let boot = ElTorito {
        bios: Some(BiosBoot {
            loader: b"boot/isolinux.bin".to_vec(),
            load_sectors: 4,
            boot_info_table: false,
        }),
        ..efi_only(Hybrid::None)
    };
    let bytes = to_vec(&tree, &NoBlobs, &options(boot)).unwrap();
    let image = write_image(dir.path(), "bios-efi.iso", &bytes);
    let bios_lba = EFI_LBA + u32::try_from(efi_len / 2048).unwrap();
    // More than 65535 sectors of 512 bytes: the count is 0, as xorriso writes it.
    assert_eq!(
        report(&image, "-report_el_torito", &["El Torito"]),
        format!(
            "El Torito catalog : {CATALOG_LBA} 1\n\
             El Torito images : N Pltf B Emul Ld_seg Hdpt Ldsiz LBA\n\
             El Torito boot img : 1 BIOS y none 0x0000 0x00 4 {bios_lba}\n\
             El Torito boot img : 2 UEFI y none 0x0000 0x00 0 {EFI_LBA}\n\
             El Torito img path : 1 /boot/isolinux.bin\n\
             El Torito img path : 2 /boot/efiboot.img\n"
        )
    );
    assert!(bytes[..16 * 2048].iter().all(|b| *b == 0));
}

/// osirrox extracts exactly the tree: the catalog is in no directory.
fn extracts_to_tree(dir: &Path, image: &Path, tree: &Tree) {
    let out = dir.join("extracted");
    output(Command::new("osirrox").arg("-indev").arg(image).args(["-extract", "/"]).arg(&out));
    let _ = running_as_root();
    assert_dir_matches(&out, tree);
}

#[test]
fn deterministic_and_read_back() {
    let tree = boot_tree(100_000);
    let options = options(efi_only(Hybrid::Gpt));
    let first = to_vec(&tree, &NoBlobs, &options).unwrap();
    assert_eq!(first, to_vec(&tree, &NoBlobs, &options).unwrap());
    assert_eq!(read(&mut Cursor::new(&first)).unwrap(), tree);
    let other_seed = IsoOptions {
        boot: Some(ElTorito { seed: b"other".to_vec(), ..efi_only(Hybrid::Gpt) }),
        ..options
    };
    assert_ne!(first, to_vec(&tree, &NoBlobs, &other_seed).unwrap());
    let lines = summary(&mut Cursor::new(&first)).unwrap();
    let volume_blocks = first.len() / 512;
    let efi_block = EFI_LBA * 4;
    let efi_last = efi_block + 100_000u32.div_ceil(512) - 1;
    for expected in [
        ("el torito catalog".to_owned(), format!("sector {CATALOG_LBA}")),
        (
            "el torito image 1".to_owned(),
            format!(
                "platform 0xef (EFI), bootable, no emulation, load segment 0x0000, 196 sectors of 512 bytes, sector {EFI_LBA}, /boot/efiboot.img"
            ),
        ),
        (
            "MBR partition 1".to_owned(),
            format!("type 0xee, status 0x00, blocks 1 + {} of 512 bytes", volume_blocks - 1),
        ),
        ("GPT usable LBAs".to_owned(), format!("34..={}", volume_blocks - 34)),
        ("GPT backup header LBA".to_owned(), format!("{}", volume_blocks - 1)),
    ] {
        assert!(lines.contains(&expected), "{expected:?} not in {lines:#?}");
    }
    let partition = lines.iter().find(|(k, _)| k == "GPT partition 1").unwrap();
    assert!(
        partition.1.starts_with(&format!("\"EFI boot image\" LBAs {efi_block}..={efi_last} ")),
        "{partition:?}"
    );
    assert!(partition.1.contains("(EFI System)"), "{partition:?}");
}

/// kit's reader on `xorriso -as mkisofs -R -J -e boot/efiboot.img -no-emul-boot
/// -isohybrid-gpt-basdat` images (with and without `-isohybrid-mbr`, which the GPT needs), the
/// EFI image a FAT image made by mkfs.fat and mcopy: the tree (plus xorriso's visible
/// `boot.catalog`) and the catalog entry and partitions that xorriso reports.
#[test]
fn reads_xorriso_images() {
    if !tool("xorriso") || !mkfs_fat_present() || !tool("mcopy") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir_all(root.join("boot")).unwrap();
    fs::write(root.join("hello.txt"), b"hello\n").unwrap();
    let efi = root.join("boot/efiboot.img");
    output(Command::new("mkfs.fat").args(["-C", "-i", "12345678"]).arg(&efi).arg("2880"));
    output(Command::new("mmd").arg("-i").arg(&efi).args(["::/EFI", "::/EFI/BOOT"]));
    let loader = write_image(dir.path(), "BOOTX64.EFI", b"MZ not really a loader");
    output(Command::new("mcopy").arg("-i").arg(&efi).arg(&loader).arg("::/EFI/BOOT/BOOTX64.EFI"));
    let efi_bytes = fs::read(&efi).unwrap();
    let mbr = write_image(dir.path(), "mbr.bin", &[0u8; 432]);

    for (name, hybrid) in [("plain.iso", false), ("hybrid.iso", true)] {
        let image = dir.path().join(name);
        let mut command = Command::new("xorriso");
        command.args(["-as", "mkisofs", "-R", "-J", "-o"]).arg(&image);
        if hybrid {
            command.arg("-isohybrid-mbr").arg(&mbr);
        }
        command.args(["-e", "boot/efiboot.img", "-no-emul-boot", "-isohybrid-gpt-basdat"]);
        output(command.arg(&root));
        let bytes = fs::read(&image).unwrap();

        let tree = read(&mut Cursor::new(&bytes)).unwrap();
        let content = |path: &[u8]| match tree.get(path).map(|node| &node.kind) {
            Some(NodeKind::File(Content::Inline(data))) => data.to_vec(),
            other => panic!("{}: {other:?}", String::from_utf8_lossy(path)),
        };
        assert_eq!(content(b"boot/efiboot.img"), efi_bytes);
        assert_eq!(content(b"hello.txt"), b"hello\n");
        assert_eq!(content(b"boot.catalog").len(), 2048);
        let mut names = Vec::new();
        tree.walk::<()>(&mut |path, _| {
            names.push(String::from_utf8_lossy(path).into_owned());
            Ok(())
        })
        .unwrap();
        assert_eq!(names, ["boot", "boot/efiboot.img", "boot.catalog", "hello.txt"]);

        // xorriso's view of the catalog: "El Torito boot img : 1 UEFI y none 0x0000 0x00 5760 LBA".
        let reported =
            report(&image, "-report_el_torito", &["El Torito catalog", "El Torito boot img"]);
        let fields: Vec<&str> = reported.split_whitespace().collect();
        let (catalog_lba, efi_lba) = (fields[4], fields[fields.len() - 1]);
        assert_eq!(fields[fields.len() - 2], "5760", "{reported}");
        let lines = summary(&mut Cursor::new(&bytes)).unwrap();
        let get = |key: &str| {
            lines.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).unwrap_or_default()
        };
        assert_eq!(get("el torito catalog"), format!("sector {catalog_lba}"));
        assert_eq!(
            get("el torito image 1"),
            format!(
                "platform 0xef (EFI), bootable, no emulation, load segment 0x0000, 5760 sectors of 512 bytes, sector {efi_lba}, /boot/efiboot.img"
            )
        );
        if hybrid {
            // "MBR partition : 2 0x00 0xef START 5760" in xorriso's report.
            let reported = report(&image, "-report_system_area", &["MBR partition  "]);
            let line = reported.lines().find(|l| l.contains("0xef")).unwrap().to_owned();
            let start = line.split_whitespace().nth(6).unwrap().to_owned();
            assert_eq!(
                get("MBR partition 2"),
                format!("type 0xef, status 0x00, blocks {start} + 5760 of 512 bytes")
            );
            // xorriso's GPT has no 0xEE record in the MBR: formats::gpt refuses it, and the
            // summary says why.
            assert_eq!(get("GPT"), "not a GPT disk: the MBR has no 0xEE protective record");
        } else {
            assert!(!lines.iter().any(|(k, _)| k.starts_with("MBR")), "{lines:?}");
        }
    }
}

/// `-boot-info-table`: the loader in kit's image carries the table that xorriso patches into
/// the same loader (same checksum and length; sectors of each image), the rest unchanged.
#[test]
fn boot_info_table_as_xorriso() {
    if !tool("xorriso") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A loader of 5000 bytes (not a whole number of words after byte 64 would be 4936: it is).
    let loader: Vec<u8> = (0..5001u32).map(|i| u8::try_from((i * 7 + 3) % 256).unwrap()).collect();
    let mut tree = boot_tree(4096);
    if let Some(NodeKind::Dir(entries)) = tree.root.get_mut(&b"boot"[..]).map(|n| &mut n.kind) {
        entries.insert(
            b"isolinux.bin".to_vec(),
            Node::new(
                NodeKind::File(Content::Inline(Arc::from(loader.clone()))),
                Meta::new(0o644, 1_700_000_000),
            ),
        );
    }
    let boot = ElTorito {
        bios: Some(BiosBoot {
            loader: b"boot/isolinux.bin".to_vec(),
            load_sectors: 4,
            boot_info_table: true,
        }),
        efi_image: None,
        hybrid: Hybrid::None,
        seed: Vec::new(),
    };
    let ours = to_vec(&tree, &NoBlobs, &options(boot)).unwrap();
    let root = dir.path().join("root");
    fs::create_dir_all(root.join("boot")).unwrap();
    fs::write(root.join("boot/isolinux.bin"), &loader).unwrap();
    let theirs = dir.path().join("theirs.iso");
    output(
        Command::new("xorriso")
            .args(["-as", "mkisofs", "-R", "-o"])
            .arg(&theirs)
            .args(["-b", "boot/isolinux.bin", "-no-emul-boot", "-boot-load-size", "4"])
            .arg("-boot-info-table")
            .arg(&root),
    );
    let theirs = fs::read(&theirs).unwrap();
    let patched = |image: &[u8]| -> Vec<u8> {
        let tree = read(&mut Cursor::new(image)).unwrap();
        match tree.get(b"boot/isolinux.bin").map(|n| &n.kind) {
            Some(NodeKind::File(Content::Inline(data))) => data.to_vec(),
            other => panic!("{other:?}"),
        }
    };
    let (ours_loader, theirs_loader) = (patched(&ours), patched(&theirs));
    let word = |data: &[u8], at: usize| u32::from_le_bytes(data[at..at + 4].try_into().unwrap());
    // The checksum, computed here from the input.
    let mut tail = loader[64..].to_vec();
    tail.resize(tail.len().next_multiple_of(4), 0);
    let checksum = tail
        .chunks(4)
        .fold(0u32, |sum, w| sum.wrapping_add(u32::from_le_bytes(w.try_into().unwrap())));
    // xorriso's report gives its loader's sector.
    let image = write_image(dir.path(), "ours.iso", &ours);
    let reported = report(&image, "-report_el_torito", &["El Torito boot img"]);
    let our_lba: u32 = reported.split_whitespace().last().unwrap().parse().unwrap();
    for (data, lba) in [(&ours_loader, our_lba), (&theirs_loader, word(&theirs_loader, 12))] {
        assert_eq!(&data[..8], &loader[..8]);
        assert_eq!(word(data, 8), 16, "bi_pvd");
        assert_eq!(word(data, 12), lba, "bi_file");
        assert_eq!(word(data, 16), 5001, "bi_length");
        assert_eq!(word(data, 20), checksum, "bi_csum");
        assert!(data[24..64].iter().all(|b| *b == 0));
        assert_eq!(&data[64..], &loader[64..]);
    }
    assert_eq!(ours_loader[16..], theirs_loader[16..]);
}

/// dosfstools' mkfs.fat has no `--version` (4.2 prints its banner and exits 1).
fn mkfs_fat_present() -> bool {
    match Command::new("mkfs.fat").arg("--help").output() {
        Ok(output) if output.status.success() => true,
        _ => {
            assert!(std::env::var_os("CI").is_none(), "mkfs.fat is required when CI is set");
            eprintln!("skipping: mkfs.fat is not installed");
            false
        }
    }
}

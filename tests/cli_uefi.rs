//! The UEFI formats end to end on the example system: `uki` and `raw-efi` built with the
//! fixtures' boot image (`kit.example/efi-boot:252`, systemd-boot and the EFI stub from Debian),
//! checked by the reference tools (objdump, sgdisk, sfdisk, fsck.fat, mtools), byte-identical
//! under different environments, refused with a clear error before anything is written when the
//! boot image or the size is wrong, and booted under OVMF to the example's marker.
//!
//! Uses the fixture layout of `cargo xtask fixtures` and the tools: skipped locally without
//! them, a failure in CI. The boot is slow (TCG): locally only with `KIT_SLOW_TESTS=1`.

mod support;

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const BOOT_IMAGE: &str = "kit.example/efi-boot:252";

use support::s;

fn build(
    fixtures: &Path,
    out: &Path,
    formats: &str,
    env: &[(&str, &str)],
    extra: &[&str],
) -> Output {
    support::kit_build(fixtures, out, formats, env, extra)
}

fn build_ok(fixtures: &Path, out: &Path, formats: &str, env: &[(&str, &str)], extra: &[&str]) {
    let output = build(fixtures, out, formats, env, extra);
    assert!(output.status.success(), "kit build: {}", String::from_utf8_lossy(&output.stderr));
}

fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The files of the output directory, without the cache.
fn outputs(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != "cache")
        .collect();
    names.sort();
    names
}

#[test]
fn uki_sections_hold_the_kernel_initrd_and_command_line() {
    let Some(fixtures) = support::fixtures_dir() else { return };
    let Some(_) = support::require_tool("objdump") else { return };
    let Some(_) = support::require_tool("objcopy") else { return };
    let out = tempfile::tempdir().unwrap();
    build_ok(&fixtures, out.path(), "uki,kernel+initrd", &[], &["--boot-image", BOOT_IMAGE]);
    let uki = out.path().join("hello.efi");
    let listing = run("objdump", &["-h", s(&uki)]);
    // Section name -> size, from objdump's "Idx Name Size VMA LMA File off Algn" lines.
    let size_of = |name: &str| {
        listing.lines().find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.get(1) == Some(&name)).then(|| u64::from_str_radix(fields[2], 16).unwrap())
        })
    };
    let len = |name: &str| fs::metadata(out.path().join(name)).unwrap().len();
    assert_eq!(size_of(".linux"), Some(len("hello-kernel")), "{listing}");
    assert_eq!(size_of(".initrd"), Some(len("hello-initrd.img")), "{listing}");
    for section in [".osrel", ".cmdline", ".uname", ".sbat", ".text"] {
        assert!(size_of(section).is_some(), "{section} missing:\n{listing}");
    }
    // The exact bytes of the small sections, read back by objcopy.
    let dump = |section: &str| {
        let file = out.path().join(format!("section{section}"));
        run(
            "objcopy",
            &[
                "-O",
                "binary",
                "--dump-section",
                &format!("{section}={}", s(&file)),
                s(&uki),
                s(&out.path().join("scratch")),
            ],
        );
        fs::read(file).unwrap()
    };
    let cmdline = fs::read_to_string(out.path().join("hello-cmdline")).unwrap();
    assert_eq!(
        String::from_utf8(dump(".cmdline")).unwrap(),
        format!("{} text", cmdline.trim_end())
    );
    assert_eq!(dump(".osrel"), b"NAME=\"LinuxKit\"");
    assert!(String::from_utf8(dump(".uname")).unwrap().starts_with("6.1."));
    assert_eq!(dump(".initrd"), fs::read(out.path().join("hello-initrd.img")).unwrap());
    // kit inspect names it a kernel-bearing PE, not an unknown file.
    let inspect =
        Command::new(env!("CARGO_BIN_EXE_kit")).args(["inspect", s(&uki)]).output().unwrap();
    let text = String::from_utf8_lossy(&inspect.stdout);
    assert!(inspect.status.success() && text.contains(".linux"), "{text}");
}

#[test]
fn raw_efi_is_a_clean_gpt_disk_with_a_clean_fat32_esp() {
    let Some(fixtures) = support::fixtures_dir() else { return };
    for tool in ["sgdisk", "sfdisk", "fsck.fat", "mdir", "mcopy"] {
        if support::require_tool(tool).is_none() {
            return;
        }
    }
    let a = tempfile::tempdir().unwrap();
    build_ok(&fixtures, a.path(), "raw-efi,uki", &[("TZ", "UTC")], &["--boot-image", BOOT_IMAGE]);
    let disk = a.path().join("hello-efi.img");
    let b = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let env = [("TZ", "Europe/Paris"), ("TMPDIR", s(tmp.path()))];
    build_ok(&fixtures, b.path(), "raw-efi", &env, &["--boot-image", BOOT_IMAGE]);
    assert_eq!(fs::read(&disk).unwrap(), fs::read(b.path().join("hello-efi.img")).unwrap());

    let verify = run("sgdisk", &["-v", s(&disk)]);
    assert!(verify.contains("No problems found"), "{verify}");
    let table: serde_json::Value =
        serde_json::from_str(&run("sfdisk", &["--json", s(&disk)])).unwrap();
    let table = &table["partitiontable"];
    assert_eq!(table["label"], "gpt");
    let partitions = table["partitions"].as_array().unwrap();
    assert_eq!(partitions.len(), 1);
    let esp = &partitions[0];
    assert_eq!(esp["type"], "C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
    assert_eq!(esp["name"], "EFI System");
    assert_eq!(esp["start"], 2048);
    assert_eq!(esp["attrs"], "LegacyBIOSBootable");
    // Identifiers come from the content: another seed gives other GUIDs, the same bytes else.
    let c = tempfile::tempdir().unwrap();
    build_ok(&fixtures, c.path(), "raw-efi", &[], &["--boot-image", BOOT_IMAGE, "--seed", "other"]);
    let other: serde_json::Value =
        serde_json::from_str(&run("sfdisk", &["--json", s(&c.path().join("hello-efi.img"))]))
            .unwrap();
    assert_ne!(other["partitiontable"]["id"], table["id"]);
    assert_ne!(other["partitiontable"]["partitions"][0]["uuid"], esp["uuid"]);

    // The ESP itself: fsck.fat finds nothing to say, mtools lists LinuxKit's layout.
    let start = esp["start"].as_u64().unwrap() * 512;
    let size = esp["size"].as_u64().unwrap() * 512;
    let bytes = fs::read(&disk).unwrap();
    let esp_image = a.path().join("esp.img");
    fs::write(
        &esp_image,
        &bytes[usize::try_from(start).unwrap()..usize::try_from(start + size).unwrap()],
    )
    .unwrap();
    let fsck = Command::new("fsck.fat").args(["-n", s(&esp_image)]).output().unwrap();
    let text = String::from_utf8_lossy(&fsck.stdout);
    assert!(fsck.status.success(), "fsck.fat: {text}{}", String::from_utf8_lossy(&fsck.stderr));
    assert_eq!(text.lines().count(), 2, "fsck.fat has remarks:\n{text}");
    let listing = run("mdir", &["-/", "-b", "-i", s(&esp_image), "::"]);
    let mut listed: Vec<&str> = listing.lines().map(|l| l.trim_start_matches("::")).collect();
    listed.sort_unstable();
    assert_eq!(
        listed,
        [
            "/EFI/",
            "/EFI/BOOT/",
            "/EFI/BOOT/BOOTX64.EFI",
            "/EFI/Linux/",
            "/EFI/Linux/linuxkit.efi",
            "/loader/",
            "/loader/loader.conf",
        ],
        "{listing}"
    );
    let copied = a.path().join("copied.efi");
    run("mcopy", &["-n", "-i", s(&esp_image), "::/EFI/Linux/linuxkit.efi", s(&copied)]);
    assert_eq!(fs::read(&copied).unwrap(), fs::read(a.path().join("hello.efi")).unwrap());
    let conf = a.path().join("loader.conf");
    run("mcopy", &["-n", "-i", s(&esp_image), "::/loader/loader.conf", s(&conf)]);
    assert_eq!(fs::read_to_string(conf).unwrap(), "timeout 0\n");
    let loader = a.path().join("BOOTX64.EFI");
    run("mcopy", &["-n", "-i", s(&esp_image), "::/EFI/BOOT/BOOTX64.EFI", s(&loader)]);
    assert_eq!(
        fs::read(loader).unwrap(),
        fs::read(fixtures.join("efi/systemd-bootx64.efi")).unwrap()
    );
}

#[test]
fn wrong_boot_images_and_sizes_fail_before_anything_is_written() {
    let Some(fixtures) = support::fixtures_dir() else { return };
    let out = tempfile::tempdir().unwrap();
    // No boot image: a usage error that says what to give.
    let output = build(&fixtures, out.path(), "raw-efi", &[], &[]);
    assert_eq!(output.status.code(), Some(2), "{}", String::from_utf8_lossy(&output.stderr));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("the raw-efi format needs --boot-image"), "{stderr}");
    // A boot image without the EFI binaries: named, with what is missing.
    let output = build(
        &fixtures,
        out.path(),
        "tar,raw-efi",
        &[],
        &["--boot-image", "kit.example/busybox:1.35"],
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("the boot image kit.example/busybox:1.35 has no /usr/lib/systemd/boot/efi/linuxx64.efi.stub"),
        "{stderr}"
    );
    // A disk too small for the ESP.
    let output = build(
        &fixtures,
        out.path(),
        "tar,raw-efi",
        &[],
        &["--boot-image", BOOT_IMAGE, "--size", "20M"],
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("hello-efi.img") && stderr.contains("--size 20M"), "{stderr}");
    assert_eq!(outputs(out.path()), Vec::<String>::new(), "a failed build left files");
    // A boot image that is not signed by a trusted key is refused like any input.
    let unsigned = build(
        &fixtures,
        out.path(),
        "raw-efi",
        &[],
        &["--boot-image", "localhost:5000/lkfix/busybox:1.35"],
    );
    assert_eq!(unsigned.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&unsigned.stderr);
    assert!(stderr.contains("image localhost:5000/lkfix/busybox:1.35 (--boot-image)"), "{stderr}");
    assert!(
        stderr.contains("no rule in") && stderr.contains("matches localhost:5000/lkfix/busybox"),
        "{stderr}"
    );
    // With --size the disk has exactly that size.
    build_ok(&fixtures, out.path(), "raw-efi", &[], &["--boot-image", BOOT_IMAGE, "--size", "64M"]);
    assert_eq!(fs::metadata(out.path().join("hello-efi.img")).unwrap().len(), 64 << 20);
}

#[test]
fn raw_efi_boots_under_ovmf_to_the_marker() {
    let Some(()) = support::require_slow_tests("a UEFI boot of about 15-40 s") else { return };
    let Some(fixtures) = support::fixtures_dir() else { return };
    let Some(qemu) = support::require_tool("qemu-system-x86_64") else { return };
    if !Path::new("/usr/share/OVMF/OVMF_CODE_4M.fd").is_file() {
        support::skip::<()>("OVMF is not installed (Debian package ovmf)");
        return;
    }
    let out = tempfile::tempdir().unwrap();
    build_ok(&fixtures, out.path(), "raw-efi", &[], &["--boot-image", BOOT_IMAGE]);
    let mut options = kit::run::QemuOptions::new(vec![out.path().join("hello-efi.img")]);
    options.qemu = Some(qemu);
    options.memory_mib = 512;
    options.timeout = Some(Duration::from_secs(240));
    options.expect = Some("kit: hello from onboot".to_owned());
    let mut console = Vec::new();
    let outcome = kit::run::run_qemu(&options, &mut |line| console.push(line.to_owned()));
    let outcome = outcome.unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(outcome, kit::run::RunOutcome::Matched { .. }), "{outcome:?}");
    // The UKI's command line (with LinuxKit's " text") is what the kernel ran with.
    assert!(
        console.iter().any(|l| l.contains("Kernel command line: console=ttyS0 panic=-1 text")),
        "{}",
        console.join("\n")
    );
}

#[test]
fn efi_isos_are_el_torito_hybrids_holding_linuxkits_files() {
    let Some(fixtures) = support::fixtures_dir() else { return };
    for tool in ["xorriso", "isoinfo", "sgdisk"] {
        if support::require_tool(tool).is_none() {
            return;
        }
    }
    let a = tempfile::tempdir().unwrap();
    let formats = "iso-efi-initrd,iso-efi,kernel+initrd,tar";
    build_ok(&fixtures, a.path(), formats, &[("TZ", "UTC")], &["--boot-image", BOOT_IMAGE]);
    let b = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    build_ok(
        &fixtures,
        b.path(),
        "iso-efi-initrd,iso-efi",
        &[("TZ", "Asia/Tokyo"), ("TMPDIR", s(tmp.path()))],
        &["--boot-image", BOOT_IMAGE],
    );
    for name in ["hello-efi-initrd.iso", "hello-efi.iso"] {
        let iso = a.path().join(name);
        assert_eq!(fs::read(&iso).unwrap(), fs::read(b.path().join(name)).unwrap(), "{name}");
        // One UEFI no-emulation entry booting the FAT image, and a GPT in the system area.
        let report = Command::new("xorriso")
            .args(["-indev", s(&iso), "-report_el_torito", "plain", "-report_system_area", "plain"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&report.stdout);
        assert!(text.contains("El Torito img path :   1  /boot/efiboot.img"), "{name}: {text}");
        let entry = text.lines().find(|l| l.starts_with("El Torito boot img :")).unwrap();
        let fields: Vec<&str> = entry.split_whitespace().collect();
        assert_eq!(fields[6..9], ["UEFI", "y", "none"], "{entry}");
        assert!(
            text.contains("System area summary: MBR protective-msdos-label cyl-align-off GPT"),
            "{text}"
        );
        let info = run("isoinfo", &["-d", "-i", s(&iso)]);
        assert!(info.contains("El Torito VD version 1 found"), "{info}");
        let verify = run("sgdisk", &["-v", s(&iso)]);
        assert!(verify.contains("No problems found"), "{verify}");
    }
    // iso-efi-initrd holds LinuxKit's /kernel, /initrd.img and /cmdline, as the outputs of
    // kernel+initrd.
    let extracted = a.path().join("initrd-iso");
    run(
        "xorriso",
        &[
            "-osirrox",
            "on",
            "-indev",
            s(&a.path().join("hello-efi-initrd.iso")),
            "-extract",
            "/",
            s(&extracted),
        ],
    );
    for (inside, output) in [
        ("kernel", "hello-kernel"),
        ("initrd.img", "hello-initrd.img"),
        ("cmdline", "hello-cmdline"),
    ] {
        assert_eq!(
            fs::read(extracted.join(inside)).unwrap(),
            fs::read(a.path().join(output)).unwrap(),
            "{inside}"
        );
    }
    // iso-efi holds the whole root: the same files as the tar, plus the El Torito image.
    let diff = Command::new(env!("CARGO_BIN_EXE_kit"))
        .args([
            "inspect",
            "--diff",
            s(&a.path().join("hello.tar")),
            s(&a.path().join("hello-efi.iso")),
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&diff.stdout);
    assert!(text.ends_with("differ: /boot/efiboot.img: only in the second\n"), "{text}");
    // Its UKI names the ISO as the root, with LinuxKit's " text".
    let esp = extracted.with_file_name("whole-iso");
    run(
        "xorriso",
        &[
            "-osirrox",
            "on",
            "-indev",
            s(&a.path().join("hello-efi.iso")),
            "-extract",
            "/boot/efiboot.img",
            s(&esp),
        ],
    );
    let inspect = Command::new(env!("CARGO_BIN_EXE_kit"))
        .args(["inspect", "--json", s(&esp)])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    let uki =
        json["entries"].as_array().unwrap().iter().find(|e| e["path"] == "/EFI/Linux/linuxkit.efi");
    assert!(uki.is_some(), "{json}");
}

#[test]
fn iso_efi_initrd_boots_under_ovmf_as_a_cdrom() {
    let Some(()) = support::require_slow_tests("a UEFI boot of about 15-40 s") else { return };
    let Some(fixtures) = support::fixtures_dir() else { return };
    let Some(qemu) = support::require_tool("qemu-system-x86_64") else { return };
    let out = tempfile::tempdir().unwrap();
    build_ok(&fixtures, out.path(), "iso-efi-initrd", &[], &["--boot-image", BOOT_IMAGE]);
    let mut options = kit::run::QemuOptions::new(vec![out.path().join("hello-efi-initrd.iso")]);
    options.qemu = Some(qemu);
    options.memory_mib = 512;
    options.timeout = Some(Duration::from_secs(240));
    options.expect = Some("kit: hello from onboot".to_owned());
    let outcome = kit::run::run_qemu(&options, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(outcome, kit::run::RunOutcome::Matched { .. }), "{outcome:?}");
}

/// Debian ovmf's Secure Boot test key, decrypted (its passphrase is "snakeoil") into `dir`:
/// (key, certificate). `None` (skip) without ovmf or openssl.
fn snakeoil(dir: &Path) -> Option<(std::path::PathBuf, std::path::PathBuf)> {
    let encrypted = Path::new("/usr/share/ovmf/PkKek-1-snakeoil.key");
    let cert = Path::new("/usr/share/ovmf/PkKek-1-snakeoil.pem");
    if !encrypted.is_file() || !cert.is_file() {
        return support::skip("the ovmf package's snakeoil key is not installed");
    }
    let openssl = support::require_tool("openssl")?;
    let key = dir.join("snakeoil.key");
    let status = Command::new(openssl)
        .args(["pkey", "-in", s(encrypted), "-passin", "pass:snakeoil", "-out", s(&key)])
        .status()
        .unwrap();
    assert!(status.success());
    Some((key, cert.to_path_buf()))
}

#[test]
fn secure_boot_signs_the_uki_and_systemd_boot_deterministically() {
    let Some(fixtures) = support::fixtures_dir() else { return };
    let Some(_) = support::require_tool("sbverify") else { return };
    let keys = tempfile::tempdir().unwrap();
    let Some((key, cert)) = snakeoil(keys.path()) else { return };
    let sign =
        ["--boot-image", BOOT_IMAGE, "--secure-boot-key", s(&key), "--secure-boot-cert", s(&cert)];
    let a = tempfile::tempdir().unwrap();
    build_ok(&fixtures, a.path(), "uki,raw-efi", &[], &sign);
    let b = tempfile::tempdir().unwrap();
    build_ok(&fixtures, b.path(), "uki,raw-efi", &[("TZ", "Asia/Tokyo")], &sign);
    for name in ["hello.efi", "hello-efi.img"] {
        assert_eq!(
            fs::read(a.path().join(name)).unwrap(),
            fs::read(b.path().join(name)).unwrap(),
            "{name}"
        );
    }
    let uki = a.path().join("hello.efi");
    let ok = run("sbverify", &["--cert", s(&cert), s(&uki)]);
    assert!(ok.contains("Signature verification OK"), "{ok}");
    // Another certificate does not verify it.
    let other = keys.path().join("other");
    let openssl = support::require_tool("openssl").unwrap();
    let status = Command::new(openssl)
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=other",
            "-days",
            "30",
        ])
        .args(["-keyout", s(&other.with_extension("key")), "-out", s(&other.with_extension("pem"))])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let refused = Command::new("sbverify")
        .args(["--cert", s(&other.with_extension("pem")), s(&uki)])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    // A key that does not match its certificate is a usage error, before anything is written.
    let out = tempfile::tempdir().unwrap();
    let mismatched = build(
        &fixtures,
        out.path(),
        "uki",
        &[],
        &[
            "--boot-image",
            BOOT_IMAGE,
            "--secure-boot-key",
            s(&other.with_extension("key")),
            "--secure-boot-cert",
            s(&cert),
        ],
    );
    assert_eq!(
        mismatched.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&mismatched.stderr)
    );
    assert_eq!(outputs(out.path()), Vec::<String>::new());
}

#[test]
fn secure_boot_firmware_boots_the_signed_disk_and_refuses_the_unsigned_one() {
    let Some(()) = support::require_slow_tests("two UEFI boots of about 15-40 s") else { return };
    let Some(fixtures) = support::fixtures_dir() else { return };
    let Some(qemu) = support::require_tool("qemu-system-x86_64") else { return };
    let code = Path::new("/usr/share/OVMF/OVMF_CODE_4M.snakeoil.fd");
    let vars = Path::new("/usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd");
    if !code.is_file() || !vars.is_file() {
        support::skip::<()>("OVMF's snakeoil Secure Boot firmware is not installed");
        return;
    }
    let keys = tempfile::tempdir().unwrap();
    let Some((key, cert)) = snakeoil(keys.path()) else { return };
    let signed = tempfile::tempdir().unwrap();
    let sign =
        ["--boot-image", BOOT_IMAGE, "--secure-boot-key", s(&key), "--secure-boot-cert", s(&cert)];
    build_ok(&fixtures, signed.path(), "raw-efi", &[], &sign);
    let unsigned = tempfile::tempdir().unwrap();
    build_ok(&fixtures, unsigned.path(), "raw-efi", &[], &["--boot-image", BOOT_IMAGE]);
    let boot = |disk: &Path, expect: &str| {
        let mut options = kit::run::QemuOptions::new(vec![disk.to_path_buf()]);
        options.qemu = Some(qemu.clone());
        options.memory_mib = 512;
        options.timeout = Some(Duration::from_secs(240));
        options.firmware = Some((code.to_path_buf(), vars.to_path_buf()));
        options.expect = Some(expect.to_owned());
        let mut console = Vec::new();
        let outcome = kit::run::run_qemu(&options, &mut |line| console.push(line.to_owned()));
        (outcome, console)
    };
    let (outcome, console) = boot(&signed.path().join("hello-efi.img"), "kit: hello from onboot");
    assert!(
        matches!(outcome, Ok(kit::run::RunOutcome::Matched { .. })),
        "{outcome:?}\n{}",
        console.join("\n")
    );
    // The same disk unsigned: the firmware refuses systemd-boot, the kernel never starts.
    let (outcome, console) = boot(
        &unsigned.path().join("hello-efi.img"),
        "Access Denied|Security Violation|Linux version",
    );
    let Ok(kit::run::RunOutcome::Matched { line, .. }) = outcome else {
        panic!("{outcome:?}\n{}", console.join("\n"))
    };
    assert!(!line.contains("Linux version"), "an unsigned image booted: {line}");
}

#[test]
fn vm_disks_hold_the_raw_efi_disk_and_boot() {
    let Some(fixtures) = support::fixtures_dir() else { return };
    let Some(_) = support::require_tool("qemu-img") else { return };
    let a = tempfile::tempdir().unwrap();
    let formats = "raw-efi,qcow2-efi,vhdx";
    build_ok(&fixtures, a.path(), formats, &[], &["--boot-image", BOOT_IMAGE]);
    let b = tempfile::tempdir().unwrap();
    build_ok(&fixtures, b.path(), formats, &[("TZ", "Asia/Tokyo")], &["--boot-image", BOOT_IMAGE]);
    let raw = a.path().join("hello-efi.img");
    let raw_len = fs::metadata(&raw).unwrap().len();
    for (name, format) in [("hello-efi.qcow2", "qcow2"), ("hello.vhdx", "vhdx")] {
        let image = a.path().join(name);
        assert_eq!(fs::read(&image).unwrap(), fs::read(b.path().join(name)).unwrap(), "{name}");
        let check =
            Command::new("qemu-img").args(["check", "-f", format, s(&image)]).output().unwrap();
        assert!(check.status.success(), "{name}: {}", String::from_utf8_lossy(&check.stdout));
        let info: serde_json::Value = serde_json::from_str(&run(
            "qemu-img",
            &["info", "--output=json", "-f", format, s(&image)],
        ))
        .unwrap();
        assert_eq!(info["virtual-size"], raw_len, "{name}");
        let same = run("qemu-img", &["compare", "-f", "raw", "-F", format, s(&raw), s(&image)]);
        assert!(same.contains("Images are identical"), "{name}: {same}");
        // Sparse: the free space of the ESP is not stored.
        assert!(fs::metadata(&image).unwrap().len() < raw_len, "{name}");
        let inspect = Command::new(env!("CARGO_BIN_EXE_kit"))
            .args(["inspect", "--json", s(&image)])
            .output()
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
        assert_eq!(json["kind"], format);
    }

    let Some(()) = support::require_slow_tests("two UEFI boots of about 15-40 s") else { return };
    let Some(qemu) = support::require_tool("qemu-system-x86_64") else { return };
    for name in ["hello-efi.qcow2", "hello.vhdx"] {
        let mut options = kit::run::QemuOptions::new(vec![a.path().join(name)]);
        options.qemu = Some(qemu.clone());
        options.memory_mib = 512;
        options.timeout = Some(Duration::from_secs(240));
        options.expect = Some("kit: hello from onboot".to_owned());
        let outcome =
            kit::run::run_qemu(&options, &mut |_| {}).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(matches!(outcome, kit::run::RunOutcome::Matched { .. }), "{name}: {outcome:?}");
    }
}

//! The example system on arm64, built on this (amd64) host with `kit build --arch arm64` from
//! the arm64 manifests of the fixtures' `kit.example/*` indexes (Debian's arm64 packages):
//!
//! - fast: the arm64 UKI is an arm64 PE (machine 0xaa64, also for `kit inspect`); the
//!   amd64 and arm64 raw-efi disks of the same configuration hold the same ESP paths except
//!   `BOOTX64.EFI` and `BOOTAA64.EFI`; an arm64 build with an amd64-only kernel fails before
//!   anything is written, naming the platform;
//! - slow (QEMU TCG, `qemu-system-aarch64 -machine virt -cpu max`, 512 MiB): the example boots
//!   to its onboot marker as kernel+initrd, and as raw-efi under AAVMF (Debian's
//!   qemu-efi-aarch64). Measured on a 2-core machine: about 9 s and 14 s.
//!
//! `examples/arm64.yml` only sets the console to the virt machine's PL011 (`ttyAMA0`).
//! Needs the fixtures and the tools: skipped locally without them, a failure in CI.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use kit::run::{QemuArch, QemuOptions, RunOutcome, run_qemu};

const BOOT_IMAGE: &str = "kit.example/efi-boot:252";
const MARKER: &str = "kit: hello from onboot";

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// `kit build --arch ARCH` of `configs` (relative to the workspace) into `out`.
fn build(fixtures: &Path, out: &Path, arch: &str, formats: &str, configs: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kit"));
    command
        .args(["build", "--offline", "--arch", arch, "--source", s(&fixtures.join("oci"))])
        .args(["--cache", s(&out.join("cache"))])
        .args(["--policy", s(&fixtures.join("example-policy.yaml"))])
        .args(["--format", formats, "--boot-image", BOOT_IMAGE])
        .args(["--epoch", "1700000000", "--dir", s(out)])
        .env_remove("SOURCE_DATE_EPOCH")
        .stdin(Stdio::null());
    for config in configs {
        command.arg(support::workspace_root().join(config));
    }
    command.output().expect("running kit")
}

fn build_ok(fixtures: &Path, out: &Path, arch: &str, formats: &str, configs: &[&str]) {
    let output = build(fixtures, out, arch, formats, configs);
    assert!(
        output.status.success(),
        "kit build --arch {arch}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The arm64 example (with the ttyAMA0 console).
fn build_arm64(fixtures: &Path, out: &Path, formats: &str) {
    build_ok(fixtures, out, "arm64", formats, &["examples/hello.yml", "examples/arm64.yml"]);
}

fn inspect_json(path: &Path) -> serde_json::Value {
    let output = Command::new(env!("CARGO_BIN_EXE_kit"))
        .args(["inspect", "--json", s(path)])
        .output()
        .unwrap();
    assert!(output.status.success(), "kit inspect: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The paths `kit inspect --json` lists in a raw-efi disk.
fn esp_paths(disk: &Path) -> BTreeSet<String> {
    let json = inspect_json(disk);
    json["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn arm64_uki_is_an_aa64_pe_and_the_disks_differ_only_in_the_loader_name() {
    let Some(fixtures) = support::fixtures_dir() else { return };
    let arm = tempfile::tempdir().unwrap();
    let amd = tempfile::tempdir().unwrap();
    build_ok(&fixtures, arm.path(), "arm64", "kernel+initrd,uki,raw-efi", &["examples/hello.yml"]);
    build_ok(&fixtures, amd.path(), "amd64", "raw-efi", &["examples/hello.yml"]);

    // The kernel is the arm64 Image, uncompressed ("ARM\x64" at 0x38).
    let kernel = fs::read(arm.path().join("hello-kernel")).unwrap();
    assert_eq!(&kernel[0x38..0x3c], b"ARM\x64", "hello-kernel is not an arm64 Image");

    // The UKI: machine 0xaa64 in its COFF header, read directly and by `kit inspect` (the
    // host's binutils objdump knows only x86 PE files).
    let uki = arm.path().join("hello.efi");
    let bytes = fs::read(&uki).unwrap();
    let pe = u32::from_le_bytes(bytes[0x3c..0x40].try_into().unwrap()) as usize;
    assert_eq!(&bytes[pe..pe + 4], b"PE\0\0");
    assert_eq!(u16::from_le_bytes([bytes[pe + 4], bytes[pe + 5]]), 0xaa64);
    let output =
        Command::new(env!("CARGO_BIN_EXE_kit")).args(["inspect", s(&uki)]).output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("machine: arm64 (0xaa64)"), "{text}");
    let inspect = inspect_json(&uki);
    assert!(inspect.to_string().contains(".linux"), "{inspect}");

    // The raw-efi disks: the same paths, but for the removable-media loader's name.
    let arm_paths = esp_paths(&arm.path().join("hello-efi.img"));
    let amd_paths = esp_paths(&amd.path().join("hello-efi.img"));
    let only_arm: Vec<&String> = arm_paths.difference(&amd_paths).collect();
    let only_amd: Vec<&String> = amd_paths.difference(&arm_paths).collect();
    assert_eq!(only_arm, ["/p1/EFI/BOOT/BOOTAA64.EFI"], "{arm_paths:?}");
    assert_eq!(only_amd, ["/p1/EFI/BOOT/BOOTX64.EFI"], "{amd_paths:?}");
    // systemd-boot is arm64's own.
    let arm_loader = inspect_json(&arm.path().join("hello-efi.img"))["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == "/p1/EFI/BOOT/BOOTAA64.EFI")
        .unwrap()["sha256"]
        .clone();
    if fixtures.join("efi/systemd-bootaa64.efi").is_file() {
        let want = fs::read(fixtures.join("efi/systemd-bootaa64.efi")).unwrap();
        let digest: String = <sha2::Sha256 as sha2::Digest>::digest(&want)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(arm_loader, serde_json::Value::from(digest));
    }
}

#[test]
fn an_arm64_build_with_an_amd64_only_kernel_fails_before_writing() {
    let Some(fixtures) = support::fixtures_dir() else { return };
    let out = tempfile::tempdir().unwrap();
    // The oracle's kernel is an index with only a linux/amd64 manifest (and unsigned: no policy).
    let config = out.path().join("amd64-kernel.yml");
    fs::write(
        &config,
        "kernel:\n  image: localhost:5000/lkfix/kernel:6.1\n  cmdline: console=ttyAMA0\n\
         init:\n  - localhost:5000/lkfix/init:1\n",
    )
    .unwrap();
    let dir = out.path().join("out");
    let output = Command::new(env!("CARGO_BIN_EXE_kit"))
        .args(["build", "--offline", "--arch", "arm64", "--source", s(&fixtures.join("oci"))])
        .args(["--cache", s(&out.path().join("cache"))])
        .args(["--format", "kernel+initrd", "--dir", s(&dir), s(&config)])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no manifest for platform linux/arm64"), "{stderr}");
    assert!(stderr.contains("linux/amd64"), "{stderr}");
    let written = fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
    assert_eq!(written, 0, "a failed build wrote files");
}

fn aarch64_options(qemu: PathBuf, artifact: PathBuf) -> QemuOptions {
    let mut options = QemuOptions::new(vec![artifact]);
    options.arch = QemuArch::Aarch64;
    options.qemu = Some(qemu);
    options.memory_mib = 512;
    // TCG aarch64: about 9-14 s on a quiet 2-core machine; generous for a loaded one.
    options.timeout = Some(Duration::from_secs(420));
    options
}

fn boot(options: &QemuOptions, what: &str) -> Vec<String> {
    let started = Instant::now();
    let mut console = Vec::new();
    let outcome = run_qemu(options, &mut |line| {
        eprintln!("console: {line}");
        console.push(line.to_owned());
    });
    let outcome = outcome.unwrap_or_else(|e| panic!("{e}"));
    eprintln!("{what}: {outcome:?} after {:.1} s", started.elapsed().as_secs_f64());
    assert!(
        matches!(outcome, RunOutcome::Matched { .. } | RunOutcome::Exited { .. }),
        "{outcome:?}"
    );
    assert!(console.iter().any(|l| l == MARKER), "no marker:\n{}", console.join("\n"));
    console
}

#[test]
fn arm64_example_boots_as_kernel_and_initrd() {
    let Some(()) = support::require_slow_tests("an aarch64 TCG boot of about 10-60 s") else {
        return;
    };
    let Some(fixtures) = support::fixtures_dir() else { return };
    let Some(qemu) = support::require_tool("qemu-system-aarch64") else { return };
    let out = tempfile::tempdir().unwrap();
    build_arm64(&fixtures, out.path(), "kernel+initrd");
    // No --expect: the poweroff container ends the run (QEMU runs with -no-reboot).
    let options = aarch64_options(qemu, out.path().join("hello"));
    let console = boot(&options, "arm64 kernel+initrd");
    let position = |wanted: &str| console.iter().position(|l| l == wanted);
    let welcome = position("Welcome to kit's example system").expect("the init did not run");
    let marker = position(MARKER).unwrap();
    assert!(welcome < marker, "out of order:\n{}", console.join("\n"));
    assert!(
        console.iter().any(|l| l.contains("Machine model: linux,dummy-virt")),
        "not the virt machine:\n{}",
        console.join("\n")
    );
}

#[test]
fn arm64_raw_efi_boots_under_aavmf() {
    let Some(()) = support::require_slow_tests("an aarch64 UEFI boot of about 15-90 s") else {
        return;
    };
    let Some(fixtures) = support::fixtures_dir() else { return };
    let Some(qemu) = support::require_tool("qemu-system-aarch64") else { return };
    if !Path::new("/usr/share/AAVMF/AAVMF_CODE.fd").is_file() {
        support::skip::<()>("AAVMF is not installed (Debian package qemu-efi-aarch64)");
        return;
    }
    let out = tempfile::tempdir().unwrap();
    build_arm64(&fixtures, out.path(), "raw-efi");
    let mut options = aarch64_options(qemu, out.path().join("hello-efi.img"));
    options.expect = Some(MARKER.to_owned());
    let console = boot(&options, "arm64 raw-efi under AAVMF");
    // The UKI's command line (with LinuxKit's " text") is what the kernel ran with.
    assert!(
        console.iter().any(|l| l.contains("Kernel command line: console=ttyAMA0 panic=-1 text")),
        "{}",
        console.join("\n")
    );
}

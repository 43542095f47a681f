//! Cross-checks of the UKI builder on the real systemd EFI stub against binutils (`objdump -h`,
//! `objdump -p`, `objcopy --dump-section`) and osslsigncode (PE checksum and Authenticode
//! digest).
//!
//! The stub comes from Debian's `systemd-boot-efi` package: `formats/tests/get-efi-stub.sh DIR`
//! downloads and unpacks it and prints the path to give as `KIT_EFI_STUB_X64`. Without that
//! variable the tests skip (and fail when `CI` is set).
//!
//! Expected values are derived from the stub's own `objdump -h` listing and the placement rules
//! of ukify v255, recomputed here by hand, not copied from kit's output.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::tool;
use formats::pe::{image_digest, parse_headers};
use formats::tree::{Content, NoBlobs};
use formats::uki::{Arch, UkiOptions, UkiSections, build, image_checksum, read};
use sha2::{Digest, Sha256};

/// The x86-64 systemd EFI stub: `KIT_EFI_STUB_X64`, else the one `cargo xtask fixtures` unpacks
/// from Debian's systemd-boot-efi into `target/kit-fixtures/efi/` (or `$KIT_FIXTURES_DIR/efi/`);
/// `None` (skip) when neither exists, outside CI.
fn stub() -> Option<Vec<u8>> {
    let path = match std::env::var_os("KIT_EFI_STUB_X64") {
        Some(path) => std::path::PathBuf::from(path),
        None => {
            let fixtures = match std::env::var_os("KIT_FIXTURES_DIR") {
                Some(dir) => std::path::PathBuf::from(dir),
                None => std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("..")
                    .join("target")
                    .join("kit-fixtures"),
            };
            fixtures.join("efi").join("linuxx64.efi.stub")
        }
    };
    if path.is_file() {
        return Some(fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display())));
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} is missing: run `cargo xtask fixtures`, or set KIT_EFI_STUB_X64 \
         (formats/tests/get-efi-stub.sh downloads it)",
        path.display()
    );
    eprintln!("skipping: no EFI stub at {}", path.display());
    None
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| u8::try_from(i % 253).unwrap() ^ seed).collect()
}

/// The contents: a 1 MiB + 3 bytes initrd and a 3 MiB + 1 byte "kernel" (the stub is not run).
fn contents() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (".osrel", b"ID=kit\nPRETTY_NAME=\"kit test\"\n".to_vec()),
        (".cmdline", b"console=ttyS0 quiet".to_vec()),
        (".uname", b"6.1.0-test-amd64".to_vec()),
        (".initrd", pattern((1 << 20) + 3, 0x11)),
        (".linux", [&b"MZ"[..], &pattern(3 << 20, 0x22)[..]].concat()),
    ]
}

fn uki_sections(contents: &[(&'static str, Vec<u8>)]) -> UkiSections {
    let get = |name: &str| {
        let data = &contents.iter().find(|(n, _)| *n == name).unwrap().1;
        Content::Inline(Arc::from(&data[..]))
    };
    UkiSections {
        osrel: get(".osrel"),
        cmdline: get(".cmdline"),
        uname: get(".uname"),
        initrd: get(".initrd"),
        linux: get(".linux"),
        dtb: None,
        splash: None,
    }
}

/// Builds the UKI into `dir/uki.efi`.
fn build_uki(dir: &Path, stub: &[u8]) -> PathBuf {
    let path = dir.join("uki.efi");
    let mut file = fs::File::create(&path).unwrap();
    let options = UkiOptions { arch: Arch::X86_64 };
    build(stub, &uki_sections(&contents()), &options, &NoBlobs, &mut file).unwrap();
    path
}

fn output(command: &mut Command) -> (bool, String) {
    let out = command.env("LC_ALL", "C").output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// One section of `objdump -h`: (size, VMA, file offset, alignment, flags).
type ObjdumpSection = (u64, u64, u64, String, String);

/// Parses `objdump -h`: two lines per section.
fn objdump_sections(path: &Path) -> BTreeMap<String, (usize, ObjdumpSection)> {
    let (ok, text) = output(Command::new("objdump").arg("-h").arg(path));
    assert!(ok, "{text}");
    let lines: Vec<&str> = text.lines().collect();
    let mut sections = BTreeMap::new();
    for (idx, line) in lines.iter().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() == 7 && fields[0].parse::<usize>().is_ok() {
            let hex = |s: &str| u64::from_str_radix(s, 16).unwrap();
            let flags = lines.get(idx + 1).map_or("", |l| l.trim()).to_owned();
            sections.insert(
                fields[1].to_owned(),
                (
                    fields[0].parse().unwrap(),
                    (hex(fields[2]), hex(fields[3]), hex(fields[5]), fields[6].to_owned(), flags),
                ),
            );
        }
    }
    sections
}

/// The `objdump -p` value of `key` (first word after it).
fn objdump_p(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|line| {
            line.strip_prefix(key)
                .map(|rest| rest.split_whitespace().next().unwrap_or("").to_owned())
        })
        .unwrap_or_else(|| panic!("no {key} in objdump -p output"))
}

#[test]
fn objdump_sees_the_sections_where_ukify_puts_them() {
    let Some(stub) = stub() else { return };
    if !tool("objdump") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("stub.efi"), &stub).unwrap();
    let uki = build_uki(dir.path(), &stub);
    let before = objdump_sections(&dir.path().join("stub.efi"));
    let after = objdump_sections(&uki);
    let (_, stub_p) = output(Command::new("objdump").arg("-p").arg(dir.path().join("stub.efi")));
    let hex = |s: String| u64::from_str_radix(&s, 16).unwrap();
    let section_alignment = hex(objdump_p(&stub_p, "SectionAlignment"));
    let file_alignment = hex(objdump_p(&stub_p, "FileAlignment"));

    // The stub's sections are unchanged.
    for (name, (idx, section)) in &before {
        assert_eq!(after.get(name), Some(&(*idx, section.clone())), "stub section {name}");
    }
    // New sections: VMA after the previous section's end, rounded up to SectionAlignment; file
    // offset after the previous data, rounded up to FileAlignment (the stub's data ends with its
    // last section, its symbol table being cut); size = content length.
    let mut vma_end = before.values().map(|(_, s)| s.1 + s.0).max().unwrap();
    let mut file_end =
        before.values().map(|(_, s)| s.2 + s.0.next_multiple_of(file_alignment)).max().unwrap();
    let mut idx = before.len();
    for (name, data) in contents() {
        let size = u64::try_from(data.len()).unwrap();
        let vma = vma_end.next_multiple_of(section_alignment);
        let offset = file_end.next_multiple_of(file_alignment);
        let (found_idx, (found_size, found_vma, found_offset, align, flags)) =
            after.get(name).unwrap_or_else(|| panic!("{name} missing from objdump -h"));
        assert_eq!(
            (*found_idx, *found_size, *found_vma, *found_offset),
            (idx, size, vma, offset),
            "{name}: index, size, VMA, file offset"
        );
        // BFD shows the alignment it infers for PE sections: 2**2 for read-only sections
        // without IMAGE_SCN_ALIGN_* bits, like the stub's own .sbat.
        assert_eq!(align, &before[".sbat"].1.3, "{name} alignment");
        let kind = if name == ".linux" { "CODE" } else { "DATA" };
        assert_eq!(flags, &format!("CONTENTS, ALLOC, LOAD, READONLY, {kind}"), "{name} flags");
        vma_end = vma + size;
        file_end = offset + size;
        idx += 1;
    }
    assert_eq!(after.len(), idx);

    let (_, uki_p) = output(Command::new("objdump").arg("-p").arg(&uki));
    let size_of_image = hex(objdump_p(&uki_p, "SizeOfImage"));
    assert_eq!(size_of_image, vma_end.next_multiple_of(section_alignment));
    assert_eq!(fs::metadata(&uki).unwrap().len(), file_end.next_multiple_of(file_alignment));
    let bytes = fs::read(&uki).unwrap();
    let check_sum = hex(objdump_p(&uki_p, "CheckSum"));
    assert_eq!(check_sum, u64::from(image_checksum(&bytes).unwrap()));
    assert_eq!(objdump_p(&uki_p, "SizeOfHeaders"), objdump_p(&stub_p, "SizeOfHeaders"));
    // SizeOfInitializedData grows by every added section's size (.linux too, as ukify does).
    let added: u64 = contents().iter().map(|(_, d)| u64::try_from(d.len()).unwrap()).sum();
    assert_eq!(
        hex(objdump_p(&uki_p, "SizeOfInitializedData")),
        hex(objdump_p(&stub_p, "SizeOfInitializedData")) + added
    );
    // Characteristics unchanged (ukify v255's output keeps them too).
    assert_eq!(objdump_p(&uki_p, "Characteristics"), objdump_p(&stub_p, "Characteristics"));
    let entry_cert = uki_p.lines().find(|l| l.starts_with("Entry 4")).unwrap().to_owned();
    assert!(entry_cert.starts_with("Entry 4 0000000000000000 00000000"), "{entry_cert}");
}

#[test]
fn objcopy_extracts_the_contents() {
    let Some(stub) = stub() else { return };
    if !tool("objcopy") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let uki = build_uki(dir.path(), &stub);
    for (name, data) in contents() {
        let out = dir.path().join(format!("{}.bin", &name[1..]));
        let (ok, text) = output(
            Command::new("objcopy")
                .arg("--dump-section")
                .arg(format!("{name}={}", out.display()))
                .arg(&uki)
                .arg(dir.path().join("scratch.efi")),
        );
        assert!(ok, "{text}");
        let dumped = fs::read(&out).unwrap();
        assert!(
            dumped == data,
            "{name}: objcopy gives {} bytes, expected {}",
            dumped.len(),
            data.len()
        );
    }
    // kit's reader hashes the same bytes.
    let read_back = read(&mut fs::File::open(&uki).unwrap()).unwrap();
    for (name, data) in contents() {
        let section = read_back.sections.iter().find(|s| s.header.name() == name).unwrap();
        assert_eq!(section.sha256, <[u8; 32]>::from(Sha256::digest(&data)), "{name}");
    }
    assert_eq!(read_back.check_sum, read_back.computed_check_sum);
}

#[test]
fn checksums_match_binutils_and_osslsigncode() {
    let Some(stub) = stub() else { return };
    // binutils wrote the stub's CheckSum (over a file of odd length, with its symbol table).
    let headers = parse_headers(&stub).unwrap();
    assert_eq!(image_checksum(&stub).unwrap(), headers.optional.check_sum, "stub CheckSum");
    if !tool("osslsigncode") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let uki = build_uki(dir.path(), &stub);
    let (_, text) = output(Command::new("osslsigncode").arg("verify").arg("-in").arg(&uki));
    // Unsigned, so verification fails, after printing the checksum: one "PE checksum" line when
    // the stored and calculated values agree, "Current" and "Calculated" lines when not.
    assert!(!text.contains("Calculated PE checksum"), "{text}");
    let stored = text
        .lines()
        .find_map(|l| l.strip_prefix("PE checksum"))
        .map(|v| v.trim_start_matches([' ', ':']).trim().to_owned())
        .unwrap_or_else(|| panic!("no PE checksum in:\n{text}"));
    let bytes = fs::read(&uki).unwrap();
    assert_eq!(stored, format!("{:08X}", image_checksum(&bytes).unwrap()));
    // A damaged checksum is reported with both values.
    let mut damaged = bytes.clone();
    let at = parse_headers(&bytes).unwrap().checksum_offset();
    damaged[at] ^= 1;
    let damaged_path = dir.path().join("damaged.efi");
    fs::write(&damaged_path, &damaged).unwrap();
    let (_, text) =
        output(Command::new("osslsigncode").arg("verify").arg("-in").arg(&damaged_path));
    assert!(text.contains(&format!("Calculated PE checksum: {stored}")), "{text}");
}

#[test]
fn authenticode_digest_matches_osslsigncode() {
    let Some(stub) = stub() else { return };
    if !tool("osslsigncode") {
        return;
    }
    let has_openssl =
        Command::new("openssl").arg("version").output().is_ok_and(|o| o.status.success());
    if !has_openssl {
        assert!(std::env::var_os("CI").is_none(), "openssl is required when CI is set");
        eprintln!("skipping: openssl is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let uki = build_uki(dir.path(), &stub);
    // A throwaway self-signed certificate: osslsigncode prints the digest it computes when it
    // verifies a signature, whatever the trust in the signer.
    let (ok, text) = output(
        Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=kit test",
            ])
            .arg("-keyout")
            .arg(dir.path().join("key.pem"))
            .arg("-out")
            .arg(dir.path().join("cert.pem")),
    );
    assert!(ok, "{text}");
    let signed = dir.path().join("signed.efi");
    let (ok, text) = output(
        Command::new("osslsigncode")
            .arg("sign")
            .arg("-certs")
            .arg(dir.path().join("cert.pem"))
            .arg("-key")
            .arg(dir.path().join("key.pem"))
            .arg("-h")
            .arg("sha256")
            .arg("-in")
            .arg(&uki)
            .arg("-out")
            .arg(&signed),
    );
    assert!(ok, "{text}");
    let (_, text) = output(Command::new("osslsigncode").arg("verify").arg("-in").arg(&signed));
    let digest = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim_start_matches([' ', ':']).trim().to_owned())
            .unwrap_or_else(|| panic!("no {key} in:\n{text}"))
    };
    let ours: String = image_digest(&mut fs::File::open(&uki).unwrap())
        .unwrap()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    assert_eq!(digest("Calculated message digest"), ours, "{text}");
    assert_eq!(digest("Current message digest"), ours, "{text}");
    // kit's digest of the signed file is the same: the certificate table is left out.
    let signed_bytes = fs::read(&signed).unwrap();
    let of_signed: String = image_digest(&mut Cursor::new(&signed_bytes))
        .unwrap()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    assert_eq!(of_signed, ours);
}

#[test]
fn same_inputs_same_bytes() {
    let Some(stub) = stub() else { return };
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let a = fs::read(build_uki(dir_a.path(), &stub)).unwrap();
    let b = fs::read(build_uki(dir_b.path(), &stub)).unwrap();
    assert!(a == b);
}

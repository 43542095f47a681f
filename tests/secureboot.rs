//! Authenticode signatures made by `kit::secureboot` on real EFI binaries (systemd-boot, the
//! systemd EFI stub and a UKI built from it), checked by the reference tools: sbverify
//! (sbsigntool) accepts them with the signer's certificate and refuses them with another one or
//! after a byte of the image changes; osslsigncode verifies them and computes the same message
//! digest as `formats::pe::image_digest`; sbsign's signature of the same image holds the same
//! `SpcIndirectDataContent`. Signing is deterministic and re-signing replaces the signature.
//! Debian's OVMF snakeoil key signs too, and (slow, `KIT_SLOW_TESTS=1` or CI) OVMF with that key
//! enrolled boots a systemd-boot signed by kit and refuses an unsigned one.
//!
//! Keys and certificates are made with openssl at test time. Tools and fixtures missing: skipped
//! locally, a failure in CI.

mod support;

use std::fs;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use der::{Decode, Encode};
use kit::secureboot::{Signer, sign_pe};

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn output(program: &Path, args: &[&str]) -> Output {
    Command::new(program).args(args).stdin(Stdio::null()).output().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The tools every test here needs, with their versions printed.
struct Tools {
    openssl: PathBuf,
    sbverify: PathBuf,
    osslsigncode: PathBuf,
}

fn tools() -> Option<Tools> {
    let tools = Tools {
        openssl: support::require_tool("openssl")?,
        sbverify: support::require_tool("sbverify")?,
        osslsigncode: support::require_tool("osslsigncode")?,
    };
    eprintln!("{}", text(&output(&tools.openssl, &["version"])).trim());
    eprintln!("{}", text(&output(&tools.sbverify, &["--version"])).trim());
    eprintln!(
        "{}",
        text(&output(&tools.osslsigncode, &["--version"])).lines().next().unwrap_or("")
    );
    Some(tools)
}

/// `fixtures/efi/NAME` (systemd-boot and the EFI stub from Debian's systemd-boot-efi).
fn efi_fixture(name: &str) -> Option<Vec<u8>> {
    let fixtures = support::fixtures_dir()?;
    let path = fixtures.join("efi").join(name);
    match fs::read(&path) {
        Ok(bytes) => Some(bytes),
        Err(error) => support::skip(&format!("{}: {error}", path.display())),
    }
}

/// An RSA-2048 key and self-signed certificate, as the brief's `openssl req` makes them:
/// `DIR/NAME.key`, `DIR/NAME.pem`.
fn make_key(tools: &Tools, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let key = dir.join(format!("{name}.key"));
    let cert = dir.join(format!("{name}.pem"));
    let result = output(
        &tools.openssl,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=kit-test",
            "-days",
            "3650",
            "-keyout",
            s(&key),
            "-out",
            s(&cert),
        ],
    );
    assert!(result.status.success(), "openssl req: {}", text(&result));
    (key, cert)
}

/// A UKI built by `formats::uki` from the stub, with small sections.
fn uki(stub: &[u8]) -> Vec<u8> {
    let inline = |data: &[u8]| formats::tree::Content::Inline(Arc::from(data));
    let linux: Vec<u8> = (0..300_000u32).map(|i| u8::try_from(i % 251).unwrap()).collect();
    let sections = formats::uki::UkiSections {
        osrel: inline(b"ID=kit\nNAME=kit\n"),
        cmdline: inline(b"console=ttyS0"),
        uname: inline(b"6.1.0-kit"),
        initrd: inline(&[7u8; 12_345]),
        linux: inline(&linux),
        dtb: None,
        splash: None,
    };
    let options = formats::uki::UkiOptions { arch: formats::uki::Arch::X86_64 };
    formats::uki::to_vec(stub, &sections, &options, &formats::tree::NoBlobs).unwrap()
}

fn digest_hex(image: &[u8]) -> String {
    hex::encode_upper(formats::pe::image_digest(&mut Cursor::new(image)).unwrap())
}

fn sbverify(tools: &Tools, cert: &Path, image: &Path) -> Output {
    output(&tools.sbverify, &["--cert", s(cert), s(image)])
}

fn assert_sbverify_ok(tools: &Tools, cert: &Path, image: &Path) {
    let result = sbverify(tools, cert, image);
    let said = text(&result);
    assert!(
        result.status.success() && said.contains("Signature verification OK"),
        "sbverify --cert {} {}: {said}",
        cert.display(),
        image.display()
    );
}

fn assert_sbverify_fails(tools: &Tools, cert: &Path, image: &Path) {
    let result = sbverify(tools, cert, image);
    let said = text(&result);
    assert!(
        !result.status.success() && said.contains("Signature verification failed"),
        "sbverify --cert {} {} should fail: {said}",
        cert.display(),
        image.display()
    );
}

/// The value after `label` on osslsigncode's output lines.
fn osslsigncode_field<'a>(said: &'a str, label: &str) -> Vec<&'a str> {
    said.lines()
        .filter_map(|line| line.trim().strip_prefix(label)?.trim_start().strip_prefix(':'))
        .map(str::trim)
        .collect()
}

/// The DER PKCS #7 in the image's certificate table, after the 8-byte WIN_CERTIFICATE header;
/// checks the header and the data directory.
fn signature_der(image: &[u8]) -> Vec<u8> {
    let headers = formats::pe::parse_headers(image).unwrap();
    let table = headers.certificate_table();
    let start = usize::try_from(table.virtual_address).unwrap();
    let size = usize::try_from(table.size).unwrap();
    assert_eq!(start % 8, 0, "the table is 8-byte aligned");
    assert_eq!(start + size, image.len(), "the table ends the file");
    let header = &image[start..start + 8];
    let length = usize::try_from(u32::from_le_bytes(header[..4].try_into().unwrap())).unwrap();
    assert_eq!(u16::from_le_bytes([header[4], header[5]]), 0x0200, "wRevision");
    assert_eq!(u16::from_le_bytes([header[6], header[7]]), 0x0002, "wCertificateType");
    assert_eq!(length.next_multiple_of(8), size, "dwLength {length} padded to the table size");
    image[start + 8..start + length].to_vec()
}

/// The `SpcIndirectDataContent` (DER) in a PKCS #7 Authenticode signature: the TLV after the
/// `[0]` that follows the OID SPC_INDIRECT_DATA_OBJID.
fn spc_indirect_data_content(pkcs7: &[u8]) -> Vec<u8> {
    let marker =
        [&[0x06, 0x0A, 0x2B, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x01, 0x04][..], &[0xA0]]
            .concat();
    let at = pkcs7.windows(marker.len()).position(|w| w == marker).expect("SPC_INDIRECT_DATA [0]");
    let explicit = der::asn1::AnyRef::from_der(
        &pkcs7[at + marker.len() - 1..][..der_len(&pkcs7[at + marker.len() - 1..])],
    )
    .unwrap();
    explicit.value().to_vec()
}

/// The length of the DER TLV at the start of `der`.
fn der_len(der: &[u8]) -> usize {
    let mut reader = der::SliceReader::new(der).unwrap();
    let header = der::Header::decode(&mut reader).unwrap();
    let header_len = usize::try_from(header.encoded_len().unwrap()).unwrap();
    header_len + usize::try_from(header.length()).unwrap()
}

/// Signs each fixture image and checks it with sbverify and osslsigncode.
#[test]
fn signed_efi_binaries_verify_with_sbverify_and_osslsigncode() {
    let Some(tools) = tools() else { return };
    let Some(systemd_boot) = efi_fixture("systemd-bootx64.efi") else { return };
    let Some(stub) = efi_fixture("linuxx64.efi.stub") else { return };
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = make_key(&tools, dir.path(), "kit");
    let (_, other_cert) = make_key(&tools, dir.path(), "other");
    let signer = Signer::from_files(&key, &cert).unwrap();

    for (name, image) in [
        ("systemd-bootx64.efi", systemd_boot),
        ("linuxx64.efi.stub", stub.clone()),
        ("uki.efi", uki(&stub)),
    ] {
        let signed = sign_pe(&image, &signer).unwrap();
        let path = dir.path().join(name);
        fs::write(&path, &signed).unwrap();

        // The data directory, WIN_CERTIFICATE header and padding.
        let pkcs7 = signature_der(&signed);
        assert!(
            signed.starts_with(&image[..64]),
            "{name}: the headers before the PE header are kept"
        );

        // The digest firmware recomputes is the digest of the unsigned image (padded to 8).
        let mut padded = image.clone();
        padded.resize(image.len().next_multiple_of(8), 0);
        assert_eq!(digest_hex(&signed), digest_hex(&padded), "{name}");

        // The checksum is recomputed.
        let headers = formats::pe::parse_headers(&signed).unwrap();
        assert_eq!(
            headers.optional.check_sum,
            formats::pe::checksum::checksum(&signed, headers.checksum_offset()),
            "{name}: CheckSum"
        );

        assert_sbverify_ok(&tools, &cert, &path);
        assert_sbverify_fails(&tools, &other_cert, &path);

        let result = output(&tools.osslsigncode, &["verify", "-in", s(&path), "-CAfile", s(&cert)]);
        let said = text(&result);
        assert!(result.status.success(), "osslsigncode verify {name}: {said}");
        assert!(said.contains("Signature verification: ok"), "{name}: {said}");
        let digest = digest_hex(&signed);
        assert_eq!(
            osslsigncode_field(&said, "Current message digest"),
            [digest.as_str()],
            "{said}"
        );
        assert_eq!(
            osslsigncode_field(&said, "Calculated message digest"),
            [digest.as_str()],
            "{said}"
        );
        assert!(!said.contains("Signing time"), "{name}: no signingTime attribute: {said}");
        let checksum = format!("{:08X}", headers.optional.check_sum);
        assert_eq!(osslsigncode_field(&said, "PE checksum"), [checksum.as_str()], "{said}");

        // The signed attributes' message digest is SHA-256 of the SpcIndirectDataContent's
        // contents (without its SEQUENCE header), and that content holds the image digest.
        let indirect = spc_indirect_data_content(&pkcs7);
        let header_len = {
            let mut reader = der::SliceReader::new(&indirect).unwrap();
            let header = der::Header::decode(&mut reader).unwrap();
            usize::try_from(header.encoded_len().unwrap()).unwrap()
        };
        use sha2::Digest as _;
        let attribute_digest = hex::encode_upper(sha2::Sha256::digest(&indirect[header_len..]));
        assert_eq!(
            osslsigncode_field(&said, "Message digest"),
            [attribute_digest.as_str()],
            "{said}"
        );
        assert!(indirect.ends_with(&hex::decode(&digest).unwrap()), "{name}");
    }
}

#[test]
fn signing_is_deterministic_and_replaces_a_signature() {
    let Some(tools) = tools() else { return };
    let Some(image) = efi_fixture("systemd-bootx64.efi") else { return };
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = make_key(&tools, dir.path(), "kit");
    let (other_key, other_cert) = make_key(&tools, dir.path(), "other");
    let signer = Signer::from_files(&key, &cert).unwrap();
    let other = Signer::from_files(&other_key, &other_cert).unwrap();

    let signed = sign_pe(&image, &signer).unwrap();
    assert_eq!(signed, sign_pe(&image, &signer).unwrap(), "same inputs, same bytes");
    // A new Signer from the same files signs the same bytes too.
    assert_eq!(signed, sign_pe(&image, &Signer::from_files(&key, &cert).unwrap()).unwrap());
    // Signing a signed image replaces its signature: the result is as if signed once.
    assert_eq!(sign_pe(&signed, &signer).unwrap(), signed);
    let resigned = sign_pe(&signed, &other).unwrap();
    assert_eq!(resigned, sign_pe(&image, &other).unwrap());
    let path = dir.path().join("resigned.efi");
    fs::write(&path, &resigned).unwrap();
    assert_sbverify_ok(&tools, &other_cert, &path);
    assert_sbverify_fails(&tools, &cert, &path);
    let listed = text(&output(&tools.sbverify, &["--list", s(&path)]));
    let signatures = listed.lines().filter(|line| line.starts_with("signature ")).count();
    assert_eq!(signatures, 1, "one signature: {listed}");
}

#[test]
fn a_modified_image_no_longer_verifies() {
    let Some(tools) = tools() else { return };
    let Some(image) = efi_fixture("systemd-bootx64.efi") else { return };
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = make_key(&tools, dir.path(), "kit");
    let signer = Signer::from_files(&key, &cert).unwrap();
    let signed = sign_pe(&image, &signer).unwrap();

    // One byte in the first section's raw data, then one in the headers (not the checksum).
    let headers = formats::pe::parse_headers(&signed).unwrap();
    let section = &headers.sections[0];
    let in_section = usize::try_from(section.pointer_to_raw_data).unwrap() + 100;
    let in_headers = headers.section_table_offset() - 1 - 8 * 6; // A data directory entry.
    for (what, at) in [("section data", in_section), ("headers", in_headers)] {
        let mut modified = signed.clone();
        modified[at] ^= 0x01;
        let path = dir.path().join("modified.efi");
        fs::write(&path, &modified).unwrap();
        let result = sbverify(&tools, &cert, &path);
        assert!(!result.status.success(), "{what} changed at {at}: {}", text(&result));
        let result = output(&tools.osslsigncode, &["verify", "-in", s(&path), "-CAfile", s(&cert)]);
        assert!(!result.status.success(), "osslsigncode, {what} changed: {}", text(&result));
    }
}

/// sbsign signs the same image: its signature carries a signingTime (so its bytes differ), but
/// its `SpcIndirectDataContent` — the PE image data and the image digest — is the same bytes.
#[test]
fn sbsign_writes_the_same_spc_indirect_data_content() {
    let Some(tools) = tools() else { return };
    let Some(sbsign) = support::require_tool("sbsign") else { return };
    let Some(image) = efi_fixture("systemd-bootx64.efi") else { return };
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = make_key(&tools, dir.path(), "kit");
    let unsigned = dir.path().join("unsigned.efi");
    fs::write(&unsigned, &image).unwrap();
    let theirs = dir.path().join("sbsign.efi");
    let result = output(
        &sbsign,
        &["--key", s(&key), "--cert", s(&cert), "--output", s(&theirs), s(&unsigned)],
    );
    assert!(result.status.success(), "sbsign: {}", text(&result));
    let theirs = fs::read(&theirs).unwrap();
    let ours = sign_pe(&image, &Signer::from_files(&key, &cert).unwrap()).unwrap();
    assert_eq!(
        hex::encode(spc_indirect_data_content(&signature_der(&ours))),
        hex::encode(spc_indirect_data_content(&signature_der(&theirs)))
    );
    // The image before the certificate table is the same too (same padding and data
    // directory rule), apart from the CheckSum and the data directory's size.
    let headers = formats::pe::parse_headers(&ours).unwrap();
    let table_at = usize::try_from(headers.certificate_table().virtual_address).unwrap();
    let mut ours_body = ours[..table_at].to_vec();
    let mut theirs_body = theirs[..table_at].to_vec();
    let checksum_at = headers.checksum_offset();
    let size_at = headers.directory_offset(4).unwrap() + 4;
    for body in [&mut ours_body, &mut theirs_body] {
        body[checksum_at..checksum_at + 4].fill(0);
        body[size_at..size_at + 4].fill(0);
    }
    assert!(ours_body == theirs_body, "bodies differ");
}

#[test]
fn debian_snakeoil_key_signs() {
    let Some(tools) = tools() else { return };
    let Some((key, cert)) = snakeoil(&tools) else { return };
    let Some(image) = efi_fixture("systemd-bootx64.efi") else { return };
    let signed = sign_pe(&image, &Signer::from_files(&key, &cert).unwrap()).unwrap();
    let path = key.with_file_name("signed.efi");
    fs::write(&path, &signed).unwrap();
    assert_sbverify_ok(&tools, &cert, &path);
    let (_, other_cert) = make_key(&tools, key.parent().unwrap(), "other");
    assert_sbverify_fails(&tools, &other_cert, &path);
}

/// Debian ovmf's snakeoil key, decrypted (its password is "snakeoil", README.Debian) into a
/// temporary directory that lives as long as the test process, and its certificate.
fn snakeoil(tools: &Tools) -> Option<(PathBuf, PathBuf)> {
    let encrypted = Path::new("/usr/share/ovmf/PkKek-1-snakeoil.key");
    let cert = PathBuf::from("/usr/share/ovmf/PkKek-1-snakeoil.pem");
    if !encrypted.is_file() || !cert.is_file() {
        return support::skip("ovmf's snakeoil key is not installed (Debian package ovmf)");
    }
    let dir = tempfile::tempdir().unwrap().keep();
    let key = dir.join("snakeoil.key");
    let result = output(
        &tools.openssl,
        &["pkey", "-in", s(encrypted), "-passin", "pass:snakeoil", "-out", s(&key)],
    );
    assert!(result.status.success(), "openssl pkey: {}", text(&result));
    // The encrypted file itself is refused with a clear message.
    let error = Signer::from_files(encrypted, &cert).unwrap_err().to_string();
    assert!(error.contains("PkKek-1-snakeoil.key: private key: the key is encrypted"), "{error}");
    Some((key, cert))
}

/// Boots OVMF with the snakeoil key enrolled (PK, KEK, db) and Secure Boot on, from a FAT
/// directory whose EFI/BOOT/BOOTX64.EFI is systemd-boot signed by kit: systemd-boot starts;
/// then unsigned: the firmware refuses it ("Access Denied").
#[test]
fn ovmf_secure_boot_starts_systemd_boot_signed_by_kit() {
    let Some(()) = support::require_slow_tests("Secure Boot under OVMF") else { return };
    let Some(tools) = tools() else { return };
    let Some(qemu) = support::require_tool("qemu-system-x86_64") else { return };
    let code = Path::new("/usr/share/OVMF/OVMF_CODE_4M.snakeoil.fd");
    let vars = Path::new("/usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd");
    if !code.is_file() || !vars.is_file() {
        support::skip::<()>("OVMF snakeoil firmware is not installed (Debian package ovmf)");
        return;
    }
    let Some((key, cert)) = snakeoil(&tools) else { return };
    let Some(image) = efi_fixture("systemd-bootx64.efi") else { return };
    let signed = sign_pe(&image, &Signer::from_files(&key, &cert).unwrap()).unwrap();

    let signed_console = boot(&qemu, code, vars, &signed);
    eprintln!("signed boot console (tail):\n{}", tail(&signed_console));
    let unsigned_console = boot(&qemu, code, vars, &image);
    eprintln!("unsigned boot console (tail):\n{}", tail(&unsigned_console));

    // The firmware starts the signed image from the FAT disk, and systemd-boot draws its menu
    // (with no entries: "Reboot Into Firmware Interface" and a countdown).
    let harddisk = "Boot0002 \"UEFI QEMU HARDDISK QM00001 \"";
    assert!(
        signed_console.contains(&format!("starting {harddisk}"))
            && signed_console.contains("Reboot Into Firmware Interface"),
        "signed systemd-boot did not start:\n{signed_console}"
    );
    // The unsigned one is refused: "failed to load … Access Denied".
    assert!(
        !unsigned_console.contains("Reboot Into Firmware Interface"),
        "unsigned systemd-boot started:\n{unsigned_console}"
    );
    let refused = unsigned_console.lines().any(|line| {
        line.contains(&format!("failed to load {harddisk}")) && line.ends_with("Access Denied")
    });
    assert!(refused, "the firmware should refuse the unsigned image:\n{unsigned_console}");
}

fn tail(console: &str) -> String {
    let lines: Vec<&str> = console.lines().collect();
    lines[lines.len().saturating_sub(25)..].join("\n")
}

/// Boots `efi` as EFI/BOOT/BOOTX64.EFI for at most 90 s; returns the serial console output
/// with ANSI escapes removed.
fn boot(qemu: &Path, code: &Path, vars: &Path, efi: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let esp = dir.path().join("esp");
    fs::create_dir_all(esp.join("EFI/BOOT")).unwrap();
    fs::write(esp.join("EFI/BOOT/BOOTX64.EFI"), efi).unwrap();
    let vars_copy = dir.path().join("vars.fd");
    fs::copy(vars, &vars_copy).unwrap();
    let log = dir.path().join("serial.log");
    let mut child = Command::new(qemu)
        .args(["-machine", "q35", "-accel", "tcg", "-m", "512", "-display", "none", "-net", "none"])
        .arg("-drive")
        .arg(format!("if=pflash,format=raw,unit=0,readonly=on,file={}", code.display()))
        .arg("-drive")
        .arg(format!("if=pflash,format=raw,unit=1,file={}", vars_copy.display()))
        .arg("-drive")
        .arg(format!("file=fat:rw:{},format=raw", esp.display()))
        .arg("-serial")
        .arg(format!("file:{}", log.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut console = String::new();
    while started.elapsed() < Duration::from_secs(90) {
        std::thread::sleep(Duration::from_secs(2));
        console = clean(&fs::read(&log).unwrap_or_default());
        let done = console.contains("Access Denied")
            || console.contains("Security Violation")
            || console.contains("Reboot Into Firmware Interface");
        if done {
            // Let the screen finish drawing.
            std::thread::sleep(Duration::from_secs(3));
            console = clean(&fs::read(&log).unwrap_or_default());
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    console
}

/// The console bytes as text without ANSI escape sequences.
fn clean(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for next in chars.by_ref() {
                    if next.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            out.push(' ');
        } else if c != '\r' {
            out.push(c);
        }
    }
    out
}

/// Images with corrupted headers or cut short are refused with an error or signed, never a
/// panic; a certificate table that is not at the end of the file is refused.
#[test]
fn damaged_images_give_errors_not_panics() {
    let Some(tools) = tools() else { return };
    let Some(image) = efi_fixture("systemd-bootx64.efi") else { return };
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = make_key(&tools, dir.path(), "kit");
    let signer = Signer::from_files(&key, &cert).unwrap();

    let signed = sign_pe(&image, &signer).unwrap();
    let mut trailing = signed.clone();
    trailing.extend_from_slice(&[0xAA; 16]);
    let error = sign_pe(&trailing, &signer).unwrap_err().to_string();
    assert!(error.contains("is not at the end of the"), "{error}");

    // A deterministic xorshift picks which header byte to change and how.
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (mut signed_count, mut refused) = (0, 0);
    for _ in 0..300 {
        let mut damaged = if next() % 2 == 0 { image.clone() } else { signed.clone() };
        for _ in 0..1 + next() % 3 {
            let at = usize::try_from(next() % 1024).unwrap();
            damaged[at] = u8::try_from(next() % 256).unwrap();
        }
        match sign_pe(&damaged, &signer) {
            Ok(out) => {
                signed_count += 1;
                formats::pe::image_digest(&mut Cursor::new(&out)).unwrap();
            }
            Err(_) => refused += 1,
        }
    }
    for len in [0, 1, 63, 64, 200, 511, 1024, image.len() / 2, image.len() - 1] {
        let _ = sign_pe(&image[..len], &signer);
    }
    eprintln!("damaged headers: {signed_count} signed, {refused} refused");
    assert!(refused > 0 && signed_count > 0);
}

/// An ECDSA P-256 key signs too (RFC 6979 nonces: deterministic); sbverify and osslsigncode
/// accept the signature.
#[test]
fn ecdsa_p256_signatures_verify() {
    let Some(tools) = tools() else { return };
    let Some(image) = efi_fixture("systemd-bootx64.efi") else { return };
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("ec.key");
    let cert = dir.path().join("ec.pem");
    let result = output(
        &tools.openssl,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=kit-test-ec",
            "-days",
            "3650",
            "-keyout",
            s(&key),
            "-out",
            s(&cert),
        ],
    );
    assert!(result.status.success(), "openssl req: {}", text(&result));
    let signer = Signer::from_files(&key, &cert).unwrap();
    let signed = sign_pe(&image, &signer).unwrap();
    assert_eq!(signed, sign_pe(&image, &signer).unwrap());
    let path = dir.path().join("signed.efi");
    fs::write(&path, &signed).unwrap();
    assert_sbverify_ok(&tools, &cert, &path);
    let (_, other_cert) = make_key(&tools, dir.path(), "other");
    assert_sbverify_fails(&tools, &other_cert, &path);
    let result = output(&tools.osslsigncode, &["verify", "-in", s(&path), "-CAfile", s(&cert)]);
    let said = text(&result);
    assert!(result.status.success() && said.contains("Signature verification: ok"), "{said}");
}

/// A UKI of about 100 MB (the size of a large kernel and initrd) signs in memory in a few
/// seconds and verifies; slow (`KIT_SLOW_TESTS=1` or CI).
#[test]
fn a_100_mb_uki_signs_and_verifies() {
    let Some(()) = support::require_slow_tests("signing a 100 MB UKI") else { return };
    let Some(tools) = tools() else { return };
    let Some(stub) = efi_fixture("linuxx64.efi.stub") else { return };
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = make_key(&tools, dir.path(), "kit");
    let signer = Signer::from_files(&key, &cert).unwrap();
    let inline = |data: Vec<u8>| formats::tree::Content::Inline(Arc::from(data));
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let noise: Vec<u8> = (0..100_000_003u32)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect();
    let sections = formats::uki::UkiSections {
        osrel: inline(b"ID=kit\n".to_vec()),
        cmdline: inline(b"console=ttyS0".to_vec()),
        uname: inline(b"6.1.0-kit".to_vec()),
        initrd: inline(noise),
        linux: inline(vec![0x4D; 12_000_000]),
        dtb: None,
        splash: None,
    };
    let options = formats::uki::UkiOptions { arch: formats::uki::Arch::X86_64 };
    let image = formats::uki::to_vec(&stub, &sections, &options, &formats::tree::NoBlobs).unwrap();
    let started = Instant::now();
    let signed = sign_pe(&image, &signer).unwrap();
    let elapsed = started.elapsed();
    eprintln!("signed a {} byte UKI in {elapsed:?}", image.len());
    let path = dir.path().join("big.efi");
    fs::write(&path, &signed).unwrap();
    assert_sbverify_ok(&tools, &cert, &path);
    let result = output(&tools.osslsigncode, &["verify", "-in", s(&path), "-CAfile", s(&cert)]);
    assert!(result.status.success(), "osslsigncode: {}", text(&result));
}

/// `sign_pe_stream` from a file to a file writes the bytes `sign_pe` returns.
#[test]
fn streaming_from_a_file_gives_the_same_bytes() {
    let Some(tools) = tools() else { return };
    let Some(stub) = efi_fixture("linuxx64.efi.stub") else { return };
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = make_key(&tools, dir.path(), "kit");
    let signer = Signer::from_files(&key, &cert).unwrap();
    let image = uki(&stub);
    // An already signed input, so the old table is dropped while streaming too.
    let (other_key, other_cert) = make_key(&tools, dir.path(), "other");
    let signed_by_other = sign_pe(&image, &Signer::from_files(&other_key, &other_cert).unwrap());
    for (name, input) in [("unsigned", image.clone()), ("signed", signed_by_other.unwrap())] {
        let input_path = dir.path().join(format!("{name}.efi"));
        fs::write(&input_path, &input).unwrap();
        let output_path = dir.path().join(format!("{name}-out.efi"));
        let mut out = std::io::BufWriter::new(fs::File::create(&output_path).unwrap());
        let len = kit::secureboot::sign_pe_stream(
            &mut fs::File::open(&input_path).unwrap(),
            &mut out,
            &signer,
        )
        .unwrap();
        drop(out);
        let streamed = fs::read(&output_path).unwrap();
        assert_eq!(u64::try_from(streamed.len()).unwrap(), len, "{name}");
        assert!(streamed == sign_pe(&image, &signer).unwrap(), "{name}: streamed bytes differ");
        assert_sbverify_ok(&tools, &cert, &output_path);
    }
}

//! Unit tests of the Authenticode signer: the DER helpers, the `SpcIndirectDataContent` bytes,
//! the `SignedData` layout, and the errors for keys and certificates that cannot be used.
//! Keys and certificates are made with `openssl` at test time (skipped locally without it, a
//! failure when `CI` is set); tests/secureboot.rs checks signed EFI images with sbverify and
//! osslsigncode.

use std::path::{Path, PathBuf};
use std::process::Command;

use der::{Decode, Reader, SliceReader, Tag, TagNumber, Tagged};
use expect_test::{Expect, expect};

use super::*;

/// Runs `openssl` with `args` in `dir`; `None` (skip) when openssl is missing and CI is unset.
#[allow(clippy::print_stderr, reason = "a skipped test says why")]
fn openssl(dir: &Path, args: &[&str]) -> Option<()> {
    match Command::new("openssl").args(args).current_dir(dir).output() {
        Ok(output) => {
            assert!(
                output.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            Some(())
        }
        Err(error) => {
            let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
            assert!(!ci, "CI is set and openssl cannot run: {error}");
            eprintln!("skipping: openssl cannot run: {error}");
            None
        }
    }
}

/// A key (`key.pem`) and self-signed certificate (`cert.pem`) made by `openssl req` with
/// `newkey` (`rsa:2048`, `ec -pkeyopt …`).
fn key_and_cert(dir: &Path, name: &str, newkey: &[&str]) -> Option<(PathBuf, PathBuf)> {
    let key = format!("{name}.key");
    let cert = format!("{name}.pem");
    let mut args = vec!["req", "-x509", "-nodes", "-subj", "/CN=kit-test", "-days", "3650"];
    args.extend_from_slice(newkey);
    args.extend_from_slice(&["-keyout", &key, "-out", &cert]);
    openssl(dir, &args)?;
    Some((dir.join(key), dir.join(cert)))
}

fn rsa2048(dir: &Path, name: &str) -> Option<(PathBuf, PathBuf)> {
    key_and_cert(dir, name, &["-newkey", "rsa:2048"])
}

/// Loads `key` and `cert` and shows the error (or "ok").
fn check_load(key: &[u8], cert: &[u8], expect: Expect) {
    let actual = match Signer::from_pem(key, cert) {
        Ok(signer) => format!("ok: {}-bit key", signer.key_bits()),
        Err(error) => error.to_string(),
    };
    expect.assert_eq(&actual);
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

#[test]
fn tlv_lengths_are_minimal_definite() {
    let header = |len: usize| {
        let der = tlv(OCTET_STRING, &vec![0u8; len]);
        assert_eq!(der.len() - header_len(&der), len);
        // der agrees on where the contents start and how long they are.
        let mut reader = SliceReader::new(&der).unwrap();
        let parsed = der::Header::decode(&mut reader).unwrap();
        assert_eq!(usize::try_from(parsed.length()).unwrap(), len);
        hex::encode(&der[..header_len(&der)])
    };
    assert_eq!(header(0), "0400");
    assert_eq!(header(127), "047f");
    assert_eq!(header(128), "048180");
    assert_eq!(header(255), "0481ff");
    assert_eq!(header(256), "04820100");
    assert_eq!(header(65_536), "0483010000");
}

#[test]
fn set_of_is_sorted_by_encoding() {
    let set = set(&[&[0x04, 0x01, 0x02], &[0x02, 0x01, 0x05], &[0x04, 0x00]]);
    assert_eq!(hex::encode(set), "31080201050400040102");
}

#[test]
fn spc_indirect_data_content_bytes() {
    // Decoded by hand: SEQUENCE { SEQUENCE { OID 1.3.6.1.4.1.311.2.1.15, SEQUENCE { BIT STRING
    // (empty), [0] { [2] { [0] "<<<Obsolete>>>" (BMPString) } } } }, SEQUENCE { SEQUENCE { OID
    // 2.16.840.1.101.3.4.2.1, NULL }, OCTET STRING (32 bytes) } }. tests/secureboot.rs checks
    // that sbsign writes the same bytes for the same image.
    let der = spc_indirect_data_content(&[0x11; 32]);
    let bounds = [0, 2, 4, 16, 18, 21, 23, 25, 27, 55, 57, 72, 74, der.len()];
    let lines: Vec<String> = bounds.windows(2).map(|w| hex::encode(&der[w[0]..w[1]])).collect();
    expect![[r#"
        3068
        3033
        060a2b06010401823702010f
        3025
        030100
        a020
        a21e
        801c
        003c003c003c004f00620073006f006c006500740065003e003e003e
        3031
        300d06096086480165030402010500
        0420
        1111111111111111111111111111111111111111111111111111111111111111"#]]
    .assert_eq(&lines.join("\n"));
    assert_eq!(header_len(&der), 2);
}

#[test]
fn signed_data_layout_and_determinism() {
    let dir = tempfile::tempdir().unwrap();
    let Some((key, cert)) = rsa2048(dir.path(), "kit") else { return };
    let signer = Signer::from_files(&key, &cert).unwrap();
    let digest = [0x5A; 32];
    let signed = signer.authenticode_signed_data(&digest).unwrap();
    assert_eq!(signed, signer.authenticode_signed_data(&digest).unwrap(), "deterministic");
    assert_ne!(signed, signer.authenticode_signed_data(&[0x5B; 32]).unwrap());

    // ContentInfo { signedData, [0] SignedData { version 1, digestAlgorithms, contentInfo,
    // [0] certificates, signerInfos } }, walked with der's reader.
    let mut outer = SliceReader::new(&signed).unwrap();
    let content_info = der::asn1::AnyRef::decode(&mut outer).unwrap();
    assert!(outer.is_finished());
    assert_eq!(content_info.tag(), Tag::Sequence);
    let mut reader = SliceReader::new(content_info.value()).unwrap();
    assert_eq!(ObjectIdentifier::decode(&mut reader).unwrap(), PKCS7_SIGNED_DATA);
    let explicit = der::asn1::AnyRef::decode(&mut reader).unwrap();
    assert_eq!(explicit.tag(), Tag::ContextSpecific { constructed: true, number: TagNumber(0) });
    let signed_data = der::asn1::AnyRef::from_der(explicit.value()).unwrap();
    let mut fields = SliceReader::new(signed_data.value()).unwrap();
    let mut tags = Vec::new();
    let mut certificate = None;
    let mut content = None;
    while !fields.is_finished() {
        let field = der::asn1::AnyRef::decode(&mut fields).unwrap();
        if field.tag() == (Tag::ContextSpecific { constructed: true, number: TagNumber(0) }) {
            certificate = Some(field.value().to_vec());
        }
        if tags.len() == 2 {
            content = Some(field.value().to_vec());
        }
        tags.push(format!("{}", field.tag()));
    }
    expect![[r#"["INTEGER", "SET", "SEQUENCE", "CONTEXT-SPECIFIC [0] (constructed)", "SET"]"#]]
        .assert_eq(&format!("{tags:?}"));
    assert_eq!(certificate.unwrap(), signer.certificate_der());
    // The content is SPC_INDIRECT_DATA_OBJID and [0] the SpcIndirectDataContent.
    let expected = [oid(SPC_INDIRECT_DATA), tlv(CONTEXT_0, &spc_indirect_data_content(&digest))];
    assert_eq!(content.unwrap(), expected.concat());
}

#[test]
fn signer_info_signature_verifies_over_the_attributes_as_a_set() {
    use rsa::signature::Verifier as _;
    let dir = tempfile::tempdir().unwrap();
    let Some((key, cert)) = rsa2048(dir.path(), "kit") else { return };
    let signer = Signer::from_files(&key, &cert).unwrap();
    let digest = [0x42; 32];
    let signed = signer.authenticode_signed_data(&digest).unwrap();
    let indirect = spc_indirect_data_content(&digest);
    let message_digest: [u8; 32] = Sha256::digest(&indirect[2..]).into();
    // The attributes as signed: a SET, the three attributes sorted by encoding.
    let content_type = seq(&[&oid(PKCS9_CONTENT_TYPE), &set(&[&oid(SPC_INDIRECT_DATA)])]);
    let digest_attr = seq(&[&oid(PKCS9_MESSAGE_DIGEST), &set(&[&octet_string(&message_digest)])]);
    let opus = seq(&[&oid(SPC_SP_OPUS_INFO), &set(&[&seq(&[])])]);
    // DER order compares whole encodings, lengths included: 30 10 (opus), 30 19, 30 2f.
    let attributes = [opus, content_type, digest_attr].concat();
    let implicit = tlv(CONTEXT_0, &attributes);
    let at = signed.windows(implicit.len()).position(|w| w == implicit).expect("attributes");
    // After the attributes: AlgorithmIdentifier rsaEncryption, then the signature.
    let rsa_algorithm = seq(&[&oid(RSA_ENCRYPTION), &NULL]);
    let after = &signed[at + implicit.len()..];
    assert!(after.starts_with(&rsa_algorithm));
    let signature_der = &after[rsa_algorithm.len()..];
    let signature = &signature_der[header_len(signature_der)..];
    assert_eq!(signature.len(), 256);

    let public = rsa::pkcs1v15::VerifyingKey::<Sha256>::new(
        rsa::PublicKey::from_public_key_der(
            &Certificate::from_der(signer.certificate_der())
                .unwrap()
                .tbs_certificate()
                .subject_public_key_info()
                .to_der()
                .unwrap(),
        )
        .unwrap(),
    );
    let signature = rsa::pkcs1v15::Signature::try_from(signature).unwrap();
    public.verify(&tlv(SET, &attributes), &signature).unwrap();
    assert!(public.verify(&implicit, &signature).is_err(), "signed as SET, not as [0]");
}

#[test]
fn keys_and_certificates_that_cannot_be_used() {
    let dir = tempfile::tempdir().unwrap();
    let Some((key, cert)) = rsa2048(dir.path(), "a") else { return };
    let Some((other_key, other_cert)) = rsa2048(dir.path(), "b") else { return };
    let (key, cert) = (read(&key), read(&cert));
    check_load(&key, &cert, expect![["ok: 2048-bit key"]]);
    check_load(
        &read(&other_key),
        &cert,
        expect![[
            r#"the certificate does not match the private key: the certificate's public key differs from the key's"#
        ]],
    );
    let _ = other_cert;
    check_load(
        &cert,
        &key,
        expect![[
            r#"private key: found a CERTIFICATE, expected a PRIVATE KEY (are the key and certificate swapped?)"#
        ]],
    );
    check_load(
        &key,
        &key,
        expect![[
            r#"certificate: PEM block is "PRIVATE KEY", expected "CERTIFICATE" (are the key and certificate swapped?)"#
        ]],
    );
    check_load(b"", &cert, expect![[r#"private key: no PEM block ("-----BEGIN " not found)"#]]);
    check_load(
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n",
        &cert,
        expect![[r#"private key: PEM block has no END line"#]],
    );
    check_load(
        b"-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n",
        &cert,
        expect![
            "private key: PKCS #8 structure does not decode: PKCS#8 ASN.1 error: ASN.1 DER message is incomplete: expected 3, actual 2 at DER byte 2"
        ],
    );
    check_load(
        &key,
        b"-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",
        expect![
            "certificate: X.509 certificate does not decode: ASN.1 DER message is incomplete: expected 3, actual 2 at DER byte 2"
        ],
    );

    // Text before the PEM block (as `openssl x509 -text` writes) is skipped.
    let mut with_text = b"Certificate:\n    Data: ...\n".to_vec();
    with_text.extend_from_slice(&cert);
    check_load(&key, &with_text, expect![["ok: 2048-bit key"]]);

    // An encrypted key is refused with the command that decrypts it.
    let Some(()) = openssl(
        dir.path(),
        &["pkcs8", "-topk8", "-in", "a.key", "-out", "enc.key", "-passout", "pass:secret"],
    ) else {
        return;
    };
    check_load(
        &read(&dir.path().join("enc.key")),
        &cert,
        expect![[
            r#"private key: the key is encrypted, expected an unencrypted key (decrypt it with `openssl pkey -in KEY -out PLAIN`)"#
        ]],
    );

    // A PKCS #1 ("RSA PRIVATE KEY") key is accepted.
    let Some(()) =
        openssl(dir.path(), &["rsa", "-in", "a.key", "-out", "pkcs1.key", "-traditional"])
    else {
        return;
    };
    check_load(&read(&dir.path().join("pkcs1.key")), &cert, expect![["ok: 2048-bit key"]]);

    // Too small, and not RSA.
    let Some((small_key, small_cert)) = key_and_cert(dir.path(), "small", &["-newkey", "rsa:1024"])
    else {
        return;
    };
    check_load(
        &read(&small_key),
        &read(&small_cert),
        expect![[r#"private key: RSA key of 1024 bits, expected at least 2048 bits"#]],
    );

    // ECDSA: P-256 in PKCS #8 and SEC1 is accepted, with its own certificate only; other curves
    // and Ed25519 are refused.
    let p256 = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
    let Some((ec_key, ec_cert)) = key_and_cert(dir.path(), "ec", &p256) else { return };
    let (ec_key, ec_cert) = (read(&ec_key), read(&ec_cert));
    check_load(&ec_key, &ec_cert, expect![["ok: 256-bit key"]]);
    check_load(
        &key,
        &ec_cert,
        expect![
            "certificate: public key is an EC (id-ecPublicKey), expected RSA (rsaEncryption, 1.2.840.113549.1.1.1) as the private key"
        ],
    );
    check_load(
        &ec_key,
        &cert,
        expect![
            "certificate: public key is an RSA (rsaEncryption), expected EC P-256 as the private key"
        ],
    );
    let Some(()) = openssl(dir.path(), &["ec", "-in", "ec.key", "-out", "sec1.key"]) else {
        return;
    };
    check_load(&read(&dir.path().join("sec1.key")), &ec_cert, expect![["ok: 256-bit key"]]);
    let Some((other_ec_key, _)) = key_and_cert(dir.path(), "ec2", &p256) else { return };
    check_load(
        &read(&other_ec_key),
        &ec_cert,
        expect![
            "the certificate does not match the private key: the certificate's public key differs from the key's"
        ],
    );
    let p384 = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"];
    let Some((p384_key, p384_cert)) = key_and_cert(dir.path(), "p384", &p384) else { return };
    check_load(
        &read(&p384_key),
        &read(&p384_cert),
        expect![
            "private key: EC key is not a P-256 key: public key error: unknown/unsupported algorithm OID: 1.3.132.0.34"
        ],
    );
    let Some((ed_key, ed_cert)) = key_and_cert(dir.path(), "ed", &["-newkey", "ed25519"]) else {
        return;
    };
    check_load(
        &read(&ed_key),
        &read(&ed_cert),
        expect!["private key: an Ed25519 key, expected an RSA or EC P-256 key"],
    );
}

#[test]
fn ecdsa_signatures_are_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let p256 = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
    let Some((key, cert)) = key_and_cert(dir.path(), "ec", &p256) else { return };
    let signer = Signer::from_files(&key, &cert).unwrap();
    let signed = signer.authenticode_signed_data(&[1; 32]).unwrap();
    assert_eq!(signed, signer.authenticode_signed_data(&[1; 32]).unwrap());
    let algorithm = seq(&[&oid(ECDSA_WITH_SHA256)]);
    assert!(signed.windows(algorithm.len()).any(|w| w == algorithm));
}

#[test]
fn file_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let Some((key, cert)) = rsa2048(dir.path(), "a") else { return };
    let Some((other_key, _)) = rsa2048(dir.path(), "b") else { return };
    let show = |key: &Path, cert: &Path| {
        let error = Signer::from_files(key, cert).unwrap_err().to_string();
        error.replace(&dir.path().display().to_string(), "DIR")
    };
    expect![[r#"DIR/a.pem: private key: found a CERTIFICATE, expected a PRIVATE KEY (are the key and certificate swapped?)"#]]
        .assert_eq(&show(&cert, &key));
    expect![[r#"DIR/a.pem: the certificate does not match the private key: the certificate's public key differs from the key's"#]]
        .assert_eq(&show(&other_key, &cert));
    expect![[r#"reading DIR/missing.key: No such file or directory (os error 2)"#]]
        .assert_eq(&show(&dir.path().join("missing.key"), &cert));
}

#[test]
fn images_that_cannot_be_signed() {
    let dir = tempfile::tempdir().unwrap();
    let Some((key, cert)) = rsa2048(dir.path(), "a") else { return };
    let signer = Signer::from_files(&key, &cert).unwrap();
    let show = |image: &[u8]| match sign_pe(image, &signer) {
        Ok(signed) => format!("signed, {} bytes", signed.len()),
        Err(error) => error.to_string(),
    };
    expect![[
        r#"PE image: PE image of 0 bytes ends inside the MS-DOS header (64 bytes at offset 0)"#
    ]]
    .assert_eq(&show(b""));
    expect![[r#"PE image: not a PE image: e_magic is 0x457f, expected 0x5a4d ("MZ")"#]]
        .assert_eq(&show(&[b"\x7fELF".as_slice(), &[0; 60]].concat()));
}

/// Reads `patched` in steps of `step` bytes from `from`.
fn read_patched(patched: &mut Patched<'_>, from: u64, step: usize) -> String {
    patched.seek(SeekFrom::Start(from)).unwrap();
    let mut all = Vec::new();
    let mut buf = vec![0u8; step];
    loop {
        let n = patched.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        all.extend_from_slice(&buf[..n]);
    }
    hex::encode(all)
}

#[test]
fn patched_view_pads_and_overlays_at_any_read_size() {
    let data: Vec<u8> = (1..=20).collect();
    let mut input = Cursor::new(data);
    let mut patched = Patched {
        inner: &mut input,
        body_len: 13,
        padded_len: 16,
        // One patch straddles the end of the input, one is in the padding, one at the start.
        patches: vec![(11, vec![0xAA, 0xBB, 0xCC]), (15, vec![0xDD]), (0, vec![0xEE])],
        pos: 0,
    };
    let whole = read_patched(&mut patched, 0, 64);
    assert_eq!(whole, "ee02030405060708090a0baabbcc00dd");
    for step in [1, 2, 3, 5, 7, 16] {
        assert_eq!(read_patched(&mut patched, 0, step), whole, "step {step}");
    }
    assert_eq!(read_patched(&mut patched, 12, 1), "bbcc00dd");
    assert_eq!(patched.seek(SeekFrom::End(-1)).unwrap(), 15);
    assert_eq!(read_patched(&mut patched, 16, 4), "");
    assert!(patched.seek(SeekFrom::Current(-100)).is_err());
}

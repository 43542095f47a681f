//! Notary Project (Notation) JWS and COSE envelopes made at test time by independent tools,
//! verified by `signing::notation` and through `signing::verify`, plus attacks each refused
//! for its reason.
//!
//! `testdata/signing/make-notation.mjs` makes a PKI with the openssl CLI (root, intermediates,
//! good and broken leaves), signs with node's crypto and encodes COSE with the npm `cbor`
//! package (see testdata/SOURCES.md). The npm packages are pinned by
//! `testdata/signing/fixtures-npm/` and installed with `npm ci` into Cargo's target tmpdir.
//! Without node, npm or openssl (or without registry access for the first install), the tests
//! print why and pass; with `CI` set they fail.
//!
//! Envelope-level tampering (payload swap, duplicate key, padding, extra member) is done here
//! on the JSON, so each attack states exactly what it changes.

// `Refusal` is large by design (it carries context); see the library's lib.rs.
#![allow(clippy::result_large_err)]

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};
use signing::cosign::{LayerDescriptor, SIGNATURE_ANNOTATION, SignatureLayer};
use signing::notation::{
    MEDIA_TYPE_COSE, MEDIA_TYPE_JWS, NotationError, TargetArtifact, TrustStore, TrustStoreType,
    VerifiedNotation, verify_envelope,
};
use signing::x509::X509Error;
use signing::{ImageInput, NotationSignature, PolicyFile, UnixTime};
use support::node::{generator, npm_prefix, run};
use support::{ci, read_files};

struct Fixtures {
    files: BTreeMap<String, Vec<u8>>,
    root_pem: Vec<u8>,
    rogue_root_pem: Vec<u8>,
    digest: String,
    other_digest: String,
    media_type: String,
    size: u64,
    now: i64,
}

#[allow(clippy::print_stderr)]
fn skip(why: &str) -> Option<&'static Fixtures> {
    assert!(!ci(), "CI is set, so the Notation fixtures must be generated: {why}");
    eprintln!("skipping Notation tests: {why}");
    None
}

fn generate() -> Result<Fixtures, String> {
    let prefix = npm_prefix()?;
    let openssl = run(Command::new("openssl").arg("version"))?;
    eprintln!("using {openssl}");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("signing-notation-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    generator("make-notation.mjs", &prefix, &["--out".as_ref(), out.as_os_str()])?;
    let files = read_files(&out)?;
    let read = |p: &str| std::fs::read(out.join(p)).map_err(|e| e.to_string());
    let root_pem = read("pki/root.pem")?;
    let rogue_root_pem = read("pki/rogue-root.pem")?;
    let _ = std::fs::remove_dir_all(&out);
    let meta: Value = serde_json::from_slice(&files["meta.json"]).map_err(|e| e.to_string())?;
    let text = |k: &str| meta[k].as_str().unwrap_or_default().to_owned();
    Ok(Fixtures {
        digest: text("digest"),
        other_digest: text("otherDigest"),
        media_type: text("mediaType"),
        size: meta["size"].as_u64().unwrap_or_default(),
        now: meta["now"].as_i64().unwrap_or_default(),
        root_pem,
        rogue_root_pem,
        files,
    })
}

fn fixtures() -> Option<&'static Fixtures> {
    static FIXTURES: OnceLock<Result<Fixtures, String>> = OnceLock::new();
    match FIXTURES.get_or_init(generate) {
        Ok(f) => Some(f),
        Err(why) => skip(why),
    }
}

fn media_type_of(name: &str) -> &'static str {
    if name.ends_with(".cose") { MEDIA_TYPE_COSE } else { MEDIA_TYPE_JWS }
}

const KIT_TEST: &str = "x509.subject: C=US, ST=WA, O=kit-test";

impl Fixtures {
    fn bytes(&self, name: &str) -> Vec<u8> {
        self.files.get(name).cloned().unwrap_or_else(|| panic!("fixture {name} was not generated"))
    }

    fn json(&self, name: &str) -> Value {
        serde_json::from_slice(&self.bytes(name)).unwrap()
    }

    fn target(&self) -> TargetArtifact<'_> {
        TargetArtifact { media_type: &self.media_type, digest: &self.digest, size: self.size }
    }

    fn store(&self) -> TrustStore {
        TrustStore::from_pem_files(TrustStoreType::Ca, std::slice::from_ref(&self.root_pem))
            .unwrap()
    }

    /// Verifies a named fixture with the trusted root, identity `*` and the pinned target.
    fn verify(&self, name: &str) -> Result<VerifiedNotation, NotationError> {
        self.verify_bytes(media_type_of(name), &self.bytes(name))
    }

    fn verify_bytes(
        &self,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<VerifiedNotation, NotationError> {
        verify_envelope(
            media_type,
            bytes,
            &self.store(),
            &["*".to_owned()],
            &self.target(),
            self.now,
        )
    }
}

fn b64u(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).unwrap()
}

fn enc_u(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn sha256(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

/// Asserts a refusal that `is_reason` recognises; returns the message.
#[track_caller]
fn refused(
    result: Result<VerifiedNotation, NotationError>,
    is_reason: impl Fn(&NotationError) -> bool,
) -> String {
    match result {
        Ok(v) => panic!("accepted, expected a refusal: {v:?}"),
        Err(err) => {
            assert!(is_reason(&err), "refused for another reason: {err}");
            err.to_string()
        }
    }
}

fn is_profile(needle: &'static str) -> impl Fn(&NotationError) -> bool {
    move |e| matches!(e, NotationError::Certificate(X509Error::Field { reason, .. }) if reason.contains(needle))
}

fn is_header(needle: &'static str) -> impl Fn(&NotationError) -> bool {
    move |e| matches!(e, NotationError::Header { reason } if reason.contains(needle))
}

fn is_chain(needle: &'static str) -> impl Fn(&NotationError) -> bool {
    move |e| matches!(e, NotationError::Chain { reason } if reason.contains(needle))
}

// --- Positive cases ---

#[test]
fn jws_es256_verifies() {
    let Some(f) = fixtures() else { return };
    let v = f.verify("good-es256.jws").unwrap();
    assert_eq!(v.format, "JWS");
    assert_eq!(v.algorithm, "ES256");
    assert_eq!(v.signing_scheme, "notary.x509");
    assert_eq!(v.envelope_digest, sha256(&f.bytes("good-es256.jws")));
    // The subject openssl was given: /C=US/ST=WA/L=Seattle/O=kit-test/CN=kit test signer.
    assert_eq!(v.leaf_subject, "CN=kit test signer,O=kit-test,L=Seattle,ST=WA,C=US");
    // The thumbprint is SHA-256 of x5c[0].
    let env = f.json("good-es256.jws");
    let leaf = base64::engine::general_purpose::STANDARD
        .decode(env["header"]["x5c"][0].as_str().unwrap())
        .unwrap();
    assert_eq!(format!("sha256:{}", v.leaf_thumbprint), sha256(&leaf));
    // The signing time is the generator's now.
    assert!((v.signing_time - f.now).abs() <= 1, "{} vs {}", v.signing_time, f.now);
}

#[test]
fn jws_ps384_with_rsa_3072_verifies() {
    let Some(f) = fixtures() else { return };
    assert_eq!(f.verify("good-ps384.jws").unwrap().algorithm, "PS384");
}

#[test]
fn jws_es384_with_p384_verifies() {
    let Some(f) = fixtures() else { return };
    assert_eq!(f.verify("good-es384.jws").unwrap().algorithm, "ES384");
}

#[test]
fn cose_verifies() {
    let Some(f) = fixtures() else { return };
    let v = f.verify("good-es256.cose").unwrap();
    assert_eq!((v.format, v.algorithm), ("COSE", "ES256"));
    assert_eq!(f.verify("good-ps384.cose").unwrap().algorithm, "PS384");
}

#[test]
fn leaf_without_eku_and_future_expiry_verify() {
    let Some(f) = fixtures() else { return };
    // The Notary Project makes the EKU extension optional.
    f.verify("good-no-eku.jws").unwrap();
    f.verify("good-expiry-later.jws").unwrap();
}

#[test]
fn identities() {
    let Some(f) = fixtures() else { return };
    let with = |name: &str, identity: &str| {
        verify_envelope(
            media_type_of(name),
            &f.bytes(name),
            &f.store(),
            &[identity.to_owned()],
            &f.target(),
            f.now,
        )
    };
    with("good-es256.jws", KIT_TEST).unwrap();
    with("good-es256.jws", "x509.subject: C=US, ST=WA, O=kit-test, CN=kit test signer").unwrap();
    with("good-es256.cose", KIT_TEST).unwrap();
    let msg = refused(with("good-es256.jws", "x509.subject: C=US, ST=WA, O=other"), |e| {
        matches!(e, NotationError::Identity { .. })
    });
    assert!(msg.starts_with("leaf subject `CN=kit test signer,O=kit-test"), "{msg}");
    // A leaf of the same CA with another organisation.
    refused(with("evil-o.jws", KIT_TEST), |e| matches!(e, NotationError::Identity { .. }));
    // A wrong identity anywhere in the list does not matter when another one matches.
    let ok = verify_envelope(
        MEDIA_TYPE_JWS,
        &f.bytes("evil-o.jws"),
        &f.store(),
        &[KIT_TEST.to_owned(), "x509.subject: C=US, ST=WA, O=evil-corp".to_owned()],
        &f.target(),
        f.now,
    );
    ok.unwrap();
}

// --- Payload binding ---

#[test]
fn payload_for_another_artifact_is_refused() {
    let Some(f) = fixtures() else { return };
    let mismatch = |field: &'static str| move |e: &NotationError| matches!(e, NotationError::TargetMismatch { field: got, .. } if *got == field);
    let msg = refused(f.verify("other-digest.jws"), mismatch("digest"));
    assert_eq!(
        msg,
        format!(
            "payload targetArtifact.digest is {}, expected {} (the pinned manifest)",
            f.other_digest, f.digest
        )
    );
    refused(f.verify("other-size.jws"), mismatch("size"));
    refused(f.verify("other-media-type.jws"), mismatch("mediaType"));
    refused(f.verify("other-digest.cose"), mismatch("digest"));
    // The good envelope replayed for another pinned digest.
    let other = TargetArtifact { digest: &f.other_digest, ..f.target() };
    let result = verify_envelope(
        MEDIA_TYPE_JWS,
        &f.bytes("good-es256.jws"),
        &f.store(),
        &["*".to_owned()],
        &other,
        f.now,
    );
    refused(result, mismatch("digest"));
}

#[test]
fn tampered_payload_is_refused() {
    let Some(f) = fixtures() else { return };
    // The payload of another (validly signed) envelope: the signature no longer covers it.
    let mut env = f.json("good-es256.jws");
    env["payload"] = f.json("other-digest.jws")["payload"].clone();
    let result = f.verify_bytes(MEDIA_TYPE_JWS, &serde_json::to_vec(&env).unwrap());
    let msg = refused(result, |e| matches!(e, NotationError::SignatureDoesNotVerify));
    assert_eq!(msg, "signature does not verify with the leaf certificate key");
    // A payload that differs in one byte of its JSON.
    let mut env = f.json("good-es256.jws");
    let payload = String::from_utf8(b64u(env["payload"].as_str().unwrap())).unwrap();
    env["payload"] = enc_u(payload.replace("\"size\":", "\"size\": ").as_bytes()).into();
    let result = f.verify_bytes(MEDIA_TYPE_JWS, &serde_json::to_vec(&env).unwrap());
    refused(result, |e| matches!(e, NotationError::SignatureDoesNotVerify));
}

// --- Signatures and algorithms ---

#[test]
fn signature_from_another_key_is_refused() {
    let Some(f) = fixtures() else { return };
    let sig = |e: &NotationError| matches!(e, NotationError::SignatureDoesNotVerify);
    refused(f.verify("other-key.jws"), sig);
    refused(f.verify("other-key.cose"), sig);
    refused(f.verify("flipped.cose"), sig);
    // RSASSA-PKCS1-v1_5 presented as PS384.
    refused(f.verify("pkcs1-as-pss.jws"), sig);
    // A flipped bit in a JWS signature.
    let mut env = f.json("good-es256.jws");
    let mut raw = b64u(env["signature"].as_str().unwrap());
    raw[10] ^= 1;
    env["signature"] = enc_u(&raw).into();
    refused(f.verify_bytes(MEDIA_TYPE_JWS, &serde_json::to_vec(&env).unwrap()), sig);
    // A DER ECDSA signature is not a JWS signature: only raw r||s is.
    let mut env = f.json("good-es256.jws");
    let raw = b64u(env["signature"].as_str().unwrap());
    let der = p1363_to_der(&raw);
    env["signature"] = enc_u(&der).into();
    refused(f.verify_bytes(MEDIA_TYPE_JWS, &serde_json::to_vec(&env).unwrap()), sig);
}

/// Encodes raw `r || s` as an ASN.1 DER ECDSA-Sig-Value (for the attack above).
fn p1363_to_der(raw: &[u8]) -> Vec<u8> {
    let int = |b: &[u8]| {
        let mut v: Vec<u8> = b.iter().copied().skip_while(|x| *x == 0).collect();
        if v.first().is_some_and(|x| x & 0x80 != 0) {
            v.insert(0, 0);
        }
        let mut out = vec![0x02, u8::try_from(v.len()).unwrap()];
        out.extend(v);
        out
    };
    let (r, s) = raw.split_at(raw.len() / 2);
    let body = [int(r), int(s)].concat();
    let mut out = vec![0x30, u8::try_from(body.len()).unwrap()];
    out.extend(body);
    out
}

#[test]
fn algorithm_must_match_the_leaf_key() {
    let Some(f) = fixtures() else { return };
    let msg = refused(f.verify("es384-on-p256.jws"), |e| {
        matches!(e, NotationError::AlgorithmMismatch { .. })
    });
    assert_eq!(
        msg,
        "alg ES384 does not match the leaf certificate's ECDSA P-256 key, which requires ES256"
    );
    let msg = refused(f.verify("ps256-on-rsa3072.jws"), |e| {
        matches!(e, NotationError::AlgorithmMismatch { .. })
    });
    assert!(msg.contains("RSA-3072 key, which requires PS384"), "{msg}");
}

#[test]
fn alg_none_and_hmac_are_refused() {
    let Some(f) = fixtures() else { return };
    let msg = refused(f.verify("alg-none.jws"), is_header("alg none is not allowed"));
    assert!(msg.starts_with("protected header: "), "{msg}");
    refused(f.verify("alg-hs256.jws"), is_header("alg HS256 is not allowed"));
}

#[test]
fn rsa_1024_leaf_is_refused() {
    let Some(f) = fixtures() else { return };
    let msg = refused(f.verify("rsa1024.jws"), is_profile("RSA key of 1024 bits is too small"));
    assert!(msg.starts_with("leaf certificate: public key: "), "{msg}");
}

// --- Certificates, chain, trust ---

#[test]
fn untrusted_root_is_refused() {
    let Some(f) = fixtures() else { return };
    // Self-signed, same name as the trusted root, another key.
    let msg = refused(f.verify("untrusted-root.jws"), is_chain("is not in the trust store"));
    assert_eq!(
        msg,
        "certificate chain: the last certificate `CN=kit test root,O=kit-test,ST=WA,C=US` is not in the trust store"
    );
    refused(f.verify("untrusted-root.cose"), is_chain("is not in the trust store"));
    // The good envelope against a trust store holding only the rogue root.
    let rogue =
        TrustStore::from_pem_files(TrustStoreType::Ca, std::slice::from_ref(&f.rogue_root_pem))
            .unwrap();
    let result = verify_envelope(
        MEDIA_TYPE_JWS,
        &f.bytes("good-es256.jws"),
        &rogue,
        &["*".to_owned()],
        &f.target(),
        f.now,
    );
    refused(result, is_chain("is not in the trust store"));
}

#[test]
fn chain_order_and_membership() {
    let Some(f) = fixtures() else { return };
    let msg = refused(f.verify("out-of-order.jws"), is_chain("x5c[0] is not issued by x5c[1]"));
    assert!(msg.contains("issuer `CN=kit test intermediate"), "{msg}");
    // The rogue root appended after the real root.
    refused(f.verify("extra-root.jws"), is_chain("x5c[2] is not issued by x5c[3]"));
    // An unrelated leaf between the leaf and its intermediate.
    refused(f.verify("extra-middle.jws"), is_chain("x5c[0] is not issued by x5c[1]"));
    // The intermediate left out.
    refused(f.verify("no-intermediate.jws"), is_chain("x5c[0] is not issued by x5c[1]"));
    // The leaf alone is its own "root", and not in the trust store.
    refused(f.verify("leaf-only.jws"), is_chain("is not in the trust store"));
}

#[test]
fn leaf_profile_is_enforced() {
    let Some(f) = fixtures() else { return };
    refused(f.verify("serverauth.jws"), is_profile("extended key usage has serverAuth"));
    refused(f.verify("ocsp-eku.jws"), is_profile("extended key usage lacks codeSigning"));
    refused(f.verify("leaf-ca.jws"), is_profile("basic constraints say cA: TRUE"));
    refused(f.verify("ku-noncrit.jws"), is_profile("key usage is not critical"));
    refused(f.verify("ku-certsign.jws"), is_profile("key usage has keyCertSign"));
}

#[test]
fn ca_profile_is_enforced() {
    let Some(f) = fixtures() else { return };
    let msg = refused(f.verify("ca-no-certsign.jws"), is_profile("key usage lacks keyCertSign"));
    assert!(msg.starts_with("x5c[1] certificate: "), "{msg}");
    refused(f.verify("ca-not-ca.jws"), is_profile("basic constraints do not say cA: TRUE"));
    // root -> inter (pathlen 0) -> inter-deep -> leaf.
    let msg = refused(f.verify("pathlen.jws"), is_profile("path length constraint 0 is exceeded"));
    assert!(msg.starts_with("x5c[2] certificate: "), "{msg}");
}

#[test]
fn sha1_signed_certificate_is_refused() {
    let Some(f) = fixtures() else { return };
    let msg = refused(f.verify("sha1.jws"), is_profile("is signed with SHA-1"));
    assert_eq!(
        msg,
        "leaf certificate: is signed with SHA-1 (1.2.840.10045.4.1), which is not allowed"
    );
}

// --- Time ---

#[test]
fn certificate_validity_at_now() {
    let Some(f) = fixtures() else { return };
    let msg = refused(f.verify("expired.jws"), |e| matches!(e, NotationError::NotValidAt { .. }));
    assert!(
        msg.starts_with("leaf certificate is not valid at the verification time ")
            && msg.ends_with("(valid 2021-01-01T00:00:00Z to 2022-01-01T00:00:00Z)"),
        "{msg}"
    );
    let msg =
        refused(f.verify("not-yet-valid.jws"), |e| matches!(e, NotationError::NotValidAt { .. }));
    assert!(msg.ends_with("(valid 2040-01-01T00:00:00Z to 2041-01-01T00:00:00Z)"), "{msg}");
    // The good signature verified two years later: the leaf (one year) has expired.
    let later = verify_envelope(
        MEDIA_TYPE_JWS,
        &f.bytes("good-es256.jws"),
        &f.store(),
        &["*".to_owned()],
        &f.target(),
        f.now + 2 * 365 * 86_400,
    );
    refused(later, |e| matches!(e, NotationError::NotValidAt { .. }));
}

#[test]
fn expiry_in_the_past_is_refused() {
    let Some(f) = fixtures() else { return };
    refused(f.verify("expiry-past.jws"), |e| matches!(e, NotationError::Expired { .. }));
    refused(f.verify("expiry-past.cose"), |e| matches!(e, NotationError::Expired { .. }));
    // A future expiry passes now and fails after it.
    let late = verify_envelope(
        MEDIA_TYPE_JWS,
        &f.bytes("good-expiry-later.jws"),
        &f.store(),
        &["*".to_owned()],
        &f.target(),
        f.now + 7200,
    );
    refused(late, |e| matches!(e, NotationError::Expired { .. }));
}

// --- Header rules ---

#[test]
fn header_rules_are_enforced() {
    let Some(f) = fixtures() else { return };
    refused(f.verify("crit-unknown.jws"), is_header("unknown critical header `x.unknown`"));
    refused(f.verify("crit-unknown.cose"), is_header("unknown critical header `x.unknown`"));
    refused(
        f.verify("no-signing-time.jws"),
        is_header("requires io.cncf.notary.signingTime, which is missing"),
    );
    refused(
        f.verify("no-signing-time.cose"),
        is_header("requires io.cncf.notary.signingTime, which is missing"),
    );
    refused(
        f.verify("crit-missing-scheme.jws"),
        is_header("crit does not list io.cncf.notary.signingScheme"),
    );
    refused(f.verify("expiry-not-crit.jws"), is_header("crit does not list io.cncf.notary.expiry"));
    refused(f.verify("wrong-cty.jws"), is_header("cty is `application/json`"));
    refused(f.verify("signing-authority.jws"), is_header("needs a `signingAuthority` trust store"));
}

#[test]
fn timestamp_countersignature_is_refused() {
    let Some(f) = fixtures() else { return };
    let msg =
        refused(f.verify("timestamp.jws"), |e| matches!(e, NotationError::TimestampUnsupported));
    assert!(msg.contains("refused rather than ignored"), "{msg}");
    refused(f.verify("timestamp.cose"), |e| matches!(e, NotationError::TimestampUnsupported));
}

// --- Envelope structure ---

fn is_malformed(needle: &'static str) -> impl Fn(&NotationError) -> bool {
    move |e| matches!(e, NotationError::Malformed { reason, .. } if reason.contains(needle))
}

#[test]
fn jws_structure_is_strict() {
    let Some(f) = fixtures() else { return };
    let good = String::from_utf8(f.bytes("good-es256.jws")).unwrap();
    // A duplicate key in the envelope and in the (re-signed) protected header.
    let dup = good.replacen('{', r#"{"signature":"AAAA","#, 1);
    refused(
        f.verify_bytes(MEDIA_TYPE_JWS, dup.as_bytes()),
        is_malformed("duplicate key `signature`"),
    );
    refused(f.verify("duplicate-alg.jws"), is_header("duplicate key `alg`"));
    // Padded base64url.
    let mut env = f.json("good-es256.jws");
    let sig = format!("{}==", env["signature"].as_str().unwrap());
    env["signature"] = sig.into();
    let result = f.verify_bytes(MEDIA_TYPE_JWS, &serde_json::to_vec(&env).unwrap());
    refused(result, is_malformed("`signature` is not unpadded base64url"));
    // A fifth member.
    let mut env = f.json("good-es256.jws");
    env["signatures"] = Value::Array(Vec::new());
    let result = f.verify_bytes(MEDIA_TYPE_JWS, &serde_json::to_vec(&env).unwrap());
    refused(result, is_malformed("expected exactly payload, protected, header and signature"));
    // The general serialization's `signatures` instead of `signature`.
    let mut env = f.json("good-es256.jws");
    let sig = env.as_object_mut().unwrap().remove("signature").unwrap();
    env["signatures"] = serde_json::json!([{ "signature": sig }]);
    let result = f.verify_bytes(MEDIA_TYPE_JWS, &serde_json::to_vec(&env).unwrap());
    refused(result, is_malformed("expected exactly"));
    // Truncated.
    refused(
        f.verify_bytes(MEDIA_TYPE_JWS, &good.as_bytes()[..good.len() / 2]),
        is_malformed("not strict JSON"),
    );
    // A JWS given as COSE and the reverse.
    refused(f.verify_bytes(MEDIA_TYPE_COSE, good.as_bytes()), is_malformed("not strict CBOR"));
    refused(
        f.verify_bytes(MEDIA_TYPE_JWS, &f.bytes("good-es256.cose")),
        is_malformed("not strict JSON"),
    );
}

#[test]
fn cose_structure_is_strict() {
    let Some(f) = fixtures() else { return };
    refused(f.verify("untagged.cose"), is_malformed("expected COSE_Sign1_Tagged (CBOR tag 18)"));
    refused(f.verify("detached.cose"), is_malformed("payload is detached"));
    let good = f.bytes("good-es256.cose");
    refused(
        f.verify_bytes(MEDIA_TYPE_COSE, &good[..good.len() - 1]),
        is_malformed("not strict CBOR"),
    );
}

#[test]
fn every_corrupted_envelope_byte_is_refused_without_panic() {
    let Some(f) = fixtures() else { return };
    for name in ["good-es256.cose", "good-es256.jws"] {
        let good = f.bytes(name);
        // The unprotected signing agent is not signed, so changing it is harmless: skip its
        // label and value, and check that a change there is indeed accepted.
        let find = |needle: &[u8]| good.windows(needle.len()).position(|w| w == needle).unwrap();
        let agent_start = find(b"io.cncf.notary.signingAgent");
        let agent_end = find(b"kit-fixtures/1") + "kit-fixtures/1".len();
        let mut renamed = good.clone();
        renamed[agent_end - 1] ^= 0x01;
        f.verify_bytes(media_type_of(name), &renamed).unwrap();
        for at in (0..good.len()).filter(|at| !(agent_start..agent_end).contains(at)) {
            let mut bad = good.clone();
            bad[at] ^= 0x01;
            assert!(
                f.verify_bytes(media_type_of(name), &bad).is_err(),
                "{name}: byte {at} flipped was accepted"
            );
        }
    }
}

// --- Through the policy ---

fn policy(f: &Fixtures, signers: &str, rule: &str) -> signing::Policy {
    let yaml = format!(
        "version: 1\nsigners:\n{signers}rules:\n  - images: [docker.io/linuxkit/*]\n{rule}"
    );
    let files = BTreeMap::from([
        ("root.pem".to_owned(), f.root_pem.clone()),
        ("cosign.pub".to_owned(), f.bytes("cosign.pub")),
    ]);
    PolicyFile::parse("policy.yaml", &yaml).unwrap().resolve(&files).unwrap()
}

const NOTARY: &str = "  vendor:\n    notation:\n      trust-store: [root.pem]\n      identities: [\"x509.subject: C=US, ST=WA, O=kit-test\"]\n";
const NOTARY_ANY: &str =
    "  anyone:\n    notation:\n      trust-store: [root.pem]\n      identities: [\"*\"]\n";
const COSIGN: &str = "  release:\n    cosign-key:\n      path: cosign.pub\n";

fn notation(f: &Fixtures, names: &[&str]) -> Vec<NotationSignature> {
    names
        .iter()
        .map(|n| NotationSignature {
            media_type: media_type_of(n).to_owned(),
            envelope: f.bytes(n),
        })
        .collect()
}

fn cosign_layer(f: &Fixtures) -> SignatureLayer {
    let payload = f.bytes("cosign-payload.json");
    let signature = String::from_utf8(f.bytes("cosign-signature.b64")).unwrap();
    SignatureLayer {
        descriptor: LayerDescriptor {
            media_type: signing::cosign::SIMPLESIGNING_MEDIA_TYPE.to_owned(),
            digest: sha256(&payload),
            size: u64::try_from(payload.len()).unwrap(),
            annotations: BTreeMap::from([(SIGNATURE_ANNOTATION.to_owned(), signature)]),
        },
        payload,
    }
}

fn verify_image(
    p: &signing::Policy,
    f: &Fixtures,
    layers: &[SignatureLayer],
    notation: &[NotationSignature],
) -> Result<signing::Verdict, signing::Refusal> {
    let input = ImageInput {
        image: "linuxkit/kernel:6.6",
        repository: "docker.io/linuxkit/kernel",
        digest: &f.digest,
        cosign_layers: layers,
        notation,
        media_type: &f.media_type,
        size: f.size,
        ..ImageInput::default()
    };
    signing::verify(p, &input, UnixTime(f.now))
}

#[test]
fn policy_accepts_a_notation_signature_and_records_it() {
    let Some(f) = fixtures() else { return };
    let p = policy(f, NOTARY, "    signers: [vendor]\n");
    let sigs = notation(f, &["other-digest.jws", "good-es256.cose"]);
    let v = verify_image(&p, f, &[], &sigs).unwrap();
    assert_eq!(v.satisfied_by.len(), 1);
    let s = &v.satisfied_by[0];
    assert_eq!(s.name, "vendor");
    assert_eq!(s.signature, sha256(&sigs[1].envelope));
    assert!(
        s.description.starts_with("notation COSE ES256 by CN=kit test signer,O=kit-test"),
        "{}",
        s.description
    );
    assert!(s.key_id.is_none() && s.tlog_entry.is_none());
}

#[test]
fn policy_trust_store_type_selects_the_signing_scheme() {
    let Some(f) = fixtures() else { return };
    let authority = "  vendor:\n    notation:\n      trust-store: [root.pem]\n      trust-store-type: signing-authority\n      identities: [\"*\"]\n";
    let p = policy(f, authority, "    signers: [vendor]\n");
    // A `notary.x509.signingAuthority` envelope verifies against a signing-authority store...
    let sigs = notation(f, &["signing-authority.jws"]);
    let v = verify_image(&p, f, &[], &sigs).unwrap();
    assert_eq!(v.satisfied_by[0].signature, sha256(&sigs[0].envelope));
    // ...which does not accept a `notary.x509` envelope, and a `ca` store (the default) refuses
    // the signing-authority one.
    let refusal =
        verify_image(&p, f, &[], &notation(f, &["good-es256.jws"])).unwrap_err().to_string();
    assert!(refusal.contains("vendor (notation certificate): notation signature 0:"), "{refusal}");
    let p = policy(f, NOTARY_ANY, "    signers: [anyone]\n");
    let refusal = verify_image(&p, f, &[], &sigs).unwrap_err().to_string();
    assert!(refusal.contains("needs a `signingAuthority` trust store"), "{refusal}");
}

#[test]
fn policy_refusal_names_each_notation_signature() {
    let Some(f) = fixtures() else { return };
    let p = policy(f, NOTARY, "    signers: [vendor]\n");
    let sigs = notation(f, &["evil-o.jws", "expired.jws"]);
    let refusal = verify_image(&p, f, &[], &sigs).unwrap_err().to_string();
    assert!(
        refusal.starts_with("linuxkit/kernel:6.6: rule docker.io/linuxkit/*: needs a signature by vendor, 0 verified: vendor (notation certificate): notation signature 0: leaf subject `CN=kit test signer,O=evil-corp"),
        "{refusal}"
    );
    assert!(
        refusal.contains(
            ", notation signature 1: leaf certificate is not valid at the verification time"
        ),
        "{refusal}"
    );
    // A cosign signature only: the Notation signer says none is attached.
    let p = policy(
        f,
        &format!("{NOTARY}{COSIGN}"),
        "    signers: [vendor, release]\n    threshold: 2\n",
    );
    let refusal = verify_image(&p, f, &[cosign_layer(f)], &[]).unwrap_err().to_string();
    assert!(
        refusal.contains(
            "vendor (notation certificate): no Notation signature is attached as an OCI referrer"
        ),
        "{refusal}"
    );
}

#[test]
fn threshold_with_a_cosign_key_and_notation() {
    let Some(f) = fixtures() else { return };
    let p = policy(
        f,
        &format!("{NOTARY}{COSIGN}"),
        "    signers: [vendor, release]\n    threshold: 2\n",
    );
    let sigs = notation(f, &["good-es256.jws"]);
    let v = verify_image(&p, f, &[cosign_layer(f)], &sigs).unwrap();
    let names: Vec<&str> = v.satisfied_by.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["vendor", "release"]);
    // Signature numbering: the cosign layer first, the envelope after it.
    assert_eq!(v.satisfied_by[1].signature, sha256(&f.bytes("cosign-payload.json")));
    assert_eq!(v.satisfied_by[0].signature, sha256(&sigs[0].envelope));
    // Without the cosign layer, 1 of 2.
    let refusal = verify_image(&p, f, &[], &sigs).unwrap_err().to_string();
    assert!(
        refusal.contains("needs signatures by 2 of [vendor, release], 1 verified"),
        "{refusal}"
    );
}

#[test]
fn one_notation_signature_counts_once() {
    let Some(f) = fixtures() else { return };
    // Two Notation signers that both accept the same envelope.
    let p = policy(
        f,
        &format!("{NOTARY}{NOTARY_ANY}"),
        "    signers: [vendor, anyone]\n    threshold: 2\n",
    );
    let one = notation(f, &["good-es256.jws"]);
    let refusal = verify_image(&p, f, &[], &one).unwrap_err().to_string();
    assert!(
        refusal.contains("its only valid signatures already count for other signers"),
        "{refusal}"
    );
    // Two distinct envelopes satisfy both.
    let two = notation(f, &["good-es256.jws", "good-ps384.cose"]);
    let v = verify_image(&p, f, &[], &two).unwrap();
    assert_eq!(v.satisfied_by.len(), 2);
    assert_ne!(v.satisfied_by[0].signature, v.satisfied_by[1].signature);
}

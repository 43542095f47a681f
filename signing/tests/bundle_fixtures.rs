//! Keyless Sigstore bundles made at test time by independent implementations, verified by
//! `signing::bundle` and through `signing::verify`, plus attacks each refused for its reason.
//!
//! `testdata/signing/make-bundle.mjs` drives @sigstore/mock's Fulcio CA and CT log and the
//! unmodified @sigstore/sign client over 127.0.0.1, with a Rekor v1 log of its own (see
//! testdata/SOURCES.md). The npm packages are pinned by `testdata/signing/fixtures-npm/` and
//! installed with `npm ci` into Cargo's target tmpdir. Without node or npm (or without registry
//! access for the first install), the tests print why and pass; with `CI` set they fail.
//!
//! Tampering with finished bundles (flipped SET, audit path, checkpoint…) is done here, on the
//! JSON, so each attack states exactly what it changes.

// `Refusal` is large by design (it carries context); see the library's lib.rs.
#![allow(clippy::result_large_err)]

mod support;

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::Value;
use signing::bundle::{BundleError, KeylessIdentity, TlogProblem, verify_bundle};
use signing::fulcio::FulcioError;
use signing::merkle::MerkleError;
use signing::policy::SubjectMatch;
use signing::trusted_root::TrustedRoot;
use signing::{ImageInput, PolicyFile, UnixTime};
use support::{Fixtures, fixtures};

trait VerifyBundle {
    fn verify(&self, bundle: &[u8]) -> Result<signing::bundle::VerifiedBundle, BundleError>;
    fn verify_with(
        &self,
        bundle: &[u8],
        root: &str,
        digest: &str,
    ) -> Result<signing::bundle::VerifiedBundle, BundleError>;
}

impl VerifyBundle for Fixtures {
    /// Verifies with the default trusted root, identity and pinned digest.
    fn verify(&self, bundle: &[u8]) -> Result<signing::bundle::VerifiedBundle, BundleError> {
        self.verify_with(bundle, "trusted_root.json", &self.digest)
    }

    fn verify_with(
        &self,
        bundle: &[u8],
        root: &str,
        digest: &str,
    ) -> Result<signing::bundle::VerifiedBundle, BundleError> {
        let subject = SubjectMatch::Exact(self.identity.clone());
        let identity = KeylessIdentity { issuer: &self.issuer, subject: &subject };
        verify_bundle(bundle, &self.root(root), digest, &identity)
    }
}

fn to_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn enc(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// Flips one bit of the base64 string at `ptr`, keeping it valid base64.
fn flip(v: &mut Value, ptr: &str, byte: usize) {
    let slot = v.pointer_mut(ptr).unwrap_or_else(|| panic!("no {ptr}"));
    let mut raw = b64(slot.as_str().unwrap());
    let at = byte.min(raw.len() - 1);
    raw[at] ^= 1;
    *slot = Value::String(enc(&raw));
}

/// Asserts a refusal and that `is_reason` recognises it; returns the message.
#[track_caller]
fn refused(
    result: Result<signing::bundle::VerifiedBundle, BundleError>,
    is_reason: impl Fn(&BundleError) -> bool,
) -> String {
    match result {
        Ok(v) => panic!("accepted, expected a refusal: {v:?}"),
        Err(err) => {
            assert!(is_reason(&err), "refused for another reason: {err}");
            err.to_string()
        }
    }
}

const ENTRY: &str = "/verificationMaterial/tlogEntries/0";

// --- Positive cases ---

#[test]
fn dsse_bundle_of_the_pinned_digest_verifies() {
    let Some(f) = fixtures() else { return };
    let v = f.verify(&f.bytes("good-dsse.json")).unwrap();
    assert_eq!(v.subject, f.identity);
    assert_eq!(v.issuer, f.issuer);
    // The signing time is the log's integrated time, which the bundle states.
    let bundle = f.json("good-dsse.json");
    let integrated = bundle.pointer(&format!("{ENTRY}/integratedTime")).unwrap();
    assert_eq!(v.signing_time.to_string(), integrated.as_str().unwrap());
    assert_eq!(v.tlog_entry.integrated_time, v.signing_time);
}

#[test]
fn message_signature_bundle_verifies() {
    let Some(f) = fixtures() else { return };
    f.verify(&f.bytes("good-message.json")).unwrap();
}

#[test]
fn certificate_expired_today_but_logged_in_time_verifies() {
    let Some(f) = fixtures() else { return };
    // Signed and logged in 2024 within the leaf's 10 minutes; the leaf has long expired.
    let v = f.verify(&f.bytes("good-old-but-logged-in-time.json")).unwrap();
    assert_eq!(v.signing_time, 1_717_243_500); // 2024-06-01T12:05:00Z (`date -u -d … +%s`)
}

#[test]
fn v02_media_type_with_a_one_certificate_chain_verifies() {
    let Some(f) = fixtures() else { return };
    let mut b = f.json("good-dsse.json");
    b["mediaType"] = "application/vnd.dev.sigstore.bundle+json;version=0.2".into();
    let cert = b["verificationMaterial"]["certificate"].take();
    let vm = b["verificationMaterial"].as_object_mut().unwrap();
    vm.remove("certificate");
    vm.insert("x509CertificateChain".into(), serde_json::json!({ "certificates": [cert] }));
    f.verify(&to_bytes(&b)).unwrap();
}

// --- Identity policy ---

#[test]
fn wrong_subject_is_refused() {
    let Some(f) = fixtures() else { return };
    let msg = refused(f.verify(&f.bytes("wrong-identity.json")), |e| {
        matches!(e, BundleError::Fulcio(FulcioError::Subject { .. }))
    });
    assert!(msg.contains("https://github.com/evil/app/"), "{msg}");
}

#[test]
fn wrong_issuer_is_refused() {
    let Some(f) = fixtures() else { return };
    let msg = refused(f.verify(&f.bytes("wrong-issuer.json")), |e| {
        matches!(e, BundleError::Fulcio(FulcioError::Issuer { .. }))
    });
    assert_eq!(
        msg,
        "certificate OIDC issuer is `https://accounts.example.com`, expected `https://token.actions.githubusercontent.com`"
    );
}

// --- Certificates and trust ---

#[test]
fn certificate_expired_at_integrated_time_is_refused() {
    let Some(f) = fixtures() else { return };
    refused(
        f.verify(&f.bytes("cert-expired.json")),
        |e| matches!(e, BundleError::Fulcio(FulcioError::CertificateNotValidAtSigningTime { signing_time, not_after, .. }) if signing_time > not_after),
    );
    refused(
        f.verify(&f.bytes("cert-not-yet-valid.json")),
        |e| matches!(e, BundleError::Fulcio(FulcioError::CertificateNotValidAtSigningTime { signing_time, not_before, .. }) if signing_time < not_before),
    );
}

#[test]
fn leaf_from_an_untrusted_ca_is_refused() {
    let Some(f) = fixtures() else { return };
    // Same issuer name, another key.
    let msg = refused(f.verify(&f.bytes("untrusted-ca.json")), |e| {
        matches!(e, BundleError::Fulcio(FulcioError::UntrustedCertificate { .. }))
    });
    assert!(
        msg.contains("signature does not verify with the key of trusted CA certificate"),
        "{msg}"
    );
}

#[test]
fn untrusted_root_is_refused() {
    let Some(f) = fixtures() else { return };
    // A complete trusted root of other keys: nothing in the bundle is trusted, and the first
    // thing found is that its log is unknown.
    refused(f.verify_with(&f.bytes("good-dsse.json"), "tr-other.json", &f.digest), |e| {
        matches!(e, BundleError::NoTrustedLog { .. })
    });
    // With only the CA replaced by another one, the chain fails.
    let mut tr: Value = f.json("trusted_root.json");
    let other: Value = f.json("tr-other.json");
    tr["certificateAuthorities"] = other["certificateAuthorities"].clone();
    let root = TrustedRoot::parse(&to_bytes(&tr)).unwrap();
    let subject = SubjectMatch::Exact(f.identity.clone());
    let identity = KeylessIdentity { issuer: &f.issuer, subject: &subject };
    let result = verify_bundle(&f.bytes("good-dsse.json"), &root, &f.digest, &identity);
    refused(result, |e| matches!(e, BundleError::Fulcio(FulcioError::UntrustedCertificate { .. })));
}

#[test]
fn truncated_ca_chain_in_the_trusted_root_is_refused() {
    let Some(f) = fixtures() else { return };
    // Only the root certificate is left: the leaf's issuer (the intermediate) is missing.
    let mut tr: Value = f.json("trusted_root.json");
    let certs = tr.pointer_mut("/certificateAuthorities/0/certChain/certificates").unwrap();
    certs.as_array_mut().unwrap().remove(0);
    let root = TrustedRoot::parse(&to_bytes(&tr)).unwrap();
    let subject = SubjectMatch::Exact(f.identity.clone());
    let identity = KeylessIdentity { issuer: &f.issuer, subject: &subject };
    let msg =
        refused(verify_bundle(&f.bytes("good-dsse.json"), &root, &f.digest, &identity), |e| {
            matches!(e, BundleError::Fulcio(FulcioError::UntrustedCertificate { .. }))
        });
    assert!(msg.contains("is not the subject `O=sigstore.mock,CN=sigstore-root`"), "{msg}");
}

#[test]
fn ca_outside_its_trusted_window_is_refused() {
    let Some(f) = fixtures() else { return };
    let msg = refused(
        f.verify_with(&f.bytes("good-dsse.json"), "tr-ca-window-ended.json", &f.digest),
        |e| matches!(e, BundleError::Fulcio(FulcioError::UntrustedCertificate { .. })),
    );
    assert!(msg.ends_with("CA 0 (https://fulcio.sigstore.mock) is not valid then"), "{msg}");
}

#[test]
fn rekor_key_outside_its_window_is_refused() {
    let Some(f) = fixtures() else { return };
    refused(
        f.verify_with(&f.bytes("good-dsse.json"), "tr-rekor-window-ended.json", &f.digest),
        |e| {
            matches!(e, BundleError::TlogEntry { problem: TlogProblem::OutsideValidity { .. }, .. })
        },
    );
}

#[test]
fn sct_problems_are_refused() {
    let Some(f) = fixtures() else { return };
    refused(f.verify(&f.bytes("no-sct.json")), |e| {
        matches!(e, BundleError::Fulcio(FulcioError::NoSct))
    });
    let msg = refused(f.verify(&f.bytes("untrusted-ctlog.json")), |e| {
        matches!(e, BundleError::Fulcio(FulcioError::SctDoesNotVerify { .. }))
    });
    assert!(msg.contains("SCT from unknown CT log"), "{msg}");
    refused(f.verify_with(&f.bytes("good-dsse.json"), "tr-no-ctlog.json", &f.digest), |e| {
        matches!(e, BundleError::Fulcio(FulcioError::SctDoesNotVerify { .. }))
    });
}

#[test]
fn untrusted_rekor_is_refused() {
    let Some(f) = fixtures() else { return };
    refused(f.verify(&f.bytes("untrusted-rekor.json")), |e| {
        matches!(e, BundleError::NoTrustedLog { .. })
    });
}

// --- Transparency log ---

#[test]
fn tampered_set_is_refused() {
    let Some(f) = fixtures() else { return };
    let mut b = f.json("good-dsse.json");
    flip(&mut b, &format!("{ENTRY}/inclusionPromise/signedEntryTimestamp"), 12);
    refused(f.verify(&to_bytes(&b)), |e| {
        matches!(e, BundleError::TlogEntry { problem: TlogProblem::SetDoesNotVerify { .. }, .. })
    });
    // Moving the integrated time (still inside the leaf's validity) breaks the SET too.
    let mut b = f.json("good-dsse.json");
    let t: i64 =
        b.pointer(&format!("{ENTRY}/integratedTime")).unwrap().as_str().unwrap().parse().unwrap();
    *b.pointer_mut(&format!("{ENTRY}/integratedTime")).unwrap() = (t + 60).to_string().into();
    refused(f.verify(&to_bytes(&b)), |e| {
        matches!(e, BundleError::TlogEntry { problem: TlogProblem::SetDoesNotVerify { .. }, .. })
    });
    // So does another log index.
    let mut b = f.json("good-dsse.json");
    let i: i64 =
        b.pointer(&format!("{ENTRY}/logIndex")).unwrap().as_str().unwrap().parse().unwrap();
    *b.pointer_mut(&format!("{ENTRY}/logIndex")).unwrap() = (i + 1).to_string().into();
    refused(f.verify(&to_bytes(&b)), |e| {
        matches!(e, BundleError::TlogEntry { problem: TlogProblem::SetDoesNotVerify { .. }, .. })
    });
}

#[test]
fn missing_set_leaves_no_signing_time() {
    let Some(f) = fixtures() else { return };
    let mut b = f.json("good-dsse.json");
    b.pointer_mut(ENTRY).unwrap().as_object_mut().unwrap().remove("inclusionPromise");
    refused(f.verify(&to_bytes(&b)), |e| matches!(e, BundleError::NoSigningTime));
}

#[test]
fn tampered_inclusion_proof_is_refused() {
    let Some(f) = fixtures() else { return };
    let mut b = f.json("good-dsse.json");
    flip(&mut b, &format!("{ENTRY}/inclusionProof/hashes/0"), 3);
    refused(f.verify(&to_bytes(&b)), |e| {
        matches!(
            e,
            BundleError::TlogEntry {
                problem: TlogProblem::Inclusion(MerkleError::RootMismatch { .. }),
                ..
            }
        )
    });
    // Dropping the last hash makes the path too short for the tree.
    let mut b = f.json("good-dsse.json");
    b.pointer_mut(&format!("{ENTRY}/inclusionProof/hashes")).unwrap().as_array_mut().unwrap().pop();
    refused(f.verify(&to_bytes(&b)), |e| {
        matches!(
            e,
            BundleError::TlogEntry {
                problem: TlogProblem::Inclusion(MerkleError::Malformed { .. }),
                ..
            }
        )
    });
    // rootHash and treeSize must agree with the signed checkpoint.
    let mut b = f.json("good-dsse.json");
    flip(&mut b, &format!("{ENTRY}/inclusionProof/rootHash"), 0);
    refused(f.verify(&to_bytes(&b)), |e| {
        matches!(
            e,
            BundleError::TlogEntry {
                problem: TlogProblem::ProofCheckpointMismatch { field: "rootHash" },
                ..
            }
        )
    });
    let mut b = f.json("good-dsse.json");
    let p = format!("{ENTRY}/inclusionProof/treeSize");
    let size: u64 = b.pointer(&p).unwrap().as_str().unwrap().parse().unwrap();
    *b.pointer_mut(&p).unwrap() = (size + 1).to_string().into();
    refused(f.verify(&to_bytes(&b)), |e| matches!(e, BundleError::TlogEntry { .. }));
    // No proof at all (v0.2+ requires it).
    let mut b = f.json("good-dsse.json");
    b.pointer_mut(ENTRY).unwrap().as_object_mut().unwrap().remove("inclusionProof");
    refused(f.verify(&to_bytes(&b)), |e| {
        matches!(e, BundleError::TlogEntry { problem: TlogProblem::NoInclusionProof, .. })
    });
}

#[test]
fn tampered_checkpoint_is_refused() {
    let Some(f) = fixtures() else { return };
    let p = format!("{ENTRY}/inclusionProof/checkpoint/envelope");
    let edit = |change: &dyn Fn(&str) -> String| {
        let mut b = f.json("good-dsse.json");
        let text = b.pointer(&p).unwrap().as_str().unwrap().to_owned();
        *b.pointer_mut(&p).unwrap() = change(&text).into();
        f.verify(&to_bytes(&b))
    };
    let is_sig = |e: &BundleError| {
        matches!(
            e,
            BundleError::TlogEntry {
                problem: TlogProblem::Inclusion(MerkleError::CheckpointSignature { .. }),
                ..
            }
        )
    };
    // Another tree size in the signed text.
    refused(
        edit(&|t| {
            let mut lines: Vec<String> = t.split('\n').map(str::to_owned).collect();
            lines[1] = format!("{}", lines[1].parse::<u64>().unwrap() + 1);
            lines.join("\n")
        }),
        is_sig,
    );
    // Another origin.
    refused(edit(&|t| t.replacen("rekor.sigstore.mock", "rekor.evil.mock", 1)), is_sig);
    // A flipped signature byte.
    refused(
        edit(&|t| {
            let (text, sig_line) = t.split_once("\n\n").unwrap();
            let (name, sig) = sig_line.trim_end().rsplit_once(' ').unwrap();
            let mut raw = b64(sig);
            raw[10] ^= 1;
            format!("{text}\n\n{name} {}\n", enc(&raw))
        }),
        is_sig,
    );
    // No signature lines.
    refused(edit(&|t| format!("{}\n\n", t.split_once("\n\n").unwrap().0)), |e| {
        matches!(
            e,
            BundleError::TlogEntry {
                problem: TlogProblem::Inclusion(MerkleError::Checkpoint { .. }),
                ..
            }
        )
    });
}

#[test]
fn tlog_body_must_describe_this_bundle() {
    let Some(f) = fixtures() else { return };
    let body_mismatch = |e: &BundleError| {
        matches!(e, BundleError::TlogEntry { problem: TlogProblem::BodyMismatch { .. }, .. })
    };
    // A valid entry of another signing (good-dsse-2) attached to this bundle.
    let mut b = f.json("good-dsse.json");
    let other = f.json("good-dsse-2.json");
    b["verificationMaterial"]["tlogEntries"] = other["verificationMaterial"]["tlogEntries"].clone();
    refused(f.verify(&to_bytes(&b)), body_mismatch);
    // kindVersion that disagrees with the body.
    let mut b = f.json("good-dsse.json");
    *b.pointer_mut(&format!("{ENTRY}/kindVersion/kind")).unwrap() = "hashedrekord".into();
    refused(f.verify(&to_bytes(&b)), |e| {
        matches!(e, BundleError::TlogEntry { problem: TlogProblem::KindMismatch { .. }, .. })
    });
    // The leaf certificate of another signing: the body names another verifier.
    let mut b = f.json("good-dsse.json");
    b["verificationMaterial"]["certificate"] = other["verificationMaterial"]["certificate"].clone();
    let msg = refused(f.verify(&to_bytes(&b)), body_mismatch);
    assert!(msg.ends_with("recorded verifier is not the leaf certificate"), "{msg}");
}

#[test]
fn duplicate_and_missing_tlog_entries_are_refused() {
    let Some(f) = fixtures() else { return };
    let mut b = f.json("good-dsse.json");
    let entry = b.pointer(ENTRY).unwrap().clone();
    b["verificationMaterial"]["tlogEntries"].as_array_mut().unwrap().push(entry);
    refused(f.verify(&to_bytes(&b)), |e| matches!(e, BundleError::DuplicateTlogEntry { .. }));
    let mut b = f.json("good-dsse.json");
    b["verificationMaterial"]["tlogEntries"] = Value::Array(Vec::new());
    refused(f.verify(&to_bytes(&b)), |e| matches!(e, BundleError::NoTlogEntry));
}

// --- Signature and binding to the pinned digest ---

#[test]
fn bundle_for_another_digest_is_refused() {
    let Some(f) = fixtures() else { return };
    // Validly signed and logged, but the statement names another image.
    let msg = refused(f.verify(&f.bytes("other-digest.json")), |e| {
        matches!(e, BundleError::DigestMismatch { .. })
    });
    assert!(
        msg.starts_with(&format!("bundle signs {} (statement subject)", f.other_digest)),
        "{msg}"
    );
    // The good bundle presented for another pinned digest (replay).
    refused(f.verify_with(&f.bytes("good-dsse.json"), "trusted_root.json", &f.other_digest), |e| {
        matches!(e, BundleError::DigestMismatch { .. })
    });
    refused(
        f.verify_with(&f.bytes("good-message.json"), "trusted_root.json", &f.other_digest),
        |e| matches!(e, BundleError::DigestMismatch { .. }),
    );
}

#[test]
fn dsse_tampering_is_refused() {
    let Some(f) = fixtures() else { return };
    // Payload rewritten to name another digest: the log recorded the original payload's hash.
    let mut b = f.json("good-dsse.json");
    let mut st: Value =
        serde_json::from_slice(&b64(b["dsseEnvelope"]["payload"].as_str().unwrap())).unwrap();
    st["subject"][0]["digest"]["sha256"] = f.other_digest["sha256:".len()..].into();
    b["dsseEnvelope"]["payload"] = enc(&to_bytes(&st)).into();
    refused(f.verify(&to_bytes(&b)), |e| matches!(e, BundleError::TlogEntry { .. }));
    // payloadType changed: PAE differs, the signature fails.
    let mut b = f.json("good-dsse.json");
    b["dsseEnvelope"]["payloadType"] = "application/json".into();
    refused(f.verify(&to_bytes(&b)), |e| matches!(e, BundleError::SignatureDoesNotVerify { .. }));
    // Two signatures, or none.
    let mut b = f.json("good-dsse.json");
    let sig = b["dsseEnvelope"]["signatures"][0].clone();
    b["dsseEnvelope"]["signatures"].as_array_mut().unwrap().push(sig);
    refused(f.verify(&to_bytes(&b)), |e| matches!(e, BundleError::Content { .. }));
    let mut b = f.json("good-dsse.json");
    b["dsseEnvelope"]["signatures"] = Value::Array(Vec::new());
    refused(f.verify(&to_bytes(&b)), |e| matches!(e, BundleError::Content { .. }));
    // Flipped signature: the log recorded the original.
    let mut b = f.json("good-dsse.json");
    flip(&mut b, "/dsseEnvelope/signatures/0/sig", 20);
    refused(f.verify(&to_bytes(&b)), |e| matches!(e, BundleError::TlogEntry { .. }));
}

#[test]
fn statement_must_be_a_cosign_signature() {
    let Some(f) = fixtures() else { return };
    let msg = refused(f.verify(&f.bytes("other-predicate.json")), |e| {
        matches!(e, BundleError::Statement { .. })
    });
    assert!(msg.contains("predicateType is `https://slsa.dev/provenance/v1`"), "{msg}");
    let msg = refused(f.verify(&f.bytes("not-intoto.json")), |e| {
        matches!(e, BundleError::Statement { .. })
    });
    assert!(msg.contains("payloadType is `text/plain`"), "{msg}");
}

#[test]
fn message_signature_tampering_is_refused() {
    let Some(f) = fixtures() else { return };
    let mut b = f.json("good-message.json");
    let other = hex::decode(&f.other_digest["sha256:".len()..]).unwrap();
    b["messageSignature"]["messageDigest"]["digest"] = enc(&other).into();
    refused(f.verify(&to_bytes(&b)), |e| matches!(e, BundleError::TlogEntry { .. }));
    let mut b = f.json("good-message.json");
    flip(&mut b, "/messageSignature/signature", 20);
    refused(f.verify(&to_bytes(&b)), |e| matches!(e, BundleError::TlogEntry { .. }));
}

// --- Framing and malformed input ---

#[test]
fn malformed_bundles_are_refused() {
    let Some(f) = fixtures() else { return };
    let good = f.bytes("good-dsse.json");
    // Truncated JSON.
    refused(f.verify(&good[..good.len() / 2]), |e| matches!(e, BundleError::Malformed { .. }));
    // A duplicate key.
    let dup = String::from_utf8(good.clone()).unwrap().replacen('{', r#"{"mediaType":"x","#, 1);
    refused(f.verify(dup.as_bytes()), |e| matches!(e, BundleError::Malformed { .. }));
    // Base64 that is not base64.
    let mut b = f.json("good-dsse.json");
    b["verificationMaterial"]["certificate"]["rawBytes"] = "not*base64".into();
    let msg = refused(f.verify(&to_bytes(&b)), |e| matches!(e, BundleError::Malformed { .. }));
    assert!(
        msg.starts_with("bundle is malformed: `verificationMaterial.certificate.rawBytes`"),
        "{msg}"
    );
    // Truncated certificate DER.
    let mut b = f.json("good-dsse.json");
    let der = b64(b["verificationMaterial"]["certificate"]["rawBytes"].as_str().unwrap());
    b["verificationMaterial"]["certificate"]["rawBytes"] = enc(&der[..der.len() - 10]).into();
    let msg = refused(f.verify(&to_bytes(&b)), |e| matches!(e, BundleError::Certificate(_)));
    assert!(msg.starts_with("leaf certificate is not a DER X.509 certificate"), "{msg}");
    // A flipped bit in the certificate's signature: the log recorded the original certificate.
    let mut b = f.json("good-dsse.json");
    let n = der.len();
    flip(&mut b, "/verificationMaterial/certificate/rawBytes", n - 3);
    let msg = refused(f.verify(&to_bytes(&b)), |e| {
        matches!(e, BundleError::TlogEntry { problem: TlogProblem::BodyMismatch { .. }, .. })
    });
    assert!(msg.ends_with("recorded verifier is not the leaf certificate"), "{msg}");
    // A negative or non-numeric integer.
    let mut b = f.json("good-dsse.json");
    *b.pointer_mut(&format!("{ENTRY}/logIndex")).unwrap() = "-1".into();
    refused(f.verify(&to_bytes(&b)), |e| matches!(e, BundleError::Malformed { .. }));
    // A public-key hint instead of the certificate.
    let mut b = f.json("good-dsse.json");
    b["verificationMaterial"]["certificate"] = Value::Null;
    let vm = b["verificationMaterial"].as_object_mut().unwrap();
    vm.remove("certificate");
    vm.insert("publicKey".into(), serde_json::json!({"hint": "abc"}));
    refused(f.verify(&to_bytes(&b)), |e| matches!(e, BundleError::PublicKeyHint { .. }));
    // Too large.
    let huge = vec![b' '; signing::bundle::MAX_BUNDLE_BYTES + 1];
    refused(f.verify(&huge), |e| matches!(e, BundleError::TooLarge { .. }));
}

#[test]
fn media_types() {
    let Some(f) = fixtures() else { return };
    let with = |mt: &str| {
        let mut b = f.json("good-dsse.json");
        b["mediaType"] = mt.into();
        f.verify(&to_bytes(&b))
    };
    with("application/vnd.dev.sigstore.bundle+json;version=0.3").unwrap();
    refused(with("application/vnd.dev.sigstore.bundle.v0.9+json"), |e| {
        matches!(e, BundleError::MediaType { .. })
    });
    refused(with("application/vnd.dev.sigstore.bundle+json;version=0.1"), |e| {
        matches!(e, BundleError::VersionTooOld { .. })
    });
}

// --- Through the policy ---

fn policy_with(f: &Fixtures, subject_line: &str) -> signing::Policy {
    let yaml = format!(
        "version: 1\nsigners:\n  ci:\n    keyless:\n      issuer: {}\n      {subject_line}\n      trusted-root: tr.json\nrules:\n  - images: [docker.io/linuxkit/*]\n    signers: [ci]\n",
        f.issuer
    );
    PolicyFile::parse("policy.yaml", &yaml)
        .unwrap()
        .resolve(&BTreeMap::from([("tr.json".to_owned(), f.bytes("trusted_root.json"))]))
        .unwrap()
}

fn verify_image(
    policy: &signing::Policy,
    f: &Fixtures,
    bundles: &[Vec<u8>],
) -> Result<signing::Verdict, signing::Refusal> {
    let input = ImageInput {
        image: "linuxkit/kernel:6.6",
        repository: "docker.io/linuxkit/kernel",
        digest: &f.digest,
        cosign_layers: &[],
        bundles,
        ..ImageInput::default()
    };
    // Far in the future: keyless verification uses the log's time, not this one.
    signing::verify(policy, &input, UnixTime(4_000_000_000))
}

#[test]
fn policy_accepts_a_keyless_bundle_and_records_it() {
    let Some(f) = fixtures() else { return };
    let p = policy_with(f, &format!("subject: {}", f.identity));
    let bundles = vec![f.bytes("wrong-identity.json"), f.bytes("good-dsse.json")];
    let v = verify_image(&p, f, &bundles).unwrap();
    assert_eq!(v.satisfied_by.len(), 1);
    let s = &v.satisfied_by[0];
    assert_eq!(s.name, "ci");
    assert_eq!(s.description, format!("keyless {} from {}", f.identity, f.issuer));
    let expected =
        format!("sha256:{}", hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bundles[1])));
    assert_eq!(s.signature, expected);
    assert!(s.tlog_entry.is_some());
}

#[test]
fn policy_subject_regex_is_anchored() {
    let Some(f) = fixtures() else { return };
    let bundles = vec![f.bytes("good-dsse.json")];
    let p = policy_with(f, r"subject-regex: 'https://github\.com/example/.*'");
    verify_image(&p, f, &bundles).unwrap();
    // A prefix of the identity does not match: the regex is anchored at both ends.
    let p = policy_with(f, r"subject-regex: 'https://github\.com/example'");
    let refusal = verify_image(&p, f, &bundles).unwrap_err().to_string();
    assert!(
        refusal.ends_with(&format!(
            "bundle 0: certificate subject is `{}`, expected a match of regex `https://github\\.com/example`",
            f.identity
        )),
        "{refusal}"
    );
}

#[test]
fn policy_refusal_names_each_bundle() {
    let Some(f) = fixtures() else { return };
    let p = policy_with(f, &format!("subject: {}", f.identity));
    let bundles = vec![f.bytes("wrong-issuer.json"), f.bytes("other-digest.json")];
    let refusal = verify_image(&p, f, &bundles).unwrap_err().to_string();
    assert!(refusal.starts_with("linuxkit/kernel:6.6: rule docker.io/linuxkit/*: needs a signature by ci, 0 verified: ci (keyless identity from https://token.actions.githubusercontent.com): bundle 0: certificate OIDC issuer is `https://accounts.example.com`"), "{refusal}");
    assert!(refusal.contains(", bundle 1: bundle signs sha256:abab"), "{refusal}");
    // No bundle at all.
    let refusal = verify_image(&p, f, &[]).unwrap_err().to_string();
    assert!(refusal.contains("no signature found"), "{refusal}");
}

#[test]
fn every_corrupted_certificate_byte_is_refused_without_panic() {
    let Some(f) = fixtures() else { return };
    let b = f.json("good-dsse.json");
    let der = b64(b["verificationMaterial"]["certificate"]["rawBytes"].as_str().unwrap());
    for at in 0..der.len() {
        let mut bad = der.clone();
        bad[at] ^= 0x80;
        let mut b = b.clone();
        b["verificationMaterial"]["certificate"]["rawBytes"] = enc(&bad).into();
        assert!(f.verify(&to_bytes(&b)).is_err(), "byte {at} flipped was accepted");
    }
}

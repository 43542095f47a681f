//! cosign legacy keyless signatures (`.sig` layers with certificate, chain and Rekor bundle
//! annotations) made at test time by independent implementations, verified by
//! `signing::cosign::keyless` and through `signing::verify`, plus attacks each refused for its
//! reason.
//!
//! `testdata/signing/make-bundle.mjs` (see its COSIGN_CASES) has the unmodified @sigstore/sign
//! client obtain a leaf from @sigstore/mock's Fulcio CA and CT log and sign the simple-signing
//! payload, logs the hashedrekord entry in its Rekor v1, and writes cosign's annotations. Cases
//! that need a signing service (another CA, log or identity, a log that records another body)
//! come from there; edits of finished layers (dropped or swapped annotations, malformed PEM) are
//! done here so each attack states exactly what it changes.

// `Refusal` is large by design (it carries context); see the library's lib.rs.
#![allow(clippy::result_large_err)]

mod support;

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::Value;
use signing::cosign::keyless::{VerifiedKeylessLayer, verify_keyless_layer};
use signing::cosign::{
    BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, CosignError, Expected,
    SIGNATURE_ANNOTATION, SignatureLayer, SignatureManifest,
};
use signing::fulcio::{FulcioError, KeylessIdentity};
use signing::policy::{DockerReferenceRule, SubjectMatch};
use signing::rekor::RekorError;
use signing::{ImageInput, PolicyFile, UnixTime};
use support::{Fixtures, fixtures};

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn enc(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// The generated layer `cosign-<case>.json`, parsed from its signature manifest.
fn layer(f: &Fixtures, case: &str) -> SignatureLayer {
    let file = f.json(&format!("cosign-{case}.json"));
    let manifest = SignatureManifest::parse(file["manifest"].as_str().unwrap().as_bytes()).unwrap();
    assert_eq!(manifest.layers.len(), 1);
    SignatureLayer {
        descriptor: manifest.layers[0].clone(),
        payload: b64(file["payload"].as_str().unwrap()),
    }
}

fn annotation(l: &SignatureLayer, name: &str) -> String {
    l.descriptor.annotations[name].clone()
}

fn set_annotation(l: &mut SignatureLayer, name: &str, value: String) {
    l.descriptor.annotations.insert(name.to_owned(), value);
}

/// The Rekor bundle annotation as JSON.
fn rekor_bundle(l: &SignatureLayer) -> Value {
    serde_json::from_str(&annotation(l, BUNDLE_ANNOTATION)).unwrap()
}

fn verify_with(
    f: &Fixtures,
    l: &SignatureLayer,
    root: &str,
    docker_reference: &DockerReferenceRule,
) -> Result<VerifiedKeylessLayer, CosignError> {
    let subject = SubjectMatch::Exact(f.identity.clone());
    let identity = KeylessIdentity { issuer: &f.issuer, subject: &subject };
    let expected = Expected { digest: &f.digest, repository: &f.repository, docker_reference };
    verify_keyless_layer(l, &f.root(root), &identity, &expected)
}

fn verify(f: &Fixtures, l: &SignatureLayer) -> Result<VerifiedKeylessLayer, CosignError> {
    verify_with(f, l, "trusted_root.json", &DockerReferenceRule::Repository)
}

/// Asserts a refusal and that `is_reason` recognises it; returns the one-line message.
#[track_caller]
fn refused(
    result: Result<VerifiedKeylessLayer, CosignError>,
    is_reason: impl Fn(&CosignError) -> bool,
) -> String {
    match result {
        Ok(v) => panic!("accepted, expected a refusal: {v:?}"),
        Err(err) => {
            assert!(is_reason(&err), "refused for another reason: {err}");
            let msg = err.to_string();
            assert!(!msg.contains('\n'), "not one line: {msg}");
            msg
        }
    }
}

// --- Positive cases ---

#[test]
fn keyless_layer_of_the_pinned_digest_verifies() {
    let Some(f) = fixtures() else { return };
    let l = layer(f, "good");
    let v = verify(f, &l).unwrap();
    assert_eq!(v.subject, f.identity);
    assert_eq!(v.issuer, f.issuer);
    assert_eq!(v.claims.manifest_digest, f.digest);
    assert_eq!(v.claims.docker_reference, f.repository);
    // The entry is the one the annotation states, its time the log's.
    let bundle = rekor_bundle(&l);
    assert_eq!(Some(v.tlog_entry.integrated_time), bundle["Payload"]["integratedTime"].as_i64());
    assert_eq!(Some(v.tlog_entry.log_index), bundle["Payload"]["logIndex"].as_i64());
    assert_eq!(v.tlog_entry.log_id, bundle["Payload"]["logID"].as_str().unwrap());
    // Without the (optional) chain annotation: the trusted root's chain suffices.
    let mut no_chain = l.clone();
    no_chain.descriptor.annotations.remove(CHAIN_ANNOTATION);
    verify(f, &no_chain).unwrap();
}

#[test]
fn chain_annotation_supplies_an_intermediate_but_never_the_anchor() {
    let Some(f) = fixtures() else { return };
    // The trusted root lists only the Fulcio root: the leaf's issuer comes from the annotation.
    let l = layer(f, "good");
    let v = verify_with(f, &l, "tr-root-only.json", &DockerReferenceRule::Ignore).unwrap();
    assert_eq!(v.subject, f.identity);
    // Without the annotation there is no path to that root.
    let mut no_chain = l.clone();
    no_chain.descriptor.annotations.remove(CHAIN_ANNOTATION);
    let msg = refused(
        verify_with(f, &no_chain, "tr-root-only.json", &DockerReferenceRule::Ignore),
        |e| matches!(e, CosignError::Fulcio(FulcioError::UntrustedCertificate { .. })),
    );
    assert!(msg.contains("does not chain to a certificate authority of the trusted root"), "{msg}");
}

// --- Transparency log ---

#[test]
fn no_set_annotation_is_refused() {
    let Some(f) = fixtures() else { return };
    let mut l = layer(f, "good");
    l.descriptor.annotations.remove(BUNDLE_ANNOTATION);
    let msg = refused(verify(f, &l), |e| matches!(e, CosignError::MissingSigningTime));
    assert!(msg.contains("needs a Rekor entry to prove its signing time"), "{msg}");
}

#[test]
fn set_from_an_untrusted_log_is_refused() {
    let Some(f) = fixtures() else { return };
    refused(verify(f, &layer(f, "untrusted-rekor")), |e| {
        matches!(e, CosignError::Tlog(RekorError::UnknownLog { .. }))
    });
    // A complete trusted root of other keys knows none of these services.
    refused(
        verify_with(f, &layer(f, "good"), "tr-other.json", &DockerReferenceRule::Ignore),
        |e| matches!(e, CosignError::Tlog(RekorError::UnknownLog { .. })),
    );
    // The log's key window in the trusted root ended before the entry.
    refused(
        verify_with(
            f,
            &layer(f, "good"),
            "tr-rekor-window-ended.json",
            &DockerReferenceRule::Ignore,
        ),
        |e| matches!(e, CosignError::Tlog(RekorError::OutsideValidity { .. })),
    );
}

#[test]
fn set_over_another_body_is_refused() {
    let Some(f) = fixtures() else { return };
    let mut l = layer(f, "good");
    let other = rekor_bundle(&layer(f, "good-2"));
    let mut bundle = rekor_bundle(&l);
    bundle["Payload"]["body"] = other["Payload"]["body"].clone();
    set_annotation(&mut l, BUNDLE_ANNOTATION, bundle.to_string());
    refused(verify(f, &l), |e| matches!(e, CosignError::Tlog(RekorError::SetDoesNotVerify { .. })));
    // A flipped SET byte, and a claimed time other than the signed one.
    let mut l = layer(f, "good");
    let mut bundle = rekor_bundle(&l);
    let mut set = b64(bundle["SignedEntryTimestamp"].as_str().unwrap());
    let last = set.len() - 1;
    set[last] ^= 1;
    bundle["SignedEntryTimestamp"] = Value::String(enc(&set));
    set_annotation(&mut l, BUNDLE_ANNOTATION, bundle.to_string());
    refused(verify(f, &l), |e| matches!(e, CosignError::Tlog(RekorError::SetDoesNotVerify { .. })));
    let mut l = layer(f, "good");
    let mut bundle = rekor_bundle(&l);
    let time = bundle["Payload"]["integratedTime"].as_i64().unwrap();
    bundle["Payload"]["integratedTime"] = Value::from(time + 60);
    set_annotation(&mut l, BUNDLE_ANNOTATION, bundle.to_string());
    refused(verify(f, &l), |e| matches!(e, CosignError::Tlog(RekorError::SetDoesNotVerify { .. })));
}

#[test]
fn body_naming_another_payload_signature_or_certificate_is_refused() {
    let Some(f) = fixtures() else { return };
    // The log signed entries that do not describe the layer.
    refused(verify(f, &layer(f, "body-other-hash")), |e| {
        matches!(e, CosignError::Tlog(RekorError::PayloadHash { .. }))
    });
    refused(verify(f, &layer(f, "body-other-signature")), |e| {
        matches!(e, CosignError::Tlog(RekorError::Signature))
    });
    let msg = refused(verify(f, &layer(f, "body-other-certificate")), |e| {
        matches!(e, CosignError::Tlog(RekorError::Certificate { .. }))
    });
    assert!(msg.contains("another certificate"), "{msg}");
    // Honest entries grafted onto another layer. good and good-2 sign the same payload bytes
    // with different ephemeral keys: good-2's entry on good's layer names another signature;
    // good's signature replaced by good-2's no longer matches good's entry; good-2's signature
    // and entry with good's certificate name another certificate.
    let good = layer(f, "good");
    let good2 = layer(f, "good-2");
    assert_eq!(good.payload, good2.payload);
    let mut l = good.clone();
    set_annotation(&mut l, BUNDLE_ANNOTATION, annotation(&good2, BUNDLE_ANNOTATION));
    refused(verify(f, &l), |e| matches!(e, CosignError::Tlog(RekorError::Signature)));
    // An honest entry of another payload: other-digest's.
    let mut l = good.clone();
    let other = layer(f, "other-digest");
    set_annotation(&mut l, BUNDLE_ANNOTATION, annotation(&other, BUNDLE_ANNOTATION));
    refused(verify(f, &l), |e| matches!(e, CosignError::Tlog(RekorError::PayloadHash { .. })));
    let mut l = good.clone();
    set_annotation(&mut l, SIGNATURE_ANNOTATION, annotation(&good2, SIGNATURE_ANNOTATION));
    refused(verify(f, &l), |e| matches!(e, CosignError::Tlog(RekorError::Signature)));
    let mut l = good2.clone();
    set_annotation(&mut l, CERTIFICATE_ANNOTATION, annotation(&good, CERTIFICATE_ANNOTATION));
    refused(verify(f, &l), |e| matches!(e, CosignError::Tlog(RekorError::Certificate { .. })));
}

// --- Certificate ---

#[test]
fn leaf_from_an_untrusted_ca_is_refused() {
    let Some(f) = fixtures() else { return };
    // The chain annotation carries the attacker's self-signed "root": it is not an anchor.
    let l = layer(f, "untrusted-ca");
    let chain = annotation(&l, CHAIN_ANNOTATION);
    assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 1);
    let msg = refused(verify(f, &l), |e| {
        matches!(e, CosignError::Fulcio(FulcioError::UntrustedCertificate { .. }))
    });
    assert!(msg.contains("nor through the 1 chain certificate given"), "{msg}");
    let mut no_chain = l.clone();
    no_chain.descriptor.annotations.remove(CHAIN_ANNOTATION);
    refused(verify(f, &no_chain), |e| {
        matches!(e, CosignError::Fulcio(FulcioError::UntrustedCertificate { .. }))
    });
    // The Fulcio CA's window in the trusted root ended before the signing time.
    refused(
        verify_with(f, &layer(f, "good"), "tr-ca-window-ended.json", &DockerReferenceRule::Ignore),
        |e| matches!(e, CosignError::Fulcio(FulcioError::UntrustedCertificate { .. })),
    );
}

#[test]
fn leaf_without_code_signing_is_refused() {
    let Some(f) = fixtures() else { return };
    let msg = refused(verify(f, &layer(f, "no-code-signing")), |e| {
        matches!(e, CosignError::Fulcio(FulcioError::Leaf(_)))
    });
    assert!(msg.contains("lacks codeSigning"), "{msg}");
}

#[test]
fn integrated_time_outside_leaf_validity_is_refused() {
    let Some(f) = fixtures() else { return };
    refused(
        verify(f, &layer(f, "cert-expired")),
        |e| matches!(e, CosignError::Fulcio(FulcioError::CertificateNotValidAtSigningTime { signing_time, not_after, .. }) if signing_time > not_after),
    );
    refused(
        verify(f, &layer(f, "cert-not-yet-valid")),
        |e| matches!(e, CosignError::Fulcio(FulcioError::CertificateNotValidAtSigningTime { signing_time, not_before, .. }) if signing_time < not_before),
    );
}

#[test]
fn missing_or_unknown_sct_is_refused() {
    let Some(f) = fixtures() else { return };
    refused(verify(f, &layer(f, "no-sct")), |e| {
        matches!(e, CosignError::Fulcio(FulcioError::NoSct))
    });
    let msg = refused(verify(f, &layer(f, "untrusted-ctlog")), |e| {
        matches!(e, CosignError::Fulcio(FulcioError::SctDoesNotVerify { .. }))
    });
    assert!(msg.contains("SCT from unknown CT log"), "{msg}");
    refused(
        verify_with(f, &layer(f, "good"), "tr-no-ctlog.json", &DockerReferenceRule::Ignore),
        |e| matches!(e, CosignError::Fulcio(FulcioError::SctDoesNotVerify { .. })),
    );
}

#[test]
fn wrong_subject_or_issuer_is_refused() {
    let Some(f) = fixtures() else { return };
    let msg = refused(verify(f, &layer(f, "wrong-identity")), |e| {
        matches!(e, CosignError::Fulcio(FulcioError::Subject { .. }))
    });
    assert!(msg.contains("https://github.com/evil/app/"), "{msg}");
    let msg = refused(verify(f, &layer(f, "wrong-issuer")), |e| {
        matches!(e, CosignError::Fulcio(FulcioError::Issuer { .. }))
    });
    assert!(msg.contains("https://accounts.example.com"), "{msg}");
}

// --- Payload ---

#[test]
fn payload_for_another_digest_is_refused() {
    let Some(f) = fixtures() else { return };
    let msg = refused(verify(f, &layer(f, "other-digest")), |e| {
        matches!(e, CosignError::DigestMismatch { .. })
    });
    assert!(msg.contains(&f.other_digest), "{msg}");
}

#[test]
fn tampered_payload_and_docker_reference_are_refused() {
    let Some(f) = fixtures() else { return };
    let mut l = layer(f, "good");
    l.payload[10] ^= 1;
    refused(verify(f, &l), |e| matches!(e, CosignError::PayloadDigestMismatch { .. }));
    let l = layer(f, "good");
    let rule = DockerReferenceRule::Exact("registry.example/other/app".to_owned());
    refused(verify_with(f, &l, "trusted_root.json", &rule), |e| {
        matches!(e, CosignError::DockerReferenceMismatch { .. })
    });
}

// --- Malformed annotations ---

/// Recognises the expected refusal.
type IsReason = fn(&CosignError) -> bool;

#[test]
fn malformed_pem_is_refused() {
    let Some(f) = fixtures() else { return };
    let good = layer(f, "good");
    let leaf = annotation(&good, CERTIFICATE_ANNOTATION);
    let cases: Vec<(&str, String, IsReason)> = vec![
        (CERTIFICATE_ANNOTATION, leaf[..leaf.len() / 2].to_owned(), |e| {
            matches!(e, CosignError::BadPem { .. })
        }),
        (CERTIFICATE_ANNOTATION, leaf.replace('M', "*"), |e| {
            matches!(e, CosignError::BadPem { .. })
        }),
        (CERTIFICATE_ANNOTATION, format!("{leaf}{leaf}"), |e| {
            matches!(e, CosignError::BadPem { .. })
        }),
        (CERTIFICATE_ANNOTATION, "not a certificate".to_owned(), |e| {
            matches!(e, CosignError::BadPem { .. })
        }),
        // Valid PEM around DER that is not a certificate.
        (
            CERTIFICATE_ANNOTATION,
            "-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n".to_owned(),
            |e| matches!(e, CosignError::Certificate(_)),
        ),
        (CHAIN_ANNOTATION, "garbage".to_owned(), |e| matches!(e, CosignError::BadPem { .. })),
    ];
    for (name, value, is_reason) in cases {
        let mut l = good.clone();
        set_annotation(&mut l, name, value.clone());
        refused(verify(f, &l), is_reason);
    }
    let mut l = good.clone();
    l.descriptor.annotations.remove(CERTIFICATE_ANNOTATION);
    refused(verify(f, &l), |e| matches!(e, CosignError::MissingCertificate));
    let mut l = good.clone();
    set_annotation(&mut l, BUNDLE_ANNOTATION, "{\"SignedEntryTimestamp\":".to_owned());
    refused(verify(f, &l), |e| matches!(e, CosignError::Tlog(RekorError::Malformed { .. })));
}

// --- Through the policy ---

fn policy(f: &Fixtures, subject: &str) -> signing::Policy {
    let yaml = format!(
        "version: 1\nsigners:\n  ci:\n    keyless:\n      issuer: {}\n      subject: {subject}\n      trusted-root: tr.json\nrules:\n  - images: [registry.example/kit/*]\n    signers: [ci]\n    docker-reference: repository\n",
        f.issuer
    );
    PolicyFile::parse("policy.yaml", &yaml)
        .unwrap()
        .resolve(&BTreeMap::from([("tr.json".to_owned(), f.bytes("trusted_root.json"))]))
        .unwrap()
}

fn verify_image(
    p: &signing::Policy,
    f: &Fixtures,
    layers: &[SignatureLayer],
) -> Result<signing::Verdict, signing::Refusal> {
    let input = ImageInput {
        image: "registry.example/kit/app:1",
        repository: &f.repository,
        digest: &f.digest,
        cosign_layers: layers,
        ..ImageInput::default()
    };
    // Far in the future: keyless verification uses the log's time, not this one.
    signing::verify(p, &input, UnixTime(4_000_000_000))
}

#[test]
fn policy_accepts_a_keyless_layer_and_records_its_rekor_entry() {
    let Some(f) = fixtures() else { return };
    let p = policy(f, &f.identity);
    let layers = vec![layer(f, "wrong-identity"), layer(f, "good")];
    let v = verify_image(&p, f, &layers).unwrap();
    assert_eq!(v.satisfied_by.len(), 1);
    let s = &v.satisfied_by[0];
    assert_eq!(s.name, "ci");
    assert_eq!(s.description, format!("keyless {} from {} (cosign .sig)", f.identity, f.issuer));
    assert_eq!(s.signature, layers[1].descriptor.digest);
    let entry = s.tlog_entry.as_ref().unwrap();
    let bundle = rekor_bundle(&layers[1]);
    assert_eq!(Some(entry.log_index), bundle["Payload"]["logIndex"].as_i64());
    assert_eq!(Some(entry.integrated_time), bundle["Payload"]["integratedTime"].as_i64());
}

#[test]
fn policy_refusal_names_each_layer_in_one_line() {
    let Some(f) = fixtures() else { return };
    let p = policy(f, &f.identity);
    let layers = vec![layer(f, "untrusted-ca"), layer(f, "other-digest")];
    let err = verify_image(&p, f, &layers).unwrap_err().to_string();
    assert!(!err.contains('\n'), "{err}");
    assert!(err.starts_with("registry.example/kit/app:1: rule registry.example/kit/*: needs a signature by ci, 0 verified: ci (keyless "), "{err}");
    assert!(
        err.contains("layer 0: certificate does not chain to a certificate authority"),
        "{err}"
    );
    assert!(err.contains(&format!("layer 1: payload signs digest {}", f.other_digest)), "{err}");
}

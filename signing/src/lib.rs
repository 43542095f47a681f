//! Signature and policy verification for kit's inputs.
//!
//! This crate is pure: bytes and values in, a verdict out.
//! It reads no clock (the caller passes the verification time), no environment,
//! no host filesystem, and it never touches the network.
//! It fails closed: any error while checking a policy means "not verified".
//!
//! # Use
//!
//! 1. [`PolicyFile::parse`] the policy text, read every path in [`PolicyFile::files`], and
//!    [`PolicyFile::resolve`] them into a [`Policy`] (or use [`Policy::none`] when the user
//!    gave no policy: everything is then refused with an example policy in the message).
//!    Apply a LinuxKit `trust:` section with [`Policy::with_legacy_trust`].
//! 2. For each pinned input `D`, fetch the manifest tagged [`cosign::signature_tag`]`(D)`
//!    (absent = no layers), [`cosign::SignatureManifest::parse`] it, fetch each layer's blob;
//!    fetch the OCI 1.1 referrers of `D` with artifact type [`bundle::BUNDLE_MEDIA_TYPE_V03`]
//!    (or the referrers tag fallback) and each one's bundle layer blob, and the referrers with
//!    artifact type [`NOTATION_ARTIFACT_TYPE`] and their envelope layer; then call [`verify()`]
//!    with an [`ImageInput`] (including the pinned manifest's media type and size).
//!    The result is a [`Verdict`] (rule, signers, payload digests, Rekor entries, warnings) or
//!    a one-line [`Refusal`].
//!
//! # What is verified today
//!
//! - cosign key-based signatures in the `.sig` tag scheme ([`cosign`]), optionally with the
//!   Rekor bundle annotation against a pinned trusted root ([`rekor`], [`trusted_root`]);
//! - keyless signatures as Sigstore bundles ([`bundle`]): Fulcio certificate chain at the time
//!   the log proves ([`x509`], [`fulcio`]), embedded SCT, Rekor SET, inclusion proof and
//!   checkpoint ([`merkle`]), DSSE or message signature, binding to the pinned digest, identity;
//! - keyless cosign `.sig` layers ([`cosign::keyless`]): certificate and chain annotations, the
//!   required Rekor SET naming this payload, signature and certificate, the same Fulcio checks at
//!   the log's time ([`fulcio`]), the payload checks of key-based layers, identity;
//! - Notary Project (Notation) JWS and COSE_Sign1 envelopes attached as referrers
//!   ([`notation`]): header and `crit` rules, algorithm bound to the leaf key, signature,
//!   payload equal to the pinned manifest's descriptor, certificate profile, chain to the
//!   policy's trust store, trusted identities, expiry and certificate validity at `now`.
//!
//! Not yet: RFC 3161 timestamps (a Notation countersignature is refused as unsupported), Rekor
//! v2 entries, Notation revocation checks (CRL/OCSP need the network).
//!
//! Sigstore bundles are verified by hand with the RustCrypto crates already used here
//! (plus `x509-cert` 0.3 and `p384`) rather than with `sigstore-verify` 0.15: measured, that crate pulls
//! 74 crates including `aws-lc-rs` (its only crypto provider feature, a long C build) and the
//! previous RustCrypto generation (`der` 0.7, `spki` 0.7, `x509-cert` 0.2), which would duplicate
//! this crate's `der`/`spki` 0.8; the pieces it would provide (trusted root, SET, keys) already
//! exist here.
#![warn(
    clippy::cast_possible_truncation,
    clippy::as_conversions,
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::print_stderr
)]
// Errors here carry context (file, line, image, rule) and are built once per refused input or
// policy error, never in a hot loop, so their size does not matter.
#![allow(clippy::result_large_err)]

pub mod bundle;
pub mod cosign;
pub mod fulcio;
pub mod json;
pub mod keys;
pub mod merkle;
pub mod notation;
pub mod policy;
pub mod rekor;
pub mod trusted_root;
pub mod verify;
pub mod x509;

pub use keys::{KeyId, PublicKey};
pub use policy::{LegacyTrust, Policy, PolicyError, PolicyFile};
pub use verify::{
    ImageInput, NOTATION_ARTIFACT_TYPE, NotationSignature, Refusal, RefusalReason, SignerId,
    UnixTime, Verdict, verify,
};

/// Entry points for fuzz targets (`fuzz/`): arbitrary bytes must not panic.
#[doc(hidden)]
pub mod __fuzz {
    /// Parses bytes as a policy, a simple-signing payload, a signature manifest, a trusted
    /// root, a PEM public key, a certificate, a Sigstore bundle, a Rekor bundle, a keyless cosign
    /// layer, Notation JWS and COSE envelopes and a Notation trust store; every result is
    /// discarded.
    pub fn parse_all(data: &[u8]) {
        if let Ok(text) = std::str::from_utf8(data) {
            let _ = crate::PolicyFile::parse("fuzz.yaml", text);
        }
        let _ = crate::cosign::parse_payload(data);
        let _ = crate::cosign::SignatureManifest::parse(data);
        let _ = crate::trusted_root::TrustedRoot::parse(data);
        let _ = crate::PublicKey::from_pem(data);
        let _ = crate::x509::Certificate::from_der(data, "fuzz");
        let subject = crate::policy::SubjectMatch::Exact(String::new());
        let identity = crate::bundle::KeylessIdentity { issuer: "", subject: &subject };
        let _ = crate::bundle::verify_bundle(
            data,
            &crate::trusted_root::TrustedRoot::default(),
            "",
            &identity,
        );
        let _ = crate::notation::jws::parse(data);
        let _ = crate::notation::cose::parse(data);
        let store = crate::notation::TrustStore {
            kind: crate::notation::TrustStoreType::Ca,
            certificates: Vec::new(),
        };
        let target = crate::notation::TargetArtifact { media_type: "", digest: "sha256:", size: 0 };
        let identities = ["*".to_owned()];
        for media_type in [crate::notation::MEDIA_TYPE_JWS, crate::notation::MEDIA_TYPE_COSE] {
            let _ =
                crate::notation::verify_envelope(media_type, data, &store, &identities, &target, 0);
        }
        let _ = crate::notation::TrustStore::from_pem_files(
            crate::notation::TrustStoreType::Ca,
            &[data.to_vec()],
        );
        let root = crate::trusted_root::TrustedRoot::default();
        if let Ok(text) = std::str::from_utf8(data) {
            // A keyless cosign layer whose annotations and payload are all the input.
            let annotations = [
                crate::cosign::SIGNATURE_ANNOTATION,
                crate::cosign::CERTIFICATE_ANNOTATION,
                crate::cosign::CHAIN_ANNOTATION,
                crate::cosign::BUNDLE_ANNOTATION,
            ]
            .into_iter()
            .map(|name| (name.to_owned(), text.to_owned()))
            .collect();
            let layer = crate::cosign::SignatureLayer {
                descriptor: crate::cosign::LayerDescriptor {
                    media_type: crate::cosign::SIMPLESIGNING_MEDIA_TYPE.to_owned(),
                    digest: String::new(),
                    size: u64::try_from(data.len()).unwrap_or(u64::MAX),
                    annotations,
                },
                payload: data.to_vec(),
            };
            let digest = format!("sha256:{}", "0".repeat(64));
            let rule = crate::policy::DockerReferenceRule::Ignore;
            let expected = crate::cosign::Expected {
                digest: &digest,
                repository: "",
                docker_reference: &rule,
            };
            let _ =
                crate::cosign::keyless::verify_keyless_layer(&layer, &root, &identity, &expected);
        }
        if let (Ok(text), Ok(key)) = (std::str::from_utf8(data), crate::PublicKey::from_pem(data)) {
            let _ = crate::rekor::verify_bundle_annotation(text, data, data, &key, &root);
        }
    }
}

#[cfg(test)]
mod testutil;

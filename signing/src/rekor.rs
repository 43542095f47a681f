//! Rekor entries attached to cosign legacy signatures: the `dev.sigstore.cosign/bundle`
//! annotation (signed entry timestamp, "SET"), verified offline against a pinned trusted root.
//!
//! Steps (reference/peers.md §6.3; sigstore/cosign `pkg/cosign/verify.go: VerifyBundle`,
//! sigstore-go `pkg/tlog/entry.go: VerifySET`):
//! 1. The annotation is `{"SignedEntryTimestamp": b64, "Payload": {"body": b64,
//!    "integratedTime": int, "logIndex": int, "logID": hex}}` (strict JSON).
//! 2. The log is the trusted root's tlog whose `logId.keyId` equals `logID`, and
//!    `integratedTime` lies in that key's `validFor` window.
//! 3. The SET verifies with the log key over the RFC 8785 canonical JSON
//!    `{"body":…,"integratedTime":…,"logID":…,"logIndex":…}` (keys sorted; only strings and
//!    integers, so canonical form is the compact serialization).
//! 4. The body is a `hashedrekord` 0.0.1 entry naming `sha256(payload)`, the same signature
//!    bytes as the layer's annotation, and the same public key as the policy's
//!    ([`verify_bundle_annotation`]) or, for keyless signatures, the same certificate (DER) as the
//!    layer's certificate annotation ([`verify_bundle_annotation_for_certificate`]).
//!
//! The verified `integratedTime` is returned: it is the trusted signing time.
//! Not done: inclusion proofs (legacy annotations carry none), Rekor v2 entries, `intoto`/`dsse`
//! bodies (those belong to attestations).

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::json::{self, Value};
use crate::keys::{KeyId, PublicKey, RsaScheme};
use crate::trusted_root::{TransparencyLog, TrustedRoot};
use crate::x509::Certificate;

/// Errors in a Rekor bundle annotation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RekorError {
    /// The annotation is not the expected JSON.
    #[error("Rekor bundle is malformed: {reason}")]
    Malformed {
        /// Why.
        reason: String,
    },
    /// No trusted log has this id.
    #[error("Rekor entry is from log {log_id}, which the trusted root does not list")]
    UnknownLog {
        /// The log id, hex.
        log_id: String,
    },
    /// The entry's time is outside the log key's validity.
    #[error("Rekor entry time {integrated_time} is outside the validity of log key {log_id}")]
    OutsideValidity {
        /// The entry's integrated time (Unix seconds).
        integrated_time: i64,
        /// The log id, hex.
        log_id: String,
    },
    /// The SET does not verify (coarse on purpose).
    #[error("Rekor signed entry timestamp does not verify with log key {key}")]
    SetDoesNotVerify {
        /// The log key.
        key: KeyId,
    },
    /// The entry body is not a hashedrekord 0.0.1 entry.
    #[error("Rekor entry is {found}, expected hashedrekord 0.0.1")]
    WrongKind {
        /// The kind and version found.
        found: String,
    },
    /// The entry names another payload.
    #[error("Rekor entry records payload hash {found}, expected {expected}")]
    PayloadHash {
        /// `sha256:<hex>` of the payload.
        expected: String,
        /// What the entry records.
        found: String,
    },
    /// The entry holds another signature.
    #[error("Rekor entry records a different signature than the layer")]
    Signature,
    /// The entry was logged for another key.
    #[error("Rekor entry was logged for key {found}, expected {expected}")]
    PublicKey {
        /// The policy's key.
        expected: KeyId,
        /// The key in the entry (or `unreadable`).
        found: String,
    },
    /// The entry was logged for another certificate (keyless).
    #[error("Rekor entry was logged for {found}, expected the layer's certificate")]
    Certificate {
        /// What the entry records instead.
        found: String,
    },
}

/// What a Rekor entry must name as the signature's verifier.
#[derive(Debug, Clone, Copy)]
enum Verifier<'a> {
    /// A public key (key-based cosign).
    Key(&'a PublicKey),
    /// A certificate (keyless cosign).
    Certificate(&'a Certificate),
}

/// A verified Rekor entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedEntry {
    /// The log's id, hex.
    pub log_id: String,
    /// The entry's index in the log.
    pub log_index: i64,
    /// When the log integrated the entry (Unix seconds): the trusted signing time.
    pub integrated_time: i64,
}

fn malformed(reason: impl Into<String>) -> RekorError {
    RekorError::Malformed { reason: reason.into() }
}

fn b64(text: &str, what: &str) -> Result<Vec<u8>, RekorError> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| malformed(format!("{what} is not standard base64 ({e})")))
}

fn str_member<'v>(v: &'v Value, key: &str, path: &str) -> Result<&'v str, RekorError> {
    match v.member(key) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(malformed(format!("`{path}` is {}, expected a string", other.kind()))),
        None => Err(malformed(format!("`{path}` is missing"))),
    }
}

fn int_member(v: &Value, key: &str, path: &str) -> Result<i64, RekorError> {
    match v.member(key) {
        Some(Value::Number(n)) => n
            .as_i64()
            .filter(|n| *n >= 0)
            .ok_or_else(|| malformed(format!("`{path}` is {n}, expected a non-negative integer"))),
        Some(other) => Err(malformed(format!("`{path}` is {}, expected an integer", other.kind()))),
        None => Err(malformed(format!("`{path}` is missing"))),
    }
}

/// Whether `set` is the log's signature over the RFC 8785 canonical JSON
/// `{"body":…,"integratedTime":…,"logID":…,"logIndex":…}` (keys sorted; only strings and
/// integers, so canonical form is the compact serialization).
pub(crate) fn set_verifies(
    log: &TransparencyLog,
    body_b64: &str,
    integrated_time: i64,
    log_id_hex: &str,
    log_index: i64,
    set: &[u8],
) -> Result<bool, RekorError> {
    // RFC 8785: members sorted by key; strings escaped as JSON (base64 and hex need none).
    let quote = |s: &str| serde_json::to_string(s).map_err(|e| malformed(e.to_string()));
    let canonical = format!(
        "{{\"body\":{},\"integratedTime\":{integrated_time},\"logID\":{},\"logIndex\":{log_index}}}",
        quote(body_b64)?,
        quote(log_id_hex)?,
    );
    Ok(log.key.verifies(canonical.as_bytes(), set, RsaScheme::Pkcs1v15Sha256))
}

/// Verifies the `dev.sigstore.cosign/bundle` annotation of a layer whose `payload` and
/// `signature` (decoded annotation bytes) were already verified with `key`.
pub fn verify_bundle_annotation(
    annotation: &str,
    payload: &[u8],
    signature: &[u8],
    key: &PublicKey,
    root: &TrustedRoot,
) -> Result<VerifiedEntry, RekorError> {
    verify_annotation(annotation, payload, signature, Verifier::Key(key), root)
}

/// Verifies the `dev.sigstore.cosign/bundle` annotation of a keyless layer: as
/// [`verify_bundle_annotation`], but the entry must record `leaf` (the layer's certificate).
/// The signature itself is checked by the caller once the certificate is trusted.
pub fn verify_bundle_annotation_for_certificate(
    annotation: &str,
    payload: &[u8],
    signature: &[u8],
    leaf: &Certificate,
    root: &TrustedRoot,
) -> Result<VerifiedEntry, RekorError> {
    verify_annotation(annotation, payload, signature, Verifier::Certificate(leaf), root)
}

fn verify_annotation(
    annotation: &str,
    payload: &[u8],
    signature: &[u8],
    verifier: Verifier<'_>,
    root: &TrustedRoot,
) -> Result<VerifiedEntry, RekorError> {
    let bundle = json::parse(annotation.as_bytes()).map_err(|e| malformed(e.to_string()))?;
    let set_b64 = str_member(&bundle, "SignedEntryTimestamp", "SignedEntryTimestamp")?;
    let set = b64(set_b64, "SignedEntryTimestamp")?;
    let p = bundle.member("Payload").ok_or_else(|| malformed("`Payload` is missing"))?;
    let body_b64 = str_member(p, "body", "Payload.body")?;
    let integrated_time = int_member(p, "integratedTime", "Payload.integratedTime")?;
    let log_index = int_member(p, "logIndex", "Payload.logIndex")?;
    let log_id = str_member(p, "logID", "Payload.logID")?;
    let log_id_bytes =
        hex::decode(log_id).map_err(|e| malformed(format!("`Payload.logID` is not hex ({e})")))?;

    let Some(log) = root.tlog(&log_id_bytes) else {
        return Err(RekorError::UnknownLog { log_id: log_id.to_owned() });
    };
    if !log.valid_at(integrated_time) {
        return Err(RekorError::OutsideValidity { integrated_time, log_id: log_id.to_owned() });
    }
    if !set_verifies(log, body_b64, integrated_time, log_id, log_index, &set)? {
        return Err(RekorError::SetDoesNotVerify { key: log.key.id().clone() });
    }

    let body_bytes = b64(body_b64, "Payload.body")?;
    let body = json::parse(&body_bytes).map_err(|e| malformed(format!("entry body: {e}")))?;
    let kind = str_member(&body, "kind", "body.kind")?;
    let api_version = str_member(&body, "apiVersion", "body.apiVersion")?;
    if kind != "hashedrekord" || api_version != "0.0.1" {
        return Err(RekorError::WrongKind { found: format!("{kind} {api_version}") });
    }
    let spec = body.member("spec").ok_or_else(|| malformed("`body.spec` is missing"))?;
    let hash = spec
        .member("data")
        .and_then(|d| d.member("hash"))
        .ok_or_else(|| malformed("`body.spec.data.hash` is missing"))?;
    let algorithm = str_member(hash, "algorithm", "body.spec.data.hash.algorithm")?;
    let value = str_member(hash, "value", "body.spec.data.hash.value")?;
    let expected = hex::encode(Sha256::digest(payload));
    if algorithm != "sha256" || value != expected {
        return Err(RekorError::PayloadHash {
            expected: format!("sha256:{expected}"),
            found: format!("{algorithm}:{value}"),
        });
    }
    let sig =
        spec.member("signature").ok_or_else(|| malformed("`body.spec.signature` is missing"))?;
    let content = str_member(sig, "content", "body.spec.signature.content")?;
    if b64(content, "body.spec.signature.content")? != signature {
        return Err(RekorError::Signature);
    }
    let logged_key = sig
        .member("publicKey")
        .map(|k| str_member(k, "content", "body.spec.signature.publicKey.content"))
        .transpose()?
        .ok_or_else(|| malformed("`body.spec.signature.publicKey` is missing"))?;
    let pem = b64(logged_key, "body.spec.signature.publicKey.content")?;
    match verifier {
        Verifier::Key(key) => {
            let found = match PublicKey::from_pem(&pem) {
                Ok(k) if k.id() == key.id() => None,
                Ok(k) => Some(k.id().to_string()),
                Err(_) => Some("unreadable".to_owned()),
            };
            if let Some(found) = found {
                return Err(RekorError::PublicKey { expected: key.id().clone(), found });
            }
        }
        Verifier::Certificate(leaf) => {
            let found = match spki::der::pem::decode_vec(pem.trim_ascii()) {
                Ok((label, der)) if label == "CERTIFICATE" && der == leaf.der => None,
                Ok(("CERTIFICATE", _)) => Some("another certificate"),
                Ok(_) => Some("a PEM block that is not a certificate"),
                Err(_) => Some("an unreadable PEM block"),
            };
            if let Some(found) = found {
                return Err(RekorError::Certificate { found: found.to_owned() });
            }
        }
    }
    Ok(VerifiedEntry { log_id: log_id.to_owned(), log_index, integrated_time })
}

//! Sigstore bundles (keyless signatures attached through OCI 1.1 referrers, cosign v3's
//! default), verified offline against a pinned trusted root.
//!
//! Format: `dev.sigstore.bundle.v1.Bundle` in proto3 JSON (sigstore/protobuf-specs), media
//! types `application/vnd.dev.sigstore.bundle.v0.3+json` and
//! `application/vnd.dev.sigstore.bundle+json;version=0.2|0.3` (0.1 is refused: it lets an entry
//! go without an inclusion proof, and cosign v3 itself refuses anything before 0.3; 0.2 differs
//! from 0.3 only in carrying the leaf as a one-certificate chain). proto3 JSON details honoured:
//! `bytes` are base64 (standard or URL-safe, padding optional), `int64` values may be strings or
//! numbers. The JSON is strict ([`crate::json`]: no duplicate or case-variant keys).
//!
//! Steps, in the order of reference/peers.md §6.5 (sigstore-go `pkg/verify/signed_entity.go`):
//! 1. structure: a known media type; exactly one of `messageSignature` and `dsseEnvelope`; a DSSE
//!    envelope carries exactly one signature; the verification material is a Fulcio leaf
//!    (`certificate` in v0.3, the first of `x509CertificateChain` before; the other chain
//!    certificates are ignored, trust comes only from the trusted root). A `publicKey` hint is
//!    refused: keyless signers need a certificate.
//! 2. transparency log entries: duplicates (same log id and index) are refused; entries of logs
//!    the trusted root does not list are skipped; every other entry must pass: its
//!    `kindVersion` equals its body's, the body names this signature, certificate and artifact
//!    (`dsse` 0.0.1: payload hash, the one signature and its verifier; `hashedrekord` 0.0.1: the
//!    message digest, signature and certificate), its inclusion promise (SET) verifies with the
//!    log key valid at `integratedTime`, its inclusion proof (required from v0.2 on) reproduces
//!    the root hash, and the checkpoint is signed by the log key and names the same tree size and
//!    root. At least one entry of a trusted log must pass.
//! 3. time: `integratedTime` of an entry whose SET verified is the trusted signing time (an
//!    inclusion proof alone proves no time). RFC 3161 timestamps are not verified yet, so a
//!    bundle without a verified SET is refused.
//! 4. certificate: at every verified time, the leaf is valid, is a code-signing leaf, and chains
//!    to a certificate authority of the trusted root whose `validFor` window contains that time;
//!    at least one embedded SCT verifies with a CT log key of the trusted root valid at the SCT's
//!    time ([`crate::fulcio`], shared with keyless cosign `.sig` layers). Other certificates of a
//!    v0.2 chain are not used, not even as intermediates.
//! 5. signature: DSSE over `PAE(payloadType, payload)`; a message signature over the artifact's
//!    SHA-256 digest (prehashed, `messageDigest.algorithm` `SHA2_256`).
//! 6. binding to the pinned digest `D`: a message signature's `messageDigest` is `D`; a DSSE
//!    payload is `application/vnd.in-toto+json`, an in-toto Statement (v1 or v0.1) with
//!    `predicateType` `https://sigstore.dev/cosign/sign/v1` (cosign v3's image signature; an
//!    attestation is not a signature) and a subject whose `sha256` digest is `D`.
//! 7. identity: the OIDC issuer extension equals the policy's issuer exactly, and a subject
//!    alternative name (URI, email or Fulcio OtherName) matches the policy's subject
//!    ([`crate::fulcio::check_identity`]).
//!
//! Not done: RFC 3161 timestamps and `timestampAuthorities`, Rekor v2 entries (no SET: they need
//! RFC 3161 time), `intoto` entry kinds, public-key (non-keyless) bundles.

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::json::{self, Value};
use crate::keys::RsaScheme;
use crate::merkle::{self, MerkleError};
use crate::rekor::{self, VerifiedEntry};
use crate::trusted_root::{TrustedRoot, format_time};
use crate::x509::{Certificate, X509Error};

pub use crate::fulcio::KeylessIdentity;
use crate::fulcio::{self, FulcioError};

/// The bundle media type cosign v3 writes (and the artifact type of its referrers).
pub const BUNDLE_MEDIA_TYPE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The DSSE payload type of an in-toto statement.
pub const INTOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// The predicate type of a cosign v3 image signature.
pub const COSIGN_SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";
/// Largest bundle accepted, in bytes (a bundle is a few KiB).
pub const MAX_BUNDLE_BYTES: usize = 1024 * 1024;
/// Most transparency log entries considered in one bundle.
pub const MAX_TLOG_ENTRIES: usize = 16;

/// Why a bundle does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// The bundle is too large.
    #[error("bundle has {size} bytes, more than the {MAX_BUNDLE_BYTES} accepted")]
    TooLarge {
        /// Its size.
        size: usize,
    },
    /// The JSON, a member, or an encoding inside it is malformed.
    #[error("bundle is malformed: `{path}`: {reason}")]
    Malformed {
        /// The member path (`-` for the document).
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Unknown media type.
    #[error(
        "bundle mediaType is {found}, expected {BUNDLE_MEDIA_TYPE_V03} or application/vnd.dev.sigstore.bundle+json;version=0.2|0.3"
    )]
    MediaType {
        /// What was found.
        found: String,
    },
    /// A v0.1 bundle.
    #[error(
        "bundle mediaType is {found}: version 0.1 is not accepted, expected 0.2 or later (0.1 does not require an inclusion proof; cosign v3 requires 0.3)"
    )]
    VersionTooOld {
        /// The media type.
        found: String,
    },
    /// The signed content's structure is wrong.
    #[error("bundle content: {reason}")]
    Content {
        /// What is wrong.
        reason: String,
    },
    /// The verification material is a public-key hint.
    #[error(
        "bundle carries a public-key hint `{hint}`, not a Fulcio certificate: keyless signers need the certificate"
    )]
    PublicKeyHint {
        /// The hint.
        hint: String,
    },
    /// The leaf certificate is unusable.
    #[error("{0}")]
    Certificate(X509Error),
    /// No transparency log entry.
    #[error("bundle has no transparency log entry: expected a Rekor entry")]
    NoTlogEntry,
    /// Two entries for the same log position.
    #[error("bundle lists Rekor entry {log_index} of log {log_id} twice")]
    DuplicateTlogEntry {
        /// The log id, hex.
        log_id: String,
        /// The entry's index.
        log_index: i64,
    },
    /// No entry is from a log of the trusted root.
    #[error("no Rekor entry is from a log of the trusted root (entries are from {log_ids})")]
    NoTrustedLog {
        /// The log ids found, hex, comma-separated.
        log_ids: String,
    },
    /// A Rekor entry of a trusted log does not verify.
    #[error("Rekor entry {log_index}: {problem}")]
    TlogEntry {
        /// The entry's index.
        log_index: i64,
        /// What is wrong.
        problem: TlogProblem,
    },
    /// No verified signing time.
    #[error(
        "no verified signing time: no Rekor entry has a verified signed entry timestamp (RFC 3161 timestamps are not supported yet)"
    )]
    NoSigningTime,
    /// The Fulcio leaf fails a check at the signing time: validity, chain to the trusted
    /// root, SCT, or identity ([`crate::fulcio`]).
    #[error("{0}")]
    Fulcio(FulcioError),
    /// The signature does not verify (coarse on purpose).
    #[error("signature does not verify with the certificate's key {key}")]
    SignatureDoesNotVerify {
        /// The leaf key id.
        key: crate::keys::KeyId,
    },
    /// The signed content names another artifact.
    #[error("bundle signs {found}, expected the pinned digest {expected}")]
    DigestMismatch {
        /// The pinned digest.
        expected: String,
        /// What the bundle signs.
        found: String,
    },
    /// The DSSE payload is not a cosign image-signature statement.
    #[error("signed statement: {reason}")]
    Statement {
        /// What is wrong.
        reason: String,
    },
}

/// What is wrong with one Rekor entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlogProblem {
    /// The body is not a supported entry.
    #[error("entry is {found}, expected dsse 0.0.1 or hashedrekord 0.0.1")]
    UnsupportedKind {
        /// The kind and version found.
        found: String,
    },
    /// `kindVersion` disagrees with the body.
    #[error("kindVersion says {claimed}, its body is {found}")]
    KindMismatch {
        /// `kindVersion`.
        claimed: String,
        /// The body's kind and version.
        found: String,
    },
    /// The body does not describe this bundle.
    #[error("entry body does not match the bundle: {reason}")]
    BodyMismatch {
        /// Which part differs.
        reason: String,
    },
    /// The entry's time is outside the log key's validity.
    #[error("integrated time {} is outside the validity of log key {key}", format_time(*.integrated_time))]
    OutsideValidity {
        /// The entry's time.
        integrated_time: i64,
        /// The log key.
        key: crate::keys::KeyId,
    },
    /// The SET does not verify (coarse on purpose).
    #[error("signed entry timestamp does not verify with log key {key}")]
    SetDoesNotVerify {
        /// The log key.
        key: crate::keys::KeyId,
    },
    /// No inclusion proof (required from v0.2 on).
    #[error("entry has no inclusion proof (required by bundles v0.2 and later)")]
    NoInclusionProof,
    /// The inclusion proof or checkpoint fails.
    #[error("{0}")]
    Inclusion(MerkleError),
    /// `inclusionProof.rootHash` or `treeSize` disagrees with the checkpoint.
    #[error("inclusion proof {field} disagrees with the signed checkpoint")]
    ProofCheckpointMismatch {
        /// `rootHash` or `treeSize`.
        field: &'static str,
    },
}

/// A bundle that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedBundle {
    /// The subject alternative name that matched the policy.
    pub subject: String,
    /// The OIDC issuer.
    pub issuer: String,
    /// The verified signing time (Unix seconds).
    pub signing_time: i64,
    /// The Rekor entry that proved it.
    pub tlog_entry: VerifiedEntry,
    /// `sha256:<hex>` of the bundle bytes.
    pub bundle_digest: String,
}

enum Content {
    Message { algorithm: String, digest: Vec<u8>, signature: Vec<u8> },
    Dsse { payload_type: String, payload: Vec<u8>, signature: Vec<u8> },
}

struct InclusionProof {
    log_index: i64,
    root_hash: Vec<u8>,
    tree_size: i64,
    hashes: Vec<Vec<u8>>,
    checkpoint: String,
}

struct TlogEntry {
    log_index: i64,
    log_id: Vec<u8>,
    kind: String,
    version: String,
    integrated_time: i64,
    set: Option<Vec<u8>>,
    proof: Option<InclusionProof>,
    body: Vec<u8>,
}

struct Bundle {
    leaf_der: Vec<u8>,
    entries: Vec<TlogEntry>,
    content: Content,
}

/// Verifies a Sigstore bundle for the pinned digest `digest` (`sha256:<hex>`) under `root`
/// and `identity`. Needs no clock: the signing time comes from the log.
pub fn verify_bundle(
    bytes: &[u8],
    root: &TrustedRoot,
    digest: &str,
    identity: &KeylessIdentity<'_>,
) -> Result<VerifiedBundle, BundleError> {
    if bytes.len() > MAX_BUNDLE_BYTES {
        return Err(BundleError::TooLarge { size: bytes.len() });
    }
    let bundle = parse(bytes)?;
    let leaf = Certificate::from_der(&bundle.leaf_der, "leaf certificate")
        .map_err(BundleError::Certificate)?;

    // 2. Transparency log entries.
    if bundle.entries.is_empty() {
        return Err(BundleError::NoTlogEntry);
    }
    for (idx, e) in bundle.entries.iter().enumerate() {
        if bundle.entries[..idx].iter().any(|o| o.log_id == e.log_id && o.log_index == e.log_index)
        {
            return Err(BundleError::DuplicateTlogEntry {
                log_id: hex::encode(&e.log_id),
                log_index: e.log_index,
            });
        }
    }
    let mut verified: Vec<(VerifiedEntry, bool)> = Vec::new();
    for entry in &bundle.entries {
        let Some(log) = root.tlog(&entry.log_id) else { continue };
        let has_time = check_entry(entry, log, &bundle, &leaf)
            .map_err(|problem| BundleError::TlogEntry { log_index: entry.log_index, problem })?;
        verified.push((
            VerifiedEntry {
                log_id: hex::encode(&entry.log_id),
                log_index: entry.log_index,
                integrated_time: entry.integrated_time,
            },
            has_time,
        ));
    }
    if verified.is_empty() {
        let ids: Vec<String> = bundle.entries.iter().map(|e| hex::encode(&e.log_id)).collect();
        return Err(BundleError::NoTrustedLog { log_ids: ids.join(", ") });
    }

    // 3. Verified times.
    let timed: Vec<&VerifiedEntry> =
        verified.iter().filter(|(_, has_time)| *has_time).map(|(e, _)| e).collect();
    let Some(first_timed) = timed.first() else {
        return Err(BundleError::NoSigningTime);
    };
    let tlog_entry = (*first_timed).clone();

    // 4. Certificate at every verified time, and its SCT.
    let mut issuer_cert = None;
    for entry in &timed {
        let issuer = fulcio::check_certificate(&leaf, &[], root, entry.integrated_time)
            .map_err(BundleError::Fulcio)?;
        issuer_cert = Some(issuer);
    }
    let Some(issuer_cert) = issuer_cert else {
        return Err(BundleError::NoSigningTime);
    };
    fulcio::check_scts(&leaf, &issuer_cert, root).map_err(BundleError::Fulcio)?;

    // 5. Signature.
    let key = leaf.public_key();
    let signature_ok = match &bundle.content {
        Content::Dsse { payload_type, payload, signature } => {
            key.verifies(&pae(payload_type, payload), signature, RsaScheme::Pkcs1v15Sha256)
        }
        Content::Message { algorithm, digest: message_digest, signature } => {
            if algorithm != "SHA2_256" || message_digest.len() != 32 {
                return Err(BundleError::Content {
                    reason: format!(
                        "messageDigest is {algorithm} of {} bytes, expected SHA2_256 of 32 bytes",
                        message_digest.len()
                    ),
                });
            }
            key.verifies_prehashed(message_digest, signature, RsaScheme::Pkcs1v15Sha256)
        }
    };
    if !signature_ok {
        return Err(BundleError::SignatureDoesNotVerify { key: key.id().clone() });
    }

    // 6. Binding to the pinned digest.
    let pinned_hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    match &bundle.content {
        Content::Message { digest: message_digest, .. } => {
            let found = hex::encode(message_digest);
            if found != pinned_hex {
                return Err(BundleError::DigestMismatch {
                    expected: digest.to_owned(),
                    found: format!("sha256:{found} (messageDigest)"),
                });
            }
        }
        Content::Dsse { payload_type, payload, .. } => {
            check_statement(payload_type, payload, digest, pinned_hex)?;
        }
    }

    // 7. Identity.
    let subject = fulcio::check_identity(&leaf, identity).map_err(BundleError::Fulcio)?;
    Ok(VerifiedBundle {
        subject,
        issuer: identity.issuer.to_owned(),
        signing_time: tlog_entry.integrated_time,
        tlog_entry,
        bundle_digest: format!("sha256:{}", hex::encode(Sha256::digest(bytes))),
    })
}

/// DSSE pre-authentication encoding: `"DSSEv1" SP len(type) SP type SP len(body) SP body`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out =
        format!("DSSEv1 {} {payload_type} {} ", payload_type.len(), payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

/// Checks one entry of a trusted log; returns whether it proves a signing time (its SET
/// verified).
fn check_entry(
    entry: &TlogEntry,
    log: &crate::trusted_root::TransparencyLog,
    bundle: &Bundle,
    leaf: &Certificate,
) -> Result<bool, TlogProblem> {
    check_body(entry, bundle, leaf)?;
    let mut has_time = false;
    if let Some(set) = &entry.set {
        if !log.valid_at(entry.integrated_time) {
            return Err(TlogProblem::OutsideValidity {
                integrated_time: entry.integrated_time,
                key: log.key.id().clone(),
            });
        }
        let body_b64 = base64::engine::general_purpose::STANDARD.encode(&entry.body);
        let ok = rekor::set_verifies(
            log,
            &body_b64,
            entry.integrated_time,
            &hex::encode(&entry.log_id),
            entry.log_index,
            set,
        )
        .unwrap_or(false);
        if !ok {
            return Err(TlogProblem::SetDoesNotVerify { key: log.key.id().clone() });
        }
        has_time = true;
    }
    match &entry.proof {
        None => return Err(TlogProblem::NoInclusionProof),
        Some(proof) => {
            let mut hashes = Vec::new();
            for h in &proof.hashes {
                let h: [u8; 32] = h.as_slice().try_into().map_err(|_| {
                    TlogProblem::Inclusion(MerkleError::Malformed {
                        reason: format!("a hash has {} bytes, expected 32", h.len()),
                    })
                })?;
                hashes.push(h);
            }
            let (Ok(index), Ok(size)) =
                (u64::try_from(proof.log_index), u64::try_from(proof.tree_size))
            else {
                return Err(TlogProblem::Inclusion(MerkleError::Malformed {
                    reason: "negative log index or tree size".to_owned(),
                }));
            };
            let computed = merkle::root_from_inclusion_proof(
                merkle::leaf_hash(&entry.body),
                index,
                size,
                &hashes,
            )
            .map_err(TlogProblem::Inclusion)?;
            let checkpoint = merkle::verify_checkpoint(&proof.checkpoint, log)
                .map_err(TlogProblem::Inclusion)?;
            if checkpoint.root_hash != computed {
                return Err(TlogProblem::Inclusion(MerkleError::RootMismatch {
                    computed: hex::encode(computed),
                    expected: hex::encode(checkpoint.root_hash),
                }));
            }
            if checkpoint.tree_size != size {
                return Err(TlogProblem::ProofCheckpointMismatch { field: "treeSize" });
            }
            if proof.root_hash != checkpoint.root_hash {
                return Err(TlogProblem::ProofCheckpointMismatch { field: "rootHash" });
            }
        }
    }
    Ok(has_time)
}

/// Checks that the entry body records this bundle's signature, certificate and artifact.
fn check_body(entry: &TlogEntry, bundle: &Bundle, leaf: &Certificate) -> Result<(), TlogProblem> {
    let mismatch = |reason: &str| TlogProblem::BodyMismatch { reason: reason.to_owned() };
    let body =
        json::parse(&entry.body).map_err(|e| mismatch(&format!("body is not JSON ({e})")))?;
    let text = |v: &Value, path: &[&str]| -> Option<String> {
        let mut cur = v;
        for key in path {
            cur = cur.member(key)?;
        }
        cur.as_str().map(str::to_owned)
    };
    let kind = text(&body, &["kind"]).unwrap_or_default();
    let version = text(&body, &["apiVersion"]).unwrap_or_default();
    if kind != entry.kind || version != entry.version {
        return Err(TlogProblem::KindMismatch {
            claimed: format!("{} {}", entry.kind, entry.version),
            found: format!("{kind} {version}"),
        });
    }
    let Some(spec) = body.member("spec") else { return Err(mismatch("no `spec`")) };
    let same_cert = |pem_b64: Option<String>| -> bool {
        let Some(pem) = pem_b64.and_then(|b| decode_bytes(&b).ok()) else { return false };
        match spki::der::pem::decode_vec(pem.trim_ascii()) {
            Ok((label, der)) => label == "CERTIFICATE" && der == leaf.der,
            Err(_) => false,
        }
    };
    let same_bytes = |b64: Option<String>, expected: &[u8]| -> bool {
        b64.and_then(|b| decode_bytes(&b).ok()).is_some_and(|b| b == expected)
    };
    match (kind.as_str(), version.as_str(), &bundle.content) {
        ("dsse", "0.0.1", Content::Dsse { payload, signature, .. }) => {
            let alg = text(spec, &["payloadHash", "algorithm"]);
            let value = text(spec, &["payloadHash", "value"]);
            if alg.as_deref() != Some("sha256")
                || value.as_deref() != Some(hex::encode(Sha256::digest(payload)).as_str())
            {
                return Err(mismatch("payload hash differs from the DSSE payload's"));
            }
            let Some(Value::Array(sigs)) = spec.member("signatures") else {
                return Err(mismatch("no `signatures`"));
            };
            if sigs.len() != 1 {
                return Err(mismatch(&format!("{} signatures recorded, expected 1", sigs.len())));
            }
            if !same_bytes(text(&sigs[0], &["signature"]), signature) {
                return Err(mismatch("recorded signature differs from the DSSE signature"));
            }
            if !same_cert(text(&sigs[0], &["verifier"])) {
                return Err(mismatch("recorded verifier is not the leaf certificate"));
            }
        }
        ("hashedrekord", "0.0.1", Content::Message { digest, signature, .. }) => {
            let alg = text(spec, &["data", "hash", "algorithm"]);
            let value = text(spec, &["data", "hash", "value"]);
            if alg.as_deref() != Some("sha256")
                || value.as_deref() != Some(hex::encode(digest).as_str())
            {
                return Err(mismatch("recorded hash differs from the message digest"));
            }
            if !same_bytes(text(spec, &["signature", "content"]), signature) {
                return Err(mismatch("recorded signature differs from the message signature"));
            }
            if !same_cert(text(spec, &["signature", "publicKey", "content"])) {
                return Err(mismatch("recorded public key is not the leaf certificate"));
            }
        }
        ("dsse", "0.0.1", Content::Message { .. })
        | ("hashedrekord", "0.0.1", Content::Dsse { .. }) => {
            return Err(mismatch(&format!("a {kind} entry cannot record this bundle's content")));
        }
        _ => return Err(TlogProblem::UnsupportedKind { found: format!("{kind} {version}") }),
    }
    Ok(())
}

fn check_statement(
    payload_type: &str,
    payload: &[u8],
    digest: &str,
    pinned_hex: &str,
) -> Result<(), BundleError> {
    let bad = |reason: String| BundleError::Statement { reason };
    if payload_type != INTOTO_PAYLOAD_TYPE {
        return Err(bad(format!(
            "payloadType is `{payload_type}`, expected {INTOTO_PAYLOAD_TYPE}"
        )));
    }
    let statement =
        json::parse(payload).map_err(|e| bad(format!("payload is not strict JSON ({e})")))?;
    let type_ = statement.member("_type").and_then(Value::as_str).unwrap_or("");
    if type_ != "https://in-toto.io/Statement/v1" && type_ != "https://in-toto.io/Statement/v0.1" {
        return Err(bad(format!("_type is `{type_}`, expected https://in-toto.io/Statement/v1")));
    }
    let predicate_type = statement.member("predicateType").and_then(Value::as_str).unwrap_or("");
    if predicate_type != COSIGN_SIGN_PREDICATE {
        return Err(bad(format!(
            "predicateType is `{predicate_type}`, expected {COSIGN_SIGN_PREDICATE} (an attestation is not a signature)"
        )));
    }
    let Some(Value::Array(subjects)) = statement.member("subject") else {
        return Err(bad("`subject` is not an array".to_owned()));
    };
    let mut found = Vec::new();
    for subject in subjects {
        if let Some(hex) =
            subject.member("digest").and_then(|d| d.member("sha256")).and_then(Value::as_str)
        {
            if hex == pinned_hex {
                return Ok(());
            }
            found.push(format!("sha256:{hex}"));
        }
    }
    Err(BundleError::DigestMismatch {
        expected: digest.to_owned(),
        found: if found.is_empty() {
            "no sha256 subject".to_owned()
        } else {
            format!("{} (statement subject)", found.join(", "))
        },
    })
}

/// proto3 JSON `bytes`: standard or URL-safe base64, padding optional.
fn decode_bytes(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let standard = GeneralPurpose::new(&base64::alphabet::STANDARD, config);
    match standard.decode(text) {
        Ok(bytes) => Ok(bytes),
        Err(err) => {
            GeneralPurpose::new(&base64::alphabet::URL_SAFE, config).decode(text).map_err(|_| err)
        }
    }
}

fn malformed(path: &str, reason: impl Into<String>) -> BundleError {
    BundleError::Malformed { path: path.to_owned(), reason: reason.into() }
}

fn member<'v>(v: &'v Value, key: &str, path: &str) -> Result<&'v Value, BundleError> {
    v.member(key).ok_or_else(|| malformed(path, "missing"))
}

fn string(v: &Value, key: &str, path: &str) -> Result<String, BundleError> {
    match member(v, key, path)? {
        Value::String(s) => Ok(s.clone()),
        other => Err(malformed(path, format!("is {}, expected a string", other.kind()))),
    }
}

fn bytes(v: &Value, key: &str, path: &str) -> Result<Vec<u8>, BundleError> {
    decode_bytes(&string(v, key, path)?)
        .map_err(|e| malformed(path, format!("is not base64 ({e})")))
}

/// proto3 JSON `int64`: a decimal string or a number; must not be negative.
fn int64(v: &Value, key: &str, path: &str) -> Result<i64, BundleError> {
    let n = match member(v, key, path)? {
        Value::String(s) if !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()) => {
            s.parse().ok()
        }
        Value::Number(n) => n.as_i64(),
        _ => None,
    };
    n.filter(|n| *n >= 0).ok_or_else(|| malformed(path, "expected a non-negative integer"))
}

fn parse(input: &[u8]) -> Result<Bundle, BundleError> {
    let doc = json::parse(input).map_err(|e| malformed("-", format!("not strict JSON ({e})")))?;
    let media_type = match doc.member("mediaType") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => return Err(BundleError::MediaType { found: other.kind().to_owned() }),
        None => return Err(BundleError::MediaType { found: "missing".to_owned() }),
    };
    match media_type.as_str() {
        "application/vnd.dev.sigstore.bundle+json;version=0.1" => {
            return Err(BundleError::VersionTooOld { found: media_type });
        }
        "application/vnd.dev.sigstore.bundle+json;version=0.2"
        | "application/vnd.dev.sigstore.bundle+json;version=0.3"
        | BUNDLE_MEDIA_TYPE_V03 => {}
        other => return Err(BundleError::MediaType { found: format!("`{other}`") }),
    }

    // Content.
    let content = match (doc.member("messageSignature"), doc.member("dsseEnvelope")) {
        (Some(_), Some(_)) => {
            return Err(BundleError::Content {
                reason: "has both messageSignature and dsseEnvelope, expected one".to_owned(),
            });
        }
        (None, None) => {
            return Err(BundleError::Content {
                reason: "has neither messageSignature nor dsseEnvelope".to_owned(),
            });
        }
        (Some(m), None) => {
            let md = member(m, "messageDigest", "messageSignature.messageDigest")?;
            Content::Message {
                algorithm: string(md, "algorithm", "messageSignature.messageDigest.algorithm")?,
                digest: bytes(md, "digest", "messageSignature.messageDigest.digest")?,
                signature: bytes(m, "signature", "messageSignature.signature")?,
            }
        }
        (None, Some(d)) => {
            let payload_type = string(d, "payloadType", "dsseEnvelope.payloadType")?;
            let payload = bytes(d, "payload", "dsseEnvelope.payload")?;
            let sigs = match d.member("signatures") {
                Some(Value::Array(items)) => items.as_slice(),
                None => &[][..],
                Some(other) => {
                    return Err(malformed(
                        "dsseEnvelope.signatures",
                        format!("is {}, expected an array", other.kind()),
                    ));
                }
            };
            if sigs.len() != 1 {
                return Err(BundleError::Content {
                    reason: format!(
                        "DSSE envelope has {} signatures, expected exactly 1",
                        sigs.len()
                    ),
                });
            }
            let signature = bytes(&sigs[0], "sig", "dsseEnvelope.signatures[0].sig")?;
            Content::Dsse { payload_type, payload, signature }
        }
    };

    // Verification material.
    let vm = member(&doc, "verificationMaterial", "verificationMaterial")?;
    let leaf_der = if let Some(cert) = vm.member("certificate") {
        bytes(cert, "rawBytes", "verificationMaterial.certificate.rawBytes")?
    } else if let Some(chain) = vm.member("x509CertificateChain") {
        match chain.member("certificates") {
            Some(Value::Array(certs)) if !certs.is_empty() => bytes(
                &certs[0],
                "rawBytes",
                "verificationMaterial.x509CertificateChain.certificates[0].rawBytes",
            )?,
            _ => {
                return Err(malformed(
                    "verificationMaterial.x509CertificateChain.certificates",
                    "expected a non-empty array",
                ));
            }
        }
    } else if let Some(key) = vm.member("publicKey") {
        let hint = key.member("hint").and_then(Value::as_str).unwrap_or("").to_owned();
        return Err(BundleError::PublicKeyHint { hint });
    } else {
        return Err(malformed(
            "verificationMaterial",
            "has no certificate, x509CertificateChain or publicKey",
        ));
    };

    let mut entries = Vec::new();
    let items = match vm.member("tlogEntries") {
        None => &[][..],
        Some(Value::Array(items)) => items.as_slice(),
        Some(other) => {
            return Err(malformed(
                "verificationMaterial.tlogEntries",
                format!("is {}, expected an array", other.kind()),
            ));
        }
    };
    if items.len() > MAX_TLOG_ENTRIES {
        return Err(malformed(
            "verificationMaterial.tlogEntries",
            format!("{} entries, more than the {MAX_TLOG_ENTRIES} accepted", items.len()),
        ));
    }
    for (idx, e) in items.iter().enumerate() {
        let at = |f: &str| format!("verificationMaterial.tlogEntries[{idx}].{f}");
        let kv = member(e, "kindVersion", &at("kindVersion"))?;
        let set = match e.member("inclusionPromise") {
            None => None,
            Some(p) => Some(bytes(
                p,
                "signedEntryTimestamp",
                &at("inclusionPromise.signedEntryTimestamp"),
            )?),
        };
        let proof = match e.member("inclusionProof") {
            None => None,
            Some(p) => {
                let hashes = match p.member("hashes") {
                    None => Vec::new(),
                    Some(Value::Array(hs)) => {
                        if hs.len() > merkle::MAX_PROOF_HASHES {
                            return Err(malformed(&at("inclusionProof.hashes"), "too many hashes"));
                        }
                        let mut out = Vec::new();
                        for (h_idx, h) in hs.iter().enumerate() {
                            let path = at(&format!("inclusionProof.hashes[{h_idx}]"));
                            let text =
                                h.as_str().ok_or_else(|| malformed(&path, "expected a string"))?;
                            out.push(
                                decode_bytes(text).map_err(|e| {
                                    malformed(&path, format!("is not base64 ({e})"))
                                })?,
                            );
                        }
                        out
                    }
                    Some(_) => {
                        return Err(malformed(&at("inclusionProof.hashes"), "expected an array"));
                    }
                };
                let cp = member(p, "checkpoint", &at("inclusionProof.checkpoint"))?;
                Some(InclusionProof {
                    log_index: int64(p, "logIndex", &at("inclusionProof.logIndex"))?,
                    root_hash: bytes(p, "rootHash", &at("inclusionProof.rootHash"))?,
                    tree_size: int64(p, "treeSize", &at("inclusionProof.treeSize"))?,
                    hashes,
                    checkpoint: string(cp, "envelope", &at("inclusionProof.checkpoint.envelope"))?,
                })
            }
        };
        entries.push(TlogEntry {
            log_index: int64(e, "logIndex", &at("logIndex"))?,
            log_id: bytes(member(e, "logId", &at("logId"))?, "keyId", &at("logId.keyId"))?,
            kind: string(kv, "kind", &at("kindVersion.kind"))?,
            version: string(kv, "version", &at("kindVersion.version"))?,
            integrated_time: int64(e, "integratedTime", &at("integratedTime"))?,
            set,
            proof,
            body: bytes(e, "canonicalizedBody", &at("canonicalizedBody"))?,
        });
    }
    Ok(Bundle { leaf_der, entries, content })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_dsse_spec_example() {
        // DSSE protocol.md: PAE("http://example.com/HelloWorld", "hello world").
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
    }

    #[test]
    fn proto_bytes_accept_both_alphabets() {
        assert_eq!(decode_bytes("+/8=").unwrap(), vec![0xfb, 0xff]);
        assert_eq!(decode_bytes("+/8").unwrap(), vec![0xfb, 0xff]);
        assert_eq!(decode_bytes("-_8=").unwrap(), vec![0xfb, 0xff]);
        assert!(decode_bytes("*").is_err());
    }
}

//! cosign signatures: simple-signing payloads verified with pinned public keys.
//!
//! Implements the key-based legacy scheme that `cosign sign --key` writes
//! (sigstore/cosign `specs/SIGNATURE_SPEC.md`, `pkg/oci/static`, `pkg/cosign/payload`):
//! - Signatures for the image manifest digest `D` live in an OCI manifest tagged
//!   `sha256-<hex of D>.sig` ([`signature_tag`]); each of its layers is one signature.
//! - A layer has mediaType `application/vnd.dev.cosign.simplesigning.v1+json`, and its blob (the
//!   payload) is the simple-signing JSON. The annotation `dev.cosignproject.cosign/signature`
//!   holds the standard, padded base64 of the signature over the exact payload bytes.
//! - The payload is
//!   `{"critical":{"identity":{"docker-reference":R},"image":{"docker-manifest-digest":D},
//!   "type":"cosign container image signature"},"optional":{…}|null}`.
//!
//! Checks, in order, each failure naming what was expected and found:
//! 1. sizes: at most [`MAX_LAYERS`] layers, payloads up to [`MAX_PAYLOAD_BYTES`], annotation
//!    values up to [`MAX_ANNOTATION_BYTES`]; the payload's size and SHA-256 equal its descriptor;
//! 2. the signature annotation is present and strict base64; the signature verifies over the
//!    exact payload bytes with the policy's key (crypto failures are coarse: "signature does not
//!    verify with key K");
//! 3. the payload parses as strict JSON (no duplicate keys, no keys differing only in case, no
//!    trailing data), has exactly the members above (keys matched ignoring ASCII case, as cosign's
//!    Go decoder does, so `Docker-manifest-digest` from the spec's example is accepted), and
//!    unknown members of `critical` are rejected as the containers signature format requires;
//! 4. `critical.type` is `cosign container image signature` (cosign does not check it; kit does);
//! 5. `critical.image.docker-manifest-digest` equals the pinned digest exactly (replay
//!    protection: a valid signature of another image does not transfer);
//! 6. `critical.identity.docker-reference` as the rule says ([`DockerReferenceRule`]; cosign
//!    ignores it, which is the default).
//!
//! 7. when the signer's policy has `tlog:`, the `dev.sigstore.cosign/bundle` annotation must
//!    hold a Rekor entry for this payload, signature and key, signed by a log of the pinned
//!    trusted root ([`crate::rekor`]); without `tlog:` it is ignored, as
//!    `cosign verify --key --insecure-ignore-tlog` does.
//!
//! Keyless layers (certificate, chain and Rekor bundle annotations) are verified for keyless
//! signers by [`keyless`]; key-based signers ignore the certificate and chain annotations.
//! RFC 3161 timestamp annotations are bounded in size and otherwise ignored.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::fulcio::FulcioError;
use crate::json::{self, Value};
use crate::keys::{KeyId, PublicKey, RsaScheme};
use crate::policy::{DockerReferenceRule, normalize_repository};
use crate::rekor::{self, RekorError, VerifiedEntry};
use crate::trusted_root::TrustedRoot;
use crate::x509::X509Error;

pub mod keyless;

/// Media type of a simple-signing payload layer.
pub const SIMPLESIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Annotation holding the base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// Annotation holding the keyless leaf certificate (PEM).
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// Annotation holding the keyless certificate chain (PEM).
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
/// Annotation holding the Rekor bundle (SET) JSON.
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
/// Annotation holding an RFC 3161 timestamp JSON.
pub const RFC3161_ANNOTATION: &str = "dev.sigstore.cosign/rfc3161timestamp";
/// The `critical.type` of an image signature.
pub const SIGNATURE_TYPE: &str = "cosign container image signature";

/// Most signature layers considered in one signature manifest.
pub const MAX_LAYERS: usize = 64;
/// Largest payload accepted (cosign's payloads are a few hundred bytes; `optional` may carry
/// annotations).
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;
/// Largest annotation value accepted (a certificate chain or Rekor bundle is a few KiB).
pub const MAX_ANNOTATION_BYTES: usize = 64 * 1024;
/// Most annotations on one layer.
pub const MAX_ANNOTATIONS: usize = 32;
/// Largest signature manifest accepted.
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;
/// Largest decoded signature accepted (an RSA-8192 signature has 1024 bytes).
pub const MAX_SIGNATURE_BYTES: usize = 1024;

/// Errors about one cosign signature layer or manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CosignError {
    /// The pinned digest is not `sha256:` and 64 lowercase hex digits.
    #[error("digest `{digest}` is not sha256: followed by 64 lowercase hex digits")]
    BadDigest {
        /// The digest given.
        digest: String,
    },
    /// The signature manifest is too large.
    #[error("signature manifest has {size} bytes, more than the {max} accepted")]
    ManifestTooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The signature manifest is not a valid manifest.
    #[error("signature manifest is not a valid OCI manifest: {reason}")]
    BadManifest {
        /// Why.
        reason: String,
    },
    /// Too many signature layers.
    #[error("signature manifest has {n_layers} layers, more than the {max} accepted")]
    TooManyLayers {
        /// How many.
        n_layers: usize,
        /// The limit.
        max: usize,
    },
    /// The layer is not a simple-signing payload.
    #[error("layer media type is `{found}`, expected {SIMPLESIGNING_MEDIA_TYPE}")]
    WrongMediaType {
        /// The media type found.
        found: String,
    },
    /// The payload is too large.
    #[error("payload has {size} bytes, more than the {max} accepted")]
    PayloadTooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The payload's size differs from its descriptor.
    #[error("payload has {found} bytes, its descriptor says {expected}")]
    PayloadSizeMismatch {
        /// The descriptor's size.
        expected: u64,
        /// The payload's size.
        found: usize,
    },
    /// The payload's digest differs from its descriptor (the payload was tampered with).
    #[error("payload hashes to {found}, its descriptor says {expected}")]
    PayloadDigestMismatch {
        /// The descriptor's digest.
        expected: String,
        /// The payload's digest.
        found: String,
    },
    /// Too many annotations.
    #[error("layer has {n_annotations} annotations, more than the {max} accepted")]
    TooManyAnnotations {
        /// How many.
        n_annotations: usize,
        /// The limit.
        max: usize,
    },
    /// An annotation value is too large.
    #[error("annotation `{name}` has {size} bytes, more than the {max} accepted")]
    AnnotationTooLarge {
        /// The annotation name.
        name: String,
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// No signature annotation.
    #[error("layer has no `{SIGNATURE_ANNOTATION}` annotation")]
    MissingSignature,
    /// The signature annotation is not strict base64.
    #[error("`{SIGNATURE_ANNOTATION}` is not standard padded base64 ({reason})")]
    BadBase64 {
        /// What the decoder reported.
        reason: String,
    },
    /// The signature does not verify (coarse on purpose).
    #[error("signature does not verify with key {key}")]
    SignatureDoesNotVerify {
        /// The key tried.
        key: KeyId,
    },
    /// The payload is not strict JSON.
    #[error("payload is not valid JSON: {reason}")]
    PayloadNotJson {
        /// Why.
        reason: String,
    },
    /// A member of the payload is missing or has the wrong JSON type.
    #[error("payload member `{path}` is {found}, expected {expected}")]
    PayloadMember {
        /// The member path, e.g. `critical.image.docker-manifest-digest`.
        path: &'static str,
        /// What was expected.
        expected: &'static str,
        /// What was found (`missing`, or a JSON type).
        found: &'static str,
    },
    /// An unknown member in the payload.
    #[error("payload has unknown member `{path}`, expected only {expected}")]
    UnknownMember {
        /// The member path.
        path: String,
        /// The members allowed there.
        expected: &'static str,
    },
    /// `critical.type` is not the image-signature type.
    #[error("payload critical.type is `{found}`, expected `{SIGNATURE_TYPE}`")]
    WrongType {
        /// The type found.
        found: String,
    },
    /// The payload names another manifest digest (replay of another image's signature).
    #[error("payload signs digest {found}, expected the pinned {expected}")]
    DigestMismatch {
        /// The pinned digest.
        expected: String,
        /// The digest in the payload.
        found: String,
    },
    /// The policy requires a transparency-log entry and the layer has none.
    #[error("layer has no `{BUNDLE_ANNOTATION}` annotation, but the policy requires a Rekor entry")]
    MissingTlogEntry,
    /// The Rekor entry does not verify.
    #[error("{0}")]
    Tlog(RekorError),
    /// A keyless signer, but the layer has no certificate (a key-based signature).
    #[error(
        "layer has no `{CERTIFICATE_ANNOTATION}` annotation: a keyless signer needs a Fulcio certificate (this is a key-based signature)"
    )]
    MissingCertificate,
    /// The certificate or chain annotation is not PEM certificates.
    #[error("`{annotation}` is not PEM certificates: {reason}")]
    BadPem {
        /// The annotation.
        annotation: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A certificate of the layer is unusable.
    #[error("{0}")]
    Certificate(X509Error),
    /// A keyless layer has no Rekor bundle annotation, so no verified signing time.
    #[error(
        "layer has no `{BUNDLE_ANNOTATION}` annotation: a keyless signature needs a Rekor entry to prove its signing time (RFC 3161 timestamps are not supported yet)"
    )]
    MissingSigningTime,
    /// The keyless certificate fails a check at the signing time (validity, chain, SCT,
    /// identity).
    #[error("{0}")]
    Fulcio(FulcioError),
    /// `critical.identity.docker-reference` does not satisfy the rule.
    #[error("payload docker-reference is `{found}`, the rule expects `{expected}`")]
    DockerReferenceMismatch {
        /// What the rule expects.
        expected: String,
        /// What the payload says.
        found: String,
    },
}

/// One layer descriptor of a signature manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerDescriptor {
    /// `mediaType`.
    pub media_type: String,
    /// `digest` of the payload blob (`sha256:<hex>`).
    pub digest: String,
    /// `size` of the payload blob.
    pub size: u64,
    /// `annotations`.
    pub annotations: BTreeMap<String, String>,
}

/// The layers of a cosign signature manifest, in manifest order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureManifest {
    /// The layer descriptors.
    pub layers: Vec<LayerDescriptor>,
}

/// A signature layer: its descriptor and the payload blob's bytes as fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureLayer {
    /// The descriptor from the signature manifest.
    pub descriptor: LayerDescriptor,
    /// The payload blob.
    pub payload: Vec<u8>,
}

/// The claims of a simple-signing payload.
#[derive(Debug, Clone, PartialEq)]
pub struct SimpleSigning {
    /// `critical.identity.docker-reference`.
    pub docker_reference: String,
    /// `critical.image.docker-manifest-digest`.
    pub manifest_digest: String,
    /// `critical.type`.
    pub kind: String,
    /// `optional` (`None` for `null` or absent).
    pub optional: Option<Value>,
}

/// What the caller expects of a signature: the pinned digest and the repository being verified.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The pinned manifest digest `sha256:<hex>`.
    pub digest: &'a str,
    /// The fully qualified repository, e.g. `docker.io/linuxkit/kernel`.
    pub repository: &'a str,
    /// How the payload's docker-reference is checked.
    pub docker_reference: &'a DockerReferenceRule,
}

/// The tag under which cosign stores signatures of `digest`: `sha256-<hex>.sig`.
pub fn signature_tag(digest: &str) -> Result<String, CosignError> {
    check_digest(digest)?;
    Ok(format!("{}.sig", digest.replacen(':', "-", 1)))
}

/// Checks that `digest` is `sha256:` followed by 64 lowercase hex digits.
pub fn check_digest(digest: &str) -> Result<(), CosignError> {
    let ok = digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    });
    if ok { Ok(()) } else { Err(CosignError::BadDigest { digest: digest.to_owned() }) }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    #[serde(default)]
    layers: Vec<RawDescriptor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

impl SignatureManifest {
    /// Parses the bytes of a `sha256-<hex>.sig` manifest (OCI or Docker v2 image manifest).
    pub fn parse(bytes: &[u8]) -> Result<SignatureManifest, CosignError> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(CosignError::ManifestTooLarge {
                size: bytes.len(),
                max: MAX_MANIFEST_BYTES,
            });
        }
        // First the strict pass (duplicate keys), then the typed read.
        json::parse(bytes).map_err(|e| CosignError::BadManifest { reason: e.to_string() })?;
        let raw: RawManifest = serde_json::from_slice(bytes)
            .map_err(|e| CosignError::BadManifest { reason: e.to_string() })?;
        if raw.layers.len() > MAX_LAYERS {
            return Err(CosignError::TooManyLayers { n_layers: raw.layers.len(), max: MAX_LAYERS });
        }
        let layers = raw
            .layers
            .into_iter()
            .map(|d| LayerDescriptor {
                media_type: d.media_type,
                digest: d.digest,
                size: d.size,
                annotations: d.annotations,
            })
            .collect();
        Ok(SignatureManifest { layers })
    }
}

/// Checks what does not depend on a key: media type, sizes, payload digest.
pub fn check_layer_structure(layer: &SignatureLayer) -> Result<(), CosignError> {
    let d = &layer.descriptor;
    if d.media_type != SIMPLESIGNING_MEDIA_TYPE {
        return Err(CosignError::WrongMediaType { found: d.media_type.clone() });
    }
    if d.annotations.len() > MAX_ANNOTATIONS {
        return Err(CosignError::TooManyAnnotations {
            n_annotations: d.annotations.len(),
            max: MAX_ANNOTATIONS,
        });
    }
    for (name, value) in &d.annotations {
        if value.len() > MAX_ANNOTATION_BYTES {
            return Err(CosignError::AnnotationTooLarge {
                name: name.clone(),
                size: value.len(),
                max: MAX_ANNOTATION_BYTES,
            });
        }
    }
    let size = layer.payload.len();
    if size > MAX_PAYLOAD_BYTES {
        return Err(CosignError::PayloadTooLarge { size, max: MAX_PAYLOAD_BYTES });
    }
    if u64::try_from(size).ok() != Some(d.size) {
        return Err(CosignError::PayloadSizeMismatch { expected: d.size, found: size });
    }
    let found = format!("sha256:{}", hex::encode(Sha256::digest(&layer.payload)));
    if found != d.digest {
        return Err(CosignError::PayloadDigestMismatch { expected: d.digest.clone(), found });
    }
    Ok(())
}

/// Decodes the signature annotation.
pub fn signature_bytes(layer: &SignatureLayer) -> Result<Vec<u8>, CosignError> {
    let Some(b64) = layer.descriptor.annotations.get(SIGNATURE_ANNOTATION) else {
        return Err(CosignError::MissingSignature);
    };
    let sig = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| CosignError::BadBase64 { reason: e.to_string() })?;
    if sig.is_empty() || sig.len() > MAX_SIGNATURE_BYTES {
        return Err(CosignError::BadBase64 {
            reason: format!("{} bytes decoded, expected 1 to {MAX_SIGNATURE_BYTES}", sig.len()),
        });
    }
    Ok(sig)
}

/// A layer that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedLayer {
    /// The payload's claims.
    pub claims: SimpleSigning,
    /// The verified Rekor entry, when the policy required one.
    pub tlog_entry: Option<VerifiedEntry>,
}

/// Verifies one signature layer with one key against the expectations: structure, signature,
/// payload claims, then (when `tlog` is given) the Rekor bundle annotation against that
/// trusted root (see the module documentation for the order).
pub fn verify_layer(
    layer: &SignatureLayer,
    key: &PublicKey,
    rsa_scheme: RsaScheme,
    tlog: Option<&TrustedRoot>,
    expected: &Expected<'_>,
) -> Result<VerifiedLayer, CosignError> {
    check_digest(expected.digest)?;
    check_layer_structure(layer)?;
    let sig = signature_bytes(layer)?;
    if !key.verifies(&layer.payload, &sig, rsa_scheme) {
        return Err(CosignError::SignatureDoesNotVerify { key: key.id().clone() });
    }
    let claims = parse_payload(&layer.payload)?;
    check_claims(&claims, expected)?;
    let tlog_entry = match tlog {
        None => None,
        Some(root) => {
            let Some(annotation) = layer.descriptor.annotations.get(BUNDLE_ANNOTATION) else {
                return Err(CosignError::MissingTlogEntry);
            };
            let entry =
                rekor::verify_bundle_annotation(annotation, &layer.payload, &sig, key, root)
                    .map_err(CosignError::Tlog)?;
            Some(entry)
        }
    };
    Ok(VerifiedLayer { claims, tlog_entry })
}

/// Checks a payload's claims against the expectations.
pub fn check_claims(claims: &SimpleSigning, expected: &Expected<'_>) -> Result<(), CosignError> {
    if claims.kind != SIGNATURE_TYPE {
        return Err(CosignError::WrongType { found: claims.kind.clone() });
    }
    if claims.manifest_digest != expected.digest {
        return Err(CosignError::DigestMismatch {
            expected: expected.digest.to_owned(),
            found: claims.manifest_digest.clone(),
        });
    }
    let want = match expected.docker_reference {
        DockerReferenceRule::Ignore => None,
        DockerReferenceRule::Repository => Some(normalize_repository(expected.repository)),
        DockerReferenceRule::Exact(r) => Some(r.clone()),
    };
    if let Some(want) = want
        && normalize_repository(&claims.docker_reference) != want
    {
        return Err(CosignError::DockerReferenceMismatch {
            expected: want,
            found: claims.docker_reference.clone(),
        });
    }
    Ok(())
}

/// Parses a simple-signing payload strictly (see the module documentation).
pub fn parse_payload(bytes: &[u8]) -> Result<SimpleSigning, CosignError> {
    if bytes.len() > MAX_PAYLOAD_BYTES {
        return Err(CosignError::PayloadTooLarge { size: bytes.len(), max: MAX_PAYLOAD_BYTES });
    }
    let value =
        json::parse(bytes).map_err(|e| CosignError::PayloadNotJson { reason: e.to_string() })?;
    only_members(&value, "", &["critical", "optional"], "`critical` and `optional`")?;
    let critical = object(&value, "critical", "critical")?;
    only_members(
        critical,
        "critical.",
        &["identity", "image", "type"],
        "`identity`, `image`, `type`",
    )?;
    let identity = object(critical, "identity", "critical.identity")?;
    only_members(identity, "critical.identity.", &["docker-reference"], "`docker-reference`")?;
    let image = object(critical, "image", "critical.image")?;
    only_members(
        image,
        "critical.image.",
        &["docker-manifest-digest"],
        "`docker-manifest-digest`",
    )?;
    let docker_reference =
        string(identity, "docker-reference", "critical.identity.docker-reference")?;
    let manifest_digest =
        string(image, "docker-manifest-digest", "critical.image.docker-manifest-digest")?;
    let kind = string(critical, "type", "critical.type")?;
    let optional = match value.member("optional") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(_)) => Some(v.clone()),
        Some(other) => {
            return Err(CosignError::PayloadMember {
                path: "optional",
                expected: "an object or null",
                found: other.kind(),
            });
        }
    };
    Ok(SimpleSigning { docker_reference, manifest_digest, kind, optional })
}

fn only_members(
    value: &Value,
    prefix: &str,
    allowed: &[&str],
    expected: &'static str,
) -> Result<(), CosignError> {
    let Value::Object(members) = value else { return Ok(()) };
    for (key, _) in members {
        if !allowed.iter().any(|a| a.eq_ignore_ascii_case(key)) {
            return Err(CosignError::UnknownMember { path: format!("{prefix}{key}"), expected });
        }
    }
    Ok(())
}

fn object<'v>(parent: &'v Value, key: &str, path: &'static str) -> Result<&'v Value, CosignError> {
    match parent {
        Value::Object(_) => {}
        other => {
            // Only reached for the top level: nested parents were checked by earlier calls.
            return Err(CosignError::PayloadMember {
                path: "(top level)",
                expected: "an object",
                found: other.kind(),
            });
        }
    }
    match parent.member(key) {
        Some(v @ Value::Object(_)) => Ok(v),
        Some(other) => {
            Err(CosignError::PayloadMember { path, expected: "an object", found: other.kind() })
        }
        None => Err(CosignError::PayloadMember { path, expected: "an object", found: "missing" }),
    }
}

fn string(parent: &Value, key: &str, path: &'static str) -> Result<String, CosignError> {
    match parent.member(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => {
            Err(CosignError::PayloadMember { path, expected: "a string", found: other.kind() })
        }
        None => Err(CosignError::PayloadMember { path, expected: "a string", found: "missing" }),
    }
}

#[cfg(test)]
mod tests;

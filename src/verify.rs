//! Signature verification of every pinned input, wired into fetching: finds the signatures of an image (registry, OCI layout, cache) and asks `signing` for a verdict under the policy.
//!
//! # The stage
//!
//! The build calls [`verify_image`] once per input image, after resolving it and before any of
//! its layers is opened: no byte of an image is used before its pinned digest has a verdict.
//! `signing` is pure; this module does the I/O around it:
//! 1. [`load_policy`] reads the policy file (`--policy FILE`) and every key or trusted-root file
//!    it names, and applies the configuration's LinuxKit `trust:` section.
//! 2. A [`SignatureFinder`] fetches what the rule's signers can use: the cosign signature
//!    manifest of the pinned digest and its payload blobs, and the OCI 1.1 referrers carrying
//!    Sigstore bundles and Notation envelopes, each checked against its digest and subject
//!    ([`find`], [`referrers`]). The pinned manifest's media type and size go with them (a
//!    Notation payload names both).
//! 3. [`signing::verify`] decides; the outcome is a [`Verified`] (verdict plus the record the
//!    lockfile keeps, [`VerifiedBy`]) or a one-line [`VerifyError`] naming the image, the rule
//!    and the reason.
//!
//! # Which digest is verified
//!
//! The root digest the reference pins or resolves to ([`crate::oci::ResolvedImage::root_digest`]):
//! for a multi-platform image, the index digest. That is what `cosign sign IMAGE:TAG` signs
//! (it resolves the tag to the index and signs that digest; `--recursive` additionally signs
//! every platform manifest). A signature over the index covers every platform manifest, config
//! and layer transitively, because each is reached through digests that are checked as they are
//! read. A reference pinned to a platform manifest digest (`image@sha256:<manifest>`) is verified
//! by that manifest's signature.
//!
//! # Locked builds
//!
//! `kit lock` stores the [`VerifiedBy`] record in each platform's `verifiedBy`. `kit build
//! --locked` passes it back to [`verify_image`]: the image's root digest must be the recorded one,
//! and the signatures are read from the exact signature manifest and referrer manifests recorded
//! (by digest, from the cache first, never listing referrers), so a `.sig` tag that moved or a
//! referrer attached after locking changes nothing. The signatures are verified again under the
//! current policy: a key removed from the policy refuses a locked build.

// Errors here carry context (image, rule, policy file and line) and are built once per refused
// input, never in a hot loop, so their size does not matter (as in `signing`).
#![allow(clippy::result_large_err)]

pub mod find;
mod policy_file;
pub mod referrers;

use std::fmt;

use serde::{Deserialize, Serialize};
use signing::policy::{Requirement, Signer, normalize_repository};
use signing::{ImageInput, NotationSignature, Policy, PolicyError, Refusal, UnixTime, Verdict};

use crate::digest::Digest;
use crate::lock::LockedBlob;
use crate::reference::Reference;

pub use find::{
    ArchiveFinder, FirstFound, FoundSignatures, LayoutFinder, Lookup, Pinned, RegistryFinder,
    SignatureFinder, SignatureSources, signature_ref_name,
};
pub use policy_file::load_policy;
pub use referrers::{FoundReferrer, ReferrerKind, referrers_ref_name};

/// One input image to verify.
#[derive(Debug, Clone, Copy)]
pub struct ImageToVerify<'a> {
    /// The image as the configuration writes it, for messages.
    pub written: &'a str,
    /// The parsed reference; its registry and repository locate the signatures and match the
    /// policy's patterns.
    pub reference: &'a Reference,
    /// The root digest the reference resolved to (index or manifest).
    pub digest: &'a Digest,
    /// The media type of the document `digest` names (Notation's `targetArtifact` binds it).
    pub media_type: &'a str,
    /// The size in bytes of the document `digest` names (Notation's `targetArtifact` binds it).
    pub size: u64,
}

impl<'a> ImageToVerify<'a> {
    /// The image `resolved` pins: its root digest, media type and size.
    pub fn new(
        written: &'a str,
        reference: &'a Reference,
        resolved: &'a crate::oci::ResolvedImage,
    ) -> ImageToVerify<'a> {
        ImageToVerify {
            written,
            reference,
            digest: resolved.root_digest(),
            media_type: resolved.root_media_type(),
            size: resolved.root_size(),
        }
    }

    /// The fully qualified repository the policy's patterns match (`docker.io/library/alpine`).
    pub fn repository(&self) -> String {
        normalize_repository(&self.reference.name())
    }
}

/// A successful verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// `signing`'s verdict: rule, signers, warnings (print every warning on every build).
    pub verdict: Verdict,
    /// What the lockfile records.
    pub record: VerifiedBy,
    /// Where the signatures were found (`OCI layout …`, `cache …`, `registry …`), if any.
    pub signatures_from: Option<String>,
}

impl Verified {
    /// One line for `kit build --explain`: the image, the digest, the rule and who signed.
    pub fn explain(&self) -> String {
        let v = &self.verdict;
        let mut line = format!("{}@{}: rule {} ({})", v.image, v.digest, v.rule, v.rule_at);
        if v.satisfied_by.is_empty() {
            line.push_str(": accepted unsigned");
        } else {
            let signers: Vec<String> = v
                .satisfied_by
                .iter()
                .enumerate()
                .map(|(idx, s)| {
                    let referrer = self.record.signers.get(idx).and_then(|r| r.referrer.as_ref());
                    match referrer {
                        Some(referrer) => {
                            format!("{s}, signature {}, referrer {referrer}", s.signature)
                        }
                        None => format!("{s}, signature {}", s.signature),
                    }
                })
                .collect();
            line.push_str(&format!(": signed by {}", signers.join("; ")));
        }
        if let Some(from) = &self.signatures_from {
            line.push_str(&format!(" (signatures from {from})"));
        }
        line
    }
}

/// What verified an image, as the lockfile records it under `verifiedBy` (JSON, camelCase).
///
/// ```json
/// "verifiedBy": {
///   "digest": "sha256:…",
///   "rule": "release (docker.io/linuxkit/*)",
///   "unsigned": false,
///   "signatureManifest": { "mediaType": "…manifest.v1+json", "digest": "sha256:…", "size": 556 },
///   "referrers": [ { "mediaType": "…manifest.v1+json", "digest": "sha256:…", "size": 712 } ],
///   "signers": [ { "name": "release", "description": "cosign ECDSA P-256 key sha256:…",
///                  "keyId": "sha256:<64 hex>", "signature": "sha256:<payload digest>",
///                  "tlogEntry": null },
///                { "name": "ci", "description": "keyless …", "keyId": null,
///                  "signature": "sha256:<bundle digest>", "tlogEntry": { … },
///                  "referrer": "sha256:<referrer manifest digest>" } ]
/// }
/// ```
///
/// `referrers` and each signer's `referrer` are written only when a referrer (Sigstore bundle,
/// Notation signature) verified the image, so lockfiles of cosign-only images are unchanged and
/// lockfiles written before referrers existed still read (lockfile version 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VerifiedBy {
    /// The root digest that was verified.
    pub digest: Digest,
    /// The policy rule that applied (`pattern` or `name (pattern)`).
    pub rule: String,
    /// True when the rule said `unsigned: accept`.
    pub unsigned: bool,
    /// The cosign signature manifest the signatures came from, when a cosign layer verified; a
    /// locked build reads exactly it.
    pub signature_manifest: Option<LockedBlob>,
    /// The referrer manifests whose signatures verified (sorted by digest); a locked build reads
    /// exactly these, by digest, and never lists referrers again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub referrers: Vec<LockedBlob>,
    /// The signers whose signatures verified.
    pub signers: Vec<VerifiedSigner>,
}

/// One signer of a [`VerifiedBy`] record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VerifiedSigner {
    /// The signer's name in the policy.
    pub name: String,
    /// What it is, e.g. `cosign ECDSA P-256 key sha256:0123456789abcdef`.
    pub description: String,
    /// The full key id (`sha256:` and 64 hex digits of the DER public key) for key signers.
    pub key_id: Option<String>,
    /// The digest of the signature layer (payload blob) that verified.
    pub signature: String,
    /// The transparency-log entry, when the policy required one.
    pub tlog_entry: Option<TlogEntry>,
    /// The referrer manifest that carried the signature (Sigstore bundle, Notation envelope).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer: Option<Digest>,
}

/// A verified Rekor entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TlogEntry {
    /// The log's id, hex.
    pub log_id: String,
    /// The entry's index.
    pub log_index: i64,
    /// When the log integrated it (Unix seconds).
    pub integrated_time: i64,
}

/// Why an image is not verified, or verification could not run. One line, naming the image.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The policy refused the image (no policy, no rule, no or bad signatures, …).
    #[error("{refusal}{}{}", searched_suffix(.searched), ignored_suffix(.ignored))]
    Refused {
        /// `signing`'s refusal: image, rule, reason (boxed: it is large and rare).
        refusal: Box<Refusal>,
        /// Where signatures were looked for, when none were found.
        searched: Option<String>,
        /// Listed referrers that were not signatures of the digest, with the reasons.
        ignored: Vec<String>,
    },
    /// A referrers list (API answer or referrers index) is unusable: malformed or too large.
    #[error("{image}: referrers in {location}: {problem}")]
    Referrers {
        /// The image as written.
        image: String,
        /// Which list, where.
        location: String,
        /// What is wrong, stating expected and found.
        problem: String,
    },
    /// The signature manifest or a payload blob could not be fetched.
    #[error("{image}: fetching signatures: {source}")]
    Fetch {
        /// The image as written.
        image: String,
        /// The fetch error.
        #[source]
        source: crate::fetch::FetchError,
    },
    /// The signature manifest or a payload blob could not be read from a layout or the cache.
    #[error("{image}: reading signatures: {source}")]
    Oci {
        /// The image as written.
        image: String,
        /// The layout error (names the layout and blob).
        #[source]
        source: crate::oci::Error,
    },
    /// The signatures could not be stored in the cache.
    #[error("{image}: storing signatures in the cache: {source}")]
    Cache {
        /// The image as written.
        image: String,
        /// The cache error.
        #[source]
        source: crate::cache::CacheError,
    },
    /// The signature manifest is unusable (not a manifest, malformed, too large).
    #[error("{image}: signature manifest {manifest} in {location}: {problem}")]
    SignatureManifest {
        /// The image as written.
        image: String,
        /// Where it was found.
        location: String,
        /// Its digest.
        manifest: Digest,
        /// What is wrong, stating expected and found.
        problem: String,
    },
    /// `--locked`: the image resolved to another digest than the one the lockfile verified.
    #[error(
        "{image}: resolved to {found}, but the lockfile's verifiedBy is for {locked}; run `kit lock` again"
    )]
    LockedDigest {
        /// The image as written.
        image: String,
        /// The digest the lock verified.
        locked: Digest,
        /// The digest found now.
        found: Digest,
    },
    /// `--locked`: a signature manifest the lockfile records is nowhere to be found.
    #[error(
        "{image}: the signature manifest {manifests} recorded in the lockfile is not in {searched}; run `kit lock` again (or `kit build` without --locked) to fetch the current signatures"
    )]
    LockedSignaturesMissing {
        /// The image as written.
        image: String,
        /// The recorded manifest digests (cosign manifest, referrers), comma-separated.
        manifests: String,
        /// Where it was looked for.
        searched: String,
    },
    /// The policy file cannot be read.
    #[error("{path}: cannot read the signature policy: {source}")]
    PolicyRead {
        /// The policy file.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The policy file is invalid (the message names file:line:column).
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// A key, trusted-root or certificate file named by the policy cannot be read.
    #[error("{at}: file `{written}` of signer `{signer}` ({path}): {source}")]
    PolicySignerFile {
        /// Where the signer is defined in the policy (file:line:column).
        at: signing::policy::SourceLoc,
        /// The signer's name.
        signer: String,
        /// The path as written in the policy.
        written: String,
        /// The path it resolved to (relative to the policy file's directory).
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

fn searched_suffix(searched: &Option<String>) -> String {
    match searched {
        Some(s) => format!(" (looked in {s})"),
        None => String::new(),
    }
}

fn ignored_suffix(ignored: &[String]) -> String {
    if ignored.is_empty() { String::new() } else { format!("; ignored {}", ignored.join("; ")) }
}

impl VerifyError {
    /// True for errors of the user's policy file (exit code 2), false for verification and
    /// fetch failures (exit code 1).
    pub fn is_policy_error(&self) -> bool {
        matches!(
            self,
            VerifyError::PolicyRead { .. }
                | VerifyError::Policy(_)
                | VerifyError::PolicySignerFile { .. }
        )
    }
}

/// Verifies `image` under `policy` at time `now`, with signatures from `finder`.
///
/// `locked` is the lockfile's `verifiedBy` for the image under `--locked` (`None` otherwise, or
/// when the lock has none): the digest must match, and the recorded signature manifest is the
/// only one used. No signatures are fetched when the policy would refuse or accept the image
/// without looking at them (no policy, no matching rule, `unsigned: accept`).
pub fn verify_image(
    policy: &Policy,
    image: &ImageToVerify<'_>,
    finder: &dyn SignatureFinder,
    locked: Option<&VerifiedBy>,
    now: UnixTime,
) -> Result<Verified, VerifyError> {
    let repository = image.repository();
    if let Some(record) = locked
        && &record.digest != image.digest
    {
        return Err(VerifyError::LockedDigest {
            image: image.written.to_owned(),
            locked: record.digest.clone(),
            found: image.digest.clone(),
        });
    }
    let pinned = locked.and_then(pinned_of);
    let looked = needs_signatures(policy, &repository);
    let (cosign, referrers) = wanted(policy, &repository);
    let lookup = Lookup { cosign, referrers, pinned: pinned.clone() };
    let found = if looked {
        finder.find(image, &lookup)?
    } else {
        FoundSignatures { location: finder.location(), ..FoundSignatures::default() }
    };
    if looked
        && let Some(pinned) = &pinned
        && found.is_empty()
    {
        let mut manifests: Vec<String> =
            pinned.signature_manifest.iter().map(ToString::to_string).collect();
        manifests.extend(pinned.referrers.iter().map(ToString::to_string));
        return Err(VerifyError::LockedSignaturesMissing {
            image: image.written.to_owned(),
            manifests: manifests.join(", "),
            searched: finder.location(),
        });
    }
    let digest = image.digest.to_string();
    let bundles: Vec<Vec<u8>> = found
        .referrers
        .iter()
        .filter(|r| r.kind == ReferrerKind::SigstoreBundle)
        .map(|r| r.bytes.clone())
        .collect();
    let notation: Vec<NotationSignature> = found
        .referrers
        .iter()
        .filter(|r| r.kind == ReferrerKind::Notation)
        .map(|r| NotationSignature {
            media_type: r.layer.media_type.clone(),
            envelope: r.bytes.clone(),
        })
        .collect();
    let input = ImageInput {
        image: image.written,
        repository: &repository,
        digest: &digest,
        cosign_layers: &found.layers,
        bundles: &bundles,
        notation: &notation,
        media_type: image.media_type,
        size: image.size,
    };
    let verdict = signing::verify(policy, &input, now).map_err(|refusal| VerifyError::Refused {
        refusal: Box::new(refusal),
        searched: (looked && found.is_empty()).then(|| finder.location()),
        ignored: found.ignored.clone(),
    })?;
    let record = record_of(&verdict, image.digest, &found);
    let signatures_from = (!found.is_empty()).then_some(found.location);
    Ok(Verified { verdict, record, signatures_from })
}

/// What a lockfile record pins: `None` for an image accepted unsigned (nothing to re-read).
fn pinned_of(record: &VerifiedBy) -> Option<Pinned> {
    let signature_manifest = record.signature_manifest.as_ref().map(|m| m.digest.clone());
    let referrers: Vec<Digest> = record.referrers.iter().map(|r| r.digest.clone()).collect();
    (signature_manifest.is_some() || !referrers.is_empty())
        .then_some(Pinned { signature_manifest, referrers })
}

/// Which kinds of signatures the rule for `repository` can use: (cosign `.sig` manifest,
/// referrers). Key signers read `.sig` layers; keyless signers bundles and `.sig` layers with
/// certificates; Notation signers referrers.
fn wanted(policy: &Policy, repository: &str) -> (bool, bool) {
    let Some(matched) = policy.rule_for(repository) else { return (false, false) };
    let Requirement::Signed { signers, .. } = &matched.rule.requirement else {
        return (false, false);
    };
    let (mut cosign, mut referrers) = (false, false);
    for name in signers {
        match policy.signer(name) {
            Some(Signer::CosignKey { .. }) => cosign = true,
            Some(Signer::Keyless { .. }) => {
                cosign = true;
                referrers = true;
            }
            Some(Signer::Notation { .. }) => referrers = true,
            // Unknown kinds (and undefined names, which the parser refuses) look everywhere.
            #[allow(unreachable_patterns)]
            _ => {
                cosign = true;
                referrers = true;
            }
        }
    }
    (cosign, referrers)
}

/// Whether verifying an image of `repository` looks at signatures at all.
fn needs_signatures(policy: &Policy, repository: &str) -> bool {
    if policy.file().is_none() {
        return false;
    }
    match policy.rule_for(repository) {
        None => false,
        Some(matched) => matches!(matched.rule.requirement, Requirement::Signed { .. }),
    }
}

fn record_of(verdict: &Verdict, digest: &Digest, found: &FoundSignatures) -> VerifiedBy {
    let locked = |d: &crate::oci::Descriptor| LockedBlob {
        media_type: d.media_type.clone(),
        digest: d.digest.clone(),
        size: d.size,
    };
    let mut uses_cosign = false;
    let mut unmatched = false;
    let mut referrers: Vec<LockedBlob> = Vec::new();
    let signers = verdict
        .satisfied_by
        .iter()
        .map(|s| {
            let from_cosign = found.layers.iter().any(|l| l.descriptor.digest == s.signature);
            let referrer =
                found.referrers.iter().find(|r| r.layer.digest.to_string() == s.signature);
            uses_cosign |= from_cosign;
            if let Some(r) = referrer
                && !referrers.iter().any(|l| l.digest == r.manifest.digest)
            {
                referrers.push(locked(&r.manifest));
            }
            unmatched |= !from_cosign && referrer.is_none();
            VerifiedSigner {
                name: s.name.clone(),
                description: s.description.clone(),
                key_id: s.key_id.as_ref().map(signing::KeyId::full),
                signature: s.signature.clone(),
                tlog_entry: s.tlog_entry.as_ref().map(|e| TlogEntry {
                    log_id: e.log_id.clone(),
                    log_index: e.log_index,
                    integrated_time: e.integrated_time,
                }),
                referrer: referrer.map(|r| r.manifest.digest.clone()),
            }
        })
        .collect::<Vec<_>>();
    let unsigned = signers.is_empty();
    // A signature whose source cannot be told (a signer kind that names its signature
    // differently) pins everything found, so a locked build still has it.
    if unmatched {
        uses_cosign = true;
        for r in &found.referrers {
            if !referrers.iter().any(|l| l.digest == r.manifest.digest) {
                referrers.push(locked(&r.manifest));
            }
        }
    }
    referrers.sort_by(|a, b| a.digest.cmp(&b.digest));
    // Manifests are recorded only when their signatures were used: an `unsigned: accept`
    // verdict pins nothing.
    let signature_manifest =
        found.manifest.as_ref().filter(|_| uses_cosign && !unsigned).map(locked);
    VerifiedBy {
        digest: digest.clone(),
        rule: verdict.rule.clone(),
        unsigned,
        signature_manifest,
        referrers: if unsigned { Vec::new() } else { referrers },
        signers,
    }
}

impl fmt::Display for VerifiedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} by rule {}", self.digest, self.rule)?;
        if self.unsigned {
            return f.write_str(", accepted unsigned");
        }
        let names: Vec<&str> = self.signers.iter().map(|s| s.name.as_str()).collect();
        write!(f, ", signed by {}", names.join(", "))
    }
}

#[cfg(test)]
mod tests;

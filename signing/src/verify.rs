//! The verdict for one pinned input: which rule applies, which signers' signatures verified,
//! and, when refused, one line naming the image, the rule and what was missing or wrong.
//!
//! Semantics (fail closed):
//! - No policy ([`Policy::none`]) or no matching rule: refused, with an example policy.
//! - `unsigned: accept`: accepted with a warning, unless the LinuxKit `trust:` section covers the
//!   image ([`crate::policy::LegacyTrust`]), then refused.
//! - Signed rule: each signature layer is tried with each listed signer. A signer is satisfied by
//!   a layer that passes every check of [`crate::cosign`]. The rule holds when `threshold`
//!   distinct signers are satisfied by *distinct* layers (a maximum bipartite matching between
//!   signers and layers), so one signature never counts twice.
//! - Keyless signers are satisfied by a Sigstore bundle (attached as an OCI 1.1 referrer) that
//!   passes every check of [`crate::bundle`], or by a keyless cosign `.sig` layer (certificate
//!   and Rekor bundle annotations) that passes every check of [`crate::cosign::keyless`], for
//!   their issuer, subject and trusted root. Bundles and cosign layers are all "signatures" for
//!   the matching above (layers first, then bundles): each counts once.
//! - Notation signers are satisfied by a Notation envelope (JWS or COSE, attached as an OCI
//!   1.1 referrer) that passes every check of [`crate::notation`] against the signer's trust
//!   store (type `ca`) and identities, for the pinned manifest's media type, digest and size, at
//!   the caller's `now`. Signatures are numbered cosign layers first, then bundles, then
//!   Notation envelopes, and the matching above treats them all alike.

use std::collections::BTreeMap;
use std::fmt;

use crate::bundle::{self, BundleError, KeylessIdentity};
use crate::cosign::{self, CosignError, Expected, MAX_LAYERS, SignatureLayer};
use crate::keys::KeyId;
use crate::notation::{self, NotationError, TargetArtifact, TrustStore};
use crate::policy::{Policy, Requirement, Signer, SourceLoc};
use crate::rekor::VerifiedEntry;

/// The verification time, in seconds since the Unix epoch (UTC). The caller supplies it; this
/// crate has no clock. Keyed cosign verification does not depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime(pub i64);

/// Everything fetched for one pinned input.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImageInput<'a> {
    /// The image as the configuration names it, for messages (e.g. `linuxkit/kernel:6.6`).
    pub image: &'a str,
    /// The fully qualified repository the policy patterns match, e.g. `docker.io/linuxkit/kernel`.
    pub repository: &'a str,
    /// The pinned manifest (or index) digest, `sha256:<hex>`.
    pub digest: &'a str,
    /// The layers of the `sha256-<hex>.sig` manifest with their payloads; empty when there is no
    /// such manifest.
    pub cosign_layers: &'a [SignatureLayer],
    /// Sigstore bundles attached to `digest` as OCI 1.1 referrers (artifact type
    /// [`bundle::BUNDLE_MEDIA_TYPE_V03`]): the bytes of each referrer's bundle layer, whose
    /// digest the caller has checked, from referrers whose `subject` is `digest`.
    pub bundles: &'a [Vec<u8>],
    /// Notation signatures attached to `digest` as OCI 1.1 referrers (artifact type
    /// [`NOTATION_ARTIFACT_TYPE`]), from referrers whose `subject` is `digest`.
    pub notation: &'a [NotationSignature],
    /// The media type of the pinned manifest or index (Notation's `targetArtifact` names it).
    pub media_type: &'a str,
    /// The size in bytes of the pinned manifest or index (Notation's `targetArtifact` names it).
    pub size: u64,
}

/// The artifact type of a Notation signature referrer.
pub const NOTATION_ARTIFACT_TYPE: &str = "application/vnd.cncf.notary.signature";

/// One Notation signature: the single layer of a referrer manifest of artifact type
/// [`NOTATION_ARTIFACT_TYPE`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotationSignature {
    /// The layer's media type: `application/jose+json` (JWS) or `application/cose` (COSE_Sign1).
    pub media_type: String,
    /// The envelope bytes, whose digest and size the caller checked against the layer
    /// descriptor.
    pub envelope: Vec<u8>,
}

/// Who satisfied a requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerId {
    /// The signer's name in the policy.
    pub name: String,
    /// A description, e.g. `cosign ECDSA P-256 key sha256:0123456789abcdef`.
    pub description: String,
    /// The key id, for key-based signers.
    pub key_id: Option<KeyId>,
    /// The digest of the signature payload that verified (the layer's blob digest).
    pub signature: String,
    /// The Rekor entry that logged the signature, when the policy required one (always for
    /// keyless signers: it proves the signing time).
    pub tlog_entry: Option<VerifiedEntry>,
}

impl fmt::Display for SignerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.description)
    }
}

/// A successful verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The image as given.
    pub image: String,
    /// The pinned digest that was verified.
    pub digest: String,
    /// The rule that applied: its pattern, or `name (pattern)`.
    pub rule: String,
    /// Where the rule is in the policy file.
    pub rule_at: SourceLoc,
    /// The signers whose signatures verified (empty for `unsigned: accept`).
    pub satisfied_by: Vec<SignerId>,
    /// Warnings to show on every build (e.g. `unsigned: accept`).
    pub warnings: Vec<String>,
}

/// A refused input: one line naming the image, the rule and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{image}: {}{reason}", rule_prefix(.rule))]
#[non_exhaustive]
pub struct Refusal {
    /// The image as given.
    pub image: String,
    /// The pinned digest.
    pub digest: String,
    /// The rule that applied, if any.
    pub rule: Option<String>,
    /// Why.
    pub reason: RefusalReason,
}

fn rule_prefix(rule: &Option<String>) -> String {
    match rule {
        Some(r) => format!("rule {r}: "),
        None => String::new(),
    }
}

/// A minimal policy, shown in refusals that need one.
pub const POLICY_EXAMPLE: &str = "`version: 1`, `signers: {release: {cosign-key: {path: cosign.pub}}}`, `rules: [{images: [\"docker.io/linuxkit/*\"], signers: [release]}]`";

/// Why an input was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RefusalReason {
    /// No policy was given.
    #[error(
        "no signature policy was given, so no signer is trusted: pass --policy FILE with a rule for {repository}, e.g. a YAML file with {POLICY_EXAMPLE}"
    )]
    NoPolicy {
        /// The repository.
        repository: String,
    },
    /// No rule matches the repository.
    #[error(
        "no rule in {policy_file} matches {repository}: add one, e.g. {POLICY_EXAMPLE} (patterns: `*` is one path component, `**` any depth)"
    )]
    NoMatchingRule {
        /// The policy file.
        policy_file: String,
        /// The repository.
        repository: String,
    },
    /// The rule rejects every image it matches (containers-policy.json's `reject`).
    #[error("the policy rejects these images (rule at {rule_at})")]
    Rejected {
        /// Where the rule is.
        rule_at: SourceLoc,
    },
    /// The pinned digest is malformed.
    #[error("{0}")]
    BadDigest(CosignError),
    /// The image is covered by the legacy `trust:` section but its rule accepts it unsigned.
    #[error(
        "the configuration's LinuxKit `trust:` section requires this image to be signed (LinuxKit checked Docker Content Trust signatures, which kit cannot verify), but the rule says `unsigned: accept`: add a rule with signers for it, or remove it from `trust:`"
    )]
    LegacyTrustRequiresSignature,
    /// Too many bundles.
    #[error("{n_bundles} Sigstore bundles are attached, more than the {MAX_LAYERS} accepted")]
    TooManyBundles {
        /// How many.
        n_bundles: usize,
    },
    /// Too many Notation signatures.
    #[error("{n_signatures} Notation signatures are attached, more than the {MAX_LAYERS} accepted")]
    TooManyNotationSignatures {
        /// How many.
        n_signatures: usize,
    },
    /// The signature manifest has too many layers.
    #[error("signature manifest has {n_layers} layers, more than the {MAX_LAYERS} accepted")]
    TooManyLayers {
        /// How many.
        n_layers: usize,
    },
    /// No signature at all.
    #[error(
        "no signature found: expected a cosign signature manifest tagged {tag} with at least one layer (`cosign sign --key`), a Sigstore bundle attached as an OCI referrer (`cosign sign`), or a Notation signature attached as an OCI referrer (`notation sign`)"
    )]
    NoSignatures {
        /// The expected tag.
        tag: String,
    },
    /// Fewer than `threshold` distinct signers verified.
    #[error("{}", threshold_message(*.threshold, .signers, *.n_verified, .failures))]
    ThresholdNotMet {
        /// How many signers must sign.
        threshold: usize,
        /// The signers listed by the rule.
        signers: Vec<String>,
        /// How many verified with distinct signatures.
        n_verified: usize,
        /// What went wrong for each signer that did not verify.
        failures: Vec<SignerFailure>,
    },
}

fn threshold_message(
    threshold: usize,
    signers: &[String],
    n_verified: usize,
    failures: &[SignerFailure],
) -> String {
    let need = if threshold == 1 && signers.len() == 1 {
        format!("needs a signature by {}", signers.join(""))
    } else {
        format!("needs signatures by {threshold} of [{}]", signers.join(", "))
    };
    let details: Vec<String> = failures.iter().map(ToString::to_string).collect();
    format!("{need}, {n_verified} verified: {}", details.join("; "))
}

/// Why one signer did not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerFailure {
    /// The signer's name.
    pub signer: String,
    /// Its description.
    pub description: String,
    /// What happened.
    pub problem: SignerProblem,
}

impl fmt::Display for SignerFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.signer, self.description, self.problem)
    }
}

/// What went wrong for one signer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignerProblem {
    /// Each layer failed; one error per layer, in layer order.
    Layers(Vec<CosignError>),
    /// A keyless signer: each cosign layer and each Sigstore bundle failed; one error per layer
    /// and per bundle, in input order.
    Keyless {
        /// Why each cosign `.sig` layer failed.
        layers: Vec<CosignError>,
        /// Why each bundle failed.
        bundles: Vec<BundleError>,
    },
    /// Each Notation signature failed; one error per envelope, in input order.
    Notation(Vec<NotationError>),
    /// A Notation signer, but no Notation signature is attached.
    NoNotationSignatures,
    /// Its signatures verified, but only on layers already counted for other signers.
    SignatureAlreadyCounted,
    /// kit does not verify this kind of signer yet.
    NotImplemented {
        /// The signer kind.
        kind: &'static str,
    },
}

impl fmt::Display for SignerProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignerProblem::Layers(errors) => {
                for (idx, err) in errors.iter().enumerate() {
                    if idx > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "layer {idx}: {err}")?;
                }
                Ok(())
            }
            SignerProblem::Keyless { layers, bundles } => {
                let layers = layers.iter().enumerate().map(|(idx, e)| format!("layer {idx}: {e}"));
                let bundles =
                    bundles.iter().enumerate().map(|(idx, e)| format!("bundle {idx}: {e}"));
                let all: Vec<String> = layers.chain(bundles).collect();
                f.write_str(&all.join(", "))
            }
            SignerProblem::Notation(errors) => {
                for (idx, err) in errors.iter().enumerate() {
                    if idx > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "notation signature {idx}: {err}")?;
                }
                Ok(())
            }
            SignerProblem::NoNotationSignatures => {
                f.write_str("no Notation signature is attached as an OCI referrer")
            }
            SignerProblem::SignatureAlreadyCounted => {
                f.write_str("its only valid signatures already count for other signers")
            }
            SignerProblem::NotImplemented { kind } => {
                write!(f, "{kind} verification is not implemented yet")
            }
        }
    }
}

/// Verifies one pinned input under `policy` at time `now`.
pub fn verify(policy: &Policy, input: &ImageInput<'_>, now: UnixTime) -> Result<Verdict, Refusal> {
    // Keyless signatures are checked at the time the log proves; `now` is for Notation.
    let refuse = |rule: Option<String>, reason: RefusalReason| Refusal {
        image: input.image.to_owned(),
        digest: input.digest.to_owned(),
        rule,
        reason,
    };
    if let Err(err) = cosign::check_digest(input.digest) {
        return Err(refuse(None, RefusalReason::BadDigest(err)));
    }
    let Some(policy_file) = policy.file() else {
        return Err(refuse(
            None,
            RefusalReason::NoPolicy { repository: input.repository.to_owned() },
        ));
    };
    let Some(matched) = policy.rule_for(input.repository) else {
        return Err(refuse(
            None,
            RefusalReason::NoMatchingRule {
                policy_file: policy_file.to_owned(),
                repository: input.repository.to_owned(),
            },
        ));
    };
    let rule_label = matched.label();
    let (signer_names, threshold, docker_reference) = match &matched.rule.requirement {
        Requirement::UnsignedAccept => {
            if policy.legacy_trust().covers(input.repository) {
                return Err(refuse(Some(rule_label), RefusalReason::LegacyTrustRequiresSignature));
            }
            let warning = format!(
                "{} accepted without signature verification (rule {rule_label} at {} says `unsigned: accept`)",
                input.image, matched.rule.at
            );
            return Ok(Verdict {
                image: input.image.to_owned(),
                digest: input.digest.to_owned(),
                rule: rule_label,
                rule_at: matched.rule.at.clone(),
                satisfied_by: Vec::new(),
                warnings: vec![warning],
            });
        }
        Requirement::Reject => {
            return Err(refuse(
                Some(rule_label),
                RefusalReason::Rejected { rule_at: matched.rule.at.clone() },
            ));
        }
        Requirement::Signed { signers, threshold, docker_reference } => {
            (signers, *threshold, docker_reference)
        }
    };

    let n_layers = input.cosign_layers.len();
    if n_layers > MAX_LAYERS {
        return Err(refuse(Some(rule_label), RefusalReason::TooManyLayers { n_layers }));
    }
    let n_bundles = input.bundles.len();
    if n_bundles > MAX_LAYERS {
        return Err(refuse(Some(rule_label), RefusalReason::TooManyBundles { n_bundles }));
    }
    let n_notation = input.notation.len();
    if n_notation > MAX_LAYERS {
        return Err(refuse(
            Some(rule_label),
            RefusalReason::TooManyNotationSignatures { n_signatures: n_notation },
        ));
    }
    // Signatures are numbered: cosign layers first, then bundles, then Notation envelopes.
    let n_signatures = n_layers + n_bundles + n_notation;
    if n_signatures == 0 {
        let tag = cosign::signature_tag(input.digest).unwrap_or_default();
        return Err(refuse(Some(rule_label), RefusalReason::NoSignatures { tag }));
    }

    let expected =
        Expected { digest: input.digest, repository: input.repository, docker_reference };
    // For each signer: the layers that verify, or why none does.
    let mut verified: Vec<(usize, Vec<usize>)> = Vec::new();
    let mut failures: BTreeMap<usize, SignerProblem> = BTreeMap::new();
    // Rekor entries verified per (signer, signature), for the verdict.
    let mut tlog_entries: BTreeMap<(usize, usize), VerifiedEntry> = BTreeMap::new();
    // Verified bundles per (signer, signature).
    let mut bundles: BTreeMap<(usize, usize), bundle::VerifiedBundle> = BTreeMap::new();
    // Verified keyless cosign layers per (signer, signature).
    let mut keyless_layers: BTreeMap<(usize, usize), cosign::keyless::VerifiedKeylessLayer> =
        BTreeMap::new();
    // Verified Notation envelopes per (signer, signature).
    let mut notations: BTreeMap<(usize, usize), notation::VerifiedNotation> = BTreeMap::new();
    let target =
        TargetArtifact { media_type: input.media_type, digest: input.digest, size: input.size };
    for (signer_idx, name) in signer_names.iter().enumerate() {
        let Some(signer) = policy.signer(name) else {
            // The parser checks every name against the signer table; refusing is the safe
            // answer should that ever be bypassed.
            failures.insert(signer_idx, SignerProblem::NotImplemented { kind: "undefined signer" });
            continue;
        };
        match signer {
            Signer::CosignKey { key, rsa_scheme, tlog } => {
                let mut ok_layers = Vec::new();
                let mut errors = Vec::new();
                for (layer_idx, layer) in input.cosign_layers.iter().enumerate() {
                    match cosign::verify_layer(layer, key, *rsa_scheme, tlog.as_ref(), &expected) {
                        Ok(v) => {
                            ok_layers.push(layer_idx);
                            if let Some(entry) = v.tlog_entry {
                                tlog_entries.insert((signer_idx, layer_idx), entry);
                            }
                        }
                        Err(err) => errors.push(err),
                    }
                }
                if ok_layers.is_empty() {
                    failures.insert(signer_idx, SignerProblem::Layers(errors));
                } else {
                    verified.push((signer_idx, ok_layers));
                }
            }
            Signer::Keyless { issuer, subject, root, .. } => {
                let identity = KeylessIdentity { issuer, subject };
                let mut ok = Vec::new();
                let mut layer_errors = Vec::new();
                for (layer_idx, layer) in input.cosign_layers.iter().enumerate() {
                    match cosign::keyless::verify_keyless_layer(layer, root, &identity, &expected) {
                        Ok(v) => {
                            ok.push(layer_idx);
                            tlog_entries.insert((signer_idx, layer_idx), v.tlog_entry.clone());
                            keyless_layers.insert((signer_idx, layer_idx), v);
                        }
                        Err(err) => layer_errors.push(err),
                    }
                }
                let mut bundle_errors = Vec::new();
                for (bundle_idx, bytes) in input.bundles.iter().enumerate() {
                    match bundle::verify_bundle(bytes, root, input.digest, &identity) {
                        Ok(v) => {
                            let sig_idx = n_layers + bundle_idx;
                            ok.push(sig_idx);
                            tlog_entries.insert((signer_idx, sig_idx), v.tlog_entry.clone());
                            bundles.insert((signer_idx, sig_idx), v);
                        }
                        Err(err) => bundle_errors.push(err),
                    }
                }
                if ok.is_empty() {
                    failures.insert(
                        signer_idx,
                        SignerProblem::Keyless { layers: layer_errors, bundles: bundle_errors },
                    );
                } else {
                    verified.push((signer_idx, ok));
                }
            }
            Signer::Notation { trust_store, trust_store_type, identities } => {
                if n_notation == 0 {
                    failures.insert(signer_idx, SignerProblem::NoNotationSignatures);
                    continue;
                }
                // The policy checked each file's label; a bad certificate fails every envelope.
                let store = TrustStore::from_pem_files(*trust_store_type, trust_store);
                let mut ok = Vec::new();
                let mut errors = Vec::new();
                for (notation_idx, sig) in input.notation.iter().enumerate() {
                    let result = store.clone().and_then(|store| {
                        notation::verify_envelope(
                            &sig.media_type,
                            &sig.envelope,
                            &store,
                            identities,
                            &target,
                            now.0,
                        )
                    });
                    match result {
                        Ok(v) => {
                            let sig_idx = n_layers + n_bundles + notation_idx;
                            ok.push(sig_idx);
                            notations.insert((signer_idx, sig_idx), v);
                        }
                        Err(err) => errors.push(err),
                    }
                }
                if ok.is_empty() {
                    failures.insert(signer_idx, SignerProblem::Notation(errors));
                } else {
                    verified.push((signer_idx, ok));
                }
            }
        }
    }

    let assignment = max_matching(&verified, n_signatures);
    let mut satisfied_by = Vec::new();
    for (signer_idx, layers) in &verified {
        match assignment.get(signer_idx) {
            Some(layer_idx) => {
                let name = &signer_names[*signer_idx];
                // `verified` only holds signers found in the policy above.
                let mut description = policy.signer(name).map(Signer::describe).unwrap_or_default();
                let key_id = match policy.signer(name) {
                    Some(Signer::CosignKey { key, .. }) => Some(key.id().clone()),
                    _ => None,
                };
                let verified_bundle = bundles.get(&(*signer_idx, *layer_idx));
                let keyless_layer = keyless_layers.get(&(*signer_idx, *layer_idx));
                if let Some(l) = keyless_layer {
                    description = format!("keyless {} from {} (cosign .sig)", l.subject, l.issuer);
                }
                let verified_notation = notations.get(&(*signer_idx, *layer_idx));
                let signature = match (verified_bundle, verified_notation) {
                    (Some(b), _) => {
                        description = format!("keyless {} from {}", b.subject, b.issuer);
                        b.bundle_digest.clone()
                    }
                    (None, Some(n)) => {
                        description = n.describe();
                        n.envelope_digest.clone()
                    }
                    (None, None) => input
                        .cosign_layers
                        .get(*layer_idx)
                        .map(|l| l.descriptor.digest.clone())
                        .unwrap_or_default(),
                };
                let tlog_entry = tlog_entries.get(&(*signer_idx, *layer_idx)).cloned();
                satisfied_by.push(SignerId {
                    name: name.clone(),
                    description,
                    key_id,
                    signature,
                    tlog_entry,
                });
            }
            None => {
                debug_assert!(!layers.is_empty());
                failures.insert(*signer_idx, SignerProblem::SignatureAlreadyCounted);
            }
        }
    }

    if satisfied_by.len() >= threshold {
        return Ok(Verdict {
            image: input.image.to_owned(),
            digest: input.digest.to_owned(),
            rule: rule_label,
            rule_at: matched.rule.at.clone(),
            satisfied_by,
            warnings: Vec::new(),
        });
    }
    let failures = failures
        .into_iter()
        .map(|(signer_idx, problem)| {
            let name = signer_names[signer_idx].clone();
            let description = policy.signer(&name).map(Signer::describe).unwrap_or_default();
            SignerFailure { signer: name, description, problem }
        })
        .collect();
    Err(refuse(
        Some(rule_label),
        RefusalReason::ThresholdNotMet {
            threshold,
            signers: signer_names.clone(),
            n_verified: satisfied_by.len(),
            failures,
        },
    ))
}

/// A maximum matching of signers to distinct signatures (Kuhn's augmenting paths; tiny inputs:
/// a few signers, at most 2 × [`MAX_LAYERS`] signatures). Returns signer index → signature index.
fn max_matching(verified: &[(usize, Vec<usize>)], n_layers: usize) -> BTreeMap<usize, usize> {
    // layer_owner[layer] = position in `verified` of the signer holding it.
    let mut layer_owner: Vec<Option<usize>> = vec![None; n_layers];
    for pos in 0..verified.len() {
        let mut visited = vec![false; n_layers];
        augment(pos, verified, &mut layer_owner, &mut visited);
    }
    let mut assignment = BTreeMap::new();
    for (layer_idx, owner) in layer_owner.iter().enumerate() {
        if let Some(pos) = owner {
            assignment.insert(verified[*pos].0, layer_idx);
        }
    }
    assignment
}

fn augment(
    pos: usize,
    verified: &[(usize, Vec<usize>)],
    layer_owner: &mut [Option<usize>],
    visited: &mut [bool],
) -> bool {
    for &layer_idx in &verified[pos].1 {
        if visited[layer_idx] {
            continue;
        }
        visited[layer_idx] = true;
        let free = match layer_owner[layer_idx] {
            None => true,
            Some(other) => augment(other, verified, layer_owner, visited),
        };
        if free {
            layer_owner[layer_idx] = Some(pos);
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests;

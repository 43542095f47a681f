//! Checks of a Fulcio (keyless) leaf certificate at a verified signing time, shared by Sigstore
//! bundles ([`crate::bundle`]) and cosign legacy keyless `.sig` layers
//! ([`crate::cosign::keyless`]).
//!
//! reference/peers.md §6.4 (cosign `pkg/cosign/verify.go: ValidateAndUnpackCertWithIntermediates`,
//! sigstore-go `pkg/verify/certificate.go`, `sct.go`, `certificate_identity.go`):
//! - [`check_certificate`]: the leaf is valid at the signing time (proven by the log, never
//!   "now"), is a code-signing leaf, and chains to a certificate authority of the pinned trusted
//!   root whose `validFor` window contains that time. Certificates the signature carries (the
//!   cosign chain annotation) are only candidate intermediates between the leaf and a trusted
//!   CA's chain; they are never trust anchors.
//! - [`check_scts`]: at least one embedded SCT verifies with a CT log of the trusted root valid at
//!   the SCT's time (RFC 6962 §3.2 precertificate entry, issuer key hash of the leaf's issuer).
//! - [`check_identity`]: the OIDC issuer extension equals the policy's issuer exactly, and a
//!   subject alternative name (URI, email or Fulcio OtherName) matches the policy's subject.

use crate::policy::SubjectMatch;
use crate::trusted_root::{TrustedRoot, format_time};
use crate::x509::{self, Certificate, X509Error};

/// Most candidate intermediates placed between a leaf and a trusted CA's chain.
pub const MAX_EXTRA_INTERMEDIATES: usize = 3;
/// Most certificates accepted as candidate intermediates.
pub const MAX_CANDIDATE_INTERMEDIATES: usize = 8;

/// The identity a keyless signer requires.
#[derive(Debug, Clone, Copy)]
pub struct KeylessIdentity<'a> {
    /// The OIDC issuer, exactly.
    pub issuer: &'a str,
    /// The subject match.
    pub subject: &'a SubjectMatch,
}

/// Why a Fulcio leaf is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FulcioError {
    /// The leaf is not a usable code-signing leaf.
    #[error("{0}")]
    Leaf(X509Error),
    /// The leaf was not valid when the log integrated the entry.
    #[error(
        "certificate was not valid at the signing time {} proven by the log (valid {} to {})",
        format_time(*.signing_time), format_time(*.not_before), format_time(*.not_after)
    )]
    CertificateNotValidAtSigningTime {
        /// The verified signing time.
        signing_time: i64,
        /// `notBefore`.
        not_before: i64,
        /// `notAfter`.
        not_after: i64,
    },
    /// The leaf does not chain to a trusted CA.
    #[error(
        "certificate does not chain to a certificate authority of the trusted root at {}: {}",
        format_time(*.signing_time), .reasons.join("; ")
    )]
    UntrustedCertificate {
        /// The signing time.
        signing_time: i64,
        /// Why, per CA tried.
        reasons: Vec<String>,
    },
    /// No embedded SCT.
    #[error("certificate has no embedded signed certificate timestamp (SCT)")]
    NoSct,
    /// No SCT verifies with a trusted CT log.
    #[error("no embedded SCT verifies with a CT log of the trusted root: {reasons}")]
    SctDoesNotVerify {
        /// Why, per SCT.
        reasons: String,
    },
    /// The OIDC issuer differs from the policy's.
    #[error("certificate OIDC issuer is {found}, expected `{expected}`")]
    Issuer {
        /// The policy's issuer.
        expected: String,
        /// The certificate's (or `none`).
        found: String,
    },
    /// No SAN matches the policy's subject.
    #[error("certificate subject is {found}, expected {expected}")]
    Subject {
        /// The policy's subject (exact or `regex …`).
        expected: String,
        /// The certificate's subject alternative names.
        found: String,
    },
}

/// Checks `leaf` at the verified signing `time`: validity, code-signing properties, and a path to
/// a certificate authority of `root` valid then, through at most [`MAX_EXTRA_INTERMEDIATES`] of
/// the untrusted `intermediates`. Returns the certificate that issued the leaf (for the SCT).
pub fn check_certificate(
    leaf: &Certificate,
    intermediates: &[Certificate],
    root: &TrustedRoot,
    time: i64,
) -> Result<Certificate, FulcioError> {
    if !leaf.valid_at(time) {
        return Err(FulcioError::CertificateNotValidAtSigningTime {
            signing_time: time,
            not_before: leaf.not_before,
            not_after: leaf.not_after,
        });
    }
    leaf.check_code_signing_leaf().map_err(FulcioError::Leaf)?;
    let intermediates = intermediates.get(..MAX_CANDIDATE_INTERMEDIATES).unwrap_or(intermediates);
    let mut reasons = Vec::new();
    if root.certificate_authorities.is_empty() {
        reasons.push("the trusted root lists no certificate authority".to_owned());
    }
    for (ca_idx, ca) in root.certificate_authorities.iter().enumerate() {
        if !ca.valid_at(time) {
            reasons.push(format!("CA {ca_idx} ({}) is not valid then", ca.uri));
            continue;
        }
        // Breadth first: paths of candidate intermediates (indices), each issued by the next,
        // the first issuing the leaf; the trusted CA's chain completes each path.
        let mut layer: Vec<Vec<usize>> = vec![Vec::new()];
        let mut direct_error = None;
        for depth in 0..=MAX_EXTRA_INTERMEDIATES {
            for path in &layer {
                let chain: Vec<Certificate> = path
                    .iter()
                    .filter_map(|idx| intermediates.get(*idx).cloned())
                    .chain(ca.chain.iter().cloned())
                    .collect();
                match x509::check_chain(leaf, &chain, time) {
                    Ok(()) => {
                        // `chain` is non-empty: check_chain refuses an empty one.
                        if let Some(issuer) = chain.into_iter().next() {
                            return Ok(issuer);
                        }
                    }
                    Err(err) if path.is_empty() => direct_error = Some(err),
                    Err(_) => {}
                }
            }
            if depth == MAX_EXTRA_INTERMEDIATES {
                break;
            }
            let mut next = Vec::new();
            for path in &layer {
                let below = path.last().and_then(|idx| intermediates.get(*idx)).unwrap_or(leaf);
                for (idx, candidate) in intermediates.iter().enumerate() {
                    if !path.contains(&idx) && below.check_issued_by(candidate).is_ok() {
                        let mut longer = path.clone();
                        longer.push(idx);
                        next.push(longer);
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            layer = next;
        }
        let why = match direct_error {
            Some(err) if intermediates.is_empty() => err.to_string(),
            Some(err) => format!("{err}, nor through the {} given", plural(intermediates.len())),
            None => "no path".to_owned(),
        };
        reasons.push(format!("CA {ca_idx} ({}): {why}", ca.uri));
    }
    Err(FulcioError::UntrustedCertificate { signing_time: time, reasons })
}

fn plural(n: usize) -> String {
    if n == 1 { "1 chain certificate".to_owned() } else { format!("{n} chain certificates") }
}

/// Checks that at least one SCT embedded in `leaf` verifies with a CT log of `root`; `issuer`
/// is the certificate that issued the leaf.
pub fn check_scts(
    leaf: &Certificate,
    issuer: &Certificate,
    root: &TrustedRoot,
) -> Result<(), FulcioError> {
    let scts = leaf.embedded_scts().map_err(FulcioError::Leaf)?;
    if scts.is_empty() {
        return Err(FulcioError::NoSct);
    }
    let issuer_key_hash = issuer.spki_sha256().map_err(FulcioError::Leaf)?;
    let tbs = leaf.precert_tbs().map_err(FulcioError::Leaf)?;
    let mut reasons = Vec::new();
    for sct in &scts {
        let Some(log) = root.ctlog(&sct.log_id) else {
            reasons.push(format!("SCT from unknown CT log {}", hex::encode(sct.log_id)));
            continue;
        };
        let time = i64::try_from(sct.timestamp_ms / 1000).unwrap_or(i64::MAX);
        if !log.valid_at(time) {
            reasons.push(format!(
                "SCT time {} is outside the validity of CT log key {}",
                format_time(time),
                log.key.id()
            ));
            continue;
        }
        let algorithm = match (sct.hash_algorithm, sct.signature_algorithm) {
            (4, 3) => crate::keys::SignatureAlgorithm::EcdsaSha256,
            (4, 1) => crate::keys::SignatureAlgorithm::RsaPkcs1Sha256,
            (h, s) => {
                reasons.push(format!("SCT uses unsupported algorithm hash {h} signature {s}"));
                continue;
            }
        };
        let Some(signed) = x509::sct_signed_data(sct, &issuer_key_hash, &tbs) else {
            reasons.push("SCT fields are too large".to_owned());
            continue;
        };
        if log.key.verifies_with(&signed, &sct.signature, algorithm) {
            return Ok(());
        }
        reasons.push(format!("SCT signature does not verify with CT log key {}", log.key.id()));
    }
    Err(FulcioError::SctDoesNotVerify { reasons: reasons.join("; ") })
}

/// Checks the leaf's OIDC issuer and subject alternative names against `identity`; returns the
/// subject alternative name that matched.
pub fn check_identity(
    leaf: &Certificate,
    identity: &KeylessIdentity<'_>,
) -> Result<String, FulcioError> {
    let issuer = leaf.oidc_issuer().map_err(FulcioError::Leaf)?;
    if issuer.as_deref() != Some(identity.issuer) {
        return Err(FulcioError::Issuer {
            expected: identity.issuer.to_owned(),
            found: issuer.map_or_else(|| "none".to_owned(), |i| format!("`{i}`")),
        });
    }
    let sans = leaf.san_identities().map_err(FulcioError::Leaf)?;
    if let Some(subject) = sans.iter().find(|san| identity.subject.matches(san)) {
        return Ok(subject.clone());
    }
    let expected = match identity.subject {
        SubjectMatch::Exact(s) => format!("`{s}`"),
        SubjectMatch::Regex { source, .. } => format!("a match of regex `{source}`"),
    };
    let found = if sans.is_empty() {
        "empty (no URI, email or OtherName SAN)".to_owned()
    } else {
        sans.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
    };
    Err(FulcioError::Subject { expected, found })
}

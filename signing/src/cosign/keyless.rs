//! cosign legacy keyless signatures: `.sig` layers carrying a Fulcio certificate
//! (`cosign sign` without `--key`, before cosign v3's bundles).
//!
//! A layer is as in [`crate::cosign`] plus the annotations `dev.sigstore.cosign/certificate`
//! (PEM leaf), optionally `dev.sigstore.cosign/chain` (PEM intermediates and root, an untrusted
//! hint) and `dev.sigstore.cosign/bundle` (the Rekor SET). Checks, in order
//! (reference/peers.md §6.4, cosign `pkg/cosign/verify.go: verifyImageSignatures` with
//! `ValidateAndUnpackCertWithIntermediates` and `VerifyBundle`):
//! 1. the layer's structure, size and payload digest ([`crate::cosign::check_layer_structure`]);
//!    the signature annotation is strict base64;
//! 2. the certificate annotation is exactly one PEM `CERTIFICATE` in strict DER; the chain
//!    annotation, when present and not blank, is one or more PEM certificates (at most
//!    [`MAX_CHAIN_CERTIFICATES`]), used only as candidate intermediates;
//! 3. the Rekor bundle annotation is required (it is the only source of a verified signing time
//!    here: RFC 3161 timestamps are not supported yet): its SET verifies with a log key of the
//!    pinned trusted root valid at `integratedTime`, and its `hashedrekord` body names
//!    `sha256(payload)`, the layer's signature and the layer's certificate
//!    ([`crate::rekor::verify_bundle_annotation_for_certificate`]);
//! 4. at that `integratedTime`, the leaf is within its validity, is a code-signing leaf, and
//!    chains to a Fulcio CA of the trusted root valid then; one embedded SCT verifies with a CT
//!    log of the trusted root ([`crate::fulcio`]);
//! 5. the signature verifies over the exact payload bytes with the leaf's key (coarse failure);
//! 6. the payload's claims: type, pinned digest, docker-reference rule
//!    ([`crate::cosign::check_claims`]);
//! 7. identity: OIDC issuer and subject alternative name as the policy says.
//!
//! Not done: RFC 3161 timestamps (`dev.sigstore.cosign/rfc3161timestamp` is ignored), Fulcio's
//! GitHub claim extensions as policy constraints.

use crate::cosign::{
    BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, CosignError, Expected,
    SignatureLayer, SimpleSigning, check_claims, check_digest, check_layer_structure,
    parse_payload, signature_bytes,
};
use crate::fulcio::{self, KeylessIdentity};
use crate::keys::RsaScheme;
use crate::rekor::{self, VerifiedEntry};
use crate::trusted_root::TrustedRoot;
use crate::x509::Certificate;

/// Most certificates accepted in a chain annotation.
pub const MAX_CHAIN_CERTIFICATES: usize = 8;

const PEM_BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const PEM_END: &str = "-----END CERTIFICATE-----";

/// A keyless layer that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedKeylessLayer {
    /// The payload's claims.
    pub claims: SimpleSigning,
    /// The subject alternative name that matched the policy.
    pub subject: String,
    /// The OIDC issuer.
    pub issuer: String,
    /// The Rekor entry that proved the signing time.
    pub tlog_entry: VerifiedEntry,
}

/// Verifies one keyless signature layer for `identity` under the trusted `root` (see the module
/// documentation for the order of the checks). Needs no clock: the time comes from the log.
pub fn verify_keyless_layer(
    layer: &SignatureLayer,
    root: &TrustedRoot,
    identity: &KeylessIdentity<'_>,
    expected: &Expected<'_>,
) -> Result<VerifiedKeylessLayer, CosignError> {
    check_digest(expected.digest)?;
    check_layer_structure(layer)?;
    let sig = signature_bytes(layer)?;
    let annotations = &layer.descriptor.annotations;
    let Some(leaf_pem) = annotations.get(CERTIFICATE_ANNOTATION) else {
        return Err(CosignError::MissingCertificate);
    };
    let leaf = match parse_pem_certificates(leaf_pem, CERTIFICATE_ANNOTATION)?.as_slice() {
        [der] => {
            Certificate::from_der(der, "leaf certificate").map_err(CosignError::Certificate)?
        }
        more => {
            return Err(CosignError::BadPem {
                annotation: CERTIFICATE_ANNOTATION,
                reason: format!("{} certificates, expected exactly 1", more.len()),
            });
        }
    };
    let mut intermediates = Vec::new();
    if let Some(chain_pem) = annotations.get(CHAIN_ANNOTATION).filter(|c| !c.trim().is_empty()) {
        let ders = parse_pem_certificates(chain_pem, CHAIN_ANNOTATION)?;
        if ders.len() > MAX_CHAIN_CERTIFICATES {
            return Err(CosignError::BadPem {
                annotation: CHAIN_ANNOTATION,
                reason: format!(
                    "{} certificates, more than the {MAX_CHAIN_CERTIFICATES} accepted",
                    ders.len()
                ),
            });
        }
        for (idx, der) in ders.iter().enumerate() {
            let what = format!("chain certificate {idx}");
            intermediates
                .push(Certificate::from_der(der, &what).map_err(CosignError::Certificate)?);
        }
    }

    let Some(bundle) = annotations.get(BUNDLE_ANNOTATION) else {
        return Err(CosignError::MissingSigningTime);
    };
    let entry =
        rekor::verify_bundle_annotation_for_certificate(bundle, &layer.payload, &sig, &leaf, root)
            .map_err(CosignError::Tlog)?;
    let time = entry.integrated_time;
    let issuer = fulcio::check_certificate(&leaf, &intermediates, root, time)
        .map_err(CosignError::Fulcio)?;
    fulcio::check_scts(&leaf, &issuer, root).map_err(CosignError::Fulcio)?;

    let key = leaf.public_key();
    if !key.verifies(&layer.payload, &sig, RsaScheme::Pkcs1v15Sha256) {
        return Err(CosignError::SignatureDoesNotVerify { key: key.id().clone() });
    }
    let claims = parse_payload(&layer.payload)?;
    check_claims(&claims, expected)?;
    let subject = fulcio::check_identity(&leaf, identity).map_err(CosignError::Fulcio)?;
    Ok(VerifiedKeylessLayer {
        claims,
        subject,
        issuer: identity.issuer.to_owned(),
        tlog_entry: entry,
    })
}

/// Splits PEM text into the DER of its `CERTIFICATE` blocks; only whitespace may surround them.
fn parse_pem_certificates(
    text: &str,
    annotation: &'static str,
) -> Result<Vec<Vec<u8>>, CosignError> {
    let bad = |reason: String| CosignError::BadPem { annotation, reason };
    let mut out = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        if !rest.starts_with(PEM_BEGIN) {
            return Err(bad(format!(
                "expected `{PEM_BEGIN}` at certificate {}, found other text",
                out.len()
            )));
        }
        let Some(end) = rest.find(PEM_END) else {
            return Err(bad(format!("certificate {} has no `{PEM_END}` line", out.len())));
        };
        let block_end = end + PEM_END.len();
        let (block, after) = rest.split_at(block_end);
        let (label, der) = spki::der::pem::decode_vec(block.as_bytes())
            .map_err(|e| bad(format!("certificate {} is not valid PEM ({e})", out.len())))?;
        if label != "CERTIFICATE" {
            return Err(bad(format!("block {} is `{label}`, expected CERTIFICATE", out.len())));
        }
        out.push(der);
        if out.len() > MAX_CHAIN_CERTIFICATES {
            return Err(bad(format!(
                "more than the {MAX_CHAIN_CERTIFICATES} certificates accepted"
            )));
        }
        rest = after.trim_start();
    }
    if out.is_empty() {
        return Err(bad("no certificate".to_owned()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<usize, String> {
        parse_pem_certificates(text, CHAIN_ANNOTATION).map(|v| v.len()).map_err(|e| e.to_string())
    }

    // A syntactically valid PEM block (its content is not a certificate; only PEM is parsed here).
    const BLOCK: &str = "-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n";

    #[test]
    fn pem_blocks_are_split_strictly() {
        assert_eq!(check(BLOCK), Ok(1));
        assert_eq!(check(&format!("\n{BLOCK}\n{BLOCK}")), Ok(2));
        assert!(check("").unwrap_err().contains("no certificate"));
        assert!(check(&format!("junk{BLOCK}")).unwrap_err().contains("found other text"));
        assert!(check(&format!("{BLOCK}junk")).unwrap_err().contains("found other text"));
        assert!(check(&BLOCK[..40]).unwrap_err().contains("has no `-----END CERTIFICATE-----`"));
        let bad_base64 = BLOCK.replace("MAMCAQA=", "M@MCAQA=");
        assert!(check(&bad_base64).unwrap_err().contains("is not valid PEM"), "{bad_base64}");
        let key = BLOCK.replace("CERTIFICATE", "PUBLIC KEY");
        assert!(check(&key).unwrap_err().contains("found other text"));
        assert!(check(&BLOCK.repeat(9)).unwrap_err().contains("more than the 8"));
    }
}

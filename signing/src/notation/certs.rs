//! Notary Project certificate rules (`signature-specification.md` "Certificate
//! Requirements", `trust-store-trust-policy.md`): the leaf and CA profiles, the `x5c` order
//! and trust anchor, and trusted identities.
//!
//! - Leaf: basic constraints, when present, `cA: FALSE`; key usage present, critical, with
//!   `digitalSignature` and none of `keyEncipherment`, `dataEncipherment`, `keyAgreement`,
//!   `keyCertSign`, `cRLSign`, `encipherOnly`, `decipherOnly`; extended key usage, when
//!   present, with `codeSigning` and none of `anyExtendedKeyUsage`, `serverAuth`,
//!   `clientAuth`, `emailProtection`, `timeStamping`.
//! - Every CA (each certificate after the leaf): basic constraints present, critical,
//!   `cA: TRUE`, a path length constraint that allows the CAs below it; key usage present,
//!   critical, with `keyCertSign`.
//! - No certificate signed with SHA-1.
//! - `x5c[i]` is issued by `x5c[i + 1]` (names and signature); the last certificate is
//!   self-signed and byte-equal to a trust-store certificate.
//! - Identities: `*`, or `x509.subject: C=…, ST=…, O=…[, L=…, OU=…, CN=…]`; every attribute
//!   named must equal the leaf subject's (the leaf may have more). C, ST and O are required,
//!   as Notation requires them. Escaped or quoted values are not supported (refused).

use spki::ObjectIdentifier;
use x509_cert::der::asn1::{Any, Ia5StringRef, PrintableStringRef, Utf8StringRef};
use x509_cert::der::{Tag, Tagged};
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage};

use super::{NotationError, TrustStore};
use crate::x509::{Certificate, X509Error};

const OID_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
const OID_BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const OID_EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");

/// Extended key usages a Notation signing leaf must not have.
const FORBIDDEN_EKUS: [(&str, &str); 5] = [
    ("2.5.29.37.0", "anyExtendedKeyUsage"),
    ("1.3.6.1.5.5.7.3.1", "serverAuth"),
    ("1.3.6.1.5.5.7.3.2", "clientAuth"),
    ("1.3.6.1.5.5.7.3.4", "emailProtection"),
    ("1.3.6.1.5.5.7.3.8", "timeStamping"),
];

/// Signature algorithms using SHA-1.
const SHA1_ALGORITHMS: [&str; 3] = [
    "1.2.840.113549.1.1.5", // sha1WithRSAEncryption
    "1.2.840.10045.4.1",    // ecdsa-with-SHA1
    "1.2.840.10040.4.3",    // dsa-with-sha1
];

/// The subject attributes an identity may name, with their OIDs (RFC 4519).
const ATTRIBUTES: [(&str, &str); 6] = [
    ("C", "2.5.4.6"),
    ("ST", "2.5.4.8"),
    ("L", "2.5.4.7"),
    ("O", "2.5.4.10"),
    ("OU", "2.5.4.11"),
    ("CN", "2.5.4.3"),
];

fn profile(cert: &Certificate, reason: impl Into<String>) -> NotationError {
    NotationError::Certificate(X509Error::Field { what: cert.what.clone(), reason: reason.into() })
}

/// Refuses certificates signed with SHA-1 (checked first, so the reason is not a chain error).
pub(crate) fn check_no_sha1(chain: &[Certificate]) -> Result<(), NotationError> {
    for cert in chain {
        let oid = cert.signature_algorithm_oid().to_string();
        if SHA1_ALGORITHMS.contains(&oid.as_str()) {
            return Err(profile(
                cert,
                format!("is signed with SHA-1 ({oid}), which is not allowed"),
            ));
        }
    }
    Ok(())
}

/// Checks the leaf and CA profiles of a chain (leaf first) whose order is already checked.
pub(crate) fn check_profile(chain: &[Certificate]) -> Result<(), NotationError> {
    let Some((leaf, cas)) = chain.split_first() else {
        return Err(NotationError::Chain { reason: "x5c is empty".to_owned() });
    };
    check_leaf(leaf)?;
    for (idx, ca) in cas.iter().enumerate() {
        check_ca(ca, idx)?;
    }
    Ok(())
}

fn check_leaf(leaf: &Certificate) -> Result<(), NotationError> {
    let bc: Option<BasicConstraints> = leaf.decoded(OID_BASIC_CONSTRAINTS, "basic constraints")?;
    if bc.is_some_and(|bc| bc.ca) {
        return Err(profile(leaf, "basic constraints say cA: TRUE, expected a leaf"));
    }
    let Some((critical, _)) = leaf.extension(OID_KEY_USAGE)? else {
        return Err(profile(leaf, "has no key usage extension, expected digitalSignature"));
    };
    if !critical {
        return Err(profile(leaf, "key usage is not critical"));
    }
    let ku: Option<KeyUsage> = leaf.decoded(OID_KEY_USAGE, "key usage")?;
    let Some(ku) = ku else {
        return Err(profile(leaf, "has no key usage extension, expected digitalSignature"));
    };
    if !ku.digital_signature() {
        return Err(profile(leaf, "key usage lacks digitalSignature"));
    }
    let forbidden = [
        (ku.key_encipherment(), "keyEncipherment"),
        (ku.data_encipherment(), "dataEncipherment"),
        (ku.key_agreement(), "keyAgreement"),
        (ku.key_cert_sign(), "keyCertSign"),
        (ku.crl_sign(), "cRLSign"),
        (ku.encipher_only(), "encipherOnly"),
        (ku.decipher_only(), "decipherOnly"),
    ];
    for (set, name) in forbidden {
        if set {
            return Err(profile(
                leaf,
                format!("key usage has {name}, which a signing leaf must not"),
            ));
        }
    }
    let eku: Option<ExtendedKeyUsage> = leaf.decoded(OID_EXT_KEY_USAGE, "extended key usage")?;
    if let Some(eku) = eku {
        for (oid, name) in FORBIDDEN_EKUS {
            if eku.0.iter().any(|o| o.to_string() == oid) {
                return Err(profile(
                    leaf,
                    format!("extended key usage has {name}, which a signing leaf must not"),
                ));
            }
        }
        if !eku.0.contains(&crate::x509::OID_CODE_SIGNING) {
            return Err(profile(leaf, "extended key usage lacks codeSigning"));
        }
    }
    Ok(())
}

/// `n_below` is the number of CA certificates between this one and the leaf.
fn check_ca(ca: &Certificate, n_below: usize) -> Result<(), NotationError> {
    let Some((critical, _)) = ca.extension(OID_BASIC_CONSTRAINTS)? else {
        return Err(profile(ca, "has no basic constraints, expected a critical cA: TRUE"));
    };
    let bc: Option<BasicConstraints> = ca.decoded(OID_BASIC_CONSTRAINTS, "basic constraints")?;
    if !bc.as_ref().is_some_and(|bc| bc.ca) {
        return Err(profile(ca, "basic constraints do not say cA: TRUE, expected a CA"));
    }
    if !critical {
        return Err(profile(ca, "basic constraints are not critical"));
    }
    if let Some(max) = bc.and_then(|bc| bc.path_len_constraint)
        && usize::from(max) < n_below
    {
        return Err(profile(
            ca,
            format!(
                "path length constraint {max} is exceeded by {n_below} CA certificates below it"
            ),
        ));
    }
    let Some((critical, _)) = ca.extension(OID_KEY_USAGE)? else {
        return Err(profile(ca, "has no key usage extension, expected keyCertSign"));
    };
    if !critical {
        return Err(profile(ca, "key usage is not critical"));
    }
    let ku: Option<KeyUsage> = ca.decoded(OID_KEY_USAGE, "key usage")?;
    if !ku.is_some_and(|ku| ku.key_cert_sign()) {
        return Err(profile(ca, "key usage lacks keyCertSign"));
    }
    Ok(())
}

/// Checks the order of `x5c` and that it ends in a self-signed trust-store certificate.
pub(crate) fn check_chain_to_store(
    chain: &[Certificate],
    store: &TrustStore,
) -> Result<(), NotationError> {
    let chain_err = |reason: String| NotationError::Chain { reason };
    for (idx, pair) in chain.windows(2).enumerate() {
        pair[0].check_issued_by(&pair[1]).map_err(|e| {
            chain_err(format!("x5c[{idx}] is not issued by x5c[{}] ({e})", idx + 1))
        })?;
    }
    let Some(root) = chain.last() else {
        return Err(chain_err("x5c is empty".to_owned()));
    };
    if !store.certificates.contains(&root.der) {
        return Err(chain_err(format!(
            "the last certificate `{}` is not in the trust store",
            root.subject()
        )));
    }
    root.check_issued_by(root)
        .map_err(|e| chain_err(format!("the last certificate is not self-signed ({e})")))?;
    Ok(())
}

/// Checks the leaf against the trusted identities; returns its subject (RFC 4514).
pub(crate) fn check_identity(
    leaf: &Certificate,
    identities: &[String],
) -> Result<String, NotationError> {
    let subject = leaf.subject().to_string();
    let mut leaf_attrs: Vec<(String, String)> = Vec::new();
    for atv in leaf.subject().iter() {
        let oid = atv.oid.to_string();
        if let Some(value) = attribute_text(&atv.value) {
            leaf_attrs.push((oid, value));
        }
    }
    for identity in identities {
        if identity == "*" {
            return Ok(subject);
        }
        let wanted = parse_identity(identity)?;
        let matches = wanted.iter().all(|(oid, value)| {
            let mut found = leaf_attrs.iter().filter(|(o, _)| o == oid);
            // The attribute must appear exactly once in the leaf, with this value.
            matches!((found.next(), found.next()), (Some((_, v)), None) if v == value)
        });
        if matches {
            return Ok(subject);
        }
    }
    Err(NotationError::Identity { subject, identities: identities.to_vec() })
}

/// Parses `x509.subject: C=US, ST=WA, O=Org` into (attribute OID, value) pairs.
fn parse_identity(identity: &str) -> Result<Vec<(String, String)>, NotationError> {
    let bad = |reason: String| NotationError::BadIdentity { identity: identity.to_owned(), reason };
    let Some(dn) = identity.strip_prefix("x509.subject:") else {
        return Err(bad("expected `*` or `x509.subject: …`".to_owned()));
    };
    if dn.contains(['\\', '"', '+', ';']) {
        return Err(bad("escaped, quoted or multi-valued attributes are not supported".to_owned()));
    }
    let mut out: Vec<(String, String)> = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    for part in dn.split(',') {
        let Some((name, value)) = part.split_once('=') else {
            return Err(bad(format!("`{}` is not TYPE=value", part.trim())));
        };
        let name = name.trim();
        let value = value.trim();
        let Some((_, oid)) = ATTRIBUTES.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) else {
            return Err(bad(format!("attribute `{name}` is not one of C, ST, L, O, OU, CN")));
        };
        if value.is_empty() {
            return Err(bad(format!("attribute {name} is empty")));
        }
        if out.iter().any(|(o, _)| o == oid) {
            return Err(bad(format!("attribute {name} appears twice")));
        }
        names.push(name);
        out.push(((*oid).to_owned(), value.to_owned()));
    }
    for required in ["C", "ST", "O"] {
        if !names.iter().any(|n| n.eq_ignore_ascii_case(required)) {
            return Err(bad(format!("attribute {required} is required (C, ST and O are)")));
        }
    }
    Ok(out)
}

/// The text of a directory string attribute value.
fn attribute_text(value: &Any) -> Option<String> {
    let text = match value.tag() {
        Tag::Utf8String => Utf8StringRef::try_from(value).ok()?.as_str().to_owned(),
        Tag::PrintableString => PrintableStringRef::try_from(value).ok()?.as_str().to_owned(),
        Tag::Ia5String => Ia5StringRef::try_from(value).ok()?.as_str().to_owned(),
        _ => return None,
    };
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(identity: &str, expect: &str) {
        let got = match parse_identity(identity) {
            Ok(pairs) => format!("{pairs:?}"),
            Err(e) => e.to_string(),
        };
        assert_eq!(got, expect, "{identity}");
    }

    #[test]
    fn identities() {
        check(
            "x509.subject: C=US, ST=WA, O=kit-test",
            r#"[("2.5.4.6", "US"), ("2.5.4.8", "WA"), ("2.5.4.10", "kit-test")]"#,
        );
        check(
            "x509.subject: C=US,ST=WA,O=kit test,CN=kit test signer",
            r#"[("2.5.4.6", "US"), ("2.5.4.8", "WA"), ("2.5.4.10", "kit test"), ("2.5.4.3", "kit test signer")]"#,
        );
        check(
            "x509.subject: C=US, O=kit-test",
            "trusted identity `x509.subject: C=US, O=kit-test`: attribute ST is required (C, ST and O are)",
        );
        check(
            "x509.subject: C=US, ST=WA, O=a, O=b",
            "trusted identity `x509.subject: C=US, ST=WA, O=a, O=b`: attribute O appears twice",
        );
        check(
            r"x509.subject: C=US, ST=WA, O=a\, b",
            r"trusted identity `x509.subject: C=US, ST=WA, O=a\, b`: escaped, quoted or multi-valued attributes are not supported",
        );
        check(
            "x509.subject: C=US, ST=WA, O=kit, DC=example",
            "trusted identity `x509.subject: C=US, ST=WA, O=kit, DC=example`: attribute `DC` is not one of C, ST, L, O, OU, CN",
        );
        check(
            "x509.subject: C=US, ST=WA, O=",
            "trusted identity `x509.subject: C=US, ST=WA, O=`: attribute O is empty",
        );
        check(
            "x509.subject: C=US, ST",
            "trusted identity `x509.subject: C=US, ST`: `ST` is not TYPE=value",
        );
    }
}

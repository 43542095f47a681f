//! The Notary Project COSE envelope (`application/cose`): COSE_Sign1_Tagged (RFC 9052 §4.2)
//! as `signature-envelope-cose.md` restricts it.
//!
//! Accepted: tag 18 around `[protected: bstr, unprotected: map, payload: bstr, signature:
//! bstr]` with an attached payload (a `nil` payload, i.e. detached content, is refused); the
//! protected header a non-empty CBOR map with `1` (alg, integer), `2` (crit, an array of
//! labels), `3` (cty, text) and the Notary Project text labels, whose times are tag 1 integer
//! epoch seconds; `33` (x5chain, RFC 9360) in the unprotected header: an array of DER
//! certificates, leaf first (one bare byte string is also a one-certificate chain). The
//! signature covers the `Sig_structure` `["Signature1", protected, h'', payload]`.
//! Unknown unprotected labels are ignored (they are not signed); the timestamp
//! countersignature is reported so the caller can refuse it.

use super::cbor::{self, Item};
use super::{
    AUTHENTIC_SIGNING_TIME, Algorithm, EXPIRY, Envelope, Label, NotationError, Protected,
    SIGNING_SCHEME, SIGNING_TIME, TIMESTAMP_SIGNATURE,
};

/// The CBOR tag of COSE_Sign1.
const TAG_COSE_SIGN1: u64 = 18;
/// The CBOR tag of an epoch date/time.
const TAG_EPOCH: u64 = 1;
/// The x5chain header label (RFC 9360 §2).
const LABEL_X5CHAIN: i64 = 33;

fn malformed(reason: impl Into<String>) -> NotationError {
    NotationError::Malformed { format: "COSE", reason: reason.into() }
}

fn registered(label: &Label) -> bool {
    matches!(label, Label::Int(n) if (0..=8).contains(n))
}

fn label_of(item: &Item<'_>) -> Result<Label, String> {
    match item {
        Item::Text(s) => Ok(Label::Text((*s).to_owned())),
        other => other.as_i64().map(Label::Int).ok_or_else(|| {
            format!("a header label is a {}, expected an integer or text", other.kind())
        }),
    }
}

/// Parses a COSE_Sign1_Tagged envelope.
pub(crate) fn parse(bytes: &[u8]) -> Result<Envelope, NotationError> {
    let item = cbor::decode(bytes).map_err(|e| malformed(format!("not strict CBOR ({e})")))?;
    let Item::Tag(TAG_COSE_SIGN1, inner) = item else {
        return Err(malformed(format!(
            "is a {}, expected COSE_Sign1_Tagged (CBOR tag {TAG_COSE_SIGN1})",
            match &item {
                Item::Tag(tag, _) => format!("CBOR tag {tag}"),
                other => format!("untagged {}", other.kind()),
            }
        )));
    };
    let Item::Array(parts) = *inner else {
        return Err(malformed(format!("COSE_Sign1 is a {}, expected an array", inner.kind())));
    };
    let [protected_item, unprotected, payload, signature] = parts.as_slice() else {
        return Err(malformed(format!("COSE_Sign1 has {} elements, expected 4", parts.len())));
    };
    let Item::Bytes(protected_bytes) = protected_item else {
        return Err(malformed("protected header is not a byte string"));
    };
    let payload = match payload {
        Item::Bytes(b) => *b,
        Item::Null => {
            return Err(malformed("payload is detached (nil), expected it attached"));
        }
        other => return Err(malformed(format!("payload is a {}", other.kind()))),
    };
    let Item::Bytes(signature) = signature else {
        return Err(malformed("signature is not a byte string"));
    };
    let protected = parse_protected(protected_bytes)?;

    let Item::Map(entries) = unprotected else {
        return Err(malformed("unprotected header is not a map"));
    };
    let mut certificates = None;
    let mut has_timestamp = false;
    for (key, value) in entries {
        match label_of(key).map_err(malformed)? {
            Label::Int(LABEL_X5CHAIN) => {
                let ders = match value {
                    Item::Bytes(b) => vec![b.to_vec()],
                    Item::Array(items) => {
                        let mut ders = Vec::with_capacity(items.len());
                        for (idx, item) in items.iter().enumerate() {
                            let Item::Bytes(b) = item else {
                                return Err(malformed(format!(
                                    "x5chain[{idx}] is a {}, expected a byte string",
                                    item.kind()
                                )));
                            };
                            ders.push(b.to_vec());
                        }
                        ders
                    }
                    other => {
                        return Err(malformed(format!(
                            "x5chain is a {}, expected an array of certificates",
                            other.kind()
                        )));
                    }
                };
                certificates = Some(ders);
            }
            Label::Text(name) if name == TIMESTAMP_SIGNATURE => has_timestamp = true,
            // alg and crit belong in the protected header.
            Label::Int(1 | 2) => {
                return Err(malformed("unprotected header has alg or crit"));
            }
            _ => {}
        }
    }
    let Some(certificates) = certificates else {
        return Err(malformed("unprotected header has no x5chain (label 33)"));
    };
    Ok(Envelope {
        format: "COSE",
        protected,
        certificates,
        payload: payload.to_vec(),
        signature: signature.to_vec(),
        signed_bytes: cbor::sig_structure(protected_bytes, payload),
        has_timestamp,
        registered,
    })
}

fn parse_protected(bytes: &[u8]) -> Result<Protected, NotationError> {
    let header = |reason: String| NotationError::Header { reason };
    let item = cbor::decode(bytes).map_err(|e| header(format!("not strict CBOR ({e})")))?;
    let Item::Map(entries) = item else {
        return Err(header(format!("is a {}, expected a map", item.kind())));
    };
    let mut p = Protected::default();
    for (key, value) in &entries {
        let label = label_of(key).map_err(header)?;
        p.names.push(label.clone());
        let text = || match value {
            Item::Text(s) => Ok((*s).to_owned()),
            other => Err(header(format!("{label} is a {}, expected text", other.kind()))),
        };
        let time = || match value {
            Item::Tag(TAG_EPOCH, inner) => inner.as_i64().ok_or_else(|| {
                header(format!("{label} is tag 1 around a {}, expected an integer", inner.kind()))
            }),
            other => Err(header(format!(
                "{label} is a {}, expected an epoch time (tag 1)",
                other.kind()
            ))),
        };
        match &label {
            Label::Int(1) => {
                let alg = value.as_i64().ok_or_else(|| {
                    header(format!("alg (1) is a {}, expected an integer", value.kind()))
                })?;
                p.algorithm = Algorithm::from_cose(alg);
                p.alg = Some(match p.algorithm {
                    Some(a) => a.name().to_owned(),
                    None => format!("{alg} (COSE)"),
                });
            }
            Label::Int(2) => {
                let Item::Array(items) = value else {
                    return Err(header(format!(
                        "crit (2) is a {}, expected an array",
                        value.kind()
                    )));
                };
                let crit: Result<Vec<Label>, String> = items.iter().map(label_of).collect();
                p.crit = Some(crit.map_err(header)?);
            }
            Label::Int(3) => p.cty = Some(text()?),
            Label::Text(name) => match name.as_str() {
                SIGNING_SCHEME => p.signing_scheme = Some(text()?),
                SIGNING_TIME => p.signing_time = Some(time()?),
                AUTHENTIC_SIGNING_TIME => p.authentic_signing_time = Some(time()?),
                EXPIRY => p.expiry = Some(time()?),
                _ => {}
            },
            Label::Int(_) => {}
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds CBOR by hand: a head and its content.
    fn head(major: u8, n: usize, out: &mut Vec<u8>) {
        cbor::encode_head(major, u64::try_from(n).unwrap(), out);
    }

    fn bstr(b: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        head(2, b.len(), &mut out);
        out.extend_from_slice(b);
        out
    }

    fn tstr(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        head(3, s.len(), &mut out);
        out.extend_from_slice(s.as_bytes());
        out
    }

    /// Protected {1: -7, 2: [signingScheme], 3: cty, signingScheme: "notary.x509",
    /// signingTime: 1(1717243200)}.
    fn protected() -> Vec<u8> {
        let mut p = vec![0xa5, 0x01, 0x26, 0x02, 0x81];
        p.extend(tstr(SIGNING_SCHEME));
        p.push(0x03);
        p.extend(tstr(super::super::PAYLOAD_CONTENT_TYPE));
        p.extend(tstr(SIGNING_SCHEME));
        p.extend(tstr("notary.x509"));
        p.extend(tstr(SIGNING_TIME));
        p.extend([0xc1, 0x1a]);
        p.extend(1_717_243_200u32.to_be_bytes());
        p
    }

    fn sign1(tag: Option<u8>, payload: Option<&[u8]>, unprotected: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(tag) = tag {
            out.push(0xc0 | tag);
        }
        out.push(0x84);
        out.extend(bstr(&protected()));
        out.extend_from_slice(unprotected);
        match payload {
            Some(p) => out.extend(bstr(p)),
            None => out.push(0xf6),
        }
        out.extend(bstr(&[0; 64]));
        out
    }

    /// {33: [h'300a']}
    const X5CHAIN: &[u8] = &[0xa1, 0x18, 0x21, 0x81, 0x42, 0x30, 0x0a];

    fn check(input: &[u8], expect: &str) {
        let got = match parse(input) {
            Ok(env) => format!(
                "ok alg={:?} time={:?} crit={:?} certs={} payload={:?}",
                env.protected.alg,
                env.protected.signing_time,
                env.protected.crit,
                env.certificates.len(),
                String::from_utf8_lossy(&env.payload)
            ),
            Err(e) => e.to_string(),
        };
        assert_eq!(got, expect);
    }

    #[test]
    fn well_formed() {
        check(
            &sign1(Some(18), Some(b"{}"), X5CHAIN),
            r#"ok alg=Some("ES256") time=Some(1717243200) crit=Some([Text("io.cncf.notary.signingScheme")]) certs=1 payload="{}""#,
        );
    }

    #[test]
    fn sig_structure_covers_protected_and_payload() {
        let env = parse(&sign1(Some(18), Some(b"{}"), X5CHAIN)).unwrap();
        let mut expect = vec![0x84, 0x6a];
        expect.extend_from_slice(b"Signature1");
        expect.extend(bstr(&protected()));
        expect.push(0x40);
        expect.extend(bstr(b"{}"));
        assert_eq!(env.signed_bytes, expect);
    }

    #[test]
    fn structure_is_strict() {
        check(
            &sign1(None, Some(b"{}"), X5CHAIN),
            "COSE envelope is malformed: is a untagged array, expected COSE_Sign1_Tagged (CBOR tag 18)",
        );
        check(
            &sign1(Some(17), Some(b"{}"), X5CHAIN),
            "COSE envelope is malformed: is a CBOR tag 17, expected COSE_Sign1_Tagged (CBOR tag 18)",
        );
        check(
            &sign1(Some(18), None, X5CHAIN),
            "COSE envelope is malformed: payload is detached (nil), expected it attached",
        );
        check(
            &sign1(Some(18), Some(b"{}"), &[0xa0]),
            "COSE envelope is malformed: unprotected header has no x5chain (label 33)",
        );
        check(
            &sign1(Some(18), Some(b"{}"), &[0xa1, 0x01, 0x26]),
            "COSE envelope is malformed: unprotected header has alg or crit",
        );
        let mut trailing = sign1(Some(18), Some(b"{}"), X5CHAIN);
        trailing.push(0);
        check(
            &trailing,
            "COSE envelope is malformed: not strict CBOR (1 bytes after the CBOR item)",
        );
    }

    #[test]
    fn protected_header_types() {
        let with_protected = |p: &[u8]| {
            let mut out = vec![0xd2, 0x84];
            out.extend(bstr(p));
            out.extend_from_slice(X5CHAIN);
            out.extend(bstr(b"{}"));
            out.extend(bstr(&[0; 64]));
            out
        };
        // The signing time as a plain integer instead of tag 1.
        let mut p = vec![0xa1];
        p.extend(tstr(SIGNING_TIME));
        p.push(0x01);
        check(
            &with_protected(&p),
            "protected header: `io.cncf.notary.signingTime` is a integer, expected an epoch time (tag 1)",
        );
        // alg as text.
        check(
            &with_protected(&[0xa1, 0x01, 0x65, b'E', b'S', b'2', b'5', b'6']),
            "protected header: alg (1) is a text string, expected an integer",
        );
        // An unknown COSE algorithm (-8, EdDSA) is kept for the rule check.
        check(
            &with_protected(&[0xa1, 0x01, 0x27]),
            r#"ok alg=Some("-8 (COSE)") time=None crit=None certs=1 payload="{}""#,
        );
        // Duplicate label.
        check(
            &with_protected(&[0xa2, 0x01, 0x26, 0x01, 0x26]),
            "protected header: not strict CBOR (duplicate map key at byte 3)",
        );
    }
}

//! The Notary Project JWS envelope (`application/jose+json`): RFC 7515 §7.2.2 JSON flattened
//! serialization, as `signature-envelope-jws.md` restricts it.
//!
//! Accepted: one JSON object with exactly the members `payload`, `protected`, `header` and
//! `signature`, no duplicate keys at any depth ([`crate::json`]); `payload`, `protected` and
//! `signature` unpadded base64url without stray characters or non-zero trailing bits;
//! `header` an object whose `x5c` is a non-empty array of standard base64 DER certificates
//! (RFC 7515 §4.1.6); the protected header a JSON object with the Notary Project times as
//! RFC 3339 strings. The signature covers ASCII(`protected` "." `payload`) as transmitted.
//! Unknown unprotected members are ignored (they are not signed); the timestamp
//! countersignature is reported so the caller can refuse it.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use super::{
    AUTHENTIC_SIGNING_TIME, Algorithm, EXPIRY, Envelope, Label, NotationError, Protected,
    SIGNING_SCHEME, SIGNING_TIME, TIMESTAMP_SIGNATURE,
};
use crate::json::Value;

/// Header names registered by RFC 7515 §4.1 (and `cty`/`crit`), which `crit` must not list.
const REGISTERED: [&str; 11] =
    ["alg", "jku", "jwk", "kid", "x5u", "x5c", "x5t", "x5t#S256", "typ", "cty", "crit"];

fn malformed(reason: impl Into<String>) -> NotationError {
    NotationError::Malformed { format: "JWS", reason: reason.into() }
}

fn registered(label: &Label) -> bool {
    matches!(label, Label::Text(name) if REGISTERED.contains(&name.as_str()))
}

/// Parses a JWS envelope.
pub(crate) fn parse(bytes: &[u8]) -> Result<Envelope, NotationError> {
    let value =
        crate::json::parse(bytes).map_err(|e| malformed(format!("not strict JSON ({e})")))?;
    let Value::Object(members) = value else {
        return Err(malformed(format!("is a JSON {}, expected an object", value.kind())));
    };
    let names: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    if sorted != ["header", "payload", "protected", "signature"] {
        return Err(malformed(format!(
            "members are {names:?}, expected exactly payload, protected, header and signature"
        )));
    }
    let member = |name: &str| members.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    let text = |name: &str| match member(name) {
        Some(Value::String(s)) => Ok(s.as_str()),
        Some(other) => Err(malformed(format!("`{name}` is a {}, expected a string", other.kind()))),
        None => Err(malformed(format!("`{name}` is missing"))),
    };
    let protected_b64 = text("protected")?;
    let payload_b64 = text("payload")?;
    let signature_b64 = text("signature")?;
    let b64url = |name: &str, s: &str| {
        URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|e| malformed(format!("`{name}` is not unpadded base64url ({e})")))
    };
    let protected_json = b64url("protected", protected_b64)?;
    let payload = b64url("payload", payload_b64)?;
    let signature = b64url("signature", signature_b64)?;
    let protected = parse_protected(&protected_json)?;

    let Some(Value::Object(header)) = member("header") else {
        return Err(malformed("`header` is not an object"));
    };
    let mut certificates = None;
    let mut has_timestamp = false;
    for (name, value) in header {
        match name.as_str() {
            "x5c" => {
                let Value::Array(items) = value else {
                    return Err(malformed(format!("x5c is a {}, expected an array", value.kind())));
                };
                let mut ders = Vec::with_capacity(items.len());
                for (idx, item) in items.iter().enumerate() {
                    let Value::String(s) = item else {
                        return Err(malformed(format!("x5c[{idx}] is not a string")));
                    };
                    let der = STANDARD
                        .decode(s)
                        .map_err(|e| malformed(format!("x5c[{idx}] is not base64 ({e})")))?;
                    ders.push(der);
                }
                certificates = Some(ders);
            }
            TIMESTAMP_SIGNATURE => has_timestamp = true,
            _ => {}
        }
        // Registered names that move trust out of the envelope have no place here.
        if matches!(name.as_str(), "jku" | "jwk" | "x5u" | "alg" | "crit") {
            return Err(malformed(format!("unprotected header has `{name}`")));
        }
    }
    let Some(certificates) = certificates else {
        return Err(malformed("unprotected header has no x5c"));
    };
    let mut signed_bytes = Vec::with_capacity(protected_b64.len() + payload_b64.len() + 1);
    signed_bytes.extend_from_slice(protected_b64.as_bytes());
    signed_bytes.push(b'.');
    signed_bytes.extend_from_slice(payload_b64.as_bytes());
    Ok(Envelope {
        format: "JWS",
        protected,
        certificates,
        payload,
        signature,
        signed_bytes,
        has_timestamp,
        registered,
    })
}

fn parse_protected(bytes: &[u8]) -> Result<Protected, NotationError> {
    let header = |reason: String| NotationError::Header { reason };
    let value = crate::json::parse(bytes).map_err(|e| header(format!("not strict JSON ({e})")))?;
    let Value::Object(members) = value else {
        return Err(header(format!("is a JSON {}, expected an object", value.kind())));
    };
    let mut p = Protected::default();
    for (name, value) in &members {
        p.names.push(Label::Text(name.clone()));
        let string = || match value {
            Value::String(s) => Ok(s.clone()),
            other => Err(header(format!("`{name}` is a {}, expected a string", other.kind()))),
        };
        let time = || {
            let s = string()?;
            crate::trusted_root::parse_rfc3339(&s)
                .ok_or_else(|| header(format!("`{name}` is `{s}`, expected an RFC 3339 time")))
        };
        match name.as_str() {
            "alg" => {
                let alg = string()?;
                p.algorithm = Algorithm::from_jose(&alg);
                p.alg = Some(alg);
            }
            "cty" => p.cty = Some(string()?),
            "crit" => {
                let Value::Array(items) = value else {
                    return Err(header(format!("crit is a {}, expected an array", value.kind())));
                };
                let mut crit = Vec::with_capacity(items.len());
                for item in items {
                    let Value::String(s) = item else {
                        return Err(header(format!(
                            "crit holds a {}, expected header names",
                            item.kind()
                        )));
                    };
                    crit.push(Label::Text(s.clone()));
                }
                p.crit = Some(crit);
            }
            SIGNING_SCHEME => p.signing_scheme = Some(string()?),
            SIGNING_TIME => p.signing_time = Some(time()?),
            AUTHENTIC_SIGNING_TIME => p.authentic_signing_time = Some(time()?),
            EXPIRY => p.expiry = Some(time()?),
            _ => {}
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    fn envelope(protected: &str, rest: &str) -> String {
        format!(
            r#"{{"payload":"{}","protected":"{}","header":{{"x5c":["MAo="]}},"signature":"AAAA"{rest}}}"#,
            b64("{}"),
            b64(protected)
        )
    }

    const GOOD_HEADER: &str = r#"{"alg":"ES256","cty":"application/vnd.cncf.notary.payload.v1+json","io.cncf.notary.signingScheme":"notary.x509","io.cncf.notary.signingTime":"2024-06-01T12:00:00Z","crit":["io.cncf.notary.signingScheme"]}"#;

    fn check(input: &str, expect: &str) {
        let got = match parse(input.as_bytes()) {
            Ok(env) => format!(
                "ok alg={:?} time={:?} crit={:?} certs={}",
                env.protected.alg,
                env.protected.signing_time,
                env.protected.crit,
                env.certificates.len(),
            ),
            Err(e) => e.to_string(),
        };
        assert_eq!(got, expect, "input {input}");
    }

    #[test]
    fn well_formed() {
        // 2024-06-01T12:00:00Z is 1717243200 (`date -u -d 2024-06-01T12:00:00Z +%s`).
        check(
            &envelope(GOOD_HEADER, ""),
            r#"ok alg=Some("ES256") time=Some(1717243200) crit=Some([Text("io.cncf.notary.signingScheme")]) certs=1"#,
        );
        // The signing input is the transmitted base64url text (RFC 7515 §5.2), not a
        // re-encoding.
        let env = parse(envelope(GOOD_HEADER, "").as_bytes()).unwrap();
        assert_eq!(env.signed_bytes, format!("{}.{}", b64(GOOD_HEADER), b64("{}")).into_bytes());
    }

    #[test]
    fn structure_is_strict() {
        check(
            &envelope(GOOD_HEADER, r#","extra":1"#),
            r#"JWS envelope is malformed: members are ["payload", "protected", "header", "signature", "extra"], expected exactly payload, protected, header and signature"#,
        );
        check(
            &envelope(GOOD_HEADER, r#","payload":"e30""#),
            "JWS envelope is malformed: not strict JSON (duplicate key `payload` at line 1 column 358)",
        );
        let padded =
            envelope(GOOD_HEADER, "").replace(r#""signature":"AAAA""#, r#""signature":"AAA=""#);
        check(
            &padded,
            "JWS envelope is malformed: `signature` is not unpadded base64url (Invalid padding)",
        );
        let std_alphabet =
            envelope(GOOD_HEADER, "").replace(r#""signature":"AAAA""#, r#""signature":"AA+/""#);
        check(
            &std_alphabet,
            "JWS envelope is malformed: `signature` is not unpadded base64url (Invalid symbol 43, offset 2.)",
        );
        let no_x5c = envelope(GOOD_HEADER, "").replace(r#""x5c":["MAo="]"#, r#""kid":"x""#);
        check(&no_x5c, "JWS envelope is malformed: unprotected header has no x5c");
        let jwk = envelope(GOOD_HEADER, "").replace(r#""x5c":"#, r#""jwk":{},"x5c":"#);
        check(&jwk, "JWS envelope is malformed: unprotected header has `jwk`");
        check("[]", "JWS envelope is malformed: is a JSON array, expected an object");
    }

    #[test]
    fn protected_header_types() {
        check(
            &envelope(r#"{"alg":"ES256","alg":"PS256"}"#, ""),
            "protected header: not strict JSON (duplicate key `alg` at line 1 column 20)",
        );
        check(
            &envelope(r#"{"alg":"ES256","io.cncf.notary.signingTime":1717243200}"#, ""),
            "protected header: `io.cncf.notary.signingTime` is a number, expected a string",
        );
        check(
            &envelope(r#"{"io.cncf.notary.expiry":"2024-06-01"}"#, ""),
            "protected header: `io.cncf.notary.expiry` is `2024-06-01`, expected an RFC 3339 time",
        );
        check(
            &envelope(r#"{"crit":"io.cncf.notary.signingScheme"}"#, ""),
            "protected header: crit is a string, expected an array",
        );
    }
}

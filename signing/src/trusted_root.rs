//! The pinned Sigstore trusted root (`trusted_root.json`, media type
//! `application/vnd.dev.sigstore.trustedroot+json;version=0.1`, protobuf-specs
//! `dev.sigstore.trustroot.v1.TrustedRoot` in proto3 JSON form).
//!
//! Read: `tlogs` (transparency logs: the Rekor key as DER SubjectPublicKeyInfo in
//! `publicKey.rawBytes`, its `validFor` window, and `logId.keyId`), `ctlogs` (certificate
//! transparency logs, same shape), and `certificateAuthorities` (Fulcio: `certChain.certificates`
//! DER, issuing CA first and root last, with a `validFor` window).
//! Timestamp authorities are not read yet (RFC 3161 timestamps are not verified).
//! Unknown members are ignored (the format grows); the members read are checked strictly.

use base64::Engine as _;

use crate::json::{self, Value};
use crate::keys::{KeyError, PublicKey};
use crate::x509::{Certificate, X509Error};

/// Errors in a trusted root.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrustedRootError {
    /// Not strict JSON.
    #[error("not strict JSON: {reason}")]
    Json {
        /// Why.
        reason: String,
    },
    /// Wrong or missing media type.
    #[error(
        "mediaType is {found}, expected application/vnd.dev.sigstore.trustedroot+json;version=0.1"
    )]
    MediaType {
        /// What was found.
        found: String,
    },
    /// A member is missing or malformed.
    #[error("`{path}` is {found}, expected {expected}")]
    Member {
        /// The member path.
        path: String,
        /// What was expected.
        expected: &'static str,
        /// What was found.
        found: String,
    },
    /// A CA certificate does not parse.
    #[error("`{path}`: {source}")]
    Certificate {
        /// The member path.
        path: String,
        /// Why.
        source: X509Error,
    },
    /// A log key does not parse.
    #[error("`{path}` is not a usable public key: {source}")]
    Key {
        /// The member path.
        path: String,
        /// Why.
        source: KeyError,
    },
}

/// A transparency log (Rekor) the root trusts.
#[derive(Debug, Clone)]
pub struct TransparencyLog {
    /// `baseUrl`, informational.
    pub base_url: String,
    /// `logId.keyId`: the id the log's entries name (`logID` in hex).
    pub log_id: Vec<u8>,
    /// The log's public key.
    pub key: PublicKey,
    /// Start of the key's validity, Unix seconds.
    pub valid_from: i64,
    /// End of the key's validity, Unix seconds, if any.
    pub valid_until: Option<i64>,
}

impl TransparencyLog {
    /// Whether `time` (Unix seconds) lies in the key's validity window.
    pub fn valid_at(&self, time: i64) -> bool {
        time >= self.valid_from && self.valid_until.is_none_or(|end| time <= end)
    }
}

/// A certificate authority (Fulcio) the root trusts.
#[derive(Debug, Clone)]
pub struct CertificateAuthority {
    /// `uri`, informational.
    pub uri: String,
    /// `certChain.certificates`: the issuing CA first, the root last.
    pub chain: Vec<Certificate>,
    /// Start of the CA's validity for issuing, Unix seconds.
    pub valid_from: i64,
    /// End of the CA's validity for issuing, Unix seconds, if any.
    pub valid_until: Option<i64>,
}

impl CertificateAuthority {
    /// Whether `time` (Unix seconds) lies in the CA's validity window.
    pub fn valid_at(&self, time: i64) -> bool {
        time >= self.valid_from && self.valid_until.is_none_or(|end| time <= end)
    }
}

/// The parts of a trusted root kit uses.
#[derive(Debug, Clone, Default)]
pub struct TrustedRoot {
    /// The transparency logs (Rekor).
    pub tlogs: Vec<TransparencyLog>,
    /// The certificate transparency logs.
    pub ctlogs: Vec<TransparencyLog>,
    /// The certificate authorities (Fulcio).
    pub certificate_authorities: Vec<CertificateAuthority>,
}

impl TrustedRoot {
    /// Parses `trusted_root.json` bytes.
    pub fn parse(bytes: &[u8]) -> Result<TrustedRoot, TrustedRootError> {
        let value =
            json::parse(bytes).map_err(|e| TrustedRootError::Json { reason: e.to_string() })?;
        match value.member("mediaType") {
            Some(Value::String(mt))
                if mt.starts_with("application/vnd.dev.sigstore.trustedroot") => {}
            Some(Value::String(mt)) => {
                return Err(TrustedRootError::MediaType { found: format!("`{mt}`") });
            }
            Some(other) => {
                return Err(TrustedRootError::MediaType { found: other.kind().to_owned() });
            }
            None => return Err(TrustedRootError::MediaType { found: "missing".to_owned() }),
        }
        let tlogs = parse_logs(&value, "tlogs")?;
        let ctlogs = parse_logs(&value, "ctlogs")?;
        let mut certificate_authorities = Vec::new();
        let cas = match value.member("certificateAuthorities") {
            None => &[][..],
            Some(Value::Array(items)) => items.as_slice(),
            Some(other) => return Err(member("certificateAuthorities", "an array", other)),
        };
        for (idx, ca) in cas.iter().enumerate() {
            let at = |field: &str| format!("certificateAuthorities[{idx}].{field}");
            let uri = match ca.member("uri") {
                Some(Value::String(s)) => s.clone(),
                None => String::new(),
                Some(other) => return Err(member(&at("uri"), "a string", other)),
            };
            let certs = match ca.member("certChain").and_then(|c| c.member("certificates")) {
                Some(Value::Array(items)) if !items.is_empty() => items,
                Some(other) => {
                    return Err(member(&at("certChain.certificates"), "a non-empty array", other));
                }
                None => return Err(missing(&at("certChain.certificates"), "a non-empty array")),
            };
            let mut chain = Vec::new();
            for (cert_idx, cert) in certs.iter().enumerate() {
                let path = at(&format!("certChain.certificates[{cert_idx}].rawBytes"));
                let raw = b64_member(cert, "rawBytes", &path)?;
                let what = format!("trusted CA certificate {path}");
                let cert = Certificate::from_der(&raw, &what).map_err(|source| {
                    TrustedRootError::Certificate { path: path.clone(), source }
                })?;
                chain.push(cert);
            }
            let valid_for =
                ca.member("validFor").ok_or_else(|| missing(&at("validFor"), "an object"))?;
            let valid_from = time_member(valid_for, "start", &at("validFor.start"))?
                .ok_or_else(|| missing(&at("validFor.start"), "an RFC 3339 time"))?;
            let valid_until = time_member(valid_for, "end", &at("validFor.end"))?;
            certificate_authorities.push(CertificateAuthority {
                uri,
                chain,
                valid_from,
                valid_until,
            });
        }
        Ok(TrustedRoot { tlogs, ctlogs, certificate_authorities })
    }

    /// The log whose id is `log_id`.
    pub fn tlog(&self, log_id: &[u8]) -> Option<&TransparencyLog> {
        self.tlogs.iter().find(|l| l.log_id == log_id)
    }

    /// The CT log whose id is `log_id`.
    pub fn ctlog(&self, log_id: &[u8]) -> Option<&TransparencyLog> {
        self.ctlogs.iter().find(|l| l.log_id == log_id)
    }
}

/// Parses the array `field` (`tlogs` or `ctlogs`) of transparency log instances.
fn parse_logs(value: &Value, field: &str) -> Result<Vec<TransparencyLog>, TrustedRootError> {
    let mut out = Vec::new();
    let logs = match value.member(field) {
        None => &[][..],
        Some(Value::Array(items)) => items.as_slice(),
        Some(other) => return Err(member(field, "an array", other)),
    };
    for (idx, log) in logs.iter().enumerate() {
        let at = |name: &str| format!("{field}[{idx}].{name}");
        let base_url = match log.member("baseUrl") {
            Some(Value::String(s)) => s.clone(),
            None => String::new(),
            Some(other) => return Err(member(&at("baseUrl"), "a string", other)),
        };
        let public_key =
            log.member("publicKey").ok_or_else(|| missing(&at("publicKey"), "an object"))?;
        let raw = b64_member(public_key, "rawBytes", &at("publicKey.rawBytes"))?;
        let key = PublicKey::from_spki_der(&raw)
            .map_err(|source| TrustedRootError::Key { path: at("publicKey.rawBytes"), source })?;
        let valid_for = public_key
            .member("validFor")
            .ok_or_else(|| missing(&at("publicKey.validFor"), "an object"))?;
        let valid_from = time_member(valid_for, "start", &at("publicKey.validFor.start"))?
            .ok_or_else(|| missing(&at("publicKey.validFor.start"), "an RFC 3339 time"))?;
        let valid_until = time_member(valid_for, "end", &at("publicKey.validFor.end"))?;
        let log_id_obj = log.member("logId").ok_or_else(|| missing(&at("logId"), "an object"))?;
        let log_id = b64_member(log_id_obj, "keyId", &at("logId.keyId"))?;
        out.push(TransparencyLog { base_url, log_id, key, valid_from, valid_until });
    }
    Ok(out)
}

/// Formats Unix seconds as RFC 3339 UTC (`2024-06-01T12:00:00Z`), for messages.
pub fn format_time(time: i64) -> String {
    let days = time.div_euclid(86_400);
    let secs = time.rem_euclid(86_400);
    // H. Hinnant's `civil_from_days`.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

fn member(path: &str, expected: &'static str, found: &Value) -> TrustedRootError {
    TrustedRootError::Member { path: path.to_owned(), expected, found: found.kind().to_owned() }
}

fn missing(path: &str, expected: &'static str) -> TrustedRootError {
    TrustedRootError::Member { path: path.to_owned(), expected, found: "missing".to_owned() }
}

fn b64_member(parent: &Value, key: &str, path: &str) -> Result<Vec<u8>, TrustedRootError> {
    match parent.member(key) {
        Some(Value::String(s)) => {
            base64::engine::general_purpose::STANDARD.decode(s).map_err(|e| {
                TrustedRootError::Member {
                    path: path.to_owned(),
                    expected: "standard base64",
                    found: e.to_string(),
                }
            })
        }
        Some(other) => Err(member(path, "a base64 string", other)),
        None => Err(missing(path, "a base64 string")),
    }
}

fn time_member(parent: &Value, key: &str, path: &str) -> Result<Option<i64>, TrustedRootError> {
    match parent.member(key) {
        None => Ok(None),
        Some(Value::String(s)) => {
            parse_rfc3339(s).map(Some).ok_or_else(|| TrustedRootError::Member {
                path: path.to_owned(),
                expected: "an RFC 3339 time",
                found: format!("`{s}`"),
            })
        }
        Some(other) => Err(member(path, "an RFC 3339 time", other)),
    }
}

/// Parses an RFC 3339 date-time (`2021-01-12T11:53:27Z`, optional fraction, `Z` or `±hh:mm`)
/// into Unix seconds (the fraction is dropped). Returns `None` when malformed.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(range)?;
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &text[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n_digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n_digits == 0 {
            return None;
        }
        rest = &frac[n_digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let rb = rest.as_bytes();
            if rb.len() != 6 || rb[3] != b':' {
                return None;
            }
            let sign = match rb[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let h: i64 = rest.get(1..3)?.parse().ok()?;
            let m: i64 = rest.get(4..6)?.parse().ok()?;
            if h > 23 || m > 59 {
                return None;
            }
            sign * (h * 3600 + m * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        // Expected values from `date -u -d ... +%s`.
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2021-01-12T11:53:27.000Z"), Some(1_610_452_407));
        assert_eq!(parse_rfc3339("2020-01-01T00:00:00Z"), Some(1_577_836_800));
        assert_eq!(parse_rfc3339("2024-02-29T23:59:59+01:00"), Some(1_709_247_599));
        assert_eq!(parse_rfc3339("2023-02-29T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2021-01-12 11:53:27Z"), None);
        assert_eq!(parse_rfc3339("2021-01-12T11:53:27"), None);
        assert_eq!(parse_rfc3339("2021-01-12T11:53:27.Z"), None);
        assert_eq!(parse_rfc3339("+021-01-12T11:53:27Z"), None);
    }

    #[test]
    fn format_time_round_trips() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_time(1_610_452_407), "2021-01-12T11:53:27Z");
        assert_eq!(format_time(1_709_243_999), "2024-02-29T21:59:59Z");
        for t in [951_782_400, 4_107_542_399, -86_401] {
            assert_eq!(parse_rfc3339(&format_time(t)), Some(t));
        }
    }

    #[test]
    fn rejects_bad_roots() {
        let err = |json: &str| TrustedRoot::parse(json.as_bytes()).unwrap_err().to_string();
        assert_eq!(
            err(r#"{"tlogs":[]}"#),
            "mediaType is missing, expected application/vnd.dev.sigstore.trustedroot+json;version=0.1"
        );
        let mt = r#""mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1""#;
        assert_eq!(
            err(&format!(r#"{{{mt},"tlogs":{{}}}}"#)),
            "`tlogs` is object, expected an array"
        );
        assert_eq!(
            err(&format!(r#"{{{mt},"tlogs":[{{"publicKey":{{"rawBytes":"!"}}}}]}}"#)),
            "`tlogs[0].publicKey.rawBytes` is Invalid symbol 33, offset 0., expected standard base64"
        );
        assert!(TrustedRoot::parse(format!("{{{mt}}}").as_bytes()).unwrap().tlogs.is_empty());
    }
}

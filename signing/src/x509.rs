//! X.509 certificates of keyless (Fulcio) signing: parsing, path validation at a given time,
//! the Sigstore identity extensions, and embedded signed certificate timestamps (SCTs).
//!
//! Parsing uses `x509-cert` for the structure; signatures are checked over the certificate's
//! own `tbsCertificate` bytes (never a re-encoding). Certificates must be strict DER: the parsed
//! structure must re-encode to the same bytes, so two parsers cannot disagree about them.
//!
//! Implemented (RFC 5280 §4.1, §4.2, §6.1, reduced to what a Fulcio chain needs):
//! - signature of a certificate by its issuer (ECDSA P-256/P-384 with SHA-256/384/512, RSA
//!   PKCS#1 v1.5, Ed25519), issuer name equal to the issuer's subject;
//! - validity windows at the caller's time; CA certificates must have `basicConstraints`
//!   `cA: TRUE`, `keyCertSign` when key usage is present, and a path length that allows the chain;
//! - leaf checks: not a CA, `digitalSignature` when key usage is present, `codeSigning` EKU;
//! - no unknown critical extensions (Fulcio's SAN may be critical and is handled);
//! - Sigstore extensions: OIDC issuer `1.3.6.1.4.1.57264.1.8` (DER UTF8String) and the legacy
//!   `1.3.6.1.4.1.57264.1.1` (raw bytes), which must agree when both are present;
//! - subject alternative names: URI, email (rfc822Name), and the OtherName
//!   `1.3.6.1.4.1.57264.1.7` (UTF8String) Fulcio uses for other identities;
//! - embedded SCTs (`1.3.6.1.4.1.11129.2.4.2`, RFC 6962 §3.3) and the precertificate TBS they
//!   sign (the leaf's TBS without the SCT extension, RFC 6962 §3.2).
//!
//! Not implemented: name constraints and policy constraints (rejected as unknown critical
//! extensions when critical), revocation, certificates with unique identifiers.

use sha2::{Digest, Sha256};
use spki::ObjectIdentifier;
use x509_cert::der::{self, Decode, Encode};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAltName};

use crate::keys::{PublicKey, SignatureAlgorithm};

/// Errors about one certificate or chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum X509Error {
    /// The bytes are not a DER certificate.
    #[error("{what} is not a DER X.509 certificate ({reason})")]
    Malformed {
        /// Which certificate.
        what: String,
        /// Why.
        reason: String,
    },
    /// A certificate field is unusable.
    #[error("{what}: {reason}")]
    Field {
        /// Which certificate.
        what: String,
        /// What is wrong, stating expected and found.
        reason: String,
    },
}

/// The OID of the codeSigning extended key usage.
pub const OID_CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
/// Fulcio's legacy OIDC issuer extension (raw bytes).
pub const OID_FULCIO_ISSUER_V1: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
/// Fulcio's OIDC issuer extension (DER UTF8String).
pub const OID_FULCIO_ISSUER_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");
/// Fulcio's OtherName SAN type (UTF8String identity).
pub const OID_FULCIO_OTHERNAME_SAN: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.7");
/// The embedded SCT list extension (RFC 6962 §3.3).
pub const OID_SCT_LIST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2");

const OID_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
const OID_SUBJECT_ALT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");
const OID_BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const OID_EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");

/// Largest certificate accepted, in bytes (Fulcio leaves are about 1-2 KiB).
pub const MAX_CERTIFICATE_BYTES: usize = 32 * 1024;

/// A parsed certificate with its raw bytes.
#[derive(Debug, Clone)]
pub struct Certificate {
    /// The DER bytes.
    pub der: Vec<u8>,
    /// What the certificate is, for messages (e.g. `leaf certificate`).
    pub what: String,
    parsed: x509_cert::Certificate,
    tbs: std::ops::Range<usize>,
    key: PublicKey,
    /// `notBefore`, Unix seconds.
    pub not_before: i64,
    /// `notAfter`, Unix seconds.
    pub not_after: i64,
}

/// One embedded signed certificate timestamp (RFC 6962 §3.2), version 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sct {
    /// The CT log's id: SHA-256 of its DER public key.
    pub log_id: [u8; 32],
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// `CtExtensions`, raw.
    pub extensions: Vec<u8>,
    /// The TLS `HashAlgorithm` byte (4 = SHA-256).
    pub hash_algorithm: u8,
    /// The TLS `SignatureAlgorithm` byte (3 = ECDSA, 1 = RSA).
    pub signature_algorithm: u8,
    /// The signature, DER for ECDSA.
    pub signature: Vec<u8>,
}

impl Certificate {
    /// Parses DER bytes; `what` names the certificate in errors.
    pub fn from_der(der: &[u8], what: &str) -> Result<Certificate, X509Error> {
        let malformed = |reason: String| X509Error::Malformed { what: what.to_owned(), reason };
        if der.len() > MAX_CERTIFICATE_BYTES {
            return Err(malformed(format!(
                "{} bytes, more than the {MAX_CERTIFICATE_BYTES} accepted",
                der.len()
            )));
        }
        let parsed = x509_cert::Certificate::from_der(der).map_err(|e| malformed(e.to_string()))?;
        let reencoded = parsed.to_der().map_err(|e| malformed(e.to_string()))?;
        if reencoded != der {
            return Err(malformed("not in canonical DER form".to_owned()));
        }
        let tbs = tbs_range(der).ok_or_else(|| malformed("no tbsCertificate".to_owned()))?;
        let field = |reason: String| X509Error::Field { what: what.to_owned(), reason };
        let tbs_cert = parsed.tbs_certificate();
        if tbs_cert.signature() != parsed.signature_algorithm() {
            return Err(field(
                "the signature algorithm inside and outside tbsCertificate differ".to_owned(),
            ));
        }
        let spki =
            tbs_cert.subject_public_key_info().to_der().map_err(|e| malformed(e.to_string()))?;
        let key = PublicKey::from_certificate_spki_der(&spki)
            .map_err(|e| field(format!("public key: {e}")))?;
        let validity = tbs_cert.validity();
        let secs = |t: x509_cert::time::Time| i64::try_from(t.to_unix_duration().as_secs());
        let not_before =
            secs(validity.not_before).map_err(|_| field("notBefore is out of range".to_owned()))?;
        let not_after =
            secs(validity.not_after).map_err(|_| field("notAfter is out of range".to_owned()))?;
        let cert = Certificate {
            der: der.to_vec(),
            what: what.to_owned(),
            parsed,
            tbs,
            key,
            not_before,
            not_after,
        };
        // Every critical extension must be one this module checks.
        for ext in cert.extensions() {
            let known =
                [OID_KEY_USAGE, OID_SUBJECT_ALT_NAME, OID_BASIC_CONSTRAINTS, OID_EXT_KEY_USAGE];
            if ext.critical && !known.contains(&ext.extn_id) {
                return Err(field(format!(
                    "unknown critical extension {}: expected only key usage, subject alternative name, basic constraints or extended key usage",
                    ext.extn_id
                )));
            }
        }
        Ok(cert)
    }

    /// The certificate's public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.key
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> Result<Vec<u8>, X509Error> {
        self.parsed
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(|e| self.error(format!("public key does not re-encode ({e})")))
    }

    fn error(&self, reason: String) -> X509Error {
        X509Error::Field { what: self.what.clone(), reason }
    }

    fn extensions(&self) -> &[x509_cert::ext::Extension] {
        self.parsed.tbs_certificate().extensions().map_or(&[][..], Vec::as_slice)
    }

    /// The raw value of the single extension `oid`, with its criticality, or `None`.
    pub(crate) fn extension(
        &self,
        oid: ObjectIdentifier,
    ) -> Result<Option<(bool, &[u8])>, X509Error> {
        let mut found = None;
        for ext in self.extensions() {
            if ext.extn_id == oid {
                if found.is_some() {
                    return Err(self.error(format!("extension {oid} appears twice")));
                }
                found = Some((ext.critical, ext.extn_value.as_bytes()));
            }
        }
        Ok(found)
    }

    pub(crate) fn decoded<'a, T: Decode<'a>>(
        &'a self,
        oid: ObjectIdentifier,
        name: &str,
    ) -> Result<Option<T>, X509Error> {
        match self.extension(oid)? {
            None => Ok(None),
            Some((_, value)) => T::from_der(value)
                .map(Some)
                .map_err(|e| self.error(format!("malformed {name} extension ({e})"))),
        }
    }

    /// The subject name.
    pub fn subject(&self) -> &x509_cert::name::Name {
        self.parsed.tbs_certificate().subject()
    }

    /// The OID of the algorithm the issuer signed this certificate with.
    pub fn signature_algorithm_oid(&self) -> ObjectIdentifier {
        self.parsed.signature_algorithm().oid
    }

    /// Whether the certificate's validity window contains `time` (Unix seconds).
    pub fn valid_at(&self, time: i64) -> bool {
        self.not_before <= time && time <= self.not_after
    }

    /// Checks that `issuer` issued this certificate: names match and the signature verifies.
    pub fn check_issued_by(&self, issuer: &Certificate) -> Result<(), X509Error> {
        if self.parsed.tbs_certificate().issuer() != issuer.parsed.tbs_certificate().subject() {
            return Err(self.error(format!(
                "issuer `{}` is not the subject `{}` of {}",
                self.parsed.tbs_certificate().issuer(),
                issuer.parsed.tbs_certificate().subject(),
                issuer.what
            )));
        }
        let oid = self.parsed.signature_algorithm().oid;
        let algorithm = signature_algorithm(oid)
            .ok_or_else(|| self.error(format!("unsupported signature algorithm {oid}")))?;
        let signature = self
            .parsed
            .signature()
            .as_bytes()
            .ok_or_else(|| self.error("signature has unused bits".to_owned()))?;
        // `tbs` was found inside `der` by `tbs_range`, so the range is in bounds.
        let tbs = &self.der[self.tbs.clone()];
        if !issuer.key.verifies_with(tbs, signature, algorithm) {
            return Err(
                self.error(format!("signature does not verify with the key of {}", issuer.what))
            );
        }
        Ok(())
    }

    /// Checks the CA properties needed to issue a chain of `n_below` further CA certificates.
    pub fn check_ca(&self, n_below: usize) -> Result<(), X509Error> {
        let bc: Option<BasicConstraints> =
            self.decoded(OID_BASIC_CONSTRAINTS, "basic constraints")?;
        match bc {
            Some(bc) if bc.ca => {
                if let Some(max) = bc.path_len_constraint
                    && usize::from(max) < n_below
                {
                    return Err(self.error(format!(
                        "path length constraint {max} is exceeded by {n_below} CA certificates below it"
                    )));
                }
            }
            _ => return Err(self.error("basic constraints do not say cA: TRUE".to_owned())),
        }
        if let Some(ku) = self.decoded::<KeyUsage>(OID_KEY_USAGE, "key usage")?
            && !ku.key_cert_sign()
        {
            return Err(self.error("key usage lacks keyCertSign".to_owned()));
        }
        Ok(())
    }

    /// Checks the properties of a code-signing leaf: not a CA, `digitalSignature` (if key usage
    /// is present), and the `codeSigning` extended key usage.
    pub fn check_code_signing_leaf(&self) -> Result<(), X509Error> {
        let bc: Option<BasicConstraints> =
            self.decoded(OID_BASIC_CONSTRAINTS, "basic constraints")?;
        if bc.is_some_and(|bc| bc.ca) {
            return Err(self.error("is a CA certificate, expected a leaf".to_owned()));
        }
        if let Some(ku) = self.decoded::<KeyUsage>(OID_KEY_USAGE, "key usage")?
            && !ku.digital_signature()
        {
            return Err(self.error("key usage lacks digitalSignature".to_owned()));
        }
        let eku: Option<ExtendedKeyUsage> =
            self.decoded(OID_EXT_KEY_USAGE, "extended key usage")?;
        if !eku.is_some_and(|eku| eku.0.contains(&OID_CODE_SIGNING)) {
            return Err(self.error("extended key usage lacks codeSigning".to_owned()));
        }
        Ok(())
    }

    /// The identities in the subject alternative name: URIs, emails and Fulcio OtherNames.
    pub fn san_identities(&self) -> Result<Vec<String>, X509Error> {
        let san: Option<SubjectAltName> =
            self.decoded(OID_SUBJECT_ALT_NAME, "subject alternative name")?;
        let mut out = Vec::new();
        for name in san.map(|s| s.0).unwrap_or_default() {
            match name {
                GeneralName::UniformResourceIdentifier(uri) => out.push(uri.to_string()),
                GeneralName::Rfc822Name(email) => out.push(email.to_string()),
                GeneralName::OtherName(other) if other.type_id == OID_FULCIO_OTHERNAME_SAN => {
                    let value = other
                        .value
                        .to_der()
                        .ok()
                        .and_then(|d| {
                            der::asn1::Utf8StringRef::from_der(&d).ok().map(|s| s.to_string())
                        })
                        .ok_or_else(|| {
                            self.error("OtherName SAN is not a UTF8String".to_owned())
                        })?;
                    out.push(value);
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// The OIDC issuer from Fulcio's extensions, if any.
    pub fn oidc_issuer(&self) -> Result<Option<String>, X509Error> {
        let v2 = match self.extension(OID_FULCIO_ISSUER_V2)? {
            None => None,
            Some((_, value)) => Some(
                der::asn1::Utf8StringRef::from_der(value).map(|s| s.to_string()).map_err(|e| {
                    self.error(format!(
                        "issuer extension {OID_FULCIO_ISSUER_V2} is not a UTF8String ({e})"
                    ))
                })?,
            ),
        };
        let v1 = match self.extension(OID_FULCIO_ISSUER_V1)? {
            None => None,
            Some((_, value)) => Some(String::from_utf8(value.to_vec()).map_err(|_| {
                self.error(format!("issuer extension {OID_FULCIO_ISSUER_V1} is not UTF-8"))
            })?),
        };
        match (v1, v2) {
            (Some(a), Some(b)) if a != b => Err(self.error(format!(
                "issuer extensions disagree: {OID_FULCIO_ISSUER_V1} says `{a}`, {OID_FULCIO_ISSUER_V2} says `{b}`"
            ))),
            (_, Some(b)) => Ok(Some(b)),
            (a, None) => Ok(a),
        }
    }

    /// The embedded SCTs (empty when the extension is absent).
    pub fn embedded_scts(&self) -> Result<Vec<Sct>, X509Error> {
        let Some((_, value)) = self.extension(OID_SCT_LIST)? else {
            return Ok(Vec::new());
        };
        let inner = match read_tlv(value) {
            Some((tlv, rest)) if tlv.tag == 0x04 && rest.is_empty() => tlv.content,
            _ => return Err(self.error("SCT list is not an OCTET STRING".to_owned())),
        };
        parse_sct_list(inner)
            .ok_or_else(|| self.error("malformed SCT list (RFC 6962 §3.3)".to_owned()))
    }

    /// The precertificate TBS the SCTs sign: this TBS without the SCT list extension.
    pub fn precert_tbs(&self) -> Result<Vec<u8>, X509Error> {
        // `tbs` was found inside `der` by `tbs_range`, so the range is in bounds.
        remove_extension(&self.der[self.tbs.clone()], OID_SCT_LIST).ok_or_else(|| {
            self.error("tbsCertificate does not re-encode without its SCTs".to_owned())
        })
    }

    /// SHA-256 of the DER SubjectPublicKeyInfo (a CT `issuer_key_hash`, a log id).
    pub fn spki_sha256(&self) -> Result<[u8; 32], X509Error> {
        Ok(Sha256::digest(self.spki_der()?).into())
    }
}

/// The signature algorithm an `AlgorithmIdentifier` OID names.
pub fn signature_algorithm(oid: ObjectIdentifier) -> Option<SignatureAlgorithm> {
    Some(match oid.to_string().as_str() {
        "1.2.840.10045.4.3.2" => SignatureAlgorithm::EcdsaSha256,
        "1.2.840.10045.4.3.3" => SignatureAlgorithm::EcdsaSha384,
        "1.2.840.10045.4.3.4" => SignatureAlgorithm::EcdsaSha512,
        "1.2.840.113549.1.1.11" => SignatureAlgorithm::RsaPkcs1Sha256,
        "1.2.840.113549.1.1.12" => SignatureAlgorithm::RsaPkcs1Sha384,
        "1.2.840.113549.1.1.13" => SignatureAlgorithm::RsaPkcs1Sha512,
        "1.3.101.112" => SignatureAlgorithm::Ed25519,
        _ => return None,
    })
}

/// Checks that `leaf` chains through `chain` (issuer first, trust anchor last) at `time`:
/// each certificate issued by the next, all valid at `time`, CA constraints satisfied.
/// The last certificate is the trust anchor: it is trusted as given (its self-signature is not
/// checked), but its validity and CA properties are.
pub fn check_chain(leaf: &Certificate, chain: &[Certificate], time: i64) -> Result<(), X509Error> {
    let Some(first) = chain.first() else {
        return Err(leaf.error("no issuing CA certificates".to_owned()));
    };
    leaf.check_code_signing_leaf()?;
    check_time(leaf, time)?;
    leaf.check_issued_by(first)?;
    for (idx, ca) in chain.iter().enumerate() {
        check_time(ca, time)?;
        ca.check_ca(idx)?;
        if let Some(parent) = chain.get(idx + 1) {
            ca.check_issued_by(parent)?;
        }
    }
    Ok(())
}

fn check_time(cert: &Certificate, time: i64) -> Result<(), X509Error> {
    if cert.valid_at(time) {
        return Ok(());
    }
    Err(cert.error(format!(
        "not valid at the signing time {} (valid {} to {})",
        crate::trusted_root::format_time(time),
        crate::trusted_root::format_time(cert.not_before),
        crate::trusted_root::format_time(cert.not_after),
    )))
}

/// One DER TLV: (tag byte, whole element, content).
struct Tlv<'a> {
    tag: u8,
    whole: &'a [u8],
    content: &'a [u8],
}

/// Reads one DER element from the front of `input`; returns it and the rest.
fn read_tlv(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let tag = *input.first()?;
    if tag & 0x1f == 0x1f {
        return None; // high tag numbers do not occur in certificates' outer structure
    }
    let first_len = *input.get(1)?;
    let (len, header) = if first_len < 0x80 {
        (usize::from(first_len), 2)
    } else {
        let n = usize::from(first_len & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let bytes = input.get(2..2 + n)?;
        let len = bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        // DER: minimal length encoding.
        if len < 0x80 || bytes.first() == Some(&0) {
            return None;
        }
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    let whole = input.get(..end)?;
    let content = input.get(header..end)?;
    Some((Tlv { tag, whole, content }, input.get(end..)?))
}

fn encode_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        // Checked above: fits in 7 bits.
        out.push(u8::try_from(len).unwrap_or(0));
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let n = bytes.len() - skip;
        out.push(0x80 | u8::try_from(n).unwrap_or(0));
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// The byte range of `tbsCertificate` inside a certificate's DER.
fn tbs_range(der: &[u8]) -> Option<std::ops::Range<usize>> {
    let (outer, _) = read_tlv(der)?;
    let (tbs, _) = read_tlv(outer.content)?;
    let start = der.len().checked_sub(outer.content.len())?;
    // `outer` is the whole input when the certificate re-encoded exactly.
    if outer.whole.len() != der.len() || tbs.tag != 0x30 {
        return None;
    }
    Some(start..start + tbs.whole.len())
}

/// `tbs` (a TBSCertificate DER) with the extension `oid` removed; the `[3]` wrapper is dropped
/// when no extension remains.
fn remove_extension(tbs: &[u8], oid: ObjectIdentifier) -> Option<Vec<u8>> {
    let (outer, rest) = read_tlv(tbs)?;
    if outer.tag != 0x30 || !rest.is_empty() {
        return None;
    }
    let mut fields = Vec::new();
    let mut input = outer.content;
    while !input.is_empty() {
        let (field, rest) = read_tlv(input)?;
        input = rest;
        if field.tag != 0xa3 {
            fields.extend_from_slice(field.whole);
            continue;
        }
        let (seq, after) = read_tlv(field.content)?;
        if seq.tag != 0x30 || !after.is_empty() {
            return None;
        }
        let mut kept = Vec::new();
        let mut exts = seq.content;
        while !exts.is_empty() {
            let (ext, rest) = read_tlv(exts)?;
            exts = rest;
            let (id, _) = read_tlv(ext.content)?;
            if ObjectIdentifier::from_bytes(id.content).ok()? != oid {
                kept.extend_from_slice(ext.whole);
            }
        }
        if !kept.is_empty() {
            fields.extend_from_slice(&encode_tlv(0xa3, &encode_tlv(0x30, &kept)));
        }
    }
    Some(encode_tlv(0x30, &fields))
}

/// Parses a TLS `SignedCertificateTimestampList` (RFC 6962 §3.3).
fn parse_sct_list(bytes: &[u8]) -> Option<Vec<Sct>> {
    let mut r = TlsReader(bytes);
    let mut list = TlsReader(r.vec16()?);
    if !r.0.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    while !list.0.is_empty() {
        let mut sct = TlsReader(list.vec16()?);
        if sct.u8()? != 0 {
            continue; // only v1 SCTs are defined; others are skipped as RFC 6962 says
        }
        let log_id: [u8; 32] = sct.take(32)?.try_into().ok()?;
        let timestamp_ms = u64::from_be_bytes(sct.take(8)?.try_into().ok()?);
        let extensions = sct.vec16()?.to_vec();
        let hash_algorithm = sct.u8()?;
        let signature_algorithm = sct.u8()?;
        let signature = sct.vec16()?.to_vec();
        if !sct.0.is_empty() {
            return None;
        }
        out.push(Sct {
            log_id,
            timestamp_ms,
            extensions,
            hash_algorithm,
            signature_algorithm,
            signature,
        });
    }
    Some(out)
}

struct TlsReader<'a>(&'a [u8]);

impl<'a> TlsReader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let head = self.0.get(..n)?;
        self.0 = self.0.get(n..)?;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }

    fn vec16(&mut self) -> Option<&'a [u8]> {
        let len = self.take(2)?;
        let n = usize::from(u16::from_be_bytes([len[0], len[1]]));
        self.take(n)
    }
}

/// The data an SCT signs for a precertificate entry (RFC 6962 §3.2 `digitally-signed`).
pub fn sct_signed_data(
    sct: &Sct,
    issuer_key_hash: &[u8; 32],
    precert_tbs: &[u8],
) -> Option<Vec<u8>> {
    let tbs_len = u32::try_from(precert_tbs.len()).ok().filter(|n| *n < (1 << 24))?;
    let ext_len = u16::try_from(sct.extensions.len()).ok()?;
    let mut out = Vec::with_capacity(precert_tbs.len() + 64);
    out.push(0); // sct_version v1
    out.push(0); // signature_type certificate_timestamp
    out.extend_from_slice(&sct.timestamp_ms.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes()); // entry_type precert_entry
    out.extend_from_slice(issuer_key_hash);
    out.extend_from_slice(&tbs_len.to_be_bytes()[1..]);
    out.extend_from_slice(precert_tbs);
    out.extend_from_slice(&ext_len.to_be_bytes());
    out.extend_from_slice(&sct.extensions);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlv_lengths() {
        // DER length forms (X.690 §8.1.3): short, long with one and two bytes.
        let short = encode_tlv(0x04, &[7; 5]);
        assert_eq!(&short[..2], &[0x04, 5]);
        let one = encode_tlv(0x04, &[7; 200]);
        assert_eq!(&one[..3], &[0x04, 0x81, 200]);
        let two = encode_tlv(0x04, &[7; 300]);
        assert_eq!(&two[..4], &[0x04, 0x82, 0x01, 0x2c]);
        for encoded in [&short, &one, &two] {
            let (tlv, rest) = read_tlv(encoded).unwrap();
            assert!(rest.is_empty());
            assert_eq!(tlv.whole, encoded.as_slice());
        }
        // Non-minimal lengths and truncation are refused.
        assert!(read_tlv(&[0x04, 0x81, 0x05, 1, 2, 3, 4, 5]).is_none());
        assert!(read_tlv(&[0x04, 0x82, 0x00, 0x90]).is_none());
        assert!(read_tlv(&[0x04, 0x05, 1, 2]).is_none());
        assert!(read_tlv(&[0x1f, 0x01, 0x00]).is_none());
    }

    #[test]
    fn sct_list_parsing() {
        // One v1 SCT: log id 0x11.., timestamp 1000 ms, no extensions, SHA-256/ECDSA, sig "ab".
        let mut sct = vec![0u8];
        sct.extend_from_slice(&[0x11; 32]);
        sct.extend_from_slice(&1000u64.to_be_bytes());
        sct.extend_from_slice(&[0, 0, 4, 3, 0, 2, b'a', b'b']);
        let mut list = (u16::try_from(sct.len()).unwrap()).to_be_bytes().to_vec();
        list.extend_from_slice(&sct);
        let mut bytes = (u16::try_from(list.len()).unwrap()).to_be_bytes().to_vec();
        bytes.extend_from_slice(&list);
        let parsed = parse_sct_list(&bytes).unwrap();
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].timestamp_ms, 1000);
        assert_eq!(parsed[0].hash_algorithm, 4);
        assert_eq!(parsed[0].signature, b"ab");
        assert!(parse_sct_list(&bytes[..bytes.len() - 1]).is_none());
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(parse_sct_list(&trailing).is_none());
    }

    #[test]
    fn rejects_garbage() {
        let err = Certificate::from_der(b"\x30\x03\x02\x01\x00", "leaf certificate").unwrap_err();
        assert!(
            err.to_string().starts_with("leaf certificate is not a DER X.509 certificate"),
            "{err}"
        );
    }
}

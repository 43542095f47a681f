//! Notary Project (Notation) signatures: JWS and COSE_Sign1 envelopes signed with an X.509
//! certificate chain that ends in a trust-store certificate.
//!
//! Implements the verification steps of the Notary Project specifications
//! (`signature-specification.md`, `signature-envelope-jws.md`, `signature-envelope-cose.md`,
//! `trust-store-trust-policy.md`), at the `strict` level except revocation, for one envelope:
//! 1. Envelope structure ([`jws`], [`cose`]): JWS JSON flattened serialization with exactly
//!    `payload`, `protected`, `header` and `signature`, unpadded base64url, no duplicate JSON
//!    keys; COSE_Sign1_Tagged (tag 18) with an attached payload, strict CBOR ([`cbor`]).
//! 2. Protected header: `alg` one of ES256/384/512, PS256/384/512; `cty`
//!    `application/vnd.cncf.notary.payload.v1+json`; `io.cncf.notary.signingScheme`
//!    `notary.x509` (with `signingTime`, without `authenticSigningTime`) or
//!    `notary.x509.signingAuthority` (the reverse), matching the trust-store type.
//! 3. `crit`: non-empty, lists the signing scheme, the expiry when present and the
//!    authentic signing time for `signingAuthority`; every listed header is present, none is a
//!    registered JOSE name / COSE label 0–8, and each is one this verifier understands.
//! 4. An RFC 3161 timestamp countersignature (`io.cncf.notary.timestampSignature`) is refused
//!    as unsupported: kit cannot verify it, and ignoring it could change which time is trusted.
//! 5. `alg` is the one the leaf key dictates (P-256 ES256, P-384 ES384, RSA 2048/3072/4096
//!    PS256/384/512), and the signature verifies over the JWS signing input or the COSE
//!    `Sig_structure` with the leaf key ([`crate::keys`]).
//! 6. The payload's `targetArtifact` has the pinned manifest's media type, digest and size.
//! 7. Certificates ([`certs`]): the Notary Project profile for the leaf and the CAs, no SHA-1,
//!    `x5c` ordered leaf to root with each certificate issued by the next, the last one
//!    self-signed and byte-equal to a trust-store certificate.
//! 8. Trusted identity: `*`, or `x509.subject: C=…, ST=…, O=…` whose every attribute equals
//!    the leaf subject's.
//! 9. `io.cncf.notary.expiry`, when present, is later than now.
//! 10. Time: `notary.x509` — every certificate valid now (the signing time is not
//!     authenticated); `notary.x509.signingAuthority` — the authentic signing time inside every
//!     certificate's validity.
//!
//! Not implemented: revocation (CRL/OCSP needs the network; Notation's `strict` level would
//! check it), RFC 3161 timestamps (refused, see 4), ECDSA P-521 / ES512 leaves (no `p521`
//! dependency: such certificates are refused as an unsupported key), plugins and extended
//! attributes (an unknown critical header is refused), user-required payload annotations.
//! Discovery (referrer manifests, subject, one layer, blob digest) is the caller's job.

pub mod certs;
pub mod cose;
pub mod jws;

mod cbor;

use sha2::{Digest, Sha256};

use crate::keys::{JoseHash, KeyAlgorithm};
use crate::trusted_root::format_time;
use crate::x509::{Certificate, X509Error};

/// Media type of a JWS envelope.
pub const MEDIA_TYPE_JWS: &str = "application/jose+json";
/// Media type of a COSE_Sign1 envelope.
pub const MEDIA_TYPE_COSE: &str = "application/cose";
/// The content type (`cty`) of the Notary Project payload.
pub const PAYLOAD_CONTENT_TYPE: &str = "application/vnd.cncf.notary.payload.v1+json";
/// Largest envelope accepted, in bytes (a chain of three RSA-4096 certificates is about 6 KiB).
pub const MAX_ENVELOPE_BYTES: usize = 256 * 1024;
/// Most certificates accepted in `x5c` / `x5chain`.
pub const MAX_CHAIN_CERTIFICATES: usize = 10;

/// Header names of the Notary Project.
pub const SIGNING_SCHEME: &str = "io.cncf.notary.signingScheme";
/// The (unauthenticated) signing time of the `notary.x509` scheme.
pub const SIGNING_TIME: &str = "io.cncf.notary.signingTime";
/// The authentic signing time of the `notary.x509.signingAuthority` scheme.
pub const AUTHENTIC_SIGNING_TIME: &str = "io.cncf.notary.authenticSigningTime";
/// The signature's expiry.
pub const EXPIRY: &str = "io.cncf.notary.expiry";
/// The unprotected RFC 3161 countersignature.
pub const TIMESTAMP_SIGNATURE: &str = "io.cncf.notary.timestampSignature";

/// Why an envelope was refused. Messages are one line; cryptographic failures are coarse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotationError {
    /// The envelope is larger than [`MAX_ENVELOPE_BYTES`].
    #[error("envelope is {n_bytes} bytes, more than the {MAX_ENVELOPE_BYTES} accepted")]
    TooLarge {
        /// Its size.
        n_bytes: usize,
    },
    /// The layer media type is not a Notation envelope type.
    #[error(
        "envelope media type `{media_type}` is not supported: expected `{MEDIA_TYPE_JWS}` or `{MEDIA_TYPE_COSE}`"
    )]
    UnsupportedMediaType {
        /// The media type found.
        media_type: String,
    },
    /// The envelope does not have the required structure.
    #[error("{format} envelope is malformed: {reason}")]
    Malformed {
        /// `JWS` or `COSE`.
        format: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A protected-header rule is violated (alg, cty, signing scheme, times, crit).
    #[error("protected header: {reason}")]
    Header {
        /// What is wrong.
        reason: String,
    },
    /// A timestamp countersignature is present.
    #[error(
        "an RFC 3161 timestamp countersignature ({TIMESTAMP_SIGNATURE}) is present, which kit does not verify: refused rather than ignored"
    )]
    TimestampUnsupported,
    /// The `alg` header is not the one the leaf key dictates.
    #[error("alg {alg} does not match the leaf certificate's {key} key, which requires {expected}")]
    AlgorithmMismatch {
        /// The claimed algorithm.
        alg: String,
        /// The leaf key, e.g. `ECDSA P-256`.
        key: String,
        /// What it requires.
        expected: String,
    },
    /// The leaf key is not one Notation allows.
    #[error(
        "leaf certificate key {key} is not allowed: expected ECDSA P-256/P-384 or RSA 2048/3072/4096"
    )]
    UnsupportedKey {
        /// The key.
        key: String,
    },
    /// The signature does not verify.
    #[error("signature does not verify with the leaf certificate key")]
    SignatureDoesNotVerify,
    /// The payload is not a Notary Project payload.
    #[error("payload: {reason}")]
    Payload {
        /// What is wrong.
        reason: String,
    },
    /// The payload names another artifact.
    #[error("payload targetArtifact.{field} is {found}, expected {expected} (the pinned manifest)")]
    TargetMismatch {
        /// `mediaType`, `digest` or `size`.
        field: &'static str,
        /// What the payload says.
        found: String,
        /// What was pinned.
        expected: String,
    },
    /// A certificate is malformed or violates the Notary Project certificate profile.
    #[error("{0}")]
    Certificate(X509Error),
    /// The chain is not ordered leaf to root, or does not end in a trust-store certificate.
    #[error("certificate chain: {reason}")]
    Chain {
        /// What is wrong.
        reason: String,
    },
    /// The trust store cannot be read.
    #[error("trust store: {reason}")]
    TrustStore {
        /// What is wrong.
        reason: String,
    },
    /// The leaf subject matches no trusted identity.
    #[error("leaf subject `{subject}` matches none of the trusted identities {identities:?}")]
    Identity {
        /// The leaf subject.
        subject: String,
        /// The trusted identities.
        identities: Vec<String>,
    },
    /// A trusted identity of the policy is unusable.
    #[error("trusted identity `{identity}`: {reason}")]
    BadIdentity {
        /// The identity as written.
        identity: String,
        /// What is wrong.
        reason: String,
    },
    /// The signature expired.
    #[error("signature expired at {expiry} ({EXPIRY}), before the verification time {now}")]
    Expired {
        /// The expiry, RFC 3339.
        expiry: String,
        /// The verification time, RFC 3339.
        now: String,
    },
    /// A certificate is not valid at the time that must be checked.
    #[error("{what} is not valid at {time_kind} {time} (valid {not_before} to {not_after})")]
    NotValidAt {
        /// Which certificate.
        what: String,
        /// `the verification time` or `the authentic signing time`.
        time_kind: &'static str,
        /// The time checked, RFC 3339.
        time: String,
        /// `notBefore`, RFC 3339.
        not_before: String,
        /// `notAfter`, RFC 3339.
        not_after: String,
    },
}

impl From<X509Error> for NotationError {
    fn from(err: X509Error) -> NotationError {
        NotationError::Certificate(err)
    }
}

/// The descriptor of the pinned manifest, which the payload's `targetArtifact` must equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetArtifact<'a> {
    /// Its media type.
    pub media_type: &'a str,
    /// Its digest, `sha256:<hex>`.
    pub digest: &'a str,
    /// Its size in bytes.
    pub size: u64,
}

/// The type of a Notation trust store, which fixes the signing scheme it verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum TrustStoreType {
    /// `ca`: certificate authorities; verifies `notary.x509` signatures.
    Ca,
    /// `signingAuthority`: verifies `notary.x509.signingAuthority` signatures.
    SigningAuthority,
}

/// Trust-store certificates (DER) of one type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustStore {
    /// The type.
    pub kind: TrustStoreType,
    /// The certificates, DER.
    pub certificates: Vec<Vec<u8>>,
}

impl TrustStore {
    /// Reads every `CERTIFICATE` block of each PEM file (a file may hold several).
    pub fn from_pem_files(
        kind: TrustStoreType,
        files: &[Vec<u8>],
    ) -> Result<TrustStore, NotationError> {
        const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
        const END: &str = "-----END CERTIFICATE-----";
        let mut certificates = Vec::new();
        for (file_idx, file) in files.iter().enumerate() {
            let bad = |reason: String| NotationError::TrustStore {
                reason: format!("file {file_idx}: {reason}"),
            };
            let text = std::str::from_utf8(file).map_err(|_| bad("not UTF-8 PEM".to_owned()))?;
            let mut rest = text;
            let mut n_blocks = 0;
            while let Some(start) = rest.find(BEGIN) {
                let Some(len) = rest[start..].find(END) else {
                    return Err(bad("a CERTIFICATE block has no END line".to_owned()));
                };
                let end = start + len + END.len();
                let block = &rest[start..end];
                let (label, der) = spki::der::pem::decode_vec(block.as_bytes())
                    .map_err(|e| bad(format!("bad PEM ({e})")))?;
                if label != "CERTIFICATE" {
                    return Err(bad(format!("PEM label `{label}`, expected `CERTIFICATE`")));
                }
                Certificate::from_der(&der, "trust-store certificate")?;
                certificates.push(der);
                n_blocks += 1;
                rest = &rest[end..];
            }
            if n_blocks == 0 {
                return Err(bad("no PEM `CERTIFICATE` block".to_owned()));
            }
        }
        Ok(TrustStore { kind, certificates })
    }
}

/// A verified Notation signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedNotation {
    /// `sha256:<hex>` of the envelope bytes.
    pub envelope_digest: String,
    /// `JWS` or `COSE`.
    pub format: &'static str,
    /// The signature algorithm, e.g. `ES256`.
    pub algorithm: &'static str,
    /// The leaf certificate's subject (RFC 4514).
    pub leaf_subject: String,
    /// SHA-256 of the leaf certificate DER, lowercase hex (Notation's thumbprint).
    pub leaf_thumbprint: String,
    /// The signing scheme.
    pub signing_scheme: String,
    /// The signing time the envelope claims (unauthenticated for `notary.x509`), Unix seconds.
    pub signing_time: i64,
}

impl VerifiedNotation {
    /// A description for verdicts: `notation JWS ES256 by C=US,…,CN=signer (leaf sha256:0123…)`.
    pub fn describe(&self) -> String {
        format!(
            "notation {} {} by {} (leaf sha256:{})",
            self.format,
            self.algorithm,
            self.leaf_subject,
            self.leaf_thumbprint.get(..16).unwrap_or_default()
        )
    }
}

/// A signature algorithm allowed by the Notary Project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Algorithm {
    Es256,
    Es384,
    Es512,
    Ps256,
    Ps384,
    Ps512,
}

impl Algorithm {
    pub(crate) fn from_jose(name: &str) -> Option<Algorithm> {
        Some(match name {
            "ES256" => Algorithm::Es256,
            "ES384" => Algorithm::Es384,
            "ES512" => Algorithm::Es512,
            "PS256" => Algorithm::Ps256,
            "PS384" => Algorithm::Ps384,
            "PS512" => Algorithm::Ps512,
            _ => return None,
        })
    }

    /// RFC 9053 §2.1 and RFC 8230 §2 algorithm identifiers.
    pub(crate) fn from_cose(label: i64) -> Option<Algorithm> {
        Some(match label {
            -7 => Algorithm::Es256,
            -35 => Algorithm::Es384,
            -36 => Algorithm::Es512,
            -37 => Algorithm::Ps256,
            -38 => Algorithm::Ps384,
            -39 => Algorithm::Ps512,
            _ => return None,
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Algorithm::Es256 => "ES256",
            Algorithm::Es384 => "ES384",
            Algorithm::Es512 => "ES512",
            Algorithm::Ps256 => "PS256",
            Algorithm::Ps384 => "PS384",
            Algorithm::Ps512 => "PS512",
        }
    }

    fn hash(self) -> JoseHash {
        match self {
            Algorithm::Es256 | Algorithm::Ps256 => JoseHash::Sha256,
            Algorithm::Es384 | Algorithm::Ps384 => JoseHash::Sha384,
            Algorithm::Es512 | Algorithm::Ps512 => JoseHash::Sha512,
        }
    }
}

/// A header name: JWS names and COSE text labels are `Text`, COSE integer labels `Int`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Label {
    Int(i64),
    Text(String),
}

impl std::fmt::Display for Label {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Label::Int(n) => write!(f, "{n}"),
            Label::Text(s) => write!(f, "`{s}`"),
        }
    }
}

/// The protected header, normalized from JWS or COSE.
#[derive(Debug, Clone, Default)]
pub(crate) struct Protected {
    /// `alg` as written (`ES256`, or a COSE label like `-8`), if present.
    pub alg: Option<String>,
    /// `alg` when it is an allowed algorithm.
    pub algorithm: Option<Algorithm>,
    pub cty: Option<String>,
    pub signing_scheme: Option<String>,
    pub signing_time: Option<i64>,
    pub authentic_signing_time: Option<i64>,
    pub expiry: Option<i64>,
    /// `crit`, if present.
    pub crit: Option<Vec<Label>>,
    /// Every header present, in order.
    pub names: Vec<Label>,
}

/// An envelope parsed by [`jws`] or [`cose`].
#[derive(Debug, Clone)]
pub(crate) struct Envelope {
    pub format: &'static str,
    pub protected: Protected,
    /// `x5c` / `x5chain`, DER, leaf first.
    pub certificates: Vec<Vec<u8>>,
    pub payload: Vec<u8>,
    pub signature: Vec<u8>,
    /// The bytes the signature covers.
    pub signed_bytes: Vec<u8>,
    /// Whether an unprotected timestamp countersignature is present.
    pub has_timestamp: bool,
    /// Whether `label` is a registered header name (JOSE) or label 0–8 (COSE).
    pub registered: fn(&Label) -> bool,
}

/// Verifies one Notation envelope of layer media type `media_type` against `store`, the
/// trusted `identities` (`*` or `x509.subject: …`), the pinned `target` and the verification
/// time `now` (Unix seconds).
pub fn verify_envelope(
    media_type: &str,
    envelope: &[u8],
    store: &TrustStore,
    identities: &[String],
    target: &TargetArtifact<'_>,
    now: i64,
) -> Result<VerifiedNotation, NotationError> {
    if envelope.len() > MAX_ENVELOPE_BYTES {
        return Err(NotationError::TooLarge { n_bytes: envelope.len() });
    }
    let env = match media_type {
        MEDIA_TYPE_JWS => jws::parse(envelope)?,
        MEDIA_TYPE_COSE => cose::parse(envelope)?,
        other => return Err(NotationError::UnsupportedMediaType { media_type: other.to_owned() }),
    };
    let (algorithm, scheme) = check_protected(&env, store.kind)?;
    if env.has_timestamp {
        return Err(NotationError::TimestampUnsupported);
    }
    let chain = parse_chain(&env.certificates)?;
    // parse_chain refuses an empty chain.
    let leaf = &chain[0];
    check_algorithm(leaf, algorithm)?;
    if !leaf.public_key().verifies_jose(&env.signed_bytes, &env.signature, algorithm.hash()) {
        return Err(NotationError::SignatureDoesNotVerify);
    }
    check_payload(&env.payload, target)?;
    certs::check_no_sha1(&chain)?;
    certs::check_chain_to_store(&chain, store)?;
    certs::check_profile(&chain)?;
    let leaf_subject = certs::check_identity(leaf, identities)?;
    if let Some(expiry) = env.protected.expiry
        && now >= expiry
    {
        return Err(NotationError::Expired { expiry: format_time(expiry), now: format_time(now) });
    }
    let (time, time_kind) = match store.kind {
        TrustStoreType::Ca => (now, "the verification time"),
        TrustStoreType::SigningAuthority => {
            (env.protected.authentic_signing_time.unwrap_or(i64::MIN), "the authentic signing time")
        }
    };
    for cert in &chain {
        if !cert.valid_at(time) {
            return Err(NotationError::NotValidAt {
                what: cert.what.clone(),
                time_kind,
                time: format_time(time),
                not_before: format_time(cert.not_before),
                not_after: format_time(cert.not_after),
            });
        }
    }
    let signing_time =
        env.protected.signing_time.or(env.protected.authentic_signing_time).unwrap_or_default();
    Ok(VerifiedNotation {
        envelope_digest: format!("sha256:{}", hex::encode(Sha256::digest(envelope))),
        format: env.format,
        algorithm: algorithm.name(),
        leaf_subject,
        leaf_thumbprint: hex::encode(Sha256::digest(&leaf.der)),
        signing_scheme: scheme,
        signing_time,
    })
}

/// Protected-header rules (steps 2 and 3); returns the algorithm and the signing scheme.
fn check_protected(
    env: &Envelope,
    store: TrustStoreType,
) -> Result<(Algorithm, String), NotationError> {
    let header = |reason: String| NotationError::Header { reason };
    let p = &env.protected;
    let Some(alg) = &p.alg else {
        return Err(header("`alg` is missing".to_owned()));
    };
    let Some(algorithm) = p.algorithm else {
        return Err(header(format!(
            "alg {alg} is not allowed: expected ES256, ES384, ES512, PS256, PS384 or PS512"
        )));
    };
    match &p.cty {
        Some(cty) if cty == PAYLOAD_CONTENT_TYPE => {}
        Some(cty) => {
            return Err(header(format!("cty is `{cty}`, expected `{PAYLOAD_CONTENT_TYPE}`")));
        }
        None => return Err(header(format!("cty is missing, expected `{PAYLOAD_CONTENT_TYPE}`"))),
    }
    let Some(scheme) = &p.signing_scheme else {
        return Err(header(format!("{SIGNING_SCHEME} is missing")));
    };
    let (expected_store, needs, forbids) = match scheme.as_str() {
        "notary.x509" => (TrustStoreType::Ca, SIGNING_TIME, AUTHENTIC_SIGNING_TIME),
        "notary.x509.signingAuthority" => {
            (TrustStoreType::SigningAuthority, AUTHENTIC_SIGNING_TIME, SIGNING_TIME)
        }
        other => {
            return Err(header(format!(
                "signing scheme `{other}` is not supported: expected `notary.x509` or `notary.x509.signingAuthority`"
            )));
        }
    };
    let present = |name: &str| p.names.iter().any(|l| *l == Label::Text(name.to_owned()));
    if !present(needs) {
        return Err(header(format!("signing scheme {scheme} requires {needs}, which is missing")));
    }
    if present(forbids) {
        return Err(header(format!("signing scheme {scheme} forbids {forbids}")));
    }
    if expected_store != store {
        let (found, expected) = match store {
            TrustStoreType::Ca => ("ca", "signingAuthority"),
            TrustStoreType::SigningAuthority => ("signingAuthority", "ca"),
        };
        return Err(header(format!(
            "signing scheme {scheme} needs a `{expected}` trust store, the policy's is of type `{found}`"
        )));
    }
    let Some(crit) = &p.crit else {
        return Err(header("crit is missing".to_owned()));
    };
    if crit.is_empty() {
        return Err(header("crit is empty".to_owned()));
    }
    for (idx, label) in crit.iter().enumerate() {
        if crit[..idx].contains(label) {
            return Err(header(format!("crit lists {label} twice")));
        }
    }
    let mut required = vec![SIGNING_SCHEME];
    if p.expiry.is_some() {
        required.push(EXPIRY);
    }
    if expected_store == TrustStoreType::SigningAuthority {
        required.push(AUTHENTIC_SIGNING_TIME);
    }
    for name in required {
        if !crit.contains(&Label::Text(name.to_owned())) {
            return Err(header(format!("crit does not list {name}")));
        }
    }
    for label in crit {
        if (env.registered)(label) {
            return Err(header(format!("crit lists the registered header {label}")));
        }
        if !p.names.contains(label) {
            return Err(header(format!("crit lists {label}, which is not in the header")));
        }
        let understood = [SIGNING_SCHEME, EXPIRY, AUTHENTIC_SIGNING_TIME]
            .iter()
            .any(|name| *label == Label::Text((*name).to_owned()));
        if !understood {
            return Err(header(format!("unknown critical header {label}")));
        }
    }
    Ok((algorithm, scheme.clone()))
}

fn parse_chain(ders: &[Vec<u8>]) -> Result<Vec<Certificate>, NotationError> {
    if ders.is_empty() {
        return Err(NotationError::Chain { reason: "x5c is empty".to_owned() });
    }
    if ders.len() > MAX_CHAIN_CERTIFICATES {
        return Err(NotationError::Chain {
            reason: format!(
                "{} certificates, more than the {MAX_CHAIN_CERTIFICATES} accepted",
                ders.len()
            ),
        });
    }
    let mut chain = Vec::with_capacity(ders.len());
    for (idx, der) in ders.iter().enumerate() {
        let what = if idx == 0 {
            "leaf certificate".to_owned()
        } else {
            format!("x5c[{idx}] certificate")
        };
        chain.push(Certificate::from_der(der, &what)?);
    }
    Ok(chain)
}

/// Step 5: the algorithm the leaf key dictates.
fn check_algorithm(leaf: &Certificate, alg: Algorithm) -> Result<(), NotationError> {
    let key = leaf.public_key();
    let (expected, key_name) = match key.algorithm() {
        KeyAlgorithm::EcdsaP256 => (Algorithm::Es256, "ECDSA P-256".to_owned()),
        KeyAlgorithm::EcdsaP384 => (Algorithm::Es384, "ECDSA P-384".to_owned()),
        KeyAlgorithm::Rsa => {
            let bits = key.rsa_bits().unwrap_or_default();
            let name = format!("RSA-{bits}");
            match bits {
                2048 => (Algorithm::Ps256, name),
                3072 => (Algorithm::Ps384, name),
                4096 => (Algorithm::Ps512, name),
                _ => return Err(NotationError::UnsupportedKey { key: name }),
            }
        }
        other => return Err(NotationError::UnsupportedKey { key: other.to_string() }),
    };
    if expected != alg {
        return Err(NotationError::AlgorithmMismatch {
            alg: alg.name().to_owned(),
            key: key_name,
            expected: expected.name().to_owned(),
        });
    }
    Ok(())
}

/// Step 6: `{"targetArtifact": {mediaType, digest, size, …}}` naming the pinned manifest.
fn check_payload(payload: &[u8], target: &TargetArtifact<'_>) -> Result<(), NotationError> {
    use crate::json::Value;
    let bad = |reason: String| NotationError::Payload { reason };
    let value = crate::json::parse(payload).map_err(|e| bad(format!("not strict JSON ({e})")))?;
    let Value::Object(members) = &value else {
        return Err(bad(format!("is a JSON {}, expected an object", value.kind())));
    };
    let mut artifact = None;
    for (key, value) in members {
        if key != "targetArtifact" {
            return Err(bad(format!("unexpected member `{key}`, expected only targetArtifact")));
        }
        artifact = Some(value);
    }
    let Some(Value::Object(fields)) = artifact else {
        return Err(bad("targetArtifact is missing or not an object".to_owned()));
    };
    let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    let text = |name: &'static str| match field(name) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(bad(format!("targetArtifact.{name} is a {}", other.kind()))),
        None => Err(bad(format!("targetArtifact.{name} is missing"))),
    };
    let media_type = text("mediaType")?;
    if media_type != target.media_type {
        return Err(NotationError::TargetMismatch {
            field: "mediaType",
            found: format!("`{media_type}`"),
            expected: format!("`{}`", target.media_type),
        });
    }
    let digest = text("digest")?;
    if digest != target.digest {
        return Err(NotationError::TargetMismatch {
            field: "digest",
            found: digest,
            expected: target.digest.to_owned(),
        });
    }
    let size = match field("size") {
        Some(Value::Number(n)) => n.as_u64().ok_or_else(|| {
            bad(format!("targetArtifact.size is {n}, expected a non-negative integer"))
        })?,
        Some(other) => return Err(bad(format!("targetArtifact.size is a {}", other.kind()))),
        None => return Err(bad("targetArtifact.size is missing".to_owned())),
    };
    if size != target.size {
        return Err(NotationError::TargetMismatch {
            field: "size",
            found: size.to_string(),
            expected: target.size.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;

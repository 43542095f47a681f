//! Public keys a policy pins: PEM `PUBLIC KEY` (PKIX SubjectPublicKeyInfo) for ECDSA P-256,
//! Ed25519 and RSA, their key ids, and signature checks over raw message bytes.
//!
//! The algorithms are the ones `cosign verify --key` uses for a loaded public key
//! (sigstore `signature.LoadVerifier`):
//! - ECDSA P-256: ASN.1 DER `(r, s)` over SHA-256 of the message.
//! - Ed25519: pure Ed25519 over the message (RFC 8032; not Ed25519ph).
//! - RSA: RSASSA-PKCS1-v1_5 with SHA-256 by default; RSASSA-PSS with SHA-256 and a salt as long
//!   as the digest only when the policy asks for it (cosign rejects PSS by default).
//!
//! Not supported as policy keys: ECDSA P-384/P-521, PKCS#1 `RSA PUBLIC KEY` blocks, certificates
//! in place of keys, RSA moduli under 2048 bits.
//!
//! Keys inside X.509 certificates (Fulcio CAs and leaves, [`crate::x509`]) may also be ECDSA
//! P-384, and are checked with the signature algorithm the certificate names
//! ([`SignatureAlgorithm`]), including prehashed messages ([`PublicKey::verifies_prehashed`]).

use std::fmt;

use sha2::{Digest, Sha256};
use spki::der::Decode;
use spki::{DecodePublicKey, ObjectIdentifier, SubjectPublicKeyInfoRef};

/// Errors while reading a public key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The bytes are not one PEM block.
    #[error("expected a PEM `PUBLIC KEY` block, found no valid PEM ({reason})")]
    NotPem {
        /// What the PEM decoder reported.
        reason: String,
    },
    /// The PEM block has another label.
    #[error("expected a PEM `PUBLIC KEY` block, found `{label}`{hint}")]
    WrongPemLabel {
        /// The label found.
        label: String,
        /// A hint for common mistakes (a private key given instead of the public one).
        hint: &'static str,
    },
    /// The DER inside the PEM block is not a SubjectPublicKeyInfo.
    #[error("public key is not a DER SubjectPublicKeyInfo ({reason})")]
    BadSpki {
        /// What the DER decoder reported.
        reason: String,
    },
    /// The key's algorithm is not one kit verifies.
    #[error("unsupported public key algorithm {algorithm}: expected ECDSA P-256, Ed25519 or RSA")]
    UnsupportedAlgorithm {
        /// The algorithm OID (and curve, for EC keys).
        algorithm: String,
    },
    /// The key material does not decode for its algorithm.
    #[error("malformed {algorithm} public key ({reason})")]
    BadKey {
        /// The algorithm named by the SubjectPublicKeyInfo.
        algorithm: &'static str,
        /// What the decoder reported.
        reason: String,
    },
    /// The RSA modulus is too small.
    #[error("RSA key of {bits} bits is too small: expected at least 2048 bits")]
    RsaTooSmall {
        /// The modulus size.
        bits: usize,
    },
}

/// Identifies a public key: SHA-256 of its DER SubjectPublicKeyInfo.
///
/// `Display` shows the short form `sha256:` + the first 16 hex digits, which is what error
/// messages and verdicts name; [`KeyId::full`] gives all 64.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId([u8; 32]);

impl KeyId {
    /// The key id of DER SubjectPublicKeyInfo bytes.
    pub fn of_spki_der(der: &[u8]) -> KeyId {
        KeyId(Sha256::digest(der).into())
    }

    /// `sha256:` followed by all 64 hex digits.
    pub fn full(&self) -> String {
        format!("sha256:{}", hex::encode(self.0))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = hex::encode(self.0);
        // A SHA-256 hex string always has 64 characters, so the slice is in bounds.
        write!(f, "sha256:{}", &hex[..16])
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// How RSA signatures are padded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum RsaScheme {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (cosign's default for RSA keys).
    Pkcs1v15Sha256,
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt.
    PssSha256,
}

/// A signature algorithm named by an X.509 `AlgorithmIdentifier` (or fixed by a protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum SignatureAlgorithm {
    /// `ecdsa-with-SHA256` (1.2.840.10045.4.3.2), ASN.1 DER signature.
    EcdsaSha256,
    /// `ecdsa-with-SHA384` (1.2.840.10045.4.3.3).
    EcdsaSha384,
    /// `ecdsa-with-SHA512` (1.2.840.10045.4.3.4).
    EcdsaSha512,
    /// `sha256WithRSAEncryption` (1.2.840.113549.1.1.11).
    RsaPkcs1Sha256,
    /// `sha384WithRSAEncryption` (1.2.840.113549.1.1.12).
    RsaPkcs1Sha384,
    /// `sha512WithRSAEncryption` (1.2.840.113549.1.1.13).
    RsaPkcs1Sha512,
    /// `id-Ed25519` (1.3.101.112), pure Ed25519.
    Ed25519,
}

/// The SHA-2 hash of a JOSE/COSE signature algorithm (`ES256`/`PS256` … `PS512`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum JoseHash {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

/// The algorithm family of a [`PublicKey`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// ECDSA on NIST P-256 with SHA-256.
    EcdsaP256,
    /// ECDSA on NIST P-384 (certificate keys only).
    EcdsaP384,
    /// Pure Ed25519.
    Ed25519,
    /// RSA with SHA-256.
    Rsa,
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyAlgorithm::EcdsaP256 => "ECDSA P-256",
            KeyAlgorithm::EcdsaP384 => "ECDSA P-384",
            KeyAlgorithm::Ed25519 => "Ed25519",
            KeyAlgorithm::Rsa => "RSA",
        })
    }
}

/// A parsed public key with its id.
#[derive(Clone)]
pub struct PublicKey {
    inner: KeyInner,
    id: KeyId,
}

#[derive(Clone)]
enum KeyInner {
    EcdsaP256(p256::ecdsa::VerifyingKey),
    EcdsaP384(p384::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
    Rsa(rsa::PublicKey),
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({} {})", self.algorithm(), self.id)
    }
}

const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_PRIME256V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const OID_RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// Smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;

/// Largest PEM input accepted, in bytes (an RSA-8192 public key is about 1.5 KiB).
pub const MAX_PEM_BYTES: usize = 16 * 1024;

impl PublicKey {
    /// Reads one PEM `PUBLIC KEY` block (surrounding whitespace is allowed).
    pub fn from_pem(pem: &[u8]) -> Result<PublicKey, KeyError> {
        if pem.len() > MAX_PEM_BYTES {
            return Err(KeyError::NotPem {
                reason: format!("{} bytes, more than the {MAX_PEM_BYTES} accepted", pem.len()),
            });
        }
        let trimmed = pem.trim_ascii();
        let (label, der) = spki::der::pem::decode_vec(trimmed)
            .map_err(|err| KeyError::NotPem { reason: err.to_string() })?;
        if label != "PUBLIC KEY" {
            let hint = if label.contains("PRIVATE") {
                " (a private key: give the public half, e.g. cosign.pub)"
            } else if label == "RSA PUBLIC KEY" {
                " (PKCS#1: convert with `openssl rsa -RSAPublicKey_in -pubout`)"
            } else if label == "CERTIFICATE" {
                " (a certificate: extract its key with `openssl x509 -pubkey -noout`)"
            } else {
                ""
            };
            return Err(KeyError::WrongPemLabel { label: label.to_owned(), hint });
        }
        PublicKey::from_spki_der(&der)
    }

    /// Reads a DER SubjectPublicKeyInfo.
    pub fn from_spki_der(der: &[u8]) -> Result<PublicKey, KeyError> {
        PublicKey::from_spki_der_inner(der, false)
    }

    /// Reads the DER SubjectPublicKeyInfo of a certificate, which may also be ECDSA P-384.
    pub(crate) fn from_certificate_spki_der(der: &[u8]) -> Result<PublicKey, KeyError> {
        PublicKey::from_spki_der_inner(der, true)
    }

    fn from_spki_der_inner(der: &[u8], allow_p384: bool) -> Result<PublicKey, KeyError> {
        let spki = SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|err| KeyError::BadSpki { reason: err.to_string() })?;
        let oid = spki.algorithm.oid;
        let inner = if oid == OID_EC_PUBLIC_KEY {
            let curve = spki.algorithm.parameters_oid().ok();
            if allow_p384 && curve == Some(OID_SECP384R1) {
                let key = p384::ecdsa::VerifyingKey::from_public_key_der(der).map_err(|err| {
                    KeyError::BadKey { algorithm: "ECDSA P-384", reason: err.to_string() }
                })?;
                return Ok(PublicKey {
                    inner: KeyInner::EcdsaP384(key),
                    id: KeyId::of_spki_der(der),
                });
            }
            if curve != Some(OID_PRIME256V1) {
                let curve = curve.map_or_else(|| "missing".to_owned(), |c| c.to_string());
                return Err(KeyError::UnsupportedAlgorithm {
                    algorithm: format!("EC public key on curve {curve}"),
                });
            }
            let key = p256::ecdsa::VerifyingKey::from_public_key_der(der).map_err(|err| {
                KeyError::BadKey { algorithm: "ECDSA P-256", reason: err.to_string() }
            })?;
            KeyInner::EcdsaP256(key)
        } else if oid == OID_ED25519 {
            let key = ed25519_dalek::VerifyingKey::from_public_key_der(der).map_err(|err| {
                KeyError::BadKey { algorithm: "Ed25519", reason: err.to_string() }
            })?;
            KeyInner::Ed25519(key)
        } else if oid == OID_RSA_ENCRYPTION {
            let key = rsa::PublicKey::try_from(spki.clone())
                .map_err(|err| KeyError::BadKey { algorithm: "RSA", reason: err.to_string() })?;
            let bits = rsa::traits::PublicKeyParts::size(&key) * 8;
            if bits < MIN_RSA_BITS {
                return Err(KeyError::RsaTooSmall { bits });
            }
            KeyInner::Rsa(key)
        } else {
            return Err(KeyError::UnsupportedAlgorithm { algorithm: oid.to_string() });
        };
        Ok(PublicKey { inner, id: KeyId::of_spki_der(der) })
    }

    /// The key id (SHA-256 of the DER SubjectPublicKeyInfo).
    pub fn id(&self) -> &KeyId {
        &self.id
    }

    /// The algorithm family.
    pub fn algorithm(&self) -> KeyAlgorithm {
        match self.inner {
            KeyInner::EcdsaP256(_) => KeyAlgorithm::EcdsaP256,
            KeyInner::EcdsaP384(_) => KeyAlgorithm::EcdsaP384,
            KeyInner::Ed25519(_) => KeyAlgorithm::Ed25519,
            KeyInner::Rsa(_) => KeyAlgorithm::Rsa,
        }
    }

    /// Whether `signature` is valid over `message` with the hash and padding of `algorithm`
    /// (X.509 certificate signatures, SCTs, checkpoints). A key of another family is `false`.
    pub fn verifies_with(
        &self,
        message: &[u8],
        signature: &[u8],
        algorithm: SignatureAlgorithm,
    ) -> bool {
        use sha2::{Sha384, Sha512};
        let prehash: Vec<u8> = match algorithm {
            SignatureAlgorithm::Ed25519 => {
                return matches!(self.inner, KeyInner::Ed25519(_))
                    && self.verifies(message, signature, RsaScheme::Pkcs1v15Sha256);
            }
            SignatureAlgorithm::EcdsaSha256 | SignatureAlgorithm::RsaPkcs1Sha256 => {
                Sha256::digest(message).to_vec()
            }
            SignatureAlgorithm::EcdsaSha384 | SignatureAlgorithm::RsaPkcs1Sha384 => {
                Sha384::digest(message).to_vec()
            }
            SignatureAlgorithm::EcdsaSha512 | SignatureAlgorithm::RsaPkcs1Sha512 => {
                Sha512::digest(message).to_vec()
            }
        };
        let family_ok = matches!(
            (&self.inner, algorithm),
            (
                KeyInner::EcdsaP256(_) | KeyInner::EcdsaP384(_),
                SignatureAlgorithm::EcdsaSha256
                    | SignatureAlgorithm::EcdsaSha384
                    | SignatureAlgorithm::EcdsaSha512,
            ) | (
                KeyInner::Rsa(_),
                SignatureAlgorithm::RsaPkcs1Sha256
                    | SignatureAlgorithm::RsaPkcs1Sha384
                    | SignatureAlgorithm::RsaPkcs1Sha512,
            )
        );
        if !family_ok {
            return false;
        }
        if let KeyInner::Rsa(key) = &self.inner {
            use rsa::signature::hazmat::PrehashVerifier;
            let Ok(sig) = rsa::pkcs1v15::Signature::try_from(signature) else {
                return false;
            };
            return match algorithm {
                SignatureAlgorithm::RsaPkcs1Sha384 => {
                    rsa::pkcs1v15::VerifyingKey::<Sha384>::new(key.clone())
                        .verify_prehash(&prehash, &sig)
                        .is_ok()
                }
                SignatureAlgorithm::RsaPkcs1Sha512 => {
                    rsa::pkcs1v15::VerifyingKey::<Sha512>::new(key.clone())
                        .verify_prehash(&prehash, &sig)
                        .is_ok()
                }
                _ => rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key.clone())
                    .verify_prehash(&prehash, &sig)
                    .is_ok(),
            };
        }
        self.verifies_prehashed(&prehash, signature, RsaScheme::Pkcs1v15Sha256)
    }

    /// The RSA modulus size in bits, or `None` for other key types.
    pub fn rsa_bits(&self) -> Option<usize> {
        match &self.inner {
            KeyInner::Rsa(key) => Some(rsa::traits::PublicKeyParts::size(key) * 8),
            _ => None,
        }
    }

    /// Whether `signature` is a JOSE/COSE signature of `message` (RFC 7518 §3.4, §3.5;
    /// RFC 9053 §2.1): for ECDSA the raw `r || s` of exactly twice the field size, with the
    /// hash the curve pairs with (P-256 with SHA-256, P-384 with SHA-384); for RSA,
    /// RSASSA-PSS with MGF1 of the same hash and a salt as long as the hash. Any other
    /// combination is `false`.
    pub(crate) fn verifies_jose(&self, message: &[u8], signature: &[u8], hash: JoseHash) -> bool {
        use p256::ecdsa::signature::Verifier;
        use sha2::{Sha384, Sha512};
        match (&self.inner, hash) {
            (KeyInner::EcdsaP256(key), JoseHash::Sha256) => {
                let Ok(sig) = p256::ecdsa::Signature::from_slice(signature) else {
                    return false;
                };
                key.verify(message, &sig).is_ok()
            }
            (KeyInner::EcdsaP384(key), JoseHash::Sha384) => {
                let Ok(sig) = p384::ecdsa::Signature::from_slice(signature) else {
                    return false;
                };
                key.verify(message, &sig).is_ok()
            }
            (KeyInner::Rsa(key), hash) => {
                let Ok(sig) = rsa::pss::Signature::try_from(signature) else {
                    return false;
                };
                // `VerifyingKey::new` requires a salt as long as the digest.
                match hash {
                    JoseHash::Sha256 => rsa::pss::VerifyingKey::<Sha256>::new(key.clone())
                        .verify(message, &sig)
                        .is_ok(),
                    JoseHash::Sha384 => rsa::pss::VerifyingKey::<Sha384>::new(key.clone())
                        .verify(message, &sig)
                        .is_ok(),
                    JoseHash::Sha512 => rsa::pss::VerifyingKey::<Sha512>::new(key.clone())
                        .verify(message, &sig)
                        .is_ok(),
                }
            }
            _ => false,
        }
    }

    /// Whether `signature` is valid over an already computed digest `prehash` (a Sigstore
    /// message signature signs the artifact's SHA-256). ECDSA signatures are ASN.1 DER; RSA uses
    /// `rsa_scheme` with SHA-256; Ed25519 cannot sign a prehash here and is `false`.
    pub fn verifies_prehashed(
        &self,
        prehash: &[u8],
        signature: &[u8],
        rsa_scheme: RsaScheme,
    ) -> bool {
        use p256::ecdsa::signature::hazmat::PrehashVerifier;
        match &self.inner {
            KeyInner::EcdsaP256(key) => {
                let Ok(sig) = p256::ecdsa::DerSignature::from_bytes(signature) else {
                    return false;
                };
                key.verify_prehash(prehash, &sig).is_ok()
            }
            KeyInner::EcdsaP384(key) => {
                let Ok(sig) = p384::ecdsa::DerSignature::from_bytes(signature) else {
                    return false;
                };
                key.verify_prehash(prehash, &sig).is_ok()
            }
            KeyInner::Ed25519(_) => false,
            KeyInner::Rsa(key) => {
                if prehash.len() != 32 {
                    return false;
                }
                match rsa_scheme {
                    RsaScheme::Pkcs1v15Sha256 => {
                        let Ok(sig) = rsa::pkcs1v15::Signature::try_from(signature) else {
                            return false;
                        };
                        rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key.clone())
                            .verify_prehash(prehash, &sig)
                            .is_ok()
                    }
                    RsaScheme::PssSha256 => {
                        let Ok(sig) = rsa::pss::Signature::try_from(signature) else {
                            return false;
                        };
                        rsa::pss::VerifyingKey::<Sha256>::new(key.clone())
                            .verify_prehash(prehash, &sig)
                            .is_ok()
                    }
                }
            }
        }
    }

    /// Whether `signature` is a valid signature of `message` under this key.
    ///
    /// `rsa_scheme` is used only for RSA keys. Every failure (malformed encoding, wrong length,
    /// mismatch) is `false`: callers report it coarsely.
    pub fn verifies(&self, message: &[u8], signature: &[u8], rsa_scheme: RsaScheme) -> bool {
        use p256::ecdsa::signature::Verifier;
        match &self.inner {
            KeyInner::EcdsaP256(key) => {
                // cosign signatures are ASN.1 DER; a raw r||s encoding is not accepted.
                let Ok(sig) = p256::ecdsa::DerSignature::from_bytes(signature) else {
                    return false;
                };
                key.verify(message, &sig).is_ok()
            }
            // cosign hashes with SHA-256 whatever the curve; only certificates carry P-384 keys.
            KeyInner::EcdsaP384(_) => self.verifies_prehashed(
                &Sha256::digest(message),
                signature,
                RsaScheme::Pkcs1v15Sha256,
            ),
            KeyInner::Ed25519(key) => {
                let Ok(sig) = ed25519_dalek::Signature::from_slice(signature) else {
                    return false;
                };
                // verify_strict rejects small-order keys and non-canonical signatures.
                key.verify_strict(message, &sig).is_ok()
            }
            KeyInner::Rsa(key) => match rsa_scheme {
                RsaScheme::Pkcs1v15Sha256 => {
                    let Ok(sig) = rsa::pkcs1v15::Signature::try_from(signature) else {
                        return false;
                    };
                    rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key.clone())
                        .verify(message, &sig)
                        .is_ok()
                }
                RsaScheme::PssSha256 => {
                    let Ok(sig) = rsa::pss::Signature::try_from(signature) else {
                        return false;
                    };
                    rsa::pss::VerifyingKey::<Sha256>::new(key.clone()).verify(message, &sig).is_ok()
                }
            },
        }
    }
}

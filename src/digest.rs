//! Content digests (`sha256:<64 hex>`, `sha512:<128 hex>`), parsed and checked.
//!
//! Every byte kit uses is addressed by a [`Digest`]; [`Verifier`] checks a stream against one
//! while it is read, so unverified bytes are never handed on.

use std::fmt;
use std::io::{self, Read};
use std::str::FromStr;

use sha2::{Digest as _, Sha256, Sha512};

/// A content digest as OCI spells it: `algorithm:hex`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

/// A digest algorithm kit accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Algorithm {
    /// SHA-256, the OCI default.
    Sha256,
    /// SHA-512.
    Sha512,
}

/// Why a string is not a digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DigestError {
    /// No `:` between algorithm and hex.
    #[error("invalid digest {0:?}: expected algorithm:hex, such as sha256:<64 hex digits>")]
    NoSeparator(String),
    /// An algorithm other than sha256 or sha512.
    #[error("invalid digest {0:?}: unsupported algorithm (expected sha256 or sha512)")]
    Algorithm(String),
    /// Wrong length or a character that is not lowercase hex.
    #[error("invalid digest {digest:?}: expected {expected} lowercase hex digits")]
    Hex {
        /// The whole digest string.
        digest: String,
        /// The number of hex digits the algorithm needs.
        expected: usize,
    },
}

impl Algorithm {
    /// The name used in digest strings.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

impl Digest {
    /// The SHA-256 digest of `bytes`.
    pub fn sha256(bytes: &[u8]) -> Digest {
        Digest { algorithm: Algorithm::Sha256, hex: hex::encode(Sha256::digest(bytes)) }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The lowercase hex part (the file name under `blobs/<algorithm>/`).
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// True when `bytes` hash to this digest.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        let actual = match self.algorithm {
            Algorithm::Sha256 => hex::encode(Sha256::digest(bytes)),
            Algorithm::Sha512 => hex::encode(Sha512::digest(bytes)),
        };
        actual == self.hex
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Digest, DigestError> {
        let (algorithm, hex) =
            s.split_once(':').ok_or_else(|| DigestError::NoSeparator(s.to_owned()))?;
        let algorithm = match algorithm {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            _ => return Err(DigestError::Algorithm(s.to_owned())),
        };
        let well_formed = hex.len() == algorithm.hex_len()
            && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !well_formed {
            return Err(DigestError::Hex { digest: s.to_owned(), expected: algorithm.hex_len() });
        }
        Ok(Digest { algorithm, hex: hex.to_owned() })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), self.hex)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Digest, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

enum Hasher {
    Sha256(Sha256),
    Sha512(Sha512),
}

/// A reader that hashes and counts what passes through it and, at end of stream, fails unless
/// the bytes match the expected digest and size.
///
/// The error at end of stream is `io::ErrorKind::InvalidData`; callers that buffer data must
/// discard it on any error.
pub struct Verifier<R> {
    inner: R,
    expected: Digest,
    expected_size: Option<u64>,
    hasher: Hasher,
    read_bytes: u64,
    done: bool,
}

impl<R: Read> Verifier<R> {
    /// Wraps `inner`, expecting `digest` and, when given, exactly `size` bytes.
    pub fn new(inner: R, digest: &Digest, size: Option<u64>) -> Verifier<R> {
        let hasher = match digest.algorithm {
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(Sha512::new()),
        };
        Verifier {
            inner,
            expected: digest.clone(),
            expected_size: size,
            hasher,
            read_bytes: 0,
            done: false,
        }
    }

    fn finish(&mut self) -> io::Result<()> {
        self.done = true;
        let actual = match &mut self.hasher {
            Hasher::Sha256(h) => hex::encode(h.finalize_reset()),
            Hasher::Sha512(h) => hex::encode(h.finalize_reset()),
        };
        if let Some(size) = self.expected_size
            && size != self.read_bytes
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "size mismatch for {}: expected {size} bytes, got {}",
                    self.expected, self.read_bytes
                ),
            ));
        }
        if actual != self.expected.hex {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "digest mismatch: expected {}, got {}:{actual}",
                    self.expected,
                    self.expected.algorithm.name()
                ),
            ));
        }
        Ok(())
    }
}

impl<R: Read> Read for Verifier<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if n == 0 {
            self.finish()?;
            return Ok(0);
        }
        let chunk = &buf[..n];
        match &mut self.hasher {
            Hasher::Sha256(h) => h.update(chunk),
            Hasher::Sha512(h) => h.update(chunk),
        }
        self.read_bytes += u64::try_from(n).unwrap_or(u64::MAX);
        if let Some(size) = self.expected_size
            && self.read_bytes > size
        {
            self.done = true;
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("size mismatch for {}: more than the expected {size} bytes", self.expected),
            ));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_and_prints() {
        let digest: Digest = EMPTY.parse().unwrap();
        assert_eq!(digest.to_string(), EMPTY);
        assert_eq!(digest, Digest::sha256(b""));
        assert!(digest.matches(b""));
        assert!(!digest.matches(b"x"));
    }

    #[test]
    fn rejects_malformed() {
        for bad in ["sha256", "md5:abcd", "sha256:ABC", &EMPTY.to_uppercase(), &EMPTY[..70]] {
            assert!(bad.parse::<Digest>().is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn verifier_accepts_exact_bytes_only() {
        let good = Digest::sha256(b"hello");
        let mut out = Vec::new();
        Verifier::new(&b"hello"[..], &good, Some(5)).read_to_end(&mut out).unwrap();
        assert_eq!(out, b"hello");

        let err = Verifier::new(&b"hellO"[..], &good, Some(5)).read_to_end(&mut Vec::new());
        assert!(err.unwrap_err().to_string().contains("digest mismatch"));
        let err = Verifier::new(&b"hell"[..], &good, Some(5)).read_to_end(&mut Vec::new());
        assert!(err.unwrap_err().to_string().contains("size mismatch"));
        let err = Verifier::new(&b"hello!"[..], &good, Some(5)).read_to_end(&mut Vec::new());
        assert!(err.unwrap_err().to_string().contains("size mismatch"));
    }
}

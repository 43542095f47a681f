//! Authenticode signatures on PE/EFI images for UEFI Secure Boot, deterministic: signing the
//! same image with the same key and certificate gives the same bytes.
//!
//! Implements Microsoft's "Windows Authenticode Portable Executable Signature Format" (1.0):
//!
//! - the image is padded with zeros to a multiple of 8 bytes and its Authenticode SHA-256
//!   digest is computed by [`formats::pe::image_digest`] ("Calculating the PE Image Hash");
//! - a PKCS #7 (RFC 2315) `SignedData` wraps an `SpcIndirectDataContent` holding that digest
//!   ("Authenticode-Specific Structures"), the signer's certificate and one `SignerInfo` with the
//!   authenticated attributes `contentType`, `messageDigest` and an empty `SpcSpOpusInfo`, and
//!   an RSASSA-PKCS1-v1_5 SHA-256 signature (deterministic, RFC 8017 §8.2) or an ECDSA P-256
//!   SHA-256 one (deterministic nonces, RFC 6979);
//! - the DER is wrapped in a `WIN_CERTIFICATE` (revision 0x0200, type `WIN_CERT_TYPE_PKCS_SIGNED_DATA`),
//!   appended at the end of the image (8-byte aligned), data directory 4
//!   (`IMAGE_DIRECTORY_ENTRY_SECURITY`) gets its file offset and size, and the `CheckSum` is
//!   recomputed.
//!
//! An image that is already signed has its certificate table replaced (the old signatures are
//! dropped), provided the table is at the end of the file as the format requires.
//!
//! # Not supported
//!
//! - `signingTime` and timestamps (RFC 3161 countersignatures): they would make the output
//!   depend on the clock, and Secure Boot verification does not need them.
//! - Ed25519 keys and ECDSA on curves other than P-256. UEFI `db` entries are RSA-2048 in
//!   practice and firmware may not verify ECDSA: the OVMF boot test signs with RSA.
//! - Encrypted private keys (decrypt them with `openssl pkey` first), certificate chains (only
//!   the signer's certificate is embedded), and several signatures on one image.

use std::fmt;
use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use der::asn1::ObjectIdentifier;
use der::{Decode, Encode};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, PrivateKeyInfoRef};
use rsa::signature::{SignatureEncoding, Signer as _};
use rsa::traits::PublicKeyParts;
use sha2::{Digest, Sha256};
use x509_cert::Certificate;

use formats::pe::checksum::PeChecksum;
use formats::pe::optional_header::CERTIFICATE_TABLE;

/// Smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;

/// A private key and its certificate, ready to sign PE images.
#[derive(Clone)]
pub struct Signer {
    /// The private key.
    key: Key,
    /// The certificate, DER, as embedded in the signature.
    cert_der: Vec<u8>,
    /// The certificate's issuer `Name`, DER.
    issuer_der: Vec<u8>,
    /// The certificate's `serialNumber`, DER (an INTEGER).
    serial_der: Vec<u8>,
    /// The key's size in bits (the RSA modulus, or 256 for P-256).
    key_bits: usize,
}

/// A private key of a supported kind.
#[derive(Clone)]
enum Key {
    /// RSA, signing with PKCS #1 v1.5 and SHA-256.
    Rsa(rsa::pkcs1v15::SigningKey<Sha256>),
    /// ECDSA on P-256 with SHA-256.
    EcdsaP256(p256::ecdsa::SigningKey),
}

/// Errors loading a key or certificate or signing an image. Each names the input at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The private key cannot be used.
    #[error("private key: {problem}")]
    Key {
        /// What is wrong, and what was expected.
        problem: String,
    },
    /// The certificate cannot be used.
    #[error("certificate: {problem}")]
    Certificate {
        /// What is wrong, and what was expected.
        problem: String,
    },
    /// The certificate is for another key.
    #[error(
        "the certificate does not match the private key: the certificate's public key differs from the key's"
    )]
    Mismatch,
    /// Reading the key or certificate file failed.
    #[error("reading {path}: {source}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// An error about the named file.
    #[error("{}: {source}", path.display())]
    InFile {
        /// The key or certificate file.
        path: PathBuf,
        /// What is wrong with it.
        source: Box<Error>,
    },
    /// The image is not a PE32+ image this module can sign.
    #[error("PE image: {0}")]
    Image(#[from] formats::pe::Error),
    /// The image's layout does not allow a signature.
    #[error("PE image: {problem}")]
    Layout {
        /// What is out of place.
        problem: String,
    },
    /// Reading the image failed.
    #[error("reading the PE image at byte {offset}: {source}")]
    Read {
        /// Where.
        offset: u64,
        /// The error.
        source: io::Error,
    },
    /// Writing the signed image failed.
    #[error("writing the signed PE image: {source}")]
    Write {
        /// The error.
        source: io::Error,
    },
    /// The signature could not be computed.
    #[error("signing with the {bits}-bit {algorithm} key failed")]
    Sign {
        /// The key's algorithm.
        algorithm: &'static str,
        /// The key's size.
        bits: usize,
    },
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the private key.
        f.debug_struct("Signer")
            .field("key_bits", &self.key_bits)
            .field("cert_der_len", &self.cert_der.len())
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// Loads a PEM private key (not encrypted: PKCS #8 `PRIVATE KEY`, PKCS #1 `RSA PRIVATE KEY`
    /// or SEC1 `EC PRIVATE KEY`; RSA of at least 2048 bits or ECDSA P-256) and the PEM
    /// certificate of its public key (the first `CERTIFICATE` block).
    pub fn from_pem(key_pem: &[u8], cert_pem: &[u8]) -> Result<Signer, Error> {
        let parsed = parse_key(key_pem)?;
        if let ParsedKey::Rsa(key) = &parsed {
            let key_bits = key.size() * 8;
            if key_bits < MIN_RSA_BITS {
                return Err(Error::Key {
                    problem: format!(
                        "RSA key of {key_bits} bits, expected at least {MIN_RSA_BITS} bits"
                    ),
                });
            }
        }
        let (cert_der, cert) = parse_certificate(cert_pem)?;
        let tbs = cert.tbs_certificate();
        let spki_der =
            tbs.subject_public_key_info().to_der().map_err(|e| cert_err(e.to_string()))?;
        let cert_algorithm = tbs.subject_public_key_info().algorithm.oid;
        let (key, key_bits) = match parsed {
            ParsedKey::Rsa(key) => {
                if cert_algorithm != RSA_ENCRYPTION {
                    return Err(cert_err(format!(
                        "public key is {}, expected RSA (rsaEncryption, 1.2.840.113549.1.1.1) as the private key",
                        algorithm_name(cert_algorithm)
                    )));
                }
                let cert_key = rsa::PublicKey::from_public_key_der(&spki_der)
                    .map_err(|e| cert_err(format!("RSA public key does not decode: {e}")))?;
                if cert_key != key.to_public_key() {
                    return Err(Error::Mismatch);
                }
                let key_bits = key.size() * 8;
                (Key::Rsa(rsa::pkcs1v15::SigningKey::new(key)), key_bits)
            }
            ParsedKey::EcdsaP256(key) => {
                if cert_algorithm != EC_PUBLIC_KEY {
                    return Err(cert_err(format!(
                        "public key is {}, expected EC P-256 as the private key",
                        algorithm_name(cert_algorithm)
                    )));
                }
                let cert_key = p256::ecdsa::VerifyingKey::from_public_key_der(&spki_der)
                    .map_err(|e| cert_err(format!("P-256 public key does not decode: {e}")))?;
                if &cert_key != key.verifying_key() {
                    return Err(Error::Mismatch);
                }
                (Key::EcdsaP256(key), 256)
            }
        };
        let issuer_der = tbs.issuer().to_der().map_err(|e| cert_err(e.to_string()))?;
        let serial_der = tbs.serial_number().to_der().map_err(|e| cert_err(e.to_string()))?;
        Ok(Signer { key, cert_der, issuer_der, serial_der, key_bits })
    }

    /// Reads the PEM private key and certificate from files ([`Signer::from_pem`]); errors name
    /// the file at fault.
    pub fn from_files(key_path: &Path, cert_path: &Path) -> Result<Signer, Error> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| Error::ReadFile { path: path.to_owned(), source })
        };
        let key_pem = read(key_path)?;
        let cert_pem = read(cert_path)?;
        Signer::from_pem(&key_pem, &cert_pem).map_err(|error| match error {
            Error::Key { .. } => {
                Error::InFile { path: key_path.to_owned(), source: Box::new(error) }
            }
            Error::Certificate { .. } | Error::Mismatch => {
                Error::InFile { path: cert_path.to_owned(), source: Box::new(error) }
            }
            other => other,
        })
    }

    /// The size of the key in bits (the RSA modulus, or 256 for P-256).
    pub fn key_bits(&self) -> usize {
        self.key_bits
    }

    /// The certificate, DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The DER `ContentInfo` (PKCS #7 `SignedData`) signing the Authenticode digest
    /// `image_digest`, as [`sign_pe`] embeds it.
    pub fn authenticode_signed_data(&self, image_digest: &[u8; 32]) -> Result<Vec<u8>, Error> {
        let indirect = spc_indirect_data_content(image_digest);
        // The messageDigest attribute is the hash of the SpcIndirectDataContent's contents
        // octets only, without its SEQUENCE tag and length (PKCS #7 §9.3 digests "the contents
        // octets of the DER encoding of the content field"; Authenticode follows it).
        let content_octets = &indirect[header_len(&indirect)..];
        let message_digest: [u8; 32] = Sha256::digest(content_octets).into();

        let mut attributes = [
            seq(&[&oid(PKCS9_CONTENT_TYPE), &set(&[&oid(SPC_INDIRECT_DATA)])]),
            seq(&[&oid(PKCS9_MESSAGE_DIGEST), &set(&[&octet_string(&message_digest)])]),
            seq(&[&oid(SPC_SP_OPUS_INFO), &set(&[&seq(&[])])]),
        ];
        // DER: the components of a SET OF are sorted by their encodings (X.690 §11.6).
        attributes.sort();
        let attributes = attributes.concat();
        // The signature covers the attributes encoded as a SET (PKCS #7 §9.3), while the
        // SignerInfo carries them under the implicit [0] tag.
        let signed_attributes = tlv(SET, &attributes);
        let (signature, signature_algorithm) = match &self.key {
            Key::Rsa(key) => {
                let signature = key
                    .try_sign(&signed_attributes)
                    .map_err(|_| Error::Sign { algorithm: "RSA", bits: self.key_bits })?;
                (signature.to_vec(), seq(&[&oid(RSA_ENCRYPTION), &NULL]))
            }
            Key::EcdsaP256(key) => {
                let signature: p256::ecdsa::Signature = key
                    .try_sign(&signed_attributes)
                    .map_err(|_| Error::Sign { algorithm: "ECDSA P-256", bits: self.key_bits })?;
                // ECDSA-Sig-Value (RFC 5480 §2.2.3), algorithm without parameters (RFC 5758).
                (signature.to_der().to_vec(), seq(&[&oid(ECDSA_WITH_SHA256)]))
            }
        };

        let signer_info = seq(&[
            &integer_one(),
            &seq(&[&self.issuer_der, &self.serial_der]),
            &sha256_algorithm(),
            &tlv(CONTEXT_0, &attributes),
            &signature_algorithm,
            &octet_string(&signature),
        ]);
        let signed_data = seq(&[
            &integer_one(),
            &set(&[&sha256_algorithm()]),
            &seq(&[&oid(SPC_INDIRECT_DATA), &tlv(CONTEXT_0, &indirect)]),
            &tlv(CONTEXT_0, &self.cert_der),
            &set(&[&signer_info]),
        ]);
        Ok(seq(&[&oid(PKCS7_SIGNED_DATA), &tlv(CONTEXT_0, &signed_data)]))
    }
}

/// Signs the PE32+ image `image`: returns it padded to 8 bytes, with the signature's
/// certificate table appended, data directory 4 pointing at it and the checksum updated. An
/// existing certificate table at the end of the image is replaced. In memory; see
/// [`sign_pe_stream`] for files.
pub fn sign_pe(image: &[u8], signer: &Signer) -> Result<Vec<u8>, Error> {
    let mut out = Cursor::new(Vec::with_capacity(image.len().saturating_add(8 << 10)));
    sign_pe_stream(&mut Cursor::new(image), &mut out, signer)?;
    Ok(out.into_inner())
}

/// Signs the PE32+ image read from `input` as [`sign_pe`] does, writing the signed image to
/// `out`, 64 KiB at a time; returns the signed image's length. Reads the input three times (the
/// digest, the checksum, the copy), so `out` never seeks.
pub fn sign_pe_stream(
    input: &mut (impl Read + Seek),
    out: &mut impl Write,
    signer: &Signer,
) -> Result<u64, Error> {
    sign_pe_inner(input, out, signer)
}

/// A reader that can seek, as a trait object.
trait ReadSeek: Read + Seek {}
impl<T: Read + Seek + ?Sized> ReadSeek for T {}

/// The non-generic body of [`sign_pe_stream`].
fn sign_pe_inner(
    input: &mut dyn ReadSeek,
    out: &mut dyn Write,
    signer: &Signer,
) -> Result<u64, Error> {
    // `&mut dyn ReadSeek` is itself `Read + Seek` (and sized).
    let mut input = input;
    let (headers, file_len) = formats::pe::read_headers(&mut input)?;
    let body_len = unsigned_len(&headers, file_len)?;
    let padded_len = body_len.next_multiple_of(8);
    let directory_offset = headers.directory_offset(CERTIFICATE_TABLE).ok_or_else(|| {
        Error::Layout {
            problem: format!(
                "the optional header has {} data directories, a signature needs the certificate table's (index {CERTIFICATE_TABLE})",
                headers.optional.data_directories.len()
            ),
        }
    })?;
    let directory_offset = u64::try_from(directory_offset).unwrap_or(u64::MAX);
    let checksum_offset = u64::try_from(headers.checksum_offset()).unwrap_or(u64::MAX);

    // The digest of the unsigned image: without the old table, padded, directory entry zero.
    let mut unsigned = Patched {
        inner: input,
        body_len,
        padded_len,
        patches: vec![(directory_offset, [0; 8].to_vec())],
        pos: 0,
    };
    let digest = formats::pe::image_digest(&mut unsigned)?;
    let signed_data = signer.authenticode_signed_data(&digest)?;

    let certificate_len = WIN_CERTIFICATE_HEADER_BYTES + signed_data.len();
    let table_len = certificate_len.next_multiple_of(8);
    let too_large = |what: &str, value: u64| Error::Layout {
        problem: format!("{what} is {value} bytes, the certificate table's fields are 32-bit"),
    };
    let table_offset_u32 =
        u32::try_from(padded_len).map_err(|_| too_large("the image", padded_len))?;
    let table_len_u32 = u32::try_from(table_len)
        .map_err(|_| too_large("the signature", u64::try_from(table_len).unwrap_or(u64::MAX)))?;
    let certificate_len_u32 = u32::try_from(certificate_len).map_err(|_| {
        too_large("the signature", u64::try_from(certificate_len).unwrap_or(u64::MAX))
    })?;
    let mut table = Vec::with_capacity(table_len);
    // WIN_CERTIFICATE: dwLength (the header and the signature, without the padding), wRevision,
    // wCertificateType, bCertificate.
    table.extend_from_slice(&certificate_len_u32.to_le_bytes());
    table.extend_from_slice(&WIN_CERT_REVISION_2_0.to_le_bytes());
    table.extend_from_slice(&WIN_CERT_TYPE_PKCS_SIGNED_DATA.to_le_bytes());
    table.extend_from_slice(&signed_data);
    table.resize(table_len, 0);

    // The data directory's VirtualAddress is a file offset for the certificate table.
    let mut entry = table_offset_u32.to_le_bytes().to_vec();
    entry.extend_from_slice(&table_len_u32.to_le_bytes());
    unsigned.patches = vec![(directory_offset, entry), (checksum_offset, [0; 4].to_vec())];
    let mut sum = PeChecksum::new();
    copy_range(&mut unsigned, padded_len, &mut |chunk| {
        sum.update(chunk);
        Ok(())
    })?;
    sum.update(&table);
    let checksum = sum.finish();

    unsigned.patches[1].1 = checksum.to_le_bytes().to_vec();
    copy_range(&mut unsigned, padded_len, &mut |chunk| {
        out.write_all(chunk).map_err(|source| Error::Write { source })
    })?;
    out.write_all(&table).map_err(|source| Error::Write { source })?;
    Ok(padded_len + u64::from(table_len_u32))
}

/// The length of the image without its certificate table: the whole file when unsigned, the
/// table's offset when the table ends the file (up to 7 bytes of padding after it).
fn unsigned_len(headers: &formats::pe::PeHeaders, file_len: u64) -> Result<u64, Error> {
    let table = headers.certificate_table();
    if table.virtual_address == 0 && table.size == 0 {
        return Ok(file_len);
    }
    let start = u64::from(table.virtual_address);
    let table_end = start + u64::from(table.size);
    // The table must be the file's last bytes (the Authenticode digest excludes only those).
    let at_end = table_end <= file_len && file_len - table_end < 8;
    if !at_end || start < u64::from(headers.optional.size_of_headers) {
        return Err(Error::Layout {
            problem: format!(
                "the existing certificate table at {start} ({} bytes) is not at the end of the {file_len}-byte image, so it cannot be replaced",
                table.size
            ),
        });
    }
    Ok(start)
}

/// The image as it is signed: the input's first `body_len` bytes, zeros up to `padded_len`, and
/// `patches` (offset, bytes) written over it.
struct Patched<'a> {
    inner: &'a mut dyn ReadSeek,
    body_len: u64,
    padded_len: u64,
    patches: Vec<(u64, Vec<u8>)>,
    pos: u64,
}

impl Read for Patched<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.padded_len.saturating_sub(self.pos);
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        if want == 0 {
            return Ok(0);
        }
        let buf = &mut buf[..want];
        let from_input =
            usize::try_from(self.body_len.saturating_sub(self.pos)).unwrap_or(usize::MAX).min(want);
        if from_input > 0 {
            self.inner.seek(SeekFrom::Start(self.pos))?;
            self.inner.read_exact(&mut buf[..from_input])?;
        }
        buf[from_input..].fill(0);
        let (start, end) = (self.pos, self.pos + u64::try_from(want).unwrap_or(u64::MAX));
        for (at, bytes) in &self.patches {
            let patch_end = at + u64::try_from(bytes.len()).unwrap_or(u64::MAX);
            if *at >= end || patch_end <= start {
                continue;
            }
            let from = at.max(&start);
            let to = patch_end.min(end);
            for offset in *from..to {
                // Both offsets are inside the ranges just checked.
                let dst = usize::try_from(offset - start).unwrap_or(0);
                let src = usize::try_from(offset - at).unwrap_or(0);
                buf[dst] = bytes[src];
            }
        }
        self.pos = end;
        Ok(want)
    }
}

impl Seek for Patched<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(pos) => Some(pos),
            SeekFrom::End(delta) => self.padded_len.checked_add_signed(delta),
            SeekFrom::Current(delta) => self.pos.checked_add_signed(delta),
        };
        let pos = pos.ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "seek before the start of the image")
        })?;
        self.pos = pos;
        Ok(pos)
    }
}

/// Gives the first `len` bytes of `image` to `sink`, 64 KiB at a time.
fn copy_range(
    image: &mut Patched<'_>,
    len: u64,
    sink: &mut dyn FnMut(&[u8]) -> Result<(), Error>,
) -> Result<(), Error> {
    image.seek(SeekFrom::Start(0)).map_err(|source| Error::Read { offset: 0, source })?;
    let mut buf = vec![0u8; 64 << 10];
    let mut done = 0;
    while done < len {
        let step = usize::try_from(len - done).unwrap_or(usize::MAX).min(buf.len());
        image
            .read_exact(&mut buf[..step])
            .map_err(|source| Error::Read { offset: done, source })?;
        sink(&buf[..step])?;
        done += u64::try_from(step).unwrap_or(u64::MAX);
    }
    Ok(())
}

/// A decoded private key.
enum ParsedKey {
    Rsa(rsa::PrivateKey),
    EcdsaP256(p256::ecdsa::SigningKey),
}

/// The private key of `pem`.
fn parse_key(pem: &[u8]) -> Result<ParsedKey, Error> {
    let key_err = |problem: String| Error::Key { problem };
    let (label, der) = decode_pem(pem).map_err(key_err)?;
    match label.as_str() {
        "PRIVATE KEY" => {
            let info = PrivateKeyInfoRef::try_from(der.as_slice())
                .map_err(|e| key_err(format!("PKCS #8 structure does not decode: {e}")))?;
            match info.algorithm.oid {
                RSA_ENCRYPTION => rsa::PrivateKey::from_pkcs8_der(&der)
                    .map(ParsedKey::Rsa)
                    .map_err(|e| key_err(format!("RSA key does not decode: {e}"))),
                EC_PUBLIC_KEY => p256::ecdsa::SigningKey::from_pkcs8_der(&der)
                    .map(ParsedKey::EcdsaP256)
                    .map_err(|e| key_err(format!("EC key is not a P-256 key: {e}"))),
                other => Err(key_err(format!(
                    "{} key, expected an RSA or EC P-256 key",
                    algorithm_name(other)
                ))),
            }
        }
        "RSA PRIVATE KEY" => rsa::PrivateKey::from_pkcs1_der(&der)
            .map(ParsedKey::Rsa)
            .map_err(|e| key_err(format!("PKCS #1 RSA key does not decode: {e}"))),
        "EC PRIVATE KEY" => p256::SecretKey::from_sec1_der(&der)
            .map(|secret| ParsedKey::EcdsaP256(secret.into()))
            .map_err(|e| key_err(format!("SEC1 EC key is not a P-256 key: {e}"))),
        "ENCRYPTED PRIVATE KEY" => Err(key_err(
            "the key is encrypted, expected an unencrypted key (decrypt it with `openssl pkey -in KEY -out PLAIN`)".to_owned(),
        )),
        "CERTIFICATE" => Err(key_err(
            "found a CERTIFICATE, expected a PRIVATE KEY (are the key and certificate swapped?)"
                .to_owned(),
        )),
        other => Err(key_err(format!(
            "PEM block is {other:?}, expected \"PRIVATE KEY\", \"RSA PRIVATE KEY\" or \"EC PRIVATE KEY\""
        ))),
    }
}

/// The DER and the parsed form of the first certificate in `pem`.
fn parse_certificate(pem: &[u8]) -> Result<(Vec<u8>, Certificate), Error> {
    let (label, der) = decode_pem(pem).map_err(cert_err)?;
    if label != "CERTIFICATE" {
        let hint = if label.contains("PRIVATE KEY") {
            " (are the key and certificate swapped?)"
        } else {
            ""
        };
        return Err(cert_err(format!("PEM block is {label:?}, expected \"CERTIFICATE\"{hint}")));
    }
    let cert = Certificate::from_der(&der)
        .map_err(|e| cert_err(format!("X.509 certificate does not decode: {e}")))?;
    Ok((der, cert))
}

fn cert_err(problem: String) -> Error {
    Error::Certificate { problem }
}

/// The label and contents of the first PEM block in `pem`; text before it (as `openssl x509
/// -text` writes) is skipped.
fn decode_pem(pem: &[u8]) -> Result<(String, Vec<u8>), String> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    let Some(start) = pem.windows(BEGIN.len()).position(|w| w == BEGIN) else {
        return Err("no PEM block (\"-----BEGIN \" not found)".to_owned());
    };
    let block = &pem[start..];
    // The first block ends after its END line; PEM parsing wants exactly one block.
    let end_marker = b"-----END ";
    let end = block
        .windows(end_marker.len())
        .position(|w| w == end_marker)
        .and_then(|at| {
            let rest = &block[at + end_marker.len()..];
            let close = rest.windows(5).position(|w| w == b"-----")?;
            Some(at + end_marker.len() + close + 5)
        })
        .ok_or_else(|| "PEM block has no END line".to_owned())?;
    let (label, der) =
        der::pem::decode_vec(&block[..end]).map_err(|e| format!("PEM does not decode: {e}"))?;
    Ok((label.to_owned(), der))
}

/// A readable name for a public key algorithm.
fn algorithm_name(oid: ObjectIdentifier) -> String {
    match oid {
        RSA_ENCRYPTION => "an RSA (rsaEncryption)".to_owned(),
        EC_PUBLIC_KEY => "an EC (id-ecPublicKey)".to_owned(),
        ED25519 => "an Ed25519".to_owned(),
        other => format!("a key of algorithm {other}"),
    }
}

// Object identifiers.
/// rsaEncryption (PKCS #1).
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// id-ecPublicKey (RFC 5480).
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// id-Ed25519 (RFC 8410).
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
/// ecdsa-with-SHA256 (RFC 5758).
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
/// id-sha256 (NIST).
const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
/// signedData (PKCS #7).
const PKCS7_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
/// contentType attribute (PKCS #9).
const PKCS9_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
/// messageDigest attribute (PKCS #9).
const PKCS9_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
/// SPC_INDIRECT_DATA_OBJID.
const SPC_INDIRECT_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.1.4");
/// SPC_SP_OPUS_INFO_OBJID.
const SPC_SP_OPUS_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.1.12");
/// SPC_PE_IMAGE_DATAOBJ.
const SPC_PE_IMAGE_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.1.15");

/// `WIN_CERTIFICATE` header: dwLength (4), wRevision (2), wCertificateType (2).
const WIN_CERTIFICATE_HEADER_BYTES: usize = 8;
/// WIN_CERT_REVISION_2_0.
const WIN_CERT_REVISION_2_0: u16 = 0x0200;
/// WIN_CERT_TYPE_PKCS_SIGNED_DATA.
const WIN_CERT_TYPE_PKCS_SIGNED_DATA: u16 = 0x0002;

// DER tags (X.690).
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OCTET_STRING: u8 = 0x04;
const OID: u8 = 0x06;
const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const CONTEXT_0: u8 = 0xA0;
const CONTEXT_2: u8 = 0xA2;
/// `[0] IMPLICIT` on a primitive (BMPString in `SpcString`).
const CONTEXT_0_PRIMITIVE: u8 = 0x80;
/// The DER of NULL (algorithm parameters).
const NULL: [u8; 2] = [0x05, 0x00];

/// `SpcIndirectDataContent` for a PE image with Authenticode digest `digest`:
///
/// ```text
/// SpcIndirectDataContent ::= SEQUENCE {
///     data          SpcAttributeTypeAndOptionalValue,  -- SPC_PE_IMAGE_DATAOBJ, SpcPeImageData
///     messageDigest DigestInfo }                       -- sha256, digest
/// SpcPeImageData ::= SEQUENCE {
///     flags SpcPeImageFlags DEFAULT { includeResources },  -- an empty BIT STRING
///     file  [0] SpcLink }  -- file [2] SpcString, unicode [0] IMPLICIT "<<<Obsolete>>>"
/// ```
///
/// The flags and the obsolete file link are what signtool, sbsign and osslsigncode write.
fn spc_indirect_data_content(digest: &[u8; 32]) -> Vec<u8> {
    let obsolete: Vec<u8> =
        "<<<Obsolete>>>".encode_utf16().flat_map(|unit| unit.to_be_bytes()).collect();
    let file_link = tlv(CONTEXT_0, &tlv(CONTEXT_2, &tlv(CONTEXT_0_PRIMITIVE, &obsolete)));
    let flags = tlv(BIT_STRING, &[0x00]);
    let pe_image_data = seq(&[&flags, &file_link]);
    let data = seq(&[&oid(SPC_PE_IMAGE_DATA), &pe_image_data]);
    let digest_info = seq(&[&sha256_algorithm(), &octet_string(digest)]);
    seq(&[&data, &digest_info])
}

/// AlgorithmIdentifier { id-sha256, NULL }.
fn sha256_algorithm() -> Vec<u8> {
    seq(&[&oid(SHA256), &NULL])
}

fn integer_one() -> Vec<u8> {
    tlv(INTEGER, &[0x01])
}

fn oid(oid: ObjectIdentifier) -> Vec<u8> {
    tlv(OID, oid.as_bytes())
}

fn octet_string(bytes: &[u8]) -> Vec<u8> {
    tlv(OCTET_STRING, bytes)
}

fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(SEQUENCE, &parts.concat())
}

/// A SET OF with its components sorted by encoding (X.690 §11.6).
fn set(parts: &[&[u8]]) -> Vec<u8> {
    let mut sorted = parts.to_vec();
    sorted.sort();
    tlv(SET, &sorted.concat())
}

/// Tag, definite length (X.690 §8.1.3: short form below 128, else the fewest big-endian
/// bytes), contents.
fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
    let len = contents.len();
    let len_bytes = len.to_be_bytes();
    let first_nonzero = len_bytes.iter().position(|b| *b != 0).unwrap_or(len_bytes.len());
    let mut out = Vec::with_capacity(contents.len() + 10);
    out.push(tag);
    match u8::try_from(len) {
        Ok(short) if short < 0x80 => out.push(short),
        _ => {
            let significant = &len_bytes[first_nonzero..];
            // At most size_of::<usize>() = 8 bytes, so the count fits 7 bits.
            out.push(0x80 | u8::try_from(significant.len()).unwrap_or(0x7F));
            out.extend_from_slice(significant);
        }
    }
    out.extend_from_slice(contents);
    out
}

/// The length of the tag and length octets at the start of `der` (made by [`tlv`]).
fn header_len(der: &[u8]) -> usize {
    match der.get(1) {
        Some(len) if *len >= 0x80 => 2 + usize::from(len & 0x7F),
        _ => 2,
    }
}

#[cfg(test)]
mod tests;

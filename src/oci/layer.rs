//! Layer decoding: plain tar, gzip and zstd, with digest and `diff_id` checks.
//!
//! The decoder is chosen from the magic bytes when they name a compression (gzip `1f 8b`, zstd
//! `28 b5 2f fd` or a skippable frame), as containerd does, since some producers label layers
//! wrongly; otherwise the media type decides, and a media type that declares a compression the
//! bytes do not have is an error ([`Error::LayerCompression`]). Unknown media types with no magic
//! are read as plain tar. Encrypted layers are refused earlier, by [`ResolvedImage::new`].
//!
//! gzip uses `MultiGzDecoder` (concatenated members); zstd uses the pure-Rust `ruzstd` decoder
//! looped over frames (its streaming decoder stops after one) and skips skippable frames.
//! `ruzstd` rather than the C `zstd` crate keeps the build free of another C library; kit only
//! decodes zstd.
//!
//! [`open_layer`] returns a reader of the uncompressed tar that fails at end of stream unless
//! both the compressed bytes match the layer's digest and size and the uncompressed bytes match
//! its `diff_id`. Callers must read it to the very end (the tar reader stops at the end-of-archive
//! marker, before the padding) for the checks to run.
//!
//! [`ResolvedImage::new`]: super::ResolvedImage::new

use std::fmt;
use std::io::{self, BufRead, BufReader, Cursor, Read};

use flate2::read::MultiGzDecoder;
use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};

use super::spec::Descriptor;
use super::{Error, ImageSource, media_type};
use crate::digest::{Digest, Verifier};

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar stream.
    None,
    /// gzip, possibly several concatenated members.
    Gzip,
    /// zstd, possibly several frames.
    Zstd,
}

impl Compression {
    /// The compression a layer media type declares; `None` for media types kit does not know
    /// (then the magic bytes decide).
    pub fn from_media_type(media_type: &str) -> Option<Compression> {
        if !media_type::is_known_layer(media_type) {
            return None;
        }
        if media_type.ends_with("+gzip") || media_type.ends_with(".tar.gzip") {
            Some(Compression::Gzip)
        } else if media_type.ends_with("+zstd") {
            Some(Compression::Zstd)
        } else {
            Some(Compression::None)
        }
    }

    /// The compression the first bytes of a blob reveal, if any.
    pub fn sniff(prefix: &[u8]) -> Option<Compression> {
        match prefix {
            [0x1f, 0x8b, ..] => Some(Compression::Gzip),
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Some(Compression::Zstd),
            // Skippable zstd frames: magic 0x184D2A50..=0x184D2A5F, little-endian.
            [m, 0x2a, 0x4d, 0x18, ..] if m & 0xf0 == 0x50 => Some(Compression::Zstd),
            _ => None,
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::None => "uncompressed tar",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        })
    }
}

/// Opens layer `layer` of `image` from `source` as a reader of its uncompressed tar, which fails
/// at end of stream unless the blob matches the descriptor and the tar matches `diff_id`.
pub fn open_layer<'a>(
    source: &'a dyn ImageSource,
    image: &str,
    layer: &Descriptor,
    diff_id: &Digest,
) -> Result<Box<dyn Read + Send + 'a>, Error> {
    let blob = source.open_blob(layer)?;
    let blob = Labelled { inner: blob, label: "compressed blob" };
    decode(blob, image, layer, diff_id)
}

/// Decodes an already opened (and verifying) blob reader; see [`open_layer`].
pub fn decode<'a>(
    blob: impl Read + Send + 'a,
    image: &str,
    layer: &Descriptor,
    diff_id: &Digest,
) -> Result<Box<dyn Read + Send + 'a>, Error> {
    let layer_error =
        |source| Error::Layer { image: image.to_owned(), layer: layer.digest.clone(), source };
    let (sniffed, blob) = peek(blob).map_err(layer_error)?;
    let declared = Compression::from_media_type(&layer.media_type);
    let compression = match (sniffed, declared) {
        (Some(sniffed), _) => sniffed,
        (None, None | Some(Compression::None)) => Compression::None,
        (None, Some(declared)) => {
            return Err(Error::LayerCompression {
                image: image.to_owned(),
                layer: layer.digest.clone(),
                media_type: layer.media_type.clone(),
                declared,
                found: Compression::None,
            });
        }
    };
    let decoded: Box<dyn Read + Send + 'a> = match compression {
        Compression::None => Box::new(blob),
        Compression::Gzip => Box::new(MultiGzDecoder::new(blob)),
        Compression::Zstd => Box::new(ZstdFrames::new(BufReader::new(blob))),
    };
    let verified = Verifier::new(decoded, diff_id, None);
    Ok(Box::new(Labelled { inner: verified, label: "uncompressed content (diff_id)" }))
}

/// A stream whose first bytes were read ahead and are given back first.
type Peeked<R> = io::Chain<Cursor<Vec<u8>>, R>;

/// Reads up to four bytes to sniff the compression and gives back a reader of the whole stream.
fn peek<R: Read>(mut reader: R) -> io::Result<(Option<Compression>, Peeked<R>)> {
    let mut prefix = Vec::with_capacity(4);
    (&mut reader).take(4).read_to_end(&mut prefix)?;
    Ok((Compression::sniff(&prefix), Cursor::new(prefix).chain(reader)))
}

/// Prefixes the messages of data errors (digest mismatches) with what was being checked.
struct Labelled<R> {
    inner: R,
    label: &'static str,
}

/// The message of an error that already says what it concerns, so outer layers leave it alone.
#[derive(Debug)]
struct Described(String);

impl fmt::Display for Described {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Described {}

fn described(kind: io::ErrorKind, message: String) -> io::Error {
    io::Error::new(kind, Described(message))
}

impl<R: Read> Read for Labelled<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            let already = e.get_ref().is_some_and(|inner| inner.is::<Described>());
            if e.kind() == io::ErrorKind::InvalidData && !already {
                described(e.kind(), format!("{}: {e}", self.label))
            } else {
                e
            }
        })
    }
}

/// A reader over every frame of a zstd stream.
struct ZstdFrames<R> {
    source: R,
    decoder: FrameDecoder,
    in_frame: bool,
}

impl<R: BufRead> ZstdFrames<R> {
    fn new(source: R) -> ZstdFrames<R> {
        ZstdFrames { source, decoder: FrameDecoder::new(), in_frame: false }
    }
}

fn zstd_error(e: impl fmt::Display) -> io::Error {
    described(io::ErrorKind::InvalidData, format!("zstd: {e}"))
}

impl<R: BufRead> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.in_frame {
                if self.decoder.can_collect() > 0 {
                    return self.decoder.read(buf);
                }
                if self.decoder.is_finished() {
                    let from_data = self.decoder.get_checksum_from_data();
                    let calculated = self.decoder.get_calculated_checksum();
                    if let (Some(expected), Some(found)) = (from_data, calculated)
                        && expected != found
                    {
                        return Err(zstd_error(format!(
                            "frame checksum mismatch: expected {expected:#010x}, found {found:#010x}"
                        )));
                    }
                    self.in_frame = false;
                    continue;
                }
                self.decoder
                    .decode_blocks(&mut self.source, BlockDecodingStrategy::UptoBytes(1 << 20))
                    .map_err(zstd_error)?;
                continue;
            }
            if self.source.fill_buf()?.is_empty() {
                return Ok(0);
            }
            match self.decoder.reset(&mut self.source) {
                Ok(()) => self.in_frame = true,
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                    length,
                    ..
                })) => {
                    let skipped =
                        io::copy(&mut (&mut self.source).take(u64::from(length)), &mut io::sink())?;
                    if skipped != u64::from(length) {
                        return Err(zstd_error(format!(
                            "skippable frame of {length} bytes ends after {skipped} bytes"
                        )));
                    }
                }
                Err(e) => return Err(zstd_error(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::oci::testutil::{gzip, tar_of};

    fn zstd_cli(data: &[u8]) -> Option<Vec<u8>> {
        let mut child = std::process::Command::new("zstd")
            .args(["-q", "-c", "--check"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .ok()?;
        child.stdin.take()?.write_all(data).ok()?;
        let out = child.wait_with_output().ok()?;
        out.status.success().then_some(out.stdout)
    }

    #[allow(clippy::print_stderr, reason = "a skipped test says why")]
    fn zstd_or_skip(data: &[u8]) -> Option<Vec<u8>> {
        let out = zstd_cli(data);
        if out.is_none() {
            assert!(std::env::var_os("CI").is_none(), "the zstd tool is required in CI");
            eprintln!("skipping: the zstd tool is not installed");
        }
        out
    }

    fn layer(media_type: &str, blob: &[u8]) -> Descriptor {
        Descriptor::new(media_type, Digest::sha256(blob), u64::try_from(blob.len()).unwrap())
    }

    /// Decodes `blob` (verified against its own digest) and returns the tar or the error text.
    fn check(media_type: &str, blob: &[u8], diff_id: &Digest) -> Result<Vec<u8>, String> {
        let descriptor = layer(media_type, blob);
        let verified = Verifier::new(blob, &descriptor.digest, Some(descriptor.size));
        let mut reader =
            decode(verified, "img", &descriptor, diff_id).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        reader.read_to_end(&mut out).map_err(|e| e.to_string())?;
        Ok(out)
    }

    #[test]
    fn decodes_plain_gzip_and_multi_member_gzip() {
        let tar = tar_of(&[("a", b"hello")]);
        let diff_id = Digest::sha256(&tar);
        assert_eq!(check(media_type::OCI_LAYER_TAR, &tar, &diff_id).unwrap(), tar);
        assert_eq!(check(media_type::OCI_LAYER_TAR_GZIP, &gzip(&tar), &diff_id).unwrap(), tar);
        assert_eq!(check(media_type::DOCKER_LAYER_TAR_GZIP, &gzip(&tar), &diff_id).unwrap(), tar);
        let (first, second) = tar.split_at(700);
        let two_members = [gzip(first), gzip(second)].concat();
        assert_eq!(check(media_type::OCI_LAYER_TAR_GZIP, &two_members, &diff_id).unwrap(), tar);
        // Mislabelled but recognizable by magic: decoded anyway, like containerd.
        assert_eq!(check(media_type::OCI_LAYER_TAR, &gzip(&tar), &diff_id).unwrap(), tar);
    }

    #[test]
    fn decodes_multi_frame_zstd_from_the_reference_tool() {
        let tar = tar_of(&[("a", &[7u8; 5000][..]), ("b", b"x")]);
        let diff_id = Digest::sha256(&tar);
        let Some(one) = zstd_or_skip(&tar) else { return };
        assert_eq!(check(media_type::OCI_LAYER_TAR_ZSTD, &one, &diff_id).unwrap(), tar);
        let (first, second) = tar.split_at(3000);
        let (Some(a), Some(b)) = (zstd_cli(first), zstd_cli(second)) else { panic!("zstd failed") };
        // A skippable frame between the two data frames.
        let skippable = [&[0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0][..], b"abc"].concat();
        let frames = [a.clone(), skippable, b].concat();
        assert_eq!(check(media_type::OCI_LAYER_TAR_ZSTD, &frames, &diff_id).unwrap(), tar);
        let mut corrupt = a;
        let last = corrupt.len() - 1;
        corrupt[last] ^= 0xff;
        let err =
            check(media_type::OCI_LAYER_TAR_ZSTD, &corrupt, &Digest::sha256(first)).unwrap_err();
        assert!(err.starts_with("zstd: "), "{err}");
    }

    #[test]
    fn diff_id_and_compression_mismatches_are_errors() {
        let tar = tar_of(&[("a", b"hello")]);
        let other = Digest::sha256(b"other");
        let err = check(media_type::OCI_LAYER_TAR_GZIP, &gzip(&tar), &other).unwrap_err();
        assert!(
            err.starts_with("uncompressed content (diff_id): digest mismatch: expected"),
            "{err}"
        );
        let err = check(media_type::OCI_LAYER_TAR_GZIP, &tar, &Digest::sha256(&tar)).unwrap_err();
        assert_eq!(
            err,
            format!(
                "img: layer {}: media type \"{}\" says gzip but the data is not gzip (found \
                 uncompressed tar)",
                Digest::sha256(&tar),
                media_type::OCI_LAYER_TAR_GZIP
            )
        );
    }

    #[test]
    fn blob_digest_is_checked_too() {
        let tar = tar_of(&[("a", b"hello")]);
        let blob = gzip(&tar);
        let mut descriptor = layer(media_type::OCI_LAYER_TAR_GZIP, &blob);
        descriptor.digest = Digest::sha256(b"not the blob");
        let verified = Labelled {
            inner: Verifier::new(&blob[..], &descriptor.digest, Some(descriptor.size)),
            label: "compressed blob",
        };
        let mut reader = decode(verified, "img", &descriptor, &Digest::sha256(&tar)).unwrap();
        let err = reader.read_to_end(&mut Vec::new()).unwrap_err().to_string();
        assert!(err.starts_with("compressed blob: digest mismatch"), "{err}");
    }
}

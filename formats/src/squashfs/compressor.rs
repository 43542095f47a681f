//! The block compressors squashfs supports, as the kernel's fs/squashfs/*_wrapper.c and
//! squashfs-tools' *_wrapper.c use them: every data block, fragment block and metadata block is
//! compressed on its own, as one complete stream.
//!
//! - gzip (id 1): a zlib stream (RFC 1950 header, deflate, Adler-32), level 1 to 9
//!   (mksquashfs: 9), window 15; written with flate2.
//! - xz (id 4): an xz stream with a CRC32 check and one LZMA2 filter whose dictionary is
//!   `max(block size, 8 KiB)`, the size the kernel allocates when the image has no compressor
//!   options; preset 0 to 9 (mksquashfs: 6); written with lzma-rust2.
//! - lz4 (id 5): an LZ4 block (no frame), with the compressor options block the kernel
//!   requires (version 1 = `LZ4_LEGACY`, flags 0: not high-compression); written with lz4_flex.
//! - zstd (id 6): a zstd frame written by ruzstd, whose encoder implements only its
//!   "Fastest" level (about zstd level 1; mksquashfs defaults to 15). ruzstd's frames declare a
//!   128 KiB window, which the kernel's decoder (sized for `max(block size, 8 KiB)`) cannot
//!   take for smaller block sizes, so the header is rewritten into the single-segment form with
//!   the content size that libzstd writes for one-shot compression (checked by mounting).
//!
//! The reader decompresses all four, each bounded to the expected output size.

use std::io::{Read, Write};

/// Which compressor, and its level where it has one. No `Default`: the caller decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// zlib streams at `level` 1 to 9 (mksquashfs's default compressor, at level 9).
    Gzip {
        /// Compression level, 1 to 9.
        level: u32,
    },
    /// xz streams with LZMA2 at `preset` 0 to 9 (mksquashfs uses 6).
    Xz {
        /// The xz preset, 0 to 9.
        preset: u32,
    },
    /// zstd frames at ruzstd's only encoder level, "Fastest".
    Zstd,
    /// LZ4 blocks (not high-compression).
    Lz4,
}

/// Compressor ids of the superblock's `compression` field.
pub mod id {
    /// zlib.
    pub const GZIP: u16 = 1;
    /// LZMA (legacy, not supported).
    pub const LZMA: u16 = 2;
    /// LZO (not supported).
    pub const LZO: u16 = 3;
    /// xz.
    pub const XZ: u16 = 4;
    /// LZ4.
    pub const LZ4: u16 = 5;
    /// zstd.
    pub const ZSTD: u16 = 6;
}

/// A compressor failed, or a block did not decompress to what was expected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompressorError {
    /// The level is out of range.
    #[error("{compressor} level is {level}, expected {min} to {max}")]
    Level {
        /// The compressor.
        compressor: &'static str,
        /// The level asked for.
        level: u32,
        /// Smallest level.
        min: u32,
        /// Largest level.
        max: u32,
    },
    /// The compressor id is not one this crate reads.
    #[error("compressor id {id} ({name}) is not supported, expected gzip, xz, lz4 or zstd")]
    Unsupported {
        /// The id.
        id: u16,
        /// Its name.
        name: &'static str,
    },
    /// The compression library failed.
    #[error("{compressor} compression failed: {message}")]
    Compress {
        /// The compressor.
        compressor: &'static str,
        /// The library's message.
        message: String,
    },
    /// The block is not a valid stream.
    #[error("{compressor} block does not decompress: {message}")]
    Corrupt {
        /// The compressor.
        compressor: &'static str,
        /// The library's message.
        message: String,
    },
    /// The block decompresses to more than allowed.
    #[error("{compressor} block decompresses to more than {limit} bytes")]
    TooLarge {
        /// The compressor.
        compressor: &'static str,
        /// The limit.
        limit: usize,
    },
}

impl Compression {
    /// The superblock's compressor id.
    pub fn id(&self) -> u16 {
        match self {
            Compression::Gzip { .. } => id::GZIP,
            Compression::Xz { .. } => id::XZ,
            Compression::Zstd => id::ZSTD,
            Compression::Lz4 => id::LZ4,
        }
    }

    /// Checks the level.
    pub fn validate(&self) -> Result<(), CompressorError> {
        let (compressor, level, min, max) = match *self {
            Compression::Gzip { level } => ("gzip", level, 1, 9),
            Compression::Xz { preset } => ("xz", preset, 0, 9),
            Compression::Zstd | Compression::Lz4 => return Ok(()),
        };
        if (min..=max).contains(&level) {
            Ok(())
        } else {
            Err(CompressorError::Level { compressor, level, min, max })
        }
    }

    /// The compressor options the format requires after the superblock, if any: only lz4's
    /// (`struct lz4_comp_opts { version = 1, flags = 0 }`). gzip, xz and zstd images at other
    /// levels decompress without options, so none are written.
    pub fn options(&self) -> Option<[u8; 8]> {
        match self {
            Compression::Lz4 => {
                let mut out = [0u8; 8];
                out[..4].copy_from_slice(&1u32.to_le_bytes());
                Some(out)
            }
            _ => None,
        }
    }
}

/// The name of a compressor id.
pub fn name(compressor: u16) -> &'static str {
    match compressor {
        id::GZIP => "gzip",
        id::LZMA => "lzma",
        id::LZO => "lzo",
        id::XZ => "xz",
        id::LZ4 => "lz4",
        id::ZSTD => "zstd",
        _ => "unknown",
    }
}

/// Describes a compressor options block for summaries.
pub fn describe_options(compressor: u16, bytes: &[u8]) -> String {
    let word = |at: usize| -> Option<u32> {
        bytes.get(at..at + 4).and_then(|b| b.try_into().ok()).map(u32::from_le_bytes)
    };
    let half = |at: usize| -> Option<u16> {
        bytes.get(at..at + 2).and_then(|b| b.try_into().ok()).map(u16::from_le_bytes)
    };
    let described = match compressor {
        id::GZIP => (|| {
            Some(format!("level {}, window {}, strategies {:#x}", word(0)?, half(4)?, half(6)?))
        })(),
        id::XZ => (|| Some(format!("dictionary {}, filters {:#x}", word(0)?, word(4)?)))(),
        id::LZ4 => (|| Some(format!("version {}, flags {:#x}", word(0)?, word(4)?)))(),
        id::ZSTD => (|| Some(format!("level {}", word(0)?)))(),
        id::LZO => (|| Some(format!("algorithm {}, level {}", word(0)?, word(4)?)))(),
        _ => None,
    };
    described.unwrap_or_else(|| format!("{} bytes", bytes.len()))
}

/// Per-thread compression state.
pub(crate) struct Encoder {
    compression: Compression,
    /// The xz dictionary: `max(block size, 8 KiB)`, what the kernel allocates.
    window_bytes: u32,
    gzip: Option<flate2::Compress>,
}

impl Encoder {
    /// An encoder for images of `block_size` bytes.
    pub(crate) fn new(compression: Compression, block_size: u32) -> Encoder {
        let gzip = match compression {
            Compression::Gzip { level } => {
                Some(flate2::Compress::new(flate2::Compression::new(level), true))
            }
            _ => None,
        };
        Encoder { compression, window_bytes: block_size.max(8192), gzip }
    }

    /// Compresses `input`; `None` when the result would not be smaller than the input (the
    /// block is then stored uncompressed, as mksquashfs does).
    pub(crate) fn compress(&mut self, input: &[u8]) -> Result<Option<Vec<u8>>, CompressorError> {
        if input.is_empty() {
            return Ok(None);
        }
        let out = match self.compression {
            Compression::Gzip { .. } => {
                let Some(stream) = self.gzip.as_mut() else {
                    return Ok(None);
                };
                stream.reset();
                // Room for one byte less than the input: a result that does not fit is not
                // worth keeping.
                let mut out = Vec::with_capacity(input.len() - 1);
                loop {
                    let consumed = usize::try_from(stream.total_in()).unwrap_or(usize::MAX);
                    let rest = input.get(consumed..).unwrap_or_default();
                    let status = stream
                        .compress_vec(rest, &mut out, flate2::FlushCompress::Finish)
                        .map_err(|err| CompressorError::Compress {
                            compressor: "gzip",
                            message: err.to_string(),
                        })?;
                    match status {
                        flate2::Status::StreamEnd => break out,
                        _ if out.len() == out.capacity() => return Ok(None),
                        _ => {}
                    }
                }
            }
            Compression::Xz { preset } => {
                let mut options = lzma_rust2::XzOptions::with_preset(preset);
                options.lzma_options.dict_size = self.window_bytes;
                options.set_check_sum_type(lzma_rust2::CheckType::Crc32);
                let xz_err = |err: std::io::Error| CompressorError::Compress {
                    compressor: "xz",
                    message: err.to_string(),
                };
                let mut writer =
                    lzma_rust2::XzWriter::new(Vec::with_capacity(input.len()), options)
                        .map_err(xz_err)?;
                writer.write_all(input).map_err(xz_err)?;
                writer.finish().map_err(xz_err)?
            }
            Compression::Zstd => {
                let frame = ruzstd::encoding::compress_to_vec(
                    input,
                    ruzstd::encoding::CompressionLevel::Fastest,
                );
                single_segment(frame, input.len())
            }
            Compression::Lz4 => {
                let mut out = vec![0u8; lz4_flex::block::get_maximum_output_size(input.len())];
                let len = lz4_flex::block::compress_into(input, &mut out).map_err(|err| {
                    CompressorError::Compress { compressor: "lz4", message: err.to_string() }
                })?;
                out.truncate(len);
                out
            }
        };
        Ok((out.len() < input.len()).then_some(out))
    }
}

/// Rewrites the header of a zstd frame (magic, descriptor, window byte, dictionary id) into a
/// single-segment header carrying the content size (4-byte `Frame_Content_Size`, no window
/// descriptor), the form libzstd's one-shot compression (and so mksquashfs) writes. The
/// decoder's window is then the block's own size, which the kernel's buffers always cover.
/// A header of any other form is left as it is.
fn single_segment(frame: Vec<u8>, content_len: usize) -> Vec<u8> {
    const MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
    let (Some(magic), Some(&descriptor), Ok(content_len)) =
        (frame.get(..4), frame.get(4), u32::try_from(content_len))
    else {
        return frame;
    };
    // Already single-segment, or already carrying a content size: nothing to do.
    if magic != MAGIC || descriptor & 0xe0 != 0 {
        return frame;
    }
    let dict_id_len = match descriptor & 3 {
        0 => 0,
        1 => 1,
        2 => 2,
        _ => 4,
    };
    let Some(dict_id) = frame.get(6..6 + dict_id_len) else { return frame };
    // A content checksum (ruzstd's `hash` feature) ends the frame; dropped as libzstd's default
    // drops it, which the kernel's page-by-page decoding needs.
    let checksum_len = if descriptor & 0x04 != 0 { 4 } else { 0 };
    let Some(rest) = frame.get(6 + dict_id_len..frame.len().saturating_sub(checksum_len)) else {
        return frame;
    };
    let mut out = Vec::with_capacity(frame.len() + 3);
    out.extend_from_slice(&MAGIC);
    // Frame_Content_Size_flag 2 (4 bytes), Single_Segment_flag, no checksum, the dictionary
    // flag kept.
    out.push(0x80 | 0x20 | (descriptor & 0x03));
    out.extend_from_slice(dict_id);
    out.extend_from_slice(&content_len.to_le_bytes());
    out.extend_from_slice(rest);
    out
}

/// Decompresses one block of compressor `compressor` into at most `limit` bytes.
pub(crate) fn decompress(
    compressor: u16,
    input: &[u8],
    limit: usize,
) -> Result<Vec<u8>, CompressorError> {
    match compressor {
        id::GZIP => {
            let mut stream = flate2::Decompress::new(true);
            let mut out = Vec::with_capacity(limit);
            loop {
                let consumed = usize::try_from(stream.total_in()).unwrap_or(usize::MAX);
                let rest = input.get(consumed..).unwrap_or_default();
                let before = (stream.total_in(), stream.total_out());
                let status = stream
                    .decompress_vec(rest, &mut out, flate2::FlushDecompress::Finish)
                    .map_err(|err| CompressorError::Corrupt {
                        compressor: "gzip",
                        message: err.to_string(),
                    })?;
                match status {
                    flate2::Status::StreamEnd => return Ok(out),
                    _ if out.len() == out.capacity() => {
                        return Err(CompressorError::TooLarge { compressor: "gzip", limit });
                    }
                    _ if (stream.total_in(), stream.total_out()) == before => {
                        return Err(CompressorError::Corrupt {
                            compressor: "gzip",
                            message: "stream ends early".to_owned(),
                        });
                    }
                    _ => {}
                }
            }
        }
        id::XZ => {
            // 64 MiB of decoder memory covers every dictionary mksquashfs can write (at most
            // the 1 MiB block size).
            let reader = lzma_rust2::XzReader::new_mem_limit(input, false, 64 * 1024);
            read_bounded(reader, limit, "xz")
        }
        id::ZSTD => {
            let decoder = ruzstd::decoding::StreamingDecoder::new(input).map_err(|err| {
                CompressorError::Corrupt { compressor: "zstd", message: err.to_string() }
            })?;
            read_bounded(decoder, limit, "zstd")
        }
        id::LZ4 => {
            let mut out = vec![0u8; limit];
            let len = lz4_flex::block::decompress_into(input, &mut out).map_err(|err| {
                CompressorError::Corrupt { compressor: "lz4", message: err.to_string() }
            })?;
            out.truncate(len);
            Ok(out)
        }
        other => Err(CompressorError::Unsupported { id: other, name: name(other) }),
    }
}

fn read_bounded(
    reader: impl Read,
    limit: usize,
    compressor: &'static str,
) -> Result<Vec<u8>, CompressorError> {
    let mut out = Vec::with_capacity(limit);
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|err| CompressorError::Corrupt { compressor, message: err.to_string() })?;
    if out.len() > limit {
        return Err(CompressorError::TooLarge { compressor, limit });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Compression; 4] = [
        Compression::Gzip { level: 9 },
        Compression::Xz { preset: 6 },
        Compression::Zstd,
        Compression::Lz4,
    ];

    fn sample() -> Vec<u8> {
        (0..20_000u32).map(|i| u8::try_from(i % 251 % 7).unwrap()).collect()
    }

    #[test]
    fn every_compressor_round_trips_and_is_deterministic() {
        let data = sample();
        for compression in ALL {
            let mut encoder = Encoder::new(compression, 32 * 1024);
            let packed = encoder.compress(&data).unwrap().expect("compressible");
            assert!(packed.len() < data.len() / 4, "{compression:?}: {}", packed.len());
            assert_eq!(encoder.compress(&data).unwrap().unwrap(), packed, "{compression:?}");
            let back = decompress(compression.id(), &packed, data.len()).unwrap();
            assert_eq!(back, data, "{compression:?}");
            let err = decompress(compression.id(), &packed, data.len() - 1).unwrap_err();
            assert!(
                err.to_string().contains("more than") || err.to_string().contains("decompress"),
                "{err}"
            );
        }
    }

    #[test]
    fn incompressible_blocks_are_refused() {
        // A de Bruijn-like sequence from a linear congruential generator: no repeats to find.
        let mut x = 1u32;
        let data: Vec<u8> = (0..4096)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                x.to_le_bytes()[2]
            })
            .collect();
        for compression in ALL {
            assert_eq!(
                Encoder::new(compression, 4096).compress(&data).unwrap(),
                None,
                "{compression:?}"
            );
        }
        assert_eq!(Encoder::new(ALL[0], 4096).compress(&[]).unwrap(), None);
    }

    #[test]
    fn zstd_frames_are_single_segment_with_their_size() {
        let data = sample();
        let packed = Encoder::new(Compression::Zstd, 4096).compress(&data).unwrap().unwrap();
        // Descriptor: content size in 4 bytes (flag 2), single segment, no checksum, no
        // dictionary; then the size itself.
        assert_eq!(packed[4], 0xa0);
        assert_eq!(packed[5..9], 20_000u32.to_le_bytes());
        assert_eq!(decompress(id::ZSTD, &packed, 20_000).unwrap(), data);
        let unknown = vec![1, 2, 3];
        assert_eq!(single_segment(unknown.clone(), 3), unknown);
    }

    #[test]
    fn levels_and_options() {
        assert_eq!(
            Compression::Gzip { level: 0 }.validate().unwrap_err().to_string(),
            "gzip level is 0, expected 1 to 9"
        );
        assert!(Compression::Xz { preset: 10 }.validate().is_err());
        assert_eq!(Compression::Lz4.options(), Some([1, 0, 0, 0, 0, 0, 0, 0]));
        assert_eq!(Compression::Zstd.options(), None);
        assert_eq!(describe_options(id::LZ4, &[1, 0, 0, 0, 0, 0, 0, 0]), "version 1, flags 0x0");
        assert_eq!(
            decompress(id::LZO, &[], 10).unwrap_err().to_string(),
            "compressor id 3 (lzo) is not supported, expected gzip, xz, lz4 or zstd"
        );
    }
}

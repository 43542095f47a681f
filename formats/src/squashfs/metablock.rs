//! Metadata blocks: inodes, directories and tables are a byte stream cut into 8 KiB pieces,
//! each stored as a little-endian `u16` header (stored length, bit 15 set when uncompressed)
//! followed by the piece, compressed when that makes it smaller (kernel
//! Documentation/filesystems/squashfs.rst, "Metadata").
//!
//! A *reference* to a place in such a stream is `(block << 16) | offset`: `block` is the
//! position of the metadata block relative to the start of the table, `offset` the position in
//! its uncompressed content.

use crate::squashfs::compressor::{CompressorError, Encoder};

/// Uncompressed size of a metadata block (`SQUASHFS_METADATA_SIZE`).
pub const METADATA_SIZE: usize = 8192;
/// Header bit set when the block is stored uncompressed (`SQUASHFS_COMPRESSED_BIT`).
pub const UNCOMPRESSED_META: u16 = 1 << 15;

/// Builds one metadata stream in memory (the tables are small next to the data).
pub(crate) struct MetadataWriter {
    encoder: Encoder,
    /// Finished blocks, headers included.
    out: Vec<u8>,
    /// The block being filled, always shorter than [`METADATA_SIZE`].
    pending: Vec<u8>,
    /// Position in `out` of each finished block, by block number.
    block_starts: Vec<u64>,
}

impl MetadataWriter {
    pub(crate) fn new(encoder: Encoder) -> MetadataWriter {
        MetadataWriter { encoder, out: Vec::new(), pending: Vec::new(), block_starts: Vec::new() }
    }

    /// Reference of the next byte appended.
    pub(crate) fn reference(&self) -> u64 {
        (self.len_out() << 16) | u64::try_from(self.pending.len()).unwrap_or(0)
    }

    /// `(block, offset)` of the next byte appended.
    pub(crate) fn position(&self) -> (u64, u16) {
        (self.len_out(), u16::try_from(self.pending.len()).unwrap_or(0))
    }

    /// Bytes appended so far (uncompressed).
    pub(crate) fn uncompressed_len(&self) -> u64 {
        let full = u64::try_from(self.block_starts.len() * METADATA_SIZE).unwrap_or(u64::MAX);
        full + u64::try_from(self.pending.len()).unwrap_or(0)
    }

    /// Position relative to the table of the block holding uncompressed byte `at` (which must
    /// have been appended already, or be the next one).
    pub(crate) fn block_of(&self, at: u64) -> u64 {
        let idx = usize::try_from(at / 8192).unwrap_or(usize::MAX);
        self.block_starts.get(idx).copied().unwrap_or_else(|| self.len_out())
    }

    fn len_out(&self) -> u64 {
        u64::try_from(self.out.len()).unwrap_or(u64::MAX)
    }

    pub(crate) fn append(&mut self, mut bytes: &[u8]) -> Result<(), CompressorError> {
        while !bytes.is_empty() {
            let room = METADATA_SIZE - self.pending.len();
            let (now, later) = bytes.split_at(room.min(bytes.len()));
            self.pending.extend_from_slice(now);
            bytes = later;
            if self.pending.len() == METADATA_SIZE {
                self.flush()?;
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), CompressorError> {
        self.block_starts.push(self.len_out());
        push_block(&mut self.encoder, &self.pending, &mut self.out)?;
        self.pending.clear();
        Ok(())
    }

    /// The stored blocks, the last one possibly shorter than 8 KiB, and the position of each
    /// block relative to the table.
    pub(crate) fn finish(mut self) -> Result<(Vec<u8>, Vec<u64>), CompressorError> {
        if !self.pending.is_empty() {
            self.flush()?;
        }
        Ok((self.out, self.block_starts))
    }
}

/// Appends one metadata block holding `data` (at most 8 KiB) to `out`.
pub(crate) fn push_block(
    encoder: &mut Encoder,
    data: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), CompressorError> {
    // `data` is at most METADATA_SIZE, so every length fits in 15 bits.
    let len = |n: usize| u16::try_from(n).unwrap_or(0);
    match encoder.compress(data)? {
        Some(packed) => {
            out.extend_from_slice(&len(packed.len()).to_le_bytes());
            out.extend_from_slice(&packed);
        }
        None => {
            out.extend_from_slice(&(len(data.len()) | UNCOMPRESSED_META).to_le_bytes());
            out.extend_from_slice(data);
        }
    }
    Ok(())
}

/// A table stored as metadata blocks followed by their index: returns the bytes to write at
/// image position `at` and the position of the index (what the superblock records).
pub(crate) fn indexed_table(
    encoder: Encoder,
    entries: &[u8],
    at: u64,
) -> Result<(Vec<u8>, u64), CompressorError> {
    let mut writer = MetadataWriter::new(encoder);
    writer.append(entries)?;
    let (mut bytes, starts) = writer.finish()?;
    let index_at = at + u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    for start in starts {
        bytes.extend_from_slice(&(at + start).to_le_bytes());
    }
    Ok((bytes, index_at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::squashfs::compressor::{Compression, decompress};

    #[test]
    fn blocks_are_cut_at_8_kib_and_references_follow() {
        let mut writer = MetadataWriter::new(Encoder::new(Compression::Gzip { level: 9 }, 4096));
        assert_eq!(writer.reference(), 0);
        writer.append(&[7u8; 8000]).unwrap();
        assert_eq!(writer.reference(), 8000);
        writer.append(&[7u8; 200]).unwrap();
        // One compressed block of zeros-like data is tiny; the next reference is in block 2.
        let (block, offset) = writer.position();
        assert_eq!(offset, 8);
        assert!(block > 2 && block < 100, "{block}");
        assert_eq!(writer.block_of(100), 0);
        assert_eq!(writer.block_of(8192), block);
        assert_eq!(writer.uncompressed_len(), 8200);
        let (bytes, starts) = writer.finish().unwrap();
        assert_eq!(starts, [0, block]);
        let header = u16::from_le_bytes([bytes[0], bytes[1]]);
        assert_eq!(header & UNCOMPRESSED_META, 0);
        let first = decompress(1, &bytes[2..2 + usize::from(header)], 8192).unwrap();
        assert_eq!(first, [7u8; 8192]);
    }

    #[test]
    fn incompressible_blocks_are_stored_with_the_flag() {
        let mut out = Vec::new();
        push_block(&mut Encoder::new(Compression::Lz4, 4096), &[1, 2, 3], &mut out).unwrap();
        assert_eq!(out, [3, 0x80, 1, 2, 3]);
        let (table, index_at) =
            indexed_table(Encoder::new(Compression::Lz4, 4096), &[9, 9, 9, 9], 1000).unwrap();
        assert_eq!(table, [4, 0x80, 9, 9, 9, 9, 0xe8, 3, 0, 0, 0, 0, 0, 0]);
        assert_eq!(index_at, 1006);
    }
}

//! The sparse extent header and the stream markers of VMware's "Virtual Disk Format 5.0"
//! (sections "Hosted Sparse Extent Header" and "Stream-Optimized Compressed Sparse Extents").
//! All fields are little-endian.

/// `KDMV` (`0x564d444b` little-endian).
pub const MAGIC: u32 = 0x564d_444b;
/// `gdOffset` of a stream: the grain directory is found through the footer.
pub const GD_AT_END: u64 = u64::MAX;
/// Bytes of a sector, the unit of every offset and size.
pub const SECTOR_BYTES: u64 = 512;

/// `flags` bits.
pub mod flags {
    /// Bit 0: the newline-detection characters are valid.
    pub const NEWLINE_DETECTION: u32 = 1;
    /// Bit 1: a redundant grain directory is present.
    pub const REDUNDANT_GD: u32 = 1 << 1;
    /// Bit 2: grain table entry 1 means an all-zero grain.
    pub const ZERO_GRAIN: u32 = 1 << 2;
    /// Bit 16: grains are compressed.
    pub const COMPRESSED: u32 = 1 << 16;
    /// Bit 17: the extent contains markers.
    pub const MARKERS: u32 = 1 << 17;
}

/// `SparseExtentHeader`, 512 bytes. Field names follow the spec; offsets and sizes are in
/// sectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SparseExtentHeader {
    /// `version`: 1, 2 or 3 (3 for stream-optimized extents).
    pub version: u32,
    /// `flags`: see [`flags`].
    pub flags: u32,
    /// `capacity`: virtual disk size in sectors.
    pub capacity_sectors: u64,
    /// `grainSize`: sectors per grain (kit: 128, 64 KiB).
    pub grain_size_sectors: u64,
    /// `descriptorOffset`: sector of the embedded descriptor (0 when none).
    pub descriptor_offset_sectors: u64,
    /// `descriptorSize`: sectors reserved for the descriptor.
    pub descriptor_size_sectors: u64,
    /// `numGTEsPerGT`: entries per grain table (512).
    pub num_gtes_per_gt: u32,
    /// `rgdOffset`: sector of the redundant grain directory (0 when none).
    pub rgd_offset_sectors: u64,
    /// `gdOffset`: sector of the grain directory, or [`GD_AT_END`].
    pub gd_offset_sectors: u64,
    /// `overHead`: sectors before the first grain.
    pub overhead_sectors: u64,
    /// `uncleanShutdown`: 1 when the extent was not closed cleanly.
    pub unclean_shutdown: u8,
    /// `compressAlgorithm`: 0 none, 1 deflate (zlib streams).
    pub compress_algorithm: u16,
}

impl SparseExtentHeader {
    /// Bytes of the header.
    pub const SIZE: usize = 512;

    /// Encodes the header, with the newline-detection characters `\n`, ` `, `\r`, `\n`.
    pub fn encode(&self, out: &mut [u8; Self::SIZE]) {
        out.fill(0);
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            out[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        put(&MAGIC.to_le_bytes());
        put(&self.version.to_le_bytes());
        put(&self.flags.to_le_bytes());
        put(&self.capacity_sectors.to_le_bytes());
        put(&self.grain_size_sectors.to_le_bytes());
        put(&self.descriptor_offset_sectors.to_le_bytes());
        put(&self.descriptor_size_sectors.to_le_bytes());
        put(&self.num_gtes_per_gt.to_le_bytes());
        put(&self.rgd_offset_sectors.to_le_bytes());
        put(&self.gd_offset_sectors.to_le_bytes());
        put(&self.overhead_sectors.to_le_bytes());
        put(&[self.unclean_shutdown, b'\n', b' ', b'\r', b'\n']);
        put(&self.compress_algorithm.to_le_bytes());
    }

    /// Decodes a header; `None` when the magic is wrong.
    pub fn decode(bytes: &[u8; Self::SIZE]) -> Option<SparseExtentHeader> {
        let u32_at = |at: usize| {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let u64_at = |at: usize| u64::from(u32_at(at)) | (u64::from(u32_at(at + 4)) << 32);
        if u32_at(0) != MAGIC {
            return None;
        }
        Some(SparseExtentHeader {
            version: u32_at(4),
            flags: u32_at(8),
            capacity_sectors: u64_at(12),
            grain_size_sectors: u64_at(20),
            descriptor_offset_sectors: u64_at(28),
            descriptor_size_sectors: u64_at(36),
            num_gtes_per_gt: u32_at(44),
            rgd_offset_sectors: u64_at(48),
            gd_offset_sectors: u64_at(56),
            overhead_sectors: u64_at(64),
            unclean_shutdown: bytes[72],
            compress_algorithm: u16::from_le_bytes([bytes[77], bytes[78]]),
        })
    }
}

/// Marker types of stream-optimized extents (`type` of a metadata marker).
pub mod marker {
    /// End of stream: a sector of zeros.
    pub const END_OF_STREAM: u32 = 0;
    /// Followed by a grain table.
    pub const GRAIN_TABLE: u32 = 1;
    /// Followed by the grain directory.
    pub const GRAIN_DIRECTORY: u32 = 2;
    /// Followed by the footer (a copy of the header with the real `gdOffset`).
    pub const FOOTER: u32 = 3;
}

/// A metadata marker, one sector: `val` (sectors of metadata that follow), `size` 0, `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetadataMarker {
    /// `numSectors`: sectors of the metadata that follows.
    pub num_sectors: u64,
    /// `type`: see [`marker`].
    pub marker_type: u32,
}

impl MetadataMarker {
    /// Bytes of a metadata marker.
    pub const SIZE: usize = 512;

    /// Encodes the marker.
    pub fn encode(&self, out: &mut [u8; Self::SIZE]) {
        out.fill(0);
        out[..8].copy_from_slice(&self.num_sectors.to_le_bytes());
        out[12..16].copy_from_slice(&self.marker_type.to_le_bytes());
    }

    /// Decodes a marker; `None` when its `size` is not 0 (a grain marker).
    pub fn decode(bytes: &[u8; Self::SIZE]) -> Option<MetadataMarker> {
        let size = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        if size != 0 {
            return None;
        }
        let mut val = [0u8; 8];
        val.copy_from_slice(&bytes[..8]);
        Some(MetadataMarker {
            num_sectors: u64::from_le_bytes(val),
            marker_type: u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]),
        })
    }
}

/// The 12 bytes before a compressed grain: its first guest sector and the compressed size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrainMarker {
    /// `lba`: guest sector of the grain's first byte.
    pub lba: u64,
    /// `size`: bytes of compressed data that follow.
    pub size_bytes: u32,
}

impl GrainMarker {
    /// Bytes of a grain marker.
    pub const SIZE: usize = 12;

    /// Encodes the marker.
    pub fn encode(&self, out: &mut [u8; Self::SIZE]) {
        out[..8].copy_from_slice(&self.lba.to_le_bytes());
        out[8..].copy_from_slice(&self.size_bytes.to_le_bytes());
    }

    /// Decodes the marker.
    pub fn decode(bytes: &[u8; Self::SIZE]) -> GrainMarker {
        let mut lba = [0u8; 8];
        lba.copy_from_slice(&bytes[..8]);
        GrainMarker {
            lba: u64::from_le_bytes(lba),
            size_bytes: u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let header = SparseExtentHeader {
            version: 3,
            flags: 0x30001,
            capacity_sectors: 32768,
            grain_size_sectors: 128,
            descriptor_offset_sectors: 1,
            descriptor_size_sectors: 20,
            num_gtes_per_gt: 512,
            rgd_offset_sectors: 0,
            gd_offset_sectors: GD_AT_END,
            overhead_sectors: 128,
            unclean_shutdown: 0,
            compress_algorithm: 1,
        };
        let mut bytes = [0u8; SparseExtentHeader::SIZE];
        header.encode(&mut bytes);
        assert_eq!(&bytes[..4], b"KDMV");
        assert_eq!(&bytes[73..79], b"\n \r\n\x01\0");
        assert_eq!(SparseExtentHeader::decode(&bytes), Some(header));
    }

    #[test]
    fn markers_round_trip() {
        let m = MetadataMarker { num_sectors: 4, marker_type: marker::GRAIN_TABLE };
        let mut bytes = [0u8; MetadataMarker::SIZE];
        m.encode(&mut bytes);
        assert_eq!(MetadataMarker::decode(&bytes), Some(m));
        let g = GrainMarker { lba: 128, size_bytes: 77 };
        let mut bytes = [0u8; GrainMarker::SIZE];
        g.encode(&mut bytes);
        assert_eq!(GrainMarker::decode(&bytes), g);
    }
}

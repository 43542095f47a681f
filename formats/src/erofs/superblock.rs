//! The EROFS superblock (`struct erofs_super_block` in the kernel's fs/erofs/erofs_fs.h), 128
//! bytes at byte 1024 of the image, and its CRC-32C checksum.

/// `EROFS_SUPER_MAGIC_V1`.
pub(crate) const MAGIC: u32 = 0xe0f5_e1e2;
/// `EROFS_SUPER_OFFSET`: the superblock starts 1024 bytes into block 0.
pub(crate) const SUPER_OFFSET: usize = 1024;
/// log2 of the only block size kit writes (4 KiB, the page size Linux 6.1 requires).
pub(crate) const BLOCK_SIZE_BITS: u8 = 12;
/// The block size in bytes.
pub(crate) const BLOCK_SIZE: usize = 4096;

/// `EROFS_FEATURE_COMPAT_SB_CHKSUM`: `checksum` holds the CRC-32C of the superblock block.
pub(crate) const FEATURE_COMPAT_SB_CHKSUM: u32 = 0x0000_0001;
/// `EROFS_FEATURE_COMPAT_MTIME`: extended inodes carry their own mtime (set by mkfs.erofs 1.5).
pub(crate) const FEATURE_COMPAT_MTIME: u32 = 0x0000_0002;
/// `EROFS_FEATURE_INCOMPAT_LZ4_0PADDING`: compressed pclusters are padded with zeros at the
/// front, so the decompressor finds the start of the lz4 stream.
pub(crate) const FEATURE_INCOMPAT_LZ4_0PADDING: u32 = 0x0000_0001;
/// `EROFS_FEATURE_INCOMPAT_COMPR_CFGS` (also `BIG_PCLUSTER`, bit 1): per-algorithm configs follow
/// the superblock (and pclusters may be larger than one block).
pub(crate) const FEATURE_INCOMPAT_COMPR_CFGS: u32 = 0x0000_0002;
/// `EROFS_FEATURE_INCOMPAT_CHUNKED_FILE`.
pub(crate) const FEATURE_INCOMPAT_CHUNKED_FILE: u32 = 0x0000_0004;
/// `EROFS_FEATURE_INCOMPAT_DEVICE_TABLE`.
pub(crate) const FEATURE_INCOMPAT_DEVICE_TABLE: u32 = 0x0000_0008;
/// `EROFS_FEATURE_INCOMPAT_ZTAILPACKING`.
pub(crate) const FEATURE_INCOMPAT_ZTAILPACKING: u32 = 0x0000_0010;
/// Every incompatible feature Linux 6.1 and erofs-utils 1.5 know (`EROFS_ALL_FEATURE_INCOMPAT`).
pub(crate) const FEATURE_INCOMPAT_KNOWN: u32 = FEATURE_INCOMPAT_LZ4_0PADDING
    | FEATURE_INCOMPAT_COMPR_CFGS
    | FEATURE_INCOMPAT_CHUNKED_FILE
    | FEATURE_INCOMPAT_DEVICE_TABLE
    | FEATURE_INCOMPAT_ZTAILPACKING;

/// The on-disk superblock. Field names are the kernel's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SuperBlock {
    /// `magic`: [`MAGIC`].
    pub(crate) magic: u32,
    /// `checksum`: CRC-32C (seed `!0`, no final inversion) of bytes 1024..4096 of block 0 with
    /// this field zeroed; checked only with [`FEATURE_COMPAT_SB_CHKSUM`].
    pub(crate) checksum: u32,
    /// `feature_compat`: features an older reader may ignore.
    pub(crate) feature_compat: u32,
    /// `blkszbits`: log2 of the block size; Linux 6.1 accepts only the page size (12).
    pub(crate) blkszbits: u8,
    /// `sb_extslots`: 16-byte slots after the 128 bytes (0).
    pub(crate) sb_extslots: u8,
    /// `root_nid`: inode number (nid) of the root directory; 16 bits.
    pub(crate) root_nid: u16,
    /// `inos`: number of inodes.
    pub(crate) inos: u64,
    /// `build_time`: seconds; the mtime of every compact inode.
    pub(crate) build_time_secs: u64,
    /// `build_time_nsec`: nanoseconds of `build_time`.
    pub(crate) build_time_nsec: u32,
    /// `blocks`: image size in blocks.
    pub(crate) blocks: u32,
    /// `meta_blkaddr`: block where nid 0 lives; an inode is at `meta_blkaddr * 4096 + nid * 32`.
    pub(crate) meta_blkaddr: u32,
    /// `xattr_blkaddr`: start of the shared xattr area; shared xattr id `n` is at byte
    /// `xattr_blkaddr * 4096 + n * 4`.
    pub(crate) xattr_blkaddr: u32,
    /// `uuid`: volume UUID.
    pub(crate) uuid: [u8; 16],
    /// `volume_name`: volume label, NUL-padded.
    pub(crate) volume_name: [u8; 16],
    /// `feature_incompat`: features a reader must know to read the image.
    pub(crate) feature_incompat: u32,
    /// `u1`: `lz4_max_distance` (lz4 window, 0 = 64 KiB), or `available_compr_algs` with
    /// [`FEATURE_INCOMPAT_COMPR_CFGS`].
    pub(crate) u1: u16,
    /// `extra_devices`: devices besides the primary one (0).
    pub(crate) extra_devices: u16,
    /// `devt_slotoff`: device table offset in 128-byte slots (0).
    pub(crate) devt_slotoff: u16,
}

/// Why 128 bytes are not an EROFS superblock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SuperBlockError {
    /// The magic number is wrong.
    #[error("superblock magic is {found:#010x}, expected {MAGIC:#010x} (EROFS)")]
    Magic {
        /// The magic found.
        found: u32,
    },
}

impl SuperBlock {
    /// Encoded size in bytes.
    pub(crate) const SIZE: usize = 128;

    /// Writes the superblock in little-endian order; reserved bytes are zero.
    pub(crate) fn encode(&self, out: &mut [u8; Self::SIZE]) {
        out.fill(0);
        out[0..4].copy_from_slice(&self.magic.to_le_bytes());
        out[4..8].copy_from_slice(&self.checksum.to_le_bytes());
        out[8..12].copy_from_slice(&self.feature_compat.to_le_bytes());
        out[12] = self.blkszbits;
        out[13] = self.sb_extslots;
        out[14..16].copy_from_slice(&self.root_nid.to_le_bytes());
        out[16..24].copy_from_slice(&self.inos.to_le_bytes());
        out[24..32].copy_from_slice(&self.build_time_secs.to_le_bytes());
        out[32..36].copy_from_slice(&self.build_time_nsec.to_le_bytes());
        out[36..40].copy_from_slice(&self.blocks.to_le_bytes());
        out[40..44].copy_from_slice(&self.meta_blkaddr.to_le_bytes());
        out[44..48].copy_from_slice(&self.xattr_blkaddr.to_le_bytes());
        out[48..64].copy_from_slice(&self.uuid);
        out[64..80].copy_from_slice(&self.volume_name);
        out[80..84].copy_from_slice(&self.feature_incompat.to_le_bytes());
        out[84..86].copy_from_slice(&self.u1.to_le_bytes());
        out[86..88].copy_from_slice(&self.extra_devices.to_le_bytes());
        out[88..90].copy_from_slice(&self.devt_slotoff.to_le_bytes());
    }

    /// Parses a superblock; only the magic is checked here.
    pub(crate) fn decode(bytes: &[u8; Self::SIZE]) -> Result<SuperBlock, SuperBlockError> {
        let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
        let u32_at = |at: usize| {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let u64_at = |at: usize| u64::from(u32_at(at)) | (u64::from(u32_at(at + 4)) << 32);
        let magic = u32_at(0);
        if magic != MAGIC {
            return Err(SuperBlockError::Magic { found: magic });
        }
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(&bytes[48..64]);
        let mut volume_name = [0u8; 16];
        volume_name.copy_from_slice(&bytes[64..80]);
        Ok(SuperBlock {
            magic,
            checksum: u32_at(4),
            feature_compat: u32_at(8),
            blkszbits: bytes[12],
            sb_extslots: bytes[13],
            root_nid: u16_at(14),
            inos: u64_at(16),
            build_time_secs: u64_at(24),
            build_time_nsec: u32_at(32),
            blocks: u32_at(36),
            meta_blkaddr: u32_at(40),
            xattr_blkaddr: u32_at(44),
            uuid,
            volume_name,
            feature_incompat: u32_at(80),
            u1: u16_at(84),
            extra_devices: u16_at(86),
            devt_slotoff: u16_at(88),
        })
    }
}

pub(crate) use crate::crc32c::crc32c;

/// The superblock checksum of block 0: CRC-32C over bytes 1024..4096 with the checksum field
/// zeroed.
pub(crate) fn block0_checksum(block0: &[u8; BLOCK_SIZE]) -> u32 {
    let mut copy = *block0;
    copy[SUPER_OFFSET + 4..SUPER_OFFSET + 8].fill(0);
    crc32c(!0, &copy[SUPER_OFFSET..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SuperBlock {
        SuperBlock {
            magic: MAGIC,
            checksum: 0x1234_5678,
            feature_compat: FEATURE_COMPAT_SB_CHKSUM | FEATURE_COMPAT_MTIME,
            blkszbits: BLOCK_SIZE_BITS,
            sb_extslots: 0,
            root_nid: 128,
            inos: 5,
            build_time_secs: 1_700_000_000,
            build_time_nsec: 0,
            blocks: 9,
            meta_blkaddr: 0,
            xattr_blkaddr: 1,
            uuid: [0xab; 16],
            volume_name: *b"kit\0\0\0\0\0\0\0\0\0\0\0\0\0",
            feature_incompat: FEATURE_INCOMPAT_LZ4_0PADDING,
            u1: 0,
            extra_devices: 0,
            devt_slotoff: 0,
        }
    }

    #[test]
    fn size_and_round_trip() {
        assert_eq!(SuperBlock::SIZE, 128);
        let mut bytes = [0u8; SuperBlock::SIZE];
        sample().encode(&mut bytes);
        assert_eq!(bytes[..4], [0xe2, 0xe1, 0xf5, 0xe0]);
        assert_eq!(bytes[12], 12);
        assert_eq!(bytes[14..16], [128, 0]);
        assert_eq!(&bytes[64..67], b"kit");
        assert_eq!(SuperBlock::decode(&bytes), Ok(sample()));
        bytes[0] = 0;
        assert_eq!(
            SuperBlock::decode(&bytes).unwrap_err().to_string(),
            "superblock magic is 0xe0f5e100, expected 0xe0f5e1e2 (EROFS)"
        );
    }

    #[test]
    fn crc32c_matches_the_reference_vector() {
        // RFC 3720 B.4: CRC-32C of "123456789" is 0xe3069283 (with both inversions).
        assert_eq!(!crc32c(!0, b"123456789"), 0xe306_9283);
        // 32 bytes of zeros: 0x8a9136aa (RFC 3720 B.4).
        assert_eq!(!crc32c(!0, &[0u8; 32]), 0x8a91_36aa);
    }
}

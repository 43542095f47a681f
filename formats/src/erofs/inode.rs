//! EROFS on-disk inodes: the 32-byte compact form (`struct erofs_inode_compact`) and the 64-byte
//! extended form (`struct erofs_inode_extended`) of the kernel's fs/erofs/erofs_fs.h.
//!
//! Inodes are 32-byte aligned; an inode's number (nid) is its offset from `meta_blkaddr` divided
//! by 32. The inode is followed by its inline xattrs (`i_xattr_icount`), then, depending on the
//! data layout, by the compression map or the inline tail of its data.

/// `i_format` bit 0: 0 for the compact form, 1 for the extended form.
pub(crate) const FORMAT_VERSION_EXTENDED: u16 = 1;
/// Mask of the `i_format` bits Linux 6.1 knows (`EROFS_I_ALL`: version and data layout).
pub(crate) const FORMAT_KNOWN_BITS: u16 = 0x000f;

/// `EROFS_INODE_FLAT_PLAIN`: data in consecutive blocks from `raw_blkaddr`.
pub(crate) const LAYOUT_FLAT_PLAIN: u8 = 0;
/// `EROFS_INODE_FLAT_COMPRESSION_LEGACY`: compressed, one 8-byte index per 4 KiB of file.
pub(crate) const LAYOUT_FLAT_COMPRESSION_LEGACY: u8 = 1;
/// `EROFS_INODE_FLAT_INLINE`: whole blocks from `raw_blkaddr`, the last partial block right
/// after the inode and its xattrs ("tail packing").
pub(crate) const LAYOUT_FLAT_INLINE: u8 = 2;
/// `EROFS_INODE_FLAT_COMPRESSION`: compressed with compacted 2- and 4-byte indexes.
pub(crate) const LAYOUT_FLAT_COMPRESSION: u8 = 3;
/// `EROFS_INODE_CHUNK_BASED`: data in chunks listed after the inode.
pub(crate) const LAYOUT_CHUNK_BASED: u8 = 4;

/// File type bits of `i_mode` (from `<sys/stat.h>`).
pub(crate) mod mode {
    /// Mask of the file type bits.
    pub(crate) const S_IFMT: u16 = 0o170_000;
    /// Socket.
    pub(crate) const S_IFSOCK: u16 = 0o140_000;
    /// Symbolic link.
    pub(crate) const S_IFLNK: u16 = 0o120_000;
    /// Regular file.
    pub(crate) const S_IFREG: u16 = 0o100_000;
    /// Block device.
    pub(crate) const S_IFBLK: u16 = 0o060_000;
    /// Directory.
    pub(crate) const S_IFDIR: u16 = 0o040_000;
    /// Character device.
    pub(crate) const S_IFCHR: u16 = 0o020_000;
    /// Named pipe.
    pub(crate) const S_IFIFO: u16 = 0o010_000;
}

/// `struct erofs_inode_compact`: 32 bytes; its mtime is the superblock's `build_time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InodeCompact {
    /// `i_format`: bit 0 version (0 here), bits 1-3 data layout.
    pub(crate) format: u16,
    /// `i_xattr_icount`: 0 without xattrs, else 1 + (xattr body size - 12) / 4.
    pub(crate) xattr_icount: u16,
    /// `i_mode`: file type and permission bits.
    pub(crate) mode: u16,
    /// `i_nlink`: number of names (2 + subdirectories for a directory).
    pub(crate) nlink: u16,
    /// `i_size`: size in bytes (file data, symlink target, directory entries).
    pub(crate) size_bytes: u32,
    /// `i_u`: `raw_blkaddr` for flat layouts, `compressed_blocks` for compressed ones, `rdev`
    /// (Linux `new_encode_dev`) for devices.
    pub(crate) u: u32,
    /// `i_ino`: inode serial number for 32-bit `stat`.
    pub(crate) ino: u32,
    /// `i_uid`: owner, 16 bits.
    pub(crate) uid: u16,
    /// `i_gid`: group, 16 bits.
    pub(crate) gid: u16,
}

/// `struct erofs_inode_extended`: 64 bytes with 32-bit owners, 64-bit size and its own mtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InodeExtended {
    /// `i_format`: bit 0 version (1 here), bits 1-3 data layout.
    pub(crate) format: u16,
    /// `i_xattr_icount`: as for [`InodeCompact`].
    pub(crate) xattr_icount: u16,
    /// `i_mode`: file type and permission bits.
    pub(crate) mode: u16,
    /// `i_size`: size in bytes.
    pub(crate) size_bytes: u64,
    /// `i_u`: as for [`InodeCompact`].
    pub(crate) u: u32,
    /// `i_ino`: inode serial number for 32-bit `stat`.
    pub(crate) ino: u32,
    /// `i_uid`: owner.
    pub(crate) uid: u32,
    /// `i_gid`: group.
    pub(crate) gid: u32,
    /// `i_mtime`: seconds since the epoch (kit stores an `i64` two's-complement).
    pub(crate) mtime_secs: u64,
    /// `i_mtime_nsec`: nanoseconds.
    pub(crate) mtime_nsec: u32,
    /// `i_nlink`: number of names.
    pub(crate) nlink: u32,
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from(u32_at(bytes, at)) | (u64::from(u32_at(bytes, at + 4)) << 32)
}

impl InodeCompact {
    /// Encoded size in bytes.
    pub(crate) const SIZE: usize = 32;

    /// Writes the inode; reserved fields are zero.
    pub(crate) fn encode(&self, out: &mut [u8; Self::SIZE]) {
        out.fill(0);
        out[0..2].copy_from_slice(&self.format.to_le_bytes());
        out[2..4].copy_from_slice(&self.xattr_icount.to_le_bytes());
        out[4..6].copy_from_slice(&self.mode.to_le_bytes());
        out[6..8].copy_from_slice(&self.nlink.to_le_bytes());
        out[8..12].copy_from_slice(&self.size_bytes.to_le_bytes());
        out[16..20].copy_from_slice(&self.u.to_le_bytes());
        out[20..24].copy_from_slice(&self.ino.to_le_bytes());
        out[24..26].copy_from_slice(&self.uid.to_le_bytes());
        out[26..28].copy_from_slice(&self.gid.to_le_bytes());
    }

    /// Parses the inode; the caller checks `format`.
    pub(crate) fn decode(bytes: &[u8; Self::SIZE]) -> InodeCompact {
        InodeCompact {
            format: u16_at(bytes, 0),
            xattr_icount: u16_at(bytes, 2),
            mode: u16_at(bytes, 4),
            nlink: u16_at(bytes, 6),
            size_bytes: u32_at(bytes, 8),
            u: u32_at(bytes, 16),
            ino: u32_at(bytes, 20),
            uid: u16_at(bytes, 24),
            gid: u16_at(bytes, 26),
        }
    }
}

impl InodeExtended {
    /// Encoded size in bytes.
    pub(crate) const SIZE: usize = 64;

    /// Writes the inode; reserved fields are zero.
    pub(crate) fn encode(&self, out: &mut [u8; Self::SIZE]) {
        out.fill(0);
        out[0..2].copy_from_slice(&self.format.to_le_bytes());
        out[2..4].copy_from_slice(&self.xattr_icount.to_le_bytes());
        out[4..6].copy_from_slice(&self.mode.to_le_bytes());
        out[8..16].copy_from_slice(&self.size_bytes.to_le_bytes());
        out[16..20].copy_from_slice(&self.u.to_le_bytes());
        out[20..24].copy_from_slice(&self.ino.to_le_bytes());
        out[24..28].copy_from_slice(&self.uid.to_le_bytes());
        out[28..32].copy_from_slice(&self.gid.to_le_bytes());
        out[32..40].copy_from_slice(&self.mtime_secs.to_le_bytes());
        out[40..44].copy_from_slice(&self.mtime_nsec.to_le_bytes());
        out[44..48].copy_from_slice(&self.nlink.to_le_bytes());
    }

    /// Parses the inode; the caller checks `format`.
    pub(crate) fn decode(bytes: &[u8; Self::SIZE]) -> InodeExtended {
        InodeExtended {
            format: u16_at(bytes, 0),
            xattr_icount: u16_at(bytes, 2),
            mode: u16_at(bytes, 4),
            size_bytes: u64_at(bytes, 8),
            u: u32_at(bytes, 16),
            ino: u32_at(bytes, 20),
            uid: u32_at(bytes, 24),
            gid: u32_at(bytes, 28),
            mtime_secs: u64_at(bytes, 32),
            mtime_nsec: u32_at(bytes, 40),
            nlink: u32_at(bytes, 44),
        }
    }
}

/// Linux's `new_encode_dev`: minor bits 0-7, major bits 8-19, minor bits 8-19 at 20-31.
/// `None` when the numbers do not fit (major above 4095 or minor above 1048575).
pub(crate) fn encode_dev(major: u32, minor: u32) -> Option<u32> {
    if major > 0xfff || minor > 0xf_ffff {
        return None;
    }
    Some((minor & 0xff) | (major << 8) | ((minor & !0xff) << 12))
}

/// Linux's `new_decode_dev`: (major, minor).
pub(crate) fn decode_dev(rdev: u32) -> (u32, u32) {
    ((rdev & 0xf_ff00) >> 8, (rdev & 0xff) | ((rdev >> 12) & 0xf_ff00))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_pinned() {
        assert_eq!(InodeCompact::SIZE, 32);
        assert_eq!(InodeExtended::SIZE, 64);
    }

    #[test]
    fn compact_round_trip() {
        let inode = InodeCompact {
            format: u16::from(LAYOUT_FLAT_INLINE) << 1,
            xattr_icount: 4,
            mode: mode::S_IFREG | 0o4755,
            nlink: 2,
            size_bytes: 5000,
            u: 7,
            ino: 3,
            uid: 1000,
            gid: 65534,
        };
        let mut bytes = [0u8; InodeCompact::SIZE];
        inode.encode(&mut bytes);
        assert_eq!(bytes[..8], [4, 0, 4, 0, 0xed, 0x89, 2, 0]);
        assert_eq!(bytes[8..12], 5000u32.to_le_bytes());
        assert_eq!(InodeCompact::decode(&bytes), inode);
    }

    #[test]
    fn extended_round_trip() {
        let inode = InodeExtended {
            format: FORMAT_VERSION_EXTENDED | (u16::from(LAYOUT_FLAT_PLAIN) << 1),
            xattr_icount: 0,
            mode: mode::S_IFDIR | 0o1777,
            size_bytes: 1 << 33,
            u: 0xffff_ffff,
            ino: 1,
            uid: 3_000_000,
            gid: u32::MAX,
            mtime_secs: (-5i64).cast_unsigned(),
            mtime_nsec: 0,
            nlink: 70_000,
        };
        let mut bytes = [0u8; InodeExtended::SIZE];
        inode.encode(&mut bytes);
        assert_eq!(bytes[..2], [1, 0]);
        assert_eq!(bytes[44..48], 70_000u32.to_le_bytes());
        assert_eq!(InodeExtended::decode(&bytes), inode);
    }

    #[test]
    fn device_numbers() {
        // new_encode_dev(MKDEV(8, 16)) = 0x810: minor in bits 0-7, major from bit 8.
        assert_eq!(encode_dev(8, 16), Some(0x810));
        assert_eq!(encode_dev(259, 0x1_2345), Some(0x45 | (259 << 8) | (0x1_2300 << 12)));
        assert_eq!(decode_dev(0x45 | (259 << 8) | (0x1_2300 << 12)), (259, 0x1_2345));
        assert_eq!(encode_dev(4096, 0), None);
        assert_eq!(encode_dev(0, 1 << 20), None);
    }
}

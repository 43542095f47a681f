//! The squashfs 4.0 superblock: the first 96 bytes of the image (`struct squashfs_super_block` in
//! the kernel's fs/squashfs/squashfs_fs.h), all fields little-endian.

/// `s_magic`: "hsqs" read as a little-endian `u32`.
pub const MAGIC: u32 = 0x7371_7368;
/// Sentinel of an absent table (`SQUASHFS_INVALID_BLK`).
pub const INVALID_BLK: u64 = u64::MAX;
/// Sentinel of "no fragment" in a file inode (`SQUASHFS_INVALID_FRAG`).
pub const INVALID_FRAG: u32 = u32::MAX;
/// Sentinel of "no xattrs" in an extended inode (`SQUASHFS_INVALID_XATTR`).
pub const INVALID_XATTR: u32 = u32::MAX;

/// Superblock `flags` bits (squashfs-tools' squashfs_fs.h `SQUASHFS_*` bit numbers).
pub mod flags {
    /// Bit 0: inodes are stored uncompressed.
    pub const UNCOMPRESSED_INODES: u16 = 1 << 0;
    /// Bit 1: data blocks are stored uncompressed.
    pub const UNCOMPRESSED_DATA: u16 = 1 << 1;
    /// Bit 3: fragment blocks are stored uncompressed.
    pub const UNCOMPRESSED_FRAGMENTS: u16 = 1 << 3;
    /// Bit 4: no fragments were used.
    pub const NO_FRAGMENTS: u16 = 1 << 4;
    /// Bit 5: tail ends of files larger than a block went into fragments too.
    pub const ALWAYS_FRAGMENTS: u16 = 1 << 5;
    /// Bit 6: identical files were stored once.
    pub const DUPLICATES: u16 = 1 << 6;
    /// Bit 7: the image has an export (inode lookup) table.
    pub const EXPORTABLE: u16 = 1 << 7;
    /// Bit 8: xattrs are stored uncompressed.
    pub const UNCOMPRESSED_XATTRS: u16 = 1 << 8;
    /// Bit 9: xattrs were not stored.
    pub const NO_XATTRS: u16 = 1 << 9;
    /// Bit 10: a compressor options block follows the superblock.
    pub const COMPRESSOR_OPTIONS: u16 = 1 << 10;
    /// Bit 11: the id table is stored uncompressed.
    pub const UNCOMPRESSED_IDS: u16 = 1 << 11;

    /// Names of the bits above, for summaries.
    pub const NAMES: [(u16, &str); 11] = [
        (UNCOMPRESSED_INODES, "uncompressed-inodes"),
        (UNCOMPRESSED_DATA, "uncompressed-data"),
        (UNCOMPRESSED_FRAGMENTS, "uncompressed-fragments"),
        (NO_FRAGMENTS, "no-fragments"),
        (ALWAYS_FRAGMENTS, "always-fragments"),
        (DUPLICATES, "duplicates"),
        (EXPORTABLE, "exportable"),
        (UNCOMPRESSED_XATTRS, "uncompressed-xattrs"),
        (NO_XATTRS, "no-xattrs"),
        (COMPRESSOR_OPTIONS, "compressor-options"),
        (UNCOMPRESSED_IDS, "uncompressed-ids"),
    ];
}

/// The superblock. Table positions are byte offsets from the start of the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Superblock {
    /// `inodes`: number of inodes; inode numbers run from 1 to this value.
    pub inodes: u32,
    /// `mkfs_time`: creation time, seconds since the epoch, unsigned 32 bits.
    pub mkfs_time_secs: u32,
    /// `block_size`: data block size in bytes, a power of two from 4 KiB to 1 MiB.
    pub block_size_bytes: u32,
    /// `fragments`: number of entries in the fragment table.
    pub fragments: u32,
    /// `compression`: compressor id (1 gzip, 2 lzma, 3 lzo, 4 xz, 5 lz4, 6 zstd).
    pub compression: u16,
    /// `block_log`: log2 of `block_size`.
    pub block_log: u16,
    /// `flags`: see [`flags`].
    pub flags: u16,
    /// `no_ids`: number of entries in the id table (at least 1).
    pub no_ids: u16,
    /// `s_major`: 4.
    pub s_major: u16,
    /// `s_minor`: 0.
    pub s_minor: u16,
    /// `root_inode`: reference of the root directory's inode (metadata block offset << 16 |
    /// offset within the uncompressed block).
    pub root_inode: u64,
    /// `bytes_used`: length of the filesystem, before padding.
    pub bytes_used: u64,
    /// `id_table_start`: position of the id table's index.
    pub id_table_start: u64,
    /// `xattr_id_table_start`: position of the xattr id table header, or [`INVALID_BLK`].
    pub xattr_id_table_start: u64,
    /// `inode_table_start`: position of the first inode metadata block.
    pub inode_table_start: u64,
    /// `directory_table_start`: position of the first directory metadata block.
    pub directory_table_start: u64,
    /// `fragment_table_start`: position of the fragment table's index.
    pub fragment_table_start: u64,
    /// `lookup_table_start`: position of the export table's index, or [`INVALID_BLK`].
    pub lookup_table_start: u64,
}

/// A superblock that is not squashfs 4.0.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SuperblockError {
    /// Wrong magic.
    #[error("magic is {found:#010x}, expected {MAGIC:#010x} (\"hsqs\", little-endian squashfs)")]
    Magic {
        /// The value found.
        found: u32,
    },
    /// Not version 4.0.
    #[error("version is {major}.{minor}, expected 4.0")]
    Version {
        /// `s_major`.
        major: u16,
        /// `s_minor`.
        minor: u16,
    },
    /// Bad block size or log.
    #[error(
        "block size is {size} with block_log {log}, expected a power of two from 4096 to 1048576 and its log2"
    )]
    BlockSize {
        /// `block_size`.
        size: u32,
        /// `block_log`.
        log: u16,
    },
}

impl Superblock {
    /// Encoded size in bytes.
    pub const SIZE: usize = 96;

    /// Writes the superblock.
    pub fn encode(&self, out: &mut [u8; Self::SIZE]) {
        let mut w = Le::new(out);
        w.u32(MAGIC);
        w.u32(self.inodes);
        w.u32(self.mkfs_time_secs);
        w.u32(self.block_size_bytes);
        w.u32(self.fragments);
        w.u16(self.compression);
        w.u16(self.block_log);
        w.u16(self.flags);
        w.u16(self.no_ids);
        w.u16(self.s_major);
        w.u16(self.s_minor);
        w.u64(self.root_inode);
        w.u64(self.bytes_used);
        w.u64(self.id_table_start);
        w.u64(self.xattr_id_table_start);
        w.u64(self.inode_table_start);
        w.u64(self.directory_table_start);
        w.u64(self.fragment_table_start);
        w.u64(self.lookup_table_start);
    }

    /// Parses and checks magic, version and block size.
    pub fn decode(bytes: &[u8; Self::SIZE]) -> Result<Superblock, SuperblockError> {
        let mut r = LeReader::new(bytes);
        let magic = r.u32();
        if magic != MAGIC {
            return Err(SuperblockError::Magic { found: magic });
        }
        let sb = Superblock {
            inodes: r.u32(),
            mkfs_time_secs: r.u32(),
            block_size_bytes: r.u32(),
            fragments: r.u32(),
            compression: r.u16(),
            block_log: r.u16(),
            flags: r.u16(),
            no_ids: r.u16(),
            s_major: r.u16(),
            s_minor: r.u16(),
            root_inode: r.u64(),
            bytes_used: r.u64(),
            id_table_start: r.u64(),
            xattr_id_table_start: r.u64(),
            inode_table_start: r.u64(),
            directory_table_start: r.u64(),
            fragment_table_start: r.u64(),
            lookup_table_start: r.u64(),
        };
        if (sb.s_major, sb.s_minor) != (4, 0) {
            return Err(SuperblockError::Version { major: sb.s_major, minor: sb.s_minor });
        }
        let size = sb.block_size_bytes;
        let valid = size.is_power_of_two()
            && (4096..=1 << 20).contains(&size)
            && u32::from(sb.block_log) == size.trailing_zeros();
        if !valid {
            return Err(SuperblockError::BlockSize { size, log: sb.block_log });
        }
        Ok(sb)
    }
}

/// A little-endian writer over a fixed buffer; callers size the buffer for exactly what they
/// write, so running past its end is a bug in this module.
pub(crate) struct Le<'a> {
    out: &'a mut [u8],
    at: usize,
}

impl<'a> Le<'a> {
    pub(crate) fn new(out: &'a mut [u8]) -> Le<'a> {
        Le { out, at: 0 }
    }

    pub(crate) fn bytes(&mut self, bytes: &[u8]) {
        // Every struct's encode writes exactly its SIZE into a SIZE-byte buffer.
        if let Some(dst) = self.out.get_mut(self.at..self.at + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
        self.at += bytes.len();
    }

    pub(crate) fn u16(&mut self, value: u16) {
        self.bytes(&value.to_le_bytes());
    }

    pub(crate) fn u32(&mut self, value: u32) {
        self.bytes(&value.to_le_bytes());
    }

    pub(crate) fn u64(&mut self, value: u64) {
        self.bytes(&value.to_le_bytes());
    }
}

/// A little-endian reader over a fixed buffer; reads past the end give zeros (callers decode
/// fixed-size arrays of exactly the struct's SIZE).
pub(crate) struct LeReader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> LeReader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> LeReader<'a> {
        LeReader { bytes, at: 0 }
    }

    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        if let Some(src) = self.bytes.get(self.at..self.at + N) {
            out.copy_from_slice(src);
        }
        self.at += N;
        out
    }

    pub(crate) fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.take())
    }

    pub(crate) fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }

    pub(crate) fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Superblock {
        Superblock {
            inodes: 7,
            mkfs_time_secs: 1_700_000_000,
            block_size_bytes: 131_072,
            fragments: 2,
            compression: 1,
            block_log: 17,
            flags: flags::DUPLICATES | flags::EXPORTABLE,
            no_ids: 1,
            s_major: 4,
            s_minor: 0,
            root_inode: 0x0001_0020,
            bytes_used: 4000,
            id_table_start: 3990,
            xattr_id_table_start: INVALID_BLK,
            inode_table_start: 1000,
            directory_table_start: 2000,
            fragment_table_start: 3000,
            lookup_table_start: 3500,
        }
    }

    #[test]
    fn size_is_96_and_round_trips() {
        assert_eq!(Superblock::SIZE, 4 * 5 + 2 * 6 + 8 * 8);
        let mut out = [0u8; Superblock::SIZE];
        sample().encode(&mut out);
        assert_eq!(&out[..4], b"hsqs");
        // block_size at byte 12, compression at 20, root_inode at 32.
        assert_eq!(out[12..16], 131_072u32.to_le_bytes());
        assert_eq!(out[20..22], [1, 0]);
        assert_eq!(out[32..40], 0x0001_0020u64.to_le_bytes());
        assert_eq!(Superblock::decode(&out), Ok(sample()));
    }

    #[test]
    fn rejects_other_versions_and_sizes() {
        let mut out = [0u8; Superblock::SIZE];
        Superblock { s_major: 3, ..sample() }.encode(&mut out);
        assert_eq!(
            Superblock::decode(&out).unwrap_err().to_string(),
            "version is 3.0, expected 4.0"
        );
        Superblock { block_log: 16, ..sample() }.encode(&mut out);
        assert!(
            Superblock::decode(&out)
                .unwrap_err()
                .to_string()
                .starts_with("block size is 131072 with block_log 16")
        );
        out[0] = b'x';
        assert_eq!(
            Superblock::decode(&out).unwrap_err().to_string(),
            "magic is 0x73717378, expected 0x73717368 (\"hsqs\", little-endian squashfs)"
        );
    }
}

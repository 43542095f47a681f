//! Entries of the lookup tables that follow the directory table (kernel
//! fs/squashfs/squashfs_fs.h): fragments, xattrs. The id table is an array of `u32` ids and the
//! export table an array of `u64` inode references, both little-endian.
//!
//! Each table is stored as metadata blocks followed by an index: one `u64` image position per
//! metadata block; the superblock points at the index. The xattr id table's index is preceded by
//! [`XattrIdTable`].

use crate::squashfs::superblock::{Le, LeReader};

/// Bit 24 of a data or fragment block size: the block is stored uncompressed.
pub const UNCOMPRESSED_BLOCK: u32 = 1 << 24;

/// `struct squashfs_fragment_entry`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentEntry {
    /// `start_block`: position of the fragment block in the image.
    pub start_block: u64,
    /// `size`: stored size, with [`UNCOMPRESSED_BLOCK`] set if stored uncompressed.
    pub size: u32,
}

impl FragmentEntry {
    /// Encoded size in bytes (the last 4 are `unused`, zero).
    pub const SIZE: usize = 16;

    /// Writes the entry.
    pub fn encode(&self, out: &mut [u8; Self::SIZE]) {
        let mut w = Le::new(out);
        w.u64(self.start_block);
        w.u32(self.size);
        w.u32(0);
    }

    /// Parses the entry.
    pub fn decode(bytes: &[u8; Self::SIZE]) -> FragmentEntry {
        let mut r = LeReader::new(bytes);
        FragmentEntry { start_block: r.u64(), size: r.u32() }
    }
}

/// `struct squashfs_xattr_id`: one set of xattrs, shared by every inode that has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XattrId {
    /// `xattr`: reference of the set's first entry (metadata block offset relative to the xattr
    /// table << 16 | offset in the uncompressed block).
    pub xattr: u64,
    /// `count`: number of xattrs in the set.
    pub count: u32,
    /// `size`: sum over the set of full name length + 1 + value length (what listing needs).
    pub size: u32,
}

impl XattrId {
    /// Encoded size in bytes.
    pub const SIZE: usize = 16;

    /// Writes the entry.
    pub fn encode(&self, out: &mut [u8; Self::SIZE]) {
        let mut w = Le::new(out);
        w.u64(self.xattr);
        w.u32(self.count);
        w.u32(self.size);
    }

    /// Parses the entry.
    pub fn decode(bytes: &[u8; Self::SIZE]) -> XattrId {
        let mut r = LeReader::new(bytes);
        XattrId { xattr: r.u64(), count: r.u32(), size: r.u32() }
    }
}

/// `struct squashfs_xattr_id_table`: at `xattr_id_table_start`, before the index of the xattr id
/// metadata blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XattrIdTable {
    /// `xattr_table_start`: position of the first xattr key/value metadata block.
    pub xattr_table_start: u64,
    /// `xattr_ids`: number of [`XattrId`] entries (at least 1).
    pub xattr_ids: u32,
}

impl XattrIdTable {
    /// Encoded size in bytes (the last 4 are `unused`, zero).
    pub const SIZE: usize = 16;

    /// Writes the header.
    pub fn encode(&self, out: &mut [u8; Self::SIZE]) {
        let mut w = Le::new(out);
        w.u64(self.xattr_table_start);
        w.u32(self.xattr_ids);
        w.u32(0);
    }

    /// Parses the header.
    pub fn decode(bytes: &[u8; Self::SIZE]) -> XattrIdTable {
        let mut r = LeReader::new(bytes);
        XattrIdTable { xattr_table_start: r.u64(), xattr_ids: r.u32() }
    }
}

/// `squashfs_xattr_entry.type`: the name prefix (low byte) and the out-of-line value flag.
pub mod xattr_type {
    /// `user.`
    pub const USER: u16 = 0;
    /// `trusted.`
    pub const TRUSTED: u16 = 1;
    /// `security.`
    pub const SECURITY: u16 = 2;
    /// The value is a `u64` reference to a value stored elsewhere in the xattr table.
    pub const VALUE_OOL: u16 = 0x100;
    /// Mask of the prefix id.
    pub const PREFIX_MASK: u16 = 0xff;
}

/// The prefixes squashfs can store, by type id.
pub const XATTR_PREFIXES: [(u16, &str); 3] = [
    (xattr_type::USER, "user."),
    (xattr_type::TRUSTED, "trusted."),
    (xattr_type::SECURITY, "security."),
];

/// Splits a full xattr name into its prefix id and the rest; `None` for other namespaces
/// (`system.`, ...), which squashfs cannot store.
pub fn split_xattr_name(name: &str) -> Option<(u16, &str)> {
    XATTR_PREFIXES.iter().find_map(|(id, prefix)| name.strip_prefix(prefix).map(|rest| (*id, rest)))
}

/// `struct squashfs_xattr_entry` (type, name size, name) followed by `struct squashfs_xattr_val`
/// (value size, value): one xattr stored inline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XattrEntry {
    /// `type`: prefix id, with [`xattr_type::VALUE_OOL`] if the value is a reference.
    pub xattr_type: u16,
    /// The name without its prefix (`size` stores its length).
    pub name: Vec<u8>,
    /// The value (`vsize` stores its length); for an out-of-line value, the 8-byte reference.
    pub value: Vec<u8>,
}

impl XattrEntry {
    /// Appends the entry and its value.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.xattr_type.to_le_bytes());
        let size = u16::try_from(self.name.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&self.name);
        let vsize = u32::try_from(self.value.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&vsize.to_le_bytes());
        out.extend_from_slice(&self.value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_round_trips() {
        assert_eq!(FragmentEntry::SIZE, 16);
        let entry = FragmentEntry { start_block: 96, size: 100 | UNCOMPRESSED_BLOCK };
        let mut b = [0u8; FragmentEntry::SIZE];
        entry.encode(&mut b);
        assert_eq!(b[8..12], [100, 0, 0, 1]);
        assert_eq!(FragmentEntry::decode(&b), entry);

        let id = XattrId { xattr: 0x1_0002, count: 2, size: 40 };
        let mut b = [0u8; XattrId::SIZE];
        id.encode(&mut b);
        assert_eq!(XattrId::decode(&b), id);

        let table = XattrIdTable { xattr_table_start: 5000, xattr_ids: 3 };
        let mut b = [0u8; XattrIdTable::SIZE];
        table.encode(&mut b);
        assert_eq!(XattrIdTable::decode(&b), table);
    }

    #[test]
    fn xattr_entry_layout() {
        let entry = XattrEntry {
            xattr_type: xattr_type::SECURITY,
            name: b"capability".to_vec(),
            value: vec![1, 2],
        };
        let mut out = Vec::new();
        entry.encode(&mut out);
        assert_eq!(out, b"\x02\x00\x0a\x00capability\x02\x00\x00\x00\x01\x02");
        assert_eq!(split_xattr_name("security.capability"), Some((2, "capability")));
        assert_eq!(split_xattr_name("user."), Some((0, "")));
        assert_eq!(split_xattr_name("system.posix_acl_access"), None);
    }
}

//! Directory listings (kernel fs/squashfs/squashfs_fs.h `struct squashfs_dir_header`,
//! `squashfs_dir_entry`) and the index of extended directory inodes (`squashfs_dir_index`).
//!
//! A listing is a run of headers, each followed by `count + 1` entries (at most 256) whose
//! inodes lie in the same inode metadata block (`start_block`) and whose inode numbers are within
//! a signed 16-bit offset of the header's `inode_number`. Entries are sorted by name.

use crate::squashfs::inode::{InodeError, ReadMeta};
use crate::squashfs::superblock::{Le, LeReader};

/// Longest name squashfs stores (`SQUASHFS_NAME_LEN`).
pub const MAX_NAME_LEN: usize = 256;
/// Most entries after one header (`SQUASHFS_DIR_COUNT`).
pub const MAX_ENTRIES_PER_HEADER: usize = 256;

/// `struct squashfs_dir_header`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirHeader {
    /// `count`: number of entries that follow, minus one.
    pub count: u32,
    /// `start_block`: inode metadata block of every entry, relative to the inode table.
    pub start_block: u32,
    /// `inode_number`: base that each entry's `inode_offset` is added to.
    pub inode_number: u32,
}

/// `struct squashfs_dir_entry`, followed by `size + 1` name bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// `offset`: the inode's offset in its uncompressed metadata block.
    pub offset: u16,
    /// `inode_number`: signed difference from the header's inode number.
    pub inode_offset: i16,
    /// `type`: the basic inode type (1 to 7).
    pub entry_type: u16,
    /// The name (`size` stores its length minus one), 1 to 256 bytes.
    pub name: Vec<u8>,
}

/// `struct squashfs_dir_index`, followed by `size + 1` name bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirIndex {
    /// `index`: offset of a header from the start of the listing.
    pub index: u32,
    /// `start_block`: directory metadata block holding that header, relative to the directory
    /// table.
    pub start_block: u32,
    /// The first name after that header (`size` stores its length minus one).
    pub name: Vec<u8>,
}

impl DirHeader {
    /// Encoded size in bytes.
    pub const SIZE: usize = 12;

    /// Writes the header.
    pub fn encode(&self, out: &mut [u8; Self::SIZE]) {
        let mut w = Le::new(out);
        w.u32(self.count);
        w.u32(self.start_block);
        w.u32(self.inode_number);
    }

    /// Parses the header.
    pub fn decode(bytes: &[u8; Self::SIZE]) -> DirHeader {
        let mut r = LeReader::new(bytes);
        DirHeader { count: r.u32(), start_block: r.u32(), inode_number: r.u32() }
    }
}

impl DirEntry {
    /// Encoded size of the fixed part in bytes.
    pub const SIZE: usize = 8;

    /// Appends the entry and its name.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.offset.to_le_bytes());
        out.extend_from_slice(&self.inode_offset.to_le_bytes());
        out.extend_from_slice(&self.entry_type.to_le_bytes());
        let size = u16::try_from(self.name.len().saturating_sub(1)).unwrap_or(u16::MAX);
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&self.name);
    }

    /// Reads an entry and its name; names longer than 256 bytes are an error.
    pub fn decode<E: From<InodeError>>(read: &mut ReadMeta<'_, E>) -> Result<DirEntry, E> {
        let mut b = [0u8; Self::SIZE];
        read(&mut b)?;
        let mut r = LeReader::new(&b);
        let offset = r.u16();
        let inode_offset = i16::from_le_bytes(r.u16().to_le_bytes());
        let entry_type = r.u16();
        let name = read_name(read, u32::from(r.u16()))?;
        Ok(DirEntry { offset, inode_offset, entry_type, name })
    }
}

impl DirIndex {
    /// Encoded size of the fixed part in bytes.
    pub const SIZE: usize = 12;

    /// Appends the index entry and its name.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.index.to_le_bytes());
        out.extend_from_slice(&self.start_block.to_le_bytes());
        let size = u32::try_from(self.name.len().saturating_sub(1)).unwrap_or(u32::MAX);
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&self.name);
    }

    /// Reads an index entry and its name.
    pub fn decode<E: From<InodeError>>(read: &mut ReadMeta<'_, E>) -> Result<DirIndex, E> {
        let mut b = [0u8; Self::SIZE];
        read(&mut b)?;
        let mut r = LeReader::new(&b);
        let index = r.u32();
        let start_block = r.u32();
        let name = read_name(read, r.u32())?;
        Ok(DirIndex { index, start_block, name })
    }
}

fn read_name<E: From<InodeError>>(read: &mut ReadMeta<'_, E>, size: u32) -> Result<Vec<u8>, E> {
    let len = u64::from(size) + 1;
    if len > 256 {
        return Err(InodeError::TooLarge { field: "name length", found: len, max: 256 }.into());
    }
    let mut name = vec![0u8; usize::try_from(len).unwrap_or(0)];
    read(&mut name)?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(bytes: &[u8]) -> impl FnMut(&mut [u8]) -> Result<(), InodeError> + '_ {
        let mut at = 0;
        move |buf: &mut [u8]| {
            buf.copy_from_slice(&bytes[at..at + buf.len()]);
            at += buf.len();
            Ok(())
        }
    }

    #[test]
    fn round_trips() {
        assert_eq!(DirHeader::SIZE, 12);
        let header = DirHeader { count: 255, start_block: 8200, inode_number: 40_000 };
        let mut b = [0u8; DirHeader::SIZE];
        header.encode(&mut b);
        assert_eq!(DirHeader::decode(&b), header);

        let entry =
            DirEntry { offset: 8190, inode_offset: -3, entry_type: 2, name: b"\xc3\xa9".to_vec() };
        let mut bytes = Vec::new();
        entry.encode(&mut bytes);
        assert_eq!(bytes, [0xfe, 0x1f, 0xfd, 0xff, 2, 0, 1, 0, 0xc3, 0xa9]);
        assert_eq!(DirEntry::decode(&mut reader(&bytes)), Ok(entry));

        let index = DirIndex { index: 8192, start_block: 1000, name: vec![b'x'; 256] };
        let mut bytes = Vec::new();
        index.encode(&mut bytes);
        assert_eq!(bytes.len(), DirIndex::SIZE + 256);
        assert_eq!(DirIndex::decode(&mut reader(&bytes)), Ok(index));
        bytes[8] = 0;
        bytes[9] = 1;
        assert_eq!(
            DirIndex::decode(&mut reader(&bytes)).unwrap_err().to_string(),
            "name length is 257, expected at most 256"
        );
    }
}

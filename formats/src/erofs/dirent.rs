//! EROFS directory entries (`struct erofs_dirent`, 12 bytes) and the directory block layout.
//!
//! A directory's data is a sequence of 4 KiB blocks (the last one possibly shorter, and then
//! usually packed inline after the inode). Each block starts with the dirents of the names it
//! holds, followed by those names without terminators; the first dirent's `nameoff` divided by
//! 12 is the number of entries in the block, a name ends where the next one starts, and the last
//! name of a block ends at the first NUL or at the end of the block (or of the directory).
//! Names, including `.` and `..`, are sorted by bytes (`strcmp`) across the whole directory so
//! the kernel can binary-search them; an entry never straddles two blocks.

use crate::erofs::superblock::BLOCK_SIZE;

/// `EROFS_NAME_LEN`: the longest name a dirent may carry.
pub(crate) const NAME_LEN_MAX: usize = 255;

/// File type codes of `file_type` (`EROFS_FT_*`).
pub(crate) mod file_type {
    /// Regular file.
    pub(crate) const REG_FILE: u8 = 1;
    /// Directory.
    pub(crate) const DIR: u8 = 2;
    /// Character device.
    pub(crate) const CHRDEV: u8 = 3;
    /// Block device.
    pub(crate) const BLKDEV: u8 = 4;
    /// Named pipe.
    pub(crate) const FIFO: u8 = 5;
    /// Symbolic link.
    pub(crate) const SYMLINK: u8 = 7;
}

/// `struct erofs_dirent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dirent {
    /// `nid`: inode number of the entry.
    pub(crate) nid: u64,
    /// `nameoff`: offset of the name from the start of the block.
    pub(crate) nameoff: u16,
    /// `file_type`: one of [`file_type`].
    pub(crate) file_type: u8,
}

impl Dirent {
    /// Encoded size in bytes.
    pub(crate) const SIZE: usize = 12;

    /// Writes the dirent; the reserved byte is zero.
    pub(crate) fn encode(&self, out: &mut [u8; Self::SIZE]) {
        out[0..8].copy_from_slice(&self.nid.to_le_bytes());
        out[8..10].copy_from_slice(&self.nameoff.to_le_bytes());
        out[10] = self.file_type;
        out[11] = 0;
    }

    /// Parses a dirent.
    pub(crate) fn decode(bytes: &[u8; Self::SIZE]) -> Dirent {
        let mut nid = [0u8; 8];
        nid.copy_from_slice(&bytes[0..8]);
        Dirent {
            nid: u64::from_le_bytes(nid),
            nameoff: u16::from_le_bytes([bytes[8], bytes[9]]),
            file_type: bytes[10],
        }
    }
}

/// One entry of a directory to lay out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DirEntry<'a> {
    /// The name (1 to 255 bytes).
    pub(crate) name: &'a [u8],
    /// The entry's inode.
    pub(crate) nid: u64,
    /// Its [`file_type`].
    pub(crate) file_type: u8,
}

/// Size in bytes of a directory holding `names` (already sorted): each block holds as many
/// entries as fit, as mkfs.erofs packs them.
pub(crate) fn dir_size<'a>(names: impl Iterator<Item = &'a [u8]>) -> u64 {
    let mut size: u64 = 0;
    for name in names {
        let len = u64::try_from(Dirent::SIZE + name.len()).unwrap_or(u64::MAX);
        let block = u64::try_from(BLOCK_SIZE).unwrap_or(u64::MAX);
        if size % block + len > block {
            size = size.next_multiple_of(block);
        }
        size += len;
    }
    size
}

/// Encodes the sorted `entries` into directory data of exactly [`dir_size`] bytes.
pub(crate) fn encode_dir(entries: &[DirEntry<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut block_start = 0;
    while block_start < entries.len() {
        // Take as many entries as fit in one block.
        let mut used = 0;
        let mut block_end = block_start;
        while block_end < entries.len() {
            let len = Dirent::SIZE + entries[block_end].name.len();
            if used + len > BLOCK_SIZE {
                break;
            }
            used += len;
            block_end += 1;
        }
        if block_end == block_start {
            // A name longer than a block cannot occur (names are at most 255 bytes).
            break;
        }
        let block = &entries[block_start..block_end];
        let base = out.len();
        let mut nameoff = Dirent::SIZE * block.len();
        for entry in block {
            let dirent = Dirent {
                nid: entry.nid,
                // nameoff < 4096 within a block.
                nameoff: u16::try_from(nameoff).unwrap_or(u16::MAX),
                file_type: entry.file_type,
            };
            let mut bytes = [0u8; Dirent::SIZE];
            dirent.encode(&mut bytes);
            out.extend_from_slice(&bytes);
            nameoff += entry.name.len();
        }
        for entry in block {
            out.extend_from_slice(entry.name);
        }
        block_start = block_end;
        if block_start < entries.len() {
            // Zero-fill the rest of a full block; the last block ends with its last name.
            out.resize(base + BLOCK_SIZE, 0);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirent_round_trip() {
        assert_eq!(Dirent::SIZE, 12);
        let dirent = Dirent { nid: 0x1_0000_0080, nameoff: 36, file_type: file_type::DIR };
        let mut bytes = [0u8; Dirent::SIZE];
        dirent.encode(&mut bytes);
        assert_eq!(bytes, [0x80, 0, 0, 0, 1, 0, 0, 0, 36, 0, 2, 0]);
        assert_eq!(Dirent::decode(&bytes), dirent);
    }

    #[test]
    fn blocks_hold_whole_entries() {
        // 300 names of 13 bytes: 25 bytes each, 163 per block (4075 bytes), 137 in the tail.
        let names: Vec<Vec<u8>> = (0..300).map(|i| format!("name-{i:08}").into_bytes()).collect();
        assert_eq!(dir_size(names.iter().map(Vec::as_slice)), 4096 + 137 * 25);
        let entries: Vec<DirEntry<'_>> = names
            .iter()
            .map(|name| DirEntry { name, nid: 1, file_type: file_type::REG_FILE })
            .collect();
        let data = encode_dir(&entries);
        assert_eq!(data.len(), 4096 + 137 * 25);
        assert_eq!(u16::from_le_bytes([data[8], data[9]]), 163 * 12);
        assert_eq!(&data[163 * 12..163 * 12 + 13], b"name-00000000");
        assert!(data[4075..4096].iter().all(|b| *b == 0));
        assert_eq!(u16::from_le_bytes([data[4096 + 8], data[4096 + 9]]), 137 * 12);
    }
}

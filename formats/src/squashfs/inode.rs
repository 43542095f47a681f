//! Inodes (kernel fs/squashfs/squashfs_fs.h `struct squashfs_*_inode`): a 16-byte common header
//! followed by a type-specific part, all little-endian, stored in the inode table's metadata
//! blocks. Extended ("l") variants carry an xattr index, wider fields or a directory index.

use crate::squashfs::dir::DirIndex;
use crate::squashfs::superblock::{Le, LeReader};

/// Inode types (`SQUASHFS_*_TYPE`); directory entries store only the basic ones (1 to 7).
pub mod kind {
    /// Basic directory.
    pub const DIR: u16 = 1;
    /// Basic regular file.
    pub const FILE: u16 = 2;
    /// Basic symlink.
    pub const SYMLINK: u16 = 3;
    /// Basic block device.
    pub const BLOCK_DEV: u16 = 4;
    /// Basic character device.
    pub const CHAR_DEV: u16 = 5;
    /// Basic fifo.
    pub const FIFO: u16 = 6;
    /// Basic socket.
    pub const SOCKET: u16 = 7;
    /// Extended directory.
    pub const EXT_DIR: u16 = 8;
    /// Extended regular file.
    pub const EXT_FILE: u16 = 9;
    /// Extended symlink.
    pub const EXT_SYMLINK: u16 = 10;
    /// Extended block device.
    pub const EXT_BLOCK_DEV: u16 = 11;
    /// Extended character device.
    pub const EXT_CHAR_DEV: u16 = 12;
    /// Extended fifo.
    pub const EXT_FIFO: u16 = 13;
    /// Extended socket.
    pub const EXT_SOCKET: u16 = 14;

    /// The basic type of any type: what a directory entry stores.
    pub fn basic(inode_type: u16) -> u16 {
        if inode_type > SOCKET { inode_type - 7 } else { inode_type }
    }
}

/// `struct squashfs_base_inode`: the fields every inode starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InodeHeader {
    /// `inode_type`: one of [`kind`].
    pub inode_type: u16,
    /// `mode`: permission bits (the type bits are implied by `inode_type`; mksquashfs stores the
    /// full `st_mode`, readers mask it).
    pub mode: u16,
    /// `uid`: index into the id table.
    pub uid_idx: u16,
    /// `guid`: index into the id table.
    pub gid_idx: u16,
    /// `mtime`: modification time, seconds since the epoch, unsigned 32 bits.
    pub mtime_secs: u32,
    /// `inode_number`: 1 to the superblock's `inodes`.
    pub inode_number: u32,
}

/// `struct squashfs_dir_inode` after the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirInode {
    /// `start_block`: the listing's metadata block, relative to the directory table.
    pub start_block: u32,
    /// `nlink`: 2 plus the number of subdirectories.
    pub nlink: u32,
    /// `file_size`: listing bytes plus 3 (for `.` and `..`).
    pub file_size: u16,
    /// `offset`: the listing's offset in the uncompressed metadata block.
    pub offset: u16,
    /// `parent_inode`: inode number of the parent (the root's is `inodes + 1`).
    pub parent_inode: u32,
}

/// `struct squashfs_ldir_inode` after the header; `i_count` [`DirIndex`] entries follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtDirInode {
    /// `nlink`: 2 plus the number of subdirectories.
    pub nlink: u32,
    /// `file_size`: listing bytes plus 3.
    pub file_size: u32,
    /// `start_block`: the listing's metadata block, relative to the directory table.
    pub start_block: u32,
    /// `parent_inode`: inode number of the parent.
    pub parent_inode: u32,
    /// `i_count`: number of directory index entries that follow.
    pub i_count: u16,
    /// `offset`: the listing's offset in the uncompressed metadata block.
    pub offset: u16,
    /// `xattr`: index into the xattr id table, or `SQUASHFS_INVALID_XATTR`.
    pub xattr: u32,
}

/// `struct squashfs_reg_inode` after the header; one `u32` block size per full data block
/// follows (bit 24 set: stored uncompressed; 0: a hole of zeros).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileInode {
    /// `start_block`: position of the first data block in the image.
    pub start_block: u32,
    /// `fragment`: fragment table index of the tail, or `SQUASHFS_INVALID_FRAG`.
    pub fragment: u32,
    /// `offset`: the tail's offset in the uncompressed fragment block.
    pub offset: u32,
    /// `file_size`: size in bytes.
    pub file_size: u32,
}

/// `struct squashfs_lreg_inode` after the header; the block sizes follow as for [`FileInode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtFileInode {
    /// `start_block`: position of the first data block in the image.
    pub start_block: u64,
    /// `file_size`: size in bytes.
    pub file_size: u64,
    /// `sparse`: bytes saved by holes, for `st_blocks` (mksquashfs writes 0 unless the source
    /// file itself was sparse).
    pub sparse: u64,
    /// `nlink`: number of names.
    pub nlink: u32,
    /// `fragment`: fragment table index of the tail, or `SQUASHFS_INVALID_FRAG`.
    pub fragment: u32,
    /// `offset`: the tail's offset in the uncompressed fragment block.
    pub offset: u32,
    /// `xattr`: index into the xattr id table, or `SQUASHFS_INVALID_XATTR`.
    pub xattr: u32,
}

/// `struct squashfs_symlink_inode` after the header; `symlink_size` target bytes follow, then
/// (extended type only) a `u32` xattr index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SymlinkInode {
    /// `nlink`: number of names.
    pub nlink: u32,
    /// `symlink_size`: length of the target.
    pub symlink_size: u32,
}

/// `struct squashfs_dev_inode` / `squashfs_ldev_inode` after the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevInode {
    /// `nlink`: number of names.
    pub nlink: u32,
    /// `rdev`: Linux `new_encode_dev`: minor bits 0-7, major bits 8-19, minor bits 8-19 at 20-31.
    pub rdev: u32,
    /// `xattr` (extended type only).
    pub xattr: Option<u32>,
}

/// `struct squashfs_ipc_inode` / `squashfs_lipc_inode` after the header (fifos and sockets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpcInode {
    /// `nlink`: number of names.
    pub nlink: u32,
    /// `xattr` (extended type only).
    pub xattr: Option<u32>,
}

/// A whole inode: header and body with its variable-length tail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inode {
    /// The common header.
    pub header: InodeHeader,
    /// The type-specific part.
    pub body: Body,
}

/// The type-specific part of an inode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// Basic directory.
    Dir(DirInode),
    /// Extended directory and its index.
    ExtDir(ExtDirInode, Vec<DirIndex>),
    /// Basic file and its block sizes.
    File(FileInode, Vec<u32>),
    /// Extended file and its block sizes.
    ExtFile(ExtFileInode, Vec<u32>),
    /// Symlink, its target and (extended) its xattr index.
    Symlink(SymlinkInode, Vec<u8>, Option<u32>),
    /// Block or character device.
    Dev(DevInode),
    /// Fifo or socket.
    Ipc(IpcInode),
}

/// A malformed inode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InodeError {
    /// Unknown type.
    #[error("inode type is {found}, expected 1 to 14")]
    Type {
        /// The type found.
        found: u16,
    },
    /// A length field is beyond what squashfs or Linux allows.
    #[error("{field} is {found}, expected at most {max}")]
    TooLarge {
        /// The field.
        field: &'static str,
        /// Its value.
        found: u64,
        /// The limit.
        max: u64,
    },
}

/// Source of the bytes of an inode: reads exactly `buf.len()` bytes from the metadata stream.
pub type ReadMeta<'a, E> = dyn FnMut(&mut [u8]) -> Result<(), E> + 'a;

impl InodeHeader {
    /// Encoded size in bytes.
    pub const SIZE: usize = 16;

    /// Writes the header.
    pub fn encode(&self, out: &mut [u8; Self::SIZE]) {
        let mut w = Le::new(out);
        w.u16(self.inode_type);
        w.u16(self.mode);
        w.u16(self.uid_idx);
        w.u16(self.gid_idx);
        w.u32(self.mtime_secs);
        w.u32(self.inode_number);
    }

    /// Parses the header.
    pub fn decode(bytes: &[u8; Self::SIZE]) -> InodeHeader {
        let mut r = LeReader::new(bytes);
        InodeHeader {
            inode_type: r.u16(),
            mode: r.u16(),
            uid_idx: r.u16(),
            gid_idx: r.u16(),
            mtime_secs: r.u32(),
            inode_number: r.u32(),
        }
    }
}

impl DirInode {
    /// Encoded size in bytes.
    pub const SIZE: usize = 16;

    /// Writes the fields.
    pub fn encode(&self, out: &mut [u8; Self::SIZE]) {
        let mut w = Le::new(out);
        w.u32(self.start_block);
        w.u32(self.nlink);
        w.u16(self.file_size);
        w.u16(self.offset);
        w.u32(self.parent_inode);
    }

    /// Parses the fields.
    pub fn decode(bytes: &[u8; Self::SIZE]) -> DirInode {
        let mut r = LeReader::new(bytes);
        DirInode {
            start_block: r.u32(),
            nlink: r.u32(),
            file_size: r.u16(),
            offset: r.u16(),
            parent_inode: r.u32(),
        }
    }
}

impl ExtDirInode {
    /// Encoded size in bytes.
    pub const SIZE: usize = 24;

    /// Writes the fields.
    pub fn encode(&self, out: &mut [u8; Self::SIZE]) {
        let mut w = Le::new(out);
        w.u32(self.nlink);
        w.u32(self.file_size);
        w.u32(self.start_block);
        w.u32(self.parent_inode);
        w.u16(self.i_count);
        w.u16(self.offset);
        w.u32(self.xattr);
    }

    /// Parses the fields.
    pub fn decode(bytes: &[u8; Self::SIZE]) -> ExtDirInode {
        let mut r = LeReader::new(bytes);
        ExtDirInode {
            nlink: r.u32(),
            file_size: r.u32(),
            start_block: r.u32(),
            parent_inode: r.u32(),
            i_count: r.u16(),
            offset: r.u16(),
            xattr: r.u32(),
        }
    }
}

impl FileInode {
    /// Encoded size in bytes.
    pub const SIZE: usize = 16;

    /// Writes the fields.
    pub fn encode(&self, out: &mut [u8; Self::SIZE]) {
        let mut w = Le::new(out);
        w.u32(self.start_block);
        w.u32(self.fragment);
        w.u32(self.offset);
        w.u32(self.file_size);
    }

    /// Parses the fields.
    pub fn decode(bytes: &[u8; Self::SIZE]) -> FileInode {
        let mut r = LeReader::new(bytes);
        FileInode { start_block: r.u32(), fragment: r.u32(), offset: r.u32(), file_size: r.u32() }
    }
}

impl ExtFileInode {
    /// Encoded size in bytes.
    pub const SIZE: usize = 40;

    /// Writes the fields.
    pub fn encode(&self, out: &mut [u8; Self::SIZE]) {
        let mut w = Le::new(out);
        w.u64(self.start_block);
        w.u64(self.file_size);
        w.u64(self.sparse);
        w.u32(self.nlink);
        w.u32(self.fragment);
        w.u32(self.offset);
        w.u32(self.xattr);
    }

    /// Parses the fields.
    pub fn decode(bytes: &[u8; Self::SIZE]) -> ExtFileInode {
        let mut r = LeReader::new(bytes);
        ExtFileInode {
            start_block: r.u64(),
            file_size: r.u64(),
            sparse: r.u64(),
            nlink: r.u32(),
            fragment: r.u32(),
            offset: r.u32(),
            xattr: r.u32(),
        }
    }
}

/// Number of block sizes stored after a file inode: full blocks, plus the partial last block
/// when the tail is not in a fragment.
pub fn block_count(file_size: u64, block_size: u32, has_fragment: bool) -> u64 {
    let block_size = u64::from(block_size);
    if has_fragment { file_size / block_size } else { file_size.div_ceil(block_size) }
}

/// Linux `new_encode_dev`, as mksquashfs stores `rdev`; `None` when the numbers do not fit
/// (major at most 0xfff, minor at most 0xf_ffff).
pub fn encode_rdev(major: u32, minor: u32) -> Option<u32> {
    if major > 0xfff || minor > 0xf_ffff {
        return None;
    }
    Some((minor & 0xff) | (major << 8) | ((minor & !0xff) << 12))
}

/// Linux `new_decode_dev`: (major, minor).
pub fn decode_rdev(rdev: u32) -> (u32, u32) {
    ((rdev & 0xf_ff00) >> 8, (rdev & 0xff) | ((rdev >> 12) & 0xf_ff00))
}

fn push<const N: usize>(out: &mut Vec<u8>, encode: impl FnOnce(&mut [u8; N])) {
    let mut bytes = [0u8; N];
    encode(&mut bytes);
    out.extend_from_slice(&bytes);
}

impl Inode {
    /// Appends the encoded inode to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        push(out, |b| self.header.encode(b));
        match &self.body {
            Body::Dir(dir) => push(out, |b| dir.encode(b)),
            Body::ExtDir(dir, index) => {
                push(out, |b| dir.encode(b));
                for entry in index {
                    entry.encode(out);
                }
            }
            Body::File(file, blocks) => {
                push(out, |b| file.encode(b));
                for size in blocks {
                    out.extend_from_slice(&size.to_le_bytes());
                }
            }
            Body::ExtFile(file, blocks) => {
                push(out, |b| file.encode(b));
                for size in blocks {
                    out.extend_from_slice(&size.to_le_bytes());
                }
            }
            Body::Symlink(link, target, xattr) => {
                out.extend_from_slice(&link.nlink.to_le_bytes());
                out.extend_from_slice(&link.symlink_size.to_le_bytes());
                out.extend_from_slice(target);
                if let Some(xattr) = xattr {
                    out.extend_from_slice(&xattr.to_le_bytes());
                }
            }
            Body::Dev(dev) => {
                out.extend_from_slice(&dev.nlink.to_le_bytes());
                out.extend_from_slice(&dev.rdev.to_le_bytes());
                if let Some(xattr) = dev.xattr {
                    out.extend_from_slice(&xattr.to_le_bytes());
                }
            }
            Body::Ipc(ipc) => {
                out.extend_from_slice(&ipc.nlink.to_le_bytes());
                if let Some(xattr) = ipc.xattr {
                    out.extend_from_slice(&xattr.to_le_bytes());
                }
            }
        }
    }

    /// Reads one inode through `read`. `block_size` gives the number of block sizes of a file.
    /// Lengths are checked before anything is allocated: a symlink target is at most 4095
    /// bytes (Linux's PATH_MAX - 1, as the kernel requires), and a block list at most
    /// `max_blocks` entries.
    pub fn decode<E: From<InodeError>>(
        read: &mut ReadMeta<'_, E>,
        block_size: u32,
        max_blocks: u64,
    ) -> Result<Inode, E> {
        let mut bytes = [0u8; InodeHeader::SIZE];
        read(&mut bytes)?;
        let header = InodeHeader::decode(&bytes);
        let u32_field = |read: &mut ReadMeta<'_, E>| -> Result<u32, E> {
            let mut b = [0u8; 4];
            read(&mut b)?;
            Ok(u32::from_le_bytes(b))
        };
        let body = match header.inode_type {
            kind::DIR => {
                let mut b = [0u8; DirInode::SIZE];
                read(&mut b)?;
                Body::Dir(DirInode::decode(&b))
            }
            kind::EXT_DIR => {
                let mut b = [0u8; ExtDirInode::SIZE];
                read(&mut b)?;
                let dir = ExtDirInode::decode(&b);
                let mut index = Vec::new();
                for _ in 0..dir.i_count {
                    index.push(DirIndex::decode(read)?);
                }
                Body::ExtDir(dir, index)
            }
            kind::FILE => {
                let mut b = [0u8; FileInode::SIZE];
                read(&mut b)?;
                let file = FileInode::decode(&b);
                let has_fragment = file.fragment != super::superblock::INVALID_FRAG;
                let n = block_count(u64::from(file.file_size), block_size, has_fragment);
                Body::File(file, read_blocks(read, n, max_blocks)?)
            }
            kind::EXT_FILE => {
                let mut b = [0u8; ExtFileInode::SIZE];
                read(&mut b)?;
                let file = ExtFileInode::decode(&b);
                let has_fragment = file.fragment != super::superblock::INVALID_FRAG;
                let n = block_count(file.file_size, block_size, has_fragment);
                Body::ExtFile(file, read_blocks(read, n, max_blocks)?)
            }
            kind::SYMLINK | kind::EXT_SYMLINK => {
                let nlink = u32_field(read)?;
                let symlink_size = u32_field(read)?;
                if symlink_size > 4095 {
                    return Err(InodeError::TooLarge {
                        field: "symlink_size",
                        found: u64::from(symlink_size),
                        max: 4095,
                    }
                    .into());
                }
                let mut target = vec![0u8; usize::try_from(symlink_size).unwrap_or(0)];
                read(&mut target)?;
                let xattr = if header.inode_type == kind::EXT_SYMLINK {
                    Some(u32_field(read)?)
                } else {
                    None
                };
                Body::Symlink(SymlinkInode { nlink, symlink_size }, target, xattr)
            }
            kind::BLOCK_DEV | kind::CHAR_DEV | kind::EXT_BLOCK_DEV | kind::EXT_CHAR_DEV => {
                let nlink = u32_field(read)?;
                let rdev = u32_field(read)?;
                let xattr =
                    if header.inode_type > kind::SOCKET { Some(u32_field(read)?) } else { None };
                Body::Dev(DevInode { nlink, rdev, xattr })
            }
            kind::FIFO | kind::SOCKET | kind::EXT_FIFO | kind::EXT_SOCKET => {
                let nlink = u32_field(read)?;
                let xattr =
                    if header.inode_type > kind::SOCKET { Some(u32_field(read)?) } else { None };
                Body::Ipc(IpcInode { nlink, xattr })
            }
            found => return Err(InodeError::Type { found }.into()),
        };
        Ok(Inode { header, body })
    }
}

fn read_blocks<E: From<InodeError>>(
    read: &mut ReadMeta<'_, E>,
    n: u64,
    max_blocks: u64,
) -> Result<Vec<u32>, E> {
    if n > max_blocks {
        return Err(InodeError::TooLarge { field: "block count", found: n, max: max_blocks }.into());
    }
    let mut blocks = Vec::new();
    for _ in 0..n {
        let mut b = [0u8; 4];
        read(&mut b)?;
        blocks.push(u32::from_le_bytes(b));
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(inode: &Inode) -> Vec<u8> {
        let mut bytes = Vec::new();
        inode.encode(&mut bytes);
        let mut at = 0;
        let mut read = |buf: &mut [u8]| -> Result<(), InodeError> {
            buf.copy_from_slice(&bytes[at..at + buf.len()]);
            at += buf.len();
            Ok(())
        };
        let back = Inode::decode(&mut read, 4096, 1000).unwrap();
        assert_eq!(&back, inode);
        assert_eq!(at, bytes.len());
        bytes
    }

    fn header(inode_type: u16) -> InodeHeader {
        InodeHeader {
            inode_type,
            mode: 0o4755,
            uid_idx: 1,
            gid_idx: 2,
            mtime_secs: 1_700_000_000,
            inode_number: 9,
        }
    }

    #[test]
    fn sizes_are_pinned() {
        assert_eq!(InodeHeader::SIZE, 16);
        assert_eq!(DirInode::SIZE, 32 - 16);
        assert_eq!(ExtDirInode::SIZE, 40 - 16);
        assert_eq!(FileInode::SIZE, 32 - 16);
        assert_eq!(ExtFileInode::SIZE, 56 - 16);
    }

    #[test]
    fn every_type_round_trips() {
        let file = FileInode { start_block: 96, fragment: 0, offset: 10, file_size: 4096 * 2 + 5 };
        let bytes = round_trip(&Inode {
            header: header(kind::FILE),
            body: Body::File(file, vec![100, 4096 | 1 << 24]),
        });
        assert_eq!(bytes.len(), 32 + 8);
        assert_eq!(bytes[..2], [2, 0]);
        let ext = ExtFileInode {
            start_block: 1 << 33,
            file_size: 3,
            sparse: 0,
            nlink: 2,
            fragment: super::super::superblock::INVALID_FRAG,
            offset: 0,
            xattr: 0,
        };
        assert_eq!(
            round_trip(&Inode {
                header: header(kind::EXT_FILE),
                body: Body::ExtFile(ext, vec![3])
            })
            .len(),
            60
        );
        let dir =
            DirInode { start_block: 8, nlink: 3, file_size: 40, offset: 100, parent_inode: 12 };
        round_trip(&Inode { header: header(kind::DIR), body: Body::Dir(dir) });
        let ext_dir = ExtDirInode {
            nlink: 2,
            file_size: 9000,
            start_block: 0,
            parent_inode: 1,
            i_count: 1,
            offset: 0,
            xattr: 3,
        };
        let index = vec![DirIndex { index: 8000, start_block: 300, name: b"zz".to_vec() }];
        assert_eq!(
            round_trip(&Inode {
                header: header(kind::EXT_DIR),
                body: Body::ExtDir(ext_dir, index)
            })
            .len(),
            40 + 14
        );
        let link = SymlinkInode { nlink: 1, symlink_size: 3 };
        assert_eq!(
            round_trip(&Inode {
                header: header(kind::EXT_SYMLINK),
                body: Body::Symlink(link, b"abc".to_vec(), Some(0))
            })
            .len(),
            16 + 8 + 3 + 4
        );
        round_trip(&Inode {
            header: header(kind::CHAR_DEV),
            body: Body::Dev(DevInode { nlink: 1, rdev: 0x501, xattr: None }),
        });
        round_trip(&Inode {
            header: header(kind::EXT_FIFO),
            body: Body::Ipc(IpcInode { nlink: 1, xattr: Some(7) }),
        });
    }

    #[test]
    fn device_numbers_use_linux_new_encoding() {
        assert_eq!(encode_rdev(8, 16), Some(0x810));
        assert_eq!(encode_rdev(0xfff, 0xf_ffff), Some(0xfff_fffff));
        assert_eq!(decode_rdev(0xfff_fffff), (0xfff, 0xf_ffff));
        assert_eq!(decode_rdev(encode_rdev(259, 70_000).unwrap()), (259, 70_000));
        assert_eq!(encode_rdev(0x1000, 0), None);
        assert_eq!(encode_rdev(0, 0x10_0000), None);
    }

    #[test]
    fn block_counts() {
        assert_eq!(block_count(0, 4096, false), 0);
        assert_eq!(block_count(4096, 4096, false), 1);
        assert_eq!(block_count(4097, 4096, false), 2);
        assert_eq!(block_count(4097, 4096, true), 1);
        assert_eq!(kind::basic(kind::EXT_FILE), kind::FILE);
        assert_eq!(kind::basic(kind::FIFO), kind::FIFO);
    }
}

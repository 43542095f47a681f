//! Reading EROFS images (kit's and mkfs.erofs 1.5's) into a tree, treating every byte as
//! untrusted: offsets and lengths are checked against the image, the walk is iterative and
//! visits each directory once, and decoded data is bounded by a budget.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;

use crate::dump::display_path;
use crate::erofs::Error;
use crate::erofs::dirent::{Dirent, NAME_LEN_MAX};
use crate::erofs::inode::{
    FORMAT_KNOWN_BITS, FORMAT_VERSION_EXTENDED, InodeCompact, InodeExtended, LAYOUT_CHUNK_BASED,
    LAYOUT_FLAT_COMPRESSION, LAYOUT_FLAT_COMPRESSION_LEGACY, LAYOUT_FLAT_INLINE, LAYOUT_FLAT_PLAIN,
    decode_dev, mode,
};
use crate::erofs::superblock::{
    BLOCK_SIZE_BITS, FEATURE_COMPAT_MTIME, FEATURE_COMPAT_SB_CHKSUM, FEATURE_INCOMPAT_CHUNKED_FILE,
    FEATURE_INCOMPAT_COMPR_CFGS, FEATURE_INCOMPAT_DEVICE_TABLE, FEATURE_INCOMPAT_KNOWN,
    FEATURE_INCOMPAT_LZ4_0PADDING, FEATURE_INCOMPAT_ZTAILPACKING, SuperBlock, block0_checksum,
};
use crate::erofs::xattr::{IbodyHeader, XattrEntry, prefix_of};
use crate::erofs::zmap::{
    ADVISE_BIG_PCLUSTER_1, ADVISE_BIG_PCLUSTER_2, ADVISE_COMPACTED_2B, ADVISE_INLINE_PCLUSTER,
    CLUSTER_TYPE_HEAD, CLUSTER_TYPE_NONHEAD, CLUSTER_TYPE_PLAIN, DecompressedIndex,
    LEGACY_INDEX_START, Lcluster, MapHeader, compacted_lcluster,
};
use crate::extract::TreeBuilder;
use crate::tree::{Content, Dir, Meta, Node, NodeKind, Tree};

const BLOCK: u64 = 4096;

/// A reader that can also seek.
pub(crate) trait ReadSeek: Read + Seek {}

impl<T: Read + Seek> ReadSeek for T {}

struct Image<'a> {
    input: &'a mut dyn ReadSeek,
    len: u64,
    /// Bytes of file and directory data still allowed to be decoded.
    budget: u64,
}

impl Image<'_> {
    fn open(input: &mut dyn ReadSeek) -> Result<Image<'_>, Error> {
        let len = input.seek(SeekFrom::End(0)).map_err(|source| Error::ReadInput { source })?;
        Ok(Image { input, len, budget: len.saturating_mul(256).saturating_add(1 << 20) })
    }

    fn bytes(&mut self, what: &'static str, offset: u64, size: u64) -> Result<Vec<u8>, Error> {
        let out_of_bounds = Error::OutOfBounds { what, offset, size, len: self.len };
        let end = offset.checked_add(size);
        if end.is_none_or(|end| end > self.len) {
            return Err(out_of_bounds);
        }
        let size = usize::try_from(size).map_err(|_| out_of_bounds)?;
        let mut buf = vec![0u8; size];
        self.input.seek(SeekFrom::Start(offset)).map_err(|source| Error::ReadInput { source })?;
        self.input.read_exact(&mut buf).map_err(|source| Error::ReadInput { source })?;
        Ok(buf)
    }

    fn superblock(&mut self) -> Result<SuperBlock, Error> {
        let bytes =
            self.bytes("superblock", 1024, u64::try_from(SuperBlock::SIZE).unwrap_or(128))?;
        let array: &[u8; SuperBlock::SIZE] =
            bytes.as_slice().try_into().map_err(|_| unsupported("short superblock"))?;
        Ok(SuperBlock::decode(array)?)
    }
}

fn unsupported(what: &str) -> Error {
    Error::Unsupported { what: what.to_owned() }
}

/// An inode as read from the image.
struct RawInode {
    nid: u64,
    offset: u64,
    inode_size: u64,
    layout: u8,
    mode: u16,
    size: u64,
    u: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    xattr_size: u64,
}

/// A directory being walked: its path, its entries (name, nid) and the next entry's index.
type Frame = (Vec<u8>, Vec<(Vec<u8>, u64)>, usize);

struct Reader<'a> {
    image: Image<'a>,
    sb: SuperBlock,
}

pub(crate) fn read(input: &mut dyn ReadSeek) -> Result<Tree, Error> {
    let mut image = Image::open(input)?;
    let sb = image.superblock()?;
    check_superblock(&sb)?;
    let mut reader = Reader { image, sb };
    let root_nid = u64::from(reader.sb.root_nid);
    let root = reader.inode(root_nid, b"")?;
    if root.mode & mode::S_IFMT != mode::S_IFDIR {
        return Err(corrupt(&root, b"", "the root is not a directory"));
    }
    let mut builder = TreeBuilder::new();
    let root_meta = reader.meta(&root, b"")?;
    builder.insert(b".", Node::new(NodeKind::Dir(Dir::new()), root_meta))?;
    let mut first_name: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let mut seen_dirs = BTreeSet::from([root_nid]);
    // Directories being walked, depth first in name order (the order of `Tree::walk`, which
    // decides which name of a hard-linked inode comes first): (path, entries, next entry).
    let root_entries = reader.dir_entries(&root, b"")?;
    let mut stack: Vec<Frame> = vec![(Vec::new(), root_entries, 0)];
    while let Some((dir_path, entries, next)) = stack.last_mut() {
        let Some((name, nid)) = entries.get(*next).cloned() else {
            stack.pop();
            continue;
        };
        *next += 1;
        let mut path = dir_path.clone();
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(&name);
        let inode = reader.inode(nid, &path)?;
        let meta = reader.meta(&inode, &path)?;
        let kind = match inode.mode & mode::S_IFMT {
            mode::S_IFDIR => {
                if !seen_dirs.insert(nid) {
                    return Err(corrupt(&inode, &path, "directory reached twice"));
                }
                NodeKind::Dir(Dir::new())
            }
            _ if first_name.contains_key(&nid) => {
                NodeKind::HardLink(first_name.get(&nid).cloned().unwrap_or_default())
            }
            mode::S_IFREG => {
                first_name.insert(nid, path.clone());
                NodeKind::File(Content::Inline(Arc::from(reader.data(&inode, &path)?)))
            }
            mode::S_IFLNK => {
                first_name.insert(nid, path.clone());
                NodeKind::Symlink(reader.data(&inode, &path)?)
            }
            mode::S_IFCHR | mode::S_IFBLK => {
                first_name.insert(nid, path.clone());
                let (major, minor) = decode_dev(inode.u);
                if inode.mode & mode::S_IFMT == mode::S_IFCHR {
                    NodeKind::CharDevice { major, minor }
                } else {
                    NodeKind::BlockDevice { major, minor }
                }
            }
            mode::S_IFIFO => {
                first_name.insert(nid, path.clone());
                NodeKind::Fifo
            }
            mode::S_IFSOCK => return Err(Error::Socket { path: display_path(&path) }),
            _ => return Err(corrupt(&inode, &path, "unknown file type")),
        };
        let is_dir = matches!(kind, NodeKind::Dir(_));
        builder.insert(&path, Node::new(kind, meta))?;
        if is_dir {
            let entries = reader.dir_entries(&inode, &path)?;
            stack.push((path, entries, 0));
        }
    }
    Ok(builder.finish())
}

fn check_superblock(sb: &SuperBlock) -> Result<(), Error> {
    if sb.blkszbits != BLOCK_SIZE_BITS {
        return Err(Error::Unsupported {
            what: format!("block size 2^{} bytes, expected 4096", sb.blkszbits),
        });
    }
    let refused = sb.feature_incompat & !FEATURE_INCOMPAT_LZ4_0PADDING;
    if refused != 0 {
        return Err(Error::Unsupported {
            what: format!(
                "incompatible features {refused:#x} ({}), this reader knows only lz4_0padding",
                feature_names(refused, 0).join(" ")
            ),
        });
    }
    if sb.extra_devices != 0 {
        return Err(unsupported("extra devices"));
    }
    Ok(())
}

fn corrupt(inode: &RawInode, path: &[u8], what: &str) -> Error {
    Error::Corrupt { nid: inode.nid, path: display_path(path), what: what.to_owned() }
}

impl Reader<'_> {
    fn inode(&mut self, nid: u64, path: &[u8]) -> Result<RawInode, Error> {
        let corrupt_nid =
            |what: &str| Error::Corrupt { nid, path: display_path(path), what: what.to_owned() };
        let offset = nid
            .checked_mul(32)
            .and_then(|o| o.checked_add(u64::from(self.sb.meta_blkaddr) * BLOCK))
            .ok_or_else(|| corrupt_nid("nid out of range"))?;
        let head = self.image.bytes("inode", offset, 32)?;
        let format = u16::from_le_bytes([head[0], head[1]]);
        if format & !FORMAT_KNOWN_BITS != 0 {
            return Err(corrupt_nid(&format!("unknown i_format {format:#x}")));
        }
        let layout = u8::try_from((format >> 1) & 7).unwrap_or(7);
        let (inode_size, xattr_icount, mode, size, u, uid, gid, mtime) =
            if format & FORMAT_VERSION_EXTENDED != 0 {
                let bytes = self.image.bytes("inode", offset, 64)?;
                let array: &[u8; InodeExtended::SIZE] =
                    bytes.as_slice().try_into().map_err(|_| corrupt_nid("short inode"))?;
                let i = InodeExtended::decode(array);
                let mtime = i.mtime_secs.cast_signed();
                (64, i.xattr_icount, i.mode, i.size_bytes, i.u, i.uid, i.gid, mtime)
            } else {
                let array: &[u8; InodeCompact::SIZE] =
                    head.as_slice().try_into().map_err(|_| corrupt_nid("short inode"))?;
                let i = InodeCompact::decode(array);
                let mtime = self.sb.build_time_secs.cast_signed();
                let (uid, gid) = (u32::from(i.uid), u32::from(i.gid));
                (32, i.xattr_icount, i.mode, u64::from(i.size_bytes), i.u, uid, gid, mtime)
            };
        let xattr_size = if xattr_icount == 0 { 0 } else { 12 + 4 * (u64::from(xattr_icount) - 1) };
        Ok(RawInode { nid, offset, inode_size, layout, mode, size, u, uid, gid, mtime, xattr_size })
    }

    fn meta(&mut self, inode: &RawInode, path: &[u8]) -> Result<Meta, Error> {
        let mut meta = Meta::new(u32::from(inode.mode & 0o7777), inode.mtime);
        meta.uid = inode.uid;
        meta.gid = inode.gid;
        if inode.xattr_size == 0 {
            return Ok(meta);
        }
        let body = self.image.bytes("xattrs", inode.offset + inode.inode_size, inode.xattr_size)?;
        let header: &[u8; IbodyHeader::SIZE] = body[..IbodyHeader::SIZE]
            .try_into()
            .map_err(|_| corrupt(inode, path, "short xattr body"))?;
        let shared = usize::from(IbodyHeader::decode(header).shared_count);
        let mut pos = IbodyHeader::SIZE;
        for _ in 0..shared {
            let id = body
                .get(pos..pos + 4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .ok_or_else(|| corrupt(inode, path, "shared xattr ids beyond the body"))?;
            pos += 4;
            let at = u64::from(self.sb.xattr_blkaddr) * BLOCK + u64::from(id) * 4;
            let entry = self.image.bytes("shared xattr", at, 4)?;
            let entry = XattrEntry::decode(&[entry[0], entry[1], entry[2], entry[3]]);
            let rest = u64::from(entry.name_len) + u64::from(entry.value_size);
            let data = self.image.bytes("shared xattr", at + 4, rest)?;
            self.add_xattr(&mut meta, inode, path, entry, &data)?;
        }
        while pos < body.len() {
            let header = body
                .get(pos..pos + XattrEntry::SIZE)
                .ok_or_else(|| corrupt(inode, path, "xattr entry beyond the body"))?;
            let entry = XattrEntry::decode(&[header[0], header[1], header[2], header[3]]);
            let start = pos + XattrEntry::SIZE;
            let end = start + usize::from(entry.name_len) + usize::from(entry.value_size);
            let data = body
                .get(start..end)
                .ok_or_else(|| corrupt(inode, path, "xattr entry beyond the body"))?
                .to_vec();
            self.add_xattr(&mut meta, inode, path, entry, &data)?;
            pos += entry.padded_size();
        }
        Ok(meta)
    }

    fn add_xattr(
        &self,
        meta: &mut Meta,
        inode: &RawInode,
        path: &[u8],
        entry: XattrEntry,
        data: &[u8],
    ) -> Result<(), Error> {
        let prefix = prefix_of(entry.name_index).ok_or_else(|| {
            corrupt(inode, path, &format!("xattr name index {} unknown", entry.name_index))
        })?;
        let (name, value) = data.split_at(usize::from(entry.name_len).min(data.len()));
        let name = std::str::from_utf8(name)
            .map_err(|_| corrupt(inode, path, "xattr name is not UTF-8"))?;
        meta.xattrs.insert(format!("{prefix}{name}"), value.to_vec());
        Ok(())
    }

    /// The inode's whole data, uncompressed.
    fn data(&mut self, inode: &RawInode, path: &[u8]) -> Result<Vec<u8>, Error> {
        if inode.size > self.image.budget {
            return Err(corrupt(inode, path, "size beyond what the image can hold"));
        }
        self.image.budget -= inode.size;
        let tail_offset = inode.offset + inode.inode_size + inode.xattr_size;
        match inode.layout {
            LAYOUT_FLAT_PLAIN if inode.size == 0 => Ok(Vec::new()),
            LAYOUT_FLAT_PLAIN => self.image.bytes("data", u64::from(inode.u) * BLOCK, inode.size),
            LAYOUT_FLAT_INLINE => {
                let full = inode.size / BLOCK * BLOCK;
                let mut data = if full == 0 {
                    Vec::new()
                } else {
                    self.image.bytes("data", u64::from(inode.u) * BLOCK, full)?
                };
                let tail = self.image.bytes("inline data", tail_offset, inode.size - full)?;
                data.extend_from_slice(&tail);
                Ok(data)
            }
            LAYOUT_FLAT_COMPRESSION | LAYOUT_FLAT_COMPRESSION_LEGACY => {
                self.compressed(inode, path, tail_offset)
            }
            LAYOUT_CHUNK_BASED => Err(corrupt(inode, path, "chunk-based data is not supported")),
            other => Err(corrupt(inode, path, &format!("unknown data layout {other}"))),
        }
    }

    fn compressed(
        &mut self,
        inode: &RawInode,
        path: &[u8],
        head_end: u64,
    ) -> Result<Vec<u8>, Error> {
        let map_at = head_end.next_multiple_of(8);
        let header = self.image.bytes("compression map", map_at, 8)?;
        let header: &[u8; MapHeader::SIZE] =
            header.as_slice().try_into().map_err(|_| corrupt(inode, path, "short map"))?;
        let header = MapHeader::decode(header);
        let legacy = inode.layout == LAYOUT_FLAT_COMPRESSION_LEGACY;
        if !legacy
            && header.advise
                & (ADVISE_BIG_PCLUSTER_1 | ADVISE_BIG_PCLUSTER_2 | ADVISE_INLINE_PCLUSTER)
                != 0
        {
            return Err(corrupt(inode, path, "big pclusters and ztailpacking are not supported"));
        }
        if !legacy && (header.algorithm_type & 0x0f != 0 || header.cluster_bits & 7 != 0) {
            return Err(corrupt(inode, path, "only lz4 with 4 KiB clusters is supported"));
        }
        let n_lclusters = inode.size.div_ceil(BLOCK);
        // Every lcluster needs at least 2 bytes of index, so the count is bounded by the image.
        if n_lclusters > self.image.len {
            return Err(corrupt(inode, path, "more clusters than the image can index"));
        }
        let lclusters: Vec<Lcluster> = if legacy {
            let at = map_at + LEGACY_INDEX_START;
            let area = self.image.bytes("compression indexes", at, n_lclusters * 8)?;
            let mut out = Vec::new();
            for chunk in area.chunks_exact(DecompressedIndex::SIZE) {
                let index = DecompressedIndex::decode(&[
                    chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7],
                ]);
                out.push(match index.cluster_type() {
                    CLUSTER_TYPE_PLAIN | CLUSTER_TYPE_HEAD => Lcluster::Head {
                        compressed: index.cluster_type() == CLUSTER_TYPE_HEAD,
                        cluster_ofs: index.cluster_ofs,
                        blkaddr: index.u,
                    },
                    CLUSTER_TYPE_NONHEAD => Lcluster::NonHead,
                    _ => return Err(corrupt(inode, path, "reserved cluster type")),
                });
            }
            out
        } else {
            let at = map_at + 8;
            let want = (n_lclusters * 4 + 32).min(self.image.len.saturating_sub(at));
            let area = self.image.bytes("compression indexes", at, want)?;
            let compacted_2b = header.advise & ADVISE_COMPACTED_2B != 0;
            let mut out = Vec::new();
            for lcn in 0..n_lclusters {
                out.push(
                    compacted_lcluster(&area, at, n_lclusters, compacted_2b, lcn)
                        .ok_or_else(|| corrupt(inode, path, "bad compacted index"))?,
                );
            }
            out
        };
        // Extent starts: (logical start, block, lz4).
        let mut starts: Vec<(u64, u32, bool)> = Vec::new();
        for (lcn, lcluster) in (0u64..).zip(&lclusters) {
            if let Lcluster::Head { compressed, cluster_ofs, blkaddr } = *lcluster {
                if u64::from(cluster_ofs) >= BLOCK {
                    return Err(corrupt(inode, path, "cluster offset beyond the cluster"));
                }
                let start = lcn * BLOCK + u64::from(cluster_ofs);
                if start >= inode.size {
                    continue;
                }
                if starts.last().is_some_and(|last| last.0 >= start) {
                    return Err(corrupt(inode, path, "extents out of order"));
                }
                starts.push((start, blkaddr, compressed));
            }
        }
        if starts.first().is_none_or(|first| first.0 != 0) && inode.size > 0 {
            return Err(corrupt(inode, path, "the first cluster is not an extent head"));
        }
        let mut data = Vec::new();
        for (idx, (start, blkaddr, compressed)) in starts.iter().enumerate() {
            let end = starts.get(idx + 1).map_or(inode.size, |next| next.0);
            let len = usize::try_from(end - start)
                .map_err(|_| corrupt(inode, path, "extent too long"))?;
            let block = self.image.bytes("pcluster", u64::from(*blkaddr) * BLOCK, BLOCK)?;
            if *compressed {
                if self.sb.feature_incompat & FEATURE_INCOMPAT_LZ4_0PADDING == 0 {
                    return Err(corrupt(inode, path, "lz4 without lz4_0padding is not supported"));
                }
                if len > 256 * 4096 * 4 {
                    return Err(corrupt(inode, path, "extent longer than lz4 can produce"));
                }
                let skip = block.iter().take_while(|b| **b == 0).count();
                let at = data.len();
                data.resize(at + len, 0);
                let n = lz4_flex::block::decompress_into(&block[skip..], &mut data[at..])
                    .map_err(|err| corrupt(inode, path, &format!("lz4: {err}")))?;
                if n != len {
                    return Err(corrupt(inode, path, "lz4 extent decodes to the wrong length"));
                }
            } else {
                let raw = block
                    .get(..len)
                    .ok_or_else(|| corrupt(inode, path, "plain extent longer than a block"))?;
                data.extend_from_slice(raw);
            }
        }
        Ok(data)
    }

    /// The entries of a directory other than `.` and `..`, sorted by name.
    fn dir_entries(&mut self, dir: &RawInode, path: &[u8]) -> Result<Vec<(Vec<u8>, u64)>, Error> {
        let data = self.data(dir, path)?;
        let mut entries = Vec::new();
        for block in data.chunks(4096) {
            let first = block
                .get(..Dirent::SIZE)
                .ok_or_else(|| corrupt(dir, path, "directory block shorter than a dirent"))?;
            let first = Dirent::decode(first.try_into().map_err(|_| corrupt(dir, path, "dirent"))?);
            let names_start = usize::from(first.nameoff);
            if names_start < Dirent::SIZE
                || names_start % Dirent::SIZE != 0
                || names_start > block.len()
            {
                return Err(corrupt(dir, path, "bad first nameoff in a directory block"));
            }
            let count = names_start / Dirent::SIZE;
            for i in 0..count {
                let at = i * Dirent::SIZE;
                let dirent: &[u8; Dirent::SIZE] = block[at..at + Dirent::SIZE]
                    .try_into()
                    .map_err(|_| corrupt(dir, path, "dirent"))?;
                let dirent = Dirent::decode(dirent);
                let start = usize::from(dirent.nameoff);
                let end = if i + 1 < count {
                    let next = &block[at + Dirent::SIZE..at + 2 * Dirent::SIZE];
                    usize::from(u16::from_le_bytes([next[8], next[9]]))
                } else {
                    let rest = block.get(start..).unwrap_or_default();
                    start + rest.iter().position(|b| *b == 0).unwrap_or(rest.len())
                };
                let name = block
                    .get(start..end)
                    .filter(|name| !name.is_empty() && name.len() <= NAME_LEN_MAX)
                    .ok_or_else(|| corrupt(dir, path, "bad name in a directory block"))?;
                if name == b"." || name == b".." {
                    continue;
                }
                if name.contains(&b'/') || name.contains(&0) {
                    return Err(corrupt(dir, path, "name with a slash or NUL"));
                }
                entries.push((name.to_vec(), dirent.nid));
            }
        }
        entries.sort();
        if entries.windows(2).any(|pair| pair[0].0 == pair[1].0) {
            return Err(corrupt(dir, path, "duplicate name"));
        }
        Ok(entries)
    }
}

/// Names of the feature bits set in `incompat` and `compat`.
fn feature_names(incompat: u32, compat: u32) -> Vec<String> {
    let mut names = Vec::new();
    for (bit, name) in [(FEATURE_COMPAT_SB_CHKSUM, "sb_csum"), (FEATURE_COMPAT_MTIME, "mtime")] {
        if compat & bit != 0 {
            names.push(name.to_owned());
        }
    }
    for (bit, name) in [
        (FEATURE_INCOMPAT_LZ4_0PADDING, "lz4_0padding"),
        (FEATURE_INCOMPAT_COMPR_CFGS, "compr_cfgs/big_pcluster"),
        (FEATURE_INCOMPAT_CHUNKED_FILE, "chunked_file"),
        (FEATURE_INCOMPAT_DEVICE_TABLE, "device_table"),
        (FEATURE_INCOMPAT_ZTAILPACKING, "ztailpacking"),
    ] {
        if incompat & bit != 0 {
            names.push(name.to_owned());
        }
    }
    let known = FEATURE_INCOMPAT_KNOWN;
    if incompat & !known != 0 {
        names.push(format!("unknown-incompat-{:#x}", incompat & !known));
    }
    let compat_known = FEATURE_COMPAT_SB_CHKSUM | FEATURE_COMPAT_MTIME;
    if compat & !compat_known != 0 {
        names.push(format!("unknown-compat-{:#x}", compat & !compat_known));
    }
    names
}

pub(crate) fn summary(input: &mut dyn ReadSeek) -> Result<Vec<(String, String)>, Error> {
    let mut image = Image::open(input)?;
    let sb = image.superblock()?;
    let block0 = image.bytes("block 0", 0, BLOCK.min(image.len))?;
    let checksum = if sb.feature_compat & FEATURE_COMPAT_SB_CHKSUM == 0 {
        "none".to_owned()
    } else if let Ok(block0) = <[u8; 4096]>::try_from(block0.as_slice()) {
        let computed = block0_checksum(&block0);
        if computed == sb.checksum {
            format!("crc32c {:#010x} (valid)", sb.checksum)
        } else {
            format!("crc32c {:#010x} (INVALID, computed {computed:#010x})", sb.checksum)
        }
    } else {
        format!("crc32c {:#010x} (image shorter than a block)", sb.checksum)
    };
    let uuid = sb.uuid.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let uuid = format!(
        "{}-{}-{}-{}-{}",
        &uuid[0..8],
        &uuid[8..12],
        &uuid[12..16],
        &uuid[16..20],
        &uuid[20..32]
    );
    let name_end = sb.volume_name.iter().position(|b| *b == 0).unwrap_or(16);
    let compression = if sb.feature_incompat & FEATURE_INCOMPAT_LZ4_0PADDING != 0 {
        "lz4 (lz4_0padding)"
    } else {
        "none"
    };
    let line = |key: &str, value: String| (key.to_owned(), value);
    Ok(vec![
        line("format", "erofs".to_owned()),
        line("magic", format!("{:#010x}", sb.magic)),
        line("block size", format!("{}", 1u64 << sb.blkszbits.min(63))),
        line("blocks", sb.blocks.to_string()),
        line("image bytes", image.len.to_string()),
        line("features", feature_names(sb.feature_incompat, sb.feature_compat).join(" ")),
        line("compression", compression.to_owned()),
        line("uuid", uuid),
        line("volume name", crate::dump::escape(&sb.volume_name[..name_end])),
        line("build time", sb.build_time_secs.cast_signed().to_string()),
        line("inodes", sb.inos.to_string()),
        line("root nid", sb.root_nid.to_string()),
        line("meta blkaddr", sb.meta_blkaddr.to_string()),
        line("xattr blkaddr", sb.xattr_blkaddr.to_string()),
        line("checksum", checksum),
    ])
}

//! Emitting a planned EROFS image: the shared xattr area, then the inodes in nid order, each
//! followed by its data (written in the data area, in inode order), then the superblock.
//!
//! Metadata blocks are assembled in memory one at a time and written when the next inode starts
//! in a later block; file data is streamed to the data area. The superblock is written last,
//! when the number of blocks is known.

use std::io::{self, SeekFrom};

use crate::copy::{ContentError, ExactReader};
use crate::dump::display_path;
use crate::erofs::inode::{
    FORMAT_VERSION_EXTENDED, InodeCompact, InodeExtended, LAYOUT_FLAT_COMPRESSION_LEGACY,
    LAYOUT_FLAT_INLINE, LAYOUT_FLAT_PLAIN,
};
use crate::erofs::lz4;
use crate::erofs::plan::{BLOCK, BLOCK_USIZE, Data, Flat, Plan, PlannedInode};
use crate::erofs::superblock::{
    BLOCK_SIZE_BITS, FEATURE_COMPAT_MTIME, FEATURE_COMPAT_SB_CHKSUM, FEATURE_INCOMPAT_LZ4_0PADDING,
    MAGIC, SUPER_OFFSET, SuperBlock, block0_checksum,
};
use crate::erofs::{Compression, ErofsOptions, Error, WriteSeek};
use crate::tree::{Content, ContentSource};

/// `raw_blkaddr` of an inode whose data is all inline (`NULL_ADDR`, as mkfs.erofs writes it).
const NULL_ADDR: u32 = 0xffff_ffff;

/// Writes the image described by `plan`.
pub(crate) fn emit(
    plan: &Plan<'_>,
    source: &dyn ContentSource,
    options: &ErofsOptions,
    out: &mut dyn WriteSeek,
) -> Result<(), Error> {
    let mut tracked = Tracked { inner: out, pos: None };
    let out: &mut dyn WriteSeek = &mut tracked;
    let area = |what: &str| {
        let what = what.to_owned();
        move |source| Error::Write { path: what.clone(), source }
    };
    if !plan.shared_xattrs.is_empty() {
        let mut bytes = plan.shared_xattrs.clone();
        bytes.resize(bytes.len().next_multiple_of(BLOCK_USIZE), 0);
        write_at(out, u64::from(plan.xattr_blkaddr) * BLOCK, &bytes)
            .map_err(area("shared xattrs"))?;
    }
    let mut meta = MetaBlock::new();
    let mut data = DataArea { next_block: u64::from(plan.data_start_block), out };
    let mut chunk = vec![0u8; 16 * BLOCK_USIZE];
    for inode in &plan.inodes {
        let write_err = |source| Error::Write { path: display_path(&inode.path), source };
        let mut bytes = Vec::with_capacity(64 + inode.xattrs.len());
        let (layout, u, tail) = match &inode.data {
            Data::None => (LAYOUT_FLAT_PLAIN, inode.rdev, Vec::new()),
            Data::Bytes(content, flat) => {
                let full = whole_blocks(inode.size, *flat);
                let blkaddr = data.start(full, &inode.path)?;
                let (blocks, tail) = content.split_at(full_len(inode.size));
                data.write(blocks).map_err(write_err)?;
                let tail = finish_tail(&mut data, tail, *flat).map_err(write_err)?;
                (flat_layout(*flat), blkaddr.unwrap_or(NULL_ADDR), tail)
            }
            Data::File(content, flat) => {
                let (blkaddr, tail) =
                    write_flat_file(&mut data, inode, content, *flat, source, &mut chunk)?;
                (flat_layout(*flat), blkaddr.unwrap_or(NULL_ADDR), tail)
            }
            Data::Compress(content) => match compress_file(&mut data, inode, content, source)? {
                Some((n_blocks, map)) => {
                    let start = bytes_after_head(inode);
                    let mut tail = vec![0u8; start];
                    tail.extend_from_slice(&map);
                    (LAYOUT_FLAT_COMPRESSION_LEGACY, n_blocks, tail)
                }
                None => {
                    let (blkaddr, tail) = write_flat_file(
                        &mut data,
                        inode,
                        content,
                        Flat::Plain,
                        source,
                        &mut chunk,
                    )?;
                    (LAYOUT_FLAT_PLAIN, blkaddr.unwrap_or(NULL_ADDR), tail)
                }
            },
        };
        encode_inode(inode, layout, u, &mut bytes);
        bytes.extend_from_slice(&inode.xattrs);
        bytes.extend_from_slice(&tail);
        meta.put(data.out, inode.offset, &bytes).map_err(write_err)?;
    }
    meta.flush(data.out).map_err(area("metadata"))?;
    let blocks = u32::try_from(data.next_block.max(u64::from(plan.data_start_block)))
        .map_err(|_| Error::TooLarge { path: "data".to_owned() })?;
    let compressing = options.compression == Compression::Lz4;
    let superblock = SuperBlock {
        magic: MAGIC,
        checksum: 0,
        feature_compat: FEATURE_COMPAT_SB_CHKSUM | FEATURE_COMPAT_MTIME,
        blkszbits: BLOCK_SIZE_BITS,
        sb_extslots: 0,
        root_nid: plan.root_nid,
        inos: u64::try_from(plan.inodes.len()).unwrap_or(u64::MAX),
        build_time_secs: options.epoch.cast_unsigned(),
        build_time_nsec: 0,
        blocks,
        meta_blkaddr: 0,
        xattr_blkaddr: plan.xattr_blkaddr,
        uuid: plan.uuid,
        volume_name: plan.volume_name,
        feature_incompat: if compressing { FEATURE_INCOMPAT_LZ4_0PADDING } else { 0 },
        u1: 0,
        extra_devices: 0,
        devt_slotoff: 0,
    };
    let mut block0 = [0u8; BLOCK_USIZE];
    let mut sb = [0u8; SuperBlock::SIZE];
    superblock.encode(&mut sb);
    block0[SUPER_OFFSET..SUPER_OFFSET + SuperBlock::SIZE].copy_from_slice(&sb);
    let checksum = block0_checksum(&block0);
    block0[SUPER_OFFSET + 4..SUPER_OFFSET + 8].copy_from_slice(&checksum.to_le_bytes());
    write_at(data.out, 0, &block0).map_err(area("superblock"))?;
    // Leave the writer at the end of the image.
    data.out.seek(SeekFrom::Start(u64::from(blocks) * BLOCK)).map_err(area("superblock"))?;
    Ok(())
}

fn too_large(inode: &PlannedInode<'_>) -> Error {
    Error::TooLarge { path: display_path(&inode.path) }
}

fn flat_layout(flat: Flat) -> u8 {
    match flat {
        Flat::Plain => LAYOUT_FLAT_PLAIN,
        Flat::Inline => LAYOUT_FLAT_INLINE,
    }
}

/// Blocks of data-area storage of a flat layout.
fn whole_blocks(size: u64, flat: Flat) -> u64 {
    match flat {
        Flat::Inline => size / BLOCK,
        Flat::Plain => size.div_ceil(BLOCK),
    }
}

/// Bytes of `size` in whole blocks.
fn full_len(size: u64) -> usize {
    usize::try_from(size / BLOCK * BLOCK).unwrap_or(usize::MAX)
}

/// Padding between the end of the xattrs and the first full index: up to 8-byte alignment,
/// then the map header and its padding, which [`compress_file`]'s map includes.
fn bytes_after_head(inode: &PlannedInode<'_>) -> usize {
    let head = inode.head_size();
    usize::try_from(head.next_multiple_of(8) - head).unwrap_or(0)
}

/// The tail of flat data: returned for inline placement, or written as a zero-padded block.
fn finish_tail(data: &mut DataArea<'_>, tail: &[u8], flat: Flat) -> io::Result<Vec<u8>> {
    match flat {
        Flat::Inline => Ok(tail.to_vec()),
        Flat::Plain => {
            if !tail.is_empty() {
                let mut block = tail.to_vec();
                block.resize(BLOCK_USIZE, 0);
                data.write(&block)?;
            }
            Ok(Vec::new())
        }
    }
}

/// Streams a file's whole blocks to the data area; returns the first block (if any) and the
/// inline tail.
fn write_flat_file(
    data: &mut DataArea<'_>,
    inode: &PlannedInode<'_>,
    content: &Content,
    flat: Flat,
    source: &dyn ContentSource,
    chunk: &mut [u8],
) -> Result<(Option<u32>, Vec<u8>), Error> {
    let write_err = |source| Error::Write { path: display_path(&inode.path), source };
    let blkaddr = data.start(whole_blocks(inode.size, flat), &inode.path)?;
    let mut reader = ExactReader::open(content, source, &inode.path)?;
    let mut left_full = inode.size / BLOCK * BLOCK;
    while left_full > 0 {
        let want = usize::try_from(left_full).unwrap_or(usize::MAX).min(chunk.len());
        let n = reader.read_chunk(&mut chunk[..want])?;
        if n == 0 {
            break;
        }
        data.write(&chunk[..n]).map_err(write_err)?;
        left_full -= u64::try_from(n).unwrap_or(u64::MAX);
    }
    let tail_len = usize::try_from(inode.size % BLOCK).unwrap_or(0);
    let mut tail = vec![0u8; tail_len];
    let n = reader.read_chunk(&mut tail)?;
    tail.truncate(n);
    // Reading past the end checks that the source has nothing more.
    reader.read_chunk(&mut [0u8; 1])?;
    let tail = finish_tail(data, &tail, flat).map_err(write_err)?;
    Ok((blkaddr, tail))
}

/// Compresses a file into one-block pclusters written to the data area. Returns the number of
/// blocks and the compression map (map header, padding, full indexes), or `None` when
/// compression saves no block (nothing usable was written; the caller stores it flat).
fn compress_file(
    data: &mut DataArea<'_>,
    inode: &PlannedInode<'_>,
    content: &Content,
    source: &dyn ContentSource,
) -> Result<Option<(u32, Vec<u8>)>, Error> {
    let write_err = |source| Error::Write { path: display_path(&inode.path), source };
    let plain_blocks = inode.size.div_ceil(BLOCK);
    let first_block = data.next_block;
    let mut reader = ExactReader::open(content, source, &inode.path)?;
    let mut extents: Vec<lz4::Extent> = Vec::new();
    let mut compressor = lz4::Compressor::new(inode.size);
    loop {
        let step = compressor
            .next(&mut |buf: &mut [u8]| reader.read_chunk(buf))
            .map_err(|err: ContentError| Error::Content(err))?;
        let Some((extent, block)) = step else { break };
        if u64::try_from(extents.len()).unwrap_or(u64::MAX) + 1 >= plain_blocks {
            // This pcluster would use as many blocks as storing the file flat.
            data.next_block = first_block;
            return Ok(None);
        }
        let blkaddr = data.start(1, &inode.path)?.unwrap_or(0);
        data.write(&block).map_err(write_err)?;
        extents.push(lz4::Extent { blkaddr, ..extent });
    }
    reader.read_chunk(&mut [0u8; 1])?;
    let map = lz4::legacy_map(&extents, inode.size);
    let n_blocks = u32::try_from(extents.len()).map_err(|_| too_large(inode))?;
    Ok(Some((n_blocks, map)))
}

fn encode_inode(inode: &PlannedInode<'_>, layout: u8, u: u32, out: &mut Vec<u8>) {
    let format = u16::from(layout) << 1;
    let icount = if inode.xattrs.is_empty() {
        0
    } else {
        // The plan bounds the body to what 16 bits describe.
        u16::try_from((inode.xattrs.len() - 12) / 4 + 1).unwrap_or(u16::MAX)
    };
    if inode.extended {
        let disk = InodeExtended {
            format: format | FORMAT_VERSION_EXTENDED,
            xattr_icount: icount,
            mode: inode.mode,
            size_bytes: inode.size,
            u,
            ino: inode.ino,
            uid: inode.uid,
            gid: inode.gid,
            mtime_secs: inode.mtime.cast_unsigned(),
            mtime_nsec: 0,
            nlink: inode.nlink,
        };
        let mut bytes = [0u8; InodeExtended::SIZE];
        disk.encode(&mut bytes);
        out.extend_from_slice(&bytes);
    } else {
        // The plan chose the compact form only when these fit in 16 and 32 bits.
        let disk = InodeCompact {
            format,
            xattr_icount: icount,
            mode: inode.mode,
            nlink: u16::try_from(inode.nlink).unwrap_or(u16::MAX),
            size_bytes: u32::try_from(inode.size).unwrap_or(u32::MAX),
            u,
            ino: inode.ino,
            uid: u16::try_from(inode.uid).unwrap_or(u16::MAX),
            gid: u16::try_from(inode.gid).unwrap_or(u16::MAX),
        };
        let mut bytes = [0u8; InodeCompact::SIZE];
        disk.encode(&mut bytes);
        out.extend_from_slice(&bytes);
    }
}

/// The data area: whole blocks handed out in order.
struct DataArea<'o> {
    next_block: u64,
    out: &'o mut dyn WriteSeek,
}

impl DataArea<'_> {
    /// Reserves `n` blocks starting at the next free one for the inode at `path` and positions
    /// the writer there. Returns the first block, or `None` when `n` is 0.
    fn start(&mut self, n: u64, path: &[u8]) -> Result<Option<u32>, Error> {
        if n == 0 {
            return Ok(None);
        }
        let too_large = || Error::TooLarge { path: display_path(path) };
        let first = u32::try_from(self.next_block).map_err(|_| too_large())?;
        let end = self.next_block.checked_add(n).ok_or_else(too_large)?;
        if end > u64::from(u32::MAX) {
            return Err(too_large());
        }
        self.out
            .seek(SeekFrom::Start(self.next_block * BLOCK))
            .map_err(|source| Error::Write { path: display_path(path), source })?;
        Ok(Some(first))
    }

    /// Writes at the current position; `bytes` is a whole number of blocks.
    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.next_block += u64::try_from(bytes.len()).unwrap_or(0) / BLOCK;
        Ok(())
    }
}

/// The metadata block being assembled.
struct MetaBlock {
    block: Option<u64>,
    buf: Vec<u8>,
}

impl MetaBlock {
    fn new() -> MetaBlock {
        MetaBlock { block: None, buf: vec![0u8; BLOCK_USIZE] }
    }

    /// Places `bytes` at image offset `offset` (never before an earlier placement's block).
    fn put(&mut self, out: &mut dyn WriteSeek, offset: u64, bytes: &[u8]) -> io::Result<()> {
        let mut offset = offset;
        let mut rest = bytes;
        while !rest.is_empty() {
            let block = offset / BLOCK;
            if self.block != Some(block) {
                self.flush(out)?;
                self.block = Some(block);
            }
            let at = usize::try_from(offset % BLOCK).unwrap_or(0);
            let n = rest.len().min(BLOCK_USIZE - at);
            self.buf[at..at + n].copy_from_slice(&rest[..n]);
            offset += u64::try_from(n).unwrap_or(0);
            rest = &rest[n..];
        }
        Ok(())
    }

    /// Writes the current block, if any, and clears the buffer.
    fn flush(&mut self, out: &mut dyn WriteSeek) -> io::Result<()> {
        if let Some(block) = self.block.take() {
            write_at(out, block * BLOCK, &self.buf)?;
            self.buf.fill(0);
        }
        Ok(())
    }
}

/// A writer that remembers its position and skips seeks to where it already is: the emitter
/// seeks before every block it writes, and a seek would flush a buffered writer each time.
struct Tracked<'o> {
    inner: &'o mut dyn WriteSeek,
    pos: Option<u64>,
}

impl io::Write for Tracked<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let result = self.inner.write(buf);
        match (&result, self.pos) {
            (Ok(n), Some(pos)) => self.pos = Some(pos + u64::try_from(*n).unwrap_or(0)),
            _ => self.pos = None,
        }
        result
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl io::Seek for Tracked<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        if let (SeekFrom::Start(offset), Some(pos)) = (to, self.pos)
            && offset == pos
        {
            return Ok(pos);
        }
        let result = self.inner.seek(to);
        self.pos = result.as_ref().ok().copied();
        result
    }
}

fn write_at(out: &mut dyn WriteSeek, offset: u64, bytes: &[u8]) -> io::Result<()> {
    out.seek(SeekFrom::Start(offset))?;
    out.write_all(bytes)
}

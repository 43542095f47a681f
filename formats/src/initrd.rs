//! Reading a Linux initramfs as the kernel unpacks it: a sequence of segments, each an
//! uncompressed newc archive or a compressed one, separated by optional zero padding.
//!
//! The kernel's `unpack_to_rootfs` (init/initramfs.c) loops over the buffer: it skips NUL bytes,
//! recognizes a newc magic or a compression magic (`decompress_method`), and unpacks each
//! segment into the same root, later entries replacing earlier ones. LinuxKit's initrd is an
//! uncompressed microcode archive followed by a gzip'd root archive.
//!
//! [`segments`] lists the segments with their offsets and sizes; [`read`] unpacks them all into
//! one tree. gzip, zstd, xz and lz4 (legacy frames) are decoded here; the other compressions
//! the kernel knows (lzma, bzip2, lzo) are recognized and named, and reading them is an error.
//!
//! [`write`] writes a tree as one newc segment compressed as [`InitrdCompression`] says, each
//! in the form the kernel's decompressor reads (`CONFIG_RD_<NAME>`): one gzip member (in
//! parallel, see [`crate::gzip`]), one zstd frame (ruzstd's only level, about zstd -1), an xz
//! stream with CRC-32 checks (the kernel's xz decoder needs CRC-32 or none), or an lz4 legacy
//! frame (magic `0x184C2102`, 8 MiB blocks, no end mark: it must be the last segment).

use std::io::{self, Read, Write};
use std::sync::mpsc;

use flate2::bufread::GzDecoder;

use crate::cpio;
use crate::extract::TreeBuilder;
use crate::gzip::GzipOptions;
use crate::tree::{ContentSource, Node, NodeKind, Tree};

/// How [`write`] compresses the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitrdCompression {
    /// A plain newc archive (`CONFIG_BLK_DEV_INITRD` alone).
    None,
    /// gzip at `level` (0-9), in parallel blocks (`CONFIG_RD_GZIP`).
    Gzip {
        /// Compression level.
        level: u32,
    },
    /// One zstd frame (`CONFIG_RD_ZSTD`).
    Zstd,
    /// xz at `preset` (0-9) with CRC-32 checks (`CONFIG_RD_XZ`).
    Xz {
        /// The xz preset.
        preset: u32,
    },
    /// An lz4 legacy frame (`CONFIG_RD_LZ4`).
    Lz4,
}

/// One part of an initrd written as a segment of its own: the nodes of one input (by their
/// [`Origin`](crate::tree::Origin) location, such as `init[0]` or `onboot[1]`) with copies of
/// their parent directories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The origin location the nodes share (`generated` for nodes without one).
    pub name: String,
    /// The nodes, under their parent directories (whose metadata is the full tree's).
    pub tree: Tree,
}

/// Splits `tree` into [`Part`]s by origin, in the order their first node (other than a
/// directory with entries) appears in walk order, so that unpacking the parts' archives one after another, as the kernel unpacks
/// concatenated segments, gives `tree` back. A hard link goes with its target file (the
/// kernel links names within one archive only); every part repeats the directories above its
/// nodes, with the same metadata, which the kernel applies again harmlessly.
pub fn split(tree: &Tree) -> Vec<Part> {
    let mut order: Vec<String> = Vec::new();
    let mut builders: std::collections::BTreeMap<String, TreeBuilder> =
        std::collections::BTreeMap::new();
    let part_of = |node: &Node| -> String {
        let mut node = node;
        if let NodeKind::HardLink(target) = &node.kind
            && let Some(file) = tree.get(target)
        {
            node = file;
        }
        node.origin.as_ref().map_or_else(|| "generated".to_owned(), |o| o.location.clone())
    };
    // Links after files, so a link's target is already in its part's tree.
    for links_pass in [false, true] {
        let _ = tree.walk::<()>(&mut |path, node| {
            if matches!(node.kind, NodeKind::HardLink(_)) != links_pass {
                return Ok(());
            }
            // A directory with entries comes with them, as their parent, in every part that
            // has some; only an empty one is a node of its own part.
            if let NodeKind::Dir(entries) = &node.kind
                && !entries.is_empty()
            {
                return Ok(());
            }
            let name = part_of(node);
            if !order.contains(&name) {
                order.push(name.clone());
            }
            let builder = builders.entry(name).or_insert_with(|| {
                let mut builder = TreeBuilder::new();
                let root = Node::new(NodeKind::Dir(Default::default()), tree.root_meta.clone());
                let _ = builder.insert(b"", root);
                builder
            });
            // The parents, with the full tree's metadata (the builder would make them 0755).
            let mut prefix: Vec<u8> = Vec::new();
            let components: Vec<&[u8]> = path.split(|b| *b == b'/').collect();
            for component in &components[..components.len().saturating_sub(1)] {
                if !prefix.is_empty() {
                    prefix.push(b'/');
                }
                prefix.extend_from_slice(component);
                if builder.get_mut(&prefix).is_none()
                    && let Some(parent) = tree.get(&prefix)
                {
                    let copy = Node {
                        kind: NodeKind::Dir(Default::default()),
                        meta: parent.meta.clone(),
                        origin: parent.origin.clone(),
                    };
                    let _ = builder.insert(&prefix, copy);
                }
            }
            let copy = match &node.kind {
                NodeKind::Dir(_) => Node {
                    kind: NodeKind::Dir(Default::default()),
                    meta: node.meta.clone(),
                    origin: node.origin.clone(),
                },
                _ => node.clone(),
            };
            let _ = builder.insert(path, copy);
            Ok(())
        });
    }
    order
        .into_iter()
        .filter_map(|name| {
            builders.remove(&name).map(|builder| Part { name, tree: builder.finish() })
        })
        .collect()
}

/// A digest of everything that decides a part's archive bytes: every node's path, kind,
/// metadata and target, and each file's content identity (the SHA-256 of inline bytes, or the
/// object, offset and length of a blob range, whose objects are content-addressed). Two trees
/// with the same fingerprint give the same archive.
pub fn fingerprint(tree: &Tree) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    let mut field = |bytes: &[u8]| {
        hasher.update(u64::try_from(bytes.len()).unwrap_or(u64::MAX).to_le_bytes());
        hasher.update(bytes);
    };
    let meta_bytes = |meta: &crate::tree::Meta| {
        let mut out = Vec::new();
        out.extend_from_slice(&meta.mode.to_le_bytes());
        out.extend_from_slice(&meta.uid.to_le_bytes());
        out.extend_from_slice(&meta.gid.to_le_bytes());
        out.extend_from_slice(&meta.mtime.to_le_bytes());
        for (name, value) in &meta.xattrs {
            out.extend_from_slice(name.as_bytes());
            out.push(0);
            out.extend_from_slice(value);
        }
        out
    };
    field(&meta_bytes(&tree.root_meta));
    let _ = tree.walk::<()>(&mut |path, node| {
        field(path);
        field(&meta_bytes(&node.meta));
        match &node.kind {
            NodeKind::Dir(_) => field(b"dir"),
            NodeKind::File(crate::tree::Content::Inline(bytes)) => {
                field(b"file");
                field(&Sha256::digest(bytes));
            }
            NodeKind::File(crate::tree::Content::Blob(range)) => {
                field(b"blob");
                field(range.object.as_bytes());
                field(&range.offset.to_le_bytes());
                field(&range.len.to_le_bytes());
            }
            NodeKind::Symlink(target) => {
                field(b"symlink");
                field(target);
            }
            NodeKind::HardLink(target) => {
                field(b"hardlink");
                field(target);
            }
            NodeKind::CharDevice { major, minor } => {
                field(b"char");
                field(&[major.to_le_bytes(), minor.to_le_bytes()].concat());
            }
            NodeKind::BlockDevice { major, minor } => {
                field(b"block");
                field(&[major.to_le_bytes(), minor.to_le_bytes()].concat());
            }
            NodeKind::Fifo => field(b"fifo"),
        }
        Ok(())
    });
    hasher.finalize().into()
}

/// The lz4 legacy frame's magic number and block size (the kernel's `unlz4` reads blocks of
/// up to 8 MiB).
const LZ4_LEGACY_MAGIC: u32 = 0x184C_2102;
const LZ4_LEGACY_BLOCK: usize = 8 << 20;

/// Writes `tree` as one newc archive compressed as `compression` says; `threads` bounds the
/// parallel gzip (and does not change the bytes).
pub fn write(
    tree: &Tree,
    source: &dyn ContentSource,
    options: &cpio::CpioOptions,
    compression: InitrdCompression,
    threads: usize,
    out: &mut dyn Write,
) -> Result<(), cpio::Error> {
    let stream_err = |what: &str, source| cpio::Error::Write { path: what.to_owned(), source };
    match compression {
        InitrdCompression::None => cpio::write(tree, source, options, out),
        InitrdCompression::Gzip { level } => {
            cpio::write_gzip(tree, source, options, GzipOptions { level, threads }, out)
        }
        InitrdCompression::Xz { preset } => {
            let mut xz_options = lzma_rust2::XzOptions::with_preset(preset.min(9));
            xz_options.set_check_sum_type(lzma_rust2::CheckType::Crc32);
            let mut writer = lzma_rust2::XzWriter::new(out, xz_options)
                .map_err(|e| stream_err("xz header", e))?;
            cpio::write(tree, source, options, &mut writer)?;
            writer.finish().map(|_| ()).map_err(|e| stream_err("xz trailer", e))
        }
        InitrdCompression::Lz4 => {
            let mut writer = Lz4Legacy::new(out).map_err(|e| stream_err("lz4 magic", e))?;
            cpio::write(tree, source, options, &mut writer)?;
            writer.finish().map_err(|e| stream_err("lz4 block", e))
        }
        InitrdCompression::Zstd => write_zstd(tree, source, options, out),
    }
}

/// An lz4 legacy frame writer: the magic, then blocks of up to 8 MiB, each a little-endian
/// length and an lz4 block.
struct Lz4Legacy<'a> {
    out: &'a mut dyn Write,
    block: Vec<u8>,
}

impl<'a> Lz4Legacy<'a> {
    fn new(out: &'a mut dyn Write) -> io::Result<Lz4Legacy<'a>> {
        out.write_all(&LZ4_LEGACY_MAGIC.to_le_bytes())?;
        Ok(Lz4Legacy { out, block: Vec::with_capacity(LZ4_LEGACY_BLOCK) })
    }

    fn flush_block(&mut self) -> io::Result<()> {
        if self.block.is_empty() {
            return Ok(());
        }
        let compressed = lz4_flex::block::compress(&self.block);
        let len = u32::try_from(compressed.len())
            .map_err(|_| io::Error::other("an lz4 block is larger than 4 GiB"))?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(&compressed)?;
        self.block.clear();
        Ok(())
    }

    fn finish(mut self) -> io::Result<()> {
        self.flush_block()?;
        self.out.flush()
    }
}

impl Write for Lz4Legacy<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = (LZ4_LEGACY_BLOCK - self.block.len()).min(buf.len());
        self.block.extend_from_slice(&buf[..n]);
        if self.block.len() == LZ4_LEGACY_BLOCK {
            self.flush_block()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One zstd frame of the archive. ruzstd's encoder pulls its input, so it runs on a thread fed
/// through a bounded channel while this thread writes the archive and passes the compressed
/// output on as it comes.
fn write_zstd(
    tree: &Tree,
    source: &dyn ContentSource,
    options: &cpio::CpioOptions,
    out: &mut dyn Write,
) -> Result<(), cpio::Error> {
    let (input_tx, input_rx) = mpsc::sync_channel::<Vec<u8>>(4);
    let (output_tx, output_rx) = mpsc::channel::<Vec<u8>>();
    let worker = std::thread::spawn(move || {
        let reader = ChannelReader { rx: input_rx, chunk: Vec::new(), pos: 0 };
        let writer = ChannelWriter { tx: output_tx };
        ruzstd::encoding::compress(reader, writer, ruzstd::encoding::CompressionLevel::Fastest);
    });
    let write_err = |source| cpio::Error::Write { path: "zstd frame".to_owned(), source };
    let mut pipe = Pipe { input: Some(input_tx), output: &output_rx, out, buffer: Vec::new() };
    cpio::write(tree, source, options, &mut pipe)?;
    pipe.send().map_err(write_err)?;
    pipe.input = None;
    // The encoder ends its frame once its input is closed; pass on the rest of its output.
    for chunk in output_rx.iter() {
        pipe.out.write_all(&chunk).map_err(write_err)?;
    }
    worker.join().map_err(|_| write_err(io::Error::other("the zstd encoder panicked")))?;
    pipe.out.flush().map_err(write_err)
}

/// The archive's side of the zstd pipe: buffers input in 1 MiB chunks, and forwards whatever
/// compressed output is ready each time it hands a chunk over.
struct Pipe<'a> {
    input: Option<mpsc::SyncSender<Vec<u8>>>,
    output: &'a mpsc::Receiver<Vec<u8>>,
    out: &'a mut dyn Write,
    buffer: Vec<u8>,
}

impl Pipe<'_> {
    fn send(&mut self) -> io::Result<()> {
        if !self.buffer.is_empty() {
            let chunk = std::mem::take(&mut self.buffer);
            let input = self.input.as_ref().ok_or_else(|| io::Error::other("zstd input closed"))?;
            input.send(chunk).map_err(|_| io::Error::other("the zstd encoder stopped"))?;
        }
        while let Ok(chunk) = self.output.try_recv() {
            self.out.write_all(&chunk)?;
        }
        Ok(())
    }
}

impl Write for Pipe<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(buf);
        if self.buffer.len() >= 1 << 20 {
            self.send()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads the chunks of a channel as one stream, until the sender is dropped.
struct ChannelReader {
    rx: mpsc::Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            match self.rx.recv() {
                Ok(chunk) => {
                    self.chunk = chunk;
                    self.pos = 0;
                }
                Err(mpsc::RecvError) => return Ok(0),
            }
        }
        let n = (self.chunk.len() - self.pos).min(buf.len());
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Sends everything written to it as chunks over a channel.
struct ChannelWriter {
    tx: mpsc::Sender<Vec<u8>>,
}

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tx.send(buf.to_vec()).map_err(|_| io::Error::other("zstd output closed"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// How one segment is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain newc archive.
    None,
    /// gzip (one member).
    Gzip,
    /// Zstandard.
    Zstd,
    /// xz.
    Xz,
    /// Legacy lzma.
    Lzma,
    /// lz4 legacy frame.
    Lz4,
    /// bzip2.
    Bzip2,
    /// lzop.
    Lzo,
}

impl Compression {
    /// The name the kernel's config uses (`CONFIG_RD_<NAME>`), lowercase; `none` for plain.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Xz => "xz",
            Compression::Lzma => "lzma",
            Compression::Lz4 => "lz4",
            Compression::Bzip2 => "bzip2",
            Compression::Lzo => "lzo",
        }
    }

    fn detect(data: &[u8]) -> Option<Compression> {
        const MAGICS: [(&[u8], Compression); 8] = [
            (b"07070", Compression::None),
            (&[0x1f, 0x8b], Compression::Gzip),
            (&[0x28, 0xb5, 0x2f, 0xfd], Compression::Zstd),
            (&[0xfd, b'7', b'z', b'X', b'Z', 0x00], Compression::Xz),
            (&[0x5d, 0x00, 0x00], Compression::Lzma),
            (&[0x02, 0x21, 0x4c, 0x18], Compression::Lz4),
            (b"BZh", Compression::Bzip2),
            (&[0x89, b'L', b'Z', b'O'], Compression::Lzo),
        ];
        MAGICS.iter().find(|(magic, _)| data.starts_with(magic)).map(|(_, c)| *c)
    }
}

/// One segment of an initramfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Offset of its first byte in the initramfs.
    pub offset: u64,
    /// Its stored length in bytes.
    pub len: u64,
    /// How it is stored.
    pub compression: Compression,
    /// Its length after decompression (the archive itself for an uncompressed segment).
    pub uncompressed_len: u64,
}

/// Why an initramfs could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bytes at `offset` are neither padding, a newc archive nor a known compression.
    #[error(
        "initramfs byte {offset}: expected a newc archive, a compressed segment or zero padding"
    )]
    Unrecognized {
        /// Offset of the unrecognized bytes.
        offset: u64,
    },
    /// A segment is compressed with a method this reader does not decode.
    #[error("initramfs segment at byte {offset} is {} compressed, which kit cannot read yet", .compression.name())]
    Unsupported {
        /// Offset of the segment.
        offset: u64,
        /// Its compression.
        compression: Compression,
    },
    /// A compressed segment could not be decompressed.
    #[error("initramfs segment at byte {offset}: {source}")]
    Decompress {
        /// Offset of the segment.
        offset: u64,
        /// The decoder's error.
        source: std::io::Error,
    },
    /// A segment decompresses to more than the allowed size.
    #[error("initramfs segment at byte {offset} decompresses to more than {limit} bytes")]
    TooLarge {
        /// Offset of the segment.
        offset: u64,
        /// The limit.
        limit: u64,
    },
    /// A segment's archive is malformed.
    #[error("initramfs segment at byte {offset}: {source}")]
    Archive {
        /// Offset of the segment.
        offset: u64,
        /// The archive's error.
        source: cpio::Error,
    },
}

/// The most one compressed segment may decompress to (a guard against decompression bombs).
pub const MAX_SEGMENT_BYTES: u64 = 16 << 30;

/// Lists the segments of an initramfs.
pub fn segments(data: &[u8]) -> Result<Vec<Segment>, Error> {
    Ok(unpack_segments(data)?.into_iter().map(|(segment, _)| segment).collect())
}

/// Unpacks every segment into one tree, as the kernel does (a later entry of the same path
/// replaces an earlier one).
pub fn read(data: &[u8]) -> Result<Tree, Error> {
    let mut builder = TreeBuilder::new();
    for (segment, archive) in unpack_segments(data)? {
        let archive_err = |source| Error::Archive { offset: segment.offset, source };
        let tree = cpio::read(&archive[..]).map_err(archive_err)?;
        let root = Node::new(NodeKind::Dir(Default::default()), tree.root_meta.clone());
        builder.insert(b"", root).map_err(|e| archive_err(cpio::Error::Path(e)))?;
        // Hard links last: their targets may come later in name order than in the archive.
        for links_pass in [false, true] {
            tree.walk::<Error>(&mut |path, node| {
                let is_link = matches!(node.kind, NodeKind::HardLink(_));
                if is_link != links_pass {
                    return Ok(());
                }
                let node = match &node.kind {
                    // Directories merge: insert an empty one; the walk adds its entries.
                    NodeKind::Dir(_) => Node {
                        kind: NodeKind::Dir(Default::default()),
                        meta: node.meta.clone(),
                        origin: node.origin.clone(),
                    },
                    _ => node.clone(),
                };
                builder.insert(path, node).map_err(|e| archive_err(cpio::Error::Path(e)))
            })?;
        }
    }
    Ok(builder.finish())
}

/// Each segment with its uncompressed archive bytes.
fn unpack_segments(data: &[u8]) -> Result<Vec<(Segment, Vec<u8>)>, Error> {
    let mut out = Vec::new();
    let mut offset = 0usize;
    while offset < data.len() {
        if data[offset] == 0 {
            offset += 1;
            continue;
        }
        let offset_u64 = u64::try_from(offset).unwrap_or(u64::MAX);
        let rest = &data[offset..];
        let (len, archive) = match Compression::detect(rest) {
            Some(Compression::None) => {
                let len = cpio::archive_len(rest)
                    .map_err(|source| Error::Archive { offset: offset_u64, source })?;
                (len, rest[..len].to_vec())
            }
            Some(Compression::Gzip) => gunzip(rest, offset_u64)?,
            Some(Compression::Zstd) => unzstd(rest, offset_u64)?,
            Some(Compression::Xz) => unxz(rest, offset_u64)?,
            Some(Compression::Lz4) => unlz4(rest, offset_u64)?,
            Some(compression) => {
                return Err(Error::Unsupported { offset: offset_u64, compression });
            }
            None => return Err(Error::Unrecognized { offset: offset_u64 }),
        };
        let segment = Segment {
            offset: offset_u64,
            len: u64::try_from(len).unwrap_or(u64::MAX),
            compression: Compression::detect(rest).unwrap_or(Compression::None),
            uncompressed_len: u64::try_from(archive.len()).unwrap_or(u64::MAX),
        };
        out.push((segment, archive));
        // A segment always consumes at least its magic, so the loop advances.
        offset += len.max(1);
    }
    Ok(out)
}

/// Decodes the zstd frame at the start of `data`: its stored length and its content.
fn unzstd(data: &[u8], offset: u64) -> Result<(usize, Vec<u8>), Error> {
    let mut rest = data;
    let mut out = Vec::new();
    {
        let decoder = ruzstd::decoding::StreamingDecoder::new(&mut rest)
            .map_err(|e| Error::Decompress { offset, source: io::Error::other(e.to_string()) })?;
        decoder
            .take(MAX_SEGMENT_BYTES + 1)
            .read_to_end(&mut out)
            .map_err(|source| Error::Decompress { offset, source })?;
    }
    check_limit(&out, offset)?;
    Ok((data.len() - rest.len(), out))
}

/// Decodes the xz stream at the start of `data`, as the kernel's decoder does (one stream per
/// segment; a following stream is the next segment).
fn unxz(data: &[u8], offset: u64) -> Result<(usize, Vec<u8>), Error> {
    let end = xz_stream_end(data).ok_or_else(|| Error::Decompress {
        offset,
        source: io::Error::other("xz stream without a valid stream footer"),
    })?;
    let data = &data[..end];
    let mut out = Vec::new();
    let reader = lzma_rust2::XzReader::new(data, false);
    reader
        .take(MAX_SEGMENT_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|source| Error::Decompress { offset, source })?;
    check_limit(&out, offset)?;
    Ok((data.len(), out))
}

/// The length of the xz stream at the start of `data`: up to the first stream footer (CRC-32 of
/// its backward size and flags, the header's flags, `YZ`) that lies on a 4-byte boundary.
fn xz_stream_end(data: &[u8]) -> Option<usize> {
    let flags = data.get(6..8)?;
    let mut end = 24;
    while end <= data.len() {
        let footer = &data[end - 12..end];
        if &footer[10..12] == b"YZ" && &footer[8..10] == flags {
            let crc = u32::from_le_bytes([footer[0], footer[1], footer[2], footer[3]]);
            if crc32fast::hash(&footer[4..10]) == crc {
                return Some(end);
            }
        }
        end += 4;
    }
    None
}

/// Decodes an lz4 legacy frame: blocks until the input ends (the legacy frame has no end
/// mark), or a length that is the magic of a following frame.
fn unlz4(data: &[u8], offset: u64) -> Result<(usize, Vec<u8>), Error> {
    let bad = |what: &str| Error::Decompress { offset, source: io::Error::other(what.to_owned()) };
    let mut out = Vec::new();
    let mut pos = 4;
    while let Some(len_bytes) = data.get(pos..pos + 4) {
        let len = u32::from_le_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
        if len == LZ4_LEGACY_MAGIC {
            pos += 4;
            continue;
        }
        let len = usize::try_from(len).map_err(|_| bad("lz4 block length"))?;
        let block = data.get(pos + 4..pos + 4 + len).ok_or_else(|| bad("lz4 block cut short"))?;
        let decoded = lz4_flex::block::decompress(block, LZ4_LEGACY_BLOCK)
            .map_err(|e| bad(&format!("lz4 block at byte {}: {e}", pos)))?;
        out.extend_from_slice(&decoded);
        check_limit(&out, offset)?;
        pos += 4 + len;
    }
    Ok((data.len(), out))
}

fn check_limit(out: &[u8], offset: u64) -> Result<(), Error> {
    if u64::try_from(out.len()).unwrap_or(u64::MAX) > MAX_SEGMENT_BYTES {
        return Err(Error::TooLarge { offset, limit: MAX_SEGMENT_BYTES });
    }
    Ok(())
}

/// Decodes the gzip member at the start of `data`: its stored length and its content.
fn gunzip(data: &[u8], offset: u64) -> Result<(usize, Vec<u8>), Error> {
    let mut rest = data;
    let mut out = Vec::new();
    {
        let decoder = GzDecoder::new(&mut rest);
        decoder
            .take(MAX_SEGMENT_BYTES + 1)
            .read_to_end(&mut out)
            .map_err(|source| Error::Decompress { offset, source })?;
    }
    if u64::try_from(out.len()).unwrap_or(u64::MAX) > MAX_SEGMENT_BYTES {
        return Err(Error::TooLarge { offset, limit: MAX_SEGMENT_BYTES });
    }
    Ok((data.len() - rest.len(), out))
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;
    use crate::cpio::{CpioOptions, to_vec, write_gzip};
    use crate::dump::dump;
    use crate::testutil::tree_from_fixture;
    use crate::tree::NoBlobs;

    const OPTIONS: CpioOptions = CpioOptions { root_entry: false };

    fn initrd() -> Vec<u8> {
        let ucode =
            tree_from_fixture("//- /kernel/x86/microcode/GenuineIntel.bin\nucode\n").unwrap();
        let root = tree_from_fixture(
            "//- /init mode=0755\n#!/bin/sh\n//- /kernel/x86/microcode/GenuineIntel.bin\nnewer\n",
        )
        .unwrap();
        let mut data = to_vec(&ucode, &NoBlobs, &OPTIONS).unwrap();
        data.extend_from_slice(&[0; 8]);
        let gzip = crate::gzip::GzipOptions { level: 6, threads: 2 };
        write_gzip(&root, &NoBlobs, &OPTIONS, gzip, &mut data).unwrap();
        data
    }

    #[test]
    fn segments_are_listed_and_merged_in_order() {
        let data = initrd();
        let listing: Vec<String> = segments(&data)
            .unwrap()
            .iter()
            .map(|s| {
                format!(
                    "@{} {} {} -> {}",
                    s.offset,
                    s.compression.name(),
                    s.len,
                    s.uncompressed_len
                )
            })
            .collect();
        assert_eq!(listing.len(), 2);
        assert!(listing[0].starts_with("@0 none "), "{listing:?}");
        let first_len: usize = listing[0].split(' ').nth(2).unwrap().parse().unwrap();
        assert_eq!(listing[1].split(' ').next().unwrap(), format!("@{}", first_len + 8));
        assert!(listing[1].contains(" gzip "), "{listing:?}");
        // Hashes per sha256sum: "#!/bin/sh\n" is a8076d3d…, the later segment's "newer\n"
        // (77e30f34…) replaces the microcode archive's "ucode\n".
        expect![[r#"
            dir      0755 0:0 0 - - /
            file     0755 0:0 0 10 a8076d3d28d21e02 /init
            dir      0755 0:0 0 - - /kernel
            dir      0755 0:0 0 - - /kernel/x86
            dir      0755 0:0 0 - - /kernel/x86/microcode
            file     0644 0:0 0 6 77e30f34ca80fc7e /kernel/x86/microcode/GenuineIntel.bin
        "#]]
        .assert_eq(&dump(&read(&data).unwrap()));
    }

    #[test]
    fn parts_unpack_one_after_another_to_the_whole_tree() {
        let tree = tree_from_fixture(
            r#"
            //- /bin/busybox mode=0755 origin=init[0],busybox
            bb
            //- /bin/sh symlink=busybox origin=init[0],busybox
            //- /etc dir mode=0750 mtime=7 origin=init[1],base
            //- /etc/hostname origin=files,linuxkit.files
            kit
            //- /etc/passwd origin=init[1],base
            root
            //- /etc/passwd2 hardlink=/etc/passwd origin=files,linuxkit.files
            //- /containers/onboot/000-a/config.json origin=onboot[0],a
            {}
            //- /generated
            x
            "#,
        )
        .unwrap();
        let parts = split(&tree);
        let names: Vec<&str> = parts.iter().map(|p| p.name.as_str()).collect();
        // Walk order of the first node of each: /bin/busybox, /containers/…, /etc/hostname,
        // /etc/passwd, /generated.
        assert_eq!(names, ["init[0]", "onboot[0]", "files", "init[1]", "generated"]);
        // The hard link went with its target's part; /etc kept its 0750 in every part.
        let files = &parts[2].tree;
        assert!(files.get(b"etc/passwd2").is_none());
        assert!(parts[3].tree.get(b"etc/passwd2").is_some());
        assert_eq!(files.get(b"etc").unwrap().meta.mode, 0o750);
        // Concatenated archives read back as the whole tree.
        let mut data = Vec::new();
        for part in &parts {
            write(
                &part.tree,
                &NoBlobs,
                &OPTIONS,
                InitrdCompression::Gzip { level: 1 },
                1,
                &mut data,
            )
            .unwrap();
        }
        let expected = crate::dump::dump(
            &cpio::read(&cpio::to_vec(&tree, &NoBlobs, &OPTIONS).unwrap()[..]).unwrap(),
        );
        assert_eq!(dump(&read(&data).unwrap()), expected);
        // Fingerprints follow content and metadata, nothing else.
        assert_eq!(fingerprint(&parts[0].tree), fingerprint(&split(&tree)[0].tree));
        let mut changed = tree.clone();
        if let Some(Node { kind: NodeKind::Dir(etc), .. }) = changed.root.get_mut(b"etc".as_slice())
        {
            etc.get_mut(b"hostname".as_slice()).unwrap().meta.mtime = 1;
        }
        let changed_parts = split(&changed);
        assert_ne!(fingerprint(&changed_parts[2].tree), fingerprint(&parts[2].tree));
        assert_eq!(fingerprint(&changed_parts[3].tree), fingerprint(&parts[3].tree));
    }

    #[test]
    fn every_compression_reads_back_and_is_deterministic() {
        let tree = tree_from_fixture(
            "//- /init mode=0755\n#!/bin/sh\n//- /etc/motd\nkit\n//- /etc/motd2 hardlink=/etc/motd\n",
        )
        .unwrap();
        let ucode = tree_from_fixture("//- /kernel/x86/microcode/AuthenticAMD.bin\nu\n").unwrap();
        let plain = cpio::to_vec(&tree, &NoBlobs, &OPTIONS).unwrap();
        for compression in [
            InitrdCompression::None,
            InitrdCompression::Gzip { level: 6 },
            InitrdCompression::Zstd,
            InitrdCompression::Xz { preset: 6 },
            InitrdCompression::Lz4,
        ] {
            let mut data = to_vec(&ucode, &NoBlobs, &OPTIONS).unwrap();
            let start = data.len();
            write(&tree, &NoBlobs, &OPTIONS, compression, 2, &mut data).unwrap();
            let mut again = to_vec(&ucode, &NoBlobs, &OPTIONS).unwrap();
            write(&tree, &NoBlobs, &OPTIONS, compression, 1, &mut again).unwrap();
            assert_eq!(data, again, "{compression:?}");
            let found = segments(&data).unwrap();
            assert_eq!(found.len(), 2, "{compression:?}");
            assert_eq!(found[1].offset, u64::try_from(start).unwrap());
            assert_eq!(found[1].uncompressed_len, u64::try_from(plain.len()).unwrap());
            let back = read(&data).unwrap();
            assert!(back.get(b"kernel/x86/microcode/AuthenticAMD.bin").is_some());
            assert!(matches!(back.get(b"etc/motd2").map(|n| &n.kind), Some(NodeKind::HardLink(_))));
        }
    }

    #[test]
    fn unknown_and_unsupported_segments_are_named() {
        let mut data = initrd();
        data.extend_from_slice(b"BZh91AY&SY");
        let err = segments(&data).unwrap_err().to_string();
        assert!(err.contains("is bzip2 compressed, which kit cannot read yet"), "{err}");
        let mut bad_zstd = initrd();
        bad_zstd.extend_from_slice(&[0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3]);
        assert!(read(&bad_zstd).is_err());
        let err = read(b"\0\0\0\0junk").unwrap_err().to_string();
        assert_eq!(
            err,
            "initramfs byte 4: expected a newc archive, a compressed segment or zero padding"
        );
        let mut truncated = initrd();
        truncated.truncate(truncated.len() - 10);
        assert!(read(&truncated).is_err());
    }
}

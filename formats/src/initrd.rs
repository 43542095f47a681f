//! Reading a Linux initramfs as the kernel unpacks it: a sequence of segments, each an
//! uncompressed newc archive or a compressed one, separated by optional zero padding.
//!
//! The kernel's `unpack_to_rootfs` (init/initramfs.c) loops over the buffer: it skips NUL bytes,
//! recognizes a newc magic or a compression magic (`decompress_method`), and unpacks each
//! segment into the same root, later entries replacing earlier ones. LinuxKit's initrd is an
//! uncompressed microcode archive followed by a gzip'd root archive.
//!
//! [`segments`] lists the segments with their offsets and sizes; [`read`] unpacks them all into
//! one tree. gzip is decoded here; other compressions the kernel knows (zstd, xz, lzma, lz4,
//! bzip2, lzo) are recognized and named, and reading them is an error.

use std::io::Read;

use flate2::bufread::GzDecoder;

use crate::cpio;
use crate::extract::TreeBuilder;
use crate::tree::{Node, NodeKind, Tree};

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
    fn unknown_and_unsupported_segments_are_named() {
        let mut data = initrd();
        data.extend_from_slice(&[0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3]);
        let err = segments(&data).unwrap_err().to_string();
        assert!(err.contains("is zstd compressed, which kit cannot read yet"), "{err}");
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

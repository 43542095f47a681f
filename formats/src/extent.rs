//! A block-extent description of an image: which bytes go where, without holding them.
//!
//! Disk and container formats (GPT disks, qcow2, VHD, VHDX, VMDK, ISO system areas) are mostly
//! zeros and a few large pieces whose bytes already exist elsewhere: a file of a tree, a
//! filesystem image written to a temporary file, a boot loader. An [`ExtentMap`] lists those
//! pieces in order, so a writer can plan every offset first, then stream the bytes, and a
//! container format can skip zero runs (sparse clusters) without reading them.
//!
//! Extents are contiguous: the first starts at offset 0 and each starts where the previous ended.

use std::io::{self, Write};
use std::sync::Arc;

use crate::copy::{ContentError, CopyError, ExactReader, copy_content, write_zeros};
use crate::tree::{Content, ContentSource};

/// One run of bytes of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extent {
    /// `len_bytes` zero bytes: never read from anywhere, and sparse in container formats.
    Zeros {
        /// Length of the run.
        len_bytes: u64,
    },
    /// Bytes held in memory (headers, tables, small generated files).
    Literal(Arc<[u8]>),
    /// The content of a file, read through a [`ContentSource`] when the image is written.
    Content {
        /// The file's path, for error messages (relative to its tree, or a label such as
        /// `ESP image`).
        path: Vec<u8>,
        /// Its bytes.
        content: Content,
    },
}

impl Extent {
    /// Length of the extent in bytes.
    pub fn len_bytes(&self) -> u64 {
        match self {
            Extent::Zeros { len_bytes } => *len_bytes,
            Extent::Literal(bytes) => u64::try_from(bytes.len()).unwrap_or(u64::MAX),
            Extent::Content { content, .. } => content.len(),
        }
    }
}

/// Why an image described by extents could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExtentError {
    /// A content extent could not be read as announced.
    #[error(transparent)]
    Content(#[from] ContentError),
    /// The output writer failed.
    #[error("writing the image at byte {offset}: {source}")]
    Write {
        /// Offset of the extent being written.
        offset: u64,
        /// The writer's error.
        source: io::Error,
    },
}

/// An image as an ordered list of contiguous extents. Adjacent zero runs are merged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtentMap {
    extents: Vec<Extent>,
    len_bytes: u64,
}

impl ExtentMap {
    /// An empty image.
    pub fn new() -> ExtentMap {
        ExtentMap::default()
    }

    /// Total length in bytes.
    pub fn len_bytes(&self) -> u64 {
        self.len_bytes
    }

    /// True when the image has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len_bytes == 0
    }

    /// Appends `len_bytes` zeros.
    pub fn push_zeros(&mut self, len_bytes: u64) {
        if len_bytes == 0 {
            return;
        }
        if let Some(Extent::Zeros { len_bytes: last }) = self.extents.last_mut() {
            *last += len_bytes;
        } else {
            self.extents.push(Extent::Zeros { len_bytes });
        }
        self.len_bytes += len_bytes;
    }

    /// Appends bytes held in memory.
    pub fn push_literal(&mut self, bytes: impl Into<Arc<[u8]>>) {
        self.push(Extent::Literal(bytes.into()));
    }

    /// Appends a file's content.
    pub fn push_content(&mut self, path: &[u8], content: Content) {
        self.push(Extent::Content { path: path.to_vec(), content });
    }

    /// Appends any extent (zero-length extents are dropped).
    pub fn push(&mut self, extent: Extent) {
        match extent {
            Extent::Zeros { len_bytes } => self.push_zeros(len_bytes),
            other if other.len_bytes() == 0 => {}
            other => {
                self.len_bytes += other.len_bytes();
                self.extents.push(other);
            }
        }
    }

    /// Appends zeros up to the next multiple of `align_bytes` (no-op when already aligned or
    /// when `align_bytes` is 0).
    pub fn pad_to(&mut self, align_bytes: u64) {
        if align_bytes == 0 {
            return;
        }
        let rest = self.len_bytes % align_bytes;
        if rest != 0 {
            self.push_zeros(align_bytes - rest);
        }
    }

    /// The extents with their start offsets, in order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &Extent)> {
        let mut offset = 0;
        self.extents.iter().map(move |extent| {
            let start = offset;
            offset += extent.len_bytes();
            (start, extent)
        })
    }

    /// Writes every byte of the image in order, zeros included.
    pub fn write_to(
        &self,
        source: &dyn ContentSource,
        out: &mut dyn Write,
    ) -> Result<(), ExtentError> {
        for (offset, extent) in self.iter() {
            let write_err = |source| ExtentError::Write { offset, source };
            match extent {
                Extent::Zeros { len_bytes } => {
                    let mut left = *len_bytes;
                    while left > 0 {
                        let step = left.min(1 << 20);
                        // step <= 1 MiB fits in usize on every target.
                        write_zeros(out, usize::try_from(step).unwrap_or(0)).map_err(write_err)?;
                        left -= step;
                    }
                }
                Extent::Literal(bytes) => out.write_all(bytes).map_err(write_err)?,
                Extent::Content { path, content } => {
                    copy_content(content, source, path, out).map_err(|err| match err {
                        CopyError::Content(err) => ExtentError::Content(err),
                        CopyError::Write(source) => ExtentError::Write { offset, source },
                    })?;
                }
            }
        }
        Ok(())
    }

    /// Writes the image into a vector (for tests and small images).
    pub fn to_vec(&self, source: &dyn ContentSource) -> Result<Vec<u8>, ExtentError> {
        let mut out = Vec::new();
        self.write_to(source, &mut out)?;
        Ok(out)
    }
}

/// Reads an [`ExtentMap`] front to back in pieces of any size, for container writers that
/// place the disk's bytes block by block. Past the end of the map it yields zeros.
pub(crate) struct ExtentCursor<'a> {
    extents: Vec<(u64, &'a Extent)>,
    source: &'a dyn ContentSource,
    index: usize,
    pos: u64,
    open: Option<ExactReader<'a>>,
}

impl<'a> ExtentCursor<'a> {
    /// A cursor at byte 0 of `map`.
    pub(crate) fn new(map: &'a ExtentMap, source: &'a dyn ContentSource) -> ExtentCursor<'a> {
        ExtentCursor { extents: map.iter().collect(), source, index: 0, pos: 0, open: None }
    }

    /// Fills `buf` with the next `buf.len()` bytes of the image.
    pub(crate) fn fill(&mut self, buf: &mut [u8]) -> Result<(), ContentError> {
        let mut done = 0;
        while done < buf.len() {
            let want = buf.len() - done;
            let Some(&(start, extent)) = self.extents.get(self.index) else {
                buf[done..].fill(0);
                self.pos += u64::try_from(want).unwrap_or(u64::MAX);
                return Ok(());
            };
            let end = start + extent.len_bytes();
            let take = usize::try_from(end - self.pos).map_or(want, |left| left.min(want));
            let part = &mut buf[done..done + take];
            match extent {
                Extent::Zeros { .. } => part.fill(0),
                Extent::Literal(bytes) => {
                    let from = usize::try_from(self.pos - start).unwrap_or(usize::MAX);
                    part.copy_from_slice(&bytes[from..from + take]);
                }
                Extent::Content { path, content } => {
                    let reader = match &mut self.open {
                        Some(reader) => reader,
                        None => self.open.insert(ExactReader::open(content, self.source, path)?),
                    };
                    let got = reader.read_chunk(part)?;
                    if got != take {
                        // read_chunk fills the buffer unless the content ends, and take never
                        // goes past the end of the content.
                        return Err(ContentError::TooShort {
                            path: crate::dump::display_path(path),
                            expected: content.len(),
                            found: self.pos - start + u64::try_from(got).unwrap_or(0),
                        });
                    }
                }
            }
            done += take;
            self.pos += u64::try_from(take).unwrap_or(u64::MAX);
            if self.pos == end {
                self.index += 1;
                self.open = None;
            }
        }
        Ok(())
    }

    /// Moves `len_bytes` forward: zero runs and literals are skipped, file contents read through.
    pub(crate) fn skip(&mut self, mut len_bytes: u64) -> Result<(), ContentError> {
        let mut scratch = Vec::new();
        while len_bytes > 0 {
            let Some(&(start, extent)) = self.extents.get(self.index) else {
                self.pos += len_bytes;
                return Ok(());
            };
            let end = start + extent.len_bytes();
            let take = (end - self.pos).min(len_bytes);
            if let Extent::Content { .. } = extent {
                scratch.resize(usize::try_from(take.min(1 << 16)).unwrap_or(1 << 16), 0);
                self.fill(&mut scratch)?;
                len_bytes -= u64::try_from(scratch.len()).unwrap_or(u64::MAX);
                continue;
            }
            self.pos += take;
            len_bytes -= take;
            if self.pos == end {
                self.index += 1;
                self.open = None;
            }
        }
        Ok(())
    }
}

/// For each block of `block_bytes` of `map`, whether any byte of it comes from a literal or a
/// content extent (false: the block is all zeros). Covers `block_count` blocks.
pub(crate) fn blocks_with_data(map: &ExtentMap, block_bytes: u64, block_count: u64) -> Vec<bool> {
    let mut used = vec![false; usize::try_from(block_count).unwrap_or(0)];
    if block_bytes == 0 {
        return used;
    }
    for (start, extent) in map.iter() {
        if let Extent::Zeros { .. } = extent {
            continue;
        }
        let len = extent.len_bytes();
        if len == 0 {
            continue;
        }
        let first = start / block_bytes;
        let last = (start + len - 1) / block_bytes;
        for block in first..=last {
            if let Some(slot) = usize::try_from(block).ok().and_then(|b| used.get_mut(b)) {
                *slot = true;
            }
        }
    }
    used
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;
    use crate::tree::NoBlobs;

    #[test]
    fn zeros_merge_and_offsets_follow() {
        let mut map = ExtentMap::new();
        map.push_literal(&b"MBR"[..]);
        map.pad_to(8);
        map.push_zeros(8);
        map.push_content(b"boot/kernel", Content::Inline(Arc::from(&b"kernel"[..])));
        map.push_zeros(0);
        map.push_literal(&b""[..]);
        map.pad_to(4);
        let listing: Vec<String> = map
            .iter()
            .map(|(offset, extent)| match extent {
                Extent::Zeros { len_bytes } => format!("{offset} zeros {len_bytes}"),
                Extent::Literal(bytes) => format!("{offset} literal {}", bytes.len()),
                Extent::Content { path, .. } => {
                    format!("{offset} content {}", String::from_utf8_lossy(path))
                }
            })
            .collect();
        expect![[r#"
            [
                "0 literal 3",
                "3 zeros 13",
                "16 content boot/kernel",
                "22 zeros 2",
            ]
        "#]]
        .assert_debug_eq(&listing);
        let bytes = map.to_vec(&NoBlobs).unwrap();
        assert_eq!(bytes.len(), 24);
        assert_eq!(u64::try_from(bytes.len()).unwrap(), map.len_bytes());
        assert_eq!(&bytes[16..22], b"kernel");
        assert!(bytes[3..16].iter().all(|b| *b == 0));
    }

    #[test]
    fn content_errors_name_the_path() {
        let mut map = ExtentMap::new();
        let blob = crate::tree::BlobRange { object: Arc::from("sha256:00"), offset: 0, len: 4 };
        map.push_content(b"EFI/BOOT/BOOTX64.EFI", Content::Blob(blob));
        let err = map.to_vec(&NoBlobs).unwrap_err().to_string();
        assert!(err.starts_with("reading the content of /EFI/BOOT/BOOTX64.EFI"), "{err}");
    }
    #[test]
    fn cursor_reads_any_piece_sizes_and_skips() {
        let mut map = ExtentMap::new();
        map.push_literal(&b"abcdefghij"[..]);
        map.push_zeros(7);
        map.push_content(b"f", Content::Inline(Arc::from(&b"0123456789"[..])));
        map.push_literal(&b"XYZ"[..]);
        let whole = map.to_vec(&NoBlobs).unwrap();
        for step in 1..=12 {
            let mut cursor = ExtentCursor::new(&map, &NoBlobs);
            let mut got = Vec::new();
            // Past the end: zeros.
            while got.len() < whole.len() + 5 {
                let mut buf = vec![0xaa; step];
                cursor.fill(&mut buf).unwrap();
                got.extend_from_slice(&buf);
            }
            assert_eq!(&got[..whole.len()], &whole[..], "step {step}");
            assert!(got[whole.len()..].iter().all(|b| *b == 0));
            for skip in 0..whole.len() {
                let mut cursor = ExtentCursor::new(&map, &NoBlobs);
                cursor.skip(u64::try_from(skip).unwrap()).unwrap();
                let mut buf = vec![0; whole.len() - skip];
                cursor.fill(&mut buf).unwrap();
                assert_eq!(&buf[..], &whole[skip..], "skip {skip}");
            }
        }
    }

    #[test]
    fn blocks_with_data_ignore_zero_runs() {
        let mut map = ExtentMap::new();
        map.push_zeros(10);
        map.push_literal(&b"ab"[..]);
        map.push_zeros(30);
        map.push_literal(&b"c"[..]);
        // Blocks of 8: 0..8 zeros, 8..16 data, 16..40 zeros, 40..48 data (byte 42), 48..56 none.
        assert_eq!(blocks_with_data(&map, 8, 7), [false, true, false, false, false, true, false]);
    }
}

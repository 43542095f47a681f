//! Reading an [`ExtentMap`] one fixed-size chunk (cluster, grain) at a time, in order, for the
//! virtual disk containers (qcow2, VMDK): a chunk that lies wholly in [`Extent::Zeros`] runs is
//! reported as such without reading anything, the others are filled from literal bytes and
//! content readers opened once per extent and read sequentially.

use std::io::{Read, Seek};

use sha2::{Digest, Sha256};

use crate::copy::{ContentError, ExactReader};
use crate::extent::{Extent, ExtentMap};
use crate::tree::{Content, ContentSource};

/// Half-open runs `[start, end)` of chunk indices touched by a non-zero extent, merged and in
/// order: the chunks a sparse container allocates.
pub(crate) fn allocated_runs(map: &ExtentMap, chunk_bytes: u64) -> Vec<(u64, u64)> {
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for (offset, extent) in map.iter() {
        if matches!(extent, Extent::Zeros { .. }) {
            continue;
        }
        let first = offset / chunk_bytes;
        let end = (offset + extent.len_bytes()).div_ceil(chunk_bytes);
        match runs.last_mut() {
            Some(last) if last.1 >= first => last.1 = last.1.max(end),
            _ => runs.push((first, end)),
        }
    }
    runs
}

/// A hash of the description of `map` (lengths, literal bytes, inline contents, blob ranges),
/// without reading any content: the seed of identifiers derived "from the content".
pub(crate) fn describe_hash(map: &ExtentMap) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(map.len_bytes().to_le_bytes());
    for (offset, extent) in map.iter() {
        hash.update(offset.to_le_bytes());
        hash.update(extent.len_bytes().to_le_bytes());
        match extent {
            Extent::Zeros { .. } => hash.update([0u8]),
            Extent::Literal(bytes) => {
                hash.update([1u8]);
                hash.update(bytes);
            }
            Extent::Content { path, content } => {
                hash.update([2u8]);
                hash.update(path);
                match content {
                    Content::Inline(bytes) => hash.update(bytes),
                    Content::Blob(range) => {
                        hash.update(range.object.as_bytes());
                        hash.update(range.offset.to_le_bytes());
                    }
                }
            }
        }
    }
    hash.finalize().into()
}

/// Reads chunks of an [`ExtentMap`] in increasing order.
pub(crate) struct Chunks<'a> {
    extents: Vec<(u64, &'a Extent)>,
    /// First extent that may still overlap the next chunk.
    next_extent: usize,
    /// The open reader of a content extent: its index and the offset it has reached.
    reader: Option<(usize, u64, ExactReader<'a>)>,
    source: &'a dyn ContentSource,
    chunk_bytes: u64,
    len_bytes: u64,
}

impl<'a> Chunks<'a> {
    pub(crate) fn new(map: &'a ExtentMap, source: &'a dyn ContentSource, chunk_bytes: u64) -> Self {
        Chunks {
            extents: map.iter().collect(),
            next_extent: 0,
            reader: None,
            source,
            chunk_bytes,
            len_bytes: map.len_bytes(),
        }
    }

    /// Fills `buf` (`chunk_bytes` long) with chunk `index`, zero past the end of the map.
    /// Returns false, without reading, when the chunk lies wholly in zero runs. Indices must
    /// increase from call to call.
    pub(crate) fn read(&mut self, index: u64, buf: &mut [u8]) -> Result<bool, ContentError> {
        buf.fill(0);
        let start = index.saturating_mul(self.chunk_bytes);
        let end = start.saturating_add(self.chunk_bytes).min(self.len_bytes);
        while let Some((offset, extent)) = self.extents.get(self.next_extent) {
            if offset + extent.len_bytes() > start {
                break;
            }
            self.next_extent += 1;
        }
        let mut data = false;
        let mut i = self.next_extent;
        while let Some(&(offset, extent)) = self.extents.get(i) {
            if offset >= end {
                break;
            }
            let from = offset.max(start);
            let to = (offset + extent.len_bytes()).min(end);
            // Both are within one chunk, whose length is a usize.
            let in_buf = usize::try_from(from - start).unwrap_or(0)
                ..usize::try_from(to - start).unwrap_or(0);
            match extent {
                Extent::Zeros { .. } => {}
                Extent::Literal(bytes) => {
                    data = true;
                    let in_extent = usize::try_from(from - offset).unwrap_or(0)
                        ..usize::try_from(to - offset).unwrap_or(0);
                    buf[in_buf].copy_from_slice(&bytes[in_extent]);
                }
                Extent::Content { path, content } => {
                    data = true;
                    self.read_content(i, offset, path, content, from, &mut buf[in_buf])?;
                }
            }
            i += 1;
        }
        Ok(data)
    }

    /// Reads `out.len()` bytes of content extent `i` (starting at image offset `extent_start`)
    /// from image offset `from`, skipping what earlier chunks did not ask for.
    fn read_content(
        &mut self,
        i: usize,
        extent_start: u64,
        path: &'a [u8],
        content: &'a Content,
        from: u64,
        out: &mut [u8],
    ) -> Result<(), ContentError> {
        if !matches!(self.reader, Some((open, _, _)) if open == i) {
            let reader = ExactReader::open(content, self.source, path)?;
            self.reader = Some((i, extent_start, reader));
        }
        let Some((_, at, reader)) = self.reader.as_mut() else { return Ok(()) };
        let mut skip = vec![0u8; 0];
        while *at < from {
            let step = usize::try_from((from - *at).min(1 << 16)).unwrap_or(1 << 16);
            skip.resize(step, 0);
            let n = reader.read_chunk(&mut skip)?;
            *at += u64::try_from(n).unwrap_or(u64::MAX);
        }
        let n = reader.read_chunk(out)?;
        *at += u64::try_from(n).unwrap_or(u64::MAX);
        Ok(())
    }
}

/// `Read + Seek` as one trait object, for the non-generic readers.
pub(crate) trait ReadSeek: Read + Seek {}
impl<T: Read + Seek> ReadSeek for T {}

#[cfg(test)]
mod tests {
    use std::io::Cursor;
    use std::sync::Arc;

    use proptest::prelude::*;

    use crate::extent::ExtentMap;
    use crate::tree::{Content, NoBlobs};
    use crate::{qcow2, vmdk};

    /// One extent: 0 zeros, 1 literal, 2 inline content; a length; a fill byte (0 makes
    /// all-zero literal data, which is stored but must read back as zeros).
    fn arb_disk() -> impl Strategy<Value = ExtentMap> {
        prop::collection::vec((0u8..3, 1usize..200_000, any::<u8>()), 0..8).prop_map(|parts| {
            let mut disk = ExtentMap::new();
            for (i, (kind, len, fill)) in parts.into_iter().enumerate() {
                let data: Vec<u8> =
                    (0..len).map(|j| fill.wrapping_mul(u8::try_from(j % 7).unwrap_or(0))).collect();
                match kind {
                    0 => disk.push_zeros(u64::try_from(len).unwrap_or(0) * 16),
                    1 => disk.push_literal(data),
                    _ => disk.push_content(
                        format!("part{i}").as_bytes(),
                        Content::Inline(Arc::from(data)),
                    ),
                }
            }
            disk
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Both containers give back the raw disk padded to a whole sector (VMDK refuses
        /// empty disks).
        #[test]
        fn round_trip(disk in arb_disk()) {
            let raw = disk.to_vec(&NoBlobs).unwrap();
            let image = qcow2::to_vec(&disk, &NoBlobs, &qcow2::Qcow2Options::default()).unwrap();
            let mut back = Vec::new();
            qcow2::read_to(&mut Cursor::new(&image), &mut back).unwrap();
            let mut padded = raw.clone();
            padded.resize(raw.len().next_multiple_of(512), 0);
            prop_assert!(back == padded);

            if disk.is_empty() {
                return Ok(());
            }
            let options = vmdk::VmdkOptions {
                adapter_type: vmdk::AdapterType::LsiLogic,
                file_name: "p.vmdk".to_owned(),
                cid: None,
            };
            let image = vmdk::to_vec(&disk, &NoBlobs, &options).unwrap();
            let mut back = Vec::new();
            vmdk::read_to(&mut Cursor::new(&image), &mut back).unwrap();
            prop_assert!(back == padded);
        }
    }
}

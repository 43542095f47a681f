//! Fixed-sized output lz4 compression for EROFS: each extent of a file is compressed into one
//! 4 KiB physical cluster, as `LZ4_compress_destSize` does for mkfs.erofs.
//!
//! lz4_flex compresses a whole input and has no destination-size mode, so each extent is found by
//! compressing a probe longer than what one block holds, keeping the lz4 sequences of its output
//! up to the boundary that describes the most input, and ending the block with the next input
//! bytes as a final literal run (see [`truncate_to_block`]). Extents shorter than one block gain
//! nothing and are stored plain, as are blocks whose first 4097 bytes do not fit in 4096.

use crate::copy::ContentError;
use crate::erofs::plan::{BLOCK, BLOCK_USIZE};
use crate::erofs::zmap::{
    CLUSTER_TYPE_HEAD, CLUSTER_TYPE_NONHEAD, CLUSTER_TYPE_PLAIN, DecompressedIndex,
    LEGACY_INDEX_START, MapHeader,
};

/// Longest extent: 1 MiB of file data in one pcluster (lz4 cannot expand 4 KiB much further,
/// and NONHEAD distances stay far below the 2048 lclusters the kernel accepts).
const MAX_EXTENT: usize = 1 << 20;
/// Smallest probe compressed to find an extent's length.
const MIN_PROBE: usize = 8 * 1024;

/// One extent of a compressed file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Extent {
    /// First logical byte.
    pub(crate) start: u64,
    /// Number of logical bytes.
    pub(crate) len: u64,
    /// Block of the pcluster.
    pub(crate) blkaddr: u32,
    /// lz4 (HEAD) rather than plain.
    pub(crate) compressed: bool,
}

/// Cuts a file, read in order, into extents and their pcluster blocks.
pub(crate) struct Compressor {
    size: u64,
    consumed: u64,
    read_total: u64,
    queue: Vec<u8>,
    head: usize,
    last_len: usize,
}

impl Compressor {
    /// A compressor for a file of `size` bytes.
    pub(crate) fn new(size: u64) -> Compressor {
        Compressor { size, consumed: 0, read_total: 0, queue: Vec::new(), head: 0, last_len: 0 }
    }

    /// The next extent (with `blkaddr` 0) and its block, reading more content through `read`
    /// (which fills the buffer it is given, or returns fewer bytes at the end); `None` at the
    /// end of the file.
    pub(crate) fn next(
        &mut self,
        read: &mut dyn FnMut(&mut [u8]) -> Result<usize, ContentError>,
    ) -> Result<Option<(Extent, Vec<u8>)>, ContentError> {
        let remaining = self.size - self.consumed;
        if remaining == 0 {
            return Ok(None);
        }
        let want = usize::try_from(remaining).unwrap_or(usize::MAX).min(MAX_EXTENT);
        if self.head >= MAX_EXTENT {
            self.queue.drain(..self.head);
            self.head = 0;
        }
        while self.queue.len() - self.head < want && self.read_total < self.size {
            let start = self.queue.len();
            let room = (self.size - self.read_total).min(u64::try_from(MAX_EXTENT).unwrap_or(0));
            self.queue.resize(start + usize::try_from(room).unwrap_or(MAX_EXTENT), 0);
            let n = read(&mut self.queue[start..])?;
            self.queue.truncate(start + n);
            self.read_total += u64::try_from(n).unwrap_or(0);
            if n == 0 {
                break;
            }
        }
        let available = &self.queue[self.head..];
        let input = &available[..want.min(available.len())];
        if input.is_empty() {
            // The source ended early; the reader reports it on the next read.
            read(&mut [0u8; 1])?;
            return Ok(None);
        }
        let mut block = vec![0u8; BLOCK_USIZE];
        let (len, compressed) = match fit(input, self.last_len) {
            Some((len, bytes)) if len > BLOCK_USIZE => {
                // lz4_0padding: the stream ends at the end of the block.
                block[BLOCK_USIZE - bytes.len()..].copy_from_slice(&bytes);
                (len, true)
            }
            _ => {
                let len = input.len().min(BLOCK_USIZE);
                block[..len].copy_from_slice(&input[..len]);
                (len, false)
            }
        };
        self.last_len = len;
        let extent = Extent {
            start: self.consumed,
            len: u64::try_from(len).unwrap_or(0),
            blkaddr: 0,
            compressed,
        };
        self.head += len;
        self.consumed += extent.len;
        Ok(Some((extent, block)))
    }
}

/// The longest prefix of `input` (more than one block long) whose lz4 block fits in 4096 bytes,
/// with that block; `None` if even the shortest useful prefix does not fit. `guess` is the
/// previous extent's length.
fn fit(input: &[u8], guess: usize) -> Option<(usize, Vec<u8>)> {
    if input.len() <= BLOCK_USIZE {
        return None;
    }
    let mut probe = (guess + guess / 4 + 1024).max(MIN_PROBE).min(input.len());
    let mut out = compress(&input[..probe]);
    while out.len() <= BLOCK_USIZE {
        if probe == input.len() {
            return Some((probe, out));
        }
        probe = probe.saturating_mul(4).min(input.len());
        out = compress(&input[..probe]);
    }
    // The probe overflows one block: keep its sequences up to a boundary and end the block
    // with the following input bytes as literals.
    truncate_to_block(&out, input)
}

fn compress(input: &[u8]) -> Vec<u8> {
    lz4_flex::block::compress(input)
}

/// Bytes of the length extension of a literal run of `len` bytes.
fn extension_len(len: usize) -> usize {
    if len < 15 { 0 } else { (len - 15) / 255 + 1 }
}

/// Cuts the lz4 block `out` (the compression of a prefix of `input`) after one of its sequences
/// and ends it with a literal-only sequence of the next input bytes, so that the block fills at
/// most 4096 bytes and describes as much input as possible. The final literal run is at least
/// 12 bytes long, which keeps the format's end rules (the last 5 bytes are literals, the last
/// match starts at least 12 bytes before the end). Returns the input length and the block, or
/// `None` when no cut describes more than one block of input.
fn truncate_to_block(out: &[u8], input: &[u8]) -> Option<(usize, Vec<u8>)> {
    let mut best: Option<Cut> = None;
    let mut consider = |cut: Cut| {
        if cut.literals >= 12
            && best.is_none_or(|b| cut.covered + cut.literals > b.covered + b.literals)
        {
            best = Some(cut);
        }
    };
    // The longest final literal run that fits after `used` bytes, for input from `covered`.
    let literals_after = |used: usize, covered: usize| -> usize {
        let available = BLOCK_USIZE.saturating_sub(used + 1);
        let mut literals = available.min(input.len().saturating_sub(covered));
        while literals > 0 && literals + extension_len(literals) > available {
            literals -= 1;
        }
        literals
    };
    consider(Cut { out_len: 0, shortened: None, covered: 0, literals: literals_after(0, 0) });
    let mut pos = 0;
    let mut covered = 0;
    while pos < out.len() && pos < BLOCK_USIZE {
        let token_pos = pos;
        let token = out[pos];
        pos += 1;
        let mut literals = usize::from(token >> 4);
        if literals == 15 {
            while let Some(&byte) = out.get(pos) {
                pos += 1;
                literals += usize::from(byte);
                if byte != 255 {
                    break;
                }
            }
        }
        pos += literals;
        covered += literals;
        if pos + 2 > out.len() {
            // The final literal-only sequence of the probe.
            break;
        }
        pos += 2;
        let match_start = pos;
        let mut matched = usize::from(token & 15) + 4;
        if token & 15 == 15 {
            while let Some(&byte) = out.get(pos) {
                pos += 1;
                matched += usize::from(byte);
                if byte != 255 {
                    break;
                }
            }
        }
        // A long match may not fit: keep as much of it as leaves room for 12 literals.
        if match_start + 13 < BLOCK_USIZE {
            let room = BLOCK_USIZE - match_start - 13;
            let longest = if room == 0 { 4 + 14 } else { 4 + 15 + 255 * (room - 1) + 254 };
            let shortened = matched.min(longest);
            if shortened < matched && shortened >= 4 {
                let used = match_start + extension_len(shortened - 4);
                consider(Cut {
                    out_len: match_start,
                    shortened: Some((token_pos, shortened)),
                    covered: covered + shortened,
                    literals: literals_after(used, covered + shortened),
                });
            }
        }
        covered += matched;
        consider(Cut {
            out_len: pos,
            shortened: None,
            covered,
            literals: literals_after(pos, covered),
        });
    }
    let cut = best?;
    let len = cut.covered + cut.literals;
    if len <= BLOCK_USIZE {
        return None;
    }
    let mut block = Vec::with_capacity(BLOCK_USIZE);
    block.extend_from_slice(&out[..cut.out_len]);
    if let Some((token_pos, matched)) = cut.shortened {
        let code = matched - 4;
        block[token_pos] = (block[token_pos] & 0xf0) | u8::try_from(code.min(15)).unwrap_or(15);
        push_extension(&mut block, code);
    }
    block.push(u8::try_from(cut.literals.min(15)).unwrap_or(15) << 4);
    push_extension(&mut block, cut.literals);
    block.extend_from_slice(&input[cut.covered..len]);
    debug_assert!(block.len() <= BLOCK_USIZE);
    Some((len, block))
}

/// Where a block is cut: bytes of the probe's output kept, a match to shorten (token position,
/// new length), input covered by them, and the final literal run.
#[derive(Debug, Clone, Copy)]
struct Cut {
    out_len: usize,
    shortened: Option<(usize, usize)>,
    covered: usize,
    literals: usize,
}

/// Appends the length extension bytes of a 4-bit length field holding `value`.
fn push_extension(out: &mut Vec<u8>, value: usize) {
    if value < 15 {
        return;
    }
    let mut rest = value - 15;
    while rest >= 255 {
        out.push(255);
        rest -= 255;
    }
    out.push(u8::try_from(rest).unwrap_or(0));
}

/// The compression map of a file of `size` bytes stored as `extents`: the map header, its
/// padding and one full index per lcluster (see [`crate::erofs::zmap`]).
pub(crate) fn legacy_map(extents: &[Extent], size: u64) -> Vec<u8> {
    let header = MapHeader { idata_size: 0, advise: 0, algorithm_type: 0, cluster_bits: 0 };
    let mut bytes = [0u8; MapHeader::SIZE];
    header.encode(&mut bytes);
    let mut out = bytes.to_vec();
    out.resize(usize::try_from(LEGACY_INDEX_START).unwrap_or(16), 0);
    let n_lclusters = size.div_ceil(BLOCK);
    let mut indexes =
        vec![
            DecompressedIndex { advise: u16::from(CLUSTER_TYPE_PLAIN), cluster_ofs: 0, u: 0 };
            usize::try_from(n_lclusters).unwrap_or(0)
        ];
    for extent in extents {
        let end = extent.start + extent.len;
        let head_lcn = extent.start / BLOCK;
        let end_lcn = end / BLOCK;
        let kind = if extent.compressed { CLUSTER_TYPE_HEAD } else { CLUSTER_TYPE_PLAIN };
        let set = |indexes: &mut Vec<DecompressedIndex>, lcn: u64, index| {
            if let Some(slot) = usize::try_from(lcn).ok().and_then(|i| indexes.get_mut(i)) {
                *slot = index;
            }
        };
        set(
            &mut indexes,
            head_lcn,
            DecompressedIndex {
                advise: u16::from(kind),
                cluster_ofs: u16::try_from(extent.start % BLOCK).unwrap_or(0),
                u: extent.blkaddr,
            },
        );
        for lcn in head_lcn + 1..end_lcn.saturating_add(1) {
            if lcn * BLOCK >= end {
                break;
            }
            // Extents are at most 1 MiB, so the distances fit 16 bits.
            let delta0 = u32::try_from(lcn - head_lcn).unwrap_or(0);
            let delta1 = u32::try_from(end_lcn - lcn).unwrap_or(0);
            let index = if lcn == end_lcn {
                // The lcluster holding the end of the file: a PLAIN entry whose offset is the
                // end, as mkfs.erofs writes it.
                DecompressedIndex {
                    advise: u16::from(CLUSTER_TYPE_PLAIN),
                    cluster_ofs: u16::try_from(end % BLOCK).unwrap_or(0),
                    u: 0,
                }
            } else {
                DecompressedIndex {
                    advise: u16::from(CLUSTER_TYPE_NONHEAD),
                    cluster_ofs: 0,
                    u: delta0 | (delta1 << 16),
                }
            };
            set(&mut indexes, lcn, index);
        }
    }
    for index in &indexes {
        let mut bytes = [0u8; DecompressedIndex::SIZE];
        index.encode(&mut bytes);
        out.extend_from_slice(&bytes);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(data: &[u8]) -> Vec<Extent> {
        let mut compressor = Compressor::new(u64::try_from(data.len()).unwrap());
        let mut offset = 0;
        let mut read = |buf: &mut [u8]| -> Result<usize, ContentError> {
            let n = buf.len().min(data.len() - offset);
            buf[..n].copy_from_slice(&data[offset..offset + n]);
            offset += n;
            Ok(n)
        };
        let mut extents = Vec::new();
        while let Some((extent, block)) = compressor.next(&mut read).unwrap() {
            let start = usize::try_from(extent.start).unwrap();
            let len = usize::try_from(extent.len).unwrap();
            if extent.compressed {
                let skip = block.iter().take_while(|b| **b == 0).count();
                let back = lz4_flex::block::decompress(&block[skip..], len).unwrap();
                assert_eq!(back, &data[start..start + len]);
            } else {
                assert_eq!(&block[..len], &data[start..start + len]);
            }
            extents.push(extent);
        }
        extents
    }

    #[test]
    fn zeros_fill_one_pcluster_per_mebibyte() {
        let extents = run(&vec![0u8; 3 << 20]);
        // 1 MiB of zeros takes 4113 bytes of lz4 (one long match), a little more than a block:
        // the match is shortened to what fits.
        assert_eq!(extents.len(), 4);
        assert!(extents.iter().all(|e| e.compressed && e.len > 20_000), "{extents:?}");
    }

    #[test]
    fn text_extents_fill_their_block_and_noise_stays_plain() {
        let text: Vec<u8> = (0..40_000)
            .flat_map(|i: u32| format!("line {} of {}\n", i % 977, i / 13).into_bytes())
            .collect();
        let extents = run(&text);
        assert!(extents.len() < text.len() / 4096);
        let mut noise = Vec::new();
        let mut state: u32 = 1;
        for _ in 0..20_000 {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            noise.push(state.to_le_bytes()[3]);
        }
        let extents = run(&noise);
        assert!(extents.iter().all(|e| !e.compressed && e.len <= 4096));
        assert_eq!(extents.len(), 5);
    }

    #[test]
    fn map_of_three_extents() {
        // Extents [0, 10000) lz4, [10000, 14096) plain, [14096, 15000) plain (the tail).
        let extents = [
            Extent { start: 0, len: 10_000, blkaddr: 7, compressed: true },
            Extent { start: 10_000, len: 4096, blkaddr: 8, compressed: false },
            Extent { start: 14_096, len: 904, blkaddr: 9, compressed: false },
        ];
        let map = legacy_map(&extents, 15_000);
        let indexes: Vec<String> = map[16..]
            .chunks(8)
            .map(|c| {
                let index = DecompressedIndex::decode(c.try_into().unwrap());
                format!("{}:{}:{:#x}", index.cluster_type(), index.cluster_ofs, index.u)
            })
            .collect();
        // lcn 0 head of extent 0; lcn 1 inside it (back 1, next head 2 lclusters on); lcn 2
        // holds the plain extent starting at 1808; lcn 3 the tail at 1808 + 4096 - 4096 = 1808.
        assert_eq!(indexes, ["1:0:0x7", "2:0:0x10001", "0:1808:0x8", "0:1808:0x9"]);
    }
}

//! Parallel gzip whose bytes do not depend on the number of threads.
//!
//! The input is cut into blocks of [`BLOCK_BYTES`]. Each block is deflated on its own (raw
//! deflate, RFC 1951) by a fresh compressor primed with the 32 KiB of input before it as a
//! preset dictionary, and ends with a sync flush (an empty stored block), so the compressed
//! blocks simply concatenate into one deflate stream; a final empty block with `BFINAL` set ends
//! it. The gzip member (RFC 1952) around it has a fixed header (no name, mtime 0, OS 255) and the
//! CRC-32 and length of the whole input. This is how pigz builds one member from independent
//! blocks.
//!
//! Every block is compressed from the same inputs whatever the thread count, and blocks are
//! written in input order, so 1 thread and 16 threads give the same bytes. The bytes do depend on
//! [`BLOCK_BYTES`] and on the deflate implementation (zlib-rs, pinned by the lockfile).
//!
//! While up to `threads` blocks compress on worker threads, the caller's thread goes on producing
//! input (reading and merging layers, writing the cpio), so the two overlap.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::thread::JoinHandle;

use flate2::{Compress, Compression, FlushCompress, Status};

/// Input bytes per independently compressed block. Part of the output format: changing it
/// changes the bytes.
pub const BLOCK_BYTES: usize = 512 * 1024;

/// The deflate window, and so the dictionary given to each block.
const DICTIONARY_BYTES: usize = 32 * 1024;

/// Choices that change how (not what) the output is computed, and its bytes (`level`).
/// No `Default`: the caller decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GzipOptions {
    /// Compression level, 0 (stored) to 9 (smallest).
    pub level: u32,
    /// How many blocks may compress at once; 0 and 1 both compress on the caller's thread.
    /// Does not change the output.
    pub threads: usize,
}

/// A writer that gzips everything written to it onto `out`; call [`ParallelGzip::finish`] at
/// the end (dropping it without finishing leaves a truncated stream).
pub struct ParallelGzip<'a> {
    out: &'a mut dyn Write,
    options: GzipOptions,
    block: Vec<u8>,
    dictionary: Vec<u8>,
    crc: crc32fast::Hasher,
    total_len: u64,
    in_flight: VecDeque<JoinHandle<io::Result<Vec<u8>>>>,
}

impl<'a> ParallelGzip<'a> {
    /// Starts a gzip member on `out`: writes its header.
    pub fn new(out: &'a mut dyn Write, options: GzipOptions) -> io::Result<ParallelGzip<'a>> {
        if options.level > 9 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("gzip level {} is out of range 0-9", options.level),
            ));
        }
        // XFL 2 = maximum compression, 4 = fastest, as gzip and flate2 set it.
        let xfl = match options.level {
            9 => 2,
            1 => 4,
            _ => 0,
        };
        out.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255])?;
        Ok(ParallelGzip {
            out,
            options,
            block: Vec::with_capacity(BLOCK_BYTES),
            dictionary: Vec::new(),
            crc: crc32fast::Hasher::new(),
            total_len: 0,
            in_flight: VecDeque::new(),
        })
    }

    /// Compresses what is left, ends the deflate stream and writes the gzip trailer.
    pub fn finish(mut self) -> io::Result<()> {
        if !self.block.is_empty() {
            self.dispatch()?;
        }
        while let Some(job) = self.in_flight.pop_front() {
            let compressed = join(job)?;
            self.out.write_all(&compressed)?;
        }
        // A final fixed-Huffman block with no data: BFINAL=1, BTYPE=01, end-of-block code.
        self.out.write_all(&[0x03, 0x00])?;
        let crc = self.crc.clone().finalize();
        self.out.write_all(&crc.to_le_bytes())?;
        // ISIZE is the input length modulo 2^32 (RFC 1952).
        let isize = u32::try_from(self.total_len & 0xffff_ffff).unwrap_or(0);
        self.out.write_all(&isize.to_le_bytes())?;
        self.out.flush()
    }

    /// Hands the current block to a worker (or compresses it here with one thread) and writes
    /// finished blocks in order while too many are in flight.
    fn dispatch(&mut self) -> io::Result<()> {
        let block = std::mem::replace(&mut self.block, Vec::with_capacity(BLOCK_BYTES));
        let dictionary = self.dictionary.clone();
        // The next block's dictionary: the last 32 KiB of input up to the end of this block.
        if block.len() >= DICTIONARY_BYTES {
            self.dictionary.clear();
            self.dictionary.extend_from_slice(&block[block.len() - DICTIONARY_BYTES..]);
        } else {
            self.dictionary.extend_from_slice(&block);
            let excess = self.dictionary.len().saturating_sub(DICTIONARY_BYTES);
            self.dictionary.drain(..excess);
        }
        let level = self.options.level;
        if self.options.threads <= 1 {
            let compressed = deflate_block(&dictionary, &block, level)?;
            return self.out.write_all(&compressed);
        }
        self.in_flight
            .push_back(std::thread::spawn(move || deflate_block(&dictionary, &block, level)));
        while self.in_flight.len() >= self.options.threads {
            if let Some(job) = self.in_flight.pop_front() {
                let compressed = join(job)?;
                self.out.write_all(&compressed)?;
            }
        }
        Ok(())
    }
}

impl Write for ParallelGzip<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = BLOCK_BYTES - self.block.len();
        let n = room.min(buf.len());
        self.block.extend_from_slice(&buf[..n]);
        self.crc.update(&buf[..n]);
        self.total_len += u64::try_from(n).unwrap_or(u64::MAX);
        if self.block.len() == BLOCK_BYTES {
            self.dispatch()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Blocks are only complete at BLOCK_BYTES or at finish; flushing earlier would change
        // the bytes, so this only flushes what was already written.
        self.out.flush()
    }
}

fn join(job: JoinHandle<io::Result<Vec<u8>>>) -> io::Result<Vec<u8>> {
    job.join().map_err(|_| io::Error::other("a gzip worker thread panicked"))?
}

/// Raw-deflates `block` primed with `dictionary`, ending with a sync flush.
fn deflate_block(dictionary: &[u8], block: &[u8], level: u32) -> io::Result<Vec<u8>> {
    let mut compress = Compress::new(Compression::new(level), false);
    if !dictionary.is_empty() {
        compress.set_dictionary(dictionary).map_err(io::Error::other)?;
    }
    let mut out = Vec::with_capacity(block.len() / 2 + 4096);
    feed(&mut compress, block, &mut out)?;
    sync_flush(&mut compress, &mut out)?;
    Ok(out)
}

/// Compresses all of `input` without flushing (a flush in the middle would end a deflate
/// block early and cost ratio).
fn feed(compress: &mut Compress, input: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    let mut consumed = 0;
    while consumed < input.len() {
        if out.capacity() - out.len() < 4096 {
            out.reserve(out.capacity().max(4096));
        }
        let before = compress.total_in();
        compress
            .compress_vec(&input[consumed..], out, FlushCompress::None)
            .map_err(io::Error::other)?;
        consumed += usize::try_from(compress.total_in() - before).unwrap_or(usize::MAX);
    }
    Ok(())
}

/// Sync-flushes until the compressor had room left over (zlib's rule for a complete flush).
fn sync_flush(compress: &mut Compress, out: &mut Vec<u8>) -> io::Result<()> {
    loop {
        if out.capacity() - out.len() < 4096 {
            out.reserve(out.capacity().max(4096));
        }
        let status =
            compress.compress_vec(&[], out, FlushCompress::Sync).map_err(io::Error::other)?;
        if out.len() < out.capacity() || matches!(status, Status::StreamEnd) {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    /// Deterministic, partly compressible test data.
    fn data(len: usize) -> Vec<u8> {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        (0..len)
            .map(|idx| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                // Every other 4 KiB run is text, the rest noise.
                if (idx / 4096) % 2 == 0 {
                    b"kit writes images "[idx % 18]
                } else {
                    state.to_le_bytes()[0]
                }
            })
            .collect()
    }

    fn gzip(input: &[u8], level: u32, threads: usize, chunk: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut gz = ParallelGzip::new(&mut out, GzipOptions { level, threads }).unwrap();
        for piece in input.chunks(chunk.max(1)) {
            gz.write_all(piece).unwrap();
        }
        gz.finish().unwrap();
        out
    }

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn thread_count_and_write_sizes_do_not_change_the_bytes() {
        let input = data(3 * BLOCK_BYTES + 12_345);
        let one = gzip(&input, 6, 1, 1 << 20);
        for (threads, chunk) in [(2, 7), (3, 4096), (8, BLOCK_BYTES), (16, 1 << 20)] {
            assert_eq!(gzip(&input, 6, threads, chunk), one, "{threads} threads, {chunk} B writes");
        }
        assert_eq!(gunzip(&one), input);
        assert!(one.len() < input.len() * 3 / 4, "{} of {}", one.len(), input.len());
    }

    #[test]
    fn gzip_and_the_kernel_layout_hold() {
        for len in [0, 1, DICTIONARY_BYTES, BLOCK_BYTES, BLOCK_BYTES + 1] {
            let input = data(len);
            for level in [0, 1, 9] {
                let bytes = gzip(&input, level, 2, 1000);
                assert_eq!(gunzip(&bytes), input, "len {len} level {level}");
                // Fixed header: no name, mtime 0, OS 255; trailer: CRC-32 and length.
                assert_eq!(bytes[..8], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0]);
                assert_eq!(bytes[9], 255);
                let trailer = &bytes[bytes.len() - 8..];
                assert_eq!(trailer[..4], crc32fast::hash(&input).to_le_bytes());
                assert_eq!(trailer[4..], u32::try_from(len).unwrap().to_le_bytes());
            }
        }
    }

    #[test]
    fn dictionary_keeps_the_ratio_of_one_stream() {
        // 20,000 bytes of noise repeated: a block compressed without the previous 32 KiB would
        // store the noise again (about 20 KB more per block); with the dictionary every block
        // is matches only, as in one stream.
        let noise = data(40_000)[4096..24_096].to_vec();
        let input: Vec<u8> = noise.iter().copied().cycle().take(4 * BLOCK_BYTES).collect();
        // Levels 1 and 9 here: zlib-rs 0.6's levels 5 and 6 (its "medium" strategy) compress
        // blocks of this synthetic input several times worse after a dictionary or a flush
        // (46 kB instead of 3 kB per block), although on real initrds they lose under 0.01 %
        // against one stream (measured on the example's cpio, see ARCHITECTURE.md).
        for level in [1, 9] {
            check_ratio(&input, level);
        }
    }

    fn check_ratio(input: &[u8], level: u32) {
        let parallel = gzip(input, level, 2, 1 << 20);
        let mut single = Vec::new();
        let mut encoder = flate2::write::GzEncoder::new(&mut single, Compression::new(level));
        encoder.write_all(input).unwrap();
        encoder.finish().unwrap();
        assert!(single.len() < input.len() / 20, "{}", single.len());
        // A few hundred bytes per block boundary for the flush and fresh Huffman tables.
        let boundaries = 3;
        assert!(
            parallel.len() <= single.len() + boundaries * 8192,
            "level {level}: {} vs {}",
            parallel.len(),
            single.len()
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 24, ..Default::default() })]

        /// Random inputs around the block boundaries, random write sizes and thread counts: the
        /// stream decodes to the input, and the bytes equal those of one thread.
        #[test]
        fn random_inputs_round_trip_with_the_same_bytes(
            extra in 0usize..70_000,
            blocks in 0usize..3,
            chunk in 1usize..100_000,
            threads in 2usize..9,
            level in 0u32..10,
            seed in proptest::prelude::any::<u64>(),
        ) {
            let len = blocks * BLOCK_BYTES + extra;
            let mut state = seed | 1;
            let input: Vec<u8> = (0..len)
                .map(|idx| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    if idx % 3 == 0 { b'k' } else { state.to_le_bytes()[0] & 0x0f }
                })
                .collect();
            let many = gzip(&input, level, threads, chunk);
            proptest::prop_assert_eq!(gunzip(&many), input.clone());
            proptest::prop_assert_eq!(many, gzip(&input, level, 1, 1 << 20));
        }
    }

    #[test]
    fn level_out_of_range_is_refused() {
        let mut out = Vec::new();
        let err = ParallelGzip::new(&mut out, GzipOptions { level: 10, threads: 1 }).err().unwrap();
        assert_eq!(err.to_string(), "gzip level 10 is out of range 0-9");
    }
}

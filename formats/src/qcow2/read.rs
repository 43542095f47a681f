//! Reading a qcow2 file back: the guest bytes, streamed cluster by cluster, and a summary.

use std::io::{self, Read, SeekFrom, Write};

use crate::disk_chunks::ReadSeek;

use crate::qcow2::Error;
use crate::qcow2::header::{Qcow2Header, V2_SIZE, entry};

/// Largest L1 table accepted (QEMU's limit): 32 MiB.
const MAX_L1_BYTES: u64 = 32 << 20;

fn io_err(what: &'static str) -> impl Fn(io::Error) -> Error {
    move |source| Error::Read { what, source }
}

/// Reads and checks the header: version 2 or 3, no backing file, no encryption, no
/// snapshots-only features kit cannot follow.
pub(crate) fn read_header(input: &mut dyn ReadSeek) -> Result<Qcow2Header, Error> {
    let mut bytes = [0u8; Qcow2Header::SIZE];
    input.seek(SeekFrom::Start(0)).map_err(io_err("the header"))?;
    let mut filled = 0;
    while filled < bytes.len() {
        match input.read(&mut bytes[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(Error::Read { what: "the header", source: err }),
        }
    }
    if filled < V2_SIZE {
        return Err(Error::NotQcow2);
    }
    let header = Qcow2Header::decode(&bytes).ok_or(Error::NotQcow2)?;
    let unsupported = |what: String| Err(Error::Unsupported { what });
    if header.version != 2 && header.version != 3 {
        return unsupported(format!("version {}", header.version));
    }
    if header.version == 3 && filled < Qcow2Header::SIZE {
        return Err(Error::NotQcow2);
    }
    if !(9..=21).contains(&header.cluster_bits) {
        return Err(Error::Corrupt { what: format!("cluster_bits {}", header.cluster_bits) });
    }
    if header.backing_file_offset != 0 {
        return unsupported("a backing file".to_owned());
    }
    if header.crypt_method != 0 {
        return unsupported(format!("encryption method {}", header.crypt_method));
    }
    // Bit 0 (dirty) only matters for refcounts, which reading does not use.
    if header.incompatible_features & !1 != 0 {
        return unsupported(format!("incompatible features {:#x}", header.incompatible_features));
    }
    let cluster_bytes = 1u64 << header.cluster_bits;
    let l2_entries = cluster_bytes / 8;
    let needed = header.size_bytes.div_ceil(cluster_bytes).div_ceil(l2_entries);
    if u64::from(header.l1_size) < needed || u64::from(header.l1_size) * 8 > MAX_L1_BYTES {
        return Err(Error::Corrupt {
            what: format!(
                "l1_size {} for a {}-byte disk ({needed} entries needed, at most {})",
                header.l1_size,
                header.size_bytes,
                MAX_L1_BYTES / 8
            ),
        });
    }
    if !header.l1_table_offset.is_multiple_of(cluster_bytes) {
        return Err(Error::Corrupt {
            what: format!("l1_table_offset {:#x}", header.l1_table_offset),
        });
    }
    Ok(header)
}

fn read_exact_at(
    input: &mut dyn ReadSeek,
    offset: u64,
    buf: &mut [u8],
    what: &'static str,
) -> Result<(), Error> {
    input.seek(SeekFrom::Start(offset)).map_err(io_err(what))?;
    input.read_exact(buf).map_err(io_err(what))
}

fn be64(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_be_bytes(b)
}

/// Inflates the compressed cluster of `l2_entry` into `out` (qcow2.txt "Compressed Clusters
/// Descriptor": raw deflate, `x = 62 - (cluster_bits - 8)` offset bits, then the number of
/// additional 512-byte sectors).
fn read_compressed(
    input: &mut dyn ReadSeek,
    header: &Qcow2Header,
    l2_entry: u64,
    out: &mut [u8],
    guest_offset: u64,
) -> Result<(), Error> {
    let x = 62 - (header.cluster_bits - 8);
    let offset = l2_entry & ((1u64 << x) - 1);
    let sectors = ((l2_entry >> x) & ((1u64 << (header.cluster_bits - 8)) - 1)) + 1;
    let size = sectors * 512 - offset % 512;
    let mut compressed = Vec::new();
    input.seek(SeekFrom::Start(offset)).map_err(io_err("a compressed cluster"))?;
    // The last compressed cluster may end before its last sector does (end of file).
    Read::take(&mut *input, size)
        .read_to_end(&mut compressed)
        .map_err(io_err("a compressed cluster"))?;
    let mut decoder = flate2::read::DeflateDecoder::new(&compressed[..]);
    let mut filled = 0;
    while filled < out.len() {
        match decoder.read(&mut out[filled..]) {
            Ok(0) | Err(_) => {
                return Err(Error::Corrupt {
                    what: format!(
                        "the compressed cluster at guest offset {guest_offset} does not inflate to {} bytes",
                        out.len()
                    ),
                });
            }
            Ok(n) => filled += n,
        }
    }
    Ok(())
}

/// Copies the guest disk to `out`; returns its size in bytes.
pub(crate) fn read_to(input: &mut dyn ReadSeek, out: &mut dyn Write) -> Result<u64, Error> {
    let header = read_header(input)?;
    let cluster_bytes = 1u64 << header.cluster_bits;
    let cluster_len = usize::try_from(cluster_bytes).map_err(|_| Error::NotQcow2)?;
    let l1_len = usize::try_from(u64::from(header.l1_size) * 8).map_err(|_| Error::NotQcow2)?;
    let mut l1 = vec![0u8; l1_len];
    read_exact_at(input, header.l1_table_offset, &mut l1, "the L1 table")?;
    let zeros = vec![0u8; cluster_len];
    let mut l2 = vec![0u8; cluster_len];
    let mut cluster = vec![0u8; cluster_len];
    let l2_entries = cluster_bytes / 8;
    let mut done = 0u64;
    let write = |out: &mut dyn Write, bytes: &[u8], done: u64| {
        out.write_all(bytes).map_err(|source| Error::Write { offset: done, source })
    };
    for l1_index in 0..u64::from(header.l1_size) {
        if done >= header.size_bytes {
            break;
        }
        let l1_entry = be64(&l1, usize::try_from(l1_index * 8).unwrap_or(0));
        let l2_offset = l1_entry & entry::OFFSET_MASK;
        if !l2_offset.is_multiple_of(cluster_bytes) {
            return Err(Error::Corrupt { what: format!("L1 entry {l1_index}: {l1_entry:#x}") });
        }
        if l2_offset != 0 {
            read_exact_at(input, l2_offset, &mut l2, "an L2 table")?;
        }
        for i in 0..l2_entries {
            if done >= header.size_bytes {
                break;
            }
            let take = usize::try_from((header.size_bytes - done).min(cluster_bytes)).unwrap_or(0);
            let l2_entry =
                if l2_offset == 0 { 0 } else { be64(&l2, usize::try_from(i * 8).unwrap_or(0)) };
            if l2_entry & entry::COMPRESSED != 0 {
                read_compressed(input, &header, l2_entry, &mut cluster[..take], done)?;
                write(out, &cluster[..take], done)?;
                done += u64::try_from(take).unwrap_or(0);
                continue;
            }
            let host = l2_entry & entry::OFFSET_MASK;
            if host == 0 || (header.version >= 3 && l2_entry & entry::ZERO != 0) {
                write(out, &zeros[..take], done)?;
            } else if !host.is_multiple_of(cluster_bytes) {
                return Err(Error::Corrupt {
                    what: format!("L2 entry for guest offset {done}: {l2_entry:#x}"),
                });
            } else {
                read_exact_at(input, host, &mut cluster, "a data cluster")?;
                write(out, &cluster[..take], done)?;
            }
            done += u64::try_from(take).unwrap_or(0);
        }
    }
    Ok(done)
}

/// Key/value lines for `kit inspect`.
pub(crate) fn summary(input: &mut dyn ReadSeek) -> Result<Vec<(String, String)>, Error> {
    let header = read_header(input)?;
    let mut lines = vec![
        ("format".to_owned(), "qcow2".to_owned()),
        ("version".to_owned(), header.version.to_string()),
        ("virtual size".to_owned(), format!("{} bytes", header.size_bytes)),
        ("cluster size".to_owned(), format!("{} bytes", 1u64 << header.cluster_bits)),
        ("L1 entries".to_owned(), header.l1_size.to_string()),
        ("L1 table offset".to_owned(), format!("{:#x}", header.l1_table_offset)),
        ("refcount table offset".to_owned(), format!("{:#x}", header.refcount_table_offset)),
        ("refcount bits".to_owned(), (1u64 << header.refcount_order.min(6)).to_string()),
        ("snapshots".to_owned(), header.nb_snapshots.to_string()),
    ];
    if header.version >= 3 {
        lines.push((
            "features".to_owned(),
            format!(
                "incompatible {:#x}, compatible {:#x}, autoclear {:#x}",
                header.incompatible_features, header.compatible_features, header.autoclear_features
            ),
        ));
    }
    Ok(lines)
}

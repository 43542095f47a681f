//! Emitting a planned qcow2 file in one pass: metadata first, then data clusters in guest
//! order, one cluster in memory at a time.

use std::io::Write;

use crate::disk_chunks::Chunks;
use crate::extent::ExtentMap;
use crate::qcow2::header::{Qcow2Header, entry};
use crate::qcow2::plan::{
    CLUSTER_BITS, CLUSTER_BYTES, ENTRIES_PER_TABLE, Layout, REFCOUNTS_PER_BLOCK,
};
use crate::qcow2::{Error, Qcow2Options};
use crate::tree::ContentSource;

/// A writer that knows its offset, for error messages.
struct Out<'a> {
    out: &'a mut dyn Write,
    offset: u64,
}

impl Out<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let offset = self.offset;
        self.out.write_all(bytes).map_err(|source| Error::Write { offset, source })?;
        self.offset += u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        Ok(())
    }
}

/// One cluster of 8-byte big-endian entries, from `entry(i)` for i in 0..8192.
fn table_cluster(entry: impl Fn(u64) -> u64) -> Vec<u8> {
    let mut cluster = Vec::with_capacity(64 << 10);
    for i in 0..ENTRIES_PER_TABLE {
        cluster.extend_from_slice(&entry(i).to_be_bytes());
    }
    cluster
}

/// The header, with the values of `layout`.
pub(crate) fn header(layout: &Layout) -> Result<Qcow2Header, Error> {
    let too_large =
        || Error::TooLarge { size_bytes: layout.size_bytes, max_bytes: u64::from(u32::MAX) };
    Ok(Qcow2Header {
        version: 3,
        backing_file_offset: 0,
        backing_file_size: 0,
        cluster_bits: CLUSTER_BITS,
        size_bytes: layout.size_bytes,
        crypt_method: 0,
        l1_size: u32::try_from(layout.l1_size).map_err(|_| too_large())?,
        l1_table_offset: layout.l1_cluster * CLUSTER_BYTES,
        refcount_table_offset: layout.refcount_table_cluster * CLUSTER_BYTES,
        refcount_table_clusters: u32::try_from(layout.refcount_table_clusters)
            .map_err(|_| too_large())?,
        nb_snapshots: 0,
        snapshots_offset: 0,
        incompatible_features: 0,
        compatible_features: 0,
        autoclear_features: 0,
        refcount_order: 4,
        header_length: u32::try_from(Qcow2Header::SIZE).unwrap_or(104),
    })
}

/// Writes the file planned as `layout` for `disk`; returns its length.
pub(crate) fn emit(
    layout: &Layout,
    disk: &ExtentMap,
    source: &dyn ContentSource,
    _options: &Qcow2Options,
    out: &mut dyn Write,
) -> Result<u64, Error> {
    let mut out = Out { out, offset: 0 };
    let zero_cluster = vec![0u8; 64 << 10];

    // Header cluster; the end-of-extensions marker is the 8 zero bytes after the header.
    let mut bytes = [0u8; Qcow2Header::SIZE];
    header(layout)?.encode(&mut bytes);
    out.put(&bytes)?;
    out.put(&zero_cluster[Qcow2Header::SIZE..])?;

    // Refcount table: one entry per refcount block, which follow it.
    let first_block = layout.refcount_table_cluster + layout.refcount_table_clusters;
    for cluster in 0..layout.refcount_table_clusters {
        out.put(&table_cluster(|i| {
            let block = cluster * ENTRIES_PER_TABLE + i;
            if block < layout.refcount_blocks { (first_block + block) * CLUSTER_BYTES } else { 0 }
        }))?;
    }

    // Refcount blocks: every host cluster of the file is used exactly once.
    for block in 0..layout.refcount_blocks {
        let mut cluster = Vec::with_capacity(64 << 10);
        for i in 0..REFCOUNTS_PER_BLOCK {
            let used = block * REFCOUNTS_PER_BLOCK + i < layout.clusters;
            cluster.extend_from_slice(&u16::from(used).to_be_bytes());
        }
        out.put(&cluster)?;
    }

    // L1 table.
    let mut tables = layout.l2_tables.iter().enumerate().peekable();
    let mut l1 = Vec::with_capacity(64 << 10);
    for l1_index in 0..layout.l1_clusters * ENTRIES_PER_TABLE {
        let mut value = 0;
        if let Some(&(n, &index)) = tables.peek()
            && index == l1_index
        {
            let n = u64::try_from(n).unwrap_or(u64::MAX);
            value = ((layout.l2_cluster + n) * CLUSTER_BYTES) | entry::COPIED;
            tables.next();
        }
        l1.extend_from_slice(&value.to_be_bytes());
        if l1.len() == l1.capacity() {
            out.put(&l1)?;
            l1.clear();
        }
    }

    // L2 tables: walk the data runs once, numbering allocated clusters.
    let mut runs = layout.data_runs.iter().peekable();
    let mut rank = 0u64;
    for &l1_index in &layout.l2_tables {
        let first = l1_index * ENTRIES_PER_TABLE;
        let mut l2 = vec![0u8; 64 << 10];
        while let Some(&&(start, end)) = runs.peek() {
            if start >= first + ENTRIES_PER_TABLE {
                break;
            }
            let from = start.max(first);
            let to = end.min(first + ENTRIES_PER_TABLE);
            for guest in from..to {
                let host = ((layout.data_cluster + rank) * CLUSTER_BYTES) | entry::COPIED;
                rank += 1;
                let at = usize::try_from((guest - first) * 8).unwrap_or(0);
                l2[at..at + 8].copy_from_slice(&host.to_be_bytes());
            }
            if end <= first + ENTRIES_PER_TABLE {
                runs.next();
            } else {
                // The run goes on in the next table: remember where this one stopped.
                break;
            }
        }
        out.put(&l2)?;
    }

    // Data clusters in guest order.
    let mut chunks = Chunks::new(disk, source, CLUSTER_BYTES);
    let mut cluster = vec![0u8; 64 << 10];
    for &(start, end) in &layout.data_runs {
        for guest in start..end {
            chunks.read(guest, &mut cluster)?;
            out.put(&cluster)?;
        }
    }
    Ok(out.offset)
}

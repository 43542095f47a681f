//! The layout of a qcow2 file, computed before any byte is written: every host cluster is
//! used exactly once, in this order (all offsets in clusters):
//!
//! header (0) | refcount table | refcount blocks | L1 table | L2 tables | data clusters
//!
//! Data clusters follow guest order; a guest cluster is allocated when any non-zero extent
//! touches it.

use crate::disk_chunks::allocated_runs;
use crate::extent::ExtentMap;
use crate::qcow2::Error;

/// log2 of the cluster size kit writes.
pub const CLUSTER_BITS: u32 = 16;
/// The cluster size kit writes: 64 KiB.
pub const CLUSTER_BYTES: u64 = 1 << CLUSTER_BITS;
/// Entries of an L2 table (or of an L1/refcount table cluster): 8 bytes each.
pub(crate) const ENTRIES_PER_TABLE: u64 = CLUSTER_BYTES / 8;
/// 16-bit refcounts per refcount block.
pub(crate) const REFCOUNTS_PER_BLOCK: u64 = CLUSTER_BYTES / 2;
/// QEMU refuses L1 tables larger than 32 MiB.
const MAX_L1_BYTES: u64 = 32 << 20;

/// Where everything goes, in clusters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Virtual disk size in bytes: the disk's, rounded up to a multiple of 512.
    pub size_bytes: u64,
    /// Entries of the L1 table (one per 8192 guest clusters, 512 MiB).
    pub l1_size: u64,
    /// First cluster of the refcount table (always 1).
    pub refcount_table_cluster: u64,
    /// Clusters of the refcount table.
    pub refcount_table_clusters: u64,
    /// Refcount blocks (each covers 32768 host clusters).
    pub refcount_blocks: u64,
    /// First cluster of the L1 table.
    pub l1_cluster: u64,
    /// Clusters of the L1 table.
    pub l1_clusters: u64,
    /// L1 indices that have an L2 table, in order; the n-th table is at `l2_cluster + n`.
    pub l2_tables: Vec<u64>,
    /// First L2 table cluster.
    pub l2_cluster: u64,
    /// Allocated guest clusters as runs `[start, end)`; the n-th allocated cluster is stored
    /// at host cluster `data_cluster + n`.
    pub data_runs: Vec<(u64, u64)>,
    /// First data cluster.
    pub data_cluster: u64,
    /// Total host clusters (the file is `clusters * 64 KiB` long).
    pub clusters: u64,
}

impl Layout {
    /// Number of allocated data clusters.
    pub fn data_clusters(&self) -> u64 {
        self.data_runs.iter().map(|(start, end)| end - start).sum()
    }

    /// File length in bytes.
    pub fn file_bytes(&self) -> u64 {
        self.clusters * CLUSTER_BYTES
    }
}

/// Plans the qcow2 file for `disk`.
pub fn plan(disk: &ExtentMap) -> Result<Layout, Error> {
    // qemu counts whole 512-byte sectors (it drops a partial last one): pad to a sector.
    let size_bytes = disk.len_bytes().div_ceil(512).saturating_mul(512);
    let guest_clusters = size_bytes.div_ceil(CLUSTER_BYTES);
    let l1_size = guest_clusters.div_ceil(ENTRIES_PER_TABLE);
    if l1_size * 8 > MAX_L1_BYTES {
        return Err(Error::TooLarge {
            size_bytes,
            max_bytes: MAX_L1_BYTES / 8 * ENTRIES_PER_TABLE * CLUSTER_BYTES,
        });
    }
    let data_runs = allocated_runs(disk, CLUSTER_BYTES);
    let mut l2_tables: Vec<u64> = Vec::new();
    for &(start, end) in &data_runs {
        for l1_index in start / ENTRIES_PER_TABLE..=(end - 1) / ENTRIES_PER_TABLE {
            if l2_tables.last() != Some(&l1_index) {
                l2_tables.push(l1_index);
            }
        }
    }
    let data: u64 = data_runs.iter().map(|(start, end)| end - start).sum();
    let l1_clusters = (l1_size * 8).div_ceil(CLUSTER_BYTES);
    let l2 = u64::try_from(l2_tables.len()).unwrap_or(u64::MAX);
    // The refcount structures count themselves: grow them until they cover every cluster.
    let mut refcount_table_clusters = 1;
    let mut refcount_blocks = 1;
    loop {
        let total = 1 + refcount_table_clusters + refcount_blocks + l1_clusters + l2 + data;
        let blocks = total.div_ceil(REFCOUNTS_PER_BLOCK);
        let table = (blocks * 8).div_ceil(CLUSTER_BYTES);
        if blocks == refcount_blocks && table == refcount_table_clusters {
            break;
        }
        refcount_blocks = blocks.max(refcount_blocks);
        refcount_table_clusters = table.max(refcount_table_clusters);
    }
    let l1_cluster = 1 + refcount_table_clusters + refcount_blocks;
    let l2_cluster = l1_cluster + l1_clusters;
    let data_cluster = l2_cluster + l2;
    Ok(Layout {
        size_bytes,
        l1_size,
        refcount_table_cluster: 1,
        refcount_table_clusters,
        refcount_blocks,
        l1_cluster,
        l1_clusters,
        l2_tables,
        l2_cluster,
        data_runs,
        data_cluster,
        clusters: data_cluster + data,
    })
}

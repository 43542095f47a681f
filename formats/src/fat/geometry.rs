//! Where the regions of a volume go: reserved sectors, FATs, the FAT12/16 root directory and
//! the data area (fatgen103 §"FAT Data Structure", §"FAT Type Determination"), and the choice
//! of FAT type and cluster size for a volume size (mkfs.fat's defaults, see the module
//! documentation of [`crate::fat`]).

use crate::fat::{Error, FatOptions, FatType};

/// Bytes per sector; kit writes only 512-byte sectors.
pub(crate) const SECTOR_BYTES: u32 = 512;
/// Copies of the FAT.
pub(crate) const NUM_FATS: u32 = 2;
/// Root directory entries of a FAT12/16 volume unless the root needs more (mkfs.fat's default).
pub(crate) const DEFAULT_ROOT_ENTRIES: u32 = 512;
/// Most entries a FAT12/16 root directory can have: `BPB_RootEntCnt` is 16 bits and a
/// multiple of 16.
pub(crate) const MAX_ROOT_ENTRIES: u32 = 65_520;
/// Largest cluster size FAT drivers agree on (fatgen103: "must not exceed 32K").
pub(crate) const MAX_SECTORS_PER_CLUSTER: u32 = 64;
/// Volumes of at most this many sectors are not aligned to clusters (as mkfs.fat).
const ALIGN_MIN_SECTORS: u32 = 8192;

impl FatType {
    /// Bits per FAT entry as stored.
    pub(crate) fn bits(self) -> u64 {
        match self {
            FatType::Fat12 => 12,
            FatType::Fat16 => 16,
            FatType::Fat32 => 32,
        }
    }

    /// Cluster counts of this type that every driver detects alike: Microsoft's limits (4085,
    /// 65525) with mkfs.fat's margin around the FAT12/16 boundary, where Windows and Linux
    /// disagree by two clusters, and FAT32's 28-bit cluster numbers.
    pub(crate) fn cluster_range(self) -> (u32, u32) {
        match self {
            FatType::Fat12 => (1, 4_084),
            FatType::Fat16 => (4_087, 65_524),
            FatType::Fat32 => (65_525, 268_435_445),
        }
    }

    /// The end-of-chain marker written at the end of every chain (all ones).
    pub(crate) fn end_of_chain(self) -> u32 {
        match self {
            FatType::Fat12 => 0x0fff,
            FatType::Fat16 => 0xffff,
            FatType::Fat32 => 0x0fff_ffff,
        }
    }

    /// The least entry value that ends a chain when read.
    pub(crate) fn end_of_chain_min(self) -> u32 {
        match self {
            FatType::Fat12 => 0x0ff8,
            FatType::Fat16 => 0xfff8,
            FatType::Fat32 => 0x0fff_fff8,
        }
    }

    /// The entry value of a bad cluster.
    pub(crate) fn bad_cluster(self) -> u32 {
        self.end_of_chain_min() - 1
    }
}

/// The numbers of one volume's layout. Sector numbers count from the volume's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Geometry {
    /// FAT12, FAT16 or FAT32.
    pub(crate) fat_type: FatType,
    /// Sectors of the volume.
    pub(crate) total_sectors: u32,
    /// Sectors per cluster, a power of two from 1 to 64.
    pub(crate) sectors_per_cluster: u32,
    /// Sectors before the first FAT.
    pub(crate) reserved_sectors: u32,
    /// Entries of the FAT12/16 root directory (0 on FAT32).
    pub(crate) root_entries: u32,
    /// Sectors per FAT.
    pub(crate) fat_sectors: u32,
    /// Clusters of the data area, numbered from 2.
    pub(crate) data_clusters: u32,
    /// `BPB_SecPerTrk`.
    pub(crate) sectors_per_track: u16,
    /// `BPB_NumHeads`.
    pub(crate) heads: u16,
}

/// Why a FAT type and cluster size do not give a volume of a size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unfit {
    /// No room for one data cluster.
    NoRoom,
    /// A cluster count outside the type's range.
    Clusters(u64),
}

fn align_up(value: u64, align: u64) -> u64 {
    value.div_ceil(align) * align
}

impl Geometry {
    /// The layout of a volume of `total_sectors` as `fat_type` with `sectors_per_cluster`
    /// (1 to 64) and a root directory of at least `root_slots` entries (FAT12/16; at most
    /// [`MAX_ROOT_ENTRIES`]), if its cluster count is in the type's range.
    pub(crate) fn new(
        total_sectors: u32,
        fat_type: FatType,
        sectors_per_cluster: u32,
        root_slots: u32,
    ) -> Result<Geometry, Unfit> {
        let geometry =
            Geometry::unchecked(total_sectors, fat_type, sectors_per_cluster, root_slots)?;
        let clusters = geometry.data_clusters;
        let (min, max) = fat_type.cluster_range();
        if clusters < min || clusters > max {
            return Err(Unfit::Clusters(clusters.into()));
        }
        Ok(geometry)
    }

    /// [`Geometry::new`] without the check of the cluster count against the type's range
    /// (a count beyond 32 bits is reported as [`Unfit::Clusters`]).
    pub(crate) fn unchecked(
        total_sectors: u32,
        fat_type: FatType,
        sectors_per_cluster: u32,
        root_slots: u32,
    ) -> Result<Geometry, Unfit> {
        let total = u64::from(total_sectors);
        let spc = u64::from(sectors_per_cluster.max(1));
        let align = if total_sectors > ALIGN_MIN_SECTORS { spc } else { 1 };
        let fat32 = fat_type == FatType::Fat32;
        let reserved = align_up(if fat32 { 32 } else { 1 }, align);
        let (root_entries, root_sectors) = if fat32 {
            (0, 0)
        } else {
            let entries = u64::from(root_slots.max(DEFAULT_ROOT_ENTRIES)).next_multiple_of(16);
            let sectors = entries / 16;
            let aligned = align_up(sectors, align);
            if aligned * 16 <= u64::from(MAX_ROOT_ENTRIES) {
                (aligned * 16, aligned)
            } else {
                (entries, sectors)
            }
        };
        let avail = total.checked_sub(reserved + root_sectors).ok_or(Unfit::NoRoom)?;
        let bits = fat_type.bits();
        // The clusters left beside FATs of `fat` sectors, if such FATs can hold them all.
        let clusters_beside = |fat: u64| -> Option<u64> {
            let data = avail.checked_sub(u64::from(NUM_FATS) * fat)?;
            let clusters = data / spc;
            let needed =
                align_up(((clusters + 2) * bits).div_ceil(8 * u64::from(SECTOR_BYTES)), align);
            (needed <= fat).then_some(clusters)
        };
        // The smallest such FAT: a bigger FAT leaves fewer clusters, so once a size holds its
        // clusters every bigger one does too (until no data is left), and a binary search over
        // aligned sizes finds the first, starting from a FAT for all of `avail` as clusters.
        let fat_for_all =
            align_up(((avail / spc + 2) * bits).div_ceil(8 * u64::from(SECTOR_BYTES)), align);
        let (mut lo, mut hi) = (1, fat_for_all / align);
        if clusters_beside(hi * align).is_none() {
            return Err(Unfit::NoRoom);
        }
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if clusters_beside(mid * align).is_some() {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        let fat_sectors = hi * align;
        let clusters = clusters_beside(fat_sectors).ok_or(Unfit::NoRoom)?;
        if clusters == 0 {
            return Err(Unfit::NoRoom);
        }
        let (sectors_per_track, heads) = chs_geometry(total_sectors);
        // Every value but the cluster count is bounded by total_sectors.
        let narrow = |value: u64| u32::try_from(value).map_err(|_| Unfit::NoRoom);
        Ok(Geometry {
            fat_type,
            total_sectors,
            sectors_per_cluster: narrow(spc)?,
            reserved_sectors: narrow(reserved)?,
            root_entries: narrow(root_entries)?,
            fat_sectors: narrow(fat_sectors)?,
            data_clusters: u32::try_from(clusters).map_err(|_| Unfit::Clusters(clusters))?,
            sectors_per_track,
            heads,
        })
    }

    /// Bytes per cluster.
    pub(crate) fn cluster_bytes(&self) -> u64 {
        u64::from(self.sectors_per_cluster) * u64::from(SECTOR_BYTES)
    }

    /// First sector of the first FAT.
    pub(crate) fn fat_start_sector(&self) -> u64 {
        u64::from(self.reserved_sectors)
    }

    /// Sectors of the FAT12/16 root directory.
    pub(crate) fn root_sectors(&self) -> u64 {
        u64::from(self.root_entries) * 32 / u64::from(SECTOR_BYTES)
    }

    /// First sector of the FAT12/16 root directory (right after the FATs).
    pub(crate) fn root_start_sector(&self) -> u64 {
        self.fat_start_sector() + u64::from(NUM_FATS) * u64::from(self.fat_sectors)
    }

    /// First sector of cluster 2.
    pub(crate) fn data_start_sector(&self) -> u64 {
        self.root_start_sector() + self.root_sectors()
    }

    /// Bytes of the data area.
    pub(crate) fn data_bytes(&self) -> u64 {
        u64::from(self.data_clusters) * self.cluster_bytes()
    }
}

/// The INT 13h geometry mkfs.fat writes for a volume of `total_sectors` without a device
/// geometry: the SD card specification's table below 256 MiB, LBA-assist translation above.
fn chs_geometry(total_sectors: u32) -> (u16, u16) {
    let n = u64::from(total_sectors);
    if n <= 524_288 {
        let heads = match n {
            0..=32_768 => 2,
            32_769..=65_536 => 4,
            65_537..=262_144 => 8,
            _ => 16,
        };
        (if n <= 4_096 { 16 } else { 32 }, heads)
    } else {
        let heads = match n {
            _ if n <= 16 * 63 * 1024 => 16,
            _ if n <= 32 * 63 * 1024 => 32,
            _ if n <= 64 * 63 * 1024 => 64,
            _ if n <= 128 * 63 * 1024 => 128,
            _ => 255,
        };
        (63, heads)
    }
}

/// What the tree needs of a volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Needs {
    /// Entries of the root directory (label and long-name entries included).
    pub(crate) root_slots: u32,
    /// Clusters for everything but the root directory, for clusters of `512 << idx` bytes.
    pub(crate) clusters: [u64; 7],
}

impl Needs {
    /// Clusters needed with `sectors_per_cluster`, the FAT32 root chain included.
    pub(crate) fn clusters_for(&self, fat_type: FatType, sectors_per_cluster: u32) -> u64 {
        let idx = usize::try_from(sectors_per_cluster.max(1).trailing_zeros()).unwrap_or(0);
        let others = self.clusters.get(idx).copied().unwrap_or(u64::MAX);
        let root = if fat_type == FatType::Fat32 {
            let cluster_bytes = u64::from(sectors_per_cluster) * u64::from(SECTOR_BYTES);
            (u64::from(self.root_slots) * 32).div_ceil(cluster_bytes).max(1)
        } else {
            0
        };
        others.saturating_add(root)
    }
}

/// mkfs.fat's default sectors per cluster.
fn default_sectors_per_cluster(fat_type: FatType, total_sectors: u32) -> u32 {
    match fat_type {
        FatType::Fat32 => match total_sectors {
            n if n > 64 * 1024 * 1024 => 64,
            n if n > 32 * 1024 * 1024 => 32,
            n if n > 16 * 1024 * 1024 => 16,
            n if n > 260 * 1024 * 2 => 8,
            _ => 1,
        },
        FatType::Fat12 | FatType::Fat16 => 4,
    }
}

/// The sectors per cluster of [`FatOptions::cluster_size_bytes`], checked.
fn explicit_spc(options: &FatOptions) -> Result<Option<u32>, Error> {
    match options.cluster_size_bytes {
        Some(bytes) => {
            let valid = bytes.is_power_of_two() && (512..=32_768).contains(&bytes);
            if !valid {
                return Err(Error::ClusterSize { cluster_size_bytes: bytes });
            }
            Ok(Some(bytes / SECTOR_BYTES))
        }
        None => Ok(None),
    }
}

/// Cluster sizes to try: the default, smaller ones, then larger ones.
fn ladder(default: u32) -> Vec<u32> {
    let mut spcs = Vec::new();
    let mut spc = default;
    while spc >= 1 {
        spcs.push(spc);
        spc /= 2;
    }
    let mut spc = default * 2;
    while spc <= MAX_SECTORS_PER_CLUSTER {
        spcs.push(spc);
        spc *= 2;
    }
    spcs
}

/// The (type, sectors per cluster) pairs to try for a volume, in order of preference.
fn candidates(options: &FatOptions, total_sectors: u32) -> Result<Vec<(FatType, u32)>, Error> {
    let explicit_spc = explicit_spc(options)?;
    let spcs = |fat_type| match explicit_spc {
        Some(spc) => vec![spc],
        None => ladder(default_sectors_per_cluster(fat_type, total_sectors)),
    };
    let big = u64::from(total_sectors) * u64::from(SECTOR_BYTES) >= 512 * 1024 * 1024;
    let mut out = Vec::new();
    match options.fat_type {
        Some(fat_type) => out.extend(spcs(fat_type).into_iter().map(|spc| (fat_type, spc))),
        None if big => {
            out.extend(spcs(FatType::Fat32).into_iter().map(|spc| (FatType::Fat32, spc)))
        }
        None => {
            // FAT12 or FAT16, whichever has more clusters at each size (mkfs.fat), then FAT32
            // as a last resort.
            for spc in spcs(FatType::Fat16) {
                let count = |fat_type| match Geometry::new(total_sectors, fat_type, spc, 0) {
                    Ok(g) => u64::from(g.data_clusters),
                    Err(_) => 0,
                };
                if count(FatType::Fat16) > count(FatType::Fat12) {
                    out.extend([(FatType::Fat16, spc), (FatType::Fat12, spc)]);
                } else {
                    out.extend([(FatType::Fat12, spc), (FatType::Fat16, spc)]);
                }
            }
            out.extend(spcs(FatType::Fat32).into_iter().map(|spc| (FatType::Fat32, spc)));
        }
    }
    Ok(out)
}

/// Every (type, sectors per cluster) pair `options` allows at some size.
fn all_pairs(options: &FatOptions) -> Result<Vec<(FatType, u32)>, Error> {
    let types = match options.fat_type {
        Some(fat_type) => vec![fat_type],
        None => vec![FatType::Fat12, FatType::Fat16, FatType::Fat32],
    };
    let spcs = match explicit_spc(options)? {
        Some(spc) => vec![spc],
        None => ladder(1),
    };
    Ok(types.iter().flat_map(|t| spcs.iter().map(move |spc| (*t, *spc))).collect())
}

/// The smallest sector count for which [`choose`] finds a layout holding `needs`, if any.
///
/// For one (type, cluster size) pair the cluster count grows with the volume, so a binary
/// search finds the smallest volume with enough clusters for the tree and for the type; the
/// answer is the least of these over all pairs that [`choose`] accepts at that size.
pub(crate) fn smallest_sectors(options: &FatOptions, needs: &Needs) -> Result<Option<u32>, Error> {
    let mut best: Option<u32> = None;
    for (fat_type, spc) in all_pairs(options)? {
        if fat_type != FatType::Fat32 && needs.root_slots > MAX_ROOT_ENTRIES {
            continue;
        }
        let (min, _) = fat_type.cluster_range();
        let target = needs.clusters_for(fat_type, spc).max(u64::from(min));
        let enough =
            |sectors: u32| match Geometry::unchecked(sectors, fat_type, spc, needs.root_slots) {
                Ok(g) => u64::from(g.data_clusters) >= target,
                Err(Unfit::Clusters(_)) => true,
                Err(Unfit::NoRoom) => false,
            };
        let (mut lo, mut hi) = (1u32, u32::MAX);
        if !enough(hi) {
            continue;
        }
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if enough(mid) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        if best.is_some_and(|best| best <= hi) {
            continue;
        }
        if choose(hi, options, needs)?.is_ok() {
            best = Some(hi);
        }
    }
    Ok(best)
}

/// Why no candidate layout was chosen, for the error message.
#[derive(Debug, Clone, Copy)]
pub(crate) enum NoLayout {
    /// No candidate is a valid volume of this size.
    Invalid { fat_type: FatType, spc: u32, unfit: Unfit },
    /// Valid layouts exist but the tree does not fit the first one.
    TooSmall { first: Geometry },
}

/// The first candidate layout for `total_sectors` that is valid and holds `needs`.
pub(crate) fn choose(
    total_sectors: u32,
    options: &FatOptions,
    needs: &Needs,
) -> Result<Result<Geometry, NoLayout>, Error> {
    let mut first_valid = None;
    // The failure closest to a valid cluster count, for the message.
    let mut closest: Option<(u64, FatType, u32, Unfit)> = None;
    for (fat_type, spc) in candidates(options, total_sectors)? {
        if fat_type != FatType::Fat32 && needs.root_slots > MAX_ROOT_ENTRIES {
            continue;
        }
        match Geometry::new(total_sectors, fat_type, spc, needs.root_slots) {
            Ok(geometry) => {
                if needs.clusters_for(fat_type, spc) <= u64::from(geometry.data_clusters) {
                    return Ok(Ok(geometry));
                }
                first_valid.get_or_insert(geometry);
            }
            Err(unfit) => {
                let (min, max) = fat_type.cluster_range();
                let distance = match unfit {
                    Unfit::NoRoom => u64::MAX,
                    Unfit::Clusters(n) if n < u64::from(min) => u64::from(min) - n,
                    Unfit::Clusters(n) => n - u64::from(max),
                };
                if closest.is_none_or(|(best, ..)| distance < best) {
                    closest = Some((distance, fat_type, spc, unfit));
                }
            }
        }
    }
    Ok(Err(match (first_valid, closest) {
        (Some(first), _) => NoLayout::TooSmall { first },
        (None, Some((_, fat_type, spc, unfit))) => NoLayout::Invalid { fat_type, spc, unfit },
        // Only a FAT12/16 type was allowed and the root needs more than 65520 entries.
        (None, None) => NoLayout::Invalid {
            fat_type: options.fat_type.unwrap_or(FatType::Fat16),
            spc: 1,
            unfit: Unfit::NoRoom,
        },
    }))
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;
    use crate::fat::{VolumeId, VolumeLabel};

    fn options(fat_type: Option<FatType>, cluster: Option<u32>) -> FatOptions {
        FatOptions {
            size_bytes: None,
            fat_type,
            cluster_size_bytes: cluster,
            volume_id: VolumeId::Fixed(0),
            volume_label: VolumeLabel::NO_NAME,
            hidden_sectors: 0,
            epoch: 0,
            oem_name: *b"mkfs.fat",
        }
    }

    /// Chooses a layout for an empty tree of each size and shows it like fsck.fat -v does.
    fn check(fat_type: Option<FatType>, sizes_mib: &[u64], expect: Expect) {
        let needs = Needs { root_slots: 0, clusters: [0; 7] };
        let mut out = String::new();
        for mib in sizes_mib {
            let sectors = u32::try_from(mib * 2048).unwrap();
            let line = match choose(sectors, &options(fat_type, None), &needs).unwrap() {
                Ok(g) => format!(
                    "{:?} cluster={} reserved={} fat={} root={} data@{} clusters={} chs={}/{}",
                    g.fat_type,
                    g.cluster_bytes(),
                    g.reserved_sectors,
                    g.fat_sectors,
                    g.root_entries,
                    g.data_start_sector(),
                    g.data_clusters,
                    g.sectors_per_track,
                    g.heads
                ),
                Err(err) => format!("{err:?}"),
            };
            out.push_str(&format!("{mib} MiB: {line}\n"));
        }
        expect.assert_eq(&out);
    }

    #[test]
    fn automatic_choices_match_mkfs_fat() {
        // mkfs.fat -C --invariant IMG KiB gives, for 16 MiB: FAT16, 2048-byte clusters,
        // 4 reserved sectors, 32 sectors per FAT, 512 root entries, data at sector 100,
        // 8167 clusters, 32 sectors/track and 2 heads (see fat_tools.rs for the live check).
        check(
            None,
            &[1, 16, 64, 300, 600],
            expect![[r#"
                1 MiB: Fat12 cluster=2048 reserved=1 fat=2 root=512 data@37 clusters=502 chs=16/2
                16 MiB: Fat16 cluster=2048 reserved=4 fat=32 root=512 data@100 clusters=8167 chs=32/2
                64 MiB: Fat16 cluster=2048 reserved=4 fat=128 root=512 data@292 clusters=32695 chs=32/8
                300 MiB: Fat16 cluster=8192 reserved=16 fat=160 root=512 data@368 clusters=38377 chs=63/16
                600 MiB: Fat32 cluster=4096 reserved=32 fat=1200 root=0 data@2432 clusters=153296 chs=63/32
            "#]],
        );
    }

    #[test]
    fn fat32_below_512_mib_and_too_small() {
        check(
            Some(FatType::Fat32),
            &[32, 33, 64],
            expect![[r#"
                32 MiB: Invalid { fat_type: Fat32, spc: 1, unfit: Clusters(64496) }
                33 MiB: Fat32 cluster=512 reserved=32 fat=520 root=0 data@1072 clusters=66512 chs=32/8
                64 MiB: Fat32 cluster=512 reserved=32 fat=1009 root=0 data@2050 clusters=129022 chs=32/8
            "#]],
        );
    }
}

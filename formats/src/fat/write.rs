//! Emitting a [`Layout`] as an [`ExtentMap`], in volume order: boot sector (FSInfo, backups),
//! FATs, the FAT12/16 root directory, then every cluster in allocation order (directories as
//! bytes, files as content extents), then zeros to the end.

use std::sync::Arc;

use crate::extent::ExtentMap;
use crate::fat::boot_sector::{BootSector, EXTENDED_BOOT_SIG, ExtendedBpb, Fat32Bpb, SIGNATURE};
use crate::fat::dir_entry::{DirEntry, attr};
use crate::fat::fsinfo::{FsInfo, UNKNOWN};
use crate::fat::geometry::{Geometry, NUM_FATS, SECTOR_BYTES};
use crate::fat::lfn_entry::LfnEntry;
use crate::fat::plan::{Layout, PlanDir, PlanKind};
use crate::fat::short_name::ShortName;
use crate::fat::time::FatTime;
use crate::fat::{FatOptions, FatType};

/// Media descriptor of fixed disks, `BPB_Media` and the low byte of FAT entry 0.
pub(crate) const MEDIA: u8 = 0xf8;
/// Sector of the FAT32 FSInfo.
const FSINFO_SECTOR: u16 = 1;
/// Sector of the FAT32 backup boot sector (its FSInfo copy follows it).
const BACKUP_BOOT_SECTOR: u16 = 6;

/// The whole volume as extents.
pub(crate) fn extents(layout: &Layout<'_>, options: &FatOptions) -> ExtentMap {
    let g = &layout.geometry;
    let sector = u64::from(SECTOR_BYTES);
    let mut map = ExtentMap::new();
    let boot = boot_sector(g, options, layout.volume_id);
    let mut boot_bytes = [0u8; BootSector::SIZE];
    boot.encode(&mut boot_bytes);
    map.push_literal(boot_bytes.to_vec());
    if g.fat_type == FatType::Fat32 {
        let used = layout.used_clusters();
        let free = g.data_clusters - used;
        // The first cluster after the allocated ones, if any is left.
        let next = if free > 0 { used + 2 } else { UNKNOWN };
        let mut info = [0u8; FsInfo::SIZE];
        FsInfo::new(free, next).encode(&mut info);
        let info: Arc<[u8]> = Arc::from(&info[..]);
        map.push_literal(info.clone());
        pad_to_offset(&mut map, u64::from(BACKUP_BOOT_SECTOR) * sector);
        map.push_literal(boot_bytes.to_vec());
        map.push_literal(info);
    }
    pad_to_offset(&mut map, g.fat_start_sector() * sector);
    let fat: Arc<[u8]> = fat_bytes(g.fat_type, &layout.chains).into();
    let fat_bytes_total = u64::from(g.fat_sectors) * sector;
    for _ in 0..NUM_FATS {
        map.push_literal(fat.clone());
        map.push_zeros(fat_bytes_total.saturating_sub(map_len(&fat)));
    }
    let epoch = FatTime::from_unix(options.epoch);
    let label = (options.volume_label != crate::fat::VolumeLabel::NO_NAME)
        .then_some(*options.volume_label.as_bytes());
    let cluster_bytes = g.cluster_bytes();
    let root_bytes = dir_bytes(&layout.root, None, label, epoch);
    // Both pads are no-ops: the FATs end where the root directory starts, and it ends where
    // the data area starts.
    pad_to_offset(&mut map, g.root_start_sector() * sector);
    if g.fat_type == FatType::Fat32 {
        pad_to_offset(&mut map, g.data_start_sector() * sector);
        push_padded(&mut map, root_bytes, u64::from(layout.root_chain.1) * cluster_bytes);
    } else {
        push_padded(&mut map, root_bytes, g.root_sectors() * sector);
        pad_to_offset(&mut map, g.data_start_sector() * sector);
    }
    emit_dir(&mut map, &layout.root, 0, cluster_bytes, epoch);
    pad_to_offset(&mut map, u64::from(g.total_sectors) * sector);
    map
}

fn map_len(bytes: &[u8]) -> u64 {
    u64::try_from(bytes.len()).unwrap_or(u64::MAX)
}

/// Appends zeros up to `offset` (nothing if the map is already there).
fn pad_to_offset(map: &mut ExtentMap, offset: u64) {
    map.push_zeros(offset.saturating_sub(map.len_bytes()));
}

/// Appends `bytes`, then zeros up to `total` bytes.
fn push_padded(map: &mut ExtentMap, bytes: Vec<u8>, total: u64) {
    let len = map_len(&bytes);
    map.push_literal(bytes);
    map.push_zeros(total.saturating_sub(len));
}

/// The clusters of `dir`'s entries and of their subtrees, in allocation order. `own_cluster`
/// is `dir`'s first cluster, 0 for the root (what `..` of its subdirectories holds).
fn emit_dir(
    map: &mut ExtentMap,
    dir: &PlanDir<'_>,
    own_cluster: u32,
    cluster_bytes: u64,
    epoch: FatTime,
) {
    for entry in &dir.entries {
        let total = u64::from(entry.n_clusters) * cluster_bytes;
        match &entry.kind {
            PlanKind::Dir(sub) => {
                let bytes = dir_bytes(sub, Some((entry.first_cluster, own_cluster)), None, epoch);
                push_padded(map, bytes, total);
                emit_dir(map, sub, entry.first_cluster, cluster_bytes, epoch);
            }
            PlanKind::File { path, content } => {
                map.push_content(path, (*content).clone());
                map.push_zeros(total.saturating_sub(content.len()));
            }
        }
    }
}

/// The entries of a directory: `.` and `..` (`dots` = own and parent cluster) or the label
/// entry, then each entry's long-name entries and short entry.
fn dir_bytes(
    dir: &PlanDir<'_>,
    dots: Option<(u32, u32)>,
    label: Option<[u8; 11]>,
    epoch: FatTime,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(usize::try_from(dir.n_slots * 32).unwrap_or(0));
    let mut push = |bytes: [u8; 32]| out.extend_from_slice(&bytes);
    let short = |entry: DirEntry| {
        let mut bytes = [0u8; DirEntry::SIZE];
        entry.encode(&mut bytes);
        bytes
    };
    if let Some((own, parent)) = dots {
        let modified = FatTime::from_unix(dir.mtime);
        push(short(DirEntry::new(ShortName::DOT.0, attr::DIRECTORY, own, 0, modified, epoch)));
        push(short(DirEntry::new(
            ShortName::DOT_DOT.0,
            attr::DIRECTORY,
            parent,
            0,
            modified,
            epoch,
        )));
    }
    if let Some(label) = label {
        push(short(DirEntry::new(label, attr::VOLUME_ID, 0, 0, epoch, epoch)));
    }
    for entry in &dir.entries {
        if entry.needs_long {
            for lfn in LfnEntry::for_name(&entry.long_name, entry.short.checksum()) {
                let mut bytes = [0u8; LfnEntry::SIZE];
                lfn.encode(&mut bytes);
                push(bytes);
            }
        }
        let (attributes, size) = match &entry.kind {
            PlanKind::Dir(_) => (attr::DIRECTORY, 0),
            PlanKind::File { content, .. } => {
                let read_only = if entry.read_only { attr::READ_ONLY } else { 0 };
                // Sizes were checked against 4 GiB - 1 in the plan.
                (attr::ARCHIVE | read_only, u32::try_from(content.len()).unwrap_or(u32::MAX))
            }
        };
        let modified = FatTime::from_unix(entry.mtime);
        push(short(DirEntry::new(
            entry.short.0,
            attributes,
            entry.first_cluster,
            size,
            modified,
            epoch,
        )));
    }
    out
}

/// The used part of one FAT, up to the last allocated cluster, padded to whole sectors.
fn fat_bytes(fat_type: FatType, chains: &[(u32, u32)]) -> Vec<u8> {
    let last = chains.last().map_or(1, |(first, n)| first + n - 1);
    let n_entries = usize::try_from(last).unwrap_or(0) + 1;
    let mut entries = vec![0u32; n_entries];
    let end = fat_type.end_of_chain();
    // Entry 0: the media byte with all other bits set; entry 1: end of chain, whose top bits
    // (FAT16 bit 15, FAT32 bit 27: volume clean; next: no disk error) are set too.
    entries[0] = (end & !0xff) | u32::from(MEDIA);
    entries[1] = end;
    for &(first, n) in chains {
        for cluster in first..first + n {
            let next = if cluster + 1 < first + n { cluster + 1 } else { end };
            if let Some(slot) = usize::try_from(cluster).ok().and_then(|c| entries.get_mut(c)) {
                *slot = next;
            }
        }
    }
    let mut out = Vec::new();
    match fat_type {
        FatType::Fat12 => {
            for pair in entries.chunks(2) {
                let a = pair[0];
                let b = pair.get(1).copied().unwrap_or(0);
                // Two 12-bit entries in three bytes: a's low byte, a's high nibble with b's low
                // nibble, b's high byte.
                let packed = (a & 0xfff) | ((b & 0xfff) << 12);
                out.extend_from_slice(&packed.to_le_bytes()[..3]);
            }
            if n_entries % 2 == 1 {
                // The last "pair" had only one entry: its second nibble-and-byte is unused.
                out.pop();
            }
        }
        FatType::Fat16 => {
            for entry in entries {
                out.extend_from_slice(&u16::try_from(entry & 0xffff).unwrap_or(0).to_le_bytes());
            }
        }
        FatType::Fat32 => {
            for entry in entries {
                out.extend_from_slice(&entry.to_le_bytes());
            }
        }
    }
    let sector = usize::try_from(SECTOR_BYTES).unwrap_or(512);
    out.resize(out.len().next_multiple_of(sector), 0);
    out
}

/// The boot sector of the layout.
fn boot_sector(g: &Geometry, options: &FatOptions, volume_id: u32) -> BootSector {
    let fat32 = g.fat_type == FatType::Fat32;
    // Every field is within its type's range by construction of the geometry; the fallbacks
    // are never taken.
    let small_total = u16::try_from(g.total_sectors).ok().filter(|_| !fat32);
    BootSector {
        jmp_boot: BootSector::jump_for(fat32),
        oem_name: options.oem_name,
        byts_per_sec: u16::try_from(SECTOR_BYTES).unwrap_or(512),
        sec_per_clus: u8::try_from(g.sectors_per_cluster).unwrap_or(1),
        rsvd_sec_cnt: u16::try_from(g.reserved_sectors).unwrap_or(1),
        num_fats: u8::try_from(NUM_FATS).unwrap_or(2),
        root_ent_cnt: u16::try_from(g.root_entries).unwrap_or(0),
        tot_sec16: small_total.unwrap_or(0),
        media: MEDIA,
        fat_sz16_sectors: if fat32 { 0 } else { u16::try_from(g.fat_sectors).unwrap_or(0) },
        sec_per_trk: g.sectors_per_track,
        num_heads: g.heads,
        hidd_sec: options.hidden_sectors,
        tot_sec32: if small_total.is_some() { 0 } else { g.total_sectors },
        fat32: fat32.then_some(Fat32Bpb {
            fat_sz32_sectors: g.fat_sectors,
            ext_flags: 0,
            fs_ver: 0,
            root_clus: 2,
            fs_info_sector: FSINFO_SECTOR,
            bk_boot_sector: BACKUP_BOOT_SECTOR,
        }),
        ext: ExtendedBpb {
            drive_number: 0x80,
            reserved1: 0,
            boot_sig: EXTENDED_BOOT_SIG,
            vol_id: volume_id,
            vol_lab: *options.volume_label.as_bytes(),
            fil_sys_type: match g.fat_type {
                FatType::Fat12 => *b"FAT12   ",
                FatType::Fat16 => *b"FAT16   ",
                FatType::Fat32 => *b"FAT32   ",
            },
        },
        signature: SIGNATURE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fat12_packs_two_entries_in_three_bytes() {
        // Entries: 0xff8, 0xfff, 2 -> 3, 3 -> eoc, 4 -> eoc.
        let bytes = fat_bytes(FatType::Fat12, &[(2, 2), (4, 1)]);
        assert_eq!(bytes.len(), 512);
        assert_eq!(bytes[..8], [0xf8, 0xff, 0xff, 0x03, 0xf0, 0xff, 0xff, 0x0f]);
        assert!(bytes[8..].iter().all(|b| *b == 0));
    }

    #[test]
    fn fat16_and_fat32_entries() {
        let bytes = fat_bytes(FatType::Fat16, &[(2, 3)]);
        assert_eq!(bytes[..10], [0xf8, 0xff, 0xff, 0xff, 3, 0, 4, 0, 0xff, 0xff]);
        let bytes = fat_bytes(FatType::Fat32, &[(2, 1), (3, 2)]);
        assert_eq!(
            bytes[..20],
            [
                0xf8, 0xff, 0xff, 0x0f, 0xff, 0xff, 0xff, 0x0f, 0xff, 0xff, 0xff, 0x0f, 4, 0, 0, 0,
                0xff, 0xff, 0xff, 0x0f
            ]
        );
    }
}

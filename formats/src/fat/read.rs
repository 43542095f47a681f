//! Reading a FAT12/16/32 volume into a tree, and describing its header.
//!
//! The input is untrusted: every region is checked against the input's length before it is
//! read, allocations are bounded by that length, and each cluster may belong to one chain only,
//! which bounds the work and rules out loops.

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Arc;

use crate::dump::{display_path, escape};
use crate::extract::TreeBuilder;
use crate::fat::boot_sector::BootSector;
use crate::fat::dir_entry::{DELETED, DirEntry, END_OF_DIR, KANJI_E5, attr, case};
use crate::fat::fsinfo::FsInfo;
use crate::fat::lfn_entry::{LfnEntry, UNITS_PER_ENTRY};
use crate::fat::short_name::ShortName;
use crate::fat::{Error, FatType};
use crate::tree::{Content, Dir, Meta, Node, NodeKind, Tree};

/// A reader that can seek; what [`read`] and [`summary`] take as a trait object.
pub(crate) trait ReadSeek: Read + Seek {}

impl<T: Read + Seek + ?Sized> ReadSeek for T {}

/// An open volume: its boot sector, derived layout and first FAT.
struct Volume<'a> {
    input: &'a mut dyn ReadSeek,
    len: u64,
    boot: BootSector,
    fat_type: FatType,
    /// Byte offset of the first FAT.
    fat_start: u64,
    /// Byte offset and length of the FAT12/16 root directory.
    root_region: (u64, u64),
    /// Byte offset of cluster 2.
    data_start: u64,
    cluster_bytes: u64,
    data_clusters: u32,
    /// FAT entries 0 to `data_clusters + 1`.
    fat: Vec<u32>,
    /// Clusters already claimed by a chain.
    owned: Vec<bool>,
}

/// One used entry of a directory.
struct RawChild {
    name: Vec<u8>,
    entry: DirEntry,
}

fn layout_error(problem: &'static str, value: u64) -> Error {
    Error::Layout { problem, value }
}

impl<'a> Volume<'a> {
    fn open(input: &'a mut dyn ReadSeek) -> Result<Volume<'a>, Error> {
        let len = input
            .seek(SeekFrom::End(0))
            .map_err(|source| Error::ReadInput { offset: 0, source })?;
        let mut sector = [0u8; BootSector::SIZE];
        read_at(input, len, 0, &mut sector, "the boot sector")?;
        let boot = BootSector::decode(&sector)?;
        let bytes_per_sector = u64::from(boot.byts_per_sec);
        let spc = u64::from(boot.sec_per_clus);
        let total = u64::from(boot.total_sectors());
        let fat_sectors = u64::from(boot.fat_sectors());
        let root_entries = u64::from(boot.root_ent_cnt);
        let root_sectors = (root_entries * 32).div_ceil(bytes_per_sector);
        let reserved = u64::from(boot.rsvd_sec_cnt);
        let data_start_sector = reserved + u64::from(boot.num_fats) * fat_sectors + root_sectors;
        let data_sectors =
            total.checked_sub(data_start_sector).filter(|n| *n >= spc).ok_or_else(|| {
                layout_error(
                    "no data cluster after the FATs and root directory; total sectors",
                    total,
                )
            })?;
        let clusters = data_sectors / spc;
        let fat_type = match boot.fat32 {
            Some(_) => FatType::Fat32,
            None if clusters < 4_085 => FatType::Fat12,
            None if clusters < 65_525 => FatType::Fat16,
            None => {
                return Err(layout_error(
                    "too many clusters for FAT12/16 (BPB_FATSz16 is not 0)",
                    clusters,
                ));
            }
        };
        let max_clusters = u64::from(FatType::Fat32.cluster_range().1);
        let data_clusters = u32::try_from(clusters)
            .ok()
            .filter(|n| u64::from(*n) <= max_clusters)
            .ok_or_else(|| layout_error("more clusters than FAT32 can number", clusters))?;
        let fat_capacity = fat_sectors * bytes_per_sector * 8 / fat_type.bits();
        if fat_capacity < clusters + 2 {
            return Err(layout_error("FAT too small for the clusters; FAT entries", fat_capacity));
        }
        let fat_start = reserved * bytes_per_sector;
        let fat_len = ((clusters + 2) * fat_type.bits()).div_ceil(8);
        check_range(len, fat_start, fat_len, "the FAT")?;
        let mut raw = vec![0u8; usize::try_from(fat_len).unwrap_or(0)];
        read_at(input, len, fat_start, &mut raw, "the FAT")?;
        let fat = decode_fat(fat_type, &raw, data_clusters);
        let root_start = fat_start + u64::from(boot.num_fats) * fat_sectors * bytes_per_sector;
        Ok(Volume {
            input,
            len,
            boot,
            fat_type,
            fat_start,
            root_region: (root_start, root_entries * 32),
            data_start: data_start_sector * bytes_per_sector,
            cluster_bytes: spc * bytes_per_sector,
            data_clusters,
            fat,
            owned: vec![false; usize::try_from(clusters + 2).unwrap_or(0)],
        })
    }

    /// Follows the chain starting at `first` and claims its clusters.
    fn chain(&mut self, first: u32, path: &[u8]) -> Result<Vec<u32>, Error> {
        let max = self.data_clusters + 1;
        let mut clusters = Vec::new();
        let mut cluster = first;
        loop {
            let idx = usize::try_from(cluster).unwrap_or(usize::MAX);
            if cluster < 2 || cluster > max {
                return Err(Error::ChainOutOfRange {
                    path: display_path(path),
                    cluster: cluster.into(),
                    max: max.into(),
                });
            }
            let Some(owned) = self.owned.get_mut(idx) else {
                return Err(Error::ChainOutOfRange {
                    path: display_path(path),
                    cluster: cluster.into(),
                    max: max.into(),
                });
            };
            if *owned {
                return Err(Error::ChainShared {
                    path: display_path(path),
                    cluster: cluster.into(),
                });
            }
            *owned = true;
            clusters.push(cluster);
            let next = self.fat.get(idx).copied().unwrap_or(0);
            if next >= self.fat_type.end_of_chain_min() {
                return Ok(clusters);
            }
            let mark = match next {
                0 => Some("free"),
                n if n == self.fat_type.bad_cluster() => Some("bad"),
                _ => None,
            };
            if let Some(mark) = mark {
                return Err(Error::ChainMarked {
                    path: display_path(path),
                    cluster: cluster.into(),
                    mark,
                });
            }
            cluster = next;
        }
    }

    /// Reads `len` bytes (at most the chain's) of the clusters, one run of consecutive
    /// clusters at a time.
    fn read_clusters(&mut self, clusters: &[u32], len: u64) -> Result<Vec<u8>, Error> {
        let capacity = usize::try_from(len.min(self.len)).unwrap_or(0);
        let mut out = Vec::with_capacity(capacity);
        let mut idx = 0;
        while idx < clusters.len() && u64::try_from(out.len()).unwrap_or(u64::MAX) < len {
            let start = clusters[idx];
            let mut run = 1;
            while idx + run < clusters.len()
                && u64::from(clusters[idx + run])
                    == u64::from(start) + u64::try_from(run).unwrap_or(0)
            {
                run += 1;
            }
            let remaining = len - u64::try_from(out.len()).unwrap_or(0);
            let run_bytes = (u64::try_from(run).unwrap_or(0) * self.cluster_bytes).min(remaining);
            let offset = self.data_start + (u64::from(start) - 2) * self.cluster_bytes;
            check_range(self.len, offset, run_bytes, "a cluster")?;
            let at = out.len();
            out.resize(at + usize::try_from(run_bytes).unwrap_or(0), 0);
            read_at(self.input, self.len, offset, &mut out[at..], "a cluster")?;
            idx += run;
        }
        Ok(out)
    }

    /// The bytes of the root directory.
    fn root_dir(&mut self) -> Result<Vec<u8>, Error> {
        match self.boot.fat32 {
            Some(f) => {
                let clusters = self.chain(f.root_clus, b"")?;
                let len = u64::try_from(clusters.len()).unwrap_or(0) * self.cluster_bytes;
                self.read_clusters(&clusters, len)
            }
            None => {
                let (offset, len) = self.root_region;
                check_range(self.len, offset, len, "the root directory")?;
                let mut bytes = vec![0u8; usize::try_from(len).unwrap_or(0)];
                read_at(self.input, self.len, offset, &mut bytes, "the root directory")?;
                Ok(bytes)
            }
        }
    }
}

fn check_range(len: u64, offset: u64, bytes: u64, what: &'static str) -> Result<(), Error> {
    match offset.checked_add(bytes) {
        Some(end) if end <= len => Ok(()),
        _ => Err(Error::Truncated { what, offset, bytes, len }),
    }
}

fn read_at(
    input: &mut dyn ReadSeek,
    len: u64,
    offset: u64,
    buf: &mut [u8],
    what: &'static str,
) -> Result<(), Error> {
    let bytes = u64::try_from(buf.len()).unwrap_or(u64::MAX);
    check_range(len, offset, bytes, what)?;
    input.seek(SeekFrom::Start(offset)).map_err(|source| Error::ReadInput { offset, source })?;
    input.read_exact(buf).map_err(|source| match source.kind() {
        io::ErrorKind::UnexpectedEof => Error::Truncated { what, offset, bytes, len },
        _ => Error::ReadInput { offset, source },
    })
}

/// FAT entries 0 to `data_clusters + 1` from the FAT's bytes (long enough, checked by the
/// caller); FAT32 entries lose their reserved top 4 bits.
fn decode_fat(fat_type: FatType, raw: &[u8], data_clusters: u32) -> Vec<u32> {
    let n = usize::try_from(data_clusters).unwrap_or(0) + 2;
    let byte = |at: usize| u32::from(raw.get(at).copied().unwrap_or(0));
    (0..n)
        .map(|idx| match fat_type {
            FatType::Fat12 => {
                let at = idx + idx / 2;
                let pair = byte(at) | (byte(at + 1) << 8);
                if idx % 2 == 0 { pair & 0x0fff } else { pair >> 4 }
            }
            FatType::Fat16 => byte(2 * idx) | (byte(2 * idx + 1) << 8),
            FatType::Fat32 => {
                let at = 4 * idx;
                (byte(at) | (byte(at + 1) << 8) | (byte(at + 2) << 16) | (byte(at + 3) << 24))
                    & 0x0fff_ffff
            }
        })
        .collect()
}

/// A long name being collected from its entries (last part first).
struct LongName {
    /// Parts by ordinal - 1.
    parts: Vec<[u16; UNITS_PER_ENTRY]>,
    /// The ordinal expected next (counting down to 1); 0 once complete.
    expected: u8,
    chksum: u8,
}

/// The used entries of a directory's bytes, with their names, and the volume label entry.
fn parse_dir(bytes: &[u8], dir: &[u8]) -> Result<(Vec<RawChild>, Option<[u8; 11]>), Error> {
    let mut children = Vec::new();
    let mut label = None;
    let mut long: Option<LongName> = None;
    for (index, slot) in bytes.chunks_exact(DirEntry::SIZE).enumerate() {
        let Ok(slot) = <&[u8; DirEntry::SIZE]>::try_from(slot) else { break };
        match slot[0] {
            END_OF_DIR => break,
            DELETED => {
                long = None;
                continue;
            }
            _ => {}
        }
        if slot[11] & 0x3f == attr::LONG_NAME {
            let entry = LfnEntry::decode(slot);
            let ord = entry.ord & !LfnEntry::LAST;
            let is_last = entry.ord & LfnEntry::LAST != 0;
            if is_last && (1..=20).contains(&ord) {
                let mut parts = vec![[0xffff; UNITS_PER_ENTRY]; usize::from(ord)];
                parts[usize::from(ord) - 1] = entry.units();
                long = Some(LongName { parts, expected: ord - 1, chksum: entry.chksum });
            } else {
                long = match long.take() {
                    Some(mut name)
                        if !is_last
                            && ord >= 1
                            && ord == name.expected
                            && entry.chksum == name.chksum =>
                    {
                        name.parts[usize::from(ord) - 1] = entry.units();
                        name.expected = ord - 1;
                        Some(name)
                    }
                    // Orphaned or out-of-order parts are ignored, as Linux does.
                    _ => None,
                };
            }
            continue;
        }
        let entry = DirEntry::decode(slot);
        let long_name = long
            .take()
            .filter(|name| name.expected == 0 && name.chksum == ShortName(entry.name).checksum());
        if entry.attr & attr::VOLUME_ID != 0 {
            if entry.attr & attr::DIRECTORY == 0 && label.is_none() {
                label = Some(entry.name);
            }
            continue;
        }
        if entry.name == ShortName::DOT.0 || entry.name == ShortName::DOT_DOT.0 {
            continue;
        }
        let name = match long_name {
            Some(long_name) => {
                let units: Vec<u16> = long_name
                    .parts
                    .iter()
                    .flatten()
                    .copied()
                    .take_while(|unit| *unit != 0)
                    .collect();
                let text = String::from_utf16(&units)
                    .map_err(|_| Error::BadLongName { dir: display_path(dir), index })?;
                text.into_bytes()
            }
            None => short_name_bytes(&entry),
        };
        let valid = !name.is_empty()
            && name != b"."
            && name != b".."
            && !name.contains(&b'/')
            && !name.contains(&0);
        if !valid {
            return Err(Error::BadName { dir: display_path(dir), index, name: escape(&name) });
        }
        children.push(RawChild { name, entry });
    }
    Ok((children, label))
}

/// The upper half of code page 850, the OEM code page mtools and mkfs.fat use by default,
/// for short names that carry bytes above 0x7f.
const CP850_HIGH: [char; 128] = [
    '\u{00c7}', '\u{00fc}', '\u{00e9}', '\u{00e2}', '\u{00e4}', '\u{00e0}', '\u{00e5}', '\u{00e7}',
    '\u{00ea}', '\u{00eb}', '\u{00e8}', '\u{00ef}', '\u{00ee}', '\u{00ec}', '\u{00c4}', '\u{00c5}',
    '\u{00c9}', '\u{00e6}', '\u{00c6}', '\u{00f4}', '\u{00f6}', '\u{00f2}', '\u{00fb}', '\u{00f9}',
    '\u{00ff}', '\u{00d6}', '\u{00dc}', '\u{00f8}', '\u{00a3}', '\u{00d8}', '\u{00d7}', '\u{0192}',
    '\u{00e1}', '\u{00ed}', '\u{00f3}', '\u{00fa}', '\u{00f1}', '\u{00d1}', '\u{00aa}', '\u{00ba}',
    '\u{00bf}', '\u{00ae}', '\u{00ac}', '\u{00bd}', '\u{00bc}', '\u{00a1}', '\u{00ab}', '\u{00bb}',
    '\u{2591}', '\u{2592}', '\u{2593}', '\u{2502}', '\u{2524}', '\u{00c1}', '\u{00c2}', '\u{00c0}',
    '\u{00a9}', '\u{2563}', '\u{2551}', '\u{2557}', '\u{255d}', '\u{00a2}', '\u{00a5}', '\u{2510}',
    '\u{2514}', '\u{2534}', '\u{252c}', '\u{251c}', '\u{2500}', '\u{253c}', '\u{00e3}', '\u{00c3}',
    '\u{255a}', '\u{2554}', '\u{2569}', '\u{2566}', '\u{2560}', '\u{2550}', '\u{256c}', '\u{00a4}',
    '\u{00f0}', '\u{00d0}', '\u{00ca}', '\u{00cb}', '\u{00c8}', '\u{0131}', '\u{00cd}', '\u{00ce}',
    '\u{00cf}', '\u{2518}', '\u{250c}', '\u{2588}', '\u{2584}', '\u{00a6}', '\u{00cc}', '\u{2580}',
    '\u{00d3}', '\u{00df}', '\u{00d4}', '\u{00d2}', '\u{00f5}', '\u{00d5}', '\u{00b5}', '\u{00fe}',
    '\u{00de}', '\u{00da}', '\u{00db}', '\u{00d9}', '\u{00fd}', '\u{00dd}', '\u{00af}', '\u{00b4}',
    '\u{00ad}', '\u{00b1}', '\u{2017}', '\u{00be}', '\u{00b6}', '\u{00a7}', '\u{00f7}', '\u{00b8}',
    '\u{00b0}', '\u{00a8}', '\u{00b7}', '\u{00b9}', '\u{00b3}', '\u{00b2}', '\u{25a0}', '\u{00a0}',
];

/// The 8.3 name of `entry` as `NAME.EXT` in UTF-8: a leading 0x05 turned back into 0xe5,
/// bytes above 0x7f decoded as code page 850, and the lower-case flags applied to the name
/// and the extension (to every letter, as Linux does).
fn short_name_bytes(entry: &DirEntry) -> Vec<u8> {
    let mut field = entry.name;
    if field[0] == KANJI_E5 {
        field[0] = DELETED;
    }
    let decode = |bytes: &[u8], lower: bool| -> String {
        let text: String = bytes
            .iter()
            .map(|byte| match byte.checked_sub(0x80) {
                Some(high) => CP850_HIGH[usize::from(high)],
                None => char::from(*byte),
            })
            .collect();
        let text = text.trim_end_matches(' ');
        if lower { text.to_lowercase() } else { text.to_owned() }
    };
    let base = decode(&field[..8], entry.nt_res & case::LOWER_BASE != 0);
    let ext = decode(&field[8..], entry.nt_res & case::LOWER_EXT != 0);
    let mut name = base.into_bytes();
    if !ext.is_empty() {
        name.push(b'.');
        name.extend_from_slice(ext.as_bytes());
    }
    name
}

pub(crate) fn read(input: &mut dyn ReadSeek) -> Result<Tree, Error> {
    let mut volume = Volume::open(input)?;
    let mut builder = TreeBuilder::new();
    let root = volume.root_dir()?;
    let (children, _) = parse_dir(&root, b"")?;
    // Depth first in directory order (what `Tree::walk` does), with an explicit stack so that
    // deep trees cannot exhaust the call stack: each frame is a directory's path and its
    // remaining entries.
    let mut stack: Vec<(Vec<u8>, std::vec::IntoIter<RawChild>)> =
        vec![(Vec::new(), children.into_iter())];
    while let Some((dir_path, entries)) = stack.last_mut() {
        let Some(child) = entries.next() else {
            stack.pop();
            continue;
        };
        let mut path = dir_path.clone();
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(&child.name);
        let entry = &child.entry;
        let mtime = entry.modified().to_unix();
        let first = entry.first_cluster();
        if entry.attr & attr::DIRECTORY != 0 {
            if first == 0 {
                return Err(Error::DirectoryAtZero { path: display_path(&path) });
            }
            let clusters = volume.chain(first, &path)?;
            let len = u64::try_from(clusters.len()).unwrap_or(0) * volume.cluster_bytes;
            let bytes = volume.read_clusters(&clusters, len)?;
            let (children, _) = parse_dir(&bytes, &path)?;
            let node = Node::new(NodeKind::Dir(Dir::new()), Meta::new(0o755, mtime));
            builder.insert(&path, node)?;
            stack.push((path, children.into_iter()));
        } else {
            let size = u64::from(entry.file_size_bytes);
            let clusters = if first == 0 { Vec::new() } else { volume.chain(first, &path)? };
            let chain_bytes = u64::try_from(clusters.len()).unwrap_or(0) * volume.cluster_bytes;
            if chain_bytes < size {
                return Err(Error::ChainShort { path: display_path(&path), size, chain_bytes });
            }
            let data = volume.read_clusters(&clusters, size)?;
            let mode = if entry.attr & attr::READ_ONLY != 0 { 0o444 } else { 0o644 };
            let kind = NodeKind::File(Content::Inline(Arc::from(data)));
            builder.insert(&path, Node::new(kind, Meta::new(mode, mtime)))?;
        }
    }
    Ok(builder.finish())
}

pub(crate) fn summary(input: &mut dyn ReadSeek) -> Result<Vec<(String, String)>, Error> {
    let mut volume = Volume::open(input)?;
    let boot = volume.boot;
    let mut lines: Vec<(String, String)> = Vec::new();
    let mut add = |key: &str, value: String| lines.push((key.to_owned(), value));
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).trim_end().to_owned();
    add("type", volume.fat_type.to_string());
    add("oem_name", text(&boot.oem_name));
    let id = boot.ext.vol_id;
    add("volume_id", format!("{:04X}-{:04X}", id >> 16, id & 0xffff));
    add("volume_label", text(&boot.ext.vol_lab));
    add("bytes_per_sector", boot.byts_per_sec.to_string());
    add("cluster_bytes", volume.cluster_bytes.to_string());
    add("reserved_sectors", boot.rsvd_sec_cnt.to_string());
    add("fats", boot.num_fats.to_string());
    add("fat_sectors", boot.fat_sectors().to_string());
    add("fat_start_byte", volume.fat_start.to_string());
    match boot.fat32 {
        Some(f) => add("root_cluster", f.root_clus.to_string()),
        None => add("root_entries", boot.root_ent_cnt.to_string()),
    }
    add("data_start_byte", volume.data_start.to_string());
    add("total_sectors", boot.total_sectors().to_string());
    add("hidden_sectors", boot.hidd_sec.to_string());
    add("media", format!("0x{:02x}", boot.media));
    add("data_clusters", volume.data_clusters.to_string());
    let free = volume.fat.iter().skip(2).filter(|entry| **entry == 0).count();
    add("free_clusters", free.to_string());
    if let Some(f) = boot.fat32 {
        add("backup_boot_sector", f.bk_boot_sector.to_string());
        let offset = u64::from(f.fs_info_sector) * u64::from(boot.byts_per_sec);
        let mut sector = [0u8; FsInfo::SIZE];
        read_at(volume.input, volume.len, offset, &mut sector, "the FSInfo sector")?;
        let info = FsInfo::decode(&sector);
        if info.is_valid() {
            add("fsinfo_free_clusters", info.free_count.to_string());
            add("fsinfo_next_free", info.nxt_free.to_string());
        } else {
            add("fsinfo", "invalid signatures".to_owned());
        }
    }
    let root = volume.root_dir()?;
    let (_, label) = parse_dir(&root, b"")?;
    if let Some(label) = label {
        add("root_label", text(&label));
    }
    Ok(lines)
}

//! The layout of a tree as a FAT volume, computed before any byte is written: which names and
//! short names each directory holds, how many 32-byte entries and clusters everything needs,
//! the geometry, and the cluster of every directory and file (allocated contiguously in
//! [`Tree::walk`] order).

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::dump::display_path;
use crate::fat::geometry::{self, Geometry, Needs, NoLayout, SECTOR_BYTES, Unfit};
use crate::fat::lfn_entry::UNITS_PER_ENTRY;
use crate::fat::short_name::{self, NameProblem, ShortName};
use crate::fat::{Error, FatOptions, FatType, VolumeId, VolumeLabel};
use crate::links::{self, LinkPlan};
use crate::tree::{Content, Dir, NodeKind, Tree};

/// Most 32-byte entries in one directory (fatgen103: a directory may not exceed 65536
/// entries, its size limit of 2 MiB).
pub(crate) const MAX_DIR_ENTRIES: u64 = 65_536;

/// Largest file FAT can store: `DIR_FileSize` is 32 bits.
const MAX_FILE_BYTES: u64 = 0xffff_ffff;

/// A directory with its entries named and sized.
#[derive(Debug)]
pub(crate) struct PlanDir<'t> {
    /// Its mtime, for its `.` and `..` entries.
    pub(crate) mtime: i64,
    /// Its entries in byte order of names.
    pub(crate) entries: Vec<PlanEntry<'t>>,
    /// 32-byte entries it needs: `.` and `..` (or the root's label entry), then each entry's
    /// long-name entries and short entry.
    pub(crate) n_slots: u64,
}

/// One entry of a directory.
#[derive(Debug)]
pub(crate) struct PlanEntry<'t> {
    /// The long name in UTF-16.
    pub(crate) long_name: Vec<u16>,
    /// The 8.3 name.
    pub(crate) short: ShortName,
    /// True when long-name entries precede the short entry.
    pub(crate) needs_long: bool,
    /// mtime of the node (of the file, for a hard link).
    pub(crate) mtime: i64,
    /// True when the owner-write bit of the node's mode is clear (files only).
    pub(crate) read_only: bool,
    /// A directory or a file.
    pub(crate) kind: PlanKind<'t>,
    /// First cluster, 0 for an empty file; set by allocation.
    pub(crate) first_cluster: u32,
    /// Clusters of its chain; set by allocation.
    pub(crate) n_clusters: u32,
}

/// What an entry is.
#[derive(Debug)]
pub(crate) enum PlanKind<'t> {
    /// A subdirectory.
    Dir(PlanDir<'t>),
    /// A regular file (or a hard link's copy of one).
    File {
        /// Its path, for content errors.
        path: Vec<u8>,
        /// Its content.
        content: &'t Content,
    },
}

impl PlanEntry<'_> {
    /// Long-name entries before the short entry.
    pub(crate) fn n_long_entries(&self) -> u64 {
        if self.needs_long {
            u64::try_from(self.long_name.len().div_ceil(UNITS_PER_ENTRY)).unwrap_or(u64::MAX)
        } else {
            0
        }
    }
}

/// The tree with every cluster assigned, ready to be emitted.
#[derive(Debug)]
pub(crate) struct Layout<'t> {
    /// Where the regions go.
    pub(crate) geometry: Geometry,
    /// The root directory.
    pub(crate) root: PlanDir<'t>,
    /// FAT32: first cluster and length of the root directory's chain; FAT12/16: (0, 0).
    pub(crate) root_chain: (u32, u32),
    /// Every chain as (first cluster, clusters), in cluster order, without gaps from 2.
    pub(crate) chains: Vec<(u32, u32)>,
    /// The volume id to write.
    pub(crate) volume_id: u32,
}

impl Layout<'_> {
    /// Clusters in use.
    pub(crate) fn used_clusters(&self) -> u32 {
        self.chains.iter().map(|(_, n)| n).sum()
    }
}

/// The named and sized tree of `tree`.
pub(crate) fn plan_tree<'t>(tree: &'t Tree, label: &VolumeLabel) -> Result<PlanDir<'t>, Error> {
    let links = links::plan(tree).map_err(|bad| Error::HardLink {
        path: bad.path,
        target: bad.target,
        problem: bad.problem,
    })?;
    let has_label = *label != VolumeLabel::NO_NAME;
    plan_dir(&tree.root, Vec::new(), tree.root_meta.mtime, has_label, &links)
}

fn name_error(path: &[u8], problem: NameProblem) -> Error {
    let path = display_path(path);
    match problem {
        NameProblem::NotUtf8 => Error::NameNotUtf8 { path },
        NameProblem::Forbidden(ch) => Error::NameForbiddenChar { path, ch },
        NameProblem::Trailing(ch) => Error::NameTrailing { path, ch },
        NameProblem::TooLong(len) => Error::NameTooLong { path, len },
    }
}

fn plan_dir<'t>(
    dir: &'t Dir,
    path: Vec<u8>,
    mtime: i64,
    root_label: bool,
    links: &LinkPlan<'t>,
) -> Result<PlanDir<'t>, Error> {
    let is_root = path.is_empty();
    let child_path = |name: &[u8]| -> Vec<u8> {
        let mut child = path.clone();
        if !child.is_empty() {
            child.push(b'/');
        }
        child.extend_from_slice(name);
        child
    };
    // Check kinds and names first, so that short names are assigned to valid names only.
    let mut names: Vec<&str> = Vec::with_capacity(dir.len());
    let mut units: Vec<Vec<u16>> = Vec::with_capacity(dir.len());
    let mut seen: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (name, node) in dir {
        let unsupported = match node.kind {
            NodeKind::Symlink(_) => Some("symlink"),
            NodeKind::CharDevice { .. } => Some("character device"),
            NodeKind::BlockDevice { .. } => Some("block device"),
            NodeKind::Fifo => Some("fifo"),
            NodeKind::Dir(_) | NodeKind::File(_) | NodeKind::HardLink(_) => None,
        };
        if let Some(kind) = unsupported {
            return Err(Error::Unsupported { path: display_path(&child_path(name)), kind });
        }
        let name_units =
            short_name::long_name_units(name).map_err(|p| name_error(&child_path(name), p))?;
        // long_name_units checked that the name is UTF-8.
        let text = std::str::from_utf8(name)
            .map_err(|_| name_error(&child_path(name), NameProblem::NotUtf8))?;
        let this = child_path(name);
        if let Some(earlier) = seen.insert(short_name::case_key(text), this.clone()) {
            return Err(Error::CaseCollision {
                path: display_path(&this),
                other: display_path(&earlier),
            });
        }
        names.push(text);
        units.push(name_units);
    }
    let assigned = short_name::assign(&names)
        .ok_or_else(|| Error::ShortNamesExhausted { path: display_path(&path) })?;
    let mut entries = Vec::with_capacity(dir.len());
    let mut n_slots: u64 = if is_root { u64::from(root_label) } else { 2 };
    for (((name, node), long_name), assigned) in dir.iter().zip(units).zip(assigned) {
        let this = child_path(name);
        let (kind, meta) = match &node.kind {
            NodeKind::Dir(children) => {
                let sub = plan_dir(children, this, node.meta.mtime, false, links)?;
                (PlanKind::Dir(sub), &node.meta)
            }
            NodeKind::File(content) => (PlanKind::File { path: this, content }, &node.meta),
            NodeKind::HardLink(target) => {
                let role = links.role(&this);
                let Some(content) = role.and_then(|role| role.content()) else {
                    return Err(Error::HardLink {
                        path: display_path(&this),
                        target: display_path(target),
                        problem: "not a regular file",
                    });
                };
                // A role exists, checked just above.
                let meta = role.map_or(&node.meta, |role| role.inode_meta());
                (PlanKind::File { path: this, content }, meta)
            }
            // Refused in the first loop.
            _ => continue,
        };
        if let PlanKind::File { path, content } = &kind
            && content.len() > MAX_FILE_BYTES
        {
            return Err(Error::FileTooLarge { path: display_path(path), size: content.len() });
        }
        let entry = PlanEntry {
            long_name,
            short: assigned.short,
            needs_long: assigned.needs_long,
            mtime: meta.mtime,
            read_only: matches!(kind, PlanKind::File { .. }) && meta.mode & 0o200 == 0,
            kind,
            first_cluster: 0,
            n_clusters: 0,
        };
        n_slots += 1 + entry.n_long_entries();
        entries.push(entry);
    }
    if n_slots > MAX_DIR_ENTRIES {
        return Err(Error::DirectoryTooLarge {
            path: display_path(&path),
            entries: n_slots,
            fat: "FAT",
            max: 65_536,
        });
    }
    Ok(PlanDir { mtime, entries, n_slots })
}

/// Clusters of a directory of `n_slots` entries (at least one).
fn dir_clusters(n_slots: u64, cluster_bytes: u64) -> u64 {
    (n_slots * 32).div_ceil(cluster_bytes).max(1)
}

/// What the planned tree needs at every cluster size.
pub(crate) fn needs(root: &PlanDir<'_>) -> Needs {
    fn add(dir: &PlanDir<'_>, clusters: &mut [u64; 7]) {
        for entry in &dir.entries {
            for (idx, total) in clusters.iter_mut().enumerate() {
                let cluster_bytes = u64::from(SECTOR_BYTES) << idx;
                let n = match &entry.kind {
                    PlanKind::Dir(sub) => dir_clusters(sub.n_slots, cluster_bytes),
                    PlanKind::File { content, .. } => content.len().div_ceil(cluster_bytes),
                };
                *total = total.saturating_add(n);
            }
            if let PlanKind::Dir(sub) = &entry.kind {
                add(sub, clusters);
            }
        }
    }
    let mut clusters = [0u64; 7];
    add(root, &mut clusters);
    Needs { root_slots: u32::try_from(root.n_slots).unwrap_or(u32::MAX), clusters }
}

/// The volume size as a sector count.
fn sectors_of(size_bytes: u64) -> Result<u32, Error> {
    if !size_bytes.is_multiple_of(u64::from(SECTOR_BYTES)) {
        return Err(Error::SizeNotSectors { size_bytes });
    }
    u32::try_from(size_bytes / u64::from(SECTOR_BYTES))
        .map_err(|_| Error::SizeTooLarge { size_bytes })
}

fn bytes_of(sectors: u32) -> u64 {
    u64::from(sectors) * u64::from(SECTOR_BYTES)
}

/// The error for a size no candidate layout suits.
fn no_layout_error(
    sectors: u32,
    no_layout: NoLayout,
    needs: &Needs,
    options: &FatOptions,
) -> Error {
    let size_bytes = bytes_of(sectors);
    match no_layout {
        NoLayout::Invalid { fat_type, spc, unfit } => {
            let cluster_size_bytes = spc * SECTOR_BYTES;
            match unfit {
                Unfit::NoRoom => Error::NoRoom { fat_type, size_bytes, cluster_size_bytes },
                Unfit::Clusters(clusters) => {
                    let (min, max) = fat_type.cluster_range();
                    Error::ClusterCount {
                        fat_type,
                        size_bytes,
                        cluster_size_bytes,
                        clusters,
                        min,
                        max,
                    }
                }
            }
        }
        NoLayout::TooSmall { first } => {
            let needed = needs.clusters_for(first.fat_type, first.sectors_per_cluster);
            match smallest_sectors(options, needs) {
                Ok(required) => Error::TreeTooLarge {
                    size_bytes,
                    needed_bytes: needed.saturating_mul(first.cluster_bytes()),
                    available_bytes: first.data_bytes(),
                    required_bytes: bytes_of(required),
                },
                Err(err) => err,
            }
        }
    }
}

/// The smallest sector count whose chosen layout holds `needs`.
fn smallest_sectors(options: &FatOptions, needs: &Needs) -> Result<u32, Error> {
    match geometry::smallest_sectors(options, needs)? {
        Some(sectors) => Ok(sectors),
        None => {
            // The least cluster space the tree needs with any allowed cluster size.
            let needed_bytes = (0..7u32)
                .map(|shift| {
                    let spc = 1u32 << shift;
                    let fat_type = options.fat_type.unwrap_or(FatType::Fat32);
                    needs.clusters_for(fat_type, spc).saturating_mul(u64::from(spc * SECTOR_BYTES))
                })
                .min()
                .unwrap_or(u64::MAX);
            let fat = options.fat_type.map_or_else(|| "FAT".to_owned(), |t| t.to_string());
            Err(Error::TooLargeForType { fat, needed_bytes })
        }
    }
}

/// See [`crate::fat::required_size`].
pub(crate) fn required_size(tree: &Tree, options: &FatOptions) -> Result<u64, Error> {
    let root = plan_tree(tree, &options.volume_label)?;
    let needs = needs(&root);
    check_root(&needs, options)?;
    Ok(bytes_of(smallest_sectors(options, &needs)?))
}

/// A FAT12/16 root directory holds at most 65520 entries.
fn check_root(needs: &Needs, options: &FatOptions) -> Result<(), Error> {
    let fixed_root = matches!(options.fat_type, Some(FatType::Fat12 | FatType::Fat16));
    if fixed_root && needs.root_slots > geometry::MAX_ROOT_ENTRIES {
        return Err(Error::DirectoryTooLarge {
            path: "/".to_owned(),
            entries: u64::from(needs.root_slots),
            fat: "a FAT12/16 root directory",
            max: geometry::MAX_ROOT_ENTRIES,
        });
    }
    Ok(())
}

/// Names, sizes, lays out and allocates `tree`.
pub(crate) fn layout<'t>(tree: &'t Tree, options: &FatOptions) -> Result<Layout<'t>, Error> {
    let mut root = plan_tree(tree, &options.volume_label)?;
    let needs = needs(&root);
    check_root(&needs, options)?;
    let sectors = match options.size_bytes {
        Some(size_bytes) => sectors_of(size_bytes)?,
        None => smallest_sectors(options, &needs)?,
    };
    let geometry = match geometry::choose(sectors, options, &needs)? {
        Ok(geometry) => geometry,
        Err(no_layout) => return Err(no_layout_error(sectors, no_layout, &needs, options)),
    };
    let cluster_bytes = geometry.cluster_bytes();
    let mut chains = Vec::new();
    let mut next: u64 = 2;
    let root_chain = if geometry.fat_type == FatType::Fat32 {
        let n = dir_clusters(root.n_slots, cluster_bytes);
        let chain = (narrow(next)?, narrow(n)?);
        chains.push(chain);
        next += n;
        chain
    } else {
        (0, 0)
    };
    allocate(&mut root, cluster_bytes, &mut next, &mut chains)?;
    let volume_id = match &options.volume_id {
        VolumeId::Fixed(id) => *id,
        VolumeId::FromSeed(seed) => derive_volume_id(tree, seed, options.epoch),
    };
    Ok(Layout { geometry, root, root_chain, chains, volume_id })
}

/// Cluster numbers and counts fit 32 bits once the tree fits the volume.
fn narrow(value: u64) -> Result<u32, Error> {
    u32::try_from(value).map_err(|_| Error::Layout { problem: "cluster number overflows", value })
}

fn allocate(
    dir: &mut PlanDir<'_>,
    cluster_bytes: u64,
    next: &mut u64,
    chains: &mut Vec<(u32, u32)>,
) -> Result<(), Error> {
    for entry in &mut dir.entries {
        let n = match &entry.kind {
            PlanKind::Dir(sub) => dir_clusters(sub.n_slots, cluster_bytes),
            PlanKind::File { content, .. } => content.len().div_ceil(cluster_bytes),
        };
        if n > 0 {
            entry.first_cluster = narrow(*next)?;
            entry.n_clusters = narrow(n)?;
            chains.push((entry.first_cluster, entry.n_clusters));
            *next += n;
        }
        if let PlanKind::Dir(sub) = &mut entry.kind {
            allocate(sub, cluster_bytes, next, chains)?;
        }
    }
    Ok(())
}

/// See [`VolumeId::FromSeed`].
fn derive_volume_id(tree: &Tree, seed: &[u8], epoch: i64) -> u32 {
    let mut hasher = Sha256::new();
    hasher.update(b"kit fat volume id\0");
    hasher.update(u64::try_from(seed.len()).unwrap_or(u64::MAX).to_le_bytes());
    hasher.update(seed);
    hasher.update(epoch.to_le_bytes());
    let _ = tree.walk::<()>(&mut |path, node| {
        hasher.update(u64::try_from(path.len()).unwrap_or(u64::MAX).to_le_bytes());
        hasher.update(path);
        hasher.update(node.meta.mtime.to_le_bytes());
        hasher.update(node.meta.mode.to_le_bytes());
        match &node.kind {
            NodeKind::Dir(_) => hasher.update(b"d"),
            NodeKind::File(Content::Inline(data)) => {
                hasher.update(b"i");
                hasher.update(Sha256::digest(data));
            }
            NodeKind::File(Content::Blob(range)) => {
                hasher.update(b"b");
                hasher.update(u64::try_from(range.object.len()).unwrap_or(u64::MAX).to_le_bytes());
                hasher.update(range.object.as_bytes());
                hasher.update(range.offset.to_le_bytes());
                hasher.update(range.len.to_le_bytes());
            }
            NodeKind::HardLink(target) => {
                hasher.update(b"h");
                hasher.update(u64::try_from(target.len()).unwrap_or(u64::MAX).to_le_bytes());
                hasher.update(target);
            }
            // Refused by the writer; hashed anyway so the function is total.
            _ => hasher.update(b"o"),
        }
        Ok(())
    });
    let digest = hasher.finalize();
    u32::from_le_bytes([digest[0], digest[1], digest[2], digest[3]])
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;
    use crate::testutil::tree_from_fixture;

    fn options(size_bytes: Option<u64>, fat_type: Option<FatType>) -> FatOptions {
        FatOptions {
            size_bytes,
            fat_type,
            cluster_size_bytes: None,
            volume_id: VolumeId::Fixed(0x1234_abcd),
            volume_label: VolumeLabel::new("EFI").unwrap(),
            hidden_sectors: 2048,
            epoch: 0,
            oem_name: *b"kit     ",
        }
    }

    fn show_dir(dir: &PlanDir<'_>, depth: usize, out: &mut String) {
        for entry in &dir.entries {
            let long = String::from_utf16_lossy(&entry.long_name);
            let short = String::from_utf8_lossy(&entry.short.0);
            let lfn = if entry.needs_long {
                format!(" +{}lfn", entry.n_long_entries())
            } else {
                String::new()
            };
            let ro = if entry.read_only { " ro" } else { "" };
            let indent = "  ".repeat(depth);
            let kind = match &entry.kind {
                PlanKind::Dir(sub) => format!("dir slots={}", sub.n_slots),
                PlanKind::File { .. } => "file".to_owned(),
            };
            out.push_str(&format!(
                "{indent}{long:?} {short:?}{lfn}{ro} {kind} @{}+{}\n",
                entry.first_cluster, entry.n_clusters
            ));
            if let PlanKind::Dir(sub) = &entry.kind {
                show_dir(sub, depth + 1, out);
            }
        }
    }

    /// Lays the fixture out and shows the geometry, each entry with its short name, long-name
    /// entry count and clusters, and the chains.
    fn check(fixture: &str, options: FatOptions, expect: Expect) {
        let tree = tree_from_fixture(fixture).unwrap();
        let out = match layout(&tree, &options) {
            Ok(layout) => {
                let g = &layout.geometry;
                let mut out = format!(
                    "{:?} sectors={} cluster={} data@{} clusters={} root_slots={} root_chain={:?}\n",
                    g.fat_type,
                    g.total_sectors,
                    g.cluster_bytes(),
                    g.data_start_sector(),
                    g.data_clusters,
                    layout.root.n_slots,
                    layout.root_chain,
                );
                show_dir(&layout.root, 0, &mut out);
                out.push_str(&format!("chains {:?}\n", layout.chains));
                out
            }
            Err(err) => format!("error: {err}\n"),
        };
        expect.assert_eq(&out);
    }

    const ESP: &str = r#"
//- /EFI/BOOT/BOOTX64.EFI mtime=1700000000
MZ
//- /EFI/Linux/linux.efi mode=0444
MZ
//- /loader/loader.conf
timeout 3
//- /loader/entries dir
"#;

    #[test]
    fn esp_on_fat32_walk_order_allocation() {
        // Root: label + EFI + loader = 3 slots, one 512-byte cluster (2). Then in walk order:
        // EFI (3), EFI/BOOT (4), BOOTX64.EFI (5), EFI/Linux (6), linux.efi (7, +1 lfn entry),
        // loader (8), entries (9), loader.conf (10, +1 lfn entry: "LOADER~1.CON").
        check(
            ESP,
            options(Some(64 << 20), Some(FatType::Fat32)),
            expect![[r#"
                Fat32 sectors=131072 cluster=512 data@2050 clusters=129022 root_slots=4 root_chain=(2, 1)
                "EFI" "EFI        " dir slots=5 @3+1
                  "BOOT" "BOOT       " dir slots=3 @4+1
                    "BOOTX64.EFI" "BOOTX64 EFI" file @5+1
                  "Linux" "LINUX      " +1lfn dir slots=4 @6+1
                    "linux.efi" "LINUX   EFI" +1lfn ro file @7+1
                "loader" "LOADER     " +1lfn dir slots=6 @8+1
                  "entries" "ENTRIES    " +1lfn dir slots=2 @9+1
                  "loader.conf" "LOADER~1CON" +1lfn file @10+1
                chains [(2, 1), (3, 1), (4, 1), (5, 1), (6, 1), (7, 1), (8, 1), (9, 1), (10, 1)]
            "#]],
        );
    }

    #[test]
    fn just_big_enough_fat12() {
        // Automatic type and size: FAT12 with mkfs.fat's 2 KiB clusters; 1 + 2 FAT sectors +
        // 32 root sectors, then 5 clusters of 4 sectors (EFI, BOOT, BOOTX64.EFI ... loader.conf
        // each take one; 9 chains need 9 clusters): 1 + 2 + 32 + 36 = 71 sectors.
        check(
            ESP,
            options(None, None),
            expect![[r#"
                Fat12 sectors=43 cluster=512 data@35 clusters=8 root_slots=4 root_chain=(0, 0)
                "EFI" "EFI        " dir slots=5 @2+1
                  "BOOT" "BOOT       " dir slots=3 @3+1
                    "BOOTX64.EFI" "BOOTX64 EFI" file @4+1
                  "Linux" "LINUX      " +1lfn dir slots=4 @5+1
                    "linux.efi" "LINUX   EFI" +1lfn ro file @6+1
                "loader" "LOADER     " +1lfn dir slots=6 @7+1
                  "entries" "ENTRIES    " +1lfn dir slots=2 @8+1
                  "loader.conf" "LOADER~1CON" +1lfn file @9+1
                chains [(2, 1), (3, 1), (4, 1), (5, 1), (6, 1), (7, 1), (8, 1), (9, 1)]
            "#]],
        );
    }

    #[test]
    fn names_the_writer_refuses() {
        let err = |fixture: &str| check_err(fixture);
        assert_eq!(err("//- /bin/sh symlink=busybox\n"), "FAT cannot store the symlink /bin/sh");
        assert_eq!(
            err("//- /dev/null char=1,3\n"),
            "FAT cannot store the character device /dev/null"
        );
        assert_eq!(err("//- /dev/sda block=8,0\n"), "FAT cannot store the block device /dev/sda");
        assert_eq!(err("//- /run/p fifo\n"), "FAT cannot store the fifo /run/p");
        assert_eq!(
            err("//- /a/b\\xff\n"),
            "name of /a/b\\xff is not UTF-8; FAT stores names as UTF-16"
        );
        assert_eq!(
            err("//- /a/what?\n"),
            "name of /a/what? contains '?', which FAT forbids in names"
        );
        assert_eq!(
            err("//- /a/dot.\n"),
            "name of /a/dot. ends with '.', which FAT drivers strip from names"
        );
        assert_eq!(
            err("//- /a/Readme\n//- /a/README\n"),
            "/a/Readme and /a/README differ only in case; FAT names are case-insensitive"
        );
        let long = "x".repeat(256);
        assert_eq!(
            err(&format!("//- /{long}\n")),
            format!("name of /{long} is 256 UTF-16 code units long, FAT allows at most 255")
        );
    }

    fn check_err(fixture: &str) -> String {
        let tree = tree_from_fixture(fixture).unwrap();
        layout(&tree, &options(None, None)).unwrap_err().to_string()
    }
}

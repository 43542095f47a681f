//! Reading an ISO 9660 image into a tree: volume descriptors, then one directory hierarchy
//! (Rock Ridge, Joliet or plain ISO 9660), then file contents.
//!
//! The image is untrusted: every sector address and length is checked against the image's
//! length before anything is allocated, each directory extent is read once (a directory met
//! twice is a loop), continuation chains stop after 32 areas (as Linux's), and file data is
//! cached per extent list so that names sharing an extent share their bytes; file data adding
//! up to more than the image holds is refused.

use std::collections::{BTreeMap, BTreeSet};
use std::io::SeekFrom;
use std::sync::Arc;

use crate::dump::display_path;
use crate::extract::TreeBuilder;
use crate::gpt::mbr::{Mbr, OS_TYPE_GPT_PROTECTIVE};
use crate::iso9660::dir_record::{self, DirRecord, ParsedRecord, flags};
use crate::iso9660::el_torito::{self, BootRecord, CatalogImage};
use crate::iso9660::plan::{RELOCATION_DIR, SECTOR_BYTES, SYSTEM_AREA_SECTORS};
use crate::iso9660::rock_ridge::{
    self, DeviceNumber, PosixAttributes, SymlinkBuilder, Timestamps, mode,
};
use crate::iso9660::susp::{self, ContinuationArea, ExtensionsReference, SharingProtocolIndicator};
use crate::iso9660::volume_descriptor::{
    DescriptorHeader, DescriptorType, VolumeDescriptor, field_text,
};
use crate::iso9660::{Error, ReadSeek};
use crate::tree::{Content, Dir, Meta, Node, NodeKind, Tree};

/// Deepest directory read: a Linux path (`PATH_MAX`, 4096 bytes) has at most 2048 components,
/// and trees are walked recursively elsewhere.
const MAX_DEPTH: usize = 2048;
/// Most volume descriptors read before the terminator.
const MAX_DESCRIPTORS: u64 = 64;
/// Permission bits without Rock Ridge (what the Linux kernel shows by default).
const PLAIN_DIR_MODE: u32 = 0o555;
const PLAIN_FILE_MODE: u32 = 0o444;

/// Which hierarchy to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum View {
    /// Rock Ridge if present, else Joliet, else plain ISO 9660.
    Best,
    /// Joliet (an error without it).
    #[cfg_attr(not(test), allow(dead_code))]
    Joliet,
    /// Plain ISO 9660 identifiers, ignoring Rock Ridge.
    #[cfg_attr(not(test), allow(dead_code))]
    Plain,
}

pub(crate) fn read(input: &mut dyn ReadSeek, view: View) -> Result<Tree, Error> {
    let mut image = Image::open(input)?;
    let volume = Volume::read(&mut image)?;
    let walker = walker(image, &volume, view, true)?;
    walker.finish()
}

/// Walks the hierarchy of `view`, reading file contents if `with_data`.
fn walker<'a>(
    mut image: Image<'a>,
    volume: &Volume,
    view: View,
    with_data: bool,
) -> Result<Walker<'a>, Error> {
    let root = volume.primary.root_directory_record;
    let rock_ridge = rock_ridge_in_use(&mut image, &root)?;
    let (names, root) = match (view, rock_ridge, &volume.joliet) {
        (View::Best, Some(rr), _) => (Names::RockRidge { skip: usize::from(rr.skip_bytes) }, root),
        (View::Best | View::Joliet, _, Some(joliet)) => {
            (Names::Joliet, joliet.root_directory_record)
        }
        (View::Joliet, _, None) => {
            return Err(Error::NotIso { problem: "no Joliet volume descriptor".to_owned() });
        }
        (View::Best | View::Plain, _, _) => (Names::Plain, root),
    };
    let mut walker = Walker {
        image,
        names,
        builder: TreeBuilder::new(),
        visited: BTreeSet::new(),
        inodes: Vec::new(),
        cache: BTreeMap::new(),
        data_bytes: 0,
        relocation_dirs: Vec::new(),
        with_data,
        extent_paths: BTreeMap::new(),
    };
    walker.walk(root)?;
    Ok(walker)
}

/// The image and its length.
struct Image<'a> {
    input: &'a mut dyn ReadSeek,
    len_bytes: u64,
}

impl<'a> Image<'a> {
    fn open(input: &'a mut dyn ReadSeek) -> Result<Image<'a>, Error> {
        let len_bytes = input
            .seek(SeekFrom::End(0))
            .map_err(|source| Error::ReadInput { offset: 0, source })?;
        Ok(Image { input, len_bytes })
    }

    /// Reads `len` bytes at byte `offset` of sector `lba`, after checking they are in the image.
    fn read(
        &mut self,
        what: &dyn Fn() -> String,
        lba: u64,
        offset: u64,
        len: u64,
    ) -> Result<Vec<u8>, Error> {
        let start = lba.checked_mul(SECTOR_BYTES).and_then(|s| s.checked_add(offset));
        let end = start.and_then(|s| s.checked_add(len));
        let (Some(start), Some(end)) = (start, end) else {
            return Err(self.out_of_image(what(), lba, len));
        };
        if end > self.len_bytes {
            return Err(self.out_of_image(what(), lba, len));
        }
        // end <= len_bytes, the length of something already in memory or on disk; a length
        // that does not fit in usize cannot be read into memory anyway.
        let size = usize::try_from(len).map_err(|_| self.out_of_image(what(), lba, len))?;
        let mut buf = vec![0u8; size];
        self.input
            .seek(SeekFrom::Start(start))
            .and_then(|_| self.input.read_exact(&mut buf))
            .map_err(|source| Error::ReadInput { offset: start, source })?;
        Ok(buf)
    }

    fn out_of_image(&self, what: String, lba: u64, len: u64) -> Error {
        Error::OutOfImage { what, lba, len, image_bytes: self.len_bytes }
    }

    fn sector(&mut self, what: &dyn Fn() -> String, lba: u64) -> Result<[u8; 2048], Error> {
        let bytes = self.read(what, lba, 0, SECTOR_BYTES)?;
        let mut sector = [0u8; 2048];
        sector.copy_from_slice(&bytes);
        Ok(sector)
    }
}

/// The volume descriptors that matter.
struct Volume {
    primary: VolumeDescriptor,
    joliet: Option<VolumeDescriptor>,
    /// Every descriptor's sector and type, in order.
    list: Vec<(u64, DescriptorType)>,
    /// The El Torito boot catalog's sector, from the first El Torito boot record.
    boot_catalog: Option<u32>,
}

impl Volume {
    fn read(image: &mut Image<'_>) -> Result<Volume, Error> {
        let mut primary = None;
        let mut joliet = None;
        let mut boot_catalog = None;
        let mut list = Vec::new();
        let first = u64::from(SYSTEM_AREA_SECTORS);
        for lba in first..first + MAX_DESCRIPTORS {
            if (lba + 1) * SECTOR_BYTES > image.len_bytes {
                return Err(Error::NotIso {
                    problem: format!(
                        "the {}-byte image ends at sector {lba} before a volume descriptor set terminator",
                        image.len_bytes
                    ),
                });
            }
            let sector = image.sector(&|| "volume descriptor".to_owned(), lba)?;
            let header_bytes: [u8; DescriptorHeader::SIZE] =
                crate::iso9660::both_endian::array(&sector, 0);
            let header = match DescriptorHeader::decode(&header_bytes) {
                Ok(header) => header,
                Err(problem) if lba == first => {
                    return Err(Error::NotIso { problem: format!("sector 16: {problem}") });
                }
                Err(problem) => return Err(Error::Descriptor { lba, problem }),
            };
            list.push((lba, header.descriptor_type));
            match header.descriptor_type {
                DescriptorType::Terminator => break,
                DescriptorType::Primary if primary.is_none() => {
                    let descriptor = VolumeDescriptor::decode(&sector)
                        .map_err(|problem| Error::Descriptor { lba, problem })?;
                    if descriptor.logical_block_size_bytes != 2048 {
                        return Err(Error::Descriptor {
                            lba,
                            problem: "logical block size is not 2048 bytes, the only size supported",
                        });
                    }
                    primary = Some(descriptor);
                }
                DescriptorType::BootRecord if boot_catalog.is_none() => {
                    boot_catalog = BootRecord::decode(&sector).map(|r| r.boot_catalog_lba);
                }
                DescriptorType::Supplementary if joliet.is_none() => {
                    if let Ok(descriptor) = VolumeDescriptor::decode(&sector)
                        && descriptor.is_joliet()
                    {
                        joliet = Some(descriptor);
                    }
                }
                _ => {}
            }
            if lba + 1 == first + MAX_DESCRIPTORS {
                return Err(Error::NotIso {
                    problem: "no volume descriptor set terminator in the first 64 descriptors"
                        .to_owned(),
                });
            }
        }
        let primary = primary.ok_or_else(|| Error::NotIso {
            problem: "no primary volume descriptor before the terminator".to_owned(),
        })?;
        Ok(Volume { primary, joliet, list, boot_catalog })
    }
}

/// The SP entry at the start of the root's `.` record, if SUSP is in use.
fn rock_ridge_in_use(
    image: &mut Image<'_>,
    root: &DirRecord,
) -> Result<Option<SharingProtocolIndicator>, Error> {
    let sector = image.sector(&|| "root directory".to_owned(), u64::from(root.extent_lba))?;
    let Ok(dot) = dir_record::parse_record(&sector) else { return Ok(None) };
    let sp: Option<[u8; SharingProtocolIndicator::SIZE]> =
        dot.system_use.get(..SharingProtocolIndicator::SIZE).and_then(|b| b.try_into().ok());
    Ok(sp.and_then(|sp| SharingProtocolIndicator::decode(&sp).ok()))
}

/// How names and attributes are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Names {
    RockRidge { skip: usize },
    Joliet,
    Plain,
}

/// A regular file met during the walk, for hard link grouping.
struct InodeName {
    components: Vec<Vec<u8>>,
    key: InodeKey,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum InodeKey {
    Serial(u32),
    Extents(Vec<(u32, u32)>),
}

/// A directory still to read.
struct Pending {
    path: Vec<u8>,
    lba: u32,
    size: u32,
}

struct Walker<'a> {
    image: Image<'a>,
    names: Names,
    builder: TreeBuilder,
    visited: BTreeSet<u32>,
    inodes: Vec<InodeName>,
    cache: BTreeMap<Vec<(u32, u32)>, Arc<[u8]>>,
    data_bytes: u64,
    /// Root entries named like a relocation directory, with their counts of relocated (RE)
    /// and other entries.
    relocation_dirs: Vec<(Vec<u8>, usize, usize)>,
    /// Read file contents (else files are empty: for listings).
    with_data: bool,
    /// The first name met of each file's first extent.
    extent_paths: BTreeMap<u32, Vec<u8>>,
}

/// What the Rock Ridge entries of one record say.
#[derive(Debug, Default)]
struct RockRidge {
    name: Option<Vec<u8>>,
    /// NM said `.` or `..`.
    dot_alias: bool,
    px: Option<PosixAttributes>,
    device: Option<DeviceNumber>,
    symlink: Option<Vec<u8>>,
    mtime: Option<i64>,
    child_link: Option<u32>,
    relocated: bool,
}

impl Walker<'_> {
    fn walk(&mut self, root: DirRecord) -> Result<(), Error> {
        let mut stack =
            vec![Pending { path: Vec::new(), lba: root.extent_lba, size: root.data_length_bytes }];
        let mut first = true;
        while let Some(dir) = stack.pop() {
            if !self.visited.insert(dir.lba) {
                return Err(Error::Loop { path: display_path(&dir.path), lba: u64::from(dir.lba) });
            }
            let depth = dir.path.iter().filter(|b| **b == b'/').count() + 1;
            if depth > MAX_DEPTH {
                return Err(Error::TooDeep { path: display_path(&dir.path), limit: MAX_DEPTH });
            }
            let shown = display_path(&dir.path);
            let bytes = self.image.read(
                &|| format!("directory {shown}"),
                u64::from(dir.lba),
                0,
                u64::from(dir.size),
            )?;
            let records = parse_records(&bytes, &dir.path)?;
            if first {
                first = false;
                self.root_meta(&records)?;
            }
            let mut children = Vec::new();
            let mut idx = 0;
            let (mut n_relocated, mut n_other) = (0, 0);
            while idx < records.len() {
                // A multi-extent file: records flagged MULTI_EXTENT, then its last record.
                let start = idx;
                while records[idx].header.file_flags & flags::MULTI_EXTENT != 0 {
                    idx += 1;
                    if idx == records.len() {
                        return Err(Error::Record {
                            path: display_path(&dir.path),
                            offset: 0,
                            problem: "the last record of the directory is flagged multi-extent",
                        });
                    }
                }
                let group = &records[start..=idx];
                idx += 1;
                // `.` and `..`, and associated files (ECMA-119 9.1.6, e.g. Apple resource forks).
                if matches!(group[0].identifier, [0] | [1])
                    || group[0].header.file_flags & flags::ASSOCIATED != 0
                {
                    continue;
                }
                match self.entry(&dir.path, group)? {
                    Placed::Dir(pending) => {
                        n_other += 1;
                        children.push(pending);
                    }
                    Placed::Relocated => n_relocated += 1,
                    Placed::Other => n_other += 1,
                }
            }
            let in_root = !dir.path.is_empty() && !dir.path.contains(&b'/');
            let relocation_name = dir.path.starts_with(RELOCATION_DIR)
                || dir.path.strip_prefix(b".").is_some_and(|rest| rest.starts_with(RELOCATION_DIR));
            if in_root && relocation_name {
                self.relocation_dirs.push((dir.path.clone(), n_relocated, n_other));
            }
            // Reversed so that directories are read in name order.
            stack.extend(children.into_iter().rev());
        }
        Ok(())
    }

    fn root_meta(&mut self, records: &[ParsedRecord<'_>]) -> Result<(), Error> {
        let Some(dot) = records.first() else { return Ok(()) };
        let mut meta = Meta::new(PLAIN_DIR_MODE, dot.header.recorded_at.to_unix().unwrap_or(0));
        if let Names::RockRidge { .. } = self.names {
            // The root's `.` record starts with SP: no bytes are skipped there.
            let rr = self.rock_ridge(b"", dot.system_use, 0)?;
            apply_px(&mut meta, rr.px.as_ref(), rr.mtime);
        }
        self.builder.insert(b"", Node::new(NodeKind::Dir(Dir::new()), meta))?;
        Ok(())
    }

    /// Places one entry (a group of records for multi-extent files).
    fn entry(&mut self, parent: &[u8], group: &[ParsedRecord<'_>]) -> Result<Placed, Error> {
        let first = &group[0];
        let last = &group[group.len() - 1];
        let recorded = first.header.recorded_at.to_unix().unwrap_or(0);
        let (name, rr) = match self.names {
            Names::RockRidge { skip } => {
                let rr = self.rock_ridge(parent, first.system_use, skip)?;
                if rr.relocated {
                    return Ok(Placed::Relocated);
                }
                if rr.dot_alias {
                    return Ok(Placed::Other);
                }
                let name = match &rr.name {
                    Some(name) => name.clone(),
                    None => plain_name(first.identifier),
                };
                (name, Some(rr))
            }
            Names::Joliet => (joliet_name(first.identifier), None),
            Names::Plain => (plain_name(first.identifier), None),
        };
        check_name(parent, &name)?;
        let mut path = parent.to_vec();
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(&name);

        let mut meta = Meta::new(PLAIN_FILE_MODE, recorded);
        let px = rr.as_ref().and_then(|rr| rr.px);
        let type_bits = match px {
            Some(px) => px.mode & mode::S_IFMT,
            None if last.header.is_dir() => mode::S_IFDIR,
            None => mode::S_IFREG,
        };
        if last.header.is_dir() && px.is_none() {
            meta.mode = PLAIN_DIR_MODE;
        }
        apply_px(&mut meta, px.as_ref(), rr.as_ref().and_then(|rr| rr.mtime));

        // A relocated directory: the placeholder's CL points at it; its attributes are those
        // of its `.` record (as the Linux kernel takes them).
        if let Some(lba) = rr.as_ref().and_then(|rr| rr.child_link) {
            let shown = display_path(&path);
            let sector =
                self.image.sector(&|| format!("relocated directory {shown}"), u64::from(lba))?;
            let dot = dir_record::parse_record(&sector).map_err(|problem| Error::Record {
                path: display_path(&path),
                offset: 0,
                problem,
            })?;
            let dot_rr = match self.names {
                Names::RockRidge { skip } => self.rock_ridge(&path, dot.system_use, skip)?,
                _ => RockRidge::default(),
            };
            apply_px(&mut meta, dot_rr.px.as_ref(), dot_rr.mtime);
            self.builder.insert(&path, Node::new(NodeKind::Dir(Dir::new()), meta))?;
            return Ok(Placed::Dir(Pending { path, lba, size: dot.header.data_length_bytes }));
        }
        if last.header.is_dir() || type_bits == mode::S_IFDIR {
            if !last.header.is_dir() {
                return Err(Error::Record {
                    path: display_path(&path),
                    offset: 0,
                    problem: "Rock Ridge says directory but the record is a file without a CL entry",
                });
            }
            self.builder.insert(&path, Node::new(NodeKind::Dir(Dir::new()), meta))?;
            return Ok(Placed::Dir(Pending {
                path,
                lba: last.header.extent_lba,
                size: last.header.data_length_bytes,
            }));
        }
        let kind = match type_bits {
            mode::S_IFREG => {
                let extents: Vec<(u32, u32)> = group
                    .iter()
                    .map(|record| (record.header.extent_lba, record.header.data_length_bytes))
                    .collect();
                let data = self.file_data(&path, &extents)?;
                if let Some(px) = px.filter(|px| px.links >= 2) {
                    let key = match px.serial.filter(|serial| *serial != 0) {
                        Some(serial) => Some(InodeKey::Serial(serial)),
                        None if !data.is_empty() => Some(InodeKey::Extents(extents)),
                        None => None,
                    };
                    if let Some(key) = key {
                        let components = path.split(|b| *b == b'/').map(<[u8]>::to_vec).collect();
                        self.inodes.push(InodeName { components, key });
                    }
                }
                NodeKind::File(Content::Inline(data))
            }
            mode::S_IFLNK => {
                NodeKind::Symlink(rr.as_ref().and_then(|rr| rr.symlink.clone()).unwrap_or_default())
            }
            mode::S_IFCHR | mode::S_IFBLK => {
                let (major, minor) =
                    rr.as_ref().and_then(|rr| rr.device).map_or((0, 0), DeviceNumber::to_linux);
                if type_bits == mode::S_IFCHR {
                    NodeKind::CharDevice { major, minor }
                } else {
                    NodeKind::BlockDevice { major, minor }
                }
            }
            mode::S_IFIFO => NodeKind::Fifo,
            mode::S_IFSOCK => return Err(Error::Socket { path: display_path(&path) }),
            _ => {
                return Err(Error::Record {
                    path: display_path(&path),
                    offset: 0,
                    problem: "Rock Ridge file type is not a file, directory, symlink, device or fifo",
                });
            }
        };
        self.builder.insert(&path, Node::new(kind, meta))?;
        Ok(Placed::Other)
    }

    /// The bytes of a file's extents, shared with other names of the same extents.
    fn file_data(&mut self, path: &[u8], extents: &[(u32, u32)]) -> Result<Arc<[u8]>, Error> {
        if let Some((lba, _)) = extents.first() {
            self.extent_paths.entry(*lba).or_insert_with(|| path.to_vec());
        }
        if !self.with_data {
            return Ok(Arc::from(&[][..]));
        }
        if let Some(data) = self.cache.get(extents) {
            return Ok(Arc::clone(data));
        }
        let total: u64 = extents.iter().map(|(_, len)| u64::from(*len)).sum();
        self.data_bytes = self.data_bytes.saturating_add(total);
        if self.data_bytes > self.image.len_bytes {
            return Err(Error::OutOfImage {
                what: format!("file data of {} (with the files before it)", display_path(path)),
                lba: u64::from(extents.first().map_or(0, |e| e.0)),
                len: self.data_bytes,
                image_bytes: self.image.len_bytes,
            });
        }
        let mut data = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
        for (lba, len) in extents {
            if *len == 0 {
                continue;
            }
            let shown = display_path(path);
            data.extend(self.image.read(
                &|| format!("file {shown}"),
                u64::from(*lba),
                0,
                u64::from(*len),
            )?);
        }
        let data: Arc<[u8]> = Arc::from(data);
        self.cache.insert(extents.to_vec(), Arc::clone(&data));
        Ok(data)
    }

    /// Collects the System Use entries of a record, following continuation areas.
    fn rock_ridge(
        &mut self,
        path: &[u8],
        system_use: &[u8],
        skip: usize,
    ) -> Result<RockRidge, Error> {
        let susp_err = |problem| Error::Susp { path: display_path(path), problem };
        let mut areas = vec![system_use.get(skip..).unwrap_or(&[]).to_vec()];
        let mut rr = RockRidge::default();
        let mut name: Option<Vec<u8>> = None;
        let mut symlink: Option<SymlinkBuilder> = None;
        let mut area_idx = 0;
        while let Some(area) = areas.get(area_idx).cloned() {
            area_idx += 1;
            let mut continuation = None;
            for entry in susp::entries(&area) {
                let entry = entry.map_err(susp_err)?;
                if entry.version != 1 {
                    continue;
                }
                match &entry.signature {
                    b"CE" => {
                        continuation =
                            Some(ContinuationArea::decode_body(entry.body).map_err(susp_err)?)
                    }
                    b"PX" => {
                        rr.px = Some(PosixAttributes::decode_body(entry.body).map_err(susp_err)?)
                    }
                    b"PN" => {
                        rr.device = Some(DeviceNumber::decode_body(entry.body).map_err(susp_err)?)
                    }
                    b"TF" => {
                        if let Some(mtime) =
                            Timestamps::decode_modify(entry.body).map_err(susp_err)?
                        {
                            rr.mtime = Some(mtime);
                        }
                    }
                    b"NM" => {
                        let (&nm_flags, text) = entry
                            .body
                            .split_first()
                            .ok_or_else(|| susp_err("NM entry has no flags byte"))?;
                        if nm_flags & (rock_ridge::CURRENT | rock_ridge::PARENT) != 0 {
                            rr.dot_alias = true;
                        } else {
                            name.get_or_insert_with(Vec::new).extend_from_slice(text);
                        }
                    }
                    b"SL" => symlink
                        .get_or_insert_with(SymlinkBuilder::default)
                        .push_body(entry.body)
                        .map_err(susp_err)?,
                    b"CL" => {
                        rr.child_link =
                            Some(rock_ridge::decode_link_body(entry.body).map_err(susp_err)?)
                    }
                    b"RE" => rr.relocated = true,
                    _ => {}
                }
            }
            if let Some(area) = continuation {
                if areas.len() > susp::MAX_CONTINUATIONS {
                    return Err(susp_err("more than 32 continuation areas"));
                }
                let offset = u64::from(area.offset_bytes);
                let len = u64::from(area.length_bytes);
                if offset + len > SECTOR_BYTES {
                    return Err(susp_err("continuation area crosses its block's end"));
                }
                let shown = display_path(path);
                let bytes = self.image.read(
                    &|| format!("continuation area of {shown}"),
                    u64::from(area.block_lba),
                    offset,
                    len,
                )?;
                areas.push(bytes);
            }
        }
        rr.name = name;
        rr.symlink = symlink.map(SymlinkBuilder::finish);
        Ok(rr)
    }

    fn finish(mut self) -> Result<Tree, Error> {
        // Later names of an inode, in walk order, become hard links to the first.
        let mut inodes = std::mem::take(&mut self.inodes);
        inodes.sort_by(|a, b| a.components.cmp(&b.components));
        let mut groups: BTreeMap<InodeKey, Vec<Vec<u8>>> = BTreeMap::new();
        for inode in inodes {
            groups.entry(inode.key).or_default().push(inode.components.join(&b'/'));
        }
        for paths in groups.values() {
            let Some((leader, followers)) = paths.split_first() else { continue };
            for follower in followers {
                if let Some(node) = self.builder.get_mut(follower) {
                    node.kind = NodeKind::HardLink(leader.clone());
                }
            }
        }
        let mut tree = self.builder.finish();
        // A relocation directory that held only relocated directories is an artifact of the
        // format, not part of the tree.
        for (name, n_relocated, n_other) in &self.relocation_dirs {
            let empty = matches!(tree.root.get(name).map(|n| &n.kind), Some(NodeKind::Dir(e)) if e.is_empty());
            if *n_relocated > 0 && *n_other == 0 && empty {
                tree.root.remove(name);
            }
        }
        Ok(tree)
    }
}

enum Placed {
    Dir(Pending),
    Relocated,
    Other,
}

/// Every record of a directory's extent, skipping the zero fill at the end of each sector.
fn parse_records<'b>(bytes: &'b [u8], path: &[u8]) -> Result<Vec<ParsedRecord<'b>>, Error> {
    let sector = usize::try_from(SECTOR_BYTES).unwrap_or(2048);
    let mut records = Vec::new();
    let mut offset = 0;
    while offset < bytes.len() {
        if bytes[offset] == 0 {
            offset = (offset / sector + 1) * sector;
            continue;
        }
        let record =
            dir_record::parse_record(&bytes[offset..]).map_err(|problem| Error::Record {
                path: display_path(path),
                offset: u64::try_from(offset).unwrap_or(u64::MAX),
                problem,
            })?;
        offset += usize::from(record.header.length_bytes);
        records.push(record);
    }
    Ok(records)
}

/// Applies Rock Ridge attributes over the defaults.
fn apply_px(meta: &mut Meta, px: Option<&PosixAttributes>, mtime: Option<i64>) {
    if let Some(px) = px {
        meta.mode = px.mode & 0o7777;
        meta.uid = px.uid;
        meta.gid = px.gid;
    }
    if let Some(mtime) = mtime {
        meta.mtime = mtime;
    }
}

/// An ISO 9660 identifier without its version (`;1`) and trailing dot.
fn plain_name(identifier: &[u8]) -> Vec<u8> {
    let name = strip_version(identifier);
    name.strip_suffix(b".").filter(|n| !n.is_empty()).unwrap_or(name).to_vec()
}

fn strip_version(identifier: &[u8]) -> &[u8] {
    match identifier.iter().rposition(|b| *b == b';') {
        Some(semi) if identifier[semi + 1..].iter().all(u8::is_ascii_digit) && semi > 0 => {
            &identifier[..semi]
        }
        _ => identifier,
    }
}

/// A Joliet identifier (UCS-2 big-endian) as UTF-8, without a `;1` version.
fn joliet_name(identifier: &[u8]) -> Vec<u8> {
    let units: Vec<u16> =
        identifier.chunks_exact(2).map(|pair| u16::from_be_bytes([pair[0], pair[1]])).collect();
    let text = String::from_utf16_lossy(&units);
    strip_version(text.as_bytes()).to_vec()
}

fn check_name(parent: &[u8], name: &[u8]) -> Result<(), Error> {
    let problem = if name.is_empty() || name == b"." || name == b".." {
        Some("is empty, `.` or `..`")
    } else if name.contains(&b'/') || name.contains(&0) {
        Some("contains `/` or NUL")
    } else {
        None
    };
    match problem {
        Some(problem) => {
            Err(Error::BadName { path: display_path(parent), name: display_path(name), problem })
        }
        None => Ok(()),
    }
}

pub(crate) fn summary(input: &mut dyn ReadSeek) -> Result<Vec<(String, String)>, Error> {
    let mut image = Image::open(input)?;
    let volume = Volume::read(&mut image)?;
    let pvd = &volume.primary;
    let mut out: Vec<(String, String)> = Vec::new();
    let mut add = |key: &str, value: String| out.push((key.to_owned(), value));
    add("format", "ISO 9660".to_owned());
    let descriptors: Vec<String> = volume
        .list
        .iter()
        .map(|(lba, kind)| {
            let name = match kind {
                DescriptorType::BootRecord => "boot record".to_owned(),
                DescriptorType::Primary => "primary".to_owned(),
                DescriptorType::Supplementary => "supplementary".to_owned(),
                DescriptorType::Partition => "partition".to_owned(),
                DescriptorType::Terminator => "terminator".to_owned(),
                DescriptorType::Other(code) => format!("type {code}"),
            };
            format!("{name}@{lba}")
        })
        .collect();
    add("volume descriptors", descriptors.join(", "));
    add("system id", field_text(&pvd.system_id, false));
    add("volume id", field_text(&pvd.volume_id, false));
    add("volume set id", field_text(&pvd.volume_set_id, false));
    add("publisher id", field_text(&pvd.publisher_id, false));
    add("data preparer id", field_text(&pvd.data_preparer_id, false));
    add("application id", field_text(&pvd.application_id, false));
    add("logical block size", pvd.logical_block_size_bytes.to_string());
    let volume_bytes = u64::from(pvd.volume_space_size_sectors) * SECTOR_BYTES;
    add("volume size", format!("{} sectors ({volume_bytes} bytes)", pvd.volume_space_size_sectors));
    add("created", pvd.creation.to_string());
    add("modified", pvd.modification.to_string());
    add("expires", pvd.expiration.to_string());
    add("effective", pvd.effective.to_string());
    let root = pvd.root_directory_record;
    add("root directory", format!("sector {}, {} bytes", root.extent_lba, root.data_length_bytes));
    add(
        "path table",
        format!(
            "{} bytes, type L at sector {}, type M at sector {}",
            pvd.path_table_size_bytes, pvd.type_l_path_table_lba, pvd.type_m_path_table_lba
        ),
    );
    let joliet = match &volume.joliet {
        Some(joliet) => {
            let level = match &joliet.escape_sequences[..3] {
                b"%/@" => 1,
                b"%/C" => 2,
                _ => 3,
            };
            format!("UCS-2 level {level}, volume id {:?}", field_text(&joliet.volume_id, true))
        }
        None => "none".to_owned(),
    };
    add("joliet", joliet);
    let rock_ridge = match rock_ridge_in_use(&mut image, &root)? {
        Some(_) => {
            let ids = extension_ids(&mut image, &root)?;
            if ids.is_empty() { "SUSP without an ER entry".to_owned() } else { ids.join(", ") }
        }
        None => "none".to_owned(),
    };
    add("rock ridge", rock_ridge);
    let system_area = system_area_lines(&mut image);
    if let Some(lba) = volume.boot_catalog {
        let catalog = read_catalog(&mut image, lba);
        let paths = walker(image, &volume, View::Best, false)?.extent_paths;
        out.push(("el torito catalog".to_owned(), format!("sector {lba}")));
        match catalog {
            Ok(images) => {
                for (idx, image) in images.iter().enumerate() {
                    out.push((format!("el torito image {}", idx + 1), boot_line(image, &paths)));
                }
            }
            Err(problem) => out.push(("el torito".to_owned(), problem.to_string())),
        }
    }
    out.extend(system_area);
    Ok(out)
}

/// Catalog sectors read at most: 4 sectors hold 255 entries.
const MAX_CATALOG_SECTORS: u64 = 4;

/// The images of the boot catalog at `lba`.
fn read_catalog(image: &mut Image<'_>, lba: u32) -> Result<Vec<CatalogImage>, Error> {
    let start = u64::from(lba) * SECTOR_BYTES;
    let len = image.len_bytes.saturating_sub(start).min(MAX_CATALOG_SECTORS * SECTOR_BYTES);
    if len < 64 {
        return Err(image.out_of_image("El Torito boot catalog".to_owned(), u64::from(lba), 64));
    }
    let bytes = image.read(&|| "El Torito boot catalog".to_owned(), u64::from(lba), 0, len)?;
    el_torito::decode_catalog(&bytes)
        .map_err(|problem| Error::Catalog { lba: u64::from(lba), problem })
}

/// One catalog image as `kit inspect` shows it.
fn boot_line(image: &CatalogImage, paths: &BTreeMap<u32, Vec<u8>>) -> String {
    let entry = &image.entry;
    let bootable =
        if entry.boot_indicator == el_torito::BOOTABLE { "bootable" } else { "not bootable" };
    let media = match entry.boot_media_type & 0x0f {
        0 => "no emulation",
        1 => "1.2 MB diskette",
        2 => "1.44 MB diskette",
        3 => "2.88 MB diskette",
        4 => "hard disk",
        _ => "unknown media",
    };
    let path =
        paths.get(&entry.load_rba).map_or_else(|| "(no file)".to_owned(), |p| display_path(p));
    format!(
        "platform {:#04x} ({}), {bootable}, {media}, load segment {:#06x}, {} sectors of 512 bytes, sector {}, {path}",
        image.platform_id,
        el_torito::platform_name(image.platform_id),
        entry.load_segment,
        entry.sector_count,
        entry.load_rba,
    )
}

/// The MBR partitions of sector 0 and the GPT they announce, if any.
fn system_area_lines(image: &mut Image<'_>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Ok(bytes) = image.read(&|| "MBR".to_owned(), 0, 0, 512) else { return out };
    let mut sector = [0u8; Mbr::SIZE];
    sector.copy_from_slice(&bytes);
    let Ok(mbr) = Mbr::decode(&sector) else {
        if bytes.iter().any(|b| *b != 0) {
            out.push(("system area".to_owned(), "data without an MBR signature".to_owned()));
        }
        return out;
    };
    let mut gpt = false;
    for (idx, record) in mbr.partition_records.iter().enumerate() {
        if record.os_type == 0 && record.size_in_lba == 0 {
            continue;
        }
        gpt |= record.os_type == OS_TYPE_GPT_PROTECTIVE;
        out.push((
            format!("MBR partition {}", idx + 1),
            format!(
                "type {:#04x}, status {:#04x}, blocks {} + {} of 512 bytes",
                record.os_type, record.boot_indicator, record.starting_lba, record.size_in_lba
            ),
        ));
    }
    // xorriso's `-isohybrid-gpt-basdat` writes a GPT without a 0xEE record.
    if !gpt && let Ok(header) = image.read(&|| "GPT header".to_owned(), 0, 512, 8) {
        gpt = header == crate::gpt::header::GPT_SIGNATURE;
    }
    if gpt {
        match crate::gpt::summary(&mut image.input) {
            Ok(lines) => out.extend(
                lines
                    .into_iter()
                    .filter(|(key, _)| key != "format")
                    .map(|(key, value)| (format!("GPT {key}"), value)),
            ),
            Err(err) => out.push(("GPT".to_owned(), err.to_string())),
        }
    }
    out
}

/// The ER identifiers of the root's `.` record, with the Rock Ridge version they announce.
fn extension_ids(image: &mut Image<'_>, root: &DirRecord) -> Result<Vec<String>, Error> {
    let sector = image.sector(&|| "root directory".to_owned(), u64::from(root.extent_lba))?;
    let dot = dir_record::parse_record(&sector).map_err(|problem| Error::Record {
        path: "/".to_owned(),
        offset: 0,
        problem,
    })?;
    let mut ids = Vec::new();
    let mut areas = vec![dot.system_use.to_vec()];
    let mut idx = 0;
    while let Some(area) = areas.get(idx).cloned() {
        idx += 1;
        for entry in susp::entries(&area).flatten() {
            match &entry.signature {
                b"ER" => {
                    if let Ok(er) = ExtensionsReference::decode_body(entry.body) {
                        let id = String::from_utf8_lossy(&er.identifier).into_owned();
                        let version = match id.as_str() {
                            "IEEE_1282" | "IEEE_P1282" => " (RRIP 1.12)",
                            "RRIP_1991A" => " (RRIP 1.10)",
                            _ => "",
                        };
                        ids.push(format!("{id}{version}"));
                    }
                }
                b"CE" if areas.len() <= susp::MAX_CONTINUATIONS => {
                    if let Ok(area) = ContinuationArea::decode_body(entry.body) {
                        let (offset, len) =
                            (u64::from(area.offset_bytes), u64::from(area.length_bytes));
                        if offset + len <= SECTOR_BYTES {
                            let bytes = image.read(
                                &|| "continuation area of /".to_owned(),
                                u64::from(area.block_lba),
                                offset,
                                len,
                            )?;
                            areas.push(bytes);
                        }
                    }
                }
                _ => {}
            }
        }
    }
    Ok(ids)
}

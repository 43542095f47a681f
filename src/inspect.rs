//! `kit inspect`: what is inside an artifact, read with the same readers the tests use.
//!
//! The kind of an artifact is recognized by its magic bytes, never by its name: a tar, a newc
//! archive or an initramfs (segments, compressed or not), squashfs, EROFS, ISO 9660, a Linux
//! kernel image. Filesystems and archives are read into a [`Tree`] and listed one entry per
//! line; [`first_difference`] compares two listings and names the first path and field that
//! differ.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use formats::tree::{Content, NoBlobs, NodeKind, Tree};
use sha2::{Digest as _, Sha256};

/// What an artifact is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactKind {
    /// A tar archive.
    Tar,
    /// A Linux initramfs: newc archives, compressed or not, one after another.
    Initrd,
    /// A squashfs image.
    Squashfs,
    /// An EROFS image.
    Erofs,
    /// An ISO 9660 image.
    Iso,
    /// A Linux kernel image (x86 bzImage or arm64/riscv64 Image).
    Kernel,
    /// A PE/COFF (EFI) executable: a UKI, systemd-boot or an EFI stub.
    Efi,
    /// A disk with a GUID Partition Table; FAT partitions (the ESP) are listed as `/pN/...`.
    GptDisk,
    /// A FAT12/16/32 file system image (an ESP, an El Torito EFI image).
    Fat,
    /// A VM disk container: qcow2, VHDX, dynamic VHD or VMDK (its header facts only).
    VmDisk(VmDisk),
}

/// The VM disk containers `kit inspect` recognizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmDisk {
    /// qcow2.
    Qcow2,
    /// VHDX.
    Vhdx,
    /// VHD (dynamic; a fixed VHD is raw bytes with a footer at the end).
    Vhd,
    /// VMDK sparse extent.
    Vmdk,
}

impl ArtifactKind {
    /// Lowercase name, as `--json` prints it.
    pub fn name(self) -> &'static str {
        match self {
            ArtifactKind::Tar => "tar",
            ArtifactKind::Initrd => "initrd",
            ArtifactKind::Squashfs => "squashfs",
            ArtifactKind::Erofs => "erofs",
            ArtifactKind::Iso => "iso9660",
            ArtifactKind::Kernel => "kernel",
            ArtifactKind::Efi => "efi",
            ArtifactKind::GptDisk => "gpt-disk",
            ArtifactKind::Fat => "fat",
            ArtifactKind::VmDisk(VmDisk::Qcow2) => "qcow2",
            ArtifactKind::VmDisk(VmDisk::Vhdx) => "vhdx",
            ArtifactKind::VmDisk(VmDisk::Vhd) => "vhd",
            ArtifactKind::VmDisk(VmDisk::Vmdk) => "vmdk",
        }
    }
}

/// What `kit inspect` found in one artifact.
#[derive(Debug, Clone)]
pub struct Inspection {
    /// The artifact's path.
    pub path: PathBuf,
    /// Its kind.
    pub kind: ArtifactKind,
    /// Its size in bytes.
    pub size: u64,
    /// The SHA-256 of all its bytes.
    pub sha256: String,
    /// Header facts (`block size`, `compression`, `segment 0`, …), in order.
    pub summary: Vec<(String, String)>,
    /// Its files, for archives and filesystems.
    pub entries: Option<Vec<Entry>>,
}

/// One file of an artifact's tree.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Entry {
    /// Path with a leading `/` (escaped as the dump escapes it).
    pub path: String,
    /// `dir`, `file`, `symlink`, `hardlink`, `char`, `block` or `fifo`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// Size in bytes (files).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// SHA-256 of the content (files).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Symlink or hard link target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Device numbers `major,minor`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// Extended attributes, values in hex.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub xattrs: BTreeMap<String, String>,
}

/// Why an artifact could not be inspected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InspectError {
    /// The file could not be read.
    #[error("reading {}", path.display())]
    Read {
        /// The artifact.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// Its kind is not one kit reads.
    #[error(
        "{}: not an artifact kit reads (tar, initrd, squashfs, EROFS, ISO 9660, GPT disk, FAT, qcow2, VHD(X), VMDK, EFI executable, kernel)",
        path.display()
    )]
    Unknown {
        /// The artifact.
        path: PathBuf,
    },
    /// It is malformed.
    #[error("{}: malformed {}", path.display(), kind.name())]
    Malformed {
        /// The artifact.
        path: PathBuf,
        /// What it looked like.
        kind: ArtifactKind,
        /// The reader's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Recognizes the artifact at `path` and reads it.
pub fn inspect(path: &Path) -> Result<Inspection, InspectError> {
    let read_err = |source| InspectError::Read { path: path.to_path_buf(), source };
    let mut file = File::open(path).map_err(read_err)?;
    let size = file.metadata().map_err(read_err)?.len();
    let mut head = vec![0u8; 0x8006];
    let n = read_up_to(&mut file, &mut head).map_err(read_err)?;
    head.truncate(n);
    let kind = detect(&head).ok_or_else(|| InspectError::Unknown { path: path.to_path_buf() })?;
    file.seek(SeekFrom::Start(0)).map_err(read_err)?;
    let sha256 = hash(&mut file).map_err(read_err)?;
    file.seek(SeekFrom::Start(0)).map_err(read_err)?;
    let malformed = |source: Box<dyn std::error::Error + Send + Sync>| InspectError::Malformed {
        path: path.to_path_buf(),
        kind,
        source,
    };
    let mut summary = Vec::new();
    let tree = match kind {
        ArtifactKind::Tar => {
            Some(formats::tar::read(BufReader::new(file)).map_err(|e| malformed(Box::new(e)))?)
        }
        ArtifactKind::Initrd => {
            let mut data = Vec::new();
            file.read_to_end(&mut data).map_err(read_err)?;
            let segments = formats::initrd::segments(&data).map_err(|e| malformed(Box::new(e)))?;
            for (idx, segment) in segments.iter().enumerate() {
                summary.push((
                    format!("segment {idx}"),
                    format!(
                        "{} at byte {}, {} bytes, {} uncompressed",
                        segment.compression.name(),
                        segment.offset,
                        segment.len,
                        segment.uncompressed_len
                    ),
                ));
            }
            Some(formats::initrd::read(&data).map_err(|e| malformed(Box::new(e)))?)
        }
        ArtifactKind::Kernel => {
            summary.extend(kernel_summary(&head));
            None
        }
        ArtifactKind::Efi => {
            let mut reader = BufReader::new(file);
            summary = formats::uki::summary(&mut reader).map_err(|e| malformed(Box::new(e)))?;
            None
        }
        ArtifactKind::VmDisk(disk) => {
            let mut reader = BufReader::new(file);
            let boxed = |e: Box<dyn std::error::Error + Send + Sync>| malformed(e);
            summary = match disk {
                VmDisk::Qcow2 => {
                    formats::qcow2::summary(&mut reader).map_err(|e| boxed(Box::new(e)))
                }
                VmDisk::Vhdx => formats::vhdx::summary(&mut reader).map_err(|e| boxed(Box::new(e))),
                VmDisk::Vhd => formats::vhd::summary(&mut reader).map_err(|e| boxed(Box::new(e))),
                VmDisk::Vmdk => formats::vmdk::summary(&mut reader).map_err(|e| boxed(Box::new(e))),
            }?;
            None
        }
        ArtifactKind::Fat => {
            let mut reader = BufReader::new(file);
            summary = formats::fat::summary(&mut reader).map_err(|e| malformed(Box::new(e)))?;
            reader.seek(SeekFrom::Start(0)).map_err(read_err)?;
            Some(formats::fat::read(&mut reader).map_err(|e| malformed(Box::new(e)))?)
        }
        ArtifactKind::GptDisk => {
            let mut reader = BufReader::new(file);
            summary = formats::gpt::summary(&mut reader).map_err(|e| malformed(Box::new(e)))?;
            reader.seek(SeekFrom::Start(0)).map_err(read_err)?;
            let disk = formats::gpt::read(&mut reader).map_err(|e| malformed(Box::new(e)))?;
            Some(partition_trees(&mut reader, &disk))
        }
        ArtifactKind::Erofs => {
            let mut reader = BufReader::new(file);
            summary = formats::erofs::summary(&mut reader).map_err(|e| malformed(Box::new(e)))?;
            reader.seek(SeekFrom::Start(0)).map_err(read_err)?;
            Some(formats::erofs::read(&mut reader).map_err(|e| malformed(Box::new(e)))?)
        }
        ArtifactKind::Squashfs => {
            let mut reader = BufReader::new(file);
            summary =
                formats::squashfs::summary(&mut reader).map_err(|e| malformed(Box::new(e)))?;
            reader.seek(SeekFrom::Start(0)).map_err(read_err)?;
            Some(formats::squashfs::read(&mut reader).map_err(|e| malformed(Box::new(e)))?)
        }
        ArtifactKind::Iso => {
            let mut reader = BufReader::new(file);
            summary = formats::iso9660::summary(&mut reader).map_err(|e| malformed(Box::new(e)))?;
            reader.seek(SeekFrom::Start(0)).map_err(read_err)?;
            Some(formats::iso9660::read(&mut reader).map_err(|e| malformed(Box::new(e)))?)
        }
    };
    let mut entries = tree.as_ref().map(entries);
    // Archives without a `.` entry say nothing about the root directory: leave it out rather
    // than show the reader's defaults.
    if matches!(kind, ArtifactKind::Tar | ArtifactKind::Initrd)
        && let Some(list) = entries.as_mut()
    {
        list.retain(|entry| entry.path != "/");
    }
    Ok(Inspection { path: path.to_path_buf(), kind, size, sha256, summary, entries })
}

/// The kind of an artifact from its first 32774 bytes (or all of them, if shorter).
pub fn detect(head: &[u8]) -> Option<ArtifactKind> {
    let at = |offset: usize, magic: &[u8]| head.get(offset..offset + magic.len()) == Some(magic);
    if at(0, b"hsqs") {
        Some(ArtifactKind::Squashfs)
    } else if at(1024, &[0xe2, 0xe1, 0xf5, 0xe0]) {
        Some(ArtifactKind::Erofs)
    } else if at(0x8001, b"CD001") {
        Some(ArtifactKind::Iso)
    } else if at(257, b"ustar") {
        Some(ArtifactKind::Tar)
    } else if at(0, b"07070")
        || at(0, &[0x1f, 0x8b])
        || at(0, &[0x28, 0xb5, 0x2f, 0xfd])
        || at(0, &[0xfd, b'7', b'z', b'X', b'Z', 0x00])
        || at(0, &[0x02, 0x21, 0x4c, 0x18])
    {
        // newc, or a gzip, zstd, xz or lz4 (legacy) stream: an initrd's first segment.
        Some(ArtifactKind::Initrd)
    } else if at(0, b"QFI\xfb") {
        Some(ArtifactKind::VmDisk(VmDisk::Qcow2))
    } else if at(0, b"vhdxfile") {
        Some(ArtifactKind::VmDisk(VmDisk::Vhdx))
    } else if at(0, b"conectix") {
        Some(ArtifactKind::VmDisk(VmDisk::Vhd))
    } else if at(0, b"KDMV") {
        Some(ArtifactKind::VmDisk(VmDisk::Vmdk))
    } else if at(512, b"EFI PART") || at(4096, b"EFI PART") {
        Some(ArtifactKind::GptDisk)
    } else if at(510, &[0x55, 0xaa])
        && (at(0x36, b"FAT12   ") || at(0x36, b"FAT16   ") || at(0x52, b"FAT32   "))
    {
        Some(ArtifactKind::Fat)
    } else if at(0x202, b"HdrS") || at(0x38, b"ARM\x64") || at(0x30, b"RISCV\0\0\0") {
        // An x86 bzImage is also a PE (its EFI stub): the kernel header wins.
        Some(ArtifactKind::Kernel)
    } else if at(0, b"MZ") && is_pe(head) {
        Some(ArtifactKind::Efi)
    } else {
        None
    }
}

/// The kernel release (`6.1.0-57-amd64`) from an x86 bzImage's setup header: the first word of
/// its version string. `None` for other images.
pub fn kernel_release(head: &[u8]) -> Option<String> {
    kernel_summary(head)
        .into_iter()
        .find(|(key, _)| key == "version")
        .and_then(|(_, version)| version.split_whitespace().next().map(str::to_owned))
}

/// True when the `MZ` header's `e_lfanew` points at a `PE\0\0` signature within `head`.
fn is_pe(head: &[u8]) -> bool {
    let Some(offset) = head.get(0x3c..0x40) else { return false };
    let offset = u32::from_le_bytes([offset[0], offset[1], offset[2], offset[3]]);
    let Ok(offset) = usize::try_from(offset) else { return false };
    head.get(offset..offset.saturating_add(4)) == Some(b"PE\0\0")
}

/// The files of every FAT partition of a GPT disk, as one tree: partition N's root is `/pN`.
/// Partitions that are not FAT are listed in the summary only.
fn partition_trees(reader: &mut BufReader<File>, disk: &formats::gpt::Disk) -> Tree {
    let mut tree = Tree::new(0);
    for partition in &disk.partitions {
        let start = partition.entry.starting_lba.saturating_mul(disk.sector_bytes);
        let end = partition.entry.ending_lba.saturating_add(1).saturating_mul(disk.sector_bytes);
        let mut window =
            Window { inner: &mut *reader, start, len: end.saturating_sub(start), pos: 0 };
        if let Ok(fat) = formats::fat::read(&mut window) {
            let node = formats::tree::Node::new(NodeKind::Dir(fat.root), fat.root_meta);
            tree.root.insert(format!("p{}", partition.number).into_bytes(), node);
        }
    }
    tree
}

/// A byte range of a file, read as if it were a file of its own.
struct Window<'a, R: Read + Seek> {
    inner: &'a mut R,
    start: u64,
    len: u64,
    pos: u64,
}

impl<R: Read + Seek> Read for Window<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        if want == 0 {
            return Ok(0);
        }
        self.inner.seek(SeekFrom::Start(self.start + self.pos))?;
        let n = self.inner.read(&mut buf[..want])?;
        self.pos += u64::try_from(n).unwrap_or(0);
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for Window<'_, R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(offset) => Some(offset),
            SeekFrom::End(delta) => self.len.checked_add_signed(delta),
            SeekFrom::Current(delta) => self.pos.checked_add_signed(delta),
        };
        self.pos = target.ok_or_else(|| io::Error::other("seek before the partition's start"))?;
        Ok(self.pos)
    }
}

/// Facts from a kernel image's header.
fn kernel_summary(head: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if head.get(0x202..0x206) == Some(b"HdrS") {
        out.push(("architecture".to_owned(), "x86 bzImage".to_owned()));
        let u16_at = |o: usize| head.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
        if let Some(version) = u16_at(0x206) {
            out.push((
                "boot protocol".to_owned(),
                format!("{}.{:02}", version >> 8, version & 0xff),
            ));
        }
        // kernel_version: offset of a NUL-terminated string, minus 0x200.
        if let Some(offset) = u16_at(0x20e).filter(|o| *o != 0) {
            let start = usize::from(offset) + 0x200;
            if let Some(rest) = head.get(start..) {
                let end = rest.iter().position(|b| *b == 0).unwrap_or(rest.len()).min(256);
                out.push(("version".to_owned(), String::from_utf8_lossy(&rest[..end]).into()));
            }
        }
    } else if head.get(0x38..0x3c) == Some(b"ARM\x64") {
        out.push(("architecture".to_owned(), "arm64 Image".to_owned()));
    } else {
        out.push(("architecture".to_owned(), "riscv64 Image".to_owned()));
    }
    out
}

/// One [`Entry`] per node of `tree`, the root first, in walk order.
pub fn entries(tree: &Tree) -> Vec<Entry> {
    let mut out = Vec::new();
    let root = formats::tree::Node::new(NodeKind::Dir(Default::default()), tree.root_meta.clone());
    out.push(entry(b"", &root));
    let _ = tree.walk::<()>(&mut |path, node| {
        out.push(entry(path, node));
        Ok(())
    });
    out
}

fn entry(path: &[u8], node: &formats::tree::Node) -> Entry {
    let (kind, size, sha256, target, device) = match &node.kind {
        NodeKind::Dir(_) => ("dir", None, None, None, None),
        NodeKind::File(content) => {
            ("file", Some(content.len()), Some(content_hash(content)), None, None)
        }
        NodeKind::Symlink(target) => {
            ("symlink", None, None, Some(String::from_utf8_lossy(target).into_owned()), None)
        }
        NodeKind::HardLink(target) => {
            ("hardlink", None, None, Some(formats::dump::display_path(target)), None)
        }
        NodeKind::CharDevice { major, minor } => {
            ("char", None, None, None, Some(format!("{major},{minor}")))
        }
        NodeKind::BlockDevice { major, minor } => {
            ("block", None, None, None, Some(format!("{major},{minor}")))
        }
        NodeKind::Fifo => ("fifo", None, None, None, None),
    };
    Entry {
        path: formats::dump::display_path(path),
        kind,
        mode: node.meta.mode,
        uid: node.meta.uid,
        gid: node.meta.gid,
        mtime: node.meta.mtime,
        size,
        sha256,
        target,
        device,
        xattrs: node.meta.xattrs.iter().map(|(k, v)| (k.clone(), hex::encode(v))).collect(),
    }
}

fn content_hash(content: &Content) -> String {
    let mut hasher = Sha256::new();
    if let Ok(mut reader) = content.open(&NoBlobs) {
        let mut buf = [0u8; 64 * 1024];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
    }
    hex::encode(hasher.finalize())
}

/// One line of the listing: like the test dump, with the full SHA-256.
pub fn entry_line(entry: &Entry) -> String {
    let mut line = format!(
        "{:<8} {:04o} {}:{} {} {} {} {}",
        entry.kind,
        entry.mode,
        entry.uid,
        entry.gid,
        entry.mtime,
        entry.size.map_or("-".to_owned(), |s| s.to_string()),
        entry.sha256.as_deref().unwrap_or("-"),
        entry.path
    );
    match (entry.kind, &entry.target) {
        ("symlink", Some(target)) => line.push_str(&format!(" -> {target}")),
        (_, Some(target)) => line.push_str(&format!(" => {target}")),
        _ => {}
    }
    if let Some(device) = &entry.device {
        line.push_str(&format!(" dev={device}"));
    }
    for (name, value) in &entry.xattrs {
        line.push_str(&format!(" xattr:{name}={value}"));
    }
    line
}

/// The first difference between two listings, in path order: a path only one side has, or
/// the first field that differs. The root (`/`) is compared only when both list it (archives
/// have no root entry).
pub fn first_difference(a: &[Entry], b: &[Entry]) -> Option<String> {
    let a_map: BTreeMap<&str, &Entry> = a.iter().map(|e| (e.path.as_str(), e)).collect();
    let b_map: BTreeMap<&str, &Entry> = b.iter().map(|e| (e.path.as_str(), e)).collect();
    let mut paths: Vec<&str> = a_map.keys().chain(b_map.keys()).copied().collect();
    paths.sort_unstable();
    paths.dedup();
    for path in paths {
        match (a_map.get(path), b_map.get(path)) {
            (Some(_), None) | (None, Some(_)) if path == "/" => {}
            (Some(_), None) => return Some(format!("{path}: only in the first")),
            (None, Some(_)) => return Some(format!("{path}: only in the second")),
            (Some(x), Some(y)) => {
                if let Some(field) = differing_field(x, y) {
                    return Some(format!("{path}: {field}"));
                }
            }
            (None, None) => {}
        }
    }
    None
}

fn differing_field(x: &Entry, y: &Entry) -> Option<String> {
    fn show<T: std::fmt::Debug>(value: &Option<T>) -> String {
        value.as_ref().map_or("none".to_owned(), |v| format!("{v:?}"))
    }
    if x.kind != y.kind {
        return Some(format!("type {} != {}", x.kind, y.kind));
    }
    if x.mode != y.mode {
        return Some(format!("mode {:04o} != {:04o}", x.mode, y.mode));
    }
    if x.uid != y.uid {
        return Some(format!("uid {} != {}", x.uid, y.uid));
    }
    if x.gid != y.gid {
        return Some(format!("gid {} != {}", x.gid, y.gid));
    }
    if x.size != y.size {
        return Some(format!("size {} != {}", show(&x.size), show(&y.size)));
    }
    if x.sha256 != y.sha256 {
        return Some(format!("sha256 {} != {}", show(&x.sha256), show(&y.sha256)));
    }
    if x.target != y.target {
        return Some(format!("target {} != {}", show(&x.target), show(&y.target)));
    }
    if x.device != y.device {
        return Some(format!("device {} != {}", show(&x.device), show(&y.device)));
    }
    if x.xattrs != y.xattrs {
        let names: Vec<&String> = x.xattrs.keys().chain(y.xattrs.keys()).collect();
        let name = names.into_iter().find(|n| x.xattrs.get(*n) != y.xattrs.get(*n));
        return Some(format!("xattr {}", name.map_or("", |n| n.as_str())));
    }
    if x.mtime != y.mtime {
        return Some(format!("mtime {} != {}", x.mtime, y.mtime));
    }
    None
}

fn read_up_to(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn hash(reader: &mut dyn Read) -> io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use formats::testutil::tree_from_fixture;

    fn listing(fixture: &str) -> Vec<Entry> {
        entries(&tree_from_fixture(fixture).unwrap())
    }

    #[test]
    fn magic_bytes_decide_the_kind() {
        let mut tar = formats::tar::to_vec(
            &tree_from_fixture("//- /a\nx\n").unwrap(),
            &NoBlobs,
            &formats::tar::TarOptions { pax_origin: false },
        )
        .unwrap();
        assert_eq!(detect(&tar), Some(ArtifactKind::Tar));
        tar.truncate(100);
        assert_eq!(detect(&tar), None);
        assert_eq!(detect(b"hsqs...."), Some(ArtifactKind::Squashfs));
        assert_eq!(detect(b"070701000"), Some(ArtifactKind::Initrd));
        let mut iso = vec![0u8; 0x8006];
        iso[0x8001..0x8006].copy_from_slice(b"CD001");
        assert_eq!(detect(&iso), Some(ArtifactKind::Iso));
        let mut erofs = vec![0u8; 2048];
        erofs[1024..1028].copy_from_slice(&0xe0f5_e1e2u32.to_le_bytes());
        assert_eq!(detect(&erofs), Some(ArtifactKind::Erofs));
    }

    #[test]
    fn differences_name_the_first_path_and_field() {
        let a = listing("//- /etc/hostname\nkit\n//- /etc/motd\nhi\n");
        assert_eq!(first_difference(&a, &a), None);
        let b = listing("//- /etc/hostname\nkit!\n//- /etc/motd mode=0600\nhi\n");
        assert_eq!(first_difference(&a, &b).unwrap(), "/etc/hostname: size 4 != 5");
        let c = listing("//- /etc/hostname\nkit\n//- /etc/motd mode=0600\nhi\n");
        assert_eq!(first_difference(&a, &c).unwrap(), "/etc/motd: mode 0644 != 0600");
        let d = listing("//- /etc/hostname\nkit\n");
        assert_eq!(first_difference(&a, &d).unwrap(), "/etc/motd: only in the first");
        let e = listing("//- /etc/hostname\nkit\n//- /etc/motd xattr.user.a=b\nhi\n");
        assert_eq!(first_difference(&a, &e).unwrap(), "/etc/motd: xattr user.a");
    }

    #[test]
    fn lines_carry_the_full_hash_and_payload() {
        let entries = listing("//- /bin/sh symlink=busybox\n//- /dev/null char=1,3 mode=0666\n");
        let lines: Vec<String> = entries.iter().map(entry_line).collect();
        assert_eq!(
            lines,
            [
                "dir      0755 0:0 0 - - /",
                "dir      0755 0:0 0 - - /bin",
                "symlink  0777 0:0 0 - - /bin/sh -> busybox",
                "dir      0755 0:0 0 - - /dev",
                "char     0666 0:0 0 - - /dev/null dev=1,3",
            ]
        );
        let file = &listing("//- /a\nkit\n")[1];
        // sha256sum of "kit\n".
        assert_eq!(
            file.sha256.as_deref(),
            Some("5a1f0dc9b09da1daee5b65c990c6a23d1570cda815f4647c92b3d2021f903df8")
        );
    }
}

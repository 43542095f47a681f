//! The kernel image contract (reference/linuxkit.md §1.3, §2.6, §10 fact 8; LinuxKit's
//! `kernelFilter` in `moby/build/build.go`).
//!
//! From the kernel image's root kit takes the kernel (`binary`, default `kernel`), the modules tar
//! (`tar`, default `kernel.tar`; `none` or `""` for none) and an optional microcode cpio (`ucode`).
//! It writes `boot` (0755), `boot/cmdline` (0644, verbatim), `boot/kernel` (the image file's mode)
//! and `boot/ucode.cpio`, all owned by root with the fixed time, and appends the tar's entries
//! (names like `./lib/modules/...`) into `/` with their own metadata.
//! Everything else in the kernel image is ignored.
//!
//! A missing kernel or a missing tar (when one is expected) is an error, as in LinuxKit; a
//! missing ucode file is silently skipped, as in LinuxKit.
//! Tar entries are referenced as byte ranges of the tar's own content, never copied, except when
//! the tar itself is held inline.

use std::io::Read;
use std::sync::Arc;

use formats::tree::{BlobRange, Content, ContentSource, Dir, Meta, Node, NodeKind, Origin, Tree};

use crate::config::Kernel;
use crate::linuxkit::{Error, place};

/// What the kernel section contributes.
#[derive(Debug, Clone)]
pub struct KernelParts {
    /// `boot/` and the tar's entries, to overlay at `/`.
    pub root: Dir,
    /// The kernel file.
    pub kernel: Content,
    /// The microcode cpio, if configured and present.
    pub ucode: Option<Content>,
}

/// Extracts the kernel, cmdline, ucode and modules tar from the kernel image `tree` (named
/// `image` in errors and origins).
pub fn kernel_parts(
    kernel: &Kernel,
    image: &str,
    tree: &Tree,
    source: &dyn ContentSource,
    epoch: i64,
) -> Result<KernelParts, Error> {
    let origin = place::origin(image, "kernel");
    let binary = kernel.binary.as_deref().filter(|b| !b.is_empty()).unwrap_or("kernel");
    let tar_name = match kernel.tar.as_deref() {
        None => Some("kernel.tar"),
        Some("none") | Some("") => None,
        Some(name) => Some(name),
    };
    let ucode_name = kernel.ucode.as_deref().filter(|u| !u.is_empty());

    let (kernel_content, kernel_mode) = match file_at(tree, binary) {
        Some(found) => found,
        None => {
            return Err(Error::KernelNotFound {
                image: image.to_string(),
                binary: binary.to_string(),
            });
        }
    };

    let mut root = Dir::new();
    let mut boot = Dir::new();
    let inline = |data: &[u8]| Content::Inline(Arc::from(data));
    boot.insert(
        b"cmdline".to_vec(),
        Node {
            kind: NodeKind::File(inline(kernel.cmdline.as_deref().unwrap_or_default().as_bytes())),
            meta: Meta::new(0o644, epoch),
            origin: origin.clone(),
        },
    );
    boot.insert(
        b"kernel".to_vec(),
        Node {
            kind: NodeKind::File(kernel_content.clone()),
            meta: Meta::new(kernel_mode, epoch),
            origin: origin.clone(),
        },
    );
    let mut ucode = None;
    if let Some(name) = ucode_name
        && let Some((content, mode)) = file_at(tree, name)
    {
        boot.insert(
            b"ucode.cpio".to_vec(),
            Node {
                kind: NodeKind::File(content.clone()),
                meta: Meta::new(mode, epoch),
                origin: origin.clone(),
            },
        );
        ucode = Some(content);
    }
    root.insert(
        b"boot".to_vec(),
        Node { kind: NodeKind::Dir(boot), meta: Meta::new(0o755, epoch), origin: origin.clone() },
    );

    if let Some(tar_name) = tar_name {
        let Some((tar_content, _)) = file_at(tree, tar_name) else {
            return Err(Error::KernelTarNotFound {
                image: image.to_string(),
                tar: tar_name.to_string(),
            });
        };
        let entries = tar_entries(&tar_content, source, &origin, epoch).map_err(|problem| {
            Error::KernelTar { image: image.to_string(), tar: tar_name.to_string(), problem }
        })?;
        place::overlay(&mut root, entries);
    }
    Ok(KernelParts { root, kernel: kernel_content, ucode })
}

/// A regular file of the image root (or below it) and its permission bits.
fn file_at(tree: &Tree, path: &str) -> Option<(Content, u32)> {
    match tree.get(path.as_bytes()) {
        Some(Node { kind: NodeKind::File(content), meta, .. }) => {
            Some((content.clone(), meta.mode))
        }
        _ => None,
    }
}

/// Reads a tar held in `content` into a directory of nodes that reference the tar's bytes.
/// Missing parent directories are created 0755, root-owned, at `epoch`.
pub fn tar_entries(
    content: &Content,
    source: &dyn ContentSource,
    origin: &Option<Arc<Origin>>,
    epoch: i64,
) -> Result<Dir, String> {
    let reader = content.open(source).map_err(|e| format!("cannot open: {e}"))?;
    let mut archive = tar::Archive::new(reader);
    let mut root = Dir::new();
    let entries = archive.entries().map_err(|e| format!("cannot read tar: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("cannot read tar entry: {e}"))?;
        if entry.header().entry_type() == tar::EntryType::XGlobalHeader {
            continue;
        }
        let path = entry.path_bytes().into_owned();
        let display = String::from_utf8_lossy(&path).into_owned();
        let parts = place::components(&path);
        if parts.iter().any(|part| *part == b"..") {
            return Err(format!("entry {display:?} escapes the root"));
        }
        let Some((last, parents)) = parts.split_last() else { continue };
        let header = entry.header();
        let mode = header.mode().map_err(|e| format!("entry {display:?}: bad mode: {e}"))? & 0o7777;
        let uid = id(header.uid(), &display)?;
        let gid = id(header.gid(), &display)?;
        let mtime = header
            .mtime()
            .ok()
            .and_then(|mtime| i64::try_from(mtime).ok())
            .ok_or_else(|| format!("entry {display:?}: bad mtime"))?;
        let meta = Meta { mode, uid, gid, mtime, xattrs: Default::default() };
        let entry_type = header.entry_type();
        let link = || -> Result<Vec<u8>, String> {
            match entry.link_name_bytes() {
                Some(link) => Ok(link.into_owned()),
                None => Err(format!("entry {display:?}: link without a target")),
            }
        };
        let device = || -> Result<(u32, u32), String> {
            let major = header.device_major().ok().flatten().unwrap_or(0);
            let minor = header.device_minor().ok().flatten().unwrap_or(0);
            Ok((major, minor))
        };
        let kind = match entry_type {
            tar::EntryType::Directory => NodeKind::Dir(Dir::new()),
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let len = entry.size();
                let position = entry.raw_file_position();
                NodeKind::File(sub_content(content, position, len, &mut entry)?)
            }
            tar::EntryType::Symlink => NodeKind::Symlink(link()?),
            tar::EntryType::Link => {
                let target = link()?;
                NodeKind::HardLink(place::components(&target).join(&b'/'))
            }
            tar::EntryType::Char => {
                let (major, minor) = device()?;
                NodeKind::CharDevice { major, minor }
            }
            tar::EntryType::Block => {
                let (major, minor) = device()?;
                NodeKind::BlockDevice { major, minor }
            }
            tar::EntryType::Fifo => NodeKind::Fifo,
            other => {
                return Err(format!("entry {display:?}: unsupported tar entry type {other:?}"));
            }
        };
        let dir = place::dir_at(&mut root, parents, &Meta::new(0o755, epoch), origin);
        place::put(dir, last.to_vec(), Node { kind, meta, origin: origin.clone() });
    }
    Ok(root)
}

fn id(value: std::io::Result<u64>, display: &str) -> Result<u32, String> {
    value
        .ok()
        .and_then(|id| u32::try_from(id).ok())
        .ok_or_else(|| format!("entry {display:?}: bad uid or gid"))
}

/// The bytes `position..position + len` of `content`: a narrower blob range, or an inline slice.
fn sub_content(
    content: &Content,
    position: u64,
    len: u64,
    entry: &mut impl Read,
) -> Result<Content, String> {
    let end = position.checked_add(len).ok_or("entry extends past the tar")?;
    if end > content.len() {
        return Err(format!("entry data {position}..{end} extends past the tar"));
    }
    match content {
        Content::Blob(range) => {
            let offset = range.offset.checked_add(position).ok_or("blob offset overflows")?;
            Ok(Content::Blob(BlobRange { object: range.object.clone(), offset, len }))
        }
        Content::Inline(_) => {
            let mut data = Vec::new();
            entry.read_to_end(&mut data).map_err(|e| format!("cannot read entry data: {e}"))?;
            Ok(Content::Inline(Arc::from(data)))
        }
    }
}

//! The `files` section (reference/linuxkit.md §1.9; LinuxKit's `filesystem()` in
//! `moby/build/build.go`), applied after every image.
//!
//! Rules kept from LinuxKit: a leading `/` is stripped; exactly one content kind (`directory`,
//! `symlink`, `contents`, `source`, `metadata`) with the same conflict errors; `mode` is an octal
//! string defaulting to 0600 for files and 0700 for directories; `uid`/`gid` are numbers or
//! container names; `optional` skips a `source` that does not exist; every entry gets the fixed
//! time and the origin `linuxkit.files` / `files[i]`.
//!
//! Leading directories: LinuxKit writes a directory entry for every parent not yet written by
//! the files section itself, with the file's mode plus `x` wherever `r` or `w` is set, and the
//! file's owner. That re-emits directories such as `etc` (LinuxKit's own TODO says so). A tree
//! has one node per path, so kit creates missing parents with LinuxKit's rule but keeps an
//! existing directory's metadata (a documented fix).
//! An explicit `directory: true` entry over an existing directory sets its metadata and keeps
//! its content, as extracting LinuxKit's tar would.

use std::sync::Arc;

use formats::tree::{Content, Dir, Meta, Node, NodeKind};

use crate::config::File;
use crate::linuxkit::spec::{IdMap, numeric_id};
use crate::linuxkit::{Error, HostFiles, place};

/// Applies the `files` entries to `root`.
pub fn apply_files(
    root: &mut Dir,
    files: &[File],
    ids: &IdMap,
    host: &dyn HostFiles,
    epoch: i64,
) -> Result<(), Error> {
    for (index, file) in files.iter().enumerate() {
        let location = format!("files[{index}]");
        apply_file(root, file, &location, ids, host, epoch).map_err(|source| Error::InFile {
            location,
            path: file.path.clone(),
            source: Box::new(source),
        })?;
    }
    Ok(())
}

fn apply_file(
    root: &mut Dir,
    file: &File,
    location: &str,
    ids: &IdMap,
    host: &dyn HostFiles,
    epoch: i64,
) -> Result<(), Error> {
    if file.path.is_empty() {
        return Err(Error::FilePathMissing);
    }
    let path = file.path.strip_prefix('/').unwrap_or(&file.path);
    let directory = file.directory == Some(true);
    let default_mode = if directory { 0o700 } else { 0o600 };
    let mode = match file.mode.as_deref() {
        None | Some("") => default_mode,
        Some(text) => parse_mode(text).ok_or_else(|| Error::FileMode { mode: text.to_string() })?,
    };
    let uid = numeric_id(file.uid.as_ref(), ids)?;
    let gid = numeric_id(file.gid.as_ref(), ids)?;

    let symlink = file.symlink.as_deref().filter(|s| !s.is_empty());
    let source = file.source.as_deref().filter(|s| !s.is_empty());
    let metadata = file.metadata.as_deref().filter(|m| !m.is_empty());
    let mut contents = file.contents.as_ref().map(|text| text.as_bytes().to_vec());
    if !directory && symlink.is_none() && file.contents.is_none() {
        match (source, metadata) {
            (None, None) => return Err(Error::FileContentsMissing),
            (Some(_), Some(_)) => {
                return Err(Error::FileKindConflict { kinds: "source and metadata" });
            }
            (Some(source), None) => match host.read_source(source) {
                Ok(Some(bytes)) => contents = Some(bytes),
                Ok(None) if file.optional == Some(true) => return Ok(()),
                Ok(None) => {
                    return Err(Error::FileSourceMissing { source_path: source.to_string() });
                }
                Err(error) => {
                    return Err(Error::FileSourceRead { source_path: source.to_string(), error });
                }
            },
            (None, Some(format)) => match host.metadata(format) {
                Ok(bytes) => contents = Some(bytes),
                Err(message) => {
                    return Err(Error::Metadata { format: format.to_string(), message });
                }
            },
        }
    } else {
        if metadata.is_some() {
            return Err(Error::FileKindConflict { kinds: "contents and metadata" });
        }
        if source.is_some() {
            return Err(Error::FileKindConflict { kinds: "contents and source" });
        }
    }
    if directory && file.contents.is_some() {
        return Err(Error::FileKindConflict { kinds: "directory and contents" });
    }

    let origin = place::origin("linuxkit.files", location);
    let parent_meta = Meta { uid, gid, ..Meta::new(parent_mode(mode) & 0o7777, epoch) };
    let parts = place::components(path.as_bytes());
    let Some((last, parents)) = parts.split_last() else {
        return Err(Error::FilePathMissing);
    };
    let dir = place::dir_at(root, parents, &parent_meta, &origin);
    let meta = Meta { uid, gid, ..Meta::new(mode & 0o7777, epoch) };
    let kind = if directory {
        NodeKind::Dir(Dir::new())
    } else if let Some(target) = symlink {
        NodeKind::Symlink(target.as_bytes().to_vec())
    } else {
        NodeKind::File(Content::Inline(Arc::from(contents.unwrap_or_default())))
    };
    place::put(dir, last.to_vec(), Node { kind, meta, origin });
    Ok(())
}

/// Go's `strconv.ParseInt(text, 8, 32)` for a file mode.
fn parse_mode(text: &str) -> Option<u32> {
    let digits = text.strip_prefix('+').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return None;
    }
    u32::from_str_radix(digits, 8).ok().filter(|mode| *mode <= 0x7fff_ffff)
}

/// LinuxKit's leading-directory mode: the file's mode with `x` added in every class that has
/// any bit set (0600 gives 0700, 0644 gives 0755).
pub fn parent_mode(mode: u32) -> u32 {
    let mut dir_mode = mode;
    if dir_mode & 0o700 != 0 {
        dir_mode |= 0o100;
    }
    if dir_mode & 0o070 != 0 {
        dir_mode |= 0o010;
    }
    if dir_mode & 0o007 != 0 {
        dir_mode |= 0o001;
    }
    dir_mode
}

//! Reading one uncompressed layer tar into a list of changes, without copying file contents.
//!
//! Each regular file becomes a [`Content::Blob`] range of the layer (offset of its data in the
//! uncompressed tar stream, length), so memory grows with the number of entries, not their size.
//! The whole stream is read to its end, past the end-of-archive marker, so that a verifying reader
//! underneath (digest or `diff_id`) gets to check it before any change is applied.
//!
//! Names: PAX `path`/`linkpath` and GNU long names (through the `tar` crate); `./` and `/`
//! prefixes, empty and `.` components and trailing slashes are dropped; `..` is resolved
//! lexically, as Docker's `filepath.Clean` does, and a name that climbs above the root is an
//! error. Entries naming the root itself are ignored, as containerd ignores them.
//! Metadata: permission bits with setuid/setgid/sticky (`mode & 0o7777`), numeric uid/gid (PAX
//! `uid`/`gid` win), mtime (PAX `mtime` wins, fractions dropped toward negative infinity), PAX
//! `SCHILY.xattr.*` records as xattrs (libarchive's base64 `LIBARCHIVE.xattr.*` duplicates are
//! not read). User and group names are ignored (layers use numbers). Empty numeric fields read as
//! zero, as in Go's `archive/tar`.
//! Not supported: GNU sparse files and other exotic entry types (an error naming the entry);
//! PAX global headers are skipped.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::sync::Arc;

use formats::tree::{BlobRange, Content, Meta};

use super::MergeError;

/// The prefix of whiteout names (image-spec `layer.md`).
pub const WHITEOUT_PREFIX: &[u8] = b".wh.";
/// The name of the opaque-directory marker.
pub const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
/// The prefix of AUFS metadata names (`.wh..wh.plnk`, …), which are skipped.
const AUFS_META_PREFIX: &[u8] = b".wh..wh.";

/// A path inside the tree: components without `/`, never `.` or `..`.
pub type Components = Vec<Vec<u8>>;

/// One change a layer makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Create or replace the entry at `path`.
    Add {
        /// Where.
        path: Components,
        /// What.
        kind: AddKind,
        /// Its metadata.
        meta: Meta,
    },
    /// A hard link at `path` to the existing entry at `target`.
    Link {
        /// Where.
        path: Components,
        /// The existing entry it links to.
        target: Components,
    },
    /// `.wh.<name>`: delete `dir/<name>` (and its subtree) from lower layers.
    Whiteout {
        /// The directory holding the whiteout.
        dir: Components,
        /// The name it deletes.
        name: Vec<u8>,
    },
    /// `.wh..wh..opq`: hide every lower-layer entry of `dir`.
    Opaque {
        /// The opaque directory.
        dir: Components,
    },
}

/// What an [`Change::Add`] creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddKind {
    /// A directory (merged with an existing directory: its entries are kept).
    Dir,
    /// A regular file.
    File(Content),
    /// A symbolic link, target verbatim.
    Symlink(Vec<u8>),
    /// A character device.
    CharDevice {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A block device.
    BlockDevice {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A named pipe.
    Fifo,
}

/// Reads every entry of the layer `object` from `reader` (an uncompressed tar) to the end.
pub fn read_changes(object: &Arc<str>, reader: impl Read) -> Result<Vec<Change>, MergeError> {
    let read_error = |source| MergeError::Read { layer: object.to_string(), source };
    let mut archive = tar::Archive::new(reader);
    let mut changes = Vec::new();
    for entry in archive.entries().map_err(read_error)? {
        let mut entry = entry.map_err(read_error)?;
        if let Some(change) = change_of(object, &mut entry)? {
            changes.push(change);
        }
    }
    // The tar reader stops at the end-of-archive marker; read the rest so that verifying readers
    // underneath see the end of the stream and check it.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(read_error)?;
    Ok(changes)
}

fn change_of<R: Read>(
    object: &Arc<str>,
    entry: &mut tar::Entry<'_, R>,
) -> Result<Option<Change>, MergeError> {
    let raw_path = entry.path_bytes().into_owned();
    let shown = String::from_utf8_lossy(&raw_path).into_owned();
    let entry_error = |problem: String| MergeError::Entry {
        layer: object.to_string(),
        path: shown.clone(),
        problem,
    };
    let entry_type = entry.header().entry_type();
    if entry_type.is_pax_global_extensions() {
        return Ok(None);
    }
    let Some(path) = clean(&raw_path) else {
        return Err(entry_error("path climbs above the root with `..`".to_owned()));
    };
    let Some((name, dir)) = path.split_last() else {
        return Ok(None); // The root itself.
    };
    if name.as_slice() == OPAQUE_MARKER {
        return Ok(Some(Change::Opaque { dir: dir.to_vec() }));
    }
    if name.starts_with(AUFS_META_PREFIX) {
        return Ok(None);
    }
    if let Some(deleted) = name.strip_prefix(WHITEOUT_PREFIX) {
        if deleted.is_empty() {
            return Err(entry_error("whiteout `.wh.` names no entry".to_owned()));
        }
        return Ok(Some(Change::Whiteout { dir: dir.to_vec(), name: deleted.to_vec() }));
    }

    let meta = meta_of(entry).map_err(|e| entry_error(e.to_string()))?;
    let header = entry.header();
    let device = |header: &tar::Header| -> io::Result<(u32, u32)> {
        let (raw_major, raw_minor) = match (header.as_ustar(), header.as_gnu()) {
            (Some(h), _) => (&h.dev_major[..], &h.dev_minor[..]),
            (None, Some(h)) => (&h.dev_major[..], &h.dev_minor[..]),
            (None, None) => (&[][..], &[][..]),
        };
        let major = or_zero(header.device_major(), raw_major)?.unwrap_or(0);
        let minor = or_zero(header.device_minor(), raw_minor)?.unwrap_or(0);
        Ok((major, minor))
    };
    let kind = match entry_type {
        tar::EntryType::Regular | tar::EntryType::Continuous => {
            let len = entry.size();
            if len == 0 {
                AddKind::File(Content::Inline(Arc::from(&[][..])))
            } else {
                AddKind::File(Content::Blob(BlobRange {
                    object: object.clone(),
                    offset: entry.raw_file_position(),
                    len,
                }))
            }
        }
        tar::EntryType::Directory => AddKind::Dir,
        tar::EntryType::Symlink => {
            let target = entry.link_name_bytes().map(|t| t.into_owned()).unwrap_or_default();
            AddKind::Symlink(target)
        }
        tar::EntryType::Link => {
            let target = entry.link_name_bytes().map(|t| t.into_owned()).unwrap_or_default();
            let Some(target) = clean(&target).filter(|t| !t.is_empty()) else {
                return Err(entry_error(format!(
                    "hard link target {:?} is not a path inside the layer",
                    String::from_utf8_lossy(&target)
                )));
            };
            return Ok(Some(Change::Link { path, target }));
        }
        tar::EntryType::Char => {
            let (major, minor) = device(header).map_err(|e| entry_error(e.to_string()))?;
            AddKind::CharDevice { major, minor }
        }
        tar::EntryType::Block => {
            let (major, minor) = device(header).map_err(|e| entry_error(e.to_string()))?;
            AddKind::BlockDevice { major, minor }
        }
        tar::EntryType::Fifo => AddKind::Fifo,
        other => {
            return Err(entry_error(format!(
                "unsupported entry type {:?} (expected a file, directory, link, device or fifo)",
                char::from(other.as_byte())
            )));
        }
    };
    Ok(Some(Change::Add { path, kind, meta }))
}

fn meta_of<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<Meta> {
    let header = entry.header();
    let old = header.as_old();
    let mode = or_zero(header.mode(), &old.mode)? & 0o7777;
    let uid = or_zero(header.uid(), &old.uid)?;
    let gid = or_zero(header.gid(), &old.gid)?;
    let mut mtime = i64::try_from(or_zero(header.mtime(), &old.mtime)?).unwrap_or(i64::MAX);
    let mut xattrs = BTreeMap::new();
    if let Some(extensions) = entry.pax_extensions()? {
        for extension in extensions {
            let extension = extension?;
            let Ok(key) = extension.key() else { continue };
            if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                xattrs.insert(name.to_owned(), extension.value_bytes().to_vec());
            } else if key == "mtime" {
                let value = extension.value().map_err(|_| invalid("PAX mtime is not UTF-8"))?;
                mtime = parse_pax_time(value)
                    .ok_or_else(|| invalid(&format!("PAX mtime {value:?} is not a number")))?;
            }
        }
    }
    let uid =
        u32::try_from(uid).map_err(|_| invalid(&format!("uid {uid} does not fit in 32 bits")))?;
    let gid =
        u32::try_from(gid).map_err(|_| invalid(&format!("gid {gid} does not fit in 32 bits")))?;
    Ok(Meta { mode, uid, gid, mtime, xattrs })
}

/// A numeric header field, or zero when the field is empty (only NULs and spaces), as Go's
/// `archive/tar` (Docker, containerd) reads it; the `tar` crate calls that an error.
fn or_zero<T: Default>(value: io::Result<T>, raw: &[u8]) -> io::Result<T> {
    match value {
        Err(_) if raw.iter().all(|b| *b == 0 || *b == b' ') => Ok(T::default()),
        other => other,
    }
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_owned())
}

/// Seconds of a PAX time (`1700000000.5`, `-1.25`), rounded toward negative infinity.
fn parse_pax_time(value: &str) -> Option<i64> {
    let (int_part, frac) = match value.split_once('.') {
        Some((i, f)) => (i, f),
        None => (value, ""),
    };
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seconds: i64 = int_part.parse().ok()?;
    let has_fraction = frac.bytes().any(|b| b != b'0');
    if int_part.starts_with('-') && has_fraction { seconds.checked_sub(1) } else { Some(seconds) }
}

/// Normalizes a tar path: drops `/` prefixes, empty and `.` components; resolves `..`
/// lexically. `None` when `..` climbs above the root.
pub fn clean(path: &[u8]) -> Option<Components> {
    let mut components: Components = Vec::new();
    for component in path.split(|b| *b == b'/') {
        match component {
            b"" | b"." => {}
            b".." => {
                components.pop()?;
            }
            name => components.push(name.to_vec()),
        }
    }
    Some(components)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_paths() {
        let show = |p: &str| {
            clean(p.as_bytes()).map(|c| {
                c.iter()
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .collect::<Vec<_>>()
                    .join("|")
            })
        };
        assert_eq!(show("./etc/passwd").as_deref(), Some("etc|passwd"));
        assert_eq!(show("/etc//ssl/./certs/").as_deref(), Some("etc|ssl|certs"));
        assert_eq!(show("a/../b").as_deref(), Some("b"));
        assert_eq!(show("./").as_deref(), Some(""));
        assert_eq!(show("../etc/passwd"), None);
        assert_eq!(show("a/../../b"), None);
    }

    #[test]
    fn pax_times() {
        assert_eq!(parse_pax_time("1700000000"), Some(1_700_000_000));
        assert_eq!(parse_pax_time("1700000000.75"), Some(1_700_000_000));
        assert_eq!(parse_pax_time("-1.25"), Some(-2));
        assert_eq!(parse_pax_time("-1.000"), Some(-1));
        assert_eq!(parse_pax_time("x"), None);
        assert_eq!(parse_pax_time("1.x"), None);
    }
}

//! Reading a tar archive into a tree, entry by entry, as extraction would.
//!
//! The `tar` crate parses headers (checksums, octal and base-256 numbers, the ustar prefix) and
//! reads data, in raw mode; extension headers are handled here: PAX `x` records (parsed by
//! length, see [`super::pax`]), global `g` headers (skipped), GNU `L`/`K` long names.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;

use crate::dump::display_path;
use crate::extract::{TreeBuilder, origin};
use crate::tar::{Error, pax};
use crate::tree::{Content, Dir, Meta, Node, NodeKind, Tree};

/// Largest extension header (PAX records or GNU long name) accepted.
const MAX_EXTENSION_BYTES: u64 = 1 << 20;

/// What the extension headers before an entry say about it.
#[derive(Default)]
struct Extensions {
    path: Option<Vec<u8>>,
    link: Option<Vec<u8>>,
    uid: Option<u64>,
    gid: Option<u64>,
    size: Option<u64>,
    mtime: Option<i64>,
    xattrs: BTreeMap<String, Vec<u8>>,
    source: Option<String>,
    location: Option<String>,
}

pub(crate) fn read(input: &mut dyn Read) -> Result<Tree, Error> {
    let mut archive = tar::Archive::new(input);
    let mut builder = TreeBuilder::new();
    let entries = archive.entries().map_err(|source| Error::Parse { entry_idx: 0, source })?;
    let mut pending = Extensions::default();
    let mut entry_idx = 0;
    for entry in entries.raw(true) {
        let mut entry = entry.map_err(|source| Error::Parse { entry_idx, source })?;
        let header = entry.header().clone();
        let raw_name = header.path_bytes().into_owned();
        let type_flag = header.entry_type().as_byte();
        if matches!(type_flag, b'x' | b'g' | b'L' | b'K') {
            let data = read_extension(&mut entry, &header, &raw_name)?;
            match type_flag {
                b'x' => apply_pax(&mut pending, &data, &raw_name)?,
                b'L' => pending.path = Some(trim_nul(data)),
                b'K' => pending.link = Some(trim_nul(data)),
                // Global PAX records would apply to every later entry; kit never writes them
                // and none of their keys matter here, so they are skipped.
                _ => {}
            }
            continue;
        }
        let extensions = std::mem::take(&mut pending);
        let path = extensions.path.clone().unwrap_or(raw_name);
        read_entry(&mut builder, &mut entry, &header, path, extensions)?;
        entry_idx += 1;
    }
    Ok(builder.finish())
}

fn read_entry(
    builder: &mut TreeBuilder,
    entry: &mut dyn Read,
    header: &tar::Header,
    path: Vec<u8>,
    extensions: Extensions,
) -> Result<(), Error> {
    let shown = display_path(&path);
    let field = |field: &str, value: String, expected: &'static str| Error::Field {
        path: shown.clone(),
        field: field.to_owned(),
        value,
        expected,
    };
    let number = |name: &str, value: std::io::Result<u64>| {
        value.map_err(|err| field(name, err.to_string(), "an octal or base-256 number"))
    };
    let mode = u32::try_from(number("mode", header.mode().map(u64::from))? & 0o7777)
        .map_err(|_| field("mode", String::new(), "permission bits"))?;
    let uid = match extensions.uid {
        Some(uid) => uid,
        None => number("uid", header.uid())?,
    };
    let uid = u32::try_from(uid).map_err(|_| field("uid", uid.to_string(), "a 32-bit id"))?;
    let gid = match extensions.gid {
        Some(gid) => gid,
        None => number("gid", header.gid())?,
    };
    let gid = u32::try_from(gid).map_err(|_| field("gid", gid.to_string(), "a 32-bit id"))?;
    let mtime = match extensions.mtime {
        Some(mtime) => mtime,
        None => {
            let mtime = number("mtime", header.mtime())?;
            i64::try_from(mtime).map_err(|_| field("mtime", mtime.to_string(), "below 2^63"))?
        }
    };
    let size = number("size", header.entry_size())?;
    if let Some(pax_size) = extensions.size
        && pax_size != size
    {
        return Err(field(
            "PAX record size",
            pax_size.to_string(),
            "the header's size (larger PAX sizes are not supported)",
        ));
    }
    let link = extensions.link.clone().or_else(|| header.link_name_bytes().map(|l| l.into_owned()));
    let link_target = || link.clone().ok_or_else(|| field("linkname", String::new(), "a target"));
    let device = || -> Result<(u32, u32), Error> {
        let major = header.device_major().map_err(|e| field("devmajor", e.to_string(), "octal"))?;
        let minor = header.device_minor().map_err(|e| field("devminor", e.to_string(), "octal"))?;
        Ok((major.unwrap_or(0), minor.unwrap_or(0)))
    };
    let kind = match header.entry_type().as_byte() {
        b'0' | b'\0' | b'7' => {
            let mut data = Vec::new();
            entry
                .read_to_end(&mut data)
                .map_err(|source| Error::ReadEntry { path: shown.clone(), source })?;
            if u64::try_from(data.len()).ok() != Some(size) {
                return Err(field("data", data.len().to_string(), "as many bytes as the size"));
            }
            NodeKind::File(Content::Inline(Arc::from(data)))
        }
        b'1' => NodeKind::HardLink(link_target()?),
        b'2' => NodeKind::Symlink(link_target()?),
        b'3' => {
            let (major, minor) = device()?;
            NodeKind::CharDevice { major, minor }
        }
        b'4' => {
            let (major, minor) = device()?;
            NodeKind::BlockDevice { major, minor }
        }
        b'5' => NodeKind::Dir(Dir::new()),
        b'6' => NodeKind::Fifo,
        other => {
            return Err(Error::UnsupportedEntry { path: shown, type_flag: char::from(other) });
        }
    };
    let meta = Meta { mode, uid, gid, mtime, xattrs: extensions.xattrs };
    let node = Node { kind, meta, origin: origin(extensions.source, extensions.location) };
    builder.insert(&path, node)?;
    Ok(())
}

fn read_extension(
    entry: &mut dyn Read,
    header: &tar::Header,
    raw_name: &[u8],
) -> Result<Vec<u8>, Error> {
    let shown = display_path(raw_name);
    let size =
        header.entry_size().map_err(|source| Error::ReadEntry { path: shown.clone(), source })?;
    if size > MAX_EXTENSION_BYTES {
        return Err(Error::Field {
            path: shown,
            field: "extension header size".to_owned(),
            value: size.to_string(),
            expected: "at most 1 MiB",
        });
    }
    let mut data = Vec::new();
    entry.read_to_end(&mut data).map_err(|source| Error::ReadEntry { path: shown, source })?;
    Ok(data)
}

fn apply_pax(pending: &mut Extensions, data: &[u8], raw_name: &[u8]) -> Result<(), Error> {
    let shown = display_path(raw_name);
    let records = pax::parse(data).map_err(|err| Error::Field {
        path: shown.clone(),
        field: "PAX extended header".to_owned(),
        value: err.to_string(),
        expected: "well-formed records",
    })?;
    for (key, value) in records {
        let bad = |expected| Error::Field {
            path: shown.clone(),
            field: format!("PAX record {key}"),
            value: String::from_utf8_lossy(&value).into_owned(),
            expected,
        };
        let decimal = || -> Result<u64, Error> {
            std::str::from_utf8(&value)
                .ok()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| bad("a decimal number"))
        };
        let text = || String::from_utf8(value.clone()).map_err(|_| bad("UTF-8 text"));
        if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
            pending.xattrs.insert(name.to_owned(), value.clone());
            continue;
        }
        match key.as_str() {
            "path" => pending.path = Some(value),
            "linkpath" => pending.link = Some(value),
            "uid" => pending.uid = Some(decimal()?),
            "gid" => pending.gid = Some(decimal()?),
            "size" => pending.size = Some(decimal()?),
            "mtime" => pending.mtime = Some(parse_mtime(&value).ok_or_else(|| bad("seconds"))?),
            "LINUXKIT.source" => pending.source = Some(text()?),
            "LINUXKIT.location" => pending.location = Some(text()?),
            _ if key.starts_with("GNU.sparse.") => {
                return Err(bad("no GNU sparse records (sparse files are not supported)"));
            }
            // atime, ctime, uname, gname, comment, charset... do not change the tree.
            _ => {}
        }
    }
    Ok(())
}

fn trim_nul(mut data: Vec<u8>) -> Vec<u8> {
    while data.last() == Some(&0) {
        data.pop();
    }
    data
}

/// Parses a PAX `mtime` value (`[-]seconds[.fraction]`), rounding down to whole seconds.
fn parse_mtime(value: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(value).ok()?;
    let (seconds, fraction) = text.split_once('.').unwrap_or((text, ""));
    let seconds: i64 = seconds.parse().ok()?;
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let has_fraction = fraction.bytes().any(|b| b != b'0');
    if text.starts_with('-') && has_fraction { seconds.checked_sub(1) } else { Some(seconds) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mtime_rounds_down() {
        assert_eq!(parse_mtime(b"12"), Some(12));
        assert_eq!(parse_mtime(b"12.75"), Some(12));
        assert_eq!(parse_mtime(b"-12.25"), Some(-13));
        assert_eq!(parse_mtime(b"-12.000"), Some(-12));
        assert_eq!(parse_mtime(b"x"), None);
    }
}

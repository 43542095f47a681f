//! Encoding one planned entry as a ustar header plus PAX records.
//!
//! Field layout (POSIX.1-1988 ustar, 512-byte block): name[100] mode[8] uid[8] gid[8] size[12]
//! mtime[12] chksum[8] typeflag[1] linkname[100] magic[6]="ustar\0" version[2]="00" uname[32]
//! gname[32] devmajor[8] devminor[8] prefix[155]. Numeric fields are zero-padded octal ending
//! in NUL; values that do not fit go into PAX records instead (see the module documentation).
//! The `prefix` field is never used: long paths always go into a PAX `path` record.

use tar::{EntryType, Header};

use crate::dump::display_path;
use crate::tar::Error;
use crate::tar::TarOptions;
use crate::tar::pax::PaxRecords;
use crate::tar::plan::{Body, PlannedEntry};

/// Largest value of an 8-byte numeric field (7 octal digits).
pub(crate) const MAX_OCTAL_8: u64 = 0o777_7777;
/// Largest value of a 12-byte numeric field (11 octal digits).
pub(crate) const MAX_OCTAL_12: u64 = 0o777_7777_7777;
/// Length of the `name` and `linkname` fields.
const NAME_BYTES: usize = 100;

/// Builds the header and PAX records of `entry`.
pub(crate) fn encode(
    entry: &PlannedEntry<'_>,
    options: &TarOptions,
) -> Result<(Header, PaxRecords), Error> {
    let path = display_path(&entry.path);
    let mut pax = PaxRecords::new();
    let mut header = Header::new_ustar();

    check_name(&entry.path, &path, "path")?;
    set_name(&mut header, &entry.path, false, &mut pax);

    let meta = entry.meta;
    if meta.mode > 0o7777 {
        return Err(Error::InvalidMode { path, mode: meta.mode });
    }
    header.set_mode(meta.mode);
    set_id(&mut header, u64::from(meta.uid), "uid", &mut pax);
    set_id(&mut header, u64::from(meta.gid), "gid", &mut pax);
    set_mtime(&mut header, meta.mtime, &mut pax);

    let (entry_type, size, device) = match &entry.body {
        Body::Dir => (EntryType::Directory, 0, None),
        Body::File(content) => (EntryType::Regular, content.len(), None),
        Body::HardLink(leader) => {
            check_name(leader, &path, "link target")?;
            set_name(&mut header, leader, true, &mut pax);
            (EntryType::Link, 0, None)
        }
        Body::Symlink(target) => {
            check_name(target, &path, "link target")?;
            set_name(&mut header, target, true, &mut pax);
            (EntryType::Symlink, 0, None)
        }
        Body::Char { major, minor } => (EntryType::Char, 0, Some((*major, *minor))),
        Body::Block { major, minor } => (EntryType::Block, 0, Some((*major, *minor))),
        Body::Fifo => (EntryType::Fifo, 0, None),
    };
    header.set_entry_type(entry_type);
    if size > MAX_OCTAL_12 {
        pax.insert("size".to_owned(), size.to_string().into_bytes());
        header.set_size(0);
    } else {
        header.set_size(size);
    }
    let (major, minor) = device.unwrap_or((0, 0));
    for (field, value) in [("major", major), ("minor", minor)] {
        if u64::from(value) > MAX_OCTAL_8 {
            return Err(Error::DeviceNumber { path: path.clone(), field, value });
        }
    }
    // A ustar header always has device fields, so these cannot fail.
    let _ = header.set_device_major(major);
    let _ = header.set_device_minor(minor);

    for (name, value) in &meta.xattrs {
        let problem = if name.contains('=') {
            Some("`=`")
        } else if name.contains('\0') {
            Some("a NUL byte")
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(Error::InvalidName { path, what: format!("xattr name {name:?}"), problem });
        }
        pax.insert(format!("SCHILY.xattr.{name}"), value.clone());
    }
    if options.pax_origin
        && let Some(origin) = entry.origin
    {
        pax.insert("LINUXKIT.source".to_owned(), origin.source.clone().into_bytes());
        pax.insert("LINUXKIT.location".to_owned(), origin.location.clone().into_bytes());
    }
    header.set_cksum();
    Ok((header, pax))
}

/// The header of the PAX extended header entry (typeflag `x`) that precedes `path`'s entry.
pub(crate) fn pax_header(path: &[u8], data_len: u64) -> Header {
    let (dir, file) = match path.iter().rposition(|b| *b == b'/') {
        Some(idx) => (&path[..=idx], &path[idx + 1..]),
        None => (&b""[..], path),
    };
    let mut name = Vec::with_capacity(path.len() + 13);
    name.extend_from_slice(dir);
    name.extend_from_slice(b"PaxHeaders.0/");
    name.extend_from_slice(file);
    let mut header = Header::new_ustar();
    if let Some(ustar) = header.as_ustar_mut() {
        let len = name.len().min(NAME_BYTES);
        ustar.name[..len].copy_from_slice(&name[..len]);
    }
    header.set_mode(0);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_size(data_len);
    header.set_entry_type(EntryType::XHeader);
    let _ = header.set_device_major(0);
    let _ = header.set_device_minor(0);
    header.set_cksum();
    header
}

fn check_name(name: &[u8], path: &str, what: &str) -> Result<(), Error> {
    if name.contains(&0) {
        return Err(Error::InvalidName {
            path: path.to_owned(),
            what: what.to_owned(),
            problem: "a NUL byte",
        });
    }
    Ok(())
}

/// Stores `name` in the `name` (or `linkname`) field, or in a `path` (`linkpath`) record when
/// it is longer than the field.
fn set_name(header: &mut Header, name: &[u8], link: bool, pax: &mut PaxRecords) {
    let len = name.len().min(NAME_BYTES);
    if name.len() > NAME_BYTES {
        let key = if link { "linkpath" } else { "path" };
        pax.insert(key.to_owned(), name.to_vec());
    }
    if let Some(ustar) = header.as_ustar_mut() {
        let field = if link { &mut ustar.linkname } else { &mut ustar.name };
        field[..len].copy_from_slice(&name[..len]);
    }
}

fn set_id(header: &mut Header, id: u64, key: &str, pax: &mut PaxRecords) {
    let field = if id > MAX_OCTAL_8 {
        pax.insert(key.to_owned(), id.to_string().into_bytes());
        0
    } else {
        id
    };
    if key == "uid" {
        header.set_uid(field);
    } else {
        header.set_gid(field);
    }
}

fn set_mtime(header: &mut Header, mtime: i64, pax: &mut PaxRecords) {
    let field = match u64::try_from(mtime) {
        Ok(mtime) if mtime <= MAX_OCTAL_12 => mtime,
        Ok(_) => {
            pax.insert("mtime".to_owned(), mtime.to_string().into_bytes());
            MAX_OCTAL_12
        }
        Err(_) => {
            pax.insert("mtime".to_owned(), mtime.to_string().into_bytes());
            0
        }
    };
    header.set_mtime(field);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_header_name_is_gos() {
        let header = pax_header(b"usr/lib/libfoo.so", 10);
        assert_eq!(&*header.path_bytes(), b"usr/lib/PaxHeaders.0/libfoo.so");
        assert_eq!(header.entry_type(), EntryType::XHeader);
        assert_eq!(header.size().unwrap(), 10);
    }
}

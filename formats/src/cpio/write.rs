//! Emitting planned newc entries: header, name, padding, data, padding; then the trailer.

use std::io::Write;

use crate::copy::{CopyError, copy_content, write_zeros};
use crate::cpio::Error;
use crate::cpio::header::{Magic, NewcHeader, pad4};
use crate::cpio::plan::{Data, PlannedEntry};
use crate::dump::display_path;
use crate::tree::ContentSource;

/// The name of the entry that ends an archive.
pub(crate) const TRAILER: &[u8] = b"TRAILER!!!";

/// Writes `entries` in order, then the trailer.
pub(crate) fn emit(
    entries: &[PlannedEntry<'_>],
    source: &dyn ContentSource,
    out: &mut dyn Write,
) -> Result<(), Error> {
    for entry in entries {
        let path = display_path(&entry.name);
        let write_err = |source| Error::Write { path: path.clone(), source };
        write_header_and_name(out, &entry.header, &entry.name).map_err(write_err)?;
        match &entry.data {
            Data::None => {}
            Data::Bytes(bytes) => out.write_all(bytes).map_err(write_err)?,
            Data::Content(content) => {
                copy_content(content, source, &entry.name, out).map_err(|err| match err {
                    CopyError::Content(err) => Error::Content(err),
                    CopyError::Write(source) => Error::Write { path: path.clone(), source },
                })?;
            }
        }
        // filesize_bytes is a u32, which fits in usize on every supported target.
        let size = usize::try_from(entry.header.filesize_bytes).unwrap_or(0);
        write_zeros(out, pad4(size)).map_err(write_err)?;
    }
    let trailer = NewcHeader {
        magic: Magic::Newc,
        ino: 0,
        mode: 0,
        uid: 0,
        gid: 0,
        nlink: 1,
        mtime_secs: 0,
        filesize_bytes: 0,
        devmajor: 0,
        devminor: 0,
        rdevmajor: 0,
        rdevminor: 0,
        // "TRAILER!!!" and its NUL.
        namesize_bytes: 11,
        check: 0,
    };
    write_header_and_name(out, &trailer, TRAILER)
        .map_err(|source| Error::Write { path: "TRAILER!!!".to_owned(), source })
}

fn write_header_and_name(
    out: &mut dyn Write,
    header: &NewcHeader,
    name: &[u8],
) -> std::io::Result<()> {
    let mut bytes = [0u8; NewcHeader::SIZE];
    header.encode(&mut bytes);
    out.write_all(&bytes)?;
    out.write_all(name)?;
    out.write_all(&[0])?;
    write_zeros(out, pad4(NewcHeader::SIZE + name.len() + 1))
}

//! Emitting planned tar entries: PAX header, ustar header, data, padding; two zero blocks at the end.

use std::io::Write;

use crate::copy::{CopyError, copy_content, write_zeros};
use crate::dump::display_path;
use crate::tar::header::{self, pax_header};
use crate::tar::pax;
use crate::tar::plan::{Body, PlannedEntry};
use crate::tar::{Error, TarOptions};
use crate::tree::ContentSource;

/// Size of a tar block.
const BLOCK_BYTES: u64 = 512;

/// Writes `entries` in order, then the end-of-archive marker.
pub(crate) fn emit(
    entries: &[PlannedEntry<'_>],
    source: &dyn ContentSource,
    options: &TarOptions,
    out: &mut dyn Write,
) -> Result<(), Error> {
    for entry in entries {
        let (header, pax) = header::encode(entry, options)?;
        let write_err = |source| Error::Write { path: display_path(&entry.path), source };
        if !pax.is_empty() {
            let data = pax::encode(&pax);
            let data_len = u64::try_from(data.len()).unwrap_or(u64::MAX);
            out.write_all(pax_header(&entry.path, data_len).as_bytes()).map_err(write_err)?;
            out.write_all(&data).map_err(write_err)?;
            write_zeros(out, padding(data_len)).map_err(write_err)?;
        }
        out.write_all(header.as_bytes()).map_err(write_err)?;
        if let Body::File(content) = &entry.body {
            let expected = content.len();
            copy_content(content, source, &entry.path, out).map_err(|err| match err {
                CopyError::Content(err) => Error::Content(err),
                CopyError::Write(source) => write_err(source),
            })?;
            write_zeros(out, padding(expected)).map_err(write_err)?;
        }
    }
    let end = usize::try_from(2 * BLOCK_BYTES).unwrap_or(1024);
    write_zeros(out, end)
        .map_err(|source| Error::Write { path: "end of archive".to_owned(), source })
}

/// Zero bytes needed after `len` bytes of data to reach a block boundary.
fn padding(len: u64) -> usize {
    let rest = len % BLOCK_BYTES;
    let pad = if rest == 0 { 0 } else { BLOCK_BYTES - rest };
    // pad < 512, so it always fits.
    usize::try_from(pad).unwrap_or(0)
}

//! Copying a file's content into an archive, checking that it has exactly its announced length.
//!
//! Archive headers state the size before the data, so a content source that returns fewer or
//! more bytes than announced would silently corrupt the archive. [`copy_exact`] turns that into
//! an error.

use std::io::{self, Read, Write};

/// Why copying failed.
#[derive(Debug)]
pub(crate) enum CopyError {
    /// The content reader failed.
    Read(io::Error),
    /// The output writer failed.
    Write(io::Error),
    /// The content ended after `found` bytes.
    TooShort {
        /// Bytes read before the end.
        found: u64,
    },
    /// The content has more bytes than announced.
    TooLong,
}

/// Copies exactly `len` bytes from `reader` to `out`; fails if the reader has fewer or more.
pub(crate) fn copy_exact(
    reader: &mut dyn Read,
    out: &mut dyn Write,
    len: u64,
) -> Result<(), CopyError> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut copied: u64 = 0;
    while copied < len {
        let remaining = len - copied;
        let want = match usize::try_from(remaining) {
            Ok(remaining) => remaining.min(buf.len()),
            Err(_) => buf.len(),
        };
        let n = match reader.read(&mut buf[..want]) {
            Ok(0) => return Err(CopyError::TooShort { found: copied }),
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(CopyError::Read(err)),
        };
        out.write_all(&buf[..n]).map_err(CopyError::Write)?;
        copied += u64::try_from(n).unwrap_or(u64::MAX);
    }
    let mut probe = [0u8; 1];
    loop {
        match reader.read(&mut probe) {
            Ok(0) => return Ok(()),
            Ok(_) => return Err(CopyError::TooLong),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(CopyError::Read(err)),
        }
    }
}

/// Writes `count` zero bytes (at most one block of padding).
pub(crate) fn write_zeros(out: &mut dyn Write, count: usize) -> io::Result<()> {
    const ZEROS: [u8; 512] = [0; 512];
    let mut left = count;
    while left > 0 {
        let n = left.min(ZEROS.len());
        out.write_all(&ZEROS[..n])?;
        left -= n;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(data: &[u8], len: u64) -> String {
        let mut out = Vec::new();
        match copy_exact(&mut &data[..], &mut out, len) {
            Ok(()) => format!("ok {}", out.len()),
            Err(CopyError::TooShort { found }) => format!("short {found}"),
            Err(CopyError::TooLong) => "long".to_owned(),
            Err(err) => format!("{err:?}"),
        }
    }

    #[test]
    fn exact_short_long() {
        assert_eq!(check(b"abc", 3), "ok 3");
        assert_eq!(check(b"", 0), "ok 0");
        assert_eq!(check(b"ab", 3), "short 2");
        assert_eq!(check(b"abcd", 3), "long");
    }
}

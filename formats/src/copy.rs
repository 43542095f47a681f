//! Reading a file's content exactly as announced, for every writer of this crate.
//!
//! Image headers state a file's size before (or independently of) its data, so a content source
//! that returns fewer or more bytes than announced would silently corrupt the image.
//! [`copy_content`] and [`ExactReader`] turn that into a [`ContentError`] naming the file, the
//! one error type every format uses for its content.

use std::io::{self, Read, Write};

use crate::dump::display_path;
use crate::tree::{Content, ContentSource};

/// A file's content could not be read as announced. Every variant names the in-image path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContentError {
    /// Opening or reading the content failed.
    #[error("reading the content of {path}: {source}")]
    Read {
        /// The file, as [`display_path`] shows it.
        path: String,
        /// The content source's error.
        source: io::Error,
    },
    /// The content ended before its announced length.
    #[error("content of {path} ended after {found} bytes, expected {expected}")]
    TooShort {
        /// The file.
        path: String,
        /// The announced length.
        expected: u64,
        /// The bytes actually read.
        found: u64,
    },
    /// The content went on past its announced length.
    #[error("content of {path} is longer than its announced {expected} bytes")]
    TooLong {
        /// The file.
        path: String,
        /// The announced length.
        expected: u64,
    },
}

/// Why copying a file's content into an image failed: its content, or the output.
#[derive(Debug)]
pub(crate) enum CopyError {
    /// The content could not be read as announced.
    Content(ContentError),
    /// The output writer failed.
    Write(io::Error),
}

/// Copies the whole content of the file at `path` to `out`; fails unless the source yields
/// exactly `content.len()` bytes.
pub(crate) fn copy_content(
    content: &Content,
    source: &dyn ContentSource,
    path: &[u8],
    out: &mut dyn Write,
) -> Result<(), CopyError> {
    let mut reader = ExactReader::open(content, source, path).map_err(CopyError::Content)?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read_chunk(&mut buf).map_err(CopyError::Content)?;
        if n == 0 {
            return Ok(());
        }
        out.write_all(&buf[..n]).map_err(CopyError::Write)?;
    }
}

/// A reader of one file's content that yields exactly its announced length and reports a
/// source that ends early or goes on too long as a [`ContentError`] naming the file.
pub struct ExactReader<'a> {
    reader: Box<dyn Read + 'a>,
    path: &'a [u8],
    expected: u64,
    done: u64,
    end_checked: bool,
}

impl<'a> ExactReader<'a> {
    /// Opens `content` of the file at `path` (relative to the tree root, for messages).
    pub fn open(
        content: &'a Content,
        source: &'a dyn ContentSource,
        path: &'a [u8],
    ) -> Result<ExactReader<'a>, ContentError> {
        let reader = content
            .open(source)
            .map_err(|source| ContentError::Read { path: display_path(path), source })?;
        Ok(ExactReader { reader, path, expected: content.len(), done: 0, end_checked: false })
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> u64 {
        self.expected - self.done
    }

    /// Fills `buf` completely, or with the rest of the content when less than `buf.len()`
    /// bytes remain; returns the number of bytes placed, 0 once the whole content was read.
    /// As soon as the last byte is read it checks that the source has nothing more.
    pub fn read_chunk(&mut self, buf: &mut [u8]) -> Result<usize, ContentError> {
        let want = match usize::try_from(self.remaining()) {
            Ok(remaining) => remaining.min(buf.len()),
            Err(_) => buf.len(),
        };
        let mut filled = 0;
        while filled < want {
            match self.reader.read(&mut buf[filled..want]) {
                Ok(0) => {
                    return Err(ContentError::TooShort {
                        path: display_path(self.path),
                        expected: self.expected,
                        found: self.done + u64::try_from(filled).unwrap_or(u64::MAX),
                    });
                }
                Ok(n) => filled += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(ContentError::Read { path: display_path(self.path), source });
                }
            }
        }
        self.done += u64::try_from(filled).unwrap_or(u64::MAX);
        if self.remaining() == 0 && !self.end_checked {
            self.check_end()?;
            self.end_checked = true;
        }
        Ok(filled)
    }

    fn check_end(&mut self) -> Result<(), ContentError> {
        let mut probe = [0u8; 1];
        loop {
            match self.reader.read(&mut probe) {
                Ok(0) => return Ok(()),
                Ok(_) => {
                    return Err(ContentError::TooLong {
                        path: display_path(self.path),
                        expected: self.expected,
                    });
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(ContentError::Read { path: display_path(self.path), source });
                }
            }
        }
    }

    /// Reads the whole remaining content into memory.
    pub fn read_to_vec(mut self) -> Result<Vec<u8>, ContentError> {
        let len = usize::try_from(self.remaining()).unwrap_or(usize::MAX);
        let mut out = vec![0u8; len];
        let n = self.read_chunk(&mut out)?;
        out.truncate(n);
        Ok(out)
    }
}

/// Writes `count` zero bytes.
pub(crate) fn write_zeros(out: &mut dyn Write, count: usize) -> io::Result<()> {
    const ZEROS: [u8; 4096] = [0; 4096];
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
    use std::sync::Arc;

    use super::*;
    use crate::tree::{BlobRange, NoBlobs};

    /// A source whose every object holds `data`, whatever range is asked for.
    struct Lying(&'static [u8]);

    impl ContentSource for Lying {
        fn open(&self, _range: &BlobRange) -> io::Result<Box<dyn Read + '_>> {
            Ok(Box::new(self.0))
        }
    }

    fn check(data: &'static [u8], len: u64) -> String {
        let content = Content::Blob(BlobRange { object: Arc::from("x"), offset: 0, len });
        let mut out = Vec::new();
        match copy_content(&content, &Lying(data), b"etc/f", &mut out) {
            Ok(()) => format!("ok {}", out.len()),
            Err(CopyError::Content(err)) => err.to_string(),
            Err(CopyError::Write(err)) => format!("write: {err}"),
        }
    }

    #[test]
    fn exact_short_long() {
        assert_eq!(check(b"abc", 3), "ok 3");
        assert_eq!(check(b"", 0), "ok 0");
        assert_eq!(check(b"ab", 3), "content of /etc/f ended after 2 bytes, expected 3");
        assert_eq!(check(b"abcd", 3), "content of /etc/f is longer than its announced 3 bytes");
        assert_eq!(check(b"abcd", 0), "content of /etc/f is longer than its announced 0 bytes");
    }

    #[test]
    fn chunks_and_whole() {
        let content = Content::Blob(BlobRange { object: Arc::from("x"), offset: 0, len: 5 });
        let mut reader = ExactReader::open(&content, &Lying(b"hello"), b"a").unwrap();
        let mut buf = [0u8; 2];
        let mut seen = Vec::new();
        loop {
            let n = reader.read_chunk(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            seen.push(n);
        }
        assert_eq!(seen, [2, 2, 1]);
        let long = ExactReader::open(&content, &Lying(b"hello!"), b"a").unwrap();
        assert!(long.read_to_vec().unwrap_err().to_string().contains("longer"));
        let ok = ExactReader::open(&content, &Lying(b"hello"), b"a").unwrap();
        assert_eq!(ok.read_to_vec().unwrap(), b"hello");
        let err = ExactReader::open(&content, &NoBlobs, b"a").err().unwrap().to_string();
        assert!(err.starts_with("reading the content of /a: no content source"), "{err}");
    }
}

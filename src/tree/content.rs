//! Content sources for the byte ranges the merge records: uncompressed layer files on disk, whole
//! cache blobs beside them ([`BuildContent`]), and an in-memory map for tests.
//!
//! A range's object id is the layer's `diff_id` as text (`sha256:<hex>`). [`LayerFiles`] keeps
//! one uncompressed tar per layer, `<dir>/<hex>.tar` (`<dir>/<algorithm>-<hex>.tar` for other
//! algorithms), written and verified by [`merge_image`](super::merge_image). Ranges are read
//! without re-hashing (a range cannot be checked on its own); the file was verified against its
//! `diff_id` when it was written or, when reused, while the merge read it. A file that became
//! shorter since gives an `UnexpectedEof` error, never short content.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use formats::tree::{BlobRange, ContentSource};

use super::MergeError;
use crate::digest::Digest;
use crate::oci::OciLayout;

/// A directory of uncompressed layer tars named by `diff_id`.
#[derive(Debug, Clone)]
pub struct LayerFiles {
    dir: PathBuf,
}

impl LayerFiles {
    /// Uses (and creates, if needed) `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Result<LayerFiles, MergeError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|source| MergeError::Io { path: dir.clone(), source })?;
        Ok(LayerFiles { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file holding the uncompressed layer with this `diff_id`.
    pub fn path(&self, diff_id: &Digest) -> PathBuf {
        match diff_id.algorithm() {
            crate::digest::Algorithm::Sha256 => self.dir.join(format!("{}.tar", diff_id.hex())),
            other => self.dir.join(format!("{}-{}.tar", other.name(), diff_id.hex())),
        }
    }

    /// The object id that ranges into this layer carry.
    pub fn object_id(diff_id: &Digest) -> Arc<str> {
        Arc::from(diff_id.to_string())
    }
}

impl ContentSource for LayerFiles {
    fn open(&self, range: &BlobRange) -> io::Result<Box<dyn Read + '_>> {
        let diff_id: Digest = range.object.parse().map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("object {}: {e}", range.object))
        })?;
        let path = self.path(&diff_id);
        let with_path = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
        let mut file = File::open(&path).map_err(with_path)?;
        file.seek(SeekFrom::Start(range.offset)).map_err(with_path)?;
        Ok(Box::new(Exact { inner: BufReader::new(file).take(range.len), remaining: range.len }))
    }
}

/// The object id under which a whole blob of the cache is opened through [`BuildContent`]:
/// `blob:<digest>` (layer ranges use the bare `diff_id`).
pub fn blob_object_id(digest: &Digest) -> Arc<str> {
    Arc::from(format!("blob:{digest}"))
}

/// A build's content: ranges of uncompressed layer files, and whole blobs of the cache (for
/// `format: oci` volumes, whose blobs are written as stored). A whole blob is verified against
/// its digest and size while it streams: the reader fails at its end otherwise.
#[derive(Debug, Clone)]
pub struct BuildContent {
    /// The uncompressed layer files.
    pub layers: LayerFiles,
    /// The cache's blobs.
    pub blobs: OciLayout,
}

impl ContentSource for BuildContent {
    fn open(&self, range: &BlobRange) -> io::Result<Box<dyn Read + '_>> {
        let Some(digest) = range.object.strip_prefix("blob:") else {
            return self.layers.open(range);
        };
        let invalid = |problem: String| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("object {}: {problem}", range.object),
            )
        };
        let digest: Digest = digest.parse().map_err(|e| invalid(format!("{e}")))?;
        if range.offset != 0 {
            return Err(invalid(format!("expected a whole blob, found offset {}", range.offset)));
        }
        let reader = self
            .blobs
            .read_blob(&digest, Some(range.len))
            .map_err(|e| io::Error::new(io::ErrorKind::NotFound, e.to_string()))?;
        Ok(Box::new(reader))
    }
}

/// A reader that fails with `UnexpectedEof` unless it yields exactly the expected length.
struct Exact<R> {
    inner: R,
    remaining: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.remaining > 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("layer file ends {} bytes before the end of the range", self.remaining),
            ));
        }
        self.remaining -= u64::try_from(n).unwrap_or(u64::MAX).min(self.remaining);
        Ok(n)
    }
}

/// Objects held in memory, for tests and small generated inputs.
#[derive(Debug, Clone, Default)]
pub struct MemoryContent {
    objects: BTreeMap<String, Arc<[u8]>>,
}

impl MemoryContent {
    /// An empty set of objects.
    pub fn new() -> MemoryContent {
        MemoryContent::default()
    }

    /// Adds (or replaces) an object.
    pub fn insert(&mut self, object: &str, bytes: impl Into<Arc<[u8]>>) {
        self.objects.insert(object.to_owned(), bytes.into());
    }
}

impl ContentSource for MemoryContent {
    fn open(&self, range: &BlobRange) -> io::Result<Box<dyn Read + '_>> {
        let bytes = self.objects.get(&*range.object).ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("no object {}", range.object))
        })?;
        let out_of_range = || {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "object {} has {} bytes, range {}+{} is outside it",
                    range.object,
                    bytes.len(),
                    range.offset,
                    range.len
                ),
            )
        };
        let start = usize::try_from(range.offset).map_err(|_| out_of_range())?;
        let len = usize::try_from(range.len).map_err(|_| out_of_range())?;
        let end = start.checked_add(len).ok_or_else(out_of_range)?;
        let slice = bytes.get(start..end).ok_or_else(out_of_range)?;
        Ok(Box::new(slice))
    }
}

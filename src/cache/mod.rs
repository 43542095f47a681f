//! The content-addressed cache: an OCI image layout, written atomically and verified on read.
//!
//! The cache directory (default `$XDG_CACHE_HOME/kit` or `~/.cache/kit`; the CLI passes it) is a
//! plain OCI image layout, as LinuxKit's `~/.linuxkit/cache` is: `oci-layout`, `index.json` and
//! `blobs/sha256/<hex>`. Each cached image is a descriptor in `index.json` whose annotation
//! `org.opencontainers.image.ref.name` is the fully expanded reference (`docker.io/library/alpine:3.20`),
//! so LinuxKit can read kit's cache and `linuxkit cache export` output can be imported here.
//! For an index kit stores the index and the platforms it pulled; LinuxKit's own check of a
//! cached index looks only at the platform list, so the same platform builds from either tool.
//!
//! Invariants:
//! - A blob file exists only with verified content: downloads and imports stream into
//!   `blobs/sha256/.tmp-*`, are checked against their digest and size, then renamed.
//! - Reads verify again ([`OciLayout::read_blob`]), because disks corrupt files.
//! - `index.json` is changed only under an exclusive `flock` of `.lock` (LinuxKit takes the
//!   same lock), and replaced atomically.
//! - Writers (pulls, imports) hold a shared lock of `.kit-gc.lock` from their first blob until
//!   their names are in `index.json`; `rm` and `prune` take it exclusively, so they never delete
//!   blobs of a pull in progress nor a temporary file still being written.
//!
//! Removal is mark-and-sweep from the roots in `index.json`: `rm` deletes only blobs reachable
//! from the removed names and from no other name; `prune` deletes every unreachable blob and
//! every stale temporary file. Both then delete the uncompressed layer files of `kit-layers/`
//! (written by builds, named by `diff_id`) whose compressed layer is no longer a present blob of
//! a remaining image; builds hold the writers' shared lock while they use those files.

mod archive;

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::digest::Digest;
use crate::oci::spec::{ImageManifest, MAX_JSON_BYTES, Manifest, parse_manifest};
use crate::oci::{ANNOTATION_REF_NAME, Descriptor, OciLayout};

pub use archive::ImportReport;

/// Errors of the cache.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// An OCI layout operation failed.
    #[error(transparent)]
    Oci(#[from] crate::oci::Error),
    /// A filesystem operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Taking a lock failed.
    #[error("locking {path}: {source}")]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A name given to `rm` or `export` is not in the cache.
    #[error("{cache}: no image named {name:?}; it has {available}")]
    NotCached {
        /// The cache directory.
        cache: PathBuf,
        /// The name asked for.
        name: String,
        /// The names it has.
        available: String,
    },
    /// `index.json` could not be read or written as JSON.
    #[error("{path}: {detail}")]
    Index {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A tarball or directory to import is not an OCI image layout.
    #[error("{path}: {problem}")]
    Import {
        /// The archive or directory.
        path: PathBuf,
        /// What is wrong, stating expected and found.
        problem: String,
    },
    /// A blob does not match the digest it is stored or listed under.
    #[error("{what}: digest mismatch: expected {expected}, found {found}")]
    DigestMismatch {
        /// The blob and where it came from.
        what: String,
        /// The digest expected.
        expected: Digest,
        /// The digest of the bytes.
        found: Digest,
    },
}

/// One named image in the cache.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CacheEntry {
    /// The name (`org.opencontainers.image.ref.name`).
    pub name: String,
    /// The root digest (index or manifest).
    pub digest: Digest,
    /// The root's media type.
    pub media_type: String,
    /// Bytes of all blobs reachable from the root that are present.
    pub size_bytes: u64,
}

/// What `rm` or `prune` deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    /// Names removed from `index.json`.
    pub names: Vec<String>,
    /// Blobs deleted.
    pub blobs: Vec<Digest>,
    /// Bytes freed by deleting blobs.
    pub bytes: u64,
    /// Stale temporary files deleted.
    pub temp_files: usize,
    /// Uncompressed layer files (`kit-layers/`) deleted because no remaining image uses them;
    /// their bytes are counted in `bytes`.
    pub layer_files: usize,
    /// Compressed initrd segments (`kit-initrd-segments/`) deleted by `prune`; their bytes are
    /// counted in `bytes`.
    pub initrd_segments: usize,
}

/// The cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    layout: OciLayout,
}

/// A shared hold on the cache for writers: while it lives, `rm` and `prune` wait.
#[derive(Debug)]
pub struct WriteGuard {
    _file: File,
}

/// A temporary blob file inside the cache, deleted on drop unless committed.
#[derive(Debug)]
pub struct TempBlob {
    file: tempfile::NamedTempFile,
}

impl TempBlob {
    /// The open file to write into.
    pub fn file_mut(&mut self) -> &mut File {
        self.file.as_file_mut()
    }

    /// The temporary file's path.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Syncs and closes the file, which the caller has verified to hold `digest`; the result
    /// is still deleted on drop unless committed with [`Cache::commit_blob`].
    pub fn finish(self, digest: &Digest) -> Result<FinishedBlob, CacheError> {
        let path = self.file.path().to_owned();
        self.file.as_file().sync_all().map_err(|source| CacheError::Io { path, source })?;
        Ok(FinishedBlob { path: self.file.into_temp_path(), digest: digest.clone() })
    }
}

/// A closed, verified temporary blob waiting to be committed (deleted on drop otherwise).
#[derive(Debug)]
pub struct FinishedBlob {
    path: tempfile::TempPath,
    digest: Digest,
}

impl FinishedBlob {
    /// The digest it was verified as.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }
}

const INDEX_LOCK: &str = ".lock";
const LAYER_FILES_DIR: &str = "kit-layers";

/// The part of an image configuration that names its layers' uncompressed digests.
#[derive(serde::Deserialize)]
struct ConfigDiffIds {
    rootfs: ConfigRootFs,
}

/// `rootfs` of an image configuration.
#[derive(serde::Deserialize)]
struct ConfigRootFs {
    diff_ids: Vec<Digest>,
}

/// The `diff_id` a layer file is named by: `<hex>.tar` for sha256, `<algorithm>-<hex>.tar`
/// otherwise (`crate::tree::LayerFiles::path`); `None` for any other file.
fn layer_file_digest(file_name: &str) -> Option<Digest> {
    let stem = file_name.strip_suffix(".tar")?;
    let text = match stem.split_once('-') {
        Some((algorithm, hex)) => format!("{algorithm}:{hex}"),
        None => format!("sha256:{stem}"),
    };
    text.parse().ok()
}
const GC_LOCK: &str = ".kit-gc.lock";
const TEMP_PREFIX: &str = ".tmp-";

impl Cache {
    /// Opens the cache at `dir`, creating an empty OCI layout there if needed.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Cache, CacheError> {
        let dir = dir.into();
        let layout = if dir.join("oci-layout").exists() {
            OciLayout::open(&dir)?
        } else {
            let _lock = lock_file(&dir.join(INDEX_LOCK), LockKind::Exclusive, true)?;
            OciLayout::create(&dir)?
        };
        fs::create_dir_all(dir.join("blobs/sha256"))
            .map_err(|source| CacheError::Io { path: dir.join("blobs/sha256"), source })?;
        Ok(Cache { layout })
    }

    /// The cache directory.
    pub fn root(&self) -> &Path {
        self.layout.root()
    }

    /// The underlying layout, for reading (verified) blobs and resolving images offline.
    pub fn layout(&self) -> &OciLayout {
        &self.layout
    }

    /// Takes the writers' shared lock; hold it from the first blob written until the image is
    /// named in `index.json`.
    pub fn write_guard(&self) -> Result<WriteGuard, CacheError> {
        let file = lock_file(&self.root().join(GC_LOCK), LockKind::Shared, true)?;
        Ok(WriteGuard { _file: file })
    }

    /// True when the blob's file is present (its content is verified when read).
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.layout.has_blob(digest)
    }

    /// A new temporary file beside the blobs, for a download or import to stream into.
    pub fn temp_blob(&self) -> Result<TempBlob, CacheError> {
        let dir = self.root().join("blobs/sha256");
        let file = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(&dir)
            .map_err(|source| CacheError::Io { path: dir.clone(), source })?;
        Ok(TempBlob { file })
    }

    /// Makes a finished temporary file the blob it was verified as.
    pub fn commit_blob(&self, blob: FinishedBlob) -> Result<(), CacheError> {
        let path = self.layout.blob_path(&blob.digest);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)
                .map_err(|source| CacheError::Io { path: dir.to_owned(), source })?;
        }
        blob.path
            .persist(&path)
            .map_err(|e| CacheError::Io { path: path.clone(), source: e.error })?;
        Ok(())
    }

    /// Writes a small verified blob (a manifest or config already checked in memory).
    pub fn put_blob(&self, digest: &Digest, bytes: &[u8]) -> Result<(), CacheError> {
        if !digest.matches(bytes) {
            return Err(CacheError::DigestMismatch {
                what: format!("{}: blob", self.root().display()),
                expected: digest.clone(),
                found: Digest::sha256(bytes),
            });
        }
        if self.has_blob(digest) {
            return Ok(());
        }
        let mut temp = self.temp_blob()?;
        let temp_path = temp.path().to_owned();
        temp.file_mut()
            .write_all(bytes)
            .map_err(|source| CacheError::Io { path: temp_path, source })?;
        self.commit_blob(temp.finish(digest)?)
    }

    /// Names `descriptor` as `name` in `index.json`, replacing an entry of that name.
    pub fn add_ref(&self, name: &str, descriptor: &Descriptor) -> Result<(), CacheError> {
        let _lock = self.index_lock(LockKind::Exclusive)?;
        self.layout.add_ref(name, descriptor)?;
        Ok(())
    }

    /// The descriptor stored under exactly `name`, if any.
    pub fn lookup(&self, name: &str) -> Result<Option<Descriptor>, CacheError> {
        let _lock = self.index_lock(LockKind::Shared)?;
        let index = self.layout.index()?;
        Ok(index.manifests.into_iter().rev().find(|d| ref_name(d) == Some(name)))
    }

    /// Every named image with its root digest and the bytes of its blobs that are present.
    pub fn list(&self) -> Result<Vec<CacheEntry>, CacheError> {
        let index = {
            let _lock = self.index_lock(LockKind::Shared)?;
            self.layout.index()?
        };
        let mut entries = Vec::new();
        for root in &index.manifests {
            let mut reachable = BTreeSet::new();
            self.mark(root, &mut reachable)?;
            let size_bytes = reachable
                .iter()
                .filter_map(|d| fs::metadata(self.layout.blob_path(d)).ok())
                .map(|m| m.len())
                .sum();
            entries.push(CacheEntry {
                name: ref_name(root).unwrap_or("").to_owned(),
                digest: root.digest.clone(),
                media_type: root.media_type.clone(),
                size_bytes,
            });
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name).then(a.digest.cmp(&b.digest)));
        Ok(entries)
    }

    /// Removes the named images, the signatures kit stored for them (the cosign
    /// `<repo>:sha256-<hex>.sig` and referrers `<repo>:sha256-<hex>` entries of the removed
    /// image's digest, unless another remaining name of the same repository still points at that
    /// digest), and the blobs only they used. The report names every entry removed.
    pub fn remove(&self, names: &[&str]) -> Result<SweepReport, CacheError> {
        let _gc = lock_file(&self.root().join(GC_LOCK), LockKind::Exclusive, true)?;
        let _lock = self.index_lock(LockKind::Exclusive)?;
        let index_path = self.root().join("index.json");
        let mut value = self.read_index_value()?;
        let index = self.layout.index()?;
        let available = || {
            let names: Vec<&str> = index.manifests.iter().filter_map(ref_name).collect();
            if names.is_empty() { "no named images".to_owned() } else { names.join(", ") }
        };
        for name in names {
            if !index.manifests.iter().any(|d| ref_name(d) == Some(name)) {
                return Err(CacheError::NotCached {
                    cache: self.root().to_owned(),
                    name: (*name).to_owned(),
                    available: available(),
                });
            }
        }
        let with_signatures = signature_names(&index.manifests, names);
        let names: Vec<&str> = with_signatures.iter().map(String::as_str).collect();
        let names = names.as_slice();
        let (removed, kept): (Vec<&Descriptor>, Vec<&Descriptor>) =
            index.manifests.iter().partition(|d| ref_name(d).is_some_and(|n| names.contains(&n)));
        let mut keep = BTreeSet::new();
        for root in kept {
            self.mark(root, &mut keep)?;
        }
        let mut candidates = BTreeSet::new();
        for root in &removed {
            self.mark(root, &mut candidates)?;
        }
        let manifests =
            value.get_mut("manifests").and_then(|m| m.as_array_mut()).ok_or_else(|| {
                CacheError::Index {
                    path: index_path.clone(),
                    detail: "expected a manifests array".to_owned(),
                }
            })?;
        manifests.retain(|m| {
            let name = m
                .pointer("/annotations/org.opencontainers.image.ref.name")
                .and_then(|n| n.as_str());
            !name.is_some_and(|n| names.contains(&n))
        });
        self.write_index_value(&value)?;
        let mut report = SweepReport {
            names: removed.iter().filter_map(|d| ref_name(d)).map(str::to_owned).collect(),
            ..SweepReport::default()
        };
        for digest in candidates.difference(&keep) {
            self.delete_blob(digest, &mut report)?;
        }
        let kept: Vec<&Descriptor> = index
            .manifests
            .iter()
            .filter(|d| !ref_name(d).is_some_and(|n| names.contains(&n)))
            .collect();
        self.sweep_layer_files(&kept, &mut report)?;
        Ok(report)
    }

    /// Deletes every blob no named image reaches, and stale temporary files.
    pub fn prune(&self) -> Result<SweepReport, CacheError> {
        let _gc = lock_file(&self.root().join(GC_LOCK), LockKind::Exclusive, true)?;
        let index = {
            let _lock = self.index_lock(LockKind::Shared)?;
            self.layout.index()?
        };
        let mut keep = BTreeSet::new();
        for root in &index.manifests {
            self.mark(root, &mut keep)?;
        }
        let mut report = SweepReport::default();
        let blobs = self.root().join("blobs");
        let algorithms = read_dir(&blobs)?;
        for algorithm_dir in algorithms {
            if !algorithm_dir.is_dir() {
                continue;
            }
            for path in read_dir(&algorithm_dir)? {
                let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("").to_owned();
                if file_name.starts_with(TEMP_PREFIX) {
                    // No writer holds the shared lock, so no temporary file is in use.
                    fs::remove_file(&path)
                        .map_err(|source| CacheError::Io { path: path.clone(), source })?;
                    report.temp_files += 1;
                    continue;
                }
                let algorithm = algorithm_dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
                let Ok(digest) = format!("{algorithm}:{file_name}").parse::<Digest>() else {
                    continue;
                };
                if !keep.contains(&digest) {
                    self.delete_blob(&digest, &mut report)?;
                }
            }
        }
        let roots: Vec<&Descriptor> = index.manifests.iter().collect();
        self.sweep_layer_files(&roots, &mut report)?;
        // Initrd segments are a pure speed-up, rebuilt on demand: prune drops them all.
        let segments = self.initrd_segments_dir();
        if segments.is_dir() {
            for path in read_dir(&segments)? {
                let bytes = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                fs::remove_file(&path)
                    .map_err(|source| CacheError::Io { path: path.clone(), source })?;
                report.initrd_segments += 1;
                report.bytes += bytes;
            }
        }
        Ok(report)
    }

    /// The directory of compressed initrd segments a build keeps for the next one (one file
    /// per segment, named by the SHA-256 of what went into it).
    pub fn initrd_segments_dir(&self) -> PathBuf {
        self.root().join("kit-initrd-segments")
    }

    /// The directory of uncompressed layer files a build keeps beside the blobs (one
    /// `<hex>.tar` per `diff_id`; see `crate::tree::LayerFiles`).
    pub fn layer_files_dir(&self) -> PathBuf {
        self.root().join(LAYER_FILES_DIR)
    }

    /// Deletes the uncompressed layer files whose compressed layer is no longer a present blob of
    /// an image reachable from `roots`. Called with the exclusive GC lock held, so no build is
    /// writing or reading them (builds hold the writers' shared lock).
    fn sweep_layer_files(
        &self,
        roots: &[&Descriptor],
        report: &mut SweepReport,
    ) -> Result<(), CacheError> {
        let dir = self.layer_files_dir();
        if !dir.is_dir() {
            return Ok(());
        }
        let live = self.live_diff_ids(roots)?;
        for path in read_dir(&dir)? {
            let Some(file_name) = path.file_name().and_then(|n| n.to_str()) else { continue };
            let Some(digest) = layer_file_digest(file_name) else { continue };
            if live.contains(&digest) {
                continue;
            }
            let meta = fs::metadata(&path)
                .map_err(|source| CacheError::Io { path: path.clone(), source })?;
            fs::remove_file(&path)
                .map_err(|source| CacheError::Io { path: path.clone(), source })?;
            report.bytes += meta.len();
            report.layer_files += 1;
        }
        Ok(())
    }

    /// The `diff_id` of every layer whose compressed blob is present, over every image manifest
    /// reachable from `roots` whose configuration is present.
    fn live_diff_ids(&self, roots: &[&Descriptor]) -> Result<BTreeSet<Digest>, CacheError> {
        let mut live = BTreeSet::new();
        let mut seen = BTreeSet::new();
        for root in roots {
            self.walk(root, &mut seen, &mut |manifest| {
                if !self.has_blob(&manifest.config.digest) {
                    return Ok(());
                }
                let bytes = self.layout.read_blob_bytes(&manifest.config.digest, MAX_JSON_BYTES)?;
                let Ok(config) = serde_json::from_slice::<ConfigDiffIds>(&bytes) else {
                    // Not an image configuration (an artifact): it has no layer files.
                    return Ok(());
                };
                for (layer, diff_id) in manifest.layers.iter().zip(config.rootfs.diff_ids) {
                    if self.has_blob(&layer.digest) {
                        live.insert(diff_id);
                    }
                }
                Ok(())
            })?;
        }
        Ok(live)
    }

    /// Imports an OCI image layout, as a directory or a tar (optionally gzip-compressed), as
    /// `linuxkit cache import` does: every blob is verified, then the layout's named
    /// descriptors are added to `index.json`.
    pub fn import(&self, path: &Path) -> Result<ImportReport, CacheError> {
        archive::import(self, path)
    }

    /// Writes the named images (all their blobs present in the cache) as an OCI layout tar.
    pub fn export(&self, names: &[&str], out: &mut dyn Write) -> Result<(), CacheError> {
        archive::export(self, names, out)
    }

    /// Adds to `out` the digests of every blob reachable from `root` (present or not).
    /// Documents are read verified; children of a missing document are not followed.
    pub fn mark(&self, root: &Descriptor, out: &mut BTreeSet<Digest>) -> Result<(), CacheError> {
        self.walk(root, out, &mut |_| Ok(()))
    }

    /// Visits every blob reachable from `root` that is not in `seen` yet (adding each to
    /// `seen`, present or not), reading present indexes and image manifests verified and
    /// following their children, and calls `on_manifest` for each image manifest read.
    fn walk(
        &self,
        root: &Descriptor,
        seen: &mut BTreeSet<Digest>,
        on_manifest: &mut dyn FnMut(&ImageManifest) -> Result<(), CacheError>,
    ) -> Result<(), CacheError> {
        let mut stack = vec![root.clone()];
        while let Some(descriptor) = stack.pop() {
            if !seen.insert(descriptor.digest.clone()) {
                continue;
            }
            let is_document = crate::oci::media_type::is_index(&descriptor.media_type)
                || crate::oci::media_type::is_image_manifest(&descriptor.media_type);
            if !is_document || !self.has_blob(&descriptor.digest) {
                continue;
            }
            let bytes = self.layout.read_blob_bytes(&descriptor.digest, MAX_JSON_BYTES)?;
            let what = format!("{}: {}", self.root().display(), descriptor.digest);
            let raw = parse_manifest(Arc::from(bytes), Some(&descriptor.media_type), &what)?;
            match raw.value {
                Manifest::Index(index) => stack.extend(index.manifests),
                Manifest::Image(manifest) => {
                    on_manifest(&manifest)?;
                    stack.push(manifest.config);
                    stack.extend(manifest.layers);
                }
            }
        }
        Ok(())
    }

    fn delete_blob(&self, digest: &Digest, report: &mut SweepReport) -> Result<(), CacheError> {
        let path = self.layout.blob_path(digest);
        match fs::metadata(&path) {
            Ok(meta) => {
                fs::remove_file(&path)
                    .map_err(|source| CacheError::Io { path: path.clone(), source })?;
                report.bytes += meta.len();
                report.blobs.push(digest.clone());
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(CacheError::Io { path, source }),
        }
    }

    fn index_lock(&self, kind: LockKind) -> Result<File, CacheError> {
        lock_file(&self.root().join(INDEX_LOCK), kind, true)
    }

    fn read_index_value(&self) -> Result<serde_json::Value, CacheError> {
        let path = self.root().join("index.json");
        let bytes =
            fs::read(&path).map_err(|source| CacheError::Io { path: path.clone(), source })?;
        serde_json::from_slice(&bytes)
            .map_err(|e| CacheError::Index { path, detail: e.to_string() })
    }

    fn write_index_value(&self, value: &serde_json::Value) -> Result<(), CacheError> {
        let path = self.root().join("index.json");
        let mut bytes = serde_json::to_vec_pretty(value)
            .map_err(|e| CacheError::Index { path: path.clone(), detail: e.to_string() })?;
        bytes.push(b'\n');
        let io_err = |source| CacheError::Io { path: path.clone(), source };
        let mut temp = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(self.root())
            .map_err(io_err)?;
        temp.write_all(&bytes).map_err(io_err)?;
        temp.as_file().sync_all().map_err(io_err)?;
        temp.persist(&path).map_err(|e| io_err(e.error))?;
        Ok(())
    }
}

/// The default cache directory, `$XDG_CACHE_HOME/kit`, else `$HOME/.cache/kit`, from the
/// environment values the CLI passes through `env` (the library reads no environment itself).
pub fn default_dir(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let non_empty = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    match non_empty("XDG_CACHE_HOME") {
        Some(cache_home) => Some(cache_home.join("kit")),
        None => non_empty("HOME").map(|home| home.join(".cache/kit")),
    }
}

/// `names` plus the signature entries of the images they name (see [`Cache::remove`]).
fn signature_names(entries: &[Descriptor], names: &[&str]) -> Vec<String> {
    let repository = |name: &str| {
        let last_slash = name.rfind('/').map_or(0, |i| i + 1);
        name[last_slash..].rfind(':').map(|colon| name[..last_slash + colon].to_owned())
    };
    let mut all: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    for entry in entries {
        let Some(name) = ref_name(entry).filter(|n| names.contains(n)) else { continue };
        let Some(repo) = repository(name) else { continue };
        let still_named = entries.iter().any(|other| {
            other.digest == entry.digest
                && ref_name(other).is_some_and(|n| {
                    !names.contains(&n) && repository(n).as_deref() == Some(repo.as_str())
                })
        });
        if still_named {
            continue;
        }
        let tag = format!("{}-{}", entry.digest.algorithm().name(), entry.digest.hex());
        for signature in [format!("{repo}:{tag}.sig"), format!("{repo}:{tag}")] {
            let present = entries.iter().any(|e| ref_name(e) == Some(signature.as_str()));
            if present && !all.contains(&signature) {
                all.push(signature);
            }
        }
    }
    all
}

/// The `org.opencontainers.image.ref.name` of an index entry.
pub fn ref_name(descriptor: &Descriptor) -> Option<&str> {
    descriptor.annotations.get(ANNOTATION_REF_NAME).map(String::as_str)
}

#[derive(Clone, Copy)]
enum LockKind {
    Shared,
    Exclusive,
}

fn lock_file(path: &Path, kind: LockKind, create: bool) -> Result<File, CacheError> {
    let lock_err = |source| CacheError::Lock { path: path.to_owned(), source };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(lock_err)?;
    }
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .truncate(false)
        .open(path)
        .map_err(lock_err)?;
    match kind {
        LockKind::Shared => file.lock_shared().map_err(lock_err)?,
        LockKind::Exclusive => file.lock().map_err(lock_err)?,
    }
    Ok(file)
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, CacheError> {
    let entries =
        fs::read_dir(dir).map_err(|source| CacheError::Io { path: dir.to_owned(), source })?;
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| CacheError::Io { path: dir.to_owned(), source })?;
        paths.push(entry.path());
    }
    paths.sort();
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_dir_follows_xdg() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        };
        let both = env(&[("XDG_CACHE_HOME", "/x"), ("HOME", "/h")]);
        assert_eq!(default_dir(&both), Some(PathBuf::from("/x/kit")));
        let home = env(&[("XDG_CACHE_HOME", ""), ("HOME", "/h")]);
        assert_eq!(default_dir(&home), Some(PathBuf::from("/h/.cache/kit")));
        assert_eq!(default_dir(&env(&[])), None);
    }
}

//! OCI image layout directories (image-spec `image-layout.md`): `oci-layout`, `index.json` and
//! `blobs/<algorithm>/<hex>`.
//!
//! Reading always verifies: [`OciLayout::read_blob`] returns a reader that fails at end of stream
//! unless the file's bytes hash to the digest in its name, because blob files can be corrupted on
//! disk. Writing is atomic: [`OciLayout::write_blob`] streams into a temporary file beside the
//! final one (`blobs/<alg>/.tmp-*`), checks the digest, syncs, and renames; nothing partial or
//! unverified ever appears under a blob's name. Concurrent writers of the same blob are safe
//! (each renames a complete, verified file with the same content over the other). `index.json`
//! is replaced the same way by [`OciLayout::add_ref`].
//!
//! There is no locking here: `add_ref` is a read-modify-write of `index.json`, so concurrent
//! builds that add names need the cache's lock on top.
//!
//! `index.json` is edited as generic JSON, so fields and descriptors kit does not model survive.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::names::{match_level, pinned_digest};
use super::source::{ImageSource, ResolvedImage, read_limited, resolve_from_root};
use super::spec::{Descriptor, ImageIndex, MAX_JSON_BYTES, parse_json, parse_manifest};
use super::{ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, Error, Platform, media_type};
use crate::digest::{Digest, Verifier};

/// The content of the `oci-layout` file kit writes.
const OCI_LAYOUT_CONTENT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// Largest `index.json` kit reads (a cache may name many images).
pub const MAX_INDEX_JSON_BYTES: u64 = 64 * 1024 * 1024;

/// An OCI image layout directory.
#[derive(Debug, Clone)]
pub struct OciLayout {
    root: PathBuf,
}

impl OciLayout {
    /// Opens an existing layout, checking its `oci-layout` file.
    pub fn open(root: impl Into<PathBuf>) -> Result<OciLayout, Error> {
        let root = root.into();
        let marker = root.join("oci-layout");
        let bytes = match fs::read(&marker) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::NotALayout {
                    path: root,
                    expected: "an oci-layout file".to_owned(),
                    found: "none".to_owned(),
                });
            }
            Err(source) => return Err(Error::Io { path: marker, source }),
        };
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Marker {
            image_layout_version: String,
        }
        let what = marker.display().to_string();
        let version = parse_json::<Marker>(&bytes, &what)?.image_layout_version;
        if version != "1.0.0" {
            return Err(Error::NotALayout {
                path: root,
                expected: "imageLayoutVersion 1.0.0".to_owned(),
                found: format!("imageLayoutVersion {version:?}"),
            });
        }
        Ok(OciLayout { root })
    }

    /// Opens the layout at `root`, creating the directory, `oci-layout`, an empty `index.json`
    /// and `blobs/sha256/` where they are missing.
    pub fn create(root: impl Into<PathBuf>) -> Result<OciLayout, Error> {
        let root = root.into();
        let blobs = root.join("blobs").join("sha256");
        fs::create_dir_all(&blobs).map_err(|source| Error::Io { path: blobs, source })?;
        let layout = OciLayout { root };
        if !layout.root.join("oci-layout").exists() {
            layout.write_atomically(&layout.root.join("oci-layout"), OCI_LAYOUT_CONTENT)?;
        }
        if !layout.root.join("index.json").exists() {
            let empty = serde_json::json!({
                "schemaVersion": 2,
                "mediaType": media_type::OCI_INDEX,
                "manifests": [],
            });
            layout.write_index_value(&empty)?;
        }
        OciLayout::open(layout.root)
    }

    /// The layout's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path of a blob's file (which may not exist).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        // The digest's parts were validated when it was parsed (a known algorithm name and
        // lowercase hex), so they cannot contain `/` or `..`.
        self.root.join("blobs").join(digest.algorithm().name()).join(digest.hex())
    }

    /// True when the blob's file exists (its content is checked only when read).
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Opens a blob as a reader that fails at end of stream unless the bytes match `digest`
    /// (and `size`, when given).
    pub fn read_blob(
        &self,
        digest: &Digest,
        size: Option<u64>,
    ) -> Result<Verifier<BufReader<File>>, Error> {
        let path = self.blob_path(digest);
        match File::open(&path) {
            Ok(file) => Ok(Verifier::new(BufReader::new(file), digest, size)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(Error::BlobMissing { location: self.location(), digest: digest.clone() })
            }
            Err(source) => Err(Error::Io { path, source }),
        }
    }

    /// Reads a whole blob of at most `limit` bytes, verified.
    pub fn read_blob_bytes(&self, digest: &Digest, limit: u64) -> Result<Vec<u8>, Error> {
        let reader = self.read_blob(digest, None)?;
        read_limited(reader, limit, &format!("{}: blob {digest}", self.location()))
    }

    /// Writes a blob from `reader`, which must yield exactly the bytes of `digest`; returns the
    /// number of bytes written. Atomic and verified before it becomes visible; on any error
    /// nothing is left behind.
    pub fn write_blob(&self, digest: &Digest, reader: impl Read) -> Result<u64, Error> {
        let path = self.blob_path(digest);
        let dir = path.parent().map_or_else(|| self.root.clone(), Path::to_path_buf);
        fs::create_dir_all(&dir).map_err(|source| Error::Io { path: dir.clone(), source })?;
        let temp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&dir)
            .map_err(|source| Error::Io { path: dir.clone(), source })?;
        let mut verifier = Verifier::new(reader, digest, None);
        let mut writer = BufWriter::new(temp);
        let written = io::copy(&mut verifier, &mut writer).map_err(|source| Error::Read {
            what: format!("{}: writing blob {digest}", self.location()),
            source,
        })?;
        let temp = writer
            .into_inner()
            .map_err(|e| Error::Io { path: dir.clone(), source: e.into_error() })?;
        temp.as_file()
            .sync_all()
            .map_err(|source| Error::Io { path: temp.path().to_path_buf(), source })?;
        temp.persist(&path).map_err(|e| Error::Io { path: path.clone(), source: e.error })?;
        sync_dir(&dir)?;
        Ok(written)
    }

    /// Writes a blob from memory; see [`Self::write_blob`].
    pub fn write_blob_bytes(&self, digest: &Digest, bytes: &[u8]) -> Result<(), Error> {
        self.write_blob(digest, bytes).map(|_| ())
    }

    /// The parsed `index.json`.
    pub fn index(&self) -> Result<ImageIndex, Error> {
        let value = self.index_value()?;
        serde_json::from_value(value)
            .map_err(|source| Error::Json { what: self.index_what(), source })
    }

    /// Names `descriptor` as `name` in `index.json` (annotation
    /// `org.opencontainers.image.ref.name`), replacing entries that had that name. The file is
    /// replaced atomically; concurrent callers need a lock (see the module docs).
    pub fn add_ref(&self, name: &str, descriptor: &Descriptor) -> Result<(), Error> {
        let mut value = self.index_value()?;
        let mut entry = descriptor.clone();
        entry.annotations.insert(ANNOTATION_REF_NAME.to_owned(), name.to_owned());
        let entry = serde_json::to_value(&entry)
            .map_err(|source| Error::Json { what: self.index_what(), source })?;
        let manifests = value
            .as_object_mut()
            .and_then(|o| o.get_mut("manifests"))
            .and_then(|m| m.as_array_mut());
        match manifests {
            Some(manifests) => {
                manifests.retain(|m| {
                    m.pointer("/annotations/org.opencontainers.image.ref.name")
                        .and_then(|n| n.as_str())
                        != Some(name)
                });
                manifests.push(entry);
            }
            None => {
                if let Some(object) = value.as_object_mut() {
                    object.insert("manifests".to_owned(), serde_json::Value::Array(vec![entry]));
                }
            }
        }
        self.write_index_value(&value)
    }

    /// Finds the descriptor `reference` names in `index.json` (see the matching rules in the
    /// `names` module). A reference pinned by digest must match the entry's digest; when no
    /// name matches, a pinned digest whose blob is present is used directly.
    pub fn find(&self, reference: &str) -> Result<Descriptor, Error> {
        let index = self.index()?;
        let pinned = pinned_digest(reference);
        let candidates = index.manifests.iter().filter_map(|d| {
            let level = names_of(d).filter_map(|name| match_level(name, reference)).min()?;
            let digest_ok = pinned.is_none_or(|p| d.digest.to_string() == p);
            digest_ok.then_some((level, d))
        });
        if let Some(found) = choose(candidates, &self.location(), reference)? {
            return Ok(found.clone());
        }
        if let Some(digest) = pinned.and_then(|p| p.parse::<Digest>().ok())
            && self.has_blob(&digest)
        {
            let bytes = self.read_blob_bytes(&digest, MAX_JSON_BYTES)?;
            let what = format!("{}: manifest {digest}", self.location());
            let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
            let raw = parse_manifest(Arc::from(bytes), None, &what)?;
            return Ok(Descriptor::new(&raw.media_type, digest, size));
        }
        Err(Error::RefNotFound {
            location: self.location(),
            reference: reference.to_owned(),
            available: list_names(&index.manifests),
        })
    }

    fn index_what(&self) -> String {
        self.root.join("index.json").display().to_string()
    }

    fn index_value(&self) -> Result<serde_json::Value, Error> {
        let path = self.root.join("index.json");
        let file = File::open(&path).map_err(|source| Error::Io { path: path.clone(), source })?;
        let bytes = read_limited(file, MAX_INDEX_JSON_BYTES, &self.index_what())?;
        serde_json::from_slice(&bytes)
            .map_err(|source| Error::Json { what: self.index_what(), source })
    }

    fn write_index_value(&self, value: &serde_json::Value) -> Result<(), Error> {
        // Validate before writing, so kit never writes an index.json it cannot read back.
        let _: ImageIndex = serde_json::from_value(value.clone())
            .map_err(|source| Error::Json { what: self.index_what(), source })?;
        let mut bytes = serde_json::to_vec_pretty(value)
            .map_err(|source| Error::Json { what: self.index_what(), source })?;
        bytes.push(b'\n');
        self.write_atomically(&self.root.join("index.json"), &bytes)
    }

    fn write_atomically(&self, path: &Path, bytes: &[u8]) -> Result<(), Error> {
        let dir = path.parent().map_or_else(|| self.root.clone(), Path::to_path_buf);
        let io_err = |source| Error::Io { path: path.to_path_buf(), source };
        let mut temp =
            tempfile::Builder::new().prefix(".tmp-").tempfile_in(&dir).map_err(io_err)?;
        temp.write_all(bytes).map_err(io_err)?;
        temp.as_file().sync_all().map_err(io_err)?;
        temp.persist(path).map_err(|e| io_err(e.error))?;
        sync_dir(&dir)
    }
}

impl ImageSource for OciLayout {
    fn location(&self) -> String {
        format!("OCI layout {}", self.root.display())
    }

    fn resolve(&self, reference: &str, platform: &Platform) -> Result<ResolvedImage, Error> {
        let root = self.find(reference)?;
        let name = format!("{reference} (in {})", self.location());
        resolve_from_root(&name, &root, platform, &mut |d: &Descriptor| {
            self.read_blob_bytes(&d.digest, MAX_JSON_BYTES)
        })
    }

    fn open_blob(&self, descriptor: &Descriptor) -> Result<Box<dyn Read + Send + '_>, Error> {
        Ok(Box::new(self.read_blob(&descriptor.digest, Some(descriptor.size))?))
    }
}

/// The names an index entry carries (ref name, then containerd's full name).
pub(crate) fn names_of(d: &Descriptor) -> impl Iterator<Item = &str> {
    [ANNOTATION_REF_NAME, ANNOTATION_CONTAINERD_NAME]
        .into_iter()
        .filter_map(|key| d.annotations.get(key).map(String::as_str))
}

/// Picks the best-level candidate; several with different digests at that level are ambiguous.
pub(crate) fn choose<'a>(
    candidates: impl Iterator<Item = (u8, &'a Descriptor)>,
    location: &str,
    reference: &str,
) -> Result<Option<&'a Descriptor>, Error> {
    let candidates: Vec<(u8, &Descriptor)> = candidates.collect();
    let Some(best) = candidates.iter().map(|(level, _)| *level).min() else { return Ok(None) };
    let best: Vec<&Descriptor> =
        candidates.into_iter().filter(|(level, _)| *level == best).map(|(_, d)| d).collect();
    let first = best[0];
    if best.iter().any(|d| d.digest != first.digest) {
        let matches = best
            .iter()
            .map(|d| format!("{} ({})", names_of(d).next().unwrap_or("?"), d.digest))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(Error::AmbiguousRef {
            location: location.to_owned(),
            reference: reference.to_owned(),
            matches,
        });
    }
    Ok(Some(first))
}

pub(crate) fn list_names(manifests: &[Descriptor]) -> String {
    let names: Vec<&str> = manifests.iter().filter_map(|d| names_of(d).next()).collect();
    if names.is_empty() { "no named images".to_owned() } else { names.join(", ") }
}

fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| Error::Io { path: dir.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::testutil::{TestLayer, put_image, put_index, tar_of};

    fn blob_files(layout: &OciLayout) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(layout.root().join("blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn create_writes_a_layout_that_open_accepts() {
        let dir = tempfile::tempdir().unwrap();
        let layout = OciLayout::create(dir.path().join("l")).unwrap();
        let marker = fs::read(layout.root().join("oci-layout")).unwrap();
        let marker: serde_json::Value = serde_json::from_slice(&marker).unwrap();
        assert_eq!(marker["imageLayoutVersion"], "1.0.0");
        assert!(layout.index().unwrap().manifests.is_empty());
        // Creating again keeps what is there.
        let d = Digest::sha256(b"x");
        layout.write_blob_bytes(&d, b"x").unwrap();
        layout.add_ref("a:1", &Descriptor::new(media_type::OCI_MANIFEST, d, 1)).unwrap();
        let again = OciLayout::create(layout.root()).unwrap();
        assert_eq!(again.index().unwrap().manifests.len(), 1);

        let err = OciLayout::open(dir.path()).unwrap_err();
        assert!(err.to_string().contains("not an OCI image layout"), "{err}");
        fs::write(layout.root().join("oci-layout"), r#"{"imageLayoutVersion":"2.0.0"}"#).unwrap();
        let err = OciLayout::open(layout.root()).unwrap_err();
        assert!(err.to_string().contains("imageLayoutVersion \"2.0.0\""), "{err}");
    }

    #[test]
    fn write_blob_verifies_before_it_becomes_visible() {
        let dir = tempfile::tempdir().unwrap();
        let layout = OciLayout::create(dir.path()).unwrap();
        let digest = Digest::sha256(b"hello");
        let err = layout.write_blob(&digest, &b"hellO"[..]).unwrap_err();
        assert!(err.to_string().contains("digest mismatch"), "{err}");
        assert!(blob_files(&layout).is_empty(), "a failed write left {:?}", blob_files(&layout));
        assert_eq!(layout.write_blob(&digest, &b"hello"[..]).unwrap(), 5);
        assert_eq!(blob_files(&layout), [digest.hex()]);
        // Writing the same blob again (a concurrent writer) replaces it with the same content.
        layout.write_blob(&digest, &b"hello"[..]).unwrap();
        assert_eq!(layout.read_blob_bytes(&digest, 100).unwrap(), b"hello");
    }

    #[test]
    fn read_blob_detects_corruption_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let layout = OciLayout::create(dir.path()).unwrap();
        let digest = Digest::sha256(b"hello");
        layout.write_blob_bytes(&digest, b"hello").unwrap();
        fs::write(layout.blob_path(&digest), b"jello").unwrap();
        let err = layout.read_blob_bytes(&digest, 100).unwrap_err();
        assert!(err.to_string().contains("digest mismatch"), "{err}");
        let err = layout.read_blob_bytes(&Digest::sha256(b"absent"), 100).unwrap_err();
        assert!(err.to_string().contains("is missing"), "{err}");
    }

    #[test]
    fn add_ref_replaces_same_name_and_keeps_unknown_fields() {
        let dir = tempfile::tempdir().unwrap();
        let layout = OciLayout::create(dir.path()).unwrap();
        let mut raw: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.path().join("index.json")).unwrap()).unwrap();
        raw["x-kept"] = serde_json::json!(true);
        fs::write(dir.path().join("index.json"), raw.to_string()).unwrap();
        let a = Descriptor::new(media_type::OCI_MANIFEST, Digest::sha256(b"a"), 1);
        let b = Descriptor::new(media_type::OCI_MANIFEST, Digest::sha256(b"b"), 1);
        layout.add_ref("docker.io/library/busybox:1", &a).unwrap();
        layout.add_ref("other", &a).unwrap();
        layout.add_ref("docker.io/library/busybox:1", &b).unwrap();
        let index = layout.index().unwrap();
        assert_eq!(index.manifests.len(), 2);
        assert_eq!(layout.find("busybox:1").unwrap().digest, b.digest);
        let raw: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.path().join("index.json")).unwrap()).unwrap();
        assert_eq!(raw["x-kept"], true);
    }

    #[test]
    fn find_accepts_full_short_and_bare_tag_names() {
        let dir = tempfile::tempdir().unwrap();
        let layout = OciLayout::create(dir.path()).unwrap();
        let d = |s: &[u8]| Descriptor::new(media_type::OCI_MANIFEST, Digest::sha256(s), 1);
        layout.add_ref("docker.io/linuxkit/init:abc", &d(b"1")).unwrap();
        layout.add_ref("busybox:1", &d(b"2")).unwrap();
        layout.add_ref("3.20", &d(b"3")).unwrap();
        assert_eq!(layout.find("linuxkit/init:abc").unwrap().digest, Digest::sha256(b"1"));
        assert_eq!(
            layout.find("docker.io/library/busybox:1").unwrap().digest,
            Digest::sha256(b"2")
        );
        assert_eq!(layout.find("alpine:3.20").unwrap().digest, Digest::sha256(b"3"));
        let pinned = format!("linuxkit/init:abc@{}", Digest::sha256(b"1"));
        assert_eq!(layout.find(&pinned).unwrap().digest, Digest::sha256(b"1"));
        let wrong_pin = format!("linuxkit/init:abc@{}", Digest::sha256(b"9"));
        let err = layout.find(&wrong_pin).unwrap_err();
        assert!(err.to_string().contains("no image named"), "{err}");
        let err = layout.find("nginx").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "OCI layout {}: no image named \"nginx\"; it has docker.io/linuxkit/init:abc, \
                 busybox:1, 3.20",
                dir.path().display()
            )
        );
    }

    #[test]
    fn resolves_index_and_single_manifest_images() {
        let dir = tempfile::tempdir().unwrap();
        let layout = OciLayout::create(dir.path()).unwrap();
        let layer = |name: &str| TestLayer { tar: tar_of(&[(name, b"x")]), gzip: true };
        let amd = put_image(&layout, "amd64", &[layer("a")]);
        let arm = put_image(&layout, "arm64", &[layer("b"), layer("c")]);
        let index =
            put_index(&layout, &[("amd64", None, amd.clone()), ("arm64", Some("v8"), arm.clone())]);
        layout.add_ref("multi:1", &index).unwrap();
        layout.add_ref("single:1", &amd).unwrap();

        let arm64: Platform = "arm64".parse().unwrap();
        let image = layout.resolve("multi:1", &arm64).unwrap();
        assert_eq!(image.index_digest(), Some(&index.digest));
        assert_eq!(image.manifest_digest(), &arm.digest);
        assert_eq!(image.layers().len(), 2);
        assert_eq!(image.diff_ids()[1], Digest::sha256(&tar_of(&[("c", b"x")])));
        assert_eq!(image.platform_mismatch, None);

        let err = layout.resolve("multi:1", &"riscv64".parse().unwrap()).unwrap_err();
        assert!(err.to_string().contains("the index has linux/amd64, linux/arm64/v8"), "{err}");

        // A single-manifest image is accepted for another platform, with the mismatch recorded.
        let image = layout.resolve("single:1", &arm64).unwrap();
        assert_eq!(image.index_digest(), None);
        assert_eq!(image.root_digest(), &amd.digest);
        assert_eq!(image.platform_mismatch.map(|p| p.to_string()).as_deref(), Some("linux/amd64"));

        // A blob of the image that is corrupt on disk makes resolution fail.
        fs::write(layout.blob_path(&arm.digest), b"{}").unwrap();
        let err = layout.resolve("multi:1", &arm64).unwrap_err();
        assert!(err.to_string().contains("digest mismatch"), "{err}");
    }
}

//! The lockfile: every image the configuration names, pinned to digests, and what verified it.
//!
//! `kit lock CONFIG...` writes `<name>.lock` (or `--lock FILE`): JSON, keys in a fixed order
//! (struct fields as declared here, maps sorted), two-space indentation, a trailing newline.
//!
//! ```json
//! {
//!   "version": 1,
//!   "images": {
//!     "linuxkit/init:8eea386739975a43af558eec757a7dcb3a3d2e7b": {
//!       "expanded": "docker.io/linuxkit/init:8eea386739975a43af558eec757a7dcb3a3d2e7b",
//!       "index": { "mediaType": "application/vnd.oci.image.index.v1+json", "digest": "sha256:…", "size": 1609 },
//!       "platforms": {
//!         "linux/amd64": {
//!           "platform": { "os": "linux", "architecture": "amd64", "variant": null },
//!           "manifest": { "mediaType": "…", "digest": "sha256:…", "size": 1234 },
//!           "config": { "mediaType": "…", "digest": "sha256:…", "size": 567 },
//!           "layers": [ { "mediaType": "…", "digest": "sha256:…", "size": 89012 } ],
//!           "verifiedBy": null
//!         }
//!       }
//!     }
//!   }
//! }
//! ```
//!
//! - `images` is keyed by the reference exactly as the configuration writes it; `expanded` is
//!   LinuxKit's fully expanded form (the cache name).
//! - `index` is present when the reference named an index (multi-platform image).
//! - `platforms` is keyed by `os/architecture[/variant]`, one entry per `--arch` locked.
//! - `verifiedBy` is filled in by signature verification (`null` until it runs): the root
//!   digest verified, the policy rule, the signature manifest, the referrer manifests (Sigstore
//!   bundles, Notation signatures; the key is absent when none verified, so older lockfiles
//!   still read) and the signers (key ids, signature digests, referrer); see
//!   [`crate::verify::VerifiedBy`]. `kit build --locked` verifies again from exactly those
//!   manifests.
//!
//! `kit build --locked` resolves every image through [`resolve_locked`]: an image or platform
//! missing from the lock is refused, and so is one whose manifest, config or layers differ.
//! With everything in the cache it opens no network connection at all: the registry is used
//! only for blobs the cache lacks, and then by digest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cache::Cache;
use crate::digest::Digest;
use crate::fetch::{FetchError, Registry, resolve_cached};
use crate::oci::{Descriptor, Platform, ResolvedImage};
use crate::reference::Reference;

/// The lockfile format version kit writes and reads.
pub const LOCK_VERSION: u32 = 1;

/// A lockfile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lockfile {
    /// Format version ([`LOCK_VERSION`]).
    pub version: u32,
    /// Images by the reference as the configuration writes it.
    pub images: BTreeMap<String, LockedImage>,
}

/// One image of the lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LockedImage {
    /// The fully expanded reference (`docker.io/library/alpine:3.20`).
    pub expanded: String,
    /// The index the reference named, if it named one.
    pub index: Option<LockedBlob>,
    /// Per platform (`linux/amd64`): what was chosen.
    pub platforms: BTreeMap<String, LockedPlatform>,
}

/// One platform of a locked image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LockedPlatform {
    /// The platform asked for.
    pub platform: Platform,
    /// The image manifest.
    pub manifest: LockedBlob,
    /// The image configuration.
    pub config: LockedBlob,
    /// The layers, base first.
    pub layers: Vec<LockedBlob>,
    /// What verified the image (see [`crate::verify::VerifiedBy`]); `null` until it runs.
    pub verified_by: Option<crate::verify::VerifiedBy>,
}

/// A blob's media type, digest and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LockedBlob {
    /// Media type.
    pub media_type: String,
    /// Digest.
    pub digest: Digest,
    /// Size in bytes.
    pub size: u64,
}

/// Errors of reading, writing and checking lockfiles.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// The lockfile cannot be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The lockfile.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The lockfile is not valid JSON of this format.
    #[error("{path}: invalid lockfile: {source}")]
    Parse {
        /// The lockfile.
        path: PathBuf,
        /// The parser's error, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// A lockfile of another format version.
    #[error("{path}: lockfile version {found} (expected {LOCK_VERSION})")]
    Version {
        /// The lockfile.
        path: PathBuf,
        /// The version found.
        found: u32,
    },
    /// An image or platform the build needs is not in the lock.
    #[error("{image}: not in the lockfile for {platform}; run `kit lock` again to add it")]
    Missing {
        /// The image as written.
        image: String,
        /// The platform.
        platform: String,
    },
    /// An image resolved differently from the lock.
    #[error("{image}: {what} differs from the lockfile: locked {locked}, found {found}")]
    Mismatch {
        /// The image as written.
        image: String,
        /// Which part differs.
        what: String,
        /// The locked value.
        locked: String,
        /// The value found.
        found: String,
    },
    /// A reference in the lockfile does not parse.
    #[error("{image}: invalid expanded reference {expanded:?} in the lockfile: {detail}")]
    Reference {
        /// The image as written.
        image: String,
        /// The expanded reference.
        expanded: String,
        /// The parser's message.
        detail: String,
    },
    /// Fetching or resolving failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
}

impl Default for Lockfile {
    fn default() -> Lockfile {
        Lockfile { version: LOCK_VERSION, images: BTreeMap::new() }
    }
}

impl LockedBlob {
    fn of(descriptor: &Descriptor) -> LockedBlob {
        LockedBlob {
            media_type: descriptor.media_type.clone(),
            digest: descriptor.digest.clone(),
            size: descriptor.size,
        }
    }

    fn descriptor(&self) -> Descriptor {
        Descriptor::new(&self.media_type, self.digest.clone(), self.size)
    }
}

impl Lockfile {
    /// Records `resolved` for the image written as `written` (expanded as `expanded`).
    pub fn insert(&mut self, written: &str, expanded: &str, resolved: &ResolvedImage) {
        let image = self.images.entry(written.to_owned()).or_insert_with(|| LockedImage {
            expanded: expanded.to_owned(),
            index: None,
            platforms: BTreeMap::new(),
        });
        image.expanded = expanded.to_owned();
        image.index = resolved.indexes.first().map(|index| LockedBlob::of(&index.to_descriptor()));
        image.platforms.insert(
            resolved.platform.to_string(),
            LockedPlatform {
                platform: resolved.platform.clone(),
                manifest: LockedBlob::of(&resolved.manifest.to_descriptor()),
                config: LockedBlob::of(&resolved.manifest.value.config),
                layers: resolved.layers().iter().map(LockedBlob::of).collect(),
                verified_by: None,
            },
        );
    }

    /// Records what verified the image written as `written`, on every locked platform whose
    /// root digest (index, else manifest) is the verified one; returns how many it updated.
    pub fn record_verification(
        &mut self,
        written: &str,
        verified: &crate::verify::VerifiedBy,
    ) -> usize {
        let Some(image) = self.images.get_mut(written) else { return 0 };
        let index = image.index.as_ref().map(|i| i.digest.clone());
        let mut n_updated = 0;
        for locked in image.platforms.values_mut() {
            let root = index.as_ref().unwrap_or(&locked.manifest.digest);
            if root == &verified.digest {
                locked.verified_by = Some(verified.clone());
                n_updated += 1;
            }
        }
        n_updated
    }

    /// The lockfile's text: pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        // Serializing these plain structs (strings, numbers, maps with string keys) cannot fail.
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Parses a lockfile's text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Lockfile, LockError> {
        #[derive(Deserialize)]
        struct VersionOnly {
            version: u32,
        }
        let parse_err = |source| LockError::Parse { path: path.to_owned(), source };
        let version: VersionOnly = serde_json::from_str(text).map_err(parse_err)?;
        if version.version != LOCK_VERSION {
            return Err(LockError::Version { path: path.to_owned(), found: version.version });
        }
        serde_json::from_str(text).map_err(parse_err)
    }

    /// Reads a lockfile.
    pub fn read(path: &Path) -> Result<Lockfile, LockError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| LockError::Io { path: path.to_owned(), source })?;
        Lockfile::parse(&text, path)
    }

    /// Writes the lockfile atomically (temporary file, then rename).
    pub fn write(&self, path: &Path) -> Result<(), LockError> {
        let io_err = |source| LockError::Io { path: path.to_owned(), source };
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => PathBuf::from("."),
        };
        let mut temp =
            tempfile::Builder::new().prefix(".tmp-").tempfile_in(&dir).map_err(io_err)?;
        std::io::Write::write_all(&mut temp, self.to_json().as_bytes()).map_err(io_err)?;
        temp.persist(path).map_err(|e| io_err(e.error))?;
        Ok(())
    }

    /// The locked entry for `written` on `platform`, or an error when there is none.
    pub fn get(
        &self,
        written: &str,
        platform: &Platform,
    ) -> Result<(&LockedImage, &LockedPlatform), LockError> {
        let missing =
            || LockError::Missing { image: written.to_owned(), platform: platform.to_string() };
        let image = self.images.get(written).ok_or_else(missing)?;
        let locked = image.platforms.get(&platform.to_string()).ok_or_else(missing)?;
        Ok((image, locked))
    }

    /// Checks that `resolved` is exactly what the lock says for `written`.
    pub fn check(&self, written: &str, resolved: &ResolvedImage) -> Result<(), LockError> {
        let (image, locked) = self.get(written, &resolved.platform)?;
        let mismatch = |what: &str, locked: String, found: String| LockError::Mismatch {
            image: written.to_owned(),
            what: what.to_owned(),
            locked,
            found,
        };
        let show = |d: Option<&Digest>| d.map_or_else(|| "no index".to_owned(), Digest::to_string);
        let index = image.index.as_ref().map(|i| &i.digest);
        if index != resolved.index_digest() {
            return Err(mismatch("index digest", show(index), show(resolved.index_digest())));
        }
        if &locked.manifest.digest != resolved.manifest_digest() {
            return Err(mismatch(
                "manifest digest",
                locked.manifest.digest.to_string(),
                resolved.manifest_digest().to_string(),
            ));
        }
        if &locked.config.digest != resolved.config_digest() {
            return Err(mismatch(
                "config digest",
                locked.config.digest.to_string(),
                resolved.config_digest().to_string(),
            ));
        }
        let found: Vec<LockedBlob> = resolved.layers().iter().map(LockedBlob::of).collect();
        if found != locked.layers {
            let list = |blobs: &[LockedBlob]| {
                blobs
                    .iter()
                    .map(|b| format!("{} ({} bytes)", b.digest, b.size))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(mismatch("layers", list(&locked.layers), list(&found)));
        }
        Ok(())
    }
}

/// Resolves the image written as `written` exactly as the lock pins it, from the cache, using
/// `registry` (by digest) only for what the cache lacks; with `registry` `None` nothing may be
/// missing. The result is checked against the lock.
pub fn resolve_locked(
    cache: &Cache,
    registry: Option<&Registry>,
    lock: &Lockfile,
    written: &str,
    platform: &Platform,
) -> Result<ResolvedImage, LockError> {
    let (image, locked) = lock.get(written, platform)?;
    let reference: Reference =
        image.expanded.parse().map_err(|e: crate::reference::ReferenceError| {
            LockError::Reference {
                image: written.to_owned(),
                expanded: image.expanded.clone(),
                detail: e.to_string(),
            }
        })?;
    let root = image.index.as_ref().unwrap_or(&locked.manifest).descriptor();
    let pinned = reference.with_digest(root.digest.clone());
    let from_cache = if cache.has_blob(&root.digest) {
        match resolve_cached(cache, &image.expanded, &root, platform) {
            Ok(resolved) => Some(resolved),
            Err(FetchError::Oci(crate::oci::Error::BlobMissing { .. })) => None,
            Err(other) => return Err(other.into()),
        }
    } else {
        None
    };
    let resolved = match (from_cache, registry) {
        (Some(resolved), _) => resolved,
        (None, Some(registry)) => {
            let pulled = registry.pull(cache, &pinned, std::slice::from_ref(platform))?;
            pulled.platforms.into_iter().next().ok_or_else(|| LockError::Missing {
                image: written.to_owned(),
                platform: platform.to_string(),
            })?
        }
        (None, None) => {
            return Err(FetchError::NotCached {
                image: image.expanded.clone(),
                detail: format!(
                    "{} is not in the cache and no registry access was allowed",
                    root.digest
                ),
            }
            .into());
        }
    };
    lock.check(written, &resolved)?;
    let missing: Vec<Descriptor> =
        resolved.layers().iter().filter(|l| !cache.has_blob(&l.digest)).cloned().collect();
    if !missing.is_empty() {
        match registry {
            Some(registry) => registry.fetch_blobs(cache, &pinned, &missing)?,
            None => {
                return Err(FetchError::NotCached {
                    image: image.expanded.clone(),
                    detail: format!("layer {} is not in the cache", missing[0].digest),
                }
                .into());
            }
        }
    }
    Ok(resolved)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::oci::testutil::{TestLayer, put_image, put_index, tar_of};
    use crate::oci::{ImageSource, OciLayout};

    fn resolved_pair() -> (tempfile::TempDir, ResolvedImage, ResolvedImage) {
        let dir = tempfile::tempdir().unwrap();
        let layout = OciLayout::create(dir.path()).unwrap();
        let layer = |text: &[u8]| TestLayer { tar: tar_of(&[("f", text)]), gzip: true };
        let amd = put_image(&layout, "amd64", &[layer(b"a"), layer(b"b")]);
        let arm = put_image(&layout, "arm64", &[layer(b"c")]);
        let index = put_index(&layout, &[("amd64", None, amd.clone()), ("arm64", None, arm)]);
        layout.add_ref("multi:1", &index).unwrap();
        layout.add_ref("single:1", &amd).unwrap();
        let multi = layout.resolve("multi:1", &Platform::linux("arm64")).unwrap();
        let single = layout.resolve("single:1", &Platform::linux("amd64")).unwrap();
        (dir, multi, single)
    }

    #[test]
    fn records_every_digest_and_round_trips() {
        let (_dir, multi, single) = resolved_pair();
        let mut lock = Lockfile::default();
        lock.insert("multi:1", "docker.io/library/multi:1", &multi);
        lock.insert("single:1", "docker.io/library/single:1", &single);
        let text = lock.to_json();
        assert!(text.ends_with("}\n"));
        let parsed = Lockfile::parse(&text, Path::new("x.lock")).unwrap();
        assert_eq!(parsed, lock);
        assert_eq!(parsed.to_json(), text, "stable output");
        let (image, locked) = parsed.get("multi:1", &Platform::linux("arm64")).unwrap();
        assert_eq!(image.index.as_ref().map(|i| &i.digest), multi.index_digest());
        assert_eq!(&locked.manifest.digest, multi.manifest_digest());
        assert_eq!(&locked.config.digest, multi.config_digest());
        assert_eq!(locked.layers.len(), 1);
        let (image, locked) = parsed.get("single:1", &Platform::linux("amd64")).unwrap();
        assert!(image.index.is_none());
        assert_eq!(
            locked.layers.iter().map(|l| &l.digest).collect::<Vec<_>>(),
            single.layers().iter().map(|l| &l.digest).collect::<Vec<_>>()
        );
        // Keys in documented order.
        let order = [
            "\"version\"",
            "\"images\"",
            "\"expanded\"",
            "\"index\"",
            "\"platforms\"",
            "\"platform\"",
            "\"manifest\"",
            "\"config\"",
            "\"layers\"",
            "\"verifiedBy\"",
        ];
        let positions: Vec<usize> = order.iter().map(|k| text.find(k).unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
        assert!(parsed.check("multi:1", &multi).is_ok());
    }

    #[test]
    fn refuses_missing_and_different_images() {
        let (_dir, multi, single) = resolved_pair();
        let mut lock = Lockfile::default();
        lock.insert("multi:1", "docker.io/library/multi:1", &multi);
        let err = lock.check("single:1", &single).unwrap_err().to_string();
        assert!(err.contains("single:1: not in the lockfile for linux/amd64"), "{err}");
        let err = lock.get("multi:1", &Platform::linux("amd64")).unwrap_err().to_string();
        assert!(err.contains("linux/amd64"), "{err}");
        let mut other = lock.clone();
        other
            .images
            .get_mut("multi:1")
            .unwrap()
            .platforms
            .get_mut("linux/arm64")
            .unwrap()
            .config
            .digest = Digest::sha256(b"other");
        let err = other.check("multi:1", &multi).unwrap_err().to_string();
        assert!(err.contains("config digest differs"), "{err}");
    }

    #[test]
    fn rejects_other_versions_and_unknown_fields() {
        let err = Lockfile::parse(r#"{"version":2,"images":{}}"#, Path::new("a.lock"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("a.lock: lockfile version 2 (expected 1)"), "{err}");
        let err = Lockfile::parse(r#"{"version":1,"images":{},"x":1}"#, Path::new("a.lock"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field"), "{err}");
    }
}

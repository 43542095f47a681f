//! The interface every image source implements, and the resolution steps they share.
//!
//! An [`ImageSource`] turns a reference into a [`ResolvedImage`] (index, platform manifest and
//! configuration, each with its raw bytes and digest) and opens blobs as verifying readers.
//! OCI layouts and archives implement it here; the registry client implements it in `fetch`.
//!
//! Resolution is split into pure steps that any source, synchronous or not, can reuse:
//! [`parse_manifest`], [`Platform::select`], [`ResolvedImage::new`];
//! [`resolve_from_root`] strings them together for sources that can fetch synchronously.
//!
//! Single-platform images (a manifest, not an index) are accepted as they are, as LinuxKit
//! accepts them, even when their configuration names another platform: data-only images built
//! `FROM scratch` carry the build host's architecture. The mismatch is recorded in
//! [`ResolvedImage::platform_mismatch`] so the caller can warn about it.

use std::io::Read;
use std::sync::Arc;

use super::spec::{
    Descriptor, ImageConfiguration, ImageIndex, ImageManifest, MAX_JSON_BYTES, Manifest, Raw,
    parse_config, parse_manifest,
};
use super::{Error, Platform};
use crate::digest::{Digest, Verifier};

/// Where images come from: an OCI layout, an archive, a registry.
pub trait ImageSource {
    /// A short description for messages, such as `OCI layout /var/cache/kit`.
    fn location(&self) -> String;

    /// Resolves `reference` to the image for `platform`.
    fn resolve(&self, reference: &str, platform: &Platform) -> Result<ResolvedImage, Error>;

    /// Opens the blob `descriptor` names. The reader fails at end of stream (with
    /// `io::ErrorKind::InvalidData`) unless the bytes match the descriptor's digest and size, so
    /// callers must read to the end and discard everything on error.
    fn open_blob(&self, descriptor: &Descriptor) -> Result<Box<dyn Read + Send + '_>, Error>;
}

/// An image pinned to digests for one platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedImage {
    /// The reference that was resolved, for messages.
    pub name: String,
    /// The platform that was asked for.
    pub platform: Platform,
    /// The indexes passed on the way to the manifest, outermost first (usually none or one).
    pub indexes: Vec<Raw<ImageIndex>>,
    /// The platform's image manifest.
    pub manifest: Raw<ImageManifest>,
    /// The image configuration.
    pub config: Raw<ImageConfiguration>,
    /// For an image that was a single manifest (no index): the platform its configuration names
    /// when that differs from the one asked for. Accepted, like LinuxKit; callers should warn.
    pub platform_mismatch: Option<Platform>,
}

impl ResolvedImage {
    /// Checks that the parts fit together and builds the resolved image.
    ///
    /// Checks: the config is the one the manifest names (digest and media type), there are as
    /// many `diff_ids` as layers, no layer is encrypted, and (for images reached through an index)
    /// the configuration's platform, when it names one, is the one asked for.
    pub fn new(
        name: &str,
        platform: &Platform,
        indexes: Vec<Raw<ImageIndex>>,
        manifest: Raw<ImageManifest>,
        config: Raw<ImageConfiguration>,
    ) -> Result<ResolvedImage, Error> {
        if config.digest != manifest.value.config.digest {
            return Err(Error::DigestMismatch {
                what: format!("{name}: config"),
                expected: manifest.value.config.digest.clone(),
                found: config.digest.clone(),
            });
        }
        let n_layers = manifest.value.layers.len();
        let n_diff_ids = config.value.rootfs.diff_ids.len();
        if n_layers != n_diff_ids {
            return Err(Error::LayerCount { image: name.to_owned(), n_layers, n_diff_ids });
        }
        for layer in &manifest.value.layers {
            if layer.media_type.contains("encrypted") {
                return Err(Error::UnsupportedLayer {
                    image: name.to_owned(),
                    layer: layer.digest.clone(),
                    media_type: layer.media_type.clone(),
                });
            }
        }
        let c = &config.value;
        let names_platform = !c.architecture.is_empty() && !c.os.is_empty();
        let matches =
            !names_platform || platform.matches(&c.os, &c.architecture, c.variant.as_deref());
        let found = Platform {
            os: c.os.clone(),
            architecture: c.architecture.clone(),
            variant: c.variant.clone(),
        };
        let platform_mismatch = match (matches, indexes.is_empty()) {
            (true, _) => None,
            (false, true) => Some(found),
            (false, false) => {
                return Err(Error::PlatformMismatch {
                    image: name.to_owned(),
                    wanted: platform.to_string(),
                    found: found.to_string(),
                });
            }
        };
        Ok(ResolvedImage {
            name: name.to_owned(),
            platform: platform.clone(),
            indexes,
            manifest,
            config,
            platform_mismatch,
        })
    }

    /// The digest of the outermost index, when the reference named one.
    pub fn index_digest(&self) -> Option<&Digest> {
        self.indexes.first().map(|index| &index.digest)
    }

    /// The digest the reference resolved to: the outermost index, else the manifest.
    pub fn root_digest(&self) -> &Digest {
        self.index_digest().unwrap_or(&self.manifest.digest)
    }

    /// The media type of the document [`Self::root_digest`] names (index or manifest).
    pub fn root_media_type(&self) -> &str {
        self.indexes.first().map_or(&self.manifest.media_type, |index| &index.media_type)
    }

    /// The size in bytes of the document [`Self::root_digest`] names.
    pub fn root_size(&self) -> u64 {
        let bytes = self.indexes.first().map_or(&self.manifest.bytes, |index| &index.bytes);
        u64::try_from(bytes.len()).unwrap_or(u64::MAX)
    }

    /// The platform manifest's digest.
    pub fn manifest_digest(&self) -> &Digest {
        &self.manifest.digest
    }

    /// The configuration's digest.
    pub fn config_digest(&self) -> &Digest {
        &self.config.digest
    }

    /// The layer descriptors, base first.
    pub fn layers(&self) -> &[Descriptor] {
        &self.manifest.value.layers
    }

    /// The uncompressed digest of each layer, base first (same length as [`Self::layers`]).
    pub fn diff_ids(&self) -> &[Digest] {
        &self.config.value.rootfs.diff_ids
    }
}

/// How deep indexes may nest before resolution gives up.
pub const MAX_INDEX_DEPTH: usize = 4;

/// Resolves an image from its root descriptor (an index or a manifest), fetching documents with
/// `fetch`, which returns the raw bytes a descriptor names (manifests, indexes and configs).
/// Every fetched document is checked against its descriptor's digest and size here.
pub fn resolve_from_root(
    name: &str,
    root: &Descriptor,
    platform: &Platform,
    fetch: &mut dyn FnMut(&Descriptor) -> Result<Vec<u8>, Error>,
) -> Result<ResolvedImage, Error> {
    let mut indexes = Vec::new();
    let mut descriptor = root.clone();
    loop {
        let bytes = fetch_checked(name, &descriptor, fetch)?;
        let what = format!("{name}: manifest {}", descriptor.digest);
        let raw = parse_manifest(bytes, Some(&descriptor.media_type), &what)?;
        match raw.value {
            Manifest::Index(index) => {
                if indexes.len() >= MAX_INDEX_DEPTH {
                    return Err(Error::IndexTooDeep {
                        image: name.to_owned(),
                        limit: MAX_INDEX_DEPTH,
                    });
                }
                let chosen = platform.select(&index, name)?.clone();
                indexes.push(Raw {
                    digest: raw.digest,
                    media_type: raw.media_type,
                    bytes: raw.bytes,
                    value: *index,
                });
                descriptor = chosen;
            }
            Manifest::Image(manifest) => {
                let manifest = Raw {
                    digest: raw.digest,
                    media_type: raw.media_type,
                    bytes: raw.bytes,
                    value: *manifest,
                };
                let config_descriptor = manifest.value.config.clone();
                let bytes = fetch_checked(name, &config_descriptor, fetch)?;
                let what = format!("{name}: config {}", config_descriptor.digest);
                let config = parse_config(bytes, &config_descriptor.media_type, &what)?;
                return ResolvedImage::new(name, platform, indexes, manifest, config);
            }
        }
    }
}

fn fetch_checked(
    name: &str,
    descriptor: &Descriptor,
    fetch: &mut dyn FnMut(&Descriptor) -> Result<Vec<u8>, Error>,
) -> Result<Arc<[u8]>, Error> {
    let what = format!("{name}: {} {}", descriptor.media_type, descriptor.digest);
    if descriptor.size > MAX_JSON_BYTES {
        return Err(Error::TooLarge { what, size: descriptor.size, limit: MAX_JSON_BYTES });
    }
    let bytes = fetch(descriptor)?;
    let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if !descriptor.digest.matches(&bytes) || size != descriptor.size {
        return Err(Error::DigestMismatch {
            what,
            expected: descriptor.digest.clone(),
            found: Digest::sha256(&bytes),
        });
    }
    Ok(Arc::from(bytes))
}

/// Reads all of a verifying reader, at most `limit` bytes; `what` names the document in errors.
pub fn read_limited(reader: impl Read, limit: u64, what: &str) -> Result<Vec<u8>, Error> {
    let mut bytes = Vec::new();
    let read = reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| Error::Read { what: what.to_owned(), source })?;
    if u64::try_from(read).unwrap_or(u64::MAX) > limit {
        return Err(Error::TooLarge { what: what.to_owned(), size: limit + 1, limit });
    }
    Ok(bytes)
}

/// Wraps a blob reader so it fails unless the bytes match `descriptor`'s digest and size.
pub fn verify_blob<'a, R: Read + Send + 'a>(
    reader: R,
    descriptor: &Descriptor,
) -> Box<dyn Read + Send + 'a> {
    Box::new(Verifier::new(reader, &descriptor.digest, Some(descriptor.size)))
}

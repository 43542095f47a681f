//! OCI image types and local sources: image layouts, OCI and docker-save tarballs, digests, platform choice.
//!
//! - [`spec`]: serde types for descriptors, manifests, indexes and image configurations (OCI
//!   image-spec v1.1 and Docker manifest v2 schema 2), parsed from raw bytes with size limits.
//!   kit writes its own small types instead of using the `oci-spec` crate: it needs a dozen
//!   fields, tolerance for Go's `null`s, raw bytes beside every parsed value, and no builders.
//! - [`media_type`]: the media type constants.
//! - [`platform`]: `--arch` values and the choice of a manifest from an index.
//! - [`source`]: the [`ImageSource`] trait every source implements (layouts and archives here,
//!   registries in `fetch`) and the shared resolution steps.
//! - [`layout`]: OCI image layout directories, read and written atomically.
//! - [`archive`]: OCI archives (a layout in a tar) and `docker save` tarballs.
//! - [`layer`]: layer decoding (plain tar, gzip, zstd) with digest and `diff_id` checks.

pub mod archive;
pub mod layer;
pub mod layout;
pub mod media_type;
mod names;
pub mod platform;
pub mod source;
pub mod spec;
#[cfg(test)]
mod testutil;

use std::io;
use std::path::PathBuf;

pub use archive::ArchiveSource;
pub use layer::{Compression, open_layer};
pub use layout::OciLayout;
pub use platform::Platform;
pub use source::{ImageSource, ResolvedImage, resolve_from_root};
pub use spec::{
    ContainerConfig, Descriptor, DescriptorPlatform, History, ImageConfiguration, ImageIndex,
    ImageManifest, Manifest, Raw, RootFs, parse_config, parse_json, parse_manifest,
};

use crate::digest::Digest;

/// Annotation naming an image in an OCI layout's `index.json` (image-spec `annotations.md`).
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Annotation with the full image name that containerd and `docker save` write.
pub const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";

/// Errors of OCI parsing, platform choice, local sources and layer decoding.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A JSON document did not parse.
    #[error("{what}: invalid JSON: {source}")]
    Json {
        /// The document.
        what: String,
        /// The parser's error, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// A document is larger than kit accepts.
    #[error("{what}: {size} bytes is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The document.
        what: String,
        /// Its size, or a lower bound.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A manifest with a `schemaVersion` other than 2 (Docker schema 1 is not supported).
    #[error("{what}: unsupported schemaVersion {found} (expected 2)")]
    SchemaVersion {
        /// The document.
        what: String,
        /// The version found (0 when absent).
        found: u32,
    },
    /// A document of an unexpected media type.
    #[error("{what}: unexpected media type {found:?} (expected {expected})")]
    MediaType {
        /// The document.
        what: String,
        /// What was expected.
        expected: String,
        /// What was found.
        found: String,
    },
    /// An image configuration whose `rootfs.type` is not `layers`.
    #[error("{what}: rootfs.type is {found:?} (expected \"layers\")")]
    RootFsType {
        /// The configuration.
        what: String,
        /// The type found.
        found: String,
    },
    /// Bytes that do not match the digest (or size) they were expected to have.
    #[error("{what}: digest mismatch: expected {expected}, found {found}")]
    DigestMismatch {
        /// The document or blob.
        what: String,
        /// The digest expected.
        expected: Digest,
        /// The digest of the bytes found.
        found: Digest,
    },
    /// A manifest whose layer count differs from its configuration's `diff_ids`.
    #[error(
        "{image}: the manifest lists {n_layers} layers but the config has {n_diff_ids} diff_ids"
    )]
    LayerCount {
        /// The image.
        image: String,
        /// Layers in the manifest.
        n_layers: usize,
        /// `rootfs.diff_ids` in the configuration.
        n_diff_ids: usize,
    },
    /// A layer kit cannot unpack.
    #[error("{image}: layer {layer}: unsupported media type {media_type:?}")]
    UnsupportedLayer {
        /// The image.
        image: String,
        /// The layer's digest.
        layer: Digest,
        /// Its media type.
        media_type: String,
    },
    /// A `--arch` value that does not parse.
    #[error(
        "invalid platform {value:?}: expected ARCH, ARCH/VARIANT or OS/ARCH[/VARIANT], such as amd64, arm64/v8 or linux/arm/v7"
    )]
    InvalidPlatform {
        /// The value given.
        value: String,
    },
    /// An index without a manifest for the platform asked for.
    #[error("{image}: no manifest for platform {wanted}; the index has {available}")]
    NoMatchingPlatform {
        /// The image.
        image: String,
        /// The platform asked for.
        wanted: String,
        /// The platforms the index lists.
        available: String,
    },
    /// An index entry whose image configuration names another platform.
    #[error("{image}: the index lists it for {wanted} but its config says {found}")]
    PlatformMismatch {
        /// The image.
        image: String,
        /// The platform asked for (and listed in the index).
        wanted: String,
        /// The platform in the configuration.
        found: String,
    },
    /// Indexes nested deeper than kit follows.
    #[error("{image}: indexes nested deeper than {limit} levels")]
    IndexTooDeep {
        /// The image.
        image: String,
        /// The depth limit.
        limit: usize,
    },
    /// Reading a document failed (including a verifying reader's mismatch at end of stream).
    #[error("{what}: {source}")]
    Read {
        /// The document or blob.
        what: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A filesystem operation on `path` failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A directory that is not an OCI image layout.
    #[error("{path}: not an OCI image layout: expected {expected}, found {found}")]
    NotALayout {
        /// The directory.
        path: PathBuf,
        /// What was expected.
        expected: String,
        /// What was found.
        found: String,
    },
    /// No image of that name in a layout or archive.
    #[error("{location}: no image named {reference:?}; it has {available}")]
    RefNotFound {
        /// The layout or archive.
        location: String,
        /// The name asked for.
        reference: String,
        /// The names it has.
        available: String,
    },
    /// Several different images match a name.
    #[error("{location}: {reference:?} matches several images: {matches}")]
    AmbiguousRef {
        /// The layout or archive.
        location: String,
        /// The name asked for.
        reference: String,
        /// The matching names and digests.
        matches: String,
    },
    /// A blob that should be present is not.
    #[error("{location}: blob {digest} is missing")]
    BlobMissing {
        /// The layout or archive.
        location: String,
        /// The blob.
        digest: Digest,
    },
    /// A tarball that is neither an OCI archive nor a `docker save` archive.
    #[error("{path}: not an image archive: expected {expected}, found {found}")]
    NotAnArchive {
        /// The archive.
        path: PathBuf,
        /// What was expected.
        expected: String,
        /// What was found.
        found: String,
    },
    /// An entry of an archive that is malformed (bad link, missing file).
    #[error("{path}: entry {entry}: {problem}")]
    ArchiveEntry {
        /// The archive.
        path: PathBuf,
        /// The entry's name.
        entry: String,
        /// What is wrong, stating expected and found.
        problem: String,
    },
    /// Reading or decoding a layer failed, or its digest or `diff_id` did not match.
    #[error("{image}: layer {layer}: {source}")]
    Layer {
        /// The image.
        image: String,
        /// The layer's (compressed) digest.
        layer: Digest,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A layer whose media type names a compression its bytes do not have.
    #[error(
        "{image}: layer {layer}: media type {media_type:?} says {declared} but the data is not {declared} (found {found})"
    )]
    LayerCompression {
        /// The image.
        image: String,
        /// The layer's digest.
        layer: Digest,
        /// Its media type.
        media_type: String,
        /// The compression the media type declares.
        declared: Compression,
        /// The compression the magic bytes suggest.
        found: Compression,
    },
}

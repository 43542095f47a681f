//! Layer merge: applies OCI layers in order, with whiteouts and opaque directories, into a formats::tree::Tree.
//!
//! - [`layer`]: one uncompressed layer tar → a list of [`Change`]s, file data recorded as byte
//!   ranges of the layer (never copied into memory).
//! - [`merge`]: the rules for applying changes ([`Merger`], [`merge_layers`]): whiteouts, opaque
//!   directories, hard links that keep their inode, symlinked parents, implied directories.
//! - [`content`]: [`ContentSource`](formats::tree::ContentSource)s for those ranges: uncompressed
//!   layer files on disk ([`LayerFiles`]) and an in-memory map for tests ([`MemoryContent`]).
//! - [`image`]: [`merge_image`], which decodes an image's layers from an
//!   [`ImageSource`](crate::oci::ImageSource) into [`LayerFiles`] (verified against each
//!   `diff_id`, reused when already there) and merges them.
//!
//! The spec is image-spec `layer.md` (v1.1); where it is silent, kit does what Docker and
//! containerd do when they apply layers to a real filesystem (see [`merge`]).

pub mod content;
pub mod image;
pub mod layer;
pub mod merge;

#[cfg(test)]
mod model;
#[cfg(test)]
mod tests;

use std::io;
use std::path::PathBuf;

pub use content::{BuildContent, LayerFiles, MemoryContent, blob_object_id};
pub use image::merge_image;
pub use layer::{AddKind, Change, read_changes};
pub use merge::{Merger, merge_layers};

/// Errors of the layer merge.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MergeError {
    /// Reading a layer failed, including a digest or `diff_id` mismatch found at its end.
    #[error("layer {layer}: {source}")]
    Read {
        /// The layer's object id (its `diff_id`).
        layer: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// An entry of a layer that cannot be applied.
    #[error("layer {layer}: {path}: {problem}")]
    Entry {
        /// The layer's object id.
        layer: String,
        /// The entry's path in the layer.
        path: String,
        /// What is wrong, stating what was expected and found.
        problem: String,
    },
    /// Opening or decoding an image's layer failed.
    #[error("{image}: layer {index} ({diff_id}): {source}")]
    Layer {
        /// The image.
        image: String,
        /// The layer's position, base first, from 0.
        index: usize,
        /// The layer's `diff_id`.
        diff_id: String,
        /// The error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A filesystem operation on the layer directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

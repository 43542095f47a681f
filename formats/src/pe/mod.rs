//! PE32+ images (Microsoft "PE Format"): the on-disk headers, a bounds-checked reader, the image
//! checksum and the Authenticode digest. Used by [`crate::uki`] to append sections to the
//! systemd EFI stub, and later to sign EFI binaries for Secure Boot.
//!
//! - [`dos_header`], [`coff_header`], [`optional_header`], [`section_header`]: one struct per
//!   structure, spec field names, little-endian `encode`/`decode`.
//! - [`read`]: [`parse_headers`] on bytes, [`read_headers`] on `Read + Seek` (reads only the
//!   headers); every offset is checked, so arbitrary bytes give an error, never a panic.
//! - [`checksum`]: the `CheckSum` field's algorithm, streaming.
//! - [`authenticode`]: the SHA-256 image digest that Authenticode signs.
//!
//! # Not supported
//!
//! - PE32 (32-bit, magic 0x10b) images, COFF objects, section names longer than 8 bytes (the
//!   string table), and writing whole images from scratch.
//! - Parsing the data directories' contents (relocations, imports, certificates).

pub mod authenticode;
pub mod checksum;
pub mod coff_header;
pub mod dos_header;
pub mod optional_header;
pub mod read;
pub mod section_header;

use std::io;

pub use crate::pe::authenticode::image_digest;
pub use crate::pe::optional_header::OptionalHeaderError;
pub use crate::pe::read::{PeHeaders, parse_headers, read_headers};

/// Errors reading a PE image. Each names the structure, field or offset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading the input failed.
    #[error("reading the PE image at byte {offset}: {source}")]
    ReadInput {
        /// Where.
        offset: u64,
        /// The reader's error.
        source: io::Error,
    },
    /// The image ends inside a structure.
    #[error("PE image of {len} bytes ends inside the {what} ({needed} bytes at offset {offset})")]
    Truncated {
        /// The structure.
        what: &'static str,
        /// Where it starts.
        offset: u64,
        /// Its size.
        needed: u64,
        /// The image's length.
        len: u64,
    },
    /// Not a PE image.
    #[error("not a PE image: {reason}")]
    NotPe {
        /// Why.
        reason: String,
    },
    /// The optional header is not a PE32+ one.
    #[error(transparent)]
    OptionalHeader(#[from] OptionalHeaderError),
    /// Sections or tables lie outside the file.
    #[error("PE layout: {problem}")]
    Layout {
        /// What is out of place.
        problem: String,
    },
}

#[cfg(test)]
pub(crate) mod tests;

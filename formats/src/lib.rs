//! Deterministic writers and readers of kit's image formats.
//!
//! This crate is pure: it receives a [`tree::Tree`] (or other values) plus an explicit epoch
//! and writes bytes to the writer it is given.
//! It reads no clock, no environment and no host filesystem, and draws no random numbers;
//! file contents come only through [`tree::ContentSource`].
//!
//! Every format module has a writer and a reader; readers build a [`tree::Tree`] through
//! [`extract::TreeBuilder`], and [`dump::dump`] prints any tree as a stable text listing for
//! golden tests.
#![warn(
    clippy::cast_possible_truncation,
    clippy::as_conversions,
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

#[doc(hidden)]
#[path = "fuzz.rs"]
pub mod __fuzz;
#[cfg(test)]
mod arb;
pub mod copy;
pub mod cpio;
mod crc32c;
mod disk_chunks;
pub mod dump;
pub mod erofs;
pub mod extent;
pub mod extract;
pub mod fat;
pub mod gpt;
pub mod gzip;
pub mod initrd;
pub mod iso9660;
mod links;
pub mod pe;
pub mod qcow2;
pub mod squashfs;
pub mod tar;
#[doc(hidden)]
pub mod testutil;
#[cfg(test)]
mod testutil_disk;
pub mod tree;
pub mod uki;
pub mod vhd;
pub mod vhdx;
pub mod vmdk;

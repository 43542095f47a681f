//! Deterministic writers and readers of kit's image formats.
//!
//! This crate is pure: it receives a [`tree::Tree`] (or other values) plus an explicit epoch
//! and writes bytes to the writer it is given.
//! It reads no clock, no environment and no host filesystem, and draws no random numbers;
//! file contents come only through [`tree::ContentSource`].
#![warn(
    clippy::cast_possible_truncation,
    clippy::as_conversions,
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

pub mod cpio;
pub mod tar;
pub mod tree;

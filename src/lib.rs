//! kit: a rootless, reproducible builder of LinuxKit-style immutable Linux images.
//!
//! The library follows one flow (see ARCHITECTURE.md):
//! configuration → resolve → fetch → verify → merge → assemble → write.
//! It never prints, never reads the environment and never sees clap types; the binary in
//! `src/main.rs` and `src/cli/` does all of that.
#![warn(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

pub mod artifacts;
pub mod build;
pub mod cache;
pub mod config;
pub mod digest;
pub mod fetch;
pub mod inspect;
pub mod linuxkit;
pub mod lock;
pub mod oci;
pub mod output;
pub mod reference;
pub mod run;
pub mod secureboot;
pub mod tree;
pub mod verify;

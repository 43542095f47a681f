//! Signature and policy verification for kit's inputs.
//!
//! This crate is pure: bytes and values in, a verdict out.
//! It reads no clock (the caller passes the verification time), no environment,
//! no host filesystem, and it never touches the network.
//! It fails closed: any error while checking a policy means "not verified".
#![warn(
    clippy::cast_possible_truncation,
    clippy::as_conversions,
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::print_stderr
)]
// Errors here carry context (file, line, image, rule) and are built once per refused input or
// policy error, never in a hot loop, so their size does not matter.
#![allow(clippy::result_large_err)]

pub mod cosign;
pub mod json;
pub mod keys;
pub mod policy;
pub mod verify;

pub use keys::{KeyId, PublicKey};
pub use policy::{LegacyTrust, Policy, PolicyError, PolicyFile};
pub use verify::{ImageInput, Refusal, RefusalReason, SignerId, UnixTime, Verdict, verify};

#[cfg(test)]
mod testutil;

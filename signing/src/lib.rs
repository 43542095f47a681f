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

pub mod cosign;
pub mod policy;

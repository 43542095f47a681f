//! Tests of the Authenticode signer.

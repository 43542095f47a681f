//! Unit tests of the verification stage.

//! The build pipeline: configuration to artifacts, one stage after another.

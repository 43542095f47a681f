//! The LinuxKit configuration model: parsing with source spans, validation, multi-file merge, normalized output.
//!
//! [`load`] reads one or more YAML files, checks them against LinuxKit's schema (unknown keys
//! and wrong types are errors at every level, as with LinuxKit's `additionalProperties: false`),
//! applies LinuxKit's build-time checks early (capabilities, rlimits, modes, binds, files), and
//! merges the files like LinuxKit's `AppendConfig`. Every error names `file:line:column` and
//! the key path; all errors are collected, not only the first.

mod model;

use std::fmt;

pub use model::*;

/// A configuration file: its name as the user gave it, and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// The path as the user gave it (used in messages and locations).
    pub name: String,
    /// The YAML text.
    pub text: String,
}

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file name as the user gave it.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The key path, such as `onboot[2].capabilities` (empty for the document itself).
    pub path: String,
    /// What is wrong: lowercase, expected versus found.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}:{}:{}: {}", self.file, self.line, self.column, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}: {}",
                self.file, self.line, self.column, self.path, self.message
            )
        }
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in a set of configuration files, in file and position order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    /// The problems; never empty.
    pub errors: Vec<ConfigError>,
}

impl fmt::Display for ConfigErrors {
    /// One error per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (idx, error) in self.errors.iter().enumerate() {
            if idx > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

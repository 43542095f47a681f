//! The LinuxKit configuration model: parsing with source spans, validation, multi-file merge, normalized output.
//!
//! [`load`] reads one or more YAML files, checks them against LinuxKit's schema (unknown keys
//! and wrong types are errors at every level, as with LinuxKit's `additionalProperties: false`),
//! applies LinuxKit's build-time checks early (capabilities, rlimits, modes, binds, files), and
//! merges the files like LinuxKit's `AppendConfig`. Every error names `file:line:column` and
//! the key path; all errors are collected, not only the first.

mod emit;
mod merge;
mod model;
mod parse;
mod yaml;

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

/// Reads, checks and merges configuration files, in order, like `linuxkit build a.yml b.yml`.
///
/// Later files override `kernel.image`, `cmdline` and `binary` when non-empty and `tar` and
/// `ucode` whenever present; every list is appended (LinuxKit's `AppendConfig`). Service
/// names must be unique across all files, as must volume names; container names used as
/// `uid`/`gid` must exist.
pub fn load(files: &[SourceFile]) -> Result<Config, ConfigErrors> {
    let mut errors = Vec::new();
    let mut name_uses = Vec::new();
    let mut merged = Config::default();
    for file in files {
        let (root, yaml_errors) = yaml::parse(&file.text);
        errors.extend(yaml_errors.into_iter().map(|e| ConfigError {
            file: file.name.clone(),
            line: e.line,
            column: e.column,
            path: String::new(),
            message: e.message,
        }));
        let Some(root) = root else {
            continue;
        };
        let mut cx = parse::Cx::new(&file.name);
        let config = parse::config(&mut cx, &root);
        errors.extend(cx.errors);
        name_uses.extend(cx.name_uses.into_iter().map(|u| (file.name.clone(), u)));
        merge::append(&mut merged, config);
    }
    errors.extend(merge::check_unique(&merged));
    let ids = merged.id_map();
    for (file, name_use) in name_uses {
        if !ids.contains_key(&name_use.name) {
            errors.push(ConfigError {
                file,
                line: name_use.line,
                column: name_use.column,
                path: name_use.path,
                message: format!(
                    "unknown container name {:?} (expected a number, \"root\", or the name of an onboot, onshutdown or services entry)",
                    name_use.name
                ),
            });
        }
    }
    if errors.is_empty() {
        return Ok(merged);
    }
    let order = |name: &str| files.iter().position(|f| f.name == name).unwrap_or(usize::MAX);
    errors.sort_by(|a, b| {
        (order(&a.file), a.line, a.column).cmp(&(order(&b.file), b.line, b.column))
    });
    Err(ConfigErrors { errors })
}

/// Parses an `org.mobyproject.config` image label (a YAML or JSON object) with the same
/// rules as an image entry. It may not set `name` or `image`. Errors name the file
/// `org.mobyproject.config` and positions inside the label text; the caller adds the image.
pub fn parse_label(text: &str) -> Result<ImageConfig, ConfigErrors> {
    const LABEL: &str = "org.mobyproject.config";
    let (root, yaml_errors) = yaml::parse(text);
    let mut errors: Vec<ConfigError> = yaml_errors
        .into_iter()
        .map(|e| ConfigError {
            file: LABEL.into(),
            line: e.line,
            column: e.column,
            path: String::new(),
            message: e.message,
        })
        .collect();
    let mut config = ImageConfig::default();
    if let Some(root) = root {
        let mut cx = parse::Cx::new(LABEL);
        config = parse::label(&mut cx, &root);
        errors.extend(cx.errors);
    }
    if errors.is_empty() {
        Ok(config)
    } else {
        errors.sort_by_key(|e| (e.line, e.column));
        Err(ConfigErrors { errors })
    }
}

impl Config {
    /// The normalized configuration as YAML: keys in the schema's order, only keys that were
    /// present, image references as written. Parsing it gives an equal configuration.
    pub fn to_yaml(&self) -> String {
        emit::to_yaml(&emit::normalized(self))
    }

    /// The normalized configuration as JSON (2-space indentation), same content as
    /// [`Config::to_yaml`].
    pub fn to_json(&self) -> String {
        emit::to_json(&emit::normalized(self), 2, false)
    }

    /// The configuration as LinuxKit embeds it for `metadata: yaml`: yaml.v2's marshalling
    /// of its `Moby` struct, image references expanded.
    pub fn metadata_yaml(&self) -> String {
        emit::to_yaml(&emit::metadata(self, emit::Go::Yaml))
    }

    /// The configuration as LinuxKit embeds it for `metadata: json`:
    /// `json.MarshalIndent(m, "", "    ")` of its `Moby` struct.
    pub fn metadata_json(&self) -> String {
        emit::to_json(&emit::metadata(self, emit::Go::Json), 4, true)
    }
}

impl ImageConfig {
    /// The per-image keys as normalized YAML (schema order, present keys only).
    pub fn to_yaml(&self) -> String {
        emit::to_yaml(&emit::normalized_image_config(self))
    }
}

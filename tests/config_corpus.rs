//! The configuration corpus: every valid file parses and its normalized form matches the
//! snapshot beside it; every invalid file gives exactly the errors in its `.expect` file.
//!
//! Layout (under `testdata/config/`):
//! - `valid/NAME.yml` with `valid/NAME.expect.yaml`: one file, its normalized YAML;
//! - `valid/NAME/` with `*.yml` merged in name order and `expect.yaml`: a multi-file case;
//! - `invalid/NAME.yml` (or `invalid/NAME/` with several files) with `NAME.expect`: the
//!   exact error lines, `file:line:column: path: message`.
//!
//! `UPDATE_EXPECT=1 cargo test --test config_corpus` rewrites the snapshots; review them by
//! hand against LinuxKit's rules before committing.

use std::fs;
use std::path::{Path, PathBuf};

use expect_test::expect_file;
use kit::config::{Config, SourceFile, load};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/config")
}

/// The cases of a directory: (name, config files, expectation path).
fn cases(dir: &str, expect_suffix: &str) -> Vec<(String, Vec<PathBuf>, PathBuf)> {
    let base = root().join(dir);
    let mut out = Vec::new();
    let mut entries: Vec<PathBuf> =
        fs::read_dir(&base).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            let mut files: Vec<PathBuf> = fs::read_dir(&path)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "yml"))
                .collect();
            files.sort();
            let expect = if expect_suffix == ".expect.yaml" {
                path.join("expect.yaml")
            } else {
                base.join(format!("{name}{expect_suffix}"))
            };
            out.push((name, files, expect));
        } else if let Some(stem) = name.strip_suffix(".yml") {
            out.push((
                stem.to_owned(),
                vec![path.clone()],
                base.join(format!("{stem}{expect_suffix}")),
            ));
        }
    }
    out
}

/// Reads files with names relative to `testdata/config/` so messages are stable.
fn sources(files: &[PathBuf]) -> Vec<SourceFile> {
    files
        .iter()
        .map(|path| SourceFile {
            name: path.strip_prefix(root()).unwrap().to_string_lossy().into_owned(),
            text: fs::read_to_string(path).unwrap(),
        })
        .collect()
}

fn load_case(files: &[PathBuf]) -> Result<Config, String> {
    load(&sources(files)).map_err(|e| e.to_string())
}

#[test]
fn valid_configurations_parse_and_match_their_snapshots() {
    let cases = cases("valid", ".expect.yaml");
    assert!(cases.len() >= 25, "only {} valid cases", cases.len());
    for (name, files, expect) in cases {
        let config = match load_case(&files) {
            Ok(config) => config,
            Err(errors) => panic!("{name} does not parse:\n{errors}"),
        };
        expect_file![expect].assert_eq(&config.to_yaml());
    }
}

#[test]
fn normalized_form_round_trips() {
    for (name, files, _) in cases("valid", ".expect.yaml") {
        let mut config = load_case(&files).unwrap();
        let yaml = config.to_yaml();
        let again = load(&[SourceFile { name: "normalized.yml".into(), text: yaml.clone() }]);
        let mut again = again
            .unwrap_or_else(|e| panic!("{name}: normalized form does not parse:\n{e}\n{yaml}"));
        assert_eq!(again.to_yaml(), yaml, "{name}: normalizing twice changes the text");
        config.clear_locations();
        again.clear_locations();
        assert_eq!(config, again, "{name}: normalized form parses to a different configuration");
    }
}

#[test]
fn invalid_configurations_give_the_expected_errors() {
    let cases = cases("invalid", ".expect");
    assert!(cases.len() >= 40, "only {} invalid cases", cases.len());
    for (name, files, expect) in cases {
        match load_case(&files) {
            Ok(config) => panic!("{name} parses but should not:\n{}", config.to_yaml()),
            Err(errors) => expect_file![expect].assert_eq(&format!("{errors}\n")),
        }
    }
}

//! Tidy: the project rules that can be checked mechanically, run as part of `cargo test`.
//!
//! Each check walks the source tree from the workspace root and collects every violation, so
//! one run reports them all.

use std::fs;
use std::path::{Path, PathBuf};

/// Files larger than this may not be committed under `testdata/` (CONVENTIONS.md).
const MAX_FIXTURE_BYTES: u64 = 64 * 1024;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file below `dir`, skipping build output, VCS data and installed node modules.
fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if matches!(name.as_ref(), "target" | ".git" | "node_modules" | "corpus" | "artifacts")
            {
                continue;
            }
            let Ok(file_type) = entry.file_type() else { continue };
            if file_type.is_dir() {
                stack.push(path);
            } else if file_type.is_file() {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn rust_files() -> Vec<PathBuf> {
    let root = root();
    let mut files = Vec::new();
    for dir in ["src", "formats", "signing", "xtask", "tests", "fuzz"] {
        files.extend(
            files_below(&root.join(dir))
                .into_iter()
                .filter(|p| p.extension().is_some_and(|e| e == "rs")),
        );
    }
    files
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root()).unwrap_or(path).display().to_string()
}

fn report(problems: Vec<String>, what: &str) {
    assert!(problems.is_empty(), "{what}:\n  {}", problems.join("\n  "));
}

#[test]
fn every_rust_file_starts_with_module_docs() {
    let mut problems = Vec::new();
    for path in rust_files() {
        let text = fs::read_to_string(&path).unwrap_or_default();
        let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        if !first.starts_with("//!") {
            problems.push(relative(&path));
        }
    }
    report(problems, "files without a `//!` module doc on their first line");
}

#[test]
fn tests_are_never_skipped_by_attribute() {
    // The patterns are assembled so that this file does not match itself.
    let banned = [format!("#[{}", "ignore"), format!("{}_panic", "should")];
    let mut problems = Vec::new();
    for path in rust_files() {
        let text = fs::read_to_string(&path).unwrap_or_default();
        for (idx, line) in text.lines().enumerate() {
            if banned.iter().any(|b| line.contains(b.as_str())) {
                problems.push(format!("{}:{}: {}", relative(&path), idx + 1, line.trim()));
            }
        }
    }
    report(problems, "ignored or should-panic tests (assert today's behaviour instead)");
}

#[test]
fn pure_crates_use_no_clock_randomness_env_fs_or_hashing() {
    let banned = [
        "HashMap",
        "HashSet",
        "SystemTime::now",
        "Instant::now",
        "rand::",
        "std::env::",
        "env::var",
        "std::fs::",
        "fs::File",
        "std::net::",
        "tokio",
    ];
    let mut problems = Vec::new();
    for krate in ["formats", "signing"] {
        for path in files_below(&root().join(krate).join("src")) {
            let text = fs::read_to_string(&path).unwrap_or_default();
            for (idx, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                for word in banned {
                    if code.contains(word) {
                        problems.push(format!("{}:{}: uses {word}", relative(&path), idx + 1));
                    }
                }
            }
        }
    }
    report(problems, "impure calls in formats/ or signing/ (they take values and readers instead)");
}

#[test]
fn crate_dependency_edges() {
    let forbidden = [
        ("formats", &["kit", "signing", "clap", "tokio", "reqwest", "oci-client", "anyhow"][..]),
        ("signing", &["kit", "formats", "clap", "tokio", "reqwest", "oci-client", "anyhow"][..]),
    ];
    let mut problems = Vec::new();
    for (krate, deps) in forbidden {
        let manifest =
            fs::read_to_string(root().join(krate).join("Cargo.toml")).unwrap_or_default();
        let mut section = String::new();
        for line in manifest.lines() {
            let line = line.trim();
            if line.starts_with('[') {
                section = line.to_owned();
                continue;
            }
            if section != "[dependencies]" {
                continue;
            }
            let name = line.split(['=', ' ', '.']).next().unwrap_or("");
            if deps.contains(&name) {
                problems.push(format!("{krate} depends on {name}"));
            }
        }
    }
    report(problems, "forbidden dependency edges");
}

#[test]
fn fixtures_are_small_and_have_provenance() {
    let testdata = root().join("testdata");
    let sources = fs::read_to_string(testdata.join("SOURCES.md")).unwrap_or_default();
    let mut problems = Vec::new();
    if sources.is_empty() {
        problems.push("testdata/SOURCES.md is missing or empty".to_owned());
    }
    let mut subdirs = std::collections::BTreeSet::new();
    for path in files_below(&testdata) {
        let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if size > MAX_FIXTURE_BYTES {
            problems
                .push(format!("{} is {size} bytes (limit {MAX_FIXTURE_BYTES})", relative(&path)));
        }
        if let Ok(rest) = path.strip_prefix(&testdata)
            && let Some(first) = rest.components().next()
            && rest.components().count() > 1
        {
            subdirs.insert(first.as_os_str().to_string_lossy().into_owned());
        }
    }
    for dir in subdirs {
        if !sources.contains(&format!("testdata/{dir}")) {
            problems.push(format!("testdata/SOURCES.md does not describe testdata/{dir}"));
        }
    }
    report(problems, "fixture problems");
}

#[test]
fn ci_runs_exactly_the_readme_test_command() {
    let readme = fs::read_to_string(root().join("README.md")).unwrap_or_default();
    let ci = fs::read_to_string(root().join(".ci/run")).unwrap_or_default();
    let ci_command = ci.lines().rev().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#'));
    let Some(ci_command) = ci_command else { panic!(".ci/run is missing or empty") };
    assert!(
        readme.lines().any(|l| l.split(" #").next().unwrap_or("").trim() == ci_command),
        "the last command of .ci/run ({ci_command:?}) is not a line of README.md"
    );
}

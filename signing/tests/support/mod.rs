//! Shared by the fixture tests: the node/npm harness ([`npm_prefix`]: `npm ci` of
//! `testdata/signing/fixtures-npm/` into Cargo's target tmpdir) and, for the keyless tests, the
//! files `testdata/signing/make-bundle.mjs` generates, once per test binary. Without node or
//! npm the tests print why and pass; with `CI` set they fail.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;
use signing::trusted_root::TrustedRoot;

/// The generated files, by name, and the pinned digest.
pub struct Fixtures {
    pub files: BTreeMap<String, Vec<u8>>,
    pub digest: String,
    pub other_digest: String,
    pub identity: String,
    pub issuer: String,
    /// The repository the simple-signing payloads name.
    pub repository: String,
}

pub fn ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

#[allow(clippy::print_stderr)]
fn skip(why: &str) -> Option<&'static Fixtures> {
    assert!(!ci(), "CI is set, so the bundle fixtures must be generated: {why}");
    eprintln!("skipping keyless fixture tests: {why}");
    None
}

/// Runs a command, returning its trimmed stdout, or why it failed.
pub fn run(cmd: &mut Command) -> Result<String, String> {
    match cmd.output() {
        Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).trim().to_owned()),
        Ok(o) => Err(format!("{cmd:?} failed: {}", String::from_utf8_lossy(&o.stderr))),
        Err(e) => Err(format!("{cmd:?} did not run: {e}")),
    }
}

/// The workspace root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The folder where `npm ci` ran with the pinned `testdata/signing/fixtures-npm/` (done once
/// per lockfile content, under Cargo's target tmpdir): the fixture generators' `KIT_NODE_PREFIX`.
#[allow(clippy::print_stderr)]
pub fn npm_prefix() -> Result<PathBuf, String> {
    let node = run(Command::new("node").arg("--version"))?;
    let npm = run(Command::new("npm").arg("--version"))?;
    eprintln!("using node {node}, npm {npm}");
    let pins = repo_root().join("testdata/signing/fixtures-npm");
    let prefix = Path::new(env!("CARGO_TARGET_TMPDIR")).join("signing-fixtures-npm");
    std::fs::create_dir_all(&prefix).map_err(|e| e.to_string())?;
    let lock = std::fs::read(pins.join("package-lock.json")).map_err(|e| e.to_string())?;
    let stamp = prefix.join("installed-lock.json");
    if std::fs::read(&stamp).ok().as_deref() != Some(lock.as_slice()) {
        for file in ["package.json", "package-lock.json"] {
            std::fs::copy(pins.join(file), prefix.join(file)).map_err(|e| e.to_string())?;
        }
        run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"])
            .current_dir(&prefix))?;
        std::fs::write(&stamp, &lock).map_err(|e| e.to_string())?;
    }
    Ok(prefix)
}

/// Reads every regular file directly in `dir`, by name.
pub fn read_files(dir: &Path) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(|e| e.to_string())? {
        let entry = entry.map_err(|e| e.to_string())?;
        if entry.path().is_file() {
            let name = entry.file_name().to_string_lossy().into_owned();
            files.insert(name, std::fs::read(entry.path()).map_err(|e| e.to_string())?);
        }
    }
    Ok(files)
}

fn generate() -> Result<Fixtures, String> {
    let prefix = npm_prefix()?;
    let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("signing-bundles-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    // Any bytes serve as the signed manifest: its SHA-256 is the pinned digest.
    let manifest = out.join("manifest.json");
    std::fs::write(&manifest, br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}"#)
        .map_err(|e| e.to_string())?;
    let bundles = out.join("bundles");
    run(Command::new("node")
        .arg(repo_root().join("testdata/signing/make-bundle.mjs"))
        .arg("--out")
        .arg(&bundles)
        .arg("--artifact")
        .arg(&manifest)
        .env("KIT_NODE_PREFIX", &prefix))?;
    let files = read_files(&bundles)?;
    let _ = std::fs::remove_dir_all(&out);
    let meta: Value = serde_json::from_slice(&files["meta.json"]).map_err(|e| e.to_string())?;
    let text = |k: &str| meta[k].as_str().unwrap_or_default().to_owned();
    Ok(Fixtures {
        digest: text("digest"),
        other_digest: text("otherDigest"),
        identity: text("identity"),
        issuer: text("issuer"),
        repository: text("repository"),
        files,
    })
}

pub fn fixtures() -> Option<&'static Fixtures> {
    static FIXTURES: OnceLock<Result<Fixtures, String>> = OnceLock::new();
    match FIXTURES.get_or_init(generate) {
        Ok(f) => Some(f),
        Err(why) => skip(why),
    }
}

impl Fixtures {
    pub fn bytes(&self, name: &str) -> Vec<u8> {
        self.files.get(name).cloned().unwrap_or_else(|| panic!("fixture {name} was not generated"))
    }

    pub fn json(&self, name: &str) -> Value {
        serde_json::from_slice(&self.bytes(name)).unwrap()
    }

    pub fn root(&self, name: &str) -> TrustedRoot {
        TrustedRoot::parse(&self.bytes(name)).unwrap()
    }
}

//! Shared by the fixture tests: the node/npm harness ([`node`], the workspace's
//! `tests/support/node.rs`: `npm ci` of `testdata/signing/fixtures-npm/` into Cargo's target
//! tmpdir) and, for the keyless tests, the files `testdata/signing/make-bundle.mjs` generates,
//! once per test binary. Without node or npm the tests print why and pass; with `CI` set they
//! fail.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use serde_json::Value;
use signing::trusted_root::TrustedRoot;

#[path = "../../../tests/support/node.rs"]
pub mod node;

use node::{generator, npm_prefix};

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
    generator(
        "make-bundle.mjs",
        &prefix,
        &["--out".as_ref(), bundles.as_os_str(), "--artifact".as_ref(), manifest.as_os_str()],
    )?;
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

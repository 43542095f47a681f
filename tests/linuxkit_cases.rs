//! The hand-derived configuration cases in `testdata/linuxkit/cases/<case>/`.
//!
//! Each case has `config.yml` (LinuxKit YAML), optionally `image.json` (the OCI `config` object
//! of each image reference, labels included), and `expected/`: `<section>__<bundle>__config.json`
//! and `...__runtime.json` files, derived by hand from LinuxKit's `ConfigToOCI` rules and compared
//! as JSON values (and byte for byte when `expected/byte-exact` exists), or `error.txt`, a text
//! the build error must contain. Images have empty filesystems: only the generated files matter.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use formats::tree::{Content, NoBlobs, NodeKind, Tree};
use kit::config::{self, SourceFile};
use kit::linuxkit::{AssembleOptions, HostFiles, ImageMap, ResolvedImage, assemble};
use kit::oci::spec::ContainerConfig;
use kit::reference::Reference;

struct NoHost;

impl HostFiles for NoHost {
    fn read_source(&self, _source: &str) -> std::io::Result<Option<Vec<u8>>> {
        Ok(None)
    }

    fn metadata(&self, _format: &str) -> Result<Vec<u8>, String> {
        Err("not available in these cases".into())
    }
}

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/linuxkit/cases")
}

/// Builds the case; returns the assembled root or the error text.
fn build(dir: &Path) -> Result<Tree, String> {
    let text = fs::read_to_string(dir.join("config.yml")).unwrap();
    let config = config::load(&[SourceFile { name: "config.yml".into(), text }])
        .map_err(|errors| errors.to_string())?;
    let image_configs: BTreeMap<String, ContainerConfig> = match fs::read(dir.join("image.json")) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap(),
        Err(_) => BTreeMap::new(),
    };
    let mut images = BTreeMap::new();
    for (_, image_ref, _) in config.images() {
        let reference: Reference = image_ref.written.parse().unwrap();
        let resolved =
            ResolvedImage::new(&reference, Tree::new(0), image_configs.get(&image_ref.written))
                .map_err(|error| error.to_string())?;
        images.insert(image_ref.written.clone(), resolved);
    }
    let images = ImageMap { images, source: NoBlobs, oci_volumes: BTreeMap::new() };
    let options = AssembleOptions { epoch: 1492533000, arch: "amd64".into() };
    let assembled =
        assemble(&config, &images, &NoHost, &options).map_err(|error| error_chain(&error))?;
    Ok(assembled.root)
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

fn check_case(dir: &Path) -> Vec<String> {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let expected_dir = dir.join("expected");
    let mut problems = Vec::new();
    let built = build(dir);
    if let Ok(wanted) = fs::read_to_string(expected_dir.join("error.txt")) {
        match built {
            Ok(_) => problems.push(format!("{name}: built, expected error {:?}", wanted.trim())),
            Err(error) if error.contains(wanted.trim()) => {}
            Err(error) => {
                problems.push(format!("{name}: error {error:?} lacks {:?}", wanted.trim()))
            }
        }
        return problems;
    }
    let root = match built {
        Ok(root) => root,
        Err(error) => return vec![format!("{name}: {error}")],
    };
    let byte_exact = expected_dir.join("byte-exact").exists();
    let mut compared = 0;
    for entry in fs::read_dir(&expected_dir).unwrap() {
        let path = entry.unwrap().path();
        let file_name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !file_name.ends_with(".json") {
            continue;
        }
        let parts: Vec<&str> = file_name.split("__").collect();
        let [section, bundle, file] = parts.as_slice() else {
            panic!("{name}: bad expected file name {file_name}");
        };
        let in_tree = format!("containers/{section}/{bundle}/{file}");
        let actual = match root.get(in_tree.as_bytes()).map(|node| &node.kind) {
            Some(NodeKind::File(Content::Inline(data))) => data.to_vec(),
            other => {
                problems
                    .push(format!("{name}: {in_tree}: expected a generated file, found {other:?}"));
                continue;
            }
        };
        let expected_bytes = fs::read(&path).unwrap();
        let expected: serde_json::Value = serde_json::from_slice(&expected_bytes)
            .unwrap_or_else(|e| panic!("{name}/{file_name}: {e}"));
        let actual_value: serde_json::Value = serde_json::from_slice(&actual).unwrap();
        if expected != actual_value {
            problems.push(format!(
                "{name}: {in_tree} differs\nexpected: {}\nactual:   {}",
                serde_json::to_string(&expected).unwrap(),
                serde_json::to_string(&actual_value).unwrap()
            ));
        } else if byte_exact && expected_bytes != actual {
            problems.push(format!(
                "{name}: {in_tree} is JSON-equal but not byte-identical:\n{}",
                String::from_utf8_lossy(&actual)
            ));
        }
        compared += 1;
    }
    if compared == 0 {
        problems.push(format!("{name}: no expected files"));
    }
    problems
}

#[test]
fn hand_derived_cases_match() {
    let mut dirs: Vec<PathBuf> =
        fs::read_dir(cases_dir()).unwrap().map(|entry| entry.unwrap().path()).collect();
    dirs.sort();
    assert!(dirs.len() >= 20, "only {} cases", dirs.len());
    let problems: Vec<String> = dirs.iter().flat_map(|dir| check_case(dir)).collect();
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n\n"));
}

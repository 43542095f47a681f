//! Builds the oracle fixture (`testdata/linuxkit/oracle/fixture.yml`) from the real lkfix images
//! (`cargo xtask fixtures`, an OCI layout made from the same Debian packages as the oracle's) and
//! compares the root tree with LinuxKit's `tar` output listing, as the set of unique paths (last
//! entry wins) with type, mode, uid, gid, size, link target, mtime and origin.
//!
//! Allowed differences (CLARIFICATIONS.md): `sbom.spdx.json` is ignored; entries under
//! `lib/modules/<version>/` are compared with the version replaced; `etc` keeps the init image's
//! origin (kit keeps an existing directory's metadata in the files section, a documented fix);
//! a hard link has its target's mode (it is the same inode), not the link header's.
//! The layout is read from `$KIT_FIXTURES_DIR/oci` (default `target/kit-fixtures/oci`); without
//! it the test is skipped locally and fails when `CI` is set.

use std::collections::BTreeMap;
use std::path::PathBuf;

use formats::tree::{Content, NodeKind};
use kit::config::{self, SourceFile};
use kit::linuxkit::{AssembleOptions, HostFiles, Images, ResolvedImage, assemble};
use kit::oci::{ImageSource, OciLayout, Platform};
use kit::tree::{LayerFiles, merge_image};

#[path = "support/oracle_listing.rs"]
mod oracle_listing;

use oracle_listing::{kit_entries, modulo_version, oracle_entries};

const FIXTURE: &str = include_str!("../testdata/linuxkit/oracle/fixture.yml");

fn fixtures_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("KIT_FIXTURES_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/kit-fixtures"),
    };
    if dir.join("oci/index.json").exists() {
        return Some(dir);
    }
    let message = format!("no fixture layout at {} (run `cargo xtask fixtures`)", dir.display());
    if std::env::var_os("CI").is_some() {
        panic!("{message}");
    }
    eprintln!("skipping: {message}");
    None
}

struct Layered {
    images: BTreeMap<String, ResolvedImage>,
    layers: LayerFiles,
}

impl Images for Layered {
    fn image(&self, reference: &str) -> Option<&ResolvedImage> {
        self.images.get(reference)
    }

    fn content_source(&self) -> &dyn formats::tree::ContentSource {
        &self.layers
    }
}

struct Host(Vec<u8>);

impl HostFiles for Host {
    fn read_source(&self, _source: &str) -> std::io::Result<Option<Vec<u8>>> {
        Ok(None)
    }

    fn metadata(&self, format: &str) -> Result<Vec<u8>, String> {
        assert_eq!(format, "yaml");
        Ok(self.0.clone())
    }
}

#[test]
fn real_fixture_images_assemble_like_linuxkit() {
    let Some(dir) = fixtures_dir() else { return };
    let layout = OciLayout::open(dir.join("oci")).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let layers = LayerFiles::new(scratch.path()).unwrap();
    let config =
        config::load(&[SourceFile { name: "fixture.yml".into(), text: FIXTURE.into() }]).unwrap();
    let mut images = BTreeMap::new();
    for (_, image_ref, _) in config.images() {
        let resolved = layout.resolve(&image_ref.written, &Platform::linux("amd64")).unwrap();
        let tree = merge_image(&layout, &resolved, &layers).unwrap();
        let image =
            ResolvedImage::new(&image_ref.reference, tree, resolved.config.value.config.as_ref())
                .unwrap();
        images.insert(image_ref.written.clone(), image);
    }
    let images = Layered { images, layers };
    let host = Host(config.metadata_yaml().into_bytes());
    let options = AssembleOptions { epoch: 1492533000, arch: "amd64".into() };
    let assembled = assemble(&config, &images, &host, &options).unwrap();

    let mut expected = oracle_entries(&modulo_version);
    let etc = expected.get_mut("etc").unwrap();
    etc.origin = "init[1] | localhost:5000/lkfix/init:1".to_string();
    // A hard link shares its target's inode: the layer merge gives it the target's mode, where
    // LinuxKit's tar repeats the link header's own mode (which extraction ignores).
    let links: Vec<(String, String)> = expected
        .iter()
        .filter(|(_, entry)| entry.kind == 'h')
        .map(|(path, entry)| (path.clone(), entry.link.clone()))
        .collect();
    for (path, target) in links {
        let target_mode = expected[&target].mode;
        expected.get_mut(&path).unwrap().mode = target_mode;
    }
    let actual = kit_entries(&assembled.root, &modulo_version);
    let mut problems = Vec::new();
    for (path, want) in &expected {
        match actual.get(path) {
            Some(got) if got == want => {}
            Some(got) => problems.push(format!("{path}: expected {want:?}, found {got:?}")),
            None => problems.push(format!("{path}: missing")),
        }
    }
    for path in actual.keys().filter(|path| !expected.contains_key(*path)) {
        problems.push(format!("{path}: not in LinuxKit's output"));
    }
    assert!(problems.is_empty(), "{} differences:\n{}", problems.len(), problems.join("\n"));

    // The generated bundle files are LinuxKit's bytes.
    for (path, want) in [
        (
            "containers/onboot/000-sysctl/config.json",
            &include_bytes!("../testdata/linuxkit/oracle/onboot__000-sysctl__config.json")[..],
        ),
        (
            "containers/services/hello/config.json",
            include_bytes!("../testdata/linuxkit/oracle/services__hello__config.json"),
        ),
        (
            "containers/services/hello/runtime.json",
            include_bytes!("../testdata/linuxkit/oracle/services__hello__runtime.json"),
        ),
        ("etc/linuxkit-config", include_bytes!("../testdata/linuxkit/oracle/etc__linuxkit-config")),
    ] {
        match assembled.root.get(path.as_bytes()).map(|node| &node.kind) {
            Some(NodeKind::File(Content::Inline(data))) => {
                assert_eq!(&data[..], want, "{path}: {}", String::from_utf8_lossy(data))
            }
            other => panic!("{path}: {other:?}"),
        }
    }
    // Content read through the layer files: the hard-linked init.d script and the kernel.
    let mut script = Vec::new();
    let node = assembled.root.get(b"etc/init.d/001-hello").unwrap();
    let NodeKind::File(content) = &node.kind else { panic!("not a file") };
    std::io::Read::read_to_end(&mut content.open(images.content_source()).unwrap(), &mut script)
        .unwrap();
    assert_eq!(script, b"#!/bin/sh\necho hello from init.d\n");
    assert_eq!(assembled.kernel.as_ref().map(Content::len), Some(8247232));
}

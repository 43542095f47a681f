//! `format: oci` volumes end to end: `kit build` of a configuration whose volumes hold a
//! multi-platform image as an OCI image layout, from a local `--source` layout.
//!
//! Expected values follow LinuxKit's rules (`cache/indexsource.go` `OCITarReader`,
//! `cache/layout.go`): per image manifest its config, layers (as stored) and manifest, then the
//! index blob; `index.json` naming the index with `org.opencontainers.image.ref.name`; with
//! `platforms`, only those manifests' blobs (kit then lists the kept manifests in `index.json`,
//! a documented difference). The written layouts are read back with skopeo and umoci (skipped
//! locally when missing, failing under `CI`).

mod support;

#[path = "support/registry.rs"]
mod registry;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use registry::{noise, tag_layout, write_image, write_index};
use sha2::Digest as _;

const NAME: &str = "docker.io/lkfix/multi:1";

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// The digests of a manifest's config and layers, read from the source layout.
fn manifest_children(layout: &Path, manifest: &str) -> Vec<String> {
    let bytes = fs::read(blob_path(layout, manifest)).unwrap();
    let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let mut out = vec![value["config"]["digest"].as_str().unwrap().to_owned()];
    for layer in value["layers"].as_array().unwrap() {
        out.push(layer["digest"].as_str().unwrap().to_owned());
    }
    out
}

fn blob_path(layout: &Path, digest: &str) -> PathBuf {
    layout.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))
}

/// Every file below `dir`, relative, sorted.
fn files_below(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(path.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out
}

struct Built {
    _temp: tempfile::TempDir,
    source: PathBuf,
    root: PathBuf,
    tar: PathBuf,
    index: String,
    amd: String,
    arm: String,
}

fn build() -> Built {
    let temp = tempfile::tempdir().unwrap();
    let source = temp.path().join("layout");
    let base: &[(&str, &[u8])] = &[("etc/issue", b"kit\n")];
    let amd = write_image(&source, "amd64", &[base, &[("bin/tool", &noise(20_000, 3))]]);
    let arm = write_image(&source, "arm64", &[base, &[("bin/tool", b"arm tool")]]);
    let index = write_index(&source, &[("amd64", &amd), ("arm64", &arm)]);
    tag_layout(&source, NAME, &index);
    let policy = temp.path().join("policy.yaml");
    fs::write(
        &policy,
        "version: 1\nrules:\n  - name: test layout\n    images: [docker.io/lkfix/**]\n    unsigned: accept\n",
    )
    .unwrap();
    let config = temp.path().join("volumes.yml");
    fs::write(
        &config,
        format!(
            "volumes:\n  - name: all\n    image: {NAME}\n    format: oci\n  - name: arm\n    image: {NAME}\n    format: oci\n    readonly: true\n    platforms:\n      - linux/arm64\n"
        ),
    )
    .unwrap();
    let tar = temp.path().join("out.tar");
    let output = Command::new(env!("CARGO_BIN_EXE_kit"))
        .args(["build", "--offline", "--source"])
        .arg(&source)
        .arg("--cache")
        .arg(temp.path().join("cache"))
        .arg("--policy")
        .arg(&policy)
        .args(["--format", "tar", "--epoch", "1700000000", "-o"])
        .arg(&tar)
        .arg(&config)
        .env_remove("SOURCE_DATE_EPOCH")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "kit build failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let root = temp.path().join("root");
    fs::create_dir_all(&root).unwrap();
    tar::Archive::new(fs::File::open(&tar).unwrap()).unpack(&root).unwrap();
    Built { _temp: temp, source, root, tar, index: index.digest, amd: amd.digest, arm: arm.digest }
}

#[test]
fn oci_volumes_hold_the_verified_blobs_in_linuxkit_layout() {
    let built = build();
    let all = built.root.join("containers/volumes/all/lower");
    let arm = built.root.join("containers/volumes/arm/lower");

    // Without platforms: every manifest's config, layers and manifest, and the index blob.
    let mut expected: BTreeSet<String> = ["oci-layout".to_owned(), "index.json".to_owned()].into();
    for digest in manifest_children(&built.source, &built.amd)
        .into_iter()
        .chain(manifest_children(&built.source, &built.arm))
        .chain([built.amd.clone(), built.arm.clone(), built.index.clone()])
    {
        expected.insert(format!("blobs/sha256/{}", digest.trim_start_matches("sha256:")));
    }
    assert_eq!(files_below(&all), expected);
    for file in expected.iter().filter(|f| f.starts_with("blobs/")) {
        let bytes = fs::read(all.join(file)).unwrap();
        let digest = format!("sha256:{}", file.trim_start_matches("blobs/sha256/"));
        assert_eq!(sha256(&bytes), digest, "{file} holds other bytes than its digest");
        assert_eq!(bytes, fs::read(blob_path(&built.source, &digest)).unwrap());
    }
    assert_eq!(
        fs::read(all.join("oci-layout")).unwrap(),
        b"{\n\t\t\"imageLayoutVersion\": \"1.0.0\"\n\t}"
    );
    let index_json: serde_json::Value =
        serde_json::from_slice(&fs::read(all.join("index.json")).unwrap()).unwrap();
    assert_eq!(index_json["schemaVersion"], 2);
    let manifests = index_json["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 1);
    assert_eq!(manifests[0]["digest"], built.index);
    assert_eq!(manifests[0]["mediaType"], "application/vnd.oci.image.index.v1+json");
    assert_eq!(manifests[0]["annotations"]["org.opencontainers.image.ref.name"], NAME);
    for dir in ["containers/volumes/all/tmp", "containers/volumes/all/merged"] {
        assert!(built.root.join(dir).is_dir(), "{dir}");
    }

    // platforms: [linux/arm64]: only the arm64 manifest's blobs, and index.json names it.
    let mut expected: BTreeSet<String> = ["oci-layout".to_owned(), "index.json".to_owned()].into();
    for digest in
        manifest_children(&built.source, &built.arm).into_iter().chain([built.arm.clone()])
    {
        expected.insert(format!("blobs/sha256/{}", digest.trim_start_matches("sha256:")));
    }
    assert_eq!(files_below(&arm), expected);
    let index_json: serde_json::Value =
        serde_json::from_slice(&fs::read(arm.join("index.json")).unwrap()).unwrap();
    let manifests = index_json["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 1);
    assert_eq!(manifests[0]["digest"], built.arm);
    assert_eq!(manifests[0]["platform"]["architecture"], "arm64");
    assert_eq!(manifests[0]["annotations"]["org.opencontainers.image.ref.name"], NAME);

    // Tar headers of the generated entries: 0644 files, 0755 directories, owner 0:0, the epoch.
    let mut archive = tar::Archive::new(fs::File::open(&built.tar).unwrap());
    let mut seen = 0;
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let path = path.trim_end_matches('/');
        if !path.starts_with("containers/volumes/all/lower/") {
            continue;
        }
        seen += 1;
        let header = entry.header();
        let want = if header.entry_type().is_dir() { 0o755 } else { 0o644 };
        assert_eq!(header.mode().unwrap() & 0o7777, want, "{path}");
        assert_eq!((header.uid().unwrap(), header.gid().unwrap()), (0, 0), "{path}");
        assert_eq!(header.mtime().unwrap(), 1_700_000_000, "{path}");
    }
    assert_eq!(seen, files_below(&all).len() + 2, "files plus blobs/ and blobs/sha256/");
}

fn tool(name: &str) -> Option<PathBuf> {
    support::require_tool(name)
}

fn run(command: &mut Command) -> Vec<u8> {
    let output = command.stdin(Stdio::null()).output().unwrap();
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

#[test]
fn skopeo_and_umoci_read_the_volume_layouts() {
    let (Some(skopeo), Some(umoci)) = (tool("skopeo"), tool("umoci")) else { return };
    let built = build();
    let all = built.root.join("containers/volumes/all/lower");
    let arm = built.root.join("containers/volumes/arm/lower");
    for dir in [&all, &arm] {
        let listed = run(Command::new(&umoci).arg("ls").arg("--layout").arg(dir));
        assert_eq!(String::from_utf8_lossy(&listed).trim(), NAME, "{}", dir.display());
    }
    // The raw root each layout names is the signed index, or the kept manifest.
    let raw =
        run(Command::new(&skopeo).args(["inspect", "--raw"]).arg(format!("oci:{}", all.display())));
    assert_eq!(sha256(&raw), built.index);
    let raw =
        run(Command::new(&skopeo).args(["inspect", "--raw"]).arg(format!("oci:{}", arm.display())));
    assert_eq!(sha256(&raw), built.arm);
    // skopeo follows the index to each platform's manifest and config.
    for (arch, digest) in [("amd64", &built.amd), ("arm64", &built.arm)] {
        let inspect = run(Command::new(&skopeo)
            .args(["--override-os", "linux", "--override-arch", arch, "inspect"])
            .arg(format!("oci:{}:{NAME}", all.display())));
        let value: serde_json::Value = serde_json::from_slice(&inspect).unwrap();
        // skopeo reports the digest the name points at (the index) and the chosen manifest's
        // layers.
        assert_eq!(value["Digest"], built.index, "{arch}");
        assert_eq!(value["Architecture"], arch);
        let layers: Vec<String> = manifest_children(&built.source, digest)[1..].to_vec();
        assert_eq!(value["Layers"], serde_json::json!(layers), "{arch}");
    }
    // A full copy out of the pruned layout checks every blob's digest.
    let copy = built.root.join("copied");
    run(Command::new(&skopeo)
        .args(["copy", "--quiet"])
        .arg(format!("oci:{}", arm.display()))
        .arg(format!("dir:{}", copy.display())));
    assert!(copy.join("manifest.json").is_file());
}

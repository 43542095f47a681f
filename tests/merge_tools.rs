//! kit reads what independent tools write, and they read what kit writes: umoci builds layered
//! images (with its own whiteouts and hard links) in an OCI layout, skopeo converts them to an OCI
//! archive, a `docker save` archive and zstd layers, and skopeo copies a layout kit wrote.
//!
//! The expected trees are derived by hand from what the test does to the root filesystems.
//! A missing tool skips a test locally (with a message) and fails it when `CI` is set.

use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;

use formats::tree::{ContentSource, NodeKind, Tree};
use kit::digest::Digest;
use kit::oci::{ArchiveSource, Descriptor, ImageSource, OciLayout, Platform, media_type};
use kit::tree::{LayerFiles, merge_image};

fn have(tool: &str) -> bool {
    let found = Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(std::env::var_os("CI").is_none(), "{tool} is required when CI is set");
        eprintln!("skipping: {tool} is not installed");
    }
    found
}

fn run(dir: &Path, program: &str, args: &[&str]) {
    let output = Command::new(program).args(args).current_dir(dir).output().unwrap();
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// One line per node: path, type, permission bits, owner and payload (no mtimes: tools set them).
fn dump(tree: &Tree, content: &dyn ContentSource) -> String {
    let mut out = String::new();
    tree.walk::<()>(&mut |path, node| {
        let path = String::from_utf8_lossy(path);
        let payload = match &node.kind {
            NodeKind::Dir(_) => "dir".to_owned(),
            NodeKind::File(c) => {
                let mut data = String::new();
                c.open(content).unwrap().read_to_string(&mut data).unwrap();
                format!("file {data:?}")
            }
            NodeKind::HardLink(t) => format!("hardlink => {}", String::from_utf8_lossy(t)),
            NodeKind::Symlink(t) => format!("symlink -> {}", String::from_utf8_lossy(t)),
            other => format!("{other:?}"),
        };
        let meta = &node.meta;
        out += &format!("{path} {:04o} {}:{} {payload}\n", meta.mode, meta.uid, meta.gid);
        Ok(())
    })
    .unwrap();
    out
}

fn merged(source: &dyn ImageSource, reference: &str, layers: &Path) -> String {
    let image = source.resolve(reference, &Platform::linux("amd64")).unwrap();
    let layers = LayerFiles::new(layers).unwrap();
    let tree = merge_image(source, &image, &layers).unwrap();
    dump(&tree, &layers)
}

/// Builds `L:one` (files, a setuid file with a hard link, a symlink, a nested directory) and on
/// top of it `L:two` (deletes the symlink and the nested directory, adds two files) with umoci.
fn umoci_image(dir: &Path) {
    run(dir, "umoci", &["init", "--layout", "L"]);
    run(dir, "umoci", &["new", "--image", "L:base"]);
    run(dir, "umoci", &["unpack", "--rootless", "--image", "L:base", "b"]);
    let root = dir.join("b/rootfs");
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::create_dir_all(root.join("var/lib/db")).unwrap();
    fs::write(root.join("etc/motd"), "hi\n").unwrap();
    fs::write(root.join("var/lib/db/data"), "x\n").unwrap();
    fs::hard_link(root.join("etc/motd"), root.join("etc/issue")).unwrap();
    std::os::unix::fs::symlink("motd", root.join("etc/link")).unwrap();
    run(dir, "chmod", &["4755", "b/rootfs/etc/motd"]);
    run(dir, "umoci", &["repack", "--image", "L:one", "b"]);
    run(dir, "umoci", &["unpack", "--rootless", "--image", "L:one", "c"]);
    let root = dir.join("c/rootfs");
    fs::remove_dir_all(root.join("var/lib/db")).unwrap();
    fs::remove_file(root.join("etc/link")).unwrap();
    fs::write(root.join("var/new"), "new\n").unwrap();
    fs::write(root.join("etc/issue2"), "changed\n").unwrap();
    run(dir, "umoci", &["repack", "--image", "L:two", "c"]);
}

/// What `L:two` must merge to: the hard-link pair survives as one file and one link (whichever
/// name comes first in tree order holds the data), the whiteouts removed the symlink and the
/// directory with its content.
const TWO: &str = "\
etc 0755 0:0 dir
etc/issue 4755 0:0 file \"hi\\n\"
etc/issue2 0644 0:0 file \"changed\\n\"
etc/motd 4755 0:0 hardlink => etc/issue
var 0755 0:0 dir
var/lib 0755 0:0 dir
var/new 0644 0:0 file \"new\\n\"
";

#[test]
fn umoci_layers_merge_as_specified() {
    if !have("umoci") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    umoci_image(dir.path());
    let layout = OciLayout::open(dir.path().join("L")).unwrap();
    assert_eq!(merged(&layout, "two", &dir.path().join("layers")), TWO);
    let one = merged(&layout, "one", &dir.path().join("layers"));
    assert!(one.contains("etc/link 0777 0:0 symlink -> motd\n"), "{one}");
    assert!(one.contains("var/lib/db/data 0644 0:0 file \"x\\n\"\n"), "{one}");
}

#[test]
fn skopeo_archives_and_zstd_layers_merge_the_same() {
    if !have("umoci") || !have("skopeo") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    umoci_image(d);
    run(d, "skopeo", &["copy", "-q", "oci:L:two", "oci-archive:oci.tar:busybox:1"]);
    run(d, "skopeo", &["copy", "-q", "oci:L:two", "docker-archive:docker.tar:busybox:1"]);
    run(d, "skopeo", &["copy", "-q", "--dest-compress-format", "zstd", "oci:L:two", "oci:Z:z"]);

    let oci = ArchiveSource::open(d.join("oci.tar")).unwrap();
    assert_eq!(merged(&oci, "docker.io/library/busybox:1", &d.join("l1")), TWO);
    let docker = ArchiveSource::open(d.join("docker.tar")).unwrap();
    assert_eq!(merged(&docker, "busybox:1", &d.join("l2")), TWO);
    let zstd = OciLayout::open(d.join("Z")).unwrap();
    let image = zstd.resolve("z", &Platform::linux("amd64")).unwrap();
    assert!(image.layers().iter().all(|l| l.media_type == media_type::OCI_LAYER_TAR_ZSTD));
    assert_eq!(merged(&zstd, "z", &d.join("l3")), TWO);
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn put(layout: &OciLayout, media_type: &str, bytes: &[u8]) -> Descriptor {
    let digest = Digest::sha256(bytes);
    layout.write_blob_bytes(&digest, bytes).unwrap();
    Descriptor::new(media_type, digest, u64::try_from(bytes.len()).unwrap())
}

#[test]
fn skopeo_copies_a_layout_kit_wrote() {
    if !have("skopeo") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let layout = OciLayout::create(dir.path().join("kit")).unwrap();
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_size(4);
    header.set_mode(0o600);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, "etc/hostname", &b"kit\n"[..]).unwrap();
    let tar = tar.into_inner().unwrap();
    let layer = put(&layout, media_type::OCI_LAYER_TAR_GZIP, &gzip(&tar));
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [Digest::sha256(&tar)]},
    });
    let config = put(&layout, media_type::OCI_CONFIG, config.to_string().as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_MANIFEST,
        "config": config,
        "layers": [layer],
    });
    let manifest = put(&layout, media_type::OCI_MANIFEST, manifest.to_string().as_bytes());
    layout.add_ref("docker.io/library/kit:1", &manifest).unwrap();

    // skopeo verifies every blob while copying; the copy names the image by a bare tag.
    run(dir.path(), "skopeo", &["copy", "-q", "oci:kit:docker.io/library/kit:1", "oci:copy:1"]);
    let copy = OciLayout::open(dir.path().join("copy")).unwrap();
    assert_eq!(copy.find("kit:1").unwrap().digest, manifest.digest);
    assert_eq!(
        merged(&copy, "kit:1", &dir.path().join("layers")),
        "etc 0755 0:0 dir\netc/hostname 0600 0:0 file \"kit\\n\"\n"
    );
}

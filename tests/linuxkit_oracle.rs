//! Assembles the oracle fixture (`testdata/linuxkit/oracle/fixture.yml`) from in-memory images that
//! reproduce the lkfix images entry by entry (`make_oci.py`: names, modes, sizes, mtimes), and
//! compares the root tree with LinuxKit's own `tar` output listing, and the generated bundle files
//! with LinuxKit's bytes.
//!
//! The listing is compared as the set of unique paths (the last tar entry of a path wins, as when
//! extracting) with type, mode, uid, gid, size, link target, mtime and origin
//! (`LINUXKIT.location` / `LINUXKIT.source`). `sbom.spdx.json` is ignored (CLARIFICATIONS.md).
//! File contents of the large binaries are not compared here (they are blob references); the
//! real-fixture test does that.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use formats::tree::{BlobRange, Content, Dir, Meta, NoBlobs, Node, NodeKind, Tree};
use kit::config::{Config, File, Image, ImageConfig, ImageRef, InitImage, Kernel, Location};
use kit::linuxkit::spec::ImageDefaults;
use kit::linuxkit::{AssembleOptions, HostFiles, ImageMap, ResolvedImage, assemble};

#[path = "support/oracle_listing.rs"]
mod oracle_listing;

use oracle_listing::{kit_entries, oracle_entries};

const LAYER_TIME: i64 = 1704067200;
const EPOCH: i64 = 1492533000;
const PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const APPLETS: [&str; 17] = [
    "sh", "ls", "cat", "echo", "sleep", "mount", "umount", "mkdir", "ps", "true", "false", "date",
    "uname", "hostname", "ip", "sysctl", "poweroff",
];
/// Module files of the recorded kernel.tar and their sizes (from the oracle listing).
const MODULES: [(&str, u64); 13] = [
    ("modules.order", 160062),
    ("modules.builtin", 6483),
    ("modules.builtin.modinfo", 45762),
    ("kernel/drivers/virtio/virtio.ko", 33265),
    ("kernel/drivers/virtio/virtio_balloon.ko", 47721),
    ("kernel/drivers/virtio/virtio_dma_buf.ko", 8217),
    ("kernel/drivers/virtio/virtio_input.ko", 28097),
    ("kernel/drivers/virtio/virtio_mem.ko", 80281),
    ("kernel/drivers/virtio/virtio_mmio.ko", 25777),
    ("kernel/drivers/virtio/virtio_pci.ko", 61761),
    ("kernel/drivers/virtio/virtio_pci_legacy_dev.ko", 16329),
    ("kernel/drivers/virtio/virtio_pci_modern_dev.ko", 31609),
    ("kernel/drivers/virtio/virtio_ring.ko", 76785),
];
const KVER: &str = "6.1.0-56-amd64";

fn meta(mode: u32) -> Meta {
    Meta::new(mode, LAYER_TIME)
}

fn insert(tree: &mut Tree, path: &str, kind: NodeKind, mode: u32) {
    let mut parts: Vec<&str> = path.split('/').collect();
    let Some(last) = parts.pop() else { return };
    let mut dir: &mut Dir = &mut tree.root;
    for part in parts {
        let node = dir
            .entry(part.as_bytes().to_vec())
            .or_insert_with(|| Node::new(NodeKind::Dir(Dir::new()), meta(0o755)));
        dir = match &mut node.kind {
            NodeKind::Dir(entries) => entries,
            _ => panic!("{part} is not a directory"),
        };
    }
    match (dir.get_mut(last.as_bytes()), kind) {
        (Some(existing), NodeKind::Dir(_)) => existing.meta = meta(mode),
        (_, kind) => {
            dir.insert(last.as_bytes().to_vec(), Node::new(kind, meta(mode)));
        }
    }
}

fn dir() -> NodeKind {
    NodeKind::Dir(Dir::new())
}

fn inline(text: &str) -> NodeKind {
    NodeKind::File(Content::Inline(Arc::from(text.as_bytes())))
}

fn blob(object: &str, len: u64) -> NodeKind {
    NodeKind::File(Content::Blob(BlobRange { object: Arc::from(object), offset: 0, len }))
}

fn busybox_tree(with_ls: bool) -> Tree {
    let mut tree = Tree::new(0);
    insert(&mut tree, "bin", dir(), 0o755);
    insert(&mut tree, "bin/busybox", blob("busybox", 1982256), 0o755);
    for applet in APPLETS {
        if applet != "ls" || with_ls {
            insert(
                &mut tree,
                &format!("bin/{applet}"),
                NodeKind::Symlink(b"busybox".to_vec()),
                0o777,
            );
        }
    }
    insert(&mut tree, "etc", dir(), 0o755);
    insert(&mut tree, "etc/passwd", inline("root:x:0:0:root:/root:/bin/sh\n"), 0o644);
    insert(&mut tree, "etc/group", inline("root:x:0:\n"), 0o644);
    insert(&mut tree, "tmp", dir(), 0o1777);
    tree
}

fn init_tree() -> Tree {
    let mut tree = Tree::new(0);
    insert(&mut tree, "init", inline("#!/bin/sh\nexec /bin/sh\n"), 0o755);
    insert(&mut tree, "etc", dir(), 0o755);
    insert(&mut tree, "etc/issue", inline("lkfix test image\n"), 0o644);
    insert(&mut tree, "etc/init.d", dir(), 0o755);
    insert(&mut tree, "etc/init.d/001-hello", inline("#!/bin/sh\necho hello from init.d\n"), 0o755);
    insert(
        &mut tree,
        "etc/init.d/002-hello-hardlink",
        NodeKind::HardLink(b"etc/init.d/001-hello".to_vec()),
        0o644,
    );
    insert(&mut tree, "sbin", dir(), 0o755);
    insert(&mut tree, "sbin/init", NodeKind::Symlink(b"/init".to_vec()), 0o777);
    tree
}

/// The svc image after its two layers: busybox, minus `bin/ls` (whiteout), with an emptied
/// `tmp` (opaque whiteout; busybox's `tmp` was empty anyway) and the new files.
fn svc_tree() -> Tree {
    let mut tree = busybox_tree(false);
    insert(&mut tree, "etc/svc", dir(), 0o755);
    insert(&mut tree, "etc/svc/hello.txt", inline("hello from svc layer 2\n"), 0o644);
    insert(&mut tree, "var", dir(), 0o755);
    insert(&mut tree, "var/lib", dir(), 0o755);
    insert(&mut tree, "var/lib/svc", dir(), 0o700);
    insert(&mut tree, "var/lib/svc/state", inline("0\n"), 0o600);
    tree
}

/// kernel.tar as make_oci.py writes it: directories with trailing slashes, PAX format.
fn kernel_tar() -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut add = |name: &str, size: u64, kind: tar::EntryType, mode: u32| {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(kind);
        header.set_size(size);
        header.set_mode(mode);
        header.set_mtime(u64::try_from(LAYER_TIME).unwrap());
        header.set_uid(0);
        header.set_gid(0);
        let data = vec![0u8; usize::try_from(size).unwrap()];
        builder.append_data(&mut header, name, &data[..]).unwrap();
    };
    let base = format!("lib/modules/{KVER}");
    for d in ["lib/", "lib/modules/", &format!("{base}/")] {
        add(d, 0, tar::EntryType::Directory, 0o755);
    }
    for (name, size) in &MODULES[..3] {
        add(&format!("{base}/{name}"), *size, tar::EntryType::Regular, 0o644);
    }
    for d in ["kernel/", "kernel/drivers/", "kernel/drivers/virtio/"] {
        add(&format!("{base}/{d}"), 0, tar::EntryType::Directory, 0o755);
    }
    for (name, size) in &MODULES[3..] {
        add(&format!("{base}/{name}"), *size, tar::EntryType::Regular, 0o644);
    }
    builder.into_inner().unwrap()
}

fn kernel_tree() -> Tree {
    let mut tree = Tree::new(0);
    insert(&mut tree, "kernel", blob("kernel", 8247232), 0o644);
    let tar = kernel_tar();
    insert(&mut tree, "kernel.tar", NodeKind::File(Content::Inline(Arc::from(tar))), 0o644);
    tree
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| item.to_string()).collect()
}

fn images() -> ImageMap<NoBlobs> {
    let busybox = ImageDefaults {
        env: Some(strings(&[PATH_ENV])),
        cmd: Some(strings(&["/bin/sh"])),
        ..ImageDefaults::default()
    };
    let svc = ImageDefaults {
        env: Some(strings(&[PATH_ENV, "SVC_MODE=test"])),
        entrypoint: Some(strings(&["/bin/sh", "-c"])),
        cmd: Some(strings(&["cat /etc/svc/hello.txt; exec sleep 3600"])),
        working_dir: Some("/var/lib/svc".into()),
        labels: BTreeMap::new(),
    };
    let svc_label = ImageConfig {
        capabilities: Some(strings(&["CAP_NET_BIND_SERVICE", "CAP_CHOWN"])),
        binds: Some(strings(&["/etc/resolv.conf:/etc/resolv.conf"])),
        ..ImageConfig::default()
    };
    let mut images = BTreeMap::new();
    let mut add = |name: &str, tree: Tree, config: ImageDefaults, label: Option<ImageConfig>| {
        let full = format!("localhost:5000/lkfix/{name}");
        images.insert(full.clone(), ResolvedImage { name: full, tree, config, label });
    };
    add("kernel:6.1", kernel_tree(), ImageDefaults::default(), None);
    add("busybox:1.35", busybox_tree(true), busybox, None);
    add(
        "init:1",
        init_tree(),
        ImageDefaults { env: Some(strings(&[PATH_ENV])), ..Default::default() },
        None,
    );
    add("svc:1", svc_tree(), svc, Some(svc_label));
    ImageMap { images, source: NoBlobs, oci_volumes: BTreeMap::new() }
}

/// fixture.yml as assembly input.
fn fixture() -> Config {
    let lk = |name: &str| {
        let written = format!("localhost:5000/lkfix/{name}");
        ImageRef { reference: written.parse().unwrap(), written }
    };
    let init = |name: &str| InitImage { image: lk(name), location: Location::default() };
    Config {
        kernel: Some(Kernel {
            image: Some(lk("kernel:6.1")),
            cmdline: Some("console=ttyS0 console=tty0".into()),
            ..Kernel::default()
        }),
        init: vec![init("busybox:1.35"), init("init:1")],
        onboot: vec![Image {
            name: "sysctl".into(),
            image: lk("busybox:1.35"),
            location: Location::default(),
            config: ImageConfig {
                command: Some(strings(&["/bin/sh", "-c", "echo onboot; sysctl -a >/dev/null"])),
                capabilities: Some(strings(&["CAP_SYS_ADMIN"])),
                binds: Some(strings(&["/etc:/hostetc"])),
                readonly: Some(true),
                ..ImageConfig::default()
            },
        }],
        services: vec![Image {
            name: "hello".into(),
            image: lk("svc:1"),
            location: Location::default(),
            config: ImageConfig { env: Some(strings(&["HELLO=world"])), ..ImageConfig::default() },
        }],
        files: vec![
            File {
                path: "etc/lkfix/motd".into(),
                contents: Some("hello from the files section\n".into()),
                mode: Some("0644".into()),
                ..File::default()
            },
            File { path: "etc/lkfix/empty-dir".into(), directory: Some(true), ..File::default() },
            File {
                path: "etc/linuxkit-config".into(),
                metadata: Some("yaml".into()),
                ..File::default()
            },
        ],
        ..Config::default()
    }
}

struct Host;

impl HostFiles for Host {
    fn read_source(&self, _source: &str) -> std::io::Result<Option<Vec<u8>>> {
        Ok(None)
    }

    fn metadata(&self, format: &str) -> Result<Vec<u8>, String> {
        assert_eq!(format, "yaml");
        Ok(include_bytes!("../testdata/linuxkit/oracle/etc__linuxkit-config").to_vec())
    }
}

fn assembled() -> kit::linuxkit::Assembled {
    let options = AssembleOptions { epoch: EPOCH, arch: "amd64".into() };
    assemble(&fixture(), &images(), &Host, &options).unwrap()
}

#[test]
fn oracle_root_tree_matches_linuxkit_listing() {
    let assembled = assembled();
    let mut expected = oracle_entries(&str::to_owned);
    // Documented fix: an existing directory keeps its metadata when a `files` entry lives in it;
    // LinuxKit re-emits `etc` from the files section (same mode, owner and time here, so only
    // the origin differs).
    let etc = expected.get_mut("etc").unwrap();
    assert_eq!(etc.origin, "files[0] | linuxkit.files");
    etc.origin = "init[1] | localhost:5000/lkfix/init:1".to_string();

    let actual = kit_entries(&assembled.root, &str::to_owned);
    let mut problems = Vec::new();
    for (path, want) in &expected {
        match actual.get(path) {
            Some(got) if got == want => {}
            Some(got) => problems.push(format!("{path}: expected {want:?}, found {got:?}")),
            None => problems.push(format!("{path}: missing")),
        }
    }
    for path in actual.keys() {
        if !expected.contains_key(path) {
            problems.push(format!("{path}: not in LinuxKit's output"));
        }
    }
    assert!(problems.is_empty(), "{} differences:\n{}", problems.len(), problems.join("\n"));
    // 160 listing lines, minus sbom.spdx.json, minus 15 repeated paths (`sort -u` of the names).
    assert_eq!(expected.len(), 144, "unique paths of the listing");
}

fn file_bytes(tree: &Tree, path: &str) -> Vec<u8> {
    match tree.get(path.as_bytes()).map(|node| &node.kind) {
        Some(NodeKind::File(Content::Inline(data))) => data.to_vec(),
        other => panic!("{path}: expected an inline file, found {other:?}"),
    }
}

#[test]
fn oracle_bundle_files_are_byte_identical() {
    let assembled = assembled();
    let root = &assembled.root;
    for (path, expected) in [
        (
            "containers/onboot/000-sysctl/config.json",
            &include_bytes!("../testdata/linuxkit/oracle/onboot__000-sysctl__config.json")[..],
        ),
        (
            "containers/onboot/000-sysctl/runtime.json",
            include_bytes!("../testdata/linuxkit/oracle/onboot__000-sysctl__runtime.json"),
        ),
        (
            "containers/services/hello/config.json",
            include_bytes!("../testdata/linuxkit/oracle/services__hello__config.json"),
        ),
        (
            "containers/services/hello/runtime.json",
            include_bytes!("../testdata/linuxkit/oracle/services__hello__runtime.json"),
        ),
        ("boot/cmdline", b"console=ttyS0 console=tty0"),
        ("etc/lkfix/motd", b"hello from the files section\n"),
        ("etc/hosts", b"127.0.0.1       localhost\n::1     localhost ip6-localhost ip6-loopback\nfe00::0 ip6-localnet\nff00::0 ip6-mcastprefix\nff02::1 ip6-allnodes\nff02::2 ip6-allrouters\n"),
        ("containers/services/hello/lower/etc/resolv.conf", b"\n# no resolv.conf configured\n"),
    ] {
        let actual = file_bytes(root, path);
        if actual != expected {
            let mut out = std::io::stderr();
            let _ = writeln!(out, "{path}:\n{}", String::from_utf8_lossy(&actual));
            panic!("{path} differs from LinuxKit's");
        }
    }
    assert_eq!(assembled.cmdline, "console=ttyS0 console=tty0");
    assert!(matches!(&assembled.kernel, Some(Content::Blob(range)) if range.len == 8247232));
    assert!(assembled.ucode.is_none());
}

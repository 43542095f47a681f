//! Boots the example system from its root filesystem images: `kernel+squashfs`,
//! `kernel+erofs` and `kernel+iso`, each attached by `kit run qemu` (the ISO by QEMU
//! arguments) as a read-only virtio disk, and waits for the example's onboot marker.
//!
//! Debian's 6.1 kernel has virtio-blk, squashfs, erofs and isofs as modules, so each boot adds a
//! small test-only initrd (made here with kit's own cpio writer) that loads them from the
//! example's own `lib/modules`, mounts `/dev/vda` read-only and switch_roots to the image's
//! `/sbin/init`. The image under test is exactly what `kit build` wrote. The loader initrd holds
//! no onboot container, so the marker can only come from the image.
//!
//! Needs qemu-system-x86_64 and the fixtures (skipped locally without them, a failure in CI); a
//! boot takes 10–30 s of TCG, so locally these run only with `KIT_SLOW_TESTS=1`.

mod support;

use std::fs;
use std::io::Read;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use formats::tree::{Content, Meta, Node, NodeKind, Tree};
use kit::run::{QemuOptions, RunOutcome, run_qemu};

const MARKER: &str = "kit: hello from onboot";

/// Modules the loader inserts, in order, relative to `lib/modules/<version>/kernel/`.
const VIRTIO: &[&str] = &[
    "drivers/virtio/virtio_ring.ko",
    "drivers/virtio/virtio.ko",
    "drivers/virtio/virtio_pci_modern_dev.ko",
    "drivers/virtio/virtio_pci_legacy_dev.ko",
    "drivers/virtio/virtio_pci.ko",
    "drivers/block/virtio_blk.ko",
];

struct RootImage {
    format: &'static str,
    file: &'static str,
    fstype: &'static str,
    modules: &'static [&'static str],
}

const SQUASHFS: RootImage = RootImage {
    format: "kernel+squashfs",
    file: "hello-squashfs.img",
    fstype: "squashfs",
    modules: &["fs/squashfs/squashfs.ko"],
};

const EROFS: RootImage = RootImage {
    format: "kernel+erofs",
    file: "hello-erofs.img",
    fstype: "erofs",
    modules: &["crypto/crc32c_generic.ko", "lib/libcrc32c.ko", "fs/erofs/erofs.ko"],
};

const ISO: RootImage = RootImage {
    format: "kernel+iso",
    file: "hello.iso",
    fstype: "iso9660",
    modules: &["drivers/cdrom/cdrom.ko", "fs/isofs/isofs.ko"],
};

#[test]
fn squashfs_root_boots_to_the_marker() {
    boot(&SQUASHFS);
}

#[test]
fn erofs_root_boots_to_the_marker() {
    boot(&EROFS);
}

#[test]
fn iso_root_boots_to_the_marker() {
    boot(&ISO);
}

fn boot(image: &RootImage) {
    let Some(()) = support::require_slow_tests("a QEMU boot of about 10-30 s") else { return };
    let Some(fixtures) = support::fixtures_dir() else { return };
    let Some(qemu) = support::require_tool("qemu-system-x86_64") else { return };
    let out = tempfile::tempdir().unwrap();
    let dir = out.path();
    let output = Command::new(env!("CARGO_BIN_EXE_kit"))
        .arg("build")
        .arg("--offline")
        .arg("--source")
        .arg(fixtures.join("oci"))
        .arg("--cache")
        .arg(dir.join("cache"))
        .arg("--policy")
        .arg(fixtures.join("example-policy.yaml"))
        .args(["--format", &format!("{},tar", image.format), "--epoch", "1700000000", "--dir"])
        .arg(dir)
        .arg(support::workspace_root().join("examples/hello.yml"))
        .output()
        .unwrap();
    assert!(output.status.success(), "kit build: {}", String::from_utf8_lossy(&output.stderr));
    let root_tar = formats::tar::read(fs::File::open(dir.join("hello.tar")).unwrap()).unwrap();
    let loader = dir.join("loader.cpio.gz");
    fs::write(&loader, loader_initrd(&root_tar, image)).unwrap();

    let disk = dir.join(image.file);
    let mut artifacts = vec![dir.join("hello-kernel"), loader.clone(), dir.join("hello-cmdline")];
    let mut options = QemuOptions::new(Vec::new());
    if image.fstype == "iso9660" {
        // kit run qemu attaches squashfs and EROFS images itself; the ISO goes by hand.
        let drive = format!("file={},format=raw,if=virtio,readonly=on", disk.display());
        options.extra_args = vec!["-drive".to_owned(), drive];
    } else {
        artifacts.push(disk);
    }
    options.artifacts = artifacts;
    options.qemu = Some(qemu);
    options.memory_mib = 512;
    options.timeout = Some(Duration::from_secs(240));
    let mut console = Vec::new();
    let outcome = run_qemu(&options, &mut |line| {
        eprintln!("console: {line}");
        console.push(line.to_owned());
    });
    let outcome = outcome.unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(outcome, RunOutcome::Exited { .. }), "{outcome:?}");
    let position = |wanted: &str| console.iter().position(|l| l == wanted);
    let mounted = position(&format!("kit-loader: mounted /dev/vda as {}", image.fstype))
        .unwrap_or_else(|| panic!("the loader did not mount the image:\n{}", console.join("\n")));
    let marker = position(MARKER).expect("no marker from the hello container");
    assert!(mounted < marker, "out of order:\n{}", console.join("\n"));
    assert_eq!(
        position("kit-init: init.d done, powering off"),
        None,
        "poweroff onboot did not run"
    );
}

/// A gzip'd newc initrd: busybox and the modules from the example's own root, and an `/init`
/// that loads them, mounts the disk and switch_roots into it.
fn loader_initrd(root: &Tree, image: &RootImage) -> Vec<u8> {
    let modules_dir = match root.get(b"lib/modules").map(|n| &n.kind) {
        Some(NodeKind::Dir(entries)) => {
            let version = entries.keys().next().expect("a kernel version under lib/modules");
            format!("lib/modules/{}/kernel", String::from_utf8_lossy(version))
        }
        _ => panic!("the example has no lib/modules"),
    };
    let mut tree = Tree::new(0);
    let mut add = |path: &str, bytes: Vec<u8>, mode: u32| {
        let mut dir = &mut tree.root;
        let components: Vec<&str> = path.split('/').collect();
        for component in &components[..components.len() - 1] {
            let node = dir.entry(component.as_bytes().to_vec()).or_insert_with(|| {
                Node::new(NodeKind::Dir(Default::default()), Meta::new(0o755, 0))
            });
            let NodeKind::Dir(entries) = &mut node.kind else { panic!("{path}") };
            dir = entries;
        }
        let content = Content::Inline(Arc::from(bytes));
        let name = components[components.len() - 1].as_bytes().to_vec();
        dir.insert(name, Node::new(NodeKind::File(content), Meta::new(mode, 0)));
    };
    add("bin/busybox", file_bytes(root, "bin/busybox"), 0o755);
    let mut script = String::from(
        "#!/bin/busybox sh\n\
         export PATH=/bin\n\
         /bin/busybox mkdir -p /proc /sys /dev /newroot\n\
         /bin/busybox mount -t devtmpfs devtmpfs /dev\n",
    );
    for (idx, module) in VIRTIO.iter().chain(image.modules).enumerate() {
        let name = format!("m/{idx:02}.ko");
        add(&name, file_bytes(root, &format!("{modules_dir}/{module}")), 0o644);
        script.push_str(&format!(
            "/bin/busybox insmod /{name} || echo 'kit-loader: insmod {module} failed'\n"
        ));
    }
    script.push_str(&format!(
        "i=0\n\
         while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do /bin/busybox sleep 0.1; i=$((i+1)); done\n\
         /bin/busybox mount -t {fstype} -o ro /dev/vda /newroot && echo 'kit-loader: mounted /dev/vda as {fstype}'\n\
         /bin/busybox umount /dev\n\
         exec /bin/busybox switch_root /newroot /sbin/init\n",
        fstype = image.fstype
    ));
    add("init", script.into_bytes(), 0o755);
    let options = formats::cpio::CpioOptions { root_entry: false };
    let mut out = Vec::new();
    formats::cpio::write_gzip(
        &tree,
        &formats::tree::NoBlobs,
        &options,
        formats::gzip::GzipOptions { level: 1, threads: 1 },
        &mut out,
    )
    .unwrap();
    out
}

fn file_bytes(root: &Tree, path: &str) -> Vec<u8> {
    let mut node = root.get(path.as_bytes()).unwrap_or_else(|| panic!("{path} is missing"));
    if let NodeKind::HardLink(target) = &node.kind {
        node = root.get(target).unwrap();
    }
    let NodeKind::File(content) = &node.kind else { panic!("{path} is not a file") };
    let mut bytes = Vec::new();
    content.open(&formats::tree::NoBlobs).unwrap().read_to_end(&mut bytes).unwrap();
    bytes
}

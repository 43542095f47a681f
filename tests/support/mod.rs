//! Shared helpers for integration tests: finding external tools, the skip-locally /
//! fail-in-CI rule, the fixture OCI layout `cargo xtask fixtures` writes, and (until `kit build`
//! assembles kernel+initrd) an interim LinuxKit-layout assembler for the example system.
//!
//! Rule (CONVENTIONS.md): a test that needs something missing (a tool, root, the fixtures)
//! prints why and passes locally, but fails when the `CI` environment variable is set.
#![allow(dead_code)] // Each test crate uses a different part of this module.

use std::fs;
use std::io::Read;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

/// True when running under CI (`CI` set to anything but empty or `false`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Skips the calling test locally (prints `why`) and fails it in CI. Returns `None` so callers
/// can write `let Some(x) = … else { return };`.
pub fn skip<T>(why: &str) -> Option<T> {
    assert!(!in_ci(), "CI is set, so this may not be skipped: {why}");
    eprintln!("skipping: {why}");
    None
}

/// Slow tests (QEMU boots) run in CI and when `KIT_SLOW_TESTS` is set; otherwise they skip.
pub fn require_slow_tests(what: &str) -> Option<()> {
    if in_ci() || std::env::var_os("KIT_SLOW_TESTS").is_some() {
        Some(())
    } else {
        eprintln!("skipping slow test ({what}): set KIT_SLOW_TESTS=1 to run it");
        None
    }
}

/// The path of an executable, searched in `PATH` and then the sbin directories (where Debian
/// puts runc); skips when it is missing.
pub fn require_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let extra = ["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from);
    let found =
        std::env::split_paths(&path).chain(extra).map(|dir| dir.join(name)).find(|candidate| {
            fs::metadata(candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        });
    match found {
        Some(path) => Some(path),
        None => skip(&format!("{name} is not installed")),
    }
}

/// True when running as root; skips otherwise.
pub fn require_root(why: &str) -> Option<()> {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    if uid.as_deref() == Some("0") { Some(()) } else { skip(&format!("not root: {why}")) }
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The fixtures directory (`KIT_FIXTURES_DIR`, else `target/kit-fixtures`) holding `oci/`;
/// skips when `cargo xtask fixtures` has not run.
pub fn fixtures_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("KIT_FIXTURES_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => workspace_root().join("target").join("kit-fixtures"),
    };
    if dir.join("oci").join("index.json").is_file() {
        Some(dir)
    } else {
        skip(&format!("no fixtures in {} (run `cargo xtask fixtures`)", dir.display()))
    }
}

/// A read-only view of an OCI image layout.
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// Opens the layout in `root`.
    pub fn open(root: &Path) -> Layout {
        Layout { root: root.to_owned() }
    }

    fn blob(&self, digest: &str) -> Vec<u8> {
        let hex =
            digest.strip_prefix("sha256:").unwrap_or_else(|| panic!("unsupported digest {digest}"));
        let path = self.root.join("blobs").join("sha256").join(hex);
        fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
    }

    fn json(&self, digest: &str) -> Value {
        serde_json::from_slice(&self.blob(digest)).unwrap_or_else(|e| panic!("blob {digest}: {e}"))
    }

    /// The image manifest of `reference` (an index is resolved to its amd64 manifest).
    pub fn manifest(&self, reference: &str) -> Value {
        let index =
            serde_json::from_slice::<Value>(&fs::read(self.root.join("index.json")).unwrap())
                .unwrap();
        let entry = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == reference)
            .unwrap_or_else(|| panic!("{reference} is not in {}", self.root.display()));
        let mut manifest = self.json(entry["digest"].as_str().unwrap());
        if manifest["mediaType"] == "application/vnd.oci.image.index.v1+json" {
            let amd64 = manifest["manifests"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["platform"]["architecture"] == "amd64")
                .unwrap_or_else(|| panic!("{reference}: no amd64 image"))
                .clone();
            manifest = self.json(amd64["digest"].as_str().unwrap());
        }
        manifest
    }

    /// The image config of `reference`.
    pub fn config(&self, reference: &str) -> Value {
        let manifest = self.manifest(reference);
        self.json(manifest["config"]["digest"].as_str().unwrap())
    }

    /// The uncompressed layer tars of `reference`, bottom first.
    pub fn layers(&self, reference: &str) -> Vec<Vec<u8>> {
        let manifest = self.manifest(reference);
        let mut layers = Vec::new();
        for layer in manifest["layers"].as_array().unwrap() {
            let gz = self.blob(layer["digest"].as_str().unwrap());
            let mut tar = Vec::new();
            flate2::read::GzDecoder::new(gz.as_slice()).read_to_end(&mut tar).unwrap();
            layers.push(tar);
        }
        layers
    }

    /// Unpacks `reference`'s layers into `dest` (no whiteouts: the example images have none).
    pub fn unpack(&self, reference: &str, dest: &Path) {
        for tar in self.layers(reference) {
            unpack_tar(&tar, dest);
        }
    }
}

/// Unpacks a tar into `dest`, keeping modes and symlinks; `./` prefixes are dropped.
pub fn unpack_tar(tar: &[u8], dest: &Path) {
    let mut archive = tar::Archive::new(tar);
    archive.set_preserve_permissions(true);
    archive.set_overwrite(true);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().trim_start_matches("./").to_owned();
        if name.is_empty() {
            continue;
        }
        entry.unpack_in(dest).unwrap_or_else(|e| panic!("unpacking {name}: {e}"));
    }
}

/// One onboot container of the interim assembly.
pub struct Onboot<'a> {
    /// Its name (the bundle is `containers/onboot/NNN-name`).
    pub name: &'a str,
    /// The image reference in the fixture layout.
    pub image: &'a str,
    /// `process.args`.
    pub command: &'a [&'a str],
    /// Capabilities (`CAP_*`).
    pub capabilities: &'a [&'a str],
    /// `pid: host`.
    pub pid_host: bool,
}

/// A readonly onboot bundle as LinuxKit lays it out (reference/linuxkit.md §2.2–2.4 and the
/// oracle's `onboot__000-sysctl__*.json`): `rootfs/` holding the image, `config.json` with
/// LinuxKit's default mounts (plus `ro` on `/dev` and `/sys`) and namespaces, and
/// `runtime.json` whose first mount binds the rootfs onto itself.
pub fn write_onboot_bundle(layout: &Layout, container: &Onboot, bundle: &Path, bundle_abs: &str) {
    let rootfs = bundle.join("rootfs");
    fs::create_dir_all(&rootfs).unwrap();
    layout.unpack(container.image, &rootfs);
    for dir in ["dev", "dev/pts", "dev/shm", "etc", "proc", "sys"] {
        fs::create_dir_all(rootfs.join(dir)).unwrap();
    }
    fs::write(rootfs.join("etc/resolv.conf"), "# no resolv.conf configured\n").unwrap();
    let _ = fs::remove_file(rootfs.join("etc/mtab"));
    symlink("/proc/mounts", rootfs.join("etc/mtab")).unwrap();

    let image_config = layout.config(container.image);
    let env = image_config["config"]["Env"].clone();
    let caps: Vec<&str> = container.capabilities.to_vec();
    let mut sorted_caps = caps.clone();
    sorted_caps.sort_unstable();
    let capabilities = if caps.is_empty() {
        json!({})
    } else {
        json!({"bounding": sorted_caps, "effective": caps, "inheritable": sorted_caps, "permitted": sorted_caps})
    };
    let mut namespaces = Vec::new();
    if !container.pid_host {
        namespaces.push(json!({"type": "pid"}));
    }
    namespaces.push(json!({"type": "mount"}));
    let config = json!({
        "ociVersion": "1.2.1",
        "process": {
            "user": {"uid": 0, "gid": 0},
            "args": container.command,
            "env": env,
            "cwd": "/",
            "capabilities": capabilities,
        },
        "root": {"path": "rootfs", "readonly": true},
        "mounts": [
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k", "ro"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/proc", "type": "proc", "source": "proc",
             "options": ["nosuid", "nodev", "noexec", "relatime"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        ],
        "linux": {"resources": {}, "namespaces": namespaces},
    });
    let runtime = json!({
        "cgroups": [],
        "mounts": [{"destination": format!("{bundle_abs}/rootfs"), "source": format!("{bundle_abs}/rootfs"), "options": ["bind"]}],
        "mkdir": [],
        "interfaces": [],
        "bindNS": {"cgroup": "", "ipc": "", "mnt": "", "net": "", "pid": "", "user": "", "uts": ""},
        "namespace": "",
    });
    fs::write(bundle.join("config.json"), serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    fs::write(bundle.join("runtime.json"), serde_json::to_vec_pretty(&runtime).unwrap()).unwrap();
}

/// The two onboot containers of `examples/hello.yml`.
pub fn hello_onboot() -> [Onboot<'static>; 2] {
    [
        Onboot {
            name: "hello",
            image: "kit.example/busybox:1.35",
            command: &["/bin/echo", "kit: hello from onboot"],
            capabilities: &[],
            pid_host: false,
        },
        Onboot {
            name: "poweroff",
            image: "kit.example/busybox:1.35",
            command: &["/bin/poweroff", "-f"],
            capabilities: &["CAP_SYS_BOOT"],
            pid_host: true,
        },
    ]
}

/// FIXME(issue 5): replace with `kit build --format kernel+initrd examples/hello.yml` once the
/// assembly lands. Until then this lays out the example root as LinuxKit would (kernel.tar at
/// `/`, init images at `/`, onboot bundles), packs it with `cpio -o -H newc -R 0:0` and gzip,
/// and writes `NAME-kernel`, `NAME-initrd.img` and `NAME-cmdline` into `out`.
pub fn interim_kernel_initrd(
    layout: &Layout,
    cpio: &Path,
    out: &Path,
    name: &str,
    cmdline: &str,
) -> PathBuf {
    let root = out.join(format!("{name}-root"));
    fs::create_dir_all(&root).unwrap();
    let kernel_dir = out.join(format!("{name}-kernel-image"));
    fs::create_dir_all(&kernel_dir).unwrap();
    layout.unpack("kit.example/kernel:6.1", &kernel_dir);
    unpack_tar(&fs::read(kernel_dir.join("kernel.tar")).unwrap(), &root);
    layout.unpack("kit.example/init:1", &root);
    layout.unpack("kit.example/runc:1.1", &root);
    for (idx, container) in hello_onboot().iter().enumerate() {
        let rel = format!("containers/onboot/{idx:03}-{}", container.name);
        write_onboot_bundle(layout, container, &root.join(&rel), &format!("/{rel}"));
    }

    let mut names = Vec::new();
    collect(&root, &root, &mut names);
    names.sort();
    let mut child = Command::new(cpio)
        .args(["--quiet", "-o", "-H", "newc", "-R", "0:0"])
        .current_dir(&root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let list = names.join("\n") + "\n";
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, list.as_bytes()));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(output.status.success(), "cpio failed");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    std::io::Write::write_all(&mut gz, &output.stdout).unwrap();
    fs::write(out.join(format!("{name}-initrd.img")), gz.finish().unwrap()).unwrap();
    fs::copy(kernel_dir.join("kernel"), out.join(format!("{name}-kernel"))).unwrap();
    fs::write(out.join(format!("{name}-cmdline")), cmdline).unwrap();
    out.join(name)
}

fn collect(root: &Path, dir: &Path, names: &mut Vec<String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        names.push(path.strip_prefix(root).unwrap().to_string_lossy().into_owned());
        if entry.file_type().unwrap().is_dir() {
            collect(root, &path, names);
        }
    }
}

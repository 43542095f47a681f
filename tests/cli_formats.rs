//! The root filesystem formats end to end on the example system: `kit build -f
//! kernel+erofs` (and the other image formats) checked by the reference tools, entry by entry
//! against kit's own `tar` output of the same build, byte-identical under different
//! environments, and refused with the path and the limit when the image cannot hold it.
//!
//! Uses the fixture layout of `cargo xtask fixtures` and the reference tools (erofs-utils):
//! skipped locally without them, a failure in CI.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use formats::tree::{NodeKind, Tree};
use sha2::{Digest, Sha256};

use support::s;

fn build(
    fixtures: &Path,
    out: &Path,
    formats: &str,
    env: &[(&str, &str)],
    extra: &[&str],
) -> Output {
    support::kit_build(fixtures, out, formats, env, extra)
}

fn build_ok(fixtures: &Path, out: &Path, formats: &str, env: &[(&str, &str)]) {
    let output = build(fixtures, out, formats, env, &[]);
    assert!(output.status.success(), "kit build: {}", String::from_utf8_lossy(&output.stderr));
}

/// One line per entry: type, mode, owner, size, content hash, symlink target or device.
fn tree_listing(tree: &Tree, skip: &dyn Fn(&str) -> bool) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    tree.walk::<()>(&mut |path, node| {
        let path = String::from_utf8_lossy(path).into_owned();
        if skip(&path) {
            return Ok(());
        }
        let mut node = node;
        if let NodeKind::HardLink(target) = &node.kind {
            node = tree.get(target).unwrap();
        }
        let meta = &node.meta;
        let payload = match &node.kind {
            NodeKind::Dir(_) => "dir".to_owned(),
            NodeKind::File(content) => {
                let mut data = Vec::new();
                content.open(&formats::tree::NoBlobs).unwrap().read_to_end(&mut data).unwrap();
                format!("file {} {}", data.len(), hex::encode(Sha256::digest(&data)))
            }
            NodeKind::Symlink(target) => format!("symlink {}", String::from_utf8_lossy(target)),
            NodeKind::CharDevice { major, minor } => format!("char {major},{minor}"),
            NodeKind::BlockDevice { major, minor } => format!("block {major},{minor}"),
            NodeKind::Fifo => "fifo".to_owned(),
            NodeKind::HardLink(_) => unreachable!("resolved above"),
        };
        out.insert(path, line(meta.mode, meta.uid, meta.gid, &payload));
        Ok(())
    })
    .unwrap();
    out
}

/// The same listing of a directory a reference tool extracted.
fn dir_listing(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(relative) = stack.pop() {
        for entry in fs::read_dir(root.join(&relative)).unwrap() {
            let entry = entry.unwrap();
            let path = relative.join(entry.file_name());
            let meta = fs::symlink_metadata(entry.path()).unwrap();
            let kind = meta.file_type();
            let payload = if kind.is_dir() {
                stack.push(path.clone());
                "dir".to_owned()
            } else if kind.is_file() {
                let data = fs::read(entry.path()).unwrap();
                format!("file {} {}", data.len(), hex::encode(Sha256::digest(&data)))
            } else if kind.is_symlink() {
                format!("symlink {}", fs::read_link(entry.path()).unwrap().display())
            } else if kind.is_char_device() || kind.is_block_device() {
                let rdev = meta.rdev();
                let (major, minor) = (libc_major(rdev), libc_minor(rdev));
                let name = if kind.is_char_device() { "char" } else { "block" };
                format!("{name} {major},{minor}")
            } else if kind.is_fifo() {
                "fifo".to_owned()
            } else {
                panic!("{}: unexpected file type", path.display())
            };
            let line = line(meta.mode() & 0o7777, meta.uid(), meta.gid(), &payload);
            out.insert(path.display().to_string(), line);
        }
    }
    out
}

/// A listing line; a symlink's mode is left out (Linux shows every symlink as 0777 whatever
/// the image stores).
fn line(mode: u32, uid: u32, gid: u32, payload: &str) -> String {
    let mode =
        if payload.starts_with("symlink ") { "----".to_owned() } else { format!("{mode:04o}") };
    format!("{mode} {uid}:{gid} {payload}")
}

fn libc_major(rdev: u64) -> u64 {
    ((rdev >> 32) & 0xffff_f000) | ((rdev >> 8) & 0xfff)
}

fn libc_minor(rdev: u64) -> u64 {
    ((rdev >> 12) & 0xffff_ff00) | (rdev & 0xff)
}

/// Asserts two listings are equal, naming the first path that differs.
fn assert_same(tool: &str, expected: &BTreeMap<String, String>, found: &BTreeMap<String, String>) {
    for (path, line) in expected {
        match found.get(path) {
            Some(other) => assert_eq!(other, line, "{tool}: {path} differs"),
            None => panic!("{tool}: {path} is missing ({line})"),
        }
    }
    if let Some(extra) = found.keys().find(|p| !expected.contains_key(*p)) {
        panic!("{tool}: unexpected {extra}");
    }
    assert!(expected.len() > 100, "the example has more than 100 entries: {}", expected.len());
}

fn outside_boot(path: &str) -> bool {
    path == "boot" || path.starts_with("boot/")
}

fn tool(name: &str) -> bool {
    support::require_tool(name).is_some()
}

#[test]
fn erofs_is_what_fsck_erofs_extracts_and_reproducible() {
    let Some(fixtures) = support::fixtures_dir() else { return };
    if !tool("fsck.erofs") || !tool("dump.erofs") {
        return;
    }
    let Some(()) = support::require_root("fsck.erofs extracts owners and devices as root") else {
        return;
    };
    let a = tempfile::tempdir().unwrap();
    build_ok(&fixtures, a.path(), "tar,kernel+erofs", &[("TZ", "UTC")]);
    let image = a.path().join("hello-erofs.img");
    for name in ["hello-kernel", "hello-cmdline", "hello.tar"] {
        assert!(a.path().join(name).is_file(), "{name}");
    }

    // Another environment: time zone, umask, temporary directory, working directory.
    let b = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let env =
        [("TZ", "Asia/Kolkata"), ("TMPDIR", s(tmp.path())), ("LC_ALL", "C"), ("UMASK", "077")];
    build_ok(&fixtures, b.path(), "kernel+erofs", &env);
    assert_eq!(fs::read(&image).unwrap(), fs::read(b.path().join("hello-erofs.img")).unwrap());

    let check = Command::new("fsck.erofs").arg(&image).output().unwrap();
    assert!(check.status.success(), "fsck.erofs: {}", String::from_utf8_lossy(&check.stderr));
    let extracted = a.path().join("extracted");
    let output = Command::new("fsck.erofs")
        .arg(format!("--extract={}", extracted.display()))
        .arg(&image)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "fsck.erofs --extract: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tar = formats::tar::read(fs::File::open(a.path().join("hello.tar")).unwrap()).unwrap();
    // fsck.erofs 1.5 restores modes before owners, which drops setuid and setgid bits; the
    // example has none, so the comparison is exact.
    assert_same(
        "fsck.erofs --extract",
        &tree_listing(&tar, &outside_boot),
        &dir_listing(&extracted),
    );

    // kit's own reader agrees with its tar on everything, mtimes included, but boot/.
    let diff = Command::new(env!("CARGO_BIN_EXE_kit"))
        .args(["inspect", "--diff", s(&a.path().join("hello.tar")), s(&image)])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&diff.stdout);
    assert!(text.ends_with("differ: /boot: only in the first\n"), "{text}");

    // lz4: fsck.erofs decompresses every file; the contents are the same as the tar's.
    let lz4 = tempfile::tempdir().unwrap();
    let output = build(&fixtures, lz4.path(), "kernel+erofs", &[], &["--erofs-compression", "lz4"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let compressed = lz4.path().join("hello-erofs.img");
    assert!(fs::metadata(&compressed).unwrap().len() < fs::metadata(&image).unwrap().len());
    let extracted = lz4.path().join("extracted");
    let output = Command::new("fsck.erofs")
        .arg(format!("--extract={}", extracted.display()))
        .arg(&compressed)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_same(
        "fsck.erofs --extract (lz4)",
        &tree_listing(&tar, &outside_boot),
        &dir_listing(&extracted),
    );

    // dump.erofs reads the superblock: 4 KiB blocks covering the file, built at the epoch
    // (1700000000 is 2023-11-14 22:13:20 UTC).
    let super_block =
        Command::new("dump.erofs").arg("-s").arg(&image).env("TZ", "UTC").output().unwrap();
    let text = String::from_utf8_lossy(&super_block.stdout);
    let field = |name: &str| {
        let line = text.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{text}"));
        line[name.len()..].trim().to_owned()
    };
    let blocks: u64 = field("Filesystem blocks:").parse().unwrap();
    assert_eq!(blocks * 4096, fs::metadata(&image).unwrap().len());
    assert_eq!(field("Filesystem created:"), "Tue Nov 14 22:13:20 2023");
}

#[test]
fn squashfs_is_what_unsquashfs_extracts_for_every_compressor() {
    let Some(fixtures) = support::fixtures_dir() else { return };
    if !tool("unsquashfs") {
        return;
    }
    let Some(()) = support::require_root("unsquashfs extracts owners and devices as root") else {
        return;
    };
    let a = tempfile::tempdir().unwrap();
    build_ok(&fixtures, a.path(), "tar,kernel+squashfs", &[("TZ", "UTC")]);
    let image = a.path().join("hello-squashfs.img");
    let b = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let env = [("TZ", "America/Lima"), ("TMPDIR", s(tmp.path())), ("UMASK", "027")];
    build_ok(&fixtures, b.path(), "kernel+squashfs", &env);
    assert_eq!(fs::read(&image).unwrap(), fs::read(b.path().join("hello-squashfs.img")).unwrap());
    let tar = formats::tar::read(fs::File::open(a.path().join("hello.tar")).unwrap()).unwrap();
    let expected = tree_listing(&tar, &outside_boot);

    // The superblock as unsquashfs reads it: mksquashfs's defaults and the epoch.
    let stat = Command::new("unsquashfs").arg("-s").arg(&image).env("TZ", "UTC").output().unwrap();
    let text = String::from_utf8_lossy(&stat.stdout);
    assert!(text.contains("Compression gzip"), "{text}");
    assert!(text.contains("Block size 131072"), "{text}");
    assert!(text.contains("Tue Nov 14 22:13:20 2023"), "{text}");

    for (compressor, name) in [("gzip", "gzip"), ("xz", "xz"), ("zstd", "zstd"), ("lz4", "lz4")] {
        let dir = tempfile::tempdir().unwrap();
        let output = build(
            &fixtures,
            dir.path(),
            "kernel+squashfs",
            &[],
            &["--squashfs-compression", compressor, "--squashfs-block-size", "64K"],
        );
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let image = dir.path().join("hello-squashfs.img");
        let stat = Command::new("unsquashfs").arg("-s").arg(&image).output().unwrap();
        let text = String::from_utf8_lossy(&stat.stdout);
        assert!(text.contains(&format!("Compression {name}")), "{text}");
        assert!(text.contains("Block size 65536"), "{text}");
        let extracted = dir.path().join("extracted");
        let output = Command::new("unsquashfs")
            .args(["-no-progress", "-d"])
            .arg(&extracted)
            .arg(&image)
            .output()
            .unwrap();
        assert!(output.status.success(), "unsquashfs: {}", String::from_utf8_lossy(&output.stderr));
        assert_same(&format!("unsquashfs ({compressor})"), &expected, &dir_listing(&extracted));
    }

    let diff = Command::new(env!("CARGO_BIN_EXE_kit"))
        .args(["inspect", "--diff", s(&a.path().join("hello.tar")), s(&image)])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&diff.stdout);
    assert!(text.ends_with("differ: /boot: only in the first\n"), "{text}");
}

#[test]
fn iso_is_what_xorriso_extracts_and_isoinfo_lists() {
    let Some(fixtures) = support::fixtures_dir() else { return };
    if !tool("xorriso") || !tool("isoinfo") {
        return;
    }
    let Some(()) = support::require_root("xorriso restores owners and devices as root") else {
        return;
    };
    let a = tempfile::tempdir().unwrap();
    build_ok(&fixtures, a.path(), "tar,kernel+iso", &[("TZ", "UTC")]);
    let image = a.path().join("hello.iso");
    let b = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let env = [("TZ", "Pacific/Auckland"), ("TMPDIR", s(tmp.path())), ("UMASK", "002")];
    build_ok(&fixtures, b.path(), "kernel+iso", &env);
    assert_eq!(fs::read(&image).unwrap(), fs::read(b.path().join("hello.iso")).unwrap());
    let tar = formats::tar::read(fs::File::open(a.path().join("hello.tar")).unwrap()).unwrap();

    // xorriso restores the Rock Ridge tree: names, modes, owners, symlinks, devices.
    let extracted = a.path().join("extracted");
    let output = Command::new("xorriso")
        .args(["-osirrox", "on", "-hardlinks", "on", "-indev"])
        .arg(&image)
        .args(["-extract", "/"])
        .arg(&extracted)
        .output()
        .unwrap();
    assert!(output.status.success(), "xorriso: {}", String::from_utf8_lossy(&output.stderr));
    let mut found = dir_listing(&extracted);
    // xorriso makes the extraction root writable for itself; the image's root is compared by
    // the descriptor checks below.
    found.retain(|path, _| !path.is_empty());
    assert_same("xorriso -extract", &tree_listing(&tar, &outside_boot), &found);

    // isoinfo reads the volume descriptors as genisoimage's users expect: LinuxKit's volume id,
    // Rock Ridge and Joliet; xorriso shows the epoch as every volume date.
    let info = Command::new("isoinfo").args(["-d", "-i"]).arg(&image).output().unwrap();
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(text.contains("Volume id: LinuxKit"), "{text}");
    assert!(text.contains("Rock Ridge signatures version 1 found"), "{text}");
    assert!(text.contains("Joliet with UCS level 3 found"), "{text}");
    let pvd = Command::new("xorriso").arg("-indev").arg(&image).arg("-pvd_info").output().unwrap();
    let text = String::from_utf8_lossy(&pvd.stdout);
    for field in ["Creation Time", "Modif. Time", "Eff. Time"] {
        let value = text
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .map(|rest| rest.trim_start().trim_start_matches(':').trim());
        assert_eq!(value, Some("2023111422132000"), "{field}: {text}");
    }

    let diff = Command::new(env!("CARGO_BIN_EXE_kit"))
        .args(["inspect", "--diff", s(&a.path().join("hello.tar")), s(&image)])
        .output()
        .unwrap();
    assert_eq!(diff.status.code(), Some(1));
    let text = String::from_utf8_lossy(&diff.stdout);
    assert!(text.ends_with("differ: /boot: only in the first\n"), "{text}");
    assert!(diff.stderr.is_empty(), "{}", String::from_utf8_lossy(&diff.stderr));
}

#[test]
fn images_too_large_for_size_fail_and_nothing_is_written() {
    let Some(fixtures) = support::fixtures_dir() else { return };
    let out = tempfile::tempdir().unwrap();
    let output = build(&fixtures, out.path(), "tar,kernel+erofs", &[], &["--size", "8M"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("hello-erofs.img")
            && stderr.contains("larger than --size 8M (8388608 bytes)"),
        "{stderr}"
    );
    let left: Vec<String> = fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != "cache")
        .collect();
    assert!(left.is_empty(), "a failed build left {left:?}");
    let output = build(&fixtures, out.path(), "kernel+erofs", &[], &["--size", "64M"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let bad = build(&fixtures, out.path(), "kernel+erofs", &[], &["--size", "12K"]);
    assert_eq!(bad.status.code(), Some(2), "{}", String::from_utf8_lossy(&bad.stderr));
}

#[test]
fn names_an_image_cannot_hold_fail_with_the_path_and_the_limit() {
    let Some(fixtures) = support::fixtures_dir() else { return };
    let out = tempfile::tempdir().unwrap();
    // A file name of 256 bytes: a tar holds it (PAX), EROFS allows 255.
    let long = "n".repeat(256);
    let extra = out.path().join("long-name.yml");
    fs::write(&extra, format!("files:\n  - path: etc/{long}\n    contents: \"x\"\n")).unwrap();
    let tar = build(&fixtures, out.path(), "tar", &[], &[s(&extra)]);
    assert!(tar.status.success(), "{}", String::from_utf8_lossy(&tar.stderr));
    fs::remove_file(out.path().join("hello.tar")).unwrap();
    let output = build(&fixtures, out.path(), "kernel+erofs", &[], &[s(&extra)]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("/etc/{long}")) && stderr.contains("255"), "{stderr}");
    let left: Vec<String> = fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != "cache" && name != "long-name.yml")
        .collect();
    assert!(left.is_empty(), "a failed build left {left:?}");
}

#[test]
fn initrd_compressions_decode_with_their_tools_and_boot() {
    let Some(fixtures) = support::fixtures_dir() else { return };
    let plain_dir = tempfile::tempdir().unwrap();
    let output =
        build(&fixtures, plain_dir.path(), "kernel+initrd", &[], &["--initrd-compression", "none"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let plain = fs::read(plain_dir.path().join("hello-initrd.img")).unwrap();
    assert!(plain.starts_with(b"070701"), "an uncompressed newc archive");
    // Each tool checks the stream it knows and gives back exactly the plain archive.
    for (compression, tool, args) in [
        ("zstd", "zstd", &["-d", "-c"][..]),
        ("xz", "xz", &["-d", "-c"][..]),
        ("lz4", "lz4", &["-d", "-c"][..]),
        ("gzip", "gzip", &["-d", "-c"][..]),
    ] {
        let Some(tool) = support::require_tool(tool) else { continue };
        let dir = tempfile::tempdir().unwrap();
        let output = build(
            &fixtures,
            dir.path(),
            "kernel+initrd",
            &[],
            &["--initrd-compression", compression],
        );
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let image = dir.path().join("hello-initrd.img");
        let decoded = Command::new(&tool).args(args).arg(&image).output().unwrap();
        assert!(
            decoded.status.success(),
            "{compression}: {}",
            String::from_utf8_lossy(&decoded.stderr)
        );
        assert_eq!(decoded.stdout, plain, "{compression}: the tool decodes another archive");
        let inspect = Command::new(env!("CARGO_BIN_EXE_kit"))
            .args(["inspect", "--json", s(&image)])
            .output()
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
        // One segment per input, each compressed the same way, adding up to the plain archives.
        let summary = json["summary"].as_object().unwrap();
        let segments: Vec<&str> = summary
            .iter()
            .filter(|(key, _)| key.starts_with("segment "))
            .map(|(_, value)| value.as_str().unwrap())
            .collect();
        // lz4 legacy frames have no end mark: the kernel reads the next frame's magic as a
        // continuation, so the whole lz4 part is one segment for it and for kit.
        let expected = if compression == "lz4" { 1 } else { 5 };
        assert_eq!(segments.len(), expected, "{summary:?}");
        let mut total = 0;
        for segment in &segments {
            assert!(segment.starts_with(&format!("{compression} at byte ")), "{segment}");
            let uncompressed = segment.rsplit(", ").next().unwrap();
            total += uncompressed.trim_end_matches(" uncompressed").parse::<usize>().unwrap();
        }
        assert_eq!(total, plain.len());
    }
    // xz's checks are CRC-32, which the kernel's decoder requires.
    let xz_dir = tempfile::tempdir().unwrap();
    let output =
        build(&fixtures, xz_dir.path(), "kernel+initrd", &[], &["--initrd-compression", "xz"]);
    assert!(output.status.success());
    if let Some(xz) = support::require_tool("xz") {
        let list = Command::new(xz)
            .args(["--robot", "-lvv"])
            .arg(xz_dir.path().join("hello-initrd.img"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&list.stdout);
        assert!(text.lines().any(|l| l.starts_with("stream") && l.contains("CRC32")), "{text}");
    }

    // The kernel unpacks each (Debian's 6.1 has CONFIG_RD_ZSTD, _XZ and _LZ4; gzip boots in
    // boot_qemu.rs) and boots the example to its marker.
    let Some(()) = support::require_slow_tests("four QEMU boots of about 10-30 s") else { return };
    let Some(qemu) = support::require_tool("qemu-system-x86_64") else { return };
    for compression in ["zstd", "xz", "lz4", "none"] {
        let dir = tempfile::tempdir().unwrap();
        let output = build(
            &fixtures,
            dir.path(),
            "kernel+initrd",
            &[],
            &["--initrd-compression", compression],
        );
        assert!(output.status.success());
        let mut options = kit::run::QemuOptions::new(vec![dir.path().join("hello")]);
        options.qemu = Some(qemu.clone());
        options.memory_mib = 512;
        options.timeout = Some(std::time::Duration::from_secs(240));
        options.expect = Some("kit: hello from onboot".to_owned());
        let outcome = kit::run::run_qemu(&options, &mut |_| {})
            .unwrap_or_else(|e| panic!("{compression}: {e}"));
        assert!(matches!(outcome, kit::run::RunOutcome::Matched { .. }), "{outcome:?}");
    }
}

/// The `--progress json` segment events of a build: (part, state).
fn segment_events(stderr: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|event| event.get("segment").is_some())
        .map(|event| {
            (
                event["segment"].as_str().unwrap().to_owned(),
                event["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn rebuilds_recompress_only_the_changed_initrd_segments() {
    let Some(fixtures) = support::fixtures_dir() else { return };
    let warm = tempfile::tempdir().unwrap();
    let json = ["--progress", "json"];
    let initrd = |dir: &Path| fs::read(dir.join("hello-initrd.img")).unwrap();

    // A cold build compresses every segment; the same build again reuses them all.
    let first = build(&fixtures, warm.path(), "kernel+initrd", &[], &json);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let events = segment_events(&first.stderr);
    let parts: Vec<&str> = events.iter().map(|(part, _)| part.as_str()).collect();
    assert_eq!(parts, ["init[0]", "onboot[0]", "onboot[1]", "init[1]", "kernel"], "{events:?}");
    assert!(events.iter().all(|(_, state)| state == "compressed"), "{events:?}");
    let cold_bytes = initrd(warm.path());
    let again = build(&fixtures, warm.path(), "kernel+initrd", &[], &json);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    let events = segment_events(&again.stderr);
    assert_eq!(events.len(), 5, "{events:?}");
    assert!(events.iter().all(|(_, state)| state == "reused"), "{events:?}");
    assert_eq!(initrd(warm.path()), cold_bytes, "a warm rebuild gives the same bytes");

    // A damaged cache entry (cut short, as after a crash) is never used: it is compressed again.
    let segments_dir = warm.path().join("cache").join("kit-initrd-segments");
    let mut entries: Vec<_> =
        fs::read_dir(&segments_dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    let victim = &entries[0];
    let whole = fs::read(victim).unwrap();
    fs::write(victim, &whole[..whole.len() / 2]).unwrap();
    let repaired = build(&fixtures, warm.path(), "kernel+initrd", &[], &json);
    assert!(repaired.status.success());
    let events = segment_events(&repaired.stderr);
    assert_eq!(events.iter().filter(|(_, state)| state == "compressed").count(), 1, "{events:?}");
    assert_eq!(initrd(warm.path()), cold_bytes, "a damaged cache entry changes nothing");
    assert_eq!(fs::read(victim).unwrap(), whole, "the entry is whole again");

    // One more `files` entry and one more onboot container: only their segments are new, and
    // the bytes equal a cold build of the same inputs.
    let extra = warm.path().join("extra.yml");
    fs::write(
        &extra,
        "onboot:\n  - name: extra\n    image: kit.example/busybox:1.35\n    command: [\"/bin/true\"]\n\
         files:\n  - path: etc/motd\n    contents: \"changed\\n\"\n",
    )
    .unwrap();
    let changed =
        build(&fixtures, warm.path(), "kernel+initrd", &[], &[&json[..], &[s(&extra)]].concat());
    assert!(changed.status.success(), "{}", String::from_utf8_lossy(&changed.stderr));
    let events = segment_events(&changed.stderr);
    let compressed: Vec<&str> =
        events.iter().filter(|(_, state)| state == "compressed").map(|(p, _)| p.as_str()).collect();
    assert_eq!(compressed, ["onboot[2]", "files[0]"], "{events:?}");
    let cold = tempfile::tempdir().unwrap();
    let cold_build = build(&fixtures, cold.path(), "kernel+initrd", &[], &[s(&extra)]);
    assert!(cold_build.status.success());
    assert_eq!(
        initrd(warm.path()),
        initrd(cold.path()),
        "warm and cold caches give the same bytes"
    );

    // A service whose image changes: only its segment is compressed again.
    let service = |image: &str| {
        let path = warm.path().join(format!("service-{}.yml", image.replace([':', '/'], "-")));
        fs::write(&path, format!("services:\n  - name: svc\n    image: {image}\n")).unwrap();
        path
    };
    let first_service = service("kit.example/busybox:1.35");
    let with_service = build(
        &fixtures,
        warm.path(),
        "kernel+initrd",
        &[],
        &[&json[..], &[s(&first_service)]].concat(),
    );
    assert!(with_service.status.success(), "{}", String::from_utf8_lossy(&with_service.stderr));
    let other_service = service("kit.example/runc:1.1");
    let changed_service = build(
        &fixtures,
        warm.path(),
        "kernel+initrd",
        &[],
        &[&json[..], &[s(&other_service)]].concat(),
    );
    assert!(changed_service.status.success());
    let events = segment_events(&changed_service.stderr);
    let compressed: Vec<&str> =
        events.iter().filter(|(_, state)| state == "compressed").map(|(p, _)| p.as_str()).collect();
    assert_eq!(compressed, ["services[0]"], "{events:?}");

    // kit cache prune drops the segments; the next build compresses again, to the same bytes.
    let prune = Command::new(env!("CARGO_BIN_EXE_kit"))
        .args(["cache", "prune", "--cache", s(&warm.path().join("cache"))])
        .output()
        .unwrap();
    assert!(prune.status.success());
    assert!(
        String::from_utf8_lossy(&prune.stderr).contains("9 initrd segment(s)"),
        "{}",
        String::from_utf8_lossy(&prune.stderr)
    );
    let after = build(&fixtures, warm.path(), "kernel+initrd", &[], &json);
    assert!(after.status.success());
    let events = segment_events(&after.stderr);
    assert_eq!(events.len(), 5, "{events:?}");
    assert!(events.iter().all(|(_, state)| state == "compressed"), "{events:?}");
    assert_eq!(initrd(warm.path()), cold_bytes);
}

//! Cross-checks of the squashfs writer and reader against squashfs-tools, once per compressor:
//!
//! - `unsquashfs -lln` lists what kit wrote; each line is compared with the line expected from
//!   the tree (type and permission string, numeric owner, size or device numbers, mtime, path,
//!   symlink target), derived here from `ls -l` conventions, not from kit's output;
//! - `unsquashfs -d` extracts it (as root: devices, owners, `trusted.` and
//!   `security.capability` xattrs need it) and the directory is compared file by file:
//!   contents, modes, owners, mtimes, symlink targets, device numbers, hard links sharing an
//!   inode, and xattrs (read with Python's `os.getxattr`);
//! - mksquashfs packs the same tree, materialized in a temporary directory, and kit's reader
//!   must give the tree back, with and without fragments.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::Cursor;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use common::{run, running_as_root, tool};
use formats::dump::dump;
use formats::squashfs::{BlockSize, Compression, Fragments, SquashfsOptions, read, to_vec};
use formats::testutil::tree_from_fixture;
use formats::tree::{Content, Dir, Meta, NoBlobs, Node, NodeKind, Tree};

/// cap_net_raw+ep as a version 2 `vfs_cap_data` (what `setcap cap_net_raw+ep` stores).
const CAP_NET_RAW: &str = "0x0100000200200000000000000000000000000000";

const BLOCK: usize = 4096;

/// Like `common::tool`, for squashfs-tools, which answer `-version` (not `--version`); 4.5.1
/// exits 1 after printing it, so the version line is what counts.
fn squashfs_tool(name: &str) -> bool {
    match Command::new(name).arg("-version").output() {
        Ok(output) if String::from_utf8_lossy(&output.stdout).contains(" version ") => {
            let version = String::from_utf8_lossy(&output.stdout);
            eprintln!("using {}", version.lines().next().unwrap_or(name));
            true
        }
        _ => {
            assert!(std::env::var_os("CI").is_none(), "{name} is required when CI is set");
            eprintln!("skipping: {name} is not installed");
            false
        }
    }
}

fn fixture() -> Tree {
    let mut tree = tree_from_fixture(&format!(
        r#"
//- / mode=0755 mtime=1700000000 xattr.user.root=top
//- /bin dir mtime=1700000001
//- /bin/busybox mode=04755 mtime=1700000000
#!/bin/sh
echo busybox
//- /bin/ping mode=0755 mtime=1700000002 xattr.security.capability={CAP_NET_RAW} xattr.user.comment=ping
ping
//- /bin/sh symlink=busybox mtime=1700000003
//- /bin/dangling symlink=/does/not/exist
//- /dev/console char=5,1 mode=0600
//- /dev/null char=1,3 mode=0666
//- /dev/sda block=8,16 mode=0660 gid=6
//- /dev/big block=259,70000 mode=0600
//- /run/fifo fifo mode=0600 mtime=1600000000
//- /tmp dir mode=01777 mtime=1700000005
//- /etc dir mode=0755 xattr.user.dir=1 xattr.trusted.overlay.opaque=y
//- /etc/init.d/001-hello mode=0755 mtime=1700000000 uid=3 gid=4
echo hello
//- /etc/init.d/002-hello-hardlink hardlink=/etc/init.d/001-hello
//- /etc/setgid mode=02750 uid=3000000 gid=1000 mtime=4000000000
setgid
//- /etc/\xc3\xa9t\xc3\xa9/caf\xc3\xa9 mode=0444 mtime=1234567890
noël
//- /empty mode=0400 mtime=5
//- /a/b/c/d/e/f/g/h/i/j/deep mode=0640
deep
"#
    ))
    .unwrap();
    let pattern = |len: usize, seed: u32| -> Vec<u8> {
        let mut x = seed;
        (0..len)
            .map(|i| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                if i % 4 == 0 { x.to_le_bytes()[2] } else { b"squashfs"[i % 8] }
            })
            .collect()
    };
    let file = |data: Vec<u8>, mode: u32, mtime: i64| {
        Node::new(NodeKind::File(Content::Inline(Arc::from(data))), Meta::new(mode, mtime))
    };
    let mut data = Dir::new();
    data.insert(b"one-block".to_vec(), file(pattern(BLOCK, 1), 0o644, 1_700_000_000));
    data.insert(b"blocks".to_vec(), file(pattern(3 * BLOCK + 123, 2), 0o644, 1_700_000_000));
    data.insert(b"blocks-copy".to_vec(), file(pattern(3 * BLOCK + 123, 2), 0o600, 1_700_000_000));
    data.insert(b"zeros".to_vec(), file(vec![0; 5 * BLOCK + 7], 0o644, 1_700_000_000));
    data.insert(b"small-zeros".to_vec(), file(vec![0; 100], 0o644, 1_700_000_000));
    tree.root
        .insert(b"data".to_vec(), Node::new(NodeKind::Dir(data), Meta::new(0o755, 1_700_000_000)));
    let mut many = Dir::new();
    for i in 0..400u32 {
        let name = format!("entry-number-{i:04}-with-a-name-long-enough-to-need-an-index");
        let len = usize::try_from(i % 50).unwrap() * 7;
        many.insert(name.into_bytes(), file(pattern(len, i), 0o644, i64::from(i)));
    }
    tree.root
        .insert(b"many".to_vec(), Node::new(NodeKind::Dir(many), Meta::new(0o755, 1_700_000_000)));
    tree
}

/// What reading back or extracting gives: hard link groups led by their first name in walk
/// order, every name with the file's metadata.
fn extracted_model() -> Tree {
    let mut tree = fixture();
    let etc = match &mut tree.root.get_mut(&b"etc"[..]).unwrap().kind {
        NodeKind::Dir(etc) => etc,
        _ => unreachable!(),
    };
    let init = match &mut etc.get_mut(&b"init.d"[..]).unwrap().kind {
        NodeKind::Dir(init) => init,
        _ => unreachable!(),
    };
    let meta = init[&b"001-hello"[..]].meta.clone();
    init.get_mut(&b"002-hello-hardlink"[..]).unwrap().meta = meta;
    tree
}

const COMPRESSORS: [(&str, Compression); 4] = [
    ("gzip", Compression::Gzip { level: 9 }),
    ("xz", Compression::Xz { preset: 6 }),
    ("zstd", Compression::Zstd),
    ("lz4", Compression::Lz4),
];

fn options(compression: Compression) -> SquashfsOptions {
    SquashfsOptions {
        compression,
        block_size: BlockSize::new(u32::try_from(BLOCK).unwrap()).unwrap(),
        epoch: 1_700_000_000,
        fragments: Fragments::SmallFiles,
        deduplicate: true,
        export_table: true,
        threads: 2,
    }
}

fn write_image(dir: &Path, compression: Compression) -> std::path::PathBuf {
    let bytes = to_vec(&fixture(), &NoBlobs, &options(compression)).unwrap();
    let path = dir.join("image.sqfs");
    fs::write(&path, bytes).unwrap();
    path
}

/// `ls -l`'s permission string.
fn perms(type_char: char, mode: u32) -> String {
    let mut out = String::from(type_char);
    for (shift, special, set, unset) in
        [(6, 0o4000, 's', 'S'), (3, 0o2000, 's', 'S'), (0, 0o1000, 't', 'T')]
    {
        let bits = (mode >> shift) & 7;
        out.push(if bits & 4 != 0 { 'r' } else { '-' });
        out.push(if bits & 2 != 0 { 'w' } else { '-' });
        out.push(match (bits & 1 != 0, mode & special != 0) {
            (true, true) => set,
            (false, true) => unset,
            (true, false) => 'x',
            (false, false) => '-',
        });
    }
    out
}

/// `YYYY-MM-DD HH:MM` in UTC (Howard Hinnant's civil-from-days).
fn date(secs: i64) -> String {
    let secs = secs.clamp(0, i64::from(u32::MAX));
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}", rem / 3600, rem % 3600 / 60)
}

/// The `unsquashfs -lln` lines expected for the tree; directory sizes (the listing's length,
/// an internal of the format) are left as `*`.
fn expected_listing(tree: &Tree) -> Vec<String> {
    let line = |perm: String, meta: &Meta, size: String, path: &str, extra: String| {
        format!(
            "{perm} {}/{} {size} {} squashfs-root{path}{extra}",
            meta.uid,
            meta.gid,
            date(meta.mtime)
        )
    };
    let mut lines =
        vec![line(perms('d', tree.root_meta.mode), &tree.root_meta, "*".into(), "", String::new())];
    tree.walk::<()>(&mut |path, node| {
        let shown = format!("/{}", String::from_utf8(path.to_vec()).unwrap());
        let meta = &node.meta;
        lines.push(match &node.kind {
            NodeKind::Dir(_) => {
                line(perms('d', meta.mode), meta, "*".into(), &shown, String::new())
            }
            NodeKind::File(content) => {
                line(perms('-', meta.mode), meta, content.len().to_string(), &shown, String::new())
            }
            NodeKind::HardLink(target) => {
                let file = tree.get(target).unwrap();
                let NodeKind::File(content) = &file.kind else { unreachable!() };
                line(
                    perms('-', file.meta.mode),
                    &file.meta,
                    content.len().to_string(),
                    &shown,
                    String::new(),
                )
            }
            NodeKind::Symlink(target) => {
                let target = String::from_utf8(target.clone()).unwrap();
                line(
                    perms('l', meta.mode),
                    meta,
                    target.len().to_string(),
                    &shown,
                    format!(" -> {target}"),
                )
            }
            NodeKind::CharDevice { major, minor } => line(
                perms('c', meta.mode),
                meta,
                unsquashfs_device(*major, *minor),
                &shown,
                String::new(),
            ),
            NodeKind::BlockDevice { major, minor } => line(
                perms('b', meta.mode),
                meta,
                unsquashfs_device(*major, *minor),
                &shown,
                String::new(),
            ),
            NodeKind::Fifo => line(perms('p', meta.mode), meta, "0".into(), &shown, String::new()),
        });
        Ok(())
    })
    .unwrap();
    lines
}

/// Device numbers as unsquashfs 4.5.1 prints them: it splits the stored 32-bit value (the
/// kernel's `new_encode_dev`) as `value >> 8, value & 0xff`, which is the real pair only for
/// minors below 256 (the kernel decodes the rest correctly; the extraction test checks them).
fn unsquashfs_device(major: u32, minor: u32) -> String {
    let value = (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12);
    format!("{}, {}", value >> 8, value & 0xff)
}

/// Normalizes one `unsquashfs -lln` line: single spaces, directory sizes as `*`, device
/// numbers as `major, minor`.
fn normalize_listing_line(line: &str) -> String {
    let mut fields: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
    if fields.first().is_some_and(|f| f.starts_with('d')) && fields.len() > 2 {
        fields[2] = "*".to_owned();
    }
    if fields.first().is_some_and(|f| f.starts_with('c') || f.starts_with('b')) && fields.len() > 3
    {
        // "8," "16" -> "8, 16"; a wide pair comes as one field, "1118467,112".
        if let Some((major, minor)) = fields[2].split_once(',').filter(|(_, m)| !m.is_empty()) {
            fields[2] = format!("{major}, {minor}");
        } else {
            let minor = fields.remove(3);
            fields[2] = format!("{} {minor}", fields[2]);
        }
    }
    fields.join(" ")
}

#[test]
fn unsquashfs_lists_what_kit_writes() {
    if !squashfs_tool("unsquashfs") {
        return;
    }
    let expected = expected_listing(&extracted_model());
    for (name, compression) in COMPRESSORS {
        let dir = tempfile::tempdir().unwrap();
        let image = write_image(dir.path(), compression);
        let listing = run(Command::new("unsquashfs").arg("-lln").arg(&image), b"");
        let found: Vec<String> = listing.lines().map(normalize_listing_line).collect();
        assert_eq!(found.len(), expected.len(), "{name}: {listing}");
        for (found, expected) in found.iter().zip(&expected) {
            assert_eq!(found, expected, "{name}");
        }
    }
}

/// Every xattr under `root` (root included), read with Python: path relative to root, name,
/// value in hex.
fn xattrs_on_disk(root: &Path) -> BTreeMap<String, BTreeMap<String, String>> {
    let script = r#"
import os, sys
root = sys.argv[1]
paths = [root]
for dirpath, dirnames, filenames in os.walk(root):
    for name in sorted(dirnames + filenames):
        paths.append(os.path.join(dirpath, name))
for path in paths:
    for attr in sorted(os.listxattr(path, follow_symlinks=False)):
        value = os.getxattr(path, attr, follow_symlinks=False)
        print(os.path.relpath(path, root), attr, value.hex())
"#;
    let out = run(Command::new("python3").arg("-c").arg(script).arg(root), b"");
    let mut found: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for line in out.lines() {
        let mut parts = line.rsplitn(3, ' ');
        let value = parts.next().unwrap().to_owned();
        let attr = parts.next().unwrap().to_owned();
        let path = parts.next().unwrap().to_owned();
        found.entry(path).or_default().insert(attr, value);
    }
    found
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares an extracted directory with the tree, devices and xattrs included.
fn assert_extracted(root: &Path, tree: &Tree) {
    let check_meta = |shown: &str, on_disk: &fs::Metadata, meta: &Meta| {
        assert_eq!(on_disk.permissions().mode() & 0o7777, meta.mode, "mode of {shown}");
        assert_eq!((on_disk.uid(), on_disk.gid()), (meta.uid, meta.gid), "owner of {shown}");
        assert_eq!(on_disk.mtime(), meta.mtime.clamp(0, i64::from(u32::MAX)), "mtime of {shown}");
    };
    check_meta("/", &fs::metadata(root).unwrap(), &tree.root_meta);
    let mut expected_xattrs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    if !tree.root_meta.xattrs.is_empty() {
        expected_xattrs.insert(
            ".".to_owned(),
            tree.root_meta.xattrs.iter().map(|(k, v)| (k.clone(), hex(v))).collect(),
        );
    }
    let mut count = 1;
    tree.walk::<()>(&mut |path, node| {
        count += 1;
        let rel = String::from_utf8(path.to_vec()).unwrap();
        let shown = format!("/{rel}");
        let on_disk_path = root.join(&rel);
        let on_disk =
            fs::symlink_metadata(&on_disk_path).unwrap_or_else(|e| panic!("{shown}: {e}"));
        let file_type = on_disk.file_type();
        match &node.kind {
            NodeKind::Dir(_) => assert!(file_type.is_dir(), "{shown}"),
            NodeKind::File(Content::Inline(data)) => {
                assert!(file_type.is_file(), "{shown}");
                assert_eq!(fs::read(&on_disk_path).unwrap(), &data[..], "content of {shown}");
            }
            NodeKind::File(Content::Blob(_)) => unreachable!(),
            NodeKind::HardLink(target) => {
                let target_ino =
                    fs::symlink_metadata(root.join(String::from_utf8(target.clone()).unwrap()))
                        .unwrap()
                        .ino();
                assert_eq!(on_disk.ino(), target_ino, "{shown} shares the inode of its target");
                assert_eq!(on_disk.nlink(), 2, "nlink of {shown}");
            }
            NodeKind::Symlink(target) => {
                assert!(file_type.is_symlink(), "{shown}");
                assert_eq!(
                    fs::read_link(&on_disk_path).unwrap().as_os_str().as_encoded_bytes(),
                    &target[..],
                    "target of {shown}"
                );
            }
            NodeKind::CharDevice { major, minor } | NodeKind::BlockDevice { major, minor } => {
                use std::os::unix::fs::FileTypeExt;
                let is_char = matches!(node.kind, NodeKind::CharDevice { .. });
                assert_eq!(file_type.is_char_device(), is_char, "{shown}");
                assert_eq!(file_type.is_block_device(), !is_char, "{shown}");
                let rdev = on_disk.rdev();
                // glibc's gnu_dev_major / gnu_dev_minor.
                let found_major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
                let found_minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
                assert_eq!(
                    (found_major, found_minor),
                    (u64::from(*major), u64::from(*minor)),
                    "device numbers of {shown}"
                );
            }
            NodeKind::Fifo => {
                use std::os::unix::fs::FileTypeExt;
                assert!(file_type.is_fifo(), "{shown}");
            }
        }
        if !file_type.is_symlink() {
            check_meta(&shown, &on_disk, &node.meta);
        }
        if !node.meta.xattrs.is_empty() {
            expected_xattrs.insert(
                rel.clone(),
                node.meta.xattrs.iter().map(|(k, v)| (k.clone(), hex(v))).collect(),
            );
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(xattrs_on_disk(root), expected_xattrs);
    let mut on_disk = 0;
    count_entries(root, &mut on_disk);
    assert_eq!(on_disk + 1, count, "nothing else was extracted");
}

fn count_entries(dir: &Path, count: &mut usize) {
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        *count += 1;
        if entry.file_type().unwrap().is_dir() {
            count_entries(&entry.path(), count);
        }
    }
}

#[test]
fn unsquashfs_extracts_what_kit_writes() {
    if !squashfs_tool("unsquashfs") || !tool("python3") {
        return;
    }
    if !running_as_root() {
        assert!(std::env::var_os("CI").is_none(), "extraction checks need root under CI");
        eprintln!("skipping: extracting devices, owners and security xattrs needs root");
        return;
    }
    let model = extracted_model();
    for (name, compression) in COMPRESSORS {
        eprintln!("{name}");
        let dir = tempfile::tempdir().unwrap();
        let image = write_image(dir.path(), compression);
        let out = dir.path().join("root");
        run(Command::new("unsquashfs").args(["-n", "-q", "-d"]).arg(&out).arg(&image), b"");
        assert_extracted(&out, &model);
    }
}

/// Creates the tree under `root` (which exists): contents, modes, owners, devices, xattrs and
/// mtimes (directories last, deepest first).
fn materialize(tree: &Tree, root: &Path) {
    let mut dirs = vec![(root.to_path_buf(), tree.root_meta.clone())];
    let mut xattrs = vec![(root.to_path_buf(), tree.root_meta.xattrs.clone())];
    tree.walk::<()>(&mut |path, node| {
        let on_disk = root.join(String::from_utf8(path.to_vec()).unwrap());
        let meta = &node.meta;
        match &node.kind {
            NodeKind::Dir(_) => {
                fs::create_dir(&on_disk).unwrap();
                dirs.push((on_disk.clone(), meta.clone()));
                xattrs.push((on_disk.clone(), meta.xattrs.clone()));
            }
            NodeKind::File(Content::Inline(data)) => fs::write(&on_disk, data).unwrap(),
            NodeKind::File(Content::Blob(_)) => unreachable!(),
            NodeKind::HardLink(target) => {
                fs::hard_link(root.join(String::from_utf8(target.clone()).unwrap()), &on_disk)
                    .unwrap();
            }
            NodeKind::Symlink(target) => {
                std::os::unix::fs::symlink(String::from_utf8(target.clone()).unwrap(), &on_disk)
                    .unwrap();
            }
            NodeKind::CharDevice { major, minor } | NodeKind::BlockDevice { major, minor } => {
                let kind = if matches!(node.kind, NodeKind::CharDevice { .. }) { "c" } else { "b" };
                run(
                    Command::new("mknod")
                        .arg(&on_disk)
                        .arg(kind)
                        .arg(major.to_string())
                        .arg(minor.to_string()),
                    b"",
                );
            }
            NodeKind::Fifo => {
                run(Command::new("mkfifo").arg(&on_disk), b"");
            }
        }
        if !matches!(node.kind, NodeKind::HardLink(_) | NodeKind::Dir(_)) {
            let symlink = matches!(node.kind, NodeKind::Symlink(_));
            std::os::unix::fs::lchown(&on_disk, Some(meta.uid), Some(meta.gid)).unwrap();
            if !symlink {
                fs::set_permissions(&on_disk, fs::Permissions::from_mode(meta.mode)).unwrap();
            }
            xattrs.push((on_disk.clone(), meta.xattrs.clone()));
            set_mtime(&on_disk, meta.mtime);
        }
        Ok(())
    })
    .unwrap();
    // chown clears security.capability: xattrs go on after owners.
    let mut script = String::from("import os\n");
    for (path, attrs) in &xattrs {
        for (name, value) in attrs {
            script.push_str(&format!(
                "os.setxattr({:?}, {:?}, bytes.fromhex({:?}), follow_symlinks=False)\n",
                path.to_str().unwrap(),
                name,
                hex(value)
            ));
        }
    }
    run(Command::new("python3").arg("-c").arg(&script), b"");
    for (dir, meta) in dirs.iter().rev() {
        std::os::unix::fs::chown(dir, Some(meta.uid), Some(meta.gid)).unwrap();
        fs::set_permissions(dir, fs::Permissions::from_mode(meta.mode)).unwrap();
        set_mtime(dir, meta.mtime);
    }
}

fn set_mtime(path: &Path, mtime: i64) {
    run(Command::new("touch").arg("-h").arg("-d").arg(format!("@{mtime}")).arg(path), b"");
}

#[test]
fn reader_reads_mksquashfs_images() {
    if !squashfs_tool("mksquashfs") || !tool("python3") {
        return;
    }
    if !running_as_root() {
        assert!(std::env::var_os("CI").is_none(), "mksquashfs fixtures need root under CI");
        eprintln!("skipping: creating devices and owners needs root");
        return;
    }
    let model = extracted_model();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir(&root).unwrap();
    materialize(&fixture(), &root);
    // The materialized tree itself matches (a check of the check).
    assert_extracted(&root, &model);
    // mtimes beyond 2106 cannot exist on disk as u32 either way; the model clamps them.
    let mut expected = model.clone();
    clamp_mtimes(&mut expected);
    for (name, _) in COMPRESSORS {
        for extra in [
            &[][..],
            &["-no-fragments"],
            &["-always-use-fragments", "-no-duplicates"],
            &["-b", "128K", "-no-exports"],
        ] {
            let image = dir.path().join(format!("{name}.sqfs"));
            let mut command = Command::new("mksquashfs");
            command.arg(&root).arg(&image).args([
                "-noappend",
                "-quiet",
                "-no-progress",
                "-comp",
                name,
                "-b",
                "4K",
            ]);
            command.args(extra);
            run(&mut command, b"");
            let bytes = fs::read(&image).unwrap();
            let back =
                read(&mut Cursor::new(&bytes)).unwrap_or_else(|e| panic!("{name} {extra:?}: {e}"));
            assert_eq!(dump(&back), dump(&expected), "{name} {extra:?}");
            fs::remove_file(&image).unwrap();
        }
    }
}

fn clamp_mtimes(tree: &mut Tree) {
    fn clamp_dir(dir: &mut Dir) {
        for node in dir.values_mut() {
            node.meta.mtime = node.meta.mtime.clamp(0, i64::from(u32::MAX));
            if let NodeKind::Dir(children) = &mut node.kind {
                clamp_dir(children);
            }
        }
    }
    tree.root_meta.mtime = tree.root_meta.mtime.clamp(0, i64::from(u32::MAX));
    clamp_dir(&mut tree.root);
}

#[test]
fn images_are_reproducible_and_read_back() {
    let tree = fixture();
    let model = extracted_model();
    for (name, compression) in COMPRESSORS {
        let one = to_vec(&tree, &NoBlobs, &SquashfsOptions { threads: 1, ..options(compression) })
            .unwrap();
        let four = to_vec(&tree, &NoBlobs, &SquashfsOptions { threads: 4, ..options(compression) })
            .unwrap();
        assert!(one == four, "{name}: thread count changed the bytes");
        assert_eq!(one.len() % 4096, 0);
        assert_eq!(dump(&read(&mut Cursor::new(&one)).unwrap()), dump(&model), "{name}");
    }
}

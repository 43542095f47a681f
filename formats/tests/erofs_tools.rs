//! Cross-checks of the EROFS writer and reader against erofs-utils 1.5 (`fsck.erofs`,
//! `dump.erofs`, `mkfs.erofs`) and, where the machine allows it, the kernel's erofs driver.
//!
//! - `fsck.erofs` checks kit's images (uncompressed and lz4) and extracts them; the extraction
//!   is compared file by file with the input tree (contents, modes, owners, mtimes, symlinks,
//!   devices, fifos). erofs-utils 1.5 extracts neither xattrs nor hard links (each name becomes
//!   its own file), so hard links and xattr sizes are checked with `dump.erofs --path`, and xattr
//!   values through a read-only kernel mount (as root, skipped where mounting is not allowed).
//! - `dump.erofs -s` and `-S` show the superblock and the counts expected from the fixture.
//! - kit's reader reads `mkfs.erofs` images (uncompressed, `-zlz4`, `-zlz4hc`) of the same tree
//!   materialized on disk (as root, for devices, owners and security xattrs).
//!
//! Expected values are derived by hand from the fixture and the tools' documented output.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use common::{run, running_as_root};
use formats::dump::dump;
use formats::erofs::{Compression, ErofsOptions, read, to_vec};
use formats::testutil::tree_from_fixture;
use formats::tree::{Content, Meta, NoBlobs, Node, NodeKind, Tree};

const EPOCH: i64 = 1_700_000_000;

/// 20 bytes of VFS_CAP_REVISION_2 with CAP_NET_RAW (bit 13) permitted and effective.
const CAP: &str = "0x0100000200200000000000000000000000000000";

fn fixture() -> Tree {
    let text = format!(
        r#"
//- / mtime={EPOCH}
//- /bin dir mtime={EPOCH}
//- /bin/busybox mode=04755 mtime={EPOCH} xattr.security.capability={CAP}
#!/bin/busybox
//- /bin/sh symlink=busybox mtime={EPOCH}
//- /bin/ping mode=0755 mtime={EPOCH} xattr.security.capability={CAP}
ping
//- /dev dir mtime={EPOCH}
//- /dev/console char=5,1 mode=0600 mtime={EPOCH}
//- /dev/sda block=8,16 mode=0660 gid=6 mtime={EPOCH}
//- /run dir mtime={EPOCH}
//- /run/fifo fifo mode=0600 mtime={EPOCH}
//- /etc dir mtime={EPOCH}
//- /etc/hostname uid=1000 gid=1000 mtime=1600000000 xattr.user.comment=hello xattr.trusted.overlay.opaque=y
kit
//- /etc/hostname.link hardlink=/etc/hostname
//- /etc/hostname.link2 hardlink=/etc/hostname
//- /empty mtime={EPOCH}
//- /tmp dir mode=01777 mtime={EPOCH}
//- /sgid mode=02711 uid=70000 gid=70001 mtime={EPOCH}
#!/bin/true
//- /\xc3\xbcber dir mtime={EPOCH}
//- /\xc3\xbcber/na\xc3\xafve mtime={EPOCH}
caf\xc3\xa9
//- /a dir mtime={EPOCH}
//- /a/b dir mtime={EPOCH}
//- /a/b/c dir mtime={EPOCH}
//- /a/b/c/d dir mtime={EPOCH}
//- /a/b/c/d/e dir mtime={EPOCH}
//- /a/b/c/d/e/deep mtime={EPOCH}
deep
//- /many dir mtime={EPOCH}
"#
    );
    let mut tree = tree_from_fixture(&text).unwrap();
    let file = |data: Vec<u8>| {
        Node::new(NodeKind::File(Content::Inline(Arc::from(data))), Meta::new(0o644, EPOCH))
    };
    let pattern = |len: usize| -> Vec<u8> {
        (0..len).map(|i| u8::try_from((i * 7 + i / 4096) % 251).unwrap()).collect()
    };
    tree.root.insert(b"one-block".to_vec(), file(pattern(4096)));
    tree.root.insert(b"blocks".to_vec(), file(pattern(3 * 4096 + 123)));
    let text_data: Vec<u8> =
        (0..20_000).flat_map(|i| format!("line {i} of a text file\n").into_bytes()).collect();
    tree.root.insert(b"text".to_vec(), file(text_data));
    tree.root.insert(b"zeros".to_vec(), file(vec![0u8; 1 << 20]));
    let Some(NodeKind::Dir(many)) = tree.root.get_mut(&b"many"[..]).map(|n| &mut n.kind) else {
        panic!("/many is a directory");
    };
    for idx in 0..300 {
        many.insert(format!("entry-{idx:03}").into_bytes(), file(format!("{idx}\n").into_bytes()));
    }
    tree
}

/// Names in the fixture: 13 directories (/, bin, dev, run, etc, tmp, über, a, b, c, d, e,
/// many), 313 regular file names (busybox, ping, hostname and its 2 links, empty, sgid, naïve,
/// deep, one-block, blocks, text, zeros: 13, and 300 entries), 1 symlink, 1 char, 1 block,
/// 1 fifo.
const N_DIRS: usize = 13;
const N_FILE_NAMES: usize = 313;

/// True if the erofs-utils tool `name` runs (`-V` prints its version; they have no
/// `--version`). Skips (false) when missing, panics instead under `CI`.
fn tool(name: &str) -> bool {
    // mkfs.erofs 1.5 prints its version first, whatever the arguments; `--help` succeeds.
    let flag = if name == "mkfs.erofs" { "--help" } else { "-V" };
    match Command::new(name).arg(flag).output() {
        Ok(output) if output.status.success() => {
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

fn options(compression: Compression) -> ErofsOptions {
    ErofsOptions {
        epoch: EPOCH,
        uuid: Some(*b"\x12\x34\x56\x78\x9a\xbc\x4d\xef\x81\x23\x45\x67\x89\xab\xcd\xef"),
        volume_name: b"kit-test".to_vec(),
        compression,
    }
}

fn image(compression: Compression) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("root.erofs");
    fs::write(&path, to_vec(&fixture(), &NoBlobs, &options(compression)).unwrap()).unwrap();
    (dir, path)
}

/// The file node behind `node` (itself, or a hard link's target) and its metadata.
fn inode_of<'t>(tree: &'t Tree, node: &'t Node) -> &'t Node {
    match &node.kind {
        NodeKind::HardLink(target) => tree.get(target).unwrap(),
        _ => node,
    }
}

/// Compares an extracted or mounted tree at `root` with `tree`, entry by entry. With
/// `links_share_inode`, hard links must share the inode of their file; otherwise (fsck.erofs
/// 1.5 extraction) they must be copies of it. `xattrs`, when given, are the xattrs found on
/// disk by path.
fn assert_matches(
    root: &Path,
    tree: &Tree,
    links_share_inode: bool,
    xattrs: Option<&BTreeMap<String, BTreeMap<String, Vec<u8>>>>,
    mode_mask: u32,
) -> usize {
    let as_root = running_as_root();
    let mut expected = Vec::new();
    tree.walk::<()>(&mut |path, node| {
        let shown = String::from_utf8(path.to_vec()).unwrap();
        expected.push(shown.clone());
        let on_disk = root.join(&shown);
        let meta = fs::symlink_metadata(&on_disk).unwrap_or_else(|e| panic!("{shown}: {e}"));
        let inode = inode_of(tree, node);
        let file_type = meta.file_type();
        match (&node.kind, &inode.kind) {
            (NodeKind::Dir(_), _) => assert!(file_type.is_dir(), "{shown} is a directory"),
            (_, NodeKind::File(Content::Inline(data))) => {
                assert!(file_type.is_file(), "{shown} is a file");
                assert_eq!(fs::read(&on_disk).unwrap(), &data[..], "content of {shown}");
                if let NodeKind::HardLink(target) = &node.kind {
                    let target =
                        fs::symlink_metadata(root.join(std::str::from_utf8(target).unwrap()))
                            .unwrap();
                    assert_eq!(meta.ino() == target.ino(), links_share_inode, "inode of {shown}");
                    if links_share_inode {
                        assert_eq!(meta.nlink(), 3, "links of {shown}");
                    }
                }
            }
            (NodeKind::Symlink(target), _) => {
                assert!(file_type.is_symlink(), "{shown} is a symlink");
                let found = fs::read_link(&on_disk).unwrap();
                assert_eq!(found.as_os_str().as_encoded_bytes(), &target[..], "target of {shown}");
            }
            (NodeKind::Fifo, _) => assert!(file_type.is_fifo(), "{shown} is a fifo"),
            (NodeKind::CharDevice { major, minor } | NodeKind::BlockDevice { major, minor }, _) => {
                let is_char = matches!(node.kind, NodeKind::CharDevice { .. });
                assert!(
                    if is_char { file_type.is_char_device() } else { file_type.is_block_device() },
                    "{shown} is a device"
                );
                let rdev = meta.rdev();
                let found_major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
                let found_minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
                assert_eq!((found_major, found_minor), (u64::from(*major), u64::from(*minor)));
            }
            other => panic!("{shown}: unexpected {other:?}"),
        }
        if !file_type.is_symlink() {
            let mode = meta.permissions().mode() & mode_mask;
            assert_eq!(mode, inode.meta.mode & mode_mask, "mode of {shown}: {mode:o}");
            assert_eq!(meta.mtime(), inode.meta.mtime, "mtime of {shown}");
            if as_root {
                assert_eq!(
                    (meta.uid(), meta.gid()),
                    (inode.meta.uid, inode.meta.gid),
                    "owner of {shown}"
                );
            }
        }
        if let Some(xattrs) = xattrs {
            let found = xattrs.get(&shown).cloned().unwrap_or_default();
            assert_eq!(found, inode.meta.xattrs, "xattrs of {shown}");
        }
        Ok(())
    })
    .unwrap();
    let mut found = Vec::new();
    list_dir(root, root, &mut found);
    found.sort();
    expected.sort();
    assert_eq!(found, expected);
    found.len()
}

fn list_dir(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        out.push(path.strip_prefix(root).unwrap().to_str().unwrap().to_owned());
        if entry.file_type().unwrap().is_dir() {
            list_dir(root, &path, out);
        }
    }
}

/// Every xattr under `root` (symlinks not followed), read by Python's `os.listxattr` and
/// `os.getxattr`: path relative to `root` -> name -> value.
fn xattrs_on_disk(root: &Path) -> BTreeMap<String, BTreeMap<String, Vec<u8>>> {
    let script = r#"
import os, sys
root = sys.argv[1]
for base, dirs, files in os.walk(root):
    for name in dirs + files:
        path = os.path.join(base, name)
        for key in os.listxattr(path, follow_symlinks=False):
            value = os.getxattr(path, key, follow_symlinks=False)
            print(os.path.relpath(path, root) + "\t" + key + "\t" + value.hex())
"#;
    let listing = run(Command::new("python3").arg("-c").arg(script).arg(root), b"");
    let mut out: BTreeMap<String, BTreeMap<String, Vec<u8>>> = BTreeMap::new();
    for line in listing.lines() {
        let mut fields = line.split('\t');
        let (path, key, value) =
            (fields.next().unwrap(), fields.next().unwrap(), fields.next().unwrap());
        let value = (0..value.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&value[i..i + 2], 16).unwrap())
            .collect();
        out.entry(path.to_owned()).or_default().insert(key.to_owned(), value);
    }
    out
}

#[test]
fn fsck_checks_and_extracts_kits_images() {
    if !tool("fsck.erofs") {
        return;
    }
    for compression in [Compression::None, Compression::Lz4] {
        let (dir, image) = image(compression);
        run(Command::new("fsck.erofs").arg(&image), b"");
        if !running_as_root() {
            eprintln!("skipping extraction: fsck.erofs creates devices and owners only as root");
            continue;
        }
        let out = dir.path().join("out");
        run(
            Command::new("fsck.erofs").arg(format!("--extract={}", out.display())).arg(&image),
            b"",
        );
        // fsck.erofs 1.5 applies chmod before lchown, and the kernel clears setuid and setgid
        // on chown: those two bits are checked through the kernel mount and dump.erofs only.
        let n = assert_matches(&out, &fixture(), false, None, 0o1777);
        eprintln!("fsck.erofs --extract: {n} entries match ({compression:?})");
    }
}

/// The lines of `dump.erofs` output whose key is in `keys`, squeezed.
fn dump_lines(args: &[&str], image: &Path) -> String {
    let output = run(Command::new("dump.erofs").args(args).arg(image), b"");
    output.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ") + "\n").collect()
}

#[test]
fn dump_shows_the_superblock_and_counts() {
    if !tool("dump.erofs") {
        return;
    }
    let (_dir, image) = image(Compression::None);
    let blocks = fs::metadata(&image).unwrap().len() / 4096;
    let superblock = dump_lines(&["-s"], &image);
    // No xattr is carried by 3 inodes or more, so there is no shared xattr area and the root
    // inode starts block 1: nid 4096 / 32 = 128. Inodes: 13 directories, 311 files (313 names,
    // hostname's 3 names share one), 4 others = 328. 1700000000 is 2023-11-14 22:13:20 UTC.
    let expected = format!(
        "\
Filesystem magic number: 0xE0F5E1E2
Filesystem blocks: {blocks}
Filesystem inode metadata start block: 0
Filesystem shared xattr metadata start block: 0
Filesystem root nid: 128
Filesystem inode count: 328
Filesystem created: Tue Nov 14 22:13:20 2023
Filesystem features: sb_csum mtime
Filesystem UUID: 12345678-9abc-4def-8123-456789abcdef
"
    );
    assert_eq!(superblock.trim_end(), expected.trim_end());
    let stats = dump_lines(&["-S"], &image);
    // dump.erofs counts names, the root included.
    for line in [
        format!("Filesystem total file count: {}", N_DIRS + N_FILE_NAMES + 4),
        format!("Filesystem regular file count: {N_FILE_NAMES}"),
        format!("Filesystem directory count: {N_DIRS}"),
        "Filesystem char dev count: 1".to_owned(),
        "Filesystem block dev count: 1".to_owned(),
        "Filesystem FIFO file count: 1".to_owned(),
        "Filesystem symlink file count: 1".to_owned(),
    ] {
        assert!(stats.contains(&format!("{line}\n")), "missing {line:?} in\n{stats}");
    }
}

#[test]
fn dump_shows_inodes_links_and_xattr_sizes() {
    if !tool("dump.erofs") {
        return;
    }
    for compression in [Compression::None, Compression::Lz4] {
        let (_dir, image) = image(compression);
        let inode = |path: &str| dump_lines(&[&format!("--path={path}")], &image);
        let field = |text: &str, key: &str| -> String {
            let at = text.find(key).unwrap_or_else(|| panic!("{key} in {text}"));
            text[at + key.len()..].split_whitespace().next().unwrap().to_owned()
        };
        // busybox: mtime = epoch, so compact (32 bytes); security.capability inline: 12-byte
        // header + 4-byte entry header + "capability" (10) + 20-byte value = 46 -> 48.
        let busybox = inode("/bin/busybox");
        assert!(busybox.contains("Size: 15 "), "{busybox}");
        assert!(busybox.contains("Links: 1 Layout: 2 "), "{busybox}");
        assert!(busybox.contains("Inode size: 32 "), "{busybox}");
        assert!(busybox.contains("Xattr size: 48\n"), "{busybox}");
        // dump.erofs 1.5 shows `i_mode & 0777` only.
        assert!(busybox.contains("Uid: 0 Gid: 0 Access: 0755/rwxr-xr-x\n"), "{busybox}");
        // hostname: its own mtime, so extended (64 bytes); user.comment=hello (4+7+5 -> 16)
        // and trusted.overlay.opaque=y (4+14+1 -> 20) after the 12-byte header: 48.
        let hostname = inode("/etc/hostname");
        assert!(hostname.contains("Links: 3 "), "{hostname}");
        assert!(hostname.contains("Inode size: 64 "), "{hostname}");
        assert!(hostname.contains("Xattr size: 48\n"), "{hostname}");
        assert!(hostname.contains("Uid: 1000 Gid: 1000 Access: 0644/rw-r--r--\n"), "{hostname}");
        assert!(hostname.contains("Timestamp: 2020-09-13 12:26:40.000000000"), "{hostname}");
        for link in ["/etc/hostname.link", "/etc/hostname.link2"] {
            assert_eq!(field(&inode(link), "NID:"), field(&hostname, "NID:"), "{link}");
        }
        // sgid: uid 70000 needs the extended form.
        let sgid = inode("/sgid");
        assert!(sgid.contains("Inode size: 64 "), "{sgid}");
        assert!(sgid.contains("Uid: 70000 Gid: 70001 Access: 0711/rwx--x--x\n"), "{sgid}");
        // text: 500 KB of lines, lz4-compressed (layout 1, full indexes) or inline (2).
        let text = inode("/text");
        let layout = if compression == Compression::Lz4 { "Layout: 1 " } else { "Layout: 2 " };
        assert!(text.contains(layout), "{text}");
        // one-block: exactly one block, FLAT_PLAIN (0) either way: no gain from lz4.
        assert!(inode("/one-block").contains("Layout: 0 "));
    }
}

#[test]
fn kernel_mount_shows_the_tree_with_xattrs_and_hard_links() {
    if !running_as_root() {
        eprintln!("skipping: mounting needs root");
        return;
    }
    for compression in [Compression::None, Compression::Lz4] {
        let (dir, image) = image(compression);
        let mnt = dir.path().join("mnt");
        fs::create_dir(&mnt).unwrap();
        let status = Command::new("mount")
            .args(["-t", "erofs", "-o", "loop,ro"])
            .arg(&image)
            .arg(&mnt)
            .status();
        if !status.is_ok_and(|s| s.success()) {
            eprintln!("skipping: this machine does not allow mounting erofs images");
            return;
        }
        let xattrs = xattrs_on_disk(&mnt);
        let result = std::panic::catch_unwind(|| {
            let n = assert_matches(&mnt, &fixture(), true, Some(&xattrs), 0o7777);
            eprintln!("kernel mount: {n} entries match ({compression:?})");
        });
        let _ = Command::new("umount").arg(&mnt).status();
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    }
}

/// Creates `tree` under `root` as root would: contents, modes, owners, mtimes, devices,
/// fifos, hard links and xattrs.
fn materialize(root: &Path, tree: &Tree) {
    let mut xattr_script = String::from("import os\n");
    let mut dirs = Vec::new();
    tree.walk::<()>(&mut |path, node| {
        let shown = std::str::from_utf8(path).unwrap();
        let on_disk = root.join(shown);
        match &node.kind {
            NodeKind::Dir(_) => fs::create_dir(&on_disk).unwrap(),
            NodeKind::File(Content::Inline(data)) => fs::write(&on_disk, data).unwrap(),
            NodeKind::File(Content::Blob(_)) => panic!("blob"),
            NodeKind::Symlink(target) => {
                std::os::unix::fs::symlink(std::str::from_utf8(target).unwrap(), &on_disk).unwrap()
            }
            NodeKind::HardLink(target) => {
                fs::hard_link(root.join(std::str::from_utf8(target).unwrap()), &on_disk).unwrap()
            }
            NodeKind::CharDevice { major, minor } | NodeKind::BlockDevice { major, minor } => {
                let kind = if matches!(node.kind, NodeKind::CharDevice { .. }) { "c" } else { "b" };
                run(
                    Command::new("mknod").arg(&on_disk).args([
                        kind,
                        &major.to_string(),
                        &minor.to_string(),
                    ]),
                    b"",
                );
            }
            NodeKind::Fifo => run(Command::new("mkfifo").arg(&on_disk), b"").truncate(0),
        }
        if matches!(node.kind, NodeKind::HardLink(_)) {
            return Ok(());
        }
        if !matches!(node.kind, NodeKind::Symlink(_)) {
            let meta = &node.meta;
            std::os::unix::fs::lchown(&on_disk, Some(meta.uid), Some(meta.gid)).unwrap();
            fs::set_permissions(&on_disk, fs::Permissions::from_mode(meta.mode)).unwrap();
            for (name, value) in &meta.xattrs {
                xattr_script.push_str(&format!(
                    "os.setxattr({:?}, {name:?}, bytes.fromhex({:?}))\n",
                    on_disk.to_str().unwrap(),
                    value.iter().map(|b| format!("{b:02x}")).collect::<String>()
                ));
            }
        }
        if matches!(node.kind, NodeKind::Dir(_)) {
            dirs.push(on_disk);
        }
        Ok(())
    })
    .unwrap();
    run(Command::new("python3").arg("-c").arg(&xattr_script), b"");
    fs::set_permissions(root, fs::Permissions::from_mode(tree.root_meta.mode)).unwrap();
}

#[test]
fn reader_reads_mkfs_erofs_images() {
    if !tool("mkfs.erofs") {
        return;
    }
    if !running_as_root() {
        eprintln!("skipping: materializing devices, owners and security xattrs needs root");
        return;
    }
    let tree = fixture();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fs::create_dir(&src).unwrap();
    materialize(&src, &tree);
    // mkfs.erofs -T gives every inode the same mtime; the hard link group leads with its first
    // name and all names carry the file's metadata.
    let mut expected = String::new();
    for line in dump(&tree).lines() {
        let mut fields: Vec<String> =
            line.split(' ').filter(|f| !f.is_empty()).map(str::to_owned).collect();
        fields[3] = EPOCH.to_string();
        if fields[0] == "hardlink" {
            fields[1] = "0644".to_owned();
            fields[2] = "1000:1000".to_owned();
            fields.push("xattr:trusted.overlay.opaque=79".to_owned());
            fields.push("xattr:user.comment=68656c6c6f".to_owned());
        }
        expected.push_str(&fields.join(" "));
        expected.push('\n');
    }
    for args in [&[][..], &["-zlz4"][..], &["-zlz4hc"][..]] {
        let image = dir.path().join("mkfs.erofs");
        run(
            Command::new("mkfs.erofs")
                .arg(format!("-T{EPOCH}"))
                .args(args)
                .arg("--quiet")
                .arg(&image)
                .arg(&src),
            b"",
        );
        let back = read(&mut fs::File::open(&image).unwrap()).unwrap();
        let found: String = dump(&back)
            .lines()
            .map(|l| l.split(' ').filter(|f| !f.is_empty()).collect::<Vec<_>>().join(" ") + "\n")
            .collect();
        assert_eq!(found, expected, "mkfs.erofs {args:?}");
    }
}

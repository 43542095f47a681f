//! Cross-checks of the ISO 9660 writer against isoinfo (genisoimage), xorriso (libisofs) and
//! bsdtar (libarchive): listings compared entry by entry with the tree, extraction compared file
//! by file, the volume descriptors, a media check; and kit's reader on images that genisoimage
//! and xorriso make from the same tree extracted to a directory.
//!
//! Expected listings are rendered from the test tree with each tool's listing format (the
//! `ls -l`-like columns, seen in their output for genisoimage-made images), never from kit's own
//! output. Extended attributes are in the tree but not in the image: ISO 9660 with Rock Ridge
//! has no place for them (libisofs's AAIP is not written), so every comparison leaves them out.
//!
//! `KIT_ISO_BENCH=1` adds a measurement (run it with `--release -- --nocapture bench`): a copy
//! of about 120 MB of `/usr/lib` (or `KIT_ISO_BENCH_DIR`) written by kit and by
//! `xorriso -as mkisofs -R -J`, wall time and size.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, BufWriter, Cursor, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use common::{assert_dir_matches, running_as_root, squeeze, tool};
use formats::dump::dump;
use formats::iso9660::{
    IsoOptions, JolietNames, PrimaryNames, read, to_vec, to_vec_with_max_extent, write,
};
use formats::testutil::tree_from_fixture;
use formats::tree::{BlobRange, Content, ContentSource, Dir, Meta, NoBlobs, Node, NodeKind, Tree};

/// The test tree: hard links (three names), setuid and setgid files, devices (one with a minor
/// above 255), a FIFO, symlinks, capability and user xattrs, an empty file, non-ASCII names,
/// deep directories and a name longer than Joliet's 103 characters. [`test_tree`] adds files of
/// exactly one and of several blocks, a 300 KB all-zero file and a directory of 300 entries.
/// Every hard link group's file is its first name in walk order.
const FIXTURE: &str = r#"
//- / mode=0755 mtime=1700000000
//- /bin/busybox mode=04755 mtime=1700000000
#!/bin/sh
echo busybox
//- /bin/ping mode=0755 mtime=1700000000 xattr.security.capability=0x0100000200200000 xattr.user.note=ping
ping
//- /bin/sh symlink=busybox mtime=1700000000
//- /dev/console char=5,1 mode=0600
//- /dev/nvme0n1p300 block=259,300 mode=0660 gid=6
//- /dev/sda block=8,16 mode=0660 gid=6
//- /etc/empty mode=0600 mtime=1600000000
//- /etc/init.d/001-hello mode=0755 mtime=1700000000
echo hello
//- /etc/init.d/002-hello-hardlink hardlink=/etc/init.d/001-hello
//- /etc/passwd uid=1000 gid=1000 mtime=1600000000
root:x:0:0:root:/root:/bin/sh
//- /etc/sudoers mode=0440 mtime=1600000000
root ALL=(ALL) ALL
//- /etc/sudoers-link hardlink=/etc/sudoers
//- /etc/zz-sudoers-link hardlink=/etc/sudoers
//- /lib/deep/2/3/4/5/6/7/8/9/10/11/file mode=0600 mtime=1700000000
deep
//- /lib/deep/2/3/4/5/6/7/8/9/10/up symlink=../../../.. mtime=1700000000
//- /run/fifo fifo mode=0600
//- /tmp dir mode=01777 mtime=1700000000
//- /usr/bin/sudo mode=06755 uid=0 gid=0 mtime=1700000000
sudo
//- /usr/share/a-name-that-is-longer-than-the-one-hundred-and-three-characters-joliet-long-allows-so-that-it-gets-cut.txt mtime=1700000000
long
//- /\xc3\xbctf8-n\xc3\xa4me mtime=1700000000
umlaut
//- /\xe6\x97\xa5\xe6\x9c\xac/\xe3\x83\x95\xe3\x82\xa1\xe3\x82\xa4\xe3\x83\xab.txt mtime=1700000000
nihongo
"#;

fn test_tree() -> Tree {
    let mut tree = tree_from_fixture(FIXTURE).unwrap();
    let file = |data: Vec<u8>, mode: u32| {
        Node::new(NodeKind::File(Content::Inline(Arc::from(data))), Meta::new(mode, 1_700_000_000))
    };
    let mut data = Dir::new();
    data.insert(b"one-block".to_vec(), file(vec![b'a'; 2048], 0o644));
    let pattern: Vec<u8> = (0..3 * 2048 + 17).map(|i| u8::try_from(i % 251).unwrap()).collect();
    data.insert(b"three-blocks-and-a-bit".to_vec(), file(pattern, 0o644));
    data.insert(b"zeros".to_vec(), file(vec![0; 300_000], 0o600));
    tree.root
        .insert(b"data".to_vec(), Node::new(NodeKind::Dir(data), Meta::new(0o755, 1_700_000_000)));
    let mut many = Dir::new();
    for idx in 0..300 {
        let name = format!("entry-with-a-long-name-{idx:03}.conf");
        many.insert(name.into_bytes(), file(format!("{idx}\n").into_bytes(), 0o644));
    }
    tree.root
        .insert(b"many".to_vec(), Node::new(NodeKind::Dir(many), Meta::new(0o755, 1_700_000_000)));
    tree
}

fn linuxkit(relocate: bool) -> IsoOptions {
    IsoOptions {
        volume_id: "LinuxKit".to_owned(),
        epoch: 1_700_000_000,
        primary_names: PrimaryNames::Long31,
        joliet: Some(JolietNames::Long103),
        relocate_deep_directories: relocate,
        boot: None,
    }
}

/// Writes `bytes` to a file in `dir` and returns its path.
fn image_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, bytes).unwrap();
    path
}

/// Runs `command`; asserts success and returns stdout and stderr.
fn output(command: &mut Command) -> (String, String) {
    let output = command
        .env("TZ", "UTC")
        .env("LC_ALL", "C.UTF-8")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|err| panic!("spawning {command:?}: {err}"));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{command:?} failed: {}\n{stderr}", output.status);
    (String::from_utf8(output.stdout).unwrap(), stderr)
}

/// One node of the tree with the inode's metadata (hard links take the file's).
struct Entry<'t> {
    path: String,
    node: &'t Node,
    meta: &'t Meta,
    /// Link count as Rock Ridge records it.
    nlink: u32,
    /// Content length of regular files.
    size: Option<u64>,
    /// For hard links, the first name of the group.
    link_to: Option<String>,
}

fn entries(tree: &Tree) -> Vec<Entry<'_>> {
    let mut n_names: BTreeMap<Vec<u8>, u32> = BTreeMap::new();
    tree.walk::<()>(&mut |_, node| {
        if let NodeKind::HardLink(target) = &node.kind {
            *n_names.entry(target.clone()).or_insert(1) += 1;
        }
        Ok(())
    })
    .unwrap();
    let mut out = Vec::new();
    tree.walk::<()>(&mut |path, node| {
        let shown = String::from_utf8(path.to_vec()).unwrap();
        let (meta, nlink, size, link_to) = match &node.kind {
            NodeKind::Dir(entries) => {
                let subdirs =
                    entries.values().filter(|n| matches!(n.kind, NodeKind::Dir(_))).count();
                (&node.meta, 2 + u32::try_from(subdirs).unwrap(), None, None)
            }
            NodeKind::File(content) => {
                (&node.meta, n_names.get(path).copied().unwrap_or(1), Some(content.len()), None)
            }
            NodeKind::HardLink(target) => {
                let file = tree.get(target).unwrap();
                let NodeKind::File(content) = &file.kind else { panic!("link to a non-file") };
                let link_to = String::from_utf8(target.clone()).unwrap();
                (&file.meta, n_names[target], Some(content.len()), Some(link_to))
            }
            _ => (&node.meta, 1, None, None),
        };
        out.push(Entry { path: shown, node, meta, nlink, size, link_to });
        Ok(())
    })
    .unwrap();
    out
}

/// `ls -l` mode string; `special` shows setuid, setgid and sticky as `s`/`t` (xorriso,
/// bsdtar) or not at all (isoinfo). `fifo` is the FIFO type letter.
fn mode_string(node: &Node, mode: u32, special: bool, fifo: char) -> String {
    let kind = match node.kind {
        NodeKind::Dir(_) => 'd',
        NodeKind::File(_) | NodeKind::HardLink(_) => '-',
        NodeKind::Symlink(_) => 'l',
        NodeKind::CharDevice { .. } => 'c',
        NodeKind::BlockDevice { .. } => 'b',
        NodeKind::Fifo => fifo,
    };
    let mut out = String::from(kind);
    for (shift, special_bit, letter) in [(6, 0o4000, 's'), (3, 0o2000, 's'), (0, 0o1000, 't')] {
        let bits = (mode >> shift) & 7;
        out.push(if bits & 4 != 0 { 'r' } else { '-' });
        out.push(if bits & 2 != 0 { 'w' } else { '-' });
        let exec = bits & 1 != 0;
        out.push(match (special && mode & special_bit != 0, exec) {
            (true, true) => letter,
            (true, false) => letter.to_ascii_uppercase(),
            (false, true) => 'x',
            (false, false) => '-',
        });
    }
    out
}

/// `Mon D YYYY` (UTC), as the tools print dates more than six months old.
fn date(mtime: i64) -> String {
    let output = Command::new("date")
        .env("LC_ALL", "C")
        .args(["-u", "-d", &format!("@{mtime}"), "+%b %-d %Y"])
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

fn device(node: &Node) -> Option<String> {
    match node.kind {
        NodeKind::CharDevice { major, minor } | NodeKind::BlockDevice { major, minor } => {
            Some(format!("{major},{minor}"))
        }
        _ => None,
    }
}

fn target(node: &Node) -> Option<String> {
    match &node.kind {
        NodeKind::Symlink(target) => Some(String::from_utf8(target.clone()).unwrap()),
        _ => None,
    }
}

/// Compares two listings keyed by path and reports every difference.
fn assert_listings(
    tool: &str,
    found: &BTreeMap<String, String>,
    expected: &BTreeMap<String, String>,
) {
    let mut problems = Vec::new();
    for (path, line) in expected {
        match found.get(path) {
            Some(found) if found == line => {}
            Some(found) => {
                problems.push(format!("{path}: expected `{line}`, {tool} shows `{found}`"))
            }
            None => problems.push(format!("{path}: missing from {tool}'s listing")),
        }
    }
    for path in found.keys().filter(|p| !expected.contains_key(*p)) {
        problems.push(format!("{path}: in {tool}'s listing only"));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn isoinfo_lists_every_entry() {
    if !tool("isoinfo") {
        return;
    }
    let tree = test_tree();
    let dir = tempfile::tempdir().unwrap();
    // Without relocation: isoinfo lists the ISO 9660 hierarchy, so relocated directories would
    // show under rr_moved (checked in `isoinfo_shows_relocated_directories`).
    let image =
        image_file(dir.path(), "kit.iso", &to_vec(&tree, &NoBlobs, &linuxkit(false)).unwrap());
    let (listing, _) = output(Command::new("isoinfo").args(["-R", "-l", "-i"]).arg(&image));
    // "Directory listing of /etc/" then one line per record: mode, links, uid, gid, size,
    // date, [ extent flags ], name (and " -> target" for symlinks).
    let mut found = BTreeMap::new();
    let mut dir_path = String::new();
    for line in listing.lines() {
        if let Some(path) = line.strip_prefix("Directory listing of /") {
            dir_path = path.trim_end_matches('/').to_owned();
            continue;
        }
        let Some((fields, name)) = line.split_once("]  ") else { continue };
        let name = name.trim_end();
        if name == "." || name == ".." {
            continue;
        }
        let fields: Vec<&str> = fields.split_whitespace().collect();
        let (name, target) = match name.split_once(" -> ") {
            Some((name, target)) if fields[0].starts_with('l') => (name, format!(" -> {target}")),
            _ => (name, String::new()),
        };
        let path = if dir_path.is_empty() { name.to_owned() } else { format!("{dir_path}/{name}") };
        // Directory sizes are the extents' (whole sectors), not the tree's.
        let size = if fields[0].starts_with('d') { "-" } else { fields[4] };
        let shown = format!(
            "{} {} {}:{} {size} {} {} {}{target}",
            fields[0], fields[1], fields[2], fields[3], fields[5], fields[6], fields[7]
        );
        found.insert(path, shown);
    }
    let mut expected = BTreeMap::new();
    for entry in entries(&tree) {
        // isoinfo shows sizes of the ISO 9660 records (0 for everything but files), only the
        // rwx bits, and owners in octal (isoinfo 1.1.11 prints uid 1000 as 1750).
        let size = match &entry.node.kind {
            NodeKind::Dir(_) => "-".to_owned(),
            _ => entry.size.unwrap_or(0).to_string(),
        };
        let target = target(entry.node).map(|t| format!(" -> {t}")).unwrap_or_default();
        let line = format!(
            "{} {} {:o}:{:o} {size} {}{target}",
            mode_string(entry.node, entry.meta.mode, false, 'f'),
            entry.nlink,
            entry.meta.uid,
            entry.meta.gid,
            date(entry.meta.mtime)
        );
        expected.insert(entry.path.clone(), line);
    }
    assert_listings("isoinfo", &found, &expected);
}

#[test]
fn isoinfo_shows_relocated_directories() {
    if !tool("isoinfo") {
        return;
    }
    let tree = tree_from_fixture("//- /1/2/3/4/5/6/7/8/9/f\n").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let image =
        image_file(dir.path(), "kit.iso", &to_vec(&tree, &NoBlobs, &linuxkit(true)).unwrap());
    let (listing, _) = output(Command::new("isoinfo").args(["-R", "-l", "-i"]).arg(&image));
    // isoinfo does not follow CL: 8 shows as a directory of size 0 where it belongs (its PX
    // says directory), and with its contents under /rr_moved.
    let lines: Vec<String> = squeeze(&listing)
        .lines()
        .filter(|l| {
            l.starts_with("Directory listing of") || l.contains(" 8 ") || l.ends_with(" 8 ")
        })
        .map(str::to_owned)
        .collect();
    assert!(lines.contains(&"Directory listing of /rr_moved/8/".to_owned()), "{listing}");
    assert!(lines.contains(&"Directory listing of /rr_moved/8/9/".to_owned()), "{listing}");
    assert!(!lines.iter().any(|l| l.contains("/7/8/")), "{listing}");
    assert!(listing.contains(" 0 Jan  1 1970 [      0 00]  8 "), "{listing}");
}

#[test]
fn isoinfo_and_xorriso_show_the_volume_descriptors() {
    if !tool("isoinfo") || !tool("xorriso") {
        return;
    }
    let tree = test_tree();
    let dir = tempfile::tempdir().unwrap();
    let bytes = to_vec(&tree, &NoBlobs, &linuxkit(true)).unwrap();
    let image = image_file(dir.path(), "kit.iso", &bytes);
    let (info, _) = output(Command::new("isoinfo").args(["-d", "-i"]).arg(&image));
    let sectors = bytes.len() / 2048;
    for line in [
        "CD-ROM is in ISO 9660 format".to_owned(),
        "System id: LINUX".to_owned(),
        "Volume id: LinuxKit".to_owned(),
        "Volume set id: LinuxKit".to_owned(),
        "Application id: KIT".to_owned(),
        "Logical block size is: 2048".to_owned(),
        format!("Volume size is: {sectors}"),
        "Joliet with UCS level 3 found".to_owned(),
        "Rock Ridge signatures version 1 found".to_owned(),
    ] {
        assert!(info.lines().any(|l| l == line), "`{line}` missing from:\n{info}");
    }
    // 1700000000 is 2023-11-14T22:13:20Z; expiration is unset.
    let (pvd, _) = output(Command::new("xorriso").args(["-indev"]).arg(&image).arg("-pvd_info"));
    for line in [
        "Volume Id    : LinuxKit",
        "Creation Time: 2023111422132000",
        "Modif. Time  : 2023111422132000",
        "Expir. Time  : 0000000000000000",
        "Eff. Time    : 2023111422132000",
    ] {
        assert!(pvd.lines().any(|l| l == line), "`{line}` missing from:\n{pvd}");
    }
}

#[test]
fn xorriso_lists_every_entry_and_finds_no_errors() {
    if !tool("xorriso") {
        return;
    }
    let tree = test_tree();
    let dir = tempfile::tempdir().unwrap();
    let bytes = to_vec(&tree, &NoBlobs, &linuxkit(true)).unwrap();
    let image = image_file(dir.path(), "kit.iso", &bytes);
    let (listing, stderr) = output(
        Command::new("xorriso")
            .args(["-report_about", "WARNING", "-indev"])
            .arg(&image)
            .args(["-find", "/", "-exec", "lsdl", "--"]),
    );
    assert!(!["WARNING", "SORRY", "FAILURE"].iter().any(|w| stderr.contains(w)), "{stderr}");
    // MODE LINKS UID GID SIZE DATE 'path' [-> 'target']; xorriso follows CL and shows the
    // relocation directory, prints every link count as 1, directory and symlink sizes as 0 and
    // device numbers as MAJOR,MINOR.
    let mut found = BTreeMap::new();
    for line in listing.lines().filter(|l| l.contains(" '/")) {
        let (fields, rest) = line.split_once(" '/").unwrap();
        let (path, target) = match rest.split_once("' -> '") {
            Some((path, target)) => (path, format!(" -> {}", target.trim_end_matches('\''))),
            None => (rest.trim_end_matches('\''), String::new()),
        };
        let f: Vec<&str> = fields.split_whitespace().collect();
        let shown = format!(
            "{} {} {}:{} {} {} {} {}{target}",
            f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7]
        );
        found.insert(path.to_owned(), shown);
    }
    let mut expected = BTreeMap::new();
    let root = Node::new(NodeKind::Dir(Dir::new()), tree.root_meta.clone());
    let rr_moved = Node::new(NodeKind::Dir(Dir::new()), Meta::new(0o555, 1_700_000_000));
    let extra = [(String::new(), &root), ("rr_moved".to_owned(), &rr_moved)];
    let all = entries(&tree);
    let listed = extra
        .iter()
        .map(|(path, node)| (path.clone(), *node, &node.meta, None))
        .chain(all.iter().map(|e| (e.path.clone(), e.node, e.meta, e.size)));
    for (path, node, meta, size) in listed {
        let size = device(node).unwrap_or_else(|| size.unwrap_or(0).to_string());
        let target = target(node).map(|t| format!(" -> {t}")).unwrap_or_default();
        let line = format!(
            "{} 1 {}:{} {size} {}{target}",
            mode_string(node, meta.mode, true, 'p'),
            meta.uid,
            meta.gid,
            date(meta.mtime)
        );
        expected.insert(path, line);
    }
    assert_listings("xorriso", &found, &expected);

    let (check, _) =
        output(Command::new("xorriso").arg("-indev").arg(&image).args(["-check_media", "--"]));
    let sectors = bytes.len() / 2048;
    let region = format!("Media region : 0 , {sectors} , + good");
    assert!(squeeze(&check).lines().any(|l| l == squeeze(&region).trim_end()), "{check}");
}

#[test]
fn bsdtar_lists_every_entry() {
    if !tool("bsdtar") {
        return;
    }
    let tree = test_tree();
    let dir = tempfile::tempdir().unwrap();
    let image =
        image_file(dir.path(), "kit.iso", &to_vec(&tree, &NoBlobs, &linuxkit(true)).unwrap());
    let (listing, _) =
        output(Command::new("bsdtar").args(["-tvf"]).arg(&image).arg("--numeric-owner"));
    // MODE LINKS UID GID SIZE DATE path [-> target | link to path]; libarchive follows CL,
    // hides rr_moved, lists the root as `.`, shows a later name of an inode with size 0 and
    // "link to" its first name, and computes directory link counts itself.
    let mut found = BTreeMap::new();
    for line in listing.lines() {
        let f: Vec<&str> = line.split_whitespace().take(8).collect();
        let rest = line.split_once(&format!(" {} ", f[7])).map_or("", |(_, rest)| rest).to_owned();
        let (path, suffix) = if let Some((path, target)) = rest.split_once(" -> ") {
            (path.to_owned(), format!(" -> {target}"))
        } else if let Some((path, target)) = rest.split_once(" link to ") {
            (path.to_owned(), format!(" link to {target}"))
        } else {
            (rest, String::new())
        };
        if path == "." {
            continue;
        }
        let links = if f[0].starts_with('d') { "-" } else { f[1] };
        let size = if f[0].starts_with('d') { "-" } else { f[4] };
        found.insert(
            path,
            format!("{} {links} {}:{} {size} {} {} {}{suffix}", f[0], f[2], f[3], f[5], f[6], f[7]),
        );
    }
    let mut expected = BTreeMap::new();
    for entry in entries(&tree) {
        let (links, size) = match &entry.node.kind {
            NodeKind::Dir(_) => ("-".to_owned(), "-".to_owned()),
            _ if entry.link_to.is_some() => (entry.nlink.to_string(), "0".to_owned()),
            _ => (
                entry.nlink.to_string(),
                device(entry.node).unwrap_or_else(|| entry.size.unwrap_or(0).to_string()),
            ),
        };
        let suffix = match (&entry.link_to, target(entry.node)) {
            (Some(first), _) => format!(" link to {first}"),
            (None, Some(target)) => format!(" -> {target}"),
            (None, None) => String::new(),
        };
        let line = format!(
            "{} {links} {}:{} {size} {}{suffix}",
            mode_string(entry.node, entry.meta.mode, true, 'p'),
            entry.meta.uid,
            entry.meta.gid,
            date(entry.meta.mtime)
        );
        expected.insert(entry.path.clone(), line);
    }
    assert_listings("bsdtar", &found, &expected);
}

/// Extraction restores owners, setuid bits and device nodes, which needs root (CI runs as
/// root); others skip.
fn extracting_as_root() -> bool {
    let root = running_as_root();
    if !root {
        eprintln!(
            "skipping: extraction restores owners, setuid bits and devices, which needs root"
        );
    }
    root
}

/// The tree without what extraction cannot check by `assert_dir_matches` (devices) and what
/// the image cannot hold (xattrs).
fn extractable(tree: &Tree) -> Tree {
    fn strip(dir: &mut Dir) {
        dir.retain(|_, node| {
            !matches!(node.kind, NodeKind::CharDevice { .. } | NodeKind::BlockDevice { .. })
        });
        for node in dir.values_mut() {
            node.meta.xattrs.clear();
            if let NodeKind::Dir(entries) = &mut node.kind {
                strip(entries);
            }
        }
    }
    let mut tree = tree.clone();
    strip(&mut tree.root);
    tree
}

/// Checks the devices extracted under `root` (by root only: others cannot make them), then
/// removes them.
fn check_and_remove_devices(root: &Path, tree: &Tree) {
    for entry in entries(tree) {
        let (major, minor, block) = match entry.node.kind {
            NodeKind::CharDevice { major, minor } => (major, minor, false),
            NodeKind::BlockDevice { major, minor } => (major, minor, true),
            _ => continue,
        };
        let path = root.join(&entry.path);
        if running_as_root() {
            let meta = fs::symlink_metadata(&path).unwrap();
            let file_type = meta.file_type();
            assert!(
                if block { file_type.is_block_device() } else { file_type.is_char_device() },
                "{}",
                entry.path
            );
            let rdev = meta.rdev();
            let found = (
                ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff),
                (rdev & 0xff) | ((rdev >> 12) & !0xff),
            );
            assert_eq!(
                found,
                (u64::from(major), u64::from(minor)),
                "device number of {}",
                entry.path
            );
            assert_eq!(
                meta.permissions().mode() & 0o7777,
                entry.meta.mode,
                "mode of {}",
                entry.path
            );
            assert_eq!(
                (meta.uid(), meta.gid()),
                (entry.meta.uid, entry.meta.gid),
                "owner of {}",
                entry.path
            );
        }
        let _ = fs::remove_file(&path);
    }
}

#[test]
fn xorriso_extracts_the_tree() {
    if !extracting_as_root() {
        return;
    }
    if !tool("xorriso") {
        return;
    }
    let tree = test_tree();
    let dir = tempfile::tempdir().unwrap();
    let image =
        image_file(dir.path(), "kit.iso", &to_vec(&tree, &NoBlobs, &linuxkit(true)).unwrap());
    let out = dir.path().join("out");
    // -hardlinks on: names with the same PX serial number become one inode again.
    output(
        Command::new("xorriso")
            .args(["-osirrox", "on:device_files", "-hardlinks", "on", "-indev"])
            .arg(&image)
            .arg("-extract")
            .arg("/")
            .arg(&out),
    );
    // xorriso restores the relocation directory, empty.
    assert_eq!(fs::read_dir(out.join("rr_moved")).unwrap().count(), 0);
    fs::remove_dir(out.join("rr_moved")).unwrap();
    check_and_remove_devices(&out, &tree);
    assert_dir_matches(&out, &extractable(&tree));
}

#[test]
fn bsdtar_extracts_the_tree() {
    if !extracting_as_root() {
        return;
    }
    if !tool("bsdtar") {
        return;
    }
    let tree = test_tree();
    let dir = tempfile::tempdir().unwrap();
    let image =
        image_file(dir.path(), "kit.iso", &to_vec(&tree, &NoBlobs, &linuxkit(true)).unwrap());
    let out = dir.path().join("out");
    fs::create_dir(&out).unwrap();
    output(Command::new("bsdtar").args(["-xpf"]).arg(&image).arg("-C").arg(&out));
    check_and_remove_devices(&out, &tree);
    assert_dir_matches(&out, &extractable(&tree));
}

#[test]
fn multi_extent_files_read_by_xorriso_and_bsdtar() {
    if !extracting_as_root() {
        return;
    }
    if !tool("xorriso") || !tool("bsdtar") {
        return;
    }
    // Extents of at most 2 sectors: every file above 4096 bytes has several.
    let tree = extractable(&test_tree());
    let dir = tempfile::tempdir().unwrap();
    let bytes = to_vec_with_max_extent(&tree, &NoBlobs, &linuxkit(true), 2).unwrap();
    let image = image_file(dir.path(), "kit.iso", &bytes);
    let xorriso_out = dir.path().join("xorriso");
    output(
        Command::new("xorriso")
            .args(["-osirrox", "on", "-hardlinks", "on", "-indev"])
            .arg(&image)
            .arg("-extract")
            .arg("/")
            .arg(&xorriso_out),
    );
    fs::remove_dir(xorriso_out.join("rr_moved")).unwrap();
    assert_dir_matches(&xorriso_out, &tree);
    let bsdtar_out = dir.path().join("bsdtar");
    fs::create_dir(&bsdtar_out).unwrap();
    output(Command::new("bsdtar").args(["-xpf"]).arg(&image).arg("-C").arg(&bsdtar_out));
    assert_dir_matches(&bsdtar_out, &tree);
    assert_eq!(dump(&read(&mut Cursor::new(&bytes)).unwrap()), dump(&with_inode_meta(tree)));
}

#[test]
fn joliet_names_are_cut_at_103_or_64_characters() {
    if !tool("xorriso") {
        return;
    }
    let tree = test_tree();
    let dir = tempfile::tempdir().unwrap();
    for (joliet, max) in [(JolietNames::Long103, 103), (JolietNames::Max64, 64)] {
        let options = IsoOptions { joliet: Some(joliet), ..linuxkit(true) };
        let image = image_file(dir.path(), "kit.iso", &to_vec(&tree, &NoBlobs, &options).unwrap());
        // xorriso reads the Joliet hierarchy with `-read_fs norock` (isoinfo 1.1.11 cannot print
        // Joliet names as UTF-8).
        let (listing, _) = output(
            Command::new("xorriso")
                .args(["-read_fs", "norock", "-indev"])
                .arg(&image)
                .args(["-find", "/"]),
        );
        let mut found: Vec<String> =
            listing.lines().map(|l| l.trim_matches('\'').to_owned()).filter(|l| l != "/").collect();
        // Joliet keeps the tree's depth and every name (no rr_moved), cut to `max`
        // characters; none of this tree's cut names collide.
        let mut expected: Vec<String> = entries(&tree)
            .iter()
            .map(|e| {
                let cut: Vec<String> =
                    e.path.split('/').map(|c| c.chars().take(max).collect()).collect();
                format!("/{}", cut.join("/"))
            })
            .collect();
        expected.sort();
        found.sort();
        assert_eq!(found, expected);
    }
}

/// Makes `tree` on disk under `root` (owners only as root; devices need root).
fn materialize(tree: &Tree, root: &Path) {
    let mut dirs = vec![(root.to_path_buf(), tree.root_meta.clone())];
    let mut others = Vec::new();
    tree.walk::<()>(&mut |path, node| {
        let on_disk = root.join(std::str::from_utf8(path).unwrap());
        match &node.kind {
            NodeKind::Dir(_) => {
                fs::create_dir(&on_disk).unwrap();
                dirs.push((on_disk, node.meta.clone()));
                return Ok(());
            }
            NodeKind::File(Content::Inline(data)) => fs::write(&on_disk, data).unwrap(),
            NodeKind::File(Content::Blob(_)) => panic!("blob in a test tree"),
            NodeKind::HardLink(target) => {
                fs::hard_link(root.join(std::str::from_utf8(target).unwrap()), &on_disk).unwrap();
                return Ok(());
            }
            NodeKind::Symlink(target) => {
                std::os::unix::fs::symlink(std::str::from_utf8(target).unwrap(), &on_disk).unwrap()
            }
            NodeKind::CharDevice { major, minor } | NodeKind::BlockDevice { major, minor } => {
                let kind = if matches!(node.kind, NodeKind::CharDevice { .. }) { "c" } else { "b" };
                output(
                    Command::new("mknod")
                        .arg(&on_disk)
                        .arg(kind)
                        .arg(major.to_string())
                        .arg(minor.to_string()),
                );
            }
            NodeKind::Fifo => {
                output(Command::new("mkfifo").arg(&on_disk));
            }
        }
        others.push((on_disk, node.meta.clone(), matches!(node.kind, NodeKind::Symlink(_))));
        Ok(())
    })
    .unwrap();
    // Owners before modes (chown clears setuid), times last and deepest first.
    let all = others
        .iter()
        .map(|(p, m, l)| (p, m, *l))
        .chain(dirs.iter().rev().map(|(p, m)| (p, m, false)));
    let as_root = running_as_root();
    for (path, meta, symlink) in all {
        if as_root {
            std::os::unix::fs::lchown(path, Some(meta.uid), Some(meta.gid)).unwrap();
        }
        if !symlink {
            fs::set_permissions(path, fs::Permissions::from_mode(meta.mode)).unwrap();
        }
        output(Command::new("touch").args(["-h", "-d"]).arg(format!("@{}", meta.mtime)).arg(path));
    }
}

/// `tree` with every hard link carrying its file's metadata, as names of one inode read back.
fn with_inode_meta(mut tree: Tree) -> Tree {
    let entries_meta: Vec<(String, Meta)> = entries(&tree)
        .iter()
        .filter(|e| e.link_to.is_some())
        .map(|e| (e.path.clone(), e.meta.clone()))
        .collect();
    for (path, meta) in entries_meta {
        let mut node = &mut tree.root;
        let parts: Vec<&str> = path.split('/').collect();
        for part in &parts[..parts.len() - 1] {
            let NodeKind::Dir(entries) = &mut node.get_mut(part.as_bytes()).unwrap().kind else {
                panic!()
            };
            node = entries;
        }
        node.get_mut(parts[parts.len() - 1].as_bytes()).unwrap().meta = meta;
    }
    tree
}

/// What reading an image of the test tree made by another tool gives: no xattrs; hard link
/// groups led by their first name, every name with the file's metadata.
fn read_back_expected(tree: &Tree) -> String {
    let mut tree = extractable(tree);
    // Devices come back too.
    fn add_devices(from: &Dir, to: &mut Dir) {
        for (name, node) in from {
            match &node.kind {
                NodeKind::CharDevice { .. } | NodeKind::BlockDevice { .. } => {
                    to.insert(name.clone(), node.clone());
                }
                NodeKind::Dir(entries) => {
                    if let Some(NodeKind::Dir(target)) = to.get_mut(name).map(|n| &mut n.kind) {
                        add_devices(entries, target);
                    }
                }
                _ => {}
            }
        }
    }
    add_devices(&test_tree().root, &mut tree.root);
    dump(&with_inode_meta(tree))
}

#[test]
fn reader_reads_genisoimage_and_xorriso_images_of_the_tree() {
    if !running_as_root() {
        eprintln!("skipping: making device nodes and owners needs root");
        return;
    }
    if !tool("genisoimage") || !tool("xorriso") {
        return;
    }
    let tree = test_tree();
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("root");
    fs::create_dir(&source).unwrap();
    materialize(&tree, &source);
    let expected = read_back_expected(&tree);
    // LinuxKit's command line: genisoimage relocates the deep directories and writes RRIP 1.10
    // (no serial numbers: hard links are told by their shared extent), devices as
    // (major, minor).
    let genisoimage = dir.path().join("genisoimage.iso");
    output(
        Command::new("genisoimage")
            .args([
                "-quiet",
                "-l",
                "-J",
                "-R",
                "-joliet-long",
                "-input-charset",
                "utf8",
                "-V",
                "LinuxKit",
                "-o",
            ])
            .arg(&genisoimage)
            .arg(&source),
    );
    let tree_back = read(&mut fs::File::open(&genisoimage).unwrap()).unwrap();
    assert_eq!(dump(&tree_back), expected, "genisoimage");
    let xorriso = dir.path().join("xorriso.iso");
    output(
        Command::new("xorriso")
            .args(["-as", "mkisofs", "-quiet", "-R", "-J", "-joliet-long", "-o"])
            .arg(&xorriso)
            .arg(&source),
    );
    let tree_back = read(&mut fs::File::open(&xorriso).unwrap()).unwrap();
    assert_eq!(dump(&tree_back), expected, "xorriso");
}

/// Files of a host directory, read when the image is written.
struct HostFiles;

impl ContentSource for HostFiles {
    fn open(&self, range: &BlobRange) -> io::Result<Box<dyn Read + '_>> {
        Ok(Box::new(fs::File::open(&*range.object)?.take(range.len)))
    }
}

/// Reads a host directory into a tree whose files are blobs naming their host paths.
fn host_tree(root: &Path) -> Tree {
    fn add(dir: &Path, entries: &mut Dir) {
        for entry in fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let meta = fs::symlink_metadata(entry.path()).unwrap();
            let tree_meta = Meta {
                mode: meta.permissions().mode() & 0o7777,
                uid: meta.uid(),
                gid: meta.gid(),
                mtime: meta.mtime(),
                xattrs: BTreeMap::new(),
            };
            let kind = if meta.is_dir() {
                let mut sub = Dir::new();
                add(&entry.path(), &mut sub);
                NodeKind::Dir(sub)
            } else if meta.file_type().is_symlink() {
                NodeKind::Symlink(
                    fs::read_link(entry.path()).unwrap().into_os_string().into_encoded_bytes(),
                )
            } else if meta.is_file() {
                let object = Arc::from(entry.path().to_str().unwrap());
                NodeKind::File(Content::Blob(BlobRange { object, offset: 0, len: meta.len() }))
            } else {
                continue;
            };
            entries.insert(entry.file_name().into_encoded_bytes(), Node::new(kind, tree_meta));
        }
    }
    let mut tree = Tree::new(0);
    add(root, &mut tree.root);
    let meta = fs::metadata(root).unwrap();
    tree.root_meta = Meta {
        mode: meta.permissions().mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        mtime: meta.mtime(),
        xattrs: BTreeMap::new(),
    };
    tree
}

/// Copies regular files (up to 1 MiB each, so that the tree has many) and symlinks of `from`
/// into `to` until `budget` bytes are copied.
fn copy_some(from: &Path, to: &Path, budget: &mut u64) {
    let Ok(list) = fs::read_dir(from) else { return };
    let mut list: Vec<_> = list.filter_map(Result::ok).collect();
    list.sort_by_key(fs::DirEntry::file_name);
    for entry in list {
        if *budget == 0 {
            return;
        }
        let Ok(meta) = fs::symlink_metadata(entry.path()) else { continue };
        let target = to.join(entry.file_name());
        if meta.is_dir() {
            fs::create_dir(&target).unwrap();
            copy_some(&entry.path(), &target, budget);
        } else if meta.file_type().is_symlink() {
            let _ = std::os::unix::fs::symlink(fs::read_link(entry.path()).unwrap(), &target);
        } else if meta.is_file() && meta.len() <= 1 << 20 && fs::copy(entry.path(), &target).is_ok()
        {
            *budget = budget.saturating_sub(meta.len());
        }
    }
}

#[test]
#[allow(clippy::disallowed_methods)] // A wall-clock measurement; no output depends on it.
fn bench() {
    if std::env::var_os("KIT_ISO_BENCH").is_none() || !tool("xorriso") {
        eprintln!("skipping: set KIT_ISO_BENCH=1 to measure");
        return;
    }
    let from = std::env::var_os("KIT_ISO_BENCH_DIR")
        .map_or_else(|| PathBuf::from("/usr/lib"), PathBuf::from);
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("tree");
    fs::create_dir(&source).unwrap();
    let mut budget = 120 << 20;
    copy_some(&from, &source, &mut budget);
    let (du, _) = output(Command::new("du").args(["-sb"]).arg(&source));
    let (count, _) =
        output(Command::new("sh").arg("-c").arg(format!("find {} | wc -l", source.display())));
    eprintln!(
        "tree: {} bytes, {} entries (from {})",
        du.split_whitespace().next().unwrap(),
        count.trim(),
        from.display()
    );
    output(&mut Command::new("sync"));

    let kit_image = dir.path().join("kit.iso");
    let start = Instant::now();
    let tree = host_tree(&source);
    let mut out = BufWriter::with_capacity(1 << 20, fs::File::create(&kit_image).unwrap());
    write(&tree, &HostFiles, &linuxkit(true), &mut out).unwrap();
    out.into_inner().unwrap().sync_all().unwrap();
    let kit_time = start.elapsed();

    let xorriso_image = dir.path().join("xorriso.iso");
    let start = Instant::now();
    output(
        Command::new("xorriso")
            .args(["-as", "mkisofs", "-quiet", "-R", "-J", "-o"])
            .arg(&xorriso_image)
            .arg(&source),
    );
    fs::File::open(&xorriso_image).unwrap().sync_all().unwrap();
    let xorriso_time = start.elapsed();

    let genisoimage_image = dir.path().join("genisoimage.iso");
    let start = Instant::now();
    output(
        Command::new("genisoimage")
            .args(["-quiet", "-l", "-J", "-R", "-joliet-long", "-input-charset", "utf8", "-o"])
            .arg(&genisoimage_image)
            .arg(&source),
    );
    fs::File::open(&genisoimage_image).unwrap().sync_all().unwrap();
    let genisoimage_time = start.elapsed();

    for (name, time, path) in [
        ("kit", kit_time, &kit_image),
        ("xorriso -as mkisofs -R -J", xorriso_time, &xorriso_image),
        ("genisoimage -l -J -R -joliet-long", genisoimage_time, &genisoimage_image),
    ] {
        let size = fs::metadata(path).unwrap().len();
        eprintln!("{name:36} {:>8.2} s {size:>12} bytes", time.as_secs_f64());
    }
    // The three images hold the same tree.
    let kit_back = dump(&read(&mut fs::File::open(&kit_image).unwrap()).unwrap());
    let xorriso_back = dump(&read(&mut fs::File::open(&xorriso_image).unwrap()).unwrap());
    let first_difference = kit_back.lines().zip(xorriso_back.lines()).find(|(a, b)| a != b);
    assert_eq!(first_difference, None);
    assert_eq!(kit_back.lines().count(), xorriso_back.lines().count());
}

#[test]
fn reader_falls_back_to_joliet_then_iso_9660_names() {
    if !tool("genisoimage") {
        return;
    }
    let tree = tree_from_fixture(
        "//- /Dir.Name/Mixed\\x20Case.txt mtime=1700000000\nx\n//- /top mtime=1700000000\ny\n",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("root");
    fs::create_dir(&source).unwrap();
    materialize(&tree, &source);
    let read_with = |flags: &[&str]| {
        let image = dir.path().join("image.iso");
        output(
            Command::new("genisoimage")
                .arg("-quiet")
                .args(flags)
                .arg("-o")
                .arg(&image)
                .arg(&source),
        );
        let back = read(&mut fs::File::open(&image).unwrap()).unwrap();
        // Only names, kinds and contents: without Rock Ridge there are no modes or owners.
        dump(&back)
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                format!("{} {} {}", f[0], f[5], f[6..].join(" "))
            })
            .collect::<Vec<_>>()
    };
    // sha256("x\n") = 73cb3858..., sha256("y\n") = 3bb2abb6... (sha256sum); Joliet keeps the
    // names.
    assert_eq!(
        read_with(&["-J"]),
        [
            "dir - /",
            "dir - /Dir.Name",
            "file 73cb3858a687a849 /Dir.Name/Mixed\\x20Case.txt",
            "file 3bb2abb69ebb27fb /top"
        ]
    );
    // ISO 9660 level 1 identifiers, version and trailing dot removed (genisoimage splits the
    // directory name at its last dot, as it does file names).
    assert_eq!(
        read_with(&[]),
        [
            "dir - /",
            "dir - /DIR.NAM",
            "file 73cb3858a687a849 /DIR.NAM/MIXED_CA.TXT",
            "file 3bb2abb69ebb27fb /TOP"
        ]
    );
}

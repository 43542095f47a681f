//! Test helpers: trees from inline text fixtures, a one-line-per-entry dump, and configuration
//! values built in code.
//!
//! Fixture format: `//- /path attr attr...` starts an entry; the lines up to the next `//-` are
//! the file's contents (leading whitespace trimmed, each line ending in `\n`). Attributes:
//! `mode=0644`, `uid=N`, `gid=N`, `mtime=N`, `dir`, `symlink=TARGET`, `hardlink=TARGET`,
//! `char=MAJ,MIN`, `block=MAJ,MIN`, `fifo`, `blob=OBJECT:OFFSET:LEN` (contents from a blob).
//! Missing parent directories are created with mode 0755, owner 0:0, mtime 0.

use std::sync::Arc;

use formats::tree::{BlobRange, Content, Dir, Meta, Node, NodeKind, Tree};

use crate::config::{Image, ImageConfig, ImageRef, InitImage, Location};
use crate::linuxkit::place;

/// An image reference as written in a configuration (assembly looks images up by `written`).
pub fn image_ref(written: &str) -> ImageRef {
    ImageRef { written: written.to_string(), reference: written.parse().unwrap() }
}

/// An `init` entry.
pub fn init(written: &str) -> InitImage {
    InitImage { image: image_ref(written), location: Location::default() }
}

/// An `onboot`, `onshutdown` or `services` entry.
pub fn object(name: &str, image: &str, config: ImageConfig) -> Image {
    Image { name: name.into(), image: image_ref(image), config, location: Location::default() }
}

/// Builds a tree from the fixture text.
pub fn tree_from_text(text: &str) -> Tree {
    let mut tree = Tree::new(0);
    let mut current: Option<(String, Vec<String>)> = None;
    let mut body: Vec<String> = Vec::new();
    let flush = |entry: Option<(String, Vec<String>)>, body: &mut Vec<String>, tree: &mut Tree| {
        if let Some((path, attrs)) = entry {
            add_entry(tree, &path, &attrs, body);
        }
        body.clear();
    };
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("//- ") {
            flush(current.take(), &mut body, &mut tree);
            let mut words = rest.split_whitespace();
            let path = words.next().unwrap_or_default().to_string();
            current = Some((path, words.map(str::to_string).collect()));
        } else if current.is_some() && !trimmed.is_empty() {
            body.push(trimmed.to_string());
        }
    }
    flush(current.take(), &mut body, &mut tree);
    tree
}

fn add_entry(tree: &mut Tree, path: &str, attrs: &[String], body: &[String]) {
    let mut meta = Meta::new(0o644, 0);
    let mut contents = String::new();
    for line in body {
        contents.push_str(line);
        contents.push('\n');
    }
    let mut kind = NodeKind::File(Content::Inline(Arc::from(contents.as_bytes())));
    for attr in attrs {
        let (key, value) = attr.split_once('=').unwrap_or((attr.as_str(), ""));
        let pair = || {
            let (a, b) = value.split_once(',').unwrap_or(("0", "0"));
            (a.parse().unwrap_or(0), b.parse().unwrap_or(0))
        };
        match key {
            "mode" => meta.mode = u32::from_str_radix(value, 8).unwrap_or(0o644),
            "uid" => meta.uid = value.parse().unwrap_or(0),
            "gid" => meta.gid = value.parse().unwrap_or(0),
            "mtime" => meta.mtime = value.parse().unwrap_or(0),
            "dir" => kind = NodeKind::Dir(Dir::new()),
            "symlink" => kind = NodeKind::Symlink(value.as_bytes().to_vec()),
            "hardlink" => kind = NodeKind::HardLink(value.as_bytes().to_vec()),
            "fifo" => kind = NodeKind::Fifo,
            "char" => {
                let (major, minor) = pair();
                kind = NodeKind::CharDevice { major, minor };
            }
            "block" => {
                let (major, minor) = pair();
                kind = NodeKind::BlockDevice { major, minor };
            }
            "blob" => {
                let mut parts = value.rsplitn(3, ':');
                let len = parts.next().unwrap_or("0").parse().unwrap_or(0);
                let offset = parts.next().unwrap_or("0").parse().unwrap_or(0);
                let object = parts.next().unwrap_or("");
                kind = NodeKind::File(Content::Blob(BlobRange {
                    object: Arc::from(object),
                    offset,
                    len,
                }));
            }
            _ => panic!("unknown fixture attribute {attr}"),
        }
    }
    let parts = place::components(path.as_bytes());
    let Some((last, parents)) = parts.split_last() else { return };
    let dir = place::dir_at(&mut tree.root, parents, &Meta::new(0o755, 0), &None);
    place::put(dir, last.to_vec(), Node::new(kind, meta));
}

/// One line per entry, depth-first in name order:
/// `kind mode uid:gid @mtime path [size=N | -> target | major,minor]`.
pub fn dump_dir(dir: &Dir) -> String {
    let mut out = String::new();
    dump_into(dir, "", false, &mut out);
    out
}

/// Like [`dump_dir`], with each entry's origin as `[location | source]`.
pub fn dump_dir_with_origin(dir: &Dir) -> String {
    let mut out = String::new();
    dump_into(dir, "", true, &mut out);
    out
}

fn dump_into(dir: &Dir, prefix: &str, with_origin: bool, out: &mut String) {
    for (name, node) in dir {
        let path = format!("{prefix}{}", String::from_utf8_lossy(name));
        let (kind, extra) = match &node.kind {
            NodeKind::Dir(_) => ("dir", String::new()),
            NodeKind::File(content) => ("file", format!(" size={}", content.len())),
            NodeKind::Symlink(target) => {
                ("symlink", format!(" -> {}", String::from_utf8_lossy(target)))
            }
            NodeKind::HardLink(target) => {
                ("hardlink", format!(" -> {}", String::from_utf8_lossy(target)))
            }
            NodeKind::CharDevice { major, minor } => ("char", format!(" {major},{minor}")),
            NodeKind::BlockDevice { major, minor } => ("block", format!(" {major},{minor}")),
            NodeKind::Fifo => ("fifo", String::new()),
        };
        let meta = &node.meta;
        out.push_str(&format!(
            "{kind} {:04o} {}:{} @{} {path}{extra}",
            meta.mode, meta.uid, meta.gid, meta.mtime
        ));
        if with_origin {
            match &node.origin {
                Some(origin) => {
                    out.push_str(&format!("  [{} | {}]", origin.location, origin.source))
                }
                None => out.push_str("  [-]"),
            }
        }
        out.push('\n');
        if let NodeKind::Dir(entries) = &node.kind {
            dump_into(entries, &format!("{path}/"), with_origin, out);
        }
    }
}

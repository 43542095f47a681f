//! A stable, line-per-node text listing of a [`Tree`], shared by every format for golden tests.
//!
//! Each line describes one node, in [`Tree::walk`] order, starting with the root directory:
//!
//! ```text
//! dir      0755 0:0 0 - - /
//! dir      0755 0:0 1700000000 - - /etc
//! file     0644 0:0 1700000000 6 5891b5b522d5df08 /etc/hostname
//! hardlink 0644 0:0 1700000000 - - /etc/hostname2 => /etc/hostname
//! symlink  0777 0:0 1700000000 - - /bin/sh -> busybox
//! char     0600 0:0 0 - - /dev/console dev=5,1
//! file     0755 0:0 0 0 e3b0c44298fc1c14 /bin/ping xattr:security.capability=0100000200200000
//! ```
//!
//! The columns are: kind, permission bits in octal (including setuid 04000, setgid 02000 and
//! sticky 01000), `uid:gid`, mtime in seconds, size in bytes (files only), the first 16 hex digits
//! of the SHA-256 of the content (files only), and the path with a leading `/`.
//! Then, where they apply: ` -> target` for symlinks (verbatim), ` => /target` for hard links,
//! ` dev=major,minor` for devices, one ` xattr:name=value` per extended attribute (value in hex
//! up to 32 bytes, otherwise `sha256:` and 16 hex digits of its hash), and
//! ` origin=location,source` when the node records where it came from.
//!
//! Paths, targets and xattr names are escaped so that a line always splits on spaces: bytes
//! outside printable ASCII, the space and the backslash are written as `\xNN`.

use std::fmt::Write as _;
use std::io::{self, Read};

use sha2::{Digest, Sha256};

use crate::tree::{Content, ContentSource, Meta, Node, NodeKind, Tree};

/// Dumps a tree whose file contents are all inline.
///
/// A [`Content::Blob`] cannot be hashed without its source: its hash column reads
/// `blob:` followed by the object name and offset. Use [`dump_with_source`] for such trees.
pub fn dump(tree: &Tree) -> String {
    // Without a source no content is opened, so no I/O error can occur.
    dump_inner(tree, None).unwrap_or_default()
}

/// Dumps a tree, hashing [`Content::Blob`] contents read through `source`.
pub fn dump_with_source(tree: &Tree, source: &dyn ContentSource) -> io::Result<String> {
    dump_inner(tree, Some(source))
}

/// Escapes a path relative to the tree root for display, with a leading `/`.
pub fn display_path(path: &[u8]) -> String {
    let mut out = String::with_capacity(path.len() + 1);
    if !path.starts_with(b"/") {
        out.push('/');
    }
    escape_into(&mut out, path);
    out
}

/// Escapes arbitrary bytes so that they contain no space, no control character and no non-ASCII
/// byte: those bytes and the backslash become `\xNN`.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    escape_into(&mut out, bytes);
    out
}

fn escape_into(out: &mut String, bytes: &[u8]) {
    for &byte in bytes {
        if byte.is_ascii_graphic() && byte != b'\\' {
            out.push(char::from(byte));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
}

fn dump_inner(tree: &Tree, source: Option<&dyn ContentSource>) -> io::Result<String> {
    let mut out = String::new();
    line(&mut out, "dir", &tree.root_meta, b"", None, None)?;
    tree.walk(&mut |path, node| node_line(&mut out, path, node, source))?;
    Ok(out)
}

fn node_line(
    out: &mut String,
    path: &[u8],
    node: &Node,
    source: Option<&dyn ContentSource>,
) -> io::Result<()> {
    let kind = match &node.kind {
        NodeKind::Dir(_) => "dir",
        NodeKind::File(_) => "file",
        NodeKind::Symlink(_) => "symlink",
        NodeKind::HardLink(_) => "hardlink",
        NodeKind::CharDevice { .. } => "char",
        NodeKind::BlockDevice { .. } => "block",
        NodeKind::Fifo => "fifo",
    };
    let content = match &node.kind {
        NodeKind::File(content) => Some(content),
        _ => None,
    };
    line(out, kind, &node.meta, path, content.map(|c| (c, source)), Some(node))
}

fn line(
    out: &mut String,
    kind: &str,
    meta: &Meta,
    path: &[u8],
    content: Option<(&Content, Option<&dyn ContentSource>)>,
    node: Option<&Node>,
) -> io::Result<()> {
    let (size, hash) = match content {
        Some((content, source)) => (content.len().to_string(), content_hash(content, source)?),
        None => ("-".to_owned(), "-".to_owned()),
    };
    // Writing to a String cannot fail, here and below.
    let _ = write!(
        out,
        "{kind:<8} {:04o} {}:{} {} {size} {hash} {}",
        meta.mode,
        meta.uid,
        meta.gid,
        meta.mtime,
        display_path(path)
    );
    if let Some(node) = node {
        match &node.kind {
            NodeKind::Symlink(target) => {
                let _ = write!(out, " -> {}", escape(target));
            }
            NodeKind::HardLink(target) => {
                let _ = write!(out, " => {}", display_path(target));
            }
            NodeKind::CharDevice { major, minor } | NodeKind::BlockDevice { major, minor } => {
                let _ = write!(out, " dev={major},{minor}");
            }
            NodeKind::Dir(_) | NodeKind::File(_) | NodeKind::Fifo => {}
        }
    }
    for (name, value) in &meta.xattrs {
        let _ = write!(out, " xattr:{}={}", escape(name.as_bytes()), xattr_value(value));
    }
    if let Some(origin) = node.and_then(|n| n.origin.as_ref()) {
        let _ = write!(
            out,
            " origin={},{}",
            escape(origin.location.as_bytes()),
            escape(origin.source.as_bytes())
        );
    }
    out.push('\n');
    Ok(())
}

fn xattr_value(value: &[u8]) -> String {
    if value.len() <= 32 {
        hex(value)
    } else {
        format!("sha256:{}", short_hash(&Sha256::digest(value)))
    }
}

fn content_hash(content: &Content, source: Option<&dyn ContentSource>) -> io::Result<String> {
    match (content, source) {
        (Content::Inline(data), _) => Ok(short_hash(&Sha256::digest(data))),
        (Content::Blob(range), Some(source)) => {
            let mut reader = source.open(range)?;
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = reader.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
            }
            Ok(short_hash(&hasher.finalize()))
        }
        (Content::Blob(range), None) => {
            Ok(format!("blob:{}+{}", escape(range.object.as_bytes()), range.offset))
        }
    }
}

fn short_hash(digest: &[u8]) -> String {
    let mut text = hex(digest);
    text.truncate(16);
    text
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{byte:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;
    use crate::testutil::tree_from_fixture;

    fn check(fixture: &str, expect: Expect) {
        let tree = tree_from_fixture(fixture).unwrap();
        expect.assert_eq(&dump(&tree));
    }

    #[test]
    fn every_kind_of_node() {
        // sha256("hello\n") = 5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03
        check(
            r#"
//- / mode=0700 mtime=7
//- /bin/sh symlink=busybox
//- /dev/console char=5,1 mode=0600
//- /dev/sda block=8,0 mode=0660 gid=6
//- /etc/hostname mode=0644 uid=1 gid=2 mtime=3
hello
//- /etc/hostname2 hardlink=/etc/hostname
//- /run/fifo fifo mode=0600
//- /tmp dir mode=01777
"#,
            expect![[r#"
                dir      0700 0:0 7 - - /
                dir      0755 0:0 0 - - /bin
                symlink  0777 0:0 0 - - /bin/sh -> busybox
                dir      0755 0:0 0 - - /dev
                char     0600 0:0 0 - - /dev/console dev=5,1
                block    0660 0:6 0 - - /dev/sda dev=8,0
                dir      0755 0:0 0 - - /etc
                file     0644 1:2 3 6 5891b5b522d5df08 /etc/hostname
                hardlink 0644 0:0 0 - - /etc/hostname2 => /etc/hostname
                dir      0755 0:0 0 - - /run
                fifo     0600 0:0 0 - - /run/fifo
                dir      1777 0:0 0 - - /tmp
            "#]],
        );
    }

    #[test]
    fn escapes_names_and_shows_xattrs_and_origin() {
        // sha256("") = e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855,
        // sha256("0123456789" x4) = fb526cd4ad0ec978... (both from sha256sum).
        check(
            r#"
//- /a\x20b\x5cc\xff mode=04755 noeol xattr.security.capability=0x0100000200200000 xattr.user.big=0123456789012345678901234567890123456789 origin=init[0],docker.io/library/busybox:1.36
"#,
            expect![[r#"
                dir      0755 0:0 0 - - /
                file     4755 0:0 0 0 e3b0c44298fc1c14 /a\x20b\x5cc\xff xattr:security.capability=0100000200200000 xattr:user.big=sha256:fb526cd4ad0ec978 origin=init[0],docker.io/library/busybox:1.36
            "#]],
        );
    }
}

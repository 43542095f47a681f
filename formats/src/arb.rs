//! Random trees for property tests, and models of what each format keeps of a tree.

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use proptest::sample::Index;

use crate::extract::TreeBuilder;
use crate::tree::{Content, Dir, Meta, Node, NodeKind, Origin, Tree};

/// A name: arbitrary bytes without `/` or NUL, sometimes longer than a tar name field.
fn arb_name() -> impl Strategy<Value = Vec<u8>> {
    let byte = (1u8..=255).prop_filter("no slash", |b| *b != b'/');
    prop_oneof![
        4 => prop::sample::select(vec![&b"a"[..], b"b", b"etc", b"sp ace", b"\xc3\xa9t\xc3\xa9", b"\xff"])
            .prop_map(<[u8]>::to_vec),
        2 => prop::collection::vec(byte.clone(), 1..6),
        1 => prop::collection::vec(byte, 60..110),
    ]
    .prop_filter("not . or ..", |n| n != b"." && n != b"..")
}

fn arb_path() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(arb_name(), 1..4).prop_map(|parts| parts.join(&b'/'))
}

fn arb_meta() -> impl Strategy<Value = Meta> {
    let id = prop::sample::select(vec![0u32, 1, 1000, 65534, 2_097_151, 3_000_000, u32::MAX]);
    let mtime = prop::sample::select(vec![
        0i64,
        1,
        1_700_000_000,
        4_294_967_295,
        4_294_967_296,
        8_589_934_591,
        9_000_000_000,
        -1,
        -31_536_000,
    ]);
    let xattr = (
        prop::sample::select(vec!["user.a", "security.capability", "trusted.overlay.opaque"]),
        prop::collection::vec(any::<u8>(), 0..40),
    );
    (0u32..=0o7777, id.clone(), id, mtime, prop::collection::btree_map(xattr, Just(()), 0..3))
        .prop_map(|(mode, uid, gid, mtime, xattrs)| Meta {
            mode,
            uid,
            gid,
            mtime,
            xattrs: xattrs.into_keys().map(|(k, v)| (k.to_owned(), v)).collect(),
        })
}

fn arb_origin() -> impl Strategy<Value = Option<Arc<Origin>>> {
    prop::option::of(prop::sample::select(vec![
        ("docker.io/library/alpine:3.20", "init[0]"),
        ("linuxkit.files", "files[2]"),
    ]))
    .prop_map(|o| {
        o.map(|(source, location)| {
            Arc::new(Origin { source: source.to_owned(), location: location.to_owned() })
        })
    })
}

fn arb_kind() -> impl Strategy<Value = NodeKind> {
    prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..1100)
            .prop_map(|data| NodeKind::File(Content::Inline(Arc::from(data)))),
        2 => Just(NodeKind::Dir(Dir::new())),
        1 => prop::collection::vec(1u8..=255, 1..130).prop_map(NodeKind::Symlink),
        1 => (0u32..300, 0u32..70_000)
            .prop_map(|(major, minor)| NodeKind::CharDevice { major, minor }),
        1 => (0u32..300, 0u32..70_000)
            .prop_map(|(major, minor)| NodeKind::BlockDevice { major, minor }),
        1 => Just(NodeKind::Fifo),
    ]
}

/// A random tree: nodes of every kind, then hard links to some of its files.
pub(crate) fn arb_tree() -> impl Strategy<Value = Tree> {
    let node = (arb_path(), arb_kind(), arb_meta(), arb_origin());
    let link = (arb_path(), any::<Index>(), arb_meta(), arb_origin());
    (arb_meta(), prop::collection::vec(node, 0..16), prop::collection::vec(link, 0..5)).prop_map(
        |(root_meta, nodes, links)| {
            let mut builder = TreeBuilder::new();
            let mut root = root_meta;
            root.xattrs.clear();
            let _ = builder.insert(b".", Node::new(NodeKind::Dir(Dir::new()), root));
            for (path, kind, meta, origin) in nodes {
                // Conflicting paths (a file as a parent) are simply skipped.
                let _ = builder.insert(&path, Node { kind, meta, origin });
            }
            for (path, idx, meta, origin) in links {
                let tree = builder.clone().finish();
                let files = file_paths(&tree);
                if files.is_empty() || tree.get(&path).is_some() {
                    continue;
                }
                let target = files[idx.index(files.len())].clone();
                let node = Node { kind: NodeKind::HardLink(target), meta, origin };
                let _ = builder.insert(&path, node);
            }
            builder.finish()
        },
    )
}

fn file_paths(tree: &Tree) -> Vec<Vec<u8>> {
    let mut files = Vec::new();
    let _ = tree.walk::<()>(&mut |path, node| {
        if matches!(node.kind, NodeKind::File(_)) {
            files.push(path.to_vec());
        }
        Ok(())
    });
    files
}

/// The node at `path` (as `Tree::walk` spells it), for changes.
fn node_mut<'t>(tree: &'t mut Tree, path: &[u8]) -> &'t mut Node {
    let mut parts = path.split(|b| *b == b'/');
    let first = parts.next().unwrap_or_default();
    let mut node = tree.root.get_mut(first).expect("path from walk exists");
    for part in parts {
        match &mut node.kind {
            NodeKind::Dir(entries) => node = entries.get_mut(part).expect("path from walk exists"),
            _ => panic!("path from walk goes through a non-directory"),
        }
    }
    node
}

/// Applies `change` to every node, with its path.
fn for_each_node(tree: &mut Tree, change: &mut dyn FnMut(&[u8], &mut Node)) {
    let mut paths = Vec::new();
    let _ = tree.walk::<()>(&mut |path, _| {
        paths.push(path.to_vec());
        Ok(())
    });
    for path in paths {
        change(&path, node_mut(tree, &path));
    }
}

/// Rewrites hard link groups the way archives store them: the first name in walk order holds
/// the file (with the file's metadata if `inode_meta_everywhere` is false, only there; with it,
/// on every name), every other name is a link to it.
fn canonical_links(tree: &mut Tree, inode_meta_everywhere: bool) {
    // Group every link and its file by the file's path.
    let mut group_of: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let _ = tree.walk::<()>(&mut |path, node| {
        if let NodeKind::HardLink(target) = &node.kind {
            group_of.insert(path.to_vec(), target.clone());
            group_of.insert(target.clone(), target.clone());
        }
        Ok(())
    });
    let files: BTreeMap<Vec<u8>, Node> = group_of
        .values()
        .map(|file| (file.clone(), tree.get(file).expect("link target exists").clone()))
        .collect();
    let mut leaders: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    for_each_node(tree, &mut |path, node| {
        let Some(file_path) = group_of.get(path) else { return };
        let file = &files[file_path];
        match leaders.get(file_path) {
            None => {
                leaders.insert(file_path.clone(), path.to_vec());
                node.kind = file.kind.clone();
                node.meta = file.meta.clone();
            }
            Some(leader) => {
                node.kind = NodeKind::HardLink(leader.clone());
                if inode_meta_everywhere {
                    node.meta = file.meta.clone();
                }
            }
        }
    });
}

/// What a tar round trip keeps of `tree`: no root entry (the root reads back as 0755, 0:0,
/// mtime 0), origins only with `pax_origin`, hard link groups led by their first name.
pub(crate) fn tar_model(tree: &Tree, pax_origin: bool) -> Tree {
    let mut model = tree.clone();
    model.root_meta = Meta::new(0o755, 0);
    canonical_links(&mut model, false);
    if !pax_origin {
        for_each_node(&mut model, &mut |_, node| node.origin = None);
    }
    model
}

/// What a newc round trip keeps of `tree`: no xattrs, no origins, mtimes clamped to `u32`,
/// hard link groups led by their first name and sharing the file's metadata.
pub(crate) fn cpio_model(tree: &Tree) -> Tree {
    let mut model = tree.clone();
    canonical_links(&mut model, true);
    let clamp = |meta: &mut Meta| {
        meta.mtime = meta.mtime.clamp(0, i64::from(u32::MAX));
        meta.xattrs.clear();
    };
    clamp(&mut model.root_meta);
    for_each_node(&mut model, &mut |_, node| {
        node.origin = None;
        clamp(&mut node.meta);
    });
    model
}

/// What an EROFS round trip keeps of `tree`: no origins (EROFS has no place for them), hard link
/// groups led by their first name and sharing the file's metadata (one inode).
pub(crate) fn erofs_model(tree: &Tree) -> Tree {
    let mut model = tree.clone();
    canonical_links(&mut model, true);
    for_each_node(&mut model, &mut |_, node| node.origin = None);
    model
}

/// What a squashfs round trip keeps of `tree`: no origins, mtimes clamped to `u32`, hard link
/// groups led by their first name and sharing the file's metadata (xattrs included).
pub(crate) fn squashfs_model(tree: &Tree) -> Tree {
    let mut model = tree.clone();
    canonical_links(&mut model, true);
    let clamp = |meta: &mut Meta| meta.mtime = meta.mtime.clamp(0, i64::from(u32::MAX));
    clamp(&mut model.root_meta);
    for_each_node(&mut model, &mut |_, node| {
        node.origin = None;
        clamp(&mut node.meta);
    });
    model
}

/// What an ISO 9660 (Rock Ridge) round trip keeps of `tree`: no xattrs, no origins, mtimes
/// clamped to the 7-byte recording date (1900-01-01 to 2155-12-31), hard link groups led by
/// their first name and sharing the file's metadata.
pub(crate) fn iso9660_model(tree: &Tree) -> Tree {
    let mut model = tree.clone();
    canonical_links(&mut model, true);
    // 1900-01-01T00:00:00Z and 2155-12-31T23:59:59Z.
    let clamp = |meta: &mut Meta| {
        meta.mtime = meta.mtime.clamp(-2_208_988_800, 5_869_583_999);
        meta.xattrs.clear();
    };
    clamp(&mut model.root_meta);
    for_each_node(&mut model, &mut |_, node| {
        node.origin = None;
        clamp(&mut node.meta);
    });
    model
}

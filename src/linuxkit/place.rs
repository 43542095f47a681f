//! Placing entries into a [`Tree`] with the semantics of extracting LinuxKit's root tar.
//!
//! LinuxKit writes one tar stream in which later entries win: a directory entry over an existing
//! directory only changes its metadata, anything else replaces what was there. kit builds the
//! final tree directly, so these helpers apply the same rule node by node.

use std::sync::Arc;

use formats::tree::{Dir, Meta, Node, NodeKind, Origin, Tree};

/// Splits a `/`-separated path into its non-empty components (`.` components are dropped).
pub fn components(path: &[u8]) -> Vec<&[u8]> {
    path.split(|b| *b == b'/').filter(|c| !c.is_empty() && *c != b".").collect()
}

/// Makes sure `node` is a directory (replacing any other kind, as extracting a directory entry
/// over a file does) and returns its entries.
pub fn as_dir(node: &mut Node) -> &mut Dir {
    if !matches!(node.kind, NodeKind::Dir(_)) {
        node.kind = NodeKind::Dir(Dir::new());
    }
    match &mut node.kind {
        NodeKind::Dir(entries) => entries,
        // The kind was set to a directory just above.
        _ => unreachable!("node was just made a directory"),
    }
}

/// Creates or updates every directory of `path` below `dir`, as LinuxKit's `tarPrefix` writes a
/// directory entry for each component: existing directories get `meta` (keeping their xattrs)
/// and `origin`, missing ones are created, non-directories are replaced.
pub fn mkdir_all<'a>(
    dir: &'a mut Dir,
    path: &[&[u8]],
    meta: &Meta,
    origin: &Option<Arc<Origin>>,
) -> &'a mut Dir {
    let mut current = dir;
    for component in path {
        let node = current
            .entry(component.to_vec())
            .or_insert_with(|| Node::new(NodeKind::Dir(Dir::new()), meta.clone()));
        set_meta(&mut node.meta, meta);
        node.origin = origin.clone();
        current = as_dir(node);
    }
    current
}

/// Walks to the directory at `path`, creating missing directories with `meta` and `origin` but
/// leaving existing ones untouched (a non-directory in the way is replaced by a directory).
pub fn dir_at<'a>(
    dir: &'a mut Dir,
    path: &[&[u8]],
    meta: &Meta,
    origin: &Option<Arc<Origin>>,
) -> &'a mut Dir {
    let mut current = dir;
    for component in path {
        let node = current.entry(component.to_vec()).or_insert_with(|| Node {
            kind: NodeKind::Dir(Dir::new()),
            meta: meta.clone(),
            origin: origin.clone(),
        });
        if !matches!(node.kind, NodeKind::Dir(_)) {
            node.meta = meta.clone();
            node.origin = origin.clone();
        }
        current = as_dir(node);
    }
    current
}

/// Sets mode, owner and mtime from `from`, keeping the existing xattrs (a tar directory entry
/// without xattrs does not remove them).
pub fn set_meta(meta: &mut Meta, from: &Meta) {
    meta.mode = from.mode;
    meta.uid = from.uid;
    meta.gid = from.gid;
    meta.mtime = from.mtime;
    for (name, value) in &from.xattrs {
        meta.xattrs.insert(name.clone(), value.clone());
    }
}

/// Puts `node` at `name` in `dir`: a directory over a directory merges (metadata from `node`,
/// entries merged recursively), anything else replaces.
pub fn put(dir: &mut Dir, name: Vec<u8>, node: Node) {
    match dir.get_mut(&name) {
        Some(existing) if matches!(existing.kind, NodeKind::Dir(_)) => {
            if let NodeKind::Dir(entries) = node.kind {
                set_meta(&mut existing.meta, &node.meta);
                existing.origin = node.origin;
                let target = as_dir(existing);
                for (child_name, child) in entries {
                    put(target, child_name, child);
                }
            } else {
                dir.insert(name, node);
            }
        }
        _ => {
            dir.insert(name, node);
        }
    }
}

/// Overlays every entry of `entries` onto `dir` with [`put`].
pub fn overlay(dir: &mut Dir, entries: Dir) {
    for (name, node) in entries {
        put(dir, name, node);
    }
}

/// Sets `origin` on every node below `dir` and prepends `link_prefix` to hard-link targets (the
/// image is being relocated under a bundle directory, LinuxKit's `Linkname = prefix + Linkname`).
pub fn stamp(dir: &mut Dir, origin: &Option<Arc<Origin>>, link_prefix: &[u8]) {
    for node in dir.values_mut() {
        node.origin = origin.clone();
        match &mut node.kind {
            NodeKind::Dir(entries) => stamp(entries, origin, link_prefix),
            NodeKind::HardLink(target) if !link_prefix.is_empty() => {
                let mut prefixed = link_prefix.to_vec();
                prefixed.extend_from_slice(target);
                *target = prefixed;
            }
            _ => {}
        }
    }
}

/// Looks up a node below `tree` by path, mutably; symlinks are not followed.
pub fn get_mut<'a>(tree: &'a mut Tree, path: &[u8]) -> Option<&'a mut Node> {
    let parts = components(path);
    let (last, parents) = parts.split_last()?;
    let mut dir = &mut tree.root;
    for part in parents {
        match &mut dir.get_mut(*part)?.kind {
            NodeKind::Dir(entries) => dir = entries,
            _ => return None,
        }
    }
    dir.get_mut(*last)
}

/// An origin record.
pub fn origin(source: &str, location: &str) -> Option<Arc<Origin>> {
    Some(Arc::new(Origin { source: source.to_string(), location: location.to_string() }))
}

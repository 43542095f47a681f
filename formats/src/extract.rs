//! Applying archive entries to an in-memory [`Tree`] the way extracting them would.
//!
//! The archive readers (tar, cpio) and the text fixtures of the tests feed entries one by one
//! into a [`TreeBuilder`]:
//!
//! - paths are relative to the root; empty and `.` components are ignored, an absolute path
//!   or a `..` component is an error (nothing may escape the root);
//! - a missing parent directory is created with mode 0755, owner 0:0 and mtime 0;
//! - a later entry for the same path replaces the earlier one, except that a directory entry
//!   over an existing directory only replaces its metadata and keeps its entries (as extraction
//!   does);
//! - a hard link must name an existing regular file (or another hard link, which is resolved to
//!   its file); an entry whose parent is not a directory is an error.
//!
//! Known gap: replacing a regular file that hard links point to re-targets those links to the new
//! file, whereas extracting would leave them sharing the old inode.

use std::sync::Arc;

use crate::dump::display_path;
use crate::tree::{Dir, Meta, Node, NodeKind, Origin, Tree};

/// Why an archive entry could not be placed in the tree.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// The entry's path starts with `/`.
    #[error("path {path} is absolute; expected a path relative to the archive root")]
    Absolute {
        /// The path as found in the archive (escaped).
        path: String,
    },
    /// The entry's path has a `..` component.
    #[error("path {path} has a `..` component; expected a path that stays inside the root")]
    ParentComponent {
        /// The path as found in the archive (escaped).
        path: String,
    },
    /// The entry's path contains a NUL byte.
    #[error("path {path} contains a NUL byte")]
    Nul {
        /// The path (escaped).
        path: String,
    },
    /// A parent of the entry exists and is not a directory.
    #[error("path {path}: parent {parent} is a {found}, expected a directory")]
    NotADirectory {
        /// The entry's path.
        path: String,
        /// The parent that is not a directory.
        parent: String,
        /// What the parent is.
        found: &'static str,
    },
    /// An entry other than a directory names the root itself.
    #[error("path {path} names the root, which must be a directory; found a {found}")]
    RootNotDir {
        /// The path as found in the archive.
        path: String,
        /// What the entry is.
        found: &'static str,
    },
    /// A hard link's target does not exist or is not a regular file.
    #[error("hard link {path}: target {target} is {problem}, expected a regular file")]
    HardLinkTarget {
        /// The hard link's path.
        path: String,
        /// The target it names.
        target: String,
        /// What was found instead.
        problem: &'static str,
    },
}

/// Builds a [`Tree`] from entries in archive order (see the module documentation).
#[derive(Debug, Clone)]
pub struct TreeBuilder {
    tree: Tree,
}

impl Default for TreeBuilder {
    fn default() -> Self {
        TreeBuilder::new()
    }
}

/// A path split into normalized components.
pub(crate) type Components = Vec<Vec<u8>>;

impl TreeBuilder {
    /// A builder holding an empty tree whose root has mode 0755, owner 0:0 and mtime 0.
    pub fn new() -> TreeBuilder {
        TreeBuilder { tree: Tree::new(0) }
    }

    /// The tree built so far.
    pub fn finish(self) -> Tree {
        self.tree
    }

    /// Places `node` at `path`. A [`NodeKind::HardLink`] target is resolved and checked here.
    pub fn insert(&mut self, path: &[u8], mut node: Node) -> Result<(), PathError> {
        let components = normalize(path)?;
        if let NodeKind::HardLink(target) = &node.kind {
            let resolved = self.resolve_hard_link(path, target)?;
            node.kind = NodeKind::HardLink(resolved);
        }
        let Some((name, parents)) = components.split_last() else {
            return match node.kind {
                NodeKind::Dir(_) => {
                    self.tree.root_meta = node.meta;
                    Ok(())
                }
                other => Err(PathError::RootNotDir {
                    path: display_path(path),
                    found: kind_name(&other),
                }),
            };
        };
        let dir = self.parent_dir(path, parents)?;
        match (dir.get_mut(name), node.kind) {
            (Some(existing @ Node { kind: NodeKind::Dir(_), .. }), NodeKind::Dir(_)) => {
                existing.meta = node.meta;
                existing.origin = node.origin;
            }
            (_, kind) => {
                dir.insert(name.clone(), Node { kind, meta: node.meta, origin: node.origin });
            }
        }
        Ok(())
    }

    /// The node at `path` (normalized like [`TreeBuilder::insert`]), for in-place changes.
    pub fn get_mut(&mut self, path: &[u8]) -> Option<&mut Node> {
        let components = normalize(path).ok()?;
        let (first, rest) = components.split_first()?;
        let mut node = self.tree.root.get_mut(first)?;
        for component in rest {
            match &mut node.kind {
                NodeKind::Dir(entries) => node = entries.get_mut(component)?,
                _ => return None,
            }
        }
        Some(node)
    }

    /// Follows `target` through hard links to a regular file; returns the file's normalized path.
    fn resolve_hard_link(&self, path: &[u8], target: &[u8]) -> Result<Vec<u8>, PathError> {
        let mut current = normalize(target)?.join(&b'/');
        // Each step follows one hard link; a chain longer than the number of links is a cycle,
        // and trees built by this builder never hold chains, so a few steps are plenty.
        for _ in 0..64 {
            let problem = match self.tree.get(&current).map(|n| &n.kind) {
                Some(NodeKind::File(_)) => return Ok(current),
                Some(NodeKind::HardLink(next)) => {
                    current = next.clone();
                    continue;
                }
                Some(NodeKind::Dir(_)) => "a directory",
                Some(NodeKind::Symlink(_)) => "a symlink",
                Some(NodeKind::CharDevice { .. } | NodeKind::BlockDevice { .. }) => "a device",
                Some(NodeKind::Fifo) => "a fifo",
                None => "missing",
            };
            return Err(PathError::HardLinkTarget {
                path: display_path(path),
                target: display_path(target),
                problem,
            });
        }
        Err(PathError::HardLinkTarget {
            path: display_path(path),
            target: display_path(target),
            problem: "a chain of more than 64 hard links",
        })
    }

    fn parent_dir(&mut self, path: &[u8], parents: &[Vec<u8>]) -> Result<&mut Dir, PathError> {
        let mut dir = &mut self.tree.root;
        for (idx, component) in parents.iter().enumerate() {
            let node = dir
                .entry(component.clone())
                .or_insert_with(|| Node::new(NodeKind::Dir(Dir::new()), Meta::new(0o755, 0)));
            match &mut node.kind {
                NodeKind::Dir(entries) => dir = entries,
                other => {
                    return Err(PathError::NotADirectory {
                        path: display_path(path),
                        parent: display_path(&parents[..=idx].join(&b'/')),
                        found: kind_name(other),
                    });
                }
            }
        }
        Ok(dir)
    }
}

/// Splits a path into components, dropping empty and `.` components.
pub(crate) fn normalize(path: &[u8]) -> Result<Components, PathError> {
    if path.contains(&0) {
        return Err(PathError::Nul { path: display_path(path) });
    }
    if path.starts_with(b"/") {
        return Err(PathError::Absolute { path: display_path(path) });
    }
    let mut components = Vec::new();
    for component in path.split(|b| *b == b'/') {
        match component {
            b"" | b"." => {}
            b".." => return Err(PathError::ParentComponent { path: display_path(path) }),
            name => components.push(name.to_vec()),
        }
    }
    Ok(components)
}

/// A short name for a node kind, for messages.
pub(crate) fn kind_name(kind: &NodeKind) -> &'static str {
    match kind {
        NodeKind::Dir(_) => "directory",
        NodeKind::File(_) => "regular file",
        NodeKind::Symlink(_) => "symlink",
        NodeKind::HardLink(_) => "hard link",
        NodeKind::CharDevice { .. } => "character device",
        NodeKind::BlockDevice { .. } => "block device",
        NodeKind::Fifo => "fifo",
    }
}

/// An origin from the two provenance strings, if either is present.
pub(crate) fn origin(source: Option<String>, location: Option<String>) -> Option<Arc<Origin>> {
    if source.is_none() && location.is_none() {
        return None;
    }
    Some(Arc::new(Origin {
        source: source.unwrap_or_default(),
        location: location.unwrap_or_default(),
    }))
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;
    use crate::dump::dump;
    use crate::tree::Content;

    fn file(data: &[u8], mode: u32) -> Node {
        Node::new(NodeKind::File(Content::Inline(Arc::from(data))), Meta::new(mode, 0))
    }

    fn dir(mode: u32, mtime: i64) -> Node {
        Node::new(NodeKind::Dir(Dir::new()), Meta::new(mode, mtime))
    }

    /// Applies the entries in order; shows the dump, or the first error.
    fn check(entries: Vec<(&str, Node)>, expect: Expect) {
        let mut builder = TreeBuilder::new();
        for (path, node) in entries {
            if let Err(err) = builder.insert(path.as_bytes(), node) {
                expect.assert_eq(&format!("error: {err}\n"));
                return;
            }
        }
        expect.assert_eq(&dump(&builder.finish()));
    }

    #[test]
    fn creates_parents_and_keeps_children_of_a_repeated_dir() {
        check(
            vec![
                ("./etc/ssl/cert.pem", file(b"", 0o644)),
                ("etc/", dir(0o700, 5)),
                ("etc//ssl/./other", file(b"", 0o600)),
                (".", dir(0o750, 9)),
            ],
            expect![[r#"
                dir      0750 0:0 9 - - /
                dir      0700 0:0 5 - - /etc
                dir      0755 0:0 0 - - /etc/ssl
                file     0644 0:0 0 0 e3b0c44298fc1c14 /etc/ssl/cert.pem
                file     0600 0:0 0 0 e3b0c44298fc1c14 /etc/ssl/other
            "#]],
        );
    }

    #[test]
    fn last_entry_wins() {
        check(
            vec![
                ("a", dir(0o755, 0)),
                ("a/child", file(b"", 0o644)),
                ("a", file(b"x", 0o600)),
                ("b", file(b"x", 0o600)),
                ("b", dir(0o711, 0)),
            ],
            expect![[r#"
                dir      0755 0:0 0 - - /
                file     0600 0:0 0 1 2d711642b726b044 /a
                dir      0711 0:0 0 - - /b
            "#]],
        );
    }

    #[test]
    fn hard_links_resolve_to_the_file() {
        let link = |target: &str| {
            Node::new(NodeKind::HardLink(target.as_bytes().to_vec()), Meta::new(0o644, 0))
        };
        check(
            vec![("f", file(b"", 0o644)), ("l1", link("./f")), ("l2", link("l1"))],
            expect![[r#"
                dir      0755 0:0 0 - - /
                file     0644 0:0 0 0 e3b0c44298fc1c14 /f
                hardlink 0644 0:0 0 - - /l1 => /f
                hardlink 0644 0:0 0 - - /l2 => /f
            "#]],
        );
        check(
            vec![("d", dir(0o755, 0)), ("l", link("d"))],
            expect![[r#"
                error: hard link /l: target /d is a directory, expected a regular file
            "#]],
        );
        check(
            vec![("l", link("nothing"))],
            expect![[r#"
                error: hard link /l: target /nothing is missing, expected a regular file
            "#]],
        );
    }

    #[test]
    fn rejects_escapes() {
        check(
            vec![("a/../../etc/passwd", file(b"", 0o644))],
            expect![[r#"
                error: path /a/../../etc/passwd has a `..` component; expected a path that stays inside the root
            "#]],
        );
        check(
            vec![("/etc/passwd", file(b"", 0o644))],
            expect![[r#"
                error: path /etc/passwd is absolute; expected a path relative to the archive root
            "#]],
        );
        check(
            vec![("f", file(b"", 0o644)), ("f/x", file(b"", 0o644))],
            expect![[r#"
                error: path /f/x: parent /f is a regular file, expected a directory
            "#]],
        );
        check(
            vec![("./", file(b"", 0o644))],
            expect![[r#"
                error: path /./ names the root, which must be a directory; found a regular file
            "#]],
        );
    }
}

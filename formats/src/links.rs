//! Hard link groups of a [`Tree`], as the archive writers emit them.
//!
//! A group is one regular file plus every [`NodeKind::HardLink`] that resolves to it: one inode
//! with several names.
//! Archive readers create the inode at the first name they meet, so writers put the data on the
//! group's *leader*, its first member in [`Tree::walk`] order, whichever node that is; every other
//! member is a *follower* naming the leader (tar) or sharing its inode number (cpio).

use std::collections::BTreeMap;

use crate::dump::display_path;
use crate::tree::{Content, Meta, Node, NodeKind, Tree};

/// The role of one path in its hard link group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Role<'t> {
    /// The first member in walk order: it carries the data.
    Leader {
        /// The file node that owns the content and the inode's metadata.
        file: &'t Node,
        /// Number of names of the inode (the file and its links).
        n_links: u32,
    },
    /// A later member.
    Follower {
        /// The leader's path.
        leader: Vec<u8>,
        /// The file node that owns the content and the inode's metadata.
        file: &'t Node,
        /// Number of names of the inode.
        n_links: u32,
    },
}

impl<'t> Role<'t> {
    /// The inode's metadata: that of the regular file.
    pub(crate) fn inode_meta(&self) -> &'t Meta {
        match self {
            Role::Leader { file, .. } | Role::Follower { file, .. } => &file.meta,
        }
    }

    /// The inode's content.
    pub(crate) fn content(&self) -> Option<&'t Content> {
        match self {
            Role::Leader { file, .. } | Role::Follower { file, .. } => match &file.kind {
                NodeKind::File(content) => Some(content),
                _ => None,
            },
        }
    }
}

/// A hard link whose target is not a regular file of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadLink {
    /// The link's path, escaped for display.
    pub(crate) path: String,
    /// The target it names, escaped for display.
    pub(crate) target: String,
    /// What the target is instead.
    pub(crate) problem: &'static str,
}

/// The role of every path that belongs to a hard link group of more than one name.
/// Paths not in the map are plain nodes.
#[derive(Debug, Default)]
pub(crate) struct LinkPlan<'t> {
    roles: BTreeMap<Vec<u8>, Role<'t>>,
}

impl<'t> LinkPlan<'t> {
    /// The role of `path`, if it is in a group of at least two names.
    pub(crate) fn role(&self, path: &[u8]) -> Option<&Role<'t>> {
        self.roles.get(path)
    }
}

/// Groups the hard links of `tree`. Each link must resolve (possibly through other links) to a
/// regular file in the tree.
pub(crate) fn plan(tree: &Tree) -> Result<LinkPlan<'_>, BadLink> {
    // Group key: the file's normalized path. Members are collected in walk order below.
    let mut group_of: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut n_names: BTreeMap<Vec<u8>, u32> = BTreeMap::new();
    tree.walk(&mut |path, node| {
        if let NodeKind::HardLink(target) = &node.kind {
            let file_path = resolve(tree, path, target)?;
            let count = n_names.entry(file_path.clone()).or_insert(1);
            *count = count.saturating_add(1);
            group_of.insert(path.to_vec(), file_path);
        }
        Ok(())
    })?;
    let mut leaders: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut roles = BTreeMap::new();
    tree.walk::<BadLink>(&mut |path, _node| {
        let key = match group_of.get(path) {
            Some(file_path) => file_path.clone(),
            None if n_names.contains_key(path) => path.to_vec(),
            None => return Ok(()),
        };
        let (Some(file), Some(&n_links)) = (tree.get(&key), n_names.get(&key)) else {
            // Every key was resolved to a file of this tree in the first walk.
            return Ok(());
        };
        let role = match leaders.get(&key) {
            Some(leader) => Role::Follower { leader: leader.clone(), file, n_links },
            None => {
                leaders.insert(key, path.to_vec());
                Role::Leader { file, n_links }
            }
        };
        roles.insert(path.to_vec(), role);
        Ok(())
    })?;
    Ok(LinkPlan { roles })
}

/// Follows `target` through hard links to a regular file and returns the file's path as
/// [`Tree::walk`] spells it (components joined by `/`, no leading `/`).
fn resolve(tree: &Tree, path: &[u8], target: &[u8]) -> Result<Vec<u8>, BadLink> {
    let mut current = target.to_vec();
    // A chain longer than 64 links is treated as a cycle.
    for _ in 0..64 {
        let problem = match tree.get(&current).map(|n| &n.kind) {
            Some(NodeKind::File(_)) => {
                let components: Vec<&[u8]> =
                    current.split(|b| *b == b'/').filter(|c| !c.is_empty() && *c != b".").collect();
                return Ok(components.join(&b'/'));
            }
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
        return Err(BadLink { path: display_path(path), target: display_path(target), problem });
    }
    Err(BadLink {
        path: display_path(path),
        target: display_path(target),
        problem: "a chain of more than 64 hard links",
    })
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;
    use crate::testutil::tree_from_fixture;

    fn check(fixture: &str, expect: Expect) {
        let tree = tree_from_fixture(fixture).unwrap();
        let mut out = String::new();
        match plan(&tree) {
            Ok(plan) => {
                for (path, role) in &plan.roles {
                    let line = match role {
                        Role::Leader { n_links, .. } => format!("leader x{n_links}"),
                        Role::Follower { leader, n_links, .. } => {
                            format!("follower x{n_links} of {}", display_path(leader))
                        }
                    };
                    out.push_str(&format!("{} {line}\n", display_path(path)));
                }
            }
            Err(err) => out = format!("{err:?}\n"),
        }
        expect.assert_eq(&out);
    }

    #[test]
    fn leader_is_first_in_walk_order() {
        check(
            r#"
//- /z/file
data
//- /a/link hardlink=/z/file
//- /zz hardlink=/z/file
//- /m/plain
"#,
            expect![[r#"
                /a/link leader x3
                /z/file follower x3 of /a/link
                /zz follower x3 of /a/link
            "#]],
        );
    }
}

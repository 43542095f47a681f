//! Applying layers, in order, to a tree with the semantics of image-spec `layer.md`, as Docker
//! and containerd apply them to a real filesystem.
//!
//! Each layer is applied in two phases:
//! 1. Deletions, against the tree as the lower layers left it: every opaque marker
//!    (`.wh..wh..opq`) empties its directory, every whiteout (`.wh.<name>`) removes the entry and
//!    its subtree. Because this runs before the layer's additions, a whiteout or opaque marker
//!    never hides an entry of its own layer, wherever it appears in the tar.
//! 2. Additions, in tar order. A later entry for the same path replaces an earlier one (last
//!    wins); a directory over a directory keeps the entries and takes the new metadata; anything
//!    else replaces what was there, subtree included (a file replacing a directory, a directory
//!    replacing a file). Whiteout and opaque entries only make sure their directory exists.
//!
//! Paths: symbolic links in the *parent* components of a path are followed inside the tree
//! (absolute targets from the root, `..` stopping at the root, at most 40 links), as the kernel
//! does when Docker or containerd create a file below a linked directory; the last component is
//! never followed (a new entry replaces a symlink). Missing parent directories are created with
//! mode 0755, owner 0:0 and mtime 0. A parent that exists but is not a directory is an error
//! naming the layer and path.
//!
//! Hard links: every non-directory is an inode; a hard link entry makes its path share the
//! target's inode, as `link(2)` does. A link therefore keeps the content it was made with: when a
//! later entry or layer replaces or deletes the target path, the remaining links still hold the
//! old inode, and the first of them in tree order becomes the regular file that the others link
//! to. The target must exist when the link entry is applied (earlier in the same layer or in a
//! lower layer) and must not be a directory. In the result, each group of paths sharing a
//! regular-file inode is the first path in tree (walk) order as a [`NodeKind::File`], and the
//! others are [`NodeKind::HardLink`] to it; writers emit the target before its links. Links to
//! symlinks, devices or fifos become copies, since [`NodeKind::HardLink`] names regular files.

use std::collections::{BTreeMap, VecDeque};
use std::io::Read;
use std::sync::Arc;

use formats::tree::{Content, Dir, Meta, Node, NodeKind, Tree};

use super::MergeError;
use super::layer::{AddKind, Change, Components, read_changes};

/// Most symbolic links followed while resolving one path (Linux's limit).
const MAX_SYMLINK_HOPS: usize = 40;

/// Applies layers one at a time; [`Merger::finish`] returns the tree.
#[derive(Debug, Default)]
pub struct Merger {
    root: MDir,
    inodes: Vec<Inode>,
}

#[derive(Debug, Clone, Default)]
struct MDir {
    meta: Option<Meta>,
    entries: BTreeMap<Vec<u8>, MNode>,
}

#[derive(Debug, Clone)]
enum MNode {
    Dir(MDir),
    Inode(usize),
}

#[derive(Debug, Clone)]
struct Inode {
    kind: InodeKind,
    meta: Meta,
}

#[derive(Debug, Clone)]
enum InodeKind {
    File(Content),
    Symlink(Vec<u8>),
    CharDevice { major: u32, minor: u32 },
    BlockDevice { major: u32, minor: u32 },
    Fifo,
}

/// Metadata of directories that no entry described.
fn implied_dir_meta() -> Meta {
    Meta::new(0o755, 0)
}

/// How [`Merger::resolve_dir`] treats missing directories.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Missing {
    /// Create them.
    Create,
    /// Give up quietly.
    Stop,
}

fn show(path: &[Vec<u8>]) -> String {
    let joined: Vec<String> =
        path.iter().map(|c| String::from_utf8_lossy(c).into_owned()).collect();
    joined.join("/")
}

impl Merger {
    /// An empty tree.
    pub fn new() -> Merger {
        Merger::default()
    }

    /// Reads layer `object` (an uncompressed tar, read to its end) and applies it. The layer is
    /// read completely before anything changes, so a read or verification error leaves the tree
    /// as it was.
    pub fn apply_layer(&mut self, object: &Arc<str>, reader: impl Read) -> Result<(), MergeError> {
        let changes = read_changes(object, reader)?;
        self.apply_changes(object, &changes)
    }

    /// Applies a layer's changes (see the module docs for the rules).
    pub fn apply_changes(
        &mut self,
        object: &Arc<str>,
        changes: &[Change],
    ) -> Result<(), MergeError> {
        for change in changes {
            match change {
                Change::Opaque { dir } => {
                    if let Some(dir) = self.resolve_dir(object, dir, dir, Missing::Stop)?
                        && let Some(dir) = dir_at(&mut self.root, &dir)
                    {
                        dir.entries.clear();
                    }
                }
                Change::Whiteout { dir, name } => {
                    if let Some(dir) = self.resolve_dir(object, dir, dir, Missing::Stop)?
                        && let Some(dir) = dir_at(&mut self.root, &dir)
                    {
                        dir.entries.remove(name);
                    }
                }
                Change::Add { .. } | Change::Link { .. } => {}
            }
        }
        for change in changes {
            match change {
                Change::Opaque { dir } | Change::Whiteout { dir, .. } => {
                    // Like containerd, a whiteout's directory exists after its layer; a parent
                    // that is not a directory is not an error for a whiteout.
                    let _ = self.resolve_dir(object, dir, dir, Missing::Create);
                }
                Change::Add { path, kind, meta } => self.add(object, path, kind, meta)?,
                Change::Link { path, target } => self.link(object, path, target)?,
            }
        }
        Ok(())
    }

    fn add(
        &mut self,
        object: &Arc<str>,
        path: &Components,
        kind: &AddKind,
        meta: &Meta,
    ) -> Result<(), MergeError> {
        let Some((name, parent)) = path.split_last() else { return Ok(()) };
        let parent = self.resolve_parent(object, path, parent)?;
        let inode_kind = match kind {
            AddKind::Dir => {
                let dir =
                    dir_at(&mut self.root, &parent).ok_or_else(|| vanished(object, &parent))?;
                match dir.entries.get_mut(name) {
                    Some(MNode::Dir(existing)) => existing.meta = Some(meta.clone()),
                    _ => {
                        let new = MDir { meta: Some(meta.clone()), entries: BTreeMap::new() };
                        dir.entries.insert(name.clone(), MNode::Dir(new));
                    }
                }
                return Ok(());
            }
            AddKind::File(content) => InodeKind::File(content.clone()),
            AddKind::Symlink(target) => InodeKind::Symlink(target.clone()),
            AddKind::CharDevice { major, minor } => {
                InodeKind::CharDevice { major: *major, minor: *minor }
            }
            AddKind::BlockDevice { major, minor } => {
                InodeKind::BlockDevice { major: *major, minor: *minor }
            }
            AddKind::Fifo => InodeKind::Fifo,
        };
        let id = self.inodes.len();
        self.inodes.push(Inode { kind: inode_kind, meta: meta.clone() });
        let dir = dir_at(&mut self.root, &parent).ok_or_else(|| vanished(object, &parent))?;
        dir.entries.insert(name.clone(), MNode::Inode(id));
        Ok(())
    }

    fn link(
        &mut self,
        object: &Arc<str>,
        path: &Components,
        target: &Components,
    ) -> Result<(), MergeError> {
        let link_error = |problem: &str| MergeError::Entry {
            layer: object.to_string(),
            path: show(path),
            problem: format!("hard link to {}: {problem}", show(target)),
        };
        let Some((target_name, target_parent)) = target.split_last() else {
            return Err(link_error("expected a file, found the root directory"));
        };
        let target_dir = self.resolve_dir(object, path, target_parent, Missing::Stop)?;
        let id = match target_dir.as_deref().and_then(|dir| dir_at(&mut self.root, dir)) {
            Some(dir) => match dir.entries.get(target_name) {
                Some(MNode::Inode(id)) => *id,
                Some(MNode::Dir(_)) => {
                    return Err(link_error("expected a file, found a directory"));
                }
                None => return Err(link_error("expected an existing file, found none")),
            },
            None => return Err(link_error("expected an existing file, found none")),
        };
        let Some((name, parent)) = path.split_last() else { return Ok(()) };
        let parent = self.resolve_parent(object, path, parent)?;
        let dir = dir_at(&mut self.root, &parent).ok_or_else(|| vanished(object, &parent))?;
        dir.entries.insert(name.clone(), MNode::Inode(id));
        Ok(())
    }

    /// Resolves the parent directory of a path being added, creating what is missing.
    fn resolve_parent(
        &mut self,
        object: &Arc<str>,
        path: &Components,
        parent: &[Vec<u8>],
    ) -> Result<Components, MergeError> {
        match self.resolve_dir(object, path, parent, Missing::Create)? {
            Some(dir) => Ok(dir),
            // `Missing::Create` never gives up quietly; this arm only satisfies the type.
            None => Err(MergeError::Entry {
                layer: object.to_string(),
                path: show(path),
                problem: "parent directory could not be created".to_owned(),
            }),
        }
    }

    /// Follows `path` from the root to a directory, following symlinks in every component, and
    /// returns the directory's canonical path. `Ok(None)` when something is missing (with
    /// [`Missing::Stop`]) or is not a directory (with `Stop`; with `Create` that is an error).
    ///
    /// `entry` is the path of the entry being applied, for errors.
    fn resolve_dir(
        &mut self,
        object: &Arc<str>,
        entry: &[Vec<u8>],
        path: &[Vec<u8>],
        missing: Missing,
    ) -> Result<Option<Components>, MergeError> {
        let mut queue: VecDeque<Vec<u8>> = path.iter().cloned().collect();
        let mut current: Components = Vec::new();
        let mut hops = 0;
        while let Some(component) = queue.pop_front() {
            match component.as_slice() {
                b"" | b"." => continue,
                b".." => {
                    current.pop();
                    continue;
                }
                _ => {}
            }
            let Some(dir) = dir_at(&mut self.root, &current) else {
                return Err(vanished(object, &current));
            };
            let symlink = match dir.entries.get(&component) {
                Some(MNode::Dir(_)) => None,
                Some(MNode::Inode(id)) => match self.inodes.get(*id).map(|i| &i.kind) {
                    Some(InodeKind::Symlink(target)) => Some(target.clone()),
                    _ if missing == Missing::Stop => return Ok(None),
                    _ => {
                        current.push(component);
                        return Err(MergeError::Entry {
                            layer: object.to_string(),
                            path: show(entry),
                            problem: format!(
                                "parent {} is not a directory (expected a directory, found a \
                                 file, device or fifo)",
                                show(&current)
                            ),
                        });
                    }
                },
                None if missing == Missing::Stop => return Ok(None),
                None => {
                    let new = MDir { meta: Some(implied_dir_meta()), entries: BTreeMap::new() };
                    dir.entries.insert(component.clone(), MNode::Dir(new));
                    None
                }
            };
            match symlink {
                None => current.push(component),
                Some(target) => {
                    hops += 1;
                    if hops > MAX_SYMLINK_HOPS {
                        return Err(MergeError::Entry {
                            layer: object.to_string(),
                            path: show(entry),
                            problem: format!(
                                "more than {MAX_SYMLINK_HOPS} symbolic links in the path"
                            ),
                        });
                    }
                    if target.starts_with(b"/") {
                        current.clear();
                    }
                    for part in target.split(|b| *b == b'/').rev() {
                        queue.push_front(part.to_vec());
                    }
                }
            }
        }
        Ok(Some(current))
    }

    /// The merged tree. Hard-link groups are laid out as the module docs describe.
    pub fn finish(self) -> Tree {
        let mut first_path: BTreeMap<usize, Vec<u8>> = BTreeMap::new();
        let mut path = Vec::new();
        let root = convert_dir(&self.root, &self.inodes, &mut path, &mut first_path);
        Tree { root_meta: self.root.meta.clone().unwrap_or_else(implied_dir_meta), root }
    }
}

/// The directory at a canonical path returned by [`Merger::resolve_dir`]; `None` only if the
/// path does not lead to a directory, which callers report as an internal error.
fn dir_at<'a>(root: &'a mut MDir, path: &[Vec<u8>]) -> Option<&'a mut MDir> {
    let mut dir = root;
    for component in path {
        match dir.entries.get_mut(component) {
            Some(MNode::Dir(d)) => dir = d,
            _ => return None,
        }
    }
    Some(dir)
}

fn vanished(object: &Arc<str>, path: &[Vec<u8>]) -> MergeError {
    MergeError::Entry {
        layer: object.to_string(),
        path: show(path),
        problem: "internal error: a directory resolved a moment ago is gone".to_owned(),
    }
}

fn convert_dir(
    dir: &MDir,
    inodes: &[Inode],
    path: &mut Vec<u8>,
    first_path: &mut BTreeMap<usize, Vec<u8>>,
) -> Dir {
    let mut out = Dir::new();
    for (name, node) in &dir.entries {
        let len_before = path.len();
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(name);
        let converted = match node {
            MNode::Dir(sub) => {
                let entries = convert_dir(sub, inodes, path, first_path);
                Node::new(NodeKind::Dir(entries), sub.meta.clone().unwrap_or_else(implied_dir_meta))
            }
            MNode::Inode(id) => {
                // Inode ids come from `inodes.len()` before a push, so every id is an index.
                let inode = &inodes[*id];
                let kind = match (&inode.kind, first_path.get(id)) {
                    (InodeKind::File(_), Some(target)) => NodeKind::HardLink(target.clone()),
                    (InodeKind::File(content), None) => {
                        first_path.insert(*id, path.clone());
                        NodeKind::File(content.clone())
                    }
                    (InodeKind::Symlink(target), _) => NodeKind::Symlink(target.clone()),
                    (InodeKind::CharDevice { major, minor }, _) => {
                        NodeKind::CharDevice { major: *major, minor: *minor }
                    }
                    (InodeKind::BlockDevice { major, minor }, _) => {
                        NodeKind::BlockDevice { major: *major, minor: *minor }
                    }
                    (InodeKind::Fifo, _) => NodeKind::Fifo,
                };
                Node::new(kind, inode.meta.clone())
            }
        };
        out.insert(name.clone(), converted);
        path.truncate(len_before);
    }
    out
}

/// Merges uncompressed layer tars, base first, into one tree. Each item is the layer's object id
/// (what [`formats::tree::BlobRange::object`] will name, such as its `diff_id`) and a reader of
/// its tar, which is read to its end.
pub fn merge_layers<R: Read>(
    layers: impl IntoIterator<Item = (Arc<str>, R)>,
) -> Result<Tree, MergeError> {
    let mut merger = Merger::new();
    for (object, reader) in layers {
        merger.apply_layer(&object, reader)?;
    }
    Ok(merger.finish())
}

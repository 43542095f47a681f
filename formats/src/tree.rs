//! The in-memory file tree that every writer in this crate consumes.
//!
//! A [`Tree`] is what kit's layer merge and LinuxKit assembly produce: a root directory whose
//! entries are kept in `BTreeMap`s keyed by raw name bytes, so iteration order is always the
//! byte order of names and never depends on hashing or on the host.
//!
//! File contents are not necessarily held in memory.
//! A [`Content::Blob`] names a byte range of an object that the caller can open through a
//! [`ContentSource`] (kit backs it with its verified, content-addressed cache).
//! Writers read file data only through that trait, so this crate never touches the host
//! filesystem.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::sync::Arc;

/// A whole file tree: the root directory and its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    /// Metadata of the root directory itself.
    pub root_meta: Meta,
    /// Entries of the root directory, keyed by name bytes.
    pub root: Dir,
}

/// A directory's entries, keyed by raw name bytes (one path component, no `/`).
pub type Dir = BTreeMap<Vec<u8>, Node>;

/// One entry of a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// What the entry is.
    pub kind: NodeKind,
    /// Permission bits, owner, mtime and xattrs.
    pub meta: Meta,
    /// Where the entry came from, for provenance records (LinuxKit's `LINUXKIT.source` and
    /// `LINUXKIT.location` PAX records). `None` for entries with no recorded origin.
    pub origin: Option<Arc<Origin>>,
}

/// The kind of a directory entry, with its kind-specific payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    /// A directory and its entries.
    Dir(Dir),
    /// A regular file.
    File(Content),
    /// A symbolic link and its target, stored verbatim.
    Symlink(Vec<u8>),
    /// A hard link to the regular file at `target`, a path relative to the tree root
    /// (components separated by `/`, no leading `/`).
    /// Writers emit it as a real hard link (tar link entry, shared cpio inode).
    HardLink(Vec<u8>),
    /// A character device.
    CharDevice {
        /// Device major number.
        major: u32,
        /// Device minor number.
        minor: u32,
    },
    /// A block device.
    BlockDevice {
        /// Device major number.
        major: u32,
        /// Device minor number.
        minor: u32,
    },
    /// A named pipe.
    Fifo,
}

/// Metadata shared by every kind of entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// Permission bits including setuid (0o4000), setgid (0o2000) and sticky (0o1000).
    /// The file-type bits are not stored here; they come from [`NodeKind`].
    pub mode: u32,
    /// Numeric owner.
    pub uid: u32,
    /// Numeric group.
    pub gid: u32,
    /// Modification time in seconds since the Unix epoch.
    pub mtime: i64,
    /// Extended attributes (for example `security.capability`), keyed by full name.
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

/// Provenance of an entry: which configured input produced it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin {
    /// The input's name: an image reference, or a label such as `linuxkit.files`.
    pub source: String,
    /// The input's place in the configuration, such as `init[0]` or `onboot[2]`.
    pub location: String,
}

/// The bytes of a regular file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// Small or generated data held in memory.
    Inline(Arc<[u8]>),
    /// A byte range of an object that a [`ContentSource`] can open.
    Blob(BlobRange),
}

/// A byte range of an object known to a [`ContentSource`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlobRange {
    /// The object's identifier, for example the `sha256:…` digest of an uncompressed layer.
    pub object: Arc<str>,
    /// Offset of the first byte within the object.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
}

/// Opens the objects that [`Content::Blob`] ranges point into.
pub trait ContentSource {
    /// Returns a reader over exactly `range.len` bytes starting at `range.offset`.
    fn open(&self, range: &BlobRange) -> io::Result<Box<dyn Read + '_>>;
}

/// A [`ContentSource`] for trees that hold only inline content: opening a blob is an error.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoBlobs;

impl ContentSource for NoBlobs {
    fn open(&self, range: &BlobRange) -> io::Result<Box<dyn Read + '_>> {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no content source for object {}", range.object),
        ))
    }
}

impl Content {
    /// Length of the file in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Content::Inline(data) => u64::try_from(data.len()).unwrap_or(u64::MAX),
            Content::Blob(range) => range.len,
        }
    }

    /// True when the file is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Opens the content for reading.
    pub fn open<'a>(&'a self, source: &'a dyn ContentSource) -> io::Result<Box<dyn Read + 'a>> {
        match self {
            Content::Inline(data) => Ok(Box::new(&data[..])),
            Content::Blob(range) => source.open(range),
        }
    }
}

impl Meta {
    /// Metadata with the given mode, owned by root, at time `mtime`, without xattrs.
    pub fn new(mode: u32, mtime: i64) -> Meta {
        Meta { mode, uid: 0, gid: 0, mtime, xattrs: BTreeMap::new() }
    }
}

impl Node {
    /// A node without origin.
    pub fn new(kind: NodeKind, meta: Meta) -> Node {
        Node { kind, meta, origin: None }
    }
}

impl Tree {
    /// An empty tree whose root directory has mode 0755, owner 0:0 and the given mtime.
    pub fn new(mtime: i64) -> Tree {
        Tree { root_meta: Meta::new(0o755, mtime), root: Dir::new() }
    }

    /// Looks up a node by a `/`-separated path relative to the root (leading `/` and empty
    /// components are ignored). Symlinks are not followed.
    pub fn get(&self, path: &[u8]) -> Option<&Node> {
        let mut components = path.split(|b| *b == b'/').filter(|c| !c.is_empty() && *c != b".");
        let first = components.next()?;
        let mut node = self.root.get(first)?;
        for component in components {
            match &node.kind {
                NodeKind::Dir(entries) => node = entries.get(component)?,
                _ => return None,
            }
        }
        Some(node)
    }

    /// Visits every node in depth-first, name-sorted order (a directory before its entries),
    /// calling `visit` with the node's path relative to the root (no leading `/`).
    /// The node references live as long as the tree, so a visitor may keep them.
    #[allow(clippy::type_complexity)] // The visitor's type is spelled out once, here.
    pub fn walk<'t, E>(
        &'t self,
        visit: &mut dyn FnMut(&[u8], &'t Node) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut path = Vec::new();
        walk_dir(&self.root, &mut path, visit)
    }
}

#[allow(clippy::type_complexity)] // Same visitor type as `Tree::walk`.
fn walk_dir<'t, E>(
    dir: &'t Dir,
    path: &mut Vec<u8>,
    visit: &mut dyn FnMut(&[u8], &'t Node) -> Result<(), E>,
) -> Result<(), E> {
    for (name, node) in dir {
        let len_before = path.len();
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(name);
        visit(path, node)?;
        if let NodeKind::Dir(entries) = &node.kind {
            walk_dir(entries, path, visit)?;
        }
        path.truncate(len_before);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(data: &[u8]) -> Node {
        Node::new(NodeKind::File(Content::Inline(Arc::from(data))), Meta::new(0o644, 0))
    }

    #[test]
    fn walk_is_depth_first_and_sorted() {
        let mut tree = Tree::new(0);
        let mut etc = Dir::new();
        etc.insert(b"passwd".to_vec(), file(b"root"));
        etc.insert(b"group".to_vec(), file(b"root"));
        tree.root.insert(b"etc".to_vec(), Node::new(NodeKind::Dir(etc), Meta::new(0o755, 0)));
        tree.root
            .insert(b"bin".to_vec(), Node::new(NodeKind::Dir(Dir::new()), Meta::new(0o755, 0)));
        let mut seen = Vec::new();
        tree.walk::<()>(&mut |path, _| {
            seen.push(String::from_utf8_lossy(path).into_owned());
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, ["bin", "etc", "etc/group", "etc/passwd"]);
        assert!(tree.get(b"/etc//passwd").is_some());
        assert!(tree.get(b"etc/passwd/x").is_none());
    }
}

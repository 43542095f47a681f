//! The inodes of an image, computed from the tree before any byte is written: inode numbers,
//! link counts, the id table, the xattr sets and the order in which file data is stored.
//!
//! - Every node is one inode, except the names of a hard link group, which share one.
//! - Inode numbers: the root is 1; then, directory by directory in walk order, the entries of
//!   each directory get consecutive numbers (an inode met again through a hard link keeps its
//!   number). Entries of one directory thus differ by little, which keeps directory headers few.
//! - Ids (uids and gids) and xattr sets are numbered in order of first use, in inode number
//!   order; identical xattr sets are stored once.
//! - File data is stored in walk order, at the first name of each inode.

use std::collections::BTreeMap;

use crate::dump::display_path;
use crate::links::{self, Role};
use crate::squashfs::Error;
use crate::squashfs::dir::MAX_NAME_LEN;
use crate::squashfs::inode::encode_rdev;
use crate::squashfs::table::split_xattr_name;
use crate::tree::{Content, Dir, Meta, NodeKind, Tree};

/// Longest symlink target Linux accepts (PATH_MAX - 1).
const MAX_TARGET_LEN: usize = 4095;
/// Most distinct uids and gids: the inode stores a 16-bit index.
const MAX_IDS: usize = 1 << 16;
/// Longest full xattr name Linux accepts (XATTR_NAME_MAX).
const MAX_XATTR_NAME_LEN: usize = 255;
/// Largest xattr value Linux accepts (XATTR_SIZE_MAX).
const MAX_XATTR_VALUE_LEN: usize = 65_536;

/// One xattr set: (prefix id, name without its prefix, value) sorted by full name.
pub(crate) type XattrSet = Vec<(u16, Vec<u8>, Vec<u8>)>;

/// The plan of an image.
#[derive(Debug)]
pub(crate) struct Plan<'t> {
    /// Every inode, by inode number - 1 (the root is first).
    pub(crate) inodes: Vec<PlannedInode<'t>>,
    /// The id table.
    pub(crate) ids: Vec<u32>,
    /// Distinct xattr sets, by xattr index: (prefix id, name without prefix, value).
    pub(crate) xattr_sets: Vec<XattrSet>,
    /// Inodes (indexes into `inodes`) of the regular files, in data order.
    pub(crate) files: Vec<usize>,
}

/// One inode.
#[derive(Debug)]
pub(crate) struct PlannedInode<'t> {
    /// Its first name in numbering order, for messages.
    pub(crate) path: Vec<u8>,
    /// Permission bits.
    pub(crate) mode: u16,
    /// Index of the uid in the id table.
    pub(crate) uid_idx: u16,
    /// Index of the gid in the id table.
    pub(crate) gid_idx: u16,
    /// mtime clamped to `u32`.
    pub(crate) mtime_secs: u32,
    /// Number of names (directories: 2 + subdirectories).
    pub(crate) nlink: u32,
    /// Index of the xattr set, if any.
    pub(crate) xattr: Option<u32>,
    /// Type and payload.
    pub(crate) kind: PlannedKind<'t>,
}

/// What an inode is.
#[derive(Debug)]
pub(crate) enum PlannedKind<'t> {
    /// A directory: its entries by name, each with the entry's inode index.
    Dir {
        /// Entries sorted by name bytes.
        entries: Vec<(&'t [u8], usize)>,
        /// Inode number of the parent (the root's is the inode count + 1, as mksquashfs writes).
        parent_inode: u32,
    },
    /// A regular file.
    File(&'t Content),
    /// A symlink and its target.
    Symlink(&'t [u8]),
    /// A character device, `rdev` encoded.
    CharDev(u32),
    /// A block device, `rdev` encoded.
    BlockDev(u32),
    /// A fifo.
    Fifo,
}

impl PlannedInode<'_> {
    /// The inode number of the inode at `idx`.
    pub(crate) fn number(idx: usize) -> u32 {
        u32::try_from(idx + 1).unwrap_or(u32::MAX)
    }
}

struct Planner<'t> {
    links: links::LinkPlan<'t>,
    inodes: Vec<PlannedInode<'t>>,
    /// Inode of each hard link group, by the group's leader path.
    group_inode: BTreeMap<Vec<u8>, usize>,
    ids: Vec<u32>,
    id_idx: BTreeMap<u32, u16>,
    xattr_sets: Vec<XattrSet>,
    xattr_idx: BTreeMap<XattrSet, u32>,
    /// Inode of each path, to order the file data by walk order.
    inode_of_path: BTreeMap<Vec<u8>, usize>,
}

pub(crate) fn plan(tree: &Tree) -> Result<Plan<'_>, Error> {
    let links = links::plan(tree).map_err(|bad| Error::HardLink {
        path: bad.path,
        target: bad.target,
        problem: bad.problem,
    })?;
    let mut planner = Planner {
        links,
        inodes: Vec::new(),
        group_inode: BTreeMap::new(),
        ids: Vec::new(),
        id_idx: BTreeMap::new(),
        xattr_sets: Vec::new(),
        xattr_idx: BTreeMap::new(),
        inode_of_path: BTreeMap::new(),
    };
    let root_meta = &tree.root_meta;
    let root = planner.new_inode(b"", root_meta, dir_nlink(&tree.root, b"")?, PlannedKind::Fifo)?;
    planner.number_dir(b"", &tree.root, root)?;
    let parent_of_root = u32::try_from(planner.inodes.len() + 1)
        .map_err(|_| Error::TooManyInodes { count: planner.inodes.len() })?;
    if let PlannedKind::Dir { parent_inode, .. } = &mut planner.inodes[root].kind {
        *parent_inode = parent_of_root;
    }
    let mut files = Vec::new();
    tree.walk::<Error>(&mut |path, node| {
        let is_first_name = match planner.links.role(path) {
            Some(Role::Leader { .. }) => true,
            Some(Role::Follower { .. }) => false,
            None => matches!(node.kind, NodeKind::File(_)),
        };
        if is_first_name && let Some(&idx) = planner.inode_of_path.get(path) {
            files.push(idx);
        }
        Ok(())
    })?;
    Ok(Plan { inodes: planner.inodes, ids: planner.ids, xattr_sets: planner.xattr_sets, files })
}

impl<'t> Planner<'t> {
    /// Numbers the entries of the directory at `path` (inode `dir_idx`), then recurses.
    fn number_dir(&mut self, path: &[u8], dir: &'t Dir, dir_idx: usize) -> Result<(), Error> {
        let mut entries = Vec::with_capacity(dir.len());
        let mut subdirs = Vec::new();
        for (name, node) in dir {
            let child_path = join(path, name);
            check_name(&child_path, name)?;
            let role = self.links.role(&child_path);
            let idx = match (role, &node.kind) {
                (Some(role), _) => {
                    let leader = match role {
                        Role::Leader { .. } => child_path.clone(),
                        Role::Follower { leader, .. } => leader.clone(),
                    };
                    match self.group_inode.get(&leader) {
                        Some(&idx) => idx,
                        None => {
                            let (n_links, content) = match role {
                                Role::Leader { n_links, .. } | Role::Follower { n_links, .. } => {
                                    (*n_links, role.content())
                                }
                            };
                            let Some(content) = content else {
                                return Err(Error::HardLink {
                                    path: display_path(&child_path),
                                    target: display_path(&leader),
                                    problem: "not a regular file",
                                });
                            };
                            let meta = role.inode_meta();
                            let idx = self.new_inode(
                                &child_path,
                                meta,
                                n_links,
                                PlannedKind::File(content),
                            )?;
                            self.group_inode.insert(leader, idx);
                            idx
                        }
                    }
                }
                (None, NodeKind::Dir(children)) => {
                    let nlink = dir_nlink(children, &child_path)?;
                    let idx = self.new_inode(&child_path, &node.meta, nlink, PlannedKind::Fifo)?;
                    subdirs.push((child_path.clone(), children, idx));
                    idx
                }
                (None, kind) => {
                    let planned = self.leaf_kind(&child_path, kind)?;
                    self.new_inode(&child_path, &node.meta, 1, planned)?
                }
            };
            self.inode_of_path.insert(child_path, idx);
            entries.push((name.as_slice(), idx));
        }
        self.inodes[dir_idx].kind = PlannedKind::Dir { entries, parent_inode: 0 };
        let parent_number = PlannedInode::number(dir_idx);
        for (child_path, children, idx) in subdirs {
            self.number_dir(&child_path, children, idx)?;
            if let PlannedKind::Dir { parent_inode, .. } = &mut self.inodes[idx].kind {
                *parent_inode = parent_number;
            }
        }
        Ok(())
    }

    fn leaf_kind(&self, path: &[u8], kind: &'t NodeKind) -> Result<PlannedKind<'t>, Error> {
        let rdev = |major: u32, minor: u32| {
            encode_rdev(major, minor).ok_or_else(|| Error::DeviceNumber {
                path: display_path(path),
                major,
                minor,
            })
        };
        Ok(match kind {
            NodeKind::File(content) => PlannedKind::File(content),
            NodeKind::Symlink(target) => {
                if target.len() > MAX_TARGET_LEN {
                    return Err(Error::SymlinkTooLong {
                        path: display_path(path),
                        len: target.len(),
                    });
                }
                PlannedKind::Symlink(target)
            }
            NodeKind::CharDevice { major, minor } => PlannedKind::CharDev(rdev(*major, *minor)?),
            NodeKind::BlockDevice { major, minor } => PlannedKind::BlockDev(rdev(*major, *minor)?),
            NodeKind::Fifo => PlannedKind::Fifo,
            NodeKind::Dir(_) | NodeKind::HardLink(_) => {
                // Directories and grouped hard links are handled by the caller; a hard link
                // without a role is a broken invariant of links::plan, reported, not panicked.
                return Err(Error::HardLink {
                    path: display_path(path),
                    target: String::new(),
                    problem: "not grouped",
                });
            }
        })
    }

    fn new_inode(
        &mut self,
        path: &[u8],
        meta: &Meta,
        nlink: u32,
        kind: PlannedKind<'t>,
    ) -> Result<usize, Error> {
        let mode = u16::try_from(meta.mode)
            .ok()
            .filter(|mode| *mode <= 0o7777)
            .ok_or_else(|| Error::InvalidMode { path: display_path(path), mode: meta.mode })?;
        let uid_idx = self.id(path, meta.uid)?;
        let gid_idx = self.id(path, meta.gid)?;
        let xattr = self.xattr_set(path, meta)?;
        if u32::try_from(self.inodes.len() + 1).is_err() {
            return Err(Error::TooManyInodes { count: self.inodes.len() });
        }
        self.inodes.push(PlannedInode {
            path: path.to_vec(),
            mode,
            uid_idx,
            gid_idx,
            mtime_secs: clamp_time(meta.mtime),
            nlink,
            xattr,
            kind,
        });
        Ok(self.inodes.len() - 1)
    }

    fn id(&mut self, path: &[u8], id: u32) -> Result<u16, Error> {
        if let Some(&idx) = self.id_idx.get(&id) {
            return Ok(idx);
        }
        let idx = u16::try_from(self.ids.len())
            .map_err(|_| Error::TooManyIds { path: display_path(path), limit: MAX_IDS })?;
        self.ids.push(id);
        self.id_idx.insert(id, idx);
        Ok(idx)
    }

    fn xattr_set(&mut self, path: &[u8], meta: &Meta) -> Result<Option<u32>, Error> {
        if meta.xattrs.is_empty() {
            return Ok(None);
        }
        let mut set = Vec::with_capacity(meta.xattrs.len());
        for (name, value) in &meta.xattrs {
            let Some((prefix, rest)) = split_xattr_name(name) else {
                return Err(Error::XattrNamespace { path: display_path(path), name: name.clone() });
            };
            if name.len() > MAX_XATTR_NAME_LEN || value.len() > MAX_XATTR_VALUE_LEN {
                return Err(Error::XattrTooLarge {
                    path: display_path(path),
                    name: name.clone(),
                    name_len: name.len(),
                    value_len: value.len(),
                });
            }
            set.push((prefix, rest.as_bytes().to_vec(), value.clone()));
        }
        if let Some(&idx) = self.xattr_idx.get(&set) {
            return Ok(Some(idx));
        }
        let idx = u32::try_from(self.xattr_sets.len())
            .map_err(|_| Error::TooManyInodes { count: self.inodes.len() })?;
        self.xattr_sets.push(set.clone());
        self.xattr_idx.insert(set, idx);
        Ok(Some(idx))
    }
}

fn join(path: &[u8], name: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len() + 1 + name.len());
    if !path.is_empty() {
        out.extend_from_slice(path);
        out.push(b'/');
    }
    out.extend_from_slice(name);
    out
}

fn check_name(path: &[u8], name: &[u8]) -> Result<(), Error> {
    if name.len() > MAX_NAME_LEN {
        return Err(Error::NameTooLong { path: display_path(path), len: name.len() });
    }
    let problem = if name.is_empty() {
        Some("is empty")
    } else if name == b"." || name == b".." {
        Some("is . or ..")
    } else if name.contains(&0) {
        Some("contains a NUL byte")
    } else if name.contains(&b'/') {
        Some("contains a slash")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(Error::InvalidName { path: display_path(path), problem }),
        None => Ok(()),
    }
}

/// 2 for `.` and the entry in the parent, plus one `..` per subdirectory.
fn dir_nlink(entries: &Dir, _path: &[u8]) -> Result<u32, Error> {
    let subdirs = entries.values().filter(|n| matches!(n.kind, NodeKind::Dir(_))).count();
    u32::try_from(subdirs)
        .ok()
        .and_then(|n| n.checked_add(2))
        .ok_or(Error::TooManyInodes { count: subdirs })
}

/// squashfs stores `u32` seconds: times before 1970 become 0, times after 2106-02-07 become
/// `u32::MAX`.
pub(crate) fn clamp_time(secs: i64) -> u32 {
    u32::try_from(secs.clamp(0, i64::from(u32::MAX))).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;
    use crate::testutil::tree_from_fixture;

    fn check(fixture: &str, expect: Expect) {
        let tree = tree_from_fixture(fixture).unwrap();
        let out = match plan(&tree) {
            Ok(plan) => {
                let mut out = String::new();
                for (idx, inode) in plan.inodes.iter().enumerate() {
                    let kind = match &inode.kind {
                        PlannedKind::Dir { entries, parent_inode } => {
                            let names: Vec<String> = entries
                                .iter()
                                .map(|(name, idx)| {
                                    format!("{}={}", String::from_utf8_lossy(name), idx + 1)
                                })
                                .collect();
                            format!("dir parent={parent_inode} [{}]", names.join(" "))
                        }
                        PlannedKind::File(content) => format!("file {}", content.len()),
                        PlannedKind::Symlink(target) => {
                            format!("symlink {}", String::from_utf8_lossy(target))
                        }
                        PlannedKind::CharDev(rdev) => format!("char {rdev:#x}"),
                        PlannedKind::BlockDev(rdev) => format!("block {rdev:#x}"),
                        PlannedKind::Fifo => "fifo".to_owned(),
                    };
                    out.push_str(&format!(
                        "{} {} mode={:o} ids={},{} mtime={} nlink={} xattr={:?} {kind}\n",
                        idx + 1,
                        display_path(&inode.path),
                        inode.mode,
                        inode.uid_idx,
                        inode.gid_idx,
                        inode.mtime_secs,
                        inode.nlink,
                        inode.xattr,
                    ));
                }
                out.push_str(&format!("ids {:?}\n", plan.ids));
                out.push_str(&format!("xattr sets {:?}\n", plan.xattr_sets));
                let files: Vec<u32> =
                    plan.files.iter().map(|idx| PlannedInode::number(*idx)).collect();
                out.push_str(&format!("data order {files:?}\n"));
                out
            }
            Err(err) => format!("error: {err}\n"),
        };
        expect.assert_eq(&out);
    }

    #[test]
    fn numbers_entries_of_a_directory_together() {
        // Root 1; its entries a, dev, z get 2, 3, 4; then /a's entries, /dev's, /z's.
        // The hard link group {/a/link, /z/file, /z/third} is one inode, numbered at its
        // first name in numbering order (/a/link), with nlink 3 and the file's metadata;
        // its data is stored at the first name in walk order (also /a/link).
        check(
            r#"
//- / mode=0700 mtime=-10
//- /z/file mode=04750 uid=7 mtime=5000000000 xattr.user.a=1
data
//- /a/link hardlink=/z/file mode=0600
//- /z/third hardlink=/z/file
//- /dev/console char=5,1 mode=0600 xattr.user.a=1
//- /dev/sda block=259,70000 gid=6
//- /dev/sh symlink=/bin/busybox
//- /dev/fifo fifo xattr.security.capability=0x01
//- /a/b/c/deep
"#,
            expect![[r#"
                1 / mode=700 ids=0,0 mtime=0 nlink=5 xattr=None dir parent=13 [a=2 dev=3 z=4]
                2 /a mode=755 ids=0,0 mtime=0 nlink=3 xattr=None dir parent=1 [b=5 link=6]
                3 /dev mode=755 ids=0,0 mtime=0 nlink=2 xattr=None dir parent=1 [console=9 fifo=10 sda=11 sh=12]
                4 /z mode=755 ids=0,0 mtime=0 nlink=2 xattr=None dir parent=1 [file=6 third=6]
                5 /a/b mode=755 ids=0,0 mtime=0 nlink=3 xattr=None dir parent=2 [c=7]
                6 /a/link mode=4750 ids=1,0 mtime=4294967295 nlink=3 xattr=Some(0) file 5
                7 /a/b/c mode=755 ids=0,0 mtime=0 nlink=2 xattr=None dir parent=5 [deep=8]
                8 /a/b/c/deep mode=644 ids=0,0 mtime=0 nlink=1 xattr=None file 0
                9 /dev/console mode=600 ids=0,0 mtime=0 nlink=1 xattr=Some(0) char 0x501
                10 /dev/fifo mode=644 ids=0,0 mtime=0 nlink=1 xattr=Some(1) fifo
                11 /dev/sda mode=600 ids=0,2 mtime=0 nlink=1 xattr=None block 0x11110370
                12 /dev/sh mode=777 ids=0,0 mtime=0 nlink=1 xattr=None symlink /bin/busybox
                ids [0, 7, 6]
                xattr sets [[(0, [97], [49])], [(2, [99, 97, 112, 97, 98, 105, 108, 105, 116, 121], [1])]]
                data order [8, 6]
            "#]],
        );
    }

    #[test]
    fn errors_name_the_path_and_the_limit() {
        let long = "x".repeat(257);
        check(
            &format!("//- /a/{long}\n"),
            expect![[r#"
                error: name of /a/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx is 257 bytes, squashfs allows at most 256
            "#]],
        );
        assert!(plan(&tree_from_fixture(&format!("//- /{}\n", "y".repeat(256))).unwrap()).is_ok());
        check(
            "//- /dev/x char=4096,0\n",
            expect![[r#"
                error: device /dev/x is 4096,0, squashfs allows majors up to 4095 and minors up to 1048575
            "#]],
        );
        check(
            "//- /f xattr.system.posix_acl_access=0x02\n",
            expect![[r#"
                error: xattr system.posix_acl_access of /f: squashfs stores only the user., trusted. and security. namespaces
            "#]],
        );
        check(
            &format!("//- /l symlink={}\n", "t".repeat(4096)),
            expect![[r#"
                error: symlink /l has a 4096-byte target, Linux allows at most 4095
            "#]],
        );
    }

    #[test]
    fn too_many_ids() {
        let mut fixture = String::new();
        for uid in 0..=65_536u32 {
            fixture.push_str(&format!("//- /f{uid} uid={uid}\n"));
        }
        check(
            &fixture,
            expect![[r#"
                error: /f9999 needs a 65537th distinct uid or gid, squashfs allows at most 65536
            "#]],
        );
    }
}

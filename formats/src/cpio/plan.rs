//! The newc entries for a tree: names, headers (inode numbers, link counts, sizes) and data
//! sources, computed before any byte is written.

use std::collections::BTreeMap;

use crate::cpio::header::{Magic, NewcHeader, mode};
use crate::cpio::{CpioOptions, Error};
use crate::dump::display_path;
use crate::links::{self, Role};
use crate::tree::{Content, Meta, Node, NodeKind, Tree};

/// Longest name the kernel's unpacker accepts, NUL included (`PATH_MAX`).
const MAX_NAME_BYTES: usize = 4096;
/// Longest symlink target Linux stores (`PATH_MAX` - 1).
const MAX_TARGET_BYTES: usize = 4095;
/// First inode number handed out.
const FIRST_INO: u32 = 1;

/// One entry to write.
#[derive(Debug)]
pub(crate) struct PlannedEntry<'t> {
    /// The name, without the terminating NUL.
    pub(crate) name: Vec<u8>,
    /// The header, with `namesize_bytes` and `filesize_bytes` filled in.
    pub(crate) header: NewcHeader,
    /// Where the data comes from.
    pub(crate) data: Data<'t>,
}

/// The data following an entry's name.
#[derive(Debug)]
pub(crate) enum Data<'t> {
    /// No data.
    None,
    /// A regular file's content.
    Content(&'t Content),
    /// A symlink's target.
    Bytes(&'t [u8]),
}

/// Lists the entries for `tree` in walk order, preceded by `.` if `options.root_entry`.
pub(crate) fn plan<'t>(
    tree: &'t Tree,
    options: &CpioOptions,
) -> Result<Vec<PlannedEntry<'t>>, Error> {
    let links = links::plan(tree).map_err(|bad| Error::HardLink {
        path: bad.path,
        target: bad.target,
        problem: bad.problem,
    })?;
    let mut next_ino = FIRST_INO;
    let mut take_ino = |path: &[u8]| -> Result<u32, Error> {
        let ino = next_ino;
        next_ino = next_ino
            .checked_add(1)
            .ok_or_else(|| Error::TooManyInodes { path: display_path(path) })?;
        Ok(ino)
    };
    let mut entries = Vec::new();
    if options.root_entry {
        let ino = take_ino(b".")?;
        let nlink = dir_nlink(&tree.root, b".")?;
        let header = header_for(b".", &tree.root_meta, mode::S_IFDIR, ino, nlink)?;
        entries.push(entry(b".".to_vec(), header, Data::None)?);
    }
    let mut leader_ino: BTreeMap<Vec<u8>, u32> = BTreeMap::new();
    tree.walk::<Error>(&mut |path, node| {
        let planned = match (links.role(path), &node.kind) {
            (Some(role), _) => {
                let (ino, data) = match role {
                    Role::Leader { .. } => {
                        let ino = take_ino(path)?;
                        leader_ino.insert(path.to_vec(), ino);
                        let data = role.content().map_or(Data::None, Data::Content);
                        (ino, data)
                    }
                    Role::Follower { leader, .. } => {
                        // The leader comes first in walk order, so it has its number already.
                        let ino = leader_ino.get(leader).copied().unwrap_or(0);
                        (ino, Data::None)
                    }
                };
                let n_links = match role {
                    Role::Leader { n_links, .. } | Role::Follower { n_links, .. } => *n_links,
                };
                let header = header_for(path, role.inode_meta(), mode::S_IFREG, ino, n_links)?;
                entry(path.to_vec(), header, data)?
            }
            (None, kind) => plain_entry(path, node, kind, take_ino(path)?)?,
        };
        entries.push(planned);
        Ok(())
    })?;
    Ok(entries)
}

fn plain_entry<'t>(
    path: &[u8],
    node: &'t Node,
    kind: &'t NodeKind,
    ino: u32,
) -> Result<PlannedEntry<'t>, Error> {
    let meta = &node.meta;
    let (type_bits, nlink, data, rdev) = match kind {
        NodeKind::Dir(entries) => (mode::S_IFDIR, dir_nlink(entries, path)?, Data::None, None),
        NodeKind::File(content) => (mode::S_IFREG, 1, Data::Content(content), None),
        NodeKind::Symlink(target) => {
            if target.len() > MAX_TARGET_BYTES {
                return Err(Error::SymlinkTooLong { path: display_path(path), len: target.len() });
            }
            (mode::S_IFLNK, 1, Data::Bytes(target), None)
        }
        NodeKind::CharDevice { major, minor } => {
            (mode::S_IFCHR, 1, Data::None, Some((*major, *minor)))
        }
        NodeKind::BlockDevice { major, minor } => {
            (mode::S_IFBLK, 1, Data::None, Some((*major, *minor)))
        }
        NodeKind::Fifo => (mode::S_IFIFO, 1, Data::None, None),
        NodeKind::HardLink(target) => {
            // links::plan gives every hard link a role; reaching this is a broken invariant,
            // reported rather than panicking.
            return Err(Error::HardLink {
                path: display_path(path),
                target: display_path(target),
                problem: "not grouped",
            });
        }
    };
    let mut header = header_for(path, meta, type_bits, ino, nlink)?;
    if let Some((major, minor)) = rdev {
        header.rdevmajor = major;
        header.rdevminor = minor;
    }
    entry(path.to_vec(), header, data)
}

/// A header with everything but the sizes.
fn header_for(
    path: &[u8],
    meta: &Meta,
    type_bits: u32,
    ino: u32,
    nlink: u32,
) -> Result<NewcHeader, Error> {
    if meta.mode > 0o7777 {
        return Err(Error::InvalidMode { path: display_path(path), mode: meta.mode });
    }
    Ok(NewcHeader {
        magic: Magic::Newc,
        ino,
        mode: type_bits | meta.mode,
        uid: meta.uid,
        gid: meta.gid,
        nlink,
        mtime_secs: clamp_mtime(meta.mtime),
        filesize_bytes: 0,
        devmajor: 0,
        devminor: 0,
        rdevmajor: 0,
        rdevminor: 0,
        namesize_bytes: 0,
        check: 0,
    })
}

/// Fills in the name and data sizes, checking the kernel's and newc's limits.
fn entry(name: Vec<u8>, mut header: NewcHeader, data: Data<'_>) -> Result<PlannedEntry<'_>, Error> {
    if name.contains(&0) {
        return Err(Error::InvalidName { path: display_path(&name) });
    }
    let namesize = name.len() + 1;
    if namesize > MAX_NAME_BYTES {
        return Err(Error::NameTooLong { path: display_path(&name), len: name.len() });
    }
    let size = match &data {
        Data::None => 0,
        Data::Content(content) => content.len(),
        Data::Bytes(bytes) => u64::try_from(bytes.len()).unwrap_or(u64::MAX),
    };
    header.filesize_bytes =
        u32::try_from(size).map_err(|_| Error::FileTooLarge { path: display_path(&name), size })?;
    // namesize <= 4096, so it fits.
    header.namesize_bytes = u32::try_from(namesize).unwrap_or(u32::MAX);
    Ok(PlannedEntry { name, header, data })
}

/// 2 for `.` and the entry in the parent, plus one `..` per subdirectory.
fn dir_nlink(entries: &BTreeMap<Vec<u8>, Node>, path: &[u8]) -> Result<u32, Error> {
    let subdirs = entries.values().filter(|n| matches!(n.kind, NodeKind::Dir(_))).count();
    u32::try_from(subdirs)
        .ok()
        .and_then(|n| n.checked_add(2))
        .ok_or_else(|| Error::TooManyInodes { path: display_path(path) })
}

/// newc stores `u32` seconds: times before 1970 become 0, times after 2106-02-07 become
/// `u32::MAX`.
pub(crate) fn clamp_mtime(mtime: i64) -> u32 {
    let clamped = mtime.clamp(0, i64::from(u32::MAX));
    u32::try_from(clamped).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;
    use crate::testutil::tree_from_fixture;

    fn check(fixture: &str, expect: Expect) {
        let tree = tree_from_fixture(fixture).unwrap();
        let mut out = String::new();
        match plan(&tree, &CpioOptions { root_entry: true }) {
            Ok(entries) => {
                for PlannedEntry { name, header: h, data } in entries {
                    let data = match data {
                        Data::None => "-".to_owned(),
                        Data::Content(_) => "content".to_owned(),
                        Data::Bytes(bytes) => format!("{:?}", String::from_utf8_lossy(bytes)),
                    };
                    out.push_str(&format!(
                        "{} ino={} mode={:o} {}:{} nlink={} mtime={} size={} rdev={},{} {data}\n",
                        String::from_utf8_lossy(&name),
                        h.ino,
                        h.mode,
                        h.uid,
                        h.gid,
                        h.nlink,
                        h.mtime_secs,
                        h.filesize_bytes,
                        h.rdevmajor,
                        h.rdevminor
                    ));
                }
            }
            Err(err) => out = format!("error: {err}\n"),
        }
        expect.assert_eq(&out);
    }

    #[test]
    fn inodes_link_counts_and_clamped_times() {
        // Hard link group {/a/link, /z/file, /z/third}: one inode (3, the number of the first name),
        // nlink 3 everywhere, the file's metadata everywhere, data on the first name only.
        // Directory nlink: 2 + subdirectories (the root has a, dev, z: 5).
        check(
            r#"
//- / mode=0700 mtime=-10
//- /z/file mode=04750 uid=7 mtime=5000000000
data
//- /a/link hardlink=/z/file mode=0600
//- /z/third hardlink=/z/file
//- /dev/console char=5,1 mode=0600
//- /dev/sh symlink=/bin/busybox
//- /dev/fifo fifo
"#,
            expect![[r#"
                . ino=1 mode=40700 0:0 nlink=5 mtime=0 size=0 rdev=0,0 -
                a ino=2 mode=40755 0:0 nlink=2 mtime=0 size=0 rdev=0,0 -
                a/link ino=3 mode=104750 7:0 nlink=3 mtime=4294967295 size=5 rdev=0,0 content
                dev ino=4 mode=40755 0:0 nlink=2 mtime=0 size=0 rdev=0,0 -
                dev/console ino=5 mode=20600 0:0 nlink=1 mtime=0 size=0 rdev=5,1 -
                dev/fifo ino=6 mode=10644 0:0 nlink=1 mtime=0 size=0 rdev=0,0 -
                dev/sh ino=7 mode=120777 0:0 nlink=1 mtime=0 size=12 rdev=0,0 "/bin/busybox"
                z ino=8 mode=40755 0:0 nlink=2 mtime=0 size=0 rdev=0,0 -
                z/file ino=3 mode=104750 7:0 nlink=3 mtime=4294967295 size=0 rdev=0,0 -
                z/third ino=3 mode=104750 7:0 nlink=3 mtime=4294967295 size=0 rdev=0,0 -
            "#]],
        );
    }
}

//! The list of tar entries for a tree: paths, kinds and metadata, before any byte is written.

use crate::links::{self, Role};
use crate::tar::Error;
use crate::tree::{Content, Meta, NodeKind, Origin, Tree};

/// One entry to write.
#[derive(Debug)]
pub(crate) struct PlannedEntry<'t> {
    /// Path relative to the root, components joined by `/`.
    pub(crate) path: Vec<u8>,
    /// What the entry is.
    pub(crate) body: Body<'t>,
    /// Its metadata.
    pub(crate) meta: &'t Meta,
    /// Its provenance.
    pub(crate) origin: Option<&'t Origin>,
}

/// The kind-specific part of a planned entry.
#[derive(Debug)]
pub(crate) enum Body<'t> {
    /// A directory (typeflag `5`).
    Dir,
    /// A regular file with its data (typeflag `0`).
    File(&'t Content),
    /// A hard link to the entry at this earlier path (typeflag `1`).
    HardLink(Vec<u8>),
    /// A symlink to this target (typeflag `2`).
    Symlink(&'t [u8]),
    /// A character device (typeflag `3`).
    Char {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A block device (typeflag `4`).
    Block {
        /// Major number.
        major: u32,
        /// Minor number.
        minor: u32,
    },
    /// A named pipe (typeflag `6`).
    Fifo,
}

/// Lists the entries of `tree` in walk order, with hard link groups resolved.
pub(crate) fn plan(tree: &Tree) -> Result<Vec<PlannedEntry<'_>>, Error> {
    let links = links::plan(tree).map_err(|bad| Error::HardLink {
        path: bad.path,
        target: bad.target,
        problem: bad.problem,
    })?;
    let mut entries = Vec::new();
    tree.walk::<Error>(&mut |path, node| {
        let origin = node.origin.as_deref();
        let (body, meta) = match (links.role(path), &node.kind) {
            (Some(role @ Role::Leader { .. }), _) => {
                let Some(content) = role.content() else {
                    // links::plan only makes groups around regular files.
                    return Ok(());
                };
                (Body::File(content), role.inode_meta())
            }
            (Some(Role::Follower { leader, .. }), _) => {
                (Body::HardLink(leader.clone()), &node.meta)
            }
            (None, NodeKind::Dir(_)) => (Body::Dir, &node.meta),
            (None, NodeKind::File(content)) => (Body::File(content), &node.meta),
            (None, NodeKind::Symlink(target)) => (Body::Symlink(target), &node.meta),
            (None, NodeKind::CharDevice { major, minor }) => {
                (Body::Char { major: *major, minor: *minor }, &node.meta)
            }
            (None, NodeKind::BlockDevice { major, minor }) => {
                (Body::Block { major: *major, minor: *minor }, &node.meta)
            }
            (None, NodeKind::Fifo) => (Body::Fifo, &node.meta),
            (None, NodeKind::HardLink(_)) => {
                // links::plan gives every hard link a role, or fails.
                return Ok(());
            }
        };
        entries.push(PlannedEntry { path: path.to_vec(), body, meta, origin });
        Ok(())
    })?;
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;
    use crate::dump::{display_path, escape};
    use crate::testutil::tree_from_fixture;

    fn check(fixture: &str, expect: Expect) {
        let tree = tree_from_fixture(fixture).unwrap();
        let mut out = String::new();
        match plan(&tree) {
            Ok(entries) => {
                for entry in entries {
                    let body = match &entry.body {
                        Body::Dir => "dir".to_owned(),
                        Body::File(content) => format!("file {}", content.len()),
                        Body::HardLink(leader) => format!("link {}", display_path(leader)),
                        Body::Symlink(target) => format!("symlink {}", escape(target)),
                        Body::Char { major, minor } => format!("char {major},{minor}"),
                        Body::Block { major, minor } => format!("block {major},{minor}"),
                        Body::Fifo => "fifo".to_owned(),
                    };
                    out.push_str(&format!(
                        "{} {body} {:o}\n",
                        display_path(&entry.path),
                        entry.meta.mode
                    ));
                }
            }
            Err(err) => out = format!("error: {err}\n"),
        }
        expect.assert_eq(&out);
    }

    #[test]
    fn link_before_its_file_carries_the_data() {
        // `/a/link` comes first in walk order, so it becomes the regular file (with the file's
        // mode 0755), and `/z/file` a link to it with its own mode.
        check(
            r#"
//- /z/file mode=0755
data
//- /a/link hardlink=/z/file mode=0600
//- /zz hardlink=/a/link mode=0640
"#,
            expect![[r#"
                /a dir 755
                /a/link file 5 755
                /z dir 755
                /z/file link /a/link 755
                /zz link /a/link 640
            "#]],
        );
    }
}

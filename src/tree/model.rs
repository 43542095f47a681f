//! Property test: the merge against a naive reference model over random layer stacks.
//!
//! The model keeps a `BTreeMap` from path to entry plus an inode table for hard links, and
//! applies each layer the way image-spec `layer.md` reads: deletions (whiteouts, opaque markers)
//! against the lower layers first, then additions in order, last one wins. Symbolic links are
//! generated only at names that are never used as parents, so the model need not follow them.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::sync::Arc;

use formats::tree::{NodeKind, Tree};
use proptest::prelude::*;

use super::tests::LayerBuilder;
use super::{MemoryContent, merge_layers};

type Path = Vec<String>;

#[derive(Debug, Clone)]
enum Op {
    File {
        path: Path,
        content: u8,
        mode: u32,
    },
    Dir {
        path: Path,
        mode: u32,
    },
    Symlink {
        path: Path,
        target: String,
    },
    /// `pick` chooses, seven times out of eight, an earlier file of the stack as the target.
    Link {
        path: Path,
        target: Path,
        pick: usize,
    },
    Whiteout {
        path: Path,
    },
    Opaque {
        dir: Path,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Dir { mode: u32 },
    File { inode: usize },
    Symlink { target: String },
}

#[derive(Debug, Default)]
struct Model {
    entries: BTreeMap<Path, Entry>,
    /// Inode → (content, mode).
    inodes: Vec<(String, u32)>,
}

fn is_under(path: &Path, prefix: &Path) -> bool {
    path.len() > prefix.len() && path.starts_with(prefix)
}

impl Model {
    fn remove_tree(&mut self, path: &Path) {
        self.entries.retain(|p, _| p != path && !is_under(p, path));
    }

    /// Creates missing parents of an added path; a parent that is not a directory is an error.
    fn ensure_parents(&mut self, path: &Path) -> Result<(), ()> {
        for n in 1..path.len() {
            let prefix = path[..n].to_vec();
            match self.entries.get(&prefix) {
                None => {
                    self.entries.insert(prefix, Entry::Dir { mode: 0o755 });
                }
                Some(Entry::Dir { .. }) => {}
                Some(_) => return Err(()),
            }
        }
        Ok(())
    }

    /// Creates missing directories of a whiteout's directory, stopping quietly at a non-dir.
    fn ensure_dir_quietly(&mut self, dir: &Path) {
        for n in 1..=dir.len() {
            let prefix = dir[..n].to_vec();
            match self.entries.get(&prefix) {
                None => {
                    self.entries.insert(prefix, Entry::Dir { mode: 0o755 });
                }
                Some(Entry::Dir { .. }) => {}
                Some(_) => return,
            }
        }
    }

    fn apply(&mut self, layer: &[Op]) -> Result<(), ()> {
        for op in layer {
            match op {
                Op::Opaque { dir }
                    if dir.is_empty()
                        || matches!(self.entries.get(dir), Some(Entry::Dir { .. })) =>
                {
                    self.entries.retain(|p, _| !is_under(p, dir));
                }
                Op::Whiteout { path } => self.remove_tree(path),
                _ => {}
            }
        }
        for op in layer {
            match op {
                Op::Opaque { dir } => self.ensure_dir_quietly(dir),
                Op::Whiteout { path } => self.ensure_dir_quietly(&path[..path.len() - 1].to_vec()),
                Op::File { path, content, mode } => {
                    self.ensure_parents(path)?;
                    self.remove_tree(path);
                    self.inodes.push((format!("c{content}"), *mode));
                    self.entries.insert(path.clone(), Entry::File { inode: self.inodes.len() - 1 });
                }
                Op::Dir { path, mode } => {
                    self.ensure_parents(path)?;
                    match self.entries.get_mut(path) {
                        Some(Entry::Dir { mode: existing }) => *existing = *mode,
                        _ => {
                            self.remove_tree(path);
                            self.entries.insert(path.clone(), Entry::Dir { mode: *mode });
                        }
                    }
                }
                Op::Symlink { path, target } => {
                    self.ensure_parents(path)?;
                    self.remove_tree(path);
                    self.entries.insert(path.clone(), Entry::Symlink { target: target.clone() });
                }
                Op::Link { path, target, .. } => {
                    let linked = match self.entries.get(target) {
                        Some(Entry::Dir { .. }) | None => return Err(()),
                        Some(entry) => entry.clone(),
                    };
                    self.ensure_parents(path)?;
                    self.remove_tree(path);
                    self.entries.insert(path.clone(), linked);
                }
            }
        }
        Ok(())
    }

    /// Path → (kind, mode, payload), and the groups of paths sharing a file inode.
    fn observe(&self) -> Observed {
        let mut entries = BTreeMap::new();
        let mut groups: BTreeMap<usize, BTreeSet<Path>> = BTreeMap::new();
        for (path, entry) in &self.entries {
            let seen = match entry {
                Entry::Dir { mode } => ("dir", *mode, String::new()),
                Entry::File { inode } => {
                    groups.entry(*inode).or_default().insert(path.clone());
                    let (content, mode) = &self.inodes[*inode];
                    ("file", *mode, content.clone())
                }
                Entry::Symlink { target } => ("symlink", 0o777, target.clone()),
            };
            entries.insert(path.clone(), seen);
        }
        let groups = groups.into_values().filter(|g| g.len() > 1).collect();
        Observed { entries, groups }
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Observed {
    entries: BTreeMap<Path, (&'static str, u32, String)>,
    groups: BTreeSet<BTreeSet<Path>>,
}

fn observe_tree(tree: &Tree, content: &MemoryContent) -> Observed {
    let mut entries = BTreeMap::new();
    let mut groups: BTreeMap<Path, BTreeSet<Path>> = BTreeMap::new();
    let split =
        |p: &[u8]| -> Path { String::from_utf8_lossy(p).split('/').map(str::to_owned).collect() };
    let mut files: BTreeMap<Path, String> = BTreeMap::new();
    tree.walk::<()>(&mut |raw_path, node| {
        let path = split(raw_path);
        let seen = match &node.kind {
            NodeKind::Dir(_) => ("dir", node.meta.mode, String::new()),
            NodeKind::File(c) => {
                let mut data = String::new();
                c.open(content).unwrap().read_to_string(&mut data).unwrap();
                files.insert(path.clone(), data.clone());
                ("file", node.meta.mode, data)
            }
            NodeKind::HardLink(target) => {
                let target = split(target);
                // The target is a regular file that comes earlier in walk order.
                let data = files.get(&target).cloned().expect("hard link target precedes the link");
                groups
                    .entry(target.clone())
                    .or_insert_with(|| BTreeSet::from([target]))
                    .insert(path.clone());
                ("file", node.meta.mode, data)
            }
            NodeKind::Symlink(target) => {
                ("symlink", node.meta.mode, String::from_utf8_lossy(target).into_owned())
            }
            other => panic!("unexpected node kind {other:?}"),
        };
        entries.insert(path, seen);
        Ok(())
    })
    .unwrap();
    Observed { entries, groups: groups.into_values().collect() }
}

fn to_tar(layer: &[Op]) -> Vec<u8> {
    let join = |p: &Path| p.join("/");
    let mut builder = LayerBuilder::new();
    for op in layer {
        builder = match op {
            Op::File { path, content, mode } => {
                builder.file_mode(&join(path), *mode, &format!("c{content}"))
            }
            Op::Dir { path, mode } => builder.dir(&format!("{}/", join(path)), *mode),
            Op::Symlink { path, target } => builder.symlink(&join(path), target),
            Op::Link { path, target, .. } => builder.hardlink(&join(path), &join(target)),
            Op::Whiteout { path } => {
                let (name, dir) = path.split_last().unwrap();
                let mut marker = dir.to_vec();
                marker.push(format!(".wh.{name}"));
                builder.marker(&join(&marker))
            }
            Op::Opaque { dir } => {
                let mut marker = dir.clone();
                marker.push(".wh..wh..opq".to_owned());
                builder.marker(&join(&marker))
            }
        };
    }
    builder.build()
}

fn parents() -> impl Strategy<Value = Path> {
    prop::collection::vec(prop::sample::select(vec!["a", "a", "a", "b"]), 0..=2)
        .prop_map(|v| v.into_iter().map(str::to_owned).collect())
}

fn path_ending_in(names: Vec<&'static str>) -> impl Strategy<Value = Path> {
    (parents(), prop::sample::select(names)).prop_map(|(mut p, n)| {
        p.push(n.to_owned());
        p
    })
}

fn op() -> impl Strategy<Value = Op> {
    let mode = prop::sample::select(vec![0o644, 0o755, 0o4755, 0o600]);
    let dir_mode = prop::sample::select(vec![0o755, 0o700, 0o1777]);
    prop_oneof![
        4 => (path_ending_in(vec!["f", "g", "h"]), 0u8..50, mode.clone())
            .prop_map(|(path, content, mode)| Op::File { path, content, mode }),
        1 => (path_ending_in(vec!["b"]), 0u8..50, mode)
            .prop_map(|(path, content, mode)| Op::File { path, content, mode }),
        3 => (path_ending_in(vec!["a", "b", "h"]), dir_mode)
            .prop_map(|(path, mode)| Op::Dir { path, mode }),
        1 => (path_ending_in(vec!["s", "h"]), prop::sample::select(vec!["f", "/a/g", "../x"]))
            .prop_map(|(path, target)| Op::Symlink { path, target: target.to_owned() }),
        2 => (path_ending_in(vec!["f", "g", "h"]), path_ending_in(vec!["f", "g", "s"]), 0..64usize)
            .prop_map(|(path, target, pick)| Op::Link { path, target, pick }),
        2 => path_ending_in(vec!["a", "b", "f", "g", "h", "s"]).prop_map(|path| Op::Whiteout { path }),
        1 => parents().prop_map(|dir| Op::Opaque { dir }),
    ]
}

/// Points most links at a file an earlier op created, so that links often succeed.
fn aim_links(layers: &mut [Vec<Op>]) {
    let mut files: Vec<Path> = Vec::new();
    for layer in layers {
        for op in layer {
            match op {
                Op::File { path, .. } => files.push(path.clone()),
                Op::Link { target, pick, .. } if !files.is_empty() && *pick % 8 != 0 => {
                    *target = files[*pick % files.len()].clone();
                }
                _ => {}
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn merge_matches_the_reference_model(
        mut layers in prop::collection::vec(prop::collection::vec(op(), 0..10), 1..5)
    ) {
        aim_links(&mut layers);
        let mut model = Model::default();
        let expected = layers.iter().try_for_each(|layer| model.apply(layer)).map(|()| model.observe());

        let mut content = MemoryContent::new();
        let mut inputs = Vec::new();
        for (idx, layer) in layers.iter().enumerate() {
            let id: Arc<str> = Arc::from(format!("L{idx}"));
            let tar = to_tar(layer);
            content.insert(&id, tar.clone());
            inputs.push((id, std::io::Cursor::new(tar)));
        }
        let actual = merge_layers(inputs).map(|tree| observe_tree(&tree, &content));
        match (expected, actual) {
            (Ok(expected), Ok(actual)) => prop_assert_eq!(expected, actual),
            (Err(()), Err(_)) => {}
            (expected, actual) => prop_assert!(false, "model {:?}, merge {:?}", expected, actual),
        }
    }
}

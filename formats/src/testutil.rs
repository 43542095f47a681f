//! Text fixtures that describe a [`Tree`] inline, for this crate's tests and kit's.
//!
//! A fixture is a list of entries. Each entry starts with a header line
//! `//- /path [kind] [key=value]...`, and the lines up to the next header are the file's
//! content (each line ends with `\n`; add `noeol` to drop the last newline).
//! The fixture's common indentation is removed first, so fixtures can be indented in raw strings.
//!
//! ```text
//! //- / mode=0700                      the root's metadata
//! //- /etc/hostname mode=0644 mtime=5  a regular file (the default kind) with one line
//! kit
//! //- /tmp dir mode=01777
//! //- /bin/sh symlink=busybox
//! //- /etc/hostname2 hardlink=/etc/hostname
//! //- /dev/console char=5,1 mode=0600
//! //- /dev/sda block=8,0
//! //- /run/fifo fifo
//! //- /bin/ping xattr.security.capability=0x01000002 origin=init[0],docker.io/library/busybox
//! ```
//!
//! Keys: `mode` (octal), `uid`, `gid`, `mtime` (seconds, may be negative), `xattr.NAME`
//! (`0x` + hex, or text), `origin=LOCATION,SOURCE`, `noeol`.
//! Default modes: 0644 for files and fifos, 0755 for directories, 0777 for symlinks, 0600 for
//! devices; owner 0:0 and mtime 0. Missing parent directories are created (0755).
//! Paths and targets may use `\xNN` escapes, as the dump writes them.

use std::sync::Arc;

use crate::extract::{PathError, TreeBuilder};
use crate::tree::{Content, Dir, Meta, Node, NodeKind, Tree};

/// A malformed fixture.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FixtureError {
    /// A header line could not be understood.
    #[error("fixture line {line}: {message}")]
    Syntax {
        /// 1-based line number in the (de-indented) fixture.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// An entry could not be placed in the tree.
    #[error("fixture line {line}: {source}")]
    Path {
        /// 1-based line number of the entry's header.
        line: usize,
        /// The placement error.
        source: PathError,
    },
}

/// Parses a fixture into a tree.
pub fn tree_from_fixture(fixture: &str) -> Result<Tree, FixtureError> {
    let text = trim_indent(fixture);
    let mut builder = TreeBuilder::new();
    let mut current: Option<Entry> = None;
    for (idx, line) in text.lines().enumerate() {
        let line_no = idx + 1;
        if let Some(header) = line.strip_prefix("//-") {
            if let Some(entry) = current.take() {
                entry.apply(&mut builder)?;
            }
            current = Some(Entry::parse(header, line_no)?);
        } else if let Some(entry) = current.as_mut() {
            entry.content.extend_from_slice(line.as_bytes());
            entry.content.push(b'\n');
        } else if !line.trim().is_empty() {
            return Err(FixtureError::Syntax {
                line: line_no,
                message: "content before the first `//-` header".to_owned(),
            });
        }
    }
    if let Some(entry) = current.take() {
        entry.apply(&mut builder)?;
    }
    Ok(builder.finish())
}

/// Removes the first line if it is empty, a last line made only of spaces (the closing
/// indentation of a raw string), and the indentation common to all non-empty lines.
pub fn trim_indent(text: &str) -> String {
    let text = text.strip_prefix('\n').unwrap_or(text);
    let text = match text.rsplit_once('\n') {
        Some((body, last)) if last.trim().is_empty() => &text[..body.len() + 1],
        _ => text,
    };
    let indent = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        out.push_str(line.get(indent..).unwrap_or(line.trim_start()));
        out.push('\n');
    }
    out
}

/// Decodes `\xNN` escapes.
pub fn unescape(text: &str) -> Result<Vec<u8>, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut idx = 0;
    while idx < bytes.len() {
        if bytes[idx] == b'\\' {
            let hex = text.get(idx + 1..idx + 4).filter(|h| h.starts_with('x'));
            let value = hex.and_then(|h| u8::from_str_radix(&h[1..], 16).ok());
            let Some(value) = value else {
                return Err(format!("bad escape in {text:?}: expected \\xNN"));
            };
            out.push(value);
            idx += 4;
        } else {
            out.push(bytes[idx]);
            idx += 1;
        }
    }
    Ok(out)
}

struct Entry {
    line: usize,
    path: Vec<u8>,
    kind: Kind,
    mode: Option<u32>,
    uid: u32,
    gid: u32,
    mtime: i64,
    xattrs: Vec<(String, Vec<u8>)>,
    origin: Option<(String, String)>,
    noeol: bool,
    content: Vec<u8>,
}

enum Kind {
    File,
    Dir,
    Symlink(Vec<u8>),
    HardLink(Vec<u8>),
    Char(u32, u32),
    Block(u32, u32),
    Fifo,
}

impl Entry {
    fn parse(header: &str, line: usize) -> Result<Entry, FixtureError> {
        let syntax = |message: String| FixtureError::Syntax { line, message };
        let mut words = header.split_whitespace();
        let path = words.next().ok_or_else(|| syntax("missing path after `//-`".to_owned()))?;
        let Some(relative) = path.strip_prefix('/') else {
            return Err(syntax(format!("path {path:?} must start with `/`")));
        };
        let mut entry = Entry {
            line,
            path: unescape(relative).map_err(syntax)?,
            kind: if relative.is_empty() { Kind::Dir } else { Kind::File },
            mode: None,
            uid: 0,
            gid: 0,
            mtime: 0,
            xattrs: Vec::new(),
            origin: None,
            noeol: false,
            content: Vec::new(),
        };
        for word in words {
            let (key, value) = word.split_once('=').unwrap_or((word, ""));
            let number = |what: &str| -> Result<u64, FixtureError> {
                value
                    .parse()
                    .map_err(|_| syntax(format!("{what}: expected a number, got {value:?}")))
            };
            let device = || -> Result<(u32, u32), FixtureError> {
                let parsed = value
                    .split_once(',')
                    .and_then(|(major, minor)| Some((major.parse().ok()?, minor.parse().ok()?)));
                parsed.ok_or_else(|| syntax(format!("{key}: expected MAJOR,MINOR, got {value:?}")))
            };
            match key {
                "file" => entry.kind = Kind::File,
                "dir" => entry.kind = Kind::Dir,
                "fifo" => entry.kind = Kind::Fifo,
                "noeol" => entry.noeol = true,
                "symlink" => entry.kind = Kind::Symlink(unescape(value).map_err(syntax)?),
                "hardlink" => {
                    let target = value.strip_prefix('/').unwrap_or(value);
                    entry.kind = Kind::HardLink(unescape(target).map_err(syntax)?);
                }
                "char" => {
                    let (major, minor) = device()?;
                    entry.kind = Kind::Char(major, minor);
                }
                "block" => {
                    let (major, minor) = device()?;
                    entry.kind = Kind::Block(major, minor);
                }
                "mode" => {
                    let mode = u32::from_str_radix(value, 8)
                        .map_err(|_| syntax(format!("mode: expected octal, got {value:?}")))?;
                    entry.mode = Some(mode);
                }
                "uid" => {
                    entry.uid = u32::try_from(number("uid")?)
                        .map_err(|_| syntax(format!("uid {value} does not fit in 32 bits")))?;
                }
                "gid" => {
                    entry.gid = u32::try_from(number("gid")?)
                        .map_err(|_| syntax(format!("gid {value} does not fit in 32 bits")))?;
                }
                "mtime" => {
                    entry.mtime = value
                        .parse()
                        .map_err(|_| syntax(format!("mtime: expected a number, got {value:?}")))?;
                }
                "origin" => {
                    let (location, source) = value.split_once(',').ok_or_else(|| {
                        syntax(format!("origin: expected LOCATION,SOURCE, got {value:?}"))
                    })?;
                    entry.origin = Some((location.to_owned(), source.to_owned()));
                }
                _ => {
                    let Some(name) = key.strip_prefix("xattr.") else {
                        return Err(syntax(format!("unknown key {key:?}")));
                    };
                    let value = match value.strip_prefix("0x") {
                        Some(hex) => decode_hex(hex).ok_or_else(|| {
                            syntax(format!("xattr {name}: bad hex value {value:?}"))
                        })?,
                        None => unescape(value).map_err(syntax)?,
                    };
                    entry.xattrs.push((name.to_owned(), value));
                }
            }
        }
        Ok(entry)
    }

    fn apply(mut self, builder: &mut TreeBuilder) -> Result<(), FixtureError> {
        if self.noeol && self.content.last() == Some(&b'\n') {
            self.content.pop();
        }
        let (kind, default_mode) = match self.kind {
            Kind::File => (NodeKind::File(Content::Inline(Arc::from(self.content))), 0o644),
            Kind::Dir => (NodeKind::Dir(Dir::new()), 0o755),
            Kind::Symlink(target) => (NodeKind::Symlink(target), 0o777),
            Kind::HardLink(target) => (NodeKind::HardLink(target), 0o644),
            Kind::Char(major, minor) => (NodeKind::CharDevice { major, minor }, 0o600),
            Kind::Block(major, minor) => (NodeKind::BlockDevice { major, minor }, 0o600),
            Kind::Fifo => (NodeKind::Fifo, 0o644),
        };
        let mut meta = Meta::new(self.mode.unwrap_or(default_mode), self.mtime);
        meta.uid = self.uid;
        meta.gid = self.gid;
        meta.xattrs = self.xattrs.into_iter().collect();
        let origin = self
            .origin
            .map(|(location, source)| Arc::new(crate::tree::Origin { source, location }));
        let line = self.line;
        builder
            .insert(&self.path, Node { kind, meta, origin })
            .map_err(|source| FixtureError::Path { line, source })
    }
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_line_numbers() {
        let err = tree_from_fixture("//- /a\n//- /b mode=9\n").unwrap_err();
        assert_eq!(err.to_string(), "fixture line 2: mode: expected octal, got \"9\"");
        let err = tree_from_fixture("//- /a\nx\n//- /a/b\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "fixture line 3: path /a/b: parent /a is a regular file, expected a directory"
        );
    }

    #[test]
    fn content_and_indent() {
        let tree = tree_from_fixture(
            "
            //- /a
            one
              two
            //- /b noeol
            x
            ",
        )
        .unwrap();
        let content = |path: &[u8]| match &tree.get(path).unwrap().kind {
            NodeKind::File(Content::Inline(data)) => data.to_vec(),
            _ => panic!("not a file"),
        };
        assert_eq!(content(b"a"), b"one\n  two\n");
        assert_eq!(content(b"b"), b"x");
    }
}

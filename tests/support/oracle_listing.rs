//! LinuxKit's root-tar listings of the oracle fixture (`tar -tvf` and the PAX listing with each
//! entry's origin, in `testdata/linuxkit/oracle/`), and the same view of a kit tree, for the
//! oracle comparisons of `linuxkit_oracle.rs` and `linuxkit_fixtures.rs`.
#![allow(dead_code)] // Each test crate uses a different part of this module.

use std::collections::BTreeMap;

use formats::tree::{NodeKind, Tree};

/// One entry as both listings describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: char,
    pub mode: u32,
    pub owner: String,
    pub size: u64,
    pub link: String,
    pub mtime: i64,
    pub origin: String,
}

/// The mode bits of an `ls`-style permission string (`-rwsr-xr-x`).
pub fn mode_from_perms(perms: &str) -> u32 {
    let bytes = perms.as_bytes();
    let mut mode = 0;
    let bits = [0o400, 0o200, 0o100, 0o040, 0o020, 0o010, 0o004, 0o002, 0o001];
    for (idx, bit) in bits.iter().enumerate() {
        let c = bytes[idx + 1];
        if c != b'-' && c != b'S' && c != b'T' {
            mode |= bit;
        }
        match (idx, c) {
            (2, b's' | b'S') => mode |= 0o4000,
            (5, b's' | b'S') => mode |= 0o2000,
            (8, b't' | b'T') => mode |= 0o1000,
            _ => {}
        }
    }
    mode
}

/// `lib/modules/<version>/...` with the version replaced.
pub fn modulo_version(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').collect();
    if parts.len() >= 3 && parts[0] == "lib" && parts[1] == "modules" {
        let mut parts = parts;
        parts[2] = "<version>";
        return parts.join("/");
    }
    path.to_string()
}

/// The oracle: `tar -tvf` and the PAX listing, zipped line by line; last entry of a path wins.
/// `sbom.spdx.json` is left out (CLARIFICATIONS.md); each path is passed through `rename`.
pub fn oracle_entries(rename: &dyn Fn(&str) -> String) -> BTreeMap<String, Entry> {
    let tvf = include_str!("../../testdata/linuxkit/oracle/tar-tvf-B-tar.txt");
    let pax = include_str!("../../testdata/linuxkit/oracle/tar-entries-with-pax-B-tar.txt");
    let tvf_lines: Vec<&str> = tvf.lines().collect();
    let pax_lines: Vec<&str> = pax.lines().collect();
    assert_eq!(tvf_lines.len(), pax_lines.len());
    let mut entries = BTreeMap::new();
    for (tvf_line, pax_line) in tvf_lines.iter().zip(&pax_lines) {
        let fields: Vec<&str> = tvf_line.split_whitespace().collect();
        let perms = fields[0];
        let rest = fields[5..].join(" ");
        let (path, link) = match rest.split_once(" -> ").or_else(|| rest.split_once(" link to ")) {
            Some((path, link)) => (path.to_string(), link.to_string()),
            None => (rest.clone(), String::new()),
        };
        let path = path.trim_end_matches('/').to_string();
        if path == "sbom.spdx.json" {
            continue;
        }
        let pax_fields: Vec<&str> = pax_line.split_whitespace().collect();
        let origin = pax_line.rsplit_once("  [").unwrap().1.strip_suffix(']').unwrap().to_string();
        assert!(pax_line.contains(&format!(" {path}")), "listings out of step at {path}");
        let entry = Entry {
            kind: perms.chars().next().unwrap(),
            mode: mode_from_perms(perms),
            owner: fields[1].to_string(),
            size: fields[2].parse().unwrap(),
            link,
            mtime: pax_fields[2].parse().unwrap(),
            origin,
        };
        entries.insert(rename(&path), entry);
    }
    entries
}

/// The same view of kit's tree; each path is passed through `rename`.
pub fn kit_entries(tree: &Tree, rename: &dyn Fn(&str) -> String) -> BTreeMap<String, Entry> {
    let mut entries = BTreeMap::new();
    tree.walk::<()>(&mut |path, node| {
        let (kind, size, link) = match &node.kind {
            NodeKind::Dir(_) => ('d', 0, String::new()),
            NodeKind::File(content) => ('-', content.len(), String::new()),
            NodeKind::Symlink(target) => ('l', 0, String::from_utf8_lossy(target).into_owned()),
            NodeKind::HardLink(target) => ('h', 0, String::from_utf8_lossy(target).into_owned()),
            other => panic!("unexpected node {other:?}"),
        };
        let origin = match &node.origin {
            Some(origin) => format!("{} | {}", origin.location, origin.source),
            None => "-".to_string(),
        };
        let owner = format!("{}/{}", node.meta.uid, node.meta.gid);
        let entry =
            Entry { kind, mode: node.meta.mode, owner, size, link, mtime: node.meta.mtime, origin };
        entries.insert(rename(&String::from_utf8_lossy(path)), entry);
        Ok(())
    })
    .unwrap();
    entries
}

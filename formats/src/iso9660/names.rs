//! File identifiers of the ISO 9660 (primary) and Joliet hierarchies, made from the tree's
//! names the way genisoimage makes them, and the record order of ECMA-119 9.3.
//!
//! Primary identifiers (ECMA-119 7.5, 7.6): d-characters only. Lowercase letters become
//! uppercase and every other byte that is not `A-Z`, `0-9` or `_` becomes `_` (one `_` per byte,
//! so a two-byte UTF-8 letter gives `__`, as with genisoimage).
//!
//! - Files: the name splits at its last `.` (unless that is the first byte) into a base and an
//!   extension, written `BASE.EXT;1` (`BASE.;1` without extension). [`PrimaryNames::Iso8Dot3`]
//!   keeps 8 + 3 characters (genisoimage's default, ISO level 1), [`PrimaryNames::Long31`] 31
//!   characters with the dot (genisoimage `-l`, as LinuxKit runs it): the extension keeps at most
//!   26, the base the rest (at least 4).
//! - Directories: no dot and no version (ECMA-119 7.6.3); the whole name is mapped and cut to 8
//!   or 31 characters. (genisoimage also splits directory names at a dot; ECMA-119 forbids it.)
//! - Collisions within a directory are resolved in name order: the first name keeps its
//!   identifier, a later one gets the end of its base replaced by a 3-character base-36 counter
//!   (`LOWERCASE000`, `ABCDE001.TXT`), 4 characters once those are used up, and so on.
//!
//! Joliet identifiers (Joliet specification 3.1, 3.3): UCS-2 big-endian. The name is decoded as
//! UTF-8; each invalid byte sequence, each character beyond U+FFFF, controls and `* / : ; ? \` become `_`. A name
//! longer than [`JolietNames::Max64`] (64 characters, the Joliet limit genisoimage keeps by
//! default) or [`JolietNames::Long103`] (genisoimage `-joliet-long`) is cut to that many
//! characters; names equal after cutting are told apart like primary ones, by a base-36 counter
//! replacing their last characters. No `;1` version is added, as with genisoimage.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::collections::BTreeSet;

use crate::iso9660::{JolietNames, PrimaryNames};

/// Digits of the collision counter.
const DIGITS: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// What an entry is, as far as naming goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameKind {
    /// A directory: no extension, no version.
    Dir,
    /// Anything else: `BASE.EXT;1`.
    File,
}

/// A candidate identifier split into its changeable base and its fixed tail.
struct Parts<T> {
    base: Vec<T>,
    /// Longest base allowed with this tail.
    max_base: usize,
    /// Everything after the base (`.EXT;1` for primary files).
    tail: Vec<T>,
}

/// Assigns identifiers to the names of one directory, in the order given (the tree's byte
/// order), resolving collisions. Returns one identifier per name, or the index of a name for
/// which every counter value is taken (more than 36^4 names sharing a stem).
pub(crate) fn primary_ids(
    names: &[(&[u8], NameKind)],
    style: PrimaryNames,
) -> Result<Vec<Vec<u8>>, usize> {
    let parts = names.iter().map(|(name, kind)| primary_parts(name, *kind, style)).collect();
    resolve(parts, |digit| digit)
}

/// Assigns Joliet identifiers (UCS-2 code units) to the names of one directory; errors as
/// [`primary_ids`].
pub(crate) fn joliet_ids(names: &[&[u8]], style: JolietNames) -> Result<Vec<Vec<u16>>, usize> {
    let max = match style {
        JolietNames::Max64 => 64,
        JolietNames::Long103 => 103,
    };
    let parts = names
        .iter()
        .map(|name| {
            let mut units = joliet_units(name);
            units.truncate(max);
            Parts { base: units, max_base: max, tail: Vec::new() }
        })
        .collect();
    resolve(parts, u16::from)
}

fn primary_parts(name: &[u8], kind: NameKind, style: PrimaryNames) -> Parts<u8> {
    let map = |bytes: &[u8]| -> Vec<u8> { bytes.iter().map(|b| d_character(*b)).collect() };
    match kind {
        NameKind::Dir => {
            let max = match style {
                PrimaryNames::Iso8Dot3 => 8,
                PrimaryNames::Long31 => 31,
            };
            let mut base = map(name);
            base.truncate(max);
            Parts { base, max_base: max, tail: Vec::new() }
        }
        NameKind::File => {
            let (base, ext) = match name.iter().rposition(|b| *b == b'.') {
                Some(dot) if dot > 0 => (&name[..dot], &name[dot + 1..]),
                _ => (name, &[][..]),
            };
            let (mut base, mut ext) = (map(base), map(ext));
            let max_base = match style {
                PrimaryNames::Iso8Dot3 => {
                    ext.truncate(3);
                    8
                }
                PrimaryNames::Long31 => {
                    ext.truncate(26);
                    30 - ext.len()
                }
            };
            base.truncate(max_base);
            let mut tail = vec![b'.'];
            tail.extend_from_slice(&ext);
            tail.extend_from_slice(b";1");
            Parts { base, max_base, tail }
        }
    }
}

/// Gives every candidate a unique identifier, first come first served; a taken one gets the
/// end of its base replaced by a base-36 counter of 3 (then 4, 5, ...) digits. Every base may
/// be at least 4 characters long, so at least 36^4 counter values exist.
fn resolve<T: Ord + Clone>(
    parts: Vec<Parts<T>>,
    digit: impl Fn(u8) -> T,
) -> Result<Vec<Vec<T>>, usize> {
    let mut taken: BTreeSet<Vec<T>> = BTreeSet::new();
    // Next counter value to try per (stem, tail, width): keeps mangling linear in the number
    // of colliding names.
    let mut next: BTreeMap<(Vec<T>, Vec<T>, usize), u64> = BTreeMap::new();
    let mut out = Vec::with_capacity(parts.len());
    for (idx, part) in parts.into_iter().enumerate() {
        let plain: Vec<T> = part.base.iter().chain(part.tail.iter()).cloned().collect();
        if taken.insert(plain.clone()) {
            out.push(plain);
            continue;
        }
        let mut chosen = None;
        for width in 3..=part.max_base {
            let keep = part.base.len().min(part.max_base - width);
            let stem: Vec<T> = part.base[..keep].to_vec();
            let limit = 36u64.checked_pow(u32::try_from(width).unwrap_or(u32::MAX));
            let counter = next.entry((stem.clone(), part.tail.clone(), width)).or_insert(0);
            while limit.is_none_or(|limit| *counter < limit) {
                let mut candidate = stem.clone();
                candidate.extend(base36(*counter, width).into_iter().map(&digit));
                candidate.extend(part.tail.iter().cloned());
                *counter += 1;
                if taken.insert(candidate.clone()) {
                    chosen = Some(candidate);
                    break;
                }
            }
            if chosen.is_some() {
                break;
            }
        }
        out.push(chosen.ok_or(idx)?);
    }
    Ok(out)
}

fn base36(mut value: u64, width: usize) -> Vec<u8> {
    let mut digits = vec![b'0'; width];
    for slot in digits.iter_mut().rev() {
        // value % 36 < 36, a valid index.
        *slot = DIGITS[usize::try_from(value % 36).unwrap_or(0)];
        value /= 36;
    }
    digits
}

/// ECMA-119 7.4.1 d-characters: `A-Z`, `0-9`, `_`; lowercase letters are raised.
fn d_character(byte: u8) -> u8 {
    match byte {
        b'a'..=b'z' => byte.to_ascii_uppercase(),
        b'A'..=b'Z' | b'0'..=b'9' | b'_' => byte,
        _ => b'_',
    }
}

/// A name as Joliet UCS-2 code units, with `_` for what Joliet cannot hold.
fn joliet_units(name: &[u8]) -> Vec<u16> {
    let underscore = u16::from(b'_');
    let mut units = Vec::with_capacity(name.len());
    for chunk in name.utf8_chunks() {
        for ch in chunk.valid().chars() {
            let code = u32::from(ch);
            let forbidden = code < 0x20 || matches!(ch, '*' | '/' | ':' | ';' | '?' | '\\');
            match u16::try_from(code) {
                Ok(unit) if !forbidden => units.push(unit),
                _ => units.push(underscore),
            }
        }
        if !chunk.invalid().is_empty() {
            units.push(underscore);
        }
    }
    units
}

/// ECMA-119 9.3 order of two file identifiers: by name (the part before `.`), then by
/// extension (between `.` and `;`), each compared as if the shorter were padded with spaces,
/// then by version number, highest first.
pub(crate) fn iso_order(a: &[u8], b: &[u8]) -> Ordering {
    let (a_name, a_ext, a_version) = split_id(a);
    let (b_name, b_ext, b_version) = split_id(b);
    padded_cmp(a_name, b_name)
        .then_with(|| padded_cmp(a_ext, b_ext))
        .then_with(|| b_version.cmp(&a_version))
}

fn split_id(id: &[u8]) -> (&[u8], &[u8], u32) {
    let (name_ext, version) = match id.iter().position(|b| *b == b';') {
        Some(semi) => (&id[..semi], parse_version(&id[semi + 1..])),
        None => (id, 0),
    };
    match name_ext.iter().position(|b| *b == b'.') {
        Some(dot) => (&name_ext[..dot], &name_ext[dot + 1..], version),
        None => (name_ext, &[][..], version),
    }
}

fn parse_version(digits: &[u8]) -> u32 {
    digits.iter().take(5).fold(0u32, |acc, d| acc * 10 + u32::from(d.wrapping_sub(b'0') % 10))
}

fn padded_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let len = a.len().max(b.len());
    for idx in 0..len {
        let x = a.get(idx).copied().unwrap_or(b' ');
        let y = b.get(idx).copied().unwrap_or(b' ');
        match x.cmp(&y) {
            Ordering::Equal => continue,
            other => return other,
        }
    }
    Ordering::Equal
}

/// The Joliet identifier as big-endian bytes.
pub(crate) fn ucs2_bytes(units: &[u16]) -> Vec<u8> {
    units.iter().flat_map(|unit| unit.to_be_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(ids: Vec<Vec<u8>>) -> Vec<String> {
        ids.into_iter().map(|id| String::from_utf8(id).unwrap()).collect()
    }

    fn primary(names: &[(&str, NameKind)], style: PrimaryNames) -> Vec<String> {
        let names: Vec<(&[u8], NameKind)> = names.iter().map(|(n, k)| (n.as_bytes(), *k)).collect();
        show(primary_ids(&names, style).unwrap())
    }

    use NameKind::{Dir, File};

    #[test]
    fn primary_names_like_genisoimage() {
        // Cases from genisoimage 1.1.11 runs (see the module documentation); collision counters
        // go on the later names in byte order.
        let names = [
            ("LOWERCASE", File),
            ("abcdefghij.txt", File),
            ("abcdefghik.txt", File),
            ("dir.with.dots", Dir),
            ("hello.txt", File),
            ("lowercase", File),
            ("noext", File),
            (".bashrc", File),
            ("a.b.c.d", File),
            ("\u{fc}tf8-n\u{e4}me", File),
            ("x.verylongextension", File),
            ("long file name with spaces.tar.gz2", File),
        ];
        assert_eq!(
            primary(&names, PrimaryNames::Iso8Dot3),
            [
                "LOWERCAS.;1",
                "ABCDEFGH.TXT;1",
                "ABCDE000.TXT;1",
                "DIR_WITH",
                "HELLO.TXT;1",
                "LOWER000.;1",
                "NOEXT.;1",
                "_BASHRC.;1",
                "A_B_C.D;1",
                "__TF8_N_.;1",
                "X.VER;1",
                "LONG_FIL.GZ2;1",
            ]
        );
        assert_eq!(
            primary(&names, PrimaryNames::Long31),
            [
                "LOWERCASE.;1",
                "ABCDEFGHIJ.TXT;1",
                "ABCDEFGHIK.TXT;1",
                "DIR_WITH_DOTS",
                "HELLO.TXT;1",
                "LOWERCASE000.;1",
                "NOEXT.;1",
                "_BASHRC.;1",
                "A_B_C.D;1",
                "__TF8_N__ME.;1",
                "X.VERYLONGEXTENSION;1",
                "LONG_FILE_NAME_WITH_SPACES_.GZ2;1",
            ]
        );
    }

    #[test]
    fn many_collisions_widen_the_counter() {
        let names: Vec<String> =
            (0..36 * 36 * 36 + 2).map(|n| format!("file-{n:06}.txt")).collect();
        let refs: Vec<(&[u8], NameKind)> = names.iter().map(|n| (n.as_bytes(), File)).collect();
        let ids = show(primary_ids(&refs, PrimaryNames::Iso8Dot3).unwrap());
        // All map to FILE_000.TXT;1; the counter replaces the last 3 characters of the base
        // ("FILE_" + 000 is taken, so 001 comes first), then the last 4 once 3 are used up.
        assert_eq!(&ids[..3], ["FILE_000.TXT;1", "FILE_001.TXT;1", "FILE_002.TXT;1"]);
        assert_eq!(ids[46_655], "FILE_ZZZ.TXT;1");
        assert_eq!(&ids[46_656..], ["FILE0000.TXT;1", "FILE0001.TXT;1"]);
        let unique: BTreeSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
    }

    #[test]
    fn joliet_cuts_and_maps() {
        let long = "n".repeat(120);
        let names: [&[u8]; 6] = [
            long.as_bytes(),
            b"a:b",
            b"a?b",
            b"\xff\xfeok",
            "\u{1F600}".as_bytes(),
            "é".as_bytes(),
        ];
        let ids = joliet_ids(&names, JolietNames::Max64).unwrap();
        let text: Vec<String> = ids.iter().map(|u| String::from_utf16_lossy(u)).collect();
        assert_eq!(text[0], "n".repeat(64));
        // Each invalid byte sequence (here two: 0xff, then 0xfe) becomes one `_`.
        assert_eq!(&text[1..], ["a_b", "a_b000", "__ok", "_", "é"]);
        assert_eq!(joliet_ids(&[long.as_bytes()], JolietNames::Long103).unwrap()[0].len(), 103);
        let two = [format!("{long}1"), format!("{long}2")];
        let ids = joliet_ids(&[two[0].as_bytes(), two[1].as_bytes()], JolietNames::Max64).unwrap();
        assert_eq!(String::from_utf16_lossy(&ids[1]), format!("{}000", "n".repeat(61)));
        assert_eq!(ucs2_bytes(&[0x00e9, 0x0041]), [0x00, 0xe9, 0x00, 0x41]);
    }

    #[test]
    fn ecma_119_order() {
        let mut ids: Vec<&[u8]> =
            vec![b"A0.TXT;1", b"AB", b"A.TXT;1", b"A.;1", b"AB.C;1", b"A.TXT;2", b"_X"];
        ids.sort_by(|a, b| iso_order(a, b));
        let shown: Vec<&str> = ids.iter().map(|i| std::str::from_utf8(i).unwrap()).collect();
        assert_eq!(shown, ["A.;1", "A.TXT;2", "A.TXT;1", "A0.TXT;1", "AB", "AB.C;1", "_X"]);
    }
}

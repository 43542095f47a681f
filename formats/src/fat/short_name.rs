//! Long-name rules and 8.3 short names: which names FAT can store, the short name generated
//! for each (fatgen103 §"The Basis-Name Generation Algorithm" and §"The Numeric-Tail Generation
//! Algorithm"), and the checksum that ties long-name entries to their short entry
//! (§"Long Directory Entries").
//!
//! Short names are plain ASCII: every character outside it becomes `_`, so no OEM code page is
//! involved. A name needs no long-name entries only when it is already a valid upper-case 8.3
//! name (`BOOTX64.EFI`); any other name gets long-name entries and a generated short name:
//!
//! - a name whose upper-case form is a valid 8.3 name (`readme.txt`) keeps that form
//!   (`README.TXT`) unless a sibling already has it;
//! - any other name gets a basis name (upper case, `+,;=[]` and non-ASCII replaced by `_`,
//!   spaces and leading dots dropped, up to 8 characters before the first dot and 3 after the
//!   last one) and the numeric tail `~1`, `~2`, ... that makes it unique in its directory.
//!
//! Names are assigned per directory in byte order of the long names, after reserving the names
//! that are stored as they are, so the result depends only on the set of names.
//! No case flags (the `DIR_NTRes` bits Windows NT and Linux use for all-lower-case names) are
//! written.

use std::collections::{BTreeMap, BTreeSet};

/// Longest long name, in UTF-16 code units (fatgen103: 255 characters).
pub(crate) const MAX_LONG_NAME_UNITS: usize = 255;

/// The 11-byte name field of a short directory entry: 8 bytes of name and 3 of extension,
/// each padded with spaces, no dot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ShortName(pub(crate) [u8; 11]);

/// Why a name cannot be stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameProblem {
    /// Not UTF-8, so there is no UTF-16 form to store.
    NotUtf8,
    /// Contains a character FAT forbids in every name.
    Forbidden(char),
    /// Ends with a dot or a space, which Windows and Linux drop when they look names up.
    Trailing(char),
    /// Longer than 255 UTF-16 code units.
    TooLong(usize),
}

/// Characters other than letters and digits allowed in short names (fatgen103 §"Short Name
/// Limitations"); the upper half of the OEM code page is allowed too but never written here.
const SHORT_SPECIALS: &[u8] = b"$%'-_@~`!(){}^#&";

/// Characters allowed in long names but not in short names; they become `_`.
const LONG_ONLY: &[u8] = b"+,;=[]";

impl ShortName {
    /// The entry name `.` of a directory's first entry.
    pub(crate) const DOT: ShortName = ShortName(*b".          ");
    /// The entry name `..` of a directory's second entry.
    pub(crate) const DOT_DOT: ShortName = ShortName(*b"..         ");

    /// The checksum stored in each long-name entry of this short name (fatgen103
    /// `ChkSum`): rotate right by one bit, then add the next byte.
    pub(crate) fn checksum(&self) -> u8 {
        self.0.iter().fold(0u8, |sum, byte| sum.rotate_right(1).wrapping_add(*byte))
    }

    fn from_parts(base: &[u8], ext: &[u8]) -> ShortName {
        let mut field = [b' '; 11];
        for (slot, byte) in field[..8].iter_mut().zip(base) {
            *slot = *byte;
        }
        for (slot, byte) in field[8..].iter_mut().zip(ext) {
            *slot = *byte;
        }
        ShortName(field)
    }
}

/// Checks that `name` can be a long name and returns its UTF-16 form.
pub(crate) fn long_name_units(name: &[u8]) -> Result<Vec<u16>, NameProblem> {
    let text = std::str::from_utf8(name).map_err(|_| NameProblem::NotUtf8)?;
    if let Some(ch) = text.chars().find(|ch| u32::from(*ch) < 0x20 || "\"*/:<>?\\|".contains(*ch)) {
        return Err(NameProblem::Forbidden(ch));
    }
    if let Some(last @ ('.' | ' ')) = text.chars().last() {
        return Err(NameProblem::Trailing(last));
    }
    let units: Vec<u16> = text.encode_utf16().collect();
    if units.len() > MAX_LONG_NAME_UNITS {
        return Err(NameProblem::TooLong(units.len()));
    }
    Ok(units)
}

/// The key under which FAT considers two long names equal: Windows and Linux compare names
/// without regard to case.
pub(crate) fn case_key(name: &str) -> String {
    name.to_uppercase()
}

/// How a long name maps to a short name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Basis {
    /// The name is a valid upper-case 8.3 name: stored as is, without long-name entries.
    Exact(ShortName),
    /// The name's upper-case form is a valid 8.3 name, used unless taken.
    CaseOnly(ShortName),
    /// The name needs a numeric tail; the basis's name part (1 to 8 bytes) and extension.
    Lossy { base: Vec<u8>, ext: Vec<u8> },
}

fn short_char(byte: u8) -> bool {
    byte.is_ascii_uppercase() || byte.is_ascii_digit() || SHORT_SPECIALS.contains(&byte)
}

/// True if `name` is `NAME[.EXT]` with 1-8 and 1-3 characters allowed in short names.
fn is_valid_83(name: &str) -> bool {
    let bytes = name.as_bytes();
    let (base, ext) = match bytes.iter().position(|b| *b == b'.') {
        Some(dot) => (&bytes[..dot], &bytes[dot + 1..]),
        None => (bytes, &[][..]),
    };
    let ext_ok = if bytes.contains(&b'.') { (1..=3).contains(&ext.len()) } else { true };
    (1..=8).contains(&base.len())
        && ext_ok
        && base.iter().all(|b| short_char(*b))
        && ext.iter().all(|b| short_char(*b))
}

fn basis(name: &str) -> Basis {
    if is_valid_83(name) {
        let (base, ext) = name.split_once('.').unwrap_or((name, ""));
        return Basis::Exact(ShortName::from_parts(base.as_bytes(), ext.as_bytes()));
    }
    let upper = name.to_ascii_uppercase();
    if is_valid_83(&upper) {
        let (base, ext) = upper.split_once('.').unwrap_or((&upper, ""));
        return Basis::CaseOnly(ShortName::from_parts(base.as_bytes(), ext.as_bytes()));
    }
    // Map every character to one short-name byte, dropping spaces and leading dots.
    let mut mapped: Vec<u8> = Vec::new();
    for ch in upper.chars() {
        let byte = match u8::try_from(u32::from(ch)) {
            Ok(b' ') => continue,
            Ok(b'.') if mapped.is_empty() => continue,
            Ok(byte) if byte.is_ascii() && !LONG_ONLY.contains(&byte) => byte,
            _ => b'_',
        };
        mapped.push(byte);
    }
    let base: Vec<u8> = mapped.iter().take_while(|b| **b != b'.').take(8).copied().collect();
    let ext: Vec<u8> = match mapped.iter().rposition(|b| *b == b'.') {
        Some(dot) => mapped[dot + 1..].iter().take(3).copied().collect(),
        None => Vec::new(),
    };
    // Names made only of spaces and dots end with one and are refused before this; `_` keeps
    // the name part non-empty all the same.
    let base = if base.is_empty() { b"_".to_vec() } else { base };
    Basis::Lossy { base, ext }
}

/// The basis name with numeric tail `~n`, the name part shortened to keep 8 bytes.
fn with_tail(base: &[u8], ext: &[u8], n: u32) -> ShortName {
    let tail = format!("~{n}");
    let keep = 8usize.saturating_sub(tail.len()).min(base.len());
    let mut name = base[..keep].to_vec();
    name.extend_from_slice(tail.as_bytes());
    ShortName::from_parts(&name, ext)
}

/// The short name chosen for one long name of a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Assigned {
    /// The 8.3 name.
    pub(crate) short: ShortName,
    /// True when long-name entries must precede the short entry.
    pub(crate) needs_long: bool,
}

/// Numeric tails run from `~1` to `~999999`, the most that fits after a 1-byte name.
const MAX_TAIL: u32 = 999_999;

/// Assigns a unique short name to every name of one directory (`names` in byte order, valid
/// long names, distinct without regard to case). Returns `None` only if a numeric tail
/// beyond `~999999` would be needed, which a directory's 65536 entries cannot reach.
pub(crate) fn assign(names: &[&str]) -> Option<Vec<Assigned>> {
    let bases: Vec<Basis> = names.iter().map(|name| basis(name)).collect();
    // Names stored as they are come first; they are distinct because the long names are.
    let mut used: BTreeSet<ShortName> = BTreeSet::new();
    for basis in &bases {
        if let Basis::Exact(short) | Basis::CaseOnly(short) = basis {
            used.insert(*short);
        }
    }
    let mut next_tail: BTreeMap<(Vec<u8>, Vec<u8>), u32> = BTreeMap::new();
    let mut out = Vec::with_capacity(names.len());
    for basis in bases {
        let assigned = match basis {
            Basis::Exact(short) => Assigned { short, needs_long: false },
            Basis::CaseOnly(short) => Assigned { short, needs_long: true },
            Basis::Lossy { base, ext } => {
                let next = next_tail.entry((base.clone(), ext.clone())).or_insert(1);
                let mut found = None;
                while *next <= MAX_TAIL {
                    let candidate = with_tail(&base, &ext, *next);
                    *next += 1;
                    if used.insert(candidate) {
                        found = Some(candidate);
                        break;
                    }
                }
                Assigned { short: found?, needs_long: true }
            }
        };
        out.push(assigned);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    fn check(names: &[&str], expect: Expect) {
        let mut sorted = names.to_vec();
        sorted.sort();
        let assigned = assign(&sorted).unwrap();
        let mut out = String::new();
        for (name, a) in sorted.iter().zip(assigned) {
            let short = String::from_utf8_lossy(&a.short.0).into_owned();
            let long = if a.needs_long { " +lfn" } else { "" };
            out.push_str(&format!("{name:?} -> {short:?}{long}\n"));
        }
        expect.assert_eq(&out);
    }

    #[test]
    fn exact_case_only_and_lossy() {
        check(
            &[
                "BOOTX64.EFI",
                "readme.txt",
                "Makefile",
                "linux.efi",
                "loader.conf",
                "long file name.txt",
                ".hidden",
                "a.b.c",
                "x+y;z=[1].tar.gz",
                "caf\u{e9}.txt",
                "\u{65e5}\u{672c}",
                "TOOLONGNAME.TXT",
                "A.TEXT",
                "NOEXT",
            ],
            expect![[r#"
                ".hidden" -> "HIDDEN~1   " +lfn
                "A.TEXT" -> "A~1     TEX" +lfn
                "BOOTX64.EFI" -> "BOOTX64 EFI"
                "Makefile" -> "MAKEFILE   " +lfn
                "NOEXT" -> "NOEXT      "
                "TOOLONGNAME.TXT" -> "TOOLON~1TXT" +lfn
                "a.b.c" -> "A~1     C  " +lfn
                "café.txt" -> "CAF_~1  TXT" +lfn
                "linux.efi" -> "LINUX   EFI" +lfn
                "loader.conf" -> "LOADER~1CON" +lfn
                "long file name.txt" -> "LONGFI~1TXT" +lfn
                "readme.txt" -> "README  TXT" +lfn
                "x+y;z=[1].tar.gz" -> "X_Y_Z_~1GZ " +lfn
                "日本" -> "__~1       " +lfn
            "#]],
        );
    }

    #[test]
    fn tails_count_up_and_skip_names_in_use() {
        // LONGFI~2.TXT is a real name, reserved before tails are handed out; the 10th tail
        // shortens the name part to keep 8 bytes.
        let mut names: Vec<String> = (1..=10).map(|n| format!("long file {n:02}.txt")).collect();
        names.push("LONGFI~2.TXT".to_owned());
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        check(
            &refs,
            expect![[r#"
                "LONGFI~2.TXT" -> "LONGFI~2TXT"
                "long file 01.txt" -> "LONGFI~1TXT" +lfn
                "long file 02.txt" -> "LONGFI~3TXT" +lfn
                "long file 03.txt" -> "LONGFI~4TXT" +lfn
                "long file 04.txt" -> "LONGFI~5TXT" +lfn
                "long file 05.txt" -> "LONGFI~6TXT" +lfn
                "long file 06.txt" -> "LONGFI~7TXT" +lfn
                "long file 07.txt" -> "LONGFI~8TXT" +lfn
                "long file 08.txt" -> "LONGFI~9TXT" +lfn
                "long file 09.txt" -> "LONGF~10TXT" +lfn
                "long file 10.txt" -> "LONGF~11TXT" +lfn
            "#]],
        );
    }

    #[test]
    fn case_only_name_taken_by_nothing_else() {
        check(
            &["a", "b~1", "B~1.X"],
            expect![[r#"
                "B~1.X" -> "B~1     X  "
                "a" -> "A          " +lfn
                "b~1" -> "B~1        " +lfn
            "#]],
        );
    }

    #[test]
    fn checksum_matches_fatgen() {
        // From fatgen103's ChkSum loop transcribed in Python; mtools agrees (fat_tools.rs).
        assert_eq!(ShortName(*b"BOOTX64 EFI").checksum(), 0x1d);
        assert_eq!(ShortName(*b"README  TXT").checksum(), 0x73);
    }

    #[test]
    fn long_name_rules() {
        assert_eq!(long_name_units(b"a b.c").unwrap().len(), 5);
        assert_eq!(long_name_units(b"\xff"), Err(NameProblem::NotUtf8));
        assert_eq!(long_name_units(b"a?"), Err(NameProblem::Forbidden('?')));
        assert_eq!(long_name_units(b"a\x01"), Err(NameProblem::Forbidden('\u{1}')));
        assert_eq!(long_name_units(b"a."), Err(NameProblem::Trailing('.')));
        assert_eq!(long_name_units(b"a "), Err(NameProblem::Trailing(' ')));
        assert!(long_name_units("x".repeat(255).as_bytes()).is_ok());
        assert_eq!(long_name_units("x".repeat(256).as_bytes()), Err(NameProblem::TooLong(256)));
        // A character outside the BMP takes two UTF-16 units.
        assert_eq!(long_name_units("\u{1f600}".as_bytes()).unwrap().len(), 2);
    }
}

//! The 32-byte long-name ("VFAT") directory entry, fatgen103 §"FAT Long Directory Entries".
//!
//! A long name of n UTF-16 code units takes ceil(n / 13) entries placed just before its short
//! entry, last part first: the first entry on disk has ordinal `count | 0x40`, the one right
//! before the short entry has ordinal 1. A name that does not fill its last entry is followed
//! by one 0x0000 unit, then 0xffff padding.

/// One long-name entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LfnEntry {
    /// `LDIR_Ord`: the entry's position in the name, 1-based (at most 20 for 255 units);
    /// [`LfnEntry::LAST`] marks the entry holding the end of the name.
    pub(crate) ord: u8,
    /// `LDIR_Name1`: code units 1-5 of this part.
    pub(crate) name1: [u16; 5],
    /// `LDIR_Attr`: always [`crate::fat::dir_entry::attr::LONG_NAME`].
    pub(crate) attr: u8,
    /// `LDIR_Type`: 0 for a name part (fsck.fat reports anything else).
    pub(crate) lfn_type: u8,
    /// `LDIR_Chksum`: the checksum of the short name that follows.
    pub(crate) chksum: u8,
    /// `LDIR_Name2`: code units 6-11.
    pub(crate) name2: [u16; 6],
    /// `LDIR_FstClusLO`: "must be zero".
    pub(crate) fst_clus_lo: u16,
    /// `LDIR_Name3`: code units 12-13.
    pub(crate) name3: [u16; 2],
}

/// Code units held by one entry.
pub(crate) const UNITS_PER_ENTRY: usize = 13;

impl LfnEntry {
    /// Encoded size in bytes.
    pub(crate) const SIZE: usize = 32;
    /// `LAST_LONG_ENTRY`, or'ed into the ordinal of the entry holding the end of the name.
    pub(crate) const LAST: u8 = 0x40;

    /// The entries for `units` (1 to 255 code units), in on-disk order.
    pub(crate) fn for_name(units: &[u16], chksum: u8) -> Vec<LfnEntry> {
        let mut parts: Vec<[u16; UNITS_PER_ENTRY]> = Vec::new();
        for chunk in units.chunks(UNITS_PER_ENTRY) {
            let mut part = [0xffff; UNITS_PER_ENTRY];
            part[..chunk.len()].copy_from_slice(chunk);
            if chunk.len() < UNITS_PER_ENTRY {
                part[chunk.len()] = 0x0000;
            }
            parts.push(part);
        }
        let n_parts = parts.len();
        let mut entries = Vec::with_capacity(n_parts);
        for (idx, part) in parts.iter().enumerate().rev() {
            // At most 20 parts for 255 units, so the ordinal fits.
            let mut ord = u8::try_from(idx + 1).unwrap_or(0x3f);
            if idx + 1 == n_parts {
                ord |= Self::LAST;
            }
            entries.push(LfnEntry::from_units(ord, chksum, part));
        }
        entries
    }

    fn from_units(ord: u8, chksum: u8, units: &[u16; UNITS_PER_ENTRY]) -> LfnEntry {
        let mut entry = LfnEntry {
            ord,
            name1: [0; 5],
            attr: crate::fat::dir_entry::attr::LONG_NAME,
            lfn_type: 0,
            chksum,
            name2: [0; 6],
            fst_clus_lo: 0,
            name3: [0; 2],
        };
        entry.name1.copy_from_slice(&units[0..5]);
        entry.name2.copy_from_slice(&units[5..11]);
        entry.name3.copy_from_slice(&units[11..13]);
        entry
    }

    /// The 13 code units of this part, padding included.
    pub(crate) fn units(&self) -> [u16; UNITS_PER_ENTRY] {
        let mut units = [0u16; UNITS_PER_ENTRY];
        units[0..5].copy_from_slice(&self.name1);
        units[5..11].copy_from_slice(&self.name2);
        units[11..13].copy_from_slice(&self.name3);
        units
    }

    /// Writes the entry, little-endian.
    pub(crate) fn encode(&self, out: &mut [u8; Self::SIZE]) {
        out[0] = self.ord;
        for (idx, unit) in self.name1.iter().enumerate() {
            out[1 + 2 * idx..3 + 2 * idx].copy_from_slice(&unit.to_le_bytes());
        }
        out[11] = self.attr;
        out[12] = self.lfn_type;
        out[13] = self.chksum;
        for (idx, unit) in self.name2.iter().enumerate() {
            out[14 + 2 * idx..16 + 2 * idx].copy_from_slice(&unit.to_le_bytes());
        }
        out[26..28].copy_from_slice(&self.fst_clus_lo.to_le_bytes());
        for (idx, unit) in self.name3.iter().enumerate() {
            out[28 + 2 * idx..30 + 2 * idx].copy_from_slice(&unit.to_le_bytes());
        }
    }

    /// Parses an entry (the caller checks `attr` first); every bit pattern decodes.
    pub(crate) fn decode(bytes: &[u8; Self::SIZE]) -> LfnEntry {
        let unit = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
        let mut entry = LfnEntry {
            ord: bytes[0],
            name1: [0; 5],
            attr: bytes[11],
            lfn_type: bytes[12],
            chksum: bytes[13],
            name2: [0; 6],
            fst_clus_lo: unit(26),
            name3: [0; 2],
        };
        for (idx, slot) in entry.name1.iter_mut().enumerate() {
            *slot = unit(1 + 2 * idx);
        }
        for (idx, slot) in entry.name2.iter_mut().enumerate() {
            *slot = unit(14 + 2 * idx);
        }
        for (idx, slot) in entry.name3.iter_mut().enumerate() {
            *slot = unit(28 + 2 * idx);
        }
        entry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_stored_last_first_and_padded() {
        assert_eq!(LfnEntry::SIZE, 32);
        let units: Vec<u16> = "long file name.txt".encode_utf16().collect();
        let entries = LfnEntry::for_name(&units, 0xab);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].ord, 0x42);
        assert_eq!(entries[1].ord, 0x01);
        // "long file nam" in the entry right before the short one, "e.txt", NUL, 0xffff after.
        let tail: Vec<u16> = "e.txt".encode_utf16().chain([0, 0xffff, 0xffff]).collect();
        assert_eq!(entries[0].units()[..8], tail[..]);
        assert_eq!(entries[0].units()[8..], [0xffff; 5]);
        let mut out = [0u8; LfnEntry::SIZE];
        entries[1].encode(&mut out);
        let mut expected = vec![0x01];
        for unit in "long ".encode_utf16() {
            expected.extend_from_slice(&unit.to_le_bytes());
        }
        expected.extend_from_slice(&[0x0f, 0x00, 0xab]);
        for unit in "file n".encode_utf16() {
            expected.extend_from_slice(&unit.to_le_bytes());
        }
        expected.extend_from_slice(&[0, 0]);
        for unit in "am".encode_utf16() {
            expected.extend_from_slice(&unit.to_le_bytes());
        }
        assert_eq!(out[..], expected[..]);
        assert_eq!(LfnEntry::decode(&out), entries[1]);
    }

    #[test]
    fn a_name_filling_its_last_entry_has_no_terminator() {
        let units: Vec<u16> = "0123456789abc".encode_utf16().collect();
        let entries = LfnEntry::for_name(&units, 0);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].ord, 0x41);
        assert_eq!(entries[0].units()[..], units[..]);
    }
}

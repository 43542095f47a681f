//! The 32-byte short ("8.3") directory entry, fatgen103 §"FAT Directory Structure".

use crate::fat::time::FatTime;

/// `DIR_Attr` bits.
pub(crate) mod attr {
    /// Writes should fail.
    pub(crate) const READ_ONLY: u8 = 0x01;
    /// Hidden from normal listings.
    pub(crate) const HIDDEN: u8 = 0x02;
    /// Operating system file.
    pub(crate) const SYSTEM: u8 = 0x04;
    /// The volume label (root directory only, no data).
    pub(crate) const VOLUME_ID: u8 = 0x08;
    /// A directory.
    pub(crate) const DIRECTORY: u8 = 0x10;
    /// Changed since the last backup; set on files when they are written.
    pub(crate) const ARCHIVE: u8 = 0x20;
    /// A long-name entry: `READ_ONLY | HIDDEN | SYSTEM | VOLUME_ID`, tested under mask 0x3f.
    pub(crate) const LONG_NAME: u8 = READ_ONLY | HIDDEN | SYSTEM | VOLUME_ID;
}

/// `DIR_NTRes` bits that Windows NT and Linux use to show an 8.3 name in lower case.
pub(crate) mod case {
    /// The name part is lower case.
    pub(crate) const LOWER_BASE: u8 = 0x08;
    /// The extension is lower case.
    pub(crate) const LOWER_EXT: u8 = 0x10;
}

/// `DIR_Name[0]` of a free entry after which no entry is used.
pub(crate) const END_OF_DIR: u8 = 0x00;
/// `DIR_Name[0]` of a deleted (free) entry.
pub(crate) const DELETED: u8 = 0xe5;
/// `DIR_Name[0]` standing for a real first byte 0xe5 (a Kanji lead byte).
pub(crate) const KANJI_E5: u8 = 0x05;

/// One short directory entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DirEntry {
    /// `DIR_Name`: 8 bytes of name and 3 of extension, space-padded; first byte 0x00 ends the
    /// directory, 0xe5 marks a free entry, 0x05 stands for 0xe5.
    pub(crate) name: [u8; 11],
    /// `DIR_Attr`: see [`attr`].
    pub(crate) attr: u8,
    /// `DIR_NTRes`: reserved for Windows NT, "set to 0 when a file is created"; see [`case`].
    pub(crate) nt_res: u8,
    /// `DIR_CrtTimeTenth`: hundredths of a second (0-199) added to `crt_time`.
    pub(crate) crt_time_tenth: u8,
    /// `DIR_CrtTime`: creation time (see [`FatTime::time`]).
    pub(crate) crt_time: u16,
    /// `DIR_CrtDate`: creation date (see [`FatTime::date`]).
    pub(crate) crt_date: u16,
    /// `DIR_LstAccDate`: last access date; there is no access time.
    pub(crate) lst_acc_date: u16,
    /// `DIR_FstClusHI`: high 16 bits of the first cluster (0 on FAT12/16).
    pub(crate) fst_clus_hi: u16,
    /// `DIR_WrtTime`: last write time, "must be equal to `DIR_CrtTime`" when created.
    pub(crate) wrt_time: u16,
    /// `DIR_WrtDate`: last write date.
    pub(crate) wrt_date: u16,
    /// `DIR_FstClusLO`: low 16 bits of the first cluster; 0 for an empty file, and for `..`
    /// when the parent is the root directory.
    pub(crate) fst_clus_lo: u16,
    /// `DIR_FileSize`: size in bytes; 0 for directories.
    pub(crate) file_size_bytes: u32,
}

impl DirEntry {
    /// Encoded size in bytes.
    pub(crate) const SIZE: usize = 32;

    /// An entry with the given name, attributes, first cluster and size, written at `modified`
    /// and created and accessed at `created`.
    pub(crate) fn new(
        name: [u8; 11],
        attr: u8,
        first_cluster: u32,
        file_size_bytes: u32,
        modified: FatTime,
        created: FatTime,
    ) -> DirEntry {
        DirEntry {
            name,
            attr,
            nt_res: 0,
            crt_time_tenth: created.hundredths,
            crt_time: created.time,
            crt_date: created.date,
            lst_acc_date: created.date,
            fst_clus_hi: u16::try_from(first_cluster >> 16).unwrap_or(u16::MAX),
            wrt_time: modified.time,
            wrt_date: modified.date,
            fst_clus_lo: u16::try_from(first_cluster & 0xffff).unwrap_or(u16::MAX),
            file_size_bytes,
        }
    }

    /// The first cluster, `DIR_FstClusHI:DIR_FstClusLO`.
    pub(crate) fn first_cluster(&self) -> u32 {
        (u32::from(self.fst_clus_hi) << 16) | u32::from(self.fst_clus_lo)
    }

    /// The last write time.
    pub(crate) fn modified(&self) -> FatTime {
        FatTime { date: self.wrt_date, time: self.wrt_time, hundredths: 0 }
    }

    /// Writes the entry, little-endian.
    pub(crate) fn encode(&self, out: &mut [u8; Self::SIZE]) {
        out[0..11].copy_from_slice(&self.name);
        out[11] = self.attr;
        out[12] = self.nt_res;
        out[13] = self.crt_time_tenth;
        out[14..16].copy_from_slice(&self.crt_time.to_le_bytes());
        out[16..18].copy_from_slice(&self.crt_date.to_le_bytes());
        out[18..20].copy_from_slice(&self.lst_acc_date.to_le_bytes());
        out[20..22].copy_from_slice(&self.fst_clus_hi.to_le_bytes());
        out[22..24].copy_from_slice(&self.wrt_time.to_le_bytes());
        out[24..26].copy_from_slice(&self.wrt_date.to_le_bytes());
        out[26..28].copy_from_slice(&self.fst_clus_lo.to_le_bytes());
        out[28..32].copy_from_slice(&self.file_size_bytes.to_le_bytes());
    }

    /// Parses an entry; every bit pattern is a valid entry at this level.
    pub(crate) fn decode(bytes: &[u8; Self::SIZE]) -> DirEntry {
        let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
        let mut name = [0u8; 11];
        name.copy_from_slice(&bytes[0..11]);
        DirEntry {
            name,
            attr: bytes[11],
            nt_res: bytes[12],
            crt_time_tenth: bytes[13],
            crt_time: u16_at(14),
            crt_date: u16_at(16),
            lst_acc_date: u16_at(18),
            fst_clus_hi: u16_at(20),
            wrt_time: u16_at(22),
            wrt_date: u16_at(24),
            fst_clus_lo: u16_at(26),
            file_size_bytes: u32::from_le_bytes([bytes[28], bytes[29], bytes[30], bytes[31]]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_fatgen() {
        assert_eq!(DirEntry::SIZE, 32);
        let modified = FatTime::from_unix(1_700_000_000);
        let created = FatTime::from_unix(1_700_000_001);
        let entry = DirEntry::new(
            *b"BOOTX64 EFI",
            attr::ARCHIVE,
            0x0001_0203,
            0x0405_0607,
            modified,
            created,
        );
        let mut out = [0u8; DirEntry::SIZE];
        entry.encode(&mut out);
        // 2023-11-14 22:13:20: date (43 << 9) | (11 << 5) | 14 = 0x576e,
        // time (22 << 11) | (13 << 5) | 10 = 0xb1aa.
        assert_eq!(&out[..11], b"BOOTX64 EFI");
        assert_eq!(
            out[11..],
            [
                0x20, 0, 100, 0xaa, 0xb1, 0x6e, 0x57, 0x6e, 0x57, 0x01, 0x00, 0xaa, 0xb1, 0x6e,
                0x57, 0x03, 0x02, 0x07, 0x06, 0x05, 0x04
            ]
        );
        let back = DirEntry::decode(&out);
        assert_eq!(back, entry);
        assert_eq!(back.first_cluster(), 0x0001_0203);
        assert_eq!(back.modified().to_unix(), 1_700_000_000);
    }
}

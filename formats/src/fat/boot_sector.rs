//! The boot sector and BIOS Parameter Block, fatgen103 §"Boot Sector and BPB" (offsets 0-35),
//! with the FAT12/16 extended BPB at offset 36 or the FAT32 one at offset 36-89.
//!
//! The boot code area holds a small stub instead of a boot loader: it prints that the volume
//! is not bootable, waits for a key and asks the BIOS to try the next boot device, like the
//! stub mkfs.fat writes (this one is written independently). UEFI firmware never runs it.

/// What a boot sector field holds when it is out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BootSectorError {
    /// A field has a value no FAT driver accepts.
    #[error("{field} is {found}, expected {expected}")]
    Field {
        /// The spec's field name.
        field: &'static str,
        /// The value found.
        found: u64,
        /// The accepted values.
        expected: &'static str,
    },
}

/// The FAT12/16 and FAT32 extended BPB fields shared by both layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ExtendedBpb {
    /// `BS_DrvNum`: the BIOS drive number, 0x80 for a hard disk.
    pub(crate) drive_number: u8,
    /// `BS_Reserved1`: 0; Windows NT and fsck.fat use bit 0 as "volume dirty".
    pub(crate) reserved1: u8,
    /// `BS_BootSig`: 0x29 when the three fields below are present.
    pub(crate) boot_sig: u8,
    /// `BS_VolID`: the volume serial number.
    pub(crate) vol_id: u32,
    /// `BS_VolLab`: the volume label, matching the root directory's label entry
    /// ("NO NAME    " when there is none).
    pub(crate) vol_lab: [u8; 11],
    /// `BS_FilSysType`: "FAT12   ", "FAT16   " or "FAT32   "; informational only.
    pub(crate) fil_sys_type: [u8; 8],
}

/// The FAT32-only BPB fields at offsets 36-63.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fat32Bpb {
    /// `BPB_FATSz32`: sectors per FAT.
    pub(crate) fat_sz32_sectors: u32,
    /// `BPB_ExtFlags`: 0, the FATs mirrored at runtime.
    pub(crate) ext_flags: u16,
    /// `BPB_FSVer`: version 0.0.
    pub(crate) fs_ver: u16,
    /// `BPB_RootClus`: first cluster of the root directory, usually 2.
    pub(crate) root_clus: u32,
    /// `BPB_FSInfo`: sector of the FSInfo structure, usually 1.
    pub(crate) fs_info_sector: u16,
    /// `BPB_BkBootSec`: sector of the boot sector's copy, 6 (or 0 for none).
    pub(crate) bk_boot_sector: u16,
}

/// The whole boot sector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BootSector {
    /// `BS_jmpBoot`: a jump over the BPB to the boot code (0xEB, offset, 0x90).
    pub(crate) jmp_boot: [u8; 3],
    /// `BS_OEMName`: the name of the system that formatted the volume.
    pub(crate) oem_name: [u8; 8],
    /// `BPB_BytsPerSec`: 512, 1024, 2048 or 4096.
    pub(crate) byts_per_sec: u16,
    /// `BPB_SecPerClus`: a power of two from 1 to 128.
    pub(crate) sec_per_clus: u8,
    /// `BPB_RsvdSecCnt`: sectors before the first FAT, at least 1 (32 on FAT32 by custom).
    pub(crate) rsvd_sec_cnt: u16,
    /// `BPB_NumFATs`: copies of the FAT, 2.
    pub(crate) num_fats: u8,
    /// `BPB_RootEntCnt`: 32-byte entries of the FAT12/16 root directory (a multiple of 16);
    /// 0 on FAT32.
    pub(crate) root_ent_cnt: u16,
    /// `BPB_TotSec16`: total sectors if below 0x10000 (FAT12/16 only), else 0.
    pub(crate) tot_sec16: u16,
    /// `BPB_Media`: 0xF8 for fixed media; also the low byte of FAT entry 0.
    pub(crate) media: u8,
    /// `BPB_FATSz16`: sectors per FAT on FAT12/16; 0 on FAT32 (which is what marks FAT32).
    pub(crate) fat_sz16_sectors: u16,
    /// `BPB_SecPerTrk`: sectors per track of the INT 13h geometry.
    pub(crate) sec_per_trk: u16,
    /// `BPB_NumHeads`: heads of the INT 13h geometry.
    pub(crate) num_heads: u16,
    /// `BPB_HiddSec`: sectors before the volume on its disk (the partition's start LBA).
    pub(crate) hidd_sec: u32,
    /// `BPB_TotSec32`: total sectors when `BPB_TotSec16` is 0, else 0.
    pub(crate) tot_sec32: u32,
    /// The FAT32 fields, present exactly when `fat_sz16_sectors` is 0.
    pub(crate) fat32: Option<Fat32Bpb>,
    /// The extended BPB (offset 36 on FAT12/16, 64 on FAT32).
    pub(crate) ext: ExtendedBpb,
    /// Bytes 510-511: 0x55, 0xAA.
    pub(crate) signature: [u8; 2],
}

/// Bytes 510-511 of a boot sector.
pub(crate) const SIGNATURE: [u8; 2] = [0x55, 0xaa];
/// `BS_BootSig` announcing the volume id, label and type fields.
pub(crate) const EXTENDED_BOOT_SIG: u8 = 0x29;

/// Where the boot code starts on FAT12/16 (right after the extended BPB).
const CODE_OFFSET_FAT16: usize = 62;
/// Where the boot code starts on FAT32.
const CODE_OFFSET_FAT32: usize = 90;
/// Real-mode address at which the BIOS loads the boot sector.
const LOAD_ADDRESS: usize = 0x7c00;
/// The boot stub's message.
const MESSAGE: &[u8] = b"This FAT volume, written by kit, is not bootable.\r\n\
Press a key to try the next boot device.\r\n\0";

impl BootSector {
    /// Encoded size in bytes (the sector, with 512-byte sectors).
    pub(crate) const SIZE: usize = 512;

    /// Offset of the boot code for this layout.
    fn code_offset(&self) -> usize {
        if self.fat32.is_some() { CODE_OFFSET_FAT32 } else { CODE_OFFSET_FAT16 }
    }

    /// `BS_jmpBoot` for this layout: a short jump to the boot code, then NOP.
    pub(crate) fn jump_for(fat32: bool) -> [u8; 3] {
        let offset = if fat32 { CODE_OFFSET_FAT32 } else { CODE_OFFSET_FAT16 };
        // The offset is below 128, so the relative jump fits in one byte.
        [0xeb, u8::try_from(offset - 2).unwrap_or(0), 0x90]
    }

    /// Writes the sector: BPB, extended BPB, boot stub, signature.
    pub(crate) fn encode(&self, out: &mut [u8; Self::SIZE]) {
        out.fill(0);
        out[0..3].copy_from_slice(&self.jmp_boot);
        out[3..11].copy_from_slice(&self.oem_name);
        out[11..13].copy_from_slice(&self.byts_per_sec.to_le_bytes());
        out[13] = self.sec_per_clus;
        out[14..16].copy_from_slice(&self.rsvd_sec_cnt.to_le_bytes());
        out[16] = self.num_fats;
        out[17..19].copy_from_slice(&self.root_ent_cnt.to_le_bytes());
        out[19..21].copy_from_slice(&self.tot_sec16.to_le_bytes());
        out[21] = self.media;
        out[22..24].copy_from_slice(&self.fat_sz16_sectors.to_le_bytes());
        out[24..26].copy_from_slice(&self.sec_per_trk.to_le_bytes());
        out[26..28].copy_from_slice(&self.num_heads.to_le_bytes());
        out[28..32].copy_from_slice(&self.hidd_sec.to_le_bytes());
        out[32..36].copy_from_slice(&self.tot_sec32.to_le_bytes());
        let ext_at = match &self.fat32 {
            Some(f) => {
                out[36..40].copy_from_slice(&f.fat_sz32_sectors.to_le_bytes());
                out[40..42].copy_from_slice(&f.ext_flags.to_le_bytes());
                out[42..44].copy_from_slice(&f.fs_ver.to_le_bytes());
                out[44..48].copy_from_slice(&f.root_clus.to_le_bytes());
                out[48..50].copy_from_slice(&f.fs_info_sector.to_le_bytes());
                out[50..52].copy_from_slice(&f.bk_boot_sector.to_le_bytes());
                // 52..64: BPB_Reserved, zero.
                64
            }
            None => 36,
        };
        let ext = &self.ext;
        out[ext_at] = ext.drive_number;
        out[ext_at + 1] = ext.reserved1;
        out[ext_at + 2] = ext.boot_sig;
        out[ext_at + 3..ext_at + 7].copy_from_slice(&ext.vol_id.to_le_bytes());
        out[ext_at + 7..ext_at + 18].copy_from_slice(&ext.vol_lab);
        out[ext_at + 18..ext_at + 26].copy_from_slice(&ext.fil_sys_type);
        let code_at = self.code_offset();
        let code = boot_stub(code_at);
        out[code_at..code_at + code.len()].copy_from_slice(&code);
        out[510..512].copy_from_slice(&self.signature);
    }

    /// Parses the sector and checks the fields every FAT driver relies on.
    pub(crate) fn decode(bytes: &[u8; Self::SIZE]) -> Result<BootSector, BootSectorError> {
        let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
        let u32_at = |at: usize| {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let field = |field, found: u64, expected| BootSectorError::Field { field, found, expected };
        let byts_per_sec = u16_at(11);
        if ![512, 1024, 2048, 4096].contains(&byts_per_sec) {
            return Err(field("BPB_BytsPerSec", byts_per_sec.into(), "512, 1024, 2048 or 4096"));
        }
        let sec_per_clus = bytes[13];
        if !sec_per_clus.is_power_of_two() {
            return Err(field("BPB_SecPerClus", sec_per_clus.into(), "a power of two to 128"));
        }
        let rsvd_sec_cnt = u16_at(14);
        if rsvd_sec_cnt == 0 {
            return Err(field("BPB_RsvdSecCnt", 0, "at least 1"));
        }
        let num_fats = bytes[16];
        if num_fats == 0 {
            return Err(field("BPB_NumFATs", 0, "at least 1"));
        }
        let fat_sz16_sectors = u16_at(22);
        let fat32 = if fat_sz16_sectors == 0 {
            let f = Fat32Bpb {
                fat_sz32_sectors: u32_at(36),
                ext_flags: u16_at(40),
                fs_ver: u16_at(42),
                root_clus: u32_at(44),
                fs_info_sector: u16_at(48),
                bk_boot_sector: u16_at(50),
            };
            if f.fat_sz32_sectors == 0 {
                return Err(field("BPB_FATSz32", 0, "at least 1 when BPB_FATSz16 is 0"));
            }
            Some(f)
        } else {
            None
        };
        let ext_at = if fat32.is_some() { 64 } else { 36 };
        let mut vol_lab = [0u8; 11];
        vol_lab.copy_from_slice(&bytes[ext_at + 7..ext_at + 18]);
        let mut fil_sys_type = [0u8; 8];
        fil_sys_type.copy_from_slice(&bytes[ext_at + 18..ext_at + 26]);
        let mut jmp_boot = [0u8; 3];
        jmp_boot.copy_from_slice(&bytes[0..3]);
        let mut oem_name = [0u8; 8];
        oem_name.copy_from_slice(&bytes[3..11]);
        Ok(BootSector {
            jmp_boot,
            oem_name,
            byts_per_sec,
            sec_per_clus,
            rsvd_sec_cnt,
            num_fats,
            root_ent_cnt: u16_at(17),
            tot_sec16: u16_at(19),
            media: bytes[21],
            fat_sz16_sectors,
            sec_per_trk: u16_at(24),
            num_heads: u16_at(26),
            hidd_sec: u32_at(28),
            tot_sec32: u32_at(32),
            fat32,
            ext: ExtendedBpb {
                drive_number: bytes[ext_at],
                reserved1: bytes[ext_at + 1],
                boot_sig: bytes[ext_at + 2],
                vol_id: u32_at(ext_at + 3),
                vol_lab,
                fil_sys_type,
            },
            signature: [bytes[510], bytes[511]],
        })
    }

    /// Total sectors: `BPB_TotSec16`, or `BPB_TotSec32` when that is 0.
    pub(crate) fn total_sectors(&self) -> u32 {
        if self.tot_sec16 != 0 { u32::from(self.tot_sec16) } else { self.tot_sec32 }
    }

    /// Sectors per FAT: `BPB_FATSz16`, or `BPB_FATSz32` on FAT32.
    pub(crate) fn fat_sectors(&self) -> u32 {
        match &self.fat32 {
            Some(f) => f.fat_sz32_sectors,
            None => u32::from(self.fat_sz16_sectors),
        }
    }
}

/// The real-mode stub placed at `code_at`: print [`MESSAGE`] through the BIOS teletype
/// service, wait for a key, then INT 19h (boot the next device).
fn boot_stub(code_at: usize) -> Vec<u8> {
    // Offset of the message within the stub (the instruction bytes below).
    const MESSAGE_AT: usize = 29;
    // code_at + MESSAGE_AT + 0x7c00 is below 0x7e00, so it fits in 16 bits.
    let message = u16::try_from(LOAD_ADDRESS + code_at + MESSAGE_AT).unwrap_or(0).to_le_bytes();
    let mut code = vec![
        0x31, 0xc0, //              0: xor ax, ax
        0x8e, 0xd8, //              2: mov ds, ax
        0xbe, message[0], message[1], // 4: mov si, message
        0xac,       //                    7: print: lodsb
        0x84, 0xc0, //              8: test al, al
        0x74, 0x09, //             10: jz wait (21)
        0xb4, 0x0e, //             12: mov ah, 0x0e (teletype output)
        0xbb, 0x07, 0x00, //       14: mov bx, 0x0007 (page 0, grey)
        0xcd, 0x10, //             17: int 0x10
        0xeb, 0xf2, //             19: jmp print (7)
        0x31, 0xc0, //             21: wait: xor ax, ax
        0xcd, 0x16, //             23: int 0x16 (read key)
        0xcd, 0x19, //             25: int 0x19 (bootstrap loader)
        0xeb, 0xfe, //             27: jmp $
    ];
    code.extend_from_slice(MESSAGE);
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(fat32: bool) -> BootSector {
        BootSector {
            jmp_boot: BootSector::jump_for(fat32),
            oem_name: *b"kit     ",
            byts_per_sec: 512,
            sec_per_clus: 1,
            rsvd_sec_cnt: 32,
            num_fats: 2,
            root_ent_cnt: if fat32 { 0 } else { 512 },
            tot_sec16: 0,
            media: 0xf8,
            fat_sz16_sectors: if fat32 { 0 } else { 32 },
            sec_per_trk: 32,
            num_heads: 8,
            hidd_sec: 2048,
            tot_sec32: 131_072,
            fat32: fat32.then_some(Fat32Bpb {
                fat_sz32_sectors: 1009,
                ext_flags: 0,
                fs_ver: 0,
                root_clus: 2,
                fs_info_sector: 1,
                bk_boot_sector: 6,
            }),
            ext: ExtendedBpb {
                drive_number: 0x80,
                reserved1: 0,
                boot_sig: EXTENDED_BOOT_SIG,
                vol_id: 0x1234_abcd,
                vol_lab: *b"EFI        ",
                fil_sys_type: if fat32 { *b"FAT32   " } else { *b"FAT16   " },
            },
            signature: SIGNATURE,
        }
    }

    #[test]
    fn fat32_fields_sit_where_fatgen_puts_them() {
        assert_eq!(BootSector::SIZE, 512);
        let mut out = [0u8; BootSector::SIZE];
        sample(true).encode(&mut out);
        assert_eq!(out[0..3], [0xeb, 0x58, 0x90]);
        assert_eq!(&out[3..11], b"kit     ");
        assert_eq!(out[11..14], [0x00, 0x02, 1]);
        assert_eq!(out[21], 0xf8);
        assert_eq!(out[28..32], 2048u32.to_le_bytes());
        assert_eq!(out[32..36], 131_072u32.to_le_bytes());
        assert_eq!(out[36..40], 1009u32.to_le_bytes());
        assert_eq!(out[44..52], [2, 0, 0, 0, 1, 0, 6, 0]);
        assert_eq!(out[64..67], [0x80, 0, 0x29]);
        assert_eq!(out[67..71], [0xcd, 0xab, 0x34, 0x12]);
        assert_eq!(&out[71..82], b"EFI        ");
        assert_eq!(&out[82..90], b"FAT32   ");
        assert_eq!(out[510..512], [0x55, 0xaa]);
        // The stub's `mov si` points at the message: 0x7c00 + 90 + 29 = 0x7c77.
        assert_eq!(out[94..97], [0xbe, 0x77, 0x7c]);
        assert_eq!(&out[90 + 29..90 + 29 + 4], b"This");
        assert_eq!(BootSector::decode(&out), Ok(sample(true)));
    }

    #[test]
    fn fat16_extended_bpb_follows_the_bpb() {
        let mut out = [0u8; BootSector::SIZE];
        sample(false).encode(&mut out);
        assert_eq!(out[0..3], [0xeb, 0x3c, 0x90]);
        assert_eq!(out[22..24], [32, 0]);
        assert_eq!(out[36..39], [0x80, 0, 0x29]);
        assert_eq!(&out[43..54], b"EFI        ");
        assert_eq!(&out[54..62], b"FAT16   ");
        assert_eq!(BootSector::decode(&out), Ok(sample(false)));
        assert_eq!(sample(false).total_sectors(), 131_072);
        assert_eq!(sample(false).fat_sectors(), 32);
    }

    #[test]
    fn decode_rejects_impossible_fields() {
        let mut out = [0u8; BootSector::SIZE];
        sample(true).encode(&mut out);
        let mut bad = out;
        bad[13] = 3;
        assert_eq!(
            BootSector::decode(&bad).unwrap_err().to_string(),
            "BPB_SecPerClus is 3, expected a power of two to 128"
        );
        let mut bad = out;
        bad[11] = 0;
        bad[12] = 0;
        assert_eq!(
            BootSector::decode(&bad).unwrap_err().to_string(),
            "BPB_BytsPerSec is 0, expected 512, 1024, 2048 or 4096"
        );
        let mut bad = out;
        bad[36..40].fill(0);
        assert_eq!(
            BootSector::decode(&bad).unwrap_err().to_string(),
            "BPB_FATSz32 is 0, expected at least 1 when BPB_FATSz16 is 0"
        );
    }
}

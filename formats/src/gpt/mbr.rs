//! The 512-byte Master Boot Record in LBA 0 (UEFI 2.10 §5.2.1 "Legacy Master Boot Record",
//! §5.2.3 "Protective MBR").
//!
//! Layout: 440 bytes of boot code, a 4-byte disk signature, 2 unused bytes, four 16-byte
//! partition records, and the signature 0x55 0xAA.
//! CHS addresses are computed the way GPT fdisk (sgdisk 1.0.9) writes them: a 255-head,
//! 63-sector geometry, and 0xFF 0xFF 0xFF for an address past cylinder 1023.

/// One 16-byte MBR partition record (UEFI 2.10 table 5-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MbrPartitionRecord {
    /// `BootIndicator`: 0x80 marks the bootable (active) partition, 0x00 otherwise.
    pub boot_indicator: u8,
    /// `StartingCHS`: head, sector (bits 0-5) with cylinder bits 8-9 (bits 6-7), cylinder
    /// bits 0-7.
    pub starting_chs: [u8; 3],
    /// `OSType`: 0xEE for the GPT protective partition, 0xEF for an EFI System partition,
    /// 0x00 for an unused record.
    pub os_type: u8,
    /// `EndingCHS`: the CHS address of the last sector, encoded like `starting_chs`.
    pub ending_chs: [u8; 3],
    /// `StartingLBA`: first sector of the partition.
    pub starting_lba: u32,
    /// `SizeInLBA`: number of sectors.
    pub size_in_lba: u32,
}

/// The whole MBR sector (UEFI 2.10 table 5-1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mbr {
    /// `BootCode`: x86 code run by a legacy BIOS (unused by UEFI).
    pub boot_code: [u8; 440],
    /// `UniqueMBRDiskSignature`: 0 in a protective MBR.
    pub unique_mbr_disk_signature: u32,
    /// `Unknown`: 0.
    pub unknown: u16,
    /// `PartitionRecord`: the four records.
    pub partition_records: [MbrPartitionRecord; 4],
    /// `Signature`: 0xAA55 (bytes 0x55 0xAA).
    pub signature: u16,
}

/// The MBR boot signature.
pub const MBR_SIGNATURE: u16 = 0xAA55;
/// The OS type of the GPT protective partition.
pub const OS_TYPE_GPT_PROTECTIVE: u8 = 0xEE;

impl MbrPartitionRecord {
    /// Encoded size in bytes.
    pub const SIZE: usize = 16;

    /// A record for sectors `starting_lba .. starting_lba + size_in_lba`, CHS computed from the
    /// LBAs as sgdisk does.
    pub fn new(boot_indicator: u8, os_type: u8, starting_lba: u32, size_in_lba: u32) -> Self {
        let last_lba = u64::from(starting_lba) + u64::from(size_in_lba).saturating_sub(1);
        MbrPartitionRecord {
            boot_indicator,
            starting_chs: lba_to_chs(u64::from(starting_lba)),
            os_type,
            ending_chs: lba_to_chs(last_lba),
            starting_lba,
            size_in_lba,
        }
    }

    /// Writes the record.
    pub fn encode(&self, out: &mut [u8; Self::SIZE]) {
        out[0] = self.boot_indicator;
        out[1..4].copy_from_slice(&self.starting_chs);
        out[4] = self.os_type;
        out[5..8].copy_from_slice(&self.ending_chs);
        out[8..12].copy_from_slice(&self.starting_lba.to_le_bytes());
        out[12..16].copy_from_slice(&self.size_in_lba.to_le_bytes());
    }

    /// Parses a record (any bytes are a record).
    pub fn decode(bytes: &[u8; Self::SIZE]) -> Self {
        MbrPartitionRecord {
            boot_indicator: bytes[0],
            starting_chs: [bytes[1], bytes[2], bytes[3]],
            os_type: bytes[4],
            ending_chs: [bytes[5], bytes[6], bytes[7]],
            starting_lba: u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]),
            size_in_lba: u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]),
        }
    }
}

/// A sector whose last two bytes are not 0x55 0xAA.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("MBR signature is {found:#06x}, expected 0xaa55")]
pub struct MbrSignatureError {
    /// The signature found (little-endian).
    pub found: u16,
}

impl Mbr {
    /// Encoded size in bytes.
    pub const SIZE: usize = 512;

    /// Writes the sector.
    pub fn encode(&self, out: &mut [u8; Self::SIZE]) {
        out[..440].copy_from_slice(&self.boot_code);
        out[440..444].copy_from_slice(&self.unique_mbr_disk_signature.to_le_bytes());
        out[444..446].copy_from_slice(&self.unknown.to_le_bytes());
        for (idx, record) in self.partition_records.iter().enumerate() {
            let start = 446 + idx * MbrPartitionRecord::SIZE;
            let mut bytes = [0u8; MbrPartitionRecord::SIZE];
            record.encode(&mut bytes);
            out[start..start + MbrPartitionRecord::SIZE].copy_from_slice(&bytes);
        }
        out[510..512].copy_from_slice(&self.signature.to_le_bytes());
    }

    /// Parses the sector; the signature must be 0xAA55.
    pub fn decode(bytes: &[u8; Self::SIZE]) -> Result<Mbr, MbrSignatureError> {
        let signature = u16::from_le_bytes([bytes[510], bytes[511]]);
        if signature != MBR_SIGNATURE {
            return Err(MbrSignatureError { found: signature });
        }
        let mut boot_code = [0u8; 440];
        boot_code.copy_from_slice(&bytes[..440]);
        let mut partition_records = [MbrPartitionRecord::default(); 4];
        for (idx, record) in partition_records.iter_mut().enumerate() {
            let start = 446 + idx * MbrPartitionRecord::SIZE;
            let mut raw = [0u8; MbrPartitionRecord::SIZE];
            raw.copy_from_slice(&bytes[start..start + MbrPartitionRecord::SIZE]);
            *record = MbrPartitionRecord::decode(&raw);
        }
        Ok(Mbr {
            boot_code,
            unique_mbr_disk_signature: u32::from_le_bytes([
                bytes[440], bytes[441], bytes[442], bytes[443],
            ]),
            unknown: u16::from_le_bytes([bytes[444], bytes[445]]),
            partition_records,
            signature,
        })
    }
}

/// Heads per cylinder of the geometry sgdisk assumes.
const HEADS: u64 = 255;
/// Sectors per track of the geometry sgdisk assumes.
const SECTORS_PER_TRACK: u64 = 63;

/// The CHS encoding of `lba` in a 255-head, 63-sector geometry; 0xFF 0xFF 0xFF past cylinder
/// 1023 (what sgdisk 1.0.9 writes, checked on disks of 1 MiB to 3 TiB).
pub fn lba_to_chs(lba: u64) -> [u8; 3] {
    let cylinder = lba / (HEADS * SECTORS_PER_TRACK);
    if cylinder > 1023 {
        return [0xFF, 0xFF, 0xFF];
    }
    let head = (lba / SECTORS_PER_TRACK) % HEADS;
    let sector = lba % SECTORS_PER_TRACK + 1;
    // cylinder <= 1023, head <= 254, sector <= 63: each part fits its bits.
    let low = |value: u64| u8::try_from(value & 0xFF).unwrap_or(0);
    [low(head), low(sector | (cylinder >> 8) << 6), low(cylinder)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_pinned() {
        assert_eq!(MbrPartitionRecord::SIZE, 16);
        assert_eq!(Mbr::SIZE, 440 + 4 + 2 + 4 * 16 + 2);
    }

    #[test]
    fn chs_matches_sgdisk() {
        // Ending CHS bytes of the protective record that `sgdisk -o` 1.0.9 wrote on blank
        // disks of 1 MiB, 2 MiB, 8 MiB, 64 MiB, 1 GiB, 7 GiB and 8 GiB (last LBA given).
        let cases: [(u64, [u8; 3]); 8] = [
            (1, [0x00, 0x02, 0x00]),
            (2047, [0x20, 0x20, 0x00]),
            (4095, [0x41, 0x01, 0x00]),
            (16_383, [0x05, 0x04, 0x01]),
            (131_071, [0x28, 0x20, 0x08]),
            (2_097_151, [0x8A, 0x08, 0x82]),
            (14_680_063, [0xC9, 0xF8, 0x91]),
            (16_777_215, [0xFF, 0xFF, 0xFF]),
        ];
        for (lba, chs) in cases {
            assert_eq!(lba_to_chs(lba), chs, "LBA {lba}");
        }
    }

    #[test]
    fn round_trip() {
        let mut mbr = Mbr {
            boot_code: [0x90; 440],
            unique_mbr_disk_signature: 0x1234_5678,
            unknown: 0,
            partition_records: [MbrPartitionRecord::default(); 4],
            signature: MBR_SIGNATURE,
        };
        mbr.partition_records[0] = MbrPartitionRecord::new(0, 0xEE, 1, 131_071);
        mbr.partition_records[2] = MbrPartitionRecord::new(0x80, 0x0C, 2048, 4096);
        let mut bytes = [0u8; Mbr::SIZE];
        mbr.encode(&mut bytes);
        // The protective record of `sgdisk -o` on a 64 MiB disk, byte for byte.
        assert_eq!(
            bytes[446..462],
            [0, 0, 2, 0, 0xEE, 0x28, 0x20, 0x08, 1, 0, 0, 0, 0xFF, 0xFF, 0x01, 0]
        );
        assert_eq!(bytes[440..444], [0x78, 0x56, 0x34, 0x12]);
        assert_eq!(bytes[510..], [0x55, 0xAA]);
        assert_eq!(Mbr::decode(&bytes), Ok(mbr));
        bytes[511] = 0;
        assert_eq!(
            Mbr::decode(&bytes).unwrap_err().to_string(),
            "MBR signature is 0x0055, expected 0xaa55"
        );
    }
}

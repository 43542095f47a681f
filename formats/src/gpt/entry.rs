//! A GPT partition entry (UEFI 2.10 §5.3.3, table 5-6): 128 bytes; an entry whose type GUID is
//! zero is unused.

use crate::gpt::guid::Guid;

/// Attribute bit 0: "Required Partition" (platform-required; must not be deleted).
pub const ATTR_REQUIRED_PARTITION: u64 = 1 << 0;
/// Attribute bit 1: "No Block IO Protocol" (firmware must not add an EFI_BLOCK_IO_PROTOCOL).
pub const ATTR_NO_BLOCK_IO_PROTOCOL: u64 = 1 << 1;
/// Attribute bit 2: "Legacy BIOS Bootable" (what legacy BIOS boot code looks for).
pub const ATTR_LEGACY_BIOS_BOOTABLE: u64 = 1 << 2;

/// Longest partition name, in UTF-16 code units.
pub const NAME_UNITS: usize = 36;

/// One partition entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionEntry {
    /// `PartitionTypeGUID`: zero for an unused entry.
    pub partition_type_guid: Guid,
    /// `UniquePartitionGUID`.
    pub unique_partition_guid: Guid,
    /// `StartingLBA`.
    pub starting_lba: u64,
    /// `EndingLBA`: the last LBA of the partition (inclusive).
    pub ending_lba: u64,
    /// `Attributes`: bits 0-2 defined by UEFI, 48-63 by the partition type.
    pub attributes: u64,
    /// `PartitionName`: UTF-16LE, NUL-padded, at most 36 code units.
    pub partition_name: [u16; NAME_UNITS],
}

/// A partition name that cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// More than 36 UTF-16 code units.
    #[error("is {units} UTF-16 code units long, GPT allows at most 36")]
    TooLong {
        /// Its length in UTF-16 code units.
        units: usize,
    },
    /// A NUL character, which would end the name.
    #[error("contains a NUL character")]
    Nul,
}

impl PartitionEntry {
    /// Encoded size in bytes (the `SizeOfPartitionEntry` kit writes).
    pub const SIZE: usize = 128;

    /// An unused entry.
    pub const UNUSED: PartitionEntry = PartitionEntry {
        partition_type_guid: Guid::ZERO,
        unique_partition_guid: Guid::ZERO,
        starting_lba: 0,
        ending_lba: 0,
        attributes: 0,
        partition_name: [0; NAME_UNITS],
    };

    /// True if the entry describes a partition (type GUID not zero).
    pub fn is_used(&self) -> bool {
        self.partition_type_guid != Guid::ZERO
    }

    /// Writes the entry.
    pub fn encode(&self, out: &mut [u8; Self::SIZE]) {
        out[0..16].copy_from_slice(&self.partition_type_guid.to_disk_bytes());
        out[16..32].copy_from_slice(&self.unique_partition_guid.to_disk_bytes());
        out[32..40].copy_from_slice(&self.starting_lba.to_le_bytes());
        out[40..48].copy_from_slice(&self.ending_lba.to_le_bytes());
        out[48..56].copy_from_slice(&self.attributes.to_le_bytes());
        for (idx, unit) in self.partition_name.iter().enumerate() {
            out[56 + idx * 2..58 + idx * 2].copy_from_slice(&unit.to_le_bytes());
        }
    }

    /// Parses an entry (any bytes are an entry).
    pub fn decode(bytes: &[u8; Self::SIZE]) -> PartitionEntry {
        let guid_at = |at: usize| {
            let mut raw = [0u8; 16];
            raw.copy_from_slice(&bytes[at..at + 16]);
            Guid::from_disk_bytes(&raw)
        };
        let u64_at = |at: usize| {
            let mut raw = [0u8; 8];
            raw.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(raw)
        };
        let mut partition_name = [0u16; NAME_UNITS];
        for (idx, unit) in partition_name.iter_mut().enumerate() {
            *unit = u16::from_le_bytes([bytes[56 + idx * 2], bytes[57 + idx * 2]]);
        }
        PartitionEntry {
            partition_type_guid: guid_at(0),
            unique_partition_guid: guid_at(16),
            starting_lba: u64_at(32),
            ending_lba: u64_at(40),
            attributes: u64_at(48),
            partition_name,
        }
    }

    /// The name up to its first NUL, invalid UTF-16 replaced by U+FFFD.
    pub fn name(&self) -> String {
        let end = self.partition_name.iter().position(|unit| *unit == 0).unwrap_or(NAME_UNITS);
        String::from_utf16_lossy(&self.partition_name[..end])
    }
}

/// Encodes `name` as NUL-padded UTF-16 for `PartitionName`.
pub fn encode_name(name: &str) -> Result<[u16; NAME_UNITS], NameError> {
    if name.contains('\0') {
        return Err(NameError::Nul);
    }
    let units: Vec<u16> = name.encode_utf16().collect();
    if units.len() > NAME_UNITS {
        return Err(NameError::TooLong { units: units.len() });
    }
    let mut out = [0u16; NAME_UNITS];
    out[..units.len()].copy_from_slice(&units);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        assert_eq!(PartitionEntry::SIZE, 16 + 16 + 8 + 8 + 8 + 72);
        let entry = PartitionEntry {
            partition_type_guid: Guid::EFI_SYSTEM,
            unique_partition_guid: Guid::derive(b"x", "esp"),
            starting_lba: 2048,
            ending_lba: 133_119,
            attributes: ATTR_LEGACY_BIOS_BOOTABLE | 1 << 60,
            partition_name: encode_name("ESP é").unwrap(),
        };
        let mut bytes = [0u8; PartitionEntry::SIZE];
        entry.encode(&mut bytes);
        assert_eq!(bytes[..4], [0x28, 0x73, 0x2A, 0xC1]);
        assert_eq!(bytes[32..40], 2048u64.to_le_bytes());
        assert_eq!(bytes[48..56], [4, 0, 0, 0, 0, 0, 0, 0x10]);
        assert_eq!(bytes[56..66], *b"E\0S\0P\0 \0\xe9\0");
        assert_eq!(PartitionEntry::decode(&bytes), entry);
        assert_eq!(entry.name(), "ESP é");
        assert!(entry.is_used());
        assert!(!PartitionEntry::UNUSED.is_used());
    }

    #[test]
    fn names() {
        assert!(encode_name(&"x".repeat(36)).is_ok());
        assert_eq!(
            encode_name(&"x".repeat(37)).unwrap_err().to_string(),
            "is 37 UTF-16 code units long, GPT allows at most 36"
        );
        // A character outside the BMP takes two code units.
        assert_eq!(
            encode_name(&format!("{}\u{1F600}", "x".repeat(35))).unwrap_err(),
            NameError::TooLong { units: 37 }
        );
        assert_eq!(encode_name("a\0b").unwrap_err(), NameError::Nul);
    }
}

//! The GPT header (UEFI 2.10 §5.3.2, table 5-5): 92 bytes at the start of LBA 1 (primary) and of
//! the last LBA (backup); the rest of its sector is zero.

use crate::gpt::guid::Guid;

/// `EFI PART`.
pub const GPT_SIGNATURE: [u8; 8] = *b"EFI PART";
/// Revision 1.0.
pub const GPT_REVISION: u32 = 0x0001_0000;

/// One GPT header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GptHeader {
    /// `Signature`: "EFI PART".
    pub signature: [u8; 8],
    /// `Revision`: 0x00010000 for every UEFI 2.x version.
    pub revision: u32,
    /// `HeaderSize`: "must be greater than or equal to 92 and must be less than or equal to
    /// the logical block size".
    pub header_size_bytes: u32,
    /// `HeaderCRC32`: CRC32 of the `header_size_bytes` bytes of the header with this field
    /// zeroed.
    pub header_crc32: u32,
    /// `Reserved`: "must be zero".
    pub reserved: u32,
    /// `MyLBA`: the LBA holding this header.
    pub my_lba: u64,
    /// `AlternateLBA`: the LBA of the other header.
    pub alternate_lba: u64,
    /// `FirstUsableLBA`: first LBA a partition may use.
    pub first_usable_lba: u64,
    /// `LastUsableLBA`: last LBA a partition may use.
    pub last_usable_lba: u64,
    /// `DiskGUID`.
    pub disk_guid: Guid,
    /// `PartitionEntryLBA`: first LBA of this header's partition entry array.
    pub partition_entry_lba: u64,
    /// `NumberOfPartitionEntries`.
    pub number_of_partition_entries: u32,
    /// `SizeOfPartitionEntry`: "128 × 2^n where n is an integer greater than or equal to zero".
    pub size_of_partition_entry_bytes: u32,
    /// `PartitionEntryArrayCRC32`: CRC32 of the whole entry array
    /// (`number_of_partition_entries * size_of_partition_entry_bytes` bytes).
    pub partition_entry_array_crc32: u32,
}

/// A header that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GptHeaderError {
    /// The signature is not "EFI PART".
    #[error("signature is {found:?}, expected \"EFI PART\"")]
    Signature {
        /// The 8 bytes found, lossily decoded.
        found: String,
    },
    /// `HeaderSize` out of range.
    #[error("HeaderSize is {found} bytes, expected 92 to {sector_size} (the sector size)")]
    HeaderSize {
        /// The size found.
        found: u32,
        /// The sector size.
        sector_size: u64,
    },
    /// `HeaderCRC32` does not match.
    #[error("HeaderCRC32 is {stored:#010x}, the header's CRC32 is {computed:#010x}")]
    HeaderCrc {
        /// The stored value.
        stored: u32,
        /// The computed value.
        computed: u32,
    },
}

impl GptHeader {
    /// Encoded size in bytes (`HeaderSize` as kit writes it).
    pub const SIZE: usize = 92;

    /// Writes the header with `header_crc32` as stored in `self`.
    pub fn encode(&self, out: &mut [u8; Self::SIZE]) {
        out[0..8].copy_from_slice(&self.signature);
        out[8..12].copy_from_slice(&self.revision.to_le_bytes());
        out[12..16].copy_from_slice(&self.header_size_bytes.to_le_bytes());
        out[16..20].copy_from_slice(&self.header_crc32.to_le_bytes());
        out[20..24].copy_from_slice(&self.reserved.to_le_bytes());
        out[24..32].copy_from_slice(&self.my_lba.to_le_bytes());
        out[32..40].copy_from_slice(&self.alternate_lba.to_le_bytes());
        out[40..48].copy_from_slice(&self.first_usable_lba.to_le_bytes());
        out[48..56].copy_from_slice(&self.last_usable_lba.to_le_bytes());
        out[56..72].copy_from_slice(&self.disk_guid.to_disk_bytes());
        out[72..80].copy_from_slice(&self.partition_entry_lba.to_le_bytes());
        out[80..84].copy_from_slice(&self.number_of_partition_entries.to_le_bytes());
        out[84..88].copy_from_slice(&self.size_of_partition_entry_bytes.to_le_bytes());
        out[88..92].copy_from_slice(&self.partition_entry_array_crc32.to_le_bytes());
    }

    /// The header with `header_crc32` set to the CRC32 of its 92 encoded bytes.
    pub fn with_crc(mut self) -> GptHeader {
        self.header_crc32 = 0;
        let mut bytes = [0u8; Self::SIZE];
        self.encode(&mut bytes);
        self.header_crc32 = crc32(&bytes);
        self
    }

    /// Parses the fields of the first 92 bytes (no checks: see [`GptHeader::decode_checked`]).
    pub fn decode(bytes: &[u8; Self::SIZE]) -> GptHeader {
        let u32_at = |at: usize| {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let u64_at = |at: usize| {
            let mut raw = [0u8; 8];
            raw.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(raw)
        };
        let mut signature = [0u8; 8];
        signature.copy_from_slice(&bytes[0..8]);
        let mut guid = [0u8; 16];
        guid.copy_from_slice(&bytes[56..72]);
        GptHeader {
            signature,
            revision: u32_at(8),
            header_size_bytes: u32_at(12),
            header_crc32: u32_at(16),
            reserved: u32_at(20),
            my_lba: u64_at(24),
            alternate_lba: u64_at(32),
            first_usable_lba: u64_at(40),
            last_usable_lba: u64_at(48),
            disk_guid: Guid::from_disk_bytes(&guid),
            partition_entry_lba: u64_at(72),
            number_of_partition_entries: u32_at(80),
            size_of_partition_entry_bytes: u32_at(84),
            partition_entry_array_crc32: u32_at(88),
        }
    }

    /// Parses the header at the start of `sector` and checks its signature, `HeaderSize` and
    /// `HeaderCRC32` (UEFI 2.10 §5.3.2 "GPT Header" validity checks 1 and 2).
    pub fn decode_checked(sector: &[u8]) -> Result<GptHeader, GptHeaderError> {
        let sector_size = u64::try_from(sector.len()).unwrap_or(u64::MAX);
        let Some(first) =
            sector.get(..Self::SIZE).and_then(|b| <&[u8; Self::SIZE]>::try_from(b).ok())
        else {
            return Err(GptHeaderError::HeaderSize { found: 0, sector_size });
        };
        let header = GptHeader::decode(first);
        if header.signature != GPT_SIGNATURE {
            return Err(GptHeaderError::Signature {
                found: String::from_utf8_lossy(&header.signature).into_owned(),
            });
        }
        let size = usize::try_from(header.header_size_bytes).unwrap_or(usize::MAX);
        if size < Self::SIZE || size > sector.len() {
            return Err(GptHeaderError::HeaderSize {
                found: header.header_size_bytes,
                sector_size,
            });
        }
        let mut copy = sector[..size].to_vec();
        copy[16..20].fill(0);
        let computed = crc32(&copy);
        if computed != header.header_crc32 {
            return Err(GptHeaderError::HeaderCrc { stored: header.header_crc32, computed });
        }
        Ok(header)
    }
}

/// The CRC32 UEFI uses (IEEE 802.3 polynomial, reflected, as zlib's `crc32`).
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(data);
    crc.sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> GptHeader {
        GptHeader {
            signature: GPT_SIGNATURE,
            revision: GPT_REVISION,
            header_size_bytes: 92,
            header_crc32: 0,
            reserved: 0,
            my_lba: 1,
            alternate_lba: 131_071,
            first_usable_lba: 34,
            last_usable_lba: 131_038,
            disk_guid: Guid::EFI_SYSTEM,
            partition_entry_lba: 2,
            number_of_partition_entries: 128,
            size_of_partition_entry_bytes: 128,
            partition_entry_array_crc32: 0xDEAD_BEEF,
        }
        .with_crc()
    }

    #[test]
    fn crc32_is_zlibs() {
        // The CRC-32 check value of "123456789".
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn round_trip_and_checks() {
        assert_eq!(GptHeader::SIZE, 92);
        let header = sample();
        let mut sector = vec![0u8; 512];
        let mut bytes = [0u8; GptHeader::SIZE];
        header.encode(&mut bytes);
        assert_eq!(&bytes[..16], b"EFI PART\x00\x00\x01\x00\x5c\x00\x00\x00");
        sector[..92].copy_from_slice(&bytes);
        assert_eq!(GptHeader::decode_checked(&sector), Ok(header));
        assert_eq!(GptHeader::decode(&bytes), header);

        let mut bad = sector.clone();
        bad[40] ^= 1;
        let err = GptHeader::decode_checked(&bad).unwrap_err().to_string();
        assert!(err.starts_with("HeaderCRC32 is 0x"), "{err}");
        let mut bad = sector.clone();
        bad[12] = 91;
        assert_eq!(
            GptHeader::decode_checked(&bad).unwrap_err().to_string(),
            "HeaderSize is 91 bytes, expected 92 to 512 (the sector size)"
        );
        let mut bad = sector.clone();
        bad[0] = b'X';
        assert_eq!(
            GptHeader::decode_checked(&bad).unwrap_err().to_string(),
            "signature is \"XFI PART\", expected \"EFI PART\""
        );
        assert!(GptHeader::decode_checked(&sector[..50]).is_err());
    }
}

//! The PE32+ optional header (Microsoft PE Format, "Optional Header (Image Only)"): 112 bytes
//! of standard and Windows-specific fields, then `NumberOfRvaAndSizes` data directories of 8
//! bytes each. PE32 (magic 0x10b) images are not supported.

/// `Magic` of a PE32+ image.
pub const PE32_PLUS_MAGIC: u16 = 0x020B;
/// Offset of `CheckSum` in the optional header.
pub const CHECKSUM_OFFSET: usize = 64;
/// Index of the certificate table (`IMAGE_DIRECTORY_ENTRY_SECURITY`) among the data
/// directories; its `VirtualAddress` is a file offset, not an RVA.
pub const CERTIFICATE_TABLE: usize = 4;
/// Index of the base relocation table.
pub const BASE_RELOCATION_TABLE: usize = 5;
/// Most data directories a PE32+ image has.
pub const MAX_DATA_DIRECTORIES: usize = 16;

/// `IMAGE_SUBSYSTEM_EFI_APPLICATION`.
pub const SUBSYSTEM_EFI_APPLICATION: u16 = 10;

/// One data directory: an RVA (a file offset for the certificate table) and a size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DataDirectory {
    /// `VirtualAddress`.
    pub virtual_address: u32,
    /// `Size` in bytes.
    pub size: u32,
}

impl DataDirectory {
    /// Encoded size in bytes.
    pub const SIZE: usize = 8;
}

/// The PE32+ optional header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionalHeader {
    /// `Magic`: 0x20b for PE32+.
    pub magic: u16,
    /// `MajorLinkerVersion`.
    pub major_linker_version: u8,
    /// `MinorLinkerVersion`.
    pub minor_linker_version: u8,
    /// `SizeOfCode`: "the sum of all code sections".
    pub size_of_code: u32,
    /// `SizeOfInitializedData`: "the sum of all initialized data sections".
    pub size_of_initialized_data: u32,
    /// `SizeOfUninitializedData`: "the sum of all BSS sections".
    pub size_of_uninitialized_data: u32,
    /// `AddressOfEntryPoint`: RVA of the entry point.
    pub address_of_entry_point: u32,
    /// `BaseOfCode`: RVA of the start of the code section.
    pub base_of_code: u32,
    /// `ImageBase`: preferred load address, a multiple of 64 KiB.
    pub image_base: u64,
    /// `SectionAlignment`: alignment of sections in memory; "must be greater than or equal
    /// to FileAlignment".
    pub section_alignment: u32,
    /// `FileAlignment`: alignment of section data in the file; "a power of 2 between 512 and
    /// 64 K" (EFI images also use smaller ones).
    pub file_alignment: u32,
    /// `MajorOperatingSystemVersion`.
    pub major_operating_system_version: u16,
    /// `MinorOperatingSystemVersion`.
    pub minor_operating_system_version: u16,
    /// `MajorImageVersion`.
    pub major_image_version: u16,
    /// `MinorImageVersion`.
    pub minor_image_version: u16,
    /// `MajorSubsystemVersion`.
    pub major_subsystem_version: u16,
    /// `MinorSubsystemVersion`.
    pub minor_subsystem_version: u16,
    /// `Win32VersionValue`: "reserved, must be zero".
    pub win32_version_value: u32,
    /// `SizeOfImage`: the size of the image in memory, "a multiple of SectionAlignment".
    pub size_of_image: u32,
    /// `SizeOfHeaders`: the MS-DOS stub, PE header and section headers "rounded up to a
    /// multiple of FileAlignment".
    pub size_of_headers: u32,
    /// `CheckSum`: the image file checksum (see [`crate::pe::checksum`]).
    pub check_sum: u32,
    /// `Subsystem`: 10 for an EFI application.
    pub subsystem: u16,
    /// `DllCharacteristics`: `IMAGE_DLLCHARACTERISTICS_*` flags (NX_COMPAT is 0x100).
    pub dll_characteristics: u16,
    /// `SizeOfStackReserve`.
    pub size_of_stack_reserve: u64,
    /// `SizeOfStackCommit`.
    pub size_of_stack_commit: u64,
    /// `SizeOfHeapReserve`.
    pub size_of_heap_reserve: u64,
    /// `SizeOfHeapCommit`.
    pub size_of_heap_commit: u64,
    /// `LoaderFlags`: "reserved, must be zero".
    pub loader_flags: u32,
    /// The data directories; `NumberOfRvaAndSizes` is their count (at most 16).
    pub data_directories: Vec<DataDirectory>,
}

/// An optional header that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OptionalHeaderError {
    /// Not PE32+.
    #[error("optional header magic is {found:#x}, expected 0x20b (PE32+)")]
    Magic {
        /// The magic found.
        found: u16,
    },
    /// `SizeOfOptionalHeader` too small for the fields and the directories.
    #[error(
        "SizeOfOptionalHeader is {size} bytes, the fields and {directories} data directories need {needed}"
    )]
    TooSmall {
        /// `SizeOfOptionalHeader`.
        size: usize,
        /// `NumberOfRvaAndSizes`.
        directories: u32,
        /// Bytes needed.
        needed: usize,
    },
    /// More than 16 data directories.
    #[error("NumberOfRvaAndSizes is {found}, expected at most 16")]
    TooManyDirectories {
        /// The count found.
        found: u32,
    },
}

impl OptionalHeader {
    /// Size in bytes of the fields before the data directories.
    pub const FIXED_SIZE: usize = 112;

    /// Bytes the header needs: the fields and the data directories.
    pub fn encoded_len(&self) -> usize {
        Self::FIXED_SIZE + self.data_directories.len() * DataDirectory::SIZE
    }

    /// Writes the header into the first [`OptionalHeader::encoded_len`] bytes of `out`; returns
    /// `None` if `out` is shorter or there are more than 16 directories.
    pub fn encode(&self, out: &mut [u8]) -> Option<()> {
        let count = u32::try_from(self.data_directories.len()).ok()?;
        if self.data_directories.len() > MAX_DATA_DIRECTORIES {
            return None;
        }
        let out = out.get_mut(..self.encoded_len())?;
        out[0..2].copy_from_slice(&self.magic.to_le_bytes());
        out[2] = self.major_linker_version;
        out[3] = self.minor_linker_version;
        out[4..8].copy_from_slice(&self.size_of_code.to_le_bytes());
        out[8..12].copy_from_slice(&self.size_of_initialized_data.to_le_bytes());
        out[12..16].copy_from_slice(&self.size_of_uninitialized_data.to_le_bytes());
        out[16..20].copy_from_slice(&self.address_of_entry_point.to_le_bytes());
        out[20..24].copy_from_slice(&self.base_of_code.to_le_bytes());
        out[24..32].copy_from_slice(&self.image_base.to_le_bytes());
        out[32..36].copy_from_slice(&self.section_alignment.to_le_bytes());
        out[36..40].copy_from_slice(&self.file_alignment.to_le_bytes());
        out[40..42].copy_from_slice(&self.major_operating_system_version.to_le_bytes());
        out[42..44].copy_from_slice(&self.minor_operating_system_version.to_le_bytes());
        out[44..46].copy_from_slice(&self.major_image_version.to_le_bytes());
        out[46..48].copy_from_slice(&self.minor_image_version.to_le_bytes());
        out[48..50].copy_from_slice(&self.major_subsystem_version.to_le_bytes());
        out[50..52].copy_from_slice(&self.minor_subsystem_version.to_le_bytes());
        out[52..56].copy_from_slice(&self.win32_version_value.to_le_bytes());
        out[56..60].copy_from_slice(&self.size_of_image.to_le_bytes());
        out[60..64].copy_from_slice(&self.size_of_headers.to_le_bytes());
        out[64..68].copy_from_slice(&self.check_sum.to_le_bytes());
        out[68..70].copy_from_slice(&self.subsystem.to_le_bytes());
        out[70..72].copy_from_slice(&self.dll_characteristics.to_le_bytes());
        out[72..80].copy_from_slice(&self.size_of_stack_reserve.to_le_bytes());
        out[80..88].copy_from_slice(&self.size_of_stack_commit.to_le_bytes());
        out[88..96].copy_from_slice(&self.size_of_heap_reserve.to_le_bytes());
        out[96..104].copy_from_slice(&self.size_of_heap_commit.to_le_bytes());
        out[104..108].copy_from_slice(&self.loader_flags.to_le_bytes());
        out[108..112].copy_from_slice(&count.to_le_bytes());
        for (idx, directory) in self.data_directories.iter().enumerate() {
            let at = Self::FIXED_SIZE + idx * DataDirectory::SIZE;
            out[at..at + 4].copy_from_slice(&directory.virtual_address.to_le_bytes());
            out[at + 4..at + 8].copy_from_slice(&directory.size.to_le_bytes());
        }
        Some(())
    }

    /// Parses the `SizeOfOptionalHeader` bytes of a PE32+ optional header.
    pub fn decode(bytes: &[u8]) -> Result<OptionalHeader, OptionalHeaderError> {
        let too_small = |directories: u32, needed: usize| OptionalHeaderError::TooSmall {
            size: bytes.len(),
            directories,
            needed,
        };
        if bytes.len() < 2 {
            return Err(too_small(0, Self::FIXED_SIZE));
        }
        let magic = u16::from_le_bytes([bytes[0], bytes[1]]);
        if magic != PE32_PLUS_MAGIC {
            return Err(OptionalHeaderError::Magic { found: magic });
        }
        if bytes.len() < Self::FIXED_SIZE {
            return Err(too_small(0, Self::FIXED_SIZE));
        }
        let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
        let u32_at = |at: usize| {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let u64_at = |at: usize| u64::from(u32_at(at)) | u64::from(u32_at(at + 4)) << 32;
        let count = u32_at(108);
        let count_usize = usize::try_from(count).unwrap_or(usize::MAX);
        if count_usize > MAX_DATA_DIRECTORIES {
            return Err(OptionalHeaderError::TooManyDirectories { found: count });
        }
        let needed = Self::FIXED_SIZE + count_usize * DataDirectory::SIZE;
        if bytes.len() < needed {
            return Err(too_small(count, needed));
        }
        let data_directories = (0..count_usize)
            .map(|idx| {
                let at = Self::FIXED_SIZE + idx * DataDirectory::SIZE;
                DataDirectory { virtual_address: u32_at(at), size: u32_at(at + 4) }
            })
            .collect();
        Ok(OptionalHeader {
            magic,
            major_linker_version: bytes[2],
            minor_linker_version: bytes[3],
            size_of_code: u32_at(4),
            size_of_initialized_data: u32_at(8),
            size_of_uninitialized_data: u32_at(12),
            address_of_entry_point: u32_at(16),
            base_of_code: u32_at(20),
            image_base: u64_at(24),
            section_alignment: u32_at(32),
            file_alignment: u32_at(36),
            major_operating_system_version: u16_at(40),
            minor_operating_system_version: u16_at(42),
            major_image_version: u16_at(44),
            minor_image_version: u16_at(46),
            major_subsystem_version: u16_at(48),
            minor_subsystem_version: u16_at(50),
            win32_version_value: u32_at(52),
            size_of_image: u32_at(56),
            size_of_headers: u32_at(60),
            check_sum: u32_at(64),
            subsystem: u16_at(68),
            dll_characteristics: u16_at(70),
            size_of_stack_reserve: u64_at(72),
            size_of_stack_commit: u64_at(80),
            size_of_heap_reserve: u64_at(88),
            size_of_heap_commit: u64_at(96),
            loader_flags: u32_at(104),
            data_directories,
        })
    }

    /// The data directory at `idx`, or an empty one when the image has fewer.
    pub fn directory(&self, idx: usize) -> DataDirectory {
        self.data_directories.get(idx).copied().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> OptionalHeader {
        OptionalHeader {
            magic: PE32_PLUS_MAGIC,
            major_linker_version: 2,
            minor_linker_version: 40,
            size_of_code: 0xC000,
            size_of_initialized_data: 0x5000,
            size_of_uninitialized_data: 0,
            address_of_entry_point: 0x4000,
            base_of_code: 0x4000,
            image_base: 0x1_0000_0000,
            section_alignment: 0x200,
            file_alignment: 0x200,
            major_operating_system_version: 0,
            minor_operating_system_version: 0,
            major_image_version: 0,
            minor_image_version: 0,
            major_subsystem_version: 0,
            minor_subsystem_version: 0,
            win32_version_value: 0,
            size_of_image: 0x19300,
            size_of_headers: 0x400,
            check_sum: 0x1AA6C,
            subsystem: SUBSYSTEM_EFI_APPLICATION,
            dll_characteristics: 0,
            size_of_stack_reserve: 0,
            size_of_stack_commit: 0,
            size_of_heap_reserve: 0,
            size_of_heap_commit: 0,
            loader_flags: 0,
            data_directories: vec![
                DataDirectory::default(),
                DataDirectory::default(),
                DataDirectory::default(),
                DataDirectory::default(),
                DataDirectory::default(),
                DataDirectory { virtual_address: 0x10000, size: 0xC },
            ],
        }
    }

    #[test]
    fn round_trip() {
        let header = sample();
        assert_eq!(header.encoded_len(), 112 + 6 * 8);
        let mut bytes = vec![0xFFu8; 240];
        header.encode(&mut bytes).unwrap();
        assert_eq!(bytes[..2], [0x0B, 0x02]);
        assert_eq!(bytes[CHECKSUM_OFFSET..CHECKSUM_OFFSET + 4], [0x6C, 0xAA, 0x01, 0x00]);
        assert_eq!(bytes[24..32], [0, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(bytes[108..112], [6, 0, 0, 0]);
        assert_eq!(bytes[152..160], [0, 0, 1, 0, 0x0C, 0, 0, 0]);
        // Bytes after the directories are left alone.
        assert_eq!(bytes[160], 0xFF);
        assert_eq!(OptionalHeader::decode(&bytes[..160]), Ok(header.clone()));
        assert_eq!(header.directory(BASE_RELOCATION_TABLE).size, 0xC);
        assert_eq!(header.directory(15), DataDirectory::default());
        assert!(header.encode(&mut bytes[..159]).is_none());
    }

    #[test]
    fn decode_errors() {
        let mut bytes = vec![0u8; 240];
        sample().encode(&mut bytes).unwrap();
        assert_eq!(
            OptionalHeader::decode(&bytes[..150]).unwrap_err().to_string(),
            "SizeOfOptionalHeader is 150 bytes, the fields and 6 data directories need 160"
        );
        bytes[108] = 17;
        assert_eq!(
            OptionalHeader::decode(&bytes).unwrap_err().to_string(),
            "NumberOfRvaAndSizes is 17, expected at most 16"
        );
        bytes[0] = 0x0B;
        bytes[1] = 0x01;
        assert_eq!(
            OptionalHeader::decode(&bytes).unwrap_err().to_string(),
            "optional header magic is 0x10b, expected 0x20b (PE32+)"
        );
        assert!(OptionalHeader::decode(&[]).is_err());
        assert!(OptionalHeader::decode(&bytes[..100]).is_err());
    }
}

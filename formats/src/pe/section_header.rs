//! A section table entry (Microsoft PE Format, "Section Table (Section Headers)"): 40 bytes.

/// `IMAGE_SCN_CNT_CODE`: the section contains executable code.
pub const SCN_CNT_CODE: u32 = 0x0000_0020;
/// `IMAGE_SCN_CNT_INITIALIZED_DATA`: the section contains initialized data.
pub const SCN_CNT_INITIALIZED_DATA: u32 = 0x0000_0040;
/// `IMAGE_SCN_CNT_UNINITIALIZED_DATA`: the section contains uninitialized data.
pub const SCN_CNT_UNINITIALIZED_DATA: u32 = 0x0000_0080;
/// `IMAGE_SCN_MEM_DISCARDABLE`: the section can be discarded as needed.
pub const SCN_MEM_DISCARDABLE: u32 = 0x0200_0000;
/// `IMAGE_SCN_MEM_EXECUTE`: the section can be executed as code.
pub const SCN_MEM_EXECUTE: u32 = 0x2000_0000;
/// `IMAGE_SCN_MEM_READ`: the section can be read.
pub const SCN_MEM_READ: u32 = 0x4000_0000;
/// `IMAGE_SCN_MEM_WRITE`: the section can be written to.
pub const SCN_MEM_WRITE: u32 = 0x8000_0000;

/// One section header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SectionHeader {
    /// `Name`: 8 bytes, NUL-padded UTF-8; "executable images do not use a string table and do
    /// not support section names longer than 8 characters".
    pub name: [u8; 8],
    /// `VirtualSize`: the size of the section when loaded into memory; "if this value is
    /// greater than SizeOfRawData, the section is zero-padded".
    pub virtual_size: u32,
    /// `VirtualAddress`: the address of the first byte relative to the image base when loaded.
    pub virtual_address: u32,
    /// `SizeOfRawData`: the size of the initialized data on disk; "must be a multiple of
    /// FileAlignment".
    pub size_of_raw_data: u32,
    /// `PointerToRawData`: file offset of the data; "must be a multiple of FileAlignment".
    pub pointer_to_raw_data: u32,
    /// `PointerToRelocations`: 0 for images.
    pub pointer_to_relocations: u32,
    /// `PointerToLinenumbers`: 0 for images (COFF line numbers are deprecated).
    pub pointer_to_linenumbers: u32,
    /// `NumberOfRelocations`: 0 for images.
    pub number_of_relocations: u16,
    /// `NumberOfLinenumbers`.
    pub number_of_linenumbers: u16,
    /// `Characteristics`: `IMAGE_SCN_*` flags.
    pub characteristics: u32,
}

impl SectionHeader {
    /// Encoded size in bytes.
    pub const SIZE: usize = 40;

    /// Writes the header.
    pub fn encode(&self, out: &mut [u8; Self::SIZE]) {
        out[0..8].copy_from_slice(&self.name);
        out[8..12].copy_from_slice(&self.virtual_size.to_le_bytes());
        out[12..16].copy_from_slice(&self.virtual_address.to_le_bytes());
        out[16..20].copy_from_slice(&self.size_of_raw_data.to_le_bytes());
        out[20..24].copy_from_slice(&self.pointer_to_raw_data.to_le_bytes());
        out[24..28].copy_from_slice(&self.pointer_to_relocations.to_le_bytes());
        out[28..32].copy_from_slice(&self.pointer_to_linenumbers.to_le_bytes());
        out[32..34].copy_from_slice(&self.number_of_relocations.to_le_bytes());
        out[34..36].copy_from_slice(&self.number_of_linenumbers.to_le_bytes());
        out[36..40].copy_from_slice(&self.characteristics.to_le_bytes());
    }

    /// Parses the header (any bytes are a header).
    pub fn decode(bytes: &[u8; Self::SIZE]) -> SectionHeader {
        let u32_at = |at: usize| {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let mut name = [0u8; 8];
        name.copy_from_slice(&bytes[0..8]);
        SectionHeader {
            name,
            virtual_size: u32_at(8),
            virtual_address: u32_at(12),
            size_of_raw_data: u32_at(16),
            pointer_to_raw_data: u32_at(20),
            pointer_to_relocations: u32_at(24),
            pointer_to_linenumbers: u32_at(28),
            number_of_relocations: u16::from_le_bytes([bytes[32], bytes[33]]),
            number_of_linenumbers: u16::from_le_bytes([bytes[34], bytes[35]]),
            characteristics: u32_at(36),
        }
    }

    /// The name without its NUL padding, lossily decoded.
    pub fn name(&self) -> String {
        let end = self.name.iter().position(|b| *b == 0).unwrap_or(self.name.len());
        String::from_utf8_lossy(&self.name[..end]).into_owned()
    }

    /// A name padded to 8 bytes; `None` if longer than 8 bytes.
    pub fn encode_name(name: &str) -> Option<[u8; 8]> {
        let bytes = name.as_bytes();
        let mut out = [0u8; 8];
        out.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        assert_eq!(SectionHeader::SIZE, 8 + 6 * 4 + 2 * 2 + 4);
        // The .sbat header of systemd 252's linuxx64.efi.stub.
        let header = SectionHeader {
            name: SectionHeader::encode_name(".sbat").unwrap(),
            virtual_size: 0xE2,
            virtual_address: 0x19000,
            size_of_raw_data: 0x200,
            pointer_to_raw_data: 0x11000,
            pointer_to_relocations: 0,
            pointer_to_linenumbers: 0,
            number_of_relocations: 0,
            number_of_linenumbers: 0,
            characteristics: SCN_CNT_INITIALIZED_DATA | SCN_MEM_READ,
        };
        let mut bytes = [0u8; SectionHeader::SIZE];
        header.encode(&mut bytes);
        assert_eq!(&bytes[..8], b".sbat\0\0\0");
        assert_eq!(bytes[36..], [0x40, 0, 0, 0x40]);
        assert_eq!(SectionHeader::decode(&bytes), header);
        assert_eq!(header.name(), ".sbat");
        assert_eq!(SectionHeader::encode_name(".dynamic").unwrap(), *b".dynamic");
        assert_eq!(SectionHeader::encode_name(".toolong!"), None);
    }
}

//! The PE signature and the COFF file header (Microsoft PE Format, "Signature (Image Only)" and
//! "COFF File Header (Object and Image)"): "PE\0\0" at `e_lfanew`, then 20 bytes.

/// "PE\0\0".
pub const PE_SIGNATURE: [u8; 4] = *b"PE\0\0";

/// `IMAGE_FILE_MACHINE_AMD64`: x64.
pub const MACHINE_AMD64: u16 = 0x8664;
/// `IMAGE_FILE_MACHINE_ARM64`: ARM64 little endian.
pub const MACHINE_ARM64: u16 = 0xAA64;

/// `IMAGE_FILE_EXECUTABLE_IMAGE`: the image is valid and can be run.
pub const FILE_EXECUTABLE_IMAGE: u16 = 0x0002;
/// `IMAGE_FILE_LOCAL_SYMS_STRIPPED`: COFF symbol table entries for local symbols have been
/// removed (deprecated; ukify sets it when it strips a symbol table).
pub const FILE_LOCAL_SYMS_STRIPPED: u16 = 0x0008;

/// The COFF file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoffHeader {
    /// `Machine`: the target CPU type, such as [`MACHINE_AMD64`].
    pub machine: u16,
    /// `NumberOfSections`: entries of the section table, which follows the optional header.
    pub number_of_sections: u16,
    /// `TimeDateStamp`: seconds since 1970 when the file was created (0 in reproducible
    /// builds).
    pub time_date_stamp: u32,
    /// `PointerToSymbolTable`: file offset of the COFF symbol table, 0 if none; "should be
    /// zero for an image because COFF debugging information is deprecated".
    pub pointer_to_symbol_table: u32,
    /// `NumberOfSymbols`: entries (18 bytes each) in the symbol table; the string table
    /// follows it, starting with its own 4-byte size.
    pub number_of_symbols: u32,
    /// `SizeOfOptionalHeader`: in bytes; required for images.
    pub size_of_optional_header: u16,
    /// `Characteristics`: `IMAGE_FILE_*` flags.
    pub characteristics: u16,
}

impl CoffHeader {
    /// Encoded size in bytes.
    pub const SIZE: usize = 20;

    /// Writes the header.
    pub fn encode(&self, out: &mut [u8; Self::SIZE]) {
        out[0..2].copy_from_slice(&self.machine.to_le_bytes());
        out[2..4].copy_from_slice(&self.number_of_sections.to_le_bytes());
        out[4..8].copy_from_slice(&self.time_date_stamp.to_le_bytes());
        out[8..12].copy_from_slice(&self.pointer_to_symbol_table.to_le_bytes());
        out[12..16].copy_from_slice(&self.number_of_symbols.to_le_bytes());
        out[16..18].copy_from_slice(&self.size_of_optional_header.to_le_bytes());
        out[18..20].copy_from_slice(&self.characteristics.to_le_bytes());
    }

    /// Parses the header (any bytes are a header).
    pub fn decode(bytes: &[u8; Self::SIZE]) -> CoffHeader {
        let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
        let u32_at = |at: usize| {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        CoffHeader {
            machine: u16_at(0),
            number_of_sections: u16_at(2),
            time_date_stamp: u32_at(4),
            pointer_to_symbol_table: u32_at(8),
            number_of_symbols: u32_at(12),
            size_of_optional_header: u16_at(16),
            characteristics: u16_at(18),
        }
    }
}

/// A readable name for a machine type.
pub fn machine_name(machine: u16) -> String {
    match machine {
        MACHINE_AMD64 => "x86-64 (0x8664)".to_owned(),
        MACHINE_ARM64 => "arm64 (0xaa64)".to_owned(),
        0x014C => "i386 (0x14c)".to_owned(),
        0x01C4 => "arm (0x1c4)".to_owned(),
        0x5064 => "riscv64 (0x5064)".to_owned(),
        0x6264 => "loongarch64 (0x6264)".to_owned(),
        other => format!("{other:#x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        assert_eq!(CoffHeader::SIZE, 2 + 2 + 4 + 4 + 4 + 2 + 2);
        // The COFF header of systemd 252's linuxx64.efi.stub, as pefile shows it.
        let header = CoffHeader {
            machine: MACHINE_AMD64,
            number_of_sections: 8,
            time_date_stamp: 0,
            pointer_to_symbol_table: 0x11400,
            number_of_symbols: 0x16A,
            size_of_optional_header: 0xF0,
            characteristics: 0x206,
        };
        let mut bytes = [0u8; CoffHeader::SIZE];
        header.encode(&mut bytes);
        assert_eq!(bytes[..4], [0x64, 0x86, 8, 0]);
        assert_eq!(bytes[8..12], [0x00, 0x14, 0x01, 0x00]);
        assert_eq!(CoffHeader::decode(&bytes), header);
        assert_eq!(machine_name(MACHINE_ARM64), "arm64 (0xaa64)");
        assert_eq!(machine_name(0x1234), "0x1234");
    }
}

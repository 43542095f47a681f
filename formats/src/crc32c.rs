//! CRC-32C (Castagnoli), shared by the formats that checksum with it (EROFS superblocks,
//! VHDX headers, region and metadata tables).

/// CRC-32C (Castagnoli, reflected polynomial 0x82f63b78) without the final inversion, as the
/// kernel's `crc32c()` and erofs-utils' `erofs_crc32c()` compute it; a 256-entry table built at
/// compile time.
pub(crate) fn crc32c(seed: u32, data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut idx = 0;
        let mut value: u32 = 0;
        while idx < 256 {
            let mut crc = value;
            let mut bit = 0;
            while bit < 8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0x82f6_3b78 } else { crc >> 1 };
                bit += 1;
            }
            table[idx] = crc;
            idx += 1;
            value += 1;
        }
        table
    };
    let mut crc = seed;
    for byte in data {
        crc = TABLE[usize::from((crc ^ u32::from(*byte)).to_le_bytes()[0])] ^ (crc >> 8);
    }
    crc
}

/// The standard CRC-32C (initial value and final XOR `!0`) of `data`, as RFC 3720 and MS-VHDX
/// use it.
pub(crate) fn crc32c_standard(data: &[u8]) -> u32 {
    !crc32c(!0, data)
}

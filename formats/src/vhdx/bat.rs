//! BAT entries of a VHDX (MS-VHDX §2.5.1): a little-endian `u64` whose bits 0..3 are the
//! `State` and bits 20..64 the `FileOffsetMB`.

/// One BAT entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatEntry {
    /// `State`: a `PAYLOAD_BLOCK_*` value for payload entries, `SB_BLOCK_*` for sector bitmap
    /// entries (3 bits).
    pub state: u8,
    /// `FileOffsetMB`: the block's offset in the file in MiB (44 bits; 0 when not present).
    pub file_offset_mb: u64,
}

impl BatEntry {
    /// Encoded size.
    pub const SIZE: usize = 8;

    /// Encodes (state cut to 3 bits, offset to 44).
    pub fn encode(&self, out: &mut [u8; Self::SIZE]) {
        let value = ((self.file_offset_mb & ((1 << 44) - 1)) << 20) | u64::from(self.state & 7);
        *out = value.to_le_bytes();
    }

    /// Decodes (reserved bits 3..20 ignored).
    pub fn decode(bytes: &[u8; Self::SIZE]) -> BatEntry {
        let value = u64::from_le_bytes(*bytes);
        BatEntry { state: value.to_le_bytes()[0] & 7, file_offset_mb: value >> 20 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        assert_eq!(BatEntry::SIZE, 8);
        let entry = BatEntry { state: 6, file_offset_mb: 36 };
        let mut bytes = [0u8; BatEntry::SIZE];
        entry.encode(&mut bytes);
        assert_eq!(bytes, [6, 0, 0x40, 0x02, 0, 0, 0, 0]);
        assert_eq!(BatEntry::decode(&bytes), entry);
    }
}

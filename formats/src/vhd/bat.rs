//! The Block Allocation Table of a dynamic VHD ("Block Allocation Table and Data Blocks"): one
//! big-endian `u32` per block, the sector offset of the block's bitmap, or `0xFFFFFFFF` for a
//! block not allocated; the table is padded to a sector with `0xFF`.

/// The entry of a block that is not allocated.
pub const UNUSED: u32 = u32::MAX;

/// A decoded BAT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bat {
    /// Per block, the sector of its bitmap or [`UNUSED`].
    pub entries: Vec<u32>,
}

impl Bat {
    /// Bytes the table takes on disk: 4 per entry, rounded up to a 512-byte sector.
    pub fn size_bytes(n_entries: u64) -> u64 {
        (n_entries * 4).div_ceil(512) * 512
    }

    /// Encodes the table, padded to a sector with `0xFF`.
    pub fn encode(&self) -> Vec<u8> {
        let n_entries = u64::try_from(self.entries.len()).unwrap_or(u64::MAX);
        let mut out = Vec::with_capacity(usize::try_from(Self::size_bytes(n_entries)).unwrap_or(0));
        for entry in &self.entries {
            out.extend_from_slice(&entry.to_be_bytes());
        }
        out.resize(usize::try_from(Self::size_bytes(n_entries)).unwrap_or(out.len()), 0xff);
        out
    }

    /// Decodes the entries in `bytes` (4 bytes each; a trailing partial entry is ignored).
    pub fn decode(bytes: &[u8]) -> Bat {
        Bat {
            entries: bytes
                .chunks_exact(4)
                .map(|e| u32::from_be_bytes([e[0], e[1], e[2], e[3]]))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_padding() {
        let bat = Bat { entries: vec![4, UNUSED, 4101] };
        let bytes = bat.encode();
        assert_eq!(bytes.len(), 512);
        assert_eq!(&bytes[..12], &[0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff, 0, 0, 0x10, 0x05]);
        assert!(bytes[12..].iter().all(|b| *b == 0xff));
        assert_eq!(Bat::decode(&bytes[..12]), bat);
        assert_eq!(Bat::size_bytes(128), 512);
        assert_eq!(Bat::size_bytes(129), 1024);
    }
}

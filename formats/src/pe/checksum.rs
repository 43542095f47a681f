//! The PE image checksum (`CheckSum` of the optional header), as `CheckSumMappedFile` in
//! imagehlp computes it and binutils and pefile reproduce it: the one's-complement sum of the
//! file's little-endian 16-bit words, with the `CheckSum` field read as zero and a last odd byte
//! taken as a word with a zero high byte, folded to 16 bits, plus the file's length.
//!
//! [`PeChecksum`] computes it over bytes given in order, so a writer can stream a large image
//! once and patch the field afterwards.

/// A running PE checksum over bytes given in file order.
#[derive(Debug, Clone, Default)]
pub struct PeChecksum {
    /// Sum of the 16-bit words so far (up to 2^32 words of at most 0xFFFF: no overflow).
    sum: u64,
    /// The low byte of a word whose high byte has not been seen yet.
    pending: Option<u8>,
    /// Bytes seen.
    len_bytes: u64,
}

impl PeChecksum {
    /// A checksum over no bytes.
    pub fn new() -> PeChecksum {
        PeChecksum::default()
    }

    /// Adds the next bytes of the file. The caller gives zeros in place of the `CheckSum`
    /// field.
    pub fn update(&mut self, mut data: &[u8]) {
        self.len_bytes += u64::try_from(data.len()).unwrap_or(u64::MAX);
        if let Some(low) = self.pending.take() {
            let Some((high, rest)) = data.split_first() else {
                self.pending = Some(low);
                return;
            };
            self.sum += u64::from(u16::from_le_bytes([low, *high]));
            data = rest;
        }
        let mut words = data.chunks_exact(2);
        for word in &mut words {
            self.sum += u64::from(u16::from_le_bytes([word[0], word[1]]));
        }
        if let [last] = words.remainder() {
            self.pending = Some(*last);
        }
    }

    /// Bytes given so far.
    pub fn len_bytes(&self) -> u64 {
        self.len_bytes
    }

    /// The checksum of the whole file.
    pub fn finish(&self) -> u32 {
        let mut sum = self.sum + self.pending.map_or(0, u64::from);
        while sum > 0xFFFF {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }
        // sum <= 0xFFFF; PE images are smaller than 4 GiB, so the length fits 32 bits.
        let length = u32::try_from(self.len_bytes).unwrap_or(u32::MAX);
        u32::try_from(sum).unwrap_or(0).wrapping_add(length)
    }
}

/// The checksum of `image`, whose `CheckSum` field is at `checksum_offset` (read as zero).
pub fn checksum(image: &[u8], checksum_offset: usize) -> u32 {
    let mut sum = PeChecksum::new();
    let field_end = checksum_offset.saturating_add(4).min(image.len());
    let field_start = checksum_offset.min(image.len());
    sum.update(&image[..field_start]);
    sum.update(&[0u8; 4][..field_end - field_start]);
    sum.update(&image[field_end..]);
    sum.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_cases() {
        // Words 0x0201 + 0x0403 = 0x0604, plus 4 bytes.
        assert_eq!(checksum(&[1, 2, 3, 4], 100), 0x0604 + 4);
        // An odd last byte is a word with a zero high byte.
        assert_eq!(checksum(&[1, 2, 3], 100), 0x0201 + 0x03 + 3);
        // Carries fold back: 0xFFFF + 0x0002 = 0x10001 -> 0x0002.
        assert_eq!(checksum(&[0xFF, 0xFF, 0x02, 0x00], 100), 0x0002 + 4);
        // The field reads as zero.
        assert_eq!(checksum(&[9, 9, 9, 9, 1, 0], 0), 1 + 6);
        assert_eq!(checksum(&[], 0), 0);
    }

    #[test]
    fn any_split_gives_the_same_sum() {
        let data: Vec<u8> = (0..1001u32).map(|i| u8::try_from(i * 7 % 256).unwrap()).collect();
        let whole = checksum(&data, 2000);
        for split in [0, 1, 2, 3, 500, 999, 1000, 1001] {
            let mut sum = PeChecksum::new();
            sum.update(&data[..split]);
            sum.update(&[]);
            for byte in &data[split..] {
                sum.update(&[*byte]);
            }
            assert_eq!(sum.finish(), whole, "split at {split}");
            assert_eq!(sum.len_bytes(), 1001);
        }
    }
}

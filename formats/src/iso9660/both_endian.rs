//! ECMA-119 numerical values (section 7): 8-bit (7.1.1), 16-bit both-byte orders (7.2.3),
//! 32-bit little-endian (7.3.1), big-endian (7.3.2) and both-byte orders (7.3.3).
//!
//! A both-byte-order field holds the value twice: little-endian first, then big-endian.
//! Readers here take the little-endian half, as the Linux kernel's `isonum_733` does; images
//! whose halves disagree exist, and the little-endian half is the one every reader uses.

/// 7.2.3: a 16-bit value as 4 bytes, little-endian then big-endian.
pub(crate) fn u16_both(value: u16) -> [u8; 4] {
    let le = value.to_le_bytes();
    let be = value.to_be_bytes();
    [le[0], le[1], be[0], be[1]]
}

/// 7.3.3: a 32-bit value as 8 bytes, little-endian then big-endian.
pub(crate) fn u32_both(value: u32) -> [u8; 8] {
    let le = value.to_le_bytes();
    let be = value.to_be_bytes();
    [le[0], le[1], le[2], le[3], be[0], be[1], be[2], be[3]]
}

/// Reads the little-endian half of a 7.2.3 field.
pub(crate) fn read_u16_both(bytes: [u8; 4]) -> u16 {
    u16::from_le_bytes([bytes[0], bytes[1]])
}

/// Reads the little-endian half of a 7.3.3 field.
pub(crate) fn read_u32_both(bytes: [u8; 8]) -> u32 {
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// The `N` bytes of `bytes` starting at `at`, as an array. Callers pass in-bounds ranges of
/// fixed-size buffers; a short slice yields zeros rather than a panic.
pub(crate) fn array<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = bytes.get(at..at + N) {
        out.copy_from_slice(src);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_byte_orders() {
        assert_eq!(u16_both(0x0102), [0x02, 0x01, 0x01, 0x02]);
        assert_eq!(u32_both(0x0102_0304), [4, 3, 2, 1, 1, 2, 3, 4]);
        assert_eq!(read_u16_both(u16_both(2048)), 2048);
        assert_eq!(read_u32_both(u32_both(0xdead_beef)), 0xdead_beef);
        // Only the little-endian half counts.
        assert_eq!(read_u32_both([1, 0, 0, 0, 9, 9, 9, 9]), 1);
        assert_eq!(array::<2>(b"abc", 1), *b"bc");
        assert_eq!(array::<2>(b"abc", 2), [0, 0]);
    }
}

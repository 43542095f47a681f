//! The MS-DOS header at the start of every PE image (`IMAGE_DOS_HEADER` in winnt.h; Microsoft
//! PE Format, "MS-DOS Stub (Image Only)"): 64 bytes, of which a PE loader reads `e_magic` and
//! `e_lfanew`, the file offset of the PE signature.

/// `MZ`, little-endian.
pub const DOS_MAGIC: u16 = 0x5A4D;

/// `IMAGE_DOS_HEADER`; all fields little-endian.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DosHeader {
    /// `e_magic`: "MZ".
    pub e_magic: u16,
    /// `e_cblp` to `e_ovno` (13 words of the DOS executable header: bytes on last page, pages,
    /// relocations, header paragraphs, min/max allocation, SS, SP, checksum, IP, CS,
    /// relocation table offset, overlay number), kept as read.
    pub dos_fields: [u16; 13],
    /// `e_res`: reserved words.
    pub e_res: [u16; 4],
    /// `e_oemid`.
    pub e_oemid: u16,
    /// `e_oeminfo`.
    pub e_oeminfo: u16,
    /// `e_res2`: reserved words.
    pub e_res2: [u16; 10],
    /// `e_lfanew`: file offset of the "PE\0\0" signature.
    pub e_lfanew: u32,
}

impl DosHeader {
    /// Encoded size in bytes.
    pub const SIZE: usize = 64;

    /// Writes the header.
    pub fn encode(&self, out: &mut [u8; Self::SIZE]) {
        let words = self.words();
        for (idx, word) in words.iter().enumerate() {
            out[idx * 2..idx * 2 + 2].copy_from_slice(&word.to_le_bytes());
        }
        out[60..64].copy_from_slice(&self.e_lfanew.to_le_bytes());
    }

    /// Parses the header (no checks: [`crate::pe::read`] checks `e_magic`).
    pub fn decode(bytes: &[u8; Self::SIZE]) -> DosHeader {
        let word = |idx: usize| u16::from_le_bytes([bytes[idx * 2], bytes[idx * 2 + 1]]);
        let mut dos_fields = [0u16; 13];
        for (idx, field) in dos_fields.iter_mut().enumerate() {
            *field = word(1 + idx);
        }
        let mut e_res = [0u16; 4];
        for (idx, field) in e_res.iter_mut().enumerate() {
            *field = word(14 + idx);
        }
        let mut e_res2 = [0u16; 10];
        for (idx, field) in e_res2.iter_mut().enumerate() {
            *field = word(20 + idx);
        }
        DosHeader {
            e_magic: word(0),
            dos_fields,
            e_res,
            e_oemid: word(18),
            e_oeminfo: word(19),
            e_res2,
            e_lfanew: u32::from_le_bytes([bytes[60], bytes[61], bytes[62], bytes[63]]),
        }
    }

    /// The 30 words before `e_lfanew`, in order.
    fn words(&self) -> [u16; 30] {
        let mut words = [0u16; 30];
        words[0] = self.e_magic;
        words[1..14].copy_from_slice(&self.dos_fields);
        words[14..18].copy_from_slice(&self.e_res);
        words[18] = self.e_oemid;
        words[19] = self.e_oeminfo;
        words[20..30].copy_from_slice(&self.e_res2);
        words
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        assert_eq!(DosHeader::SIZE, 30 * 2 + 4);
        let mut bytes = [0u8; DosHeader::SIZE];
        for (idx, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::try_from(idx).unwrap();
        }
        bytes[0..2].copy_from_slice(b"MZ");
        bytes[60..64].copy_from_slice(&0x80u32.to_le_bytes());
        let header = DosHeader::decode(&bytes);
        assert_eq!((header.e_magic, header.e_lfanew), (DOS_MAGIC, 0x80));
        assert_eq!(header.e_oemid, u16::from_le_bytes([36, 37]));
        let mut out = [0u8; DosHeader::SIZE];
        header.encode(&mut out);
        assert_eq!(out, bytes);
    }
}

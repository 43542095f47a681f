//! The hard disk footer: the last 512 bytes of every VHD (and a copy at byte 0 of a dynamic
//! one). All fields big-endian ("Virtual Hard Disk Image Format Specification", "Hard Disk
//! Footer Format").

/// `Cookie`.
pub const COOKIE: [u8; 8] = *b"conectix";
/// `Features`: bit 1 is reserved and always set.
pub const FEATURES_RESERVED: u32 = 0x0000_0002;
/// `File Format Version` 1.0.
pub const FILE_FORMAT_VERSION: u32 = 0x0001_0000;
/// `Data Offset` of a fixed disk.
pub const NO_DATA_OFFSET: u64 = u64::MAX;
/// `Creator Host OS` "Wi2k".
pub const HOST_OS_WINDOWS: u32 = 0x5769_326B;
/// `Disk Type` fixed.
pub const DISK_TYPE_FIXED: u32 = 2;
/// `Disk Type` dynamic.
pub const DISK_TYPE_DYNAMIC: u32 = 3;
/// `Disk Type` differencing.
pub const DISK_TYPE_DIFFERENCING: u32 = 4;

/// The hard disk footer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Footer {
    /// `Cookie`: "conectix".
    pub cookie: [u8; 8],
    /// `Features` (bit 0 temporary, bit 1 reserved = 1).
    pub features: u32,
    /// `File Format Version`.
    pub file_format_version: u32,
    /// `Data Offset`: byte offset of the dynamic disk header, `u64::MAX` for fixed disks.
    pub data_offset: u64,
    /// `Time Stamp`: seconds since 2000-01-01 00:00:00 UTC.
    pub time_stamp: u32,
    /// `Creator Application` (4 ASCII bytes).
    pub creator_application: [u8; 4],
    /// `Creator Version`.
    pub creator_version: u32,
    /// `Creator Host OS`.
    pub creator_host_os: u32,
    /// `Original Size` in bytes.
    pub original_size_bytes: u64,
    /// `Current Size` in bytes: the virtual disk's size.
    pub current_size_bytes: u64,
    /// `Disk Geometry`: cylinders.
    pub cylinders: u16,
    /// `Disk Geometry`: heads.
    pub heads: u8,
    /// `Disk Geometry`: sectors per track.
    pub sectors_per_track: u8,
    /// `Disk Type`.
    pub disk_type: u32,
    /// `Checksum`: one's complement of the byte sum of the footer without this field.
    pub checksum: u32,
    /// `Unique Id`.
    pub unique_id: [u8; 16],
    /// `Saved State`.
    pub saved_state: u8,
}

impl Footer {
    /// Encoded size.
    pub const SIZE: usize = 512;

    /// Encodes the footer (checksum as stored in `self`).
    pub fn encode(&self, out: &mut [u8; Self::SIZE]) {
        out.fill(0);
        out[0..8].copy_from_slice(&self.cookie);
        out[8..12].copy_from_slice(&self.features.to_be_bytes());
        out[12..16].copy_from_slice(&self.file_format_version.to_be_bytes());
        out[16..24].copy_from_slice(&self.data_offset.to_be_bytes());
        out[24..28].copy_from_slice(&self.time_stamp.to_be_bytes());
        out[28..32].copy_from_slice(&self.creator_application);
        out[32..36].copy_from_slice(&self.creator_version.to_be_bytes());
        out[36..40].copy_from_slice(&self.creator_host_os.to_be_bytes());
        out[40..48].copy_from_slice(&self.original_size_bytes.to_be_bytes());
        out[48..56].copy_from_slice(&self.current_size_bytes.to_be_bytes());
        out[56..58].copy_from_slice(&self.cylinders.to_be_bytes());
        out[58] = self.heads;
        out[59] = self.sectors_per_track;
        out[60..64].copy_from_slice(&self.disk_type.to_be_bytes());
        out[64..68].copy_from_slice(&self.checksum.to_be_bytes());
        out[68..84].copy_from_slice(&self.unique_id);
        out[84] = self.saved_state;
    }

    /// The footer with its checksum computed.
    pub fn with_checksum(mut self) -> Footer {
        self.checksum = 0;
        let mut bytes = [0u8; Self::SIZE];
        self.encode(&mut bytes);
        self.checksum = checksum(&bytes, 64);
        self
    }

    /// Decodes a footer (no check).
    pub fn decode(bytes: &[u8; Self::SIZE]) -> Footer {
        let u32_at = |at: usize| {
            u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let u64_at = |at: usize| (u64::from(u32_at(at)) << 32) | u64::from(u32_at(at + 4));
        let mut cookie = [0u8; 8];
        cookie.copy_from_slice(&bytes[0..8]);
        let mut creator_application = [0u8; 4];
        creator_application.copy_from_slice(&bytes[28..32]);
        let mut unique_id = [0u8; 16];
        unique_id.copy_from_slice(&bytes[68..84]);
        Footer {
            cookie,
            features: u32_at(8),
            file_format_version: u32_at(12),
            data_offset: u64_at(16),
            time_stamp: u32_at(24),
            creator_application,
            creator_version: u32_at(32),
            creator_host_os: u32_at(36),
            original_size_bytes: u64_at(40),
            current_size_bytes: u64_at(48),
            cylinders: u16::from_be_bytes([bytes[56], bytes[57]]),
            heads: bytes[58],
            sectors_per_track: bytes[59],
            disk_type: u32_at(60),
            checksum: u32_at(64),
            unique_id,
            saved_state: bytes[84],
        }
    }
}

/// The VHD checksum of `bytes`: one's complement of the sum of all bytes, the four bytes at
/// `field` (the checksum itself) counted as zero.
pub fn checksum(bytes: &[u8], field: usize) -> u32 {
    let mut sum: u32 = 0;
    for (at, byte) in bytes.iter().enumerate() {
        if !(field..field + 4).contains(&at) {
            sum = sum.wrapping_add(u32::from(*byte));
        }
    }
    !sum
}

/// CHS geometry of a disk of `total_sectors` 512-byte sectors, by the specification's
/// algorithm ("CHS Calculation"): (cylinders, heads, sectors per track).
pub fn geometry(total_sectors: u64) -> (u16, u8, u8) {
    let total = total_sectors.min(65535 * 16 * 255);
    let (sectors_per_track, heads, cylinder_times_heads);
    if total >= 65535 * 16 * 63 {
        sectors_per_track = 255;
        heads = 16;
        cylinder_times_heads = total / sectors_per_track;
    } else {
        let mut spt = 17;
        let mut cth = total / spt;
        let mut h = cth.div_ceil(1024).max(4);
        if cth >= h * 1024 || h > 16 {
            spt = 31;
            h = 16;
            cth = total / spt;
        }
        if cth >= h * 1024 {
            spt = 63;
            h = 16;
            cth = total / spt;
        }
        sectors_per_track = spt;
        heads = h;
        cylinder_times_heads = cth;
    }
    let cylinders = cylinder_times_heads / heads;
    (
        u16::try_from(cylinders).unwrap_or(u16::MAX),
        u8::try_from(heads).unwrap_or(u8::MAX),
        u8::try_from(sectors_per_track).unwrap_or(u8::MAX),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_size() {
        assert_eq!(Footer::SIZE, 512);
        let footer = Footer {
            cookie: COOKIE,
            features: FEATURES_RESERVED,
            file_format_version: FILE_FORMAT_VERSION,
            data_offset: 512,
            time_stamp: 0x1234_5678,
            creator_application: *b"kit ",
            creator_version: 0x0001_0000,
            creator_host_os: HOST_OS_WINDOWS,
            original_size_bytes: 1 << 30,
            current_size_bytes: 1 << 30,
            cylinders: 2080,
            heads: 16,
            sectors_per_track: 63,
            disk_type: DISK_TYPE_DYNAMIC,
            checksum: 0,
            unique_id: [7; 16],
            saved_state: 0,
        }
        .with_checksum();
        let mut bytes = [0u8; Footer::SIZE];
        footer.encode(&mut bytes);
        assert_eq!(&bytes[0..8], b"conectix");
        assert_eq!(Footer::decode(&bytes), footer);
        assert_eq!(checksum(&bytes, 64), footer.checksum);
    }

    #[test]
    fn geometry_follows_the_specification() {
        // 1 GiB: 2097152 sectors < 65535*16*63, 17 spt gives 123361 cyl*heads -> 121 heads > 16,
        // 31 spt gives 67650 >= 16*1024, so 63 spt, 16 heads, 2080 cylinders.
        assert_eq!(geometry(2_097_152), (2080, 16, 63));
        // 10 MiB: 20480 sectors, 17 spt: 1204 cyl*heads, 2 heads -> 4, 1204 < 4096: 301 cyl.
        assert_eq!(geometry(20_480), (301, 4, 17));
        // Larger than 127 GiB: 255 spt, 16 heads.
        assert_eq!(geometry(65535 * 16 * 255 + 5), (65535, 16, 255));
    }
}

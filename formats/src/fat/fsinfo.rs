//! The FAT32 FSInfo sector, fatgen103 §"FAT32 FSInfo Sector Structure and Backup Boot Sector":
//! a hint of the free cluster count and of where to look for a free cluster.

/// The FSInfo sector. fsck.fat checks the three signatures and the free count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FsInfo {
    /// `FSI_LeadSig`: 0x41615252 ("RRaA").
    pub(crate) lead_sig: u32,
    /// `FSI_StrucSig` at offset 484: 0x61417272 ("rrAa").
    pub(crate) struc_sig: u32,
    /// `FSI_Free_Count`: free clusters, or 0xFFFFFFFF when unknown.
    pub(crate) free_count: u32,
    /// `FSI_Nxt_Free`: the cluster at which to start looking for a free one, or 0xFFFFFFFF.
    pub(crate) nxt_free: u32,
    /// `FSI_TrailSig` at offset 508: 0xAA550000.
    pub(crate) trail_sig: u32,
}

/// `FSI_LeadSig`.
pub(crate) const LEAD_SIG: u32 = 0x4161_5252;
/// `FSI_StrucSig`.
pub(crate) const STRUC_SIG: u32 = 0x6141_7272;
/// `FSI_TrailSig`.
pub(crate) const TRAIL_SIG: u32 = 0xaa55_0000;
/// `FSI_Free_Count` / `FSI_Nxt_Free` value meaning "unknown".
pub(crate) const UNKNOWN: u32 = 0xffff_ffff;

impl FsInfo {
    /// Encoded size in bytes (one 512-byte sector).
    pub(crate) const SIZE: usize = 512;

    /// An FSInfo sector with valid signatures.
    pub(crate) fn new(free_count: u32, nxt_free: u32) -> FsInfo {
        FsInfo {
            lead_sig: LEAD_SIG,
            struc_sig: STRUC_SIG,
            free_count,
            nxt_free,
            trail_sig: TRAIL_SIG,
        }
    }

    /// True when all three signatures are right.
    pub(crate) fn is_valid(&self) -> bool {
        self.lead_sig == LEAD_SIG && self.struc_sig == STRUC_SIG && self.trail_sig == TRAIL_SIG
    }

    /// Writes the sector; the reserved areas are zero.
    pub(crate) fn encode(&self, out: &mut [u8; Self::SIZE]) {
        out.fill(0);
        out[0..4].copy_from_slice(&self.lead_sig.to_le_bytes());
        out[484..488].copy_from_slice(&self.struc_sig.to_le_bytes());
        out[488..492].copy_from_slice(&self.free_count.to_le_bytes());
        out[492..496].copy_from_slice(&self.nxt_free.to_le_bytes());
        out[508..512].copy_from_slice(&self.trail_sig.to_le_bytes());
    }

    /// Parses the sector; the signatures are returned as found (see [`FsInfo::is_valid`]).
    pub(crate) fn decode(bytes: &[u8; Self::SIZE]) -> FsInfo {
        let u32_at = |at: usize| {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        FsInfo {
            lead_sig: u32_at(0),
            struc_sig: u32_at(484),
            free_count: u32_at(488),
            nxt_free: u32_at(492),
            trail_sig: u32_at(508),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_at_their_offsets() {
        assert_eq!(FsInfo::SIZE, 512);
        let info = FsInfo::new(1000, 17);
        let mut out = [0u8; FsInfo::SIZE];
        info.encode(&mut out);
        assert_eq!(&out[0..4], b"RRaA");
        assert_eq!(&out[484..488], b"rrAa");
        assert_eq!(out[488..496], [0xe8, 0x03, 0, 0, 17, 0, 0, 0]);
        assert_eq!(out[508..512], [0, 0, 0x55, 0xaa]);
        assert!(out[4..484].iter().all(|b| *b == 0));
        let back = FsInfo::decode(&out);
        assert_eq!(back, info);
        assert!(back.is_valid());
        out[0] = 0;
        assert!(!FsInfo::decode(&out).is_valid());
    }
}

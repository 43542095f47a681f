//! EROFS compression metadata: the map header (`struct z_erofs_map_header`) and the full
//! ("legacy") logical cluster index (`struct z_erofs_vle_decompressed_index`), plus the decoding
//! of compacted indexes written by mkfs.erofs.
//!
//! A compressed file is cut into extents of consecutive logical bytes; each extent is stored in
//! one physical cluster (pcluster) of one block, either lz4-compressed (padded with zeros at the
//! front, feature `lz4_0padding`) or plain (the bytes as they are, from the start of the block).
//! The file is indexed per logical cluster (lcluster, 4 KiB of the file): the lcluster where an
//! extent starts holds a HEAD (lz4) or PLAIN entry with the extent's start offset within the
//! lcluster (`clusterofs`) and its block address; an lcluster entirely inside an extent holds a
//! NONHEAD entry with the distance back to the head lcluster (`delta[0]`) and forward to the
//! next head (`delta[1]`). An extent runs to the next head, or to the end of the file; the
//! lcluster holding the end of the file gets a PLAIN entry whose `clusterofs` is the end offset
//! when no extent starts in it.
//!
//! Full indexes (data layout `FLAT_COMPRESSION_LEGACY`) start at
//! `round_up(inode + inode size + xattr size, 8) + 16`: the 8-byte map header and 8 bytes of
//! padding come first.

/// `Z_EROFS_VLE_CLUSTER_TYPE_PLAIN`: the extent is stored uncompressed.
pub(crate) const CLUSTER_TYPE_PLAIN: u8 = 0;
/// `Z_EROFS_VLE_CLUSTER_TYPE_HEAD`: an lz4-compressed extent starts here.
pub(crate) const CLUSTER_TYPE_HEAD: u8 = 1;
/// `Z_EROFS_VLE_CLUSTER_TYPE_NONHEAD`: inside an extent.
pub(crate) const CLUSTER_TYPE_NONHEAD: u8 = 2;

/// `Z_EROFS_ADVISE_COMPACTED_2B`.
pub(crate) const ADVISE_COMPACTED_2B: u16 = 0x0001;
/// `Z_EROFS_ADVISE_BIG_PCLUSTER_1`.
pub(crate) const ADVISE_BIG_PCLUSTER_1: u16 = 0x0002;
/// `Z_EROFS_ADVISE_BIG_PCLUSTER_2`.
pub(crate) const ADVISE_BIG_PCLUSTER_2: u16 = 0x0004;
/// `Z_EROFS_ADVISE_INLINE_PCLUSTER`.
pub(crate) const ADVISE_INLINE_PCLUSTER: u16 = 0x0008;

/// Bytes between the 8-aligned end of the xattrs and the first full index: the map header and
/// `Z_EROFS_VLE_LEGACY_HEADER_PADDING`.
pub(crate) const LEGACY_INDEX_START: u64 = 16;

/// `struct z_erofs_map_header`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MapHeader {
    /// `h_idata_size`: size of an inline tail pcluster (0, kit writes none).
    pub(crate) idata_size: u16,
    /// `h_advise`: `Z_EROFS_ADVISE_*` bits.
    pub(crate) advise: u16,
    /// `h_algorithmtype`: bits 0-3 algorithm of HEAD lclusters (0 = lz4), 4-7 of HEAD2.
    pub(crate) algorithm_type: u8,
    /// `h_clusterbits`: bits 0-2 are log2(lcluster size) - 12.
    pub(crate) cluster_bits: u8,
}

impl MapHeader {
    /// Encoded size in bytes.
    pub(crate) const SIZE: usize = 8;

    /// Writes the header; the reserved field is zero.
    pub(crate) fn encode(&self, out: &mut [u8; Self::SIZE]) {
        out[0..2].fill(0);
        out[2..4].copy_from_slice(&self.idata_size.to_le_bytes());
        out[4..6].copy_from_slice(&self.advise.to_le_bytes());
        out[6] = self.algorithm_type;
        out[7] = self.cluster_bits;
    }

    /// Parses the header.
    pub(crate) fn decode(bytes: &[u8; Self::SIZE]) -> MapHeader {
        MapHeader {
            idata_size: u16::from_le_bytes([bytes[2], bytes[3]]),
            advise: u16::from_le_bytes([bytes[4], bytes[5]]),
            algorithm_type: bytes[6],
            cluster_bits: bytes[7],
        }
    }
}

/// `struct z_erofs_vle_decompressed_index`: one full lcluster index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DecompressedIndex {
    /// `di_advise`: bits 0-1 are the cluster type.
    pub(crate) advise: u16,
    /// `di_clusterofs`: where the extent starts within this lcluster (HEAD and PLAIN).
    pub(crate) cluster_ofs: u16,
    /// `di_u`: the pcluster's block address (HEAD and PLAIN), or `delta[0] | delta[1] << 16`
    /// (NONHEAD).
    pub(crate) u: u32,
}

impl DecompressedIndex {
    /// Encoded size in bytes.
    pub(crate) const SIZE: usize = 8;

    /// Writes the index.
    pub(crate) fn encode(&self, out: &mut [u8; Self::SIZE]) {
        out[0..2].copy_from_slice(&self.advise.to_le_bytes());
        out[2..4].copy_from_slice(&self.cluster_ofs.to_le_bytes());
        out[4..8].copy_from_slice(&self.u.to_le_bytes());
    }

    /// Parses the index.
    pub(crate) fn decode(bytes: &[u8; Self::SIZE]) -> DecompressedIndex {
        DecompressedIndex {
            advise: u16::from_le_bytes([bytes[0], bytes[1]]),
            cluster_ofs: u16::from_le_bytes([bytes[2], bytes[3]]),
            u: u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
        }
    }

    /// The cluster type (`advise` bits 0-1).
    pub(crate) fn cluster_type(&self) -> u8 {
        self.advise.to_le_bytes()[0] & 3
    }
}

/// One lcluster's index, decoded from either index format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lcluster {
    /// An extent starts at `cluster_ofs`, in block `blkaddr`; `compressed` for HEAD.
    Head {
        /// HEAD (lz4) rather than PLAIN.
        compressed: bool,
        /// Offset of the extent start within the lcluster.
        cluster_ofs: u16,
        /// Block of the pcluster.
        blkaddr: u32,
    },
    /// Inside an extent.
    NonHead,
}

/// Decodes the compacted index of lcluster `lcn` from the compacted index area `area` (which
/// starts right after the map header, at byte offset `area_offset` of the image), for a file of
/// `n_lclusters` lclusters; follows the kernel's `compacted_load_cluster_from_disk` and
/// `unpack_compacted_index` for 4 KiB lclusters without big pclusters. `None` when `area` is too
/// short or the index is inconsistent.
pub(crate) fn compacted_lcluster(
    area: &[u8],
    area_offset: u64,
    n_lclusters: u64,
    compacted_2b: bool,
    lcn: u64,
) -> Option<Lcluster> {
    let mut initial = (32 - area_offset % 32) / 4;
    if initial == 8 {
        initial = 0;
    }
    let n_2b =
        if compacted_2b && initial < n_lclusters { (n_lclusters - initial) / 16 * 16 } else { 0 };
    let (pos, amortized_bytes, rest) = if lcn < initial {
        (0, 4, lcn)
    } else if lcn - initial < n_2b {
        (initial * 4, 2, lcn - initial)
    } else {
        (initial * 4 + n_2b * 2, 4, lcn - initial - n_2b)
    };
    let pos = pos.checked_add(rest.checked_mul(amortized_bytes)?)?;
    let vcnt: u64 = if amortized_bytes == 4 { 2 } else { 16 };
    let pack_bytes = vcnt * amortized_bytes;
    // Packs are aligned to their size relative to the image (the area starts 8-aligned and
    // the initial 4-byte indexes bring 2-byte packs to 32-byte alignment).
    let absolute = area_offset.checked_add(pos)?;
    let base_abs = absolute / pack_bytes * pack_bytes;
    let base = usize::try_from(base_abs.checked_sub(area_offset)?).ok()?;
    let pack_len = usize::try_from(pack_bytes).ok()?;
    let pack = area.get(base..base.checked_add(pack_len)?)?;
    let idx = usize::try_from((absolute - base_abs) / amortized_bytes).ok()?;
    let vcnt = usize::try_from(vcnt).ok()?;
    let encode_bits = (pack_len - 4) * 8 / vcnt;
    let decode = |i: usize| -> (u8, u32) {
        let bit = encode_bits * i;
        let byte = bit / 8;
        let mut word = [0u8; 4];
        for (k, slot) in word.iter_mut().enumerate() {
            *slot = pack.get(byte + k).copied().unwrap_or(0);
        }
        let v = u32::from_le_bytes(word) >> (bit % 8);
        let lo = v & 0xfff;
        let ty = u8::try_from((v >> 12) & 3).unwrap_or(3);
        (ty, lo)
    };
    let (ty, lo) = decode(idx);
    match ty {
        CLUSTER_TYPE_NONHEAD => Some(Lcluster::NonHead),
        CLUSTER_TYPE_PLAIN | CLUSTER_TYPE_HEAD => {
            // Count the pclusters before this one in the pack, as the kernel does without big
            // pclusters: every HEAD/PLAIN entry, skipping back over NONHEAD runs.
            let mut nblk: u32 = 1;
            let mut i = i64::try_from(idx).ok()?;
            while i > 0 {
                i -= 1;
                let (t, l) = decode(usize::try_from(i).ok()?);
                if t == CLUSTER_TYPE_NONHEAD {
                    i -= i64::from(l);
                }
                if i >= 0 {
                    nblk = nblk.checked_add(1)?;
                }
            }
            let tail = &pack[pack_len - 4..];
            let base_blk = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
            Some(Lcluster::Head {
                compressed: ty == CLUSTER_TYPE_HEAD,
                cluster_ofs: u16::try_from(lo).ok()?,
                blkaddr: base_blk.checked_add(nblk)?,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_round_trips() {
        assert_eq!(MapHeader::SIZE, 8);
        assert_eq!(DecompressedIndex::SIZE, 8);
        let header = MapHeader { idata_size: 0, advise: 0, algorithm_type: 0, cluster_bits: 0 };
        let mut bytes = [0xffu8; MapHeader::SIZE];
        header.encode(&mut bytes);
        assert_eq!(bytes, [0; 8]);
        assert_eq!(MapHeader::decode(&bytes), header);
        let index = DecompressedIndex {
            advise: u16::from(CLUSTER_TYPE_NONHEAD),
            cluster_ofs: 0,
            u: 1 | (3 << 16),
        };
        let mut bytes = [0u8; DecompressedIndex::SIZE];
        index.encode(&mut bytes);
        assert_eq!(bytes, [2, 0, 0, 0, 1, 0, 3, 0]);
        assert_eq!(DecompressedIndex::decode(&bytes), index);
        assert_eq!(index.cluster_type(), CLUSTER_TYPE_NONHEAD);
    }
}

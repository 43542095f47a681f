//! The qcow2 header (QEMU docs/interop/qcow2.txt, "Header"): big-endian fields at fixed
//! offsets, 104 bytes for version 3 (72 for version 2), followed by header extensions.

/// `QFI\xfb`.
pub const MAGIC: u32 = 0x5146_49fb;

/// The fixed part of a qcow2 header. Field names follow qcow2.txt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Qcow2Header {
    /// Version number: 2 or 3 (kit writes 3).
    pub version: u32,
    /// Offset of the backing file name, 0 when there is none.
    pub backing_file_offset: u64,
    /// Length of the backing file name in bytes.
    pub backing_file_size: u32,
    /// log2 of the cluster size in bytes (9..=21).
    pub cluster_bits: u32,
    /// Virtual disk size in bytes.
    pub size_bytes: u64,
    /// 0 no encryption, 1 AES, 2 LUKS.
    pub crypt_method: u32,
    /// Number of entries in the active L1 table.
    pub l1_size: u32,
    /// Offset of the active L1 table (cluster aligned).
    pub l1_table_offset: u64,
    /// Offset of the refcount table (cluster aligned).
    pub refcount_table_offset: u64,
    /// Clusters occupied by the refcount table.
    pub refcount_table_clusters: u32,
    /// Number of snapshots.
    pub nb_snapshots: u32,
    /// Offset of the snapshot table.
    pub snapshots_offset: u64,
    /// Version 3: incompatible feature bits (bit 0 dirty, 1 corrupt, 2 external data file,
    /// 3 compression type, 4 extended L2).
    pub incompatible_features: u64,
    /// Version 3: compatible feature bits (bit 0 lazy refcounts).
    pub compatible_features: u64,
    /// Version 3: autoclear feature bits.
    pub autoclear_features: u64,
    /// Version 3: log2 of the refcount width in bits (version 2: always 4).
    pub refcount_order: u32,
    /// Version 3: length of the header structure in bytes (version 2: 72).
    pub header_length: u32,
}

/// The header of a version-2 image is 72 bytes.
pub const V2_SIZE: usize = 72;

impl Qcow2Header {
    /// Bytes of the version-3 header kit writes (no compression type field).
    pub const SIZE: usize = 104;

    /// Encodes the header (version 3 layout; a version-2 header leaves bytes 72.. zero).
    pub fn encode(&self, out: &mut [u8; Self::SIZE]) {
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            out[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        put(&MAGIC.to_be_bytes());
        put(&self.version.to_be_bytes());
        put(&self.backing_file_offset.to_be_bytes());
        put(&self.backing_file_size.to_be_bytes());
        put(&self.cluster_bits.to_be_bytes());
        put(&self.size_bytes.to_be_bytes());
        put(&self.crypt_method.to_be_bytes());
        put(&self.l1_size.to_be_bytes());
        put(&self.l1_table_offset.to_be_bytes());
        put(&self.refcount_table_offset.to_be_bytes());
        put(&self.refcount_table_clusters.to_be_bytes());
        put(&self.nb_snapshots.to_be_bytes());
        put(&self.snapshots_offset.to_be_bytes());
        if self.version >= 3 {
            put(&self.incompatible_features.to_be_bytes());
            put(&self.compatible_features.to_be_bytes());
            put(&self.autoclear_features.to_be_bytes());
            put(&self.refcount_order.to_be_bytes());
            put(&self.header_length.to_be_bytes());
        }
    }

    /// Decodes a header; `None` when the magic is wrong. Version 2 fields past byte 72 take
    /// their implied values (refcount order 4, header length 72).
    pub fn decode(bytes: &[u8; Self::SIZE]) -> Option<Qcow2Header> {
        let u32_at = |at: usize| {
            u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let u64_at = |at: usize| (u64::from(u32_at(at)) << 32) | u64::from(u32_at(at + 4));
        if u32_at(0) != MAGIC {
            return None;
        }
        let version = u32_at(4);
        let v3 = version >= 3;
        Some(Qcow2Header {
            version,
            backing_file_offset: u64_at(8),
            backing_file_size: u32_at(16),
            cluster_bits: u32_at(20),
            size_bytes: u64_at(24),
            crypt_method: u32_at(32),
            l1_size: u32_at(36),
            l1_table_offset: u64_at(40),
            refcount_table_offset: u64_at(48),
            refcount_table_clusters: u32_at(56),
            nb_snapshots: u32_at(60),
            snapshots_offset: u64_at(64),
            incompatible_features: if v3 { u64_at(72) } else { 0 },
            compatible_features: if v3 { u64_at(80) } else { 0 },
            autoclear_features: if v3 { u64_at(88) } else { 0 },
            refcount_order: if v3 { u32_at(96) } else { 4 },
            header_length: if v3 { u32_at(100) } else { 72 },
        })
    }
}

/// L1 and L2 entries (qcow2.txt "Cluster mapping").
pub mod entry {
    /// Bit 63: the cluster's refcount is exactly one (set by kit on every entry).
    pub const COPIED: u64 = 1 << 63;
    /// Bit 62 of an L2 entry: the cluster is compressed.
    pub const COMPRESSED: u64 = 1 << 62;
    /// Bit 0 of a standard L2 entry (version 3): the cluster reads as zeros.
    pub const ZERO: u64 = 1;
    /// Bits 9-55: the host offset of an L2 table or a standard cluster.
    pub const OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_size() {
        assert_eq!(Qcow2Header::SIZE, 104);
        let header = Qcow2Header {
            version: 3,
            backing_file_offset: 0,
            backing_file_size: 0,
            cluster_bits: 16,
            size_bytes: 1 << 30,
            crypt_method: 0,
            l1_size: 2,
            l1_table_offset: 0x30000,
            refcount_table_offset: 0x10000,
            refcount_table_clusters: 1,
            nb_snapshots: 0,
            snapshots_offset: 0,
            incompatible_features: 0,
            compatible_features: 0,
            autoclear_features: 0,
            refcount_order: 4,
            header_length: 104,
        };
        let mut bytes = [0u8; Qcow2Header::SIZE];
        header.encode(&mut bytes);
        assert_eq!(&bytes[..8], b"QFI\xfb\0\0\0\x03");
        assert_eq!(bytes[23], 16);
        assert_eq!(Qcow2Header::decode(&bytes), Some(header));
        bytes[0] = 0;
        assert_eq!(Qcow2Header::decode(&bytes), None);
    }
}

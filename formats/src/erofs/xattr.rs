//! EROFS extended attributes: the inline body header (`struct erofs_xattr_ibody_header`), the
//! entry header (`struct erofs_xattr_entry`) and the name prefix indexes.
//!
//! An inode with xattrs is followed by a 12-byte body header holding `h_shared_count`, then that
//! many 4-byte ids of shared xattrs (entries stored once in the area at `xattr_blkaddr`, id = byte
//! offset / 4), then inline entries. An entry is a 4-byte header, the name without its prefix
//! and the value, padded to a multiple of 4 bytes. `i_xattr_icount` is
//! `1 + (body size - 12) / 4`.

/// Name prefixes and their `e_name_index` (`EROFS_XATTR_INDEX_*`). The two POSIX ACL prefixes
/// are whole names. Linux 6.1 has no handler for index 5 (lustre), so kit writes none.
pub(crate) const PREFIXES: [(u8, &str); 5] = [
    (1, "user."),
    (2, "system.posix_acl_access"),
    (3, "system.posix_acl_default"),
    (4, "trusted."),
    (6, "security."),
];

/// Splits a full xattr name into its prefix index and the rest, if a prefix matches.
pub(crate) fn split_name(name: &str) -> Option<(u8, &[u8])> {
    PREFIXES
        .iter()
        .find_map(|(index, prefix)| Some((*index, name.strip_prefix(prefix)?.as_bytes())))
}

/// The prefix of `index`, if it is one kit knows.
pub(crate) fn prefix_of(index: u8) -> Option<&'static str> {
    PREFIXES.iter().find(|(i, _)| *i == index).map(|(_, prefix)| *prefix)
}

/// `struct erofs_xattr_ibody_header`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IbodyHeader {
    /// `h_shared_count`: number of shared xattr ids that follow the header.
    pub(crate) shared_count: u8,
}

impl IbodyHeader {
    /// Encoded size in bytes.
    pub(crate) const SIZE: usize = 12;

    /// Writes the header; reserved bytes are zero.
    pub(crate) fn encode(&self, out: &mut [u8; Self::SIZE]) {
        out.fill(0);
        out[4] = self.shared_count;
    }

    /// Parses the header.
    pub(crate) fn decode(bytes: &[u8; Self::SIZE]) -> IbodyHeader {
        IbodyHeader { shared_count: bytes[4] }
    }
}

/// `struct erofs_xattr_entry`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct XattrEntry {
    /// `e_name_len`: length of the name after the prefix.
    pub(crate) name_len: u8,
    /// `e_name_index`: the prefix, see [`PREFIXES`].
    pub(crate) name_index: u8,
    /// `e_value_size`: length of the value.
    pub(crate) value_size: u16,
}

impl XattrEntry {
    /// Encoded size in bytes.
    pub(crate) const SIZE: usize = 4;

    /// Writes the entry header.
    pub(crate) fn encode(&self, out: &mut [u8; Self::SIZE]) {
        out[0] = self.name_len;
        out[1] = self.name_index;
        out[2..4].copy_from_slice(&self.value_size.to_le_bytes());
    }

    /// Parses the entry header.
    pub(crate) fn decode(bytes: &[u8; Self::SIZE]) -> XattrEntry {
        XattrEntry {
            name_len: bytes[0],
            name_index: bytes[1],
            value_size: u16::from_le_bytes([bytes[2], bytes[3]]),
        }
    }

    /// Size of the entry with its name and value, padded to 4 bytes.
    pub(crate) fn padded_size(&self) -> usize {
        (Self::SIZE + usize::from(self.name_len) + usize::from(self.value_size)).next_multiple_of(4)
    }
}

/// Appends one entry (header, name, value, padding) to `out`. The caller checked the lengths.
pub(crate) fn push_entry(out: &mut Vec<u8>, index: u8, name: &[u8], value: &[u8]) {
    let entry = XattrEntry {
        name_len: u8::try_from(name.len()).unwrap_or(u8::MAX),
        name_index: index,
        value_size: u16::try_from(value.len()).unwrap_or(u16::MAX),
    };
    let mut bytes = [0u8; XattrEntry::SIZE];
    entry.encode(&mut bytes);
    let start = out.len();
    out.extend_from_slice(&bytes);
    out.extend_from_slice(name);
    out.extend_from_slice(value);
    out.resize(start + entry.padded_size(), 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_round_trips() {
        assert_eq!(IbodyHeader::SIZE, 12);
        assert_eq!(XattrEntry::SIZE, 4);
        let mut header = [0xffu8; IbodyHeader::SIZE];
        IbodyHeader { shared_count: 3 }.encode(&mut header);
        assert_eq!(header, [0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(IbodyHeader::decode(&header), IbodyHeader { shared_count: 3 });
        let entry = XattrEntry { name_len: 10, name_index: 6, value_size: 20 };
        let mut bytes = [0u8; XattrEntry::SIZE];
        entry.encode(&mut bytes);
        assert_eq!(bytes, [10, 6, 20, 0]);
        assert_eq!(XattrEntry::decode(&bytes), entry);
        assert_eq!(entry.padded_size(), 36);
    }

    #[test]
    fn prefixes() {
        assert_eq!(split_name("security.capability"), Some((6, &b"capability"[..])));
        assert_eq!(split_name("system.posix_acl_access"), Some((2, &b""[..])));
        assert_eq!(split_name("user."), Some((1, &b""[..])));
        assert_eq!(split_name("system.other"), None);
        assert_eq!(prefix_of(4), Some("trusted."));
        assert_eq!(prefix_of(5), None);
        let mut out = Vec::new();
        push_entry(&mut out, 1, b"a", b"xyz");
        assert_eq!(out, [1, 1, 3, 0, b'a', b'x', b'y', b'z']);
    }
}

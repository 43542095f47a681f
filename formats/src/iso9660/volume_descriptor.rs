//! ECMA-119 volume descriptors (section 8), one 2048-byte sector each, from sector 16 on:
//! the primary volume descriptor (8.4), supplementary volume descriptors (8.5; Joliet is one,
//! marked by its escape sequences) and the set terminator (8.3).
//!
//! The boot record (8.2, El Torito's "EL TORITO SPECIFICATION" descriptor) is in
//! `el_torito.rs`.

use crate::iso9660::both_endian::{array, read_u16_both, read_u32_both, u16_both, u32_both};
use crate::iso9660::datetime::VolumeDateTime;
use crate::iso9660::dir_record::{DOT, DirRecord};

/// 8.1.2: "CD001".
pub(crate) const STANDARD_IDENTIFIER: &[u8; 5] = b"CD001";
/// Joliet escape sequences (Joliet specification, section 3): UCS-2 level 1, 2 and 3.
pub(crate) const JOLIET_ESCAPES: [&[u8; 3]; 3] = [b"%/@", b"%/C", b"%/E"];
/// The escape sequence kit writes: UCS-2 level 3, as genisoimage and xorriso do.
pub(crate) const JOLIET_LEVEL_3: &[u8; 3] = b"%/E";

/// 8.1.1 volume descriptor type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DescriptorType {
    /// 0: boot record (El Torito).
    BootRecord,
    /// 1: primary volume descriptor.
    Primary,
    /// 2: supplementary volume descriptor (Joliet).
    Supplementary,
    /// 3: volume partition descriptor.
    Partition,
    /// 255: volume descriptor set terminator.
    Terminator,
    /// Any other value.
    Other(u8),
}

impl DescriptorType {
    pub(crate) fn code(self) -> u8 {
        match self {
            DescriptorType::BootRecord => 0,
            DescriptorType::Primary => 1,
            DescriptorType::Supplementary => 2,
            DescriptorType::Partition => 3,
            DescriptorType::Terminator => 255,
            DescriptorType::Other(code) => code,
        }
    }

    fn from_code(code: u8) -> DescriptorType {
        match code {
            0 => DescriptorType::BootRecord,
            1 => DescriptorType::Primary,
            2 => DescriptorType::Supplementary,
            3 => DescriptorType::Partition,
            255 => DescriptorType::Terminator,
            other => DescriptorType::Other(other),
        }
    }
}

/// 8.1: the first 7 bytes every volume descriptor starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DescriptorHeader {
    /// Byte 1: volume descriptor type.
    pub(crate) descriptor_type: DescriptorType,
    /// Byte 7: volume descriptor version; 1 for the types kit reads.
    pub(crate) version: u8,
}

impl DescriptorHeader {
    /// Encoded size in bytes.
    pub(crate) const SIZE: usize = 7;

    pub(crate) fn encode(&self, out: &mut [u8; Self::SIZE]) {
        out[0] = self.descriptor_type.code();
        out[1..6].copy_from_slice(STANDARD_IDENTIFIER);
        out[6] = self.version;
    }

    pub(crate) fn decode(bytes: &[u8; Self::SIZE]) -> Result<DescriptorHeader, &'static str> {
        if &bytes[1..6] != STANDARD_IDENTIFIER {
            return Err("standard identifier is not CD001");
        }
        Ok(DescriptorHeader {
            descriptor_type: DescriptorType::from_code(bytes[0]),
            version: bytes[6],
        })
    }
}

/// 8.4 primary and 8.5 supplementary volume descriptors, which share one layout.
/// Identifier fields hold bytes as recorded: a-/d-characters padded with spaces in the primary
/// descriptor, UCS-2 big-endian padded with UCS-2 spaces in a Joliet one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VolumeDescriptor {
    /// Byte 1: [`DescriptorType::Primary`] or [`DescriptorType::Supplementary`].
    pub(crate) descriptor_type: DescriptorType,
    /// Byte 8: volume flags (8.5.3, supplementary only; 0 = escape sequences are ISO 2375
    /// registered); unused (0) in the primary descriptor.
    pub(crate) volume_flags: u8,
    /// Bytes 9-40: system identifier, the system that can act on sectors 0-15.
    pub(crate) system_id: [u8; 32],
    /// Bytes 41-72: volume identifier.
    pub(crate) volume_id: [u8; 32],
    /// Bytes 81-88: number of logical blocks in the volume (7.3.3).
    pub(crate) volume_space_size_sectors: u32,
    /// Bytes 89-120: escape sequences (8.5.6, supplementary only; Joliet: `%/@`, `%/C`, `%/E`);
    /// zero in the primary descriptor.
    pub(crate) escape_sequences: [u8; 32],
    /// Bytes 121-124: volume set size (7.2.3); 1.
    pub(crate) volume_set_size: u16,
    /// Bytes 125-128: volume sequence number (7.2.3); 1.
    pub(crate) volume_sequence_number: u16,
    /// Bytes 129-132: logical block size in bytes (7.2.3); 2048.
    pub(crate) logical_block_size_bytes: u16,
    /// Bytes 133-140: path table size in bytes (7.3.3).
    pub(crate) path_table_size_bytes: u32,
    /// Bytes 141-144: sector of the type L path table (7.3.1, little-endian).
    pub(crate) type_l_path_table_lba: u32,
    /// Bytes 145-148: sector of the optional type L path table, 0 if none.
    pub(crate) optional_type_l_path_table_lba: u32,
    /// Bytes 149-152: sector of the type M path table (7.3.2, big-endian).
    pub(crate) type_m_path_table_lba: u32,
    /// Bytes 153-156: sector of the optional type M path table, 0 if none.
    pub(crate) optional_type_m_path_table_lba: u32,
    /// Bytes 157-190: the root directory's record (identifier 0x00, no System Use).
    pub(crate) root_directory_record: DirRecord,
    /// Bytes 191-318: volume set identifier.
    pub(crate) volume_set_id: [u8; 128],
    /// Bytes 319-446: publisher identifier.
    pub(crate) publisher_id: [u8; 128],
    /// Bytes 447-574: data preparer identifier.
    pub(crate) data_preparer_id: [u8; 128],
    /// Bytes 575-702: application identifier.
    pub(crate) application_id: [u8; 128],
    /// Bytes 703-739: copyright file identifier.
    pub(crate) copyright_file_id: [u8; 37],
    /// Bytes 740-776: abstract file identifier.
    pub(crate) abstract_file_id: [u8; 37],
    /// Bytes 777-813: bibliographic file identifier.
    pub(crate) bibliographic_file_id: [u8; 37],
    /// Bytes 814-830: volume creation date and time.
    pub(crate) creation: VolumeDateTime,
    /// Bytes 831-847: volume modification date and time.
    pub(crate) modification: VolumeDateTime,
    /// Bytes 848-864: volume expiration date and time (unset: never obsolete).
    pub(crate) expiration: VolumeDateTime,
    /// Bytes 865-881: volume effective date and time.
    pub(crate) effective: VolumeDateTime,
    /// Byte 882: file structure version; 1.
    pub(crate) file_structure_version: u8,
}

impl VolumeDescriptor {
    /// Encoded size in bytes: one logical sector.
    pub(crate) const SIZE: usize = 2048;

    pub(crate) fn encode(&self, out: &mut [u8; Self::SIZE]) {
        out.fill(0);
        let mut header = [0u8; DescriptorHeader::SIZE];
        DescriptorHeader { descriptor_type: self.descriptor_type, version: 1 }.encode(&mut header);
        out[..7].copy_from_slice(&header);
        out[7] = self.volume_flags;
        out[8..40].copy_from_slice(&self.system_id);
        out[40..72].copy_from_slice(&self.volume_id);
        out[80..88].copy_from_slice(&u32_both(self.volume_space_size_sectors));
        out[88..120].copy_from_slice(&self.escape_sequences);
        out[120..124].copy_from_slice(&u16_both(self.volume_set_size));
        out[124..128].copy_from_slice(&u16_both(self.volume_sequence_number));
        out[128..132].copy_from_slice(&u16_both(self.logical_block_size_bytes));
        out[132..140].copy_from_slice(&u32_both(self.path_table_size_bytes));
        out[140..144].copy_from_slice(&self.type_l_path_table_lba.to_le_bytes());
        out[144..148].copy_from_slice(&self.optional_type_l_path_table_lba.to_le_bytes());
        out[148..152].copy_from_slice(&self.type_m_path_table_lba.to_be_bytes());
        out[152..156].copy_from_slice(&self.optional_type_m_path_table_lba.to_be_bytes());
        let root = DirRecord {
            length_bytes: 34,
            identifier_length_bytes: 1,
            ..self.root_directory_record
        };
        let mut fixed = [0u8; DirRecord::SIZE];
        root.encode(&mut fixed);
        out[156..189].copy_from_slice(&fixed);
        out[189] = DOT[0];
        out[190..318].copy_from_slice(&self.volume_set_id);
        out[318..446].copy_from_slice(&self.publisher_id);
        out[446..574].copy_from_slice(&self.data_preparer_id);
        out[574..702].copy_from_slice(&self.application_id);
        out[702..739].copy_from_slice(&self.copyright_file_id);
        out[739..776].copy_from_slice(&self.abstract_file_id);
        out[776..813].copy_from_slice(&self.bibliographic_file_id);
        let dates = [self.creation, self.modification, self.expiration, self.effective];
        for (idx, date) in dates.iter().enumerate() {
            let mut bytes = [0u8; VolumeDateTime::SIZE];
            date.encode(&mut bytes);
            let start = 813 + idx * VolumeDateTime::SIZE;
            out[start..start + VolumeDateTime::SIZE].copy_from_slice(&bytes);
        }
        out[881] = self.file_structure_version;
    }

    pub(crate) fn decode(bytes: &[u8; Self::SIZE]) -> Result<VolumeDescriptor, &'static str> {
        let header = DescriptorHeader::decode(&array(bytes, 0))?;
        if !matches!(
            header.descriptor_type,
            DescriptorType::Primary | DescriptorType::Supplementary
        ) {
            return Err("descriptor is not a primary or supplementary volume descriptor");
        }
        let root_directory_record = DirRecord::decode(&array(bytes, 156));
        if root_directory_record.length_bytes < 34
            || root_directory_record.identifier_length_bytes != 1
        {
            return Err("root directory record is not a 34-byte record with a 1-byte identifier");
        }
        let date = |at: usize| VolumeDateTime::decode(&array(bytes, at));
        Ok(VolumeDescriptor {
            descriptor_type: header.descriptor_type,
            volume_flags: bytes[7],
            system_id: array(bytes, 8),
            volume_id: array(bytes, 40),
            volume_space_size_sectors: read_u32_both(array(bytes, 80)),
            escape_sequences: array(bytes, 88),
            volume_set_size: read_u16_both(array(bytes, 120)),
            volume_sequence_number: read_u16_both(array(bytes, 124)),
            logical_block_size_bytes: read_u16_both(array(bytes, 128)),
            path_table_size_bytes: read_u32_both(array(bytes, 132)),
            type_l_path_table_lba: u32::from_le_bytes(array(bytes, 140)),
            optional_type_l_path_table_lba: u32::from_le_bytes(array(bytes, 144)),
            type_m_path_table_lba: u32::from_be_bytes(array(bytes, 148)),
            optional_type_m_path_table_lba: u32::from_be_bytes(array(bytes, 152)),
            root_directory_record,
            volume_set_id: array(bytes, 190),
            publisher_id: array(bytes, 318),
            data_preparer_id: array(bytes, 446),
            application_id: array(bytes, 574),
            copyright_file_id: array(bytes, 702),
            abstract_file_id: array(bytes, 739),
            bibliographic_file_id: array(bytes, 776),
            // A malformed date is shown as unset rather than failing the whole read.
            creation: date(813).unwrap_or(VolumeDateTime::UNSET),
            modification: date(830).unwrap_or(VolumeDateTime::UNSET),
            expiration: date(847).unwrap_or(VolumeDateTime::UNSET),
            effective: date(864).unwrap_or(VolumeDateTime::UNSET),
            file_structure_version: bytes[881],
        })
    }

    /// True for a supplementary descriptor with a Joliet escape sequence.
    pub(crate) fn is_joliet(&self) -> bool {
        self.descriptor_type == DescriptorType::Supplementary
            && JOLIET_ESCAPES.iter().any(|escape| self.escape_sequences.starts_with(*escape))
    }
}

/// 8.3 volume descriptor set terminator: type 255, "CD001", version 1, then zeros.
pub(crate) fn terminator() -> [u8; VolumeDescriptor::SIZE] {
    let mut out = [0u8; VolumeDescriptor::SIZE];
    let mut header = [0u8; DescriptorHeader::SIZE];
    DescriptorHeader { descriptor_type: DescriptorType::Terminator, version: 1 }
        .encode(&mut header);
    out[..7].copy_from_slice(&header);
    out
}

/// `text` in a field of `N` bytes, padded with spaces (a-/d-character fields, 7.4).
/// Longer text is cut; callers validate lengths first.
pub(crate) fn ascii_field<const N: usize>(text: &[u8]) -> [u8; N] {
    let mut out = [b' '; N];
    let len = text.len().min(N);
    out[..len].copy_from_slice(&text[..len]);
    out
}

/// `units` as UCS-2 big-endian in a field of `N` bytes, padded with UCS-2 spaces (Joliet).
pub(crate) fn ucs2_field<const N: usize>(units: &[u16]) -> [u8; N] {
    let mut out = [0u8; N];
    for (idx, chunk) in out.chunks_exact_mut(2).enumerate() {
        let unit = units.get(idx).copied().unwrap_or(0x0020);
        chunk.copy_from_slice(&unit.to_be_bytes());
    }
    out
}

/// An identifier field as text: ASCII with trailing spaces removed, or UCS-2 when `ucs2`.
pub(crate) fn field_text(bytes: &[u8], ucs2: bool) -> String {
    let text = if ucs2 {
        let units: Vec<u16> =
            bytes.chunks_exact(2).map(|pair| u16::from_be_bytes([pair[0], pair[1]])).collect();
        String::from_utf16_lossy(&units)
    } else {
        String::from_utf8_lossy(bytes).into_owned()
    };
    text.trim_end_matches([' ', '\0']).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iso9660::datetime::RecordingDateTime;
    use crate::iso9660::dir_record::flags;

    fn sample() -> VolumeDescriptor {
        VolumeDescriptor {
            descriptor_type: DescriptorType::Supplementary,
            volume_flags: 0,
            system_id: ascii_field(b"LINUX"),
            volume_id: ucs2_field(&[0x4c, 0x4b]),
            volume_space_size_sectors: 200,
            escape_sequences: ascii_field::<32>(JOLIET_LEVEL_3)
                .map(|b| if b == b' ' { 0 } else { b }),
            volume_set_size: 1,
            volume_sequence_number: 1,
            logical_block_size_bytes: 2048,
            path_table_size_bytes: 10,
            type_l_path_table_lba: 19,
            optional_type_l_path_table_lba: 0,
            type_m_path_table_lba: 20,
            optional_type_m_path_table_lba: 0,
            root_directory_record: DirRecord {
                length_bytes: 34,
                extended_attribute_sectors: 0,
                extent_lba: 23,
                data_length_bytes: 2048,
                recorded_at: RecordingDateTime::from_unix(0),
                file_flags: flags::DIRECTORY,
                file_unit_size: 0,
                interleave_gap_size: 0,
                volume_sequence_number: 1,
                identifier_length_bytes: 1,
            },
            volume_set_id: ascii_field(b"SET"),
            publisher_id: ascii_field(b""),
            data_preparer_id: ascii_field(b""),
            application_id: ascii_field(b"KIT"),
            copyright_file_id: ascii_field(b""),
            abstract_file_id: ascii_field(b""),
            bibliographic_file_id: ascii_field(b""),
            creation: VolumeDateTime::from_unix(1_700_000_000),
            modification: VolumeDateTime::from_unix(1_700_000_000),
            expiration: VolumeDateTime::UNSET,
            effective: VolumeDateTime::from_unix(1_700_000_000),
            file_structure_version: 1,
        }
    }

    #[test]
    fn round_trip_and_offsets() {
        assert_eq!(VolumeDescriptor::SIZE, 2048);
        let mut bytes = [0u8; VolumeDescriptor::SIZE];
        sample().encode(&mut bytes);
        assert_eq!(&bytes[..7], b"\x02CD001\x01");
        assert_eq!(&bytes[88..91], b"%/E");
        assert_eq!(bytes[80..88], [200, 0, 0, 0, 0, 0, 0, 200]);
        assert_eq!(bytes[128..132], [0, 8, 8, 0]);
        assert_eq!(bytes[140..144], [19, 0, 0, 0]);
        assert_eq!(bytes[148..152], [0, 0, 0, 20]);
        assert_eq!(bytes[156], 34);
        assert_eq!(bytes[189], 0);
        assert_eq!(&bytes[813..829], b"2023111422132000");
        assert_eq!(&bytes[847..863], b"0000000000000000");
        assert_eq!(bytes[881], 1);
        let decoded = VolumeDescriptor::decode(&bytes).unwrap();
        assert_eq!(decoded, sample());
        assert!(decoded.is_joliet());
        assert_eq!(field_text(&decoded.volume_id, true), "LK");
        assert_eq!(field_text(&decoded.system_id, false), "LINUX");
    }

    #[test]
    fn terminator_and_bad_descriptors() {
        let term = terminator();
        assert_eq!(&term[..7], b"\xffCD001\x01");
        assert_eq!(
            DescriptorHeader::decode(&array(&term, 0)).unwrap().descriptor_type,
            DescriptorType::Terminator
        );
        assert_eq!(
            VolumeDescriptor::decode(&term),
            Err("descriptor is not a primary or supplementary volume descriptor")
        );
        let mut bytes = [0u8; VolumeDescriptor::SIZE];
        sample().encode(&mut bytes);
        bytes[3] = b'X';
        assert_eq!(VolumeDescriptor::decode(&bytes), Err("standard identifier is not CD001"));
    }
}

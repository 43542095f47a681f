//! El Torito ("El Torito" Bootable CD-ROM Format Specification 1.0, Phoenix/IBM 1995): the
//! boot record volume descriptor (section 2.0) and the boot catalog's 32-byte entries: the
//! validation entry (2.1), the initial/default entry (2.2), section headers (2.3) and section
//! entries (2.4). One struct per structure, spec field names.

use crate::iso9660::volume_descriptor::STANDARD_IDENTIFIER;

/// Boot system identifier of the boot record (section 2.0).
pub(crate) const EL_TORITO_ID: &[u8] = b"EL TORITO SPECIFICATION";
/// Platform id 0: 80x86 (PC BIOS).
pub(crate) const PLATFORM_X86: u8 = 0x00;
/// Platform id 0xEF: EFI (UEFI 2.10 §13.3.2.1; not in El Torito 1.0).
pub(crate) const PLATFORM_EFI: u8 = 0xEF;
/// Boot indicator of a bootable entry.
pub(crate) const BOOTABLE: u8 = 0x88;
/// Section header indicator: more headers follow.
pub(crate) const HEADER_MORE: u8 = 0x90;
/// Section header indicator: the final header.
pub(crate) const HEADER_FINAL: u8 = 0x91;
/// Boot media type 0: no emulation.
pub(crate) const NO_EMULATION: u8 = 0;

/// A platform id's name, as `kit inspect` shows it.
pub(crate) fn platform_name(id: u8) -> &'static str {
    match id {
        0x00 => "x86 BIOS",
        0x01 => "PowerPC",
        0x02 => "Mac",
        0xEF => "EFI",
        _ => "unknown",
    }
}

/// The boot record volume descriptor (section 2.0, table 7), one 2048-byte sector at sector 17.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BootRecord {
    /// Byte 71-74: absolute sector of the boot catalog (little-endian).
    pub(crate) boot_catalog_lba: u32,
}

impl BootRecord {
    /// Encoded size: one sector.
    pub(crate) const SIZE: usize = 2048;

    /// Writes the descriptor: type 0, "CD001", version 1, the boot system id, the catalog.
    pub(crate) fn encode(&self, out: &mut [u8; Self::SIZE]) {
        out.fill(0);
        out[0] = 0;
        out[1..6].copy_from_slice(STANDARD_IDENTIFIER);
        out[6] = 1;
        out[7..7 + EL_TORITO_ID.len()].copy_from_slice(EL_TORITO_ID);
        out[71..75].copy_from_slice(&self.boot_catalog_lba.to_le_bytes());
    }

    /// Parses an El Torito boot record; `None` for other boot records.
    pub(crate) fn decode(bytes: &[u8; Self::SIZE]) -> Option<BootRecord> {
        let id_end = 7 + EL_TORITO_ID.len();
        let is_el_torito = bytes[0] == 0
            && &bytes[1..6] == STANDARD_IDENTIFIER
            && &bytes[7..id_end] == EL_TORITO_ID
            && bytes[id_end..39].iter().all(|b| *b == 0);
        is_el_torito.then(|| BootRecord {
            boot_catalog_lba: u32::from_le_bytes([bytes[71], bytes[72], bytes[73], bytes[74]]),
        })
    }
}

/// The validation entry (section 2.1, table 8): the catalog's first 32 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ValidationEntry {
    /// Byte 1: platform id of the default entry.
    pub(crate) platform_id: u8,
    /// Bytes 4-27: manufacturer/developer id.
    pub(crate) id_string: [u8; 24],
}

/// Why a validation entry is rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValidationError {
    /// Byte 0 is not 1.
    HeaderId,
    /// Bytes 30-31 are not 0x55 0xAA.
    Key,
    /// The 16-bit words do not sum to 0.
    Checksum,
}

impl ValidationError {
    pub(crate) fn message(self) -> &'static str {
        match self {
            ValidationError::HeaderId => "validation entry header id is not 1",
            ValidationError::Key => "validation entry does not end with 0x55 0xAA",
            ValidationError::Checksum => "validation entry checksum does not sum to 0",
        }
    }
}

impl ValidationEntry {
    /// Encoded size.
    pub(crate) const SIZE: usize = 32;

    /// Writes the entry with the checksum (bytes 28-29) that makes its sixteen little-endian
    /// words sum to 0.
    pub(crate) fn encode(&self, out: &mut [u8; Self::SIZE]) {
        out.fill(0);
        out[0] = 1;
        out[1] = self.platform_id;
        out[4..28].copy_from_slice(&self.id_string);
        out[30] = 0x55;
        out[31] = 0xAA;
        let sum = word_sum(out);
        out[28..30].copy_from_slice(&0u16.wrapping_sub(sum).to_le_bytes());
    }

    pub(crate) fn decode(bytes: &[u8; Self::SIZE]) -> Result<ValidationEntry, ValidationError> {
        if bytes[0] != 1 {
            return Err(ValidationError::HeaderId);
        }
        if bytes[30] != 0x55 || bytes[31] != 0xAA {
            return Err(ValidationError::Key);
        }
        if word_sum(bytes) != 0 {
            return Err(ValidationError::Checksum);
        }
        let mut id_string = [0u8; 24];
        id_string.copy_from_slice(&bytes[4..28]);
        Ok(ValidationEntry { platform_id: bytes[1], id_string })
    }
}

fn word_sum(bytes: &[u8; 32]) -> u16 {
    bytes
        .chunks_exact(2)
        .fold(0u16, |sum, word| sum.wrapping_add(u16::from_le_bytes([word[0], word[1]])))
}

/// The initial/default entry (section 2.2, table 9) and section entries (2.4, table 11): the
/// same layout, section entries add the selection criteria.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BootEntry {
    /// Byte 0: 0x88 bootable, 0x00 not bootable.
    pub(crate) boot_indicator: u8,
    /// Byte 1: boot media type (0 no emulation, 1-3 diskettes, 4 hard disk).
    pub(crate) boot_media_type: u8,
    /// Bytes 2-3: load segment (0 means the traditional 0x7C0).
    pub(crate) load_segment: u16,
    /// Byte 4: system type (the partition type of an emulated hard disk).
    pub(crate) system_type: u8,
    /// Bytes 6-7: sector count: virtual 512-byte sectors loaded at boot.
    pub(crate) sector_count: u16,
    /// Bytes 8-11: load RBA: the image's first 2048-byte sector.
    pub(crate) load_rba: u32,
    /// Byte 12 of a section entry: selection criteria type (0 for none).
    pub(crate) selection_criteria_type: u8,
}

impl BootEntry {
    /// Encoded size.
    pub(crate) const SIZE: usize = 32;

    pub(crate) fn encode(&self, out: &mut [u8; Self::SIZE]) {
        out.fill(0);
        out[0] = self.boot_indicator;
        out[1] = self.boot_media_type;
        out[2..4].copy_from_slice(&self.load_segment.to_le_bytes());
        out[4] = self.system_type;
        out[6..8].copy_from_slice(&self.sector_count.to_le_bytes());
        out[8..12].copy_from_slice(&self.load_rba.to_le_bytes());
        out[12] = self.selection_criteria_type;
    }

    pub(crate) fn decode(bytes: &[u8; Self::SIZE]) -> BootEntry {
        BootEntry {
            boot_indicator: bytes[0],
            boot_media_type: bytes[1],
            load_segment: u16::from_le_bytes([bytes[2], bytes[3]]),
            system_type: bytes[4],
            sector_count: u16::from_le_bytes([bytes[6], bytes[7]]),
            load_rba: u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]),
            selection_criteria_type: bytes[12],
        }
    }
}

/// A section header entry (section 2.3, table 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SectionHeader {
    /// Byte 0: 0x90 (more headers follow) or 0x91 (final header).
    pub(crate) header_indicator: u8,
    /// Byte 1: platform id of the section's entries.
    pub(crate) platform_id: u8,
    /// Bytes 2-3: number of section entries that follow.
    pub(crate) section_entries: u16,
    /// Bytes 4-31: id string.
    pub(crate) id_string: [u8; 28],
}

impl SectionHeader {
    /// Encoded size.
    pub(crate) const SIZE: usize = 32;

    pub(crate) fn encode(&self, out: &mut [u8; Self::SIZE]) {
        out[0] = self.header_indicator;
        out[1] = self.platform_id;
        out[2..4].copy_from_slice(&self.section_entries.to_le_bytes());
        out[4..32].copy_from_slice(&self.id_string);
    }

    /// Parses a header; `None` when byte 0 is neither 0x90 nor 0x91 (the end of the catalog).
    pub(crate) fn decode(bytes: &[u8; Self::SIZE]) -> Option<SectionHeader> {
        if bytes[0] != HEADER_MORE && bytes[0] != HEADER_FINAL {
            return None;
        }
        let mut id_string = [0u8; 28];
        id_string.copy_from_slice(&bytes[4..32]);
        Some(SectionHeader {
            header_indicator: bytes[0],
            platform_id: bytes[1],
            section_entries: u16::from_le_bytes([bytes[2], bytes[3]]),
            id_string,
        })
    }
}

/// One boot image of a catalog: its platform and its entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CatalogImage {
    /// Platform id.
    pub(crate) platform_id: u8,
    /// Its entry.
    pub(crate) entry: BootEntry,
}

/// The catalog sector for `images`: the first is the default entry (its platform in the
/// validation entry), each further one gets a section header of its own platform (the last
/// header final), as libisofs writes catalogs. At most 62 images fit in the sector.
pub(crate) fn encode_catalog(images: &[CatalogImage]) -> Vec<u8> {
    let mut out = vec![0u8; 2048];
    let Some((first, rest)) = images.split_first() else { return out };
    let mut put = |slot: usize, bytes: &[u8; 32]| {
        if let Some(dst) = out.get_mut(slot * 32..slot * 32 + 32) {
            dst.copy_from_slice(bytes);
        }
    };
    let mut bytes = [0u8; 32];
    ValidationEntry { platform_id: first.platform_id, id_string: [0; 24] }.encode(&mut bytes);
    put(0, &bytes);
    first.entry.encode(&mut bytes);
    put(1, &bytes);
    let mut slot = 2;
    for (idx, image) in rest.iter().enumerate() {
        let header_indicator = if idx + 1 == rest.len() { HEADER_FINAL } else { HEADER_MORE };
        SectionHeader {
            header_indicator,
            platform_id: image.platform_id,
            section_entries: 1,
            id_string: [0; 28],
        }
        .encode(&mut bytes);
        put(slot, &bytes);
        image.entry.encode(&mut bytes);
        put(slot + 1, &bytes);
        slot += 2;
    }
    out
}

/// Decodes a catalog: the validation entry, the default entry, then every section's entries
/// until a final header or an entry that is no header. Bounded by the bytes given.
pub(crate) fn decode_catalog(bytes: &[u8]) -> Result<Vec<CatalogImage>, &'static str> {
    let slot = |idx: usize| -> Option<[u8; 32]> {
        bytes.get(idx * 32..idx * 32 + 32).map(|s| {
            let mut out = [0u8; 32];
            out.copy_from_slice(s);
            out
        })
    };
    let validation = slot(0).ok_or("the catalog is shorter than 64 bytes")?;
    let validation = ValidationEntry::decode(&validation).map_err(ValidationError::message)?;
    let default = slot(1).ok_or("the catalog is shorter than 64 bytes")?;
    let mut images = vec![CatalogImage {
        platform_id: validation.platform_id,
        entry: BootEntry::decode(&default),
    }];
    let mut idx = 2;
    while let Some(raw) = slot(idx) {
        let Some(header) = SectionHeader::decode(&raw) else { break };
        idx += 1;
        for _ in 0..header.section_entries {
            let Some(raw) = slot(idx) else {
                return Err("a section's entries run past the end of the catalog");
            };
            idx += 1;
            // Extension entries (0x44) continue the previous entry's selection criteria.
            if raw[0] == 0x44 {
                continue;
            }
            images.push(CatalogImage {
                platform_id: header.platform_id,
                entry: BootEntry::decode(&raw),
            });
        }
        if header.header_indicator == HEADER_FINAL {
            break;
        }
    }
    Ok(images)
}

/// The sector count of a no-emulation entry for an image of `len_bytes`: its 512-byte
/// sectors, or 0 when they do not fit 16 bits, as libisofs (xorriso 1.5) writes for large EFI
/// images (firmware then loads the whole file, which its directory record or partition gives).
pub(crate) fn sector_count(len_bytes: u64) -> u16 {
    u16::try_from(len_bytes.div_ceil(512)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_round_trips() {
        let mut sector = [0u8; BootRecord::SIZE];
        let record = BootRecord { boot_catalog_lba: 0x0102_0304 };
        record.encode(&mut sector);
        assert_eq!(&sector[71..75], &[4, 3, 2, 1]);
        assert_eq!(BootRecord::decode(&sector), Some(record));
        sector[8] = b'x';
        assert_eq!(BootRecord::decode(&sector), None);

        let mut bytes = [0u8; 32];
        let validation = ValidationEntry { platform_id: PLATFORM_EFI, id_string: [0; 24] };
        validation.encode(&mut bytes);
        // What xorriso 1.5.4 writes for `-e efiboot.img` alone.
        assert_eq!(&bytes[..2], &[1, 0xEF]);
        assert_eq!(&bytes[28..], &[0xAA, 0x66, 0x55, 0xAA]);
        assert_eq!(ValidationEntry::decode(&bytes), Ok(validation));
        bytes[5] = 1;
        assert_eq!(ValidationEntry::decode(&bytes), Err(ValidationError::Checksum));

        let entry = BootEntry {
            boot_indicator: BOOTABLE,
            boot_media_type: NO_EMULATION,
            load_segment: 0,
            system_type: 0,
            sector_count: 5760,
            load_rba: 34,
            selection_criteria_type: 0,
        };
        entry.encode(&mut bytes);
        assert_eq!(&bytes[..12], &[0x88, 0, 0, 0, 0, 0, 0x80, 0x16, 0x22, 0, 0, 0]);
        assert_eq!(BootEntry::decode(&bytes), entry);

        let header = SectionHeader {
            header_indicator: HEADER_FINAL,
            platform_id: PLATFORM_EFI,
            section_entries: 1,
            id_string: [0; 28],
        };
        header.encode(&mut bytes);
        assert_eq!(&bytes[..4], &[0x91, 0xEF, 1, 0]);
        assert_eq!(SectionHeader::decode(&bytes), Some(header));
    }

    #[test]
    fn catalog_round_trip() {
        let entry = |rba| BootEntry {
            boot_indicator: BOOTABLE,
            boot_media_type: NO_EMULATION,
            load_segment: 0,
            system_type: 0,
            sector_count: 4,
            load_rba: rba,
            selection_criteria_type: 0,
        };
        let images = vec![
            CatalogImage { platform_id: PLATFORM_X86, entry: entry(40) },
            CatalogImage { platform_id: PLATFORM_EFI, entry: entry(41) },
        ];
        let bytes = encode_catalog(&images);
        assert_eq!(bytes.len(), 2048);
        assert_eq!(&bytes[64..68], &[0x91, 0xEF, 1, 0]);
        assert_eq!(decode_catalog(&bytes), Ok(images));
        assert_eq!(decode_catalog(&bytes[..40]), Err("the catalog is shorter than 64 bytes"));
    }

    #[test]
    fn sector_counts() {
        assert_eq!(sector_count(2880 * 1024), 5760);
        assert_eq!(sector_count(1), 1);
        assert_eq!(sector_count(65535 * 512), 65535);
        assert_eq!(sector_count(65535 * 512 + 1), 0);
    }
}

//! Emitting a planned image: the metadata sectors (descriptors, path tables, directories,
//! continuation areas) are encoded into one buffer, then the whole image is described as an
//! [`ExtentMap`] (system area, metadata, file extents, padding) and streamed in order.

use std::sync::Arc;

use crate::copy::ExactReader;
use crate::extent::{ExtentError, ExtentMap};
use crate::iso9660::datetime::{RecordingDateTime, VolumeDateTime};
use crate::iso9660::dir_record::{self, DirRecord, flags};
use crate::iso9660::el_torito::BootRecord;
use crate::iso9660::path_table::{self, PathTableRecord, PathTableType};
use crate::iso9660::plan::PlannedFile;
use crate::iso9660::plan::{
    Descriptor, Hierarchy, PADDING_SECTORS, Plan, SECTOR_BYTES, SYSTEM_AREA_SECTORS,
};
use crate::iso9660::volume_descriptor::{
    DescriptorType, JOLIET_LEVEL_3, VolumeDescriptor, ascii_field, terminator, ucs2_field,
};
use crate::iso9660::{Error, WriteSeek};
use crate::tree::{BlobRange, Content, ContentSource};

/// System identifier: the system that can act on sectors 0-15 (genisoimage writes `LINUX`).
const SYSTEM_ID: &[u8] = b"LINUX";
/// Application identifier.
const APPLICATION_ID: &[u8] = b"KIT";

/// Writes the image described by `plan`.
pub(crate) fn emit(
    plan: &Plan<'_>,
    source: &dyn ContentSource,
    out: &mut dyn WriteSeek,
) -> Result<(), Error> {
    let patch = match plan.boot.as_ref().and_then(|boot| boot.boot_info_table) {
        Some(idx) => match plan.files.get(idx) {
            Some(file) => Some((idx, boot_info_table(plan, file, source)?)),
            None => None,
        },
        None => None,
    };
    extent_map(plan, patch).write_to(source, out).map_err(|err| match err {
        ExtentError::Content(err) => Error::Content(err),
        ExtentError::Write { offset, source } => Error::Write { offset, source },
    })
}

/// The whole image as extents: the zero system area, the metadata sectors, each file's data
/// padded to a sector, the padding.
/// `patch` replaces the first 64 bytes of one file (the boot info table).
pub(crate) fn extent_map<'t>(plan: &Plan<'t>, patch: Option<(usize, [u8; 64])>) -> ExtentMap {
    let mut map = ExtentMap::new();
    let system_area = plan.boot.as_ref().and_then(|boot| boot.system_area.as_ref());
    match system_area {
        Some(area) => map.push_literal(Arc::<[u8]>::from(area.head.as_slice())),
        None => map.push_zeros(u64::from(SYSTEM_AREA_SECTORS) * SECTOR_BYTES),
    }
    map.push_literal(Arc::<[u8]>::from(metadata(plan)));
    for (idx, file) in plan.files.iter().enumerate() {
        if file.content.is_empty() {
            continue;
        }
        match patch {
            Some((patched, head)) if patched == idx => {
                map.push_literal(&head[..]);
                map.push_content(&file.path, skip_64(file.content));
            }
            _ => map.push_content(&file.path, file.content.clone()),
        }
        map.pad_to(SECTOR_BYTES);
    }
    let padding = u64::from(PADDING_SECTORS) * SECTOR_BYTES;
    let tail = system_area.map_or(&[][..], |area| area.tail.as_slice());
    let tail_bytes = u64::try_from(tail.len()).unwrap_or(padding).min(padding);
    map.push_zeros(padding - tail_bytes);
    if tail_bytes > 0 {
        map.push_literal(Arc::<[u8]>::from(tail));
    }
    map
}

/// The content after its first 64 bytes (the plan checked that it has them).
fn skip_64(content: &Content) -> Content {
    match content {
        Content::Inline(data) => Content::Inline(Arc::from(data.get(64..).unwrap_or(&[]))),
        Content::Blob(range) => Content::Blob(BlobRange {
            object: Arc::clone(&range.object),
            offset: range.offset.saturating_add(64),
            len: range.len.saturating_sub(64),
        }),
    }
}

/// The loader's first 64 bytes with ISOLINUX's boot info table (`isolinux.asm`,
/// `bi_pvd`, `bi_file`, `bi_length`, `bi_csum`, `bi_reserved`) at byte 8; reads the loader
/// once for the checksum: the sum of its little-endian 32-bit words from byte 64 on, a last
/// partial word padded with zeros.
fn boot_info_table(
    plan: &Plan<'_>,
    file: &PlannedFile<'_>,
    source: &dyn ContentSource,
) -> Result<[u8; 64], Error> {
    let mut reader = ExactReader::open(file.content, source, &file.path)?;
    let mut head = [0u8; 64];
    reader.read_chunk(&mut head)?;
    let mut checksum = 0u32;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read_chunk(&mut buf)?;
        if n == 0 {
            break;
        }
        // Chunks are whole words except the last one.
        for word in buf[..n].chunks(4) {
            let mut bytes = [0u8; 4];
            bytes[..word.len()].copy_from_slice(word);
            checksum = checksum.wrapping_add(u32::from_le_bytes(bytes));
        }
    }
    let pvd_lba = plan
        .descriptors
        .iter()
        .find(|(_, d)| *d == Descriptor::Primary)
        .map_or(SYSTEM_AREA_SECTORS, |(lba, _)| *lba);
    let table =
        [pvd_lba, file.lba, u32::try_from(file.content.len()).unwrap_or(u32::MAX), checksum];
    for (idx, value) in table.iter().enumerate() {
        head[8 + idx * 4..12 + idx * 4].copy_from_slice(&value.to_le_bytes());
    }
    head[24..64].fill(0);
    Ok(head)
}

/// Sectors 16 up to the first file's data.
fn metadata(plan: &Plan<'_>) -> Vec<u8> {
    let first_data_lba =
        plan.files.iter().map(|file| file.lba).find(|lba| *lba != 0).unwrap_or(plan.data_end_lba);
    let sectors = first_data_lba.saturating_sub(SYSTEM_AREA_SECTORS);
    let mut buf = Buffer {
        bytes: vec![0u8; usize::try_from(u64::from(sectors) * SECTOR_BYTES).unwrap_or(0)],
    };

    for (lba, descriptor) in &plan.descriptors {
        let bytes = match descriptor {
            Descriptor::Primary => volume_descriptor(plan, &plan.primary, false),
            Descriptor::Joliet => match &plan.joliet {
                Some(joliet) => volume_descriptor(plan, joliet, true),
                None => continue,
            },
            Descriptor::BootRecord => {
                let mut bytes = [0u8; BootRecord::SIZE];
                let boot_catalog_lba = plan.boot.as_ref().map_or(0, |boot| boot.catalog_lba);
                BootRecord { boot_catalog_lba }.encode(&mut bytes);
                bytes
            }
            Descriptor::Terminator => terminator(),
        };
        buf.put(*lba, 0, &bytes);
    }
    for hierarchy in std::iter::once(&plan.primary).chain(plan.joliet.as_ref()) {
        for (table, lba) in
            [(PathTableType::L, hierarchy.l_table_lba), (PathTableType::M, hierarchy.m_table_lba)]
        {
            buf.put(lba, 0, &path_table_bytes(hierarchy, table));
        }
        for dir in &hierarchy.dirs {
            for record in &dir.records {
                let header = DirRecord {
                    length_bytes: 0,
                    extended_attribute_sectors: 0,
                    extent_lba: record.extent_lba,
                    data_length_bytes: record.data_length_bytes,
                    recorded_at: RecordingDateTime::from_unix(record.mtime),
                    file_flags: record.flags,
                    file_unit_size: 0,
                    interleave_gap_size: 0,
                    volume_sequence_number: 1,
                    identifier_length_bytes: 0,
                };
                let mut bytes = Vec::with_capacity(dir_record::DirRecord::MAX_BYTES);
                dir_record::encode_record(
                    header,
                    &record.identifier,
                    &record.system_use,
                    &mut bytes,
                );
                buf.put(dir.lba, u64::from(record.offset), &bytes);
            }
        }
    }
    if let Some(boot) = &plan.boot {
        buf.put(boot.catalog_lba, 0, &boot.catalog);
    }
    for (idx, block) in plan.continuation_blocks.iter().enumerate() {
        let lba = u64::from(plan.continuation_lba) + u64::try_from(idx).unwrap_or(0);
        buf.put(u32::try_from(lba).unwrap_or(u32::MAX), 0, block);
    }
    buf.bytes
}

/// The metadata buffer, addressed by sector.
struct Buffer {
    bytes: Vec<u8>,
}

impl Buffer {
    /// Copies `data` to byte `offset` of sector `lba`. The plan placed every structure inside
    /// the metadata sectors; anything else would be a planning bug and is skipped.
    fn put(&mut self, lba: u32, offset: u64, data: &[u8]) {
        let start = (u64::from(lba.saturating_sub(SYSTEM_AREA_SECTORS)) * SECTOR_BYTES + offset)
            .try_into()
            .unwrap_or(usize::MAX);
        if let Some(slot) = self.bytes.get_mut(start..start.saturating_add(data.len())) {
            slot.copy_from_slice(data);
        }
    }
}

fn path_table_bytes(hierarchy: &Hierarchy, table: PathTableType) -> Vec<u8> {
    let mut out = Vec::with_capacity(usize::try_from(hierarchy.path_table_bytes).unwrap_or(0));
    for dir in &hierarchy.dirs {
        let record = PathTableRecord {
            identifier_length_bytes: 0,
            extended_attribute_sectors: 0,
            extent_lba: dir.lba,
            parent_directory_number: dir.parent_number,
        };
        path_table::encode_record(record, &dir.identifier, table, &mut out);
    }
    out
}

fn volume_descriptor(
    plan: &Plan<'_>,
    hierarchy: &Hierarchy,
    joliet: bool,
) -> [u8; VolumeDescriptor::SIZE] {
    let root = hierarchy.dirs.first();
    let root_record = DirRecord {
        length_bytes: 34,
        extended_attribute_sectors: 0,
        extent_lba: root.map_or(0, |dir| dir.lba),
        data_length_bytes: root.map_or(0, |dir| dir.size_bytes),
        recorded_at: RecordingDateTime::from_unix(
            root.and_then(|dir| dir.records.first()).map_or(plan.epoch, |record| record.mtime),
        ),
        file_flags: flags::DIRECTORY,
        file_unit_size: 0,
        interleave_gap_size: 0,
        volume_sequence_number: 1,
        identifier_length_bytes: 1,
    };
    let date = VolumeDateTime::from_unix(plan.epoch);
    let ucs2 = |text: &[u8]| -> Vec<u16> { text.iter().map(|b| u16::from(*b)).collect() };
    let descriptor = if joliet {
        let mut escape = [0u8; 32];
        escape[..3].copy_from_slice(JOLIET_LEVEL_3);
        VolumeDescriptor {
            descriptor_type: DescriptorType::Supplementary,
            volume_flags: 0,
            system_id: ucs2_field(&ucs2(SYSTEM_ID)),
            volume_id: ucs2_field(&ucs2(&plan.volume_id)),
            volume_space_size_sectors: plan.volume_sectors,
            escape_sequences: escape,
            volume_set_size: 1,
            volume_sequence_number: 1,
            logical_block_size_bytes: 2048,
            path_table_size_bytes: hierarchy.path_table_bytes,
            type_l_path_table_lba: hierarchy.l_table_lba,
            optional_type_l_path_table_lba: 0,
            type_m_path_table_lba: hierarchy.m_table_lba,
            optional_type_m_path_table_lba: 0,
            root_directory_record: root_record,
            volume_set_id: ucs2_field(&ucs2(&plan.volume_id)),
            publisher_id: ucs2_field(&[]),
            data_preparer_id: ucs2_field(&[]),
            application_id: ucs2_field(&ucs2(APPLICATION_ID)),
            copyright_file_id: ucs2_field(&[]),
            abstract_file_id: ucs2_field(&[]),
            bibliographic_file_id: ucs2_field(&[]),
            creation: date,
            modification: date,
            expiration: VolumeDateTime::UNSET,
            effective: date,
            file_structure_version: 1,
        }
    } else {
        VolumeDescriptor {
            descriptor_type: DescriptorType::Primary,
            volume_flags: 0,
            system_id: ascii_field(SYSTEM_ID),
            volume_id: ascii_field(&plan.volume_id),
            volume_space_size_sectors: plan.volume_sectors,
            escape_sequences: [0; 32],
            volume_set_size: 1,
            volume_sequence_number: 1,
            logical_block_size_bytes: 2048,
            path_table_size_bytes: hierarchy.path_table_bytes,
            type_l_path_table_lba: hierarchy.l_table_lba,
            optional_type_l_path_table_lba: 0,
            type_m_path_table_lba: hierarchy.m_table_lba,
            optional_type_m_path_table_lba: 0,
            root_directory_record: root_record,
            volume_set_id: ascii_field(&plan.volume_id),
            publisher_id: ascii_field(b""),
            data_preparer_id: ascii_field(b""),
            application_id: ascii_field(APPLICATION_ID),
            copyright_file_id: ascii_field(b""),
            abstract_file_id: ascii_field(b""),
            bibliographic_file_id: ascii_field(b""),
            creation: date,
            modification: date,
            expiration: VolumeDateTime::UNSET,
            effective: date,
            file_structure_version: 1,
        }
    };
    let mut bytes = [0u8; VolumeDescriptor::SIZE];
    descriptor.encode(&mut bytes);
    bytes
}

//! Emitting a planned VHDX: the header section, an empty log, the metadata, the BAT, then the
//! present payload blocks in disk order, streamed 1 MiB at a time.

use std::io::Write;

use crate::extent::{ExtentCursor, ExtentMap};
use crate::gpt::Guid;
use crate::tree::ContentSource;
use crate::vhdx::header::{
    BAT_GUID, FILE_SIGNATURE, FileIdentifier, HEADER_SIGNATURE, Header, METADATA_GUID,
    REGION_SIGNATURE, RegionEntry, RegionTable, VERSION,
};
use crate::vhdx::metadata::{
    self, FLAG_IS_REQUIRED, FLAG_IS_VIRTUAL_DISK, LEAVE_BLOCK_ALLOCATED, MetadataEntry,
    MetadataTable,
};
use crate::vhdx::plan::{
    BAT_OFFSET, LOG_LENGTH, LOG_OFFSET, Layout, METADATA_LENGTH, METADATA_OFFSET, MIB, plan,
};
use crate::vhdx::{Error, VhdxOptions};

/// The `Creator` of the file type identifier.
pub const CREATOR: &str = "kit";

fn header_section(layout: &Layout) -> Result<Vec<u8>, Error> {
    let mut section = vec![0u8; usize::try_from(MIB).unwrap_or(1 << 20)];
    let mut id = [0u8; FileIdentifier::SIZE];
    FileIdentifier { signature: FILE_SIGNATURE, creator: CREATOR.to_owned() }.encode(&mut id);
    section[..FileIdentifier::SIZE].copy_from_slice(&id);
    for (sequence_number, at) in [(1u64, 64 * 1024usize), (2, 128 * 1024)] {
        let header = Header {
            signature: HEADER_SIGNATURE,
            checksum: 0,
            sequence_number,
            file_write_guid: layout.file_write_guid,
            data_write_guid: layout.data_write_guid,
            log_guid: Guid::ZERO,
            log_version: 0,
            version: VERSION,
            log_length_bytes: u32::try_from(LOG_LENGTH).unwrap_or(0),
            log_offset_bytes: LOG_OFFSET,
        }
        .with_checksum();
        let mut bytes = [0u8; Header::SIZE];
        header.encode(&mut bytes);
        section[at..at + Header::SIZE].copy_from_slice(&bytes);
    }
    let bat_length = u32::try_from(layout.bat_length_bytes).map_err(|_| Error::TooLarge {
        size_bytes: layout.virtual_size_bytes,
        max_bytes: crate::vhdx::plan::MAX_SIZE_BYTES,
    })?;
    let table = RegionTable {
        signature: REGION_SIGNATURE,
        checksum: 0,
        entries: vec![
            RegionEntry {
                guid: BAT_GUID,
                file_offset_bytes: BAT_OFFSET,
                length_bytes: bat_length,
                required: true,
            },
            RegionEntry {
                guid: METADATA_GUID,
                file_offset_bytes: METADATA_OFFSET,
                length_bytes: u32::try_from(METADATA_LENGTH).unwrap_or(0),
                required: true,
            },
        ],
    }
    .with_checksum();
    for at in [192 * 1024usize, 256 * 1024] {
        table.encode(&mut section[at..at + RegionTable::SIZE]);
    }
    Ok(section)
}

fn metadata_region(layout: &Layout, options: &VhdxOptions) -> Vec<u8> {
    let mut region = vec![0u8; usize::try_from(METADATA_LENGTH).unwrap_or(1 << 20)];
    let block = u32::try_from(layout.block_bytes).unwrap_or(0);
    let flags = if options.leave_block_allocated { LEAVE_BLOCK_ALLOCATED } else { 0 };
    let mut file_parameters = Vec::new();
    file_parameters.extend_from_slice(&block.to_le_bytes());
    file_parameters.extend_from_slice(&flags.to_le_bytes());
    let items: [(_, Vec<u8>, u32); 5] = [
        (metadata::FILE_PARAMETERS, file_parameters, FLAG_IS_REQUIRED),
        (
            metadata::VIRTUAL_DISK_SIZE,
            layout.virtual_size_bytes.to_le_bytes().to_vec(),
            FLAG_IS_REQUIRED | FLAG_IS_VIRTUAL_DISK,
        ),
        (
            metadata::PAGE_83_DATA,
            layout.page_83.to_disk_bytes().to_vec(),
            FLAG_IS_REQUIRED | FLAG_IS_VIRTUAL_DISK,
        ),
        (
            metadata::LOGICAL_SECTOR_SIZE,
            layout.logical_sector_bytes.to_le_bytes().to_vec(),
            FLAG_IS_REQUIRED | FLAG_IS_VIRTUAL_DISK,
        ),
        (
            metadata::PHYSICAL_SECTOR_SIZE,
            layout.physical_sector_bytes.to_le_bytes().to_vec(),
            FLAG_IS_REQUIRED | FLAG_IS_VIRTUAL_DISK,
        ),
    ];
    let mut entries = Vec::new();
    let mut at = 64 * 1024usize;
    for (item_id, bytes, flags) in items {
        region[at..at + bytes.len()].copy_from_slice(&bytes);
        entries.push(MetadataEntry {
            item_id,
            offset_bytes: u32::try_from(at).unwrap_or(0),
            length_bytes: u32::try_from(bytes.len()).unwrap_or(0),
            flags,
        });
        at += bytes.len();
    }
    MetadataTable { signature: metadata::SIGNATURE, entries }.encode(&mut region);
    region
}

/// Writes `disk` as a dynamic VHDX to `out`; returns the number of bytes written.
pub fn write(
    disk: &ExtentMap,
    source: &dyn ContentSource,
    options: &VhdxOptions,
    out: &mut dyn Write,
) -> Result<u64, Error> {
    let layout = plan(disk, options)?;
    let mut written = 0u64;
    let put = |out: &mut dyn Write, bytes: &[u8], written: &mut u64| -> Result<(), Error> {
        out.write_all(bytes).map_err(|source| Error::Write { offset: *written, source })?;
        *written += u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        Ok(())
    };
    put(out, &header_section(&layout)?, &mut written)?;
    let mut buf = vec![0u8; usize::try_from(MIB).unwrap_or(1 << 20)];
    put(out, &buf, &mut written)?; // the empty log
    put(out, &metadata_region(&layout, options), &mut written)?;
    let mut bat = Vec::with_capacity(buf.len());
    let mut bat_written = 0u64;
    for entry in &layout.bat {
        bat.extend_from_slice(&entry.to_le_bytes());
        if bat.len() >= buf.len() {
            put(out, &bat, &mut written)?;
            bat_written += u64::try_from(bat.len()).unwrap_or(0);
            bat.clear();
        }
    }
    let rest = usize::try_from(layout.bat_length_bytes - bat_written).unwrap_or(0);
    bat.resize(rest, 0);
    put(out, &bat, &mut written)?;
    let mut cursor = ExtentCursor::new(disk, source);
    for place in &layout.blocks {
        if place.is_none() {
            cursor.skip(layout.block_bytes)?;
            continue;
        }
        let mut left = layout.block_bytes;
        while left > 0 {
            let step = usize::try_from(left.min(MIB)).unwrap_or(buf.len());
            cursor.fill(&mut buf[..step])?;
            put(out, &buf[..step], &mut written)?;
            left -= u64::try_from(step).unwrap_or(u64::MAX);
        }
    }
    debug_assert_eq!(written, layout.file_bytes);
    Ok(written)
}

/// Writes `disk` as a VHDX into a vector (tests, small disks).
pub fn to_vec(
    disk: &ExtentMap,
    source: &dyn ContentSource,
    options: &VhdxOptions,
) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    write(disk, source, options, &mut out)?;
    Ok(out)
}

//! Reading a VHDX back: the guest disk's bytes, and a summary for `kit inspect`. Every offset
//! and length read from the image is checked against the file's size and the spec's limits.

use std::io::{Read, Seek, SeekFrom, Write};

use crate::gpt::{Guid, SectorSize};
use crate::vhd::{ReadSeek, copy_range, zeros};
use crate::vhdx::Error;
use crate::vhdx::bat::BatEntry;
use crate::vhdx::header::{
    BAT_GUID, FILE_SIGNATURE, FileIdentifier, HEADER_SIGNATURE, Header, METADATA_GUID,
    REGION_SIGNATURE, RegionTable, VERSION, u32_at, u64_at,
};
use crate::vhdx::metadata::{self, HAS_PARENT, MetadataTable};
use crate::vhdx::plan::{
    MAX_SIZE_BYTES, MIB, PAYLOAD_BLOCK_FULLY_PRESENT, PAYLOAD_BLOCK_NOT_PRESENT,
    PAYLOAD_BLOCK_PARTIALLY_PRESENT, PAYLOAD_BLOCK_UNDEFINED, PAYLOAD_BLOCK_UNMAPPED,
    PAYLOAD_BLOCK_ZERO, bat_entries, chunk_ratio, payload_index,
};

fn invalid(what: impl Into<String>) -> Error {
    Error::Invalid { what: what.into() }
}

fn read_at(input: &mut dyn ReadSeek, offset: u64, buf: &mut [u8], what: &str) -> Result<(), Error> {
    input
        .seek(SeekFrom::Start(offset))
        .and_then(|_| input.read_exact(buf))
        .map_err(|source| Error::Read { what: format!("{what} at byte {offset}"), source })
}

struct Image {
    file_bytes: u64,
    creator: String,
    header: Header,
    bat_offset: u64,
    bat_length: u64,
    virtual_size: u64,
    block_bytes: u64,
    flags: u32,
    logical: u32,
    physical: u32,
    page_83: Guid,
    chunk_ratio: u64,
}

fn open(input: &mut dyn ReadSeek) -> Result<Image, Error> {
    let file_bytes = input
        .seek(SeekFrom::End(0))
        .map_err(|source| Error::Read { what: "the image size".to_owned(), source })?;
    if file_bytes < 320 * 1024 {
        return Err(invalid(format!(
            "image is {file_bytes} bytes, shorter than the header section"
        )));
    }
    let mut id = [0u8; FileIdentifier::SIZE];
    read_at(input, 0, &mut id, "the file type identifier")?;
    let id = FileIdentifier::decode(&id);
    if id.signature != FILE_SIGNATURE {
        return Err(invalid("file type identifier signature is not \"vhdxfile\""));
    }
    let mut current: Option<Header> = None;
    for at in [64 * 1024u64, 128 * 1024] {
        let mut bytes = [0u8; Header::SIZE];
        read_at(input, at, &mut bytes, "a header")?;
        let header = Header::decode(&bytes);
        if header.signature != HEADER_SIGNATURE
            || header.checksum != Header::compute_checksum(&bytes)
            || header.version != VERSION
        {
            continue;
        }
        if current.as_ref().is_none_or(|c| header.sequence_number > c.sequence_number) {
            current = Some(header);
        }
    }
    let header = current
        .ok_or_else(|| invalid("neither header is valid (signature, CRC-32C, version 1)"))?;
    if header.log_guid != Guid::ZERO {
        return Err(invalid(format!(
            "the log is not empty (LogGuid {}); replaying a log is not supported",
            header.log_guid
        )));
    }
    let mut table = None;
    for at in [192 * 1024u64, 256 * 1024] {
        let mut bytes = vec![0u8; RegionTable::SIZE];
        read_at(input, at, &mut bytes, "a region table")?;
        match RegionTable::decode(&bytes) {
            Some(t)
                if t.signature == REGION_SIGNATURE
                    && t.checksum == RegionTable::compute_checksum(&bytes) =>
            {
                table = Some(t);
                break;
            }
            _ => {}
        }
    }
    let table =
        table.ok_or_else(|| invalid("neither region table is valid (signature, CRC-32C)"))?;
    let (mut bat, mut meta) = (None, None);
    for entry in &table.entries {
        let end = entry.file_offset_bytes.checked_add(u64::from(entry.length_bytes));
        if end.is_none_or(|end| end > file_bytes) {
            return Err(invalid(format!(
                "region {} at byte {} is past the end ({file_bytes})",
                entry.guid, entry.file_offset_bytes
            )));
        }
        if entry.guid == BAT_GUID {
            bat = Some(*entry);
        } else if entry.guid == METADATA_GUID {
            meta = Some(*entry);
        } else if entry.required {
            return Err(invalid(format!("unknown required region {}", entry.guid)));
        }
    }
    let bat = bat.ok_or_else(|| invalid("no BAT region"))?;
    let meta = meta.ok_or_else(|| invalid("no metadata region"))?;
    let meta_length = u64::from(meta.length_bytes);
    if meta_length < 64 * 1024 {
        return Err(invalid(format!("metadata region of {meta_length} bytes holds no table")));
    }
    let mut bytes = vec![0u8; MetadataTable::SIZE];
    read_at(input, meta.file_offset_bytes, &mut bytes, "the metadata table")?;
    let table = MetadataTable::decode(&bytes).ok_or_else(|| invalid("metadata table too short"))?;
    if table.signature != metadata::SIGNATURE {
        return Err(invalid("metadata table signature is not \"metadata\""));
    }
    let item = |id: Guid, len: usize, input: &mut dyn ReadSeek| -> Result<Vec<u8>, Error> {
        let entry = table
            .entries
            .iter()
            .find(|e| e.item_id == id)
            .ok_or_else(|| invalid(format!("metadata item {id} is missing")))?;
        if usize::try_from(entry.length_bytes).ok() != Some(len) {
            return Err(invalid(format!(
                "metadata item {id} is {} bytes, expected {len}",
                entry.length_bytes
            )));
        }
        let end = u64::from(entry.offset_bytes) + u64::from(entry.length_bytes);
        if end > meta_length {
            return Err(invalid(format!("metadata item {id} ends past its region")));
        }
        let mut out = vec![0u8; len];
        read_at(
            input,
            meta.file_offset_bytes + u64::from(entry.offset_bytes),
            &mut out,
            "a metadata item",
        )?;
        Ok(out)
    };
    if let Some(entry) = table.entries.iter().find(|e| {
        e.flags & metadata::FLAG_IS_REQUIRED != 0
            && ![
                metadata::FILE_PARAMETERS,
                metadata::VIRTUAL_DISK_SIZE,
                metadata::PAGE_83_DATA,
                metadata::LOGICAL_SECTOR_SIZE,
                metadata::PHYSICAL_SECTOR_SIZE,
            ]
            .contains(&e.item_id)
    }) {
        return Err(invalid(format!("unknown required metadata item {}", entry.item_id)));
    }
    let params = item(metadata::FILE_PARAMETERS, 8, input)?;
    let block_bytes = u64::from(u32_at(&params, 0));
    let flags = u32_at(&params, 4);
    if flags & HAS_PARENT != 0 {
        return Err(invalid("differencing disks (HasParent) are not supported"));
    }
    if !(MIB..=256 * MIB).contains(&block_bytes) || !block_bytes.is_power_of_two() {
        return Err(invalid(format!(
            "block size {block_bytes} is not a power of two from 1 MiB to 256 MiB"
        )));
    }
    let virtual_size = u64_at(&item(metadata::VIRTUAL_DISK_SIZE, 8, input)?, 0);
    let mut raw = [0u8; 16];
    raw.copy_from_slice(&item(metadata::PAGE_83_DATA, 16, input)?);
    let page_83 = Guid::from_disk_bytes(&raw);
    let logical = u32_at(&item(metadata::LOGICAL_SECTOR_SIZE, 4, input)?, 0);
    let physical = u32_at(&item(metadata::PHYSICAL_SECTOR_SIZE, 4, input)?, 0);
    let logical_size = match logical {
        512 => SectorSize::Bytes512,
        4096 => SectorSize::Bytes4096,
        other => return Err(invalid(format!("logical sector size {other} is not 512 or 4096"))),
    };
    if virtual_size > MAX_SIZE_BYTES || !virtual_size.is_multiple_of(u64::from(logical)) {
        return Err(invalid(format!(
            "virtual size {virtual_size} is not a multiple of {logical} up to 64 TiB"
        )));
    }
    let ratio = chunk_ratio(logical_size, block_bytes);
    let entries = bat_entries(virtual_size.div_ceil(block_bytes), ratio);
    if entries * 8 > u64::from(bat.length_bytes) {
        return Err(invalid(format!(
            "BAT region of {} bytes holds fewer than {entries} entries",
            bat.length_bytes
        )));
    }
    Ok(Image {
        file_bytes,
        creator: id.creator,
        header,
        bat_offset: bat.file_offset_bytes,
        bat_length: u64::from(bat.length_bytes),
        virtual_size,
        block_bytes,
        flags,
        logical,
        physical,
        page_83,
        chunk_ratio: ratio,
    })
}

/// Writes the guest disk's bytes (`VirtualDiskSize` of them) to `out`; returns their number.
pub fn read_to(input: &mut (impl Read + Seek), out: &mut dyn Write) -> Result<u64, Error> {
    read_to_dyn(input, out)
}

fn read_to_dyn(input: &mut dyn ReadSeek, out: &mut dyn Write) -> Result<u64, Error> {
    let image = open(input)?;
    let mut written = 0u64;
    let blocks = image.virtual_size.div_ceil(image.block_bytes);
    let io_err = |source, at: u64| Error::Read { what: format!("disk byte {at}"), source };
    for block in 0..blocks {
        let len = image.block_bytes.min(image.virtual_size - block * image.block_bytes);
        let mut raw = [0u8; 8];
        let index = payload_index(block, image.chunk_ratio);
        read_at(input, image.bat_offset + index * 8, &mut raw, "a BAT entry")?;
        let entry = BatEntry::decode(&raw);
        match entry.state {
            PAYLOAD_BLOCK_NOT_PRESENT
            | PAYLOAD_BLOCK_UNDEFINED
            | PAYLOAD_BLOCK_ZERO
            | PAYLOAD_BLOCK_UNMAPPED => {
                zeros(len, out, &mut written).map_err(|e| io_err(e, written))?;
            }
            PAYLOAD_BLOCK_FULLY_PRESENT => {
                let offset = entry.file_offset_mb * MIB;
                if offset.checked_add(len).is_none_or(|end| end > image.file_bytes) {
                    return Err(invalid(format!(
                        "block {block} at byte {offset} is past the end ({})",
                        image.file_bytes
                    )));
                }
                copy_range(input, offset, len, out, &mut written)
                    .map_err(|e| io_err(e, written))?;
            }
            PAYLOAD_BLOCK_PARTIALLY_PRESENT => {
                return Err(invalid(format!(
                    "block {block} is partially present (differencing disks are not supported)"
                )));
            }
            other => return Err(invalid(format!("block {block} has the undefined state {other}"))),
        }
    }
    Ok(written)
}

/// Key/value lines describing the image, for `kit inspect`.
pub fn summary(input: &mut (impl Read + Seek)) -> Result<Vec<(String, String)>, Error> {
    let image = open(input)?;
    let mut present = 0u64;
    let blocks = image.virtual_size.div_ceil(image.block_bytes);
    for block in 0..blocks {
        let mut raw = [0u8; 8];
        read_at(
            input,
            image.bat_offset + payload_index(block, image.chunk_ratio) * 8,
            &mut raw,
            "a BAT entry",
        )?;
        if BatEntry::decode(&raw).state == PAYLOAD_BLOCK_FULLY_PRESENT {
            present += 1;
        }
    }
    let h = &image.header;
    Ok(vec![
        ("format".to_owned(), "VHDX version 1".to_owned()),
        ("creator".to_owned(), image.creator.clone()),
        ("virtual size".to_owned(), format!("{} bytes", image.virtual_size)),
        ("block size".to_owned(), format!("{} bytes", image.block_bytes)),
        (
            "sector size".to_owned(),
            format!("{} logical, {} physical", image.logical, image.physical),
        ),
        (
            "leave blocks allocated".to_owned(),
            (image.flags & metadata::LEAVE_BLOCK_ALLOCATED != 0).to_string(),
        ),
        ("page 83 data".to_owned(), image.page_83.to_string()),
        ("header sequence number".to_owned(), h.sequence_number.to_string()),
        ("file write guid".to_owned(), h.file_write_guid.to_string()),
        ("data write guid".to_owned(), h.data_write_guid.to_string()),
        (
            "log".to_owned(),
            format!("{} bytes at byte {}, empty", h.log_length_bytes, h.log_offset_bytes),
        ),
        (
            "BAT".to_owned(),
            format!(
                "{} bytes at byte {}, chunk ratio {}",
                image.bat_length, image.bat_offset, image.chunk_ratio
            ),
        ),
        ("present blocks".to_owned(), format!("{present} of {blocks}")),
    ])
}

//! Laying out a planned disk as extents: MBR, primary header and array, partitions, backup array
//! and header.

use std::sync::Arc;

use crate::extent::ExtentMap;
use crate::gpt::Error;
use crate::gpt::header::{GptHeader, crc32};
use crate::gpt::mbr::Mbr;
use crate::gpt::plan::Layout;

/// The whole disk of `layout` with `contents[i]` at the start of partition `i + 1`, the rest of
/// each partition zero. Each content must fit its partition.
pub fn write(layout: &Layout, contents: &[ExtentMap]) -> Result<ExtentMap, Error> {
    if contents.len() != layout.partitions.len() {
        return Err(Error::ContentCount {
            expected: layout.partitions.len(),
            found: contents.len(),
        });
    }
    for (partition, content) in layout.partitions.iter().zip(contents) {
        let slot_bytes = partition.size_bytes(layout);
        if content.len_bytes() > slot_bytes {
            return Err(Error::ContentTooLarge {
                name: partition.name.clone(),
                content_bytes: content.len_bytes(),
                slot_bytes,
            });
        }
    }
    let sector = layout.sector_bytes;
    let array = layout.entry_array();
    let array_crc = crc32(&array);
    let array: Arc<[u8]> = Arc::from(array);

    let mut disk = ExtentMap::new();
    let mut mbr = [0u8; Mbr::SIZE];
    layout.mbr.encode(&mut mbr);
    disk.push_literal(&mbr[..]);
    disk.pad_to(sector);
    push_header(&mut disk, &layout.header(false, array_crc), sector);
    disk.push_literal(Arc::clone(&array));
    for (partition, content) in layout.partitions.iter().zip(contents) {
        disk.push_zeros(partition.start_bytes(layout) - disk.len_bytes());
        for (_, extent) in content.iter() {
            disk.push(extent.clone());
        }
        disk.push_zeros(partition.size_bytes(layout) - content.len_bytes());
    }
    disk.push_zeros(layout.backup_entries_lba * sector - disk.len_bytes());
    disk.push_literal(array);
    disk.pad_to(sector);
    push_header(&mut disk, &layout.header(true, array_crc), sector);
    debug_assert_eq!(disk.len_bytes(), layout.disk_bytes);
    Ok(disk)
}

/// A header and the zeros that fill its sector.
fn push_header(disk: &mut ExtentMap, header: &GptHeader, sector: u64) {
    let mut bytes = [0u8; GptHeader::SIZE];
    header.encode(&mut bytes);
    disk.push_literal(&bytes[..]);
    disk.pad_to(sector);
}

//! Emitting a stream-optimized VMDK in one pass: header, descriptor, compressed grains with
//! each span's grain table after them, the grain directory, the footer, end of stream.

use std::io::Write;

use flate2::Compression;
use flate2::write::ZlibEncoder;

use crate::disk_chunks::{Chunks, allocated_runs, describe_hash};
use crate::extent::ExtentMap;
use crate::tree::ContentSource;
use crate::vmdk::descriptor::{self, DESCRIPTOR_SECTORS};
use crate::vmdk::header::{
    GD_AT_END, GrainMarker, MetadataMarker, SECTOR_BYTES, SparseExtentHeader, flags, marker,
};
use crate::vmdk::{Error, GRAIN_BYTES, VmdkOptions};

/// Grain table entries per table.
pub(crate) const GTES_PER_GT: u64 = 512;
/// Sectors before the first grain (as qemu-img: one grain).
const OVERHEAD_SECTORS: u64 = 128;
/// zlib level of every grain.
const LEVEL: u32 = 6;

/// A writer that knows its offset and pads to sectors.
struct Out<'a> {
    out: &'a mut dyn Write,
    offset: u64,
}

impl Out<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let offset = self.offset;
        self.out.write_all(bytes).map_err(|source| Error::Write { offset, source })?;
        self.offset += u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        Ok(())
    }

    /// Zeros up to the next sector boundary.
    fn pad(&mut self) -> Result<(), Error> {
        let rest = usize::try_from(self.offset % SECTOR_BYTES).unwrap_or(0);
        if rest != 0 {
            self.put(&[0u8; 512][rest..])?;
        }
        Ok(())
    }

    /// The current sector, which 32-bit table entries must be able to hold.
    fn sector_u32(&self) -> Result<u32, Error> {
        u32::try_from(self.offset / SECTOR_BYTES)
            .map_err(|_| Error::TooLarge { max_bytes: u64::from(u32::MAX) * SECTOR_BYTES })
    }

    fn marker(&mut self, num_sectors: u64, marker_type: u32) -> Result<(), Error> {
        let mut bytes = [0u8; MetadataMarker::SIZE];
        MetadataMarker { num_sectors, marker_type }.encode(&mut bytes);
        self.put(&bytes)
    }
}

/// The header of the stream (`gd_offset_sectors` = [`GD_AT_END`]) or of the footer.
fn header(capacity_sectors: u64, gd_offset_sectors: u64) -> SparseExtentHeader {
    SparseExtentHeader {
        version: 3,
        flags: flags::NEWLINE_DETECTION | flags::COMPRESSED | flags::MARKERS,
        capacity_sectors,
        grain_size_sectors: GRAIN_BYTES / SECTOR_BYTES,
        descriptor_offset_sectors: 1,
        descriptor_size_sectors: DESCRIPTOR_SECTORS,
        num_gtes_per_gt: 512,
        rgd_offset_sectors: 0,
        gd_offset_sectors,
        overhead_sectors: OVERHEAD_SECTORS,
        unclean_shutdown: 0,
        compress_algorithm: 1,
    }
}

/// The CID: the first 4 bytes of a hash of the disk's description.
pub(crate) fn derived_cid(disk: &ExtentMap) -> u32 {
    let hash = describe_hash(disk);
    u32::from_le_bytes([hash[0], hash[1], hash[2], hash[3]])
}

/// Writes the grain table `table` of span `index` if it has any grain.
fn flush_table(out: &mut Out<'_>, gd: &mut [u32], index: u64, table: &[u32]) -> Result<(), Error> {
    if table.iter().all(|entry| *entry == 0) {
        return Ok(());
    }
    out.marker(GTES_PER_GT * 4 / SECTOR_BYTES, marker::GRAIN_TABLE)?;
    let sector = out.sector_u32()?;
    let bytes: Vec<u8> = table.iter().flat_map(|entry| entry.to_le_bytes()).collect();
    out.put(&bytes)?;
    if let Some(slot) = usize::try_from(index).ok().and_then(|i| gd.get_mut(i)) {
        *slot = sector;
    }
    Ok(())
}

/// Writes the VMDK for `disk`; returns its length.
pub(crate) fn emit(
    disk: &ExtentMap,
    source: &dyn ContentSource,
    options: &VmdkOptions,
    out: &mut dyn Write,
) -> Result<u64, Error> {
    let name = &options.file_name;
    if name.chars().any(|c| c == '"' || c.is_control()) || name.len() > 1024 {
        return Err(Error::FileName { name: name.clone() });
    }
    if disk.is_empty() {
        return Err(Error::EmptyDisk);
    }
    let capacity_sectors = disk.len_bytes().div_ceil(SECTOR_BYTES);
    let cid = options.cid.unwrap_or_else(|| derived_cid(disk));
    let mut out = Out { out, offset: 0 };

    let mut bytes = [0u8; SparseExtentHeader::SIZE];
    header(capacity_sectors, GD_AT_END).encode(&mut bytes);
    out.put(&bytes)?;
    let text = descriptor::text(cid, capacity_sectors, name, options.adapter_type);
    out.put(text.as_bytes())?;
    let zeros = vec![0u8; 64 << 10];
    let before_grains = usize::try_from(OVERHEAD_SECTORS * SECTOR_BYTES - out.offset).unwrap_or(0);
    out.put(&zeros[..before_grains])?;

    let grains = capacity_sectors.div_ceil(GRAIN_BYTES / SECTOR_BYTES);
    let tables = grains.div_ceil(GTES_PER_GT);
    let mut gd =
        vec![0u32; usize::try_from(tables).map_err(|_| Error::TooLarge { max_bytes: u64::MAX })?];
    let mut table = vec![0u32; 512];
    let mut table_index = 0u64;
    let mut chunks = Chunks::new(disk, source, GRAIN_BYTES);
    let mut grain = vec![0u8; 64 << 10];
    for (start, end) in allocated_runs(disk, GRAIN_BYTES) {
        for index in start..end.min(grains) {
            if index / GTES_PER_GT != table_index {
                flush_table(&mut out, &mut gd, table_index, &table)?;
                table.fill(0);
                table_index = index / GTES_PER_GT;
            }
            if !chunks.read(index, &mut grain)? || grain.iter().all(|b| *b == 0) {
                continue;
            }
            let offset = index * GRAIN_BYTES;
            let compress_err = |source| Error::Compress { offset, source };
            let mut encoder = ZlibEncoder::new(Vec::new(), Compression::new(LEVEL));
            encoder.write_all(&grain).map_err(compress_err)?;
            let compressed = encoder.finish().map_err(compress_err)?;
            let sector = out.sector_u32()?;
            let mut marker_bytes = [0u8; GrainMarker::SIZE];
            GrainMarker {
                lba: offset / SECTOR_BYTES,
                size_bytes: u32::try_from(compressed.len()).unwrap_or(u32::MAX),
            }
            .encode(&mut marker_bytes);
            out.put(&marker_bytes)?;
            out.put(&compressed)?;
            out.pad()?;
            if let Some(slot) =
                usize::try_from(index % GTES_PER_GT).ok().and_then(|i| table.get_mut(i))
            {
                *slot = sector;
            }
        }
    }
    flush_table(&mut out, &mut gd, table_index, &table)?;

    let gd_bytes: Vec<u8> = gd.iter().flat_map(|entry| entry.to_le_bytes()).collect();
    let gd_sectors = u64::try_from(gd_bytes.len()).unwrap_or(u64::MAX).div_ceil(SECTOR_BYTES);
    out.marker(gd_sectors, marker::GRAIN_DIRECTORY)?;
    let gd_offset = out.offset / SECTOR_BYTES;
    out.put(&gd_bytes)?;
    out.pad()?;

    out.marker(1, marker::FOOTER)?;
    header(capacity_sectors, gd_offset).encode(&mut bytes);
    out.put(&bytes)?;
    out.marker(0, marker::END_OF_STREAM)?;
    Ok(out.offset)
}

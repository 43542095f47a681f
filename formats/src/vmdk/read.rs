//! Reading a VMDK hosted sparse extent back: the guest bytes, one grain at a time, and a
//! summary.

use std::io::{Read, SeekFrom, Write};

use crate::disk_chunks::ReadSeek;

use flate2::read::ZlibDecoder;

use crate::vmdk::Error;
use crate::vmdk::descriptor;
use crate::vmdk::header::{
    GD_AT_END, GrainMarker, MetadataMarker, SECTOR_BYTES, SparseExtentHeader, flags, marker,
};

/// Largest grain accepted: 1 MiB (2048 sectors).
const MAX_GRAIN_SECTORS: u64 = 2048;
/// Largest grain directory or descriptor read: 16 MiB.
const MAX_TABLE_BYTES: u64 = 16 << 20;

fn read_at(
    input: &mut dyn ReadSeek,
    offset: u64,
    buf: &mut [u8],
    what: &'static str,
) -> Result<(), Error> {
    input.seek(SeekFrom::Start(offset)).map_err(|source| Error::Read { what, source })?;
    input.read_exact(buf).map_err(|source| Error::Read { what, source })
}

fn le32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// The header in effect (the footer's when the header says `GD_AT_END`), checked.
fn read_header(input: &mut dyn ReadSeek) -> Result<SparseExtentHeader, Error> {
    let mut bytes = [0u8; SparseExtentHeader::SIZE];
    read_at(input, 0, &mut bytes, "the header").map_err(|_| Error::NotVmdk)?;
    let mut header = SparseExtentHeader::decode(&bytes).ok_or(Error::NotVmdk)?;
    if header.gd_offset_sectors == GD_AT_END {
        let len = input
            .seek(SeekFrom::End(0))
            .map_err(|source| Error::Read { what: "the file length", source })?;
        if len < 3 * SECTOR_BYTES {
            return Err(Error::Corrupt { what: "no room for a footer".to_owned() });
        }
        let mut footer = [0u8; 3 * 512];
        read_at(
            input,
            len / SECTOR_BYTES * SECTOR_BYTES - 3 * SECTOR_BYTES,
            &mut footer,
            "the footer",
        )?;
        let mut sector = [0u8; 512];
        sector.copy_from_slice(&footer[..512]);
        let footer_marker = MetadataMarker::decode(&sector);
        sector.copy_from_slice(&footer[1024..]);
        let eos = MetadataMarker::decode(&sector);
        sector.copy_from_slice(&footer[512..1024]);
        match (footer_marker, eos, SparseExtentHeader::decode(&sector)) {
            (
                Some(MetadataMarker { marker_type: marker::FOOTER, .. }),
                Some(MetadataMarker { num_sectors: 0, marker_type: marker::END_OF_STREAM }),
                Some(footer_header),
            ) => header = footer_header,
            _ => return Err(Error::Corrupt { what: "invalid footer".to_owned() }),
        }
    }
    if !(1..=3).contains(&header.version) {
        return Err(Error::Unsupported { what: format!("version {}", header.version) });
    }
    let grain = header.grain_size_sectors;
    if grain == 0 || grain > MAX_GRAIN_SECTORS || !grain.is_power_of_two() {
        return Err(Error::Corrupt { what: format!("grain size of {grain} sectors") });
    }
    if header.num_gtes_per_gt == 0 || header.num_gtes_per_gt > 4096 {
        return Err(Error::Corrupt {
            what: format!("{} entries per grain table", header.num_gtes_per_gt),
        });
    }
    if header.flags & flags::COMPRESSED != 0 && header.compress_algorithm != 1 {
        return Err(Error::Unsupported {
            what: format!("compression algorithm {}", header.compress_algorithm),
        });
    }
    let tables = tables(&header);
    if tables.saturating_mul(4) > MAX_TABLE_BYTES {
        return Err(Error::Corrupt { what: format!("a grain directory of {tables} entries") });
    }
    Ok(header)
}

/// Grain tables needed to cover the capacity.
fn tables(header: &SparseExtentHeader) -> u64 {
    let span = header.grain_size_sectors.saturating_mul(u64::from(header.num_gtes_per_gt));
    header.capacity_sectors.div_ceil(span.max(1))
}

/// Copies the guest disk to `out`.
pub(crate) fn read_to(input: &mut dyn ReadSeek, out: &mut dyn Write) -> Result<u64, Error> {
    let header = read_header(input)?;
    let size_bytes = header.capacity_sectors.saturating_mul(SECTOR_BYTES);
    let grain_bytes = header.grain_size_sectors * SECTOR_BYTES;
    let grain_len = usize::try_from(grain_bytes).map_err(|_| Error::NotVmdk)?;
    let per_table = u64::from(header.num_gtes_per_gt);
    let tables = tables(&header);
    let mut gd = vec![0u8; usize::try_from(tables * 4).map_err(|_| Error::NotVmdk)?];
    read_at(
        input,
        header.gd_offset_sectors.saturating_mul(SECTOR_BYTES),
        &mut gd,
        "the grain directory",
    )?;
    let mut gt = vec![0u8; usize::try_from(per_table * 4).map_err(|_| Error::NotVmdk)?];
    let zeros = vec![0u8; grain_len];
    let mut grain = vec![0u8; grain_len];
    let mut compressed = Vec::new();
    let mut done = 0u64;
    for t in 0..tables {
        let gt_sector = le32(&gd, usize::try_from(t * 4).unwrap_or(0));
        if gt_sector != 0 {
            read_at(input, u64::from(gt_sector) * SECTOR_BYTES, &mut gt, "a grain table")?;
        }
        for g in 0..per_table {
            if done >= size_bytes {
                break;
            }
            let take = usize::try_from((size_bytes - done).min(grain_bytes)).unwrap_or(0);
            let entry =
                if gt_sector == 0 { 0 } else { le32(&gt, usize::try_from(g * 4).unwrap_or(0)) };
            let data: &[u8] = if entry == 0 || (entry == 1 && header.flags & flags::ZERO_GRAIN != 0)
            {
                &zeros
            } else if header.flags & flags::COMPRESSED != 0 {
                let at = u64::from(entry) * SECTOR_BYTES;
                let mut marker_bytes = [0u8; GrainMarker::SIZE];
                let has_marker = header.flags & flags::MARKERS != 0;
                let size = if has_marker {
                    read_at(input, at, &mut marker_bytes, "a grain marker")?;
                    GrainMarker::decode(&marker_bytes).size_bytes
                } else {
                    return Err(Error::Unsupported {
                        what: "compressed grains without markers".to_owned(),
                    });
                };
                if u64::from(size) > grain_bytes * 2 + 4096 {
                    return Err(Error::Corrupt {
                        what: format!("a compressed grain of {size} bytes at sector {entry}"),
                    });
                }
                compressed.resize(usize::try_from(size).unwrap_or(0), 0);
                read_at(input, at + 12, &mut compressed, "a compressed grain")?;
                // The last grain may be compressed only up to the end of the disk (qemu-img).
                let mut decoder = ZlibDecoder::new(&compressed[..]);
                let corrupt = || Error::Corrupt {
                    what: format!("the grain at sector {entry} does not inflate to {take} bytes"),
                };
                grain.fill(0);
                let mut filled = 0;
                while filled < take {
                    match decoder.read(&mut grain[filled..take]) {
                        Ok(0) | Err(_) => return Err(corrupt()),
                        Ok(n) => filled += n,
                    }
                }
                &grain
            } else {
                read_at(input, u64::from(entry) * SECTOR_BYTES, &mut grain, "a grain")?;
                &grain
            };
            out.write_all(&data[..take]).map_err(|source| Error::Write { offset: done, source })?;
            done += u64::try_from(take).unwrap_or(0);
        }
    }
    Ok(done)
}

/// The embedded descriptor text, if any (at most 16 MiB).
fn descriptor_text(input: &mut dyn ReadSeek, header: &SparseExtentHeader) -> Result<String, Error> {
    if header.descriptor_offset_sectors == 0 {
        return Ok(String::new());
    }
    let len = header.descriptor_size_sectors.saturating_mul(SECTOR_BYTES).min(MAX_TABLE_BYTES);
    let mut bytes = vec![0u8; usize::try_from(len).unwrap_or(0)];
    read_at(
        input,
        header.descriptor_offset_sectors.saturating_mul(SECTOR_BYTES),
        &mut bytes,
        "the descriptor",
    )?;
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    Ok(String::from_utf8_lossy(&bytes[..end]).into_owned())
}

/// Key/value lines for `kit inspect`.
pub(crate) fn summary(input: &mut dyn ReadSeek) -> Result<Vec<(String, String)>, Error> {
    let header = read_header(input)?;
    let text = descriptor_text(input, &header)?;
    let field = |key: &str| descriptor::value(&text, key).unwrap_or("").to_owned();
    Ok(vec![
        ("format".to_owned(), "vmdk".to_owned()),
        ("version".to_owned(), header.version.to_string()),
        ("create type".to_owned(), field("createType")),
        ("CID".to_owned(), field("CID")),
        ("parent CID".to_owned(), field("parentCID")),
        ("adapter type".to_owned(), field("ddb.adapterType")),
        (
            "geometry".to_owned(),
            format!(
                "{}/{}/{}",
                field("ddb.geometry.cylinders"),
                field("ddb.geometry.heads"),
                field("ddb.geometry.sectors")
            ),
        ),
        (
            "virtual size".to_owned(),
            format!("{} bytes", header.capacity_sectors.saturating_mul(SECTOR_BYTES)),
        ),
        ("grain size".to_owned(), format!("{} bytes", header.grain_size_sectors * SECTOR_BYTES)),
        ("flags".to_owned(), format!("{:#x}", header.flags)),
        (
            "compression".to_owned(),
            if header.flags & flags::COMPRESSED != 0 { "deflate" } else { "none" }.to_owned(),
        ),
        ("grain directory sector".to_owned(), header.gd_offset_sectors.to_string()),
    ])
}

//! Reading a VHD back: the guest disk's bytes, and a summary for `kit inspect`. Every offset
//! and length read from the image is checked against the file's size.

use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::vhd::Error;
use crate::vhd::bat::{self, Bat};
use crate::vhd::dynamic_header::{self, DynamicHeader};
use crate::vhd::footer::{self, Footer, checksum};
use crate::vhd::plan::VHD_EPOCH_UNIX;

/// Read and seek, as a trait object.
pub(crate) trait ReadSeek: Read + Seek {}
impl<T: Read + Seek> ReadSeek for T {}

/// The most BAT entries the reader accepts (4 Mi: 8 TiB of 2 MiB blocks).
const MAX_BAT_ENTRIES: u64 = 1 << 22;

fn invalid(what: impl Into<String>) -> Error {
    Error::Invalid { what: what.into() }
}

fn read_at(input: &mut dyn ReadSeek, offset: u64, buf: &mut [u8], what: &str) -> Result<(), Error> {
    input
        .seek(SeekFrom::Start(offset))
        .and_then(|_| input.read_exact(buf))
        .map_err(|source| Error::Read { what: format!("{what} at byte {offset}"), source })
}

/// Copies `len` bytes at `offset` of `input` to `out` (written so far: `*written`).
pub(crate) fn copy_range(
    input: &mut dyn ReadSeek,
    offset: u64,
    len: u64,
    out: &mut dyn Write,
    written: &mut u64,
) -> Result<(), io::Error> {
    input.seek(SeekFrom::Start(offset))?;
    let mut buf = vec![0u8; usize::try_from(len.min(1 << 20)).unwrap_or(1 << 20)];
    let mut left = len;
    while left > 0 {
        let step = usize::try_from(left.min(1 << 20)).unwrap_or(buf.len());
        input.read_exact(&mut buf[..step])?;
        out.write_all(&buf[..step])?;
        left -= u64::try_from(step).unwrap_or(u64::MAX);
        *written += u64::try_from(step).unwrap_or(u64::MAX);
    }
    Ok(())
}

/// Writes `len` zeros to `out`.
pub(crate) fn zeros(len: u64, out: &mut dyn Write, written: &mut u64) -> Result<(), io::Error> {
    let buf = vec![0u8; usize::try_from(len.min(1 << 20)).unwrap_or(1 << 20)];
    let mut left = len;
    while left > 0 {
        let step = usize::try_from(left.min(1 << 20)).unwrap_or(buf.len());
        out.write_all(&buf[..step])?;
        left -= u64::try_from(step).unwrap_or(u64::MAX);
        *written += u64::try_from(step).unwrap_or(u64::MAX);
    }
    Ok(())
}

struct Image {
    file_bytes: u64,
    footer: Footer,
    dynamic: Option<(DynamicHeader, Vec<u32>)>,
}

fn open(input: &mut dyn ReadSeek) -> Result<Image, Error> {
    let file_bytes = input
        .seek(SeekFrom::End(0))
        .map_err(|source| Error::Read { what: "the image size".to_owned(), source })?;
    if file_bytes < 512 {
        return Err(invalid(format!("image is {file_bytes} bytes, shorter than a footer (512)")));
    }
    let mut bytes = [0u8; Footer::SIZE];
    read_at(input, file_bytes - 512, &mut bytes, "the footer")?;
    let footer = Footer::decode(&bytes);
    if footer.cookie != footer::COOKIE {
        return Err(invalid(format!(
            "footer cookie is {:?}, expected \"conectix\"",
            footer.cookie.escape_ascii().to_string()
        )));
    }
    let computed = checksum(&bytes, 64);
    if footer.checksum != computed {
        return Err(invalid(format!(
            "footer checksum is {:#010x}, computed {computed:#010x}",
            footer.checksum
        )));
    }
    let size = footer.current_size_bytes;
    match footer.disk_type {
        footer::DISK_TYPE_FIXED => {
            if size > file_bytes - 512 {
                return Err(invalid(format!(
                    "fixed disk of {size} bytes in a file of {file_bytes} bytes"
                )));
            }
            Ok(Image { file_bytes, footer, dynamic: None })
        }
        footer::DISK_TYPE_DYNAMIC => {
            let offset = footer.data_offset;
            if offset.checked_add(1024).is_none_or(|end| end > file_bytes) {
                return Err(invalid(format!(
                    "dynamic disk header at byte {offset} is past the end ({file_bytes})"
                )));
            }
            let mut bytes = [0u8; DynamicHeader::SIZE];
            read_at(input, offset, &mut bytes, "the dynamic disk header")?;
            let header = DynamicHeader::decode(&bytes);
            if header.cookie != dynamic_header::COOKIE {
                return Err(invalid("dynamic disk header cookie is not \"cxsparse\""));
            }
            let computed = checksum(&bytes, 36);
            if header.checksum != computed {
                return Err(invalid(format!(
                    "dynamic disk header checksum is {:#010x}, computed {computed:#010x}",
                    header.checksum
                )));
            }
            let block = u64::from(header.block_size_bytes);
            if block < 512 || !block.is_power_of_two() || block > (1 << 28) {
                return Err(invalid(format!(
                    "block size {block} is not a power of two from 512 to 256 MiB"
                )));
            }
            let blocks = size.div_ceil(block);
            if blocks > u64::from(header.max_table_entries) || blocks > MAX_BAT_ENTRIES {
                return Err(invalid(format!(
                    "disk of {size} bytes needs {blocks} blocks, the BAT has {} (kit reads at most {MAX_BAT_ENTRIES})",
                    header.max_table_entries
                )));
            }
            let bat_len = blocks * 4;
            if header.table_offset.checked_add(bat_len).is_none_or(|end| end > file_bytes) {
                return Err(invalid(format!(
                    "BAT at byte {} is past the end ({file_bytes})",
                    header.table_offset
                )));
            }
            let mut raw = vec![0u8; usize::try_from(bat_len).unwrap_or(0)];
            read_at(input, header.table_offset, &mut raw, "the BAT")?;
            let bat = Bat::decode(&raw).entries;
            Ok(Image { file_bytes, footer, dynamic: Some((header, bat)) })
        }
        footer::DISK_TYPE_DIFFERENCING => Err(invalid("differencing disks are not supported")),
        other => Err(invalid(format!("disk type {other} is not fixed (2) or dynamic (3)"))),
    }
}

fn bit(bitmap: &[u8], sector: u64) -> bool {
    let byte = usize::try_from(sector / 8).ok().and_then(|at| bitmap.get(at)).copied().unwrap_or(0);
    byte & (0x80 >> (sector % 8)) != 0
}

/// Writes the guest disk's bytes (`Current Size` of them) to `out`; returns their number.
pub fn read_to(input: &mut (impl Read + Seek), out: &mut dyn Write) -> Result<u64, Error> {
    read_to_dyn(input, out)
}

fn read_to_dyn(input: &mut dyn ReadSeek, out: &mut dyn Write) -> Result<u64, Error> {
    let image = open(input)?;
    let size = image.footer.current_size_bytes;
    let mut written = 0u64;
    let io_err =
        |source: io::Error, at: u64| Error::Read { what: format!("disk byte {at}"), source };
    let Some((header, bat)) = &image.dynamic else {
        copy_range(input, 0, size, out, &mut written).map_err(|e| io_err(e, written))?;
        return Ok(written);
    };
    let block = u64::from(header.block_size_bytes);
    let bitmap_bytes = (block / 512).div_ceil(8).div_ceil(512) * 512;
    let mut bitmap = vec![0u8; usize::try_from(bitmap_bytes).unwrap_or(0)];
    for (index, entry) in (0u64..).zip(bat) {
        let len = block.min(size - index * block);
        if *entry == bat::UNUSED {
            zeros(len, out, &mut written).map_err(|e| io_err(e, written))?;
            continue;
        }
        let start = u64::from(*entry) * 512;
        if start + bitmap_bytes + len > image.file_bytes {
            return Err(invalid(format!(
                "block {index} at byte {start} is past the end ({})",
                image.file_bytes
            )));
        }
        read_at(input, start, &mut bitmap, "a sector bitmap")?;
        let sectors = len.div_ceil(512);
        let mut sector = 0;
        while sector < sectors {
            let present = bit(&bitmap, sector);
            let mut end = sector + 1;
            while end < sectors && bit(&bitmap, end) == present {
                end += 1;
            }
            let run = (end * 512).min(len) - sector * 512;
            if present {
                copy_range(input, start + bitmap_bytes + sector * 512, run, out, &mut written)
                    .map_err(|e| io_err(e, written))?;
            } else {
                zeros(run, out, &mut written).map_err(|e| io_err(e, written))?;
            }
            sector = end;
        }
    }
    Ok(written)
}

/// Key/value lines describing the image, for `kit inspect`.
pub fn summary(input: &mut (impl Read + Seek)) -> Result<Vec<(String, String)>, Error> {
    let image = open(input)?;
    let f = &image.footer;
    let mut lines = vec![
        ("format".to_owned(), "VHD".to_owned()),
        (
            "disk type".to_owned(),
            if image.dynamic.is_some() { "dynamic" } else { "fixed" }.to_owned(),
        ),
        ("virtual size".to_owned(), format!("{} bytes", f.current_size_bytes)),
        ("original size".to_owned(), format!("{} bytes", f.original_size_bytes)),
        (
            "geometry".to_owned(),
            format!("{}/{}/{} (C/H/S)", f.cylinders, f.heads, f.sectors_per_track),
        ),
        (
            "creator".to_owned(),
            format!(
                "{:?} version {:#010x}",
                f.creator_application.escape_ascii().to_string(),
                f.creator_version
            ),
        ),
        (
            "time stamp".to_owned(),
            format!("{} (unix {})", f.time_stamp, i64::from(f.time_stamp) + VHD_EPOCH_UNIX),
        ),
        ("unique id".to_owned(), f.unique_id.iter().map(|b| format!("{b:02x}")).collect()),
        ("checksum".to_owned(), format!("{:#010x} (valid)", f.checksum)),
    ];
    if let Some((header, bat)) = &image.dynamic {
        lines.push(("block size".to_owned(), format!("{} bytes", header.block_size_bytes)));
        lines.push((
            "BAT entries".to_owned(),
            format!("{} at byte {}", header.max_table_entries, header.table_offset),
        ));
        let used = bat.iter().filter(|e| **e != bat::UNUSED).count();
        lines.push(("allocated blocks".to_owned(), format!("{used} of {}", bat.len())));
    }
    Ok(lines)
}

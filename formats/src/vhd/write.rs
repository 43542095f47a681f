//! Emitting a planned VHD: streams the disk's bytes 1 MiB at a time.

use std::io::Write;

use crate::extent::{ExtentCursor, ExtentMap};
use crate::tree::ContentSource;
use crate::vhd::bat::{self, Bat};
use crate::vhd::dynamic_header::{self, DynamicHeader};
use crate::vhd::footer::Footer;
use crate::vhd::plan::{BITMAP_BYTES, plan};
use crate::vhd::{Error, VhdOptions};

const CHUNK: u64 = 1 << 20;

/// Writes `disk` as a VHD to `out`; returns the number of bytes written.
pub fn write(
    disk: &ExtentMap,
    source: &dyn ContentSource,
    options: &VhdOptions,
    out: &mut dyn Write,
) -> Result<u64, Error> {
    let layout = plan(disk, options)?;
    let mut footer = [0u8; Footer::SIZE];
    layout.footer.encode(&mut footer);
    let mut cursor = ExtentCursor::new(disk, source);
    let mut buf = vec![0u8; usize::try_from(CHUNK).unwrap_or(1 << 20)];
    let size = layout.footer.current_size_bytes;
    let mut written = 0u64;
    let put = |out: &mut dyn Write, bytes: &[u8], written: &mut u64| -> Result<(), Error> {
        out.write_all(bytes).map_err(|source| Error::Write { offset: *written, source })?;
        *written += u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        Ok(())
    };
    match &layout.dynamic {
        None => {
            let mut left = size;
            while left > 0 {
                let step = usize::try_from(left.min(CHUNK)).unwrap_or(buf.len());
                cursor.fill(&mut buf[..step])?;
                put(out, &buf[..step], &mut written)?;
                left -= u64::try_from(step).unwrap_or(u64::MAX);
            }
        }
        Some(dynamic) => {
            put(out, &footer, &mut written)?;
            let mut header = [0u8; DynamicHeader::SIZE];
            dynamic.header.encode(&mut header);
            put(out, &header, &mut written)?;
            put(out, &Bat { entries: dynamic.bat.clone() }.encode(), &mut written)?;
            let block = u64::from(dynamic_header::BLOCK_SIZE_BYTES);
            let bitmap = vec![0xffu8; usize::try_from(BITMAP_BYTES).unwrap_or(512)];
            for entry in &dynamic.bat {
                if *entry == bat::UNUSED {
                    cursor.skip(block)?;
                    continue;
                }
                put(out, &bitmap, &mut written)?;
                let mut left = block;
                while left > 0 {
                    let step = usize::try_from(left.min(CHUNK)).unwrap_or(buf.len());
                    cursor.fill(&mut buf[..step])?;
                    put(out, &buf[..step], &mut written)?;
                    left -= u64::try_from(step).unwrap_or(u64::MAX);
                }
            }
        }
    }
    put(out, &footer, &mut written)?;
    debug_assert_eq!(written, layout.file_bytes);
    Ok(written)
}

/// Writes `disk` as a VHD into a vector (tests, small disks).
pub fn to_vec(
    disk: &ExtentMap,
    source: &dyn ContentSource,
    options: &VhdOptions,
) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    write(disk, source, options, &mut out)?;
    Ok(out)
}

//! The Authenticode image digest (Microsoft, "Windows Authenticode Portable Executable Signature
//! Format", section "Calculating the PE Image Hash"), SHA-256: what a Secure Boot signature
//! signs and what firmware recomputes.
//!
//! Hashed, in order: the headers up to `SizeOfHeaders` without the `CheckSum` field and the
//! certificate table's data directory entry; each section's raw data (`SizeOfRawData` bytes at
//! `PointerToRawData`, sections with raw data sorted by `PointerToRawData`); then any bytes after
//! the last hashed byte (`SUM_OF_BYTES_HASHED`) up to the end of the file less the certificate
//! table's size.

use std::io::{Read, Seek, SeekFrom};

use sha2::{Digest, Sha256};

use crate::pe::Error;
use crate::pe::optional_header::CERTIFICATE_TABLE;
use crate::pe::read::read_headers;

/// The SHA-256 Authenticode digest of the PE32+ image in `input`.
pub fn image_digest(input: &mut (impl Read + Seek)) -> Result<[u8; 32], Error> {
    let (headers, file_len) = read_headers(input)?;
    let size_of_headers = u64::from(headers.optional.size_of_headers);
    let checksum_offset = u64::try_from(headers.checksum_offset()).unwrap_or(u64::MAX);
    let mut skips = vec![(checksum_offset, 4u64)];
    if let Some(offset) = headers.directory_offset(CERTIFICATE_TABLE) {
        skips.push((u64::try_from(offset).unwrap_or(u64::MAX), 8));
    }
    let last_skip_end = skips.iter().map(|(at, len)| at + len).max().unwrap_or(0);
    if size_of_headers < last_skip_end || size_of_headers > file_len {
        return Err(Error::Layout {
            problem: format!(
                "SizeOfHeaders is {size_of_headers}, expected {last_skip_end} to {file_len} (the headers to the file's end)"
            ),
        });
    }
    let mut hasher = Sha256::new();
    let mut at = 0;
    for (skip_at, skip_len) in skips {
        hash_range(input, &mut hasher, at, skip_at - at)?;
        at = skip_at + skip_len;
    }
    hash_range(input, &mut hasher, at, size_of_headers - at)?;
    let mut sum_of_bytes_hashed = size_of_headers;

    let mut sections: Vec<_> =
        headers.sections.iter().filter(|section| section.size_of_raw_data != 0).collect();
    sections.sort_by_key(|section| section.pointer_to_raw_data);
    for section in sections {
        let start = u64::from(section.pointer_to_raw_data);
        let len = u64::from(section.size_of_raw_data);
        if start + len > file_len {
            return Err(Error::Layout {
                problem: format!(
                    "section {} has raw data at {start}..{}, beyond the file's {file_len} bytes",
                    section.name(),
                    start + len
                ),
            });
        }
        hash_range(input, &mut hasher, start, len)?;
        sum_of_bytes_hashed += len;
    }

    let certificate_bytes = u64::from(headers.certificate_table().size);
    if file_len > sum_of_bytes_hashed {
        let extra = (file_len - sum_of_bytes_hashed).checked_sub(certificate_bytes).ok_or_else(
            || Error::Layout {
                problem: format!(
                    "the certificate table of {certificate_bytes} bytes is larger than the {} bytes after the sections",
                    file_len - sum_of_bytes_hashed
                ),
            },
        )?;
        hash_range(input, &mut hasher, sum_of_bytes_hashed, extra)?;
    }
    Ok(hasher.finalize().into())
}

/// Hashes `len` bytes at `offset`, 64 KiB at a time.
fn hash_range(
    input: &mut (impl Read + Seek),
    hasher: &mut Sha256,
    offset: u64,
    len: u64,
) -> Result<(), Error> {
    if len == 0 {
        return Ok(());
    }
    input.seek(SeekFrom::Start(offset)).map_err(|source| Error::ReadInput { offset, source })?;
    let mut left = len;
    let mut buf = vec![0u8; 64 * 1024];
    while left > 0 {
        let step = usize::try_from(left.min(64 * 1024)).unwrap_or(64 * 1024);
        input
            .read_exact(&mut buf[..step])
            .map_err(|source| Error::ReadInput { offset: offset + (len - left), source })?;
        hasher.update(&buf[..step]);
        left -= u64::try_from(step).unwrap_or(left);
    }
    Ok(())
}

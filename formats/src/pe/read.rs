//! Parsing the headers of a PE32+ image: MS-DOS header, PE signature, COFF header, optional
//! header with its data directories, and the section table. Every offset and size is checked
//! against the bytes present; nothing is trusted.

use std::io::{Read, Seek, SeekFrom};

use crate::pe::Error;
use crate::pe::coff_header::{CoffHeader, PE_SIGNATURE};
use crate::pe::dos_header::{DOS_MAGIC, DosHeader};
use crate::pe::optional_header::{
    CERTIFICATE_TABLE, CHECKSUM_OFFSET, DataDirectory, OptionalHeader,
};
use crate::pe::section_header::SectionHeader;

/// Most sections the reader accepts (the PE format's count is 16 bits; Windows loads at most
/// 96).
pub const MAX_SECTIONS: usize = 1024;

/// The parsed headers of a PE32+ image and where they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeHeaders {
    /// The MS-DOS header.
    pub dos: DosHeader,
    /// The COFF file header.
    pub coff: CoffHeader,
    /// The optional header.
    pub optional: OptionalHeader,
    /// The section table, in table order.
    pub sections: Vec<SectionHeader>,
}

impl PeHeaders {
    /// File offset of the COFF header (after "PE\0\0").
    pub fn coff_offset(&self) -> usize {
        usize::try_from(self.dos.e_lfanew).unwrap_or(usize::MAX) + PE_SIGNATURE.len()
    }

    /// File offset of the optional header.
    pub fn optional_offset(&self) -> usize {
        self.coff_offset() + CoffHeader::SIZE
    }

    /// File offset of the `CheckSum` field.
    pub fn checksum_offset(&self) -> usize {
        self.optional_offset() + CHECKSUM_OFFSET
    }

    /// File offset of the data directory `idx`, if the image has it.
    pub fn directory_offset(&self, idx: usize) -> Option<usize> {
        (idx < self.optional.data_directories.len()).then(|| {
            self.optional_offset() + OptionalHeader::FIXED_SIZE + idx * DataDirectory::SIZE
        })
    }

    /// File offset of the section table.
    pub fn section_table_offset(&self) -> usize {
        self.optional_offset() + usize::from(self.coff.size_of_optional_header)
    }

    /// File offset just after the last section header.
    pub fn section_table_end(&self) -> usize {
        self.section_table_offset() + self.sections.len() * SectionHeader::SIZE
    }

    /// The certificate table's file offset and size (0, 0 when unsigned).
    pub fn certificate_table(&self) -> DataDirectory {
        self.optional.directory(CERTIFICATE_TABLE)
    }
}

/// Parses the headers at the start of `image` (which may hold only the headers).
pub fn parse_headers(image: &[u8]) -> Result<PeHeaders, Error> {
    let truncated = |what: &'static str, offset: usize, needed: usize| Error::Truncated {
        what,
        offset: u64::try_from(offset).unwrap_or(u64::MAX),
        needed: u64::try_from(needed).unwrap_or(u64::MAX),
        len: u64::try_from(image.len()).unwrap_or(u64::MAX),
    };
    let dos_bytes: &[u8; DosHeader::SIZE] = image
        .get(..DosHeader::SIZE)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| truncated("MS-DOS header", 0, DosHeader::SIZE))?;
    let dos = DosHeader::decode(dos_bytes);
    if dos.e_magic != DOS_MAGIC {
        return Err(Error::NotPe {
            reason: format!("e_magic is {:#06x}, expected 0x5a4d (\"MZ\")", dos.e_magic),
        });
    }
    let pe_offset = usize::try_from(dos.e_lfanew).unwrap_or(usize::MAX);
    let signature = image
        .get(pe_offset..pe_offset.saturating_add(4))
        .ok_or_else(|| truncated("PE signature", pe_offset, 4))?;
    if signature != PE_SIGNATURE {
        return Err(Error::NotPe {
            reason: format!(
                "bytes {signature:02x?} at e_lfanew {pe_offset:#x}, expected \"PE\\0\\0\""
            ),
        });
    }
    let coff_offset = pe_offset + 4;
    let coff_bytes: &[u8; CoffHeader::SIZE] = image
        .get(coff_offset..coff_offset + CoffHeader::SIZE)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| truncated("COFF header", coff_offset, CoffHeader::SIZE))?;
    let coff = CoffHeader::decode(coff_bytes);
    let optional_offset = coff_offset + CoffHeader::SIZE;
    let optional_len = usize::from(coff.size_of_optional_header);
    let optional_bytes = image
        .get(optional_offset..optional_offset + optional_len)
        .ok_or_else(|| truncated("optional header", optional_offset, optional_len))?;
    let optional = OptionalHeader::decode(optional_bytes)?;
    let table_offset = optional_offset + optional_len;
    let count = usize::from(coff.number_of_sections);
    if count > MAX_SECTIONS {
        return Err(Error::NotPe {
            reason: format!(
                "NumberOfSections is {count}, this reader accepts at most {MAX_SECTIONS}"
            ),
        });
    }
    let table_len = count * SectionHeader::SIZE;
    let table = image
        .get(table_offset..table_offset + table_len)
        .ok_or_else(|| truncated("section table", table_offset, table_len))?;
    let sections = table
        .chunks_exact(SectionHeader::SIZE)
        .filter_map(|chunk| <&[u8; SectionHeader::SIZE]>::try_from(chunk).ok())
        .map(SectionHeader::decode)
        .collect();
    Ok(PeHeaders { dos, coff, optional, sections })
}

/// Reads and parses the headers of the image in `input`; returns them and the image's length.
pub fn read_headers(input: &mut (impl Read + Seek)) -> Result<(PeHeaders, u64), Error> {
    let len =
        input.seek(SeekFrom::End(0)).map_err(|source| Error::ReadInput { offset: 0, source })?;
    // The headers end at most at e_lfanew + 24 + 65535 + 1024 × 40 bytes: read what is needed,
    // step by step, never more than the image.
    let dos = read_prefix(input, len, DosHeader::SIZE)?;
    let e_lfanew = match dos.get(60..64) {
        Some(b) => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        None => return parse_headers(&dos).map(|headers| (headers, len)),
    };
    let coff_end =
        usize::try_from(e_lfanew).unwrap_or(usize::MAX).saturating_add(4 + CoffHeader::SIZE);
    // Every prefix holds at least the MS-DOS header, so that an e_lfanew inside it (a file
    // that is not a PE image) reports the header's problem rather than a prefix too short.
    let upto_coff = read_prefix(input, len, coff_end.max(DosHeader::SIZE))?;
    let Some(coff) = upto_coff.get(coff_end - CoffHeader::SIZE..coff_end) else {
        return parse_headers(&upto_coff).map(|headers| (headers, len));
    };
    let optional_len = usize::from(u16::from_le_bytes([coff[16], coff[17]]));
    let sections = usize::from(u16::from_le_bytes([coff[2], coff[3]])).min(MAX_SECTIONS + 1);
    let headers_end = coff_end + optional_len + sections * SectionHeader::SIZE;
    let all = read_prefix(input, len, headers_end.max(DosHeader::SIZE))?;
    parse_headers(&all).map(|headers| (headers, len))
}

/// Most header bytes [`read_headers`] reads (a larger `e_lfanew` shows as a truncated image).
const MAX_HEADER_BYTES: u64 = 16 << 20;

/// The first `want` bytes of the image, or all of it when shorter (at most 16 MiB).
fn read_prefix(input: &mut (impl Read + Seek), len: u64, want: usize) -> Result<Vec<u8>, Error> {
    let take = u64::try_from(want).unwrap_or(u64::MAX).min(len).min(MAX_HEADER_BYTES);
    read_range(input, 0, take)
}

/// `len` bytes at `offset` (the caller bounds `len` by the image's length).
pub(crate) fn read_range(
    input: &mut (impl Read + Seek + ?Sized),
    offset: u64,
    len: u64,
) -> Result<Vec<u8>, Error> {
    let io_err = |source| Error::ReadInput { offset, source };
    input.seek(SeekFrom::Start(offset)).map_err(io_err)?;
    let size = usize::try_from(len).map_err(|_| Error::NotPe {
        reason: format!("a range of {len} bytes does not fit in memory"),
    })?;
    let mut buf = vec![0u8; size];
    input.read_exact(&mut buf).map_err(io_err)?;
    Ok(buf)
}

//! Unified Kernel Images (UAPI Group "Unified Kernel Image (UKI)" specification): the systemd
//! EFI stub with the kernel, initrd, command line and os-release appended as PE sections.
//!
//! [`build`] patches the stub the way systemd's `ukify` does in `pe_add_sections`; the version
//! followed is systemd v255 (`src/ukify/ukify.py` on the v255-stable branch):
//! 1. a COFF symbol table that ends the file (old stubs, including Debian 12's 252) is cut off;
//!    `PointerToSymbolTable` and `NumberOfSymbols` become 0 (ukify also sets pefile's
//!    `IMAGE_FILE_LOCAL_SYMS_STRIPPED` attribute, which pefile does not write back, so
//!    `Characteristics` stays as it was in ukify's output and in kit's);
//! 2. section raw data not aligned to `FileAlignment` is re-aligned (no-op for current stubs);
//! 3. `SizeOfHeaders` is rounded up to `FileAlignment`, and the new section headers must fit
//!    between the section table and it (and before the first section's data);
//! 4. sections are appended in ukify's order, skipping empty ones: `.osrel .cmdline .dtb .uname
//!    .splash .initrd .linux` (`.linux` last, "to leave breathing room for decompression"); each
//!    at the next `SectionAlignment` boundary after the previous section's `VirtualAddress +
//!    VirtualSize`, its data at the next `FileAlignment` boundary of the file, `VirtualSize` the
//!    data's length, `SizeOfRawData` that rounded up to `FileAlignment`;
//! 5. characteristics as v255 sets them: `.linux` is `CNT_CODE | MEM_READ` ("old kernels that
//!    use EFI handover protocol will be executed inline"), the others `CNT_INITIALIZED_DATA |
//!    MEM_READ`; none is writable or executable;
//! 6. `NumberOfSections` grows, `SizeOfInitializedData` grows by each new section's
//!    `VirtualSize` (`.linux` included, as ukify does), `SizeOfImage` becomes the last section's
//!    end rounded up to `SectionAlignment`.
//!
//! Where kit differs from ukify v255: the `CheckSum` is computed (ukify writes 0; firmware
//! ignores it, `objdump -p` and pefile show it); a signed stub has its certificate table entry
//! zeroed and a trailing certificate table cut off (ukify refuses signed stubs); the stub's
//! `.sbat` is kept as it is (ukify rewrites it with the kernel's SBAT lines merged; Debian's
//! kernels have none); the new sections start after the highest section end, not the last
//! section header's (the same for every stub seen); a stub that already has one of the new
//! sections is an error (ukify overwrites it in place). `.pcrsig`, `.pcrpkey`, `.ucode` and
//! profiles are not written.
//!
//! Contents are read through a [`ContentSource`] and streamed: the plan is made from lengths
//! alone, the image is written in one pass, and the checksum is patched at the end.
//!
//! [`read`] lists the sections of any PE32+ image with the SHA-256 of their data; [`summary`]
//! describes a UKI for `kit inspect`.

use std::io::{self, Read, Seek, SeekFrom, Write};

use sha2::{Digest, Sha256};

use crate::copy::{ContentError, ExactReader};
use crate::pe::checksum::PeChecksum;
use crate::pe::coff_header::{CoffHeader, MACHINE_AMD64, MACHINE_ARM64, machine_name};
use crate::pe::optional_header::{CERTIFICATE_TABLE, DataDirectory, OptionalHeader};
use crate::pe::read::{PeHeaders, parse_headers, read_headers};
use crate::pe::section_header::{
    SCN_CNT_CODE, SCN_CNT_INITIALIZED_DATA, SCN_MEM_READ, SectionHeader,
};
use crate::pe::{self, checksum};
use crate::tree::{Content, ContentSource};

/// The architecture the UKI is for; the stub's `Machine` must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// x86-64 (`IMAGE_FILE_MACHINE_AMD64`, 0x8664): `linuxx64.efi.stub`.
    X86_64,
    /// arm64 (`IMAGE_FILE_MACHINE_ARM64`, 0xAA64): `linuxaa64.efi.stub`.
    Aarch64,
}

impl Arch {
    /// The PE `Machine` value.
    pub fn machine(self) -> u16 {
        match self {
            Arch::X86_64 => MACHINE_AMD64,
            Arch::Aarch64 => MACHINE_ARM64,
        }
    }
}

/// Choices that change the bytes of a UKI. No `Default`: the caller decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UkiOptions {
    /// The architecture of the stub and kernel.
    pub arch: Arch,
}

/// The contents of the sections to append. An empty content (other than `.linux`) is left out,
/// as ukify leaves out sections it has no content for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UkiSections {
    /// `.osrel`: the os-release file.
    pub osrel: Content,
    /// `.cmdline`: the kernel command line.
    pub cmdline: Content,
    /// `.uname`: the kernel release (`uname -r`).
    pub uname: Content,
    /// `.initrd`: the initrd (several initrds must already be concatenated).
    pub initrd: Content,
    /// `.linux`: the kernel's EFI image (`vmlinuz`).
    pub linux: Content,
    /// `.dtb`: a device tree.
    pub dtb: Option<Content>,
    /// `.splash`: a BMP image shown while booting.
    pub splash: Option<Content>,
}

/// Errors building or reading a UKI. Each names the section, field or limit.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The stub is not a PE32+ image this module can patch.
    #[error("EFI stub: {0}")]
    Stub(#[source] pe::Error),
    /// The stub is built for another machine.
    #[error("EFI stub is built for {stub}, the UKI is for {requested}")]
    Machine {
        /// The stub's machine.
        stub: String,
        /// The machine of the requested architecture.
        requested: String,
    },
    /// The stub's layout cannot be patched.
    #[error("EFI stub: {problem}")]
    StubLayout {
        /// What is wrong.
        problem: String,
    },
    /// The stub already has a section the UKI adds.
    #[error("EFI stub already has a {name} section")]
    DuplicateSection {
        /// The section's name.
        name: &'static str,
    },
    /// No room for one more section header.
    #[error(
        "no room for the header of section {name}: it would end at byte {end}, the stub's headers end at byte {limit} ({n_sections} section headers fit)"
    )]
    HeaderSpace {
        /// The section.
        name: &'static str,
        /// Where its header would end.
        end: u64,
        /// `SizeOfHeaders` rounded to `FileAlignment`, or the first section's data if earlier.
        limit: u64,
        /// Section headers that fit in all.
        n_sections: u64,
    },
    /// A size or address does not fit the 32-bit PE fields.
    #[error("section {name}: {field} would be {value}, PE32+ stores 32-bit values (at most 4 GiB)")]
    TooLarge {
        /// The section.
        name: &'static str,
        /// The field.
        field: &'static str,
        /// The value.
        value: u64,
    },
    /// `.linux` is empty.
    #[error("section .linux is empty, expected the kernel's EFI image")]
    EmptyLinux,
    /// A section's content could not be read as announced.
    #[error(transparent)]
    Content(#[from] ContentError),
    /// The output writer failed.
    #[error("writing the UKI ({what}): {source}")]
    Write {
        /// What was being written.
        what: String,
        /// The writer's error.
        source: io::Error,
    },
    /// Reading an image failed.
    #[error(transparent)]
    Read(#[from] pe::Error),
}

/// One section of the planned UKI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedSection {
    /// The section header as written.
    pub header: SectionHeader,
    /// True for the sections added to the stub.
    pub added: bool,
}

/// The layout of a UKI, computed from the stub and the contents' lengths.
#[derive(Debug, Clone)]
pub struct UkiPlan<'a> {
    /// The new headers: `SizeOfHeaders` bytes, `CheckSum` 0.
    headers: Vec<u8>,
    /// The stub's bytes after its headers (symbol table cut, data re-aligned).
    stub_body: Vec<u8>,
    /// The added sections and their contents.
    added: Vec<(SectionHeader, &'static str, &'a Content)>,
    /// Every section, stub's first.
    sections: Vec<PlannedSection>,
    /// Offset of `CheckSum`.
    checksum_offset: usize,
    /// Length of the UKI.
    len_bytes: u64,
    /// `SizeOfImage`.
    size_of_image: u32,
}

impl UkiPlan<'_> {
    /// Every section in table order, the stub's first.
    pub fn sections(&self) -> &[PlannedSection] {
        &self.sections
    }

    /// Length of the UKI file.
    pub fn len_bytes(&self) -> u64 {
        self.len_bytes
    }

    /// `SizeOfImage` of the UKI.
    pub fn size_of_image(&self) -> u32 {
        self.size_of_image
    }
}

/// What [`build`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Built {
    /// Length of the UKI.
    pub len_bytes: u64,
    /// The `CheckSum` written.
    pub check_sum: u32,
}

/// The order ukify v255 appends sections in.
const ORDER: [&str; 7] = [".osrel", ".cmdline", ".dtb", ".uname", ".splash", ".initrd", ".linux"];

/// Plans the UKI: every header, address and offset, from the stub and the contents' lengths.
pub fn plan<'a>(
    stub: &[u8],
    sections: &'a UkiSections,
    options: &UkiOptions,
) -> Result<UkiPlan<'a>, Error> {
    let parsed = parse_headers(stub).map_err(Error::Stub)?;
    let requested = options.arch.machine();
    if parsed.coff.machine != requested {
        return Err(Error::Machine {
            stub: machine_name(parsed.coff.machine),
            requested: machine_name(requested),
        });
    }
    let PeHeaders { coff, optional, sections: stub_sections, .. } = &parsed;
    let mut coff = *coff;
    let mut optional = optional.clone();
    let mut table = stub_sections.clone();
    let file_alignment = alignment(optional.file_alignment, "FileAlignment")?;
    let section_alignment = alignment(optional.section_alignment, "SectionAlignment")?;
    let mut data = stub.to_vec();

    strip_certificate_table(&mut data, &mut optional, &table);
    strip_symbol_table(&mut data, &mut coff);
    realign_sections(&mut data, &mut table, file_alignment)?;
    optional.size_of_headers = round_up_u32(optional.size_of_headers, file_alignment)
        .ok_or_else(|| layout("SizeOfHeaders rounded up to FileAlignment overflows"))?;
    let size_of_headers = u64::from(optional.size_of_headers);
    let data_len = u64::try_from(data.len()).unwrap_or(u64::MAX);
    if size_of_headers > data_len {
        return Err(layout(&format!(
            "SizeOfHeaders is {size_of_headers}, the stub has only {data_len} bytes"
        )));
    }
    for section in &table {
        let end = u64::from(section.pointer_to_raw_data) + u64::from(section.size_of_raw_data);
        if section.size_of_raw_data != 0 && end > data_len {
            return Err(layout(&format!(
                "section {} has raw data up to byte {end}, the stub has only {data_len} bytes",
                section.name()
            )));
        }
        if let Some(name) = ORDER.iter().find(|name| section.name() == **name) {
            return Err(Error::DuplicateSection { name });
        }
    }

    // New section headers go after the table, before SizeOfHeaders and any section's data.
    let first_data = table
        .iter()
        .filter(|section| section.size_of_raw_data != 0)
        .map(|section| u64::from(section.pointer_to_raw_data))
        .min()
        .unwrap_or(u64::MAX);
    let header_limit = size_of_headers.min(first_data);
    let table_offset = u64::try_from(parsed.section_table_offset()).unwrap_or(u64::MAX);
    let header_size = u64::try_from(SectionHeader::SIZE).unwrap_or(40);

    let contents: [(&'static str, Option<&'a Content>); 7] = [
        (ORDER[0], Some(&sections.osrel)),
        (ORDER[1], Some(&sections.cmdline)),
        (ORDER[2], sections.dtb.as_ref()),
        (ORDER[3], Some(&sections.uname)),
        (ORDER[4], sections.splash.as_ref()),
        (ORDER[5], Some(&sections.initrd)),
        (ORDER[6], Some(&sections.linux)),
    ];
    if sections.linux.is_empty() {
        return Err(Error::EmptyLinux);
    }
    let mut file_len = data_len;
    let mut added = Vec::new();
    for (name, content) in contents {
        let Some(content) = content.filter(|content| !content.is_empty()) else {
            continue;
        };
        let n_headers = u64::try_from(table.len()).unwrap_or(u64::MAX);
        let header_end = table_offset + (n_headers + 1) * header_size;
        if header_end > header_limit {
            return Err(Error::HeaderSpace {
                name,
                end: header_end,
                limit: header_limit,
                n_sections: header_limit.saturating_sub(table_offset) / header_size,
            });
        }
        let too_large = |field, value| Error::TooLarge { name, field, value };
        let len = content.len();
        let virtual_size = u32::try_from(len).map_err(|_| too_large("VirtualSize", len))?;
        let pointer = file_len.next_multiple_of(u64::from(file_alignment));
        let raw_size = len.next_multiple_of(u64::from(file_alignment));
        let highest_end = table
            .iter()
            .map(|section| u64::from(section.virtual_address) + u64::from(section.virtual_size))
            .max()
            .unwrap_or(0);
        let virtual_address = highest_end.next_multiple_of(u64::from(section_alignment));
        let characteristics = if name == ".linux" {
            SCN_CNT_CODE | SCN_MEM_READ
        } else {
            SCN_CNT_INITIALIZED_DATA | SCN_MEM_READ
        };
        let header = SectionHeader {
            // Every name in ORDER is at most 8 bytes.
            name: SectionHeader::encode_name(name).unwrap_or_default(),
            virtual_size,
            virtual_address: u32::try_from(virtual_address)
                .map_err(|_| too_large("VirtualAddress", virtual_address))?,
            size_of_raw_data: u32::try_from(raw_size)
                .map_err(|_| too_large("SizeOfRawData", raw_size))?,
            pointer_to_raw_data: u32::try_from(pointer)
                .map_err(|_| too_large("PointerToRawData", pointer))?,
            pointer_to_relocations: 0,
            pointer_to_linenumbers: 0,
            number_of_relocations: 0,
            number_of_linenumbers: 0,
            characteristics,
        };
        coff.number_of_sections = coff
            .number_of_sections
            .checked_add(1)
            .ok_or_else(|| layout("NumberOfSections overflows 16 bits"))?;
        optional.size_of_initialized_data = optional
            .size_of_initialized_data
            .checked_add(virtual_size)
            .ok_or_else(|| too_large("SizeOfInitializedData", u64::from(u32::MAX) + 1))?;
        table.push(header);
        added.push((header, name, content));
        file_len = pointer + raw_size;
    }
    let last = table.last().copied().ok_or_else(|| layout("no sections"))?;
    let image_end = (u64::from(last.virtual_address) + u64::from(last.virtual_size))
        .next_multiple_of(u64::from(section_alignment));
    optional.size_of_image = u32::try_from(image_end).map_err(|_| Error::TooLarge {
        name: ".linux",
        field: "SizeOfImage",
        value: image_end,
    })?;
    optional.check_sum = 0;

    // The new header block.
    let headers_len = usize::try_from(size_of_headers).unwrap_or(usize::MAX);
    let mut headers = data[..headers_len].to_vec();
    let mut coff_bytes = [0u8; CoffHeader::SIZE];
    coff.encode(&mut coff_bytes);
    let coff_offset = parsed.coff_offset();
    headers[coff_offset..coff_offset + CoffHeader::SIZE].copy_from_slice(&coff_bytes);
    let optional_offset = parsed.optional_offset();
    optional
        .encode(&mut headers[optional_offset..])
        .ok_or_else(|| layout("the optional header does not fit its SizeOfOptionalHeader"))?;
    let table_start = parsed.section_table_offset();
    for (idx, header) in table.iter().enumerate() {
        let mut bytes = [0u8; SectionHeader::SIZE];
        header.encode(&mut bytes);
        let at = table_start + idx * SectionHeader::SIZE;
        headers[at..at + SectionHeader::SIZE].copy_from_slice(&bytes);
    }
    let stub_body = data[headers_len..].to_vec();
    let n_stub = table.len() - added.len();
    let planned = table
        .iter()
        .enumerate()
        .map(|(idx, header)| PlannedSection { header: *header, added: idx >= n_stub })
        .collect();
    Ok(UkiPlan {
        headers,
        stub_body,
        added,
        sections: planned,
        checksum_offset: parsed.checksum_offset(),
        len_bytes: file_len,
        size_of_image: optional.size_of_image,
    })
}

/// Builds the UKI from `stub` and `sections` into `out` (from its current position), reading
/// contents through `source`; returns the length and checksum written.
pub fn build(
    stub: &[u8],
    sections: &UkiSections,
    options: &UkiOptions,
    source: &dyn ContentSource,
    out: &mut (impl Write + Seek),
) -> Result<Built, Error> {
    let plan = plan(stub, sections, options)?;
    emit(&plan, source, out)
}

/// Builds the UKI into a new vector (tests and small images).
pub fn to_vec(
    stub: &[u8],
    sections: &UkiSections,
    options: &UkiOptions,
    source: &dyn ContentSource,
) -> Result<Vec<u8>, Error> {
    let mut out = io::Cursor::new(Vec::new());
    build(stub, sections, options, source, &mut out)?;
    Ok(out.into_inner())
}

/// A writer that can seek, as a trait object.
trait WriteSeek: Write + Seek {}
impl<T: Write + Seek> WriteSeek for T {}

/// Writes a planned UKI in one pass, then patches `CheckSum`.
pub fn emit(
    plan: &UkiPlan<'_>,
    source: &dyn ContentSource,
    out: &mut (impl Write + Seek),
) -> Result<Built, Error> {
    emit_dyn(plan, source, out)
}

fn emit_dyn(
    plan: &UkiPlan<'_>,
    source: &dyn ContentSource,
    out: &mut dyn WriteSeek,
) -> Result<Built, Error> {
    let start = out.stream_position().map_err(write_err("the start"))?;
    let mut sum = PeChecksum::new();
    put(out, &mut sum, &plan.headers, "headers")?;
    put(out, &mut sum, &plan.stub_body, "the stub's sections")?;
    let mut offset = sum.len_bytes();
    let mut buf = vec![0u8; 256 * 1024];
    for (header, name, content) in &plan.added {
        let pointer = u64::from(header.pointer_to_raw_data);
        put_zeros(out, &mut sum, pointer - offset, name)?;
        let mut reader = ExactReader::open(content, source, name.as_bytes())?;
        loop {
            let n = reader.read_chunk(&mut buf)?;
            if n == 0 {
                break;
            }
            put(out, &mut sum, &buf[..n], name)?;
        }
        offset = pointer + u64::from(header.size_of_raw_data);
        let padding = offset - sum.len_bytes();
        put_zeros(out, &mut sum, padding, name)?;
    }
    let check_sum = sum.finish();
    let checksum_at = start + u64::try_from(plan.checksum_offset).unwrap_or(u64::MAX);
    out.seek(SeekFrom::Start(checksum_at)).map_err(write_err("CheckSum"))?;
    out.write_all(&check_sum.to_le_bytes()).map_err(write_err("CheckSum"))?;
    out.seek(SeekFrom::Start(start + sum.len_bytes())).map_err(write_err("the end"))?;
    Ok(Built { len_bytes: sum.len_bytes(), check_sum })
}

/// Maps a writer's error to [`Error::Write`] naming `what`.
fn write_err(what: &str) -> impl Fn(io::Error) -> Error + '_ {
    move |source| Error::Write { what: what.to_owned(), source }
}

/// Writes `bytes` and adds them to the checksum.
fn put(
    out: &mut dyn WriteSeek,
    sum: &mut PeChecksum,
    bytes: &[u8],
    what: &str,
) -> Result<(), Error> {
    sum.update(bytes);
    out.write_all(bytes).map_err(write_err(what))
}

/// Writes `count` zeros (they add nothing to the checksum but their length).
fn put_zeros(
    out: &mut dyn WriteSeek,
    sum: &mut PeChecksum,
    count: u64,
    what: &str,
) -> Result<(), Error> {
    const ZEROS: [u8; 4096] = [0; 4096];
    let mut left = count;
    while left > 0 {
        let step = usize::try_from(left.min(4096)).unwrap_or(4096);
        put(out, sum, &ZEROS[..step], what)?;
        left -= u64::try_from(step).unwrap_or(left);
    }
    Ok(())
}

/// A power-of-two alignment from the optional header.
fn alignment(value: u32, field: &str) -> Result<u32, Error> {
    if value.is_power_of_two() {
        Ok(value)
    } else {
        Err(layout(&format!("{field} is {value}, expected a power of two")))
    }
}

fn round_up_u32(value: u32, align: u32) -> Option<u32> {
    value.checked_next_multiple_of(align)
}

fn layout(problem: &str) -> Error {
    Error::StubLayout { problem: problem.to_owned() }
}

/// Zeroes the certificate table entry; cuts a certificate table that ends the file (and lies
/// after every section's data).
fn strip_certificate_table(
    data: &mut Vec<u8>,
    optional: &mut OptionalHeader,
    table: &[SectionHeader],
) {
    let Some(entry) = optional.data_directories.get_mut(CERTIFICATE_TABLE) else {
        return;
    };
    let cert = *entry;
    *entry = DataDirectory::default();
    let start = u64::from(cert.virtual_address);
    let end = start + u64::from(cert.size);
    let sections_end = table
        .iter()
        .map(|s| u64::from(s.pointer_to_raw_data) + u64::from(s.size_of_raw_data))
        .max()
        .unwrap_or(0);
    let len = u64::try_from(data.len()).unwrap_or(u64::MAX);
    if cert.size != 0 && end == len && start >= sections_end {
        data.truncate(usize::try_from(start).unwrap_or(data.len()));
    }
}

/// Cuts a COFF symbol table (18-byte symbols, then the string table and its 4-byte size) that
/// ends the file, as ukify does; `Characteristics` is left alone, as in ukify's output.
fn strip_symbol_table(data: &mut Vec<u8>, coff: &mut CoffHeader) {
    if coff.pointer_to_symbol_table == 0 {
        return;
    }
    let start = u64::from(coff.pointer_to_symbol_table);
    let mut end = start + 18 * u64::from(coff.number_of_symbols);
    let string_size = usize::try_from(end)
        .ok()
        .and_then(|at| data.get(at..at.checked_add(4)?))
        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    end += u64::from(string_size);
    if end == u64::try_from(data.len()).unwrap_or(u64::MAX) {
        data.truncate(usize::try_from(start).unwrap_or(data.len()));
        coff.pointer_to_symbol_table = 0;
        coff.number_of_symbols = 0;
    }
}

/// Aligns each section's raw data to `FileAlignment` as ukify does: zeros before and after it,
/// later sections (in table order) moved by as much.
fn realign_sections(
    data: &mut Vec<u8>,
    table: &mut [SectionHeader],
    file_alignment: u32,
) -> Result<(), Error> {
    for idx in 0..table.len() {
        let section = table[idx];
        let old_pointer = section.pointer_to_raw_data;
        let old_size = section.size_of_raw_data;
        let overflow = || layout(&format!("section {} cannot be aligned", section.name()));
        let new_pointer = round_up_u32(old_pointer, file_alignment).ok_or_else(overflow)?;
        let new_size = round_up_u32(old_size, file_alignment).ok_or_else(overflow)?;
        let pad_before = new_pointer - old_pointer;
        let pad_after = new_size - old_size;
        if pad_before == 0 && pad_after == 0 {
            continue;
        }
        let start = usize::try_from(old_pointer).unwrap_or(usize::MAX);
        let end = start.saturating_add(usize::try_from(old_size).unwrap_or(usize::MAX));
        if end > data.len() {
            return Err(layout(&format!(
                "section {} has raw data up to byte {end}, the stub has only {} bytes",
                section.name(),
                data.len()
            )));
        }
        let shift = pad_before.checked_add(pad_after).ok_or_else(overflow)?;
        for later in table[idx + 1..].iter_mut() {
            later.pointer_to_raw_data =
                later.pointer_to_raw_data.checked_add(shift).ok_or_else(overflow)?;
        }
        table[idx].pointer_to_raw_data = new_pointer;
        table[idx].size_of_raw_data = new_size;
        let tail = data.split_off(end);
        let body = data.split_off(start);
        data.resize(data.len() + usize::try_from(pad_before).unwrap_or(0), 0);
        data.extend_from_slice(&body);
        data.resize(data.len() + usize::try_from(pad_after).unwrap_or(0), 0);
        data.extend_from_slice(&tail);
    }
    Ok(())
}

/// A PE image's sections, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uki {
    /// `Machine`.
    pub machine: u16,
    /// Length of the file.
    pub len_bytes: u64,
    /// `SizeOfImage`.
    pub size_of_image: u32,
    /// `CheckSum` as stored.
    pub check_sum: u32,
    /// The checksum computed over the file.
    pub computed_check_sum: u32,
    /// The sections in table order.
    pub sections: Vec<UkiSection>,
}

/// One section of a PE image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UkiSection {
    /// The header.
    pub header: SectionHeader,
    /// SHA-256 of the section's data: its first `VirtualSize` bytes (all `SizeOfRawData` bytes
    /// if `VirtualSize` is 0 or larger), as ukify's `inspect` takes them.
    pub sha256: [u8; 32],
    /// The data, for `.cmdline`, `.uname`, `.osrel` and `.sbat` of at most 4 KiB (text).
    pub text: Option<Vec<u8>>,
}

/// Sections whose data [`read`] keeps as text.
const TEXT_SECTIONS: [&str; 4] = [".cmdline", ".uname", ".osrel", ".sbat"];

/// Reads the sections of the PE32+ image in `input` and hashes their data.
pub fn read(input: &mut (impl Read + Seek)) -> Result<Uki, Error> {
    let (headers, len_bytes) = read_headers(input)?;
    let mut sections = Vec::with_capacity(headers.sections.len());
    let mut buf = vec![0u8; 256 * 1024];
    for header in &headers.sections {
        let raw = u64::from(header.size_of_raw_data);
        let data_len = match u64::from(header.virtual_size) {
            0 => raw,
            virtual_size => virtual_size.min(raw),
        };
        let start = u64::from(header.pointer_to_raw_data);
        if data_len != 0 && start + data_len > len_bytes {
            return Err(Error::Read(pe::Error::Layout {
                problem: format!(
                    "section {} has data at {start}..{}, beyond the file's {len_bytes} bytes",
                    header.name(),
                    start + data_len
                ),
            }));
        }
        let io_err = |source| Error::Read(pe::Error::ReadInput { offset: start, source });
        input.seek(SeekFrom::Start(start)).map_err(io_err)?;
        let keep_text = TEXT_SECTIONS.contains(&header.name().as_str()) && data_len <= 4096;
        let mut text = Vec::new();
        let mut hasher = Sha256::new();
        let mut left = data_len;
        while left > 0 {
            let step = usize::try_from(left.min(256 * 1024)).unwrap_or(256 * 1024);
            input.read_exact(&mut buf[..step]).map_err(io_err)?;
            hasher.update(&buf[..step]);
            if keep_text {
                text.extend_from_slice(&buf[..step]);
            }
            left -= u64::try_from(step).unwrap_or(left);
        }
        sections.push(UkiSection {
            header: *header,
            sha256: hasher.finalize().into(),
            text: keep_text.then_some(text),
        });
    }
    let computed_check_sum = file_checksum(input, headers.checksum_offset(), len_bytes)?;
    Ok(Uki {
        machine: headers.coff.machine,
        len_bytes,
        size_of_image: headers.optional.size_of_image,
        check_sum: headers.optional.check_sum,
        computed_check_sum,
        sections,
    })
}

/// The PE checksum of the whole file, streamed.
fn file_checksum(
    input: &mut (impl Read + Seek),
    checksum_offset: usize,
    len_bytes: u64,
) -> Result<u32, Error> {
    let io_err = |offset| move |source| Error::Read(pe::Error::ReadInput { offset, source });
    input.seek(SeekFrom::Start(0)).map_err(io_err(0))?;
    let mut sum = PeChecksum::new();
    let mut buf = vec![0u8; 256 * 1024];
    let field = u64::try_from(checksum_offset).unwrap_or(u64::MAX);
    let mut offset = 0u64;
    while offset < len_bytes {
        let step = usize::try_from((len_bytes - offset).min(256 * 1024)).unwrap_or(0);
        input.read_exact(&mut buf[..step]).map_err(io_err(offset))?;
        // Zero the CheckSum field where it falls in this chunk.
        for at in field..field + 4 {
            if (offset..offset + u64::try_from(step).unwrap_or(0)).contains(&at) {
                buf[usize::try_from(at - offset).unwrap_or(0)] = 0;
            }
        }
        sum.update(&buf[..step]);
        offset += u64::try_from(step).unwrap_or(len_bytes);
    }
    Ok(sum.finish())
}

/// Key/value lines describing a UKI (or any PE32+ image), for `kit inspect`.
pub fn summary(input: &mut (impl Read + Seek)) -> Result<Vec<(String, String)>, Error> {
    let uki = read(input)?;
    let mut lines = vec![
        ("format".to_owned(), "PE32+ (UKI)".to_owned()),
        ("machine".to_owned(), machine_name(uki.machine)),
        ("size".to_owned(), format!("{} bytes", uki.len_bytes)),
        ("SizeOfImage".to_owned(), format!("{:#x}", uki.size_of_image)),
        (
            "CheckSum".to_owned(),
            if uki.check_sum == uki.computed_check_sum {
                format!("{:#x} (correct)", uki.check_sum)
            } else {
                format!("{:#x} (computed {:#x})", uki.check_sum, uki.computed_check_sum)
            },
        ),
    ];
    for section in &uki.sections {
        let h = &section.header;
        let mut value = format!(
            "VA {:#x} VirtualSize {:#x} raw {:#x}+{:#x} flags {:#010x} sha256 {}",
            h.virtual_address,
            h.virtual_size,
            h.pointer_to_raw_data,
            h.size_of_raw_data,
            h.characteristics,
            hex(&section.sha256)
        );
        if let Some(text) = &section.text
            && h.name() != ".sbat"
            && h.name() != ".osrel"
        {
            let text = String::from_utf8_lossy(text);
            value.push_str(&format!(" text {:?}", text.trim_end_matches(['\0', '\n'])));
        }
        lines.push((format!("section {}", h.name()), value));
    }
    Ok(lines)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The PE checksum of a whole image in memory (for tests and callers holding small images).
pub fn image_checksum(image: &[u8]) -> Result<u32, Error> {
    let headers = parse_headers(image)?;
    Ok(checksum::checksum(image, headers.checksum_offset()))
}

#[cfg(test)]
mod tests;

//! A synthetic PE32+ EFI application built in the tests (so unit tests need no download), and
//! tests of the reader, checksum and Authenticode digest on it.

use std::io::Cursor;

use sha2::{Digest, Sha256};

use super::*;
use crate::pe::checksum::checksum;
use crate::pe::coff_header::{CoffHeader, MACHINE_AMD64};
use crate::pe::dos_header::DosHeader;
use crate::pe::optional_header::{
    BASE_RELOCATION_TABLE, DataDirectory, OptionalHeader, PE32_PLUS_MAGIC,
    SUBSYSTEM_EFI_APPLICATION,
};
use crate::pe::section_header::{
    SCN_CNT_CODE, SCN_CNT_INITIALIZED_DATA, SCN_MEM_EXECUTE, SCN_MEM_READ, SectionHeader,
};

/// The `.sbat` text of the synthetic stub.
pub(crate) const SBAT: &[u8] = b"sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md\nkit-test,1,kit,stub,1,https://example.invalid\n";

/// Options of [`synthetic_stub`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Synthetic {
    pub(crate) machine: u16,
    pub(crate) file_alignment: u32,
    pub(crate) section_alignment: u32,
    /// Append a COFF symbol table (2 symbols and a string table), as unstripped stubs have.
    pub(crate) symbols: bool,
    /// Leave this many free section header slots before `SizeOfHeaders`.
    pub(crate) free_header_slots: usize,
}

impl Synthetic {
    pub(crate) fn x64() -> Synthetic {
        Synthetic {
            machine: MACHINE_AMD64,
            file_alignment: 0x200,
            section_alignment: 0x1000,
            symbols: false,
            free_header_slots: 12,
        }
    }
}

/// A minimal PE32+ EFI application laid out like systemd's stub: headers, `.text` (code),
/// `.reloc` (an empty base relocation block), `.sbat`; a correct `CheckSum`.
///
/// Layout with the defaults: headers 0..0x400 (3 used + 12 free section header slots: 0x188 +
/// 15 × 40 = 0x3E0 ≤ 0x400), `.text` raw 0x400..0x600 at VA 0x1000, `.reloc` raw 0x600..0x800
/// at VA 0x2000, `.sbat` raw 0x800..0xA00 at VA 0x3000, SizeOfImage 0x4000.
pub(crate) fn synthetic_stub(options: Synthetic) -> Vec<u8> {
    let fa = options.file_alignment;
    let sa = options.section_alignment;
    let e_lfanew = 0x80u32;
    let optional_size = OptionalHeader::FIXED_SIZE + 16 * DataDirectory::SIZE;
    let table_offset = 0x80 + 4 + CoffHeader::SIZE + optional_size;
    let headers_end = table_offset + (3 + options.free_header_slots) * SectionHeader::SIZE;
    let size_of_headers = u32::try_from(headers_end).unwrap().next_multiple_of(fa);
    let text_code: &[u8] = &[0x48, 0x31, 0xC0, 0xC3]; // xor rax, rax; ret
    let reloc: &[u8] = &[0x00, 0x10, 0, 0, 0x0C, 0, 0, 0, 0, 0, 0, 0];
    let raw = |len: usize| u32::try_from(len).unwrap().next_multiple_of(fa);
    let text_ptr = size_of_headers;
    let reloc_ptr = text_ptr + raw(text_code.len());
    let sbat_ptr = reloc_ptr + raw(reloc.len());
    let end = sbat_ptr + raw(SBAT.len());
    let va = |idx: u32| sa.max(0x1000) * (idx + 1);
    let len32 = |data: &[u8]| u32::try_from(data.len()).unwrap();
    let section = |name: &str, vs: u32, va: u32, ptr: u32, characteristics: u32| SectionHeader {
        name: SectionHeader::encode_name(name).unwrap(),
        virtual_size: vs,
        virtual_address: va,
        size_of_raw_data: raw(usize::try_from(vs).unwrap()),
        pointer_to_raw_data: ptr,
        pointer_to_relocations: 0,
        pointer_to_linenumbers: 0,
        number_of_relocations: 0,
        number_of_linenumbers: 0,
        characteristics,
    };
    let sections = [
        section(
            ".text",
            len32(text_code),
            va(0),
            text_ptr,
            SCN_CNT_CODE | SCN_MEM_EXECUTE | SCN_MEM_READ,
        ),
        section(".reloc", len32(reloc), va(1), reloc_ptr, SCN_CNT_INITIALIZED_DATA | SCN_MEM_READ),
        section(".sbat", len32(SBAT), va(2), sbat_ptr, SCN_CNT_INITIALIZED_DATA | SCN_MEM_READ),
    ];
    let mut directories = vec![DataDirectory::default(); 16];
    directories[BASE_RELOCATION_TABLE] =
        DataDirectory { virtual_address: va(1), size: len32(reloc) };
    let mut optional = OptionalHeader {
        magic: PE32_PLUS_MAGIC,
        major_linker_version: 2,
        minor_linker_version: 40,
        size_of_code: raw(text_code.len()),
        size_of_initialized_data: raw(reloc.len()) + raw(SBAT.len()),
        size_of_uninitialized_data: 0,
        address_of_entry_point: va(0),
        base_of_code: va(0),
        image_base: 0,
        section_alignment: sa,
        file_alignment: fa,
        major_operating_system_version: 0,
        minor_operating_system_version: 0,
        major_image_version: 0,
        minor_image_version: 0,
        major_subsystem_version: 0,
        minor_subsystem_version: 0,
        win32_version_value: 0,
        size_of_image: (va(2) + len32(SBAT)).next_multiple_of(sa),
        size_of_headers,
        check_sum: 0,
        subsystem: SUBSYSTEM_EFI_APPLICATION,
        dll_characteristics: 0,
        size_of_stack_reserve: 0,
        size_of_stack_commit: 0,
        size_of_heap_reserve: 0,
        size_of_heap_commit: 0,
        loader_flags: 0,
        data_directories: directories,
    };
    let mut coff = CoffHeader {
        machine: options.machine,
        number_of_sections: 3,
        time_date_stamp: 0,
        pointer_to_symbol_table: 0,
        number_of_symbols: 0,
        size_of_optional_header: u16::try_from(optional_size).unwrap(),
        characteristics: 0x206,
    };
    let mut image = vec![0u8; usize::try_from(end).unwrap()];
    if options.symbols {
        coff.pointer_to_symbol_table = end;
        coff.number_of_symbols = 2;
        image.extend_from_slice(&[0x5A; 36]);
        // The string table: its size (itself included), then "abc\0".
        image.extend_from_slice(&[8, 0, 0, 0, b'a', b'b', b'c', 0]);
    }
    let mut dos = [0u8; DosHeader::SIZE];
    dos[..2].copy_from_slice(b"MZ");
    dos[60..64].copy_from_slice(&e_lfanew.to_le_bytes());
    image[..DosHeader::SIZE].copy_from_slice(&dos);
    image[0x80..0x84].copy_from_slice(b"PE\0\0");
    let mut coff_bytes = [0u8; CoffHeader::SIZE];
    coff.encode(&mut coff_bytes);
    image[0x84..0x84 + CoffHeader::SIZE].copy_from_slice(&coff_bytes);
    let optional_offset = 0x84 + CoffHeader::SIZE;
    for (idx, header) in sections.iter().enumerate() {
        let mut bytes = [0u8; SectionHeader::SIZE];
        header.encode(&mut bytes);
        let at = table_offset + idx * SectionHeader::SIZE;
        image[at..at + SectionHeader::SIZE].copy_from_slice(&bytes);
    }
    for (ptr, data) in [(text_ptr, text_code), (reloc_ptr, reloc), (sbat_ptr, SBAT)] {
        let at = usize::try_from(ptr).unwrap();
        image[at..at + data.len()].copy_from_slice(data);
    }
    optional.encode(&mut image[optional_offset..optional_offset + optional_size]).unwrap();
    optional.check_sum = checksum(&image, optional_offset + 64);
    optional.encode(&mut image[optional_offset..optional_offset + optional_size]).unwrap();
    image
}

#[test]
fn reads_the_synthetic_stub() {
    let image = synthetic_stub(Synthetic::x64());
    let headers = parse_headers(&image).unwrap();
    assert_eq!(headers.coff.machine, MACHINE_AMD64);
    assert_eq!(headers.optional_offset(), 0x98);
    assert_eq!(headers.checksum_offset(), 0x98 + 64);
    assert_eq!(headers.section_table_offset(), 0x188);
    assert_eq!(headers.section_table_end(), 0x188 + 3 * 40);
    assert_eq!(headers.optional.size_of_headers, 0x400);
    let names: Vec<String> = headers.sections.iter().map(SectionHeader::name).collect();
    assert_eq!(names, [".text", ".reloc", ".sbat"]);
    let (from_reader, len) = read_headers(&mut Cursor::new(&image)).unwrap();
    assert_eq!(from_reader, headers);
    assert_eq!(len, 0xA00);
    assert_eq!(checksum(&image, headers.checksum_offset()), headers.optional.check_sum);
}

#[test]
fn authenticode_digest_by_hand() {
    // An unsigned image whose sections follow the headers without gaps: the digest is SHA-256
    // of every byte except CheckSum and the certificate table entry.
    let image = synthetic_stub(Synthetic::x64());
    let checksum_at = 0x98 + 64;
    let cert_entry_at = 0x98 + 112 + 4 * 8;
    let mut hasher = Sha256::new();
    hasher.update(&image[..checksum_at]);
    hasher.update(&image[checksum_at + 4..cert_entry_at]);
    hasher.update(&image[cert_entry_at + 8..]);
    let expected: [u8; 32] = hasher.finalize().into();
    assert_eq!(image_digest(&mut Cursor::new(&image)).unwrap(), expected);

    // A "signed" image: the certificate table at the end is left out of the digest, and so
    // are the entry and the checksum.
    let mut signed = image.clone();
    signed.extend_from_slice(&[0xEE; 24]);
    signed[cert_entry_at..cert_entry_at + 4].copy_from_slice(&0xA00u32.to_le_bytes());
    signed[cert_entry_at + 4..cert_entry_at + 8].copy_from_slice(&24u32.to_le_bytes());
    signed[checksum_at] ^= 0xFF;
    assert_eq!(image_digest(&mut Cursor::new(&signed)).unwrap(), expected);

    // Data after the sections (not a certificate) is hashed.
    let mut trailing = image.clone();
    trailing.extend_from_slice(b"tail");
    let mut hasher = Sha256::new();
    hasher.update(&image[..checksum_at]);
    hasher.update(&image[checksum_at + 4..cert_entry_at]);
    hasher.update(&image[cert_entry_at + 8..]);
    hasher.update(b"tail");
    let with_tail: [u8; 32] = hasher.finalize().into();
    assert_eq!(image_digest(&mut Cursor::new(&trailing)).unwrap(), with_tail);

    // A certificate table larger than what follows the sections is an error.
    signed[cert_entry_at + 4..cert_entry_at + 8].copy_from_slice(&25u32.to_le_bytes());
    let err = image_digest(&mut Cursor::new(&signed)).unwrap_err().to_string();
    assert_eq!(
        err,
        "PE layout: the certificate table of 25 bytes is larger than the 24 bytes after the sections"
    );
}

#[test]
fn reader_errors_name_the_structure() {
    let image = synthetic_stub(Synthetic::x64());
    let err = |bytes: &[u8]| parse_headers(bytes).unwrap_err().to_string();
    assert_eq!(
        err(&image[..10]),
        "PE image of 10 bytes ends inside the MS-DOS header (64 bytes at offset 0)"
    );
    assert_eq!(
        err(&image[..0x90]),
        "PE image of 144 bytes ends inside the COFF header (20 bytes at offset 132)"
    );
    assert_eq!(
        err(&image[..0x190]),
        "PE image of 400 bytes ends inside the section table (120 bytes at offset 392)"
    );
    let mut bad = image.clone();
    bad[0] = b'X';
    assert_eq!(err(&bad), "not a PE image: e_magic is 0x5a58, expected 0x5a4d (\"MZ\")");
    let mut bad = image.clone();
    bad[0x81] = b'X';
    assert_eq!(
        err(&bad),
        "not a PE image: bytes [50, 58, 00, 00] at e_lfanew 0x80, expected \"PE\\0\\0\""
    );
    let mut bad = image.clone();
    bad[0x98] = 0x0B;
    bad[0x99] = 0x01;
    assert_eq!(err(&bad), "optional header magic is 0x10b, expected 0x20b (PE32+)");
    let mut bad = image.clone();
    bad[60..64].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(err(&bad).starts_with("PE image of 2560 bytes ends inside the PE signature"));
    assert!(read_headers(&mut Cursor::new(&bad)).is_err());
    // Not a PE image (an ELF header) with a zero e_lfanew: the reader names the magic too.
    let elf = [b"\x7fELF".as_slice(), &[0; 60]].concat();
    let expected = "not a PE image: e_magic is 0x457f, expected 0x5a4d (\"MZ\")";
    assert_eq!(err(&elf), expected);
    assert_eq!(read_headers(&mut Cursor::new(&elf)).unwrap_err().to_string(), expected);
}

//! Unit tests of the UKI builder and reader on the synthetic stub of [`crate::pe::tests`].

use std::io::{self, Cursor, Read};
use std::sync::Arc;

use expect_test::{Expect, expect};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

use super::*;
use crate::pe::coff_header::MACHINE_ARM64;
use crate::pe::tests::{SBAT, Synthetic, synthetic_stub};
use crate::pe::{image_digest, parse_headers};
use crate::tree::{BlobRange, NoBlobs};

fn inline(data: &[u8]) -> Content {
    Content::Inline(Arc::from(data))
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| u8::try_from(i % 251).unwrap() ^ seed).collect()
}

fn sections() -> UkiSections {
    UkiSections {
        osrel: inline(b"ID=kit\n"),
        cmdline: inline(b"console=ttyS0"),
        uname: inline(b"6.1.0-test"),
        initrd: inline(&pattern(1000, 1)),
        linux: inline(&pattern(5000, 2)),
        dtb: None,
        splash: None,
    }
}

const X64: UkiOptions = UkiOptions { arch: Arch::X86_64 };

/// Builds a UKI and shows its headers and section table, or the error; checks that each added
/// section's data is at its `PointerToRawData`, zero-padded.
fn check(stub: &[u8], sections: &UkiSections, expect: Expect) {
    let image = match to_vec(stub, sections, &X64, &NoBlobs) {
        Ok(image) => image,
        Err(err) => {
            expect.assert_eq(&format!("error: {err}\n"));
            return;
        }
    };
    let headers = parse_headers(&image).unwrap();
    let (coff, optional) = (&headers.coff, &headers.optional);
    let mut out = format!(
        "len {:#x} sections {} characteristics {:#x} symbols {:#x}/{}\n\
         SizeOfImage {:#x} SizeOfHeaders {:#x} SizeOfInitializedData {} SizeOfCode {:#x} CheckSum ok={}\n",
        image.len(),
        coff.number_of_sections,
        coff.characteristics,
        coff.pointer_to_symbol_table,
        coff.number_of_symbols,
        optional.size_of_image,
        optional.size_of_headers,
        optional.size_of_initialized_data,
        optional.size_of_code,
        optional.check_sum == image_checksum(&image).unwrap(),
    );
    let all = [
        (".osrel", Some(&sections.osrel)),
        (".cmdline", Some(&sections.cmdline)),
        (".dtb", sections.dtb.as_ref()),
        (".uname", Some(&sections.uname)),
        (".splash", sections.splash.as_ref()),
        (".initrd", Some(&sections.initrd)),
        (".linux", Some(&sections.linux)),
    ];
    for h in &headers.sections {
        out.push_str(&format!(
            "{:<8} VA {:#07x} VS {:#06x} raw {:#07x}+{:#06x} flags {:#010x}\n",
            h.name(),
            h.virtual_address,
            h.virtual_size,
            h.pointer_to_raw_data,
            h.size_of_raw_data,
            h.characteristics
        ));
        if let Some((_, Some(Content::Inline(data)))) = all.iter().find(|(n, _)| *n == h.name()) {
            let start = usize::try_from(h.pointer_to_raw_data).unwrap();
            let end = start + usize::try_from(h.size_of_raw_data).unwrap();
            assert_eq!(&image[start..start + data.len()], &data[..], "{}", h.name());
            assert!(image[start + data.len()..end].iter().all(|b| *b == 0), "{}", h.name());
        }
    }
    expect.assert_eq(&out);
}

#[test]
fn appends_sections_like_ukify() {
    // The stub: headers to 0x400, .text/.reloc/.sbat at VAs 0x1000/0x2000/0x3000, data to
    // 0xa00. The new sections: data from 0xa00 at 0x200 boundaries; VAs from the end of .sbat
    // (0x3000 + 0x7a) rounded up to 0x1000; .linux CODE|READ, the others INITIALIZED_DATA|READ.
    // SizeOfImage: 0x8000 + 5000 (0x1388) rounded up: 0xa000. SizeOfInitializedData:
    // 0x400 (stub) + 7 + 13 + 10 + 1000 + 5000 = 7054.
    check(
        &synthetic_stub(Synthetic::x64()),
        &sections(),
        expect![[r#"
            len 0x2800 sections 8 characteristics 0x206 symbols 0x0/0
            SizeOfImage 0xa000 SizeOfHeaders 0x400 SizeOfInitializedData 7054 SizeOfCode 0x200 CheckSum ok=true
            .text    VA 0x01000 VS 0x0004 raw 0x00400+0x0200 flags 0x60000020
            .reloc   VA 0x02000 VS 0x000c raw 0x00600+0x0200 flags 0x40000040
            .sbat    VA 0x03000 VS 0x007a raw 0x00800+0x0200 flags 0x40000040
            .osrel   VA 0x04000 VS 0x0007 raw 0x00a00+0x0200 flags 0x40000040
            .cmdline VA 0x05000 VS 0x000d raw 0x00c00+0x0200 flags 0x40000040
            .uname   VA 0x06000 VS 0x000a raw 0x00e00+0x0200 flags 0x40000040
            .initrd  VA 0x07000 VS 0x03e8 raw 0x01000+0x0400 flags 0x40000040
            .linux   VA 0x08000 VS 0x1388 raw 0x01400+0x1400 flags 0x40000020
        "#]],
    );
}

#[test]
fn optional_sections_and_empty_ones() {
    // .dtb goes after .cmdline, .splash after .uname; the empty .osrel is left out.
    let mut sections = sections();
    sections.osrel = inline(b"");
    sections.dtb = Some(inline(&[0xD0, 0x0D, 0xFE, 0xED]));
    sections.splash = Some(inline(b"BM"));
    check(
        &synthetic_stub(Synthetic::x64()),
        &sections,
        expect![[r#"
            len 0x2a00 sections 9 characteristics 0x206 symbols 0x0/0
            SizeOfImage 0xb000 SizeOfHeaders 0x400 SizeOfInitializedData 7053 SizeOfCode 0x200 CheckSum ok=true
            .text    VA 0x01000 VS 0x0004 raw 0x00400+0x0200 flags 0x60000020
            .reloc   VA 0x02000 VS 0x000c raw 0x00600+0x0200 flags 0x40000040
            .sbat    VA 0x03000 VS 0x007a raw 0x00800+0x0200 flags 0x40000040
            .cmdline VA 0x04000 VS 0x000d raw 0x00a00+0x0200 flags 0x40000040
            .dtb     VA 0x05000 VS 0x0004 raw 0x00c00+0x0200 flags 0x40000040
            .uname   VA 0x06000 VS 0x000a raw 0x00e00+0x0200 flags 0x40000040
            .splash  VA 0x07000 VS 0x0002 raw 0x01000+0x0200 flags 0x40000040
            .initrd  VA 0x08000 VS 0x03e8 raw 0x01200+0x0400 flags 0x40000040
            .linux   VA 0x09000 VS 0x1388 raw 0x01600+0x1400 flags 0x40000020
        "#]],
    );
}

#[test]
fn strips_a_trailing_symbol_table() {
    // The 36 bytes of symbols and 8 of strings after 0xa00 are cut: the data starts at 0xa00 as
    // without them, the pointer and count are 0, Characteristics stays 0x206 (as in ukify's
    // output).
    check(
        &synthetic_stub(Synthetic { symbols: true, ..Synthetic::x64() }),
        &sections(),
        expect![[r#"
            len 0x2800 sections 8 characteristics 0x206 symbols 0x0/0
            SizeOfImage 0xa000 SizeOfHeaders 0x400 SizeOfInitializedData 7054 SizeOfCode 0x200 CheckSum ok=true
            .text    VA 0x01000 VS 0x0004 raw 0x00400+0x0200 flags 0x60000020
            .reloc   VA 0x02000 VS 0x000c raw 0x00600+0x0200 flags 0x40000040
            .sbat    VA 0x03000 VS 0x007a raw 0x00800+0x0200 flags 0x40000040
            .osrel   VA 0x04000 VS 0x0007 raw 0x00a00+0x0200 flags 0x40000040
            .cmdline VA 0x05000 VS 0x000d raw 0x00c00+0x0200 flags 0x40000040
            .uname   VA 0x06000 VS 0x000a raw 0x00e00+0x0200 flags 0x40000040
            .initrd  VA 0x07000 VS 0x03e8 raw 0x01000+0x0400 flags 0x40000040
            .linux   VA 0x08000 VS 0x1388 raw 0x01400+0x1400 flags 0x40000020
        "#]],
    );
}

#[test]
fn realigns_unaligned_raw_data_like_ukify() {
    // .sbat claims SizeOfRawData 0x7a: ukify pads it to 0x200 and inserts the padding before
    // the rest of the file, which grows from 0xa00 to 0xb86; the new data starts at 0xc00.
    let mut stub = synthetic_stub(Synthetic::x64());
    let sbat_header = 0x188 + 2 * 40;
    stub[sbat_header + 16..sbat_header + 20].copy_from_slice(&0x7Au32.to_le_bytes());
    check(
        &stub,
        &sections(),
        expect![[r#"
            len 0x2a00 sections 8 characteristics 0x206 symbols 0x0/0
            SizeOfImage 0xa000 SizeOfHeaders 0x400 SizeOfInitializedData 7054 SizeOfCode 0x200 CheckSum ok=true
            .text    VA 0x01000 VS 0x0004 raw 0x00400+0x0200 flags 0x60000020
            .reloc   VA 0x02000 VS 0x000c raw 0x00600+0x0200 flags 0x40000040
            .sbat    VA 0x03000 VS 0x007a raw 0x00800+0x0200 flags 0x40000040
            .osrel   VA 0x04000 VS 0x0007 raw 0x00c00+0x0200 flags 0x40000040
            .cmdline VA 0x05000 VS 0x000d raw 0x00e00+0x0200 flags 0x40000040
            .uname   VA 0x06000 VS 0x000a raw 0x01000+0x0200 flags 0x40000040
            .initrd  VA 0x07000 VS 0x03e8 raw 0x01200+0x0400 flags 0x40000040
            .linux   VA 0x08000 VS 0x1388 raw 0x01600+0x1400 flags 0x40000020
        "#]],
    );
}

#[test]
fn errors_name_the_section_and_limit() {
    let stub = synthetic_stub(Synthetic::x64());
    let err = |stub: &[u8], sections: &UkiSections, options: &UkiOptions| {
        to_vec(stub, sections, options, &NoBlobs).unwrap_err().to_string()
    };
    assert_eq!(
        err(&stub, &sections(), &UkiOptions { arch: Arch::Aarch64 }),
        "EFI stub is built for x86-64 (0x8664), the UKI is for arm64 (0xaa64)"
    );
    let arm = synthetic_stub(Synthetic { machine: MACHINE_ARM64, ..Synthetic::x64() });
    assert_eq!(
        err(&arm, &sections(), &X64),
        "EFI stub is built for arm64 (0xaa64), the UKI is for x86-64 (0x8664)"
    );
    assert!(to_vec(&arm, &sections(), &UkiOptions { arch: Arch::Aarch64 }, &NoBlobs).is_ok());

    // With FileAlignment 16 the headers end right after the table and its 2 free slots: 0x188 +
    // 5 × 40 = 0x250. .osrel and .cmdline fit, .uname does not.
    let tight =
        synthetic_stub(Synthetic { file_alignment: 16, free_header_slots: 2, ..Synthetic::x64() });
    assert_eq!(
        err(&tight, &sections(), &X64),
        "no room for the header of section .uname: it would end at byte 632, the stub's headers end at byte 592 (5 section headers fit)"
    );
    let mut empty = sections();
    empty.linux = inline(b"");
    assert_eq!(
        err(&stub, &empty, &X64),
        "section .linux is empty, expected the kernel's EFI image"
    );

    let mut duplicate = stub.clone();
    let sbat_header = 0x188 + 2 * 40;
    duplicate[sbat_header..sbat_header + 8].copy_from_slice(b".osrel\0\0");
    assert_eq!(err(&duplicate, &sections(), &X64), "EFI stub already has a .osrel section");

    assert_eq!(
        err(&stub[..100], &sections(), &X64),
        "EFI stub: PE image of 100 bytes ends inside the PE signature (4 bytes at offset 128)"
    );
    let mut bad_alignment = stub.clone();
    bad_alignment[0x98 + 36..0x98 + 40].copy_from_slice(&0x300u32.to_le_bytes());
    assert_eq!(
        err(&bad_alignment, &sections(), &X64),
        "EFI stub: FileAlignment is 768, expected a power of two"
    );
    let mut huge = sections();
    huge.initrd = Content::Blob(BlobRange { object: Arc::from("x"), offset: 0, len: 1 << 32 });
    assert_eq!(
        err(&stub, &huge, &X64),
        "section .initrd: VirtualSize would be 4294967296, PE32+ stores 32-bit values (at most 4 GiB)"
    );
}

/// A source whose blobs hold `offset` bytes of 0x5A, whatever their announced length.
struct Lying;

impl ContentSource for Lying {
    fn open(&self, range: &BlobRange) -> io::Result<Box<dyn Read + '_>> {
        Ok(Box::new(io::repeat(0x5A).take(range.offset)))
    }
}

#[test]
fn contents_are_streamed_and_checked() {
    let stub = synthetic_stub(Synthetic::x64());
    let mut blob = sections();
    blob.initrd =
        Content::Blob(BlobRange { object: Arc::from("x"), offset: 700_000, len: 700_000 });
    let image = to_vec(&stub, &blob, &X64, &Lying).unwrap();
    let uki = read(&mut Cursor::new(&image)).unwrap();
    let initrd = uki.sections.iter().find(|s| s.header.name() == ".initrd").unwrap();
    let expected: [u8; 32] = Sha256::digest(vec![0x5A; 700_000]).into();
    assert_eq!(initrd.sha256, expected);
    blob.initrd = Content::Blob(BlobRange { object: Arc::from("x"), offset: 10, len: 700_000 });
    assert_eq!(
        to_vec(&stub, &blob, &X64, &Lying).unwrap_err().to_string(),
        "content of /.initrd ended after 10 bytes, expected 700000"
    );
}

#[test]
fn a_signed_stub_loses_its_signature() {
    let mut stub = synthetic_stub(Synthetic::x64());
    let cert_entry = 0x98 + 112 + 4 * 8;
    stub.extend_from_slice(&[0xEE; 24]);
    stub[cert_entry..cert_entry + 4].copy_from_slice(&0xA00u32.to_le_bytes());
    stub[cert_entry + 4..cert_entry + 8].copy_from_slice(&24u32.to_le_bytes());
    let image = to_vec(&stub, &sections(), &X64, &NoBlobs).unwrap();
    let unsigned = to_vec(&synthetic_stub(Synthetic::x64()), &sections(), &X64, &NoBlobs).unwrap();
    assert!(image == unsigned, "the certificate and its entry are gone");
}

#[test]
fn reader_lists_sections_with_hashes() {
    let image = to_vec(&synthetic_stub(Synthetic::x64()), &sections(), &X64, &NoBlobs).unwrap();
    let uki = read(&mut Cursor::new(&image)).unwrap();
    assert_eq!(uki.check_sum, uki.computed_check_sum);
    let sbat = uki.sections.iter().find(|s| s.header.name() == ".sbat").unwrap();
    assert_eq!(sbat.text.as_deref(), Some(SBAT));
    let linux = uki.sections.iter().find(|s| s.header.name() == ".linux").unwrap();
    assert_eq!(linux.sha256, <[u8; 32]>::from(Sha256::digest(pattern(5000, 2))));
    let lines = summary(&mut Cursor::new(&image)).unwrap();
    let text: String = lines.iter().map(|(k, v)| format!("{k}: {v}\n")).collect();
    // sha256 of "ID=kit\n", "console=ttyS0" and "6.1.0-test" as `sha256sum` prints them.
    expect![[r#"
        format: PE32+ (UKI)
        machine: x86-64 (0x8664)
        size: 10240 bytes
        SizeOfImage: 0xa000
        CheckSum: 0x3272 (correct)
        section .text: VA 0x1000 VirtualSize 0x4 raw 0x400+0x200 flags 0x60000020 sha256 0caab77d26da3539e24caf9e88c59c63ddf3423fe0a713b5dd42b656d0343b0d
        section .reloc: VA 0x2000 VirtualSize 0xc raw 0x600+0x200 flags 0x40000040 sha256 cd695bc32b446f46e6d25e5c28c7b4591f8fedf9c2d13749cb4a7d1d4d89d3fd
        section .sbat: VA 0x3000 VirtualSize 0x7a raw 0x800+0x200 flags 0x40000040 sha256 7aafe7caa52288c484c950cccf2758916e953e3fd58926cf15856c4f42c84ea5
        section .osrel: VA 0x4000 VirtualSize 0x7 raw 0xa00+0x200 flags 0x40000040 sha256 ed1a74f1325351e250d96adc1c321eabf94714d9e053a07c5da816fc78092add
        section .cmdline: VA 0x5000 VirtualSize 0xd raw 0xc00+0x200 flags 0x40000040 sha256 2b98586d9905a605c295d77c61e8cfd2027ae5b8a04eefa9018436f6ad114297 text "console=ttyS0"
        section .uname: VA 0x6000 VirtualSize 0xa raw 0xe00+0x200 flags 0x40000040 sha256 7a5a8cffed3c386bb33d35d04eeb887533ddf54b978755d205163ddda024d788 text "6.1.0-test"
        section .initrd: VA 0x7000 VirtualSize 0x3e8 raw 0x1000+0x400 flags 0x40000040 sha256 9bdc8654cfb9e9c52188016ba993ba06782647690c4ce6d99c9139cdb2915ad9
        section .linux: VA 0x8000 VirtualSize 0x1388 raw 0x1400+0x1400 flags 0x40000020 sha256 0077245c04b68f4b928b06720bbf333f5f8fe6ecfdeccd351c03e2bcdaf27966
    "#]]
    .assert_eq(&text);
}

#[test]
fn same_inputs_same_bytes_and_authenticode() {
    let stub = synthetic_stub(Synthetic::x64());
    let a = to_vec(&stub, &sections(), &X64, &NoBlobs).unwrap();
    let b = to_vec(&stub, &sections(), &X64, &NoBlobs).unwrap();
    assert!(a == b);
    // Written after 3 bytes of something else: the same UKI follows them.
    let mut offset = Cursor::new(b"abc".to_vec());
    offset.set_position(3);
    let built = build(&stub, &sections(), &X64, &NoBlobs, &mut offset).unwrap();
    assert_eq!(built.len_bytes, u64::try_from(a.len()).unwrap());
    assert!(offset.get_ref()[3..] == a[..]);
    // Contiguous sections: the Authenticode digest is the hash of all but CheckSum and the
    // certificate entry.
    let checksum_at = 0x98 + 64;
    let cert_entry_at = 0x98 + 144;
    let mut hasher = Sha256::new();
    hasher.update(&a[..checksum_at]);
    hasher.update(&a[checksum_at + 4..cert_entry_at]);
    hasher.update(&a[cert_entry_at + 8..]);
    assert_eq!(image_digest(&mut Cursor::new(&a)).unwrap(), <[u8; 32]>::from(hasher.finalize()));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn round_trip(
        lens in prop::collection::vec(0usize..3000, 7),
        symbols in any::<bool>(),
        file_alignment in prop::sample::select(vec![16u32, 512, 4096]),
        section_alignment in prop::sample::select(vec![512u32, 4096, 65536]),
    ) {
        let section_alignment = section_alignment.max(file_alignment);
        let stub = synthetic_stub(Synthetic {
            symbols,
            file_alignment,
            section_alignment,
            ..Synthetic::x64()
        });
        let data: Vec<Vec<u8>> =
            lens.iter().enumerate().map(|(idx, len)| pattern(*len, u8::try_from(idx).unwrap())).collect();
        let sections = UkiSections {
            osrel: inline(&data[0]),
            cmdline: inline(&data[1]),
            dtb: Some(inline(&data[2])),
            uname: inline(&data[3]),
            splash: Some(inline(&data[4])),
            initrd: inline(&data[5]),
            linux: inline(&[&b"MZ"[..], &data[6]].concat()),
        };
        let image = to_vec(&stub, &sections, &X64, &NoBlobs).unwrap();
        let uki = read(&mut Cursor::new(&image)).unwrap();
        prop_assert_eq!(uki.check_sum, uki.computed_check_sum);
        let names: Vec<String> = uki.sections.iter().map(|s| s.header.name()).collect();
        let mut expected = vec![".text", ".reloc", ".sbat"];
        for (name, len) in ORDER.iter().zip(&lens) {
            if *len > 0 || *name == ".linux" {
                expected.push(name);
            }
        }
        prop_assert_eq!(names, expected);
        let mut previous_end = 0;
        for section in &uki.sections {
            let h = section.header;
            prop_assert_eq!(h.virtual_address % section_alignment, 0);
            prop_assert_eq!(h.pointer_to_raw_data % file_alignment, 0);
            prop_assert!(h.virtual_address >= previous_end);
            previous_end = h.virtual_address + h.virtual_size;
        }
        prop_assert_eq!(
            uki.size_of_image,
            previous_end.next_multiple_of(section_alignment)
        );
    }
}

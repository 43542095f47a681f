//! Entry points for fuzz targets (CONVENTIONS.md "Fuzzing"): each takes arbitrary bytes and
//! must never panic. The targets in `fuzz/` are one-line calls to these.

use std::io::Cursor;

use crate::dump::dump;
use crate::tree::Content;
use crate::tree::NoBlobs;
use crate::{cpio, gpt, pe, tar, uki};

/// Reads `data` as a tar archive; on success, writes the tree again and reads it back.
pub fn tar_read(data: &[u8]) {
    if let Ok(tree) = tar::read(data) {
        let options = tar::TarOptions { pax_origin: true };
        if let Ok(bytes) = tar::to_vec(&tree, &NoBlobs, &options) {
            let _ = tar::read(&bytes[..]).map(|back| dump(&back));
        }
    }
}

/// Reads `data` as a newc archive; on success, writes the tree again and reads it back.
pub fn cpio_read(data: &[u8]) {
    if let Ok(tree) = cpio::read(data) {
        let options = cpio::CpioOptions { root_entry: true };
        if let Ok(bytes) = cpio::to_vec(&tree, &NoBlobs, &options) {
            let _ = cpio::read(&bytes[..]).map(|back| dump(&back));
        }
    }
}

/// Reads `data` as a GPT disk and summarizes it.
pub fn gpt_read(data: &[u8]) {
    if let Ok(disk) = gpt::read(&mut Cursor::new(data)) {
        for partition in &disk.partitions {
            let _ = partition.entry.name();
        }
        let _ = gpt::summary(&mut Cursor::new(data));
    }
}

/// Reads `data` as a PE image: headers, Authenticode digest, UKI sections and summary.
pub fn pe_read(data: &[u8]) {
    if let Ok(headers) = pe::parse_headers(data) {
        let _ = headers.section_table_end();
    }
    let _ = pe::read_headers(&mut Cursor::new(data));
    let _ = pe::image_digest(&mut Cursor::new(data));
    let _ = uki::read(&mut Cursor::new(data));
    let _ = uki::summary(&mut Cursor::new(data));
}

/// Uses `data` as the EFI stub of a UKI; on success, reads the UKI back.
pub fn uki_build(data: &[u8]) {
    let content = |bytes: &[u8]| Content::Inline(std::sync::Arc::from(bytes));
    let sections = uki::UkiSections {
        osrel: content(b"ID=fuzz\n"),
        cmdline: content(b"console=ttyS0"),
        uname: content(b""),
        initrd: content(&[1; 700]),
        linux: content(b"MZ"),
        dtb: Some(content(b"\xd0\x0d\xfe\xed")),
        splash: None,
    };
    let options = uki::UkiOptions { arch: uki::Arch::X86_64 };
    if let Ok(image) = uki::to_vec(data, &sections, &options, &NoBlobs) {
        let _ = uki::read(&mut Cursor::new(&image));
    }
}

/// Parses `data` as a text fixture.
pub fn fixture(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::testutil::tree_from_fixture(text).map(|tree| dump(&tree));
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::arb::arb_tree;

    #[test]
    fn truncated_archives_do_not_panic() {
        let tree = crate::testutil::tree_from_fixture(
            "//- /a/b mode=0755\nx\n//- /a/c hardlink=/a/b\n//- /l symlink=a/b\n",
        )
        .unwrap();
        let tar_bytes =
            tar::to_vec(&tree, &NoBlobs, &tar::TarOptions { pax_origin: false }).unwrap();
        let cpio_bytes =
            cpio::to_vec(&tree, &NoBlobs, &cpio::CpioOptions { root_entry: true }).unwrap();
        for len in 0..tar_bytes.len() {
            tar_read(&tar_bytes[..len]);
        }
        for len in 0..cpio_bytes.len() {
            cpio_read(&cpio_bytes[..len]);
        }
        fixture(b"//- /a\n//- /a/b\n//- \n//- /x mode=zz");
    }

    /// A 3 MiB GPT disk with one partition, for corruption.
    fn small_gpt() -> Vec<u8> {
        let options = gpt::GptOptions {
            sector_size: gpt::SectorSize::Bytes512,
            disk_size: gpt::DiskSize::Minimum,
            disk_guid: gpt::Guid::derive(b"fuzz", "disk"),
            mbr: gpt::MbrOptions::protective(),
        };
        let spec = gpt::PartitionSpec {
            name: "p".to_owned(),
            type_guid: gpt::Guid::EFI_SYSTEM,
            partition_guid: gpt::Guid::derive(b"fuzz", "p"),
            size: gpt::PartitionSize::Bytes(1),
            attributes: 0,
        };
        let layout = gpt::plan(&options, &[spec]).unwrap();
        let map = gpt::write(&layout, &[crate::extent::ExtentMap::new()]).unwrap();
        map.to_vec(&NoBlobs).unwrap()
    }

    #[test]
    fn truncated_gpt_disks_do_not_panic() {
        let disk = small_gpt();
        gpt_read(&disk);
        for len in (0..disk.len()).step_by(509) {
            gpt_read(&disk[..len]);
        }
    }

    #[test]
    fn truncated_pe_images_do_not_panic() {
        let stub = crate::pe::tests::synthetic_stub(crate::pe::tests::Synthetic {
            symbols: true,
            ..crate::pe::tests::Synthetic::x64()
        });
        for len in 0..stub.len() {
            pe_read(&stub[..len]);
            uki_build(&stub[..len]);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn corrupted_pe_images_do_not_panic(
            flips in prop::collection::vec((0x3Cusize..0x200, any::<u8>()), 1..8),
            symbols in any::<bool>(),
        ) {
            let mut stub = crate::pe::tests::synthetic_stub(crate::pe::tests::Synthetic {
                symbols,
                ..crate::pe::tests::Synthetic::x64()
            });
            // e_lfanew, the COFF and optional headers, the section table.
            for (at, value) in &flips {
                stub[*at] = *value;
            }
            pe_read(&stub);
            uki_build(&stub);
        }

        #[test]
        fn corrupted_archives_do_not_panic(
            tree in arb_tree(),
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        ) {
            let tar_options = tar::TarOptions { pax_origin: true };
            let cpio_options = cpio::CpioOptions { root_entry: true };
            for mut bytes in [
                tar::to_vec(&tree, &NoBlobs, &tar_options).unwrap(),
                cpio::to_vec(&tree, &NoBlobs, &cpio_options).unwrap(),
            ] {
                for (idx, value) in &flips {
                    let at = idx.index(bytes.len());
                    bytes[at] = *value;
                }
                tar_read(&bytes);
                cpio_read(&bytes);
            }
        }

        #[test]
        fn corrupted_gpt_disks_do_not_panic(
            flips in prop::collection::vec((0usize..(34 + 33) * 512, any::<u8>()), 1..8),
            header_flips in prop::collection::vec((0usize..92, any::<u8>()), 0..4),
        ) {
            let mut disk = small_gpt();
            let tail = disk.len() - 33 * 512;
            for (at, value) in &flips {
                // The first 34 sectors or the last 33: MBR, headers and arrays.
                let at = if *at < 34 * 512 { *at } else { tail + at - 34 * 512 };
                disk[at] = *value;
            }
            gpt_read(&disk);
            // Fields of a primary header whose CRC is made right again, to reach the checks
            // after the CRC's.
            let mut disk = small_gpt();
            for (at, value) in &header_flips {
                disk[512 + at] = *value;
            }
            disk[512 + 16..512 + 20].fill(0);
            let crc = gpt::header::crc32(&disk[512..512 + 92]);
            disk[512 + 16..512 + 20].copy_from_slice(&crc.to_le_bytes());
            gpt_read(&disk);
        }
    }
}

//! Entry points for fuzz targets (CONVENTIONS.md "Fuzzing"): each takes arbitrary bytes and
//! must never panic. The targets in `fuzz/` are one-line calls to these.

use crate::dump::dump;
use crate::tree::Content;
use crate::tree::NoBlobs;
use std::io::Cursor;

use crate::{cpio, erofs, fat, gpt, iso9660, pe, squashfs, tar, uki, vhd, vhdx};

/// Reads `data` as a tar archive; on success, writes the tree again and reads it back.
pub fn tar_read(data: &[u8]) {
    if let Ok(tree) = tar::read(data) {
        let options = tar::TarOptions { pax_origin: true };
        if let Ok(bytes) = tar::to_vec(&tree, &NoBlobs, &options) {
            let _ = tar::read(&bytes[..]).map(|back| dump(&back));
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

/// Reads `data` as a newc archive; on success, writes the tree again and reads it back.
pub fn cpio_read(data: &[u8]) {
    if let Ok(tree) = cpio::read(data) {
        let options = cpio::CpioOptions { root_entry: true };
        if let Ok(bytes) = cpio::to_vec(&tree, &NoBlobs, &options) {
            let _ = cpio::read(&bytes[..]).map(|back| dump(&back));
        }
    }
}

/// Reads `data` as an EROFS image and its summary; on success, writes the tree again (plain and
/// lz4) and reads it back.
pub fn erofs_read(data: &[u8]) {
    let _ = erofs::summary(&mut std::io::Cursor::new(data));
    if let Ok(tree) = erofs::read(&mut std::io::Cursor::new(data)) {
        for compression in [erofs::Compression::None, erofs::Compression::Lz4] {
            let options =
                erofs::ErofsOptions { epoch: 0, uuid: None, volume_name: Vec::new(), compression };
            if let Ok(bytes) = erofs::to_vec(&tree, &NoBlobs, &options) {
                let _ = erofs::read(&mut std::io::Cursor::new(&bytes)).map(|back| dump(&back));
            }
        }
    }
}

/// Reads `data` as a squashfs image (and its summary); on success, writes the tree again and
/// reads it back.
pub fn squashfs_read(data: &[u8]) {
    let _ = squashfs::summary(&mut Cursor::new(data));
    if let Ok(tree) = squashfs::read(&mut Cursor::new(data)) {
        let options = squashfs::SquashfsOptions {
            compression: squashfs::Compression::Lz4,
            block_size: squashfs::BlockSize::DEFAULT,
            epoch: 0,
            fragments: squashfs::Fragments::SmallFiles,
            deduplicate: true,
            export_table: true,
            threads: 1,
        };
        if let Ok(bytes) = squashfs::to_vec(&tree, &NoBlobs, &options) {
            let _ = squashfs::read(&mut Cursor::new(&bytes)).map(|back| dump(&back));
        }
    }
}

/// Reads `data` as a FAT volume (and describes it); on success, writes the tree again as the
/// smallest volume that holds it and reads that back.
pub fn fat_read(data: &[u8]) {
    let _ = fat::summary(&mut std::io::Cursor::new(data));
    if let Ok(tree) = fat::read(&mut std::io::Cursor::new(data)) {
        let options = fat::FatOptions {
            size_bytes: None,
            fat_type: None,
            cluster_size_bytes: None,
            volume_id: fat::VolumeId::Fixed(0),
            volume_label: fat::VolumeLabel::NO_NAME,
            hidden_sectors: 0,
            epoch: 0,
            oem_name: *b"kit     ",
        };
        if let Ok(bytes) = fat::to_vec(&tree, &NoBlobs, &options) {
            let _ = fat::read(&mut std::io::Cursor::new(&bytes)).map(|back| dump(&back));
        }
    }
}

/// Reads `data` as an ISO 9660 image (and its summary); on success, writes the tree again and
/// reads it back.
pub fn iso9660_read(data: &[u8]) {
    let _ = iso9660::summary(&mut Cursor::new(data));
    if let Ok(tree) = iso9660::read(&mut Cursor::new(data)) {
        let options = iso9660::IsoOptions {
            volume_id: "FUZZ".to_owned(),
            epoch: 0,
            primary_names: iso9660::PrimaryNames::Iso8Dot3,
            joliet: Some(iso9660::JolietNames::Max64),
            relocate_deep_directories: true,
            boot: None,
        };
        if let Ok(bytes) = iso9660::to_vec(&tree, &NoBlobs, &options) {
            let _ = iso9660::read(&mut Cursor::new(&bytes)).map(|back| dump(&back));
        }
    }
}

/// Parses `data` as a text fixture.
pub fn fixture(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::testutil::tree_from_fixture(text).map(|tree| dump(&tree));
    }
}

/// A writer that accepts at most `left` bytes, so a reader of a huge (claimed) disk stops.
struct Limited {
    left: usize,
}

impl std::io::Write for Limited {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.len() > self.left {
            return Err(std::io::Error::other("fuzz output limit"));
        }
        self.left -= buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A disk made of `data`: its bytes, a zero run as long as the first byte says (in 64 KiB),
/// and the bytes again.
fn fuzz_disk(data: &[u8]) -> crate::extent::ExtentMap {
    let mut disk = crate::extent::ExtentMap::new();
    disk.push_literal(data);
    disk.push_zeros(u64::from(data.first().copied().unwrap_or(0)) << 16);
    disk.push_literal(data);
    disk
}

/// Reads `data` as a VHD (disk bytes into a bounded sink, and summary); writes `data` as a
/// disk into a fixed and a dynamic VHD and reads them back.
pub fn vhd_read(data: &[u8]) {
    let _ = vhd::summary(&mut Cursor::new(data));
    let _ = vhd::read_to(&mut Cursor::new(data), &mut Limited { left: 16 << 20 });
    let disk = fuzz_disk(data);
    for subformat in [vhd::Subformat::Fixed, vhd::Subformat::Dynamic] {
        let options = vhd::VhdOptions {
            subformat,
            epoch: 0,
            seed: Vec::new(),
            creator_application: vhd::CREATOR_KIT,
            round_to_mib: false,
        };
        if let Ok(bytes) = vhd::to_vec(&disk, &NoBlobs, &options) {
            let mut back = Vec::new();
            let _ = vhd::read_to(&mut Cursor::new(&bytes), &mut back);
        }
    }
}

/// Reads `data` as a VHDX (disk bytes into a bounded sink, and summary); writes `data` as a
/// disk into a VHDX and reads it back.
pub fn vhdx_read(data: &[u8]) {
    let _ = vhdx::summary(&mut Cursor::new(data));
    let _ = vhdx::read_to(&mut Cursor::new(data), &mut Limited { left: 16 << 20 });
    let options = vhdx::VhdxOptions {
        block_size: vhdx::BlockSize::Mib1,
        logical_sector_size: gpt::SectorSize::Bytes512,
        physical_sector_size: gpt::SectorSize::Bytes4096,
        leave_block_allocated: false,
        seed: Vec::new(),
    };
    if let Ok(bytes) = vhdx::to_vec(&fuzz_disk(data), &NoBlobs, &options) {
        let mut back = Vec::new();
        let _ = vhdx::read_to(&mut Cursor::new(&bytes), &mut back);
    }
}

/// A writer that fails after 64 MiB, so a header claiming a huge disk cannot run for long.
struct Bounded(u64);

impl std::io::Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = u64::try_from(buf.len()).unwrap_or(u64::MAX);
        if self.0 < n {
            return Err(std::io::Error::other("fuzz output limit"));
        }
        self.0 -= n;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Reads `data` as a qcow2 image (guest bytes to a bounded sink) and summarizes it.
pub fn qcow2_read(data: &[u8]) {
    let _ = crate::qcow2::read_to(&mut Cursor::new(data), &mut Bounded(64 << 20));
    let _ = crate::qcow2::summary(&mut Cursor::new(data));
}

/// Reads `data` as a VMDK sparse extent (guest bytes to a bounded sink) and summarizes it.
pub fn vmdk_read(data: &[u8]) {
    let _ = crate::vmdk::read_to(&mut Cursor::new(data), &mut Bounded(64 << 20));
    let _ = crate::vmdk::summary(&mut Cursor::new(data));
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
        for compression in [erofs::Compression::None, erofs::Compression::Lz4] {
            let options =
                erofs::ErofsOptions { epoch: 0, uuid: None, volume_name: Vec::new(), compression };
            let erofs_bytes = erofs::to_vec(&tree, &NoBlobs, &options).unwrap();
            for len in (0..erofs_bytes.len()).step_by(97) {
                erofs_read(&erofs_bytes[..len]);
            }
        }
        fixture(b"//- /a\n//- /a/b\n//- \n//- /x mode=zz");
        let iso_bytes = iso9660::to_vec(&tree, &NoBlobs, &iso_options()).unwrap();
        for len in (0..iso_bytes.len()).step_by(509) {
            iso9660_read(&iso_bytes[..len]);
        }
        for compression in [squashfs::Compression::Lz4, squashfs::Compression::Gzip { level: 1 }] {
            let bytes = squashfs::to_vec(&tree, &NoBlobs, &squashfs_options(compression)).unwrap();
            // The image proper ends at bytes_used; the rest is padding.
            for len in 0..bytes.len().min(1024) {
                squashfs_read(&bytes[..len]);
            }
        }
    }

    fn iso_options() -> iso9660::IsoOptions {
        iso9660::IsoOptions {
            volume_id: "T".to_owned(),
            epoch: 0,
            primary_names: iso9660::PrimaryNames::Long31,
            joliet: Some(iso9660::JolietNames::Long103),
            relocate_deep_directories: true,
            boot: None,
        }
    }

    fn squashfs_options(compression: squashfs::Compression) -> squashfs::SquashfsOptions {
        squashfs::SquashfsOptions {
            compression,
            block_size: squashfs::BlockSize::new(4096).unwrap(),
            epoch: 0,
            fragments: squashfs::Fragments::SmallFiles,
            deduplicate: true,
            export_table: true,
            threads: 1,
        }
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

        /// Flips bytes in the metadata sectors (16 up to the file data) of ISO images.
        #[test]
        fn corrupted_iso_images_do_not_panic(
            tree in arb_tree(),
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16),
        ) {
            let mut bytes = iso9660::to_vec(&tree, &NoBlobs, &iso_options()).unwrap();
            let metadata_end = (bytes.len() - 150 * 2048).max(16 * 2048 + 1);
            for (idx, value) in &flips {
                let at = 16 * 2048 + idx.index(metadata_end - 16 * 2048);
                bytes[at] = *value;
            }
            iso9660_read(&bytes);
        }

        #[test]
        fn corrupted_archives_do_not_panic(
            tree in arb_tree(),
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        ) {
            let tar_options = tar::TarOptions { pax_origin: true };
            let cpio_options = cpio::CpioOptions { root_entry: true };
            let squashfs_options = squashfs_options(squashfs::Compression::Lz4);
            for mut bytes in [
                tar::to_vec(&tree, &NoBlobs, &tar_options).unwrap(),
                cpio::to_vec(&tree, &NoBlobs, &cpio_options).unwrap(),
                squashfs::to_vec(&tree, &NoBlobs, &squashfs_options).unwrap(),
            ] {
                for (idx, value) in &flips {
                    let at = idx.index(bytes.len());
                    bytes[at] = *value;
                }
                tar_read(&bytes);
                cpio_read(&bytes);
                squashfs_read(&bytes);
            }
            for compression in [erofs::Compression::None, erofs::Compression::Lz4] {
                let options = erofs::ErofsOptions {
                    epoch: 0,
                    uuid: None,
                    volume_name: Vec::new(),
                    compression,
                };
                let mut bytes = erofs::to_vec(&tree, &NoBlobs, &options).unwrap();
                for (idx, value) in &flips {
                    // Most of an image is padding: aim the flips at its first blocks.
                    let at = idx.index(bytes.len().min(3 * 4096));
                    bytes[at] = *value;
                }
                erofs_read(&bytes);
            }
        }
    }

    fn small_disk() -> crate::extent::ExtentMap {
        let mut map = crate::extent::ExtentMap::new();
        map.push_literal(&b"first sector"[..]);
        map.push_zeros(600_000);
        map.push_literal(vec![7u8; 70_000]);
        map
    }

    #[test]
    fn damaged_qcow2_and_vmdk_images_do_not_panic() {
        let disk = small_disk();
        let qcow2_bytes =
            crate::qcow2::to_vec(&disk, &NoBlobs, &crate::qcow2::Qcow2Options::default()).unwrap();
        let vmdk_options = crate::vmdk::VmdkOptions {
            adapter_type: crate::vmdk::AdapterType::Ide,
            file_name: "f.vmdk".to_owned(),
            cid: None,
        };
        let vmdk_bytes = crate::vmdk::to_vec(&disk, &NoBlobs, &vmdk_options).unwrap();
        damage(&qcow2_bytes, qcow2_read);
        damage(&vmdk_bytes, vmdk_read);
    }

    /// Runs `read` on truncations and single-byte corruptions of `bytes`.
    fn damage(bytes: &[u8], read: fn(&[u8])) {
        for len in (0..bytes.len()).step_by(97) {
            read(&bytes[..len]);
        }
        for at in (0..bytes.len().min(70_000)).step_by(31) {
            let mut damaged = bytes.to_vec();
            damaged[at] ^= 0xa5;
            read(&damaged);
        }
    }
}

//! Entry points for fuzz targets (CONVENTIONS.md "Fuzzing"): each takes arbitrary bytes and
//! must never panic. The targets in `fuzz/` are one-line calls to these.

use crate::dump::dump;
use crate::tree::NoBlobs;
use std::io::Cursor;

use crate::{cpio, erofs, fat, iso9660, squashfs, tar};

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

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

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
}

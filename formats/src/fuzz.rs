//! Entry points for fuzz targets (CONVENTIONS.md "Fuzzing"): each takes arbitrary bytes and
//! must never panic. The targets in `fuzz/` are one-line calls to these.

use std::io::Cursor;

use crate::dump::dump;
use crate::tree::NoBlobs;
use crate::{cpio, iso9660, tar};

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
        let iso_bytes = iso9660::to_vec(&tree, &NoBlobs, &iso_options()).unwrap();
        for len in (0..iso_bytes.len()).step_by(509) {
            iso9660_read(&iso_bytes[..len]);
        }
        fixture(b"//- /a\n//- /a/b\n//- \n//- /x mode=zz");
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
    }
}

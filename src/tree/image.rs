//! Merging a resolved image: decode each layer once into [`LayerFiles`], then merge.
//!
//! For each layer, base first: if `<dir>/<diff_id hex>.tar` exists it is merged from there
//! through a verifying reader; if that fails for any reason (the file may be truncated or
//! corrupted), it is deleted and decoded again. Otherwise the layer blob is opened from the
//! source, decompressed, and read by the merge while a copy streams into a temporary file in the
//! same directory; only when the whole stream checked out (blob digest and `diff_id`) is that
//! file synced and renamed into place. So every layer is read once, a partial or unverified file
//! never appears under a layer's name, and a layer's changes are applied only after all of its
//! bytes were verified.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::sync::Arc;

use formats::tree::Tree;

use super::layer::{Change, read_changes};
use super::{LayerFiles, MergeError, Merger};
use crate::digest::{Digest, Verifier};
use crate::oci::{Descriptor, ImageSource, ResolvedImage, open_layer};

/// Decodes (or reuses) every layer of `image` into `layers` and merges them.
pub fn merge_image(
    source: &dyn ImageSource,
    image: &ResolvedImage,
    layers: &LayerFiles,
) -> Result<Tree, MergeError> {
    let mut merger = Merger::new();
    for (index, (descriptor, diff_id)) in image.layers().iter().zip(image.diff_ids()).enumerate() {
        let in_image = |source: Box<dyn std::error::Error + Send + Sync>| MergeError::Layer {
            image: image.name.clone(),
            index,
            diff_id: diff_id.to_string(),
            source,
        };
        let object = LayerFiles::object_id(diff_id);
        let changes = match reuse(layers, &object, diff_id) {
            Some(changes) => changes,
            None => decode_and_read(source, image, descriptor, diff_id, layers, &object).map_err(
                |e| match e {
                    DecodeError::Oci(e) => in_image(Box::new(e)),
                    DecodeError::Merge(e) => in_image(Box::new(e)),
                    DecodeError::Io(e) => e,
                },
            )?,
        };
        merger.apply_changes(&object, &changes).map_err(|e| in_image(Box::new(e)))?;
    }
    Ok(merger.finish())
}

/// The changes of an existing, valid layer file; `None` (after deleting the file, if any) when
/// there is none or it does not verify.
fn reuse(layers: &LayerFiles, object: &Arc<str>, diff_id: &Digest) -> Option<Vec<Change>> {
    let path = layers.path(diff_id);
    let file = File::open(&path).ok()?;
    let verified = Verifier::new(BufReader::new(file), diff_id, None);
    match read_changes(object, verified) {
        Ok(changes) => Some(changes),
        Err(_) => {
            // Corrupt or truncated: remove it and decode again. A failed removal shows up as an
            // error when the fresh copy is renamed over it.
            let _ = fs::remove_file(&path);
            None
        }
    }
}

enum DecodeError {
    Oci(crate::oci::Error),
    Merge(MergeError),
    Io(MergeError),
}

fn decode_and_read(
    source: &dyn ImageSource,
    image: &ResolvedImage,
    descriptor: &Descriptor,
    diff_id: &Digest,
    layers: &LayerFiles,
    object: &Arc<str>,
) -> Result<Vec<Change>, DecodeError> {
    let dir = layers.dir();
    let io_error = |source| DecodeError::Io(MergeError::Io { path: dir.to_path_buf(), source });
    let decoded = open_layer(source, &image.name, descriptor, diff_id).map_err(DecodeError::Oci)?;
    let temp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir).map_err(io_error)?;
    let mut tee = Tee { inner: decoded, copy: BufWriter::new(temp) };
    let changes = read_changes(object, &mut tee).map_err(DecodeError::Merge)?;
    let temp = tee.copy.into_inner().map_err(|e| io_error(e.into_error()))?;
    temp.as_file().sync_all().map_err(io_error)?;
    let path = layers.path(diff_id);
    temp.persist(&path)
        .map_err(|e| DecodeError::Io(MergeError::Io { path: path.clone(), source: e.error }))?;
    Ok(changes)
}

/// Copies everything read from `inner` into `copy`.
struct Tee<R, W> {
    inner: R,
    copy: W,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.write_all(&buf[..n])?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::testutil::{TestLayer, put_image};
    use crate::oci::{OciLayout, Platform};
    use crate::tree::tests::{LayerBuilder, dump};

    fn names(dir: &std::path::Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn decodes_once_reuses_and_repairs_layer_files() {
        let dir = tempfile::tempdir().unwrap();
        let layout = OciLayout::create(dir.path().join("layout")).unwrap();
        let base = LayerBuilder::new().file("etc/motd", "hello").file("bin/sh", "sh").build();
        let top =
            LayerBuilder::new().marker("bin/.wh.sh").hardlink("etc/issue", "etc/motd").build();
        let manifest = put_image(
            &layout,
            "amd64",
            &[
                TestLayer { tar: base.clone(), gzip: true },
                TestLayer { tar: top.clone(), gzip: false },
            ],
        );
        layout.add_ref("img:1", &manifest).unwrap();
        let image = layout.resolve("img:1", &Platform::linux("amd64")).unwrap();
        let layers = LayerFiles::new(dir.path().join("layers")).unwrap();

        let tree = merge_image(&layout, &image, &layers).unwrap();
        let expected = "bin dir 0755 0:0\netc dir 0755 0:0\netc/issue file 0644 0:0 \"hello\"\n\
                        etc/motd hardlink 0644 0:0 => etc/issue\n";
        assert_eq!(dump(&tree, &layers), expected);
        let base_id = Digest::sha256(&base);
        let top_id = Digest::sha256(&top);
        let mut want = vec![format!("{}.tar", base_id.hex()), format!("{}.tar", top_id.hex())];
        want.sort();
        assert_eq!(names(layers.dir()), want);
        assert_eq!(fs::read(layers.path(&base_id)).unwrap(), base);

        // A truncated layer file is detected, removed and decoded again.
        fs::write(layers.path(&base_id), &base[..600]).unwrap();
        let tree = merge_image(&layout, &image, &layers).unwrap();
        assert_eq!(dump(&tree, &layers), expected);
        assert_eq!(fs::read(layers.path(&base_id)).unwrap(), base);

        // A corrupt blob in the source fails the merge, naming image and layer, and leaves no
        // layer file behind.
        fs::remove_file(layers.path(&base_id)).unwrap();
        let blob = layout.blob_path(&image.layers()[0].digest);
        let mut bytes = fs::read(&blob).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x55;
        fs::write(&blob, bytes).unwrap();
        let err = merge_image(&layout, &image, &layers).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "img:1 (in OCI layout {}): layer 0 ({base_id}):",
                layout.root().display()
            )),
            "{err}"
        );
        assert_eq!(names(layers.dir()), [format!("{}.tar", top_id.hex())]);
    }
}

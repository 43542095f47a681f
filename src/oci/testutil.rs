//! Test helpers: tiny images written into OCI layouts, built from spec rules (not from kit's
//! own output).

use std::io::Write;

use flate2::Compression as GzLevel;
use flate2::write::GzEncoder;

use super::spec::{Descriptor, DescriptorPlatform};
use super::{OciLayout, media_type};
use crate::digest::Digest;

/// A layer to put in a test image: uncompressed tar bytes and how to compress them.
pub(crate) struct TestLayer {
    pub tar: Vec<u8>,
    pub gzip: bool,
}

/// A tar with one regular file per `(path, content)`.
pub(crate) fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut header = tar::Header::new_ustar();
        header.set_size(u64::try_from(content.len()).unwrap());
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, path, *content).unwrap();
    }
    builder.into_inner().unwrap()
}

pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), GzLevel::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Writes a blob and returns its descriptor.
pub(crate) fn put(layout: &OciLayout, media_type: &str, bytes: &[u8]) -> Descriptor {
    let digest = Digest::sha256(bytes);
    layout.write_blob_bytes(&digest, bytes).unwrap();
    Descriptor::new(media_type, digest, u64::try_from(bytes.len()).unwrap())
}

/// Writes an image manifest for `arch` with `layers` and returns the manifest's descriptor.
pub(crate) fn put_image(layout: &OciLayout, arch: &str, layers: &[TestLayer]) -> Descriptor {
    let mut descriptors = Vec::new();
    let mut diff_ids = Vec::new();
    for layer in layers {
        diff_ids.push(Digest::sha256(&layer.tar).to_string());
        let descriptor = if layer.gzip {
            put(layout, media_type::OCI_LAYER_TAR_GZIP, &gzip(&layer.tar))
        } else {
            put(layout, media_type::OCI_LAYER_TAR, &layer.tar)
        };
        descriptors.push(descriptor);
    }
    let config = serde_json::json!({
        "architecture": arch,
        "os": "linux",
        "config": {"Cmd": ["/bin/sh"], "Env": null},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let config = put(layout, media_type::OCI_CONFIG, config.to_string().as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_MANIFEST,
        "config": config,
        "layers": descriptors,
    });
    put(layout, media_type::OCI_MANIFEST, manifest.to_string().as_bytes())
}

/// Writes an index over `(arch, variant, manifest)` entries and returns its descriptor.
pub(crate) fn put_index(
    layout: &OciLayout,
    entries: &[(&str, Option<&str>, Descriptor)],
) -> Descriptor {
    let manifests: Vec<Descriptor> = entries
        .iter()
        .map(|(arch, variant, d)| {
            let mut d = d.clone();
            d.platform = Some(DescriptorPlatform {
                architecture: (*arch).to_owned(),
                os: "linux".to_owned(),
                os_version: None,
                os_features: Vec::new(),
                variant: variant.map(str::to_owned),
            });
            d
        })
        .collect();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_INDEX,
        "manifests": manifests,
    });
    put(layout, media_type::OCI_INDEX, index.to_string().as_bytes())
}

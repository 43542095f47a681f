//! `format: oci` volumes: the image written as an OCI image layout in `containers/volumes/<name>/lower/`.
//!
//! LinuxKit v1.8.2 (`moby/build/image.go` `ImageOCITar`, `cache/indexsource.go` `OCITarReader`,
//! `cache/layout.go`) writes, below the volume's `lower/`:
//!
//! 1. `oci-layout` (0644), whose bytes are `{\n\t\t"imageLayoutVersion": "1.0.0"\n\t}` (a Go
//!    raw string literal with the source file's indentation, no trailing newline);
//! 2. the directories `blobs/` and `blobs/sha256/` (0755);
//! 3. for every entry of the image's index that is an image manifest (OCI or Docker v2) and, when
//!    `platforms` is given, whose platform has the same OS and architecture as one of them (and
//!    the same variant, when that one names a variant): the config blob, each layer blob as
//!    stored (compressed), then the manifest blob, all 0644;
//! 4. the index blob itself, its original bytes;
//! 5. `index.json` (0644): go-containerregistry's empty index with one descriptor of the index,
//!    annotated `org.opencontainers.image.ref.name` with the reference, marshalled with Go's
//!    `json.MarshalIndent(index, "", "   ")`.
//!
//! Without `platforms` every image manifest of the index is written, whatever the build
//! architecture. kit follows that, with these differences (listed in ARCHITECTURE.md):
//!
//! * When a manifest of the index is left out (by `platforms`, or because it is not an image
//!   manifest), LinuxKit still writes the original index, which then names manifests whose blobs
//!   are absent. kit writes only verified blobs and a consistent
//!   layout: the index blob is left out and `index.json` lists the selected manifests' descriptors
//!   (copied from the index, with their platform) directly, each annotated with the reference.
//! * A single-manifest image (no index), which LinuxKit refuses ("no image index found"), is
//!   written with `index.json` naming the manifest.
//! * The descriptor in `index.json` carries the index's own media type (LinuxKit always writes the
//!   OCI index type, even for a Docker manifest list).
//! * Entries carry the build's epoch as mtime and owner 0:0 (LinuxKit's headers have the zero
//!   time, which Go's tar writer stores as 0).
//!
//! Every blob named here is reached by digest from the root the signature check verified; the
//! caller reads documents verified and makes sure every blob is in the cache before writing.

use std::collections::BTreeMap;
use std::sync::Arc;

use formats::tree::{BlobRange, Content, Dir, Meta, Node, NodeKind, Origin};

use crate::digest::Digest;
use crate::linuxkit::{Error, gojson, place};
use crate::oci::spec::{Descriptor, Manifest, parse_manifest};
use crate::oci::{ANNOTATION_REF_NAME, media_type};

/// The bytes of LinuxKit's `oci-layout` file (`cache/imagesource.go` `layoutFile`).
pub const OCI_LAYOUT_FILE: &[u8] = b"{\n\t\t\"imageLayoutVersion\": \"1.0.0\"\n\t}";

/// What the layout of one `format: oci` volume holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciVolumeLayout {
    /// The image reference as LinuxKit prints it (the entries' `LINUXKIT.source`).
    pub image: String,
    /// Every blob to write under `blobs/`, each once, in LinuxKit's order.
    pub blobs: Vec<Descriptor>,
    /// The bytes of `index.json`.
    pub index_json: Vec<u8>,
}

/// A reader of verified documents (manifests and indexes) by descriptor.
pub type ReadDocument<'a> =
    dyn FnMut(&Descriptor) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>> + 'a;

/// One `platforms` entry as go-containerregistry's `v1.ParsePlatform` splits it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct WantedPlatform {
    text: String,
    os: String,
    architecture: String,
    variant: String,
}

fn parse_platform(volume: &str, text: &str) -> Result<WantedPlatform, Error> {
    let base = text.split_once(':').map_or(text, |(base, _os_version)| base);
    let parts: Vec<&str> = base.split('/').collect();
    let invalid = || Error::VolumePlatform {
        volume: volume.to_owned(),
        platform: text.to_owned(),
        problem: "expected os/architecture[/variant]".to_owned(),
    };
    match parts[..] {
        [os, architecture] if !os.is_empty() && !architecture.is_empty() => Ok(WantedPlatform {
            text: text.to_owned(),
            os: os.to_owned(),
            architecture: architecture.to_owned(),
            variant: String::new(),
        }),
        [os, architecture, variant] if !os.is_empty() && !architecture.is_empty() => {
            Ok(WantedPlatform {
                text: text.to_owned(),
                os: os.to_owned(),
                architecture: architecture.to_owned(),
                variant: variant.to_owned(),
            })
        }
        _ => Err(invalid()),
    }
}

impl WantedPlatform {
    /// LinuxKit's test in `OCITarReader`: same OS and architecture, and the same variant unless
    /// none was asked for.
    fn matches(&self, descriptor: &Descriptor) -> bool {
        let Some(platform) = &descriptor.platform else {
            return false;
        };
        platform.os == self.os
            && platform.architecture == self.architecture
            && (self.variant.is_empty()
                || platform.variant.as_deref().unwrap_or("") == self.variant)
    }
}

/// Plans the layout of volume `volume` for the image whose root (index or manifest) is `root`,
/// named `ref_name` (the expanded reference, as LinuxKit prints it), restricted to `platforms`.
/// `read` returns the verified bytes of a document.
pub fn plan(
    volume: &str,
    ref_name: &str,
    root: &Descriptor,
    platforms: &[String],
    read: &mut ReadDocument<'_>,
) -> Result<OciVolumeLayout, Error> {
    let wanted = platforms
        .iter()
        .map(|text| parse_platform(volume, text))
        .collect::<Result<Vec<_>, Error>>()?;
    let fail = |source: Box<dyn std::error::Error + Send + Sync>| Error::VolumeOciImage {
        volume: volume.to_owned(),
        image: ref_name.to_owned(),
        source,
    };
    let mut blobs = Blobs::default();
    let root_bytes = read(root).map_err(fail)?;
    let what = format!("{ref_name}: {}", root.digest);
    let parsed = parse_manifest(Arc::from(root_bytes), Some(&root.media_type), &what)
        .map_err(|e| fail(e.into()))?;
    let listed: Vec<Descriptor> = match parsed.value {
        Manifest::Index(index) => {
            let images: Vec<&Descriptor> = index
                .manifests
                .iter()
                .filter(|d| {
                    d.media_type == media_type::OCI_MANIFEST
                        || d.media_type == media_type::DOCKER_MANIFEST
                })
                .collect();
            let selected: Vec<&Descriptor> = if wanted.is_empty() {
                images.clone()
            } else {
                images.iter().copied().filter(|d| wanted.iter().any(|w| w.matches(d))).collect()
            };
            for platform in &wanted {
                if !images.iter().any(|d| platform.matches(d)) {
                    return Err(Error::VolumePlatform {
                        volume: volume.to_owned(),
                        platform: platform.text.clone(),
                        problem: format!(
                            "image {ref_name} has no manifest for it; it has {}",
                            crate::oci::platform::available_platforms(&index)
                        ),
                    });
                }
            }
            for descriptor in &selected {
                let bytes = read(descriptor).map_err(fail)?;
                add_image(ref_name, descriptor, bytes, &mut blobs).map_err(fail)?;
            }
            let whole = selected.len() == index.manifests.len();
            if whole {
                blobs.push(root.clone());
                vec![root.clone()]
            } else {
                selected.into_iter().cloned().collect()
            }
        }
        Manifest::Image(_) => {
            let bytes = parsed.bytes.to_vec();
            add_image(ref_name, root, bytes, &mut blobs).map_err(fail)?;
            vec![root.clone()]
        }
    };
    let index_json = index_json(ref_name, &listed).map_err(|source| Error::Json { source })?;
    Ok(OciVolumeLayout { image: ref_name.to_owned(), blobs: blobs.list, index_json })
}

/// Blobs in first-seen order, each once.
#[derive(Default)]
struct Blobs {
    list: Vec<Descriptor>,
    seen: BTreeMap<Digest, ()>,
}

impl Blobs {
    fn push(&mut self, descriptor: Descriptor) {
        if self.seen.insert(descriptor.digest.clone(), ()).is_none() {
            self.list.push(descriptor);
        }
    }
}

/// Adds an image manifest's config, layers and the manifest itself (LinuxKit's
/// `writeLayoutImage` order).
fn add_image(
    ref_name: &str,
    descriptor: &Descriptor,
    bytes: Vec<u8>,
    blobs: &mut Blobs,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let what = format!("{ref_name}: manifest {}", descriptor.digest);
    let raw = parse_manifest(Arc::from(bytes), Some(&descriptor.media_type), &what)?;
    let Manifest::Image(manifest) = raw.value else {
        return Err(format!("{what}: expected an image manifest, found an index").into());
    };
    blobs.push(manifest.config.clone());
    for layer in &manifest.layers {
        blobs.push(layer.clone());
    }
    blobs.push(descriptor.clone());
    Ok(())
}

/// go-containerregistry's `v1.IndexManifest`, in its field order.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct GoIndex<'a> {
    schema_version: u32,
    media_type: &'static str,
    manifests: Vec<GoDescriptor<'a>>,
}

/// go-containerregistry's `v1.Descriptor`, in its field order.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct GoDescriptor<'a> {
    media_type: &'a str,
    size: u64,
    digest: String,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    urls: &'a [String],
    annotations: BTreeMap<&'a str, &'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<GoPlatform<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    artifact_type: Option<&'a str>,
}

/// go-containerregistry's `v1.Platform`, in its field order.
#[derive(serde::Serialize)]
struct GoPlatform<'a> {
    architecture: &'a str,
    os: &'a str,
    #[serde(rename = "os.version", skip_serializing_if = "Option::is_none")]
    os_version: Option<&'a str>,
    #[serde(rename = "os.features", skip_serializing_if = "<[String]>::is_empty")]
    os_features: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<&'a str>,
}

/// The layout's `index.json`: each descriptor of `listed` annotated with the reference.
fn index_json(ref_name: &str, listed: &[Descriptor]) -> Result<Vec<u8>, serde_json::Error> {
    let manifests = listed
        .iter()
        .map(|d| {
            let mut annotations: BTreeMap<&str, &str> =
                d.annotations.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            annotations.insert(ANNOTATION_REF_NAME, ref_name);
            GoDescriptor {
                media_type: &d.media_type,
                size: d.size,
                digest: d.digest.to_string(),
                urls: &d.urls,
                annotations,
                platform: d.platform.as_ref().map(|p| GoPlatform {
                    architecture: &p.architecture,
                    os: &p.os,
                    os_version: p.os_version.as_deref(),
                    os_features: &p.os_features,
                    variant: p.variant.as_deref(),
                }),
                artifact_type: d.artifact_type.as_deref(),
            }
        })
        .collect();
    let index = GoIndex { schema_version: 2, media_type: media_type::OCI_INDEX, manifests };
    gojson::to_vec_indent_by(&index, b"   ")
}

/// Places the layout into `lower` (the volume's `lower/` directory, already created).
pub fn place_layout(
    lower: &mut Dir,
    layout: &OciVolumeLayout,
    epoch: i64,
    origin: &Option<Arc<Origin>>,
) {
    let file = |content: Content| Node {
        kind: NodeKind::File(content),
        meta: Meta::new(0o644, epoch),
        origin: origin.clone(),
    };
    let dir_meta = Meta::new(0o755, epoch);
    place::put(lower, b"oci-layout".to_vec(), file(Content::Inline(Arc::from(OCI_LAYOUT_FILE))));
    let blobs_dir = place::mkdir_all(lower, &[b"blobs".as_slice()], &dir_meta, origin);
    for blob in &layout.blobs {
        let algorithm = blob.digest.algorithm().name().as_bytes();
        let dir = place::mkdir_all(blobs_dir, &[algorithm], &dir_meta, origin);
        let range = BlobRange {
            object: crate::tree::blob_object_id(&blob.digest),
            offset: 0,
            len: blob.size,
        };
        place::put(dir, blob.digest.hex().as_bytes().to_vec(), file(Content::Blob(range)));
    }
    // LinuxKit always writes blobs/sha256/, even when no blob uses it.
    place::mkdir_all(blobs_dir, &[b"sha256".as_slice()], &dir_meta, origin);
    place::put(
        lower,
        b"index.json".to_vec(),
        file(Content::Inline(Arc::from(layout.index_json.as_slice()))),
    );
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::oci::spec::DescriptorPlatform;

    fn blob(media_type: &str, bytes: &[u8]) -> (Descriptor, Vec<u8>) {
        let size = u64::try_from(bytes.len()).unwrap();
        (Descriptor::new(media_type, Digest::sha256(bytes), size), bytes.to_vec())
    }

    /// An image manifest with a config and one layer, and the documents map it lives in.
    fn image(
        tag: &str,
        docs: &mut BTreeMap<Digest, Vec<u8>>,
    ) -> (Descriptor, Descriptor, Descriptor) {
        let (config, config_bytes) =
            blob(media_type::OCI_CONFIG, format!("{{\"c\":\"{tag}\"}}").as_bytes());
        let (layer, _) = blob(media_type::OCI_LAYER_TAR_GZIP, format!("layer {tag}").as_bytes());
        let manifest_json = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type::OCI_MANIFEST,
            "config": config,
            "layers": [layer],
        });
        let (manifest, bytes) =
            blob(media_type::OCI_MANIFEST, &serde_json::to_vec(&manifest_json).unwrap());
        docs.insert(config.digest.clone(), config_bytes);
        docs.insert(manifest.digest.clone(), bytes);
        (manifest, config, layer)
    }

    fn with_platform(mut d: Descriptor, os: &str, arch: &str, variant: Option<&str>) -> Descriptor {
        d.platform = Some(DescriptorPlatform {
            architecture: arch.to_owned(),
            os: os.to_owned(),
            os_version: None,
            os_features: Vec::new(),
            variant: variant.map(str::to_owned),
        });
        d
    }

    fn index(entries: &[Descriptor], docs: &mut BTreeMap<Digest, Vec<u8>>) -> Descriptor {
        let json = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type::OCI_INDEX,
            "manifests": entries,
        });
        let (d, bytes) = blob(media_type::OCI_INDEX, &serde_json::to_vec(&json).unwrap());
        docs.insert(d.digest.clone(), bytes);
        d
    }

    fn run(
        root: &Descriptor,
        platforms: &[&str],
        docs: &BTreeMap<Digest, Vec<u8>>,
    ) -> Result<OciVolumeLayout, Error> {
        let platforms: Vec<String> = platforms.iter().map(|p| (*p).to_owned()).collect();
        let mut read = |d: &Descriptor| {
            docs.get(&d.digest).cloned().ok_or_else(|| format!("missing {}", d.digest).into())
        };
        plan("v", "docker.io/library/multi:1", root, &platforms, &mut read)
    }

    fn digests(layout: &OciVolumeLayout) -> Vec<Digest> {
        layout.blobs.iter().map(|b| b.digest.clone()).collect()
    }

    #[test]
    fn whole_index_is_written_as_linuxkit_writes_it() {
        let mut docs = BTreeMap::new();
        let (amd, amd_config, amd_layer) = image("amd", &mut docs);
        let (arm, arm_config, arm_layer) = image("arm", &mut docs);
        let amd = with_platform(amd, "linux", "amd64", None);
        let arm = with_platform(arm, "linux", "arm64", Some("v8"));
        let root = index(&[amd.clone(), arm.clone()], &mut docs);
        let layout = run(&root, &[], &docs).unwrap();
        // writeLayoutImage per manifest (config, layers, manifest), then the index blob.
        assert_eq!(
            digests(&layout),
            [
                amd_config.digest,
                amd_layer.digest,
                amd.digest,
                arm_config.digest,
                arm_layer.digest,
                arm.digest,
                root.digest.clone()
            ]
        );
        // writeLayoutIndex: empty.Index plus one descriptor, MarshalIndent with three spaces.
        let expected = format!(
            "{{\n   \"schemaVersion\": 2,\n   \"mediaType\": \"application/vnd.oci.image.index.v1+json\",\n   \"manifests\": [\n      {{\n         \"mediaType\": \"application/vnd.oci.image.index.v1+json\",\n         \"size\": {},\n         \"digest\": \"{}\",\n         \"annotations\": {{\n            \"org.opencontainers.image.ref.name\": \"docker.io/library/multi:1\"\n         }}\n      }}\n   ]\n}}",
            root.size, root.digest
        );
        assert_eq!(String::from_utf8(layout.index_json).unwrap(), expected);
    }

    #[test]
    fn platforms_prune_blobs_and_index_json_lists_the_kept_manifests() {
        let mut docs = BTreeMap::new();
        let (amd, _, _) = image("amd", &mut docs);
        let (arm, arm_config, arm_layer) = image("arm", &mut docs);
        let (arm7, _, _) = image("arm7", &mut docs);
        let amd = with_platform(amd, "linux", "amd64", None);
        let arm = with_platform(arm, "linux", "arm64", Some("v8"));
        let arm7 = with_platform(arm7, "linux", "arm", Some("v7"));
        let root = index(&[amd, arm.clone(), arm7], &mut docs);
        // No variant asked: any variant of linux/arm64 matches.
        let layout = run(&root, &["linux/arm64"], &docs).unwrap();
        assert_eq!(digests(&layout), [arm_config.digest, arm_layer.digest, arm.digest.clone()]);
        let value: serde_json::Value = serde_json::from_slice(&layout.index_json).unwrap();
        let manifests = value["manifests"].as_array().unwrap();
        assert_eq!(manifests.len(), 1);
        assert_eq!(manifests[0]["digest"], arm.digest.to_string());
        assert_eq!(manifests[0]["platform"]["variant"], "v8");
        assert_eq!(
            manifests[0]["annotations"]["org.opencontainers.image.ref.name"],
            "docker.io/library/multi:1"
        );
        // A variant asked must match.
        let err = run(&root, &["linux/arm/v6"], &docs).unwrap_err();
        assert!(err.to_string().contains("linux/arm/v6"), "{err}");
        assert_eq!(run(&root, &["linux/arm/v7"], &docs).unwrap().blobs.len(), 3);
        // Every platform of the index asked for: the index is kept whole.
        let all = run(&root, &["linux/amd64", "linux/arm64", "linux/arm"], &docs).unwrap();
        assert_eq!(all.blobs.last().unwrap().digest, root.digest);
        assert!(run(&root, &["amd64"], &docs).is_err());
    }

    #[test]
    fn shared_blobs_are_written_once_and_single_manifests_are_accepted() {
        let mut docs = BTreeMap::new();
        let (amd, config, layer) = image("same", &mut docs);
        let a = with_platform(amd.clone(), "linux", "amd64", None);
        let b = with_platform(amd.clone(), "linux", "amd64", Some("v2"));
        let root = index(&[a, b], &mut docs);
        let layout = run(&root, &[], &docs).unwrap();
        assert_eq!(
            digests(&layout),
            [config.digest.clone(), layer.digest.clone(), amd.digest.clone(), root.digest]
        );
        let single = run(&amd, &[], &docs).unwrap();
        assert_eq!(digests(&single), [config.digest, layer.digest, amd.digest.clone()]);
        let value: serde_json::Value = serde_json::from_slice(&single.index_json).unwrap();
        assert_eq!(value["manifests"][0]["digest"], amd.digest.to_string());
        assert_eq!(value["manifests"][0]["mediaType"], media_type::OCI_MANIFEST);
    }
}

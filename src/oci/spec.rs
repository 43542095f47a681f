//! Serde types for the OCI image specification (v1.1) and Docker's manifest v2 schema 2.
//!
//! Only the fields kit reads are modelled; unknown fields are ignored, as the OCI specification
//! requires of consumers ("implementations MUST NOT generate an error if they encounter an unknown
//! property"). Required fields are required by the types, so a manifest without `config` or a
//! config without `rootfs` does not parse.
//!
//! Go tools write `null` for empty lists and maps (`"Env": null`, `"Labels": null`); those decode
//! as empty. `Cmd` and `Entrypoint` stay `Option`s because "unset" and "empty" differ for them.
//!
//! JSON documents are parsed from raw bytes with [`parse_json`], which enforces a size limit; the
//! digest of a document is always the digest of those raw bytes, which [`Raw`] keeps together.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize};

use super::{Error, media_type};
use crate::digest::Digest;

/// Largest manifest, index or image configuration kit parses, to bound memory for untrusted input.
pub const MAX_JSON_BYTES: u64 = 4 * 1024 * 1024;

/// A content descriptor (image-spec `descriptor.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The media type of the referenced content.
    pub media_type: String,
    /// The digest of the referenced content's raw bytes.
    pub digest: Digest,
    /// The size of the referenced content in bytes.
    pub size: u64,
    /// Other places the content may be fetched from (foreign layers).
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// Arbitrary metadata, such as `org.opencontainers.image.ref.name`.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub annotations: BTreeMap<String, String>,
    /// The platform of the referenced manifest, in an index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<DescriptorPlatform>,
    /// The type of an artifact, when the descriptor references one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

/// The `platform` object of an index entry (image-spec `image-index.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DescriptorPlatform {
    /// CPU architecture in Go's spelling (`amd64`, `arm64`, `riscv64`).
    pub architecture: String,
    /// Operating system in Go's spelling (`linux`).
    pub os: String,
    /// Operating system version (Windows).
    #[serde(rename = "os.version", default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    /// Required operating system features (Windows).
    #[serde(
        rename = "os.features",
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub os_features: Vec<String>,
    /// CPU variant (`v7` for arm, `v8` for arm64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// An image manifest (image-spec `manifest.md`, or Docker v2 schema 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Must be 2.
    pub schema_version: u32,
    /// The manifest's own media type; optional in OCI, present in Docker manifests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The type of an artifact manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The image configuration.
    pub config: Descriptor,
    /// The layers, base first.
    #[serde(deserialize_with = "null_as_default")]
    pub layers: Vec<Descriptor>,
    /// The manifest this one refers to (signatures, attestations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Arbitrary metadata.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub annotations: BTreeMap<String, String>,
}

/// An image index (image-spec `image-index.md`), or a Docker manifest list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    /// Must be 2.
    pub schema_version: u32,
    /// The index's own media type; optional in OCI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The type of an artifact index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The manifests (or nested indexes) this index lists.
    #[serde(deserialize_with = "null_as_default")]
    pub manifests: Vec<Descriptor>,
    /// The manifest this one refers to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Arbitrary metadata.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub annotations: BTreeMap<String, String>,
}

/// An image configuration (image-spec `config.md`, or Docker's container image v1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfiguration {
    /// Creation time as RFC 3339 text, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Author of the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// CPU architecture the binaries target. Required by the specification; kit tolerates an
    /// empty value (some tools omit it) and then skips the platform check.
    #[serde(default)]
    pub architecture: String,
    /// Operating system. Required by the specification; tolerated when empty, like `architecture`.
    #[serde(default)]
    pub os: String,
    /// CPU variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Default parameters for containers run from the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ContainerConfig>,
    /// The layers' uncompressed digests.
    pub rootfs: RootFs,
    /// Build history.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
}

/// The `config` object of an image configuration: defaults for a container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    /// Default user, `user`, `uid`, `user:group` or `uid:gid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Ports to expose, as a set (`{"80/tcp": {}}`).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub exposed_ports: BTreeMap<String, serde_json::Value>,
    /// Environment, `NAME=value` entries.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// Entrypoint; `None` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// Default arguments; `None` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    /// Volumes, as a set (`{"/data": {}}`).
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub volumes: BTreeMap<String, serde_json::Value>,
    /// Working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// Labels, such as LinuxKit's `org.mobyproject.config`.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
    /// Signal that stops the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
}

/// The `rootfs` object of an image configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    /// Must be `layers`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The digest of each layer's uncompressed tar stream, base first.
    #[serde(deserialize_with = "null_as_default")]
    pub diff_ids: Vec<Digest>,
}

/// One entry of an image configuration's history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// Creation time as RFC 3339 text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The command that created the layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// True when the step created no layer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

/// A parsed JSON document together with the raw bytes it came from and their digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raw<T> {
    /// The digest of `bytes`.
    pub digest: Digest,
    /// The media type the document was fetched or listed as.
    pub media_type: String,
    /// The exact bytes; the digest is of these, never of a re-serialization.
    pub bytes: Arc<[u8]>,
    /// The parsed value.
    pub value: T,
}

/// A manifest of either kind, as found behind a tag or an index entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manifest {
    /// An image manifest.
    Image(Box<ImageManifest>),
    /// An index or manifest list.
    Index(Box<ImageIndex>),
}

impl<T> Raw<T> {
    /// The descriptor of this document (digest, size and media type).
    pub fn to_descriptor(&self) -> Descriptor {
        descriptor_of(&self.media_type, &self.digest, &self.bytes)
    }
}

fn descriptor_of(media_type: &str, digest: &Digest, bytes: &[u8]) -> Descriptor {
    Descriptor::new(media_type, digest.clone(), u64::try_from(bytes.len()).unwrap_or(u64::MAX))
}

impl Descriptor {
    /// A descriptor without urls, annotations, platform or artifact type.
    pub fn new(media_type: &str, digest: Digest, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.to_owned(),
            digest,
            size,
            urls: Vec::new(),
            annotations: BTreeMap::new(),
            platform: None,
            artifact_type: None,
        }
    }
}

/// Parses a JSON document of at most [`MAX_JSON_BYTES`] bytes; `what` names it in errors.
pub fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, Error> {
    check_json_size(bytes, what)?;
    serde_json::from_slice(bytes).map_err(|source| Error::Json { what: what.to_owned(), source })
}

fn check_json_size(bytes: &[u8], what: &str) -> Result<(), Error> {
    let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if size > MAX_JSON_BYTES {
        return Err(Error::TooLarge { what: what.to_owned(), size, limit: MAX_JSON_BYTES });
    }
    Ok(())
}

/// The fields that tell a manifest from an index when `mediaType` is absent.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    #[serde(default)]
    schema_version: Option<u32>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    config: Option<serde::de::IgnoredAny>,
}

/// Parses a manifest or an index from its raw bytes.
///
/// The kind comes from the document's `mediaType`, else from `listed_media_type` (the
/// descriptor's or the registry's `Content-Type`), else from its shape (`manifests` means an
/// index, `config` a manifest). When the document and the listing both name a kind and the kinds
/// differ, that is an error: the listing must not be able to turn a manifest into an index.
/// The digest is computed from `bytes`; callers compare it with what they expected.
pub fn parse_manifest(
    bytes: Arc<[u8]>,
    listed_media_type: Option<&str>,
    what: &str,
) -> Result<Raw<Manifest>, Error> {
    let probe: Probe = parse_json(&bytes, what)?;
    let schema_version = probe.schema_version.unwrap_or(0);
    if schema_version == 1
        || [media_type::DOCKER_MANIFEST_V1, media_type::DOCKER_MANIFEST_V1_SIGNED]
            .iter()
            .any(|v1| probe.media_type.as_deref() == Some(*v1) || listed_media_type == Some(*v1))
    {
        return Err(Error::SchemaVersion { what: what.to_owned(), found: schema_version });
    }
    if schema_version != 2 {
        return Err(Error::SchemaVersion { what: what.to_owned(), found: schema_version });
    }
    let known = |mt: &str| media_type::is_index(mt) || media_type::is_image_manifest(mt);
    let own = probe.media_type.as_deref().filter(|mt| known(mt));
    let listed = listed_media_type.filter(|mt| known(mt));
    if let (Some(own), Some(listed)) = (own, listed)
        && media_type::is_index(own) != media_type::is_index(listed)
    {
        return Err(Error::MediaType {
            what: what.to_owned(),
            expected: listed.to_owned(),
            found: own.to_owned(),
        });
    }
    let media_type = match (own, listed, &probe.media_type) {
        (Some(own), _, _) => own.to_owned(),
        (None, Some(listed), _) => listed.to_owned(),
        (None, None, Some(other)) => {
            return Err(Error::MediaType {
                what: what.to_owned(),
                expected: format!("an image manifest or index ({})", media_type::OCI_MANIFEST),
                found: other.clone(),
            });
        }
        (None, None, None) if probe.manifests.is_some() => media_type::OCI_INDEX.to_owned(),
        (None, None, None) if probe.config.is_some() => media_type::OCI_MANIFEST.to_owned(),
        (None, None, None) => {
            return Err(Error::MediaType {
                what: what.to_owned(),
                expected: "an image manifest or index".to_owned(),
                found: "a document with neither `config` nor `manifests`".to_owned(),
            });
        }
    };
    let value = if media_type::is_index(&media_type) {
        Manifest::Index(Box::new(parse_json(&bytes, what)?))
    } else {
        Manifest::Image(Box::new(parse_json(&bytes, what)?))
    };
    Ok(Raw { digest: Digest::sha256(&bytes), media_type, bytes, value })
}

/// Parses an image configuration from its raw bytes; `media_type` is what its descriptor says.
pub fn parse_config(
    bytes: Arc<[u8]>,
    media_type: &str,
    what: &str,
) -> Result<Raw<ImageConfiguration>, Error> {
    if !media_type::is_image_config(media_type) {
        return Err(Error::MediaType {
            what: what.to_owned(),
            expected: format!(
                "an image configuration ({} or {})",
                media_type::OCI_CONFIG,
                media_type::DOCKER_CONFIG
            ),
            found: media_type.to_owned(),
        });
    }
    let value: ImageConfiguration = parse_json(&bytes, what)?;
    if value.rootfs.kind != "layers" {
        return Err(Error::RootFsType { what: what.to_owned(), found: value.rootfs.kind });
    }
    Ok(Raw { digest: Digest::sha256(&bytes), media_type: media_type.to_owned(), bytes, value })
}

/// Deserializes `null` as the type's default (Go writes `null` for empty slices and maps).
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn manifest(json: &str, listed: Option<&str>) -> Result<Raw<Manifest>, Error> {
        parse_manifest(Arc::from(json.as_bytes()), listed, "test manifest")
    }

    #[test]
    fn docker_manifest_with_unknown_fields_parses() {
        let json = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","digest":"{D1}","size":0,"x-extra":1}},"layers":[{{"mediaType":"{}","digest":"{D1}","size":3,"urls":null}}],"futureField":{{}}}}"#,
            media_type::DOCKER_MANIFEST,
            media_type::DOCKER_CONFIG,
            media_type::DOCKER_LAYER_TAR_GZIP
        );
        let raw = manifest(&json, None).unwrap();
        assert_eq!(raw.media_type, media_type::DOCKER_MANIFEST);
        assert_eq!(raw.digest, Digest::sha256(json.as_bytes()));
        let Manifest::Image(m) = raw.value else { panic!("expected an image manifest") };
        assert_eq!(m.layers.len(), 1);
        assert_eq!(m.layers[0].size, 3);
    }

    #[test]
    fn kind_from_shape_when_media_type_is_absent() {
        let index = manifest(r#"{"schemaVersion":2,"manifests":[]}"#, None).unwrap();
        assert!(matches!(index.value, Manifest::Index(_)));
        assert_eq!(index.media_type, media_type::OCI_INDEX);
        let image = manifest(
            &format!(
                r#"{{"schemaVersion":2,"config":{{"mediaType":"{}","digest":"{D1}","size":2}},"layers":[]}}"#,
                media_type::OCI_CONFIG
            ),
            Some(media_type::OCI_MANIFEST),
        )
        .unwrap();
        assert!(matches!(image.value, Manifest::Image(_)));
    }

    #[test]
    fn rejects_schema1_missing_fields_and_kind_confusion() {
        let err = manifest(r#"{"schemaVersion":1,"name":"x","fsLayers":[]}"#, None).unwrap_err();
        assert!(err.to_string().contains("schemaVersion 1"), "{err}");
        let err = manifest(r#"{"schemaVersion":2,"layers":[]}"#, Some(media_type::OCI_MANIFEST))
            .unwrap_err();
        assert!(err.to_string().contains("missing field `config`"), "{err}");
        let json = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[]}}"#,
            media_type::OCI_INDEX
        );
        let err = manifest(&json, Some(media_type::OCI_MANIFEST)).unwrap_err();
        assert!(err.to_string().contains("unexpected media type"), "{err}");
        let bad_digest = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"{}","digest":"sha256:00","size":2}},"layers":[]}}"#,
            media_type::OCI_CONFIG
        );
        assert!(manifest(&bad_digest, None).is_err());
    }

    #[test]
    fn rejects_oversized_documents() {
        let big = vec![b' '; usize::try_from(MAX_JSON_BYTES).unwrap() + 1];
        let err = parse_manifest(Arc::from(big), None, "big").unwrap_err();
        assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    }

    #[test]
    fn docker_config_with_nulls_parses() {
        let json = format!(
            r#"{{"architecture":"amd64","os":"linux","config":{{"Env":null,"Cmd":["/bin/sh"],"Entrypoint":null,"Labels":null,"WorkingDir":""}},"rootfs":{{"type":"layers","diff_ids":["{D1}"]}},"history":[{{"created_by":"x","empty_layer":true}}]}}"#
        );
        let raw =
            parse_config(Arc::from(json.as_bytes()), media_type::DOCKER_CONFIG, "cfg").unwrap();
        let config = raw.value.config.unwrap();
        assert!(config.env.is_empty());
        assert_eq!(config.cmd, Some(vec!["/bin/sh".to_owned()]));
        assert_eq!(config.entrypoint, None);
        assert_eq!(raw.value.rootfs.diff_ids.len(), 1);
        assert!(raw.value.history[0].empty_layer);

        let no_rootfs = r#"{"architecture":"amd64","os":"linux"}"#;
        let err = parse_config(Arc::from(no_rootfs.as_bytes()), media_type::OCI_CONFIG, "cfg")
            .unwrap_err();
        assert!(err.to_string().contains("missing field `rootfs`"), "{err}");
        let err = parse_config(Arc::from(json.as_bytes()), "application/vnd.cncf.helm.config", "c")
            .unwrap_err();
        assert!(err.to_string().contains("helm"), "{err}");
    }

    #[test]
    fn descriptor_platform_round_trips_dotted_keys() {
        let json = format!(
            r#"{{"mediaType":"{}","digest":"{D1}","size":1,"platform":{{"architecture":"arm64","os":"linux","variant":"v8","os.features":["a"]}}}}"#,
            media_type::OCI_MANIFEST
        );
        let d: Descriptor = serde_json::from_str(&json).unwrap();
        let platform = d.platform.as_ref().unwrap();
        assert_eq!(platform.variant.as_deref(), Some("v8"));
        assert_eq!(platform.os_features, ["a"]);
        let back = serde_json::to_string(&d).unwrap();
        assert!(back.contains(r#""os.features":["a"]"#), "{back}");
    }
}

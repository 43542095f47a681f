//! Media types of the OCI image specification and of Docker's image manifest v2, schema 2.
//!
//! Sources: OCI image-spec `media-types.md` (v1.1) and Docker's `manifest-v2-2.md`.

/// The `oci-layout` file's media type (not sent over the wire, listed for completeness).
pub const OCI_LAYOUT_HEADER: &str = "application/vnd.oci.layout.header.v1+json";
/// An OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// An OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// An OCI image configuration.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// The OCI empty descriptor's content, `{}`.
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// An uncompressed OCI layer.
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// A gzip-compressed OCI layer.
pub const OCI_LAYER_TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// A zstd-compressed OCI layer.
pub const OCI_LAYER_TAR_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// An uncompressed non-distributable OCI layer (deprecated in image-spec 1.1).
pub const OCI_LAYER_NONDISTRIBUTABLE_TAR: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar";
/// A gzip-compressed non-distributable OCI layer (deprecated in image-spec 1.1).
pub const OCI_LAYER_NONDISTRIBUTABLE_TAR_GZIP: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
/// A zstd-compressed non-distributable OCI layer (deprecated in image-spec 1.1).
pub const OCI_LAYER_NONDISTRIBUTABLE_TAR_ZSTD: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";

/// A Docker image manifest, version 2 schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// A Docker manifest list (Docker's name for an index).
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// A Docker image configuration.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// A gzip-compressed Docker layer.
pub const DOCKER_LAYER_TAR_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// An uncompressed Docker layer (used in manifests kit synthesizes for `docker save` archives).
pub const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";
/// A gzip-compressed foreign Docker layer (Windows base layers, fetched from `urls`).
pub const DOCKER_FOREIGN_LAYER_TAR_GZIP: &str =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
/// A Docker schema 1 manifest, which kit does not support.
pub const DOCKER_MANIFEST_V1: &str = "application/vnd.docker.distribution.manifest.v1+json";
/// A signed Docker schema 1 manifest, which kit does not support.
pub const DOCKER_MANIFEST_V1_SIGNED: &str =
    "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// True for the media types of an image manifest (OCI or Docker).
pub fn is_image_manifest(media_type: &str) -> bool {
    media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST
}

/// True for the media types of an index (OCI index or Docker manifest list).
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}

/// True for the media types of an image configuration (OCI or Docker).
pub fn is_image_config(media_type: &str) -> bool {
    media_type == OCI_CONFIG || media_type == DOCKER_CONFIG
}

/// True for the layer media types kit knows how to unpack.
pub fn is_known_layer(media_type: &str) -> bool {
    [
        OCI_LAYER_TAR,
        OCI_LAYER_TAR_GZIP,
        OCI_LAYER_TAR_ZSTD,
        OCI_LAYER_NONDISTRIBUTABLE_TAR,
        OCI_LAYER_NONDISTRIBUTABLE_TAR_GZIP,
        OCI_LAYER_NONDISTRIBUTABLE_TAR_ZSTD,
        DOCKER_LAYER_TAR_GZIP,
        DOCKER_LAYER_TAR,
        DOCKER_FOREIGN_LAYER_TAR_GZIP,
    ]
    .contains(&media_type)
}

//! LinuxKit assembly: the root layout, bundles, config.json and runtime.json generation, the files section.
//!
//! * [`spec`] mirrors LinuxKit's `ConfigToOCI` and writes `config.json`/`runtime.json` bytes
//!   exactly as LinuxKit's Go encoder does ([`gojson`]).
//! * Assembly reads the configuration model ([`crate::config`]) directly; [`from_config`] turns
//!   its nested values into the runtime-spec types with Go's zero values.
//! * [`assemble`] builds the whole root tree: kernel ([`kernel`]), init images, volumes
//!   (`format: oci` ones laid out by [`oci_volume`]),
//!   bundles (with the image rewrite rules of [`rewrite`]) and the files section ([`files`]).
//!
//! Reference: reference/linuxkit.md §1.5–§2.8 and §10 (LinuxKit's `moby/config.go`,
//! `moby/build/build.go`, `moby/build/image.go`).

pub mod assemble;
pub mod files;
pub mod from_config;
pub mod gojson;
pub mod kernel;
pub mod oci_volume;
pub mod place;
pub mod rewrite;
pub mod spec;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod testutil;

pub use assemble::{
    AssembleOptions, Assembled, CONFIG_LABEL, ImageMap, Images, ResolvedImage, assemble,
};

/// Host inputs of the `files` section, implemented by the CLI so the library never reads the
/// host filesystem itself.
pub trait HostFiles {
    /// Reads the host file a `source:` names, resolved as LinuxKit does (`~/` is the home
    /// directory, relative paths are relative to the working directory). `Ok(None)` when it
    /// does not exist (LinuxKit's failed `stat`), so `optional: true` can skip it.
    fn read_source(&self, source: &str) -> std::io::Result<Option<Vec<u8>>>;
    /// The `metadata: yaml|json` rendering of the final configuration.
    fn metadata(&self, format: &str) -> Result<Vec<u8>, String>;
}

/// Errors of LinuxKit assembly. Each names the value, path or image it concerns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A capability name is not in the known list.
    #[error(
        "unknown capability {capability:?}: expected CAP_* from the known list, `all` or `none`"
    )]
    UnknownCapability {
        /// The name as written.
        capability: String,
    },
    /// A `tmpfs` entry has more than one `:`.
    #[error("cannot parse tmpfs {entry:?}: expected dst[:opt,opt], found too many ':'")]
    TmpfsSyntax {
        /// The entry as written.
        entry: String,
    },
    /// A `binds` entry does not have two or three `:`-separated parts.
    #[error("cannot parse bind {entry:?}: expected src:dst[:opts]")]
    BindSyntax {
        /// The entry as written.
        entry: String,
    },
    /// A mount has no type and none can be inferred.
    #[error("mount for destination {destination:?} is missing type")]
    MountMissingType {
        /// The mount's destination.
        destination: String,
    },
    /// A mount has no destination and its type has no default mount point.
    #[error("mount of type {mount_type:?} is missing destination")]
    MountMissingDestination {
        /// The mount's type.
        mount_type: String,
    },
    /// An rlimit entry is not `name,soft,hard`.
    #[error("cannot parse rlimit {entry:?}: expected name,soft,hard")]
    RlimitSyntax {
        /// The entry as written.
        entry: String,
    },
    /// An rlimit name is not one of the 16 known ones.
    #[error("unknown rlimit {name} in {entry:?}")]
    UnknownRlimit {
        /// The entry as written.
        entry: String,
        /// The normalized name.
        name: String,
    },
    /// An rlimit value is neither a number nor `unlimited`.
    #[error(
        "cannot parse rlimit value {value:?} in {entry:?}: expected an unsigned number or `unlimited`"
    )]
    RlimitValue {
        /// The entry as written.
        entry: String,
        /// The offending value.
        value: String,
    },
    /// A uid or gid name is neither `root` nor a container name.
    #[error("cannot find id {id:?}: expected a number, `root` or a container name")]
    UnknownId {
        /// The name as written.
        id: String,
    },
    /// A device mode is missing or not an octal number.
    #[error(
        "cannot parse mode {mode:?} of device {path}: expected an octal string such as \"0666\""
    )]
    DeviceMode {
        /// The device path.
        path: String,
        /// The mode as written.
        mode: String,
    },
    /// A bind or mount names a volume that is not configured.
    #[error("volume {volume:?} not found: binds and mounts with a relative source name a volume")]
    VolumeNotFound {
        /// The volume name.
        volume: String,
    },
    /// A read-only volume is bound without `ro`.
    #[error("volume {volume:?} is read-only, but is bound read-write: add the `ro` option")]
    ReadOnlyVolumeWritable {
        /// The volume name.
        volume: String,
    },
    /// The caller did not provide an image the configuration names.
    #[error("{location}: image {reference} was not provided to assembly")]
    ImageNotProvided {
        /// The reference as written.
        reference: String,
        /// Where it is named, such as `init[0]`.
        location: String,
    },
    /// The kernel image has no kernel file.
    #[error("did not find kernel {binary:?} in kernel image {image}")]
    KernelNotFound {
        /// The kernel image.
        image: String,
        /// The `binary` name looked for.
        binary: String,
    },
    /// The kernel image has no modules tar although one is expected.
    #[error(
        "did not find kernel tar {tar:?} in kernel image {image} (set `tar: none` if it has none)"
    )]
    KernelTarNotFound {
        /// The kernel image.
        image: String,
        /// The `tar` name looked for.
        tar: String,
    },
    /// The kernel's modules tar cannot be read.
    #[error("kernel tar {tar:?} of kernel image {image}: {problem}")]
    KernelTar {
        /// The kernel image.
        image: String,
        /// The `tar` name.
        tar: String,
        /// What is wrong.
        problem: String,
    },
    /// A file's content cannot be read from its image.
    #[error("cannot read {path} of image {image}")]
    ReadContent {
        /// The image.
        image: String,
        /// The path in the image.
        path: String,
        /// The read error.
        #[source]
        error: std::io::Error,
    },
    /// An image's `org.mobyproject.config` label is invalid.
    #[error("invalid org.mobyproject.config label of image {image}: {message}")]
    Label {
        /// The image.
        image: String,
        /// The label parser's messages.
        message: String,
    },
    /// A `format: oci` volume's `platforms` entry is malformed or matches nothing.
    #[error("volume {volume:?}: platform {platform:?}: {problem}")]
    VolumePlatform {
        /// The volume name.
        volume: String,
        /// The entry as written.
        platform: String,
        /// What is wrong, stating expected and found.
        problem: String,
    },
    /// A `format: oci` volume's image documents could not be read.
    #[error("volume {volume:?}: image {image}")]
    VolumeOciImage {
        /// The volume name.
        volume: String,
        /// The image reference.
        image: String,
        /// What went wrong.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The caller did not provide the layout of a `format: oci` volume.
    #[error("volume {volume:?}: the OCI layout of image {image} was not provided to assembly")]
    VolumeOciNotProvided {
        /// The volume name.
        volume: String,
        /// The image reference.
        image: String,
    },
    /// A `files` entry has no path.
    #[error("did not specify path for file")]
    FilePathMissing,
    /// A `files` entry's mode is not an octal string.
    #[error("cannot parse file mode {mode:?}: expected an octal string such as \"0644\"")]
    FileMode {
        /// The mode as written.
        mode: String,
    },
    /// A regular `files` entry has no content kind.
    #[error(
        "contents of file not specified: expected contents, source, metadata, symlink or directory"
    )]
    FileContentsMissing,
    /// A `files` entry combines exclusive content kinds.
    #[error("specified both {kinds}")]
    FileKindConflict {
        /// The kinds, such as `contents and source`.
        kinds: &'static str,
    },
    /// A non-optional `source` does not exist.
    #[error("source {source_path:?} does not exist (set `optional: true` to skip it)")]
    FileSourceMissing {
        /// The source as written.
        source_path: String,
    },
    /// A `source` cannot be read.
    #[error("cannot read source {source_path:?}")]
    FileSourceRead {
        /// The source as written.
        source_path: String,
        /// The read error.
        #[source]
        error: std::io::Error,
    },
    /// The `metadata` rendering failed.
    #[error("cannot render metadata {format:?}: {message}")]
    Metadata {
        /// `yaml` or `json`.
        format: String,
        /// The renderer's message.
        message: String,
    },
    /// An error in one `files` entry.
    #[error("{location} ({path})")]
    InFile {
        /// Such as `files[2]`.
        location: String,
        /// The entry's path as written.
        path: String,
        /// What went wrong.
        source: Box<Error>,
    },
    /// JSON serialization failed.
    #[error("cannot serialize JSON")]
    Json {
        /// The serializer's error.
        source: serde_json::Error,
    },
    /// An error while processing one image object of the configuration.
    #[error("{location} ({name}, image {image})")]
    InImage {
        /// Where the image object is, such as `services[0]`.
        location: String,
        /// The image object's name.
        name: String,
        /// The image reference.
        image: String,
        /// What went wrong.
        source: Box<Error>,
    },
}

//! LinuxKit assembly: the root layout, bundles, config.json and runtime.json generation, the files section.
//!
//! * [`spec`] mirrors LinuxKit's `ConfigToOCI` and writes `config.json`/`runtime.json` bytes
//!   exactly as LinuxKit's Go encoder does ([`gojson`]).
//! * [`input`] holds the per-image configuration types the generator reads.
//!
//! Reference: reference/linuxkit.md §1.5–§2.8 and §10 (LinuxKit's `moby/config.go`,
//! `moby/build/build.go`, `moby/build/image.go`).

pub mod gojson;
pub mod input;
pub mod spec;

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
    /// A numeric uid or gid does not fit in 32 bits.
    #[error("id {id} out of range: expected 0 to 4294967295")]
    IdOutOfRange {
        /// The number as written.
        id: i64,
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

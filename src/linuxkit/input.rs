//! The per-image configuration as the spec generator reads it.
//!
//! These types mirror LinuxKit's `ImageConfig` (`src/cmd/linuxkit/moby/config.go`): every field is
//! an `Option` so that presence is known, because LinuxKit's precedence rules ("YAML replaces the
//! label, even with an empty list") depend on it.
//! They are the seam between the configuration model (`crate::config`) and assembly: the
//! configuration side converts into them, so this module does not depend on how YAML is parsed.

use std::collections::BTreeMap;

use crate::linuxkit::spec::{IdMapping, Mount, Resources};

/// The subset of an image object that is valid in YAML and in the `org.mobyproject.config` label.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageConfig {
    /// `capabilities`: replaces the label's list (and `capabilities.add`) when set in YAML.
    pub capabilities: Option<Vec<String>>,
    /// `capabilities.add`: appended to the label's `capabilities`.
    pub capabilities_add: Option<Vec<String>>,
    /// `ambient`: ambient capabilities.
    pub ambient: Option<Vec<String>>,
    /// `mounts`: OCI mounts; missing type, source and destination are inferred.
    pub mounts: Option<Vec<Mount>>,
    /// `binds`: `src:dst[:opts]`, replaces the label's binds and `binds.add` when set in YAML.
    pub binds: Option<Vec<String>>,
    /// `binds.add`: appended to the label's `binds`.
    pub binds_add: Option<Vec<String>>,
    /// `devices`: device nodes and cgroup allow rules.
    pub devices: Option<Vec<Device>>,
    /// `tmpfs`: `dst[:opt,opt]`.
    pub tmpfs: Option<Vec<String>>,
    /// `command`: the process arguments.
    pub command: Option<Vec<String>>,
    /// `env`: the process environment.
    pub env: Option<Vec<String>>,
    /// `cwd`: the working directory (an empty string counts as unset).
    pub cwd: Option<String>,
    /// `net`: `host`/`root`, `none`/`new`, or a namespace path.
    pub net: Option<String>,
    /// `pid`: `host`/`root`, `new`, or a namespace path (default: a new namespace).
    pub pid: Option<String>,
    /// `ipc`: `host`/`root`, `new`, or a namespace path.
    pub ipc: Option<String>,
    /// `uts`: `host`/`root`, `new`, or a namespace path.
    pub uts: Option<String>,
    /// `userns`: `host`/`root`, `new`, or a namespace path.
    pub userns: Option<String>,
    /// `hostname`.
    pub hostname: Option<String>,
    /// `readonly`: read-only root; also changes the bundle layout.
    pub readonly: Option<bool>,
    /// `maskedPaths`.
    pub masked_paths: Option<Vec<String>>,
    /// `readonlyPaths`.
    pub readonly_paths: Option<Vec<String>>,
    /// `uid`: a number or a container name.
    pub uid: Option<Id>,
    /// `gid`: a number or a container name.
    pub gid: Option<Id>,
    /// `additionalGids`.
    pub additional_gids: Option<Vec<Id>>,
    /// `noNewPrivileges`.
    pub no_new_privileges: Option<bool>,
    /// `oomScoreAdj`.
    pub oom_score_adj: Option<i64>,
    /// `rootfsPropagation`.
    pub rootfs_propagation: Option<String>,
    /// `cgroupsPath`.
    pub cgroups_path: Option<String>,
    /// `resources`: OCI Linux resources (camelCase keys honoured).
    pub resources: Option<Resources>,
    /// `sysctl`.
    pub sysctl: Option<BTreeMap<String, String>>,
    /// `rlimits`: `name,soft,hard`.
    pub rlimits: Option<Vec<String>>,
    /// `uidMappings`.
    pub uid_mappings: Option<Vec<IdMapping>>,
    /// `gidMappings`.
    pub gid_mappings: Option<Vec<IdMapping>>,
    /// `annotations`.
    pub annotations: Option<BTreeMap<String, String>>,
    /// `runtime`: written to `runtime.json`, not `config.json`.
    pub runtime: Option<Runtime>,
}

/// A user or group id: a number, or a name resolved through the container id map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Id {
    /// A numeric id, as written.
    Number(i64),
    /// A name: `root` or `""` mean 0, any other name must be a container name.
    Name(String),
}

/// A `devices` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Device {
    /// Device path in the container, or `all` for a cgroup rule covering every device of `type`.
    pub path: String,
    /// `c`, `b`, `u` or `p` (passed through).
    pub dev_type: String,
    /// Major number.
    pub major: i64,
    /// Minor number.
    pub minor: i64,
    /// Octal file mode as a string; required unless `path` is `all`.
    pub mode: Option<String>,
}

/// The `runtime` object, processed by LinuxKit's init at boot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Runtime {
    /// `cgroups` to create.
    pub cgroups: Option<Vec<String>>,
    /// `mounts` made in the root namespace before the container starts.
    pub mounts: Option<Vec<Mount>>,
    /// `mkdir`: directories to create.
    pub mkdir: Option<Vec<String>>,
    /// `interfaces` to create or move into the container.
    pub interfaces: Option<Vec<Interface>>,
    /// `bindNS`: where to bind-mount the new namespaces.
    pub bind_ns: BindNs,
    /// `namespace`: the containerd namespace of a service.
    pub namespace: Option<String>,
}

/// `runtime.bindNS`: each field set independently.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BindNs {
    /// `cgroup`.
    pub cgroup: Option<String>,
    /// `ipc`.
    pub ipc: Option<String>,
    /// `mnt`.
    pub mnt: Option<String>,
    /// `net`.
    pub net: Option<String>,
    /// `pid`.
    pub pid: Option<String>,
    /// `user`.
    pub user: Option<String>,
    /// `uts`.
    pub uts: Option<String>,
}

/// A `runtime.interfaces` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Interface {
    /// Interface name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Link type to create (`veth`, ...).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub add: String,
    /// Peer name for `veth`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub peer: String,
    /// Create in the root namespace, then move.
    #[serde(rename = "createInRoot")]
    pub create_in_root: bool,
}

/// The parts of an OCI image configuration (`config` object) that LinuxKit reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageDefaults {
    /// `Env`.
    pub env: Option<Vec<String>>,
    /// `Entrypoint`.
    pub entrypoint: Option<Vec<String>>,
    /// `Cmd`.
    pub cmd: Option<Vec<String>>,
    /// `WorkingDir`.
    pub working_dir: Option<String>,
    /// `Labels`, including `org.mobyproject.config`.
    pub labels: BTreeMap<String, String>,
}

/// The configuration as assembly reads it (LinuxKit's `Moby` after multi-file merge).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assembly {
    /// `kernel`; `None` (or no `image`) means no `boot/` files.
    pub kernel: Option<Kernel>,
    /// `init` image references, unpacked at `/` in order.
    pub init: Vec<String>,
    /// `onboot` image objects.
    pub onboot: Vec<ImageObject>,
    /// `onshutdown` image objects.
    pub onshutdown: Vec<ImageObject>,
    /// `services` image objects.
    pub services: Vec<ImageObject>,
    /// `files` entries.
    pub files: Vec<FileEntry>,
    /// `volumes` entries.
    pub volumes: Vec<VolumeEntry>,
}

/// The `kernel` section.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Kernel {
    /// `image`: the kernel image reference; `None` means no kernel.
    pub image: Option<String>,
    /// `cmdline`, written verbatim to `boot/cmdline`.
    pub cmdline: String,
    /// `binary`: the kernel file in the image root; `None` or `""` mean `kernel`.
    pub binary: Option<String>,
    /// `tar`: the modules tar in the image root; `None` means `kernel.tar`, `none` or `""` none.
    pub tar: Option<String>,
    /// `ucode`: a microcode cpio in the image root, copied to `boot/ucode.cpio`.
    pub ucode: Option<String>,
}

/// One `onboot`, `onshutdown` or `services` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageObject {
    /// `name`: the bundle directory name.
    pub name: String,
    /// `image`: the reference as written.
    pub image: String,
    /// Every other key.
    pub config: ImageConfig,
}

/// One `files` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileEntry {
    /// `path`; a leading `/` is stripped.
    pub path: String,
    /// `directory: true`.
    pub directory: bool,
    /// `symlink` target (`""` means none).
    pub symlink: Option<String>,
    /// `contents`.
    pub contents: Option<String>,
    /// `source`: a host path, read through [`crate::linuxkit::assemble::HostFiles`].
    pub source: Option<String>,
    /// `metadata`: `yaml` or `json`.
    pub metadata: Option<String>,
    /// `optional`: skip a `source` that does not exist.
    pub optional: bool,
    /// `mode`: an octal string; defaults 0600 (files) and 0700 (directories).
    pub mode: Option<String>,
    /// `uid`.
    pub uid: Option<Id>,
    /// `gid`.
    pub gid: Option<Id>,
}

/// One `volumes` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeEntry {
    /// `name`.
    pub name: String,
    /// `image`: `None` for a blank volume.
    pub image: Option<String>,
    /// `readonly`.
    pub readonly: bool,
    /// `format: oci` (an OCI image layout in `lower/`) instead of a filesystem.
    pub oci_format: bool,
    /// `platforms` (only for `format: oci`).
    pub platforms: Vec<String>,
}

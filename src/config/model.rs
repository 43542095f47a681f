//! The typed LinuxKit configuration: every key of LinuxKit's schema (`moby/schema.go`).
//!
//! Presence matters. Every per-image field is an `Option`: `None` means the key was absent,
//! `Some(vec![])` means it was present and empty. LinuxKit's precedence rule (YAML value >
//! `org.mobyproject.config` label > image config) treats a present empty list as a value, so
//! the distinction must survive parsing. Nested objects (mounts, resources, runtime) keep
//! presence per field too, so the normalized output shows exactly what was written.
//!
//! Keys are spelled as in LinuxKit's schema; the Rust field docs name the YAML key.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::reference::Reference;

/// Where an entry starts in a configuration file (1-based line and column).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// The file name as the user gave it.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// An image reference as written in the configuration, with its parsed form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// The string exactly as written (`alpine:3.20`).
    pub written: String,
    /// The parsed, expanded reference (`docker.io/library/alpine:3.20`).
    pub reference: Reference,
}

impl fmt::Display for ImageRef {
    /// The reference as written.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.written)
    }
}

/// A merged LinuxKit configuration (one or more files).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// `kernel`.
    pub kernel: Option<Kernel>,
    /// `init`: images unpacked at `/`, in order.
    pub init: Vec<InitImage>,
    /// `onboot`: containers run in order before services; names may repeat.
    pub onboot: Vec<Image>,
    /// `onshutdown`: containers run at shutdown; names may repeat.
    pub onshutdown: Vec<Image>,
    /// `services`: long-running containers; names are unique.
    pub services: Vec<Image>,
    /// `trust`: accepted and kept; it will map onto the signature policy.
    pub trust: Option<Trust>,
    /// `files`: added last, in order.
    pub files: Vec<File>,
    /// `volumes`.
    pub volumes: Vec<Volume>,
}

/// The `kernel` section. `tar` and `ucode` are tri-state: absent, present empty, present.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Kernel {
    /// `image`. An empty string means no kernel image, as in LinuxKit, and is stored as `None`.
    pub image: Option<ImageRef>,
    /// `cmdline`, written verbatim to `boot/cmdline`.
    pub cmdline: Option<String>,
    /// `binary`: the kernel file name in the image (default `kernel`).
    pub binary: Option<String>,
    /// `tar`: the modules tar in the image (default `kernel.tar`; `none` or empty: no tar).
    pub tar: Option<String>,
    /// `ucode`: a microcode cpio in the image (empty: none).
    pub ucode: Option<String>,
    /// Where the `kernel` mapping starts.
    pub location: Location,
}

/// One entry of `init`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitImage {
    /// The image.
    pub image: ImageRef,
    /// Where the entry is written.
    pub location: Location,
}

/// One entry of `onboot`, `onshutdown` or `services`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// `name`: the bundle directory and container id.
    pub name: String,
    /// `image`.
    pub image: ImageRef,
    /// Every other key: the same set the `org.mobyproject.config` label may carry.
    pub config: ImageConfig,
    /// Where the entry's mapping starts.
    pub location: Location,
}

/// The per-image settings (the keys allowed in the `org.mobyproject.config` label).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageConfig {
    /// `capabilities`: `CAP_*` names, or a single `all` or `none`.
    pub capabilities: Option<Vec<String>>,
    /// `capabilities.add`: appended to the label's capabilities.
    pub capabilities_add: Option<Vec<String>>,
    /// `ambient`.
    pub ambient: Option<Vec<String>>,
    /// `mounts`.
    pub mounts: Option<Vec<Mount>>,
    /// `binds`: `src:dst[:opts]`.
    pub binds: Option<Vec<String>>,
    /// `binds.add`: appended to the label's binds.
    pub binds_add: Option<Vec<String>>,
    /// `devices`.
    pub devices: Option<Vec<Device>>,
    /// `tmpfs`: `dst[:opts]`.
    pub tmpfs: Option<Vec<String>>,
    /// `command`.
    pub command: Option<Vec<String>>,
    /// `env`.
    pub env: Option<Vec<String>>,
    /// `cwd`.
    pub cwd: Option<String>,
    /// `net`: `host`, `none`, `new` or a namespace path.
    pub net: Option<String>,
    /// `pid`.
    pub pid: Option<String>,
    /// `ipc`.
    pub ipc: Option<String>,
    /// `uts`.
    pub uts: Option<String>,
    /// `userns`.
    pub userns: Option<String>,
    /// `readonly`.
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
    /// `hostname`.
    pub hostname: Option<String>,
    /// `oomScoreAdj`.
    pub oom_score_adj: Option<i64>,
    /// `rootfsPropagation`.
    pub rootfs_propagation: Option<String>,
    /// `cgroupsPath`.
    pub cgroups_path: Option<String>,
    /// `resources`.
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
    /// `runtime`: processed by init at boot, written to `runtime.json`.
    pub runtime: Option<Runtime>,
}

/// A user or group id: a number, or a name resolved through the container id map
/// (`""` and `root` mean 0).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Id {
    /// A numeric id.
    Number(u32),
    /// A container name (or `root`, or the empty string).
    Name(String),
}

/// An entry of `mounts` (OCI mount, plus LinuxKit's defaults for missing fields).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mount {
    /// `destination`.
    pub destination: Option<String>,
    /// `type`.
    pub mount_type: Option<String>,
    /// `source`.
    pub source: Option<String>,
    /// `options`.
    pub options: Option<Vec<String>>,
    /// `uidmappings` (also accepted as `uidMappings`).
    pub uid_mappings: Option<Vec<IdMapping>>,
    /// `gidmappings` (also accepted as `gidMappings`).
    pub gid_mappings: Option<Vec<IdMapping>>,
}

/// A user-namespace id mapping. Keys `hostID`/`containerID` (also `hostid`/`containerid`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdMapping {
    /// `containerID`.
    pub container_id: Option<u32>,
    /// `hostID`.
    pub host_id: Option<u32>,
    /// `size`.
    pub size: Option<u32>,
}

/// An entry of `devices`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Device {
    /// `path`; `all` adds only a cgroup rule for `type`.
    pub path: Option<String>,
    /// `type`: `c`, `b`, ...
    pub device_type: Option<String>,
    /// `major`.
    pub major: Option<i64>,
    /// `minor`.
    pub minor: Option<i64>,
    /// `mode`: an octal string, required unless `path` is `all`.
    pub mode: Option<String>,
}

/// `resources`: the OCI `LinuxResources` subset LinuxKit's schema allows.
///
/// Keys are accepted in the schema spelling (`blockio`, `hugepageLimits`, `kernelTCP`, ...),
/// the OCI spelling (`blockIO`) and the lower-case spelling LinuxKit's decoder reads
/// (`hugepagelimits`, `kerneltcp`, ...); all of them are honoured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    /// `devices`: cgroup device rules.
    pub devices: Option<Vec<DeviceCgroup>>,
    /// `memory`.
    pub memory: Option<Memory>,
    /// `cpu`.
    pub cpu: Option<Cpu>,
    /// `pids`.
    pub pids: Option<Pids>,
    /// `blockio`.
    pub block_io: Option<BlockIo>,
    /// `hugepageLimits`.
    pub hugepage_limits: Option<Vec<HugepageLimit>>,
    /// `network`.
    pub network: Option<Network>,
}

/// A cgroup device rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceCgroup {
    /// `allow`.
    pub allow: Option<bool>,
    /// `type`: `a`, `b` or `c`.
    pub device_type: Option<String>,
    /// `major`.
    pub major: Option<i64>,
    /// `minor`.
    pub minor: Option<i64>,
    /// `access`: a subset of `rwm`.
    pub access: Option<String>,
}

/// `resources.memory`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Memory {
    /// `limit`.
    pub limit: Option<i64>,
    /// `reservation`.
    pub reservation: Option<i64>,
    /// `swap`.
    pub swap: Option<i64>,
    /// `kernel`.
    pub kernel: Option<i64>,
    /// `kernelTCP`.
    pub kernel_tcp: Option<i64>,
    /// `swappiness`.
    pub swappiness: Option<u64>,
    /// `disableOOMKiller`.
    pub disable_oom_killer: Option<bool>,
}

/// `resources.cpu`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cpu {
    /// `shares`.
    pub shares: Option<u64>,
    /// `quota`.
    pub quota: Option<i64>,
    /// `period`.
    pub period: Option<u64>,
    /// `realtimeRuntime`.
    pub realtime_runtime: Option<i64>,
    /// `realtimePeriod`.
    pub realtime_period: Option<u64>,
    /// `cpus`.
    pub cpus: Option<String>,
    /// `mems`.
    pub mems: Option<String>,
}

/// `resources.pids`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pids {
    /// `limit`.
    pub limit: Option<i64>,
}

/// `resources.blockio`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockIo {
    /// `weight`.
    pub weight: Option<u16>,
    /// `leafWeight`.
    pub leaf_weight: Option<u16>,
    /// `weightDevice`.
    pub weight_device: Option<Vec<WeightDevice>>,
    /// `throttleReadBpsDevice`.
    pub throttle_read_bps_device: Option<Vec<ThrottleDevice>>,
    /// `throttleWriteBpsDevice`.
    pub throttle_write_bps_device: Option<Vec<ThrottleDevice>>,
    /// `throttleReadIOPSDevice`.
    pub throttle_read_iops_device: Option<Vec<ThrottleDevice>>,
    /// `throttleWriteIOPSDevice`.
    pub throttle_write_iops_device: Option<Vec<ThrottleDevice>>,
}

/// An entry of `blockio.weightDevice`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WeightDevice {
    /// `major`.
    pub major: Option<i64>,
    /// `minor`.
    pub minor: Option<i64>,
    /// `weight`.
    pub weight: Option<u16>,
    /// `leafWeight`.
    pub leaf_weight: Option<u16>,
}

/// An entry of the `blockio.throttle*Device` lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThrottleDevice {
    /// `major`.
    pub major: Option<i64>,
    /// `minor`.
    pub minor: Option<i64>,
    /// `rate`.
    pub rate: Option<u64>,
}

/// An entry of `hugepageLimits`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HugepageLimit {
    /// `pageSize`: OCI spells it as a string such as `2MB`; LinuxKit's schema says integer,
    /// so both are accepted and kept as text.
    pub page_size: Option<String>,
    /// `limit`.
    pub limit: Option<u64>,
}

/// `resources.network`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Network {
    /// `classID`.
    pub class_id: Option<u32>,
    /// `priorities`.
    pub priorities: Option<Vec<InterfacePriority>>,
}

/// An entry of `network.priorities`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterfacePriority {
    /// `name`.
    pub name: Option<String>,
    /// `priority`.
    pub priority: Option<u32>,
}

/// `runtime`: LinuxKit-specific settings applied by init, not by runc.
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
    /// `bindNS`: where to bind-mount the container's namespaces.
    pub bind_ns: Option<BindNamespaces>,
    /// `namespace`: the containerd namespace of a service.
    pub namespace: Option<String>,
}

/// An entry of `runtime.interfaces`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Interface {
    /// `name`.
    pub name: Option<String>,
    /// `add`: a link type such as `veth`.
    pub add: Option<String>,
    /// `peer`.
    pub peer: Option<String>,
    /// `createInRoot`.
    pub create_in_root: Option<bool>,
}

/// `runtime.bindNS`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BindNamespaces {
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

/// The `trust` section (historical in LinuxKit; kit maps it onto the signature policy).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trust {
    /// `image`.
    pub image: Option<Vec<String>>,
    /// `org`.
    pub org: Option<Vec<String>>,
}

/// An entry of `files`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct File {
    /// `path` (a leading `/` is allowed and stripped by the builder).
    pub path: String,
    /// `directory`.
    pub directory: Option<bool>,
    /// `symlink`: the link target.
    pub symlink: Option<String>,
    /// `contents`.
    pub contents: Option<String>,
    /// `source`: a host path, kept as written (see [`File::resolve_source`]).
    pub source: Option<String>,
    /// `metadata`: `yaml` or `json`.
    pub metadata: Option<String>,
    /// `optional`: skip the entry when `source` cannot be read.
    pub optional: Option<bool>,
    /// `mode`: an octal string.
    pub mode: Option<String>,
    /// `uid`.
    pub uid: Option<Id>,
    /// `gid`.
    pub gid: Option<Id>,
    /// Where the entry's mapping starts.
    pub location: Location,
}

/// What a `files` entry produces, decided as LinuxKit decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind<'a> {
    /// `directory: true`.
    Directory,
    /// A symbolic link to the target.
    Symlink(&'a str),
    /// A regular file with inline contents.
    Contents(&'a str),
    /// A regular file read from a host path (as written; see [`File::resolve_source`]).
    Source(&'a str),
    /// A regular file holding the merged configuration.
    Metadata(MetadataFormat),
}

/// The `metadata` formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataFormat {
    /// `yaml`: [`Config::metadata_yaml`].
    Yaml,
    /// `json`: [`Config::metadata_json`].
    Json,
}

/// An entry of `volumes`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Volume {
    /// `name`: `^[a-z0-9_-]+$`, unique.
    pub name: String,
    /// `image`; absent (or empty, as in LinuxKit) means a blank volume.
    pub image: Option<ImageRef>,
    /// `readonly`.
    pub readonly: Option<bool>,
    /// `format`.
    pub format: Option<VolumeFormat>,
    /// `platforms`: only for `format: oci`, e.g. `linux/amd64`.
    pub platforms: Option<Vec<String>>,
    /// Where the entry's mapping starts.
    pub location: Location,
}

/// How a volume's image is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeFormat {
    /// `filesystem`: the flattened image (the default).
    Filesystem,
    /// `oci`: an OCI image layout.
    Oci,
}

impl VolumeFormat {
    /// The YAML spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            VolumeFormat::Filesystem => "filesystem",
            VolumeFormat::Oci => "oci",
        }
    }
}

impl MetadataFormat {
    /// The YAML spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            MetadataFormat::Yaml => "yaml",
            MetadataFormat::Json => "json",
        }
    }
}

/// The 41 capabilities LinuxKit knows (`moby/sys/capability`), in numeric order, as
/// `effective` lists them for `all`.
pub const KNOWN_CAPABILITIES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The 16 resource limits LinuxKit accepts in `rlimits` (the `RLIMIT_` prefix is optional
/// and case-insensitive there).
pub const KNOWN_RLIMITS: [&str; 16] = [
    "RLIMIT_CPU",
    "RLIMIT_FSIZE",
    "RLIMIT_DATA",
    "RLIMIT_STACK",
    "RLIMIT_CORE",
    "RLIMIT_RSS",
    "RLIMIT_NPROC",
    "RLIMIT_NOFILE",
    "RLIMIT_MEMLOCK",
    "RLIMIT_AS",
    "RLIMIT_LOCKS",
    "RLIMIT_SIGPENDING",
    "RLIMIT_MSGQUEUE",
    "RLIMIT_NICE",
    "RLIMIT_RTPRIO",
    "RLIMIT_RTTIME",
];

impl Config {
    /// Every image of the configuration with the section it belongs to, in build order:
    /// kernel, init, volumes, onboot, onshutdown, services.
    pub fn images(&self) -> Vec<(Section, &ImageRef, &Location)> {
        let mut out = Vec::new();
        if let Some(kernel) = &self.kernel
            && let Some(image) = &kernel.image
        {
            out.push((Section::Kernel, image, &kernel.location));
        }
        for init in &self.init {
            out.push((Section::Init, &init.image, &init.location));
        }
        for volume in &self.volumes {
            if let Some(image) = &volume.image {
                out.push((Section::Volumes, image, &volume.location));
            }
        }
        for (section, list) in [
            (Section::Onboot, &self.onboot),
            (Section::Onshutdown, &self.onshutdown),
            (Section::Services, &self.services),
        ] {
            for image in list {
                out.push((section, &image.image, &image.location));
            }
        }
        out
    }

    /// The container-name → id map LinuxKit builds before any image is processed: 100, 101,
    /// ... across onboot, onshutdown and services in order; a repeated name takes the later id.
    pub fn id_map(&self) -> BTreeMap<String, u32> {
        let mut map = BTreeMap::new();
        let all = self.onboot.iter().chain(&self.onshutdown).chain(&self.services);
        for (id, image) in (100u32..).zip(all) {
            map.insert(image.name.clone(), id);
        }
        map
    }

    /// The volume with this name.
    pub fn volume(&self, name: &str) -> Option<&Volume> {
        self.volumes.iter().find(|v| v.name == name)
    }

    /// Sets every location to the default, so configurations parsed from different texts
    /// can be compared by content.
    #[doc(hidden)]
    pub fn clear_locations(&mut self) {
        if let Some(kernel) = &mut self.kernel {
            kernel.location = Location::default();
        }
        for init in &mut self.init {
            init.location = Location::default();
        }
        for image in self.onboot.iter_mut().chain(&mut self.onshutdown).chain(&mut self.services) {
            image.location = Location::default();
        }
        for file in &mut self.files {
            file.location = Location::default();
        }
        for volume in &mut self.volumes {
            volume.location = Location::default();
        }
    }
}

/// The sections of a configuration that name images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Section {
    /// `kernel.image`.
    Kernel,
    /// `init`.
    Init,
    /// `volumes[].image`.
    Volumes,
    /// `onboot`.
    Onboot,
    /// `onshutdown`.
    Onshutdown,
    /// `services`.
    Services,
}

impl Section {
    /// The YAML key.
    pub fn as_str(self) -> &'static str {
        match self {
            Section::Kernel => "kernel",
            Section::Init => "init",
            Section::Volumes => "volumes",
            Section::Onboot => "onboot",
            Section::Onshutdown => "onshutdown",
            Section::Services => "services",
        }
    }
}

impl File {
    /// What this entry produces, by LinuxKit's precedence: `directory: true`, then a
    /// non-empty `symlink`, then `contents`, then a non-empty `source`, then `metadata`.
    /// Returns `None` only for entries validation rejects (a regular file without content).
    pub fn kind(&self) -> Option<FileKind<'_>> {
        if self.directory == Some(true) {
            return Some(FileKind::Directory);
        }
        if let Some(target) = self.symlink.as_deref().filter(|s| !s.is_empty()) {
            return Some(FileKind::Symlink(target));
        }
        if let Some(contents) = &self.contents {
            return Some(FileKind::Contents(contents));
        }
        if let Some(source) = self.source.as_deref().filter(|s| !s.is_empty()) {
            return Some(FileKind::Source(source));
        }
        match self.metadata.as_deref() {
            Some("yaml") => Some(FileKind::Metadata(MetadataFormat::Yaml)),
            Some("json") => Some(FileKind::Metadata(MetadataFormat::Json)),
            _ => None,
        }
    }

    /// The path inside the image, without a leading `/` (as LinuxKit strips it).
    pub fn image_path(&self) -> &str {
        self.path.strip_prefix('/').unwrap_or(&self.path)
    }

    /// The permission bits: `mode` parsed as octal, else 0o700 for directories and 0o600
    /// for everything else (LinuxKit's defaults).
    pub fn mode_bits(&self) -> u32 {
        let default = if self.directory == Some(true) { 0o700 } else { 0o600 };
        match self.mode.as_deref() {
            None | Some("") => default,
            // Validation rejected every mode that does not parse.
            Some(mode) => u32::from_str_radix(mode, 8).unwrap_or(default),
        }
    }

    /// The host path of `source`, resolved as LinuxKit resolves it: `~/` expands to `home`,
    /// and a relative path is relative to the process working directory `cwd` (not to the
    /// configuration file). Returns `None` when the entry has no source.
    pub fn resolve_source(&self, cwd: &Path, home: Option<&Path>) -> Option<PathBuf> {
        let source = self.source.as_deref().filter(|s| !s.is_empty())?;
        if let (Some(rest), Some(home)) = (source.strip_prefix("~/"), home)
            && !rest.is_empty()
        {
            return Some(home.join(rest));
        }
        Some(cwd.join(source))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn file(source: &str) -> File {
        File {
            path: "/etc/x".into(),
            directory: None,
            symlink: None,
            contents: None,
            source: Some(source.into()),
            metadata: None,
            optional: None,
            mode: None,
            uid: None,
            gid: None,
            location: Location::default(),
        }
    }

    #[test]
    fn resolve_source_follows_linuxkit() {
        let cwd = Path::new("/work");
        let home = Path::new("/home/u");
        assert_eq!(file("a/b").resolve_source(cwd, Some(home)), Some(PathBuf::from("/work/a/b")));
        assert_eq!(file("/abs").resolve_source(cwd, Some(home)), Some(PathBuf::from("/abs")));
        assert_eq!(file("~/k").resolve_source(cwd, Some(home)), Some(PathBuf::from("/home/u/k")));
        // LinuxKit expands only "~/" followed by something.
        assert_eq!(file("~/").resolve_source(cwd, Some(home)), Some(PathBuf::from("/work/~/")));
        assert_eq!(file("~x").resolve_source(cwd, Some(home)), Some(PathBuf::from("/work/~x")));
        assert_eq!(file("~/k").resolve_source(cwd, None), Some(PathBuf::from("/work/~/k")));
        assert_eq!(file("").resolve_source(cwd, None), None);
    }

    #[test]
    fn file_kind_precedence_and_mode() {
        let mut f = file("src");
        assert_eq!(f.kind(), Some(FileKind::Source("src")));
        assert_eq!(f.mode_bits(), 0o600);
        f.contents = Some(String::new());
        assert_eq!(f.kind(), Some(FileKind::Contents("")));
        f.symlink = Some("t".into());
        assert_eq!(f.kind(), Some(FileKind::Symlink("t")));
        f.directory = Some(true);
        assert_eq!(f.kind(), Some(FileKind::Directory));
        assert_eq!(f.mode_bits(), 0o700);
        f.mode = Some("0755".into());
        assert_eq!(f.mode_bits(), 0o755);
        assert_eq!(f.image_path(), "etc/x");
    }

    #[test]
    fn known_lists_have_the_documented_sizes() {
        assert_eq!(KNOWN_CAPABILITIES.len(), 41);
        assert_eq!(KNOWN_CAPABILITIES[40], "CAP_CHECKPOINT_RESTORE");
        assert_eq!(KNOWN_RLIMITS.len(), 16);
    }
}

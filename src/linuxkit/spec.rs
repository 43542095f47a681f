//! `config.json` and `runtime.json` generation, mirroring LinuxKit's `ConfigToOCI`.
//!
//! Behaviour follows `src/cmd/linuxkit/moby/config.go` (reference/linuxkit.md §1.5, §2.1–2.3 and
//! §10 fact 9): precedence YAML > `org.mobyproject.config` label > image config > default, the
//! `.add` forms with their no-dedup quirk, `all`/`none` capabilities, Docker-like default mounts
//! sorted by destination, namespaces in the order net, ipc, uts, pid, user, mount, device allow
//! rules, rlimits and named uid/gid.
//!
//! The output types mirror the Go structs of runtime-spec v1.2.1 field by field, in declaration
//! order and with the same `omitempty` rules, so that [`render`] produces the bytes LinuxKit writes.
//! Only the fields LinuxKit can set are modelled.
//!
//! Differences from LinuxKit, all deliberate:
//! * camelCase keys in `resources` and ID mappings are honoured (the configuration side parses
//!   them; LinuxKit silently drops them);
//! * volume names in `mounts` sources are rewritten to the volume's `merged` directory, as
//!   LinuxKit intends (its rewrite loop modifies a copy, see `build/volume.go`).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::config::{self, Id, ImageConfig};
use crate::linuxkit::Error;
use crate::linuxkit::from_config::id_mappings;
use crate::linuxkit::gojson;

/// The runtime-spec version LinuxKit writes.
pub const OCI_VERSION: &str = "1.2.1";

/// Every capability known to `moby/sys/capability`, in numeric order (CAP_CHOWN = 0 to
/// CAP_CHECKPOINT_RESTORE = 40). `all` expands to this list.
pub const ALL_CAPABILITIES: [&str; 41] = crate::config::KNOWN_CAPABILITIES;

/// The rlimit names LinuxKit accepts (with the `RLIMIT_` prefix).
pub const RLIMIT_NAMES: [&str; 16] = crate::config::KNOWN_RLIMITS;

/// Container names mapped to the numeric ids `uid: name` resolves to (100, 101, ... over onboot,
/// onshutdown, then services, in YAML order; a repeated onboot name keeps the later id).
pub type IdMap = BTreeMap<String, u32>;

/// The parts of an OCI image configuration (`config` object) that LinuxKit reads: the last
/// source in the precedence YAML > `org.mobyproject.config` label > image configuration.
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

/// A volume as binds and mounts see it: its name and whether it is read-only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeRef {
    /// Volume name.
    pub name: String,
    /// `readonly: true` in the configuration.
    pub readonly: bool,
}

/// runtime-spec `Spec` (the fields LinuxKit sets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Spec {
    /// `ociVersion`.
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    /// `process`.
    pub process: Process,
    /// `root`.
    pub root: Root,
    /// `hostname`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    /// `mounts`, sorted by destination.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<Mount>,
    /// `annotations`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// `linux`.
    pub linux: Linux,
}

/// runtime-spec `Process`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Process {
    /// `terminal` (always false in LinuxKit, so omitted).
    #[serde(skip_serializing_if = "is_false")]
    pub terminal: bool,
    /// `user`.
    pub user: User,
    /// `args`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// `env`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// `cwd`.
    pub cwd: String,
    /// `capabilities`.
    pub capabilities: Capabilities,
    /// `rlimits`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rlimits: Vec<Rlimit>,
    /// `noNewPrivileges`.
    #[serde(rename = "noNewPrivileges", skip_serializing_if = "is_false")]
    pub no_new_privileges: bool,
    /// `oomScoreAdj`.
    #[serde(rename = "oomScoreAdj", skip_serializing_if = "Option::is_none")]
    pub oom_score_adj: Option<i64>,
}

/// runtime-spec `User`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// `uid`.
    pub uid: u32,
    /// `gid`.
    pub gid: u32,
    /// `additionalGids`.
    #[serde(rename = "additionalGids", skip_serializing_if = "Vec::is_empty")]
    pub additional_gids: Vec<u32>,
}

/// runtime-spec `LinuxCapabilities`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    /// `bounding`: sorted union of the capabilities and ambient ones.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bounding: Vec<String>,
    /// `effective`: the list as configured.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub effective: Vec<String>,
    /// `inheritable`: same as bounding.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inheritable: Vec<String>,
    /// `permitted`: same as bounding.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub permitted: Vec<String>,
    /// `ambient`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ambient: Vec<String>,
}

/// runtime-spec `POSIXRlimit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rlimit {
    /// `type`, such as `RLIMIT_NOFILE`.
    #[serde(rename = "type")]
    pub rlimit_type: String,
    /// `hard`.
    pub hard: u64,
    /// `soft`.
    pub soft: u64,
}

/// runtime-spec `Root`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Root {
    /// `path`: always `rootfs`.
    pub path: String,
    /// `readonly`.
    #[serde(skip_serializing_if = "is_false")]
    pub readonly: bool,
}

/// runtime-spec `Mount`; configured `mounts` and `runtime.mounts` are converted into it
/// ([`crate::linuxkit::from_config`]), an absent value becoming the empty string as in Go.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Mount {
    /// `destination`.
    pub destination: String,
    /// `type`.
    #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
    pub mount_type: String,
    /// `source`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// `options`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    /// `uidMappings`.
    #[serde(rename = "uidMappings", skip_serializing_if = "Vec::is_empty")]
    pub uid_mappings: Vec<IdMapping>,
    /// `gidMappings`.
    #[serde(rename = "gidMappings", skip_serializing_if = "Vec::is_empty")]
    pub gid_mappings: Vec<IdMapping>,
}

/// runtime-spec `LinuxIDMapping`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct IdMapping {
    /// `containerID`.
    #[serde(rename = "containerID")]
    pub container_id: u32,
    /// `hostID`.
    #[serde(rename = "hostID")]
    pub host_id: u32,
    /// `size`.
    pub size: u32,
}

/// runtime-spec `Linux`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Linux {
    /// `uidMappings`.
    #[serde(rename = "uidMappings", skip_serializing_if = "Vec::is_empty")]
    pub uid_mappings: Vec<IdMapping>,
    /// `gidMappings`.
    #[serde(rename = "gidMappings", skip_serializing_if = "Vec::is_empty")]
    pub gid_mappings: Vec<IdMapping>,
    /// `sysctl`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub sysctl: BTreeMap<String, String>,
    /// `resources` (always present, `{}` when empty).
    pub resources: Resources,
    /// `cgroupsPath`.
    #[serde(rename = "cgroupsPath", skip_serializing_if = "String::is_empty")]
    pub cgroups_path: String,
    /// `namespaces`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<Namespace>,
    /// `devices`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<LinuxDevice>,
    /// `rootfsPropagation`.
    #[serde(rename = "rootfsPropagation", skip_serializing_if = "String::is_empty")]
    pub rootfs_propagation: String,
    /// `maskedPaths`.
    #[serde(rename = "maskedPaths", skip_serializing_if = "Vec::is_empty")]
    pub masked_paths: Vec<String>,
    /// `readonlyPaths`.
    #[serde(rename = "readonlyPaths", skip_serializing_if = "Vec::is_empty")]
    pub readonly_paths: Vec<String>,
}

/// runtime-spec `LinuxNamespace`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Namespace {
    /// `type`: `network`, `ipc`, `uts`, `pid`, `user` or `mount`.
    #[serde(rename = "type")]
    pub ns_type: String,
    /// `path` of an existing namespace to join.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub path: String,
}

/// runtime-spec `LinuxDevice`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinuxDevice {
    /// `path`.
    pub path: String,
    /// `type`.
    #[serde(rename = "type")]
    pub dev_type: String,
    /// `major`.
    pub major: i64,
    /// `minor`.
    pub minor: i64,
    /// `fileMode`, as a number (Go's `os.FileMode`).
    #[serde(rename = "fileMode")]
    pub file_mode: u32,
}

/// runtime-spec `LinuxResources` (the fields LinuxKit's schema allows).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Resources {
    /// `devices`: cgroup device rules.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<DeviceCgroup>,
    /// `memory`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<Memory>,
    /// `cpu`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Cpu>,
    /// `pids`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids: Option<Pids>,
    /// `blockIO`.
    #[serde(rename = "blockIO", skip_serializing_if = "Option::is_none")]
    pub block_io: Option<BlockIo>,
    /// `hugepageLimits`.
    #[serde(rename = "hugepageLimits", skip_serializing_if = "Vec::is_empty")]
    pub hugepage_limits: Vec<HugepageLimit>,
    /// `network`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
}

/// runtime-spec `LinuxDeviceCgroup`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeviceCgroup {
    /// `allow`.
    pub allow: bool,
    /// `type`.
    #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
    pub dev_type: String,
    /// `major`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub major: Option<i64>,
    /// `minor`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minor: Option<i64>,
    /// `access`, such as `rwm`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub access: String,
}

/// runtime-spec `LinuxMemory`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Memory {
    /// `limit`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// `reservation`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reservation: Option<i64>,
    /// `swap`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swap: Option<i64>,
    /// `kernel`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel: Option<i64>,
    /// `kernelTCP`.
    #[serde(rename = "kernelTCP", skip_serializing_if = "Option::is_none")]
    pub kernel_tcp: Option<i64>,
    /// `swappiness`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swappiness: Option<u64>,
    /// `disableOOMKiller`.
    #[serde(rename = "disableOOMKiller", skip_serializing_if = "Option::is_none")]
    pub disable_oom_killer: Option<bool>,
}

/// runtime-spec `LinuxCPU`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Cpu {
    /// `shares`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shares: Option<u64>,
    /// `quota`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<i64>,
    /// `period`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<u64>,
    /// `realtimeRuntime`.
    #[serde(rename = "realtimeRuntime", skip_serializing_if = "Option::is_none")]
    pub realtime_runtime: Option<i64>,
    /// `realtimePeriod`.
    #[serde(rename = "realtimePeriod", skip_serializing_if = "Option::is_none")]
    pub realtime_period: Option<u64>,
    /// `cpus`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cpus: String,
    /// `mems`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub mems: String,
}

/// runtime-spec `LinuxPids`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Pids {
    /// `limit` (always written).
    pub limit: i64,
}

/// runtime-spec `LinuxBlockIO`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BlockIo {
    /// `weight`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u16>,
    /// `leafWeight`.
    #[serde(rename = "leafWeight", skip_serializing_if = "Option::is_none")]
    pub leaf_weight: Option<u16>,
    /// `weightDevice`.
    #[serde(rename = "weightDevice", skip_serializing_if = "Vec::is_empty")]
    pub weight_device: Vec<WeightDevice>,
    /// `throttleReadBpsDevice`.
    #[serde(rename = "throttleReadBpsDevice", skip_serializing_if = "Vec::is_empty")]
    pub throttle_read_bps_device: Vec<ThrottleDevice>,
    /// `throttleWriteBpsDevice`.
    #[serde(rename = "throttleWriteBpsDevice", skip_serializing_if = "Vec::is_empty")]
    pub throttle_write_bps_device: Vec<ThrottleDevice>,
    /// `throttleReadIOPSDevice`.
    #[serde(rename = "throttleReadIOPSDevice", skip_serializing_if = "Vec::is_empty")]
    pub throttle_read_iops_device: Vec<ThrottleDevice>,
    /// `throttleWriteIOPSDevice`.
    #[serde(rename = "throttleWriteIOPSDevice", skip_serializing_if = "Vec::is_empty")]
    pub throttle_write_iops_device: Vec<ThrottleDevice>,
}

/// runtime-spec `LinuxWeightDevice` (the embedded `major`/`minor` come first, as Go writes them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WeightDevice {
    /// `major`.
    pub major: i64,
    /// `minor`.
    pub minor: i64,
    /// `weight`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u16>,
    /// `leafWeight`.
    #[serde(rename = "leafWeight", skip_serializing_if = "Option::is_none")]
    pub leaf_weight: Option<u16>,
}

/// runtime-spec `LinuxThrottleDevice`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ThrottleDevice {
    /// `major`.
    pub major: i64,
    /// `minor`.
    pub minor: i64,
    /// `rate`.
    pub rate: u64,
}

/// runtime-spec `LinuxHugepageLimit`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HugepageLimit {
    /// `pageSize`, such as `2MB`.
    #[serde(rename = "pageSize")]
    pub page_size: String,
    /// `limit`.
    pub limit: u64,
}

/// runtime-spec `LinuxNetwork`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Network {
    /// `classID`.
    #[serde(rename = "classID", skip_serializing_if = "Option::is_none")]
    pub class_id: Option<u32>,
    /// `priorities`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub priorities: Vec<InterfacePriority>,
}

/// runtime-spec `LinuxInterfacePriority`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct InterfacePriority {
    /// `name`.
    pub name: String,
    /// `priority`.
    pub priority: u32,
}

/// LinuxKit's `runtime.json` (`moby.Runtime` after `assignRuntime`): every key always present.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RuntimeConfig {
    /// `cgroups`.
    pub cgroups: Vec<String>,
    /// `mounts`: the rootfs mounts of the bundle, then the configured ones.
    pub mounts: Vec<Mount>,
    /// `mkdir`.
    pub mkdir: Vec<String>,
    /// `interfaces`.
    pub interfaces: Vec<Interface>,
    /// `bindNS`.
    #[serde(rename = "bindNS")]
    pub bind_ns: BindNsPaths,
    /// `namespace`.
    pub namespace: String,
}

/// `runtime.json` `bindNS`: every key always present, `""` when unset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BindNsPaths {
    /// `cgroup`.
    pub cgroup: String,
    /// `ipc`.
    pub ipc: String,
    /// `mnt`.
    pub mnt: String,
    /// `net`.
    pub net: String,
    /// `pid`.
    pub pid: String,
    /// `user`.
    pub user: String,
    /// `uts`.
    pub uts: String,
}

/// A `runtime.json` `interfaces` entry (LinuxKit's `moby.Interface`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
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

fn is_false(value: &bool) -> bool {
    !*value
}

/// Builds the container id map: 100, 101, ... over `onboot`, `onshutdown`, then `services`
/// names, in order (LinuxKit's `Build`). A repeated name keeps its last id, as Go's map does.
pub fn id_map<'a>(names: impl IntoIterator<Item = &'a str>) -> IdMap {
    let mut map = IdMap::new();
    let mut next = 100u32;
    for name in names {
        map.insert(name.to_string(), next);
        next = next.saturating_add(1);
    }
    map
}

/// Resolves a uid or gid as LinuxKit's `IDNumeric` does: numbers as they are, `root` and `""` as
/// 0, other names through the container id map.
pub fn numeric_id(id: Option<&Id>, ids: &IdMap) -> Result<u32, Error> {
    match id {
        None => Ok(0),
        Some(Id::Number(number)) => Ok(*number),
        Some(Id::Name(name)) if name.is_empty() || name == "root" => Ok(0),
        Some(Id::Name(name)) => {
            ids.get(name).copied().ok_or_else(|| Error::UnknownId { id: name.clone() })
        }
    }
}

/// Rewrites volume names in the YAML `binds`, `binds.add` and bind `mounts` of an image to the
/// volume's `merged` directory, and refuses read-write binds of read-only volumes
/// (LinuxKit's `updateMountsAndBindsFromVolumes`). Label binds are not rewritten, as in LinuxKit.
pub fn rewrite_volume_binds(
    yaml: &ImageConfig,
    volumes: &[VolumeRef],
) -> Result<ImageConfig, Error> {
    let mut out = yaml.clone();
    if let Some(mounts) = &mut out.mounts {
        for mount in mounts.iter_mut() {
            let source = mount.source.as_deref().unwrap_or_default();
            if mount.mount_type.as_deref() != Some("bind") || source.starts_with('/') {
                continue;
            }
            let volume = find_volume(volumes, source)?;
            if volume.readonly {
                // The first `rw` or `ro` option decides, as in LinuxKit.
                let first = mount.options.iter().flatten().find(|opt| *opt == "rw" || *opt == "ro");
                if first.map(String::as_str) != Some("ro") {
                    return Err(Error::ReadOnlyVolumeWritable { volume: volume.name.clone() });
                }
            }
            mount.source = Some(volume_merged_dir(&volume.name));
        }
    }
    for binds in [&mut out.binds, &mut out.binds_add].into_iter().flatten() {
        for bind in binds.iter_mut() {
            let parts: Vec<&str> = bind.split(':').collect();
            let source = parts.first().copied().unwrap_or_default();
            if source.starts_with('/') {
                continue;
            }
            let volume = find_volume(volumes, source)?;
            if volume.readonly && parts.get(2).copied() != Some("ro") {
                return Err(Error::ReadOnlyVolumeWritable { volume: volume.name.clone() });
            }
            let mut rewritten = volume_merged_dir(&volume.name);
            for part in &parts[1..] {
                rewritten.push(':');
                rewritten.push_str(part);
            }
            *bind = rewritten;
        }
    }
    Ok(out)
}

fn find_volume<'a>(volumes: &'a [VolumeRef], name: &str) -> Result<&'a VolumeRef, Error> {
    volumes
        .iter()
        .find(|volume| volume.name == name)
        .ok_or_else(|| Error::VolumeNotFound { volume: name.to_string() })
}

/// `/containers/volumes/<name>/merged`, where binds to a volume point.
pub fn volume_merged_dir(name: &str) -> String {
    format!("/containers/volumes/{name}/merged")
}

/// LinuxKit's `ConfigToOCI`: the OCI spec and the runtime configuration of one image object.
///
/// `yaml` is the image object from the configuration (after [`rewrite_volume_binds`]), `label`
/// the parsed `org.mobyproject.config` label (if the image has one), `image` the image's own
/// configuration, `ids` the container id map.
pub fn config_to_oci(
    yaml: &ImageConfig,
    label: Option<&ImageConfig>,
    image: &ImageDefaults,
    ids: &IdMap,
) -> Result<(Spec, RuntimeConfig), Error> {
    let empty = ImageConfig::default();
    let label = label.unwrap_or(&empty);

    // Command, env and cwd may come from the image configuration.
    let mut image_command = image.entrypoint.clone().unwrap_or_default();
    image_command.extend(image.cmd.iter().flatten().cloned());
    let args = pick(&yaml.command, &label.command).cloned().unwrap_or(image_command);
    let env =
        pick(&yaml.env, &label.env).cloned().or_else(|| image.env.clone()).unwrap_or_default();
    let cwd = first_non_empty(&[&yaml.cwd, &label.cwd, &image.working_dir]).unwrap_or("/");

    let readonly = pick(&yaml.readonly, &label.readonly).copied().unwrap_or(false);
    let mounts = mounts(yaml, label, readonly)?;
    let namespaces = namespaces(yaml, label);
    let capabilities = capabilities(yaml, label)?;
    let rlimits = rlimits(pick(&yaml.rlimits, &label.rlimits).map(Vec::as_slice).unwrap_or(&[]))?;

    let uid = numeric_id(pick(&yaml.uid, &label.uid), ids)?;
    let gid = numeric_id(pick(&yaml.gid, &label.gid), ids)?;
    let mut additional_gids = Vec::new();
    for id in pick(&yaml.additional_gids, &label.additional_gids).into_iter().flatten() {
        additional_gids.push(numeric_id(Some(id), ids)?);
    }

    let mut resources =
        pick(&yaml.resources, &label.resources).map(Resources::from).unwrap_or_default();
    let mut devices = Vec::new();
    for device in pick(&yaml.devices, &label.devices).into_iter().flatten() {
        if device.path.as_deref() == Some("all") {
            resources.devices.push(DeviceCgroup {
                allow: true,
                dev_type: device.device_type.clone().unwrap_or_default(),
                major: None,
                minor: None,
                access: "rwm".to_string(),
            });
            continue;
        }
        let linux_device = linux_device(device)?;
        resources.devices.push(DeviceCgroup {
            allow: true,
            dev_type: linux_device.dev_type.clone(),
            major: Some(linux_device.major),
            minor: Some(linux_device.minor),
            access: "rwm".to_string(),
        });
        devices.push(linux_device);
    }

    let spec = Spec {
        oci_version: OCI_VERSION.to_string(),
        process: Process {
            terminal: false,
            user: User { uid, gid, additional_gids },
            args,
            env,
            cwd: cwd.to_string(),
            capabilities,
            rlimits,
            no_new_privileges: pick(&yaml.no_new_privileges, &label.no_new_privileges)
                .copied()
                .unwrap_or(false),
            oom_score_adj: pick(&yaml.oom_score_adj, &label.oom_score_adj).copied(),
        },
        root: Root { path: "rootfs".to_string(), readonly },
        hostname: first_non_empty(&[&yaml.hostname, &label.hostname]).unwrap_or("").to_string(),
        mounts,
        annotations: pick(&yaml.annotations, &label.annotations).cloned().unwrap_or_default(),
        linux: Linux {
            uid_mappings: id_mappings(pick(&yaml.uid_mappings, &label.uid_mappings)),
            gid_mappings: id_mappings(pick(&yaml.gid_mappings, &label.gid_mappings)),
            sysctl: pick(&yaml.sysctl, &label.sysctl).cloned().unwrap_or_default(),
            resources,
            cgroups_path: pick(&yaml.cgroups_path, &label.cgroups_path)
                .cloned()
                .unwrap_or_default(),
            namespaces,
            devices,
            rootfs_propagation: pick(&yaml.rootfs_propagation, &label.rootfs_propagation)
                .cloned()
                .unwrap_or_default(),
            masked_paths: pick(&yaml.masked_paths, &label.masked_paths)
                .cloned()
                .unwrap_or_default(),
            readonly_paths: pick(&yaml.readonly_paths, &label.readonly_paths)
                .cloned()
                .unwrap_or_default(),
        },
    };
    let runtime = runtime(label.runtime.as_ref(), yaml.runtime.as_ref());
    Ok((spec, runtime))
}

/// Renders a value as LinuxKit writes `config.json` and `runtime.json` (Go's 4-space indented JSON).
pub fn render<T: Serialize>(value: &T) -> Result<Vec<u8>, Error> {
    gojson::to_vec_indent(value).map_err(|source| Error::Json { source })
}

/// YAML value if present, else the label's.
fn pick<'a, T>(yaml: &'a Option<T>, label: &'a Option<T>) -> Option<&'a T> {
    yaml.as_ref().or(label.as_ref())
}

/// The first value that is set and not empty (LinuxKit's `assignStringEmpty*`).
fn first_non_empty<'a>(values: &[&'a Option<String>]) -> Option<&'a str> {
    values.iter().filter_map(|value| value.as_deref()).find(|value| !value.is_empty())
}

/// LinuxKit's `mergeStrings`: concatenation without de-duplication (its "seen" map is never
/// filled).
fn merge_strings(label: &Option<Vec<String>>, add: &Option<Vec<String>>) -> Vec<String> {
    let mut merged = label.clone().unwrap_or_default();
    merged.extend(add.iter().flatten().cloned());
    merged
}

fn mounts(yaml: &ImageConfig, label: &ImageConfig, readonly: bool) -> Result<Vec<Mount>, Error> {
    let strings = |items: &[&str]| items.iter().map(|item| item.to_string()).collect::<Vec<_>>();
    let mut dev_options = strings(&["nosuid", "strictatime", "mode=755", "size=65536k"]);
    let mut sys_options = strings(&["nosuid", "noexec", "nodev"]);
    if readonly {
        dev_options.push("ro".to_string());
        sys_options.push("ro".to_string());
    }
    let simple = |destination: &str, mount_type: &str, options: Vec<String>| Mount {
        destination: destination.to_string(),
        mount_type: mount_type.to_string(),
        source: mount_type.to_string(),
        options,
        ..Mount::default()
    };
    let mut by_destination = BTreeMap::new();
    for mount in [
        simple("/proc", "proc", strings(&["nosuid", "nodev", "noexec", "relatime"])),
        simple("/dev", "tmpfs", dev_options),
        simple(
            "/dev/pts",
            "devpts",
            strings(&["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]),
        ),
        simple("/sys", "sysfs", sys_options),
        simple(
            "/sys/fs/cgroup",
            "cgroup",
            strings(&["nosuid", "noexec", "nodev", "relatime", "ro"]),
        ),
    ] {
        by_destination.insert(mount.destination.clone(), mount);
    }

    for entry in pick(&yaml.tmpfs, &label.tmpfs).into_iter().flatten() {
        let parts: Vec<&str> = entry.split(':').collect();
        if parts.len() > 2 {
            return Err(Error::TmpfsSyntax { entry: entry.clone() });
        }
        let destination = parts[0].to_string();
        let options = match parts.get(1) {
            Some(options) => options.split(',').map(str::to_string).collect(),
            None => Vec::new(),
        };
        let mount = Mount { options, ..simple(&destination, "tmpfs", Vec::new()) };
        by_destination.insert(destination, mount);
    }

    let binds = match &yaml.binds {
        Some(binds) => binds.clone(),
        None => merge_strings(&label.binds, &yaml.binds_add),
    };
    for entry in &binds {
        let parts: Vec<&str> = entry.split(':').collect();
        if parts.len() < 2 || parts.len() > 3 {
            return Err(Error::BindSyntax { entry: entry.clone() });
        }
        let options = match parts.get(2) {
            Some(options) => {
                let mut options: Vec<String> = options.split(',').map(str::to_string).collect();
                options.push("rbind".to_string());
                options
            }
            None => strings(&["rw", "rbind", "rshared"]),
        };
        let mount = Mount {
            destination: parts[1].to_string(),
            mount_type: "bind".to_string(),
            source: parts[0].to_string(),
            options,
            ..Mount::default()
        };
        by_destination.insert(mount.destination.clone(), mount);
    }

    for mount in pick(&yaml.mounts, &label.mounts).into_iter().flatten() {
        let mount = Mount::from(mount);
        let mut mount_type = mount.mount_type.clone();
        if mount_type.is_empty()
            && matches!(mount.source.as_str(), "mqueue" | "devpts" | "proc" | "sysfs" | "cgroup")
        {
            mount_type = mount.source.clone();
        }
        if mount_type.is_empty() && mount.destination == "/dev" {
            mount_type = "tmpfs".to_string();
        }
        if mount_type.is_empty() {
            return Err(Error::MountMissingType { destination: mount.destination.clone() });
        }
        let source =
            if mount.source.is_empty() { mount_type.clone() } else { mount.source.clone() };
        let mut destination = mount.destination.clone();
        if destination.is_empty() {
            destination = default_mount_point(&mount_type).to_string();
        }
        if destination.is_empty() {
            return Err(Error::MountMissingDestination { mount_type });
        }
        // LinuxKit rebuilds the mount from these four fields: per-mount ID mappings are dropped.
        let mount = Mount {
            destination: destination.clone(),
            mount_type,
            source,
            options: mount.options.clone(),
            ..Mount::default()
        };
        by_destination.insert(destination, mount);
    }
    Ok(by_destination.into_values().collect())
}

fn default_mount_point(mount_type: &str) -> &'static str {
    match mount_type {
        "proc" => "/proc",
        "devpts" => "/dev/pts",
        "sysfs" => "/sys",
        "cgroup" => "/sys/fs/cgroup",
        "mqueue" => "/dev/mqueue",
        _ => "",
    }
}

fn namespaces(yaml: &ImageConfig, label: &ImageConfig) -> Vec<Namespace> {
    let mut namespaces = Vec::new();
    let mut add = |ns_type: &str, value: &str, none_means_new: bool| {
        if value == "host" || value == "root" {
            return;
        }
        let path = if value == "new" || (none_means_new && value == "none") { "" } else { value };
        namespaces.push(Namespace { ns_type: ns_type.to_string(), path: path.to_string() });
    };
    let net = first_non_empty(&[&yaml.net, &label.net]).unwrap_or("root");
    add("network", net, true);
    let ipc = first_non_empty(&[&yaml.ipc, &label.ipc]).unwrap_or("root");
    add("ipc", ipc, false);
    let uts = first_non_empty(&[&yaml.uts, &label.uts]).unwrap_or("root");
    add("uts", uts, false);
    // The pid namespace defaults to a new one.
    let pid = first_non_empty(&[&yaml.pid, &label.pid]).unwrap_or("");
    add("pid", pid, false);
    let user = first_non_empty(&[&yaml.userns, &label.userns]).unwrap_or("root");
    add("user", user, false);
    namespaces.push(Namespace { ns_type: "mount".to_string(), path: String::new() });
    namespaces
}

/// Expands a single `all` or `none` entry (case-insensitive) and checks every name.
fn expand_capabilities(mut caps: Vec<String>) -> Result<Vec<String>, Error> {
    if let [only] = caps.as_slice() {
        match only.to_lowercase().as_str() {
            "none" => caps = Vec::new(),
            "all" => caps = ALL_CAPABILITIES.iter().map(|cap| cap.to_string()).collect(),
            _ => {}
        }
    }
    if let Some(unknown) = caps.iter().find(|cap| !ALL_CAPABILITIES.contains(&cap.as_str())) {
        return Err(Error::UnknownCapability { capability: unknown.clone() });
    }
    Ok(caps)
}

fn capabilities(yaml: &ImageConfig, label: &ImageConfig) -> Result<Capabilities, Error> {
    let caps = match &yaml.capabilities {
        Some(caps) => caps.clone(),
        None => merge_strings(&label.capabilities, &yaml.capabilities_add),
    };
    let effective = expand_capabilities(caps)?;
    let ambient =
        expand_capabilities(pick(&yaml.ambient, &label.ambient).cloned().unwrap_or_default())?;
    let bounding: Vec<String> = effective
        .iter()
        .chain(&ambient)
        .cloned()
        .collect::<BTreeSet<String>>()
        .into_iter()
        .collect();
    Ok(Capabilities {
        inheritable: bounding.clone(),
        permitted: bounding.clone(),
        bounding,
        effective,
        ambient,
    })
}

fn rlimits(entries: &[String]) -> Result<Vec<Rlimit>, Error> {
    let mut rlimits = Vec::new();
    for entry in entries {
        let parts: Vec<&str> = entry.splitn(3, ',').collect();
        let [name, soft, hard] = parts.as_slice() else {
            return Err(Error::RlimitSyntax { entry: entry.clone() });
        };
        let mut name = name.trim().to_uppercase();
        if !name.starts_with("RLIMIT_") {
            name.insert_str(0, "RLIMIT_");
        }
        if !RLIMIT_NAMES.contains(&name.as_str()) {
            return Err(Error::UnknownRlimit { entry: entry.clone(), name });
        }
        let value = |text: &str| -> Result<u64, Error> {
            let text = text.trim();
            if text.eq_ignore_ascii_case("unlimited") {
                return Ok(u64::MAX);
            }
            // Go's strconv.ParseUint(text, 10, 64): ASCII digits only, no sign.
            if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Error::RlimitValue { entry: entry.clone(), value: text.to_string() });
            }
            text.parse::<u64>()
                .map_err(|_| Error::RlimitValue { entry: entry.clone(), value: text.to_string() })
        };
        let soft = value(soft)?;
        let hard = value(hard)?;
        rlimits.push(Rlimit { rlimit_type: name, hard, soft });
    }
    Ok(rlimits)
}

fn linux_device(device: &config::Device) -> Result<LinuxDevice, Error> {
    let path = device.path.clone().unwrap_or_default();
    let mode_text = device.mode.as_deref().unwrap_or("");
    // Go's strconv.ParseInt(mode, 8, 32): octal digits, optional sign, fits in an int32.
    let digits = mode_text.strip_prefix('+').unwrap_or(mode_text);
    let mode = if digits.is_empty() || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        None
    } else {
        u32::from_str_radix(digits, 8).ok().filter(|mode| *mode <= 0x7fff_ffff)
    };
    let Some(file_mode) = mode else {
        return Err(Error::DeviceMode { path, mode: mode_text.to_string() });
    };
    Ok(LinuxDevice {
        path,
        dev_type: device.device_type.clone().unwrap_or_default(),
        major: device.major.unwrap_or(0),
        minor: device.minor.unwrap_or(0),
        file_mode,
    })
}

/// LinuxKit's `assignRuntime`: each key (and each `bindNS` entry) from YAML, else the label.
fn runtime(label: Option<&config::Runtime>, yaml: Option<&config::Runtime>) -> RuntimeConfig {
    let empty = config::Runtime::default();
    let label = label.unwrap_or(&empty);
    let yaml = yaml.unwrap_or(&empty);
    let string = |yaml: &Option<String>, label: &Option<String>| {
        pick(yaml, label).cloned().unwrap_or_default()
    };
    // Each `bindNS` entry on its own: an absent `bindNS` leaves every entry unset.
    let bind_ns = |field: fn(&config::BindNamespaces) -> &Option<String>| {
        let get =
            |runtime: &config::Runtime| runtime.bind_ns.as_ref().and_then(|b| field(b).clone());
        string(&get(yaml), &get(label))
    };
    RuntimeConfig {
        cgroups: pick(&yaml.cgroups, &label.cgroups).cloned().unwrap_or_default(),
        mounts: pick(&yaml.mounts, &label.mounts)
            .map(|mounts| mounts.iter().map(Mount::from).collect())
            .unwrap_or_default(),
        mkdir: pick(&yaml.mkdir, &label.mkdir).cloned().unwrap_or_default(),
        interfaces: pick(&yaml.interfaces, &label.interfaces)
            .map(|interfaces| interfaces.iter().map(Interface::from).collect())
            .unwrap_or_default(),
        bind_ns: BindNsPaths {
            cgroup: bind_ns(|b| &b.cgroup),
            ipc: bind_ns(|b| &b.ipc),
            mnt: bind_ns(|b| &b.mnt),
            net: bind_ns(|b| &b.net),
            pid: bind_ns(|b| &b.pid),
            user: bind_ns(|b| &b.user),
            uts: bind_ns(|b| &b.uts),
        },
        namespace: string(&yaml.namespace, &label.namespace),
    }
}

/// The rootfs mounts LinuxKit prepends to `runtime.json` for a bundle at `prefix` (no leading
/// `/`): for a writable container a tmpfs on `tmp`, its private remount and the overlay with
/// `lower` (the image, possibly another bundle's) as lowerdir; for a read-only one a bind of
/// `lower` onto `rootfs`.
pub fn rootfs_mounts(prefix: &str, lower: &str, readonly: bool) -> Vec<Mount> {
    let rootfs = format!("/{prefix}/rootfs");
    if readonly {
        return vec![Mount {
            destination: rootfs,
            source: format!("/{lower}"),
            options: vec!["bind".to_string()],
            ..Mount::default()
        }];
    }
    let tmp = format!("/{prefix}/tmp");
    vec![
        Mount {
            destination: tmp.clone(),
            mount_type: "tmpfs".to_string(),
            source: "tmpfs".to_string(),
            ..Mount::default()
        },
        Mount {
            destination: tmp.clone(),
            options: vec!["remount".to_string(), "private".to_string()],
            ..Mount::default()
        },
        Mount {
            destination: rootfs,
            mount_type: "overlay".to_string(),
            source: "overlay".to_string(),
            options: vec![
                format!("lowerdir=/{lower}"),
                format!("upperdir={tmp}/upper"),
                format!("workdir={tmp}/work"),
            ],
            ..Mount::default()
        },
    ]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;
    use crate::config::BindNamespaces;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|item| item.to_string()).collect()
    }

    fn mapping(container_id: u32, host_id: u32, size: u32) -> config::IdMapping {
        config::IdMapping {
            container_id: Some(container_id),
            host_id: Some(host_id),
            size: Some(size),
        }
    }

    /// The image configuration of lkfix/busybox:1.35 (oracle make_oci.py).
    fn busybox() -> ImageDefaults {
        ImageDefaults {
            env: Some(strings(&[
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            ])),
            cmd: Some(strings(&["/bin/sh"])),
            ..ImageDefaults::default()
        }
    }

    /// The image configuration of lkfix/svc:1 (oracle make_oci.py), label parsed.
    fn svc() -> (ImageDefaults, ImageConfig) {
        let image = ImageDefaults {
            env: Some(strings(&[
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "SVC_MODE=test",
            ])),
            entrypoint: Some(strings(&["/bin/sh", "-c"])),
            cmd: Some(strings(&["cat /etc/svc/hello.txt; exec sleep 3600"])),
            working_dir: Some("/var/lib/svc".to_string()),
            labels: BTreeMap::new(),
        };
        let label = ImageConfig {
            capabilities: Some(strings(&["CAP_NET_BIND_SERVICE", "CAP_CHOWN"])),
            binds: Some(strings(&["/etc/resolv.conf:/etc/resolv.conf"])),
            ..ImageConfig::default()
        };
        (image, label)
    }

    fn render_text<T: Serialize>(value: &T) -> String {
        String::from_utf8(render(value).unwrap()).unwrap()
    }

    #[test]
    fn oracle_onboot_sysctl_is_byte_identical() {
        let yaml = ImageConfig {
            command: Some(strings(&["/bin/sh", "-c", "echo onboot; sysctl -a >/dev/null"])),
            capabilities: Some(strings(&["CAP_SYS_ADMIN"])),
            binds: Some(strings(&["/etc:/hostetc"])),
            readonly: Some(true),
            ..ImageConfig::default()
        };
        let ids = id_map(["sysctl", "hello"]);
        let (spec, mut runtime) = config_to_oci(&yaml, None, &busybox(), &ids).unwrap();
        let prefix = "containers/onboot/000-sysctl";
        runtime.mounts.splice(0..0, rootfs_mounts(prefix, &format!("{prefix}/rootfs"), true));
        assert_eq!(
            render_text(&spec),
            include_str!("../../testdata/linuxkit/oracle/onboot__000-sysctl__config.json")
        );
        assert_eq!(
            render_text(&runtime),
            include_str!("../../testdata/linuxkit/oracle/onboot__000-sysctl__runtime.json")
        );
    }

    #[test]
    fn oracle_service_hello_is_byte_identical() {
        let yaml = ImageConfig { env: Some(strings(&["HELLO=world"])), ..ImageConfig::default() };
        let (image, label) = svc();
        let ids = id_map(["sysctl", "hello"]);
        let (spec, mut runtime) = config_to_oci(&yaml, Some(&label), &image, &ids).unwrap();
        let prefix = "containers/services/hello";
        runtime.mounts.splice(0..0, rootfs_mounts(prefix, &format!("{prefix}/lower"), false));
        assert_eq!(
            render_text(&spec),
            include_str!("../../testdata/linuxkit/oracle/services__hello__config.json")
        );
        assert_eq!(
            render_text(&runtime),
            include_str!("../../testdata/linuxkit/oracle/services__hello__runtime.json")
        );
    }

    /// Runs the generator and shows the parts of the spec a case is about.
    fn check(yaml: ImageConfig, label: Option<ImageConfig>, expect: Expect) {
        let ids = id_map(["a", "b", "redis"]);
        let image = ImageDefaults::default();
        let text = match config_to_oci(&yaml, label.as_ref(), &image, &ids) {
            Ok((spec, runtime)) => {
                let spec_json: serde_json::Value =
                    serde_json::from_slice(&render(&spec).unwrap()).unwrap();
                let mut shown = serde_json::Map::new();
                shown.insert("process".into(), spec_json["process"].clone());
                shown.insert("linux".into(), spec_json["linux"].clone());
                for key in ["hostname", "annotations"] {
                    if let Some(value) = spec_json.get(key) {
                        shown.insert(key.into(), value.clone());
                    }
                }
                let mounts: Vec<String> = spec.mounts.iter().map(mount_line).collect();
                shown.insert("mounts".into(), mounts.into());
                if runtime != RuntimeConfig::default() {
                    shown.insert("runtime".into(), serde_json::to_value(&runtime).unwrap());
                }
                serde_json::to_string_pretty(&shown).unwrap()
            }
            Err(error) => format!("error: {error}"),
        };
        expect.assert_eq(&text);
    }

    fn mount_line(mount: &Mount) -> String {
        format!(
            "{} {} {} {}",
            mount.destination,
            mount.mount_type,
            mount.source,
            mount.options.join(",")
        )
    }

    #[test]
    fn defaults_without_any_configuration() {
        // No caps, host net/ipc/uts/user, new pid and mount namespaces, Docker-like mounts, cwd "/".
        check(
            ImageConfig::default(),
            None,
            expect![[r#"
                {
                  "linux": {
                    "namespaces": [
                      {
                        "type": "pid"
                      },
                      {
                        "type": "mount"
                      }
                    ],
                    "resources": {}
                  },
                  "mounts": [
                    "/dev tmpfs tmpfs nosuid,strictatime,mode=755,size=65536k",
                    "/dev/pts devpts devpts nosuid,noexec,newinstance,ptmxmode=0666,mode=0620",
                    "/proc proc proc nosuid,nodev,noexec,relatime",
                    "/sys sysfs sysfs nosuid,noexec,nodev",
                    "/sys/fs/cgroup cgroup cgroup nosuid,noexec,nodev,relatime,ro"
                  ],
                  "process": {
                    "capabilities": {},
                    "cwd": "/",
                    "user": {
                      "gid": 0,
                      "uid": 0
                    }
                  }
                }"#]],
        );
    }

    #[test]
    fn capabilities_add_appends_to_label_without_dedup() {
        // mergeStrings never records what it has seen: CAP_CHOWN appears twice in effective.
        let label = ImageConfig {
            capabilities: Some(strings(&["CAP_SYS_ADMIN", "CAP_CHOWN"])),
            ..ImageConfig::default()
        };
        let yaml = ImageConfig {
            capabilities_add: Some(strings(&["CAP_CHOWN", "CAP_NET_ADMIN"])),
            ambient: Some(strings(&["CAP_AUDIT_WRITE"])),
            ..ImageConfig::default()
        };
        let ids = IdMap::new();
        let (spec, _) =
            config_to_oci(&yaml, Some(&label), &ImageDefaults::default(), &ids).unwrap();
        let caps = &spec.process.capabilities;
        assert_eq!(
            caps.effective,
            strings(&["CAP_SYS_ADMIN", "CAP_CHOWN", "CAP_CHOWN", "CAP_NET_ADMIN"])
        );
        let sorted = strings(&["CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_NET_ADMIN", "CAP_SYS_ADMIN"]);
        assert_eq!(caps.bounding, sorted);
        assert_eq!(caps.permitted, sorted);
        assert_eq!(caps.inheritable, sorted);
        assert_eq!(caps.ambient, strings(&["CAP_AUDIT_WRITE"]));
    }

    #[test]
    fn yaml_capabilities_replace_label_and_add() {
        let label =
            ImageConfig { capabilities: Some(strings(&["CAP_SYS_ADMIN"])), ..Default::default() };
        let yaml = ImageConfig {
            capabilities: Some(vec![]),
            capabilities_add: Some(strings(&["CAP_CHOWN"])),
            ..Default::default()
        };
        let (spec, _) =
            config_to_oci(&yaml, Some(&label), &ImageDefaults::default(), &IdMap::new()).unwrap();
        assert_eq!(spec.process.capabilities, Capabilities::default());
    }

    #[test]
    fn all_and_none_expand_case_insensitively() {
        let yaml = ImageConfig { capabilities: Some(strings(&["ALL"])), ..Default::default() };
        let (spec, _) =
            config_to_oci(&yaml, None, &ImageDefaults::default(), &IdMap::new()).unwrap();
        let caps = &spec.process.capabilities;
        assert_eq!(caps.effective.len(), 41);
        assert_eq!(caps.effective[0], "CAP_CHOWN");
        assert_eq!(caps.effective[40], "CAP_CHECKPOINT_RESTORE");
        assert_eq!(caps.bounding[0], "CAP_AUDIT_CONTROL");
        let label =
            ImageConfig { capabilities: Some(strings(&["CAP_KILL"])), ..Default::default() };
        let yaml = ImageConfig { capabilities: Some(strings(&["None"])), ..Default::default() };
        let (spec, _) =
            config_to_oci(&yaml, Some(&label), &ImageDefaults::default(), &IdMap::new()).unwrap();
        assert_eq!(spec.process.capabilities, Capabilities::default());
    }

    #[test]
    fn unknown_or_mixed_all_capability_is_an_error() {
        check(
            ImageConfig { capabilities: Some(strings(&["all", "CAP_KILL"])), ..Default::default() },
            None,
            expect![[
                r#"error: unknown capability "all": expected CAP_* from the known list, `all` or `none`"#
            ]],
        );
        check(
            ImageConfig { ambient: Some(strings(&["cap_kill"])), ..Default::default() },
            None,
            expect![[
                r#"error: unknown capability "cap_kill": expected CAP_* from the known list, `all` or `none`"#
            ]],
        );
    }

    #[test]
    fn binds_tmpfs_and_mounts_are_keyed_by_destination_and_sorted() {
        let label = ImageConfig {
            binds: Some(strings(&["/var:/var", "/run:/run:ro"])),
            tmpfs: Some(strings(&["/label-tmp"])),
            ..Default::default()
        };
        let yaml = ImageConfig {
            binds_add: Some(strings(&["/lib/modules:/lib/modules:ro,rslave", "/dev:/dev"])),
            tmpfs: Some(strings(&["/tmp:size=10m,mode=1777", "/empty:"])),
            mounts: Some(vec![
                config::Mount { source: Some("mqueue".into()), ..Default::default() },
                config::Mount {
                    destination: Some("/dev".into()),
                    options: Some(strings(&["x"])),
                    ..Default::default()
                },
                config::Mount { mount_type: Some("cgroup".into()), ..Default::default() },
                config::Mount {
                    destination: Some("/data".into()),
                    mount_type: Some("bind".into()),
                    source: Some("/var/data".into()),
                    options: Some(strings(&["rbind"])),
                    uid_mappings: Some(vec![mapping(0, 1000, 1)]),
                    ..Default::default()
                },
            ]),
            ..Default::default()
        };
        // tmpfs from YAML replaces the label's; binds.add appends to label binds; `/dev` from
        // binds is replaced by the later `mounts` entry; mount ID mappings are dropped.
        let (spec, _) =
            config_to_oci(&yaml, Some(&label), &ImageDefaults::default(), &IdMap::new()).unwrap();
        let lines: Vec<String> = spec.mounts.iter().map(mount_line).collect();
        assert_eq!(
            lines,
            [
                "/data bind /var/data rbind",
                "/dev tmpfs tmpfs x",
                "/dev/mqueue mqueue mqueue ",
                "/dev/pts devpts devpts nosuid,noexec,newinstance,ptmxmode=0666,mode=0620",
                "/empty tmpfs tmpfs ",
                "/lib/modules bind /lib/modules ro,rslave,rbind",
                "/proc proc proc nosuid,nodev,noexec,relatime",
                "/run bind /run ro,rbind",
                "/sys sysfs sysfs nosuid,noexec,nodev",
                "/sys/fs/cgroup cgroup cgroup ",
                "/tmp tmpfs tmpfs size=10m,mode=1777",
                "/var bind /var rw,rbind,rshared",
            ]
        );
        // `/empty:` has one empty option, as Go's strings.Split gives.
        assert_eq!(spec.mounts[4].options, [""]);
        assert!(spec.mounts[0].uid_mappings.is_empty());
    }

    #[test]
    fn mount_and_bind_syntax_errors() {
        let mount = |m: config::Mount| ImageConfig { mounts: Some(vec![m]), ..Default::default() };
        check(
            mount(config::Mount {
                destination: Some("/x".into()),
                source: Some("/y".into()),
                ..Default::default()
            }),
            None,
            expect![[r#"error: mount for destination "/x" is missing type"#]],
        );
        check(
            mount(config::Mount { mount_type: Some("tmpfs".into()), ..Default::default() }),
            None,
            expect![[r#"error: mount of type "tmpfs" is missing destination"#]],
        );
        check(
            ImageConfig { binds: Some(strings(&["/x"])), ..Default::default() },
            None,
            expect![[r#"error: cannot parse bind "/x": expected src:dst[:opts]"#]],
        );
        check(
            ImageConfig { binds: Some(strings(&["/x:/y:ro:z"])), ..Default::default() },
            None,
            expect![[r#"error: cannot parse bind "/x:/y:ro:z": expected src:dst[:opts]"#]],
        );
        check(
            ImageConfig { tmpfs: Some(strings(&["/x:a:b"])), ..Default::default() },
            None,
            expect![[
                r#"error: cannot parse tmpfs "/x:a:b": expected dst[:opt,opt], found too many ':'"#
            ]],
        );
    }

    #[test]
    fn namespaces_in_linuxkit_order() {
        let label = ImageConfig {
            net: Some("new".into()),
            uts: Some("/proc/1/ns/uts".into()),
            ..Default::default()
        };
        let yaml = ImageConfig {
            net: Some("none".into()),
            ipc: Some("new".into()),
            pid: Some("host".into()),
            userns: Some("/run/userns".into()),
            ..Default::default()
        };
        let (spec, _) =
            config_to_oci(&yaml, Some(&label), &ImageDefaults::default(), &IdMap::new()).unwrap();
        let shown: Vec<String> =
            spec.linux.namespaces.iter().map(|ns| format!("{}={}", ns.ns_type, ns.path)).collect();
        assert_eq!(shown, ["network=", "ipc=", "uts=/proc/1/ns/uts", "user=/run/userns", "mount="]);
        // `none` means a new namespace only for net; elsewhere it is a path.
        let yaml = ImageConfig {
            ipc: Some("none".into()),
            net: Some("root".into()),
            ..Default::default()
        };
        let (spec, _) =
            config_to_oci(&yaml, None, &ImageDefaults::default(), &IdMap::new()).unwrap();
        let shown: Vec<String> =
            spec.linux.namespaces.iter().map(|ns| format!("{}={}", ns.ns_type, ns.path)).collect();
        assert_eq!(shown, ["ipc=none", "pid=", "mount="]);
    }

    #[test]
    fn devices_add_cgroup_rules_and_path_all_only_a_rule() {
        let label = ImageConfig {
            resources: Some(config::Resources {
                pids: Some(config::Pids { limit: Some(10) }),
                devices: Some(vec![config::DeviceCgroup {
                    allow: Some(false),
                    access: Some("rwm".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            devices: Some(vec![
                config::Device {
                    path: Some("all".into()),
                    device_type: Some("b".into()),
                    ..Default::default()
                },
                config::Device {
                    path: Some("/dev/tty0".into()),
                    device_type: Some("c".into()),
                    major: Some(4),
                    minor: Some(0),
                    mode: Some("0620".into()),
                },
            ]),
            ..Default::default()
        };
        check(
            ImageConfig::default(),
            Some(label),
            expect![[r#"
                {
                  "linux": {
                    "devices": [
                      {
                        "fileMode": 400,
                        "major": 4,
                        "minor": 0,
                        "path": "/dev/tty0",
                        "type": "c"
                      }
                    ],
                    "namespaces": [
                      {
                        "type": "pid"
                      },
                      {
                        "type": "mount"
                      }
                    ],
                    "resources": {
                      "devices": [
                        {
                          "access": "rwm",
                          "allow": false
                        },
                        {
                          "access": "rwm",
                          "allow": true,
                          "type": "b"
                        },
                        {
                          "access": "rwm",
                          "allow": true,
                          "major": 4,
                          "minor": 0,
                          "type": "c"
                        }
                      ],
                      "pids": {
                        "limit": 10
                      }
                    }
                  },
                  "mounts": [
                    "/dev tmpfs tmpfs nosuid,strictatime,mode=755,size=65536k",
                    "/dev/pts devpts devpts nosuid,noexec,newinstance,ptmxmode=0666,mode=0620",
                    "/proc proc proc nosuid,nodev,noexec,relatime",
                    "/sys sysfs sysfs nosuid,noexec,nodev",
                    "/sys/fs/cgroup cgroup cgroup nosuid,noexec,nodev,relatime,ro"
                  ],
                  "process": {
                    "capabilities": {},
                    "cwd": "/",
                    "user": {
                      "gid": 0,
                      "uid": 0
                    }
                  }
                }"#]],
        );
        let bad = ImageConfig {
            devices: Some(vec![config::Device {
                path: Some("/dev/x".into()),
                mode: Some("0999".into()),
                ..Default::default()
            }]),
            ..Default::default()
        };
        check(
            bad,
            None,
            expect![[
                r#"error: cannot parse mode "0999" of device /dev/x: expected an octal string such as "0666""#
            ]],
        );
    }

    #[test]
    fn rlimits_parse_like_linuxkit() {
        let yaml = ImageConfig {
            rlimits: Some(strings(&[
                " nofile , 1024, unlimited",
                "RLIMIT_CORE,0,0",
                "rlimit_nproc,UNLIMITED,10",
            ])),
            ..Default::default()
        };
        let (spec, _) =
            config_to_oci(&yaml, None, &ImageDefaults::default(), &IdMap::new()).unwrap();
        assert_eq!(
            spec.process.rlimits,
            [
                Rlimit { rlimit_type: "RLIMIT_NOFILE".into(), hard: u64::MAX, soft: 1024 },
                Rlimit { rlimit_type: "RLIMIT_CORE".into(), hard: 0, soft: 0 },
                Rlimit { rlimit_type: "RLIMIT_NPROC".into(), hard: 10, soft: u64::MAX },
            ]
        );
        let rendered = render_text(&spec.process.rlimits[0]);
        assert_eq!(
            rendered,
            "{\n    \"type\": \"RLIMIT_NOFILE\",\n    \"hard\": 18446744073709551615,\n    \"soft\": 1024\n}"
        );
        for (entry, message) in [
            ("nofile,1", "error: cannot parse rlimit \"nofile,1\": expected name,soft,hard"),
            ("files,1,2", "error: unknown rlimit RLIMIT_FILES in \"files,1,2\""),
            (
                "nofile,-1,2",
                "error: cannot parse rlimit value \"-1\" in \"nofile,-1,2\": expected an unsigned number or `unlimited`",
            ),
            (
                "nofile,1,2,3",
                "error: cannot parse rlimit value \"2,3\" in \"nofile,1,2,3\": expected an unsigned number or `unlimited`",
            ),
        ] {
            let yaml = ImageConfig { rlimits: Some(strings(&[entry])), ..Default::default() };
            let error =
                config_to_oci(&yaml, None, &ImageDefaults::default(), &IdMap::new()).unwrap_err();
            assert_eq!(format!("error: {error}"), message);
        }
    }

    #[test]
    fn named_ids_resolve_through_the_id_map() {
        // ids: a=100, b=101, redis=102
        let yaml = ImageConfig {
            uid: Some(Id::Name("redis".into())),
            gid: Some(Id::Name("root".into())),
            additional_gids: Some(vec![
                Id::Number(5),
                Id::Name("a".into()),
                Id::Name(String::new()),
            ]),
            ..Default::default()
        };
        let (spec, _) =
            config_to_oci(&yaml, None, &ImageDefaults::default(), &id_map(["a", "b", "redis"]))
                .unwrap();
        assert_eq!(spec.process.user, User { uid: 102, gid: 0, additional_gids: vec![5, 100, 0] });
        check(
            ImageConfig { gid: Some(Id::Name("nobody".into())), ..Default::default() },
            None,
            expect![[
                r#"error: cannot find id "nobody": expected a number, `root` or a container name"#
            ]],
        );
        // Label uid applies when YAML has none; YAML wins otherwise.
        let label = ImageConfig {
            uid: Some(Id::Number(7)),
            gid: Some(Id::Number(8)),
            ..Default::default()
        };
        let yaml = ImageConfig { gid: Some(Id::Number(9)), ..Default::default() };
        let (spec, _) =
            config_to_oci(&yaml, Some(&label), &ImageDefaults::default(), &IdMap::new()).unwrap();
        assert_eq!((spec.process.user.uid, spec.process.user.gid), (7, 9));
    }

    #[test]
    fn id_map_counts_over_sections_and_repeated_names_keep_the_last() {
        let ids = id_map(["x", "y", "x", "svc"]);
        assert_eq!(ids.get("x"), Some(&102));
        assert_eq!(ids.get("y"), Some(&101));
        assert_eq!(ids.get("svc"), Some(&103));
    }

    #[test]
    fn command_env_cwd_precedence() {
        let image = ImageDefaults {
            env: Some(strings(&["A=image"])),
            entrypoint: Some(strings(&["/entry"])),
            cmd: Some(strings(&["arg"])),
            working_dir: Some("/image".into()),
            ..Default::default()
        };
        let ids = IdMap::new();
        let (spec, _) = config_to_oci(&ImageConfig::default(), None, &image, &ids).unwrap();
        assert_eq!(spec.process.args, ["/entry", "arg"]);
        assert_eq!(spec.process.env, ["A=image"]);
        assert_eq!(spec.process.cwd, "/image");
        let label = ImageConfig {
            command: Some(strings(&["/label"])),
            env: Some(vec![]),
            cwd: Some("/label".into()),
            ..Default::default()
        };
        let (spec, _) = config_to_oci(&ImageConfig::default(), Some(&label), &image, &ids).unwrap();
        assert_eq!(spec.process.args, ["/label"]);
        assert!(spec.process.env.is_empty(), "an empty label list still replaces the image's");
        assert_eq!(spec.process.cwd, "/label");
        let yaml = ImageConfig {
            command: Some(strings(&["/yaml"])),
            env: Some(strings(&["B=yaml"])),
            cwd: Some(String::new()),
            ..Default::default()
        };
        let (spec, _) = config_to_oci(&yaml, Some(&label), &image, &ids).unwrap();
        assert_eq!(spec.process.args, ["/yaml"]);
        assert_eq!(spec.process.env, ["B=yaml"]);
        assert_eq!(spec.process.cwd, "/label", "an empty cwd counts as unset");
    }

    #[test]
    fn scalar_and_map_fields_are_label_then_yaml() {
        let label = ImageConfig {
            hostname: Some("label-host".into()),
            no_new_privileges: Some(true),
            oom_score_adj: Some(-500),
            sysctl: Some([("net.ipv4.ip_forward".to_string(), "1".to_string())].into()),
            annotations: Some([("a".to_string(), "1".to_string())].into()),
            masked_paths: Some(strings(&["/proc/kcore"])),
            readonly_paths: Some(strings(&["/proc/sys"])),
            rootfs_propagation: Some("shared".into()),
            cgroups_path: Some("/label".into()),
            uid_mappings: Some(vec![mapping(0, 100000, 65536)]),
            ..Default::default()
        };
        let yaml = ImageConfig {
            no_new_privileges: Some(false),
            cgroups_path: Some("podruntime/x".into()),
            gid_mappings: Some(vec![mapping(0, 200000, 10)]),
            annotations: Some(BTreeMap::new()),
            ..Default::default()
        };
        let (spec, _) =
            config_to_oci(&yaml, Some(&label), &ImageDefaults::default(), &IdMap::new()).unwrap();
        expect![[r#"
            {
                "ociVersion": "1.2.1",
                "process": {
                    "user": {
                        "uid": 0,
                        "gid": 0
                    },
                    "cwd": "/",
                    "capabilities": {},
                    "oomScoreAdj": -500
                },
                "root": {
                    "path": "rootfs"
                },
                "hostname": "label-host",
                "linux": {
                    "uidMappings": [
                        {
                            "containerID": 0,
                            "hostID": 100000,
                            "size": 65536
                        }
                    ],
                    "gidMappings": [
                        {
                            "containerID": 0,
                            "hostID": 200000,
                            "size": 10
                        }
                    ],
                    "sysctl": {
                        "net.ipv4.ip_forward": "1"
                    },
                    "resources": {},
                    "cgroupsPath": "podruntime/x",
                    "namespaces": [
                        {
                            "type": "pid"
                        },
                        {
                            "type": "mount"
                        }
                    ],
                    "rootfsPropagation": "shared",
                    "maskedPaths": [
                        "/proc/kcore"
                    ],
                    "readonlyPaths": [
                        "/proc/sys"
                    ]
                }
            }"#]]
        .assert_eq(&render_text(&Spec { mounts: vec![], ..spec }));
    }

    #[test]
    fn runtime_fields_merge_per_key() {
        let label = ImageConfig {
            runtime: Some(config::Runtime {
                cgroups: Some(strings(&["label"])),
                mkdir: Some(strings(&["/var/lib/x"])),
                bind_ns: Some(BindNamespaces {
                    net: Some("/run/netns/label".into()),
                    ..Default::default()
                }),
                namespace: Some("label.ns".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let yaml = ImageConfig {
            runtime: Some(config::Runtime {
                cgroups: Some(vec![]),
                interfaces: Some(vec![config::Interface {
                    name: Some("eth1".into()),
                    add: Some("veth".into()),
                    peer: Some("veth1".into()),
                    create_in_root: Some(false),
                }]),
                bind_ns: Some(BindNamespaces {
                    uts: Some("/run/uts".into()),
                    ..Default::default()
                }),
                mounts: Some(vec![config::Mount {
                    destination: Some("/run/x".into()),
                    mount_type: Some("bind".into()),
                    source: Some("/y".into()),
                    options: Some(strings(&["bind"])),
                    gid_mappings: Some(vec![mapping(1, 2, 3)]),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let (_, runtime) =
            config_to_oci(&yaml, Some(&label), &ImageDefaults::default(), &IdMap::new()).unwrap();
        expect![[r#"
            {
                "cgroups": [],
                "mounts": [
                    {
                        "destination": "/run/x",
                        "type": "bind",
                        "source": "/y",
                        "options": [
                            "bind"
                        ],
                        "gidMappings": [
                            {
                                "containerID": 1,
                                "hostID": 2,
                                "size": 3
                            }
                        ]
                    }
                ],
                "mkdir": [
                    "/var/lib/x"
                ],
                "interfaces": [
                    {
                        "name": "eth1",
                        "add": "veth",
                        "peer": "veth1",
                        "createInRoot": false
                    }
                ],
                "bindNS": {
                    "cgroup": "",
                    "ipc": "",
                    "mnt": "",
                    "net": "/run/netns/label",
                    "pid": "",
                    "user": "",
                    "uts": "/run/uts"
                },
                "namespace": "label.ns"
            }"#]]
        .assert_eq(&render_text(&runtime));
    }

    #[test]
    fn volume_binds_are_rewritten_and_read_only_volumes_need_ro() {
        let volumes = [
            VolumeRef { name: "data".into(), readonly: false },
            VolumeRef { name: "ro".into(), readonly: true },
        ];
        let yaml = ImageConfig {
            binds: Some(strings(&["data:/data", "/etc:/etc", "ro:/ro:ro"])),
            binds_add: Some(strings(&["data:/more:rw"])),
            mounts: Some(vec![config::Mount {
                destination: Some("/m".into()),
                mount_type: Some("bind".into()),
                source: Some("ro".into()),
                options: Some(strings(&["rbind", "ro", "rw"])),
                ..Default::default()
            }]),
            ..Default::default()
        };
        let out = rewrite_volume_binds(&yaml, &volumes).unwrap();
        assert_eq!(
            out.binds.unwrap(),
            strings(&[
                "/containers/volumes/data/merged:/data",
                "/etc:/etc",
                "/containers/volumes/ro/merged:/ro:ro",
            ])
        );
        assert_eq!(out.binds_add.unwrap(), strings(&["/containers/volumes/data/merged:/more:rw"]));
        assert_eq!(out.mounts.unwrap()[0].source.as_deref(), Some("/containers/volumes/ro/merged"));
        for yaml in [
            ImageConfig { binds: Some(strings(&["ro:/ro"])), ..Default::default() },
            ImageConfig { binds_add: Some(strings(&["ro:/ro:ro,rbind"])), ..Default::default() },
            ImageConfig {
                mounts: Some(vec![config::Mount {
                    mount_type: Some("bind".into()),
                    source: Some("ro".into()),
                    options: Some(strings(&["rw", "ro"])),
                    ..Default::default()
                }]),
                ..Default::default()
            },
        ] {
            let error = rewrite_volume_binds(&yaml, &volumes).unwrap_err();
            assert!(matches!(error, Error::ReadOnlyVolumeWritable { .. }), "{error}");
        }
        let yaml = ImageConfig { binds: Some(strings(&["nope:/x"])), ..Default::default() };
        let error = rewrite_volume_binds(&yaml, &volumes).unwrap_err();
        assert_eq!(
            error.to_string(),
            "volume \"nope\" not found: binds and mounts with a relative source name a volume"
        );
        // A mount whose type is not literally `bind` is not a volume reference.
        let yaml = ImageConfig {
            mounts: Some(vec![config::Mount { source: Some("nope".into()), ..Default::default() }]),
            ..Default::default()
        };
        assert!(rewrite_volume_binds(&yaml, &volumes).is_ok());
    }

    #[test]
    fn resources_render_in_go_field_order() {
        let resources = Resources {
            memory: Some(Memory {
                limit: Some(1),
                kernel_tcp: Some(2),
                disable_oom_killer: Some(true),
                ..Default::default()
            }),
            cpu: Some(Cpu {
                shares: Some(3),
                realtime_period: Some(4),
                cpus: "0-1".into(),
                ..Default::default()
            }),
            block_io: Some(BlockIo {
                weight: Some(10),
                weight_device: vec![WeightDevice {
                    major: 8,
                    minor: 0,
                    weight: None,
                    leaf_weight: Some(5),
                }],
                throttle_read_iops_device: vec![ThrottleDevice { major: 8, minor: 1, rate: 6 }],
                ..Default::default()
            }),
            hugepage_limits: vec![HugepageLimit { page_size: "2MB".into(), limit: 7 }],
            network: Some(Network {
                class_id: Some(8),
                priorities: vec![InterfacePriority { name: "eth0".into(), priority: 9 }],
            }),
            ..Default::default()
        };
        expect![[r#"
            {
                "memory": {
                    "limit": 1,
                    "kernelTCP": 2,
                    "disableOOMKiller": true
                },
                "cpu": {
                    "shares": 3,
                    "realtimePeriod": 4,
                    "cpus": "0-1"
                },
                "blockIO": {
                    "weight": 10,
                    "weightDevice": [
                        {
                            "major": 8,
                            "minor": 0,
                            "leafWeight": 5
                        }
                    ],
                    "throttleReadIOPSDevice": [
                        {
                            "major": 8,
                            "minor": 1,
                            "rate": 6
                        }
                    ]
                },
                "hugepageLimits": [
                    {
                        "pageSize": "2MB",
                        "limit": 7
                    }
                ],
                "network": {
                    "classID": 8,
                    "priorities": [
                        {
                            "name": "eth0",
                            "priority": 9
                        }
                    ]
                }
            }"#]]
        .assert_eq(&render_text(&resources));
    }
}

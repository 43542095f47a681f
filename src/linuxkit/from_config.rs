//! Conversion from the configuration model ([`crate::config`]) into assembly's input types.
//!
//! The configuration keeps presence for every nested key; runtime-spec's Go structs (which
//! LinuxKit decodes into) do not, so absent nested values become their Go zero values here
//! (`""`, `0`, `false`, empty lists), exactly what LinuxKit's decoder would leave.
//! Image references are kept as written: they are the keys of [`crate::linuxkit::Images`].

use crate::config;
use crate::linuxkit::input::{
    Assembly, BindNs, Device, FileEntry, Id, ImageConfig, ImageObject, Interface, Kernel, Runtime,
    VolumeEntry,
};
use crate::linuxkit::spec::{
    BlockIo, Cpu, DeviceCgroup, HugepageLimit, IdMapping, InterfacePriority, Memory, Mount,
    Network, Pids, Resources, ThrottleDevice, WeightDevice,
};

impl From<&config::Config> for Assembly {
    fn from(config: &config::Config) -> Assembly {
        let objects = |list: &[config::Image]| list.iter().map(ImageObject::from).collect();
        Assembly {
            kernel: config.kernel.as_ref().map(|kernel| Kernel {
                image: kernel.image.as_ref().map(|image| image.written.clone()),
                cmdline: kernel.cmdline.clone().unwrap_or_default(),
                binary: kernel.binary.clone(),
                tar: kernel.tar.clone(),
                ucode: kernel.ucode.clone(),
            }),
            init: config.init.iter().map(|init| init.image.written.clone()).collect(),
            onboot: objects(&config.onboot),
            onshutdown: objects(&config.onshutdown),
            services: objects(&config.services),
            files: config.files.iter().map(FileEntry::from).collect(),
            volumes: config
                .volumes
                .iter()
                .map(|volume| VolumeEntry {
                    name: volume.name.clone(),
                    image: volume.image.as_ref().map(|image| image.written.clone()),
                    readonly: volume.readonly.unwrap_or(false),
                    oci_format: volume.format == Some(config::VolumeFormat::Oci),
                    platforms: volume.platforms.clone().unwrap_or_default(),
                })
                .collect(),
        }
    }
}

impl From<&config::Image> for ImageObject {
    fn from(image: &config::Image) -> ImageObject {
        ImageObject {
            name: image.name.clone(),
            image: image.image.written.clone(),
            config: ImageConfig::from(&image.config),
        }
    }
}

impl From<&config::File> for FileEntry {
    fn from(file: &config::File) -> FileEntry {
        FileEntry {
            path: file.path.clone(),
            directory: file.directory.unwrap_or(false),
            symlink: file.symlink.clone(),
            contents: file.contents.clone(),
            source: file.source.clone(),
            metadata: file.metadata.clone(),
            optional: file.optional.unwrap_or(false),
            mode: file.mode.clone(),
            uid: file.uid.as_ref().map(Id::from),
            gid: file.gid.as_ref().map(Id::from),
        }
    }
}

impl From<&config::Id> for Id {
    fn from(id: &config::Id) -> Id {
        match id {
            config::Id::Number(number) => Id::Number(i64::from(*number)),
            config::Id::Name(name) => Id::Name(name.clone()),
        }
    }
}

impl From<&config::ImageConfig> for ImageConfig {
    fn from(c: &config::ImageConfig) -> ImageConfig {
        ImageConfig {
            capabilities: c.capabilities.clone(),
            capabilities_add: c.capabilities_add.clone(),
            ambient: c.ambient.clone(),
            mounts: c.mounts.as_ref().map(|mounts| mounts.iter().map(mount).collect()),
            binds: c.binds.clone(),
            binds_add: c.binds_add.clone(),
            devices: c.devices.as_ref().map(|devices| {
                devices
                    .iter()
                    .map(|device| Device {
                        path: device.path.clone().unwrap_or_default(),
                        dev_type: device.device_type.clone().unwrap_or_default(),
                        major: device.major.unwrap_or(0),
                        minor: device.minor.unwrap_or(0),
                        mode: device.mode.clone(),
                    })
                    .collect()
            }),
            tmpfs: c.tmpfs.clone(),
            command: c.command.clone(),
            env: c.env.clone(),
            cwd: c.cwd.clone(),
            net: c.net.clone(),
            pid: c.pid.clone(),
            ipc: c.ipc.clone(),
            uts: c.uts.clone(),
            userns: c.userns.clone(),
            hostname: c.hostname.clone(),
            readonly: c.readonly,
            masked_paths: c.masked_paths.clone(),
            readonly_paths: c.readonly_paths.clone(),
            uid: c.uid.as_ref().map(Id::from),
            gid: c.gid.as_ref().map(Id::from),
            additional_gids: c
                .additional_gids
                .as_ref()
                .map(|ids| ids.iter().map(Id::from).collect()),
            no_new_privileges: c.no_new_privileges,
            oom_score_adj: c.oom_score_adj,
            rootfs_propagation: c.rootfs_propagation.clone(),
            cgroups_path: c.cgroups_path.clone(),
            resources: c.resources.as_ref().map(resources),
            sysctl: c.sysctl.clone(),
            rlimits: c.rlimits.clone(),
            uid_mappings: c.uid_mappings.as_ref().map(|m| id_mappings(Some(m))),
            gid_mappings: c.gid_mappings.as_ref().map(|m| id_mappings(Some(m))),
            annotations: c.annotations.clone(),
            runtime: c.runtime.as_ref().map(runtime),
        }
    }
}

fn id_mappings(mappings: Option<&Vec<config::IdMapping>>) -> Vec<IdMapping> {
    mappings
        .into_iter()
        .flatten()
        .map(|m| IdMapping {
            container_id: m.container_id.unwrap_or(0),
            host_id: m.host_id.unwrap_or(0),
            size: m.size.unwrap_or(0),
        })
        .collect()
}

fn mount(m: &config::Mount) -> Mount {
    Mount {
        destination: m.destination.clone().unwrap_or_default(),
        mount_type: m.mount_type.clone().unwrap_or_default(),
        source: m.source.clone().unwrap_or_default(),
        options: m.options.clone().unwrap_or_default(),
        uid_mappings: id_mappings(m.uid_mappings.as_ref()),
        gid_mappings: id_mappings(m.gid_mappings.as_ref()),
    }
}

fn resources(r: &config::Resources) -> Resources {
    let throttle = |list: &Option<Vec<config::ThrottleDevice>>| -> Vec<ThrottleDevice> {
        list.iter()
            .flatten()
            .map(|t| ThrottleDevice {
                major: t.major.unwrap_or(0),
                minor: t.minor.unwrap_or(0),
                rate: t.rate.unwrap_or(0),
            })
            .collect()
    };
    Resources {
        devices: r
            .devices
            .iter()
            .flatten()
            .map(|d| DeviceCgroup {
                allow: d.allow.unwrap_or(false),
                dev_type: d.device_type.clone().unwrap_or_default(),
                major: d.major,
                minor: d.minor,
                access: d.access.clone().unwrap_or_default(),
            })
            .collect(),
        memory: r.memory.as_ref().map(|m| Memory {
            limit: m.limit,
            reservation: m.reservation,
            swap: m.swap,
            kernel: m.kernel,
            kernel_tcp: m.kernel_tcp,
            swappiness: m.swappiness,
            disable_oom_killer: m.disable_oom_killer,
        }),
        cpu: r.cpu.as_ref().map(|c| Cpu {
            shares: c.shares,
            quota: c.quota,
            period: c.period,
            realtime_runtime: c.realtime_runtime,
            realtime_period: c.realtime_period,
            cpus: c.cpus.clone().unwrap_or_default(),
            mems: c.mems.clone().unwrap_or_default(),
        }),
        pids: r.pids.as_ref().map(|p| Pids { limit: p.limit.unwrap_or(0) }),
        block_io: r.block_io.as_ref().map(|b| BlockIo {
            weight: b.weight,
            leaf_weight: b.leaf_weight,
            weight_device: b
                .weight_device
                .iter()
                .flatten()
                .map(|w| WeightDevice {
                    major: w.major.unwrap_or(0),
                    minor: w.minor.unwrap_or(0),
                    weight: w.weight,
                    leaf_weight: w.leaf_weight,
                })
                .collect(),
            throttle_read_bps_device: throttle(&b.throttle_read_bps_device),
            throttle_write_bps_device: throttle(&b.throttle_write_bps_device),
            throttle_read_iops_device: throttle(&b.throttle_read_iops_device),
            throttle_write_iops_device: throttle(&b.throttle_write_iops_device),
        }),
        hugepage_limits: r
            .hugepage_limits
            .iter()
            .flatten()
            .map(|h| HugepageLimit {
                page_size: h.page_size.clone().unwrap_or_default(),
                limit: h.limit.unwrap_or(0),
            })
            .collect(),
        network: r.network.as_ref().map(|n| Network {
            class_id: n.class_id,
            priorities: n
                .priorities
                .iter()
                .flatten()
                .map(|p| InterfacePriority {
                    name: p.name.clone().unwrap_or_default(),
                    priority: p.priority.unwrap_or(0),
                })
                .collect(),
        }),
    }
}

fn runtime(r: &config::Runtime) -> Runtime {
    let bind_ns = r.bind_ns.as_ref();
    let ns = |pick: fn(&config::BindNamespaces) -> &Option<String>| {
        bind_ns.and_then(|b| pick(b).clone())
    };
    Runtime {
        cgroups: r.cgroups.clone(),
        mounts: r.mounts.as_ref().map(|mounts| mounts.iter().map(mount).collect()),
        mkdir: r.mkdir.clone(),
        interfaces: r.interfaces.as_ref().map(|interfaces| {
            interfaces
                .iter()
                .map(|i| Interface {
                    name: i.name.clone().unwrap_or_default(),
                    add: i.add.clone().unwrap_or_default(),
                    peer: i.peer.clone().unwrap_or_default(),
                    create_in_root: i.create_in_root.unwrap_or(false),
                })
                .collect()
        }),
        bind_ns: BindNs {
            cgroup: ns(|b| &b.cgroup),
            ipc: ns(|b| &b.ipc),
            mnt: ns(|b| &b.mnt),
            net: ns(|b| &b.net),
            pid: ns(|b| &b.pid),
            user: ns(|b| &b.user),
            uts: ns(|b| &b.uts),
        },
        namespace: r.namespace.clone(),
    }
}

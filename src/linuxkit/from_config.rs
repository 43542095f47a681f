//! Conversions from the configuration model's nested values ([`crate::config`]) into the
//! runtime-spec output types of [`crate::linuxkit::spec`].
//!
//! The configuration keeps presence for every nested key; runtime-spec's Go structs (which
//! LinuxKit decodes into) do not, so absent nested values become their Go zero values here
//! (`""`, `0`, `false`, empty lists), exactly what LinuxKit's decoder would leave.

use crate::config;
use crate::linuxkit::spec::{
    BlockIo, Cpu, DeviceCgroup, HugepageLimit, IdMapping, Interface, InterfacePriority, Memory,
    Mount, Network, Pids, Resources, ThrottleDevice, WeightDevice,
};

impl From<&config::IdMapping> for IdMapping {
    fn from(m: &config::IdMapping) -> IdMapping {
        IdMapping {
            container_id: m.container_id.unwrap_or(0),
            host_id: m.host_id.unwrap_or(0),
            size: m.size.unwrap_or(0),
        }
    }
}

/// Every mapping of an optional list (none when absent).
pub(crate) fn id_mappings(mappings: Option<&Vec<config::IdMapping>>) -> Vec<IdMapping> {
    mappings.into_iter().flatten().map(IdMapping::from).collect()
}

impl From<&config::Mount> for Mount {
    fn from(m: &config::Mount) -> Mount {
        Mount {
            destination: m.destination.clone().unwrap_or_default(),
            mount_type: m.mount_type.clone().unwrap_or_default(),
            source: m.source.clone().unwrap_or_default(),
            options: m.options.clone().unwrap_or_default(),
            uid_mappings: id_mappings(m.uid_mappings.as_ref()),
            gid_mappings: id_mappings(m.gid_mappings.as_ref()),
        }
    }
}

impl From<&config::Interface> for Interface {
    fn from(i: &config::Interface) -> Interface {
        Interface {
            name: i.name.clone().unwrap_or_default(),
            add: i.add.clone().unwrap_or_default(),
            peer: i.peer.clone().unwrap_or_default(),
            create_in_root: i.create_in_root.unwrap_or(false),
        }
    }
}

impl From<&config::Resources> for Resources {
    fn from(r: &config::Resources) -> Resources {
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
}

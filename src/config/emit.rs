//! Rendering a configuration: the normalized form (`kit validate`) and LinuxKit's metadata.
//!
//! Both go through a small ordered value tree ([`Out`]) and two writers: YAML in the style of
//! Go's yaml.v2 (sequences at the parent key's indentation, literal blocks for multi-line
//! strings, double quotes where a plain scalar would read back as something else) and JSON in
//! the style of Go's `json.MarshalIndent` (with its HTML escaping of `<`, `>` and `&`).
//!
//! The normalized form lists keys in the schema's order, only keys that were present, and
//! image references as written. The metadata form follows LinuxKit's `metadata()`: the
//! `Moby` struct marshalled by yaml.v2 or `json.MarshalIndent(m, "", "    ")`, with image
//! references expanded (`UpdateImages`) except those of volumes, and Go's zero-value rules.

use std::collections::BTreeMap;

use super::model::*;

/// An ordered value ready to be written as YAML or JSON.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Out {
    Null,
    Bool(bool),
    Int(i128),
    Str(String),
    Seq(Vec<Out>),
    Map(Vec<(String, Out)>),
}

/// Builds a mapping, skipping absent values.
#[derive(Default)]
struct MapBuilder(Vec<(String, Out)>);

impl MapBuilder {
    fn put(&mut self, key: &str, value: Out) {
        self.0.push((key.to_owned(), value));
    }

    fn opt(&mut self, key: &str, value: Option<Out>) {
        if let Some(value) = value {
            self.put(key, value);
        }
    }

    fn done(self) -> Out {
        Out::Map(self.0)
    }
}

fn s(text: &str) -> Out {
    Out::Str(text.to_owned())
}

fn strs(list: &[String]) -> Out {
    Out::Seq(list.iter().map(|x| s(x)).collect())
}

fn int(n: impl Into<i128>) -> Out {
    Out::Int(n.into())
}

fn id(value: &Id) -> Out {
    match value {
        Id::Number(n) => int(*n),
        Id::Name(name) => s(name),
    }
}

fn string_map(map: &BTreeMap<String, String>) -> Out {
    Out::Map(map.iter().map(|(k, v)| (k.clone(), s(v))).collect())
}

// ---------------------------------------------------------------------------------------
// The normalized form.

pub(crate) fn normalized(config: &Config) -> Out {
    let mut m = MapBuilder::default();
    if let Some(kernel) = &config.kernel {
        let mut k = MapBuilder::default();
        k.opt("image", kernel.image.as_ref().map(|i| s(&i.written)));
        k.opt("cmdline", kernel.cmdline.as_deref().map(s));
        k.opt("binary", kernel.binary.as_deref().map(s));
        k.opt("tar", kernel.tar.as_deref().map(s));
        k.opt("ucode", kernel.ucode.as_deref().map(s));
        m.put("kernel", k.done());
    }
    if !config.init.is_empty() {
        m.put("init", Out::Seq(config.init.iter().map(|i| s(&i.image.written)).collect()));
    }
    for (key, list) in [
        ("onboot", &config.onboot),
        ("onshutdown", &config.onshutdown),
        ("services", &config.services),
    ] {
        if !list.is_empty() {
            m.put(key, Out::Seq(list.iter().map(normalized_image).collect()));
        }
    }
    if let Some(trust) = &config.trust {
        let mut t = MapBuilder::default();
        t.opt("image", trust.image.as_deref().map(strs));
        t.opt("org", trust.org.as_deref().map(strs));
        m.put("trust", t.done());
    }
    if !config.files.is_empty() {
        m.put("files", Out::Seq(config.files.iter().map(normalized_file).collect()));
    }
    if !config.volumes.is_empty() {
        m.put("volumes", Out::Seq(config.volumes.iter().map(normalized_volume).collect()));
    }
    m.done()
}

fn normalized_image(image: &Image) -> Out {
    let mut m = MapBuilder::default();
    m.put("name", s(&image.name));
    m.put("image", s(&image.image.written));
    let Out::Map(rest) = normalized_image_config(&image.config) else {
        return m.done();
    };
    m.0.extend(rest);
    m.done()
}

/// The per-image keys in the schema's order, only those present.
pub(crate) fn normalized_image_config(c: &ImageConfig) -> Out {
    let mut m = MapBuilder::default();
    m.opt("capabilities", c.capabilities.as_deref().map(strs));
    m.opt("capabilities.add", c.capabilities_add.as_deref().map(strs));
    m.opt("ambient", c.ambient.as_deref().map(strs));
    m.opt("mounts", c.mounts.as_deref().map(normalized_mounts));
    m.opt("binds", c.binds.as_deref().map(strs));
    m.opt("binds.add", c.binds_add.as_deref().map(strs));
    m.opt(
        "devices",
        c.devices.as_deref().map(|list| {
            Out::Seq(
                list.iter()
                    .map(|d| {
                        let mut m = MapBuilder::default();
                        m.opt("path", d.path.as_deref().map(s));
                        m.opt("type", d.device_type.as_deref().map(s));
                        m.opt("major", d.major.map(int));
                        m.opt("minor", d.minor.map(int));
                        m.opt("mode", d.mode.as_deref().map(s));
                        m.done()
                    })
                    .collect(),
            )
        }),
    );
    m.opt("tmpfs", c.tmpfs.as_deref().map(strs));
    m.opt("command", c.command.as_deref().map(strs));
    m.opt("env", c.env.as_deref().map(strs));
    m.opt("cwd", c.cwd.as_deref().map(s));
    m.opt("net", c.net.as_deref().map(s));
    m.opt("pid", c.pid.as_deref().map(s));
    m.opt("ipc", c.ipc.as_deref().map(s));
    m.opt("uts", c.uts.as_deref().map(s));
    m.opt("userns", c.userns.as_deref().map(s));
    m.opt("readonly", c.readonly.map(Out::Bool));
    m.opt("maskedPaths", c.masked_paths.as_deref().map(strs));
    m.opt("readonlyPaths", c.readonly_paths.as_deref().map(strs));
    m.opt("uid", c.uid.as_ref().map(id));
    m.opt("gid", c.gid.as_ref().map(id));
    m.opt(
        "additionalGids",
        c.additional_gids.as_ref().map(|l| Out::Seq(l.iter().map(id).collect())),
    );
    m.opt("noNewPrivileges", c.no_new_privileges.map(Out::Bool));
    m.opt("hostname", c.hostname.as_deref().map(s));
    m.opt("oomScoreAdj", c.oom_score_adj.map(int));
    m.opt("rootfsPropagation", c.rootfs_propagation.as_deref().map(s));
    m.opt("cgroupsPath", c.cgroups_path.as_deref().map(s));
    m.opt("resources", c.resources.as_ref().map(normalized_resources));
    m.opt("sysctl", c.sysctl.as_ref().map(string_map));
    m.opt("rlimits", c.rlimits.as_deref().map(strs));
    m.opt("uidMappings", c.uid_mappings.as_deref().map(normalized_id_mappings));
    m.opt("gidMappings", c.gid_mappings.as_deref().map(normalized_id_mappings));
    m.opt("annotations", c.annotations.as_ref().map(string_map));
    m.opt(
        "runtime",
        c.runtime.as_ref().map(|r| {
            let mut m = MapBuilder::default();
            m.opt("cgroups", r.cgroups.as_deref().map(strs));
            m.opt("mounts", r.mounts.as_deref().map(normalized_mounts));
            m.opt("mkdir", r.mkdir.as_deref().map(strs));
            m.opt(
                "interfaces",
                r.interfaces.as_deref().map(|list| {
                    Out::Seq(
                        list.iter()
                            .map(|i| {
                                let mut m = MapBuilder::default();
                                m.opt("name", i.name.as_deref().map(s));
                                m.opt("add", i.add.as_deref().map(s));
                                m.opt("peer", i.peer.as_deref().map(s));
                                m.opt("createInRoot", i.create_in_root.map(Out::Bool));
                                m.done()
                            })
                            .collect(),
                    )
                }),
            );
            m.opt(
                "bindNS",
                r.bind_ns.as_ref().map(|b| {
                    let mut m = MapBuilder::default();
                    m.opt("cgroup", b.cgroup.as_deref().map(s));
                    m.opt("ipc", b.ipc.as_deref().map(s));
                    m.opt("mnt", b.mnt.as_deref().map(s));
                    m.opt("net", b.net.as_deref().map(s));
                    m.opt("pid", b.pid.as_deref().map(s));
                    m.opt("user", b.user.as_deref().map(s));
                    m.opt("uts", b.uts.as_deref().map(s));
                    m.done()
                }),
            );
            m.opt("namespace", r.namespace.as_deref().map(s));
            m.done()
        }),
    );
    m.done()
}

fn normalized_mounts(list: &[Mount]) -> Out {
    Out::Seq(
        list.iter()
            .map(|mount| {
                let mut m = MapBuilder::default();
                m.opt("destination", mount.destination.as_deref().map(s));
                m.opt("type", mount.mount_type.as_deref().map(s));
                m.opt("source", mount.source.as_deref().map(s));
                m.opt("options", mount.options.as_deref().map(strs));
                m.opt("uidmappings", mount.uid_mappings.as_deref().map(normalized_id_mappings));
                m.opt("gidmappings", mount.gid_mappings.as_deref().map(normalized_id_mappings));
                m.done()
            })
            .collect(),
    )
}

fn normalized_id_mappings(list: &[IdMapping]) -> Out {
    Out::Seq(
        list.iter()
            .map(|x| {
                let mut m = MapBuilder::default();
                m.opt("containerID", x.container_id.map(int));
                m.opt("hostID", x.host_id.map(int));
                m.opt("size", x.size.map(int));
                m.done()
            })
            .collect(),
    )
}

fn normalized_resources(r: &Resources) -> Out {
    let mut m = MapBuilder::default();
    m.opt(
        "devices",
        r.devices.as_deref().map(|list| {
            Out::Seq(
                list.iter()
                    .map(|d| {
                        let mut m = MapBuilder::default();
                        m.opt("allow", d.allow.map(Out::Bool));
                        m.opt("type", d.device_type.as_deref().map(s));
                        m.opt("major", d.major.map(int));
                        m.opt("minor", d.minor.map(int));
                        m.opt("access", d.access.as_deref().map(s));
                        m.done()
                    })
                    .collect(),
            )
        }),
    );
    m.opt(
        "memory",
        r.memory.as_ref().map(|x| {
            let mut m = MapBuilder::default();
            m.opt("limit", x.limit.map(int));
            m.opt("reservation", x.reservation.map(int));
            m.opt("swap", x.swap.map(int));
            m.opt("kernel", x.kernel.map(int));
            m.opt("kernelTCP", x.kernel_tcp.map(int));
            m.opt("swappiness", x.swappiness.map(int));
            m.opt("disableOOMKiller", x.disable_oom_killer.map(Out::Bool));
            m.done()
        }),
    );
    m.opt(
        "cpu",
        r.cpu.as_ref().map(|x| {
            let mut m = MapBuilder::default();
            m.opt("shares", x.shares.map(int));
            m.opt("quota", x.quota.map(int));
            m.opt("period", x.period.map(int));
            m.opt("realtimeRuntime", x.realtime_runtime.map(int));
            m.opt("realtimePeriod", x.realtime_period.map(int));
            m.opt("cpus", x.cpus.as_deref().map(s));
            m.opt("mems", x.mems.as_deref().map(s));
            m.done()
        }),
    );
    m.opt(
        "pids",
        r.pids.as_ref().map(|x| {
            let mut m = MapBuilder::default();
            m.opt("limit", x.limit.map(int));
            m.done()
        }),
    );
    m.opt(
        "blockio",
        r.block_io.as_ref().map(|b| {
            let mut m = MapBuilder::default();
            m.opt("weight", b.weight.map(int));
            m.opt("leafWeight", b.leaf_weight.map(int));
            m.opt(
                "weightDevice",
                b.weight_device.as_deref().map(|list| {
                    Out::Seq(
                        list.iter()
                            .map(|d| {
                                let mut m = MapBuilder::default();
                                m.opt("major", d.major.map(int));
                                m.opt("minor", d.minor.map(int));
                                m.opt("weight", d.weight.map(int));
                                m.opt("leafWeight", d.leaf_weight.map(int));
                                m.done()
                            })
                            .collect(),
                    )
                }),
            );
            for (key, list) in [
                ("throttleReadBpsDevice", &b.throttle_read_bps_device),
                ("throttleWriteBpsDevice", &b.throttle_write_bps_device),
                ("throttleReadIOPSDevice", &b.throttle_read_iops_device),
                ("throttleWriteIOPSDevice", &b.throttle_write_iops_device),
            ] {
                m.opt(
                    key,
                    list.as_deref().map(|list| {
                        Out::Seq(
                            list.iter()
                                .map(|d| {
                                    let mut m = MapBuilder::default();
                                    m.opt("major", d.major.map(int));
                                    m.opt("minor", d.minor.map(int));
                                    m.opt("rate", d.rate.map(int));
                                    m.done()
                                })
                                .collect(),
                        )
                    }),
                );
            }
            m.done()
        }),
    );
    m.opt(
        "hugepageLimits",
        r.hugepage_limits.as_deref().map(|list| {
            Out::Seq(
                list.iter()
                    .map(|h| {
                        let mut m = MapBuilder::default();
                        m.opt("pageSize", h.page_size.as_deref().map(s));
                        m.opt("limit", h.limit.map(int));
                        m.done()
                    })
                    .collect(),
            )
        }),
    );
    m.opt(
        "network",
        r.network.as_ref().map(|n| {
            let mut m = MapBuilder::default();
            m.opt("classID", n.class_id.map(int));
            m.opt(
                "priorities",
                n.priorities.as_deref().map(|list| {
                    Out::Seq(
                        list.iter()
                            .map(|p| {
                                let mut m = MapBuilder::default();
                                m.opt("name", p.name.as_deref().map(s));
                                m.opt("priority", p.priority.map(int));
                                m.done()
                            })
                            .collect(),
                    )
                }),
            );
            m.done()
        }),
    );
    m.done()
}

fn normalized_file(f: &File) -> Out {
    let mut m = MapBuilder::default();
    m.put("path", s(&f.path));
    m.opt("directory", f.directory.map(Out::Bool));
    m.opt("symlink", f.symlink.as_deref().map(s));
    m.opt("contents", f.contents.as_deref().map(s));
    m.opt("source", f.source.as_deref().map(s));
    m.opt("metadata", f.metadata.as_deref().map(s));
    m.opt("optional", f.optional.map(Out::Bool));
    m.opt("mode", f.mode.as_deref().map(s));
    m.opt("uid", f.uid.as_ref().map(id));
    m.opt("gid", f.gid.as_ref().map(id));
    m.done()
}

fn normalized_volume(v: &Volume) -> Out {
    let mut m = MapBuilder::default();
    m.put("name", s(&v.name));
    m.opt("image", v.image.as_ref().map(|i| s(&i.written)));
    m.opt("readonly", v.readonly.map(Out::Bool));
    m.opt("format", v.format.map(|f| s(f.as_str())));
    m.opt("platforms", v.platforms.as_deref().map(strs));
    m.done()
}

// ---------------------------------------------------------------------------------------
// LinuxKit's metadata: Go marshalling of the Moby struct.

/// Which Go marshaller to imitate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Go {
    /// gopkg.in/yaml.v2: yaml tags; untagged (runtime-spec) structs use lower-cased field
    /// names and never omit anything (nil pointers are null, nil slices `[]`, nil maps `{}`).
    Yaml,
    /// encoding/json: json tags with their omitempty; nil slices are null.
    Json,
}

pub(crate) fn metadata(config: &Config, go: Go) -> Out {
    let mut m = MapBuilder::default();
    let kernel = config.kernel.clone().unwrap_or_default();
    let mut k = MapBuilder::default();
    let image = kernel.image.as_ref().map(|i| i.reference.to_string()).unwrap_or_default();
    k.put("image", s(&image));
    k.opt("cmdline", kernel.cmdline.as_deref().filter(|c| !c.is_empty()).map(s));
    k.opt("binary", kernel.binary.as_deref().filter(|c| !c.is_empty()).map(s));
    k.opt("tar", kernel.tar.as_deref().map(s));
    k.opt("ucode", kernel.ucode.as_deref().map(s));
    m.put("kernel", k.done());
    let list = |items: Vec<Out>| {
        if items.is_empty() && go == Go::Json { Out::Null } else { Out::Seq(items) }
    };
    m.put("init", list(config.init.iter().map(|i| s(&i.image.reference.to_string())).collect()));
    for (key, images) in [
        ("onboot", &config.onboot),
        ("onshutdown", &config.onshutdown),
        ("services", &config.services),
    ] {
        m.put(key, list(images.iter().map(|i| go_image(i, go)).collect()));
    }
    m.put("files", list(config.files.iter().map(go_file).collect()));
    m.put("volumes", list(config.volumes.iter().map(go_volume).collect()));
    m.done()
}

fn go_image(image: &Image, go: Go) -> Out {
    let c = &image.config;
    let mut m = MapBuilder::default();
    m.put("name", s(&image.name));
    m.put("image", s(&image.image.reference.to_string()));
    // Go struct order of ImageConfig; pointers are emitted when set, strings when non-empty.
    let nonempty = |v: &Option<String>| v.as_deref().filter(|x| !x.is_empty()).map(s);
    m.opt("capabilities", c.capabilities.as_deref().map(strs));
    m.opt("capabilities.add", c.capabilities_add.as_deref().map(strs));
    m.opt("ambient", c.ambient.as_deref().map(strs));
    m.opt("mounts", c.mounts.as_deref().map(|l| go_mounts(l, go)));
    m.opt("binds", c.binds.as_deref().map(strs));
    m.opt("binds.add", c.binds_add.as_deref().map(strs));
    m.opt(
        "devices",
        c.devices.as_deref().map(|list| {
            Out::Seq(
                list.iter()
                    .map(|d| {
                        let mut m = MapBuilder::default();
                        m.put("path", s(d.path.as_deref().unwrap_or("")));
                        m.put("type", s(d.device_type.as_deref().unwrap_or("")));
                        m.put("major", int(d.major.unwrap_or(0)));
                        m.put("minor", int(d.minor.unwrap_or(0)));
                        m.opt("mode", nonempty(&d.mode));
                        m.done()
                    })
                    .collect(),
            )
        }),
    );
    m.opt("tmpfs", c.tmpfs.as_deref().map(strs));
    m.opt("command", c.command.as_deref().map(strs));
    m.opt("env", c.env.as_deref().map(strs));
    m.opt("cwd", nonempty(&c.cwd));
    m.opt("net", nonempty(&c.net));
    m.opt("pid", nonempty(&c.pid));
    m.opt("ipc", nonempty(&c.ipc));
    m.opt("uts", nonempty(&c.uts));
    m.opt("userns", nonempty(&c.userns));
    m.opt("hostname", nonempty(&c.hostname));
    m.opt("readonly", c.readonly.map(Out::Bool));
    m.opt("maskedPaths", c.masked_paths.as_deref().map(strs));
    m.opt("readonlyPaths", c.readonly_paths.as_deref().map(strs));
    m.opt("uid", c.uid.as_ref().map(id));
    m.opt("gid", c.gid.as_ref().map(id));
    m.opt(
        "additionalGids",
        c.additional_gids.as_ref().map(|l| Out::Seq(l.iter().map(id).collect())),
    );
    m.opt("noNewPrivileges", c.no_new_privileges.map(Out::Bool));
    m.opt("oomScoreAdj", c.oom_score_adj.map(int));
    m.opt("rootfsPropagation", c.rootfs_propagation.as_deref().map(s));
    m.opt("cgroupsPath", c.cgroups_path.as_deref().map(s));
    m.opt("resources", c.resources.as_ref().map(|r| go_resources(r, go)));
    m.opt("sysctl", c.sysctl.as_ref().map(string_map));
    m.opt("rlimits", c.rlimits.as_deref().map(strs));
    m.opt("uidMappings", c.uid_mappings.as_deref().map(|l| go_id_mappings(l, go)));
    m.opt("gidMappings", c.gid_mappings.as_deref().map(|l| go_id_mappings(l, go)));
    m.opt("annotations", c.annotations.as_ref().map(string_map));
    m.opt("runtime", c.runtime.as_ref().map(|r| go_runtime(r, go)));
    m.done()
}

/// The key of a runtime-spec field: the json tag, or the lower-cased Go field name for yaml.v2.
fn spec_key(go: Go, json: &str) -> String {
    match go {
        Go::Json => json.to_owned(),
        Go::Yaml => json.to_ascii_lowercase(),
    }
}

/// A runtime-spec field with `omitempty` in its json tag (yaml.v2 never omits).
fn spec_opt(m: &mut MapBuilder, go: Go, json: &str, value: Option<Out>, yaml_zero: Out) {
    match (value, go) {
        (Some(v), _) => m.put(&spec_key(go, json), v),
        (None, Go::Yaml) => m.put(&spec_key(go, json), yaml_zero),
        (None, Go::Json) => {}
    }
}

fn go_mounts(list: &[Mount], go: Go) -> Out {
    Out::Seq(
        list.iter()
            .map(|mount| {
                let mut m = MapBuilder::default();
                m.put(&spec_key(go, "destination"), s(mount.destination.as_deref().unwrap_or("")));
                let text = |v: &Option<String>| v.as_deref().filter(|x| !x.is_empty()).map(s);
                spec_opt(&mut m, go, "type", text(&mount.mount_type), s(""));
                spec_opt(&mut m, go, "source", text(&mount.source), s(""));
                let list =
                    |v: &Option<Vec<String>>| v.as_deref().filter(|x| !x.is_empty()).map(strs);
                spec_opt(&mut m, go, "options", list(&mount.options), Out::Seq(vec![]));
                for (key, maps) in
                    [("uidMappings", &mount.uid_mappings), ("gidMappings", &mount.gid_mappings)]
                {
                    let value =
                        maps.as_deref().filter(|x| !x.is_empty()).map(|l| go_id_mappings(l, go));
                    spec_opt(&mut m, go, key, value, Out::Seq(vec![]));
                }
                m.done()
            })
            .collect(),
    )
}

fn go_id_mappings(list: &[IdMapping], go: Go) -> Out {
    Out::Seq(
        list.iter()
            .map(|x| {
                let mut m = MapBuilder::default();
                m.put(&spec_key(go, "containerID"), int(x.container_id.unwrap_or(0)));
                m.put(&spec_key(go, "hostID"), int(x.host_id.unwrap_or(0)));
                m.put(&spec_key(go, "size"), int(x.size.unwrap_or(0)));
                m.done()
            })
            .collect(),
    )
}

fn go_resources(r: &Resources, go: Go) -> Out {
    let mut m = MapBuilder::default();
    let nonempty_seq = |items: Vec<Out>| (!items.is_empty()).then_some(Out::Seq(items));
    let devices = r.devices.as_deref().and_then(|list| {
        nonempty_seq(
            list.iter()
                .map(|d| {
                    let mut m = MapBuilder::default();
                    m.put(&spec_key(go, "allow"), Out::Bool(d.allow.unwrap_or(false)));
                    let t = d.device_type.as_deref().filter(|x| !x.is_empty()).map(s);
                    spec_opt(&mut m, go, "type", t, s(""));
                    spec_opt(&mut m, go, "major", d.major.map(int), Out::Null);
                    spec_opt(&mut m, go, "minor", d.minor.map(int), Out::Null);
                    let a = d.access.as_deref().filter(|x| !x.is_empty()).map(s);
                    spec_opt(&mut m, go, "access", a, s(""));
                    m.done()
                })
                .collect(),
        )
    });
    spec_opt(&mut m, go, "devices", devices, Out::Seq(vec![]));
    let memory = r.memory.as_ref().map(|x| {
        let mut m = MapBuilder::default();
        spec_opt(&mut m, go, "limit", x.limit.map(int), Out::Null);
        spec_opt(&mut m, go, "reservation", x.reservation.map(int), Out::Null);
        spec_opt(&mut m, go, "swap", x.swap.map(int), Out::Null);
        spec_opt(&mut m, go, "kernel", x.kernel.map(int), Out::Null);
        spec_opt(&mut m, go, "kernelTCP", x.kernel_tcp.map(int), Out::Null);
        spec_opt(&mut m, go, "swappiness", x.swappiness.map(int), Out::Null);
        spec_opt(&mut m, go, "disableOOMKiller", x.disable_oom_killer.map(Out::Bool), Out::Null);
        spec_opt(&mut m, go, "useHierarchy", None, Out::Null);
        spec_opt(&mut m, go, "checkBeforeUpdate", None, Out::Null);
        m.done()
    });
    spec_opt(&mut m, go, "memory", memory, Out::Null);
    let cpu = r.cpu.as_ref().map(|x| {
        let mut m = MapBuilder::default();
        spec_opt(&mut m, go, "shares", x.shares.map(int), Out::Null);
        spec_opt(&mut m, go, "quota", x.quota.map(int), Out::Null);
        spec_opt(&mut m, go, "burst", None, Out::Null);
        spec_opt(&mut m, go, "period", x.period.map(int), Out::Null);
        spec_opt(&mut m, go, "realtimeRuntime", x.realtime_runtime.map(int), Out::Null);
        spec_opt(&mut m, go, "realtimePeriod", x.realtime_period.map(int), Out::Null);
        spec_opt(&mut m, go, "cpus", x.cpus.as_deref().filter(|v| !v.is_empty()).map(s), s(""));
        spec_opt(&mut m, go, "mems", x.mems.as_deref().filter(|v| !v.is_empty()).map(s), s(""));
        spec_opt(&mut m, go, "idle", None, Out::Null);
        m.done()
    });
    spec_opt(&mut m, go, "cpu", cpu, Out::Null);
    let pids = r.pids.as_ref().map(|x| {
        let mut m = MapBuilder::default();
        m.put(&spec_key(go, "limit"), int(x.limit.unwrap_or(0)));
        m.done()
    });
    spec_opt(&mut m, go, "pids", pids, Out::Null);
    let block_io = r.block_io.as_ref().map(|b| go_block_io(b, go));
    spec_opt(&mut m, go, "blockIO", block_io, Out::Null);
    let hugepages = r.hugepage_limits.as_deref().and_then(|list| {
        nonempty_seq(
            list.iter()
                .map(|h| {
                    let mut m = MapBuilder::default();
                    m.put(&spec_key(go, "pageSize"), s(h.page_size.as_deref().unwrap_or("")));
                    m.put(&spec_key(go, "limit"), int(h.limit.unwrap_or(0)));
                    m.done()
                })
                .collect(),
        )
    });
    spec_opt(&mut m, go, "hugepageLimits", hugepages, Out::Seq(vec![]));
    let network = r.network.as_ref().map(|n| {
        let mut m = MapBuilder::default();
        spec_opt(&mut m, go, "classID", n.class_id.map(int), Out::Null);
        let priorities = n.priorities.as_deref().and_then(|list| {
            nonempty_seq(
                list.iter()
                    .map(|p| {
                        let mut m = MapBuilder::default();
                        m.put(&spec_key(go, "name"), s(p.name.as_deref().unwrap_or("")));
                        m.put(&spec_key(go, "priority"), int(p.priority.unwrap_or(0)));
                        m.done()
                    })
                    .collect(),
            )
        });
        spec_opt(&mut m, go, "priorities", priorities, Out::Seq(vec![]));
        m.done()
    });
    spec_opt(&mut m, go, "network", network, Out::Null);
    spec_opt(&mut m, go, "rdma", None, Out::Map(vec![]));
    spec_opt(&mut m, go, "unified", None, Out::Map(vec![]));
    m.done()
}

fn go_block_io(b: &BlockIo, go: Go) -> Out {
    let mut m = MapBuilder::default();
    spec_opt(&mut m, go, "weight", b.weight.map(int), Out::Null);
    spec_opt(&mut m, go, "leafWeight", b.leaf_weight.map(int), Out::Null);
    // The embedded LinuxBlockIODevice: promoted by encoding/json, a nested key for yaml.v2.
    let device = |m: &mut MapBuilder, major: Option<i64>, minor: Option<i64>| match go {
        Go::Json => {
            m.put("major", int(major.unwrap_or(0)));
            m.put("minor", int(minor.unwrap_or(0)));
        }
        Go::Yaml => {
            let mut d = MapBuilder::default();
            d.put("major", int(major.unwrap_or(0)));
            d.put("minor", int(minor.unwrap_or(0)));
            m.put("linuxblockiodevice", d.done());
        }
    };
    let weight_devices = b.weight_device.as_deref().filter(|l| !l.is_empty()).map(|list| {
        Out::Seq(
            list.iter()
                .map(|d| {
                    let mut m = MapBuilder::default();
                    device(&mut m, d.major, d.minor);
                    spec_opt(&mut m, go, "weight", d.weight.map(int), Out::Null);
                    spec_opt(&mut m, go, "leafWeight", d.leaf_weight.map(int), Out::Null);
                    m.done()
                })
                .collect(),
        )
    });
    spec_opt(&mut m, go, "weightDevice", weight_devices, Out::Seq(vec![]));
    for (key, list) in [
        ("throttleReadBpsDevice", &b.throttle_read_bps_device),
        ("throttleWriteBpsDevice", &b.throttle_write_bps_device),
        ("throttleReadIOPSDevice", &b.throttle_read_iops_device),
        ("throttleWriteIOPSDevice", &b.throttle_write_iops_device),
    ] {
        let value = list.as_deref().filter(|l| !l.is_empty()).map(|list| {
            Out::Seq(
                list.iter()
                    .map(|d| {
                        let mut m = MapBuilder::default();
                        device(&mut m, d.major, d.minor);
                        m.put("rate", int(d.rate.unwrap_or(0)));
                        m.done()
                    })
                    .collect(),
            )
        });
        spec_opt(&mut m, go, key, value, Out::Seq(vec![]));
    }
    m.done()
}

fn go_runtime(r: &Runtime, go: Go) -> Out {
    let mut m = MapBuilder::default();
    m.opt("cgroups", r.cgroups.as_deref().map(strs));
    m.opt("mounts", r.mounts.as_deref().map(|l| go_mounts(l, go)));
    m.opt("mkdir", r.mkdir.as_deref().map(strs));
    m.opt(
        "interfaces",
        r.interfaces.as_deref().map(|list| {
            Out::Seq(
                list.iter()
                    .map(|i| {
                        let mut m = MapBuilder::default();
                        let text =
                            |v: &Option<String>| v.as_deref().filter(|x| !x.is_empty()).map(s);
                        m.opt("name", text(&i.name));
                        m.opt("add", text(&i.add));
                        m.opt("peer", text(&i.peer));
                        m.put("createInRoot", Out::Bool(i.create_in_root.unwrap_or(false)));
                        m.done()
                    })
                    .collect(),
            )
        }),
    );
    let b = r.bind_ns.clone().unwrap_or_default();
    let mut ns = MapBuilder::default();
    ns.opt("cgroup", b.cgroup.as_deref().map(s));
    ns.opt("ipc", b.ipc.as_deref().map(s));
    ns.opt("mnt", b.mnt.as_deref().map(s));
    ns.opt("net", b.net.as_deref().map(s));
    ns.opt("pid", b.pid.as_deref().map(s));
    ns.opt("user", b.user.as_deref().map(s));
    ns.opt("uts", b.uts.as_deref().map(s));
    let ns = ns.done();
    // yaml.v2 omits a zero struct with omitempty; encoding/json never omits a struct.
    let empty = matches!(&ns, Out::Map(entries) if entries.is_empty());
    if go == Go::Json || !empty {
        m.put("bindNS", ns);
    }
    m.opt("namespace", r.namespace.as_deref().map(s));
    m.done()
}

fn go_file(f: &File) -> Out {
    let mut m = MapBuilder::default();
    let nonempty = |v: &Option<String>| v.as_deref().filter(|x| !x.is_empty()).map(s);
    m.put("path", s(&f.path));
    m.put("directory", Out::Bool(f.directory.unwrap_or(false)));
    m.opt("symlink", nonempty(&f.symlink));
    m.opt("contents", f.contents.as_deref().map(s));
    m.opt("source", nonempty(&f.source));
    m.opt("metadata", nonempty(&f.metadata));
    m.put("optional", Out::Bool(f.optional.unwrap_or(false)));
    m.opt("mode", nonempty(&f.mode));
    m.opt("uid", f.uid.as_ref().map(id));
    m.opt("gid", f.gid.as_ref().map(id));
    m.done()
}

fn go_volume(v: &Volume) -> Out {
    let mut m = MapBuilder::default();
    m.put("name", s(&v.name));
    m.opt("image", v.image.as_ref().map(|i| s(&i.written)));
    m.opt("readonly", v.readonly.filter(|r| *r).map(Out::Bool));
    m.opt("format", v.format.map(|f| s(f.as_str())));
    m.opt("platforms", v.platforms.as_deref().filter(|p| !p.is_empty()).map(strs));
    m.done()
}

// ---------------------------------------------------------------------------------------
// Writers.

/// Writes YAML in yaml.v2's block style.
pub(crate) fn to_yaml(out: &Out) -> String {
    let mut text = String::new();
    match out {
        Out::Map(entries) if !entries.is_empty() => yaml_map(entries, 0, &mut text),
        Out::Seq(items) if !items.is_empty() => yaml_seq(items, 0, &mut text),
        other => {
            text.push_str(&yaml_inline(other, 0));
            text.push('\n');
        }
    }
    text
}

fn yaml_map(entries: &[(String, Out)], indent: usize, text: &mut String) {
    for (idx, (key, value)) in entries.iter().enumerate() {
        if idx > 0 {
            text.push_str(&" ".repeat(indent));
        }
        text.push_str(&yaml_scalar(key, indent, true));
        text.push(':');
        match value {
            Out::Map(inner) if !inner.is_empty() => {
                text.push('\n');
                text.push_str(&" ".repeat(indent + 2));
                yaml_map(inner, indent + 2, text);
            }
            Out::Seq(items) if !items.is_empty() => {
                text.push('\n');
                text.push_str(&" ".repeat(indent));
                yaml_seq(items, indent, text);
            }
            other => {
                text.push(' ');
                text.push_str(&yaml_inline(other, indent));
                text.push('\n');
            }
        }
    }
}

fn yaml_seq(items: &[Out], indent: usize, text: &mut String) {
    for (idx, item) in items.iter().enumerate() {
        if idx > 0 {
            text.push_str(&" ".repeat(indent));
        }
        text.push_str("- ");
        match item {
            Out::Map(inner) if !inner.is_empty() => yaml_map(inner, indent + 2, text),
            Out::Seq(inner) if !inner.is_empty() => yaml_seq(inner, indent + 2, text),
            other => {
                // Block scalar content goes at the item's column (dash column + 2).
                text.push_str(&yaml_inline(other, indent));
                text.push('\n');
            }
        }
    }
}

fn yaml_inline(out: &Out, indent: usize) -> String {
    match out {
        Out::Null => "null".into(),
        Out::Bool(b) => b.to_string(),
        Out::Int(n) => n.to_string(),
        Out::Str(text) => yaml_scalar(text, indent, false),
        Out::Seq(_) => "[]".into(),
        Out::Map(_) => "{}".into(),
    }
}

/// A string as a plain, literal-block or double-quoted scalar. `indent` is the indentation of
/// the key that holds it; block content goes two columns further.
fn yaml_scalar(text: &str, indent: usize, is_key: bool) -> String {
    if can_be_plain(text) {
        return text.to_owned();
    }
    if !is_key && can_be_literal(text) {
        let mut out = String::from("|");
        if text.starts_with(' ') {
            out.push('2');
        }
        let trailing = text.len() - text.trim_end_matches('\n').len();
        match trailing {
            0 => out.push('-'),
            1 => {}
            _ => out.push('+'),
        }
        let body = text.strip_suffix('\n').unwrap_or(text);
        for line in body.split('\n') {
            out.push('\n');
            if !line.is_empty() {
                out.push_str(&" ".repeat(indent + 2));
                out.push_str(line);
            }
        }
        return out;
    }
    double_quoted(text)
}

fn can_be_literal(text: &str) -> bool {
    text.contains('\n')
        && !text.contains(" \n")
        && !text.ends_with(' ')
        && !text.starts_with('\n')
        && text.chars().all(|c| c == '\n' || c == '\t' || !c.is_control())
        && !text.contains('\u{feff}')
        && !text.contains(['\u{85}', '\u{2028}', '\u{2029}'])
}

/// Whether `text` reads back as the same string when written plain, in yaml.v2 (YAML 1.1)
/// and in yaml.v3/kit's reader.
fn can_be_plain(text: &str) -> bool {
    let Some(first) = text.chars().next() else {
        return false;
    };
    if text.starts_with(' ') || text.ends_with(' ') || text.ends_with(':') {
        return false;
    }
    if text
        .chars()
        .any(|c| c.is_control() || matches!(c, '\u{85}' | '\u{feff}' | '\u{2028}' | '\u{2029}'))
    {
        return false;
    }
    let second = text.chars().nth(1);
    let followed_by_space = second.is_none_or(|c| c == ' ');
    match first {
        '-' | '?' | ':' if followed_by_space => return false,
        ',' | '[' | ']' | '{' | '}' | '#' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%'
        | '@' | '`' => return false,
        _ => {}
    }
    if text.starts_with("---") || text.starts_with("...") {
        return false;
    }
    if text.contains(": ") || text.contains(" #") || text.contains("\t") {
        return false;
    }
    !resolves_to_non_string(text)
}

/// Scalars that YAML 1.1 (yaml.v2) or yaml.v3 would read as something other than a string.
fn resolves_to_non_string(text: &str) -> bool {
    const YAML11: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off",
        "OFF", "<<", "=",
    ];
    if YAML11.contains(&text) {
        return true;
    }
    let (node, errors) = super::yaml::parse(&format!("k: {text}\n"));
    if !errors.is_empty() {
        return true;
    }
    let value = match node.map(|n| n.kind) {
        Some(super::yaml::Kind::Map(entries)) if entries.len() == 1 => {
            entries.into_iter().next().map(|(_, v)| v)
        }
        _ => None,
    };
    match value {
        Some(super::yaml::Node { kind: super::yaml::Kind::Scalar(s), .. }) => {
            s.text != text || !matches!(s.value, super::yaml::Value::Str) || is_base60(text)
        }
        _ => true,
    }
}

/// yaml.v2 quotes strings that YAML 1.1 reads as base-60 numbers (`1:20`).
fn is_base60(text: &str) -> bool {
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    let body = body.split_once('.').map_or(body, |(int, _)| int);
    let mut parts = body.split(':');
    let Some(first) = parts.next() else {
        return false;
    };
    let rest: Vec<&str> = parts.collect();
    !rest.is_empty()
        && first.starts_with(|c: char| c.is_ascii_digit())
        && first.chars().all(|c| c.is_ascii_digit() || c == '_')
        && rest.iter().all(|p| (1..=2).contains(&p.len()) && p.chars().all(|c| c.is_ascii_digit()))
}

fn double_quoted(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{b}' => out.push_str("\\v"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\u{1b}' => out.push_str("\\e"),
            '\u{85}' => out.push_str("\\N"),
            '\u{a0}' => out.push_str("\\_"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            '\u{feff}' => out.push_str("\\uFEFF"),
            c if c.is_control() => {
                let n = u32::from(c);
                if n <= 0xff {
                    out.push_str(&format!("\\x{n:02X}"));
                } else {
                    out.push_str(&format!("\\u{n:04X}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Writes JSON with `indent` spaces per level; `go_escapes` adds encoding/json's escaping of
/// `<`, `>`, `&`, U+2028 and U+2029.
pub(crate) fn to_json(out: &Out, indent: usize, go_escapes: bool) -> String {
    let mut text = String::new();
    json_value(out, 0, indent, go_escapes, &mut text);
    text
}

fn json_value(out: &Out, level: usize, indent: usize, go: bool, text: &mut String) {
    match out {
        Out::Null => text.push_str("null"),
        Out::Bool(b) => text.push_str(&b.to_string()),
        Out::Int(n) => text.push_str(&n.to_string()),
        Out::Str(s) => json_string(s, go, text),
        Out::Seq(items) if items.is_empty() => text.push_str("[]"),
        Out::Map(entries) if entries.is_empty() => text.push_str("{}"),
        Out::Seq(items) => {
            text.push('[');
            for (idx, item) in items.iter().enumerate() {
                if idx > 0 {
                    text.push(',');
                }
                text.push('\n');
                text.push_str(&" ".repeat((level + 1) * indent));
                json_value(item, level + 1, indent, go, text);
            }
            text.push('\n');
            text.push_str(&" ".repeat(level * indent));
            text.push(']');
        }
        Out::Map(entries) => {
            text.push('{');
            for (idx, (key, value)) in entries.iter().enumerate() {
                if idx > 0 {
                    text.push(',');
                }
                text.push('\n');
                text.push_str(&" ".repeat((level + 1) * indent));
                json_string(key, go, text);
                text.push_str(": ");
                json_value(value, level + 1, indent, go, text);
            }
            text.push('\n');
            text.push_str(&" ".repeat(level * indent));
            text.push('}');
        }
    }
}

fn json_string(s: &str, go: bool, text: &mut String) {
    text.push('"');
    for c in s.chars() {
        match c {
            '"' => text.push_str("\\\""),
            '\\' => text.push_str("\\\\"),
            '\n' => text.push_str("\\n"),
            '\r' => text.push_str("\\r"),
            '\t' => text.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' if go => {
                text.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c if u32::from(c) < 0x20 => text.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => text.push(c),
        }
    }
    text.push('"');
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    #[test]
    fn plain_or_quoted() {
        let cases = [
            ("console=ttyS0 console=tty0", "console=ttyS0 console=tty0"),
            ("-c", "-c"),
            ("echo onboot; sysctl -a >/dev/null", "echo onboot; sysctl -a >/dev/null"),
            ("0644", "\"0644\""),
            ("yes", "\"yes\""),
            ("true", "\"true\""),
            ("", "\"\""),
            ("1:20", "\"1:20\""),
            ("a: b", "\"a: b\""),
            ("- x", "\"- x\""),
            ("*x", "\"*x\""),
            ("x #y", "\"x #y\""),
            ("null", "\"null\""),
            ("2024-01-01", "\"2024-01-01\""),
            ("1e3", "\"1e3\""),
            ("/etc:/hostetc", "/etc:/hostetc"),
            ("CAP_SYS_ADMIN", "CAP_SYS_ADMIN"),
            ("tab\there", "\"tab\\there\""),
        ];
        for (input, want) in cases {
            assert_eq!(yaml_scalar(input, 0, false), want, "{input:?}");
        }
    }

    #[test]
    fn literal_blocks() {
        expect![[r#"
            |
              hello
              world"#]]
        .assert_eq(&yaml_scalar("hello\nworld\n", 0, false));
        expect![[r#"
            |-
              a

              b"#]]
        .assert_eq(&yaml_scalar("a\n\nb", 0, false));
        expect![[r#"
            |+
              a
"#]]
        .assert_eq(&yaml_scalar("a\n\n", 0, false));
        expect![[r#""trailing \nspace""#]].assert_eq(&yaml_scalar("trailing \nspace", 0, false));
    }

    #[test]
    fn yaml_layout_like_yaml_v2() {
        let out = Out::Map(vec![
            (
                "a".into(),
                Out::Seq(vec![
                    s("x"),
                    Out::Map(vec![("k".into(), int(1)), ("l".into(), Out::Seq(vec![]))]),
                ]),
            ),
            ("b".into(), Out::Map(vec![("c".into(), Out::Bool(true))])),
            ("d".into(), Out::Seq(vec![Out::Seq(vec![s("p"), s("q")])])),
            ("e".into(), Out::Null),
        ]);
        expect![[r#"
            a:
            - x
            - k: 1
              l: []
            b:
              c: true
            d:
            - - p
              - q
            e: null
        "#]]
        .assert_eq(&to_yaml(&out));
    }

    #[test]
    fn json_like_go() {
        let out = Out::Map(vec![
            ("a".into(), s("x <y> & z")),
            ("b".into(), Out::Seq(vec![int(1), Out::Null])),
            ("c".into(), Out::Map(vec![])),
        ]);
        expect![[r#"
            {
                "a": "x \u003cy\u003e \u0026 z",
                "b": [
                    1,
                    null
                ],
                "c": {}
            }"#]]
        .assert_eq(&to_json(&out, 4, true));
    }
}

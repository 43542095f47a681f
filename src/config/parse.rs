//! Conversion of a YAML node tree into the typed model, with LinuxKit's checks.
//!
//! The conversion walks the tree by hand, tracking the key path, so every error names the
//! node's position and path. It never stops at the first error: a field with an error is left
//! out and the walk goes on. Checks done here are the schema's (unknown keys, types, required
//! keys) and the ones LinuxKit makes later at build time (capabilities, rlimits, binds, tmpfs,
//! mounts, device and file modes, the rules of `files`), so a configuration LinuxKit would
//! refuse while building is refused while loading.

use std::collections::BTreeMap;

use super::ConfigError;
use super::model::*;
use super::yaml::{Kind, Node, Value};
use crate::reference::Reference;

/// A key a mapping may hold: the canonical spelling and accepted alternatives.
type KeySpec = (&'static str, &'static [&'static str]);

/// A reference to a container name from `uid`, `gid` or `additionalGids`, checked after merge.
#[derive(Debug, Clone)]
pub(crate) struct NameUse {
    pub name: String,
    pub line: usize,
    pub column: usize,
    pub path: String,
}

/// The conversion context: the file being read and the errors found so far.
pub(crate) struct Cx<'a> {
    file: &'a str,
    pub errors: Vec<ConfigError>,
    pub name_uses: Vec<NameUse>,
}

/// The entries of a mapping, by canonical key.
struct Fields<'n> {
    entries: Vec<(&'static str, &'n Node)>,
}

impl<'n> Fields<'n> {
    fn get(&self, name: &str) -> Option<&'n Node> {
        self.entries.iter().find(|(key, _)| *key == name).map(|(_, node)| *node)
    }
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") }
}

fn index(path: &str, idx: usize) -> String {
    format!("{path}[{idx}]")
}

const TOP_KEYS: &[KeySpec] = &[
    ("kernel", &[]),
    ("init", &[]),
    ("onboot", &[]),
    ("onshutdown", &[]),
    ("services", &[]),
    ("trust", &[]),
    ("files", &[]),
    ("volumes", &[]),
];

const KERNEL_KEYS: &[KeySpec] =
    &[("image", &[]), ("cmdline", &[]), ("binary", &[]), ("tar", &[]), ("ucode", &[])];

/// The per-image keys, in the schema's order, after `name` and `image`.
pub(crate) const IMAGE_KEYS: &[KeySpec] = &[
    ("name", &[]),
    ("image", &[]),
    ("capabilities", &[]),
    ("capabilities.add", &[]),
    ("ambient", &[]),
    ("mounts", &[]),
    ("binds", &[]),
    ("binds.add", &[]),
    ("devices", &[]),
    ("tmpfs", &[]),
    ("command", &[]),
    ("env", &[]),
    ("cwd", &[]),
    ("net", &[]),
    ("pid", &[]),
    ("ipc", &[]),
    ("uts", &[]),
    ("userns", &[]),
    ("readonly", &[]),
    ("maskedPaths", &[]),
    ("readonlyPaths", &[]),
    ("uid", &[]),
    ("gid", &[]),
    ("additionalGids", &[]),
    ("noNewPrivileges", &[]),
    ("hostname", &[]),
    ("oomScoreAdj", &[]),
    ("rootfsPropagation", &[]),
    ("cgroupsPath", &[]),
    ("resources", &[]),
    ("sysctl", &[]),
    ("rlimits", &[]),
    ("uidMappings", &[]),
    ("gidMappings", &[]),
    ("annotations", &[]),
    ("runtime", &[]),
];

const MOUNT_KEYS: &[KeySpec] = &[
    ("destination", &[]),
    ("type", &[]),
    ("source", &[]),
    ("options", &[]),
    ("uidmappings", &["uidMappings"]),
    ("gidmappings", &["gidMappings"]),
];

const ID_MAPPING_KEYS: &[KeySpec] =
    &[("containerID", &["containerid"]), ("hostID", &["hostid"]), ("size", &[])];

const DEVICE_KEYS: &[KeySpec] =
    &[("path", &[]), ("type", &[]), ("major", &[]), ("minor", &[]), ("mode", &[])];

const RESOURCES_KEYS: &[KeySpec] = &[
    ("devices", &[]),
    ("memory", &[]),
    ("cpu", &[]),
    ("pids", &[]),
    ("blockio", &["blockIO"]),
    ("hugepageLimits", &["hugepagelimits"]),
    ("network", &[]),
];

const DEVICE_CGROUP_KEYS: &[KeySpec] =
    &[("allow", &[]), ("type", &[]), ("major", &[]), ("minor", &[]), ("access", &[])];

const MEMORY_KEYS: &[KeySpec] = &[
    ("limit", &[]),
    ("reservation", &[]),
    ("swap", &[]),
    ("kernel", &[]),
    ("kernelTCP", &["kerneltcp"]),
    ("swappiness", &[]),
    ("disableOOMKiller", &["disableoomkiller"]),
];

const CPU_KEYS: &[KeySpec] = &[
    ("shares", &[]),
    ("quota", &[]),
    ("period", &[]),
    ("realtimeRuntime", &["realtimeruntime"]),
    ("realtimePeriod", &["realtimeperiod"]),
    ("cpus", &[]),
    ("mems", &[]),
];

const PIDS_KEYS: &[KeySpec] = &[("limit", &[])];

const BLOCK_IO_KEYS: &[KeySpec] = &[
    ("weight", &[]),
    ("leafWeight", &["leafweight"]),
    ("weightDevice", &["weightdevice"]),
    ("throttleReadBpsDevice", &["throttlereadbpsdevice"]),
    ("throttleWriteBpsDevice", &["throttlewritebpsdevice"]),
    ("throttleReadIOPSDevice", &["throttlereadiopsdevice"]),
    ("throttleWriteIOPSDevice", &["throttlewriteiopsdevice"]),
];

const WEIGHT_DEVICE_KEYS: &[KeySpec] =
    &[("major", &[]), ("minor", &[]), ("weight", &[]), ("leafWeight", &["leafweight"])];

const THROTTLE_DEVICE_KEYS: &[KeySpec] = &[("major", &[]), ("minor", &[]), ("rate", &[])];

const HUGEPAGE_KEYS: &[KeySpec] = &[("pageSize", &["pagesize"]), ("limit", &[])];

const NETWORK_KEYS: &[KeySpec] = &[("classID", &["classid"]), ("priorities", &[])];

const PRIORITY_KEYS: &[KeySpec] = &[("name", &[]), ("priority", &[])];

const RUNTIME_KEYS: &[KeySpec] = &[
    ("cgroups", &[]),
    ("mounts", &[]),
    ("mkdir", &[]),
    ("interfaces", &[]),
    ("bindNS", &[]),
    ("namespace", &[]),
];

const INTERFACE_KEYS: &[KeySpec] =
    &[("name", &[]), ("add", &[]), ("peer", &[]), ("createInRoot", &[])];

const BIND_NS_KEYS: &[KeySpec] = &[
    ("cgroup", &[]),
    ("ipc", &[]),
    ("mnt", &[]),
    ("net", &[]),
    ("pid", &[]),
    ("user", &[]),
    ("uts", &[]),
];

const TRUST_KEYS: &[KeySpec] = &[("image", &[]), ("org", &[])];

const FILE_KEYS: &[KeySpec] = &[
    ("path", &[]),
    ("directory", &[]),
    ("symlink", &[]),
    ("contents", &[]),
    ("source", &[]),
    ("metadata", &[]),
    ("optional", &[]),
    ("mode", &[]),
    ("uid", &[]),
    ("gid", &[]),
];

const VOLUME_KEYS: &[KeySpec] =
    &[("name", &[]), ("image", &[]), ("readonly", &[]), ("format", &[]), ("platforms", &[])];

/// Every mapping's key specification, by schema definition name, for the coverage test.
#[cfg(test)]
pub(crate) const ALL_KEY_SPECS: &[(&str, &[KeySpec])] = &[
    ("top", TOP_KEYS),
    ("kernel", KERNEL_KEYS),
    ("image", IMAGE_KEYS),
    ("mount", MOUNT_KEYS),
    ("idmapping", ID_MAPPING_KEYS),
    ("device", DEVICE_KEYS),
    ("resources", RESOURCES_KEYS),
    ("devicecgroup", DEVICE_CGROUP_KEYS),
    ("memory", MEMORY_KEYS),
    ("cpu", CPU_KEYS),
    ("pids", PIDS_KEYS),
    ("blockio", BLOCK_IO_KEYS),
    ("weightdevice", WEIGHT_DEVICE_KEYS),
    ("throttledevice", THROTTLE_DEVICE_KEYS),
    ("hugepagelimit", HUGEPAGE_KEYS),
    ("network", NETWORK_KEYS),
    ("interfacepriority", PRIORITY_KEYS),
    ("runtime", RUNTIME_KEYS),
    ("interface", INTERFACE_KEYS),
    ("namespaces", BIND_NS_KEYS),
    ("trust", TRUST_KEYS),
    ("file", FILE_KEYS),
    ("volume", VOLUME_KEYS),
];

/// Which definition the value of a key holds, for keys holding objects or lists of them.
#[cfg(test)]
pub(crate) const CHILDREN: &[(&str, &str, &str)] = &[
    ("top", "kernel", "kernel"),
    ("top", "onboot", "image"),
    ("top", "onshutdown", "image"),
    ("top", "services", "image"),
    ("top", "trust", "trust"),
    ("top", "files", "file"),
    ("top", "volumes", "volume"),
    ("image", "mounts", "mount"),
    ("image", "devices", "device"),
    ("image", "resources", "resources"),
    ("image", "uidMappings", "idmapping"),
    ("image", "gidMappings", "idmapping"),
    ("image", "runtime", "runtime"),
    ("mount", "uidmappings", "idmapping"),
    ("mount", "gidmappings", "idmapping"),
    ("resources", "devices", "devicecgroup"),
    ("resources", "memory", "memory"),
    ("resources", "cpu", "cpu"),
    ("resources", "pids", "pids"),
    ("resources", "blockio", "blockio"),
    ("resources", "hugepageLimits", "hugepagelimit"),
    ("resources", "network", "network"),
    ("blockio", "weightDevice", "weightdevice"),
    ("blockio", "throttleReadBpsDevice", "throttledevice"),
    ("blockio", "throttleWriteBpsDevice", "throttledevice"),
    ("blockio", "throttleReadIOPSDevice", "throttledevice"),
    ("blockio", "throttleWriteIOPSDevice", "throttledevice"),
    ("network", "priorities", "interfacepriority"),
    ("runtime", "mounts", "mount"),
    ("runtime", "interfaces", "interface"),
    ("runtime", "bindNS", "namespaces"),
];

impl<'a> Cx<'a> {
    pub fn new(file: &'a str) -> Cx<'a> {
        Cx { file, errors: Vec::new(), name_uses: Vec::new() }
    }

    fn error(&mut self, node: &Node, path: &str, message: impl Into<String>) {
        self.errors.push(ConfigError {
            file: self.file.to_owned(),
            line: node.line,
            column: node.column,
            path: path.to_owned(),
            message: message.into(),
        });
    }

    fn location(&self, node: &Node) -> Location {
        Location { file: self.file.to_owned(), line: node.line, column: node.column }
    }

    fn type_error(&mut self, node: &Node, path: &str, expected: &str) {
        let mut message = format!("expected {expected}, found {}", node.describe());
        if expected == "a string"
            && let Kind::Scalar(s) = &node.kind
            && !matches!(s.value, Value::Null)
        {
            message.push_str(&format!(" (write \"{}\" in quotes to make it a string)", s.text));
        }
        self.error(node, path, message);
    }

    /// The entries of a mapping whose keys must be among `keys`; unknown, duplicate and
    /// non-string keys are reported.
    fn fields<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        keys: &[KeySpec],
        what: &str,
    ) -> Option<Fields<'n>> {
        let Kind::Map(entries) = &node.kind else {
            self.type_error(node, path, what);
            return None;
        };
        let mut fields = Fields { entries: Vec::new() };
        let mut spelled: Vec<(&'static str, &str)> = Vec::new();
        for (key, value) in entries {
            let Some(name) = key.as_str() else {
                self.error(key, path, format!("expected a string key, found {}", key.describe()));
                continue;
            };
            let spec = keys
                .iter()
                .find(|(canonical, aliases)| *canonical == name || aliases.contains(&name));
            let Some((canonical, _)) = spec else {
                let message = unknown_key_message(name, keys);
                self.error(key, &child(path, name), message);
                continue;
            };
            if let Some((_, first)) = spelled.iter().find(|(c, _)| c == canonical) {
                let message = format!("key {name:?} given twice (also spelled {first:?})");
                self.error(key, &child(path, canonical), message);
                continue;
            }
            spelled.push((canonical, name));
            fields.entries.push((canonical, value));
        }
        Some(fields)
    }

    fn string(&mut self, node: &Node, path: &str) -> Option<String> {
        match node.as_str() {
            Some(text) => Some(text.to_owned()),
            None => {
                self.type_error(node, path, "a string");
                None
            }
        }
    }

    fn boolean(&mut self, node: &Node, path: &str) -> Option<bool> {
        match &node.kind {
            Kind::Scalar(s) => match s.value {
                Value::Bool(b) => Some(b),
                _ => {
                    let mut message =
                        format!("expected a boolean (true or false), found {}", node.describe());
                    if matches!(s.value, Value::Str) {
                        message.push_str(&format!(" {:?}", s.text));
                    }
                    self.error(node, path, message);
                    None
                }
            },
            _ => {
                self.type_error(node, path, "a boolean (true or false)");
                None
            }
        }
    }

    fn integer<T: TryFrom<i128>>(&mut self, node: &Node, path: &str, range: &str) -> Option<T> {
        match &node.kind {
            Kind::Scalar(s) => match s.value {
                Value::Int(n) => match T::try_from(n) {
                    Ok(v) => Some(v),
                    Err(_) => {
                        self.error(node, path, format!("expected {range}, found {n}"));
                        None
                    }
                },
                _ => {
                    self.type_error(node, path, "an integer");
                    None
                }
            },
            _ => {
                self.type_error(node, path, "an integer");
                None
            }
        }
    }

    fn list<'n>(&mut self, node: &'n Node, path: &str, what: &str) -> Option<&'n [Node]> {
        match &node.kind {
            Kind::Seq(items) => Some(items),
            _ => {
                self.type_error(node, path, what);
                None
            }
        }
    }

    /// A list of strings; items of the wrong type are reported and dropped, the list is kept
    /// (so one bad item gives one error, not one more for the whole list).
    fn strings(&mut self, node: &Node, path: &str) -> Option<Vec<String>> {
        let items = self.list(node, path, "a list of strings")?;
        let mut out = Vec::with_capacity(items.len());
        for (idx, item) in items.iter().enumerate() {
            if let Some(text) = self.string(item, &index(path, idx)) {
                out.push(text);
            }
        }
        Some(out)
    }

    /// A list of strings, each checked by `check` (which returns an error message).
    fn checked_strings(
        &mut self,
        node: &Node,
        path: &str,
        check: impl Fn(&str) -> Option<String>,
    ) -> Option<Vec<String>> {
        let items = self.list(node, path, "a list of strings")?;
        let mut out = Vec::with_capacity(items.len());
        for (idx, item) in items.iter().enumerate() {
            let item_path = index(path, idx);
            if let Some(text) = self.string(item, &item_path) {
                if let Some(message) = check(&text) {
                    self.error(item, &item_path, message);
                }
                out.push(text);
            }
        }
        Some(out)
    }

    fn string_map(&mut self, node: &Node, path: &str) -> Option<BTreeMap<String, String>> {
        let Kind::Map(entries) = &node.kind else {
            self.type_error(node, path, "a mapping of strings to strings");
            return None;
        };
        let mut out = BTreeMap::new();
        for (key, value) in entries {
            let Some(name) = key.as_str() else {
                self.error(key, path, format!("expected a string key, found {}", key.describe()));
                continue;
            };
            let item_path = format!("{path}[{name:?}]");
            if name.is_empty() {
                self.error(key, &item_path, "key must not be empty");
                continue;
            }
            if let Some(text) = self.string(value, &item_path) {
                out.insert(name.to_owned(), text);
            }
        }
        Some(out)
    }

    fn id(&mut self, node: &Node, path: &str) -> Option<Id> {
        match &node.kind {
            Kind::Scalar(s) => match s.value {
                Value::Int(n) => match u32::try_from(n) {
                    Ok(v) => Some(Id::Number(v)),
                    Err(_) => {
                        self.error(
                            node,
                            path,
                            format!("expected an id from 0 to 4294967295, found {n}"),
                        );
                        None
                    }
                },
                Value::Str => {
                    if !s.text.is_empty() && s.text != "root" {
                        self.name_uses.push(NameUse {
                            name: s.text.clone(),
                            line: node.line,
                            column: node.column,
                            path: path.to_owned(),
                        });
                    }
                    Some(Id::Name(s.text.clone()))
                }
                _ => {
                    self.type_error(node, path, "a number or a container name");
                    None
                }
            },
            _ => {
                self.type_error(node, path, "a number or a container name");
                None
            }
        }
    }

    fn image_ref(&mut self, node: &Node, path: &str) -> Option<ImageRef> {
        let written = self.string(node, path)?;
        match written.parse::<Reference>() {
            Ok(reference) => Some(ImageRef { written, reference }),
            Err(error) => {
                self.error(node, path, error.to_string());
                None
            }
        }
    }

    /// A mode string, as LinuxKit parses it (`strconv.ParseInt(mode, 8, 32)`).
    fn mode(&mut self, node: &Node, path: &str) -> Option<String> {
        if let Kind::Scalar(s) = &node.kind
            && let Value::Int(n) = s.value
        {
            let message = format!(
                "expected an octal string such as \"0644\", found the integer {n}: an unquoted {} is a YAML number, write \"{}\" in quotes",
                s.text, s.text
            );
            self.error(node, path, message);
            return None;
        }
        let text = self.string(node, path)?;
        if let Some(message) = check_mode(&text) {
            self.error(node, path, message);
        }
        Some(text)
    }
}

/// Why `text` is not a mode LinuxKit accepts, if it is not.
fn check_mode(text: &str) -> Option<String> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    let octal = !digits.is_empty() && digits.bytes().all(|b| (b'0'..=b'7').contains(&b));
    let fits = i64::from_str_radix(digits, 8).is_ok_and(|v| v <= i64::from(i32::MAX));
    if !octal || !fits || text.starts_with(['+', '-']) {
        return Some(format!("expected an octal mode such as \"0644\", found {text:?}"));
    }
    None
}

fn unknown_key_message(name: &str, keys: &[KeySpec]) -> String {
    let close = keys.iter().map(|(c, _)| *c).find(|candidate| {
        candidate.eq_ignore_ascii_case(name) || edit_distance(candidate, name) <= 2
    });
    match close {
        Some(candidate) => format!("unknown key (did you mean {candidate:?}?)"),
        None if keys.len() <= 10 => {
            let list: Vec<&str> = keys.iter().map(|(c, _)| *c).collect();
            format!("unknown key (expected one of: {})", list.join(", "))
        }
        None => "unknown key".to_owned(),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            let best = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
            current.push(best);
        }
        previous = current;
    }
    previous[b.len()]
}

/// Checks one capability list entry set: `CAP_*` names from the known list, or a single
/// `all`/`none` (any case).
fn capabilities(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<Vec<String>> {
    let list = cx.strings(node, path)?;
    let single_keyword = list.len() == 1
        && (list[0].eq_ignore_ascii_case("all") || list[0].eq_ignore_ascii_case("none"));
    if !single_keyword && let Kind::Seq(items) = &node.kind {
        for (idx, (item, name)) in items.iter().zip(&list).enumerate() {
            if KNOWN_CAPABILITIES.contains(&name.as_str()) {
                continue;
            }
            let message = if name.eq_ignore_ascii_case("all") || name.eq_ignore_ascii_case("none") {
                format!("{name:?} must be the only entry of the list")
            } else {
                let upper = name.to_ascii_uppercase();
                let suggestion = [upper.clone(), format!("CAP_{upper}")]
                    .into_iter()
                    .find(|c| KNOWN_CAPABILITIES.contains(&c.as_str()));
                match suggestion {
                    Some(s) => format!("unknown capability {name:?} (did you mean {s:?}?)"),
                    None => format!(
                        "unknown capability {name:?} (expected CAP_* names such as CAP_NET_ADMIN, or a single all or none)"
                    ),
                }
            };
            cx.error(item, &index(path, idx), message);
        }
    }
    Some(list)
}

fn check_rlimit(text: &str) -> Option<String> {
    let parts: Vec<&str> = text.splitn(3, ',').collect();
    let [name, soft, hard] = parts.as_slice() else {
        return Some(format!("expected name,soft,hard such as nofile,1024,4096, found {text:?}"));
    };
    let mut limit = name.trim().to_ascii_uppercase();
    if !limit.starts_with("RLIMIT_") {
        limit = format!("RLIMIT_{limit}");
    }
    if !KNOWN_RLIMITS.contains(&limit.as_str()) {
        return Some(format!(
            "unknown resource limit {:?} (expected one of cpu, fsize, data, stack, core, rss, nproc, nofile, memlock, as, locks, sigpending, msgqueue, nice, rtprio, rttime)",
            name.trim()
        ));
    }
    for value in [soft, hard] {
        let value = value.trim();
        if !value.eq_ignore_ascii_case("unlimited") && value.parse::<u64>().is_err() {
            return Some(format!(
                "expected a limit as a number or unlimited, found {value:?} in {text:?}"
            ));
        }
    }
    None
}

fn check_bind(text: &str) -> Option<String> {
    let n_parts = text.split(':').count();
    if n_parts < 2 {
        return Some(format!(
            "expected source:destination[:options], found {text:?} (missing ':')"
        ));
    }
    if n_parts > 3 {
        return Some(format!(
            "expected source:destination[:options], found {text:?} (too many ':')"
        ));
    }
    None
}

fn check_tmpfs(text: &str) -> Option<String> {
    if text.split(':').count() > 2 {
        return Some(format!("expected destination[:options], found {text:?} (too many ':')"));
    }
    None
}

/// Reads a whole configuration document.
pub(crate) fn config(cx: &mut Cx<'_>, root: &Node) -> Config {
    let mut config = Config::default();
    let Some(fields) = cx.fields(root, "", TOP_KEYS, "a mapping") else {
        return config;
    };
    if let Some(node) = fields.get("kernel") {
        config.kernel = kernel(cx, node);
    }
    if let Some(node) = fields.get("init")
        && let Some(items) = cx.list(node, "init", "a list of image references")
    {
        for (idx, item) in items.iter().enumerate() {
            if let Some(image) = cx.image_ref(item, &index("init", idx)) {
                config.init.push(InitImage { image, location: cx.location(item) });
            }
        }
    }
    for (key, list) in [
        ("onboot", &mut config.onboot),
        ("onshutdown", &mut config.onshutdown),
        ("services", &mut config.services),
    ] {
        if let Some(node) = fields.get(key) {
            *list = images(cx, node, key);
        }
    }
    if let Some(node) = fields.get("trust") {
        config.trust = trust(cx, node);
    }
    if let Some(node) = fields.get("files")
        && let Some(items) = cx.list(node, "files", "a list of file entries")
    {
        for (idx, item) in items.iter().enumerate() {
            if let Some(entry) = file(cx, item, &index("files", idx)) {
                config.files.push(entry);
            }
        }
    }
    if let Some(node) = fields.get("volumes")
        && let Some(items) = cx.list(node, "volumes", "a list of volume entries")
    {
        for (idx, item) in items.iter().enumerate() {
            if let Some(entry) = volume(cx, item, &index("volumes", idx)) {
                config.volumes.push(entry);
            }
        }
    }
    config
}

fn kernel(cx: &mut Cx<'_>, node: &Node) -> Option<Kernel> {
    let fields = cx.fields(node, "kernel", KERNEL_KEYS, "a mapping")?;
    let mut kernel = Kernel { location: cx.location(node), ..Kernel::default() };
    if let Some(image) = fields.get("image") {
        // An empty image means no kernel, as in LinuxKit.
        if image.as_str() != Some("") {
            kernel.image = cx.image_ref(image, "kernel.image");
        }
    }
    let mut text = |key: &str| fields.get(key).and_then(|n| cx.string(n, &child("kernel", key)));
    kernel.cmdline = text("cmdline");
    kernel.binary = text("binary");
    kernel.tar = text("tar");
    kernel.ucode = text("ucode");
    Some(kernel)
}

fn images(cx: &mut Cx<'_>, node: &Node, section: &str) -> Vec<Image> {
    let mut out = Vec::new();
    let Some(items) = cx.list(node, section, "a list of image entries") else {
        return out;
    };
    for (idx, item) in items.iter().enumerate() {
        let path = index(section, idx);
        let Some(fields) = cx.fields(item, &path, IMAGE_KEYS, "a mapping with name and image")
        else {
            continue;
        };
        let name = match fields.get("name") {
            Some(node) => cx.string(node, &child(&path, "name")).inspect(|name| {
                if let Some(message) = check_container_name(name) {
                    cx.error(node, &child(&path, "name"), message);
                }
            }),
            None => {
                cx.error(item, &path, "missing required key \"name\"");
                None
            }
        };
        let image = match fields.get("image") {
            Some(node) => cx.image_ref(node, &child(&path, "image")),
            None => {
                cx.error(item, &path, "missing required key \"image\"");
                None
            }
        };
        let config = image_config(cx, &fields, &path);
        if let (Some(name), Some(image)) = (name, image) {
            out.push(Image { name, image, config, location: cx.location(item) });
        }
    }
    out
}

/// Container names become bundle directory names: no path separators or dot names.
fn check_container_name(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("name must not be empty".into());
    }
    if name.contains('/') || name == "." || name == ".." || name.contains('\0') {
        return Some(format!("name {name:?} cannot be a directory name (no '/', '.' or '..')"));
    }
    None
}

/// Reads the per-image keys of an image entry or label.
fn image_config(cx: &mut Cx<'_>, fields: &Fields<'_>, path: &str) -> ImageConfig {
    let mut c = ImageConfig::default();
    let p = |key: &str| child(path, key);
    if let Some(n) = fields.get("capabilities") {
        c.capabilities = capabilities(cx, n, &p("capabilities"));
    }
    if let Some(n) = fields.get("capabilities.add") {
        c.capabilities_add = capabilities(cx, n, &p("capabilities.add"));
    }
    if let Some(n) = fields.get("ambient") {
        c.ambient = capabilities(cx, n, &p("ambient"));
    }
    if let Some(n) = fields.get("mounts") {
        c.mounts = mounts(cx, n, &p("mounts"), true);
    }
    if let Some(n) = fields.get("binds") {
        c.binds = cx.checked_strings(n, &p("binds"), check_bind);
    }
    if let Some(n) = fields.get("binds.add") {
        c.binds_add = cx.checked_strings(n, &p("binds.add"), check_bind);
    }
    if let Some(n) = fields.get("devices") {
        c.devices = devices(cx, n, &p("devices"));
    }
    if let Some(n) = fields.get("tmpfs") {
        c.tmpfs = cx.checked_strings(n, &p("tmpfs"), check_tmpfs);
    }
    let mut strings = |key: &str| fields.get(key).and_then(|n| cx.strings(n, &p(key)));
    c.command = strings("command");
    c.env = strings("env");
    c.masked_paths = strings("maskedPaths");
    c.readonly_paths = strings("readonlyPaths");
    let mut text = |key: &str| fields.get(key).and_then(|n| cx.string(n, &p(key)));
    c.cwd = text("cwd");
    c.net = text("net");
    c.pid = text("pid");
    c.ipc = text("ipc");
    c.uts = text("uts");
    c.userns = text("userns");
    c.hostname = text("hostname");
    c.rootfs_propagation = text("rootfsPropagation");
    c.cgroups_path = text("cgroupsPath");
    if let Some(n) = fields.get("readonly") {
        c.readonly = cx.boolean(n, &p("readonly"));
    }
    if let Some(n) = fields.get("noNewPrivileges") {
        c.no_new_privileges = cx.boolean(n, &p("noNewPrivileges"));
    }
    if let Some(n) = fields.get("uid") {
        c.uid = cx.id(n, &p("uid"));
    }
    if let Some(n) = fields.get("gid") {
        c.gid = cx.id(n, &p("gid"));
    }
    if let Some(n) = fields.get("additionalGids")
        && let Some(items) = cx.list(n, &p("additionalGids"), "a list of numbers or names")
    {
        let path = p("additionalGids");
        let ids =
            items.iter().enumerate().filter_map(|(idx, item)| cx.id(item, &index(&path, idx)));
        c.additional_gids = Some(ids.collect());
    }
    if let Some(n) = fields.get("oomScoreAdj") {
        c.oom_score_adj = cx.integer(n, &p("oomScoreAdj"), "a 64-bit integer");
    }
    if let Some(n) = fields.get("resources") {
        c.resources = resources(cx, n, &p("resources"));
    }
    if let Some(n) = fields.get("sysctl") {
        c.sysctl = cx.string_map(n, &p("sysctl"));
    }
    if let Some(n) = fields.get("rlimits") {
        c.rlimits = cx.checked_strings(n, &p("rlimits"), check_rlimit);
    }
    if let Some(n) = fields.get("uidMappings") {
        c.uid_mappings = id_mappings(cx, n, &p("uidMappings"));
    }
    if let Some(n) = fields.get("gidMappings") {
        c.gid_mappings = id_mappings(cx, n, &p("gidMappings"));
    }
    if let Some(n) = fields.get("annotations") {
        c.annotations = cx.string_map(n, &p("annotations"));
    }
    if let Some(n) = fields.get("runtime") {
        c.runtime = runtime(cx, n, &p("runtime"));
    }
    c
}

/// Reads a list of objects with `read` for each item.
fn objects<T>(
    cx: &mut Cx<'_>,
    node: &Node,
    path: &str,
    what: &str,
    mut read: impl FnMut(&mut Cx<'_>, &Node, &str) -> Option<T>,
) -> Option<Vec<T>> {
    let items = cx.list(node, path, what)?;
    let mut out = Vec::with_capacity(items.len());
    for (idx, item) in items.iter().enumerate() {
        if let Some(value) = read(cx, item, &index(path, idx)) {
            out.push(value);
        }
    }
    Some(out)
}

fn mounts(cx: &mut Cx<'_>, node: &Node, path: &str, oci: bool) -> Option<Vec<Mount>> {
    objects(cx, node, path, "a list of mounts", |cx, item, path| {
        let f = cx.fields(item, path, MOUNT_KEYS, "a mount mapping")?;
        let mut text = |key: &str| f.get(key).and_then(|n| cx.string(n, &child(path, key)));
        let mount = Mount {
            destination: text("destination"),
            mount_type: text("type"),
            source: text("source"),
            options: f.get("options").and_then(|n| cx.strings(n, &child(path, "options"))),
            uid_mappings: f
                .get("uidmappings")
                .and_then(|n| id_mappings(cx, n, &child(path, "uidmappings"))),
            gid_mappings: f
                .get("gidmappings")
                .and_then(|n| id_mappings(cx, n, &child(path, "gidmappings"))),
        };
        if oci && let Some(message) = check_oci_mount(&mount) {
            cx.error(item, path, message);
        }
        Some(mount)
    })
}

/// LinuxKit's defaults for an image mount: the type from the source or `/dev`, the
/// destination from the type. Returns why they cannot be completed.
fn check_oci_mount(mount: &Mount) -> Option<String> {
    let source = mount.source.as_deref().unwrap_or("");
    let destination = mount.destination.as_deref().unwrap_or("");
    let mut mount_type = mount.mount_type.as_deref().unwrap_or("");
    if mount_type.is_empty() && matches!(source, "mqueue" | "devpts" | "proc" | "sysfs" | "cgroup")
    {
        mount_type = source;
    }
    if mount_type.is_empty() && destination == "/dev" {
        mount_type = "tmpfs";
    }
    if mount_type.is_empty() {
        return Some(format!(
            "mount for destination {destination:?} is missing type (and none follows from its source)"
        ));
    }
    let default_destination =
        matches!(mount_type, "proc" | "devpts" | "sysfs" | "cgroup" | "mqueue");
    if destination.is_empty() && !default_destination {
        return Some(format!("mount of type {mount_type:?} is missing destination"));
    }
    None
}

fn id_mappings(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<Vec<IdMapping>> {
    objects(cx, node, path, "a list of id mappings", |cx, item, path| {
        let f = cx.fields(item, path, ID_MAPPING_KEYS, "an id mapping")?;
        let mut id = |key: &str| {
            f.get(key).and_then(|n| cx.integer(n, &child(path, key), "an id from 0 to 4294967295"))
        };
        Some(IdMapping { container_id: id("containerID"), host_id: id("hostID"), size: id("size") })
    })
}

fn devices(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<Vec<Device>> {
    objects(cx, node, path, "a list of devices", |cx, item, path| {
        let f = cx.fields(item, path, DEVICE_KEYS, "a device mapping")?;
        let device_path = f.get("path").and_then(|n| cx.string(n, &child(path, "path")));
        let device_type = f.get("type").and_then(|n| cx.string(n, &child(path, "type")));
        let mut int = |key: &str| {
            f.get(key).and_then(|n| cx.integer(n, &child(path, key), "a 64-bit integer"))
        };
        let major = int("major");
        let minor = int("minor");
        let mode = f.get("mode").and_then(|n| cx.mode(n, &child(path, "mode")));
        if f.get("mode").is_none() && device_path.as_deref() != Some("all") {
            cx.error(item, path, "missing required key \"mode\" (an octal string such as \"0660\"; only path: all may omit it)");
        }
        Some(Device { path: device_path, device_type, major, minor, mode })
    })
}

fn resources(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<Resources> {
    let f = cx.fields(node, path, RESOURCES_KEYS, "a resources mapping")?;
    let p = |key: &str| child(path, key);
    let mut r = Resources::default();
    if let Some(n) = f.get("devices") {
        r.devices = objects(cx, n, &p("devices"), "a list of device rules", |cx, item, path| {
            let f = cx.fields(item, path, DEVICE_CGROUP_KEYS, "a device rule mapping")?;
            let allow = f.get("allow").and_then(|n| cx.boolean(n, &child(path, "allow")));
            let mut text = |key: &str| f.get(key).and_then(|n| cx.string(n, &child(path, key)));
            let device_type = text("type");
            let access = text("access");
            let mut int = |key: &str| {
                f.get(key).and_then(|n| cx.integer(n, &child(path, key), "a 64-bit integer"))
            };
            Some(DeviceCgroup {
                allow,
                device_type,
                major: int("major"),
                minor: int("minor"),
                access,
            })
        });
    }
    if let Some(n) = f.get("memory") {
        let path = p("memory");
        r.memory = cx.fields(n, &path, MEMORY_KEYS, "a memory mapping").map(|f| {
            let mut int = |key: &str| {
                f.get(key)
                    .and_then(|n| cx.integer::<i64>(n, &child(&path, key), "a 64-bit integer"))
            };
            let mut m = Memory {
                limit: int("limit"),
                reservation: int("reservation"),
                swap: int("swap"),
                kernel: int("kernel"),
                kernel_tcp: int("kernelTCP"),
                ..Memory::default()
            };
            m.swappiness = f
                .get("swappiness")
                .and_then(|n| cx.integer(n, &child(&path, "swappiness"), "a non-negative integer"));
            m.disable_oom_killer = f
                .get("disableOOMKiller")
                .and_then(|n| cx.boolean(n, &child(&path, "disableOOMKiller")));
            m
        });
    }
    if let Some(n) = f.get("cpu") {
        let path = p("cpu");
        r.cpu = cx.fields(n, &path, CPU_KEYS, "a cpu mapping").map(|f| {
            let unsigned = "a non-negative integer";
            let signed = "a 64-bit integer";
            let mut uint = |key: &str| {
                f.get(key).and_then(|n| cx.integer::<u64>(n, &child(&path, key), unsigned))
            };
            let (shares, period, realtime_period) =
                (uint("shares"), uint("period"), uint("realtimePeriod"));
            let mut sint = |key: &str| {
                f.get(key).and_then(|n| cx.integer::<i64>(n, &child(&path, key), signed))
            };
            let (quota, realtime_runtime) = (sint("quota"), sint("realtimeRuntime"));
            let mut text = |key: &str| f.get(key).and_then(|n| cx.string(n, &child(&path, key)));
            Cpu {
                shares,
                quota,
                period,
                realtime_runtime,
                realtime_period,
                cpus: text("cpus"),
                mems: text("mems"),
            }
        });
    }
    if let Some(n) = f.get("pids") {
        let path = p("pids");
        r.pids = cx.fields(n, &path, PIDS_KEYS, "a pids mapping").map(|f| Pids {
            limit: f
                .get("limit")
                .and_then(|n| cx.integer(n, &child(&path, "limit"), "a 64-bit integer")),
        });
    }
    if let Some(n) = f.get("blockio") {
        r.block_io = block_io(cx, n, &p("blockio"));
    }
    if let Some(n) = f.get("hugepageLimits") {
        r.hugepage_limits =
            objects(cx, n, &p("hugepageLimits"), "a list of hugepage limits", |cx, item, path| {
                let f = cx.fields(item, path, HUGEPAGE_KEYS, "a hugepage limit mapping")?;
                let page_size = f.get("pageSize").and_then(|n| match &n.kind {
                    super::yaml::Kind::Scalar(s)
                        if matches!(s.value, Value::Int(_) | Value::Str) =>
                    {
                        Some(s.text.clone())
                    }
                    _ => {
                        cx.type_error(n, &child(path, "pageSize"), "a page size such as \"2MB\"");
                        None
                    }
                });
                let limit = f
                    .get("limit")
                    .and_then(|n| cx.integer(n, &child(path, "limit"), "a non-negative integer"));
                Some(HugepageLimit { page_size, limit })
            });
    }
    if let Some(n) = f.get("network") {
        let path = p("network");
        r.network = cx.fields(n, &path, NETWORK_KEYS, "a network mapping").map(|f| {
            let class_id = f.get("classID").and_then(|n| {
                cx.integer(n, &child(&path, "classID"), "an integer from 0 to 4294967295")
            });
            let priorities = f.get("priorities").and_then(|n| {
                objects(
                    cx,
                    n,
                    &child(&path, "priorities"),
                    "a list of priorities",
                    |cx, item, path| {
                        let f = cx.fields(item, path, PRIORITY_KEYS, "a priority mapping")?;
                        let name = f.get("name").and_then(|n| cx.string(n, &child(path, "name")));
                        let priority = f.get("priority").and_then(|n| {
                            cx.integer(
                                n,
                                &child(path, "priority"),
                                "an integer from 0 to 4294967295",
                            )
                        });
                        Some(InterfacePriority { name, priority })
                    },
                )
            });
            Network { class_id, priorities }
        });
    }
    Some(r)
}

fn block_io(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<BlockIo> {
    let f = cx.fields(node, path, BLOCK_IO_KEYS, "a blockio mapping")?;
    let weight_range = "an integer from 0 to 65535";
    let mut b = BlockIo {
        weight: f.get("weight").and_then(|n| cx.integer(n, &child(path, "weight"), weight_range)),
        leaf_weight: f
            .get("leafWeight")
            .and_then(|n| cx.integer(n, &child(path, "leafWeight"), weight_range)),
        ..BlockIo::default()
    };
    if let Some(n) = f.get("weightDevice") {
        b.weight_device = objects(
            cx,
            n,
            &child(path, "weightDevice"),
            "a list of weight devices",
            |cx, item, path| {
                let f = cx.fields(item, path, WEIGHT_DEVICE_KEYS, "a weight device mapping")?;
                let mut int = |key: &str| {
                    f.get(key).and_then(|n| cx.integer(n, &child(path, key), "a 64-bit integer"))
                };
                let major = int("major");
                let minor = int("minor");
                let weight = f
                    .get("weight")
                    .and_then(|n| cx.integer(n, &child(path, "weight"), weight_range));
                let leaf_weight = f
                    .get("leafWeight")
                    .and_then(|n| cx.integer(n, &child(path, "leafWeight"), weight_range));
                Some(WeightDevice { major, minor, weight, leaf_weight })
            },
        );
    }
    let throttle = |cx: &mut Cx<'_>, key: &str| {
        let n = f.get(key)?;
        objects(cx, n, &child(path, key), "a list of throttle devices", |cx, item, path| {
            let f = cx.fields(item, path, THROTTLE_DEVICE_KEYS, "a throttle device mapping")?;
            let mut int = |key: &str| {
                f.get(key).and_then(|n| cx.integer(n, &child(path, key), "a 64-bit integer"))
            };
            let major = int("major");
            let minor = int("minor");
            let rate = f
                .get("rate")
                .and_then(|n| cx.integer(n, &child(path, "rate"), "a non-negative integer"));
            Some(ThrottleDevice { major, minor, rate })
        })
    };
    b.throttle_read_bps_device = throttle(cx, "throttleReadBpsDevice");
    b.throttle_write_bps_device = throttle(cx, "throttleWriteBpsDevice");
    b.throttle_read_iops_device = throttle(cx, "throttleReadIOPSDevice");
    b.throttle_write_iops_device = throttle(cx, "throttleWriteIOPSDevice");
    Some(b)
}

fn runtime(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<Runtime> {
    let f = cx.fields(node, path, RUNTIME_KEYS, "a runtime mapping")?;
    let p = |key: &str| child(path, key);
    let mut r = Runtime {
        cgroups: f.get("cgroups").and_then(|n| cx.strings(n, &p("cgroups"))),
        mounts: f.get("mounts").and_then(|n| mounts(cx, n, &p("mounts"), false)),
        mkdir: f.get("mkdir").and_then(|n| cx.strings(n, &p("mkdir"))),
        namespace: f.get("namespace").and_then(|n| cx.string(n, &p("namespace"))),
        ..Runtime::default()
    };
    if let Some(n) = f.get("interfaces") {
        r.interfaces =
            objects(cx, n, &p("interfaces"), "a list of interfaces", |cx, item, path| {
                let f = cx.fields(item, path, INTERFACE_KEYS, "an interface mapping")?;
                let mut text = |key: &str| f.get(key).and_then(|n| cx.string(n, &child(path, key)));
                let name = text("name");
                let add = text("add");
                let peer = text("peer");
                let create_in_root =
                    f.get("createInRoot").and_then(|n| cx.boolean(n, &child(path, "createInRoot")));
                Some(Interface { name, add, peer, create_in_root })
            });
    }
    if let Some(n) = f.get("bindNS") {
        let path = p("bindNS");
        r.bind_ns = cx.fields(n, &path, BIND_NS_KEYS, "a namespaces mapping").map(|f| {
            let mut text = |key: &str| f.get(key).and_then(|n| cx.string(n, &child(&path, key)));
            BindNamespaces {
                cgroup: text("cgroup"),
                ipc: text("ipc"),
                mnt: text("mnt"),
                net: text("net"),
                pid: text("pid"),
                user: text("user"),
                uts: text("uts"),
            }
        });
    }
    Some(r)
}

fn trust(cx: &mut Cx<'_>, node: &Node) -> Option<Trust> {
    let f = cx.fields(node, "trust", TRUST_KEYS, "a mapping")?;
    Some(Trust {
        image: f.get("image").and_then(|n| cx.strings(n, "trust.image")),
        org: f.get("org").and_then(|n| cx.strings(n, "trust.org")),
    })
}

fn file(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<File> {
    let f = cx.fields(node, path, FILE_KEYS, "a file mapping")?;
    let p = |key: &str| child(path, key);
    let file_path = match f.get("path") {
        Some(n) => {
            let text = cx.string(n, &p("path"));
            if text.as_deref() == Some("") || text.as_deref() == Some("/") {
                cx.error(n, &p("path"), "path must name a file, found an empty path");
            }
            text
        }
        None => {
            cx.error(node, path, "missing required key \"path\"");
            None
        }
    };
    let mut text = |key: &str| f.get(key).and_then(|n| cx.string(n, &p(key)));
    let symlink = text("symlink");
    let contents = text("contents");
    let source = text("source");
    let metadata = text("metadata");
    let directory = f.get("directory").and_then(|n| cx.boolean(n, &p("directory")));
    let optional = f.get("optional").and_then(|n| cx.boolean(n, &p("optional")));
    let mode = f.get("mode").and_then(|n| cx.mode(n, &p("mode")));
    let uid = f.get("uid").and_then(|n| cx.id(n, &p("uid")));
    let gid = f.get("gid").and_then(|n| cx.id(n, &p("gid")));
    if let (Some(value), Some(n)) = (metadata.as_deref(), f.get("metadata"))
        && !matches!(value, "" | "yaml" | "json")
    {
        cx.error(n, &p("metadata"), format!("expected yaml or json, found {value:?}"));
    }
    // LinuxKit's rules (moby/build/build.go, filesystem()), one error each.
    let is_directory = directory == Some(true);
    let has_symlink = symlink.as_deref().is_some_and(|s| !s.is_empty());
    let has_source = source.as_deref().is_some_and(|s| !s.is_empty());
    let has_metadata = metadata.as_deref().is_some_and(|s| !s.is_empty());
    let types_ok = f.get("contents").is_none_or(|_| contents.is_some())
        && f.get("source").is_none_or(|_| source.is_some())
        && f.get("metadata").is_none_or(|_| metadata.is_some())
        && f.get("symlink").is_none_or(|_| symlink.is_some())
        && f.get("directory").is_none_or(|_| directory.is_some());
    if types_ok {
        let given = if is_directory {
            Some("directory")
        } else if has_symlink {
            Some("symlink")
        } else if contents.is_some() {
            Some("contents")
        } else {
            None
        };
        match given {
            None => {
                if !has_source && !has_metadata {
                    cx.error(
                        node,
                        path,
                        "contents of the file not specified: give one of contents, source, metadata, symlink or directory: true",
                    );
                } else if has_source && has_metadata {
                    cx.error(node, path, "source and metadata cannot both be given");
                }
            }
            Some(kind) => {
                if has_metadata {
                    cx.error(node, path, format!("metadata cannot be combined with {kind}"));
                }
                if has_source {
                    cx.error(node, path, format!("source cannot be combined with {kind}"));
                }
                if is_directory && contents.is_some() {
                    cx.error(node, path, "a directory cannot have contents");
                }
            }
        }
    }
    Some(File {
        path: file_path?,
        directory,
        symlink,
        contents,
        source,
        metadata,
        optional,
        mode,
        uid,
        gid,
        location: cx.location(node),
    })
}

fn volume(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<Volume> {
    let f = cx.fields(node, path, VOLUME_KEYS, "a volume mapping")?;
    let p = |key: &str| child(path, key);
    let name = match f.get("name") {
        Some(n) => {
            let name = cx.string(n, &p("name"));
            if let Some(name) = &name {
                let valid = !name.is_empty()
                    && name.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
                    });
                if !valid {
                    cx.error(
                        n,
                        &p("name"),
                        format!("invalid volume name {name:?} (expected lowercase letters, digits, '_' and '-')"),
                    );
                }
            }
            name
        }
        None => {
            cx.error(node, path, "missing required key \"name\"");
            None
        }
    };
    let image = match f.get("image") {
        Some(n) if n.as_str() == Some("") => None,
        Some(n) => cx.image_ref(n, &p("image")),
        None => None,
    };
    let readonly = f.get("readonly").and_then(|n| cx.boolean(n, &p("readonly")));
    let format = f.get("format").and_then(|n| {
        let text = cx.string(n, &p("format"))?;
        match text.as_str() {
            "filesystem" => Some(VolumeFormat::Filesystem),
            "oci" => Some(VolumeFormat::Oci),
            _ => {
                cx.error(n, &p("format"), format!("expected filesystem or oci, found {text:?}"));
                None
            }
        }
    });
    let platforms = f.get("platforms").and_then(|n| {
        cx.checked_strings(n, &p("platforms"), |text| {
            let parts: Vec<&str> = text.split('/').collect();
            let ok = (2..=3).contains(&parts.len()) && parts.iter().all(|p| !p.is_empty());
            (!ok).then(|| format!("expected a platform such as linux/amd64, found {text:?}"))
        })
    });
    Some(Volume { name: name?, image, readonly, format, platforms, location: cx.location(node) })
}

/// Reads an `org.mobyproject.config` label: the per-image keys, without `name` and `image`.
pub(crate) fn label(cx: &mut Cx<'_>, root: &Node) -> ImageConfig {
    let Some(fields) = cx.fields(root, "", IMAGE_KEYS, "a mapping (a JSON or YAML object)") else {
        return ImageConfig::default();
    };
    for key in ["name", "image"] {
        if let Some(node) = fields.get(key) {
            cx.error(node, key, format!("{key} cannot be set in the org.mobyproject.config label"));
        }
    }
    let config = image_config(cx, &fields, "");
    // Names in a label are resolved by the builder against the whole configuration.
    cx.name_uses.clear();
    config
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Records every (definition, canonical key) pair used in `node`, read as `def`.
    fn walk(def: &str, node: &Node, used: &mut BTreeSet<(String, String)>) {
        let Kind::Map(entries) = &node.kind else {
            return;
        };
        let specs = ALL_KEY_SPECS.iter().find(|(d, _)| *d == def).map(|(_, s)| *s).unwrap();
        for (key, value) in entries {
            let Some(name) = key.as_str() else { continue };
            let Some((canonical, _)) =
                specs.iter().find(|(c, aliases)| *c == name || aliases.contains(&name))
            else {
                continue;
            };
            used.insert((def.to_owned(), (*canonical).to_owned()));
            let Some((_, _, child_def)) =
                CHILDREN.iter().find(|(d, k, _)| *d == def && k == canonical)
            else {
                continue;
            };
            match &value.kind {
                Kind::Map(_) => walk(child_def, value, used),
                Kind::Seq(items) => items.iter().for_each(|item| walk(child_def, item, used)),
                Kind::Scalar(_) => {}
            }
        }
    }

    #[test]
    fn valid_corpus_uses_every_schema_key() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/config/valid");
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                for inner in std::fs::read_dir(&path).unwrap() {
                    paths.push(inner.unwrap().path());
                }
            } else {
                paths.push(path);
            }
        }
        let mut used = BTreeSet::new();
        for path in paths.iter().filter(|p| p.to_string_lossy().ends_with(".yml")) {
            let (node, _) = super::super::yaml::parse(&std::fs::read_to_string(path).unwrap());
            walk("top", &node.unwrap(), &mut used);
        }
        let mut missing = Vec::new();
        for (def, specs) in ALL_KEY_SPECS {
            for (key, _) in *specs {
                if !used.contains(&((*def).to_owned(), (*key).to_owned())) {
                    missing.push(format!("{def}.{key}"));
                }
            }
        }
        assert!(missing.is_empty(), "schema keys no valid config uses: {missing:?}");
    }

    #[test]
    fn key_tables_match_linuxkit_schema_size() {
        // LinuxKit's schema.go: 8 top-level keys, 36 image keys, 10 file keys, 5 volume keys.
        let count = |def: &str| ALL_KEY_SPECS.iter().find(|(d, _)| *d == def).unwrap().1.len();
        assert_eq!(count("top"), 8);
        assert_eq!(count("image"), 36);
        assert_eq!(count("file"), 10);
        assert_eq!(count("volume"), 5);
        assert_eq!(count("resources"), 7);
        assert_eq!(count("runtime"), 6);
    }

    #[test]
    fn modes() {
        assert_eq!(check_mode("0644"), None);
        assert_eq!(check_mode("755"), None);
        assert_eq!(check_mode("17777777777"), None);
        assert!(check_mode("20000000000").is_some());
        assert!(check_mode("0648").is_some());
        assert!(check_mode("").is_some());
        assert!(check_mode("-1").is_some());
        assert!(check_mode("0o644").is_some());
    }

    #[test]
    fn rlimits() {
        assert_eq!(check_rlimit("nofile,1024,4096"), None);
        assert_eq!(check_rlimit("RLIMIT_NOFILE, unlimited ,Unlimited"), None);
        assert_eq!(check_rlimit("rlimit_core,0,0"), None);
        assert!(check_rlimit("nofile,1024").is_some());
        assert!(check_rlimit("files,1,2").is_some());
        assert!(check_rlimit("nofile,1,2,3").is_some());
        assert!(check_rlimit("nofile,-1,2").is_some());
    }

    #[test]
    fn binds_and_tmpfs() {
        assert_eq!(check_bind("/a:/b"), None);
        assert_eq!(check_bind("vol:/b:ro"), None);
        assert!(check_bind("/a").is_some());
        assert!(check_bind("/a:/b:ro:x").is_some());
        assert_eq!(check_tmpfs("/tmp"), None);
        assert_eq!(check_tmpfs("/tmp:size=1m,mode=1777"), None);
        assert!(check_tmpfs("/a:b:c").is_some());
    }

    #[test]
    fn unknown_key_suggestions() {
        assert_eq!(
            unknown_key_message("capabilites", IMAGE_KEYS),
            "unknown key (did you mean \"capabilities\"?)"
        );
        assert_eq!(
            unknown_key_message("zzz", KERNEL_KEYS),
            "unknown key (expected one of: image, cmdline, binary, tar, ucode)"
        );
        assert_eq!(unknown_key_message("qqqqqqq", IMAGE_KEYS), "unknown key");
    }
}

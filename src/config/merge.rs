//! Merging configuration files the way LinuxKit's `AppendConfig` does, and the checks that
//! span files.

use super::ConfigError;
use super::model::*;

/// Appends `next` to `into`: kernel `image`, `cmdline` and `binary` override when non-empty,
/// `tar` and `ucode` whenever present; lists are appended; `trust` lists are appended.
pub(crate) fn append(into: &mut Config, next: Config) {
    if let Some(next_kernel) = next.kernel {
        match &mut into.kernel {
            None => into.kernel = Some(next_kernel),
            Some(kernel) => {
                if let Some(image) = next_kernel.image {
                    kernel.image = Some(image);
                    kernel.location = next_kernel.location;
                }
                let non_empty = |v: Option<String>| v.filter(|s| !s.is_empty());
                if let Some(cmdline) = non_empty(next_kernel.cmdline) {
                    kernel.cmdline = Some(cmdline);
                }
                if let Some(binary) = non_empty(next_kernel.binary) {
                    kernel.binary = Some(binary);
                }
                if next_kernel.tar.is_some() {
                    kernel.tar = next_kernel.tar;
                }
                if next_kernel.ucode.is_some() {
                    kernel.ucode = next_kernel.ucode;
                }
            }
        }
    }
    into.init.extend(next.init);
    into.onboot.extend(next.onboot);
    into.onshutdown.extend(next.onshutdown);
    into.services.extend(next.services);
    into.files.extend(next.files);
    into.volumes.extend(next.volumes);
    if let Some(next_trust) = next.trust {
        let trust = into.trust.get_or_insert_with(Trust::default);
        for (list, more) in [(&mut trust.image, next_trust.image), (&mut trust.org, next_trust.org)]
        {
            if let Some(more) = more {
                list.get_or_insert_with(Vec::new).extend(more);
            }
        }
    }
}

/// Service names and volume names must be unique across all files. The path names the
/// entry's index within its own file.
pub(crate) fn check_unique(config: &Config) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    let services: Vec<(&str, &Location)> =
        config.services.iter().map(|s| (s.name.as_str(), &s.location)).collect();
    duplicates(&services, "services", "service", &mut errors);
    let volumes: Vec<(&str, &Location)> =
        config.volumes.iter().map(|v| (v.name.as_str(), &v.location)).collect();
    duplicates(&volumes, "volumes", "volume", &mut errors);
    errors
}

fn duplicates(
    entries: &[(&str, &Location)],
    section: &str,
    what: &str,
    errors: &mut Vec<ConfigError>,
) {
    for (idx, (name, location)) in entries.iter().enumerate() {
        let earlier = &entries[..idx];
        let Some((_, first)) = earlier.iter().find(|(n, _)| n == name) else {
            continue;
        };
        let index_in_file = earlier.iter().filter(|(_, l)| l.file == location.file).count();
        errors.push(ConfigError {
            file: location.file.clone(),
            line: location.line,
            column: location.column,
            path: format!("{section}[{index_in_file}].name"),
            message: format!("duplicate {what} name {name:?} (first defined at {first})"),
        });
    }
}

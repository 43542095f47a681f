//! Target platforms (`linux/arm64/v8`) and the choice of a manifest from an index.
//!
//! `--arch` values are parsed by [`Platform::from_str`]: `amd64`, `arm64`, `riscv64`, `arm64/v8`,
//! `linux/amd64`, `linux/arm/v7`. Common aliases are normalized to Go's names (`x86_64` and
//! `x86-64` → `amd64`, `aarch64` → `arm64`, `armhf` → `arm/v7`, `armel` → `arm/v6`, `i386` → `386`).
//! The OS defaults to `linux`.
//!
//! Matching follows containerd's normalization: a missing variant means the architecture's
//! default variant (`arm64` → `v8`, `arm` → `v7`, `amd64` → `v1`). When the request names no
//! variant, any variant of the architecture matches, as in LinuxKit (which ignores variants), but
//! an entry with the default variant is preferred; otherwise the first match in index order wins.
//! When the request names a variant, only entries with that (normalized) variant match.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::Error;
use super::spec::{Descriptor, DescriptorPlatform, ImageIndex};

/// A target platform: OS, architecture and optional variant, in Go's spelling.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Platform {
    /// Operating system, `linux` unless given.
    pub os: String,
    /// CPU architecture (`amd64`, `arm64`, `riscv64`, …).
    pub architecture: String,
    /// CPU variant (`v7`, `v8`), when one was asked for.
    pub variant: Option<String>,
}

impl Platform {
    /// `linux/<architecture>` without variant; `architecture` is normalized like `--arch` values.
    pub fn linux(architecture: &str) -> Platform {
        let (architecture, variant) = normalize_arch(architecture);
        Platform {
            os: "linux".to_owned(),
            architecture: architecture.to_owned(),
            variant: variant.map(str::to_owned),
        }
    }

    /// True when an index entry (or image configuration) with this OS, architecture and variant
    /// satisfies the request.
    pub fn matches(&self, os: &str, architecture: &str, variant: Option<&str>) -> bool {
        let (architecture, alias_variant) = normalize_arch(architecture);
        let variant = variant.filter(|v| !v.is_empty()).or(alias_variant);
        if !os.eq_ignore_ascii_case(&self.os) || architecture != self.architecture {
            return false;
        }
        match &self.variant {
            None => true,
            Some(wanted) => {
                effective_variant(architecture, variant)
                    == effective_variant(architecture, Some(wanted))
            }
        }
    }

    fn prefers(&self, variant: Option<&str>) -> bool {
        let wanted = effective_variant(&self.architecture, self.variant.as_deref());
        effective_variant(&self.architecture, variant.filter(|v| !v.is_empty())) == wanted
    }

    /// Chooses the entry of `index` for this platform; `image` names the image in errors, which
    /// list the platforms the index does have.
    pub fn select<'a>(&self, index: &'a ImageIndex, image: &str) -> Result<&'a Descriptor, Error> {
        let mut first_match = None;
        for entry in &index.manifests {
            let Some(p) = &entry.platform else { continue };
            if !self.matches(&p.os, &p.architecture, p.variant.as_deref()) {
                continue;
            }
            if self.prefers(p.variant.as_deref()) {
                return Ok(entry);
            }
            first_match.get_or_insert(entry);
        }
        first_match.ok_or_else(|| Error::NoMatchingPlatform {
            image: image.to_owned(),
            wanted: self.to_string(),
            available: available_platforms(index),
        })
    }
}

/// The platforms an index lists, for error messages: `linux/amd64, linux/arm64/v8`.
pub fn available_platforms(index: &ImageIndex) -> String {
    let mut names: Vec<String> = index
        .manifests
        .iter()
        .filter_map(|entry| entry.platform.as_ref())
        .filter(|p| p.os != "unknown")
        .map(describe)
        .collect();
    names.dedup();
    if names.is_empty() { "no platforms".to_owned() } else { names.join(", ") }
}

fn describe(p: &DescriptorPlatform) -> String {
    match p.variant.as_deref().filter(|v| !v.is_empty()) {
        Some(variant) => format!("{}/{}/{variant}", p.os, p.architecture),
        None => format!("{}/{}", p.os, p.architecture),
    }
}

/// Go's architecture name and the variant an alias implies.
fn normalize_arch(architecture: &str) -> (&str, Option<&'static str>) {
    match architecture {
        "x86_64" | "x86-64" => ("amd64", None),
        "aarch64" => ("arm64", None),
        "armhf" => ("arm", Some("v7")),
        "armel" => ("arm", Some("v6")),
        "i386" | "i686" => ("386", None),
        other => (other, None),
    }
}

fn effective_variant<'a>(architecture: &str, variant: Option<&'a str>) -> Option<&'a str> {
    let default = match architecture {
        "arm64" => Some("v8"),
        "arm" => Some("v7"),
        "amd64" => Some("v1"),
        _ => None,
    };
    variant.or(default)
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.".contains(&b))
}

fn is_variant(s: &str) -> bool {
    s.len() >= 2 && s.starts_with('v') && s[1..].bytes().all(|b| b.is_ascii_digit())
}

impl FromStr for Platform {
    type Err = Error;

    fn from_str(value: &str) -> Result<Platform, Error> {
        let invalid = || Error::InvalidPlatform { value: value.to_owned() };
        let parts: Vec<&str> = value.split('/').collect();
        if !parts.iter().all(|p| is_name(p)) {
            return Err(invalid());
        }
        let (os, architecture, variant) = match parts[..] {
            [arch] => ("linux", arch, None),
            [arch, variant] if is_variant(variant) => ("linux", arch, Some(variant)),
            [os, arch] => (os, arch, None),
            [os, arch, variant] => (os, arch, Some(variant)),
            _ => return Err(invalid()),
        };
        let (architecture, alias_variant) = normalize_arch(architecture);
        if alias_variant.is_some() && variant.is_some() {
            return Err(invalid());
        }
        Ok(Platform {
            os: os.to_owned(),
            architecture: architecture.to_owned(),
            variant: variant.or(alias_variant).map(str::to_owned),
        })
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.variant {
            Some(variant) => write!(f, "{}/{}/{variant}", self.os, self.architecture),
            None => write!(f, "{}/{}", self.os, self.architecture),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;
    use crate::oci::media_type;

    fn parse(value: &str) -> String {
        match value.parse::<Platform>() {
            Ok(p) => p.to_string(),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn parses_arch_values() {
        assert_eq!(parse("amd64"), "linux/amd64");
        assert_eq!(parse("arm64"), "linux/arm64");
        assert_eq!(parse("riscv64"), "linux/riscv64");
        assert_eq!(parse("arm64/v8"), "linux/arm64/v8");
        assert_eq!(parse("linux/arm/v7"), "linux/arm/v7");
        assert_eq!(parse("linux/amd64"), "linux/amd64");
        assert_eq!(parse("x86_64"), "linux/amd64");
        assert_eq!(parse("aarch64"), "linux/arm64");
        assert_eq!(parse("armhf"), "linux/arm/v7");
        for bad in ["", "linux/", "/amd64", "Linux/amd64", "a/b/c/d", "armhf/v6", "amd 64"] {
            assert!(parse(bad).starts_with("error: invalid platform"), "{bad}: {}", parse(bad));
        }
    }

    fn index(entries: &[(&str, &str, Option<&str>)]) -> ImageIndex {
        let manifests = entries
            .iter()
            .enumerate()
            .map(|(idx, (os, arch, variant))| {
                let mut d = Descriptor::new(
                    media_type::OCI_MANIFEST,
                    Digest::sha256(idx.to_string().as_bytes()),
                    1,
                );
                d.platform = Some(DescriptorPlatform {
                    architecture: (*arch).to_owned(),
                    os: (*os).to_owned(),
                    os_version: None,
                    os_features: Vec::new(),
                    variant: variant.map(str::to_owned),
                });
                d
            })
            .collect();
        ImageIndex {
            schema_version: 2,
            media_type: None,
            artifact_type: None,
            manifests,
            subject: None,
            annotations: Default::default(),
        }
    }

    /// Index position of the chosen entry, or the error text.
    fn choose(wanted: &str, entries: &[(&str, &str, Option<&str>)]) -> String {
        let index = index(entries);
        let platform: Platform = wanted.parse().unwrap();
        match platform.select(&index, "img") {
            Ok(d) => index.manifests.iter().position(|m| m == d).unwrap().to_string(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn selects_by_os_arch_and_variant() {
        let multi = [
            ("unknown", "unknown", None),
            ("linux", "amd64", None),
            ("linux", "arm", Some("v6")),
            ("linux", "arm", Some("v7")),
            ("linux", "arm64", Some("v8")),
            ("windows", "riscv64", None),
        ];
        assert_eq!(choose("amd64", &multi), "1");
        // arm64 without a variant matches v8 (containerd's and LinuxKit's rule).
        assert_eq!(choose("arm64", &multi), "4");
        assert_eq!(choose("arm64/v8", &multi), "4");
        // arm without a variant prefers v7, the default, over an earlier v6.
        assert_eq!(choose("arm", &multi), "3");
        assert_eq!(choose("linux/arm/v6", &multi), "2");
        assert_eq!(
            choose("riscv64", &multi),
            "img: no manifest for platform linux/riscv64; the index has linux/amd64, linux/arm/v6, \
             linux/arm/v7, linux/arm64/v8, windows/riscv64"
        );
        // An entry without a variant satisfies a request for the default variant.
        assert_eq!(choose("arm64/v8", &[("linux", "arm64", None)]), "0");
        assert!(choose("arm64/v9", &[("linux", "arm64", None)]).contains("no manifest"));
        // No variant requested: any variant, first in index order when none is the default.
        assert_eq!(choose("arm64", &[("linux", "arm64", Some("v9"))]), "0");
    }
}

//! Image references as Docker and LinuxKit spell them, parsed and normalized.
//!
//! The grammar is the distribution reference grammar (`github.com/distribution/reference`):
//!
//! ```text
//! reference      := name [ ":" tag ] [ "@" digest ]
//! name           := [domain "/"] path-component ["/" path-component]*
//! domain         := host [":" port]
//! host           := domain-component ["." domain-component]* | "[" ipv6 "]"
//! path-component := [a-z0-9]+ (separator [a-z0-9]+)*
//! separator      := [_.] | "__" | "-"+
//! tag            := [\w][\w.-]{0,127}
//! ```
//!
//! The name (domain and path) is at most 255 characters long.
//!
//! Normalization is exactly LinuxKit's `util.ReferenceExpand`: a single path component `redis`
//! becomes `docker.io/library/redis`; two components `foo/bar` become `docker.io/foo/bar`
//! unless the first one contains `.` or `:` or is `localhost`; with three or more components the
//! first one is always the registry. No `:latest` is added: use [`Reference::tag_or_latest`]
//! when fetching.
//!
//! Not supported: digest algorithms other than sha256 and sha512 (see [`crate::digest`]).

use std::fmt;
use std::str::FromStr;

use crate::digest::{Digest, DigestError};

/// The registry LinuxKit (and Docker) use when a reference names none.
pub const DEFAULT_REGISTRY: &str = "docker.io";

/// The longest name (registry, `/` and repository) the grammar allows.
pub const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// A parsed, normalized image reference.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// Why a string is not an image reference. Every message quotes the whole reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReferenceError {
    /// The empty string.
    #[error("invalid image reference: empty string")]
    Empty,
    /// Whitespace or another character no part of a reference may contain.
    #[error("invalid image reference {reference:?}: character {character:?} is not allowed")]
    Character {
        /// The reference as written.
        reference: String,
        /// The offending character.
        character: char,
    },
    /// Registry and repository together are longer than 255 characters.
    #[error(
        "invalid image reference {reference:?}: name is {length} characters long, at most 255 are allowed"
    )]
    NameTooLong {
        /// The reference as written.
        reference: String,
        /// The length of the expanded name.
        length: usize,
    },
    /// A path component with an uppercase letter.
    #[error(
        "invalid image reference {reference:?}: repository name must be lowercase, found {component:?}"
    )]
    Uppercase {
        /// The reference as written.
        reference: String,
        /// The offending path component.
        component: String,
    },
    /// A path component that is empty or does not match the grammar.
    #[error(
        "invalid image reference {reference:?}: invalid repository path component {component:?} (expected lowercase letters and digits separated by '.', '_', '__' or dashes)"
    )]
    PathComponent {
        /// The reference as written.
        reference: String,
        /// The offending path component.
        component: String,
    },
    /// A registry host that is not a domain name or a bracketed IPv6 address.
    #[error(
        "invalid image reference {reference:?}: invalid registry host {host:?} (expected a domain name such as registry.example.com or [::1])"
    )]
    Host {
        /// The reference as written.
        reference: String,
        /// The offending host.
        host: String,
    },
    /// A registry port that is not a decimal number.
    #[error(
        "invalid image reference {reference:?}: invalid registry port {port:?} (expected digits)"
    )]
    Port {
        /// The reference as written.
        reference: String,
        /// The offending port.
        port: String,
    },
    /// A tag that does not match `[\w][\w.-]{0,127}`.
    #[error(
        "invalid image reference {reference:?}: invalid tag {tag:?} (expected 1 to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-')"
    )]
    Tag {
        /// The reference as written.
        reference: String,
        /// The offending tag.
        tag: String,
    },
    /// A malformed digest after `@`.
    #[error("invalid image reference {reference:?}: {source}")]
    Digest {
        /// The reference as written.
        reference: String,
        /// What is wrong with the digest.
        source: DigestError,
    },
}

impl Reference {
    /// Builds a reference from parts that are validated like a parsed string.
    pub fn new(
        registry: &str,
        repository: &str,
        tag: Option<&str>,
        digest: Option<Digest>,
    ) -> Result<Reference, ReferenceError> {
        let mut text = format!("{registry}/{repository}");
        if let Some(tag) = tag {
            text.push(':');
            text.push_str(tag);
        }
        if let Some(digest) = &digest {
            text.push('@');
            text.push_str(&digest.to_string());
        }
        text.parse()
    }

    /// The registry host, with its port if any (`docker.io`, `localhost:5000`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path inside the registry (`library/alpine`, `linuxkit/init`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag as written, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest as written, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The tag to fetch when no digest pins the image: the written tag, else `latest`.
    pub fn tag_or_latest(&self) -> &str {
        self.tag.as_deref().unwrap_or("latest")
    }

    /// The registry and repository: `docker.io/library/alpine`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The repository as the registry's API expects it. Docker Hub serves official images
    /// under `library/`, so `docker.io/redis` (which LinuxKit leaves unexpanded) is fetched
    /// as `library/redis`; every other repository is returned unchanged.
    pub fn remote_repository(&self) -> String {
        if self.registry == DEFAULT_REGISTRY && !self.repository.contains('/') {
            format!("library/{}", self.repository)
        } else {
            self.repository.clone()
        }
    }

    /// The same reference without its tag (digest kept).
    pub fn without_tag(&self) -> Reference {
        Reference { tag: None, ..self.clone() }
    }

    /// The same reference pinned to `digest` (tag kept, as `name:tag@digest`).
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference { digest: Some(digest), ..self.clone() }
    }
}

/// Expands a reference exactly like LinuxKit's `util.ReferenceExpand` (without `:latest`).
pub fn expand(reference: &str) -> String {
    let parts: Vec<&str> = reference.split('/').collect();
    match parts.as_slice() {
        [_] => format!("{DEFAULT_REGISTRY}/library/{reference}"),
        [first, _] if !is_registry_like(first) => format!("{DEFAULT_REGISTRY}/{reference}"),
        _ => reference.to_owned(),
    }
}

fn is_registry_like(component: &str) -> bool {
    component.contains('.') || component.contains(':') || component == "localhost"
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(written: &str) -> Result<Reference, ReferenceError> {
        if written.is_empty() {
            return Err(ReferenceError::Empty);
        }
        let bad_char = written.chars().find(|c| c.is_whitespace() || c.is_control());
        if let Some(character) = bad_char {
            return Err(ReferenceError::Character { reference: written.to_owned(), character });
        }
        let expanded = expand(written);
        let (rest, digest) = match expanded.split_once('@') {
            Some((rest, digest)) => {
                let digest = digest.parse::<Digest>().map_err(|source| ReferenceError::Digest {
                    reference: written.to_owned(),
                    source,
                })?;
                (rest, Some(digest))
            }
            None => (expanded.as_str(), None),
        };
        // A ':' after the last '/' separates the tag; one before it belongs to the port.
        let last_slash = rest.rfind('/').unwrap_or(0);
        let (name, tag) = match rest.rfind(':') {
            Some(colon) if colon > last_slash => (&rest[..colon], Some(&rest[colon + 1..])),
            _ => (rest, None),
        };
        if let Some(tag) = tag
            && !is_valid_tag(tag)
        {
            return Err(ReferenceError::Tag { reference: written.to_owned(), tag: tag.to_owned() });
        }
        let Some((registry, repository)) = name.split_once('/') else {
            // After expansion every name has a registry; a bare name here means a
            // component such as "x@sha256:..." with nothing before it.
            return Err(ReferenceError::PathComponent {
                reference: written.to_owned(),
                component: name.to_owned(),
            });
        };
        check_registry(written, registry)?;
        for component in repository.split('/') {
            check_path_component(written, component)?;
        }
        if name.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(ReferenceError::NameTooLong {
                reference: written.to_owned(),
                length: name.len(),
            });
        }
        Ok(Reference {
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            tag: tag.map(str::to_owned),
            digest,
        })
    }
}

fn is_valid_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    match bytes.split_first() {
        Some((first, rest)) => {
            word(*first)
                && rest.len() <= 127
                && rest.iter().all(|&b| word(b) || b == b'.' || b == b'-')
        }
        None => false,
    }
}

fn check_registry(written: &str, registry: &str) -> Result<(), ReferenceError> {
    let host_error =
        || ReferenceError::Host { reference: written.to_owned(), host: registry.to_owned() };
    let (host, port) = if let Some(inner) = registry.strip_prefix('[') {
        let (address, after) = inner.split_once(']').ok_or_else(host_error)?;
        let ipv6 = !address.is_empty()
            && address.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        if !ipv6 {
            return Err(host_error());
        }
        match after {
            "" => (address, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (address, Some(port)),
                None => return Err(host_error()),
            },
        }
    } else {
        let (host, port) = match registry.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (registry, None),
        };
        let valid_component = |c: &str| {
            let bytes = c.as_bytes();
            match (bytes.first(), bytes.last()) {
                (Some(first), Some(last)) => {
                    first.is_ascii_alphanumeric()
                        && last.is_ascii_alphanumeric()
                        && bytes.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-')
                }
                _ => false,
            }
        };
        if !host.split('.').all(valid_component) {
            return Err(host_error());
        }
        (host, port)
    };
    let _ = host;
    if let Some(port) = port
        && (port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(ReferenceError::Port { reference: written.to_owned(), port: port.to_owned() });
    }
    Ok(())
}

fn check_path_component(written: &str, component: &str) -> Result<(), ReferenceError> {
    if component.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(ReferenceError::Uppercase {
            reference: written.to_owned(),
            component: component.to_owned(),
        });
    }
    let error = || ReferenceError::PathComponent {
        reference: written.to_owned(),
        component: component.to_owned(),
    };
    // alpha-numeric runs separated by exactly one separator: '.', '_', '__' or one or more '-'.
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut idx = 0;
    loop {
        let run_start = idx;
        while idx < bytes.len() && alnum(bytes[idx]) {
            idx += 1;
        }
        if idx == run_start {
            return Err(error());
        }
        if idx == bytes.len() {
            return Ok(());
        }
        let sep_start = idx;
        while idx < bytes.len() && !alnum(bytes[idx]) {
            idx += 1;
        }
        let separator = &component[sep_start..idx];
        let valid_separator = matches!(separator, "." | "_" | "__")
            || (!separator.is_empty() && separator.bytes().all(|b| b == b'-'));
        if !valid_separator {
            return Err(error());
        }
    }
}

impl fmt::Display for Reference {
    /// The fully expanded form: `registry/repository[:tag][@digest]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl serde::Serialize for Reference {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Reference {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Reference, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    const HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    /// Parses `input` and renders either the parts or the error.
    fn check(input: &str, expect: Expect) {
        let actual = match input.parse::<Reference>() {
            Ok(r) => format!(
                "{} | registry={} repository={} tag={:?} digest={:?}",
                r,
                r.registry(),
                r.repository(),
                r.tag(),
                r.digest().map(|d| d.to_string().chars().take(15).collect::<String>())
            ),
            Err(e) => format!("error: {e}"),
        };
        expect.assert_eq(&actual);
    }

    #[test]
    fn single_component_gets_library() {
        check(
            "redis",
            expect![[
                r#"docker.io/library/redis | registry=docker.io repository=library/redis tag=None digest=None"#
            ]],
        );
        check(
            "alpine:3.20",
            expect![[
                r#"docker.io/library/alpine:3.20 | registry=docker.io repository=library/alpine tag=Some("3.20") digest=None"#
            ]],
        );
    }

    #[test]
    fn two_components_get_docker_io() {
        check(
            "linuxkit/init:8a7b6cdb89197dc94eb6db69ef9dc90b750db598",
            expect![[
                r#"docker.io/linuxkit/init:8a7b6cdb89197dc94eb6db69ef9dc90b750db598 | registry=docker.io repository=linuxkit/init tag=Some("8a7b6cdb89197dc94eb6db69ef9dc90b750db598") digest=None"#
            ]],
        );
        check(
            "foo/bar",
            expect![[
                r#"docker.io/foo/bar | registry=docker.io repository=foo/bar tag=None digest=None"#
            ]],
        );
    }

    #[test]
    fn registry_like_first_component_is_kept() {
        check(
            "localhost/x",
            expect![[r#"localhost/x | registry=localhost repository=x tag=None digest=None"#]],
        );
        check(
            "docker.io/library/x",
            expect![[
                r#"docker.io/library/x | registry=docker.io repository=library/x tag=None digest=None"#
            ]],
        );
        check(
            "docker.io/redis",
            expect![[
                r#"docker.io/redis | registry=docker.io repository=redis tag=None digest=None"#
            ]],
        );
        check(
            "host:5000/x",
            expect![[r#"host:5000/x | registry=host:5000 repository=x tag=None digest=None"#]],
        );
        check(
            "ghcr.io/a/b/c:v1",
            expect![[
                r#"ghcr.io/a/b/c:v1 | registry=ghcr.io repository=a/b/c tag=Some("v1") digest=None"#
            ]],
        );
    }

    #[test]
    fn three_components_first_is_registry_as_in_linuxkit() {
        check(
            "foo/bar/baz",
            expect![[r#"foo/bar/baz | registry=foo repository=bar/baz tag=None digest=None"#]],
        );
    }

    #[test]
    fn port_tag_and_digest() {
        check(
            &format!("localhost:5000/lkfix/busybox:1.35@sha256:{HEX}"),
            expect![[
                r#"localhost:5000/lkfix/busybox:1.35@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 | registry=localhost:5000 repository=lkfix/busybox tag=Some("1.35") digest=Some("sha256:e3b0c442")"#
            ]],
        );
        check(
            &format!("alpine@sha256:{HEX}"),
            expect![[
                r#"docker.io/library/alpine@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 | registry=docker.io repository=library/alpine tag=None digest=Some("sha256:e3b0c442")"#
            ]],
        );
        check(
            "[::1]:5000/x:y",
            expect![[
                r#"[::1]:5000/x:y | registry=[::1]:5000 repository=x tag=Some("y") digest=None"#
            ]],
        );
        check(
            "localhost:5000",
            expect![[
                r#"docker.io/library/localhost:5000 | registry=docker.io repository=library/localhost tag=Some("5000") digest=None"#
            ]],
        );
    }

    #[test]
    fn separators() {
        check(
            "a/b.c_d__e---f",
            expect![[
                r#"docker.io/a/b.c_d__e---f | registry=docker.io repository=a/b.c_d__e---f tag=None digest=None"#
            ]],
        );
        check(
            "a/b._c",
            expect![[
                r#"error: invalid image reference "a/b._c": invalid repository path component "b._c" (expected lowercase letters and digits separated by '.', '_', '__' or dashes)"#
            ]],
        );
        check(
            "a/b___c",
            expect![[
                r#"error: invalid image reference "a/b___c": invalid repository path component "b___c" (expected lowercase letters and digits separated by '.', '_', '__' or dashes)"#
            ]],
        );
        check(
            "a/-b",
            expect![[
                r#"error: invalid image reference "a/-b": invalid repository path component "-b" (expected lowercase letters and digits separated by '.', '_', '__' or dashes)"#
            ]],
        );
        check(
            "a/b.",
            expect![[
                r#"error: invalid image reference "a/b.": invalid repository path component "b." (expected lowercase letters and digits separated by '.', '_', '__' or dashes)"#
            ]],
        );
        check(
            "a//b",
            expect![[
                r#"error: invalid image reference "a//b": invalid repository path component "" (expected lowercase letters and digits separated by '.', '_', '__' or dashes)"#
            ]],
        );
    }

    #[test]
    fn errors_say_what_is_wrong() {
        check("", expect![[r#"error: invalid image reference: empty string"#]]);
        check(
            "Alpine",
            expect![[
                r#"error: invalid image reference "Alpine": repository name must be lowercase, found "Alpine""#
            ]],
        );
        check(
            "alpine 3",
            expect![[r#"error: invalid image reference "alpine 3": character ' ' is not allowed"#]],
        );
        check(
            "alpine:",
            expect![[
                r#"error: invalid image reference "alpine:": invalid tag "" (expected 1 to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-')"#
            ]],
        );
        check(
            "alpine:-x",
            expect![[
                r#"error: invalid image reference "alpine:-x": invalid tag "-x" (expected 1 to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-')"#
            ]],
        );
        check(
            "alpine@sha256:abc",
            expect![[
                r#"error: invalid image reference "alpine@sha256:abc": invalid digest "sha256:abc": expected 64 lowercase hex digits"#
            ]],
        );
        check(
            "host:port/x",
            expect![[
                r#"error: invalid image reference "host:port/x": invalid registry port "port" (expected digits)"#
            ]],
        );
        check(
            "-bad.host/x",
            expect![[
                r#"error: invalid image reference "-bad.host/x": invalid registry host "-bad.host" (expected a domain name such as registry.example.com or [::1])"#
            ]],
        );
        check(
            "foo_bar/x/y",
            expect![[
                r#"error: invalid image reference "foo_bar/x/y": invalid registry host "foo_bar" (expected a domain name such as registry.example.com or [::1])"#
            ]],
        );
        check(
            "a/b:c:d",
            expect![[
                r#"error: invalid image reference "a/b:c:d": invalid repository path component "b:c" (expected lowercase letters and digits separated by '.', '_', '__' or dashes)"#
            ]],
        );
    }

    #[test]
    fn tag_length_limit() {
        let ok = format!("a:{}", "t".repeat(128));
        assert!(ok.parse::<Reference>().is_ok());
        let too_long = format!("a:{}", "t".repeat(129));
        assert!(matches!(too_long.parse::<Reference>(), Err(ReferenceError::Tag { .. })));
    }

    #[test]
    fn name_length_limit() {
        // "docker.io/" + 245 characters = 255: the maximum.
        let ok = format!("docker.io/{}", "a".repeat(245));
        assert!(ok.parse::<Reference>().is_ok());
        let too_long = format!("docker.io/{}", "a".repeat(246));
        assert!(matches!(
            too_long.parse::<Reference>(),
            Err(ReferenceError::NameTooLong { length: 256, .. })
        ));
    }

    #[test]
    fn expand_matches_linuxkit() {
        assert_eq!(expand("redis"), "docker.io/library/redis");
        assert_eq!(expand("redis:7"), "docker.io/library/redis:7");
        assert_eq!(expand("foo/bar"), "docker.io/foo/bar");
        assert_eq!(expand("my.reg/bar"), "my.reg/bar");
        assert_eq!(expand("reg:5000/bar"), "reg:5000/bar");
        assert_eq!(expand("localhost/bar"), "localhost/bar");
        assert_eq!(expand("a/b/c"), "a/b/c");
    }

    #[test]
    fn accessors_and_helpers() {
        let r: Reference = "redis".parse().unwrap();
        assert_eq!(r.tag_or_latest(), "latest");
        assert_eq!(r.name(), "docker.io/library/redis");
        assert_eq!(r.remote_repository(), "library/redis");
        let short: Reference = "docker.io/redis:7".parse().unwrap();
        assert_eq!(short.tag_or_latest(), "7");
        assert_eq!(short.remote_repository(), "library/redis");
        let pinned = short.with_digest(format!("sha256:{HEX}").parse().unwrap());
        assert_eq!(pinned.to_string(), format!("docker.io/redis:7@sha256:{HEX}"));
        assert_eq!(pinned.without_tag().to_string(), format!("docker.io/redis@sha256:{HEX}"));
        let built = Reference::new("localhost:5000", "a/b", Some("1"), None).unwrap();
        assert_eq!(built.to_string(), "localhost:5000/a/b:1");
        assert!(Reference::new("localhost", "A", None, None).is_err());
    }

    #[test]
    fn display_reparses_to_the_same_reference() {
        for input in ["redis", "a/b:c", "localhost:5000/x/y:z", "[::1]/x", "docker.io/redis"] {
            let r: Reference = input.parse().unwrap();
            let again: Reference = r.to_string().parse().unwrap();
            assert_eq!(r, again, "{input}");
        }
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics_and_display_reparses(text in "[a-zA-Z0-9_.:@/\\[\\]é -]{0,40}") {
            if let Ok(reference) = text.parse::<Reference>() {
                let again: Reference = reference.to_string().parse().unwrap();
                proptest::prop_assert_eq!(again, reference);
            }
        }
    }
}

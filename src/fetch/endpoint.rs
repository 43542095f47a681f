//! Where requests for a registry go: mirrors, Docker Hub's API host, and which schemes are allowed.
//!
//! Mirrors follow LinuxKit's `--mirror REGISTRY=URL` (`registry/remote.go`): the URL may start with
//! `http://` or `https://` (default `https://`) and may carry a path, which is put in front of the
//! repository (`--mirror docker.io=https://m.example/hub` fetches `docker.io/library/alpine` as
//! `m.example` repository `hub/library/alpine`). The key `*` matches every registry. Docker Hub's
//! names `docker.io`, `index.docker.io` and `registry-1.docker.io` are aliases of each other.
//!
//! Plain HTTP is used only for loopback registries (`127.0.0.0/8`, `::1`, `localhost`), registries
//! named with `--insecure-registry`, and mirrors whose URL says `http://` explicitly. Loopback and
//! insecure registries are tried with HTTPS first and fall back to HTTP when TLS fails, as Docker
//! does; an insecure registry's certificate is not checked.

use std::collections::BTreeMap;
use std::net::IpAddr;

/// Docker Hub's canonical name in references.
pub const DOCKER_HUB: &str = "docker.io";
/// The host serving Docker Hub's registry API.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";
/// The key Docker's `config.json` uses for Docker Hub credentials.
pub const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";

/// How a registry may be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// HTTPS with certificate verification, nothing else.
    Https,
    /// HTTPS first (verified), plain HTTP when TLS fails: loopback registries.
    HttpsThenHttp,
    /// HTTPS without certificate verification first, then plain HTTP: `--insecure-registry`.
    Insecure,
    /// Plain HTTP only: a mirror written as `http://…`.
    Http,
}

/// The resolved place to send a registry's requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The registry as the reference names it (`docker.io`), for messages and credentials.
    pub registry: String,
    /// `host[:port]` to connect to.
    pub authority: String,
    /// Prepended to every repository (a mirror's path), without slashes at either end.
    pub repository_prefix: String,
    /// Schemes allowed.
    pub transport: Transport,
}

impl Endpoint {
    /// The repository name to use in API paths on this endpoint.
    pub fn repository(&self, repository: &str) -> String {
        if self.repository_prefix.is_empty() {
            repository.to_owned()
        } else {
            format!("{}/{repository}", self.repository_prefix)
        }
    }

    /// The key to look credentials up under: the mirror's host when a mirror is used, Docker
    /// Hub's legacy key for Docker Hub, else the registry.
    pub fn credential_key(&self) -> String {
        if is_docker_hub(&self.authority) { DOCKER_HUB.to_owned() } else { self.authority.clone() }
    }
}

/// Mirror and insecure-registry settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointConfig {
    /// `REGISTRY` → mirror URL, from `--mirror REGISTRY=URL`.
    pub mirrors: BTreeMap<String, String>,
    /// Registries (`host` or `host:port`) that may use plain HTTP or unverified TLS.
    pub insecure: Vec<String>,
}

/// Why a mirror setting is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
#[error("invalid mirror {registry}={url}: expected [http://|https://]host[:port][/path]")]
pub struct MirrorError {
    /// The registry the mirror is for.
    pub registry: String,
    /// The mirror URL as given.
    pub url: String,
}

impl EndpointConfig {
    /// Parses `REGISTRY=URL` as LinuxKit's `--mirror` takes it.
    pub fn add_mirror(&mut self, setting: &str) -> Result<(), MirrorError> {
        let bad = || MirrorError { registry: setting.to_owned(), url: String::new() };
        let (registry, url) = setting.split_once('=').ok_or_else(bad)?;
        if registry.is_empty() || url.is_empty() {
            return Err(bad());
        }
        parse_mirror(registry, url)?;
        self.mirrors.insert(registry.to_owned(), url.to_owned());
        Ok(())
    }

    /// The endpoint for `registry` (as a reference names it).
    pub fn endpoint(&self, registry: &str) -> Result<Endpoint, MirrorError> {
        if let Some(url) = self.mirror_for(registry) {
            let (transport, authority, prefix) = parse_mirror(registry, url)?;
            let transport = match transport {
                Transport::Https => self.transport_for(&authority),
                other => other,
            };
            return Ok(Endpoint {
                registry: registry.to_owned(),
                authority,
                repository_prefix: prefix,
                transport,
            });
        }
        let authority =
            if is_docker_hub(registry) { DOCKER_HUB_API.to_owned() } else { registry.to_owned() };
        Ok(Endpoint {
            registry: registry.to_owned(),
            transport: self.transport_for(&authority),
            authority,
            repository_prefix: String::new(),
        })
    }

    fn mirror_for(&self, registry: &str) -> Option<&str> {
        if let Some(url) = self.mirrors.get(registry) {
            return Some(url);
        }
        if is_docker_hub(registry) {
            let alias = self.mirrors.iter().find(|(key, _)| is_docker_hub(key));
            if let Some((_, url)) = alias {
                return Some(url);
            }
        }
        self.mirrors.get("*").map(String::as_str)
    }

    fn transport_for(&self, authority: &str) -> Transport {
        let host = host_of(authority);
        let listed = self.insecure.iter().any(|i| i == authority || i == host);
        if listed {
            Transport::Insecure
        } else if is_loopback(host) {
            Transport::HttpsThenHttp
        } else {
            Transport::Https
        }
    }
}

/// True for Docker Hub's names.
pub fn is_docker_hub(registry: &str) -> bool {
    matches!(registry, "docker.io" | "index.docker.io" | "registry-1.docker.io")
}

/// The host part of `host[:port]` or `[v6]:port`, without brackets.
pub fn host_of(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host
        }
        _ => authority,
    }
}

/// True for `localhost`, `127.0.0.0/8` and `::1`.
pub fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn parse_mirror(registry: &str, url: &str) -> Result<(Transport, String, String), MirrorError> {
    let bad = || MirrorError { registry: registry.to_owned(), url: url.to_owned() };
    let (transport, rest) = if let Some(rest) = url.strip_prefix("http://") {
        (Transport::Http, rest)
    } else if let Some(rest) = url.strip_prefix("https://") {
        (Transport::Https, rest)
    } else if url.contains("://") {
        return Err(bad());
    } else {
        (Transport::Https, url)
    };
    let rest = rest.trim_end_matches('/');
    let (authority, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if authority.is_empty() || authority.contains(['@', '?', '#', ' ']) {
        return Err(bad());
    }
    Ok((transport, authority.to_owned(), prefix.trim_matches('/').to_owned()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    fn check(mirrors: &[&str], insecure: &[&str], registry: &str, expect: Expect) {
        let mut config = EndpointConfig {
            insecure: insecure.iter().map(|s| s.to_string()).collect(),
            ..EndpointConfig::default()
        };
        for m in mirrors {
            config.add_mirror(m).unwrap();
        }
        let actual = match config.endpoint(registry) {
            Ok(e) => format!(
                "{:?} {} prefix={:?} repo={} creds={}",
                e.transport,
                e.authority,
                e.repository_prefix,
                e.repository("library/alpine"),
                e.credential_key()
            ),
            Err(err) => err.to_string(),
        };
        expect.assert_eq(&actual);
    }

    #[test]
    fn docker_hub_uses_its_api_host() {
        check(
            &[],
            &[],
            "docker.io",
            expect![[
                r#"Https registry-1.docker.io prefix="" repo=library/alpine creds=docker.io"#
            ]],
        );
    }

    #[test]
    fn loopback_may_fall_back_to_http() {
        check(
            &[],
            &[],
            "127.0.0.1:5000",
            expect![[
                r#"HttpsThenHttp 127.0.0.1:5000 prefix="" repo=library/alpine creds=127.0.0.1:5000"#
            ]],
        );
        check(
            &[],
            &[],
            "localhost:5000",
            expect![[
                r#"HttpsThenHttp localhost:5000 prefix="" repo=library/alpine creds=localhost:5000"#
            ]],
        );
        check(
            &[],
            &[],
            "[::1]:5000",
            expect![[r#"HttpsThenHttp [::1]:5000 prefix="" repo=library/alpine creds=[::1]:5000"#]],
        );
        check(
            &[],
            &[],
            "127.example.com",
            expect![[
                r#"Https 127.example.com prefix="" repo=library/alpine creds=127.example.com"#
            ]],
        );
    }

    #[test]
    fn insecure_registries_are_explicit() {
        check(
            &[],
            &["reg.lan"],
            "reg.lan:5000",
            expect![[r#"Insecure reg.lan:5000 prefix="" repo=library/alpine creds=reg.lan:5000"#]],
        );
        check(
            &[],
            &["reg.lan:5001"],
            "reg.lan:5000",
            expect![[r#"Https reg.lan:5000 prefix="" repo=library/alpine creds=reg.lan:5000"#]],
        );
    }

    #[test]
    fn mirrors_like_linuxkit() {
        check(
            &["docker.io=http://10.0.0.1:5000"],
            &[],
            "docker.io",
            expect![[r#"Http 10.0.0.1:5000 prefix="" repo=library/alpine creds=10.0.0.1:5000"#]],
        );
        check(
            &["index.docker.io=m.example/hub/"],
            &[],
            "docker.io",
            expect![[r#"Https m.example prefix="hub" repo=hub/library/alpine creds=m.example"#]],
        );
        check(
            &["*=https://m.example"],
            &[],
            "ghcr.io",
            expect![[r#"Https m.example prefix="" repo=library/alpine creds=m.example"#]],
        );
        check(
            &["quay.io=https://m.example"],
            &[],
            "ghcr.io",
            expect![[r#"Https ghcr.io prefix="" repo=library/alpine creds=ghcr.io"#]],
        );
        check(
            &["docker.io=127.0.0.1:5000"],
            &[],
            "docker.io",
            expect![[
                r#"HttpsThenHttp 127.0.0.1:5000 prefix="" repo=library/alpine creds=127.0.0.1:5000"#
            ]],
        );
    }

    #[test]
    fn bad_mirrors_are_errors() {
        let mut config = EndpointConfig::default();
        for bad in ["docker.io", "=x", "docker.io=", "docker.io=ftp://x", "docker.io=https:///x"] {
            assert!(config.add_mirror(bad).is_err(), "{bad} should be rejected");
        }
    }
}

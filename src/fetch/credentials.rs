//! Registry credentials: Docker's `config.json`, containers' `auth.json`, credential helpers.
//!
//! The library never reads environment variables: the CLI calls [`AuthFiles::from_env`] with a
//! lookup function over the values it read, and hands the result to the fetcher as a
//! [`CredentialProvider`].
//!
//! Files are searched in the order containers/image uses: `$REGISTRY_AUTH_FILE`, else
//! `$XDG_RUNTIME_DIR/containers/auth.json`; then `$XDG_CONFIG_HOME/containers/auth.json`
//! (default `~/.config`); then `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`).
//! The first file that has a credential for the registry wins. Inside a file, a `credHelpers`
//! entry for the registry comes first, then `credsStore`, then `auths` (an `auth` field with
//! base64 `user:password`, or `username`/`password`, or `identitytoken`, or `registrytoken`).
//! `auths` keys may be URLs (`https://index.docker.io/v1/`) or, as in `auth.json`,
//! `registry/namespace` prefixes, of which the longest matching one wins.
//! Helpers are run as `docker-credential-<name> get` with the server address on standard input.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde::Deserialize;

use super::endpoint::{DOCKER_HUB, DOCKER_HUB_AUTH_KEY, is_docker_hub};

/// A secret for one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// User name and password (basic auth, or the token endpoint's basic auth).
    Basic {
        /// The user name.
        username: String,
        /// The password or access token.
        password: String,
    },
    /// An OAuth2 refresh token (Docker's `identitytoken`), exchanged at the token endpoint.
    IdentityToken(String),
    /// A bearer token sent as it is (Docker's `registrytoken`).
    RegistryToken(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Credential::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
            Credential::RegistryToken(_) => f.write_str("RegistryToken(<redacted>)"),
        }
    }
}

/// A credential found, with where it came from (for error messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundCredential {
    /// The secret.
    pub credential: Credential,
    /// Its origin: a file and key, or a helper.
    pub origin: String,
}

/// Why credentials could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// An auth file exists but cannot be read.
    #[error("reading credentials file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// An auth file is not valid JSON of the expected shape.
    #[error("credentials file {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// An `auth` field is not base64 of `user:password`.
    #[error("credentials file {path}: auths[{key:?}].auth: expected base64 of \"user:password\"")]
    BadAuthField {
        /// The file.
        path: PathBuf,
        /// The `auths` key.
        key: String,
    },
    /// A credential helper could not be run or failed.
    #[error("credential helper docker-credential-{helper} for {registry}: {detail}")]
    Helper {
        /// The helper's name (after `docker-credential-`).
        helper: String,
        /// The registry asked for.
        registry: String,
        /// What went wrong.
        detail: String,
    },
}

/// Something that knows credentials for registries.
pub trait CredentialProvider: Send + Sync {
    /// The credential for `registry` (`host[:port]`, `docker.io` for Docker Hub) and
    /// `repository`, or `None` for anonymous access.
    fn credential(
        &self,
        registry: &str,
        repository: &str,
    ) -> Result<Option<FoundCredential>, CredentialError>;
}

/// Anonymous access everywhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct Anonymous;

impl CredentialProvider for Anonymous {
    fn credential(&self, _: &str, _: &str) -> Result<Option<FoundCredential>, CredentialError> {
        Ok(None)
    }
}

/// Fixed credentials per registry (tests, or `--creds` style options).
#[derive(Debug, Clone, Default)]
pub struct StaticCredentials {
    /// Registry (`host[:port]`) → credential.
    pub by_registry: BTreeMap<String, Credential>,
}

impl CredentialProvider for StaticCredentials {
    fn credential(
        &self,
        registry: &str,
        _: &str,
    ) -> Result<Option<FoundCredential>, CredentialError> {
        Ok(self.by_registry.get(registry).map(|credential| FoundCredential {
            credential: credential.clone(),
            origin: format!("credentials given for {registry}"),
        }))
    }
}

/// Docker and containers auth files, searched in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthFiles {
    /// The files, most important first; missing files are skipped.
    pub files: Vec<PathBuf>,
    /// The `PATH` to search credential helpers in (`None`: the process's own).
    pub helper_path: Option<String>,
}

impl AuthFiles {
    /// The files Docker and podman would read, given environment values through `env` (the CLI
    /// passes `|name| std::env::var_os(name)` or a fixed map in tests).
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> AuthFiles {
        let non_empty = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        let home = non_empty("HOME");
        let mut files = Vec::new();
        if let Some(file) = non_empty("REGISTRY_AUTH_FILE") {
            files.push(file);
        } else if let Some(runtime) = non_empty("XDG_RUNTIME_DIR") {
            files.push(runtime.join("containers/auth.json"));
        }
        let config_home =
            non_empty("XDG_CONFIG_HOME").or_else(|| home.as_ref().map(|h| h.join(".config")));
        if let Some(config_home) = config_home {
            files.push(config_home.join("containers/auth.json"));
        }
        if let Some(docker) = non_empty("DOCKER_CONFIG") {
            files.push(docker.join("config.json"));
        } else if let Some(home) = &home {
            files.push(home.join(".docker/config.json"));
        }
        AuthFiles { files, helper_path: env("PATH") }
    }
}

impl CredentialProvider for AuthFiles {
    fn credential(
        &self,
        registry: &str,
        repository: &str,
    ) -> Result<Option<FoundCredential>, CredentialError> {
        for path in &self.files {
            let bytes = match std::fs::read(path) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => return Err(CredentialError::Read { path: path.clone(), source }),
            };
            let file: AuthFile = serde_json::from_slice(&bytes)
                .map_err(|source| CredentialError::Parse { path: path.clone(), source })?;
            if let Some(found) =
                file.lookup(path, registry, repository, self.helper_path.as_deref())?
            {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default)]
    creds_store: Option<String>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
    #[serde(default)]
    registrytoken: Option<String>,
}

impl AuthFile {
    fn lookup(
        &self,
        path: &Path,
        registry: &str,
        repository: &str,
        helper_path: Option<&str>,
    ) -> Result<Option<FoundCredential>, CredentialError> {
        let helper = self
            .cred_helpers
            .iter()
            .find(|(key, _)| normalize_key(key) == normalize_registry(registry))
            .map(|(_, helper)| helper);
        if let Some(helper) = helper {
            return run_helper(helper, registry, helper_path);
        }
        if let Some(store) = self.creds_store.as_deref().filter(|s| !s.is_empty())
            && let Some(found) = run_helper(store, registry, helper_path)?
        {
            return Ok(Some(found));
        }
        let full = format!("{}/{repository}", normalize_registry(registry));
        let best = self
            .auths
            .iter()
            .filter_map(|(key, entry)| {
                let key_norm = normalize_key(key);
                let matches = full == key_norm || full.starts_with(&format!("{key_norm}/"));
                matches.then_some((key_norm.len(), key, entry))
            })
            .max_by_key(|(len, _, _)| *len);
        let Some((_, key, entry)) = best else { return Ok(None) };
        let origin = format!("{} (auths[{key:?}])", path.display());
        let credential = entry.credential(path, key)?;
        Ok(credential.map(|credential| FoundCredential { credential, origin }))
    }
}

impl AuthEntry {
    fn credential(&self, path: &Path, key: &str) -> Result<Option<Credential>, CredentialError> {
        if let Some(token) = self.identitytoken.as_deref().filter(|t| !t.is_empty()) {
            return Ok(Some(Credential::IdentityToken(token.to_owned())));
        }
        if let Some(token) = self.registrytoken.as_deref().filter(|t| !t.is_empty()) {
            return Ok(Some(Credential::RegistryToken(token.to_owned())));
        }
        if let Some(auth) = self.auth.as_deref().filter(|a| !a.is_empty()) {
            let bad =
                || CredentialError::BadAuthField { path: path.to_owned(), key: key.to_owned() };
            let decoded =
                base64::engine::general_purpose::STANDARD.decode(auth.trim()).map_err(|_| bad())?;
            let text = String::from_utf8(decoded).map_err(|_| bad())?;
            let (username, password) = text.split_once(':').ok_or_else(bad)?;
            return Ok(Some(Credential::Basic {
                username: username.to_owned(),
                password: password.to_owned(),
            }));
        }
        match (&self.username, &self.password) {
            (Some(username), Some(password)) if !username.is_empty() => {
                Ok(Some(Credential::Basic {
                    username: username.clone(),
                    password: password.clone(),
                }))
            }
            _ => Ok(None),
        }
    }
}

/// `docker.io` for Docker Hub's aliases, else the registry unchanged.
fn normalize_registry(registry: &str) -> String {
    if is_docker_hub(registry) { DOCKER_HUB.to_owned() } else { registry.to_owned() }
}

/// An `auths` key without scheme and without the legacy `/v1/` or `/v2/` suffix.
fn normalize_key(key: &str) -> String {
    let rest = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    let rest = rest.trim_end_matches('/');
    let rest = rest.strip_suffix("/v1").or_else(|| rest.strip_suffix("/v2")).unwrap_or(rest);
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = normalize_registry(host);
    if path.is_empty() { host } else { format!("{host}/{path}") }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperOutput {
    username: String,
    secret: String,
}

fn run_helper(
    helper: &str,
    registry: &str,
    helper_path: Option<&str>,
) -> Result<Option<FoundCredential>, CredentialError> {
    let program = format!("docker-credential-{helper}");
    let fail = |detail: String| CredentialError::Helper {
        helper: helper.to_owned(),
        registry: registry.to_owned(),
        detail,
    };
    let server = if is_docker_hub(registry) { DOCKER_HUB_AUTH_KEY } else { registry };
    let mut command = Command::new(&program);
    if let Some(path) = helper_path {
        // On Unix, a PATH set on the command is the one searched for the program.
        command.env("PATH", path);
    }
    let mut child = command
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot run {program}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(server.as_bytes()).map_err(|e| fail(format!("writing its input: {e}")))?;
    }
    let output = child.wait_with_output().map_err(|e| fail(format!("waiting for it: {e}")))?;
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stdout);
        let said = format!("{said}{}", String::from_utf8_lossy(&output.stderr));
        if said.to_ascii_lowercase().contains("credentials not found") {
            return Ok(None);
        }
        return Err(fail(format!("exited with {}: {}", output.status, said.trim())));
    }
    let parsed: HelperOutput = serde_json::from_slice(&output.stdout)
        .map_err(|e| fail(format!("expected JSON with Username and Secret: {e}")))?;
    let credential = if parsed.username == "<token>" {
        Credential::IdentityToken(parsed.secret)
    } else {
        Credential::Basic { username: parsed.username, password: parsed.secret }
    };
    Ok(Some(FoundCredential { credential, origin: format!("credential helper {program}") }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn provider(files: &[(&str, &str)]) -> (tempfile::TempDir, AuthFiles) {
        let dir = tempfile::tempdir().unwrap();
        let mut paths = Vec::new();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            paths.push(path);
        }
        paths.push(dir.path().join("missing.json"));
        let helper_path = Some(dir.path().display().to_string());
        (dir, AuthFiles { files: paths, helper_path })
    }

    fn basic(user: &str, password: &str) -> Option<Credential> {
        Some(Credential::Basic { username: user.to_owned(), password: password.to_owned() })
    }

    fn lookup(files: &AuthFiles, registry: &str, repository: &str) -> Option<Credential> {
        files.credential(registry, repository).unwrap().map(|found| found.credential)
    }

    #[test]
    fn docker_hub_legacy_key_and_base64_auth() {
        // base64("alice:s3cret:with:colons")
        let (_dir, files) = provider(&[(
            "config.json",
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"YWxpY2U6czNjcmV0OndpdGg6Y29sb25z"}}}"#,
        )]);
        assert_eq!(
            lookup(&files, "docker.io", "library/alpine"),
            basic("alice", "s3cret:with:colons")
        );
        assert_eq!(lookup(&files, "ghcr.io", "x/y"), None);
    }

    #[test]
    fn most_specific_auth_json_key_wins_and_first_file_wins() {
        let (_dir, files) = provider(&[
            (
                "auth.json",
                r#"{"auths":{"quay.io":{"username":"a","password":"1"},"quay.io/org":{"username":"b","password":"2"}}}"#,
            ),
            (
                "config.json",
                r#"{"auths":{"ghcr.io":{"identitytoken":"tok"},"quay.io":{"username":"c","password":"3"}}}"#,
            ),
        ]);
        assert_eq!(lookup(&files, "quay.io", "org/app"), basic("b", "2"));
        assert_eq!(lookup(&files, "quay.io", "organic/app"), basic("a", "1"));
        assert_eq!(lookup(&files, "ghcr.io", "x"), Some(Credential::IdentityToken("tok".into())));
    }

    #[test]
    fn malformed_auth_is_an_error_naming_file_and_key() {
        let (_dir, files) =
            provider(&[("config.json", r#"{"auths":{"r.io":{"auth":"bm9jb2xvbg=="}}}"#)]);
        let err = files.credential("r.io", "x").unwrap_err().to_string();
        assert!(
            err.contains("config.json") && err.contains("r.io") && err.contains("user:password"),
            "{err}"
        );
    }

    #[test]
    fn missing_helper_is_an_error_naming_it() {
        let (_dir, files) =
            provider(&[("config.json", r#"{"credHelpers":{"r.io":"kit-test-no-such-helper"}}"#)]);
        let err = files.credential("r.io", "x").unwrap_err().to_string();
        assert!(err.contains("docker-credential-kit-test-no-such-helper"), "{err}");
    }

    #[test]
    fn helpers_are_asked_with_the_server_address() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, files) = provider(&[(
            "config.json",
            r#"{"credsStore":"kittest","credHelpers":{"tok.io":"kittest"},"auths":{"other.io":{"username":"u","password":"p"}}}"#,
        )]);
        // The helper answers for Docker Hub's legacy key and for tok.io only.
        let script = dir.path().join("docker-credential-kittest");
        std::fs::write(
            &script,
            "#!/bin/sh\nread server\ncase \"$1:$server\" in\n\
             'get:https://index.docker.io/v1/') echo '{\"ServerURL\":\"x\",\"Username\":\"hub\",\"Secret\":\"pw\"}';;\n\
             'get:tok.io') echo '{\"ServerURL\":\"x\",\"Username\":\"<token>\",\"Secret\":\"refresh\"}';;\n\
             *) echo 'credentials not found in native keychain'; exit 1;;\nesac\n",
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(lookup(&files, "docker.io", "library/alpine"), basic("hub", "pw"));
        assert_eq!(
            lookup(&files, "tok.io", "a"),
            Some(Credential::IdentityToken("refresh".into()))
        );
        assert_eq!(lookup(&files, "other.io", "a"), basic("u", "p"));
        assert_eq!(lookup(&files, "none.io", "a"), None);
    }

    #[test]
    fn file_order_follows_the_environment() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        };
        let files = AuthFiles::from_env(&env(&[("HOME", "/h"), ("XDG_RUNTIME_DIR", "/run/u")]));
        let expected: Vec<PathBuf> = [
            "/run/u/containers/auth.json",
            "/h/.config/containers/auth.json",
            "/h/.docker/config.json",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        assert_eq!(files.files, expected);
        let files = AuthFiles::from_env(&env(&[
            ("HOME", "/h"),
            ("REGISTRY_AUTH_FILE", "/a.json"),
            ("XDG_RUNTIME_DIR", "/run/u"),
            ("DOCKER_CONFIG", "/d"),
        ]));
        let expected: Vec<PathBuf> =
            ["/a.json", "/h/.config/containers/auth.json", "/d/config.json"]
                .iter()
                .map(PathBuf::from)
                .collect();
        assert_eq!(files.files, expected);
    }
}

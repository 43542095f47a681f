//! The asynchronous registry client, a thin layer over `reqwest` (distribution-spec v1.1 pull
//! API: `/v2/<name>/manifests/<reference>` and `/v2/<name>/blobs/<digest>`).
//!
//! Why not `oci-client`: its errors drop the response headers, so `Retry-After` cannot be
//! honoured, and a 4xx answer with a JSON error body loses its status code (a 429 looks like any
//! other registry error); it has no retries; it brings its own reference and `oci-spec` types
//! that duplicate `crate::reference` and `crate::oci`, and ~30 more crates (derive_builder,
//! darling, strum, getset, chrono, regex, olpc-cjson) to build. What kit needs from it (token
//! exchange, streaming GETs) is a few hundred lines here.
//!
//! Every request goes through [`Client::send`]: authentication on a 401 challenge (Bearer token
//! exchange or Basic), the scheme choice for loopback and insecure registries, and retries.
//! Bodies are streamed through a hasher with their size checked against the descriptor; the
//! caller's sink only ever sees bytes of the current attempt, and a mismatch is an error.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode};
use sha2::Digest as _;

use super::credentials::{Credential, CredentialProvider, FoundCredential};
use super::endpoint::{Endpoint, EndpointConfig, Transport, host_of, is_loopback};
use super::error::{FetchError, chain};
use super::progress::{FetchEvent, FetchState, ProgressSink};
use super::retry::{RetryPolicy, parse_retry_after};
use crate::digest::{Algorithm, Digest};

/// The manifest media types kit accepts, for the `Accept` header.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.docker.distribution.manifest.v2+json";

/// The `Accept` header of referrers API requests: the answer is an image index.
pub const REFERRERS_ACCEPT: &str = "application/vnd.oci.image.index.v1+json";

/// The largest manifest or index kit reads (as `crate::oci`'s limit for JSON documents).
pub const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;

/// Settings of the registry client.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Mirrors and insecure registries.
    pub endpoints: EndpointConfig,
    /// Extra CA certificates (PEM files, one or more certificates each), trusted beside the
    /// system's roots (`--cert-file`, `--ca-cert`).
    pub ca_files: Vec<PathBuf>,
    /// Retries of failed requests.
    pub retry: RetryPolicy,
    /// Timeout for establishing a connection.
    pub connect_timeout: Duration,
    /// Timeout for each read from a connection (a stalled transfer fails after this).
    pub read_timeout: Duration,
    /// An HTTP(S) proxy URL for all non-loopback requests; `None` for direct connections. The
    /// library reads no `HTTPS_PROXY` itself: the CLI passes it here.
    pub proxy: Option<String>,
    /// Blobs downloaded at the same time.
    pub max_parallel_blobs: usize,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            endpoints: EndpointConfig::default(),
            ca_files: Vec::new(),
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(60),
            proxy: None,
            max_parallel_blobs: 4,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Https,
    HttpsUnverified,
    Http,
}

impl Scheme {
    fn name(self) -> &'static str {
        match self {
            Scheme::Https | Scheme::HttpsUnverified => "https",
            Scheme::Http => "http",
        }
    }
}

#[derive(Clone)]
enum Authorization {
    Basic { username: String, password: String },
    Bearer(String),
}

/// What a request is for: the endpoint, the repository on it, and names for messages.
pub(crate) struct Target<'a> {
    /// Where to send requests.
    pub endpoint: &'a Endpoint,
    /// The repository as the registry's API names it (mirror prefix included).
    pub repository: String,
    /// The image, fully expanded, for messages.
    pub image: &'a str,
    /// The blob being fetched, for progress events.
    pub blob: Option<&'a Digest>,
}

impl<'a> Target<'a> {
    /// Requests for documents (manifests, indexes, referrers) of `reference`'s repository on
    /// `endpoint`; `image` is `reference` written out, for messages.
    pub fn documents(
        endpoint: &'a Endpoint,
        reference: &crate::reference::Reference,
        image: &'a str,
    ) -> Target<'a> {
        let repository = endpoint.repository(&reference.remote_repository());
        Target { endpoint, repository, image, blob: None }
    }
}

/// A manifest as the registry served it.
pub(crate) struct ManifestAnswer {
    /// The exact bytes.
    pub bytes: Vec<u8>,
    /// The `Content-Type`, if any.
    pub media_type: Option<String>,
    /// The digest of `bytes` (checked against the digest asked for, or the registry's header).
    pub digest: Digest,
}

/// Where a body goes while it streams.
pub(crate) trait BodySink: Send {
    /// Forgets what was written (a new attempt starts).
    fn reset(&mut self) -> std::io::Result<()>;
    /// Appends bytes.
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()>;
}

impl BodySink for Vec<u8> {
    fn reset(&mut self) -> std::io::Result<()> {
        self.clear();
        Ok(())
    }
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.extend_from_slice(bytes);
        Ok(())
    }
}

impl BodySink for std::fs::File {
    fn reset(&mut self) -> std::io::Result<()> {
        use std::io::Seek;
        self.set_len(0)?;
        self.rewind().map(|_| ())
    }
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        std::io::Write::write_all(self, bytes)
    }
}

/// What a download must match.
pub(crate) struct Expected<'a> {
    /// The digest, when known.
    pub digest: Option<&'a Digest>,
    /// The exact size, when known.
    pub size: Option<u64>,
    /// The most bytes accepted.
    pub limit: u64,
}

/// The registry client. Cheap to share behind an `Arc`; tokens and scheme choices are cached.
pub(crate) struct Client {
    verified: reqwest::Client,
    unverified: reqwest::Client,
    options: ClientOptions,
    credentials: Arc<dyn CredentialProvider>,
    progress: Arc<dyn ProgressSink>,
    auth: Mutex<BTreeMap<(String, String), Authorization>>,
    schemes: Mutex<BTreeMap<String, Scheme>>,
    origins: Mutex<BTreeMap<String, String>>,
}

impl Client {
    /// Builds the HTTP clients (installing the `ring` TLS provider if none is installed yet).
    pub fn new(
        options: ClientOptions,
        credentials: Arc<dyn CredentialProvider>,
        progress: Arc<dyn ProgressSink>,
    ) -> Result<Client, FetchError> {
        // Installing fails only when a provider is already installed, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut certificates = Vec::new();
        for path in &options.ca_files {
            let pem = std::fs::read(path)
                .map_err(|source| FetchError::Io { path: path.clone(), source })?;
            let bad = |detail: String| FetchError::CaCertificate { path: path.clone(), detail };
            let found = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| bad(chain(&e)))?;
            if found.is_empty() {
                return Err(bad("no PEM certificate in the file".to_owned()));
            }
            certificates.extend(found);
        }
        let build = |accept_invalid: bool| -> Result<reqwest::Client, FetchError> {
            let mut builder = reqwest::Client::builder()
                .user_agent(concat!("kit/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(options.connect_timeout)
                .read_timeout(options.read_timeout)
                .no_proxy();
            if let Some(proxy) = &options.proxy {
                let proxy = reqwest::Proxy::all(proxy)
                    .map_err(|e| FetchError::Setup(format!("proxy {proxy}: {}", chain(&e))))?
                    .no_proxy(reqwest::NoProxy::from_string("localhost,127.0.0.1,::1"));
                builder = builder.proxy(proxy);
            }
            if accept_invalid {
                builder = builder.tls_danger_accept_invalid_certs(true);
            } else if !certificates.is_empty() {
                builder = builder.tls_certs_merge(certificates.clone());
            }
            builder.build().map_err(|e| FetchError::Setup(chain(&e)))
        };
        Ok(Client {
            verified: build(false)?,
            unverified: build(true)?,
            options,
            credentials,
            progress,
            auth: Mutex::new(BTreeMap::new()),
            schemes: Mutex::new(BTreeMap::new()),
            origins: Mutex::new(BTreeMap::new()),
        })
    }

    /// The options the client was built with.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// The endpoint for a registry.
    pub fn endpoint(&self, registry: &str) -> Result<Endpoint, FetchError> {
        Ok(self.options.endpoints.endpoint(registry)?)
    }

    /// Fetches a manifest or index by tag or digest.
    pub async fn manifest(
        &self,
        target: &Target<'_>,
        reference: &str,
        wanted: Option<&Digest>,
    ) -> Result<ManifestAnswer, FetchError> {
        let path = format!("manifests/{reference}");
        let what = format!("{}: manifest", target.image);
        let mut bytes = Vec::new();
        let expected = Expected { digest: wanted, size: None, limit: MAX_MANIFEST_BYTES };
        let not_found = |body: String| FetchError::NotFound {
            image: target.image.to_owned(),
            registry: target.endpoint.authority.clone(),
            body,
        };
        let response = self
            .download(
                target,
                &path,
                Some(MANIFEST_ACCEPT),
                &what,
                &expected,
                &mut bytes,
                &not_found,
                &|_| {},
            )
            .await?;
        let digest = match wanted {
            Some(digest) => digest.clone(),
            None => {
                let computed = Digest::sha256(&bytes);
                let header =
                    response.digest_header.as_deref().and_then(|h| h.parse::<Digest>().ok());
                if let Some(header) = header
                    && header.algorithm() == Algorithm::Sha256
                    && header != computed
                {
                    return Err(FetchError::DigestMismatch {
                        image: target.image.to_owned(),
                        blob: header,
                        found: computed,
                    });
                }
                computed
            }
        };
        Ok(ManifestAnswer { bytes, media_type: response.content_type, digest })
    }

    /// Fetches one page of the OCI 1.1 referrers API: `GET /v2/<name>/<path>` where `path` is
    /// `referrers/<digest>` (plus the query of a `Link` header's next page). Returns the body,
    /// its `Content-Type` and the `Link` header. A 404 is [`FetchError::NotFound`]; other 4xx
    /// answers are [`FetchError::Status`].
    pub async fn referrers(
        &self,
        target: &Target<'_>,
        path: &str,
    ) -> Result<(Vec<u8>, Option<String>, Option<String>), FetchError> {
        let what = format!("{}: {path}", target.image);
        let mut bytes = Vec::new();
        let expected = Expected { digest: None, size: None, limit: MAX_MANIFEST_BYTES };
        let not_found = |body: String| FetchError::NotFound {
            image: format!("{}: {path}", target.image),
            registry: target.endpoint.authority.clone(),
            body,
        };
        let answer = self
            .download(
                target,
                path,
                Some(REFERRERS_ACCEPT),
                &what,
                &expected,
                &mut bytes,
                &not_found,
                &|_| {},
            )
            .await?;
        Ok((bytes, answer.content_type, answer.link))
    }

    /// Asks for a manifest's digest, media type and size with `HEAD`, without its body.
    pub async fn head_manifest(
        &self,
        target: &Target<'_>,
        reference: &str,
    ) -> Result<Option<(Digest, String, u64)>, FetchError> {
        let path = format!("manifests/{reference}");
        let what = format!("{}: manifest", target.image);
        let mut attempts = 0;
        let mut waited = Duration::ZERO;
        let response = self
            .send(
                target,
                Method::HEAD,
                &path,
                Some(MANIFEST_ACCEPT),
                &what,
                &mut attempts,
                &mut waited,
            )
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Err(FetchError::NotFound {
                image: target.image.to_owned(),
                registry: target.endpoint.authority.clone(),
                body: "manifest unknown".to_owned(),
            });
        }
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok());
        let digest = header("docker-content-digest").and_then(|d| d.parse::<Digest>().ok());
        let media_type = header(CONTENT_TYPE.as_str()).map(str::to_owned);
        let size = response.content_length();
        match (response.status().is_success(), digest, media_type, size) {
            (true, Some(digest), Some(media_type), Some(size)) => {
                Ok(Some((digest, media_type, size)))
            }
            _ => Ok(None),
        }
    }

    /// Downloads a blob into `sink`, checking its digest and size as it streams; `on_bytes` is
    /// told the bytes received so far.
    pub async fn blob(
        &self,
        target: &Target<'_>,
        digest: &Digest,
        size: u64,
        sink: &mut dyn BodySink,
        on_bytes: &(dyn Fn(u64) + Sync),
    ) -> Result<(), FetchError> {
        let path = format!("blobs/{digest}");
        let what = format!("{}: blob {digest}", target.image);
        let expected = Expected { digest: Some(digest), size: Some(size), limit: size };
        let not_found = |_: String| FetchError::BlobNotFound {
            image: target.image.to_owned(),
            blob: digest.clone(),
            registry: target.endpoint.authority.clone(),
        };
        self.download(target, &path, None, &what, &expected, sink, &not_found, on_bytes).await?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn download(
        &self,
        target: &Target<'_>,
        path: &str,
        accept: Option<&str>,
        what: &str,
        expected: &Expected<'_>,
        sink: &mut dyn BodySink,
        not_found: &(dyn Fn(String) -> FetchError + Sync),
        on_bytes: &(dyn Fn(u64) + Sync),
    ) -> Result<Downloaded, FetchError> {
        let mut attempts = 0;
        let mut waited = Duration::ZERO;
        let io_error = |source| FetchError::Io { path: PathBuf::from(what), source };
        loop {
            sink.reset().map_err(io_error)?;
            let mut response = self
                .send(target, Method::GET, path, accept, what, &mut attempts, &mut waited)
                .await?;
            let status = response.status();
            let url = response.url().to_string();
            if status == StatusCode::NOT_FOUND {
                return Err(not_found(body_start(response).await));
            }
            if !status.is_success() {
                return Err(FetchError::Status {
                    what: what.to_owned(),
                    url,
                    status: status.as_u16(),
                    body: body_start(response).await,
                });
            }
            let header = |name: &str| {
                response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
            };
            let answer = Downloaded {
                content_type: header(CONTENT_TYPE.as_str()),
                digest_header: header("docker-content-digest"),
                link: header("link"),
            };
            let algorithm = expected.digest.map_or(Algorithm::Sha256, Digest::algorithm);
            let mut hasher = Hasher::new(algorithm);
            let mut received: u64 = 0;
            let streamed = loop {
                match response.chunk().await {
                    Ok(Some(chunk)) => {
                        received =
                            received.saturating_add(u64::try_from(chunk.len()).unwrap_or(u64::MAX));
                        if received > expected.limit {
                            return Err(match (expected.digest, expected.size) {
                                (Some(blob), Some(size)) => FetchError::SizeMismatch {
                                    image: target.image.to_owned(),
                                    blob: blob.clone(),
                                    expected: size,
                                    found: received,
                                },
                                _ => FetchError::TooLarge {
                                    what: what.to_owned(),
                                    limit: expected.limit,
                                },
                            });
                        }
                        hasher.update(&chunk);
                        sink.write(&chunk).map_err(io_error)?;
                        on_bytes(received);
                    }
                    Ok(None) => break Ok(()),
                    Err(error) => break Err(error),
                }
            };
            match streamed {
                Ok(()) => {
                    if let (Some(blob), Some(size)) = (expected.digest, expected.size)
                        && received != size
                    {
                        return Err(FetchError::SizeMismatch {
                            image: target.image.to_owned(),
                            blob: blob.clone(),
                            expected: size,
                            found: received,
                        });
                    }
                    let found = hasher.finish();
                    if let Some(blob) = expected.digest
                        && &found != blob
                    {
                        return Err(FetchError::DigestMismatch {
                            image: target.image.to_owned(),
                            blob: blob.clone(),
                            found,
                        });
                    }
                    return Ok(answer);
                }
                Err(error) => {
                    let detail =
                        format!("connection failed after {received} bytes: {}", chain(&error));
                    match self.options.retry.delay(attempts + 1, None, waited) {
                        Some(delay) => {
                            self.retrying(target, &detail, delay);
                            tokio::time::sleep(delay).await;
                            waited += delay;
                        }
                        None => {
                            return Err(FetchError::Transport {
                                what: what.to_owned(),
                                url,
                                attempts,
                                detail,
                            });
                        }
                    }
                }
            }
        }
    }

    /// Sends one request, authenticating and retrying as needed. Returns any response that is
    /// not 401, 403, 429 or 5xx; those are handled here.
    #[allow(clippy::too_many_arguments)]
    async fn send(
        &self,
        target: &Target<'_>,
        method: Method,
        path: &str,
        accept: Option<&str>,
        what: &str,
        attempts: &mut u32,
        waited: &mut Duration,
    ) -> Result<Response, FetchError> {
        let endpoint = target.endpoint;
        let auth_key = (endpoint.authority.clone(), target.repository.clone());
        let mut authenticated = false;
        loop {
            *attempts += 1;
            let mut last_error = None;
            let mut answered = None;
            for scheme in self.schemes_for(endpoint) {
                let url = format!(
                    "{}://{}/v2/{}/{path}",
                    scheme.name(),
                    endpoint.authority,
                    target.repository
                );
                let client = if scheme == Scheme::HttpsUnverified {
                    &self.unverified
                } else {
                    &self.verified
                };
                let mut request = client.request(method.clone(), &url);
                if let Some(accept) = accept {
                    request = request.header(ACCEPT, accept);
                }
                let auth = lock(&self.auth).get(&auth_key).cloned();
                request = match auth {
                    Some(Authorization::Basic { username, password }) => {
                        request.basic_auth(username, Some(password))
                    }
                    Some(Authorization::Bearer(token)) => request.bearer_auth(token),
                    None => request,
                };
                match request.send().await {
                    Ok(response) => {
                        lock(&self.schemes).insert(endpoint.authority.clone(), scheme);
                        answered = Some((url, response));
                        break;
                    }
                    Err(error) => {
                        // A connection or TLS failure may mean "plain HTTP here": try the next
                        // scheme. A certificate the server did present but that is not trusted
                        // is not such a sign: it is reported, never downgraded to plain HTTP.
                        let detail = chain(&error);
                        let fallback = error.is_connect() && !detail.contains("certificate");
                        last_error = Some((url, detail));
                        if !fallback {
                            break;
                        }
                    }
                }
            }
            let (url, response) = match answered {
                Some(answered) => answered,
                None => {
                    let (url, detail) = last_error.unwrap_or_default();
                    match self.options.retry.delay(*attempts + 1, None, *waited) {
                        Some(delay) => {
                            self.retrying(target, &detail, delay);
                            tokio::time::sleep(delay).await;
                            *waited += delay;
                            continue;
                        }
                        None => {
                            return Err(FetchError::Transport {
                                what: what.to_owned(),
                                url,
                                attempts: *attempts,
                                detail,
                            });
                        }
                    }
                }
            };
            let status = response.status();
            if status == StatusCode::UNAUTHORIZED && !authenticated {
                let challenge = response
                    .headers()
                    .get(WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                drop(response);
                self.authenticate(target, challenge.as_deref()).await?;
                authenticated = true;
                *attempts -= 1;
                continue;
            }
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                return Err(FetchError::Unauthorized {
                    image: target.image.to_owned(),
                    registry: endpoint.authority.clone(),
                    credentials: self.credential_origin(endpoint),
                    detail: format!("HTTP {}: {}", status.as_u16(), body_start(response).await),
                });
            }
            if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
                let retry_after = response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after);
                let body = body_start(response).await;
                match self.options.retry.delay(*attempts + 1, retry_after, *waited) {
                    Some(delay) => {
                        self.retrying(
                            target,
                            &format!("HTTP {} from {url}", status.as_u16()),
                            delay,
                        );
                        tokio::time::sleep(delay).await;
                        *waited += delay;
                        continue;
                    }
                    None => {
                        return Err(FetchError::Unavailable {
                            what: what.to_owned(),
                            url,
                            attempts: *attempts,
                            status: status.as_u16(),
                            body,
                        });
                    }
                }
            }
            return Ok(response);
        }
    }

    /// The progress sink.
    pub fn progress(&self) -> &dyn ProgressSink {
        &*self.progress
    }

    fn retrying(&self, target: &Target<'_>, detail: &str, delay: Duration) {
        self.progress.event(&FetchEvent {
            image: target.image.to_owned(),
            blob: target.blob.cloned(),
            bytes_done: 0,
            bytes_total: None,
            state: FetchState::Retrying,
            detail: Some(format!("{detail} (next attempt in {} ms)", delay.as_millis())),
        });
    }

    fn schemes_for(&self, endpoint: &Endpoint) -> Vec<Scheme> {
        if let Some(known) = lock(&self.schemes).get(&endpoint.authority) {
            return vec![*known];
        }
        match endpoint.transport {
            Transport::Https => vec![Scheme::Https],
            Transport::HttpsThenHttp => vec![Scheme::Https, Scheme::Http],
            Transport::Insecure => vec![Scheme::HttpsUnverified, Scheme::Http],
            Transport::Http => vec![Scheme::Http],
        }
    }

    fn credential_origin(&self, endpoint: &Endpoint) -> String {
        lock(&self.origins)
            .get(&endpoint.authority)
            .cloned()
            .unwrap_or_else(|| "no credentials".to_owned())
    }

    async fn authenticate(
        &self,
        target: &Target<'_>,
        challenge: Option<&str>,
    ) -> Result<(), FetchError> {
        let endpoint = target.endpoint;
        let challenge_error = |detail: String| FetchError::Challenge {
            image: target.image.to_owned(),
            registry: endpoint.authority.clone(),
            detail,
        };
        let found = self.credentials.credential(&endpoint.credential_key(), &target.repository)?;
        let origin =
            found.as_ref().map_or_else(|| "no credentials".to_owned(), |f| f.origin.clone());
        lock(&self.origins).insert(endpoint.authority.clone(), origin.clone());
        let unauthorized = |detail: String| FetchError::Unauthorized {
            image: target.image.to_owned(),
            registry: endpoint.authority.clone(),
            credentials: origin.clone(),
            detail,
        };
        let Some(challenge) = challenge else {
            return Err(unauthorized("HTTP 401 without a WWW-Authenticate challenge".to_owned()));
        };
        let (scheme, params) = parse_challenge(challenge)
            .ok_or_else(|| challenge_error(format!("unreadable WWW-Authenticate {challenge:?}")))?;
        let key = (endpoint.authority.clone(), target.repository.clone());
        if scheme.eq_ignore_ascii_case("basic") {
            let Some(FoundCredential {
                credential: Credential::Basic { username, password }, ..
            }) = found
            else {
                return Err(unauthorized(
                    "the registry asks for a user name and password".to_owned(),
                ));
            };
            lock(&self.auth).insert(key, Authorization::Basic { username, password });
            return Ok(());
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(challenge_error(format!("unsupported authentication scheme {scheme:?}")));
        }
        let realm = params.get("realm").ok_or_else(|| {
            challenge_error(format!("Bearer challenge without realm: {challenge:?}"))
        })?;
        let realm_url = reqwest::Url::parse(realm)
            .map_err(|e| challenge_error(format!("token realm {realm:?}: {e}")))?;
        let realm_host = realm_url.host_str().unwrap_or_default().to_owned();
        let plain_ok = is_loopback(host_of(&realm_host))
            || endpoint.transport != Transport::Https
            || self.options.endpoints.insecure.iter().any(|i| i == &realm_host);
        if realm_url.scheme() != "https" && !(realm_url.scheme() == "http" && plain_ok) {
            return Err(challenge_error(format!("refusing token realm {realm:?}: not HTTPS")));
        }
        let scope = params
            .get("scope")
            .cloned()
            .unwrap_or_else(|| format!("repository:{}:pull", target.repository));
        let service = params.get("service").cloned();
        let client = if endpoint.transport == Transport::Insecure {
            &self.unverified
        } else {
            &self.verified
        };
        let request = match found.map(|f| f.credential) {
            Some(Credential::RegistryToken(token)) => {
                lock(&self.auth).insert(key, Authorization::Bearer(token));
                return Ok(());
            }
            Some(Credential::IdentityToken(refresh)) => {
                let mut form = reqwest::Url::parse("http://form.invalid/")
                    .map_err(|e| challenge_error(e.to_string()))?;
                {
                    let mut pairs = form.query_pairs_mut();
                    pairs.append_pair("grant_type", "refresh_token");
                    pairs.append_pair("refresh_token", &refresh);
                    pairs.append_pair("client_id", "kit");
                    pairs.append_pair("scope", &scope);
                    if let Some(service) = &service {
                        pairs.append_pair("service", service);
                    }
                }
                client
                    .post(realm_url.clone())
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(form.query().unwrap_or_default().to_owned())
            }
            basic => {
                let mut url = realm_url.clone();
                {
                    let mut pairs = url.query_pairs_mut();
                    pairs.append_pair("scope", &scope);
                    if let Some(service) = &service {
                        pairs.append_pair("service", service);
                    }
                }
                let request = client.get(url);
                match basic {
                    Some(Credential::Basic { username, password }) => {
                        request.basic_auth(username, Some(password))
                    }
                    _ => request,
                }
            }
        };
        let response = request.send().await.map_err(|e| FetchError::Transport {
            what: format!("{}: token", target.image),
            url: realm.clone(),
            attempts: 1,
            detail: chain(&e),
        })?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            let body = body_start(response).await;
            return Err(unauthorized(format!(
                "token endpoint {realm}: HTTP {}: {body}",
                status.as_u16()
            )));
        }
        if !status.is_success() {
            let body = body_start(response).await;
            return Err(challenge_error(format!(
                "token endpoint {realm}: HTTP {}: {body}",
                status.as_u16()
            )));
        }
        let bytes = response.bytes().await.map_err(|e| FetchError::Transport {
            what: format!("{}: token", target.image),
            url: realm.clone(),
            attempts: 1,
            detail: chain(&e),
        })?;
        #[derive(serde::Deserialize)]
        struct TokenAnswer {
            #[serde(default)]
            token: Option<String>,
            #[serde(default)]
            access_token: Option<String>,
        }
        let answer: TokenAnswer = serde_json::from_slice(&bytes)
            .map_err(|e| challenge_error(format!("token endpoint {realm}: invalid JSON: {e}")))?;
        let token =
            answer.token.or(answer.access_token).filter(|t| !t.is_empty()).ok_or_else(|| {
                challenge_error(format!("token endpoint {realm}: no token in the answer"))
            })?;
        lock(&self.auth).insert(key, Authorization::Bearer(token));
        Ok(())
    }
}

struct Downloaded {
    content_type: Option<String>,
    digest_header: Option<String>,
    link: Option<String>,
}

enum Hasher {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl Hasher {
    fn new(algorithm: Algorithm) -> Hasher {
        match algorithm {
            Algorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
            _ => Hasher::Sha256(sha2::Sha256::new()),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    fn finish(self) -> Digest {
        let (name, hex) = match self {
            Hasher::Sha256(h) => ("sha256", hex::encode(h.finalize())),
            Hasher::Sha512(h) => ("sha512", hex::encode(h.finalize())),
        };
        // Always well formed: a known algorithm and the lowercase hex of its full output.
        format!("{name}:{hex}").parse().unwrap_or_else(|_| Digest::sha256(b""))
    }
}

/// Locks a mutex, recovering the data if another thread panicked while holding it (the maps
/// guarded here stay consistent after any single insert).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The start of a response body, for error messages.
async fn body_start(response: Response) -> String {
    let bytes = response.bytes().await.unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]);
    text.trim().replace('\n', " ")
}

/// Parses one challenge: `Bearer realm="…",service="…",scope="…"`.
fn parse_challenge(header: &str) -> Option<(String, BTreeMap<String, String>)> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    if scheme.is_empty() {
        return None;
    }
    let mut params = BTreeMap::new();
    let mut rest = rest.trim_start();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let key = key.trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end?..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_owned(), &after[end..])
        };
        params.insert(key, value);
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    Some((scheme.to_owned(), params))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let (scheme, params) = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#,
        )
        .unwrap();
        assert_eq!(scheme, "Bearer");
        assert_eq!(params["realm"], "https://auth.docker.io/token");
        assert_eq!(params["service"], "registry.docker.io");
        assert_eq!(params["scope"], "repository:library/alpine:pull");
        let (scheme, params) = parse_challenge(r#"Basic realm="Registry Realm""#).unwrap();
        assert_eq!((scheme.as_str(), params["realm"].as_str()), ("Basic", "Registry Realm"));
        let (_, params) = parse_challenge(r#"Bearer realm=plain, scope="a\"b""#).unwrap();
        assert_eq!((params["realm"].as_str(), params["scope"].as_str()), ("plain", "a\"b"));
        assert!(parse_challenge(r#"Bearer realm="unterminated"#).is_none());
    }

    #[test]
    fn hasher_matches_digest() {
        let mut h = Hasher::new(Algorithm::Sha256);
        h.update(b"hel");
        h.update(b"lo");
        assert_eq!(h.finish(), Digest::sha256(b"hello"));
    }
}

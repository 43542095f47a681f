//! The blocking registry API: resolve references, pull images into the cache.
//!
//! [`Registry`] owns a small tokio runtime (two worker threads) and the HTTP client; nothing
//! outside `fetch` sees async code. Pulling an image:
//! 1. fetches the manifest the reference names (tag or digest) and, for an index, the
//!    manifest of each platform asked for, and the configurations, all checked against their
//!    digests (a tag's manifest against the registry's `Docker-Content-Digest`);
//! 2. downloads the missing layers, at most [`ClientOptions::max_parallel_blobs`] at a time,
//!    each streamed through a digest and size check into a temporary file in the cache;
//! 3. only when every layer arrived intact, renames the layers into place, stores the
//!    documents, and names the root in `index.json` (fully expanded reference).
//!
//! On any failure the temporary files are deleted and the cache is left as it was.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::client::{Client, ClientOptions, Target};
use super::credentials::CredentialProvider;
use super::error::FetchError;
use super::progress::{FetchEvent, FetchState, ProgressSink};
use crate::cache::{Cache, FinishedBlob};
use crate::digest::Digest;
use crate::oci::spec::{Manifest, parse_manifest};
use crate::oci::{Descriptor, Platform, ResolvedImage, media_type, resolve_from_root};
use crate::reference::Reference;

/// What [`Registry::resolve`] returns: the root descriptor, one resolved image per platform,
/// and the bytes of every document fetched on the way (by digest).
pub type Resolution = (Descriptor, Vec<ResolvedImage>, BTreeMap<Digest, Arc<[u8]>>);

/// A registry client with its own runtime; cheap to share by reference across threads.
pub struct Registry {
    runtime: tokio::runtime::Runtime,
    client: Arc<Client>,
}

/// An image resolved for several platforms, with every document's bytes.
#[derive(Debug, Clone)]
pub struct PulledImage {
    /// The name it is stored under in the cache (fully expanded reference).
    pub name: String,
    /// The root descriptor (index or manifest) the reference resolved to.
    pub root: Descriptor,
    /// One resolved image per platform asked for, in the order asked.
    pub platforms: Vec<ResolvedImage>,
}

impl Registry {
    /// Builds the client; opens no connection yet.
    pub fn new(
        options: ClientOptions,
        credentials: Arc<dyn CredentialProvider>,
        progress: Arc<dyn ProgressSink>,
    ) -> Result<Registry, FetchError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("kit-fetch")
            .enable_all()
            .build()
            .map_err(|e| FetchError::Setup(format!("starting the network runtime: {e}")))?;
        let client = Arc::new(Client::new(options, credentials, progress)?);
        Ok(Registry { runtime, client })
    }

    /// Asks the registry which digest, media type and size `reference` names (a `HEAD`, no
    /// body); `None` when the registry does not say.
    pub fn head(&self, reference: &Reference) -> Result<Option<Descriptor>, FetchError> {
        let image = reference.to_string();
        let endpoint = self.client.endpoint(reference.registry())?;
        let target = Target::documents(&endpoint, reference, &image);
        let name = manifest_reference(reference);
        let answer = self.runtime.block_on(self.client.head_manifest(&target, &name))?;
        Ok(answer.map(|(digest, media_type, size)| Descriptor::new(&media_type, digest, size)))
    }

    /// Resolves `reference` for each platform over the network (documents only, no layers).
    pub fn resolve(
        &self,
        reference: &Reference,
        platforms: &[Platform],
    ) -> Result<Resolution, FetchError> {
        let image = reference.to_string();
        self.progress(&image, None, FetchState::Resolving, 0, None);
        let endpoint = self.client.endpoint(reference.registry())?;
        let target = Target::documents(&endpoint, reference, &image);
        let name = manifest_reference(reference);
        let answer =
            self.runtime.block_on(self.client.manifest(&target, &name, reference.digest()))?;
        let what = format!("{image}: manifest {}", answer.digest);
        let bytes: Arc<[u8]> = Arc::from(answer.bytes);
        let raw = parse_manifest(bytes.clone(), answer.media_type.as_deref(), &what)?;
        let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        let root = Descriptor::new(&raw.media_type, answer.digest.clone(), size);
        self.progress(&image, Some(&answer.digest), FetchState::Resolved, 0, None);
        let documents = Mutex::new(BTreeMap::from([(answer.digest.clone(), bytes)]));
        let mut failure: Option<FetchError> = None;
        let mut resolved = Vec::new();
        for platform in platforms {
            let mut fetch = |descriptor: &Descriptor| -> Result<Vec<u8>, crate::oci::Error> {
                if let Some(bytes) = lock(&documents).get(&descriptor.digest) {
                    return Ok(bytes.to_vec());
                }
                let fetched = self.document(&target, descriptor);
                match fetched {
                    Ok(bytes) => {
                        lock(&documents)
                            .insert(descriptor.digest.clone(), Arc::from(bytes.clone()));
                        Ok(bytes)
                    }
                    Err(error) => {
                        let text = error.to_string();
                        failure = Some(error);
                        Err(crate::oci::Error::Read {
                            what: text,
                            source: std::io::Error::other("fetch failed"),
                        })
                    }
                }
            };
            match resolve_from_root(&image, &root, platform, &mut fetch) {
                Ok(one) => resolved.push(one),
                Err(error) => return Err(failure.take().unwrap_or(FetchError::Oci(error))),
            }
        }
        let documents = documents.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok((root, resolved, documents))
    }

    /// Lists the referrers of `digest` in `reference`'s repository through the OCI 1.1
    /// referrers API (`GET /v2/<name>/referrers/<digest>`, distribution-spec v1.1 "Listing
    /// Referrers"): the raw body of each page, each an image index the caller parses and checks.
    ///
    /// `Ok(None)` when the registry has no such API: the first page answers 404 (Debian's
    /// docker-registry 2.8 answers a plain-text 404), 400 or 405, as go-containerregistry
    /// decides before falling back to the referrers tag schema. A `Link: <…>; rel="next"`
    /// header is followed for at most `max_pages` pages, and only to the referrers path of the
    /// same repository on the same registry (credentials never go elsewhere); more pages, or a
    /// link elsewhere, are errors.
    pub fn referrers(
        &self,
        reference: &Reference,
        digest: &Digest,
        max_pages: usize,
    ) -> Result<Option<Vec<Vec<u8>>>, FetchError> {
        let image = reference.to_string();
        let endpoint = self.client.endpoint(reference.registry())?;
        let target = Target::documents(&endpoint, reference, &image);
        let repository = &target.repository;
        let mut pages = Vec::new();
        let mut path = format!("referrers/{digest}");
        loop {
            let answer = self.runtime.block_on(self.client.referrers(&target, &path));
            let (bytes, _, link) = match answer {
                Ok(answer) => answer,
                Err(FetchError::NotFound { .. }) if pages.is_empty() => return Ok(None),
                Err(FetchError::Status { status: 400 | 405, .. }) if pages.is_empty() => {
                    return Ok(None);
                }
                Err(other) => return Err(other),
            };
            pages.push(bytes);
            let Some(next) = link.as_deref().and_then(next_link) else { return Ok(Some(pages)) };
            if pages.len() >= max_pages {
                return Err(FetchError::BadAnswer {
                    image,
                    detail: format!(
                        "the referrers of {digest} span more than {max_pages} pages (Link header)"
                    ),
                });
            }
            path = link_path(&next, &endpoint.authority, repository).ok_or_else(|| {
                FetchError::BadAnswer {
                    image: image.clone(),
                    detail: format!(
                        "the referrers answer links to {next:?}, expected a path under /v2/{repository}/referrers/ on {}",
                        endpoint.authority
                    ),
                }
            })?;
        }
    }

    /// Pulls `reference` for each platform into `cache` and names it there.
    pub fn pull(
        &self,
        cache: &Cache,
        reference: &Reference,
        platforms: &[Platform],
    ) -> Result<PulledImage, FetchError> {
        let name = reference.to_string();
        let (root, resolved, documents) = self.resolve(reference, platforms)?;
        let _guard = cache.write_guard()?;
        let layers: Vec<Descriptor> =
            resolved.iter().flat_map(|r| r.layers().iter().cloned()).collect();
        let finished = self.download(cache, reference, &layers)?;
        for blob in finished {
            cache.commit_blob(blob)?;
        }
        for (digest, bytes) in &documents {
            cache.put_blob(digest, bytes)?;
        }
        cache.add_ref(&name, &root)?;
        Ok(PulledImage { name, root, platforms: resolved })
    }

    /// Downloads the blobs of `reference`'s repository that `cache` lacks and stores them.
    pub fn fetch_blobs(
        &self,
        cache: &Cache,
        reference: &Reference,
        blobs: &[Descriptor],
    ) -> Result<(), FetchError> {
        let _guard = cache.write_guard()?;
        let finished = self.download(cache, reference, blobs)?;
        for blob in finished {
            cache.commit_blob(blob)?;
        }
        Ok(())
    }

    /// Downloads the manifests and indexes of `documents` that `cache` lacks (by digest, through
    /// the manifests endpoint) and stores them verified.
    pub fn fetch_documents(
        &self,
        cache: &Cache,
        reference: &Reference,
        documents: &[Descriptor],
    ) -> Result<(), FetchError> {
        let image = reference.to_string();
        let endpoint = self.client.endpoint(reference.registry())?;
        let target = Target::documents(&endpoint, reference, &image);
        let _guard = cache.write_guard()?;
        for descriptor in documents {
            if cache.has_blob(&descriptor.digest) {
                continue;
            }
            let bytes = self.document(&target, descriptor)?;
            cache.put_blob(&descriptor.digest, &bytes)?;
        }
        Ok(())
    }

    fn document(
        &self,
        target: &Target<'_>,
        descriptor: &Descriptor,
    ) -> Result<Vec<u8>, FetchError> {
        let is_manifest = media_type::is_index(&descriptor.media_type)
            || media_type::is_image_manifest(&descriptor.media_type);
        if is_manifest {
            let answer = self.runtime.block_on(self.client.manifest(
                target,
                &descriptor.digest.to_string(),
                Some(&descriptor.digest),
            ))?;
            return Ok(answer.bytes);
        }
        if descriptor.size > super::client::MAX_MANIFEST_BYTES {
            return Err(FetchError::TooLarge {
                what: format!("{}: {}", target.image, descriptor.digest),
                limit: super::client::MAX_MANIFEST_BYTES,
            });
        }
        let mut bytes = Vec::new();
        self.runtime.block_on(self.client.blob(
            target,
            &descriptor.digest,
            descriptor.size,
            &mut bytes,
            &|_| {},
        ))?;
        Ok(bytes)
    }

    /// Downloads every blob of `blobs` that the cache lacks into verified temporary files.
    fn download(
        &self,
        cache: &Cache,
        reference: &Reference,
        blobs: &[Descriptor],
    ) -> Result<Vec<FinishedBlob>, FetchError> {
        let image = reference.to_string();
        let mut seen = BTreeSet::new();
        let mut wanted = Vec::new();
        for blob in blobs {
            if !seen.insert(blob.digest.clone()) {
                continue;
            }
            if cache.has_blob(&blob.digest) {
                self.progress(
                    &image,
                    Some(&blob.digest),
                    FetchState::Cached,
                    blob.size,
                    Some(blob.size),
                );
                continue;
            }
            wanted.push(blob.clone());
        }
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let endpoint = self.client.endpoint(reference.registry())?;
        let repository = endpoint.repository(&reference.remote_repository());
        let limit = self.client.options().max_parallel_blobs.max(1);
        let client = self.client.clone();
        self.runtime.block_on(async move {
            let semaphore = Arc::new(Semaphore::new(limit));
            let mut tasks = JoinSet::new();
            for (position, blob) in wanted.into_iter().enumerate() {
                let client = client.clone();
                let cache = cache.clone();
                let endpoint = endpoint.clone();
                let repository = repository.clone();
                let image = image.clone();
                let semaphore = semaphore.clone();
                tasks.spawn(async move {
                    let _permit = semaphore.acquire_owned().await;
                    let result =
                        download_one(&client, &cache, &endpoint, repository, &image, &blob).await;
                    (position, blob.digest, result)
                });
            }
            let mut done = Vec::new();
            while let Some(joined) = tasks.join_next().await {
                let (position, digest, result) = joined
                    .map_err(|e| FetchError::Setup(format!("a download task failed: {e}")))?;
                match result {
                    Ok(temp) => done.push((position, digest, temp)),
                    Err(error) => {
                        tasks.abort_all();
                        return Err(error);
                    }
                }
            }
            done.sort_by_key(|(position, _, _)| *position);
            Ok(done.into_iter().map(|(_, _, blob)| blob).collect())
        })
    }

    fn progress(
        &self,
        image: &str,
        blob: Option<&Digest>,
        state: FetchState,
        done: u64,
        total: Option<u64>,
    ) {
        self.client.progress().event(&FetchEvent {
            image: image.to_owned(),
            blob: blob.cloned(),
            bytes_done: done,
            bytes_total: total,
            state,
            detail: None,
        });
    }
}

async fn download_one(
    client: &Client,
    cache: &Cache,
    endpoint: &super::endpoint::Endpoint,
    repository: String,
    image: &str,
    blob: &Descriptor,
) -> Result<FinishedBlob, FetchError> {
    let progress = client.progress();
    let event = |state: FetchState, done: u64, detail: Option<String>| FetchEvent {
        image: image.to_owned(),
        blob: Some(blob.digest.clone()),
        bytes_done: done,
        bytes_total: Some(blob.size),
        state,
        detail,
    };
    progress.event(&event(FetchState::Started, 0, None));
    let target = Target { endpoint, repository, image, blob: Some(&blob.digest) };
    let mut temp = cache.temp_blob()?;
    let on_bytes = |done: u64| progress.event(&event(FetchState::Bytes, done, None));
    let result = client.blob(&target, &blob.digest, blob.size, temp.file_mut(), &on_bytes).await;
    match result {
        Ok(()) => {
            let finished = temp.finish(&blob.digest)?;
            progress.event(&event(FetchState::Done, blob.size, None));
            Ok(finished)
        }
        Err(error) => {
            progress.event(&event(FetchState::Failed, 0, Some(error.to_string())));
            Err(error)
        }
    }
}

/// The tag or digest to ask the registry for.
fn manifest_reference(reference: &Reference) -> String {
    match reference.digest() {
        Some(digest) => digest.to_string(),
        None => reference.tag_or_latest().to_owned(),
    }
}

/// The target of the `rel="next"` entry of a `Link` header (RFC 8288), if any.
fn next_link(header: &str) -> Option<String> {
    for entry in header.split(',') {
        let entry = entry.trim();
        let Some(rest) = entry.strip_prefix('<') else { continue };
        let Some((target, params)) = rest.split_once('>') else { continue };
        let is_next = params.split(';').any(|param| {
            let param = param.trim().replace(' ', "");
            param == "rel=\"next\"" || param == "rel=next"
        });
        if is_next {
            return Some(target.to_owned());
        }
    }
    None
}

/// The path under `/v2/<repository>/` a next-page link names, when it stays on `authority`
/// and under the repository's `referrers/`.
fn link_path(link: &str, authority: &str, repository: &str) -> Option<String> {
    let path = match link.split_once("://") {
        Some((scheme, rest)) if scheme == "http" || scheme == "https" => {
            let (host, path) = rest.split_at(rest.find('/')?);
            if host != authority {
                return None;
            }
            path
        }
        Some(_) => return None,
        None => link,
    };
    let rest = path.strip_prefix("/v2/")?.strip_prefix(repository)?.strip_prefix('/')?;
    (rest.starts_with("referrers/") && !rest.contains("..") && !rest.contains('#'))
        .then(|| rest.to_owned())
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// How the cache and the registry are consulted for an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    /// Use the cached image of that name without asking the registry (LinuxKit's default:
    /// tags are sticky); pull what is missing.
    IfMissing,
    /// Ask the registry again (LinuxKit's `--pull`); download only missing blobs.
    Always,
    /// Never use the network: everything must be in the cache.
    Never,
}

/// Resolves `reference` for `platform` from the cache, pulling from `registry` as `policy`
/// allows; afterwards every blob of the image is in the cache.
pub fn ensure_image(
    cache: &Cache,
    registry: Option<&Registry>,
    reference: &Reference,
    platform: &Platform,
    policy: PullPolicy,
) -> Result<ResolvedImage, FetchError> {
    let name = reference.to_string();
    let offline_error = |detail: String| FetchError::NotCached { image: name.clone(), detail };
    if policy != PullPolicy::Always {
        let cached = match cache.lookup(&name)? {
            Some(root) => Some(root),
            None => match reference.digest() {
                Some(digest) if cache.has_blob(digest) => Some(cached_root(cache, digest)?),
                _ => None,
            },
        };
        if let Some(root) = cached {
            match resolve_cached(cache, &name, &root, platform) {
                Ok(resolved) => {
                    let missing: Vec<Descriptor> = resolved
                        .layers()
                        .iter()
                        .filter(|l| !cache.has_blob(&l.digest))
                        .cloned()
                        .collect();
                    if missing.is_empty() {
                        return Ok(resolved);
                    }
                    match (policy, registry) {
                        (PullPolicy::IfMissing, Some(registry)) => {
                            let pinned = reference.with_digest(root.digest.clone());
                            registry.fetch_blobs(cache, &pinned, &missing)?;
                            return Ok(resolved);
                        }
                        _ => {
                            return Err(offline_error(format!(
                                "{} of its layers are not in the cache (first: {})",
                                missing.len(),
                                missing[0].digest
                            )));
                        }
                    }
                }
                Err(FetchError::Oci(crate::oci::Error::BlobMissing { digest, .. })) => {
                    if policy == PullPolicy::Never || registry.is_none() {
                        return Err(offline_error(format!("blob {digest} is not in the cache")));
                    }
                }
                Err(other) => return Err(other),
            }
        } else if policy == PullPolicy::Never || registry.is_none() {
            return Err(offline_error("no image of that name in the cache".to_owned()));
        }
    }
    let Some(registry) = registry else {
        return Err(offline_error("no registry access was allowed".to_owned()));
    };
    let pulled = registry.pull(cache, reference, std::slice::from_ref(platform))?;
    pulled.platforms.into_iter().next().ok_or_else(|| offline_error("nothing resolved".to_owned()))
}

/// Resolves an image from the cache alone, starting at `root`.
pub fn resolve_cached(
    cache: &Cache,
    name: &str,
    root: &Descriptor,
    platform: &Platform,
) -> Result<ResolvedImage, FetchError> {
    let layout = cache.layout();
    let mut fetch =
        |d: &Descriptor| layout.read_blob_bytes(&d.digest, crate::oci::spec::MAX_JSON_BYTES);
    Ok(resolve_from_root(name, root, platform, &mut fetch)?)
}

/// The descriptor of a cached manifest or index found by digest alone.
pub fn cached_root(cache: &Cache, digest: &Digest) -> Result<Descriptor, FetchError> {
    let bytes = cache.layout().read_blob_bytes(digest, crate::oci::spec::MAX_JSON_BYTES)?;
    let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    let what = format!("{}: manifest {digest}", cache.root().display());
    let raw = parse_manifest(Arc::from(bytes), None, &what)?;
    let _ = matches!(raw.value, Manifest::Index(_));
    Ok(Descriptor::new(&raw.media_type, digest.clone(), size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_links_stay_in_the_repository() {
        let header = r#"</v2/kit/a/referrers/sha256:00?n=2&last=x>; rel="next""#;
        let next = next_link(header).unwrap();
        assert_eq!(next, "/v2/kit/a/referrers/sha256:00?n=2&last=x");
        assert_eq!(
            link_path(&next, "127.0.0.1:5000", "kit/a").as_deref(),
            Some("referrers/sha256:00?n=2&last=x")
        );
        assert_eq!(next_link(r#"<https://x/v2/a/tags/list>; rel="prev""#), None);
        let absolute = "http://127.0.0.1:5000/v2/kit/a/referrers/sha256:00?last=y";
        assert!(link_path(absolute, "127.0.0.1:5000", "kit/a").is_some());
        for (link, why) in [
            ("http://evil.example/v2/kit/a/referrers/sha256:00", "another host"),
            ("/v2/kit/b/referrers/sha256:00", "another repository"),
            ("/v2/kit/a/manifests/latest", "not the referrers path"),
            ("/v2/kit/a/referrers/../../b/blobs/x", "a climbing path"),
            ("ftp://127.0.0.1:5000/v2/kit/a/referrers/x", "another scheme"),
        ] {
            assert_eq!(link_path(link, "127.0.0.1:5000", "kit/a"), None, "{why}");
        }
    }
}

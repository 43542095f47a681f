//! Finding the signatures of a pinned digest in OCI layouts, archives, the cache and registries:
//! cosign `.sig` manifests and OCI 1.1 referrers (Sigstore bundles, Notation signatures).
//!
//! cosign stores the signatures of image `R@D` as an image manifest tagged `sha256-<hex of D>.sig`
//! in the same repository (cosign `specs/SIGNATURE_SPEC.md`, "Tag-based Discovery"); each of
//! its layers is one signature (see [`signing::cosign`]). cosign v3 (`cosign sign` without a key)
//! and Notation attach signatures as referrers instead: manifests whose `subject` is `D`, found
//! and checked as [`super::referrers`] describes. No signature anywhere means the policy refuses,
//! with its explanation. [`Lookup`] says what to look for: only what the matching rule's
//! signers can use.
//!
//! # Where
//!
//! - Registry ([`RegistryFinder`]): `GET /v2/<repo>/manifests/sha256-<hex>.sig`, then its config
//!   and payload blobs, every one checked against its digest while it streams. The manifest and
//!   its blobs are stored in the cache under the name `<registry>/<repo>:sha256-<hex>.sig` (the
//!   fully expanded form kit uses for every cached image), so a later offline or `--locked`
//!   build verifies again without the network. Referrers: the referrers API, else the referrers
//!   tag `sha256-<hex>`; each accepted referrer manifest, its config and its layer are stored in
//!   the cache, and a referrers index listing them (sorted by digest, with their artifact types)
//!   is named `<registry>/<repo>:sha256-<hex>` there.
//! - OCI layout or the cache ([`LayoutFinder`]): the entry of `index.json` whose
//!   `org.opencontainers.image.ref.name` names the signature tag, with the layout's usual
//!   matching rules: the fully expanded `<registry>/<repo>:sha256-<hex>.sig` (what kit's cache
//!   and LinuxKit-style layouts hold) or any spelling that expands to it
//!   (`linuxkit/init:sha256-<hex>.sig`), else the short tag `sha256-<hex>.sig` alone (what
//!   `skopeo copy … oci:DIR:sha256-<hex>.sig` and umoci write). The full name wins when both
//!   exist. The manifest, its config and its layers are blobs of the same layout.
//!   See "Layout format" below.
//! - OCI archives given with `--source` ([`ArchiveFinder`]): as layouts, read in place.
//! - Signature and referrer manifests pinned by digest (`--locked`, [`Pinned`]): found by digest
//!   alone, in a layout or the cache (`blobs/sha256/<hex>`), or fetched from the registry as
//!   `<repo>@<digest>`; nothing is listed. A place that lacks one of them has nothing.
//!
//! [`SignatureSources`] strings these together the way the build needs them, and
//! [`FirstFound`] for any other order: the first place that has a signature manifest or a
//! signature referrer wins (no union across places, so an offline layout never triggers a
//! network request).
//!
//! # Layout format (for tools that sign images into a layout)
//!
//! To carry a cosign signature of image digest `D` in an OCI layout, write:
//! 1. the payload blob, the exact bytes
//!    `{"critical":{"identity":{"docker-reference":"<registry>/<repo>"},"image":{"docker-manifest-digest":"<D>"},"type":"cosign container image signature"},"optional":null}`;
//! 2. a config blob (cosign writes
//!    `{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":["<payload digest>"]},"config":{}}`);
//! 3. an image manifest (`application/vnd.oci.image.manifest.v1+json`) with that config
//!    (`application/vnd.oci.image.config.v1+json`) and one layer per signature:
//!    `{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"<payload digest>","size":<n>,"annotations":{"dev.cosignproject.cosign/signature":"<standard padded base64 of the signature>"}}`,
//!    the signature being ECDSA P-256/SHA-256 (DER), Ed25519 or RSA PKCS#1 v1.5/SHA-256 over the
//!    payload bytes (`openssl dgst -sha256 -sign key.pem payload`);
//! 4. an `index.json` entry for that manifest with
//!    `"annotations":{"org.opencontainers.image.ref.name":"<registry>/<repo>:sha256-<hex of D>.sig"}`
//!    (or the short `sha256-<hex of D>.sig`).
//!
//! `D` is the digest the image's own name points at in the layout (for a multi-platform image,
//! the index).
//!
//! To carry a Sigstore bundle or a Notation signature of `D`, write the referrer as cosign v3,
//! oras and notation push it:
//! 1. the empty config blob `{}` (`application/vnd.oci.empty.v1+json`, 2 bytes) and the bundle
//!    JSON (or the JWS/COSE envelope) as blobs;
//! 2. an image manifest with `"artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json"`
//!    (Notation: `application/vnd.cncf.notary.signature`), that config, exactly one layer of the
//!    same bundle media type (Notation: `application/jose+json` or `application/cose`) and
//!    `"subject":{"mediaType":"<media type of D>","digest":"<D>","size":<size of D>}`;
//! 3. either an unnamed entry for that manifest in `index.json` (what oras writes into a layout;
//!    kit reads every unnamed image-manifest entry and keeps those whose subject is `D`), or an
//!    image index blob listing it, named in `index.json` as `<registry>/<repo>:sha256-<hex of D>`
//!    (preferred, what kit's cache holds) or `sha256-<hex of D>` (the distribution-spec
//!    referrers tag schema). `skopeo copy` does not copy referrers; `oras copy -r` does.

use std::sync::Arc;

use signing::cosign::{MAX_PAYLOAD_BYTES, SignatureLayer, SignatureManifest, signature_tag};

use super::referrers::{
    CheckedReferrer, Classified, FoundReferrer, LocalReferrers, MAX_REFERRER_PAGES,
    MAX_SIGNATURE_LAYER_BYTES, Store, cache_index, candidates, classify, index_entries,
    local_referrers, referrers_ref_name, referrers_tag,
};
use super::{ImageToVerify, VerifyError};
use crate::cache::Cache;
use crate::digest::Digest;
use crate::fetch::{FetchError, PullPolicy, Registry};
use crate::oci::spec::{MAX_JSON_BYTES, Manifest, parse_manifest};
use crate::oci::{ArchiveSource, Descriptor, OciLayout, media_type};
use crate::reference::Reference;

/// Largest signature-manifest config blob fetched (cosign's is a few hundred bytes).
pub const MAX_SIGNATURE_CONFIG_BYTES: u64 = 1024 * 1024;

/// What to look for.
#[derive(Debug, Clone, Default)]
pub struct Lookup {
    /// The cosign `sha256-<hex>.sig` manifest (keyed and keyless cosign signers).
    pub cosign: bool,
    /// OCI 1.1 referrers: Sigstore bundles (keyless signers) and Notation signatures.
    pub referrers: bool,
    /// `--locked`: exactly these manifests, by digest, instead of listing anything. A place
    /// that lacks one of them has nothing.
    pub pinned: Option<Pinned>,
}

/// The signature manifests a lockfile recorded for an image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pinned {
    /// The cosign signature manifest, if the lock used one.
    pub signature_manifest: Option<Digest>,
    /// The referrer manifests the lock used.
    pub referrers: Vec<Digest>,
}

impl Lookup {
    fn cosign_wanted(&self) -> bool {
        match &self.pinned {
            Some(pinned) => pinned.signature_manifest.is_some(),
            None => self.cosign,
        }
    }

    fn referrers_wanted(&self) -> bool {
        match &self.pinned {
            Some(pinned) => !pinned.referrers.is_empty(),
            None => self.referrers,
        }
    }
}

/// Signatures found for one digest, in one place.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FoundSignatures {
    /// Where they were found, for messages (`OCI layout /x`, `registry 127.0.0.1:5000`).
    pub location: String,
    /// The cosign signature manifest's descriptor, when there is one.
    pub manifest: Option<Descriptor>,
    /// Its layers with their payload bytes (each checked against its digest when read).
    pub layers: Vec<SignatureLayer>,
    /// Signature referrers (Sigstore bundles, Notation envelopes), each checked.
    pub referrers: Vec<FoundReferrer>,
    /// Listed referrers that are not signatures of the digest, each with the reason; shown when
    /// the image is refused.
    pub ignored: Vec<String>,
}

impl FoundSignatures {
    /// True when no signature manifest and no signature referrer was found.
    pub fn is_empty(&self) -> bool {
        self.manifest.is_none() && self.referrers.is_empty()
    }

    fn nothing(location: String, ignored: Vec<String>) -> FoundSignatures {
        FoundSignatures { location, ignored, ..FoundSignatures::default() }
    }
}

/// A place that may hold the signatures of an image.
pub trait SignatureFinder {
    /// A short description for messages.
    fn location(&self) -> String;

    /// The signatures of `image.digest` that `lookup` asks for; empty when there are none here.
    fn find(
        &self,
        image: &ImageToVerify<'_>,
        lookup: &Lookup,
    ) -> Result<FoundSignatures, VerifyError>;
}

/// The name of `image`'s signature manifest: `<registry>/<repo>:sha256-<hex>.sig`.
pub fn signature_ref_name(image: &ImageToVerify<'_>) -> Result<Reference, VerifyError> {
    let digest = image.digest.to_string();
    let refused = |reason| VerifyError::SignatureManifest {
        image: image.written.to_owned(),
        location: "(none)".to_owned(),
        manifest: image.digest.clone(),
        problem: reason,
    };
    let tag = signature_tag(&digest).map_err(|e| refused(e.to_string()))?;
    Reference::new(image.reference.registry(), image.reference.repository(), Some(&tag), None)
        .map_err(|e| refused(e.to_string()))
}

/// Signatures in an OCI image layout (a `--source` directory or the cache).
#[derive(Debug, Clone, Copy)]
pub struct LayoutFinder<'a> {
    /// The layout.
    pub layout: &'a OciLayout,
    /// How messages name it (`OCI layout /x`, `cache /y`).
    pub label: &'a str,
}

impl SignatureFinder for LayoutFinder<'_> {
    fn location(&self) -> String {
        self.label.to_owned()
    }

    fn find(
        &self,
        image: &ImageToVerify<'_>,
        lookup: &Lookup,
    ) -> Result<FoundSignatures, VerifyError> {
        find_local(self.layout, self.label, image, lookup)
    }
}

/// Signatures in an OCI archive given with `--source` (a layout in a tar, read in place).
#[derive(Debug, Clone, Copy)]
pub struct ArchiveFinder<'a> {
    /// The archive.
    pub archive: &'a ArchiveSource,
    /// How messages name it (`image archive /x.tar`).
    pub label: &'a str,
}

impl SignatureFinder for ArchiveFinder<'_> {
    fn location(&self) -> String {
        self.label.to_owned()
    }

    fn find(
        &self,
        image: &ImageToVerify<'_>,
        lookup: &Lookup,
    ) -> Result<FoundSignatures, VerifyError> {
        find_local(self.archive, self.label, image, lookup)
    }
}

/// The signatures `lookup` asks for in a local store.
fn find_local(
    store: &dyn Store,
    label: &str,
    image: &ImageToVerify<'_>,
    lookup: &Lookup,
) -> Result<FoundSignatures, VerifyError> {
    let oci_err = |source| VerifyError::Oci { image: image.written.to_owned(), source };
    let pinned = lookup.pinned.as_ref();
    let mut found = FoundSignatures::nothing(label.to_owned(), Vec::new());
    if lookup.cosign_wanted() {
        let digest = match pinned.and_then(|p| p.signature_manifest.as_ref()) {
            Some(digest) if store.has_blob(digest) => Some(digest.clone()),
            Some(_) => return Ok(FoundSignatures::nothing(label.to_owned(), Vec::new())),
            None => {
                let name = signature_ref_name(image)?.to_string();
                store.find_named(&name).map_err(oci_err)?.map(|d| d.digest)
            }
        };
        if let Some(digest) = digest {
            let (manifest, layers) = read_signatures(store, label, image, &digest)?;
            found.manifest = Some(manifest);
            found.layers = layers;
        }
    }
    if lookup.referrers_wanted() {
        let pinned_referrers = pinned.map(|p| p.referrers.as_slice());
        match local_referrers(store, label, image, pinned_referrers)? {
            Some(LocalReferrers { found: referrers, ignored }) => {
                found.referrers = referrers;
                found.ignored = ignored;
            }
            None => return Ok(FoundSignatures::nothing(label.to_owned(), Vec::new())),
        }
    }
    Ok(found)
}

/// Reads the signature manifest `digest` and its payloads from `store`, all verified.
fn read_signatures(
    store: &dyn Store,
    label: &str,
    image: &ImageToVerify<'_>,
    digest: &Digest,
) -> Result<(Descriptor, Vec<SignatureLayer>), VerifyError> {
    let oci_err = |source| VerifyError::Oci { image: image.written.to_owned(), source };
    let bytes = store.read(digest, None, MAX_JSON_BYTES).map_err(oci_err)?;
    let (manifest, parsed) = parse_signature_manifest(&bytes, None, label, image, digest)?;
    let mut layers = Vec::new();
    for descriptor in parsed.layers {
        let layer_digest: Digest =
            descriptor.digest.parse().map_err(|e: crate::digest::DigestError| {
                bad_manifest(label, image, digest, format!("layer digest: {e}"))
            })?;
        let payload = store
            .read(&layer_digest, Some(descriptor.size), limit_of(&descriptor))
            .map_err(oci_err)?;
        layers.push(SignatureLayer { descriptor, payload });
    }
    Ok((manifest, layers))
}

/// How many bytes of a payload to read: its declared size, which the checks before fetching
/// bound by [`MAX_PAYLOAD_BYTES`] (plus one, so an oversized blob is reported, not truncated).
fn limit_of(descriptor: &signing::cosign::LayerDescriptor) -> u64 {
    let max = u64::try_from(MAX_PAYLOAD_BYTES).unwrap_or(u64::MAX);
    descriptor.size.min(max).saturating_add(1)
}

fn bad_manifest(
    location: &str,
    image: &ImageToVerify<'_>,
    digest: &Digest,
    problem: String,
) -> VerifyError {
    VerifyError::SignatureManifest {
        image: image.written.to_owned(),
        location: location.to_owned(),
        manifest: digest.clone(),
        problem,
    }
}

/// Parses a signature manifest: an image manifest (not an index), at most
/// [`signing::cosign::MAX_LAYERS`] layers, each payload at most [`MAX_PAYLOAD_BYTES`] and the
/// config at most [`MAX_SIGNATURE_CONFIG_BYTES`] (checked before anything is fetched).
fn parse_signature_manifest(
    bytes: &[u8],
    listed_media_type: Option<&str>,
    location: &str,
    image: &ImageToVerify<'_>,
    digest: &Digest,
) -> Result<(Descriptor, SignatureManifest), VerifyError> {
    let bad = |problem: String| bad_manifest(location, image, digest, problem);
    let what = format!("{}: signature manifest {digest}", image.written);
    let raw = parse_manifest(Arc::from(bytes), listed_media_type, &what)
        .map_err(|e| bad(e.to_string()))?;
    let Manifest::Image(manifest) = &raw.value else {
        return Err(bad(format!("expected an image manifest, found {}", raw.media_type)));
    };
    if manifest.config.size > MAX_SIGNATURE_CONFIG_BYTES {
        return Err(bad(format!(
            "config is {} bytes, more than the {MAX_SIGNATURE_CONFIG_BYTES} accepted",
            manifest.config.size
        )));
    }
    let parsed = SignatureManifest::parse(bytes).map_err(|e| bad(e.to_string()))?;
    for (idx, layer) in parsed.layers.iter().enumerate() {
        if layer.size > u64::try_from(MAX_PAYLOAD_BYTES).unwrap_or(u64::MAX) {
            return Err(bad(format!(
                "layer {idx} is {} bytes, more than the {MAX_PAYLOAD_BYTES} accepted for a signature payload",
                layer.size
            )));
        }
    }
    let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    Ok((Descriptor::new(&raw.media_type, digest.clone(), size), parsed))
}

/// Signatures in a registry, stored in the cache as they are fetched.
#[derive(Clone, Copy)]
pub struct RegistryFinder<'a> {
    /// The registry client.
    pub registry: &'a Registry,
    /// The cache the signatures are stored in (and read back from, verified).
    pub cache: &'a Cache,
}

impl SignatureFinder for RegistryFinder<'_> {
    fn location(&self) -> String {
        "the registry".to_owned()
    }

    fn find(
        &self,
        image: &ImageToVerify<'_>,
        lookup: &Lookup,
    ) -> Result<FoundSignatures, VerifyError> {
        let location = format!("registry {}", image.reference.registry());
        let pinned = lookup.pinned.as_ref();
        let mut found = FoundSignatures::nothing(location.clone(), Vec::new());
        if lookup.cosign_wanted() {
            let pinned_manifest = pinned.and_then(|p| p.signature_manifest.as_ref());
            match self.cosign(image, pinned_manifest, &location)? {
                Some((manifest, layers)) => {
                    found.manifest = Some(manifest);
                    found.layers = layers;
                }
                None if pinned_manifest.is_some() => {
                    return Ok(FoundSignatures::nothing(location, Vec::new()));
                }
                None => {}
            }
        }
        if lookup.referrers_wanted() {
            let pinned_referrers = pinned.map(|p| p.referrers.as_slice());
            match self.referrers(image, pinned_referrers, &location)? {
                Some(LocalReferrers { found: referrers, ignored }) => {
                    found.referrers = referrers;
                    found.ignored = ignored;
                }
                None => return Ok(FoundSignatures::nothing(location, Vec::new())),
            }
        }
        Ok(found)
    }
}

impl RegistryFinder<'_> {
    /// The cosign signature manifest (by tag, or the pinned digest) and its payloads.
    fn cosign(
        &self,
        image: &ImageToVerify<'_>,
        pinned: Option<&Digest>,
        location: &str,
    ) -> Result<Option<(Descriptor, Vec<SignatureLayer>)>, VerifyError> {
        let fetch_err = |source| VerifyError::Fetch { image: image.written.to_owned(), source };
        let cache_err = |source| VerifyError::Cache { image: image.written.to_owned(), source };
        let name = signature_ref_name(image)?;
        let request = match pinned {
            Some(digest) => name.with_digest(digest.clone()),
            None => name.clone(),
        };
        let (root, _, documents) = match self.registry.resolve(&request, &[]) {
            Ok(resolution) => resolution,
            Err(FetchError::NotFound { .. }) => return Ok(None),
            Err(other) => return Err(fetch_err(other)),
        };
        let Some(bytes) = documents.get(&root.digest) else {
            return Err(bad_manifest(
                location,
                image,
                &root.digest,
                "the registry client returned no manifest bytes".to_owned(),
            ));
        };
        parse_signature_manifest(bytes, Some(&root.media_type), location, image, &root.digest)?;
        let raw = parse_manifest(bytes.clone(), Some(&root.media_type), location)
            .map_err(|source| VerifyError::Oci { image: image.written.to_owned(), source })?;
        let Manifest::Image(manifest) = raw.value else {
            // parse_signature_manifest refused indexes above.
            return Err(bad_manifest(
                location,
                image,
                &root.digest,
                "not an image manifest".into(),
            ));
        };
        let mut blobs = vec![manifest.config.clone()];
        blobs.extend(manifest.layers.iter().cloned());
        let pinned_request = name.with_digest(root.digest.clone());
        {
            // Hold the writers' lock from the first blob until the name is in index.json, so
            // `kit cache prune` cannot delete the blobs in between.
            let _guard = self.cache.write_guard().map_err(cache_err)?;
            self.registry.fetch_blobs(self.cache, &pinned_request, &blobs).map_err(fetch_err)?;
            self.cache.put_blob(&root.digest, bytes).map_err(cache_err)?;
            self.cache.add_ref(&name.to_string(), &root).map_err(cache_err)?;
        }
        read_signatures(self.cache.layout(), location, image, &root.digest).map(Some)
    }

    /// The signature referrers of the image: listed by the referrers API, else the referrers
    /// tag schema, or the pinned ones by digest (`Ok(None)` when one of those is missing).
    /// Accepted referrers are stored in the cache with a referrers index naming them.
    fn referrers(
        &self,
        image: &ImageToVerify<'_>,
        pinned: Option<&[Digest]>,
        location: &str,
    ) -> Result<Option<LocalReferrers>, VerifyError> {
        let fetch_err = |source| VerifyError::Fetch { image: image.written.to_owned(), source };
        let cache_err = |source| VerifyError::Cache { image: image.written.to_owned(), source };
        let repository =
            Reference::new(image.reference.registry(), image.reference.repository(), None, None)
                .map_err(|e| VerifyError::Referrers {
                    image: image.written.to_owned(),
                    location: location.to_owned(),
                    problem: e.to_string(),
                })?;
        let digests = match pinned {
            Some(pinned) => pinned.to_vec(),
            None => {
                let listed = self.list(image, &repository, location)?;
                candidates(&listed.1, image, &listed.0)?
            }
        };
        let mut result = LocalReferrers::default();
        let mut accepted: Vec<CheckedReferrer> = Vec::new();
        let _guard = self.cache.write_guard().map_err(cache_err)?;
        for digest in &digests {
            let request = repository.with_digest(digest.clone());
            let (root, _, documents) = match self.registry.resolve(&request, &[]) {
                Ok(resolution) => resolution,
                Err(FetchError::NotFound { .. }) if pinned.is_some() => return Ok(None),
                Err(FetchError::NotFound { .. }) => {
                    result.ignored.push(format!("referrer {digest}: listed but not found"));
                    continue;
                }
                Err(other) => return Err(fetch_err(other)),
            };
            let Some(bytes) = documents.get(&root.digest) else { continue };
            let checked = match classify(bytes, digest, image.digest) {
                Classified::Signature(checked) => checked,
                Classified::Ignored(why) if pinned.is_some() => {
                    return Err(VerifyError::Referrers {
                        image: image.written.to_owned(),
                        location: location.to_owned(),
                        problem: format!("the lockfile records {why}"),
                    });
                }
                Classified::Ignored(why) => {
                    result.ignored.push(why);
                    continue;
                }
            };
            let blobs = [checked.config.clone(), checked.layer.clone()];
            self.registry.fetch_blobs(self.cache, &request, &blobs).map_err(fetch_err)?;
            self.cache.put_blob(digest, bytes).map_err(cache_err)?;
            accepted.push(*checked);
        }
        if !accepted.is_empty() {
            let manifests: Vec<Descriptor> = accepted.iter().map(|c| c.manifest.clone()).collect();
            let index = cache_index(&manifests);
            let index_digest = Digest::sha256(&index);
            self.cache.put_blob(&index_digest, &index).map_err(cache_err)?;
            let size = u64::try_from(index.len()).unwrap_or(u64::MAX);
            let descriptor = Descriptor::new(media_type::OCI_INDEX, index_digest, size);
            self.cache.add_ref(&referrers_ref_name(image)?, &descriptor).map_err(cache_err)?;
        }
        let oci_err = |source| VerifyError::Oci { image: image.written.to_owned(), source };
        for checked in accepted {
            let layer = &checked.layer;
            let bytes = Store::read(
                self.cache.layout(),
                &layer.digest,
                Some(layer.size),
                MAX_SIGNATURE_LAYER_BYTES,
            )
            .map_err(oci_err)?;
            result.found.push(FoundReferrer {
                kind: checked.kind,
                manifest: checked.manifest,
                layer: checked.layer,
                bytes,
            });
        }
        Ok(Some(result))
    }

    /// The referrer index entries the registry lists: the referrers API, else the referrers
    /// tag schema (no tag: no entries). Returns what was read, for messages, and the entries.
    fn list(
        &self,
        image: &ImageToVerify<'_>,
        repository: &Reference,
        location: &str,
    ) -> Result<(String, Vec<Descriptor>), VerifyError> {
        let fetch_err = |source| VerifyError::Fetch { image: image.written.to_owned(), source };
        let api = self
            .registry
            .referrers(repository, image.digest, MAX_REFERRER_PAGES)
            .map_err(fetch_err)?;
        if let Some(pages) = api {
            let what = format!("{location}: referrers API of {}", image.digest);
            let entries = index_entries(&pages, &what, image)?;
            return Ok((what, entries));
        }
        let tag = Reference::new(
            repository.registry(),
            repository.repository(),
            Some(&referrers_tag(image.digest)),
            None,
        )
        .map_err(|e| VerifyError::Referrers {
            image: image.written.to_owned(),
            location: location.to_owned(),
            problem: e.to_string(),
        })?;
        let what = format!("{location}: referrers tag {tag}");
        let (root, _, documents) = match self.registry.resolve(&tag, &[]) {
            Ok(resolution) => resolution,
            Err(FetchError::NotFound { .. }) => return Ok((what, Vec::new())),
            Err(other) => return Err(fetch_err(other)),
        };
        let pages: Vec<Vec<u8>> =
            documents.get(&root.digest).map(|b| b.to_vec()).into_iter().collect();
        let entries = index_entries(&pages, &what, image)?;
        Ok((what, entries))
    }
}

/// Tries finders in order; the first that has a signature manifest or a signature referrer
/// wins. The reasons for ignored referrers are gathered from every place tried.
pub struct FirstFound<'a>(pub Vec<&'a dyn SignatureFinder>);

impl SignatureFinder for FirstFound<'_> {
    fn location(&self) -> String {
        let places: Vec<String> = self.0.iter().map(|f| f.location()).collect();
        if places.is_empty() { "no place".to_owned() } else { places.join(", then ") }
    }

    fn find(
        &self,
        image: &ImageToVerify<'_>,
        lookup: &Lookup,
    ) -> Result<FoundSignatures, VerifyError> {
        let mut ignored = Vec::new();
        for finder in &self.0 {
            let mut found = finder.find(image, lookup)?;
            if !found.is_empty() {
                ignored.append(&mut found.ignored);
                found.ignored = ignored;
                return Ok(found);
            }
            ignored.append(&mut found.ignored);
        }
        Ok(FoundSignatures::nothing(self.location(), ignored))
    }
}

/// The places the build looks for signatures, in this order:
/// 1. the `--source` layouts, then the `--source` archives, in order (offline);
/// 2. by `pull`, like the images themselves: [`PullPolicy::IfMissing`] the cache, then the
///    registry; [`PullPolicy::Always`] the registry (the cache when there is no registry);
///    [`PullPolicy::Never`] the cache only. `registry: None` never opens a connection.
///
/// Under `--locked` pass the lockfile's record to [`super::verify_image`]: the pinned signature
/// manifests are then found by digest in the same places, the cache before the registry.
pub struct SignatureSources<'a> {
    /// `--source` OCI layouts with their labels.
    pub layouts: Vec<(OciLayout, String)>,
    /// `--source` archives with their labels.
    pub archives: Vec<(&'a ArchiveSource, String)>,
    /// The cache.
    pub cache: &'a Cache,
    /// The registry client, when network access is allowed.
    pub registry: Option<&'a Registry>,
    /// The pull policy of the build.
    pub pull: PullPolicy,
    cache_label: String,
}

impl<'a> SignatureSources<'a> {
    /// The usual sources: `layouts` (labelled `OCI layout <dir>`), then the cache and the
    /// registry as `pull` says.
    pub fn new(
        layouts: &[OciLayout],
        cache: &'a Cache,
        registry: Option<&'a Registry>,
        pull: PullPolicy,
    ) -> SignatureSources<'a> {
        let layouts = layouts
            .iter()
            .map(|l| (l.clone(), format!("OCI layout {}", l.root().display())))
            .collect();
        let cache_label = format!("cache {}", cache.root().display());
        SignatureSources { layouts, archives: Vec::new(), cache, registry, pull, cache_label }
    }

    /// Adds `--source` archives (labelled `image archive <file>`), searched after the layouts.
    pub fn with_archives(mut self, archives: &[&'a ArchiveSource]) -> SignatureSources<'a> {
        use crate::oci::ImageSource as _;
        self.archives.extend(archives.iter().map(|a| (*a, a.location())));
        self
    }

    fn with_finders<T>(&self, pull: PullPolicy, run: impl FnOnce(&FirstFound<'_>) -> T) -> T {
        let layout_finders: Vec<LayoutFinder<'_>> =
            self.layouts.iter().map(|(layout, label)| LayoutFinder { layout, label }).collect();
        let archive_finders: Vec<ArchiveFinder<'_>> =
            self.archives.iter().map(|(archive, label)| ArchiveFinder { archive, label }).collect();
        let cache = LayoutFinder { layout: self.cache.layout(), label: &self.cache_label };
        let registry = self.registry.map(|registry| RegistryFinder { registry, cache: self.cache });
        let mut order: Vec<&dyn SignatureFinder> =
            layout_finders.iter().map(|f| f as &dyn SignatureFinder).collect();
        order.extend(archive_finders.iter().map(|f| f as &dyn SignatureFinder));
        match (pull, &registry) {
            (PullPolicy::Always, Some(registry)) => order.push(registry),
            (PullPolicy::IfMissing, Some(registry)) => {
                order.push(&cache);
                order.push(registry);
            }
            _ => order.push(&cache),
        }
        run(&FirstFound(order))
    }
}

impl SignatureFinder for SignatureSources<'_> {
    fn location(&self) -> String {
        self.with_finders(self.pull, |f| f.location())
    }

    fn find(
        &self,
        image: &ImageToVerify<'_>,
        lookup: &Lookup,
    ) -> Result<FoundSignatures, VerifyError> {
        // A pinned manifest is immutable: the cache is always as good as the registry for it.
        let pull = match (&lookup.pinned, self.pull) {
            (Some(_), PullPolicy::Always) => PullPolicy::IfMissing,
            (_, pull) => pull,
        };
        self.with_finders(pull, |f| f.find(image, lookup))
    }
}

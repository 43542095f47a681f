//! OCI 1.1 referrers: finding the Sigstore bundles and Notation signatures attached to a pinned
//! digest `D`, and checking each one before its bytes reach `signing`.
//!
//! # Discovery
//!
//! A referrer is an image manifest whose `subject` is `D` (image-spec v1.1 `manifest.md`). The
//! lists that name referrers are unauthenticated hints:
//! - Registry: the referrers API (`GET /v2/<repo>/referrers/<D>`, distribution-spec v1.1), an
//!   image index, paginated with `Link` headers; when the API is missing (404, 400 or 405, as on
//!   Debian's docker-registry 2.8), the referrers tag schema: the tag `sha256-<hex of D>` holding
//!   an image index. kit asks without an `artifactType` filter (bundles have two media type
//!   spellings and Notation a third type), so a filter the registry applies or ignores changes
//!   nothing.
//! - OCI layouts, archives and the cache: see "Layout format" in [`super::find`].
//!
//! # Checks (fail closed)
//!
//! The index's `artifactType` and annotations are used only to skip entries that declare an
//! unrelated type (SBOMs, attestations): skipping can only hide a signature, which the index's
//! writer could do anyway, and the image is then refused as unsigned. Every other entry is a
//! candidate, and each candidate manifest is read by its digest and checked:
//! 1. its bytes hash to the digest listed (registry and layout reads are verified);
//! 2. it is an image manifest (an index is never followed, so a list cannot loop) whose
//!    `subject.digest` is `D` (a foreign manifest or a signature of another digest is ignored,
//!    and the refusal says why);
//! 3. its kind comes from the manifest's own `artifactType`, else its `config.mediaType` (the
//!    form of 1.0-only tools): a Sigstore bundle
//!    (`application/vnd.dev.sigstore.bundle.v0.3+json` or
//!    `application/vnd.dev.sigstore.bundle+json;version=0.3`) or a Notation signature
//!    (`application/vnd.cncf.notary.signature`); anything else is skipped;
//! 4. it has exactly one layer, of a media type of that kind (the bundle types; `application/jose+json`
//!    or `application/cose` for Notation), at most [`MAX_SIGNATURE_LAYER_BYTES`];
//! 5. the layer blob is read with its digest and size checked while it streams.
//!
//! Bounds: an index of more than [`MAX_INDEX_ENTRIES`] entries, more than [`MAX_REFERRER_PAGES`]
//! API pages, or more than [`MAX_SIGNATURE_REFERRERS`] candidate manifests is an error naming
//! the image, never a long loop; every document is read with a size limit.

use std::collections::BTreeSet;
use std::sync::Arc;

use signing::NOTATION_ARTIFACT_TYPE;
use signing::bundle::BUNDLE_MEDIA_TYPE_V03;

use super::{ImageToVerify, VerifyError};
use crate::digest::Digest;
use crate::oci::spec::{MAX_JSON_BYTES, Manifest, parse_manifest};
use crate::oci::{ArchiveSource, Descriptor, OciLayout, media_type};

/// The artifact and layer media types of a Sigstore bundle referrer (cosign v3, sigstore-go).
pub const BUNDLE_MEDIA_TYPES: [&str; 2] =
    [BUNDLE_MEDIA_TYPE_V03, "application/vnd.dev.sigstore.bundle+json;version=0.3"];

/// The layer media types of a Notation signature referrer: JWS and COSE envelopes.
pub const NOTATION_ENVELOPE_MEDIA_TYPES: [&str; 2] = ["application/jose+json", "application/cose"];

/// Most entries read from referrer indexes for one digest (all pages together).
pub const MAX_INDEX_ENTRIES: usize = 1024;

/// Most pages of the referrers API followed.
pub const MAX_REFERRER_PAGES: usize = 16;

/// Most candidate signature manifests fetched for one digest (as many as `signing` accepts
/// signatures of one kind).
pub const MAX_SIGNATURE_REFERRERS: usize = signing::cosign::MAX_LAYERS;

/// Largest bundle or envelope layer read (`signing`'s bundle limit).
pub const MAX_SIGNATURE_LAYER_BYTES: u64 = 1024 * 1024;

/// Largest config blob of a referrer kept in the cache (usually the 2-byte empty descriptor).
pub const MAX_REFERRER_CONFIG_BYTES: u64 = 64 * 1024;

/// What a signature referrer carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferrerKind {
    /// A Sigstore bundle (keyless signatures).
    SigstoreBundle,
    /// A Notation signature envelope.
    Notation,
}

impl ReferrerKind {
    /// A short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            ReferrerKind::SigstoreBundle => "Sigstore bundle",
            ReferrerKind::Notation => "Notation signature",
        }
    }
}

/// A signature referrer, checked, with its layer's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundReferrer {
    /// Its kind.
    pub kind: ReferrerKind,
    /// The referrer manifest (media type, digest, size; `artifact_type` as the manifest says).
    pub manifest: Descriptor,
    /// Its single layer.
    pub layer: Descriptor,
    /// The layer's bytes, checked against the layer's digest and size.
    pub bytes: Vec<u8>,
}

/// A referrer manifest that passed the checks, before its layer is read.
#[derive(Debug, Clone)]
pub(crate) struct CheckedReferrer {
    pub kind: ReferrerKind,
    pub manifest: Descriptor,
    pub config: Descriptor,
    pub layer: Descriptor,
}

/// The verdict on one candidate manifest.
pub(crate) enum Classified {
    /// A signature of `D`.
    Signature(Box<CheckedReferrer>),
    /// Not a signature of `D`, with the reason (shown when the image is refused).
    Ignored(String),
}

/// Checks one candidate referrer manifest (`bytes`, read by `digest`) against the subject.
pub(crate) fn classify(bytes: &[u8], digest: &Digest, subject: &Digest) -> Classified {
    let ignored = |why: String| Classified::Ignored(format!("referrer {digest}: {why}"));
    let found = Digest::sha256(bytes);
    if &found != digest {
        return ignored(format!("its bytes hash to {found}"));
    }
    let raw = match parse_manifest(Arc::from(bytes), None, &format!("referrer {digest}")) {
        Ok(raw) => raw,
        Err(error) => return ignored(error.to_string()),
    };
    let Manifest::Image(manifest) = &raw.value else {
        return ignored("expected an image manifest, found an index".to_owned());
    };
    match &manifest.subject {
        None => return ignored("it has no subject".to_owned()),
        Some(s) if &s.digest != subject => {
            return ignored(format!("its subject is {}, not {subject}", s.digest));
        }
        Some(_) => {}
    }
    let artifact_type =
        manifest.artifact_type.as_deref().unwrap_or(manifest.config.media_type.as_str());
    let (kind, layer_types): (ReferrerKind, &[&str]) =
        if BUNDLE_MEDIA_TYPES.contains(&artifact_type) {
            (ReferrerKind::SigstoreBundle, &BUNDLE_MEDIA_TYPES)
        } else if artifact_type == NOTATION_ARTIFACT_TYPE {
            (ReferrerKind::Notation, &NOTATION_ENVELOPE_MEDIA_TYPES)
        } else {
            return ignored(format!("artifact type {artifact_type} is not a signature"));
        };
    let [layer] = manifest.layers.as_slice() else {
        return ignored(format!(
            "a {} referrer must have exactly one layer, found {}",
            kind.name(),
            manifest.layers.len()
        ));
    };
    if !layer_types.contains(&layer.media_type.as_str()) {
        return ignored(format!(
            "its layer has media type {}, expected {}",
            layer.media_type,
            layer_types.join(" or ")
        ));
    }
    if layer.size > MAX_SIGNATURE_LAYER_BYTES {
        return ignored(format!(
            "its layer is {} bytes, more than the {MAX_SIGNATURE_LAYER_BYTES} accepted",
            layer.size
        ));
    }
    if manifest.config.size > MAX_REFERRER_CONFIG_BYTES {
        return ignored(format!(
            "its config is {} bytes, more than the {MAX_REFERRER_CONFIG_BYTES} accepted",
            manifest.config.size
        ));
    }
    let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    let mut descriptor = Descriptor::new(&raw.media_type, digest.clone(), size);
    descriptor.artifact_type = Some(artifact_type.to_owned());
    Classified::Signature(Box::new(CheckedReferrer {
        kind,
        manifest: descriptor,
        config: manifest.config.clone(),
        layer: layer.clone(),
    }))
}

/// The entries of referrer index documents (API pages or a tag-schema index), bounded.
pub(crate) fn index_entries(
    pages: &[Vec<u8>],
    what: &str,
    image: &ImageToVerify<'_>,
) -> Result<Vec<Descriptor>, VerifyError> {
    let mut entries = Vec::new();
    for bytes in pages {
        let raw = parse_manifest(Arc::from(bytes.as_slice()), Some(media_type::OCI_INDEX), what)
            .map_err(|source| VerifyError::Oci { image: image.written.to_owned(), source })?;
        let Manifest::Index(index) = raw.value else {
            return Err(bad_index(image, what, "expected an image index, found a manifest"));
        };
        entries.extend(index.manifests);
        if entries.len() > MAX_INDEX_ENTRIES {
            return Err(bad_index(
                image,
                what,
                &format!("lists more than the {MAX_INDEX_ENTRIES} referrers accepted"),
            ));
        }
    }
    Ok(entries)
}

fn bad_index(image: &ImageToVerify<'_>, what: &str, problem: &str) -> VerifyError {
    VerifyError::Referrers {
        image: image.written.to_owned(),
        location: what.to_owned(),
        problem: problem.to_owned(),
    }
}

/// The candidate manifests of index `entries`: image manifests not declared as an unrelated
/// artifact type, each digest once, never `D` itself.
pub(crate) fn candidates(
    entries: &[Descriptor],
    image: &ImageToVerify<'_>,
    what: &str,
) -> Result<Vec<Digest>, VerifyError> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for entry in entries {
        if !media_type::is_image_manifest(&entry.media_type) || &entry.digest == image.digest {
            continue;
        }
        let declared = entry.artifact_type.as_deref().unwrap_or("");
        let maybe_signature = declared.is_empty()
            || declared == media_type::OCI_EMPTY
            || declared == NOTATION_ARTIFACT_TYPE
            || BUNDLE_MEDIA_TYPES.contains(&declared);
        if maybe_signature && seen.insert(entry.digest.clone()) {
            out.push(entry.digest.clone());
        }
    }
    if out.len() > MAX_SIGNATURE_REFERRERS {
        return Err(bad_index(
            image,
            what,
            &format!(
                "lists {} candidate signature manifests, more than the {MAX_SIGNATURE_REFERRERS} accepted",
                out.len()
            ),
        ));
    }
    Ok(out)
}

/// The referrers tag of a digest: `sha256-<hex>` (distribution-spec v1.1 "Referrers Tag Schema").
pub fn referrers_tag(digest: &Digest) -> String {
    format!("{}-{}", digest.algorithm().name(), digest.hex())
}

/// A local place holding blobs and an `index.json`: an OCI layout, the cache or an archive.
pub(crate) trait Store {
    /// The descriptor `index.json` names `name` (layout matching rules), if any.
    fn find_named(&self, name: &str) -> Result<Option<Descriptor>, crate::oci::Error>;
    /// The entries of `index.json`.
    fn entries(&self) -> Result<Vec<Descriptor>, crate::oci::Error>;
    /// True when the blob is present.
    fn has_blob(&self, digest: &Digest) -> bool;
    /// Reads a blob of at most `limit` bytes, verified against `digest` and `size`.
    fn read(
        &self,
        digest: &Digest,
        size: Option<u64>,
        limit: u64,
    ) -> Result<Vec<u8>, crate::oci::Error>;
}

impl Store for OciLayout {
    fn find_named(&self, name: &str) -> Result<Option<Descriptor>, crate::oci::Error> {
        match self.find(name) {
            Ok(found) => Ok(Some(found)),
            Err(crate::oci::Error::RefNotFound { .. }) => Ok(None),
            Err(other) => Err(other),
        }
    }

    fn entries(&self) -> Result<Vec<Descriptor>, crate::oci::Error> {
        Ok(self.index()?.manifests)
    }

    fn has_blob(&self, digest: &Digest) -> bool {
        OciLayout::has_blob(self, digest)
    }

    fn read(
        &self,
        digest: &Digest,
        size: Option<u64>,
        limit: u64,
    ) -> Result<Vec<u8>, crate::oci::Error> {
        let reader = self.read_blob(digest, size)?;
        let what = format!("{}: blob {digest}", self.root().display());
        crate::oci::source::read_limited(reader, limit, &what)
    }
}

impl Store for ArchiveSource {
    fn find_named(&self, name: &str) -> Result<Option<Descriptor>, crate::oci::Error> {
        self.find_in_index(name)
    }

    fn entries(&self) -> Result<Vec<Descriptor>, crate::oci::Error> {
        Ok(self.index_entries().to_vec())
    }

    fn has_blob(&self, digest: &Digest) -> bool {
        ArchiveSource::has_blob(self, digest)
    }

    fn read(
        &self,
        digest: &Digest,
        size: Option<u64>,
        limit: u64,
    ) -> Result<Vec<u8>, crate::oci::Error> {
        self.read_blob_limited(digest, size, limit)
    }
}

/// Referrers found in one place.
#[derive(Debug, Default)]
pub(crate) struct LocalReferrers {
    pub found: Vec<FoundReferrer>,
    pub ignored: Vec<String>,
}

/// The signature referrers of `image` in a local store: the manifests the referrers tag schema
/// index names (`<registry>/<repo>:sha256-<hex>`, else `sha256-<hex>`), and the unnamed
/// entries of `index.json` (as oras writes referrers into a layout). With `pinned`, exactly
/// those manifests, by digest: `Ok(None)` when one is missing here.
pub(crate) fn local_referrers(
    store: &dyn Store,
    label: &str,
    image: &ImageToVerify<'_>,
    pinned: Option<&[Digest]>,
) -> Result<Option<LocalReferrers>, VerifyError> {
    let oci_err = |source| VerifyError::Oci { image: image.written.to_owned(), source };
    let digests = match pinned {
        Some(pinned) => {
            if pinned.iter().any(|d| !store.has_blob(d)) {
                return Ok(None);
            }
            pinned.to_vec()
        }
        None => {
            let mut entries = Vec::new();
            let name = referrers_ref_name(image)?;
            if let Some(index) = store.find_named(&name).map_err(oci_err)?
                && media_type::is_index(&index.media_type)
            {
                let bytes =
                    store.read(&index.digest, Some(index.size), MAX_JSON_BYTES).map_err(oci_err)?;
                let what = format!("{label}: referrers index {name}");
                entries = index_entries(&[bytes], &what, image)?;
            }
            let unnamed = store.entries().map_err(oci_err)?.into_iter().filter(|d| {
                crate::oci::layout::names_of(d).next().is_none() && store.has_blob(&d.digest)
            });
            entries.extend(unnamed);
            candidates(&entries, image, label)?
        }
    };
    let mut result = LocalReferrers::default();
    for digest in &digests {
        let bytes = store.read(digest, None, MAX_JSON_BYTES).map_err(oci_err)?;
        let checked = match classify(&bytes, digest, image.digest) {
            Classified::Signature(checked) => checked,
            Classified::Ignored(why) if pinned.is_some() => {
                return Err(VerifyError::Referrers {
                    image: image.written.to_owned(),
                    location: label.to_owned(),
                    problem: format!("the lockfile records {why}"),
                });
            }
            Classified::Ignored(why) => {
                result.ignored.push(why);
                continue;
            }
        };
        let layer = &checked.layer;
        let layer_bytes = store
            .read(&layer.digest, Some(layer.size), MAX_SIGNATURE_LAYER_BYTES)
            .map_err(oci_err)?;
        result.found.push(FoundReferrer {
            kind: checked.kind,
            manifest: checked.manifest,
            layer: layer.clone(),
            bytes: layer_bytes,
        });
    }
    Ok(Some(result))
}

/// The name of `image`'s referrers index in a layout or the cache:
/// `<registry>/<repo>:sha256-<hex>`.
pub fn referrers_ref_name(image: &ImageToVerify<'_>) -> Result<String, VerifyError> {
    let reference = crate::reference::Reference::new(
        image.reference.registry(),
        image.reference.repository(),
        Some(&referrers_tag(image.digest)),
        None,
    )
    .map_err(|e| VerifyError::Referrers {
        image: image.written.to_owned(),
        location: "(none)".to_owned(),
        problem: e.to_string(),
    })?;
    Ok(reference.to_string())
}

/// The referrers index kit writes into the cache: the accepted referrer manifests, sorted by
/// digest, each with its artifact type.
pub(crate) fn cache_index(referrers: &[Descriptor]) -> Vec<u8> {
    let mut manifests: Vec<&Descriptor> = referrers.iter().collect();
    manifests.sort_by(|a, b| a.digest.cmp(&b.digest));
    let value = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_INDEX,
        "manifests": manifests,
    });
    // Serializing a `serde_json::Value` built from plain strings and numbers cannot fail.
    serde_json::to_vec(&value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

    fn subject() -> Digest {
        Digest::sha256(b"the image")
    }

    fn manifest(artifact_type: Option<&str>, subject: &Digest, layers: &[(&str, u64)]) -> Vec<u8> {
        let layers: Vec<serde_json::Value> = layers
            .iter()
            .map(|(mt, size)| {
                serde_json::json!({"mediaType": mt, "digest": Digest::sha256(mt.as_bytes()).to_string(), "size": size})
            })
            .collect();
        let mut value = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type::OCI_MANIFEST,
            "config": {"mediaType": media_type::OCI_EMPTY, "digest": EMPTY, "size": 2},
            "layers": layers,
            "subject": {"mediaType": media_type::OCI_INDEX, "digest": subject.to_string(), "size": 10},
        });
        if let Some(t) = artifact_type {
            value["artifactType"] = serde_json::json!(t);
        }
        serde_json::to_vec(&value).unwrap()
    }

    fn check(bytes: &[u8]) -> Result<ReferrerKind, String> {
        match classify(bytes, &Digest::sha256(bytes), &subject()) {
            Classified::Signature(c) => Ok(c.kind),
            Classified::Ignored(why) => Err(why),
        }
    }

    #[test]
    fn kinds_come_from_the_manifest() {
        let d = subject();
        assert_eq!(
            check(&manifest(Some(BUNDLE_MEDIA_TYPES[0]), &d, &[(BUNDLE_MEDIA_TYPES[0], 9)])),
            Ok(ReferrerKind::SigstoreBundle)
        );
        assert_eq!(
            check(&manifest(Some(BUNDLE_MEDIA_TYPES[1]), &d, &[(BUNDLE_MEDIA_TYPES[1], 9)])),
            Ok(ReferrerKind::SigstoreBundle)
        );
        for envelope in NOTATION_ENVELOPE_MEDIA_TYPES {
            assert_eq!(
                check(&manifest(Some(NOTATION_ARTIFACT_TYPE), &d, &[(envelope, 9)])),
                Ok(ReferrerKind::Notation)
            );
        }
    }

    #[test]
    fn non_signatures_and_malformed_referrers_are_ignored_with_a_reason() {
        let d = subject();
        let other = Digest::sha256(b"another image");
        let bundle = BUNDLE_MEDIA_TYPES[0];
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (manifest(Some(bundle), &other, &[(bundle, 9)]), "its subject is sha256:"),
            (manifest(Some("application/spdx+json"), &d, &[("application/spdx+json", 9)]), "is not a signature"),
            (manifest(None, &d, &[(bundle, 9)]), "artifact type application/vnd.oci.empty.v1+json is not a signature"),
            (manifest(Some(bundle), &d, &[(bundle, 9), (bundle, 9)]), "exactly one layer, found 2"),
            (manifest(Some(bundle), &d, &[]), "exactly one layer, found 0"),
            (manifest(Some(bundle), &d, &[("application/jose+json", 9)]), "its layer has media type application/jose+json"),
            (manifest(Some(NOTATION_ARTIFACT_TYPE), &d, &[(bundle, 9)]), "expected application/jose+json or application/cose"),
            (manifest(Some(bundle), &d, &[(bundle, MAX_SIGNATURE_LAYER_BYTES + 1)]), "more than the 1048576 accepted"),
            (br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#.to_vec(), "found an index"),
            (b"not json".to_vec(), "invalid JSON"),
        ];
        for (bytes, want) in cases {
            let why = check(&bytes).unwrap_err();
            assert!(why.contains(want), "{why} should contain {want}");
        }
        let no_subject = br#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;
        assert!(check(no_subject).unwrap_err().contains("no subject"));
        // Bytes that are not those of the digest they were read by.
        let bytes = manifest(Some(bundle), &d, &[(bundle, 9)]);
        let Classified::Ignored(why) = classify(&bytes, &other, &d) else { panic!("accepted") };
        assert!(why.contains("its bytes hash to"), "{why}");
    }

    #[test]
    fn referrers_tag_follows_the_tag_schema() {
        let d = subject();
        assert_eq!(referrers_tag(&d), format!("sha256-{}", d.hex()));
    }
}

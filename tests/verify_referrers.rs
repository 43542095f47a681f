//! Signatures attached as OCI 1.1 referrers, end to end: keyless Sigstore bundles made at test
//! time by `testdata/signing/make-bundle.mjs` (independent sigstore-js code over 127.0.0.1) for
//! an image built here, attached to a real `docker-registry` with the referrers tag schema (it
//! has no referrers API), or served by a fake referrers API in front of it, or written into OCI
//! layouts and archives; found, checked, verified, cached, pinned in the lockfile and verified
//! again offline. Attacks on the unauthenticated referrer lists are refused.
//!
//! Notation JWS and COSE envelopes made by `testdata/signing/make-notation.mjs` (openssl PKI,
//! node crypto, npm `cbor`) for the same image go the same way as referrers, and keyless cosign
//! `.sig` layers from make-bundle.mjs as the `sha256-<hex>.sig` manifest: accepted under a
//! policy trusting the generated roots, refused for a replayed envelope, another root or
//! another identity.
//!
//! Needs node and npm (`npm ci` of `testdata/signing/fixtures-npm/`, once, into Cargo's target
//! tmpdir, see `support/node.rs`), docker-registry and skopeo, and openssl: skipped locally
//! without them, failing under `CI`.

#[path = "support/node.rs"]
mod node;
#[path = "support/registry.rs"]
mod registry;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use kit::cache::Cache;
use kit::digest::Digest;
use kit::fetch::{
    Anonymous, ClientOptions, NoProgress, PullPolicy, Registry, RetryPolicy, ensure_image,
};
use kit::lock::{Lockfile, resolve_locked};
use kit::oci::{ArchiveSource, ImageSource, OciLayout, Platform};
use kit::reference::Reference;
use kit::verify::{
    ArchiveFinder, ImageToVerify, LayoutFinder, Lookup, ReferrerKind, RegistryFinder,
    SignatureFinder, SignatureSources, Verified, VerifyError, load_policy, verify_image,
};
use registry::{
    Blob, Mode, ReferrersFront, Registry as TestRegistry, require_tools, tag_layout, write_image,
    write_index,
};
use serde_json::{Value, json};
use sha2::Digest as _;
use signing::UnixTime;
use signing::notation::{MEDIA_TYPE_COSE, MEDIA_TYPE_JWS};

const NOW: UnixTime = UnixTime(1_750_000_000);
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
const BUNDLE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
const NOTATION: &str = "application/vnd.cncf.notary.signature";

/// The signed test image (an index of two platforms) and bundles made for its digest.
struct Fixtures {
    _dir: tempfile::TempDir,
    layout: PathBuf,
    index: Blob,
    amd64: Blob,
    good: Vec<u8>,
    good2: Vec<u8>,
    other_digest: Vec<u8>,
    trusted_root: Vec<u8>,
    identity: String,
    issuer: String,
    /// `cosign-<case>.json` keyless `.sig` layers for the index digest: good, wrong identity.
    cosign_good: Value,
    cosign_wrong_identity: Value,
}

fn generate() -> Result<Fixtures, String> {
    let prefix = node::npm_prefix()?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let layout = dir.path().join("image");
    let amd64 = write_image(&layout, "amd64", &[&[("etc/motd", b"signed by referrers\n")]]);
    let arm64 = write_image(&layout, "arm64", &[&[("etc/motd", b"signed by referrers\n")]]);
    let index = write_index(&layout, &[("amd64", &amd64), ("arm64", &arm64)]);
    tag_layout(&layout, "t", &index);
    let out = dir.path().join("bundles");
    let artifact = blob_path(&layout, &index.digest);
    node::generator(
        "make-bundle.mjs",
        &prefix,
        &["--out".as_ref(), out.as_os_str(), "--artifact".as_ref(), artifact.as_os_str()],
    )?;
    let read = |name: &str| std::fs::read(out.join(name)).map_err(|e| format!("{name}: {e}"));
    let meta: Value = serde_json::from_slice(&read("meta.json")?).map_err(|e| e.to_string())?;
    if meta["digest"].as_str() != Some(index.digest.as_str()) {
        return Err(format!("bundles made for {}, expected {}", meta["digest"], index.digest));
    }
    Ok(Fixtures {
        good: read("good-dsse.json")?,
        good2: read("good-dsse-2.json")?,
        other_digest: read("other-digest.json")?,
        trusted_root: read("trusted_root.json")?,
        identity: meta["identity"].as_str().unwrap_or_default().to_owned(),
        issuer: meta["issuer"].as_str().unwrap_or_default().to_owned(),
        cosign_good: serde_json::from_slice(&read("cosign-good.json")?)
            .map_err(|e| e.to_string())?,
        cosign_wrong_identity: serde_json::from_slice(&read("cosign-wrong-identity.json")?)
            .map_err(|e| e.to_string())?,
        _dir: dir,
        layout,
        index,
        amd64,
    })
}

fn blob_path(layout: &Path, digest: &str) -> PathBuf {
    layout.join("blobs/sha256").join(digest.trim_start_matches("sha256:"))
}

fn fixtures() -> Option<&'static Fixtures> {
    static FIXTURES: OnceLock<Result<Fixtures, String>> = OnceLock::new();
    if !require_tools(&["docker-registry", "skopeo", "openssl"]) {
        return None;
    }
    match FIXTURES.get_or_init(generate) {
        Ok(f) => Some(f),
        Err(why) => {
            assert!(std::env::var_os("CI").is_none(), "CI is set: bundle fixtures failed: {why}");
            eprintln!("skipping: {why}");
            None
        }
    }
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

fn descriptor(media_type: &str, bytes: &[u8]) -> Value {
    json!({"mediaType": media_type, "digest": sha256(bytes), "size": bytes.len()})
}

/// A referrer manifest of `artifact_type` with one layer, whose subject is `subject`.
fn referrer(artifact_type: &str, layer_type: &str, layer: &[u8], subject: &Blob) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": descriptor(OCI_EMPTY, b"{}"),
        "layers": [descriptor(layer_type, layer)],
        "subject": {"mediaType": subject.media_type, "digest": subject.digest, "size": subject.size},
    }))
    .unwrap()
}

/// An index entry for a referrer, with the artifact type the index claims.
fn entry(manifest: &[u8], artifact_type: Option<&str>) -> Value {
    let mut d = descriptor(OCI_MANIFEST, manifest);
    if let Some(t) = artifact_type {
        d["artifactType"] = json!(t);
    }
    d
}

fn index_of(entries: &[Value]) -> Vec<u8> {
    serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}))
        .unwrap()
}

fn tag_of(digest: &str) -> String {
    digest.replacen(':', "-", 1)
}

/// A registry (or a front) with the fixture image pushed to repositories on demand.
struct Setup {
    f: &'static Fixtures,
    registry: TestRegistry,
    client: Registry,
    policy_dir: tempfile::TempDir,
}

fn setup() -> Option<Setup> {
    let f = fixtures()?;
    let registry = TestRegistry::start(Mode::Http)?;
    let options = ClientOptions { retry: RetryPolicy::none(), ..ClientOptions::default() };
    let client = Registry::new(options, Arc::new(Anonymous), Arc::new(NoProgress)).unwrap();
    Some(Setup { f, registry, client, policy_dir: tempfile::tempdir().unwrap() })
}

impl Setup {
    /// Pushes the fixture image to `repo:1`.
    fn push_image(&self, repo: &str) {
        self.registry.push(&self.f.layout, "t", repo, "1");
    }

    /// Pushes a referrer manifest (and its blobs) to `repo`; returns its bytes.
    fn push_referrer(&self, repo: &str, manifest: &[u8], layer: &[u8]) -> String {
        self.registry.push_blob(repo, b"{}");
        self.registry.push_blob(repo, layer);
        self.registry.put_manifest(repo, &sha256(manifest), OCI_MANIFEST, manifest)
    }

    /// Stores `entries` as the referrers tag schema index of the image in `repo`.
    fn tag_index(&self, repo: &str, entries: &[Value]) -> String {
        let bytes = index_of(entries);
        self.registry.put_manifest(repo, &tag_of(&self.f.index.digest), OCI_INDEX, &bytes)
    }

    /// A policy trusting the fixtures' keyless identity for `host/kit/**`.
    fn keyless_policy(&self, host: &str) -> signing::Policy {
        let dir = self.policy_dir.path();
        std::fs::write(dir.join("trusted_root.json"), &self.f.trusted_root).unwrap();
        let path = dir.join(format!("keyless-{}.yaml", host.replace([':', '.'], "-")));
        std::fs::write(
            &path,
            format!(
                "version: 1\nsigners:\n  ci:\n    keyless:\n      issuer: {}\n      subject: {}\n      trusted-root: trusted_root.json\nrules:\n  - images: [\"{host}/kit/**\"]\n    signers: [ci]\n",
                self.f.issuer, self.f.identity
            ),
        )
        .unwrap();
        load_policy(Some(&path), None).unwrap()
    }

    /// Resolves `host/repo:1` into `cache` and verifies it with `sources` built as a build does.
    fn verify(
        &self,
        host: &str,
        repo: &str,
        cache: &Cache,
        policy: &signing::Policy,
    ) -> (String, kit::oci::ResolvedImage, Result<Verified, VerifyError>) {
        self.verify_at(host, repo, cache, policy, NOW)
    }

    /// As [`Setup::verify`], at the time `now`.
    fn verify_at(
        &self,
        host: &str,
        repo: &str,
        cache: &Cache,
        policy: &signing::Policy,
        now: UnixTime,
    ) -> (String, kit::oci::ResolvedImage, Result<Verified, VerifyError>) {
        let written = format!("{host}/{repo}:1");
        let reference: Reference = written.parse().unwrap();
        let resolved = ensure_image(
            cache,
            Some(&self.client),
            &reference,
            &Platform::linux("amd64"),
            PullPolicy::IfMissing,
        )
        .unwrap();
        let sources = SignatureSources::new(&[], cache, Some(&self.client), PullPolicy::IfMissing);
        let image = ImageToVerify::new(&written, &reference, &resolved);
        let result = verify_image(policy, &image, &sources, None, now);
        (written, resolved, result)
    }
}

fn new_cache() -> (tempfile::TempDir, Cache) {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    (dir, cache)
}

#[test]
fn tag_schema_bundle_verifies_is_cached_and_locked_builds_reread_the_recorded_referrer() {
    let Some(s) = setup() else { return };
    let f = s.f;
    let host = s.registry.addr.clone();
    s.push_image("kit/signed");
    let good = referrer(BUNDLE, BUNDLE, &f.good, &f.index);
    let good_digest = s.push_referrer("kit/signed", &good, &f.good);
    // An SBOM the index declares as such, and a foreign manifest (the amd64 image manifest,
    // which has no subject), listed beside the signature.
    let sbom = referrer("application/spdx+json", "application/spdx+json", b"{}", &f.index);
    s.push_referrer("kit/signed", &sbom, b"{}");
    let foreign = std::fs::read(blob_path(&f.layout, &f.amd64.digest)).unwrap();
    s.tag_index(
        "kit/signed",
        &[entry(&good, None), entry(&sbom, Some("application/spdx+json")), entry(&foreign, None)],
    );
    let policy = s.keyless_policy(&host);
    let (cache_dir, cache) = new_cache();

    let (written, resolved, verified) = s.verify(&host, "kit/signed", &cache, &policy);
    let verified = verified.unwrap();
    let record = &verified.record;
    assert_eq!(record.digest.to_string(), f.index.digest, "the index digest is verified");
    assert_eq!(record.signature_manifest, None, "no cosign manifest verified it");
    let pinned: Vec<String> = record.referrers.iter().map(|r| r.digest.to_string()).collect();
    assert_eq!(pinned, [good_digest.as_str()]);
    assert_eq!(record.signers.len(), 1);
    assert_eq!(record.signers[0].name, "ci");
    assert_eq!(record.signers[0].signature, sha256(&f.good), "the bundle layer's digest");
    assert_eq!(
        record.signers[0].referrer.as_ref().map(ToString::to_string),
        Some(good_digest.clone())
    );
    assert!(record.signers[0].tlog_entry.is_some());
    let explained = verified.explain();
    assert!(explained.contains(&format!("referrer {good_digest}")), "{explained}");
    assert!(explained.contains(&format!("(signatures from registry {host})")), "{explained}");

    // The referrers index kit wrote into the cache names exactly the accepted referrer.
    let cached = cache
        .lookup(&format!("{host}/kit/signed:{}", tag_of(&f.index.digest)))
        .unwrap()
        .expect("referrers index in the cache");
    let bytes =
        std::fs::read(cache_dir.path().join("blobs/sha256").join(cached.digest.hex())).unwrap();
    let listed: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(listed["manifests"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["manifests"][0]["digest"], good_digest.as_str());
    assert_eq!(listed["manifests"][0]["artifactType"], BUNDLE);

    // Offline, from the cache alone.
    let reference: Reference = written.parse().unwrap();
    let image = ImageToVerify::new(&written, &reference, &resolved);
    let offline = SignatureSources::new(&[], &cache, None, PullPolicy::Never);
    let again = verify_image(&policy, &image, &offline, None, NOW).unwrap();
    assert_eq!(&again.record, record);
    assert!(again.signatures_from.as_deref().unwrap().starts_with("cache"), "{again:?}");

    // Locked: the record is written to and read from a lockfile.
    let mut lock = Lockfile::default();
    lock.insert(&written, &written, &resolved);
    lock.record_verification(&written, record);
    let lock_dir = tempfile::tempdir().unwrap();
    let lock_path = lock_dir.path().join("kit.lock");
    lock.write(&lock_path).unwrap();
    let text = std::fs::read_to_string(&lock_path).unwrap();
    assert!(text.contains("\"referrers\": ["), "{text}");
    assert!(text.contains(&format!("\"referrer\": \"{good_digest}\"")), "{text}");
    let lock = Lockfile::read(&lock_path).unwrap();
    let amd64 = Platform::linux("amd64");
    let locked = lock.get(&written, &amd64).unwrap().1.verified_by.clone().unwrap();
    assert_eq!(&locked, record);

    // After locking, the tag index is rewritten to list another (valid) bundle only. A locked
    // build with a cold cache re-reads the recorded referrer by digest and never lists.
    let good2 = referrer(BUNDLE, BUNDLE, &f.good2, &f.index);
    let good2_digest = s.push_referrer("kit/signed", &good2, &f.good2);
    s.tag_index("kit/signed", &[entry(&good2, Some(BUNDLE))]);
    let (_cold_dir, cold) = new_cache();
    let pinned = resolve_locked(&cold, Some(&s.client), &lock, &written, &amd64).unwrap();
    let image = ImageToVerify::new(&written, &reference, &pinned);
    let sources = SignatureSources::new(&[], &cold, Some(&s.client), PullPolicy::Always);
    let relocked = verify_image(&policy, &image, &sources, Some(&locked), NOW).unwrap();
    assert_eq!(relocked.record, locked, "the recorded referrer verified again");
    // Without the lock, the new listing is used.
    let (_fresh_dir, fresh) = new_cache();
    let sources = SignatureSources::new(&[], &fresh, Some(&s.client), PullPolicy::Always);
    let unlocked = verify_image(&policy, &image, &sources, None, NOW).unwrap();
    assert_eq!(unlocked.record.referrers[0].digest.to_string(), good2_digest);

    // A locked build whose recorded referrer is nowhere is refused, naming it.
    let (_empty_dir, empty) = new_cache();
    let nowhere = SignatureSources::new(&[], &empty, None, PullPolicy::Never);
    let err = verify_image(&policy, &image, &nowhere, Some(&locked), NOW).unwrap_err().to_string();
    assert!(
        err.contains(&format!("the signature manifest {good_digest} recorded in the lockfile")),
        "{err}"
    );
}

#[test]
fn attacks_on_referrer_lists_are_refused() {
    let Some(s) = setup() else { return };
    let f = s.f;
    let host = s.registry.addr.clone();
    let policy = s.keyless_policy(&host);
    let refused = |repo: &str| {
        let (_dir, cache) = new_cache();
        let (written, _, result) = s.verify(&host, repo, &cache, &policy);
        (written, result.unwrap_err().to_string())
    };

    // No referrers at all: unsigned, naming the image and where kit looked.
    s.push_image("kit/none");
    let (written, err) = refused("kit/none");
    assert!(err.starts_with(&format!("{written}: rule {host}/kit/**")), "{err}");
    assert!(err.contains("no signature found"), "{err}");
    assert!(err.contains("looked in cache"), "{err}");
    assert!(err.contains("then the registry"), "{err}");

    // A valid bundle of another digest, attached as a referrer of another subject but listed
    // in this image's index.
    s.push_image("kit/foreign-subject");
    let amd64 = Blob {
        digest: f.amd64.digest.clone(),
        size: f.amd64.size,
        media_type: OCI_MANIFEST.to_owned(),
    };
    let elsewhere = referrer(BUNDLE, BUNDLE, &f.good, &amd64);
    let elsewhere_digest = s.push_referrer("kit/foreign-subject", &elsewhere, &f.good);
    s.tag_index("kit/foreign-subject", &[entry(&elsewhere, Some(BUNDLE))]);
    let (_, err) = refused("kit/foreign-subject");
    assert!(err.contains("no signature found"), "{err}");
    assert!(
        err.contains(&format!(
            "ignored referrer {elsewhere_digest}: its subject is {}, not {}",
            f.amd64.digest, f.index.digest
        )),
        "{err}"
    );

    // A referrer of this digest whose bundle signs another digest: found, and refused by the
    // bundle check (a replayed signature).
    s.push_image("kit/replay");
    let replay = referrer(BUNDLE, BUNDLE, &f.other_digest, &f.index);
    s.push_referrer("kit/replay", &replay, &f.other_digest);
    s.tag_index("kit/replay", &[entry(&replay, Some(BUNDLE))]);
    let (_, err) = refused("kit/replay");
    assert!(err.contains("needs a signature by ci"), "{err}");
    assert!(err.contains("bundle 0:"), "{err}");
    assert!(!err.contains("looked in"), "{err}");

    // The index lists a foreign manifest (no subject) and the image itself ("pointing at
    // itself"); nothing is followed, nothing loops.
    s.push_image("kit/self");
    let foreign = std::fs::read(blob_path(&f.layout, &f.amd64.digest)).unwrap();
    let root = std::fs::read(blob_path(&f.layout, &f.index.digest)).unwrap();
    let mut itself = descriptor(OCI_MANIFEST, &root);
    itself["artifactType"] = json!(BUNDLE);
    s.tag_index("kit/self", &[entry(&foreign, Some(BUNDLE)), itself, descriptor(OCI_INDEX, &root)]);
    let (_, err) = refused("kit/self");
    assert!(err.contains("no signature found"), "{err}");
    assert!(
        err.contains(&format!("ignored referrer {}: it has no subject", f.amd64.digest)),
        "{err}"
    );

    // The bundle layer's bytes in the registry are replaced after the referrer was attached.
    s.push_image("kit/tampered");
    let good = referrer(BUNDLE, BUNDLE, &f.good, &f.index);
    s.push_referrer("kit/tampered", &good, &f.good);
    s.tag_index("kit/tampered", &[entry(&good, Some(BUNDLE))]);
    let data = s.registry.blob_data_path(&sha256(&f.good));
    let mut tampered = f.good.clone();
    let last = tampered.len() - 2;
    tampered[last] ^= 0x01;
    std::fs::write(&data, &tampered).unwrap();
    let (_, err) = refused("kit/tampered");
    assert!(err.contains("fetching signatures"), "{err}");
    assert!(err.contains(&format!("{}: digest mismatch", sha256(&f.good))), "{err}");
    std::fs::write(&data, &f.good).unwrap();
}

#[test]
fn referrers_api_answers_are_used_paged_and_fall_back_to_the_tag_schema() {
    let Some(s) = setup() else { return };
    let f = s.f;
    let front = ReferrersFront::start(&s.registry.addr);
    let host = front.addr.clone();
    let policy = s.keyless_policy(&host);

    // Page 1 lists an SBOM and links to page 2, which lists the bundle. No tag index exists.
    s.push_image("kit/api");
    let good = referrer(BUNDLE, BUNDLE, &f.good, &f.index);
    let good_digest = s.push_referrer("kit/api", &good, &f.good);
    let sbom = referrer("application/spdx+json", "application/spdx+json", b"{}", &f.index);
    s.push_referrer("kit/api", &sbom, b"{}");
    let first = format!("/v2/kit/api/referrers/{}", f.index.digest);
    let second = format!("{first}?n=1&last={}", tag_of(&sha256(&sbom)));
    front.answer(
        &first,
        index_of(&[entry(&sbom, Some("application/spdx+json"))]),
        Some(format!("<{second}>; rel=\"next\"")),
    );
    front.answer(&second, index_of(&[entry(&good, Some(BUNDLE))]), None);
    let (_dir, cache) = new_cache();
    let (_, _, verified) = s.verify(&host, "kit/api", &cache, &policy);
    let verified = verified.unwrap();
    assert_eq!(verified.record.referrers[0].digest.to_string(), good_digest);
    assert_eq!(*front.asked.lock().unwrap(), [first.clone(), second.clone()]);

    // The API answers 404 for this repository (as a registry without it): the tag schema.
    s.push_image("kit/fallback");
    s.push_referrer("kit/fallback", &good, &f.good);
    s.tag_index("kit/fallback", &[entry(&good, Some(BUNDLE))]);
    let (_dir, cache) = new_cache();
    let (_, _, verified) = s.verify(&host, "kit/fallback", &cache, &policy);
    assert_eq!(verified.unwrap().record.referrers[0].digest.to_string(), good_digest);
    let asked = front.asked.lock().unwrap().clone();
    assert_eq!(asked.last().unwrap(), &format!("/v2/kit/fallback/referrers/{}", f.index.digest));

    // The API answer wins over the tag schema: an empty answer hides the tagged bundle, and the
    // image is refused as unsigned (fail closed).
    front.answer(&format!("/v2/kit/fallback/referrers/{}", f.index.digest), index_of(&[]), None);
    let (_dir, cache) = new_cache();
    let (_, _, result) = s.verify(&host, "kit/fallback", &cache, &policy);
    assert!(result.unwrap_err().to_string().contains("no signature found"));

    // Too many entries, and a next link to another host, are errors.
    s.push_image("kit/many");
    let many: Vec<Value> = (0..1100u32)
        .map(|i| json!({"mediaType": OCI_MANIFEST, "digest": sha256(&i.to_be_bytes()), "size": 10}))
        .collect();
    front.answer(&format!("/v2/kit/many/referrers/{}", f.index.digest), index_of(&many), None);
    let (_dir, cache) = new_cache();
    let (_, _, result) = s.verify(&host, "kit/many", &cache, &policy);
    let err = result.unwrap_err().to_string();
    assert!(err.contains("lists more than the 1024 referrers accepted"), "{err}");
    // A huge answer: more than the 4 MiB kit reads for an index (docker-registry refuses to
    // store such a tag index, so only an API can serve one).
    s.push_image("kit/huge");
    let mut big = entry(&good, Some(BUNDLE));
    big["annotations"] = json!({"padding": "x".repeat(5 * 1024 * 1024)});
    front.answer(&format!("/v2/kit/huge/referrers/{}", f.index.digest), index_of(&[big]), None);
    let (_dir, cache) = new_cache();
    let (_, _, result) = s.verify(&host, "kit/huge", &cache, &policy);
    let err = result.unwrap_err().to_string();
    assert!(err.contains("larger than the limit of 4194304 bytes"), "{err}");
    s.push_image("kit/away");
    front.answer(
        &format!("/v2/kit/away/referrers/{}", f.index.digest),
        index_of(&[]),
        Some("<http://198.51.100.7/v2/kit/away/referrers/x>; rel=\"next\"".to_owned()),
    );
    let (_dir, cache) = new_cache();
    let (_, _, result) = s.verify(&host, "kit/away", &cache, &policy);
    let err = result.unwrap_err().to_string();
    assert!(err.contains("links to \"http://198.51.100.7/"), "{err}");
}

/// Notation envelopes made by `testdata/signing/make-notation.mjs --only-good` for the fixture
/// image's index, and the generated PKI's roots.
struct NotationFixtures {
    jws: Vec<u8>,
    cose: Vec<u8>,
    root_pem: Vec<u8>,
    rogue_root_pem: Vec<u8>,
    /// When the generator ran: its certificates are valid around this time only.
    now: UnixTime,
}

fn generate_notation(f: &Fixtures) -> Result<NotationFixtures, String> {
    let prefix = node::npm_prefix()?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let size = f.index.size.to_string();
    node::generator(
        "make-notation.mjs",
        &prefix,
        &[
            "--out".as_ref(),
            dir.path().as_os_str(),
            "--target-digest".as_ref(),
            f.index.digest.as_ref(),
            "--target-size".as_ref(),
            size.as_ref(),
            "--target-media-type".as_ref(),
            f.index.media_type.as_ref(),
            "--only-good".as_ref(),
        ],
    )?;
    let read =
        |name: &str| std::fs::read(dir.path().join(name)).map_err(|e| format!("{name}: {e}"));
    let meta: Value = serde_json::from_slice(&read("meta.json")?).map_err(|e| e.to_string())?;
    if meta["digest"].as_str() != Some(f.index.digest.as_str()) {
        return Err(format!("envelopes made for {}, expected {}", meta["digest"], f.index.digest));
    }
    if dir.path().join("other-digest.jws").exists() {
        return Err("--only-good wrote an attack envelope".to_owned());
    }
    Ok(NotationFixtures {
        jws: read("good-es256.jws")?,
        cose: read("good-es256.cose")?,
        root_pem: read("pki/root.pem")?,
        rogue_root_pem: read("pki/rogue-root.pem")?,
        now: UnixTime(meta["now"].as_i64().ok_or("meta.json has no now")?),
    })
}

fn notation_fixtures(f: &Fixtures) -> Option<&'static NotationFixtures> {
    static FIXTURES: OnceLock<Result<NotationFixtures, String>> = OnceLock::new();
    match FIXTURES.get_or_init(|| generate_notation(f)) {
        Ok(n) => Some(n),
        Err(why) => {
            assert!(std::env::var_os("CI").is_none(), "CI is set: Notation fixtures failed: {why}");
            eprintln!("skipping: {why}");
            None
        }
    }
}

/// The leaf's full subject, as the generator's `LEAF_DN` and `CN` spell it.
const NOTATION_SIGNER: &str =
    "x509.subject: C=US, ST=WA, L=Seattle, O=kit-test, CN=kit test signer";

/// A policy whose `vendor` Notation signer trusts `root` (PEM) for `identity`, on
/// `host/kit/**`.
fn notation_policy(
    dir: &Path,
    host: &str,
    name: &str,
    root: &[u8],
    identity: &str,
) -> signing::Policy {
    std::fs::write(dir.join(format!("{name}.pem")), root).unwrap();
    let path = dir.join(format!("notation-{name}.yaml"));
    std::fs::write(
        &path,
        format!(
            "version: 1\nsigners:\n  vendor:\n    notation:\n      trust-store: [{name}.pem]\n      identities: [\"{identity}\"]\nrules:\n  - images: [\"{host}/kit/**\"]\n    signers: [vendor]\n"
        ),
    )
    .unwrap();
    load_policy(Some(&path), None).unwrap()
}

#[test]
fn notation_envelopes_verify_through_kit_are_locked_and_verify_again_offline() {
    let Some(mut s) = setup() else { return };
    let f = s.f;
    let Some(n) = notation_fixtures(f) else { return };
    let host = s.registry.addr.clone();
    s.push_image("kit/notation");
    let jws = referrer(NOTATION, MEDIA_TYPE_JWS, &n.jws, &f.index);
    let jws_digest = s.push_referrer("kit/notation", &jws, &n.jws);
    let cose = referrer(NOTATION, MEDIA_TYPE_COSE, &n.cose, &f.index);
    let cose_digest = s.push_referrer("kit/notation", &cose, &n.cose);
    s.tag_index("kit/notation", &[entry(&jws, Some(NOTATION)), entry(&cose, Some(NOTATION))]);

    // The finder returns both envelopes with their media types.
    let (cache_dir, cache) = new_cache();
    let written = format!("{host}/kit/notation:1");
    let reference: Reference = written.parse().unwrap();
    let amd64 = Platform::linux("amd64");
    let resolved =
        ensure_image(&cache, Some(&s.client), &reference, &amd64, PullPolicy::IfMissing).unwrap();
    let image = ImageToVerify::new(&written, &reference, &resolved);
    assert_eq!(image.media_type, OCI_INDEX);
    assert_eq!(image.size, f.index.size);
    // (The finder caches what it finds: a cache of its own keeps `cache` without referrers.)
    let (_finder_dir, finder_cache) = new_cache();
    let finder = RegistryFinder { registry: &s.client, cache: &finder_cache };
    let lookup = Lookup { cosign: false, referrers: true, pinned: None };
    let found = finder.find(&image, &lookup).unwrap();
    let mut listed: Vec<(String, String, bool)> = found
        .referrers
        .iter()
        .map(|r| {
            assert_eq!(r.kind, ReferrerKind::Notation);
            let bytes_match = r.bytes == n.jws || r.bytes == n.cose;
            (r.manifest.digest.to_string(), r.layer.media_type.clone(), bytes_match)
        })
        .collect();
    listed.sort();
    let mut expected = vec![
        (jws_digest.clone(), MEDIA_TYPE_JWS.to_owned(), true),
        (cose_digest.clone(), MEDIA_TYPE_COSE.to_owned(), true),
    ];
    expected.sort();
    assert_eq!(listed, expected);

    // Accepted: the policy trusts the generated root for the leaf's subject.
    let dir = s.policy_dir.path().to_owned();
    let policy = notation_policy(&dir, &host, "root", &n.root_pem, NOTATION_SIGNER);
    let sources = SignatureSources::new(&[], &cache, Some(&s.client), PullPolicy::IfMissing);
    let verified = verify_image(&policy, &image, &sources, None, n.now).unwrap();
    let record = &verified.record;
    assert_eq!(record.digest.to_string(), f.index.digest);
    assert_eq!(record.signature_manifest, None, "no cosign manifest verified it");
    assert_eq!(record.signers.len(), 1, "{record:?}");
    let signer = &record.signers[0];
    assert_eq!(signer.name, "vendor");
    assert!(signer.description.starts_with("notation "), "{}", signer.description);
    assert!(signer.description.contains("CN=kit test signer"), "{}", signer.description);
    assert!(signer.key_id.is_none() && signer.tlog_entry.is_none());
    // The signature digest is the envelope's, carried by the referrer the record names.
    let referrer_digest = signer.referrer.as_ref().map(ToString::to_string).unwrap();
    let envelope_of = |digest: &str| if digest == jws_digest { &n.jws } else { &n.cose };
    assert!(referrer_digest == jws_digest || referrer_digest == cose_digest, "{referrer_digest}");
    assert_eq!(signer.signature, sha256(envelope_of(&referrer_digest)));
    let pinned: Vec<String> = record.referrers.iter().map(|r| r.digest.to_string()).collect();
    assert!(pinned.contains(&referrer_digest), "{pinned:?}");
    let explained = verified.explain();
    assert!(explained.contains("signed by vendor (notation "), "{explained}");
    assert!(explained.contains(&format!("referrer {referrer_digest}")), "{explained}");
    assert!(explained.contains(&format!("(signatures from registry {host})")), "{explained}");
    assert_eq!(verified.verdict.satisfied_by[0].name, "vendor");

    // Refused: the policy trusts another root (same name, other key).
    let rogue = notation_policy(&dir, &host, "rogue", &n.rogue_root_pem, NOTATION_SIGNER);
    let err = verify_image(&rogue, &image, &sources, None, n.now).unwrap_err().to_string();
    assert!(err.contains("needs a signature by vendor"), "{err}");
    assert!(
        err.contains("notation signature 0:") && err.contains("notation signature 1:"),
        "{err}"
    );
    assert_eq!(
        err.matches("CN=kit test root,O=kit-test,ST=WA,C=US` is not in the trust store").count(),
        2,
        "{err}"
    );
    assert!(!err.contains("looked in"), "the envelopes were found: {err}");

    // Refused: the right root, but the policy trusts another subject.
    let other = "x509.subject: C=US, ST=WA, O=evil-corp";
    let wrong = notation_policy(&dir, &host, "wrong-identity", &n.root_pem, other);
    let err = verify_image(&wrong, &image, &sources, None, n.now).unwrap_err().to_string();
    assert!(err.contains("needs a signature by vendor"), "{err}");
    assert!(err.contains("matches none of the trusted identities"), "{err}");
    assert!(err.contains("O=evil-corp"), "{err}");

    // Refused: a replay. Both envelopes (signed for the fixture index) are attached as
    // referrers of another image, found there, and refused for the digest they name.
    let other_dir = tempfile::tempdir().unwrap();
    let other_layout = other_dir.path().join("image");
    let a = write_image(&other_layout, "amd64", &[&[("etc/motd", b"another image\n")]]);
    let other_index = write_index(&other_layout, &[("amd64", &a)]);
    tag_layout(&other_layout, "t", &other_index);
    s.registry.push(&other_layout, "t", "kit/notation-replay", "1");
    let replay_jws = referrer(NOTATION, MEDIA_TYPE_JWS, &n.jws, &other_index);
    s.push_referrer("kit/notation-replay", &replay_jws, &n.jws);
    let replay_cose = referrer(NOTATION, MEDIA_TYPE_COSE, &n.cose, &other_index);
    s.push_referrer("kit/notation-replay", &replay_cose, &n.cose);
    let tagged =
        index_of(&[entry(&replay_jws, Some(NOTATION)), entry(&replay_cose, Some(NOTATION))]);
    s.registry.put_manifest(
        "kit/notation-replay",
        &tag_of(&other_index.digest),
        OCI_INDEX,
        &tagged,
    );
    let (_replay_dir, replay_cache) = new_cache();
    let (_, _, result) = s.verify_at(&host, "kit/notation-replay", &replay_cache, &policy, n.now);
    let err = result.unwrap_err().to_string();
    assert!(err.contains("needs a signature by vendor"), "{err}");
    assert!(!err.contains("looked in"), "the envelopes were found: {err}");
    let replayed = format!(
        "payload targetArtifact.digest is {}, expected {}",
        f.index.digest, other_index.digest
    );
    assert_eq!(err.matches(&replayed).count(), 2, "{err}");

    // Locked: the record round-trips through a lockfile.
    let mut lock = Lockfile::default();
    lock.insert(&written, &written, &resolved);
    lock.record_verification(&written, record);
    let lock_dir = tempfile::tempdir().unwrap();
    let lock_path = lock_dir.path().join("kit.lock");
    lock.write(&lock_path).unwrap();
    let text = std::fs::read_to_string(&lock_path).unwrap();
    assert!(text.contains(&format!("\"referrer\": \"{referrer_digest}\"")), "{text}");
    let lock = Lockfile::read(&lock_path).unwrap();
    let locked = lock.get(&written, &amd64).unwrap().1.verified_by.clone().unwrap();
    assert_eq!(&locked, record);

    // `--locked` offline: the registry is gone; the cache alone verifies the image again, after
    // a `kit cache prune` (the referrers index kit stored is a root: its manifests and envelope
    // blobs are kept).
    s.registry.stop();
    cache.prune().unwrap();
    let pinned = resolve_locked(&cache, None, &lock, &written, &amd64).unwrap();
    assert_eq!(pinned.root_digest().to_string(), f.index.digest);
    let image = ImageToVerify::new(&written, &reference, &pinned);
    let offline = SignatureSources::new(&[], &cache, None, PullPolicy::Never);
    let again = verify_image(&policy, &image, &offline, Some(&locked), n.now).unwrap();
    assert_eq!(again.record, locked);
    assert!(again.signatures_from.as_deref().unwrap().starts_with("cache"), "{again:?}");
    // Offline under the rogue root the cached envelopes are refused as well.
    let err = verify_image(&rogue, &image, &offline, Some(&locked), n.now).unwrap_err();
    assert!(err.to_string().contains("needs a signature by vendor"), "{err}");
    drop(cache_dir);
}

/// Pushes a cosign `.sig` manifest (a `cosign-<case>.json` from make-bundle.mjs: the manifest
/// as a string and the payload in base64) for the fixture index to `repo`; returns its digest.
fn push_sig(s: &Setup, repo: &str, layer: &Value) -> String {
    use base64::Engine as _;
    let manifest = layer["manifest"].as_str().unwrap().as_bytes();
    let payload = base64::engine::general_purpose::STANDARD
        .decode(layer["payload"].as_str().unwrap())
        .unwrap();
    s.registry.push_blob(repo, b"{}");
    s.registry.push_blob(repo, &payload);
    let tag = format!("{}.sig", tag_of(&s.f.index.digest));
    s.registry.put_manifest(repo, &tag, OCI_MANIFEST, manifest)
}

#[test]
fn keyless_cosign_sig_layers_verify_from_the_registry() {
    let Some(s) = setup() else { return };
    let f = s.f;
    let host = s.registry.addr.clone();
    s.push_image("kit/keyless");
    let sig_digest = push_sig(&s, "kit/keyless", &f.cosign_good);
    let payload_digest = {
        use base64::Engine as _;
        let payload = base64::engine::general_purpose::STANDARD
            .decode(f.cosign_good["payload"].as_str().unwrap())
            .unwrap();
        let claimed: Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(claimed["critical"]["image"]["docker-manifest-digest"], f.index.digest.as_str());
        sha256(&payload)
    };
    let policy = s.keyless_policy(&host);
    let (_dir, cache) = new_cache();
    let (_, _, verified) = s.verify(&host, "kit/keyless", &cache, &policy);
    let verified = verified.unwrap();
    let record = &verified.record;
    assert_eq!(record.digest.to_string(), f.index.digest);
    assert_eq!(
        record.signature_manifest.as_ref().map(|m| m.digest.to_string()),
        Some(sig_digest.clone())
    );
    assert!(record.referrers.is_empty(), "{record:?}");
    assert_eq!(record.signers.len(), 1);
    let signer = &record.signers[0];
    assert_eq!(signer.name, "ci");
    assert!(signer.description.contains(&f.identity), "{}", signer.description);
    assert!(signer.description.contains(&f.issuer), "{}", signer.description);
    assert_eq!(signer.signature, payload_digest, "the payload blob's digest");
    assert!(signer.tlog_entry.is_some(), "keyless signatures carry their Rekor entry");
    assert_eq!(signer.referrer, None);
    let explained = verified.explain();
    assert!(explained.contains("signed by ci ("), "{explained}");
    assert!(explained.contains(&format!("(signatures from registry {host})")), "{explained}");

    // Refused: the policy expects another subject.
    let dir = s.policy_dir.path();
    let path = dir.join("keyless-other-subject.yaml");
    let evil = "https://github.com/example/app/.github/workflows/evil.yml@refs/heads/main";
    std::fs::write(
        &path,
        format!(
            "version: 1\nsigners:\n  ci:\n    keyless:\n      issuer: {}\n      subject: {evil}\n      trusted-root: trusted_root.json\nrules:\n  - images: [\"{host}/kit/**\"]\n    signers: [ci]\n",
            f.issuer
        ),
    )
    .unwrap();
    let other_subject = load_policy(Some(&path), None).unwrap();
    let (_dir, cache) = new_cache();
    let (_, _, result) = s.verify(&host, "kit/keyless", &cache, &other_subject);
    let err = result.unwrap_err().to_string();
    assert!(err.contains("needs a signature by ci"), "{err}");
    assert!(err.contains("layer 0:"), "{err}");
    assert!(err.contains(&f.identity), "names the identity found: {err}");

    // Refused: a layer Fulcio issued to another workflow, under the right policy.
    s.push_image("kit/keyless-wrong");
    push_sig(&s, "kit/keyless-wrong", &f.cosign_wrong_identity);
    let (_dir, cache) = new_cache();
    let (_, _, result) = s.verify(&host, "kit/keyless-wrong", &cache, &policy);
    let err = result.unwrap_err().to_string();
    assert!(err.contains("needs a signature by ci"), "{err}");
    assert!(err.contains("layer 0:"), "{err}");
    assert!(err.contains("https://github.com/evil/app/"), "names the identity found: {err}");
}

/// Copies the fixture image into a new layout directory.
fn copy_layout(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.join("blobs/sha256")).unwrap();
    for name in ["index.json", "oci-layout"] {
        std::fs::copy(from.join(name), to.join(name)).unwrap();
    }
    for blob in std::fs::read_dir(from.join("blobs/sha256")).unwrap() {
        let blob = blob.unwrap();
        std::fs::copy(blob.path(), to.join("blobs/sha256").join(blob.file_name())).unwrap();
    }
}

fn write_blob(layout: &Path, bytes: &[u8]) {
    std::fs::write(blob_path(layout, &sha256(bytes)), bytes).unwrap();
}

/// Appends an entry to the layout's `index.json`, named or not.
fn add_entry(layout: &Path, mut d: Value, name: Option<&str>) {
    let path = layout.join("index.json");
    let mut index: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    if let Some(name) = name {
        d["annotations"] = json!({"org.opencontainers.image.ref.name": name});
    }
    index["manifests"].as_array_mut().unwrap().push(d);
    std::fs::write(&path, serde_json::to_vec(&index).unwrap()).unwrap();
}

#[test]
fn layouts_and_archives_carry_bundle_referrers() {
    let Some(f) = fixtures() else { return };
    let policy_dir = tempfile::tempdir().unwrap();
    std::fs::write(policy_dir.path().join("trusted_root.json"), &f.trusted_root).unwrap();
    let path = policy_dir.path().join("p.yaml");
    std::fs::write(
        &path,
        format!(
            "version: 1\nsigners:\n  ci:\n    keyless:\n      issuer: {}\n      subject: {}\n      trusted-root: trusted_root.json\nrules:\n  - images: [\"docker.io/example/**\"]\n    signers: [ci]\n",
            f.issuer, f.identity
        ),
    )
    .unwrap();
    let policy = load_policy(Some(&path), None).unwrap();
    let written = "example/app:1";
    let reference: Reference = written.parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let good = referrer(BUNDLE, BUNDLE, &f.good, &f.index);

    // oras style: the referrer is an unnamed entry of index.json.
    let oras = dir.path().join("oras");
    copy_layout(&f.layout, &oras);
    add_entry(
        &oras,
        json!({"mediaType": OCI_INDEX, "digest": f.index.digest, "size": f.index.size}),
        Some(written),
    );
    for blob in [&b"{}"[..], &f.good, &good] {
        write_blob(&oras, blob);
    }
    add_entry(&oras, entry(&good, Some(BUNDLE)), None);
    // Referrers tag schema: the index named by the short tag `sha256-<hex>`.
    let tagged = dir.path().join("tagged");
    copy_layout(&oras, &tagged);
    let index = index_of(&[entry(&good, None)]);
    write_blob(&tagged, &index);
    let tagged_index: Value =
        serde_json::from_slice(&std::fs::read(tagged.join("index.json")).unwrap()).unwrap();
    let mut without_unnamed = tagged_index.clone();
    without_unnamed["manifests"].as_array_mut().unwrap().retain(|d| d.get("annotations").is_some());
    std::fs::write(tagged.join("index.json"), serde_json::to_vec(&without_unnamed).unwrap())
        .unwrap();
    add_entry(&tagged, descriptor(OCI_INDEX, &index), Some(&tag_of(&f.index.digest)));

    for layout_dir in [&oras, &tagged] {
        let layout = OciLayout::open(layout_dir).unwrap();
        let resolved = layout.resolve(written, &Platform::linux("amd64")).unwrap();
        let image = ImageToVerify::new(written, &reference, &resolved);
        let label = format!("OCI layout {}", layout_dir.display());
        let finder = LayoutFinder { layout: &layout, label: &label };
        let verified = verify_image(&policy, &image, &finder, None, NOW)
            .unwrap_or_else(|e| panic!("{}: {e}", layout_dir.display()));
        assert_eq!(verified.record.referrers[0].digest.to_string(), sha256(&good));
        assert_eq!(verified.signatures_from.as_deref(), Some(label.as_str()));
        // The same bundle does not sign another digest found under the same name.
        let other = Digest::sha256(b"another image");
        let moved = ImageToVerify { digest: &other, ..image };
        let err = verify_image(&policy, &moved, &finder, None, NOW).unwrap_err().to_string();
        assert!(err.contains("no signature found"), "{err}");
    }

    // The tagged layout as an OCI archive (`--source x.tar`), searched in place.
    let tar_path = dir.path().join("tagged.tar");
    let mut builder = tar::Builder::new(std::fs::File::create(&tar_path).unwrap());
    builder.append_dir_all(".", &tagged).unwrap();
    builder.into_inner().unwrap();
    let archive = ArchiveSource::open(&tar_path).unwrap();
    let resolved = archive.resolve(written, &Platform::linux("amd64")).unwrap();
    let image = ImageToVerify::new(written, &reference, &resolved);
    let label = archive.location();
    let finder = ArchiveFinder { archive: &archive, label: &label };
    let verified = verify_image(&policy, &image, &finder, None, NOW).unwrap();
    assert_eq!(verified.signatures_from.as_deref(), Some(label.as_str()));
    // Through the build's sources: archives after layouts, then the (empty) cache.
    let (_cache_dir, cache) = new_cache();
    let sources =
        SignatureSources::new(&[], &cache, None, PullPolicy::Never).with_archives(&[&archive]);
    let verified = verify_image(&policy, &image, &sources, None, NOW).unwrap();
    assert_eq!(verified.signatures_from.as_deref(), Some(label.as_str()));
}

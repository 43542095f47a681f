//! Signature verification end to end: keys and cosign-format signatures made by `openssl` at
//! test time, pushed next to the images in a real `docker-registry` (or written into OCI
//! layouts), found, verified, recorded in the lockfile and verified again offline.

#[path = "support/registry.rs"]
mod registry;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use base64::Engine as _;
use kit::cache::Cache;
use kit::digest::Digest;
use kit::fetch::{
    Anonymous, ClientOptions, NoProgress, PullPolicy, Registry, RetryPolicy, ensure_image,
};
use kit::lock::{Lockfile, resolve_locked};
use kit::oci::{ImageSource, OciLayout, Platform};
use kit::reference::Reference;
use kit::verify::{
    ImageToVerify, LayoutFinder, SignatureSources, Verified, VerifyError, load_policy, verify_image,
};
use registry::{
    Blob, Mode, Registry as TestRegistry, require_tools, tag_layout, write_blob, write_image,
    write_index,
};
use sha2::Digest as _;
use signing::UnixTime;

const NOW: UnixTime = UnixTime(1_750_000_000);

/// An ECDSA P-256 key pair made by openssl.
struct Key {
    _dir: tempfile::TempDir,
    private: PathBuf,
    public_pem: Vec<u8>,
}

fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl").args(args).output().expect("openssl runs");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn new_key() -> Key {
    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("key.pem");
    let p = private.to_str().unwrap();
    openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", p]);
    let public_pem = openssl(&["pkey", "-in", p, "-pubout"]);
    Key { _dir: dir, private, public_pem }
}

impl Key {
    /// `sha256:<hex>` of the DER public key, as openssl encodes it: the key id kit records.
    fn key_id(&self) -> String {
        let der =
            openssl(&["pkey", "-in", self.private.to_str().unwrap(), "-pubout", "-outform", "DER"]);
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(der)))
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("payload");
        std::fs::write(&file, message).unwrap();
        openssl(&[
            "dgst",
            "-sha256",
            "-sign",
            self.private.to_str().unwrap(),
            file.to_str().unwrap(),
        ])
    }
}

/// The simple-signing payload exactly as cosign writes it.
fn payload(docker_reference: &str, digest: &str) -> Vec<u8> {
    format!(
        "{{\"critical\":{{\"identity\":{{\"docker-reference\":\"{docker_reference}\"}},\"image\":{{\"docker-manifest-digest\":\"{digest}\"}},\"type\":\"cosign container image signature\"}},\"optional\":null}}"
    )
    .into_bytes()
}

/// Writes a cosign signature manifest with one layer per (payload, signature) into `layout`.
fn write_signature_manifest(layout: &Path, signatures: &[(Vec<u8>, Vec<u8>)]) -> Blob {
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    for (payload, signature) in signatures {
        let blob = write_blob(layout, "application/vnd.dev.cosign.simplesigning.v1+json", payload);
        diff_ids.push(blob.digest.clone());
        layers.push(serde_json::json!({
            "mediaType": blob.media_type,
            "size": blob.size,
            "digest": blob.digest,
            "annotations": {
                "dev.cosignproject.cosign/signature":
                    base64::engine::general_purpose::STANDARD.encode(signature),
            },
        }));
    }
    let config = serde_json::json!({
        "architecture": "", "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"}], "os": "",
        "rootfs": {"type": "layers", "diff_ids": diff_ids}, "config": {},
    });
    let config = write_blob(
        layout,
        "application/vnd.oci.image.config.v1+json",
        &serde_json::to_vec(&config).unwrap(),
    );
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": config.media_type, "size": config.size, "digest": config.digest},
        "layers": layers,
    });
    write_blob(
        layout,
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::to_vec(&manifest).unwrap(),
    )
}

/// Adds `name → blob` to the layout's `index.json` (creating the layout files if needed).
fn add_ref(layout: &Path, name: &str, blob: &Blob) {
    let index_path = layout.join("index.json");
    let mut index: serde_json::Value = match std::fs::read(&index_path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap(),
        Err(_) => serde_json::json!({"schemaVersion": 2, "manifests": []}),
    };
    index["manifests"].as_array_mut().unwrap().push(serde_json::json!({
        "mediaType": blob.media_type, "digest": blob.digest, "size": blob.size,
        "annotations": {"org.opencontainers.image.ref.name": name},
    }));
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    std::fs::write(layout.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

/// The cosign tag of a digest.
fn sig_tag(digest: &str) -> String {
    format!("{}.sig", digest.replacen(':', "-", 1))
}

/// Pushes a signature manifest for `digest` to `repo` (tag `sha256-<hex>.sig`), as cosign does.
fn push_signatures(
    registry: &TestRegistry,
    repo: &str,
    digest: &str,
    sigs: &[(Vec<u8>, Vec<u8>)],
) -> Blob {
    let layout = tempfile::tempdir().unwrap();
    let manifest = write_signature_manifest(layout.path(), sigs);
    let tag = sig_tag(digest);
    tag_layout(layout.path(), &tag, &manifest);
    registry.push(layout.path(), &tag, repo, &tag);
    manifest
}

/// Pushes a two-platform image to `repo:tag`; returns its index digest.
fn push_image(registry: &TestRegistry, repo: &str, tag: &str, marker: &[u8]) -> String {
    let layout = tempfile::tempdir().unwrap();
    let amd = write_image(layout.path(), "amd64", &[&[("marker", marker)]]);
    let arm = write_image(layout.path(), "arm64", &[&[("marker", marker)]]);
    let index = write_index(layout.path(), &[("amd64", &amd), ("arm64", &arm)]);
    tag_layout(layout.path(), "t", &index);
    registry.push(layout.path(), "t", repo, tag);
    index.digest
}

/// Writes `policy.yaml` trusting `key` (stored as `keys/release.pub` beside it) for `pattern`.
fn write_policy(dir: &Path, key: &Key, pattern: &str) -> PathBuf {
    std::fs::create_dir_all(dir.join("keys")).unwrap();
    std::fs::write(dir.join("keys/release.pub"), &key.public_pem).unwrap();
    let path = dir.join("policy.yaml");
    std::fs::write(
        &path,
        format!(
            "version: 1\nsigners:\n  release:\n    cosign-key:\n      path: keys/release.pub\nrules:\n  - images: [\"{pattern}\"]\n    signers: [release]\n"
        ),
    )
    .unwrap();
    path
}

fn client() -> Registry {
    let options = ClientOptions { retry: RetryPolicy::none(), ..ClientOptions::default() };
    Registry::new(options, Arc::new(Anonymous), Arc::new(NoProgress)).unwrap()
}

fn tools() -> bool {
    require_tools(&["openssl"])
}

struct Setup {
    registry: TestRegistry,
    _cache_dir: tempfile::TempDir,
    cache: Cache,
    client: Registry,
    policy_dir: tempfile::TempDir,
    key: Key,
}

fn setup() -> Option<Setup> {
    if !tools() {
        return None;
    }
    let registry = TestRegistry::start(Mode::Http)?;
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();
    Some(Setup {
        registry,
        _cache_dir: cache_dir,
        cache,
        client: client(),
        policy_dir: tempfile::tempdir().unwrap(),
        key: new_key(),
    })
}

impl Setup {
    fn pattern(&self) -> String {
        format!("{}/kit/**", self.registry.addr)
    }

    fn policy(&self) -> signing::Policy {
        let path = write_policy(self.policy_dir.path(), &self.key, &self.pattern());
        load_policy(Some(&path), None).unwrap()
    }

    /// Pulls `repo:tag` and verifies it with signatures from the registry.
    fn pull_and_verify(
        &self,
        repo: &str,
        tag: &str,
        policy: &signing::Policy,
    ) -> (String, kit::oci::ResolvedImage, Result<Verified, VerifyError>) {
        let written = format!("{}/{repo}:{tag}", self.registry.addr);
        let reference: Reference = written.parse().unwrap();
        let resolved = ensure_image(
            &self.cache,
            Some(&self.client),
            &reference,
            &Platform::linux("amd64"),
            PullPolicy::IfMissing,
        )
        .unwrap();
        let sources =
            SignatureSources::new(&[], &self.cache, Some(&self.client), PullPolicy::IfMissing);
        let image = ImageToVerify::new(&written, &reference, &resolved);
        let result = verify_image(policy, &image, &sources, None, NOW);
        (written, resolved, result)
    }
}

#[test]
fn signed_image_is_verified_recorded_and_rechecked_offline() {
    let Some(mut s) = setup() else { return };
    let digest = push_image(&s.registry, "kit/signed", "1", b"signed");
    let reference_name = format!("{}/kit/signed", s.registry.addr);
    let sig_payload = payload(&reference_name, &digest);
    let sig = s.key.sign(&sig_payload);
    let sig_manifest =
        push_signatures(&s.registry, "kit/signed", &digest, &[(sig_payload.clone(), sig)]);
    let policy = s.policy();

    let (written, resolved, verified) = s.pull_and_verify("kit/signed", "1", &policy);
    let verified = verified.unwrap();
    assert_eq!(resolved.root_digest().to_string(), digest, "the index digest is verified");
    let signer = &verified.verdict.satisfied_by[0];
    assert_eq!(signer.name, "release");
    assert_eq!(verified.record.signers[0].key_id.as_deref(), Some(s.key.key_id().as_str()));
    let payload_digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&sig_payload)));
    assert_eq!(verified.record.signers[0].signature, payload_digest);
    assert_eq!(
        verified.record.signature_manifest.as_ref().unwrap().digest.to_string(),
        sig_manifest.digest
    );
    assert!(verified.signatures_from.as_deref().unwrap().starts_with("registry"), "{verified:?}");
    let explained = verified.explain();
    assert!(explained.contains(&format!("{written}@{digest}: rule")), "{explained}");
    assert!(explained.contains("signed by release"), "{explained}");

    // The signatures are in the cache under the expanded signature tag.
    let cached =
        s.cache.lookup(&format!("{reference_name}:{}", sig_tag(&digest))).unwrap().unwrap();
    assert_eq!(cached.digest.to_string(), sig_manifest.digest);

    // Recorded in the lockfile, read back.
    let mut lock = Lockfile::default();
    lock.insert(&written, &written, &resolved);
    assert_eq!(lock.record_verification(&written, &verified.record), 1);
    let lock_dir = tempfile::tempdir().unwrap();
    let lock_path = lock_dir.path().join("kit.lock");
    lock.write(&lock_path).unwrap();
    let text = std::fs::read_to_string(&lock_path).unwrap();
    assert!(text.contains("\"verifiedBy\": {"), "{text}");
    assert!(text.contains(&payload_digest), "{text}");
    let lock = Lockfile::read(&lock_path).unwrap();
    let amd64 = Platform::linux("amd64");
    let record = lock.get(&written, &amd64).unwrap().1.verified_by.clone().unwrap();
    assert_eq!(record, verified.record);

    // --locked with the registry stopped: image and signatures come from the cache.
    s.registry.stop();
    let offline = resolve_locked(&s.cache, None, &lock, &written, &amd64).unwrap();
    let reference: Reference = written.parse().unwrap();
    let image = ImageToVerify::new(&written, &reference, &offline);
    let sources = SignatureSources::new(&[], &s.cache, None, PullPolicy::Never);
    let again = verify_image(&policy, &image, &sources, Some(&record), NOW).unwrap();
    assert_eq!(again.record, record);
    assert!(again.signatures_from.as_deref().unwrap().starts_with("cache"), "{again:?}");

    // The same locked build under a policy trusting another key is refused, offline.
    let other_dir = tempfile::tempdir().unwrap();
    let other =
        load_policy(Some(&write_policy(other_dir.path(), &new_key(), &s.pattern())), None).unwrap();
    let err = verify_image(&other, &image, &sources, Some(&record), NOW).unwrap_err().to_string();
    assert!(err.contains(&format!("{written}: rule {}", s.pattern())), "{err}");
    assert!(err.contains("signature does not verify with key"), "{err}");
}

#[test]
fn unsigned_other_key_and_replayed_signatures_are_refused() {
    let Some(s) = setup() else { return };
    let policy = s.policy();

    // Unsigned: the refusal names the tag it looked for and where.
    let unsigned = push_image(&s.registry, "kit/unsigned", "1", b"unsigned");
    let (written, _, result) = s.pull_and_verify("kit/unsigned", "1", &policy);
    let err = result.unwrap_err().to_string();
    assert!(err.starts_with(&format!("{written}: rule ")), "{err}");
    assert!(
        err.contains(&format!(
            "no signature found: expected a cosign signature manifest tagged {}",
            sig_tag(&unsigned)
        )),
        "{err}"
    );
    assert!(err.contains("looked in"), "{err}");

    // No policy at all: refused with the hint, without looking for signatures.
    let none = load_policy(None, None).unwrap();
    let (_, _, result) = s.pull_and_verify("kit/unsigned", "1", &none);
    let err = result.unwrap_err().to_string();
    assert!(err.contains("pass --policy FILE"), "{err}");

    // Signed by a key the policy does not trust.
    let other = push_image(&s.registry, "kit/other", "1", b"other");
    let stranger = new_key();
    let p = payload(&format!("{}/kit/other", s.registry.addr), &other);
    let sig = stranger.sign(&p);
    push_signatures(&s.registry, "kit/other", &other, &[(p, sig)]);
    let (_, _, result) = s.pull_and_verify("kit/other", "1", &policy);
    let err = result.unwrap_err().to_string();
    assert!(err.contains("needs a signature by release"), "{err}");
    assert!(err.contains("signature does not verify with key"), "{err}");

    // A valid signature by the trusted key, but of another digest, copied to this image's tag.
    let victim = push_image(&s.registry, "kit/replay", "1", b"replay");
    let p = payload(&format!("{}/kit/unsigned", s.registry.addr), &unsigned);
    let sig = s.key.sign(&p);
    push_signatures(&s.registry, "kit/replay", &victim, &[(p, sig)]);
    let (_, _, result) = s.pull_and_verify("kit/replay", "1", &policy);
    let err = result.unwrap_err().to_string();
    assert!(
        err.contains(&format!("payload signs digest {unsigned}, expected the pinned {victim}")),
        "{err}"
    );
}

#[test]
fn tag_moved_after_locking_is_refused_by_locked() {
    let Some(s) = setup() else { return };
    let policy = s.policy();
    let first = push_image(&s.registry, "kit/moving", "1", b"first");
    let p = payload(&format!("{}/kit/moving", s.registry.addr), &first);
    let sig = s.key.sign(&p);
    push_signatures(&s.registry, "kit/moving", &first, &[(p, sig)]);
    let (written, resolved, verified) = s.pull_and_verify("kit/moving", "1", &policy);
    let verified = verified.unwrap();
    let mut lock = Lockfile::default();
    lock.insert(&written, &written, &resolved);
    lock.record_verification(&written, &verified.record);
    let amd64 = Platform::linux("amd64");
    let record = lock.get(&written, &amd64).unwrap().1.verified_by.clone().unwrap();

    // The tag moves to another image, signed with a key the attacker holds.
    let second = push_image(&s.registry, "kit/moving", "1", b"second");
    let attacker = new_key();
    let p = payload(&format!("{}/kit/moving", s.registry.addr), &second);
    let sig = attacker.sign(&p);
    push_signatures(&s.registry, "kit/moving", &second, &[(p, sig)]);
    // ...and replaces the first image's signatures with its own.
    let p = payload(&format!("{}/kit/moving", s.registry.addr), &first);
    let sig = attacker.sign(&p);
    push_signatures(&s.registry, "kit/moving", &first, &[(p, sig)]);

    let reference: Reference = written.parse().unwrap();
    let fresh =
        ensure_image(&s.cache, Some(&s.client), &reference, &amd64, PullPolicy::Always).unwrap();
    assert_eq!(fresh.root_digest().to_string(), second);
    let err = lock.check(&written, &fresh).unwrap_err().to_string();
    assert!(err.contains("index digest differs from the lockfile"), "{err}");
    let sources = SignatureSources::new(&[], &s.cache, Some(&s.client), PullPolicy::Always);
    let moved = ImageToVerify::new(&written, &reference, &fresh);
    let err = verify_image(&policy, &moved, &sources, Some(&record), NOW).unwrap_err().to_string();
    assert!(
        err.contains(&format!(
            "resolved to {second}, but the lockfile's verifiedBy is for {first}"
        )),
        "{err}"
    );

    // The locked build, cold cache: the pinned image and the pinned signature manifest are
    // fetched by digest, so the replaced `.sig` tag changes nothing.
    let cold_dir = tempfile::tempdir().unwrap();
    let cold = Cache::open(cold_dir.path()).unwrap();
    let pinned = resolve_locked(&cold, Some(&s.client), &lock, &written, &amd64).unwrap();
    assert_eq!(pinned.root_digest().to_string(), first);
    let image = ImageToVerify::new(&written, &reference, &pinned);
    let sources = SignatureSources::new(&[], &cold, Some(&s.client), PullPolicy::Always);
    let again = verify_image(&policy, &image, &sources, Some(&record), NOW).unwrap();
    assert_eq!(again.record, record);
    // Without the lock's pin, the current (attacker's) signatures are refused.
    let err = verify_image(&policy, &image, &sources, None, NOW).unwrap_err().to_string();
    assert!(err.contains("signature does not verify with key"), "{err}");

    // A locked build that cannot find the recorded signature manifest is refused.
    let empty_dir = tempfile::tempdir().unwrap();
    let empty = Cache::open(empty_dir.path()).unwrap();
    let sources = SignatureSources::new(&[], &empty, None, PullPolicy::Never);
    let err = verify_image(&policy, &image, &sources, Some(&record), NOW).unwrap_err().to_string();
    assert!(err.contains("recorded in the lockfile is not in cache"), "{err}");
}

#[test]
fn signatures_in_a_local_layout_verify_offline() {
    if !tools() {
        return;
    }
    let key = new_key();
    let stranger = new_key();
    let dir = tempfile::tempdir().unwrap();
    let layout_dir = dir.path().join("layout");
    let amd = write_image(&layout_dir, "amd64", &[&[("etc/motd", b"local\n")]]);
    let arm = write_image(&layout_dir, "arm64", &[&[("etc/motd", b"local\n")]]);
    let index = write_index(&layout_dir, &[("amd64", &amd), ("arm64", &arm)]);
    add_ref(&layout_dir, "example/init:dev", &index);
    // The short tag form, as `skopeo copy … oci:DIR:sha256-<hex>.sig` writes it.
    let p = payload("docker.io/example/init", &index.digest);
    let sig = key.sign(&p);
    let short = write_signature_manifest(&layout_dir, &[(p, sig)]);
    add_ref(&layout_dir, &sig_tag(&index.digest), &short);

    let policy_dir = tempfile::tempdir().unwrap();
    let policy =
        load_policy(Some(&write_policy(policy_dir.path(), &key, "docker.io/example/*")), None)
            .unwrap();
    let layout = OciLayout::open(&layout_dir).unwrap();
    let resolved = layout.resolve("example/init:dev", &Platform::linux("arm64")).unwrap();
    assert_eq!(resolved.root_digest().to_string(), index.digest);
    let written = "example/init:dev";
    let reference: Reference = written.parse().unwrap();
    let image = ImageToVerify::new(written, &reference, &resolved);
    let label = format!("OCI layout {}", layout_dir.display());
    let finder = LayoutFinder { layout: &layout, label: &label };
    let verified = verify_image(&policy, &image, &finder, None, NOW).unwrap();
    assert_eq!(verified.signatures_from.as_deref(), Some(label.as_str()));
    assert_eq!(
        verified.record.signature_manifest.as_ref().unwrap().digest.to_string(),
        short.digest
    );

    // The fully expanded name wins over the short tag: here it holds a stranger's signature.
    let p = payload("docker.io/example/init", &index.digest);
    let sig = stranger.sign(&p);
    let full = write_signature_manifest(&layout_dir, &[(p, sig)]);
    add_ref(&layout_dir, &format!("docker.io/example/init:{}", sig_tag(&index.digest)), &full);
    let err = verify_image(&policy, &image, &finder, None, NOW).unwrap_err().to_string();
    assert!(err.contains("signature does not verify with key"), "{err}");

    // Through the build's sources (layouts first, an empty cache, no registry): same answer,
    // and an image with no signature anywhere is refused naming every place searched.
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();
    let sources =
        SignatureSources::new(std::slice::from_ref(&layout), &cache, None, PullPolicy::Never);
    let err = verify_image(&policy, &image, &sources, None, NOW).unwrap_err().to_string();
    assert!(err.contains("signature does not verify with key"), "{err}");
    let lone = write_image(&layout_dir, "amd64", &[&[("etc/motd", b"unsigned\n")]]);
    add_ref(&layout_dir, "example/lone:1", &lone);
    let lone_digest: Digest = lone.digest.parse().unwrap();
    let lone_ref: Reference = "example/lone:1".parse().unwrap();
    let image = ImageToVerify {
        digest: &lone_digest,
        ..ImageToVerify::new("example/lone:1", &lone_ref, &resolved)
    };
    let err = verify_image(&policy, &image, &sources, None, NOW).unwrap_err().to_string();
    assert!(err.contains("no signature found"), "{err}");
    assert!(
        err.contains(&format!("looked in {label}, then cache {}", cache_dir.path().display())),
        "{err}"
    );
}

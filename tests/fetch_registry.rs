//! Pulling from a real `docker-registry` on 127.0.0.1: tags, digests, indexes, auth, TLS,
//! corrupted and interrupted transfers, concurrent pulls sharing a cache.

#[path = "support/registry.rs"]
mod registry;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kit::cache::Cache;
use kit::fetch::{
    Anonymous, ClientOptions, Credential, CredentialProvider, NoProgress, Registry, RetryPolicy,
    StaticCredentials,
};
use kit::oci::Platform;
use kit::reference::Reference;
use registry::{
    CutProxy, Mode, Registry as TestRegistry, noise, tag_layout, write_image, write_index,
};

fn fast_retry(attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts: attempts,
        initial_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        max_total_delay: Duration::from_secs(2),
    }
}

fn client_with(options: ClientOptions, credentials: Arc<dyn CredentialProvider>) -> Registry {
    Registry::new(options, credentials, Arc::new(NoProgress)).expect("registry client")
}

fn client() -> Registry {
    client_with(
        ClientOptions { retry: fast_retry(3), ..ClientOptions::default() },
        Arc::new(Anonymous),
    )
}

fn reference(text: &str) -> Reference {
    text.parse().expect("reference")
}

fn amd64() -> Platform {
    Platform::linux("amd64")
}

/// Every file under `dir` with its size, for "unchanged" checks (lock files excluded).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if !path.file_name().unwrap().to_string_lossy().ends_with(".lock") {
                out.insert(
                    path.strip_prefix(dir).unwrap().to_owned(),
                    std::fs::read(&path).unwrap(),
                );
            }
        }
    }
    out
}

/// A single-platform image with two layers pushed as `repo:tag`; returns the manifest digest.
fn push_simple(registry: &TestRegistry, repo: &str, tag: &str, payload: &[u8]) -> String {
    let layout = tempfile::tempdir().unwrap();
    let manifest = write_image(
        layout.path(),
        "amd64",
        &[&[("etc/hostname", b"kit\n")], &[("data/payload.bin", payload)]],
    );
    tag_layout(layout.path(), "t", &manifest);
    registry.push(layout.path(), "t", repo, tag);
    manifest.digest
}

#[test]
fn tag_and_digest_pulls() {
    let Some(registry) = TestRegistry::start(Mode::Http) else { return };
    let payload = noise(300_000, 1);
    let digest = push_simple(&registry, "kit/simple", "1", &payload);
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();
    let client = client();

    let by_tag = reference(&format!("{}/kit/simple:1", registry.addr));
    let pulled = client.pull(&cache, &by_tag, &[amd64()]).unwrap();
    assert_eq!(pulled.root.digest.to_string(), digest, "tag resolves to the pushed manifest");
    let image = &pulled.platforms[0];
    assert_eq!(image.layers().len(), 2);
    for layer in image.layers() {
        let mut reader = cache.layout().read_blob(&layer.digest, Some(layer.size)).unwrap();
        std::io::copy(&mut reader, &mut std::io::sink()).expect("cached layer verifies");
    }
    assert_eq!(cache.lookup(&by_tag.to_string()).unwrap().unwrap().digest.to_string(), digest);
    let head = client.head(&by_tag).unwrap().expect("HEAD gives a digest");
    assert_eq!(head.digest.to_string(), digest);

    let by_digest = reference(&format!("{}/kit/simple@{digest}", registry.addr));
    let pulled = client.pull(&cache, &by_digest, &[amd64()]).unwrap();
    assert_eq!(pulled.root.digest.to_string(), digest);
    let names: Vec<String> = cache.list().unwrap().into_iter().map(|e| e.name).collect();
    // Sorted by name: ':' sorts before '@'.
    assert_eq!(names, [by_tag.to_string(), by_digest.to_string()]);
}

#[test]
fn multi_arch_index_and_missing_platform() {
    let Some(registry) = TestRegistry::start(Mode::Http) else { return };
    let layout = tempfile::tempdir().unwrap();
    let amd = write_image(layout.path(), "amd64", &[&[("arch", b"amd64\n")]]);
    let arm = write_image(layout.path(), "arm64", &[&[("arch", b"arm64\n")]]);
    let index = write_index(layout.path(), &[("amd64", &amd), ("arm64", &arm)]);
    tag_layout(layout.path(), "multi", &index);
    registry.push(layout.path(), "multi", "kit/multi", "2");

    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();
    let client = client();
    let image = reference(&format!("{}/kit/multi:2", registry.addr));
    let pulled = client.pull(&cache, &image, &[amd64(), Platform::linux("arm64")]).unwrap();
    assert_eq!(pulled.root.digest.to_string(), index.digest);
    assert_eq!(pulled.platforms[0].manifest_digest().to_string(), amd.digest);
    assert_eq!(pulled.platforms[1].manifest_digest().to_string(), arm.digest);
    assert_eq!(
        pulled.platforms[0].index_digest().map(|d| d.to_string()),
        Some(index.digest.clone())
    );

    let before = snapshot(cache_dir.path());
    let err = client.pull(&cache, &image, &[Platform::linux("riscv64")]).unwrap_err().to_string();
    assert!(err.contains("linux/riscv64"), "{err}");
    assert!(
        err.contains("linux/amd64") && err.contains("linux/arm64"),
        "lists available platforms: {err}"
    );
    assert_eq!(before, snapshot(cache_dir.path()), "a failed pull leaves the cache unchanged");
}

#[test]
fn missing_tag_is_a_clear_error() {
    let Some(registry) = TestRegistry::start(Mode::Http) else { return };
    push_simple(&registry, "kit/simple", "1", b"x");
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();
    let image = reference(&format!("{}/kit/simple:nope", registry.addr));
    let err = client().pull(&cache, &image, &[amd64()]).unwrap_err().to_string();
    assert!(err.contains(&image.to_string()) && err.contains("not found"), "{err}");
    let missing_repo = reference(&format!("{}/kit/absent:1", registry.addr));
    let err = client().pull(&cache, &missing_repo, &[amd64()]).unwrap_err().to_string();
    assert!(err.contains("not found"), "{err}");
}

#[test]
fn basic_auth_right_and_wrong_credentials() {
    let mode = Mode::Htpasswd { user: "kit".into(), password: "s3cret".into() };
    let Some(registry) = TestRegistry::start(mode) else { return };
    let digest = push_simple(&registry, "kit/private", "1", b"secret payload");
    let image = reference(&format!("{}/kit/private:1", registry.addr));
    let creds = |password: &str| -> Arc<dyn CredentialProvider> {
        let mut c = StaticCredentials::default();
        c.by_registry.insert(
            registry.addr.clone(),
            Credential::Basic { username: "kit".into(), password: password.into() },
        );
        Arc::new(c)
    };
    let options = || ClientOptions { retry: fast_retry(2), ..ClientOptions::default() };
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();

    let err = client_with(options(), creds("wrong"))
        .pull(&cache, &image, &[amd64()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("refused access") && err.contains(&registry.addr), "{err}");
    let err = client_with(options(), Arc::new(Anonymous))
        .pull(&cache, &image, &[amd64()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("no credentials"), "{err}");
    assert!(cache.list().unwrap().is_empty());

    let pulled = client_with(options(), creds("s3cret")).pull(&cache, &image, &[amd64()]).unwrap();
    assert_eq!(pulled.root.digest.to_string(), digest);
}

#[test]
fn tls_with_a_test_ca() {
    let Some(registry) = TestRegistry::start(Mode::Tls) else { return };
    let digest = push_simple(&registry, "kit/tls", "1", b"over tls");
    let image = reference(&format!("{}/kit/tls:1", registry.addr));
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();

    // Without the CA, the certificate is refused, and loopback's HTTP fallback cannot help.
    let err = client().pull(&cache, &image, &[amd64()]).unwrap_err().to_string();
    assert!(err.contains("certificate"), "{err}");

    let options = ClientOptions {
        ca_files: vec![registry.ca_cert.clone().unwrap()],
        retry: fast_retry(2),
        ..ClientOptions::default()
    };
    let pulled =
        client_with(options, Arc::new(Anonymous)).pull(&cache, &image, &[amd64()]).unwrap();
    assert_eq!(pulled.root.digest.to_string(), digest);
}

#[test]
fn altered_blob_in_registry_storage_fails_and_leaves_cache_unchanged() {
    let Some(registry) = TestRegistry::start(Mode::Http) else { return };
    let payload = noise(200_000, 7);
    push_simple(&registry, "kit/simple", "1", &payload);
    let layout = tempfile::tempdir().unwrap();
    let manifest_bytes = {
        // Recompute which layer holds the payload: the second layer of the pushed manifest.
        let cache_dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(cache_dir.path()).unwrap();
        let pulled = client()
            .pull(&cache, &reference(&format!("{}/kit/simple:1", registry.addr)), &[amd64()])
            .unwrap();
        pulled.platforms[0].layers()[1].clone()
    };
    drop(layout);
    let data = registry.blob_data_path(&manifest_bytes.digest.to_string());
    let mut bytes = std::fs::read(&data).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&data, &bytes).unwrap();

    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();
    let before = snapshot(cache_dir.path());
    let image = reference(&format!("{}/kit/simple:1", registry.addr));
    let err = client().pull(&cache, &image, &[amd64()]).unwrap_err().to_string();
    assert!(err.contains("digest mismatch"), "{err}");
    assert!(
        err.contains(&image.to_string()) && err.contains(&manifest_bytes.digest.to_string()),
        "{err}"
    );
    assert_eq!(before, snapshot(cache_dir.path()), "nothing from the failed pull is in the cache");
}

#[test]
fn connection_cut_mid_blob_then_next_run_succeeds() {
    let Some(registry) = TestRegistry::start(Mode::Http) else { return };
    let payload = noise(2_000_000, 3);
    let digest = push_simple(&registry, "kit/big", "1", &payload);
    // Cut every connection after 200 KiB of responses: manifests pass, the big layer never does.
    let proxy = CutProxy::start(&registry.addr, 200 * 1024);
    let image = reference(&format!("{}/kit/big:1", proxy.addr));
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();
    let before = snapshot(cache_dir.path());

    let err = client().pull(&cache, &image, &[amd64()]).unwrap_err().to_string();
    assert!(err.contains("gave up after 3 attempt(s)"), "{err}");
    assert!(
        err.contains(&image.to_string()) && err.contains("blob sha256:"),
        "names image and blob: {err}"
    );
    assert!(proxy.cuts.load(std::sync::atomic::Ordering::SeqCst) >= 3);
    assert_eq!(before, snapshot(cache_dir.path()), "no partial file is left in the cache");

    proxy.cutting.store(false, std::sync::atomic::Ordering::SeqCst);
    let pulled = client().pull(&cache, &image, &[amd64()]).unwrap();
    assert_eq!(pulled.root.digest.to_string(), digest);
}

#[test]
fn one_cut_is_retried_transparently() {
    let Some(registry) = TestRegistry::start(Mode::Http) else { return };
    let payload = noise(1_000_000, 5);
    let digest = push_simple(&registry, "kit/big", "1", &payload);
    let proxy = CutProxy::start(&registry.addr, 100 * 1024);
    let image = reference(&format!("{}/kit/big:1", proxy.addr));
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();
    // Stop cutting as soon as one connection has been cut, from another thread.
    let (cutting, cuts) = (proxy.cutting.clone(), proxy.cuts.clone());
    let watcher = std::thread::spawn(move || {
        while cuts.load(std::sync::atomic::Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        cutting.store(false, std::sync::atomic::Ordering::SeqCst);
    });
    let options = ClientOptions {
        retry: RetryPolicy { initial_delay: Duration::from_millis(100), ..fast_retry(5) },
        ..ClientOptions::default()
    };
    let pulled =
        client_with(options, Arc::new(Anonymous)).pull(&cache, &image, &[amd64()]).unwrap();
    watcher.join().unwrap();
    assert_eq!(pulled.root.digest.to_string(), digest);
}

#[test]
fn concurrent_pulls_share_a_cache() {
    let Some(registry) = TestRegistry::start(Mode::Http) else { return };
    let a = push_simple(&registry, "kit/a", "1", &noise(500_000, 11));
    let b = push_simple(&registry, "kit/b", "1", &noise(500_000, 12));
    let cache_dir = tempfile::tempdir().unwrap();
    let addr = registry.addr.clone();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let dir = cache_dir.path().to_owned();
            let addr = addr.clone();
            std::thread::spawn(move || {
                let cache = Cache::open(&dir).unwrap();
                let repo = if i % 2 == 0 { "kit/a" } else { "kit/b" };
                client()
                    .pull(&cache, &reference(&format!("{addr}/{repo}:1")), &[amd64()])
                    .unwrap()
                    .root
                    .digest
            })
        })
        .collect();
    let digests: Vec<String> = handles.into_iter().map(|h| h.join().unwrap().to_string()).collect();
    assert_eq!(digests, [a.clone(), b.clone(), a.clone(), b.clone()]);
    let cache = Cache::open(cache_dir.path()).unwrap();
    let listed: Vec<(String, String)> =
        cache.list().unwrap().into_iter().map(|e| (e.name, e.digest.to_string())).collect();
    assert_eq!(listed, [(format!("{addr}/kit/a:1"), a), (format!("{addr}/kit/b:1"), b)]);
    let report = cache.prune().unwrap();
    assert!(report.blobs.is_empty() && report.temp_files == 0, "nothing stray: {report:?}");
}

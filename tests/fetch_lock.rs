//! `kit lock` and `kit build --locked` against a real registry, including with it stopped.

#[path = "support/registry.rs"]
mod registry;

use std::sync::Arc;

use kit::cache::Cache;
use kit::fetch::{
    Anonymous, ClientOptions, NoProgress, PullPolicy, Registry, RetryPolicy, ensure_image,
};
use kit::lock::{Lockfile, resolve_locked};
use kit::oci::Platform;
use kit::reference::Reference;
use registry::{Mode, Registry as TestRegistry, tag_layout, write_image, write_index};

fn client() -> Registry {
    let options = ClientOptions { retry: RetryPolicy::none(), ..ClientOptions::default() };
    Registry::new(options, Arc::new(Anonymous), Arc::new(NoProgress)).unwrap()
}

fn push_multi(registry: &TestRegistry, tag: &str, marker: &[u8]) -> String {
    let layout = tempfile::tempdir().unwrap();
    let amd =
        write_image(layout.path(), "amd64", &[&[("marker", marker)], &[("etc/os", b"kit\n")]]);
    let arm = write_image(layout.path(), "arm64", &[&[("marker", marker)]]);
    let index = write_index(layout.path(), &[("amd64", &amd), ("arm64", &arm)]);
    tag_layout(layout.path(), "t", &index);
    registry.push(layout.path(), "t", "kit/locked", tag);
    index.digest
}

#[test]
fn locked_resolution_needs_no_network_with_a_warm_cache() {
    let Some(mut registry) = TestRegistry::start(Mode::Http) else { return };
    let index_digest = push_multi(&registry, "1", b"first");
    let written = format!("{}/kit/locked:1", registry.addr);
    let reference: Reference = written.parse().unwrap();
    let amd64 = Platform::linux("amd64");
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();
    let client = client();

    // kit lock
    let resolved =
        ensure_image(&cache, Some(&client), &reference, &amd64, PullPolicy::IfMissing).unwrap();
    let mut lock = Lockfile::default();
    lock.insert(&written, &reference.to_string(), &resolved);
    let lock_dir = tempfile::tempdir().unwrap();
    let lock_path = lock_dir.path().join("kit.lock");
    lock.write(&lock_path).unwrap();
    let lock = Lockfile::read(&lock_path).unwrap();
    assert_eq!(lock.images[&written].index.as_ref().unwrap().digest.to_string(), index_digest);

    // kit build --locked, registry stopped: everything comes from the cache.
    registry.stop();
    let again = resolve_locked(&cache, Some(&client), &lock, &written, &amd64).unwrap();
    assert_eq!(again.manifest_digest(), resolved.manifest_digest());
    let offline = resolve_locked(&cache, None, &lock, &written, &amd64).unwrap();
    assert_eq!(offline.config_digest(), resolved.config_digest());

    // An image or platform that is not locked is refused before any network use.
    let err = resolve_locked(&cache, Some(&client), &lock, "alpine:3.20", &amd64)
        .unwrap_err()
        .to_string();
    assert!(err.contains("alpine:3.20: not in the lockfile"), "{err}");
    let err = resolve_locked(&cache, None, &lock, &written, &Platform::linux("arm64"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("not in the lockfile for linux/arm64"), "{err}");

    // With the registry stopped and a cold cache, the locked build fails cleanly.
    let cold_dir = tempfile::tempdir().unwrap();
    let cold = Cache::open(cold_dir.path()).unwrap();
    let err =
        resolve_locked(&cold, Some(&client), &lock, &written, &amd64).unwrap_err().to_string();
    assert!(err.contains("gave up after 1 attempt"), "{err}");

    // The tag moves: the lock still pins the old image (fetched by digest into a cold cache),
    // and resolving the tag afresh no longer matches the lock.
    registry.restart();
    push_multi(&registry, "1", b"second");
    let pinned = resolve_locked(&cold, Some(&client), &lock, &written, &amd64).unwrap();
    assert_eq!(pinned.manifest_digest(), resolved.manifest_digest());
    let fresh = ensure_image(&cold, Some(&client), &reference, &amd64, PullPolicy::Always).unwrap();
    let err = lock.check(&written, &fresh).unwrap_err().to_string();
    assert!(err.contains("index digest differs from the lockfile"), "{err}");
}

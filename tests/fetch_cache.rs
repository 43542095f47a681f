//! The cache without a registry: import of LinuxKit-style OCI tarballs, export, rm, prune.

#[path = "support/registry.rs"]
mod registry;

use std::io::Write;
use std::path::Path;

use kit::cache::Cache;
use kit::fetch::{PullPolicy, ensure_image};
use kit::oci::Platform;
use kit::reference::Reference;
use registry::{noise, tag_layout, write_image, write_index};

/// A tar of a layout directory with entries exactly as `linuxkit cache export` writes them:
/// `oci-layout`, `index.json`, `blobs/sha256/<hex>`.
fn tar_layout(dir: &Path, gzip: bool) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for name in ["oci-layout", "index.json"] {
        builder.append_path_with_name(dir.join(name), name).unwrap();
    }
    let mut blobs: Vec<_> =
        std::fs::read_dir(dir.join("blobs/sha256")).unwrap().map(|e| e.unwrap().path()).collect();
    blobs.sort();
    for blob in blobs {
        let name = format!("blobs/sha256/{}", blob.file_name().unwrap().to_string_lossy());
        builder.append_path_with_name(&blob, name).unwrap();
    }
    let bytes = builder.into_inner().unwrap();
    if !gzip {
        return bytes;
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&bytes).unwrap();
    gz.finish().unwrap()
}

/// A layout naming an index `docker.io/lkfix/multi:1` and a single image sharing its base layer.
fn make_layout(dir: &Path) -> (String, String) {
    let base: &[(&str, &[u8])] = &[("etc/issue", b"kit\n")];
    let amd = write_image(dir, "amd64", &[base, &[("bin/tool", &noise(50_000, 1))]]);
    let arm = write_image(dir, "arm64", &[base]);
    let index = write_index(dir, &[("amd64", &amd), ("arm64", &arm)]);
    let solo = write_image(dir, "amd64", &[base, &[("solo", b"solo")]]);
    tag_layout(dir, "docker.io/lkfix/multi:1", &index);
    // Add the second name to index.json.
    let mut value: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    value["manifests"].as_array_mut().unwrap().push(serde_json::json!({
        "mediaType": solo.media_type, "digest": solo.digest, "size": solo.size,
        "annotations": {"org.opencontainers.image.ref.name": "docker.io/lkfix/solo:1"},
    }));
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&value).unwrap()).unwrap();
    (index.digest, solo.digest)
}

fn names(cache: &Cache) -> Vec<(String, String)> {
    cache.list().unwrap().into_iter().map(|e| (e.name, e.digest.to_string())).collect()
}

#[test]
fn import_linuxkit_export_tarball_then_build_offline() {
    let layout = tempfile::tempdir().unwrap();
    let (index, solo) = make_layout(layout.path());
    for gzip in [false, true] {
        let work = tempfile::tempdir().unwrap();
        let tarball = work.path().join("export.tar");
        std::fs::write(&tarball, tar_layout(layout.path(), gzip)).unwrap();
        let cache = Cache::open(work.path().join("cache")).unwrap();
        let report = cache.import(&tarball).unwrap();
        assert_eq!(report.names.len(), 2);
        let expected = vec![
            ("docker.io/lkfix/multi:1".to_owned(), index.clone()),
            ("docker.io/lkfix/solo:1".to_owned(), solo.clone()),
        ];
        assert_eq!(names(&cache), expected);
        let reference: Reference = "lkfix/multi:1".parse().unwrap();
        let resolved =
            ensure_image(&cache, None, &reference, &Platform::linux("amd64"), PullPolicy::Never)
                .unwrap();
        assert_eq!(resolved.index_digest().unwrap().to_string(), index);
        assert_eq!(resolved.layers().len(), 2);

        // Export and import into a fresh cache: the same names and digests.
        let mut exported = Vec::new();
        cache
            .export(&["docker.io/lkfix/multi:1", "docker.io/lkfix/solo:1"], &mut exported)
            .unwrap();
        let again_path = work.path().join("again.tar");
        std::fs::write(&again_path, &exported).unwrap();
        let other = Cache::open(work.path().join("other")).unwrap();
        other.import(&again_path).unwrap();
        assert_eq!(names(&other), expected);
        let mut exported_again = Vec::new();
        other
            .export(&["docker.io/lkfix/multi:1", "docker.io/lkfix/solo:1"], &mut exported_again)
            .unwrap();
        assert_eq!(exported, exported_again, "export is deterministic");
    }
    // A directory imports too.
    let work = tempfile::tempdir().unwrap();
    let cache = Cache::open(work.path()).unwrap();
    cache.import(layout.path()).unwrap();
    assert_eq!(names(&cache).len(), 2);
}

#[test]
fn corrupt_import_is_refused_and_leaves_the_cache_unchanged() {
    let layout = tempfile::tempdir().unwrap();
    make_layout(layout.path());
    let mut blobs: Vec<_> = std::fs::read_dir(layout.path().join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    blobs.sort();
    let victim = blobs.iter().max_by_key(|p| std::fs::metadata(p).unwrap().len()).unwrap();
    let mut bytes = std::fs::read(victim).unwrap();
    bytes[100] ^= 1;
    std::fs::write(victim, bytes).unwrap();
    let work = tempfile::tempdir().unwrap();
    let tarball = work.path().join("bad.tar");
    std::fs::write(&tarball, tar_layout(layout.path(), false)).unwrap();
    let cache = Cache::open(work.path().join("cache")).unwrap();
    let err = cache.import(&tarball).unwrap_err().to_string();
    assert!(err.contains("digest mismatch") && err.contains("bad.tar"), "{err}");
    assert!(cache.list().unwrap().is_empty());
    let leftovers: Vec<_> =
        std::fs::read_dir(work.path().join("cache/blobs/sha256")).unwrap().collect();
    assert!(leftovers.is_empty(), "no temporary or partial blob remains");
    let err =
        Cache::open(work.path().join("c2")).unwrap().import(layout.path()).unwrap_err().to_string();
    assert!(err.contains("digest mismatch"), "{err}");
}

#[test]
fn rm_keeps_shared_blobs_and_prune_sweeps() {
    let layout = tempfile::tempdir().unwrap();
    make_layout(layout.path());
    let work = tempfile::tempdir().unwrap();
    let cache = Cache::open(work.path()).unwrap();
    cache.import(layout.path()).unwrap();
    let report = cache.remove(&["docker.io/lkfix/multi:1"]).unwrap();
    assert_eq!(report.names, ["docker.io/lkfix/multi:1"]);
    // index, 2 manifests, 2 configs and the amd64-only tool layer; the shared base layer stays.
    assert_eq!(report.blobs.len(), 6, "{report:?}");
    let solo: Reference = "lkfix/solo:1".parse().unwrap();
    let resolved =
        ensure_image(&cache, None, &solo, &Platform::linux("amd64"), PullPolicy::Never).unwrap();
    for layer in resolved.layers() {
        let mut reader = cache.layout().read_blob(&layer.digest, Some(layer.size)).unwrap();
        std::io::copy(&mut reader, &mut std::io::sink()).unwrap();
    }
    let err = cache.remove(&["docker.io/lkfix/nope:1"]).unwrap_err().to_string();
    assert!(err.contains("nope:1") && err.contains("docker.io/lkfix/solo:1"), "{err}");

    // A stray blob and a stale temporary file are pruned; named images are not touched.
    std::fs::write(work.path().join("blobs/sha256/.tmp-stale"), b"partial").unwrap();
    let stray = noise(10, 9);
    let stray_digest = kit::digest::Digest::sha256(&stray);
    cache.put_blob(&stray_digest, &stray).unwrap();
    let report = cache.prune().unwrap();
    assert_eq!((report.blobs, report.temp_files), (vec![stray_digest], 1));
    assert_eq!(names(&cache).len(), 1);
    assert!(cache.prune().unwrap().blobs.is_empty());
}

/// The `diff_ids` of the image manifest `digest` of the layout at `dir`.
fn diff_ids_of(dir: &Path, digest: &str) -> Vec<String> {
    let read = |digest: &str| -> serde_json::Value {
        let path = dir.join("blobs/sha256").join(digest.trim_start_matches("sha256:"));
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    let manifest = read(digest);
    let config = read(manifest["config"]["digest"].as_str().unwrap());
    config["rootfs"]["diff_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn rm_and_prune_delete_layer_files_whose_layer_blob_is_gone() {
    let layout = tempfile::tempdir().unwrap();
    let (index_digest, solo_digest) = make_layout(layout.path());
    let work = tempfile::tempdir().unwrap();
    let cache = Cache::open(work.path()).unwrap();
    cache.import(layout.path()).unwrap();
    let index: serde_json::Value = serde_json::from_slice(
        &std::fs::read(layout.path().join("blobs/sha256").join(&index_digest[7..])).unwrap(),
    )
    .unwrap();
    let amd = index["manifests"][0]["digest"].as_str().unwrap();
    let amd_ids = diff_ids_of(layout.path(), amd); // [base, tool]
    let solo_ids = diff_ids_of(layout.path(), &solo_digest); // [base, solo]
    assert_eq!(amd_ids[0], solo_ids[0], "the base layer is shared");

    let dir = cache.layer_files_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let file = |diff_id: &str| dir.join(format!("{}.tar", &diff_id[7..]));
    for diff_id in [&amd_ids[0], &amd_ids[1], &solo_ids[1]] {
        std::fs::write(file(diff_id), b"0123456789").unwrap();
    }
    let stray = format!("sha256:{}", "ab".repeat(32));
    std::fs::write(file(&stray), b"stray").unwrap();
    std::fs::write(dir.join("notes.txt"), b"not a layer file").unwrap();

    // rm: the tool layer's blob is deleted, so is its layer file; the stray file has no layer.
    let report = cache.remove(&["docker.io/lkfix/multi:1"]).unwrap();
    assert_eq!(report.layer_files, 2, "{report:?}");
    assert!(!file(&amd_ids[1]).exists() && !file(&stray).exists());
    assert!(file(&amd_ids[0]).exists() && file(&solo_ids[1]).exists());
    let blob_bytes: u64 = report
        .blobs
        .iter()
        .map(|d| {
            let path = layout.path().join("blobs/sha256").join(d.hex());
            std::fs::metadata(path).unwrap().len()
        })
        .sum();
    assert_eq!(report.bytes, blob_bytes + 10 + 5, "layer file bytes are counted: {report:?}");

    // prune: nothing left to delete while solo names its layers.
    let report = cache.prune().unwrap();
    assert_eq!((report.layer_files, report.bytes), (0, 0), "{report:?}");

    // A deleted layer blob (corruption, a manual rm) also releases its layer file.
    let solo_manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(layout.path().join("blobs/sha256").join(&solo_digest[7..])).unwrap(),
    )
    .unwrap();
    let solo_layer = solo_manifest["layers"][1]["digest"].as_str().unwrap();
    std::fs::remove_file(work.path().join("blobs/sha256").join(&solo_layer[7..])).unwrap();
    let report = cache.prune().unwrap();
    assert_eq!((report.layer_files, report.bytes), (1, 10), "{report:?}");
    assert!(!file(&solo_ids[1]).exists() && file(&solo_ids[0]).exists());
    assert!(dir.join("notes.txt").exists());

    let report = cache.remove(&["docker.io/lkfix/solo:1"]).unwrap();
    assert_eq!(report.layer_files, 1, "{report:?}");
    assert!(!file(&solo_ids[0]).exists());
}

#[test]
fn rm_removes_the_signatures_kit_stored_for_the_image() {
    let layout = tempfile::tempdir().unwrap();
    let (index, solo) = make_layout(layout.path());
    // Signature entries as kit's finders store them: a cosign `.sig` manifest and a referrers
    // index under the image's repository, tagged after its digest (stand-in documents here).
    let sig = write_image(layout.path(), "amd64", &[&[("payload", b"sig")]]);
    let referrers = write_image(layout.path(), "amd64", &[&[("payload", b"bundle")]]);
    let work = tempfile::tempdir().unwrap();
    let cache = Cache::open(work.path()).unwrap();
    cache.import(layout.path()).unwrap();
    // The stand-ins' blobs too (import copies only what the layout's index names).
    for entry in std::fs::read_dir(layout.path().join("blobs/sha256")).unwrap() {
        let path = entry.unwrap().path();
        let digest = format!("sha256:{}", path.file_name().unwrap().to_str().unwrap());
        cache.put_blob(&digest.parse().unwrap(), &std::fs::read(&path).unwrap()).unwrap();
    }
    let descriptor = |blob: &registry::Blob| kit::oci::Descriptor {
        media_type: blob.media_type.clone(),
        digest: blob.digest.parse().unwrap(),
        size: blob.size,
        urls: Vec::new(),
        annotations: Default::default(),
        platform: None,
        artifact_type: None,
    };
    let tag = |digest: &str| digest.replacen(':', "-", 1);
    let multi_sig = format!("docker.io/lkfix/multi:{}.sig", tag(&index));
    let multi_referrers = format!("docker.io/lkfix/multi:{}", tag(&index));
    let solo_sig = format!("docker.io/lkfix/solo:{}.sig", tag(&solo));
    for name in [&multi_sig, &multi_referrers] {
        cache.add_ref(name, &descriptor(&sig)).unwrap();
    }
    cache.add_ref(&solo_sig, &descriptor(&referrers)).unwrap();
    // A second name of the same image keeps its signatures.
    cache
        .add_ref("docker.io/lkfix/solo:latest", &descriptor_of(&cache, "docker.io/lkfix/solo:1"))
        .unwrap();

    let report = cache.remove(&["docker.io/lkfix/multi:1"]).unwrap();
    let mut removed = report.names.clone();
    removed.sort();
    let mut expected = vec!["docker.io/lkfix/multi:1".to_owned(), multi_sig, multi_referrers];
    expected.sort();
    assert_eq!(removed, expected);
    assert!(
        report.blobs.iter().any(|d| d.to_string() == sig.digest),
        "the signature manifest is deleted: {report:?}"
    );

    let report = cache.remove(&["docker.io/lkfix/solo:1"]).unwrap();
    assert_eq!(report.names, ["docker.io/lkfix/solo:1"], "solo:latest still names the image");
    let mut left: Vec<String> = names(&cache).into_iter().map(|(n, _)| n).collect();
    left.sort();
    assert_eq!(left, ["docker.io/lkfix/solo:latest", solo_sig.as_str()]);
    let mut report = cache.remove(&["docker.io/lkfix/solo:latest"]).unwrap();
    report.names.sort();
    assert_eq!(report.names, ["docker.io/lkfix/solo:latest", solo_sig.as_str()]);
    assert!(names(&cache).is_empty());
}

fn descriptor_of(cache: &Cache, name: &str) -> kit::oci::Descriptor {
    cache.lookup(name).unwrap().unwrap()
}

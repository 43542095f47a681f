//! Unit tests of the verification stage: policy loading, signature lookup in layouts, and when
//! signatures are looked for at all. Signed end-to-end cases are in `tests/verify_signatures.rs`.

use std::cell::Cell;
use std::path::Path;

use super::*;
use crate::oci::OciLayout;

const NOW: UnixTime = UnixTime(0);
const MT: &str = crate::oci::media_type::OCI_MANIFEST;

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, text).unwrap();
    path
}

const POLICY: &str = "version: 1\nsigners:\n  release:\n    cosign-key:\n      path: keys/release.pub\nrules:\n  - images: [docker.io/example/*]\n    signers: [release]\n  - images: [docker.io/open/*]\n    unsigned: accept\n";

#[test]
fn load_policy_names_the_signer_line_and_resolved_path_of_a_missing_key() {
    let dir = tempfile::tempdir().unwrap();
    let policy = write(dir.path(), "conf/policy.yaml", POLICY);
    let err = load_policy(Some(&policy), None).unwrap_err();
    assert!(err.is_policy_error());
    let text = err.to_string();
    // Line 4, column 5 is the `cosign-key:` that names the file.
    let expected_start = format!("{}:4:5:", policy.display());
    assert!(text.starts_with(&expected_start), "{text}");
    assert!(text.contains("file `keys/release.pub` of signer `release`"), "{text}");
    // Relative to the policy file's directory, not the working directory.
    assert!(
        text.contains(&dir.path().join("conf/keys/release.pub").display().to_string()),
        "{text}"
    );
}

#[test]
fn load_policy_reports_unreadable_and_invalid_policies() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.yaml");
    let err = load_policy(Some(&missing), None).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("{}: cannot read the signature policy", missing.display())),
        "{err}"
    );
    let bad = write(
        dir.path(),
        "bad.yaml",
        "version: 1\nrules:\n  - images: [alpine]\n    unsigned: accept\n",
    );
    let err = load_policy(Some(&bad), None).unwrap_err().to_string();
    assert!(err.starts_with(&format!("{}:3:", bad.display())), "{err}");
    assert!(err.contains("not a registry host"), "{err}");
}

#[test]
fn no_policy_refuses_and_legacy_trust_tightens_unsigned_accept() {
    let policy = load_policy(None, None).unwrap();
    assert!(policy.file().is_none());
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "p.yaml",
        "version: 1\nrules:\n  - images: [docker.io/open/*]\n    unsigned: accept\n",
    );
    let trust = crate::config::Trust { image: None, org: Some(vec!["open".to_owned()]) };
    let policy = load_policy(Some(&path), Some(&trust)).unwrap();
    let reference: Reference = "open/thing:1".parse().unwrap();
    let digest = Digest::sha256(b"x");
    let image = ImageToVerify {
        written: "open/thing:1",
        reference: &reference,
        digest: &digest,
        media_type: MT,
        size: 2,
    };
    let finder = Counting::default();
    let err = verify_image(&policy, &image, &finder, None, NOW).unwrap_err().to_string();
    assert!(err.contains("LinuxKit `trust:` section"), "{err}");
    assert!(!err.contains("looked in"), "{err}");
    assert_eq!(finder.calls.get(), 0);
}

/// A finder that counts calls and never finds anything.
#[derive(Default)]
struct Counting {
    calls: Cell<usize>,
}

impl SignatureFinder for Counting {
    fn location(&self) -> String {
        "nowhere".to_owned()
    }
    fn find(&self, _: &ImageToVerify<'_>, _: &Lookup) -> Result<FoundSignatures, VerifyError> {
        self.calls.set(self.calls.get() + 1);
        Ok(FoundSignatures::default())
    }
}

#[test]
fn signatures_are_looked_for_only_under_a_signed_rule() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "p.yaml",
        "version: 1\nrules:\n  - images: [docker.io/open/*]\n    unsigned: accept\n",
    );
    let policy = load_policy(Some(&path), None).unwrap();
    let digest = Digest::sha256(b"x");
    let check = |name: &str| {
        let reference: Reference = name.parse().unwrap();
        let image = ImageToVerify {
            written: name,
            reference: &reference,
            digest: &digest,
            media_type: MT,
            size: 2,
        };
        let finder = Counting::default();
        let result = verify_image(&policy, &image, &finder, None, NOW);
        (result, finder.calls.get())
    };
    let (accepted, calls) = check("open/a:1");
    let accepted = accepted.unwrap();
    assert_eq!(calls, 0);
    assert!(accepted.record.unsigned && accepted.record.signature_manifest.is_none());
    assert_eq!(accepted.verdict.warnings.len(), 1);
    assert!(accepted.explain().ends_with("accepted unsigned"), "{}", accepted.explain());
    let (refused, calls) = check("other/a:1");
    assert_eq!(calls, 0);
    assert!(refused.unwrap_err().to_string().contains("no rule in"));

    // A locked record for another digest is refused before anything else.
    let locked = VerifiedBy {
        digest: Digest::sha256(b"y"),
        rule: "r".to_owned(),
        unsigned: true,
        signature_manifest: None,
        referrers: Vec::new(),
        signers: Vec::new(),
    };
    let reference: Reference = "open/a:1".parse().unwrap();
    let image = ImageToVerify {
        written: "open/a:1",
        reference: &reference,
        digest: &digest,
        media_type: MT,
        size: 2,
    };
    let err = verify_image(&policy, &image, &Counting::default(), Some(&locked), NOW).unwrap_err();
    assert!(matches!(err, VerifyError::LockedDigest { .. }), "{err}");
}

/// A layout holding one signature manifest named `name`, built from `manifest_json` with
/// `{payload}`, `{size}` replaced; returns the layout and the image digest it signs.
fn layout_with(manifest: &serde_json::Value, name: &str) -> (tempfile::TempDir, OciLayout) {
    let dir = tempfile::tempdir().unwrap();
    let layout = OciLayout::create(dir.path()).unwrap();
    let bytes = serde_json::to_vec(manifest).unwrap();
    let digest = Digest::sha256(&bytes);
    layout.write_blob_bytes(&digest, &bytes).unwrap();
    let media_type = manifest["mediaType"].as_str().unwrap();
    let size = u64::try_from(bytes.len()).unwrap();
    layout.add_ref(name, &crate::oci::Descriptor::new(media_type, digest, size)).unwrap();
    (dir, layout)
}

fn find_in(layout: &OciLayout, digest: &Digest) -> Result<Option<FoundSignatures>, VerifyError> {
    let reference: Reference = "example/app:1".parse().unwrap();
    let image = ImageToVerify {
        written: "example/app:1",
        reference: &reference,
        digest,
        media_type: MT,
        size: 2,
    };
    let lookup = Lookup { cosign: true, referrers: true, pinned: None };
    let found = LayoutFinder { layout, label: "OCI layout test" }.find(&image, &lookup)?;
    Ok((!found.is_empty()).then_some(found))
}

fn sig_manifest(layer_size: u64, layer_digest: &Digest) -> serde_json::Value {
    serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 2,
                   "digest": Digest::sha256(b"{}").to_string()},
        "layers": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
                    "size": layer_size, "digest": layer_digest.to_string(),
                    "annotations": {"dev.cosignproject.cosign/signature": "AA=="}}],
    })
}

#[test]
fn layout_finder_matches_full_and_short_names_and_reads_payloads() {
    let image_digest = Digest::sha256(b"image");
    let tag = format!("sha256-{}.sig", image_digest.hex());
    let payload = b"payload bytes";
    let payload_digest = Digest::sha256(payload);
    for name in [tag.clone(), format!("docker.io/example/app:{tag}"), format!("example/app:{tag}")]
    {
        let (_dir, layout) = layout_with(&sig_manifest(13, &payload_digest), &name);
        layout.write_blob_bytes(&payload_digest, payload).unwrap();
        let found = find_in(&layout, &image_digest).unwrap().unwrap();
        assert_eq!(found.layers.len(), 1, "{name}");
        assert_eq!(found.layers[0].payload, payload);
        assert_eq!(found.location, "OCI layout test");
        // Another digest has no signatures here.
        assert!(find_in(&layout, &Digest::sha256(b"other")).unwrap().is_none());
    }
    // Another repository's full name does not match.
    let (_dir, layout) =
        layout_with(&sig_manifest(13, &payload_digest), &format!("docker.io/example/other:{tag}"));
    assert!(find_in(&layout, &image_digest).unwrap().is_none());
}

#[test]
fn layout_finder_refuses_huge_payloads_indexes_and_missing_blobs() {
    let image_digest = Digest::sha256(b"image");
    let tag = format!("sha256-{}.sig", image_digest.hex());
    let big = Digest::sha256(b"big");
    let (_dir, layout) = layout_with(&sig_manifest(10 * 1024 * 1024, &big), &tag);
    let err = find_in(&layout, &image_digest).unwrap_err().to_string();
    assert!(err.starts_with("example/app:1: signature manifest sha256:"), "{err}");
    assert!(err.contains("layer 0 is 10485760 bytes, more than the 65536 accepted"), "{err}");

    let index = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [],
    });
    let (_dir, layout) = layout_with(&index, &tag);
    let err = find_in(&layout, &image_digest).unwrap_err().to_string();
    assert!(
        err.contains("expected an image manifest, found application/vnd.oci.image.index.v1+json"),
        "{err}"
    );

    let (_dir, layout) = layout_with(&sig_manifest(13, &Digest::sha256(b"absent")), &tag);
    let err = find_in(&layout, &image_digest).unwrap_err().to_string();
    assert!(err.starts_with("example/app:1: reading signatures:"), "{err}");
}

#[test]
fn verified_by_round_trips_through_the_lockfile_format() {
    let record = VerifiedBy {
        digest: Digest::sha256(b"image"),
        rule: "release (docker.io/example/*)".to_owned(),
        unsigned: false,
        signature_manifest: Some(LockedBlob {
            media_type: "application/vnd.oci.image.manifest.v1+json".to_owned(),
            digest: Digest::sha256(b"manifest"),
            size: 556,
        }),
        signers: vec![VerifiedSigner {
            name: "release".to_owned(),
            description: "cosign ECDSA P-256 key sha256:0123456789abcdef".to_owned(),
            key_id: Some(format!("sha256:{}", "ab".repeat(32))),
            signature: Digest::sha256(b"payload").to_string(),
            tlog_entry: None,
            referrer: None,
        }],
        referrers: Vec::new(),
    };
    let json = serde_json::to_string(&record).unwrap();
    for key in [
        "\"digest\"",
        "\"rule\"",
        "\"unsigned\"",
        "\"signatureManifest\"",
        "\"signers\"",
        "\"keyId\"",
        "\"tlogEntry\"",
    ] {
        assert!(json.contains(key), "{key} in {json}");
    }
    let back: VerifiedBy = serde_json::from_str(&json).unwrap();
    assert_eq!(back, record);
    assert_eq!(
        record.to_string(),
        format!("{} by rule release (docker.io/example/*), signed by release", record.digest)
    );
    let unknown = json.replacen("\"rule\"", "\"extra\":1,\"rule\"", 1);
    assert!(serde_json::from_str::<VerifiedBy>(&unknown).is_err());
}

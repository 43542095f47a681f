//! The example images of `cargo xtask fixtures` (`kit.example/*` in `target/kit-fixtures/oci`)
//! verify under the policy it writes (`example-policy.yaml`, trusting `keys/example.pub`), found
//! through the build's signature sources; the oracle's `lkfix` images carry no signature.
//!
//! The fixtures are read from `$KIT_FIXTURES_DIR` (default `target/kit-fixtures`); without them
//! the test is skipped locally and fails when `CI` is set.

use std::path::PathBuf;

use kit::cache::Cache;
use kit::fetch::PullPolicy;
use kit::oci::{ImageSource, OciLayout, Platform};
use kit::reference::Reference;
use kit::verify::{ImageToVerify, SignatureSources, load_policy, verify_image};
use signing::UnixTime;

const NOW: UnixTime = UnixTime(1_750_000_000);

fn fixtures_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("KIT_FIXTURES_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/kit-fixtures"),
    };
    if dir.join("oci/index.json").exists() && dir.join("example-policy.yaml").exists() {
        return Some(dir);
    }
    let message =
        format!("no signed fixture layout at {} (run `cargo xtask fixtures`)", dir.display());
    if std::env::var_os("CI").is_some() {
        panic!("{message}");
    }
    eprintln!("skipping: {message}");
    None
}

#[test]
fn example_images_verify_under_the_generated_policy() {
    let Some(dir) = fixtures_dir() else { return };
    let policy = load_policy(Some(&dir.join("example-policy.yaml")), None).unwrap();
    let layout = OciLayout::open(dir.join("oci")).unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();
    let sources =
        SignatureSources::new(std::slice::from_ref(&layout), &cache, None, PullPolicy::Never);
    let label = format!("OCI layout {}", layout.root().display());

    for written in [
        "kit.example/kernel:6.1",
        "kit.example/init:1",
        "kit.example/runc:1.1",
        "kit.example/busybox:1.35",
    ] {
        let reference: Reference = written.parse().unwrap();
        let resolved = layout.resolve(written, &Platform::linux("amd64")).unwrap();
        let image = ImageToVerify::new(written, &reference, &resolved);
        let verified = verify_image(&policy, &image, &sources, None, NOW)
            .unwrap_or_else(|e| panic!("{written}: {e}"));
        assert_eq!(verified.signatures_from.as_deref(), Some(label.as_str()), "{written}");
        assert_eq!(verified.record.rule, "kit.example/**", "{written}");
        let names: Vec<&str> = verified.record.signers.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["example"], "{written}");

        // The signature is bound to this digest: another digest under the same name is refused.
        let other = kit::digest::Digest::sha256(b"not the image");
        let moved = ImageToVerify { digest: &other, ..image };
        assert!(verify_image(&policy, &moved, &sources, None, NOW).is_err(), "{written}");
    }

    // The oracle's images stay unsigned: no signature manifest for them in the layout.
    let written = "localhost:5000/lkfix/init:1";
    let resolved = layout.resolve(written, &Platform::linux("amd64")).unwrap();
    let sig = format!(
        "localhost:5000/lkfix/init:sha256-{}.sig",
        resolved.root_digest().to_string().trim_start_matches("sha256:")
    );
    assert!(layout.find(&sig).is_err(), "{sig} should not exist");
}

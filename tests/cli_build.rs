//! The `kit` binary end to end on the example system: exit codes, fail-closed verification
//! with nothing left behind, byte-reproducible outputs, the epoch, and lock / `--locked`.
//!
//! Uses the fixture layout of `cargo xtask fixtures` (skipped locally without it, a failure in CI).

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn kit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kit"))
        .args(args)
        .env_remove("SOURCE_DATE_EPOCH")
        .stdin(Stdio::null())
        .output()
        .expect("running kit")
}

fn example() -> String {
    support::workspace_root().join("examples/hello.yml").display().to_string()
}

/// The flags of an offline build of the example from the fixtures into `out`.
fn build_args(fixtures: &Path, out: &Path, cache: &Path) -> Vec<String> {
    vec![
        "build".into(),
        "--offline".into(),
        "--source".into(),
        fixtures.join("oci").display().to_string(),
        "--cache".into(),
        cache.display().to_string(),
        "--policy".into(),
        fixtures.join("example-policy.yaml").display().to_string(),
        "--format".into(),
        "kernel+initrd,tar,tar-kernel-initrd".into(),
        "--dir".into(),
        out.display().to_string(),
    ]
}

fn run_build(args: &[String], extra: &[&str]) -> Output {
    let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
    all.extend_from_slice(extra);
    kit(&all)
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<_> = match fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

#[test]
fn configuration_errors_exit_2_with_file_line_column() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.yml");
    fs::write(
        &config,
        "onboot:\n  - name: x\n    image: busybox\n    capabilites: [CAP_SYS_ADMIN]\n",
    )
    .unwrap();
    let out = kit(&["validate", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.yml:4:5: onboot[0].capabilites: unknown key"),
        "unexpected message: {stderr}"
    );
    let out = kit(&[
        "build",
        "--offline",
        "--dir",
        dir.path().to_str().unwrap(),
        config.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "build must refuse the same configuration");
    assert_eq!(files_in(dir.path()), [config], "a refused build wrote something");
}

#[test]
fn unverified_images_are_refused_and_nothing_is_written() {
    let Some(fixtures) = support::fixtures_dir() else { return };
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    let mut args = build_args(&fixtures, &out, &work.path().join("cache"));
    // No policy: nothing is trusted.
    let policy_at = args.iter().position(|a| a == "--policy").unwrap();
    args.drain(policy_at..policy_at + 2);
    args.push(example());
    let result = run_build(&args, &[]);
    assert_eq!(result.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("no signature policy"), "{stderr}");
    assert!(stderr.contains("examples/hello.yml:"), "the error names the config: {stderr}");
    assert!(files_in(&out).is_empty(), "outputs of a refused build: {:?}", files_in(&out));

    // A policy that trusts another key refuses the example's signatures.
    let other = work.path().join("other");
    fs::create_dir_all(&other).unwrap();
    let Some(openssl) = support::require_tool("openssl") else { return };
    let key = other.join("other.key");
    let ok = Command::new(&openssl)
        .args(["ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(ok.success());
    let ok = Command::new(&openssl)
        .args(["ec", "-pubout", "-in"])
        .arg(&key)
        .arg("-out")
        .arg(other.join("other.pub"))
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    let policy = other.join("policy.yaml");
    fs::write(
        &policy,
        "version: 1\nsigners:\n  other:\n    cosign-key:\n      path: other.pub\nrules:\n  - images: [kit.example/**]\n    signers: [other]\n",
    )
    .unwrap();
    let policy = policy.display().to_string();
    let result = run_build(&args, &["--policy", &policy]);
    assert_eq!(result.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("does not verify"), "{stderr}");
    assert!(files_in(&out).is_empty(), "outputs of a refused build: {:?}", files_in(&out));
}

#[test]
fn outputs_are_reproducible_and_follow_the_epoch() {
    let Some(fixtures) = support::fixtures_dir() else { return };
    let work = tempfile::tempdir().unwrap();
    let mut outputs = Vec::new();
    // Two builds in different directories with different caches, then one with another epoch.
    for (run, epoch) in [("a", "1700000000"), ("b", "1700000000"), ("c", "1800000000")] {
        let out = work.path().join(run);
        let mut args = build_args(&fixtures, &out, &work.path().join(format!("cache-{run}")));
        args.extend(["--epoch".to_owned(), epoch.to_owned(), example()]);
        let result = run_build(&args, &[]);
        assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
        let names: Vec<String> = files_in(&out)
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            ["hello-cmdline", "hello-initrd.img", "hello-initrd.tar", "hello-kernel", "hello.tar"]
        );
        outputs.push(out);
    }
    for name in ["hello-initrd.img", "hello.tar", "hello-initrd.tar", "hello-kernel"] {
        let a = fs::read(outputs[0].join(name)).unwrap();
        let b = fs::read(outputs[1].join(name)).unwrap();
        assert!(a == b, "{name} differs between two builds of the same inputs");
    }
    let tar_a = fs::read(outputs[0].join("hello.tar")).unwrap();
    let tar_c = fs::read(outputs[2].join("hello.tar")).unwrap();
    assert_ne!(tar_a, tar_c, "the epoch does not reach the generated entries");
    // The kernel is the image's bytes, whatever the epoch.
    assert_eq!(
        fs::read(outputs[0].join("hello-kernel")).unwrap(),
        fs::read(outputs[2].join("hello-kernel")).unwrap()
    );
    // The generated bundle files carry the epoch as their mtime.
    let tree = formats::tar::read(fs::File::open(outputs[2].join("hello.tar")).unwrap()).unwrap();
    let config = tree.get(b"containers/onboot/000-hello/config.json").expect("no hello bundle");
    assert_eq!(config.meta.mtime, 1_800_000_000);
}

#[test]
fn lock_then_locked_build() {
    let Some(fixtures) = support::fixtures_dir() else { return };
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let lock = work.path().join("hello.lock");
    let source = fixtures.join("oci").display().to_string();
    let policy = fixtures.join("example-policy.yaml").display().to_string();
    let cache_arg = cache.display().to_string();
    let lock_arg = lock.display().to_string();
    let result = kit(&[
        "lock",
        "--offline",
        "--source",
        &source,
        "--cache",
        &cache_arg,
        "--policy",
        &policy,
        "--lock",
        &lock_arg,
        &example(),
    ]);
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    let locked: serde_json::Value = serde_json::from_slice(&fs::read(&lock).unwrap()).unwrap();
    let images = locked["images"].as_object().unwrap();
    let names: Vec<&String> = images.keys().collect();
    assert_eq!(
        names,
        [
            "kit.example/busybox:1.35",
            "kit.example/init:1",
            "kit.example/kernel:6.1",
            "kit.example/runc:1.1"
        ]
    );
    for (name, image) in images {
        let platform = &image["platforms"]["linux/amd64"];
        assert!(platform["manifest"]["digest"].as_str().unwrap().starts_with("sha256:"), "{name}");
        assert_eq!(platform["verifiedBy"]["rule"], "kit.example/**", "{name}");
    }

    let out = work.path().join("out");
    let mut args = build_args(&fixtures, &out, &cache);
    args.extend(["--locked".to_owned(), "--lock".to_owned(), lock_arg.clone(), example()]);
    let result = run_build(&args, &[]);
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));

    // A lock that pins another digest for the kernel is refused.
    let text = fs::read_to_string(&lock).unwrap();
    let kernel_manifest = images["kit.example/kernel:6.1"]["platforms"]["linux/amd64"]["manifest"]
        ["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let forged = format!("sha256:{}", "0".repeat(64));
    fs::write(&lock, text.replace(&kernel_manifest, &forged)).unwrap();
    let out2 = work.path().join("out2");
    let mut args = build_args(&fixtures, &out2, &cache);
    args.extend(["--locked".to_owned(), "--lock".to_owned(), lock_arg, example()]);
    let result = run_build(&args, &[]);
    assert_eq!(result.status.code(), Some(1), "a lock mismatch must fail the build");
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("kit.example/kernel:6.1"), "{stderr}");
    assert!(files_in(&out2).is_empty());
}

#[test]
fn a_containers_policy_json_is_accepted_as_the_policy() {
    let Some(fixtures) = support::fixtures_dir() else { return };
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    let mut args = build_args(&fixtures, &out, &work.path().join("cache"));
    let policy_at = args.iter().position(|a| a == "--policy").unwrap();
    args.drain(policy_at..policy_at + 2);
    args.push(example());
    let key = fixtures.join("keys/example.pub").display().to_string();
    // Podman's format: reject by default, the example's registry signed by the example key,
    // one repository of it rejected outright.
    let policy = work.path().join("policy.json");
    let write = |json: String| fs::write(&policy, json).unwrap();
    write(format!(
        r#"{{"default": [{{"type": "reject"}}],
 "transports": {{"docker": {{"kit.example": [{{"type": "sigstoreSigned", "keyPath": "{key}"}}]}}}}}}"#
    ));
    let policy_arg = policy.display().to_string();
    let result = run_build(&args, &["--policy", &policy_arg, "--explain", "--progress", "json"]);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("rule scope kit.example (kit.example/**)"), "{stderr}");
    assert!(stderr.contains(&format!("signed by key {key}")), "{stderr}");
    assert!(!files_in(&out).is_empty());
    // `--progress json`: one `verified` event per image, carrying the lockfile's record.
    let verified: Vec<serde_json::Value> = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["state"] == "verified")
        .collect();
    let images: std::collections::BTreeSet<&str> =
        verified.iter().map(|v| v["image"].as_str().unwrap()).collect();
    assert_eq!(
        images.into_iter().collect::<Vec<_>>(),
        [
            "kit.example/busybox:1.35",
            "kit.example/init:1",
            "kit.example/kernel:6.1",
            "kit.example/runc:1.1"
        ],
        "{stderr}"
    );
    for event in &verified {
        let by = &event["verifiedBy"];
        assert_eq!(by["rule"], "scope kit.example (kit.example/**)", "{event}");
        assert_eq!(by["signers"][0]["name"], format!("key {key}"), "{event}");
        assert!(
            by["signatureManifest"]["digest"].as_str().unwrap().starts_with("sha256:"),
            "{event}"
        );
    }

    let rejected = work.path().join("out-rejected");
    let args: Vec<String> = args
        .iter()
        .map(|a| {
            if *a == out.display().to_string() { rejected.display().to_string() } else { a.clone() }
        })
        .collect();
    write(format!(
        r#"{{"default": [{{"type": "reject"}}],
 "transports": {{"docker": {{"kit.example": [{{"type": "sigstoreSigned", "keyPath": "{key}"}}],
                             "kit.example/busybox": [{{"type": "reject"}}]}}}}}}"#
    ));
    let result = run_build(&args, &["--policy", &policy_arg]);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("rule scope kit.example/busybox"), "{stderr}");
    assert!(stderr.contains("the policy rejects these images (rule at"), "{stderr}");
    assert!(
        files_in(&rejected).is_empty(),
        "outputs of a refused build: {:?}",
        files_in(&rejected)
    );

    // A construct kit cannot enforce is a policy error: exit 2, naming the file and line.
    write(
        r#"{"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k.gpg"}]}"#
            .to_owned(),
    );
    let result = run_build(&args, &["--policy", &policy_arg]);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{policy_arg}:1:14: containers-policy.json: scope `default`: `signedBy`"
        )),
        "{stderr}"
    );
}

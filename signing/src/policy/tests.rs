//! Tests of policy parsing, resolution, rule selection and the legacy `trust:` mapping.

use std::collections::BTreeMap;

use expect_test::{Expect, expect};

use super::*;
use crate::testutil::{Kind, have_openssl, key};

/// Parses `yaml` as `policy.yaml` and renders the result: the error, or a summary of the rules.
fn check(yaml: &str, expect: Expect) {
    let actual = match PolicyFile::parse("policy.yaml", yaml) {
        Err(err) => format!("error: {err}"),
        Ok(file) => {
            let mut out = String::new();
            for rule in file.rules() {
                let patterns: Vec<&str> = rule.patterns.iter().map(Pattern::as_str).collect();
                out.push_str(&format!(
                    "rule at {} {:?}: {:?}\n",
                    rule.at, patterns, rule.requirement
                ));
            }
            out.push_str(&format!("files: {:?}", file.files()));
            out
        }
    };
    expect.assert_eq(&actual);
}

const KEY_SIGNER: &str = "signers:\n  release:\n    cosign-key:\n      path: keys/release.pub\n";

#[test]
fn minimal_policy() {
    check(
        &format!(
            "version: 1\n{KEY_SIGNER}rules:\n  - images: [docker.io/linuxkit/*]\n    signers: [release]\n"
        ),
        expect![[r#"
            rule at policy.yaml:7:5 ["docker.io/linuxkit/*"]: Signed { signers: ["release"], threshold: 1, docker_reference: Ignore }
            files: {"keys/release.pub"}"#]],
    );
}

#[test]
fn full_policy() {
    check(
        r#"version: 1
signers:
  a:
    cosign-key: {path: a.pub}
  b:
    cosign-key:
      pem: |
        -----BEGIN PUBLIC KEY-----
        -----END PUBLIC KEY-----
      rsa-scheme: pss
  ci:
    keyless:
      issuer: https://token.actions.githubusercontent.com
      subject-regex: https://github\.com/org/.*
      trusted-root: trusted_root.json
  vendor:
    notation:
      trust-store: [ca.pem]
      identities: ["x509.subject: C=US, O=Vendor", "*"]
rules:
  - name: linuxkit
    images: [docker.io/linuxkit/*, docker.io/linuxkit/**]
    signers: [a, b, ci, vendor]
    threshold: 2
    docker-reference: repository
  - images: [localhost:5000/**]
    unsigned: accept
  - images: ["**"]
    signers: [a]
    docker-reference: {exact: "registry.example/mirror/x"}
"#,
        expect![[r#"
            rule at policy.yaml:21:5 ["docker.io/linuxkit/*", "docker.io/linuxkit/**"]: Signed { signers: ["a", "b", "ci", "vendor"], threshold: 2, docker_reference: Repository }
            rule at policy.yaml:26:5 ["localhost:5000/**"]: UnsignedAccept
            rule at policy.yaml:28:5 ["**"]: Signed { signers: ["a"], threshold: 1, docker_reference: Exact("registry.example/mirror/x") }
            files: {"a.pub", "ca.pem", "trusted_root.json"}"#]],
    );
}

#[test]
fn yaml_errors_name_file_line_column() {
    check("version: 1\nrules: [\n", expect!["error: policy.yaml:2:8: unclosed bracket '['"]);
    check(
        "version: 1\nsigners: {}\nrule: []\n",
        expect![
            "error: policy.yaml:3:1: unknown field `rule`, expected one of version, signers, rules"
        ],
    );
    check("signers: {}\n", expect![[r#"error: policy.yaml:1:1: missing field `version`"#]]);
    check(
        "version: 2\n",
        expect![[r#"error: policy.yaml:1:10: unsupported policy version 2: expected 1"#]],
    );
    check(
        "version: 1\nsigners:\n  a:\n    cosign-key: {path: a.pub, colour: red}\n",
        expect![
            "error: policy.yaml:4:31: unknown field `colour`, expected one of path, pem, rsa-scheme"
        ],
    );
    check(
        "version: 1\nversion: 1\n",
        expect!["error: policy.yaml:2:1: duplicate mapping key: version"],
    );
    check(
        "version: 1\nrules:\n  - images: [docker.io/a/*]\n    unsigned: maybe\n",
        expect!["error: policy.yaml:4:15: unknown variant `maybe`, expected one of accept"],
    );
}

#[test]
fn rule_errors() {
    let head = format!("version: 1\n{KEY_SIGNER}rules:\n");
    let c = |rules: &str, e: Expect| check(&format!("{head}{rules}"), e);
    c(
        "  - images: [docker.io/linuxkit/kernel-*]\n    signers: [release]\n",
        expect![
            "error: policy.yaml:7:14: bad image pattern `docker.io/linuxkit/kernel-*`: `kernel-*`: `*` and `**` must be a whole path component"
        ],
    );
    c(
        "  - images: [linuxkit/kernel]\n    signers: [release]\n",
        expect![
            "error: policy.yaml:7:14: bad image pattern `linuxkit/kernel`: `linuxkit` is not a registry host: expected a fully qualified repository such as docker.io/linuxkit/… or docker.io/library/linuxkit"
        ],
    );
    c(
        "  - images: [docker.io/a/*]\n    signers: [release]\n  - images: [docker.io/a/*]\n    signers: [release]\n",
        expect![
            "error: policy.yaml:9:14: image pattern `docker.io/a/*` is already used by the rule at policy.yaml:7:5"
        ],
    );
    c(
        "  - signers: [release]\n",
        expect!["error: policy.yaml:7:5: rule has no `images`: expected at least one pattern"],
    );
    c(
        "  - images: [docker.io/a/*]\n",
        expect![
            "error: policy.yaml:7:5: rule must have either `signers` (non-empty) or `unsigned: accept`, found neither"
        ],
    );
    c(
        "  - images: [docker.io/a/*]\n    signers: [release]\n    unsigned: accept\n",
        expect![
            "error: policy.yaml:7:5: rule must have either `signers` (non-empty) or `unsigned: accept`, found both `signers` and `unsigned: accept`"
        ],
    );
    c(
        "  - images: [docker.io/a/*]\n    signers: [releese]\n",
        expect![
            "error: policy.yaml:8:15: unknown signer `releese`: expected one of the names under `signers:` (release)"
        ],
    );
    c(
        "  - images: [docker.io/a/*]\n    signers: [release, release]\n",
        expect!["error: policy.yaml:8:24: signer `release` is listed twice in this rule"],
    );
    c(
        "  - images: [docker.io/a/*]\n    signers: [release]\n    threshold: 2\n",
        expect![
            "error: policy.yaml:9:16: threshold 2 is out of range: expected 1 to 1 (the number of signers listed)"
        ],
    );
    c(
        "  - images: [docker.io/a/*]\n    signers: [release]\n    threshold: 0\n",
        expect![
            "error: policy.yaml:9:16: threshold 0 is out of range: expected 1 to 1 (the number of signers listed)"
        ],
    );
    c(
        "  - images: [docker.io/a/*]\n    unsigned: accept\n    threshold: 1\n",
        expect!["error: policy.yaml:9:16: `threshold` has no meaning with `unsigned: accept`"],
    );
}

#[test]
fn signer_errors() {
    let c = |signers: &str, e: Expect| check(&format!("version: 1\nsigners:\n{signers}"), e);
    c(
        "  a: {}\n",
        expect![[
            r#"error: policy.yaml:3:6: signer `a` must have exactly one of `cosign-key`, `keyless`, `notation`, found 0"#
        ]],
    );
    c(
        "  a:\n    cosign-key: {path: a.pub}\n    keyless: {issuer: i, subject: s, trusted-root: t.json}\n",
        expect![[
            r#"error: policy.yaml:4:5: signer `a` must have exactly one of `cosign-key`, `keyless`, `notation`, found 2"#
        ]],
    );
    c(
        "  a:\n    cosign-key: {path: a.pub, pem: x}\n",
        expect![[
            r#"error: policy.yaml:4:17: cosign-key of signer `a` must have exactly one of `path` and `pem`"#
        ]],
    );
    c(
        "  a:\n    keyless: {issuer: i, subject: s, subject-regex: r, trusted-root: t.json}\n",
        expect![[
            r#"error: policy.yaml:4:14: keyless signer `a` must have exactly one of `subject` and `subject-regex`"#
        ]],
    );
    c(
        "  a:\n    keyless: {issuer: i, subject-regex: \"(unclosed\", trusted-root: t.json}\n",
        expect![
            "error: policy.yaml:4:41: bad subject-regex of signer `a`: found open group without closing ')'"
        ],
    );
    c(
        "  a:\n    keyless: {issuer: \"\", subject: s, trusted-root: t.json}\n",
        expect![[r#"error: policy.yaml:4:14: `issuer` of signer `a` is empty"#]],
    );
    c(
        "  a:\n    notation: {trust-store: [ca.pem], identities: [\"CN=me\"]}\n",
        expect![[
            r#"error: policy.yaml:4:52: notation identity `CN=me` of signer `a`: expected `*` or `x509.subject: C=…, O=…`"#
        ]],
    );
}

#[test]
fn subject_regex_is_anchored() {
    let file = PolicyFile::parse(
        "p.yaml",
        "version: 1\nsigners:\n  a:\n    keyless: {issuer: i, subject-regex: 'https://github\\.com/org/.*', trusted-root: t.json}\n",
    )
    .unwrap();
    let (_, spec) = file.signers().next().unwrap();
    let SignerSpec::Keyless { subject, .. } = spec else { panic!("keyless expected") };
    assert!(subject.matches("https://github.com/org/repo"));
    // Unanchored matching (cosign's Go regexp MatchString) would accept these.
    assert!(!subject.matches("https://evil.example/?https://github.com/org/repo"));
    assert!(!subject.matches("xhttps://github.com/org/repo"));
}

fn policy(yaml: &str) -> Policy {
    PolicyFile::parse("policy.yaml", yaml).unwrap().resolve(&BTreeMap::new()).unwrap()
}

/// Which rule (by pattern label) applies to each repository.
fn check_selection(yaml: &str, cases: &[(&str, Option<&str>)]) {
    let policy = policy(yaml);
    for (repository, expected) in cases {
        let got = policy.rule_for(repository).map(|m| m.label());
        assert_eq!(got.as_deref(), *expected, "rule for {repository}");
    }
}

#[test]
fn most_specific_rule_wins_regardless_of_order() {
    let rules = [
        "  - images: [\"**\"]\n    unsigned: accept\n",
        "  - images: [docker.io/**]\n    unsigned: accept\n",
        "  - images: [docker.io/linuxkit/**]\n    unsigned: accept\n",
        "  - images: [docker.io/linuxkit/*]\n    unsigned: accept\n",
        "  - name: kernel\n    images: [docker.io/linuxkit/kernel]\n    unsigned: accept\n",
        "  - images: [docker.io/*/kernel]\n    unsigned: accept\n",
    ];
    let cases: &[(&str, Option<&str>)] = &[
        ("docker.io/linuxkit/kernel", Some("kernel (docker.io/linuxkit/kernel)")),
        ("docker.io/linuxkit/init", Some("docker.io/linuxkit/*")),
        ("docker.io/linuxkit/a/b", Some("docker.io/linuxkit/**")),
        ("docker.io/other/kernel", Some("docker.io/*/kernel")),
        ("docker.io/library/alpine", Some("docker.io/**")),
        ("quay.io/x/y", Some("**")),
    ];
    let forward = format!("version: 1\nrules:\n{}", rules.concat());
    check_selection(&forward, cases);
    let mut reversed = rules.to_vec();
    reversed.reverse();
    check_selection(&format!("version: 1\nrules:\n{}", reversed.concat()), cases);
}

#[test]
fn no_rule_matches() {
    check_selection(
        "version: 1\nrules:\n  - images: [localhost:5000/**]\n    unsigned: accept\n",
        &[
            ("localhost:5001/a", None),
            ("docker.io/localhost:5000/a", None),
            ("localhost:5000/a", Some("localhost:5000/**")),
        ],
    );
    assert!(Policy::none().rule_for("docker.io/library/alpine").is_none());
}

#[test]
fn repository_normalization() {
    let cases = [
        ("alpine", "docker.io/library/alpine"),
        ("alpine:3.20", "docker.io/library/alpine"),
        ("linuxkit/kernel:6.6@sha256:abcd", "docker.io/linuxkit/kernel"),
        ("index.docker.io/library/busybox", "docker.io/library/busybox"),
        ("docker.io/busybox", "docker.io/library/busybox"),
        ("localhost:5000/app:v1", "localhost:5000/app"),
        ("127.0.0.1:5000/a/b", "127.0.0.1:5000/a/b"),
        ("quay.io/org/img", "quay.io/org/img"),
    ];
    for (input, expected) in cases {
        assert_eq!(normalize_repository(input), expected, "{input}");
    }
}

#[test]
fn legacy_trust_covers_images_and_orgs_like_linuxkit() {
    // LinuxKit's examples: `trust: {org: [linuxkit, library]}` and `trust: {image: [nginx:alpine]}`.
    let trust = LegacyTrust::new(&["nginx:alpine".to_owned()], &["linuxkit".to_owned()]);
    assert!(trust.covers("docker.io/library/nginx"));
    assert!(trust.covers("docker.io/linuxkit/kernel"));
    assert!(!trust.covers("docker.io/library/alpine"));
    assert!(!trust.covers("quay.io/other/kernel"));
    assert!(LegacyTrust::new(&[], &["library".to_owned()]).covers("alpine"));
    assert!(LegacyTrust::default().is_empty());
}

#[test]
fn resolve_keys_from_files_and_inline() {
    if !have_openssl() {
        return;
    }
    let ec = key(Kind::EcdsaP256, 0);
    let ed = key(Kind::Ed25519, 0);
    let indented: String = ed.public_text().lines().map(|l| format!("        {l}\n")).collect();
    let yaml = format!(
        "version: 1\nsigners:\n  ec:\n    cosign-key: {{path: ec.pub}}\n  ed:\n    cosign-key:\n      pem: |\n{indented}rules:\n  - images: [\"**\"]\n    signers: [ec, ed]\n"
    );
    let file = PolicyFile::parse("policy.yaml", &yaml).unwrap();
    assert_eq!(file.files().into_iter().collect::<Vec<_>>(), ["ec.pub"]);
    let missing = file.resolve(&BTreeMap::new()).unwrap_err();
    assert_eq!(
        missing.to_string(),
        "policy.yaml:4:5: file `ec.pub` of signer `ec` was not provided"
    );
    let files = BTreeMap::from([("ec.pub".to_owned(), ec.public_pem.clone())]);
    let policy = file.resolve(&files).unwrap();
    let Some(Signer::CosignKey { key: ec_key, .. }) = policy.signer("ec") else { panic!("ec") };
    assert_eq!(ec_key.algorithm(), crate::keys::KeyAlgorithm::EcdsaP256);
    let Some(Signer::CosignKey { key: ed_key, .. }) = policy.signer("ed") else { panic!("ed") };
    assert_eq!(ed_key.algorithm(), crate::keys::KeyAlgorithm::Ed25519);
}

#[test]
fn resolve_rejects_bad_keys() {
    if !have_openssl() {
        return;
    }
    let yaml = "version: 1\nsigners:\n  a:\n    cosign-key: {path: a.pub}\n  b:\n    cosign-key: {path: b.pub}\n";
    let file = PolicyFile::parse("policy.yaml", yaml).unwrap();
    let resolve = |a: &[u8], b: &[u8]| {
        let files =
            BTreeMap::from([("a.pub".to_owned(), a.to_vec()), ("b.pub".to_owned(), b.to_vec())]);
        file.resolve(&files).unwrap_err().to_string()
    };
    let good = key(Kind::EcdsaP256, 0).public_pem;
    let private = key(Kind::EcdsaP256, 0).private_pem;
    assert_eq!(
        resolve(&private, &good),
        "policy.yaml:4:5: key of signer `a` (a.pub): expected a PEM `PUBLIC KEY` block, found `PRIVATE KEY` (a private key: give the public half, e.g. cosign.pub)"
    );
    let small = key(Kind::Rsa1024, 0).public_pem;
    assert_eq!(
        resolve(&small, &good),
        "policy.yaml:4:5: key of signer `a` (a.pub): RSA key of 1024 bits is too small: expected at least 2048 bits"
    );
    let p384 = key(Kind::EcdsaP384, 0).public_pem;
    assert_eq!(
        resolve(&p384, &good),
        "policy.yaml:4:5: key of signer `a` (a.pub): unsupported public key algorithm EC public key on curve 1.3.132.0.34: expected ECDSA P-256, Ed25519 or RSA"
    );
    let dup = resolve(&good, &good);
    assert!(dup.starts_with("policy.yaml:6:5: signer `b` has the same key sha256:"), "{dup}");
    assert!(dup.ends_with(" as signer `a`"), "{dup}");
}

#[test]
fn resolve_checks_trusted_root_and_trust_store() {
    let yaml = "version: 1\nsigners:\n  k:\n    keyless: {issuer: i, subject: s, trusted-root: tr.json}\n  n:\n    notation: {trust-store: [ca.pem], identities: [\"*\"]}\n";
    let file = PolicyFile::parse("policy.yaml", yaml).unwrap();
    let ca = b"-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n".to_vec();
    let with = |tr: &[u8], ca: &[u8]| {
        let files = BTreeMap::from([
            ("tr.json".to_owned(), tr.to_vec()),
            ("ca.pem".to_owned(), ca.to_vec()),
        ]);
        file.resolve(&files).map(|_| ()).map_err(|e| e.to_string())
    };
    let tr =
        br#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1","tlogs":[]}"#;
    assert_eq!(with(tr, &ca), Ok(()));
    assert_eq!(
        with(b"{\"mediaType\":\"x\"}", &ca),
        Err("policy.yaml:4:5: trusted root `tr.json` of signer `k`: mediaType is `x`, expected application/vnd.dev.sigstore.trustedroot+json;version=0.1".to_owned())
    );
    assert_eq!(
        with(tr, b"not pem"),
        Err("policy.yaml:6:5: trust-store certificate `ca.pem` of signer `n`: expected a PEM `CERTIFICATE` block".to_owned())
    );
}

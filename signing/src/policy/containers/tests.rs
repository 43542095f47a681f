//! Tests of the containers-policy.json translation: scopes to patterns, requirements to rules
//! and signers, and every construct that is refused.

use std::collections::BTreeMap;

use expect_test::{Expect, expect};

use super::super::{Policy, PolicyFile, SignerSpec};
use crate::testutil::{Kind, have_openssl, key};

/// Parses `json` as `policy.json` and renders the rules and signers, or the error.
fn check(json: &str, expect: Expect) {
    let actual = match PolicyFile::parse("policy.json", json) {
        Err(err) => format!("error: {err}"),
        Ok(file) => {
            let mut out = String::new();
            for rule in file.rules() {
                let patterns: Vec<&str> = rule.patterns.iter().map(|p| p.as_str()).collect();
                out.push_str(&format!(
                    "{} at {} {:?}: {:?}\n",
                    rule.name.as_deref().unwrap_or("-"),
                    rule.at,
                    patterns,
                    rule.requirement
                ));
            }
            for (name, spec) in file.signers() {
                let source = match spec {
                    SignerSpec::CosignKey { key, .. } => format!("{key:?}"),
                    other => format!("{other:?}"),
                };
                out.push_str(&format!("signer {name}: {source}\n"));
            }
            out
        }
    };
    expect.assert_eq(&actual);
}

#[test]
fn podman_default_policy_accepts_everything_with_a_warning() {
    // What Debian's containers-common ships as /etc/containers/policy.json.
    check(
        r#"{
    "default": [
        {
            "type": "insecureAcceptAnything"
        }
    ],
    "transports":
        {
            "docker-daemon":
                {
                    "": [{"type":"insecureAcceptAnything"}]
                }
        }
}
"#,
        expect![[r#"
            default at policy.json:2:16 ["**"]: UnsignedAccept
        "#]],
    );
}

#[test]
fn scopes_become_patterns_with_keys_as_signers() {
    check(
        r#"{
  "default": [{"type": "reject"}],
  "transports": {
    "docker": {
      "docker.io/linuxkit": [{"type": "sigstoreSigned", "keyPath": "/etc/pki/linuxkit.pub"}],
      "docker.io/linuxkit/kernel": [
        {"type": "sigstoreSigned", "keyPath": "/etc/pki/linuxkit.pub"},
        {"type": "sigstoreSigned", "keyPath": "/etc/pki/kernel-team.pub", "signedIdentity": {"type": "matchRepository"}}
      ],
      "localhost:5000": [{"type": "insecureAcceptAnything"}],
      "quay.io/org/app": [{"type": "sigstoreSigned", "keyPaths": ["a.pub", "b.pub"],
                           "signedIdentity": {"type": "exactRepository", "dockerRepository": "quay.io/org/app-staging"}}]
    },
    "oci": {"": [{"type": "insecureAcceptAnything"}]}
  }
}"#,
        expect![[r#"
            default at policy.json:2:14 ["**"]: Reject
            scope docker.io/linuxkit at policy.json:5:29 ["docker.io/linuxkit", "docker.io/linuxkit/**"]: Signed { signers: ["key /etc/pki/linuxkit.pub"], threshold: 1, docker_reference: Repository }
            scope docker.io/linuxkit/kernel at policy.json:6:36 ["docker.io/linuxkit/kernel", "docker.io/linuxkit/kernel/**"]: Signed { signers: ["key /etc/pki/linuxkit.pub", "key /etc/pki/kernel-team.pub"], threshold: 2, docker_reference: Repository }
            scope localhost:5000 at policy.json:10:25 ["localhost:5000/**"]: UnsignedAccept
            scope quay.io/org/app at policy.json:11:26 ["quay.io/org/app", "quay.io/org/app/**"]: Signed { signers: ["key a.pub", "key b.pub"], threshold: 1, docker_reference: Exact("quay.io/org/app-staging") }
            signer key /etc/pki/kernel-team.pub: Path("/etc/pki/kernel-team.pub")
            signer key /etc/pki/linuxkit.pub: Path("/etc/pki/linuxkit.pub")
            signer key a.pub: Path("a.pub")
            signer key b.pub: Path("b.pub")
        "#]],
    );
}

#[test]
fn docker_transport_default_replaces_the_global_default() {
    check(
        r#"{"default": [{"type": "insecureAcceptAnything"}],
 "transports": {"docker": {"": [{"type": "reject"}]}}}"#,
        expect![[r#"
            default at policy.json:2:32 ["**"]: Reject
        "#]],
    );
}

#[test]
fn reject_wins_over_everything_else_in_a_scope() {
    check(
        r#"{"default": [{"type": "insecureAcceptAnything"}, {"type": "reject"}]}"#,
        expect![[r#"
            default at policy.json:1:13 ["**"]: Reject
        "#]],
    );
}

#[test]
fn inline_key_data_is_base64_of_pem() {
    let pem = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
    let data = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(pem)
    };
    check(
        &format!(
            r#"{{"default": [{{"type": "sigstoreSigned", "keyData": "{data}"}}],
 "transports": {{"docker": {{"ghcr.io/x": [{{"type": "sigstoreSigned", "keyData": "{data}"}}]}}}}}}"#
        ),
        expect![[r#"
            default at policy.json:1:13 ["**"]: Signed { signers: ["keyData 1"], threshold: 1, docker_reference: Repository }
            scope ghcr.io/x at policy.json:2:41 ["ghcr.io/x", "ghcr.io/x/**"]: Signed { signers: ["keyData 1"], threshold: 1, docker_reference: Repository }
            signer keyData 1: Pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
        "#]],
    );
}

#[test]
fn constructs_kit_cannot_enforce_are_refused_with_their_line() {
    let cases = [
        (
            r#"{"transports": {"docker": {"docker.io/x": [{"type": "reject"}]}}}"#,
            expect![[
                r#"error: policy.json:1:1: containers-policy.json: no `default` requirements: containers-policy.json needs a top-level `default` (for example `[{"type": "reject"}]`)"#
            ]],
        ),
        (
            r#"{"default": []}"#,
            expect![
                "error: policy.json:1:13: containers-policy.json: scope `default`: an empty requirement list is not allowed (containers/image refuses it too)"
            ],
        ),
        (
            r#"{"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k.gpg"}]}"#,
            expect![
                "error: policy.json:1:14: containers-policy.json: scope `default`: `signedBy` (GPG simple signing) is not supported: kit verifies cosign, Sigstore and Notation signatures (use `sigstoreSigned` with a key)"
            ],
        ),
        (
            "{\"default\": [{\"type\": \"reject\"}],\n \"transports\": {\"docker\": {\"quay.io/a\": [\n  {\"type\": \"sigstoreSigned\", \"fulcio\": {\"caPath\": \"/ca.pem\", \"oidcIssuer\": \"https://x\", \"subjectEmail\": \"a@b\"}, \"rekorPublicKeyPath\": \"/r.pub\"}]}}}",
            expect![
                "error: policy.json:3:3: containers-policy.json: scope `quay.io/a`: `fulcio`, `pki` and `rekorPublicKey*` are not supported in a containers-policy.json: write a kit policy (YAML) with a `keyless` signer and a Sigstore `trusted-root`, which also pins the CT log keys kit checks"
            ],
        ),
        (
            r#"{"default": [{"type": "sigstoreSigned"}]}"#,
            expect![
                "error: policy.json:1:14: containers-policy.json: scope `default`: `sigstoreSigned` needs exactly one of `keyPath`, `keyPaths`, `keyData`, `keyDatas`, found 0"
            ],
        ),
        (
            r#"{"default": [{"type": "sigstoreSigned", "keyPath": "a.pub", "keyData": "AAAA"}]}"#,
            expect![
                "error: policy.json:1:14: containers-policy.json: scope `default`: `sigstoreSigned` needs exactly one of `keyPath`, `keyPaths`, `keyData`, `keyDatas`, found 2"
            ],
        ),
        (
            r#"{"default": [{"type": "sigstoreSigned", "keyData": "not base64!"}]}"#,
            expect![
                "error: policy.json:1:14: containers-policy.json: scope `default`: `keyData` is not standard base64 (of a PEM public key)"
            ],
        ),
        (
            r#"{"default": [{"type": "reject"}], "transports": {"docker": {"docker.io/library/busybox:latest": [{"type": "reject"}]}}}"#,
            expect![
                "error: policy.json:1:97: containers-policy.json: scope `docker.io/library/busybox:latest`: scopes naming a tag or digest are not supported: kit pins every image by digest and selects rules by repository"
            ],
        ),
        (
            r#"{"default": [{"type": "reject"}], "transports": {"docker": {"*.example.com": [{"type": "reject"}]}}}"#,
            expect![
                "error: policy.json:1:78: containers-policy.json: scope `*.example.com`: wildcard host scopes are not supported; name the registry host"
            ],
        ),
        (
            r#"{"default": [{"type": "reject"}], "transports": {"docker": {"busybox": [{"type": "reject"}]}}}"#,
            expect![
                "error: policy.json:1:72: containers-policy.json: scope `busybox`: `busybox` is not a registry host: expected a fully qualified repository such as docker.io/busybox/… or docker.io/library/busybox"
            ],
        ),
        (
            r#"{"default": [{"type": "sigstoreSigned", "keyPath": "a.pub", "signedIdentity": {"type": "exactReference", "dockerReference": "docker.io/a/b:v1"}}]}"#,
            expect![
                "error: policy.json:1:79: containers-policy.json: scope `default`: signedIdentity `exactReference` is not supported: kit pins images by digest; use `matchRepository` or `exactRepository`"
            ],
        ),
        (
            r#"{"default": [{"type": "sigstoreSigned", "keyPaths": ["a.pub", "b.pub"]}, {"type": "sigstoreSigned", "keyPaths": ["c.pub", "d.pub"]}]}"#,
            expect![
                "error: policy.json:1:13: containers-policy.json: scope `default`: several `sigstoreSigned` requirements with several keys each cannot be expressed as one threshold: write a kit policy instead"
            ],
        ),
        (
            r#"{"default": [{"type": "sigstoreSigned", "keyPath": "a.pub"}, {"type": "sigstoreSigned", "keyPath": "a.pub"}]}"#,
            expect![
                "error: policy.json:1:13: containers-policy.json: scope `default`: the same key is required by two `sigstoreSigned` requirements"
            ],
        ),
        (
            r#"{"default": [{"type": "sigstoreSigned", "keyPath": "a.pub"}, {"type": "sigstoreSigned", "keyPath": "b.pub", "signedIdentity": {"type": "exactRepository", "dockerRepository": "docker.io/x/y"}}]}"#,
            expect![
                "error: policy.json:1:127: containers-policy.json: scope `default`: requirements with different `signedIdentity` cannot be combined into one kit rule"
            ],
        ),
        (
            r#"{"default": [{"type": "insecureAcceptAnything", "keyPath": "a.pub"}]}"#,
            expect![
                "error: policy.json:1:14: containers-policy.json: scope `default`: `insecureAcceptAnything` takes no other fields"
            ],
        ),
        (
            r#"{"default": [{"type": "acceptAll"}]}"#,
            expect![
                "error: policy.json:1:14: containers-policy.json: scope `default`: unknown requirement type `acceptAll`: expected `insecureAcceptAnything`, `reject`, `signedBy` or `sigstoreSigned`"
            ],
        ),
        (
            r#"{"default": [{"type": "reject", "color": "red"}]}"#,
            expect![
                "error: policy.json:1:33: unknown field `color`, expected one of type, keyType, keyPath, keyPaths, keyData, keyDatas, signedIdentity, fulcio, pki, rekorPublicKeyPath, rekorPublicKeyPaths, rekorPublicKeyData, rekorPublicKeyDatas"
            ],
        ),
        (
            r#"{"default": [{"type": "reject"}], "extra": 1}"#,
            expect![
                "error: policy.json:1:35: unknown field `extra`, expected one of default, transports"
            ],
        ),
    ];
    for (json, expect) in cases {
        check(json, expect);
    }
}

#[test]
fn a_kit_policy_is_not_mistaken_for_a_containers_policy() {
    // `version` decides: a kit policy that happened to have a `default` key is still read as a
    // kit policy, whose parser rejects the unknown key.
    check(
        "version: 1\ndefault: []\n",
        expect![
            "error: policy.json:2:1: unknown field `default`, expected one of version, signers, rules"
        ],
    );
}

#[test]
fn resolved_policy_selects_the_most_specific_scope() {
    if !have_openssl() {
        return;
    }
    let linuxkit = key(Kind::EcdsaP256, 0);
    let json = r#"{
  "default": [{"type": "reject"}],
  "transports": {"docker": {
    "docker.io/linuxkit": [{"type": "sigstoreSigned", "keyPath": "/etc/pki/linuxkit.pub"}],
    "docker.io/linuxkit/dev": [{"type": "insecureAcceptAnything"}]
  }}
}"#;
    let file = PolicyFile::parse("policy.json", json).unwrap();
    let files = BTreeMap::from([("/etc/pki/linuxkit.pub".to_owned(), linuxkit.public_pem.clone())]);
    let policy: Policy = file.resolve(&files).unwrap();
    let label = |repo: &str| policy.rule_for(repo).map(|m| m.label());
    assert_eq!(
        label("docker.io/linuxkit/kernel").as_deref(),
        Some("scope docker.io/linuxkit (docker.io/linuxkit/**)")
    );
    assert_eq!(
        label("docker.io/linuxkit/dev").as_deref(),
        Some("scope docker.io/linuxkit/dev (docker.io/linuxkit/dev)")
    );
    assert_eq!(
        label("docker.io/linuxkit/dev/tools").as_deref(),
        Some("scope docker.io/linuxkit/dev (docker.io/linuxkit/dev/**)")
    );
    assert_eq!(label("quay.io/other/image").as_deref(), Some("default (**)"));
}

//! End-to-end verification: positive cases per key type and the attack catalogue, each refused
//! for the right reason. Keys and signatures come from openssl at test time.

use std::collections::BTreeMap;

use base64::Engine as _;
use expect_test::{Expect, expect};
use sha2::Digest as _;

use super::*;
use crate::cosign::{
    BUNDLE_ANNOTATION, MAX_ANNOTATION_BYTES, MAX_PAYLOAD_BYTES, SIGNATURE_ANNOTATION,
    SignatureLayer,
};
use crate::keys::PublicKey;
use crate::policy::{LegacyTrust, PolicyFile};
use crate::rekor::RekorError;
use crate::testutil::{
    Kind, Padding, TestKey, digest_of, generated_keys, have_openssl, image_digest, key, layer,
    layer_with_b64, payload, signed_layer,
};

const REPO: &str = "docker.io/linuxkit/kernel";
const IMAGE: &str = "linuxkit/kernel:6.6";
const NOW: UnixTime = UnixTime(1_800_000_000);

/// A policy whose signers are the given test keys (inline PEM), followed by `rules`.
fn policy(signers: &[(&str, &TestKey, &str)], rules: &str) -> Policy {
    let mut yaml = String::from("version: 1\nsigners:\n");
    for (name, key, extra) in signers {
        yaml.push_str(&format!("  {name}:\n    cosign-key:\n{extra}      pem: |\n"));
        for line in key.public_text().lines() {
            yaml.push_str(&format!("        {line}\n"));
        }
    }
    yaml.push_str("rules:\n");
    yaml.push_str(rules);
    PolicyFile::parse("policy.yaml", &yaml).unwrap().resolve(&BTreeMap::new()).unwrap()
}

/// The usual policy: signer `release` (ECDSA key 0) for docker.io/linuxkit/*.
fn release_policy() -> Policy {
    policy(
        &[("release", &key(Kind::EcdsaP256, 0), "")],
        "  - images: [docker.io/linuxkit/*]\n    signers: [release]\n",
    )
}

/// Verifies and renders the outcome; key ids, which change with every openssl run, are
/// replaced by `<key KIND IDX>`.
fn render(policy: &Policy, digest: &str, layers: &[SignatureLayer]) -> String {
    let input = ImageInput {
        image: IMAGE,
        repository: REPO,
        digest,
        cosign_layers: layers,
        bundles: &[],
        ..ImageInput::default()
    };
    let out = match verify(policy, &input, NOW) {
        Ok(v) => {
            let signers: Vec<String> = v.satisfied_by.iter().map(ToString::to_string).collect();
            format!(
                "ok rule={} at={} signers=[{}] warnings={:?}",
                v.rule,
                v.rule_at,
                signers.join(", "),
                v.warnings
            )
        }
        Err(refusal) => format!("refused: {refusal}"),
    };
    redact(&out)
}

fn redact(text: &str) -> String {
    let mut out = text.to_owned();
    for ((kind, idx), k) in generated_keys() {
        // Keys kit refuses (RSA-1024, P-384; made by the policy tests) have no id to redact.
        if let Ok(public) = PublicKey::from_pem(&k.public_pem) {
            out = out.replace(&public.id().to_string(), &format!("<key {kind:?} {idx}>"));
        }
    }
    out
}

fn check(policy: &Policy, layers: &[SignatureLayer], expect: Expect) {
    expect.assert_eq(&render(policy, &image_digest(), layers));
}

fn refusal(policy: &Policy, layers: &[SignatureLayer]) -> RefusalReason {
    let digest = image_digest();
    let input = ImageInput {
        image: IMAGE,
        repository: REPO,
        digest: &digest,
        cosign_layers: layers,
        bundles: &[],
        ..ImageInput::default()
    };
    verify(policy, &input, NOW).unwrap_err().reason
}

/// The single layer error of a one-signer refusal.
fn layer_error(policy: &Policy, layers: &[SignatureLayer]) -> CosignError {
    match refusal(policy, layers) {
        RefusalReason::ThresholdNotMet { failures, .. } => match &failures[0].problem {
            SignerProblem::Layers(errors) => errors.last().unwrap().clone(),
            other => panic!("unexpected problem {other}"),
        },
        other => panic!("unexpected refusal {other}"),
    }
}

fn good_layer() -> SignatureLayer {
    signed_layer(&key(Kind::EcdsaP256, 0), REPO, &image_digest())
}

// --- Positive cases ---

#[test]
fn accepts_each_key_type() {
    if !have_openssl() {
        return;
    }
    for (kind, expect) in [
        (
            Kind::EcdsaP256,
            expect![
                "ok rule=docker.io/linuxkit/* at=policy.yaml:11:5 signers=[release (cosign ECDSA P-256 key <key EcdsaP256 0>)] warnings=[]"
            ],
        ),
        (
            Kind::Ed25519,
            expect![
                "ok rule=docker.io/linuxkit/* at=policy.yaml:10:5 signers=[release (cosign Ed25519 key <key Ed25519 0>)] warnings=[]"
            ],
        ),
        (
            Kind::Rsa2048,
            expect![
                "ok rule=docker.io/linuxkit/* at=policy.yaml:16:5 signers=[release (cosign RSA key <key Rsa2048 0>)] warnings=[]"
            ],
        ),
    ] {
        let k = key(kind, 0);
        let p = policy(
            &[("release", &k, "")],
            "  - images: [docker.io/linuxkit/*]\n    signers: [release]\n",
        );
        check(&p, &[signed_layer(&k, REPO, &image_digest())], expect);
    }
}

#[test]
fn accepts_rsa_pss_when_the_policy_says_so() {
    if !have_openssl() {
        return;
    }
    let k = key(Kind::Rsa2048, 0);
    let p = policy(
        &[("release", &k, "      rsa-scheme: pss\n")],
        "  - images: [docker.io/linuxkit/*]\n    signers: [release]\n",
    );
    let body = payload(REPO, &image_digest());
    let l = layer(body.clone(), &k.sign_with(&body, Padding::Pss));
    check(
        &p,
        &[l],
        expect![
            "ok rule=docker.io/linuxkit/* at=policy.yaml:17:5 signers=[release (cosign RSA key <key Rsa2048 0>)] warnings=[]"
        ],
    );
}

#[test]
fn one_valid_layer_among_invalid_ones_suffices() {
    if !have_openssl() {
        return;
    }
    let other = signed_layer(&key(Kind::EcdsaP256, 1), REPO, &image_digest());
    let replay = signed_layer(&key(Kind::EcdsaP256, 0), REPO, &digest_of(b"other image"));
    let v = render(&release_policy(), &image_digest(), &[other, replay, good_layer()]);
    assert!(v.starts_with("ok rule=docker.io/linuxkit/*"), "{v}");
}

#[test]
fn verdict_records_the_signature_and_key() {
    if !have_openssl() {
        return;
    }
    let l = good_layer();
    let digest = image_digest();
    let input = ImageInput {
        image: IMAGE,
        repository: REPO,
        digest: &digest,
        cosign_layers: std::slice::from_ref(&l),
        bundles: &[],
        ..ImageInput::default()
    };
    let v = verify(&release_policy(), &input, NOW).unwrap();
    let expected_id =
        PublicKey::from_pem(&key(Kind::EcdsaP256, 0).public_pem).unwrap().id().clone();
    assert_eq!(v.digest, digest);
    assert_eq!(v.satisfied_by.len(), 1);
    assert_eq!(v.satisfied_by[0].key_id.as_ref(), Some(&expected_id));
    assert_eq!(v.satisfied_by[0].signature, l.descriptor.digest);
}

#[test]
fn docker_reference_spelled_with_index_docker_io_matches_repository_rule() {
    if !have_openssl() {
        return;
    }
    let k = key(Kind::EcdsaP256, 0);
    let p = policy(
        &[("release", &k, "")],
        "  - images: [docker.io/linuxkit/*]\n    signers: [release]\n    docker-reference: repository\n",
    );
    // go-containerregistry names Docker Hub repositories index.docker.io/...
    let l = signed_layer(&k, "index.docker.io/linuxkit/kernel", &image_digest());
    assert!(render(&p, &image_digest(), &[l]).starts_with("ok "));
}

#[test]
fn threshold_two_of_three() {
    if !have_openssl() {
        return;
    }
    let (a, b, c) = (key(Kind::EcdsaP256, 0), key(Kind::Ed25519, 0), key(Kind::Rsa2048, 0));
    let p = policy(
        &[("a", &a, ""), ("b", &b, ""), ("c", &c, "")],
        "  - images: [docker.io/linuxkit/*]\n    signers: [a, b, c]\n    threshold: 2\n",
    );
    let la = signed_layer(&a, REPO, &image_digest());
    let lc = signed_layer(&c, REPO, &image_digest());
    check(
        &p,
        &[la.clone(), lc],
        expect![
            "ok rule=docker.io/linuxkit/* at=policy.yaml:29:5 signers=[a (cosign ECDSA P-256 key <key EcdsaP256 0>), c (cosign RSA key <key Rsa2048 0>)] warnings=[]"
        ],
    );
    // Attack: threshold not met. The same signature repeated does not count twice either.
    check(
        &p,
        &[la.clone(), la],
        expect![
            "refused: linuxkit/kernel:6.6: rule docker.io/linuxkit/*: needs signatures by 2 of [a, b, c], 1 verified: b (cosign Ed25519 key <key Ed25519 0>): layer 0: signature does not verify with key <key Ed25519 0>, layer 1: signature does not verify with key <key Ed25519 0>; c (cosign RSA key <key Rsa2048 0>): layer 0: signature does not verify with key <key Rsa2048 0>, layer 1: signature does not verify with key <key Rsa2048 0>"
        ],
    );
}

#[test]
fn unsigned_accept_warns() {
    let p = PolicyFile::parse(
        "policy.yaml",
        "version: 1\nrules:\n  - images: [docker.io/linuxkit/**]\n    unsigned: accept\n",
    )
    .unwrap()
    .resolve(&BTreeMap::new())
    .unwrap();
    expect![[r#"ok rule=docker.io/linuxkit/** at=policy.yaml:3:5 signers=[] warnings=["linuxkit/kernel:6.6 accepted without signature verification (rule docker.io/linuxkit/** at policy.yaml:3:5 says `unsigned: accept`)"]"#]]
        .assert_eq(&render(&p, &image_digest(), &[]));
    // The LinuxKit `trust:` section turns that into a refusal for the images it names.
    let strict = p.with_legacy_trust(LegacyTrust::new(&[], &["linuxkit".to_owned()]));
    expect!["refused: linuxkit/kernel:6.6: rule docker.io/linuxkit/**: the configuration's LinuxKit `trust:` section requires this image to be signed (LinuxKit checked Docker Content Trust signatures, which kit cannot verify), but the rule says `unsigned: accept`: add a rule with signers for it, or remove it from `trust:`"]
        .assert_eq(&render(&strict, &image_digest(), &[]));
}

// --- Attacks and refusals: policy level ---

#[test]
fn no_policy_refuses_with_an_example() {
    expect![[r#"refused: linuxkit/kernel:6.6: no signature policy was given, so no signer is trusted: pass --policy FILE with a rule for docker.io/linuxkit/kernel, e.g. a YAML file with `version: 1`, `signers: {release: {cosign-key: {path: cosign.pub}}}`, `rules: [{images: ["docker.io/linuxkit/*"], signers: [release]}]`"#]]
        .assert_eq(&render(&Policy::none(), &image_digest(), &[]));
}

#[test]
fn no_matching_rule_refuses_with_an_example() {
    let p = PolicyFile::parse(
        "policy.yaml",
        "version: 1\nrules:\n  - images: [localhost:5000/**]\n    unsigned: accept\n",
    )
    .unwrap()
    .resolve(&BTreeMap::new())
    .unwrap();
    expect![[r#"refused: linuxkit/kernel:6.6: no rule in policy.yaml matches docker.io/linuxkit/kernel: add one, e.g. `version: 1`, `signers: {release: {cosign-key: {path: cosign.pub}}}`, `rules: [{images: ["docker.io/linuxkit/*"], signers: [release]}]` (patterns: `*` is one path component, `**` any depth)"#]]
        .assert_eq(&render(&p, &image_digest(), &[]));
}

#[test]
fn the_example_in_refusals_is_a_valid_policy() {
    // The example must parse when written out as YAML flow mappings.
    let yaml = "version: 1\nsigners: {release: {cosign-key: {path: cosign.pub}}}\nrules: [{images: [\"docker.io/linuxkit/*\"], signers: [release]}]\n";
    let file = PolicyFile::parse("example.yaml", yaml).unwrap();
    assert!(POLICY_EXAMPLE.contains("signers: {release: {cosign-key: {path: cosign.pub}}}"));
    assert_eq!(file.files().into_iter().collect::<Vec<_>>(), ["cosign.pub"]);
}

#[test]
fn malformed_pinned_digest_is_refused() {
    let p = Policy::none();
    for bad in ["sha256:XYZ", "md5:00", "latest"] {
        let input = ImageInput {
            image: IMAGE,
            repository: REPO,
            digest: bad,
            cosign_layers: &[],
            bundles: &[],
            ..ImageInput::default()
        };
        let err = verify(&p, &input, NOW).unwrap_err();
        assert!(
            matches!(err.reason, RefusalReason::BadDigest(CosignError::BadDigest { .. })),
            "{bad}: {err}"
        );
    }
}

#[test]
fn most_specific_rule_decides() {
    if !have_openssl() {
        return;
    }
    // `**` accepts anything unsigned, but the more specific linuxkit rule requires `release`.
    let k = key(Kind::EcdsaP256, 0);
    let p = policy(
        &[("release", &k, "")],
        "  - images: [\"**\"]\n    unsigned: accept\n  - images: [docker.io/linuxkit/*]\n    signers: [release]\n",
    );
    check(
        &p,
        &[],
        expect![
            "refused: linuxkit/kernel:6.6: rule docker.io/linuxkit/*: no signature found: expected a cosign signature manifest tagged sha256-4e754abb11a302ba90efd82279ee34f55cec06b11e15917f746f610274bdb8fe.sig with at least one layer (`cosign sign --key`), a Sigstore bundle attached as an OCI referrer (`cosign sign`), or a Notation signature attached as an OCI referrer (`notation sign`)"
        ],
    );
}

#[test]
fn keyless_signer_with_a_key_based_layer_is_refused() {
    let yaml = "version: 1\nsigners:\n  ci:\n    keyless: {issuer: https://issuer.example, subject: me, trusted-root: tr.json}\nrules:\n  - images: [docker.io/linuxkit/*]\n    signers: [ci]\n";
    let tr =
        br#"{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}"#.to_vec();
    let p = PolicyFile::parse("policy.yaml", yaml)
        .unwrap()
        .resolve(&BTreeMap::from([("tr.json".to_owned(), tr)]))
        .unwrap();
    let l = layer(payload(REPO, &image_digest()), b"sig");
    expect!["refused: linuxkit/kernel:6.6: rule docker.io/linuxkit/*: needs a signature by ci, 0 verified: ci (keyless identity from https://issuer.example): layer 0: layer has no `dev.sigstore.cosign/certificate` annotation: a keyless signer needs a Fulcio certificate (this is a key-based signature)"]
        .assert_eq(&render(&p, &image_digest(), &[l]));
}

// --- Attacks: signature layers ---

#[test]
fn attack_no_signature_layers() {
    if !have_openssl() {
        return;
    }
    let tag = format!("{}.sig", image_digest().replace(':', "-"));
    assert_eq!(refusal(&release_policy(), &[]), RefusalReason::NoSignatures { tag });
}

#[test]
fn attack_tampered_payload() {
    if !have_openssl() {
        return;
    }
    // One byte changed after signing, descriptor left alone: the blob no longer matches it.
    let mut l = good_layer();
    l.payload[20] ^= 1;
    assert!(matches!(
        layer_error(&release_policy(), &[l.clone()]),
        CosignError::PayloadDigestMismatch { .. }
    ));
    // Descriptor updated to the tampered blob: the signature no longer verifies.
    l.descriptor.digest = digest_of(&l.payload);
    assert!(matches!(
        layer_error(&release_policy(), &[l]),
        CosignError::SignatureDoesNotVerify { .. }
    ));
}

#[test]
fn attack_tampered_signature() {
    if !have_openssl() {
        return;
    }
    let k = key(Kind::EcdsaP256, 0);
    let body = payload(REPO, &image_digest());
    let mut sig = k.sign(&body);
    let mid = sig.len() / 2;
    sig[mid] ^= 1;
    check(
        &release_policy(),
        &[layer(body, &sig)],
        expect![
            "refused: linuxkit/kernel:6.6: rule docker.io/linuxkit/*: needs a signature by release, 0 verified: release (cosign ECDSA P-256 key <key EcdsaP256 0>): layer 0: signature does not verify with key <key EcdsaP256 0>"
        ],
    );
}

#[test]
fn attack_replay_of_another_digest() {
    if !have_openssl() {
        return;
    }
    let other = digest_of(b"another image manifest");
    let l = signed_layer(&key(Kind::EcdsaP256, 0), REPO, &other);
    assert_eq!(
        layer_error(&release_policy(), &[l]),
        CosignError::DigestMismatch { expected: image_digest(), found: other }
    );
}

#[test]
fn attack_signed_by_another_key() {
    if !have_openssl() {
        return;
    }
    for (kind, idx) in [(Kind::EcdsaP256, 1), (Kind::Ed25519, 0), (Kind::Rsa2048, 0)] {
        let l = signed_layer(&key(kind, idx), REPO, &image_digest());
        let err = layer_error(&release_policy(), &[l]);
        assert_eq!(
            redact(&err.to_string()),
            "signature does not verify with key <key EcdsaP256 0>",
            "{kind:?}"
        );
    }
}

#[test]
fn attack_wrong_key_type_for_the_signature() {
    if !have_openssl() {
        return;
    }
    // An Ed25519 policy key given an ECDSA signature by the same party's other key, and vice versa.
    let ed = key(Kind::Ed25519, 0);
    let p = policy(
        &[("release", &ed, "")],
        "  - images: [docker.io/linuxkit/*]\n    signers: [release]\n",
    );
    let l = signed_layer(&key(Kind::EcdsaP256, 0), REPO, &image_digest());
    assert!(matches!(layer_error(&p, &[l]), CosignError::SignatureDoesNotVerify { .. }));
    let rsa = key(Kind::Rsa2048, 0);
    let p = policy(
        &[("release", &rsa, "")],
        "  - images: [docker.io/linuxkit/*]\n    signers: [release]\n",
    );
    let l = signed_layer(&ed, REPO, &image_digest());
    assert!(matches!(layer_error(&p, &[l]), CosignError::SignatureDoesNotVerify { .. }));
}

#[test]
fn attack_rsa_pss_under_default_policy() {
    if !have_openssl() {
        return;
    }
    let rsa = key(Kind::Rsa2048, 0);
    let p = policy(
        &[("release", &rsa, "")],
        "  - images: [docker.io/linuxkit/*]\n    signers: [release]\n",
    );
    let body = payload(REPO, &image_digest());
    let l = layer(body.clone(), &rsa.sign_with(&body, Padding::Pss));
    assert!(matches!(layer_error(&p, &[l]), CosignError::SignatureDoesNotVerify { .. }));
}

#[test]
fn attack_malformed_base64() {
    if !have_openssl() {
        return;
    }
    let k = key(Kind::EcdsaP256, 0);
    let body = payload(REPO, &image_digest());
    let good = base64::engine::general_purpose::STANDARD.encode(k.sign(&body));
    let cases = [
        ("truncated", good[..good.len() - 3].to_owned()),
        (
            "unpadded",
            good.trim_end_matches('=').to_owned() + if good.ends_with('=') { "" } else { "A" },
        ),
        ("invalid character", format!("{}*{}", &good[..4], &good[5..])),
        ("url-safe alphabet", good.replace('+', "-").replace('/', "_") + "-_"),
        ("embedded newline", format!("{}\n{}", &good[..8], &good[8..])),
        ("empty", String::new()),
    ];
    for (what, b64) in cases {
        let err = layer_error(&release_policy(), &[layer_with_b64(body.clone(), &b64)]);
        assert!(matches!(err, CosignError::BadBase64 { .. }), "{what}: {err}");
    }
}

#[test]
fn attack_missing_signature_annotation() {
    if !have_openssl() {
        return;
    }
    let mut l = good_layer();
    l.descriptor.annotations.remove(SIGNATURE_ANNOTATION);
    assert_eq!(layer_error(&release_policy(), &[l]), CosignError::MissingSignature);
}

/// Signs `body` with release key 0 and returns the layer error (or `None` if accepted).
fn signed_body_error(body: &str) -> Option<CosignError> {
    let k = key(Kind::EcdsaP256, 0);
    let l = layer(body.as_bytes().to_vec(), &k.sign(body.as_bytes()));
    let digest = image_digest();
    let input = ImageInput {
        image: IMAGE,
        repository: REPO,
        digest: &digest,
        cosign_layers: std::slice::from_ref(&l),
        bundles: &[],
        ..ImageInput::default()
    };
    match verify(&release_policy(), &input, NOW) {
        Ok(_) => None,
        Err(_) => Some(layer_error(&release_policy(), &[l])),
    }
}

#[test]
fn attack_signed_but_malformed_payloads() {
    if !have_openssl() {
        return;
    }
    let d = image_digest();
    let critical = |image: &str, ty: &str| {
        format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"{REPO}"}},"image":{image},"type":"{ty}"}},"optional":null}}"#
        )
    };
    let t = "cosign container image signature";
    let cases: Vec<(&str, String, &str)> = vec![
        ("not JSON", "critical: yes".to_owned(), "PayloadNotJson"),
        (
            "truncated JSON",
            critical(&format!(r#"{{"docker-manifest-digest":"{d}"}}"#), t)[..60].to_owned(),
            "PayloadNotJson",
        ),
        (
            "trailing data",
            critical(&format!(r#"{{"docker-manifest-digest":"{d}"}}"#), t) + "{}",
            "PayloadNotJson",
        ),
        (
            "wrong type",
            critical(
                &format!(r#"{{"docker-manifest-digest":"{d}"}}"#),
                "atomic container signature",
            ),
            "WrongType",
        ),
        (
            "attestation type",
            critical(
                &format!(r#"{{"docker-manifest-digest":"{d}"}}"#),
                "https://in-toto.io/Statement/v1",
            ),
            "WrongType",
        ),
        (
            "duplicate digest keys, pinned digest last (Go keeps the last)",
            critical(
                &format!(
                    r#"{{"docker-manifest-digest":"sha256:{}","docker-manifest-digest":"{d}"}}"#,
                    "0".repeat(64)
                ),
                t,
            ),
            "PayloadNotJson",
        ),
        (
            "both spellings of the digest key",
            critical(
                &format!(r#"{{"Docker-manifest-digest":"{d}","docker-manifest-digest":"{d}"}}"#),
                t,
            ),
            "PayloadNotJson",
        ),
        (
            "unknown critical member",
            critical(&format!(r#"{{"docker-manifest-digest":"{d}","x":1}}"#), t),
            "UnknownMember",
        ),
        ("missing digest", critical("{}", t), "PayloadMember"),
        (
            "digest is not a string",
            critical(r#"{"docker-manifest-digest":["a"]}"#, t),
            "PayloadMember",
        ),
        (
            "digest in upper case",
            critical(&format!(r#"{{"docker-manifest-digest":"{}"}}"#, d.to_uppercase()), t),
            "DigestMismatch",
        ),
        (
            "digest without algorithm",
            critical(&format!(r#"{{"docker-manifest-digest":"{}"}}"#, &d[7..]), t),
            "DigestMismatch",
        ),
    ];
    for (what, body, expected_kind) in cases {
        let err = signed_body_error(&body).unwrap_or_else(|| panic!("{what}: accepted"));
        let kind = format!("{err:?}");
        assert!(kind.starts_with(expected_kind), "{what}: {err}");
    }
    // The spec's `Docker-manifest-digest` spelling alone is accepted, as cosign accepts it.
    assert_eq!(
        signed_body_error(&critical(&format!(r#"{{"Docker-manifest-digest":"{d}"}}"#), t)),
        None
    );
}

#[test]
fn attack_oversized_inputs() {
    if !have_openssl() {
        return;
    }
    let k = key(Kind::EcdsaP256, 0);
    // A validly signed but huge payload (padding inside `optional`).
    let pad = "x".repeat(MAX_PAYLOAD_BYTES);
    let body = format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"{REPO}"}},"image":{{"docker-manifest-digest":"{}"}},"type":"cosign container image signature"}},"optional":{{"pad":"{pad}"}}}}"#,
        image_digest()
    );
    let l = layer(body.clone().into_bytes(), &k.sign(body.as_bytes()));
    assert!(matches!(layer_error(&release_policy(), &[l]), CosignError::PayloadTooLarge { .. }));
    // A huge annotation (e.g. a bogus Rekor bundle).
    let mut l = good_layer();
    l.descriptor
        .annotations
        .insert(BUNDLE_ANNOTATION.to_owned(), "{".repeat(MAX_ANNOTATION_BYTES + 1));
    assert!(matches!(layer_error(&release_policy(), &[l]), CosignError::AnnotationTooLarge { .. }));
    // Too many layers: refused before any signature is checked.
    let layers = vec![good_layer(); MAX_LAYERS + 1];
    assert_eq!(
        refusal(&release_policy(), &layers),
        RefusalReason::TooManyLayers { n_layers: MAX_LAYERS + 1 }
    );
    // A signature longer than any supported algorithm produces.
    let body = payload(REPO, &image_digest());
    let l = layer(body, &vec![0x30; 2000]);
    assert!(matches!(layer_error(&release_policy(), &[l]), CosignError::BadBase64 { .. }));
}

#[test]
fn attack_layer_descriptor_mismatches() {
    if !have_openssl() {
        return;
    }
    let mut l = good_layer();
    l.descriptor.media_type = "application/vnd.oci.image.layer.v1.tar+gzip".to_owned();
    assert!(matches!(layer_error(&release_policy(), &[l]), CosignError::WrongMediaType { .. }));
    let mut l = good_layer();
    l.descriptor.size += 1;
    assert!(matches!(
        layer_error(&release_policy(), &[l]),
        CosignError::PayloadSizeMismatch { .. }
    ));
    // A layer whose descriptor names the image itself instead of the payload.
    let mut l = good_layer();
    l.descriptor.digest = image_digest();
    assert!(matches!(
        layer_error(&release_policy(), &[l]),
        CosignError::PayloadDigestMismatch { .. }
    ));
}

#[test]
fn attack_docker_reference_under_strict_rules() {
    if !have_openssl() {
        return;
    }
    let k = key(Kind::EcdsaP256, 0);
    let strict = policy(
        &[("release", &k, "")],
        "  - images: [docker.io/linuxkit/*]\n    signers: [release]\n    docker-reference: repository\n",
    );
    let l = signed_layer(&k, "docker.io/evil/kernel", &image_digest());
    assert_eq!(
        layer_error(&strict, std::slice::from_ref(&l)),
        CosignError::DockerReferenceMismatch {
            expected: REPO.to_owned(),
            found: "docker.io/evil/kernel".to_owned()
        }
    );
    // The default (ignore) accepts the same signature, as cosign does.
    assert!(
        render(&release_policy(), &image_digest(), std::slice::from_ref(&l)).starts_with("ok ")
    );
    let exact = policy(
        &[("release", &k, "")],
        "  - images: [docker.io/linuxkit/*]\n    signers: [release]\n    docker-reference: {exact: registry.example/mirror/kernel}\n",
    );
    assert!(matches!(layer_error(&exact, &[l]), CosignError::DockerReferenceMismatch { .. }));
    let mirrored = signed_layer(&k, "registry.example/mirror/kernel", &image_digest());
    assert!(render(&exact, &image_digest(), &[mirrored]).starts_with("ok "));
}

#[test]
fn matching_never_counts_one_layer_twice() {
    // Signers 0 and 1 both verify only layer 0; signer 2 verifies layers 0 and 1.
    let verified = vec![(0, vec![0]), (1, vec![0]), (2, vec![0, 1])];
    let m = max_matching(&verified, 2);
    assert_eq!(m.len(), 2);
    let mut layers: Vec<usize> = m.values().copied().collect();
    layers.sort_unstable();
    assert_eq!(layers, [0, 1]);
    assert_eq!(m.get(&2), Some(&1));
}

// --- Transparency log (Rekor bundle annotation) ---

const LOGGED_AT: i64 = 1_700_000_000;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A trusted root with one Rekor log (test key `log`), valid from 2020-01-01 until `end`.
fn trusted_root(log: &TestKey, end: Option<&str>) -> Vec<u8> {
    let der = log.public_der();
    let key_id = sha2::Sha256::digest(&der);
    let end = end.map_or(String::new(), |e| format!(",\"end\":\"{e}\""));
    format!(
        r#"{{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1","tlogs":[{{"baseUrl":"https://rekor.test","hashAlgorithm":"SHA2_256","publicKey":{{"rawBytes":"{}","keyDetails":"PKIX_ECDSA_P256_SHA_256","validFor":{{"start":"2020-01-01T00:00:00Z"{end}}}}},"logId":{{"keyId":"{}"}}}}],"certificateAuthorities":[],"ctlogs":[]}}"#,
        b64(&der),
        b64(&key_id)
    )
    .into_bytes()
}

/// A hashedrekord 0.0.1 entry body as Rekor canonicalizes it.
fn hashedrekord(payload_sha256_hex: &str, sig_b64: &str, public_pem: &[u8]) -> String {
    format!(
        r#"{{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{{"data":{{"hash":{{"algorithm":"sha256","value":"{payload_sha256_hex}"}}}},"signature":{{"content":"{sig_b64}","publicKey":{{"content":"{}"}}}}}}}}"#,
        b64(public_pem)
    )
}

/// cosign's `dev.sigstore.cosign/bundle` annotation: the SET is made by openssl with `log`
/// over the canonical JSON of the entry; `claimed_time` is what the annotation then says.
fn rekor_bundle(log: &TestKey, body: &str, signed_time: i64, claimed_time: i64) -> String {
    let log_id = hex::encode(sha2::Sha256::digest(log.public_der()));
    let body_b64 = b64(body.as_bytes());
    let canonical = format!(
        r#"{{"body":"{body_b64}","integratedTime":{signed_time},"logID":"{log_id}","logIndex":4242}}"#
    );
    let set = b64(&log.sign(canonical.as_bytes()));
    format!(
        r#"{{"SignedEntryTimestamp":"{set}","Payload":{{"body":"{body_b64}","integratedTime":{claimed_time},"logIndex":4242,"logID":"{log_id}"}}}}"#
    )
}

/// The release key (ECDSA 0) with `tlog:` against a root whose log is ECDSA key 2.
fn tlog_policy(end: Option<&str>) -> Policy {
    let yaml = "version: 1\nsigners:\n  release:\n    cosign-key: {path: release.pub, tlog: {trusted-root: tr.json}}\nrules:\n  - images: [docker.io/linuxkit/*]\n    signers: [release]\n";
    let files = BTreeMap::from([
        ("release.pub".to_owned(), key(Kind::EcdsaP256, 0).public_pem),
        ("tr.json".to_owned(), trusted_root(&key(Kind::EcdsaP256, 2), end)),
    ]);
    PolicyFile::parse("policy.yaml", yaml).unwrap().resolve(&files).unwrap()
}

/// A layer signed by the release key, with a Rekor bundle made by `edit` from the honest one.
fn logged_layer(edit: impl FnOnce(&mut LogParts)) -> SignatureLayer {
    let release = key(Kind::EcdsaP256, 0);
    let body = payload(REPO, &image_digest());
    let sig = release.sign(&body);
    let mut parts = LogParts {
        log: key(Kind::EcdsaP256, 2),
        payload_hash: hex::encode(sha2::Sha256::digest(&body)),
        sig_b64: b64(&sig),
        logged_key: release.public_pem.clone(),
        signed_time: LOGGED_AT,
        claimed_time: LOGGED_AT,
        kind: "hashedrekord",
    };
    edit(&mut parts);
    let entry = hashedrekord(&parts.payload_hash, &parts.sig_b64, &parts.logged_key)
        .replace("\"kind\":\"hashedrekord\"", &format!("\"kind\":\"{}\"", parts.kind));
    let mut l = layer(body, &sig);
    l.descriptor.annotations.insert(
        BUNDLE_ANNOTATION.to_owned(),
        rekor_bundle(&parts.log, &entry, parts.signed_time, parts.claimed_time),
    );
    l
}

struct LogParts {
    log: TestKey,
    payload_hash: String,
    sig_b64: String,
    logged_key: Vec<u8>,
    signed_time: i64,
    claimed_time: i64,
    kind: &'static str,
}

fn tlog_error(layer: SignatureLayer) -> CosignError {
    layer_error(&tlog_policy(None), &[layer])
}

#[test]
fn tlog_entry_verifies_and_is_recorded() {
    if !have_openssl() {
        return;
    }
    let digest = image_digest();
    let l = logged_layer(|_| {});
    let input = ImageInput {
        image: IMAGE,
        repository: REPO,
        digest: &digest,
        cosign_layers: std::slice::from_ref(&l),
        bundles: &[],
        ..ImageInput::default()
    };
    let v = verify(&tlog_policy(None), &input, NOW).unwrap();
    let entry = v.satisfied_by[0].tlog_entry.clone().unwrap();
    assert_eq!((entry.integrated_time, entry.log_index), (LOGGED_AT, 4242));
    assert_eq!(
        entry.log_id,
        hex::encode(sha2::Sha256::digest(key(Kind::EcdsaP256, 2).public_der()))
    );
}

#[test]
fn attack_tlog_required_but_missing() {
    if !have_openssl() {
        return;
    }
    assert_eq!(tlog_error(good_layer()), CosignError::MissingTlogEntry);
}

#[test]
fn attack_tlog_entries() {
    if !have_openssl() {
        return;
    }
    let other_key = key(Kind::EcdsaP256, 1);
    type Edit = Box<dyn FnOnce(&mut LogParts)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "integratedTime edited after signing",
            Box::new(|p| p.claimed_time += 60),
            "SetDoesNotVerify",
        ),
        (
            "SET by a log the root does not list",
            Box::new(move |p| p.log = key(Kind::EcdsaP256, 1)),
            "UnknownLog",
        ),
        (
            "entry for another payload",
            Box::new(|p| p.payload_hash = "00".repeat(32)),
            "PayloadHash",
        ),
        (
            "entry with another signature",
            Box::new(|p| p.sig_b64 = b64(b"other signature")),
            "Signature",
        ),
        (
            "entry logged for another key",
            Box::new(move |p| p.logged_key = other_key.public_pem),
            "PublicKey",
        ),
        ("entry of another kind", Box::new(|p| p.kind = "intoto"), "WrongKind"),
        (
            "entry before the log key's validity",
            Box::new(|p| {
                p.signed_time = 1_000_000_000;
                p.claimed_time = 1_000_000_000;
            }),
            "OutsideValidity",
        ),
    ];
    for (what, edit, expected) in cases {
        let err = tlog_error(logged_layer(edit));
        let CosignError::Tlog(inner) = &err else { panic!("{what}: {err}") };
        assert!(format!("{inner:?}").starts_with(expected), "{what}: {err}");
    }
}

#[test]
fn attack_tlog_after_log_key_expired_and_malformed_bundles() {
    if !have_openssl() {
        return;
    }
    // The root says the log key was retired before the entry's time.
    let err = layer_error(&tlog_policy(Some("2021-01-01T00:00:00Z")), &[logged_layer(|_| {})]);
    assert!(matches!(err, CosignError::Tlog(RekorError::OutsideValidity { .. })), "{err}");
    for bundle in [
        "",
        "{}",
        r#"{"SignedEntryTimestamp":"!!","Payload":{}}"#,
        r#"{"SignedEntryTimestamp":"AA==","Payload":{"body":"e30=","integratedTime":-1,"logIndex":1,"logID":"00"}}"#,
    ] {
        let mut l = good_layer();
        l.descriptor.annotations.insert(BUNDLE_ANNOTATION.to_owned(), bundle.to_owned());
        let err = tlog_error(l);
        assert!(matches!(err, CosignError::Tlog(RekorError::Malformed { .. })), "{bundle}: {err}");
    }
}

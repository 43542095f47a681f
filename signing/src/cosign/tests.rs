//! Tests of cosign payload parsing, signature manifests and per-layer verification.

use expect_test::{Expect, expect};

use super::*;
use crate::keys::PublicKey;
use crate::testutil::{self, Kind, Padding, have_openssl, image_digest, key, layer, payload};

const REF: &str = "127.0.0.1:5000/kit/test";

fn check_payload(json: &str, expect: Expect) {
    let actual = match parse_payload(json.as_bytes()) {
        Ok(p) => format!(
            "ok ref={} digest={} type={} optional={}",
            p.docker_reference,
            p.manifest_digest,
            p.kind,
            p.optional.map_or("none", |v| v.kind())
        ),
        Err(e) => format!("error: {e}"),
    };
    expect.assert_eq(&actual);
}

#[test]
fn payload_as_cosign_writes_it() {
    // The exact bytes sign-cosign-key.sh and cosign's payload.SimpleContainerImage produce.
    let p = String::from_utf8(payload(REF, "sha256:00")).unwrap();
    check_payload(
        &p,
        expect![
            "ok ref=127.0.0.1:5000/kit/test digest=sha256:00 type=cosign container image signature optional=none"
        ],
    );
    check_payload(
        r#"{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"d"},"type":"t"},"optional":{"creator":"ci"}}"#,
        expect!["ok ref=r digest=d type=t optional=object"],
    );
    // The spec's example spells `Docker-manifest-digest`; Go's decoder matches it, so do we.
    check_payload(
        r#"{"critical":{"identity":{"docker-reference":"r"},"image":{"Docker-manifest-digest":"d"},"type":"t"}}"#,
        expect!["ok ref=r digest=d type=t optional=none"],
    );
}

#[test]
fn payload_strictness() {
    check_payload(
        r#"{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"a","docker-manifest-digest":"b"},"type":"t"}}"#,
        expect![
            "error: payload is not valid JSON: duplicate key `docker-manifest-digest` at line 1 column 111"
        ],
    );
    check_payload(
        r#"{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"a","Docker-manifest-digest":"b"},"type":"t"}}"#,
        expect![
            "error: payload is not valid JSON: keys `docker-manifest-digest` and `Docker-manifest-digest` differ only in case at line 1 column 111"
        ],
    );
    check_payload(
        r#"{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"a"},"type":"t","extra":1}}"#,
        expect![
            "error: payload has unknown member `critical.extra`, expected only `identity`, `image`, `type`"
        ],
    );
    check_payload(
        r#"{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"a"},"type":"t"},"signature":"x"}"#,
        expect![
            "error: payload has unknown member `signature`, expected only `critical` and `optional`"
        ],
    );
    check_payload(
        r#"{"critical":{"image":{"docker-manifest-digest":"a"},"type":"t"}}"#,
        expect!["error: payload member `critical.identity` is missing, expected an object"],
    );
    check_payload(
        r#"{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":7},"type":"t"}}"#,
        expect![
            "error: payload member `critical.image.docker-manifest-digest` is number, expected a string"
        ],
    );
    check_payload(
        r#"{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"a"},"type":"t"},"optional":"x"}"#,
        expect!["error: payload member `optional` is string, expected an object or null"],
    );
    check_payload(
        r#"["critical"]"#,
        expect!["error: payload member `(top level)` is array, expected an object"],
    );
    check_payload(
        r#"{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"a"},"type":"t"}}x"#,
        expect!["error: payload is not valid JSON: trailing characters at line 1 column 101"],
    );
    check_payload(
        "",
        expect!["error: payload is not valid JSON: EOF while parsing a value at line 1 column 0"],
    );
    let err = parse_payload(&[0xff, 0xfe]).unwrap_err();
    assert!(matches!(err, CosignError::PayloadNotJson { .. }), "{err}");
    let huge = vec![b' '; MAX_PAYLOAD_BYTES + 1];
    assert_eq!(
        parse_payload(&huge).unwrap_err(),
        CosignError::PayloadTooLarge { size: MAX_PAYLOAD_BYTES + 1, max: MAX_PAYLOAD_BYTES }
    );
}

#[test]
fn signature_tags() {
    let digest = format!("sha256:{}", "ab".repeat(32));
    assert_eq!(signature_tag(&digest).unwrap(), format!("sha256-{}.sig", "ab".repeat(32)));
    for bad in ["sha256:AB", "sha512:00", &format!("sha256:{}", "AB".repeat(32)), "", "sha256:"] {
        assert!(matches!(signature_tag(bad), Err(CosignError::BadDigest { .. })), "{bad}");
    }
}

#[test]
fn signature_manifest_parsing() {
    // Shape written by sign-cosign-key.sh / cosign (compact, one layer per signature).
    let manifest = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":233,"digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000"},"layers":[{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","size":242,"digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111","annotations":{"dev.cosignproject.cosign/signature":"MEUCIQ=="}}]}"#;
    let parsed = SignatureManifest::parse(manifest).unwrap();
    assert_eq!(parsed.layers.len(), 1);
    assert_eq!(parsed.layers[0].size, 242);
    assert_eq!(parsed.layers[0].annotations[SIGNATURE_ANNOTATION], "MEUCIQ==");

    let dup = br#"{"layers":[],"layers":[{"mediaType":"x","digest":"d","size":1}]}"#;
    assert!(matches!(SignatureManifest::parse(dup), Err(CosignError::BadManifest { .. })));
    let one = r#"{"mediaType":"m","digest":"d","size":1}"#;
    let many = format!(r#"{{"layers":[{}]}}"#, vec![one; MAX_LAYERS + 1].join(","));
    assert_eq!(
        SignatureManifest::parse(many.as_bytes()).unwrap_err(),
        CosignError::TooManyLayers { n_layers: MAX_LAYERS + 1, max: MAX_LAYERS }
    );
    let huge = vec![b' '; MAX_MANIFEST_BYTES + 1];
    assert!(matches!(SignatureManifest::parse(&huge), Err(CosignError::ManifestTooLarge { .. })));
    let negative = br#"{"layers":[{"mediaType":"m","digest":"d","size":-1}]}"#;
    assert!(matches!(SignatureManifest::parse(negative), Err(CosignError::BadManifest { .. })));
}

fn verify_with(
    key: &testutil::TestKey,
    scheme: RsaScheme,
    layer: &SignatureLayer,
) -> Result<(), CosignError> {
    let public = PublicKey::from_pem(&key.public_pem).unwrap();
    let digest = image_digest();
    let expected = Expected {
        digest: &digest,
        repository: REF,
        docker_reference: &DockerReferenceRule::Ignore,
    };
    verify_layer(layer, &public, scheme, &expected).map(|_| ())
}

#[test]
fn each_key_type_verifies_openssl_signatures() {
    if !have_openssl() {
        return;
    }
    let p = payload(REF, &image_digest());
    for kind in [Kind::EcdsaP256, Kind::Ed25519, Kind::Rsa2048] {
        let k = key(kind, 0);
        let l = layer(p.clone(), &k.sign(&p));
        assert_eq!(verify_with(&k, RsaScheme::Pkcs1v15Sha256, &l), Ok(()), "{kind:?}");
    }
    let rsa = key(Kind::Rsa2048, 0);
    let pss = layer(p.clone(), &rsa.sign_with(&p, Padding::Pss));
    assert_eq!(verify_with(&rsa, RsaScheme::PssSha256, &pss), Ok(()));
}

#[test]
fn rsa_padding_must_match_the_policy() {
    if !have_openssl() {
        return;
    }
    let rsa = key(Kind::Rsa2048, 0);
    let id = PublicKey::from_pem(&rsa.public_pem).unwrap().id().clone();
    let p = payload(REF, &image_digest());
    let pss = layer(p.clone(), &rsa.sign_with(&p, Padding::Pss));
    let pkcs1 = layer(p.clone(), &rsa.sign(&p));
    // cosign verifies RSA keys with PKCS#1 v1.5 only; PSS needs the policy's `rsa-scheme: pss`.
    let refused = CosignError::SignatureDoesNotVerify { key: id };
    assert_eq!(verify_with(&rsa, RsaScheme::Pkcs1v15Sha256, &pss), Err(refused.clone()));
    assert_eq!(verify_with(&rsa, RsaScheme::PssSha256, &pkcs1), Err(refused));
}

#[test]
fn ecdsa_signature_must_be_der() {
    if !have_openssl() {
        return;
    }
    let ec = key(Kind::EcdsaP256, 0);
    let p = payload(REF, &image_digest());
    let der = ec.sign(&p);
    // Re-encode as raw r||s (what JWS uses): cosign's verifier (ecdsa.VerifyASN1) refuses it.
    let sig = p256::ecdsa::DerSignature::from_bytes(&der).unwrap();
    let raw: p256::ecdsa::Signature = sig.try_into().unwrap();
    let l = layer(p, &raw.to_bytes());
    assert!(matches!(
        verify_with(&ec, RsaScheme::Pkcs1v15Sha256, &l),
        Err(CosignError::SignatureDoesNotVerify { .. })
    ));
}

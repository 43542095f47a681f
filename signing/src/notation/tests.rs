//! Unit tests of the envelope-independent Notation rules: protected header, crit, payload.
//! End-to-end cases with real certificates and signatures are in
//! `signing/tests/notation_fixtures.rs`.

use super::*;

const T: i64 = 1_717_243_200;

fn text(name: &str) -> Label {
    Label::Text(name.to_owned())
}

/// A good `notary.x509` JWS protected header.
fn good() -> Protected {
    Protected {
        alg: Some("ES256".to_owned()),
        algorithm: Some(Algorithm::Es256),
        cty: Some(PAYLOAD_CONTENT_TYPE.to_owned()),
        signing_scheme: Some("notary.x509".to_owned()),
        signing_time: Some(T),
        authentic_signing_time: None,
        expiry: None,
        crit: Some(vec![text(SIGNING_SCHEME)]),
        names: vec![
            text("alg"),
            text("cty"),
            text(SIGNING_SCHEME),
            text(SIGNING_TIME),
            text("crit"),
        ],
    }
}

fn envelope(protected: Protected) -> Envelope {
    Envelope {
        format: "JWS",
        protected,
        certificates: Vec::new(),
        payload: Vec::new(),
        signature: Vec::new(),
        signed_bytes: Vec::new(),
        has_timestamp: false,
        registered: |l| matches!(l, Label::Text(n) if n == "alg" || n == "cty" || n == "crit"),
    }
}

fn check(edit: impl FnOnce(&mut Protected), store: TrustStoreType, expect: &str) {
    let mut p = good();
    edit(&mut p);
    let got = match check_protected(&envelope(p), store) {
        Ok((alg, scheme)) => format!("ok {} {scheme}", alg.name()),
        Err(e) => e.to_string(),
    };
    assert_eq!(got, expect);
}

fn ca(edit: impl FnOnce(&mut Protected), expect: &str) {
    check(edit, TrustStoreType::Ca, expect);
}

#[test]
fn good_header() {
    ca(|_| {}, "ok ES256 notary.x509");
}

#[test]
fn algorithms() {
    ca(
        |p| {
            p.alg = Some("none".to_owned());
            p.algorithm = None;
        },
        "protected header: alg none is not allowed: expected ES256, ES384, ES512, PS256, PS384 or PS512",
    );
    ca(|p| p.alg = None, "protected header: `alg` is missing");
}

#[test]
fn content_type() {
    ca(
        |p| p.cty = Some("application/json".to_owned()),
        "protected header: cty is `application/json`, expected `application/vnd.cncf.notary.payload.v1+json`",
    );
    ca(
        |p| p.cty = None,
        "protected header: cty is missing, expected `application/vnd.cncf.notary.payload.v1+json`",
    );
}

#[test]
fn signing_schemes_and_times() {
    ca(
        |p| p.signing_scheme = Some("notary.default.x509".to_owned()),
        "protected header: signing scheme `notary.default.x509` is not supported: expected `notary.x509` or `notary.x509.signingAuthority`",
    );
    ca(
        |p| p.names.retain(|n| *n != text(SIGNING_TIME)),
        "protected header: signing scheme notary.x509 requires io.cncf.notary.signingTime, which is missing",
    );
    ca(
        |p| p.names.push(text(AUTHENTIC_SIGNING_TIME)),
        "protected header: signing scheme notary.x509 forbids io.cncf.notary.authenticSigningTime",
    );
    let authority = |p: &mut Protected| {
        p.signing_scheme = Some("notary.x509.signingAuthority".to_owned());
        p.names.retain(|n| *n != text(SIGNING_TIME));
        p.names.push(text(AUTHENTIC_SIGNING_TIME));
        p.authentic_signing_time = Some(T);
        p.crit = Some(vec![text(SIGNING_SCHEME), text(AUTHENTIC_SIGNING_TIME)]);
    };
    ca(
        authority,
        "protected header: signing scheme notary.x509.signingAuthority needs a `signingAuthority` trust store, the policy's is of type `ca`",
    );
    check(authority, TrustStoreType::SigningAuthority, "ok ES256 notary.x509.signingAuthority");
    check(
        |p| {
            authority(p);
            p.crit = Some(vec![text(SIGNING_SCHEME)]);
        },
        TrustStoreType::SigningAuthority,
        "protected header: crit does not list io.cncf.notary.authenticSigningTime",
    );
    check(
        |_| {},
        TrustStoreType::SigningAuthority,
        "protected header: signing scheme notary.x509 needs a `ca` trust store, the policy's is of type `signingAuthority`",
    );
}

#[test]
fn crit_rules() {
    ca(|p| p.crit = None, "protected header: crit is missing");
    ca(|p| p.crit = Some(Vec::new()), "protected header: crit is empty");
    ca(
        |p| p.crit = Some(vec![text(SIGNING_SCHEME), text(SIGNING_SCHEME)]),
        "protected header: crit lists `io.cncf.notary.signingScheme` twice",
    );
    ca(
        |p| p.crit = Some(vec![text("x.unknown")]),
        "protected header: crit does not list io.cncf.notary.signingScheme",
    );
    ca(
        |p| {
            p.expiry = Some(T + 3600);
            p.names.push(text(EXPIRY));
        },
        "protected header: crit does not list io.cncf.notary.expiry",
    );
    ca(
        |p| {
            p.names.push(text("x.unknown"));
            p.crit = Some(vec![text(SIGNING_SCHEME), text("x.unknown")]);
        },
        "protected header: unknown critical header `x.unknown`",
    );
    ca(
        |p| p.crit = Some(vec![text(SIGNING_SCHEME), text("x.absent")]),
        "protected header: crit lists `x.absent`, which is not in the header",
    );
    ca(
        |p| p.crit = Some(vec![text(SIGNING_SCHEME), text("alg")]),
        "protected header: crit lists the registered header `alg`",
    );
    ca(
        |p| {
            p.expiry = Some(T + 3600);
            p.names.push(text(EXPIRY));
            p.crit = Some(vec![text(SIGNING_SCHEME), text(EXPIRY)]);
        },
        "ok ES256 notary.x509",
    );
}

fn payload(json: &str, expect: &str) {
    let target = TargetArtifact {
        media_type: "application/vnd.oci.image.manifest.v1+json",
        digest: "sha256:aa",
        size: 401,
    };
    let got = match check_payload(json.as_bytes(), &target) {
        Ok(()) => "ok".to_owned(),
        Err(e) => e.to_string(),
    };
    assert_eq!(got, expect, "{json}");
}

#[test]
fn payloads() {
    let mt = "application/vnd.oci.image.manifest.v1+json";
    payload(
        &format!(
            r#"{{"targetArtifact":{{"mediaType":"{mt}","digest":"sha256:aa","size":401,"annotations":{{"a":"b"}}}}}}"#
        ),
        "ok",
    );
    payload(
        &format!(r#"{{"targetArtifact":{{"mediaType":"{mt}","digest":"sha256:bb","size":401}}}}"#),
        "payload targetArtifact.digest is sha256:bb, expected sha256:aa (the pinned manifest)",
    );
    payload(
        &format!(r#"{{"targetArtifact":{{"mediaType":"{mt}","digest":"sha256:aa","size":402}}}}"#),
        "payload targetArtifact.size is 402, expected 401 (the pinned manifest)",
    );
    payload(
        r#"{"targetArtifact":{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:aa","size":401}}"#,
        "payload targetArtifact.mediaType is `application/vnd.oci.image.index.v1+json`, expected `application/vnd.oci.image.manifest.v1+json` (the pinned manifest)",
    );
    payload(
        &format!(
            r#"{{"targetArtifact":{{"mediaType":"{mt}","digest":"sha256:aa","size":"401"}}}}"#
        ),
        "payload: targetArtifact.size is a string",
    );
    payload(
        &format!(r#"{{"targetArtifact":{{"mediaType":"{mt}","digest":"sha256:aa","size":-1}}}}"#),
        "payload: targetArtifact.size is -1, expected a non-negative integer",
    );
    payload(
        &format!(
            r#"{{"targetArtifact":{{"mediaType":"{mt}","digest":"sha256:aa","digest":"sha256:aa","size":401}}}}"#
        ),
        "payload: not strict JSON (duplicate key `digest` at line 1 column 105)",
    );
    payload(r#"{"other":1}"#, "payload: unexpected member `other`, expected only targetArtifact");
    payload("{}", "payload: targetArtifact is missing or not an object");
}

#[test]
fn envelope_media_types_and_sizes() {
    let store = TrustStore { kind: TrustStoreType::Ca, certificates: Vec::new() };
    let target = TargetArtifact { media_type: "m", digest: "sha256:aa", size: 1 };
    let err = verify_envelope("application/json", b"{}", &store, &[], &target, T).unwrap_err();
    assert_eq!(
        err.to_string(),
        "envelope media type `application/json` is not supported: expected `application/jose+json` or `application/cose`"
    );
    let huge = vec![b' '; MAX_ENVELOPE_BYTES + 1];
    let err = verify_envelope(MEDIA_TYPE_JWS, &huge, &store, &[], &target, T).unwrap_err();
    assert!(matches!(err, NotationError::TooLarge { .. }), "{err}");
}

#[test]
fn trust_store_pem() {
    let err = TrustStore::from_pem_files(TrustStoreType::Ca, &[b"nothing".to_vec()]).unwrap_err();
    assert_eq!(err.to_string(), "trust store: file 0: no PEM `CERTIFICATE` block");
    let unterminated = b"-----BEGIN CERTIFICATE-----\nMAo=\n".to_vec();
    let err = TrustStore::from_pem_files(TrustStoreType::Ca, &[unterminated]).unwrap_err();
    assert_eq!(err.to_string(), "trust store: file 0: a CERTIFICATE block has no END line");
}

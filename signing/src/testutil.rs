//! Test helpers: keys and signatures made by the `openssl` command-line tool at test time (an
//! independent implementation), and cosign-format signature layers built from them.
//!
//! The payload format and annotations follow cosign (`pkg/cosign/payload`, `pkg/oci/static`):
//! compact JSON in the key order cosign's Go structs marshal, standard padded base64 signature.
//! Without openssl, tests that need it print a message and return early, except when the `CI`
//! environment variable is set: then they fail.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::cosign::{
    LayerDescriptor, SIGNATURE_ANNOTATION, SIMPLESIGNING_MEDIA_TYPE, SignatureLayer,
};

/// Key types the tests generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`.
    EcdsaP256,
    /// `openssl genpkey -algorithm ed25519`.
    Ed25519,
    /// `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048`.
    Rsa2048,
    /// RSA 1024 (too small for kit).
    Rsa1024,
    /// EC P-384 (unsupported by kit).
    EcdsaP384,
}

/// A private key (PEM, in memory) and its public key PEM, both from openssl.
#[derive(Debug, Clone)]
pub struct TestKey {
    /// The key type.
    pub kind: Kind,
    /// PKCS#8 private key PEM.
    pub private_pem: Vec<u8>,
    /// SubjectPublicKeyInfo PEM.
    pub public_pem: Vec<u8>,
}

/// Whether openssl runs here; prints why tests skip, and panics under CI.
#[allow(clippy::print_stderr)]
pub fn have_openssl() -> bool {
    static HAVE: OnceLock<bool> = OnceLock::new();
    let have = *HAVE.get_or_init(|| {
        Command::new("openssl")
            .arg("version")
            .output()
            .map(|o| {
                if o.status.success() {
                    eprintln!("using {}", String::from_utf8_lossy(&o.stdout).trim());
                }
                o.status.success()
            })
            .unwrap_or(false)
    });
    if !have {
        assert!(std::env::var_os("CI").is_none(), "openssl is required when CI is set");
        eprintln!("skipping: openssl not found");
    }
    have
}

fn run(args: &[&str], stdin: &[u8]) -> Vec<u8> {
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl starts");
    child.stdin.take().expect("stdin").write_all(stdin).expect("write stdin");
    let out = child.wait_with_output().expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn generate(kind: Kind) -> TestKey {
    let args: &[&str] = match kind {
        Kind::EcdsaP256 => &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        Kind::EcdsaP384 => &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
        Kind::Ed25519 => &["genpkey", "-algorithm", "ed25519"],
        Kind::Rsa2048 => &["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        Kind::Rsa1024 => &["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"],
    };
    let private_pem = run(args, b"");
    let public_pem = run(&["pkey", "-pubout"], &private_pem);
    TestKey { kind, private_pem, public_pem }
}

/// The `idx`-th test key of a kind, generated once per test process.
pub fn key(kind: Kind, idx: usize) -> TestKey {
    static KEYS: OnceLock<Mutex<BTreeMap<(Kind, usize), TestKey>>> = OnceLock::new();
    let keys = KEYS.get_or_init(|| Mutex::new(BTreeMap::new()));
    let mut keys = keys.lock().unwrap_or_else(|e| e.into_inner());
    keys.entry((kind, idx)).or_insert_with(|| generate(kind)).clone()
}

/// RSA padding for [`TestKey::sign_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// PKCS#1 v1.5 (openssl's default).
    Pkcs1,
    /// PSS, salt length = digest length.
    Pss,
}

impl TestKey {
    /// Signs `message` as cosign does for this key type.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.sign_with(message, Padding::Pkcs1)
    }

    /// Signs `message`; `padding` matters for RSA keys only.
    pub fn sign_with(&self, message: &[u8], padding: Padding) -> Vec<u8> {
        let dir = tempfile::tempdir().expect("tempdir");
        let key_path = dir.path().join("key.pem");
        let msg_path = dir.path().join("msg");
        std::fs::write(&key_path, &self.private_pem).expect("write key");
        std::fs::write(&msg_path, message).expect("write message");
        let key = key_path.to_str().expect("utf-8 path");
        let msg = msg_path.to_str().expect("utf-8 path");
        match (self.kind, padding) {
            (Kind::Ed25519, _) => {
                run(&["pkeyutl", "-sign", "-rawin", "-inkey", key, "-in", msg], b"")
            }
            (Kind::Rsa2048 | Kind::Rsa1024, Padding::Pss) => run(
                &[
                    "dgst",
                    "-sha256",
                    "-sign",
                    key,
                    "-sigopt",
                    "rsa_padding_mode:pss",
                    "-sigopt",
                    "rsa_pss_saltlen:digest",
                    msg,
                ],
                b"",
            ),
            _ => run(&["dgst", "-sha256", "-sign", key, msg], b""),
        }
    }

    /// The public key PEM as text.
    pub fn public_text(&self) -> String {
        String::from_utf8(self.public_pem.clone()).expect("PEM is ASCII")
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The pinned digest used by most tests: the digest of a made-up image manifest.
pub fn image_digest() -> String {
    digest_of(b"{\"schemaVersion\":2,\"note\":\"kit test image\"}")
}

/// A simple-signing payload exactly as cosign writes it.
pub fn payload(docker_reference: &str, digest: &str) -> Vec<u8> {
    format!(
        "{{\"critical\":{{\"identity\":{{\"docker-reference\":\"{docker_reference}\"}},\"image\":{{\"docker-manifest-digest\":\"{digest}\"}},\"type\":\"cosign container image signature\"}},\"optional\":null}}"
    )
    .into_bytes()
}

/// A signature layer for `payload` with the base64 signature annotation `signature_b64`.
pub fn layer_with_b64(payload: Vec<u8>, signature_b64: &str) -> SignatureLayer {
    let mut annotations = BTreeMap::new();
    annotations.insert(SIGNATURE_ANNOTATION.to_owned(), signature_b64.to_owned());
    SignatureLayer {
        descriptor: LayerDescriptor {
            media_type: SIMPLESIGNING_MEDIA_TYPE.to_owned(),
            digest: digest_of(&payload),
            size: u64::try_from(payload.len()).expect("small payload"),
            annotations,
        },
        payload,
    }
}

/// A signature layer for `payload` with signature bytes `signature`.
pub fn layer(payload: Vec<u8>, signature: &[u8]) -> SignatureLayer {
    let b64 = base64::engine::general_purpose::STANDARD.encode(signature);
    layer_with_b64(payload, &b64)
}

/// A layer signed by `key` over the cosign payload for `reference` and `digest`.
pub fn signed_layer(key: &TestKey, reference: &str, digest: &str) -> SignatureLayer {
    let p = payload(reference, digest);
    let sig = key.sign(&p);
    layer(p, &sig)
}

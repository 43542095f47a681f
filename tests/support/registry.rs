//! Test harness: a real `docker-registry` (distribution 2.8) on 127.0.0.1, a connection-cutting
//! TCP proxy, and OCI layouts built in the test and pushed with `skopeo copy`.
//!
//! The registry runs in one of three modes: plain HTTP, TLS with a CA made by `openssl` for the
//! test, or htpasswd basic auth (bcrypt line from `htpasswd -B`). It is killed on drop. Tools
//! that are missing skip the test with a message, unless `CI` is set, when the test fails.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sha2::Digest as _;

/// True when every tool is installed; otherwise prints a skip message, or panics under `CI`.
pub fn require_tools(tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|tool| {
            !Command::new("sh")
                .arg("-c")
                .arg(format!("command -v {tool}"))
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("required tools missing under CI: {missing:?}");
    }
    eprintln!("SKIP: tools missing: {missing:?}");
    false
}

/// How the registry is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Plain HTTP.
    Http,
    /// HTTPS with a certificate from a CA the harness generates.
    Tls,
    /// Plain HTTP with htpasswd basic auth for one user.
    Htpasswd { user: String, password: String },
}

/// A running registry.
pub struct Registry {
    child: Option<Child>,
    /// `127.0.0.1:port`.
    pub addr: String,
    /// Directory holding config, storage and certificates.
    pub dir: tempfile::TempDir,
    /// The CA certificate (PEM) for TLS mode.
    pub ca_cert: Option<PathBuf>,
    /// The mode.
    pub mode: Mode,
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

fn run(command: &mut Command) -> String {
    let output = command.output().unwrap_or_else(|e| panic!("running {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

impl Registry {
    /// Starts a registry, or returns `None` when a needed tool is missing (outside CI).
    pub fn start(mode: Mode) -> Option<Registry> {
        let mut tools = vec!["docker-registry", "skopeo"];
        match mode {
            Mode::Tls => tools.push("openssl"),
            Mode::Htpasswd { .. } => tools.push("htpasswd"),
            Mode::Http => {}
        }
        if !require_tools(&tools) {
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let root = dir.path();
        let mut extra = String::new();
        let mut ca_cert = None;
        match &mode {
            Mode::Http => {}
            Mode::Tls => {
                let (ca, cert, key) = make_certificates(root);
                extra.push_str(&format!(
                    "  tls:\n    certificate: {}\n    key: {}\n",
                    cert.display(),
                    key.display()
                ));
                ca_cert = Some(ca);
            }
            Mode::Htpasswd { user, password } => {
                let line = run(Command::new("htpasswd").args(["-Bbn", user, password]));
                let path = root.join("htpasswd");
                std::fs::write(&path, line.trim()).expect("write htpasswd");
                extra = format!(
                    "auth:\n  htpasswd:\n    realm: kit-test\n    path: {}\n",
                    path.display()
                );
            }
        }
        let (http_extra, auth_extra) = match mode {
            Mode::Tls => (extra, String::new()),
            _ => (String::new(), extra),
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: {addr}\n{http_extra}{auth_extra}",
            root.join("storage").display()
        );
        std::fs::write(root.join("config.yml"), config).expect("write registry config");
        let mut registry = Registry { child: None, addr, dir, ca_cert, mode };
        registry.spawn();
        Some(registry)
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("registry.log")).expect("log file");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(self.dir.path().join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if TcpStream::connect(&self.addr).is_ok() {
                return;
            }
            if let Some(child) = &mut self.child
                && let Ok(Some(status)) = child.try_wait()
            {
                let log = std::fs::read_to_string(self.dir.path().join("registry.log"))
                    .unwrap_or_default();
                panic!("docker-registry exited with {status}: {log}");
            }
            assert!(Instant::now() < deadline, "docker-registry did not listen on {}", self.addr);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the registry (the storage stays).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port with the same storage.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// The registry's storage directory.
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// The path of a blob's data in the storage (distribution's filesystem driver layout).
    pub fn blob_data_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
        self.storage()
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// Pushes `layout:tag` (all platforms of an index) to `repo:dest_tag` with skopeo.
    pub fn push(&self, layout: &Path, tag: &str, repo: &str, dest_tag: &str) {
        let mut command = Command::new("skopeo");
        command.args(["copy", "--all", "--quiet", "--preserve-digests"]);
        command.arg("--dest-tls-verify=false");
        if let Mode::Htpasswd { user, password } = &self.mode {
            command.arg(format!("--dest-creds={user}:{password}"));
        }
        command.arg(format!("oci:{}:{tag}", layout.display()));
        command.arg(format!("docker://{}/{repo}:{dest_tag}", self.addr));
        run(&mut command);
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

fn make_certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ca_key = dir.join("ca.key");
    let ca = dir.join("ca.pem");
    let key = dir.join("server.key");
    let csr = dir.join("server.csr");
    let cert = dir.join("server.pem");
    let ext = dir.join("server.ext");
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    run(Command::new("openssl")
        .args(["req", "-x509"])
        .args(ec)
        .arg("-keyout")
        .arg(&ca_key)
        .arg("-out")
        .arg(&ca)
        .args(["-days", "2", "-subj", "/CN=kit test CA"]));
    run(Command::new("openssl")
        .arg("req")
        .args(ec)
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&csr)
        .args(["-subj", "/CN=127.0.0.1"]));
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write ext");
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
        .arg("-in")
        .arg(&csr)
        .arg("-CA")
        .arg(&ca)
        .arg("-CAkey")
        .arg(&ca_key)
        .arg("-out")
        .arg(&cert)
        .arg("-extfile")
        .arg(&ext));
    (ca, cert, key)
}

/// A TCP proxy in front of the registry that can cut responses after a number of bytes.
pub struct CutProxy {
    /// `127.0.0.1:port`.
    pub addr: String,
    /// While true, each connection's upstream-to-client stream is cut after `cut_after` bytes.
    pub cutting: Arc<AtomicBool>,
    /// Connections cut so far.
    pub cuts: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl CutProxy {
    /// Starts a proxy to `upstream`.
    pub fn start(upstream: &str, cut_after: u64) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("addr").to_string();
        let cutting = Arc::new(AtomicBool::new(true));
        let cuts = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let upstream = upstream.to_owned();
        let (cutting2, cuts2, stop2) = (cutting.clone(), cuts.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(&upstream) else { continue };
                let (c_read, s_write) =
                    (client.try_clone().expect("clone"), server.try_clone().expect("clone"));
                std::thread::spawn(move || pipe(c_read, s_write, None, None));
                let limit = cutting2.load(Ordering::SeqCst).then_some(cut_after);
                let cuts = cuts2.clone();
                std::thread::spawn(move || pipe(server, client, limit, Some(cuts)));
            }
        });
        CutProxy { addr, cutting, cuts, stop }
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr);
    }
}

fn pipe(
    mut from: TcpStream,
    mut to: TcpStream,
    limit: Option<u64>,
    cuts: Option<Arc<AtomicUsize>>,
) {
    let mut buf = [0u8; 16 * 1024];
    let mut total: u64 = 0;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut n_send = n;
        if let Some(limit) = limit {
            let room = limit.saturating_sub(total);
            if (n as u64) > room {
                n_send = room as usize;
                let _ = to.write_all(&buf[..n_send]);
                if let Some(cuts) = &cuts {
                    cuts.fetch_add(1, Ordering::SeqCst);
                }
                break;
            }
        }
        if to.write_all(&buf[..n_send]).is_err() {
            break;
        }
        total += n_send as u64;
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

/// A blob of a test image.
pub struct Blob {
    /// `sha256:<hex>`.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
    /// Media type.
    pub media_type: String,
}

/// Writes `bytes` into `layout/blobs/sha256/` and returns its descriptor fields.
pub fn write_blob(layout: &Path, media_type: &str, bytes: &[u8]) -> Blob {
    let hex = hex::encode(sha2::Sha256::digest(bytes));
    let dir = layout.join("blobs/sha256");
    std::fs::create_dir_all(&dir).expect("blobs dir");
    std::fs::write(dir.join(&hex), bytes).expect("write blob");
    Blob {
        digest: format!("sha256:{hex}"),
        size: bytes.len() as u64,
        media_type: media_type.to_owned(),
    }
}

/// A gzip-compressed tar layer with the given regular files; returns (layer blob, diff_id).
pub fn write_layer(layout: &Path, files: &[(&str, &[u8])]) -> (Blob, String) {
    let mut tar = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, path, *data).expect("append");
    }
    let tar = tar.into_inner().expect("tar");
    let diff_id = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&tar)));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).expect("gzip");
    let gz = gz.finish().expect("gzip");
    (write_blob(layout, "application/vnd.oci.image.layer.v1.tar+gzip", &gz), diff_id)
}

fn descriptor_json(blob: &Blob) -> serde_json::Value {
    serde_json::json!({"mediaType": blob.media_type, "digest": blob.digest, "size": blob.size})
}

/// Writes a single-platform image (config + one layer per entry of `layers`) into `layout`
/// and returns the manifest blob.
pub fn write_image(layout: &Path, arch: &str, layers: &[&[(&str, &[u8])]]) -> Blob {
    let mut layer_blobs = Vec::new();
    let mut diff_ids = Vec::new();
    for files in layers {
        let (blob, diff_id) = write_layer(layout, files);
        layer_blobs.push(blob);
        diff_ids.push(diff_id);
    }
    let config = serde_json::json!({
        "architecture": arch,
        "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let config = write_blob(
        layout,
        "application/vnd.oci.image.config.v1+json",
        &serde_json::to_vec(&config).expect("json"),
    );
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": descriptor_json(&config),
        "layers": layer_blobs.iter().map(descriptor_json).collect::<Vec<_>>(),
    });
    write_blob(
        layout,
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::to_vec(&manifest).expect("json"),
    )
}

/// Writes an index of `manifests` (each with its architecture) into `layout`.
pub fn write_index(layout: &Path, manifests: &[(&str, &Blob)]) -> Blob {
    let entries: Vec<serde_json::Value> = manifests
        .iter()
        .map(|(arch, blob)| {
            let mut d = descriptor_json(blob);
            d["platform"] = serde_json::json!({"architecture": arch, "os": "linux"});
            d
        })
        .collect();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": entries,
    });
    write_blob(
        layout,
        "application/vnd.oci.image.index.v1+json",
        &serde_json::to_vec(&index).expect("json"),
    )
}

/// Names `root` as `tag` in the layout's `index.json` (replacing the file) and writes `oci-layout`.
pub fn tag_layout(layout: &Path, tag: &str, root: &Blob) {
    let mut d = descriptor_json(root);
    d["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": tag});
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [d]});
    std::fs::write(layout.join("index.json"), serde_json::to_vec(&index).expect("json"))
        .expect("index");
    std::fs::write(layout.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)
        .expect("oci-layout");
}

/// Deterministic pseudo-random bytes (xorshift), incompressible enough for size tests.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x & 0xff) as u8
        })
        .collect()
}

/// One plain-HTTP/1.1 request to `addr` (`Connection: close`); returns the status, the headers
/// (lowercase names) and the body.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).expect("connect to the registry");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(content_type) = content_type {
        head.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("send request");
    stream.write_all(body).expect("send body");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("read answer");
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").expect("HTTP answer head");
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    let mut body = answer[split + 4..].to_vec();
    let mut lines = head.lines();
    let status: u16 =
        lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    if headers.iter().any(|(k, v)| k == "transfer-encoding" && v.contains("chunked")) {
        body = dechunk(&body);
    }
    (status, headers, body)
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = body.windows(2).position(|w| w == b"\r\n") else { return out };
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&body[..eol]).split(';').next().unwrap_or("0").trim(),
            16,
        )
        .unwrap_or(0);
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[eol + 2..eol + 2 + size]);
        body = &body[eol + 2 + size + 2..];
    }
}

impl Registry {
    /// Uploads a blob to `repo` (POST, then a monolithic PUT); returns its digest.
    pub fn push_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)));
        let (status, headers, body) =
            http(&self.addr, "POST", &format!("/v2/{repo}/blobs/uploads/"), None, &[]);
        assert_eq!(status, 202, "starting an upload: {}", String::from_utf8_lossy(&body));
        let location = headers
            .iter()
            .find(|(k, _)| k == "location")
            .map(|(_, v)| v.clone())
            .expect("upload location");
        let path = location.split_once(&self.addr).map_or(location.as_str(), |(_, p)| p);
        let separator = if path.contains('?') { '&' } else { '?' };
        let (status, _, body) = http(
            &self.addr,
            "PUT",
            &format!("{path}{separator}digest={digest}"),
            Some("application/octet-stream"),
            bytes,
        );
        assert_eq!(status, 201, "uploading {digest}: {}", String::from_utf8_lossy(&body));
        digest
    }

    /// Stores a manifest or index under `reference` (tag or digest); returns its digest.
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> String {
        let (status, _, body) = http(
            &self.addr,
            "PUT",
            &format!("/v2/{repo}/manifests/{reference}"),
            Some(media_type),
            bytes,
        );
        assert_eq!(status, 201, "storing manifest {reference}: {}", String::from_utf8_lossy(&body));
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
    }
}

/// A canned answer of the fake referrers API.
#[derive(Clone)]
pub struct ReferrersPage {
    /// The body (an image index).
    pub body: Vec<u8>,
    /// The `Link` header, if any.
    pub link: Option<String>,
}

/// An HTTP front for a registry that lacks the OCI 1.1 referrers API: it answers
/// `GET /v2/<repo>/referrers/<digest>[?query]` from `pages` (keyed by that path and query;
/// a plain-text 404 when absent, as distribution answers) and passes every other request to the
/// registry, asking it to close the connection after answering so each request is routed anew.
pub struct ReferrersFront {
    /// `127.0.0.1:port`.
    pub addr: String,
    /// The canned answers.
    pub pages: Arc<std::sync::Mutex<std::collections::BTreeMap<String, ReferrersPage>>>,
    /// The referrers paths asked for, in order.
    pub asked: Arc<std::sync::Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl ReferrersFront {
    /// Starts a front for the registry at `upstream`.
    pub fn start(upstream: &str) -> ReferrersFront {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind front");
        let addr = listener.local_addr().expect("addr").to_string();
        let pages: Arc<std::sync::Mutex<std::collections::BTreeMap<String, ReferrersPage>>> =
            Arc::default();
        let asked: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let upstream = upstream.to_owned();
        let (pages2, asked2, stop2) = (pages.clone(), asked.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let (pages, asked, upstream) = (pages2.clone(), asked2.clone(), upstream.clone());
                std::thread::spawn(move || serve_front(client, &upstream, &pages, &asked));
            }
        });
        ReferrersFront { addr, pages, asked, stop }
    }

    /// Sets the answer for `path` (`/v2/<repo>/referrers/<digest>[?query]`).
    pub fn answer(&self, path: &str, body: Vec<u8>, link: Option<String>) {
        self.pages.lock().unwrap().insert(path.to_owned(), ReferrersPage { body, link });
    }
}

impl Drop for ReferrersFront {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr);
    }
}

fn serve_front(
    mut client: TcpStream,
    upstream: &str,
    pages: &std::sync::Mutex<std::collections::BTreeMap<String, ReferrersPage>>,
    asked: &std::sync::Mutex<Vec<String>>,
) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match client.read(&mut byte) {
            // A TLS ClientHello (the client tries HTTPS first on loopback): refuse it as a
            // plain-HTTP server does, so the client falls back to HTTP.
            Ok(1) if head.is_empty() && byte[0] == 0x16 => {
                let _ = client.write_all(b"HTTP/1.0 400 Bad Request\r\n\r\n");
                let _ = client.shutdown(Shutdown::Both);
                return;
            }
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut words = text.split(' ');
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or("").to_owned());
    if method == "GET" && path.contains("/referrers/") {
        asked.lock().unwrap().push(path.clone());
        let page = pages.lock().unwrap().get(&path).cloned();
        let answer = match page {
            Some(page) => {
                let mut head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.index.v1+json\r\nContent-Length: {}\r\nConnection: close\r\n",
                    page.body.len()
                );
                if let Some(link) = page.link {
                    head.push_str(&format!("Link: {link}\r\n"));
                }
                head.push_str("\r\n");
                [head.into_bytes(), page.body].concat()
            }
            None => b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 19\r\nConnection: close\r\n\r\n404 page not found\n".to_vec(),
        };
        let _ = client.write_all(&answer);
        let _ = client.shutdown(Shutdown::Both);
        return;
    }
    let Ok(mut server) = TcpStream::connect(upstream) else { return };
    let rewritten: String = text
        .split("\r\n")
        .filter(|line| !line.to_ascii_lowercase().starts_with("connection:"))
        .filter(|line| !line.is_empty())
        .map(|line| format!("{line}\r\n"))
        .collect::<String>()
        + "Connection: close\r\n\r\n";
    if server.write_all(rewritten.as_bytes()).is_err() {
        return;
    }
    let (c_read, s_write) =
        (client.try_clone().expect("clone"), server.try_clone().expect("clone"));
    std::thread::spawn(move || pipe(c_read, s_write, None, None));
    pipe(server, client, None, None);
}

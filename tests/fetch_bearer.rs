//! Bearer-token authentication end to end: a plain `docker-registry` on 127.0.0.1 behind a small
//! token-protecting HTTP front written here. The front answers `/v2/…` without the issued token
//! with a `WWW-Authenticate: Bearer` challenge, issues the token at `/token` only for the right
//! HTTP Basic credentials and scope, and forwards authorized requests to the real registry.

#[path = "support/registry.rs"]
mod registry;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use base64::Engine as _;
use kit::cache::Cache;
use kit::fetch::{
    Anonymous, ClientOptions, Credential, CredentialProvider, NoProgress, Registry, RetryPolicy,
    StaticCredentials,
};
use kit::oci::Platform;
use kit::reference::Reference;
use registry::{Mode, Registry as TestRegistry, tag_layout, write_image};

const USER: &str = "kit";
const PASSWORD: &str = "s3cret";
const SERVICE: &str = "kit-test";
const TOKEN: &str = "kit-test-token-7f3a9c21e5b84d06";
const REPO: &str = "kit/bearer";
/// Connections served at the same time; more are closed at once.
const MAX_CONNECTIONS: usize = 32;

/// One call of the token endpoint, as received.
#[derive(Debug, Clone)]
struct TokenCall {
    /// Decoded query parameters.
    query: BTreeMap<String, String>,
    /// `user:password` from the Basic `Authorization` header, if any.
    basic: Option<String>,
}

/// What the front saw.
#[derive(Default)]
struct Seen {
    token_calls: Mutex<Vec<TokenCall>>,
    challenges: AtomicUsize,
    forwarded: AtomicUsize,
}

/// The token-protecting front. Stops (and joins its threads) on drop.
struct TokenFront {
    addr: String,
    seen: Arc<Seen>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl TokenFront {
    fn start(upstream: &str) -> TokenFront {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind token front");
        let addr = listener.local_addr().expect("addr").to_string();
        let seen = Arc::new(Seen::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (seen2, stop2, addr2, upstream) =
            (seen.clone(), stop.clone(), addr.clone(), upstream.to_owned());
        let accept = std::thread::spawn(move || {
            let active = Arc::new(AtomicUsize::new(0));
            let mut workers: Vec<JoinHandle<()>> = Vec::new();
            for client in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                workers.retain(|w| !w.is_finished());
                if active.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                active.fetch_add(1, Ordering::SeqCst);
                let (seen, active, addr, upstream) =
                    (seen2.clone(), active.clone(), addr2.clone(), upstream.clone());
                workers.push(std::thread::spawn(move || {
                    serve(client, &addr, &upstream, &seen);
                    active.fetch_sub(1, Ordering::SeqCst);
                }));
            }
            for worker in workers {
                let _ = worker.join();
            }
        });
        TokenFront { addr, seen, stop, accept: Some(accept) }
    }

    fn token_calls(&self) -> Vec<TokenCall> {
        self.seen.token_calls.lock().unwrap().clone()
    }
}

impl Drop for TokenFront {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// A parsed request head.
struct Request {
    method: String,
    target: String,
    /// Header names in lower case, in order.
    headers: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Reads one request head; `None` for anything that is not HTTP/1.1 text (such as the TLS
/// ClientHello of the client's HTTPS attempt on loopback), which closes the connection.
fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 64 * 1024 || stream.read(&mut byte).ok()? == 0 {
            return None;
        }
        if head.is_empty() && !byte[0].is_ascii_uppercase() {
            return None;
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let target = request_line.next()?.to_owned();
    let headers = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Some(Request { method, target, headers })
}

fn respond(stream: &mut TcpStream, status: &str, extra_headers: &[(&str, String)], body: &str) {
    let mut out = format!("HTTP/1.1 {status}\r\n");
    for (name, value) in extra_headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    let _ = stream.write_all(out.as_bytes());
}

fn error_body(code: &str, message: &str) -> String {
    serde_json::json!({"errors": [{"code": code, "message": message}]}).to_string()
}

/// Serves one request on `client` (one request per connection; every answer says
/// `Connection: close`).
fn serve(mut client: TcpStream, front: &str, upstream: &str, seen: &Seen) {
    let timeout = Some(Duration::from_secs(20));
    let _ = client.set_read_timeout(timeout);
    let _ = client.set_write_timeout(timeout);
    let Some(request) = read_request(&mut client) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    if request.target.starts_with("/token") {
        serve_token(&mut client, &request, seen);
    } else if request.target.starts_with("/v2/") {
        if request.header("authorization") == Some(&format!("Bearer {TOKEN}")) {
            seen.forwarded.fetch_add(1, Ordering::SeqCst);
            forward(&mut client, &request, upstream);
        } else {
            seen.challenges.fetch_add(1, Ordering::SeqCst);
            let mut challenge =
                format!(r#"Bearer realm="http://{front}/token",service="{SERVICE}""#);
            if let Some(repo) = repository_of(&request.target) {
                challenge.push_str(&format!(r#",scope="repository:{repo}:pull""#));
            }
            respond(
                &mut client,
                "401 Unauthorized",
                &[("WWW-Authenticate", challenge)],
                &error_body("UNAUTHORIZED", "authentication required"),
            );
        }
    } else {
        respond(&mut client, "404 Not Found", &[], &error_body("NOT_FOUND", "no such path"));
    }
    let _ = client.shutdown(Shutdown::Both);
}

/// The repository of `/v2/<repo>/manifests/…` or `/v2/<repo>/blobs/…`.
fn repository_of(target: &str) -> Option<&str> {
    let rest = target.strip_prefix("/v2/")?;
    ["/manifests/", "/blobs/", "/tags/"].iter().find_map(|kind| rest.find(kind).map(|i| &rest[..i]))
}

fn serve_token(client: &mut TcpStream, request: &Request, seen: &Seen) {
    let url = reqwest::Url::parse(&format!("http://front{}", request.target)).expect("token url");
    let query: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
    let basic = request
        .header("authorization")
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok());
    seen.token_calls.lock().unwrap().push(TokenCall { query: query.clone(), basic: basic.clone() });
    let wanted_scope = format!("repository:{REPO}:pull");
    if basic.as_deref() != Some(&format!("{USER}:{PASSWORD}")) {
        respond(
            client,
            "401 Unauthorized",
            &[],
            &error_body("UNAUTHORIZED", "wrong user name or password"),
        );
    } else if query.get("scope") != Some(&wanted_scope)
        || query.get("service").map(String::as_str) != Some(SERVICE)
    {
        respond(
            client,
            "403 Forbidden",
            &[],
            &error_body("DENIED", "scope or service not granted"),
        );
    } else {
        let body = serde_json::json!({"token": TOKEN, "expires_in": 300}).to_string();
        respond(client, "200 OK", &[], &body);
    }
}

/// Sends `request` to the real registry without `Authorization`, with `Connection: close`, and
/// copies its whole answer (status, headers, body) to `client`.
fn forward(client: &mut TcpStream, request: &Request, upstream: &str) {
    let Ok(mut server) = TcpStream::connect(upstream) else {
        respond(client, "502 Bad Gateway", &[], &error_body("UNAVAILABLE", "upstream down"));
        return;
    };
    let _ = server.set_read_timeout(Some(Duration::from_secs(20)));
    let mut out = format!("{} {} HTTP/1.1\r\nHost: {upstream}\r\n", request.method, request.target);
    for (name, value) in &request.headers {
        if !matches!(name.as_str(), "authorization" | "host" | "connection" | "keep-alive") {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    if server.write_all(out.as_bytes()).is_err() {
        return;
    }
    let _ = std::io::copy(&mut server, client);
}

fn fast_retry(attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts: attempts,
        initial_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        max_total_delay: Duration::from_secs(2),
    }
}

fn client_with(credentials: Arc<dyn CredentialProvider>) -> Registry {
    let options = ClientOptions { retry: fast_retry(2), ..ClientOptions::default() };
    Registry::new(options, credentials, Arc::new(NoProgress)).expect("registry client")
}

fn basic(registry: &str, password: &str) -> Arc<dyn CredentialProvider> {
    let mut credentials = StaticCredentials::default();
    credentials.by_registry.insert(
        registry.to_owned(),
        Credential::Basic { username: USER.into(), password: password.into() },
    );
    Arc::new(credentials)
}

#[test]
fn bearer_token_auth_end_to_end() {
    let Some(registry) = TestRegistry::start(Mode::Http) else { return };
    let layout = tempfile::tempdir().unwrap();
    let manifest = write_image(
        layout.path(),
        "amd64",
        &[&[("etc/hostname", b"kit\n")], &[("data/payload.bin", &registry::noise(50_000, 9))]],
    );
    tag_layout(layout.path(), "t", &manifest);
    registry.push(layout.path(), "t", REPO, "1");
    // The layer digests as written, read back from the layout independently of kit.
    let manifest_json: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            layout
                .path()
                .join("blobs/sha256")
                .join(manifest.digest.strip_prefix("sha256:").unwrap()),
        )
        .unwrap(),
    )
    .unwrap();
    let layer_digests: Vec<String> = manifest_json["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_owned())
        .collect();

    let front = TokenFront::start(&registry.addr);
    let image: Reference = format!("{}/{REPO}:1", front.addr).parse().unwrap();
    let amd64 = [Platform::linux("amd64")];
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(cache_dir.path()).unwrap();

    // Wrong password: the token endpoint refuses, and the error names image and registry.
    let err = client_with(basic(&front.addr, "wrong"))
        .pull(&cache, &image, &amd64)
        .unwrap_err()
        .to_string();
    assert!(err.contains("refused access") && err.contains("token endpoint"), "{err}");
    assert!(err.contains(&image.to_string()) && err.contains(&front.addr), "{err}");
    let calls = front.token_calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].basic.as_deref(), Some("kit:wrong"));

    // Anonymous: the token endpoint is asked without credentials and refuses too.
    let err =
        client_with(Arc::new(Anonymous)).pull(&cache, &image, &amd64).unwrap_err().to_string();
    assert!(err.contains("refused access") && err.contains("no credentials"), "{err}");
    assert!(err.contains(&image.to_string()) && err.contains(&front.addr), "{err}");
    let calls = front.token_calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[1].basic, None);
    assert_eq!(front.seen.forwarded.load(Ordering::SeqCst), 0, "nothing reached the registry");
    assert!(cache.list().unwrap().is_empty(), "failed pulls cache nothing");

    // Right credentials: token exchanges with the challenge's scope and service, then the pull
    // goes through with the bearer token and every blob verifies.
    let pulled = client_with(basic(&front.addr, PASSWORD)).pull(&cache, &image, &amd64).unwrap();
    assert_eq!(pulled.root.digest.to_string(), manifest.digest);
    let layers = pulled.platforms[0].layers();
    let pulled_digests: Vec<String> = layers.iter().map(|l| l.digest.to_string()).collect();
    assert_eq!(pulled_digests, layer_digests);
    for layer in layers {
        let mut reader = cache.layout().read_blob(&layer.digest, Some(layer.size)).unwrap();
        std::io::copy(&mut reader, &mut std::io::sink()).expect("cached layer verifies");
    }
    // Blobs download in parallel, so a second exchange racing the first is allowed; every one
    // must carry the right credentials, scope and service.
    let calls = front.token_calls();
    assert!(calls.len() >= 3, "no token exchange with the right credentials: {calls:?}");
    for call in &calls[2..] {
        assert_eq!(call.basic.as_deref(), Some("kit:s3cret"));
        assert_eq!(call.query.get("scope").map(String::as_str), Some("repository:kit/bearer:pull"));
        assert_eq!(call.query.get("service").map(String::as_str), Some(SERVICE));
    }
    assert!(front.seen.challenges.load(Ordering::SeqCst) >= 3, "each client was challenged");
    // Manifest plus config plus two layers at least went through with the token.
    assert!(front.seen.forwarded.load(Ordering::SeqCst) >= 4);
    assert_eq!(
        cache.lookup(&image.to_string()).unwrap().unwrap().digest.to_string(),
        manifest.digest
    );
}

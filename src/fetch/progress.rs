//! Progress events from fetching, and two renderers: plain log lines and JSON lines.
//!
//! The library emits [`FetchEvent`]s through a [`ProgressSink`]; it never prints. The CLI picks a
//! renderer: [`PlainProgress`] for logs (one line per blob start, finish, retry or failure),
//! [`JsonProgress`] for `--progress json` (every event, `bytes` events at most every 1 MiB per
//! blob), and its own indicatif bars on a terminal (the bars stay in the CLI, which owns the
//! terminal: one bar per blob driven by `bytes_done`/`bytes_total`).

use std::io::Write;
use std::sync::Mutex;

use serde::Serialize;

use crate::digest::Digest;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FetchState {
    /// Asking the registry which digest a reference names.
    Resolving,
    /// The reference resolved; `blob` is the root digest.
    Resolved,
    /// A blob download started.
    Started,
    /// More bytes of a blob arrived.
    Bytes,
    /// A blob was already in the cache.
    Cached,
    /// A blob was downloaded, verified and stored.
    Done,
    /// A request failed and will be retried.
    Retrying,
    /// A blob download failed for good.
    Failed,
}

/// One progress event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FetchEvent {
    /// The image, as its fully expanded reference.
    pub image: String,
    /// The blob concerned, if any.
    pub blob: Option<Digest>,
    /// Bytes of the blob received and verified so far.
    pub bytes_done: u64,
    /// The blob's size from its descriptor, when known.
    pub bytes_total: Option<u64>,
    /// What happened.
    pub state: FetchState,
    /// For `Retrying` and `Failed`: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Receives progress events; called from download tasks, so it must be cheap and thread-safe.
pub trait ProgressSink: Send + Sync {
    /// Handles one event.
    fn event(&self, event: &FetchEvent);
}

/// Ignores every event.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl ProgressSink for NoProgress {
    fn event(&self, _: &FetchEvent) {}
}

/// Writes one human-readable line per blob start, finish, cache hit, retry and failure.
pub struct PlainProgress<W> {
    out: Mutex<W>,
}

impl<W: Write + Send> PlainProgress<W> {
    /// Writes to `out` (the CLI passes stderr).
    pub fn new(out: W) -> PlainProgress<W> {
        PlainProgress { out: Mutex::new(out) }
    }
}

impl<W: Write + Send> ProgressSink for PlainProgress<W> {
    fn event(&self, event: &FetchEvent) {
        let Some(line) = plain_line(event) else { return };
        if let Ok(mut out) = self.out.lock() {
            // Progress output is best effort: a closed stderr must not fail the build.
            let _ = writeln!(out, "{line}");
        }
    }
}

/// The plain-text line for an event, or `None` for events plain output skips.
pub fn plain_line(event: &FetchEvent) -> Option<String> {
    let blob = event.blob.as_ref().map(short_digest).unwrap_or_default();
    let size = event.bytes_total.map(human_bytes).unwrap_or_else(|| "? bytes".to_owned());
    let detail = event.detail.as_deref().unwrap_or("");
    let line = match event.state {
        FetchState::Resolving | FetchState::Bytes => return None,
        FetchState::Resolved => format!("{}: resolved to {}", event.image, full_digest(event)),
        FetchState::Started => format!("{}: fetching {blob} ({size})", event.image),
        FetchState::Cached => format!("{}: {blob} already cached", event.image),
        FetchState::Done => format!("{}: fetched {blob} ({size}, verified)", event.image),
        FetchState::Retrying => format!("{}: retrying {blob}: {detail}", event.image),
        FetchState::Failed => format!("{}: failed {blob}: {detail}", event.image),
    };
    Some(line)
}

/// Writes every event as one JSON object per line; `bytes` events at most once per MiB per blob.
pub struct JsonProgress<W> {
    out: Mutex<(W, std::collections::BTreeMap<String, u64>)>,
}

impl<W: Write + Send> JsonProgress<W> {
    /// Writes to `out` (the CLI passes stderr or stdout).
    pub fn new(out: W) -> JsonProgress<W> {
        JsonProgress { out: Mutex::new((out, std::collections::BTreeMap::new())) }
    }
}

const JSON_BYTES_STEP: u64 = 1 << 20;

impl<W: Write + Send> ProgressSink for JsonProgress<W> {
    fn event(&self, event: &FetchEvent) {
        let Ok(mut guard) = self.out.lock() else { return };
        let (out, last) = &mut *guard;
        if event.state == FetchState::Bytes {
            let key = format!("{} {}", event.image, full_digest(event));
            let previous = last.get(&key).copied().unwrap_or(0);
            if event.bytes_done < previous.saturating_add(JSON_BYTES_STEP)
                && Some(event.bytes_done) != event.bytes_total
            {
                return;
            }
            last.insert(key, event.bytes_done);
        }
        if let Ok(line) = serde_json::to_string(event) {
            // Best effort, as for plain output.
            let _ = writeln!(out, "{line}");
        }
    }
}

fn full_digest(event: &FetchEvent) -> String {
    event.blob.as_ref().map(Digest::to_string).unwrap_or_default()
}

fn short_digest(digest: &Digest) -> String {
    let hex = digest.hex();
    format!("{}:{}", digest.algorithm().name(), &hex[..hex.len().min(12)])
}

/// `1.5 MiB`-style sizes for messages.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024 * 1024 && unit + 1 < UNITS.len() {
        value /= 1024;
        unit += 1;
    }
    // One decimal from integer arithmetic: value is in units of UNITS[unit] * 1024.
    let tenths = value * 10 / 1024;
    format!("{}.{} {}", tenths / 10, tenths % 10, UNITS[unit])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use expect_test::expect;

    use super::*;

    fn event(state: FetchState, done: u64) -> FetchEvent {
        FetchEvent {
            image: "docker.io/library/alpine:3.20".to_owned(),
            blob: Some(Digest::sha256(b"")),
            bytes_done: done,
            bytes_total: Some(3 << 20),
            state,
            detail: (state == FetchState::Retrying).then(|| "HTTP 503".to_owned()),
        }
    }

    #[test]
    fn plain_lines() {
        let sink = PlainProgress::new(Vec::new());
        for (state, done) in [
            (FetchState::Started, 0),
            (FetchState::Bytes, 10),
            (FetchState::Retrying, 10),
            (FetchState::Done, 3 << 20),
            (FetchState::Cached, 0),
        ] {
            sink.event(&event(state, done));
        }
        let text = String::from_utf8(sink.out.into_inner().unwrap()).unwrap();
        expect![[r#"
            docker.io/library/alpine:3.20: fetching sha256:e3b0c44298fc (3.0 MiB)
            docker.io/library/alpine:3.20: retrying sha256:e3b0c44298fc: HTTP 503
            docker.io/library/alpine:3.20: fetched sha256:e3b0c44298fc (3.0 MiB, verified)
            docker.io/library/alpine:3.20: sha256:e3b0c44298fc already cached
        "#]]
        .assert_eq(&text);
    }

    #[test]
    fn json_lines_throttle_bytes_events() {
        let sink = JsonProgress::new(Vec::new());
        for done in [0, 1, 1 << 20, (1 << 20) + 5, 3 << 20] {
            sink.event(&event(FetchState::Bytes, done));
        }
        let text = String::from_utf8(sink.out.into_inner().unwrap().0).unwrap();
        let dones: Vec<u64> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["bytes_done"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        assert_eq!(dones, [1 << 20, 3 << 20]);
        assert!(text.contains(r#""state":"bytes""#), "{text}");
    }

    #[test]
    fn sizes() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 << 30), "5.0 GiB");
    }
}

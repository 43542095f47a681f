//! Progress bars on a terminal: one bar per blob being downloaded, under a line per image.
//!
//! The library reports [`FetchEvent`]s; this renderer turns them into indicatif bars on standard
//! error. It is used only when standard error is a terminal (`--progress auto`); logs get
//! plain lines and machines JSON lines.

use std::collections::BTreeMap;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use kit::fetch::{FetchEvent, FetchState, ProgressSink};

/// Draws per-blob progress bars.
pub struct Bars {
    multi: MultiProgress,
    bars: Mutex<BTreeMap<String, ProgressBar>>,
    style: ProgressStyle,
}

impl Bars {
    /// Bars drawn on standard error.
    pub fn new() -> Bars {
        let style = ProgressStyle::with_template(
            "{prefix:.bold} {bar:30} {bytes:>10}/{total_bytes:<10} {bytes_per_sec:>12} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        Bars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: Mutex::new(BTreeMap::new()),
            style,
        }
    }

    fn key(event: &FetchEvent) -> String {
        match &event.blob {
            Some(blob) => format!("{} {blob}", event.image),
            None => event.image.clone(),
        }
    }

    fn label(event: &FetchEvent) -> String {
        let blob = event.blob.as_ref().map(|b| b.hex().get(..12).unwrap_or(b.hex()).to_owned());
        match blob {
            Some(blob) => format!("{} {blob}", event.image),
            None => event.image.clone(),
        }
    }
}

impl ProgressSink for Bars {
    fn event(&self, event: &FetchEvent) {
        let Ok(mut bars) = self.bars.lock() else { return };
        let key = Bars::key(event);
        match event.state {
            FetchState::Started | FetchState::Bytes => {
                let bar = bars.entry(key).or_insert_with(|| {
                    let bar = self.multi.add(ProgressBar::new(event.bytes_total.unwrap_or(0)));
                    bar.set_style(self.style.clone());
                    bar.set_prefix(Bars::label(event));
                    bar
                });
                if let Some(total) = event.bytes_total {
                    bar.set_length(total);
                }
                bar.set_position(event.bytes_done);
            }
            FetchState::Retrying => {
                if let Some(bar) = bars.get(&key) {
                    bar.set_message(format!("retrying: {}", event.detail.as_deref().unwrap_or("")));
                }
            }
            FetchState::Done | FetchState::Cached => {
                if let Some(bar) = bars.remove(&key) {
                    bar.finish_and_clear();
                }
                let what = if event.state == FetchState::Done { "pulled" } else { "cached" };
                let _ = self.multi.println(format!("{what} {}", Bars::label(event)));
            }
            FetchState::Failed => {
                if let Some(bar) = bars.remove(&key) {
                    bar.abandon_with_message(format!(
                        "failed: {}",
                        event.detail.as_deref().unwrap_or("")
                    ));
                }
            }
            FetchState::Resolving | FetchState::Resolved => {}
        }
    }
}

//! `cargo xtask bench build|pull|formats`: benchmarks of kit against its floors (not timed tests; not
//! run in CI).
//!
//! Both share the inputs made by [`inputs`]: synthetic, signed images of pseudo-random data in
//! `target/kit-bench/oci` (made once, then reused), a LinuxKit YAML using them with the
//! example kernel of `target/kit-fixtures`, and a policy trusting the fixtures' signing key.
//! kit is built with `cargo build --release -p kit`; when xtask itself was built without
//! optimisations, `bench` re-runs itself with `cargo run --release` so that the in-process
//! floor (flate2 with zlib-rs) is compiled as kit's is.
//!
//! - [`build`]: `kit build -f kernel+initrd` against gzip of the same cpio bytes and against
//!   `cpio -o -H newc | gzip -9`; writes `target/kit-bench/build.txt`.
//! - [`pull`]: cold `kit cache pull` from a loopback `docker-registry` against `skopeo copy`;
//!   writes `target/kit-bench/pull.txt`.
//! - [`formats`]: `kernel+squashfs`, `kernel+erofs` and `kernel+iso` against mksquashfs,
//!   mkfs.erofs, xorriso and genisoimage; writes `target/kit-bench/formats.txt`.

mod build;
mod formats;
mod inputs;
mod pull;
mod scenarios;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// How many times each measured command runs; the median is reported.
pub const RUNS: usize = 3;

/// Parses `bench`'s arguments and runs it.
pub fn main(root: &Path, args: &[String]) -> Result<()> {
    let usage = "usage: cargo xtask bench build [--linuxkit PATH]|pull|formats";
    let Some(what) = args.first() else { bail!("{usage}") };
    let mut linuxkit = std::env::var_os("KIT_BENCH_LINUXKIT").map(PathBuf::from);
    let mut rest = args[1..].iter();
    while let Some(arg) = rest.next() {
        match (what.as_str(), arg.as_str()) {
            ("build", "--linuxkit") => {
                let Some(path) = rest.next() else { bail!("--linuxkit needs a path ({usage})") };
                linuxkit = Some(PathBuf::from(path));
            }
            _ => bail!("bench: unexpected argument {arg:?} ({usage})"),
        }
    }
    if cfg!(debug_assertions) {
        eprintln!("xtask: re-running bench with an optimised xtask (cargo run --release)");
        let status = Command::new(cargo())
            .args(["run", "--quiet", "--release", "--package", "xtask", "--", "bench"])
            .args(args)
            .current_dir(root)
            .status()
            .context("running cargo run --release --package xtask")?;
        if !status.success() {
            bail!("bench {what} failed ({status})");
        }
        return Ok(());
    }
    match what.as_str() {
        "build" => build::run(root, linuxkit.as_deref()),
        "pull" => pull::run(root),
        "formats" => formats::run(root),
        other => bail!("bench: unknown benchmark {other:?} ({usage})"),
    }
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// Builds kit in release mode and returns the path of the binary.
pub fn release_kit(root: &Path) -> Result<PathBuf> {
    eprintln!("xtask: cargo build --release -p kit");
    let status = Command::new(cargo())
        .args(["build", "--quiet", "--release", "--package", "kit"])
        .current_dir(root)
        .status()
        .context("running cargo build --release -p kit")?;
    if !status.success() {
        bail!("cargo build --release -p kit failed ({status})");
    }
    Ok(root.join("target").join("release").join("kit"))
}

/// One measured run: wall time and, when it could be read, the peak RSS in KiB.
#[derive(Clone, Copy)]
pub struct Sample {
    /// Wall-clock time.
    pub wall: Duration,
    /// Peak resident set size (VmHWM / `ru_maxrss`), KiB.
    pub rss_kib: Option<u64>,
    /// User plus system CPU time, when `/usr/bin/time` could report it.
    pub cpu: Option<Duration>,
}

/// Runs `command` to completion (standard output discarded), measuring its wall time and peak RSS (with `/usr/bin/time`
/// when installed, else by polling `/proc/<pid>/status` for `VmHWM` until it exits).
pub fn measure(command: &mut Command, scratch: &Path) -> Result<Sample> {
    let gnu_time = Path::new("/usr/bin/time");
    let what = format!("{command:?}");
    if gnu_time.exists() {
        let report = scratch.join("time.out");
        let mut wrapped = Command::new(gnu_time);
        wrapped.arg("-f").arg("%M %U %S").arg("-o").arg(&report);
        wrapped.arg(command.get_program()).args(command.get_args()).stdout(Stdio::null());
        if let Some(dir) = command.get_current_dir() {
            wrapped.current_dir(dir);
        }
        let started = Instant::now();
        let status = wrapped.status().with_context(|| format!("running {what}"))?;
        let wall = started.elapsed();
        if !status.success() {
            bail!("{what} failed ({status})");
        }
        let text = std::fs::read_to_string(&report)
            .with_context(|| format!("reading {}", report.display()))?;
        let fields: Vec<&str> = text.lines().last().unwrap_or("").split_whitespace().collect();
        let rss_kib = fields.first().and_then(|f| f.parse().ok());
        let seconds = |idx: usize| fields.get(idx).and_then(|f| f.parse::<f64>().ok());
        let cpu = match (seconds(1), seconds(2)) {
            (Some(user), Some(system)) => Some(Duration::from_secs_f64(user + system)),
            _ => None,
        };
        return Ok(Sample { wall, rss_kib, cpu });
    }
    let started = Instant::now();
    let mut child =
        command.stdout(Stdio::null()).spawn().with_context(|| format!("running {what}"))?;
    let status_file = format!("/proc/{}/status", child.id());
    let mut rss_kib = None;
    let status = loop {
        if let Some(status) = child.try_wait().with_context(|| format!("waiting for {what}"))? {
            break status;
        }
        if let Ok(text) = std::fs::read_to_string(&status_file)
            && let Some(line) = text.lines().find(|l| l.starts_with("VmHWM:"))
        {
            rss_kib = line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).or(rss_kib);
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let wall = started.elapsed();
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(Sample { wall, rss_kib, cpu: None })
}

/// Median CPU seconds of `samples`, when every run reported it.
pub fn median_cpu(samples: &[Sample]) -> Option<f64> {
    let cpu: Option<Vec<f64>> = samples.iter().map(|s| s.cpu.map(|c| c.as_secs_f64())).collect();
    cpu.and_then(|cpu| median(&cpu))
}

/// The median of `values` (the middle one; `RUNS` is odd).
pub fn median<T: Copy + PartialOrd>(values: &[T]) -> Option<T> {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    sorted.get(sorted.len() / 2).copied()
}

/// Median wall time in seconds and highest peak RSS in MiB of `samples`.
pub fn summary(samples: &[Sample]) -> (f64, Option<f64>) {
    let wall = median(&samples.iter().map(|s| s.wall.as_secs_f64()).collect::<Vec<_>>());
    let rss = samples.iter().filter_map(|s| s.rss_kib).max();
    #[allow(clippy::cast_precision_loss)] // KiB counts are far below 2^52
    let rss = rss.map(|k| k as f64 / 1024.0);
    (wall.unwrap_or(0.0), rss)
}

/// `12.3` or `n/a`.
pub fn mib(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.1}"))
}

/// Removes `dir` if it exists and creates it empty.
pub fn fresh_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}

/// The header of every report: date, machine and load.
pub fn machine_line() -> String {
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
    format!("{date}; {cpus} CPUs; load average {load} (shared machine: wall times are noisy)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_is_the_middle_value() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median::<f64>(&[]), None);
    }
}

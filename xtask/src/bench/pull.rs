//! `cargo xtask bench pull`: a cold `kit cache pull` against `skopeo copy`.
//!
//! Starts Debian's `docker-registry` on 127.0.0.1 (plain HTTP, storage under
//! `target/kit-bench/registry`), pushes the bench images with `skopeo copy`, then side by side,
//! each [`RUNS`] times (median wall time, highest peak RSS), for the full set (~210 MB) and for
//! half of it: `kit cache --cache FRESH pull IMAGE...` against one `skopeo copy
//! --src-tls-verify=false docker://… oci:FRESH:…` per image (their times summed). The registry
//! is stopped at the end. Writes `target/kit-bench/pull.txt`.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::inputs::{IMAGES, Inputs};
use super::{RUNS, Sample, machine_line, measure, mib, summary};

/// The registry child, killed when dropped.
struct Registry(Child);

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_registry(dir: &Path) -> Result<(Registry, String)> {
    super::fresh_dir(dir)?;
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .context("finding a free port")?
        .port();
    let addr = format!("127.0.0.1:{port}");
    let config = format!(
        "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n\
         storage:\n  filesystem:\n    rootdirectory: {}\n\
         http:\n  addr: {addr}\n",
        dir.join("storage").display()
    );
    let config_path = dir.join("config.yml");
    fs::write(&config_path, config).context("writing the registry config")?;
    let log = fs::File::create(dir.join("registry.log")).context("creating registry.log")?;
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(&config_path)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting docker-registry (is it installed?)")?;
    let mut registry = Registry(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(&addr).is_err() {
        if let Some(status) = registry.0.try_wait()? {
            bail!("docker-registry exited with {status}; see {}/registry.log", dir.display());
        }
        if Instant::now() > deadline {
            bail!("docker-registry did not listen on {addr} within 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((registry, addr))
}

fn run_ok(command: &mut Command) -> Result<()> {
    let what = format!("{command:?}");
    let status = command.status().with_context(|| format!("running {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// One row of the table: the set's name, kit's samples and skopeo's.
struct Row {
    name: String,
    mb: f64,
    kit: Vec<Sample>,
    skopeo: Vec<Sample>,
}

/// Runs the benchmark.
pub fn run(root: &Path) -> Result<()> {
    let inputs = super::inputs::ensure(root)?;
    let kit = super::release_kit(root)?;
    let (registry, addr) = start_registry(&inputs.dir.join("registry"))?;
    for name in IMAGES {
        let reference = Inputs::reference(name);
        eprintln!("xtask: pushing {reference} to {addr}");
        run_ok(
            Command::new("skopeo")
                .args(["copy", "--quiet", "--preserve-digests", "--dest-tls-verify=false"])
                .arg(format!("oci:{}:{reference}", inputs.bench_oci.display()))
                .arg(format!("docker://{addr}/{reference}")),
        )?;
    }
    let work = inputs.dir.join("pull-run");
    super::fresh_dir(&work)?;
    let sets = [("all 4 images", &IMAGES[..]), ("2 images (half)", &IMAGES[..2])];
    let mut rows = Vec::new();
    for (set_name, images) in sets {
        let refs: Vec<String> =
            images.iter().map(|n| format!("{addr}/{}", Inputs::reference(n))).collect();
        let mb = set_size_mb(&inputs, images)?;
        let mut row = Row { name: set_name.to_owned(), mb, kit: Vec::new(), skopeo: Vec::new() };
        for round in 1..=RUNS {
            eprintln!("xtask: {set_name}: round {round} of {RUNS}");
            let cache = work.join("kit-cache");
            super::fresh_dir(&cache)?;
            let mut pull = Command::new(&kit);
            pull.arg("cache").arg("--cache").arg(&cache).args(["pull", "--progress", "none"]);
            pull.args(&refs);
            pull.stdout(Stdio::null());
            row.kit.push(measure(&mut pull, &work)?);

            let dest = work.join("skopeo-oci");
            super::fresh_dir(&dest)?;
            let mut total = Sample { wall: Duration::ZERO, rss_kib: None, cpu: None };
            for (reference, name) in refs.iter().zip(images) {
                let mut copy = Command::new("skopeo");
                copy.args(["copy", "--quiet", "--src-tls-verify=false"])
                    .arg(format!("docker://{reference}"))
                    .arg(format!("oci:{}:{name}", dest.display()));
                let sample = measure(&mut copy, &work)?;
                total.wall += sample.wall;
                total.rss_kib = total.rss_kib.max(sample.rss_kib);
            }
            row.skopeo.push(total);
        }
        rows.push(row);
    }
    drop(registry);

    let mut report = format!(
        "kit bench pull: cold pull from docker-registry on 127.0.0.1 (plain HTTP)\n\
         {}\n\
         median wall time of {RUNS} runs, highest peak RSS; skopeo copies one image per \
         invocation (times summed, RSS the largest)\n\n\
         | set               | gzip MB | kit s | skopeo s | kit/skopeo | kit RSS MiB | skopeo RSS MiB |\n\
         | ----------------- | ------- | ----- | -------- | ---------- | ----------- | -------------- |\n",
        machine_line()
    );
    for row in &rows {
        let (kit_wall, kit_rss) = summary(&row.kit);
        let (skopeo_wall, skopeo_rss) = summary(&row.skopeo);
        report.push_str(&format!(
            "| {:17} | {:7.1} | {kit_wall:5.2} | {skopeo_wall:8.2} | {:10.2} | {:>11} | {:>14} |\n",
            row.name,
            row.mb,
            kit_wall / skopeo_wall,
            mib(kit_rss),
            mib(skopeo_rss),
        ));
    }
    print!("{report}");
    let path = inputs.dir.join("pull.txt");
    fs::write(&path, &report).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("xtask: wrote {}", path.display());
    Ok(())
}

/// The total size in MB of the layer blobs of `images` in the bench layout.
fn set_size_mb(inputs: &Inputs, images: &[&str]) -> Result<f64> {
    let read = |digest: &str| -> Result<serde_json::Value> {
        let hex = digest.strip_prefix("sha256:").context("expected a sha256 digest")?;
        let path = inputs.bench_oci.join("blobs/sha256").join(hex);
        let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
    };
    let index = fs::read(inputs.bench_oci.join("index.json")).context("reading index.json")?;
    let index: serde_json::Value = serde_json::from_slice(&index).context("parsing index.json")?;
    let mut total = 0u64;
    for name in images {
        let reference = Inputs::reference(name);
        let entry = index["manifests"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["annotations"]["org.opencontainers.image.ref.name"] == reference.as_str())
            .with_context(|| format!("{reference} is not in the bench layout"))?;
        let manifest = read(entry["digest"].as_str().context("entry without digest")?)?;
        for layer in manifest["layers"].as_array().into_iter().flatten() {
            total += layer["size"].as_u64().unwrap_or(0);
        }
    }
    #[allow(clippy::cast_precision_loss)] // sizes are far below 2^52
    Ok(total as f64 / 1e6)
}

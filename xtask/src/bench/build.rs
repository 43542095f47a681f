//! `cargo xtask bench build`: kit's `kernel+initrd` against its floors.
//!
//! Side by side, each [`RUNS`] times (median reported), after one unmeasured kit run that warms
//! kit's cache:
//! - kit: `kit build --offline -f kernel+initrd` of `bench.yml` (wall time, peak RSS);
//! - floor: flate2 (zlib-rs) level 9 with kit's gzip header over the exact cpio bytes kit wrote
//!   (its initrd decompressed), in process;
//! - `cpio -o -H newc | gzip -9` over the same tree unpacked in a directory (unpacking is not
//!   timed; `find | sort` is).
//!
//! - LinuxKit itself, when `--linuxkit PATH` (or `KIT_BENCH_LINUXKIT`) names its binary:
//!   `linuxkit build --no-sbom -format kernel+initrd` of the same `bench.yml`, its cache
//!   filled beforehand with `kit cache import` of the same layouts (not timed) and run in a
//!   network namespace of its own (`unshare -n`, as root) so it cannot reach a registry.
//!   `../shared/verify-tools/build-linuxkit.sh` builds that binary from LinuxKit's sources.
//!
//! With LinuxKit, [`super::scenarios`] then runs both side by side: full builds, rebuilds after
//! a changed `files` entry and a changed service image, each kit compressor, and one core.
//!
//! Writes the tables to `target/kit-bench/build.txt`.

use std::fs;
use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use flate2::{Compression, GzBuilder};

use super::{RUNS, Sample, inputs, machine_line, measure, mib, summary};

/// Runs the benchmark; `linuxkit` is the reference binary, if given.
pub fn run(root: &Path, linuxkit: Option<&Path>) -> Result<()> {
    let inputs = inputs::ensure(root)?;
    let kit = super::release_kit(root)?;
    let work = inputs.dir.join("build-run");
    super::fresh_dir(&work)?;
    let cache = work.join("cache");
    let out = work.join("out");
    let mut kit_build = Command::new(&kit);
    kit_build
        .arg("build")
        .arg("--offline")
        .arg("--source")
        .arg(&inputs.fixtures_oci)
        .arg("--source")
        .arg(&inputs.bench_oci)
        .arg("--cache")
        .arg(&cache)
        .arg("--policy")
        .arg(&inputs.policy)
        .args(["--progress", "none", "-f", "kernel+initrd", "--name", "bench", "--dir"])
        .arg(&out)
        .arg(&inputs.config)
        .stdout(std::process::Stdio::null());
    eprintln!("xtask: warm-up: {kit_build:?}");
    let warm = measure(&mut kit_build, &work)?;
    eprintln!("xtask: warm-up run took {:.1} s", warm.wall.as_secs_f64());

    let initrd_path = out.join("bench-initrd.img");
    let initrd =
        fs::read(&initrd_path).with_context(|| format!("reading {}", initrd_path.display()))?;
    let mut cpio = Vec::new();
    flate2::read::MultiGzDecoder::new(initrd.as_slice())
        .read_to_end(&mut cpio)
        .with_context(|| format!("decompressing {}", initrd_path.display()))?;
    let tree = work.join("tree");
    super::fresh_dir(&tree)?;
    unpack(&cpio, &tree)?;

    let linuxkit = match linuxkit {
        Some(binary) => Some(LinuxKit::prepare(binary, &kit, &inputs, &work)?),
        None => None,
    };
    let mut linuxkit_runs = Vec::new();
    let (mut kit_runs, mut floor_runs, mut shell_runs) = (Vec::new(), Vec::new(), Vec::new());
    let mut floor_len = 0;
    let mut shell_len = 0;
    let shell_out = work.join("shell-initrd.img");
    for round in 1..=RUNS {
        eprintln!("xtask: round {round} of {RUNS}");
        kit_runs.push(measure(&mut kit_build, &work)?);

        let started = Instant::now();
        let mut encoder = GzBuilder::new()
            .mtime(0)
            .operating_system(255)
            .write(Vec::with_capacity(initrd.len()), Compression::new(9));
        encoder.write_all(&cpio).context("gzip")?;
        let compressed = encoder.finish().context("gzip")?;
        floor_runs.push(Sample { wall: started.elapsed(), rss_kib: None, cpu: None });
        floor_len = compressed.len();

        let script = format!(
            "find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -9 > '{}'",
            shell_out.display()
        );
        let mut shell = Command::new("sh");
        shell.arg("-c").arg(&script).current_dir(&tree);
        shell_runs.push(measure(&mut shell, &work)?);
        shell_len = fs::metadata(&shell_out)?.len();

        if let Some(linuxkit) = &linuxkit {
            linuxkit_runs.push(measure(&mut linuxkit.command(), &work)?);
        }
    }
    let (kit_wall, kit_rss) = summary(&kit_runs);
    let (floor_wall, _) = summary(&floor_runs);
    let (shell_wall, _) = summary(&shell_runs);
    let mb = |n: f64| n / 1e6;
    #[allow(clippy::cast_precision_loss)] // sizes are far below 2^52
    let (cpio_mb, kit_mb, floor_mb, shell_mb) = (
        mb(cpio.len() as f64),
        mb(initrd.len() as f64),
        mb(floor_len as f64),
        mb(shell_len as f64),
    );
    let report = format!(
        "kit bench build: {config} -> kernel+initrd ({cpio_mb:.1} MB cpio)\n\
         {machine}\n\
         median of {RUNS} runs; kit's cache warm (one unmeasured run first)\n\n\
         | what                               | wall s | kit/x  | output MB | peak RSS MiB |\n\
         | ---------------------------------- | ------ | ------ | --------- | ------------ |\n\
         | kit build -f kernel+initrd         | {kit_wall:6.2} | {one:>6} | {kit_mb:9.1} | {kit_rss:>12} |\n\
         | floor: flate2 level 9 of the cpio  | {floor_wall:6.2} | {r1:>6} | {floor_mb:9.1} | {na:>12} |\n\
         | cpio -o -H newc \\| gzip -9         | {shell_wall:6.2} | {r2:>6} | {shell_mb:9.1} | {na:>12} |\n\n\
         kit/floor = {r1}, kit/(cpio|gzip) = {r2}\n",
        config = inputs.config.display(),
        machine = machine_line(),
        one = "1.00",
        kit_rss = mib(kit_rss),
        na = "-",
        r1 = format!("{:.2}", kit_wall / floor_wall),
        r2 = format!("{:.2}", kit_wall / shell_wall),
    );
    let mut report = report;
    if let Some(linuxkit) = &linuxkit {
        let (lk_wall, lk_rss) = summary(&linuxkit_runs);
        let lk_initrd = fs::metadata(linuxkit.out.join("bench-initrd.img"))?.len();
        #[allow(clippy::cast_precision_loss)] // sizes are far below 2^52
        let lk_mb = mb(lk_initrd as f64);
        let ratio = format!("{:.2}", kit_wall / lk_wall);
        let rss_ratio = match (kit_rss, lk_rss) {
            (Some(k), Some(l)) => format!("{:.2}", k / l),
            _ => "n/a".to_owned(),
        };
        let size_ratio = format!("{:.3}", kit_mb / lk_mb);
        report.push_str(&format!(
            "\n| what                               | wall s | kit/x  | output MB | peak RSS MiB |\n\
             | ---------------------------------- | ------ | ------ | --------- | ------------ |\n\
             | linuxkit build -format kernel+initrd | {lk_wall:6.2} | {ratio:>6} | {lk_mb:9.1} | {lk_rss:>12} |\n\n\
             kit/linuxkit: time {ratio}, peak RSS {rss_ratio}, initrd size {size_ratio} ({version})\n",
            lk_rss = mib(lk_rss),
            version = linuxkit.version,
        ));
    }
    if let Some(linuxkit) = &linuxkit {
        let table = super::scenarios::run(&kit, &linuxkit.binary, &linuxkit.cache, &inputs, &work)?;
        report.push_str(&format!(
            "\nside by side, {} alternating runs each, medians (CPU = user + system):\n\n{table}",
            super::scenarios::RUNS_EACH
        ));
    }
    print!("{report}");
    let path = inputs.dir.join("build.txt");
    fs::write(&path, &report).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("xtask: wrote {}", path.display());
    Ok(())
}

/// Unpacks a newc archive into `dir` with `cpio -idm` (not timed).
/// kit's initrd is one archive per input (segments), so each archive, up to and including its
/// `TRAILER!!!` entry, goes to a `cpio -idm` of its own (cpio stops reading at a trailer).
fn unpack(cpio: &[u8], dir: &Path) -> Result<()> {
    const TRAILER: &[u8] = b"TRAILER!!!\0";
    let mut start = 0;
    while start < cpio.len() {
        let rest = &cpio[start..];
        // The trailer's name right after a newc header (binaries such as busybox contain the
        // string itself).
        let is_trailer = |at: usize| {
            at >= 110 && rest[at..].starts_with(TRAILER) && rest[at - 110..].starts_with(b"07070")
        };
        let Some(at) = (0..rest.len()).find(|at| is_trailer(*at)) else { break };
        // The name follows a 110-byte header; the entry is padded to 4 bytes (no data).
        let end = (at + TRAILER.len()).next_multiple_of(4).min(rest.len());
        unpack_one(&rest[..end], dir)?;
        start += end;
        while cpio.get(start) == Some(&0) {
            start += 1;
        }
    }
    Ok(())
}

fn unpack_one(cpio: &[u8], dir: &Path) -> Result<()> {
    let mut child = Command::new("cpio")
        .args(["-idm", "--quiet", "--no-absolute-filenames"])
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .context("running cpio -idm (is cpio installed?)")?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(cpio).context("writing to cpio -idm")?;
    }
    let status = child.wait().context("waiting for cpio -idm")?;
    if !status.success() {
        bail!("cpio -idm into {} failed ({status})", dir.display());
    }
    Ok(())
}

/// The reference LinuxKit binary, with a cache holding the bench's images.
struct LinuxKit {
    binary: std::path::PathBuf,
    cache: std::path::PathBuf,
    out: std::path::PathBuf,
    config: std::path::PathBuf,
    version: String,
    isolate: bool,
}

impl LinuxKit {
    /// Imports the fixtures' and the bench's layouts into a LinuxKit cache with kit (not timed).
    fn prepare(
        binary: &Path,
        kit: &Path,
        inputs: &inputs::Inputs,
        work: &Path,
    ) -> Result<LinuxKit> {
        let cache = work.join("linuxkit-cache");
        let out = work.join("linuxkit-out");
        super::fresh_dir(&out)?;
        for layout in [&inputs.fixtures_oci, &inputs.bench_oci] {
            let status = Command::new(kit)
                .args(["cache", "import", "--cache"])
                .arg(&cache)
                .arg(layout)
                .stdout(std::process::Stdio::null())
                .status()
                .context("running kit cache import")?;
            if !status.success() {
                bail!("kit cache import {} failed ({status})", layout.display());
            }
        }
        let version = Command::new(binary)
            .arg("version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).lines().next().unwrap_or("").to_owned())
            .with_context(|| format!("running {} version", binary.display()))?;
        // A network namespace of its own, so LinuxKit cannot reach a registry (needs root).
        let isolate = Command::new("unshare")
            .args(["-n", "true"])
            .status()
            .is_ok_and(|status| status.success());
        Ok(LinuxKit {
            binary: binary.to_path_buf(),
            cache,
            out,
            config: inputs.config.clone(),
            version,
            isolate,
        })
    }

    fn command(&self) -> Command {
        let mut command = if self.isolate {
            let mut unshare = Command::new("unshare");
            unshare.arg("-n").arg(&self.binary);
            unshare
        } else {
            Command::new(&self.binary)
        };
        command
            .args(["build", "--no-sbom", "--format", "kernel+initrd", "--name", "bench"])
            .arg("--cache")
            .arg(&self.cache)
            .arg("--dir")
            .arg(&self.out)
            .arg(&self.config);
        command
    }
}

//! `cargo xtask bench build --linuxkit PATH`, second part: kit and LinuxKit side by side on the
//! bench system, alternating, [`RUNS_EACH`] runs each, medians of wall time, CPU time (user plus
//! system, from `/usr/bin/time`), peak RSS and output size, for:
//! - a full build (kit's initrd segment cache emptied before each run, so kit compresses all);
//! - a rebuild after one changed `files` entry, and after one changed service image (kit keeps
//!   its segment cache; LinuxKit has none, so it builds in full);
//! - each of kit's initrd compressors (full builds) against LinuxKit's gzip;
//! - one core (`taskset -c 0`) for both.
//!
//! The table is appended to `target/kit-bench/build.txt`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use super::{Sample, inputs, measure, median_cpu, mib, summary};

/// Runs of each side per scenario (alternating kit, LinuxKit).
pub const RUNS_EACH: usize = 5;

/// One scenario: how kit runs and how LinuxKit runs.
struct Scenario {
    name: String,
    kit_args: Vec<String>,
    extra_configs: Vec<PathBuf>,
    keep_segments: bool,
    one_core: bool,
    /// Rewrites the extra configuration before each run (the changed input).
    change: Option<fn(&Path, usize) -> Result<()>>,
}

/// Measures every scenario and returns the table.
pub fn run(
    kit: &Path,
    linuxkit: &Path,
    linuxkit_cache: &Path,
    inputs: &inputs::Inputs,
    work: &Path,
) -> Result<String> {
    let cache = work.join("scenario-cache");
    let out = work.join("scenario-out");
    let lk_out = work.join("scenario-linuxkit-out");
    fs::create_dir_all(&out)?;
    fs::create_dir_all(&lk_out)?;
    let files_yml = work.join("changed-file.yml");
    let service_yml = work.join("changed-service.yml");
    let mut scenarios = vec![
        scenario("full build (gzip)", &[], &[], false, false, None),
        scenario(
            "rebuild, one files entry changed",
            &[],
            &[&files_yml],
            true,
            false,
            Some(change_file),
        ),
        scenario(
            "rebuild, one service image changed",
            &[],
            &[&service_yml],
            true,
            false,
            Some(change_service),
        ),
    ];
    for compression in ["zstd", "lz4", "xz", "none"] {
        let name = format!("full build, kit --initrd-compression {compression}");
        scenarios.push(scenario(
            &name,
            &["--initrd-compression", compression],
            &[],
            false,
            false,
            None,
        ));
    }
    scenarios.push(scenario("full build, 1 core (taskset -c 0)", &[], &[], false, true, None));

    let mut table = String::from(
        "| scenario | kit wall s | kit CPU s | kit RSS MiB | kit MB | LinuxKit wall s | LinuxKit CPU s | LinuxKit RSS MiB | LinuxKit MB | kit/LinuxKit wall |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for scenario in &scenarios {
        eprintln!("xtask: scenario {}", scenario.name);
        if let Some(change) = scenario.change {
            change(&scenario.extra_configs[0], 0)?;
        }
        // A first, unmeasured kit run fills the caches (layers; segments when kept).
        measure(&mut kit_command(kit, inputs, &cache, &out, scenario), work)?;
        let (mut kit_runs, mut lk_runs) = (Vec::new(), Vec::new());
        for round in 1..=RUNS_EACH {
            if let Some(change) = scenario.change {
                change(&scenario.extra_configs[0], round)?;
            }
            if !scenario.keep_segments {
                let segments = cache.join("kit-initrd-segments");
                if segments.exists() {
                    fs::remove_dir_all(&segments)?;
                }
            }
            kit_runs.push(measure(&mut kit_command(kit, inputs, &cache, &out, scenario), work)?);
            let mut lk = linuxkit_command(linuxkit, linuxkit_cache, &lk_out, inputs, scenario);
            lk_runs.push(measure(&mut lk, work)?);
        }
        let size =
            |dir: &Path| fs::metadata(dir.join("bench-initrd.img")).map(|m| m.len()).unwrap_or(0);
        table.push_str(&row(&scenario.name, &kit_runs, size(&out), &lk_runs, size(&lk_out)));
    }
    Ok(table)
}

fn scenario(
    name: &str,
    kit_args: &[&str],
    extra: &[&Path],
    keep_segments: bool,
    one_core: bool,
    change: Option<fn(&Path, usize) -> Result<()>>,
) -> Scenario {
    Scenario {
        name: name.to_owned(),
        kit_args: kit_args.iter().map(|a| (*a).to_owned()).collect(),
        extra_configs: extra.iter().map(|p| p.to_path_buf()).collect(),
        keep_segments,
        one_core,
        change,
    }
}

/// A `files` entry whose contents change with every run.
fn change_file(path: &Path, round: usize) -> Result<()> {
    let yaml = format!("files:\n  - path: etc/bench-round\n    contents: \"round {round}\\n\"\n");
    fs::write(path, yaml).with_context(|| format!("writing {}", path.display()))
}

/// A second service whose image alternates between two bench images.
fn change_service(path: &Path, round: usize) -> Result<()> {
    let image =
        inputs::Inputs::reference(if round.is_multiple_of(2) { "bench-c" } else { "bench-b" });
    let yaml = format!("services:\n  - name: changing\n    image: {image}\n");
    fs::write(path, yaml).with_context(|| format!("writing {}", path.display()))
}

fn kit_command(
    kit: &Path,
    inputs: &inputs::Inputs,
    cache: &Path,
    out: &Path,
    scenario: &Scenario,
) -> Command {
    let mut command = taskset(kit, scenario.one_core);
    command
        .arg("build")
        .arg("--offline")
        .arg("--source")
        .arg(&inputs.fixtures_oci)
        .arg("--source")
        .arg(&inputs.bench_oci)
        .arg("--cache")
        .arg(cache)
        .arg("--policy")
        .arg(&inputs.policy)
        .args(["--progress", "none", "-f", "kernel+initrd", "--name", "bench", "--dir"])
        .arg(out)
        .args(&scenario.kit_args)
        .arg(&inputs.config)
        .args(&scenario.extra_configs);
    command
}

fn linuxkit_command(
    linuxkit: &Path,
    cache: &Path,
    out: &Path,
    inputs: &inputs::Inputs,
    scenario: &Scenario,
) -> Command {
    // A network namespace of its own when possible (root), so it cannot reach a registry.
    let isolate = Command::new("unshare").args(["-n", "true"]).status().is_ok_and(|s| s.success());
    let mut command = if isolate {
        let mut unshare = taskset(Path::new("unshare"), scenario.one_core);
        unshare.arg("-n").arg(linuxkit);
        unshare
    } else {
        taskset(linuxkit, scenario.one_core)
    };
    command
        .args(["build", "--no-sbom", "--format", "kernel+initrd", "--name", "bench"])
        .arg("--cache")
        .arg(cache)
        .arg("--dir")
        .arg(out)
        .arg(&inputs.config)
        .args(&scenario.extra_configs);
    command
}

/// `program`, under `taskset -c 0` when `one_core`.
fn taskset(program: &Path, one_core: bool) -> Command {
    if one_core {
        let mut command = Command::new("taskset");
        command.args(["-c", "0"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

#[allow(clippy::cast_precision_loss)] // sizes are far below 2^52
fn row(name: &str, kit: &[Sample], kit_len: u64, lk: &[Sample], lk_len: u64) -> String {
    let (kit_wall, kit_rss) = summary(kit);
    let (lk_wall, lk_rss) = summary(lk);
    let cpu =
        |samples: &[Sample]| median_cpu(samples).map_or("n/a".to_owned(), |c| format!("{c:.2}"));
    format!(
        "| {name} | {kit_wall:.2} | {} | {} | {:.1} | {lk_wall:.2} | {} | {} | {:.1} | {:.2} |\n",
        cpu(kit),
        mib(kit_rss),
        kit_len as f64 / 1e6,
        cpu(lk),
        mib(lk_rss),
        lk_len as f64 / 1e6,
        kit_wall / lk_wall
    )
}

//! `cargo xtask bench formats`: kit's filesystem image writers against the C tools LinuxKit's
//! containers run, on the bench tree (about 210 MB: 6,000 small text files and 16 files of
//! 12 MiB of pseudo-random bytes).
//!
//! Side by side, each [`RUNS`] times (median reported), after one unmeasured kit run that warms
//! kit's cache and writes the tree that the C tools then read from a directory (unpacked with
//! bsdtar, not timed):
//! - `kit build -f tar`: the cost of resolving, verifying and merging, shared by every format;
//! - `kit build -f kernel+squashfs` against `mksquashfs DIR IMG -comp gzip -b 128K -processors N`
//!   (LinuxKit's mkimage-squashfs runs mksquashfs with its defaults: gzip, 128 KiB blocks);
//! - `kit build -f kernel+erofs` against `mkfs.erofs IMG DIR` (uncompressed, as LinuxKit's);
//! - `kit build -f raw-efi` against the pipeline LinuxKit's mkimage-raw-efi container runs, on
//!   the same kernel and initrd: a UKI (objcopy; ukify is not in Debian 12), `mkfs.vfat` and
//!   `mcopy` for the ESP, `sgdisk` and `dd` for the GPT disk;
//! - `kit build -f kernel+iso` against `xorriso -as mkisofs -R -J` and
//!   `genisoimage -l -J -R -joliet-long` (what LinuxKit's mkimage-iso runs).
//!
//! Ratios are kit's wall time (whole build, and minus the `-f tar` build) over the C tool's,
//! peak RSS, and output size. Writes `target/kit-bench/formats.txt`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::{RUNS, Sample, inputs, machine_line, measure, mib, summary};

/// One kit format and the reference tools it is compared with.
struct Case {
    format: &'static str,
    file: &'static str,
    references: Vec<Reference>,
}

struct Reference {
    name: String,
    out: PathBuf,
    command: Command,
}

/// Runs the benchmark.
pub fn run(root: &Path) -> Result<()> {
    let inputs = inputs::ensure(root)?;
    let kit = super::release_kit(root)?;
    let work = inputs.dir.join("formats-run");
    super::fresh_dir(&work)?;
    let cache = work.join("cache");
    let kit_build = |format: &str, out: &Path| {
        let mut command = Command::new(&kit);
        command
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
            .args(["--progress", "none", "-f", format, "--name", "bench", "--dir"])
            .arg(out)
            .arg(&inputs.config);
        if format == "raw-efi" {
            command.args(["--boot-image", "kit.example/efi-boot:252"]);
        }
        command
    };
    let tar_out = work.join("tar");
    eprintln!("xtask: warm-up: kit build -f tar");
    measure(&mut kit_build("tar", &tar_out), &work)?;
    let tree = work.join("tree");
    super::fresh_dir(&tree)?;
    let status = Command::new("bsdtar")
        .arg("-xpf")
        .arg(tar_out.join("bench.tar"))
        .arg("-C")
        .arg(&tree)
        .status()
        .context("running bsdtar (package libarchive-tools)")?;
    if !status.success() {
        bail!("bsdtar could not unpack bench.tar ({status})");
    }
    // The filesystem formats leave boot/ out, as LinuxKit does.
    let boot = tree.join("boot");
    if boot.exists() {
        fs::remove_dir_all(&boot).context("removing boot/ from the unpacked tree")?;
    }
    // raw-efi's reference reads the same kernel and initrd kit puts in its UKI.
    let initrd_out = work.join("initrd");
    eprintln!("xtask: warm-up: kit build -f kernel+initrd");
    measure(&mut kit_build("kernel+initrd", &initrd_out), &work)?;
    let efi_dir = inputs.fixtures_oci.parent().map(|d| d.join("efi")).unwrap_or_default();
    let raw_efi_script = raw_efi_pipeline(&efi_dir, &initrd_out, &work.join("ref-efi"));
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let reference = |name: &str, program: &str, args: &[&str], out: PathBuf| {
        let mut command = Command::new(program);
        for arg in args {
            match *arg {
                "{out}" => command.arg(&out),
                "{tree}" => command.arg(&tree),
                other => command.arg(other),
            };
        }
        Reference { name: name.to_owned(), out, command }
    };
    let processors = cpus.to_string();
    let mut cases = [
        Case {
            format: "kernel+squashfs",
            file: "bench-squashfs.img",
            references: vec![reference(
                "mksquashfs -comp gzip -b 128K",
                "mksquashfs",
                &["{tree}", "{out}", "-noappend", "-quiet", "-no-progress", "-comp", "gzip"]
                    .into_iter()
                    .chain(["-b", "128K", "-processors", processors.as_str()])
                    .collect::<Vec<_>>(),
                work.join("ref.squashfs"),
            )],
        },
        Case {
            format: "kernel+erofs",
            file: "bench-erofs.img",
            references: vec![reference(
                "mkfs.erofs",
                "mkfs.erofs",
                &["--quiet", "{out}", "{tree}"],
                work.join("ref.erofs"),
            )],
        },
        Case {
            format: "raw-efi",
            file: "bench-efi.img",
            references: vec![reference(
                "objcopy + mkfs.vfat + mcopy + sgdisk",
                "sh",
                &["-c", &raw_efi_script],
                work.join("ref-efi").join("disk.img"),
            )],
        },
        Case {
            format: "kernel+iso",
            file: "bench.iso",
            references: vec![
                reference(
                    "xorriso -as mkisofs -R -J",
                    "xorriso",
                    &["-as", "mkisofs", "-quiet", "-R", "-J", "-o", "{out}", "{tree}"],
                    work.join("ref-xorriso.iso"),
                ),
                reference(
                    "genisoimage -l -J -R -joliet-long",
                    "genisoimage",
                    &["-quiet", "-l", "-J", "-R", "-joliet-long", "-o", "{out}", "{tree}"],
                    work.join("ref-genisoimage.iso"),
                ),
            ],
        },
    ];

    let mut tar_runs: Vec<Sample> = Vec::new();
    let mut kit_runs: Vec<Vec<Sample>> = cases.iter().map(|_| Vec::new()).collect();
    let mut ref_runs: Vec<Vec<Vec<Sample>>> =
        cases.iter().map(|c| c.references.iter().map(|_| Vec::new()).collect()).collect();
    for round in 1..=RUNS {
        eprintln!("xtask: round {round} of {RUNS}");
        tar_runs.push(measure(&mut kit_build("tar", &tar_out), &work)?);
        for (idx, case) in cases.iter_mut().enumerate() {
            let out = work.join(case.format.replace('+', "-"));
            kit_runs[idx].push(measure(&mut kit_build(case.format, &out), &work)?);
            for (ref_idx, reference) in case.references.iter_mut().enumerate() {
                if reference.out.exists() {
                    fs::remove_file(&reference.out)?;
                }
                ref_runs[idx][ref_idx].push(measure(&mut reference.command, &work)?);
            }
        }
    }

    let (tar_wall, tar_rss) = summary(&tar_runs);
    let mut table = String::from(
        "| what | wall s | kit/ref | kit-tar/ref | peak RSS MiB | output MB | size kit/ref |\n\
         | ---- | ------ | ------- | ----------- | ------------ | --------- | ------------ |\n",
    );
    table.push_str(&format!(
        "| kit build -f tar (merge floor) | {tar_wall:.2} | - | - | {} | - | - |\n",
        mib(tar_rss)
    ));
    for (idx, case) in cases.iter().enumerate() {
        let (kit_wall, kit_rss) = summary(&kit_runs[idx]);
        let out = work.join(case.format.replace('+', "-")).join(case.file);
        let kit_size = file_mb(&out)?;
        table.push_str(&format!(
            "| kit build -f {} | {kit_wall:.2} | 1.00 | - | {} | {kit_size:.1} | 1.00 |\n",
            case.format,
            mib(kit_rss)
        ));
        for (ref_idx, reference) in case.references.iter().enumerate() {
            let (wall, rss) = summary(&ref_runs[idx][ref_idx]);
            let size = file_mb(&reference.out)?;
            table.push_str(&format!(
                "| {} | {wall:.2} | {:.2} | {:.2} | {} | {size:.1} | {:.3} |\n",
                reference.name,
                kit_wall / wall,
                (kit_wall - tar_wall).max(0.0) / wall,
                mib(rss),
                kit_size / size
            ));
        }
    }
    let report = format!(
        "kit bench formats: {config} (tree of {tree_mb:.1} MB without boot/)\n{machine}\n\
         median of {RUNS} runs; kit's cache warm; the C tools read the tree from a directory\n\
         (unpacked once, not timed); kit's time includes resolving, verifying and merging,\n\
         which `kit-tar/ref` leaves out\n\n{table}",
        config = inputs.config.display(),
        tree_mb = dir_mb(&tree)?,
        machine = machine_line(),
    );
    print!("{report}");
    let path = inputs.dir.join("formats.txt");
    fs::write(&path, &report).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("xtask: wrote {}", path.display());
    Ok(())
}

/// What LinuxKit's mkimage-raw-efi container does, with objcopy for the UKI (ukify is not in
/// Debian 12): the stub plus `.osrel`, `.cmdline`, `.linux` and `.initrd` sections at ukify's
/// addresses, a FAT32 ESP made by mkfs.vfat and filled by mcopy, a GPT by sgdisk, and dd.
fn raw_efi_pipeline(efi: &Path, kernel_initrd: &Path, work: &Path) -> String {
    let q = |p: &Path| format!("'{}'", p.display());
    format!(
        "set -e; w={work}; rm -rf \"$w\"; mkdir -p \"$w\"; cd \"$w\"
printf 'NAME=\"LinuxKit\"' > osrel
printf '%s text' \"$(cat {cmdline})\" > cmdline
objcopy --add-section .osrel=osrel --change-section-vma .osrel=0x20000 \
  --add-section .cmdline=cmdline --change-section-vma .cmdline=0x30000 \
  --add-section .linux={kernel} --change-section-vma .linux=0x2000000 \
  --add-section .initrd={initrd} --change-section-vma .initrd=0x3000000 \
  {stub} linuxkit.efi
printf 'timeout 0\\n' > loader.conf
size=$(( ($(stat -c %s linuxkit.efi) + $(stat -c %s {boot}) + 40*1024*1024) / 1024 ))
mkfs.vfat -F 32 -C esp.img $size > /dev/null
mmd -i esp.img ::/EFI ::/EFI/BOOT ::/EFI/Linux ::/loader
mcopy -i esp.img {boot} ::/EFI/BOOT/BOOTX64.EFI
mcopy -i esp.img linuxkit.efi ::/EFI/Linux/
mcopy -i esp.img loader.conf ::/loader/
esp=$(stat -c %s esp.img)
truncate -s $(( esp + 4*1024*1024 )) disk.img
sgdisk --clear --new 1:2048:$(( 2048 + esp/512 - 1 )) --typecode=1:ef00 --change-name=1:'EFI System' --attributes 1:set:2 disk.img > /dev/null
dd if=esp.img of=disk.img bs=512 seek=2048 conv=notrunc status=none
",
        work = q(work),
        cmdline = q(&kernel_initrd.join("bench-cmdline")),
        kernel = q(&kernel_initrd.join("bench-kernel")),
        initrd = q(&kernel_initrd.join("bench-initrd.img")),
        stub = q(&efi.join("linuxx64.efi.stub")),
        boot = q(&efi.join("systemd-bootx64.efi")),
    )
}

#[allow(clippy::cast_precision_loss)] // sizes are far below 2^52
fn file_mb(path: &Path) -> Result<f64> {
    let len = fs::metadata(path).with_context(|| format!("reading {}", path.display()))?.len();
    Ok(len as f64 / 1e6)
}

/// The bytes of regular files below `dir`, in MB.
#[allow(clippy::cast_precision_loss)] // sizes are far below 2^52
fn dir_mb(dir: &Path) -> Result<f64> {
    let mut total = 0u64;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                total += entry.metadata()?.len();
            }
        }
    }
    Ok(total as f64 / 1e6)
}

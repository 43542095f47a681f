//! `kit run qemu`: boot what kit built and watch the serial console.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::anyhow;

use kit::run::{QemuArch, QemuOptions, RunOutcome};

use super::Failure;

/// Arguments of `kit run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    target: Target,
}

#[derive(Debug, clap::Subcommand)]
enum Target {
    /// Boot artifacts in QEMU, with the serial console on standard output.
    ///
    /// ARTIFACT is a name prefix (out/hello for out/hello-kernel, out/hello-initrd.img and
    /// out/hello-cmdline), a directory holding one NAME-kernel, or the files themselves. A
    /// NAME-squashfs.img or NAME-erofs.img becomes a read-only virtio disk with root=/dev/vda;
    /// a UEFI disk (NAME-efi.img, NAME-efi.qcow2, NAME.vhdx) or EFI ISO (NAME-efi.iso,
    /// NAME-efi-initrd.iso) boots under UEFI firmware (OVMF, or AAVMF for arm64).
    Qemu(QemuArgs),
}

/// Arguments of `kit run qemu`.
#[derive(Debug, clap::Args)]
pub struct QemuArgs {
    /// Guest architecture: amd64 (x86_64) or arm64 (aarch64). Default: the artifact's (an arm64
    /// kernel Image, or a raw UEFI disk booting BOOTAA64.EFI, is arm64), else amd64 (give
    /// --arch arm64 for arm64 ISOs, qcow2 and VHDX disks).
    #[arg(long, value_name = "ARCH")]
    arch: Option<String>,

    /// Guest memory in MiB.
    #[arg(long = "mem", default_value_t = 1024, value_name = "MIB")]
    memory_mib: u32,

    /// Number of virtual CPUs.
    #[arg(long, default_value_t = 1, value_name = "N")]
    cpus: u32,

    /// QEMU accelerator (`tcg`, or `kvm` where KVM really works).
    #[arg(long, default_value = "tcg", value_name = "ACCEL")]
    accel: String,

    /// Text appended to the kernel command line.
    #[arg(long, value_name = "TEXT")]
    append: Option<String>,

    /// Succeed (exit 0) as soon as a console line matches this regular expression.
    #[arg(long, value_name = "REGEX")]
    expect: Option<String>,

    /// Stop QEMU and fail after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<u64>,

    /// UEFI firmware code for disk and ISO boots, with its variable store template
    /// (--firmware-vars), for example Debian's OVMF_CODE_4M.snakeoil.fd with Secure Boot keys
    /// enrolled. Default: OVMF_CODE_4M.fd (amd64) or AAVMF_CODE.fd (arm64).
    #[arg(long, value_name = "FILE", requires = "firmware_vars")]
    firmware: Option<PathBuf>,

    /// The variable store template of --firmware (copied for each run).
    #[arg(long, value_name = "FILE", requires = "firmware")]
    firmware_vars: Option<PathBuf>,

    /// The QEMU binary. Default: qemu-system-x86_64 or qemu-system-aarch64 from PATH.
    #[arg(long, value_name = "PATH")]
    qemu: Option<PathBuf>,

    /// Artifacts to boot.
    #[arg(required = true, value_name = "ARTIFACT")]
    artifacts: Vec<PathBuf>,
}

/// Runs `kit run`.
pub fn run(args: &Args) -> Result<(), Failure> {
    let Target::Qemu(args) = &args.target;
    let mut options = QemuOptions::new(args.artifacts.clone());
    options.arch = match &args.arch {
        Some(arch) => {
            arch.parse::<QemuArch>().map_err(|e| Failure::Usage(anyhow!("--arch: {e}")))?
        }
        None => kit::run::detect_arch(&args.artifacts).unwrap_or(QemuArch::X86_64),
    };
    options.memory_mib = args.memory_mib;
    options.cpus = args.cpus;
    options.accel = args.accel.clone();
    options.cmdline_append = args.append.clone();
    options.expect = args.expect.clone();
    options.firmware = args.firmware.clone().zip(args.firmware_vars.clone());
    options.timeout = args.timeout.map(Duration::from_secs);
    options.qemu = args.qemu.clone();

    let stdout = io::stdout();
    let mut console = stdout.lock();
    let mut echo = |line: &str| {
        let _ = writeln!(console, "{line}");
    };
    match kit::run::run_qemu(&options, &mut echo) {
        Ok(RunOutcome::Matched { elapsed, .. }) => {
            eprintln!(
                "kit: matched {:?} after {:.1} s",
                args.expect.as_deref().unwrap_or(""),
                elapsed.as_secs_f64()
            );
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(error) => Err(Failure::Failed(error.into())),
    }
}

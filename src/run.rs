//! `kit run`: boots what kit built under QEMU and watches the serial console.
//!
//! [`run_qemu`] boots a kernel+initrd the way `linuxkit run qemu PATH` does: `PATH` is a name
//! prefix (`PATH-kernel`, `PATH-initrd.img`, `PATH-cmdline`), a directory holding exactly one
//! such set, or the files themselves. QEMU runs with `-nographic -no-reboot` and TCG unless told
//! otherwise (a `/dev/kvm` that exists does not mean KVM works), its serial console on a pipe
//! that is streamed line by line to the caller. With an expected pattern, the run succeeds as
//! soon as a console line matches, and QEMU is killed; a timeout or an exit without a match is
//! an error carrying the last console lines.
//!
//! A `NAME-squashfs.img` or `NAME-erofs.img` (from `kernel+squashfs`, `kernel+erofs`) is attached
//! as a read-only virtio disk and `root=/dev/vda` is appended unless the command line names a
//! root, as `linuxkit run qemu --squashfs` does with its disk; a prefix boots its initrd when it
//! has one, its root image otherwise.
//!
//! A UEFI disk (`NAME-efi.img`, `NAME-efi.qcow2`, `NAME.vhdx`) or EFI ISO (`NAME-efi.iso`,
//! `NAME-efi-initrd.iso`) boots under UEFI firmware (OVMF, or AAVMF for arm64), the ISO as a
//! CD-ROM; its command line is the one inside its UKI.
//!
//! Not supported yet: BIOS disks, networking options, extra disks.
//! The library never prints: console lines go to the `events` callback.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::str::FromStr;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How many console lines an error shows.
pub const LAST_LINES: usize = 25;

/// The guest architecture, which picks the QEMU binary and machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum QemuArch {
    /// `qemu-system-x86_64`, the default machine (i440FX, SeaBIOS), console on `ttyS0`.
    X86_64,
    /// `qemu-system-aarch64 -machine virt -cpu max`, console on `ttyAMA0`.
    Aarch64,
}

/// What to boot and how.
#[derive(Debug, Clone)]
pub struct QemuOptions {
    /// The artifacts as given on the command line: a name prefix, a directory, or the
    /// `-kernel`, `-initrd.img` and `-cmdline` files.
    pub artifacts: Vec<PathBuf>,
    /// The guest architecture.
    pub arch: QemuArch,
    /// The QEMU binary; `None` means `qemu-system-<arch>` from `PATH`.
    pub qemu: Option<PathBuf>,
    /// The `-accel` value: `tcg` unless KVM is known to work.
    pub accel: String,
    /// Guest memory in MiB (`-m`).
    pub memory_mib: u32,
    /// Virtual CPUs (`-smp`).
    pub cpus: u32,
    /// Text appended to the kernel command line read from the `-cmdline` file.
    pub cmdline_append: Option<String>,
    /// A regular expression: succeed as soon as a console line matches it.
    pub expect: Option<String>,
    /// Kill QEMU and fail after this long.
    pub timeout: Option<Duration>,
    /// Extra arguments passed to QEMU as they are.
    pub extra_args: Vec<String>,
    /// UEFI firmware code and variable store template for disk and ISO boots; `None` means
    /// Debian's OVMF (or AAVMF), without Secure Boot keys.
    pub firmware: Option<(PathBuf, PathBuf)>,
}

/// The files of a kernel+initrd boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelBoot {
    /// The kernel (`NAME-kernel`).
    pub kernel: PathBuf,
    /// The initrd (`NAME-initrd.img`), if there is one.
    pub initrd: Option<PathBuf>,
    /// The command line file (`NAME-cmdline`), if there is one.
    pub cmdline: Option<PathBuf>,
    /// A root filesystem image (`NAME-squashfs.img`, `NAME-erofs.img`) attached as a read-only
    /// virtio disk, with `root=/dev/vda` appended to the command line unless it names a root.
    pub root_disk: Option<PathBuf>,
}

/// How a run ended when it did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunOutcome {
    /// A console line matched the expected pattern; QEMU was then stopped.
    Matched {
        /// The matching line.
        line: String,
        /// Time from starting QEMU to the match.
        elapsed: Duration,
    },
    /// QEMU exited with status 0 (no pattern was expected).
    Exited {
        /// Time from starting QEMU to its exit.
        elapsed: Duration,
    },
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// No kernel for a prefix or in a directory.
    #[error(
        "no kernel to boot at {path}: expected {path}-kernel, or a directory holding one NAME-kernel"
    )]
    NoKernel {
        /// The path as given.
        path: PathBuf,
    },
    /// A directory holding several kernels.
    #[error("{dir} holds {} kernels ({}): name one of them", candidates.len(), candidates.join(", "))]
    AmbiguousDirectory {
        /// The directory.
        dir: PathBuf,
        /// The `*-kernel` file names found.
        candidates: Vec<String>,
    },
    /// An artifact kind `kit run qemu` cannot boot yet.
    #[error(
        "cannot boot {path}: expected NAME-kernel, NAME-initrd.img, NAME-cmdline, NAME-squashfs.img, NAME-erofs.img, a UEFI disk (NAME-efi.img, NAME-efi.qcow2, NAME.vhdx) or an EFI ISO"
    )]
    UnsupportedArtifact {
        /// The artifact.
        path: PathBuf,
    },
    /// Two artifacts of the same kind.
    #[error("two {kind} files given: {first} and {second}")]
    DuplicateArtifact {
        /// `kernel`, `initrd` or `cmdline`.
        kind: &'static str,
        /// The first one.
        first: PathBuf,
        /// The second one.
        second: PathBuf,
    },
    /// `--append` with a UEFI disk, whose command line is inside its UKI.
    #[error("--append does not apply to {path}: a UEFI disk boots the command line inside its UKI")]
    AppendToUefi {
        /// The disk.
        path: PathBuf,
    },
    /// The UEFI firmware could not be prepared.
    #[error(
        "preparing the UEFI firmware {path} (Debian: apt-get install ovmf, or qemu-efi-aarch64 for arm64)"
    )]
    Firmware {
        /// The firmware file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The command line file could not be read.
    #[error("reading the kernel command line {path}")]
    ReadCmdline {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The expected pattern is not a valid regular expression.
    #[error("invalid --expect pattern {pattern:?}")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// The cause.
        source: regex::Error,
    },
    /// QEMU could not be started.
    #[error("starting {program} (is QEMU installed? Debian: apt-get install qemu-system-x86)")]
    Spawn {
        /// The program.
        program: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Waiting for or stopping QEMU failed.
    #[error("{action} {program}")]
    Process {
        /// What was being done.
        action: &'static str,
        /// The program.
        program: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The timeout passed.
    #[error("timed out after {} s{}; last console lines:\n{last_lines}", timeout.as_secs_f64(), match pattern { Some(p) => format!(" waiting for {p:?} on the console"), None => String::new() })]
    Timeout {
        /// The timeout.
        timeout: Duration,
        /// The expected pattern, if any.
        pattern: Option<String>,
        /// The last console lines.
        last_lines: String,
    },
    /// QEMU exited before the pattern appeared.
    #[error(
        "qemu exited ({status}) without printing a line matching {pattern:?}; last console lines:\n{last_lines}"
    )]
    NoMatch {
        /// The expected pattern.
        pattern: String,
        /// QEMU's exit status.
        status: ExitStatus,
        /// The last console lines.
        last_lines: String,
    },
    /// QEMU exited with a failure status (no pattern expected).
    #[error("qemu exited with {status}; last console lines:\n{last_lines}")]
    Failed {
        /// QEMU's exit status.
        status: ExitStatus,
        /// The last console lines.
        last_lines: String,
    },
}

impl FromStr for QemuArch {
    type Err = String;

    /// Accepts LinuxKit's `--arch` spellings for build (`amd64`, `arm64`) and run (`x86_64`,
    /// `aarch64`).
    fn from_str(s: &str) -> Result<QemuArch, String> {
        match s {
            "amd64" | "x86_64" => Ok(QemuArch::X86_64),
            "arm64" | "aarch64" => Ok(QemuArch::Aarch64),
            other => Err(format!(
                "unknown architecture {other:?}: expected amd64 (x86_64) or arm64 (aarch64)"
            )),
        }
    }
}

impl QemuArch {
    /// The default QEMU binary.
    pub fn qemu_binary(self) -> &'static str {
        match self {
            QemuArch::X86_64 => "qemu-system-x86_64",
            QemuArch::Aarch64 => "qemu-system-aarch64",
        }
    }
}

impl QemuOptions {
    /// Options with LinuxKit's defaults (1 CPU, 1024 MiB) and TCG for `artifacts`.
    pub fn new(artifacts: Vec<PathBuf>) -> QemuOptions {
        QemuOptions {
            artifacts,
            arch: QemuArch::X86_64,
            qemu: None,
            accel: "tcg".to_owned(),
            memory_mib: 1024,
            cpus: 1,
            cmdline_append: None,
            expect: None,
            timeout: None,
            extra_args: Vec::new(),
            firmware: None,
        }
    }
}

/// Finds the kernel, initrd and command line files among `artifacts`, as `linuxkit run qemu`
/// resolves its `path` argument.
pub fn resolve_kernel_boot(artifacts: &[PathBuf]) -> Result<KernelBoot, RunError> {
    if let [single] = artifacts {
        if single.is_dir() {
            return from_directory(single);
        }
        if !name_of(single).ends_with("-kernel") {
            let kernel = with_suffix(single, "-kernel");
            if !kernel.is_file() {
                return Err(RunError::NoKernel { path: single.clone() });
            }
            return Ok(from_prefix(single));
        }
    }
    let mut kernel: Option<PathBuf> = None;
    let mut initrd: Option<PathBuf> = None;
    let mut cmdline: Option<PathBuf> = None;
    let mut root_disk: Option<PathBuf> = None;
    for path in artifacts {
        let name = name_of(path);
        let (slot, kind) = if name.ends_with("-kernel") || name == "kernel" {
            (&mut kernel, "kernel")
        } else if name.ends_with("-initrd.img") || name.ends_with(".cpio.gz") {
            (&mut initrd, "initrd")
        } else if name.ends_with("-cmdline") || name == "cmdline" {
            (&mut cmdline, "cmdline")
        } else if ROOT_DISK_SUFFIXES.iter().any(|suffix| name.ends_with(suffix)) {
            (&mut root_disk, "root filesystem")
        } else {
            return Err(RunError::UnsupportedArtifact { path: path.clone() });
        };
        if let Some(first) = slot.replace(path.clone()) {
            return Err(RunError::DuplicateArtifact { kind, first, second: path.clone() });
        }
    }
    let Some(kernel) = kernel else {
        let path = artifacts.first().cloned().unwrap_or_default();
        return Err(RunError::NoKernel { path });
    };
    // A kernel named alone brings its siblings, as a prefix would.
    if artifacts.len() == 1
        && let Some(prefix) = name_of(&kernel).strip_suffix("-kernel")
    {
        let prefix = kernel.with_file_name(prefix);
        return Ok(from_prefix(&prefix));
    }
    Ok(KernelBoot { kernel, initrd, cmdline, root_disk })
}

/// The root filesystem images `kit run qemu` attaches as a disk, by LinuxKit's file names.
const ROOT_DISK_SUFFIXES: [&str; 2] = ["-squashfs.img", "-erofs.img"];

fn name_of(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn existing(path: PathBuf) -> Option<PathBuf> {
    path.is_file().then_some(path)
}

/// The files of `prefix`: the initrd when there is one (as `linuxkit run qemu` boots a
/// kernel+initrd by default), else a squashfs or EROFS root disk.
fn from_prefix(prefix: &Path) -> KernelBoot {
    let initrd = existing(with_suffix(prefix, "-initrd.img"));
    let root_disk = match initrd {
        Some(_) => None,
        None => ROOT_DISK_SUFFIXES.iter().find_map(|suffix| existing(with_suffix(prefix, suffix))),
    };
    KernelBoot {
        kernel: with_suffix(prefix, "-kernel"),
        initrd,
        cmdline: existing(with_suffix(prefix, "-cmdline")),
        root_disk,
    }
}

fn from_directory(dir: &Path) -> Result<KernelBoot, RunError> {
    let entries =
        std::fs::read_dir(dir).map_err(|_| RunError::NoKernel { path: dir.to_owned() })?;
    let mut candidates: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with("-kernel"))
        .collect();
    candidates.sort();
    match candidates.as_slice() {
        [] => Err(RunError::NoKernel { path: dir.to_owned() }),
        [one] => {
            let prefix = one.trim_end_matches("-kernel");
            Ok(from_prefix(&dir.join(prefix)))
        }
        _ => Err(RunError::AmbiguousDirectory { dir: dir.to_owned(), candidates }),
    }
}

/// The QEMU program and arguments for booting `boot` with `options`; `cmdline` is the kernel
/// command line already read.
pub fn qemu_command(
    options: &QemuOptions,
    boot: &KernelBoot,
    cmdline: &str,
) -> (PathBuf, Vec<OsString>) {
    let program = options.qemu.clone().unwrap_or_else(|| PathBuf::from(options.arch.qemu_binary()));
    let mut args: Vec<OsString> = Vec::new();
    let mut push = |arg: &str| args.push(OsString::from(arg));
    if options.arch == QemuArch::Aarch64 {
        push("-machine");
        push("virt");
        push("-cpu");
        push("max");
    }
    push("-accel");
    push(&options.accel);
    push("-nographic");
    push("-no-reboot");
    push("-m");
    push(&options.memory_mib.to_string());
    push("-smp");
    push(&options.cpus.to_string());
    push("-kernel");
    args.push(boot.kernel.clone().into_os_string());
    if let Some(initrd) = &boot.initrd {
        args.push(OsString::from("-initrd"));
        args.push(initrd.clone().into_os_string());
    }
    if let Some(disk) = &boot.root_disk {
        let mut drive = OsString::from("file=");
        drive.push(escape_drive_path(disk));
        drive.push(",format=raw,if=virtio,readonly=on");
        args.push(OsString::from("-drive"));
        args.push(drive);
    }
    args.push(OsString::from("-append"));
    args.push(OsString::from(cmdline));
    args.extend(options.extra_args.iter().map(OsString::from));
    (program, args)
}

/// A path for QEMU's `-drive file=…`, where a comma must be doubled.
fn escape_drive_path(path: &Path) -> OsString {
    let text = path.as_os_str().to_string_lossy().replace(',', ",,");
    OsString::from(text)
}

/// Appends `root=/dev/vda` for a root disk unless the command line already names a root.
pub fn root_disk_cmdline(cmdline: &str, boot: &KernelBoot) -> String {
    let names_root = cmdline.split_whitespace().any(|word| word.starts_with("root="));
    if boot.root_disk.is_none() || names_root {
        return cmdline.to_owned();
    }
    if cmdline.is_empty() { "root=/dev/vda".to_owned() } else { format!("{cmdline} root=/dev/vda") }
}

/// What the reader threads send: a console line, or the end of one stream.
enum Output {
    Line { text: String, console: bool },
    Closed,
}

/// Boots the artifacts and streams every console line (and QEMU's own error output, prefixed
/// `qemu: `) to `events`.
pub fn run_qemu(
    options: &QemuOptions,
    events: &mut dyn FnMut(&str),
) -> Result<RunOutcome, RunError> {
    let pattern = match &options.expect {
        Some(text) => Some(
            regex::Regex::new(text)
                .map_err(|source| RunError::Pattern { pattern: text.clone(), source })?,
        ),
        None => None,
    };
    // Kept until QEMU has exited: the firmware's private variable store.
    let mut _vars = None;
    let (program, args) = match uefi_disk(&options.artifacts) {
        Some(disk) if options.cmdline_append.is_some() => {
            return Err(RunError::AppendToUefi { path: disk });
        }
        Some(disk) => {
            let (firmware_code, firmware_vars) =
                options.firmware.clone().unwrap_or_else(|| firmware_paths(options.arch));
            let vars = tempfile::NamedTempFile::new()
                .and_then(|vars| std::fs::copy(&firmware_vars, vars.path()).map(|_| vars))
                .map_err(|source| RunError::Firmware { path: firmware_vars.clone(), source })?;
            let command = uefi_disk_command(options, &disk, &firmware_code, vars.path());
            _vars = Some(vars);
            command
        }
        None => kernel_command(options)?,
    };
    run_command(options, pattern, &program, &args, events)
}

/// The architecture of the artifacts, from their bytes: an arm64 kernel `Image` (`ARM\x64` at
/// 0x38), or a UEFI disk whose ESP holds `BOOTAA64.EFI`; amd64 otherwise. `None` when nothing
/// can be read (the caller's default applies).
pub fn detect_arch(artifacts: &[PathBuf]) -> Option<QemuArch> {
    if let Some(disk) = uefi_disk(artifacts) {
        // Only a raw disk's ESP is read here; an ISO or a qcow2/VHDX container says nothing.
        if !name_of(&disk).ends_with("-efi.img") {
            return None;
        }
        let inspection = crate::inspect::inspect(&disk).ok()?;
        let arm64 = inspection
            .entries
            .iter()
            .flatten()
            .any(|entry| entry.path.ends_with("/EFI/BOOT/BOOTAA64.EFI"));
        return Some(if arm64 { QemuArch::Aarch64 } else { QemuArch::X86_64 });
    }
    let boot = resolve_kernel_boot(artifacts).ok()?;
    let mut head = [0u8; 0x40];
    let mut file = std::fs::File::open(&boot.kernel).ok()?;
    file.read_exact(&mut head).ok()?;
    Some(if &head[0x38..0x3c] == b"ARM\x64" { QemuArch::Aarch64 } else { QemuArch::X86_64 })
}

/// A UEFI disk or ISO among `artifacts` (`NAME-efi.img` from `raw-efi`, `NAME-efi.iso` and
/// `NAME-efi-initrd.iso` from the EFI ISO formats), booted with firmware.
pub fn uefi_disk(artifacts: &[PathBuf]) -> Option<PathBuf> {
    const SUFFIXES: [&str; 5] = ["-efi.img", "-efi-initrd.iso", "-efi.iso", "-efi.qcow2", ".vhdx"];
    match artifacts {
        [single] if SUFFIXES.iter().any(|suffix| name_of(single).ends_with(suffix)) => {
            Some(single.clone())
        }
        [prefix] if !prefix.is_dir() && !with_suffix(prefix, "-kernel").is_file() => {
            SUFFIXES.iter().find_map(|suffix| existing(with_suffix(prefix, suffix)))
        }
        _ => None,
    }
}

/// The UEFI firmware code and the variable store template for `arch` (Debian's ovmf and
/// qemu-efi-aarch64 packages).
pub fn firmware_paths(arch: QemuArch) -> (PathBuf, PathBuf) {
    match arch {
        QemuArch::X86_64 => (
            PathBuf::from("/usr/share/OVMF/OVMF_CODE_4M.fd"),
            PathBuf::from("/usr/share/OVMF/OVMF_VARS_4M.fd"),
        ),
        QemuArch::Aarch64 => (
            PathBuf::from("/usr/share/AAVMF/AAVMF_CODE.fd"),
            PathBuf::from("/usr/share/AAVMF/AAVMF_VARS.fd"),
        ),
    }
}

/// QEMU booting a UEFI disk: the firmware in pflash (code read-only, a private copy of the
/// variables), the disk as a virtio drive that the guest cannot change (`snapshot=on`).
pub fn uefi_disk_command(
    options: &QemuOptions,
    disk: &Path,
    firmware_code: &Path,
    firmware_vars: &Path,
) -> (PathBuf, Vec<OsString>) {
    let program = options.qemu.clone().unwrap_or_else(|| PathBuf::from(options.arch.qemu_binary()));
    let machine: &[&str] = match options.arch {
        QemuArch::X86_64 => &["-machine", "q35"],
        QemuArch::Aarch64 => &["-machine", "virt", "-cpu", "max"],
    };
    let mut args: Vec<OsString> = machine.iter().map(OsString::from).collect();
    for arg in ["-accel", &options.accel, "-nographic", "-no-reboot", "-net", "none"] {
        args.push(OsString::from(arg));
    }
    args.push(OsString::from("-m"));
    args.push(OsString::from(options.memory_mib.to_string()));
    args.push(OsString::from("-smp"));
    args.push(OsString::from(options.cpus.to_string()));
    let mut pflash = |unit: u32, readonly: bool, path: &Path| {
        let mut drive = OsString::from(format!("if=pflash,format=raw,unit={unit},"));
        if readonly {
            drive.push("readonly=on,");
        }
        drive.push("file=");
        drive.push(escape_drive_path(path));
        args.push(OsString::from("-drive"));
        args.push(drive);
    };
    pflash(0, true, firmware_code);
    pflash(1, false, firmware_vars);
    let mut drive = OsString::from("file=");
    drive.push(escape_drive_path(disk));
    match disk.extension().and_then(|ext| ext.to_str()) {
        // An ISO boots as a CD-ROM (El Torito), as `linuxkit run qemu --iso` attaches it.
        Some("iso") => drive.push(",format=raw,media=cdrom,readonly=on"),
        Some("qcow2") => drive.push(",format=qcow2,if=virtio,snapshot=on"),
        Some("vhdx") => drive.push(",format=vhdx,if=virtio,snapshot=on"),
        _ => drive.push(",format=raw,if=virtio,snapshot=on"),
    }
    args.push(OsString::from("-drive"));
    args.push(drive);
    args.extend(options.extra_args.iter().map(OsString::from));
    (program, args)
}

/// The QEMU command for a kernel boot (kernel, initrd, command line, root disk).
fn kernel_command(options: &QemuOptions) -> Result<(PathBuf, Vec<OsString>), RunError> {
    let boot = resolve_kernel_boot(&options.artifacts)?;
    let mut cmdline = match &boot.cmdline {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|source| RunError::ReadCmdline { path: path.clone(), source })?,
        None => String::new(),
    };
    let trimmed = cmdline.trim_end().len();
    cmdline.truncate(trimmed);
    if let Some(extra) = &options.cmdline_append {
        if !cmdline.is_empty() {
            cmdline.push(' ');
        }
        cmdline.push_str(extra);
    }
    let cmdline = root_disk_cmdline(&cmdline, &boot);
    Ok(qemu_command(options, &boot, &cmdline))
}

/// Runs QEMU and watches its console.
fn run_command(
    options: &QemuOptions,
    pattern: Option<regex::Regex>,
    program: &Path,
    args: &[OsString],
    events: &mut dyn FnMut(&str),
) -> Result<RunOutcome, RunError> {
    let program = program.to_path_buf();
    let started = Instant::now();
    let mut child = Command::new(&program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| RunError::Spawn { program: program.clone(), source })?;
    let (sender, receiver) = mpsc::channel();
    if let Some(stdout) = child.stdout.take() {
        forward_lines(stdout, true, sender.clone());
    }
    if let Some(stderr) = child.stderr.take() {
        forward_lines(stderr, false, sender.clone());
    }
    drop(sender);

    let mut last = VecDeque::with_capacity(LAST_LINES);
    let mut open_streams = 2;
    let deadline = options.timeout.map(|timeout| started + timeout);
    while open_streams > 0 {
        let message = match deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                match receiver.recv_timeout(left) {
                    Ok(message) => message,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        stop(&mut child, &program)?;
                        return Err(RunError::Timeout {
                            timeout: options.timeout.unwrap_or_default(),
                            pattern: options.expect.clone(),
                            last_lines: joined(&last),
                        });
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
            }
            None => match receiver.recv() {
                Ok(message) => message,
                Err(mpsc::RecvError) => break,
            },
        };
        let (line, console) = match message {
            Output::Line { text, console } => (text, console),
            Output::Closed => {
                open_streams -= 1;
                continue;
            }
        };
        events(&line);
        if last.len() == LAST_LINES {
            last.pop_front();
        }
        last.push_back(line.clone());
        if console && pattern.as_ref().is_some_and(|p| p.is_match(&line)) {
            let elapsed = started.elapsed();
            stop(&mut child, &program)?;
            return Ok(RunOutcome::Matched { line, elapsed });
        }
    }
    let status = wait_with_deadline(&mut child, &program, deadline)?;
    let elapsed = started.elapsed();
    let Some(status) = status else {
        return Err(RunError::Timeout {
            timeout: options.timeout.unwrap_or_default(),
            pattern: options.expect.clone(),
            last_lines: joined(&last),
        });
    };
    match &options.expect {
        Some(pattern) => {
            Err(RunError::NoMatch { pattern: pattern.clone(), status, last_lines: joined(&last) })
        }
        None if status.success() => Ok(RunOutcome::Exited { elapsed }),
        None => Err(RunError::Failed { status, last_lines: joined(&last) }),
    }
}

/// Reads `stream` on a thread, sending each line (without `\r\n`, invalid UTF-8 replaced), then
/// `Closed`. Lines of QEMU's stderr (`console == false`) get the prefix `qemu: `.
fn forward_lines<R: Read + Send + 'static>(stream: R, console: bool, sender: mpsc::Sender<Output>) {
    let prefix = if console { "" } else { "qemu: " };
    thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut buffer = Vec::new();
        loop {
            buffer.clear();
            match reader.read_until(b'\n', &mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&buffer);
                    let line = format!("{prefix}{}", text.trim_end_matches(['\n', '\r']));
                    if sender.send(Output::Line { text: line, console }).is_err() {
                        return;
                    }
                }
            }
        }
        // The receiver may be gone already; nothing is lost then.
        let _ = sender.send(Output::Closed);
    });
}

fn stop(child: &mut Child, program: &Path) -> Result<(), RunError> {
    match child.kill() {
        Ok(()) => {}
        // Already exited: nothing to kill.
        Err(error) if error.kind() == io::ErrorKind::InvalidInput => {}
        Err(source) => {
            return Err(RunError::Process {
                action: "stopping",
                program: program.to_owned(),
                source,
            });
        }
    }
    child.wait().map(drop).map_err(|source| RunError::Process {
        action: "waiting for",
        program: program.to_owned(),
        source,
    })
}

/// Waits for QEMU to exit, killing it at `deadline`; `None` means it was killed.
fn wait_with_deadline(
    child: &mut Child,
    program: &Path,
    deadline: Option<Instant>,
) -> Result<Option<ExitStatus>, RunError> {
    let wait_error =
        |source| RunError::Process { action: "waiting for", program: program.to_owned(), source };
    let Some(deadline) = deadline else {
        return child.wait().map(Some).map_err(wait_error);
    };
    loop {
        if let Some(status) = child.try_wait().map_err(wait_error)? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            stop(child, program)?;
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn joined(lines: &VecDeque<String>) -> String {
    let mut out = String::new();
    for line in lines {
        // Writing to a String cannot fail.
        let _ = writeln!(out, "  {line}");
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests fail loudly by design.
mod tests {
    use super::*;

    fn touch(dir: &Path, name: &str, contents: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    #[test]
    fn prefix_finds_linuxkit_names() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), "hello-kernel", "");
        touch(dir.path(), "hello-initrd.img", "");
        touch(dir.path(), "hello-cmdline", "console=ttyS0\n");
        let expected = KernelBoot {
            kernel: dir.path().join("hello-kernel"),
            initrd: Some(dir.path().join("hello-initrd.img")),
            cmdline: Some(dir.path().join("hello-cmdline")),
            root_disk: None,
        };
        assert_eq!(resolve_kernel_boot(&[dir.path().join("hello")]).unwrap(), expected);
        assert_eq!(resolve_kernel_boot(&[dir.path().to_owned()]).unwrap(), expected);
        assert_eq!(resolve_kernel_boot(&[dir.path().join("hello-kernel")]).unwrap(), expected);
        let explicit = [
            dir.path().join("hello-cmdline"),
            dir.path().join("hello-kernel"),
            dir.path().join("hello-initrd.img"),
        ];
        assert_eq!(resolve_kernel_boot(&explicit).unwrap(), expected);
    }

    #[test]
    fn missing_or_unknown_artifacts_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let err = resolve_kernel_boot(&[dir.path().join("nothing")]).unwrap_err();
        assert!(err.to_string().contains("nothing-kernel"), "{err}");
        let err = resolve_kernel_boot(&[dir.path().to_owned()]).unwrap_err();
        assert!(matches!(err, RunError::NoKernel { .. }), "{err}");
        touch(dir.path(), "a-kernel", "");
        touch(dir.path(), "b-kernel", "");
        let err = resolve_kernel_boot(&[dir.path().to_owned()]).unwrap_err();
        assert!(err.to_string().contains("a-kernel, b-kernel"), "{err}");
        let err = resolve_kernel_boot(&[dir.path().join("disk.qcow2")]).unwrap_err();
        assert!(matches!(err, RunError::NoKernel { .. }), "{err}");
        let err = resolve_kernel_boot(&[dir.path().join("a-kernel"), dir.path().join("x.qcow2")])
            .unwrap_err();
        assert!(matches!(err, RunError::UnsupportedArtifact { .. }), "{err}");
        let err = resolve_kernel_boot(&[dir.path().join("a-kernel"), dir.path().join("b-kernel")])
            .unwrap_err();
        assert!(matches!(err, RunError::DuplicateArtifact { kind: "kernel", .. }), "{err}");
    }

    #[test]
    fn command_line_matches_the_harness() {
        // verify-tools.md §3: qemu-system-x86_64 -accel tcg -nographic -no-reboot -m 512
        // -kernel K -initrd I -append "console=ttyS0 panic=-1".
        let boot = KernelBoot {
            kernel: PathBuf::from("k"),
            initrd: Some(PathBuf::from("i")),
            cmdline: None,
            root_disk: None,
        };
        let mut options = QemuOptions::new(Vec::new());
        options.memory_mib = 512;
        let (program, args) = qemu_command(&options, &boot, "console=ttyS0 panic=-1");
        let args: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(program, PathBuf::from("qemu-system-x86_64"));
        assert_eq!(
            args.join(" "),
            "-accel tcg -nographic -no-reboot -m 512 -smp 1 -kernel k -initrd i -append console=ttyS0 panic=-1"
        );
        options.arch = "arm64".parse().unwrap();
        let (program, args) = qemu_command(&options, &boot, "");
        assert_eq!(program, PathBuf::from("qemu-system-aarch64"));
        assert_eq!(args[..4], ["-machine", "virt", "-cpu", "max"].map(OsString::from));
        assert!("riscv".parse::<QemuArch>().is_err());
    }

    #[test]
    fn root_filesystem_images_become_a_virtio_disk_with_root() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), "sq-kernel", "");
        touch(dir.path(), "sq-squashfs.img", "");
        touch(dir.path(), "sq-cmdline", "console=ttyS0\n");
        let boot = resolve_kernel_boot(&[dir.path().join("sq")]).unwrap();
        assert_eq!(boot.root_disk, Some(dir.path().join("sq-squashfs.img")));
        assert_eq!(boot.initrd, None);
        assert_eq!(root_disk_cmdline("console=ttyS0", &boot), "console=ttyS0 root=/dev/vda");
        assert_eq!(root_disk_cmdline("root=/dev/vdb ro", &boot), "root=/dev/vdb ro");
        assert_eq!(root_disk_cmdline("", &boot), "root=/dev/vda");
        let (_, args) = qemu_command(&QemuOptions::new(Vec::new()), &boot, "x");
        let args: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        let drive = args.iter().position(|a| a == "-drive").unwrap();
        assert_eq!(
            args[drive + 1],
            format!("file={},format=raw,if=virtio,readonly=on", boot.root_disk.unwrap().display())
        );

        // An initrd beside it wins for a prefix; named files may combine both (a test initrd
        // that mounts the disk).
        touch(dir.path(), "sq-initrd.img", "");
        let boot = resolve_kernel_boot(&[dir.path().join("sq")]).unwrap();
        assert_eq!((boot.initrd.is_some(), boot.root_disk), (true, None));
        touch(dir.path(), "er-erofs.img", "");
        let named = [
            dir.path().join("sq-kernel"),
            dir.path().join("loader.cpio.gz"),
            dir.path().join("er-erofs.img"),
        ];
        let boot = resolve_kernel_boot(&named).unwrap();
        assert_eq!(boot.root_disk, Some(dir.path().join("er-erofs.img")));
        assert_eq!(boot.initrd, Some(dir.path().join("loader.cpio.gz")));
        assert_eq!(escape_drive_path(Path::new("a,b")), OsString::from("a,,b"));
    }

    #[test]
    fn append_is_refused_for_uefi_disks() {
        let dir = tempfile::tempdir().unwrap();
        let disk = touch(dir.path(), "x-efi.img", "");
        let mut options = QemuOptions::new(vec![disk]);
        options.cmdline_append = Some("quiet".to_owned());
        let err = run_qemu(&options, &mut |_| {}).unwrap_err();
        assert!(matches!(err, RunError::AppendToUefi { .. }), "{err}");
    }

    #[test]
    fn the_architecture_comes_from_the_kernel_image() {
        let dir = tempfile::tempdir().unwrap();
        let mut arm = vec![0u8; 0x40];
        arm[0x38..0x3c].copy_from_slice(b"ARM\x64");
        std::fs::write(dir.path().join("a-kernel"), &arm).unwrap();
        std::fs::write(dir.path().join("x-kernel"), vec![0u8; 0x40]).unwrap();
        assert_eq!(detect_arch(&[dir.path().join("a")]), Some(QemuArch::Aarch64));
        assert_eq!(detect_arch(&[dir.path().join("x-kernel")]), Some(QemuArch::X86_64));
        assert_eq!(detect_arch(&[dir.path().join("missing")]), None);
    }

    /// A stand-in for QEMU: a shell script printing `lines`, then sleeping `sleep` seconds.
    fn fake_qemu(dir: &Path, body: &str) -> QemuOptions {
        use std::os::unix::fs::PermissionsExt;
        touch(dir, "t-kernel", "");
        touch(dir, "t-cmdline", "console=ttyS0\n");
        let script = touch(dir, "fake-qemu", &format!("#!/bin/sh\n{body}\n"));
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut options = QemuOptions::new(vec![dir.join("t")]);
        options.qemu = Some(script);
        options
    }

    #[test]
    fn match_stops_qemu_early() {
        let dir = tempfile::tempdir().unwrap();
        let mut options =
            fake_qemu(dir.path(), "echo booting\necho 'kit: hello from onboot'\nsleep 30");
        options.expect = Some("kit: hello.*onboot".to_owned());
        options.timeout = Some(Duration::from_secs(20));
        let mut seen = Vec::new();
        let outcome = run_qemu(&options, &mut |line| seen.push(line.to_owned())).unwrap();
        let RunOutcome::Matched { line, elapsed } = outcome else { panic!("{outcome:?}") };
        assert_eq!(line, "kit: hello from onboot");
        assert!(elapsed < Duration::from_secs(20), "{elapsed:?}");
        assert_eq!(seen, ["booting", "kit: hello from onboot"]);
    }

    #[test]
    fn arguments_reach_qemu() {
        let dir = tempfile::tempdir().unwrap();
        let mut options = fake_qemu(dir.path(), "echo \"$@\"");
        options.cmdline_append = Some("quiet".to_owned());
        let mut seen = Vec::new();
        let outcome = run_qemu(&options, &mut |line| seen.push(line.to_owned())).unwrap();
        assert!(matches!(outcome, RunOutcome::Exited { .. }));
        assert!(seen[0].ends_with("-append console=ttyS0 quiet"), "{seen:?}");
    }

    #[test]
    fn timeout_reports_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let mut options = fake_qemu(dir.path(), "echo still booting\nsleep 30");
        options.expect = Some("never".to_owned());
        options.timeout = Some(Duration::from_millis(500));
        let err = run_qemu(&options, &mut |_| {}).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, RunError::Timeout { .. }), "{message}");
        assert!(message.contains("still booting"), "{message}");
    }

    #[test]
    fn exit_without_match_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut options = fake_qemu(dir.path(), "echo panic >&2\necho 'Kernel panic'");
        options.expect = Some("^kit:".to_owned());
        let err = run_qemu(&options, &mut |_| {}).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, RunError::NoMatch { .. }), "{message}");
        assert!(message.contains("Kernel panic") && message.contains("qemu: panic"), "{message}");
        // QEMU's own stderr never satisfies the pattern.
        let mut options = fake_qemu(dir.path(), "echo 'kit: not console' >&2");
        options.expect = Some("kit:".to_owned());
        assert!(matches!(run_qemu(&options, &mut |_| {}), Err(RunError::NoMatch { .. })));
    }

    #[test]
    fn failures_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let options = fake_qemu(dir.path(), "exit 3");
        assert!(matches!(run_qemu(&options, &mut |_| {}), Err(RunError::Failed { .. })));
        let mut options = fake_qemu(dir.path(), "true");
        options.expect = Some("(".to_owned());
        assert!(matches!(run_qemu(&options, &mut |_| {}), Err(RunError::Pattern { .. })));
        options.expect = None;
        options.qemu = Some(dir.path().join("no-such-qemu"));
        assert!(matches!(run_qemu(&options, &mut |_| {}), Err(RunError::Spawn { .. })));
    }
}

//! `kit build`: flags to a [`kit::build::BuildRequest`], then the build.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, anyhow};

use kit::build::{BuildError, BuildRequest, Destination, LocalSource};
use kit::cache::Cache;
use kit::fetch::{self, ClientOptions, PullPolicy, Registry};
use kit::oci::{ArchiveSource, OciLayout, Platform};
use kit::output::Format;

use super::{Failure, read_config};

/// Arguments of `kit build`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(
        short = 'f',
        long = "format",
        value_name = "FORMAT",
        value_delimiter = ',',
        help = "Output formats, repeatable or comma-separated; default kernel+initrd, or tar with -o",
        long_help = formats_help()
    )]
    formats: Vec<String>,

    /// Directory the outputs are written to.
    #[arg(long, value_name = "DIR", default_value = ".")]
    dir: PathBuf,

    /// Write the single output (tar only) to FILE instead, or to standard output with `-`.
    #[arg(short = 'o', value_name = "FILE", conflicts_with = "dir")]
    output: Option<PathBuf>,

    /// Base name of the outputs (NAME.tar, NAME-kernel, NAME-initrd.img, NAME-cmdline).
    /// Default: the first configuration file's name without its extension.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,

    /// The size of disk images (raw-efi: the ESP fills it) and the largest a filesystem image
    /// may be (squashfs, EROFS, ISO), as LinuxKit spells sizes: a number of GiB, or with an M
    /// (MiB) or G (GiB) suffix. Content that does not fit fails the build.
    #[arg(long, value_name = "SIZE")]
    size: Option<kit::artifacts::DiskSize>,

    /// Sign the UKI and systemd-boot for UEFI Secure Boot (Authenticode, SHA-256, no signing
    /// time: the same inputs give the same signature) with this private key (PEM: PKCS#8,
    /// PKCS#1 RSA of 2048 bits or more, or SEC1 P-256; unencrypted). Needs --secure-boot-cert.
    #[arg(long, value_name = "KEY", requires = "secure_boot_cert")]
    secure_boot_key: Option<PathBuf>,

    /// The certificate (PEM) of --secure-boot-key, as enrolled in the firmware's db.
    #[arg(long, value_name = "CERT", requires = "secure_boot_key")]
    secure_boot_cert: Option<PathBuf>,

    /// What disk, partition and volume identifiers (GPT GUIDs, FAT volume id) are derived from.
    /// Default: the image's own content, so the same inputs give the same identifiers.
    #[arg(long, value_name = "TEXT")]
    seed: Option<String>,

    /// How the initrd's root archive is compressed; the kernel must have the matching
    /// CONFIG_RD_GZIP, CONFIG_RD_ZSTD, CONFIG_RD_XZ or CONFIG_RD_LZ4 (none needs none). gzip is
    /// compressed on every core, with the same bytes whatever the core count.
    #[arg(
        long,
        value_name = "gzip|zstd|xz|lz4|none",
        default_value = "gzip",
        value_parser = ["gzip", "zstd", "xz", "lz4", "none"]
    )]
    initrd_compression: String,

    /// The initrd's compression level: gzip 0-9 (default 6, which keeps the initrd smaller
    /// than LinuxKit's at about half its time), xz preset 0-9 (default 6).
    #[arg(long, value_name = "LEVEL", value_parser = clap::value_parser!(u32).range(0..=9))]
    compression_level: Option<u32>,

    /// kernel+squashfs's compressor: gzip (level 9, as mksquashfs and LinuxKit), xz, zstd or
    /// lz4. The kernel needs the matching CONFIG_SQUASHFS_<NAME>.
    #[arg(
        long,
        value_name = "gzip|xz|zstd|lz4",
        default_value = "gzip",
        value_parser = ["gzip", "xz", "zstd", "lz4"]
    )]
    squashfs_compression: String,

    /// kernel+squashfs's block size: a power of two from 4K to 1M (K and M suffixes, or bytes).
    #[arg(long, value_name = "SIZE", default_value = "128K")]
    squashfs_block_size: String,

    /// How kernel+erofs stores file data: none (as LinuxKit's mkfs.erofs) or lz4 (one 4 KiB
    /// physical cluster at a time; needs CONFIG_EROFS_FS_ZIP).
    #[arg(long, value_name = "none|lz4", default_value = "none", value_parser = ["none", "lz4"])]
    erofs_compression: String,

    /// Timestamp of every generated entry, in seconds since 1970-01-01.
    /// Default: $SOURCE_DATE_EPOCH, else 0.
    #[arg(long, value_name = "SECONDS")]
    epoch: Option<i64>,

    /// Refuse any image that is not in the lockfile or resolves differently from it; with a
    /// warm cache no network connection is opened.
    #[arg(long)]
    locked: bool,

    /// The lockfile read by --locked. Default: NAME.lock.
    #[arg(long, value_name = "FILE")]
    lock: Option<PathBuf>,

    #[command(flatten)]
    inputs: InputArgs,
}

/// `--format`'s long help: every format of the table with its files.
fn formats_help() -> String {
    let mut help = String::from(
        "Output formats, repeatable or comma-separated. Default: kernel+initrd, or tar with -o. \
         Each writes these files:\n",
    );
    for spec in kit::output::FORMATS {
        let files: Vec<String> =
            spec.files.iter().map(|file| format!("NAME{}", file.suffix)).collect();
        help.push_str(&format!("\n  {:<18} {}", spec.name, files.join(", ")));
    }
    help
}

/// Arguments of `kit lock`.
#[derive(Debug, clap::Args)]
pub struct LockArgs {
    /// Where to write the lockfile. Default: NAME.lock in the current directory.
    #[arg(long, value_name = "FILE")]
    lock: Option<PathBuf>,

    /// The NAME of the default lockfile. Default: the first configuration file's name without
    /// its extension.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,

    #[command(flatten)]
    inputs: InputArgs,
}

/// Where images come from and how they are checked: shared by `kit build` and `kit lock`.
#[derive(Debug, clap::Args)]
pub struct InputArgs {
    /// Target architecture: amd64, arm64, riscv64, optionally with a variant (arm64/v8).
    /// Default: the host's.
    #[arg(long, value_name = "ARCH")]
    arch: Option<String>,

    /// Image cache, an OCI image layout. Default: $KIT_CACHE, else $XDG_CACHE_HOME/kit, else
    /// ~/.cache/kit.
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,

    /// A local image source searched before the cache, by image name: an OCI image layout
    /// directory, an OCI archive or a `docker save` tarball. Repeatable.
    #[arg(long = "source", value_name = "PATH")]
    sources: Vec<PathBuf>,

    /// Ask the registry again for images the cache already has (tags are otherwise sticky).
    #[arg(long, conflicts_with = "offline")]
    pull: bool,

    /// Never use the network: every image must come from --source or the cache.
    #[arg(long)]
    offline: bool,

    #[command(flatten)]
    registry: RegistryArgs,

    /// The signature policy: kit's YAML format, or a containers-policy.json (Podman, Skopeo):
    /// which signers each image must be signed by. Without it every image is refused; `kit build`
    /// explains how to write one.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,

    /// Print, for every image, which rule and signature verified it.
    #[arg(long)]
    explain: bool,

    /// The image holding systemd-boot and the systemd EFI stub at usr/lib/systemd/boot/efi/
    /// (as Debian's systemd-boot-efi installs them), for uki, raw-efi, iso-efi, iso-efi-initrd,
    /// qcow2-efi and vhdx. Resolved, locked and
    /// signature-checked under --policy like every image.
    #[arg(long, value_name = "IMAGE")]
    boot_image: Option<String>,

    /// LinuxKit configuration files, merged in order (`-` reads standard input).
    #[arg(required = true, value_name = "CONFIG")]
    configs: Vec<PathBuf>,
}

/// How registries are reached: shared by `kit build`, `kit lock` and `kit cache pull`.
#[derive(Debug, clap::Args)]
pub struct RegistryArgs {
    /// Use URL for registry REGISTRY (or `*` for all), like LinuxKit's --mirror. Repeatable.
    #[arg(long = "mirror", value_name = "REGISTRY=URL")]
    mirrors: Vec<String>,

    /// An extra CA certificate file (PEM) for registries. Repeatable.
    #[arg(long = "cert-file", visible_alias = "ca-cert", value_name = "FILE")]
    cert_files: Vec<PathBuf>,

    /// Allow plain HTTP or unverified TLS for HOST[:PORT] (loopback registries always may).
    #[arg(long = "insecure-registry", value_name = "HOST")]
    insecure_registries: Vec<String>,

    /// How progress is reported on standard error: auto (bars on a terminal, plain lines
    /// otherwise), plain, json (JSON lines) or none.
    #[arg(long, value_name = "MODE", default_value = "auto")]
    pub(super) progress: String,
}

/// Everything `kit build` and `kit lock` set up before resolving images.
struct Session {
    config: kit::config::Config,
    platform: Platform,
    policy: signing::Policy,
    now: signing::UnixTime,
    sources: Vec<LocalSource>,
    cache: Cache,
    registry: Option<Registry>,
    pull: PullPolicy,
    host: HostFiles,
}

impl Session {
    fn open(inputs: &InputArgs) -> Result<Session, Failure> {
        let mut files = Vec::with_capacity(inputs.configs.len());
        for path in &inputs.configs {
            files.push(read_config(path).map_err(Failure::Usage)?);
        }
        let config = kit::config::load(&files).map_err(|errors| Failure::Usage(errors.into()))?;
        let platform = platform(inputs.arch.as_deref()).map_err(Failure::Usage)?;
        let policy = kit::verify::load_policy(inputs.policy.as_deref(), config.trust.as_ref())
            .map_err(|e| Failure::Usage(e.into()))?;
        // The one clock read of a build: signatures are checked at this time.
        let now = signing::UnixTime(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
        );
        let mut sources = Vec::new();
        for path in &inputs.sources {
            sources.push(open_source(path).map_err(Failure::Usage)?);
        }
        let cache_dir = cache_dir(inputs.cache.as_deref()).map_err(Failure::Usage)?;
        let cache = Cache::open(&cache_dir)
            .with_context(|| format!("opening the image cache {}", cache_dir.display()))?;
        let progress = progress_sink(&inputs.registry.progress).map_err(Failure::Usage)?;
        let registry = if inputs.offline {
            None
        } else {
            Some(registry_from(&inputs.registry, progress).map_err(Failure::Usage)?)
        };
        let pull = if inputs.offline {
            PullPolicy::Never
        } else if inputs.pull {
            PullPolicy::Always
        } else {
            PullPolicy::IfMissing
        };
        let host = HostFiles {
            metadata_yaml: config.metadata_yaml(),
            metadata_json: config.metadata_json(),
            cwd: std::env::current_dir().context("reading the working directory")?,
            home: std::env::var_os("HOME").map(PathBuf::from),
        };
        Ok(Session { config, platform, policy, now, sources, cache, registry, pull, host })
    }

    fn request<'s>(
        &'s self,
        sources: Vec<LocalSource>,
        formats: Vec<Format>,
        destination: Destination,
        name: String,
        epoch: i64,
        events: &'s dyn kit::build::BuildEvents,
    ) -> BuildRequest<'s> {
        BuildRequest {
            events,
            formats,
            destination,
            name,
            platform: self.platform.clone(),
            epoch,
            sources,
            cache: &self.cache,
            registry: self.registry.as_ref(),
            pull: self.pull,
            host: &self.host,
            policy: &self.policy,
            now: self.now,
            locked: None,
            size_limit: None,
            seed: None,
            signer: None,
            boot_image: None,
            threads: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            erofs_compression: formats::erofs::Compression::None,
            initrd_compression: formats::initrd::InitrdCompression::Gzip { level: 6 },
            squashfs_compression: formats::squashfs::Compression::Gzip { level: 9 },
            squashfs_block_size: formats::squashfs::BlockSize::DEFAULT,
        }
    }
}

/// Maps a failed build to its exit status: a broken policy or flags asking for something
/// impossible (a format without its kernel or boot image, an architecture it does not support,
/// `-o` with several files) are usage errors (2), everything else a build failure (1).
fn build_failure(error: BuildError, what: &str) -> Failure {
    let usage = matches!(&error, BuildError::Verify { source, .. } if source.is_policy_error())
        || matches!(&error, BuildError::Usage(_));
    let error = anyhow::Error::new(error).context(format!("{what} failed"));
    if usage { Failure::Usage(error) } else { Failure::Failed(error) }
}

/// Shows a build while it runs: each image's warnings (once, naming the image once) and, with
/// `--explain`, how it was verified, as soon as it is verified; each step's start and end
/// (`--progress plain`: a line each, with the duration; `json`: `{"step", "subject", "state",
/// "seconds"}` lines; a terminal: a line when a step ends); and a summary at the end.
/// With `--progress json` a verified image is `{"image": …, "state": "verified", "verifiedBy":
/// {…}}`, where `verifiedBy` is the lockfile's record (rule, `signatureManifest`, `referrers`,
/// signers with the `referrer` that carried each signature).
struct Reporter {
    mode: String,
    explain: bool,
    started: std::time::Instant,
    steps: std::cell::RefCell<std::collections::BTreeMap<(String, String), std::time::Instant>>,
}

impl Reporter {
    fn new(inputs: &InputArgs) -> Reporter {
        Reporter {
            mode: inputs.registry.progress.clone(),
            explain: inputs.explain,
            started: std::time::Instant::now(),
            steps: std::cell::RefCell::new(std::collections::BTreeMap::new()),
        }
    }

    fn json(&self) -> bool {
        self.mode == "json"
    }

    /// The summary a person reads: every output with its size and SHA-256, the total time and
    /// where the images came from (not with `--progress none` or `json`).
    fn summary(&self, report: &kit::build::BuildReport) {
        if self.mode == "none" || self.json() {
            return;
        }
        for output in &report.outputs {
            eprintln!(
                "kit: wrote {} ({} bytes, sha256 {})",
                output.path.display(),
                output.size,
                output.sha256
            );
        }
        let from_cache = report.images.iter().filter(|i| i.source.starts_with("cache")).count();
        let reused = report.segments.iter().filter(|s| s.reused).count();
        eprintln!(
            "kit: built in {:.1} s; {} image(s): {} from local sources, {from_cache} from the \
             cache; initrd segments: {reused} of {} reused",
            self.started.elapsed().as_secs_f64(),
            report.images.len(),
            report.images.len() - from_cache,
            report.segments.len()
        );
    }
}

impl kit::build::BuildEvents for Reporter {
    fn verified(&self, image: &kit::build::ImageReport) {
        for warning in &image.warnings {
            // The verifier's warnings already start with the image they concern.
            if warning.starts_with(&image.reference) {
                eprintln!("kit: warning: {warning}");
            } else {
                eprintln!("kit: warning: {}: {warning}", image.reference);
            }
        }
        if self.explain {
            eprintln!("kit: {}", image.explanation);
        }
        if self.json() {
            let event = serde_json::json!({
                "image": image.reference,
                "state": "verified",
                "verifiedBy": image.verified_by,
            });
            eprintln!("{event}");
        }
    }

    fn step(&self, event: &kit::build::StepEvent) {
        let key = (event.step.to_owned(), event.subject.clone());
        let mut steps = self.steps.borrow_mut();
        let seconds = if event.done {
            steps.remove(&key).map(|start| start.elapsed().as_secs_f64())
        } else {
            steps.insert(key, std::time::Instant::now());
            None
        };
        let what = if event.subject.is_empty() {
            event.step.to_owned()
        } else {
            format!("{} {}", event.step, event.subject)
        };
        match self.mode.as_str() {
            "json" => {
                let mut line = serde_json::json!({
                    "step": event.step,
                    "subject": event.subject,
                    "state": if event.done { "done" } else { "start" },
                });
                if let Some(seconds) = seconds {
                    line["seconds"] = serde_json::json!((seconds * 1000.0).round() / 1000.0);
                }
                eprintln!("{line}");
            }
            "plain" if !event.done => eprintln!("kit: {what} ..."),
            "plain" | "auto" if event.done => {
                eprintln!("kit: {what}: done in {:.1} s", seconds.unwrap_or(0.0));
            }
            _ => {}
        }
    }
}

/// Runs `kit build`.
pub fn run(args: &Args) -> Result<(), Failure> {
    let formats = formats(args).map_err(Failure::Usage)?;
    let destination = match &args.output {
        None => Destination::Directory(args.dir.clone()),
        Some(path) if path.as_os_str() == "-" => Destination::Stdout,
        Some(path) => Destination::File(path.clone()),
    };
    let name = args.name.clone().unwrap_or_else(|| default_name(&args.inputs.configs[0]));
    let epoch = epoch(args.epoch).map_err(Failure::Usage)?;
    let lockfile = if args.locked {
        let path = args.lock.clone().unwrap_or_else(|| PathBuf::from(format!("{name}.lock")));
        let lockfile = kit::lock::Lockfile::read(&path)
            .context("--locked needs a lockfile; write it with `kit lock`")
            .map_err(Failure::Usage)?;
        Some(lockfile)
    } else {
        None
    };
    let mut session = Session::open(&args.inputs)?;
    let sources = std::mem::take(&mut session.sources);
    let reporter = Reporter::new(&args.inputs);
    let mut request = session.request(sources, formats, destination, name, epoch, &reporter);
    request.locked = lockfile.as_ref();
    request.size_limit = args.size.clone();
    request.seed = args.seed.as_ref().map(|seed| seed.as_bytes().to_vec());
    if let (Some(key), Some(cert)) = (&args.secure_boot_key, &args.secure_boot_cert) {
        let signer = kit::secureboot::Signer::from_files(key, cert)
            .map_err(|e| Failure::Usage(anyhow!("--secure-boot-key/--secure-boot-cert: {e}")))?;
        request.signer = Some(Arc::new(signer));
    }
    request.boot_image = boot_image(args.inputs.boot_image.as_deref()).map_err(Failure::Usage)?;
    let level = args.compression_level;
    request.initrd_compression = match args.initrd_compression.as_str() {
        "zstd" => formats::initrd::InitrdCompression::Zstd,
        "xz" => formats::initrd::InitrdCompression::Xz { preset: level.unwrap_or(6) },
        "lz4" => formats::initrd::InitrdCompression::Lz4,
        "none" => formats::initrd::InitrdCompression::None,
        _ => formats::initrd::InitrdCompression::Gzip { level: level.unwrap_or(6) },
    };
    request.squashfs_compression = match args.squashfs_compression.as_str() {
        "xz" => formats::squashfs::Compression::Xz { preset: 6 },
        "zstd" => formats::squashfs::Compression::Zstd,
        "lz4" => formats::squashfs::Compression::Lz4,
        _ => formats::squashfs::Compression::Gzip { level: 9 },
    };
    request.squashfs_block_size =
        squashfs_block_size(&args.squashfs_block_size).map_err(Failure::Usage)?;
    request.erofs_compression = match args.erofs_compression.as_str() {
        "lz4" => formats::erofs::Compression::Lz4,
        _ => formats::erofs::Compression::None,
    };
    let report = kit::build::build(&session.config, &request)
        .map_err(|error| build_failure(error, "build"))?;
    if args.inputs.registry.progress == "json" {
        for segment in &report.segments {
            let event = serde_json::json!({
                "segment": segment.part,
                "state": if segment.reused { "reused" } else { "compressed" },
                "key": segment.key,
                "size": segment.size,
            });
            eprintln!("{event}");
        }
    }
    let mut stdout = io::stdout().lock();
    for output in &report.outputs {
        if args.inputs.registry.progress == "json" {
            let event = serde_json::json!({
                "output": output.path,
                "state": "written",
                "formats": output.formats.iter().map(|f| f.name()).collect::<Vec<_>>(),
                "size": output.size,
                "sha256": output.sha256,
            });
            eprintln!("{event}");
        }
        if output.path.as_os_str() != "-" {
            writeln!(stdout, "{}", output.path.display()).context("writing to standard output")?;
        }
    }
    reporter.summary(&report);
    Ok(())
}

/// `--squashfs-block-size`: `128K`, `1M` or a number of bytes.
fn squashfs_block_size(text: &str) -> anyhow::Result<formats::squashfs::BlockSize> {
    let (digits, unit) = match (text.strip_suffix(['K', 'k']), text.strip_suffix(['M', 'm'])) {
        (Some(digits), _) => (digits, 1024),
        (_, Some(digits)) => (digits, 1024 * 1024),
        _ => (text, 1),
    };
    let bytes =
        digits.parse::<u32>().ok().and_then(|n| n.checked_mul(unit)).ok_or_else(|| {
            anyhow!("--squashfs-block-size {text:?}: expected a size such as 128K")
        })?;
    formats::squashfs::BlockSize::new(bytes)
        .map_err(|e| anyhow!("--squashfs-block-size {text}: {e}"))
}

/// `--boot-image`, parsed as an image reference.
fn boot_image(written: Option<&str>) -> anyhow::Result<Option<kit::config::ImageRef>> {
    let Some(written) = written else { return Ok(None) };
    let reference: kit::reference::Reference =
        written.parse().map_err(|e| anyhow!("--boot-image {written}: {e}"))?;
    Ok(Some(kit::config::ImageRef { written: written.to_owned(), reference }))
}

/// Runs `kit lock`.
pub fn run_lock(args: &LockArgs) -> Result<(), Failure> {
    let name = args.name.clone().unwrap_or_else(|| default_name(&args.inputs.configs[0]));
    let path = args.lock.clone().unwrap_or_else(|| PathBuf::from(format!("{name}.lock")));
    let mut session = Session::open(&args.inputs)?;
    let sources = std::mem::take(&mut session.sources);
    let reporter = Reporter::new(&args.inputs);
    let mut request = session.request(sources, Vec::new(), Destination::Stdout, name, 0, &reporter);
    request.boot_image = boot_image(args.inputs.boot_image.as_deref()).map_err(Failure::Usage)?;
    let (lockfile, _images) = kit::build::lock(&session.config, &request)
        .map_err(|error| build_failure(error, "lock"))?;
    lockfile.write(&path).with_context(|| format!("writing {}", path.display()))?;
    writeln!(io::stdout().lock(), "{}", path.display()).context("writing to standard output")?;
    Ok(())
}

fn formats(args: &Args) -> anyhow::Result<Vec<Format>> {
    let mut formats: Vec<Format> = Vec::new();
    for name in &args.formats {
        let format: Format = name.trim().parse()?;
        if !formats.contains(&format) {
            formats.push(format);
        }
    }
    if formats.is_empty() {
        formats.push(if args.output.is_some() { Format::Tar } else { Format::KernelInitrd });
    }
    Ok(formats)
}

/// LinuxKit's default output name: the first configuration file's base name without extension,
/// or `moby` for standard input.
fn default_name(config: &Path) -> String {
    if config.as_os_str() == "-" {
        return "moby".to_owned();
    }
    config
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_else(|| "moby".to_owned())
}

/// The target platform: `--arch`, else the host's architecture.
pub(super) fn platform(arch: Option<&str>) -> anyhow::Result<Platform> {
    let arch = match arch {
        Some(arch) => arch.to_owned(),
        None => match std::env::consts::ARCH {
            "x86_64" => "amd64".to_owned(),
            "aarch64" => "arm64".to_owned(),
            other => other.to_owned(),
        },
    };
    arch.parse::<Platform>().map_err(|e| anyhow!("--arch {arch}: {e}"))
}

fn epoch(flag: Option<i64>) -> anyhow::Result<i64> {
    if let Some(epoch) = flag {
        return Ok(epoch);
    }
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(text) if !text.trim().is_empty() => text
            .trim()
            .parse::<i64>()
            .map_err(|_| anyhow!("SOURCE_DATE_EPOCH={text:?} is not a whole number of seconds")),
        _ => Ok(0),
    }
}

fn open_source(path: &Path) -> anyhow::Result<LocalSource> {
    if path.is_dir() {
        let layout = OciLayout::open(path).with_context(|| {
            format!("--source {}: not a readable OCI image layout", path.display())
        })?;
        Ok(LocalSource::Layout(layout))
    } else {
        let archive = ArchiveSource::open(path).with_context(|| {
            format!("--source {}: not a readable OCI or docker-save archive", path.display())
        })?;
        Ok(LocalSource::Archive(Box::new(archive)))
    }
}

/// The cache directory: the flag, `$KIT_CACHE`, `$XDG_CACHE_HOME/kit` or `~/.cache/kit`.
pub(super) fn cache_dir(flag: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(dir) = flag {
        return Ok(dir.to_path_buf());
    }
    if let Some(dir) = std::env::var_os("KIT_CACHE").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    kit::cache::default_dir(&|name| std::env::var(name).ok()).ok_or_else(|| {
        anyhow!("no cache directory: set --cache, KIT_CACHE, XDG_CACHE_HOME or HOME")
    })
}

/// The progress renderer for `--progress MODE`.
pub(super) fn progress_sink(mode: &str) -> anyhow::Result<Arc<dyn fetch::ProgressSink>> {
    Ok(match mode {
        "json" => Arc::new(fetch::JsonProgress::new(io::stderr())),
        "plain" => Arc::new(fetch::PlainProgress::new(io::stderr())),
        "auto" if io::stderr().is_terminal() => Arc::new(super::bars::Bars::new()),
        "auto" => Arc::new(fetch::PlainProgress::new(io::stderr())),
        "none" => Arc::new(fetch::NoProgress),
        other => return Err(anyhow!("--progress {other:?}: expected auto, plain, json or none")),
    })
}

/// The registry client for these flags (and the proxy and credentials from the environment).
pub(super) fn registry_from(
    args: &RegistryArgs,
    progress: Arc<dyn fetch::ProgressSink>,
) -> anyhow::Result<Registry> {
    let mut options = ClientOptions::default();
    for mirror in &args.mirrors {
        options.endpoints.add_mirror(mirror).with_context(|| format!("--mirror {mirror}"))?;
    }
    options.endpoints.insecure.extend(args.insecure_registries.iter().cloned());
    options.ca_files.extend(args.cert_files.iter().cloned());
    options.proxy = ["HTTPS_PROXY", "https_proxy"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()));
    let credentials = Arc::new(fetch::AuthFiles::from_env(&|name| std::env::var(name).ok()));
    Registry::new(options, credentials, progress).context("setting up the registry client")
}

/// Host access for the `files` section, resolved as LinuxKit resolves `source:` paths.
struct HostFiles {
    metadata_yaml: String,
    metadata_json: String,
    cwd: PathBuf,
    home: Option<PathBuf>,
}

impl kit::linuxkit::HostFiles for HostFiles {
    fn read_source(&self, source: &str) -> io::Result<Option<Vec<u8>>> {
        let path = if let Some(rest) = source.strip_prefix("~/") {
            match &self.home {
                Some(home) => home.join(rest),
                None => return Err(io::Error::other(format!("{source}: HOME is not set"))),
            }
        } else {
            self.cwd.join(source)
        };
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(io::Error::new(error.kind(), format!("{}: {error}", path.display()))),
        }
    }

    fn metadata(&self, format: &str) -> Result<Vec<u8>, String> {
        match format {
            "yaml" => Ok(self.metadata_yaml.clone().into_bytes()),
            "json" => Ok(self.metadata_json.clone().into_bytes()),
            other => Err(format!("unknown metadata format {other:?}: expected yaml or json")),
        }
    }
}

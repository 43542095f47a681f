//! The build pipeline: configuration to artifacts, one stage after another.
//!
//! 1. Every image the configuration names is resolved to digests for the target platform: from
//!    the local sources first (OCI layouts and archives given with `--source`), then from the
//!    cache, then from its registry.
//! 2. Its signatures are found (the local sources, the cache, the registry) and checked under
//!    the policy; an image that does not verify stops the build before any of its layers is
//!    opened.
//! 3. Each image's layers are decoded once into verified, uncompressed layer files and merged
//!    into an in-memory tree whose file contents point into those files.
//! 4. The LinuxKit layout is assembled from the configuration and the trees.
//! 5. Each requested format is written to a temporary file and renamed into place.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::PathBuf;

pub use crate::artifacts::Destination;
use crate::artifacts::{self, OutputOptions, OutputReport};
use crate::cache::Cache;
use crate::config::Config;
use crate::fetch::{self, PullPolicy, Registry};
use crate::linuxkit::oci_volume::{self, OciVolumeLayout};
use crate::linuxkit::{self, AssembleOptions, HostFiles, ImageMap};
use crate::lock::{Lockfile, resolve_locked};
use crate::oci::{self, ArchiveSource, ImageSource, OciLayout, Platform};
use crate::output::Format;
use crate::reference::Reference;
use crate::tree::{BuildContent, LayerFiles, merge_image};
use crate::verify::{ImageToVerify, SignatureSources, Verified, VerifyError, verify_image};
use signing::{Policy, UnixTime};

/// What a build reports while it runs, so a front end can show it when it happens.
pub trait BuildEvents {
    /// An image was pinned and its signatures checked (warnings included), before any of its
    /// layers is read.
    fn verified(&self, image: &ImageReport);
    /// A step started or finished.
    fn step(&self, event: &StepEvent);
}

/// A step of the build: `merge` (per image), `assemble`, `write` (per output file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepEvent {
    /// The step's name.
    pub step: &'static str,
    /// What it works on: an image reference, an output path, or empty.
    pub subject: String,
    /// True when it finished, false when it started.
    pub done: bool,
}

/// Reports nothing.
pub struct NoEvents;

impl BuildEvents for NoEvents {
    fn verified(&self, _image: &ImageReport) {}
    fn step(&self, _event: &StepEvent) {}
}

/// Everything a build needs besides the configuration.
pub struct BuildRequest<'a> {
    /// The formats to write, each once.
    pub formats: Vec<Format>,
    /// Where the outputs go.
    pub destination: Destination,
    /// Base name of the outputs (`NAME.tar`, `NAME-kernel`, …).
    pub name: String,
    /// Target platform.
    pub platform: Platform,
    /// Time of every generated entry, in seconds since the Unix epoch.
    pub epoch: i64,
    /// Local image sources, searched before the cache, in order.
    pub sources: Vec<LocalSource>,
    /// The image cache.
    pub cache: &'a Cache,
    /// The registry client, or `None` to work offline.
    pub registry: Option<&'a Registry>,
    /// When to ask the registry about an image the cache already has.
    pub pull: PullPolicy,
    /// Reads `files[].source` and renders `metadata:` entries.
    pub host: &'a dyn HostFiles,
    /// The signature policy every image must satisfy.
    pub policy: &'a Policy,
    /// The time signatures are checked at (read once by the caller).
    pub now: UnixTime,
    /// With `--locked`: every image must be in this lockfile and resolve exactly as it says.
    pub locked: Option<&'a Lockfile>,
    /// `--size`: the largest a filesystem or disk image may be.
    pub size_limit: Option<artifacts::DiskSize>,
    /// Where progress goes while the build runs.
    pub events: &'a dyn BuildEvents,
    /// `--seed`: what identifiers inside images are derived from, instead of their content.
    pub seed: Option<Vec<u8>>,
    /// `--secure-boot-key`/`--secure-boot-cert`: signs the UKI and systemd-boot.
    pub signer: Option<std::sync::Arc<crate::secureboot::Signer>>,
    /// `--boot-image`: the image with systemd-boot and the EFI stub, for the UEFI formats;
    /// pinned, locked and verified under the policy like every input.
    pub boot_image: Option<crate::config::ImageRef>,
    /// How many threads may compress at once (the output does not depend on it).
    pub threads: usize,
    /// How `kernel+erofs` stores file data.
    pub erofs_compression: formats::erofs::Compression,
    /// How the initrd's root archive is compressed.
    pub initrd_compression: formats::initrd::InitrdCompression,
    /// `kernel+squashfs`'s compressor.
    pub squashfs_compression: formats::squashfs::Compression,
    /// `kernel+squashfs`'s block size.
    pub squashfs_block_size: formats::squashfs::BlockSize,
}

/// A local image source given with `--source`.
pub enum LocalSource {
    /// An OCI image layout directory (may also carry signatures).
    Layout(OciLayout),
    /// An OCI archive or a `docker save` tarball.
    Archive(Box<ArchiveSource>),
}

impl LocalSource {
    fn image_source(&self) -> &dyn ImageSource {
        match self {
            LocalSource::Layout(layout) => layout,
            LocalSource::Archive(archive) => archive.as_ref(),
        }
    }
}

/// What a build did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildReport {
    /// Each image the configuration names (as written), with where it came from and its digest.
    pub images: Vec<ImageReport>,
    /// The files written, in order, with their sizes and SHA-256 digests.
    pub outputs: Vec<OutputReport>,
    /// The initrd's segments (one per input), and which came from the segment cache.
    pub segments: Vec<artifacts::SegmentReport>,
}

/// One input image of a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageReport {
    /// The reference as written in the configuration.
    pub reference: String,
    /// Where it was read from (`OCI layout DIR`, `cache`, …).
    pub source: String,
    /// The digest of its manifest for the target platform.
    pub manifest_digest: String,
    /// How its signature was verified, one line (`--explain`).
    pub explanation: String,
    /// Warnings of the verification, to be shown on every build.
    pub warnings: Vec<String>,
    /// What verified it, as the lockfile records it (rule, signature and referrer manifests,
    /// signers), for `--progress json`.
    pub verified_by: crate::verify::VerifiedBy,
}

/// Why a build failed. Each variant names the image, file or output it concerns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// An image could not be resolved or fetched.
    #[error("image {reference} ({location})")]
    Fetch {
        /// The reference as written.
        reference: String,
        /// Where the configuration names it.
        location: String,
        /// What went wrong.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An image's layers could not be merged.
    #[error("image {reference}")]
    Merge {
        /// The reference as written.
        reference: String,
        /// What went wrong.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An image's signatures did not satisfy the policy.
    #[error("image {reference} ({location})")]
    Verify {
        /// The reference as written.
        reference: String,
        /// Where the configuration names it.
        location: String,
        /// Why it was refused.
        source: Box<VerifyError>,
    },
    /// The LinuxKit layout could not be assembled.
    #[error(transparent)]
    Assemble(#[from] linuxkit::Error),
    /// An output could not be written.
    #[error("writing {path}")]
    Write {
        /// The output file.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// The request itself is inconsistent.
    #[error("{0}")]
    Request(String),
    /// The flags ask for something that cannot be built (a usage error: exit status 2).
    #[error("{0}")]
    Usage(String),
}

/// Runs a build of `config` and writes the requested outputs.
pub fn build(config: &Config, request: &BuildRequest<'_>) -> Result<BuildReport, BuildError> {
    check_request(config, request)?;
    if let Destination::Directory(dir) = &request.destination {
        std::fs::create_dir_all(dir)
            .map_err(|source| BuildError::Write { path: dir.clone(), source })?;
    }
    let inputs = resolve_inputs(config, request)?;
    // Held until the outputs are written: `kit cache rm`/`prune` wait instead of deleting the
    // blobs and layer files this build reads.
    let _guard = request
        .cache
        .write_guard()
        .map_err(|e| BuildError::Request(format!("cannot lock the cache: {e}")))?;
    let layers = LayerFiles::new(request.cache.layer_files_dir())
        .map_err(|e| BuildError::Request(format!("cannot prepare the layer store: {e}")))?;
    let oci_volumes = oci_volume_layouts(config, request, &inputs)?;
    let filesystem_refs = filesystem_references(config);
    let mut images = BTreeMap::new();
    let mut reports = Vec::new();
    let boot_written = boot_image_needed(request).map(|image| image.written.clone());
    let mut boot_tree = None;
    for input in inputs {
        if boot_written.as_deref() == Some(input.written.as_str()) {
            let tree = match &input.source {
                Resolved::Local(idx) => {
                    merge_image(request.sources[*idx].image_source(), &input.resolved, &layers)
                }
                Resolved::Cache => merge_image(request.cache.layout(), &input.resolved, &layers),
            }
            .map_err(|e| BuildError::Merge {
                reference: input.written.clone(),
                source: Box::new(e),
            })?;
            boot_tree = Some(tree);
            if !filesystem_refs.contains(input.written.as_str()) {
                reports.push(input.report(request));
                continue;
            }
        }
        if !filesystem_refs.contains(input.written.as_str()) {
            // Only `format: oci` volumes use it: its layers are written as stored, not merged.
            reports.push(input.report(request));
            continue;
        }
        let step = |done| StepEvent { step: "merge", subject: input.written.clone(), done };
        request.events.step(&step(false));
        let tree = match &input.source {
            Resolved::Local(idx) => {
                merge_image(request.sources[*idx].image_source(), &input.resolved, &layers)
            }
            Resolved::Cache => merge_image(request.cache.layout(), &input.resolved, &layers),
        }
        .map_err(|e| BuildError::Merge { reference: input.written.clone(), source: Box::new(e) })?;
        request.events.step(&step(true));
        let image = linuxkit::ResolvedImage::new(
            &input.reference,
            tree,
            input.resolved.config.value.config.as_ref(),
        )?;
        reports.push(input.report(request));
        images.insert(input.written, image);
    }

    let content = BuildContent { layers, blobs: request.cache.layout().clone() };
    let image_map = ImageMap { images, source: content, oci_volumes };
    let options =
        AssembleOptions { epoch: request.epoch, arch: request.platform.architecture.clone() };
    let assemble_step = |done| StepEvent { step: "assemble", subject: String::new(), done };
    request.events.step(&assemble_step(false));
    let assembled = linuxkit::assemble(config, &image_map, request.host, &options)?;
    request.events.step(&assemble_step(true));
    let files = artifacts::plan(&request.formats, &request.name, &request.destination);
    let scratch_dir = match &request.destination {
        Destination::Directory(dir) => Some(dir.as_path()),
        Destination::File(path) => path.parent().filter(|p| !p.as_os_str().is_empty()),
        Destination::Stdout => None,
    };
    let options = OutputOptions {
        epoch: request.epoch,
        initrd_compression: request.initrd_compression,
        size_limit: request.size_limit.clone(),
        seed: request.seed.clone(),
        segment_cache: Some(request.cache.initrd_segments_dir()),
        signer: request.signer.clone(),
        erofs_compression: request.erofs_compression,
        squashfs_compression: request.squashfs_compression,
        squashfs_block_size: request.squashfs_block_size,
        threads: request.threads,
    };
    let boot = match (&boot_tree, &request.boot_image) {
        (Some(tree), Some(image)) => Some(
            artifacts::BootFiles::find(tree, &image.written, &request.platform.architecture)
                .map_err(BuildError::Request)?,
        ),
        _ => None,
    };
    let outputs = artifacts::write(
        &assembled,
        &image_map.source,
        &options,
        &files,
        scratch_dir,
        boot.as_ref(),
        &|path: &std::path::Path, done| {
            let subject = path.display().to_string();
            request.events.step(&StepEvent { step: "write", subject, done });
        },
    )
    .map_err(|e| BuildError::Write { path: e.path, source: e.source })?;
    Ok(BuildReport { images: reports, outputs: outputs.outputs, segments: outputs.segments })
}

/// The references (as written) whose filesystem the build needs: every image except those
/// used only by `format: oci` volumes.
fn filesystem_references(config: &Config) -> BTreeSet<&str> {
    let mut refs = BTreeSet::new();
    for (section, image_ref, _location) in config.images() {
        if section != crate::config::Section::Volumes {
            refs.insert(image_ref.written.as_str());
        }
    }
    for volume in &config.volumes {
        if volume.format != Some(crate::config::VolumeFormat::Oci)
            && let Some(image) = &volume.image
        {
            refs.insert(image.written.as_str());
        }
    }
    refs
}

/// Plans the layout of every `format: oci` volume and makes sure every blob it names is in the
/// cache, verified: from the image's local source, or from its registry (as the pull policy
/// allows). The root is the digest the signature check verified; everything else is reached
/// from it by digest.
fn oci_volume_layouts(
    config: &Config,
    request: &BuildRequest<'_>,
    inputs: &[Input],
) -> Result<BTreeMap<String, OciVolumeLayout>, BuildError> {
    let mut layouts = BTreeMap::new();
    for volume in &config.volumes {
        let Some(image_ref) = &volume.image else { continue };
        if volume.format != Some(crate::config::VolumeFormat::Oci) {
            continue;
        }
        let Some(input) = inputs.iter().find(|input| input.written == image_ref.written) else {
            continue;
        };
        let fail = |source: DynError| BuildError::Fetch {
            reference: input.written.clone(),
            location: volume.location.to_string(),
            source,
        };
        let root = root_descriptor(&input.resolved);
        let blobs = VolumeBlobs { request, input };
        let mut read = |descriptor: &oci::Descriptor| -> Result<Vec<u8>, DynError> {
            blobs.ensure(std::slice::from_ref(descriptor))?;
            Ok(request
                .cache
                .layout()
                .read_blob_bytes(&descriptor.digest, oci::spec::MAX_JSON_BYTES)?)
        };
        let layout = oci_volume::plan(
            &volume.name,
            &input.reference.to_string(),
            &root,
            volume.platforms.as_deref().unwrap_or_default(),
            &mut read,
        )?;
        blobs.ensure(&layout.blobs).map_err(fail)?;
        layouts.insert(volume.name.clone(), layout);
    }
    Ok(layouts)
}

/// The descriptor of the document a resolved image's reference names: its outermost index, or
/// its manifest.
fn root_descriptor(resolved: &oci::ResolvedImage) -> oci::Descriptor {
    let (digest, media_type, bytes) = match resolved.indexes.first() {
        Some(index) => (&index.digest, &index.media_type, &index.bytes),
        None => {
            (&resolved.manifest.digest, &resolved.manifest.media_type, &resolved.manifest.bytes)
        }
    };
    let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    oci::Descriptor::new(media_type, digest.clone(), size)
}

/// Puts the blobs of one image into the cache, from where the image was resolved.
struct VolumeBlobs<'r, 'a> {
    request: &'r BuildRequest<'a>,
    input: &'r Input,
}

impl VolumeBlobs<'_, '_> {
    fn ensure(&self, descriptors: &[oci::Descriptor]) -> Result<(), DynError> {
        let cache = self.request.cache;
        let missing: Vec<oci::Descriptor> =
            descriptors.iter().filter(|d| !cache.has_blob(&d.digest)).cloned().collect();
        if missing.is_empty() {
            return Ok(());
        }
        match self.input.source {
            Resolved::Local(idx) => {
                let source = self.request.sources[idx].image_source();
                let _guard = cache.write_guard()?;
                for descriptor in &missing {
                    let reader = source.open_blob(descriptor)?;
                    cache.layout().write_blob(&descriptor.digest, reader)?;
                }
                Ok(())
            }
            Resolved::Cache => {
                let registry = match (self.request.registry, self.request.pull) {
                    (Some(registry), PullPolicy::IfMissing | PullPolicy::Always) => registry,
                    _ => {
                        return Err(Box::new(fetch::FetchError::NotCached {
                            image: self.input.reference.to_string(),
                            detail: format!(
                                "{} blobs of the OCI volume are not in the cache (first: {})",
                                missing.len(),
                                missing[0].digest
                            ),
                        }));
                    }
                };
                let pinned =
                    self.input.reference.with_digest(self.input.resolved.root_digest().clone());
                let (documents, blobs): (Vec<oci::Descriptor>, Vec<oci::Descriptor>) =
                    missing.into_iter().partition(|d| {
                        oci::media_type::is_index(&d.media_type)
                            || oci::media_type::is_image_manifest(&d.media_type)
                    });
                if !documents.is_empty() {
                    registry.fetch_documents(cache, &pinned, &documents)?;
                }
                if !blobs.is_empty() {
                    registry.fetch_blobs(cache, &pinned, &blobs)?;
                }
                Ok(())
            }
        }
    }
}

/// Resolves and verifies every image of `config` (what `kit lock` does) and returns the
/// lockfile recording them, with the report of each image.
pub fn lock(
    config: &Config,
    request: &BuildRequest<'_>,
) -> Result<(Lockfile, Vec<ImageReport>), BuildError> {
    let inputs = resolve_inputs(config, request)?;
    let mut lockfile = Lockfile::default();
    let mut reports = Vec::new();
    for input in inputs {
        lockfile.insert(&input.written, &input.reference.to_string(), &input.resolved);
        lockfile.record_verification(&input.written, &input.verified.record);
        reports.push(input.report(request));
    }
    Ok((lockfile, reports))
}

/// One image of the configuration, pinned and verified.
struct Input {
    written: String,
    reference: Reference,
    resolved: oci::ResolvedImage,
    source: Resolved,
    verified: Verified,
}

impl Input {
    fn report(&self, request: &BuildRequest<'_>) -> ImageReport {
        ImageReport {
            reference: self.written.clone(),
            source: match self.source {
                Resolved::Local(idx) => request.sources[idx].image_source().location(),
                Resolved::Cache => format!("cache {}", request.cache.layout().root().display()),
            },
            manifest_digest: self.resolved.manifest_digest().to_string(),
            explanation: self.verified.explain(),
            warnings: self.verified.verdict.warnings.clone(),
            verified_by: self.verified.record.clone(),
        }
    }
}

/// Pins every image the configuration names (once per reference as written) and verifies its
/// signatures; nothing of an image's layers is read here.
fn resolve_inputs(config: &Config, request: &BuildRequest<'_>) -> Result<Vec<Input>, BuildError> {
    let layouts: Vec<OciLayout> = request
        .sources
        .iter()
        .filter_map(|s| match s {
            LocalSource::Layout(layout) => Some(layout.clone()),
            LocalSource::Archive(_) => None,
        })
        .collect();
    let mut inputs: Vec<Input> = Vec::new();
    let images =
        config.images().into_iter().map(|(_, image, location)| (image, location.to_string()));
    let boot = boot_image_needed(request).map(|image| (image, "--boot-image".to_owned()));
    for (image_ref, location) in images.chain(boot) {
        if inputs.iter().any(|input| input.written == image_ref.written) {
            continue;
        }
        let (resolved, source) = resolve(request, &image_ref.reference, &image_ref.written)
            .map_err(|source| BuildError::Fetch {
                reference: image_ref.written.clone(),
                location: location.clone(),
                source,
            })?;
        let verified =
            verify(request, &layouts, &image_ref.reference, &image_ref.written, &resolved, &source)
                .map_err(|source| BuildError::Verify {
                    reference: image_ref.written.clone(),
                    location: location.clone(),
                    source: Box::new(source),
                })?;
        let input = Input {
            written: image_ref.written.clone(),
            reference: image_ref.reference.clone(),
            resolved,
            source,
            verified,
        };
        request.events.verified(&input.report(request));
        inputs.push(input);
    }
    Ok(inputs)
}

/// The boot image, when a requested format needs one (or `kit lock` was given one).
fn boot_image_needed<'r>(request: &'r BuildRequest<'_>) -> Option<&'r crate::config::ImageRef> {
    let needed = request.formats.is_empty()
        || request.formats.iter().any(|format| format.spec().needs_boot_image);
    request.boot_image.as_ref().filter(|_| needed)
}

enum Resolved {
    Local(usize),
    Cache,
}

type DynError = Box<dyn std::error::Error + Send + Sync>;

fn resolve(
    request: &BuildRequest<'_>,
    reference: &Reference,
    written: &str,
) -> Result<(oci::ResolvedImage, Resolved), DynError> {
    for (idx, source) in request.sources.iter().enumerate() {
        match source.image_source().resolve(written, &request.platform) {
            Ok(image) => {
                if let Some(lock) = request.locked {
                    lock.check(written, &image)?;
                }
                return Ok((image, Resolved::Local(idx)));
            }
            Err(oci::Error::RefNotFound { .. }) => continue,
            Err(other) => return Err(Box::new(other)),
        }
    }
    let image = match request.locked {
        Some(lock) => {
            resolve_locked(request.cache, request.registry, lock, written, &request.platform)?
        }
        None => fetch::ensure_image(
            request.cache,
            request.registry,
            reference,
            &request.platform,
            request.pull,
        )?,
    };
    Ok((image, Resolved::Cache))
}

/// Checks the signatures of `resolved` under the policy. Images from local sources look for
/// signatures in the local layouts and archives and the cache only; registry images may also ask
/// their registry, as the pull policy allows.
#[allow(
    clippy::result_large_err,
    reason = "VerifyError is large by design; built once per failure"
)]
fn verify(
    request: &BuildRequest<'_>,
    layouts: &[OciLayout],
    reference: &Reference,
    written: &str,
    resolved: &oci::ResolvedImage,
    source: &Resolved,
) -> Result<Verified, VerifyError> {
    let (registry, pull) = match source {
        Resolved::Local(_) => (None, PullPolicy::Never),
        Resolved::Cache => (request.registry, request.pull),
    };
    let archives: Vec<&ArchiveSource> = request
        .sources
        .iter()
        .filter_map(|s| match s {
            LocalSource::Archive(archive) => Some(archive.as_ref()),
            LocalSource::Layout(_) => None,
        })
        .collect();
    let finder =
        SignatureSources::new(layouts, request.cache, registry, pull).with_archives(&archives);
    let image = ImageToVerify::new(written, reference, resolved);
    let recorded = match request.locked {
        Some(lock) => lock
            .get(written, &request.platform)
            .ok()
            .and_then(|(_, locked)| locked.verified_by.as_ref()),
        None => None,
    };
    verify_image(request.policy, &image, &finder, recorded, request.now)
}

fn check_request(config: &Config, request: &BuildRequest<'_>) -> Result<(), BuildError> {
    if request.formats.is_empty() {
        return Err(BuildError::Usage("no output format requested".to_owned()));
    }
    if !matches!(request.destination, Destination::Directory(_)) {
        let streamable = request.formats.len() == 1 && request.formats[0].is_streamable();
        if !streamable {
            let names: Vec<&str> = crate::output::FORMATS
                .iter()
                .filter(|spec| spec.streamable)
                .map(|spec| spec.name)
                .collect();
            return Err(BuildError::Usage(format!(
                "-o writes a single output and works only with --format {}",
                names.join(" or ")
            )));
        }
    }
    let arch = request.platform.architecture.as_str();
    if let Some(format) = request.formats.iter().find(|f| !f.supports_arch(arch)) {
        return Err(BuildError::Usage(format!("the {format} format cannot be built for {arch}")));
    }
    if let Some(format) = request.formats.iter().find(|f| f.spec().needs_boot_image)
        && request.boot_image.is_none()
    {
        return Err(BuildError::Usage(format!(
            "the {format} format needs --boot-image: an OCI image holding systemd-boot and the \
             systemd EFI stub at usr/lib/systemd/boot/efi/ (`cargo xtask fixtures` builds one from \
             Debian's systemd-boot-efi as kit.example/efi-boot:252)"
        )));
    }
    let has_kernel = config.kernel.as_ref().and_then(|k| k.image.as_ref()).is_some();
    if let Some(format) = request.formats.iter().find(|f| f.spec().needs_kernel && !has_kernel) {
        return Err(BuildError::Usage(format!(
            "the {format} format needs a kernel image, and the configuration has none"
        )));
    }
    Ok(())
}

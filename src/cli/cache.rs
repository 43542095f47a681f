//! `kit cache`: list, pull, import, export and remove images in kit's cache.

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::{Context, anyhow};

use kit::cache::Cache;
use kit::reference::Reference;

use super::Failure;
use super::build::{cache_dir, platform, progress_sink, registry_from};

/// Arguments of `kit cache`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The cache directory. Default: $KIT_CACHE, else $XDG_CACHE_HOME/kit, else ~/.cache/kit.
    #[arg(long, global = true, value_name = "DIR")]
    cache: Option<PathBuf>,

    #[command(subcommand)]
    command: CacheCommand,
}

#[derive(Debug, clap::Subcommand)]
enum CacheCommand {
    /// List the named images with their root digests.
    Ls {
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Pull images from their registries into the cache (no signature check: `kit build` and
    /// `kit lock` verify every image they use).
    Pull {
        /// Target architectures (repeatable). Default: the host's.
        #[arg(long = "arch", value_name = "ARCH")]
        arches: Vec<String>,

        #[command(flatten)]
        registry: super::build::RegistryArgs,

        /// Image references.
        #[arg(required = true, value_name = "IMAGE")]
        images: Vec<String>,
    },
    /// Import an OCI image layout (directory or tar, plain or gzip, like `linuxkit cache
    /// export` writes) or a `docker save` tarball from Docker 25 or later.
    Import {
        /// The layout directory or archive.
        #[arg(value_name = "PATH")]
        path: PathBuf,
    },
    /// Export named images as an OCI image layout tar (importable by `linuxkit cache import`).
    Export {
        /// Write the tar to FILE (default: standard output).
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,

        /// Image names as `kit cache ls` prints them.
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
    },
    /// Remove named images, the signatures kit stored for them, and the blobs no other image
    /// uses.
    Rm {
        /// Image names as `kit cache ls` prints them.
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
    },
    /// Remove blobs no named image uses, and stale temporary files.
    Prune,
}

/// Runs `kit cache`.
pub fn run(args: &Args) -> Result<(), Failure> {
    let dir = cache_dir(args.cache.as_deref()).map_err(Failure::Usage)?;
    let cache =
        Cache::open(&dir).with_context(|| format!("opening the image cache {}", dir.display()))?;
    let mut stdout = io::stdout().lock();
    match &args.command {
        CacheCommand::Ls { json } => {
            for entry in cache.list().context("listing the cache")? {
                if *json {
                    let line = serde_json::json!({
                        "name": entry.name,
                        "digest": entry.digest.to_string(),
                        "mediaType": entry.media_type,
                        "size": entry.size_bytes,
                    });
                    writeln!(stdout, "{line}")?;
                } else {
                    writeln!(stdout, "{}\t{}", entry.name, entry.digest)?;
                }
            }
        }
        CacheCommand::Pull { arches, registry, images } => {
            let mut platforms = Vec::new();
            if arches.is_empty() {
                platforms.push(platform(None).map_err(Failure::Usage)?);
            }
            for arch in arches {
                platforms.push(platform(Some(arch)).map_err(Failure::Usage)?);
            }
            let progress = progress_sink(&registry.progress).map_err(Failure::Usage)?;
            let client = registry_from(registry, progress).map_err(Failure::Usage)?;
            for image in images {
                let reference: Reference = image.parse().map_err(|e| {
                    Failure::Usage(anyhow!("invalid image reference {image:?}: {e}"))
                })?;
                let pulled = client
                    .pull(&cache, &reference, &platforms)
                    .with_context(|| format!("pulling {image}"))?;
                writeln!(stdout, "{}\t{}", pulled.name, pulled.root.digest)?;
            }
        }
        CacheCommand::Import { path } => {
            let report =
                cache.import(path).with_context(|| format!("importing {}", path.display()))?;
            for (name, digest) in &report.names {
                writeln!(stdout, "{name}\t{digest}")?;
            }
            eprintln!(
                "kit: imported {} image(s), {} new blob(s){}",
                report.names.len(),
                report.blobs_added,
                if report.unnamed > 0 {
                    format!(", {} unnamed", report.unnamed)
                } else {
                    String::new()
                }
            );
        }
        CacheCommand::Export { output, names } => {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            match output {
                Some(path) => {
                    let mut file = kit::output::AtomicFile::create(path)
                        .with_context(|| format!("creating {}", path.display()))?;
                    cache.export(&names, &mut file).context("exporting from the cache")?;
                    file.commit().with_context(|| format!("writing {}", path.display()))?;
                }
                None => {
                    let mut out = io::BufWriter::new(&mut stdout);
                    cache.export(&names, &mut out).context("exporting from the cache")?;
                    out.flush()?;
                }
            }
        }
        CacheCommand::Rm { names } => {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let report = cache.remove(&names).context("removing from the cache")?;
            eprintln!(
                "kit: removed {} image(s), {} blob(s), {} layer file(s), {} bytes",
                report.names.len(),
                report.blobs.len(),
                report.layer_files,
                report.bytes
            );
        }
        CacheCommand::Prune => {
            let report = cache.prune().context("pruning the cache")?;
            eprintln!(
                "kit: removed {} blob(s), {} layer file(s), {} initrd segment(s), {} bytes, {} \
                 temporary file(s)",
                report.blobs.len(),
                report.layer_files,
                report.initrd_segments,
                report.bytes,
                report.temp_files
            );
        }
    }
    Ok(())
}

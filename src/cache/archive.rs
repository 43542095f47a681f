//! `kit cache import` and `kit cache export`: OCI image layouts as directories or tarballs.
//!
//! Import accepts what `linuxkit cache import` accepts — a tar of an OCI layout (`oci-layout`,
//! `index.json`, `blobs/sha256/<hex>`, with or without a `./` prefix), gzip-compressed or not —
//! and also a layout directory and the OCI-layout flavour of `docker save` (Docker 25 and
//! later, which adds `manifest.json`). Legacy `docker save` archives (`<id>/layer.tar`) are
//! refused with a message. Every blob is streamed through a digest check into a temporary file
//! and renamed only when it matches; names are added to `index.json` only after all blobs are
//! in. An entry's name is its `io.containerd.image.name` when present (the full name Docker
//! writes), else its `org.opencontainers.image.ref.name`; unnamed entries are skipped.
//!
//! Export writes a tar LinuxKit imports: `oci-layout`, `index.json` with the named entries, and
//! each present blob reachable from them, in digest order, with fixed metadata (mtime 0, mode
//! 0644, owner 0:0), so the same images export to the same bytes.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;

use super::{Cache, CacheError, ref_name};
use crate::digest::{Digest, Verifier};
use crate::oci::spec::{ImageIndex, parse_json};
use crate::oci::{ANNOTATION_CONTAINERD_NAME, Descriptor, OciLayout};

/// What an import added.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportReport {
    /// Names added to the cache's `index.json`, with their root digests.
    pub names: Vec<(String, Digest)>,
    /// Blobs written (not counting those already present).
    pub blobs_added: usize,
    /// Entries of the imported `index.json` without a name, which were skipped.
    pub unnamed: usize,
}

const MAX_INDEX_BYTES: u64 = 64 * 1024 * 1024;

pub(super) fn import(cache: &Cache, path: &Path) -> Result<ImportReport, CacheError> {
    let _guard = cache.write_guard()?;
    let mut report = ImportReport::default();
    let index = if path.is_dir() {
        import_dir(cache, path, &mut report)?
    } else {
        import_tar(cache, path, &mut report)?
    };
    for entry in &index.manifests {
        let name = entry
            .annotations
            .get(ANNOTATION_CONTAINERD_NAME)
            .or_else(|| entry.annotations.get(crate::oci::ANNOTATION_REF_NAME))
            .cloned();
        let Some(name) = name else {
            report.unnamed += 1;
            continue;
        };
        if !cache.has_blob(&entry.digest) {
            return Err(CacheError::Import {
                path: path.to_owned(),
                problem: format!(
                    "index.json names {name} as {}, but the archive lacks that blob",
                    entry.digest
                ),
            });
        }
        let mut descriptor = entry.clone();
        descriptor.annotations.remove(ANNOTATION_CONTAINERD_NAME);
        cache.add_ref(&name, &descriptor)?;
        report.names.push((name, entry.digest.clone()));
    }
    Ok(report)
}

fn import_dir(
    cache: &Cache,
    path: &Path,
    report: &mut ImportReport,
) -> Result<ImageIndex, CacheError> {
    let source = OciLayout::open(path)?;
    let index = source.index()?;
    let mut digests = BTreeSet::new();
    let source_cache = Cache { layout: source.clone() };
    for root in &index.manifests {
        source_cache.mark(root, &mut digests)?;
    }
    for digest in digests {
        if cache.has_blob(&digest) || !source.has_blob(&digest) {
            continue;
        }
        let reader = source.read_blob(&digest, None)?;
        let what = format!("{}: blob {digest}", path.display());
        store_verified(cache, &digest, reader, &what)?;
        report.blobs_added += 1;
    }
    Ok(index)
}

fn import_tar(
    cache: &Cache,
    path: &Path,
    report: &mut ImportReport,
) -> Result<ImageIndex, CacheError> {
    let io_err = |source| CacheError::Io { path: path.to_owned(), source };
    let mut file = BufReader::new(File::open(path).map_err(io_err)?);
    let mut magic = [0u8; 2];
    let n = file.read(&mut magic).map_err(io_err)?;
    let head = io::Cursor::new(magic[..n].to_vec());
    let chained = head.chain(file);
    let reader: Box<dyn Read> = if magic[..n] == [0x1f, 0x8b] {
        Box::new(flate2::read::GzDecoder::new(chained))
    } else {
        Box::new(chained)
    };
    let mut archive = tar::Archive::new(reader);
    let mut index_bytes = None;
    let mut saw_layout = false;
    let mut saw_docker_manifest = false;
    let entries = archive.entries().map_err(io_err)?;
    for entry in entries {
        let entry = entry.map_err(io_err)?;
        let entry_path = entry.path().map_err(io_err)?.to_string_lossy().into_owned();
        let name = entry_path.trim_start_matches("./").to_owned();
        let bad = |problem: String| CacheError::Import { path: path.to_owned(), problem };
        if name == "index.json" {
            let bytes = crate::oci::source::read_limited(
                entry,
                MAX_INDEX_BYTES,
                &format!("{}: index.json", path.display()),
            )?;
            index_bytes = Some(bytes);
        } else if name == "oci-layout" {
            saw_layout = true;
        } else if name == "manifest.json" {
            saw_docker_manifest = true;
        } else if let Some(rest) = name.strip_prefix("blobs/") {
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let digest: Digest = rest
                .replacen('/', ":", 1)
                .parse()
                .map_err(|e| bad(format!("entry {name}: expected blobs/<algorithm>/<hex>: {e}")))?;
            if cache.has_blob(&digest) {
                continue;
            }
            let what = format!("{}: entry {name}", path.display());
            store_verified(cache, &digest, entry, &what)?;
            report.blobs_added += 1;
        }
    }
    let Some(index_bytes) = index_bytes else {
        let problem = if saw_docker_manifest {
            "a legacy `docker save` archive (manifest.json without index.json) is not supported: \
             expected an OCI image layout tar (docker save from Docker 25+, `linuxkit cache export`, \
             or `skopeo copy ... oci-archive:`)"
        } else {
            "not an OCI image layout tar: expected index.json, oci-layout and blobs/sha256/<hex>"
        };
        return Err(CacheError::Import { path: path.to_owned(), problem: problem.to_owned() });
    };
    if !saw_layout && !saw_docker_manifest {
        return Err(CacheError::Import {
            path: path.to_owned(),
            problem: "not an OCI image layout tar: index.json without oci-layout".to_owned(),
        });
    }
    Ok(parse_json::<ImageIndex>(&index_bytes, &format!("{}: index.json", path.display()))?)
}

fn store_verified(
    cache: &Cache,
    digest: &Digest,
    reader: impl Read,
    what: &str,
) -> Result<(), CacheError> {
    let mut temp = cache.temp_blob()?;
    let mut verifier = Verifier::new(reader, digest, None);
    let temp_path = temp.path().to_owned();
    io::copy(&mut verifier, temp.file_mut()).map_err(|source| match source.kind() {
        io::ErrorKind::InvalidData => {
            CacheError::Import { path: what.into(), problem: source.to_string() }
        }
        _ => CacheError::Io { path: temp_path, source },
    })?;
    cache.commit_blob(temp, digest)
}

pub(super) fn export(cache: &Cache, names: &[&str], out: &mut dyn Write) -> Result<(), CacheError> {
    let index = {
        let _lock = cache.index_lock(super::LockKind::Shared)?;
        cache.layout.index()?
    };
    let mut roots: Vec<Descriptor> = Vec::new();
    for name in names {
        let found = index.manifests.iter().rev().find(|d| ref_name(d) == Some(name));
        match found {
            Some(descriptor) => roots.push(descriptor.clone()),
            None => {
                let available: Vec<&str> = index.manifests.iter().filter_map(ref_name).collect();
                return Err(CacheError::NotCached {
                    cache: cache.root().to_owned(),
                    name: (*name).to_owned(),
                    available: if available.is_empty() {
                        "no named images".to_owned()
                    } else {
                        available.join(", ")
                    },
                });
            }
        }
    }
    let mut digests = BTreeSet::new();
    for root in &roots {
        cache.mark(root, &mut digests)?;
    }
    let exported = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": crate::oci::media_type::OCI_INDEX,
        "manifests": roots,
    });
    let mut index_bytes = serde_json::to_vec_pretty(&exported).map_err(|e| CacheError::Index {
        path: cache.root().join("index.json"),
        detail: e.to_string(),
    })?;
    index_bytes.push(b'\n');
    let out_err = |source| CacheError::Io { path: "export output".into(), source };
    let mut builder = tar::Builder::new(out);
    append(
        &mut builder,
        "oci-layout",
        br#"{"imageLayoutVersion":"1.0.0"}"#.len() as u64,
        &br#"{"imageLayoutVersion":"1.0.0"}"#[..],
    )
    .map_err(out_err)?;
    append(&mut builder, "index.json", index_bytes.len() as u64, &index_bytes[..])
        .map_err(out_err)?;
    for digest in &digests {
        if !cache.has_blob(digest) {
            continue;
        }
        let path = cache.layout.blob_path(digest);
        let size = std::fs::metadata(&path)
            .map_err(|source| CacheError::Io { path: path.clone(), source })?
            .len();
        let reader = cache.layout.read_blob(digest, Some(size))?;
        let name = format!("blobs/{}/{}", digest.algorithm().name(), digest.hex());
        append(&mut builder, &name, size, reader)
            .map_err(|source| CacheError::Io { path: path.clone(), source })?;
    }
    builder.finish().map_err(out_err)?;
    Ok(())
}

fn append(
    builder: &mut tar::Builder<&mut dyn Write>,
    name: &str,
    size: u64,
    data: impl Read,
) -> io::Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_size(size);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    builder.append_data(&mut header, name, data)
}

//! Image archives as sources: OCI archives (an OCI image layout in a tar, as `skopeo copy
//! oci-archive:` and `docker buildx --output type=oci` write) and `docker save` tarballs (legacy
//! `manifest.json` + `<id>.json` + `<id>/layer.tar`, and Docker 25+'s, which are also OCI layouts).
//!
//! The archive is scanned once when opened; blobs are then read in place (seek to the entry's
//! data, read its length) and verified like any other blob. The archive must be an uncompressed
//! tar (a gzip-compressed `docker save | gzip` file is refused with a hint). Symbolic and hard
//! links between entries, which `docker save` uses for repeated layers, are followed.
//!
//! Names are looked up in `index.json` first (annotations `org.opencontainers.image.ref.name` and
//! `io.containerd.image.name`), then in `manifest.json`'s `RepoTags`, with the matching rules of
//! OCI layouts. A legacy `docker save` image has no manifest of its own: kit synthesizes a Docker
//! v2 manifest (config digest from the config file's bytes, each layer's digest taken from the
//! config's `diff_ids`, since those layers are uncompressed) and its digest is that of the
//! synthesized bytes, which exist nowhere else.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use super::layout::{choose, list_names, names_of};
use super::names::match_level;
use super::source::{ImageSource, ResolvedImage, read_limited, resolve_from_root};
use super::spec::{
    Descriptor, ImageIndex, ImageManifest, MAX_JSON_BYTES, Raw, parse_config, parse_json,
};
use super::{Compression, Error, Platform, media_type};
use crate::digest::{Digest, Verifier};

/// Most links followed to resolve one archive entry.
const MAX_LINK_HOPS: usize = 16;

/// An OCI archive or `docker save` tarball opened as an image source.
#[derive(Debug)]
pub struct ArchiveSource {
    path: PathBuf,
    /// Regular files: name → (offset of the data, length).
    files: BTreeMap<String, (u64, u64)>,
    oci_index: Option<ImageIndex>,
    docker_images: Vec<DockerImage>,
    /// Blobs of legacy `docker save` images, by digest → entry name.
    docker_blobs: BTreeMap<Digest, String>,
}

/// One entry of `docker save`'s `manifest.json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerSaveEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

#[derive(Debug)]
struct DockerImage {
    repo_tags: Vec<String>,
    config_entry: String,
    config_digest: Digest,
    layer_entries: Vec<String>,
}

enum Link {
    Symbolic(String),
    Hard(String),
}

impl ArchiveSource {
    /// Opens and scans an archive.
    pub fn open(path: impl Into<PathBuf>) -> Result<ArchiveSource, Error> {
        let path = path.into();
        let io_err = |source| Error::Io { path: path.clone(), source };
        let mut file = File::open(&path).map_err(io_err)?;
        let mut magic = Vec::new();
        (&mut file).take(4).read_to_end(&mut magic).map_err(io_err)?;
        if let Some(compression) = Compression::sniff(&magic) {
            return Err(Error::NotAnArchive {
                path,
                expected: "an uncompressed tar".to_owned(),
                found: format!("{compression} data (decompress the archive first)"),
            });
        }
        file.seek(SeekFrom::Start(0)).map_err(io_err)?;
        let (files, links) = scan(&path, BufReader::new(file))?;
        let mut source = ArchiveSource {
            path,
            files,
            oci_index: None,
            docker_images: Vec::new(),
            docker_blobs: BTreeMap::new(),
        };
        source.resolve_links(links)?;
        let has_index = source.files.contains_key("index.json");
        let has_manifest = source.files.contains_key("manifest.json");
        if !has_index && !has_manifest {
            return Err(Error::NotAnArchive {
                path: source.path,
                expected: "index.json (OCI archive) or manifest.json (docker save)".to_owned(),
                found: "neither".to_owned(),
            });
        }
        if has_index {
            let bytes = source.read_entry("index.json", MAX_JSON_BYTES)?;
            source.oci_index = Some(parse_json(&bytes, &source.what("index.json"))?);
        }
        if has_manifest {
            source.load_docker_manifest()?;
        }
        Ok(source)
    }

    /// The descriptor `index.json` names `reference` (OCI archives only, with the layout's
    /// matching rules); `Ok(None)` when no entry matches or the archive has no `index.json`.
    pub fn find_in_index(&self, reference: &str) -> Result<Option<Descriptor>, Error> {
        let Some(index) = &self.oci_index else { return Ok(None) };
        let candidates = index.manifests.iter().filter_map(|d| {
            names_of(d).filter_map(|name| match_level(name, reference)).min().map(|l| (l, d))
        });
        Ok(choose(candidates, &self.location(), reference)?.cloned())
    }

    /// The entries of `index.json` (none for a legacy `docker save` archive).
    pub fn index_entries(&self) -> &[Descriptor] {
        self.oci_index.as_ref().map_or(&[], |index| index.manifests.as_slice())
    }

    /// True when the archive holds the blob.
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_entry(digest).is_some()
    }

    /// Reads a whole blob of at most `limit` bytes, verified against `digest` (and `size`,
    /// when given).
    pub fn read_blob_limited(
        &self,
        digest: &Digest,
        size: Option<u64>,
        limit: u64,
    ) -> Result<Vec<u8>, Error> {
        let what = format!("{}: blob {digest}", self.location());
        let Some(entry) = self.blob_entry(digest) else {
            return Err(Error::BlobMissing { location: self.location(), digest: digest.clone() });
        };
        let (reader, _) = self.open_entry(&entry)?;
        read_limited(Verifier::new(reader, digest, size), limit, &what)
    }

    fn what(&self, entry: &str) -> String {
        format!("{}: {entry}", self.path.display())
    }

    fn entry_error(&self, entry: &str, problem: String) -> Error {
        Error::ArchiveEntry { path: self.path.clone(), entry: entry.to_owned(), problem }
    }

    fn resolve_links(&mut self, links: BTreeMap<String, Link>) -> Result<(), Error> {
        for name in links.keys() {
            let mut current = name.clone();
            let mut hops = 0;
            let target = loop {
                if let Some(data) = self.files.get(&current) {
                    break *data;
                }
                let next = match links.get(&current) {
                    Some(Link::Symbolic(target)) => join_relative(&current, target),
                    Some(Link::Hard(target)) => normalize(target),
                    None => {
                        return Err(self.entry_error(
                            name,
                            format!("link to {current:?}, which is not a file in the archive"),
                        ));
                    }
                };
                hops += 1;
                match next {
                    Some(next) if hops <= MAX_LINK_HOPS => current = next,
                    _ => {
                        return Err(self.entry_error(
                            name,
                            format!("link target escapes the archive or loops (at {current:?})"),
                        ));
                    }
                }
            };
            self.files.insert(name.clone(), target);
        }
        Ok(())
    }

    fn load_docker_manifest(&mut self) -> Result<(), Error> {
        let bytes = self.read_entry("manifest.json", MAX_JSON_BYTES)?;
        let entries: Vec<DockerSaveEntry> = parse_json(&bytes, &self.what("manifest.json"))?;
        for entry in entries {
            let config_bytes =
                self.read_entry(&normalize_or_self(&entry.config), MAX_JSON_BYTES)?;
            let config_digest = Digest::sha256(&config_bytes);
            let config = parse_config(
                Arc::from(config_bytes),
                media_type::DOCKER_CONFIG,
                &self.what(&entry.config),
            )?;
            let diff_ids = &config.value.rootfs.diff_ids;
            if diff_ids.len() != entry.layers.len() {
                return Err(Error::LayerCount {
                    image: self.what(&entry.config),
                    n_layers: entry.layers.len(),
                    n_diff_ids: diff_ids.len(),
                });
            }
            let config_entry = normalize_or_self(&entry.config);
            self.docker_blobs.insert(config_digest.clone(), config_entry.clone());
            let mut layer_entries = Vec::new();
            for (layer, diff_id) in entry.layers.iter().zip(diff_ids) {
                let layer = normalize_or_self(layer);
                self.docker_blobs.insert(
                    blob_digest_of(&layer).unwrap_or_else(|| diff_id.clone()),
                    layer.clone(),
                );
                layer_entries.push(layer);
            }
            self.docker_images.push(DockerImage {
                repo_tags: entry.repo_tags.unwrap_or_default(),
                config_entry,
                config_digest,
                layer_entries,
            });
        }
        Ok(())
    }

    fn open_entry(&self, name: &str) -> Result<(io::Take<BufReader<File>>, u64), Error> {
        let Some(&(offset, len)) = self.files.get(name) else {
            return Err(
                self.entry_error(name, "expected a file in the archive, found none".to_owned())
            );
        };
        let io_err = |source| Error::Io { path: self.path.clone(), source };
        let mut file = File::open(&self.path).map_err(io_err)?;
        file.seek(SeekFrom::Start(offset)).map_err(io_err)?;
        Ok((BufReader::new(file).take(len), len))
    }

    fn read_entry(&self, name: &str, limit: u64) -> Result<Vec<u8>, Error> {
        let (reader, _) = self.open_entry(name)?;
        read_limited(reader, limit, &self.what(name))
    }

    fn blob_entry(&self, digest: &Digest) -> Option<String> {
        let oci = format!("blobs/{}/{}", digest.algorithm().name(), digest.hex());
        if self.files.contains_key(&oci) {
            return Some(oci);
        }
        self.docker_blobs.get(digest).cloned()
    }

    fn read_blob_bytes(&self, descriptor: &Descriptor) -> Result<Vec<u8>, Error> {
        let reader = self.open_blob(descriptor)?;
        read_limited(
            reader,
            MAX_JSON_BYTES,
            &format!("{}: blob {}", self.location(), descriptor.digest),
        )
    }

    fn resolve_docker(
        &self,
        reference: &str,
        platform: &Platform,
    ) -> Result<Option<ResolvedImage>, Error> {
        let mut best: Option<(u8, &DockerImage)> = None;
        for image in &self.docker_images {
            let Some(level) =
                image.repo_tags.iter().filter_map(|t| match_level(t, reference)).min()
            else {
                continue;
            };
            match best {
                Some((best_level, other))
                    if best_level == level && other.config_digest != image.config_digest =>
                {
                    return Err(Error::AmbiguousRef {
                        location: self.location(),
                        reference: reference.to_owned(),
                        matches: format!("{} and {}", other.config_entry, image.config_entry),
                    });
                }
                Some((best_level, _)) if best_level <= level => {}
                _ => best = Some((level, image)),
            }
        }
        let Some((_, image)) = best else { return Ok(None) };
        let config_bytes = self.read_entry(&image.config_entry, MAX_JSON_BYTES)?;
        let config_size = u64::try_from(config_bytes.len()).unwrap_or(u64::MAX);
        let config = parse_config(
            Arc::from(config_bytes),
            media_type::DOCKER_CONFIG,
            &self.what(&image.config_entry),
        )?;
        let mut layers = Vec::new();
        for (entry, diff_id) in image.layer_entries.iter().zip(&config.value.rootfs.diff_ids) {
            let Some(&(_, len)) = self.files.get(entry) else {
                return Err(self.entry_error(entry, "expected a layer file, found none".to_owned()));
            };
            let digest = blob_digest_of(entry).unwrap_or_else(|| diff_id.clone());
            layers.push(Descriptor::new(media_type::DOCKER_LAYER_TAR, digest, len));
        }
        let manifest = ImageManifest {
            schema_version: 2,
            media_type: Some(media_type::DOCKER_MANIFEST.to_owned()),
            artifact_type: None,
            config: Descriptor::new(media_type::DOCKER_CONFIG, config.digest.clone(), config_size),
            layers,
            subject: None,
            annotations: BTreeMap::new(),
        };
        let bytes: Arc<[u8]> = serde_json::to_vec(&manifest)
            .map_err(|source| Error::Json { what: self.what("manifest.json"), source })?
            .into();
        let manifest = Raw {
            digest: Digest::sha256(&bytes),
            media_type: media_type::DOCKER_MANIFEST.to_owned(),
            bytes,
            value: manifest,
        };
        let name = format!("{reference} (in {})", self.location());
        ResolvedImage::new(&name, platform, Vec::new(), manifest, config).map(Some)
    }
}

impl ImageSource for ArchiveSource {
    fn location(&self) -> String {
        format!("image archive {}", self.path.display())
    }

    fn resolve(&self, reference: &str, platform: &Platform) -> Result<ResolvedImage, Error> {
        if let Some(index) = &self.oci_index {
            let candidates = index.manifests.iter().filter_map(|d| {
                names_of(d).filter_map(|name| match_level(name, reference)).min().map(|l| (l, d))
            });
            if let Some(root) = choose(candidates, &self.location(), reference)? {
                let name = format!("{reference} (in {})", self.location());
                return resolve_from_root(&name, root, platform, &mut |d| self.read_blob_bytes(d));
            }
        }
        if let Some(image) = self.resolve_docker(reference, platform)? {
            return Ok(image);
        }
        let mut available: Vec<String> = Vec::new();
        if let Some(index) = &self.oci_index {
            available.push(list_names(&index.manifests));
        }
        let tags: Vec<&str> = self
            .docker_images
            .iter()
            .flat_map(|i| i.repo_tags.iter().map(String::as_str))
            .collect();
        if !tags.is_empty() {
            available.push(tags.join(", "));
        }
        Err(Error::RefNotFound {
            location: self.location(),
            reference: reference.to_owned(),
            available: if available.is_empty() {
                "no named images".to_owned()
            } else {
                available.join("; ")
            },
        })
    }

    fn open_blob(&self, descriptor: &Descriptor) -> Result<Box<dyn Read + Send + '_>, Error> {
        let Some(entry) = self.blob_entry(&descriptor.digest) else {
            return Err(Error::BlobMissing {
                location: self.location(),
                digest: descriptor.digest.clone(),
            });
        };
        let (reader, _) = self.open_entry(&entry)?;
        Ok(Box::new(Verifier::new(reader, &descriptor.digest, Some(descriptor.size))))
    }
}

type Scanned = (BTreeMap<String, (u64, u64)>, BTreeMap<String, Link>);

fn scan(path: &Path, reader: impl Read) -> Result<Scanned, Error> {
    let io_err = |source| Error::Io { path: path.to_path_buf(), source };
    let mut archive = tar::Archive::new(reader);
    let mut files = BTreeMap::new();
    let mut links = BTreeMap::new();
    for entry in archive.entries().map_err(io_err)? {
        let entry = entry.map_err(io_err)?;
        let raw_name = entry.path_bytes().into_owned();
        let raw_name = String::from_utf8_lossy(&raw_name).into_owned();
        let Some(name) = normalize(&raw_name) else { continue };
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                files.insert(name.clone(), (entry.raw_file_position(), entry.size()));
                links.remove(&name);
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let target =
                    entry.link_name_bytes().map(|t| String::from_utf8_lossy(&t).into_owned());
                let Some(target) = target else {
                    return Err(Error::ArchiveEntry {
                        path: path.to_path_buf(),
                        entry: raw_name,
                        problem: "link without a target".to_owned(),
                    });
                };
                let link = if entry.header().entry_type() == tar::EntryType::Symlink {
                    Link::Symbolic(target)
                } else {
                    Link::Hard(target)
                };
                files.remove(&name);
                links.insert(name, link);
            }
            _ => {}
        }
    }
    Ok((files, links))
}

/// `./a//b/` → `a/b`; `None` for names that leave the archive or are empty.
fn normalize(name: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            part => parts.push(part),
        }
    }
    if parts.is_empty() { None } else { Some(parts.join("/")) }
}

fn normalize_or_self(name: &str) -> String {
    normalize(name).unwrap_or_else(|| name.to_owned())
}

/// The target of a symbolic link at `link`, relative to the link's directory.
fn join_relative(link: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return normalize(target);
    }
    let dir = link.rsplit_once('/').map_or("", |(dir, _)| dir);
    normalize(&format!("{dir}/{target}"))
}

/// The digest named by a `blobs/<alg>/<hex>` entry.
fn blob_digest_of(entry: &str) -> Option<Digest> {
    let rest = entry.strip_prefix("blobs/")?;
    let (algorithm, hex) = rest.split_once('/')?;
    format!("{algorithm}:{hex}").parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::OciLayout;
    use crate::oci::testutil::{TestLayer, gzip, put_image, tar_of};

    /// Tars every file below `dir` (sorted), with `./` prefixes as GNU tar writes them.
    fn tar_dir(dir: &Path) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        let mut stack = vec![dir.to_path_buf()];
        let mut files = Vec::new();
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() { stack.push(path) } else { files.push(path) }
            }
        }
        files.sort();
        for path in files {
            let name = format!("./{}", path.strip_prefix(dir).unwrap().display());
            builder.append_path_with_name(&path, name).unwrap();
        }
        builder.into_inner().unwrap()
    }

    /// `(name, file data, symlink target)`.
    type Entry<'a> = (&'a str, Option<&'a [u8]>, Option<&'a str>);

    fn tar_entries(entries: &[Entry<'_>]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, data, link) in entries {
            let mut header = tar::Header::new_gnu();
            match (data, link) {
                (Some(data), _) => {
                    header.set_size(u64::try_from(data.len()).unwrap());
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_mode(0o644);
                    builder.append_data(&mut header, name, *data).unwrap();
                }
                (None, Some(target)) => {
                    header.set_entry_type(tar::EntryType::Symlink);
                    header.set_size(0);
                    builder.append_link(&mut header, name, target).unwrap();
                }
                (None, None) => unreachable!(),
            }
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn reads_an_oci_archive() {
        let dir = tempfile::tempdir().unwrap();
        let layout = OciLayout::create(dir.path().join("layout")).unwrap();
        let tar = tar_of(&[("etc/hostname", b"kit\n")]);
        let manifest = put_image(&layout, "amd64", &[TestLayer { tar: tar.clone(), gzip: true }]);
        layout.add_ref("1", &manifest).unwrap();
        let archive_path = dir.path().join("image.tar");
        std::fs::write(&archive_path, tar_dir(layout.root())).unwrap();

        let archive = ArchiveSource::open(&archive_path).unwrap();
        let image = archive.resolve("busybox:1", &"amd64".parse().unwrap()).unwrap();
        assert_eq!(image.manifest_digest(), &manifest.digest);
        let mut layer = Vec::new();
        archive.open_blob(&image.layers()[0]).unwrap().read_to_end(&mut layer).unwrap();
        assert_eq!(layer, gzip(&tar));
        let err = archive.resolve("nginx", &"amd64".parse().unwrap()).unwrap_err();
        assert!(err.to_string().ends_with("no image named \"nginx\"; it has 1"), "{err}");
    }

    #[test]
    fn reads_a_legacy_docker_save_archive_with_a_linked_layer() {
        let layer_a = tar_of(&[("a", b"1")]);
        let layer_b = tar_of(&[("b", b"2")]);
        let diff_ids =
            [Digest::sha256(&layer_a), Digest::sha256(&layer_b), Digest::sha256(&layer_a)];
        let config = serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        })
        .to_string();
        let config_name = format!("{}.json", Digest::sha256(config.as_bytes()).hex());
        let manifest = serde_json::json!([{
            "Config": config_name,
            "RepoTags": ["busybox:1"],
            "Layers": ["aaa/layer.tar", "bbb/layer.tar", "ccc/layer.tar"],
        }])
        .to_string();
        let bytes = tar_entries(&[
            ("aaa/layer.tar", Some(&layer_a), None),
            ("bbb/layer.tar", Some(&layer_b), None),
            ("ccc/layer.tar", None, Some("../aaa/layer.tar")),
            (&config_name, Some(config.as_bytes()), None),
            ("manifest.json", Some(manifest.as_bytes()), None),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("save.tar");
        std::fs::write(&path, &bytes).unwrap();

        let archive = ArchiveSource::open(&path).unwrap();
        let image =
            archive.resolve("docker.io/library/busybox:1", &"amd64".parse().unwrap()).unwrap();
        assert_eq!(image.config_digest(), &Digest::sha256(config.as_bytes()));
        assert_eq!(image.layers().len(), 3);
        let mut third = Vec::new();
        archive.open_blob(&image.layers()[2]).unwrap().read_to_end(&mut third).unwrap();
        assert_eq!(third, layer_a);
        assert_eq!(image.manifest_digest(), &Digest::sha256(&image.manifest.bytes));

        std::fs::write(&path, gzip(&bytes)).unwrap();
        let err = ArchiveSource::open(&path).unwrap_err();
        assert!(
            err.to_string().contains("found gzip data (decompress the archive first)"),
            "{err}"
        );
        std::fs::write(&path, tar_of(&[("x", b"")])).unwrap();
        let err = ArchiveSource::open(&path).unwrap_err();
        assert!(
            err.to_string().contains("expected index.json (OCI archive) or manifest.json"),
            "{err}"
        );
    }

    #[test]
    fn dangling_and_escaping_links_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.tar");
        std::fs::write(&path, tar_entries(&[("index.json", None, Some("nowhere"))])).unwrap();
        let err = ArchiveSource::open(&path).unwrap_err();
        assert!(err.to_string().contains("entry index.json: link to \"nowhere\""), "{err}");
        std::fs::write(&path, tar_entries(&[("index.json", None, Some("../../etc/passwd"))]))
            .unwrap();
        let err = ArchiveSource::open(&path).unwrap_err();
        assert!(err.to_string().contains("escapes the archive"), "{err}");
    }
}

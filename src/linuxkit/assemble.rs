//! The root layout LinuxKit builds (reference/linuxkit.md §2.4–2.6 and §10; LinuxKit's `Build`,
//! `outputImage`, `ImageTar` and `ImageBundle`), produced as one in-memory [`Tree`].
//!
//! Order, as in LinuxKit's tar (later wins): the kernel (`boot/` and the modules tar), `init`
//! images at `/` (then the APK database union), volumes, `onboot`, `onshutdown`, `services`, and
//! the `files` section. Every node records its origin (`LINUXKIT.source` / `LINUXKIT.location`).
//!
//! Bundles: `containers/onboot/NNN-name`, `containers/onshutdown/NNN-name`,
//! `containers/services/name`, each with `config.json`, `runtime.json`, `rootfs/`, and for
//! writable containers `lower/` (the image) and `tmp/`; a read-only container's image goes in
//! `rootfs/`. An image reference already extracted for an earlier container is not extracted
//! again: the overlay lowerdir or bind source points at the first copy.
//!
//! Volumes: `containers/volumes/<name>/{lower,tmp,merged}`; for `format: oci` `lower/` holds the
//! OCI image layout the caller planned with [`oci_volume::plan`].

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;

use formats::tree::{Content, ContentSource, Dir, Meta, Node, NodeKind, Tree};

use crate::config::{self, ImageConfig, VolumeFormat};
use crate::linuxkit::files::apply_files;
use crate::linuxkit::kernel::kernel_parts;
use crate::linuxkit::oci_volume::{self, OciVolumeLayout};
use crate::linuxkit::rewrite::{Resolv, rewrite_image};
use crate::linuxkit::spec::{
    IdMap, ImageDefaults, VolumeRef, config_to_oci, id_map, render, rewrite_volume_binds,
    rootfs_mounts,
};
use crate::linuxkit::{Error, HostFiles, place};

/// The path of Alpine's package database, merged across init images.
const APK_INSTALLED: &[u8] = b"lib/apk/db/installed";

/// One image, ready for assembly: its merged filesystem and configuration.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    /// The reference as LinuxKit prints it (expanded, e.g. `docker.io/library/alpine:3.20`):
    /// recorded as the origin of its entries and the key for de-duplicating bundles.
    pub name: String,
    /// The flattened filesystem.
    pub tree: Tree,
    /// `Env`, `Entrypoint`, `Cmd`, `WorkingDir` and `Labels` of the image configuration.
    pub config: ImageDefaults,
    /// The parsed `org.mobyproject.config` label, if the image has a non-empty one.
    pub label: Option<ImageConfig>,
}

/// The label LinuxKit reads its per-image defaults from.
pub const CONFIG_LABEL: &str = "org.mobyproject.config";

impl ResolvedImage {
    /// An image from its reference, merged tree and OCI `config` object: the defaults LinuxKit
    /// reads are taken from `config`, and a non-empty `org.mobyproject.config` label is parsed
    /// with the configuration rules ([`crate::config::parse_label`]).
    pub fn new(
        reference: &crate::reference::Reference,
        tree: Tree,
        config: Option<&crate::oci::spec::ContainerConfig>,
    ) -> Result<ResolvedImage, Error> {
        let name = reference.to_string();
        let defaults = match config {
            Some(config) => ImageDefaults {
                env: Some(config.env.clone()).filter(|env| !env.is_empty()),
                entrypoint: config.entrypoint.clone(),
                cmd: config.cmd.clone(),
                working_dir: config.working_dir.clone(),
                labels: config.labels.clone(),
            },
            None => ImageDefaults::default(),
        };
        let label = match defaults.labels.get(CONFIG_LABEL).filter(|text| !text.is_empty()) {
            Some(text) => Some(config::parse_label(text).map_err(|errors| Error::Label {
                image: name.clone(),
                message: errors.to_string(),
            })?),
            None => None,
        };
        Ok(ResolvedImage { name, tree, config: defaults, label })
    }
}

/// What a volume's `lower/` holds.
enum VolumeContent<'a> {
    /// An OCI image layout (`format: oci`).
    Layout(&'a OciVolumeLayout),
    /// The image's flattened filesystem.
    Filesystem(&'a ResolvedImage),
    /// Nothing (no `image`).
    Blank,
}

/// Gives the resolved image for every reference the configuration names.
pub trait Images {
    /// The image for `reference`, exactly as written in the configuration.
    fn image(&self, reference: &str) -> Option<&ResolvedImage>;
    /// Opens the blob ranges the images' trees point into.
    fn content_source(&self) -> &dyn ContentSource;
    /// The planned layout of the `format: oci` volume named `volume`.
    fn oci_volume(&self, volume: &str) -> Option<&OciVolumeLayout> {
        let _ = volume;
        None
    }
}

/// Images held in a map keyed by the reference as written, with their content source.
#[derive(Debug, Clone)]
pub struct ImageMap<S> {
    /// The images.
    pub images: BTreeMap<String, ResolvedImage>,
    /// Where their blobs are read from (layer ranges and, for `format: oci` volumes, whole
    /// blobs named by [`blob_object_id`](crate::tree::blob_object_id)).
    pub source: S,
    /// The layouts of `format: oci` volumes, by volume name.
    pub oci_volumes: BTreeMap<String, OciVolumeLayout>,
}

impl<S: ContentSource> Images for ImageMap<S> {
    fn image(&self, reference: &str) -> Option<&ResolvedImage> {
        self.images.get(reference)
    }

    fn content_source(&self) -> &dyn ContentSource {
        &self.source
    }

    fn oci_volume(&self, volume: &str) -> Option<&OciVolumeLayout> {
        self.oci_volumes.get(volume)
    }
}

/// Assembly options chosen by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssembleOptions {
    /// Time of every generated entry, in seconds since the Unix epoch (LinuxKit uses
    /// 1492533000, 2017-04-18 16:30 UTC).
    pub epoch: i64,
    /// Target architecture in OCI spelling (`amd64`, `arm64`).
    pub arch: String,
}

/// The assembled system.
#[derive(Debug, Clone)]
pub struct Assembled {
    /// The root filesystem, including `boot/kernel`, `boot/cmdline` and `boot/ucode.cpio`
    /// (the kernel+initrd writer leaves `boot/` out of the initrd).
    pub root: Tree,
    /// The kernel, when the configuration has a kernel image.
    pub kernel: Option<Content>,
    /// The kernel command line (empty without a kernel image).
    pub cmdline: String,
    /// The microcode cpio, when configured and present.
    pub ucode: Option<Content>,
}

/// Builds LinuxKit's root layout for `config` from `images` (looked up by the references as
/// written in `config`).
pub fn assemble(
    config: &config::Config,
    images: &dyn Images,
    host: &dyn HostFiles,
    options: &AssembleOptions,
) -> Result<Assembled, Error> {
    let epoch = options.epoch;
    let mut root = Tree::new(epoch);
    let source = images.content_source();
    let lookup = |reference: &str, location: &str| {
        images.image(reference).ok_or_else(|| Error::ImageNotProvided {
            reference: reference.to_string(),
            location: location.to_string(),
        })
    };

    let mut assembled_kernel = None;
    let mut cmdline = String::new();
    let mut ucode = None;
    if let Some(kernel) = &config.kernel
        && let Some(reference) = &kernel.image
    {
        let image = lookup(&reference.written, "kernel")?;
        let parts = kernel_parts(kernel, &image.name, &image.tree, source, epoch)?;
        place::overlay(&mut root.root, parts.root);
        assembled_kernel = Some(parts.kernel);
        ucode = parts.ucode;
        cmdline = kernel.cmdline.clone().unwrap_or_default();
    }

    let mut apk_databases = Vec::new();
    for (index, init) in config.init.iter().enumerate() {
        let location = format!("init[{index}]");
        let image = lookup(&init.image.written, &location)?;
        let origin = place::origin(&image.name, &location);
        let entries = rewrite_image(&image.tree, Resolv::Symlink, epoch, &origin, b"");
        if let Some(Node { kind: NodeKind::File(content), .. }) = dir_get(&entries, APK_INSTALLED) {
            let mut bytes = Vec::new();
            let read = content.open(source).and_then(|mut reader| reader.read_to_end(&mut bytes));
            read.map_err(|error| Error::ReadContent {
                image: image.name.clone(),
                path: String::from_utf8_lossy(APK_INSTALLED).into_owned(),
                error,
            })?;
            apk_databases.push(bytes);
        }
        place::overlay(&mut root.root, entries);
    }
    if apk_databases.len() > 1 {
        // LinuxKit's apkTarWriter: each database followed by two newlines, later entries win.
        let mut union = Vec::new();
        for database in &apk_databases {
            union.extend_from_slice(database);
            union.extend_from_slice(b"\n\n");
        }
        let origin = place::origin("LINUXKIT.apkinit", "init");
        let parts = place::components(APK_INSTALLED);
        if let Some((last, parents)) = parts.split_last() {
            let dir = place::dir_at(&mut root.root, parents, &Meta::new(0o755, epoch), &origin);
            let node = Node {
                kind: NodeKind::File(Content::Inline(Arc::from(union))),
                meta: Meta::new(0o644, epoch),
                origin,
            };
            place::put(dir, last.to_vec(), node);
        }
    }

    let dir_meta = Meta::new(0o755, epoch);
    for (index, volume) in config.volumes.iter().enumerate() {
        let location = format!("volume[{index}]");
        let base = format!("containers/volumes/{}", volume.name);
        let lower = format!("{base}/lower");
        let content = match &volume.image {
            Some(reference) if volume.format == Some(VolumeFormat::Oci) => {
                let layout =
                    images.oci_volume(&volume.name).ok_or_else(|| Error::VolumeOciNotProvided {
                        volume: volume.name.clone(),
                        image: reference.written.clone(),
                    })?;
                VolumeContent::Layout(layout)
            }
            Some(reference) => VolumeContent::Filesystem(lookup(&reference.written, &location)?),
            None => VolumeContent::Blank,
        };
        let source_name = match &content {
            VolumeContent::Layout(layout) => layout.image.as_str(),
            VolumeContent::Filesystem(image) => image.name.as_str(),
            VolumeContent::Blank => "empty",
        };
        let origin = place::origin(source_name, &location);
        let lower_dir = place::mkdir_all(
            &mut root.root,
            &place::components(lower.as_bytes()),
            &dir_meta,
            &origin,
        );
        match content {
            VolumeContent::Layout(layout) => {
                oci_volume::place_layout(lower_dir, layout, epoch, &origin);
            }
            VolumeContent::Filesystem(image) => {
                let link_prefix = format!("{lower}/");
                let entries = rewrite_image(
                    &image.tree,
                    Resolv::Symlink,
                    epoch,
                    &origin,
                    link_prefix.as_bytes(),
                );
                place::overlay(lower_dir, entries);
            }
            VolumeContent::Blank => {}
        }
        let volume_origin = place::origin("linuxkit.volumes", &location);
        let base_dir = place::dir_at(
            &mut root.root,
            &place::components(base.as_bytes()),
            &dir_meta,
            &volume_origin,
        );
        for name in [&b"tmp"[..], b"merged"] {
            let dir = Node {
                kind: NodeKind::Dir(Dir::new()),
                meta: dir_meta.clone(),
                origin: volume_origin.clone(),
            };
            place::put(base_dir, name.to_vec(), dir);
        }
    }

    let ids = id_map(
        config
            .onboot
            .iter()
            .chain(&config.onshutdown)
            .chain(&config.services)
            .map(|i| i.name.as_str()),
    );
    let volumes: Vec<VolumeRef> = config
        .volumes
        .iter()
        .map(|volume| VolumeRef {
            name: volume.name.clone(),
            readonly: volume.readonly.unwrap_or(false),
        })
        .collect();
    let mut extracted: BTreeMap<String, String> = BTreeMap::new();
    let sections = [
        ("onboot", &config.onboot, true),
        ("onshutdown", &config.onshutdown, true),
        ("services", &config.services, false),
    ];
    for (section, list, numbered) in sections {
        for (index, object) in list.iter().enumerate() {
            let location = format!("{section}[{index}]");
            let image = lookup(&object.image.written, &location)?;
            let bundle_name =
                if numbered { format!("{index:03}-{}", object.name) } else { object.name.clone() };
            let prefix = format!("containers/{section}/{bundle_name}");
            let bundle = Bundle { prefix: &prefix, location: &location, epoch };
            bundle.write(&mut root.root, object, image, &ids, &volumes, &mut extracted).map_err(
                |source| Error::InImage {
                    location: location.clone(),
                    name: object.name.clone(),
                    image: object.image.written.clone(),
                    source: Box::new(source),
                },
            )?;
        }
    }

    apply_files(&mut root.root, &config.files, &ids, host, epoch)?;

    Ok(Assembled { root, kernel: assembled_kernel, cmdline, ucode })
}

/// One container bundle being written.
struct Bundle<'a> {
    prefix: &'a str,
    location: &'a str,
    epoch: i64,
}

impl Bundle<'_> {
    fn write(
        &self,
        root: &mut Dir,
        object: &config::Image,
        image: &ResolvedImage,
        ids: &IdMap,
        volumes: &[VolumeRef],
        extracted: &mut BTreeMap<String, String>,
    ) -> Result<(), Error> {
        let epoch = self.epoch;
        let prefix = self.prefix;
        let yaml = rewrite_volume_binds(&object.config, volumes)?;
        let (spec, mut runtime) = config_to_oci(&yaml, image.label.as_ref(), &image.config, ids)?;
        let readonly = spec.root.readonly;
        let config_json = render(&spec)?;

        let origin = place::origin(&image.name, self.location);
        let dir_meta = Meta::new(0o755, epoch);
        let lower = match extracted.get(&image.name) {
            Some(first) => {
                place::mkdir_all(root, &place::components(prefix.as_bytes()), &dir_meta, &origin);
                first.clone()
            }
            None => {
                let lower = format!("{prefix}/{}", if readonly { "rootfs" } else { "lower" });
                let dir = place::mkdir_all(
                    root,
                    &place::components(lower.as_bytes()),
                    &dir_meta,
                    &origin,
                );
                let link_prefix = format!("{lower}/");
                let entries = rewrite_image(
                    &image.tree,
                    Resolv::Stub,
                    epoch,
                    &origin,
                    link_prefix.as_bytes(),
                );
                place::overlay(dir, entries);
                extracted.insert(image.name.clone(), lower.clone());
                lower
            }
        };

        runtime.mounts.splice(0..0, rootfs_mounts(prefix, &lower, readonly));
        let runtime_json = render(&runtime)?;

        let bundle = place::dir_at(root, &place::components(prefix.as_bytes()), &dir_meta, &origin);
        let file = |bytes: Vec<u8>| Node {
            kind: NodeKind::File(Content::Inline(Arc::from(bytes))),
            meta: Meta::new(0o644, epoch),
            origin: origin.clone(),
        };
        let dir = || Node {
            kind: NodeKind::Dir(Dir::new()),
            meta: dir_meta.clone(),
            origin: origin.clone(),
        };
        place::put(bundle, b"config.json".to_vec(), file(config_json));
        if !readonly {
            place::put(bundle, b"tmp".to_vec(), dir());
        }
        // The rootfs mount point (for a read-only, non-duplicate container it already holds the
        // image and only its metadata is set again, as LinuxKit's prefix entry does).
        place::put(bundle, b"rootfs".to_vec(), dir());
        place::put(bundle, b"runtime.json".to_vec(), file(runtime_json));
        Ok(())
    }
}

fn dir_get<'a>(dir: &'a Dir, path: &[u8]) -> Option<&'a Node> {
    let parts = place::components(path);
    let (last, parents) = parts.split_last()?;
    let mut current = dir;
    for part in parents {
        match &current.get(*part)?.kind {
            NodeKind::Dir(entries) => current = entries,
            _ => return None,
        }
    }
    current.get(*last)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io;

    use expect_test::{Expect, expect};
    use formats::tree::NoBlobs;

    use super::*;
    use crate::config::{Config, File, Id, Kernel, Volume};
    use crate::linuxkit::testutil::{
        dump_dir, dump_dir_with_origin, image_ref, init, object, tree_from_text,
    };

    struct Host;

    impl HostFiles for Host {
        fn read_source(&self, source: &str) -> io::Result<Option<Vec<u8>>> {
            match source {
                "present.txt" => Ok(Some(b"from host\n".to_vec())),
                "unreadable" => Err(io::Error::new(io::ErrorKind::PermissionDenied, "denied")),
                _ => Ok(None),
            }
        }

        fn metadata(&self, format: &str) -> Result<Vec<u8>, String> {
            Ok(format!("metadata as {format}\n").into_bytes())
        }
    }

    fn image(name: &str, text: &str) -> (String, ResolvedImage) {
        let resolved = ResolvedImage {
            name: format!("docker.io/library/{name}"),
            tree: tree_from_text(text),
            config: ImageDefaults::default(),
            label: None,
        };
        (name.to_string(), resolved)
    }

    fn images(list: Vec<(String, ResolvedImage)>) -> ImageMap<NoBlobs> {
        ImageMap {
            images: list.into_iter().collect(),
            source: NoBlobs,
            oci_volumes: BTreeMap::new(),
        }
    }

    fn run(config: &Config, images: &ImageMap<NoBlobs>) -> Result<Assembled, Error> {
        assemble(config, images, &Host, &AssembleOptions { epoch: 1000, arch: "amd64".into() })
    }

    fn error_chain(error: &Error) -> String {
        let mut text = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(inner) = source {
            text.push_str(": ");
            text.push_str(&inner.to_string());
            source = inner.source();
        }
        text
    }

    /// Dumps the subtree at `path` (origins included) or the error.
    fn check(config: &Config, images: &ImageMap<NoBlobs>, path: &str, expect: Expect) {
        let text = match run(config, images) {
            Ok(assembled) => match assembled.root.get(path.as_bytes()).map(|node| &node.kind) {
                Some(NodeKind::Dir(entries)) => mask_json_sizes(&dump_dir_with_origin(entries)),
                None if path.is_empty() => dump_dir_with_origin(&assembled.root.root),
                other => format!("{other:?}"),
            },
            Err(error) => format!("error: {}", error_chain(&error)),
        };
        expect.assert_eq(&text);
    }

    /// Generated JSON is checked elsewhere; its size is not shown in dumps.
    fn mask_json_sizes(dump: &str) -> String {
        let mut out = String::new();
        for line in dump.lines() {
            match line.split_once(".json size=") {
                Some((head, tail)) => {
                    let rest = tail.split_once(' ').map(|(_, rest)| rest).unwrap_or("");
                    out.push_str(&format!("{head}.json size=* {rest}"));
                }
                None => out.push_str(line),
            }
            out.push('\n');
        }
        out
    }

    const SMALL: &str = "
        //- /bin/tool mode=0755 mtime=5
        tool
        //- /lib/x mode=0644 mtime=5
        x
        //- /lib/y mode=0644 mtime=5 hardlink=lib/x
        ";

    #[test]
    fn duplicate_images_are_extracted_once() {
        // onboot[0] read-only extracts into its rootfs/; onshutdown[0] (writable) overlays it;
        // services[0] uses another image and gets its own lower/.
        let config = Config {
            onboot: vec![object(
                "first",
                "small",
                ImageConfig { readonly: Some(true), ..Default::default() },
            )],
            onshutdown: vec![object("again", "small", ImageConfig::default())],
            services: vec![object("svc", "other", ImageConfig::default())],
            ..Default::default()
        };
        let images = images(vec![image("small", SMALL), image("other", "")]);
        check(
            &config,
            &images,
            "containers",
            expect![[r#"
                dir 0755 0:0 @1000 onboot  [onboot[0] | docker.io/library/small]
                dir 0755 0:0 @1000 onboot/000-first  [onboot[0] | docker.io/library/small]
                file 0644 0:0 @1000 onboot/000-first/config.json size=*  [onboot[0] | docker.io/library/small]
                dir 0755 0:0 @1000 onboot/000-first/rootfs  [onboot[0] | docker.io/library/small]
                dir 0755 0:0 @0 onboot/000-first/rootfs/bin  [onboot[0] | docker.io/library/small]
                file 0755 0:0 @5 onboot/000-first/rootfs/bin/tool size=5  [onboot[0] | docker.io/library/small]
                dir 0755 0:0 @1000 onboot/000-first/rootfs/dev  [onboot[0] | docker.io/library/small]
                dir 0755 0:0 @1000 onboot/000-first/rootfs/dev/pts  [onboot[0] | docker.io/library/small]
                dir 0755 0:0 @1000 onboot/000-first/rootfs/dev/shm  [onboot[0] | docker.io/library/small]
                dir 0755 0:0 @1000 onboot/000-first/rootfs/etc  [onboot[0] | docker.io/library/small]
                file 0644 0:0 @1000 onboot/000-first/rootfs/etc/hosts size=160  [onboot[0] | docker.io/library/small]
                symlink 0755 0:0 @1000 onboot/000-first/rootfs/etc/mtab -> /proc/mounts  [onboot[0] | docker.io/library/small]
                file 0644 0:0 @1000 onboot/000-first/rootfs/etc/resolv.conf size=29  [onboot[0] | docker.io/library/small]
                dir 0755 0:0 @0 onboot/000-first/rootfs/lib  [onboot[0] | docker.io/library/small]
                file 0644 0:0 @5 onboot/000-first/rootfs/lib/x size=2  [onboot[0] | docker.io/library/small]
                hardlink 0644 0:0 @5 onboot/000-first/rootfs/lib/y -> containers/onboot/000-first/rootfs/lib/x  [onboot[0] | docker.io/library/small]
                dir 0755 0:0 @1000 onboot/000-first/rootfs/proc  [onboot[0] | docker.io/library/small]
                dir 0755 0:0 @1000 onboot/000-first/rootfs/sys  [onboot[0] | docker.io/library/small]
                file 0644 0:0 @1000 onboot/000-first/runtime.json size=*  [onboot[0] | docker.io/library/small]
                dir 0755 0:0 @1000 onshutdown  [onshutdown[0] | docker.io/library/small]
                dir 0755 0:0 @1000 onshutdown/000-again  [onshutdown[0] | docker.io/library/small]
                file 0644 0:0 @1000 onshutdown/000-again/config.json size=*  [onshutdown[0] | docker.io/library/small]
                dir 0755 0:0 @1000 onshutdown/000-again/rootfs  [onshutdown[0] | docker.io/library/small]
                file 0644 0:0 @1000 onshutdown/000-again/runtime.json size=*  [onshutdown[0] | docker.io/library/small]
                dir 0755 0:0 @1000 onshutdown/000-again/tmp  [onshutdown[0] | docker.io/library/small]
                dir 0755 0:0 @1000 services  [services[0] | docker.io/library/other]
                dir 0755 0:0 @1000 services/svc  [services[0] | docker.io/library/other]
                file 0644 0:0 @1000 services/svc/config.json size=*  [services[0] | docker.io/library/other]
                dir 0755 0:0 @1000 services/svc/lower  [services[0] | docker.io/library/other]
                dir 0755 0:0 @1000 services/svc/lower/dev  [services[0] | docker.io/library/other]
                dir 0755 0:0 @1000 services/svc/lower/dev/pts  [services[0] | docker.io/library/other]
                dir 0755 0:0 @1000 services/svc/lower/dev/shm  [services[0] | docker.io/library/other]
                dir 0755 0:0 @1000 services/svc/lower/etc  [services[0] | docker.io/library/other]
                file 0644 0:0 @1000 services/svc/lower/etc/hosts size=160  [services[0] | docker.io/library/other]
                symlink 0755 0:0 @1000 services/svc/lower/etc/mtab -> /proc/mounts  [services[0] | docker.io/library/other]
                file 0644 0:0 @1000 services/svc/lower/etc/resolv.conf size=29  [services[0] | docker.io/library/other]
                dir 0755 0:0 @1000 services/svc/lower/proc  [services[0] | docker.io/library/other]
                dir 0755 0:0 @1000 services/svc/lower/sys  [services[0] | docker.io/library/other]
                dir 0755 0:0 @1000 services/svc/rootfs  [services[0] | docker.io/library/other]
                file 0644 0:0 @1000 services/svc/runtime.json size=*  [services[0] | docker.io/library/other]
                dir 0755 0:0 @1000 services/svc/tmp  [services[0] | docker.io/library/other]
            "#]],
        );
        let assembled = run(&config, &images).unwrap();
        let runtime = match assembled
            .root
            .get(b"containers/onshutdown/000-again/runtime.json")
            .map(|node| &node.kind)
        {
            Some(NodeKind::File(Content::Inline(data))) => {
                String::from_utf8(data.to_vec()).unwrap()
            }
            other => panic!("{other:?}"),
        };
        assert!(runtime.contains("\"lowerdir=/containers/onboot/000-first/rootfs\""), "{runtime}");
        assert!(runtime.contains("\"upperdir=/containers/onshutdown/000-again/tmp/upper\""));
    }

    #[test]
    fn volumes_blank_and_from_image() {
        let config = Config {
            volumes: vec![
                Volume { name: "blank".into(), ..Default::default() },
                Volume {
                    name: "data".into(),
                    image: Some(image_ref("small")),
                    readonly: Some(true),
                    ..Default::default()
                },
            ],
            services: vec![object(
                "svc",
                "small",
                ImageConfig {
                    binds_add: Some(vec!["data:/data:ro".into(), "blank:/blank".into()]),
                    ..Default::default()
                },
            )],
            ..Default::default()
        };
        let images = images(vec![image("small", SMALL)]);
        check(
            &config,
            &images,
            "containers/volumes",
            expect![[r#"
                dir 0755 0:0 @1000 blank  [volume[0] | empty]
                dir 0755 0:0 @1000 blank/lower  [volume[0] | empty]
                dir 0755 0:0 @1000 blank/merged  [volume[0] | linuxkit.volumes]
                dir 0755 0:0 @1000 blank/tmp  [volume[0] | linuxkit.volumes]
                dir 0755 0:0 @1000 data  [volume[1] | docker.io/library/small]
                dir 0755 0:0 @1000 data/lower  [volume[1] | docker.io/library/small]
                dir 0755 0:0 @0 data/lower/bin  [volume[1] | docker.io/library/small]
                file 0755 0:0 @5 data/lower/bin/tool size=5  [volume[1] | docker.io/library/small]
                dir 0755 0:0 @1000 data/lower/dev  [volume[1] | docker.io/library/small]
                dir 0755 0:0 @1000 data/lower/dev/pts  [volume[1] | docker.io/library/small]
                dir 0755 0:0 @1000 data/lower/dev/shm  [volume[1] | docker.io/library/small]
                dir 0755 0:0 @1000 data/lower/etc  [volume[1] | docker.io/library/small]
                file 0644 0:0 @1000 data/lower/etc/hosts size=160  [volume[1] | docker.io/library/small]
                symlink 0755 0:0 @1000 data/lower/etc/mtab -> /proc/mounts  [volume[1] | docker.io/library/small]
                symlink 0644 0:0 @1000 data/lower/etc/resolv.conf -> /run/resolvconf/resolv.conf  [volume[1] | docker.io/library/small]
                dir 0755 0:0 @0 data/lower/lib  [volume[1] | docker.io/library/small]
                file 0644 0:0 @5 data/lower/lib/x size=2  [volume[1] | docker.io/library/small]
                hardlink 0644 0:0 @5 data/lower/lib/y -> containers/volumes/data/lower/lib/x  [volume[1] | docker.io/library/small]
                dir 0755 0:0 @1000 data/lower/proc  [volume[1] | docker.io/library/small]
                dir 0755 0:0 @1000 data/lower/sys  [volume[1] | docker.io/library/small]
                dir 0755 0:0 @1000 data/merged  [volume[1] | linuxkit.volumes]
                dir 0755 0:0 @1000 data/tmp  [volume[1] | linuxkit.volumes]
            "#]],
        );
        let assembled = run(&config, &images).unwrap();
        let config_json =
            match assembled.root.get(b"containers/services/svc/config.json").map(|node| &node.kind)
            {
                Some(NodeKind::File(Content::Inline(data))) => {
                    String::from_utf8(data.to_vec()).unwrap()
                }
                other => panic!("{other:?}"),
            };
        assert!(config_json.contains("\"source\": \"/containers/volumes/data/merged\""));
        assert!(config_json.contains("\"source\": \"/containers/volumes/blank/merged\""));

        let mut bad = config.clone();
        bad.services[0].config.binds_add = Some(vec!["data:/data".into()]);
        check(
            &bad,
            &images,
            "",
            expect![[
                r#"error: services[0] (svc, image small): volume "data" is read-only, but is bound read-write: add the `ro` option"#
            ]],
        );
        let mut oci = config.clone();
        oci.volumes[1].format = Some(VolumeFormat::Oci);
        check(
            &oci,
            &images,
            "",
            expect![[
                r#"error: volume "data": the OCI layout of image small was not provided to assembly"#
            ]],
        );
    }

    #[test]
    fn oci_volume_layout_is_placed_under_lower() {
        use crate::digest::Digest;
        use crate::oci::spec::Descriptor;
        let config = Config {
            volumes: vec![Volume {
                name: "data".into(),
                image: Some(image_ref("small")),
                readonly: Some(true),
                format: Some(VolumeFormat::Oci),
                ..Default::default()
            }],
            services: vec![object(
                "svc",
                "small",
                ImageConfig { binds: Some(vec!["data:/data:ro".into()]), ..Default::default() },
            )],
            ..Default::default()
        };
        let config_blob = Descriptor::new("c", Digest::sha256(b"config"), 6);
        let layer_blob = Descriptor::new("l", Digest::sha256(b"layer"), 5);
        let layout = OciVolumeLayout {
            image: "docker.io/library/small".into(),
            blobs: vec![config_blob.clone(), layer_blob.clone()],
            index_json: b"{}".to_vec(),
        };
        let mut images = images(vec![image("small", "//- /bin/tool mode=0755\ntool\n")]);
        images.oci_volumes.insert("data".into(), layout);
        let assembled = run(&config, &images).unwrap();
        let mut entries = Vec::new();
        let Some(lower) = assembled.root.get(b"containers/volumes/data/lower") else {
            panic!("no lower/")
        };
        let NodeKind::Dir(lower) = &lower.kind else { panic!("lower/ is not a directory") };
        let mut tree = Tree::new(0);
        tree.root = lower.clone();
        tree.walk::<()>(&mut |path, node| {
            let origin = node.origin.as_deref().unwrap();
            let content = match &node.kind {
                NodeKind::Dir(_) => "dir".to_owned(),
                NodeKind::File(Content::Inline(data)) => {
                    format!("inline {}", String::from_utf8_lossy(data))
                }
                NodeKind::File(Content::Blob(range)) => {
                    format!("blob {} {}+{}", range.object, range.offset, range.len)
                }
                other => format!("{other:?}"),
            };
            entries.push(format!(
                "{} {:o} {}:{} @{} {content} [{} | {}]",
                String::from_utf8_lossy(path),
                node.meta.mode,
                node.meta.uid,
                node.meta.gid,
                node.meta.mtime,
                origin.location,
                origin.source
            ));
            Ok(())
        })
        .unwrap();
        // LinuxKit's layout: oci-layout and index.json 0644, blobs/ and blobs/sha256/ 0755,
        // one 0644 file per blob named by its hex digest, all from the volume's image; the
        // blob bytes are read whole from the cache.
        let src = "[volume[0] | docker.io/library/small]";
        let expected = vec![
            format!("blobs 755 0:0 @1000 dir {src}"),
            format!("blobs/sha256 755 0:0 @1000 dir {src}"),
            format!(
                "blobs/sha256/{} 644 0:0 @1000 blob blob:{} 0+6 {src}",
                config_blob.digest.hex(),
                config_blob.digest
            ),
            format!(
                "blobs/sha256/{} 644 0:0 @1000 blob blob:{} 0+5 {src}",
                layer_blob.digest.hex(),
                layer_blob.digest
            ),
            format!("index.json 644 0:0 @1000 inline {{}} {src}"),
            format!(
                "oci-layout 644 0:0 @1000 inline {{\n\t\t\"imageLayoutVersion\": \"1.0.0\"\n\t}} {src}"
            ),
        ];
        let mut expected = expected;
        expected.sort();
        entries.sort();
        assert_eq!(entries, expected);
        for dir in ["containers/volumes/data/tmp", "containers/volumes/data/merged"] {
            assert!(matches!(
                assembled.root.get(dir.as_bytes()).map(|n| &n.kind),
                Some(NodeKind::Dir(_))
            ));
        }

        // The read-only rule is the same as for filesystem volumes.
        let mut writable = config.clone();
        writable.services[0].config.binds = Some(vec!["data:/data".into()]);
        let error = run(&writable, &images).unwrap_err();
        assert!(error_chain(&error).contains("is read-only, but is bound read-write"));
    }

    #[test]
    fn init_images_merge_at_root_and_union_apk_databases() {
        let config = Config { init: vec![init("a"), init("b")], ..Default::default() };
        let images = images(vec![
            image(
                "a",
                "
                //- /lib/apk/db/installed mode=0600 mtime=3
                P:a
                //- /etc/hostname
                a
                //- /only-a mode=0600
                //- /shared mode=0600
                from a
                ",
            ),
            image(
                "b",
                "
                //- /lib/apk/db/installed mode=0600 mtime=4
                P:b
                //- /shared mode=0644
                from b!
                ",
            ),
        ]);
        let assembled = run(&config, &images).unwrap();
        expect![[r#"
            dir 0755 0:0 @1000 dev
            dir 0755 0:0 @1000 dev/pts
            dir 0755 0:0 @1000 dev/shm
            dir 0755 0:0 @1000 etc
            file 0644 0:0 @1000 etc/hosts size=160
            symlink 0755 0:0 @1000 etc/mtab -> /proc/mounts
            symlink 0644 0:0 @1000 etc/resolv.conf -> /run/resolvconf/resolv.conf
            dir 0755 0:0 @0 lib
            dir 0755 0:0 @0 lib/apk
            dir 0755 0:0 @0 lib/apk/db
            file 0644 0:0 @1000 lib/apk/db/installed size=12
            file 0600 0:0 @0 only-a size=0
            dir 0755 0:0 @1000 proc
            file 0644 0:0 @0 shared size=8
            dir 0755 0:0 @1000 sys
        "#]]
        .assert_eq(&dump_dir(&assembled.root.root));
        let node = assembled.root.get(b"lib/apk/db/installed").unwrap();
        assert!(
            matches!(&node.kind, NodeKind::File(Content::Inline(data)) if &data[..] == b"P:a\n\n\nP:b\n\n\n")
        );
        let origin = node.origin.as_deref().unwrap();
        assert_eq!(
            (origin.source.as_str(), origin.location.as_str()),
            ("LINUXKIT.apkinit", "init")
        );
    }

    fn kernel_image(with_tar: bool) -> (String, ResolvedImage) {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        header.set_mtime(7);
        header.set_size(0);
        header.set_uid(0);
        header.set_gid(0);
        builder.append_data(&mut header, "./lib/modules/6.9/", &b""[..]).unwrap();
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_mtime(7);
        header.set_size(3);
        header.set_uid(1);
        header.set_gid(0);
        builder.append_data(&mut header, "./lib/modules/6.9/a.ko", &b"abc"[..]).unwrap();
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Link);
        header.set_mode(0o644);
        header.set_size(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        builder
            .append_link(&mut header, "./lib/modules/6.9/b.ko", "./lib/modules/6.9/a.ko")
            .unwrap();
        let tar_bytes = builder.into_inner().unwrap();
        let (name, mut resolved) = image(
            "kernel",
            "
            //- /kernel mode=0600 blob=sha256:layer:512:4096
            //- /intel-ucode.cpio mode=0640 blob=sha256:layer:8192:10
            //- /System.map
            ignored
            ",
        );
        if with_tar {
            resolved.tree.root.insert(
                b"kernel.tar".to_vec(),
                Node::new(
                    NodeKind::File(Content::Inline(Arc::from(tar_bytes))),
                    Meta::new(0o644, 0),
                ),
            );
        }
        (name, resolved)
    }

    fn kernel(tar: Option<&str>, ucode: Option<&str>, binary: Option<&str>) -> Config {
        Config {
            kernel: Some(Kernel {
                image: Some(image_ref("kernel")),
                cmdline: Some("console=ttyS0".into()),
                binary: binary.map(str::to_string),
                tar: tar.map(str::to_string),
                ucode: ucode.map(str::to_string),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn kernel_boot_files_and_modules_tar() {
        let images = images(vec![kernel_image(true)]);
        let config = kernel(None, Some("intel-ucode.cpio"), None);
        check(
            &config,
            &images,
            "",
            expect![[r#"
                dir 0755 0:0 @1000 boot  [kernel | docker.io/library/kernel]
                file 0644 0:0 @1000 boot/cmdline size=13  [kernel | docker.io/library/kernel]
                file 0600 0:0 @1000 boot/kernel size=4096  [kernel | docker.io/library/kernel]
                file 0640 0:0 @1000 boot/ucode.cpio size=10  [kernel | docker.io/library/kernel]
                dir 0755 0:0 @1000 lib  [kernel | docker.io/library/kernel]
                dir 0755 0:0 @1000 lib/modules  [kernel | docker.io/library/kernel]
                dir 0755 0:0 @7 lib/modules/6.9  [kernel | docker.io/library/kernel]
                file 0644 1:0 @7 lib/modules/6.9/a.ko size=3  [kernel | docker.io/library/kernel]
                hardlink 0644 0:0 @0 lib/modules/6.9/b.ko -> lib/modules/6.9/a.ko  [kernel | docker.io/library/kernel]
            "#]],
        );
        let assembled = run(&config, &images).unwrap();
        assert_eq!(assembled.cmdline, "console=ttyS0");
        let blob = |offset, len| {
            Some(Content::Blob(formats::tree::BlobRange {
                object: Arc::from("sha256:layer"),
                offset,
                len,
            }))
        };
        assert_eq!(assembled.kernel, blob(512, 4096));
        assert_eq!(assembled.ucode, blob(8192, 10));
        let module = assembled.root.get(b"lib/modules/6.9/a.ko").unwrap();
        assert!(
            matches!(&module.kind, NodeKind::File(Content::Inline(data)) if &data[..] == b"abc")
        );
    }

    #[test]
    fn kernel_contract_errors_and_options() {
        let without_tar = images(vec![kernel_image(false)]);
        check(
            &kernel(None, None, None),
            &without_tar,
            "",
            expect![[
                r#"error: did not find kernel tar "kernel.tar" in kernel image docker.io/library/kernel (set `tar: none` if it has none)"#
            ]],
        );
        // `none` and "" disable the tar; a missing ucode is skipped, as in LinuxKit.
        for tar in ["none", ""] {
            let assembled =
                run(&kernel(Some(tar), Some("missing.cpio"), None), &without_tar).unwrap();
            assert!(assembled.ucode.is_none());
            assert!(assembled.root.get(b"boot/ucode.cpio").is_none());
            assert!(assembled.root.get(b"lib").is_none());
        }
        check(
            &kernel(Some("none"), None, Some("vmlinuz")),
            &without_tar,
            "",
            expect![[
                r#"error: did not find kernel "vmlinuz" in kernel image docker.io/library/kernel"#
            ]],
        );
        let assembled = run(&kernel(Some("none"), None, Some("System.map")), &without_tar).unwrap();
        assert!(
            matches!(assembled.kernel, Some(Content::Inline(ref data)) if &data[..] == b"ignored\n")
        );
        check(
            &Config { init: vec![init("nope")], ..Default::default() },
            &without_tar,
            "",
            expect!["error: init[0]: image nope was not provided to assembly"],
        );
    }

    fn files(entries: Vec<File>) -> Config {
        Config {
            init: vec![init("base")],
            services: vec![object("web", "base", ImageConfig::default())],
            files: entries,
            ..Default::default()
        }
    }

    fn base() -> ImageMap<NoBlobs> {
        images(vec![image(
            "base",
            "
            //- /usr mode=0750 uid=3 dir
            //- /usr/share/doc mode=0700 dir
            //- /var/run symlink=/run
            ",
        )])
    }

    #[test]
    fn files_section_rules() {
        let config = files(vec![
            // New parents get the file's mode plus x, and its owner; existing ones are kept.
            File {
                path: "/usr/share/new/deep/file".into(),
                contents: Some("c".into()),
                mode: Some("0640".into()),
                uid: Some(Id::Name("web".into())),
                ..Default::default()
            },
            File { path: "opt/dir".into(), directory: Some(true), ..Default::default() },
            File { path: "opt/link".into(), symlink: Some("/target".into()), ..Default::default() },
            File {
                path: "opt/src".into(),
                source: Some("present.txt".into()),
                ..Default::default()
            },
            File {
                path: "opt/skipped".into(),
                source: Some("absent".into()),
                optional: Some(true),
                ..Default::default()
            },
            File { path: "opt/meta".into(), metadata: Some("json".into()), ..Default::default() },
            File { path: "opt/empty".into(), contents: Some(String::new()), ..Default::default() },
            // A directory entry over an existing directory sets its metadata, keeps its content.
            File {
                path: "usr/share".into(),
                directory: Some(true),
                mode: Some("0711".into()),
                gid: Some(Id::Number(7)),
                ..Default::default()
            },
            // A parent that is a symlink in the image becomes a directory, as extraction does.
            File { path: "var/run/pid".into(), contents: Some("1".into()), ..Default::default() },
        ]);
        let images = base();
        let assembled = run(&config, &images).unwrap();
        let mut text = String::new();
        for top in ["usr", "opt", "var"] {
            let node = assembled.root.get(top.as_bytes()).unwrap();
            text.push_str(&format!(
                "{top}: {:04o} {}:{}\n",
                node.meta.mode, node.meta.uid, node.meta.gid
            ));
            if let NodeKind::Dir(entries) = &node.kind {
                text.push_str(&dump_dir_with_origin(entries));
            }
        }
        expect![[r#"
            usr: 0750 3:0
            dir 0711 0:7 @1000 share  [files[7] | linuxkit.files]
            dir 0700 0:0 @0 share/doc  [init[0] | docker.io/library/base]
            dir 0750 100:0 @1000 share/new  [files[0] | linuxkit.files]
            dir 0750 100:0 @1000 share/new/deep  [files[0] | linuxkit.files]
            file 0640 100:0 @1000 share/new/deep/file size=1  [files[0] | linuxkit.files]
            opt: 0700 0:0
            dir 0700 0:0 @1000 dir  [files[1] | linuxkit.files]
            file 0600 0:0 @1000 empty size=0  [files[6] | linuxkit.files]
            symlink 0600 0:0 @1000 link -> /target  [files[2] | linuxkit.files]
            file 0600 0:0 @1000 meta size=17  [files[5] | linuxkit.files]
            file 0600 0:0 @1000 src size=10  [files[3] | linuxkit.files]
            var: 0755 0:0
            dir 0700 0:0 @1000 run  [files[8] | linuxkit.files]
            file 0600 0:0 @1000 run/pid size=1  [files[8] | linuxkit.files]
        "#]]
        .assert_eq(&text);
    }

    #[test]
    fn files_section_errors() {
        let images = base();
        let cases = [
            (File::default(), "error: files[0] (): did not specify path for file"),
            (
                File { path: "a".into(), ..Default::default() },
                "error: files[0] (a): contents of file not specified: expected contents, source, metadata, symlink or directory",
            ),
            (
                File {
                    path: "a".into(),
                    source: Some("x".into()),
                    metadata: Some("yaml".into()),
                    ..Default::default()
                },
                "error: files[0] (a): specified both source and metadata",
            ),
            (
                File {
                    path: "a".into(),
                    contents: Some("x".into()),
                    source: Some("x".into()),
                    ..Default::default()
                },
                "error: files[0] (a): specified both contents and source",
            ),
            (
                File {
                    path: "a".into(),
                    symlink: Some("/x".into()),
                    metadata: Some("yaml".into()),
                    ..Default::default()
                },
                "error: files[0] (a): specified both contents and metadata",
            ),
            (
                File {
                    path: "a".into(),
                    directory: Some(true),
                    contents: Some("x".into()),
                    ..Default::default()
                },
                "error: files[0] (a): specified both directory and contents",
            ),
            (
                File { path: "a".into(), source: Some("absent".into()), ..Default::default() },
                "error: files[0] (a): source \"absent\" does not exist (set `optional: true` to skip it)",
            ),
            (
                File {
                    path: "a".into(),
                    source: Some("unreadable".into()),
                    optional: Some(true),
                    ..Default::default()
                },
                "error: files[0] (a): cannot read source \"unreadable\": denied",
            ),
            (
                File {
                    path: "a".into(),
                    contents: Some("x".into()),
                    mode: Some("644a".into()),
                    ..Default::default()
                },
                "error: files[0] (a): cannot parse file mode \"644a\": expected an octal string such as \"0644\"",
            ),
            (
                File {
                    path: "a".into(),
                    contents: Some("x".into()),
                    gid: Some(Id::Name("db".into())),
                    ..Default::default()
                },
                "error: files[0] (a): cannot find id \"db\": expected a number, `root` or a container name",
            ),
        ];
        for (entry, message) in cases {
            let result = run(&files(vec![entry]), &images);
            let text = match result {
                Ok(_) => "ok".to_string(),
                Err(error) => format!("error: {}", error_chain(&error)),
            };
            assert_eq!(text, message);
        }
    }
}

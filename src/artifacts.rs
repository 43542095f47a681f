//! The write stage: the assembled root, kernel and command line to output files.
//!
//! The requested formats are turned into a plan of files (one per path; a product such as
//! `NAME-kernel` that several formats share is written once), and each file is written by one
//! step for its [`Product`].
//! Intermediate artifacts that more than one product uses (the initrd today; the UKI, the ESP
//! and the raw disk later) are built once per build into unlinked temporary files in the output
//! directory and reach the writers as ordinary [`Content::Blob`]s through [`Artifacts`], a
//! [`ContentSource`] that adds them to the build's own.
//! Every file goes to a temporary file that is renamed into place when complete; the report
//! records each file's path, size and SHA-256.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use formats::tree::{BlobRange, Content, ContentSource, Meta, Node, NodeKind, Tree};
use sha2::{Digest as _, Sha256};

use crate::linuxkit::Assembled;
use crate::output::{AtomicFile, Format, Product};

/// Where outputs are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Into this directory, with LinuxKit's file names.
    Directory(PathBuf),
    /// The single streamable output to this file (`-o FILE`).
    File(PathBuf),
    /// The single streamable output to standard output (`-o -`).
    Stdout,
}

/// Choices that change the bytes of some outputs. No `Default`: the caller decides.
#[derive(Debug, Clone)]
pub struct OutputOptions {
    /// Time of generated entries and of image headers (seconds since the Unix epoch).
    pub epoch: i64,
    /// How the initrd's root archive is compressed.
    pub initrd_compression: formats::initrd::InitrdCompression,
    /// `--size`: the largest a filesystem or disk image may be.
    pub size_limit: Option<DiskSize>,
    /// How `kernel+erofs` stores file data.
    pub erofs_compression: formats::erofs::Compression,
    /// `kernel+squashfs`'s compressor.
    pub squashfs_compression: formats::squashfs::Compression,
    /// `kernel+squashfs`'s block size.
    pub squashfs_block_size: formats::squashfs::BlockSize,
    /// How many threads may compress at once (the output does not depend on it).
    pub threads: usize,
    /// `--seed`: what disk, partition and volume identifiers are derived from, instead of the
    /// content.
    pub seed: Option<Vec<u8>>,
    /// Where compressed initrd segments are kept for later builds (`None`: not kept).
    pub segment_cache: Option<PathBuf>,
    /// `--secure-boot-key`/`--secure-boot-cert`: signs the UKI and systemd-boot for UEFI
    /// Secure Boot (Authenticode).
    pub signer: Option<Arc<crate::secureboot::Signer>>,
}

/// A size as LinuxKit's `--size` spells it: a number of GiB, or with an `M` (MiB) or `G` (GiB)
/// suffix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskSize {
    /// The size in bytes.
    pub bytes: u64,
    /// As given.
    pub text: String,
}

impl std::str::FromStr for DiskSize {
    type Err = String;

    fn from_str(text: &str) -> Result<DiskSize, String> {
        let (digits, unit) = match text.strip_suffix('M') {
            Some(digits) => (digits, 1u64 << 20),
            None => (text.strip_suffix('G').unwrap_or(text), 1u64 << 30),
        };
        let bad = || format!("{text:?} is not a size: expected a number of GiB, or NM or NG");
        let number: u64 = digits.parse().map_err(|_| bad())?;
        let bytes = number.checked_mul(unit).filter(|b| *b > 0).ok_or_else(bad)?;
        Ok(DiskSize { bytes, text: text.to_owned() })
    }
}

/// One file a build wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputReport {
    /// Its path (`-` for standard output).
    pub path: PathBuf,
    /// What it holds.
    pub product: Product,
    /// The formats that asked for it.
    pub formats: Vec<Format>,
    /// Its size in bytes.
    pub size: u64,
    /// The SHA-256 of its bytes, lowercase hex.
    pub sha256: String,
}

/// Why an output could not be written.
#[derive(Debug, thiserror::Error)]
#[error("writing {}", path.display())]
pub struct WriteError {
    /// The output file (`-` for standard output).
    pub path: PathBuf,
    /// What went wrong.
    pub source: io::Error,
}

/// One file of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// Where it goes.
    pub path: PathBuf,
    /// What it holds.
    pub product: Product,
    /// The formats that asked for it.
    pub formats: Vec<Format>,
}

/// The files `formats` write for base name `name` into `destination`, each path once, in the
/// order the formats and their files are listed.
pub fn plan(formats: &[Format], name: &str, destination: &Destination) -> Vec<PlannedFile> {
    let mut planned: Vec<PlannedFile> = Vec::new();
    for format in formats {
        for file in format.spec().files {
            let path = match destination {
                Destination::Directory(dir) => dir.join(format!("{name}{}", file.suffix)),
                Destination::File(path) => path.clone(),
                Destination::Stdout => PathBuf::from("-"),
            };
            match planned.iter_mut().find(|p| p.path == path) {
                Some(existing) => existing.formats.push(*format),
                None => planned.push(PlannedFile {
                    path,
                    product: file.product,
                    formats: vec![*format],
                }),
            }
        }
    }
    planned
}

/// Writes every planned file; returns what was written, in plan order.
pub fn write(
    assembled: &Assembled,
    source: &dyn ContentSource,
    options: &OutputOptions,
    files: &[PlannedFile],
    scratch_dir: Option<&Path>,
    boot: Option<&BootFiles>,
    on_step: &dyn Fn(&Path, bool),
) -> Result<WriteReport, WriteError> {
    let artifacts = Artifacts::new(source, scratch_dir);
    let steps = Steps { assembled, artifacts: &artifacts, options, boot };
    let mut reports = Vec::new();
    // Every file is written and checked before any is renamed into place: a build that fails
    // on its last output leaves none of them behind.
    let mut pending = Vec::new();
    for file in files {
        on_step(&file.path, false);
        let fail = |source| WriteError { path: file.path.clone(), source };
        let (size, sha256) = if file.path.as_os_str() == "-" {
            let stdout = io::stdout();
            let mut out = HashingWriter::new(io::BufWriter::new(stdout.lock()));
            steps.stream(file.product, &mut out).map_err(fail)?;
            out.finish().map_err(fail)?
        } else {
            let mut out = AtomicFile::create(&file.path).map_err(fail)?;
            steps.write(file.product, &mut out).map_err(fail)?;
            let (size, sha256) = hash_file(out.sync().map_err(fail)?).map_err(fail)?;
            check_size(file, size, options).map_err(fail)?;
            pending.push(out);
            (size, sha256)
        };
        reports.push(OutputReport {
            path: file.path.clone(),
            product: file.product,
            formats: file.formats.clone(),
            size,
            sha256,
        });
        on_step(&file.path, true);
    }
    for out in pending {
        let path = out.path().to_path_buf();
        out.commit().map_err(|source| WriteError { path, source })?;
    }
    Ok(WriteReport { outputs: reports, segments: artifacts.segment_reports() })
}

/// What [`write`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteReport {
    /// The files written, in plan order.
    pub outputs: Vec<OutputReport>,
    /// The initrd's segments, when an output needed the initrd.
    pub segments: Vec<SegmentReport>,
}

/// Checks a filesystem or disk image against `--size`.
fn check_size(file: &PlannedFile, size: u64, options: &OutputOptions) -> io::Result<()> {
    let is_image = matches!(
        file.product,
        Product::Squashfs | Product::Erofs | Product::Iso | Product::IsoEfi | Product::IsoEfiInitrd
    );
    match &options.size_limit {
        Some(limit) if is_image && size > limit.bytes => Err(io::Error::other(format!(
            "the image is {size} bytes, larger than --size {} ({} bytes)",
            limit.text, limit.bytes
        ))),
        _ => Ok(()),
    }
}

/// A writer that can seek (every output file but standard output).
pub trait WriteSeek: Write + Seek {}

impl<T: Write + Seek> WriteSeek for T {}

/// The step of each product.
struct Steps<'a> {
    assembled: &'a Assembled,
    artifacts: &'a Artifacts<'a>,
    options: &'a OutputOptions,
    boot: Option<&'a BootFiles>,
}

impl Steps<'_> {
    /// Writes a product that needs no seeking (the streamable ones).
    fn stream(&self, product: Product, out: &mut dyn Write) -> io::Result<()> {
        match product {
            Product::RootTar => write_tar(&self.assembled.root, self.artifacts, out),
            other => Err(io::Error::other(format!("{other:?} cannot be streamed"))),
        }
    }

    fn write(&self, product: Product, out: &mut dyn WriteSeek) -> io::Result<()> {
        let source: &dyn ContentSource = self.artifacts;
        match product {
            Product::RootTar => write_tar(&self.assembled.root, source, out),
            Product::Kernel => copy_content(self.kernel()?, source, b"boot/kernel", out),
            Product::Cmdline => out.write_all(self.assembled.cmdline.as_bytes()),
            Product::Initrd => {
                let initrd = self.artifacts.initrd(self.assembled, self.options)?;
                copy_content(&initrd, source, b"initrd", out)
            }
            Product::InitrdTar => self.write_initrd_tar(out),
            Product::Erofs => {
                let options = formats::erofs::ErofsOptions {
                    epoch: self.options.epoch,
                    uuid: None,
                    volume_name: Vec::new(),
                    compression: self.options.erofs_compression,
                };
                let root = image_root(&self.assembled.root);
                formats::erofs::write(&root, source, &options, &mut { out })
                    .map_err(io::Error::other)
            }
            Product::Squashfs => {
                let options = formats::squashfs::SquashfsOptions {
                    compression: self.options.squashfs_compression,
                    block_size: self.options.squashfs_block_size,
                    threads: self.options.threads,
                    ..formats::squashfs::SquashfsOptions::mksquashfs_defaults(self.options.epoch)
                };
                let root = image_root(&self.assembled.root);
                formats::squashfs::write(&root, source, &options, &mut { out })
                    .map_err(io::Error::other)
            }
            Product::Uki => {
                let uki = self.uki()?;
                copy_content(&uki, source, b"uki", out)
            }
            Product::RawEfi => self.write_raw_efi(out),
            Product::IsoEfiInitrd => self.write_efi_iso(false, out),
            Product::IsoEfi => self.write_efi_iso(true, out),
            Product::Qcow2Efi => {
                let disk = self.raw_efi_disk()?;
                let options = formats::qcow2::Qcow2Options::default();
                formats::qcow2::write(&disk, self.artifacts, &options, out)
                    .map(|_| ())
                    .map_err(io::Error::other)
            }
            Product::Vhdx => {
                let disk = self.raw_efi_disk()?;
                let seed = match &self.options.seed {
                    Some(seed) => seed.clone(),
                    None => self.artifacts.digest_of("uki")?,
                };
                let options = formats::vhdx::VhdxOptions {
                    block_size: formats::vhdx::BlockSize::Mib1,
                    logical_sector_size: formats::gpt::SectorSize::Bytes512,
                    physical_sector_size: formats::gpt::SectorSize::Bytes4096,
                    leave_block_allocated: false,
                    seed,
                };
                formats::vhdx::write(&disk, self.artifacts, &options, out)
                    .map(|_| ())
                    .map_err(io::Error::other)
            }
            Product::Iso => {
                // What LinuxKit's mkimage-iso runs: genisoimage -l -J -R -joliet-long -V LinuxKit.
                let options = formats::iso9660::IsoOptions {
                    volume_id: "LinuxKit".to_owned(),
                    epoch: self.options.epoch,
                    primary_names: formats::iso9660::PrimaryNames::Long31,
                    joliet: Some(formats::iso9660::JolietNames::Long103),
                    relocate_deep_directories: true,
                    boot: None,
                };
                let root = image_root(&self.assembled.root);
                formats::iso9660::write(&root, source, &options, &mut { out })
                    .map_err(io::Error::other)
            }
        }
    }

    fn boot(&self) -> io::Result<&BootFiles> {
        self.boot.ok_or_else(|| io::Error::other("no --boot-image was resolved"))
    }

    /// The UKI, built once: the boot image's EFI stub with `.osrel`, `.cmdline`, `.uname`,
    /// `.initrd` and `.linux`, as LinuxKit's `ukify build` call makes it (os-release
    /// `NAME="LinuxKit"`, the command line with ` text` appended).
    fn uki(&self) -> io::Result<Content> {
        let initrd = self.artifacts.initrd(self.assembled, self.options)?;
        let cmdline = self.assembled.cmdline.trim_end().to_owned();
        self.uki_with("uki", Some(initrd), &cmdline)
    }

    /// A UKI named `name` (built once) with `initrd` and `cmdline` plus LinuxKit's ` text`.
    fn uki_with(&self, name: &str, initrd: Option<Content>, cmdline: &str) -> io::Result<Content> {
        let Some(signer) = &self.options.signer else {
            return self.unsigned_uki(name, initrd, cmdline);
        };
        let unsigned = self.unsigned_uki(&format!("{name}-unsigned"), initrd, cmdline)?;
        self.signed(name, &unsigned, signer)
    }

    /// `content` (a PE image) signed for Secure Boot, as the artifact `name`.
    fn signed(
        &self,
        name: &str,
        content: &Content,
        signer: &crate::secureboot::Signer,
    ) -> io::Result<Content> {
        self.artifacts.artifact(name, |out| {
            let image = read_head(content, self.artifacts, u64::MAX)?;
            let signed = crate::secureboot::sign_pe(&image, signer)
                .map_err(|e| io::Error::other(format!("signing {name}: {e}")))?;
            out.write_all(&signed)
        })
    }

    /// systemd-boot from the boot image, signed when Secure Boot signing was asked for.
    fn systemd_boot(&self) -> io::Result<Content> {
        let boot = self.boot()?;
        match &self.options.signer {
            Some(signer) => self.signed("systemd-boot-signed", &boot.systemd_boot, signer),
            None => Ok(boot.systemd_boot.clone()),
        }
    }

    fn unsigned_uki(
        &self,
        name: &str,
        initrd: Option<Content>,
        cmdline: &str,
    ) -> io::Result<Content> {
        let boot = self.boot()?;
        let kernel = self.kernel()?.clone();
        self.artifacts.artifact(name, |out| {
            let head = read_head(&kernel, self.artifacts, 0x8006)?;
            check_kernel_arch(&head, boot.arch)?;
            let uname = crate::inspect::kernel_release(&head).unwrap_or_default();
            let cmdline = format!("{cmdline} text");
            let inline = |bytes: &[u8]| Content::Inline(Arc::from(bytes));
            let sections = formats::uki::UkiSections {
                osrel: inline(b"NAME=\"LinuxKit\""),
                cmdline: inline(cmdline.as_bytes()),
                uname: inline(uname.as_bytes()),
                initrd: initrd.unwrap_or_else(|| inline(b"")),
                linux: kernel,
                dtb: None,
                splash: None,
            };
            let options = formats::uki::UkiOptions { arch: boot.arch };
            // The stub is small (about 100 KiB); the UKI is planned around it in memory.
            let stub = read_head(&boot.stub, self.artifacts, 64 << 20)?;
            formats::uki::build(&stub, &sections, &options, self.artifacts, &mut { out })
                .map(|_| ())
                .map_err(io::Error::other)
        })
    }

    /// LinuxKit's `raw-efi` layout: systemd-boot as `EFI/BOOT/BOOT*.EFI`, the UKI as
    /// `EFI/Linux/linuxkit.efi`, `loader/loader.conf` with `timeout 0`, on a FAT32 EFI System
    /// Partition ("EFI System", legacy-BIOS-bootable attribute) at 1 MiB of a GPT disk. Every
    /// identifier is derived from the UKI's bytes (or `--seed`); `--size` sets the disk size.
    fn write_raw_efi(&self, out: &mut dyn WriteSeek) -> io::Result<()> {
        let disk = self.raw_efi_disk()?;
        disk.write_to(self.artifacts, out).map_err(io::Error::other)
    }

    /// The `raw-efi` disk as extents (zero runs, tables, the ESP's files), for the raw image
    /// and the VM disk containers made from it.
    fn raw_efi_disk(&self) -> io::Result<formats::extent::ExtentMap> {
        use formats::{fat, gpt};
        let boot = self.boot()?;
        let uki = self.uki()?;
        let seed = match &self.options.seed {
            Some(seed) => seed.clone(),
            None => self.artifacts.digest_of("uki")?,
        };
        let epoch = self.options.epoch;
        let esp = esp_tree(boot, self.systemd_boot()?, uki, epoch);

        let disk_guid = gpt::Guid::derive(&seed, "raw-efi disk");
        let esp_guid = gpt::Guid::derive(&seed, "raw-efi ESP");
        let mut fat_options = fat::FatOptions {
            size_bytes: None,
            fat_type: Some(fat::FatType::Fat32),
            cluster_size_bytes: None,
            volume_id: fat::VolumeId::FromSeed(seed.clone()),
            volume_label: fat::VolumeLabel::NO_NAME,
            hidden_sectors: 2048,
            epoch,
            oem_name: *b"kit     ",
        };
        let gpt_options = |disk_size| gpt::GptOptions {
            sector_size: gpt::SectorSize::Bytes512,
            disk_size,
            disk_guid,
            mbr: gpt::MbrOptions::protective(),
        };
        let esp_spec = |size| gpt::PartitionSpec {
            name: "EFI System".to_owned(),
            type_guid: gpt::Guid::EFI_SYSTEM,
            partition_guid: esp_guid,
            size,
            attributes: gpt::entry::ATTR_LEGACY_BIOS_BOOTABLE,
        };
        let fail = |e: &dyn std::fmt::Display| io::Error::other(e.to_string());
        let layout = match &self.options.size_limit {
            Some(size) => {
                // The disk is --size; the ESP fills it.
                let layout = gpt::plan(
                    &gpt_options(gpt::DiskSize::Bytes(size.bytes)),
                    &[esp_spec(gpt::PartitionSize::Fill)],
                )
                .map_err(|e| fail(&e))?;
                let slot = layout.partitions[0].size_bytes(&layout);
                let needed = fat::required_size(&esp, &fat_options).map_err(|e| fail(&e))?;
                if needed > slot {
                    return Err(io::Error::other(format!(
                        "the EFI System Partition needs {needed} bytes, the disk of --size {} \
                         ({} bytes) leaves {slot} for it",
                        size.text, size.bytes
                    )));
                }
                fat_options.size_bytes = Some(slot);
                layout
            }
            None => {
                let needed = fat::required_size(&esp, &fat_options).map_err(|e| fail(&e))?;
                fat_options.size_bytes = Some(needed.next_multiple_of(1 << 20));
                gpt::plan(
                    &gpt_options(gpt::DiskSize::Minimum),
                    &[esp_spec(gpt::PartitionSize::Bytes(needed.next_multiple_of(1 << 20)))],
                )
                .map_err(|e| fail(&e))?
            }
        };
        let esp_map = fat::extents(&esp, &fat_options).map_err(|e| fail(&e))?;
        gpt::write(&layout, &[esp_map]).map_err(|e| fail(&e))
    }

    /// The FAT image of an EFI ISO's El Torito entry: systemd-boot and `uki` laid out as on
    /// `raw-efi`'s ESP, as small as it can be (the firmware reads FAT12/16/32 alike).
    fn esp_image(&self, name: &str, uki: Content, seed: &[u8]) -> io::Result<Content> {
        let boot = self.boot()?;
        let epoch = self.options.epoch;
        let esp = esp_tree(boot, self.systemd_boot()?, uki, epoch);
        self.artifacts.artifact(name, |out| {
            let options = formats::fat::FatOptions {
                size_bytes: None,
                fat_type: None,
                cluster_size_bytes: None,
                volume_id: formats::fat::VolumeId::FromSeed(seed.to_vec()),
                volume_label: formats::fat::VolumeLabel::NO_NAME,
                hidden_sectors: 0,
                epoch,
                oem_name: *b"kit     ",
            };
            let map = formats::fat::extents(&esp, &options).map_err(io::Error::other)?;
            map.write_to(self.artifacts, out).map_err(io::Error::other)
        })
    }

    /// `iso-efi-initrd` and `iso-efi`: an ISO 9660 image (Rock Ridge, Joliet) whose El Torito
    /// EFI entry is a FAT image with systemd-boot and a UKI, with a GPT in its system area so
    /// the same file boots from a USB stick. `iso-efi-initrd` holds LinuxKit's `/kernel`,
    /// `/initrd.img` and `/cmdline` beside it and boots the initrd; `iso-efi` holds the whole
    /// root and boots a UKI without initrd whose command line names the ISO as the root
    /// (`root=/dev/sr0` on amd64, `/dev/vda` on arm64, as LinuxKit).
    fn write_efi_iso(&self, whole_root: bool, out: &mut dyn WriteSeek) -> io::Result<()> {
        let boot = self.boot()?;
        let epoch = self.options.epoch;
        let (mut tree, uki) = if whole_root {
            let root_device = match boot.arch {
                formats::uki::Arch::X86_64 => "/dev/sr0",
                formats::uki::Arch::Aarch64 => "/dev/vda",
            };
            let mut cmdline = self.assembled.cmdline.trim_end().to_owned();
            if !cmdline.split_whitespace().any(|word| word.starts_with("root=")) {
                cmdline.push_str(&format!(" root={root_device}"));
            }
            (self.assembled.root.clone(), self.uki_with("uki-iso", None, &cmdline)?)
        } else {
            let mut tree = Tree::new(epoch);
            let file =
                |content: Content| Node::new(NodeKind::File(content), Meta::new(0o644, epoch));
            let initrd = self.artifacts.initrd(self.assembled, self.options)?;
            tree.root.insert(b"kernel".to_vec(), file(self.kernel()?.clone()));
            tree.root.insert(b"initrd.img".to_vec(), file(initrd));
            let cmdline = Content::Inline(self.assembled.cmdline.as_bytes().into());
            tree.root.insert(b"cmdline".to_vec(), file(cmdline));
            (tree, self.uki()?)
        };
        let uki_name = if whole_root { "uki-iso" } else { "uki" };
        let seed = match &self.options.seed {
            Some(seed) => seed.clone(),
            None => self.artifacts.digest_of(uki_name)?,
        };
        let esp = self.esp_image(&format!("esp-{uki_name}"), uki, &seed)?;
        let boot_dir = tree.root.entry(b"boot".to_vec()).or_insert_with(|| {
            Node::new(NodeKind::Dir(Default::default()), Meta::new(0o755, epoch))
        });
        match &mut boot_dir.kind {
            NodeKind::Dir(entries) => {
                let file = Node::new(NodeKind::File(esp), Meta::new(0o644, epoch));
                entries.insert(b"efiboot.img".to_vec(), file);
            }
            _ => return Err(io::Error::other("the root's /boot is not a directory")),
        }
        let options = formats::iso9660::IsoOptions {
            volume_id: "LinuxKit".to_owned(),
            epoch,
            primary_names: formats::iso9660::PrimaryNames::Long31,
            joliet: Some(formats::iso9660::JolietNames::Long103),
            relocate_deep_directories: true,
            boot: Some(formats::iso9660::ElTorito {
                bios: None,
                efi_image: Some(b"boot/efiboot.img".to_vec()),
                hybrid: formats::iso9660::Hybrid::Gpt,
                seed,
            }),
        };
        formats::iso9660::write(&tree, self.artifacts, &options, &mut { out })
            .map_err(io::Error::other)
    }

    fn kernel(&self) -> io::Result<&Content> {
        self.assembled
            .kernel
            .as_ref()
            .ok_or_else(|| io::Error::other("the kernel image did not provide a kernel"))
    }

    /// LinuxKit's `tar-kernel-initrd`: a tar of `kernel`, `initrd.img`, `cmdline` and, when
    /// there is microcode, `ucode.cpio`.
    fn write_initrd_tar(&self, out: &mut dyn Write) -> io::Result<()> {
        let epoch = self.options.epoch;
        let initrd = self.artifacts.initrd(self.assembled, self.options)?;
        let mut tree = Tree::new(epoch);
        let file = |content: Content| Node::new(NodeKind::File(content), Meta::new(0o644, epoch));
        tree.root.insert(b"kernel".to_vec(), file(self.kernel()?.clone()));
        tree.root.insert(b"initrd.img".to_vec(), file(initrd));
        let cmdline = Content::Inline(self.assembled.cmdline.as_bytes().into());
        tree.root.insert(b"cmdline".to_vec(), file(cmdline));
        if let Some(ucode) = &self.assembled.ucode {
            tree.root.insert(b"ucode.cpio".to_vec(), file(ucode.clone()));
        }
        let options = formats::tar::TarOptions { pax_origin: false };
        formats::tar::write(&tree, self.artifacts, &options, out).map_err(io::Error::other)
    }
}

fn write_tar(root: &Tree, source: &dyn ContentSource, out: &mut dyn Write) -> io::Result<()> {
    let options = formats::tar::TarOptions { pax_origin: true };
    formats::tar::write(root, source, &options, out).map_err(io::Error::other)
}

fn copy_content(
    content: &Content,
    source: &dyn ContentSource,
    path: &[u8],
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut map = formats::extent::ExtentMap::new();
    map.push_content(path, content.clone());
    map.write_to(source, out).map_err(io::Error::other)
}

/// The root without the files LinuxKit diverts from the initrd: `boot/kernel`, `boot/cmdline`
/// and `boot/ucode.cpio` (they are separate outputs). The rest of `boot/` (device trees from
/// the kernel's modules tar) stays, as in LinuxKit.
pub fn initrd_root(root: &Tree) -> Tree {
    let mut root = root.clone();
    let mut remove_boot = false;
    if let Some(Node { kind: NodeKind::Dir(boot), .. }) = root.root.get_mut(b"boot".as_slice()) {
        for name in [b"kernel".as_slice(), b"cmdline", b"ucode.cpio"] {
            boot.remove(name);
        }
        remove_boot = boot.is_empty();
    }
    if remove_boot {
        root.root.remove(b"boot".as_slice());
    }
    root
}

/// The root of the filesystem-image formats (`kernel+squashfs`, `kernel+erofs`, `kernel+iso`):
/// everything but `boot/`, which LinuxKit leaves out of them entirely.
pub fn image_root(root: &Tree) -> Tree {
    let mut root = root.clone();
    root.root.remove(b"boot".as_slice());
    root
}

/// The boot binaries of `--boot-image` for one architecture.
#[derive(Debug, Clone)]
pub struct BootFiles {
    /// The architecture they are for.
    pub arch: formats::uki::Arch,
    /// The systemd EFI stub (`linuxx64.efi.stub`).
    pub stub: Content,
    /// systemd-boot (`systemd-bootx64.efi`).
    pub systemd_boot: Content,
    /// Its name on the ESP: `BOOTX64.EFI` or `BOOTAA64.EFI`.
    pub loader_name: &'static str,
}

/// Where systemd-boot-efi puts the boot binaries; a boot image keeps Debian's layout.
pub const EFI_DIR: &str = "usr/lib/systemd/boot/efi";

impl BootFiles {
    /// Finds the binaries for `arch` (`amd64`, `arm64`) in the boot image's tree; the error
    /// names the image and what is missing.
    pub fn find(tree: &Tree, image: &str, arch: &str) -> Result<BootFiles, String> {
        let (uki_arch, suffix, loader_name) = match arch {
            "amd64" => (formats::uki::Arch::X86_64, "x64", "BOOTX64.EFI"),
            "arm64" => (formats::uki::Arch::Aarch64, "aa64", "BOOTAA64.EFI"),
            other => return Err(format!("kit has no UEFI boot support for {other}")),
        };
        let content = |name: &str| -> Result<Content, String> {
            let path = format!("{EFI_DIR}/{name}");
            let mut node = tree.get(path.as_bytes());
            if let Some(Node { kind: NodeKind::HardLink(target), .. }) = node {
                node = tree.get(target);
            }
            match node {
                Some(Node { kind: NodeKind::File(content), .. }) => Ok(content.clone()),
                _ => Err(format!("the boot image {image} has no /{path}, needed for {arch}")),
            }
        };
        let stub = content(&format!("linux{suffix}.efi.stub"))?;
        let systemd_boot = content(&format!("systemd-boot{suffix}.efi"))?;
        Ok(BootFiles { arch: uki_arch, stub, systemd_boot, loader_name })
    }
}

/// LinuxKit 1.8's ESP layout: systemd-boot as `EFI/BOOT/BOOT*.EFI`, the UKI as
/// `EFI/Linux/linuxkit.efi`, `loader/loader.conf` with `timeout 0`.
fn esp_tree(boot: &BootFiles, systemd_boot: Content, uki: Content, epoch: i64) -> Tree {
    let mut esp = Tree::new(epoch);
    let file = |content: Content| Node::new(NodeKind::File(content), Meta::new(0o644, epoch));
    let dir =
        |entries: formats::tree::Dir| Node::new(NodeKind::Dir(entries), Meta::new(0o755, epoch));
    let mut efi_boot = formats::tree::Dir::new();
    efi_boot.insert(boot.loader_name.as_bytes().to_vec(), file(systemd_boot));
    let mut efi_linux = formats::tree::Dir::new();
    efi_linux.insert(b"linuxkit.efi".to_vec(), file(uki));
    let mut efi = formats::tree::Dir::new();
    efi.insert(b"BOOT".to_vec(), dir(efi_boot));
    efi.insert(b"Linux".to_vec(), dir(efi_linux));
    let mut loader = formats::tree::Dir::new();
    loader.insert(b"loader.conf".to_vec(), file(Content::Inline(Arc::from(&b"timeout 0\n"[..]))));
    esp.root.insert(b"EFI".to_vec(), dir(efi));
    esp.root.insert(b"loader".to_vec(), dir(loader));
    esp
}

/// The first `len` bytes of a content (fewer if it is shorter).
fn read_head(content: &Content, source: &dyn ContentSource, len: u64) -> io::Result<Vec<u8>> {
    let mut head = Vec::new();
    content.open(source)?.take(len).read_to_end(&mut head)?;
    Ok(head)
}

/// Refuses a kernel image built for another architecture than the boot binaries.
fn check_kernel_arch(head: &[u8], arch: formats::uki::Arch) -> io::Result<()> {
    let x86 = head.get(0x202..0x206) == Some(b"HdrS");
    let arm64 = head.get(0x38..0x3c) == Some(b"ARM\x64");
    let (ok, wanted) = match arch {
        formats::uki::Arch::X86_64 => (x86, "an x86 bzImage"),
        formats::uki::Arch::Aarch64 => (arm64, "an arm64 Image"),
    };
    if ok {
        return Ok(());
    }
    let found = if x86 {
        "an x86 bzImage"
    } else if arm64 {
        "an arm64 Image"
    } else {
        "no Linux kernel image header"
    };
    Err(io::Error::other(format!("the kernel is {found}, expected {wanted} for the EFI stub")))
}

/// A cached initrd segment file: the segment's SHA-256 (32 bytes) and length (8 bytes, little
/// endian), then its bytes.
const SEGMENT_HEADER_BYTES: u64 = 40;

/// The length of the cached segment at `path` when the file is whole (its bytes hash to the
/// recorded SHA-256); a damaged file is deleted. `None` when there is no usable entry.
fn cached_segment(path: &Path) -> io::Result<Option<u64>> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut header = [0u8; 40];
    let whole = file.read_exact(&mut header).is_ok() && {
        let mut len_bytes = [0u8; 8];
        len_bytes.copy_from_slice(&header[32..40]);
        let len = u64::from_le_bytes(len_bytes);
        let mut hasher = HashingWriter::new(io::sink());
        let copied = io::copy(&mut (&mut file).take(len.saturating_add(1)), &mut hasher)?;
        let (_, digest) = hasher.finish()?;
        copied == len && digest == hex::encode(&header[..32])
    };
    if whole {
        let mut len_bytes = [0u8; 8];
        len_bytes.copy_from_slice(&header[32..40]);
        Ok(Some(u64::from_le_bytes(len_bytes)))
    } else {
        // A cut or changed file (a crash, a disk error) is never used; it is made again.
        let _ = std::fs::remove_file(path);
        Ok(None)
    }
}

/// Copies the `len` bytes of the cached segment at `path` to `out`.
fn copy_segment_body(path: &Path, len: u64, out: &mut dyn Write) -> io::Result<u64> {
    let mut file = File::open(path)?;
    file.seek(io::SeekFrom::Start(SEGMENT_HEADER_BYTES))?;
    let copied = io::copy(&mut file.take(len), out)?;
    if copied != len {
        return Err(io::Error::other(format!("{} shrank while it was read", path.display())));
    }
    Ok(copied)
}

/// Compresses a segment into the cache at `path` (header, then bytes; synced, then renamed
/// into place, so the key only ever names a whole file); returns its length, or `None` when
/// the cache directory cannot be written.
fn store_segment(
    path: &Path,
    write_segment: &dyn Fn(&mut dyn Write) -> io::Result<()>,
) -> io::Result<Option<u64>> {
    let Some(dir) = path.parent() else { return Ok(None) };
    if std::fs::create_dir_all(dir).is_err() {
        return Ok(None);
    }
    let Ok(mut temp) = tempfile::NamedTempFile::new_in(dir) else { return Ok(None) };
    temp.as_file_mut().write_all(&[0u8; 40])?;
    let (len, digest) = {
        let mut writer = HashingWriter::new(io::BufWriter::new(temp.as_file_mut()));
        write_segment(&mut writer)?;
        writer.finish()?
    };
    let mut header = Vec::with_capacity(40);
    header.extend_from_slice(&hex::decode(&digest).map_err(io::Error::other)?);
    header.extend_from_slice(&len.to_le_bytes());
    temp.as_file_mut().seek(io::SeekFrom::Start(0))?;
    temp.as_file_mut().write_all(&header)?;
    temp.as_file().sync_all()?;
    match temp.persist(path) {
        Ok(_) => Ok(Some(len)),
        Err(_) => Ok(None),
    }
}

/// The object name prefix of intermediate artifacts in [`Artifacts`].
const ARTIFACT_PREFIX: &str = "kit-artifact:";

/// The build's content source plus the intermediate artifacts built so far, each once.
pub struct Artifacts<'a> {
    base: &'a dyn ContentSource,
    scratch_dir: Option<&'a Path>,
    initrd: OnceLock<Result<Arc<File>, String>>,
    files: std::sync::Mutex<BTreeMap<String, Arc<File>>>,
    segments: std::sync::Mutex<Vec<SegmentReport>>,
}

/// One segment of the initrd: which part of the root it holds and whether it came from the
/// segment cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentReport {
    /// The part: the input's place in the configuration (`init[0]`, `onboot[1]`, `files`, …).
    pub part: String,
    /// The segment cache key (SHA-256 of the part's fingerprint and the options).
    pub key: String,
    /// True when the compressed segment was taken from the cache.
    pub reused: bool,
    /// Its size in bytes.
    pub size: u64,
}

impl<'a> Artifacts<'a> {
    /// Intermediates go to unlinked temporary files in `scratch_dir` (the output directory).
    pub fn new(base: &'a dyn ContentSource, scratch_dir: Option<&'a Path>) -> Artifacts<'a> {
        Artifacts {
            base,
            scratch_dir,
            initrd: OnceLock::new(),
            files: std::sync::Mutex::new(BTreeMap::new()),
            segments: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The initrd: the microcode cpio (if any), then the gzip'd newc archive of
    /// [`initrd_root`]. Built on first use.
    pub fn initrd(&self, assembled: &Assembled, options: &OutputOptions) -> io::Result<Content> {
        let built = self.initrd.get_or_init(|| {
            self.build_artifact("initrd", |out| {
                if let Some(ucode) = &assembled.ucode {
                    copy_content(ucode, self, b"boot/ucode.cpio", out)?;
                }
                let root = initrd_root(&assembled.root);
                for part in formats::initrd::split(&root) {
                    self.initrd_segment(&part, options, out)?;
                }
                Ok(())
            })
            .map_err(|e| e.to_string())
        });
        match built {
            Ok(file) => self.content_of("initrd", file),
            Err(message) => Err(io::Error::other(message.clone())),
        }
    }

    /// Appends one part of the initrd as a segment of its own: from the segment cache when a
    /// segment with the same fingerprint and options was compressed before, else compressed
    /// now (and stored there). Either way the bytes are the same.
    fn initrd_segment(
        &self,
        part: &formats::initrd::Part,
        options: &OutputOptions,
        out: &mut dyn WriteSeek,
    ) -> io::Result<()> {
        let cpio = formats::cpio::CpioOptions { root_entry: false };
        let compression = options.initrd_compression;
        let mut hasher = Sha256::new();
        // kit's version is in the key: another kit may compress the same part differently.
        hasher.update(concat!("kit initrd segment v1 ", env!("CARGO_PKG_VERSION"), "\n"));
        hasher.update(formats::initrd::fingerprint(&part.tree));
        hasher.update(format!("{compression:?} {cpio:?}").as_bytes());
        let key = hex::encode(hasher.finalize());
        let cached = options.segment_cache.as_ref().map(|dir| dir.join(&key));
        let write_segment = |out: &mut dyn Write| -> io::Result<()> {
            formats::initrd::write(&part.tree, self, &cpio, compression, options.threads, out)
                .map_err(io::Error::other)
        };
        // A cached segment is used only if its recorded length and SHA-256 hold; a damaged one
        // is deleted and compressed again.
        let reused_size = match &cached {
            Some(path) => match cached_segment(path)? {
                Some(body) => Some(copy_segment_body(path, body, out)?),
                None => None,
            },
            None => None,
        };
        let reused = reused_size.is_some();
        let size = match (reused_size, &cached) {
            (Some(size), _) => size,
            (None, Some(path)) => match store_segment(path, &write_segment) {
                // Stored: the body is copied from the cache file just written.
                Ok(Some(body)) => copy_segment_body(path, body, out)?,
                // The cache cannot be written (full, read-only): it is only a speed-up.
                Ok(None) | Err(_) => {
                    let mut counter = HashingWriter::new(&mut *out);
                    write_segment(&mut counter)?;
                    counter.finish()?.0
                }
            },
            (None, None) => {
                let mut counter = HashingWriter::new(&mut *out);
                write_segment(&mut counter)?;
                counter.finish()?.0
            }
        };
        if let Ok(mut segments) = self.segments.lock() {
            segments.push(SegmentReport { part: part.name.clone(), key, reused, size });
        }
        Ok(())
    }

    /// The initrd segments written so far, in order.
    pub fn segment_reports(&self) -> Vec<SegmentReport> {
        self.segments.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The intermediate artifact `name`, built by `build` on first use.
    fn artifact(
        &self,
        name: &str,
        build: impl FnOnce(&mut dyn WriteSeek) -> io::Result<()>,
    ) -> io::Result<Content> {
        let existing = {
            let files =
                self.files.lock().map_err(|_| io::Error::other("artifact lock poisoned"))?;
            files.get(&format!("{ARTIFACT_PREFIX}{name}")).cloned()
        };
        let file = match existing {
            Some(file) => file,
            None => self.build_artifact(name, build)?,
        };
        self.content_of(name, &file)
    }

    /// The SHA-256 of an artifact built earlier.
    fn digest_of(&self, name: &str) -> io::Result<Vec<u8>> {
        let object = format!("{ARTIFACT_PREFIX}{name}");
        let file = {
            let files =
                self.files.lock().map_err(|_| io::Error::other("artifact lock poisoned"))?;
            files.get(&object).cloned().ok_or_else(|| io::Error::other(format!("no {name}")))?
        };
        let len = file.metadata()?.len();
        let mut hasher = Sha256::new();
        let mut reader = FileRange { file, offset: 0, end: len };
        io::copy(&mut reader, &mut HashingSink(&mut hasher))?;
        Ok(hasher.finalize().to_vec())
    }

    fn build_artifact(
        &self,
        name: &str,
        write: impl FnOnce(&mut dyn WriteSeek) -> io::Result<()>,
    ) -> io::Result<Arc<File>> {
        let file = match self.scratch_dir {
            Some(dir) => tempfile::tempfile_in(dir)?,
            None => return Err(io::Error::other(format!("no scratch directory for the {name}"))),
        };
        let mut out = io::BufWriter::with_capacity(1 << 20, file);
        write(&mut out)?;
        let file = Arc::new(out.into_inner().map_err(|e| e.into_error())?);
        let mut files =
            self.files.lock().map_err(|_| io::Error::other("artifact lock poisoned"))?;
        files.insert(format!("{ARTIFACT_PREFIX}{name}"), Arc::clone(&file));
        Ok(file)
    }

    fn content_of(&self, name: &str, file: &File) -> io::Result<Content> {
        let len = file.metadata()?.len();
        Ok(Content::Blob(BlobRange {
            object: Arc::from(format!("{ARTIFACT_PREFIX}{name}").as_str()),
            offset: 0,
            len,
        }))
    }
}

impl ContentSource for Artifacts<'_> {
    fn open(&self, range: &BlobRange) -> io::Result<Box<dyn Read + '_>> {
        if !range.object.starts_with(ARTIFACT_PREFIX) {
            return self.base.open(range);
        }
        let files = self.files.lock().map_err(|_| io::Error::other("artifact lock poisoned"))?;
        let file = files.get(range.object.as_ref()).cloned().ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("no artifact {}", range.object))
        })?;
        Ok(Box::new(FileRange { file, offset: range.offset, end: range.offset + range.len }))
    }
}

/// Reads `offset..end` of a shared file with positioned reads.
struct FileRange {
    file: Arc<File>,
    offset: u64,
    end: u64,
}

impl Read for FileRange {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let left = self.end.saturating_sub(self.offset);
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.offset)?;
        self.offset += u64::try_from(n).unwrap_or(u64::MAX);
        Ok(n)
    }
}

/// A writer that only hashes.
struct HashingSink<'a>(&'a mut Sha256);

impl Write for HashingSink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Counts and hashes what passes through to `inner`.
struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W: Write> HashingWriter<W> {
    fn new(inner: W) -> HashingWriter<W> {
        HashingWriter { inner, hasher: Sha256::new(), size: 0 }
    }

    fn finish(mut self) -> io::Result<(u64, String)> {
        self.inner.flush()?;
        Ok((self.size, hex::encode(self.hasher.finalize())))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += u64::try_from(n).unwrap_or(u64::MAX);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The size and SHA-256 of a written file.
fn hash_file(path: &Path) -> io::Result<(u64, String)> {
    let mut file = File::open(path)?;
    let mut hasher = HashingWriter::new(io::sink());
    io::copy(&mut file, &mut hasher)?;
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_linuxkit_reads_them() {
        let bytes = |text: &str| text.parse::<DiskSize>().map(|s| s.bytes);
        assert_eq!(bytes("1024M"), Ok(1 << 30));
        assert_eq!(bytes("2G"), Ok(2 << 30));
        assert_eq!(bytes("3"), Ok(3 << 30));
        for bad in ["", "M", "1.5G", "-1", "0", "10K", "99999999999999G"] {
            assert!(bytes(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn shared_files_are_planned_once() {
        let dir = Destination::Directory(PathBuf::from("out"));
        let formats = [Format::KernelInitrd, Format::Tar, Format::KernelSquashfs];
        let listing: Vec<String> = plan(&formats, "hello", &dir)
            .iter()
            .map(|f| {
                let names: Vec<&str> = f.formats.iter().map(|f| f.name()).collect();
                format!("{} {:?} {}", f.path.display(), f.product, names.join(","))
            })
            .collect();
        assert_eq!(
            listing,
            [
                "out/hello-kernel Kernel kernel+initrd,kernel+squashfs",
                "out/hello-initrd.img Initrd kernel+initrd",
                "out/hello-cmdline Cmdline kernel+initrd,kernel+squashfs",
                "out/hello.tar RootTar tar",
                "out/hello-squashfs.img Squashfs kernel+squashfs",
            ]
        );
        let stdout = plan(&[Format::Tar], "x", &Destination::Stdout);
        assert_eq!(stdout[0].path, PathBuf::from("-"));
    }

    #[test]
    fn image_root_drops_all_of_boot_and_initrd_root_only_the_diverted_files() {
        let tree = formats::testutil::tree_from_fixture(
            r#"
            //- /boot/kernel
            k
            //- /boot/cmdline
            console=ttyS0
            //- /boot/dtb/board.dtb
            d
            //- /etc/hostname
            kit
            "#,
        )
        .unwrap();
        let paths = |tree: &Tree| {
            let mut out = Vec::new();
            tree.walk::<()>(&mut |path, _| {
                out.push(String::from_utf8_lossy(path).into_owned());
                Ok(())
            })
            .unwrap();
            out.join(" ")
        };
        assert_eq!(paths(&initrd_root(&tree)), "boot boot/dtb boot/dtb/board.dtb etc etc/hostname");
        assert_eq!(paths(&image_root(&tree)), "etc etc/hostname");
    }

    #[test]
    fn artifacts_serve_intermediates_and_delegate_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let artifacts = Artifacts::new(&formats::tree::NoBlobs, Some(dir.path()));
        let file = artifacts.build_artifact("x", |out| out.write_all(b"0123456789")).unwrap();
        let content = artifacts.content_of("x", &file).unwrap();
        let Content::Blob(mut range) = content else { panic!("a blob") };
        range.offset = 2;
        range.len = 5;
        let mut read = String::new();
        artifacts.open(&range).unwrap().read_to_string(&mut read).unwrap();
        assert_eq!(read, "23456");
        let other = BlobRange { object: Arc::from("sha256:00"), offset: 0, len: 1 };
        assert!(artifacts.open(&other).is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "intermediates are unlinked");
    }

    #[test]
    fn kernels_of_the_other_architecture_are_refused_by_name() {
        let mut bzimage = vec![0u8; 0x240];
        bzimage[0x202..0x206].copy_from_slice(b"HdrS");
        let mut image = vec![0u8; 0x40];
        image[0x38..0x3c].copy_from_slice(b"ARM\x64");
        check_kernel_arch(&bzimage, formats::uki::Arch::X86_64).unwrap();
        check_kernel_arch(&image, formats::uki::Arch::Aarch64).unwrap();
        let err = check_kernel_arch(&bzimage, formats::uki::Arch::Aarch64).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the kernel is an x86 bzImage, expected an arm64 Image for the EFI stub"
        );
        let err = check_kernel_arch(&image, formats::uki::Arch::X86_64).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the kernel is an arm64 Image, expected an x86 bzImage for the EFI stub"
        );
        let err = check_kernel_arch(b"MZ", formats::uki::Arch::Aarch64).unwrap_err();
        assert!(err.to_string().contains("no Linux kernel image header"), "{err}");
    }
}

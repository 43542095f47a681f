//! Output formats as one table, and atomic writes.
//!
//! [`FORMATS`] is the only place that knows a format: its name, the files it writes (with
//! LinuxKit's names), whether it needs a kernel, whether it can stream to `-o`, and which
//! architectures it supports. Each file is one [`Product`]; the build writes each product once,
//! whichever formats ask for it.
//!
//! Every artifact is written to a temporary file in its destination directory and renamed into
//! place only when it is complete, so a failed or interrupted build leaves no partial output.

use std::fmt;
use std::fs;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// An output format kit can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    /// The whole root filesystem as a tar (`NAME.tar`), `boot/` included.
    Tar,
    /// `NAME-kernel`, `NAME-initrd.img` (ucode cpio, then the gzip'd newc root) and `NAME-cmdline`.
    KernelInitrd,
    /// `NAME-initrd.tar`: a tar holding `kernel`, `initrd.img`, `cmdline` and `ucode.cpio`.
    TarKernelInitrd,
    /// `NAME-kernel`, `NAME-squashfs.img` (the root without `boot/`) and `NAME-cmdline`.
    KernelSquashfs,
    /// `NAME-kernel`, `NAME-erofs.img` (the root without `boot/`) and `NAME-cmdline`.
    KernelErofs,
    /// `NAME-kernel`, `NAME.iso` (the root without `boot/`, ISO 9660 with Rock Ridge and
    /// Joliet, not bootable) and `NAME-cmdline`.
    KernelIso,
    /// `NAME.efi`: a Unified Kernel Image (kit's own format; LinuxKit has none).
    Uki,
    /// `NAME-efi.img`: a GPT disk whose FAT32 EFI System Partition holds systemd-boot and the UKI.
    RawEfi,
    /// `NAME-efi-initrd.iso`: an EFI-bootable hybrid ISO with the kernel and initrd.
    IsoEfiInitrd,
    /// `NAME-efi.iso`: an EFI-bootable hybrid ISO holding the whole root.
    IsoEfi,
    /// `NAME-efi.qcow2`: the `raw-efi` disk as qcow2.
    Qcow2Efi,
    /// `NAME.vhdx`: the `raw-efi` disk as a dynamic VHDX (kit's own; Hyper-V generation 2).
    Vhdx,
}

/// What one output file holds. Several formats may share a product (`NAME-kernel`); it is
/// written once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Product {
    /// The root filesystem as a tar, `boot/` included.
    RootTar,
    /// The kernel image.
    Kernel,
    /// The microcode cpio (if any) followed by the compressed newc root.
    Initrd,
    /// The kernel command line.
    Cmdline,
    /// LinuxKit's tar of `kernel`, `initrd.img`, `cmdline` and `ucode.cpio`.
    InitrdTar,
    /// The root without `boot/` as squashfs.
    Squashfs,
    /// The root without `boot/` as EROFS.
    Erofs,
    /// The root without `boot/` as ISO 9660.
    Iso,
    /// The Unified Kernel Image: the EFI stub with the kernel, initrd, command line and
    /// os-release.
    Uki,
    /// The GPT disk with the EFI System Partition.
    RawEfi,
    /// The EFI ISO with the kernel and initrd.
    IsoEfiInitrd,
    /// The EFI ISO with the whole root.
    IsoEfi,
    /// The `raw-efi` disk in a qcow2 v3 container.
    Qcow2Efi,
    /// The `raw-efi` disk in a VHDX container.
    Vhdx,
}

/// One file of a format: LinuxKit's suffix after `NAME` and what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputFile {
    /// Appended to the base name (`-kernel`, `.tar`, …).
    pub suffix: &'static str,
    /// What the file holds.
    pub product: Product,
}

/// The architectures a format can be built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arches {
    /// Every architecture kit builds for.
    Any,
    /// Only these (`amd64`, `arm64`, `riscv64`).
    Only(&'static [&'static str]),
}

/// Everything kit knows about one format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormatSpec {
    /// The format.
    pub format: Format,
    /// Its name as LinuxKit spells it (`--format NAME`).
    pub name: &'static str,
    /// The files it writes, in the order they are reported.
    pub files: &'static [OutputFile],
    /// True when the configuration must have a kernel image.
    pub needs_kernel: bool,
    /// True when its single file can be streamed to `-o FILE` or `-o -`.
    pub streamable: bool,
    /// The architectures it supports.
    pub arches: Arches,
    /// True when it needs the boot binaries of `--boot-image` (systemd-boot, the EFI stub).
    pub needs_boot_image: bool,
    /// One line for `--help`.
    pub about: &'static str,
}

const fn file(suffix: &'static str, product: Product) -> OutputFile {
    OutputFile { suffix, product }
}

const KERNEL: OutputFile = file("-kernel", Product::Kernel);
const CMDLINE: OutputFile = file("-cmdline", Product::Cmdline);

/// Every format kit writes, in the order `--help` lists them.
pub const FORMATS: &[FormatSpec] = &[
    FormatSpec {
        format: Format::Tar,
        name: "tar",
        files: &[file(".tar", Product::RootTar)],
        needs_kernel: false,
        streamable: true,
        arches: Arches::Any,
        needs_boot_image: false,
        about: "the root filesystem as a tar",
    },
    FormatSpec {
        format: Format::KernelInitrd,
        name: "kernel+initrd",
        files: &[KERNEL, file("-initrd.img", Product::Initrd), CMDLINE],
        needs_kernel: true,
        streamable: false,
        arches: Arches::Any,
        needs_boot_image: false,
        about: "kernel, initramfs and command line",
    },
    FormatSpec {
        format: Format::TarKernelInitrd,
        name: "tar-kernel-initrd",
        files: &[file("-initrd.tar", Product::InitrdTar)],
        needs_kernel: true,
        streamable: false,
        arches: Arches::Any,
        needs_boot_image: false,
        about: "kernel, initramfs and command line in one tar",
    },
    FormatSpec {
        format: Format::KernelSquashfs,
        name: "kernel+squashfs",
        files: &[KERNEL, file("-squashfs.img", Product::Squashfs), CMDLINE],
        needs_kernel: true,
        streamable: false,
        arches: Arches::Any,
        needs_boot_image: false,
        about: "kernel, command line and the root as squashfs (boot with root=)",
    },
    FormatSpec {
        format: Format::KernelErofs,
        name: "kernel+erofs",
        files: &[KERNEL, file("-erofs.img", Product::Erofs), CMDLINE],
        needs_kernel: true,
        streamable: false,
        arches: Arches::Any,
        needs_boot_image: false,
        about: "kernel, command line and the root as EROFS (boot with root=)",
    },
    FormatSpec {
        format: Format::KernelIso,
        name: "kernel+iso",
        files: &[KERNEL, file(".iso", Product::Iso), CMDLINE],
        needs_kernel: true,
        streamable: false,
        arches: Arches::Any,
        needs_boot_image: false,
        about: "kernel, command line and the root as a plain ISO 9660 image",
    },
    FormatSpec {
        format: Format::Uki,
        name: "uki",
        files: &[file(".efi", Product::Uki)],
        needs_kernel: true,
        streamable: false,
        arches: Arches::Only(&["amd64", "arm64"]),
        needs_boot_image: true,
        about: "a Unified Kernel Image: the EFI stub with kernel, initrd and command line",
    },
    FormatSpec {
        format: Format::RawEfi,
        name: "raw-efi",
        files: &[file("-efi.img", Product::RawEfi)],
        needs_kernel: true,
        streamable: false,
        arches: Arches::Only(&["amd64", "arm64"]),
        needs_boot_image: true,
        about: "a GPT disk booting the UKI with systemd-boot from a FAT32 EFI System Partition",
    },
    FormatSpec {
        format: Format::IsoEfiInitrd,
        name: "iso-efi-initrd",
        files: &[file("-efi-initrd.iso", Product::IsoEfiInitrd)],
        needs_kernel: true,
        streamable: false,
        arches: Arches::Only(&["amd64", "arm64"]),
        needs_boot_image: true,
        about: "a hybrid ISO booting the UKI (kernel and initrd) with systemd-boot from El Torito",
    },
    FormatSpec {
        format: Format::IsoEfi,
        name: "iso-efi",
        files: &[file("-efi.iso", Product::IsoEfi)],
        needs_kernel: true,
        streamable: false,
        arches: Arches::Only(&["amd64", "arm64"]),
        needs_boot_image: true,
        about: "a hybrid ISO of the whole root, booted by systemd-boot and a UKI naming it as root",
    },
    FormatSpec {
        format: Format::Qcow2Efi,
        name: "qcow2-efi",
        files: &[file("-efi.qcow2", Product::Qcow2Efi)],
        needs_kernel: true,
        streamable: false,
        arches: Arches::Only(&["amd64", "arm64"]),
        needs_boot_image: true,
        about: "the raw-efi disk as qcow2 (v3, sparse)",
    },
    FormatSpec {
        format: Format::Vhdx,
        name: "vhdx",
        files: &[file(".vhdx", Product::Vhdx)],
        needs_kernel: true,
        streamable: false,
        arches: Arches::Only(&["amd64", "arm64"]),
        needs_boot_image: true,
        about: "the raw-efi disk as a dynamic VHDX (Hyper-V generation 2)",
    },
];

/// LinuxKit formats kit does not write yet: asking for one says so instead of "unknown".
pub const NOT_YET: &[&str] = &[
    "docker",
    "iso-bios",
    "raw-bios",
    "qcow2-bios",
    "gcp",
    "aws",
    "vhd",
    "dynamic-vhd",
    "vmdk",
    "rpi3",
];

/// Why a format name was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnknownFormat {
    /// Not a format name at all.
    #[error("unknown output format {name:?}; kit writes: {}", Format::names().join(", "))]
    Unknown {
        /// The name as given.
        name: String,
    },
    /// A LinuxKit format kit cannot write yet.
    #[error("kit cannot write the LinuxKit format {name:?} yet; kit writes: {}", Format::names().join(", "))]
    NotYet {
        /// The name as given.
        name: String,
    },
}

impl Format {
    /// Every format name, in the order `--help` lists them.
    pub fn names() -> Vec<&'static str> {
        FORMATS.iter().map(|spec| spec.name).collect()
    }

    /// The format's entry in [`FORMATS`].
    pub fn spec(self) -> &'static FormatSpec {
        // An exhaustive match, so a new variant cannot compile without its entry; the test
        // `every_format_has_one_entry` checks that each index holds its own format.
        let idx = match self {
            Format::Tar => 0,
            Format::KernelInitrd => 1,
            Format::TarKernelInitrd => 2,
            Format::KernelSquashfs => 3,
            Format::KernelErofs => 4,
            Format::KernelIso => 5,
            Format::Uki => 6,
            Format::RawEfi => 7,
            Format::IsoEfiInitrd => 8,
            Format::IsoEfi => 9,
            Format::Qcow2Efi => 10,
            Format::Vhdx => 11,
        };
        &FORMATS[idx]
    }

    /// The format's name as LinuxKit spells it.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// True for formats that can be streamed to a single file or stdout with `-o`.
    pub fn is_streamable(self) -> bool {
        self.spec().streamable
    }

    /// The files this format writes for base name `name`, in LinuxKit's spelling.
    pub fn file_names(self, name: &str) -> Vec<String> {
        self.spec().files.iter().map(|file| format!("{name}{}", file.suffix)).collect()
    }

    /// True when the format can be built for `arch` (`amd64`, `arm64`, …).
    pub fn supports_arch(self, arch: &str) -> bool {
        match self.spec().arches {
            Arches::Any => true,
            Arches::Only(arches) => arches.contains(&arch),
        }
    }
}

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(name: &str) -> Result<Format, UnknownFormat> {
        if let Some(spec) = FORMATS.iter().find(|spec| spec.name == name) {
            return Ok(spec.format);
        }
        if NOT_YET.contains(&name) {
            return Err(UnknownFormat::NotYet { name: name.to_owned() });
        }
        Err(UnknownFormat::Unknown { name: name.to_owned() })
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A file being written: bytes go to a hidden temporary file beside `path`, which
/// [`AtomicFile::commit`] renames to `path`. Dropping it without committing removes the
/// temporary file.
pub struct AtomicFile {
    path: PathBuf,
    writer: Option<BufWriter<tempfile::NamedTempFile>>,
}

impl AtomicFile {
    /// Starts writing `path`; the temporary file is created in the same directory.
    pub fn create(path: &Path) -> io::Result<AtomicFile> {
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let file_name =
            path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{file_name}."))
            .suffix(".partial")
            .tempfile_in(dir)?;
        Ok(AtomicFile {
            path: path.to_path_buf(),
            writer: Some(BufWriter::with_capacity(1 << 20, temp)),
        })
    }

    /// The final path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes the bytes written so far and syncs them to disk, without renaming; returns the
    /// temporary file's path (to read the bytes back, for example to hash them).
    pub fn sync(&mut self) -> io::Result<&Path> {
        let writer =
            self.writer.as_mut().ok_or_else(|| io::Error::other("file already committed"))?;
        writer.flush()?;
        writer.get_ref().as_file().sync_all()?;
        Ok(writer.get_ref().path())
    }

    /// Flushes, syncs and renames the file into place. World-readable (0644) like LinuxKit's outputs.
    pub fn commit(mut self) -> io::Result<PathBuf> {
        let writer =
            self.writer.take().ok_or_else(|| io::Error::other("file already committed"))?;
        let temp = writer.into_inner().map_err(|e| e.into_error())?;
        temp.as_file().sync_all()?;
        set_mode(temp.path())?;
        temp.persist(&self.path).map_err(|e| e.error)?;
        Ok(self.path.clone())
    }
}

#[cfg(unix)]
fn set_mode(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o644))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path) -> io::Result<()> {
    Ok(())
}

impl Seek for AtomicFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        match &mut self.writer {
            Some(writer) => writer.seek(pos),
            None => Err(io::Error::other("file already committed")),
        }
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.writer {
            Some(writer) => writer.write(buf),
            None => Err(io::Error::other("file already committed")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.writer {
            Some(writer) => writer.flush(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_linuxkit() {
        assert_eq!(
            Format::KernelInitrd.file_names("hello"),
            ["hello-kernel", "hello-initrd.img", "hello-cmdline"]
        );
        assert_eq!(Format::Tar.file_names("x"), ["x.tar"]);
        assert_eq!(Format::TarKernelInitrd.file_names("x"), ["x-initrd.tar"]);
        assert_eq!(
            Format::KernelSquashfs.file_names("x"),
            ["x-kernel", "x-squashfs.img", "x-cmdline"]
        );
        assert_eq!(Format::KernelErofs.file_names("x")[1], "x-erofs.img");
        assert_eq!(Format::KernelIso.file_names("x")[1], "x.iso");
        for name in Format::names() {
            assert_eq!(name.parse::<Format>().unwrap().name(), name);
        }
        assert_eq!(Format::IsoEfi.file_names("x"), ["x-efi.iso"]);
        assert_eq!(Format::IsoEfiInitrd.file_names("x"), ["x-efi-initrd.iso"]);
        assert_eq!(Format::RawEfi.file_names("x"), ["x-efi.img"]);
        assert_eq!(Format::Uki.file_names("x"), ["x.efi"]);
        let err = "iso-bios".parse::<Format>().unwrap_err().to_string();
        assert!(err.contains("cannot write the LinuxKit format \"iso-bios\" yet"), "{err}");
        let err = "isoefi".parse::<Format>().unwrap_err().to_string();
        assert!(err.starts_with("unknown output format") && err.contains("kernel+initrd"), "{err}");
    }

    #[test]
    fn every_format_has_one_entry() {
        let all = [
            Format::Tar,
            Format::KernelInitrd,
            Format::TarKernelInitrd,
            Format::KernelSquashfs,
            Format::KernelErofs,
            Format::KernelIso,
            Format::Uki,
            Format::RawEfi,
            Format::IsoEfiInitrd,
            Format::IsoEfi,
            Format::Qcow2Efi,
            Format::Vhdx,
        ];
        for format in all {
            assert_eq!(FORMATS.iter().filter(|spec| spec.format == format).count(), 1);
            assert_eq!(format.spec().format, format);
        }
        assert_eq!(FORMATS.len(), all.len());
        for spec in FORMATS {
            assert!(!NOT_YET.contains(&spec.name), "{} is written", spec.name);
            assert_eq!(spec.streamable, spec.files.len() == 1 && spec.format == Format::Tar);
            let kernel = spec.files.iter().any(|f| f.product == Product::Kernel);
            assert!(!kernel || spec.needs_kernel, "{}", spec.name);
        }
    }

    #[test]
    fn uncommitted_files_leave_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.tar");
        {
            let mut file = AtomicFile::create(&path).unwrap();
            file.write_all(b"partial").unwrap();
        }
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);

        let mut file = AtomicFile::create(&path).unwrap();
        file.write_all(b"whole").unwrap();
        assert!(!path.exists(), "the final path appears only on commit");
        file.commit().unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"whole");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}

//! Output files: LinuxKit's names for each format, and atomic writes.
//!
//! Every artifact is written to a temporary file in its destination directory and renamed into
//! place only when it is complete, so a failed or interrupted build leaves no partial output.

use std::fmt;
use std::fs;
use std::io::{self, BufWriter, Write};
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
}

/// Why a format name was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown output format {name:?}; kit writes: {}", Format::NAMES.join(", "))]
pub struct UnknownFormat {
    /// The name as given.
    pub name: String,
}

impl Format {
    /// Every format name, in the order `--help` lists them.
    pub const NAMES: [&'static str; 3] = ["tar", "kernel+initrd", "tar-kernel-initrd"];

    /// The format's name as LinuxKit spells it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Tar => "tar",
            Format::KernelInitrd => "kernel+initrd",
            Format::TarKernelInitrd => "tar-kernel-initrd",
        }
    }

    /// True for formats that can be streamed to a single file or stdout with `-o`.
    pub fn is_streamable(self) -> bool {
        matches!(self, Format::Tar)
    }

    /// The files this format writes for base name `name`, in LinuxKit's spelling.
    pub fn file_names(self, name: &str) -> Vec<String> {
        match self {
            Format::Tar => vec![format!("{name}.tar")],
            Format::KernelInitrd => {
                vec![
                    format!("{name}-kernel"),
                    format!("{name}-initrd.img"),
                    format!("{name}-cmdline"),
                ]
            }
            Format::TarKernelInitrd => vec![format!("{name}-initrd.tar")],
        }
    }
}

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(name: &str) -> Result<Format, UnknownFormat> {
        match name {
            "tar" => Ok(Format::Tar),
            "kernel+initrd" => Ok(Format::KernelInitrd),
            "tar-kernel-initrd" => Ok(Format::TarKernelInitrd),
            _ => Err(UnknownFormat { name: name.to_owned() }),
        }
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
        for name in Format::NAMES {
            assert_eq!(name.parse::<Format>().unwrap().name(), name);
        }
        let err = "iso-efi".parse::<Format>().unwrap_err().to_string();
        assert!(err.contains("iso-efi") && err.contains("kernel+initrd"), "{err}");
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

//! Command-line parsing and the mapping from clap types to library calls.
//!
//! This is the only place that reads the environment, prints, and decides exit codes:
//! 0 on success, 1 when a build or verification fails, 2 for usage and configuration errors.

mod bars;
mod build;
mod cache;
mod inspect;
mod run;
mod validate;

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// kit builds LinuxKit-style bootable images without Docker, root or external programs.
///
/// It reads LinuxKit's YAML configuration unchanged, takes every input image from an OCI
/// registry or a local OCI layout, and writes byte-reproducible artifacts.
#[derive(Debug, Parser)]
#[command(name = "kit", version, about, long_about = None, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check configuration files and print the merged, normalized configuration.
    ///
    /// Several files merge the way `linuxkit build a.yml b.yml` merges them. Every problem is
    /// reported as FILE:LINE:COLUMN: KEY-PATH: MESSAGE; the exit status is 2 if there is any.
    Validate(validate::Args),

    /// Build images from LinuxKit configuration files.
    ///
    /// Images come from --source layouts and archives first, then the cache, then their
    /// registries. The outputs are written next to each other in --dir with LinuxKit's names,
    /// each to a temporary file that is renamed into place once complete.
    Build(Box<build::Args>),

    /// Pin every image of the configuration, verified, in a lockfile (NAME.lock).
    ///
    /// Records for each image: the reference, the index digest, the chosen platform's manifest,
    /// config and layer digests, and the rule and signatures that verified it. `kit build
    /// --locked` then refuses anything that differs.
    Lock(build::LockArgs),

    /// Manage the image cache, an OCI image layout compatible with LinuxKit's.
    Cache(cache::Args),

    /// Boot built artifacts.
    Run(run::Args),

    /// List what is inside an artifact kit writes, or compare two.
    ///
    /// Reads tar archives, initrds (each segment, compressed or not), squashfs, EROFS and
    /// ISO 9660 images with kit's own readers (never the host's mount) and prints one line per
    /// entry: type, mode, owner, mtime, size, SHA-256 and path. `--diff A B` names the first
    /// path and field that differ.
    Inspect(inspect::Args),
}

/// How a command failed, which decides the exit status.
#[derive(Debug)]
pub enum Failure {
    /// Bad flags or configuration: exit status 2.
    Usage(anyhow::Error),
    /// The build or a verification failed: exit status 1.
    Failed(anyhow::Error),
    /// A negative answer already printed (`kit inspect --diff` found a difference): exit 1
    /// without an error message.
    No,
}

impl From<io::Error> for Failure {
    fn from(error: io::Error) -> Failure {
        Failure::Failed(error.into())
    }
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Failure {
        Failure::Failed(error)
    }
}

/// Runs the CLI with the process arguments and returns the exit status.
pub fn main() -> i32 {
    run_with(std::env::args_os())
}

fn run_with(args: impl IntoIterator<Item = OsString>) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            let code = error.exit_code();
            // Printing help or version to a closed pipe is not a failure.
            let _ = error.print();
            return code;
        }
    };
    let result = match cli.command {
        Command::Validate(args) => validate::run(&args),
        Command::Build(args) => build::run(&args),
        Command::Lock(args) => build::run_lock(&args),
        Command::Cache(args) => cache::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Inspect(args) => inspect::run(&args),
    };
    match result {
        Ok(()) => 0,
        Err(Failure::No) => 1,
        Err(Failure::Usage(error)) => {
            report(&error);
            2
        }
        Err(Failure::Failed(error)) => {
            if is_broken_pipe(&error) {
                return 0;
            }
            report(&error);
            1
        }
    }
}

/// Prints an error and its whole chain of causes to stderr.
fn report(error: &anyhow::Error) {
    let mut stderr = io::stderr().lock();
    let _ = writeln!(stderr, "kit: error: {error}");
    for cause in error.chain().skip(1) {
        let _ = writeln!(stderr, "  caused by: {cause}");
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Writes `text` to stdout; a closed pipe is reported as an `io::Error` the caller treats as success.
fn print_stdout(text: &str) -> anyhow::Result<()> {
    let mut stdout = io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

/// Reads a configuration file named on the command line; `-` means standard input.
fn read_config(path: &PathBuf) -> anyhow::Result<kit::config::SourceFile> {
    use anyhow::Context;
    let (name, text) = if path.as_os_str() == "-" {
        let mut text = String::new();
        io::Read::read_to_string(&mut io::stdin(), &mut text)
            .context("reading the configuration from standard input")?;
        ("<stdin>".to_owned(), text)
    } else {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading configuration file {}", path.display()))?;
        (path.display().to_string(), text)
    };
    Ok(kit::config::SourceFile { name, text })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn unknown_flags_are_usage_errors() {
        assert_eq!(run_with(["kit", "validate", "--no-such-flag", "x.yml"].map(OsString::from)), 2);
        assert_eq!(run_with(["kit"].map(OsString::from)), 2);
    }
}

//! Command-line parsing and the mapping from clap types to library calls.

use clap::Parser;

/// kit builds LinuxKit-style bootable images without Docker or root.
#[derive(Debug, Parser)]
#[command(name = "kit", version, about)]
struct Cli {}

/// Runs the CLI and returns the process exit status.
pub fn main() -> i32 {
    let _cli = Cli::parse();
    0
}

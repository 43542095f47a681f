//! `kit validate`: parse, check and merge configuration files, then print the result.

use std::path::PathBuf;

use super::{Failure, print_stdout, read_config};

/// Arguments of `kit validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the normalized configuration as JSON instead of YAML.
    #[arg(long)]
    json: bool,

    /// Only check; print nothing on success.
    #[arg(long, short = 'q')]
    quiet: bool,

    /// LinuxKit configuration files, merged in order (`-` reads standard input).
    #[arg(required = true, value_name = "CONFIG")]
    configs: Vec<PathBuf>,
}

/// Runs `kit validate`.
pub fn run(args: &Args) -> Result<(), Failure> {
    let mut files = Vec::with_capacity(args.configs.len());
    for path in &args.configs {
        files.push(read_config(path).map_err(Failure::Usage)?);
    }
    let config = kit::config::load(&files).map_err(|errors| Failure::Usage(errors.into()))?;
    if args.quiet {
        return Ok(());
    }
    let text = if args.json { config.to_json() } else { config.to_yaml() };
    print_stdout(&text)?;
    Ok(())
}

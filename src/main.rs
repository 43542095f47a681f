//! The `kit` command-line tool.

fn main() {
    std::process::exit(kit_cli::main());
}

#[path = "cli/mod.rs"]
mod kit_cli;

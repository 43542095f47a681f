//! The `kit` command-line tool: parses arguments, runs the command, maps errors to exit codes.

mod cli;

fn main() {
    std::process::exit(cli::main());
}

//! The podclean command: argument parsing, progress and terminal output live in `cli`;
//! everything else is the library.

mod cli;

fn main() {
    std::process::exit(cli::main());
}

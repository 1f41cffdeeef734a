//! The `obp` command: everything is in the library ([`obp::main`]).

fn main() -> std::process::ExitCode {
    obp::main()
}

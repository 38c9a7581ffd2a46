//! `cargo run --example write-completions -- [DIR]`: regenerate `completions/` (the shell
//! scripts, the man page and the shim) from the clap definition. The binary carries the
//! committed scripts, not these generators; `tests/ship.rs` fails while the files differ.

#[path = "../tests/common_completions/mod.rs"]
mod generate;

fn main() -> std::process::ExitCode {
    let dir = std::env::args_os()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "completions".into());
    match generate::write_all(&dir) {
        Ok(files) => {
            for f in files {
                eprintln!("wrote {}", f.display());
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", dir.display());
            std::process::ExitCode::from(1)
        }
    }
}

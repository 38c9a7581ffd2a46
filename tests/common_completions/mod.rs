//! The generated files of `completions/`: the shell scripts (clap_complete) and the man page
//! (clap_mangen) from the clap definition, and the shim. Shared by
//! `examples/write-completions.rs` (`cargo run --example write-completions -- completions`
//! writes them) and `tests/ship.rs` (fails while the committed files differ). Not part of the
//! binary, which prints the committed scripts.

use clap_complete::{Generator, Shell};
use kubectl_promfix::output::completion::{BIN, SHIM, SHIM_NAME};
use std::path::{Path, PathBuf};

/// The completion script for a shell, for `kubectl-promfix`.
pub fn script(shell: Shell) -> String {
    let mut cmd = kubectl_promfix::cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, BIN, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The man page (roff), generated with clap_mangen: the root's sections, then one subsection per
/// subcommand (synopsis, description, options) under COMMANDS, and the exit codes as EXIT STATUS.
/// One page, so nothing refers to per-subcommand pages that are not installed.
pub fn man_page() -> String {
    fn section(
        man: &clap_mangen::Man,
        f: fn(&clap_mangen::Man, &mut dyn std::io::Write) -> std::io::Result<()>,
    ) -> String {
        let mut out = Vec::new();
        // Writing to a Vec cannot fail.
        let _ = f(man, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
    /// Drop roff's per-render preamble (the `Aq` string definition) and the `.SH` heading.
    fn body(s: &str) -> String {
        s.lines()
            .filter(|l| !l.starts_with(".ie \\n(.g") && !l.starts_with(".el .ds Aq"))
            .filter(|l| !l.starts_with(".SH "))
            .map(|l| format!("{l}\n"))
            .collect()
    }
    let root = clap_mangen::Man::new(kubectl_promfix::cli::command());
    let mut page = String::new();
    page.push_str(&section(&root, clap_mangen::Man::render_title));
    for f in [
        clap_mangen::Man::render_name_section,
        clap_mangen::Man::render_synopsis_section,
        clap_mangen::Man::render_description_section,
        clap_mangen::Man::render_options_section,
    ] {
        let s = section(&root, f);
        page.push_str(&body_keep_heading(&s));
    }
    page.push_str(".SH COMMANDS\n");
    for sub in kubectl_promfix::cli::command().get_subcommands() {
        if sub.is_hide_set() {
            continue;
        }
        let name = format!("kubectl promfix {}", sub.get_name());
        let man = clap_mangen::Man::new(sub.clone().bin_name(&name));
        page.push_str(&format!(".SS \"{}\"\n", name.replace('-', "\\-")));
        page.push_str(&body(&section(
            &man,
            clap_mangen::Man::render_description_section,
        )));
        page.push_str(".PP\n");
        page.push_str(&body(&section(
            &man,
            clap_mangen::Man::render_synopsis_section,
        )));
        if sub.get_arguments().any(|a| !a.is_hide_set()) {
            page.push_str(&body(&section(
                &man,
                clap_mangen::Man::render_options_section,
            )));
        }
    }
    page.push_str(".SH \"EXIT STATUS\"\n");
    page.push_str(&body(&section(
        &root,
        clap_mangen::Man::render_extra_section,
    )));
    page.push_str(&body_keep_heading(&section(
        &root,
        clap_mangen::Man::render_version_section,
    )));
    page
}

/// A rendered section without roff's per-render preamble, heading kept.
fn body_keep_heading(s: &str) -> String {
    s.lines()
        .filter(|l| !l.starts_with(".ie \\n(.g") && !l.starts_with(".el .ds Aq"))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Every generated file of `completions/`: (file name, contents).
pub fn generated_files() -> Vec<(String, String)> {
    let mut files = Vec::new();
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish, Shell::PowerShell] {
        files.push((shell.file_name(BIN), script(shell)));
    }
    files.push((format!("{BIN}.1"), man_page()));
    files.push((SHIM_NAME.to_string(), SHIM.to_string()));
    files
}

/// Write every generated file into `dir` (`kubectl-promfix __write-completions completions`).
pub fn write_all(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for (name, text) in generated_files() {
        let path = dir.join(&name);
        std::fs::write(&path, text)?;
        #[cfg(unix)]
        if name == SHIM_NAME {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        }
        written.push(path);
    }
    Ok(written)
}

//! Everything the user sees: errors, tables, diffs, yaml/json, progress and prompts.

pub mod completion;
pub mod interact;
pub mod interrupt;
pub mod plan_view;

use crate::Error;

/// The one-line-plus-hints form of an error, as printed on stderr. Colour only on a terminal
/// and when NO_COLOR is unset.
pub fn render_error(e: &Error) -> String {
    let text = format!("error: {e}");
    if color_enabled() {
        text.replacen("error:", "\x1b[31merror:\x1b[0m", 1)
    } else {
        text
    }
}

/// Colour is used on a terminal unless NO_COLOR is set (https://no-color.org).
pub fn color_enabled() -> bool {
    use std::io::IsTerminal;
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

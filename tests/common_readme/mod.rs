//! What the tests read from README.md (so the README and the code cannot drift apart).

use std::path::Path;

/// The ```yaml ClusterRole block under README.md's `## RBAC` heading, if there is one.
pub fn readme_role() -> Option<String> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).ok()?;
    let start = readme.find("\n## RBAC")?;
    let section = &readme[start + 1..];
    let end = section[3..]
        .find("\n## ")
        .map(|i| i + 3)
        .unwrap_or(section.len());
    let section = &section[..end];
    let mut rest = section;
    while let Some(i) = rest.find("```yaml") {
        let body = &rest[i + 7..];
        let close = body.find("```")?;
        let block = &body[..close];
        if block.contains("kind: ClusterRole") {
            return Some(block.trim_start_matches('\n').to_string());
        }
        rest = &body[close + 3..];
    }
    None
}

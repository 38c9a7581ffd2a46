//! managedFields: field ownership per manager, as the real API server's field manager keeps it.
//!
//! `track` is called by the store on every write (create, update, patch, apply) to update
//! `metadata.managedFields`; server-side apply itself lives in `patch::apply`.

use crate::store::WriteCtx;
use serde_json::Value;

/// Update `new.metadata.managedFields` for a write by `ctx.manager` with `ctx.operation`
/// (`Update` or `Apply`), given the object before the write (`None` on create).
pub fn track(old: Option<&Value>, new: &mut Value, api_version: &str, ctx: &WriteCtx) {
    let _ = (old, new, api_version, ctx);
}

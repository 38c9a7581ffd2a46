//! Patches as the real API server applies them: JSON patch (RFC 6902, with `test`), JSON merge
//! patch (RFC 7386), strategic merge patch (built-in types only; custom resources answer 415),
//! and server-side apply with managedFields ownership (`apply-patch+yaml`).
//!
//! OWNER: patch helper.

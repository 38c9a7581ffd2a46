//! Table output. OWNER: compat helper.

//! OpenAPI. OWNER: compat helper.

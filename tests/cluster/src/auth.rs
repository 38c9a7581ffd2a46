//! Users (bearer tokens) and their rights (RBAC-like rules), SelfSubjectAccessReview and
//! SubjectAccessReview evaluation.
//!
//! OWNER: api helper.

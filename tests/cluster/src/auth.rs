//! Users (bearer tokens) and their rights (RBAC-like rules), SelfSubjectAccessReview and
//! SubjectAccessReview evaluation.
//!
//! OWNER: api helper.

/// One RBAC-like rule (as in a Role/ClusterRole). Empty `namespaces` = every namespace (a
/// ClusterRole binding); `resources` may name subresources as `pods/exec`; `*` matches all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rule {
    pub verbs: Vec<String>,
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub resource_names: Vec<String>,
    pub namespaces: Vec<String>,
    pub non_resource_urls: Vec<String>,
}

/// A user with a bearer token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct User {
    /// e.g. `admin`, `system:serviceaccount:monitoring:prometheus`.
    pub name: String,
    pub token: String,
    pub groups: Vec<String>,
    pub rules: Vec<Rule>,
}

/// The users of one cluster.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    pub users: Vec<User>,
}

impl Auth {
    pub fn new(users: Vec<User>) -> Self {
        Auth { users }
    }
}

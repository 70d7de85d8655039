//! Policy versions: the legal and routing policies as administrators store, test and
//! activate them (DESIGN.md "Policies"). One version is active at a time.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// A stored policy version, as administrators see it (`GET /api/v1/admin/policies`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PolicyVersion {
    pub version: i64,
    pub author: String,
    pub created_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
    pub activated_by: Option<String>,
    pub active: bool,
    /// The whole Cedar policy set.
    pub text: String,
    /// Its policy tests (TOML).
    pub tests: String,
}

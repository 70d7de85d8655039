//! Persistence: one [`Store`] interface, a SQLite and a PostgreSQL implementation.
//!
//! Both implementations run the same SQL text (sqlx accepts `$1` placeholders on SQLite too);
//! they differ only in how a read-then-write transaction takes its locks: `BEGIN IMMEDIATE` on
//! SQLite (a plain `BEGIN` would fail with `SQLITE_BUSY` at its first write), `FOR UPDATE` row
//! locks on PostgreSQL. The same conformance tests run against both.
//!
//! Every change of a case goes through [`Store::transition`], which commits the new state, the
//! message that caused it, its routing trace and its audit event in one transaction.

mod records;
mod sql;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::case::{CaseEvent, Transition, TransitionError};
use crate::domain::federation::Federation;
use crate::domain::people::Availability;

pub use records::{
    ApiTokenRecord, AuditFilter, AuditRecord, CaseRecord, CaseWrite, CaseworkerRecord,
    ConsentRecord, ConsentWrite, HarmAssessmentRecord, HarmWrite, MessageRecord, NewAuditEvent,
    NewCase, NewMessage, OfferRecord, OfferWrite, PermitRecord, PolicyVersionRecord,
    RoutingSettingsRecord, RoutingWrite, Sender, TraceRecord,
};
pub use sql::{PostgresStore, SqliteStore};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error("{0}")]
    Invalid(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    async fn ping(&self) -> Result<()>;

    /// Writes the federation file's content; only on first start (when none is stored).
    async fn seed_federation(&self, federation: &Federation) -> Result<()>;
    async fn load_federation(&self) -> Result<Option<Federation>>;

    async fn insert_caseworker(&self, caseworker: &CaseworkerRecord) -> Result<()>;
    async fn caseworker(&self, id: &str) -> Result<Option<CaseworkerRecord>>;
    async fn caseworkers(&self) -> Result<Vec<CaseworkerRecord>>;
    /// Sets availability and, when given, the working capacity (at most the admin's maximum).
    async fn set_availability(
        &self,
        id: &str,
        status: Availability,
        capacity: Option<u32>,
        now: DateTime<Utc>,
    ) -> Result<CaseworkerRecord>;
    /// Cases offered to or owned by the caseworker (what counts against capacity).
    async fn load_of(&self, caseworker: &str) -> Result<u32>;

    async fn insert_api_token(&self, token: &ApiTokenRecord) -> Result<()>;
    /// A live token (not expired, not revoked) by the hash of its secret.
    async fn api_token(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ApiTokenRecord>>;
    async fn integration_tokens(&self) -> Result<Vec<ApiTokenRecord>>;
    /// `false` if there is no such live token.
    async fn revoke_api_token(&self, id: &str, at: DateTime<Utc>) -> Result<bool>;
    /// Revokes every token issued to a browser session (at logout).
    async fn revoke_session_tokens(&self, web_session: &str, at: DateTime<Utc>) -> Result<()>;

    /// Browser sessions (tower-sessions' records), by the hash of their id. `create` is `false`
    /// when the id is taken.
    async fn create_web_session(
        &self,
        id_hash: &str,
        data: &serde_json::Value,
        expires_at: DateTime<Utc>,
    ) -> Result<bool>;
    async fn save_web_session(
        &self,
        id_hash: &str,
        data: &serde_json::Value,
        expires_at: DateTime<Utc>,
    ) -> Result<()>;
    async fn load_web_session(
        &self,
        id_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(serde_json::Value, DateTime<Utc>)>>;
    async fn delete_web_session(&self, id_hash: &str) -> Result<()>;

    /// Inserts a routed request as a case, with its consent, first message, routing trace and
    /// audit event, in one transaction.
    async fn create_case(&self, case: &NewCase) -> Result<CaseRecord>;
    async fn case(&self, id: &str) -> Result<Option<CaseRecord>>;
    async fn messages(&self, case_id: &str) -> Result<Vec<MessageRecord>>;
    async fn consent(&self, case_id: &str) -> Result<Option<ConsentRecord>>;
    /// Every consent of the case, oldest first (R9: the history is kept).
    async fn consents(&self, case_id: &str) -> Result<Vec<ConsentRecord>>;
    async fn harm_assessments(&self, case_id: &str) -> Result<Vec<HarmAssessmentRecord>>;
    /// Applies `event` through the domain's state machine under the case's lock (and, for an
    /// event that takes capacity, the caseworker's), then commits the change with `write`.
    async fn transition(
        &self,
        case_id: &str,
        event: &CaseEvent,
        write: &CaseWrite,
    ) -> Result<(CaseRecord, Transition)>;
    /// Commits `write` (consent, harm assessment, permits, routing, trace, audit) under the
    /// case's lock without a change of state; the state must still be `expected`.
    async fn amend(
        &self,
        case_id: &str,
        expected: crate::domain::case::CaseState,
        write: &CaseWrite,
    ) -> Result<CaseRecord>;
    /// Open cases (offered, assigned, waiting for the citizen) held outside their home.
    async fn cross_border_open(&self) -> Result<Vec<CaseRecord>>;
    /// Queued cases that `municipality` may take at the ring each has reached (and, for a
    /// transferred case, only its target), most urgent and oldest first.
    async fn queue(&self, municipality: &str, limit: u32) -> Result<Vec<CaseRecord>>;
    /// Every queued case, most urgent and oldest first: the scheduler's work list.
    async fn queued(&self, limit: u32) -> Result<Vec<CaseRecord>>;
    async fn permits(&self, case_id: &str) -> Result<Vec<PermitRecord>>;
    /// Re-routes a queued case (wider ring, interpreter flag) if it is still queued in
    /// `expected_ring`; commits with its trace and audit event. `false` if something else
    /// changed the case first.
    async fn update_routing(
        &self,
        case_id: &str,
        expected_ring: i64,
        routing: &RoutingWrite,
        trace: &serde_json::Value,
        audit: &NewAuditEvent,
    ) -> Result<bool>;

    /// Every caseworker with the number of cases they hold (offered or owned).
    async fn staff(&self) -> Result<Vec<(CaseworkerRecord, u32)>>;
    /// Cross-border cases (handler ≠ home) assigned since `since`, per handling municipality
    /// and category.
    async fn cross_border_since(&self, since: DateTime<Utc>) -> Result<Vec<(String, String, i64)>>;
    /// The caseworker who last had a case of this citizen (continuity).
    async fn previous_caseworker(&self, personnummer: &str) -> Result<Option<String>>;

    async fn offer(&self, id: &str) -> Result<Option<OfferRecord>>;
    /// Unended offers of the caseworker, oldest first.
    async fn open_offers(&self, caseworker: &str) -> Result<Vec<OfferRecord>>;
    /// Unended offers whose time ran out by `now`.
    async fn expired_offers(&self, now: DateTime<Utc>) -> Result<Vec<OfferRecord>>;
    /// The offer of a case that is open now, if any.
    async fn open_offer_of_case(&self, case_id: &str) -> Result<Option<OfferRecord>>;
    /// Caseworkers who rejected or let lapse an offer of this case since `since`.
    async fn declined(&self, case_id: &str, since: DateTime<Utc>) -> Result<Vec<String>>;
    async fn offer_counts(&self) -> Result<Vec<(String, i64)>>;

    async fn routing_settings(&self) -> Result<Vec<RoutingSettingsRecord>>;
    async fn put_routing_settings(&self, settings: &[RoutingSettingsRecord]) -> Result<()>;
    async fn traces(&self, case_id: &str) -> Result<Vec<TraceRecord>>;
    /// Open cases offered to or owned by the caseworker, oldest first.
    async fn cases_of_owner(&self, caseworker: &str) -> Result<Vec<CaseRecord>>;
    /// All requests of one identified citizen, newest first.
    async fn cases_of_citizen(&self, personnummer: &str) -> Result<Vec<CaseRecord>>;

    async fn policy_versions(&self) -> Result<Vec<PolicyVersionRecord>>;
    async fn policy_version(&self, version: i64) -> Result<Option<PolicyVersionRecord>>;
    async fn active_policy_version(&self) -> Result<Option<PolicyVersionRecord>>;
    /// Stores a new version (the next number) and returns it; `activate` makes it the active one
    /// at once (only for the first, shipped version).
    async fn insert_policy_version(
        &self,
        policies: &str,
        tests: &str,
        author: &str,
        at: DateTime<Utc>,
        activate: bool,
    ) -> Result<i64>;
    /// Makes `version` the active one, with its audit event, in one transaction.
    async fn activate_policy_version(
        &self,
        version: i64,
        by: &str,
        audit: &NewAuditEvent,
    ) -> Result<()>;

    /// Audit events for reads and listings (writes append theirs inside their transaction).
    /// Every append seals the event into its municipality's chain under the head's lock.
    async fn append_audit(&self, event: &NewAuditEvent) -> Result<()>;
    async fn audit_events(&self, case_id: Option<&str>, limit: u32) -> Result<Vec<AuditRecord>>;
    async fn audit_query(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>>;
    /// A wrong access code given for an anonymous request (rate limiting).
    async fn record_access_failure(&self, case_id: &str, at: DateTime<Utc>) -> Result<()>;
    async fn access_failures_since(&self, case_id: &str, since: DateTime<Utc>) -> Result<u32>;
    /// Open cases (queued, assigned, waiting for the citizen) last changed before `before`.
    async fn inactive_cases(&self, before: DateTime<Utc>) -> Result<Vec<CaseRecord>>;
    /// Closed and cancelled cases not yet thinned, oldest activity first.
    async fn retention_candidates(&self) -> Result<Vec<CaseRecord>>;
    /// Removes a closed case's personal data (messages, identity, harm assessments, free
    /// text), keeps what statistics and the audit trail need, and audits
    /// it, in one transaction. `false` if it was thinned already or is not closed.
    async fn thin_case(&self, case_id: &str, audit: &NewAuditEvent) -> Result<bool>;
    /// Ids of the cases about a citizen with protected identity (R11).
    async fn protected_case_ids(&self) -> Result<Vec<String>>;
    /// Seals the events written before the chain existed, once. Returns how many.
    async fn seal_legacy_audit(&self) -> Result<u32>;
    /// Every municipality with a chain (events or a head).
    async fn audit_chains(&self) -> Result<Vec<String>>;
    /// One chain in order (`seq`; unsealed rows last).
    async fn audit_chain(&self, municipality: &str) -> Result<Vec<AuditRecord>>;
    async fn audit_head(&self, municipality: &str) -> Result<Option<(i64, String)>>;
    async fn latest_checkpoint(&self, municipality: &str) -> Result<Option<(i64, String)>>;
    /// Copies every chain head into the checkpoints.
    async fn write_audit_checkpoints(&self, at: DateTime<Utc>) -> Result<()>;
}

/// Opens the store named by a `sqlite:` or `postgres:` URL and applies its migrations.
/// Without an audit key the store can be migrated and read, but appends no audit event.
pub async fn open(
    database_url: &str,
    max_connections: u32,
    audit_key: Option<crate::audit::AuditKey>,
) -> Result<Arc<dyn Store>> {
    if database_url.starts_with("postgres:") || database_url.starts_with("postgresql:") {
        Ok(Arc::new(
            PostgresStore::connect(database_url, max_connections, audit_key).await?,
        ))
    } else if database_url.starts_with("sqlite:") {
        Ok(Arc::new(
            SqliteStore::connect(database_url, max_connections, audit_key).await?,
        ))
    } else {
        Err(StoreError::Invalid(format!(
            "database_url must start with sqlite: or postgres:, got `{}`",
            database_url.split(':').next().unwrap_or_default()
        )))
    }
}

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

use crate::audit::AuditEntry;
use crate::domain::access::ApiToken;
use crate::domain::case::{
    Case, CaseEvent, CaseNote, CaseState, ConsentEntry, HarmAssessmentEntry, Message, Offer,
    RoutingTrace, Transition, TransitionError,
};
use crate::domain::federation::{AgreementVersion, Federation};
use crate::domain::governance::PolicyVersion;
use crate::domain::ids::{CaseId, CaseworkerId, MunicipalityCode, OfferId};
use crate::domain::people::{Availability, Caseworker, CitizenRef, StaffGroup, StaffMember};
use crate::domain::personnummer::Personnummer;
use crate::domain::routing::{CategoryRouting, Permit};

pub use records::{
    AuditFilter, CaseWrite, ConsentWrite, HarmWrite, NewApiToken, NewAuditEvent, NewCase,
    NewCitizen, NewMessage, NewNote, OfferWrite, RoutingWrite,
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
    /// A unique constraint refused the write: the thing exists already.
    #[error("already exists ({0})")]
    Duplicate(String),
    /// A reference, `NOT NULL` or `CHECK` constraint refused the write: the data names
    /// something that does not exist, or breaks a rule of the schema.
    #[error("refused by the database's constraint {0}")]
    Constraint(String),
    /// Every connection is busy (or the database is unreachable): try again later.
    #[error("the database is not available: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    /// Constraint violations keep what they are, so that the layers above answer 409 or 422
    /// instead of a 500.
    fn from(e: sqlx::Error) -> Self {
        if let Some(db) = e.as_database_error() {
            let name = db.constraint().unwrap_or_else(|| db.message()).to_owned();
            match db.kind() {
                sqlx::error::ErrorKind::UniqueViolation => return StoreError::Duplicate(name),
                sqlx::error::ErrorKind::ForeignKeyViolation
                | sqlx::error::ErrorKind::NotNullViolation
                | sqlx::error::ErrorKind::CheckViolation => return StoreError::Constraint(name),
                _ => {}
            }
        }
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                StoreError::Unavailable(e.to_string())
            }
            // A stored value that does not even decode (a JSON column of another shape) breaks
            // the domain's rules like one that decodes but does not parse.
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
                StoreError::Corrupt(e.to_string())
            }
            other => StoreError::Database(other),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A case before and after a transition, and what the state machine said.
#[derive(Clone, Debug)]
pub struct Transitioned {
    pub before: Case,
    pub after: Case,
    pub transition: Transition,
}

/// What the citizen's pages show of a case's progress, without its content: when its citizen
/// (or visitor) last opened it, when a caseworker and the citizen last wrote in it, and how
/// many times a caseworker took it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaseActivity {
    pub citizen_read_at: Option<DateTime<Utc>>,
    pub staff_wrote_at: Option<DateTime<Utc>>,
    pub citizen_wrote_at: Option<DateTime<Utc>>,
    /// Claims and accepted offers.
    pub assignments: i64,
}

/// A decision taken again on the case as it stands under the write's lock: the legal ground to
/// record (the deciding policies), or why the change may no longer be made. The store calls
/// it after the state machine accepted the event, so a lost race is named as such first
/// (`already_claimed` before `access_changed`).
pub type Recheck = dyn Fn(&Case) -> std::result::Result<Vec<String>, TransitionError> + Send + Sync;

/// One change to the federation, as `federation_changes` keeps it.
#[derive(Clone, Debug)]
pub struct FederationChange {
    /// The federation version it makes.
    pub version: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub actor_name: Option<String>,
    /// `municipality`, `category` or `agreement`.
    pub item: &'static str,
    pub item_id: String,
    /// `created`, `changed`, `removed`, `signed` or `ended`.
    pub change: &'static str,
    /// The item as it became; `null` when removed.
    pub body: serde_json::Value,
}

/// What a federation change does to an agreement's versions: `version` becomes the signed
/// one — the stored draft of that number, or `insert` (a version written and signed at once,
/// as an ending is) — the version signed before is superseded, and older drafts are discarded.
#[derive(Clone, Debug)]
pub struct AgreementWrite {
    pub agreement_id: String,
    pub version: i64,
    pub insert: Option<AgreementVersion>,
    pub signed_by: String,
    pub signed_by_name: Option<String>,
    pub at: DateTime<Utc>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    async fn ping(&self) -> Result<()>;

    /// Writes the federation file's content; only on first start (when none is stored).
    async fn seed_federation(&self, federation: &Federation) -> Result<()>;
    async fn load_federation(&self) -> Result<Option<Federation>>;
    /// The federation's version: the number of the last change made through Brygga (0 while
    /// it is as seeded).
    async fn federation_version(&self) -> Result<i64>;
    /// Writes `federation` as version `change.version` (the current one + 1) with the record of
    /// the change, what it does to an agreement's versions, and its audit event, in one
    /// transaction. `Duplicate` if another change took that version first (or the draft to
    /// sign is no longer a draft); `Constraint` if a removed municipality still has staff.
    async fn change_federation(
        &self,
        federation: &Federation,
        change: &FederationChange,
        agreement: Option<&AgreementWrite>,
        audit: &NewAuditEvent,
    ) -> Result<()>;
    /// Every stored version of one agreement (or of all, for `None`), oldest first.
    async fn agreement_versions(&self, agreement_id: Option<&str>)
    -> Result<Vec<AgreementVersion>>;
    /// Stores a new draft with its audit event. `Duplicate` if the version number is taken.
    async fn insert_agreement_draft(
        &self,
        draft: &AgreementVersion,
        audit: &NewAuditEvent,
    ) -> Result<()>;
    /// Records the agreements of the federation file as their first, signed versions, where
    /// an agreement has no version yet (first start, and databases from before versions).
    async fn record_agreement_origins(&self, origins: &[AgreementVersion]) -> Result<()>;
    /// Every open case (queued, offered, assigned, waiting for the citizen).
    async fn open_cases(&self) -> Result<Vec<Case>>;

    async fn insert_caseworker(&self, caseworker: &Caseworker) -> Result<()>;
    async fn caseworker(&self, id: &CaseworkerId) -> Result<Option<Caseworker>>;
    async fn caseworkers(&self) -> Result<Vec<Caseworker>>;
    /// A caseworker as administrators see them, active or not (the reads above find only
    /// active ones).
    async fn staff_member(&self, id: &CaseworkerId) -> Result<Option<StaffMember>>;
    /// One municipality's staff (or everyone's), active or not, by municipality and id.
    async fn staff_members(
        &self,
        municipality: Option<&MunicipalityCode>,
    ) -> Result<Vec<StaffMember>>;
    /// The caseworker of `municipality` known by `key`, active or not.
    async fn find_staff_member(
        &self,
        municipality: &MunicipalityCode,
        key: StaffKey<'_>,
    ) -> Result<Option<StaffMember>>;
    /// A new caseworker with the audit event of their creation, in one transaction.
    async fn insert_staff_member(&self, member: &StaffMember, audit: &NewAuditEvent) -> Result<()>;
    /// Writes what administrators manage about a caseworker (everything but their id,
    /// municipality and last assignment), with the change's audit event, in one transaction.
    /// A change of availability restarts `status_since`; deactivation stamps `deactivated_at`.
    async fn update_staff_member(
        &self,
        member: &StaffMember,
        now: DateTime<Utc>,
        audit: &NewAuditEvent,
    ) -> Result<()>;
    /// One municipality's SCIM groups, by display name.
    async fn staff_groups(&self, municipality: &MunicipalityCode) -> Result<Vec<StaffGroup>>;
    async fn staff_group(&self, id: &str) -> Result<Option<StaffGroup>>;
    /// Creates or replaces a SCIM group, with the audit event of the change.
    async fn put_staff_group(
        &self,
        group: &StaffGroup,
        now: DateTime<Utc>,
        audit: &NewAuditEvent,
    ) -> Result<()>;
    /// Sets availability and, when given, the working capacity (at most the admin's maximum).
    async fn set_availability(
        &self,
        id: &CaseworkerId,
        status: Availability,
        capacity: Option<u32>,
        now: DateTime<Utc>,
    ) -> Result<Caseworker>;
    /// Cases offered to or owned by the caseworker (what counts against capacity).
    async fn load_of(&self, caseworker: &CaseworkerId) -> Result<u32>;

    /// Stores a token (only its hash), with the audit event of its creation when given, in one
    /// transaction.
    async fn insert_api_token(
        &self,
        token: &NewApiToken,
        audit: Option<&NewAuditEvent>,
    ) -> Result<()>;
    /// A live token (not expired, not revoked) by the hash of its secret.
    async fn api_token(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<ApiToken>>;
    async fn integration_tokens(&self) -> Result<Vec<ApiToken>>;
    /// Revokes a live token, with the audit event when given, in one transaction; `false` if
    /// there is no such live token (and nothing is written).
    async fn revoke_api_token(
        &self,
        id: &str,
        at: DateTime<Utc>,
        audit: Option<&NewAuditEvent>,
    ) -> Result<bool>;
    /// Revokes every token issued to a browser login (at logout).
    async fn revoke_session_tokens(&self, login_id: &str, at: DateTime<Utc>) -> Result<()>;

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
    /// Deletes every browser session that expired by `now` (they hold who was logged in and
    /// their ID token; R17). Returns how many.
    async fn delete_expired_web_sessions(&self, now: DateTime<Utc>) -> Result<u64>;

    /// Inserts a routed request as a case, with its consent, first message, permits, routing
    /// trace and audit event, in one transaction.
    async fn create_case(&self, case: &NewCase, audit: &NewAuditEvent) -> Result<Case>;
    async fn case(&self, id: &CaseId) -> Result<Option<Case>>;
    async fn messages(&self, case_id: &CaseId) -> Result<Vec<Message>>;
    /// Every consent of the case, oldest first (R9: the history is kept).
    async fn consents(&self, case_id: &CaseId) -> Result<Vec<ConsentEntry>>;
    async fn harm_assessments(&self, case_id: &CaseId) -> Result<Vec<HarmAssessmentEntry>>;
    /// The free-text notes kept with the case (transfer reasons), oldest first.
    async fn notes(&self, case_id: &CaseId) -> Result<Vec<CaseNote>>;
    /// Applies `event` through the domain's state machine under the case's lock (and, for an
    /// event that takes capacity, the caseworker's), then — if given — decides again with
    /// `recheck` on the case as locked, and commits the change with `write`. Nothing is written
    /// when either refuses.
    async fn transition(
        &self,
        case_id: &CaseId,
        event: &CaseEvent,
        write: &CaseWrite,
        recheck: Option<&Recheck>,
    ) -> Result<Transitioned>;
    /// Commits `write` (consent, harm assessment, permits, routing, trace, audit) under the
    /// case's lock without a change of state; the state must still be `expected`, and
    /// `recheck` (if given) must still allow it.
    async fn amend(
        &self,
        case_id: &CaseId,
        expected: CaseState,
        write: &CaseWrite,
        recheck: Option<&Recheck>,
    ) -> Result<Case>;
    /// Open cases (offered, assigned, waiting for the citizen) held outside their home.
    async fn cross_border_open(&self) -> Result<Vec<Case>>;
    /// Queued cases that `municipality` may take at the ring each has reached (and, for a
    /// transferred case, only its target), most urgent and oldest first.
    async fn queue(&self, municipality: &MunicipalityCode, limit: u32) -> Result<Vec<Case>>;
    /// Every queued case, most urgent and oldest first: the scheduler's work list.
    async fn queued(&self, limit: u32) -> Result<Vec<Case>>;
    async fn permits(&self, case_id: &CaseId) -> Result<Vec<Permit>>;
    /// Re-routes a queued case (wider ring, interpreter flag) if it is still queued in
    /// `expected_ring`; commits with its trace and audit event. `false` if something else
    /// changed the case first.
    async fn update_routing(
        &self,
        case_id: &CaseId,
        expected_ring: i64,
        routing: &RoutingWrite,
        trace: &serde_json::Value,
        audit: &NewAuditEvent,
    ) -> Result<bool>;

    /// Every caseworker with the number of cases they hold (offered or owned).
    async fn staff(&self) -> Result<Vec<(Caseworker, u32)>>;
    /// Cross-border cases (handler ≠ home) assigned since `since`: (handling municipality,
    /// category, count).
    async fn cross_border_since(&self, since: DateTime<Utc>) -> Result<Vec<(String, String, i64)>>;
    /// The caseworker who last had a case of this citizen (continuity).
    async fn previous_caseworker(
        &self,
        personnummer: &Personnummer,
    ) -> Result<Option<CaseworkerId>>;

    async fn offer(&self, id: &OfferId) -> Result<Option<Offer>>;
    /// Unended offers of the caseworker, oldest first.
    async fn open_offers(&self, caseworker: &CaseworkerId) -> Result<Vec<Offer>>;
    /// Unended offers whose time ran out by `now`.
    async fn expired_offers(&self, now: DateTime<Utc>) -> Result<Vec<Offer>>;
    /// The offer of a case that is open now, if any.
    async fn open_offer_of_case(&self, case_id: &CaseId) -> Result<Option<Offer>>;
    /// Caseworkers who rejected or let lapse an offer of this case since `since`.
    async fn declined(&self, case_id: &CaseId, since: DateTime<Utc>) -> Result<Vec<CaseworkerId>>;
    /// Offers by outcome (`open` for unended ones).
    async fn offer_counts(&self) -> Result<Vec<(String, i64)>>;

    /// The stored settings (categories without an entry use the defaults).
    async fn routing_settings(&self) -> Result<Vec<CategoryRouting>>;
    /// Stores settings for the categories given, with the change's audit event, in one
    /// transaction.
    async fn put_routing_settings(
        &self,
        settings: &[CategoryRouting],
        audit: &NewAuditEvent,
    ) -> Result<()>;
    async fn traces(&self, case_id: &CaseId) -> Result<Vec<RoutingTrace>>;
    /// Open cases offered to or owned by the caseworker, oldest first.
    async fn cases_of_owner(&self, caseworker: &CaseworkerId) -> Result<Vec<Case>>;
    /// All requests of one identified citizen (by number, or by eIDAS subject), newest first.
    async fn cases_of_citizen(&self, citizen: CitizenRef<'_>) -> Result<Vec<Case>>;
    /// Records that the case's citizen (or its anonymous visitor) opened it at `at`.
    async fn mark_citizen_read(&self, case_id: &CaseId, at: DateTime<Utc>) -> Result<()>;
    /// The case's progress as its citizen's pages show it ([`CaseActivity`]).
    async fn case_activity(&self, case_id: &CaseId) -> Result<CaseActivity>;

    async fn policy_versions(&self) -> Result<Vec<PolicyVersion>>;
    async fn policy_version(&self, version: i64) -> Result<Option<PolicyVersion>>;
    async fn active_policy_version(&self) -> Result<Option<PolicyVersion>>;
    /// Stores a new version (the next number), with its audit event when given, and returns
    /// its number; `activate` makes it the active one at once (only for the first, shipped
    /// version).
    async fn insert_policy_version(
        &self,
        policies: &str,
        tests: &str,
        author: &str,
        at: DateTime<Utc>,
        activate: bool,
        audit: Option<&NewAuditEvent>,
    ) -> Result<i64>;
    /// Makes `version` the active one, with its audit event, in one transaction.
    async fn activate_policy_version(
        &self,
        version: i64,
        by: &str,
        audit: &NewAuditEvent,
    ) -> Result<()>;

    /// Audit events for reads, listings and refusals (writes append theirs inside their
    /// transaction). Every append seals the event into its municipality's chain under the
    /// head's lock.
    async fn append_audit(&self, event: &NewAuditEvent) -> Result<()>;
    async fn audit_events(&self, case_id: Option<&CaseId>, limit: u32) -> Result<Vec<AuditEntry>>;
    async fn audit_query(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>>;
    /// Open cases (queued, assigned, waiting for the citizen) last changed before `before`.
    async fn inactive_cases(&self, before: DateTime<Utc>) -> Result<Vec<Case>>;
    /// Every case created at or after `since`, oldest first (the policy impact replay).
    async fn cases_created_since(&self, since: DateTime<Utc>) -> Result<Vec<Case>>;
    /// Closed and cancelled cases not yet thinned, oldest activity first.
    async fn retention_candidates(&self) -> Result<Vec<Case>>;
    /// Removes a closed case's personal data (messages, identity, harm assessments, notes and
    /// other free text, routing traces), keeps what statistics and the audit trail need — the
    /// protection level included, so R11 still governs what remains — and audits it, in one
    /// transaction. `false` if it was thinned already or is not closed.
    async fn thin_case(&self, case_id: &CaseId, audit: &NewAuditEvent) -> Result<bool>;
    /// Ids of the cases about a citizen with protected identity (R11).
    async fn protected_case_ids(&self) -> Result<Vec<CaseId>>;
    /// Seals the events written before the chain existed, once. Returns how many.
    async fn seal_legacy_audit(&self) -> Result<u32>;
    /// Every municipality with a chain (events or a head).
    async fn audit_chains(&self) -> Result<Vec<String>>;
    /// One chain in order (`seq`; unsealed rows last).
    async fn audit_chain(&self, municipality: &str) -> Result<Vec<AuditEntry>>;
    async fn audit_head(&self, municipality: &str) -> Result<Option<(i64, String)>>;
    async fn latest_checkpoint(&self, municipality: &str) -> Result<Option<(i64, String)>>;
    /// Copies every chain head into the checkpoints.
    async fn write_audit_checkpoints(&self, at: DateTime<Utc>) -> Result<()>;
}

/// How a caseworker is found in their municipality besides their id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StaffKey<'a> {
    /// The `sub` of their staff login.
    Subject(&'a str),
    /// SCIM `userName` (compared without regard to case, RFC 7643 §4.1).
    UserName(&'a str),
    /// SCIM `externalId`.
    ExternalId(&'a str),
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

//! The SQLite and PostgreSQL stores. One macro writes both, so the two can never drift apart:
//! the SQL text is shared, and only the opening of a write transaction and the row-lock suffix
//! differ (see the module documentation of `store`).

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::SqlStr;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::types::Json;

use crate::audit::{self, AuditEntry, AuditKey};

use super::records::{
    ActivityRow, ApiTokenRow, AuditRow, CaseRow, CaseworkerRow, ConsentRow, HarmAssessmentRow,
    MessageRow, NoteRow, OfferRow, PermitRow, PolicyVersionRow, RoutingSettingsRow, StaffGroupRow,
    StaffMemberRow, TraceRow,
};
use super::{
    AgreementWrite, AuditFilter, CaseActivity, CaseWrite, FederationChange, NewApiToken,
    NewAuditEvent, NewCase, OfferWrite, Recheck, Result, RoutingWrite, StaffKey, Store, StoreError,
    Transitioned,
};
use crate::domain::access::ApiToken;
use crate::domain::case::{
    self, Case, CaseEvent, CaseNote, CaseState, ConsentEntry, HarmAssessmentEntry, Load, Message,
    Offer, OfferOutcome, OwnerChange, RoutingTrace, Transition, TransitionError,
};
use crate::domain::federation::{
    Agreement, AgreementState, AgreementVersion, Category, CategoryKind, Federation, Municipality,
};
use crate::domain::governance::PolicyVersion;
use crate::domain::ids::{CaseId, CaseworkerId, CategoryId, Language, MunicipalityCode, OfferId};
use crate::domain::people::{Availability, Caseworker, CitizenRef, StaffGroup, StaffMember};
use crate::domain::personnummer::Personnummer;
use crate::domain::routing::{CategoryRouting, Permit};

/// Migrations compiled into the binary, so an installed `brygga` needs no files beside it.
#[derive(Debug)]
struct Embedded(&'static [(i64, &'static str, &'static str)]);

impl MigrationSource<'static> for Embedded {
    fn resolve(
        self,
    ) -> Pin<
        Box<
            dyn Future<
                    Output = std::result::Result<
                        Vec<Migration>,
                        Box<dyn std::error::Error + Send + Sync>,
                    >,
                > + Send,
        >,
    > {
        let migrations = self
            .0
            .iter()
            .map(|(version, description, sql)| {
                Migration::new(
                    *version,
                    Cow::Borrowed(*description),
                    MigrationType::Simple,
                    SqlStr::from_static(sql),
                    false,
                )
            })
            .collect();
        Box::pin(async move { Ok(migrations) })
    }
}

const SQLITE_MIGRATIONS: Embedded = Embedded(&[
    (
        1,
        "foundation",
        include_str!("../../migrations/sqlite/0001_foundation.sql"),
    ),
    (
        2,
        "router",
        include_str!("../../migrations/sqlite/0002_router.sql"),
    ),
    (
        3,
        "policies",
        include_str!("../../migrations/sqlite/0003_policies.sql"),
    ),
    (
        4,
        "identity",
        include_str!("../../migrations/sqlite/0004_identity.sql"),
    ),
    (
        5,
        "audit",
        include_str!("../../migrations/sqlite/0005_audit.sql"),
    ),
    (
        6,
        "retention",
        include_str!("../../migrations/sqlite/0006_retention.sql"),
    ),
    (
        7,
        "federation order",
        include_str!("../../migrations/sqlite/0007_federation_order.sql"),
    ),
    (
        8,
        "legal corrections",
        include_str!("../../migrations/sqlite/0008_legal_corrections.sql"),
    ),
    (
        9,
        "citizen reads",
        include_str!("../../migrations/sqlite/0009_citizen_reads.sql"),
    ),
    (
        10,
        "administrators",
        include_str!("../../migrations/sqlite/0010_administrators.sql"),
    ),
    (
        11,
        "staff",
        include_str!("../../migrations/sqlite/0011_staff.sql"),
    ),
    (
        12,
        "federation changes",
        include_str!("../../migrations/sqlite/0012_federation_changes.sql"),
    ),
]);

const POSTGRES_MIGRATIONS: Embedded = Embedded(&[
    (
        1,
        "foundation",
        include_str!("../../migrations/postgres/0001_foundation.sql"),
    ),
    (
        2,
        "router",
        include_str!("../../migrations/postgres/0002_router.sql"),
    ),
    (
        3,
        "policies",
        include_str!("../../migrations/postgres/0003_policies.sql"),
    ),
    (
        4,
        "identity",
        include_str!("../../migrations/postgres/0004_identity.sql"),
    ),
    (
        5,
        "audit",
        include_str!("../../migrations/postgres/0005_audit.sql"),
    ),
    (
        6,
        "retention",
        include_str!("../../migrations/postgres/0006_retention.sql"),
    ),
    (
        7,
        "federation order",
        include_str!("../../migrations/postgres/0007_federation_order.sql"),
    ),
    (
        8,
        "legal corrections",
        include_str!("../../migrations/postgres/0008_legal_corrections.sql"),
    ),
    (
        9,
        "citizen reads",
        include_str!("../../migrations/postgres/0009_citizen_reads.sql"),
    ),
    (
        10,
        "administrators",
        include_str!("../../migrations/postgres/0010_administrators.sql"),
    ),
    (
        11,
        "staff",
        include_str!("../../migrations/postgres/0011_staff.sql"),
    ),
    (
        12,
        "federation changes",
        include_str!("../../migrations/postgres/0012_federation_changes.sql"),
    ),
]);

pub struct SqliteStore {
    pool: SqlitePool,
    audit_key: Option<AuditKey>,
}

impl SqliteStore {
    pub async fn connect(
        url: &str,
        max_connections: u32,
        audit_key: Option<AuditKey>,
    ) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            // Writers queue behind each other's `BEGIN IMMEDIATE` instead of failing at once.
            .busy_timeout(Duration::from_secs(30));
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .connect_with(options)
            .await?;
        Migrator::new(SQLITE_MIGRATIONS).await?.run(&pool).await?;
        Ok(SqliteStore { pool, audit_key })
    }
}

pub struct PostgresStore {
    pool: PgPool,
    audit_key: Option<AuditKey>,
}

impl PostgresStore {
    pub async fn connect(
        url: &str,
        max_connections: u32,
        audit_key: Option<AuditKey>,
    ) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .connect_with(options)
            .await?;
        Migrator::new(POSTGRES_MIGRATIONS).await?.run(&pool).await?;
        Ok(PostgresStore { pool, audit_key })
    }
}

#[derive(sqlx::FromRow)]
struct StaffRow {
    #[sqlx(flatten)]
    caseworker: CaseworkerRow,
    open_cases: i64,
}

/// Rows into the domain's values; the first row that breaks the domain's rules is an error.
fn convert<R, T>(rows: Vec<R>) -> Result<Vec<T>>
where
    T: TryFrom<R, Error = StoreError>,
{
    rows.into_iter().map(T::try_from).collect()
}

#[derive(sqlx::FromRow)]
struct FederationRow {
    id: String,
    name: String,
    languages: Json<Vec<String>>,
}

#[derive(sqlx::FromRow)]
struct MunicipalityRow {
    code: String,
    name: String,
    population: i64,
    socialjour_phone: Option<String>,
    keeps_home: Json<Vec<String>>,
}

#[derive(sqlx::FromRow)]
struct AgreementVersionRow {
    agreement_id: String,
    version: i64,
    state: String,
    body: Json<Agreement>,
    note: Option<String>,
    author: String,
    author_name: Option<String>,
    created_at: DateTime<Utc>,
    signed_by: Option<String>,
    signed_by_name: Option<String>,
    signed_at: Option<DateTime<Utc>>,
}

impl TryFrom<AgreementVersionRow> for AgreementVersion {
    type Error = StoreError;

    fn try_from(r: AgreementVersionRow) -> Result<AgreementVersion> {
        Ok(AgreementVersion {
            state: AgreementState::parse(&r.state).ok_or_else(|| corrupt(&r.state))?,
            agreement_id: r.agreement_id,
            version: r.version,
            agreement: r.body.0,
            note: r.note,
            author: r.author,
            author_name: r.author_name,
            created_at: r.created_at,
            signed_by: r.signed_by,
            signed_by_name: r.signed_by_name,
            signed_at: r.signed_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct CategoryRow {
    id: String,
    kind: String,
    urgent: bool,
    must_stay_home: bool,
    family_counselling: bool,
    record_identity: bool,
    name_sv: String,
    name_en: String,
}

#[derive(sqlx::FromRow)]
struct AgreementRow {
    id: String,
    members: Json<Vec<String>>,
    categories: Json<Vec<String>>,
    valid_from: NaiveDate,
    valid_to: NaiveDate,
    delegates_authority: bool,
    covers_minors: bool,
    names_family_counselling: bool,
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

fn build_federation(
    header: FederationRow,
    municipalities: Vec<MunicipalityRow>,
    categories: Vec<CategoryRow>,
    agreements: Vec<AgreementRow>,
) -> Result<Federation> {
    let codes = |list: &[String]| {
        list.iter()
            .map(|c| MunicipalityCode::parse(c).map_err(corrupt))
            .collect::<Result<Vec<_>>>()
    };
    let federation = Federation {
        id: header.id,
        name: header.name,
        languages: header
            .languages
            .iter()
            .map(|l| Language::parse(l).map_err(corrupt))
            .collect::<Result<_>>()?,
        municipalities: municipalities
            .into_iter()
            .map(|m| {
                Ok(Municipality {
                    code: MunicipalityCode::parse(&m.code).map_err(corrupt)?,
                    name: m.name,
                    population: u32::try_from(m.population).map_err(corrupt)?,
                    socialjour_phone: m.socialjour_phone,
                    keeps_home: m
                        .keeps_home
                        .iter()
                        .map(|c| CategoryId::parse(c).map_err(corrupt))
                        .collect::<Result<_>>()?,
                })
            })
            .collect::<Result<_>>()?,
        categories: categories
            .into_iter()
            .map(|c| {
                Ok(Category {
                    id: CategoryId::parse(&c.id).map_err(corrupt)?,
                    kind: CategoryKind::try_from(c.kind).map_err(corrupt)?,
                    urgent: c.urgent,
                    must_stay_home: c.must_stay_home,
                    family_counselling: c.family_counselling,
                    record_identity: c.record_identity,
                    sv: c.name_sv,
                    en: c.name_en,
                })
            })
            .collect::<Result<_>>()?,
        agreements: agreements
            .into_iter()
            .map(|a| {
                Ok(Agreement {
                    id: a.id,
                    members: codes(&a.members)?,
                    categories: a
                        .categories
                        .iter()
                        .map(|c| CategoryId::parse(c).map_err(corrupt))
                        .collect::<Result<_>>()?,
                    valid_from: a.valid_from,
                    valid_to: a.valid_to,
                    delegates_authority: a.delegates_authority,
                    covers_minors: a.covers_minors,
                    names_family_counselling: a.names_family_counselling,
                })
            })
            .collect::<Result<_>>()?,
    };
    federation.check().map_err(corrupt)?;
    Ok(federation)
}

fn count(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

/// The row a case moves to, computed from the transition outside any SQL.
struct NextRow {
    state: CaseState,
    owner: Option<String>,
    handler: Option<String>,
    outcome: Option<String>,
    queued_since: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
}

fn next_row(
    case: &Case,
    transition: &Transition,
    new_owner_municipality: Option<String>,
    write: &CaseWrite,
) -> NextRow {
    let (owner, handler) = match &transition.owner {
        OwnerChange::Keep => (
            case.owner.as_ref().map(|o| o.as_str().to_owned()),
            case.handler.as_ref().map(|h| h.as_str().to_owned()),
        ),
        OwnerChange::Set(who) => (Some(who.as_str().to_owned()), new_owner_municipality),
        OwnerChange::Clear => (None, None),
    };
    NextRow {
        state: transition.to,
        owner,
        handler,
        outcome: write
            .outcome
            .or(case.outcome)
            .map(|o| o.as_str().to_owned()),
        queued_since: if transition.requeued {
            write.at
        } else {
            case.queued_since
        },
        closed_at: if transition.to.is_final() {
            Some(write.at)
        } else {
            case.closed_at
        },
    }
}

macro_rules! sql_store {
    ($store:ident, $conn:ty, backend = $backend:literal, begin_write = $begin:literal, for_update = $lock:literal) => {
        impl $store {
            fn key(&self) -> Result<&AuditKey> {
                self.audit_key
                    .as_ref()
                    .ok_or_else(|| StoreError::Invalid("no audit key: audit events cannot be sealed".into()))
            }

            /// Inserts a caseworker's row: what routing reads of them, and whether they are
            /// active and the keys their login and provisioning client find them by.
            async fn insert_caseworker_row(conn: &mut $conn, m: &StaffMember) -> Result<()> {
                let c = &m.caseworker;
                let skills: Vec<&str> = c.skills.iter().map(|s| s.as_str()).collect();
                let languages: Vec<&str> = c.languages.iter().map(|l| l.as_str()).collect();
                sqlx::query(
                    "INSERT INTO caseworkers (id, municipality, name, skills, languages, max_capacity, \
                     capacity, status, protected_identity_clearance, status_since, last_assigned_at, \
                     supervisor, active, subject, user_name, external_id) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
                )
                .bind(c.id.as_str())
                .bind(c.municipality.as_str())
                .bind(&c.name)
                .bind(Json(&skills))
                .bind(Json(&languages))
                .bind(i64::from(c.max_capacity))
                .bind(i64::from(c.capacity))
                .bind(c.status.as_str())
                .bind(c.protected_identity_clearance)
                .bind(c.status_since)
                .bind(c.last_assigned_at)
                .bind(c.supervisor)
                .bind(m.active)
                .bind(&m.subject)
                .bind(&m.user_name)
                .bind(&m.external_id)
                .execute(&mut *conn)
                .await?;
                Ok(())
            }

            /// Writes the federation's members, categories and agreements as given: each
            /// row inserted or updated in the given order, and rows no longer in it removed
            /// (a member or category that cases or staff still name cannot be: `Constraint`).
            async fn write_federation(conn: &mut $conn, federation: &Federation) -> Result<()> {
                for (position, m) in federation.municipalities.iter().enumerate() {
                    let keeps_home: Vec<&str> = m.keeps_home.iter().map(|c| c.as_str()).collect();
                    sqlx::query(
                        "INSERT INTO municipalities (code, name, population, socialjour_phone, position, keeps_home) \
                         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (code) DO UPDATE SET \
                         name = excluded.name, population = excluded.population, \
                         socialjour_phone = excluded.socialjour_phone, position = excluded.position, \
                         keeps_home = excluded.keeps_home",
                    )
                    .bind(m.code.as_str())
                    .bind(&m.name)
                    .bind(i64::from(m.population))
                    .bind(&m.socialjour_phone)
                    .bind(i64::try_from(position).unwrap_or(i64::MAX))
                    .bind(Json(&keeps_home))
                    .execute(&mut *conn)
                    .await?;
                }
                for (position, c) in federation.categories.iter().enumerate() {
                    sqlx::query(
                        "INSERT INTO categories (id, position, kind, urgent, must_stay_home, \
                         family_counselling, name_sv, name_en, record_identity) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO UPDATE SET \
                         position = excluded.position, kind = excluded.kind, urgent = excluded.urgent, \
                         must_stay_home = excluded.must_stay_home, \
                         family_counselling = excluded.family_counselling, name_sv = excluded.name_sv, \
                         name_en = excluded.name_en, record_identity = excluded.record_identity",
                    )
                    .bind(c.id.as_str())
                    .bind(i64::try_from(position).unwrap_or(i64::MAX))
                    .bind(c.kind.as_str())
                    .bind(c.urgent)
                    .bind(c.must_stay_home)
                    .bind(c.family_counselling)
                    .bind(&c.sv)
                    .bind(&c.en)
                    .bind(c.record_identity)
                    .execute(&mut *conn)
                    .await?;
                }
                for (position, a) in federation.agreements.iter().enumerate() {
                    let members: Vec<&str> = a.members.iter().map(|m| m.as_str()).collect();
                    let categories: Vec<&str> = a.categories.iter().map(|c| c.as_str()).collect();
                    sqlx::query(
                        "INSERT INTO agreements (id, members, categories, valid_from, valid_to, \
                         delegates_authority, covers_minors, names_family_counselling, position) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO UPDATE SET \
                         members = excluded.members, categories = excluded.categories, \
                         valid_from = excluded.valid_from, valid_to = excluded.valid_to, \
                         delegates_authority = excluded.delegates_authority, \
                         covers_minors = excluded.covers_minors, \
                         names_family_counselling = excluded.names_family_counselling, \
                         position = excluded.position",
                    )
                    .bind(&a.id)
                    .bind(Json(&members))
                    .bind(Json(&categories))
                    .bind(a.valid_from)
                    .bind(a.valid_to)
                    .bind(a.delegates_authority)
                    .bind(a.covers_minors)
                    .bind(a.names_family_counselling)
                    .bind(i64::try_from(position).unwrap_or(i64::MAX))
                    .execute(&mut *conn)
                    .await?;
                }
                // What is no longer in the federation goes, agreements first (they name the
                // others).
                let agreements: Vec<&str> = federation.agreements.iter().map(|a| a.id.as_str()).collect();
                for id in sqlx::query_scalar::<_, String>("SELECT id FROM agreements")
                    .fetch_all(&mut *conn)
                    .await?
                {
                    if !agreements.contains(&id.as_str()) {
                        sqlx::query("DELETE FROM agreements WHERE id = $1").bind(&id).execute(&mut *conn).await?;
                    }
                }
                for id in sqlx::query_scalar::<_, String>("SELECT id FROM categories")
                    .fetch_all(&mut *conn)
                    .await?
                {
                    if federation.category(&id).is_none() {
                        sqlx::query("DELETE FROM routing_settings WHERE category = $1").bind(&id).execute(&mut *conn).await?;
                        sqlx::query("DELETE FROM categories WHERE id = $1").bind(&id).execute(&mut *conn).await?;
                    }
                }
                for code in sqlx::query_scalar::<_, String>("SELECT code FROM municipalities")
                    .fetch_all(&mut *conn)
                    .await?
                {
                    if !federation.municipalities.iter().any(|m| m.code.as_str() == code) {
                        sqlx::query("DELETE FROM municipalities WHERE code = $1").bind(&code).execute(&mut *conn).await?;
                    }
                }
                Ok(())
            }

            async fn insert_agreement_version(conn: &mut $conn, v: &AgreementVersion) -> Result<()> {
                sqlx::query(
                    "INSERT INTO agreement_versions (agreement_id, version, state, body, note, author, \
                     author_name, created_at, signed_by, signed_by_name, signed_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(&v.agreement_id)
                .bind(v.version)
                .bind(v.state.as_str())
                .bind(Json(&v.agreement))
                .bind(&v.note)
                .bind(&v.author)
                .bind(&v.author_name)
                .bind(v.created_at)
                .bind(&v.signed_by)
                .bind(&v.signed_by_name)
                .bind(v.signed_at)
                .execute(&mut *conn)
                .await?;
                Ok(())
            }

            /// Appends `event` to its municipality's chain: the head is taken under a lock,
            /// the event sealed with the previous MAC, and the head moved, in the caller's
            /// transaction.
            async fn insert_audit(conn: &mut $conn, key: &AuditKey, event: &NewAuditEvent) -> Result<()> {
                let (seq, prev) = Self::chain_next(conn, &event.municipality).await?;
                let at = audit::chain_time(event.at);
                let actor = event.actor.to_string();
                let role = event.actor.role();
                let actor_municipality = event.actor_municipality.as_ref().map(|m| m.as_str());
                let case_id = event.case_id.as_ref().map(|c| c.as_str());
                let mac = audit::seal(
                    key,
                    &audit::Sealed {
                        municipality: &event.municipality,
                        seq,
                        at,
                        actor: &actor,
                        role,
                        actor_municipality,
                        action: &event.action,
                        case_id,
                        policies: &event.policies,
                        detail: &event.detail,
                        request_id: event.request_id.as_deref(),
                        actor_name: event.actor_name.as_deref(),
                    },
                    &prev,
                );
                sqlx::query(
                    "INSERT INTO audit_events (at, actor, actor_municipality, municipality, action, \
                     case_id, policies, detail, seq, role, request_id, prev_mac, mac, actor_name) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                )
                .bind(at)
                .bind(&actor)
                .bind(actor_municipality)
                .bind(&event.municipality)
                .bind(&event.action)
                .bind(case_id)
                .bind(Json(&event.policies))
                .bind(Json(&event.detail))
                .bind(seq)
                .bind(role)
                .bind(&event.request_id)
                .bind(&prev)
                .bind(&mac)
                .bind(&event.actor_name)
                .execute(&mut *conn)
                .await?;
                Self::chain_advance(conn, &event.municipality, seq, &mac).await
            }

            /// The next position in a municipality's chain and the MAC it links to, with the
            /// chain's head locked until the transaction ends (created at 0 if new).
            async fn chain_next(conn: &mut $conn, municipality: &str) -> Result<(i64, String)> {
                sqlx::query(
                    "INSERT INTO audit_heads (municipality, seq, mac) VALUES ($1, 0, '') \
                     ON CONFLICT (municipality) DO NOTHING",
                )
                .bind(municipality)
                .execute(&mut *conn)
                .await?;
                let (seq, prev): (i64, String) = sqlx::query_as(concat!(
                    "SELECT seq, mac FROM audit_heads WHERE municipality = $1",
                    $lock
                ))
                .bind(municipality)
                .fetch_one(&mut *conn)
                .await?;
                Ok((seq + 1, prev))
            }

            async fn chain_advance(conn: &mut $conn, municipality: &str, seq: i64, mac: &str) -> Result<()> {
                sqlx::query("UPDATE audit_heads SET seq = $2, mac = $3 WHERE municipality = $1")
                    .bind(municipality)
                    .bind(seq)
                    .bind(mac)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            }

            async fn insert_message(
                conn: &mut $conn,
                case_id: &str,
                message: &super::NewMessage,
                at: DateTime<Utc>,
            ) -> Result<()> {
                sqlx::query(
                    "INSERT INTO messages (case_id, sender, author, body, at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(case_id)
                .bind(message.sender.as_str())
                .bind(message.author.as_ref().map(|a| a.as_str()))
                .bind(&message.body)
                .bind(at)
                .execute(&mut *conn)
                .await?;
                Ok(())
            }

            async fn insert_trace(
                conn: &mut $conn,
                case_id: &str,
                trace: &serde_json::Value,
                at: DateTime<Utc>,
            ) -> Result<()> {
                sqlx::query("INSERT INTO routing_traces (case_id, at, trace) VALUES ($1, $2, $3)")
                    .bind(case_id)
                    .bind(at)
                    .bind(Json(trace))
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            }

            async fn select_case(conn: &mut $conn, id: &str, lock: bool) -> Result<Option<Case>> {
                let sql = if lock {
                    concat!(
                        "SELECT * FROM cases WHERE id = $1",
                        $lock
                    )
                } else {
                    "SELECT * FROM cases WHERE id = $1"
                };
                sqlx::query_as::<_, CaseRow>(sql)
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await?
                    .map(Case::try_from)
                    .transpose()
            }

            async fn write_routing(
                conn: &mut $conn,
                current: &Case,
                routing: &RoutingWrite,
                at: DateTime<Utc>,
            ) -> Result<()> {
                let ring = routing.ring.unwrap_or(current.ring);
                let ring_since = if ring != current.ring { Some(at) } else { current.ring_since };
                let target = match &routing.target_municipality {
                    Some(target) => target.clone(),
                    None => current.target_municipality.clone(),
                };
                sqlx::query(
                    "UPDATE cases SET ring = $2, ring_since = $3, interpreter_needed = $4, \
                     target_municipality = $5, transfer_reason = $6 WHERE id = $1",
                )
                .bind(current.id.as_str())
                .bind(ring)
                .bind(ring_since)
                .bind(routing.interpreter_needed.unwrap_or(current.interpreter_needed))
                .bind(target.as_ref().map(|t| t.as_str()))
                .bind(routing.transfer_reason.clone().or_else(|| current.transfer_reason.clone()))
                .execute(&mut *conn)
                .await?;
                Ok(())
            }

            /// What a write carries besides a change of state: consent, harm assessment,
            /// permits, routing, message, trace and the audit event.
            async fn write_extras(
                conn: &mut $conn,
                key: &AuditKey,
                current: &Case,
                write: &CaseWrite,
                ground: Option<Vec<String>>,
            ) -> Result<()> {
                let case_id = current.id.as_str();
                if let Some(consent) = &write.consent {
                    let municipalities = consent
                        .consent
                        .municipalities
                        .as_ref()
                        .map(|list| Json(list.iter().map(|m| m.as_str()).collect::<Vec<_>>()));
                    sqlx::query(
                        "INSERT INTO consents (case_id, cross_municipality, municipalities, at, actor) \
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(case_id)
                    .bind(consent.consent.cross_municipality)
                    .bind(&municipalities)
                    .bind(write.at)
                    .bind(consent.actor.as_str())
                    .execute(&mut *conn)
                    .await?;
                    sqlx::query(
                        "UPDATE cases SET consent_cross_municipality = $2, consent_municipalities = $3 \
                         WHERE id = $1",
                    )
                    .bind(case_id)
                    .bind(consent.consent.cross_municipality)
                    .bind(&municipalities)
                    .execute(&mut *conn)
                    .await?;
                }
                let mut audit = write.audit.clone();
                if let Some(harm) = &write.harm_assessment {
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO harm_assessments (case_id, caseworker_id, cross_border_ok, reason, at) \
                         VALUES ($1, $2, $3, $4, $5) RETURNING id",
                    )
                    .bind(case_id)
                    .bind(harm.caseworker.as_str())
                    .bind(harm.assessment == case::HarmAssessment::CrossBorderOk)
                    .bind(&harm.reason)
                    .bind(write.at)
                    .fetch_one(&mut *conn)
                    .await?;
                    // The trail names the assessment; its reason stays with the case (R17).
                    if let Some(detail) = audit.detail.as_object_mut() {
                        detail.insert("assessment".into(), serde_json::json!(id));
                    }
                    sqlx::query("UPDATE cases SET harm_assessment = $2 WHERE id = $1")
                        .bind(case_id)
                        .bind(harm.assessment.as_str())
                        .execute(&mut *conn)
                        .await?;
                }
                if let Some(protection) = write.protection {
                    sqlx::query("UPDATE cases SET citizen_protection = $2 WHERE id = $1")
                        .bind(case_id)
                        .bind(protection.as_str())
                        .execute(&mut *conn)
                        .await?;
                }
                if let Some(permits) = &write.permits {
                    Self::insert_permits(conn, case_id, permits, true).await?;
                }
                if let Some(routing) = &write.routing {
                    Self::write_routing(conn, current, routing, write.at).await?;
                }
                if let Some(message) = &write.message {
                    Self::insert_message(conn, case_id, message, write.at).await?;
                }
                if let Some(trace) = &write.trace {
                    Self::insert_trace(conn, case_id, trace, write.at).await?;
                }
                if let Some(note) = &write.note {
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO case_notes (case_id, kind, body, author, at) \
                         VALUES ($1, $2, $3, $4, $5) RETURNING id",
                    )
                    .bind(case_id)
                    .bind(note.kind.as_str())
                    .bind(&note.body)
                    .bind(&note.author)
                    .bind(write.at)
                    .fetch_one(&mut *conn)
                    .await?;
                    // The trail names the note; its text stays with the case (R17).
                    if let Some(detail) = audit.detail.as_object_mut() {
                        detail.insert("note".into(), serde_json::json!(id));
                    }
                }
                audit.at = write.at;
                audit.case_id = Some(current.id.clone());
                audit.municipality = current.home.as_str().to_owned();
                if let Some(ground) = ground.filter(|g| !g.is_empty()) {
                    // The ground decided under the lock is the one that held when it was written.
                    audit.policies = ground;
                }
                Self::insert_audit(conn, key, &audit).await
            }

            async fn insert_permits(
                conn: &mut $conn,
                case_id: &str,
                permits: &[Permit],
                replace: bool,
            ) -> Result<()> {
                if replace {
                    sqlx::query("DELETE FROM case_permits WHERE case_id = $1")
                        .bind(case_id)
                        .execute(&mut *conn)
                        .await?;
                }
                for permit in permits {
                    sqlx::query(
                        "INSERT INTO case_permits (case_id, municipality, ring, policies) VALUES ($1, $2, $3, $4)",
                    )
                    .bind(case_id)
                    .bind(permit.municipality.as_str())
                    .bind(permit.ring)
                    .bind(Json(&permit.policies))
                    .execute(&mut *conn)
                    .await?;
                }
                Ok(())
            }

            async fn count_load(conn: &mut $conn, caseworker: &str) -> Result<u32> {
                let n: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM cases WHERE owner = $1 \
                     AND state IN ('offered', 'assigned', 'waiting_citizen')",
                )
                .bind(caseworker)
                .fetch_one(&mut *conn)
                .await?;
                Ok(count(n))
            }

            async fn cases_where(&self, sql: &'static str, bind: Option<&str>) -> Result<Vec<Case>> {
                let query = sqlx::query_as::<_, CaseRow>(sql);
                let query = match bind {
                    Some(value) => query.bind(value.to_owned()),
                    None => query,
                };
                convert(query.fetch_all(&self.pool).await?)
            }
        }

        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> &'static str {
                $backend
            }

            async fn ping(&self) -> Result<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn seed_federation(&self, federation: &Federation) -> Result<()> {
                let mut tx = self.pool.begin_with($begin).await?;
                let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM federation")
                    .fetch_one(&mut *tx)
                    .await?;
                if existing > 0 {
                    return Ok(());
                }
                let languages: Vec<&str> = federation.languages.iter().map(|l| l.as_str()).collect();
                sqlx::query("INSERT INTO federation (id, name, languages) VALUES ($1, $2, $3)")
                    .bind(&federation.id)
                    .bind(&federation.name)
                    .bind(Json(&languages))
                    .execute(&mut *tx)
                    .await?;
                Self::write_federation(&mut tx, federation).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn federation_version(&self) -> Result<i64> {
                Ok(sqlx::query_scalar::<_, i64>(
                    "SELECT COALESCE(MAX(version), 0) FROM federation_changes",
                )
                .fetch_one(&self.pool)
                .await?)
            }

            async fn change_federation(
                &self,
                federation: &Federation,
                change: &FederationChange,
                agreement: Option<&AgreementWrite>,
                audit: &NewAuditEvent,
            ) -> Result<()> {
                let mut tx = self.pool.begin_with($begin).await?;
                // The version is the key: a second change built on the same version fails here.
                sqlx::query(
                    "INSERT INTO federation_changes (version, at, actor, actor_name, item, item_id, \
                     change, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(change.version)
                .bind(change.at)
                .bind(&change.actor)
                .bind(&change.actor_name)
                .bind(change.item)
                .bind(&change.item_id)
                .bind(change.change)
                .bind(Json(&change.body))
                .execute(&mut *tx)
                .await?;
                let current: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM federation_changes")
                    .fetch_one(&mut *tx)
                    .await?;
                if current != change.version {
                    return Err(StoreError::Duplicate("federation_changes".into()));
                }
                Self::write_federation(&mut tx, federation).await?;
                if let Some(write) = agreement {
                    match &write.insert {
                        Some(version) => Self::insert_agreement_version(&mut tx, version).await?,
                        None => {
                            let signed = sqlx::query(
                                "UPDATE agreement_versions SET state = 'signed', signed_by = $3, \
                                 signed_by_name = $4, signed_at = $5 \
                                 WHERE agreement_id = $1 AND version = $2 AND state = 'draft'",
                            )
                            .bind(&write.agreement_id)
                            .bind(write.version)
                            .bind(&write.signed_by)
                            .bind(&write.signed_by_name)
                            .bind(write.at)
                            .execute(&mut *tx)
                            .await?;
                            if signed.rows_affected() != 1 {
                                return Err(StoreError::Duplicate("agreement_versions".into()));
                            }
                        }
                    }
                    sqlx::query(
                        "UPDATE agreement_versions SET state = 'superseded' \
                         WHERE agreement_id = $1 AND state = 'signed' AND version <> $2",
                    )
                    .bind(&write.agreement_id)
                    .bind(write.version)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(
                        "UPDATE agreement_versions SET state = 'discarded' \
                         WHERE agreement_id = $1 AND state = 'draft' AND version < $2",
                    )
                    .bind(&write.agreement_id)
                    .bind(write.version)
                    .execute(&mut *tx)
                    .await?;
                }
                Self::insert_audit(&mut tx, self.key()?, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn agreement_versions(&self, agreement_id: Option<&str>) -> Result<Vec<AgreementVersion>> {
                sqlx::query_as::<_, AgreementVersionRow>(
                    "SELECT * FROM agreement_versions WHERE ($1 IS NULL OR agreement_id = $1) \
                     ORDER BY agreement_id, version",
                )
                .bind(agreement_id)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(AgreementVersion::try_from)
                .collect()
            }

            async fn insert_agreement_draft(
                &self,
                draft: &AgreementVersion,
                audit: &NewAuditEvent,
            ) -> Result<()> {
                let mut tx = self.pool.begin_with($begin).await?;
                Self::insert_agreement_version(&mut tx, draft).await?;
                Self::insert_audit(&mut tx, self.key()?, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn record_agreement_origins(&self, origins: &[AgreementVersion]) -> Result<()> {
                let mut tx = self.pool.begin_with($begin).await?;
                for origin in origins {
                    let known: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM agreement_versions WHERE agreement_id = $1",
                    )
                    .bind(&origin.agreement_id)
                    .fetch_one(&mut *tx)
                    .await?;
                    if known == 0 {
                        Self::insert_agreement_version(&mut tx, origin).await?;
                    }
                }
                tx.commit().await?;
                Ok(())
            }

            async fn open_cases(&self) -> Result<Vec<Case>> {
                self.cases_where(
                    "SELECT * FROM cases WHERE state NOT IN ('closed', 'cancelled') ORDER BY created_at, id",
                    None,
                )
                .await
            }

            async fn load_federation(&self) -> Result<Option<Federation>> {
                let Some(header) = sqlx::query_as::<_, FederationRow>(
                    "SELECT id, name, languages FROM federation",
                )
                .fetch_optional(&self.pool)
                .await?
                else {
                    return Ok(None);
                };
                let municipalities = sqlx::query_as::<_, MunicipalityRow>(
                    "SELECT code, name, population, socialjour_phone, keeps_home FROM municipalities \
                     ORDER BY position, population DESC, code",
                )
                .fetch_all(&self.pool)
                .await?;
                let categories = sqlx::query_as::<_, CategoryRow>(
                    "SELECT id, kind, urgent, must_stay_home, family_counselling, record_identity, \
                     name_sv, name_en FROM categories ORDER BY position",
                )
                .fetch_all(&self.pool)
                .await?;
                let agreements = sqlx::query_as::<_, AgreementRow>(
                    "SELECT id, members, categories, valid_from, valid_to, delegates_authority, \
                     covers_minors, names_family_counselling FROM agreements ORDER BY position, id",
                )
                .fetch_all(&self.pool)
                .await?;
                build_federation(header, municipalities, categories, agreements).map(Some)
            }

            async fn insert_caseworker(&self, c: &Caseworker) -> Result<()> {
                // An active caseworker known by no login or provisioning client yet.
                let member = StaffMember {
                    caseworker: c.clone(),
                    active: true,
                    subject: None,
                    user_name: None,
                    external_id: None,
                };
                let mut conn = self.pool.acquire().await?;
                Self::insert_caseworker_row(&mut conn, &member).await
            }

            async fn caseworker(&self, id: &CaseworkerId) -> Result<Option<Caseworker>> {
                sqlx::query_as::<_, CaseworkerRow>(
                    "SELECT * FROM caseworkers WHERE id = $1 AND active",
                )
                    .bind(id.as_str())
                    .fetch_optional(&self.pool)
                    .await?
                    .map(Caseworker::try_from)
                    .transpose()
            }

            async fn caseworkers(&self) -> Result<Vec<Caseworker>> {
                convert(
                    sqlx::query_as::<_, CaseworkerRow>(
                        "SELECT * FROM caseworkers WHERE active ORDER BY municipality, id",
                    )
                    .fetch_all(&self.pool)
                    .await?,
                )
            }

            async fn staff_member(&self, id: &CaseworkerId) -> Result<Option<StaffMember>> {
                sqlx::query_as::<_, StaffMemberRow>("SELECT * FROM caseworkers WHERE id = $1")
                    .bind(id.as_str())
                    .fetch_optional(&self.pool)
                    .await?
                    .map(StaffMember::try_from)
                    .transpose()
            }

            async fn staff_members(
                &self,
                municipality: Option<&MunicipalityCode>,
            ) -> Result<Vec<StaffMember>> {
                convert(
                    sqlx::query_as::<_, StaffMemberRow>(
                        "SELECT * FROM caseworkers WHERE ($1 IS NULL OR municipality = $1) \
                         ORDER BY municipality, id",
                    )
                    .bind(municipality.map(MunicipalityCode::as_str))
                    .fetch_all(&self.pool)
                    .await?,
                )
            }

            async fn find_staff_member(
                &self,
                municipality: &MunicipalityCode,
                key: StaffKey<'_>,
            ) -> Result<Option<StaffMember>> {
                let (sql, value) = match key {
                    StaffKey::Subject(v) => (
                        "SELECT * FROM caseworkers WHERE municipality = $1 AND subject = $2 \
                         ORDER BY id LIMIT 1",
                        v,
                    ),
                    StaffKey::UserName(v) => (
                        "SELECT * FROM caseworkers WHERE municipality = $1 \
                         AND LOWER(user_name) = LOWER($2) ORDER BY id LIMIT 1",
                        v,
                    ),
                    StaffKey::ExternalId(v) => (
                        "SELECT * FROM caseworkers WHERE municipality = $1 AND external_id = $2 \
                         ORDER BY id LIMIT 1",
                        v,
                    ),
                };
                sqlx::query_as::<_, StaffMemberRow>(sql)
                    .bind(municipality.as_str())
                    .bind(value)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(StaffMember::try_from)
                    .transpose()
            }

            async fn insert_staff_member(
                &self,
                m: &StaffMember,
                audit: &NewAuditEvent,
            ) -> Result<()> {
                let mut tx = self.pool.begin_with($begin).await?;
                Self::insert_caseworker_row(&mut tx, m).await?;
                Self::insert_audit(&mut tx, self.key()?, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn update_staff_member(
                &self,
                m: &StaffMember,
                now: DateTime<Utc>,
                audit: &NewAuditEvent,
            ) -> Result<()> {
                let c = &m.caseworker;
                let skills: Vec<&str> = c.skills.iter().map(|s| s.as_str()).collect();
                let languages: Vec<&str> = c.languages.iter().map(|l| l.as_str()).collect();
                let mut tx = self.pool.begin_with($begin).await?;
                let updated = sqlx::query(
                    "UPDATE caseworkers SET name = $2, skills = $3, languages = $4, \
                     max_capacity = $5, capacity = $6, \
                     status_since = CASE WHEN status = $7 THEN status_since ELSE $13 END, \
                     status = $7, protected_identity_clearance = $8, supervisor = $9, \
                     deactivated_at = CASE WHEN $10 THEN NULL WHEN active THEN $13 \
                     ELSE deactivated_at END, \
                     active = $10, subject = $11, user_name = $12, external_id = $14 \
                     WHERE id = $1",
                )
                .bind(c.id.as_str())
                .bind(&c.name)
                .bind(Json(&skills))
                .bind(Json(&languages))
                .bind(i64::from(c.max_capacity))
                .bind(i64::from(c.capacity))
                .bind(c.status.as_str())
                .bind(c.protected_identity_clearance)
                .bind(c.supervisor)
                .bind(m.active)
                .bind(&m.subject)
                .bind(&m.user_name)
                .bind(now)
                .bind(&m.external_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if updated == 0 {
                    return Err(StoreError::NotFound);
                }
                Self::insert_audit(&mut tx, self.key()?, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn staff_groups(&self, municipality: &MunicipalityCode) -> Result<Vec<StaffGroup>> {
                convert(
                    sqlx::query_as::<_, StaffGroupRow>(
                        "SELECT * FROM scim_groups WHERE municipality = $1 ORDER BY display_name, id",
                    )
                    .bind(municipality.as_str())
                    .fetch_all(&self.pool)
                    .await?,
                )
            }

            async fn staff_group(&self, id: &str) -> Result<Option<StaffGroup>> {
                sqlx::query_as::<_, StaffGroupRow>("SELECT * FROM scim_groups WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(StaffGroup::try_from)
                    .transpose()
            }

            async fn put_staff_group(
                &self,
                g: &StaffGroup,
                now: DateTime<Utc>,
                audit: &NewAuditEvent,
            ) -> Result<()> {
                let members: Vec<&str> = g.members.iter().map(|m| m.as_str()).collect();
                let mut tx = self.pool.begin_with($begin).await?;
                sqlx::query(
                    "INSERT INTO scim_groups (id, municipality, display_name, external_id, members, \
                     created_at) VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name, \
                     external_id = excluded.external_id, members = excluded.members",
                )
                .bind(&g.id)
                .bind(g.municipality.as_str())
                .bind(&g.display_name)
                .bind(&g.external_id)
                .bind(Json(&members))
                .bind(now)
                .execute(&mut *tx)
                .await?;
                Self::insert_audit(&mut tx, self.key()?, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn set_availability(
                &self,
                id: &CaseworkerId,
                status: Availability,
                capacity: Option<u32>,
                now: DateTime<Utc>,
            ) -> Result<Caseworker> {
                let capacity = capacity.map(i64::from);
                // One statement: the bound on capacity is checked by the row it updates.
                let row = sqlx::query_as::<_, CaseworkerRow>(
                    "UPDATE caseworkers SET status = $2, capacity = COALESCE($3, capacity), \
                     status_since = CASE WHEN status = $2 THEN status_since ELSE $4 END \
                     WHERE id = $1 AND COALESCE($3, capacity) <= max_capacity \
                     RETURNING *",
                )
                .bind(id.as_str())
                .bind(status.as_str())
                .bind(capacity)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?;
                match row {
                    Some(row) => Caseworker::try_from(row),
                    None => match self.caseworker(id).await? {
                        None => Err(StoreError::NotFound),
                        Some(c) => Err(StoreError::Invalid(format!(
                            "capacity must be at most {}",
                            c.max_capacity
                        ))),
                    },
                }
            }

            async fn load_of(&self, caseworker: &CaseworkerId) -> Result<u32> {
                let mut conn = self.pool.acquire().await?;
                Self::count_load(&mut conn, caseworker.as_str()).await
            }

            async fn insert_api_token(
                &self,
                token: &NewApiToken,
                audit: Option<&NewAuditEvent>,
            ) -> Result<()> {
                let principal = serde_json::to_value(&token.principal)
                    .map_err(|e| StoreError::Invalid(format!("token principal: {e}")))?;
                let scopes: Vec<&str> = token.scopes.iter().map(|s| s.as_str()).collect();
                let mut tx = self.pool.begin_with($begin).await?;
                sqlx::query(
                    "INSERT INTO api_tokens (id, token_hash, kind, principal, name, scopes, web_session, \
                     created_by, created_at, expires_at, revoked_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL)",
                )
                .bind(&token.id)
                .bind(&token.token_hash)
                .bind(token.kind.as_str())
                .bind(Json(&principal))
                .bind(&token.name)
                .bind(Json(&scopes))
                .bind(&token.login_id)
                .bind(&token.created_by)
                .bind(token.created_at)
                .bind(token.expires_at)
                .execute(&mut *tx)
                .await?;
                if let Some(audit) = audit {
                    Self::insert_audit(&mut tx, self.key()?, audit).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn api_token(
                &self,
                token_hash: &str,
                now: DateTime<Utc>,
            ) -> Result<Option<ApiToken>> {
                sqlx::query_as::<_, ApiTokenRow>(
                    "SELECT * FROM api_tokens WHERE token_hash = $1 AND expires_at > $2 \
                     AND revoked_at IS NULL",
                )
                .bind(token_hash)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?
                .map(ApiToken::try_from)
                .transpose()
            }

            async fn integration_tokens(&self) -> Result<Vec<ApiToken>> {
                convert(
                    sqlx::query_as::<_, ApiTokenRow>(
                        "SELECT * FROM api_tokens WHERE kind = 'integration' ORDER BY created_at, id",
                    )
                    .fetch_all(&self.pool)
                    .await?,
                )
            }

            async fn revoke_api_token(
                &self,
                id: &str,
                at: DateTime<Utc>,
                audit: Option<&NewAuditEvent>,
            ) -> Result<bool> {
                let mut tx = self.pool.begin_with($begin).await?;
                let done = sqlx::query(
                    "UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL \
                     AND expires_at > $2",
                )
                .bind(id)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                if let Some(audit) = audit {
                    Self::insert_audit(&mut tx, self.key()?, audit).await?;
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn revoke_session_tokens(&self, login_id: &str, at: DateTime<Utc>) -> Result<()> {
                sqlx::query(
                    "UPDATE api_tokens SET revoked_at = $2 WHERE web_session = $1 AND revoked_at IS NULL",
                )
                .bind(login_id)
                .bind(at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn create_web_session(
                &self,
                id_hash: &str,
                data: &serde_json::Value,
                expires_at: DateTime<Utc>,
            ) -> Result<bool> {
                let done = sqlx::query(
                    "INSERT INTO web_sessions (id_hash, data, expires_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (id_hash) DO NOTHING",
                )
                .bind(id_hash)
                .bind(Json(data))
                .bind(expires_at)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn save_web_session(
                &self,
                id_hash: &str,
                data: &serde_json::Value,
                expires_at: DateTime<Utc>,
            ) -> Result<()> {
                sqlx::query(
                    "INSERT INTO web_sessions (id_hash, data, expires_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (id_hash) DO UPDATE SET data = excluded.data, \
                     expires_at = excluded.expires_at",
                )
                .bind(id_hash)
                .bind(Json(data))
                .bind(expires_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn load_web_session(
                &self,
                id_hash: &str,
                now: DateTime<Utc>,
            ) -> Result<Option<(serde_json::Value, DateTime<Utc>)>> {
                let row: Option<(Json<serde_json::Value>, DateTime<Utc>)> = sqlx::query_as(
                    "SELECT data, expires_at FROM web_sessions WHERE id_hash = $1 AND expires_at > $2",
                )
                .bind(id_hash)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|(data, expires)| (data.0, expires)))
            }

            async fn delete_web_session(&self, id_hash: &str) -> Result<()> {
                sqlx::query("DELETE FROM web_sessions WHERE id_hash = $1")
                    .bind(id_hash)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn delete_expired_web_sessions(&self, now: DateTime<Utc>) -> Result<u64> {
                let done = sqlx::query("DELETE FROM web_sessions WHERE expires_at <= $1")
                    .bind(now)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            }

            async fn create_case(&self, case: &NewCase, audit: &NewAuditEvent) -> Result<Case> {
                let consent_municipalities = case
                    .consent
                    .municipalities
                    .as_ref()
                    .map(|list| Json(list.iter().map(|m| m.as_str()).collect::<Vec<_>>()));
                let citizen = case.citizen.as_ref();
                let mut tx = self.pool.begin_with($begin).await?;
                sqlx::query(
                    "INSERT INTO cases (id, category, language, channel, urgent, home, citizen_personnummer, \
                     citizen_home, citizen_protection, citizen_loa, access_code_hash, state, ring, owner, \
                     handler, outcome, interpreter_needed, created_at, updated_at, queued_since, closed_at, \
                     ring_since, consent_cross_municipality, consent_municipalities, citizen_id_confirmed, \
                     citizen_eidas) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'queued', $12, NULL, NULL, NULL, \
                     $13, $14, $14, $14, NULL, $14, $15, $16, $17, $18)",
                )
                .bind(case.id.as_str())
                .bind(case.category.as_str())
                .bind(case.language.as_str())
                .bind(if citizen.is_some() { "identified" } else { "anonymous" })
                .bind(case.urgent)
                .bind(case.home.as_str())
                .bind(citizen.and_then(|c| c.personnummer.as_ref()).map(|p| p.as_str()))
                .bind(citizen.map(|c| c.registered_home.as_str()))
                .bind(citizen.map(|c| c.protection.as_str()))
                .bind(citizen.map(|c| c.loa.as_str()))
                .bind(&case.access_code_hash)
                .bind(case.ring)
                .bind(case.interpreter_needed)
                .bind(case.at)
                .bind(case.consent.cross_municipality)
                .bind(&consent_municipalities)
                .bind(
                    citizen
                        .filter(|c| c.personnummer.is_some())
                        .map(|c| c.id_confirmed),
                )
                .bind(citizen.and_then(|c| c.eidas.as_deref()))
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO consents (case_id, cross_municipality, municipalities, at, actor) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(case.id.as_str())
                .bind(case.consent.cross_municipality)
                .bind(&consent_municipalities)
                .bind(case.at)
                .bind(if citizen.is_some() { "citizen" } else { "anonymous" })
                .execute(&mut *tx)
                .await?;
                let first = super::NewMessage {
                    sender: case::Sender::Citizen,
                    author: None,
                    body: case.text.clone(),
                };
                Self::insert_message(&mut tx, case.id.as_str(), &first, case.at).await?;
                Self::insert_permits(&mut tx, case.id.as_str(), &case.permits, false).await?;
                Self::insert_trace(&mut tx, case.id.as_str(), &case.trace, case.at).await?;
                let mut audit = audit.clone();
                audit.case_id = Some(case.id.clone());
                audit.municipality = case.home.as_str().to_owned();
                Self::insert_audit(&mut tx, self.key()?, &audit).await?;
                let record = Self::select_case(&mut tx, case.id.as_str(), false)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                tx.commit().await?;
                Ok(record)
            }

            async fn case(&self, id: &CaseId) -> Result<Option<Case>> {
                let mut conn = self.pool.acquire().await?;
                Self::select_case(&mut conn, id.as_str(), false).await
            }

            async fn messages(&self, case_id: &CaseId) -> Result<Vec<Message>> {
                convert(
                    sqlx::query_as::<_, MessageRow>(
                        "SELECT sender, author, body, at FROM messages WHERE case_id = $1 ORDER BY id",
                    )
                    .bind(case_id.as_str())
                    .fetch_all(&self.pool)
                    .await?,
                )
            }

            async fn transition(
                &self,
                case_id: &CaseId,
                event: &CaseEvent,
                write: &CaseWrite,
                recheck: Option<&Recheck>,
            ) -> Result<Transitioned> {
                let case_id = case_id.as_str();
                let mut tx = self.pool.begin_with($begin).await?;
                // Lock order everywhere: the case row, then the caseworker row.
                let current = Self::select_case(&mut tx, case_id, true)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                let (load, owner_municipality) = match event.takes_capacity_of() {
                    Some(caseworker) => {
                        let row: Option<(i64, String)> = sqlx::query_as(concat!(
                            "SELECT capacity, municipality FROM caseworkers WHERE id = $1",
                            $lock
                        ))
                        .bind(caseworker.as_str())
                        .fetch_optional(&mut *tx)
                        .await?;
                        let (capacity, municipality) = row.ok_or(StoreError::NotFound)?;
                        let open = Self::count_load(&mut tx, caseworker.as_str()).await?;
                        (
                            Some(Load {
                                open,
                                capacity: count(capacity),
                            }),
                            Some(municipality),
                        )
                    }
                    None => (None, None),
                };
                if let Some(OfferWrite::End { id, outcome }) = &write.offer {
                    let open: Option<OfferRow> = sqlx::query_as(
                        "SELECT * FROM offers WHERE id = $1 AND case_id = $2 AND ended_at IS NULL",
                    )
                    .bind(id.as_str())
                    .bind(case_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    // An accept needs the offer still open and in time; ending a gone offer is moot.
                    match open {
                        Some(offer)
                            if *outcome != OfferOutcome::Accepted || offer.expires_at > write.at => {}
                        _ => return Err(TransitionError::OfferExpired.into()),
                    }
                }
                let transition = case::apply(&current.snapshot(), event, load)?;
                let ground = recheck.map(|check| check(&current)).transpose()?;
                let next = next_row(&current, &transition, owner_municipality, write);
                sqlx::query(
                    "UPDATE cases SET state = $2, owner = $3, handler = $4, outcome = $5, \
                     updated_at = $6, queued_since = $7, closed_at = $8 WHERE id = $1",
                )
                .bind(case_id)
                .bind(next.state.as_str())
                .bind(&next.owner)
                .bind(&next.handler)
                .bind(&next.outcome)
                .bind(write.at)
                .bind(next.queued_since)
                .bind(next.closed_at)
                .execute(&mut *tx)
                .await?;
                // Taken (a claim or an accepted offer), not a message between the two sides.
                if transition.to == CaseState::Assigned
                    && !matches!(transition.from, CaseState::Assigned | CaseState::WaitingCitizen)
                {
                    sqlx::query("UPDATE cases SET assigned_at = $2 WHERE id = $1")
                        .bind(case_id)
                        .bind(write.at)
                        .execute(&mut *tx)
                        .await?;
                    if let Some(owner) = &next.owner {
                        sqlx::query("UPDATE caseworkers SET last_assigned_at = $2 WHERE id = $1")
                            .bind(owner)
                            .bind(write.at)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                match &write.offer {
                    Some(OfferWrite::Create { id, expires_at }) => {
                        sqlx::query(
                            "INSERT INTO offers (id, case_id, caseworker_id, created_at, expires_at) \
                             VALUES ($1, $2, $3, $4, $5)",
                        )
                        .bind(id.as_str())
                        .bind(case_id)
                        .bind(next.owner.as_deref().unwrap_or_default())
                        .bind(write.at)
                        .bind(expires_at)
                        .execute(&mut *tx)
                        .await?;
                    }
                    Some(OfferWrite::End { id, outcome }) => {
                        sqlx::query("UPDATE offers SET ended_at = $2, outcome = $3 WHERE id = $1")
                            .bind(id.as_str())
                            .bind(write.at)
                            .bind(outcome.as_str())
                            .execute(&mut *tx)
                            .await?;
                    }
                    None => {}
                }
                Self::write_extras(&mut tx, self.key()?, &current, write, ground).await?;
                let updated = Self::select_case(&mut tx, case_id, false)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                tx.commit().await?;
                Ok(Transitioned {
                    before: current,
                    after: updated,
                    transition,
                })
            }

            async fn consents(&self, case_id: &CaseId) -> Result<Vec<ConsentEntry>> {
                convert(
                    sqlx::query_as::<_, ConsentRow>(
                        "SELECT cross_municipality, municipalities, at, actor FROM consents \
                         WHERE case_id = $1 ORDER BY id",
                    )
                    .bind(case_id.as_str())
                    .fetch_all(&self.pool)
                    .await?,
                )
            }

            async fn notes(&self, case_id: &CaseId) -> Result<Vec<CaseNote>> {
                convert(
                    sqlx::query_as::<_, NoteRow>(
                        "SELECT id, kind, body, author, at FROM case_notes WHERE case_id = $1 ORDER BY id",
                    )
                    .bind(case_id.as_str())
                    .fetch_all(&self.pool)
                    .await?,
                )
            }

            async fn harm_assessments(&self, case_id: &CaseId) -> Result<Vec<HarmAssessmentEntry>> {
                convert(
                    sqlx::query_as::<_, HarmAssessmentRow>(
                        "SELECT caseworker_id, cross_border_ok, reason, at FROM harm_assessments \
                         WHERE case_id = $1 ORDER BY id",
                    )
                    .bind(case_id.as_str())
                    .fetch_all(&self.pool)
                    .await?,
                )
            }

            async fn amend(
                &self,
                case_id: &CaseId,
                expected: CaseState,
                write: &CaseWrite,
                recheck: Option<&Recheck>,
            ) -> Result<Case> {
                let case_id = case_id.as_str();
                let mut tx = self.pool.begin_with($begin).await?;
                let current = Self::select_case(&mut tx, case_id, true)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                if current.state != expected {
                    return Err(TransitionError::InvalidTransition {
                        from: current.state,
                        event: "amend",
                    }
                    .into());
                }
                let ground = recheck.map(|check| check(&current)).transpose()?;
                sqlx::query("UPDATE cases SET updated_at = $2 WHERE id = $1")
                    .bind(case_id)
                    .bind(write.at)
                    .execute(&mut *tx)
                    .await?;
                Self::write_extras(&mut tx, self.key()?, &current, write, ground).await?;
                let updated = Self::select_case(&mut tx, case_id, false)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                tx.commit().await?;
                Ok(updated)
            }

            async fn cross_border_open(&self) -> Result<Vec<Case>> {
                self.cases_where(
                    "SELECT * FROM cases WHERE handler IS NOT NULL AND handler <> home \
                     AND state IN ('offered', 'assigned', 'waiting_citizen') ORDER BY id",
                    None,
                )
                .await
            }

            async fn policy_versions(&self) -> Result<Vec<PolicyVersion>> {
                Ok(sqlx::query_as::<_, PolicyVersionRow>(
                    "SELECT * FROM policy_versions ORDER BY version",
                )
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(PolicyVersion::from)
                .collect())
            }

            async fn policy_version(&self, version: i64) -> Result<Option<PolicyVersion>> {
                Ok(sqlx::query_as::<_, PolicyVersionRow>(
                    "SELECT * FROM policy_versions WHERE version = $1",
                )
                .bind(version)
                .fetch_optional(&self.pool)
                .await?
                .map(PolicyVersion::from))
            }

            async fn active_policy_version(&self) -> Result<Option<PolicyVersion>> {
                Ok(sqlx::query_as::<_, PolicyVersionRow>(
                    "SELECT * FROM policy_versions WHERE active",
                )
                .fetch_optional(&self.pool)
                .await?
                .map(PolicyVersion::from))
            }

            async fn insert_policy_version(
                &self,
                policies: &str,
                tests: &str,
                author: &str,
                at: DateTime<Utc>,
                activate: bool,
                audit: Option<&NewAuditEvent>,
            ) -> Result<i64> {
                let mut tx = self.pool.begin_with($begin).await?;
                // The table lock of the write transaction (SQLite) or the unique key
                // (PostgreSQL, where a concurrent insert fails as a duplicate) keeps numbers
                // unique.
                let last: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM policy_versions")
                    .fetch_one(&mut *tx)
                    .await?;
                let version = last.unwrap_or(0) + 1;
                if activate {
                    sqlx::query("UPDATE policy_versions SET active = FALSE WHERE active")
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query(
                    "INSERT INTO policy_versions (version, policies, tests, author, created_at, \
                     activated_at, activated_by, active) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(version)
                .bind(policies)
                .bind(tests)
                .bind(author)
                .bind(at)
                .bind(activate.then_some(at))
                .bind(activate.then_some(author))
                .bind(activate)
                .execute(&mut *tx)
                .await?;
                if let Some(audit) = audit {
                    let mut audit = audit.clone();
                    if let Some(detail) = audit.detail.as_object_mut() {
                        detail.insert("version".into(), serde_json::json!(version));
                    }
                    Self::insert_audit(&mut tx, self.key()?, &audit).await?;
                }
                tx.commit().await?;
                Ok(version)
            }

            async fn activate_policy_version(
                &self,
                version: i64,
                by: &str,
                audit: &NewAuditEvent,
            ) -> Result<()> {
                let mut tx = self.pool.begin_with($begin).await?;
                let exists: Option<i64> = sqlx::query_scalar(concat!(
                    "SELECT version FROM policy_versions WHERE version = $1",
                    $lock
                ))
                .bind(version)
                .fetch_optional(&mut *tx)
                .await?;
                if exists.is_none() {
                    return Err(StoreError::NotFound);
                }
                sqlx::query("UPDATE policy_versions SET active = FALSE WHERE active AND version <> $1")
                    .bind(version)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "UPDATE policy_versions SET active = TRUE, activated_at = $2, activated_by = $3 \
                     WHERE version = $1",
                )
                .bind(version)
                .bind(audit.at)
                .bind(by)
                .execute(&mut *tx)
                .await?;
                Self::insert_audit(&mut tx, self.key()?, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn queue(&self, municipality: &MunicipalityCode, limit: u32) -> Result<Vec<Case>> {
                convert(
                    sqlx::query_as::<_, CaseRow>(
                        "SELECT c.* FROM cases c JOIN case_permits p ON p.case_id = c.id \
                         WHERE p.municipality = $1 AND p.ring <= c.ring AND c.state = 'queued' \
                         AND (c.target_municipality IS NULL OR c.target_municipality = $1) \
                         ORDER BY c.urgent DESC, c.queued_since ASC, c.id ASC LIMIT $2",
                    )
                    .bind(municipality.as_str())
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?,
                )
            }

            async fn queued(&self, limit: u32) -> Result<Vec<Case>> {
                convert(
                    sqlx::query_as::<_, CaseRow>(
                        "SELECT * FROM cases WHERE state = 'queued' \
                         ORDER BY urgent DESC, queued_since ASC, id ASC LIMIT $1",
                    )
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?,
                )
            }

            async fn permits(&self, case_id: &CaseId) -> Result<Vec<Permit>> {
                convert(
                    sqlx::query_as::<_, PermitRow>(
                        "SELECT municipality, ring, policies FROM case_permits WHERE case_id = $1 \
                         ORDER BY ring, municipality",
                    )
                    .bind(case_id.as_str())
                    .fetch_all(&self.pool)
                    .await?,
                )
            }

            async fn update_routing(
                &self,
                case_id: &CaseId,
                expected_ring: i64,
                routing: &RoutingWrite,
                trace: &serde_json::Value,
                audit: &NewAuditEvent,
            ) -> Result<bool> {
                let mut tx = self.pool.begin_with($begin).await?;
                let Some(current) = Self::select_case(&mut tx, case_id.as_str(), true).await? else {
                    return Ok(false);
                };
                if current.state != CaseState::Queued || current.ring != expected_ring {
                    return Ok(false);
                }
                Self::write_routing(&mut tx, &current, routing, audit.at).await?;
                Self::insert_trace(&mut tx, case_id.as_str(), trace, audit.at).await?;
                let mut audit = audit.clone();
                audit.case_id = Some(case_id.clone());
                audit.municipality = current.home.as_str().to_owned();
                Self::insert_audit(&mut tx, self.key()?, &audit).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn staff(&self) -> Result<Vec<(Caseworker, u32)>> {
                let rows = sqlx::query_as::<_, StaffRow>(
                    "SELECT w.*, (SELECT COUNT(*) FROM cases c WHERE c.owner = w.id \
                     AND c.state IN ('offered', 'assigned', 'waiting_citizen')) AS open_cases \
                     FROM caseworkers w WHERE w.active ORDER BY w.municipality, w.id",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|r| Ok((Caseworker::try_from(r.caseworker)?, count(r.open_cases))))
                    .collect()
            }

            async fn cross_border_since(&self, since: DateTime<Utc>) -> Result<Vec<(String, String, i64)>> {
                Ok(sqlx::query_as::<_, (String, String, i64)>(
                    "SELECT handler, category, COUNT(*) FROM cases WHERE handler IS NOT NULL \
                     AND handler <> home AND assigned_at >= $1 GROUP BY handler, category \
                     ORDER BY handler, category",
                )
                .bind(since)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn previous_caseworker(&self, personnummer: &Personnummer) -> Result<Option<CaseworkerId>> {
                let owner: Option<String> = sqlx::query_scalar(
                    "SELECT owner FROM cases WHERE citizen_personnummer = $1 AND owner IS NOT NULL \
                     AND assigned_at IS NOT NULL ORDER BY assigned_at DESC, id DESC LIMIT 1",
                )
                .bind(personnummer.as_str())
                .fetch_optional(&self.pool)
                .await?;
                owner
                    .map(|o| CaseworkerId::parse(&o).map_err(|e| StoreError::Corrupt(format!("owner: {e}"))))
                    .transpose()
            }

            async fn offer(&self, id: &OfferId) -> Result<Option<Offer>> {
                sqlx::query_as::<_, OfferRow>("SELECT * FROM offers WHERE id = $1")
                    .bind(id.as_str())
                    .fetch_optional(&self.pool)
                    .await?
                    .map(Offer::try_from)
                    .transpose()
            }

            async fn open_offers(&self, caseworker: &CaseworkerId) -> Result<Vec<Offer>> {
                convert(
                    sqlx::query_as::<_, OfferRow>(
                        "SELECT * FROM offers WHERE caseworker_id = $1 AND ended_at IS NULL \
                         ORDER BY created_at, id",
                    )
                    .bind(caseworker.as_str())
                    .fetch_all(&self.pool)
                    .await?,
                )
            }

            async fn expired_offers(&self, now: DateTime<Utc>) -> Result<Vec<Offer>> {
                convert(
                    sqlx::query_as::<_, OfferRow>(
                        "SELECT * FROM offers WHERE ended_at IS NULL AND expires_at <= $1 \
                         ORDER BY expires_at, id",
                    )
                    .bind(now)
                    .fetch_all(&self.pool)
                    .await?,
                )
            }

            async fn open_offer_of_case(&self, case_id: &CaseId) -> Result<Option<Offer>> {
                sqlx::query_as::<_, OfferRow>(
                    "SELECT * FROM offers WHERE case_id = $1 AND ended_at IS NULL",
                )
                .bind(case_id.as_str())
                .fetch_optional(&self.pool)
                .await?
                .map(Offer::try_from)
                .transpose()
            }

            async fn declined(&self, case_id: &CaseId, since: DateTime<Utc>) -> Result<Vec<CaseworkerId>> {
                let ids: Vec<String> = sqlx::query_scalar(
                    "SELECT DISTINCT caseworker_id FROM offers WHERE case_id = $1 \
                     AND outcome IN ('rejected', 'timed_out') AND ended_at >= $2 ORDER BY caseworker_id",
                )
                .bind(case_id.as_str())
                .bind(since)
                .fetch_all(&self.pool)
                .await?;
                ids.iter()
                    .map(|id| {
                        CaseworkerId::parse(id)
                            .map_err(|e| StoreError::Corrupt(format!("offer caseworker: {e}")))
                    })
                    .collect()
            }

            async fn offer_counts(&self) -> Result<Vec<(String, i64)>> {
                Ok(sqlx::query_as::<_, (String, i64)>(
                    "SELECT COALESCE(outcome, 'open'), COUNT(*) FROM offers \
                     GROUP BY COALESCE(outcome, 'open') ORDER BY 1",
                )
                .fetch_all(&self.pool)
                .await?)
            }

            async fn routing_settings(&self) -> Result<Vec<CategoryRouting>> {
                convert(
                    sqlx::query_as::<_, RoutingSettingsRow>(
                        "SELECT category, mode, ring_timeouts, offer_timeout_secs, fair_share_per_10k \
                         FROM routing_settings ORDER BY category",
                    )
                    .fetch_all(&self.pool)
                    .await?,
                )
            }

            async fn put_routing_settings(
                &self,
                settings: &[CategoryRouting],
                audit: &NewAuditEvent,
            ) -> Result<()> {
                let mut tx = self.pool.begin_with($begin).await?;
                let by = audit.actor.to_string();
                for r in settings {
                    sqlx::query(
                        "INSERT INTO routing_settings (category, mode, ring_timeouts, offer_timeout_secs, \
                         fair_share_per_10k, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                         ON CONFLICT (category) DO UPDATE SET mode = excluded.mode, \
                         ring_timeouts = excluded.ring_timeouts, offer_timeout_secs = excluded.offer_timeout_secs, \
                         fair_share_per_10k = excluded.fair_share_per_10k, updated_at = excluded.updated_at, \
                         updated_by = excluded.updated_by",
                    )
                    .bind(&r.category)
                    .bind(r.mode.as_str())
                    .bind(Json(&r.ring_timeouts))
                    .bind(r.offer_timeout)
                    .bind(r.fair_share_per_10k)
                    .bind(audit.at)
                    .bind(&by)
                    .execute(&mut *tx)
                    .await?;
                }
                Self::insert_audit(&mut tx, self.key()?, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn traces(&self, case_id: &CaseId) -> Result<Vec<RoutingTrace>> {
                Ok(sqlx::query_as::<_, TraceRow>(
                    "SELECT at, trace FROM routing_traces WHERE case_id = $1 ORDER BY id",
                )
                .bind(case_id.as_str())
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(RoutingTrace::from)
                .collect())
            }

            async fn cases_of_owner(&self, caseworker: &CaseworkerId) -> Result<Vec<Case>> {
                self.cases_where(
                    "SELECT * FROM cases WHERE owner = $1 AND state IN ('offered', 'assigned', 'waiting_citizen') \
                     ORDER BY created_at ASC, id ASC",
                    Some(caseworker.as_str()),
                )
                .await
            }

            async fn cases_of_citizen(&self, citizen: CitizenRef<'_>) -> Result<Vec<Case>> {
                match citizen {
                    CitizenRef::Personnummer(number) => {
                        self.cases_where(
                            "SELECT * FROM cases WHERE citizen_personnummer = $1 \
                             ORDER BY created_at DESC, id DESC",
                            Some(number.as_str()),
                        )
                        .await
                    }
                    CitizenRef::Eidas(subject) => {
                        self.cases_where(
                            "SELECT * FROM cases WHERE citizen_eidas = $1 \
                             ORDER BY created_at DESC, id DESC",
                            Some(subject),
                        )
                        .await
                    }
                }
            }

            async fn append_audit(&self, event: &NewAuditEvent) -> Result<()> {
                let key = self.key()?;
                let mut tx = self.pool.begin_with($begin).await?;
                Self::insert_audit(&mut tx, key, event).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn audit_events(&self, case_id: Option<&CaseId>, limit: u32) -> Result<Vec<AuditEntry>> {
                self.audit_query(&AuditFilter {
                    case_id: case_id.cloned(),
                    limit,
                    ..AuditFilter::default()
                })
                .await
            }

            async fn audit_query(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
                Ok(sqlx::query_as::<_, AuditRow>(
                    "SELECT * FROM audit_events WHERE ($1 IS NULL OR case_id = $1) \
                     AND ($2 IS NULL OR actor = $2) \
                     AND ($3 IS NULL OR municipality = $3) \
                     AND ($4 IS NULL OR at >= $4) AND ($5 IS NULL OR at < $5) \
                     ORDER BY id DESC LIMIT $6",
                )
                .bind(filter.case_id.as_ref().map(|c| c.as_str()))
                .bind(&filter.actor)
                .bind(&filter.municipality)
                .bind(filter.from)
                .bind(filter.to)
                .bind(i64::from(filter.limit))
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(AuditEntry::from)
                .collect())
            }

            async fn inactive_cases(&self, before: DateTime<Utc>) -> Result<Vec<Case>> {
                convert(
                    sqlx::query_as::<_, CaseRow>(
                        "SELECT * FROM cases WHERE state IN ('queued', 'assigned', 'waiting_citizen') \
                         AND updated_at < $1 ORDER BY updated_at, id",
                    )
                    .bind(before)
                    .fetch_all(&self.pool)
                    .await?,
                )
            }

            async fn cases_created_since(&self, since: DateTime<Utc>) -> Result<Vec<Case>> {
                convert(
                    sqlx::query_as::<_, CaseRow>(
                        "SELECT * FROM cases WHERE created_at >= $1 ORDER BY created_at, id",
                    )
                    .bind(since)
                    .fetch_all(&self.pool)
                    .await?,
                )
            }

            async fn retention_candidates(&self) -> Result<Vec<Case>> {
                self.cases_where(
                    "SELECT * FROM cases WHERE state IN ('closed', 'cancelled') AND thinned_at IS NULL \
                     ORDER BY updated_at, id",
                    None,
                )
                .await
            }

            async fn thin_case(&self, case_id: &CaseId, audit: &NewAuditEvent) -> Result<bool> {
                let key = self.key()?;
                let mut tx = self.pool.begin_with($begin).await?;
                let Some(current) = Self::select_case(&mut tx, case_id.as_str(), true).await? else {
                    return Ok(false);
                };
                if current.thinned_at.is_some() || !current.state.is_final() {
                    return Ok(false);
                }
                for sql in [
                    "DELETE FROM messages WHERE case_id = $1",
                    "DELETE FROM harm_assessments WHERE case_id = $1",
                    "DELETE FROM case_notes WHERE case_id = $1",
                    "DELETE FROM routing_traces WHERE case_id = $1",
                ] {
                    sqlx::query(sql).bind(case_id.as_str()).execute(&mut *tx).await?;
                }
                sqlx::query(
                    "UPDATE cases SET citizen_personnummer = NULL, citizen_home = NULL, \
                     citizen_loa = NULL, citizen_eidas = NULL, citizen_id_confirmed = NULL, \
                     access_code_hash = NULL, transfer_reason = NULL, thinned_at = $2 WHERE id = $1",
                )
                .bind(case_id.as_str())
                .bind(audit.at)
                .execute(&mut *tx)
                .await?;
                let mut audit = audit.clone();
                audit.case_id = Some(case_id.clone());
                audit.municipality = current.home.as_str().to_owned();
                Self::insert_audit(&mut tx, key, &audit).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn mark_citizen_read(&self, case_id: &CaseId, at: DateTime<Utc>) -> Result<()> {
                let done = sqlx::query("UPDATE cases SET citizen_read_at = $2 WHERE id = $1")
                    .bind(case_id.as_str())
                    .bind(at)
                    .execute(&self.pool)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            }

            async fn case_activity(&self, case_id: &CaseId) -> Result<CaseActivity> {
                // The latest message of each side by insertion order, not by MAX(at): SQLite
                // keeps times as text.
                let row = sqlx::query_as::<_, ActivityRow>(
                    "SELECT c.citizen_read_at, \
                     (SELECT m.at FROM messages m WHERE m.case_id = c.id AND m.sender = 'caseworker' \
                      ORDER BY m.id DESC LIMIT 1) AS staff_wrote_at, \
                     (SELECT m.at FROM messages m WHERE m.case_id = c.id AND m.sender = 'citizen' \
                      ORDER BY m.id DESC LIMIT 1) AS citizen_wrote_at, \
                     (SELECT COUNT(*) FROM audit_events a WHERE a.case_id = c.id \
                      AND a.action IN ('claim', 'accept')) AS assignments \
                     FROM cases c WHERE c.id = $1",
                )
                .bind(case_id.as_str())
                .fetch_optional(&self.pool)
                .await?
                .ok_or(StoreError::NotFound)?;
                Ok(row.into())
            }

            async fn protected_case_ids(&self) -> Result<Vec<CaseId>> {
                let ids: Vec<String> = sqlx::query_scalar(
                    "SELECT id FROM cases WHERE citizen_protection IN ('skyddad_folkbokforing', 'fingerade')",
                )
                .fetch_all(&self.pool)
                .await?;
                ids.iter()
                    .map(|id| CaseId::parse(id).map_err(|e| StoreError::Corrupt(format!("case id: {e}"))))
                    .collect()
            }

            async fn seal_legacy_audit(&self) -> Result<u32> {
                let key = self.key()?;
                let mut tx = self.pool.begin_with($begin).await?;
                let max_id: Option<i64> = sqlx::query_scalar("SELECT MAX(max_id) FROM audit_legacy")
                    .fetch_one(&mut *tx)
                    .await?;
                let max_id = max_id.unwrap_or(0);
                let legacy = sqlx::query_as::<_, AuditRow>(
                    "SELECT * FROM audit_events WHERE mac IS NULL AND id <= $1 ORDER BY id",
                )
                .bind(max_id)
                .fetch_all(&mut *tx)
                .await?;
                let sealed = u32::try_from(legacy.len()).unwrap_or(u32::MAX);
                for row in legacy.into_iter().map(AuditEntry::from) {
                    let (seq, prev) = Self::chain_next(&mut tx, &row.municipality).await?;
                    let role = audit::role_of(&row.actor);
                    let at = audit::chain_time(row.at);
                    let mac = audit::seal(
                        key,
                        &audit::Sealed {
                            seq,
                            at,
                            role,
                            request_id: None,
                            ..row.sealed()
                        },
                        &prev,
                    );
                    // The one update the append-only trigger allows: sealing an unsealed row.
                    sqlx::query(
                        "UPDATE audit_events SET seq = $2, role = $3, prev_mac = $4, mac = $5, at = $6 \
                         WHERE id = $1",
                    )
                    .bind(row.id)
                    .bind(seq)
                    .bind(role)
                    .bind(&prev)
                    .bind(&mac)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                    Self::chain_advance(&mut tx, &row.municipality, seq, &mac).await?;
                }
                sqlx::query("DELETE FROM audit_legacy").execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(sealed)
            }

            async fn audit_chains(&self) -> Result<Vec<String>> {
                Ok(sqlx::query_scalar(
                    "SELECT municipality FROM audit_events UNION SELECT municipality FROM audit_heads \
                     ORDER BY 1",
                )
                .fetch_all(&self.pool)
                .await?)
            }

            async fn audit_chain(&self, municipality: &str) -> Result<Vec<AuditEntry>> {
                Ok(sqlx::query_as::<_, AuditRow>(
                    "SELECT * FROM audit_events WHERE municipality = $1 \
                     ORDER BY CASE WHEN seq IS NULL THEN 1 ELSE 0 END, seq, id",
                )
                .bind(municipality)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .map(AuditEntry::from)
                .collect())
            }

            async fn audit_head(&self, municipality: &str) -> Result<Option<(i64, String)>> {
                Ok(sqlx::query_as("SELECT seq, mac FROM audit_heads WHERE municipality = $1")
                    .bind(municipality)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn latest_checkpoint(&self, municipality: &str) -> Result<Option<(i64, String)>> {
                Ok(sqlx::query_as(
                    "SELECT seq, mac FROM audit_checkpoints WHERE municipality = $1 \
                     ORDER BY id DESC LIMIT 1",
                )
                .bind(municipality)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn write_audit_checkpoints(&self, at: DateTime<Utc>) -> Result<()> {
                sqlx::query(
                    "INSERT INTO audit_checkpoints (municipality, seq, mac, at) \
                     SELECT municipality, seq, mac, $1 FROM audit_heads WHERE seq > 0",
                )
                .bind(at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }
        }
    };
}

sql_store!(
    SqliteStore,
    sqlx::SqliteConnection,
    backend = "sqlite",
    begin_write = "BEGIN IMMEDIATE",
    for_update = ""
);
sql_store!(
    PostgresStore,
    sqlx::PgConnection,
    backend = "postgres",
    begin_write = "BEGIN",
    for_update = " FOR UPDATE"
);

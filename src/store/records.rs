//! Rows as the store reads and writes them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;

use crate::domain::case::{CaseSnapshot, CaseState, Outcome};
use crate::domain::people::Availability;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct CaseworkerRecord {
    pub id: String,
    pub municipality: String,
    pub name: String,
    pub skills: Json<Vec<String>>,
    pub languages: Json<Vec<String>>,
    pub max_capacity: i64,
    pub capacity: i64,
    #[sqlx(try_from = "String")]
    pub status: Availability,
    pub protected_identity_clearance: bool,
    pub status_since: DateTime<Utc>,
    /// When they last got a case (claim or accepted offer): "longest idle" in scoring.
    pub last_assigned_at: Option<DateTime<Utc>>,
}

impl CaseworkerRecord {
    pub fn has_skill(&self, category: &str) -> bool {
        self.skills.iter().any(|s| s == category)
    }

    pub fn speaks(&self, language: &str) -> bool {
        self.languages.iter().any(|l| l == language)
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct CaseRecord {
    pub id: String,
    pub category: String,
    pub language: String,
    /// `identified` or `anonymous`.
    pub channel: String,
    pub urgent: bool,
    /// The routing home (ring 0): DESIGN.md "Rings".
    pub home: String,
    pub citizen_personnummer: Option<String>,
    pub citizen_home: Option<String>,
    pub citizen_protection: Option<String>,
    pub citizen_loa: Option<String>,
    pub access_code_hash: Option<String>,
    #[sqlx(try_from = "String")]
    pub state: CaseState,
    pub ring: i64,
    pub owner: Option<String>,
    /// The municipality of the owner, while there is one.
    pub handler: Option<String>,
    pub outcome: Option<String>,
    pub interpreter_needed: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub queued_since: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    /// When the current ring began (ring timeouts count from here).
    pub ring_since: Option<DateTime<Utc>>,
    pub assigned_at: Option<DateTime<Utc>>,
    pub target_municipality: Option<String>,
    pub transfer_reason: Option<String>,
    /// The consent as it stands (its history is in `consents`).
    pub consent_cross_municipality: bool,
    pub consent_municipalities: Option<Json<Vec<String>>>,
    /// The latest harm assessment (R12): `cross_border_ok` or `stay_home`.
    pub harm_assessment: Option<String>,
    /// When its personal data was removed after the retention period (R17).
    pub thinned_at: Option<DateTime<Utc>>,
}

impl CaseRecord {
    pub fn snapshot(&self) -> CaseSnapshot {
        CaseSnapshot {
            state: self.state,
            owner: self.owner.clone(),
            child_concern: self.category == "oro_barn",
        }
    }

    pub fn is_anonymous(&self) -> bool {
        self.channel == "anonymous"
    }

    /// Protected identity (R11): `skyddad_folkbokforing` or `fingerade`.
    pub fn is_protected_identity(&self) -> bool {
        self.citizen_protection
            .as_deref()
            .and_then(crate::domain::people::Protection::parse)
            .is_some_and(|p| p.is_strict())
    }

    pub fn is_child_concern(&self) -> bool {
        self.category == "oro_barn"
    }

    pub fn ring_started(&self) -> DateTime<Utc> {
        self.ring_since.unwrap_or(self.queued_since)
    }
}

/// A fixed instant for unit-test records, so nothing in them depends on when tests run.
#[cfg(test)]
fn fixture_time() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
}

#[cfg(test)]
impl CaseworkerRecord {
    /// A caseworker for unit tests: available, Swedish, the `ekonomi` skill, capacity 5, no
    /// clearance. Tests change what they are about with struct update syntax.
    pub(crate) fn fixture(id: &str, municipality: &str) -> Self {
        CaseworkerRecord {
            id: id.into(),
            municipality: municipality.into(),
            name: id.into(),
            skills: Json(vec!["ekonomi".into()]),
            languages: Json(vec!["sv".into()]),
            max_capacity: 5,
            capacity: 5,
            status: Availability::Available,
            protected_identity_clearance: false,
            status_since: fixture_time(),
            last_assigned_at: None,
        }
    }
}

#[cfg(test)]
impl CaseRecord {
    /// An identified, queued `ekonomi` request in Swedish from `home`, for unit tests.
    pub(crate) fn fixture(home: &str) -> Self {
        let at = fixture_time();
        CaseRecord {
            id: "c1".into(),
            category: "ekonomi".into(),
            language: "sv".into(),
            channel: "identified".into(),
            urgent: false,
            home: home.into(),
            citizen_personnummer: Some("198112189876".into()),
            citizen_home: Some(home.into()),
            citizen_protection: None,
            citizen_loa: Some("loa3".into()),
            access_code_hash: None,
            state: CaseState::Queued,
            ring: 0,
            owner: None,
            handler: None,
            outcome: None,
            interpreter_needed: false,
            created_at: at,
            updated_at: at,
            queued_since: at,
            closed_at: None,
            ring_since: None,
            assigned_at: None,
            target_municipality: None,
            transfer_reason: None,
            consent_cross_municipality: false,
            consent_municipalities: None,
            harm_assessment: None,
            thinned_at: None,
        }
    }
}

/// A municipality a case may be handled in, from the routing policy, with its reasons.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PermitRecord {
    pub case_id: String,
    pub municipality: String,
    pub ring: i64,
    pub policies: Json<Vec<String>>,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OfferRecord {
    pub id: String,
    pub case_id: String,
    pub caseworker_id: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub outcome: Option<String>,
}

#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct RoutingSettingsRecord {
    pub category: String,
    /// `push` or `pull`.
    pub mode: String,
    /// Seconds a request waits in ring 0, then in ring 1, before widening.
    pub ring_timeouts: Json<Vec<i64>>,
    pub offer_timeout_secs: i64,
    /// Cross-border cases a municipality takes per day per 10 000 inhabitants; `None` = no cap.
    pub fair_share_per_10k: Option<f64>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TraceRecord {
    pub id: i64,
    pub case_id: String,
    pub at: DateTime<Utc>,
    pub trace: Json<serde_json::Value>,
}

/// How an offer row changes with a transition.
#[derive(Clone, Debug)]
pub enum OfferWrite {
    /// With [`crate::domain::case::CaseEvent::Offer`].
    Create {
        id: String,
        expires_at: DateTime<Utc>,
    },
    /// With an accept (which also needs the offer unexpired) or an ended offer.
    End { id: String, outcome: &'static str },
}

/// A change of where a case may go, written with a transition or on its own (widening).
#[derive(Clone, Debug, Default)]
pub struct RoutingWrite {
    pub ring: Option<i64>,
    pub interpreter_needed: Option<bool>,
    /// `Some(None)` clears the target.
    pub target_municipality: Option<Option<String>>,
    pub transfer_reason: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sender {
    Citizen,
    Caseworker,
}

impl Sender {
    pub fn as_str(self) -> &'static str {
        match self {
            Sender::Citizen => "citizen",
            Sender::Caseworker => "caseworker",
        }
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct MessageRecord {
    pub id: i64,
    pub case_id: String,
    pub sender: String,
    pub author: Option<String>,
    pub body: String,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ConsentRecord {
    pub id: i64,
    pub case_id: String,
    pub cross_municipality: bool,
    pub municipalities: Option<Json<Vec<String>>>,
    pub at: DateTime<Utc>,
    /// `citizen`, `anonymous` or `system`.
    pub actor: String,
}

/// A bearer token: issued to a browser session, or a long-lived integration token. Only the
/// hash of its secret is stored.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ApiTokenRecord {
    pub id: String,
    pub token_hash: String,
    /// `session` or `integration`.
    pub kind: String,
    pub principal: Json<serde_json::Value>,
    pub name: Option<String>,
    /// `read` (GET only) and/or `write`.
    pub scopes: Json<Vec<String>>,
    pub web_session: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct HarmAssessmentRecord {
    pub id: i64,
    pub case_id: String,
    pub caseworker_id: String,
    pub cross_border_ok: bool,
    pub reason: String,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PolicyVersionRecord {
    pub version: i64,
    pub policies: String,
    pub tests: String,
    pub author: String,
    pub created_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
    pub activated_by: Option<String>,
    pub active: bool,
}

/// A new consent, recorded in the history and set on the case.
#[derive(Clone, Debug)]
pub struct ConsentWrite {
    pub cross_municipality: bool,
    pub municipalities: Option<Vec<String>>,
    pub actor: &'static str,
}

/// A home caseworker's harm assessment (R12).
#[derive(Clone, Debug)]
pub struct HarmWrite {
    pub caseworker_id: String,
    pub cross_border_ok: bool,
    pub reason: String,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AuditRecord {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub actor_municipality: Option<String>,
    pub municipality: String,
    pub action: String,
    pub case_id: Option<String>,
    pub policies: Json<Vec<String>>,
    pub detail: Json<serde_json::Value>,
    /// Position in the municipality's chain (`None` only for an unsealed row: broken).
    pub seq: Option<i64>,
    pub role: Option<String>,
    pub request_id: Option<String>,
    pub prev_mac: Option<String>,
    pub mac: Option<String>,
}

impl AuditRecord {
    /// What the seal covers, as stored.
    pub fn sealed(&self) -> crate::audit::Sealed<'_> {
        crate::audit::Sealed {
            municipality: &self.municipality,
            seq: self.seq.unwrap_or(0),
            at: self.at,
            actor: &self.actor,
            role: self.role.as_deref().unwrap_or(""),
            actor_municipality: self.actor_municipality.as_deref(),
            action: &self.action,
            case_id: self.case_id.as_deref(),
            policies: &self.policies.0,
            detail: &self.detail.0,
            request_id: self.request_id.as_deref(),
        }
    }
}

/// Which audit events to read (every filter optional), newest first.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub case_id: Option<String>,
    pub actor: Option<String>,
    /// Whose chain (the controller's: the case's home).
    pub municipality: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub limit: u32,
}

/// One audit event to append. `municipality` is whose chain it belongs to: the case's home.
#[derive(Clone, Debug)]
pub struct NewAuditEvent {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub actor_municipality: Option<String>,
    pub municipality: String,
    pub action: String,
    pub case_id: Option<String>,
    pub policies: Vec<String>,
    pub detail: serde_json::Value,
    /// The HTTP request that caused it (`None` for the scheduler's own work).
    pub request_id: Option<String>,
}

#[derive(Clone, Debug)]
pub struct NewMessage {
    pub sender: Sender,
    pub author: Option<String>,
    pub body: String,
}

/// A request as the router placed it: inserted with its first message, consent, routing trace
/// and audit event.
#[derive(Clone, Debug)]
pub struct NewCase {
    pub id: String,
    pub category: String,
    pub language: String,
    pub anonymous: bool,
    pub urgent: bool,
    pub home: String,
    pub citizen_personnummer: Option<String>,
    pub citizen_home: Option<String>,
    pub citizen_protection: Option<String>,
    pub citizen_loa: Option<String>,
    pub access_code_hash: Option<String>,
    pub ring: i64,
    pub interpreter_needed: bool,
    pub permits: Vec<crate::routing::permits::Permit>,
    pub text: String,
    pub consent_cross_municipality: bool,
    pub consent_municipalities: Option<Vec<String>>,
    pub trace: serde_json::Value,
    pub audit: NewAuditEvent,
    pub at: DateTime<Utc>,
}

/// What is written together with a state change.
#[derive(Clone, Debug)]
pub struct CaseWrite {
    pub at: DateTime<Utc>,
    pub message: Option<NewMessage>,
    pub outcome: Option<Outcome>,
    pub trace: Option<serde_json::Value>,
    pub offer: Option<OfferWrite>,
    pub routing: Option<RoutingWrite>,
    /// Replaces the municipalities the case may be handled in.
    pub permits: Option<Vec<crate::routing::permits::Permit>>,
    pub consent: Option<ConsentWrite>,
    pub harm_assessment: Option<HarmWrite>,
    /// Its `at`, `case_id` and `municipality` are filled in from the case by the store.
    pub audit: NewAuditEvent,
}

impl CaseWrite {
    pub fn new(at: DateTime<Utc>, audit: NewAuditEvent) -> Self {
        CaseWrite {
            at,
            message: None,
            outcome: None,
            trace: None,
            offer: None,
            routing: None,
            permits: None,
            consent: None,
            harm_assessment: None,
            audit,
        }
    }
}

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
    /// Its `at`, `case_id` and `municipality` are filled in from the case by the store.
    pub audit: NewAuditEvent,
}

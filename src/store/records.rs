//! Rows as the store reads them, and what the store is given to write.
//!
//! The row structs (`*Row`) are private to the store: every row is converted into the domain's
//! type at the store's edge (`TryFrom`), and a row that breaks the domain's rules is
//! `StoreError::Corrupt`, never a value the rest of Brygga has to doubt. The write types
//! (`NewCase`, `CaseWrite`, `NewAuditEvent`, …) are the store's input language.

use chrono::{DateTime, Utc};
use sqlx::types::Json;

use super::StoreError;
use crate::audit::AuditEntry;
use crate::domain::access::{Actor, ApiToken, Principal, Scope, TokenKind};
use crate::domain::case::{
    Case, CaseCitizen, CaseNote, CaseState, Channel, Consent, ConsentActor, ConsentEntry,
    HarmAssessment, HarmAssessmentEntry, Message, NoteKind, Offer, OfferOutcome, Outcome,
    RoutingTrace, Sender,
};
use crate::domain::governance::PolicyVersion;
use crate::domain::ids::{CaseId, CaseworkerId, CategoryId, Language, MunicipalityCode, OfferId};
use crate::domain::people::{Availability, Caseworker, Loa, Protection, StaffGroup, StaffMember};
use crate::domain::personnummer::Personnummer;
use crate::domain::routing::{CategoryRouting, Mode, Permit};

fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {detail}"))
}

fn code(what: &str, value: &str) -> Result<MunicipalityCode, StoreError> {
    MunicipalityCode::parse(value).map_err(|e| corrupt(what, e))
}

fn codes(what: &str, values: &[String]) -> Result<Vec<MunicipalityCode>, StoreError> {
    values.iter().map(|v| code(what, v)).collect()
}

fn count(what: &str, n: i64) -> Result<u32, StoreError> {
    u32::try_from(n).map_err(|e| corrupt(what, e))
}

fn named<T>(what: &str, value: &str, parse: impl Fn(&str) -> Option<T>) -> Result<T, StoreError> {
    parse(value).ok_or_else(|| corrupt(what, format!("unknown value `{value}`")))
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub(super) struct CaseworkerRow {
    pub id: String,
    pub municipality: String,
    pub name: String,
    pub skills: Json<Vec<String>>,
    pub languages: Json<Vec<String>>,
    pub max_capacity: i64,
    pub capacity: i64,
    pub status: String,
    pub protected_identity_clearance: bool,
    pub supervisor: bool,
    pub status_since: DateTime<Utc>,
    pub last_assigned_at: Option<DateTime<Utc>>,
}

impl TryFrom<CaseworkerRow> for Caseworker {
    type Error = StoreError;

    fn try_from(r: CaseworkerRow) -> Result<Self, StoreError> {
        Ok(Caseworker {
            id: CaseworkerId::parse(&r.id).map_err(|e| corrupt("caseworker id", e))?,
            municipality: code("caseworker municipality", &r.municipality)?,
            name: r.name,
            skills: r
                .skills
                .0
                .iter()
                .map(|s| CategoryId::parse(s).map_err(|e| corrupt("caseworker skill", e)))
                .collect::<Result<_, _>>()?,
            languages: r
                .languages
                .0
                .iter()
                .map(|l| Language::parse(l).map_err(|e| corrupt("caseworker language", e)))
                .collect::<Result<_, _>>()?,
            max_capacity: count("max_capacity", r.max_capacity)?,
            capacity: count("capacity", r.capacity)?,
            status: named("availability", &r.status, Availability::parse)?,
            protected_identity_clearance: r.protected_identity_clearance,
            supervisor: r.supervisor,
            status_since: r.status_since,
            last_assigned_at: r.last_assigned_at,
        })
    }
}

/// A caseworker with what administrators manage about them (issue 21).
#[derive(Clone, Debug, sqlx::FromRow)]
pub(super) struct StaffMemberRow {
    #[sqlx(flatten)]
    pub caseworker: CaseworkerRow,
    pub active: bool,
    pub subject: Option<String>,
    pub user_name: Option<String>,
    pub external_id: Option<String>,
}

impl TryFrom<StaffMemberRow> for StaffMember {
    type Error = StoreError;

    fn try_from(r: StaffMemberRow) -> Result<Self, StoreError> {
        Ok(StaffMember {
            caseworker: Caseworker::try_from(r.caseworker)?,
            active: r.active,
            subject: r.subject,
            user_name: r.user_name,
            external_id: r.external_id,
        })
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub(super) struct StaffGroupRow {
    pub id: String,
    pub municipality: String,
    pub display_name: String,
    pub external_id: Option<String>,
    pub members: Json<Vec<String>>,
}

impl TryFrom<StaffGroupRow> for StaffGroup {
    type Error = StoreError;

    fn try_from(r: StaffGroupRow) -> Result<Self, StoreError> {
        Ok(StaffGroup {
            id: r.id,
            municipality: code("group municipality", &r.municipality)?,
            display_name: r.display_name,
            external_id: r.external_id,
            members: r
                .members
                .0
                .iter()
                .map(|m| CaseworkerId::parse(m).map_err(|e| corrupt("group member", e)))
                .collect::<Result<_, _>>()?,
        })
    }
}

/// A case's progress for its citizen's pages.
#[derive(Clone, Debug, sqlx::FromRow)]
pub(super) struct ActivityRow {
    pub citizen_read_at: Option<DateTime<Utc>>,
    pub staff_wrote_at: Option<DateTime<Utc>>,
    pub citizen_wrote_at: Option<DateTime<Utc>>,
    pub assignments: i64,
}

impl From<ActivityRow> for super::CaseActivity {
    fn from(r: ActivityRow) -> Self {
        super::CaseActivity {
            citizen_read_at: r.citizen_read_at,
            staff_wrote_at: r.staff_wrote_at,
            citizen_wrote_at: r.citizen_wrote_at,
            assignments: r.assignments,
        }
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub(super) struct CaseRow {
    pub id: String,
    pub category: String,
    pub language: String,
    pub channel: String,
    pub urgent: bool,
    pub home: String,
    pub citizen_personnummer: Option<String>,
    pub citizen_home: Option<String>,
    pub citizen_protection: Option<String>,
    pub citizen_loa: Option<String>,
    pub citizen_id_confirmed: Option<bool>,
    pub citizen_eidas: Option<String>,
    pub access_code_hash: Option<String>,
    pub state: String,
    pub ring: i64,
    pub owner: Option<String>,
    pub handler: Option<String>,
    pub outcome: Option<String>,
    pub interpreter_needed: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub queued_since: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub ring_since: Option<DateTime<Utc>>,
    pub assigned_at: Option<DateTime<Utc>>,
    pub target_municipality: Option<String>,
    pub transfer_reason: Option<String>,
    pub consent_cross_municipality: bool,
    pub consent_municipalities: Option<Json<Vec<String>>>,
    pub harm_assessment: Option<String>,
    pub thinned_at: Option<DateTime<Utc>>,
}

impl TryFrom<CaseRow> for Case {
    type Error = StoreError;

    fn try_from(r: CaseRow) -> Result<Self, StoreError> {
        let personnummer = r
            .citizen_personnummer
            .as_deref()
            .map(Personnummer::parse_stored)
            .transpose()
            .map_err(|e| corrupt("citizen personnummer", e))?;
        let citizen = match (personnummer, r.citizen_home.as_deref()) {
            (personnummer, Some(home)) => Some(CaseCitizen {
                personnummer,
                id_confirmed: r.citizen_id_confirmed.unwrap_or(true),
                eidas: r.citizen_eidas,
                registered_home: code("citizen home", home)?,
            }),
            (None, None) => None,
            (Some(_), None) => return Err(corrupt("case", "a personnummer without a home")),
        };
        Ok(Case {
            id: CaseId::parse(&r.id).map_err(|e| corrupt("case id", e))?,
            category: CategoryId::parse(&r.category).map_err(|e| corrupt("case category", e))?,
            language: Language::parse(&r.language).map_err(|e| corrupt("case language", e))?,
            channel: named("channel", &r.channel, Channel::parse)?,
            urgent: r.urgent,
            home: code("case home", &r.home)?,
            citizen,
            protection: match r.citizen_protection.as_deref() {
                Some(p) => named("protection", p, Protection::parse)?,
                None => Protection::None,
            },
            loa: r
                .citizen_loa
                .as_deref()
                .map(|l| named("level of assurance", l, Loa::parse))
                .transpose()?,
            access_code_hash: r.access_code_hash,
            state: named("case state", &r.state, CaseState::parse)?,
            ring: r.ring,
            owner: r
                .owner
                .as_deref()
                .map(|o| CaseworkerId::parse(o).map_err(|e| corrupt("case owner", e)))
                .transpose()?,
            handler: r
                .handler
                .as_deref()
                .map(|h| code("case handler", h))
                .transpose()?,
            outcome: r
                .outcome
                .as_deref()
                .map(|o| named("outcome", o, Outcome::parse))
                .transpose()?,
            interpreter_needed: r.interpreter_needed,
            created_at: r.created_at,
            updated_at: r.updated_at,
            queued_since: r.queued_since,
            closed_at: r.closed_at,
            ring_since: r.ring_since,
            assigned_at: r.assigned_at,
            target_municipality: r
                .target_municipality
                .as_deref()
                .map(|t| code("transfer target", t))
                .transpose()?,
            transfer_reason: r.transfer_reason,
            consent: Consent {
                cross_municipality: r.consent_cross_municipality,
                municipalities: r
                    .consent_municipalities
                    .map(|m| codes("consent municipality", &m.0))
                    .transpose()?,
            },
            harm_assessment: r
                .harm_assessment
                .as_deref()
                .map(|h| named("harm assessment", h, HarmAssessment::parse))
                .transpose()?,
            thinned_at: r.thinned_at,
        })
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub(super) struct PermitRow {
    pub municipality: String,
    pub ring: i64,
    pub policies: Json<Vec<String>>,
}

impl TryFrom<PermitRow> for Permit {
    type Error = StoreError;

    fn try_from(r: PermitRow) -> Result<Self, StoreError> {
        Ok(Permit {
            municipality: code("permit municipality", &r.municipality)?,
            ring: r.ring,
            policies: r.policies.0,
        })
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub(super) struct OfferRow {
    pub id: String,
    pub case_id: String,
    pub caseworker_id: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub outcome: Option<String>,
}

impl TryFrom<OfferRow> for Offer {
    type Error = StoreError;

    fn try_from(r: OfferRow) -> Result<Self, StoreError> {
        Ok(Offer {
            id: OfferId::parse(&r.id).map_err(|e| corrupt("offer id", e))?,
            case_id: CaseId::parse(&r.case_id).map_err(|e| corrupt("offer case", e))?,
            caseworker: CaseworkerId::parse(&r.caseworker_id)
                .map_err(|e| corrupt("offer caseworker", e))?,
            created_at: r.created_at,
            expires_at: r.expires_at,
            ended_at: r.ended_at,
            outcome: r
                .outcome
                .as_deref()
                .map(|o| named("offer outcome", o, OfferOutcome::parse))
                .transpose()?,
        })
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub(super) struct RoutingSettingsRow {
    pub category: String,
    pub mode: String,
    pub ring_timeouts: Json<Vec<i64>>,
    pub offer_timeout_secs: i64,
    pub fair_share_per_10k: Option<f64>,
}

impl TryFrom<RoutingSettingsRow> for CategoryRouting {
    type Error = StoreError;

    fn try_from(r: RoutingSettingsRow) -> Result<Self, StoreError> {
        Ok(CategoryRouting {
            category: r.category,
            mode: named("routing mode", &r.mode, Mode::parse)?,
            ring_timeouts: r.ring_timeouts.0,
            offer_timeout: r.offer_timeout_secs,
            fair_share_per_10k: r.fair_share_per_10k,
        })
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub(super) struct TraceRow {
    pub at: DateTime<Utc>,
    pub trace: Json<serde_json::Value>,
}

impl From<TraceRow> for RoutingTrace {
    fn from(r: TraceRow) -> Self {
        RoutingTrace {
            at: r.at,
            trace: r.trace.0,
        }
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub(super) struct MessageRow {
    pub sender: String,
    pub author: Option<String>,
    pub body: String,
    pub at: DateTime<Utc>,
}

impl TryFrom<MessageRow> for Message {
    type Error = StoreError;

    fn try_from(r: MessageRow) -> Result<Self, StoreError> {
        Ok(Message {
            sender: named("message sender", &r.sender, Sender::parse)?,
            author: r
                .author
                .as_deref()
                .map(|a| CaseworkerId::parse(a).map_err(|e| corrupt("message author", e)))
                .transpose()?,
            body: r.body,
            at: r.at,
        })
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub(super) struct ConsentRow {
    pub cross_municipality: bool,
    pub municipalities: Option<Json<Vec<String>>>,
    pub at: DateTime<Utc>,
    pub actor: String,
}

impl TryFrom<ConsentRow> for ConsentEntry {
    type Error = StoreError;

    fn try_from(r: ConsentRow) -> Result<Self, StoreError> {
        Ok(ConsentEntry {
            consent: Consent {
                cross_municipality: r.cross_municipality,
                municipalities: r
                    .municipalities
                    .map(|m| codes("consent municipality", &m.0))
                    .transpose()?,
            },
            at: r.at,
            by: named("consent actor", &r.actor, ConsentActor::parse)?,
        })
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub(super) struct NoteRow {
    pub id: i64,
    pub kind: String,
    pub body: String,
    pub author: String,
    pub at: DateTime<Utc>,
}

impl TryFrom<NoteRow> for CaseNote {
    type Error = StoreError;

    fn try_from(r: NoteRow) -> Result<Self, StoreError> {
        Ok(CaseNote {
            id: r.id,
            kind: named("note kind", &r.kind, NoteKind::parse)?,
            body: r.body,
            author: r.author,
            at: r.at,
        })
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub(super) struct ApiTokenRow {
    pub id: String,
    pub kind: String,
    pub principal: Json<serde_json::Value>,
    pub name: Option<String>,
    pub scopes: Json<Vec<String>>,
    pub web_session: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl TryFrom<ApiTokenRow> for ApiToken {
    type Error = StoreError;

    fn try_from(r: ApiTokenRow) -> Result<Self, StoreError> {
        Ok(ApiToken {
            id: r.id,
            kind: named("token kind", &r.kind, TokenKind::parse)?,
            principal: serde_json::from_value::<Principal>(r.principal.0)
                .map_err(|e| corrupt("token principal", e))?,
            name: r.name,
            scopes: r
                .scopes
                .0
                .iter()
                .map(|s| named("token scope", s, Scope::parse))
                .collect::<Result<_, _>>()?,
            login_id: r.web_session,
            created_by: r.created_by,
            created_at: r.created_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
        })
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub(super) struct HarmAssessmentRow {
    pub caseworker_id: String,
    pub cross_border_ok: bool,
    pub reason: String,
    pub at: DateTime<Utc>,
}

impl TryFrom<HarmAssessmentRow> for HarmAssessmentEntry {
    type Error = StoreError;

    fn try_from(r: HarmAssessmentRow) -> Result<Self, StoreError> {
        Ok(HarmAssessmentEntry {
            caseworker: CaseworkerId::parse(&r.caseworker_id)
                .map_err(|e| corrupt("assessing caseworker", e))?,
            assessment: HarmAssessment::of(r.cross_border_ok),
            reason: r.reason,
            at: r.at,
        })
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub(super) struct PolicyVersionRow {
    pub version: i64,
    pub policies: String,
    pub tests: String,
    pub author: String,
    pub created_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
    pub activated_by: Option<String>,
    pub active: bool,
}

impl From<PolicyVersionRow> for PolicyVersion {
    fn from(r: PolicyVersionRow) -> Self {
        PolicyVersion {
            version: r.version,
            author: r.author,
            created_at: r.created_at,
            activated_at: r.activated_at,
            activated_by: r.activated_by,
            active: r.active,
            text: r.policies,
            tests: r.tests,
        }
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub(super) struct AuditRow {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub actor_municipality: Option<String>,
    pub municipality: String,
    pub action: String,
    pub case_id: Option<String>,
    pub policies: Json<Vec<String>>,
    pub detail: Json<serde_json::Value>,
    pub seq: Option<i64>,
    pub role: Option<String>,
    pub request_id: Option<String>,
    pub prev_mac: Option<String>,
    pub mac: Option<String>,
    pub actor_name: Option<String>,
}

/// Audit rows are read as stored, byte for byte: whatever they say is what the seal covers,
/// so nothing is parsed that could refuse a tampered row before verification finds it.
impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> Self {
        AuditEntry {
            id: r.id,
            at: r.at,
            actor: r.actor,
            actor_municipality: r.actor_municipality,
            municipality: r.municipality,
            action: r.action,
            case_id: r.case_id,
            policies: r.policies.0,
            detail: r.detail.0,
            seq: r.seq,
            actor_name: r.actor_name,
            role: r.role,
            request_id: r.request_id,
            prev_mac: r.prev_mac,
            mac: r.mac,
        }
    }
}

/// Which audit events to read (every filter optional), newest first.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub case_id: Option<CaseId>,
    pub actor: Option<String>,
    /// Whose chain (the controller's: the case's home, or the federation's id).
    pub municipality: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub limit: u32,
}

/// One audit event to append. `municipality` is whose chain it belongs to: the case's home
/// (filled in by the store for a case's change), the acting municipality's, or the
/// federation's id.
#[derive(Clone, Debug)]
pub struct NewAuditEvent {
    pub at: DateTime<Utc>,
    pub actor: Actor,
    pub actor_municipality: Option<MunicipalityCode>,
    pub municipality: String,
    pub action: String,
    pub case_id: Option<CaseId>,
    /// The legal ground: the policies that decided.
    pub policies: Vec<String>,
    pub detail: serde_json::Value,
    /// The HTTP request that caused it (`None` for the scheduler's own work).
    pub request_id: Option<String>,
    /// The acting person's name (administrators, caseworkers), for people reading the trail.
    pub actor_name: Option<String>,
}

/// A bearer token to store: only the hash of its secret.
#[derive(Clone, Debug)]
pub struct NewApiToken {
    pub id: String,
    pub token_hash: String,
    pub kind: TokenKind,
    pub principal: Principal,
    pub name: Option<String>,
    pub scopes: Vec<Scope>,
    pub login_id: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub struct NewMessage {
    pub sender: Sender,
    pub author: Option<CaseworkerId>,
    pub body: String,
}

/// The identity a new case keeps (R16: none for anonymous requests).
#[derive(Clone, Debug)]
pub struct NewCitizen {
    pub personnummer: Option<Personnummer>,
    /// For a samordningsnummer: confirmed by the eID broker (R2).
    pub id_confirmed: bool,
    /// An eIDAS citizen's stable subject.
    pub eidas: Option<String>,
    pub registered_home: MunicipalityCode,
    pub protection: Protection,
    pub loa: Loa,
}

/// A request as the router placed it: inserted with its first message, consent, permits,
/// routing trace and audit event, in one transaction.
#[derive(Clone, Debug)]
pub struct NewCase {
    pub id: CaseId,
    pub category: CategoryId,
    pub language: Language,
    pub urgent: bool,
    pub home: MunicipalityCode,
    /// `None`: anonymous (then `access_code_hash` is set).
    pub citizen: Option<NewCitizen>,
    pub access_code_hash: Option<String>,
    pub ring: i64,
    pub interpreter_needed: bool,
    pub permits: Vec<Permit>,
    pub text: String,
    pub consent: Consent,
    pub trace: serde_json::Value,
    pub at: DateTime<Utc>,
}

/// How an offer row changes with a transition.
#[derive(Clone, Debug)]
pub enum OfferWrite {
    /// With [`crate::domain::case::CaseEvent::Offer`].
    Create {
        id: OfferId,
        expires_at: DateTime<Utc>,
    },
    /// With an accept (which also needs the offer unexpired) or an ended offer.
    End { id: OfferId, outcome: OfferOutcome },
}

/// A change of where a case may go, written with a transition or on its own (widening).
#[derive(Clone, Debug, Default)]
pub struct RoutingWrite {
    pub ring: Option<i64>,
    pub interpreter_needed: Option<bool>,
    /// `Some(None)` clears the target.
    pub target_municipality: Option<Option<MunicipalityCode>>,
    pub transfer_reason: Option<String>,
}

/// A new consent, recorded in the history and set on the case.
#[derive(Clone, Debug)]
pub struct ConsentWrite {
    pub consent: Consent,
    pub actor: ConsentActor,
}

/// A home caseworker's harm assessment (R12).
#[derive(Clone, Debug)]
pub struct HarmWrite {
    pub caseworker: CaseworkerId,
    pub assessment: HarmAssessment,
    pub reason: String,
}

/// What is written together with a state change (or an amendment without one).
#[derive(Clone, Debug)]
pub struct CaseWrite {
    pub at: DateTime<Utc>,
    pub message: Option<NewMessage>,
    pub outcome: Option<Outcome>,
    pub trace: Option<serde_json::Value>,
    pub offer: Option<OfferWrite>,
    pub routing: Option<RoutingWrite>,
    /// Replaces the municipalities the case may be handled in.
    pub permits: Option<Vec<Permit>>,
    pub consent: Option<ConsentWrite>,
    pub harm_assessment: Option<HarmWrite>,
    /// Free text about the citizen kept with the case; the audit event's detail names it as
    /// `"note"` (its number), never its text (R17).
    pub note: Option<NewNote>,
    /// The citizen's protection as the population register now says (R11).
    pub protection: Option<Protection>,
    /// Its `at`, `case_id` and `municipality` are filled in from the case by the store.
    pub audit: NewAuditEvent,
}

/// A note to keep with the case (R17).
#[derive(Clone, Debug)]
pub struct NewNote {
    pub kind: NoteKind,
    pub body: String,
    pub author: String,
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
            note: None,
            protection: None,
            audit,
        }
    }
}

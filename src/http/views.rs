//! JSON shapes of API.md's answers, built from store records. What a caller sees is decided
//! here once: identifying data only for the owner (R8), no access-code hash ever.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::case::CaseState;
use crate::store::{CaseRecord, CaseworkerRecord, ConsentRecord, MessageRecord};
use crate::workflow::{CaseView, Emergency, Submitted};

#[derive(Serialize)]
pub struct MessageView {
    pub from: String,
    pub text: String,
    pub at: DateTime<Utc>,
}

impl From<&MessageRecord> for MessageView {
    fn from(m: &MessageRecord) -> Self {
        MessageView {
            from: m.sender.clone(),
            text: m.body.clone(),
            at: m.at,
        }
    }
}

#[derive(Serialize)]
pub struct ConsentView {
    pub cross_municipality: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub municipalities: Option<Vec<String>>,
    pub given_at: DateTime<Utc>,
}

/// The consent as it stands now, with every earlier version (R9: the history is kept).
#[derive(Serialize)]
pub struct ConsentHistoryView {
    pub cross_municipality: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub municipalities: Option<Vec<String>>,
    pub given_at: DateTime<Utc>,
    pub history: Vec<ConsentEntryView>,
}

#[derive(Serialize)]
pub struct ConsentEntryView {
    pub cross_municipality: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub municipalities: Option<Vec<String>>,
    pub at: DateTime<Utc>,
    /// `citizen`, `anonymous` or `system`.
    pub by: String,
}

impl ConsentHistoryView {
    /// `None` for an empty history (a request always has its first consent).
    pub fn new(history: &[ConsentRecord]) -> Option<Self> {
        let current = history.last()?;
        Some(ConsentHistoryView {
            cross_municipality: current.cross_municipality,
            municipalities: current.municipalities.as_ref().map(|m| m.0.clone()),
            given_at: current.at,
            history: history
                .iter()
                .map(|c| ConsentEntryView {
                    cross_municipality: c.cross_municipality,
                    municipalities: c.municipalities.as_ref().map(|m| m.0.clone()),
                    at: c.at,
                    by: c.actor.clone(),
                })
                .collect(),
        })
    }
}

impl From<&ConsentRecord> for ConsentView {
    fn from(c: &ConsentRecord) -> Self {
        ConsentView {
            cross_municipality: c.cross_municipality,
            municipalities: c.municipalities.as_ref().map(|m| m.0.clone()),
            given_at: c.at,
        }
    }
}

#[derive(Serialize)]
pub struct EmergencyView {
    pub call: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub socialjour_phone: Option<String>,
    pub message: &'static str,
}

impl EmergencyView {
    pub fn new(e: Emergency, lang: crate::i18n::Lang) -> Self {
        EmergencyView {
            call: e.call,
            socialjour_phone: e.socialjour_phone,
            message: crate::i18n::text(lang, "emergency.message"),
        }
    }
}

#[derive(Serialize)]
pub struct SubmittedView {
    pub id: String,
    pub state: CaseState,
    pub ring: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub municipality: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emergency: Option<EmergencyView>,
}

impl SubmittedView {
    pub fn new(s: Submitted, lang: crate::i18n::Lang) -> Self {
        SubmittedView {
            id: s.case.id,
            state: s.case.state,
            ring: s.case.ring,
            municipality: s.case.handler,
            access_code: s.access_code,
            emergency: s.emergency.map(|e| EmergencyView::new(e, lang)),
        }
    }
}

/// A request as its citizen sees it.
#[derive(Serialize)]
pub struct RequestView {
    pub id: String,
    pub category: String,
    pub language: String,
    pub state: CaseState,
    pub ring: i64,
    /// The handling municipality, once a caseworker has the case.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub municipality: Option<String>,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent: Option<ConsentView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<MessageView>>,
}

impl RequestView {
    pub fn summary(c: &CaseRecord) -> Self {
        RequestView {
            id: c.id.clone(),
            category: c.category.clone(),
            language: c.language.clone(),
            state: c.state,
            ring: c.ring,
            municipality: c.state.is_owned().then(|| c.handler.clone()).flatten(),
            created_at: c.created_at,
            consent: None,
            messages: None,
        }
    }

    pub fn full(v: &CaseView) -> Self {
        RequestView {
            consent: v.consent.as_ref().map(ConsentView::from),
            messages: Some(v.messages.iter().map(MessageView::from).collect()),
            ..RequestView::summary(&v.case)
        }
    }
}

#[derive(Serialize)]
pub struct CitizenView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub personnummer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registered_home: Option<String>,
    pub protection: String,
    pub anonymous: bool,
}

/// A case as a caseworker sees it.
#[derive(Serialize)]
pub struct CaseworkerCaseView {
    pub id: String,
    pub category: String,
    pub language: String,
    pub urgent: bool,
    pub state: CaseState,
    pub ring: i64,
    pub owner: Option<String>,
    pub home: String,
    pub municipality: Option<String>,
    pub interpreter_needed: bool,
    pub created_at: DateTime<Utc>,
    pub waiting_since: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// Only for the caseworker who has the case (R8).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub citizen: Option<CitizenView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<MessageView>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub legal_ground: Option<Vec<String>>,
}

impl CaseworkerCaseView {
    pub fn summary(c: &CaseRecord, viewer: &CaseworkerRecord) -> Self {
        let owns = c.owner.as_deref() == Some(viewer.id.as_str()) && c.state.is_owned();
        CaseworkerCaseView {
            id: c.id.clone(),
            category: c.category.clone(),
            language: c.language.clone(),
            urgent: c.urgent,
            state: c.state,
            ring: c.ring,
            owner: c.owner.clone(),
            home: c.home.clone(),
            municipality: c.handler.clone(),
            interpreter_needed: c.interpreter_needed,
            created_at: c.created_at,
            waiting_since: c.queued_since,
            outcome: c.outcome.clone(),
            citizen: owns.then(|| CitizenView {
                personnummer: c.citizen_personnummer.clone(),
                registered_home: c.citizen_home.clone(),
                protection: c
                    .citizen_protection
                    .clone()
                    .unwrap_or_else(|| "none".to_owned()),
                anonymous: c.is_anonymous(),
            }),
            messages: None,
            legal_ground: None,
        }
    }

    pub fn full(v: &CaseView, viewer: &CaseworkerRecord) -> Self {
        CaseworkerCaseView {
            messages: Some(v.messages.iter().map(MessageView::from).collect()),
            legal_ground: Some(v.legal_ground.clone()),
            ..CaseworkerCaseView::summary(&v.case, viewer)
        }
    }
}

/// A queue item: non-identifying metadata only (R8).
#[derive(Serialize)]
pub struct QueueItemView {
    pub id: String,
    pub category: String,
    pub language: String,
    pub urgent: bool,
    pub home: String,
    pub waiting_since: DateTime<Utc>,
    pub ring: i64,
    pub interpreter_needed: bool,
}

impl From<&CaseRecord> for QueueItemView {
    fn from(c: &CaseRecord) -> Self {
        QueueItemView {
            id: c.id.clone(),
            category: c.category.clone(),
            language: c.language.clone(),
            urgent: c.urgent,
            home: c.home.clone(),
            waiting_since: c.queued_since,
            ring: c.ring,
            interpreter_needed: c.interpreter_needed,
        }
    }
}

#[derive(Serialize)]
pub struct CaseworkerView {
    pub id: String,
    pub name: String,
    pub municipality: String,
    pub skills: Vec<String>,
    pub languages: Vec<String>,
    pub capacity: i64,
    pub max_capacity: i64,
    pub status: &'static str,
    pub protected_identity_clearance: bool,
}

impl From<&CaseworkerRecord> for CaseworkerView {
    fn from(c: &CaseworkerRecord) -> Self {
        CaseworkerView {
            id: c.id.clone(),
            name: c.name.clone(),
            municipality: c.municipality.clone(),
            skills: c.skills.0.clone(),
            languages: c.languages.0.clone(),
            capacity: c.capacity,
            max_capacity: c.max_capacity,
            status: c.status.as_str(),
            protected_identity_clearance: c.protected_identity_clearance,
        }
    }
}

//! JSON shapes of API.md's answers, built from the domain's values as the workflows showed
//! them. What a caller may see is the workflows' answer (`Shown.identity`: who the citizen is
//! only for the caseworker who has the case, R8); no access-code hash ever leaves.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::case::{Case, CaseState, ConsentEntry, Message};
use crate::domain::people::Caseworker;
use crate::workflow::{CaseView, Emergency, Shown, Submitted};

#[derive(Serialize)]
pub struct MessageView {
    pub from: String,
    pub text: String,
    pub at: DateTime<Utc>,
}

impl From<&Message> for MessageView {
    fn from(m: &Message) -> Self {
        MessageView {
            from: m.sender.as_str().to_owned(),
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
    pub fn new(history: &[ConsentEntry]) -> Option<Self> {
        let current = history.last()?;
        Some(ConsentHistoryView {
            cross_municipality: current.consent.cross_municipality,
            municipalities: codes(current),
            given_at: current.at,
            history: history
                .iter()
                .map(|c| ConsentEntryView {
                    cross_municipality: c.consent.cross_municipality,
                    municipalities: codes(c),
                    at: c.at,
                    by: c.by.as_str().to_owned(),
                })
                .collect(),
        })
    }
}

fn codes(c: &ConsentEntry) -> Option<Vec<String>> {
    c.consent
        .municipalities
        .as_ref()
        .map(|list| list.iter().map(|m| m.as_str().to_owned()).collect())
}

impl From<&ConsentEntry> for ConsentView {
    fn from(c: &ConsentEntry) -> Self {
        ConsentView {
            cross_municipality: c.consent.cross_municipality,
            municipalities: codes(c),
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
            id: s.case.id.as_str().to_owned(),
            state: s.case.state,
            ring: s.case.ring,
            municipality: s.case.handler.map(String::from),
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
    pub fn summary(c: &Case) -> Self {
        RequestView {
            id: c.id.as_str().to_owned(),
            category: c.category.as_str().to_owned(),
            language: c.language.as_str().to_owned(),
            state: c.state,
            ring: c.ring,
            municipality: c
                .handler
                .as_ref()
                .filter(|_| c.state.is_owned())
                .map(|h| h.as_str().to_owned()),
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
    /// Only for whoever may read the case's content (R8, R15: `read_content`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub citizen: Option<CitizenView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<MessageView>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub legal_ground: Option<Vec<String>>,
    /// Why the case was last transferred: free text about the citizen, so only with the
    /// content (R8, R17), for the municipality or colleague who receives it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_reason: Option<String>,
}

impl CaseworkerCaseView {
    fn of(c: &Case, identity: bool) -> Self {
        CaseworkerCaseView {
            id: c.id.as_str().to_owned(),
            category: c.category.as_str().to_owned(),
            language: c.language.as_str().to_owned(),
            urgent: c.urgent,
            state: c.state,
            ring: c.ring,
            owner: c.owner.as_ref().map(|o| o.as_str().to_owned()),
            home: c.home.as_str().to_owned(),
            municipality: c.handler.as_ref().map(|h| h.as_str().to_owned()),
            interpreter_needed: c.interpreter_needed,
            created_at: c.created_at,
            waiting_since: c.queued_since,
            outcome: c.outcome.map(|o| o.as_str().to_owned()),
            citizen: identity.then(|| CitizenView {
                personnummer: c.personnummer().map(|p| p.as_str().to_owned()),
                registered_home: c
                    .citizen
                    .as_ref()
                    .map(|z| z.registered_home.as_str().to_owned()),
                protection: c.protection.as_str().to_owned(),
                anonymous: c.is_anonymous(),
            }),
            messages: None,
            legal_ground: None,
            transfer_reason: None,
        }
    }

    pub fn summary(shown: &Shown) -> Self {
        Self::of(&shown.case, shown.identity)
    }

    pub fn full(v: &CaseView) -> Self {
        CaseworkerCaseView {
            // Metadata only for whoever may not read the content (R15): no thread at all,
            // rather than an empty one.
            messages: v
                .identity
                .then(|| v.messages.iter().map(MessageView::from).collect()),
            legal_ground: Some(v.legal_ground.clone()),
            transfer_reason: v.case.transfer_reason.clone().filter(|_| v.identity),
            ..Self::of(&v.case, v.identity)
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

impl From<&Case> for QueueItemView {
    fn from(c: &Case) -> Self {
        QueueItemView {
            id: c.id.as_str().to_owned(),
            category: c.category.as_str().to_owned(),
            language: c.language.as_str().to_owned(),
            urgent: c.urgent,
            home: c.home.as_str().to_owned(),
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
    pub capacity: u32,
    pub max_capacity: u32,
    pub status: &'static str,
    pub protected_identity_clearance: bool,
}

impl From<&Caseworker> for CaseworkerView {
    fn from(c: &Caseworker) -> Self {
        CaseworkerView {
            id: c.id.as_str().to_owned(),
            name: c.name.clone(),
            municipality: c.municipality.as_str().to_owned(),
            skills: c.skills.iter().map(|s| s.as_str().to_owned()).collect(),
            languages: c.languages.iter().map(|l| l.as_str().to_owned()).collect(),
            capacity: c.capacity,
            max_capacity: c.max_capacity,
            status: c.status.as_str(),
            protected_identity_clearance: c.protected_identity_clearance,
        }
    }
}

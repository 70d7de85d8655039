//! The citizen's right of access (R19, GDPR art. 15): everything stored about them — their
//! requests with every message, the consent history, harm assessments, and which
//! municipalities opened their cases and when (from the audit trail).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Context, Result};
use crate::auth::CitizenPrincipal;
use crate::policy::{self, Action};

#[derive(Debug, Serialize)]
pub struct Export {
    pub generated_at: DateTime<Utc>,
    pub person: Person,
    pub requests: Vec<ExportedRequest>,
}

#[derive(Debug, Serialize)]
pub struct Person {
    pub personnummer: Option<String>,
    pub registered_home: String,
    pub protection: String,
    pub level_of_assurance: String,
}

#[derive(Debug, Serialize)]
pub struct ExportedMessage {
    pub from: String,
    pub text: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
pub struct ExportedConsent {
    pub cross_municipality: bool,
    pub municipalities: Option<Vec<String>>,
    pub at: DateTime<Utc>,
    pub by: String,
}

#[derive(Debug, Serialize)]
pub struct ExportedAssessment {
    pub cross_border_ok: bool,
    pub at: DateTime<Utc>,
}

/// One access to the case by staff: which municipality, in which role, what, when.
#[derive(Debug, Serialize)]
pub struct Opened {
    pub municipality: String,
    pub role: String,
    pub action: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Serialize)]
pub struct ExportedRequest {
    pub id: String,
    pub category: String,
    pub language: String,
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub outcome: Option<String>,
    /// The municipality responsible (the home nämnd, controller).
    pub home: String,
    /// The municipality handling it, while one does.
    pub handled_by: Option<String>,
    pub messages: Vec<ExportedMessage>,
    pub consents: Vec<ExportedConsent>,
    pub harm_assessments: Vec<ExportedAssessment>,
    pub opened_by: Vec<Opened>,
}

impl Context {
    pub async fn export(&self, citizen: &CitizenPrincipal) -> Result<Export> {
        let now = self.clock.now();
        let cases = match &citizen.personnummer {
            Some(number) => self.store.cases_of_citizen(number).await?,
            None => Vec::new(),
        };
        let principal = policy::citizen_principal(citizen);
        let mut requests = Vec::new();
        for case in cases {
            let decision = self.policy.citizen_may(
                Action::Export,
                &self.federation,
                principal.clone(),
                &case,
                self.clock.today(),
            );
            if !decision.allowed {
                continue;
            }
            let messages = self.store.messages(&case.id).await?;
            let consents = self.store.consents(&case.id).await?;
            let assessments = self.store.harm_assessments(&case.id).await?;
            let mut trail = self.store.audit_events(Some(&case.id), 100_000).await?;
            trail.reverse();
            let opened_by = trail
                .into_iter()
                .filter_map(|e| {
                    Some(Opened {
                        municipality: e.actor_municipality?,
                        role: e.role.unwrap_or_default(),
                        action: e.action,
                        at: e.at,
                    })
                })
                .collect();
            let mut event = self.audit("citizen".into(), None, "export", decision.policies);
            event.detail = serde_json::json!({ "messages": messages.len() });
            self.record_read(event, &case).await?;
            requests.push(ExportedRequest {
                id: case.id.clone(),
                category: case.category.clone(),
                language: case.language.clone(),
                state: case.state.as_str().to_owned(),
                created_at: case.created_at,
                closed_at: case.closed_at,
                outcome: case.outcome.clone(),
                home: case.home.clone(),
                handled_by: case.handler.clone(),
                messages: messages
                    .into_iter()
                    .map(|m| ExportedMessage {
                        from: m.sender,
                        text: m.body,
                        at: m.at,
                    })
                    .collect(),
                consents: consents
                    .into_iter()
                    .map(|c| ExportedConsent {
                        cross_municipality: c.cross_municipality,
                        municipalities: c.municipalities.map(|m| m.0),
                        at: c.at,
                        by: c.actor,
                    })
                    .collect(),
                harm_assessments: assessments
                    .into_iter()
                    .map(|a| ExportedAssessment {
                        cross_border_ok: a.cross_border_ok,
                        at: a.at,
                    })
                    .collect(),
                opened_by,
            });
        }
        Ok(Export {
            generated_at: now,
            person: Person {
                personnummer: citizen.personnummer.clone(),
                registered_home: citizen.home.clone(),
                protection: citizen.protection.as_str().to_owned(),
                level_of_assurance: citizen.loa.as_str().to_owned(),
            },
            requests,
        })
    }
}

//! The citizen's right of access (R19, GDPR art. 15): everything stored about them — their
//! requests with every message, the consent history, harm assessments, and which
//! municipalities opened their cases and when (from the audit trail).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::gate::Subject;
use super::{Context, Result};
use crate::domain::people::Citizen;
use crate::policy::Action;

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
    /// Why, as the home caseworker wrote it.
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// Why the case was moved, as whoever moved it wrote it.
#[derive(Debug, Serialize)]
pub struct ExportedReason {
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// One routing decision about the request: where it could go and why not elsewhere. The
/// caseworkers the router weighed are staff data and are left out.
#[derive(Debug, Serialize)]
pub struct ExportedRouting {
    pub at: DateTime<Utc>,
    /// What happened: `submitted`, `widened_at_once`, `ring_timeout`, `offer`, …
    pub event: Option<String>,
    pub ring: Option<i64>,
    /// The municipalities that could handle it, ring by ring.
    pub rings: Vec<serde_json::Value>,
    /// The municipalities that could not, with the rules that say so.
    pub refused: serde_json::Value,
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
    pub transfer_reasons: Vec<ExportedReason>,
    pub routing: Vec<ExportedRouting>,
    pub opened_by: Vec<Opened>,
}

impl Context {
    pub async fn export(&self, citizen: &Citizen) -> Result<Export> {
        let now = self.clock.now();
        let cases = match citizen.reference() {
            Some(reference) => self.store.cases_of_citizen(reference).await?,
            None => Vec::new(),
        };
        let subject = Subject::Citizen(citizen.clone());
        let mut requests = Vec::new();
        for proof in self.admit_each(&subject, &[Action::Export], cases) {
            let messages = self.thread(&proof).await?;
            let consents = self.consent_history(&proof).await?;
            let assessments = self.assessments(&proof).await?;
            let notes = self.notes(&proof).await?;
            let traces = self.traces(&proof).await?;
            let mut trail = self.case_trail(&proof).await?;
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
            self.record_read(
                &proof,
                "export",
                Some(serde_json::json!({ "messages": messages.len() })),
            )
            .await?;
            let case = proof.case();
            requests.push(ExportedRequest {
                id: case.id.as_str().to_owned(),
                category: case.category.as_str().to_owned(),
                language: case.language.as_str().to_owned(),
                state: case.state.as_str().to_owned(),
                created_at: case.created_at,
                closed_at: case.closed_at,
                outcome: case.outcome.map(|o| o.as_str().to_owned()),
                home: case.home.as_str().to_owned(),
                handled_by: case.handler.as_ref().map(|h| h.as_str().to_owned()),
                messages: messages
                    .into_iter()
                    .map(|m| ExportedMessage {
                        from: m.sender.as_str().to_owned(),
                        text: m.body,
                        at: m.at,
                    })
                    .collect(),
                consents: consents
                    .into_iter()
                    .map(|c| ExportedConsent {
                        cross_municipality: c.consent.cross_municipality,
                        municipalities: c
                            .consent
                            .municipalities
                            .map(|list| list.iter().map(|m| m.as_str().to_owned()).collect()),
                        at: c.at,
                        by: c.by.as_str().to_owned(),
                    })
                    .collect(),
                harm_assessments: assessments
                    .into_iter()
                    .map(|a| ExportedAssessment {
                        cross_border_ok: a.assessment
                            == crate::domain::case::HarmAssessment::CrossBorderOk,
                        reason: a.reason,
                        at: a.at,
                    })
                    .collect(),
                transfer_reasons: notes
                    .into_iter()
                    .filter(|n| n.kind == crate::domain::case::NoteKind::TransferReason)
                    .map(|n| ExportedReason {
                        reason: n.body,
                        at: n.at,
                    })
                    .collect(),
                routing: traces.into_iter().map(routing_decision).collect(),
                opened_by,
            });
        }
        Ok(Export {
            generated_at: now,
            person: Person {
                personnummer: citizen.personnummer.as_ref().map(|p| p.as_str().to_owned()),
                registered_home: citizen.home.as_str().to_owned(),
                protection: citizen.protection.as_str().to_owned(),
                level_of_assurance: citizen.loa.as_str().to_owned(),
            },
            requests,
        })
    }
}

/// A routing trace as its citizen reads it: the rings' municipalities and the refusals, without
/// the caseworkers the router weighed.
fn routing_decision(trace: crate::domain::case::RoutingTrace) -> ExportedRouting {
    let t = &trace.trace;
    ExportedRouting {
        at: trace.at,
        event: t["event"].as_str().map(str::to_owned),
        ring: t["ring"].as_i64(),
        rings: t["rings"]
            .as_array()
            .map(|rings| {
                rings
                    .iter()
                    .map(|r| serde_json::json!({ "ring": r["ring"], "municipalities": r["municipalities"] }))
                    .collect()
            })
            .unwrap_or_default(),
        refused: t["refused"].clone(),
    }
}

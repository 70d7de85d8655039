//! The citizens' side: submit a request, read it, write in its thread, cancel it, list one's
//! own. A logged-in citizen is a [`Subject::Citizen`]; an anonymous visitor proves the access
//! code of one request and is then a [`Subject::Visitor`] of it (R1).

use serde_json::json;

use chrono::{DateTime, Utc};

use super::gate::{Allowed, Changes, Ground, Subject};
use super::{CaseView, Context, Error, Result, Shown, check_text};
use crate::audit::AuditEntry;
use crate::auth;
use crate::domain::access::Actor;
use crate::domain::case::{Case, CaseEvent, CaseState, Consent, OfferOutcome, Sender};
use crate::domain::ids::{CaseId, Language, MunicipalityCode};
use crate::domain::people::Citizen;
use crate::policy::{self, Action, ConsentFacts, Identity};
use crate::routing::{self, Submitter};
use crate::store::{CaseActivity, NewCase, NewCitizen, NewMessage, OfferWrite};

use super::limits::Client;

/// How a citizen-side caller proves the request is theirs.
#[derive(Clone, Debug)]
pub enum CitizenKey {
    Citizen(Citizen),
    /// The anonymous visitor's access code (R1), and where it came from: wrong codes are
    /// limited per client address.
    AccessCode {
        code: String,
        client: Client,
    },
}

pub struct ConsentInput {
    pub cross_municipality: bool,
    pub municipalities: Option<Vec<String>>,
}

pub struct SubmitInput {
    pub category: String,
    pub language: String,
    pub text: String,
    pub consent: ConsentInput,
    pub municipality: Option<String>,
    pub child_municipality: Option<String>,
    /// The citizen says it is urgent; some categories always are (R10).
    pub urgent: bool,
}

pub struct Submitted {
    pub case: Case,
    /// Shown once to an anonymous visitor; only its hash is stored.
    pub access_code: Option<String>,
    pub emergency: Option<Emergency>,
}

/// Shown at once with urgent requests (R10: acute danger → 112, socialjour).
pub struct Emergency {
    pub call: &'static str,
    pub socialjour_phone: Option<String>,
}

/// Access codes are shown in groups of four for people to copy; compared without case or dashes.
fn normalize_access_code(code: &str) -> String {
    code.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn new_access_code() -> String {
    let raw = auth::new_token();
    raw.as_bytes()[..24]
        .chunks(4)
        .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

impl Context {
    /// The consent's municipalities, each a member.
    pub(super) fn consent_of(&self, input: &ConsentInput) -> Result<Consent> {
        Ok(Consent {
            cross_municipality: input.cross_municipality,
            municipalities: match &input.municipalities {
                Some(list) => Some(
                    list.iter()
                        .map(|c| self.member(c))
                        .collect::<Result<Vec<_>>>()?,
                ),
                None => None,
            },
        })
    }

    pub async fn submit(
        &self,
        submitter: Option<&Citizen>,
        input: SubmitInput,
    ) -> Result<Submitted> {
        // Routed under the federation as stored: a change on another replica counts at once.
        self.follow_federation().await?;
        let category = self.category(&input.category)?.clone();
        let language = Language::parse(&input.language)
            .ok()
            .filter(|l| self.federation().offers_language(l))
            .ok_or(Error::Unprocessable("unknown_language"))?;
        let text = check_text(&input.text)?;
        if let Some(citizen) = submitter
            && !citizen.loa.suffices_for_identified()
        {
            // R1, the second wall: a session below loa3 cannot exist, but never rely on that.
            return Err(Error::LoaTooLow);
        }
        // R16: where the nämnd decided that identity is not recorded for this kind of advice,
        // a logged-in citizen's request is handled as an anonymous one: nothing identifying is
        // stored, and they follow it with its access code. They are helped where they live
        // (or where they say, as any visitor).
        let stated = match submitter {
            Some(citizen) if !category.record_identity => input
                .municipality
                .clone()
                .or_else(|| Some(citizen.home.as_str().to_owned())),
            _ => input.municipality.clone(),
        };
        let submitter = submitter.filter(|_| category.record_identity);
        let mut consent = self.consent_of(&input.consent)?;
        let who = match submitter {
            Some(c) => Submitter::Citizen(c),
            None => Submitter::Anonymous,
        };
        let placement = routing::place(
            &self.federation(),
            &category,
            &who,
            stated.as_deref(),
            input.child_municipality.as_deref(),
        )?;
        let today = self.clock.today();
        let mut facts = policy::request_facts(
            &category,
            placement.home.as_str(),
            &Identity {
                personnummer: submitter.and_then(|c| c.personnummer.as_ref()),
                id_confirmed: submitter.is_none_or(|c| c.id_confirmed),
                eidas: submitter.and_then(|c| c.eidas.as_deref()),
                anonymous: submitter.is_none(),
                protection: submitter.map(|c| c.protection.as_str()),
                loa: submitter.map(|c| c.loa.as_str()),
            },
            ConsentFacts {
                cross_municipality: consent.cross_municipality,
                municipalities: consent
                    .municipalities
                    .as_ref()
                    .map(|list| list.iter().map(|m| m.as_str().to_owned()).collect()),
            },
            None,
            today,
        );
        let federation = self.federation();
        facts.home_keeps =
            policy::home_keeps(&federation, placement.home.as_str(), category.id.as_str());
        let permits = self.policy.permits(&federation, &facts, today);
        if submitter.is_some() {
            // R8: consent to "every partner" means the partners covered on the day it is
            // given; that list is what is stored, and counts later.
            consent = self.resolved(consent, &placement.home, &category.id);
        }
        let Some(home_permit) = permits.get(placement.home.as_str()).cloned() else {
            // Only R1 keeps a request from its own home; the login refuses such sessions first.
            let why = permits
                .refusal(placement.home.as_str())
                .map(|r| r.policies.clone())
                .unwrap_or_default();
            tracing::warn!(policies = ?why, "a request was refused even at home");
            return Err(Error::LoaTooLow);
        };
        let previous = match submitter.and_then(|c| c.personnummer.as_ref()) {
            Some(number) => self.store.previous_caseworker(number).await?,
            None => None,
        };
        // One snapshot (settings, fair share, every caseworker's load) serves both the
        // selection stored with the case and the dispatch that follows it.
        let snapshot = self.snapshot().await?;
        let selection = Self::select_in(
            &snapshot,
            &permits,
            &crate::routing::select::Need {
                category: category.id.as_str(),
                language: language.as_str(),
                child_concern: category.is_child_concern(),
                interpreter_needed: false,
                protected_identity: submitter.is_some_and(|c| c.protection.is_strict()),
                ring: 0,
                previous_caseworker: previous.as_ref(),
                target_municipality: None,
                declined: &[],
                over_fair_share: &[],
            },
        );
        let mut trace = selection.trace.clone();
        trace["home"] = json!(placement.home.as_str());
        trace["home_reason"] = json!(placement.reason);
        trace["event"] = json!("submitted");
        let now = self.clock.now();
        let id = CaseId::parse(&self.ids.next_id())
            .map_err(|e| Error::Internal(format!("new case id: {e}")))?;
        let access_code = submitter.is_none().then(new_access_code);
        let new = NewCase {
            id,
            category: category.id.clone(),
            language,
            urgent: category.is_urgent() || input.urgent,
            home: placement.home.clone(),
            citizen: submitter.map(|c| NewCitizen {
                personnummer: c.personnummer.clone(),
                id_confirmed: c.id_confirmed,
                eidas: c.eidas.clone(),
                registered_home: c.home.clone(),
                protection: c.protection,
                loa: c.loa,
            }),
            access_code_hash: access_code
                .as_deref()
                .map(|c| auth::token_hash(&normalize_access_code(c))),
            ring: selection.ring,
            interpreter_needed: false,
            permits: permits.permitted.clone(),
            text,
            consent,
            trace,
            at: now,
        };
        let actor = if submitter.is_some() {
            Actor::Citizen
        } else {
            Actor::Anonymous
        };
        let detail = json!({ "category": category.id.as_str(), "ring": selection.ring });
        let unstaffed = category.is_child_concern()
            && !Self::someone_could_take(&snapshot, &placement.home, &category, submitter);
        let case = self
            .create(actor, home_permit.policies.clone(), new, detail, unstaffed)
            .await?;
        let (case, _) = self
            .dispatch_in(&snapshot, case, Some(selection), None)
            .await?;
        let emergency = category.shows_emergency().then(|| Emergency {
            call: "112",
            socialjour_phone: self
                .federation()
                .municipality(&placement.home)
                .and_then(|m| m.socialjour_phone.clone()),
        });
        Ok(Submitted {
            case,
            access_code,
            emergency,
        })
    }

    /// R8: consent to "every partner" resolved to the members an agreement covering the
    /// category joins to the home on the day it is given, so that an agreement that starts
    /// later does not widen it. A consent that names municipalities, or none, stays as given.
    /// (Whether the policies let the request go to them, now or after a harm assessment, is
    /// routing's question, asked at every step.)
    pub(super) fn resolved(
        &self,
        consent: Consent,
        home: &crate::domain::ids::MunicipalityCode,
        category: &crate::domain::ids::CategoryId,
    ) -> Consent {
        if !consent.cross_municipality || consent.municipalities.is_some() {
            return consent;
        }
        Consent {
            cross_municipality: true,
            municipalities: Some(
                self.federation()
                    .partners_on(home, category, self.clock.today()),
            ),
        }
    }

    /// R10 with R11: whether anyone at home could take a concern about a child — someone with
    /// the skill (available or not), and cleared if the reporter's identity is protected.
    fn someone_could_take(
        snapshot: &super::dispatch::Snapshot,
        home: &crate::domain::ids::MunicipalityCode,
        category: &crate::domain::federation::Category,
        reporter: Option<&Citizen>,
    ) -> bool {
        let protected = reporter.is_some_and(|c| c.protection.is_strict());
        snapshot.staff().any(|c| {
            c.municipality == *home
                && c.has_skill(category.id.as_str())
                && (!protected || c.protected_identity_clearance)
        })
    }

    /// The gate for a citizen-side action on a request; 404 for anything refused.
    ///
    /// An anonymous visitor proves the access code of the request and is then its
    /// [`Subject::Visitor`] (R1). A wrong code and an id that does not exist (or is not
    /// anonymous) answer the same 404, so a code says nothing about whether a request exists;
    /// wrong codes are limited per client address, asked before the code is compared, so that
    /// guessing stops rather than slows.
    pub(super) async fn citizen_gate(
        &self,
        key: &CitizenKey,
        id: &str,
        action: Action,
    ) -> Result<Allowed> {
        let (code, client) = match key {
            CitizenKey::Citizen(citizen) => {
                let id = CaseId::parse(id).map_err(|_| Error::NotFound)?;
                let case = self.store.case(&id).await?.ok_or(Error::NotFound)?;
                return self
                    .authorize(Subject::Citizen(citizen.clone()), action, case)
                    .await;
            }
            CitizenKey::AccessCode { code, client } => (code, client),
        };
        let now = self.clock.now();
        self.access_codes
            .check(client, now)
            .map_err(|limited| Error::RateLimited(limited.retry_after_secs))?;
        let case = match CaseId::parse(id) {
            Ok(id) => self.store.case(&id).await?,
            Err(_) => None,
        };
        let hash = auth::token_hash(&normalize_access_code(code));
        let case = match case {
            Some(c) if c.is_anonymous() => c,
            _ => {
                self.access_codes.fail(client, now);
                return Err(Error::NotFound);
            }
        };
        if case.access_code_hash.as_deref() != Some(hash.as_str()) {
            self.access_codes.fail(client, now);
            self.refused_access_code(&case, action).await?;
            return Err(Error::NotFound);
        }
        self.authorize(Subject::Visitor, action, case).await
    }

    pub async fn view_request(&self, key: &CitizenKey, id: &str) -> Result<CaseView> {
        let proof = self.citizen_gate(key, id, Action::ReadContent).await?;
        self.open_request(&proof).await
    }

    /// The request as its citizen opens it: the thread and the consent, the read recorded
    /// (R15) and remembered, so that what a caseworker wrote until now is no longer unread.
    async fn open_request(&self, proof: &Allowed) -> Result<CaseView> {
        let messages = self.thread(proof).await?;
        let consent = self.consent_history(proof).await?.pop();
        self.record_read(proof, "view", None).await?;
        self.mark_citizen_read(proof).await?;
        Ok(CaseView {
            legal_ground: proof.ground().to_vec(),
            case: proof.case().clone(),
            messages,
            consent,
            identity: true,
        })
    }

    /// The request on its citizen's own page (issue 20): what [`Context::view_request`]
    /// shows, where it stands in plain words, and its history from the audit trail — which
    /// municipality took it, never who.
    pub async fn follow_request(&self, key: &CitizenKey, id: &str) -> Result<FollowedRequest> {
        let proof = self.citizen_gate(key, id, Action::ReadContent).await?;
        let activity = self.citizen_activity(&proof).await?;
        let history = self
            .citizen_trail(&proof)
            .await?
            .iter()
            .filter_map(HistoryStep::of)
            .collect();
        let view = self.open_request(&proof).await?;
        Ok(FollowedRequest {
            stage: Stage::of(&view.case, &activity),
            view,
            history,
        })
    }

    pub async fn citizen_writes(&self, key: &CitizenKey, id: &str, text: &str) -> Result<Case> {
        let text = check_text(text)?;
        let proof = self.citizen_gate(key, id, Action::Reply).await?;
        let case_id = proof.case().id.clone();
        let (case, _) = self
            .commit(
                Ground::person(proof),
                &case_id,
                CaseEvent::CitizenWrites,
                Changes {
                    message: Some(NewMessage {
                        sender: Sender::Citizen,
                        author: None,
                        body: text,
                    }),
                    ..Changes::default()
                },
            )
            .await?;
        Ok(case)
    }

    pub async fn cancel(&self, key: &CitizenKey, id: &str) -> Result<Case> {
        let proof = self.citizen_gate(key, id, Action::Cancel).await?;
        let case_id = proof.case().id.clone();
        let offer = self.store.open_offer_of_case(&case_id).await?;
        let changes = Changes {
            offer: offer.as_ref().map(|o| OfferWrite::End {
                id: o.id.clone(),
                outcome: OfferOutcome::Withdrawn,
            }),
            ..Changes::default()
        };
        let (case, _) = self
            .commit(Ground::person(proof), &case_id, CaseEvent::Cancel, changes)
            .await?;
        if let Some(offer) = &offer {
            self.capacity_freed(&offer.caseworker).await?;
        }
        Ok(case)
    }

    /// The citizen's own requests, each shown only as far as the policies let them view it
    /// now; the listing is audited with the ids it showed (R15).
    pub async fn my_requests(&self, citizen: &Citizen) -> Result<Vec<Shown>> {
        let cases = match citizen.reference() {
            Some(reference) => self.store.cases_of_citizen(reference).await?,
            None => Vec::new(),
        };
        let subject = Subject::Citizen(citizen.clone());
        let listed = self
            .list(
                &subject,
                &[Action::View],
                cases,
                "list_own_requests",
                &citizen.home,
            )
            .await?;
        Ok(listed.iter().map(|a| self.shown(a)).collect())
    }

    /// The citizen's own requests for their page (issue 20): as [`Context::my_requests`],
    /// each with where it stands in plain words and whether a caseworker wrote since they
    /// last opened it.
    pub async fn my_requests_overview(&self, citizen: &Citizen) -> Result<Vec<OwnRequest>> {
        let cases = match citizen.reference() {
            Some(reference) => self.store.cases_of_citizen(reference).await?,
            None => Vec::new(),
        };
        let subject = Subject::Citizen(citizen.clone());
        let listed = self
            .list(
                &subject,
                &[Action::View],
                cases,
                "list_own_requests",
                &citizen.home,
            )
            .await?;
        let mut own = Vec::with_capacity(listed.len());
        for proof in &listed {
            let activity = self.citizen_activity(proof).await?;
            own.push(OwnRequest {
                stage: Stage::of(proof.case(), &activity),
                unread: activity
                    .staff_wrote_at
                    .is_some_and(|wrote| activity.citizen_read_at.is_none_or(|read| wrote > read)),
                case: proof.case().clone(),
            });
        }
        Ok(own)
    }
}

/// Where a request stands, as the citizen's pages say it (issue 20: skickad, mottagen, pågår,
/// besvarad, avslutad).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Waiting for a caseworker (queued or offered).
    Sent,
    /// A caseworker has it and has not answered yet.
    Received,
    /// The citizen wrote after an answer, or a caseworker took it again.
    InProgress,
    /// A caseworker answered; it waits for the citizen.
    Answered,
    /// Closed or cancelled.
    Ended,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Sent => "sent",
            Stage::Received => "received",
            Stage::InProgress => "in_progress",
            Stage::Answered => "answered",
            Stage::Ended => "ended",
        }
    }

    fn of(case: &Case, activity: &CaseActivity) -> Stage {
        match case.state {
            CaseState::Queued | CaseState::Offered => Stage::Sent,
            CaseState::Assigned
                if activity.staff_wrote_at.is_some() || activity.assignments > 1 =>
            {
                Stage::InProgress
            }
            CaseState::Assigned => Stage::Received,
            CaseState::WaitingCitizen => Stage::Answered,
            CaseState::Closed | CaseState::Cancelled => Stage::Ended,
        }
    }
}

/// One of the citizen's requests in their list.
#[derive(Clone, Debug)]
pub struct OwnRequest {
    pub case: Case,
    pub stage: Stage,
    /// A caseworker wrote after the citizen last opened it.
    pub unread: bool,
}

/// A request opened on its citizen's page.
#[derive(Clone, Debug)]
pub struct FollowedRequest {
    pub view: CaseView,
    pub stage: Stage,
    /// Oldest first.
    pub history: Vec<HistoryStep>,
}

/// What happened to a request, as its citizen reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HistoryKind {
    Sent,
    /// A caseworker of [`HistoryStep::municipality`] took it.
    Received,
    Answered,
    CitizenWrote,
    ConsentChanged,
    /// Released, transferred or sent home: it waits for a caseworker again.
    Requeued,
    Closed,
    Cancelled,
}

impl HistoryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            HistoryKind::Sent => "sent",
            HistoryKind::Received => "received",
            HistoryKind::Answered => "answered",
            HistoryKind::CitizenWrote => "citizen_wrote",
            HistoryKind::ConsentChanged => "consent_changed",
            HistoryKind::Requeued => "requeued",
            HistoryKind::Closed => "closed",
            HistoryKind::Cancelled => "cancelled",
        }
    }
}

/// One step of a request's history: what, when, and the municipality that acted (never the
/// caseworker).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryStep {
    pub kind: HistoryKind,
    pub at: DateTime<Utc>,
    pub municipality: Option<MunicipalityCode>,
}

impl HistoryStep {
    /// The step an audit event is to the citizen; reads, refusals and the router's own work
    /// are none.
    fn of(event: &AuditEntry) -> Option<HistoryStep> {
        let kind = match event.action.as_str() {
            "submit" => HistoryKind::Sent,
            "claim" | "accept" => HistoryKind::Received,
            "caseworker_message" => HistoryKind::Answered,
            "citizen_message" => HistoryKind::CitizenWrote,
            "consent" => HistoryKind::ConsentChanged,
            "release" | "transfer" | "access_revoked" => HistoryKind::Requeued,
            "close" | "close_inactive" => HistoryKind::Closed,
            "cancel" => HistoryKind::Cancelled,
            _ => return None,
        };
        let municipality = (kind == HistoryKind::Received)
            .then(|| {
                event
                    .actor_municipality
                    .as_deref()
                    .and_then(|m| MunicipalityCode::parse(m).ok())
            })
            .flatten();
        Some(HistoryStep {
            kind,
            at: event.at,
            municipality,
        })
    }
}

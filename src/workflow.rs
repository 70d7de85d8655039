//! Case workflows: what each API action does, between the HTTP layer (which parses and
//! answers) and the store (which commits). Each step is a policy decision with its reasons, a
//! state transition through the domain's state machine, and an audit event naming the rules
//! that allowed it, committed with the change.

use std::sync::Arc;

use serde_json::json;

use crate::auth::{self, CitizenPrincipal};
use crate::clock::Clock;
use crate::config::Config;
use crate::domain::case::{CaseEvent, Outcome, TransitionError};
use crate::domain::federation::{Category, Federation};
use crate::domain::ids::{Language, MunicipalityCode};
use crate::domain::people::Availability;
use crate::policy::{self, Decision};
use crate::routing::{self, PlacementError, Submitter};
use crate::store::{
    CaseRecord, CaseWrite, CaseworkerRecord, ConsentRecord, MessageRecord, NewAuditEvent, NewCase,
    NewMessage, Sender, Store, StoreError,
};

/// The longest message a citizen or caseworker may write, in characters.
pub const MAX_TEXT_CHARS: usize = 20_000;

/// Everything the workflows need, shared by all requests.
#[derive(Clone)]
pub struct Context {
    pub store: Arc<dyn Store>,
    pub federation: Arc<Federation>,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<Config>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    #[error("level of assurance too low")]
    LoaTooLow,
    #[error("not eligible")]
    NotEligible(Decision),
    #[error("denied by policy")]
    Denied(Decision),
    #[error(transparent)]
    Conflict(#[from] TransitionError),
    #[error("invalid field `{0}`")]
    InvalidField(&'static str),
    /// One of API.md's 422 codes.
    #[error("{0}")]
    Unprocessable(&'static str),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Error::NotFound,
            StoreError::Transition(t) => Error::Conflict(t),
            other => Error::Store(other),
        }
    }
}

impl From<PlacementError> for Error {
    fn from(e: PlacementError) -> Self {
        Error::Unprocessable(match e {
            PlacementError::MunicipalityRequired => "municipality_required",
            PlacementError::UnknownMunicipality => "unknown_municipality",
            PlacementError::HomeOutsideFederation => "home_outside_federation",
        })
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// How a citizen-side caller proves the request is theirs.
#[derive(Clone, Debug)]
pub enum CitizenKey {
    Citizen(CitizenPrincipal),
    /// The anonymous visitor's access code (R1).
    AccessCode(String),
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
}

pub struct Submitted {
    pub case: CaseRecord,
    /// Shown once to an anonymous visitor; only its hash is stored.
    pub access_code: Option<String>,
    pub emergency: Option<Emergency>,
}

/// Shown at once with urgent requests (R10: acute danger → 112, socialjour).
pub struct Emergency {
    pub call: &'static str,
    pub socialjour_phone: Option<String>,
}

/// A case as a caller may see it, and the rules that let them.
pub struct CaseView {
    pub case: CaseRecord,
    pub messages: Vec<MessageRecord>,
    pub consent: Option<ConsentRecord>,
    pub legal_ground: Vec<String>,
}

fn check_text(text: &str) -> Result<String> {
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed.chars().count() > MAX_TEXT_CHARS {
        return Err(Error::InvalidField("text"));
    }
    Ok(trimmed.to_owned())
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

fn audit(ctx: &Context, actor: String, actor_municipality: Option<String>) -> NewAuditEvent {
    NewAuditEvent {
        at: ctx.clock.now(),
        actor,
        actor_municipality,
        municipality: String::new(),
        action: String::new(),
        case_id: None,
        policies: Vec::new(),
        detail: json!({}),
    }
}

fn caseworker_actor(caseworker: &CaseworkerRecord) -> String {
    format!("caseworker:{}", caseworker.id)
}

fn citizen_actor(key: &CitizenKey) -> &'static str {
    match key {
        CitizenKey::Citizen(_) => "citizen",
        CitizenKey::AccessCode(_) => "anonymous",
    }
}

impl Context {
    fn category(&self, id: &str) -> Result<&Category> {
        self.federation
            .category(id)
            .ok_or(Error::Unprocessable("unknown_category"))
    }

    fn member(&self, code: &str) -> Result<MunicipalityCode> {
        MunicipalityCode::parse(code)
            .ok()
            .filter(|c| self.federation.municipality(c).is_some())
            .ok_or(Error::Unprocessable("unknown_municipality"))
    }

    pub async fn submit(
        &self,
        submitter: Option<&CitizenPrincipal>,
        input: SubmitInput,
    ) -> Result<Submitted> {
        let category = self.category(&input.category)?.clone();
        let language = Language::parse(&input.language)
            .ok()
            .filter(|l| self.federation.offers_language(l))
            .ok_or(Error::Unprocessable("unknown_language"))?;
        let text = check_text(&input.text)?;
        if let Some(citizen) = submitter
            && !citizen.loa.suffices_for_identified()
        {
            // R1, the second wall: a session below loa3 cannot exist, but never rely on that.
            return Err(Error::LoaTooLow);
        }
        let consent_municipalities = match &input.consent.municipalities {
            Some(list) => Some(
                list.iter()
                    .map(|c| self.member(c).map(|m| m.as_str().to_owned()))
                    .collect::<Result<Vec<_>>>()?,
            ),
            None => None,
        };
        let who = match submitter {
            Some(c) => Submitter::Citizen(c),
            None => Submitter::Anonymous,
        };
        let placement = routing::place(
            &self.federation,
            &category,
            &who,
            input.municipality.as_deref(),
            input.child_municipality.as_deref(),
        )?;
        let now = self.clock.now();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let access_code = submitter.is_none().then(new_access_code);
        let home = placement.home.as_str().to_owned();
        let mut event = audit(
            self,
            submitter.map_or("anonymous", |_| "citizen").to_owned(),
            None,
        );
        event.municipality = home.clone();
        event.action = "submit".into();
        event.case_id = Some(id.clone());
        event.policies = vec![policy::HOME.to_owned()];
        event.detail = json!({ "category": category.id.as_str(), "ring": placement.ring });
        let case = self
            .store
            .create_case(&NewCase {
                id,
                category: category.id.as_str().to_owned(),
                language: language.as_str().to_owned(),
                anonymous: submitter.is_none(),
                urgent: category.urgent,
                home: home.clone(),
                citizen_personnummer: submitter.and_then(|c| c.personnummer.clone()),
                citizen_home: submitter.map(|c| c.home.clone()),
                citizen_protection: submitter.map(|c| c.protection.as_str().to_owned()),
                citizen_loa: submitter.map(|c| c.loa.as_str().to_owned()),
                access_code_hash: access_code
                    .as_deref()
                    .map(|c| auth::token_hash(&normalize_access_code(c))),
                ring: placement.ring,
                interpreter_needed: false,
                text,
                consent_cross_municipality: input.consent.cross_municipality,
                consent_municipalities,
                trace: placement.trace,
                audit: event,
                at: now,
            })
            .await?;
        let emergency = matches!(category.id.as_str(), "vald" | "oro_barn").then(|| Emergency {
            call: "112",
            socialjour_phone: self
                .federation
                .municipality(&placement.home)
                .and_then(|m| m.socialjour_phone.clone()),
        });
        Ok(Submitted {
            case,
            access_code,
            emergency,
        })
    }

    /// The case behind a citizen-side key, or 404: a wrong code and someone else's request
    /// look the same.
    async fn citizen_case(&self, key: &CitizenKey, id: &str) -> Result<(CaseRecord, &'static str)> {
        let case = self.store.case(id).await?.ok_or(Error::NotFound)?;
        let allowed = match key {
            CitizenKey::Citizen(citizen) => {
                citizen.personnummer.is_some() && case.citizen_personnummer == citizen.personnummer
            }
            CitizenKey::AccessCode(code) => {
                case.is_anonymous()
                    && case.access_code_hash.as_deref()
                        == Some(auth::token_hash(&normalize_access_code(code)).as_str())
            }
        };
        if !allowed {
            return Err(Error::NotFound);
        }
        let ground = match key {
            CitizenKey::Citizen(_) => policy::OWN_DATA,
            CitizenKey::AccessCode(_) => policy::ACCESS_CODE,
        };
        Ok((case, ground))
    }

    pub async fn view_request(&self, key: &CitizenKey, id: &str) -> Result<CaseView> {
        let (case, ground) = self.citizen_case(key, id).await?;
        let messages = self.store.messages(id).await?;
        let consent = self.store.consent(id).await?;
        let mut event = audit(self, citizen_actor(key).to_owned(), None);
        event.municipality = case.home.clone();
        event.action = "view".into();
        event.case_id = Some(case.id.clone());
        event.policies = vec![ground.to_owned()];
        self.store.append_audit(&event).await?;
        Ok(CaseView {
            case,
            messages,
            consent,
            legal_ground: vec![ground.to_owned()],
        })
    }

    pub async fn citizen_writes(
        &self,
        key: &CitizenKey,
        id: &str,
        text: &str,
    ) -> Result<CaseRecord> {
        let text = check_text(text)?;
        let (case, ground) = self.citizen_case(key, id).await?;
        let mut event = audit(self, citizen_actor(key).to_owned(), None);
        event.action = CaseEvent::CitizenWrites.name().into();
        event.policies = vec![ground.to_owned()];
        let write = CaseWrite {
            at: self.clock.now(),
            message: Some(NewMessage {
                sender: Sender::Citizen,
                author: None,
                body: text,
            }),
            outcome: None,
            trace: None,
            audit: event,
        };
        let (case, _) = self
            .store
            .transition(&case.id, &CaseEvent::CitizenWrites, &write)
            .await?;
        Ok(case)
    }

    pub async fn cancel(&self, key: &CitizenKey, id: &str) -> Result<CaseRecord> {
        let (case, ground) = self.citizen_case(key, id).await?;
        let mut event = audit(self, citizen_actor(key).to_owned(), None);
        event.action = CaseEvent::Cancel.name().into();
        event.policies = vec![ground.to_owned()];
        let write = CaseWrite {
            at: self.clock.now(),
            message: None,
            outcome: None,
            trace: None,
            audit: event,
        };
        let (case, _) = self
            .store
            .transition(&case.id, &CaseEvent::Cancel, &write)
            .await?;
        Ok(case)
    }

    pub async fn my_requests(&self, citizen: &CitizenPrincipal) -> Result<Vec<CaseRecord>> {
        match &citizen.personnummer {
            Some(number) => Ok(self.store.cases_of_citizen(number).await?),
            None => Ok(Vec::new()),
        }
    }

    /// The caseworker behind a session, fresh from the store so that an administrator's change
    /// of skills or clearance takes effect at once. A removed caseworker is logged out.
    pub async fn caseworker(&self, id: &str) -> Result<CaseworkerRecord> {
        self.store.caseworker(id).await?.ok_or(Error::NotFound)
    }

    /// The case, if the caseworker may see it; 404 otherwise (existence never leaks).
    async fn visible_case(
        &self,
        caseworker: &CaseworkerRecord,
        id: &str,
    ) -> Result<(CaseRecord, Decision)> {
        let case = self.store.case(id).await?.ok_or(Error::NotFound)?;
        let decision = policy::caseworker_may_view(caseworker, &case);
        if !decision.allowed {
            tracing::debug!(case = %id, policies = ?decision.policies, "case hidden from caseworker");
            return Err(Error::NotFound);
        }
        Ok((case, decision))
    }

    /// Queued cases the caseworker may claim now, most urgent and oldest first. One audit event
    /// names the ids shown.
    pub async fn queue(&self, caseworker: &CaseworkerRecord) -> Result<Vec<CaseRecord>> {
        let candidates = self
            .store
            .queue(&caseworker.municipality, self.config.queue_limit)
            .await?;
        let items: Vec<CaseRecord> = candidates
            .into_iter()
            .filter(|case| policy::caseworker_may_claim(caseworker, case).allowed)
            .collect();
        let mut event = audit(
            self,
            caseworker_actor(caseworker),
            Some(caseworker.municipality.clone()),
        );
        event.municipality = caseworker.municipality.clone();
        event.action = "list_queue".into();
        event.policies = vec![policy::HOME.to_owned()];
        event.detail = json!({ "ids": items.iter().map(|c| c.id.as_str()).collect::<Vec<_>>() });
        self.store.append_audit(&event).await?;
        Ok(items)
    }

    pub async fn claim(&self, caseworker: &CaseworkerRecord, id: &str) -> Result<CaseRecord> {
        let (case, _) = self.visible_case(caseworker, id).await?;
        let decision = policy::caseworker_may_claim(caseworker, &case);
        if !decision.allowed {
            return Err(Error::NotEligible(decision));
        }
        let mut event = audit(
            self,
            caseworker_actor(caseworker),
            Some(caseworker.municipality.clone()),
        );
        let claim = CaseEvent::Claim {
            caseworker: caseworker.id.clone(),
        };
        event.action = claim.name().into();
        event.policies = decision.policies;
        let write = CaseWrite {
            at: self.clock.now(),
            message: None,
            outcome: None,
            trace: None,
            audit: event,
        };
        let event = claim;
        let (case, _) = self.store.transition(&case.id, &event, &write).await?;
        Ok(case)
    }

    pub async fn view_case(&self, caseworker: &CaseworkerRecord, id: &str) -> Result<CaseView> {
        let (case, decision) = self.visible_case(caseworker, id).await?;
        let messages = self.store.messages(id).await?;
        let consent = self.store.consent(id).await?;
        let mut event = audit(
            self,
            caseworker_actor(caseworker),
            Some(caseworker.municipality.clone()),
        );
        event.municipality = case.home.clone();
        event.action = "view".into();
        event.case_id = Some(case.id.clone());
        event.policies = decision.policies.clone();
        self.store.append_audit(&event).await?;
        Ok(CaseView {
            case,
            messages,
            consent,
            legal_ground: decision.policies,
        })
    }

    /// Reply, release or close: owner-only actions on a visible case.
    async fn owner_transition(
        &self,
        caseworker: &CaseworkerRecord,
        id: &str,
        event: CaseEvent,
        message: Option<NewMessage>,
        outcome: Option<Outcome>,
    ) -> Result<CaseRecord> {
        let (case, _) = self.visible_case(caseworker, id).await?;
        if case.state.is_final() {
            return Err(Error::Conflict(TransitionError::InvalidTransition {
                from: case.state,
                event: event.name(),
            }));
        }
        let decision = policy::caseworker_may_act_as_owner(caseworker, &case);
        if !decision.allowed {
            return Err(Error::Denied(decision));
        }
        let mut audit_event = audit(
            self,
            caseworker_actor(caseworker),
            Some(caseworker.municipality.clone()),
        );
        audit_event.action = event.name().into();
        audit_event.policies = decision.policies;
        if let Some(outcome) = outcome {
            audit_event.detail = json!({ "outcome": outcome.as_str() });
        }
        let write = CaseWrite {
            at: self.clock.now(),
            message,
            outcome,
            trace: None,
            audit: audit_event,
        };
        let (case, _) = self.store.transition(&case.id, &event, &write).await?;
        Ok(case)
    }

    pub async fn caseworker_writes(
        &self,
        caseworker: &CaseworkerRecord,
        id: &str,
        text: &str,
    ) -> Result<CaseRecord> {
        let text = check_text(text)?;
        let event = CaseEvent::CaseworkerWrites {
            caseworker: caseworker.id.clone(),
        };
        let message = NewMessage {
            sender: Sender::Caseworker,
            author: Some(caseworker.id.clone()),
            body: text,
        };
        self.owner_transition(caseworker, id, event, Some(message), None)
            .await
    }

    pub async fn release(&self, caseworker: &CaseworkerRecord, id: &str) -> Result<CaseRecord> {
        let event = CaseEvent::Release {
            caseworker: caseworker.id.clone(),
        };
        self.owner_transition(caseworker, id, event, None, None)
            .await
    }

    pub async fn close(
        &self,
        caseworker: &CaseworkerRecord,
        id: &str,
        outcome: Outcome,
    ) -> Result<CaseRecord> {
        let event = CaseEvent::Close {
            caseworker: caseworker.id.clone(),
            outcome,
        };
        self.owner_transition(caseworker, id, event, None, Some(outcome))
            .await
    }

    pub async fn my_cases(&self, caseworker: &CaseworkerRecord) -> Result<Vec<CaseRecord>> {
        Ok(self.store.cases_of_owner(&caseworker.id).await?)
    }

    pub async fn set_availability(
        &self,
        caseworker: &CaseworkerRecord,
        status: Availability,
        capacity: Option<u32>,
    ) -> Result<CaseworkerRecord> {
        if let Some(capacity) = capacity
            && i64::from(capacity) > caseworker.max_capacity
        {
            return Err(Error::InvalidField("capacity"));
        }
        match self
            .store
            .set_availability(&caseworker.id, status, capacity, self.clock.now())
            .await
        {
            Err(StoreError::Invalid(_)) => Err(Error::InvalidField("capacity")),
            other => Ok(other?),
        }
    }
}

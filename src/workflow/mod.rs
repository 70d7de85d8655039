//! Case workflows: what each API action does, between the HTTP layer (which parses and
//! answers) and the store (which commits). Each step is a policy decision with its reasons, a
//! state transition through the domain's state machine, and an audit event naming the rules
//! that allowed it, committed with the change.
//!
//! - this file: the shared context, errors, and the citizens' side;
//! - `casework`: the caseworkers' side (queue, claim, thread, release, close, transfer);
//! - `dispatch`: the router at work (rings, offers, the scheduler's tick).

mod administration;
mod audit;
mod casework;
mod consent;
mod dispatch;
mod export;
mod policies;
mod retention;

use std::sync::Arc;

use serde::Serialize;
use serde_json::json;
use tokio::sync::broadcast;

use crate::auth::{self, CitizenPrincipal};
use crate::clock::Clock;
use crate::config::Config;
use crate::domain::case::{CaseEvent, TransitionError};
use crate::domain::federation::{Category, Federation};
use crate::domain::ids::{Language, MunicipalityCode};
use crate::policy::{self, Action, ConsentFacts, Decision, Identity};
use crate::routing::permits::Permits;
use crate::routing::{self, PlacementError, Submitter};
use crate::store::{
    CaseRecord, CaseWrite, CaseworkerRecord, ConsentRecord, MessageRecord, NewAuditEvent, NewCase,
    NewMessage, Sender, Store, StoreError,
};

pub use audit::{Finding, Verification, verify as verify_audit};
pub use casework::{TransferInput, Transferrer};
pub use dispatch::TickReport;
pub use export::Export;
pub use policies::{PolicyVersion, SimulationInput, SimulationResult, load_policies};
pub use retention::RetentionItem;

/// Wrong access codes allowed for one request within [`ACCESS_CODE_WINDOW`] (R1).
pub const ACCESS_CODE_TRIES: u32 = 5;
pub const ACCESS_CODE_WINDOW: chrono::Duration = chrono::Duration::minutes(15);

/// The longest message a citizen or caseworker may write, in characters.
pub const MAX_TEXT_CHARS: usize = 20_000;

/// Where new ids come from: random in service, a counter in simulations (so that a seeded run
/// is reproducible, ties included).
pub trait IdSource: Send + Sync + 'static {
    fn next_id(&self) -> String;
}

#[derive(Debug, Default)]
pub struct RandomIds;

impl IdSource for RandomIds {
    fn next_id(&self) -> String {
        uuid::Uuid::new_v4().simple().to_string()
    }
}

/// Something subscribers may need to hear about (server-sent events). Notices carry only
/// non-identifying metadata; each delivery is checked against the subscriber's access.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Notice {
    /// API.md's event name: `queue.changed`, `offer.created`, `offer.expired`, `case.message`,
    /// `case.updated`, `alert.child_concern`.
    pub event: &'static str,
    pub case_id: String,
    pub category: String,
    pub home: String,
    /// The one caseworker an offer or an owner's event is for.
    pub caseworker: Option<String>,
    /// The municipalities whose queues changed.
    pub municipalities: Vec<String>,
}

/// Everything the workflows need, shared by all requests.
#[derive(Clone)]
pub struct Context {
    pub store: Arc<dyn Store>,
    pub federation: Arc<Federation>,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<Config>,
    /// The Cedar policies (the active version), asked at routing and at every access.
    pub policy: Arc<policy::Engine>,
    pub ids: Arc<dyn IdSource>,
    pub notices: broadcast::Sender<Notice>,
    /// The audit chains' key (verification).
    pub audit_key: crate::audit::AuditKey,
    /// What the scheduler did last, for its periodic work.
    pub marks: Arc<std::sync::Mutex<Marks>>,
}

/// When the scheduler last did its periodic work (in-process; the work itself is idempotent,
/// so replicas doing it too is harmless).
#[derive(Debug, Default)]
pub struct Marks {
    /// The date and policy version of the last sweep for ended cross-border access: only a
    /// new day or another version can end access without an event of its own.
    pub swept: Option<(chrono::NaiveDate, i64)>,
    /// When the audit chain heads were last checkpointed.
    pub checkpointed: Option<chrono::DateTime<chrono::Utc>>,
    /// The last day retention ran.
    pub retained: Option<chrono::NaiveDate>,
}

impl Context {
    pub(crate) fn marks(&self) -> std::sync::MutexGuard<'_, Marks> {
        self.marks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
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
    /// A policy version that failed validation or its tests.
    #[error("policy invalid")]
    PolicyInvalid(Vec<String>),
    /// Too many wrong tries; try again after this many seconds.
    #[error("rate limited")]
    RateLimited(u64),
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
    /// Empty for a caseworker outside home who does not have the case (R8: metadata only).
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
    /// An audit event by `actor` now; the store fills in the case and its chain.
    fn audit(
        &self,
        actor: String,
        actor_municipality: Option<String>,
        action: &str,
        policies: Vec<String>,
    ) -> NewAuditEvent {
        NewAuditEvent {
            at: self.clock.now(),
            actor,
            actor_municipality,
            municipality: String::new(),
            action: action.to_owned(),
            case_id: None,
            policies,
            detail: json!({}),
            request_id: crate::audit::current_request_id(),
        }
    }

    fn caseworker_audit(
        &self,
        caseworker: &CaseworkerRecord,
        action: &str,
        policies: Vec<String>,
    ) -> NewAuditEvent {
        self.audit(
            caseworker_actor(caseworker),
            Some(caseworker.municipality.clone()),
            action,
            policies,
        )
    }

    /// Tells subscribers; nobody listening is fine.
    fn notify(
        &self,
        event: &'static str,
        case: &CaseRecord,
        caseworker: Option<&str>,
        municipalities: Vec<String>,
    ) {
        let _ = self.notices.send(Notice {
            event,
            case_id: case.id.clone(),
            category: case.category.clone(),
            home: case.home.clone(),
            caseworker: caseworker.map(str::to_owned),
            municipalities,
        });
    }

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
        let today = self.clock.today();
        let facts = policy::request_facts(
            &category,
            placement.home.as_str(),
            &Identity {
                personnummer: submitter.and_then(|c| c.personnummer.as_deref()),
                anonymous: submitter.is_none(),
                protection: submitter.map(|c| c.protection.as_str()),
                loa: submitter.map(|c| c.loa.as_str()),
            },
            ConsentFacts {
                cross_municipality: input.consent.cross_municipality,
                municipalities: consent_municipalities
                    .as_ref()
                    .map(|list| list.iter().cloned().collect()),
            },
            None,
            today,
        );
        let permits = self.policy.permits(&self.federation, &facts, today);
        let Some(home_permit) = permits.get(placement.home.as_str()).cloned() else {
            // Only R1 keeps a request from its own home; the login refuses such sessions first.
            let why = permits
                .refusal(placement.home.as_str())
                .map(|r| r.policies.clone())
                .unwrap_or_default();
            tracing::warn!(policies = ?why, "a request was refused even at home");
            return Err(Error::LoaTooLow);
        };
        let previous = match submitter.and_then(|c| c.personnummer.as_deref()) {
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
                previous_caseworker: previous.as_deref(),
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
        let id = self.ids.next_id();
        let access_code = submitter.is_none().then(new_access_code);
        let home = placement.home.as_str().to_owned();
        let mut event = self.audit(
            submitter.map_or("anonymous", |_| "citizen").to_owned(),
            None,
            "submit",
            home_permit.policies.clone(),
        );
        event.municipality = home.clone();
        event.case_id = Some(id.clone());
        event.detail = json!({ "category": category.id.as_str(), "ring": selection.ring });
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
                ring: selection.ring,
                interpreter_needed: false,
                permits: permits.permitted.clone(),
                text,
                consent_cross_municipality: input.consent.cross_municipality,
                consent_municipalities,
                trace,
                audit: event,
                at: now,
            })
            .await?;
        if category.is_child_concern() {
            // R10: every home caseworker with the skill hears at once, available or not.
            self.notify("alert.child_concern", &case, None, vec![home.clone()]);
        }
        let (case, _) = self
            .dispatch_in(&snapshot, case, Some(selection), None)
            .await?;
        let emergency = category.urgent.then(|| Emergency {
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

    /// The case behind a citizen-side key, if the policies let its holder do `action`; 404
    /// otherwise: a wrong code and someone else's request look the same.
    async fn citizen_case(
        &self,
        key: &CitizenKey,
        id: &str,
        action: Action,
    ) -> Result<(CaseRecord, Decision)> {
        let case = self.store.case(id).await?.ok_or(Error::NotFound)?;
        let principal = match key {
            CitizenKey::Citizen(citizen) => policy::citizen_principal(citizen),
            CitizenKey::AccessCode(code) => {
                // Wrong codes for one request are limited, so a code cannot be guessed.
                let now = self.clock.now();
                if case.is_anonymous()
                    && self
                        .store
                        .access_failures_since(&case.id, now - ACCESS_CODE_WINDOW)
                        .await?
                        >= ACCESS_CODE_TRIES
                {
                    return Err(Error::RateLimited(
                        u64::try_from(ACCESS_CODE_WINDOW.num_seconds()).unwrap_or(900),
                    ));
                }
                // The code is the proof; the policies then decide what its holder may do.
                let proven = case.is_anonymous()
                    && case.access_code_hash.as_deref()
                        == Some(auth::token_hash(&normalize_access_code(code)).as_str());
                if !proven {
                    if case.is_anonymous() {
                        self.store.record_access_failure(&case.id, now).await?;
                    }
                    return Err(Error::NotFound);
                }
                policy::Principal::Visitor {
                    request: case.id.clone(),
                }
            }
        };
        let decision = self.policy.citizen_may(
            action,
            &self.federation,
            principal,
            &case,
            self.clock.today(),
        );
        if !decision.allowed {
            tracing::debug!(case = %id, policies = ?decision.policies, "request hidden from caller");
            return Err(Error::NotFound);
        }
        Ok((case, decision))
    }

    /// Where the case may be handled now, by the active policies (memoised: cheap).
    pub(super) fn permits_now(&self, case: &CaseRecord) -> Permits {
        let today = self.clock.today();
        let facts = policy::case_facts(&self.federation, case, today);
        self.policy.permits(&self.federation, &facts, today)
    }

    pub async fn view_request(&self, key: &CitizenKey, id: &str) -> Result<CaseView> {
        let (case, decision) = self.citizen_case(key, id, Action::View).await?;
        let messages = self.store.messages(id).await?;
        let consent = self.store.consent(id).await?;
        let event = self.audit(
            citizen_actor(key).to_owned(),
            None,
            "view",
            decision.policies.clone(),
        );
        self.record_read(event, &case).await?;
        Ok(CaseView {
            case,
            messages,
            consent,
            legal_ground: decision.policies,
        })
    }

    pub async fn citizen_writes(
        &self,
        key: &CitizenKey,
        id: &str,
        text: &str,
    ) -> Result<CaseRecord> {
        let text = check_text(text)?;
        let (case, decision) = self.citizen_case(key, id, Action::Reply).await?;
        let event = CaseEvent::CitizenWrites;
        let mut write = CaseWrite::new(
            self.clock.now(),
            self.audit(
                citizen_actor(key).to_owned(),
                None,
                event.name(),
                decision.policies,
            ),
        );
        write.message = Some(NewMessage {
            sender: Sender::Citizen,
            author: None,
            body: text,
        });
        let (case, _) = self.store.transition(&case.id, &event, &write).await?;
        if let Some(owner) = case.owner.as_deref().filter(|_| case.state.is_owned()) {
            self.notify("case.message", &case, Some(owner), Vec::new());
        }
        Ok(case)
    }

    pub async fn cancel(&self, key: &CitizenKey, id: &str) -> Result<CaseRecord> {
        let (case, decision) = self.citizen_case(key, id, Action::Cancel).await?;
        let event = CaseEvent::Cancel;
        let mut write = CaseWrite::new(
            self.clock.now(),
            self.audit(
                citizen_actor(key).to_owned(),
                None,
                event.name(),
                decision.policies,
            ),
        );
        let offered_to = case.owner.clone();
        let offer = self.store.open_offer_of_case(&case.id).await?;
        if let Some(offer) = &offer {
            write.offer = Some(crate::store::OfferWrite::End {
                id: offer.id.clone(),
                outcome: "withdrawn",
            });
        }
        let (case, _) = self.store.transition(&case.id, &event, &write).await?;
        if let Some(caseworker) = offered_to.as_deref().filter(|_| offer.is_some()) {
            self.notify("offer.expired", &case, Some(caseworker), Vec::new());
            self.capacity_freed(caseworker).await?;
        }
        self.notify_queues(&case).await?;
        Ok(case)
    }

    /// The citizen's own requests; the listing is audited with the ids it showed (R15).
    pub async fn my_requests(&self, citizen: &CitizenPrincipal) -> Result<Vec<CaseRecord>> {
        let cases = match &citizen.personnummer {
            Some(number) => self.store.cases_of_citizen(number).await?,
            None => Vec::new(),
        };
        let mut event = self.audit(
            "citizen".into(),
            None,
            "list_own_requests",
            vec![policy::OWN_DATA.to_owned()],
        );
        event.municipality = citizen.home.clone();
        event.detail = json!({ "ids": cases.iter().map(|c| c.id.as_str()).collect::<Vec<_>>() });
        self.store.append_audit(&event).await?;
        Ok(cases)
    }
}

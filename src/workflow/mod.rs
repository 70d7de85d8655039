//! Workflows: what each action does, between the HTTP layer (which parses and answers) and
//! the store (which commits). Every action goes through the gate (`gate`): a policy decision
//! with its reasons, returned as a proof that the read or write needs; then a state transition
//! through the domain's state machine, committed with its audit event in one transaction and
//! decided again under the case's lock; then the notices the state machine published.
//!
//! - `gate`: the authorization gate, the proofs, and every audit event;
//! - `requests`: the citizens' side (submit, read, write, cancel, list);
//! - `casework`: the caseworkers' side (queue, claim, thread, release, close, transfer);
//! - `consent`: consent, harm assessments, and access that ends (R8, R9, R12);
//! - `dispatch`: the router at work (rings, offers, the scheduler's tick);
//! - `notices` and `events`: what subscribers hear, re-checked at every delivery;
//! - `logins`: tokens, browser logins and their end;
//! - `audit`, `export`, `retention`, `policies`, `administration`: the rest of API.md.

mod administration;
mod audit;
mod casework;
mod consent;
mod dispatch;
mod events;
mod export;
mod federation;
mod gate;
pub mod limits;
mod logins;
mod notices;
mod policies;
mod requests;
mod retention;
mod staff;
mod stats;

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::clock::Clock;
use crate::config::Config;
use crate::domain::case::{Case, ConsentEntry, Message, TransitionError};
use crate::domain::federation::{Category, Federation};
use crate::domain::ids::MunicipalityCode;
use crate::policy::{self, Decision};
use crate::routing::PlacementError;
use crate::store::{Store, StoreError};

pub use audit::{AuditSearch, Finding, Verification, verify as verify_audit};
pub use casework::{TransferInput, Transferrer};
pub use dispatch::TickReport;
pub use events::{Delivery, Next, Subscriber, Subscription};
pub use export::Export;
pub use federation::{
    AgreementChanged, AgreementInput, AgreementRecord, CategoryInput, ChangeEffect,
    MunicipalityInput,
};
pub use gate::Subject;
pub use logins::{Authenticated, IntegrationTokenInput, Login, acting_for};
pub use notices::{CaseNotice, Notice};
pub use policies::{
    DecidedDifferently, ImpactDecision, ImpactKind, ImpactReport, PolicyListing, SHIPPED_BY,
    SimulatedConsent, SimulatedPrincipal, SimulatedRequest, SimulationInput, SimulationResult,
    load_policies,
};
pub use requests::{
    CitizenKey, ConsentInput, Emergency, FollowedRequest, HistoryKind, HistoryStep, OwnRequest,
    Stage, SubmitInput, Submitted,
};
pub use retention::RetentionItem;
pub use staff::{CaseworkerChange, MAX_CAPACITY, NewCaseworker, ProvisioningProof, UserKey};
pub use stats::{LiveFigures, MunicipalityFigures, QueueFigures};

/// Wrong access codes allowed from one client address within [`ACCESS_CODE_WINDOW`] (R1, #11).
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

/// Called by the gate just before a decided write goes to the store, with the action and the
/// case. The tests use it to hold one request between its decision and its write while
/// another commits, so that races are tested deterministically; in service there is none.
#[async_trait::async_trait]
pub trait WriteProbe: Send + Sync + 'static {
    async fn before_write(&self, action: &str, case: &crate::domain::ids::CaseId);
}

/// Everything the workflows need, shared by all requests.
#[derive(Clone)]
pub struct Context {
    /// The store: inside `workflow` (and the tools around it: start-up, the simulation);
    /// never the HTTP layer's (tests/architecture.rs holds that).
    pub(crate) store: Arc<dyn Store>,
    /// The federation as configured now ([`Context::federation`]); an administrator's change
    /// installs the next one, and other replicas follow it on their tick.
    federation_now: Arc<FederationCell>,
    /// Held while this process writes a federation change, so that only changes from other
    /// replicas can race for a version.
    pub(crate) federation_writing: Arc<tokio::sync::Mutex<()>>,
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
    /// See [`WriteProbe`]; `None` in service.
    pub probe: Option<Arc<dyn WriteProbe>>,
    /// Wrong access codes per client address (R1).
    pub(crate) access_codes: Arc<limits::Limiter<limits::Client>>,
}

/// The federation in force, replaced whole when it changes: a reader takes the `Arc` and
/// holds a consistent snapshot however long it decides; the lock is held only to copy it.
pub(crate) struct FederationCell {
    current: std::sync::RwLock<(i64, Arc<Federation>)>,
}

impl FederationCell {
    fn new(federation: Arc<Federation>) -> FederationCell {
        FederationCell {
            current: std::sync::RwLock::new((0, federation)),
        }
    }

    fn get(&self) -> (i64, Arc<Federation>) {
        let guard = self
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (guard.0, Arc::clone(&guard.1))
    }

    fn install(&self, version: i64, federation: Federation) {
        let mut guard = self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if version >= guard.0 {
            *guard = (version, Arc::new(federation));
        }
    }
}

/// When the scheduler last did its periodic work (in-process; the work itself is idempotent,
/// so replicas doing it too is harmless).
#[derive(Debug, Default)]
pub struct Marks {
    /// The date, policy version and federation version of the last sweep for ended
    /// cross-border access: only a new day or another version can end access without an event
    /// of its own.
    pub swept: Option<(chrono::NaiveDate, i64, i64)>,
    /// When the audit chain heads were last checkpointed.
    pub checkpointed: Option<chrono::DateTime<chrono::Utc>>,
    /// The last day retention ran.
    pub retained: Option<chrono::NaiveDate>,
    /// The last day every open case's permits were decided again (agreements start and end
    /// by their dates).
    pub permits_refreshed: Option<chrono::NaiveDate>,
    /// When expired browser sessions were last deleted.
    pub sessions_swept: Option<chrono::DateTime<chrono::Utc>>,
}

impl Context {
    /// Everything the workflows need, around an opened store.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Arc<dyn Store>,
        federation: Arc<Federation>,
        clock: Arc<dyn Clock>,
        config: Arc<Config>,
        policy: Arc<policy::Engine>,
        ids: Arc<dyn IdSource>,
        audit_key: crate::audit::AuditKey,
    ) -> Context {
        Context {
            store,
            federation_now: Arc::new(FederationCell::new(federation)),
            federation_writing: Arc::default(),
            clock,
            config,
            policy,
            ids,
            notices: broadcast::channel(1024).0,
            audit_key,
            marks: Default::default(),
            probe: None,
            access_codes: Arc::new(limits::Limiter::new(ACCESS_CODE_TRIES, ACCESS_CODE_WINDOW)),
        }
    }

    /// The same context, with a probe the gate calls before every decided write.
    pub fn with_probe(mut self, probe: Option<Arc<dyn WriteProbe>>) -> Context {
        self.probe = probe;
        self
    }

    pub(crate) fn marks(&self) -> std::sync::MutexGuard<'_, Marks> {
        self.marks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The federation as configured now: a snapshot that holds still for the caller's whole
    /// decision, while an administrator's change installs the next one.
    pub fn federation(&self) -> Arc<Federation> {
        self.federation_now.get().1
    }

    /// The federation now and the number of its version (0 before any stored change).
    pub(crate) fn federation_versioned(&self) -> (i64, Arc<Federation>) {
        self.federation_now.get()
    }

    /// Installs a federation version, unless a newer one is in place (replicas race).
    pub(crate) fn install_federation(&self, version: i64, federation: Federation) {
        self.federation_now.install(version, federation);
    }

    /// The database answers (readiness).
    pub async fn ready(&self) -> Result<&'static str> {
        self.store.ping().await?;
        Ok(self.store.backend())
    }

    fn category(&self, id: &str) -> Result<Category> {
        self.federation()
            .category(id)
            .cloned()
            .ok_or(Error::Unprocessable("unknown_category"))
    }

    fn member(&self, code: &str) -> Result<MunicipalityCode> {
        MunicipalityCode::parse(code)
            .ok()
            .filter(|c| self.federation().municipality(c).is_some())
            .ok_or(Error::Unprocessable("unknown_municipality"))
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
    /// The author of a policy version may not activate it (four eyes).
    #[error("four eyes required")]
    FourEyesRequired,
    #[error("not eligible")]
    NotEligible(Decision),
    #[error("denied by policy")]
    Denied(Decision),
    #[error(transparent)]
    Conflict(#[from] TransitionError),
    /// 409 with this code: the thing is not in a state that allows it (`in_use`,
    /// `not_a_draft`, `not_in_force`).
    #[error("conflict: {0}")]
    StateConflict(&'static str),
    /// A unique rule of the store: the thing exists already (409 `already_exists`).
    #[error("already exists: {0}")]
    Duplicate(String),
    #[error("invalid field `{0}`")]
    InvalidField(&'static str),
    /// One of API.md's 422 codes.
    #[error("{0}")]
    Unprocessable(&'static str),
    /// A policy version that failed validation or its tests: each problem with its place in
    /// the text where it is known (the editor marks the line).
    #[error("policy invalid")]
    PolicyInvalid(Vec<crate::policy::engine::PolicyProblem>),
    /// The SMT solver that proves policy versions is missing or broken: no version is stored
    /// unproven (the detail, for the log).
    #[error("the policy solver is unavailable: {0}")]
    SolverUnavailable(String),
    /// Too many wrong tries; try again after this many seconds.
    #[error("rate limited")]
    RateLimited(u64),
    /// The database cannot be reached or is too busy: 503.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Anything else: the detail is for the log, never for the caller.
    #[error("internal: {0}")]
    Internal(String),
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Error::NotFound,
            StoreError::Transition(t) => Error::Conflict(t),
            StoreError::Duplicate(what) => Error::Duplicate(what),
            StoreError::Constraint(what) => {
                tracing::warn!(constraint = %what, "a write broke a rule of the schema");
                Error::Unprocessable("constraint_violation")
            }
            StoreError::Unavailable(why) => Error::Unavailable(why),
            other => Error::Internal(other.to_string()),
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

/// A case as the caller may see it now, and the rules that let them.
#[derive(Clone, Debug)]
pub struct Shown {
    pub case: Case,
    /// The policies that allowed it: the legal ground.
    pub ground: Vec<String>,
    /// Whether the caller may see who the citizen is (R8: only a caseworker who has the case).
    pub identity: bool,
}

/// A case opened by its caller: what they may see of it, and why.
#[derive(Clone, Debug)]
pub struct CaseView {
    pub case: Case,
    /// Empty for a caseworker outside home who does not have the case (R8: metadata only).
    pub messages: Vec<Message>,
    /// The consent as it stands, with when it was given.
    pub consent: Option<ConsentEntry>,
    pub legal_ground: Vec<String>,
    pub identity: bool,
}

fn check_text(text: &str) -> Result<String> {
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed.chars().count() > MAX_TEXT_CHARS {
        return Err(Error::InvalidField("text"));
    }
    Ok(trimmed.to_owned())
}

//! The case state machine: the one place where a case changes state.
//!
//! DESIGN.md's state table is encoded in [`apply`]. Callers (the store, inside the transaction
//! that holds the case row) pass the current snapshot and an event; they get back the new
//! state, the owner change and the events to publish, or the reason the event is refused.
//! Handlers never set a state themselves.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{CaseId, CaseworkerId, CategoryId, Language, MunicipalityCode, OfferId};
use super::people::{Loa, Protection};
use super::personnummer::Personnummer;

/// Serialized exactly as DESIGN.md and API.md name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseState {
    Queued,
    Offered,
    Assigned,
    WaitingCitizen,
    Closed,
    Cancelled,
}

impl CaseState {
    pub const ALL: [CaseState; 6] = [
        CaseState::Queued,
        CaseState::Offered,
        CaseState::Assigned,
        CaseState::WaitingCitizen,
        CaseState::Closed,
        CaseState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CaseState::Queued => "queued",
            CaseState::Offered => "offered",
            CaseState::Assigned => "assigned",
            CaseState::WaitingCitizen => "waiting_citizen",
            CaseState::Closed => "closed",
            CaseState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<CaseState> {
        CaseState::ALL.into_iter().find(|state| state.as_str() == s)
    }

    /// States that occupy one capacity slot of the caseworker they are offered to or owned by.
    pub fn holds_capacity(self) -> bool {
        matches!(
            self,
            CaseState::Offered | CaseState::Assigned | CaseState::WaitingCitizen
        )
    }

    pub fn is_final(self) -> bool {
        matches!(self, CaseState::Closed | CaseState::Cancelled)
    }

    /// A caseworker "has" the case: R8 lets identifying data reach them only from here on.
    pub fn is_owned(self) -> bool {
        matches!(self, CaseState::Assigned | CaseState::WaitingCitizen)
    }
}

impl fmt::Display for CaseState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a case ended. Brygga records no decision on an insats (R7): these are contact outcomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    AdviceGiven,
    ReferredHome,
    ReferredElsewhere,
    NoContact,
    Duplicate,
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [
        Outcome::AdviceGiven,
        Outcome::ReferredHome,
        Outcome::ReferredElsewhere,
        Outcome::NoContact,
        Outcome::Duplicate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::AdviceGiven => "advice_given",
            Outcome::ReferredHome => "referred_home",
            Outcome::ReferredElsewhere => "referred_elsewhere",
            Outcome::NoContact => "no_contact",
            Outcome::Duplicate => "duplicate",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// How a request came in: from a logged-in citizen or an anonymous visitor (R1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Identified,
    Anonymous,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Identified => "identified",
            Channel::Anonymous => "anonymous",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        [Channel::Identified, Channel::Anonymous]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

/// A home caseworker's harm assessment of a request with sekretessmarkering (R12).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HarmAssessment {
    CrossBorderOk,
    StayHome,
}

impl HarmAssessment {
    pub fn as_str(self) -> &'static str {
        match self {
            HarmAssessment::CrossBorderOk => "cross_border_ok",
            HarmAssessment::StayHome => "stay_home",
        }
    }

    pub fn parse(s: &str) -> Option<HarmAssessment> {
        [HarmAssessment::CrossBorderOk, HarmAssessment::StayHome]
            .into_iter()
            .find(|h| h.as_str() == s)
    }

    pub fn of(cross_border_ok: bool) -> HarmAssessment {
        if cross_border_ok {
            HarmAssessment::CrossBorderOk
        } else {
            HarmAssessment::StayHome
        }
    }
}

/// The citizen's consent to cross-municipality handling as it stands (R8); its history is kept
/// as [`ConsentEntry`]s.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Consent {
    pub cross_municipality: bool,
    /// `None`: every member with a covering agreement.
    pub municipalities: Option<Vec<MunicipalityCode>>,
}

/// Who recorded a consent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentActor {
    Citizen,
    Anonymous,
    System,
}

impl ConsentActor {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentActor::Citizen => "citizen",
            ConsentActor::Anonymous => "anonymous",
            ConsentActor::System => "system",
        }
    }

    pub fn parse(s: &str) -> Option<ConsentActor> {
        [
            ConsentActor::Citizen,
            ConsentActor::Anonymous,
            ConsentActor::System,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }
}

/// One consent in a case's history (R9: the history is kept).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentEntry {
    pub consent: Consent,
    pub at: DateTime<Utc>,
    pub by: ConsentActor,
}

/// One harm assessment in a case's history (R12).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HarmAssessmentEntry {
    pub caseworker: CaseworkerId,
    pub assessment: HarmAssessment,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// Free text about the citizen that is not a message (R17: it lives with the case and is
/// thinned with it; the audit trail names it by its number, never copies it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseNote {
    pub id: i64,
    pub kind: NoteKind,
    pub body: String,
    /// The actor who wrote it, as the audit trail names them.
    pub author: String,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteKind {
    TransferReason,
}

impl NoteKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NoteKind::TransferReason => "transfer_reason",
        }
    }

    pub fn parse(s: &str) -> Option<NoteKind> {
        (s == "transfer_reason").then_some(NoteKind::TransferReason)
    }
}

/// Who wrote a message in a case's thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

    pub fn parse(s: &str) -> Option<Sender> {
        [Sender::Citizen, Sender::Caseworker]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub sender: Sender,
    /// The caseworker who wrote it.
    pub author: Option<CaseworkerId>,
    pub body: String,
    pub at: DateTime<Utc>,
}

/// How an offer ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfferOutcome {
    Accepted,
    Rejected,
    TimedOut,
    /// The router took it back: the caseworker went away, or their access ended (R9).
    Rescinded,
    /// The citizen cancelled the request.
    Withdrawn,
}

impl OfferOutcome {
    pub const ALL: [OfferOutcome; 5] = [
        OfferOutcome::Accepted,
        OfferOutcome::Rejected,
        OfferOutcome::TimedOut,
        OfferOutcome::Rescinded,
        OfferOutcome::Withdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OfferOutcome::Accepted => "accepted",
            OfferOutcome::Rejected => "rejected",
            OfferOutcome::TimedOut => "timed_out",
            OfferOutcome::Rescinded => "rescinded",
            OfferOutcome::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(s: &str) -> Option<OfferOutcome> {
        OfferOutcome::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// The outcome of an offer that ended for `why`.
    pub fn of(why: OfferEnd) -> OfferOutcome {
        match why {
            OfferEnd::Rejected => OfferOutcome::Rejected,
            OfferEnd::TimedOut => OfferOutcome::TimedOut,
            OfferEnd::CaseworkerAway => OfferOutcome::Rescinded,
        }
    }
}

/// A case reserved for one caseworker (push mode), until it is accepted, rejected or expires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    pub id: OfferId,
    pub case_id: CaseId,
    pub caseworker: CaseworkerId,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub outcome: Option<OfferOutcome>,
}

impl Offer {
    pub fn is_open_at(&self, now: DateTime<Utc>) -> bool {
        self.ended_at.is_none() && self.expires_at > now
    }
}

/// One routing decision about a case, as the router explained it (candidates per ring, who
/// was filtered out and why, the choice).
#[derive(Clone, Debug, PartialEq)]
pub struct RoutingTrace {
    pub at: DateTime<Utc>,
    pub trace: serde_json::Value,
}

/// Who a case is about, as far as the case keeps it: removed when the case is thinned (R17).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseCitizen {
    /// `None` for an eIDAS login without a Swedish number (R2).
    pub personnummer: Option<Personnummer>,
    /// Whether a samordningsnummer was confirmed by the eID broker (R2); true otherwise.
    pub id_confirmed: bool,
    /// An eIDAS citizen's stable subject ([`super::people::Citizen::eidas_subject`]).
    pub eidas: Option<String>,
    /// Where the citizen is registered (or, for eIDAS, the municipality they stated).
    pub registered_home: MunicipalityCode,
}

/// A request once routed: the domain's case. Everything a policy, the router or a page needs
/// to know about it; its thread, consent history and offers are read separately.
#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    pub id: CaseId,
    pub category: CategoryId,
    pub language: Language,
    pub channel: Channel,
    pub urgent: bool,
    /// The routing home (ring 0): DESIGN.md "Rings".
    pub home: MunicipalityCode,
    /// `None` for an anonymous request, and once the case is thinned.
    pub citizen: Option<CaseCitizen>,
    /// The citizen's protection (R11, R12); `none` for anonymous requests.
    pub protection: Protection,
    /// The citizen's eID level; `None` for anonymous requests.
    pub loa: Option<Loa>,
    /// Only the hash of an anonymous visitor's access code.
    pub access_code_hash: Option<String>,
    pub state: CaseState,
    pub ring: i64,
    /// The caseworker the case is offered to or held by.
    pub owner: Option<CaseworkerId>,
    /// The owner's municipality, while there is an owner.
    pub handler: Option<MunicipalityCode>,
    pub outcome: Option<Outcome>,
    pub interpreter_needed: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub queued_since: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    /// When the current ring began (ring timeouts count from here).
    pub ring_since: Option<DateTime<Utc>>,
    pub assigned_at: Option<DateTime<Utc>>,
    /// A transfer's target: only this municipality may take it.
    pub target_municipality: Option<MunicipalityCode>,
    pub transfer_reason: Option<String>,
    pub consent: Consent,
    /// The latest harm assessment (R12).
    pub harm_assessment: Option<HarmAssessment>,
    /// When its personal data was removed after the retention period (R17).
    pub thinned_at: Option<DateTime<Utc>>,
}

impl Case {
    /// What the state machine reads.
    pub fn snapshot(&self) -> CaseSnapshot {
        CaseSnapshot {
            state: self.state,
            owner: self.owner.clone(),
            child_concern: self.is_child_concern(),
        }
    }

    pub fn is_anonymous(&self) -> bool {
        self.channel == Channel::Anonymous
    }

    /// Protected identity (R11): `skyddad_folkbokforing` or `fingerade`.
    pub fn is_protected_identity(&self) -> bool {
        self.protection.is_strict()
    }

    /// Concern about a child (R10).
    pub fn is_child_concern(&self) -> bool {
        self.category.as_str() == CHILD_CONCERN
    }

    pub fn personnummer(&self) -> Option<&Personnummer> {
        self.citizen.as_ref().and_then(|c| c.personnummer.as_ref())
    }

    /// Whether `caseworker` holds the case now (offered, assigned or waiting for the citizen).
    pub fn is_held_by(&self, caseworker: &CaseworkerId) -> bool {
        self.state.holds_capacity() && self.owner.as_ref() == Some(caseworker)
    }

    /// Whether `caseworker` has the case (assigned or waiting): R8 lets identifying data reach
    /// them only from here on.
    pub fn is_owned_by(&self, caseworker: &CaseworkerId) -> bool {
        self.state.is_owned() && self.owner.as_ref() == Some(caseworker)
    }

    pub fn ring_started(&self) -> DateTime<Utc> {
        self.ring_since.unwrap_or(self.queued_since)
    }
}

#[cfg(test)]
impl Case {
    /// An identified, queued `ekonomi` request in Swedish from `home`, for unit tests.
    pub(crate) fn fixture(home: &str) -> Self {
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let home = MunicipalityCode::parse(home).expect("municipality");
        Case {
            id: CaseId::parse("c1").expect("id"),
            category: CategoryId::parse("ekonomi").expect("category"),
            language: Language::parse("sv").expect("language"),
            channel: Channel::Identified,
            urgent: false,
            citizen: Some(CaseCitizen {
                personnummer: Personnummer::parse_stored("198112189876").ok(),
                id_confirmed: true,
                eidas: None,
                registered_home: home.clone(),
            }),
            home,
            protection: Protection::None,
            loa: Some(Loa::Loa3),
            access_code_hash: None,
            state: CaseState::Queued,
            ring: 0,
            owner: None,
            handler: None,
            outcome: None,
            interpreter_needed: false,
            created_at: at,
            updated_at: at,
            queued_since: at,
            closed_at: None,
            ring_since: None,
            assigned_at: None,
            target_municipality: None,
            transfer_reason: None,
            consent: Consent::default(),
            harm_assessment: None,
            thinned_at: None,
        }
    }
}

/// The category of a concern about a child (R10).
pub const CHILD_CONCERN: &str = "oro_barn";

/// Why an offer went back to the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfferEnd {
    Rejected,
    TimedOut,
    CaseworkerAway,
}

/// Something that happens to a case. The caseworker ids are the actor's (or the target's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CaseEvent {
    /// The router reserves the case for one caseworker.
    Offer {
        caseworker: CaseworkerId,
    },
    /// The offered caseworker takes it.
    Accept {
        caseworker: CaseworkerId,
    },
    /// The offer ends without being accepted.
    OfferEnded {
        caseworker: CaseworkerId,
        why: OfferEnd,
    },
    /// An eligible caseworker takes a queued case (pull).
    Claim {
        caseworker: CaseworkerId,
    },
    CaseworkerWrites {
        caseworker: CaseworkerId,
    },
    CitizenWrites,
    Release {
        caseworker: CaseworkerId,
    },
    /// Back to a queue with a new target; `by_owner` is false for a home administrator.
    Transfer {
        by: TransferActor,
    },
    /// Consent withdrawn or agreement ended while the owner is outside home (R9).
    AccessRevoked,
    Cancel,
    Close {
        caseworker: CaseworkerId,
        outcome: Outcome,
    },
    /// No activity for the configured time: closed as `no_contact` by the system. Never a
    /// child concern (R10: never dropped).
    CloseInactive,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransferActor {
    Owner(CaseworkerId),
    HomeAdmin,
}

impl CaseEvent {
    /// The name stored with the audit event and published to subscribers.
    pub fn name(&self) -> &'static str {
        match self {
            CaseEvent::Offer { .. } => "offer",
            CaseEvent::Accept { .. } => "accept",
            CaseEvent::OfferEnded { .. } => "offer_ended",
            CaseEvent::Claim { .. } => "claim",
            CaseEvent::CaseworkerWrites { .. } => "caseworker_message",
            CaseEvent::CitizenWrites => "citizen_message",
            CaseEvent::Release { .. } => "release",
            CaseEvent::Transfer { .. } => "transfer",
            CaseEvent::AccessRevoked => "access_revoked",
            CaseEvent::Cancel => "cancel",
            CaseEvent::Close { .. } => "close",
            CaseEvent::CloseInactive => "close_inactive",
        }
    }

    /// The caseworker whose capacity this event would take a slot of, if any. The store locks
    /// that caseworker and counts their load before calling [`apply`].
    pub fn takes_capacity_of(&self) -> Option<&CaseworkerId> {
        match self {
            CaseEvent::Offer { caseworker } | CaseEvent::Claim { caseworker } => Some(caseworker),
            _ => None,
        }
    }
}

/// What the state machine needs to know about the case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseSnapshot {
    pub state: CaseState,
    pub owner: Option<CaseworkerId>,
    /// Capacity never blocks the claim of a child concern (R10).
    pub child_concern: bool,
}

/// The load of the caseworker named by [`CaseEvent::takes_capacity_of`], read under lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Load {
    pub open: u32,
    pub capacity: u32,
}

impl Load {
    pub fn is_full(self) -> bool {
        self.open >= self.capacity
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnerChange {
    Keep,
    Set(CaseworkerId),
    Clear,
}

/// What subscribers hear about (API.md's server-sent event names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Published {
    #[serde(rename = "queue.changed")]
    QueueChanged,
    #[serde(rename = "offer.created")]
    OfferCreated,
    #[serde(rename = "offer.expired")]
    OfferExpired,
    #[serde(rename = "case.message")]
    CaseMessage,
    #[serde(rename = "case.updated")]
    CaseUpdated,
    /// A concern about a child was reported (R10): never a state change, always a notice.
    #[serde(rename = "alert.child_concern")]
    ChildConcern,
    /// … and nobody at home could take it (a protected reporter and no cleared caseworker with
    /// the skill): its administrators must act (R10, R11).
    #[serde(rename = "alert.child_concern")]
    ChildConcernUnstaffed,
}

impl Published {
    /// API.md's server-sent event name.
    pub fn as_str(self) -> &'static str {
        match self {
            Published::QueueChanged => "queue.changed",
            Published::OfferCreated => "offer.created",
            Published::OfferExpired => "offer.expired",
            Published::CaseMessage => "case.message",
            Published::CaseUpdated => "case.updated",
            Published::ChildConcern | Published::ChildConcernUnstaffed => "alert.child_concern",
        }
    }

    /// What a new request publishes: its queues changed, and for a concern about a child the
    /// alert to its home (R10).
    pub fn on_submit(child_concern: bool) -> Vec<Published> {
        if child_concern {
            vec![Published::QueueChanged, Published::ChildConcern]
        } else {
            vec![Published::QueueChanged]
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub from: CaseState,
    pub to: CaseState,
    pub owner: OwnerChange,
    pub published: Vec<Published>,
    /// The case returns to a queue: its time in the queue (`queued_since`) starts anew. The
    /// ring's time (`ring_since`) does not: offers that lapse or a release do not hold a
    /// request back from widening (docs/DECISIONS.md "Routing").
    pub requeued: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("the case already has an owner")]
    AlreadyClaimed,
    #[error("the case is offered to another caseworker")]
    AlreadyOffered,
    #[error("the offer has expired")]
    OfferExpired,
    #[error("the caseworker has no free capacity")]
    CapacityFull,
    #[error("only the caseworker who has the case may do this")]
    NotOwner,
    /// What the permission was decided on changed before the change could be written (a
    /// consent withdrawn, an agreement ended, a permit rewritten): decided again under the
    /// case's lock, it no longer holds.
    #[error("the case changed and the action is no longer permitted")]
    AccessChanged,
    #[error("`{event}` is not possible when the case is {from}")]
    InvalidTransition {
        from: CaseState,
        event: &'static str,
    },
}

/// Applies `event` to a case in `case`'s state. `load` must be given for events that take
/// capacity ([`CaseEvent::takes_capacity_of`]); without it such an event is refused as full,
/// so a caller that forgets to read the load can never overfill a caseworker.
pub fn apply(
    case: &CaseSnapshot,
    event: &CaseEvent,
    load: Option<Load>,
) -> Result<Transition, TransitionError> {
    use CaseState::*;
    let from = case.state;
    let invalid = || TransitionError::InvalidTransition {
        from,
        event: event.name(),
    };
    if from.is_final() {
        return Err(invalid());
    }
    let is_owner = |who: &CaseworkerId| case.owner.as_ref() == Some(who);
    let capacity_ok = || case.child_concern || load.is_some_and(|l| !l.is_full());
    let to = |to: CaseState, owner: OwnerChange, published: Vec<Published>| Transition {
        from,
        to,
        owner,
        published,
        requeued: to == Queued && from != Queued,
    };

    match event {
        CaseEvent::Offer { caseworker } => match from {
            Queued if capacity_ok() => Ok(to(
                Offered,
                OwnerChange::Set(caseworker.clone()),
                vec![Published::OfferCreated, Published::QueueChanged],
            )),
            Queued => Err(TransitionError::CapacityFull),
            Offered => Err(TransitionError::AlreadyOffered),
            _ => Err(TransitionError::AlreadyClaimed),
        },
        CaseEvent::Accept { caseworker } => match from {
            Offered if is_owner(caseworker) => Ok(to(
                Assigned,
                OwnerChange::Keep,
                vec![Published::CaseUpdated],
            )),
            // The offer was withdrawn or went to someone else: from the offeree's side it is gone.
            _ => Err(TransitionError::OfferExpired),
        },
        CaseEvent::OfferEnded { caseworker, .. } => match from {
            Offered if is_owner(caseworker) => Ok(to(
                Queued,
                OwnerChange::Clear,
                vec![Published::OfferExpired, Published::QueueChanged],
            )),
            _ => Err(TransitionError::OfferExpired),
        },
        CaseEvent::Claim { caseworker } => match from {
            Queued if capacity_ok() => Ok(to(
                Assigned,
                OwnerChange::Set(caseworker.clone()),
                vec![Published::QueueChanged, Published::CaseUpdated],
            )),
            Queued => Err(TransitionError::CapacityFull),
            Offered => Err(TransitionError::AlreadyOffered),
            _ => Err(TransitionError::AlreadyClaimed),
        },
        CaseEvent::CaseworkerWrites { caseworker } => match from {
            Assigned | WaitingCitizen if is_owner(caseworker) => Ok(to(
                WaitingCitizen,
                OwnerChange::Keep,
                vec![Published::CaseMessage],
            )),
            Assigned | WaitingCitizen => Err(TransitionError::NotOwner),
            _ => Err(invalid()),
        },
        CaseEvent::CitizenWrites => match from {
            WaitingCitizen => Ok(to(
                Assigned,
                OwnerChange::Keep,
                vec![Published::CaseMessage],
            )),
            Queued | Offered | Assigned => {
                Ok(to(from, OwnerChange::Keep, vec![Published::CaseMessage]))
            }
            Closed | Cancelled => Err(invalid()),
        },
        CaseEvent::Release { caseworker } => match from {
            Assigned | WaitingCitizen if is_owner(caseworker) => Ok(to(
                Queued,
                OwnerChange::Clear,
                vec![Published::QueueChanged, Published::CaseUpdated],
            )),
            Assigned | WaitingCitizen => Err(TransitionError::NotOwner),
            _ => Err(invalid()),
        },
        CaseEvent::Transfer { by } => {
            let allowed = match by {
                TransferActor::Owner(who) => is_owner(who),
                TransferActor::HomeAdmin => true,
            };
            match from {
                Queued | Assigned | WaitingCitizen if allowed => Ok(to(
                    Queued,
                    OwnerChange::Clear,
                    vec![Published::QueueChanged, Published::CaseUpdated],
                )),
                Queued | Assigned | WaitingCitizen => Err(TransitionError::NotOwner),
                _ => Err(invalid()),
            }
        }
        // An offer that goes with the case is gone for its caseworker: `offer.expired`.
        CaseEvent::AccessRevoked => match from {
            Offered => Ok(to(
                Queued,
                OwnerChange::Clear,
                vec![Published::OfferExpired, Published::QueueChanged],
            )),
            Assigned | WaitingCitizen => Ok(to(
                Queued,
                OwnerChange::Clear,
                vec![Published::QueueChanged, Published::CaseUpdated],
            )),
            _ => Err(invalid()),
        },
        // R10: a concern about a child is never withdrawn by whoever reported it.
        CaseEvent::Cancel if case.child_concern => Err(invalid()),
        CaseEvent::Cancel => match from {
            Queued => Ok(to(
                Cancelled,
                OwnerChange::Clear,
                vec![Published::QueueChanged, Published::CaseUpdated],
            )),
            Offered => Ok(to(
                Cancelled,
                OwnerChange::Clear,
                vec![Published::OfferExpired, Published::QueueChanged],
            )),
            _ => Err(invalid()),
        },
        // R10: a concern about a child is closed with what was done, never as "no contact".
        CaseEvent::Close {
            outcome: Outcome::NoContact,
            ..
        } if case.child_concern => Err(invalid()),
        CaseEvent::Close { caseworker, .. } => match from {
            Assigned | WaitingCitizen if is_owner(caseworker) => {
                Ok(to(Closed, OwnerChange::Keep, vec![Published::CaseUpdated]))
            }
            Assigned | WaitingCitizen => Err(TransitionError::NotOwner),
            _ => Err(invalid()),
        },
        CaseEvent::CloseInactive => match from {
            _ if case.child_concern => Err(invalid()),
            Queued => Ok(to(
                Closed,
                OwnerChange::Clear,
                vec![Published::QueueChanged, Published::CaseUpdated],
            )),
            Assigned | WaitingCitizen => {
                Ok(to(Closed, OwnerChange::Keep, vec![Published::CaseUpdated]))
            }
            _ => Err(invalid()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cw(id: &str) -> CaseworkerId {
        CaseworkerId::parse(id).expect("caseworker id")
    }

    fn snap(state: CaseState, owner: Option<&str>) -> CaseSnapshot {
        CaseSnapshot {
            state,
            owner: owner.map(cw),
            child_concern: false,
        }
    }

    const FREE: Option<Load> = Some(Load {
        open: 0,
        capacity: 3,
    });
    const FULL: Option<Load> = Some(Load {
        open: 3,
        capacity: 3,
    });

    fn claim(who: &str) -> CaseEvent {
        CaseEvent::Claim {
            caseworker: cw(who),
        }
    }

    #[test]
    fn claim_of_queued_case_assigns_it() {
        let t = apply(&snap(CaseState::Queued, None), &claim("a"), FREE).expect("claim");
        assert_eq!(t.to, CaseState::Assigned);
        assert_eq!(t.owner, OwnerChange::Set(cw("a")));
        assert!(!t.requeued);
    }

    #[test]
    fn claim_conflicts_name_their_reason() {
        let owned = snap(CaseState::Assigned, Some("a"));
        assert_eq!(
            apply(&owned, &claim("b"), FREE),
            Err(TransitionError::AlreadyClaimed)
        );
        // The owner claiming again is also `already_claimed` (API.md).
        assert_eq!(
            apply(&owned, &claim("a"), FREE),
            Err(TransitionError::AlreadyClaimed)
        );
        assert_eq!(
            apply(&snap(CaseState::Offered, Some("a")), &claim("b"), FREE),
            Err(TransitionError::AlreadyOffered)
        );
        assert_eq!(
            apply(&snap(CaseState::Queued, None), &claim("b"), FULL),
            Err(TransitionError::CapacityFull)
        );
        assert_eq!(
            apply(&snap(CaseState::Closed, Some("a")), &claim("b"), FREE),
            Err(TransitionError::InvalidTransition {
                from: CaseState::Closed,
                event: "claim"
            })
        );
    }

    #[test]
    fn missing_load_is_treated_as_full() {
        assert_eq!(
            apply(&snap(CaseState::Queued, None), &claim("a"), None),
            Err(TransitionError::CapacityFull)
        );
    }

    #[test]
    fn capacity_never_blocks_a_child_concern() {
        let mut case = snap(CaseState::Queued, None);
        case.child_concern = true;
        let t = apply(&case, &claim("a"), FULL).expect("R10: claim despite full");
        assert_eq!(t.to, CaseState::Assigned);
    }

    #[test]
    fn messages_move_between_assigned_and_waiting_citizen() {
        let writes = CaseEvent::CaseworkerWrites {
            caseworker: cw("a"),
        };
        let t = apply(&snap(CaseState::Assigned, Some("a")), &writes, None).expect("write");
        assert_eq!(t.to, CaseState::WaitingCitizen);
        let t = apply(
            &snap(CaseState::WaitingCitizen, Some("a")),
            &CaseEvent::CitizenWrites,
            None,
        )
        .expect("answer");
        assert_eq!(t.to, CaseState::Assigned);
        for state in [CaseState::Queued, CaseState::Offered, CaseState::Assigned] {
            let t = apply(&snap(state, None), &CaseEvent::CitizenWrites, None).expect("write");
            assert_eq!(t.to, state);
        }
        assert_eq!(
            apply(
                &snap(CaseState::Assigned, Some("a")),
                &CaseEvent::CaseworkerWrites {
                    caseworker: cw("b")
                },
                None
            ),
            Err(TransitionError::NotOwner)
        );
        assert!(apply(&snap(CaseState::Queued, None), &writes, None).is_err());
    }

    #[test]
    fn release_and_close_are_for_the_owner() {
        let release = CaseEvent::Release {
            caseworker: cw("a"),
        };
        let t = apply(&snap(CaseState::WaitingCitizen, Some("a")), &release, None).expect("ok");
        assert_eq!(
            (t.to, t.owner, t.requeued),
            (CaseState::Queued, OwnerChange::Clear, true)
        );
        assert_eq!(
            apply(&snap(CaseState::Assigned, Some("b")), &release, None),
            Err(TransitionError::NotOwner)
        );
        let close = CaseEvent::Close {
            caseworker: cw("a"),
            outcome: Outcome::AdviceGiven,
        };
        let t = apply(&snap(CaseState::Assigned, Some("a")), &close, None).expect("close");
        assert_eq!(t.to, CaseState::Closed);
        assert!(apply(&snap(CaseState::Queued, None), &close, None).is_err());
    }

    #[test]
    fn offers_are_accepted_rejected_or_expire() {
        let offered = snap(CaseState::Offered, Some("a"));
        let accept = |who: &str| CaseEvent::Accept {
            caseworker: cw(who),
        };
        assert_eq!(
            apply(&offered, &accept("a"), None).map(|t| t.to),
            Ok(CaseState::Assigned)
        );
        assert_eq!(
            apply(&offered, &accept("b"), None),
            Err(TransitionError::OfferExpired)
        );
        assert_eq!(
            apply(&snap(CaseState::Queued, None), &accept("a"), None),
            Err(TransitionError::OfferExpired)
        );
        for why in [
            OfferEnd::Rejected,
            OfferEnd::TimedOut,
            OfferEnd::CaseworkerAway,
        ] {
            let ended = CaseEvent::OfferEnded {
                caseworker: cw("a"),
                why,
            };
            let t = apply(&offered, &ended, None).expect("ends");
            assert_eq!((t.to, t.owner), (CaseState::Queued, OwnerChange::Clear));
        }
        let offer = CaseEvent::Offer {
            caseworker: cw("b"),
        };
        assert_eq!(
            apply(&offered, &offer, FREE),
            Err(TransitionError::AlreadyOffered)
        );
        assert_eq!(
            apply(&snap(CaseState::Queued, None), &offer, FREE).map(|t| t.to),
            Ok(CaseState::Offered)
        );
    }

    #[test]
    fn a_child_concern_is_never_withdrawn_nor_closed_as_no_contact() {
        let concern = |state, owner| CaseSnapshot {
            child_concern: true,
            ..snap(state, owner)
        };
        for state in [CaseState::Queued, CaseState::Offered] {
            assert!(
                apply(&concern(state, None), &CaseEvent::Cancel, None).is_err(),
                "R10"
            );
        }
        let no_contact = CaseEvent::Close {
            caseworker: cw("a"),
            outcome: Outcome::NoContact,
        };
        assert!(apply(&concern(CaseState::Assigned, Some("a")), &no_contact, None).is_err());
        let advised = CaseEvent::Close {
            caseworker: cw("a"),
            outcome: Outcome::ReferredHome,
        };
        assert_eq!(
            apply(&concern(CaseState::Assigned, Some("a")), &advised, None).map(|t| t.to),
            Ok(CaseState::Closed)
        );
        // Other cases may be closed as no contact.
        assert!(apply(&snap(CaseState::Assigned, Some("a")), &no_contact, None).is_ok());
    }

    #[test]
    fn cancel_only_before_a_caseworker_has_it() {
        for state in [CaseState::Queued, CaseState::Offered] {
            assert_eq!(
                apply(&snap(state, None), &CaseEvent::Cancel, None).map(|t| t.to),
                Ok(CaseState::Cancelled)
            );
        }
        for state in [CaseState::Assigned, CaseState::WaitingCitizen] {
            assert!(apply(&snap(state, Some("a")), &CaseEvent::Cancel, None).is_err());
        }
    }

    #[test]
    fn transfer_and_revocation_requeue() {
        let owner = CaseEvent::Transfer {
            by: TransferActor::Owner(cw("a")),
        };
        let t = apply(&snap(CaseState::Assigned, Some("a")), &owner, None).expect("transfer");
        assert_eq!((t.to, t.requeued), (CaseState::Queued, true));
        let admin = CaseEvent::Transfer {
            by: TransferActor::HomeAdmin,
        };
        assert!(apply(&snap(CaseState::WaitingCitizen, Some("a")), &admin, None).is_ok());
        assert!(apply(&snap(CaseState::Offered, Some("a")), &admin, None).is_err());
        let t = apply(
            &snap(CaseState::Offered, Some("a")),
            &CaseEvent::AccessRevoked,
            None,
        )
        .expect("R9");
        assert_eq!(t.to, CaseState::Queued);
        // Inactive cases close as no_contact; a child concern never does (R10).
        let t = apply(
            &snap(CaseState::WaitingCitizen, Some("a")),
            &CaseEvent::CloseInactive,
            None,
        )
        .expect("inactive");
        assert_eq!(t.to, CaseState::Closed);
        let child = CaseSnapshot {
            child_concern: true,
            ..snap(CaseState::Queued, None)
        };
        assert!(apply(&child, &CaseEvent::CloseInactive, None).is_err());
        assert!(
            apply(
                &snap(CaseState::Offered, Some("a")),
                &CaseEvent::CloseInactive,
                None
            )
            .is_err()
        );
    }

    fn any_state() -> impl Strategy<Value = CaseState> {
        prop::sample::select(CaseState::ALL.to_vec())
    }

    fn any_event() -> impl Strategy<Value = CaseEvent> {
        let who = prop::sample::select(vec!["a", "b"]).prop_map(cw);
        prop_oneof![
            who.clone()
                .prop_map(|caseworker| CaseEvent::Offer { caseworker }),
            who.clone()
                .prop_map(|caseworker| CaseEvent::Accept { caseworker }),
            who.clone().prop_map(|caseworker| CaseEvent::OfferEnded {
                caseworker,
                why: OfferEnd::TimedOut
            }),
            who.clone()
                .prop_map(|caseworker| CaseEvent::Claim { caseworker }),
            who.clone()
                .prop_map(|caseworker| CaseEvent::CaseworkerWrites { caseworker }),
            Just(CaseEvent::CitizenWrites),
            who.clone()
                .prop_map(|caseworker| CaseEvent::Release { caseworker }),
            who.clone().prop_map(|w| CaseEvent::Transfer {
                by: TransferActor::Owner(w)
            }),
            Just(CaseEvent::AccessRevoked),
            Just(CaseEvent::CloseInactive),
            Just(CaseEvent::Cancel),
            who.prop_map(|caseworker| CaseEvent::Close {
                caseworker,
                outcome: Outcome::AdviceGiven
            }),
        ]
    }

    proptest! {
        /// Final states accept nothing; every accepted event yields a state whose owner rules hold.
        #[test]
        fn invariants_hold_for_every_event(
            state in any_state(),
            owner in prop::option::of(prop::sample::select(vec!["a", "b"])),
            event in any_event(),
            open in 0u32..5,
            child_concern in any::<bool>(),
        ) {
            // Only reachable snapshots: queued cases have no owner, others (but final ones) do.
            let owner = match state {
                CaseState::Queued => None,
                CaseState::Closed | CaseState::Cancelled => owner,
                _ => owner.or(Some("a")),
            };
            let case = CaseSnapshot { state, owner: owner.map(cw), child_concern };
            let load = Load { open, capacity: 3 };
            if let Ok(t) = apply(&case, &event, Some(load)) {
                prop_assert!(!state.is_final());
                let new_owner = match &t.owner {
                    OwnerChange::Keep => case.owner.clone(),
                    OwnerChange::Set(w) => Some(w.clone()),
                    OwnerChange::Clear => None,
                };
                // Owned and offered states always have an owner; queued never does.
                prop_assert_eq!(t.to.holds_capacity(), new_owner.is_some() && !t.to.is_final());
                if t.to == CaseState::Queued { prop_assert!(new_owner.is_none()); }
                // A new slot is taken only with free capacity, or for a child concern.
                if matches!(t.owner, OwnerChange::Set(_)) {
                    prop_assert!(!load.is_full() || child_concern);
                }
                prop_assert_eq!(t.requeued, t.to == CaseState::Queued && state != CaseState::Queued);
            }
        }

        /// Of any number of claimers of one queued case, the first wins and the rest conflict.
        #[test]
        fn one_claim_wins(claimers in 2usize..30) {
            let mut case = CaseSnapshot { state: CaseState::Queued, owner: None, child_concern: false };
            let mut winners = 0;
            for i in 0..claimers {
                let who = cw(&format!("w{i}"));
                match apply(&case, &CaseEvent::Claim { caseworker: who.clone() }, FREE) {
                    Ok(t) => {
                        winners += 1;
                        case.state = t.to;
                        case.owner = Some(who);
                    }
                    Err(e) => prop_assert_eq!(e, TransitionError::AlreadyClaimed),
                }
            }
            prop_assert_eq!(winners, 1);
        }
    }
}

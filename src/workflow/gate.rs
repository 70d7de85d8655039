//! The one authorization gate (DESIGN.md "Architecture", STYLE.md "Permission is a value").
//!
//! Every action on a case and every listing is decided here, by the policies, for the caller
//! as they are now and the case as it stands now. What the gate allows comes back as a proof —
//! [`Allowed`] for a person's action on a case, [`AdminAllowed`] for administration — which
//! only this module can build; the reads and writes that need permission take the proof, so a
//! forgotten check does not compile. A refusal is audited here, with the policies that refused.
//!
//! Every audit event is built here too, from a proof or from a [`SystemGround`] (the router's
//! and retention's own work, with the rules it rests on): nothing is written without its legal
//! ground. And every write of a person's action is conditional on what was decided: the store
//! decides again under the case's lock ([`crate::store::Recheck`]), so a consent withdrawn or a
//! permit rewritten between the decision and the write makes the write fail with 409
//! `access_changed` instead of winning the race.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Context, Error, Result, Shown};
use crate::audit::AuditEntry;
use crate::domain::access::{Actor, Administrator, Scope, SystemActor};
use crate::domain::case::{
    Case, CaseEvent, CaseState, ConsentEntry, HarmAssessmentEntry, Message, Published,
    RoutingTrace, Transition, TransitionError,
};
use crate::domain::ids::{CaseId, MunicipalityCode};
use crate::domain::people::{Caseworker, Citizen, StaffGroup, StaffMember};
use crate::domain::routing::CategoryRouting;
use crate::policy::{self, Action, Decision, Resource};
use crate::store::{
    AuditFilter, CaseActivity, CaseWrite, ConsentWrite, HarmWrite, NewApiToken, NewAuditEvent,
    NewCase, NewMessage, OfferWrite, Recheck, RoutingWrite,
};

/// Who asks, with what the policies read about them.
#[derive(Clone, Debug)]
pub enum Subject {
    /// A caseworker as stored now (skills, clearance and municipality are read fresh).
    Caseworker(Caseworker),
    Citizen(Citizen),
    /// An anonymous visitor who proved the access code of the case (R1).
    Visitor,
    /// An administrator (a person, or an integration token) of a municipality or of the
    /// federation.
    Admin(Administrator),
}

impl Subject {
    pub fn actor(&self) -> Actor {
        match self {
            Subject::Caseworker(c) => Actor::Caseworker(c.id.clone()),
            Subject::Citizen(_) => Actor::Citizen,
            Subject::Visitor => Actor::Anonymous,
            Subject::Admin(a) => a.actor(),
        }
    }

    /// The acting person's name, for the trail's readers.
    pub fn name(&self) -> Option<String> {
        match self {
            Subject::Caseworker(c) => Some(c.name.clone()),
            Subject::Admin(a) => a.trail_name(),
            _ => None,
        }
    }

    /// The municipality the caller acts for, if any.
    pub fn municipality(&self) -> Option<&MunicipalityCode> {
        match self {
            Subject::Caseworker(c) => Some(&c.municipality),
            Subject::Admin(a) => a.municipality.as_ref(),
            Subject::Citizen(_) | Subject::Visitor => None,
        }
    }

    /// Staff outside the case's home learn no R11/R12 rule from a refusal (API.md "403").
    fn readable(&self, decision: Decision, case: &Case) -> Decision {
        match self.municipality() {
            Some(m) => decision.for_caller(m.as_str(), case.home.as_str()),
            None => decision,
        }
    }
}

/// How an action is judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Judged {
    /// On the case as it stands.
    AsIs,
    /// Accepting an offer: as a claim of the reserved case, as it stood in the queue.
    AsReserved,
}

/// Proof that the policies allowed `subject` to do `action` to `case`, decided now. Only the
/// gate builds one; the reads and writes of a person's action take it.
#[derive(Debug)]
pub struct Allowed {
    subject: Subject,
    action: Action,
    judged: Judged,
    case: Case,
    ground: Vec<String>,
}

impl Allowed {
    /// The case as it was decided on.
    pub fn case(&self) -> &Case {
        &self.case
    }

    /// The policies that allowed it: the legal ground.
    pub fn ground(&self) -> &[String] {
        &self.ground
    }

    pub fn subject(&self) -> &Subject {
        &self.subject
    }
}

/// Proof that an administrator may do `action` on a municipality or the federation.
#[derive(Debug)]
pub struct AdminAllowed {
    admin: Administrator,
    ground: Vec<String>,
}

impl AdminAllowed {
    /// The chain an administrator's own events go on: their municipality's, or the
    /// federation's.
    fn chain(&self, ctx: &Context) -> String {
        ctx.admin_chain(&self.admin)
    }
}

/// The ground of the system's own work: which actor, and the rules it rests on (the routing
/// permits of an offer or a widening, R9 for a revocation, R17 for retention). A system write
/// may carry a decision to take again under the lock (an offer: may the caseworker still take
/// it?).
pub struct SystemGround {
    actor: Actor,
    policies: Vec<String>,
    recheck: Option<Box<(Caseworker, Action)>>,
}

/// Everything a change writes besides the new state; the gate adds the audit event.
#[derive(Default)]
pub(super) struct Changes {
    pub message: Option<NewMessage>,
    pub outcome: Option<crate::domain::case::Outcome>,
    pub trace: Option<Value>,
    pub offer: Option<OfferWrite>,
    pub routing: Option<RoutingWrite>,
    pub permits: Option<Vec<crate::domain::routing::Permit>>,
    pub consent: Option<ConsentWrite>,
    pub harm_assessment: Option<HarmWrite>,
    pub note: Option<crate::store::NewNote>,
    pub protection: Option<crate::domain::people::Protection>,
    /// The audit event's detail.
    pub detail: Option<Value>,
    /// The audit event's action, when it is not the event's own name.
    pub action: Option<&'static str>,
}

/// Who a write is grounded on.
pub(super) enum Ground {
    Person(Box<Allowed>),
    System(SystemGround),
}

impl Ground {
    pub(super) fn person(proof: Allowed) -> Ground {
        Ground::Person(Box::new(proof))
    }
}

impl Context {
    /// The policies' answer for `subject`, `action` and the case as given, without side
    /// effects: for what-if questions (may the named colleague take it after a transfer?).
    pub(super) fn judge(&self, subject: &Subject, action: Action, case: &Case) -> Decision {
        let today = self.clock.today();
        match subject {
            Subject::Caseworker(c) => {
                self.policy
                    .caseworker_may(action, &self.federation(), c, case, today)
            }
            Subject::Citizen(c) => self.policy.citizen_may(
                action,
                &self.federation(),
                policy::citizen_principal(c),
                case,
                today,
            ),
            Subject::Visitor => self.policy.citizen_may(
                action,
                &self.federation(),
                policy::Principal::Visitor {
                    request: case.id.as_str().to_owned(),
                },
                case,
                today,
            ),
            Subject::Admin(a) => self.policy.admin_may(
                action,
                a.municipality.as_ref().map(MunicipalityCode::as_str),
                Resource::Case(Box::new(policy::case_facts(
                    &self.federation(),
                    case,
                    today,
                ))),
            ),
        }
    }

    fn judge_as(&self, subject: &Subject, action: Action, judged: Judged, case: &Case) -> Decision {
        match judged {
            Judged::AsIs => self.judge(subject, action, case),
            Judged::AsReserved => self.judge(subject, action, &reserved(case)),
        }
    }

    /// The gate for one action on one case. Staff must first be allowed to `view` the case
    /// (else 404: its existence never leaks); then the action itself (else 403 with the
    /// policies the caller may read, `not_eligible` for a claim). A citizen or visitor refused
    /// anything gets 404. Every refusal is audited.
    pub(super) async fn authorize(
        &self,
        subject: Subject,
        action: Action,
        case: Case,
    ) -> Result<Allowed> {
        self.authorize_as(subject, action, Judged::AsIs, case).await
    }

    /// Accepting an offer: judged as a claim of the case as it stood in the queue.
    pub(super) async fn authorize_accept(
        &self,
        caseworker: Caseworker,
        case: Case,
    ) -> Result<Allowed> {
        self.authorize_as(
            Subject::Caseworker(caseworker),
            Action::Claim,
            Judged::AsReserved,
            case,
        )
        .await
    }

    async fn authorize_as(
        &self,
        subject: Subject,
        action: Action,
        judged: Judged,
        case: Case,
    ) -> Result<Allowed> {
        // Whoever may not see the case learns nothing about it (404); whoever may see it is
        // told which rules refuse the action (403), as far as they may know them.
        // Administrators act on cases without viewing them (transfers, traces): a refusal is
        // 404 to them.
        let admin = matches!(subject, Subject::Admin(_));
        if action != Action::View && !admin {
            let view = self.judge(&subject, Action::View, &case);
            if !view.allowed {
                self.refused(&subject, &case, Action::View, &view).await?;
                return Err(Error::NotFound);
            }
        }
        let decision = self.judge_as(&subject, action, judged, &case);
        if !decision.allowed {
            self.refused(&subject, &case, action, &decision).await?;
            if action == Action::View || admin {
                return Err(Error::NotFound);
            }
            let readable = subject.readable(decision, &case);
            return Err(if action == Action::Claim {
                Error::NotEligible(readable)
            } else {
                Error::Denied(readable)
            });
        }
        Ok(Allowed {
            subject,
            action,
            judged,
            case,
            ground: decision.policies,
        })
    }

    /// The case behind an id, then the gate. An id that is not a case is 404 like any case the
    /// caller may not see.
    pub(super) async fn authorize_id(
        &self,
        subject: Subject,
        action: Action,
        id: &CaseId,
    ) -> Result<Allowed> {
        let case = self.store.case(id).await?.ok_or(Error::NotFound)?;
        self.authorize(subject, action, case).await
    }

    /// A refused attempt on an existing case, for the follow-up of unusual access (R15), on the
    /// case's home chain with the policies that refused it.
    pub(super) async fn refused(
        &self,
        subject: &Subject,
        case: &Case,
        action: Action,
        decision: &Decision,
    ) -> Result<()> {
        tracing::debug!(case = %case.id, action = action.as_str(), policies = ?decision.policies, "refused");
        let mut event = self.person_event(subject, "access_denied", decision.policies.clone());
        event.municipality = case.home.as_str().to_owned();
        event.case_id = Some(case.id.clone());
        event.detail = json!({ "action": action.as_str() });
        Ok(self.store.append_audit(&event).await?)
    }

    /// A wrong access code for an existing anonymous request: a refused citizen-side access
    /// (#11), on the case's chain. The caller is told 404, as for an id that does not exist;
    /// the per-address limit bounds how many such events one client can cause.
    pub(super) async fn refused_access_code(&self, case: &Case, action: Action) -> Result<()> {
        let mut event = self.event(
            Actor::Anonymous,
            None,
            "access_denied",
            vec![crate::policy::DEFAULT_DENY.to_owned()],
        );
        event.municipality = case.home.as_str().to_owned();
        event.case_id = Some(case.id.clone());
        event.detail = json!({ "action": action.as_str(), "access_code": "wrong" });
        Ok(self.store.append_audit(&event).await?)
    }

    /// Listings, decided per item (R15): each case is shown only if every one of `actions` is
    /// allowed now, with the policies that allowed them as its ground; the rest leave the list.
    pub(super) fn admit_each(
        &self,
        subject: &Subject,
        actions: &[Action],
        cases: Vec<Case>,
    ) -> Vec<Allowed> {
        cases
            .into_iter()
            .filter_map(|case| {
                let mut ground = Vec::new();
                for action in actions {
                    let decision = self.judge(subject, *action, &case);
                    if !decision.allowed {
                        return None;
                    }
                    ground.extend(decision.policies);
                }
                ground.sort();
                ground.dedup();
                Some(Allowed {
                    subject: subject.clone(),
                    action: actions.first().copied().unwrap_or(Action::View),
                    judged: Judged::AsIs,
                    case,
                    ground,
                })
            })
            .collect()
    }

    /// A listing: each case decided now ([`Context::admit_each`]), and one audit event on
    /// `chain` naming the ids shown and each one's ground (R15).
    pub(super) async fn list(
        &self,
        subject: &Subject,
        actions: &[Action],
        cases: Vec<Case>,
        what: &'static str,
        chain: &MunicipalityCode,
    ) -> Result<Vec<Allowed>> {
        let shown = self.admit_each(subject, actions, cases);
        self.audit_listing(subject, what, chain.as_str(), &shown)
            .await?;
        Ok(shown)
    }

    /// One audit event for a listing, on `chain`, naming the ids it showed and each one's
    /// ground (R15).
    async fn audit_listing(
        &self,
        subject: &Subject,
        what: &'static str,
        chain: &str,
        shown: &[Allowed],
    ) -> Result<()> {
        let mut ground: Vec<String> = shown
            .iter()
            .flat_map(|a| a.ground.iter().cloned())
            .collect();
        ground.sort();
        ground.dedup();
        let mut event = self.person_event(subject, what, ground);
        event.municipality = chain.to_owned();
        let grounds: BTreeMap<&str, &[String]> = shown
            .iter()
            .map(|a| (a.case.id.as_str(), a.ground.as_slice()))
            .collect();
        event.detail = json!({
            "ids": shown.iter().map(|a| a.case.id.as_str()).collect::<Vec<_>>(),
            "grounds": grounds,
        });
        Ok(self.store.append_audit(&event).await?)
    }

    /// Records a read of the case under `proof` (its content, metadata, trace or export) on
    /// the chain of the case's home (R15).
    pub(super) async fn record_read(
        &self,
        proof: &Allowed,
        what: &str,
        detail: Option<Value>,
    ) -> Result<()> {
        let mut event = self.person_event(&proof.subject, what, proof.ground.clone());
        event.municipality = proof.case.home.as_str().to_owned();
        event.case_id = Some(proof.case.id.clone());
        if let Some(detail) = detail {
            event.detail = detail;
        }
        Ok(self.store.append_audit(&event).await?)
    }

    /// Whether the caller may also read the case's content — its thread and who the citizen
    /// is (R15 need to know: `read_content`) — and on which ground. Not being allowed is no
    /// refusal: the caller sees the metadata the proof allows.
    pub(super) fn content(&self, proof: &Allowed) -> Option<Allowed> {
        let decision = self.judge(&proof.subject, Action::ReadContent, &proof.case);
        decision.allowed.then(|| Allowed {
            subject: proof.subject.clone(),
            action: Action::ReadContent,
            judged: Judged::AsIs,
            case: proof.case.clone(),
            ground: decision.policies,
        })
    }

    /// The case as its caller may see it now: who the citizen is only as far as `read_content`
    /// allows (R8, R15).
    pub(super) fn shown(&self, proof: &Allowed) -> Shown {
        Shown {
            case: proof.case.clone(),
            ground: proof.ground.clone(),
            identity: self.content(proof).is_some(),
        }
    }

    /// The thread of a case, for a proof that reads content (`read_content`) or exports it.
    pub(super) async fn thread(&self, proof: &Allowed) -> Result<Vec<Message>> {
        if !matches!(proof.action, Action::ReadContent | Action::Export) {
            return Err(Error::Internal(format!(
                "the thread read with a proof of `{}`",
                proof.action.as_str()
            )));
        }
        Ok(self.store.messages(&proof.case.id).await?)
    }

    /// The consent history of a case the proof allows the caller to read.
    pub(super) async fn consent_history(&self, proof: &Allowed) -> Result<Vec<ConsentEntry>> {
        Ok(self.store.consents(&proof.case.id).await?)
    }

    pub(super) async fn assessments(&self, proof: &Allowed) -> Result<Vec<HarmAssessmentEntry>> {
        Ok(self.store.harm_assessments(&proof.case.id).await?)
    }

    /// The free-text notes kept with a case (transfer reasons), for its citizen's export (R19).
    pub(super) async fn notes(
        &self,
        proof: &Allowed,
    ) -> Result<Vec<crate::domain::case::CaseNote>> {
        Ok(self.store.notes(&proof.case.id).await?)
    }

    /// The routing traces of a case (for its home's or the federation's administrators, and
    /// in its citizen's export).
    pub(super) async fn traces(&self, proof: &Allowed) -> Result<Vec<RoutingTrace>> {
        Ok(self.store.traces(&proof.case.id).await?)
    }

    /// The audit events of a case, for its citizen's own export (R19).
    pub(super) async fn case_trail(&self, proof: &Allowed) -> Result<Vec<AuditEntry>> {
        Ok(self
            .store
            .audit_events(Some(&proof.case.id), 100_000)
            .await?)
    }

    /// The audit events of a case, oldest first, for its citizen's own page (issue 20: the
    /// history of their request). Only for the citizen or the visitor who may read its
    /// content; the page shows the steps that matter to them and never who acted.
    pub(super) async fn citizen_trail(&self, proof: &Allowed) -> Result<Vec<AuditEntry>> {
        citizen_reading(proof, &[Action::ReadContent])?;
        let mut trail = self
            .store
            .audit_events(Some(&proof.case.id), 100_000)
            .await?;
        trail.reverse();
        Ok(trail)
    }

    /// How far the case has come, for its citizen's pages (no content): when they last
    /// opened it, when each side last wrote, how often a caseworker took it.
    pub(super) async fn citizen_activity(&self, proof: &Allowed) -> Result<CaseActivity> {
        citizen_reading(proof, &[Action::View, Action::ReadContent])?;
        Ok(self.store.case_activity(&proof.case.id).await?)
    }

    /// The citizen (or visitor) has opened their request now: an answer written before this
    /// is no longer unread.
    pub(super) async fn mark_citizen_read(&self, proof: &Allowed) -> Result<()> {
        citizen_reading(proof, &[Action::ReadContent])?;
        Ok(self
            .store
            .mark_citizen_read(&proof.case.id, self.clock.now())
            .await?)
    }

    /// A ground for the router's own work on a case: an offer, a widening, a revocation.
    /// `recheck` is decided again under the lock (an offer: may the caseworker still take it?).
    pub(super) fn router_ground(
        &self,
        policies: Vec<String>,
        recheck: Option<(Caseworker, Action)>,
    ) -> SystemGround {
        SystemGround {
            actor: Actor::System(SystemActor::Router),
            policies,
            recheck: recheck.map(Box::new),
        }
    }

    /// A ground for retention's work (R17, and closing inactive cases).
    pub(super) fn retention_ground(&self, policies: Vec<String>) -> SystemGround {
        SystemGround {
            actor: Actor::System(SystemActor::Retention),
            policies,
            recheck: None,
        }
    }

    /// A ground for what the population register says of a citizen at their login (R11).
    pub(super) fn register_ground(&self) -> SystemGround {
        SystemGround {
            actor: Actor::System(SystemActor::Register),
            policies: vec![policy::REGISTER.to_owned()],
            recheck: None,
        }
    }

    /// A member of staff logged in or out (R15: who worked when), on their municipality's chain
    /// or the federation's; the ground is their municipality's identity provider.
    pub(super) async fn record_login(
        &self,
        principal: &crate::domain::Principal,
        what: &str,
        detail: Value,
    ) -> Result<()> {
        let (actor, municipality) = match principal {
            crate::domain::Principal::Caseworker {
                caseworker_id,
                municipality,
            } => (
                Actor::Caseworker(caseworker_id.clone()),
                Some(municipality.clone()),
            ),
            crate::domain::Principal::Admin(admin) => (admin.actor(), admin.municipality.clone()),
            // A citizen's own login is theirs; the trail records what they do.
            crate::domain::Principal::Citizen(_) => return Ok(()),
        };
        let mut event = self.event(
            actor,
            municipality.clone(),
            what,
            vec![policy::STAFF_LOGIN.to_owned()],
        );
        event.municipality =
            municipality.map_or_else(|| self.federation().id.clone(), |m| m.as_str().to_owned());
        event.detail = detail;
        Ok(self.store.append_audit(&event).await?)
    }

    /// A caseworker answering an offer made to them (reject): the router's ground, their act.
    pub(super) fn offer_answer_ground(&self, caseworker: &Caseworker) -> SystemGround {
        SystemGround {
            actor: Actor::Caseworker(caseworker.id.clone()),
            policies: vec![policy::ROUTER.to_owned()],
            recheck: None,
        }
    }

    /// Applies `event` to the case under `ground` and commits it with `changes` and the audit
    /// event the ground names, in one transaction. A person's action is decided again on the
    /// case as locked; so is an offer, for the caseworker it goes to. Then tells subscribers
    /// what the state machine published.
    pub(super) async fn commit(
        &self,
        ground: Ground,
        case_id: &CaseId,
        event: CaseEvent,
        changes: Changes,
    ) -> Result<(Case, Transition)> {
        let (write, recheck) = self.write_of(ground, event.name(), changes);
        if let Some(probe) = &self.probe {
            probe.before_write(&write.audit.action, case_id).await;
        }
        let moved = self
            .store
            .transition(case_id, &event, &write, recheck.as_deref())
            .await?;
        self.publish(&moved.before, &moved.after, &moved.transition.published);
        Ok((moved.after, moved.transition))
    }

    /// Commits `changes` without a change of state (consent, harm assessment, permits); the
    /// case must still be in the state it was decided on.
    pub(super) async fn amend(
        &self,
        ground: Ground,
        case: &Case,
        changes: Changes,
        what: &'static str,
    ) -> Result<Case> {
        let expected = case.state;
        let (write, recheck) = self.write_of(ground, what, changes);
        if let Some(probe) = &self.probe {
            probe.before_write(&write.audit.action, &case.id).await;
        }
        Ok(self
            .store
            .amend(&case.id, expected, &write, recheck.as_deref())
            .await?)
    }

    /// Moves a queued case to another ring or flags it for an interpreter, if it still waits
    /// in `expected_ring`; `false` if something else changed it first.
    pub(super) async fn reroute(
        &self,
        ground: SystemGround,
        case: &Case,
        routing: &RoutingWrite,
        trace: &Value,
        what: &'static str,
    ) -> Result<bool> {
        let event = self.event(ground.actor, None, what, ground.policies);
        Ok(self
            .store
            .update_routing(&case.id, case.ring, routing, trace, &event)
            .await?)
    }

    /// Removes a closed case's personal data after its retention period (R17).
    pub(super) async fn thin(
        &self,
        ground: SystemGround,
        case: &Case,
        detail: Value,
    ) -> Result<bool> {
        let mut event = self.event(ground.actor, None, "thinned", ground.policies);
        event.detail = detail;
        Ok(self.store.thin_case(&case.id, &event).await?)
    }

    /// A new request, stored with the audit event of its submission (grounded on its home's
    /// routing permit), then announced.
    pub(super) async fn create(
        &self,
        actor: Actor,
        ground: Vec<String>,
        case: NewCase,
        detail: Value,
        unstaffed: bool,
    ) -> Result<Case> {
        let mut event = self.event(actor, None, "submit", ground);
        event.detail = detail;
        let created = self.store.create_case(&case, &event).await?;
        let mut published = Published::on_submit(created.is_child_concern());
        if unstaffed {
            // R10 with R11: nobody at home may take it; its administrators must, and the trail
            // says so.
            let mut alert = self.event(
                Actor::System(SystemActor::Router),
                None,
                "child_concern_unstaffed",
                vec![policy::ROUTER.to_owned()],
            );
            alert.municipality = created.home.as_str().to_owned();
            alert.case_id = Some(created.id.clone());
            self.store.append_audit(&alert).await?;
            published.push(Published::ChildConcernUnstaffed);
        }
        self.publish(&created, &created, &published);
        Ok(created)
    }

    fn write_of(
        &self,
        ground: Ground,
        name: &'static str,
        changes: Changes,
    ) -> (CaseWrite, Option<Box<Recheck>>) {
        let action = changes.action.unwrap_or(name);
        let (event, recheck): (NewAuditEvent, Option<Box<Recheck>>) = match ground {
            Ground::Person(proof) => {
                let proof = *proof;
                let event = self.person_event(&proof.subject, action, proof.ground.clone());
                (
                    event,
                    Some(self.recheck(proof.subject, proof.action, proof.judged)),
                )
            }
            Ground::System(ground) => {
                let recheck = ground.recheck.map(|boxed| {
                    let (caseworker, action) = *boxed;
                    self.recheck(Subject::Caseworker(caseworker), action, Judged::AsIs)
                });
                (
                    self.event(ground.actor, None, action, ground.policies),
                    recheck,
                )
            }
        };
        let mut write = CaseWrite::new(self.clock.now(), event);
        if let Some(detail) = changes.detail {
            write.audit.detail = detail;
        }
        write.message = changes.message;
        write.outcome = changes.outcome;
        write.trace = changes.trace;
        write.offer = changes.offer;
        write.routing = changes.routing;
        write.permits = changes.permits;
        write.consent = changes.consent;
        write.harm_assessment = changes.harm_assessment;
        write.note = changes.note;
        write.protection = changes.protection;
        (write, recheck)
    }

    /// The decision taken again under the write's lock, on the case as it stands then.
    fn recheck(&self, subject: Subject, action: Action, judged: Judged) -> Box<Recheck> {
        let ctx = self.clone();
        Box::new(move |locked: &Case| {
            let decision = ctx.judge_as(&subject, action, judged, locked);
            if decision.allowed {
                Ok(decision.policies)
            } else {
                tracing::info!(case = %locked.id, action = action.as_str(), policies = ?decision.policies, "permission changed before the write");
                Err(TransitionError::AccessChanged)
            }
        })
    }

    /// An audit event by a person now (their id, municipality and name).
    fn person_event(
        &self,
        subject: &Subject,
        action: &str,
        policies: Vec<String>,
    ) -> NewAuditEvent {
        let mut event = self.event(
            subject.actor(),
            subject.municipality().cloned(),
            action,
            policies,
        );
        event.actor_name = subject.name();
        event
    }

    /// An audit event by `actor` now; the store fills in the case and its chain for a change.
    fn event(
        &self,
        actor: Actor,
        actor_municipality: Option<MunicipalityCode>,
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
            actor_name: None,
        }
    }

    // ── Administration ──────────────────────────────────────────────────────────────────

    /// The gate for administration: `action` on a municipality or the federation, decided by
    /// the policies. A refusal is `forbidden`, audited on the administrator's chain.
    pub(super) async fn authorize_admin(
        &self,
        admin: &Administrator,
        action: Action,
        on: Option<&MunicipalityCode>,
    ) -> Result<AdminAllowed> {
        // An integration token never administers the federation (nor its policies).
        let token_on_federation = admin.is_token() && action == Action::Administer && on.is_none();
        self.decide_admin(admin, action, on, token_on_federation)
            .await
    }

    /// The gate for reading what administration configures (routing settings, policy
    /// versions, …): `administer` on `on` as the policies decide, but without changing
    /// anything, so a federation's integration token (which never administers the federation)
    /// may read it too, where its scopes open the route.
    pub(super) async fn authorize_admin_reading(
        &self,
        admin: &Administrator,
        on: Option<&MunicipalityCode>,
    ) -> Result<AdminAllowed> {
        self.decide_admin(admin, Action::Administer, on, false)
            .await
    }

    async fn decide_admin(
        &self,
        admin: &Administrator,
        action: Action,
        on: Option<&MunicipalityCode>,
        token_on_federation: bool,
    ) -> Result<AdminAllowed> {
        let resource = match on {
            Some(m) => Resource::Municipality {
                id: m.as_str().to_owned(),
            },
            None => Resource::Federation,
        };
        let mut decision = self.policy.admin_may(
            action,
            admin.municipality.as_ref().map(MunicipalityCode::as_str),
            resource,
        );
        if token_on_federation {
            decision = Decision::deny(&["integration-token-not-federation"]);
        }
        if decision.allowed {
            return Ok(AdminAllowed {
                admin: admin.clone(),
                ground: decision.policies,
            });
        }
        self.refuse_admin(
            admin,
            decision.policies,
            json!({
                "action": action.as_str(),
                "on": on.map_or("federation", MunicipalityCode::as_str),
            }),
        )
        .await
    }

    /// An administrator refused: `forbidden`, audited on their chain with the refusing
    /// policies and what they asked for.
    async fn refuse_admin<T>(
        &self,
        admin: &Administrator,
        policies: Vec<String>,
        detail: Value,
    ) -> Result<T> {
        let mut event = self.event(
            admin.actor(),
            admin.municipality.clone(),
            "access_denied",
            policies,
        );
        event.actor_name = admin.trail_name();
        event.municipality = self.admin_chain(admin);
        event.detail = detail;
        self.store.append_audit(&event).await?;
        Err(Error::Forbidden)
    }

    /// The chain an administrator's own events go on: their municipality's, or the
    /// federation's.
    fn admin_chain(&self, admin: &Administrator) -> String {
        admin
            .municipality
            .as_ref()
            .map_or_else(|| self.federation().id.clone(), |m| m.as_str().to_owned())
    }

    /// An integration token asked for a route that its scopes do not open (`needs` the
    /// route's family; `None` where no scope opens the route at all): `forbidden`, audited on
    /// the chain of the municipality the token acts for (the federation's for a federation
    /// token), before the policies are asked anything.
    pub(super) async fn refused_token_scope(
        &self,
        admin: &Administrator,
        needs: Option<Scope>,
        route: &str,
    ) -> Result<()> {
        self.refuse_admin(
            admin,
            vec!["integration-token-scope".to_owned()],
            json!({
                "needs": needs.map(Scope::as_str),
                "route": route,
            }),
        )
        .await
    }

    /// An administrator's act that changes nothing but is recorded (reading the trail), on
    /// their chain.
    pub(super) async fn record_admin(
        &self,
        proof: &AdminAllowed,
        what: &str,
        detail: Value,
    ) -> Result<()> {
        let mut event = self.admin_event(proof, what, detail);
        event.municipality = proof.chain(self);
        Ok(self.store.append_audit(&event).await?)
    }

    fn admin_event(&self, proof: &AdminAllowed, what: &str, detail: Value) -> NewAuditEvent {
        let mut event = self.event(
            proof.admin.actor(),
            proof.admin.municipality.clone(),
            what,
            proof.ground.clone(),
        );
        event.actor_name = proof.admin.trail_name();
        event.municipality = proof.chain(self);
        event.detail = detail;
        event
    }

    /// The audit trail, as far as the proof reaches.
    pub(super) async fn read_trail(
        &self,
        _proof: &AdminAllowed,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditEntry>> {
        Ok(self.store.audit_query(filter).await?)
    }

    /// Stores routing settings with the change's audit event (on the federation's chain).
    pub(super) async fn store_routing_settings(
        &self,
        proof: &AdminAllowed,
        entries: &[CategoryRouting],
    ) -> Result<()> {
        let mut event =
            self.admin_event(proof, "routing_settings", json!({ "categories": entries }));
        event.municipality = self.federation().id.clone();
        Ok(self.store.put_routing_settings(entries, &event).await?)
    }

    /// Stores a new policy version with its audit event.
    pub(super) async fn store_policy_version(
        &self,
        proof: &AdminAllowed,
        text: &str,
        tests: &str,
        policies: &[String],
    ) -> Result<i64> {
        let author = proof.admin.actor().to_string();
        let mut event = self.admin_event(
            proof,
            "policy_version_stored",
            json!({ "policies": policies }),
        );
        event.municipality = self.federation().id.clone();
        Ok(self
            .store
            .insert_policy_version(text, tests, &author, self.clock.now(), false, Some(&event))
            .await?)
    }

    /// Makes a stored version the active one, with its audit event.
    pub(super) async fn store_activation(
        &self,
        proof: &AdminAllowed,
        version: i64,
        previous: i64,
    ) -> Result<()> {
        let by = proof.admin.actor().to_string();
        let mut event = self.admin_event(
            proof,
            "policy_version_activated",
            json!({ "version": version, "previous": previous }),
        );
        event.municipality = self.federation().id.clone();
        Ok(self
            .store
            .activate_policy_version(version, &by, &event)
            .await?)
    }

    /// A ground for the cases' following of a federation change: the administrator who made
    /// it acts, on the policies that let them and the routing the change rewrote.
    pub(super) fn federation_ground(&self, proof: &AdminAllowed) -> SystemGround {
        SystemGround {
            actor: proof.admin.actor(),
            policies: [proof.ground.clone(), vec![policy::ROUTER.to_owned()]].concat(),
            recheck: None,
        }
    }

    /// Stores a draft version of an agreement with its audit event (the federation's chain).
    pub(super) async fn store_agreement_draft(
        &self,
        proof: &AdminAllowed,
        draft: &crate::domain::federation::AgreementVersion,
    ) -> Result<()> {
        let mut event = self.admin_event(
            proof,
            "agreement_drafted",
            json!({ "agreement": draft.agreement_id, "version": draft.version, "draft": &draft.agreement }),
        );
        event.municipality = self.federation().id.clone();
        Ok(self.store.insert_agreement_draft(draft, &event).await?)
    }

    /// Writes a federation change as its next version, with its record (naming the
    /// administrator) and audit event: on the municipality's chain for a change to a member
    /// (`on`), else on the federation's.
    pub(super) async fn store_federation_change(
        &self,
        proof: &AdminAllowed,
        federation: &crate::domain::federation::Federation,
        mut change: crate::store::FederationChange,
        agreement: Option<&crate::store::AgreementWrite>,
        on: Option<MunicipalityCode>,
    ) -> Result<()> {
        change.actor = proof.admin.actor().to_string();
        change.actor_name = proof.admin.trail_name();
        let mut event = self.admin_event(
            proof,
            &format!("{}_{}", change.item, change.change),
            json!({
                "federation_version": change.version,
                change.item: change.item_id,
                "now": change.body,
            }),
        );
        event.municipality =
            on.map_or_else(|| self.federation().id.clone(), |m| m.as_str().to_owned());
        Ok(self
            .store
            .change_federation(federation, &change, agreement, &event)
            .await?)
    }

    /// Stores a new integration token with the audit event of its creation, on the chain of
    /// the municipality it acts for.
    pub(super) async fn store_integration_token(
        &self,
        proof: &AdminAllowed,
        token: &NewApiToken,
        detail: Value,
    ) -> Result<()> {
        let event = self.admin_event(proof, "integration_token_created", detail);
        Ok(self.store.insert_api_token(token, Some(&event)).await?)
    }

    /// Stores a new caseworker with the audit event of their creation (`what`: who made them,
    /// `caseworker_created` by an administrator or SCIM client), on their municipality's chain.
    pub(super) async fn store_new_staff_member(
        &self,
        proof: &AdminAllowed,
        member: &StaffMember,
        detail: Value,
    ) -> Result<()> {
        let mut event = self.admin_event(proof, "caseworker_created", detail);
        event.municipality = member.caseworker.municipality.as_str().to_owned();
        Ok(self.store.insert_staff_member(member, &event).await?)
    }

    /// Writes an administrator's change of a caseworker (`what`: `caseworker_changed`,
    /// `caseworker_deactivated`, …) with its audit event naming what changed, on the
    /// caseworker's municipality's chain.
    pub(super) async fn store_staff_change(
        &self,
        proof: &AdminAllowed,
        member: &StaffMember,
        what: &str,
        detail: Value,
    ) -> Result<()> {
        let mut event = self.admin_event(proof, what, detail);
        event.municipality = member.caseworker.municipality.as_str().to_owned();
        Ok(self
            .store
            .update_staff_member(member, self.clock.now(), &event)
            .await?)
    }

    /// Stores a SCIM group (created, renamed or its members changed), on its municipality's
    /// chain.
    pub(super) async fn store_staff_group(
        &self,
        proof: &AdminAllowed,
        group: &StaffGroup,
        what: &str,
        detail: Value,
    ) -> Result<()> {
        let mut event = self.admin_event(proof, what, detail);
        event.municipality = group.municipality.as_str().to_owned();
        Ok(self
            .store
            .put_staff_group(group, self.clock.now(), &event)
            .await?)
    }

    /// A caseworker their provider vouched for at a staff login, unknown to Brygga until now
    /// and created from the login's claims (just-in-time provisioning): their own act, grounded
    /// on their municipality's identity provider, on its chain.
    pub(super) async fn store_provisioned_staff_member(
        &self,
        member: &StaffMember,
        detail: Value,
    ) -> Result<()> {
        let caseworker = &member.caseworker;
        let mut event = self.event(
            Actor::Caseworker(caseworker.id.clone()),
            Some(caseworker.municipality.clone()),
            "caseworker_provisioned",
            vec![policy::STAFF_LOGIN.to_owned()],
        );
        event.actor_name = Some(caseworker.name.clone());
        event.municipality = caseworker.municipality.as_str().to_owned();
        event.detail = detail;
        Ok(self.store.insert_staff_member(member, &event).await?)
    }

    /// The ground for sending a deactivated caseworker's cases back to routing: the
    /// administrator who deactivated them acts, on the ground `caseworker-deactivated` (cases
    /// of another home, which that administrator may not transfer, go back to the queue all
    /// the same: nobody is left to hold them).
    pub(super) fn deactivation_ground(&self, proof: &AdminAllowed) -> SystemGround {
        SystemGround {
            actor: proof.admin.actor(),
            policies: [
                proof.ground.clone(),
                vec!["caseworker-deactivated".to_owned()],
            ]
            .concat(),
            recheck: None,
        }
    }

    /// Revokes an integration token with the audit event, on the chain of the municipality it
    /// acted for. `false` if it was not live.
    pub(super) async fn revoke_integration_token_as(
        &self,
        proof: &AdminAllowed,
        id: &str,
        acted_for: Option<&MunicipalityCode>,
        detail: Value,
    ) -> Result<bool> {
        let mut event = self.admin_event(proof, "integration_token_revoked", detail);
        event.municipality =
            acted_for.map_or_else(|| self.federation().id.clone(), |m| m.as_str().to_owned());
        Ok(self
            .store
            .revoke_api_token(id, self.clock.now(), Some(&event))
            .await?)
    }
}

/// The citizen's side reads only with a proof of its own, of one of `actions`.
fn citizen_reading(proof: &Allowed, actions: &[Action]) -> Result<()> {
    let citizen_side = matches!(proof.subject, Subject::Citizen(_) | Subject::Visitor);
    if citizen_side && actions.contains(&proof.action) {
        return Ok(());
    }
    Err(Error::Internal(format!(
        "a citizen's page read with a proof of `{}` by {}",
        proof.action.as_str(),
        proof.subject.actor().role()
    )))
}

/// The case as a claim of it is judged when an offer of it is accepted: queued, without owner.
fn reserved(case: &Case) -> Case {
    Case {
        state: CaseState::Queued,
        owner: None,
        handler: None,
        ..case.clone()
    }
}

/// The audit event of a release's shipped policies replacing the shipped version that was
/// active (start-up, [`super::load_policies`]), on the federation's chain.
pub(super) fn shipped_policies_event(
    federation: &str,
    previous: i64,
    at: chrono::DateTime<chrono::Utc>,
) -> NewAuditEvent {
    NewAuditEvent {
        at,
        actor: Actor::System(SystemActor::Release),
        actor_municipality: None,
        municipality: federation.to_owned(),
        action: "policy_version_activated".to_owned(),
        case_id: None,
        policies: Vec::new(),
        detail: json!({ "previous": previous, "shipped": true }),
        request_id: None,
        actor_name: None,
    }
}

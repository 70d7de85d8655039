//! The caseworkers' side: queue, claim, the case thread, release, close, transfer, availability.

use serde_json::json;

use super::gate::{Changes, Ground, Subject};
use super::{CaseView, Context, Error, Result, Shown, check_text};
use crate::domain::case::NoteKind;
use crate::domain::case::{
    Case, CaseEvent, CaseState, OfferEnd, Outcome, Sender, TransferActor, TransitionError,
};
use crate::domain::ids::{CaseId, CaseworkerId};
use crate::domain::people::{Availability, Caseworker};
use crate::policy::{self, Action, Decision};
use crate::store::{NewMessage, NewNote, RoutingWrite, StoreError};

/// Who moves a case to another municipality or caseworker.
pub enum Transferrer<'a> {
    Caseworker(&'a Caseworker),
    /// A municipality's administrator (of the case's home), or a federation administrator.
    Admin(&'a crate::domain::Administrator),
}

pub struct TransferInput {
    pub municipality: Option<String>,
    pub caseworker_id: Option<String>,
    pub reason: String,
}

fn case_id(id: &str) -> Result<CaseId> {
    CaseId::parse(id).map_err(|_| Error::NotFound)
}

impl Context {
    /// The caseworker behind a login, fresh from the store so that an administrator's change
    /// of skills or clearance takes effect at once. An id that names nobody is 404.
    pub async fn caseworker(&self, id: &CaseworkerId) -> Result<Caseworker> {
        self.store.caseworker(id).await?.ok_or(Error::NotFound)
    }

    /// A case after a caseworker's change, as they may see it now: who the citizen is as far
    /// as `read_content` allows on the case as it now stands (R8, R15).
    fn shown_after(&self, caseworker: &Caseworker, case: Case, ground: &[String]) -> Shown {
        let subject = Subject::Caseworker(caseworker.clone());
        Shown {
            identity: self.judge(&subject, Action::ReadContent, &case).allowed,
            case,
            ground: ground.to_vec(),
        }
    }

    /// Queued cases the caseworker may take now, most urgent and oldest first: each one they
    /// may view and claim now (the metadata only, R8), under their municipality's fair share.
    /// One audit event names the ids shown and each one's ground.
    pub async fn queue(&self, caseworker: &Caseworker) -> Result<Vec<Shown>> {
        let candidates = self
            .store
            .queue(&caseworker.municipality, self.config.queue_limit)
            .await?;
        let capped = self.over_fair_share_all().await?;
        let candidates = candidates
            .into_iter()
            .filter(|case| {
                case.home == caseworker.municipality
                    || !capped.iter().any(|(category, m)| {
                        category == case.category.as_str() && *m == caseworker.municipality
                    })
            })
            .collect();
        let subject = Subject::Caseworker(caseworker.clone());
        let listed = self
            .list(
                &subject,
                &[Action::View, Action::Claim],
                candidates,
                "list_queue",
                &caseworker.municipality,
            )
            .await?;
        Ok(listed.iter().map(|a| self.shown(a)).collect())
    }

    pub async fn claim(&self, caseworker: &Caseworker, id: &str) -> Result<Shown> {
        // Decided under the federation as stored: a change on another replica counts at once.
        self.follow_federation().await?;
        let subject = Subject::Caseworker(caseworker.clone());
        let proof = self
            .authorize_id(subject, Action::Claim, &case_id(id)?)
            .await?;
        let case = proof.case().clone();
        if case.home != caseworker.municipality
            && self
                .over_fair_share(case.category.as_str())
                .await?
                .contains(&caseworker.municipality)
        {
            let refusal = Decision::deny(&[policy::FAIR_SHARE]);
            self.refused(proof.subject(), &case, Action::Claim, &refusal)
                .await?;
            return Err(Error::Denied(refusal));
        }
        let ground = proof.ground().to_vec();
        let (case, _) = self
            .commit(
                Ground::person(proof),
                &case.id,
                CaseEvent::Claim {
                    caseworker: caseworker.id.clone(),
                },
                Changes::default(),
            )
            .await?;
        Ok(self.shown_after(caseworker, case, &ground))
    }

    /// A case the caseworker may view. Its thread and who the citizen is only as far as
    /// `read_content` allows (R15 need to know: the owner, home staff with the skill while it is
    /// open, the home's supervisor); otherwise the metadata. The reading is audited with the
    /// ground of what was shown.
    pub async fn view_case(&self, caseworker: &Caseworker, id: &str) -> Result<CaseView> {
        let subject = Subject::Caseworker(caseworker.clone());
        let proof = self
            .authorize_id(subject, Action::View, &case_id(id)?)
            .await?;
        let consent = self.consent_history(&proof).await?.pop();
        let mut legal_ground = proof.ground().to_vec();
        let (messages, identity) = match self.content(&proof) {
            Some(content) => {
                let messages = self.thread(&content).await?;
                self.record_read(&content, "view", None).await?;
                legal_ground.extend(content.ground().iter().cloned());
                (messages, true)
            }
            None => {
                self.record_read(&proof, "view_metadata", None).await?;
                (Vec::new(), false)
            }
        };
        legal_ground.sort();
        legal_ground.dedup();
        Ok(CaseView {
            case: proof.case().clone(),
            messages,
            consent,
            legal_ground,
            identity,
        })
    }

    /// Reply, release or close: the owner's actions on a case they may see.
    async fn owner_transition(
        &self,
        caseworker: &Caseworker,
        id: &str,
        action: Action,
        event: CaseEvent,
        changes: Changes,
    ) -> Result<Shown> {
        let id = case_id(id)?;
        let case = self.store.case(&id).await?.ok_or(Error::NotFound)?;
        let subject = Subject::Caseworker(caseworker.clone());
        if case.state.is_final() {
            // Only someone who may see the case learns that it is closed.
            let from = case.state;
            self.authorize(subject, Action::View, case).await?;
            return Err(Error::Conflict(TransitionError::InvalidTransition {
                from,
                event: event.name(),
            }));
        }
        let proof = self.authorize(subject, action, case).await?;
        let ground = proof.ground().to_vec();
        let (case, _) = self
            .commit(Ground::person(proof), &id, event, changes)
            .await?;
        Ok(self.shown_after(caseworker, case, &ground))
    }

    pub async fn caseworker_writes(
        &self,
        caseworker: &Caseworker,
        id: &str,
        text: &str,
    ) -> Result<Shown> {
        let text = check_text(text)?;
        let event = CaseEvent::CaseworkerWrites {
            caseworker: caseworker.id.clone(),
        };
        let changes = Changes {
            message: Some(NewMessage {
                sender: Sender::Caseworker,
                author: Some(caseworker.id.clone()),
                body: text,
            }),
            ..Changes::default()
        };
        self.owner_transition(caseworker, id, Action::Reply, event, changes)
            .await
    }

    /// Back to the queue; the freed slot is matched at once.
    pub async fn release(&self, caseworker: &Caseworker, id: &str) -> Result<Shown> {
        let event = CaseEvent::Release {
            caseworker: caseworker.id.clone(),
        };
        let shown = self
            .owner_transition(caseworker, id, Action::Release, event, Changes::default())
            .await?;
        let case = self
            .dispatch_passing_over(shown.case, &caseworker.id)
            .await?;
        self.capacity_freed(&caseworker.id).await?;
        Ok(Shown {
            identity: case.is_owned_by(&caseworker.id),
            case,
            ground: shown.ground,
        })
    }

    pub async fn close(
        &self,
        caseworker: &Caseworker,
        id: &str,
        outcome: Outcome,
    ) -> Result<Shown> {
        let event = CaseEvent::Close {
            caseworker: caseworker.id.clone(),
            outcome,
        };
        let changes = Changes {
            outcome: Some(outcome),
            detail: Some(json!({ "outcome": outcome.as_str() })),
            ..Changes::default()
        };
        let shown = self
            .owner_transition(caseworker, id, Action::Close, event, changes)
            .await?;
        self.capacity_freed(&caseworker.id).await?;
        Ok(shown)
    }

    /// The caseworker's open cases (offered or held), each shown only as far as the policies
    /// let them view it now; one audit event names the ids shown and each one's ground (R15).
    pub async fn my_cases(&self, caseworker: &Caseworker) -> Result<Vec<Shown>> {
        let cases = self.store.cases_of_owner(&caseworker.id).await?;
        let subject = Subject::Caseworker(caseworker.clone());
        let listed = self
            .list(
                &subject,
                &[Action::View],
                cases,
                "list_own_cases",
                &caseworker.municipality,
            )
            .await?;
        Ok(listed.iter().map(|a| self.shown(a)).collect())
    }

    /// For each of `cases` (as [`Context::my_cases`] just listed them for the caseworker):
    /// whether the citizen wrote after the last caseworker's message, the "my cases" list's
    /// marker. Metadata of cases the caseworker holds, read without their content; a case they
    /// do not hold is `false`.
    pub async fn awaiting_reply(
        &self,
        caseworker: &Caseworker,
        cases: &[Shown],
    ) -> Result<Vec<bool>> {
        let mut marks = Vec::with_capacity(cases.len());
        for shown in cases {
            if !shown.case.is_owned_by(&caseworker.id) {
                marks.push(false);
                continue;
            }
            let activity = self.store.case_activity(&shown.case.id).await?;
            marks.push(match (activity.citizen_wrote_at, activity.staff_wrote_at) {
                (Some(citizen), Some(staff)) => citizen > staff,
                (Some(_), None) => true,
                _ => false,
            });
        }
        Ok(marks)
    }

    /// `away` rescinds pending offers (they go to the next candidate); coming back or raising
    /// capacity matches waiting requests at once.
    pub async fn set_availability(
        &self,
        caseworker: &Caseworker,
        status: Availability,
        capacity: Option<u32>,
    ) -> Result<Caseworker> {
        if let Some(capacity) = capacity
            && capacity > caseworker.max_capacity
        {
            return Err(Error::InvalidField("capacity"));
        }
        let updated = match self
            .store
            .set_availability(&caseworker.id, status, capacity, self.clock.now())
            .await
        {
            Err(StoreError::Invalid(_)) => return Err(Error::InvalidField("capacity")),
            other => other?,
        };
        match status {
            Availability::Away => {
                for offer in self.store.open_offers(&caseworker.id).await? {
                    self.end_offer(&offer, OfferEnd::CaseworkerAway, None)
                        .await?;
                }
            }
            Availability::Available => self.capacity_freed(&caseworker.id).await?,
        }
        Ok(updated)
    }

    /// A case back into a queue, with a target and the reason kept (DESIGN.md's transfer row).
    /// The owner moves their case; a home administrator (or the federation's) any case of the
    /// municipality. The target must be permitted by the routing policies now.
    pub async fn transfer(
        &self,
        by: Transferrer<'_>,
        id: &str,
        input: TransferInput,
    ) -> Result<Case> {
        let reason = input.reason.trim().to_owned();
        if reason.is_empty() || reason.chars().count() > 2_000 {
            return Err(Error::InvalidField("reason"));
        }
        let id = case_id(id)?;
        let (subject, transfer_by) = match &by {
            Transferrer::Caseworker(caseworker) => (
                Subject::Caseworker((*caseworker).clone()),
                TransferActor::Owner(caseworker.id.clone()),
            ),
            Transferrer::Admin(admin) => {
                (Subject::Admin((*admin).clone()), TransferActor::HomeAdmin)
            }
        };
        let proof = self.authorize_id(subject, Action::Transfer, &id).await?;
        let case = proof.case().clone();
        let caller = proof.subject().municipality().unwrap_or(&case.home).clone();
        let target_caseworker = match input.caseworker_id.as_deref() {
            Some(cid) => {
                let cid = CaseworkerId::parse(cid)
                    .map_err(|_| Error::Unprocessable("unknown_caseworker"))?;
                Some(
                    self.store
                        .caseworker(&cid)
                        .await?
                        .ok_or(Error::Unprocessable("unknown_caseworker"))?,
                )
            }
            None => None,
        };
        let target = match (&input.municipality, &target_caseworker) {
            (Some(m), Some(c)) if *m != c.municipality.as_str() => {
                return Err(Error::InvalidField("caseworker_id"));
            }
            (Some(m), _) => Some(self.member(m)?),
            (None, Some(c)) => Some(c.municipality.clone()),
            (None, None) => None,
        };
        // The target must be permitted by the routing policies now, whatever the transferrer
        // wants; the refusal names the rules that close the border.
        let today = self.clock.today();
        let facts = policy::case_facts(&self.federation(), &case, today);
        let target_ring = match &target {
            Some(m) => {
                let route = self
                    .policy
                    .route(&self.federation(), &facts, m.as_str(), today);
                if !route.allowed {
                    return Err(Error::Denied(
                        route.for_caller(caller.as_str(), case.home.as_str()),
                    ));
                }
                route.ring
            }
            None => None,
        };
        if let Some(c) = &target_caseworker {
            // Judge the case as it will stand after the transfer: queued, aimed at the target.
            let after = Case {
                state: CaseState::Queued,
                owner: None,
                handler: None,
                target_municipality: target.clone(),
                ring: target_ring.map_or(case.ring, |r| r.max(case.ring)),
                ..case.clone()
            };
            let decision = self.judge(&Subject::Caseworker(c.clone()), Action::Claim, &after);
            if !decision.allowed {
                return Err(Error::NotEligible(
                    decision.for_caller(caller.as_str(), case.home.as_str()),
                ));
            }
        }
        // R17: the reason is free text about the citizen; it is kept with the case (and thinned
        // with it), and the audit event names it by its number.
        let changes = Changes {
            detail: Some(json!({
                "municipality": target,
                "caseworker": input.caseworker_id,
            })),
            note: Some(NewNote {
                kind: NoteKind::TransferReason,
                body: reason.clone(),
                author: proof.subject().actor().to_string(),
            }),
            routing: Some(RoutingWrite {
                ring: target_ring.map(|r| r.max(case.ring)),
                interpreter_needed: None,
                target_municipality: Some(target.clone()),
                transfer_reason: Some(reason),
            }),
            ..Changes::default()
        };
        let former_owner = case.owner.clone().filter(|_| case.state.holds_capacity());
        let (case, _) = self
            .commit(
                Ground::person(proof),
                &id,
                CaseEvent::Transfer { by: transfer_by },
                changes,
            )
            .await?;
        let case = match &target_caseworker {
            Some(c) => self.offer_to(case, c, None).await?,
            None => self.dispatch(case).await?,
        };
        if let Some(owner) = former_owner {
            self.capacity_freed(&owner).await?;
        }
        Ok(case)
    }
}

//! The caseworkers' side: queue, claim, the case thread, release, close, transfer, availability.

use serde_json::json;

use super::{Context, Error, Result, check_text};
use crate::domain::case::{CaseEvent, OfferEnd, Outcome, TransferActor, TransitionError};
use crate::domain::people::Availability;
use crate::policy::{self, Action, Decision};
use crate::store::{
    CaseRecord, CaseWrite, CaseworkerRecord, NewMessage, RoutingWrite, Sender, StoreError,
};

use super::CaseView;

/// Who moves a case to another municipality or caseworker.
pub enum Transferrer<'a> {
    Caseworker(&'a CaseworkerRecord),
    /// A municipality's administrator (of the case's home), or a federation administrator
    /// (`None`).
    Admin(Option<&'a str>),
}

pub struct TransferInput {
    pub municipality: Option<String>,
    pub caseworker_id: Option<String>,
    pub reason: String,
}

impl Context {
    /// The caseworker behind a session, fresh from the store so that an administrator's change
    /// of skills or clearance takes effect at once.
    pub async fn caseworker(&self, id: &str) -> Result<CaseworkerRecord> {
        self.store.caseworker(id).await?.ok_or(Error::NotFound)
    }

    /// The policies' answer for this caseworker, this action and the case as it stands now.
    pub(super) fn may(
        &self,
        action: Action,
        caseworker: &CaseworkerRecord,
        case: &CaseRecord,
    ) -> Decision {
        self.policy.caseworker_may(
            action,
            &self.federation,
            caseworker,
            case,
            self.clock.today(),
        )
    }

    /// The case, if the caseworker may see it; 404 otherwise (existence never leaks).
    async fn visible_case(
        &self,
        caseworker: &CaseworkerRecord,
        id: &str,
    ) -> Result<(CaseRecord, Decision)> {
        let case = self.store.case(id).await?.ok_or(Error::NotFound)?;
        let decision = self.may(Action::View, caseworker, &case);
        if !decision.allowed {
            tracing::debug!(case = %id, policies = ?decision.policies, "case hidden from caseworker");
            self.record_denial(caseworker, &case, Action::View, &decision)
                .await?;
            return Err(Error::NotFound);
        }
        Ok((case, decision))
    }

    /// A refused attempt on an existing case, for the follow-up of unusual access (R15), with
    /// the policies that refused it.
    pub(super) async fn record_denial(
        &self,
        caseworker: &CaseworkerRecord,
        case: &CaseRecord,
        action: Action,
        decision: &Decision,
    ) -> Result<()> {
        let mut event =
            self.caseworker_audit(caseworker, "access_denied", decision.policies.clone());
        event.detail = json!({ "action": action.as_str() });
        self.record_read(event, case).await
    }

    /// Queued cases the caseworker may claim now, most urgent and oldest first. One audit event
    /// names the ids shown.
    pub async fn queue(&self, caseworker: &CaseworkerRecord) -> Result<Vec<CaseRecord>> {
        let candidates = self
            .store
            .queue(&caseworker.municipality, self.config.queue_limit)
            .await?;
        let capped = self.over_fair_share_all().await?;
        let mut items = Vec::new();
        let mut grounds = Vec::new();
        for case in candidates {
            let over = case.home != caseworker.municipality
                && capped.iter().any(|(category, m)| {
                    *category == case.category && *m == caseworker.municipality
                });
            if over {
                continue;
            }
            let decision = self.may(Action::Claim, caseworker, &case);
            if decision.allowed {
                grounds.extend(decision.policies);
                items.push(case);
            }
        }
        grounds.sort();
        grounds.dedup();
        let mut event = self.caseworker_audit(caseworker, "list_queue", grounds);
        event.municipality = caseworker.municipality.clone();
        event.detail = json!({ "ids": items.iter().map(|c| c.id.as_str()).collect::<Vec<_>>() });
        self.store.append_audit(&event).await?;
        Ok(items)
    }

    pub async fn claim(&self, caseworker: &CaseworkerRecord, id: &str) -> Result<CaseRecord> {
        let (case, _) = self.visible_case(caseworker, id).await?;
        let decision = self.may(Action::Claim, caseworker, &case);
        if !decision.allowed {
            self.record_denial(caseworker, &case, Action::Claim, &decision)
                .await?;
            return Err(Error::NotEligible(
                decision.for_caller(&caseworker.municipality, &case.home),
            ));
        }
        if case.home != caseworker.municipality
            && self
                .over_fair_share(&case.category)
                .await?
                .contains(&caseworker.municipality)
        {
            return Err(Error::Denied(Decision::deny(&[policy::FAIR_SHARE])));
        }
        let claim = CaseEvent::Claim {
            caseworker: caseworker.id.clone(),
        };
        let write = CaseWrite::new(
            self.clock.now(),
            self.caseworker_audit(caseworker, claim.name(), decision.policies),
        );
        let (case, _) = self.store.transition(&case.id, &claim, &write).await?;
        self.notify_queues(&case).await?;
        Ok(case)
    }

    pub async fn view_case(&self, caseworker: &CaseworkerRecord, id: &str) -> Result<CaseView> {
        let (case, decision) = self.visible_case(caseworker, id).await?;
        // R8: outside home, nothing but metadata until the caseworker has the case.
        let content = case.home == caseworker.municipality
            || case.owner.as_deref() == Some(caseworker.id.as_str()) && case.state.is_owned();
        let messages = if content {
            self.store.messages(id).await?
        } else {
            Vec::new()
        };
        let consent = self.store.consent(id).await?;
        let event = self.caseworker_audit(
            caseworker,
            if content { "view" } else { "view_metadata" },
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

    /// Reply, release or close: owner-only actions on a visible case.
    async fn owner_transition(
        &self,
        caseworker: &CaseworkerRecord,
        id: &str,
        action: Action,
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
        let decision = self.may(action, caseworker, &case);
        if !decision.allowed {
            self.record_denial(caseworker, &case, action, &decision)
                .await?;
            return Err(Error::Denied(
                decision.for_caller(&caseworker.municipality, &case.home),
            ));
        }
        let mut write = CaseWrite::new(
            self.clock.now(),
            self.caseworker_audit(caseworker, event.name(), decision.policies),
        );
        if let Some(outcome) = outcome {
            write.audit.detail = json!({ "outcome": outcome.as_str() });
        }
        write.message = message;
        write.outcome = outcome;
        let (case, _) = self.store.transition(&case.id, &event, &write).await?;
        // The caseworker's other windows follow the change.
        self.notify("case.updated", &case, Some(&caseworker.id), Vec::new());
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
        self.owner_transition(caseworker, id, Action::Reply, event, Some(message), None)
            .await
    }

    /// Back to the queue; the freed slot is matched at once.
    pub async fn release(&self, caseworker: &CaseworkerRecord, id: &str) -> Result<CaseRecord> {
        let event = CaseEvent::Release {
            caseworker: caseworker.id.clone(),
        };
        let case = self
            .owner_transition(caseworker, id, Action::Release, event, None, None)
            .await?;
        let case = self.dispatch_passing_over(case, &caseworker.id).await?;
        self.capacity_freed(&caseworker.id).await?;
        Ok(case)
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
        let case = self
            .owner_transition(caseworker, id, Action::Close, event, None, Some(outcome))
            .await?;
        self.capacity_freed(&caseworker.id).await?;
        Ok(case)
    }

    /// The caseworker's open cases; the listing is audited with the ids it showed (R15).
    pub async fn my_cases(&self, caseworker: &CaseworkerRecord) -> Result<Vec<CaseRecord>> {
        let cases = self.store.cases_of_owner(&caseworker.id).await?;
        let mut event =
            self.caseworker_audit(caseworker, "list_own_cases", vec![policy::OWNER.to_owned()]);
        event.municipality = caseworker.municipality.clone();
        event.detail = json!({ "ids": cases.iter().map(|c| c.id.as_str()).collect::<Vec<_>>() });
        self.store.append_audit(&event).await?;
        Ok(cases)
    }

    /// `away` rescinds pending offers (they go to the next candidate); coming back or raising
    /// capacity matches waiting requests at once.
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
                    self.end_offer(&offer, OfferEnd::CaseworkerAway).await?;
                }
            }
            Availability::Available => self.capacity_freed(&caseworker.id).await?,
        }
        Ok(updated)
    }

    /// A case back into a queue, with a target and the reason kept (DESIGN.md's transfer row).
    pub async fn transfer(
        &self,
        by: Transferrer<'_>,
        id: &str,
        input: TransferInput,
    ) -> Result<CaseRecord> {
        let reason = input.reason.trim().to_owned();
        if reason.is_empty() || reason.chars().count() > 2_000 {
            return Err(Error::InvalidField("reason"));
        }
        let (case, decision, actor, actor_municipality, transfer_by) = match &by {
            Transferrer::Caseworker(caseworker) => {
                let (case, _) = self.visible_case(caseworker, id).await?;
                let decision = self.may(Action::Transfer, caseworker, &case);
                if !decision.allowed {
                    self.record_denial(caseworker, &case, Action::Transfer, &decision)
                        .await?;
                    return Err(Error::Denied(
                        decision.for_caller(&caseworker.municipality, &case.home),
                    ));
                }
                (
                    case,
                    decision,
                    super::caseworker_actor(caseworker),
                    Some(caseworker.municipality.clone()),
                    TransferActor::Owner(caseworker.id.clone()),
                )
            }
            Transferrer::Admin(municipality) => {
                let case = self.store.case(id).await?.ok_or(Error::NotFound)?;
                let facts = policy::case_facts(&self.federation, &case, self.clock.today());
                let decision = self.policy.admin_may(
                    Action::Transfer,
                    *municipality,
                    policy::Resource::Case(Box::new(facts)),
                );
                if !decision.allowed {
                    return Err(Error::NotFound);
                }
                (
                    case,
                    decision,
                    format!("admin:{}", municipality.unwrap_or("federation")),
                    municipality.map(str::to_owned),
                    TransferActor::HomeAdmin,
                )
            }
        };
        let target_caseworker = match input.caseworker_id.as_deref() {
            Some(cid) => Some(
                self.store
                    .caseworker(cid)
                    .await?
                    .ok_or(Error::Unprocessable("unknown_caseworker"))?,
            ),
            None => None,
        };
        let target = match (&input.municipality, &target_caseworker) {
            (Some(m), Some(c)) if *m != c.municipality => {
                return Err(Error::InvalidField("caseworker_id"));
            }
            (Some(m), _) => Some(self.member(m)?.as_str().to_owned()),
            (None, Some(c)) => Some(c.municipality.clone()),
            (None, None) => None,
        };
        // The target must be permitted by the routing policies now, whatever the transferrer
        // wants; the refusal names the rules that close the border.
        let today = self.clock.today();
        let facts = policy::case_facts(&self.federation, &case, today);
        let target_ring = match &target {
            Some(m) => {
                let route = self.policy.route(&self.federation, &facts, m, today);
                if !route.allowed {
                    let caller = actor_municipality.as_deref().unwrap_or(case.home.as_str());
                    return Err(Error::Denied(route.for_caller(caller, &case.home)));
                }
                route.ring
            }
            None => None,
        };
        if let Some(c) = &target_caseworker {
            // Judge the case as it will stand after the transfer: queued, aimed at the target.
            let mut after = case.clone();
            after.state = crate::domain::case::CaseState::Queued;
            after.owner = None;
            after.target_municipality = target.clone();
            after.ring = target_ring.map_or(case.ring, |r| r.max(case.ring));
            let decision = self.may(Action::Claim, c, &after);
            if !decision.allowed {
                let caller = actor_municipality.as_deref().unwrap_or(case.home.as_str());
                return Err(Error::NotEligible(decision.for_caller(caller, &case.home)));
            }
        }
        let event = CaseEvent::Transfer { by: transfer_by };
        let mut write = CaseWrite::new(
            self.clock.now(),
            self.audit(actor, actor_municipality, event.name(), decision.policies),
        );
        write.audit.detail = json!({
            "reason": reason,
            "municipality": target,
            "caseworker": input.caseworker_id,
        });
        write.routing = Some(RoutingWrite {
            ring: target_ring.map(|r| r.max(case.ring)),
            interpreter_needed: None,
            target_municipality: Some(target.clone()),
            transfer_reason: Some(reason),
        });
        let former_owner = case.owner.clone().filter(|_| case.state.holds_capacity());
        let (case, _) = self.store.transition(&case.id, &event, &write).await?;
        let case = match &target_caseworker {
            Some(c) => self.offer_to(case, c, None).await?,
            None => self.dispatch(case).await?,
        };
        if let Some(owner) = former_owner {
            self.notify("case.updated", &case, Some(&owner), Vec::new());
            self.capacity_freed(&owner).await?;
        }
        Ok(case)
    }
}

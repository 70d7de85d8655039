//! What changes where a case may go after it was routed: the citizen's consent (R8, R9), a
//! home caseworker's harm assessment (R12), and the scheduler's sweep for cross-border cases
//! whose legal ground has ended (an agreement expired). Each rewrites the case's permits; a
//! holder outside home who is no longer permitted loses the case at once, and it goes home.

use serde_json::json;

use super::{CitizenKey, ConsentInput, Context, Error, Result, citizen_actor};
use crate::domain::case::{CaseEvent, CaseState};
use crate::policy::{self, Action};
use crate::store::{
    CaseRecord, CaseWrite, CaseworkerRecord, ConsentRecord, ConsentWrite, HarmWrite, OfferWrite,
    RoutingWrite, StoreError,
};

/// How often a change is retried when the case changed state under it.
const ATTEMPTS: usize = 3;

impl Context {
    /// The citizen gives, narrows or withdraws consent to cross-municipality handling. The
    /// history is kept; a withdrawal takes effect at once (R9).
    pub async fn set_consent(
        &self,
        key: &CitizenKey,
        id: &str,
        input: ConsentInput,
    ) -> Result<Vec<ConsentRecord>> {
        let municipalities = match &input.municipalities {
            Some(list) => Some(
                list.iter()
                    .map(|c| self.member(c).map(|m| m.as_str().to_owned()))
                    .collect::<Result<Vec<_>>>()?,
            ),
            None => None,
        };
        for _ in 0..ATTEMPTS {
            let (case, decision) = self.citizen_case(key, id, Action::Consent).await?;
            let mut changed = case.clone();
            changed.consent_cross_municipality = input.cross_municipality;
            changed.consent_municipalities = municipalities.clone().map(sqlx::types::Json);
            let mut write = CaseWrite::new(
                self.clock.now(),
                self.audit(
                    citizen_actor(key).to_owned(),
                    None,
                    "consent",
                    decision.policies,
                ),
            );
            write.audit.detail = json!({
                "cross_municipality": input.cross_municipality,
                "municipalities": municipalities,
            });
            write.consent = Some(ConsentWrite {
                cross_municipality: input.cross_municipality,
                municipalities: municipalities.clone(),
                actor: citizen_actor(key),
            });
            match self
                .reroute(&case, &changed, write, "consent_changed")
                .await
            {
                Err(Error::Conflict(_)) => continue,
                other => {
                    other?;
                    return Ok(self.store.consents(id).await?);
                }
            }
        }
        Err(Error::Conflict(
            crate::domain::case::TransitionError::InvalidTransition {
                from: CaseState::Queued,
                event: "consent",
            },
        ))
    }

    /// A home caseworker records whether a request with sekretessmarkering may cross a border
    /// (R12); the policies read the latest assessment.
    pub async fn record_harm_assessment(
        &self,
        caseworker: &CaseworkerRecord,
        id: &str,
        cross_border_ok: bool,
        reason: &str,
    ) -> Result<CaseRecord> {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 2_000 {
            return Err(Error::InvalidField("reason"));
        }
        for _ in 0..ATTEMPTS {
            let case = self.store.case(id).await?.ok_or(Error::NotFound)?;
            if !self.may(Action::View, caseworker, &case).allowed {
                return Err(Error::NotFound);
            }
            let decision = self.may(Action::AssessHarm, caseworker, &case);
            if !decision.allowed {
                return Err(Error::Denied(
                    decision.for_caller(&caseworker.municipality, &case.home),
                ));
            }
            if case.state.is_final() {
                return Err(Error::Conflict(
                    crate::domain::case::TransitionError::InvalidTransition {
                        from: case.state,
                        event: "harm_assessment",
                    },
                ));
            }
            let mut changed = case.clone();
            changed.harm_assessment = Some(
                if cross_border_ok {
                    "cross_border_ok"
                } else {
                    "stay_home"
                }
                .to_owned(),
            );
            let mut write = CaseWrite::new(
                self.clock.now(),
                self.caseworker_audit(caseworker, "harm_assessment", decision.policies),
            );
            write.audit.detail = json!({ "cross_border_ok": cross_border_ok });
            write.harm_assessment = Some(HarmWrite {
                caseworker_id: caseworker.id.clone(),
                cross_border_ok,
                reason: reason.to_owned(),
            });
            match self
                .reroute(&case, &changed, write, "harm_assessment")
                .await
            {
                Err(Error::Conflict(_)) => continue,
                other => return other,
            }
        }
        Err(Error::Conflict(
            crate::domain::case::TransitionError::InvalidTransition {
                from: CaseState::Queued,
                event: "harm_assessment",
            },
        ))
    }

    /// Commits `write` with the permits of the case as `changed` describes it. A holder outside
    /// home whom the new permits leave out loses the case (R9): it goes back to ring 0.
    /// `Conflict` if the case changed state meanwhile (the caller starts over).
    async fn reroute(
        &self,
        case: &CaseRecord,
        changed: &CaseRecord,
        mut write: CaseWrite,
        why: &'static str,
    ) -> Result<CaseRecord> {
        if case.state.is_final() {
            // Nothing is routed any more; the change is recorded all the same.
            return Ok(self.store.amend(&case.id, case.state, &write).await?);
        }
        let permits = self.permits_now(changed);
        let holder_outside = case
            .handler
            .as_deref()
            .filter(|h| case.state.holds_capacity() && *h != case.home);
        let revoked = holder_outside.is_some_and(|h| permits.get(h).is_none());
        let target_gone = case
            .target_municipality
            .as_deref()
            .is_some_and(|t| permits.get(t).is_none());
        write.trace = Some(json!({
            "event": why,
            "permitted": permits.permitted,
            "refused": permits.refused,
        }));
        write.permits = Some(permits.permitted);
        if revoked || target_gone {
            write.routing = Some(RoutingWrite {
                ring: revoked.then_some(0),
                target_municipality: Some(None),
                ..RoutingWrite::default()
            });
        }
        if !revoked {
            let updated = self.store.amend(&case.id, case.state, &write).await?;
            // Newly permitted (or no longer permitted) municipalities: route it again, which
            // widens at once past rings with nobody eligible and tells the queues.
            return self.dispatch(updated).await;
        }
        self.revoke(case, write).await
    }

    /// R9: the holder outside home loses the case; it goes back to its home's queue.
    async fn revoke(&self, case: &CaseRecord, mut write: CaseWrite) -> Result<CaseRecord> {
        let former = case.owner.clone();
        if case.state == CaseState::Offered
            && let Some(offer) = self.store.open_offer_of_case(&case.id).await?
        {
            write.offer = Some(OfferWrite::End {
                id: offer.id,
                outcome: "rescinded",
            });
        }
        write.routing = Some(RoutingWrite {
            ring: Some(0),
            target_municipality: Some(None),
            ..write.routing.unwrap_or_default()
        });
        let updated = match self
            .store
            .transition(&case.id, &CaseEvent::AccessRevoked, &write)
            .await
        {
            Ok((updated, _)) => updated,
            Err(StoreError::Transition(t)) => return Err(Error::Conflict(t)),
            Err(e) => return Err(e.into()),
        };
        if let Some(former) = former.as_deref() {
            self.notify("case.updated", &updated, Some(former), Vec::new());
            self.capacity_freed(former).await?;
        }
        self.dispatch(updated).await
    }

    /// The scheduler's sweep: cross-border cases whose holder may no longer see them (an
    /// agreement ended, a new policy version) go home. Runs once per day and policy version
    /// (consent and harm assessments revoke at once, without it). Returns how many went.
    pub(super) async fn sweep_revoked(&self) -> Result<u32> {
        let key = (self.clock.today(), self.policy.active().number);
        if self.marks().swept == Some(key) {
            return Ok(0);
        }
        let mut revoked = 0;
        for case in self.store.cross_border_open().await? {
            let Some(owner) = case.owner.as_deref() else {
                continue;
            };
            let Some(caseworker) = self.store.caseworker(owner).await? else {
                continue;
            };
            let decision = self.may(Action::View, &caseworker, &case);
            if decision.allowed {
                continue;
            }
            let facts = policy::case_facts(&self.federation, &case, self.clock.today());
            let route = self.policy.route(
                &self.federation,
                &facts,
                &caseworker.municipality,
                self.clock.today(),
            );
            let mut write = CaseWrite::new(
                self.clock.now(),
                self.audit(
                    "system:router".into(),
                    None,
                    CaseEvent::AccessRevoked.name(),
                    [decision.policies, route.policies].concat(),
                ),
            );
            let permits = self.permits_now(&case);
            write.trace = Some(json!({
                "event": "access_ended",
                "permitted": permits.permitted,
                "refused": permits.refused,
            }));
            write.permits = Some(permits.permitted);
            match self.revoke(&case, write).await {
                Ok(_) => revoked += 1,
                // Released, closed or moved meanwhile: nothing left to revoke.
                Err(Error::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        // Only a completed sweep counts: after an error the next tick tries again.
        self.marks().swept = Some(key);
        Ok(revoked)
    }
}

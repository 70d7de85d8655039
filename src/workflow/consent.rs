//! What changes where a case may go after it was routed: the citizen's consent (R8, R9), a
//! home caseworker's harm assessment (R12), and the scheduler's sweep for cross-border cases
//! whose legal ground has ended (an agreement expired). Each rewrites the case's permits; a
//! holder outside home who is no longer permitted loses the case at once, and it goes home.

use serde_json::json;

use super::gate::{Changes, Ground, Subject};
use super::{CitizenKey, ConsentInput, Context, Error, Result};
use crate::domain::case::{
    Case, CaseEvent, CaseState, ConsentActor, ConsentEntry, HarmAssessment, OfferOutcome,
    Published, TransitionError,
};
use crate::domain::ids::CaseId;
use crate::domain::people::Caseworker;
use crate::domain::routing::Permits;
use crate::policy::Action;
use crate::store::{ConsentWrite, HarmWrite, OfferWrite, RoutingWrite};

/// How often a change is retried when the case changed state under it.
const ATTEMPTS: usize = 3;

impl Context {
    /// Where the case may be handled now, by the active policies (memoised: cheap).
    pub(super) fn permits_now(&self, case: &Case) -> Permits {
        let today = self.clock.today();
        let federation = self.federation();
        let facts = crate::policy::case_facts(&federation, case, today);
        self.policy.permits(&federation, &facts, today)
    }

    /// The citizen gives, narrows or withdraws consent to cross-municipality handling. The
    /// history is kept; a withdrawal takes effect at once (R9).
    pub async fn set_consent(
        &self,
        key: &CitizenKey,
        id: &str,
        input: ConsentInput,
    ) -> Result<Vec<ConsentEntry>> {
        let consent = self.consent_of(&input)?;
        let id = CaseId::parse(id).map_err(|_| Error::NotFound)?;
        let actor = match key {
            CitizenKey::Citizen(_) => ConsentActor::Citizen,
            CitizenKey::AccessCode { .. } => ConsentActor::Anonymous,
        };
        for _ in 0..ATTEMPTS {
            let proof = self.citizen_gate(key, id.as_str(), Action::Consent).await?;
            let original = proof.case().clone();
            // R8: an identified citizen's consent to "every partner" covers the partners of
            // the day it is given (an anonymous request has nothing identifying to consent
            // about).
            let consent = if original.is_anonymous() {
                consent.clone()
            } else {
                self.resolved(consent.clone(), &original.home, &original.category)
            };
            let changed = Case {
                consent: consent.clone(),
                ..original.clone()
            };
            let changes = Changes {
                detail: Some(json!({
                    "cross_municipality": consent.cross_municipality,
                    "municipalities": consent.municipalities,
                })),
                consent: Some(ConsentWrite {
                    consent: consent.clone(),
                    actor,
                }),
                action: Some("consent"),
                ..Changes::default()
            };
            match self
                .reroute_after(
                    Ground::person(proof),
                    &original,
                    &changed,
                    changes,
                    "consent_changed",
                )
                .await
            {
                Err(Error::Conflict(TransitionError::InvalidTransition { .. })) => continue,
                other => {
                    other?;
                    // The history as its citizen may read it now.
                    let proof = self.citizen_gate(key, id.as_str(), Action::View).await?;
                    return self.consent_history(&proof).await;
                }
            }
        }
        Err(Error::Conflict(TransitionError::InvalidTransition {
            from: CaseState::Queued,
            event: "consent",
        }))
    }

    /// A home caseworker records whether a request with sekretessmarkering may cross a border
    /// (R12); the policies read the latest assessment.
    pub async fn record_harm_assessment(
        &self,
        caseworker: &Caseworker,
        id: &str,
        cross_border_ok: bool,
        reason: &str,
    ) -> Result<Case> {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 2_000 {
            return Err(Error::InvalidField("reason"));
        }
        let id = CaseId::parse(id).map_err(|_| Error::NotFound)?;
        let assessment = HarmAssessment::of(cross_border_ok);
        for _ in 0..ATTEMPTS {
            let subject = Subject::Caseworker(caseworker.clone());
            let proof = self.authorize_id(subject, Action::AssessHarm, &id).await?;
            if proof.case().state.is_final() {
                return Err(Error::Conflict(TransitionError::InvalidTransition {
                    from: proof.case().state,
                    event: "harm_assessment",
                }));
            }
            let original = proof.case().clone();
            let changed = Case {
                harm_assessment: Some(assessment),
                ..original.clone()
            };
            let changes = Changes {
                detail: Some(json!({ "cross_border_ok": cross_border_ok })),
                harm_assessment: Some(HarmWrite {
                    caseworker: caseworker.id.clone(),
                    assessment,
                    reason: reason.to_owned(),
                }),
                action: Some("harm_assessment"),
                ..Changes::default()
            };
            match self
                .reroute_after(
                    Ground::person(proof),
                    &original,
                    &changed,
                    changes,
                    "harm_assessment",
                )
                .await
            {
                Err(Error::Conflict(TransitionError::InvalidTransition { .. })) => continue,
                other => return other,
            }
        }
        Err(Error::Conflict(TransitionError::InvalidTransition {
            from: CaseState::Queued,
            event: "harm_assessment",
        }))
    }

    /// Commits `changes` with the permits of the case as `changed` describes it. A holder
    /// outside home whom the new permits leave out loses the case (R9): it goes back to ring 0.
    /// `Conflict(InvalidTransition)` if the case changed state meanwhile (the caller starts
    /// over).
    pub(super) async fn reroute_after(
        &self,
        ground: Ground,
        original: &Case,
        changed: &Case,
        mut changes: Changes,
        why: &'static str,
    ) -> Result<Case> {
        let what = changes.action.unwrap_or(why);
        if changed.state.is_final() {
            // Nothing is routed any more; the change is recorded all the same.
            return self.amend(ground, changed, changes, what).await;
        }
        let permits = self.permits_now(changed);
        let holder_outside = changed
            .handler
            .as_ref()
            .filter(|h| changed.state.holds_capacity() && **h != changed.home);
        let revoked = holder_outside.is_some_and(|h| permits.get(h.as_str()).is_none());
        let target_gone = changed
            .target_municipality
            .as_ref()
            .is_some_and(|t| permits.get(t.as_str()).is_none());
        changes.trace = Some(json!({
            "event": why,
            "permitted": permits.permitted,
            "refused": permits.refused,
        }));
        changes.permits = Some(permits.permitted);
        if revoked || target_gone {
            changes.routing = Some(RoutingWrite {
                ring: revoked.then_some(0),
                target_municipality: Some(None),
                ..RoutingWrite::default()
            });
        }
        if !revoked {
            let updated = self.amend(ground, changed, changes, what).await?;
            // Newly permitted (or no longer permitted) municipalities: their queues change,
            // and it is routed again, which widens at once past rings with nobody eligible.
            self.publish(original, &updated, &[Published::QueueChanged]);
            return self.dispatch(updated).await;
        }
        self.revoke(ground, changed, changes).await
    }

    /// R9: the holder outside home loses the case; it goes back to its home's queue.
    pub(super) async fn revoke(
        &self,
        ground: Ground,
        case: &Case,
        mut changes: Changes,
    ) -> Result<Case> {
        let former = case.owner.clone();
        if case.state == CaseState::Offered
            && let Some(offer) = self.store.open_offer_of_case(&case.id).await?
        {
            changes.offer = Some(OfferWrite::End {
                id: offer.id,
                outcome: OfferOutcome::Rescinded,
            });
        }
        changes.routing = Some(RoutingWrite {
            ring: Some(0),
            target_municipality: Some(None),
            ..changes.routing.unwrap_or_default()
        });
        let (updated, _) = self
            .commit(ground, &case.id, CaseEvent::AccessRevoked, changes)
            .await?;
        if let Some(former) = former.as_ref() {
            self.capacity_freed(former).await?;
        }
        self.dispatch(updated).await
    }

    /// R11: a citizen's protection is what the population register says at their login; it
    /// is written to each of their open cases, and a case that becomes protected while held
    /// outside home goes home (`access_revoked`) in the same transaction.
    pub(super) async fn protection_from_register(
        &self,
        citizen: &crate::domain::people::Citizen,
    ) -> Result<()> {
        let Some(reference) = citizen.reference() else {
            return Ok(());
        };
        let ids: Vec<CaseId> = self
            .store
            .cases_of_citizen(reference)
            .await?
            .into_iter()
            .filter(|c| !c.state.is_final() && c.protection != citizen.protection)
            .map(|c| c.id)
            .collect();
        for id in ids {
            for _ in 0..ATTEMPTS {
                let Some(case) = self.store.case(&id).await? else {
                    break;
                };
                if case.state.is_final() || case.protection == citizen.protection {
                    break;
                }
                let changed = Case {
                    protection: citizen.protection,
                    ..case.clone()
                };
                let changes = Changes {
                    detail: Some(json!({
                        "protection": citizen.protection.as_str(),
                        "was": case.protection.as_str(),
                    })),
                    protection: Some(citizen.protection),
                    action: Some("protection_changed"),
                    ..Changes::default()
                };
                let ground = Ground::System(self.register_ground());
                match self
                    .reroute_after(ground, &case, &changed, changes, "protection_changed")
                    .await
                {
                    Err(Error::Conflict(TransitionError::InvalidTransition { .. })) => continue,
                    other => {
                        other?;
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// The scheduler's sweep: cross-border cases whose holder may no longer see them (an
    /// agreement ended, a new policy version) go home. Runs once per day, policy version and
    /// federation version
    /// (consent and harm assessments revoke at once, without it). Returns how many went.
    pub(super) async fn sweep_revoked(&self) -> Result<u32> {
        let key = (
            self.clock.today(),
            self.policy.active().number,
            self.federation_versioned().0,
        );
        if self.marks().swept == Some(key) {
            return Ok(0);
        }
        let mut revoked = 0;
        for case in self.store.cross_border_open().await? {
            let Some(owner) = case.owner.as_ref() else {
                continue;
            };
            let Some(caseworker) = self.store.caseworker(owner).await? else {
                continue;
            };
            let decision = self.judge(
                &Subject::Caseworker(caseworker.clone()),
                Action::View,
                &case,
            );
            if decision.allowed {
                continue;
            }
            let federation = self.federation();
            let facts = crate::policy::case_facts(&federation, &case, self.clock.today());
            let route = self.policy.route(
                &federation,
                &facts,
                caseworker.municipality.as_str(),
                self.clock.today(),
            );
            let permits = self.permits_now(&case);
            let changes = Changes {
                trace: Some(json!({
                    "event": "access_ended",
                    "permitted": permits.permitted,
                    "refused": permits.refused,
                })),
                permits: Some(permits.permitted),
                ..Changes::default()
            };
            let ground = self.router_ground([decision.policies, route.policies].concat(), None);
            match self.revoke(Ground::System(ground), &case, changes).await {
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

//! The router at work: choosing among permitted caseworkers, widening rings, offers and their
//! timeouts, matching freed capacity at once, and the scheduler's tick.
//!
//! Everything the scheduler acts on is in the database (rings and when they began, offers and
//! their expiry), so a restart loses nothing and several gateway replicas may tick at once: each
//! change is conditional on the state it was computed from.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::json;

use super::gate::{Changes, Ground, Subject};
use super::{Context, Error, Result, Shown};
use crate::domain::case::{
    Case, CaseEvent, CaseState, Offer, OfferEnd, OfferOutcome, TransitionError,
};
use crate::domain::ids::{CaseworkerId, MunicipalityCode, OfferId};
use crate::domain::people::{Availability, Caseworker};
use crate::domain::routing::Permits;
use crate::policy::{self, Action};
use crate::routing::select::{self, Need, Selection, Staff};
use crate::routing::settings::{Mode, RoutingSettings, fair_share_cap};
use crate::store::{OfferWrite, RoutingWrite};

/// What the router reads once per decision (or once per scheduler tick).
pub(super) struct Snapshot {
    staff: Vec<(Caseworker, u32)>,
    settings: RoutingSettings,
    /// Per category: municipalities at their fair share of cross-border cases today.
    over_fair_share: BTreeMap<String, Vec<MunicipalityCode>>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TickReport {
    pub offers_expired: u32,
    pub widened: u32,
    pub interpreter_flagged: u32,
    pub offers_made: u32,
    /// Cross-border cases sent home because their legal ground ended (R9).
    pub access_revoked: u32,
    /// Open cases whose permits changed on a new day (agreements start and end by date).
    pub permits_refreshed: u32,
    /// Open cases closed as `no_contact` after their inactivity period.
    pub closed_inactive: u32,
    /// Closed cases thinned after their retention period (R17).
    pub thinned: u32,
    /// Expired browser sessions deleted (R17).
    pub sessions_deleted: u64,
}

/// The rules that let a ring's municipalities in: the legal ground of widening to it.
fn ring_grounds(permits: &Permits, ring: i64) -> Vec<String> {
    let mut grounds: Vec<String> = permits
        .in_ring(ring)
        .flat_map(|p| p.policies.iter().cloned())
        .collect();
    grounds.sort();
    grounds.dedup();
    grounds
}

impl Snapshot {
    /// Every caseworker, as the snapshot read them.
    pub(super) fn staff(&self) -> impl Iterator<Item = &Caseworker> {
        self.staff.iter().map(|(c, _)| c)
    }
}

impl Context {
    pub async fn routing_settings(&self) -> Result<RoutingSettings> {
        let stored = self.store.routing_settings().await?;
        Ok(RoutingSettings::new(&self.federation(), &stored))
    }

    /// The start of today: Stockholm midnight (summer time included), for the daily
    /// fair-share count.
    fn start_of_today(&self) -> DateTime<Utc> {
        crate::clock::start_of_local_day(self.clock.today())
    }

    /// Per category with a cap: the municipalities at their fair share of cross-border cases
    /// today.
    async fn fair_share_caps(
        &self,
        settings: &RoutingSettings,
    ) -> Result<BTreeMap<String, Vec<MunicipalityCode>>> {
        let capped_categories: Vec<_> = settings
            .all()
            .filter_map(|r| r.fair_share_per_10k.map(|f| (r.category.clone(), f)))
            .collect();
        let mut over_fair_share = BTreeMap::new();
        if capped_categories.is_empty() {
            return Ok(over_fair_share);
        }
        // (handler, category) → cross-border cases of that category taken today.
        let counts: BTreeMap<(String, String), i64> = self
            .store
            .cross_border_since(self.start_of_today())
            .await?
            .into_iter()
            .map(|(handler, category, n)| ((handler, category), n))
            .collect();
        for (category, per_10k) in capped_categories {
            let capped: Vec<MunicipalityCode> = self
                .federation()
                .municipalities
                .iter()
                .filter(|m| {
                    counts
                        .get(&(m.code.as_str().to_owned(), category.clone()))
                        .copied()
                        .unwrap_or(0)
                        >= fair_share_cap(per_10k, m.population)
                })
                .map(|m| m.code.clone())
                .collect();
            over_fair_share.insert(category, capped);
        }
        Ok(over_fair_share)
    }

    pub(super) async fn snapshot(&self) -> Result<Snapshot> {
        let settings = self.routing_settings().await?;
        let over_fair_share = self.fair_share_caps(&settings).await?;
        Ok(Snapshot {
            staff: self.store.staff().await?,
            settings,
            over_fair_share,
        })
    }

    /// Municipalities at their fair share of cross-border cases of `category` today.
    pub(super) async fn over_fair_share(&self, category: &str) -> Result<Vec<MunicipalityCode>> {
        let settings = self.routing_settings().await?;
        Ok(self
            .fair_share_caps(&settings)
            .await?
            .remove(category)
            .unwrap_or_default())
    }

    pub(super) async fn over_fair_share_all(&self) -> Result<Vec<(String, MunicipalityCode)>> {
        let settings = self.routing_settings().await?;
        Ok(self
            .fair_share_caps(&settings)
            .await?
            .into_iter()
            .flat_map(|(c, ms)| ms.into_iter().map(move |m| (c.clone(), m)))
            .collect())
    }

    /// Selects with the snapshot's staff and today's fair-share caps for the category (any
    /// `over_fair_share` in `need` is replaced).
    pub(super) fn select_in(snapshot: &Snapshot, permits: &Permits, need: &Need<'_>) -> Selection {
        let staff: Vec<Staff<'_>> = snapshot
            .staff
            .iter()
            .map(|(caseworker, open)| Staff {
                caseworker,
                open: *open,
            })
            .collect();
        let need = Need {
            over_fair_share: snapshot
                .over_fair_share
                .get(need.category)
                .map_or(&[], Vec::as_slice),
            ..need.clone()
        };
        select::select(permits, &staff, &need)
    }

    /// The selection for a stored, queued case.
    ///
    /// A caseworker who rejected an offer of the case, or let it lapse, is passed over for one
    /// ring timeout; after that a new round may reach them again, so one "no" can never strand
    /// a request that nobody else may take. `passed_over` adds someone for this decision only
    /// (a caseworker who just released it).
    async fn selection_for(
        &self,
        snapshot: &Snapshot,
        case: &Case,
        passed_over: Option<&CaseworkerId>,
    ) -> Result<(Selection, Permits)> {
        let permits = self.permits_now(case);
        let routing = snapshot.settings.get(case.category.as_str());
        let window = routing
            .ring_timeout(case.ring)
            .or_else(|| routing.ring_timeouts.last().copied())
            .unwrap_or(0);
        let mut declined = self
            .store
            .declined(&case.id, self.clock.now() - Duration::seconds(window))
            .await?;
        declined.extend(passed_over.cloned());
        let previous = match case.personnummer() {
            Some(number) => self.store.previous_caseworker(number).await?,
            None => None,
        };
        let selection = Self::select_in(
            snapshot,
            &permits,
            &Need {
                category: case.category.as_str(),
                language: case.language.as_str(),
                child_concern: case.is_child_concern(),
                interpreter_needed: case.interpreter_needed,
                protected_identity: case.is_protected_identity(),
                ring: case.ring,
                previous_caseworker: previous.as_ref(),
                target_municipality: case.target_municipality.as_ref(),
                declined: &declined,
                over_fair_share: &[],
            },
        );
        Ok((selection, permits))
    }

    /// Routes a queued case: widens at once past rings with nobody eligible, and in push mode
    /// offers it to the best candidate (the next one if an offer cannot be made). Returns the
    /// case as it now stands.
    pub(super) async fn dispatch(&self, case: Case) -> Result<Case> {
        if case.state != CaseState::Queued {
            return Ok(case);
        }
        let snapshot = self.snapshot().await?;
        self.dispatch_in(&snapshot, case, None, None)
            .await
            .map(|(case, _)| case)
    }

    /// As [`Context::dispatch`], but not back to `caseworker` this time (they just released it).
    pub(super) async fn dispatch_passing_over(
        &self,
        case: Case,
        caseworker: &CaseworkerId,
    ) -> Result<Case> {
        if case.state != CaseState::Queued {
            return Ok(case);
        }
        let snapshot = self.snapshot().await?;
        self.dispatch_in(&snapshot, case, None, Some(caseworker))
            .await
            .map(|(case, _)| case)
    }

    pub(super) async fn dispatch_in(
        &self,
        snapshot: &Snapshot,
        mut case: Case,
        selection: Option<Selection>,
        passed_over: Option<&CaseworkerId>,
    ) -> Result<(Case, bool)> {
        let (selection, permits) = match selection {
            Some(s) => (s, self.permits_now(&case)),
            None => self.selection_for(snapshot, &case, passed_over).await?,
        };
        if selection.ring > case.ring {
            let mut trace = selection.trace.clone();
            trace["event"] = json!("widened_at_once");
            let routing = RoutingWrite {
                ring: Some(selection.ring),
                ..RoutingWrite::default()
            };
            let ground = self.router_ground(ring_grounds(&permits, selection.ring), None);
            if self
                .reroute(ground, &case, &routing, &trace, "widen")
                .await?
            {
                case = self.store.case(&case.id).await?.ok_or(Error::NotFound)?;
                self.publish(
                    &case,
                    &case,
                    &[crate::domain::case::Published::QueueChanged],
                );
            }
        }
        // A case that can go nowhere else — aimed at one municipality by a transfer, or a child
        // concern, which never leaves home (R10) — gains nothing from waiting out the rings'
        // time: if nobody who could take it there speaks the language, it needs an interpreter
        // now, or nobody may take it at all ("genast", R10).
        let selection = if (case.target_municipality.is_some() || case.is_child_concern())
            && !case.interpreter_needed
            && !selection.language_available
            && selection.skill_available
        {
            let mut trace = selection.trace.clone();
            trace["event"] = json!("interpreter_needed");
            let routing = RoutingWrite {
                interpreter_needed: Some(true),
                ..RoutingWrite::default()
            };
            let ground = self.router_ground(vec![policy::ROUTER.to_owned()], None);
            if self
                .reroute(ground, &case, &routing, &trace, "interpreter_needed")
                .await?
            {
                case = self.store.case(&case.id).await?.ok_or(Error::NotFound)?;
                self.publish(
                    &case,
                    &case,
                    &[crate::domain::case::Published::QueueChanged],
                );
            }
            self.selection_for(snapshot, &case, passed_over).await?.0
        } else {
            selection
        };
        let mode = snapshot.settings.get(case.category.as_str()).mode;
        if mode == Mode::Pull {
            return Ok((case, false));
        }
        let offer_timeout = snapshot.settings.get(case.category.as_str()).offer_timeout;
        for candidate in &selection.ranked {
            let Some((caseworker, _)) = snapshot
                .staff
                .iter()
                .find(|(c, _)| c.id == candidate.caseworker)
            else {
                continue;
            };
            match self
                .try_offer(&case, caseworker, offer_timeout, Some(&selection.trace))
                .await
            {
                Ok(offered) => return Ok((offered, true)),
                // Someone else's offer or claim won the case: nothing more to do here.
                Err(Error::Conflict(
                    TransitionError::AlreadyOffered
                    | TransitionError::AlreadyClaimed
                    | TransitionError::InvalidTransition { .. },
                )) => {
                    let now = self.store.case(&case.id).await?.ok_or(Error::NotFound)?;
                    return Ok((now, false));
                }
                // Full since the snapshot, or no longer permitted to take it: the next one.
                Err(Error::Conflict(
                    TransitionError::CapacityFull | TransitionError::AccessChanged,
                )) => continue,
                Err(other) => return Err(other),
            }
        }
        Ok((case, false))
    }

    async fn try_offer(
        &self,
        case: &Case,
        caseworker: &Caseworker,
        timeout_secs: i64,
        trace: Option<&serde_json::Value>,
    ) -> Result<Case> {
        let now = self.clock.now();
        let offer_id = OfferId::parse(&self.ids.next_id())
            .map_err(|e| Error::Internal(format!("new offer id: {e}")))?;
        // The ground: the routing permit of the caseworker's municipality, as it stands now;
        // under the lock, whether they may still take it.
        let grounds = self
            .permits_now(case)
            .get(caseworker.municipality.as_str())
            .map(|p| p.policies.clone())
            .unwrap_or_default();
        let ground = self.router_ground(grounds, Some((caseworker.clone(), Action::Claim)));
        let changes = Changes {
            detail: Some(json!({ "caseworker": caseworker.id, "offer_id": offer_id })),
            offer: Some(OfferWrite::Create {
                id: offer_id,
                expires_at: now + Duration::seconds(timeout_secs),
            }),
            trace: trace.map(|t| {
                let mut t = t.clone();
                t["event"] = json!("offer");
                t["chosen"] = json!(caseworker.id);
                t
            }),
            ..Changes::default()
        };
        let (offered, _) = self
            .commit(
                Ground::System(ground),
                &case.id,
                CaseEvent::Offer {
                    caseworker: caseworker.id.clone(),
                },
                changes,
            )
            .await?;
        Ok(offered)
    }

    /// Offers a case straight to one caseworker (a transfer naming them), whatever the mode.
    pub(super) async fn offer_to(
        &self,
        case: Case,
        caseworker: &Caseworker,
        trace: Option<&serde_json::Value>,
    ) -> Result<Case> {
        let timeout = self
            .routing_settings()
            .await?
            .get(case.category.as_str())
            .offer_timeout;
        match self.try_offer(&case, caseworker, timeout, trace).await {
            Ok(case) => Ok(case),
            // Full: the case waits in the target's queue instead.
            Err(Error::Conflict(TransitionError::CapacityFull)) => Ok(case),
            Err(e) => Err(e),
        }
    }

    /// Ends an open offer (rejected by `by`, timed out, or rescinded because the caseworker
    /// went away) and routes the case to the next candidate. `false` if the offer had already
    /// ended.
    pub(super) async fn end_offer(
        &self,
        offer: &Offer,
        why: OfferEnd,
        by: Option<&Caseworker>,
    ) -> Result<bool> {
        let event = CaseEvent::OfferEnded {
            caseworker: offer.caseworker.clone(),
            why,
        };
        let outcome = OfferOutcome::of(why);
        let ground = match by {
            Some(caseworker) => self.offer_answer_ground(caseworker),
            None => self.router_ground(vec![policy::ROUTER.to_owned()], None),
        };
        let changes = Changes {
            detail: Some(json!({ "offer_id": offer.id, "outcome": outcome.as_str() })),
            offer: Some(OfferWrite::End {
                id: offer.id.clone(),
                outcome,
            }),
            ..Changes::default()
        };
        let case = match self
            .commit(Ground::System(ground), &offer.case_id, event, changes)
            .await
        {
            Ok((case, _)) => case,
            Err(Error::Conflict(TransitionError::OfferExpired)) => return Ok(false),
            Err(e) => return Err(e),
        };
        self.dispatch(case).await?;
        Ok(true)
    }

    /// A caseworker has room again: waiting requests they could take are matched at once
    /// (push: offered to the best candidate, who may be them; pull: their queue is told).
    pub(super) async fn capacity_freed(&self, caseworker_id: &CaseworkerId) -> Result<()> {
        let Some(caseworker) = self.store.caseworker(caseworker_id).await? else {
            return Ok(());
        };
        if caseworker.status != Availability::Available {
            return Ok(());
        }
        let load = self.store.load_of(caseworker_id).await?;
        let mut free = i64::from(caseworker.capacity) - i64::from(load);
        let waiting = self
            .store
            .queue(&caseworker.municipality, self.config.queue_limit)
            .await?;
        let settings = self.routing_settings().await?;
        let subject = Subject::Caseworker(caseworker.clone());
        let mut pull_changed = false;
        for case in waiting {
            if free <= 0 {
                break;
            }
            // Only what this caseworker could take: others' waiting work is not theirs to free.
            if !self.judge(&subject, Action::Claim, &case).allowed {
                continue;
            }
            if settings.get(case.category.as_str()).mode == Mode::Push {
                let dispatched = self.dispatch(case).await?;
                if dispatched.owner.as_ref() == Some(caseworker_id) {
                    free -= 1;
                }
            } else {
                pull_changed = true;
                free -= 1;
            }
        }
        if pull_changed {
            self.queue_may_have_work(&caseworker.municipality);
        }
        Ok(())
    }

    /// Open offers of the caseworker, each with its case as far as they may view it now
    /// (metadata only, R8); one audit event names the ids shown.
    pub async fn offers(&self, caseworker: &Caseworker) -> Result<Vec<(Offer, Shown)>> {
        let now = self.clock.now();
        let mut open = Vec::new();
        let mut cases = Vec::new();
        for offer in self.store.open_offers(&caseworker.id).await? {
            if offer.expires_at <= now {
                continue;
            }
            if let Some(case) = self.store.case(&offer.case_id).await? {
                cases.push(case);
                open.push(offer);
            }
        }
        let subject = Subject::Caseworker(caseworker.clone());
        let listed = self
            .list(
                &subject,
                &[Action::View],
                cases,
                "list_offers",
                &caseworker.municipality,
            )
            .await?;
        Ok(listed
            .iter()
            .filter_map(|a| {
                let offer = open.iter().find(|o| o.case_id == a.case().id)?;
                Some((offer.clone(), self.shown(a)))
            })
            .collect())
    }

    /// The caseworker's own offer, or 404: someone else's offer does not exist for them.
    async fn own_offer(&self, caseworker: &Caseworker, offer_id: &str) -> Result<Offer> {
        let id = OfferId::parse(offer_id).map_err(|_| Error::NotFound)?;
        self.store
            .offer(&id)
            .await?
            .filter(|o| o.caseworker == caseworker.id)
            .ok_or(Error::NotFound)
    }

    pub async fn accept_offer(&self, caseworker: &Caseworker, offer_id: &str) -> Result<Shown> {
        self.follow_federation().await?;
        let offer = self.own_offer(caseworker, offer_id).await?;
        let case = self
            .store
            .case(&offer.case_id)
            .await?
            .ok_or(Error::NotFound)?;
        let still_theirs = offer.ended_at.is_none()
            && case.state == CaseState::Offered
            && case.owner.as_ref() == Some(&caseworker.id);
        if !still_theirs {
            // A gone offer is `offer_expired`, whatever else has changed.
            return Err(Error::Conflict(TransitionError::OfferExpired));
        }
        // Re-checked at accept: clearance, skills or the case may have changed since the offer.
        let proof = self.authorize_accept(caseworker.clone(), case).await?;
        let ground = proof.ground().to_vec();
        let changes = Changes {
            detail: Some(json!({ "offer_id": offer.id })),
            offer: Some(OfferWrite::End {
                id: offer.id.clone(),
                outcome: OfferOutcome::Accepted,
            }),
            ..Changes::default()
        };
        let event = CaseEvent::Accept {
            caseworker: caseworker.id.clone(),
        };
        match self
            .commit(Ground::person(proof), &offer.case_id, event, changes)
            .await
        {
            Ok((case, _)) => Ok(Shown {
                identity: case.is_owned_by(&caseworker.id),
                case,
                ground,
            }),
            Err(Error::Conflict(TransitionError::OfferExpired)) => {
                // Too late: if the scheduler has not yet ended it, end it now and move on.
                self.end_offer(&offer, OfferEnd::TimedOut, None).await?;
                Err(Error::Conflict(TransitionError::OfferExpired))
            }
            Err(e) => Err(e),
        }
    }

    pub async fn reject_offer(&self, caseworker: &Caseworker, offer_id: &str) -> Result<()> {
        let offer = self.own_offer(caseworker, offer_id).await?;
        if !offer.is_open_at(self.clock.now()) {
            return Err(Error::Conflict(TransitionError::OfferExpired));
        }
        if !self
            .end_offer(&offer, OfferEnd::Rejected, Some(caseworker))
            .await?
        {
            return Err(Error::Conflict(TransitionError::OfferExpired));
        }
        Ok(())
    }

    /// One pass of the scheduler: expire offers, widen rings whose time is up, flag requests
    /// nobody permitted can take in their language, and offer waiting push-mode requests.
    pub async fn tick(&self) -> Result<TickReport> {
        let mut report = TickReport::default();
        self.follow_active_policies().await?;
        self.follow_federation().await?;
        self.checkpoint_audit().await?;
        report.sessions_deleted = self.sweep_sessions().await?;
        // Ended legal grounds first (the case goes home), then the day's inactivity and
        // retention.
        report.access_revoked = self.sweep_revoked().await?;
        report.permits_refreshed = self.daily_permits().await?;
        (report.closed_inactive, report.thinned) = self.daily_retention().await?;
        let now = self.clock.now();
        for offer in self.store.expired_offers(now).await? {
            if self.end_offer(&offer, OfferEnd::TimedOut, None).await? {
                report.offers_expired += 1;
            }
        }
        let mut snapshot = self.snapshot().await?;
        for case in self.store.queued(self.config.queue_limit.max(1000)).await? {
            let routing = snapshot.settings.get(case.category.as_str());
            let timeout = routing
                .ring_timeout(case.ring)
                .or_else(|| routing.ring_timeouts.last().copied())
                .unwrap_or(i64::MAX);
            let due = now - case.ring_started() >= Duration::seconds(timeout);
            // A pull-mode request whose ring time is not up needs nothing from the scheduler.
            if !due && routing.mode == Mode::Pull {
                continue;
            }
            let (selection, permits) = self.selection_for(&snapshot, &case, None).await?;
            let mut change = RoutingWrite::default();
            let mut event = None;
            // R10: a child concern never widens.
            if due && case.ring < permits.max_ring() && !case.is_child_concern() {
                change.ring = Some(case.ring + 1);
                event = Some("ring_timeout");
            } else if due
                && case.ring >= permits.max_ring()
                && !case.interpreter_needed
                && !selection.language_available
                && selection.skill_available
            {
                change.interpreter_needed = Some(true);
                event = Some("interpreter_needed");
            }
            if let Some(event) = event {
                let mut trace = selection.trace.clone();
                trace["event"] = json!(event);
                let grounds = match change.ring {
                    Some(ring) => ring_grounds(&permits, ring),
                    None => vec![policy::ROUTER.to_owned()],
                };
                let ground = self.router_ground(grounds, None);
                if self.reroute(ground, &case, &change, &trace, event).await? {
                    if change.ring.is_some() {
                        report.widened += 1;
                    } else {
                        report.interpreter_flagged += 1;
                    }
                    let updated = self.store.case(&case.id).await?.ok_or(Error::NotFound)?;
                    self.publish(
                        &case,
                        &updated,
                        &[crate::domain::case::Published::QueueChanged],
                    );
                    if self.dispatch_in(&snapshot, updated, None, None).await?.1 {
                        report.offers_made += 1;
                        snapshot = self.snapshot().await?;
                    }
                    continue;
                }
            }
            if routing.mode == Mode::Push
                && !selection.ranked.is_empty()
                && self
                    .dispatch_in(&snapshot, case, Some(selection), None)
                    .await?
                    .1
            {
                report.offers_made += 1;
                snapshot = self.snapshot().await?;
            }
        }
        Ok(report)
    }
}

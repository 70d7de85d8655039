//! The router at work: choosing among permitted caseworkers, widening rings, offers and their
//! timeouts, matching freed capacity at once, and the scheduler's tick.
//!
//! Everything the scheduler acts on is in the database (rings and when they began, offers and
//! their expiry), so a restart loses nothing and several gateway replicas may tick at once: each
//! change is conditional on the state it was computed from.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveTime, Utc};
use serde::Serialize;
use serde_json::json;

use super::{Context, Error, Result};
use crate::domain::case::{CaseEvent, CaseState, OfferEnd, TransitionError};
use crate::policy::{self, Action};
use crate::routing::permits::Permits;
use crate::routing::select::{self, Need, Selection, Staff};
use crate::routing::settings::{Mode, RoutingSettings, fair_share_cap};
use crate::store::{
    CaseRecord, CaseWrite, CaseworkerRecord, OfferRecord, OfferWrite, RoutingWrite,
};

/// What the router reads once per decision (or once per scheduler tick).
pub(super) struct Snapshot {
    staff: Vec<(CaseworkerRecord, u32)>,
    settings: RoutingSettings,
    /// Per category: municipalities at their fair share of cross-border cases today.
    over_fair_share: BTreeMap<String, Vec<String>>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TickReport {
    pub offers_expired: u32,
    pub widened: u32,
    pub interpreter_flagged: u32,
    pub offers_made: u32,
    /// Cross-border cases sent home because their legal ground ended (R9).
    pub access_revoked: u32,
    /// Open cases closed as `no_contact` after their inactivity period.
    pub closed_inactive: u32,
    /// Closed cases thinned after their retention period (R17).
    pub thinned: u32,
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

impl Context {
    pub async fn routing_settings(&self) -> Result<RoutingSettings> {
        let stored = self.store.routing_settings().await?;
        Ok(RoutingSettings::new(&self.federation, &stored))
    }

    /// The start of today (Stockholm winter time), for the daily fair-share count.
    fn start_of_today(&self) -> DateTime<Utc> {
        let midnight = self.clock.today().and_time(NaiveTime::MIN);
        DateTime::<Utc>::from_naive_utc_and_offset(midnight, Utc) - Duration::hours(1)
    }

    /// Per category with a cap: the municipalities at their fair share of cross-border cases
    /// today.
    async fn fair_share_caps(
        &self,
        settings: &RoutingSettings,
    ) -> Result<BTreeMap<String, Vec<String>>> {
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
            let capped: Vec<String> = self
                .federation
                .municipalities
                .iter()
                .filter(|m| {
                    counts
                        .get(&(m.code.as_str().to_owned(), category.clone()))
                        .copied()
                        .unwrap_or(0)
                        >= fair_share_cap(per_10k, m.population)
                })
                .map(|m| m.code.as_str().to_owned())
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
    pub(super) async fn over_fair_share(&self, category: &str) -> Result<Vec<String>> {
        let settings = self.routing_settings().await?;
        Ok(self
            .fair_share_caps(&settings)
            .await?
            .remove(category)
            .unwrap_or_default())
    }

    pub(super) async fn over_fair_share_all(&self) -> Result<Vec<(String, String)>> {
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
        case: &CaseRecord,
        passed_over: Option<&str>,
    ) -> Result<(Selection, Permits)> {
        let permits = self.permits_now(case);
        let routing = snapshot.settings.get(&case.category);
        let window = routing
            .ring_timeout(case.ring)
            .or_else(|| routing.ring_timeouts.last().copied())
            .unwrap_or(0);
        let mut declined = self
            .store
            .declined(&case.id, self.clock.now() - Duration::seconds(window))
            .await?;
        declined.extend(passed_over.map(str::to_owned));
        let previous = match case.citizen_personnummer.as_deref() {
            Some(number) => self.store.previous_caseworker(number).await?,
            None => None,
        };
        let selection = Self::select_in(
            snapshot,
            &permits,
            &Need {
                category: &case.category,
                language: &case.language,
                child_concern: case.is_child_concern(),
                interpreter_needed: case.interpreter_needed,
                protected_identity: case.is_protected_identity(),
                ring: case.ring,
                previous_caseworker: previous.as_deref(),
                target_municipality: case.target_municipality.as_deref(),
                declined: &declined,
                over_fair_share: &[],
            },
        );
        Ok((selection, permits))
    }

    /// Appends the audit event of a read of `case` (its content, metadata or trace), on the
    /// chain of the case's home (R15).
    pub(super) async fn record_read(
        &self,
        mut event: crate::store::NewAuditEvent,
        case: &CaseRecord,
    ) -> Result<()> {
        event.municipality = case.home.clone();
        event.case_id = Some(case.id.clone());
        self.store.append_audit(&event).await?;
        Ok(())
    }

    /// Tells the queues of every municipality permitted at the case's ring.
    pub(super) async fn notify_queues(&self, case: &CaseRecord) -> Result<()> {
        let municipalities = self
            .permits_now(case)
            .permitted
            .into_iter()
            .filter(|p| p.ring <= case.ring)
            .map(|p| p.municipality)
            .collect();
        self.notify("queue.changed", case, None, municipalities);
        Ok(())
    }

    /// Routes a queued case: widens at once past rings with nobody eligible, and in push mode
    /// offers it to the best candidate (the next one if an offer cannot be made). Returns the
    /// case as it now stands.
    pub(super) async fn dispatch(&self, case: CaseRecord) -> Result<CaseRecord> {
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
        case: CaseRecord,
        caseworker: &str,
    ) -> Result<CaseRecord> {
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
        mut case: CaseRecord,
        selection: Option<Selection>,
        passed_over: Option<&str>,
    ) -> Result<(CaseRecord, bool)> {
        let (selection, permits) = match selection {
            Some(s) => (s, self.permits_now(&case)),
            None => self.selection_for(snapshot, &case, passed_over).await?,
        };
        if selection.ring > case.ring {
            let mut trace = selection.trace.clone();
            trace["event"] = json!("widened_at_once");
            let audit = self.audit(
                "system:router".into(),
                None,
                "widen",
                ring_grounds(&permits, selection.ring),
            );
            let routing = RoutingWrite {
                ring: Some(selection.ring),
                ..RoutingWrite::default()
            };
            if self
                .store
                .update_routing(&case.id, case.ring, &routing, &trace, &audit)
                .await?
            {
                case = self.store.case(&case.id).await?.ok_or(Error::NotFound)?;
            }
        }
        let mode = snapshot.settings.get(&case.category).mode;
        if mode == Mode::Pull {
            self.notify_queues(&case).await?;
            return Ok((case, false));
        }
        let offer_timeout = snapshot.settings.get(&case.category).offer_timeout;
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
                // Full since the snapshot: the next candidate.
                Err(Error::Conflict(TransitionError::CapacityFull)) => continue,
                Err(other) => return Err(other),
            }
        }
        self.notify_queues(&case).await?;
        Ok((case, false))
    }

    async fn try_offer(
        &self,
        case: &CaseRecord,
        caseworker: &CaseworkerRecord,
        timeout_secs: i64,
        trace: Option<&serde_json::Value>,
    ) -> Result<CaseRecord> {
        let now = self.clock.now();
        let offer_id = self.ids.next_id();
        let event = CaseEvent::Offer {
            caseworker: caseworker.id.clone(),
        };
        // The ground: the routing permit of the caseworker's municipality, as it stands now.
        let grounds = self
            .permits_now(case)
            .get(&caseworker.municipality)
            .map(|p| p.policies.clone())
            .unwrap_or_default();
        let mut write = CaseWrite::new(
            now,
            self.audit("system:router".into(), None, event.name(), grounds),
        );
        write.audit.detail = json!({ "caseworker": caseworker.id, "offer_id": offer_id });
        write.offer = Some(OfferWrite::Create {
            id: offer_id,
            expires_at: now + Duration::seconds(timeout_secs),
        });
        write.trace = trace.map(|t| {
            let mut t = t.clone();
            t["event"] = json!("offer");
            t["chosen"] = json!(caseworker.id);
            t
        });
        let (offered, _) = self.store.transition(&case.id, &event, &write).await?;
        self.notify("offer.created", &offered, Some(&caseworker.id), Vec::new());
        self.notify_queues(&offered).await?;
        Ok(offered)
    }

    /// Offers a case straight to one caseworker (a transfer naming them), whatever the mode.
    pub(super) async fn offer_to(
        &self,
        case: CaseRecord,
        caseworker: &CaseworkerRecord,
        trace: Option<&serde_json::Value>,
    ) -> Result<CaseRecord> {
        let timeout = self
            .routing_settings()
            .await?
            .get(&case.category)
            .offer_timeout;
        match self.try_offer(&case, caseworker, timeout, trace).await {
            Ok(case) => Ok(case),
            // Full: the case waits in the target's queue instead.
            Err(Error::Conflict(TransitionError::CapacityFull)) => {
                self.notify_queues(&case).await?;
                Ok(case)
            }
            Err(e) => Err(e),
        }
    }

    /// Ends an open offer (rejected, timed out, or rescinded because the caseworker went away)
    /// and routes the case to the next candidate. `false` if the offer had already ended.
    pub(super) async fn end_offer(&self, offer: &OfferRecord, why: OfferEnd) -> Result<bool> {
        let event = CaseEvent::OfferEnded {
            caseworker: offer.caseworker_id.clone(),
            why,
        };
        let outcome = match why {
            OfferEnd::Rejected => "rejected",
            OfferEnd::TimedOut => "timed_out",
            OfferEnd::CaseworkerAway => "rescinded",
        };
        let mut write = CaseWrite::new(
            self.clock.now(),
            self.audit(
                match why {
                    OfferEnd::Rejected => format!("caseworker:{}", offer.caseworker_id),
                    _ => "system:router".to_owned(),
                },
                None,
                event.name(),
                vec![policy::ROUTER.to_owned()],
            ),
        );
        write.audit.detail = json!({ "offer_id": offer.id, "outcome": outcome });
        write.offer = Some(OfferWrite::End {
            id: offer.id.clone(),
            outcome,
        });
        let case = match self.store.transition(&offer.case_id, &event, &write).await {
            Ok((case, _)) => case,
            Err(crate::store::StoreError::Transition(TransitionError::OfferExpired)) => {
                return Ok(false);
            }
            Err(e) => return Err(e.into()),
        };
        self.notify(
            "offer.expired",
            &case,
            Some(&offer.caseworker_id),
            Vec::new(),
        );
        self.dispatch(case).await?;
        Ok(true)
    }

    /// A caseworker has room again: waiting requests they could take are matched at once
    /// (push: offered to the best candidate, who may be them; pull: their queue is told).
    pub(super) async fn capacity_freed(&self, caseworker_id: &str) -> Result<()> {
        let Some(caseworker) = self.store.caseworker(caseworker_id).await? else {
            return Ok(());
        };
        if caseworker.status != crate::domain::people::Availability::Available {
            return Ok(());
        }
        let load = i64::from(self.store.load_of(caseworker_id).await?);
        let mut free = caseworker.capacity - load;
        let waiting = self
            .store
            .queue(&caseworker.municipality, self.config.queue_limit)
            .await?;
        let settings = self.routing_settings().await?;
        let mut pull_changed = false;
        for case in waiting {
            if free <= 0 {
                break;
            }
            // Only what this caseworker could take: others' waiting work is not theirs to free.
            if !self.may(Action::Claim, &caseworker, &case).allowed {
                continue;
            }
            if settings.get(&case.category).mode == Mode::Push {
                let dispatched = self.dispatch(case).await?;
                if dispatched.owner.as_deref() == Some(caseworker_id) {
                    free -= 1;
                }
            } else {
                pull_changed = true;
                free -= 1;
            }
        }
        if pull_changed {
            let _ = self.notices.send(super::Notice {
                event: "queue.changed",
                case_id: String::new(),
                category: String::new(),
                home: caseworker.municipality.clone(),
                caseworker: None,
                municipalities: vec![caseworker.municipality.clone()],
            });
        }
        Ok(())
    }

    /// Open offers of the caseworker, with their cases.
    pub async fn offers(
        &self,
        caseworker: &CaseworkerRecord,
    ) -> Result<Vec<(OfferRecord, CaseRecord)>> {
        let now = self.clock.now();
        let mut out = Vec::new();
        for offer in self.store.open_offers(&caseworker.id).await? {
            if offer.expires_at <= now {
                continue;
            }
            if let Some(case) = self.store.case(&offer.case_id).await? {
                out.push((offer, case));
            }
        }
        let mut event =
            self.caseworker_audit(caseworker, "list_offers", vec![policy::OWNER.to_owned()]);
        event.municipality = caseworker.municipality.clone();
        event.detail = json!({ "ids": out.iter().map(|(_, c)| c.id.as_str()).collect::<Vec<_>>() });
        self.store.append_audit(&event).await?;
        Ok(out)
    }

    /// The caseworker's own offer, or 404: someone else's offer does not exist for them.
    async fn own_offer(
        &self,
        caseworker: &CaseworkerRecord,
        offer_id: &str,
    ) -> Result<OfferRecord> {
        self.store
            .offer(offer_id)
            .await?
            .filter(|o| o.caseworker_id == caseworker.id)
            .ok_or(Error::NotFound)
    }

    pub async fn accept_offer(
        &self,
        caseworker: &CaseworkerRecord,
        offer_id: &str,
    ) -> Result<CaseRecord> {
        let offer = self.own_offer(caseworker, offer_id).await?;
        // Re-checked at accept: clearance, skills or the case may have changed since the offer.
        let case = self
            .store
            .case(&offer.case_id)
            .await?
            .ok_or(Error::NotFound)?;
        let still_theirs = offer.ended_at.is_none()
            && case.state == CaseState::Offered
            && case.owner.as_deref() == Some(caseworker.id.as_str());
        // Accepting is claiming the reserved case: judged as a claim of it in the queue.
        let reserved = CaseRecord {
            state: CaseState::Queued,
            owner: None,
            ..case.clone()
        };
        let decision = self.may(Action::Claim, caseworker, &reserved);
        // A gone offer is `offer_expired` (below), whatever else has changed.
        if still_theirs && !decision.allowed {
            return Err(Error::NotEligible(
                decision.for_caller(&caseworker.municipality, &case.home),
            ));
        }
        let event = CaseEvent::Accept {
            caseworker: caseworker.id.clone(),
        };
        let mut write = CaseWrite::new(
            self.clock.now(),
            self.caseworker_audit(caseworker, event.name(), decision.policies),
        );
        write.audit.detail = json!({ "offer_id": offer.id });
        write.offer = Some(OfferWrite::End {
            id: offer.id.clone(),
            outcome: "accepted",
        });
        match self.store.transition(&offer.case_id, &event, &write).await {
            Ok((case, _)) => {
                self.notify("case.updated", &case, Some(&caseworker.id), Vec::new());
                Ok(case)
            }
            Err(crate::store::StoreError::Transition(TransitionError::OfferExpired)) => {
                // Too late: if the scheduler has not yet ended it, end it now and move on.
                if offer.ended_at.is_none() {
                    self.end_offer(&offer, OfferEnd::TimedOut).await?;
                }
                Err(Error::Conflict(TransitionError::OfferExpired))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn reject_offer(&self, caseworker: &CaseworkerRecord, offer_id: &str) -> Result<()> {
        let offer = self.own_offer(caseworker, offer_id).await?;
        if offer.ended_at.is_some() || offer.expires_at <= self.clock.now() {
            return Err(Error::Conflict(TransitionError::OfferExpired));
        }
        if !self.end_offer(&offer, OfferEnd::Rejected).await? {
            return Err(Error::Conflict(TransitionError::OfferExpired));
        }
        Ok(())
    }

    /// One pass of the scheduler: expire offers, widen rings whose time is up, flag requests
    /// nobody permitted can take in their language, and offer waiting push-mode requests.
    pub async fn tick(&self) -> Result<TickReport> {
        let mut report = TickReport::default();
        self.follow_active_policies().await?;
        self.checkpoint_audit().await?;
        // Ended legal grounds first (the case goes home), then the day's inactivity and
        // retention.
        report.access_revoked = self.sweep_revoked().await?;
        (report.closed_inactive, report.thinned) = self.daily_retention().await?;
        let now = self.clock.now();
        for offer in self.store.expired_offers(now).await? {
            if self.end_offer(&offer, OfferEnd::TimedOut).await? {
                report.offers_expired += 1;
            }
        }
        let mut snapshot = self.snapshot().await?;
        for case in self.store.queued(self.config.queue_limit.max(1000)).await? {
            let routing = snapshot.settings.get(&case.category);
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
                let audit = self.audit("system:router".into(), None, event, grounds);
                if self
                    .store
                    .update_routing(&case.id, case.ring, &change, &trace, &audit)
                    .await?
                {
                    if change.ring.is_some() {
                        report.widened += 1;
                    } else {
                        report.interpreter_flagged += 1;
                    }
                    let updated = self.store.case(&case.id).await?.ok_or(Error::NotFound)?;
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

//! Candidate selection: who may take a request now, ranked, with a trace of every decision.
//!
//! Bullseye rings: candidates of an inner ring always come before those of an outer one. A
//! request widens to the next ring at once when the rings it has reached hold no eligible
//! candidate; a caseworker who is away, full, or lacks the skill or the language does not hold
//! a ring. Within a ring: continuity (the citizen's previous caseworker), then language match,
//! then lowest occupancy, then longest idle, then id — a total order, so the same inputs always
//! give the same choice.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use super::permits::Permits;
use crate::domain::ids::{CaseworkerId, MunicipalityCode};
use crate::domain::people::Caseworker;

/// A caseworker as the router sees them: who they are and the open cases counted under lock or
/// from the latest snapshot.
#[derive(Clone, Debug)]
pub struct Staff<'a> {
    pub caseworker: &'a Caseworker,
    pub open: u32,
}

impl Staff<'_> {
    fn capacity(&self) -> u32 {
        self.caseworker.capacity
    }

    /// When they last got a case, or became available: the longer ago, the sooner they get one.
    fn idle_since(&self) -> DateTime<Utc> {
        self.caseworker
            .last_assigned_at
            .map_or(self.caseworker.status_since, |t| {
                t.max(self.caseworker.status_since)
            })
    }
}

/// The request's side of the selection.
#[derive(Clone, Debug, Default)]
pub struct Need<'a> {
    pub category: &'a str,
    pub language: &'a str,
    /// R10: capacity never blocks a child concern.
    pub child_concern: bool,
    /// Set once nobody permitted speaks the language (DESIGN.md "Rings").
    pub interpreter_needed: bool,
    /// Protected identity (R11): only caseworkers with clearance.
    pub protected_identity: bool,
    /// The ring reached by waiting (ring timeouts).
    pub ring: i64,
    pub previous_caseworker: Option<&'a CaseworkerId>,
    /// A transfer's target: only this municipality.
    pub target_municipality: Option<&'a MunicipalityCode>,
    /// Caseworkers who rejected or let an offer of this case expire.
    pub declined: &'a [CaseworkerId],
    /// Municipalities that have taken their fair share of cross-border cases today.
    pub over_fair_share: &'a [MunicipalityCode],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Filtered {
    Away,
    NoSkill,
    NoLanguage,
    Declined,
    Full,
    FairShareCap,
    NoClearance,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Ranked {
    pub caseworker: CaseworkerId,
    pub municipality: MunicipalityCode,
    pub ring: i64,
    pub continuity: bool,
    pub speaks_language: bool,
    pub open: u32,
    pub capacity: u32,
    pub idle_since: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub struct Selection {
    /// The ring the request has reached: its waiting ring, widened at once past rings without
    /// an eligible candidate.
    pub ring: i64,
    /// Eligible candidates within that ring, best first.
    pub ranked: Vec<Ranked>,
    /// Whether any permitted caseworker who could take it (skill, clearance; available or not)
    /// speaks the language.
    pub language_available: bool,
    /// Whether any permitted caseworker (available or not) could take it but for the language:
    /// only then can an interpreter help.
    pub skill_available: bool,
    pub trace: serde_json::Value,
}

fn filter(staff: &Staff<'_>, need: &Need<'_>, ring: i64) -> Result<(), Filtered> {
    let c = staff.caseworker;
    if c.status != crate::domain::people::Availability::Available {
        return Err(Filtered::Away);
    }
    if !c.has_skill(need.category) {
        return Err(Filtered::NoSkill);
    }
    if need.protected_identity && !c.protected_identity_clearance {
        return Err(Filtered::NoClearance);
    }
    if !need.interpreter_needed && !c.speaks(need.language) {
        return Err(Filtered::NoLanguage);
    }
    if need.declined.contains(&c.id) {
        return Err(Filtered::Declined);
    }
    if !need.child_concern && staff.open >= staff.capacity() {
        return Err(Filtered::Full);
    }
    if ring > 0 && need.over_fair_share.contains(&c.municipality) {
        return Err(Filtered::FairShareCap);
    }
    Ok(())
}

/// Lower occupancy first: compares open/capacity as fractions; no capacity counts as full.
fn occupancy(a: &Ranked, b: &Ranked) -> Ordering {
    let ratio = |r: &Ranked| (u64::from(r.open), u64::from(r.capacity));
    let ((ao, ac), (bo, bc)) = (ratio(a), ratio(b));
    match (ac, bc) {
        (0, 0) => Ordering::Equal,
        (0, _) => Ordering::Greater,
        (_, 0) => Ordering::Less,
        _ => (ao * bc).cmp(&(bo * ac)),
    }
}

/// The router's total order (see the module documentation).
pub fn compare(a: &Ranked, b: &Ranked) -> Ordering {
    a.ring
        .cmp(&b.ring)
        .then(b.continuity.cmp(&a.continuity))
        .then(b.speaks_language.cmp(&a.speaks_language))
        .then_with(|| occupancy(a, b))
        .then(a.idle_since.cmp(&b.idle_since))
        .then_with(|| a.caseworker.cmp(&b.caseworker))
}

pub fn select(permits: &Permits, staff: &[Staff<'_>], need: &Need<'_>) -> Selection {
    let mut rings = Vec::new();
    let mut eligible: Vec<Ranked> = Vec::new();
    let mut first_eligible_ring: Option<i64> = None;
    let mut language_available = false;
    let mut skill_available = false;
    for ring in 0..=permits.max_ring() {
        let municipalities: Vec<&MunicipalityCode> = permits
            .in_ring(ring)
            .map(|p| &p.municipality)
            .filter(|m| need.target_municipality.is_none_or(|t| t == *m))
            .collect();
        let mut in_ring = Vec::new();
        let mut filtered = Vec::new();
        for s in staff
            .iter()
            .filter(|s| municipalities.contains(&&s.caseworker.municipality))
        {
            // Only someone who could take it counts as offering the language: a speaker
            // without the skill does not spare the request an interpreter.
            let could_take = s.caseworker.has_skill(need.category)
                && (!need.protected_identity || s.caseworker.protected_identity_clearance);
            skill_available |= could_take;
            language_available |= could_take && s.caseworker.speaks(need.language);
            match filter(s, need, ring) {
                Ok(()) => in_ring.push(Ranked {
                    caseworker: s.caseworker.id.clone(),
                    municipality: s.caseworker.municipality.clone(),
                    ring,
                    continuity: need.previous_caseworker == Some(&s.caseworker.id),
                    speaks_language: s.caseworker.speaks(need.language),
                    open: s.open,
                    capacity: s.capacity(),
                    idle_since: s.idle_since(),
                }),
                Err(why) => filtered.push(json!({ "caseworker": s.caseworker.id, "reason": why })),
            }
        }
        in_ring.sort_by(compare);
        if first_eligible_ring.is_none() && !in_ring.is_empty() {
            first_eligible_ring = Some(ring);
        }
        rings.push(json!({
            "ring": ring,
            "municipalities": municipalities,
            "eligible": in_ring.iter().map(|r| r.caseworker.as_str()).collect::<Vec<_>>(),
            "filtered": filtered,
        }));
        eligible.extend(in_ring);
    }
    let ring = match first_eligible_ring {
        Some(r) => r.max(need.ring),
        // Nobody anywhere: open every permitted ring, so whoever frees up first can take it.
        None => permits.max_ring().max(need.ring),
    }
    .min(permits.max_ring());
    eligible.retain(|r| r.ring <= ring);
    eligible.sort_by(compare);
    let trace = json!({
        "router": "rings",
        // What the request asked for, so that a reader of the trace can say it in words.
        "category": need.category,
        "language": need.language,
        "waiting_ring": need.ring,
        "ring": ring,
        "widened_at_once": ring > need.ring,
        "target_municipality": need.target_municipality,
        "interpreter_needed": need.interpreter_needed,
        "rings": rings,
        "ranked": eligible.iter().take(10).collect::<Vec<_>>(),
        "refused": permits.refused,
    });
    Selection {
        ring,
        ranked: eligible,
        language_available,
        skill_available,
        trace,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::Language;
    use crate::domain::people::Availability;
    use crate::routing::permits::Permit;
    use proptest::prelude::*;

    fn cw(
        id: &str,
        municipality: &str,
        languages: &[&str],
        capacity: u32,
        idle_minutes: i64,
    ) -> Caseworker {
        let base = Caseworker::fixture(id, municipality);
        Caseworker {
            languages: languages
                .iter()
                .map(|l| Language::parse(l).expect("language"))
                .collect(),
            max_capacity: capacity,
            capacity,
            status_since: base.status_since - chrono::Duration::minutes(idle_minutes),
            ..base
        }
    }

    fn permits(rings: &[(&str, i64)]) -> Permits {
        Permits {
            permitted: rings
                .iter()
                .map(|(m, r)| Permit {
                    municipality: MunicipalityCode::parse(m).expect("code"),
                    ring: *r,
                    policies: vec![],
                })
                .collect(),
            refused: vec![],
        }
    }

    fn need<'a>() -> Need<'a> {
        Need {
            category: "ekonomi",
            language: "sv",
            ..Need::default()
        }
    }

    #[test]
    fn inner_ring_first_and_widening_only_when_it_is_empty() {
        let p = permits(&[("1275", 0), ("1283", 1)]);
        let home = cw("home", "1275", &["sv"], 5, 0);
        let partner = cw("partner", "1283", &["sv"], 5, 600);
        let staff = [
            Staff {
                caseworker: &home,
                open: 4,
            },
            Staff {
                caseworker: &partner,
                open: 0,
            },
        ];
        let s = select(&p, &staff, &need());
        assert_eq!(s.ring, 0, "an eligible home caseworker holds ring 0");
        assert_eq!(
            s.ranked
                .iter()
                .map(|r| r.caseworker.as_str())
                .collect::<Vec<_>>(),
            vec!["home"]
        );
        let full = [
            Staff {
                caseworker: &home,
                open: 5,
            },
            Staff {
                caseworker: &partner,
                open: 0,
            },
        ];
        let s = select(&p, &full, &need());
        assert_eq!(s.ring, 1, "a full ring widens at once");
        assert_eq!(s.ranked[0].caseworker.as_str(), "partner");
        assert_eq!(s.trace["widened_at_once"], true);
        assert_eq!(s.trace["rings"][0]["filtered"][0]["reason"], "full");
    }

    #[test]
    fn nobody_anywhere_opens_every_ring() {
        let p = permits(&[("1275", 0), ("1283", 1), ("1260", 2)]);
        let s = select(&p, &[], &need());
        assert_eq!((s.ring, s.ranked.len()), (2, 0));
    }

    #[test]
    fn language_and_interpreter() {
        let p = permits(&[("1275", 0)]);
        let swede = cw("sv", "1275", &["sv"], 5, 0);
        let staff = [Staff {
            caseworker: &swede,
            open: 0,
        }];
        let arabic = Need {
            language: "ar",
            ..need()
        };
        let s = select(&p, &staff, &arabic);
        assert!(s.ranked.is_empty() && !s.language_available);
        let s = select(
            &p,
            &staff,
            &Need {
                interpreter_needed: true,
                ..arabic
            },
        );
        assert_eq!(s.ranked.len(), 1);
        assert!(!s.ranked[0].speaks_language);
    }

    #[test]
    fn protected_identity_needs_clearance_and_language_needs_skill() {
        let p = permits(&[("1275", 0)]);
        let plain = cw("plain", "1275", &["sv", "fa"], 5, 0);
        let mut cleared = cw("cleared", "1275", &["sv"], 5, 0);
        cleared.protected_identity_clearance = true;
        let staff = [
            Staff {
                caseworker: &plain,
                open: 0,
            },
            Staff {
                caseworker: &cleared,
                open: 0,
            },
        ];
        let s = select(
            &p,
            &staff,
            &Need {
                protected_identity: true,
                ..need()
            },
        );
        assert_eq!(
            s.ranked
                .iter()
                .map(|r| r.caseworker.as_str())
                .collect::<Vec<_>>(),
            vec!["cleared"]
        );
        assert_eq!(s.trace["rings"][0]["filtered"][0]["reason"], "no_clearance");
        // A Persian speaker without the category's skill does not count.
        let mut unskilled = cw("unskilled", "1275", &["sv", "fa"], 5, 0);
        unskilled.skills = vec![crate::domain::ids::CategoryId::parse("aldre").expect("category")];
        let staff = [Staff {
            caseworker: &unskilled,
            open: 0,
        }];
        let s = select(
            &p,
            &staff,
            &Need {
                language: "fa",
                ..need()
            },
        );
        assert!(!s.language_available);
    }

    #[test]
    fn child_concern_ignores_capacity_and_fair_share_only_outside_home() {
        let p = permits(&[("1275", 0), ("1283", 1)]);
        let home = cw("home", "1275", &["sv"], 1, 0);
        let staff = [Staff {
            caseworker: &home,
            open: 1,
        }];
        let s = select(
            &p,
            &staff,
            &Need {
                child_concern: true,
                ..need()
            },
        );
        assert_eq!(s.ranked.len(), 1);
        let partner = cw("p", "1283", &["sv"], 5, 0);
        let staff = [Staff {
            caseworker: &partner,
            open: 0,
        }];
        let capped = vec![MunicipalityCode::parse("1283").expect("code")];
        let s = select(
            &p,
            &staff,
            &Need {
                over_fair_share: &capped,
                ..need()
            },
        );
        assert!(s.ranked.is_empty());
        assert_eq!(
            s.trace["rings"][1]["filtered"][0]["reason"],
            "fair_share_cap"
        );
    }

    fn any_staff() -> impl Strategy<Value = Vec<(String, usize, bool, u32, u32, i64, bool)>> {
        prop::collection::vec(
            (
                "[a-f]{1,2}",
                0usize..3,
                any::<bool>(),
                0u32..4,
                0u32..5,
                0i64..100,
                any::<bool>(),
            ),
            0..12,
        )
    }

    proptest! {
        /// Selection is a function of its inputs: the order staff are listed in does not matter,
        /// and nobody ineligible is ever chosen.
        #[test]
        fn deterministic_and_sound(raw in any_staff(), previous in prop::option::of("[a-f]{1,2}"), ring in 0i64..3) {
            let municipalities = ["1275", "1283", "1260"];
            let p = permits(&[("1275", 0), ("1283", 1), ("1260", 2)]);
            let mut seen = std::collections::BTreeSet::new();
            let records: Vec<(Caseworker, u32)> = raw
                .iter()
                .filter(|r| seen.insert(r.0.clone()))
                .map(|(id, m, arabic, cap, open, idle, away)| {
                    let mut c = cw(id, municipalities[*m], if *arabic { &["sv", "ar"] } else { &["sv"] }, *cap, *idle);
                    if *away { c.status = Availability::Away; }
                    (c, *open)
                })
                .collect();
            let staff: Vec<Staff> = records.iter().map(|(c, open)| Staff { caseworker: c, open: *open }).collect();
            let mut reversed = staff.clone();
            reversed.reverse();
            let previous = previous.map(|p| CaseworkerId::parse(&p).expect("id"));
            let n = Need { ring, previous_caseworker: previous.as_ref(), ..need() };
            let a = select(&p, &staff, &n);
            let b = select(&p, &reversed, &n);
            prop_assert_eq!(&a.ranked, &b.ranked);
            prop_assert_eq!(a.ring, b.ring);
            prop_assert!(a.ring >= ring.min(2));
            for r in &a.ranked {
                prop_assert!(r.open < r.capacity, "never over capacity");
                prop_assert!(r.ring <= a.ring);
                let (rec, _) = records.iter().find(|(c, _)| c.id == r.caseworker).expect("known");
                prop_assert_eq!(rec.status, Availability::Available);
            }
            for pair in a.ranked.windows(2) {
                prop_assert_ne!(compare(&pair[0], &pair[1]), Ordering::Greater);
                prop_assert!(pair[0].ring <= pair[1].ring, "bullseye: inner rings first");
            }
            // Continuity wins within the innermost eligible ring.
            if let Some(prev) = previous.as_ref()
                && let Some(pos) = a.ranked.iter().position(|r| r.caseworker == *prev)
            {
                let ring_of_prev = a.ranked[pos].ring;
                prop_assert!(a.ranked[..pos].iter().all(|r| r.ring < ring_of_prev));
            }
        }
    }
}

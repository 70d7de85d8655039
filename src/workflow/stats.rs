//! Live queue figures (API.md `GET /api/v1/admin/stats`): how many cases wait, how urgent and
//! for how long, and how much room the caseworkers have, per municipality. Counts only: no
//! case id, no person, no text leaves this module, so reading them needs no legal ground for
//! a case and is not an access to one (docs/DECISIONS.md "Live queue figures").

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Context, Result};
use crate::domain::Administrator;
use crate::domain::case::{Case, CaseState};
use crate::domain::people::{Availability, Caseworker};

/// The figures of one municipality, or their totals.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct QueueFigures {
    /// Cases whose home is the municipality that no caseworker has taken yet: in the queue or
    /// offered to someone who has not answered.
    pub waiting: u32,
    /// Of those, offered to a caseworker right now.
    pub offered: u32,
    /// Of those, urgent.
    pub urgent: u32,
    /// Of those, concerns about a child (R10).
    pub child_concerns: u32,
    /// When the longest-waiting of them entered the queue.
    pub oldest_waiting_since: Option<DateTime<Utc>>,
    /// How long it has waited, in seconds.
    pub oldest_waiting_seconds: Option<i64>,
    /// Cases whose home is the municipality that a caseworker has taken (assigned or waiting
    /// for the citizen).
    pub with_caseworker: u32,
    /// Of those, taken by a caseworker of another municipality.
    pub handled_elsewhere: u32,
    /// The municipality's own active caseworkers, available now.
    pub caseworkers_available: u32,
    /// … and away.
    pub caseworkers_away: u32,
    /// The working capacity of the available caseworkers, summed.
    pub capacity: u32,
    /// Cases the municipality's caseworkers hold (offered, assigned or waiting for the citizen),
    /// whatever their home.
    pub held: u32,
    /// Room left: for each available caseworker, capacity minus what they hold (never below
    /// zero), summed.
    pub free_capacity: u32,
}

/// One municipality's figures, with its code and name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MunicipalityFigures {
    pub municipality: String,
    pub name: String,
    #[serde(flatten)]
    pub figures: QueueFigures,
}

/// The answer of `GET /api/v1/admin/stats`: every municipality the administrator administers
/// (a federation administrator: every member, in the federation file's order), and the totals
/// of those rows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LiveFigures {
    pub at: DateTime<Utc>,
    pub municipalities: Vec<MunicipalityFigures>,
    pub totals: QueueFigures,
}

impl QueueFigures {
    fn add_case(&mut self, case: &Case, now: DateTime<Utc>) {
        match case.state {
            CaseState::Queued | CaseState::Offered => {
                self.waiting += 1;
                self.offered += u32::from(case.state == CaseState::Offered);
                self.urgent += u32::from(case.urgent);
                self.child_concerns += u32::from(case.is_child_concern());
                self.wait_since(case.queued_since, now);
            }
            CaseState::Assigned | CaseState::WaitingCitizen => {
                self.with_caseworker += 1;
                let elsewhere = case.handler.as_ref().is_some_and(|h| *h != case.home);
                self.handled_elsewhere += u32::from(elsewhere);
            }
            CaseState::Closed | CaseState::Cancelled => {}
        }
    }

    fn wait_since(&mut self, since: DateTime<Utc>, now: DateTime<Utc>) {
        if self
            .oldest_waiting_since
            .is_none_or(|oldest| since < oldest)
        {
            self.oldest_waiting_since = Some(since);
            self.oldest_waiting_seconds = Some((now - since).num_seconds().max(0));
        }
    }

    fn add_caseworker(&mut self, caseworker: &Caseworker, held: u32) {
        self.held += held;
        match caseworker.status {
            Availability::Available => {
                self.caseworkers_available += 1;
                self.capacity += caseworker.capacity;
                self.free_capacity += caseworker.capacity.saturating_sub(held);
            }
            Availability::Away => self.caseworkers_away += 1,
        }
    }

    fn add(&mut self, other: &QueueFigures, now: DateTime<Utc>) {
        self.waiting += other.waiting;
        self.offered += other.offered;
        self.urgent += other.urgent;
        self.child_concerns += other.child_concerns;
        if let Some(since) = other.oldest_waiting_since {
            self.wait_since(since, now);
        }
        self.with_caseworker += other.with_caseworker;
        self.handled_elsewhere += other.handled_elsewhere;
        self.caseworkers_available += other.caseworkers_available;
        self.caseworkers_away += other.caseworkers_away;
        self.capacity += other.capacity;
        self.held += other.held;
        self.free_capacity += other.free_capacity;
    }
}

/// Counts `cases` and `staff` per municipality of `municipalities` (code, name), in that order;
/// cases and caseworkers of other municipalities are left out.
pub fn figures(
    municipalities: &[(String, String)],
    cases: &[Case],
    staff: &[(Caseworker, u32)],
    now: DateTime<Utc>,
) -> LiveFigures {
    let mut rows: Vec<MunicipalityFigures> = municipalities
        .iter()
        .map(|(code, name)| MunicipalityFigures {
            municipality: code.clone(),
            name: name.clone(),
            figures: QueueFigures::default(),
        })
        .collect();
    let row = |rows: &mut Vec<MunicipalityFigures>, code: &str| {
        rows.iter().position(|r| r.municipality == code)
    };
    for case in cases {
        if let Some(i) = row(&mut rows, case.home.as_str()) {
            rows[i].figures.add_case(case, now);
        }
    }
    for (caseworker, held) in staff {
        if let Some(i) = row(&mut rows, caseworker.municipality.as_str()) {
            rows[i].figures.add_caseworker(caseworker, *held);
        }
    }
    let mut totals = QueueFigures::default();
    for r in &rows {
        totals.add(&r.figures, now);
    }
    LiveFigures {
        at: now,
        municipalities: rows,
        totals,
    }
}

impl Context {
    /// The live queue figures of what `admin` administers: their own municipality, or every
    /// member for a federation administrator. Decided by the policies as any administrative
    /// reading is (`administer` on their scope, without changing anything, so an integration
    /// token with `stats:read` may read them too); counts only, so the reading is not an
    /// access to any case and is not audited as one.
    pub async fn live_figures(&self, admin: &Administrator) -> Result<LiveFigures> {
        self.authorize_admin_reading(admin, admin.municipality.as_ref())
            .await?;
        let federation = self.federation();
        let municipalities: Vec<(String, String)> = federation
            .municipalities
            .iter()
            .filter(|m| admin.municipality.as_ref().is_none_or(|own| *own == m.code))
            .map(|m| (m.code.as_str().to_owned(), m.name.clone()))
            .collect();
        let cases = self.store.open_cases().await?;
        let staff = self.store.staff().await?;
        Ok(figures(&municipalities, &cases, &staff, self.clock.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{CaseworkerId, CategoryId, MunicipalityCode};

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap_or_default()
    }

    fn caseworker(id: &str, capacity: u32, status: Availability) -> Caseworker {
        let municipality = MunicipalityCode::parse(&id[..4]).expect("code");
        Caseworker {
            id: CaseworkerId::parse(id).expect("id"),
            municipality,
            name: format!("Handläggare {id}"),
            skills: Vec::new(),
            languages: Vec::new(),
            max_capacity: capacity,
            capacity,
            status,
            protected_identity_clearance: false,
            supervisor: false,
            status_since: at(0),
            last_assigned_at: None,
        }
    }

    #[test]
    fn cases_count_by_home_and_staff_by_their_municipality() {
        let members = vec![
            ("1275".to_owned(), "Perstorp".to_owned()),
            ("1283".to_owned(), "Helsingborg".to_owned()),
        ];
        let mut old = Case::fixture("1275");
        old.queued_since = at(-600);
        let mut urgent = Case::fixture("1275");
        urgent.urgent = true;
        urgent.state = CaseState::Offered;
        let mut child = Case::fixture("1275");
        child.category = CategoryId::parse("oro_barn").expect("category");
        let mut abroad = Case::fixture("1275");
        abroad.state = CaseState::Assigned;
        abroad.handler = MunicipalityCode::parse("1283").ok();
        let mut closed = Case::fixture("1283");
        closed.state = CaseState::Closed;
        // Not a member shown: left out of every row and the totals.
        let outside = Case::fixture("1214");
        let staff = vec![
            (caseworker("1275-01", 5, Availability::Available), 1),
            (caseworker("1275-02", 3, Availability::Away), 0),
            (caseworker("1283-01", 2, Availability::Available), 3),
        ];
        let cases = [old, urgent, child, abroad, closed, outside];
        let f = figures(&members, &cases, &staff, at(0));
        let perstorp = &f.municipalities[0].figures;
        assert_eq!(f.municipalities[0].name, "Perstorp");
        assert_eq!(
            (perstorp.waiting, perstorp.offered, perstorp.urgent),
            (3, 1, 1)
        );
        assert_eq!(perstorp.child_concerns, 1);
        assert_eq!(perstorp.oldest_waiting_since, Some(at(-600)));
        assert_eq!(perstorp.oldest_waiting_seconds, Some(600));
        assert_eq!(
            (perstorp.with_caseworker, perstorp.handled_elsewhere),
            (1, 1)
        );
        assert_eq!(
            (perstorp.caseworkers_available, perstorp.caseworkers_away),
            (1, 1)
        );
        assert_eq!(
            (perstorp.capacity, perstorp.held, perstorp.free_capacity),
            (5, 1, 4)
        );
        let helsingborg = &f.municipalities[1].figures;
        assert_eq!(helsingborg.waiting, 0);
        assert_eq!(helsingborg.oldest_waiting_since, None);
        // More held than the capacity is no negative room.
        assert_eq!(
            (
                helsingborg.capacity,
                helsingborg.held,
                helsingborg.free_capacity
            ),
            (2, 3, 0)
        );
        assert_eq!(f.totals.waiting, 3);
        assert_eq!(f.totals.held, 4);
        assert_eq!(f.totals.free_capacity, 4);
        assert_eq!(f.totals.oldest_waiting_seconds, Some(600));
        let json = serde_json::to_value(&f).expect("json");
        assert_eq!(json["municipalities"][0]["municipality"], "1275");
        assert_eq!(
            json["municipalities"][0]["waiting"], 3,
            "figures are flattened"
        );
    }
}

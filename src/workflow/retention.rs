//! Retention (R17): closed cases are thinned once their period has passed; a dry run lists
//! what would go. The audit trail is kept, and the thinning itself is audited.

use crate::domain::Administrator;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use super::gate::{Changes, Ground};
use super::{Context, Error, Result};
use crate::domain::case::{Case, CaseEvent, Outcome};
use crate::domain::ids::{CaseId, MunicipalityCode};
use crate::domain::retention::RetentionFacts;
use crate::policy::Action;

/// The rule id retention records as its ground.
pub const RETENTION: &str = "R17-retention";
/// The ground of closing a case nobody has touched for `inactive_close_days`.
pub const INACTIVITY: &str = "inactivity-no-contact";

#[derive(Clone, Debug, Serialize)]
pub struct RetentionItem {
    pub case_id: CaseId,
    pub category: String,
    pub home: MunicipalityCode,
    pub last_entry: DateTime<Utc>,
    pub due: DateTime<Utc>,
    /// `false` in a dry run.
    pub thinned: bool,
}

impl Context {
    fn retention_due(&self, case: &Case) -> DateTime<Utc> {
        // Ages and birth dates are Stockholm calendar dates; a birth counts from that day's
        // Stockholm midnight.
        let created = crate::clock::local_date(case.created_at);
        let minor_born_at = case
            .personnummer()
            .filter(|p| p.age_on(created) < 18)
            .map(|p| crate::clock::start_of_local_day(p.birth_date()));
        self.config.retention.due(&RetentionFacts {
            category: case.category.as_str(),
            child_concern: case.is_child_concern(),
            created_at: case.created_at,
            last_entry: case
                .updated_at
                .max(case.closed_at.unwrap_or(case.updated_at)),
            minor_born_at,
            today: self.clock.today(),
        })
    }

    /// Runs retention now for a federation administrator (or lists what it would thin).
    pub async fn retention_by(
        &self,
        admin: &Administrator,
        dry_run: bool,
    ) -> Result<Vec<RetentionItem>> {
        let proof = self
            .authorize_admin(admin, Action::Administer, None)
            .await?;
        let items = self.retention(dry_run).await?;
        // A dry run reads which cases are due; it is recorded like any reading.
        self.record_admin(
            &proof,
            if dry_run {
                "retention_dry_run"
            } else {
                "retention_run"
            },
            json!({ "cases": items.iter().map(|i| i.case_id.as_str()).collect::<Vec<_>>() }),
        )
        .await?;
        Ok(items)
    }

    /// Thins every closed case whose retention period has passed (or, in a dry run, lists
    /// them without changing anything).
    pub async fn retention(&self, dry_run: bool) -> Result<Vec<RetentionItem>> {
        let now = self.clock.now();
        let mut items = Vec::new();
        for case in self.store.retention_candidates().await? {
            let due = self.retention_due(&case);
            if due > now {
                continue;
            }
            let mut thinned = false;
            if !dry_run {
                let ground = self.retention_ground(vec![RETENTION.to_owned()]);
                thinned = self
                    .thin(
                        ground,
                        &case,
                        json!({ "due": due, "category": case.category.as_str() }),
                    )
                    .await?;
            }
            items.push(RetentionItem {
                case_id: case.id.clone(),
                category: case.category.as_str().to_owned(),
                home: case.home.clone(),
                last_entry: case.updated_at,
                due,
                thinned,
            });
        }
        Ok(items)
    }

    /// Closes open cases without activity for `inactive_close_days` as `no_contact`; a child
    /// concern is never closed this way (R10). Returns how many were closed.
    pub async fn close_inactive(&self) -> Result<u32> {
        let days = self.config.inactive_close_days;
        if days == 0 {
            return Ok(0);
        }
        let now = self.clock.now();
        let mut closed = 0;
        for case in self
            .store
            .inactive_cases(now - chrono::Duration::days(i64::from(days)))
            .await?
        {
            if case.is_child_concern() {
                continue;
            }
            let ground = self.retention_ground(vec![INACTIVITY.to_owned()]);
            let changes = Changes {
                outcome: Some(Outcome::NoContact),
                detail: Some(json!({ "last_activity": case.updated_at, "days": days })),
                ..Changes::default()
            };
            let holder = case.owner.clone().filter(|_| case.state.is_owned());
            match self
                .commit(
                    Ground::System(ground),
                    &case.id,
                    CaseEvent::CloseInactive,
                    changes,
                )
                .await
            {
                Ok(_) => {
                    closed += 1;
                    if let Some(owner) = holder.as_ref() {
                        self.capacity_freed(owner).await?;
                    }
                }
                // Someone acted on it meanwhile: it is not inactive any more.
                Err(Error::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(closed)
    }

    /// Once a day, from the scheduler's tick: inactive cases closed, then retention.
    pub(super) async fn daily_retention(&self) -> Result<(u32, u32)> {
        let today = self.clock.today();
        if self.marks().retained == Some(today) {
            return Ok((0, 0));
        }
        let closed = self.close_inactive().await?;
        let done = self.retention(false).await?;
        self.marks().retained = Some(today);
        let thinned = u32::try_from(done.iter().filter(|i| i.thinned).count()).unwrap_or(u32::MAX);
        Ok((closed, thinned))
    }
}

//! Retention (R17): closed cases are thinned once their period has passed; a dry run lists
//! what would go. The audit trail is kept, and the thinning itself is audited.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use super::{Context, Result};
use crate::domain::case::{CaseEvent, Outcome};
use crate::domain::personnummer::Personnummer;
use crate::domain::retention::RetentionFacts;
use crate::store::CaseRecord;
use crate::store::CaseWrite;

/// The rule id retention records as its ground.
pub const RETENTION: &str = "R17-retention";
/// The ground of closing a case nobody has touched for `inactive_close_days`.
pub const INACTIVITY: &str = "inactivity-no-contact";

#[derive(Clone, Debug, Serialize)]
pub struct RetentionItem {
    pub case_id: String,
    pub category: String,
    pub home: String,
    pub last_entry: DateTime<Utc>,
    pub due: DateTime<Utc>,
    /// `false` in a dry run.
    pub thinned: bool,
}

impl Context {
    fn retention_due(&self, case: &CaseRecord) -> DateTime<Utc> {
        let created = case.created_at.date_naive();
        let minor_birth_date = case
            .citizen_personnummer
            .as_deref()
            .and_then(|p| Personnummer::parse(p, created).ok())
            .filter(|p| p.age_on(created) < 18)
            .map(|p| p.birth_date());
        self.config.retention.due(&RetentionFacts {
            category: &case.category,
            child_concern: case.is_child_concern(),
            created_at: case.created_at,
            last_entry: case
                .updated_at
                .max(case.closed_at.unwrap_or(case.updated_at)),
            minor_birth_date,
        })
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
                let mut event = self.audit(
                    "system:retention".into(),
                    None,
                    "thinned",
                    vec![RETENTION.to_owned()],
                );
                event.detail = json!({ "due": due, "category": case.category });
                thinned = self.store.thin_case(&case.id, &event).await?;
            }
            items.push(RetentionItem {
                case_id: case.id.clone(),
                category: case.category.clone(),
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
            let event = CaseEvent::CloseInactive;
            let mut write = CaseWrite::new(
                now,
                self.audit(
                    "system:retention".into(),
                    None,
                    event.name(),
                    vec![INACTIVITY.to_owned()],
                ),
            );
            write.outcome = Some(Outcome::NoContact);
            write.audit.detail = json!({ "last_activity": case.updated_at, "days": days });
            let holder = case.owner.clone().filter(|_| case.state.is_owned());
            match self.store.transition(&case.id, &event, &write).await {
                Ok((closed_case, _)) => {
                    closed += 1;
                    if let Some(owner) = holder.as_deref() {
                        self.notify("case.updated", &closed_case, Some(owner), Vec::new());
                        self.capacity_freed(owner).await?;
                    } else {
                        self.notify_queues(&closed_case).await?;
                    }
                }
                // Someone acted on it meanwhile: it is not inactive any more.
                Err(crate::store::StoreError::Transition(_)) => {}
                Err(e) => return Err(e.into()),
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

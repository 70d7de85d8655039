//! The audit trail's follow-up: verifying every chain, checkpoints of the chain heads, the
//! administrators' reading of the trail, and the report of unusual access (R15).

use serde::Serialize;

use super::{Context, Result};
use crate::audit::{self, AuditKey, Broken, StoredEvent};
use crate::store::{AuditRecord, Store};

/// The answer of `GET /api/v1/admin/audit/verify` and `brygga audit verify`.
#[derive(Clone, Debug, Serialize)]
pub struct Verification {
    pub ok: bool,
    /// Events checked, over every chain.
    pub events: u64,
    pub first_broken: Option<Broken>,
}

fn stored(record: &AuditRecord) -> StoredEvent<'_> {
    StoredEvent {
        sealed: record.sealed(),
        prev_mac: record.prev_mac.as_deref(),
        mac: record.mac.as_deref(),
    }
}

/// Checks every municipality's chain against the key, its head and its latest checkpoint;
/// names the first broken position (chains in kommunkod order).
pub async fn verify(store: &dyn Store, key: &AuditKey) -> crate::store::Result<Verification> {
    let mut events = 0u64;
    for municipality in store.audit_chains().await? {
        let chain = store.audit_chain(&municipality).await?;
        events += u64::try_from(chain.len()).unwrap_or(u64::MAX);
        let head = store.audit_head(&municipality).await?;
        let checkpoint = store.latest_checkpoint(&municipality).await?;
        let stored: Vec<StoredEvent<'_>> = chain.iter().map(stored).collect();
        if let Err(broken) = audit::verify_chain(
            key,
            &municipality,
            &stored,
            head.as_ref().map(|(s, m)| (*s, m.as_str())),
            checkpoint.as_ref().map(|(s, m)| (*s, m.as_str())),
        ) {
            return Ok(Verification {
                ok: false,
                events,
                first_broken: Some(broken),
            });
        }
    }
    Ok(Verification {
        ok: true,
        events,
        first_broken: None,
    })
}

/// One event worth a second look, and why.
#[derive(Clone, Debug)]
pub struct Finding {
    /// `protected_identity`, `access_denied` or `opened_without_having_it`.
    pub reason: &'static str,
    pub event: AuditRecord,
}

const VIEWS: [&str; 2] = ["view", "view_metadata"];
const TAKES: [&str; 2] = ["claim", "accept"];

impl Context {
    /// The audit trail as an administrator may read it (their municipality's chain, or every
    /// chain for the federation's); the reading is itself audited.
    pub async fn audit_trail(
        &self,
        admin_of: Option<&str>,
        filter: &crate::store::AuditFilter,
    ) -> Result<Vec<AuditRecord>> {
        let events = self.store.audit_query(filter).await?;
        let mut event = self.audit(
            format!("admin:{}", admin_of.unwrap_or("federation")),
            admin_of.map(str::to_owned),
            "read_audit",
            vec![
                if admin_of.is_some() {
                    "municipality-administrator"
                } else {
                    "federation-administrator"
                }
                .to_owned(),
            ],
        );
        event.municipality = admin_of.map_or_else(|| self.federation.id.clone(), str::to_owned);
        event.detail = serde_json::json!({ "events": events.len(), "case": filter.case_id });
        self.store.append_audit(&event).await?;
        Ok(events)
    }

    /// Unusual access in a period (R15 follow-up): every event about a protected-identity case,
    /// every refused attempt, and cases opened by caseworkers who never had them.
    pub async fn follow_up(
        &self,
        admin_of: Option<&str>,
        from: Option<chrono::DateTime<chrono::Utc>>,
        to: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Vec<Finding>> {
        let events = self
            .audit_trail(
                admin_of,
                &crate::store::AuditFilter {
                    municipality: admin_of.map(str::to_owned),
                    from,
                    to,
                    limit: 100_000,
                    ..Default::default()
                },
            )
            .await?;
        let protected: std::collections::HashSet<String> =
            self.store.protected_case_ids().await?.into_iter().collect();
        let mut holders: std::collections::HashMap<String, Vec<String>> =
            std::collections::HashMap::new();
        let mut findings = Vec::new();
        for event in events {
            let case = event.case_id.clone().unwrap_or_default();
            let reason = if protected.contains(&case) {
                Some("protected_identity")
            } else if event.action == "access_denied" {
                Some("access_denied")
            } else if VIEWS.contains(&event.action.as_str())
                && event.actor.starts_with("caseworker:")
            {
                if !holders.contains_key(&case) {
                    let took = self
                        .store
                        .audit_events(Some(&case), 10_000)
                        .await?
                        .into_iter()
                        .filter(|e| TAKES.contains(&e.action.as_str()))
                        .map(|e| e.actor)
                        .collect();
                    holders.insert(case.clone(), took);
                }
                let held = holders.get(&case).is_some_and(|h| h.contains(&event.actor));
                (!held).then_some("opened_without_having_it")
            } else {
                None
            };
            if let Some(reason) = reason {
                findings.push(Finding { reason, event });
            }
        }
        Ok(findings)
    }

    pub async fn verify_audit(&self) -> Result<Verification> {
        Ok(verify(self.store.as_ref(), &self.audit_key).await?)
    }

    /// Copies the chain heads to the checkpoints when `audit_checkpoint_minutes` have passed
    /// since the last copy (called by the scheduler's tick).
    pub(super) async fn checkpoint_audit(&self) -> Result<bool> {
        let now = self.clock.now();
        let every =
            chrono::Duration::minutes(i64::from(self.config.audit_checkpoint_minutes.max(1)));
        let due = self.marks().checkpointed.is_none_or(|at| now - at >= every);
        if !due {
            return Ok(false);
        }
        self.store.write_audit_checkpoints(now).await?;
        self.marks().checkpointed = Some(now);
        Ok(true)
    }
}

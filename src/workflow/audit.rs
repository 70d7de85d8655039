//! The audit trail's follow-up: verifying every chain, checkpoints of the chain heads, the
//! administrators' reading of the trail, and the report of unusual access (R15). Who may read
//! which chain is the policies' answer (`read_audit`), asked through the gate.

use crate::domain::Administrator;
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Context, Error, Result};
use crate::audit::{self, AuditEntry, AuditKey, Broken};
use crate::domain::ids::{CaseId, MunicipalityCode};
use crate::policy::Action;
use crate::store::{AuditFilter, Store};

/// The answer of `GET /api/v1/admin/audit/verify` and `brygga audit verify`.
#[derive(Clone, Debug, Serialize)]
pub struct Verification {
    pub ok: bool,
    /// Events checked, over every chain.
    pub events: u64,
    pub first_broken: Option<Broken>,
}

/// Checks every municipality's chain against the key, its head and its latest checkpoint;
/// names the first broken position (chains in kommunkod order). For the CLI and the workflow.
pub async fn verify(store: &dyn Store, key: &AuditKey) -> crate::store::Result<Verification> {
    let mut events = 0u64;
    for municipality in store.audit_chains().await? {
        let chain = store.audit_chain(&municipality).await?;
        events += u64::try_from(chain.len()).unwrap_or(u64::MAX);
        let head = store.audit_head(&municipality).await?;
        let checkpoint = store.latest_checkpoint(&municipality).await?;
        let stored: Vec<audit::StoredEvent<'_>> = chain.iter().map(AuditEntry::stored).collect();
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

/// What an administrator asks of the trail (every filter optional).
#[derive(Clone, Debug, Default)]
pub struct AuditSearch {
    pub case: Option<String>,
    pub actor: Option<String>,
    /// A chain: a municipality's kommunkod, or the federation's id.
    pub municipality: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub limit: u32,
}

/// One event worth a second look, and why.
#[derive(Clone, Debug)]
pub struct Finding {
    /// `protected_identity`, `access_denied` or `opened_without_having_it`.
    pub reason: &'static str,
    pub event: AuditEntry,
}

const VIEWS: [&str; 2] = ["view", "view_metadata"];
const TAKES: [&str; 2] = ["claim", "accept"];

impl Context {
    /// The chain an administrator asks to read, and the gate for it: a municipality's
    /// administrators read their own chain (asking for another is `forbidden`), federation
    /// administrators any chain or all of them.
    async fn authorize_trail(
        &self,
        admin: &Administrator,
        asked: Option<&str>,
    ) -> Result<(super::gate::AdminAllowed, Option<String>)> {
        let asked_municipality = match asked {
            None => None,
            Some(chain) if chain == self.federation().id => None,
            Some(code) => Some(
                MunicipalityCode::parse(code).map_err(|_| Error::InvalidField("municipality"))?,
            ),
        };
        let on = asked_municipality.as_ref().or(admin.municipality.as_ref());
        let proof = self.authorize_admin(admin, Action::ReadAudit, on).await?;
        let chain = match (asked, on) {
            (Some(chain), None) => Some(chain.to_owned()),
            (_, Some(m)) => Some(m.as_str().to_owned()),
            (None, None) => None,
        };
        Ok((proof, chain))
    }

    /// The audit trail as the policies let an administrator read it, newest first; the reading
    /// is itself audited.
    pub async fn audit_trail(
        &self,
        admin: &Administrator,
        search: AuditSearch,
    ) -> Result<Vec<AuditEntry>> {
        let (proof, chain) = self
            .authorize_trail(admin, search.municipality.as_deref())
            .await?;
        let case_id = match search.case.as_deref() {
            Some(c) => Some(CaseId::parse(c).map_err(|_| Error::InvalidField("case"))?),
            None => None,
        };
        let events = self
            .read_trail(
                &proof,
                &AuditFilter {
                    case_id,
                    actor: search.actor,
                    municipality: chain,
                    from: search.from,
                    to: search.to,
                    limit: search.limit,
                },
            )
            .await?;
        self.record_admin(
            &proof,
            "read_audit",
            serde_json::json!({ "events": events.len(), "case": search.case }),
        )
        .await?;
        Ok(events)
    }

    /// Unusual access in a period (R15 follow-up): every event about a protected-identity case,
    /// every refused attempt, and cases opened by caseworkers who never had them.
    pub async fn follow_up(
        &self,
        admin: &Administrator,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Vec<Finding>> {
        let (proof, chain) = self.authorize_trail(admin, None).await?;
        let events = self
            .read_trail(
                &proof,
                &AuditFilter {
                    municipality: chain,
                    from,
                    to,
                    limit: 100_000,
                    ..Default::default()
                },
            )
            .await?;
        self.record_admin(
            &proof,
            "read_audit",
            serde_json::json!({ "events": events.len(), "report": "follow_up" }),
        )
        .await?;
        let protected: HashSet<String> = self
            .store
            .protected_case_ids()
            .await?
            .into_iter()
            .map(String::from)
            .collect();
        let mut holders: HashMap<String, Vec<String>> = HashMap::new();
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
                    let took = match CaseId::parse(&case) {
                        Ok(id) => self
                            .read_trail(
                                &proof,
                                &AuditFilter {
                                    case_id: Some(id),
                                    limit: 10_000,
                                    ..Default::default()
                                },
                            )
                            .await?
                            .into_iter()
                            .filter(|e| TAKES.contains(&e.action.as_str()))
                            .map(|e| e.actor)
                            .collect(),
                        Err(_) => Vec::new(),
                    };
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

    /// Every chain verified, for an administrator the policies let follow up the trail.
    pub async fn verify_audit(&self, admin: &Administrator) -> Result<Verification> {
        let proof = self
            .authorize_admin(admin, Action::ReadAudit, admin.municipality.as_ref())
            .await?;
        let verification = verify(self.store.as_ref(), &self.audit_key).await?;
        self.record_admin(
            &proof,
            "verify_audit",
            serde_json::json!({
                "ok": verification.ok,
                "events": verification.events,
                "first_broken": verification.first_broken,
            }),
        )
        .await?;
        Ok(verification)
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

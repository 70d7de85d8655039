//! Policy versions: loading the active one at start, storing new ones after validation, their
//! tests and the legal baseline, activating (audited, four eyes), following another replica's
//! activation, simulating a request against any version without storing anything, and
//! replaying the last 30 days' decisions under a stored version (the impact report).

use std::collections::{BTreeMap, BTreeSet};

use crate::domain::Administrator;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{Context, Error, Result};
use crate::domain::case::Case;
use crate::domain::federation::Federation;
use crate::domain::governance::PolicyVersion;
use crate::domain::ids::{Language, MunicipalityCode};
use crate::domain::people::{Availability, Caseworker, Loa, Protection};
use crate::domain::routing::{Permits, Refusal};
use crate::policy::engine::{self, PolicyProblem, Version};
use crate::policy::{
    self, Action, ConsentFacts, Decision, Engine, Identity, Principal, Query, Resource,
};
use crate::store::Store;

/// The author of the policy versions Brygga ships (stored at first start and with a release
/// that changes them).
pub const SHIPPED_BY: &str = "system";

/// The active policy version at start-up, ready to decide.
///
/// The first start stores the shipped policies as version 1. A release whose shipped policies
/// differ from the active version stores and activates them, with an audit event on the
/// federation's chain, but only while the active version is a shipped one that no
/// administrator chose: a version an administrator wrote or activated stays active (it is
/// theirs to replace), and start-up says that the shipped policies have changed.
pub async fn load_policies(
    store: &dyn Store,
    federation: &str,
    now: DateTime<Utc>,
) -> std::result::Result<Engine, String> {
    let shipped = engine::default_text();
    let active = store
        .active_policy_version()
        .await
        .map_err(|e| e.to_string())?;
    let active = match active {
        Some(v) if v.text == shipped => v,
        Some(v) if v.author != SHIPPED_BY || v.activated_by.as_deref() != Some(SHIPPED_BY) => {
            tracing::warn!(
                version = v.version,
                author = %v.author,
                "the policies shipped with this release differ from the active version, which an \
                 administrator wrote: it stays active; compare and activate a new version"
            );
            v
        }
        previous => {
            let audit = previous
                .as_ref()
                .map(|p| super::gate::shipped_policies_event(federation, p.version, now));
            let version = store
                .insert_policy_version(
                    &shipped,
                    &policy::testing::default_text(),
                    SHIPPED_BY,
                    now,
                    true,
                    audit.as_ref(),
                )
                .await
                .map_err(|e| e.to_string())?;
            tracing::info!(
                version,
                previous = previous.map(|p| p.version),
                "shipped policies stored as the active version"
            );
            store
                .policy_version(version)
                .await
                .map_err(|e| e.to_string())?
                .ok_or("the policy version just stored is gone")?
        }
    };
    Engine::with_version(active.version, &active.text)
        .map_err(|e| format!("active policy version {}: {}", active.version, e.join("; ")))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatedConsent {
    pub cross_municipality: bool,
    #[serde(default)]
    pub municipalities: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatedRequest {
    pub category: String,
    pub language: String,
    pub home: String,
    pub consent: SimulatedConsent,
    #[serde(default)]
    pub protection: Option<String>,
    #[serde(default)]
    pub loa: Option<String>,
    #[serde(default)]
    pub age: Option<u32>,
    #[serde(default)]
    pub anonymous: bool,
    #[serde(default)]
    pub harm_assessment: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatedPrincipal {
    /// `municipality` (for `route`), `caseworker`, `admin` or `citizen`.
    pub role: String,
    #[serde(default)]
    pub municipality: Option<String>,
    /// A simulated caseworker has the category's skill and the request's language; clearance
    /// for protected identity only when asked for.
    #[serde(default)]
    pub protected_identity_clearance: bool,
    /// … and the supervisor role only when asked for (R12, R15).
    #[serde(default)]
    pub supervisor: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulationInput {
    pub request: SimulatedRequest,
    pub principal: SimulatedPrincipal,
    pub action: String,
    #[serde(default)]
    pub version: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct RingPlan {
    pub municipality: String,
    pub ring: i64,
    pub policies: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct SimulationResult {
    pub version: i64,
    pub decision: &'static str,
    pub policies: Vec<String>,
    /// Where the request may go, in the order the router widens.
    pub rings: Vec<RingPlan>,
    pub refused: Vec<Refusal>,
}

/// The active set and every version, as administrators see them.
#[derive(Debug, Serialize)]
pub struct PolicyListing {
    /// The version every decision uses now.
    pub active: i64,
    /// The active version's policy ids, in text order.
    pub policies: Vec<String>,
    pub versions: Vec<PolicyVersion>,
}

/// How far back the impact report replays: the cases created in these many days.
pub const IMPACT_DAYS: i64 = 30;
/// The most examples an impact report lists.
pub const IMPACT_EXAMPLES: usize = 20;
/// The access decisions replayed for each case.
const IMPACT_ACTIONS: [Action; 3] = [Action::View, Action::ReadContent, Action::Claim];

/// What activating a stored version would change, replayed on the last 30 days' cases as they
/// stand, judged today under the active version and under the candidate. No personal data:
/// no case ids, no identities, no text.
#[derive(Debug, Serialize)]
pub struct ImpactReport {
    /// The candidate.
    pub version: i64,
    /// The active version it is compared with.
    pub compared_with: i64,
    /// Cases created at or after this moment were replayed.
    pub since: DateTime<Utc>,
    /// How many cases were replayed.
    pub cases: usize,
    pub changes: ImpactChanges,
    /// Per policy id: how many of the changed decisions it took part in, before or after but
    /// not both (the rules that make the difference).
    pub by_rule: BTreeMap<String, u64>,
    /// The first changes, at most [`IMPACT_EXAMPLES`].
    pub examples: Vec<ImpactExample>,
    /// Beside last month's cases, every possible request: per request type (principal,
    /// action, resource) that the two versions decide differently, one request that shows it,
    /// from the SMT solver's equivalence check (technical words). `None` when the solver is
    /// not available; empty when the versions decide every request alike.
    pub decided_differently: Option<Vec<DecidedDifferently>>,
}

/// A kind of request two policy versions decide differently, and one such request.
#[derive(Debug, Serialize)]
pub struct DecidedDifferently {
    /// `Caseworker read_content Case`.
    pub request_type: String,
    /// The request, and each version's decision with the policies that determined it.
    pub example: String,
}

#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct ImpactChanges {
    /// Routing decisions (a case and a member municipality) whose outcome would change:
    /// permitted or refused, or the ring.
    pub routing: u64,
    /// Access decisions (a case, a caseworker, an action) whose outcome would change.
    pub access: u64,
    /// Cases with at least one such change.
    pub cases: u64,
    /// Decisions whose outcome stays but whose deciding policies change: the legal ground
    /// recorded in the audit trail would name other rules. Not in `by_rule` or the examples.
    pub grounds: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImpactKind {
    Routing,
    Access,
}

/// One changed decision, described without personal data.
#[derive(Debug, Serialize)]
pub struct ImpactExample {
    pub case_category: String,
    pub home: String,
    pub kind: ImpactKind,
    /// Routing: the municipality asked; access: the caseworker's municipality.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub municipality: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<&'static str>,
    /// Access: whose — `owner` (the caseworker who has the case) or `home_caseworker` (one of
    /// the home municipality's staff, with the category's skill where there is one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caseworker: Option<&'static str>,
    pub before: ImpactDecision,
    pub after: ImpactDecision,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImpactDecision {
    pub allowed: bool,
    /// The deciding policies, sorted.
    pub policies: Vec<String>,
    /// Routing: the ring of a permit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ring: Option<i64>,
}

impl ImpactDecision {
    fn of(decision: Decision) -> ImpactDecision {
        let mut policies = decision.policies;
        policies.sort();
        policies.dedup();
        ImpactDecision {
            allowed: decision.allowed,
            policies,
            ring: decision.ring,
        }
    }

    /// A member's routing decision in a permit listing.
    fn routing(permits: &Permits, municipality: &str) -> ImpactDecision {
        let decision = match permits.get(municipality) {
            Some(p) => Decision {
                allowed: true,
                policies: p.policies.clone(),
                ring: Some(p.ring),
            },
            None => Decision {
                allowed: false,
                policies: permits
                    .refused
                    .iter()
                    .find(|r| r.municipality.as_str() == municipality)
                    .map(|r| r.policies.clone())
                    .unwrap_or_default(),
                ring: None,
            },
        };
        ImpactDecision::of(decision)
    }

    fn same_outcome(&self, other: &ImpactDecision) -> bool {
        self.allowed == other.allowed && self.ring == other.ring
    }
}

/// The comparison as it is counted, case by case.
#[derive(Default)]
struct Tally {
    changes: ImpactChanges,
    by_rule: BTreeMap<String, u64>,
    examples: Vec<ImpactExample>,
}

/// Where one decision of a case was taken: what an example says about it.
struct Asked {
    kind: ImpactKind,
    municipality: String,
    action: Option<&'static str>,
    caseworker: Option<&'static str>,
}

impl Tally {
    /// Counts one decision; `true` if its outcome changed.
    fn count(
        &mut self,
        case: &Case,
        asked: Asked,
        before: ImpactDecision,
        after: ImpactDecision,
    ) -> bool {
        if before == after {
            return false;
        }
        if before.same_outcome(&after) {
            self.changes.grounds += 1;
            return false;
        }
        match asked.kind {
            ImpactKind::Routing => self.changes.routing += 1,
            ImpactKind::Access => self.changes.access += 1,
        }
        let was: BTreeSet<&String> = before.policies.iter().collect();
        let is: BTreeSet<&String> = after.policies.iter().collect();
        let differing: Vec<&String> = was.symmetric_difference(&is).copied().collect();
        // Only the ring moved: every deciding policy is behind it.
        let named = if differing.is_empty() {
            is.into_iter().collect()
        } else {
            differing
        };
        for id in named {
            *self.by_rule.entry(id.clone()).or_default() += 1;
        }
        if self.examples.len() < IMPACT_EXAMPLES {
            self.examples.push(ImpactExample {
                case_category: case.category.as_str().to_owned(),
                home: case.home.as_str().to_owned(),
                kind: asked.kind,
                municipality: Some(asked.municipality),
                action: asked.action,
                caseworker: asked.caseworker,
                before,
                after,
            });
        }
        true
    }
}

/// One of the home municipality's staff to judge access for: not the owner, with the
/// category's skill (and the language) where someone has it. `staff` is sorted by id, so the
/// choice is stable.
fn home_caseworker<'a>(staff: &'a [Caseworker], case: &Case) -> Option<&'a Caseworker> {
    let home: Vec<&Caseworker> = staff
        .iter()
        .filter(|c| c.municipality == case.home && Some(&c.id) != case.owner.as_ref())
        .collect();
    let skilled = |c: &&&Caseworker| c.skills.contains(&case.category);
    home.iter()
        .filter(skilled)
        .find(|c| c.languages.contains(&case.language))
        .or_else(|| home.iter().find(skilled))
        .or_else(|| home.first())
        .copied()
}

/// Replays every case under both versions (pure: the cases and staff are read beforehand).
fn replay(
    active: &Engine,
    candidate: &Engine,
    federation: &Federation,
    cases: &[Case],
    staff: &[Caseworker],
    today: NaiveDate,
) -> Tally {
    let mut tally = Tally::default();
    for case in cases {
        let mut changed = false;
        let facts = policy::case_facts(federation, case, today);
        let before = active.permits(federation, &facts, today);
        let after = candidate.permits(federation, &facts, today);
        for member in &federation.municipalities {
            let code = member.code.as_str();
            changed |= tally.count(
                case,
                Asked {
                    kind: ImpactKind::Routing,
                    municipality: code.to_owned(),
                    action: None,
                    caseworker: None,
                },
                ImpactDecision::routing(&before, code),
                ImpactDecision::routing(&after, code),
            );
        }
        let owner = case
            .owner
            .as_ref()
            .and_then(|id| staff.iter().find(|c| &c.id == id))
            .map(|c| ("owner", c));
        let home = home_caseworker(staff, case).map(|c| ("home_caseworker", c));
        for (whose, caseworker) in owner.into_iter().chain(home) {
            for action in IMPACT_ACTIONS {
                let judge = |engine: &Engine| {
                    ImpactDecision::of(
                        engine.caseworker_may(action, federation, caseworker, case, today),
                    )
                };
                changed |= tally.count(
                    case,
                    Asked {
                        kind: ImpactKind::Access,
                        municipality: caseworker.municipality.as_str().to_owned(),
                        action: Some(action.as_str()),
                        caseworker: Some(whose),
                    },
                    judge(active),
                    judge(candidate),
                );
            }
        }
        if changed {
            tally.changes.cases += 1;
        }
    }
    tally
}

impl Context {
    /// Every version, for any administrator.
    pub async fn policy_versions(&self, admin: &Administrator) -> Result<PolicyListing> {
        self.authorize_reading_configuration(admin).await?;
        let active = self.policy.active();
        Ok(PolicyListing {
            active: active.number,
            policies: active.compiled.ids.clone(),
            versions: self.store.policy_versions().await?,
        })
    }

    /// Stores a new version after it validated against the schema, passed its tests (the
    /// given ones, else the active version's) and kept the legal baseline
    /// ([`policy::baseline`]: the shipped tests, every policy named by a test, every rule
    /// tested at least three times). Nothing changes until it is activated. The policies decide
    /// who may (`administer` on the federation).
    pub async fn create_policy_version(
        &self,
        admin: &Administrator,
        text: &str,
        tests: Option<&str>,
    ) -> Result<i64> {
        let proof = self
            .authorize_admin(admin, Action::Administer, None)
            .await?;
        let compiled = self.policy.check(text).map_err(Error::PolicyInvalid)?;
        let tests = match tests {
            Some(t) => t.to_owned(),
            None => match self.store.active_policy_version().await? {
                Some(active) => active.tests,
                None => policy::testing::default_text(),
            },
        };
        let parsed = policy::testing::parse_located("tests", &tests)
            .map_err(|e| Error::PolicyInvalid(vec![e]))?;
        let errors = policy::baseline::review(&compiled, self.policy.schema(), &parsed);
        if !errors.is_empty() {
            return Err(invalid(errors));
        }
        // Proven, not only tested: every legal invariant holds for every request, or the
        // version is refused with the counterexample in words.
        let proofs = self.prove_policies(&compiled.set).await?;
        let broken: Vec<String> = proofs
            .iter()
            .filter(|p| p.verdict != "proven")
            .filter_map(|p| p.why.clone())
            .collect();
        if !broken.is_empty() {
            return Err(invalid(broken));
        }
        self.store_policy_version(&proof, text, &tests, &compiled.ids)
            .await
    }

    /// The legal invariants proven for a stored version (src/policy/proofs.rs), for the
    /// administrators' page: the same proofs storing it ran, run again (they are
    /// deterministic; nothing is stored). Any administrator may read them.
    pub async fn policy_proofs(
        &self,
        admin: &Administrator,
        version: i64,
    ) -> Result<Vec<policy::proofs::Summary>> {
        self.authorize_reading_configuration(admin).await?;
        let record = self
            .store
            .policy_version(version)
            .await?
            .ok_or(Error::NotFound)?;
        let compiled = self
            .policy
            .check(&record.text)
            .map_err(Error::PolicyInvalid)?;
        self.prove_policies(&compiled.set).await
    }

    /// Runs the proofs with the configured solver on a blocking thread. Without a solver, or
    /// when it cannot run, the answer is [`Error::SolverUnavailable`]: never "proven".
    async fn prove_policies(
        &self,
        set: &cedar_policy::PolicySet,
    ) -> Result<Vec<policy::proofs::Summary>> {
        let solver = self.config.policy_solver.clone();
        if !solver.is_file() {
            return Err(Error::SolverUnavailable(format!(
                "{} does not exist (set policy_solver; Debian: apt-get install cvc5)",
                solver.display()
            )));
        }
        let path = solver.display().to_string();
        let schema = self.policy.schema().clone();
        let set = set.clone();
        let outcomes = tokio::task::spawn_blocking(move || {
            policy::proofs::prove_blocking(&schema, &set, &path)
        })
        .await
        .map_err(|e| Error::Internal(format!("the proofs stopped: {e}")))?
        .map_err(|e| match e {
            policy::proofs::VerifyError::Solver(why) => Error::SolverUnavailable(why),
            other => Error::PolicyInvalid(vec![PolicyProblem::unplaced(other.to_string())]),
        })?;
        Ok(policy::proofs::summarize(&outcomes))
    }

    /// Makes a stored version the active one, here at once and on other replicas at their
    /// next scheduler tick; audited on the federation's chain.
    pub async fn activate_policy_version(&self, admin: &Administrator, version: i64) -> Result<()> {
        let proof = self
            .authorize_admin(admin, Action::Administer, None)
            .await?;
        let record = self
            .store
            .policy_version(version)
            .await?
            .ok_or(Error::NotFound)?;
        // Four eyes: whoever wrote a version does not activate it; a second federation
        // administrator does. The refusal is on the trail.
        if record.author == admin.actor().to_string() {
            self.record_admin(
                &proof,
                "policy_activation_refused",
                serde_json::json!({ "version": version, "why": "four_eyes_required" }),
            )
            .await?;
            return Err(Error::FourEyesRequired);
        }
        let compiled = self
            .policy
            .check(&record.text)
            .map_err(Error::PolicyInvalid)?;
        let previous = self.policy.active().number;
        self.store_activation(&proof, version, previous).await?;
        self.policy.activate(Version::new(version, compiled));
        Ok(())
    }

    /// What activating `version` would change: the cases created in the last
    /// [`IMPACT_DAYS`] days, as they stand, judged today by the active version and by the
    /// candidate — where each may be routed (every member's permit and ring) and what its
    /// owner and one home caseworker may do (view, read_content, claim). Federation
    /// administrators only (`administer` on the federation); reads and stores nothing but the
    /// audit event of the replay itself.
    pub async fn policy_impact(&self, admin: &Administrator, version: i64) -> Result<ImpactReport> {
        let proof = self
            .authorize_admin(admin, Action::Administer, None)
            .await?;
        let record = self
            .store
            .policy_version(version)
            .await?
            .ok_or(Error::NotFound)?;
        // Both sides compiled afresh: the comparison holds still while another activation
        // happens, and the live memo is left alone.
        let compared_with = self.policy.active().number;
        let active_text = self
            .store
            .policy_version(compared_with)
            .await?
            .map(|v| v.text)
            .ok_or_else(|| Error::Internal(format!("active version {compared_with} not stored")))?;
        let active = Engine::with_version(compared_with, &active_text).map_err(invalid)?;
        let candidate = Engine::with_version(version, &record.text).map_err(invalid)?;
        let decided_differently = self
            .compare_policies(
                active.active().compiled.set.clone(),
                candidate.active().compiled.set.clone(),
            )
            .await;
        let since = self.clock.now() - chrono::Duration::days(IMPACT_DAYS);
        let cases = self.store.cases_created_since(since).await?;
        let mut staff = self.store.caseworkers().await?;
        staff.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
        let federation = self.federation();
        let today = self.clock.today();
        let replayed = cases.len();
        // Thousands of decisions: off the request threads.
        let tally = tokio::task::spawn_blocking(move || {
            replay(&active, &candidate, &federation, &cases, &staff, today)
        })
        .await
        .map_err(|e| Error::Internal(format!("the impact replay stopped: {e}")))?;
        self.record_admin(
            &proof,
            "policy_impact",
            serde_json::json!({
                "version": version,
                "compared_with": compared_with,
                "since": since,
                "cases": replayed,
                "changes": &tally.changes,
            }),
        )
        .await?;
        Ok(ImpactReport {
            version,
            compared_with,
            since,
            cases: replayed,
            changes: tally.changes,
            by_rule: tally.by_rule,
            examples: tally.examples,
            decided_differently,
        })
    }

    /// Which kinds of request two versions decide differently, with an example each (issue
    /// 23, item 4). Informational beside the impact report: without a working solver the
    /// answer is `None` and the report says so, rather than failing.
    async fn compare_policies(
        &self,
        old: cedar_policy::PolicySet,
        new: cedar_policy::PolicySet,
    ) -> Option<Vec<DecidedDifferently>> {
        let solver = self.config.policy_solver.clone();
        if !solver.is_file() {
            return None;
        }
        let path = solver.display().to_string();
        let schema = self.policy.schema().clone();
        let compared = tokio::task::spawn_blocking(move || {
            policy::proofs::compare_blocking(&schema, &old, &new, &path)
        })
        .await;
        match compared {
            Ok(Ok(differences)) => Some(
                differences
                    .into_iter()
                    .filter_map(|d| {
                        d.example.map(|example| DecidedDifferently {
                            request_type: d.request_type.to_string(),
                            example,
                        })
                    })
                    .collect(),
            ),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "the policy versions could not be compared");
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "the policy comparison stopped");
                None
            }
        }
    }

    /// Follows an activation made by another replica (called by the scheduler's tick).
    pub(super) async fn follow_active_policies(&self) -> Result<()> {
        let Some(active) = self.store.active_policy_version().await? else {
            return Ok(());
        };
        if active.version == self.policy.active().number {
            return Ok(());
        }
        match self.policy.compile(&active.text) {
            Ok(compiled) => {
                self.policy.activate(Version::new(active.version, compiled));
                tracing::info!(
                    version = active.version,
                    "policy version activated elsewhere"
                );
            }
            Err(errors) => {
                tracing::error!(
                    version = active.version,
                    ?errors,
                    "active policy version does not compile here"
                )
            }
        }
        Ok(())
    }

    /// The decision, its deciding policies and the ring plan for a hypothetical request, by the
    /// active version or the one named. Stores nothing.
    pub async fn simulate_policies(
        &self,
        admin: &Administrator,
        input: &SimulationInput,
    ) -> Result<SimulationResult> {
        self.authorize_reading_configuration(admin).await?;
        let engine_for_version;
        let engine: &Engine = match input.version {
            Some(v) if v != self.policy.active().number => {
                let record = self
                    .store
                    .policy_version(v)
                    .await?
                    .ok_or(Error::InvalidField("version"))?;
                engine_for_version = Engine::with_version(v, &record.text).map_err(invalid)?;
                &engine_for_version
            }
            _ => &self.policy,
        };
        let r = &input.request;
        let category = self.category(&r.category)?.clone();
        let home = self.member(&r.home)?;
        let action = Action::parse(&input.action).ok_or(Error::InvalidField("action"))?;
        let protection = match r.protection.as_deref() {
            Some(p) => Protection::parse(p).ok_or(Error::InvalidField("request.protection"))?,
            None => Protection::None,
        };
        let loa = match r.loa.as_deref() {
            Some(l) => Loa::parse(l).ok_or(Error::InvalidField("request.loa"))?,
            None => Loa::Loa3,
        };
        if let Some(h) = r.harm_assessment.as_deref()
            && !["none", "cross_border_ok", "stay_home"].contains(&h)
        {
            return Err(Error::InvalidField("request.harm_assessment"));
        }
        let consent_municipalities = match &r.consent.municipalities {
            Some(list) => Some(
                list.iter()
                    .map(|c| self.member(c).map(|m| m.as_str().to_owned()))
                    .collect::<Result<_>>()?,
            ),
            None => None,
        };
        // A language that is not a code is what a simulated caseworker cannot speak.
        let language = Language::parse(&r.language).ok();
        let today = self.clock.today();
        let mut facts = policy::request_facts(
            &category,
            home.as_str(),
            &Identity {
                personnummer: None,
                id_confirmed: true,
                eidas: None,
                anonymous: r.anonymous,
                protection: (!r.anonymous).then_some(protection.as_str()),
                loa: (!r.anonymous).then_some(loa.as_str()),
            },
            ConsentFacts {
                cross_municipality: r.consent.cross_municipality,
                municipalities: consent_municipalities,
            },
            r.harm_assessment.as_deref(),
            today,
        );
        if !r.anonymous {
            facts.id_type = "personnummer".to_owned();
            facts.age = r.age.map(i64::from);
            facts.citizen = Some("simulated-citizen".to_owned());
        }
        facts.language = r.language.clone();
        let federation = self.federation();
        facts.home_keeps = policy::home_keeps(&federation, home.as_str(), category.id.as_str());
        let permits = engine.permits(&federation, &facts, today);
        let p = &input.principal;
        let municipality = match p.municipality.as_deref() {
            Some(m) => Some(self.member(m)?.as_str().to_owned()),
            None => None,
        };
        let required = || {
            municipality
                .clone()
                .ok_or(Error::InvalidField("principal.municipality"))
        };
        let decision = match (p.role.as_str(), action) {
            ("municipality" | "caseworker", Action::Route) => {
                engine.route(&self.federation(), &facts, &required()?, today)
            }
            ("caseworker", _) => {
                let m = required()?;
                facts.ring = permits.get(&m).map_or(0, |p| p.ring);
                let caseworker = Caseworker {
                    id: crate::domain::ids::CaseworkerId::parse("simulated-caseworker")
                        .map_err(|e| Error::Internal(e.to_string()))?,
                    municipality: MunicipalityCode::parse(&m)
                        .map_err(|_| Error::InvalidField("principal.municipality"))?,
                    name: String::new(),
                    skills: vec![category.id.clone()],
                    languages: language.into_iter().collect(),
                    max_capacity: 1,
                    capacity: 1,
                    status: Availability::Available,
                    protected_identity_clearance: p.protected_identity_clearance,
                    supervisor: p.supervisor,
                    status_since: self.clock.now(),
                    last_assigned_at: None,
                };
                let route =
                    (m != facts.home).then(|| engine.route(&self.federation(), &facts, &m, today));
                let mut d = engine.decide(&Query {
                    principal: policy::caseworker_principal(&caseworker),
                    action,
                    resource: Resource::Case(Box::new(facts.clone())),
                    context: policy::ContextFacts {
                        handler: route.as_ref().map(|r| policy::HandlerFacts {
                            permitted: r.allowed,
                            ring: r.ring.unwrap_or(i64::MAX),
                        }),
                        ..Default::default()
                    },
                });
                if d.allowed
                    && let Some(route) = route
                {
                    d.policies.extend(route.policies);
                }
                d
            }
            ("admin", Action::Administer | Action::ReadAudit) if municipality.is_some() => engine
                .admin_may(
                    action,
                    municipality.as_deref(),
                    Resource::Municipality {
                        id: facts.home.clone(),
                    },
                ),
            ("admin", _) => engine.admin_may(
                action,
                municipality.as_deref(),
                Resource::Case(Box::new(facts.clone())),
            ),
            ("citizen", _) => engine.decide(&Query {
                principal: Principal::Citizen {
                    id: "simulated-citizen".to_owned(),
                    home: facts.home.clone(),
                    protection: facts.protection.clone(),
                    loa: facts.loa.clone(),
                },
                action,
                resource: Resource::Case(Box::new(facts.clone())),
                context: Default::default(),
            }),
            _ => return Err(Error::InvalidField("principal.role")),
        };
        Ok(SimulationResult {
            version: engine.active().number,
            decision: if decision.allowed { "allow" } else { "deny" },
            policies: decision.policies,
            rings: ring_plan(&permits),
            refused: permits.refused,
        })
    }
}

/// Problems of a version as a whole (failing tests, a stored text that no longer compiles):
/// no place to point at.
fn invalid(errors: Vec<String>) -> Error {
    Error::PolicyInvalid(errors.into_iter().map(PolicyProblem::unplaced).collect())
}

fn ring_plan(permits: &Permits) -> Vec<RingPlan> {
    permits
        .permitted
        .iter()
        .map(|p| RingPlan {
            municipality: p.municipality.as_str().to_owned(),
            ring: p.ring,
            policies: p.policies.clone(),
        })
        .collect()
}

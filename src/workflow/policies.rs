//! Policy versions: loading the active one at start, storing new ones after validation and
//! tests, activating (audited), following another replica's activation, and simulating a
//! request against any version without storing anything.

use crate::domain::Administrator;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Context, Error, Result};
use crate::domain::governance::PolicyVersion;
use crate::domain::ids::{Language, MunicipalityCode};
use crate::domain::people::{Availability, Caseworker, Loa, Protection};
use crate::domain::routing::{Permits, Refusal};
use crate::policy::engine::{self, Version};
use crate::policy::{self, Action, ConsentFacts, Engine, Identity, Principal, Query, Resource};
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

    /// Stores a new version after it validated against the schema and passed its tests (the
    /// given ones, else the active version's). Nothing changes until it is activated. The
    /// policies decide who may (`administer` on the federation).
    pub async fn create_policy_version(
        &self,
        admin: &Administrator,
        text: &str,
        tests: Option<&str>,
    ) -> Result<i64> {
        let proof = self
            .authorize_admin(admin, Action::Administer, None)
            .await?;
        let compiled = self.policy.compile(text).map_err(Error::PolicyInvalid)?;
        let tests = match tests {
            Some(t) => t.to_owned(),
            None => match self.store.active_policy_version().await? {
                Some(active) => active.tests,
                None => policy::testing::default_text(),
            },
        };
        let parsed =
            policy::testing::parse("tests", &tests).map_err(|e| Error::PolicyInvalid(vec![e]))?;
        let failures = policy::testing::run(&compiled, self.policy.schema(), &parsed);
        if !failures.is_empty() {
            return Err(Error::PolicyInvalid(
                failures
                    .into_iter()
                    .map(|f| format!("test failed [{}] {}: {}", f.rule, f.name, f.message))
                    .collect(),
            ));
        }
        self.store_policy_version(&proof, text, &tests, &compiled.ids)
            .await
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
            .compile(&record.text)
            .map_err(Error::PolicyInvalid)?;
        let previous = self.policy.active().number;
        self.store_activation(&proof, version, previous).await?;
        self.policy.activate(Version::new(version, compiled));
        Ok(())
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
                engine_for_version =
                    Engine::with_version(v, &record.text).map_err(Error::PolicyInvalid)?;
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
        let permits = engine.permits(&self.federation, &facts, today);
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
                engine.route(&self.federation, &facts, &required()?, today)
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
                    (m != facts.home).then(|| engine.route(&self.federation, &facts, &m, today));
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

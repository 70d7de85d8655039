//! `brygga simulate`: one working day of requests replayed against the real workflows, on a
//! fresh SQLite database (in a scratch directory removed afterwards) and a simulated clock, to
//! see how the router behaves under load.
//!
//! Arrivals, citizens and caseworkers' behaviour all come from seeded generators and the clock
//! only moves when the simulation moves it, so a seed always gives the same [`Report`]. The
//! simulation drives the same `workflow::Context` the HTTP layer uses (submit, offers, claims,
//! release, close, availability, cancel, the scheduler's tick) and checks the router's
//! invariants as it goes; a broken invariant is counted in [`Violations`], never a panic, so
//! one run shows them all.
//!
//! The day: requests arrive 08:00–17:00, busiest mid-morning, weighted by category, language
//! and population; the demo caseworkers answer offers within the countdown the router gives
//! them (or reject, or let them lapse), take pull-mode and stranded requests from their queue,
//! hold advice sessions of 10–60 minutes, go to lunch; citizens who wait too long give up.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use tokio::sync::broadcast;

use crate::clock::{self, Clock, ManualClock};
use crate::config::Config;
use crate::domain::case::{Case, Offer, OfferOutcome, Published};
use crate::domain::case::{CaseState, Outcome, TransitionError};
use crate::domain::federation::{CategoryKind, Federation, FederationError};
use crate::domain::ids::{CaseId, CaseworkerId, MunicipalityCode, OfferId};
use crate::domain::people::Caseworker;
use crate::domain::people::Citizen;
use crate::domain::people::{Availability, Loa, Protection};
use crate::domain::personnummer::Personnummer;
use crate::domain::routing::Permit;
use crate::routing::settings::{CategoryRouting, Mode};
use crate::store::{self, StoreError};
use crate::workflow::{self, CitizenKey, ConsentInput, Context, IdSource, Notice, SubmitInput};

/// The simulated day: Monday 23 November 2026 (every demo agreement is valid then). Its hours
/// are Stockholm wall-clock hours (`crate::clock`).
const DAY: (i32, u32, u32) = (2026, 11, 23);
/// The clock starts at 07:00 local time, an hour before the first request.
const START_HOUR_LOCAL: u32 = 7;
/// Requests arrive between 08:00 and 17:00 local time; the weights make mid-morning busiest
/// and lunch quieter, as contact centres see it.
const OPENING_HOUR_LOCAL: u32 = 8;
const HOURLY_WEIGHTS: [u32; 9] = [9, 13, 14, 12, 8, 9, 11, 10, 8];
/// After the last arrival, caseworkers keep working at most this long before the run stops.
const MAX_DRAIN_HOURS: i64 = 8;
/// A run stops early once nothing has been assigned or closed for this long and nobody holds
/// a case: what still waits then would wait forever.
const SETTLE_MINUTES: i64 = 20;
/// Caseworkers glance at their queue for push-mode requests no offer has reached this long.
const STRAGGLER_MINUTES: i64 = 10;
/// Staff loads and all open offers are checked this often (in steps); offers are heard of
/// from the notices in between.
const SWEEP_EVERY_STEPS: u64 = 3;
/// The report lists this many diagnostic notes at most.
const MAX_NOTES: usize = 25;

/// How caseworkers and citizens behave; all shares are probabilities in `0..=1`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Behaviour {
    /// Visitors who stay anonymous (R1).
    pub anonymous_share: f64,
    /// Identified citizens who consent to cross-municipality handling.
    pub consent_share: f64,
    /// Offers accepted; `reject_share` rejected; the rest left to time out.
    pub accept_share: f64,
    pub reject_share: f64,
    /// Accepts that come in after the offer has expired.
    pub late_accept_share: f64,
    /// Assigned cases released back to the queue (once per case) instead of being closed.
    pub release_share: f64,
    /// An advice session lasts this many minutes, uniformly (inclusive bounds).
    pub handling_minutes: (i64, i64),
    /// A citizen whose request nobody has taken within this many minutes gives up and cancels
    /// it (inclusive bounds, drawn per request).
    pub patience_minutes: (i64, i64),
    /// Each caseworker takes a lunch break (away) between 11:00 and 13:15 local time.
    pub lunch_breaks: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            anonymous_share: 0.2,
            consent_share: 0.6,
            accept_share: 0.8,
            reject_share: 0.1,
            late_accept_share: 0.03,
            release_share: 0.03,
            handling_minutes: (10, 60),
            patience_minutes: (60, 240),
            lunch_breaks: true,
        }
    }
}

/// A fair-share cap on one category (cross-border cases a day per 10 000 inhabitants).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FairShare {
    pub category: String,
    pub per_10k: f64,
}

#[derive(Clone, Debug)]
pub struct SimulationConfig {
    /// The federation file's TOML text.
    pub federation_text: String,
    pub requests: u32,
    pub seed: u64,
    /// Open cases each caseworker may hold.
    pub capacity: u32,
    /// The clock moves in steps of this many seconds; the scheduler ticks once per step.
    pub step_secs: i64,
    /// Categories caseworkers take from their queue (pull); every other one is offered (push).
    pub pull_categories: Vec<String>,
    /// Seconds an offer stands, for non-urgent and urgent categories.
    pub offer_timeout_secs: i64,
    pub urgent_offer_timeout_secs: i64,
    /// Seconds in ring 0 and ring 1 before widening, for non-urgent and urgent categories.
    pub ring_timeouts: [i64; 2],
    pub urgent_ring_timeouts: [i64; 2],
    pub fair_share: Option<FairShare>,
    pub behaviour: Behaviour,
}

impl SimulationConfig {
    /// The standard day: most categories pushed with 90-second offers (45 for urgent ones, so
    /// an unanswered urgent offer moves on sooner), the two that need a specialist's judgement
    /// pulled, a fair-share cap on `beroende`.
    pub fn new(federation_text: impl Into<String>, requests: u32, seed: u64) -> Self {
        SimulationConfig {
            federation_text: federation_text.into(),
            requests,
            seed,
            capacity: 3,
            step_secs: 30,
            pull_categories: vec![
                "ekonomiskt_bistand".to_owned(),
                "familjeradgivning".to_owned(),
            ],
            offer_timeout_secs: 90,
            urgent_offer_timeout_secs: 45,
            ring_timeouts: [300, 600],
            urgent_ring_timeouts: [60, 180],
            fair_share: Some(FairShare {
                category: "beroende".to_owned(),
                per_10k: 2.0,
            }),
            behaviour: Behaviour::default(),
        }
    }

    fn check(&self) -> Result<(), SimulationError> {
        let invalid = |what: &str| Err(SimulationError::Invalid(what.to_owned()));
        let b = &self.behaviour;
        let share = |s: f64| (0.0..=1.0).contains(&s);
        if self.requests == 0 {
            return invalid("requests must be at least 1");
        }
        if self.capacity == 0 {
            return invalid("capacity must be at least 1");
        }
        if !(1..=300).contains(&self.step_secs) {
            return invalid("step_secs must be 1..=300");
        }
        if ![
            b.anonymous_share,
            b.consent_share,
            b.accept_share,
            b.reject_share,
            b.late_accept_share,
            b.release_share,
        ]
        .into_iter()
        .all(share)
            || b.accept_share + b.reject_share > 1.0
        {
            return invalid("behaviour shares must be within 0..=1 (accept + reject too)");
        }
        for (name, (lo, hi)) in [
            ("handling_minutes", b.handling_minutes),
            ("patience_minutes", b.patience_minutes),
        ] {
            if lo < 1 || lo > hi {
                return Err(SimulationError::Invalid(format!(
                    "{name} must be 1 or more, low bound first"
                )));
            }
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimulationError {
    #[error("simulation settings: {0}")]
    Invalid(String),
    #[error("federation: {0}")]
    Federation(#[from] FederationError),
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("workflow: {0}")]
    Workflow(#[from] workflow::Error),
    #[error("policies: {0}")]
    Policies(String),
    #[error("cannot create the simulation's database directory {path}: {source}")]
    Scratch {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Submission → first assignment, in seconds (nearest-rank percentiles).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct WaitStats {
    pub assigned: u32,
    pub p50_secs: Option<i64>,
    pub p90_secs: Option<i64>,
    pub p99_secs: Option<i64>,
    pub max_secs: Option<i64>,
}

impl WaitStats {
    fn of(mut waits: Vec<i64>) -> Self {
        waits.sort_unstable();
        let n = waits.len();
        let rank = |p: usize| {
            // Nearest rank: the smallest value with at least p % of the values at or below it.
            let r = (p * n).div_ceil(100).max(1);
            waits.get(r - 1).copied()
        };
        WaitStats {
            assigned: u32::try_from(n).unwrap_or(u32::MAX),
            p50_secs: rank(50),
            p90_secs: rank(90),
            p99_secs: rank(99),
            max_secs: waits.last().copied(),
        }
    }
}

/// Requests by home municipality (ring 0), and the cross-border work each did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MunicipalityStats {
    pub code: String,
    pub name: String,
    pub requests: u32,
    /// Of its requests, those last handled by another municipality.
    pub handled_elsewhere: u32,
    /// Other municipalities' requests its caseworkers last handled.
    pub handled_for_others: u32,
    pub waiting_at_end: u32,
    pub gave_up: u32,
    pub wait: WaitStats,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CrossBorder {
    /// Requests that were assigned at least once.
    pub assigned: u32,
    /// Of these, last handled outside the home municipality.
    pub cross_border: u32,
    pub share: f64,
}

/// Offers by how they ended (`Store::offer_counts`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OfferStats {
    pub made: i64,
    pub accepted: i64,
    pub rejected: i64,
    pub timed_out: i64,
    /// Ended because the caseworker went away.
    pub rescinded: i64,
    pub other: i64,
    pub open: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CaseworkStats {
    /// Accepts that came after the offer had ended.
    pub late_accepts: u32,
    /// Caseworkers listing their queue, and the claims that followed.
    pub queue_looks: u32,
    pub claims: u32,
    pub releases: u32,
    /// A released case offered straight back to the caseworker who released it.
    pub offered_back_to_releaser: u32,
    pub closed: u32,
    pub lunch_breaks: u32,
}

/// What the scheduler's ticks did, summed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RouterStats {
    pub ticks: u32,
    pub offers_made: u32,
    pub offers_expired: u32,
    pub widened: u32,
    pub interpreter_flagged: u32,
}

/// Where the requests stand when the run stops.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Outcomes {
    pub closed: u32,
    /// Assigned (or waiting for the citizen) and not yet closed.
    pub assigned: u32,
    /// Queued or offered.
    pub waiting: u32,
    /// Cancelled by citizens who gave up waiting.
    pub gave_up: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WaitingRequest {
    pub id: String,
    pub category: String,
    pub language: String,
    pub home: String,
    pub state: String,
    pub ring: i64,
    pub waited_secs: i64,
    pub traces: u32,
    pub reason: String,
}

/// Broken invariants; every counter is zero in a correct run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Violations {
    /// A caseworker held more non-child-concern cases (offered or owned) than capacity (R10
    /// lets child concerns past capacity).
    pub over_capacity: u32,
    /// A case had more than one open offer.
    pub multiple_open_offers: u32,
    /// An open offer whose case was not `offered` to that caseworker.
    pub offer_state_mismatch: u32,
    /// Offered to or assigned in a municipality the case's permits do not include at the ring
    /// it had reached.
    pub outside_permits: u32,
    /// An assigned case whose owner, handler and state do not agree.
    pub owner_mismatch: u32,
    /// A protected-identity case (R11) offered to or owned by a caseworker without clearance.
    pub uncleared_protected_identity: u32,
    /// Offered again to a caseworker who had rejected or let lapse an offer of the same case.
    pub reoffered_after_decline: u32,
    /// A case taken by a second caseworker while the first still had it.
    pub double_owner: u32,
    /// A request without any routing trace.
    pub missing_trace: u32,
    /// A request whose stored state differs from what the simulation saw happen, or that the
    /// workflow refused although it was valid.
    pub unaccounted: u32,
    /// A workflow call that failed where it should not have.
    pub unexpected_errors: u32,
}

impl Violations {
    pub fn total(&self) -> u32 {
        self.over_capacity
            + self.multiple_open_offers
            + self.offer_state_mismatch
            + self.outside_permits
            + self.owner_mismatch
            + self.uncleared_protected_identity
            + self.reoffered_after_decline
            + self.double_owner
            + self.missing_trace
            + self.unaccounted
            + self.unexpected_errors
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub federation: String,
    pub seed: u64,
    pub requests: u32,
    pub caseworkers: u32,
    pub capacity: u32,
    pub step_secs: i64,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub municipalities: Vec<MunicipalityStats>,
    pub all: WaitStats,
    pub urgent: WaitStats,
    pub non_urgent: WaitStats,
    pub cross_border: CrossBorder,
    pub offers: OfferStats,
    pub casework: CaseworkStats,
    pub router: RouterStats,
    pub outcomes: Outcomes,
    pub waiting: Vec<WaitingRequest>,
    /// Requests their citizens cancelled, with why they were still waiting then.
    pub gave_up: Vec<WaitingRequest>,
    pub violations: Violations,
    /// The first few violations and unexpected errors, described.
    pub notes: Vec<String>,
}

/// Replays one day; see the module documentation.
pub async fn run(config: SimulationConfig) -> Result<Report, SimulationError> {
    config.check()?;
    let federation = Federation::parse_toml(&config.federation_text)?;
    let scratch = Scratch::create(config.seed)?;
    let database_url = format!("sqlite:{}", scratch.path.join("simulation.db").display());
    // The scratch directory outlives the store: `scratch` is dropped last.
    let key = crate::audit::AuditKey::new(crate::app::DEMO_AUDIT_KEY)
        .map_err(SimulationError::Invalid)?;
    let store = store::open(&database_url, 4, Some(key.clone())).await?;
    store.seed_federation(&federation).await?;
    let start = instant(DAY, START_HOUR_LOCAL)?;
    let staff = crate::demo::caseworkers(&federation, config.capacity, start);
    for caseworker in &staff {
        store.insert_caseworker(caseworker).await?;
    }
    let routing = routing_settings(&federation, &config)?;
    let clock = Arc::new(ManualClock::new(start));
    let policy = crate::workflow::load_policies(store.as_ref(), federation.id.as_str(), start)
        .await
        .map_err(SimulationError::Policies)?;
    let ctx = Context::new(
        store,
        Arc::new(federation),
        clock.clone(),
        Arc::new(Config::default()),
        Arc::new(policy),
        Arc::new(CountingIds::default()),
        key.clone(),
    );
    // The day's settings, as a federation administrator would set them.
    let administrator = crate::domain::Administrator {
        id: "simulation".to_owned(),
        name: "Simulation".to_owned(),
        municipality: None,
    };
    ctx.set_routing_settings(&administrator, &routing).await?;
    let mut arrivals_rng = SplitMix64::new(config.seed ^ 0xA11_7A15);
    let arrivals = arrivals(&ctx.federation(), &config, &mut arrivals_rng)?;
    let mut sim = Sim::new(ctx, clock, config, staff.len());
    let report = sim.run(arrivals).await;
    drop(sim);
    drop(scratch);
    report
}

/// A directory of its own for the run's database, removed when the run ends however it ends.
struct Scratch {
    path: PathBuf,
}

impl Scratch {
    fn create(seed: u64) -> Result<Scratch, SimulationError> {
        // Process id and a counter keep concurrent runs (tests in parallel, same seed) apart.
        static RUNS: AtomicU64 = AtomicU64::new(0);
        let n = RUNS.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "brygga-simulation-{}-{seed}-{n}",
            std::process::id()
        ));
        // A leftover of a crashed run with the same name holds nothing worth keeping.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).map_err(|source| SimulationError::Scratch {
            path: path.clone(),
            source,
        })?;
        Ok(Scratch { path })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Ids from a counter, so that ties the router breaks by id fall the same way in every run.
#[derive(Debug, Default)]
struct CountingIds(AtomicU64);

impl IdSource for CountingIds {
    fn next_id(&self) -> String {
        format!("sim{:07}", self.0.fetch_add(1, Ordering::Relaxed) + 1)
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and good enough to drive a simulation;
/// written here because the crate takes no random-number dependency.
#[derive(Clone, Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`, from the top 53 bits.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in `0..n` (0 when `n` is 0), by multiply-shift: no modulo bias worth naming.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    fn between(&mut self, lo: i64, hi: i64) -> i64 {
        let span = hi.saturating_sub(lo).max(0).unsigned_abs() + 1;
        lo + i64::try_from(self.below(span)).unwrap_or(0)
    }

    /// An index drawn with the given weights (the last index if all are zero).
    fn weighted(&mut self, weights: &[u64]) -> usize {
        let total: u64 = weights.iter().sum();
        let mut pick = self.below(total);
        for (i, w) in weights.iter().enumerate() {
            if pick < *w {
                return i;
            }
            pick -= w;
        }
        weights.len().saturating_sub(1)
    }
}

/// The instant Stockholm's clocks show `hour_local`:00 on `day`.
fn instant(day: (i32, u32, u32), hour_local: u32) -> Result<DateTime<Utc>, SimulationError> {
    NaiveDate::from_ymd_opt(day.0, day.1, day.2)
        .and_then(|d| d.and_hms_opt(hour_local, 0, 0))
        .map(clock::from_local)
        .ok_or_else(|| SimulationError::Invalid("the simulated day does not exist".to_owned()))
}

fn routing_settings(
    federation: &Federation,
    config: &SimulationConfig,
) -> Result<Vec<CategoryRouting>, SimulationError> {
    let mut out = Vec::new();
    for category in &federation.categories {
        let id = category.id.as_str();
        let routing = CategoryRouting {
            category: id.to_owned(),
            mode: if config.pull_categories.iter().any(|c| c == id) {
                Mode::Pull
            } else {
                Mode::Push
            },
            ring_timeouts: if category.urgent {
                config.urgent_ring_timeouts.to_vec()
            } else {
                config.ring_timeouts.to_vec()
            },
            offer_timeout: if category.urgent {
                config.urgent_offer_timeout_secs
            } else {
                config.offer_timeout_secs
            },
            fair_share_per_10k: config
                .fair_share
                .as_ref()
                .filter(|f| f.category == id)
                .map(|f| f.per_10k),
        };
        routing.check().map_err(|field| {
            SimulationError::Invalid(format!("routing of {id}: invalid {field}"))
        })?;
        out.push(routing);
    }
    Ok(out)
}

/// One request as it will be submitted.
#[derive(Clone, Debug)]
struct Arrival {
    at: DateTime<Utc>,
    category: String,
    language: String,
    citizen: Option<Citizen>,
    /// Where an anonymous visitor says they live (R1), or a protected citizen wants help (R3).
    stated_municipality: Option<String>,
    child_municipality: Option<String>,
    consent: bool,
}

/// How common each category is among requests; a category this table does not know (another
/// federation's) gets an ordinary weight.
fn category_weight(id: &str, urgent: bool, kind: CategoryKind) -> u64 {
    match id {
        "ekonomi" => 220,
        "familj" => 150,
        "beroende" => 140,
        "foraldraskap" => 80,
        "ekonomiskt_bistand" => 80,
        "anhorig" => 60,
        "aldre" => 60,
        "funktionsnedsattning" => 50,
        "ovrigt" => 50,
        "familjeradgivning" => 40,
        "vald" => 40,
        "oro_barn" => 20,
        // Nobody on staff has the skill until the volunteer channel opens: rare and stuck.
        "praktisk_hjalp" => 3,
        _ if kind == CategoryKind::Volunteer => 3,
        _ if urgent => 20,
        _ => 50,
    }
}

/// The languages are listed most requested first: Swedish takes 70 %, each next one half of
/// what the one before it takes of the rest.
fn language_weights(count: usize) -> Vec<u64> {
    (0..count)
        .map(|i| match i {
            0 => 700,
            _ => (300u64 >> i.min(63)).max(1),
        })
        .collect()
}

fn arrivals(
    federation: &Federation,
    config: &SimulationConfig,
    rng: &mut SplitMix64,
) -> Result<Vec<Arrival>, SimulationError> {
    let opening = instant(DAY, OPENING_HOUR_LOCAL)?;
    let today = clock::local_date(opening);
    let categories: Vec<_> = federation.categories.iter().collect();
    let category_weights: Vec<u64> = categories
        .iter()
        .map(|c| category_weight(c.id.as_str(), c.urgent, c.kind))
        .collect();
    let language_weights = language_weights(federation.languages.len());
    let population: Vec<u64> = federation
        .municipalities
        .iter()
        .map(|m| u64::from(m.population.max(1)))
        .collect();
    let hours: Vec<u64> = HOURLY_WEIGHTS.iter().map(|w| u64::from(*w)).collect();
    let b = &config.behaviour;
    let mut returning: Vec<Citizen> = Vec::new();
    let mut out = Vec::new();
    for _ in 0..config.requests {
        let hour = u32::try_from(rng.weighted(&hours)).unwrap_or(0);
        let at = instant(DAY, OPENING_HOUR_LOCAL + hour)? + Duration::seconds(rng.between(0, 3599));
        let category = categories[rng.weighted(&category_weights)];
        let language = federation.languages[rng.weighted(&language_weights)]
            .as_str()
            .to_owned();
        let home = federation.municipalities[rng.weighted(&population)]
            .code
            .as_str()
            .to_owned();
        let mut arrival = Arrival {
            at,
            category: category.id.as_str().to_owned(),
            language,
            citizen: None,
            stated_municipality: None,
            child_municipality: None,
            consent: false,
        };
        if rng.chance(b.anonymous_share) {
            arrival.stated_municipality = Some(home.clone());
        } else if !returning.is_empty() && rng.chance(0.08) {
            // Someone asking again the same day: continuity gets a say.
            let i = usize::try_from(rng.below(returning.len() as u64)).unwrap_or(0);
            arrival.citizen = Some(returning[i].clone());
            arrival.consent = rng.chance(b.consent_share);
        } else if let Some(citizen) = citizen(rng, &home, today) {
            if citizen.protection.is_strict() {
                arrival.stated_municipality = Some(home.clone());
            }
            returning.push(citizen.clone());
            arrival.citizen = Some(citizen);
            arrival.consent = rng.chance(b.consent_share);
        } else {
            arrival.stated_municipality = Some(home.clone());
        }
        if category.is_child_concern() {
            // Mostly about a child in the caller's own municipality, sometimes elsewhere (R10).
            arrival.child_municipality = Some(if rng.chance(0.85) {
                home.clone()
            } else {
                federation.municipalities[rng.weighted(&population)]
                    .code
                    .as_str()
                    .to_owned()
            });
        }
        out.push(arrival);
    }
    // Stable: equal instants keep their drawing order.
    out.sort_by_key(|a| a.at);
    Ok(out)
}

/// An identified citizen living in `home`: mostly adults, a few minors (R14) and a few with
/// protected identity (R11, R12). `None` if the drawn date cannot make a number.
fn citizen(rng: &mut SplitMix64, home: &str, today: NaiveDate) -> Option<Citizen> {
    let minor = rng.chance(0.04);
    let age = if minor {
        rng.between(15, 17)
    } else {
        rng.between(19, 85)
    };
    let year = i32::try_from(i64::from(chrono::Datelike::year(&today)) - age).ok()?;
    let month = u32::try_from(rng.between(1, 12)).ok()?;
    let day = u32::try_from(rng.between(1, 28)).ok()?;
    let birth = NaiveDate::from_ymd_opt(year, month, day)?;
    // Serial 000 is never issued (R2).
    let serial = u16::try_from(rng.between(1, 999)).ok()?;
    let number = Personnummer::from_parts(birth, serial, false)?;
    let protection = match rng.below(1000) {
        0..=9 => Protection::SkyddadFolkbokforing,
        10..=19 => Protection::Sekretessmarkering,
        _ => Protection::None,
    };
    Some(Citizen {
        personnummer: Some(number),
        id_confirmed: true,
        eidas: None,
        home: MunicipalityCode::parse(home).ok()?,
        protection,
        loa: Loa::Loa3,
    })
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    /// Queued or offered.
    Waiting,
    Assigned {
        owner: String,
    },
    Closed,
    /// Cancelled by the citizen after waiting too long.
    GaveUp,
}

/// What the simulation knows about one request.
#[derive(Clone, Debug)]
struct SimCase {
    id: String,
    category: String,
    language: String,
    home: String,
    urgent: bool,
    child_concern: bool,
    push: bool,
    protected_identity: bool,
    submitted_at: DateTime<Utc>,
    /// Since submission or the last release.
    waiting_since: DateTime<Utc>,
    /// When a caseworker may next notice it in a queue.
    look_after: DateTime<Utc>,
    /// How long the citizen waits for someone to take it before cancelling.
    patience: Duration,
    key: CitizenKey,
    first_assigned_at: Option<DateTime<Utc>>,
    /// The municipality of the latest owner.
    handler: Option<String>,
    released_by: Option<String>,
    /// The routing policy's output, fixed at submission (nothing in a simulated day changes
    /// consent or agreements).
    permits: Vec<Permit>,
    phase: Phase,
}

impl SimCase {
    /// Whether `municipality` may have the case at the ring it has reached.
    fn permits(&self, municipality: &str, ring: i64) -> bool {
        self.permits
            .iter()
            .any(|p| p.municipality.as_str() == municipality && p.ring <= ring)
    }
}

#[derive(Clone, Debug)]
enum Action {
    Accept {
        offer_id: String,
        caseworker: String,
    },
    Reject {
        offer_id: String,
        caseworker: String,
    },
    Finish {
        case: usize,
        caseworker: String,
        release: bool,
    },
    Away {
        caseworker: String,
    },
    Back {
        caseworker: String,
    },
}

struct Sim {
    ctx: Context,
    clock: Arc<ManualClock>,
    config: SimulationConfig,
    rng: SplitMix64,
    caseworkers: usize,
    /// What subscribers hear; the simulated caseworkers learn of their offers from it, as
    /// their browsers would over server-sent events.
    notices: broadcast::Receiver<Notice>,
    push_categories: BTreeSet<String>,
    cases: Vec<SimCase>,
    index: BTreeMap<String, usize>,
    /// Cases in `Phase::Waiting`.
    waiting: BTreeSet<usize>,
    /// What caseworkers will do, by when (the sequence number keeps equal instants in order).
    agenda: BTreeMap<(DateTime<Utc>, u64), Action>,
    sequence: u64,
    steps: u64,
    /// The latest `Store::staff` snapshot, with this minute's claims added to the loads.
    staff: Vec<(Caseworker, u32)>,
    seen_offers: BTreeSet<String>,
    /// Cases with an open offer, from the latest sweep and the notices since.
    offered: BTreeSet<String>,
    reported_multiple_offers: BTreeSet<String>,
    gave_up: Vec<WaitingRequest>,
    /// When each caseworker next looks at their queue.
    next_look: BTreeMap<String, DateTime<Utc>>,
    last_progress: DateTime<Utc>,
    casework: CaseworkStats,
    router: RouterStats,
    violations: Violations,
    notes: Vec<String>,
}

impl Sim {
    fn new(ctx: Context, clock: Arc<ManualClock>, config: SimulationConfig, staff: usize) -> Sim {
        let now = clock.now();
        let notices = ctx.notices.subscribe();
        let push_categories = ctx
            .federation()
            .categories
            .iter()
            .map(|c| c.id.as_str().to_owned())
            .filter(|id| !config.pull_categories.contains(id))
            .collect();
        Sim {
            ctx,
            clock,
            rng: SplitMix64::new(config.seed ^ 0xB0_57A7),
            config,
            caseworkers: staff,
            notices,
            push_categories,
            cases: Vec::new(),
            index: BTreeMap::new(),
            waiting: BTreeSet::new(),
            agenda: BTreeMap::new(),
            sequence: 0,
            steps: 0,
            staff: Vec::new(),
            seen_offers: BTreeSet::new(),
            offered: BTreeSet::new(),
            reported_multiple_offers: BTreeSet::new(),
            gave_up: Vec::new(),
            next_look: BTreeMap::new(),
            last_progress: now,
            casework: CaseworkStats::default(),
            router: RouterStats::default(),
            violations: Violations::default(),
            notes: Vec::new(),
        }
    }

    fn note(&mut self, text: String) {
        if self.notes.len() < MAX_NOTES {
            self.notes.push(text);
        }
    }

    fn schedule(&mut self, at: DateTime<Utc>, action: Action) {
        self.sequence += 1;
        self.agenda.insert((at, self.sequence), action);
    }

    /// A workflow error the simulation did not expect: a database failure ends the run, any
    /// other is counted and described.
    fn unexpected(&mut self, what: &str, error: workflow::Error) -> Result<(), SimulationError> {
        if let workflow::Error::Internal(_) | workflow::Error::Unavailable(_) = error {
            return Err(SimulationError::Workflow(error));
        }
        self.violations.unexpected_errors += 1;
        let at = self.clock.now();
        self.note(format!("{at}: {what}: {error} ({error:?})"));
        Ok(())
    }

    fn caseworker(&self, id: &str) -> Option<Caseworker> {
        self.staff
            .iter()
            .find(|(c, _)| c.id.as_str() == id)
            .map(|(c, _)| c.clone())
    }

    /// When a waiting case is first noticed in a queue: a pull-mode case after a reaction
    /// time, a push-mode one only once offers have failed to place it for a while.
    fn first_look(&mut self, push: bool, since: DateTime<Utc>) -> DateTime<Utc> {
        if push {
            since + Duration::minutes(STRAGGLER_MINUTES)
        } else {
            since + Duration::seconds(self.rng.between(30, 180))
        }
    }

    async fn run(&mut self, arrivals: Vec<Arrival>) -> Result<Report, SimulationError> {
        let step = Duration::seconds(self.config.step_secs);
        self.staff = self.ctx.store.staff().await?;
        if self.config.behaviour.lunch_breaks {
            self.plan_lunches()?;
        }
        // Nothing happens before the first request: skip there in whole steps.
        if let Some(first) = arrivals.first() {
            let idle = (first.at - self.clock.now()).num_seconds() / self.config.step_secs;
            if idle > 0 {
                self.clock.advance(step * i32::try_from(idle).unwrap_or(0));
            }
        }
        let started_at = self.clock.now();
        let last_arrival = arrivals.last().map_or(started_at, |a| a.at);
        let hard_stop = last_arrival + Duration::hours(MAX_DRAIN_HOURS);
        let mut next = 0;
        loop {
            let now = self.clock.now();
            while let Some(arrival) = arrivals.get(next).filter(|a| a.at <= now) {
                next += 1;
                self.submit(arrival).await?;
            }
            self.perform_due(now).await?;
            let tick = self.ctx.tick().await?;
            self.router.ticks += 1;
            self.router.offers_made += tick.offers_made;
            self.router.offers_expired += tick.offers_expired;
            self.router.widened += tick.widened;
            self.router.interpreter_flagged += tick.interpreter_flagged;
            if self.steps.is_multiple_of(SWEEP_EVERY_STEPS) {
                self.sweep().await?;
            }
            self.steps += 1;
            self.hear_offers().await?;
            self.give_up().await?;
            self.looks().await?;
            if next >= arrivals.len() && self.finished(now, hard_stop) {
                break;
            }
            self.clock.advance(step);
        }
        self.sweep().await?;
        self.report(started_at).await
    }

    fn finished(&self, now: DateTime<Utc>, hard_stop: DateTime<Utc>) -> bool {
        if now >= hard_stop {
            return true;
        }
        let holding = self
            .cases
            .iter()
            .any(|c| matches!(c.phase, Phase::Assigned { .. }));
        let lunch_pending = self
            .agenda
            .values()
            .any(|a| matches!(a, Action::Back { .. }));
        !holding
            && !lunch_pending
            && (self.waiting.is_empty()
                || now - self.last_progress >= Duration::minutes(SETTLE_MINUTES))
    }

    /// Every caseworker is away once, for 30–45 minutes starting 11:00–12:30 local time.
    fn plan_lunches(&mut self) -> Result<(), SimulationError> {
        let first = instant(DAY, 11)?;
        let ids: Vec<String> = self
            .staff
            .iter()
            .map(|(c, _)| c.id.as_str().to_owned())
            .collect();
        for id in ids {
            let start = first + Duration::minutes(self.rng.between(0, 90));
            let back = start + Duration::minutes(self.rng.between(30, 45));
            self.schedule(
                start,
                Action::Away {
                    caseworker: id.clone(),
                },
            );
            self.schedule(back, Action::Back { caseworker: id });
        }
        Ok(())
    }

    async fn submit(&mut self, arrival: &Arrival) -> Result<(), SimulationError> {
        let n = self.cases.len() + 1;
        let input = SubmitInput {
            category: arrival.category.clone(),
            language: arrival.language.clone(),
            text: format!("Simulerad förfrågan nummer {n}."),
            consent: ConsentInput {
                cross_municipality: arrival.consent,
                municipalities: None,
            },
            municipality: arrival.stated_municipality.clone(),
            child_municipality: arrival.child_municipality.clone(),
            urgent: false,
        };
        let submitted = match self.ctx.submit(arrival.citizen.as_ref(), input).await {
            Ok(s) => s,
            Err(e @ (workflow::Error::Internal(_) | workflow::Error::Unavailable(_))) => {
                return Err(e.into());
            }
            Err(e) => {
                // Every generated request is valid: a refusal loses a request.
                self.violations.unaccounted += 1;
                self.note(format!(
                    "request {n} ({} from {:?}) refused: {e}",
                    arrival.category, arrival.stated_municipality
                ));
                return Ok(());
            }
        };
        let case = submitted.case;
        // A request that records no identity (R16) is followed by its access code even when
        // a logged-in citizen made it.
        let local = crate::workflow::limits::Client::Local;
        let key = match (&arrival.citizen, submitted.access_code) {
            (_, Some(code)) => CitizenKey::AccessCode {
                code,
                client: local,
            },
            (Some(citizen), None) => CitizenKey::Citizen(citizen.clone()),
            (None, None) => {
                self.violations.unaccounted += 1;
                self.note(format!("{}: anonymous without an access code", case.id));
                CitizenKey::AccessCode {
                    code: String::new(),
                    client: local,
                }
            }
        };
        if self.ctx.store.traces(&case.id).await?.is_empty() {
            self.violations.missing_trace += 1;
            self.note(format!("{}: no routing trace after submission", case.id));
        }
        let permits = self.ctx.store.permits(&case.id).await?;
        let push = self.push_categories.contains(case.category.as_str());
        let now = self.clock.now();
        let look_after = self.first_look(push, now);
        let (lo, hi) = self.config.behaviour.patience_minutes;
        let patience = Duration::minutes(self.rng.between(lo, hi));
        let i = self.cases.len();
        self.index.insert(case.id.as_str().to_owned(), i);
        self.cases.push(SimCase {
            id: case.id.as_str().to_owned(),
            category: case.category.as_str().to_owned(),
            language: case.language.as_str().to_owned(),
            home: case.home.as_str().to_owned(),
            urgent: case.urgent,
            child_concern: case.is_child_concern(),
            push,
            protected_identity: arrival
                .citizen
                .as_ref()
                .is_some_and(|c| c.protection.is_strict()),
            submitted_at: case.created_at,
            waiting_since: now,
            look_after,
            patience,
            key,
            first_assigned_at: None,
            handler: None,
            released_by: None,
            permits,
            phase: Phase::Waiting,
        });
        self.waiting.insert(i);
        Ok(())
    }

    async fn perform_due(&mut self, now: DateTime<Utc>) -> Result<(), SimulationError> {
        while let Some(entry) = self.agenda.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let action = entry.remove();
            self.perform(action).await?;
        }
        Ok(())
    }

    async fn perform(&mut self, action: Action) -> Result<(), SimulationError> {
        match action {
            Action::Accept {
                offer_id,
                caseworker,
            } => {
                let Some(cw) = self.caseworker(&caseworker) else {
                    return Ok(());
                };
                match self.ctx.accept_offer(&cw, &offer_id).await {
                    Ok(shown) => self.assigned(shown.case, &cw)?,
                    // Too late, rescinded when they went to lunch, or withdrawn by a citizen
                    // who gave up: the offer is gone.
                    Err(workflow::Error::Conflict(TransitionError::OfferExpired)) => {
                        let withdrawn = match OfferId::parse(&offer_id) {
                            Ok(id) => self
                                .ctx
                                .store
                                .offer(&id)
                                .await?
                                .is_some_and(|o| o.outcome == Some(OfferOutcome::Withdrawn)),
                            Err(_) => false,
                        };
                        if !withdrawn {
                            self.casework.late_accepts += 1;
                        }
                    }
                    Err(e) => self.unexpected(&format!("{caseworker} accepts {offer_id}"), e)?,
                }
            }
            Action::Reject {
                offer_id,
                caseworker,
            } => {
                let Some(cw) = self.caseworker(&caseworker) else {
                    return Ok(());
                };
                match self.ctx.reject_offer(&cw, &offer_id).await {
                    Ok(()) | Err(workflow::Error::Conflict(TransitionError::OfferExpired)) => {}
                    Err(e) => self.unexpected(&format!("{caseworker} rejects {offer_id}"), e)?,
                }
            }
            Action::Finish {
                case,
                caseworker,
                release,
            } => self.finish(case, &caseworker, release).await?,
            Action::Away { caseworker } => {
                self.availability(&caseworker, Availability::Away).await?;
                self.casework.lunch_breaks += 1;
            }
            Action::Back { caseworker } => {
                self.availability(&caseworker, Availability::Available)
                    .await?;
            }
        }
        Ok(())
    }

    async fn availability(
        &mut self,
        caseworker: &str,
        status: Availability,
    ) -> Result<(), SimulationError> {
        let Some(cw) = self.caseworker(caseworker) else {
            return Ok(());
        };
        match self.ctx.set_availability(&cw, status, None).await {
            Ok(updated) => {
                if let Some(entry) = self.staff.iter_mut().find(|(c, _)| c.id == updated.id) {
                    entry.0 = updated;
                }
                Ok(())
            }
            Err(e) => self.unexpected(&format!("{caseworker} becomes {}", status.as_str()), e),
        }
    }

    async fn finish(
        &mut self,
        i: usize,
        caseworker: &str,
        release: bool,
    ) -> Result<(), SimulationError> {
        let Some(cw) = self.caseworker(caseworker) else {
            return Ok(());
        };
        let id = self.cases[i].id.clone();
        let now = self.clock.now();
        if release {
            match self.ctx.release(&cw, &id).await {
                Ok(_) => {
                    self.casework.releases += 1;
                    let push = self.cases[i].push;
                    let look_after = self.first_look(push, now);
                    let case = &mut self.cases[i];
                    case.phase = Phase::Waiting;
                    case.waiting_since = now;
                    case.look_after = look_after;
                    case.released_by = Some(cw.id.as_str().to_owned());
                    self.waiting.insert(i);
                    self.last_progress = now;
                }
                Err(e) => self.unexpected(&format!("{caseworker} releases {id}"), e)?,
            }
        } else {
            match self.ctx.close(&cw, &id, Outcome::AdviceGiven).await {
                Ok(_) => {
                    self.casework.closed += 1;
                    self.cases[i].phase = Phase::Closed;
                    self.last_progress = now;
                }
                Err(e) => self.unexpected(&format!("{caseworker} closes {id}"), e)?,
            }
        }
        Ok(())
    }

    /// A caseworker got the case (accepted offer or claim): check it, then plan its end.
    fn assigned(&mut self, case: Case, cw: &Caseworker) -> Result<(), SimulationError> {
        let now = self.clock.now();
        let Some(&i) = self.index.get(case.id.as_str()) else {
            self.violations.unaccounted += 1;
            self.note(format!("{}: assigned but never submitted", case.id));
            return Ok(());
        };
        if let Phase::Assigned { owner } = &self.cases[i].phase {
            self.violations.double_owner += 1;
            let owner = owner.clone();
            self.note(format!(
                "{}: taken by {} while {owner} had it",
                case.id, cw.id
            ));
        }
        if case.state != CaseState::Assigned
            || case.owner.as_ref() != Some(&cw.id)
            || case.handler.as_ref() != Some(&cw.municipality)
        {
            self.violations.owner_mismatch += 1;
            self.note(format!(
                "{}: {} took it but it is {} owned by {:?} in {:?}",
                case.id, cw.id, case.state, case.owner, case.handler
            ));
        }
        if !self.cases[i].permits(cw.municipality.as_str(), case.ring) {
            self.violations.outside_permits += 1;
            self.note(format!(
                "{}: assigned in {} at ring {}, outside its permits",
                case.id, cw.municipality, case.ring
            ));
        }
        if self.cases[i].protected_identity && !cw.protected_identity_clearance {
            self.violations.uncleared_protected_identity += 1;
            self.note(format!(
                "{}: protected identity (R11) assigned to {} without clearance",
                case.id, cw.id
            ));
        }
        self.offered.remove(case.id.as_str());
        let sim = &mut self.cases[i];
        sim.phase = Phase::Assigned {
            owner: cw.id.as_str().to_owned(),
        };
        sim.handler = Some(cw.municipality.as_str().to_owned());
        if sim.first_assigned_at.is_none() {
            sim.first_assigned_at = Some(case.assigned_at.unwrap_or(now));
        }
        let may_release = sim.released_by.is_none();
        self.waiting.remove(&i);
        self.last_progress = now;
        let b = &self.config.behaviour;
        let (release_share, (lo, hi)) = (b.release_share, b.handling_minutes);
        let release = may_release && self.rng.chance(release_share);
        let after = if release {
            Duration::minutes(self.rng.between(2, 10))
        } else {
            Duration::minutes(self.rng.between(lo, hi))
        };
        self.schedule(
            now + after,
            Action::Finish {
                case: i,
                caseworker: cw.id.as_str().to_owned(),
                release,
            },
        );
        Ok(())
    }

    /// Once a simulated minute: the staff snapshot and every open offer, the invariants on
    /// them, and any offer the notices did not bring (a lagging receiver).
    async fn sweep(&mut self) -> Result<(), SimulationError> {
        let now = self.clock.now();
        self.staff = self.ctx.store.staff().await?;
        let over: Vec<(CaseworkerId, u32)> = self
            .staff
            .iter()
            .filter(|(c, open)| *open > c.capacity)
            .map(|(c, _)| (c.id.clone(), c.capacity))
            .collect();
        for (id, capacity) in over {
            // R10 lets a child concern past capacity; nothing else may be.
            let held = self.ctx.store.cases_of_owner(&id).await?;
            let counted = held.iter().filter(|c| !c.is_child_concern()).count();
            if counted > usize::try_from(capacity).unwrap_or(usize::MAX) {
                self.violations.over_capacity += 1;
                self.note(format!(
                    "{now}: {id} holds {counted} cases besides child concerns, capacity {capacity}"
                ));
            }
        }
        // The store lists unended offers expired by a given instant; a year ahead (a four-digit
        // year, as the stored text compares) names every open offer in one query.
        let open = self
            .ctx
            .store
            .expired_offers(now + Duration::days(365))
            .await?;
        let mut per_case: BTreeMap<&str, u32> = BTreeMap::new();
        for offer in &open {
            *per_case.entry(offer.case_id.as_str()).or_default() += 1;
        }
        let multiple: Vec<String> = per_case
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(id, _)| (*id).to_owned())
            .collect();
        self.offered = per_case.keys().map(|id| (*id).to_owned()).collect();
        for id in multiple {
            if self.reported_multiple_offers.insert(id.clone()) {
                self.violations.multiple_open_offers += 1;
                self.note(format!("{now}: {id} has more than one open offer"));
            }
        }
        for offer in open {
            if self.seen_offers.insert(offer.id.as_str().to_owned()) {
                self.offer_seen(offer).await?;
            }
        }
        Ok(())
    }

    /// Offers made and ended since the last step, from the notices.
    async fn hear_offers(&mut self) -> Result<(), SimulationError> {
        let mut created = Vec::new();
        let mut lagged = false;
        loop {
            match self.notices.try_recv() {
                Ok(Notice::Case(notice)) => match (notice.event, notice.case_id) {
                    (Published::OfferCreated, Some(case_id)) => {
                        self.offered.insert(case_id.as_str().to_owned());
                        if let Some(caseworker) = notice.caseworker {
                            created.push((case_id, caseworker));
                        }
                    }
                    (Published::OfferExpired, Some(case_id)) => {
                        self.offered.remove(case_id.as_str());
                    }
                    _ => {}
                },
                Ok(Notice::LoginEnded { .. }) => {}
                // Missed notices: a sweep lists every open offer instead.
                Err(broadcast::error::TryRecvError::Lagged(_)) => lagged = true,
                Err(_) => break,
            }
        }
        if lagged {
            return self.sweep().await;
        }
        for (case, caseworker) in created {
            let Some(offer) = self.ctx.store.open_offer_of_case(&case).await? else {
                continue;
            };
            if offer.caseworker == caseworker
                && self.seen_offers.insert(offer.id.as_str().to_owned())
            {
                self.offer_seen(offer).await?;
            }
        }
        Ok(())
    }

    /// A new offer: check it, then decide what the caseworker will do with it.
    async fn offer_seen(&mut self, offer: Offer) -> Result<(), SimulationError> {
        let Some(case) = self.ctx.store.case(&offer.case_id).await? else {
            self.violations.unaccounted += 1;
            self.note(format!(
                "offer {} for unknown case {}",
                offer.id, offer.case_id
            ));
            return Ok(());
        };
        let Some(&i) = self.index.get(case.id.as_str()) else {
            self.violations.unaccounted += 1;
            self.note(format!(
                "offer {} for unsubmitted case {}",
                offer.id, case.id
            ));
            return Ok(());
        };
        if case.state != CaseState::Offered || case.owner.as_ref() != Some(&offer.caseworker) {
            self.violations.offer_state_mismatch += 1;
            self.note(format!(
                "{}: open offer {} to {} but the case is {} for {:?}",
                case.id, offer.id, offer.caseworker, case.state, case.owner
            ));
        }
        let Some(cw) = self.caseworker(offer.caseworker.as_str()) else {
            self.violations.unaccounted += 1;
            self.note(format!(
                "offer {} to unknown {}",
                offer.id, offer.caseworker
            ));
            return Ok(());
        };
        if !self.cases[i].permits(cw.municipality.as_str(), case.ring) {
            self.violations.outside_permits += 1;
            self.note(format!(
                "{}: offered to {} in {} at ring {}, outside its permits",
                case.id, cw.id, cw.municipality, case.ring
            ));
        }
        if self.cases[i].protected_identity && !cw.protected_identity_clearance {
            self.violations.uncleared_protected_identity += 1;
            self.note(format!(
                "{}: protected identity (R11) offered to {} without clearance",
                case.id, cw.id
            ));
        }
        if self
            .ctx
            .store
            // Declines hold for a ring timeout (at least a minute here): an offer back to a
            // caseworker who declined within the last minute is the router's fault.
            .declined(
                &case.id,
                self.ctx.clock.now() - chrono::Duration::seconds(60),
            )
            .await?
            .contains(&offer.caseworker)
        {
            self.violations.reoffered_after_decline += 1;
            self.note(format!(
                "{}: offered again to {}, who had declined it",
                case.id, cw.id
            ));
        }
        if self.cases[i].released_by.as_deref() == Some(cw.id.as_str())
            && matches!(self.cases[i].phase, Phase::Waiting)
        {
            self.casework.offered_back_to_releaser += 1;
        }
        // People answer within the countdown the offer shows them: the router's timeout.
        let window = (offer.expires_at - offer.created_at).num_seconds().max(1);
        let b = self.config.behaviour.clone();
        let roll = self.rng.unit();
        let caseworker = offer.caseworker.as_str().to_owned();
        if roll < b.accept_share {
            let delay = if self.rng.chance(b.late_accept_share) {
                self.rng.between(window + 5, window + 60)
            } else {
                // Inside the window even after waiting for the next step.
                let latest = (window - self.config.step_secs - 5).max(5);
                self.rng.between(5, latest)
            };
            self.schedule(
                offer.created_at + Duration::seconds(delay),
                Action::Accept {
                    offer_id: offer.id.into(),
                    caseworker,
                },
            );
        } else if roll < b.accept_share + b.reject_share {
            let delay = self.rng.between(5, (window / 2).max(5));
            self.schedule(
                offer.created_at + Duration::seconds(delay),
                Action::Reject {
                    offer_id: offer.id.into(),
                    caseworker,
                },
            );
        }
        // Otherwise the caseworker lets it time out; the tick ends it.
        Ok(())
    }

    /// A case the simulation knows by its id.
    async fn stored_case(&self, id: &str) -> Result<Option<Case>, SimulationError> {
        let id = CaseId::parse(id).map_err(|e| SimulationError::Invalid(e.to_string()))?;
        Ok(self.ctx.store.case(&id).await?)
    }

    /// Why a request waits now, in words, and how many routing traces it has.
    async fn waiting_now(&self, case: &Case) -> Result<(String, u32), StoreError> {
        let traces = self.ctx.store.traces(&case.id).await?;
        let all_day = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
        let declined: Vec<String> = self
            .ctx
            .store
            .declined(&case.id, all_day)
            .await?
            .into_iter()
            .map(String::from)
            .collect();
        let reason = waiting_reason(case, traces.last().map(|t| &t.trace), &declined);
        Ok((reason, u32::try_from(traces.len()).unwrap_or(u32::MAX)))
    }

    fn waiting_request(&self, i: usize, case: &Case, reason: (String, u32)) -> WaitingRequest {
        WaitingRequest {
            id: case.id.as_str().to_owned(),
            category: case.category.as_str().to_owned(),
            language: case.language.as_str().to_owned(),
            home: case.home.as_str().to_owned(),
            state: case.state.as_str().to_owned(),
            ring: case.ring,
            waited_secs: (self.clock.now() - self.cases[i].waiting_since).num_seconds(),
            traces: reason.1,
            reason: reason.0,
        }
    }

    /// Citizens whose patience has run out cancel their request; why it still waited is kept.
    async fn give_up(&mut self) -> Result<(), SimulationError> {
        let now = self.clock.now();
        let due: Vec<usize> = self
            .waiting
            .iter()
            .copied()
            .filter(|&i| now - self.cases[i].waiting_since >= self.cases[i].patience)
            .collect();
        for i in due {
            let id = self.cases[i].id.clone();
            let Some(case) = self.stored_case(&id).await? else {
                continue;
            };
            let reason = self.waiting_now(&case).await?;
            if reason.1 == 0 {
                self.violations.missing_trace += 1;
                self.note(format!("{id}: waited without a routing trace"));
            }
            let request = self.waiting_request(i, &case, reason);
            let key = self.cases[i].key.clone();
            match self.ctx.cancel(&key, &id).await {
                Ok(_) => {
                    self.cases[i].phase = Phase::GaveUp;
                    self.waiting.remove(&i);
                    self.offered.remove(&id);
                    self.gave_up.push(request);
                    self.last_progress = now;
                }
                Err(e) => self.unexpected(&format!("the citizen cancels {id}"), e)?,
            }
        }
        Ok(())
    }

    /// Caseworkers with room look at their queue for cases they could take: pull-mode
    /// requests after a reaction time, and push-mode ones no offer has placed for a while
    /// (everyone eligible declined, or was full). A caseworker looks at most every 1–4
    /// minutes; a case nobody could take is looked at again after a while, not every step.
    async fn looks(&mut self) -> Result<(), SimulationError> {
        let now = self.clock.now();
        let mut due: Vec<usize> = self
            .waiting
            .iter()
            .copied()
            .filter(|&i| {
                let c = &self.cases[i];
                c.look_after <= now && !self.offered.contains(&c.id)
            })
            .collect();
        // The queue's own order: urgent first, then oldest.
        due.sort_by_key(|&i| {
            let c = &self.cases[i];
            (!c.urgent, c.waiting_since, c.id.clone())
        });
        for i in due {
            if !self.waiting.contains(&i) {
                continue;
            }
            let Some(case) = self.stored_case(&self.cases[i].id.clone()).await? else {
                continue;
            };
            let again = now + Duration::seconds(self.rng.between(60, 180));
            self.cases[i].look_after = again;
            if case.state != CaseState::Queued {
                continue;
            }
            let sim = &self.cases[i];
            let candidates: Vec<String> = self
                .staff
                .iter()
                .filter(|(c, open)| {
                    c.status == Availability::Available
                        && (sim.child_concern || *open < c.capacity)
                        && c.has_skill(&sim.category)
                        && (case.interpreter_needed || c.speaks(&sim.language))
                        && sim.permits(c.municipality.as_str(), case.ring)
                        // R11: only a cleared caseworker at home may take it.
                        && (!sim.protected_identity
                            || (c.protected_identity_clearance
                                && c.municipality.as_str() == sim.home))
                        && case
                            .target_municipality
                            .as_ref()
                            .is_none_or(|t| *t == c.municipality)
                        && self.next_look.get(c.id.as_str()).is_none_or(|t| *t <= now)
                })
                .map(|(c, _)| c.id.as_str().to_owned())
                .collect();
            if candidates.is_empty() {
                continue;
            }
            let pick = usize::try_from(self.rng.below(candidates.len() as u64)).unwrap_or(0);
            let id = candidates[pick].clone();
            let pause = Duration::seconds(self.rng.between(60, 240));
            self.next_look.insert(id.clone(), now + pause);
            self.look(&id).await?;
        }
        Ok(())
    }

    /// One caseworker lists their queue and claims the first case they can.
    async fn look(&mut self, caseworker: &str) -> Result<(), SimulationError> {
        let Some(cw) = self.caseworker(caseworker) else {
            return Ok(());
        };
        self.casework.queue_looks += 1;
        let items = match self.ctx.queue(&cw).await {
            Ok(items) => items,
            Err(e) => return self.unexpected(&format!("{caseworker} lists the queue"), e),
        };
        for item in items.iter().take(3) {
            match self.ctx.claim(&cw, item.case.id.as_str()).await {
                Ok(shown) => {
                    self.casework.claims += 1;
                    if let Some(entry) = self.staff.iter_mut().find(|(c, _)| c.id == cw.id) {
                        entry.1 += 1;
                    }
                    return self.assigned(shown.case, &cw);
                }
                // Lost to someone faster, full after all, or the municipality's fair share is
                // used up: the next item, as a person would.
                Err(workflow::Error::Conflict(_) | workflow::Error::Denied(_)) => {}
                Err(e) => self.unexpected(&format!("{caseworker} claims {}", item.case.id), e)?,
            }
        }
        Ok(())
    }

    async fn report(&mut self, started_at: DateTime<Utc>) -> Result<Report, SimulationError> {
        let now = self.clock.now();
        let mut outcomes = Outcomes::default();
        let mut waiting_list = Vec::new();
        for i in 0..self.cases.len() {
            let id = self.cases[i].id.clone();
            let Some(case) = self.stored_case(&id).await? else {
                self.violations.unaccounted += 1;
                self.note(format!("{id}: missing from the store"));
                continue;
            };
            let expected = match &self.cases[i].phase {
                Phase::Waiting => matches!(case.state, CaseState::Queued | CaseState::Offered),
                Phase::Assigned { owner } => {
                    case.state.is_owned()
                        && case.owner.as_ref().map(CaseworkerId::as_str) == Some(owner.as_str())
                }
                Phase::Closed => case.state == CaseState::Closed,
                Phase::GaveUp => case.state == CaseState::Cancelled,
            };
            if !expected {
                self.violations.unaccounted += 1;
                let phase = self.cases[i].phase.clone();
                self.note(format!(
                    "{id}: stored as {} ({:?}), simulation saw {phase:?}",
                    case.state, case.owner
                ));
            }
            match case.state {
                CaseState::Closed => outcomes.closed += 1,
                CaseState::Cancelled => outcomes.gave_up += 1,
                CaseState::Assigned | CaseState::WaitingCitizen => outcomes.assigned += 1,
                CaseState::Queued | CaseState::Offered => {
                    outcomes.waiting += 1;
                    let reason = self.waiting_now(&case).await?;
                    if reason.1 == 0 {
                        self.violations.missing_trace += 1;
                        self.note(format!("{id}: waiting without a routing trace"));
                    }
                    waiting_list.push(self.waiting_request(i, &case, reason));
                }
            }
        }
        let offers = offer_stats(&self.ctx.store.offer_counts().await?);
        let wait = |c: &SimCase| {
            c.first_assigned_at
                .map(|t| (t - c.submitted_at).num_seconds())
        };
        let all = WaitStats::of(self.cases.iter().filter_map(wait).collect());
        let urgent = WaitStats::of(
            self.cases
                .iter()
                .filter(|c| c.urgent)
                .filter_map(wait)
                .collect(),
        );
        let non_urgent = WaitStats::of(
            self.cases
                .iter()
                .filter(|c| !c.urgent)
                .filter_map(wait)
                .collect(),
        );
        let assigned: Vec<&SimCase> = self
            .cases
            .iter()
            .filter(|c| c.first_assigned_at.is_some())
            .collect();
        let crossing = |c: &SimCase| c.handler.as_deref().is_some_and(|h| h != c.home);
        let cross = u32::try_from(assigned.iter().filter(|c| crossing(c)).count()).unwrap_or(0);
        let assigned_count = u32::try_from(assigned.len()).unwrap_or(0);
        let cross_border = CrossBorder {
            assigned: assigned_count,
            cross_border: cross,
            share: if assigned_count == 0 {
                0.0
            } else {
                f64::from(cross) / f64::from(assigned_count)
            },
        };
        let count = |it: usize| u32::try_from(it).unwrap_or(u32::MAX);
        let municipalities = self
            .ctx
            .federation()
            .municipalities
            .iter()
            .map(|m| {
                let code = m.code.as_str();
                let home: Vec<&SimCase> = self.cases.iter().filter(|c| c.home == code).collect();
                MunicipalityStats {
                    code: code.to_owned(),
                    name: m.name.clone(),
                    requests: count(home.len()),
                    handled_elsewhere: count(home.iter().filter(|c| crossing(c)).count()),
                    handled_for_others: count(
                        self.cases
                            .iter()
                            .filter(|c| c.home != code && c.handler.as_deref() == Some(code))
                            .count(),
                    ),
                    waiting_at_end: count(waiting_list.iter().filter(|w| w.home == code).count()),
                    gave_up: count(self.gave_up.iter().filter(|w| w.home == code).count()),
                    wait: WaitStats::of(home.iter().filter_map(|c| wait(c)).collect()),
                }
            })
            .collect();
        Ok(Report {
            federation: self.ctx.federation().name.clone(),
            seed: self.config.seed,
            requests: self.config.requests,
            caseworkers: count(self.caseworkers),
            capacity: self.config.capacity,
            step_secs: self.config.step_secs,
            started_at,
            ended_at: now,
            municipalities,
            all,
            urgent,
            non_urgent,
            cross_border,
            offers,
            casework: self.casework.clone(),
            router: self.router.clone(),
            outcomes,
            waiting: waiting_list,
            gave_up: self.gave_up.clone(),
            violations: self.violations.clone(),
            notes: self.notes.clone(),
        })
    }
}

fn offer_stats(counts: &[(String, i64)]) -> OfferStats {
    let mut stats = OfferStats::default();
    for (outcome, n) in counts {
        match outcome.as_str() {
            "accepted" => stats.accepted += n,
            "rejected" => stats.rejected += n,
            "timed_out" => stats.timed_out += n,
            "rescinded" => stats.rescinded += n,
            "open" => stats.open += n,
            _ => stats.other += n,
        }
        stats.made += n;
    }
    stats
}

/// Why a request still waits, in words, from its state and the router's last trace.
fn waiting_reason(case: &Case, trace: Option<&serde_json::Value>, declined: &[String]) -> String {
    if case.state == CaseState::Offered {
        return format!(
            "offered to {}, awaiting an answer",
            case.owner.as_ref().map_or("?", CaseworkerId::as_str)
        );
    }
    let mut parts = Vec::new();
    let Some(trace) = trace else {
        return "queued; no routing trace".to_owned();
    };
    // Tally why caseworkers were filtered out in the rings the request has reached.
    let mut filtered: BTreeMap<String, u32> = BTreeMap::new();
    let rings = trace["rings"].as_array().map_or(&[][..], Vec::as_slice);
    for ring in rings {
        if ring["ring"].as_i64().is_some_and(|r| r > case.ring) {
            continue;
        }
        for f in ring["filtered"].as_array().map_or(&[][..], Vec::as_slice) {
            let reason = f["reason"].as_str().unwrap_or("unknown").to_owned();
            *filtered.entry(reason).or_default() += 1;
        }
    }
    let eligible = trace["ranked"].as_array().is_some_and(|r| !r.is_empty());
    if eligible && declined.is_empty() {
        parts.push("eligible caseworkers exist; waiting to be offered or claimed".to_owned());
    } else if filtered.is_empty() && rings.iter().all(|r| r["filtered"].as_array().is_none()) {
        parts.push("nobody permitted to take it".to_owned());
    } else {
        let tally: Vec<String> = filtered.iter().map(|(r, n)| format!("{r} {n}")).collect();
        parts.push(format!("no eligible caseworker ({})", tally.join(", ")));
    }
    if !declined.is_empty() {
        parts.push(format!("declined by {}", declined.len()));
    }
    if case.interpreter_needed {
        parts.push("interpreter needed".to_owned());
    }
    let refused = trace["refused"].as_array().map_or(0, Vec::len);
    if refused > 0 {
        parts.push(format!("{refused} municipalities refused by policy"));
    }
    format!("queued in ring {}: {}", case.ring, parts.join("; "))
}

fn duration(secs: Option<i64>) -> String {
    match secs {
        None => "–".to_owned(),
        Some(s) if s < 60 => format!("{s}s"),
        Some(s) if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        Some(s) => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

fn local_time(t: DateTime<Utc>) -> String {
    t.with_timezone(&clock::TIME_ZONE)
        .format("%H:%M")
        .to_string()
}

/// The most waiting or given-up requests the table lists one by one (JSON has them all).
const LISTED: usize = 12;

fn list_requests(f: &mut fmt::Formatter<'_>, title: &str, list: &[WaitingRequest]) -> fmt::Result {
    if list.is_empty() {
        return Ok(());
    }
    writeln!(f, "{title} ({}):", list.len())?;
    for w in list.iter().take(LISTED) {
        writeln!(
            f,
            "  {} {} in {} from {}, {} after {}: {}",
            w.id,
            w.category,
            w.language,
            w.home,
            w.state,
            duration(Some(w.waited_secs)),
            w.reason
        )?;
    }
    if list.len() > LISTED {
        writeln!(f, "  … and {} more (--json lists all)", list.len() - LISTED)?;
    }
    Ok(())
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Brygga simulation: {}, {} requests, seed {}",
            self.federation, self.requests, self.seed
        )?;
        writeln!(
            f,
            "Simulated {} {}–{} (Stockholm), {}-second steps, {} caseworkers with capacity {}",
            clock::local_date(self.started_at).format("%Y-%m-%d"),
            local_time(self.started_at),
            local_time(self.ended_at),
            self.step_secs,
            self.caseworkers,
            self.capacity
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "Wait from submission to first assignment, by home municipality; \"elsewhere\": its \
             requests handled by another member, \"for others\": other members' requests it handled"
        )?;
        writeln!(
            f,
            "{:<18} {:>8} {:>8} {:>7} {:>7} {:>7} {:>9} {:>10} {:>7} {:>7}",
            "municipality",
            "requests",
            "assigned",
            "p50",
            "p90",
            "p99",
            "elsewhere",
            "for others",
            "gave up",
            "waiting"
        )?;
        let row = |f: &mut fmt::Formatter<'_>, name: &str, requests: u32, wait: &WaitStats| {
            write!(
                f,
                "{:<18} {:>8} {:>8} {:>7} {:>7} {:>7}",
                name,
                requests,
                wait.assigned,
                duration(wait.p50_secs),
                duration(wait.p90_secs),
                duration(wait.p99_secs),
            )
        };
        for m in &self.municipalities {
            row(f, &format!("{} {}", m.code, m.name), m.requests, &m.wait)?;
            writeln!(
                f,
                " {:>9} {:>10} {:>7} {:>7}",
                m.handled_elsewhere, m.handled_for_others, m.gave_up, m.waiting_at_end
            )?;
        }
        row(f, "all", self.requests, &self.all)?;
        writeln!(
            f,
            " {:>9} {:>10} {:>7} {:>7}",
            self.cross_border.cross_border,
            self.cross_border.cross_border,
            self.outcomes.gave_up,
            self.outcomes.waiting
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "Urgent requests: median wait {}, p90 {} ({} assigned); others: median {}, p90 {} ({} assigned)",
            duration(self.urgent.p50_secs),
            duration(self.urgent.p90_secs),
            self.urgent.assigned,
            duration(self.non_urgent.p50_secs),
            duration(self.non_urgent.p90_secs),
            self.non_urgent.assigned,
        )?;
        writeln!(
            f,
            "Cross-border share: {:.1} % ({} of {} assigned requests last handled outside their home)",
            self.cross_border.share * 100.0,
            self.cross_border.cross_border,
            self.cross_border.assigned
        )?;
        let o = &self.offers;
        writeln!(
            f,
            "Offers: {} made, {} accepted, {} rejected, {} timed out, {} rescinded (caseworker away), \
             {} withdrawn or other, {} open",
            o.made, o.accepted, o.rejected, o.timed_out, o.rescinded, o.other, o.open
        )?;
        let c = &self.casework;
        writeln!(
            f,
            "Casework: {} queue looks, {} claims, {} late accepts, {} releases ({} offered back to \
             the releaser), {} closed, {} lunch breaks",
            c.queue_looks,
            c.claims,
            c.late_accepts,
            c.releases,
            c.offered_back_to_releaser,
            c.closed,
            c.lunch_breaks
        )?;
        let r = &self.router;
        writeln!(
            f,
            "Scheduler: {} ticks, {} offers made, {} offers expired, {} rings widened on timeout, \
             {} flagged for an interpreter",
            r.ticks, r.offers_made, r.offers_expired, r.widened, r.interpreter_flagged
        )?;
        writeln!(
            f,
            "At the end: {} closed, {} assigned, {} gave up, {} waiting",
            self.outcomes.closed,
            self.outcomes.assigned,
            self.outcomes.gave_up,
            self.outcomes.waiting
        )?;
        list_requests(f, "Still waiting", &self.waiting)?;
        list_requests(f, "Cancelled by citizens who gave up", &self.gave_up)?;
        let v = &self.violations;
        if v.total() == 0 {
            writeln!(f, "Invariants: no violations")?;
        } else {
            writeln!(f, "Invariants: {} VIOLATIONS", v.total())?;
            for (name, n) in [
                ("over capacity", v.over_capacity),
                ("more than one open offer", v.multiple_open_offers),
                ("offer and case disagree", v.offer_state_mismatch),
                ("outside the permitted municipalities", v.outside_permits),
                ("owner, handler and state disagree", v.owner_mismatch),
                (
                    "protected identity (R11) without clearance",
                    v.uncleared_protected_identity,
                ),
                ("offered again after a decline", v.reoffered_after_decline),
                ("two owners", v.double_owner),
                ("missing routing trace", v.missing_trace),
                ("unaccounted requests", v.unaccounted),
                ("unexpected errors", v.unexpected_errors),
            ] {
                if n > 0 {
                    writeln!(f, "  {name}: {n}")?;
                }
            }
        }
        for note in &self.notes {
            writeln!(f, "  note: {note}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_is_reproducible_and_spreads() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        let xs: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        let mut counts = [0u32; 4];
        for _ in 0..4000 {
            counts[a.weighted(&[1, 1, 1, 1])] += 1;
        }
        assert!(counts.iter().all(|c| (800..1200).contains(c)), "{counts:?}");
        for _ in 0..1000 {
            let v = a.between(3, 5);
            assert!((3..=5).contains(&v));
        }
    }

    #[test]
    fn nearest_rank_percentiles() {
        let w = WaitStats::of((1..=100).rev().collect());
        assert_eq!(
            (w.p50_secs, w.p90_secs, w.p99_secs, w.max_secs),
            (Some(50), Some(90), Some(99), Some(100))
        );
        let one = WaitStats::of(vec![7]);
        assert_eq!((one.p50_secs, one.p99_secs), (Some(7), Some(7)));
        assert_eq!(WaitStats::of(Vec::new()).p50_secs, None);
    }

    #[test]
    fn arrivals_follow_the_federation() {
        let f = Federation::parse_toml(crate::app::BUILTIN_FEDERATION).expect("federation");
        let config = SimulationConfig::new(crate::app::BUILTIN_FEDERATION, 3000, 1);
        let list = arrivals(&f, &config, &mut SplitMix64::new(1)).expect("arrivals");
        assert_eq!(list.len(), 3000);
        assert!(list.windows(2).all(|w| w[0].at <= w[1].at));
        let share = |p: &dyn Fn(&Arrival) -> bool| {
            list.iter().filter(|a| p(a)).count() as f64 / list.len() as f64
        };
        let swedish = share(&|a| a.language == "sv");
        assert!((0.6..0.8).contains(&swedish), "{swedish}");
        let anonymous = share(&|a| a.citizen.is_none());
        assert!((0.15..0.25).contains(&anonymous), "{anonymous}");
        let helsingborg = share(&|a| {
            a.citizen
                .as_ref()
                .map_or(a.stated_municipality.as_deref(), |c| Some(c.home.as_str()))
                == Some("1283")
        });
        assert!((0.35..0.48).contains(&helsingborg), "{helsingborg}");
        let other = arrivals(&f, &config, &mut SplitMix64::new(2)).expect("arrivals");
        assert!(
            list.iter().zip(&other).any(|(a, b)| a.at != b.at),
            "another seed, another day"
        );
        let today = NaiveDate::from_ymd_opt(DAY.0, DAY.1, DAY.2).expect("day");
        for a in &list {
            if let Some(number) = a.citizen.as_ref().and_then(|c| c.personnummer.as_ref()) {
                assert!(
                    Personnummer::parse(number.as_str(), today).is_ok(),
                    "{number:?}"
                );
            }
        }
    }
}

//! The cost of policy decisions (DESIGN.md "Policies" and "Quality bars"): one Cedar
//! authorization, one routing permission check across Familjen Helsingborg's eleven
//! municipalities with and without memo hits, the gate's second decision under a write's lock,
//! and the share of building the Cedar request.
//!
//! Run with `cargo bench --bench policy`; results and their reading are in BENCHMARKS.md.

use std::hint::black_box;
use std::time::Duration;

use chrono::NaiveDate;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

use brygga::app::BUILTIN_FEDERATION;
use brygga::domain::case::{Case, CaseCitizen, CaseState, Channel, Consent};
use brygga::domain::federation::Federation;
use brygga::domain::ids::{CaseId, CaseworkerId, CategoryId, Language, MunicipalityCode};
use brygga::domain::people::{Availability, Caseworker, Loa, Protection};
use brygga::domain::personnummer::Personnummer;
use brygga::policy::engine::{self, Compiled, Version};
use brygga::policy::{
    Action, AgreementFacts, CaseFacts, ConsentFacts, ContextFacts, Engine, HandlerFacts, Identity,
    Principal, Query, Resource, day_number, request_facts,
};

/// Perstorp, the request's home.
const HOME: &str = "1275";
/// Helsingborg, an agreement partner.
const PARTNER: &str = "1283";
/// The agreement that covers `ekonomi` between Perstorp and Helsingborg on `today()`.
const AGREEMENT: &str = "fh-rad-och-stod-2026";

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 23).expect("a valid date")
}

fn federation() -> Federation {
    Federation::parse_toml(BUILTIN_FEDERATION).expect("the built-in federation parses")
}

fn compiled() -> Compiled {
    let schema = engine::schema().expect("the shipped schema parses");
    engine::compile(&engine::default_text(), &schema).expect("the shipped policies compile")
}

/// An identified adult in Perstorp asks for `ekonomi` advice and consents to any partner.
fn request(federation: &Federation) -> CaseFacts {
    let category = federation
        .category("ekonomi")
        .expect("the federation has ekonomi");
    let number = brygga::domain::personnummer::Personnummer::parse_stored("198112189876")
        .expect("a valid number");
    request_facts(
        category,
        HOME,
        &Identity {
            personnummer: Some(&number),
            id_confirmed: true,
            eidas: None,
            anonymous: false,
            protection: None,
            loa: Some("loa3"),
        },
        ConsentFacts {
            cross_municipality: true,
            municipalities: None,
        },
        None,
        today(),
    )
}

/// The agreement as the routing policies read it (the same translation `Engine::route` makes).
fn agreement(federation: &Federation) -> AgreementFacts {
    let a = federation
        .agreements
        .iter()
        .find(|a| a.id == AGREEMENT)
        .expect("the federation has the agreement");
    AgreementFacts::of(a)
}

/// May Helsingborg handle Perstorp's consented `ekonomi` request under the agreement?
fn route_query(federation: &Federation) -> Query {
    Query {
        principal: Principal::Municipality {
            id: PARTNER.to_owned(),
        },
        action: Action::Route,
        resource: Resource::Case(Box::new(request(federation).for_routing())),
        context: ContextFacts {
            today: Some(day_number(today())),
            agreement: Some(agreement(federation)),
            handler: None,
        },
    }
}

/// May a Helsingborg caseworker view that request, queued in ring 1, with Helsingborg
/// permitted in ring 1 (R8 partner metadata)?
fn view_query(federation: &Federation) -> Query {
    let mut case = request(federation);
    case.id = "case-1".to_owned();
    case.ring = 1;
    case.language = "sv".to_owned();
    Query {
        principal: Principal::Caseworker {
            id: "hbg-cw-1".to_owned(),
            municipality: PARTNER.to_owned(),
            protected_identity_clearance: false,
            supervisor: false,
            skills: ["ekonomi".to_owned()].into(),
            languages: ["sv".to_owned(), "en".to_owned()].into(),
        },
        action: Action::View,
        resource: Resource::Case(Box::new(case)),
        context: ContextFacts {
            handler: Some(HandlerFacts {
                permitted: true,
                ring: 1,
            }),
            ..ContextFacts::default()
        },
    }
}

fn authorize(c: &mut Criterion) {
    let federation = federation();
    let compiled = compiled();
    let route = route_query(&federation);
    let view = view_query(&federation);

    // Measure the decisions the scenario is about, not a policy error or a default deny.
    let decision = compiled.decide(None, &route);
    assert!(decision.allowed, "route: {decision:?}");
    assert_eq!(decision.ring, Some(1), "route: {decision:?}");
    assert_eq!(decision.policies, ["R5-agreement-service"], "route");
    let decision = compiled.decide(None, &view);
    assert!(decision.allowed, "view: {decision:?}");
    assert_eq!(decision.policies, ["R8-partner-metadata"], "view");

    let mut group = c.benchmark_group("authorize");
    group.bench_function("one_route_uncached", |b| {
        b.iter(|| compiled.decide(None, black_box(&route)));
    });
    group.bench_function("one_view_uncached", |b| {
        b.iter(|| compiled.decide(None, black_box(&view)));
    });
    group.finish();
}

fn routing(c: &mut Criterion) {
    let federation = federation();
    let compiled = compiled();
    let facts = request(&federation);
    let today = today();
    let engine = Engine::with_defaults().expect("the shipped policies compile");
    engine.activate(Version::new(1, compiled.clone()));

    let permits = engine.permits(&federation, &facts, today);
    assert_eq!(federation.municipalities.len(), 11);
    assert_eq!(permits.permitted.len(), 11, "{permits:?}");

    let mut group = c.benchmark_group("routing");
    // A new version starts with an empty memo, so every timed call makes all eleven Cedar
    // decisions. Activating (and dropping the previous version's memo) happens in the untimed
    // setup; `PerIteration` because the setup's effect is on the shared engine, so it must
    // run right before each timed call, not in a batch ahead of them.
    group.bench_function("permits_11_uncached", |b| {
        b.iter_batched(
            || engine.activate(Version::new(1, compiled.clone())),
            |()| engine.permits(&federation, black_box(&facts), today),
            BatchSize::PerIteration,
        );
    });
    // The same check on a warm memo: eleven memo hits, no Cedar evaluation.
    let warm = Engine::with_defaults().expect("the shipped policies compile");
    warm.permits(&federation, &facts, today);
    group.bench_function("permits_11_memoised", |b| {
        b.iter(|| warm.permits(&federation, black_box(&facts), today));
    });
    group.finish();
}

/// A Helsingborg caseworker who holds Perstorp's consented request (the domain's values, as the
/// workflows have them).
fn held_by_partner() -> (Caseworker, Case) {
    let at = chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("a time");
    let partner = Caseworker {
        id: CaseworkerId::parse("1283-01").expect("id"),
        municipality: MunicipalityCode::parse(PARTNER).expect("code"),
        name: "Handläggare".to_owned(),
        skills: vec![CategoryId::parse("ekonomi").expect("category")],
        languages: vec![Language::parse("sv").expect("language")],
        max_capacity: 5,
        capacity: 5,
        status: Availability::Available,
        protected_identity_clearance: false,
        supervisor: false,
        status_since: at,
        last_assigned_at: None,
    };
    let home = MunicipalityCode::parse(HOME).expect("code");
    let case = Case {
        id: CaseId::parse("case-1").expect("id"),
        category: CategoryId::parse("ekonomi").expect("category"),
        language: Language::parse("sv").expect("language"),
        channel: Channel::Identified,
        urgent: false,
        citizen: Some(CaseCitizen {
            personnummer: Personnummer::parse_stored("198112189876").ok(),
            id_confirmed: true,
            eidas: None,
            registered_home: home.clone(),
        }),
        home,
        protection: Protection::None,
        loa: Some(Loa::Loa3),
        access_code_hash: None,
        state: CaseState::Queued,
        ring: 1,
        owner: None,
        handler: None,
        outcome: None,
        interpreter_needed: false,
        created_at: at,
        updated_at: at,
        queued_since: at,
        closed_at: None,
        ring_since: None,
        assigned_at: None,
        target_municipality: None,
        transfer_reason: None,
        consent: Consent {
            cross_municipality: true,
            municipalities: None,
        },
        harm_assessment: None,
        thinned_at: None,
    };
    (partner, case)
}

/// What the gate's second decision costs: a partner's claim decided again under the case's
/// lock (the routing decision for their municipality and the claim), on a warm memo as it
/// is right after the first decision.
fn gate(c: &mut Criterion) {
    let federation = federation();
    let engine = Engine::with_defaults().expect("the shipped policies compile");
    let (partner, case) = held_by_partner();
    let first = engine.caseworker_may(Action::Claim, &federation, &partner, &case, today());
    assert!(first.allowed, "claim: {first:?}");
    let mut group = c.benchmark_group("gate");
    group.bench_function("claim_recheck_memoised", |b| {
        b.iter(|| {
            engine.caseworker_may(
                Action::Claim,
                &federation,
                &partner,
                black_box(&case),
                today(),
            )
        });
    });
    group.finish();
}

fn request_building(c: &mut Criterion) {
    let federation = federation();
    let route = route_query(&federation);
    route
        .to_cedar(None)
        .expect("the route query builds a Cedar request");

    let mut group = c.benchmark_group("request");
    group.bench_function("build_cedar_request", |b| {
        b.iter(|| black_box(&route).to_cedar(None));
    });
    group.finish();
}

criterion_group! {
    name = benches;
    // Modest, so the whole run stays around a minute; command-line flags still override.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    targets = authorize, routing, gate, request_building
}
criterion_main!(benches);

//! The store conformance suite: the same tests on the `Store` trait itself, against SQLite and
//! PostgreSQL.

use std::sync::Arc;

use brygga::audit::AuditEntry;
use brygga::domain::access::{Actor, ApiToken, Principal, Scope, SystemActor, TokenKind};
use brygga::domain::case::{
    Case, CaseCitizen, CaseEvent, CaseState, Channel, Consent, ConsentActor, ConsentEntry,
    HarmAssessment, HarmAssessmentEntry, Message, Offer, OfferEnd, OfferOutcome, Outcome,
    RoutingTrace, Sender, TransitionError,
};
use brygga::domain::federation::Federation;
use brygga::domain::governance::PolicyVersion;
use brygga::domain::ids::{CaseId, CaseworkerId, CategoryId, Language, MunicipalityCode, OfferId};
use brygga::domain::people::{Availability, Caseworker, Citizen, CitizenRef, Loa, Protection};
use brygga::domain::personnummer::Personnummer;
use brygga::domain::routing::{CategoryRouting, Mode, Permit};
use brygga::store::{
    AuditFilter, CaseWrite, ConsentWrite, HarmWrite, NewApiToken, NewAuditEvent, NewCase,
    NewCitizen, NewMessage, OfferWrite, Recheck, RoutingWrite, Store, StoreError, Transitioned,
};
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::harness::{self, Backend};
use crate::{ANNA, person};

// ---------------------------------------------------------------------------------------------
// The store under test and small builders
// ---------------------------------------------------------------------------------------------

/// A store under test, with its database URL (to write rows behind its back) and the directory
/// of a SQLite file.
struct Db {
    store: Arc<dyn Store>,
    url: String,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for Db {
    type Target = dyn Store;

    fn deref(&self) -> &Self::Target {
        self.store.as_ref()
    }
}

impl Db {
    /// Runs SQL on the database directly, as someone with database access could.
    async fn raw(&self, sql: &str) {
        harness::execute_sql(&self.url, sql).await;
    }
}

/// A fresh, migrated store with nothing in it.
async fn empty(backend: Backend) -> Db {
    let (store, url, dir) = harness::open_store(backend).await;
    Db {
        store,
        url,
        _dir: dir,
    }
}

/// A fresh store with the built-in federation (cases and caseworkers refer to its members
/// and categories).
async fn seeded(backend: Backend) -> Db {
    let db = empty(backend).await;
    db.seed_federation(&federation()).await.expect("seed");
    db
}

fn federation() -> Federation {
    Federation::parse_toml(brygga::app::BUILTIN_FEDERATION).expect("the built-in federation")
}

/// Whole seconds after a fixed start: both databases keep them exactly.
fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_900_000_000 + seconds, 0).expect("a time")
}

fn code(code: &str) -> MunicipalityCode {
    MunicipalityCode::parse(code).expect("a municipality code")
}

fn case_id(id: &str) -> CaseId {
    CaseId::parse(id).expect("a case id")
}

fn worker(id: &str) -> CaseworkerId {
    CaseworkerId::parse(id).expect("a caseworker id")
}

fn offer_id(id: &str) -> OfferId {
    OfferId::parse(id).expect("an offer id")
}

fn category(id: &str) -> CategoryId {
    CategoryId::parse(id).expect("a category")
}

fn language(code: &str) -> Language {
    Language::parse(code).expect("a language")
}

fn anna() -> Personnummer {
    Personnummer::parse_stored(ANNA).expect("Anna's number")
}

/// An available caseworker of `municipality` who gives budget advice in Swedish.
fn caseworker(id: &str, municipality: &str, capacity: u32) -> Caseworker {
    Caseworker {
        id: worker(id),
        municipality: code(municipality),
        name: format!("Handläggare {id}"),
        skills: vec![category("ekonomi")],
        languages: vec![language("sv")],
        max_capacity: capacity,
        capacity,
        status: Availability::Available,
        protected_identity_clearance: false,
        supervisor: false,
        status_since: at(0),
        last_assigned_at: None,
    }
}

async fn add_caseworker(db: &Db, id: &str, municipality: &str, capacity: u32) -> CaseworkerId {
    db.insert_caseworker(&caseworker(id, municipality, capacity))
        .await
        .expect("insert caseworker");
    worker(id)
}

/// An audit event; `municipality` (whose chain) may be left empty where the store fills it
/// in from the case. Staff act for their municipality: an admin's own, a caseworker's the
/// kommunkod their ids begin with in these tests.
fn event(actor: Actor, municipality: &str, action: &str, time: DateTime<Utc>) -> NewAuditEvent {
    let actor_municipality = match &actor {
        Actor::Admin { municipality, .. } => municipality.clone(),
        Actor::Caseworker(id) => id
            .as_str()
            .get(..4)
            .and_then(|m| MunicipalityCode::parse(m).ok()),
        _ => None,
    };
    NewAuditEvent {
        at: time,
        actor,
        actor_municipality,
        municipality: municipality.to_owned(),
        action: action.to_owned(),
        case_id: None,
        policies: vec!["test_policy".to_owned()],
        detail: json!({ "test": true }),
        request_id: None,
        actor_name: None,
    }
}

/// An administrator of `municipality` (the federation's for `None`), as the trail names them.
fn admin_actor(municipality: Option<&str>) -> Actor {
    Actor::Admin {
        id: format!("test-admin-{}", municipality.unwrap_or("federation")),
        municipality: municipality.map(code),
    }
}

fn admin_principal(municipality: Option<&str>) -> Principal {
    Principal::Admin(brygga::domain::Administrator {
        id: format!("test-admin-{}", municipality.unwrap_or("federation")),
        name: "Test Admin".to_owned(),
        municipality: municipality.map(code),
    })
}

/// A permit of `municipality` in `ring`, with the rule that gives it.
fn permit(municipality: &str, ring: i64) -> Permit {
    Permit {
        municipality: code(municipality),
        ring,
        policies: vec![format!("ring_{ring}_permit")],
    }
}

/// Anna's request for budget advice in Swedish from `home`, permitted only there.
fn new_case(id: &str, home: &str, time: DateTime<Utc>) -> NewCase {
    NewCase {
        id: case_id(id),
        category: category("ekonomi"),
        language: language("sv"),
        urgent: false,
        home: code(home),
        citizen: Some(NewCitizen {
            personnummer: Some(anna()),
            id_confirmed: true,
            eidas: None,
            registered_home: code(home),
            protection: Protection::None,
            loa: Loa::Loa3,
        }),
        access_code_hash: None,
        ring: 0,
        interpreter_needed: false,
        permits: vec![permit(home, 0)],
        text: "Jag behöver hjälp med min budget.".to_owned(),
        consent: Consent::default(),
        trace: json!({ "ring": 0, "candidates": [] }),
        at: time,
    }
}

/// The same request from an anonymous visitor.
fn anonymous_case(id: &str, home: &str, time: DateTime<Utc>) -> NewCase {
    NewCase {
        citizen: None,
        access_code_hash: Some(format!("access-code-hash-{id}")),
        ..new_case(id, home, time)
    }
}

async fn create(db: &Db, case: NewCase) -> Case {
    let audit = event(Actor::Citizen, "", "submit", case.at);
    db.create_case(&case, &audit).await.expect("create case")
}

/// The case a `NewCase` must read back as: queued in its ring, nobody holding it.
fn as_created(new: &NewCase) -> Case {
    Case {
        id: new.id.clone(),
        category: new.category.clone(),
        language: new.language.clone(),
        channel: if new.citizen.is_some() {
            Channel::Identified
        } else {
            Channel::Anonymous
        },
        urgent: new.urgent,
        home: new.home.clone(),
        citizen: new.citizen.as_ref().map(|c| CaseCitizen {
            personnummer: c.personnummer.clone(),
            id_confirmed: c.id_confirmed,
            eidas: c.eidas.clone(),
            registered_home: c.registered_home.clone(),
        }),
        protection: new
            .citizen
            .as_ref()
            .map_or(Protection::None, |c| c.protection),
        loa: new.citizen.as_ref().map(|c| c.loa),
        access_code_hash: new.access_code_hash.clone(),
        state: CaseState::Queued,
        ring: new.ring,
        owner: None,
        handler: None,
        outcome: None,
        interpreter_needed: new.interpreter_needed,
        created_at: new.at,
        updated_at: new.at,
        queued_since: new.at,
        closed_at: None,
        ring_since: Some(new.at),
        assigned_at: None,
        target_municipality: None,
        transfer_reason: None,
        consent: new.consent.clone(),
        harm_assessment: None,
        thinned_at: None,
    }
}

/// What a change at `time` by `actor` writes besides the state: only its audit event.
fn change(actor: Actor, action: &str, time: DateTime<Utc>) -> CaseWrite {
    CaseWrite::new(time, event(actor, "", action, time))
}

fn claim_of(caseworker: &CaseworkerId) -> CaseEvent {
    CaseEvent::Claim {
        caseworker: caseworker.clone(),
    }
}

async fn claim(
    db: &Db,
    case: &CaseId,
    caseworker: &CaseworkerId,
    time: DateTime<Utc>,
) -> Result<Transitioned, StoreError> {
    let write = change(Actor::Caseworker(caseworker.clone()), "claim", time);
    db.transition(case, &claim_of(caseworker), &write, None)
        .await
}

/// Runs the claims all at once, each in its own task on the shared store, and returns their
/// results in the order given.
async fn claim_at_once(
    db: &Db,
    claims: Vec<(CaseId, CaseworkerId)>,
) -> Vec<Result<Transitioned, StoreError>> {
    let tasks: Vec<_> = claims
        .into_iter()
        .map(|(case, caseworker)| {
            let store = Arc::clone(&db.store);
            tokio::spawn(async move {
                let write = change(Actor::Caseworker(caseworker.clone()), "claim", at(10));
                store
                    .transition(&case, &claim_of(&caseworker), &write, None)
                    .await
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("the claim's task"));
    }
    results
}

async fn read(db: &Db, id: &CaseId) -> Case {
    db.case(id)
        .await
        .expect("read case")
        .unwrap_or_else(|| panic!("case {id} is stored"))
}

/// The audit events of a case, newest first.
async fn trail(db: &Db, id: &CaseId) -> Vec<AuditEntry> {
    db.audit_events(Some(id), 1000).await.expect("audit events")
}

async fn actions(db: &Db, id: &CaseId) -> Vec<String> {
    trail(db, id).await.into_iter().map(|e| e.action).collect()
}

fn ids(cases: &[Case]) -> Vec<&str> {
    cases.iter().map(|c| c.id.as_str()).collect()
}

/// The reason a transition was refused.
#[track_caller]
fn refused<T: std::fmt::Debug>(result: Result<T, StoreError>) -> TransitionError {
    match result {
        Err(StoreError::Transition(e)) => e,
        other => panic!("expected a refused transition, got {other:?}"),
    }
}

async fn verify(db: &Db) -> brygga::workflow::Verification {
    let key = brygga::audit::AuditKey::new(brygga::app::DEMO_AUDIT_KEY).expect("demo key");
    brygga::workflow::verify_audit(db.store.as_ref(), &key)
        .await
        .expect("verification runs")
}

// ---------------------------------------------------------------------------------------------
// Federation
// ---------------------------------------------------------------------------------------------

/// Members by code and agreements by id: the federation's content without its order.
fn by_content(mut federation: Federation) -> Federation {
    federation
        .municipalities
        .sort_by(|a, b| a.code.cmp(&b.code));
    federation.agreements.sort_by(|a, b| a.id.cmp(&b.id));
    federation
}

/// Nothing is stored before the first seed; the seeded federation reads back with the same
/// content; seeding again (every later start, even from a changed file) is a no-op.
async fn federation_seed_and_load_round_trip(backend: Backend) {
    let db = empty(backend).await;
    assert_eq!(db.load_federation().await.expect("load"), None);

    let given = federation();
    db.seed_federation(&given).await.expect("seed");
    let loaded = db
        .load_federation()
        .await
        .expect("load")
        .expect("a federation");
    assert_eq!(by_content(loaded.clone()), by_content(given.clone()));

    let mut changed = given.clone();
    changed.name = "Ett annat förbund".to_owned();
    changed.municipalities.truncate(2);
    changed.agreements.clear();
    db.seed_federation(&changed).await.expect("second seed");
    db.seed_federation(&given).await.expect("third seed");
    let again = db
        .load_federation()
        .await
        .expect("load")
        .expect("a federation");
    assert_eq!(again, loaded, "a later seed changes nothing");
}

/// The members come back in the order they were given: `Federation::member_for_key` picks a
/// demo citizen's home by position in that list, so a different order after a restart (the
/// stored federation is used from the second start on) would move citizens between
/// municipalities.
async fn federation_keeps_the_order_of_its_members(backend: Backend) {
    let db = empty(backend).await;
    let given = federation();
    db.seed_federation(&given).await.expect("seed");
    let loaded = db
        .load_federation()
        .await
        .expect("load")
        .expect("a federation");
    let order = |f: &Federation| -> Vec<String> {
        f.municipalities
            .iter()
            .map(|m| m.code.to_string())
            .collect()
    };
    for n in 0..100 {
        let key = person(n);
        assert_eq!(
            loaded.member_for_key(&key).code,
            given.member_for_key(&key).code,
            "the demo home of {key} after a restart (members stored as {:?}, given as {:?})",
            order(&loaded),
            order(&given)
        );
    }
    assert_eq!(order(&loaded), order(&given), "members in the file's order");
    assert_eq!(loaded, given);
}

// ---------------------------------------------------------------------------------------------
// Caseworkers
// ---------------------------------------------------------------------------------------------

/// Caseworkers read back equal to what was stored, every typed field included, listed by
/// municipality and id (and in `staff` with their load); a taken id is `Duplicate`; an
/// unknown municipality or a capacity above the maximum is `Constraint`.
async fn caseworkers_round_trip(backend: Backend) {
    let db = seeded(backend).await;
    let demo = brygga::demo::caseworkers(&federation(), 5, at(0));
    assert!(!demo.is_empty());
    for c in &demo {
        db.insert_caseworker(c)
            .await
            .expect("insert demo caseworker");
    }
    let special = Caseworker {
        id: worker("1283-special"),
        municipality: code("1283"),
        name: "Åsa Öberg".to_owned(),
        skills: vec![category("ekonomi"), category("oro_barn")],
        languages: vec![language("sv"), language("ar")],
        max_capacity: 4,
        capacity: 2,
        status: Availability::Away,
        protected_identity_clearance: true,
        supervisor: true,
        status_since: at(7),
        last_assigned_at: Some(at(3)),
    };
    db.insert_caseworker(&special).await.expect("insert");
    assert_eq!(
        db.caseworker(&special.id).await.expect("read"),
        Some(special.clone())
    );
    assert_eq!(db.caseworker(&worker("nobody")).await.expect("read"), None);

    let mut expected = demo.clone();
    expected.push(special.clone());
    expected.sort_by(|a, b| {
        (a.municipality.as_str(), a.id.as_str()).cmp(&(b.municipality.as_str(), b.id.as_str()))
    });
    assert_eq!(db.caseworkers().await.expect("list"), expected);
    let staff: Vec<(Caseworker, u32)> = expected.iter().map(|c| (c.clone(), 0)).collect();
    assert_eq!(db.staff().await.expect("staff"), staff);

    let again = db.insert_caseworker(&special).await;
    assert!(matches!(again, Err(StoreError::Duplicate(_))), "{again:?}");
    let stranger = db
        .insert_caseworker(&caseworker("9999-01", "9999", 3))
        .await;
    assert!(
        matches!(stranger, Err(StoreError::Constraint(_))),
        "{stranger:?}"
    );
    let overfull = Caseworker {
        capacity: 6,
        ..caseworker("1283-overfull", "1283", 5)
    };
    let overfull = db.insert_caseworker(&overfull).await;
    assert!(
        matches!(overfull, Err(StoreError::Constraint(_))),
        "{overfull:?}"
    );
    assert_eq!(db.caseworkers().await.expect("list").len(), expected.len());
}

/// `set_availability` changes status and working capacity (the status time only when the
/// status changes), refuses a capacity above the maximum as `Invalid` (changing nothing) and
/// an unknown caseworker as `NotFound`; `load_of` counts nothing for a caseworker without
/// cases.
async fn availability_respects_the_maximum(backend: Backend) {
    let db = seeded(backend).await;
    let id = worker("1283-01");
    db.insert_caseworker(&Caseworker {
        max_capacity: 4,
        capacity: 2,
        status: Availability::Away,
        ..caseworker("1283-01", "1283", 4)
    })
    .await
    .expect("insert");

    let available = db
        .set_availability(&id, Availability::Available, Some(4), at(20))
        .await
        .expect("available");
    assert_eq!(
        (
            available.status,
            available.capacity,
            available.max_capacity,
            available.status_since
        ),
        (Availability::Available, 4, 4, at(20))
    );
    assert_eq!(
        db.caseworker(&id).await.expect("read"),
        Some(available.clone())
    );

    let same = db
        .set_availability(&id, Availability::Available, None, at(30))
        .await
        .expect("same status");
    assert_eq!(
        (same.capacity, same.status_since),
        (4, at(20)),
        "the status did not change, nor its time"
    );
    let lowered = db
        .set_availability(&id, Availability::Available, Some(1), at(35))
        .await
        .expect("lowered");
    assert_eq!(lowered.capacity, 1);

    let above = db
        .set_availability(&id, Availability::Away, Some(5), at(40))
        .await;
    assert!(matches!(above, Err(StoreError::Invalid(_))), "{above:?}");
    assert_eq!(
        db.caseworker(&id).await.expect("read"),
        Some(lowered),
        "unchanged"
    );

    let unknown = db
        .set_availability(&worker("nobody"), Availability::Away, None, at(40))
        .await;
    assert!(matches!(unknown, Err(StoreError::NotFound)), "{unknown:?}");

    assert_eq!(db.load_of(&id).await.expect("load"), 0);
    assert_eq!(db.load_of(&worker("nobody")).await.expect("load"), 0);
}

// ---------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------

/// A request is stored with everything it came with, in one transaction: an identified
/// citizen's, an eIDAS citizen's (no number) and an anonymous visitor's read back equal to
/// what was written, with their permits, first message, first consent, routing trace and one
/// audit event on the home's chain.
async fn created_cases_read_back_as_written(backend: Backend) {
    let db = seeded(backend).await;
    let identified = NewCase {
        category: category("familj"),
        language: language("ar"),
        urgent: true,
        interpreter_needed: true,
        citizen: Some(NewCitizen {
            personnummer: Some(anna()),
            id_confirmed: true,
            eidas: None,
            registered_home: code("1283"),
            protection: Protection::Sekretessmarkering,
            loa: Loa::Loa3,
        }),
        permits: vec![permit("1283", 0), permit("1292", 1), permit("1282", 1)],
        consent: Consent {
            cross_municipality: true,
            municipalities: Some(vec![code("1282"), code("1292")]),
        },
        trace: json!({ "ring": 0, "candidates": ["1283-01"], "chosen": null }),
        ..new_case("identified", "1283", at(10))
    };
    let audit = NewAuditEvent {
        request_id: Some("request-1".to_owned()),
        ..event(Actor::Citizen, "", "submit", at(10))
    };
    let created = db.create_case(&identified, &audit).await.expect("create");
    let expected = as_created(&identified);
    assert_eq!(created, expected);
    assert_eq!(read(&db, &identified.id).await, expected);
    assert_eq!(expected.personnummer(), Some(&anna()));
    assert_eq!(
        db.permits(&identified.id).await.expect("permits"),
        vec![permit("1283", 0), permit("1282", 1), permit("1292", 1)],
        "by ring, then municipality"
    );
    assert_eq!(
        db.messages(&identified.id).await.expect("messages"),
        vec![Message {
            sender: Sender::Citizen,
            author: None,
            body: identified.text.clone(),
            at: at(10),
        }]
    );
    assert_eq!(
        db.consents(&identified.id).await.expect("consents"),
        vec![ConsentEntry {
            consent: identified.consent.clone(),
            at: at(10),
            by: ConsentActor::Citizen,
        }]
    );
    assert_eq!(
        db.traces(&identified.id).await.expect("traces"),
        vec![RoutingTrace {
            at: at(10),
            trace: identified.trace.clone(),
        }]
    );
    assert!(
        db.harm_assessments(&identified.id)
            .await
            .expect("harm")
            .is_empty()
    );
    let events = trail(&db, &identified.id).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let submitted = &events[0];
    assert_eq!(submitted.case_id.as_deref(), Some("identified"));
    assert_eq!(submitted.municipality, "1283", "on the home's chain");
    assert_eq!(
        (submitted.action.as_str(), submitted.actor.as_str()),
        ("submit", "citizen")
    );
    assert_eq!(submitted.role.as_deref(), Some("citizen"));
    assert_eq!(submitted.request_id.as_deref(), Some("request-1"));
    assert_eq!(submitted.policies, vec!["test_policy".to_owned()]);
    assert_eq!(submitted.at, at(10));
    assert_eq!(submitted.seq, Some(1));
    assert_eq!(
        db.audit_chain("1283").await.expect("chain").last(),
        Some(submitted)
    );

    let eidas = NewCase {
        citizen: Some(NewCitizen {
            personnummer: None,
            id_confirmed: true,
            eidas: Some(Citizen::eidas_subject("SE/DE/123456789")),
            registered_home: code("1292"),
            protection: Protection::None,
            loa: Loa::EidasHigh,
        }),
        ..new_case("eidas", "1292", at(20))
    };
    let created = create(&db, eidas.clone()).await;
    assert_eq!(created, as_created(&eidas));
    assert_eq!(
        created.citizen,
        Some(CaseCitizen {
            personnummer: None,
            id_confirmed: true,
            eidas: Some(Citizen::eidas_subject("SE/DE/123456789")),
            registered_home: code("1292"),
        })
    );
    assert_eq!(read(&db, &eidas.id).await, created);
    let subject = Citizen::eidas_subject("SE/DE/123456789");
    assert_eq!(
        db.cases_of_citizen(CitizenRef::Eidas(&subject))
            .await
            .expect("an eIDAS citizen's own requests (R2, R19)"),
        vec![created.clone()]
    );
    assert!(
        db.cases_of_citizen(CitizenRef::Eidas(&Citizen::eidas_subject("SE/DE/other")))
            .await
            .expect("cases")
            .is_empty()
    );

    let anonymous = anonymous_case("anonymous", "1282", at(30));
    let created = create(&db, anonymous.clone()).await;
    assert_eq!(created, as_created(&anonymous));
    assert_eq!(
        (
            created.channel,
            created.citizen.as_ref(),
            created.protection,
            created.loa
        ),
        (Channel::Anonymous, None, Protection::None, None)
    );
    assert_eq!(
        created.access_code_hash.as_deref(),
        Some("access-code-hash-anonymous")
    );
    assert_eq!(read(&db, &anonymous.id).await, created);
    assert_eq!(
        db.consents(&anonymous.id).await.expect("consents"),
        vec![ConsentEntry {
            consent: Consent::default(),
            at: at(30),
            by: ConsentActor::Anonymous,
        }]
    );
    let events = trail(&db, &anonymous.id).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].municipality, "1282");
    assert!(verify(&db).await.ok);
}

/// A second request with a taken id is `Duplicate` and writes nothing; a request whose
/// permit names an unknown municipality, or with an unknown category, is `Constraint` and
/// leaves no trace at all (no case, message, consent, trace, permit or audit event).
async fn a_refused_case_is_not_half_written(backend: Backend) {
    let db = seeded(backend).await;
    let first = new_case("taken", "1283", at(0));
    let created = create(&db, first.clone()).await;
    let head = db.audit_head("1283").await.expect("head");

    let again = NewCase {
        text: "Ett helt annat ärende".to_owned(),
        permits: vec![permit("1283", 0), permit("1282", 1)],
        ..new_case("taken", "1283", at(5))
    };
    let audit = event(Actor::Citizen, "", "submit", at(5));
    let duplicate = db.create_case(&again, &audit).await;
    assert!(
        matches!(duplicate, Err(StoreError::Duplicate(_))),
        "{duplicate:?}"
    );
    assert_eq!(read(&db, &first.id).await, created);
    assert_eq!(db.messages(&first.id).await.expect("messages").len(), 1);
    assert_eq!(db.consents(&first.id).await.expect("consents").len(), 1);
    assert_eq!(db.traces(&first.id).await.expect("traces").len(), 1);
    assert_eq!(db.permits(&first.id).await.expect("permits"), first.permits);
    assert_eq!(trail(&db, &first.id).await.len(), 1);
    assert_eq!(db.audit_head("1283").await.expect("head"), head);

    let stray_permit = NewCase {
        permits: vec![permit("1283", 0), permit("9999", 1)],
        ..new_case("stray-permit", "1283", at(10))
    };
    let unknown_category = NewCase {
        category: category("astrologi"),
        ..new_case("unknown-category", "1283", at(10))
    };
    for case in [stray_permit, unknown_category] {
        let audit = event(Actor::Citizen, "", "submit", at(10));
        let result = db.create_case(&case, &audit).await;
        assert!(
            matches!(result, Err(StoreError::Constraint(_))),
            "{}: {result:?}",
            case.id
        );
        assert_eq!(db.case(&case.id).await.expect("read"), None);
        assert!(db.messages(&case.id).await.expect("messages").is_empty());
        assert!(db.consents(&case.id).await.expect("consents").is_empty());
        assert!(db.traces(&case.id).await.expect("traces").is_empty());
        assert!(db.permits(&case.id).await.expect("permits").is_empty());
        assert!(trail(&db, &case.id).await.is_empty());
        assert_eq!(db.audit_head("1283").await.expect("head"), head);
    }
    assert!(verify(&db).await.ok);
}

// ---------------------------------------------------------------------------------------------
// Transitions
// ---------------------------------------------------------------------------------------------

/// A claim of a queued case assigns it to the claimer (owner, handler, assigned time, last
/// assignment) and takes a slot of their capacity; `Transitioned` holds the case as it was and
/// as it is now. A second claim is `already_claimed`, a claim by a caseworker without a free
/// slot `capacity_full`; an unknown case or caseworker is `NotFound`; none of them writes.
async fn a_claim_assigns_and_takes_capacity(backend: Backend) {
    let db = seeded(backend).await;
    let home = add_caseworker(&db, "1283-01", "1283", 1).await;
    let neighbour = add_caseworker(&db, "1282-01", "1282", 2).await;
    let first = create(&db, new_case("first", "1283", at(0))).await;
    let second = create(&db, new_case("second", "1283", at(1))).await;

    let done = claim(&db, &first.id, &home, at(10)).await.expect("claim");
    assert_eq!(done.before, first);
    assert_eq!(
        (done.transition.from, done.transition.to),
        (CaseState::Queued, CaseState::Assigned)
    );
    let expected = Case {
        state: CaseState::Assigned,
        owner: Some(home.clone()),
        handler: Some(code("1283")),
        assigned_at: Some(at(10)),
        updated_at: at(10),
        ..first.clone()
    };
    assert_eq!(done.after, expected);
    assert_eq!(read(&db, &first.id).await, expected);
    assert_eq!(db.load_of(&home).await.expect("load"), 1);
    let claimer = db
        .caseworker(&home)
        .await
        .expect("read")
        .expect("caseworker");
    assert_eq!(claimer.last_assigned_at, Some(at(10)));
    assert_eq!(
        db.cases_of_owner(&home).await.expect("owned"),
        vec![expected.clone()]
    );
    let claimed = &trail(&db, &first.id).await[0];
    assert_eq!(
        (
            claimed.action.as_str(),
            claimed.actor.as_str(),
            claimed.municipality.as_str(),
            claimed.at
        ),
        ("claim", "caseworker:1283-01", "1283", at(10))
    );
    assert_eq!(claimed.case_id.as_deref(), Some("first"));

    let lost = claim(&db, &first.id, &neighbour, at(11)).await;
    assert_eq!(refused(lost), TransitionError::AlreadyClaimed);
    let own_again = claim(&db, &first.id, &home, at(11)).await;
    assert_eq!(refused(own_again), TransitionError::AlreadyClaimed);
    let full = claim(&db, &second.id, &home, at(12)).await;
    assert_eq!(refused(full), TransitionError::CapacityFull);
    assert_eq!(read(&db, &first.id).await, expected);
    assert_eq!(read(&db, &second.id).await, second);
    assert_eq!(db.load_of(&home).await.expect("load"), 1);
    assert_eq!(db.load_of(&neighbour).await.expect("load"), 0);
    assert_eq!(actions(&db, &first.id).await, vec!["claim", "submit"]);
    assert_eq!(actions(&db, &second.id).await, vec!["submit"]);

    let unknown_case = claim(&db, &case_id("nothing"), &home, at(13)).await;
    assert!(
        matches!(unknown_case, Err(StoreError::NotFound)),
        "{unknown_case:?}"
    );
    let unknown_worker = claim(&db, &second.id, &worker("nobody"), at(13)).await;
    assert!(
        matches!(unknown_worker, Err(StoreError::NotFound)),
        "{unknown_worker:?}"
    );

    // Handled by a neighbour: the handler is the claimer's municipality, not the home.
    let across = claim(&db, &second.id, &neighbour, at(14))
        .await
        .expect("claim across the border");
    assert_eq!(across.after.handler, Some(code("1282")));
    assert_eq!(
        ids(&db.cross_border_open().await.expect("cross-border")),
        vec!["second"]
    );
    assert_eq!(
        db.cross_border_since(at(0)).await.expect("cross-border"),
        vec![("1282".to_owned(), "ekonomi".to_owned(), 1)]
    );
    assert!(
        db.cross_border_since(at(15))
            .await
            .expect("cross-border")
            .is_empty()
    );
    assert!(verify(&db).await.ok);
}

/// The decision taken again under the case's lock is final: a `recheck` that answers
/// `access_changed` fails the transition (and an amendment) with that error and writes nothing
/// — no state, message, trace, capacity or audit event. A lost race is named as such before
/// the recheck is asked.
async fn a_refused_recheck_writes_nothing(backend: Backend) {
    let db = seeded(backend).await;
    let caseworker = add_caseworker(&db, "1283-01", "1283", 3).await;
    let case = create(&db, new_case("rechecked", "1283", at(0))).await;
    let head = db.audit_head("1283").await.expect("head");
    let everything = db.audit_events(None, 1000).await.expect("trail");

    let refuse: &Recheck = &|_: &Case| Err(TransitionError::AccessChanged);
    let mut write = change(Actor::Caseworker(caseworker.clone()), "claim", at(10));
    write.message = Some(NewMessage {
        sender: Sender::Caseworker,
        author: Some(caseworker.clone()),
        body: "Hej!".to_owned(),
    });
    write.trace = Some(json!({ "claimed": true }));
    let result = db
        .transition(&case.id, &claim_of(&caseworker), &write, Some(refuse))
        .await;
    assert_eq!(refused(result), TransitionError::AccessChanged);
    assert_eq!(read(&db, &case.id).await, case);
    assert_eq!(db.messages(&case.id).await.expect("messages").len(), 1);
    assert_eq!(db.traces(&case.id).await.expect("traces").len(), 1);
    assert_eq!(db.load_of(&caseworker).await.expect("load"), 0);
    assert_eq!(db.audit_head("1283").await.expect("head"), head);
    assert_eq!(
        db.audit_events(None, 1000).await.expect("trail"),
        everything
    );

    let mut amendment = change(Actor::Citizen, "consent", at(11));
    amendment.consent = Some(ConsentWrite {
        consent: Consent {
            cross_municipality: true,
            municipalities: None,
        },
        actor: ConsentActor::Citizen,
    });
    let result = db
        .amend(&case.id, CaseState::Queued, &amendment, Some(refuse))
        .await;
    assert_eq!(refused(result), TransitionError::AccessChanged);
    assert_eq!(read(&db, &case.id).await, case);
    assert_eq!(db.consents(&case.id).await.expect("consents").len(), 1);
    assert_eq!(db.audit_head("1283").await.expect("head"), head);

    let rival = add_caseworker(&db, "1283-02", "1283", 3).await;
    claim(&db, &case.id, &rival, at(20)).await.expect("claim");
    let result = db
        .transition(&case.id, &claim_of(&caseworker), &write, Some(refuse))
        .await;
    assert_eq!(refused(result), TransitionError::AlreadyClaimed);
}

/// The policies a recheck answers with are the legal ground recorded in the change's audit
/// event; an empty answer keeps the caller's. The recheck sees the case as locked.
async fn the_rechecked_ground_is_audited(backend: Backend) {
    let db = seeded(backend).await;
    let caseworker = add_caseworker(&db, "1283-01", "1283", 3).await;
    let case = create(&db, new_case("grounded", "1283", at(0))).await;

    let ground: &Recheck = &|seen: &Case| {
        if seen.state == CaseState::Queued {
            Ok(vec!["X".to_owned()])
        } else {
            Err(TransitionError::AccessChanged)
        }
    };
    let write = change(Actor::Caseworker(caseworker.clone()), "claim", at(10));
    let done = db
        .transition(&case.id, &claim_of(&caseworker), &write, Some(ground))
        .await
        .expect("claim");
    assert_eq!(done.after.state, CaseState::Assigned);
    let latest = &trail(&db, &case.id).await[0];
    assert_eq!(latest.action, "claim");
    assert_eq!(latest.policies, vec!["X".to_owned()]);

    let nothing_new: &Recheck = &|_: &Case| Ok(Vec::new());
    let mut write = change(
        Actor::Caseworker(caseworker.clone()),
        "caseworker_message",
        at(20),
    );
    write.message = Some(NewMessage {
        sender: Sender::Caseworker,
        author: Some(caseworker.clone()),
        body: "Vad gäller det?".to_owned(),
    });
    let done = db
        .transition(
            &case.id,
            &CaseEvent::CaseworkerWrites {
                caseworker: caseworker.clone(),
            },
            &write,
            Some(nothing_new),
        )
        .await
        .expect("write");
    assert_eq!(done.after.state, CaseState::WaitingCitizen);
    let latest = &trail(&db, &case.id).await[0];
    assert_eq!(latest.action, "caseworker_message");
    assert_eq!(latest.policies, vec!["test_policy".to_owned()]);
    assert_eq!(
        db.messages(&case.id).await.expect("messages").last(),
        Some(&Message {
            sender: Sender::Caseworker,
            author: Some(caseworker.clone()),
            body: "Vad gäller det?".to_owned(),
            at: at(20),
        })
    );
    assert!(verify(&db).await.ok);
}

/// Twenty caseworkers claim one case at once: exactly one gets it, every other is told
/// `already_claimed`, and the case, the loads and the audit trail agree on the winner.
async fn concurrent_claims_have_exactly_one_winner(backend: Backend) {
    let db = seeded(backend).await;
    let mut workers = Vec::new();
    for i in 1..=20 {
        workers.push(add_caseworker(&db, &format!("1283-{i:02}"), "1283", 3).await);
    }
    let case = create(&db, new_case("contested", "1283", at(0))).await;

    let claims = workers
        .iter()
        .map(|w| (case.id.clone(), w.clone()))
        .collect();
    let mut winners = Vec::new();
    for (caseworker, result) in workers.iter().zip(claim_at_once(&db, claims).await) {
        match result {
            Ok(done) => winners.push((caseworker, done)),
            Err(StoreError::Transition(TransitionError::AlreadyClaimed)) => {}
            Err(other) => panic!("{caseworker}: {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one winner");
    let (winner, done) = &winners[0];
    assert_eq!(done.before.state, CaseState::Queued);
    assert_eq!(done.after.owner.as_ref(), Some(*winner));
    assert_eq!(read(&db, &case.id).await.owner.as_ref(), Some(*winner));
    for caseworker in &workers {
        let expected = u32::from(caseworker == *winner);
        assert_eq!(
            db.load_of(caseworker).await.expect("load"),
            expected,
            "{caseworker}"
        );
    }
    assert_eq!(actions(&db, &case.id).await, vec!["claim", "submit"]);
    let verification = verify(&db).await;
    assert!(verification.ok, "{:?}", verification.first_broken);
}

/// Ten cases claimed at once by one caseworker with room for three: exactly three claims
/// succeed and the rest are `capacity_full` — the load is counted under the caseworker's
/// lock, so capacity is never exceeded.
async fn concurrent_claims_never_exceed_capacity(backend: Backend) {
    let db = seeded(backend).await;
    let caseworker = add_caseworker(&db, "1283-01", "1283", 3).await;
    let mut cases = Vec::new();
    for i in 0..10 {
        cases.push(
            create(&db, new_case(&format!("case-{i}"), "1283", at(i)))
                .await
                .id,
        );
    }
    let claims = cases
        .iter()
        .map(|c| (c.clone(), caseworker.clone()))
        .collect();
    let mut won = 0;
    for (case, result) in cases.iter().zip(claim_at_once(&db, claims).await) {
        match result {
            Ok(_) => won += 1,
            Err(StoreError::Transition(TransitionError::CapacityFull)) => {}
            Err(other) => panic!("{case}: {other:?}"),
        }
    }
    assert_eq!(won, 3);
    assert_eq!(db.load_of(&caseworker).await.expect("load"), 3);
    assert_eq!(
        db.cases_of_owner(&caseworker).await.expect("owned").len(),
        3
    );
    assert_eq!(db.queued(100).await.expect("queued").len(), 7);
}

/// Only a claim or an accepted offer assigns a case: a message from the citizen, whether on an
/// assigned case (which stays assigned) or in answer to the caseworker, leaves the case's
/// assignment time, the caseworker's last assignment (the router's "longest idle") and the
/// cross-border statistics as they were.
async fn messages_are_not_assignments(backend: Backend) {
    let db = seeded(backend).await;
    let neighbour = add_caseworker(&db, "1282-01", "1282", 3).await;
    let case = create(&db, new_case("talk", "1283", at(0))).await;
    claim(&db, &case.id, &neighbour, at(10))
        .await
        .expect("claim");

    let citizen_writes = |time| {
        let mut write = change(Actor::Citizen, "citizen_message", time);
        write.message = Some(NewMessage {
            sender: Sender::Citizen,
            author: None,
            body: "En sak till".to_owned(),
        });
        write
    };
    let first = db
        .transition(
            &case.id,
            &CaseEvent::CitizenWrites,
            &citizen_writes(at(50)),
            None,
        )
        .await
        .expect("citizen writes");
    assert_eq!(first.after.state, CaseState::Assigned);
    assert_eq!(first.after.updated_at, at(50));
    assert_eq!(
        first.after.assigned_at,
        Some(at(10)),
        "the case's assignment"
    );
    let holder = db
        .caseworker(&neighbour)
        .await
        .expect("read")
        .expect("caseworker");
    assert_eq!(
        holder.last_assigned_at,
        Some(at(10)),
        "the caseworker's last assignment"
    );
    assert!(
        db.cross_border_since(at(20))
            .await
            .expect("statistics")
            .is_empty(),
        "not assigned again since"
    );

    let mut reply = change(
        Actor::Caseworker(neighbour.clone()),
        "caseworker_message",
        at(60),
    );
    reply.message = Some(NewMessage {
        sender: Sender::Caseworker,
        author: Some(neighbour.clone()),
        body: "Berätta mer".to_owned(),
    });
    let waiting = db
        .transition(
            &case.id,
            &CaseEvent::CaseworkerWrites {
                caseworker: neighbour.clone(),
            },
            &reply,
            None,
        )
        .await
        .expect("caseworker writes");
    assert_eq!(waiting.after.state, CaseState::WaitingCitizen);
    let answered = db
        .transition(
            &case.id,
            &CaseEvent::CitizenWrites,
            &citizen_writes(at(70)),
            None,
        )
        .await
        .expect("citizen answers");
    assert_eq!(answered.after.state, CaseState::Assigned);
    assert_eq!(answered.after.assigned_at, Some(at(10)));
    assert_eq!(db.messages(&case.id).await.expect("messages").len(), 4);
}

/// Forty events appended at once on two chains: each chain stays whole — numbered 1..n without
/// gap or repeat, each event linked to the one before — holds every event, and verifies.
async fn concurrent_appends_keep_every_chain_whole(backend: Backend) {
    let db = empty(backend).await;
    let tasks: Vec<_> = (0..40)
        .map(|n| {
            let store = Arc::clone(&db.store);
            tokio::spawn(async move {
                let chain = if n % 2 == 0 { "1283" } else { "1282" };
                let appended = NewAuditEvent {
                    detail: json!({ "n": n }),
                    ..event(Actor::System(SystemActor::Router), chain, "tick", at(n))
                };
                store.append_audit(&appended).await
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("the append's task").expect("append");
    }
    for (chain, parity) in [("1283", 0), ("1282", 1)] {
        let events = db.audit_chain(chain).await.expect("chain");
        assert_eq!(
            events.iter().map(|e| e.seq).collect::<Vec<_>>(),
            (1..=20).map(Some).collect::<Vec<_>>(),
            "{chain}"
        );
        let mut numbers: Vec<i64> = events
            .iter()
            .map(|e| e.detail["n"].as_i64().unwrap_or(-1))
            .collect();
        numbers.sort_unstable();
        assert_eq!(
            numbers,
            (0..40).filter(|n| n % 2 == parity).collect::<Vec<i64>>(),
            "{chain}"
        );
    }
    let verification = verify(&db).await;
    assert!(verification.ok, "{:?}", verification.first_broken);
    assert_eq!(verification.events, 40);
}

/// `amend` writes beside the state only while the case is in the expected state (otherwise
/// `invalid_transition`, nothing written); each consent and harm assessment joins the case's
/// history and becomes the case's current one; permits are replaced; each amendment is
/// audited.
async fn amendments_keep_their_history(backend: Backend) {
    let db = seeded(backend).await;
    let home_worker = add_caseworker(&db, "1283-01", "1283", 3).await;
    let given = Consent {
        cross_municipality: true,
        municipalities: None,
    };
    let case = create(
        &db,
        NewCase {
            consent: given.clone(),
            ..new_case("amended", "1283", at(0))
        },
    )
    .await;

    let withdrawn = Consent {
        cross_municipality: false,
        municipalities: None,
    };
    let mut write = change(Actor::Citizen, "consent", at(10));
    write.consent = Some(ConsentWrite {
        consent: withdrawn.clone(),
        actor: ConsentActor::Citizen,
    });
    let wrong = db.amend(&case.id, CaseState::Assigned, &write, None).await;
    assert_eq!(
        refused(wrong),
        TransitionError::InvalidTransition {
            from: CaseState::Queued,
            event: "amend"
        }
    );
    assert_eq!(read(&db, &case.id).await, case);
    assert_eq!(db.consents(&case.id).await.expect("consents").len(), 1);

    let amended = db
        .amend(&case.id, CaseState::Queued, &write, None)
        .await
        .expect("amend");
    let expected = Case {
        consent: withdrawn.clone(),
        updated_at: at(10),
        ..case.clone()
    };
    assert_eq!(amended, expected);
    assert_eq!(read(&db, &case.id).await, expected);

    let listed = Consent {
        cross_municipality: true,
        municipalities: Some(vec![code("1282")]),
    };
    let mut write = change(Actor::System(SystemActor::Router), "consent", at(15));
    write.consent = Some(ConsentWrite {
        consent: listed.clone(),
        actor: ConsentActor::System,
    });
    let amended = db
        .amend(&case.id, CaseState::Queued, &write, None)
        .await
        .expect("amend");
    assert_eq!(amended.consent, listed);
    assert_eq!(
        db.consents(&case.id).await.expect("consents"),
        vec![
            ConsentEntry {
                consent: given,
                at: at(0),
                by: ConsentActor::Citizen,
            },
            ConsentEntry {
                consent: withdrawn,
                at: at(10),
                by: ConsentActor::Citizen,
            },
            ConsentEntry {
                consent: listed,
                at: at(15),
                by: ConsentActor::System,
            },
        ]
    );

    let assessments = [
        (HarmAssessment::StayHome, "Hotbild mot sökande", at(20)),
        (HarmAssessment::CrossBorderOk, "Ingen risk längre", at(30)),
    ];
    for (assessment, reason, time) in assessments {
        let mut write = change(
            Actor::Caseworker(home_worker.clone()),
            "harm_assessment",
            time,
        );
        write.harm_assessment = Some(HarmWrite {
            caseworker: home_worker.clone(),
            assessment,
            reason: reason.to_owned(),
        });
        let amended = db
            .amend(&case.id, CaseState::Queued, &write, None)
            .await
            .expect("assess");
        assert_eq!(amended.harm_assessment, Some(assessment));
    }
    assert_eq!(
        db.harm_assessments(&case.id).await.expect("assessments"),
        assessments
            .iter()
            .map(|(assessment, reason, time)| HarmAssessmentEntry {
                caseworker: home_worker.clone(),
                assessment: *assessment,
                reason: (*reason).to_owned(),
                at: *time,
            })
            .collect::<Vec<_>>()
    );
    assert_eq!(
        read(&db, &case.id).await.harm_assessment,
        Some(HarmAssessment::CrossBorderOk)
    );

    let mut write = change(Actor::System(SystemActor::Router), "permits", at(40));
    write.permits = Some(vec![permit("1283", 0), permit("1284", 1)]);
    db.amend(&case.id, CaseState::Queued, &write, None)
        .await
        .expect("new permits");
    assert_eq!(
        db.permits(&case.id).await.expect("permits"),
        vec![permit("1283", 0), permit("1284", 1)]
    );
    assert_eq!(
        actions(&db, &case.id).await,
        vec![
            "permits",
            "harm_assessment",
            "harm_assessment",
            "consent",
            "consent",
            "submit"
        ]
    );
    assert!(verify(&db).await.ok);
}

// ---------------------------------------------------------------------------------------------
// Queues and routing
// ---------------------------------------------------------------------------------------------

/// A municipality's queue holds the queued cases it is permitted at the ring each case has
/// reached (and a transferred case only in its target's), most urgent first, then oldest;
/// `update_routing` with a stale ring (or on a case no longer queued) returns false and
/// changes nothing; with the current one it widens, records its trace and audits.
async fn queues_follow_permits_rings_and_urgency(backend: Backend) {
    let db = seeded(backend).await;
    let caseworker = add_caseworker(&db, "1283-01", "1283", 3).await;
    let a = create(
        &db,
        NewCase {
            permits: vec![permit("1283", 0), permit("1282", 1)],
            ..new_case("a", "1283", at(0))
        },
    )
    .await;
    let claimed = create(&db, new_case("claimed", "1283", at(1))).await;
    let d = create(
        &db,
        NewCase {
            permits: vec![permit("1282", 0), permit("1283", 1)],
            ..new_case("d", "1282", at(5))
        },
    )
    .await;
    let b = create(
        &db,
        NewCase {
            ring: 1,
            permits: vec![permit("1283", 0), permit("1282", 1)],
            ..new_case("b", "1283", at(10))
        },
    )
    .await;
    let c = create(
        &db,
        NewCase {
            urgent: true,
            ..new_case("c", "1283", at(20))
        },
    )
    .await;
    claim(&db, &claimed.id, &caseworker, at(25))
        .await
        .expect("claim");

    let queue = |m: &'static str, limit: u32| {
        let store = Arc::clone(&db.store);
        async move {
            store
                .queue(&code(m), limit)
                .await
                .expect("queue")
                .into_iter()
                .map(|c| c.id.to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(queue("1283", 10).await, vec!["c", "a", "b"]);
    assert_eq!(queue("1283", 1).await, vec!["c"]);
    assert_eq!(queue("1282", 10).await, vec!["d", "b"]);
    assert!(queue("1292", 10).await.is_empty());
    assert_eq!(
        ids(&db.queued(10).await.expect("queued")),
        vec!["c", "a", "d", "b"]
    );
    assert_eq!(
        queue("1283", 10).await.first().map(String::as_str),
        Some(c.id.as_str())
    );

    let widen = |ring: i64| RoutingWrite {
        ring: Some(ring),
        interpreter_needed: Some(true),
        ..RoutingWrite::default()
    };
    let audit = event(Actor::System(SystemActor::Router), "", "widen", at(30));
    let trace = json!({ "widened_to": 1 });
    let stale = db
        .update_routing(&a.id, 1, &widen(2), &trace, &audit)
        .await
        .expect("stale");
    assert!(!stale, "the case is in ring 0, not 1");
    assert_eq!(read(&db, &a.id).await, a);
    assert_eq!(db.traces(&a.id).await.expect("traces").len(), 1);
    assert_eq!(actions(&db, &a.id).await, vec!["submit"]);
    for (id, ring) in [(&claimed.id, 0), (&case_id("nothing"), 0)] {
        let changed = db
            .update_routing(id, ring, &widen(1), &trace, &audit)
            .await
            .expect("not queued");
        assert!(!changed, "{id}");
    }
    assert_eq!(read(&db, &claimed.id).await.ring, 0);

    let widened = db
        .update_routing(&a.id, 0, &widen(1), &trace, &audit)
        .await
        .expect("widen");
    assert!(widened);
    let now = read(&db, &a.id).await;
    assert_eq!(
        now,
        Case {
            ring: 1,
            ring_since: Some(at(30)),
            interpreter_needed: true,
            ..a.clone()
        }
    );
    assert_eq!(
        db.traces(&a.id).await.expect("traces").last(),
        Some(&RoutingTrace {
            at: at(30),
            trace: trace.clone(),
        })
    );
    let widened_event = &trail(&db, &a.id).await[0];
    assert_eq!(
        (
            widened_event.action.as_str(),
            widened_event.municipality.as_str()
        ),
        ("widen", "1283")
    );
    assert_eq!(queue("1282", 10).await, vec!["a", "d", "b"]);

    let transfer = RoutingWrite {
        target_municipality: Some(Some(code("1283"))),
        transfer_reason: Some("Har flyttat till Helsingborg".to_owned()),
        ..RoutingWrite::default()
    };
    assert!(
        db.update_routing(&b.id, 1, &transfer, &trace, &audit)
            .await
            .expect("target")
    );
    let targeted = read(&db, &b.id).await;
    assert_eq!(targeted.target_municipality, Some(code("1283")));
    assert_eq!(
        targeted.transfer_reason.as_deref(),
        Some("Har flyttat till Helsingborg")
    );
    assert_eq!(queue("1282", 10).await, vec!["a", "d"]);
    assert_eq!(queue("1283", 10).await, vec!["c", "a", "b"]);
    let untarget = RoutingWrite {
        target_municipality: Some(None),
        ..RoutingWrite::default()
    };
    assert!(
        db.update_routing(&b.id, 1, &untarget, &trace, &audit)
            .await
            .expect("untarget")
    );
    assert_eq!(read(&db, &b.id).await.target_municipality, None);
    assert_eq!(queue("1282", 10).await, vec!["a", "d", "b"]);
    assert_eq!(read(&db, &d.id).await, d);
    assert!(verify(&db).await.ok);
}

/// Routing settings are stored per category with their audit event and read back equal,
/// ordered by category; a category the federation does not have is `Constraint` and changes
/// nothing, settings or trail.
async fn routing_settings_round_trip(backend: Backend) {
    let db = seeded(backend).await;
    assert!(db.routing_settings().await.expect("settings").is_empty());
    let ekonomi = CategoryRouting {
        category: "ekonomi".to_owned(),
        mode: Mode::Push,
        ring_timeouts: vec![600, 1200],
        offer_timeout: 90,
        fair_share_per_10k: Some(2.5),
    };
    let audit = event(admin_actor(None), "familjen-helsingborg", "routing", at(0));
    db.put_routing_settings(std::slice::from_ref(&ekonomi), &audit)
        .await
        .expect("put");
    assert_eq!(
        db.routing_settings().await.expect("settings"),
        vec![ekonomi.clone()]
    );

    let changed = CategoryRouting {
        mode: Mode::Pull,
        fair_share_per_10k: None,
        ..ekonomi.clone()
    };
    let familj = CategoryRouting::default_for("familj", false);
    db.put_routing_settings(&[familj.clone(), changed.clone()], &audit)
        .await
        .expect("put");
    assert_eq!(
        db.routing_settings().await.expect("settings"),
        vec![changed.clone(), familj.clone()]
    );

    let before = db.audit_chain("familjen-helsingborg").await.expect("chain");
    assert_eq!(before.len(), 2);
    let unknown = CategoryRouting::default_for("astrologi", false);
    let result = db
        .put_routing_settings(&[ekonomi.clone(), unknown], &audit)
        .await;
    assert!(
        matches!(result, Err(StoreError::Constraint(_))),
        "{result:?}"
    );
    assert_eq!(
        db.routing_settings().await.expect("settings"),
        vec![changed, familj]
    );
    assert_eq!(
        db.audit_chain("familjen-helsingborg").await.expect("chain"),
        before
    );
}

// ---------------------------------------------------------------------------------------------
// Offers
// ---------------------------------------------------------------------------------------------

fn offer_event(caseworker: &CaseworkerId) -> CaseEvent {
    CaseEvent::Offer {
        caseworker: caseworker.clone(),
    }
}

fn offer_write(id: &str, time: DateTime<Utc>, expires_at: DateTime<Utc>) -> CaseWrite {
    let mut write = change(Actor::System(SystemActor::Router), "offer", time);
    write.offer = Some(OfferWrite::Create {
        id: offer_id(id),
        expires_at,
    });
    write
}

fn end_write(id: &str, outcome: OfferOutcome, actor: Actor, time: DateTime<Utc>) -> CaseWrite {
    let mut write = change(actor, outcome.as_str(), time);
    write.offer = Some(OfferWrite::End {
        id: offer_id(id),
        outcome,
    });
    write
}

/// An offer reserves a case for one caseworker (and a slot of their capacity): it is open
/// for them and for the case until it is accepted in time, rejected or lapses; an expired one
/// is listed for the scheduler; lapsed and rejected offers name who declined; a late accept
/// is `offer_expired` and writes nothing; the counts are by outcome.
async fn offers_open_end_and_count(backend: Backend) {
    let db = seeded(backend).await;
    let first = add_caseworker(&db, "1283-01", "1283", 2).await;
    let second = add_caseworker(&db, "1283-02", "1283", 2).await;
    let case = create(&db, new_case("offered", "1283", at(0))).await;

    let offered = db
        .transition(
            &case.id,
            &offer_event(&first),
            &offer_write("o1", at(10), at(100)),
            None,
        )
        .await
        .expect("offer");
    assert_eq!(offered.after.state, CaseState::Offered);
    assert_eq!(offered.after.owner.as_ref(), Some(&first));
    assert_eq!(offered.after.handler, Some(code("1283")));
    let o1 = Offer {
        id: offer_id("o1"),
        case_id: case.id.clone(),
        caseworker: first.clone(),
        created_at: at(10),
        expires_at: at(100),
        ended_at: None,
        outcome: None,
    };
    assert_eq!(db.offer(&o1.id).await.expect("offer"), Some(o1.clone()));
    assert_eq!(
        db.open_offers(&first).await.expect("open"),
        vec![o1.clone()]
    );
    assert!(db.open_offers(&second).await.expect("open").is_empty());
    assert_eq!(
        db.open_offer_of_case(&case.id).await.expect("open"),
        Some(o1.clone())
    );
    assert!(db.expired_offers(at(99)).await.expect("expired").is_empty());
    assert_eq!(
        db.expired_offers(at(100)).await.expect("expired"),
        vec![o1.clone()]
    );
    assert_eq!(db.load_of(&first).await.expect("load"), 1);

    let another = db
        .transition(
            &case.id,
            &offer_event(&second),
            &offer_write("o2", at(20), at(120)),
            None,
        )
        .await;
    assert_eq!(refused(another), TransitionError::AlreadyOffered);
    assert_eq!(db.offer(&offer_id("o2")).await.expect("offer"), None);

    let lapsed = db
        .transition(
            &case.id,
            &CaseEvent::OfferEnded {
                caseworker: first.clone(),
                why: OfferEnd::TimedOut,
            },
            &end_write(
                "o1",
                OfferOutcome::TimedOut,
                Actor::System(SystemActor::Router),
                at(100),
            ),
            None,
        )
        .await
        .expect("time out");
    assert_eq!(lapsed.after.state, CaseState::Queued);
    assert_eq!((lapsed.after.owner, lapsed.after.handler), (None, None));
    assert_eq!(lapsed.after.queued_since, at(100), "queued anew");
    assert_eq!(
        db.offer(&o1.id).await.expect("offer"),
        Some(Offer {
            ended_at: Some(at(100)),
            outcome: Some(OfferOutcome::TimedOut),
            ..o1.clone()
        })
    );
    assert_eq!(db.open_offer_of_case(&case.id).await.expect("open"), None);
    assert!(db.open_offers(&first).await.expect("open").is_empty());
    assert!(
        db.expired_offers(at(1000))
            .await
            .expect("expired")
            .is_empty()
    );
    assert_eq!(db.load_of(&first).await.expect("load"), 0);
    assert_eq!(
        db.declined(&case.id, at(0)).await.expect("declined"),
        vec![first.clone()]
    );
    assert!(
        db.declined(&case.id, at(101))
            .await
            .expect("declined")
            .is_empty()
    );

    db.transition(
        &case.id,
        &offer_event(&second),
        &offer_write("o2", at(110), at(200)),
        None,
    )
    .await
    .expect("offer again");
    let accept = CaseEvent::Accept {
        caseworker: second.clone(),
    };
    let taker = Actor::Caseworker(second.clone());
    let late = db
        .transition(
            &case.id,
            &accept,
            &end_write("o2", OfferOutcome::Accepted, taker.clone(), at(200)),
            None,
        )
        .await;
    assert_eq!(refused(late), TransitionError::OfferExpired);
    assert_eq!(read(&db, &case.id).await.state, CaseState::Offered);
    assert_eq!(
        db.offer(&offer_id("o2"))
            .await
            .expect("offer")
            .and_then(|o| o.outcome),
        None
    );

    let accepted = db
        .transition(
            &case.id,
            &accept,
            &end_write("o2", OfferOutcome::Accepted, taker, at(150)),
            None,
        )
        .await
        .expect("accept");
    assert_eq!(accepted.after.state, CaseState::Assigned);
    assert_eq!(accepted.after.owner.as_ref(), Some(&second));
    assert_eq!(accepted.after.assigned_at, Some(at(150)));
    let o2 = db
        .offer(&offer_id("o2"))
        .await
        .expect("offer")
        .expect("stored");
    assert_eq!(
        (o2.ended_at, o2.outcome),
        (Some(at(150)), Some(OfferOutcome::Accepted))
    );
    assert_eq!(
        db.caseworker(&second)
            .await
            .expect("read")
            .and_then(|c| c.last_assigned_at),
        Some(at(150))
    );

    let other = create(&db, new_case("rejected", "1283", at(155))).await;
    db.transition(
        &other.id,
        &offer_event(&first),
        &offer_write("o3", at(160), at(260)),
        None,
    )
    .await
    .expect("offer");
    let count = |outcome: &str, n: i64| (outcome.to_owned(), n);
    assert_eq!(
        db.offer_counts().await.expect("counts"),
        vec![
            count("accepted", 1),
            count("open", 1),
            count("timed_out", 1)
        ]
    );
    db.transition(
        &other.id,
        &CaseEvent::OfferEnded {
            caseworker: first.clone(),
            why: OfferEnd::Rejected,
        },
        &end_write(
            "o3",
            OfferOutcome::Rejected,
            Actor::Caseworker(first.clone()),
            at(170),
        ),
        None,
    )
    .await
    .expect("reject");
    assert_eq!(
        db.declined(&other.id, at(0)).await.expect("declined"),
        vec![first.clone()]
    );
    assert_eq!(
        db.offer_counts().await.expect("counts"),
        vec![
            count("accepted", 1),
            count("rejected", 1),
            count("timed_out", 1)
        ]
    );
    assert!(verify(&db).await.ok);
}

// ---------------------------------------------------------------------------------------------
// Tokens and sessions
// ---------------------------------------------------------------------------------------------

/// A token as the store gives it back.
fn as_stored(token: &NewApiToken) -> ApiToken {
    ApiToken {
        id: token.id.clone(),
        kind: token.kind,
        principal: token.principal.clone(),
        name: token.name.clone(),
        scopes: token.scopes.clone(),
        login_id: token.login_id.clone(),
        created_by: token.created_by.clone(),
        created_at: token.created_at,
        expires_at: token.expires_at,
        revoked_at: None,
    }
}

fn session_token(id: &str, login: &str, principal: Principal) -> NewApiToken {
    NewApiToken {
        id: id.to_owned(),
        token_hash: format!("hash-{id}"),
        kind: TokenKind::Session,
        principal,
        name: None,
        scopes: vec![Scope::Read, Scope::Write],
        login_id: Some(login.to_owned()),
        created_by: "login".to_owned(),
        created_at: at(0),
        expires_at: at(500),
    }
}

/// A token is found by its hash while live (not expired, not revoked), with its principal
/// and scopes as stored; a taken id or hash is `Duplicate`; revoking is true once, then
/// false; a login's tokens are revoked together; creation and revocation are audited once.
async fn api_tokens_live_until_expired_or_revoked(backend: Backend) {
    let db = seeded(backend).await;
    let admin = admin_actor(Some("1283"));
    let created = event(admin.clone(), "1283", "token_created", at(0));
    let integration = NewApiToken {
        id: "tok-integration".to_owned(),
        token_hash: "hash-integration".to_owned(),
        kind: TokenKind::Integration,
        principal: admin_principal(Some("1283")),
        name: Some("Ekonomisystemet".to_owned()),
        scopes: vec![Scope::Read],
        login_id: None,
        created_by: "admin:1283".to_owned(),
        created_at: at(0),
        expires_at: at(1000),
    };
    db.insert_api_token(&integration, Some(&created))
        .await
        .expect("insert");
    assert_eq!(
        db.api_token("hash-integration", at(10))
            .await
            .expect("find"),
        Some(as_stored(&integration))
    );
    assert_eq!(
        db.api_token("hash-integration", at(1000))
            .await
            .expect("find"),
        None,
        "expired at its expiry"
    );
    assert_eq!(db.api_token("hash-none", at(10)).await.expect("find"), None);
    assert_eq!(
        db.integration_tokens().await.expect("list"),
        vec![as_stored(&integration)]
    );

    let same_hash = NewApiToken {
        id: "tok-other".to_owned(),
        ..integration.clone()
    };
    let same_id = NewApiToken {
        token_hash: "hash-other".to_owned(),
        ..integration.clone()
    };
    for token in [same_hash, same_id] {
        let result = db.insert_api_token(&token, Some(&created)).await;
        assert!(
            matches!(result, Err(StoreError::Duplicate(_))),
            "{}: {result:?}",
            token.id
        );
    }

    let citizen = Principal::Citizen(Citizen {
        personnummer: Some(anna()),
        id_confirmed: true,
        eidas: None,
        home: code("1283"),
        protection: Protection::Sekretessmarkering,
        loa: Loa::Loa3,
    });
    let staff = Principal::Caseworker {
        caseworker_id: worker("1283-01"),
        municipality: code("1283"),
    };
    let s1 = session_token("s1", "login-a", citizen);
    let s2 = session_token("s2", "login-a", staff.clone());
    let s3 = session_token("s3", "login-b", staff);
    for token in [&s1, &s2, &s3] {
        db.insert_api_token(token, None).await.expect("insert");
    }
    assert_eq!(
        db.api_token("hash-s1", at(10)).await.expect("find"),
        Some(as_stored(&s1))
    );
    db.revoke_session_tokens("login-a", at(20))
        .await
        .expect("log out");
    assert_eq!(db.api_token("hash-s1", at(21)).await.expect("find"), None);
    assert_eq!(db.api_token("hash-s2", at(21)).await.expect("find"), None);
    assert_eq!(
        db.api_token("hash-s3", at(21)).await.expect("find"),
        Some(as_stored(&s3))
    );

    let revoked = event(admin, "1283", "token_revoked", at(30));
    assert!(
        db.revoke_api_token("tok-integration", at(30), Some(&revoked))
            .await
            .expect("revoke")
    );
    assert_eq!(
        db.api_token("hash-integration", at(31))
            .await
            .expect("find"),
        None
    );
    assert!(
        !db.revoke_api_token("tok-integration", at(40), Some(&revoked))
            .await
            .expect("revoke again")
    );
    assert!(
        !db.revoke_api_token("tok-none", at(40), Some(&revoked))
            .await
            .expect("revoke unknown")
    );
    let lapsed = NewApiToken {
        expires_at: at(5),
        ..session_token("s4", "login-c", admin_principal(None))
    };
    db.insert_api_token(&lapsed, None).await.expect("insert");
    assert!(
        !db.revoke_api_token("s4", at(10), Some(&revoked))
            .await
            .expect("revoke expired")
    );
    assert_eq!(
        db.integration_tokens().await.expect("list"),
        vec![ApiToken {
            revoked_at: Some(at(30)),
            ..as_stored(&integration)
        }]
    );

    let by_admin = db
        .audit_query(&AuditFilter {
            actor: Some("admin:test-admin-1283".to_owned()),
            limit: 100,
            ..AuditFilter::default()
        })
        .await
        .expect("audit");
    let by_admin: Vec<&str> = by_admin.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(by_admin, vec!["token_revoked", "token_created"]);
    assert!(verify(&db).await.ok);
}

/// Browser sessions: created once per id hash (a taken one is `false` and keeps its data),
/// saved over, loaded only until they expire, deleted.
async fn web_sessions_create_save_load_delete(backend: Backend) {
    let db = empty(backend).await;
    let data = json!({ "principal": { "role": "citizen" }, "n": 1 });
    assert!(
        db.create_web_session("s1", &data, at(100))
            .await
            .expect("create")
    );
    assert!(
        !db.create_web_session("s1", &json!({ "other": true }), at(200))
            .await
            .expect("create taken")
    );
    assert_eq!(
        db.load_web_session("s1", at(50)).await.expect("load"),
        Some((data.clone(), at(100)))
    );

    let saved = json!({ "principal": { "role": "caseworker" }, "n": 2 });
    db.save_web_session("s1", &saved, at(300))
        .await
        .expect("save");
    assert_eq!(
        db.load_web_session("s1", at(250)).await.expect("load"),
        Some((saved.clone(), at(300)))
    );
    assert_eq!(
        db.load_web_session("s1", at(300)).await.expect("load"),
        None,
        "expired at its expiry"
    );

    db.save_web_session("s2", &data, at(400))
        .await
        .expect("save new");
    assert_eq!(
        db.load_web_session("s2", at(0)).await.expect("load"),
        Some((data.clone(), at(400)))
    );
    assert_eq!(db.load_web_session("s3", at(0)).await.expect("load"), None);

    let to_the_millisecond = at(1000) + chrono::TimeDelta::milliseconds(500);
    db.save_web_session("s4", &data, to_the_millisecond)
        .await
        .expect("save");
    assert_eq!(
        db.load_web_session("s4", at(1000) + chrono::TimeDelta::milliseconds(499))
            .await
            .expect("load"),
        Some((data.clone(), to_the_millisecond))
    );
    for late in [500, 501, 1000] {
        assert_eq!(
            db.load_web_session("s4", at(1000) + chrono::TimeDelta::milliseconds(late))
                .await
                .expect("load"),
            None,
            "{late} ms"
        );
    }

    db.delete_web_session("s1").await.expect("delete");
    assert_eq!(db.load_web_session("s1", at(0)).await.expect("load"), None);
    db.delete_web_session("s1").await.expect("delete again");
    assert!(
        db.create_web_session("s1", &data, at(100))
            .await
            .expect("create")
    );
    assert_eq!(
        db.load_web_session("s2", at(0)).await.expect("load"),
        Some((data, at(400))),
        "others untouched"
    );
}

// ---------------------------------------------------------------------------------------------
// Policy versions
// ---------------------------------------------------------------------------------------------

/// Policy versions are numbered from 1; the first (shipped) one is active at once, later ones
/// only once activated (with their audit event), one active at a time; activating an unknown
/// version is `NotFound` and changes nothing.
async fn policy_versions_insert_list_activate(backend: Backend) {
    let db = empty(backend).await;
    let federation_id = "familjen-helsingborg";
    assert_eq!(db.active_policy_version().await.expect("active"), None);
    assert!(db.policy_versions().await.expect("list").is_empty());

    let shipped = NewAuditEvent {
        detail: json!({ "note": "shipped" }),
        ..event(admin_actor(None), federation_id, "policy_created", at(0))
    };
    let first = db
        .insert_policy_version(
            "permit(principal, action, resource);",
            "[[test]]",
            "brygga",
            at(0),
            true,
            Some(&shipped),
        )
        .await
        .expect("insert");
    assert_eq!(first, 1);
    let second = db
        .insert_policy_version(
            "forbid(principal, action, resource);",
            "",
            "admin:federation",
            at(5),
            false,
            None,
        )
        .await
        .expect("insert");
    assert_eq!(second, 2);

    let one = PolicyVersion {
        version: 1,
        author: "brygga".to_owned(),
        created_at: at(0),
        activated_at: Some(at(0)),
        activated_by: Some("brygga".to_owned()),
        active: true,
        text: "permit(principal, action, resource);".to_owned(),
        tests: "[[test]]".to_owned(),
    };
    let two = PolicyVersion {
        version: 2,
        author: "admin:federation".to_owned(),
        created_at: at(5),
        activated_at: None,
        activated_by: None,
        active: false,
        text: "forbid(principal, action, resource);".to_owned(),
        tests: String::new(),
    };
    assert_eq!(
        db.policy_versions().await.expect("list"),
        vec![one.clone(), two.clone()]
    );
    assert_eq!(
        db.active_policy_version().await.expect("active"),
        Some(one.clone())
    );
    let created = db.audit_chain(federation_id).await.expect("chain");
    assert_eq!(created.len(), 1);
    assert_eq!(
        created[0].detail,
        json!({ "note": "shipped", "version": 1 })
    );

    let activation = event(admin_actor(None), federation_id, "policy_activated", at(10));
    db.activate_policy_version(2, "admin:federation", &activation)
        .await
        .expect("activate");
    let two_active = PolicyVersion {
        active: true,
        activated_at: Some(at(10)),
        activated_by: Some("admin:federation".to_owned()),
        ..two
    };
    let one_inactive = PolicyVersion {
        active: false,
        ..one
    };
    assert_eq!(
        db.active_policy_version().await.expect("active"),
        Some(two_active.clone())
    );
    assert_eq!(
        db.policy_version(1).await.expect("version"),
        Some(one_inactive.clone())
    );
    assert_eq!(db.policy_version(3).await.expect("version"), None);

    let unknown = db
        .activate_policy_version(99, "admin:federation", &activation)
        .await;
    assert!(matches!(unknown, Err(StoreError::NotFound)), "{unknown:?}");
    assert_eq!(
        db.policy_versions().await.expect("list"),
        vec![one_inactive, two_active]
    );
    let actions: Vec<String> = db
        .audit_chain(federation_id)
        .await
        .expect("chain")
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, vec!["policy_created", "policy_activated"]);
    assert!(verify(&db).await.ok);
}

// ---------------------------------------------------------------------------------------------
// Audit
// ---------------------------------------------------------------------------------------------

/// Appended events form one chain per municipality, in order, numbered 1..n, each linked to
/// the one before; the chains verify against the key, their heads and their checkpoints; the
/// trail is queried by case, actor, municipality and time, newest first, up to a limit. A
/// store without the key reads, but appends nothing.
async fn audit_chains_verify_and_filter(backend: Backend) {
    let db = empty(backend).await;
    let staff = Actor::Caseworker(worker("1283-01"));
    let appended = [
        ("1283", staff.clone(), "read_case", Some("case-a"), at(0)),
        ("1282", admin_actor(Some("1282")), "list_staff", None, at(1)),
        ("1283", Actor::Citizen, "read_case", Some("case-b"), at(2)),
        ("1283", staff.clone(), "read_case", Some("case-b"), at(3)),
        (
            "1282",
            Actor::System(SystemActor::Router),
            "widen",
            Some("case-c"),
            at(4),
        ),
    ];
    for (n, (municipality, actor, action, case, time)) in appended.iter().enumerate() {
        let new_event = NewAuditEvent {
            case_id: case.map(case_id),
            detail: json!({ "n": n }),
            ..event(actor.clone(), municipality, action, *time)
        };
        db.append_audit(&new_event).await.expect("append");
    }
    let numbers = |events: &[AuditEntry]| -> Vec<i64> {
        events
            .iter()
            .map(|e| e.detail["n"].as_i64().unwrap_or(-1))
            .collect()
    };

    let helsingborg = db.audit_chain("1283").await.expect("chain");
    assert_eq!(numbers(&helsingborg), vec![0, 2, 3]);
    assert_eq!(
        helsingborg.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![Some(1), Some(2), Some(3)]
    );
    let mut previous = String::new();
    for e in &helsingborg {
        assert_eq!(e.prev_mac.as_deref(), Some(previous.as_str()), "linked");
        previous = e.mac.clone().expect("sealed");
    }
    assert_eq!(
        helsingborg
            .iter()
            .map(|e| (e.actor.as_str(), e.role.as_deref()))
            .collect::<Vec<_>>(),
        vec![
            ("caseworker:1283-01", Some("caseworker")),
            ("citizen", Some("citizen")),
            ("caseworker:1283-01", Some("caseworker")),
        ]
    );
    assert_eq!(helsingborg[0].actor_municipality.as_deref(), Some("1283"));
    assert_eq!(helsingborg[0].at, at(0));
    let landskrona = db.audit_chain("1282").await.expect("chain");
    assert_eq!(numbers(&landskrona), vec![1, 4]);
    assert_eq!(
        landskrona.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![Some(1), Some(2)]
    );
    assert_eq!(
        db.audit_head("1283").await.expect("head"),
        Some((3, previous.clone()))
    );
    assert_eq!(
        db.audit_chains().await.expect("chains"),
        vec!["1282".to_owned(), "1283".to_owned()]
    );
    let verification = verify(&db).await;
    assert!(verification.ok, "{:?}", verification.first_broken);
    assert_eq!(verification.events, 5);

    let query = |filter: AuditFilter| {
        let store = Arc::clone(&db.store);
        async move { store.audit_query(&filter).await.expect("query") }
    };
    let all = AuditFilter {
        limit: 100,
        ..AuditFilter::default()
    };
    assert_eq!(numbers(&query(all.clone()).await), vec![4, 3, 2, 1, 0]);
    let by_case = AuditFilter {
        case_id: Some(case_id("case-b")),
        ..all.clone()
    };
    assert_eq!(numbers(&query(by_case).await), vec![3, 2]);
    let by_actor = AuditFilter {
        actor: Some("caseworker:1283-01".to_owned()),
        ..all.clone()
    };
    assert_eq!(numbers(&query(by_actor).await), vec![3, 0]);
    let by_chain = AuditFilter {
        municipality: Some("1282".to_owned()),
        ..all.clone()
    };
    assert_eq!(numbers(&query(by_chain).await), vec![4, 1]);
    let by_time = AuditFilter {
        from: Some(at(1)),
        to: Some(at(3)),
        ..all.clone()
    };
    assert_eq!(
        numbers(&query(by_time).await),
        vec![2, 1],
        "from inclusive, to exclusive"
    );
    let limited = AuditFilter {
        limit: 2,
        ..all.clone()
    };
    assert_eq!(numbers(&query(limited).await), vec![4, 3]);
    let combined = AuditFilter {
        municipality: Some("1283".to_owned()),
        actor: Some("caseworker:1283-01".to_owned()),
        from: Some(at(1)),
        ..all.clone()
    };
    assert_eq!(numbers(&query(combined).await), vec![3]);
    assert_eq!(
        numbers(
            &db.audit_events(Some(&case_id("case-b")), 1)
                .await
                .expect("events")
        ),
        vec![3]
    );

    assert_eq!(
        db.latest_checkpoint("1283").await.expect("checkpoint"),
        None
    );
    db.write_audit_checkpoints(at(10))
        .await
        .expect("checkpoints");
    assert_eq!(
        db.latest_checkpoint("1283").await.expect("checkpoint"),
        Some((3, previous.clone()))
    );
    assert_eq!(db.seal_legacy_audit().await.expect("legacy"), 0);
    let later = event(staff, "1283", "read_case", at(20));
    db.append_audit(&later).await.expect("append");
    let helsingborg = db.audit_chain("1283").await.expect("chain");
    assert_eq!(helsingborg.len(), 4);
    assert_eq!(helsingborg[3].seq, Some(4));
    assert_eq!(helsingborg[3].prev_mac.as_deref(), Some(previous.as_str()));
    assert!(verify(&db).await.ok);

    let keyless = brygga::store::open(&db.url, 2, None)
        .await
        .expect("opens without a key");
    let without_key = keyless.append_audit(&later).await;
    assert!(
        matches!(without_key, Err(StoreError::Invalid(_))),
        "{without_key:?}"
    );
    assert_eq!(
        keyless.audit_chain("1283").await.expect("reads"),
        helsingborg
    );
}

// ---------------------------------------------------------------------------------------------
// Listings, retention
// ---------------------------------------------------------------------------------------------

/// A citizen's requests are listed newest first; the caseworker who last had one of them is
/// found (continuity); protected identities are listed by case; inactive open cases by their
/// last change; `staff` counts what each caseworker holds.
async fn listings_by_citizen_owner_and_activity(backend: Backend) {
    let db = seeded(backend).await;
    let first = add_caseworker(&db, "1283-01", "1283", 3).await;
    let second = add_caseworker(&db, "1283-02", "1283", 3).await;
    let older = create(&db, new_case("older", "1283", at(0))).await;
    let protected_number = Personnummer::parse_stored(&person(3)).expect("number");
    let protected = create(
        &db,
        NewCase {
            citizen: Some(NewCitizen {
                personnummer: Some(protected_number),
                id_confirmed: true,
                eidas: None,
                registered_home: code("1283"),
                protection: Protection::SkyddadFolkbokforing,
                loa: Loa::Loa3,
            }),
            ..new_case("protected", "1283", at(5))
        },
    )
    .await;
    let newer = create(&db, new_case("newer", "1283", at(10))).await;
    create(&db, anonymous_case("anonymous", "1283", at(12))).await;

    assert_eq!(
        ids(&db
            .cases_of_citizen(CitizenRef::Personnummer(&anna()))
            .await
            .expect("cases")),
        vec!["newer", "older"]
    );
    assert_eq!(
        db.previous_caseworker(&anna()).await.expect("previous"),
        None
    );
    claim(&db, &older.id, &first, at(20)).await.expect("claim");
    claim(&db, &newer.id, &second, at(30)).await.expect("claim");
    assert_eq!(
        db.previous_caseworker(&anna()).await.expect("previous"),
        Some(second.clone())
    );
    assert_eq!(
        db.protected_case_ids().await.expect("protected"),
        vec![protected.id.clone()]
    );
    assert_eq!(
        ids(&db.inactive_cases(at(25)).await.expect("inactive")),
        vec!["protected", "anonymous", "older"]
    );
    assert_eq!(
        ids(&db.cases_of_owner(&second).await.expect("owned")),
        vec!["newer"]
    );
    let staff: Vec<(String, u32)> = db
        .staff()
        .await
        .expect("staff")
        .into_iter()
        .map(|(c, n)| (c.id.to_string(), n))
        .collect();
    assert_eq!(
        staff,
        vec![("1283-01".to_owned(), 1), ("1283-02".to_owned(), 1)]
    );
}

/// Retention thins only closed (or cancelled) cases, once: messages, harm assessments, access
/// failures and the citizen's identity go, the case's facts and its audit trail stay, and the
/// thinning is audited on the home's chain.
async fn retention_thins_closed_cases_once(backend: Backend) {
    let db = seeded(backend).await;
    let caseworker = add_caseworker(&db, "1283-01", "1283", 3).await;
    let case = create(&db, new_case("closed", "1283", at(0))).await;
    let anonymous = create(&db, anonymous_case("anonymous", "1283", at(1))).await;
    let retention = |time| event(Actor::System(SystemActor::Retention), "", "thin", time);

    assert!(
        !db.thin_case(&case.id, &retention(at(5)))
            .await
            .expect("thin open")
    );
    assert_eq!(read(&db, &case.id).await, case);
    assert!(
        !db.thin_case(&case_id("nothing"), &retention(at(5)))
            .await
            .expect("thin unknown")
    );

    claim(&db, &case.id, &caseworker, at(10))
        .await
        .expect("claim");
    let mut harm = change(Actor::Caseworker(caseworker.clone()), "harm", at(15));
    harm.harm_assessment = Some(HarmWrite {
        caseworker: caseworker.clone(),
        assessment: HarmAssessment::StayHome,
        reason: "Känsliga uppgifter".to_owned(),
    });
    db.amend(&case.id, CaseState::Assigned, &harm, None)
        .await
        .expect("assess");
    let mut close = change(Actor::Caseworker(caseworker.clone()), "close", at(20));
    close.outcome = Some(Outcome::AdviceGiven);
    let closed = db
        .transition(
            &case.id,
            &CaseEvent::Close {
                caseworker: caseworker.clone(),
                outcome: Outcome::AdviceGiven,
            },
            &close,
            None,
        )
        .await
        .expect("close")
        .after;
    assert_eq!(closed.state, CaseState::Closed);
    assert_eq!(closed.closed_at, Some(at(20)));
    assert_eq!(closed.outcome, Some(Outcome::AdviceGiven));
    assert_eq!(db.load_of(&caseworker).await.expect("load"), 0);
    assert_eq!(
        ids(&db.retention_candidates().await.expect("candidates")),
        vec!["closed"]
    );
    let before = trail(&db, &case.id).await;

    assert!(
        db.thin_case(&case.id, &retention(at(100)))
            .await
            .expect("thin")
    );
    let thinned = read(&db, &case.id).await;
    assert_eq!(
        thinned,
        Case {
            citizen: None,
            protection: Protection::None,
            loa: None,
            access_code_hash: None,
            transfer_reason: None,
            thinned_at: Some(at(100)),
            ..closed
        }
    );
    assert!(db.messages(&case.id).await.expect("messages").is_empty());
    assert!(
        db.harm_assessments(&case.id)
            .await
            .expect("assessments")
            .is_empty()
    );
    assert!(
        db.cases_of_citizen(CitizenRef::Personnummer(&anna()))
            .await
            .expect("cases")
            .is_empty(),
        "no longer found by the citizen's number"
    );
    let after = trail(&db, &case.id).await;
    assert_eq!(after.len(), before.len() + 1, "the trail is kept");
    assert_eq!(after[1..], before[..]);
    assert_eq!(
        (after[0].action.as_str(), after[0].municipality.as_str()),
        ("thin", "1283")
    );
    assert_eq!(after[0].actor, "system:retention");
    assert!(
        db.retention_candidates()
            .await
            .expect("candidates")
            .is_empty()
    );
    assert!(
        !db.thin_case(&case.id, &retention(at(200)))
            .await
            .expect("thin again")
    );
    assert_eq!(trail(&db, &case.id).await.len(), after.len());

    db.transition(
        &anonymous.id,
        &CaseEvent::Cancel,
        &change(Actor::Anonymous, "cancel", at(30)),
        None,
    )
    .await
    .expect("cancel");
    assert!(
        db.thin_case(&anonymous.id, &retention(at(100)))
            .await
            .expect("thin cancelled")
    );
    let thinned = read(&db, &anonymous.id).await;
    assert_eq!(thinned.access_code_hash, None);
    assert_eq!(thinned.state, CaseState::Cancelled);
    assert!(verify(&db).await.ok);
}

// ---------------------------------------------------------------------------------------------
// Rows that break the domain's rules
// ---------------------------------------------------------------------------------------------

/// A stored row that breaks the domain's rules, written behind the store's back, is
/// `StoreError::Corrupt` when read — alone or in a listing — never a panic and never a value
/// the rest of Brygga would have to doubt.
async fn rows_that_break_the_domain_are_corrupt(backend: Backend) {
    let db = seeded(backend).await;
    let tampered = [
        (
            "bad-personnummer",
            "UPDATE cases SET citizen_personnummer = '12345' WHERE id = 'bad-personnummer'",
        ),
        (
            "bad-checksum",
            "UPDATE cases SET citizen_personnummer = '198112189875' WHERE id = 'bad-checksum'",
        ),
        (
            "bad-language",
            "UPDATE cases SET language = 'swedish' WHERE id = 'bad-language'",
        ),
        (
            "bad-loa",
            "UPDATE cases SET citizen_loa = 'loa9' WHERE id = 'bad-loa'",
        ),
        (
            "bad-protection",
            "UPDATE cases SET citizen_protection = 'hemlig' WHERE id = 'bad-protection'",
        ),
        (
            "bad-citizen-home",
            "UPDATE cases SET citizen_home = 'Helsingborg' WHERE id = 'bad-citizen-home'",
        ),
        (
            "no-citizen-home",
            "UPDATE cases SET citizen_home = NULL WHERE id = 'no-citizen-home'",
        ),
        (
            "bad-outcome",
            "UPDATE cases SET outcome = 'solved' WHERE id = 'bad-outcome'",
        ),
        (
            "bad-target",
            "UPDATE cases SET target_municipality = '12' WHERE id = 'bad-target'",
        ),
        (
            "bad-consent",
            "UPDATE cases SET consent_municipalities = '[\"Landskrona\"]' WHERE id = 'bad-consent'",
        ),
    ];
    for (id, sql) in tampered {
        create(&db, new_case(id, "1283", at(0))).await;
        db.raw(sql).await;
        let result = db.case(&case_id(id)).await;
        assert!(
            matches!(result, Err(StoreError::Corrupt(_))),
            "{id}: {result:?}"
        );
    }
    let listed = db.queued(100).await;
    assert!(matches!(listed, Err(StoreError::Corrupt(_))), "{listed:?}");
    let listed = db.cases_of_citizen(CitizenRef::Personnummer(&anna())).await;
    assert!(matches!(listed, Err(StoreError::Corrupt(_))), "{listed:?}");

    add_caseworker(&db, "1283-01", "1283", 3).await;
    add_caseworker(&db, "1283-02", "1283", 3).await;
    db.raw("UPDATE caseworkers SET skills = '[\"Budget advice\"]' WHERE id = '1283-01'")
        .await;
    db.raw("UPDATE caseworkers SET languages = '[\"swedish\"]' WHERE id = '1283-02'")
        .await;
    for id in ["1283-01", "1283-02"] {
        let result = db.caseworker(&worker(id)).await;
        assert!(
            matches!(result, Err(StoreError::Corrupt(_))),
            "{id}: {result:?}"
        );
    }
    let listed = db.caseworkers().await;
    assert!(matches!(listed, Err(StoreError::Corrupt(_))), "{listed:?}");
}

/// A JSON column of the wrong shape (an object where the domain keeps a list of
/// municipalities) is a row that breaks the domain's rules too: `Corrupt`, like any other.
async fn a_json_column_of_the_wrong_shape_is_corrupt(backend: Backend) {
    let db = seeded(backend).await;
    create(&db, new_case("json-shape", "1283", at(0))).await;
    db.raw("UPDATE cases SET consent_municipalities = '{\"1283\": true}' WHERE id = 'json-shape'")
        .await;
    let result = db.case(&case_id("json-shape")).await;
    assert!(matches!(result, Err(StoreError::Corrupt(_))), "{result:?}");
}

// ---------------------------------------------------------------------------------------------
// From the store to HTTP
// ---------------------------------------------------------------------------------------------

/// Store errors reach HTTP as what they are: a unique rule 409 `already_exists`, a schema rule
/// 422 `constraint_violation`, an unreachable database 503, a lost race or a recheck that no
/// longer allows 409 with its reason; a corrupt row is an internal error.
#[test]
fn store_errors_map_to_http_answers() {
    use brygga::http::error::ApiError;
    let answer = |e: StoreError| {
        let api = ApiError::from(brygga::workflow::Error::from(e));
        (api.status().as_u16(), api.code())
    };
    assert_eq!(
        answer(StoreError::Duplicate("x".into())),
        (409, "already_exists")
    );
    assert_eq!(
        answer(StoreError::Constraint(
            "caseworkers_municipality_fkey".into()
        )),
        (422, "constraint_violation")
    );
    assert_eq!(
        answer(StoreError::Unavailable("pool timed out".into())),
        (503, "unavailable")
    );
    assert_eq!(
        answer(StoreError::Transition(TransitionError::AccessChanged)),
        (409, "access_changed")
    );
    assert_eq!(
        answer(StoreError::Transition(TransitionError::AlreadyClaimed)),
        (409, "already_claimed")
    );
    assert_eq!(
        answer(StoreError::Transition(TransitionError::CapacityFull)),
        (409, "capacity_full")
    );
    assert_eq!(answer(StoreError::NotFound), (404, "not_found"));
    assert_eq!(
        answer(StoreError::Corrupt("case language".into())),
        (500, "internal")
    );
}

// ---------------------------------------------------------------------------------------------
// Every test above, on both backends
// ---------------------------------------------------------------------------------------------

on_both_backends!(
    federation_seed_and_load_round_trip,
    federation_keeps_the_order_of_its_members,
    caseworkers_round_trip,
    availability_respects_the_maximum,
    created_cases_read_back_as_written,
    a_refused_case_is_not_half_written,
    a_claim_assigns_and_takes_capacity,
    a_refused_recheck_writes_nothing,
    the_rechecked_ground_is_audited,
    concurrent_claims_have_exactly_one_winner,
    concurrent_claims_never_exceed_capacity,
    messages_are_not_assignments,
    concurrent_appends_keep_every_chain_whole,
    amendments_keep_their_history,
    queues_follow_permits_rings_and_urgency,
    routing_settings_round_trip,
    offers_open_end_and_count,
    api_tokens_live_until_expired_or_revoked,
    web_sessions_create_save_load_delete,
    policy_versions_insert_list_activate,
    audit_chains_verify_and_filter,
    listings_by_citizen_owner_and_activity,
    retention_thins_closed_cases_once,
    rows_that_break_the_domain_are_corrupt,
    a_json_column_of_the_wrong_shape_is_corrupt,
);

//! Calendar dates over HTTP, on both backends: agreement dates are inclusive Europe/Stockholm
//! dates, summer time included (DESIGN.md "Storage"), so a date begins at Stockholm midnight —
//! 22:00 UTC the evening before in summer — not at a fixed UTC+1.

use chrono::{DateTime, NaiveDate, Utc};
use reqwest::StatusCode;

use brygga::clock::Clock;

use crate::ANNA;
use crate::harness::{Backend, TestApp, spawn};
use crate::routing::{away, in_queue, submit_with};

/// Båstad: a partner only through `fh-bastad-2026` (ekonomi and familj), valid from 2026-06-01
/// (deploy/federations/familjen-helsingborg.toml).
const BASTAD: &str = "1278";

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

/// Moves the app's clock to `at` (backwards if need be), sends all of Båstad's caseworkers
/// away and submits a consenting Båstad citizen's `ekonomi` request; returns its id and ring,
/// having checked that a Helsingborg caseworker sees it exactly when it is in ring 1. Logins
/// come after the move: sessions follow the app clock.
async fn bastad_ekonomi_with_nobody_home(app: &TestApp, at: DateTime<Utc>) -> (String, i64) {
    app.clock.advance(at - app.clock.now());
    let staff = app.get("/demo/caseworkers", None).await;
    assert_eq!(staff.status, StatusCode::OK, "{}", staff.body);
    let bastad: Vec<String> = staff
        .body
        .as_array()
        .expect("caseworkers")
        .iter()
        .filter(|c| c["municipality"] == BASTAD)
        .filter_map(|c| c["id"].as_str().map(str::to_owned))
        .collect();
    assert!(!bastad.is_empty(), "Båstad has demo caseworkers");
    for id in &bastad {
        away(app, id).await;
    }
    let citizen = app.citizen(ANNA, BASTAD).await;
    let submitted = submit_with(app, &citizen, "ekonomi", "sv", true).await;
    let id = submitted["id"].as_str().expect("id").to_owned();
    let ring = submitted["ring"].as_i64().expect("ring");
    let partner = app.caseworker("1283-01").await;
    let seen = in_queue(app, &partner, &id).await.is_some();
    assert_eq!(
        seen,
        ring == 1,
        "Helsingborg sees it exactly when it is in ring 1"
    );
    (id, ring)
}

/// R4: at 22:30 UTC on 31 May 2026 it is 00:30 on 1 June in Stockholm (summer time, UTC+2),
/// so `fh-bastad-2026` is valid and the request widens at once to the partners. At UTC+1 all
/// year it would still have been 31 May, and the request would have stayed at home in ring 0.
async fn r4_agreement_is_valid_from_stockholm_midnight_in_summer_time(backend: Backend) {
    let app = spawn(backend).await;
    let at = utc("2026-05-31T22:30:00Z");
    let (id, ring) = bastad_ekonomi_with_nobody_home(&app, at).await;
    assert_eq!(ring, 1, "{id}: partners permitted from 1 June");
    assert_eq!(
        app.clock.today(),
        NaiveDate::from_ymd_opt(2026, 6, 1).expect("date")
    );
}

/// R4, the other side: at 21:30 UTC on 31 May it is 23:30 on 31 May in Stockholm; the
/// agreement is not valid yet and the request waits at home in ring 0.
async fn r4_agreement_is_not_valid_on_the_stockholm_eve(backend: Backend) {
    let app = spawn(backend).await;
    let at = utc("2026-05-31T21:30:00Z");
    let (id, ring) = bastad_ekonomi_with_nobody_home(&app, at).await;
    assert_eq!(ring, 0, "{id}: no valid agreement on 31 May");
    assert_eq!(
        app.clock.today(),
        NaiveDate::from_ymd_opt(2026, 5, 31).expect("date")
    );
}

on_both_backends!(
    r4_agreement_is_valid_from_stockholm_midnight_in_summer_time,
    r4_agreement_is_not_valid_on_the_stockholm_eve,
);

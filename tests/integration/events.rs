//! Server-sent events over HTTP (`GET /api/v1/events`): who hears what, and that nobody hears
//! of a case they may not see. Events are read as they arrive, each with a deadline; silence is
//! checked over a short window, since a leak would arrive as fast as a delivery does.

use std::time::Duration;

use brygga::routing::settings::{Mode, RoutingSettings};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::time::{Instant, timeout_at};

use crate::harness::{Backend, TestApp, spawn};
use crate::{ANNA, person};

/// Generous for a loaded machine; events normally arrive within milliseconds.
const ARRIVES: Duration = Duration::from_secs(5);
/// How long a stream must stay quiet to count as having heard nothing.
const SILENCE: Duration = Duration::from_millis(500);

/// One open event stream, read frame by frame.
struct Events {
    response: reqwest::Response,
    /// Bytes received but not yet a whole frame (frames may span chunks).
    buffer: Vec<u8>,
}

impl Events {
    async fn open(app: &TestApp, token: &str) -> Events {
        let response = app
            .client
            .get(format!("{}/api/v1/events", app.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("request sent");
        assert_eq!(response.status(), StatusCode::OK);
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        Events {
            response,
            buffer: Vec::new(),
        }
    }

    /// The next event as (name, data) if one arrives before `deadline`. Keep-alive comments
    /// are passed over.
    async fn next_before(&mut self, deadline: Instant) -> Option<(String, Value)> {
        loop {
            while let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let frame: Vec<u8> = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse(&frame) {
                    return Some(event);
                }
            }
            let chunk = timeout_at(deadline, self.response.chunk()).await.ok()?;
            let chunk = chunk
                .expect("stream readable")
                .expect("the server keeps the stream open");
            self.buffer.extend_from_slice(&chunk);
        }
    }

    /// The data of the next `name` event, passing over others (a submission also changes
    /// queues, for instance).
    async fn expect(&mut self, name: &str) -> Value {
        let deadline = Instant::now() + ARRIVES;
        loop {
            match self.next_before(deadline).await {
                Some((event, data)) if event == name => return data,
                Some(_) => {}
                None => panic!("no {name} event within {ARRIVES:?}"),
            }
        }
    }

    /// Everything heard within the silence window.
    async fn heard(&mut self) -> Vec<(String, Value)> {
        let deadline = Instant::now() + SILENCE;
        let mut heard = Vec::new();
        while let Some(event) = self.next_before(deadline).await {
            heard.push(event);
        }
        heard
    }
}

/// An SSE frame's event name and JSON data; `None` for a frame without a name (keep-alive).
fn parse(frame: &[u8]) -> Option<(String, Value)> {
    let text = std::str::from_utf8(frame).expect("frames are UTF-8");
    let mut name = None;
    let mut data = String::new();
    for line in text.lines() {
        if let Some(value) = line.strip_prefix("event:") {
            name = Some(value.trim_start().to_owned());
        } else if let Some(value) = line.strip_prefix("data:") {
            data.push_str(value.trim_start());
        }
    }
    let name = name?;
    let data = serde_json::from_str(&data)
        .unwrap_or_else(|e| panic!("{name}: data is not JSON ({e}): {data}"));
    Some((name, data))
}

fn names(heard: &[(String, Value)]) -> Vec<&str> {
    heard.iter().map(|(name, _)| name.as_str()).collect()
}

/// A Perstorp request reaches Perstorp's queue listeners, with no case id, and nobody in
/// Helsingborg hears of it.
pub async fn events_queue_changes_reach_only_that_municipality(backend: Backend) {
    let app = spawn(backend).await;
    let mut perstorp = Events::open(&app, &app.caseworker("1275-01").await).await;
    let mut helsingborg = Events::open(&app, &app.caseworker("1283-01").await).await;

    let citizen = app.citizen(ANNA, "1275").await;
    app.submit(&citizen, "ekonomi", "sv").await;

    assert_eq!(
        perstorp.expect("queue.changed").await,
        json!({"municipality": "1275"})
    );
    let heard = helsingborg.heard().await;
    assert!(heard.is_empty(), "{heard:?}");
}

/// R10: a child concern alerts every home caseworker with the skill, even one who is away,
/// and the home's and the federation's admins; no other municipality hears of it.
pub async fn events_child_concern_alerts_home_staff_and_admins(backend: Backend) {
    let app = spawn(backend).await;
    let staff_token = app.caseworker("1275-01").await;
    let away = app
        .put(
            "/api/v1/me/availability",
            Some(&staff_token),
            json!({"status": "away"}),
        )
        .await;
    assert_eq!(away.status, StatusCode::OK, "{}", away.body);
    let mut staff = Events::open(&app, &staff_token).await;
    let mut home_admin = Events::open(
        &app,
        &app.login(json!({"role": "admin", "municipality": "1275"}))
            .await,
    )
    .await;
    let mut federation_admin = Events::open(&app, &app.login(json!({"role": "admin"})).await).await;
    let mut other_staff = Events::open(&app, &app.caseworker("1283-01").await).await;
    let mut other_admin = Events::open(
        &app,
        &app.login(json!({"role": "admin", "municipality": "1283"}))
            .await,
    )
    .await;

    let citizen = app.citizen(&person(1), "1275").await;
    let answer = app
        .post(
            "/api/v1/requests",
            Some(&citizen),
            json!({"category": "oro_barn", "language": "sv", "text": "Jag är orolig för ett barn.",
                   "child_municipality": "1275", "consent": {"cross_municipality": false}}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    let id = answer.body["id"].as_str().expect("id");

    let alert = json!({"id": id, "category": "oro_barn", "home": "1275"});
    assert_eq!(staff.expect("alert.child_concern").await, alert);
    assert_eq!(home_admin.expect("alert.child_concern").await, alert);
    // R10: the alert goes to the child's home municipality only, never to the federation.
    let heard = federation_admin.heard().await;
    assert!(heard.is_empty(), "{heard:?}");
    let heard = other_staff.heard().await;
    assert!(heard.is_empty(), "{heard:?}");
    let heard = other_admin.heard().await;
    assert!(heard.is_empty(), "{heard:?}");
}

/// Push mode: only the caseworker offered the case hears of the offer, and of its end when
/// they reject it.
pub async fn events_offers_reach_only_the_offered_caseworker(backend: Backend) {
    let app = spawn(backend).await;
    let federation = app
        .store
        .load_federation()
        .await
        .expect("federation read")
        .expect("federation stored");
    let mut routing = RoutingSettings::new(&federation, &[]).get("ekonomi");
    routing.mode = Mode::Push;
    let federation_admin = app.login(json!({"role": "admin"})).await;
    let answer = app
        .put(
            "/api/v1/admin/routing",
            Some(&federation_admin),
            json!([routing]),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);

    let mut perstorp = Vec::new();
    for caseworker in app.store.caseworkers().await.expect("caseworkers") {
        if caseworker.municipality.as_str() == "1275" {
            let token = app.caseworker(caseworker.id.as_str()).await;
            let events = Events::open(&app, &token).await;
            perstorp.push((token, events));
        }
    }
    assert!(perstorp.len() >= 2, "Perstorp has staff to choose from");

    let citizen = app.citizen(ANNA, "1275").await;
    let id = app.submit(&citizen, "ekonomi", "sv").await;

    let mut offered = None;
    for (k, (token, _)) in perstorp.iter().enumerate() {
        let offers = app.get("/api/v1/offers", Some(token)).await;
        assert_eq!(offers.status, StatusCode::OK, "{}", offers.body);
        if let Some(offer) = offers
            .body
            .as_array()
            .expect("offers")
            .iter()
            .find(|o| o["id"] == id.as_str())
        {
            assert!(offered.is_none(), "one offer at a time");
            let offer_id = offer["offer_id"].as_str().expect("offer id").to_owned();
            offered = Some((k, offer_id));
        }
    }
    let (k, offer_id) = offered.expect("the request was offered to a Perstorp caseworker");
    let offer = json!({"id": id, "category": "ekonomi"});
    assert_eq!(perstorp[k].1.expect("offer.created").await, offer);
    for (j, (_, events)) in perstorp.iter_mut().enumerate() {
        if j != k {
            let heard = events.heard().await;
            assert!(!names(&heard).contains(&"offer.created"), "{heard:?}");
        }
    }

    let rejected = app
        .post(
            &format!("/api/v1/offers/{offer_id}/reject"),
            Some(&perstorp[k].0),
            json!({}),
        )
        .await;
    assert_eq!(rejected.status, StatusCode::OK, "{}", rejected.body);
    assert_eq!(perstorp[k].1.expect("offer.expired").await, offer);
}

/// A citizen's message reaches the caseworker who has the case, with its state, and not a
/// colleague at home who could see the case but does not have it.
pub async fn events_case_messages_reach_the_owner_only(backend: Backend) {
    let app = spawn(backend).await;
    let citizen = app.citizen(ANNA, "1275").await;
    let id = app.submit(&citizen, "ekonomi", "sv").await;
    let owner_token = app.caseworker("1275-01").await;
    let claimed = app
        .post(
            &format!("/api/v1/cases/{id}/claim"),
            Some(&owner_token),
            json!({}),
        )
        .await;
    assert_eq!(claimed.status, StatusCode::OK, "{}", claimed.body);
    let mut owner = Events::open(&app, &owner_token).await;
    let mut colleague = Events::open(&app, &app.caseworker("1275-02").await).await;

    let written = app
        .post(
            &format!("/api/v1/requests/{id}/messages"),
            Some(&citizen),
            json!({"text": "En fråga till."}),
        )
        .await;
    assert_eq!(written.status, StatusCode::CREATED, "{}", written.body);

    assert_eq!(
        owner.expect("case.message").await,
        json!({"id": id, "state": "assigned"})
    );
    let heard = colleague.heard().await;
    assert!(!names(&heard).contains(&"case.message"), "{heard:?}");
}

/// Only caseworkers and admins subscribe: 401 without a session, 403 for a citizen.
pub async fn events_need_a_caseworker_or_an_admin(backend: Backend) {
    let app = spawn(backend).await;
    let anonymous = app.get("/api/v1/events", None).await;
    assert_eq!(
        (anonymous.status, anonymous.error()),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );
    let unknown = app.get("/api/v1/events", Some("not-a-token")).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    let citizen = app.citizen(ANNA, "1275").await;
    let refused = app.get("/api/v1/events", Some(&citizen)).await;
    assert_eq!(
        (refused.status, refused.error()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
}

/// An open stream does not hold a shutting-down server: it ends, and the server stops.
pub async fn events_end_when_the_server_shuts_down(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.caseworker("1275-01").await;
    let mut events = Events::open(&app, &token).await;
    drop(app); // sends the shutdown signal
    let ended = tokio::time::timeout(ARRIVES, async {
        loop {
            match events.response.chunk().await {
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => return,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream did not end on shutdown");
    events.buffer.clear();
}

//! Server-sent events over HTTP (`GET /api/v1/events`): who hears what, and that nobody hears
//! of a case they may not see. Events are read as they arrive, each with a deadline; silence is
//! checked over a short window, since a leak would arrive as fast as a delivery does.

use std::time::Duration;

use brygga::config::Config;
use brygga::routing::settings::{Mode, RoutingSettings};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::time::{Instant, timeout_at};

use crate::harness::{Backend, TestApp, browser, browser_login, spawn};
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
        Events::open_with(app, &app.client, Some(token)).await
    }

    /// A stream opened by `client` (a browser's, carrying its session cookie), with a bearer
    /// token or without one (then the cookie alone says who is listening).
    async fn open_with(app: &TestApp, client: &reqwest::Client, token: Option<&str>) -> Events {
        let mut request = client.get(format!("{}/api/v1/events", app.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request sent");
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

    /// The next event, the end of the stream, or nothing before `deadline`. Keep-alive comments
    /// are passed over.
    async fn read_before(&mut self, deadline: Instant) -> Read {
        loop {
            while let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let frame: Vec<u8> = self.buffer.drain(..end + 2).collect();
                if let Some((name, data)) = parse(&frame) {
                    return Read::Event(name, data);
                }
            }
            let Ok(chunk) = timeout_at(deadline, self.response.chunk()).await else {
                return Read::TimedOut;
            };
            match chunk.expect("stream readable") {
                Some(chunk) => self.buffer.extend_from_slice(&chunk),
                None => {
                    let rest = String::from_utf8_lossy(&self.buffer);
                    assert!(rest.trim().is_empty(), "a frame cut off at the end: {rest}");
                    return Read::Closed;
                }
            }
        }
    }

    /// The next event as (name, data) if one arrives before `deadline`.
    async fn next_before(&mut self, deadline: Instant) -> Option<(String, Value)> {
        match self.read_before(deadline).await {
            Read::Event(name, data) => Some((name, data)),
            Read::TimedOut => None,
            Read::Closed => panic!("the server keeps the stream open"),
        }
    }

    /// Every event until the server closes the stream, which it must do within `ARRIVES`.
    async fn until_closed(&mut self) -> Vec<(String, Value)> {
        let deadline = Instant::now() + ARRIVES;
        let mut heard = Vec::new();
        loop {
            match self.read_before(deadline).await {
                Read::Event(name, data) => heard.push((name, data)),
                Read::Closed => return heard,
                Read::TimedOut => {
                    panic!("the stream did not close within {ARRIVES:?}; heard {heard:?}")
                }
            }
        }
    }

    /// The stream says `end` (without data) and closes, having delivered nothing else.
    async fn ends(&mut self) {
        let heard = self.until_closed().await;
        assert_eq!(
            heard,
            vec![("end".to_owned(), json!({}))],
            "one end frame without case data, then the stream closes"
        );
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

/// What reading a stream gave.
enum Read {
    Event(String, Value),
    /// The server ended the response.
    Closed,
    /// Nothing before the deadline.
    TimedOut,
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
/// and the home's administrators; no other municipality hears of it, nor the federation's
/// administrators (a concern about a child is its home's to follow up).
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

/// What `GET /api/v1/events` answers now (a stream that does open is dropped at once).
async fn reopen(app: &TestApp, client: &reqwest::Client, token: Option<&str>) -> StatusCode {
    let mut request = client.get(format!("{}/api/v1/events", app.base));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    tokio::time::timeout(ARRIVES, request.send())
        .await
        .expect("answered in time")
        .expect("request sent")
        .status()
}

/// A citizen of Perstorp raises a concern about a child there (R10); answers its id.
async fn child_concern(app: &TestApp, n: u16) -> String {
    let citizen = app.citizen(&person(n), "1275").await;
    let answer = app
        .post(
            "/api/v1/requests",
            Some(&citizen),
            json!({"category": "oro_barn", "language": "sv", "text": "Jag är orolig för ett barn.",
                   "child_municipality": "1275", "consent": {"cross_municipality": false}}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    answer.body["id"].as_str().expect("id").to_owned()
}

/// `POST /logout` with a caseworker's bearer token ends every stream of that token at once,
/// without waiting for a notice: each says `end` (no data) and closes, and the token opens no
/// new stream (401). A queue change of their municipality, which both streams heard before,
/// reaches neither afterwards, while the same caseworker's other login still hears it.
pub async fn events_end_when_a_token_logs_out(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.caseworker("1275-01").await;
    let mut first = Events::open(&app, &token).await;
    let mut second = Events::open(&app, &token).await;
    // The same caseworker logged in again: a login of its own, which goes on.
    let mut other_login = Events::open(&app, &app.caseworker("1275-01").await).await;
    let citizen = app.citizen(ANNA, "1275").await;
    let queue = json!({"municipality": "1275"});

    app.submit(&citizen, "ekonomi", "sv").await;
    for events in [&mut first, &mut second, &mut other_login] {
        assert_eq!(events.expect("queue.changed").await, queue);
    }

    let out = app.post("/logout", Some(&token), json!({})).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT, "{}", out.body);
    first.ends().await;
    assert_eq!(
        reopen(&app, &app.client, Some(&token)).await,
        StatusCode::UNAUTHORIZED
    );

    app.submit(&citizen, "ekonomi", "sv").await;
    assert_eq!(other_login.expect("queue.changed").await, queue);
    second.ends().await;
}

/// `POST /logout` from the browser (its cookie, no bearer) ends the browser login and every
/// token issued to it: a stream opened with the cookie alone and one opened with the demo
/// login's session token both say `end` and close, with nothing of a queue change sent after
/// the logout (which a colleague hears); neither the cookie nor the token opens a new stream.
pub async fn events_end_when_the_browser_logs_out(backend: Backend) {
    let app = spawn(backend).await;
    let browser = browser();
    let token = browser_login(
        &app,
        &browser,
        json!({"role": "caseworker", "caseworker_id": "1275-01"}),
    )
    .await;
    let mut by_cookie = Events::open_with(&app, &browser, None).await;
    let mut by_token = Events::open(&app, &token).await;
    let mut colleague = Events::open(&app, &app.caseworker("1275-02").await).await;
    let citizen = app.citizen(ANNA, "1275").await;
    let queue = json!({"municipality": "1275"});

    app.submit(&citizen, "ekonomi", "sv").await;
    for events in [&mut by_cookie, &mut by_token, &mut colleague] {
        assert_eq!(events.expect("queue.changed").await, queue);
    }

    let out = browser
        .post(format!("{}/logout", app.base))
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    app.submit(&citizen, "ekonomi", "sv").await;
    assert_eq!(colleague.expect("queue.changed").await, queue);
    by_cookie.ends().await;
    by_token.ends().await;
    assert_eq!(reopen(&app, &browser, None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reopen(&app, &app.client, Some(&token)).await,
        StatusCode::UNAUTHORIZED
    );
}

/// Revoking an integration token ends its streams: a Perstorp administrator's integration
/// token hears a child concern of Perstorp (R10); another login of a Perstorp administrator
/// revokes it (`DELETE /api/v1/admin/tokens/{id}`), and its stream says `end` and closes,
/// with nothing of the next concern, which the creating administrator's own login still
/// hears; the token opens no new stream.
pub async fn events_end_when_an_integration_token_is_revoked(backend: Backend) {
    let app = spawn(backend).await;
    let creator = app
        .login(json!({"role": "admin", "municipality": "1275"}))
        .await;
    let created = app
        .post(
            "/api/v1/admin/tokens",
            Some(&creator),
            json!({"name": "Perstorps larmtavla", "scopes": ["events:read"]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let integration = created.body["token"].as_str().expect("token").to_owned();
    let id = created.body["id"].as_str().expect("id").to_owned();
    let mut by_integration = Events::open(&app, &integration).await;
    let mut by_creator = Events::open(&app, &creator).await;

    let first = child_concern(&app, 21).await;
    let alert = json!({"id": first, "category": "oro_barn", "home": "1275"});
    assert_eq!(by_integration.expect("alert.child_concern").await, alert);
    assert_eq!(by_creator.expect("alert.child_concern").await, alert);

    let revoker = app
        .login(json!({"role": "admin", "municipality": "1275"}))
        .await;
    let revoked = app
        .raw(
            Method::DELETE,
            &format!("/api/v1/admin/tokens/{id}"),
            Some(&revoker),
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.body);
    let second = child_concern(&app, 22).await;
    assert_eq!(
        by_creator.expect("alert.child_concern").await,
        json!({"id": second, "category": "oro_barn", "home": "1275"})
    );
    by_integration.ends().await;
    assert_eq!(
        reopen(&app, &app.client, Some(&integration)).await,
        StatusCode::UNAUTHORIZED
    );
}

/// A browser login that runs out while idle ends its stream at the latest at the next notice:
/// a caseworker's cookie stream stays quiet while the application's clock passes the idle
/// timeout (no request, so no logout and no `LoginEnded`); the next queue change of their
/// municipality makes it say `end` instead of `queue.changed`, and close. The same
/// caseworker's bearer login (tokens end at the absolute time, not when idle) hears the
/// change; the cookie opens no new stream.
pub async fn events_end_when_the_browser_login_runs_out(backend: Backend) {
    let app = spawn(backend).await;
    let browser = browser();
    browser_login(
        &app,
        &browser,
        json!({"role": "caseworker", "caseworker_id": "1275-01"}),
    )
    .await;
    let mut idle = Events::open_with(&app, &browser, None).await;
    let mut by_token = Events::open(&app, &app.caseworker("1275-01").await).await;

    let idle_minutes = i64::from(Config::default().session_idle_minutes);
    app.clock
        .advance(chrono::Duration::minutes(idle_minutes + 1));
    let citizen = app.citizen(ANNA, "1275").await;
    app.submit(&citizen, "ekonomi", "sv").await;

    assert_eq!(
        by_token.expect("queue.changed").await,
        json!({"municipality": "1275"})
    );
    idle.ends().await;
    assert_eq!(reopen(&app, &browser, None).await, StatusCode::UNAUTHORIZED);
}

/// R11 at delivery: the queue change caused by a request from a citizen with protected
/// identity (stating Perstorp, R3) reaches Perstorp's cleared caseworker but not an uncleared
/// colleague of the same municipality, while a non-protected request's queue change reaches
/// both.
pub async fn events_protected_queue_changes_reach_only_cleared_staff(backend: Backend) {
    let app = spawn(backend).await;
    let staff = app.get("/demo/caseworkers", None).await;
    assert_eq!(staff.status, StatusCode::OK, "{}", staff.body);
    let staff = staff.body.as_array().expect("caseworkers");
    let cleared = staff
        .iter()
        .find(|c| c["id"] == "1275-01")
        .expect("Perstorp's generalist");
    assert_eq!(cleared["protected_identity_clearance"], true);
    let uncleared = staff
        .iter()
        .find(|c| c["municipality"] == "1275" && c["protected_identity_clearance"] == false)
        .expect("an uncleared Perstorp caseworker")["id"]
        .as_str()
        .expect("id");
    let mut cleared = Events::open(&app, &app.caseworker("1275-01").await).await;
    let mut uncleared = Events::open(&app, &app.caseworker(uncleared).await).await;
    let queue = json!({"municipality": "1275"});

    let protected = app
        .login(
            json!({"role": "citizen", "personnummer": person(31), "municipality": "1275",
                      "protection": "skyddad_folkbokforing"}),
        )
        .await;
    let answer = app
        .post(
            "/api/v1/requests",
            Some(&protected),
            json!({"category": "ekonomi", "language": "sv", "text": "Jag behöver hjälp.",
                   "municipality": "1275", "consent": {"cross_municipality": false}}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    assert_eq!(cleared.expect("queue.changed").await, queue);
    let heard = uncleared.heard().await;
    assert!(heard.is_empty(), "R11: {heard:?}");

    let citizen = app.citizen(ANNA, "1275").await;
    app.submit(&citizen, "ekonomi", "sv").await;
    assert_eq!(cleared.expect("queue.changed").await, queue);
    assert_eq!(uncleared.expect("queue.changed").await, queue);
    for events in [&mut cleared, &mut uncleared] {
        let heard = events.heard().await;
        assert!(heard.is_empty(), "one change, heard once: {heard:?}");
    }
}

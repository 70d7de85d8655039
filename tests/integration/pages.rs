//! What every page shares (issue 20): the language and its switch, the CSRF token, the
//! security headers, error pages for people and JSON for programs, the exit, the static files,
//! and the demo's page for choosing a person. On both databases.

use reqwest::StatusCode;

use crate::harness::{Backend, TestApp, bind, browser, spawn, spawn_on};

/// A page as a browser gets it: status, headers and the HTML.
async fn page(
    client: &reqwest::Client,
    app: &TestApp,
    path: &str,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let answer = client
        .get(format!("{}{path}", app.base))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .expect("page");
    let status = answer.status();
    let headers = answer.headers().clone();
    (status, headers, answer.text().await.expect("html"))
}

/// The CSRF token a page's forms carry.
pub fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("a form with a CSRF token") + marker.len();
    html[start..].split('"').next().expect("token").to_owned()
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// The start page is Swedish by default; `?lang=en` redirects to the same page and remembers
/// English in a cookie; `Accept-Language` chooses when nothing was chosen; every answer
/// carries the security headers, and a page weighs well under 100 KB with its stylesheet and
/// script.
async fn pages_speak_the_chosen_language_and_carry_the_security_headers(backend: Backend) {
    let app = spawn(backend).await;
    let client = browser();
    let (status, headers, html) = page(&client, &app, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<html lang=\"sv\" dir=\"ltr\">"), "{html}");
    assert!(html.contains("href=\"/login/citizen\""));
    assert!(html.contains("href=\"/requests/new\""));
    assert!(html.contains("href=\"/exit\""));
    assert!(html.contains("tel:112"));
    let csp = header(&headers, "content-security-policy");
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(header(&headers, "referrer-policy"), "no-referrer");
    assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
    assert_eq!(header(&headers, "cache-control"), "no-store");
    let cookie = header(&headers, "set-cookie");
    assert!(
        cookie.starts_with("brygga_csrf=") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    assert!(
        !html.contains("style=\"") && !html.contains("<style"),
        "no inline styles"
    );
    assert!(!html.contains("<script>"), "no inline scripts");

    let switch = client
        .get(format!("{}/accessibility?lang=en", app.base))
        .send()
        .await
        .expect("switch");
    assert_eq!(switch.status(), StatusCode::SEE_OTHER);
    assert_eq!(header(switch.headers(), "location"), "/accessibility");
    let (_, _, english) = page(&client, &app, "/accessibility").await;
    assert!(english.contains("<html lang=\"en\""), "{english}");
    assert!(english.contains("WCAG 2.1"));
    // The switch on an English page offers Swedish, for the same page.
    assert!(
        english.contains("href=\"/accessibility?lang=sv\""),
        "{english}"
    );

    let fresh = browser();
    let negotiated = fresh
        .get(format!("{}/", app.base))
        .header("accept-language", "en-GB,en;q=0.9")
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(negotiated.contains("<html lang=\"en\""));

    let mut weight = html.len();
    for asset in ["/static/brygga.css", "/static/brygga.js"] {
        let answer = client
            .get(format!("{}{asset}", app.base))
            .send()
            .await
            .expect("asset");
        assert_eq!(answer.status(), StatusCode::OK, "{asset}");
        assert!(
            header(answer.headers(), "cache-control").starts_with("public"),
            "{asset}"
        );
        weight += answer.bytes().await.expect("bytes").len();
    }
    assert!(weight < 100 * 1024, "{weight} bytes");
}

/// A person who mistypes an address gets a page in their language; a program gets JSON.
async fn unknown_paths_answer_people_with_a_page_and_programs_with_json(backend: Backend) {
    let app = spawn(backend).await;
    let client = browser();
    let (status, headers, html) = page(&client, &app, "/no-such-page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(header(&headers, "content-type").starts_with("text/html"));
    assert!(html.contains("data-code=\"not_found\""), "{html}");
    let json = client
        .get(format!("{}/no-such-page", app.base))
        .send()
        .await
        .expect("json");
    assert_eq!(json.status(), StatusCode::NOT_FOUND);
    assert!(header(json.headers(), "content-type").starts_with("application/json"));
    let (status, _, body) = page(&client, &app, "/api/v1/nothing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.starts_with('{'), "the API answers JSON: {body}");
}

/// The demo's people log in with a real browser session through a form that carries the CSRF
/// token; without the token nothing happens; "Leave this page quickly" ends the session and
/// goes to the neutral site.
async fn demo_people_log_in_through_a_form_and_the_exit_logs_out(backend: Backend) {
    let app = spawn(backend).await;
    let client = browser();
    let (status, _, html) = page(&client, &app, "/demo").await;
    assert_eq!(status, StatusCode::OK);
    for person in [
        "Invånare i Perstorp",
        "skyddad folkbokföring",
        "eIDAS",
        "1275-01",
        "Administratör för hela samarbetet",
    ] {
        assert!(html.contains(person), "{person}");
    }
    let csrf = csrf_of(&html);
    let perstorp = [
        ("role", "citizen"),
        ("personnummer", "198112189876"),
        ("municipality", "1275"),
    ];
    let refused = client
        .post(format!("{}/demo", app.base))
        .form(&perstorp)
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(
        refused
            .text()
            .await
            .expect("html")
            .contains("data-code=\"csrf\"")
    );
    let mut with_token = perstorp.to_vec();
    with_token.push(("csrf", &csrf));
    let logged_in = client
        .post(format!("{}/demo", app.base))
        .form(&with_token)
        .send()
        .await
        .expect("post");
    assert_eq!(logged_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(header(logged_in.headers(), "location"), "/my/requests");
    let mine = client
        .get(format!("{}/api/v1/me/requests", app.base))
        .send()
        .await
        .expect("mine");
    assert_eq!(mine.status(), StatusCode::OK, "the session is a citizen's");
    let (_, _, start) = page(&client, &app, "/").await;
    assert!(start.contains("href=\"/my/requests\""), "the menu knows");

    let exit = client
        .get(format!("{}/exit", app.base))
        .send()
        .await
        .expect("exit");
    assert_eq!(exit.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        header(exit.headers(), "location"),
        app.ctx.config.exit_url.as_str()
    );
    let after = client
        .get(format!("{}/api/v1/me/requests", app.base))
        .send()
        .await
        .expect("mine");
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED, "logged out");
}

/// `serve` has no demo page, and the citizen login without an eID broker is not found there;
/// in the demo it leads to the demo's people.
async fn the_demo_page_exists_only_in_the_demo(backend: Backend) {
    let (listener, _) = bind();
    let served = spawn_on(backend, listener, false, |_| {}).await;
    let client = browser();
    let (status, _, _) = page(&client, &served, "/demo").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let demo = spawn(backend).await;
    let login = client
        .get(format!("{}/login/citizen", demo.base))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    assert_eq!(header(login.headers(), "location"), "/demo");
}

/// A language still being translated (the right-to-left stub `ar`) is served in the demo only,
/// with `dir="rtl"`; `serve` ignores it and stays Swedish.
async fn a_language_being_translated_is_served_only_in_the_demo(backend: Backend) {
    let demo = spawn(backend).await;
    let client = browser();
    let switch = client
        .get(format!("{}/?lang=ar", demo.base))
        .send()
        .await
        .expect("switch");
    assert_eq!(switch.status(), StatusCode::SEE_OTHER);
    let (_, _, html) = page(&client, &demo, "/").await;
    assert!(html.contains("<html lang=\"ar\" dir=\"rtl\">"), "{html}");
    assert!(
        !html.contains("hreflang=\"ar\""),
        "not offered in the switch"
    );

    let (listener, _) = bind();
    let served = spawn_on(backend, listener, false, |_| {}).await;
    let client = browser();
    client
        .get(format!("{}/?lang=ar", served.base))
        .send()
        .await
        .expect("switch");
    let (_, _, html) = page(&client, &served, "/").await;
    assert!(html.contains("<html lang=\"sv\" dir=\"ltr\">"), "{html}");
}

on_both_backends!(
    pages_speak_the_chosen_language_and_carry_the_security_headers,
    a_language_being_translated_is_served_only_in_the_demo,
    unknown_paths_answer_people_with_a_page_and_programs_with_json,
    demo_people_log_in_through_a_form_and_the_exit_logs_out,
    the_demo_page_exists_only_in_the_demo,
);

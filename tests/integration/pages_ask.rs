//! The asking pages (issue 20 point 2): the question pages, check answers and the
//! confirmation, walked as a browser walks them — each step's hidden fields posted back with
//! the new answers — on both databases.

use reqwest::StatusCode;
use serde_json::json;

use crate::ANNA;
use crate::harness::{Backend, TestApp, browser, browser_login, case_id, spawn};
use crate::pages::csrf_of;

/// A browser's answer: status, `Location` and every `Set-Cookie`, and the HTML.
struct Seen {
    status: StatusCode,
    location: String,
    cookies: Vec<String>,
    html: String,
}

async fn seen(answer: reqwest::Response) -> Seen {
    let status = answer.status();
    let headers = answer.headers().clone();
    let location = headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let cookies = headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_owned)
        .collect();
    let html = answer.text().await.expect("html");
    Seen {
        status,
        location,
        cookies,
        html,
    }
}

async fn get(client: &reqwest::Client, app: &TestApp, path: &str) -> Seen {
    seen(
        client
            .get(format!("{}{path}", app.base))
            .header("accept", "text/html")
            .send()
            .await
            .expect("page"),
    )
    .await
}

async fn post(
    client: &reqwest::Client,
    app: &TestApp,
    path: &str,
    fields: &[(String, String)],
) -> Seen {
    seen(
        client
            .post(format!("{}{path}", app.base))
            .header("accept", "text/html")
            .form(fields)
            .send()
            .await
            .expect("form"),
    )
    .await
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&#60;", "<")
        .replace("&gt;", ">")
        .replace("&#62;", ">")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
        .replace("&#38;", "&")
}

/// Every hidden field of the page's form (the CSRF token, the step, the earlier answers): the
/// form in `<main>`, not the logout form of the menu.
fn hidden(html: &str) -> Vec<(String, String)> {
    let marker = "<input type=\"hidden\" name=\"";
    let html = text_between(html, "<main", "</main>");
    html.match_indices(marker)
        .map(|(at, _)| {
            let rest = &html[at + marker.len()..];
            let name = rest.split('"').next().expect("name").to_owned();
            let value = rest
                .split_once("value=\"")
                .and_then(|(_, v)| v.split('"').next())
                .expect("value");
            (name, unescape(value))
        })
        .collect()
}

/// Answers a step as a browser does: the page's hidden fields, the new answers, the button.
async fn answer(
    client: &reqwest::Client,
    app: &TestApp,
    shown: &Seen,
    path: &str,
    fields: &[(&str, &str)],
) -> Seen {
    let mut form = hidden(&shown.html);
    form.extend(
        fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    post(client, app, path, &form).await
}

fn step_of(html: &str) -> &str {
    let marker = "name=\"step\" value=\"";
    let start = html.find(marker).expect("a step") + marker.len();
    html[start..].split('"').next().expect("step")
}

fn text_between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html
        .find(start)
        .unwrap_or_else(|| panic!("{start} in {html}"))
        + start.len();
    html[from..].split(end).next().expect("end")
}

/// The anonymous request this browser remembers: `(id, access code)` from its cookie.
fn visitor_cookie(seen: &Seen) -> Option<(String, String)> {
    seen.cookies.iter().find_map(|c| {
        let value = c.strip_prefix("brygga_visitor=")?.split(';').next()?;
        let (id, code) = value.split_once('.')?;
        Some((id.to_owned(), code.to_owned()))
    })
}

/// Cases stored so far, counted by their audit events.
async fn stored_cases(app: &TestApp) -> usize {
    let mut ids: Vec<String> = app
        .store
        .audit_events(None, 10_000)
        .await
        .expect("audit")
        .into_iter()
        .filter_map(|e| e.case_id)
        .collect();
    ids.sort();
    ids.dedup();
    ids.len()
}

/// An anonymous visitor walks every step in Swedish (each page `lang="sv"`), gets the code
/// on the confirmation, and the request is stored anonymous with the municipality stated;
/// the code opens it through the API. The same walk in English after `?lang=en`.
async fn an_anonymous_visitor_asks_and_gets_a_code(backend: Backend) {
    let app = spawn(backend).await;
    let client = browser();

    let first = get(&client, &app, "/requests/new").await;
    assert_eq!(first.status, StatusCode::OK);
    assert!(first.html.contains("<html lang=\"sv\""), "{}", first.html);
    assert!(first.html.contains("<h1>Vad gäller det?</h1>"));
    assert!(
        first.html.contains("id=\"category\""),
        "the first option has the field's id"
    );
    assert!(first.html.contains("id=\"category-beroende\""));
    assert!(
        !first.html.contains("value=\"praktisk_hjalp\""),
        "volunteer categories are not asked here"
    );
    assert!(first.html.contains("name=\"urgent\""));
    assert!(
        !first.html.contains("help urgent"),
        "calm until a category needs it"
    );
    assert_eq!(step_of(&first.html), "1");

    let second = answer(
        &client,
        &app,
        &first,
        "/requests/new",
        &[("category", "beroende"), ("urgent", "true"), ("go", "next")],
    )
    .await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.html);
    assert!(second.html.contains("<html lang=\"sv\""));
    assert_eq!(step_of(&second.html), "2");
    assert!(second.html.contains("<textarea id=\"text\" name=\"text\""));
    assert!(
        second
            .html
            .contains("<select id=\"municipality\" name=\"municipality\"")
    );
    assert!(
        second
            .html
            .contains("<option value=\"ar\">Arabiska</option>")
    );
    assert!(
        second
            .html
            .contains("<option value=\"1282\">Landskrona</option>")
    );
    assert!(!second.html.contains("name=\"child_municipality\""));

    let text = "Jag oroar mig för mitt spelande & vet inte \"var\" jag ska börja.\nHur gör jag?";
    let check = answer(
        &client,
        &app,
        &second,
        "/requests/new",
        &[
            ("text", text),
            ("language", "sv"),
            ("municipality", "1282"),
            ("go", "next"),
        ],
    )
    .await;
    assert_eq!(check.status, StatusCode::OK, "{}", check.html);
    assert!(check.html.contains("<html lang=\"sv\""));
    assert_eq!(step_of(&check.html), "check");
    assert!(check.html.contains("<dl class=\"summary\">"));
    assert!(check.html.contains("Alkohol, droger, spel"));
    assert!(check.html.contains("Landskrona"));
    assert!(
        check
            .html
            .contains("Din fråga går till socialtjänsten i Landskrona."),
        "{}",
        check.html
    );
    assert!(check.html.contains("action=\"/requests\""));
    assert!(
        check
            .html
            .contains("formaction=\"/requests/new\" name=\"go\" value=\"2\"")
    );
    assert!(
        !check.html.contains("value=\"3\""),
        "no consent step for a visitor"
    );

    let sent = answer(&client, &app, &check, "/requests", &[("go", "send")]).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.html);
    let (id, code) = visitor_cookie(&sent).expect("the browser remembers the request");
    assert_eq!(sent.location, format!("/requests/{id}/sent"));
    assert!(!sent.location.contains(&code), "no code in a URL");

    let confirmation = get(&client, &app, &sent.location).await;
    assert_eq!(confirmation.status, StatusCode::OK, "{}", confirmation.html);
    assert!(confirmation.html.contains("<html lang=\"sv\""));
    assert!(confirmation.html.contains("Din fråga är skickad"));
    assert!(
        confirmation
            .html
            .contains("Socialtjänsten i Landskrona tar emot den.")
    );
    assert_eq!(
        text_between(
            &confirmation.html,
            "<p class=\"code\" id=\"access-code\">",
            "</p>"
        ),
        code
    );
    assert_eq!(
        text_between(
            &confirmation.html,
            "<p id=\"request-id\" class=\"ask-id\">",
            "</p>"
        ),
        id
    );
    assert!(confirmation.html.contains("href=\"/anonymous\""));
    assert!(
        !text_between(&confirmation.html, "<title>", "</title>").contains(&code),
        "no code in the title"
    );

    let stored = app
        .store
        .case(&case_id(&id))
        .await
        .expect("read")
        .expect("stored");
    assert!(stored.citizen.is_none(), "nothing identifying is stored");
    assert_eq!(stored.home.as_str(), "1282");
    assert_eq!(stored.category.as_str(), "beroende");
    assert!(stored.urgent);
    let messages = app.store.messages(&stored.id).await.expect("messages");
    assert_eq!(messages[0].body, text.trim());
    let opened = app
        .get(
            &format!("/api/v1/requests/{id}"),
            Some(&format!("AccessCode {code}")),
        )
        .await;
    assert_eq!(opened.status, StatusCode::OK, "{}", opened.body);

    // Another browser, without the cookie, does not see the confirmation.
    let stranger = get(&browser(), &app, &sent.location).await;
    assert_eq!(stranger.status, StatusCode::NOT_FOUND);
    assert!(!stranger.html.contains(&code));

    // The same walk in English.
    let english = browser();
    let switched = get(&english, &app, "/requests/new?lang=en").await;
    assert_eq!(switched.status, StatusCode::SEE_OTHER);
    assert_eq!(switched.location, "/requests/new");
    let first = get(&english, &app, "/requests/new").await;
    assert!(first.html.contains("<html lang=\"en\""), "{}", first.html);
    assert!(first.html.contains("What is it about?"));
    assert!(first.html.contains("Budget and debt advice"));
    let second = answer(
        &english,
        &app,
        &first,
        "/requests/new",
        &[("category", "ekonomi"), ("go", "next")],
    )
    .await;
    assert!(second.html.contains("<html lang=\"en\""));
    assert!(second.html.contains("Your question"));
    assert!(
        second
            .html
            .contains("<option value=\"en\" selected>English</option>"),
        "the reader's language first"
    );
    let check = answer(
        &english,
        &app,
        &second,
        "/requests/new",
        &[
            ("text", "How do I make a budget?"),
            ("language", "en"),
            ("municipality", "1283"),
            ("go", "next"),
        ],
    )
    .await;
    assert!(check.html.contains("<html lang=\"en\""));
    assert!(check.html.contains("Check your answers"));
    let sent = answer(&english, &app, &check, "/requests", &[("go", "send")]).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.html);
    let confirmation = get(&english, &app, &sent.location).await;
    assert!(confirmation.html.contains("<html lang=\"en\""));
    assert!(confirmation.html.contains("Your question has been sent"));
    assert!(confirmation.html.contains("id=\"access-code\""));
}

/// A logged-in citizen walks all three steps, agrees that two chosen municipalities may
/// help, and the case carries that consent; the confirmation names their municipality and
/// shows no code (they follow it under "Mina ärenden").
async fn a_citizen_asks_with_consent_to_chosen_municipalities(backend: Backend) {
    let app = spawn(backend).await;
    let client = browser();
    browser_login(
        &app,
        &client,
        json!({"role": "citizen", "personnummer": ANNA, "municipality": "1275"}),
    )
    .await;

    let first = get(&client, &app, "/requests/new").await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.html);
    assert!(first.html.contains("Steg 1 av 3"));
    let second = answer(
        &client,
        &app,
        &first,
        "/requests/new",
        &[("category", "ekonomi"), ("go", "next")],
    )
    .await;
    assert_eq!(step_of(&second.html), "2");
    assert!(
        !second.html.contains("name=\"municipality\""),
        "a citizen's municipality is known"
    );
    let third = answer(
        &client,
        &app,
        &second,
        "/requests/new",
        &[
            ("text", "Jag har skulder och vill göra en budget."),
            ("language", "ar"),
            ("go", "next"),
        ],
    )
    .await;
    assert_eq!(third.status, StatusCode::OK, "{}", third.html);
    assert_eq!(step_of(&third.html), "3");
    assert!(third.html.contains("<html lang=\"sv\""));
    assert!(third.html.contains("Vilka får se din fråga?"));
    assert!(
        third
            .html
            .contains("id=\"cross_municipality\" value=\"false\"")
    );
    assert!(
        third
            .html
            .contains("id=\"cross_municipality-true\" value=\"true\"")
    );
    assert!(third.html.contains("Nej, bara Perstorp"));
    assert!(third.html.contains("personnummer"), "who could see what");
    assert!(third.html.contains("ta tillbaka"), "how to take it back");
    assert!(
        !third.html.contains("value=\"1275\""),
        "home is not among the others"
    );

    // Going back keeps the answers.
    let back = answer(&client, &app, &third, "/requests/new", &[("go", "back")]).await;
    assert_eq!(step_of(&back.html), "2");
    assert!(
        back.html
            .contains("Jag har skulder och vill göra en budget.")
    );
    assert!(back.html.contains("<option value=\"ar\" selected>"));
    let third = answer(
        &client,
        &app,
        &back,
        "/requests/new",
        &[
            ("text", "Jag har skulder och vill göra en budget."),
            ("language", "ar"),
            ("go", "next"),
        ],
    )
    .await;
    assert_eq!(step_of(&third.html), "3");

    let check = answer(
        &client,
        &app,
        &third,
        "/requests/new",
        &[
            ("cross_municipality", "true"),
            ("municipalities", "1283"),
            ("municipalities", "1292"),
            ("go", "next"),
        ],
    )
    .await;
    assert_eq!(check.status, StatusCode::OK, "{}", check.html);
    assert_eq!(step_of(&check.html), "check");
    assert!(
        check.html.contains("Ja: Helsingborg, Ängelholm"),
        "{}",
        check.html
    );
    assert!(check.html.contains("Arabiska"));
    assert!(
        check
            .html
            .contains("Din fråga går till socialtjänsten i Perstorp.")
    );

    // "Ändra" on the consent row shows step 3 with the answers, and returns to check answers.
    let change = answer(&client, &app, &check, "/requests/new", &[("go", "3")]).await;
    assert_eq!(step_of(&change.html), "3");
    assert!(
        change
            .html
            .contains("id=\"municipalities-1283\" value=\"1283\" checked"),
        "{}",
        change.html
    );
    assert!(change.html.contains("value=\"1292\" checked"));
    let check = answer(
        &client,
        &app,
        &change,
        "/requests/new",
        &[
            ("cross_municipality", "true"),
            ("municipalities", "1283"),
            ("municipalities", "1292"),
            ("go", "next"),
        ],
    )
    .await;
    assert_eq!(step_of(&check.html), "check");

    let sent = answer(&client, &app, &check, "/requests", &[("go", "send")]).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.html);
    assert!(visitor_cookie(&sent).is_none(), "a citizen needs no code");
    let id = sent
        .location
        .strip_prefix("/requests/")
        .and_then(|rest| rest.strip_suffix("/sent"))
        .expect("the confirmation")
        .to_owned();
    let confirmation = get(&client, &app, &sent.location).await;
    assert_eq!(confirmation.status, StatusCode::OK, "{}", confirmation.html);
    assert!(
        confirmation
            .html
            .contains("Socialtjänsten i Perstorp tar emot den.")
    );
    assert!(confirmation.html.contains("href=\"/my/requests\""));
    assert!(!confirmation.html.contains("id=\"access-code\""));

    let stored = app
        .store
        .case(&case_id(&id))
        .await
        .expect("read")
        .expect("stored");
    assert!(stored.citizen.is_some());
    assert_eq!(stored.home.as_str(), "1275");
    assert_eq!(stored.language.as_str(), "ar");
    assert!(stored.consent.cross_municipality);
    let mut consented: Vec<&str> = stored
        .consent
        .municipalities
        .as_ref()
        .expect("the chosen municipalities")
        .iter()
        .map(|m| m.as_str())
        .collect();
    consented.sort_unstable();
    assert_eq!(consented, vec!["1283", "1292"]);

    // The consent step in English.
    assert_eq!(
        get(&client, &app, "/requests/new?lang=en").await.status,
        StatusCode::SEE_OTHER
    );
    let first = get(&client, &app, "/requests/new").await;
    let second = answer(
        &client,
        &app,
        &first,
        "/requests/new",
        &[("category", "familj"), ("go", "next")],
    )
    .await;
    let third = answer(
        &client,
        &app,
        &second,
        "/requests/new",
        &[
            ("text", "We argue all the time."),
            ("language", "en"),
            ("go", "next"),
        ],
    )
    .await;
    assert_eq!(step_of(&third.html), "3");
    assert!(third.html.contains("<html lang=\"en\""));
    assert!(third.html.contains("Who may see your question?"));
    let unanswered = answer(&client, &app, &third, "/requests/new", &[("go", "next")]).await;
    assert_eq!(unanswered.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        unanswered
            .html
            .contains("<title>Error: Who may see your question?")
    );
    assert!(unanswered.html.contains("<a href=\"#cross_municipality\">"));

    // Another citizen does not see the confirmation.
    let other = browser();
    browser_login(
        &app,
        &other,
        json!({"role": "citizen", "personnummer": crate::person(7), "municipality": "1275"}),
    )
    .await;
    assert_eq!(
        get(&other, &app, &sent.location).await.status,
        StatusCode::NOT_FOUND
    );
}

/// A missing category, an empty text and a text too long come back with the error summary,
/// links to the fields, the title marked, and every answer kept (422).
async fn wrong_answers_come_back_with_what_to_fix(backend: Backend) {
    let app = spawn(backend).await;
    let client = browser();
    let first = get(&client, &app, "/requests/new").await;

    let missing = answer(
        &client,
        &app,
        &first,
        "/requests/new",
        &[("urgent", "true"), ("go", "next")],
    )
    .await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        missing.html.contains("<title>Fel: Vad gäller det?"),
        "{}",
        missing.html
    );
    assert!(missing.html.contains("class=\"error-summary\""));
    assert!(
        missing
            .html
            .contains("<a href=\"#category\">Välj vad din fråga gäller.</a>")
    );
    assert!(missing.html.contains("id=\"category-error\""));
    assert!(missing.html.contains("aria-invalid=\"true\""));
    assert!(
        missing
            .html
            .contains("id=\"urgent\" value=\"true\" checked"),
        "the answer is kept"
    );

    let second = answer(
        &client,
        &app,
        &first,
        "/requests/new",
        &[("category", "vald"), ("go", "next")],
    )
    .await;
    assert_eq!(step_of(&second.html), "2");
    let empty = answer(
        &client,
        &app,
        &second,
        "/requests/new",
        &[
            ("text", "   "),
            ("language", "fa"),
            ("municipality", "1277"),
            ("go", "next"),
        ],
    )
    .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(step_of(&empty.html), "2");
    assert!(empty.html.contains("<title>Fel: Din fråga"));
    assert!(
        empty
            .html
            .contains("<a href=\"#text\">Skriv din fråga.</a>")
    );
    assert!(
        empty
            .html
            .contains("aria-describedby=\"text-hint text-error\" aria-invalid=\"true\"")
    );
    assert!(empty.html.contains("<option value=\"fa\" selected>"));
    assert!(empty.html.contains("<option value=\"1277\" selected>"));
    assert!(empty.html.contains("name=\"category\" value=\"vald\""));

    let long = "å".repeat(brygga::workflow::MAX_TEXT_CHARS + 1);
    let too_long = answer(
        &client,
        &app,
        &second,
        "/requests/new",
        &[
            ("text", &long),
            ("language", "sv"),
            ("municipality", "1277"),
            ("go", "next"),
        ],
    )
    .await;
    assert_eq!(too_long.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(too_long.html.contains("<a href=\"#text\">Din fråga får vara högst 20\u{a0}000 tecken. Nu är den 20\u{a0}001 tecken."), "{}", &too_long.html[..2000]);
    assert!(too_long.html.contains(&long), "the text is kept");

    // No municipality: the visitor must say where they live.
    let nowhere = answer(
        &client,
        &app,
        &second,
        "/requests/new",
        &[("text", "Hjälp"), ("language", "sv"), ("go", "next")],
    )
    .await;
    assert_eq!(nowhere.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(nowhere.html.contains("<a href=\"#municipality\">"));

    // Answers tampered with on the way to POST /requests come back to their step.
    let tampered = post(
        &client,
        &app,
        "/requests",
        &[
            ("csrf".to_owned(), csrf_of(&first.html)),
            ("category".to_owned(), "ekonomi".to_owned()),
            ("text".to_owned(), String::new()),
            ("language".to_owned(), "sv".to_owned()),
            ("municipality".to_owned(), "1283".to_owned()),
        ],
    )
    .await;
    assert_eq!(tampered.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(tampered.html.contains("<a href=\"#text\">"));
    assert_eq!(stored_cases(&app).await, 0);
}

/// Forms without the CSRF token, or with another, are refused (403) and store nothing.
async fn a_form_without_the_right_token_is_refused(backend: Backend) {
    let app = spawn(backend).await;
    let client = browser();
    let first = get(&client, &app, "/requests/new").await;
    let token = csrf_of(&first.html);
    let fields = |csrf: Option<&str>| {
        let mut fields = vec![
            ("category".to_owned(), "ekonomi".to_owned()),
            ("text".to_owned(), "Hur gör jag en budget?".to_owned()),
            ("language".to_owned(), "sv".to_owned()),
            ("municipality".to_owned(), "1283".to_owned()),
        ];
        if let Some(csrf) = csrf {
            fields.push(("csrf".to_owned(), csrf.to_owned()));
        }
        fields
    };
    let without = post(&client, &app, "/requests", &fields(None)).await;
    assert_eq!(without.status, StatusCode::FORBIDDEN);
    assert!(
        without.html.contains("data-code=\"csrf\""),
        "{}",
        without.html
    );
    let wrong = "0".repeat(64);
    let other = post(&client, &app, "/requests", &fields(Some(&wrong))).await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    let step = post(&client, &app, "/requests/new", &fields(Some(&wrong))).await;
    assert_eq!(step.status, StatusCode::FORBIDDEN);
    // Another browser's token, without this browser's cookie.
    let stranger = post(&browser(), &app, "/requests", &fields(Some(&token))).await;
    assert_eq!(stranger.status, StatusCode::FORBIDDEN);
    assert_eq!(stored_cases(&app).await, 0);

    // The right token goes through.
    let right = post(&client, &app, "/requests", &fields(Some(&token))).await;
    assert_eq!(right.status, StatusCode::SEE_OTHER, "{}", right.html);
    assert_eq!(stored_cases(&app).await, 1);
}

/// A concern about a child: the emergency box comes first on the following pages, they say
/// that the report goes to the child's municipality and cannot be withdrawn, and the
/// request goes there (R10).
async fn a_concern_about_a_child_shows_where_to_turn_and_that_it_stays(backend: Backend) {
    let app = spawn(backend).await;
    let client = browser();
    let first = get(&client, &app, "/requests/new").await;
    assert!(
        first.html.contains("kan inte tas tillbaka"),
        "said before it is chosen"
    );
    let second = answer(
        &client,
        &app,
        &first,
        "/requests/new",
        &[("category", "oro_barn"), ("go", "next")],
    )
    .await;
    let prominent = |html: &str| {
        let help = html
            .find("<aside class=\"help urgent\"")
            .expect("the urgent box");
        help < html.find("<main").expect("main")
    };
    assert!(prominent(&second.html), "{}", second.html);
    assert!(second.html.contains("id=\"child-concern-note\""));
    assert!(
        second
            .html
            .contains("När den är skickad kan den inte tas tillbaka.")
    );
    assert!(
        second
            .html
            .contains("<select id=\"child_municipality\" name=\"child_municipality\"")
    );

    let missing_child = answer(
        &client,
        &app,
        &second,
        "/requests/new",
        &[
            ("text", "Barnet bredvid gråter varje natt."),
            ("language", "sv"),
            ("municipality", "1283"),
            ("go", "next"),
        ],
    )
    .await;
    assert_eq!(missing_child.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        missing_child
            .html
            .contains("<a href=\"#child_municipality\">")
    );
    assert!(prominent(&missing_child.html));

    let check = answer(
        &client,
        &app,
        &missing_child,
        "/requests/new",
        &[
            ("text", "Barnet bredvid gråter varje natt."),
            ("language", "sv"),
            ("municipality", "1283"),
            ("child_municipality", "1260"),
            ("go", "next"),
        ],
    )
    .await;
    assert_eq!(step_of(&check.html), "check", "{}", check.html);
    assert!(prominent(&check.html));
    assert!(
        check
            .html
            .contains("När den är skickad kan den inte tas tillbaka.")
    );
    assert!(
        check
            .html
            .contains("Din fråga går till socialtjänsten i Bjuv.")
    );

    let sent = answer(&client, &app, &check, "/requests", &[("go", "send")]).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.html);
    let (id, _) = visitor_cookie(&sent).expect("code");
    let confirmation = get(&client, &app, &sent.location).await;
    assert!(prominent(&confirmation.html));
    assert!(confirmation.html.contains("tel:112"));
    assert!(
        confirmation
            .html
            .contains("Socialtjänsten i Bjuv tar emot den.")
    );
    assert!(
        confirmation
            .html
            .contains("När den är skickad kan den inte tas tillbaka.")
    );
    let stored = app
        .store
        .case(&case_id(&id))
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(stored.home.as_str(), "1260");
    assert!(stored.urgent);

    // A logged-in citizen: the child's municipality is optional (their own otherwise), and
    // there is no consent step — the report stays in the child's municipality.
    let citizen = browser();
    browser_login(
        &app,
        &citizen,
        json!({"role": "citizen", "personnummer": ANNA, "municipality": "1275"}),
    )
    .await;
    let first = get(&citizen, &app, "/requests/new").await;
    let second = answer(
        &citizen,
        &app,
        &first,
        "/requests/new",
        &[("category", "oro_barn"), ("go", "next")],
    )
    .await;
    assert!(second.html.contains("Steg 2 av 2"));
    assert!(second.html.contains("Samma kommun som jag bor i"));
    let check = answer(
        &citizen,
        &app,
        &second,
        "/requests/new",
        &[
            ("text", "Jag är orolig för ett barn."),
            ("language", "sv"),
            ("go", "next"),
        ],
    )
    .await;
    assert_eq!(step_of(&check.html), "check", "{}", check.html);
    assert!(
        check
            .html
            .contains("Din fråga går till socialtjänsten i Perstorp.")
    );
    let sent = answer(&citizen, &app, &check, "/requests", &[("go", "send")]).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.html);
    let confirmation = get(&citizen, &app, &sent.location).await;
    assert!(prominent(&confirmation.html));
}

/// Staff cannot ask as citizens: the pages and `POST /requests` answer the 403 page.
async fn staff_cannot_ask(backend: Backend) {
    let app = spawn(backend).await;
    let client = browser();
    browser_login(
        &app,
        &client,
        json!({"role": "caseworker", "caseworker_id": "1275-01"}),
    )
    .await;
    let start = get(&client, &app, "/").await;
    let token = csrf_of(&start.html);
    let refused = post(
        &client,
        &app,
        "/requests",
        &[
            ("csrf".to_owned(), token.clone()),
            ("category".to_owned(), "ekonomi".to_owned()),
            ("text".to_owned(), "Hej".to_owned()),
            ("language".to_owned(), "sv".to_owned()),
            ("municipality".to_owned(), "1275".to_owned()),
        ],
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused.html.contains("data-code=\"forbidden\""),
        "{}",
        refused.html
    );
    assert_eq!(
        get(&client, &app, "/requests/new").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(stored_cases(&app).await, 0);
}

on_both_backends!(
    an_anonymous_visitor_asks_and_gets_a_code,
    a_citizen_asks_with_consent_to_chosen_municipalities,
    wrong_answers_come_back_with_what_to_fix,
    a_form_without_the_right_token_is_refused,
    a_concern_about_a_child_shows_where_to_turn_and_that_it_stays,
    staff_cannot_ask,
);

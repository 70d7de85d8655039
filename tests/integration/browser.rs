//! The pages in a real browser (issue 20, point 9): Debian's Chromium driven by the Node
//! scripts in tests/browser (playwright-core, axe-core, html-validate), against the real
//! application in demo mode with the citizen eID login going to the real test OpenID provider
//! (`oidc::app_with_login`).
//!
//! SQLite only: the databases are tested by every other integration test; what is tested here
//! is what a browser shows. `scripts/test` installs Chromium (`apt-get install chromium`, as
//! root) and the scripts' packages (`npm ci` in tests/browser); without them these tests fail
//! and say so, they never skip. Screenshots, the scripts' output and the served pages' checks
//! land in `target/browser-artifacts/<test>/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::oidc::{app_with_login, issuer};

/// Where Debian's chromium package puts the browser (the scripts use the same path).
const CHROMIUM: &str = "/usr/bin/chromium";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Fails, saying what to do, when the browser or the scripts' packages are missing.
fn preflight() {
    let modules = root().join("tests/browser/node_modules");
    assert!(
        modules.join("playwright-core").is_dir(),
        "{} is missing: the browser tests need their npm packages. Run ./scripts/test (it runs \
         `npm ci` in tests/browser), or `cd tests/browser && npm ci`.",
        modules.display()
    );
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: the browser tests need Debian's Chromium. Run ./scripts/test as \
         root (it installs it), or `apt-get install chromium`."
    );
}

/// Runs `node tests/browser/<script>` against a fresh application and fails with the script's
/// output unless it exits 0 within `limit`.
async fn run_script(script: &str, test: &str, limit: Duration) {
    preflight();
    let (app, _dir) = app_with_login(&issuer()).await;
    let artifacts = root().join("target/browser-artifacts").join(test);
    // Last run's pictures would mislead.
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).expect("artifacts directory");
    let stdout_path = artifacts.join("stdout.txt");
    let stderr_path = artifacts.join("stderr.txt");
    // Output to files (kept as artefacts): a pipe nobody reads could fill and stall the script.
    let mut child = Command::new("node")
        .arg(root().join("tests/browser").join(script))
        .current_dir(root())
        .env("BASE_URL", &app.base)
        .env("OIDC_ISSUER", issuer())
        .env("ARTIFACTS", &artifacts)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).expect("stdout file"))
        .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("node does not start ({e}): run ./scripts/test"));
    let started = Instant::now();
    // The application answers on this runtime meanwhile: wait without blocking it.
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for node") {
            break Some(status);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let report = format!(
        "--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}\n--- screenshots in {} ---",
        artifacts.display()
    );
    match status {
        Some(status) if status.success() => {}
        Some(status) => panic!("tests/browser/{script} failed ({status})\n{report}"),
        None => panic!(
            "tests/browser/{script} did not finish within {} s\n{report}",
            limit.as_secs()
        ),
    }
}

/// Every page in Swedish and English: `lang` and `dir`, axe-core (WCAG 2.1 AA) with no
/// violation, html-validate, a screenshot each (tests/browser/pages.mjs; pages not built yet
/// are listed there as `PENDING`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_passes_axe_and_the_html_validator_in_both_languages() {
    run_script("pages.mjs", "pages", Duration::from_secs(240)).await;
}

/// The end-to-end walks of issue 20 (tests/browser/citizen.mjs): a Perstorp citizen logs in
/// through the real OpenID provider, asks in Arabic with consent, reads a caseworker's answer
/// and replies; an anonymous visitor asks and comes back with the access code; and the
/// anonymous form from start to confirmation with the keyboard only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_citizen_and_an_anonymous_visitor_ask_and_read_the_answer() {
    run_script("citizen.mjs", "citizen", Duration::from_secs(300)).await;
}

/// The caseworkers' pages end to end (issue 22, point 8; tests/browser/staff.mjs): a Perstorp
/// citizen's Arabic request, asked through the citizen pages, appears without a reload on the
/// open `/work` of Helsingborg's Arabic-speaking caseworker, who claims it, answers it (the
/// citizen reads the answer) and transfers it back to Perstorp with a reason; a Perstorp
/// caseworker claims and answers a request with the keyboard only; axe-core, html-validate and
/// a screenshot on every staff page and state on the way, in Swedish and English.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_reaches_an_open_queue_live_and_is_answered_and_sent_back() {
    run_script("staff.mjs", "staff", Duration::from_secs(240)).await;
}

/// The administrators' pages end to end (issue 22, point 8; tests/browser/admin.mjs): a
/// federation administrator changes a category's routing settings through /admin/routing (with
/// the mouse, then with the keyboard only; the administration API answers the new values) and
/// simulates a Helsingborg caseworker claiming a Perstorp citizen's Arabic request (the
/// decision, the deciding rules, the ring plan); axe-core, html-validate and a screenshot on
/// every administration page, and the states of its forms, in Swedish and English; and
/// Perstorp's municipality administrator reads the routing settings without a form and sees
/// Perstorp's caseworkers only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_changes_routing_and_simulates_a_decision_on_accessible_pages() {
    run_script("admin.mjs", "admin", Duration::from_secs(240)).await;
}

//! The `brygga` binary itself: configuration errors are one line naming the key.

use std::process::Command;

fn brygga(args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_brygga"))
        .args(args)
        .env_remove("BRYGGA_LISTEN")
        .output()
        .expect("brygga runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_bad_config_file_names_the_key_in_one_line() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "listen = \"127.0.0.1:8080\"\nmax_connections = \"many\"\n",
    )
    .expect("write");
    let (ok, stderr) = brygga(&["serve", "--config", path.to_str().expect("utf-8 path")]);
    assert!(!ok);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("`max_connections`"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let (ok, stderr) = brygga(&["serve", "--config", "/nonexistent/brygga.toml"]);
    assert!(!ok);
    assert!(stderr.contains("/nonexistent/brygga.toml"), "{stderr}");
}

#[test]
fn migrate_prepares_a_database_and_reports_it() {
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("c.toml");
    let db = dir.path().join("b.db");
    std::fs::write(
        &config,
        format!("database_url = \"sqlite:{}\"\n", db.display()),
    )
    .expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_brygga"))
        .args(["migrate", "--config", config.to_str().expect("utf-8")])
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("familjen-helsingborg") && stdout.contains("11 municipalities"),
        "{stdout}"
    );
    assert!(db.exists());
}

fn brygga_out(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_brygga"))
        .args(args)
        .output()
        .expect("brygga runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Copies the shipped policy directory (schema, policies, tests) into a scratch directory.
fn policy_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("dir");
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    std::fs::create_dir(dir.path().join("tests")).expect("tests dir");
    for sub in ["", "tests"] {
        for entry in std::fs::read_dir(source.join(sub)).expect("policies dir") {
            let path = entry.expect("entry").path();
            if path.is_file() {
                let name = path.file_name().expect("name");
                std::fs::copy(&path, dir.path().join(sub).join(name)).expect("copy");
            }
        }
    }
    dir
}

#[test]
fn policy_validate_and_test_check_the_shipped_set() {
    let (ok, stdout, stderr) = brygga_out(&["policy", "validate"]);
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("R5-agreement-service"), "{stdout}");
    let dir = policy_copy();
    let path = dir.path().to_str().expect("utf-8");
    let (ok, stdout, stderr) = brygga_out(&["policy", "test", "--dir", path]);
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains(" 0 failed"), "{stdout}");
}

#[test]
fn policy_commands_name_what_is_wrong() {
    let dir = policy_copy();
    let path = dir.path().to_str().expect("utf-8");
    // A policy reading an attribute the schema does not have.
    std::fs::write(
        dir.path().join("extra.cedar"),
        "@id(\"typo\")\nforbid (principal, action, resource is Case) when { resource.colour == \"red\" };\n",
    )
    .expect("write");
    let (ok, _, stderr) = brygga_out(&["policy", "validate", "--dir", path]);
    assert!(!ok);
    assert!(
        stderr.contains("typo") && stderr.contains("colour"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    // A valid set whose tests no longer hold: the failing test is named.
    std::fs::remove_file(dir.path().join("extra.cedar")).expect("remove");
    let routing = dir.path().join("routing.cedar");
    let text = std::fs::read_to_string(&routing).expect("read");
    std::fs::write(
        &routing,
        text.replace("@id(\"R14-minor-not-covered\")", "@id(\"R14-renamed\")"),
    )
    .expect("write");
    let (ok, stdout, _) = brygga_out(&["policy", "test", "--dir", path]);
    assert!(!ok);
    assert!(stdout.contains("FAIL [R14]"), "{stdout}");
}

/// `brygga audit verify` and `brygga retention --dry-run` on a database the application wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_and_retention_commands() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite:{}", dir.path().join("b.db").display());
    let key = brygga::app::DEMO_AUDIT_KEY;
    {
        let config = brygga::config::Config {
            database_url: url.clone(),
            audit_key: Some(key.to_owned()),
            ..Default::default()
        };
        brygga::app::context(
            config,
            &brygga::app::Options {
                demo: true,
                ..Default::default()
            },
        )
        .await
        .expect("context");
        let store = brygga::store::open(
            &url,
            2,
            Some(brygga::audit::AuditKey::new(key).expect("key")),
        )
        .await
        .expect("store");
        let perstorp = brygga::domain::ids::MunicipalityCode::parse("1275").expect("code");
        let mut event = brygga::store::NewAuditEvent {
            at: chrono::Utc::now(),
            actor: brygga::domain::Actor::Admin {
                id: "cli-test".into(),
                municipality: Some(perstorp.clone()),
            },
            actor_municipality: Some(perstorp),
            municipality: "1275".into(),
            action: "read_audit".into(),
            case_id: None,
            policies: vec!["municipality-administrator".into()],
            detail: serde_json::json!({}),
            request_id: None,
            actor_name: Some("Karin Lindqvist".into()),
        };
        for _ in 0..3 {
            store.append_audit(&event).await.expect("append");
            event.at = chrono::Utc::now();
        }
    }
    let run = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_brygga"))
            .args(args)
            .env("BRYGGA_DATABASE_URL", &url)
            .env("BRYGGA_AUDIT_KEY", key)
            .output()
            .expect("runs");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (ok, stdout, stderr) = run(&["audit", "verify"]);
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("\"ok\": true"), "{stdout}");
    let (ok, stdout, stderr) = run(&["retention", "--dry-run"]);
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("0 case(s) would be thinned"), "{stdout}");

    let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("db");
    for sql in [
        "DROP TRIGGER audit_events_no_update",
        "UPDATE audit_events SET action = 'nothing' WHERE municipality = '1275' AND seq = 2",
    ] {
        sqlx::query(sql).execute(&mut conn).await.expect(sql);
    }
    let (ok, stdout, stderr) = run(&["audit", "verify"]);
    assert!(!ok, "{stdout}");
    assert!(
        stderr.contains("1275") && stderr.contains("position 2"),
        "{stderr}"
    );
}

/// A rule an administrator might add: it passes its own test and every shipped test, and yet
/// it can fail to evaluate (an overflow no test thinks of). Shared with the proofs' API test.
pub const UNDER_TWELVE_POLICY: &str = r#"
// A child under twelve stays home.
@id("R14-minor-under-twelve")
forbid (principal, action == Action::"route", resource)
when { principal != resource.home && resource has age && resource.age + 1 < 13 };
"#;

pub const UNDER_TWELVE_TEST: &str = r#"
[[test]]
rule = "R14"
name = "An 11-year-old's request stays home even where the agreement covers minors"
action = "route"
principal = { type = "municipality", id = "1283" }
resource = { type = "case", home = "1275", category = "beroende", age = 11, consent = { cross_municipality = true } }
context = { today = 20261123, agreement = { id = "fh-rad-och-stod-2026", members = ["1275", "1283"], categories = ["ekonomi", "beroende"], valid_from = 20260101, valid_to = 20271231, covers_minors = true } }
decision = "deny"
policies = ["R14-minor-under-twelve"]
"#;

/// `brygga policy verify` proves the shipped set (exit 0) and refutes a copy whose new rule
/// passes every test but can fail to evaluate (exit non-zero, the counterexample in words).
#[test]
fn policy_verify_proves_the_shipped_set_and_refutes_a_copy() {
    let solver = std::env::var("BRYGGA_TEST_CVC5").unwrap_or_else(|_| "/usr/bin/cvc5".into());
    let (ok, stdout, stderr) = brygga_out(&["policy", "verify", "--solver", &solver]);
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.contains("14 invariants, 14 proven, 0 not"),
        "{stdout}"
    );
    assert!(
        stdout.contains("proven   R10-child-concern-never-routed-away"),
        "{stdout}"
    );

    let dir = policy_copy();
    std::fs::write(dir.path().join("zz-new.cedar"), UNDER_TWELVE_POLICY).expect("policy");
    std::fs::write(dir.path().join("tests/zz-new.toml"), UNDER_TWELVE_TEST).expect("test");
    let path = dir.path().to_str().expect("utf-8");
    let (ok, stdout, stderr) = brygga_out(&["policy", "test", "--dir", path]);
    assert!(ok, "the tests let it through: {stdout}{stderr}");
    let (ok, stdout, stderr) =
        brygga_out(&["policy", "verify", "--dir", path, "--solver", &solver]);
    assert!(!ok, "{stdout}");
    for said in [
        "policies-never-error (engine) does not hold: policy R14-minor-under-twelve can fail to evaluate",
        "integer overflow",
        "13 proven, 1 not",
    ] {
        assert!(stdout.contains(said), "{said}: {stdout}{stderr}");
    }
    assert!(
        stderr.contains("a legal invariant does not hold"),
        "{stderr}"
    );

    // A solver that is not there is an error, never a proof.
    let (ok, stdout, stderr) = brygga_out(&["policy", "verify", "--solver", "/nonexistent/cvc5"]);
    assert!(!ok, "{stdout}");
    assert!(stderr.contains("the proofs could not be run"), "{stderr}");
}

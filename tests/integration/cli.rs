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

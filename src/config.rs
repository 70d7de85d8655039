//! One typed configuration: a TOML file, then `BRYGGA_*` environment variables over it.
//! `deploy/brygga.example.toml` documents every key with its default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP server binds to.
    pub listen: SocketAddr,
    /// `sqlite:PATH` (embedded) or `postgres://user@host/db`.
    pub database_url: String,
    /// Largest number of pooled database connections.
    pub max_connections: u32,
    /// The federation file loaded on first start; unset = the built-in Familjen Helsingborg file.
    pub federation_file: Option<PathBuf>,
    /// Request bodies larger than this are refused with 413.
    pub max_body_bytes: usize,
    /// How long a login session lasts at most, in hours (absolute timeout).
    pub session_hours: u32,
    /// A browser session ends after this many minutes without a request (idle timeout).
    pub session_idle_minutes: u32,
    /// The address citizens and staff reach Brygga at, e.g. `https://brygga.example.se`; the
    /// OpenID Connect redirect URI is `{public_url}/auth/callback`. Unset: `http://{listen}`.
    pub public_url: Option<String>,
    /// Session cookies carry `Secure` (only sent over HTTPS). Off only for plain-HTTP demos and
    /// tests on loopback.
    pub secure_cookies: bool,
    /// Where "Leave this page quickly" takes a visitor: a neutral site, opened in place of
    /// Brygga's page.
    pub exit_url: String,
    /// The population register adapter's file (home municipality and protection per number);
    /// unset: no citizen can log in through OpenID Connect.
    pub population_register_file: Option<PathBuf>,
    /// The citizens' eID broker (OpenID Connect); unset: no citizen login.
    pub citizen_login: Option<crate::auth::oidc::CitizenLogin>,
    /// One OpenID Connect provider per municipality for its staff.
    pub staff_login: Vec<crate::auth::oidc::StaffLogin>,
    /// The one staff provider (its issuer URL) whose `federation_admin_role` makes someone an
    /// administrator of the whole federation; unset: nobody is, through a login. A member's
    /// own provider never grants the federation role.
    pub federation_admin_issuer: Option<String>,
    /// The most queue items one listing returns.
    pub queue_limit: u32,
    /// Capacity (open cases) given to new caseworkers unless an administrator sets another.
    pub default_capacity: u32,
    /// How often the routing scheduler runs (offer timeouts, ring widening), in milliseconds.
    pub scheduler_interval_ms: u64,
    /// `tracing` filter, e.g. `info` or `brygga=debug,info`.
    pub log: String,
    /// The secret the audit chains are sealed with (HMAC-SHA256), at least 32 characters;
    /// required by `serve`. Keep it outside the database and its backups.
    pub audit_key: Option<String>,
    /// How often the heads of the audit chains are copied to the checkpoints, in minutes.
    pub audit_checkpoint_minutes: u32,
    /// Open cases without activity for this many days are closed as `no_contact` (never a
    /// child concern); 0 = never.
    pub inactive_close_days: u32,
    /// When closed cases are thinned (R17).
    pub retention: crate::domain::retention::RetentionRules,
    /// The SMT solver (cvc5) that proves each new policy version against the legal
    /// invariants (src/policy/proofs.rs), run as a separate process. Without a working one,
    /// policy versions cannot be stored (never stored unproven); everything else works.
    pub policy_solver: PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: "sqlite:brygga.db".to_owned(),
            max_connections: 16,
            federation_file: None,
            max_body_bytes: 1024 * 1024,
            session_hours: 12,
            session_idle_minutes: 30,
            public_url: None,
            secure_cookies: true,
            exit_url: "https://www.google.com/".to_owned(),
            population_register_file: None,
            citizen_login: None,
            staff_login: Vec::new(),
            federation_admin_issuer: None,
            queue_limit: 200,
            default_capacity: 5,
            scheduler_interval_ms: 1000,
            log: "info".to_owned(),
            audit_key: None,
            audit_checkpoint_minutes: 10,
            inactive_close_days: 90,
            retention: Default::default(),
            // Where Debian's `cvc5` package puts it.
            policy_solver: PathBuf::from("/usr/bin/cvc5"),
        }
    }
}

/// Always one line, naming the file, key or variable at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("config key `{key}`: {message}")]
    Key { key: String, message: String },
    #[error("environment variable {var} does not name a config key")]
    UnknownVariable { var: String },
}

const ENV_PREFIX: &str = "BRYGGA_";
/// Variables of the test harness, not configuration.
const ENV_IGNORED: &str = "BRYGGA_TEST_";

impl Config {
    /// Where browsers reach this gateway, without a trailing slash.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen),
        }
    }

    /// Reads `path` (if given) and applies the process environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let text = match path {
            Some(path) => std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?,
            None => String::new(),
        };
        let file = path.map_or_else(|| PathBuf::from("(defaults)"), Path::to_owned);
        Config::from_parts(&file, &text, std::env::vars())
    }

    /// The pure part of [`Config::load`]: file text plus environment, for tests.
    pub fn from_parts(
        file: &Path,
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: file.to_owned(),
            message: e.message().replace('\n', " "),
        })?;
        let known = known_keys();
        let mut env: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX) && !k.starts_with(ENV_IGNORED))
            .collect();
        env.sort();
        for (var, value) in env {
            let key = var[ENV_PREFIX.len()..].to_ascii_lowercase();
            if !known.contains(&key) {
                return Err(ConfigError::UnknownVariable { var });
            }
            table.insert(key, env_value(&value));
        }
        let deserializer = toml::Value::Table(table);
        serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let key = e.path().to_string();
            ConfigError::Key {
                key: if key == "." {
                    "(top level)".to_owned()
                } else {
                    key
                },
                message: e.into_inner().message().replace('\n', " "),
            }
        })
    }
}

/// An environment value is read as a TOML value when it is one (`8`, `true`), else as text.
fn env_value(raw: &str) -> toml::Value {
    let parsed: Result<toml::Table, _> = toml::from_str(&format!("v = {raw}"));
    match parsed.ok().and_then(|mut t| t.remove("v")) {
        Some(value) if !value.is_table() => value,
        _ => toml::Value::String(raw.to_owned()),
    }
}

fn known_keys() -> Vec<String> {
    match toml::Value::try_from(Config::default()) {
        Ok(toml::Value::Table(t)) => t
            .keys()
            .cloned()
            .chain(
                [
                    "federation_file",
                    "public_url",
                    "population_register_file",
                    "citizen_login",
                    "federation_admin_issuer",
                    "audit_key",
                ]
                .map(str::to_owned),
            )
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_parts(
            Path::new("test.toml"),
            text,
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    #[test]
    fn defaults_apply_to_an_empty_file() {
        assert_eq!(parse("", &[]).expect("empty"), Config::default());
    }

    #[test]
    fn the_example_file_is_complete_and_valid() {
        let text = include_str!("../deploy/brygga.example.toml");
        let config = parse(text, &[]).expect("the example parses");
        assert_eq!(config.listen, Config::default().listen);
        // Every option is documented in the example (commented or not).
        for key in known_keys() {
            let documented = text.contains(&format!("{key} ="))
                || text.contains(&format!("[{key}]"))
                || text.contains(&format!("[[{key}]]"));
            assert!(documented, "example lacks `{key}`");
        }
    }

    #[test]
    fn environment_overrides_the_file() {
        let config = parse(
            "listen = \"127.0.0.1:9000\"\nmax_connections = 2",
            &[
                ("BRYGGA_LISTEN", "0.0.0.0:80"),
                ("BRYGGA_MAX_CONNECTIONS", "7"),
                ("BRYGGA_DATABASE_URL", "postgres://x@localhost/y"),
                ("BRYGGA_TEST_POSTGRES_URL", "ignored"),
                ("HOME", "/root"),
            ],
        )
        .expect("env");
        assert_eq!(config.listen.port(), 80);
        assert_eq!(config.max_connections, 7);
        assert_eq!(config.database_url, "postgres://x@localhost/y");
    }

    #[test]
    fn errors_name_the_key_in_one_line() {
        let e = parse("listen = \"not an address\"", &[]).expect_err("bad");
        let text = e.to_string();
        assert!(text.contains("`listen`"), "{text}");
        assert!(!text.contains('\n'));
        let e = parse("max_connections = \"many\"", &[]).expect_err("bad");
        assert!(e.to_string().contains("`max_connections`"), "{e}");
        let e = parse("lisen = \"127.0.0.1:1\"", &[]).expect_err("typo");
        assert!(e.to_string().contains("lisen"), "{e}");
        let e = parse("listen = ", &[]).expect_err("syntax");
        assert!(e.to_string().starts_with("config file test.toml"), "{e}");
        assert!(!e.to_string().contains('\n'));
        let e = parse("", &[("BRYGGA_NOPE", "1")]).expect_err("unknown var");
        assert!(e.to_string().contains("BRYGGA_NOPE"), "{e}");
        let e = parse("", &[("BRYGGA_MAX_CONNECTIONS", "-3")]).expect_err("negative");
        assert!(e.to_string().contains("max_connections"), "{e}");
    }
}

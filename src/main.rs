//! The `brygga` command: serve, demo, migrate, simulate, policy.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use brygga::app::{self, Application, Options};
use brygga::config::Config;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "brygga",
    version,
    about = "Cross-municipality router for digital social services"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the gateway with a configuration file (and BRYGGA_* environment overrides).
    Serve {
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// The whole system on embedded SQLite with the seeded federation and demo logins.
    Demo {
        #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
        listen: SocketAddr,
        #[arg(long, default_value = "brygga-demo", value_name = "DIR")]
        data_dir: PathBuf,
    },
    /// Apply the database migrations (and seed the federation on first use), then exit.
    Migrate {
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Replay a day of requests on a simulated clock and print wait times, the cross-border
    /// share, offer outcomes and any broken routing invariant.
    Simulate {
        /// The federation file; the built-in Familjen Helsingborg federation when not given.
        #[arg(long, value_name = "FILE")]
        federation: Option<PathBuf>,
        #[arg(long, default_value_t = 2000, value_name = "N")]
        requests: u32,
        #[arg(long, default_value_t = 1, value_name = "S")]
        seed: u64,
        /// Print the report as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Check and test the legal and consent policies (Cedar).
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Thin closed cases whose retention period has passed (R17); the scheduler also does this
    /// daily.
    Retention {
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// List what would be thinned, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify every municipality's chain against the audit key; name the first broken
    /// position. Exits non-zero when a chain is broken.
    Verify {
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Check the policy set against the schema (every policy with an @id, routing permits
    /// with a @ring).
    Validate {
        /// A directory like `policies/`: schema.cedarschema, *.cedar. The shipped set when not
        /// given.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Validate, then run the policy tests (DIR/tests/*.toml) and list any failure.
    Test {
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Prove the legal invariants (src/policy/proofs.rs) for every request the schema admits,
    /// with the SMT solver cvc5; a broken invariant is printed with its counterexample in
    /// words. Exits non-zero when one is broken or a proof could not be run.
    Verify {
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// The solver (default: the config's `policy_solver`, /usr/bin/cvc5).
        #[arg(long, value_name = "PATH")]
        solver: Option<PathBuf>,
        /// Also list each request type an invariant was proven on.
        #[arg(long)]
        verbose: bool,
    },
}

/// A policy directory's schema, policy set and tests, each as one text (files in name order).
struct PolicyFiles {
    schema: String,
    policies: String,
    tests: String,
}

fn read_sorted(dir: &std::path::Path, extension: &str) -> Result<String, String> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == extension))
        .collect();
    paths.sort();
    let mut text = String::new();
    for path in paths {
        let content = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        text.push_str(&content);
        text.push('\n');
    }
    Ok(text)
}

fn policy_files(dir: Option<&std::path::Path>) -> Result<PolicyFiles, String> {
    use brygga::policy::{engine, testing};
    match dir {
        None => Ok(PolicyFiles {
            schema: engine::SCHEMA_TEXT.to_owned(),
            policies: engine::default_text(),
            tests: testing::default_text(),
        }),
        Some(dir) => {
            let schema_path = dir.join("schema.cedarschema");
            Ok(PolicyFiles {
                schema: std::fs::read_to_string(&schema_path)
                    .map_err(|e| format!("cannot read {}: {e}", schema_path.display()))?,
                policies: read_sorted(dir, "cedar")?,
                tests: read_sorted(&dir.join("tests"), "toml")?,
            })
        }
    }
}

fn policy_command(command: PolicyCommand) -> Result<(), String> {
    use brygga::policy::{engine, testing};
    let (dir, run_tests) = match &command {
        PolicyCommand::Validate { dir } => (dir.as_deref(), false),
        PolicyCommand::Test { dir } | PolicyCommand::Verify { dir, .. } => (dir.as_deref(), true),
    };
    let files = policy_files(dir)?;
    let schema = engine::parse_schema(&files.schema).map_err(|e| e.join("\n"))?;
    let compiled = engine::compile(&files.policies, &schema)
        .map_err(|errors| format!("the policy set is invalid:\n  {}", errors.join("\n  ")))?;
    println!(
        "{} policies valid against the schema: {}",
        compiled.ids.len(),
        compiled.ids.join(", ")
    );
    if !run_tests {
        return Ok(());
    }
    let tests = testing::parse("tests", &files.tests)?;
    let failures = testing::run(&compiled, &schema, &tests);
    for f in &failures {
        println!("FAIL [{}] {}: {}", f.rule, f.name, f.message);
    }
    let untested = testing::untested(&compiled, &tests);
    if !untested.is_empty() {
        println!("policies no test names: {}", untested.join(", "));
    }
    println!(
        "{} tests, {} passed, {} failed",
        tests.len(),
        tests.len() - failures.len(),
        failures.len()
    );
    if failures.is_empty() && untested.is_empty() {
        Ok(())
    } else {
        Err("policy tests failed".to_owned())
    }
}

/// `brygga policy verify`: every invariant on every request type, one line each (the
/// request types it does not apply to only with `--verbose`), then a summary.
async fn policy_verify(
    dir: Option<&std::path::Path>,
    solver: Option<PathBuf>,
    verbose: bool,
) -> Result<(), String> {
    use brygga::policy::proofs::{self, Verdict};
    let files = policy_files(dir)?;
    let solver = solver.unwrap_or_else(|| Config::default().policy_solver);
    let started = std::time::Instant::now();
    let outcomes = proofs::verify_async(
        &files.schema,
        &files.policies,
        &solver.display().to_string(),
        &proofs::invariants(),
    )
    .await
    .map_err(|e| format!("the proofs could not be run: {e}"))?;
    for o in &outcomes {
        let shown = match o.verdict {
            Verdict::NotApplicable | Verdict::Proven => verbose,
            Verdict::Broken(_) | Verdict::Failed(_) => true,
        };
        if shown {
            println!("{o}");
        }
    }
    let summaries = proofs::summarize(&outcomes);
    for s in &summaries {
        println!(
            "{:<8} {:<54} {:<8} {:>3} request types {:>6} ms",
            s.verdict, s.invariant, s.rule, s.proven_on, s.millis
        );
    }
    let bad = summaries.iter().filter(|s| s.verdict != "proven").count();
    println!(
        "{} invariants, {} proven, {} not, in {} ms",
        summaries.len(),
        summaries.len() - bad,
        bad,
        started.elapsed().as_millis()
    );
    if bad == 0 {
        Ok(())
    } else {
        Err("a legal invariant does not hold".to_owned())
    }
}

fn init_tracing(filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

async fn serve(config: Config, options: Options) -> Result<(), String> {
    let application = Application::build(config, options)
        .await
        .map_err(|e| e.to_string())?;
    let addr = application.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(%addr, "listening on http://{addr}");
    application
        .run_until(shutdown_signal())
        .await
        .map_err(|e| e.to_string())
}

async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Serve { config } => {
            let config = Config::load(config.as_deref()).map_err(|e| e.to_string())?;
            init_tracing(&config.log);
            serve(
                config,
                Options {
                    scheduler: true,
                    ..Options::default()
                },
            )
            .await
        }
        Command::Demo { listen, data_dir } => {
            std::fs::create_dir_all(&data_dir)
                .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
            let mut config = Config::load(None).map_err(|e| e.to_string())?;
            config.listen = listen;
            config.database_url = format!("sqlite:{}", data_dir.join("brygga.db").display());
            // The demo is served over plain HTTP on loopback.
            config.secure_cookies = false;
            init_tracing(&config.log);
            println!("Brygga demo is running. Open http://{listen}/ in a web browser.");
            println!(
                "Choose a demo person at http://{listen}/demo (data in {}).",
                data_dir.display()
            );
            println!("API: GET http://{listen}/demo/caseworkers; log in with POST /demo/login");
            serve(
                config,
                Options {
                    demo: true,
                    scheduler: true,
                    ..Options::default()
                },
            )
            .await
        }
        Command::Migrate { config } => {
            let config = Config::load(config.as_deref()).map_err(|e| e.to_string())?;
            init_tracing(&config.log);
            let (store, federation) = app::open_store(&config, None)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "migrated {} database; federation {} with {} municipalities",
                store.backend(),
                federation.id,
                federation.municipalities.len()
            );
            Ok(())
        }
        Command::Policy {
            command:
                PolicyCommand::Verify {
                    dir,
                    solver,
                    verbose,
                },
        } => policy_verify(dir.as_deref(), solver, verbose).await,
        Command::Policy { command } => policy_command(command),
        Command::Retention { config, dry_run } => {
            let config = Config::load(config.as_deref()).map_err(|e| e.to_string())?;
            init_tracing("warn");
            let ctx = app::context(config, &Options::default())
                .await
                .map_err(|e| e.to_string())?;
            let items = ctx.retention(dry_run).await.map_err(|e| e.to_string())?;
            for item in &items {
                println!(
                    "{}\t{}\t{}\tlast entry {}\tdue {}{}",
                    item.case_id,
                    item.home,
                    item.category,
                    brygga::clock::local_date(item.last_entry),
                    brygga::clock::local_date(item.due),
                    if item.thinned { "\tthinned" } else { "" }
                );
            }
            println!(
                "{} case(s) {}",
                items.len(),
                if dry_run {
                    "would be thinned"
                } else {
                    "thinned"
                }
            );
            Ok(())
        }
        Command::Audit {
            command: AuditCommand::Verify { config },
        } => {
            let config = Config::load(config.as_deref()).map_err(|e| e.to_string())?;
            init_tracing("warn");
            let key = config
                .audit_key
                .as_deref()
                .ok_or("audit_key is not configured: nothing to verify with")?;
            let key = brygga::audit::AuditKey::new(key)?;
            let store = brygga::store::open(&config.database_url, 2, Some(key.clone()))
                .await
                .map_err(|e| e.to_string())?;
            let result = brygga::workflow::verify_audit(store.as_ref(), &key)
                .await
                .map_err(|e| e.to_string())?;
            let text = serde_json::to_string_pretty(&result).map_err(|e| e.to_string())?;
            println!("{text}");
            match result.first_broken {
                None => Ok(()),
                Some(b) => Err(format!(
                    "the audit chain of {} is broken at position {} ({})",
                    b.municipality, b.seq, b.why
                )),
            }
        }
        Command::Simulate {
            federation,
            requests,
            seed,
            json,
        } => {
            init_tracing("warn");
            let text = match &federation {
                Some(path) => std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
                None => app::BUILTIN_FEDERATION.to_owned(),
            };
            let config = brygga::simulate::SimulationConfig::new(text, requests, seed);
            let report = brygga::simulate::run(config)
                .await
                .map_err(|e| e.to_string())?;
            if json {
                let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
                println!("{text}");
            } else {
                print!("{report}");
            }
            // A broken invariant is a failure for scripts and CI, not only a line in the table.
            if report.violations.total() > 0 {
                return Err(format!(
                    "{} routing invariant violations",
                    report.violations.total()
                ));
            }
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("brygga: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("brygga: {message}");
            ExitCode::FAILURE
        }
    }
}

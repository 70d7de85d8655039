//! The `brygga` command: serve, demo, migrate.

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
            init_tracing(&config.log);
            println!(
                "Brygga demo: http://{listen}  (data in {})",
                data_dir.display()
            );
            println!(
                "Demo caseworkers: GET http://{listen}/demo/caseworkers; log in with POST /demo/login"
            );
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
            let (store, federation) = app::open_store(&config).await.map_err(|e| e.to_string())?;
            println!(
                "migrated {} database; federation {} with {} municipalities",
                store.backend(),
                federation.id,
                federation.municipalities.len()
            );
            Ok(())
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

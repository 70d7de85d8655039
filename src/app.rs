//! Start-up: builds the whole application from a [`Config`] before it serves, so tests start
//! the real thing on port 0 and learn the port.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::domain::federation::{Federation, FederationError};
use crate::http::{self, AppState};
use crate::store::{self, Store, StoreError};
use crate::workflow::{Context, IdSource, RandomIds};

/// The built-in federation, used when the configuration names no file.
pub const BUILTIN_FEDERATION: &str =
    include_str!("../deploy/federations/familjen-helsingborg.toml");

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot read federation file {path}: {source}")]
    FederationRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("federation file {path}: {source}")]
    Federation {
        path: String,
        source: FederationError,
    },
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("policies: {0}")]
    Policies(String),
    #[error("federation: {0}")]
    FederationState(String),
    #[error("login: {0}")]
    Login(String),
    #[error("audit: {0}")]
    Audit(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

#[derive(Clone, Default)]
pub struct Options {
    /// Demo mode: demo logins and seeded caseworkers.
    pub demo: bool,
    /// Defaults to the system clock.
    pub clock: Option<Arc<dyn Clock>>,
    /// Defaults to random ids.
    pub ids: Option<Arc<dyn IdSource>>,
    /// Run the routing scheduler (offer timeouts, ring widening) in the background.
    pub scheduler: bool,
    /// Tests only: called before every decided write (see [`crate::workflow::WriteProbe`]).
    pub probe: Option<Arc<dyn crate::workflow::WriteProbe>>,
}

pub struct Application {
    listener: TcpListener,
    state: AppState,
    scheduler: bool,
    shutdown: tokio::sync::watch::Sender<bool>,
}

/// The audit key of `brygga demo` and of tests: public, so never for real data.
pub const DEMO_AUDIT_KEY: &str = "brygga-demo-audit-key-not-for-real-data";

/// Opens the store, and on first start seeds the federation from its file. Without an audit
/// key the store can be migrated but appends no audit event.
pub async fn open_store(
    config: &Config,
    audit_key: Option<crate::audit::AuditKey>,
) -> Result<(Arc<dyn Store>, Arc<Federation>), StartupError> {
    let store = store::open(&config.database_url, config.max_connections, audit_key).await?;
    let federation = match store.load_federation().await? {
        Some(f) => f,
        None => {
            let (path, text) = match &config.federation_file {
                Some(path) => (
                    path.display().to_string(),
                    std::fs::read_to_string(path).map_err(|source| {
                        StartupError::FederationRead {
                            path: path.clone(),
                            source,
                        }
                    })?,
                ),
                None => ("(built in)".to_owned(), BUILTIN_FEDERATION.to_owned()),
            };
            let federation = Federation::parse_toml(&text)
                .map_err(|source| StartupError::Federation { path, source })?;
            store.seed_federation(&federation).await?;
            tracing::info!(federation = %federation.id, "federation loaded on first start");
            federation
        }
    };
    Ok((store, Arc::new(federation)))
}

/// The OpenID Connect providers and the population register the configuration names.
fn auth_services(
    config: &Config,
    clock: Arc<dyn Clock>,
) -> Result<crate::http::login::AuthServices, StartupError> {
    let oidc = crate::auth::oidc::Oidc::new(
        config.citizen_login.as_ref(),
        &config.staff_login,
        &config.public_url(),
        clock,
    )
    .map_err(|e| StartupError::Login(e.to_string()))?;
    let register = match &config.population_register_file {
        Some(path) => Some(Arc::new(
            crate::auth::register::FileRegister::load(path)
                .map_err(|e| StartupError::Login(e.to_string()))?,
        )
            as Arc<dyn crate::auth::register::PopulationRegister>),
        None => None,
    };
    if config.citizen_login.is_some() && register.is_none() {
        return Err(StartupError::Login(
            "citizen_login needs population_register_file (home and protection come from it)"
                .into(),
        ));
    }
    Ok(crate::http::login::AuthServices { oidc, register })
}

/// Everything the workflows need, from the configuration: the store (migrated, the federation
/// seeded on first start, legacy audit events sealed), the active policies, the clock. Used by
/// the server and by commands that work without it (`brygga retention`).
pub async fn context(config: Config, options: &Options) -> Result<Context, StartupError> {
    let clock = options
        .clock
        .clone()
        .unwrap_or_else(|| Arc::new(SystemClock));
    let audit_key = match (&config.audit_key, options.demo) {
        (Some(key), _) => key.as_str(),
        (None, true) => DEMO_AUDIT_KEY,
        (None, false) => {
            return Err(StartupError::Audit(
                "audit_key is required: a random secret of at least 32 characters, kept \
                 outside the database (BRYGGA_AUDIT_KEY)"
                    .into(),
            ));
        }
    };
    let audit_key = crate::audit::AuditKey::new(audit_key).map_err(StartupError::Audit)?;
    let (store, federation) = open_store(&config, Some(audit_key.clone())).await?;
    let sealed = store.seal_legacy_audit().await?;
    if sealed > 0 {
        tracing::info!(sealed, "audit events from before the chain sealed into it");
    }
    if options.demo && store.caseworkers().await?.is_empty() {
        let staff = crate::demo::caseworkers(&federation, config.default_capacity, clock.now());
        for caseworker in &staff {
            store.insert_caseworker(caseworker).await?;
        }
        tracing::info!(caseworkers = staff.len(), "demo caseworkers seeded");
    }
    if !config.policy_solver.is_file() {
        // Said at start rather than found out when an administrator first stores a version.
        tracing::warn!(
            solver = %config.policy_solver.display(),
            "the policy solver (cvc5) is missing: new policy versions cannot be stored until \
             it is installed (Debian: apt-get install cvc5) or policy_solver names it"
        );
    }
    let policy =
        crate::workflow::load_policies(store.as_ref(), federation.id.as_str(), clock.now())
            .await
            .map_err(StartupError::Policies)?;
    let ctx = Context::new(
        store,
        federation,
        clock,
        Arc::new(config),
        Arc::new(policy),
        options.ids.clone().unwrap_or_else(|| Arc::new(RandomIds)),
        audit_key,
    )
    .with_probe(options.probe.clone());
    ctx.start_federation()
        .await
        .map_err(|e| StartupError::FederationState(e.to_string()))?;
    Ok(ctx)
}

impl Application {
    pub async fn build(config: Config, options: Options) -> Result<Application, StartupError> {
        Application::build_inner(config, options, None).await
    }

    /// As [`Application::build`], serving on a listener bound already (tests that must know
    /// the address before the configuration is complete, e.g. for an OpenID Connect redirect).
    pub async fn build_on(
        config: Config,
        options: Options,
        listener: std::net::TcpListener,
    ) -> Result<Application, StartupError> {
        Application::build_inner(config, options, Some(listener)).await
    }

    async fn build_inner(
        config: Config,
        options: Options,
        bound: Option<std::net::TcpListener>,
    ) -> Result<Application, StartupError> {
        let ctx = context(config.clone(), &options).await?;
        let listen_error = |source| StartupError::Listen {
            addr: config.listen,
            source,
        };
        let listener = match bound {
            Some(std_listener) => {
                std_listener.set_nonblocking(true).map_err(listen_error)?;
                TcpListener::from_std(std_listener).map_err(listen_error)?
            }
            None => TcpListener::bind(config.listen)
                .await
                .map_err(listen_error)?,
        };
        let auth = auth_services(&config, ctx.clock.clone())?;
        let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
        let state = AppState {
            ctx,
            demo: options.demo,
            auth: Arc::new(auth),
            shutdown: shutdown_rx,
        };
        Ok(Application {
            listener,
            state,
            scheduler: options.scheduler,
            shutdown,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let scheduler = self
            .scheduler
            .then(|| tokio::spawn(run_scheduler(self.state.ctx.clone())));
        let router = http::router(self.state);
        let signal = self.shutdown;
        let served = axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = signal.send(true);
        })
        .await;
        if let Some(task) = scheduler {
            task.abort();
        }
        served
    }
}

/// The routing scheduler: offer timeouts, ring widening, push matching. Its state is all in the
/// database, so stopping it between ticks (or a crash) loses nothing.
async fn run_scheduler(ctx: Context) {
    let period = std::time::Duration::from_millis(ctx.config.scheduler_interval_ms.max(10));
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        match ctx.tick().await {
            Ok(report) if report != crate::workflow::TickReport::default() => {
                tracing::debug!(?report, "scheduler tick");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "scheduler tick failed"),
        }
    }
}

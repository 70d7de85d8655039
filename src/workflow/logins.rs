//! Logins and their tokens: who a bearer token or a browser login stands for, whether it is
//! still live, issuing and revoking tokens, and the end of a login — which ends every stream of
//! it (`Notice::LoginEnded`). Integration tokens are administration, through the gate.

use crate::domain::Administrator;
use chrono::Duration;
use serde_json::json;

use super::notices::Notice;
use super::{Context, Error, Result};
use crate::auth::login::StaffRole;
use crate::auth::sessions::{self, StoreSessions, WebLogin};
use crate::auth::{self, IssuedToken, TokenRequest};
use crate::domain::access::{ApiToken, Principal, Scope, TokenKind};
use crate::domain::ids::MunicipalityCode;
use crate::domain::people::Caseworker;
use crate::policy::Action;

/// How long an integration token lives unless its administrator asks otherwise, in days
/// (issue 21: "expire by default within 90 days").
const DEFAULT_TOKEN_DAYS: u32 = 90;

/// The longest an integration token may live when its administrator asks for it, in days.
const MAX_TOKEN_DAYS: u32 = 365;

/// How a caller is logged in: what a delivery to them is re-checked against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Login {
    /// A bearer token, by its id and the hash of its secret; `login_id` when it was issued to a
    /// browser login (and ends with it).
    Token {
        id: String,
        hash: String,
        login_id: Option<String>,
    },
    /// A browser session: the key it is stored under and the login in it.
    Browser {
        session_key: String,
        login_id: String,
    },
}

impl Login {
    /// Whether `notice` ends this login.
    pub fn ended_by(&self, token: Option<&str>, login: Option<&str>) -> bool {
        match self {
            Login::Token { id, login_id, .. } => {
                token == Some(id.as_str()) || (login.is_some() && login_id.as_deref() == login)
            }
            Login::Browser { login_id, .. } => login == Some(login_id.as_str()),
        }
    }
}

/// A caller behind a bearer token.
#[derive(Clone, Debug)]
pub struct Authenticated {
    pub principal: Principal,
    pub login: Login,
    /// A session token's `read`/`write`; the route families an integration token opens
    /// ([`Scope::granted`]: old `read`/`write` tokens mapped to families).
    pub scopes: Vec<Scope>,
    pub kind: TokenKind,
}

/// A new integration token, as an administrator asks for it.
pub struct IntegrationTokenInput {
    pub name: String,
    /// Route families, each one of [`Scope::GRANTABLE`] (at least one).
    pub scopes: Vec<String>,
    /// Days it lives (default 90, at most 365).
    pub days: Option<u32>,
}

/// The municipality an integration token acts for (`None`: the federation).
pub fn acting_for(token: &ApiToken) -> Option<&MunicipalityCode> {
    match &token.principal {
        Principal::Admin(admin) => admin.municipality.as_ref(),
        _ => None,
    }
}

/// How often the scheduler deletes expired browser sessions.
const SESSION_SWEEP_EVERY: Duration = Duration::minutes(5);

impl Context {
    /// Deletes expired browser sessions, which hold the citizen's personnummer and ID token
    /// (R17: kept no longer than they serve), at most every few minutes (called by the
    /// scheduler's tick). Returns how many went.
    pub(super) async fn sweep_sessions(&self) -> Result<u64> {
        let now = self.clock.now();
        let due = self
            .marks()
            .sessions_swept
            .is_none_or(|at| now - at >= SESSION_SWEEP_EVERY || now < at);
        if !due {
            return Ok(0);
        }
        let deleted = self.store.delete_expired_web_sessions(now).await?;
        self.marks().sessions_swept = Some(now);
        Ok(deleted)
    }

    /// tower-sessions' store of browser sessions, on Brygga's store.
    pub fn web_sessions(&self) -> StoreSessions {
        StoreSessions::new(self.store.clone())
    }

    /// The caller behind a live bearer token (not expired, not revoked), if any.
    pub async fn authenticate_token(&self, token: &str) -> Result<Option<Authenticated>> {
        let hash = auth::token_hash(token);
        let Some(record) = self.store.api_token(&hash, self.clock.now()).await? else {
            return Ok(None);
        };
        // An integration token is its own actor in the trail: `admin:token:<id>`, named as
        // its administrator named it.
        let principal = match (record.kind, record.principal) {
            (TokenKind::Integration, Principal::Admin(admin)) => Principal::Admin(Administrator {
                id: format!("token:{}", record.id),
                name: record.name.clone().unwrap_or_default(),
                municipality: admin.municipality,
            }),
            (_, principal) => principal,
        };
        Ok(Some(Authenticated {
            login: Login::Token {
                id: record.id.clone(),
                hash,
                login_id: record.login_id.clone(),
            },
            principal,
            scopes: match record.kind {
                TokenKind::Session => record.scopes,
                TokenKind::Integration => Scope::granted(&record.scopes),
            },
            kind: record.kind,
        }))
    }

    /// An integration token used on a route its scopes do not open (`needs` the route's
    /// family, `None` where no scope opens it): always `Err(forbidden)`, audited by the gate on
    /// the token's chain.
    pub async fn refuse_token_scope(
        &self,
        admin: &Administrator,
        needs: Option<Scope>,
        route: &str,
    ) -> Result<()> {
        self.refused_token_scope(admin, needs, route).await
    }

    /// Whether a login still holds now: its token live, or its browser session stored, still
    /// the same login, and within its idle and absolute time.
    pub async fn login_live(&self, login: &Login) -> Result<bool> {
        let now = self.clock.now();
        match login {
            Login::Token { hash, .. } => Ok(self.store.api_token(hash, now).await?.is_some()),
            Login::Browser {
                session_key,
                login_id,
            } => {
                let Some((data, _)) = self.store.load_web_session(session_key, now).await? else {
                    return Ok(false);
                };
                Ok(sessions::login_of(&data).is_some_and(|web| {
                    web.login_id == *login_id
                        && web.is_live(now, self.session_absolute(), self.session_idle())
                }))
            }
        }
    }

    pub fn session_absolute(&self) -> Duration {
        Duration::hours(i64::from(self.config.session_hours))
    }

    pub fn session_idle(&self) -> Duration {
        Duration::minutes(i64::from(self.config.session_idle_minutes))
    }

    /// A browser login began. A citizen's protection is what the population register says at
    /// this login, and it follows them into their open cases (R11); a member of staff's login
    /// is audited.
    pub async fn logged_in(&self, login: &WebLogin) -> Result<()> {
        match &login.principal {
            Principal::Citizen(citizen) => self.protection_from_register(citizen).await,
            staff => self.record_login(staff, "login", json!({})).await,
        }
    }

    /// A browser login ended (`why`: `logout`, or `expired` when its time ran out): every token
    /// issued to it is revoked, every stream of it ends, and a member of staff's logout is
    /// audited.
    pub async fn end_browser_login(&self, login: &WebLogin, why: &'static str) -> Result<()> {
        self.store
            .revoke_session_tokens(&login.login_id, self.clock.now())
            .await?;
        self.notify(Notice::LoginEnded {
            token: None,
            login: Some(login.login_id.clone()),
        });
        self.record_login(&login.principal, "logout", json!({ "why": why }))
            .await
    }

    /// `POST /logout` with a bearer token: that token is revoked, and its streams end.
    pub async fn log_out_token(&self, token: &str) -> Result<()> {
        let now = self.clock.now();
        if let Some(record) = self.store.api_token(&auth::token_hash(token), now).await?
            && self.store.revoke_api_token(&record.id, now, None).await?
        {
            self.notify(Notice::LoginEnded {
                token: Some(record.id.clone()),
                login: None,
            });
            self.record_login(
                &record.principal,
                "logout",
                json!({ "why": "logout", "token": record.id }),
            )
            .await?;
        }
        Ok(())
    }

    /// A bearer token for API use by a browser login, ending when the login would.
    pub async fn issue_session_token(&self, login: &WebLogin) -> Result<IssuedToken> {
        let now = self.clock.now();
        let (row, issued) = TokenRequest {
            principal: &login.principal,
            kind: TokenKind::Session,
            name: None,
            scopes: vec![Scope::Read, Scope::Write],
            login_id: Some(login.login_id.clone()),
            created_by: "session".into(),
            now,
            expires_at: login.authenticated_at + self.session_absolute(),
        }
        .mint();
        self.store.insert_api_token(&row, None).await?;
        Ok(issued)
    }

    /// The principal of a member of staff whose provider vouched for `role`: an administrator
    /// as the claims say; a caseworker only if Brygga knows them in that municipality.
    pub async fn staff_principal(
        &self,
        role: StaffRole,
        municipality: &MunicipalityCode,
    ) -> Result<Option<Principal>> {
        match role {
            StaffRole::Admin {
                municipality: admin_of,
                subject,
                name,
            } => Ok(Some(Principal::Admin(Administrator {
                id: format!("{municipality}/{subject}"),
                name,
                municipality: admin_of,
            }))),
            StaffRole::Caseworker(claims) => Ok(self
                .caseworker_at_login(municipality, &claims)
                .await?
                .map(|c| Principal::Caseworker {
                    caseworker_id: c.id,
                    municipality: c.municipality,
                })),
        }
    }

    /// The seeded caseworkers (`brygga demo` only lists them).
    pub async fn demo_caseworkers(&self) -> Result<Vec<Caseworker>> {
        Ok(self.store.caseworkers().await?)
    }

    /// The integration tokens an administrator manages: their municipality's, or (federation)
    /// all.
    pub async fn integration_tokens(&self, admin: &Administrator) -> Result<Vec<ApiToken>> {
        self.authorize_admin(admin, Action::Administer, admin.municipality.as_ref())
            .await?;
        Ok(self
            .store
            .integration_tokens()
            .await?
            .into_iter()
            .filter(|t| admin.is_federation() || acting_for(t) == admin.municipality.as_ref())
            .collect())
    }

    /// A new integration token acting as the administrator who creates it, decided by the
    /// policies (`administer` on their municipality or the federation) and audited with that
    /// ground in the same transaction. Shown once.
    pub async fn create_integration_token(
        &self,
        admin: &Administrator,
        input: IntegrationTokenInput,
    ) -> Result<(IssuedToken, ApiToken)> {
        let proof = self
            .authorize_admin(admin, Action::Administer, admin.municipality.as_ref())
            .await?;
        let name = input.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(Error::InvalidField("name"));
        }
        let mut scopes = input
            .scopes
            .iter()
            .map(|s| Scope::parse_grantable(s).ok_or(Error::InvalidField("scopes")))
            .collect::<Result<Vec<_>>>()?;
        scopes.sort();
        scopes.dedup();
        if scopes.is_empty() {
            return Err(Error::InvalidField("scopes"));
        }
        let days = input.days.unwrap_or(DEFAULT_TOKEN_DAYS);
        if days == 0 || days > MAX_TOKEN_DAYS {
            return Err(Error::InvalidField("days"));
        }
        let now = self.clock.now();
        let principal = Principal::Admin(Administrator {
            id: String::new(),
            name: name.clone(),
            municipality: admin.municipality.clone(),
        });
        let created_by = admin.actor().to_string();
        let (row, issued) = TokenRequest {
            principal: &principal,
            kind: TokenKind::Integration,
            name: Some(name.clone()),
            scopes: scopes.clone(),
            login_id: None,
            created_by: created_by.clone(),
            now,
            expires_at: now + Duration::days(i64::from(days)),
        }
        .mint();
        let scope_names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
        self.store_integration_token(
            &proof,
            &row,
            json!({ "id": issued.id, "name": name, "scopes": scope_names }),
        )
        .await?;
        let token = ApiToken {
            id: issued.id.clone(),
            kind: TokenKind::Integration,
            principal,
            name: Some(name),
            scopes,
            login_id: None,
            created_by,
            created_at: now,
            expires_at: issued.expires_at,
            revoked_at: None,
        };
        Ok((issued, token))
    }

    /// Revokes an integration token the administrator manages (404 for any other), audited on
    /// the chain of the municipality it acted for; its streams end.
    pub async fn revoke_integration_token(&self, admin: &Administrator, id: &str) -> Result<()> {
        let proof = self
            .authorize_admin(admin, Action::Administer, admin.municipality.as_ref())
            .await?;
        let token = self
            .store
            .integration_tokens()
            .await?
            .into_iter()
            .find(|t| {
                t.id == id
                    && (admin.is_federation() || acting_for(t) == admin.municipality.as_ref())
            })
            .ok_or(Error::NotFound)?;
        let by = admin.actor().to_string();
        let revoked = self
            .revoke_integration_token_as(
                &proof,
                &token.id,
                acting_for(&token),
                json!({ "id": token.id, "by": by }),
            )
            .await?;
        if !revoked {
            // Already revoked (or expired): nothing is live under that id.
            return Err(Error::NotFound);
        }
        self.notify(Notice::LoginEnded {
            token: Some(token.id),
            login: None,
        });
        Ok(())
    }
}

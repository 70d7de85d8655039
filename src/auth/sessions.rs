//! Browser sessions: tower-sessions' `SessionStore` on Brygga's own store, so that sessions
//! live in the same SQLite or PostgreSQL database as everything else (DESIGN.md "Identity").
//! Only the SHA-256 of a session id is stored, so a leaked table does not leak live sessions.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

use super::{Principal, token_hash};
use crate::store::Store;

/// The session key of a completed login.
pub const LOGIN: &str = "login";
/// The session key of a login in progress (OpenID Connect, until the callback).
pub const PENDING: &str = "oidc_login";

/// Who is logged in to a browser session, since when, and through which provider.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WebLogin {
    pub principal: Principal,
    /// Random id of this login: tokens issued to it are revoked at logout.
    pub login_id: String,
    pub authenticated_at: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// The OpenID Connect provider, for RP-initiated logout (`None` for the demo login).
    pub provider: Option<super::oidc::ProviderKey>,
    pub id_token: Option<String>,
}

#[derive(Clone)]
pub struct StoreSessions {
    store: Arc<dyn Store>,
}

impl std::fmt::Debug for StoreSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreSessions")
    }
}

impl StoreSessions {
    pub fn new(store: Arc<dyn Store>) -> Self {
        StoreSessions { store }
    }
}

/// The key a session is stored under: the SHA-256 of its id.
pub fn key(id: &Id) -> String {
    token_hash(&id.to_string())
}

/// The login kept in a stored session's data, if it holds one.
pub fn login_of(data: &serde_json::Value) -> Option<WebLogin> {
    serde_json::from_value(data.get(LOGIN)?.clone()).ok()
}

impl WebLogin {
    /// Whether the login is still within its absolute and idle time at `now`.
    pub fn is_live(
        &self,
        now: DateTime<Utc>,
        absolute: chrono::Duration,
        idle: chrono::Duration,
    ) -> bool {
        now - self.authenticated_at <= absolute && now - self.last_seen <= idle
    }
}

fn to_chrono(t: OffsetDateTime) -> DateTime<Utc> {
    DateTime::from_timestamp(t.unix_timestamp(), 0).unwrap_or_default()
}

fn to_time(t: DateTime<Utc>) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(t.timestamp()).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn backend(e: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

#[async_trait]
impl SessionStore for StoreSessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let data = serde_json::to_value(&record.data)
            .map_err(|e| session_store::Error::Encode(e.to_string()))?;
        // A fresh random id that happens to be taken gets another one.
        while !self
            .store
            .create_web_session(&key(&record.id), &data, to_chrono(record.expiry_date))
            .await
            .map_err(backend)?
        {
            record.id = Id::default();
        }
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let data = serde_json::to_value(&record.data)
            .map_err(|e| session_store::Error::Encode(e.to_string()))?;
        self.store
            .save_web_session(&key(&record.id), &data, to_chrono(record.expiry_date))
            .await
            .map_err(backend)
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let Some((data, expires)) = self
            .store
            .load_web_session(&key(id), Utc::now())
            .await
            .map_err(backend)?
        else {
            return Ok(None);
        };
        let data = serde_json::from_value(data)
            .map_err(|e| session_store::Error::Decode(e.to_string()))?;
        Ok(Some(Record {
            id: *id,
            data,
            expiry_date: to_time(expires),
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.store
            .delete_web_session(&key(id))
            .await
            .map_err(backend)
    }
}

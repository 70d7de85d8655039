//! Who is calling: principals, session tokens and their storage.
//!
//! A bearer token is 256 random bits, given to the client once; the store keeps only its
//! SHA-256, so a leaked database does not leak live tokens. Browser sessions are
//! tower-sessions' (`sessions`), logins go through OpenID Connect (`oidc`, `login`), and a
//! citizen's home and protection come from the population register (`register`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub mod login;
pub mod oidc;
pub mod register;
pub mod sessions;

use crate::domain::people::{Loa, Protection};
use crate::store::{ApiTokenRecord, Store, StoreError};

/// What a session stands for. Serialized into the session row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Principal {
    Citizen(CitizenPrincipal),
    Caseworker {
        caseworker_id: String,
        municipality: String,
    },
    Admin {
        /// `None` for a federation administrator.
        municipality: Option<String>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CitizenPrincipal {
    /// 12 digits; `None` for an eIDAS login without a Swedish number (R2).
    pub personnummer: Option<String>,
    /// Registered home municipality, or the one stated at an eIDAS login.
    pub home: String,
    pub protection: Protection,
    pub loa: Loa,
}

/// A fresh random token, as 64 hex digits.
pub fn new_token() -> String {
    // Two v4 UUIDs are 244 bits from the operating system's generator.
    let a = uuid::Uuid::new_v4();
    let b = uuid::Uuid::new_v4();
    format!("{}{}", a.simple(), b.simple())
}

pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A bearer token just issued: its secret is shown once and never stored.
#[derive(Clone, Debug)]
pub struct IssuedToken {
    pub id: String,
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// What a new token is for.
pub struct TokenRequest<'a> {
    pub principal: &'a Principal,
    /// `session` (issued to a browser login) or `integration`.
    pub kind: &'static str,
    pub name: Option<String>,
    /// `read` and/or `write`.
    pub scopes: Vec<String>,
    /// The browser login it belongs to (revoked with it at logout).
    pub login_id: Option<String>,
    pub created_by: String,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

pub async fn issue_token(
    store: &dyn Store,
    request: TokenRequest<'_>,
) -> Result<IssuedToken, StoreError> {
    let token = new_token();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let principal = serde_json::to_value(request.principal)
        .map_err(|e| StoreError::Corrupt(format!("principal: {e}")))?;
    store
        .insert_api_token(&ApiTokenRecord {
            id: id.clone(),
            token_hash: token_hash(&token),
            kind: request.kind.to_owned(),
            principal: sqlx::types::Json(principal),
            name: request.name,
            scopes: sqlx::types::Json(request.scopes),
            web_session: request.login_id,
            created_by: request.created_by,
            created_at: request.now,
            expires_at: request.expires_at,
            revoked_at: None,
        })
        .await?;
    Ok(IssuedToken {
        id,
        token,
        expires_at: request.expires_at,
    })
}

/// The principal behind a live bearer token, with the token's scopes.
pub async fn token_principal(
    store: &dyn Store,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<(Principal, Vec<String>)>, StoreError> {
    let Some(record) = store.api_token(&token_hash(token), now).await? else {
        return Ok(None);
    };
    let principal = serde_json::from_value(record.principal.0)
        .map_err(|e| StoreError::Corrupt(format!("token principal: {e}")))?;
    Ok(Some((principal, record.scopes.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_hashed() {
        let a = new_token();
        assert_eq!(a.len(), 64);
        assert_ne!(a, new_token());
        assert_eq!(token_hash("abc").len(), 64);
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn principals_serialize_with_their_role() {
        let p = Principal::Caseworker {
            caseworker_id: "1275-01".into(),
            municipality: "1275".into(),
        };
        let v = serde_json::to_value(&p).expect("json");
        assert_eq!(v["role"], "caseworker");
        assert_eq!(serde_json::from_value::<Principal>(v).ok(), Some(p));
    }
}

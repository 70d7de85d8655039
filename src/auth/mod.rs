//! Who is calling: principals, session tokens and their storage.
//!
//! A session token is 256 random bits, given to the client once (bearer token and cookie);
//! the store keeps only its SHA-256, so a leaked database does not leak live sessions.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::people::{Loa, Protection};
use crate::store::{Store, StoreError};

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

pub async fn start_session(
    store: &dyn Store,
    principal: &Principal,
    now: DateTime<Utc>,
    hours: u32,
) -> Result<String, StoreError> {
    let token = new_token();
    let value = serde_json::to_value(principal)
        .map_err(|e| StoreError::Corrupt(format!("principal: {e}")))?;
    store
        .create_session(
            &token_hash(&token),
            &value,
            now,
            now + Duration::hours(i64::from(hours)),
        )
        .await?;
    Ok(token)
}

pub async fn principal_of(
    store: &dyn Store,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<Principal>, StoreError> {
    let Some(value) = store.session(&token_hash(token), now).await? else {
        return Ok(None);
    };
    serde_json::from_value(value)
        .map(Some)
        .map_err(|e| StoreError::Corrupt(format!("session principal: {e}")))
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

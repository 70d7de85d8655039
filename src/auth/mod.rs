//! Who is calling: principals, session tokens and their storage.
//!
//! A bearer token is 256 random bits, given to the client once; the store keeps only its
//! SHA-256, so a leaked database does not leak live tokens. Browser sessions are
//! tower-sessions' (`sessions`), logins go through OpenID Connect (`oidc`, `login`), and a
//! citizen's home and protection come from the population register (`register`).

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

pub mod login;
pub mod oidc;
pub mod register;
pub mod sessions;

pub use crate::domain::access::Principal;
pub use crate::domain::people::Citizen;

use crate::domain::access::{Scope, TokenKind};
use crate::store::NewApiToken;

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
    pub kind: TokenKind,
    pub name: Option<String>,
    pub scopes: Vec<Scope>,
    /// The browser login it belongs to (revoked with it at logout).
    pub login_id: Option<String>,
    pub created_by: String,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl TokenRequest<'_> {
    /// A new random secret: the row to store (its hash only) and the token to hand out once.
    pub fn mint(self) -> (NewApiToken, IssuedToken) {
        let token = new_token();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let row = NewApiToken {
            id: id.clone(),
            token_hash: token_hash(&token),
            kind: self.kind,
            principal: self.principal.clone(),
            name: self.name,
            scopes: self.scopes,
            login_id: self.login_id,
            created_by: self.created_by,
            created_at: self.now,
            expires_at: self.expires_at,
        };
        let issued = IssuedToken {
            id,
            token,
            expires_at: self.expires_at,
        };
        (row, issued)
    }
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
}

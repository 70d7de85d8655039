//! Who acts: the principal behind a login or a token, the actor an audit event names, and the
//! bearer tokens themselves. Plain data; authentication lives in `auth`, decisions in `policy`.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{CaseworkerId, MunicipalityCode};
use super::people::Citizen;

/// What a login or a token stands for. Serialized into the session and the token row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Principal {
    Citizen(Citizen),
    Caseworker {
        caseworker_id: CaseworkerId,
        municipality: MunicipalityCode,
    },
    Admin(Administrator),
}

/// An administrator: a person, named by their login (or, for an integration token, the system
/// the token was created for). The audit trail names them by `id`, never by their role alone.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Administrator {
    /// Stable: `<municipality>/<subject>` from the staff login, a demo administrator's id, or
    /// `token:<id>` for an integration token. Empty only for a session from before
    /// administrators were people (it acts, but no four-eyes rule counts it as anyone).
    #[serde(default)]
    pub id: String,
    /// As the login names them, for people reading the trail.
    #[serde(default)]
    pub name: String,
    /// `None` for a federation administrator.
    pub municipality: Option<MunicipalityCode>,
}

impl Administrator {
    /// The actor an audit event names.
    pub fn actor(&self) -> Actor {
        Actor::Admin {
            id: self.id.clone(),
            municipality: self.municipality.clone(),
        }
    }

    pub fn is_federation(&self) -> bool {
        self.municipality.is_none()
    }

    /// An integration token, not a person: it never administers the federation nor changes
    /// policies, and never counts as a second pair of eyes.
    pub fn is_token(&self) -> bool {
        self.id.starts_with("token:")
    }
}

/// The system's own actors: the router (offers, widening, revocation), retention, and the
/// population register (a citizen's protection as it says at their login).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SystemActor {
    Router,
    Retention,
    Register,
    /// A new release of Brygga, bringing its shipped policies.
    Release,
}

/// Who did something, as the audit trail names them (API.md: a stable id, never only a role).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Actor {
    /// An identified citizen (their number never goes into the trail's actor field).
    Citizen,
    /// An anonymous visitor holding a request's access code.
    Anonymous,
    Caseworker(CaseworkerId),
    /// An administrator (a person, or an integration token) of a municipality, or of the
    /// federation (`municipality` `None`).
    Admin {
        id: String,
        municipality: Option<MunicipalityCode>,
    },
    System(SystemActor),
}

impl Actor {
    /// The role the actor acts in, as the audit trail records it.
    pub fn role(&self) -> &'static str {
        match self {
            Actor::Citizen => "citizen",
            Actor::Anonymous => "anonymous",
            Actor::Caseworker(_) => "caseworker",
            Actor::Admin { .. } => "admin",
            Actor::System(_) => "system",
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Citizen => f.write_str("citizen"),
            Actor::Anonymous => f.write_str("anonymous"),
            Actor::Caseworker(id) => write!(f, "caseworker:{id}"),
            Actor::Admin { id, .. } if !id.is_empty() => write!(f, "admin:{id}"),
            // A session from before administrators were people: only the role's place.
            Actor::Admin {
                municipality: Some(m),
                ..
            } => write!(f, "admin:{m}"),
            Actor::Admin {
                municipality: None, ..
            } => f.write_str("admin:federation"),
            Actor::System(SystemActor::Router) => f.write_str("system:router"),
            Actor::System(SystemActor::Retention) => f.write_str("system:retention"),
            Actor::System(SystemActor::Register) => f.write_str("system:register"),
            Actor::System(SystemActor::Release) => f.write_str("system:release"),
        }
    }
}

/// What a bearer token was issued for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// Issued to a browser login, revoked with it.
    Session,
    /// Created by an administrator for a system that calls the API.
    Integration,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Session => "session",
            TokenKind::Integration => "integration",
        }
    }

    pub fn parse(s: &str) -> Option<TokenKind> {
        [TokenKind::Session, TokenKind::Integration]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// What a token may do: `read` (GET) and `write` (everything else).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Read,
    Write,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        [Scope::Read, Scope::Write]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// A bearer token as stored: never its secret, only (in the store) the secret's hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiToken {
    pub id: String,
    pub kind: TokenKind,
    pub principal: Principal,
    pub name: Option<String>,
    pub scopes: Vec<Scope>,
    /// The browser login it was issued to (revoked with it).
    pub login_id: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiToken {
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actors_are_named_as_the_trail_names_them() {
        let id = CaseworkerId::parse("1275-01").expect("id");
        let m = MunicipalityCode::parse("1283").expect("code");
        assert_eq!(Actor::Caseworker(id).to_string(), "caseworker:1275-01");
        let person = Administrator {
            id: "1283/8f3a".to_owned(),
            name: "Anna Admin".to_owned(),
            municipality: Some(m.clone()),
        };
        assert_eq!(person.actor().to_string(), "admin:1283/8f3a");
        let legacy = Actor::Admin {
            id: String::new(),
            municipality: Some(m),
        };
        assert_eq!(legacy.to_string(), "admin:1283");
        assert_eq!(
            Actor::System(SystemActor::Router).to_string(),
            "system:router"
        );
        assert_eq!(Actor::System(SystemActor::Retention).role(), "system");
        assert_eq!(Actor::Anonymous.role(), "anonymous");
    }

    #[test]
    fn names_roundtrip() {
        for k in [TokenKind::Session, TokenKind::Integration] {
            assert_eq!(TokenKind::parse(k.as_str()), Some(k));
        }
        for s in [Scope::Read, Scope::Write] {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
        }
        assert_eq!(Scope::parse("admin"), None);
    }

    #[test]
    fn principals_serialize_with_their_role() {
        let p = Principal::Caseworker {
            caseworker_id: CaseworkerId::parse("1275-01").expect("id"),
            municipality: MunicipalityCode::parse("1275").expect("code"),
        };
        let v = serde_json::to_value(&p).expect("json");
        assert_eq!(v["role"], "caseworker");
        assert_eq!(v["caseworker_id"], "1275-01");
        assert_eq!(serde_json::from_value::<Principal>(v).ok(), Some(p));
    }
}

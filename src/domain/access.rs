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

    /// The name the trail shows for them; `None` when their login gave none.
    pub fn trail_name(&self) -> Option<String> {
        Some(self.name.clone()).filter(|n| !n.is_empty())
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

/// What a token may do.
///
/// A session token (`POST /api/v1/me/tokens`) holds `read` (GET) and `write` (everything
/// else) and acts as its person, whom the policies judge. An integration token holds scopes per
/// route family (`audit:read`, `cases:write`, …): a route opens to it only if the route's family
/// is among them, and the policies still decide after that. Changing policies or the
/// federation's configuration, managing tokens and running retention have no scope at all, so
/// no integration token can ever do them. Integration tokens from before the families hold
/// `read`/`write`; [`Scope::granted`] maps them to the narrowest families that cover what
/// they could do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Scope {
    #[serde(rename = "read")]
    Read,
    #[serde(rename = "write")]
    Write,
    /// The audit trail, its verification and the follow-up report.
    #[serde(rename = "audit:read")]
    AuditRead,
    /// Live queue figures and the settlement between members.
    #[serde(rename = "stats:read")]
    StatsRead,
    /// Routing settings and a case's routing trace.
    #[serde(rename = "routing:read")]
    RoutingRead,
    /// Changing routing settings, where the policies let the token's municipality change
    /// them (the federation's shared settings never: a token does not administer the
    /// federation).
    #[serde(rename = "routing:write")]
    RoutingWrite,
    /// Moving a case (`POST /api/v1/cases/{id}/transfer`) as an administrator.
    #[serde(rename = "cases:write")]
    CasesWrite,
    /// The municipality's caseworkers.
    #[serde(rename = "caseworkers:read")]
    CaseworkersRead,
    /// Creating, changing and deactivating the municipality's caseworkers.
    #[serde(rename = "caseworkers:write")]
    CaseworkersWrite,
    /// Municipalities, agreements and categories, read only.
    #[serde(rename = "config:read")]
    ConfigRead,
    /// The policy versions and simulating a decision (storing nothing).
    #[serde(rename = "policies:read")]
    PoliciesRead,
    /// The administrators' event stream (`GET /api/v1/events`).
    #[serde(rename = "events:read")]
    EventsRead,
}

impl Scope {
    /// What an administrator may put on an integration token.
    pub const GRANTABLE: [Scope; 10] = [
        Scope::AuditRead,
        Scope::StatsRead,
        Scope::RoutingRead,
        Scope::RoutingWrite,
        Scope::CasesWrite,
        Scope::CaseworkersRead,
        Scope::CaseworkersWrite,
        Scope::ConfigRead,
        Scope::PoliciesRead,
        Scope::EventsRead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::AuditRead => "audit:read",
            Scope::StatsRead => "stats:read",
            Scope::RoutingRead => "routing:read",
            Scope::RoutingWrite => "routing:write",
            Scope::CasesWrite => "cases:write",
            Scope::CaseworkersRead => "caseworkers:read",
            Scope::CaseworkersWrite => "caseworkers:write",
            Scope::ConfigRead => "config:read",
            Scope::PoliciesRead => "policies:read",
            Scope::EventsRead => "events:read",
        }
    }

    /// Any scope a stored token may hold.
    pub fn parse(s: &str) -> Option<Scope> {
        [Scope::Read, Scope::Write]
            .into_iter()
            .chain(Scope::GRANTABLE)
            .find(|x| x.as_str() == s)
    }

    /// A scope an administrator may grant an integration token (`read` and `write` are the
    /// session tokens' and no longer granted).
    pub fn parse_grantable(s: &str) -> Option<Scope> {
        Scope::GRANTABLE.into_iter().find(|x| x.as_str() == s)
    }

    /// Whether this scope opens a route family that only reads.
    pub fn reads(self) -> bool {
        self.as_str().ends_with(":read")
    }

    /// The route families an integration token's stored scopes open, sorted: a family scope
    /// opens itself; a token from before the families keeps what it could do, narrowed to
    /// families — `read` every `:read` family, `write` besides `cases:write`,
    /// `routing:write` and `caseworkers:write` (what no scope opens stays closed to it, as it
    /// was closed by the policies before).
    pub fn granted(held: &[Scope]) -> Vec<Scope> {
        let mut granted: Vec<Scope> = held
            .iter()
            .flat_map(|scope| match scope {
                Scope::Read => Scope::GRANTABLE
                    .into_iter()
                    .filter(|s| s.reads())
                    .collect::<Vec<_>>(),
                Scope::Write => vec![
                    Scope::CasesWrite,
                    Scope::RoutingWrite,
                    Scope::CaseworkersWrite,
                ],
                family => vec![*family],
            })
            .collect();
        granted.sort();
        granted.dedup();
        granted
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
    /// Whether the token holds `scope`: as stored for a session token, through
    /// [`Scope::granted`] for an integration token.
    pub fn allows(&self, scope: Scope) -> bool {
        match self.kind {
            TokenKind::Session => self.scopes.contains(&scope),
            TokenKind::Integration => Scope::granted(&self.scopes).contains(&scope),
        }
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
        for s in [Scope::Read, Scope::Write]
            .into_iter()
            .chain(Scope::GRANTABLE)
        {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
            let json = serde_json::to_value(s).expect("json");
            assert_eq!(json, s.as_str());
        }
        assert_eq!(Scope::parse("admin"), None);
        assert_eq!(Scope::parse_grantable("read"), None);
        assert_eq!(Scope::parse_grantable("write"), None);
        assert_eq!(Scope::parse_grantable("audit:read"), Some(Scope::AuditRead));
    }

    #[test]
    fn old_integration_scopes_map_to_the_narrowest_families() {
        let read = Scope::granted(&[Scope::Read]);
        assert!(read.iter().all(|s| s.reads()), "{read:?}");
        assert!(read.contains(&Scope::AuditRead) && read.contains(&Scope::EventsRead));
        assert!(!read.contains(&Scope::CasesWrite));
        let write = Scope::granted(&[Scope::Read, Scope::Write]);
        assert_eq!(write, {
            let mut all = Scope::GRANTABLE.to_vec();
            all.sort();
            all
        });
        assert_eq!(
            Scope::granted(&[Scope::CasesWrite, Scope::CasesWrite]),
            vec![Scope::CasesWrite]
        );
        assert!(Scope::granted(&[]).is_empty());
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

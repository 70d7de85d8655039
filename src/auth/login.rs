//! What a verified login means: a citizen (identity number, level of assurance, home and
//! protection from the population register) or a member of staff (role and caseworker from the
//! municipality's claims). Every way a login can fail is a [`Refusal`] with its own page.

use chrono::NaiveDate;
use serde_json::Value;

use super::Citizen;
use super::oidc::{CitizenLogin, StaffLogin, VerifiedLogin};
use super::register::{PopulationRegister, RegisterError};
use crate::domain::federation::Federation;
use crate::domain::ids::{CaseworkerId, MunicipalityCode};
use crate::domain::people::{Loa, Protection};
use crate::domain::personnummer::{IdKind, Personnummer};

/// The `coordinationNumberLevel` of a samordningsnummer the broker vouches for (oidc.se).
const COORDINATION_CONFIRMED: &str = "confirmed";

/// Why a login was refused. Each has a page (`login.refused.<code>` in the message files).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Below loa3 (R1): the page offers the anonymous channel.
    #[error("level of assurance too low")]
    LoaTooLow,
    #[error("no Swedish identity number in the login")]
    NoIdentityNumber,
    #[error("the identity number is not valid")]
    InvalidIdentityNumber,
    #[error("not found in the population register")]
    NotInRegister,
    #[error("registered outside the federation")]
    HomeOutsideFederation,
    /// eIDAS without a Swedish number must state a member municipality (R2).
    #[error("a municipality must be stated")]
    MunicipalityRequired,
    #[error("not known as staff of this municipality")]
    UnknownStaff,
    #[error("no role in Brygga")]
    NoRole,
    #[error("no login in progress")]
    NoLoginInProgress,
    #[error("the login's state does not match")]
    StateMismatch,
    #[error("the identity provider refused the login")]
    ProviderRefused,
    #[error("the login could not be verified")]
    InvalidToken,
    #[error("the identity provider cannot be reached")]
    ProviderUnavailable,
    #[error("the return address is not allowed")]
    BadReturnAddress,
    #[error("the population register cannot be reached")]
    RegisterUnavailable,
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::LoaTooLow => "loa_too_low",
            Refusal::NoIdentityNumber => "no_identity_number",
            Refusal::InvalidIdentityNumber => "invalid_personnummer",
            Refusal::NotInRegister => "not_in_register",
            Refusal::HomeOutsideFederation => "home_outside_federation",
            Refusal::MunicipalityRequired => "municipality_required",
            Refusal::UnknownStaff => "unknown_staff",
            Refusal::NoRole => "no_role",
            Refusal::NoLoginInProgress => "no_login_in_progress",
            Refusal::StateMismatch => "state_mismatch",
            Refusal::ProviderRefused => "provider_refused",
            Refusal::InvalidToken => "invalid_token",
            Refusal::ProviderUnavailable => "provider_unavailable",
            Refusal::BadReturnAddress => "bad_return_address",
            Refusal::RegisterUnavailable => "register_unavailable",
        }
    }

    /// 403 for who the person is, 400 for a broken or tampered flow, 503 for what is down.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::NoLoginInProgress
            | Refusal::StateMismatch
            | Refusal::BadReturnAddress
            | Refusal::InvalidToken => 400,
            Refusal::ProviderUnavailable | Refusal::RegisterUnavailable => 503,
            _ => 403,
        }
    }
}

/// A return address after login: a local path only (no scheme, no host, no `//` or `\`), so
/// a login link can never send someone to another site.
pub fn safe_return(requested: Option<&str>) -> Result<String, Refusal> {
    let Some(path) = requested.filter(|p| !p.is_empty()) else {
        return Ok("/".to_owned());
    };
    let local = path.starts_with('/')
        && !path.starts_with("//")
        && !path.contains('\\')
        && !path.chars().any(char::is_control)
        && path.len() <= 1024;
    if local {
        Ok(path.to_owned())
    } else {
        Err(Refusal::BadReturnAddress)
    }
}

fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// The citizen behind a verified login. The level of assurance comes from `acr` (unknown
/// values count as too low); home and protection from the population register.
pub async fn citizen(
    config: &CitizenLogin,
    register: Option<&dyn PopulationRegister>,
    federation: &Federation,
    login: &VerifiedLogin,
    stated_municipality: Option<&str>,
    today: NaiveDate,
) -> Result<Citizen, Refusal> {
    let loa = login
        .acr
        .as_deref()
        .and_then(|acr| config.acr_levels.get(acr))
        .and_then(|level| Loa::parse(level))
        .ok_or(Refusal::LoaTooLow)?;
    if !loa.suffices_for_identified() {
        return Err(Refusal::LoaTooLow);
    }
    let member = |code: &str| {
        MunicipalityCode::parse(code)
            .ok()
            .filter(|c| federation.municipality(c).is_some())
    };
    let number = config
        .identity_claims
        .iter()
        .find_map(|claim| login.claims.get(claim).and_then(Value::as_str));
    let Some(number) = number else {
        // R2: an eIDAS login without a Swedish number is handled where the citizen says.
        if loa.is_eidas() {
            let home = stated_municipality
                .and_then(member)
                .ok_or(Refusal::MunicipalityRequired)?;
            // A stable subject of its own: the eIDAS person identifier (else the provider's
            // subject), hashed, so the citizen finds their requests again (R19).
            let identifier = login
                .claims
                .get(&config.eidas_identity_claim)
                .and_then(Value::as_str)
                .unwrap_or(&login.subject);
            return Ok(Citizen {
                personnummer: None,
                id_confirmed: true,
                eidas: Some(Citizen::eidas_subject(identifier)),
                home,
                protection: Protection::None,
                loa,
            });
        }
        return Err(Refusal::NoIdentityNumber);
    };
    let number = Personnummer::parse(number, today).map_err(|_| Refusal::InvalidIdentityNumber)?;
    let register = register.ok_or(Refusal::RegisterUnavailable)?;
    let entry = match register.lookup(&number).await {
        Ok(Some(entry)) => entry,
        Ok(None) => return Err(Refusal::NotInRegister),
        Err(RegisterError::Unavailable(e) | RegisterError::File { message: e, .. }) => {
            tracing::error!(error = %e, "population register lookup failed");
            return Err(Refusal::RegisterUnavailable);
        }
    };
    // R3: under skyddad folkbokföring the registered municipality may be wrong; a citizen the
    // register places outside the federation may state the member where they are helped.
    let home = match member(&entry.municipality) {
        Some(home) => home,
        None if entry.protection == Protection::SkyddadFolkbokforing => stated_municipality
            .and_then(member)
            .ok_or(Refusal::MunicipalityRequired)?,
        None => return Err(Refusal::HomeOutsideFederation),
    };
    // R2: a samordningsnummer counts as certain only when the broker says it is confirmed.
    let id_confirmed = number.kind() == IdKind::Personnummer
        || login
            .claims
            .get(&config.coordination_level_claim)
            .and_then(Value::as_str)
            == Some(COORDINATION_CONFIRMED);
    Ok(Citizen {
        personnummer: Some(number),
        id_confirmed,
        eidas: None,
        home,
        protection: entry.protection,
        loa,
    })
}

/// The role a member of staff logs in with, from their municipality's claims.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StaffRole {
    /// An administrator of the municipality, or of the federation (`None`): a person, by
    /// their subject at the provider and their name.
    Admin {
        municipality: Option<MunicipalityCode>,
        subject: String,
        name: String,
    },
    /// A caseworker, by the id their provider names (or their subject there); whether Brygga
    /// knows them in that municipality, or provisions them, is the workflow's question.
    Caseworker(StaffClaims),
}

/// What a staff login says of a caseworker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaffClaims {
    /// The caseworker id claim, if the provider sent one.
    pub id: Option<CaseworkerId>,
    /// The provider's `sub`.
    pub subject: String,
    pub name: String,
    /// `Some(default_capacity)` when the municipality's staff login provisions caseworkers
    /// just in time (`jit_caseworkers`).
    pub provision_capacity: Option<u32>,
}

/// The role behind a verified login at `config.municipality`'s provider. `wanted` picks a role
/// when the person has several (`caseworker` or `admin`); by default a caseworker works as one.
pub fn staff(
    config: &StaffLogin,
    login: &VerifiedLogin,
    wanted: Option<&str>,
    federation_issuer: Option<&str>,
) -> Result<StaffRole, Refusal> {
    let municipality =
        MunicipalityCode::parse(&config.municipality).map_err(|_| Refusal::ProviderUnavailable)?;
    let roles = strings(login.claims.get(&config.role_claim));
    let has = |role: &str| roles.iter().any(|r| r == role);
    let caseworker = has(&config.caseworker_role);
    let admin = has(&config.admin_role);
    let federation_admin = has(&config.federation_admin_role);
    let as_admin = match wanted {
        Some("admin") => true,
        Some("caseworker") => false,
        _ => !caseworker,
    };
    let name = ["name", "preferred_username", "email"]
        .iter()
        .find_map(|claim| login.claims.get(*claim).and_then(Value::as_str))
        .unwrap_or_default()
        .to_owned();
    if as_admin {
        let person = |municipality| StaffRole::Admin {
            municipality,
            subject: login.subject.clone(),
            name: name.clone(),
        };
        // The federation's administrators come only from the one provider the configuration
        // designates; a member's own provider never grants that role.
        if federation_admin && federation_issuer == Some(config.issuer.as_str()) {
            return Ok(person(None));
        }
        if admin {
            return Ok(person(Some(municipality)));
        }
        return Err(Refusal::NoRole);
    }
    if !caseworker {
        return Err(Refusal::NoRole);
    }
    let id = login
        .claims
        .get(&config.caseworker_id_claim)
        .and_then(Value::as_str)
        .and_then(|id| CaseworkerId::parse(id).ok());
    let provision_capacity = config.jit_caseworkers.then_some(config.default_capacity);
    // Without an id claim, a caseworker is found by their subject (as provisioned), and only
    // a provisioning login may have neither.
    Ok(StaffRole::Caseworker(StaffClaims {
        id,
        subject: login.subject.clone(),
        name,
        provision_capacity,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_return_addresses() {
        assert_eq!(safe_return(None), Ok("/".to_owned()));
        assert_eq!(
            safe_return(Some("/mina-arenden?x=1")),
            Ok("/mina-arenden?x=1".to_owned())
        );
        for bad in [
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "evil",
            "javascript:alert(1)",
            "/a\nb",
        ] {
            assert_eq!(
                safe_return(Some(bad)),
                Err(Refusal::BadReturnAddress),
                "{bad}"
            );
        }
    }

    fn staff_config(issuer: &str) -> StaffLogin {
        toml::from_str(&format!(
            "municipality = \"1283\"\nissuer = \"{issuer}\"\nclient_id = \"c\"\nclient_secret = \"s\""
        ))
        .expect("a staff login")
    }

    fn verified(roles: &[&str]) -> VerifiedLogin {
        let mut claims = serde_json::Map::new();
        claims.insert("roles".into(), serde_json::json!(roles));
        claims.insert("name".into(), serde_json::json!("Karin Lindqvist"));
        VerifiedLogin {
            subject: "sub-1".into(),
            acr: None,
            claims,
            id_token: String::new(),
        }
    }

    #[test]
    fn the_federation_role_counts_only_at_the_designated_provider() {
        let designated = "https://federation.example";
        let member = staff_config("https://member.example");
        let both = verified(&["Brygga.FederationAdmin", "Brygga.MunicipalityAdmin"]);
        // A member's provider cannot make anyone a federation administrator …
        assert_eq!(
            staff(&member, &both, Some("admin"), Some(designated)),
            Ok(StaffRole::Admin {
                municipality: Some(MunicipalityCode::parse("1283").expect("code")),
                subject: "sub-1".into(),
                name: "Karin Lindqvist".into(),
            })
        );
        let only_federation = verified(&["Brygga.FederationAdmin"]);
        assert_eq!(
            staff(&member, &only_federation, Some("admin"), Some(designated)),
            Err(Refusal::NoRole)
        );
        assert_eq!(
            staff(&member, &only_federation, Some("admin"), None),
            Err(Refusal::NoRole),
            "nor can any provider when none is designated"
        );
        // … the designated one can.
        let federation = staff_config(designated);
        assert_eq!(
            staff(
                &federation,
                &only_federation,
                Some("admin"),
                Some(designated)
            ),
            Ok(StaffRole::Admin {
                municipality: None,
                subject: "sub-1".into(),
                name: "Karin Lindqvist".into(),
            })
        );
    }

    #[test]
    fn roles_come_as_a_string_or_a_list() {
        assert_eq!(strings(Some(&Value::String("a".into()))), vec!["a"]);
        assert_eq!(
            strings(Some(&serde_json::json!(["a", 1, "b"]))),
            vec!["a", "b"]
        );
        assert!(strings(None).is_empty());
    }
}

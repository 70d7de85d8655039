//! Who takes part: citizens (identified or anonymous) and caseworkers.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use sha2::{Digest, Sha256};

use super::ids::{CaseworkerId, CategoryId, Language, MunicipalityCode};
use super::personnummer::Personnummer;

/// Protection of a citizen's identity in the population register (R11, R12).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protection {
    #[default]
    None,
    Sekretessmarkering,
    SkyddadFolkbokforing,
    Fingerade,
}

impl Protection {
    pub const ALL: [Protection; 4] = [
        Protection::None,
        Protection::Sekretessmarkering,
        Protection::SkyddadFolkbokforing,
        Protection::Fingerade,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Protection::None => "none",
            Protection::Sekretessmarkering => "sekretessmarkering",
            Protection::SkyddadFolkbokforing => "skyddad_folkbokforing",
            Protection::Fingerade => "fingerade",
        }
    }

    pub fn parse(s: &str) -> Option<Protection> {
        Protection::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The registered municipality may be wrong for these, so the citizen states where to be
    /// helped (R3), and the case never leaves it (R11).
    pub fn is_strict(self) -> bool {
        matches!(
            self,
            Protection::SkyddadFolkbokforing | Protection::Fingerade
        )
    }
}

/// eID level of assurance, as the broker reports it in `acr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Loa {
    #[serde(rename = "loa2")]
    Loa2,
    #[serde(rename = "loa3")]
    Loa3,
    #[serde(rename = "loa4")]
    Loa4,
    #[serde(rename = "eidas-sub")]
    EidasSubstantial,
    #[serde(rename = "eidas-nf-sub")]
    EidasNotifiedSubstantial,
    #[serde(rename = "eidas-high")]
    EidasHigh,
}

impl Loa {
    pub const ALL: [Loa; 6] = [
        Loa::Loa2,
        Loa::Loa3,
        Loa::Loa4,
        Loa::EidasSubstantial,
        Loa::EidasNotifiedSubstantial,
        Loa::EidasHigh,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Loa::Loa2 => "loa2",
            Loa::Loa3 => "loa3",
            Loa::Loa4 => "loa4",
            Loa::EidasSubstantial => "eidas-sub",
            Loa::EidasNotifiedSubstantial => "eidas-nf-sub",
            Loa::EidasHigh => "eidas-high",
        }
    }

    pub fn parse(s: &str) -> Option<Loa> {
        Loa::ALL.into_iter().find(|l| l.as_str() == s)
    }

    /// R1: tying a request to an identified person needs loa3 or better.
    pub fn suffices_for_identified(self) -> bool {
        self != Loa::Loa2
    }

    pub fn is_eidas(self) -> bool {
        matches!(
            self,
            Loa::EidasSubstantial | Loa::EidasNotifiedSubstantial | Loa::EidasHigh
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    Available,
    Away,
}

impl Availability {
    pub fn as_str(self) -> &'static str {
        match self {
            Availability::Available => "available",
            Availability::Away => "away",
        }
    }

    pub fn parse(s: &str) -> Option<Availability> {
        match s {
            "available" => Some(Availability::Available),
            "away" => Some(Availability::Away),
            _ => None,
        }
    }
}

/// A logged-in citizen: who they are, where they are registered, how their identity is
/// protected, and how sure the login is (R1, R2, R3, R11).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Citizen {
    /// `None` for an eIDAS login without a Swedish number (R2).
    pub personnummer: Option<Personnummer>,
    /// For a samordningsnummer: whether the eID broker reported it as confirmed
    /// (`coordinationNumberLevel`); an uncertain one keeps requests at home (R2). Always true
    /// for a personnummer.
    #[serde(default = "confirmed")]
    pub id_confirmed: bool,
    /// For an eIDAS login without a Swedish number: a stable subject of its own, the hash of the
    /// eIDAS person identifier ([`Citizen::eidas_subject`]), so that such a citizen finds their
    /// requests again and never shares an identity with another (R2, R19).
    #[serde(default)]
    pub eidas: Option<String>,
    /// Registered home municipality, or the one stated at an eIDAS login or under skyddad
    /// folkbokföring when the register places them outside the federation (R3).
    pub home: MunicipalityCode,
    pub protection: Protection,
    pub loa: Loa,
}

fn confirmed() -> bool {
    true
}

/// Whose requests: a citizen is found by their number, or by their eIDAS subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CitizenRef<'a> {
    Personnummer(&'a Personnummer),
    Eidas(&'a str),
}

impl Citizen {
    /// The stable subject of an eIDAS person identifier: a SHA-256, so the identifier itself is
    /// never stored.
    pub fn eidas_subject(identifier: &str) -> String {
        Sha256::digest(format!("eidas:{identifier}").as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// How this citizen's requests are found, if they can be (an identified login always can).
    pub fn reference(&self) -> Option<CitizenRef<'_>> {
        match (&self.personnummer, &self.eidas) {
            (Some(number), _) => Some(CitizenRef::Personnummer(number)),
            (None, Some(subject)) => Some(CitizenRef::Eidas(subject)),
            (None, None) => None,
        }
    }
}

/// A member of one municipality's staff who handles cases.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caseworker {
    pub id: CaseworkerId,
    pub municipality: MunicipalityCode,
    pub name: String,
    /// The categories they handle.
    pub skills: Vec<CategoryId>,
    pub languages: Vec<Language>,
    /// The most open cases an administrator allows them.
    pub max_capacity: u32,
    /// Their working capacity: at most `max_capacity`, lowered by themselves.
    pub capacity: u32,
    pub status: Availability,
    /// Cleared to handle citizens with protected identity (R11).
    pub protected_identity_clearance: bool,
    /// The role the municipality names to read its cases' content and assess harm (R12, R15).
    pub supervisor: bool,
    pub status_since: DateTime<Utc>,
    /// When they last got a case (claim or accepted offer): "longest idle" in scoring.
    pub last_assigned_at: Option<DateTime<Utc>>,
}

impl Caseworker {
    pub fn has_skill(&self, category: &str) -> bool {
        self.skills.iter().any(|s| s.as_str() == category)
    }

    pub fn speaks(&self, language: &str) -> bool {
        self.languages.iter().any(|l| l.as_str() == language)
    }
}

/// A caseworker as administrators manage them (issue 21): the caseworker, whether they may
/// still work, and who they are at their municipality's identity provider. A caseworker is
/// never deleted, so that the history that names them stays readable: deactivation clears
/// `active`, and from then on the store's caseworker reads (logins, routing, every action) no
/// longer find them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaffMember {
    pub caseworker: Caseworker,
    pub active: bool,
    /// The `sub` of their login at their municipality's staff provider, once known: a returning
    /// caseworker is found by it when the provider sends no caseworker id.
    pub subject: Option<String>,
    /// SCIM's `userName` (RFC 7643 §4.1), unique in the municipality.
    pub user_name: Option<String>,
    /// SCIM's `externalId` (RFC 7643 §3.1): the provisioning client's own id.
    pub external_id: Option<String>,
}

/// A SCIM group of one municipality (RFC 7643 §4.2). Groups whose display names are mapped
/// give their members a skill or a role; others are kept but change nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaffGroup {
    pub id: String,
    pub municipality: MunicipalityCode,
    pub display_name: String,
    pub external_id: Option<String>,
    pub members: Vec<CaseworkerId>,
}

/// What a SCIM group's display name gives its members.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupGrant {
    /// `skill:<category id>`.
    Skill(CategoryId),
    /// `Brygga.Supervisor`: the supervisor role (R12, R15).
    Supervisor,
    /// `Brygga.ProtectedIdentity`: clearance for protected identities (R11).
    ProtectedIdentity,
}

impl GroupGrant {
    /// The grant a group's display name names, if any (an unknown category is none).
    pub fn of(display_name: &str) -> Option<GroupGrant> {
        let name = display_name.trim();
        if let Some(category) = name.strip_prefix("skill:") {
            return CategoryId::parse(category.trim())
                .ok()
                .map(GroupGrant::Skill);
        }
        match name {
            "Brygga.Supervisor" => Some(GroupGrant::Supervisor),
            "Brygga.ProtectedIdentity" => Some(GroupGrant::ProtectedIdentity),
            _ => None,
        }
    }

    /// Gives (`on`) or takes away the grant.
    pub fn apply(&self, caseworker: &mut Caseworker, on: bool) {
        match self {
            GroupGrant::Skill(category) => {
                caseworker.skills.retain(|s| s != category);
                if on {
                    caseworker.skills.push(category.clone());
                }
            }
            GroupGrant::Supervisor => caseworker.supervisor = on,
            GroupGrant::ProtectedIdentity => caseworker.protected_identity_clearance = on,
        }
    }
}

#[cfg(test)]
impl Caseworker {
    /// A caseworker for unit tests: available, Swedish, the `ekonomi` skill, capacity 5, no
    /// clearance. Tests change what they are about with struct update syntax.
    pub(crate) fn fixture(id: &str, municipality: &str) -> Self {
        Caseworker {
            id: CaseworkerId::parse(id).expect("caseworker id"),
            municipality: MunicipalityCode::parse(municipality).expect("municipality"),
            name: id.into(),
            skills: vec![CategoryId::parse("ekonomi").expect("category")],
            languages: vec![Language::parse("sv").expect("language")],
            max_capacity: 5,
            capacity: 5,
            status: Availability::Available,
            protected_identity_clearance: false,
            supervisor: false,
            status_since: DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default(),
            last_assigned_at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_roundtrip() {
        for p in Protection::ALL {
            assert_eq!(Protection::parse(p.as_str()), Some(p));
            assert_eq!(serde_json::to_value(p).ok(), Some(p.as_str().into()));
        }
        for l in Loa::ALL {
            assert_eq!(Loa::parse(l.as_str()), Some(l));
            assert_eq!(serde_json::to_value(l).ok(), Some(l.as_str().into()));
        }
        assert!(!Loa::Loa2.suffices_for_identified());
        assert!(Loa::EidasHigh.suffices_for_identified() && Loa::EidasHigh.is_eidas());
        assert!(Protection::Fingerade.is_strict() && !Protection::Sekretessmarkering.is_strict());
    }
}

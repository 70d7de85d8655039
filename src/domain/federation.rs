//! The federation: its municipalities, categories and agreements, parsed from the federation
//! file (TOML text; reading the file is the caller's business) and checked for consistency.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::ids::{CategoryId, IdError, Language, MunicipalityCode};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CategoryKind {
    /// Råd och stöd without needs assessment.
    Service,
    /// Myndighetsutövning.
    Authority,
    /// Practical help that volunteers may give.
    Volunteer,
}

impl CategoryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CategoryKind::Service => "service",
            CategoryKind::Authority => "authority",
            CategoryKind::Volunteer => "volunteer",
        }
    }

    pub fn parse(s: &str) -> Option<CategoryKind> {
        [
            CategoryKind::Service,
            CategoryKind::Authority,
            CategoryKind::Volunteer,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Municipality {
    pub code: MunicipalityCode,
    pub name: String,
    pub population: u32,
    /// The social emergency service's number, shown with urgent requests (R10) when known.
    #[serde(default)]
    pub socialjour_phone: Option<String>,
    /// The municipality's home rule: categories its residents' requests in are always handled
    /// at home, whatever the agreements say (read by the policies as `must_stay_home`).
    #[serde(default)]
    pub keeps_home: Vec<CategoryId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Category {
    pub id: CategoryId,
    pub kind: CategoryKind,
    #[serde(default)]
    pub urgent: bool,
    #[serde(default)]
    pub must_stay_home: bool,
    #[serde(default)]
    pub family_counselling: bool,
    /// R16: `false` where the nämnd decided that identity is not recorded for this kind of
    /// advice; its requests are then handled as anonymous, even from a logged-in citizen.
    #[serde(default = "records_identity")]
    pub record_identity: bool,
    pub sv: String,
    pub en: String,
}

fn records_identity() -> bool {
    true
}

impl Category {
    /// Concern about a child: anmälningsplikt, R10.
    pub fn is_child_concern(&self) -> bool {
        self.id.as_str() == super::case::CHILD_CONCERN
    }

    /// Urgent requests go first; a concern about a child always is (R10), whatever the
    /// federation file says.
    pub fn is_urgent(&self) -> bool {
        self.urgent || self.is_child_concern()
    }

    /// Whether the answer shows the emergency numbers (112, socialjour): for violence and for a
    /// concern about a child always (R10), whatever the federation file says.
    pub fn shows_emergency(&self) -> bool {
        self.is_urgent() || self.id.as_str() == VIOLENCE
    }

    pub fn name(&self, lang: &str) -> &str {
        if lang == "en" { &self.en } else { &self.sv }
    }
}

/// The category of violence in a close relationship: acute danger may be near (R10's 112).
pub const VIOLENCE: &str = "vald";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agreement {
    pub id: String,
    pub members: Vec<MunicipalityCode>,
    pub categories: Vec<CategoryId>,
    /// Inclusive calendar dates in Europe/Stockholm.
    pub valid_from: NaiveDate,
    pub valid_to: NaiveDate,
    #[serde(default)]
    pub delegates_authority: bool,
    #[serde(default)]
    pub covers_minors: bool,
    #[serde(default)]
    pub names_family_counselling: bool,
}

impl Agreement {
    pub fn is_valid_on(&self, date: NaiveDate) -> bool {
        self.valid_from <= date && date <= self.valid_to
    }
}

/// Where a version of an agreement stands. A draft is worded but binds nobody; signing it puts
/// it in force (as far as its dates reach) and supersedes the version signed before.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgreementState {
    Draft,
    Signed,
    /// Signed once, replaced by a later signed version.
    Superseded,
    /// A draft given up (a later draft, or the agreement ended, before it was signed).
    Discarded,
}

impl AgreementState {
    pub fn as_str(self) -> &'static str {
        match self {
            AgreementState::Draft => "draft",
            AgreementState::Signed => "signed",
            AgreementState::Superseded => "superseded",
            AgreementState::Discarded => "discarded",
        }
    }

    pub fn parse(s: &str) -> Option<AgreementState> {
        [
            AgreementState::Draft,
            AgreementState::Signed,
            AgreementState::Superseded,
            AgreementState::Discarded,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One version of an agreement as it was worded, with who wrote and who signed it. Every
/// version is kept: an agreement is a legal document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AgreementVersion {
    pub agreement_id: String,
    pub version: i64,
    pub state: AgreementState,
    pub agreement: Agreement,
    /// Why it was changed, in the author's words (about the agreement, never about a citizen).
    pub note: Option<String>,
    /// The actor id of whoever wrote it (`system:federation-file` for the seeded ones).
    pub author: String,
    pub author_name: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub signed_by: Option<String>,
    pub signed_by_name: Option<String>,
    pub signed_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Federation {
    /// The language a caseworker is given when nobody says: Swedish, else the first offered.
    pub fn default_language(&self) -> Option<&Language> {
        self.languages
            .iter()
            .find(|l| l.as_str() == "sv")
            .or_else(|| self.languages.first())
    }

    /// The members an agreement valid on `date` joins to `home` for `category`: what a consent
    /// to "every partner" covers on the day it is given (R8). Sorted, without `home`.
    pub fn partners_on(
        &self,
        home: &MunicipalityCode,
        category: &CategoryId,
        date: NaiveDate,
    ) -> Vec<MunicipalityCode> {
        let mut partners: Vec<MunicipalityCode> = self
            .agreements
            .iter()
            .filter(|a| {
                a.is_valid_on(date) && a.members.contains(home) && a.categories.contains(category)
            })
            .flat_map(|a| a.members.iter())
            .filter(|m| *m != home)
            .cloned()
            .collect();
        partners.sort();
        partners.dedup();
        partners
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Federation {
    pub id: String,
    pub name: String,
    pub languages: Vec<Language>,
    pub municipalities: Vec<Municipality>,
    pub categories: Vec<Category>,
    pub agreements: Vec<Agreement>,
}

#[derive(Debug, thiserror::Error)]
pub enum FederationError {
    #[error("{0}")]
    Toml(String),
    #[error("{0}")]
    Id(#[from] IdError),
    #[error("duplicate {what} `{id}`")]
    Duplicate { what: &'static str, id: String },
    #[error("agreement `{agreement}` names unknown {what} `{id}`")]
    UnknownReference {
        agreement: String,
        what: &'static str,
        id: String,
    },
    #[error("municipality `{municipality}` keeps unknown category `{id}` at home")]
    UnknownHomeRule { municipality: String, id: String },
    #[error("agreement `{0}` ends before it starts")]
    EmptyValidity(String),
    #[error("the federation has no municipalities")]
    Empty,
    #[error("the federation's languages must include Swedish (sv)")]
    NoSwedish,
}

/// The file's shape: `[federation]` plus `[[municipality]]`, `[[category]]`, `[[agreement]]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FederationFile {
    federation: FederationHeader,
    #[serde(default, rename = "municipality")]
    municipalities: Vec<Municipality>,
    #[serde(default, rename = "category")]
    categories: Vec<Category>,
    #[serde(default, rename = "agreement")]
    agreements: Vec<Agreement>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FederationHeader {
    id: String,
    name: String,
    languages: Vec<Language>,
}

impl Federation {
    pub fn parse_toml(text: &str) -> Result<Federation, FederationError> {
        let file: FederationFile =
            toml::from_str(text).map_err(|e| FederationError::Toml(e.message().to_owned()))?;
        let federation = Federation {
            id: file.federation.id,
            name: file.federation.name,
            languages: file.federation.languages,
            municipalities: file.municipalities,
            categories: file.categories,
            agreements: file.agreements,
        };
        federation.check()?;
        Ok(federation)
    }

    /// Consistency: unique ids, agreements naming only members and known categories.
    pub fn check(&self) -> Result<(), FederationError> {
        if self.municipalities.is_empty() {
            return Err(FederationError::Empty);
        }
        if !self.languages.iter().any(|l| l.as_str() == "sv") {
            return Err(FederationError::NoSwedish);
        }
        unique(
            "municipality",
            self.municipalities.iter().map(|m| m.code.as_str()),
        )?;
        unique("category", self.categories.iter().map(|c| c.id.as_str()))?;
        unique("agreement", self.agreements.iter().map(|a| a.id.as_str()))?;
        for municipality in &self.municipalities {
            for category in &municipality.keeps_home {
                if self.category(category.as_str()).is_none() {
                    return Err(FederationError::UnknownHomeRule {
                        municipality: municipality.code.to_string(),
                        id: category.to_string(),
                    });
                }
            }
        }
        for agreement in &self.agreements {
            for member in &agreement.members {
                if self.municipality(member).is_none() {
                    return Err(FederationError::UnknownReference {
                        agreement: agreement.id.clone(),
                        what: "municipality",
                        id: member.to_string(),
                    });
                }
            }
            for category in &agreement.categories {
                if self.category(category.as_str()).is_none() {
                    return Err(FederationError::UnknownReference {
                        agreement: agreement.id.clone(),
                        what: "category",
                        id: category.to_string(),
                    });
                }
            }
            if agreement.valid_to < agreement.valid_from {
                return Err(FederationError::EmptyValidity(agreement.id.clone()));
            }
        }
        Ok(())
    }

    pub fn municipality(&self, code: &MunicipalityCode) -> Option<&Municipality> {
        self.municipalities.iter().find(|m| &m.code == code)
    }

    pub fn category(&self, id: &str) -> Option<&Category> {
        self.categories.iter().find(|c| c.id.as_str() == id)
    }

    pub fn offers_language(&self, language: &Language) -> bool {
        self.languages.contains(language)
    }

    /// A stable member for a citizen whose registered home is not given (demo logins):
    /// derived from the number, so the same person always lives in the same place.
    pub fn member_for_key(&self, key: &str) -> &Municipality {
        let sum = key.bytes().fold(0u64, |acc, b| {
            acc.wrapping_mul(31).wrapping_add(u64::from(b))
        });
        let index = usize::try_from(sum % self.municipalities.len() as u64).unwrap_or(0);
        &self.municipalities[index]
    }

    pub fn names(&self) -> BTreeMap<&str, &str> {
        self.municipalities
            .iter()
            .map(|m| (m.code.as_str(), m.name.as_str()))
            .collect()
    }
}

fn unique<'a>(
    what: &'static str,
    ids: impl Iterator<Item = &'a str>,
) -> Result<(), FederationError> {
    let mut seen = BTreeSet::new();
    for id in ids {
        if !seen.insert(id) {
            return Err(FederationError::Duplicate {
                what,
                id: id.to_owned(),
            });
        }
    }
    Ok(())
}

/// The shipped Familjen Helsingborg federation, for tests across the crate.
#[cfg(test)]
pub(crate) fn familjen_helsingborg() -> Federation {
    Federation::parse_toml(include_str!(
        "../../deploy/federations/familjen-helsingborg.toml"
    ))
    .expect("the shipped federation parses")
}

#[cfg(test)]
mod tests {
    use super::*;

    const FH: &str = include_str!("../../deploy/federations/familjen-helsingborg.toml");

    #[test]
    fn familjen_helsingborg_parses() {
        let f = Federation::parse_toml(FH).expect("the shipped federation parses");
        assert_eq!(f.municipalities.len(), 11);
        assert_eq!(f.agreements.len(), 2);
        let oro = f.category("oro_barn").expect("oro_barn");
        assert!(oro.urgent && oro.must_stay_home && oro.is_child_concern());
        assert_eq!(oro.kind, CategoryKind::Authority);
        assert!(
            f.category("familjeradgivning")
                .expect("fr")
                .family_counselling
        );
        let perstorp = MunicipalityCode::parse("1275").expect("code");
        assert_eq!(
            f.municipality(&perstorp).map(|m| m.name.as_str()),
            Some("Perstorp")
        );
        let bastad = &f.agreements[1];
        assert!(!bastad.is_valid_on(NaiveDate::from_ymd_opt(2026, 5, 31).expect("date")));
        assert!(bastad.is_valid_on(NaiveDate::from_ymd_opt(2026, 6, 1).expect("date")));
        assert!(bastad.is_valid_on(NaiveDate::from_ymd_opt(2027, 12, 31).expect("date")));
    }

    #[test]
    fn inconsistent_federations_are_refused() {
        let unknown_member = FH.replace(
            "\"1283\", \"1282\", \"1292\"",
            "\"1283\", \"9999\", \"1292\"",
        );
        assert!(matches!(
            Federation::parse_toml(&unknown_member),
            Err(FederationError::UnknownReference {
                what: "municipality",
                ..
            })
        ));
        let dup = FH.replace("code = \"1282\"", "code = \"1283\"");
        assert!(matches!(
            Federation::parse_toml(&dup),
            Err(FederationError::Duplicate {
                what: "municipality",
                ..
            })
        ));
        let bad_code = FH.replace("code = \"1282\"", "code = \"12a2\"");
        assert!(matches!(
            Federation::parse_toml(&bad_code),
            Err(FederationError::Toml(_))
        ));
        assert!(matches!(
            Federation::parse_toml("federation = 1"),
            Err(FederationError::Toml(_))
        ));
    }

    #[test]
    fn member_for_key_is_stable_and_a_member() {
        let f = Federation::parse_toml(FH).expect("parses");
        let a = f.member_for_key("198112189876").code.clone();
        assert_eq!(a, f.member_for_key("198112189876").code);
        assert!(f.municipality(&a).is_some());
    }

    #[test]
    fn r10_child_concern_is_urgent_and_shows_emergency_whatever_the_file_says() {
        let mut f = Federation::parse_toml(FH).expect("parses");
        let oro = f
            .categories
            .iter_mut()
            .find(|c| c.is_child_concern())
            .expect("oro_barn");
        oro.urgent = false;
        assert!(oro.is_urgent() && oro.shows_emergency());
        let ekonomi = f.category("ekonomi").expect("ekonomi");
        assert!(!ekonomi.is_urgent() && !ekonomi.shows_emergency());
        assert!(f.category("vald").expect("vald").shows_emergency());
        assert!(
            ekonomi.record_identity,
            "R16: identity is recorded unless the file says not"
        );
    }

    #[test]
    fn r8_partners_of_the_day_are_those_an_agreement_joins_to_home() {
        let f = Federation::parse_toml(FH).expect("parses");
        let perstorp = MunicipalityCode::parse("1275").expect("code");
        let ekonomi = CategoryId::parse("ekonomi").expect("id");
        let may = f.partners_on(
            &perstorp,
            &ekonomi,
            NaiveDate::from_ymd_opt(2026, 5, 31).expect("date"),
        );
        assert_eq!(may.len(), 9);
        assert!(!may.iter().any(|m| m.as_str() == "1278" || m == &perstorp));
        let june = f.partners_on(
            &perstorp,
            &ekonomi,
            NaiveDate::from_ymd_opt(2026, 6, 1).expect("date"),
        );
        assert_eq!(june.len(), 10, "Båstad from 1 June");
        let oro = CategoryId::parse("oro_barn").expect("id");
        assert!(
            f.partners_on(
                &perstorp,
                &oro,
                NaiveDate::from_ymd_opt(2026, 6, 1).expect("date")
            )
            .is_empty()
        );
    }
}

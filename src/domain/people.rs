//! Who takes part: citizens (identified or anonymous) and caseworkers.

use serde::{Deserialize, Serialize};

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

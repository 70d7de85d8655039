//! User-facing texts, Swedish first and English second, from the message files in `locales/`.
//! Adding a language is adding a file and a [`Lang`] variant.

use std::collections::HashMap;
use std::sync::LazyLock;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Lang {
    #[default]
    Sv,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Sv => "sv",
            Lang::En => "en",
        }
    }

    /// The first supported language in an `Accept-Language` header; Swedish otherwise.
    pub fn negotiate(accept_language: Option<&str>) -> Lang {
        let Some(header) = accept_language else {
            return Lang::Sv;
        };
        let mut ranked: Vec<(f32, usize, Lang)> = header
            .split(',')
            .enumerate()
            .filter_map(|(position, item)| {
                let mut parts = item.trim().split(';');
                let tag = parts.next()?.trim().to_ascii_lowercase();
                let quality = parts
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .and_then(|q| q.parse::<f32>().ok())
                    .unwrap_or(1.0);
                let primary = tag.split('-').next().unwrap_or_default();
                let lang = match primary {
                    "sv" => Lang::Sv,
                    "en" => Lang::En,
                    _ => return None,
                };
                (quality > 0.0).then_some((quality, position, lang))
            })
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        ranked.first().map_or(Lang::Sv, |r| r.2)
    }
}

type Catalog = HashMap<String, String>;

fn flatten(prefix: &str, table: &toml::Table, out: &mut Catalog) {
    for (key, value) in table {
        let full = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(inner) => flatten(&full, inner, out),
            toml::Value::String(text) => {
                out.insert(full, text.clone());
            }
            _ => {}
        }
    }
}

fn catalog(text: &str) -> Catalog {
    let mut out = Catalog::new();
    // The files are compiled in and checked by a test; a broken one yields only fallbacks.
    if let Ok(table) = toml::from_str::<toml::Table>(text) {
        flatten("", &table, &mut out);
    }
    out
}

static SV: LazyLock<Catalog> = LazyLock::new(|| catalog(include_str!("../locales/sv.toml")));
static EN: LazyLock<Catalog> = LazyLock::new(|| catalog(include_str!("../locales/en.toml")));

/// The text for `key` in `lang`, falling back to Swedish, then to the key itself.
pub fn text(lang: Lang, key: &str) -> &'static str {
    let primary: &'static Catalog = match lang {
        Lang::Sv => &SV,
        Lang::En => &EN,
    };
    primary
        .get(key)
        .or_else(|| SV.get(key))
        .map_or("", String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_have_the_same_keys() {
        let sv = catalog(include_str!("../locales/sv.toml"));
        let en = catalog(include_str!("../locales/en.toml"));
        assert!(sv.len() > 10);
        let mut a: Vec<_> = sv.keys().collect();
        let mut b: Vec<_> = en.keys().collect();
        a.sort();
        b.sort();
        assert_eq!(a, b);
    }

    #[test]
    fn negotiation_prefers_the_best_supported_language() {
        assert_eq!(Lang::negotiate(None), Lang::Sv);
        assert_eq!(Lang::negotiate(Some("en-GB,en;q=0.9")), Lang::En);
        assert_eq!(Lang::negotiate(Some("de, en;q=0.5, sv;q=0.8")), Lang::Sv);
        assert_eq!(Lang::negotiate(Some("fi")), Lang::Sv);
        assert_eq!(Lang::negotiate(Some("sv;q=0, en")), Lang::En);
        assert!(!text(Lang::En, "error.not_found").is_empty());
        assert_ne!(
            text(Lang::En, "error.not_found"),
            text(Lang::Sv, "error.not_found")
        );
    }
}

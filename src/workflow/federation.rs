//! The federation run from Brygga (issue 21): its members, categories and agreements changed by
//! administrators, every change a new federation version (kept, audited, followed by the other
//! replicas), and its effect on the cases at once.
//!
//! - Municipalities: a federation administrator adds, changes and removes members; a
//!   municipality's own administrators change its emergency number and its home rule (which
//!   categories its residents' requests always stay home in), not its name or population (the
//!   fair share between members rests on that).
//! - Categories: the federation's administrators only.
//! - Agreements: a draft is written (every version kept, with its author), signed by a second
//!   federation administrator (four eyes: an agreement is a legal document), and then in force
//!   as far as its dates reach; ending one takes one administrator (it only narrows) and is a
//!   signed version of its own.
//!
//! After a change every open case's permits are decided again at once: a cross-border case
//! whose agreement ended or lost its category goes home, and a waiting request whose consent
//! covers a partner that just joined widens to it.

use std::sync::Arc;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::gate::{AdminAllowed, Changes, Ground};
use super::{Context, Error, Result};
use crate::domain::Administrator;
use crate::domain::case::TransitionError;
use crate::domain::federation::{
    Agreement, AgreementState, AgreementVersion, Category, CategoryKind, Federation,
    FederationError, Municipality,
};
use crate::domain::ids::{CategoryId, MunicipalityCode};
use crate::policy::Action;
use crate::store::{AgreementWrite, FederationChange};

/// How often a change is tried again when another administrator's change came first. Changes
/// made through one process wait for each other (`Context::federation_writing`), so only other
/// replicas' changes can overtake one; every lost attempt means another change was stored, so
/// this bounds how many may (the test `federation_admin::concurrent_changes_are_all_kept`).
const ATTEMPTS: usize = 16;
/// Who wrote and signed the agreements of the federation file.
pub const FEDERATION_FILE: &str = "system:federation-file";
/// The longest names and notes.
const MAX_NAME: usize = 100;
const MAX_NOTE: usize = 1000;

/// A member as an administrator writes it (`POST`/`PUT /api/v1/admin/municipalities`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MunicipalityInput {
    /// Taken from the path on `PUT`.
    #[serde(default)]
    pub code: Option<String>,
    pub name: String,
    pub population: u32,
    #[serde(default)]
    pub socialjour_phone: Option<String>,
    /// Category ids its residents' requests always stay home in.
    #[serde(default)]
    pub keeps_home: Vec<String>,
}

/// A category as a federation administrator writes it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryInput {
    /// Taken from the path on `PUT`.
    #[serde(default)]
    pub id: Option<String>,
    pub kind: String,
    #[serde(default)]
    pub urgent: bool,
    #[serde(default)]
    pub must_stay_home: bool,
    #[serde(default)]
    pub family_counselling: bool,
    /// Whether a logged-in citizen's identity is recorded (R16); default true.
    #[serde(default = "yes")]
    pub record_identity: bool,
    pub sv: String,
    pub en: String,
}

fn yes() -> bool {
    true
}

/// An agreement as a federation administrator drafts it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgreementInput {
    /// Taken from the path on `PUT`.
    #[serde(default)]
    pub id: Option<String>,
    pub members: Vec<String>,
    pub categories: Vec<String>,
    pub valid_from: NaiveDate,
    pub valid_to: NaiveDate,
    #[serde(default)]
    pub delegates_authority: bool,
    #[serde(default)]
    pub covers_minors: bool,
    #[serde(default)]
    pub names_family_counselling: bool,
    /// Why, about the agreement (never about a citizen).
    #[serde(default)]
    pub note: Option<String>,
}

/// An agreement with its history: the version in force (if one was signed) and every version.
#[derive(Clone, Debug, Serialize)]
pub struct AgreementRecord {
    pub id: String,
    /// The signed version as it stands in the federation; `None` before the first signature
    /// (or once an agreement that never started was ended).
    pub in_force: Option<Agreement>,
    /// The signed version's number.
    pub signed_version: Option<i64>,
    /// The newest draft waiting for a signature.
    pub draft_version: Option<i64>,
    pub versions: Vec<AgreementVersion>,
}

/// An agreement signed or ended: as it now stands in the federation (`None` once an agreement
/// that never started was ended), and what the change did to the cases.
#[derive(Clone, Debug, Serialize)]
pub struct AgreementChanged {
    pub agreement: Option<Agreement>,
    #[serde(flatten)]
    pub effect: ChangeEffect,
}

/// What a change did to the cases at once.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub struct ChangeEffect {
    /// The federation version the change made.
    pub federation_version: i64,
    /// Open cases whose permits were decided again and changed.
    pub rerouted: u32,
    /// Cross-border cases that went home.
    pub sent_home: u32,
}

fn text(value: &str, field: &'static str, max: usize) -> Result<String> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max {
        return Err(Error::InvalidField(field));
    }
    Ok(value.to_owned())
}

fn note(value: Option<&str>) -> Result<Option<String>> {
    match value.map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) if n.chars().count() > MAX_NOTE => Err(Error::InvalidField("note")),
        other => Ok(other.map(str::to_owned)),
    }
}

/// What a federation that breaks a rule is answered with.
fn federation_error(e: FederationError) -> Error {
    match e {
        FederationError::UnknownReference {
            what: "municipality",
            ..
        } => Error::Unprocessable("unknown_municipality"),
        FederationError::UnknownReference { .. } | FederationError::UnknownHomeRule { .. } => {
            Error::Unprocessable("unknown_category")
        }
        FederationError::EmptyValidity(_) => Error::InvalidField("valid_to"),
        FederationError::Duplicate { .. } => Error::Duplicate("federation".into()),
        FederationError::Empty => Error::StateConflict("in_use"),
        FederationError::NoSwedish | FederationError::Toml(_) | FederationError::Id(_) => {
            Error::InvalidField("federation")
        }
    }
}

impl Context {
    /// The federation as it stands now, for any administrator (the configuration holds no
    /// personal data; reading it changes nothing, so a federation integration token with
    /// `config:read` may too).
    pub async fn federation_config(&self, admin: &Administrator) -> Result<Arc<Federation>> {
        self.authorize_reading_configuration(admin).await?;
        self.follow_federation().await?;
        Ok(self.federation())
    }

    /// One agreement with every version, for any administrator.
    pub async fn agreement(&self, admin: &Administrator, id: &str) -> Result<AgreementRecord> {
        let federation = self.federation_config(admin).await?;
        let versions = self.store.agreement_versions(Some(id)).await?;
        let in_force = federation.agreements.iter().find(|a| a.id == id).cloned();
        if versions.is_empty() && in_force.is_none() {
            return Err(Error::NotFound);
        }
        Ok(record(id, in_force, versions))
    }

    /// Every agreement in force or drafted, with their versions, for any administrator.
    pub async fn agreements(&self, admin: &Administrator) -> Result<Vec<AgreementRecord>> {
        let federation = self.federation_config(admin).await?;
        let versions = self.store.agreement_versions(None).await?;
        let mut ids: Vec<String> = federation.agreements.iter().map(|a| a.id.clone()).collect();
        for v in &versions {
            if !ids.contains(&v.agreement_id) {
                ids.push(v.agreement_id.clone());
            }
        }
        Ok(ids
            .into_iter()
            .map(|id| {
                let in_force = federation.agreements.iter().find(|a| a.id == id).cloned();
                let own = versions
                    .iter()
                    .filter(|v| v.agreement_id == id)
                    .cloned()
                    .collect();
                record(&id, in_force, own)
            })
            .collect())
    }

    /// Drafts a new agreement (`id` new) or a new version of one (`existing`): checked against
    /// the federation, stored as a draft, audited; nothing is in force until it is signed.
    pub async fn draft_agreement(
        &self,
        admin: &Administrator,
        input: AgreementInput,
        existing: Option<&str>,
    ) -> Result<AgreementVersion> {
        let proof = self
            .authorize_admin(admin, Action::Administer, None)
            .await?;
        self.follow_federation().await?;
        let federation = self.federation();
        let id = match (existing, input.id.as_deref()) {
            (Some(path), Some(body)) if path != body => return Err(Error::InvalidField("id")),
            (Some(path), _) => path.to_owned(),
            (None, Some(body)) => agreement_id(body)?,
            (None, None) => return Err(Error::InvalidField("id")),
        };
        let versions = self.store.agreement_versions(Some(&id)).await?;
        let known = !versions.is_empty() || federation.agreements.iter().any(|a| a.id == id);
        match (existing.is_some(), known) {
            (true, false) => return Err(Error::NotFound),
            (false, true) => return Err(Error::Duplicate(format!("agreement {id}"))),
            _ => {}
        }
        let agreement = agreement_of(&id, &input)?;
        // Checked as it would stand in the federation.
        let mut trial = (*federation).clone();
        trial.agreements.retain(|a| a.id != id);
        trial.agreements.push(agreement.clone());
        trial.check().map_err(federation_error)?;
        let draft = AgreementVersion {
            agreement_id: id.clone(),
            version: versions.iter().map(|v| v.version).max().unwrap_or(0) + 1,
            state: AgreementState::Draft,
            agreement,
            note: note(input.note.as_deref())?,
            author: admin.actor().to_string(),
            author_name: admin.trail_name(),
            created_at: self.clock.now(),
            signed_by: None,
            signed_by_name: None,
            signed_at: None,
        };
        self.store_agreement_draft(&proof, &draft).await?;
        Ok(draft)
    }

    /// Signs a draft: a federation administrator other than its author (four eyes; the author
    /// gets `four_eyes_required`, on the trail). The draft must be the newest version; it goes
    /// into force at once and the cases follow.
    pub async fn sign_agreement(
        &self,
        admin: &Administrator,
        id: &str,
        version: i64,
    ) -> Result<AgreementChanged> {
        let proof = self
            .authorize_admin(admin, Action::Administer, None)
            .await?;
        for _ in 0..ATTEMPTS {
            let versions = self.store.agreement_versions(Some(id)).await?;
            let draft = versions
                .iter()
                .find(|v| v.version == version)
                .ok_or(Error::NotFound)?
                .clone();
            let newest = versions.iter().map(|v| v.version).max().unwrap_or(0);
            if draft.state != AgreementState::Draft || draft.version != newest {
                return Err(Error::StateConflict("not_a_draft"));
            }
            if draft.author == admin.actor().to_string() {
                self.record_admin(
                    &proof,
                    "agreement_signing_refused",
                    json!({ "agreement": id, "version": version, "why": "four_eyes_required" }),
                )
                .await?;
                return Err(Error::FourEyesRequired);
            }
            let write = AgreementWrite {
                agreement_id: id.to_owned(),
                version,
                insert: None,
                signed_by: admin.actor().to_string(),
                signed_by_name: admin.trail_name(),
                at: self.clock.now(),
            };
            let agreement = draft.agreement.clone();
            let outcome = self
                .change(
                    &proof,
                    ("agreement", id.to_owned(), "signed"),
                    Some(write),
                    json!({ "agreement": &agreement, "version": version }),
                    |f| {
                        f.agreements.retain(|a| a.id != agreement.id);
                        f.agreements.push(agreement.clone());
                        Ok(())
                    },
                )
                .await;
            match outcome {
                Err(Error::Duplicate(_)) => continue,
                other => return other.map(|effect| self.agreement_changed(id, effect)),
            }
        }
        Err(Error::Unavailable("the federation kept changing".into()))
    }

    /// Ends an agreement today (`DELETE`): one federation administrator suffices, as ending
    /// only narrows. In force since before today, it is kept with `valid_to` yesterday (the
    /// last day it held); one that has not started yet leaves the federation. Either way the
    /// ending is a signed version of its own, older drafts are discarded, and cross-border
    /// cases resting on it go home at once.
    pub async fn end_agreement(&self, admin: &Administrator, id: &str) -> Result<AgreementChanged> {
        let proof = self
            .authorize_admin(admin, Action::Administer, None)
            .await?;
        for _ in 0..ATTEMPTS {
            self.follow_federation().await?;
            let federation = self.federation();
            let versions = self.store.agreement_versions(Some(id)).await?;
            let Some(current) = federation.agreements.iter().find(|a| a.id == id).cloned() else {
                return if versions.is_empty() {
                    Err(Error::NotFound)
                } else {
                    Err(Error::StateConflict("not_in_force"))
                };
            };
            let today = self.clock.today();
            let last_day = today.pred_opt().unwrap_or(today);
            if current.valid_to < today {
                return Err(Error::StateConflict("not_in_force"));
            }
            let ended = (current.valid_from <= last_day).then(|| Agreement {
                valid_to: last_day,
                ..current.clone()
            });
            let now = self.clock.now();
            let by = admin.actor().to_string();
            let by_name = admin.trail_name();
            let version = versions.iter().map(|v| v.version).max().unwrap_or(0) + 1;
            let write = AgreementWrite {
                agreement_id: id.to_owned(),
                version,
                insert: Some(AgreementVersion {
                    agreement_id: id.to_owned(),
                    version,
                    state: AgreementState::Signed,
                    agreement: ended.clone().unwrap_or_else(|| current.clone()),
                    note: Some(match &ended {
                        Some(_) => format!("ended: last day {last_day}"),
                        None => "ended before it started".to_owned(),
                    }),
                    author: by.clone(),
                    author_name: by_name.clone(),
                    created_at: now,
                    signed_by: Some(by.clone()),
                    signed_by_name: by_name.clone(),
                    signed_at: Some(now),
                }),
                signed_by: by.clone(),
                signed_by_name: by_name.clone(),
                at: now,
            };
            let outcome = self
                .change(
                    &proof,
                    ("agreement", id.to_owned(), "ended"),
                    Some(write),
                    json!({ "agreement": id, "version": version, "last_day": ended.as_ref().map(|a| a.valid_to) }),
                    |f| {
                        f.agreements.retain(|a| a.id != current.id);
                        if let Some(a) = &ended {
                            f.agreements.push(a.clone());
                        }
                        Ok(())
                    },
                )
                .await;
            match outcome {
                Err(Error::Duplicate(_)) => continue,
                other => return other.map(|effect| self.agreement_changed(id, effect)),
            }
        }
        Err(Error::Unavailable("the federation kept changing".into()))
    }

    /// The agreement as the change left it in force here.
    fn agreement_changed(&self, id: &str, effect: ChangeEffect) -> AgreementChanged {
        AgreementChanged {
            agreement: self
                .federation()
                .agreements
                .iter()
                .find(|a| a.id == id)
                .cloned(),
            effect,
        }
    }

    /// Adds a member (federation administrators).
    pub async fn add_municipality(
        &self,
        admin: &Administrator,
        input: MunicipalityInput,
    ) -> Result<Municipality> {
        let proof = self
            .authorize_admin(admin, Action::Administer, None)
            .await?;
        let code = MunicipalityCode::parse(input.code.as_deref().unwrap_or_default())
            .map_err(|_| Error::InvalidField("code"))?;
        let municipality = municipality_of(code.clone(), &input)?;
        self.add_listed(&proof, &municipality).await?;
        Ok(municipality)
    }

    /// Changes a member: its own administrators the emergency number and the home rule, the
    /// federation's administrators everything. Another municipality's administrator gets
    /// `forbidden`.
    pub async fn change_municipality(
        &self,
        admin: &Administrator,
        code: &str,
        input: MunicipalityInput,
    ) -> Result<Municipality> {
        let code = MunicipalityCode::parse(code).map_err(|_| Error::NotFound)?;
        if input.code.as_deref().is_some_and(|c| c != code.as_str()) {
            return Err(Error::InvalidField("code"));
        }
        let proof = self
            .authorize_admin(admin, Action::Administer, Some(&code))
            .await?;
        self.follow_federation().await?;
        let current = self
            .federation()
            .municipality(&code)
            .cloned()
            .ok_or(Error::NotFound)?;
        let changed = municipality_of(code.clone(), &input)?;
        // The name and the population (the fair share rests on it) are the federation's.
        if changed.name != current.name || changed.population != current.population {
            self.authorize_admin(admin, Action::Administer, None)
                .await?;
        }
        self.replace_listed(&proof, &changed).await?;
        Ok(changed)
    }

    /// Removes a member (federation administrators) that no agreement names and that has
    /// never had a case or staff: history stays, so a member with any is `409 in_use`.
    pub async fn remove_municipality(&self, admin: &Administrator, code: &str) -> Result<()> {
        let code = MunicipalityCode::parse(code).map_err(|_| Error::NotFound)?;
        let proof = self
            .authorize_admin(admin, Action::Administer, None)
            .await?;
        self.change_retrying(
            &proof,
            ("municipality", code.to_string(), "removed"),
            serde_json::Value::Null,
            |f| {
                if f.municipality(&code).is_none() {
                    return Err(Error::NotFound);
                }
                if f.agreements.iter().any(|a| a.members.contains(&code)) {
                    return Err(Error::StateConflict("in_use"));
                }
                f.municipalities.retain(|m| m.code != code);
                Ok(())
            },
        )
        .await
        .map(|_| ())
    }

    /// Adds a category (federation administrators).
    pub async fn add_category(
        &self,
        admin: &Administrator,
        input: CategoryInput,
    ) -> Result<Category> {
        let proof = self
            .authorize_admin(admin, Action::Administer, None)
            .await?;
        let id = CategoryId::parse(input.id.as_deref().unwrap_or_default())
            .map_err(|_| Error::InvalidField("id"))?;
        let category = category_of(id, &input)?;
        self.add_listed(&proof, &category).await?;
        Ok(category)
    }

    /// Changes a category (federation administrators); the cases follow at once (a category
    /// that must now stay home brings its cross-border cases home).
    pub async fn change_category(
        &self,
        admin: &Administrator,
        id: &str,
        input: CategoryInput,
    ) -> Result<Category> {
        if input.id.as_deref().is_some_and(|i| i != id) {
            return Err(Error::InvalidField("id"));
        }
        let proof = self
            .authorize_admin(admin, Action::Administer, None)
            .await?;
        let id = CategoryId::parse(id).map_err(|_| Error::NotFound)?;
        let category = category_of(id, &input)?;
        self.replace_listed(&proof, &category).await?;
        Ok(category)
    }

    /// Removes a category (federation administrators) that no agreement, home rule or case
    /// names (`409 in_use` otherwise: the history stays readable).
    pub async fn remove_category(&self, admin: &Administrator, id: &str) -> Result<()> {
        let proof = self
            .authorize_admin(admin, Action::Administer, None)
            .await?;
        let id = CategoryId::parse(id).map_err(|_| Error::NotFound)?;
        self.change_retrying(
            &proof,
            ("category", id.to_string(), "removed"),
            serde_json::Value::Null,
            |f| {
                if f.category(id.as_str()).is_none() {
                    return Err(Error::NotFound);
                }
                let named = f.agreements.iter().any(|a| a.categories.contains(&id))
                    || f.municipalities.iter().any(|m| m.keeps_home.contains(&id));
                if named {
                    return Err(Error::StateConflict("in_use"));
                }
                f.categories.retain(|c| c.id != id);
                Ok(())
            },
        )
        .await
        .map(|_| ())
    }

    /// Adds `item` to its list: `Duplicate` when its key is taken.
    async fn add_listed<T: Listed>(&self, proof: &AdminAllowed, item: &T) -> Result<()> {
        self.change_retrying(
            proof,
            (T::ITEM, item.key().to_owned(), "created"),
            json!(item),
            |f| {
                let list = T::list(f);
                if list.iter().any(|x| x.key() == item.key()) {
                    return Err(Error::Duplicate(format!("{} {}", T::ITEM, item.key())));
                }
                list.push(item.clone());
                Ok(())
            },
        )
        .await
        .map(|_| ())
    }

    /// Puts `item` in the place of the one with its key: `NotFound` without one.
    async fn replace_listed<T: Listed>(&self, proof: &AdminAllowed, item: &T) -> Result<()> {
        self.change_retrying(
            proof,
            (T::ITEM, item.key().to_owned(), "changed"),
            json!(item),
            |f| {
                let slot = T::list(f)
                    .iter_mut()
                    .find(|x| x.key() == item.key())
                    .ok_or(Error::NotFound)?;
                *slot = item.clone();
                Ok(())
            },
        )
        .await
        .map(|_| ())
    }

    /// [`Context::change`] (without an agreement), again while another replica's change took
    /// the version it built on.
    async fn change_retrying(
        &self,
        proof: &AdminAllowed,
        what: (&'static str, String, &'static str),
        body: serde_json::Value,
        edit: impl Fn(&mut Federation) -> Result<()>,
    ) -> Result<ChangeEffect> {
        for _ in 0..ATTEMPTS {
            match self
                .change(proof, what.clone(), None, body.clone(), &edit)
                .await
            {
                Err(Error::Duplicate(what)) if what.contains("federation_changes") => continue,
                other => return other,
            }
        }
        Err(Error::Unavailable("the federation kept changing".into()))
    }

    /// One change: the federation as it stands (caught up with other replicas), changed by
    /// `edit`, checked, written as the next version with its record and audit event, installed
    /// here, and followed by the cases.
    async fn change(
        &self,
        proof: &AdminAllowed,
        (item, item_id, what): (&'static str, String, &'static str),
        agreement: Option<AgreementWrite>,
        body: serde_json::Value,
        edit: impl FnOnce(&mut Federation) -> Result<()>,
    ) -> Result<ChangeEffect> {
        let _writing = self.federation_writing.lock().await;
        let version = self.follow_federation().await?;
        let mut federation = (*self.federation()).clone();
        edit(&mut federation)?;
        federation.check().map_err(federation_error)?;
        let change = FederationChange {
            version: version + 1,
            at: self.clock.now(),
            actor: String::new(),
            actor_name: None,
            item,
            item_id,
            change: what,
            body,
        };
        let on = match item {
            "municipality" => MunicipalityCode::parse(&change.item_id).ok(),
            _ => None,
        };
        match self
            .store_federation_change(proof, &federation, change, agreement.as_ref(), on)
            .await
        {
            Ok(()) => {}
            Err(Error::Unprocessable("constraint_violation")) => {
                return Err(Error::StateConflict("in_use"));
            }
            Err(e) => return Err(e),
        }
        self.install_federation(version + 1, federation);
        let (rerouted, sent_home) = self.federation_followed(proof).await?;
        Ok(ChangeEffect {
            federation_version: version + 1,
            rerouted,
            sent_home,
        })
    }

    /// At start: the stored federation's version in force here, and the agreements of the
    /// federation file recorded as their first, signed versions where none is stored yet.
    pub async fn start_federation(&self) -> Result<()> {
        self.follow_federation().await?;
        let now = self.clock.now();
        let origins: Vec<AgreementVersion> = self
            .federation()
            .agreements
            .iter()
            .map(|a| AgreementVersion {
                agreement_id: a.id.clone(),
                version: 1,
                state: AgreementState::Signed,
                agreement: a.clone(),
                note: Some("the federation file".to_owned()),
                author: FEDERATION_FILE.to_owned(),
                author_name: None,
                created_at: now,
                signed_by: Some(FEDERATION_FILE.to_owned()),
                signed_by_name: None,
                signed_at: Some(now),
            })
            .collect();
        Ok(self.store.record_agreement_origins(&origins).await?)
    }

    /// Catches up with the stored federation (a change made on another replica): returns the
    /// version in force here afterwards.
    pub(super) async fn follow_federation(&self) -> Result<i64> {
        let stored = self.store.federation_version().await?;
        let (here, _) = self.federation_versioned();
        if stored > here
            && let Some(federation) = self.store.load_federation().await?
        {
            self.install_federation(stored, federation);
            tracing::info!(version = stored, "federation version followed");
        }
        Ok(stored.max(here))
    }

    /// After a federation change: every open case's permits decided again, under the
    /// changing administrator's name. A holder outside home who lost their permit loses the
    /// case (it goes home); a queue that gained a permitted member widens to it. Returns
    /// (cases whose permits changed, cases that went home).
    async fn federation_followed(&self, proof: &AdminAllowed) -> Result<(u32, u32)> {
        let (rerouted, sent_home) = self
            .refresh_permits("federation_changed", || {
                Ground::System(self.federation_ground(proof))
            })
            .await?;
        Ok((rerouted, sent_home + self.sweep_revoked().await?))
    }

    /// Once a day (the scheduler): agreements start and end by their dates, so every open
    /// case's permits are decided again on the new day, by the router. Returns how many
    /// changed.
    pub(super) async fn daily_permits(&self) -> Result<u32> {
        let today = self.clock.today();
        if self.marks().permits_refreshed == Some(today) {
            return Ok(0);
        }
        let (rerouted, _) = self
            .refresh_permits("new_day", || {
                Ground::System(self.router_ground(vec![crate::policy::ROUTER.to_owned()], None))
            })
            .await?;
        self.marks().permits_refreshed = Some(today);
        Ok(rerouted)
    }

    /// Every open case whose permits differ from the stored ones is routed again under
    /// `ground`: returns (cases re-routed, of which sent home).
    async fn refresh_permits(
        &self,
        why: &'static str,
        ground: impl Fn() -> Ground,
    ) -> Result<(u32, u32)> {
        let mut rerouted = 0;
        let mut sent_home = 0;
        for case in self.store.open_cases().await? {
            let stored = self.store.permits(&case.id).await?;
            let permits = self.permits_now(&case);
            let same = stored.len() == permits.permitted.len()
                && permits.permitted.iter().all(|p| {
                    stored
                        .iter()
                        .any(|s| s.municipality == p.municipality && s.ring == p.ring)
                });
            if same {
                continue;
            }
            let was_outside = case.handler.as_ref().is_some_and(|h| *h != case.home);
            let changes = Changes {
                action: Some(why),
                detail: Some(json!({ "federation_version": self.federation_versioned().0 })),
                ..Changes::default()
            };
            match self
                .reroute_after(ground(), &case, &case, changes, why)
                .await
            {
                Ok(updated) => {
                    rerouted += 1;
                    if was_outside && updated.handler.as_ref() != case.handler.as_ref() {
                        sent_home += 1;
                    }
                }
                // Changed meanwhile: the next change or the scheduler's sweep catches it.
                Err(Error::Conflict(TransitionError::InvalidTransition { .. })) => {}
                Err(Error::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok((rerouted, sent_home))
    }
}

/// A member or a category: an item of one of the federation's lists, known by its key.
trait Listed: Clone + Serialize {
    /// What the change records and the audit trail call it.
    const ITEM: &'static str;
    fn key(&self) -> &str;
    fn list(federation: &mut Federation) -> &mut Vec<Self>;
}

impl Listed for Municipality {
    const ITEM: &'static str = "municipality";

    fn key(&self) -> &str {
        self.code.as_str()
    }

    fn list(federation: &mut Federation) -> &mut Vec<Self> {
        &mut federation.municipalities
    }
}

impl Listed for Category {
    const ITEM: &'static str = "category";

    fn key(&self) -> &str {
        self.id.as_str()
    }

    fn list(federation: &mut Federation) -> &mut Vec<Self> {
        &mut federation.categories
    }
}

fn record(
    id: &str,
    in_force: Option<Agreement>,
    versions: Vec<AgreementVersion>,
) -> AgreementRecord {
    let signed_version = versions
        .iter()
        .filter(|v| v.state == AgreementState::Signed)
        .map(|v| v.version)
        .max();
    let draft_version = versions
        .iter()
        .filter(|v| v.state == AgreementState::Draft)
        .map(|v| v.version)
        .max();
    AgreementRecord {
        id: id.to_owned(),
        in_force,
        signed_version,
        draft_version,
        versions,
    }
}

/// An agreement's id: lower-case letters, digits and `-`, 1–64 characters.
fn agreement_id(id: &str) -> Result<String> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(id.to_owned())
    } else {
        Err(Error::InvalidField("id"))
    }
}

fn agreement_of(id: &str, input: &AgreementInput) -> Result<Agreement> {
    let mut members = Vec::new();
    for m in &input.members {
        let code =
            MunicipalityCode::parse(m).map_err(|_| Error::Unprocessable("unknown_municipality"))?;
        if !members.contains(&code) {
            members.push(code);
        }
    }
    if members.len() < 2 {
        return Err(Error::InvalidField("members"));
    }
    let mut categories = Vec::new();
    for c in &input.categories {
        let id = CategoryId::parse(c).map_err(|_| Error::Unprocessable("unknown_category"))?;
        if !categories.contains(&id) {
            categories.push(id);
        }
    }
    if categories.is_empty() {
        return Err(Error::InvalidField("categories"));
    }
    if input.valid_to < input.valid_from {
        return Err(Error::InvalidField("valid_to"));
    }
    Ok(Agreement {
        id: id.to_owned(),
        members,
        categories,
        valid_from: input.valid_from,
        valid_to: input.valid_to,
        delegates_authority: input.delegates_authority,
        covers_minors: input.covers_minors,
        names_family_counselling: input.names_family_counselling,
    })
}

fn municipality_of(code: MunicipalityCode, input: &MunicipalityInput) -> Result<Municipality> {
    if input.population == 0 || input.population > 10_000_000 {
        return Err(Error::InvalidField("population"));
    }
    let phone = match input.socialjour_phone.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(p) => {
            let digits = p.chars().filter(char::is_ascii_digit).count();
            let allowed = p
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '+' | '(' | ')'));
            if !allowed || !(3..=15).contains(&digits) {
                return Err(Error::InvalidField("socialjour_phone"));
            }
            Some(p.to_owned())
        }
    };
    let mut keeps_home = Vec::new();
    for c in &input.keeps_home {
        let id = CategoryId::parse(c).map_err(|_| Error::Unprocessable("unknown_category"))?;
        if !keeps_home.contains(&id) {
            keeps_home.push(id);
        }
    }
    Ok(Municipality {
        code,
        name: text(&input.name, "name", MAX_NAME)?,
        population: input.population,
        socialjour_phone: phone,
        keeps_home,
    })
}

fn category_of(id: CategoryId, input: &CategoryInput) -> Result<Category> {
    let kind = CategoryKind::parse(&input.kind).ok_or(Error::InvalidField("kind"))?;
    let category = Category {
        id,
        kind,
        urgent: input.urgent,
        must_stay_home: input.must_stay_home,
        family_counselling: input.family_counselling,
        record_identity: input.record_identity,
        sv: text(&input.sv, "sv", MAX_NAME)?,
        en: text(&input.en, "en", MAX_NAME)?,
    };
    // A concern about a child is urgent and stays home whatever is written (R10).
    if category.is_child_concern() && (!category.urgent || !category.must_stay_home) {
        return Err(Error::InvalidField("must_stay_home"));
    }
    Ok(category)
}

//! Caseworkers managed in Brygga (issue 21): administrators create, change and deactivate
//! them; the municipalities' identity providers provision them (just in time at a staff login,
//! or through SCIM). Every change goes through the gate (`administer` on the caseworker's
//! municipality) and is an audit event on that municipality's chain naming who made it.

use serde_json::{Value, json};

use super::gate::{AdminAllowed, Changes, Ground};
use super::{Context, Error, Result};
use crate::auth::login::StaffClaims;
use crate::domain::Administrator;
use crate::domain::case::{CaseEvent, CaseState, OfferEnd};
use crate::domain::ids::{CaseworkerId, CategoryId, Language, MunicipalityCode};
use crate::domain::people::{Availability, Caseworker, GroupGrant, StaffGroup, StaffMember};
use crate::policy::Action;
use crate::store::StaffKey;

/// The most open cases an administrator may allow one caseworker.
pub const MAX_CAPACITY: u32 = 50;
/// The longest name (characters) a caseworker may have.
const NAME_MAX: usize = 200;
/// The longest login subject, SCIM `userName` or `externalId` kept.
const KEY_MAX: usize = 256;

/// A new caseworker, as an administrator or a provisioning client names them.
#[derive(Clone, Debug, Default)]
pub struct NewCaseworker {
    pub name: String,
    pub municipality: String,
    pub skills: Vec<String>,
    pub languages: Vec<String>,
    pub capacity: u32,
    pub protected_identity_clearance: bool,
    pub supervisor: bool,
    pub subject: Option<String>,
    /// `<kommunkod>-…` of their municipality; the next free `<kommunkod>-NN` unless given.
    pub id: Option<String>,
    pub user_name: Option<String>,
    pub external_id: Option<String>,
    /// SCIM may create a user inactive; the admin API always creates active ones.
    pub active: bool,
}

/// What an administrator (or provisioning client) changes; `None` keeps the value.
#[derive(Clone, Debug, Default)]
pub struct CaseworkerChange {
    pub name: Option<String>,
    pub skills: Option<Vec<String>>,
    pub languages: Option<Vec<String>>,
    /// The maximum (`max_capacity`). The working capacity follows it down, and up when it was
    /// at the old maximum.
    pub capacity: Option<u32>,
    pub protected_identity_clearance: Option<bool>,
    pub supervisor: Option<bool>,
    /// `available` or `away`.
    pub availability: Option<String>,
    pub subject: Option<String>,
    pub user_name: Option<String>,
    pub external_id: Option<String>,
    /// `false` deactivates (as `DELETE`), `true` reactivates.
    pub active: Option<bool>,
}

fn check_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > NAME_MAX || name.chars().any(char::is_control) {
        return Err(Error::InvalidField("name"));
    }
    Ok(name.to_owned())
}

fn check_key(value: Option<String>, field: &'static str) -> Result<Option<String>> {
    match value.map(|v| v.trim().to_owned()) {
        None => Ok(None),
        Some(v) if v.is_empty() || v.len() > KEY_MAX || v.chars().any(char::is_control) => {
            Err(Error::InvalidField(field))
        }
        Some(v) => Ok(Some(v)),
    }
}

fn check_capacity(capacity: u32) -> Result<u32> {
    if capacity == 0 || capacity > MAX_CAPACITY {
        return Err(Error::InvalidField("capacity"));
    }
    Ok(capacity)
}

fn availability(value: &str) -> Result<Availability> {
    Availability::parse(value).ok_or(Error::InvalidField("availability"))
}

/// The next free `<kommunkod>-NN` among `taken`.
fn next_free_id(municipality: &MunicipalityCode, taken: &[StaffMember]) -> Result<CaseworkerId> {
    let prefix = format!("{municipality}-");
    let highest = taken
        .iter()
        .filter_map(|m| m.caseworker.id.as_str().strip_prefix(&prefix))
        .filter_map(|n| n.parse::<u32>().ok())
        .max()
        .unwrap_or(0);
    CaseworkerId::parse(&format!("{prefix}{:02}", highest + 1))
        .map_err(|e| Error::Internal(format!("caseworker id: {e}")))
}

/// What an audit event says of a caseworker: their settings, never anything about citizens.
fn described(member: &StaffMember) -> Value {
    let c = &member.caseworker;
    json!({
        "caseworker": c.id,
        "skills": c.skills,
        "languages": c.languages,
        "max_capacity": c.max_capacity,
        "protected_identity_clearance": c.protected_identity_clearance,
        "supervisor": c.supervisor,
        "availability": c.status.as_str(),
        "active": member.active,
    })
}

impl Context {
    fn check_skills(&self, skills: &[String]) -> Result<Vec<CategoryId>> {
        let federation = self.federation();
        let mut out: Vec<CategoryId> = Vec::new();
        for s in skills {
            let id = CategoryId::parse(s).map_err(|_| Error::Unprocessable("unknown_category"))?;
            if federation.category(id.as_str()).is_none() {
                return Err(Error::Unprocessable("unknown_category"));
            }
            if !out.contains(&id) {
                out.push(id);
            }
        }
        Ok(out)
    }

    fn check_languages(&self, languages: &[String]) -> Result<Vec<Language>> {
        let federation = self.federation();
        let mut out: Vec<Language> = Vec::new();
        for l in languages {
            let code = Language::parse(l).map_err(|_| Error::Unprocessable("unknown_language"))?;
            if !federation.offers_language(&code) {
                return Err(Error::Unprocessable("unknown_language"));
            }
            if !out.contains(&code) {
                out.push(code);
            }
        }
        Ok(out)
    }

    /// A caseworker of any state, for an administrator of their municipality (another
    /// municipality's administrator: 403). An unknown id is 404.
    async fn staff_member_with_proof(
        &self,
        admin: &Administrator,
        id: &str,
    ) -> Result<(StaffMember, AdminAllowed)> {
        let id = CaseworkerId::parse(id).map_err(|_| Error::NotFound)?;
        let member = self.store.staff_member(&id).await?.ok_or(Error::NotFound)?;
        let proof = self
            .authorize_admin(
                admin,
                Action::Administer,
                Some(&member.caseworker.municipality),
            )
            .await?;
        Ok((member, proof))
    }

    /// The staff an administrator manages: their own municipality's, or (federation) every
    /// member's; `municipality` narrows it (another municipality than their own: 403).
    pub async fn staff_list(
        &self,
        admin: &Administrator,
        municipality: Option<&str>,
    ) -> Result<Vec<StaffMember>> {
        let on = match municipality {
            Some(m) => Some(self.member(m)?),
            None => admin.municipality.clone(),
        };
        self.authorize_admin(admin, Action::Administer, on.as_ref())
            .await?;
        Ok(self.store.staff_members(on.as_ref()).await?)
    }

    /// `given`, else the next free `<kommunkod>-NN` of `municipality` as stored now.
    async fn caseworker_id(
        &self,
        municipality: &MunicipalityCode,
        given: Option<&CaseworkerId>,
    ) -> Result<CaseworkerId> {
        match given {
            Some(id) => Ok(id.clone()),
            None => next_free_id(
                municipality,
                &self.store.staff_members(Some(municipality)).await?,
            ),
        }
    }

    /// One caseworker, active or not.
    pub async fn staff_member(&self, admin: &Administrator, id: &str) -> Result<StaffMember> {
        Ok(self.staff_member_with_proof(admin, id).await?.0)
    }

    /// Creates a caseworker of `input.municipality`, decided by the policies (`administer` on
    /// it) and audited with that ground in the same transaction.
    pub async fn create_caseworker(
        &self,
        admin: &Administrator,
        input: NewCaseworker,
    ) -> Result<StaffMember> {
        let municipality = self.member(&input.municipality)?;
        let proof = self
            .authorize_admin(admin, Action::Administer, Some(&municipality))
            .await?;
        self.create_with(&proof, municipality, input).await
    }

    pub(super) async fn create_with(
        &self,
        proof: &AdminAllowed,
        municipality: MunicipalityCode,
        input: NewCaseworker,
    ) -> Result<StaffMember> {
        let name = check_name(&input.name)?;
        let skills = self.check_skills(&input.skills)?;
        let languages = self.check_languages(&input.languages)?;
        let capacity = check_capacity(input.capacity)?;
        let subject = check_key(input.subject, "subject")?;
        let user_name = check_key(input.user_name, "userName")?;
        let external_id = check_key(input.external_id, "externalId")?;
        let given = match input.id.as_deref() {
            Some(id) => {
                let id = CaseworkerId::parse(id.trim()).map_err(|_| Error::InvalidField("id"))?;
                if !id.as_str().starts_with(&format!("{municipality}-")) {
                    return Err(Error::InvalidField("id"));
                }
                Some(id)
            }
            None => None,
        };
        // Two creations at once may pick the same next number: the second tries the next.
        for _ in 0..5 {
            let id = self.caseworker_id(&municipality, given.as_ref()).await?;
            let member = StaffMember {
                caseworker: Caseworker {
                    id,
                    municipality: municipality.clone(),
                    name: name.clone(),
                    skills: skills.clone(),
                    languages: languages.clone(),
                    max_capacity: capacity,
                    capacity,
                    status: Availability::Available,
                    protected_identity_clearance: input.protected_identity_clearance,
                    supervisor: input.supervisor,
                    status_since: self.clock.now(),
                    last_assigned_at: None,
                },
                active: input.active,
                subject: subject.clone(),
                user_name: user_name.clone(),
                external_id: external_id.clone(),
            };
            match self
                .store_new_staff_member(proof, &member, described(&member))
                .await
            {
                Ok(()) => {
                    if member.active {
                        self.capacity_freed(&member.caseworker.id).await?;
                    }
                    return Ok(member);
                }
                Err(Error::Duplicate(what))
                    if given.is_none()
                        && (what.contains("pkey") || what.contains("caseworkers.id")) => {}
                Err(e) => return Err(e),
            }
        }
        Err(Error::Duplicate("caseworker id".into()))
    }

    /// Changes a caseworker as `change` says, decided by the policies and audited with what
    /// changed. Deactivation (`active: false`) is [`Context::deactivate_caseworker`]'s.
    pub async fn change_caseworker(
        &self,
        admin: &Administrator,
        id: &str,
        change: CaseworkerChange,
    ) -> Result<StaffMember> {
        let (member, proof) = self.staff_member_with_proof(admin, id).await?;
        self.change_with(&proof, member, change).await
    }

    /// Deactivates a caseworker: never deleted (their history stays), but they can no longer
    /// log in or act, their pending offers are rescinded and their open cases go back to
    /// routing. Deactivating an inactive caseworker changes nothing.
    pub async fn deactivate_caseworker(
        &self,
        admin: &Administrator,
        id: &str,
    ) -> Result<StaffMember> {
        let (member, proof) = self.staff_member_with_proof(admin, id).await?;
        self.change_with(
            &proof,
            member,
            CaseworkerChange {
                active: Some(false),
                ..CaseworkerChange::default()
            },
        )
        .await
    }

    pub(super) async fn change_with(
        &self,
        proof: &AdminAllowed,
        before: StaffMember,
        change: CaseworkerChange,
    ) -> Result<StaffMember> {
        let mut after = before.clone();
        let c = &mut after.caseworker;
        if let Some(name) = &change.name {
            c.name = check_name(name)?;
        }
        if let Some(skills) = &change.skills {
            c.skills = self.check_skills(skills)?;
        }
        if let Some(languages) = &change.languages {
            c.languages = self.check_languages(languages)?;
        }
        if let Some(capacity) = change.capacity {
            let max = check_capacity(capacity)?;
            if c.capacity > max || c.capacity == c.max_capacity {
                c.capacity = max;
            }
            c.max_capacity = max;
        }
        if let Some(clearance) = change.protected_identity_clearance {
            c.protected_identity_clearance = clearance;
        }
        if let Some(supervisor) = change.supervisor {
            c.supervisor = supervisor;
        }
        if let Some(status) = &change.availability {
            c.status = availability(status)?;
        }
        if change.subject.is_some() {
            after.subject = check_key(change.subject, "subject")?;
        }
        if change.user_name.is_some() {
            after.user_name = check_key(change.user_name, "userName")?;
        }
        if change.external_id.is_some() {
            after.external_id = check_key(change.external_id, "externalId")?;
        }
        if let Some(active) = change.active {
            after.active = active;
        }
        if !after.active {
            // Nobody routes to a deactivated caseworker, whatever races the deactivation.
            after.caseworker.status = Availability::Away;
        }
        if after == before {
            return Ok(after);
        }
        let changed = changed_fields(&before, &after);
        let what = match (before.active, after.active) {
            (true, false) => "caseworker_deactivated",
            (false, true) => "caseworker_reactivated",
            _ => "caseworker_changed",
        };
        let mut detail = described(&after);
        detail["changed"] = json!(changed);
        self.store_staff_change(proof, &after, what, detail).await?;
        self.after_change(proof, &before, &after).await?;
        Ok(after)
    }

    /// What a change means for the caseworker's work: away or deactivated rescinds their
    /// pending offers; deactivated sends their open cases back to routing; more room (back,
    /// reactivated, a higher capacity) matches waiting requests at once.
    async fn after_change(
        &self,
        proof: &AdminAllowed,
        before: &StaffMember,
        after: &StaffMember,
    ) -> Result<()> {
        let id = &after.caseworker.id;
        let away = after.caseworker.status == Availability::Away;
        if away && (before.caseworker.status == Availability::Available || before.active) {
            for offer in self.store.open_offers(id).await? {
                self.end_offer(&offer, OfferEnd::CaseworkerAway, None)
                    .await?;
            }
        }
        if before.active && !after.active {
            for case in self.store.cases_of_owner(id).await? {
                if !matches!(case.state, CaseState::Assigned | CaseState::WaitingCitizen) {
                    continue;
                }
                let changes = Changes {
                    detail: Some(json!({ "caseworker": id, "why": "caseworker_deactivated" })),
                    ..Changes::default()
                };
                let released = self
                    .commit(
                        Ground::System(self.deactivation_ground(proof)),
                        &case.id,
                        CaseEvent::Release {
                            caseworker: id.clone(),
                        },
                        changes,
                    )
                    .await;
                match released {
                    Ok((case, _)) => {
                        self.dispatch_passing_over(case, id).await?;
                    }
                    // Released, closed or moved meanwhile: nothing left to send back.
                    Err(Error::Conflict(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let more_room = after.active
            && after.caseworker.status == Availability::Available
            && (!before.active
                || before.caseworker.status == Availability::Away
                || after.caseworker.capacity > before.caseworker.capacity
                || after.caseworker.skills != before.caseworker.skills
                || after.caseworker.languages != before.caseworker.languages);
        if more_room {
            self.capacity_freed(id).await?;
        }
        Ok(())
    }

    // ── Provisioning ────────────────────────────────────────────────────────────────────

    /// A staff login whose provider vouched for the caseworker role: the caseworker it names
    /// (by `id`, else by the login's `subject`) if Brygga knows them in `municipality` and they
    /// are active; else, when the municipality's staff login provisions (`default_capacity`
    /// given), a new caseworker from the claims: no skills (an administrator sets them), Swedish,
    /// capacity `default_capacity`, the subject kept to find them again. An inactive
    /// caseworker is never brought back by a login.
    pub(super) async fn caseworker_at_login(
        &self,
        municipality: &MunicipalityCode,
        login: &StaffClaims,
    ) -> Result<Option<Caseworker>> {
        let by_id = match &login.id {
            Some(id) => self.store.staff_member(id).await?,
            None => None,
        }
        .filter(|m| m.caseworker.municipality == *municipality);
        let by_subject = match (&by_id, login.subject.is_empty()) {
            (None, false) => {
                self.store
                    .find_staff_member(municipality, StaffKey::Subject(&login.subject))
                    .await?
            }
            _ => None,
        };
        if let Some(known) = by_id.or(by_subject) {
            return Ok(known.active.then_some(known.caseworker));
        }
        let Some(capacity) = login.provision_capacity else {
            return Ok(None);
        };
        // An id claim of another municipality is never taken over: such a caseworker gets a
        // number of their own.
        let id = login
            .id
            .clone()
            .filter(|id| id.as_str().starts_with(&format!("{municipality}-")));
        let name = check_name(&login.name).unwrap_or_else(|_| login.subject.clone());
        let languages: Vec<Language> = self
            .federation()
            .default_language()
            .cloned()
            .into_iter()
            .collect();
        for _ in 0..5 {
            let id = self.caseworker_id(municipality, id.as_ref()).await?;
            let capacity = capacity.clamp(1, MAX_CAPACITY);
            let member = StaffMember {
                caseworker: Caseworker {
                    id,
                    municipality: municipality.clone(),
                    name: name.clone(),
                    skills: Vec::new(),
                    languages: Vec::clone(&languages),
                    max_capacity: capacity,
                    capacity,
                    status: Availability::Available,
                    protected_identity_clearance: false,
                    supervisor: false,
                    status_since: self.clock.now(),
                    last_assigned_at: None,
                },
                active: true,
                subject: Some(login.subject.clone()).filter(|s| !s.is_empty()),
                user_name: None,
                external_id: None,
            };
            let detail =
                json!({ "caseworker": member.caseworker.id, "provisioning": "just_in_time" });
            match self.store_provisioned_staff_member(&member, detail).await {
                Ok(()) => return Ok(Some(member.caseworker)),
                // Another login of the same person won the race: theirs is the caseworker.
                Err(Error::Duplicate(_)) => {
                    if let Some(known) = self
                        .store
                        .find_staff_member(municipality, StaffKey::Subject(&login.subject))
                        .await?
                    {
                        return Ok(known.active.then_some(known.caseworker));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::Duplicate("caseworker id".into()))
    }

    // ── SCIM ───────────────────────────────────────────────────────────────────────────

    /// The gate for a SCIM client: an administrator (an integration token) of one
    /// municipality; a federation administrator names no municipality to provision (403).
    pub async fn authorize_provisioning(
        &self,
        admin: &Administrator,
    ) -> Result<(MunicipalityCode, ProvisioningProof)> {
        let Some(municipality) = admin.municipality.clone() else {
            return Err(Error::Forbidden);
        };
        let proof = self
            .authorize_admin(admin, Action::Administer, Some(&municipality))
            .await?;
        Ok((municipality, ProvisioningProof(proof)))
    }

    /// The municipality's caseworker known by `key`, active or not.
    pub async fn provisioned_find(
        &self,
        _proof: &ProvisioningProof,
        municipality: &MunicipalityCode,
        key: UserKey<'_>,
    ) -> Result<Option<StaffMember>> {
        let key = match key {
            UserKey::UserName(v) => StaffKey::UserName(v),
            UserKey::ExternalId(v) => StaffKey::ExternalId(v),
        };
        Ok(self.store.find_staff_member(municipality, key).await?)
    }

    /// The municipality's caseworker `id` (another municipality's: 404, as if unknown).
    pub async fn provisioned_member(
        &self,
        _proof: &ProvisioningProof,
        municipality: &MunicipalityCode,
        id: &str,
    ) -> Result<StaffMember> {
        let id = CaseworkerId::parse(id).map_err(|_| Error::NotFound)?;
        self.store
            .staff_member(&id)
            .await?
            .filter(|m| m.caseworker.municipality == *municipality)
            .ok_or(Error::NotFound)
    }

    /// Every caseworker of the municipality, active or not.
    pub async fn provisioned_members(
        &self,
        _proof: &ProvisioningProof,
        municipality: &MunicipalityCode,
    ) -> Result<Vec<StaffMember>> {
        Ok(self.store.staff_members(Some(municipality)).await?)
    }

    pub async fn provision_create(
        &self,
        proof: &ProvisioningProof,
        municipality: &MunicipalityCode,
        input: NewCaseworker,
    ) -> Result<StaffMember> {
        self.create_with(&proof.0, municipality.clone(), input)
            .await
    }

    pub async fn provision_change(
        &self,
        proof: &ProvisioningProof,
        member: StaffMember,
        change: CaseworkerChange,
    ) -> Result<StaffMember> {
        self.change_with(&proof.0, member, change).await
    }

    pub async fn provisioned_groups(
        &self,
        _proof: &ProvisioningProof,
        municipality: &MunicipalityCode,
    ) -> Result<Vec<StaffGroup>> {
        Ok(self.store.staff_groups(municipality).await?)
    }

    pub async fn provisioned_group(
        &self,
        _proof: &ProvisioningProof,
        municipality: &MunicipalityCode,
        id: &str,
    ) -> Result<StaffGroup> {
        self.store
            .staff_group(id)
            .await?
            .filter(|g| g.municipality == *municipality)
            .ok_or(Error::NotFound)
    }

    /// Stores a group as the client now has it (new, renamed, members changed), and gives or
    /// takes the grant its display name maps to for every member who joined or left (or all of
    /// them when the name changed). A member who is not a caseworker of the municipality is
    /// 400 `invalid_field` `members`.
    pub async fn provision_group(
        &self,
        proof: &ProvisioningProof,
        before: Option<StaffGroup>,
        after: StaffGroup,
    ) -> Result<StaffGroup> {
        let name = after.display_name.trim();
        if name.is_empty() || name.chars().count() > NAME_MAX {
            return Err(Error::InvalidField("displayName"));
        }
        let mut members = Vec::new();
        for id in &after.members {
            let member = self
                .store
                .staff_member(id)
                .await?
                .filter(|m| m.caseworker.municipality == after.municipality)
                .ok_or(Error::InvalidField("members"))?;
            if !members.iter().any(|m: &StaffMember| m.caseworker.id == *id) {
                members.push(member);
            }
        }
        let mut group = after.clone();
        group.members = members.iter().map(|m| m.caseworker.id.clone()).collect();
        let old_grant = before
            .as_ref()
            .and_then(|g| GroupGrant::of(&g.display_name));
        let new_grant = GroupGrant::of(&group.display_name);
        let what = if before.is_some() {
            "scim_group_changed"
        } else {
            "scim_group_created"
        };
        self.store_staff_group(
            &proof.0,
            &group,
            what,
            json!({
                "group": group.id,
                "display_name": group.display_name,
                "members": group.members,
            }),
        )
        .await
        .map_err(|e| match e {
            Error::Duplicate(_) => Error::Duplicate("group".into()),
            e => e,
        })?;
        let old_members: Vec<CaseworkerId> = before.map(|g| g.members).unwrap_or_default();
        // Whoever left loses the old grant; whoever is in gets the new one.
        if let Some(grant) = &old_grant {
            for id in old_members
                .iter()
                .filter(|id| Some(grant) != new_grant.as_ref() || !group.members.contains(id))
            {
                if let Some(m) = self.store.staff_member(id).await? {
                    self.grant(proof, m, grant, false).await?;
                }
            }
        }
        if let Some(grant) = &new_grant {
            for m in members {
                self.grant(proof, m, grant, true).await?;
            }
        }
        Ok(group)
    }

    async fn grant(
        &self,
        proof: &ProvisioningProof,
        member: StaffMember,
        grant: &GroupGrant,
        on: bool,
    ) -> Result<()> {
        if let GroupGrant::Skill(category) = grant
            && on
            && self.federation().category(category.as_str()).is_none()
        {
            return Ok(());
        }
        let mut after = member.caseworker.clone();
        grant.apply(&mut after, on);
        let change = CaseworkerChange {
            skills: Some(after.skills.iter().map(|s| s.as_str().to_owned()).collect()),
            supervisor: Some(after.supervisor),
            protected_identity_clearance: Some(after.protected_identity_clearance),
            ..CaseworkerChange::default()
        };
        self.change_with(&proof.0, member, change).await.map(|_| ())
    }
}

/// How a SCIM client finds a user besides their id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserKey<'a> {
    /// `userName`, without regard to case.
    UserName(&'a str),
    ExternalId(&'a str),
}

/// Proof that a SCIM client may provision its municipality's staff (only the gate's
/// [`Context::authorize_provisioning`] makes one).
pub struct ProvisioningProof(AdminAllowed);

/// Which fields differ, by their API names.
fn changed_fields(before: &StaffMember, after: &StaffMember) -> Vec<&'static str> {
    let (b, a) = (&before.caseworker, &after.caseworker);
    let mut out = Vec::new();
    let pairs: [(&'static str, bool); 11] = [
        ("name", b.name != a.name),
        ("skills", b.skills != a.skills),
        ("languages", b.languages != a.languages),
        ("max_capacity", b.max_capacity != a.max_capacity),
        ("capacity", b.capacity != a.capacity),
        (
            "protected_identity_clearance",
            b.protected_identity_clearance != a.protected_identity_clearance,
        ),
        ("supervisor", b.supervisor != a.supervisor),
        ("availability", b.status != a.status),
        ("subject", before.subject != after.subject),
        (
            "user_name",
            before.user_name != after.user_name || before.external_id != after.external_id,
        ),
        ("active", before.active != after.active),
    ];
    for (name, differs) in pairs {
        if differs {
            out.push(name);
        }
    }
    out
}

//! What the policies read: plain, hashable facts about a principal, an action, a resource and
//! the context, and their translation into a Cedar request with its entities.
//!
//! A [`Query`] is both the Cedar request and the memo key (DESIGN.md "Policies"): it holds every
//! value the policies may read — the evaluation date included — so equal queries get equal
//! decisions. The same types are the input language of the policy tests (`policies/tests/`),
//! where omitted fields take the defaults documented on each field.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::str::FromStr;

use cedar_policy::{
    Context, Entities, Entity, EntityId, EntityTypeName, EntityUid, Request, RestrictedExpression,
    Schema,
};
use serde::{Deserialize, Serialize};

/// Every action the policies decide (`policies/schema.cedarschema`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Route,
    View,
    /// A case's thread and who the citizen is (R15: need to know).
    ReadContent,
    Claim,
    Reply,
    Release,
    Transfer,
    Close,
    Export,
    Cancel,
    Consent,
    AssessHarm,
    Administer,
    ReadAudit,
}

impl Action {
    pub const ALL: [Action; 14] = [
        Action::Route,
        Action::View,
        Action::ReadContent,
        Action::Claim,
        Action::Reply,
        Action::Release,
        Action::Transfer,
        Action::Close,
        Action::Export,
        Action::Cancel,
        Action::Consent,
        Action::AssessHarm,
        Action::Administer,
        Action::ReadAudit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Route => "route",
            Action::View => "view",
            Action::ReadContent => "read_content",
            Action::Claim => "claim",
            Action::Reply => "reply",
            Action::Release => "release",
            Action::Transfer => "transfer",
            Action::Close => "close",
            Action::Export => "export",
            Action::Cancel => "cancel",
            Action::Consent => "consent",
            Action::AssessHarm => "assess_harm",
            Action::Administer => "administer",
            Action::ReadAudit => "read_audit",
        }
    }

    pub fn parse(s: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

fn default_protection() -> String {
    "none".into()
}

fn default_loa() -> String {
    "loa3".into()
}

/// Who asks.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Principal {
    /// A municipality, for `route`.
    Municipality { id: String },
    Citizen {
        id: String,
        home: String,
        #[serde(default = "default_protection")]
        protection: String,
        #[serde(default = "default_loa")]
        loa: String,
    },
    /// An anonymous visitor holding the access code of the request `request`.
    Visitor { request: String },
    Caseworker {
        id: String,
        municipality: String,
        #[serde(default)]
        protected_identity_clearance: bool,
        /// The role the municipality names to read content and assess harm (R12, R15).
        #[serde(default)]
        supervisor: bool,
        #[serde(default)]
        skills: BTreeSet<String>,
        #[serde(default)]
        languages: BTreeSet<String>,
    },
    /// An administrator of `municipality`, or of the federation when it is absent.
    Admin {
        #[serde(default)]
        municipality: Option<String>,
    },
}

/// The citizen's consent as it stands (R8).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentFacts {
    #[serde(default)]
    pub cross_municipality: bool,
    /// `None` = every member with a covering agreement.
    #[serde(default)]
    pub municipalities: Option<BTreeSet<String>>,
}

fn default_case_id() -> String {
    "request".into()
}

fn default_category() -> String {
    "ekonomi".into()
}

fn default_kind() -> String {
    "service".into()
}

fn default_language() -> String {
    "sv".into()
}

fn default_id_type() -> String {
    "personnummer".into()
}

fn default_state() -> String {
    "queued".into()
}

fn confirmed() -> bool {
    true
}

/// A request or case. Defaults describe an identified adult's queued `ekonomi` request in
/// Swedish with no consent.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFacts {
    #[serde(default = "default_case_id")]
    pub id: String,
    pub home: String,
    #[serde(default = "default_category")]
    pub category: String,
    /// `service`, `authority` or `volunteer`.
    #[serde(default = "default_kind")]
    pub kind: String,
    #[serde(default)]
    pub family_counselling: bool,
    #[serde(default)]
    pub child_concern: bool,
    #[serde(default)]
    pub must_stay_home: bool,
    /// The home municipality keeps the category at home (its home rule).
    #[serde(default)]
    pub home_keeps: bool,
    #[serde(default = "default_language")]
    pub language: String,
    #[serde(default)]
    pub interpreter_needed: bool,
    #[serde(default)]
    pub anonymous: bool,
    /// The citizen's entity id, for a citizen's own access (R19).
    #[serde(default)]
    pub citizen: Option<String>,
    #[serde(default = "default_protection")]
    pub protection: String,
    #[serde(default = "default_loa")]
    pub loa: String,
    /// `personnummer`, `samordningsnummer`, `eidas` or `none`.
    #[serde(default = "default_id_type")]
    pub id_type: String,
    /// `false` for a samordningsnummer the broker does not report as confirmed (R2).
    #[serde(default = "confirmed")]
    pub id_confirmed: bool,
    #[serde(default)]
    pub age: Option<i64>,
    #[serde(default)]
    pub consent: ConsentFacts,
    /// `none`, `cross_border_ok` or `stay_home` (R12).
    #[serde(default = "default_protection")]
    pub harm_assessment: String,
    #[serde(default = "default_state")]
    pub state: String,
    #[serde(default)]
    pub ring: i64,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub target: Option<String>,
}

impl CaseFacts {
    /// The same request as the routing rules see it: without the fields that only access reads,
    /// so that equal requests share one memoised routing decision.
    pub fn for_routing(&self) -> CaseFacts {
        CaseFacts {
            id: default_case_id(),
            citizen: None,
            state: default_state(),
            ring: 0,
            owner: None,
            target: None,
            language: String::new(),
            interpreter_needed: false,
            ..self.clone()
        }
    }
}

/// An agreement between the request's home and the municipality asked about that lists the
/// request's category. Dates are YYYYMMDD numbers.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgreementFacts {
    #[serde(default = "default_agreement_id")]
    pub id: String,
    pub members: BTreeSet<String>,
    #[serde(default)]
    pub categories: BTreeSet<String>,
    pub valid_from: i64,
    pub valid_to: i64,
    #[serde(default)]
    pub delegates_authority: bool,
    #[serde(default)]
    pub covers_minors: bool,
    #[serde(default)]
    pub names_family_counselling: bool,
}

fn default_agreement_id() -> String {
    "agreement".into()
}

/// The routing decision for a caseworker's municipality at the moment of access.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandlerFacts {
    pub permitted: bool,
    pub ring: i64,
}

/// What a request is about.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Resource {
    Case(Box<CaseFacts>),
    Municipality { id: String },
    Federation,
}

/// The context: `today` and `agreement` for `route`, `handler` for case actions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextFacts {
    #[serde(default)]
    pub today: Option<i64>,
    #[serde(default)]
    pub agreement: Option<AgreementFacts>,
    #[serde(default)]
    pub handler: Option<HandlerFacts>,
}

/// One question to the policies; also the memo key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Query {
    pub principal: Principal,
    pub action: Action,
    pub resource: Resource,
    pub context: ContextFacts,
}

/// A query that cannot be put to Cedar (a bug in the caller, or a malformed policy test).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the policy request: {0}")]
pub struct BuildError(pub String);

fn uid(kind: &str, id: &str) -> Result<EntityUid, BuildError> {
    let kind = EntityTypeName::from_str(kind).map_err(|e| BuildError(e.to_string()))?;
    let id = EntityId::from_str(id).map_err(|e| BuildError(e.to_string()))?;
    Ok(EntityUid::from_type_name_and_id(kind, id))
}

fn string(s: &str) -> RestrictedExpression {
    RestrictedExpression::new_string(s.to_owned())
}

fn municipality(code: &str) -> Result<RestrictedExpression, BuildError> {
    Ok(RestrictedExpression::new_entity_uid(uid(
        "Municipality",
        code,
    )?))
}

fn strings(set: &BTreeSet<String>) -> RestrictedExpression {
    RestrictedExpression::new_set(set.iter().map(|s| string(s)))
}

fn municipalities(set: &BTreeSet<String>) -> Result<RestrictedExpression, BuildError> {
    Ok(RestrictedExpression::new_set(
        set.iter()
            .map(|m| municipality(m))
            .collect::<Result<Vec<_>, _>>()?,
    ))
}

fn entity(
    uid: EntityUid,
    attrs: HashMap<String, RestrictedExpression>,
) -> Result<Entity, BuildError> {
    Entity::new(uid, attrs, HashSet::new()).map_err(|e| BuildError(e.to_string()))
}

type Attrs = HashMap<String, RestrictedExpression>;

fn principal_entity(p: &Principal) -> Result<(EntityUid, Option<Entity>), BuildError> {
    let mut attrs = Attrs::new();
    let id = match p {
        Principal::Municipality { id } => return Ok((uid("Municipality", id)?, None)),
        Principal::Citizen {
            id,
            home,
            protection,
            loa,
        } => {
            attrs.insert("home".into(), municipality(home)?);
            attrs.insert("protection".into(), string(protection));
            attrs.insert("loa".into(), string(loa));
            uid("Citizen", id)?
        }
        Principal::Visitor { request } => {
            attrs.insert(
                "request".into(),
                RestrictedExpression::new_entity_uid(uid("Case", request)?),
            );
            uid("Visitor", request)?
        }
        Principal::Caseworker {
            id,
            municipality: m,
            protected_identity_clearance,
            supervisor,
            skills,
            languages,
        } => {
            attrs.insert("municipality".into(), municipality(m)?);
            attrs.insert(
                "protected_identity_clearance".into(),
                RestrictedExpression::new_bool(*protected_identity_clearance),
            );
            attrs.insert(
                "supervisor".into(),
                RestrictedExpression::new_bool(*supervisor),
            );
            attrs.insert("skills".into(), strings(skills));
            attrs.insert("languages".into(), strings(languages));
            uid("Caseworker", id)?
        }
        Principal::Admin { municipality: m } => {
            if let Some(m) = m {
                attrs.insert("municipality".into(), municipality(m)?);
            }
            uid("Admin", m.as_deref().unwrap_or("federation"))?
        }
    };
    Ok((id.clone(), Some(entity(id, attrs)?)))
}

fn case_entities(c: &CaseFacts, out: &mut Vec<Entity>) -> Result<EntityUid, BuildError> {
    let consent_uid = uid("Consent", &c.id)?;
    let mut consent = Attrs::new();
    consent.insert(
        "cross_municipality".into(),
        RestrictedExpression::new_bool(c.consent.cross_municipality),
    );
    consent.insert(
        "limited".into(),
        RestrictedExpression::new_bool(c.consent.municipalities.is_some()),
    );
    consent.insert(
        "municipalities".into(),
        municipalities(
            c.consent
                .municipalities
                .as_ref()
                .unwrap_or(&BTreeSet::new()),
        )?,
    );
    out.push(entity(consent_uid.clone(), consent)?);

    let mut a = Attrs::new();
    a.insert("home".into(), municipality(&c.home)?);
    for (key, value) in [
        ("category", &c.category),
        ("kind", &c.kind),
        ("language", &c.language),
        ("protection", &c.protection),
        ("loa", &c.loa),
        ("id_type", &c.id_type),
        ("harm_assessment", &c.harm_assessment),
        ("state", &c.state),
    ] {
        a.insert(key.into(), string(value));
    }
    for (key, value) in [
        ("family_counselling", c.family_counselling),
        ("child_concern", c.child_concern),
        ("must_stay_home", c.must_stay_home),
        ("home_keeps", c.home_keeps),
        ("interpreter_needed", c.interpreter_needed),
        ("anonymous", c.anonymous),
        ("id_confirmed", c.id_confirmed),
    ] {
        a.insert(key.into(), RestrictedExpression::new_bool(value));
    }
    a.insert("ring".into(), RestrictedExpression::new_long(c.ring));
    a.insert(
        "consent".into(),
        RestrictedExpression::new_entity_uid(consent_uid),
    );
    if let Some(age) = c.age {
        a.insert("age".into(), RestrictedExpression::new_long(age));
    }
    if let Some(citizen) = &c.citizen {
        a.insert(
            "citizen".into(),
            RestrictedExpression::new_entity_uid(uid("Citizen", citizen)?),
        );
    }
    if let Some(owner) = &c.owner {
        a.insert(
            "owner".into(),
            RestrictedExpression::new_entity_uid(uid("Caseworker", owner)?),
        );
    }
    if let Some(target) = &c.target {
        a.insert("target".into(), municipality(target)?);
    }
    let case_uid = uid("Case", &c.id)?;
    out.push(entity(case_uid.clone(), a)?);
    Ok(case_uid)
}

fn agreement_entity(g: &AgreementFacts) -> Result<(EntityUid, Entity), BuildError> {
    let id = uid("Agreement", &g.id)?;
    let mut a = Attrs::new();
    a.insert("members".into(), municipalities(&g.members)?);
    a.insert("categories".into(), strings(&g.categories));
    a.insert(
        "valid_from".into(),
        RestrictedExpression::new_long(g.valid_from),
    );
    a.insert(
        "valid_to".into(),
        RestrictedExpression::new_long(g.valid_to),
    );
    for (key, value) in [
        ("delegates_authority", g.delegates_authority),
        ("covers_minors", g.covers_minors),
        ("names_family_counselling", g.names_family_counselling),
    ] {
        a.insert(key.into(), RestrictedExpression::new_bool(value));
    }
    Ok((id.clone(), entity(id, a)?))
}

impl Query {
    /// The Cedar request and its entities. With a schema, both are checked against it.
    pub fn to_cedar(&self, schema: Option<&Schema>) -> Result<(Request, Entities), BuildError> {
        let (mut requests, entities) = Query::batch_to_cedar(&[self], schema)?;
        let request = requests
            .pop()
            .ok_or_else(|| BuildError("no request built".into()))?;
        Ok((request, entities))
    }

    /// Requests for several queries over one entity store: a resource or agreement shared by
    /// several queries (the same request asked of every municipality) is built once.
    pub fn batch_to_cedar(
        queries: &[&Query],
        schema: Option<&Schema>,
    ) -> Result<(Vec<Request>, Entities), BuildError> {
        let mut entities: Vec<Entity> = Vec::new();
        let mut principals: Vec<(&Principal, EntityUid)> = Vec::new();
        let mut resources: Vec<(&Resource, EntityUid)> = Vec::new();
        let mut agreements: Vec<(&AgreementFacts, EntityUid)> = Vec::new();
        let mut requests = Vec::with_capacity(queries.len());
        for query in queries {
            let principal = match principals.iter().find(|(p, _)| *p == &query.principal) {
                Some((_, id)) => id.clone(),
                None => {
                    let (id, entity) = principal_entity(&query.principal)?;
                    entities.extend(entity);
                    principals.push((&query.principal, id.clone()));
                    id
                }
            };
            let resource = match resources.iter().find(|(r, _)| *r == &query.resource) {
                Some((_, id)) => id.clone(),
                None => {
                    let id = match &query.resource {
                        Resource::Case(case) => case_entities(case, &mut entities)?,
                        Resource::Municipality { id } => uid("Municipality", id)?,
                        Resource::Federation => uid("Federation", "federation")?,
                    };
                    resources.push((&query.resource, id.clone()));
                    id
                }
            };
            let mut context = Vec::new();
            if let Some(today) = query.context.today {
                context.push(("today".to_owned(), RestrictedExpression::new_long(today)));
            }
            if let Some(agreement) = &query.context.agreement {
                let id = match agreements.iter().find(|(a, _)| *a == agreement) {
                    Some((_, id)) => id.clone(),
                    None => {
                        let (id, entity) = agreement_entity(agreement)?;
                        entities.push(entity);
                        agreements.push((agreement, id.clone()));
                        id
                    }
                };
                context.push((
                    "agreement".to_owned(),
                    RestrictedExpression::new_entity_uid(id),
                ));
            }
            if let Some(h) = &query.context.handler {
                let record = RestrictedExpression::new_record([
                    (
                        "permitted".to_owned(),
                        RestrictedExpression::new_bool(h.permitted),
                    ),
                    ("ring".to_owned(), RestrictedExpression::new_long(h.ring)),
                ])
                .map_err(|e| BuildError(e.to_string()))?;
                context.push(("handler".to_owned(), record));
            }
            let context = Context::from_pairs(context).map_err(|e| BuildError(e.to_string()))?;
            let action = uid("Action", query.action.as_str())?;
            requests.push(
                Request::new(principal, action, resource, context, schema)
                    .map_err(|e| BuildError(e.to_string()))?,
            );
        }
        let entities =
            Entities::from_entities(entities, schema).map_err(|e| BuildError(e.to_string()))?;
        Ok((requests, entities))
    }
}

//! SCIM 2.0 (RFC 7643, RFC 7644) for the municipalities' provisioning clients, as Microsoft
//! Entra ID's provisioning service drives it: `/scim/v2/Users` and `/scim/v2/Groups`.
//!
//! The client authenticates with an integration token of its municipality (`Authorization:
//! Bearer`), created by that municipality's administrator with the scopes `caseworkers:read`
//! and `caseworkers:write` (only its hash is stored; it expires and is revoked like any
//! integration token). A SCIM User is a caseworker of that municipality (`id` = the caseworker
//! id); another municipality's users do not exist for it (404). Groups whose display name is
//! `skill:<category id>`, `Brygga.Supervisor` or `Brygga.ProtectedIdentity` give their members
//! that skill or role. Every change goes through the gate and is audited like the admin API's,
//! naming the token as the actor.
//!
//! Not supported (answered 400 `invalidFilter`, or ignored where RFC 7644 lets a server ignore
//! attributes): filters other than `eq` on `userName`/`externalId` (Users) and
//! `displayName`/`externalId` (Groups), sorting, `attributes`/`excludedAttributes`, `/Bulk`,
//! `/Me`, ETags, deleting groups, and User attributes beyond `userName`, `externalId`,
//! `name.formatted`, `displayName` and `active` (emails, titles, the enterprise extension, …
//! are accepted and not kept).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::AppState;
use super::error::ApiError;
use super::extract::AdminCaller;
use crate::domain::access::Scope;
use crate::domain::ids::{CaseworkerId, MunicipalityCode};
use crate::domain::people::{StaffGroup, StaffMember};
use crate::workflow::{self, CaseworkerChange, NewCaseworker, ProvisioningProof, UserKey};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// The most resources one page holds.
const PAGE_MAX: usize = 100;
/// The capacity of a caseworker created through SCIM, until an administrator sets it.
const DEFAULT_CAPACITY: u32 = 5;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/scim/v2/Users", get(list_users).post(create_user))
        .route(
            "/scim/v2/Users/{id}",
            get(show_user)
                .put(replace_user)
                .patch(patch_user)
                .delete(delete_user),
        )
        .route("/scim/v2/Groups", get(list_groups).post(create_group))
        .route(
            "/scim/v2/Groups/{id}",
            get(show_group).patch(patch_group).put(replace_group),
        )
}

/// A SCIM answer: `application/scim+json`.
struct Scim(StatusCode, Value);

impl IntoResponse for Scim {
    fn into_response(self) -> Response {
        (
            self.0,
            [(header::CONTENT_TYPE, "application/scim+json")],
            self.1.to_string(),
        )
            .into_response()
    }
}

/// A SCIM error (RFC 7644 §3.12).
struct ScimError {
    status: StatusCode,
    scim_type: Option<&'static str>,
    detail: String,
}

impl ScimError {
    fn new(status: StatusCode, scim_type: Option<&'static str>, detail: impl Into<String>) -> Self {
        ScimError {
            status,
            scim_type,
            detail: detail.into(),
        }
    }

    fn bad(scim_type: &'static str, detail: impl Into<String>) -> Self {
        ScimError::new(StatusCode::BAD_REQUEST, Some(scim_type), detail)
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "schemas": [ERROR],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            body["scimType"] = json!(t);
        }
        Scim(self.status, body).into_response()
    }
}

impl From<ApiError> for ScimError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Unauthenticated => ScimError::new(
                StatusCode::UNAUTHORIZED,
                None,
                "a valid bearer token is needed",
            ),
            ApiError::Forbidden => ScimError::new(StatusCode::FORBIDDEN, None, "forbidden"),
            other => {
                let status = other.status();
                ScimError::new(status, None, status.canonical_reason().unwrap_or("error"))
            }
        }
    }
}

impl From<workflow::Error> for ScimError {
    fn from(e: workflow::Error) -> Self {
        use workflow::Error as W;
        match e {
            W::NotFound => ScimError::new(StatusCode::NOT_FOUND, None, "not found"),
            W::Forbidden => ScimError::new(StatusCode::FORBIDDEN, None, "forbidden"),
            W::Duplicate(_) => ScimError::new(
                StatusCode::CONFLICT,
                Some("uniqueness"),
                "a resource with that value exists already",
            ),
            W::InvalidField(field) => ScimError::bad("invalidValue", format!("invalid {field}")),
            W::Unprocessable(code) => ScimError::bad("invalidValue", code),
            other => ScimError::from(ApiError::from(other)),
        }
    }
}

type Answer = Result<Scim, ScimError>;

/// The calling client, its municipality and the gate's proof: reads need
/// `caseworkers:read`, writes `caseworkers:write`.
async fn client(
    app: &AppState,
    caller: Result<AdminCaller, ApiError>,
    scope: Scope,
) -> Result<(MunicipalityCode, ProvisioningProof), ScimError> {
    let admin = caller?.require(scope).await?;
    Ok(app.ctx.authorize_provisioning(&admin).await?)
}

/// The calling client's proof and its municipality's caseworker `id`.
async fn client_member(
    app: &AppState,
    caller: Result<AdminCaller, ApiError>,
    scope: Scope,
    id: &str,
) -> Result<(ProvisioningProof, StaffMember), ScimError> {
    let (municipality, proof) = client(app, caller, scope).await?;
    let member = app
        .ctx
        .provisioned_member(&proof, &municipality, id)
        .await?;
    Ok((proof, member))
}

fn body(bytes: &Bytes) -> Result<Map<String, Value>, ScimError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(ScimError::bad(
            "invalidSyntax",
            "the body is not a JSON object",
        )),
    }
}

/// A boolean as Entra ID sends it: `true`, or the strings `"True"`/`"False"`.
fn boolean(value: &Value) -> Result<bool, ScimError> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(ScimError::bad("invalidValue", "active must be a boolean")),
    }
}

fn text(value: &Value, what: &str) -> Result<String, ScimError> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| ScimError::bad("invalidValue", format!("{what} must be a string")))
}

fn user(m: &StaffMember) -> Value {
    let c = &m.caseworker;
    json!({
        "schemas": [USER],
        "id": c.id,
        "externalId": m.external_id,
        "userName": m.user_name.clone().unwrap_or_else(|| c.id.as_str().to_owned()),
        "name": {"formatted": c.name},
        "displayName": c.name,
        "active": m.active,
        "meta": {
            "resourceType": "User",
            "location": format!("/scim/v2/Users/{}", c.id),
        },
    })
}

fn group(g: &StaffGroup) -> Value {
    json!({
        "schemas": [GROUP],
        "id": g.id,
        "externalId": g.external_id,
        "displayName": g.display_name,
        "members": g.members.iter().map(|m| json!({"value": m})).collect::<Vec<_>>(),
        "meta": {
            "resourceType": "Group",
            "location": format!("/scim/v2/Groups/{}", g.id),
        },
    })
}

#[derive(Deserialize)]
struct ListQuery {
    filter: Option<String>,
    #[serde(rename = "startIndex")]
    start_index: Option<i64>,
    count: Option<i64>,
}

/// `attribute eq "value"`, the only filter supported; the attribute in lower case.
fn equality(filter: &str) -> Result<(String, String), ScimError> {
    let invalid = || {
        ScimError::bad(
            "invalidFilter",
            "only `attribute eq \"value\"` is supported",
        )
    };
    let mut parts = filter.trim().splitn(3, ' ');
    let attribute = parts.next().ok_or_else(invalid)?.to_ascii_lowercase();
    let operator = parts.next().ok_or_else(invalid)?;
    let value = parts.next().ok_or_else(invalid)?.trim();
    if !operator.eq_ignore_ascii_case("eq") {
        return Err(invalid());
    }
    let value = serde_json::from_str::<String>(value).map_err(|_| invalid())?;
    Ok((attribute, value))
}

/// One page of `items` (RFC 7644 §3.4.2.4): `startIndex` from 1, at most `PAGE_MAX`.
fn page(items: Vec<Value>, query: &ListQuery) -> Scim {
    let total = items.len();
    let start = usize::try_from(query.start_index.unwrap_or(1).max(1)).unwrap_or(1);
    let count = usize::try_from(query.count.unwrap_or(PAGE_MAX as i64).max(0))
        .unwrap_or(PAGE_MAX)
        .min(PAGE_MAX);
    let resources: Vec<Value> = items.into_iter().skip(start - 1).take(count).collect();
    Scim(
        StatusCode::OK,
        json!({
            "schemas": [LIST],
            "totalResults": total,
            "itemsPerPage": resources.len(),
            "startIndex": start,
            "Resources": resources,
        }),
    )
}

async fn list_users(
    State(app): State<AppState>,
    caller: Result<AdminCaller, ApiError>,
    Query(query): Query<ListQuery>,
) -> Answer {
    let (municipality, proof) = client(&app, caller, Scope::CaseworkersRead).await?;
    let members = match query.filter.as_deref() {
        None => app.ctx.provisioned_members(&proof, &municipality).await?,
        Some(filter) => {
            let (attribute, value) = equality(filter)?;
            let key = match attribute.as_str() {
                "username" => UserKey::UserName(&value),
                "externalid" => UserKey::ExternalId(&value),
                _ => {
                    return Err(ScimError::bad(
                        "invalidFilter",
                        "filter on userName or externalId",
                    ));
                }
            };
            app.ctx
                .provisioned_find(&proof, &municipality, key)
                .await?
                .into_iter()
                .collect()
        }
    };
    Ok(page(members.iter().map(user).collect(), &query))
}

async fn show_user(
    State(app): State<AppState>,
    caller: Result<AdminCaller, ApiError>,
    Path(id): Path<String>,
) -> Answer {
    let (_, member) = client_member(&app, caller, Scope::CaseworkersRead, &id).await?;
    Ok(Scim(StatusCode::OK, user(&member)))
}

/// What a User body (or a path-less PATCH value) sets.
#[derive(Default)]
struct UserFields {
    user_name: Option<String>,
    external_id: Option<String>,
    name: Option<String>,
    active: Option<bool>,
}

impl UserFields {
    /// One attribute by its SCIM path (case-insensitive); others are not kept.
    fn set(&mut self, path: &str, value: &Value) -> Result<(), ScimError> {
        match path.to_ascii_lowercase().as_str() {
            "username" => self.user_name = Some(text(value, "userName")?),
            "externalid" => self.external_id = Some(text(value, "externalId")?),
            "displayname" | "name.formatted" => self.name = Some(text(value, "name")?),
            "name" => {
                if let Some(formatted) = value.get("formatted") {
                    self.name = Some(text(formatted, "name.formatted")?);
                }
            }
            "active" => self.active = Some(boolean(value)?),
            _ => {}
        }
        Ok(())
    }

    fn of(map: &Map<String, Value>) -> Result<UserFields, ScimError> {
        let mut fields = UserFields::default();
        // `name.formatted` wins over `displayName`, whichever comes first.
        for (key, value) in map {
            if !key.eq_ignore_ascii_case("name") {
                fields.set(key, value)?;
            }
        }
        if let Some(name) = map.get("name") {
            fields.set("name", name)?;
        }
        Ok(fields)
    }

    fn change(self) -> CaseworkerChange {
        CaseworkerChange {
            name: self.name,
            user_name: self.user_name,
            external_id: self.external_id,
            active: self.active,
            // Brought back by the provider: back at work too.
            availability: (self.active == Some(true)).then(|| "available".to_owned()),
            ..CaseworkerChange::default()
        }
    }
}

async fn create_user(
    State(app): State<AppState>,
    caller: Result<AdminCaller, ApiError>,
    bytes: Bytes,
) -> Answer {
    let (municipality, proof) = client(&app, caller, Scope::CaseworkersWrite).await?;
    let fields = UserFields::of(&body(&bytes)?)?;
    let Some(user_name) = fields.user_name.clone() else {
        return Err(ScimError::bad("invalidValue", "userName is required"));
    };
    if app
        .ctx
        .provisioned_find(&proof, &municipality, UserKey::UserName(&user_name))
        .await?
        .is_some()
    {
        return Err(workflow::Error::Duplicate("userName".into()).into());
    }
    let language = app
        .ctx
        .federation()
        .default_language()
        .map(|l| l.as_str().to_owned());
    let member = app
        .ctx
        .provision_create(
            &proof,
            &municipality,
            NewCaseworker {
                name: fields.name.clone().unwrap_or_else(|| user_name.clone()),
                municipality: municipality.as_str().to_owned(),
                skills: Vec::new(),
                languages: language.into_iter().collect(),
                capacity: DEFAULT_CAPACITY,
                user_name: Some(user_name),
                external_id: fields.external_id,
                active: fields.active.unwrap_or(true),
                ..NewCaseworker::default()
            },
        )
        .await?;
    Ok(Scim(StatusCode::CREATED, user(&member)))
}

async fn replace_user(
    State(app): State<AppState>,
    caller: Result<AdminCaller, ApiError>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Answer {
    let (municipality, proof) = client(&app, caller, Scope::CaseworkersWrite).await?;
    let fields = UserFields::of(&body(&bytes)?)?;
    let member = app
        .ctx
        .provisioned_member(&proof, &municipality, &id)
        .await?;
    let changed = app
        .ctx
        .provision_change(&proof, member, fields.change())
        .await?;
    Ok(Scim(StatusCode::OK, user(&changed)))
}

/// The operations of a PatchOp body (RFC 7644 §3.5.2): `(op, path, value)`, `op` in lower case.
fn operations(map: &Map<String, Value>) -> Result<Vec<(String, Option<String>, Value)>, ScimError> {
    let schemas_ok = map
        .get("schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|v| v == PATCH));
    if !schemas_ok {
        return Err(ScimError::bad("invalidSyntax", "a PatchOp body is needed"));
    }
    let ops = map
        .get("Operations")
        .or_else(|| map.get("operations"))
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::bad("invalidSyntax", "Operations is missing"))?;
    ops.iter()
        .map(|op| {
            let name = op
                .get("op")
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
                .filter(|o| ["add", "replace", "remove"].contains(&o.as_str()))
                .ok_or_else(|| {
                    ScimError::bad("invalidSyntax", "op must be add, replace or remove")
                })?;
            let path = op.get("path").and_then(Value::as_str).map(str::to_owned);
            Ok((name, path, op.get("value").cloned().unwrap_or(Value::Null)))
        })
        .collect()
}

async fn patch_user(
    State(app): State<AppState>,
    caller: Result<AdminCaller, ApiError>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Answer {
    let (municipality, proof) = client(&app, caller, Scope::CaseworkersWrite).await?;
    let ops = operations(&body(&bytes)?)?;
    let member = app
        .ctx
        .provisioned_member(&proof, &municipality, &id)
        .await?;
    let mut fields = UserFields::default();
    for (op, path, value) in ops {
        match (op.as_str(), path) {
            // Removing an attribute Brygga keeps for a caseworker is not possible (a name, a
            // userName); others are not kept anyway.
            ("remove", _) => {}
            (_, Some(path)) => fields.set(&path, &value)?,
            (_, None) => match value {
                Value::Object(map) => {
                    let more = UserFields::of(&map)?;
                    fields.user_name = more.user_name.or(fields.user_name);
                    fields.external_id = more.external_id.or(fields.external_id);
                    fields.name = more.name.or(fields.name);
                    fields.active = more.active.or(fields.active);
                }
                _ => {
                    return Err(ScimError::bad(
                        "invalidValue",
                        "a path-less op needs an object",
                    ));
                }
            },
        }
    }
    let changed = app
        .ctx
        .provision_change(&proof, member, fields.change())
        .await?;
    Ok(Scim(StatusCode::OK, user(&changed)))
}

/// Deactivation: the caseworker stays (their history names them) but no longer works.
async fn delete_user(
    State(app): State<AppState>,
    caller: Result<AdminCaller, ApiError>,
    Path(id): Path<String>,
) -> Result<StatusCode, ScimError> {
    let (proof, member) = client_member(&app, caller, Scope::CaseworkersWrite, &id).await?;
    app.ctx
        .provision_change(
            &proof,
            member,
            CaseworkerChange {
                active: Some(false),
                ..CaseworkerChange::default()
            },
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ── Groups ───────────────────────────────────────────────────────────────────────────────

async fn list_groups(
    State(app): State<AppState>,
    caller: Result<AdminCaller, ApiError>,
    Query(query): Query<ListQuery>,
) -> Answer {
    let (municipality, proof) = client(&app, caller, Scope::CaseworkersRead).await?;
    let mut groups = app.ctx.provisioned_groups(&proof, &municipality).await?;
    if let Some(filter) = query.filter.as_deref() {
        let (attribute, value) = equality(filter)?;
        match attribute.as_str() {
            "displayname" => groups.retain(|g| g.display_name == value),
            "externalid" => groups.retain(|g| g.external_id.as_deref() == Some(value.as_str())),
            _ => {
                return Err(ScimError::bad(
                    "invalidFilter",
                    "filter on displayName or externalId",
                ));
            }
        }
    }
    Ok(page(groups.iter().map(group).collect(), &query))
}

async fn show_group(
    State(app): State<AppState>,
    caller: Result<AdminCaller, ApiError>,
    Path(id): Path<String>,
) -> Answer {
    let (municipality, proof) = client(&app, caller, Scope::CaseworkersRead).await?;
    let g = app
        .ctx
        .provisioned_group(&proof, &municipality, &id)
        .await?;
    Ok(Scim(StatusCode::OK, group(&g)))
}

/// The caseworker ids of a `members` value: `[{"value": id}, …]`.
fn member_ids(value: &Value) -> Result<Vec<CaseworkerId>, ScimError> {
    let items = match value {
        Value::Array(items) => items.clone(),
        Value::Object(_) => vec![value.clone()],
        _ => return Err(ScimError::bad("invalidValue", "members must be a list")),
    };
    items
        .iter()
        .map(|m| {
            m.get("value")
                .and_then(Value::as_str)
                .and_then(|v| CaseworkerId::parse(v).ok())
                .ok_or_else(|| ScimError::bad("invalidValue", "a member needs a valid value"))
        })
        .collect()
}

fn group_fields(map: &Map<String, Value>, g: &mut StaffGroup) -> Result<(), ScimError> {
    for (key, value) in map {
        match key.to_ascii_lowercase().as_str() {
            "displayname" => g.display_name = text(value, "displayName")?,
            "externalid" => g.external_id = Some(text(value, "externalId")?),
            "members" => g.members = member_ids(value)?,
            _ => {}
        }
    }
    Ok(())
}

async fn create_group(
    State(app): State<AppState>,
    caller: Result<AdminCaller, ApiError>,
    bytes: Bytes,
) -> Answer {
    let (municipality, proof) = client(&app, caller, Scope::CaseworkersWrite).await?;
    let map = body(&bytes)?;
    let mut g = StaffGroup {
        id: uuid::Uuid::new_v4().to_string(),
        municipality: municipality.clone(),
        display_name: String::new(),
        external_id: None,
        members: Vec::new(),
    };
    group_fields(&map, &mut g)?;
    let stored = app.ctx.provision_group(&proof, None, g).await?;
    Ok(Scim(StatusCode::CREATED, group(&stored)))
}

async fn replace_group(
    State(app): State<AppState>,
    caller: Result<AdminCaller, ApiError>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Answer {
    let (municipality, proof) = client(&app, caller, Scope::CaseworkersWrite).await?;
    let map = body(&bytes)?;
    let before = app
        .ctx
        .provisioned_group(&proof, &municipality, &id)
        .await?;
    let mut after = before.clone();
    after.members = Vec::new();
    group_fields(&map, &mut after)?;
    let stored = app.ctx.provision_group(&proof, Some(before), after).await?;
    Ok(Scim(StatusCode::OK, group(&stored)))
}

/// `new` added to `members`, each once.
fn add_members(members: &mut Vec<CaseworkerId>, new: Vec<CaseworkerId>) {
    for m in new {
        if !members.contains(&m) {
            members.push(m);
        }
    }
}

/// `members[value eq "id"]`: the id a remove names.
fn filtered_member(path: &str) -> Option<Vec<CaseworkerId>> {
    let inner = path.strip_prefix("members[")?.strip_suffix(']')?;
    let (attribute, value) = equality(inner).ok()?;
    (attribute == "value")
        .then(|| CaseworkerId::parse(&value).ok())
        .flatten()
        .map(|id| vec![id])
}

async fn patch_group(
    State(app): State<AppState>,
    caller: Result<AdminCaller, ApiError>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<StatusCode, ScimError> {
    let (municipality, proof) = client(&app, caller, Scope::CaseworkersWrite).await?;
    let ops = operations(&body(&bytes)?)?;
    let before = app
        .ctx
        .provisioned_group(&proof, &municipality, &id)
        .await?;
    let mut after = before.clone();
    for (op, path, value) in ops {
        let path_lower = path.as_deref().map(str::to_ascii_lowercase);
        match (op.as_str(), path_lower.as_deref()) {
            ("add", Some("members")) => add_members(&mut after.members, member_ids(&value)?),
            ("replace", Some("members")) => after.members = member_ids(&value)?,
            ("remove", Some("members")) => {
                if value.is_null() {
                    after.members.clear();
                } else {
                    let gone = member_ids(&value)?;
                    after.members.retain(|m| !gone.contains(m));
                }
            }
            ("remove", Some(p)) if p.starts_with("members[") => {
                let gone = path
                    .as_deref()
                    .and_then(filtered_member)
                    .ok_or_else(|| ScimError::bad("invalidPath", "members[value eq \"…\"]"))?;
                after.members.retain(|m| !gone.contains(m));
            }
            (_, Some("displayname")) => after.display_name = text(&value, "displayName")?,
            (_, Some("externalid")) => after.external_id = Some(text(&value, "externalId")?),
            ("remove", _) => {}
            (_, None) => match &value {
                Value::Object(map) => {
                    let mut added = after.clone();
                    group_fields(map, &mut added)?;
                    if op == "add" && map.keys().any(|k| k.eq_ignore_ascii_case("members")) {
                        add_members(&mut after.members, added.members.clone());
                        added.members = after.members.clone();
                    }
                    after = added;
                }
                _ => {
                    return Err(ScimError::bad(
                        "invalidValue",
                        "a path-less op needs an object",
                    ));
                }
            },
            (_, Some(_)) => {}
        }
    }
    app.ctx.provision_group(&proof, Some(before), after).await?;
    // Entra ID asks for no representation back: 204 (RFC 7644 §3.5.2).
    Ok(StatusCode::NO_CONTENT)
}

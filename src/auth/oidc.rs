//! Sign-in with OpenID Connect (the `openidconnect` crate): the citizens' eID broker and one
//! provider per municipality for its staff.
//!
//! The flow is the authorization code flow with PKCE, `state` and `nonce`. Provider metadata
//! (and with it the signing keys) comes from discovery and is cached for an hour. The ID token
//! is fully verified by `openidconnect` — issuer, audience, expiry (on Brygga's clock), nonce,
//! signature, and an allow-list of signing algorithms that never includes `none` or HMAC — and
//! only then are its further claims read. What the claims mean (identity number, level of
//! assurance, staff role) is decided in `crate::auth::login`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdTokenClaims, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AuthenticationContextClass, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl,
    Nonce, PkceCodeChallenge, PkceCodeVerifier, ProviderMetadataWithLogout, RedirectUrl, Scope,
    TokenResponse,
};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

use crate::clock::Clock;

/// The Swedish eID levels of assurance (Digg's trust framework), as the broker names them in
/// `acr`, and the level each means in Brygga.
pub const DEFAULT_ACR_LEVELS: [(&str, &str); 6] = [
    ("http://id.elegnamnden.se/loa/1.0/loa2", "loa2"),
    ("http://id.elegnamnden.se/loa/1.0/loa3", "loa3"),
    ("http://id.elegnamnden.se/loa/1.0/loa4", "loa4"),
    ("http://id.elegnamnden.se/loa/1.0/eidas-sub", "eidas-sub"),
    (
        "http://id.elegnamnden.se/loa/1.0/eidas-nf-sub",
        "eidas-nf-sub",
    ),
    ("http://id.elegnamnden.se/loa/1.0/eidas-high", "eidas-high"),
];

fn default_citizen_scopes() -> Vec<String> {
    vec![
        "openid".into(),
        "https://id.oidc.se/scope/naturalPersonNumber".into(),
    ]
}

fn default_identity_claims() -> Vec<String> {
    vec![
        "https://id.oidc.se/claim/personalIdentityNumber".into(),
        "https://id.oidc.se/claim/coordinationNumber".into(),
    ]
}

fn default_coordination_level_claim() -> String {
    "https://id.oidc.se/claim/coordinationNumberLevel".into()
}

fn default_eidas_identity_claim() -> String {
    "https://id.oidc.se/claim/eidasPersonIdentifier".into()
}

fn default_acr_values() -> Vec<String> {
    [
        "http://id.elegnamnden.se/loa/1.0/loa3",
        "http://id.elegnamnden.se/loa/1.0/loa4",
    ]
    .map(str::to_owned)
    .to_vec()
}

fn default_acr_levels() -> BTreeMap<String, String> {
    DEFAULT_ACR_LEVELS
        .iter()
        .map(|(uri, level)| ((*uri).to_owned(), (*level).to_owned()))
        .collect()
}

/// The citizens' eID broker (BankID, Freja eID+ … over OpenID Connect).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CitizenLogin {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    #[serde(default = "default_citizen_scopes")]
    pub scopes: Vec<String>,
    /// Where the identity number is, in order: the first claim present wins.
    #[serde(default = "default_identity_claims")]
    pub identity_claims: Vec<String>,
    /// How sure the broker is of a samordningsnummer (`confirmed`, `probable`, `uncertain`);
    /// anything but `confirmed` keeps the citizen's requests at home (R2).
    #[serde(default = "default_coordination_level_claim")]
    pub coordination_level_claim: String,
    /// The eIDAS person identifier of a login without a Swedish number: hashed, it is the
    /// citizen's stable subject (R2, R19). Without it, the provider's `sub` is used.
    #[serde(default = "default_eidas_identity_claim")]
    pub eidas_identity_claim: String,
    /// The levels asked for (`acr_values`).
    #[serde(default = "default_acr_values")]
    pub acr_values: Vec<String>,
    /// `acr` value → Brygga's level (`loa2`, `loa3`, `loa4`, `eidas-sub`, …).
    #[serde(default = "default_acr_levels")]
    pub acr_levels: BTreeMap<String, String>,
}

fn default_staff_scopes() -> Vec<String> {
    vec!["openid".into(), "profile".into()]
}

fn default_role_claim() -> String {
    "roles".into()
}

fn default_caseworker_role() -> String {
    "Brygga.Caseworker".into()
}

fn default_admin_role() -> String {
    "Brygga.MunicipalityAdmin".into()
}

fn default_federation_admin_role() -> String {
    "Brygga.FederationAdmin".into()
}

fn default_caseworker_id_claim() -> String {
    "brygga_caseworker_id".into()
}

/// One municipality's identity provider for its staff (its Entra ID or similar).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StaffLogin {
    /// The kommunkod whose staff log in here.
    pub municipality: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    #[serde(default = "default_staff_scopes")]
    pub scopes: Vec<String>,
    /// The claim holding the user's roles (a string or an array of strings).
    #[serde(default = "default_role_claim")]
    pub role_claim: String,
    #[serde(default = "default_caseworker_role")]
    pub caseworker_role: String,
    #[serde(default = "default_admin_role")]
    pub admin_role: String,
    #[serde(default = "default_federation_admin_role")]
    pub federation_admin_role: String,
    /// The claim holding the caseworker's id in Brygga.
    #[serde(default = "default_caseworker_id_claim")]
    pub caseworker_id_claim: String,
    /// Just-in-time provisioning: a login with the caseworker role whose id claim (or, without
    /// one, subject) names no caseworker of this municipality creates one from the claims
    /// (`name`; no skills until an administrator sets them). Off by default.
    #[serde(default)]
    pub jit_caseworkers: bool,
    /// The capacity of a caseworker provisioned just in time.
    #[serde(default = "default_jit_capacity")]
    pub default_capacity: u32,
}

fn default_jit_capacity() -> u32 {
    5
}

/// Which provider a login goes through.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "municipality", rename_all = "snake_case")]
pub enum ProviderKey {
    Citizen,
    Staff(String),
}

struct Provider {
    issuer: String,
    client_id: String,
    client_secret: String,
    scopes: Vec<String>,
    acr_values: Vec<String>,
    metadata: RwLock<Option<(ProviderMetadataWithLogout, Instant)>>,
}

/// How long discovered metadata (and the signing keys in it) is trusted before it is fetched
/// again.
const METADATA_TTL: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("no such login provider")]
    UnknownProvider,
    #[error("the identity provider could not be reached or answered wrongly: {0}")]
    Provider(String),
    #[error("the login's state does not match")]
    StateMismatch,
    #[error("the identity provider refused: {0}")]
    Refused(String),
    #[error("the ID token is not valid: {0}")]
    InvalidToken(String),
    #[error("configuration: {0}")]
    Config(String),
}

/// A login begun: what the callback needs, kept in the browser's server-side session.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PendingLogin {
    pub provider: ProviderKey,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    /// A local path, checked at the start.
    pub return_to: String,
    /// The municipality a citizen stated (eIDAS without a Swedish number, R2).
    pub stated_municipality: Option<String>,
    /// `caseworker` or `admin`, when staff ask for one role.
    pub role: Option<String>,
    pub started_at: DateTime<Utc>,
}

/// A verified ID token: its subject, level and every claim (read only after verification).
#[derive(Clone, Debug)]
pub struct VerifiedLogin {
    pub subject: String,
    pub acr: Option<String>,
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// The raw ID token, kept for the provider's logout (`id_token_hint`).
    pub id_token: String,
}

/// The configured providers.
pub struct Oidc {
    providers: HashMap<ProviderKey, Provider>,
    http: openidconnect::reqwest::Client,
    redirect_url: String,
    clock: Arc<dyn Clock>,
}

/// Signing algorithms accepted in ID tokens: asymmetric only.
const ALLOWED_ALGS: [CoreJwsSigningAlgorithm; 6] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
];

impl Oidc {
    pub fn new(
        citizen: Option<&CitizenLogin>,
        staff: &[StaffLogin],
        public_url: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<Oidc, OidcError> {
        let mut providers = HashMap::new();
        if let Some(c) = citizen {
            providers.insert(
                ProviderKey::Citizen,
                Provider {
                    issuer: c.issuer.clone(),
                    client_id: c.client_id.clone(),
                    client_secret: c.client_secret.clone(),
                    scopes: c.scopes.clone(),
                    acr_values: c.acr_values.clone(),
                    metadata: RwLock::new(None),
                },
            );
        }
        for s in staff {
            let key = ProviderKey::Staff(s.municipality.clone());
            if providers.contains_key(&key) {
                return Err(OidcError::Config(format!(
                    "two staff logins for municipality {}",
                    s.municipality
                )));
            }
            providers.insert(
                key,
                Provider {
                    issuer: s.issuer.clone(),
                    client_id: s.client_id.clone(),
                    client_secret: s.client_secret.clone(),
                    scopes: s.scopes.clone(),
                    acr_values: Vec::new(),
                    metadata: RwLock::new(None),
                },
            );
        }
        for p in providers.values() {
            IssuerUrl::new(p.issuer.clone())
                .map_err(|e| OidcError::Config(format!("issuer {}: {e}", p.issuer)))?;
        }
        let http = openidconnect::reqwest::ClientBuilder::new()
            // The provider's answers are followed by us, never redirected elsewhere (SSRF).
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| OidcError::Config(e.to_string()))?;
        Ok(Oidc {
            providers,
            http,
            redirect_url: format!("{public_url}/auth/callback"),
            clock,
        })
    }

    pub fn has(&self, key: &ProviderKey) -> bool {
        self.providers.contains_key(key)
    }

    fn provider(&self, key: &ProviderKey) -> Result<&Provider, OidcError> {
        self.providers.get(key).ok_or(OidcError::UnknownProvider)
    }

    async fn metadata(&self, provider: &Provider) -> Result<ProviderMetadataWithLogout, OidcError> {
        if let Some((metadata, at)) = provider.metadata.read().await.as_ref()
            && at.elapsed() < METADATA_TTL
        {
            return Ok(metadata.clone());
        }
        let issuer = IssuerUrl::new(provider.issuer.clone())
            .map_err(|e| OidcError::Config(e.to_string()))?;
        let metadata = ProviderMetadataWithLogout::discover_async(issuer, &self.http)
            .await
            .map_err(|e| OidcError::Provider(format!("discovery: {e}")))?;
        *provider.metadata.write().await = Some((metadata.clone(), Instant::now()));
        Ok(metadata)
    }

    /// Forgets the cached metadata, so that rotated signing keys are fetched again.
    async fn forget_metadata(&self, provider: &Provider) {
        *provider.metadata.write().await = None;
    }

    fn client(
        &self,
        provider: &Provider,
        metadata: ProviderMetadataWithLogout,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        OidcError,
    > {
        let redirect = RedirectUrl::new(self.redirect_url.clone())
            .map_err(|e| OidcError::Config(format!("public_url: {e}")))?;
        Ok(CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(provider.client_id.clone()),
            Some(ClientSecret::new(provider.client_secret.clone())),
        )
        .set_redirect_uri(redirect))
    }

    /// The provider's authorization URL for a new login, and what to keep until the callback.
    pub async fn begin(
        &self,
        key: &ProviderKey,
        return_to: String,
        stated_municipality: Option<String>,
        role: Option<String>,
    ) -> Result<(String, PendingLogin), OidcError> {
        let provider = self.provider(key)?;
        let metadata = self.metadata(provider).await?;
        let client = self.client(provider, metadata)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in provider.scopes.iter().filter(|s| s.as_str() != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        for acr in &provider.acr_values {
            request = request.add_auth_context_value(AuthenticationContextClass::new(acr.clone()));
        }
        let (url, state, nonce) = request.url();
        Ok((
            url.to_string(),
            PendingLogin {
                provider: key.clone(),
                state: state.secret().clone(),
                nonce: nonce.secret().clone(),
                pkce_verifier: verifier.secret().clone(),
                return_to,
                stated_municipality,
                role,
                started_at: self.clock.now(),
            },
        ))
    }

    /// Exchanges the code and verifies the ID token; `state` must be the pending login's.
    pub async fn complete(
        &self,
        pending: &PendingLogin,
        code: &str,
        state: &str,
    ) -> Result<VerifiedLogin, OidcError> {
        if state != pending.state {
            return Err(OidcError::StateMismatch);
        }
        let provider = self.provider(&pending.provider)?;
        let metadata = self.metadata(provider).await?;
        let client = self.client(provider, metadata)?;
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| OidcError::Provider(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| OidcError::Refused(e.to_string()))?;
        let id_token = token
            .id_token()
            .ok_or_else(|| OidcError::InvalidToken("no ID token in the answer".into()))?;
        let clock = self.clock.clone();
        let verifier = client
            .id_token_verifier()
            .set_allowed_algs(ALLOWED_ALGS)
            .set_time_fn(move || clock.now());
        let nonce = Nonce::new(pending.nonce.clone());
        let claims: CoreIdTokenClaims = match id_token.claims(&verifier, &nonce) {
            Ok(claims) => claims.clone(),
            Err(e) => {
                // A key the cached metadata does not know may be a rotated one: next time,
                // discover again.
                self.forget_metadata(provider).await;
                return Err(OidcError::InvalidToken(e.to_string()));
            }
        };
        let raw = id_token.to_string();
        let payload = raw
            .split('.')
            .nth(1)
            .ok_or_else(|| OidcError::InvalidToken("malformed".into()))?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .map_err(|e| OidcError::InvalidToken(format!("payload: {e}")))?;
        let all: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&bytes)
            .map_err(|e| OidcError::InvalidToken(format!("payload: {e}")))?;
        Ok(VerifiedLogin {
            subject: claims.subject().as_str().to_owned(),
            acr: claims.auth_context_ref().map(|a| a.as_str().to_owned()),
            claims: all,
            id_token: raw,
        })
    }

    /// The provider's end-session URL (RP-initiated logout), when it offers one.
    pub async fn logout_url(
        &self,
        key: &ProviderKey,
        id_token: &str,
        post_logout_redirect: &str,
    ) -> Option<String> {
        let provider = self.provider(key).ok()?;
        let metadata = self.metadata(provider).await.ok()?;
        let endpoint = metadata
            .additional_metadata()
            .end_session_endpoint
            .clone()?;
        let mut url = endpoint.url().clone();
        url.query_pairs_mut()
            .append_pair("id_token_hint", id_token)
            .append_pair("client_id", &provider.client_id)
            .append_pair("post_logout_redirect_uri", post_logout_redirect);
        Some(url.to_string())
    }
}

// Test OpenID Connect issuers for Brygga's relying-party tests (see README.md).
//
// One process, two issuers on 127.0.0.1, OS-chosen ports:
//   - "issuer": a real provider (oidc-provider 9) with dynamic registration, PKCE, RP-initiated
//     logout, Swedish eID acr values and a scriptable login form;
//   - "forge":  a tiny hand-written issuer that hands out deliberately broken ID tokens.
// Prints exactly one JSON line on stdout, {"issuer":"http://127.0.0.1:P","forge":"http://127.0.0.1:Q"},
// then runs until SIGTERM or SIGINT. With --watch-stdin it also exits when stdin reaches EOF, so
// a parent that dies without killing it does not leave it behind.
//
// stdout carries nothing but that line: oidc-provider prints notices with console.info, so every
// console method is sent to stderr before the library is loaded.

import * as crypto from 'node:crypto';
import * as http from 'node:http';

const toStderr = (...args) => process.stderr.write(`${args.map(String).join(' ')}\n`);
console.log = toStderr;
console.info = toStderr;
console.debug = toStderr;
// Two warnings are expected on every start of a test provider and only add noise.
const EXPECTED_WARNINGS = [
  'oidc-provider WARNING: Unsupported runtime',
  'oidc-provider WARNING: a quick start development-only in-memory adapter is used',
];
console.warn = (...args) => {
  const text = args.map(String).join(' ');
  if (!EXPECTED_WARNINGS.some((prefix) => text.includes(prefix))) toStderr(text);
};

const { default: Provider, errors: oidcErrors } = await import('oidc-provider');
const jose = await import('jose');

// ---------------------------------------------------------------------------------------------
// Shared constants

const LOA = 'http://id.elegnamnden.se/loa/1.0';
const ACR_VALUES = [
  `${LOA}/loa2`,
  `${LOA}/loa3`,
  `${LOA}/loa4`,
  `${LOA}/eidas-sub`,
  `${LOA}/eidas-nf-sub`,
  `${LOA}/eidas-high`,
];
const DEFAULT_ACR = `${LOA}/loa3`;

const NATURAL_PERSON_NUMBER_SCOPE = 'https://id.oidc.se/scope/naturalPersonNumber';
const PERSONAL_IDENTITY_NUMBER = 'https://id.oidc.se/claim/personalIdentityNumber';
const COORDINATION_NUMBER = 'https://id.oidc.se/claim/coordinationNumber';
const COORDINATION_NUMBER_LEVEL = 'https://id.oidc.se/claim/coordinationNumberLevel';
// Draft 01 of the Swedish attribute specification's eIDAS person identity; Brygga reads the claim
// it is configured with, else `sub`.
const EIDAS_PERSON_IDENTIFIER = 'https://id.oidc.se/claim/eidasPersonIdentifier';

// Claims by account id; `sub` is the account id.
const ACCOUNTS = {
  'citizen-anna': { [PERSONAL_IDENTITY_NUMBER]: '198112189876', name: 'Anna Andersson' },
  'citizen-protected': { [PERSONAL_IDENTITY_NUMBER]: '197001011233' },
  'citizen-minor': { [PERSONAL_IDENTITY_NUMBER]: '201005057896' },
  'citizen-coordination': { [COORDINATION_NUMBER]: '198102782342', [COORDINATION_NUMBER_LEVEL]: 'confirmed' },
  'citizen-coordination-uncertain': { [COORDINATION_NUMBER]: '199004721230', [COORDINATION_NUMBER_LEVEL]: 'uncertain' },
  'citizen-protected-abroad': { [PERSONAL_IDENTITY_NUMBER]: '198503034566' },
  'citizen-stockholm': { [PERSONAL_IDENTITY_NUMBER]: '199207073454' },
  'citizen-unregistered': { [PERSONAL_IDENTITY_NUMBER]: '196606125679' },
  'citizen-eidas': { name: 'Élodie Martin', [EIDAS_PERSON_IDENTIFIER]: 'FR/SE/4f1c2b9a77' },
  'citizen-eidas-other': { name: 'Jonas Becker', [EIDAS_PERSON_IDENTIFIER]: 'DE/SE/81d0aa4c13' },
  'staff-1275-01': { roles: ['Brygga.Caseworker'], brygga_caseworker_id: '1275-01' },
  'staff-1275-admin': { roles: ['Brygga.MunicipalityAdmin'] },
  'staff-federation-admin': { roles: ['Brygga.FederationAdmin'] },
  'staff-unknown': { roles: ['Brygga.Caseworker'], brygga_caseworker_id: '9999-99' },
  'staff-norole': { roles: [] },
  // No caseworker id: known only by its subject, provisioned just in time where enabled.
  'staff-1275-new': { roles: ['Brygga.Caseworker'], name: 'Nils Nyström' },
};

const HTML_ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const esc = (value) => String(value).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title></head>
<body><h1>${esc(title)}</h1>
${body}
</body></html>
`;
}

function send(res, status, contentType, body, headers = {}) {
  res.writeHead(status, {
    'Content-Type': contentType,
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(body);
}
const sendHtml = (res, status, html) => send(res, status, 'text/html; charset=utf-8', html);
const sendJson = (res, status, value) => send(res, status, 'application/json', JSON.stringify(value));

async function readForm(req, limit = 64 * 1024) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) throw new Error('request body too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

async function listen(server) {
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return `http://127.0.0.1:${server.address().port}`;
}

// ---------------------------------------------------------------------------------------------
// A. The real provider

async function startRealProvider() {
  const server = http.createServer();
  const issuer = await listen(server);

  const { privateKey } = await jose.generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
  const signingJwk = {
    ...(await jose.exportJWK(privateKey)),
    kid: `brygga-test-${crypto.randomBytes(6).toString('hex')}`,
    alg: 'RS256',
    use: 'sig',
  };

  const configuration = {
    jwks: { keys: [signingJwk] },
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },

    responseTypes: ['code'],
    pkce: { required: () => true },
    acrValues: ACR_VALUES,
    conformIdTokenClaims: false,
    scopes: ['openid', 'profile', NATURAL_PERSON_NUMBER_SCOPE, 'brygga_staff'],
    claims: {
      acr: null,
      auth_time: null,
      iss: null,
      sid: null,
      openid: ['sub'],
      profile: ['name'],
      [NATURAL_PERSON_NUMBER_SCOPE]: [
        PERSONAL_IDENTITY_NUMBER,
        COORDINATION_NUMBER,
        COORDINATION_NUMBER_LEVEL,
        EIDAS_PERSON_IDENTIFIER,
      ],
      brygga_staff: ['roles', 'brygga_caseworker_id', 'name'],
    },

    features: {
      devInteractions: { enabled: false },
      registration: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        // Only reached if the automatic confirmation below fails: a form that submits itself.
        async logoutSource(ctx, form) {
          ctx.body = page('Signing out', `${form.replace('</form>', '<input type="hidden" name="logout" value="yes"/></form>')}
<script>document.forms[0].submit()</script>
<noscript><button type="submit" form="op.logoutForm">Sign out</button></noscript>`);
        },
        async postLogoutSuccessSource(ctx) {
          ctx.body = page('Signed out', '<p>You are signed out.</p>');
        },
      },
    },

    // Explicit lifetimes (seconds); the defaults are functions that print a notice when called.
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 60,
      IdToken: 3600,
      Interaction: 600,
      Session: 3600,
      Grant: 3600,
    },

    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },

    async findAccount(ctx, sub) {
      if (!Object.hasOwn(ACCOUNTS, sub)) return undefined;
      return {
        accountId: sub,
        async claims() {
          return { sub, ...structuredClone(ACCOUNTS[sub]) };
        },
      };
    },

    // Consent never stops the flow: every requested scope and claim is granted.
    async loadExistingGrant(ctx) {
      const { oidc } = ctx;
      const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
      let grant = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
      if (!grant || grant.accountId !== oidc.session.accountId) {
        grant = new oidc.provider.Grant({ clientId: oidc.client.clientId, accountId: oidc.session.accountId });
      }
      grant.addOIDCScope([...oidc.requestParamOIDCScopes].join(' '));
      if (oidc.requestParamClaims.size) grant.addOIDCClaims([...oidc.requestParamClaims]);
      await grant.save();
      return grant;
    },

    clientBasedCORS: () => false,

    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page('Error', Object.entries(out)
        .map(([key, value]) => `<p><code>${esc(key)}</code>: ${esc(value)}</p>`).join('\n'));
    },
  };

  const provider = new Provider(issuer, configuration);
  provider.on('server_error', (ctx, err) => console.error('oidc-provider server_error:', err));

  // RP-initiated logout without a confirmation step: GET /session/end renders the provider's
  // confirmation form (or, without a session, an auto-submitting form); this middleware submits
  // that form itself ("yes, sign me out", carrying the caller's cookies) and answers with the
  // confirmation's own 303 and cookie changes, so a plain HTTP client that follows redirects ends
  // at post_logout_redirect_uri?state=... (or /session/end/success without one). Errors (an
  // unregistered post_logout_redirect_uri, a bad id_token_hint) stay 400 answers.
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path !== '/session/end' || ctx.status !== 200 || typeof ctx.body !== 'string') return;
    const xsrf = /name="xsrf" value="([^"]*)"/.exec(ctx.body)?.[1];
    if (!xsrf) return;

    const cookies = new Map();
    for (const part of (ctx.get('cookie') || '').split(';')) {
      const at = part.indexOf('=');
      if (at > 0) cookies.set(part.slice(0, at).trim(), part.slice(at + 1).trim());
    }
    const issued = [ctx.response.get('set-cookie') || []].flat();
    for (const cookie of issued) {
      const pair = cookie.split(';', 1)[0];
      const at = pair.indexOf('=');
      if (at > 0) cookies.set(pair.slice(0, at).trim(), pair.slice(at + 1).trim());
    }

    let confirmed;
    try {
      confirmed = await fetch(`${issuer}/session/end/confirm`, {
        method: 'POST',
        redirect: 'manual',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          cookie: [...cookies].map(([name, value]) => `${name}=${value}`).join('; '),
        },
        body: new URLSearchParams({ xsrf, logout: 'yes' }).toString(),
      });
    } catch (err) {
      console.error('automatic logout confirmation failed:', err);
      return;
    }
    const location = confirmed.headers.get('location');
    if (confirmed.status !== 303 || !location) {
      console.error(`automatic logout confirmation answered ${confirmed.status}`);
      return;
    }
    const replaced = confirmed.headers.getSetCookie();
    const replacedNames = new Set(replaced.map((cookie) => cookie.split('=', 1)[0].trim()));
    ctx.response.set('set-cookie', [
      ...issued.filter((cookie) => !replacedNames.has(cookie.split('=', 1)[0].trim())),
      ...replaced,
    ]);
    ctx.body = '';
    ctx.status = 303;
    ctx.set('location', location);
  });

  const callback = provider.callback();

  async function interaction(req, res, uid, action) {
    let details;
    try {
      details = await provider.interactionDetails(req, res);
    } catch (err) {
      if (err instanceof oidcErrors.SessionNotFound || err instanceof oidcErrors.InvalidRequest) {
        sendHtml(res, 400, page('Login failed', `<p>${esc(err.message)}: the interaction is unknown, expired or the interaction cookie is missing.</p>`));
        return;
      }
      throw err;
    }
    if (details.uid !== uid) {
      sendHtml(res, 400, page('Login failed', '<p>The interaction cookie belongs to another interaction.</p>'));
      return;
    }
    const { prompt } = details;

    if (req.method === 'GET' && action === '') {
      if (prompt.name === 'consent') {
        // Not reached with loadExistingGrant above, but never ask: grant what was asked.
        const grant = details.grantId
          ? await provider.Grant.find(details.grantId)
          : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
        if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
        if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
        const grantId = await grant.save();
        await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
        return;
      }
      const options = ACR_VALUES.map((acr) => `<option value="${esc(acr)}"${acr === DEFAULT_ACR ? ' selected' : ''}>${esc(acr)}</option>`).join('');
      sendHtml(res, 200, page('Test login', `<form method="post" action="/interaction/${esc(uid)}/login">
<label>account <input name="account" list="accounts" autofocus></label>
<datalist id="accounts">${Object.keys(ACCOUNTS).map((id) => `<option value="${esc(id)}">`).join('')}</datalist>
<label>acr <select name="acr">${options}</select></label>
<button type="submit">Sign in</button>
</form>
<form method="post" action="/interaction/${esc(uid)}/abort"><button type="submit">Cancel</button></form>
<p>client ${esc(details.params.client_id)}, scope ${esc(details.params.scope ?? '')}, acr_values ${esc(details.params.acr_values ?? '')}</p>`));
      return;
    }

    if (req.method === 'POST' && action === '/login') {
      if (prompt.name !== 'login') {
        sendHtml(res, 400, page('Login failed', `<p>This interaction asks for ${esc(prompt.name)}, not login.</p>`));
        return;
      }
      const form = await readForm(req);
      const accountId = form.get('account') ?? '';
      const acr = form.get('acr') || DEFAULT_ACR;
      if (!Object.hasOwn(ACCOUNTS, accountId)) {
        sendHtml(res, 400, page('Login failed', `<p>Unknown account ${esc(JSON.stringify(accountId))}.</p>`));
        return;
      }
      if (!ACR_VALUES.includes(acr)) {
        sendHtml(res, 400, page('Login failed', `<p>Unknown acr ${esc(JSON.stringify(acr))}.</p>`));
        return;
      }
      await provider.interactionFinished(req, res, { login: { accountId, acr } }, { mergeWithLastSubmission: false });
      return;
    }

    if (req.method === 'POST' && action === '/abort') {
      await provider.interactionFinished(req, res, {
        error: 'access_denied',
        error_description: 'End-User aborted interaction',
      }, { mergeWithLastSubmission: false });
      return;
    }

    sendHtml(res, 404, page('Not found', '<p>No such interaction step.</p>'));
  }

  server.on('request', (req, res) => {
    const { pathname } = new URL(req.url, issuer);
    const match = /^\/interaction\/([^/]+)(\/login|\/abort)?\/?$/.exec(pathname);
    if (!match) {
      callback(req, res);
      return;
    }
    interaction(req, res, match[1], match[2] ?? '').catch((err) => {
      console.error('interaction failed:', err);
      if (!res.headersSent) sendHtml(res, 500, page('Login failed', `<p>${esc(err.message)}</p>`));
      else res.destroy();
    });
  });

  return { issuer, server };
}

// ---------------------------------------------------------------------------------------------
// B. The forge: a hand-written issuer with deliberately broken ID tokens

const SCENARIOS = new Set([
  'ok', 'wrong-nonce', 'wrong-aud', 'wrong-iss', 'expired', 'bad-signature', 'alg-none', 'hs256',
  'low-loa', 'no-number',
]);

async function startForge() {
  const server = http.createServer();
  const issuer = await listen(server);

  const k1 = await jose.generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
  const k2 = await jose.generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
  const kid = `forge-k1-${crypto.randomBytes(6).toString('hex')}`;
  const publicJwk = { ...(await jose.exportJWK(k1.publicKey)), kid, alg: 'RS256', use: 'sig' };

  const codes = new Map(); // code -> { scenario, clientId, nonce, codeChallenge, redirectUri, expires }
  const b64url = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const random = () => crypto.randomBytes(32).toString('base64url');

  const discovery = {
    issuer,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${issuer}/token`,
    jwks_uri: `${issuer}/jwks`,
    response_types_supported: ['code'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256'],
    scopes_supported: ['openid'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    code_challenge_methods_supported: ['S256'],
  };

  async function idToken(entry, clientSecret) {
    const now = Math.floor(Date.now() / 1000);
    const { scenario } = entry;
    const claims = {
      iss: issuer,
      aud: entry.clientId,
      sub: 'forged-user',
      iat: now,
      exp: now + 300,
      nonce: entry.nonce,
      acr: `${LOA}/loa3`,
      [PERSONAL_IDENTITY_NUMBER]: '198112189876',
    };
    if (entry.nonce === undefined) delete claims.nonce;
    switch (scenario) {
      case 'wrong-nonce': claims.nonce = 'not-the-nonce-you-sent'; break;
      case 'wrong-aud': claims.aud = 'someone-else'; break;
      case 'wrong-iss': claims.iss = 'http://evil.example'; break;
      case 'expired': claims.iat = now - 7200; claims.exp = now - 3600; break;
      case 'low-loa': claims.acr = `${LOA}/loa2`; break;
      case 'no-number': delete claims[PERSONAL_IDENTITY_NUMBER]; break;
      default: break;
    }
    if (scenario === 'alg-none') {
      return `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claims)}.`;
    }
    if (scenario === 'hs256') {
      return new jose.SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .sign(new TextEncoder().encode(clientSecret));
    }
    const key = scenario === 'bad-signature' ? k2.privateKey : k1.privateKey;
    return new jose.SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid }).sign(key);
  }

  function clientCredentials(req, form) {
    const header = req.headers.authorization;
    if (header && /^basic /i.test(header)) {
      const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
      const at = decoded.indexOf(':');
      if (at < 0) return undefined;
      const decode = (s) => decodeURIComponent(s.replace(/\+/g, ' '));
      try {
        return { clientId: decode(decoded.slice(0, at)), clientSecret: decode(decoded.slice(at + 1)) };
      } catch {
        return undefined;
      }
    }
    if (form.has('client_id') && form.has('client_secret')) {
      return { clientId: form.get('client_id'), clientSecret: form.get('client_secret') };
    }
    return undefined;
  }

  async function token(req, res) {
    const form = await readForm(req);
    if (form.get('grant_type') !== 'authorization_code') {
      sendJson(res, 400, { error: 'unsupported_grant_type' });
      return;
    }
    const client = clientCredentials(req, form);
    if (!client) {
      send(res, 401, 'application/json', JSON.stringify({ error: 'invalid_client' }), { 'WWW-Authenticate': 'Basic realm="forge"' });
      return;
    }
    const code = form.get('code') ?? '';
    const entry = codes.get(code);
    codes.delete(code); // single use, whatever happens next
    if (!entry || entry.expires < Date.now()) {
      sendJson(res, 400, { error: 'invalid_grant', error_description: 'unknown, expired or used code' });
      return;
    }
    if (entry.clientId !== client.clientId) {
      sendJson(res, 400, { error: 'invalid_grant', error_description: 'code was issued to another client' });
      return;
    }
    if (form.get('redirect_uri') !== entry.redirectUri) {
      sendJson(res, 400, { error: 'invalid_grant', error_description: 'redirect_uri mismatch' });
      return;
    }
    const verifier = form.get('code_verifier') ?? '';
    const expected = crypto.createHash('sha256').update(verifier).digest('base64url');
    if (!verifier || expected !== entry.codeChallenge) {
      sendJson(res, 400, { error: 'invalid_grant', error_description: 'PKCE verification failed' });
      return;
    }
    sendJson(res, 200, {
      access_token: random(),
      token_type: 'Bearer',
      expires_in: 300,
      id_token: await idToken(entry, client.clientSecret),
    });
  }

  function authorize(res, params) {
    const scenario = params.get('scenario') ?? 'ok';
    const clientId = params.get('client_id');
    const redirectUri = params.get('redirect_uri');
    const codeChallenge = params.get('code_challenge');
    const problem = (!SCENARIOS.has(scenario) && `unknown scenario ${JSON.stringify(scenario)}`)
      || (!clientId && 'client_id missing')
      || (!redirectUri && 'redirect_uri missing')
      || (!URL.canParse(redirectUri) && 'redirect_uri is not a URL')
      || (!codeChallenge && 'code_challenge missing')
      || (params.get('code_challenge_method') !== 'S256' && 'code_challenge_method must be S256');
    if (problem) {
      sendJson(res, 400, { error: 'invalid_request', error_description: problem });
      return;
    }
    const code = random();
    codes.set(code, {
      scenario,
      clientId,
      nonce: params.get('nonce') ?? undefined,
      codeChallenge,
      redirectUri,
      expires: Date.now() + 60_000,
    });
    const location = new URL(redirectUri);
    location.searchParams.set('code', code);
    if (params.has('state')) location.searchParams.set('state', params.get('state'));
    send(res, 302, 'text/plain; charset=utf-8', '', { Location: location.href });
  }

  server.on('request', (req, res) => {
    const url = new URL(req.url, issuer);
    const route = `${req.method} ${url.pathname}`;
    const handle = async () => {
      switch (route) {
        case 'GET /.well-known/openid-configuration': sendJson(res, 200, discovery); break;
        case 'GET /jwks': sendJson(res, 200, { keys: [publicJwk] }); break;
        case 'GET /authorize': authorize(res, url.searchParams); break;
        case 'POST /token': await token(req, res); break;
        default: sendJson(res, 404, { error: 'not_found' });
      }
    };
    handle().catch((err) => {
      console.error('forge failed:', err);
      if (!res.headersSent) sendJson(res, 500, { error: 'server_error' });
      else res.destroy();
    });
  });

  return { issuer, server };
}

// ---------------------------------------------------------------------------------------------

const real = await startRealProvider();
const forge = await startForge();

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  for (const { server } of [real, forge]) {
    server.close();
    server.closeAllConnections();
  }
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
if (process.argv.includes('--watch-stdin')) {
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
}

process.stdout.write(`${JSON.stringify({ issuer: real.issuer, forge: forge.issuer })}\n`);

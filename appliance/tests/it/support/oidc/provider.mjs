// A real, certified OpenID Connect provider (panva/oidc-provider) for Outpost's
// integration tests. Loopback only, plain HTTP, in-memory state, static accounts.
//
//   PORT=0 CLIENT_ID=outpost CLIENT_SECRET=s3cret \
//   REDIRECT_URI=http://127.0.0.1:8080/auth/oidc/callback node provider.mjs
//
// Environment:
//   PORT           port to listen on at 127.0.0.1 (0 = any free port; default 0)
//   ISSUER         issuer URL (default http://127.0.0.1:<actual port>)
//   CLIENT_ID      the single registered client (required)
//   CLIENT_SECRET  its secret (required)
//   REDIRECT_URI   its redirect URI; several may be given separated by commas (required)
//   POST_LOGOUT_REDIRECT_URI  optional, for RP-initiated logout
//   EXIT_WITH_STDIN  "1": exit when stdin is closed (spawn with a piped stdin)
//
// When ready it prints exactly one line to stdout: `listening on <ISSUER>`.
// See README.md for how a non-browser client drives the login.

import * as crypto from 'node:crypto';
import * as http from 'node:http';

import Provider from 'oidc-provider';

function fail(message) {
  process.stderr.write(`oidc test provider: ${message}\n`);
  process.exit(2);
}

const env = (name) => {
  const value = process.env[name];
  return value === undefined || value === '' ? undefined : value;
};

const CLIENT_ID = env('CLIENT_ID') ?? fail('CLIENT_ID is required');
const CLIENT_SECRET = env('CLIENT_SECRET') ?? fail('CLIENT_SECRET is required');
const REDIRECT_URIS = (env('REDIRECT_URI') ?? fail('REDIRECT_URI is required'))
  .split(',').map((s) => s.trim()).filter(Boolean);
const POST_LOGOUT_REDIRECT_URI = env('POST_LOGOUT_REDIRECT_URI');
const PORT = Number.parseInt(env('PORT') ?? '0', 10);
if (!Number.isInteger(PORT) || PORT < 0 || PORT > 65535) fail(`bad PORT ${process.env.PORT}`);

// ---------------------------------------------------------------- accounts

const ACCOUNTS = new Map(Object.entries({
  alice: {
    password: 'alice-pass',
    claims: {
      name: 'Alice Admin',
      preferred_username: 'alice',
      email: 'alice@outpost.test',
      email_verified: true,
      groups: ['outpost-admins', 'platform'],
    },
  },
  bob: {
    password: 'bob-pass',
    claims: {
      name: 'Bob Builder',
      preferred_username: 'bob',
      email: 'bob@outpost.test',
      email_verified: true,
      groups: ['platform'],
    },
  },
  carol: {
    password: 'carol-pass',
    claims: {
      name: 'Carol Contractor',
      preferred_username: 'carol',
      email: 'carol@outpost.test',
      email_verified: true,
      groups: [],
    },
  },
  // A name no Outpost user name can be made of.
  zed: {
    password: 'zed-pass',
    claims: {
      name: 'Zed Zero',
      preferred_username: 'Ω',
      email: 'zed@outpost.test',
      email_verified: true,
      groups: [],
    },
  },
}));

function passwordMatches(expected, given) {
  const a = crypto.createHash('sha256').update(String(expected)).digest();
  const b = crypto.createHash('sha256').update(String(given)).digest();
  return crypto.timingSafeEqual(a, b);
}

/** The account id (= `sub`) for a good login/password pair, else undefined. */
function authenticate(login, password) {
  const account = ACCOUNTS.get(String(login ?? '').trim());
  if (!account || !passwordMatches(account.password, password ?? '')) return undefined;
  return String(login).trim();
}

async function findAccount(_ctx, sub) {
  const account = ACCOUNTS.get(sub);
  if (!account) return undefined;
  return {
    accountId: sub,
    // The provider filters these by granted scope / requested claims.
    async claims() {
      return { sub, ...structuredClone(account.claims) };
    },
  };
}

// ---------------------------------------------------------------- provider

function signingKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), use: 'sig', alg: 'RS256' };
}

/**
 * Consent is never asked: whatever OIDC scopes / claims the (single, first-party)
 * client requests are granted to the signed-in account.
 */
async function loadExistingGrant(ctx) {
  const { oidc } = ctx;
  const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
  let grant = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
  if (!grant) {
    grant = new oidc.provider.Grant({ clientId: oidc.client.clientId, accountId: oidc.account.accountId });
  }
  grant.addOIDCScope([...oidc.requestParamOIDCScopes].join(' '));
  if (oidc.requestParamClaims.size) grant.addOIDCClaims([...oidc.requestParamClaims]);
  await grant.save();
  return grant;
}

function buildProvider(issuer) {
  const client = {
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    redirect_uris: REDIRECT_URIS,
    response_types: ['code'],
    grant_types: ['authorization_code'],
    // oidc-provider accepts client_secret_basic and client_secret_post interchangeably for
    // a client registered with either one of them.
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'RS256',
  };
  if (POST_LOGOUT_REDIRECT_URI) client.post_logout_redirect_uris = [POST_LOGOUT_REDIRECT_URI];

  const provider = new Provider(issuer, {
    clients: [client],
    jwks: { keys: [signingKey()] },
    findAccount,
    loadExistingGrant,
    scopes: ['openid', 'profile', 'email', 'groups'],
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
    },
    // Put scope-granted claims in the ID token too, not only at userinfo.
    conformIdTokenClaims: false,
    // PKCE required for every authorization request, S256 only (no `plain`).
    pkce: { methods: ['S256'], required: () => true },
    responseTypes: ['code'],
    clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
    features: {
      devInteractions: { enabled: false },
      claimsParameter: { enabled: true },
      rpInitiatedLogout: { enabled: true },
    },
    interactions: {
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    cookies: {
      // Signed cookies (each has a `<name>.sig` companion). oidc-provider adds `Secure`
      // only when the request itself is HTTPS, so none is set here on plain HTTP.
      keys: [crypto.randomBytes(32).toString('base64url')],
      // The default `SameSite=None` for `_session` is refused by browsers without `Secure`
      // (and makes oidc-provider add `_session.legacy` duplicates): use Lax on HTTP.
      long: { httpOnly: true, sameSite: 'lax' },
      short: { httpOnly: true, sameSite: 'lax' },
    },
    ttl: {
      AuthorizationCode: 60,
      AccessToken: 3600,
      IdToken: 3600,
      Interaction: 600,
      Session: 3600,
      Grant: 3600,
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page('Error', `<h1>${esc(out.error)}</h1><p id="error">${esc(out.error_description ?? '')}</p>`);
    },
  });

  for (const event of ['server_error', 'authorization.error', 'grant.error', 'backchannel.error']) {
    provider.on(event, (_ctx, err) => {
      const detail = err?.error_detail ?? err?.cause?.message ?? '';
      process.stderr.write(`oidc test provider: ${event}: ${err?.message} ${err?.error_description ?? ''}${detail ? ` (${detail})` : ''}\n`);
    });
  }
  return provider;
}

// ---------------------------------------------------------------- interactions

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
})[c]);

function page(title, body) {
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>${esc(title)}</title></head>
<body>
${body}
</body></html>
`;
}

function loginPage(uid, { login = '', error } = {}) {
  return page('Sign-in', `<h1>Sign-in</h1>
${error ? `<p id="error" class="error">${esc(error)}</p>\n` : ''}<form id="login" method="post" action="/interaction/${esc(uid)}/login" autocomplete="off">
  <input type="text" name="login" value="${esc(login)}" placeholder="login" required autofocus>
  <input type="password" name="password" placeholder="password" required>
  <button type="submit">Sign-in</button>
</form>
<p><a href="/interaction/${esc(uid)}/abort">Cancel</a></p>`);
}

function send(res, status, html) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(html);
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

/** Grants whatever a consent prompt says is missing (only reached with prompt=consent). */
async function autoConsent(provider, details) {
  const { prompt: { details: missing }, params, session } = details;
  let grant = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
  if (!grant) grant = new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  if (missing.missingResourceScopes) {
    for (const [indicator, scope] of Object.entries(missing.missingResourceScopes)) {
      grant.addResourceScope(indicator, scope.join(' '));
    }
  }
  return grant.save();
}

// GET  /interaction/:uid         → login form (or auto-consent → 303 to /auth/:uid)
// POST /interaction/:uid/login   → 303 to /auth/:uid on success; 200 + form + error otherwise
// GET  /interaction/:uid/abort   → 303 to /auth/:uid, ending in error=access_denied
async function interaction(provider, req, res, url) {
  const match = /^\/interaction\/([^/]+)(?:\/(login|abort))?\/?$/.exec(url.pathname);
  if (!match) return send(res, 404, page('Not found', '<h1>not found</h1>'));
  const [, uid, action] = match;

  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (err) {
    // Missing/expired `_interaction` cookie, or unknown interaction.
    return send(res, 400, page('Error', `<h1>invalid_request</h1><p id="error">${esc(err.error_description ?? err.message)}</p>`));
  }
  if (details.uid !== uid) {
    return send(res, 400, page('Error', '<h1>invalid_request</h1><p id="error">interaction cookie does not match the URL</p>'));
  }

  const { prompt } = details;

  if (action === 'abort') {
    return provider.interactionFinished(req, res, {
      error: 'access_denied', error_description: 'End-User aborted interaction',
    }, { mergeWithLastSubmission: false });
  }

  if (prompt.name === 'consent') {
    const grantId = await autoConsent(provider, details);
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }
  if (prompt.name !== 'login') {
    return send(res, 501, page('Error', `<h1>unsupported prompt ${esc(prompt.name)}</h1>`));
  }

  if (req.method === 'GET' && !action) {
    return send(res, 200, loginPage(uid));
  }
  if (req.method === 'POST' && action === 'login') {
    const form = await readForm(req);
    const login = form.get('login') ?? '';
    const accountId = authenticate(login, form.get('password'));
    if (!accountId) {
      return send(res, 200, loginPage(uid, { login, error: 'Invalid login or password.' }));
    }
    return provider.interactionFinished(req, res, {
      login: { accountId, amr: ['pwd'], acr: 'urn:outpost:test:pwd', remember: true },
    }, { mergeWithLastSubmission: false });
  }
  res.setHeader('Allow', action === 'login' ? 'POST' : 'GET');
  return send(res, 405, page('Error', '<h1>method not allowed</h1>'));
}

// ---------------------------------------------------------------- server

const server = http.createServer();
server.listen(PORT, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = (env('ISSUER') ?? `http://127.0.0.1:${port}`).replace(/\/+$/, '');
  const provider = buildProvider(issuer);
  const callback = provider.callback();

  server.on('request', (req, res) => {
    const url = new URL(req.url, issuer);
    if (url.pathname.startsWith('/interaction/')) {
      interaction(provider, req, res, url).catch((err) => {
        process.stderr.write(`oidc test provider: interaction error: ${err?.stack ?? err}\n`);
        if (!res.headersSent) send(res, 500, page('Error', '<h1>server_error</h1>'));
        else res.end();
      });
      return;
    }
    callback(req, res);
  });

  process.stdout.write(`listening on ${issuer}\n`);
});
server.on('error', (err) => fail(`cannot listen on 127.0.0.1:${PORT}: ${err.message}`));

// EXIT_WITH_STDIN=1: exit when stdin reaches EOF, so a test that spawns this with a piped
// stdin never leaves it running, even if the test process itself dies.
if (env('EXIT_WITH_STDIN') === '1') {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections?.();
    process.exit(0);
  });
}

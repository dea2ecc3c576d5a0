// End-to-end check of provider.mjs without a browser, exactly as a Rust test drives it.
//
//   node flow-check.mjs
//     starts its own provider (PORT=0) and stops it at the end, or
//   ISSUER=http://127.0.0.1:PORT CLIENT_ID=… CLIENT_SECRET=… REDIRECT_URI=… node flow-check.mjs
//     checks an already running one.
//
// The cookie jar below deliberately behaves like tests/it/support/http.rs: one name → value
// map, every cookie sent on every request, a cookie dropped when it is set to "" (or
// max-age=0), redirects never followed. Exits non-zero if any check fails.

import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

let passed = 0;
let failed = 0;
function check(label, ok, detail = '') {
  if (ok) passed += 1; else failed += 1;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${label}${detail ? ` — ${detail}` : ''}`);
}
const step = (text) => console.log(`\n## ${text}`);

// ------------------------------------------------------------------ provider

let child;
let ISSUER = process.env.ISSUER;
let CLIENT_ID = process.env.CLIENT_ID ?? 'outpost';
let CLIENT_SECRET = process.env.CLIENT_SECRET ?? 'outpost-secret';
let REDIRECT_URI = process.env.REDIRECT_URI ?? 'http://127.0.0.1:9/auth/oidc/callback';

if (!ISSUER) {
  child = spawn(process.execPath, [fileURLToPath(new URL('./provider.mjs', import.meta.url))], {
    env: { ...process.env, PORT: '0', CLIENT_ID, CLIENT_SECRET, REDIRECT_URI },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  const timer = setTimeout(() => { console.error('provider did not get ready in 10 s'); process.exit(1); }, 10_000);
  for await (const line of lines) {
    const m = /^listening on (\S+)$/.exec(line);
    if (m) { ISSUER = m[1]; break; }
  }
  clearTimeout(timer);
  console.log(`started provider.mjs (pid ${child.pid}): listening on ${ISSUER}`);
}

// ------------------------------------------------------------------ helpers

class Jar {
  cookies = new Map();
  header() { return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '); }
  store(res) {
    for (const sc of res.headers.getSetCookie()) {
      const pair = sc.split(';')[0];
      const i = pair.indexOf('=');
      const name = i < 0 ? pair : pair.slice(0, i);
      const value = i < 0 ? '' : pair.slice(i + 1);
      if (value === '' || /max-age=0/i.test(sc)) this.cookies.delete(name); else this.cookies.set(name, value);
    }
  }
}

async function request(jar, method, url, { form, headers = {} } = {}) {
  const h = { ...headers };
  if (jar && jar.cookies.size) h.cookie = jar.header();
  let body;
  if (form) {
    body = new URLSearchParams(form).toString();
    h['content-type'] = 'application/x-www-form-urlencoded';
  }
  const res = await fetch(new URL(url, ISSUER), { method, headers: h, body, redirect: 'manual' });
  if (jar) jar.store(res);
  const text = await res.text();
  return { status: res.status, location: res.headers.get('location'), text, headers: res.headers };
}

const b64u = (buf) => Buffer.from(buf).toString('base64url');
const formAction = (html) => /<form[^>]*\saction="([^"]+)"/.exec(html)?.[1]?.replace(/&amp;/g, '&');

function decodeJwt(jwt) {
  const [h, p, s] = jwt.split('.');
  return { header: JSON.parse(Buffer.from(h, 'base64url')), payload: JSON.parse(Buffer.from(p, 'base64url')), signed: `${h}.${p}`, sig: Buffer.from(s, 'base64url') };
}

let discovery;
function authUrl({ state, nonce, challenge, scope = 'openid profile email groups', extra = {} }) {
  const u = new URL(discovery.authorization_endpoint);
  const params = {
    client_id: CLIENT_ID, response_type: 'code', scope, redirect_uri: REDIRECT_URI, state, nonce,
    ...(challenge ? { code_challenge: challenge, code_challenge_method: 'S256' } : {}),
    ...extra,
  };
  for (const [k, v] of Object.entries(params)) if (v !== undefined) u.searchParams.set(k, v);
  return u.toString();
}

function pkcePair() {
  const verifier = b64u(crypto.randomBytes(32));
  return { verifier, challenge: crypto.createHash('sha256').update(verifier).digest('base64url') };
}

const basic = `Basic ${Buffer.from(`${encodeURIComponent(CLIENT_ID)}:${encodeURIComponent(CLIENT_SECRET)}`).toString('base64')}`;

async function token(code, verifier, how = 'basic') {
  const form = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier };
  if (how === 'post') Object.assign(form, { client_id: CLIENT_ID, client_secret: CLIENT_SECRET });
  const res = await request(null, 'POST', discovery.token_endpoint, { form, headers: how === 'basic' ? { authorization: basic } : {} });
  return { ...res, json: JSON.parse(res.text) };
}

/** Authorization request → login form → POST → resume → code. Logs each hop. */
async function signIn(jar, login, password, { state = b64u(crypto.randomBytes(12)), nonce = b64u(crypto.randomBytes(12)) } = {}) {
  const { verifier, challenge } = pkcePair();
  const url = authUrl({ state, nonce, challenge });
  let r = await request(jar, 'GET', url);
  console.log(`GET  ${url.replace(ISSUER, '')}\n  -> ${r.status} Location: ${r.location}`);
  const interaction = r.location;
  r = await request(jar, 'GET', interaction);
  const action = formAction(r.text);
  console.log(`GET  ${interaction}\n  -> ${r.status} form action="${action}" fields: ${[...r.text.matchAll(/name="([^"]+)"/g)].map((m) => m[1]).join(', ')}`);
  console.log(`     cookies held: ${[...jar.cookies.keys()].join(', ')}`);
  r = await request(jar, 'POST', action, { form: { login, password } });
  console.log(`POST ${action} login=${login}\n  -> ${r.status} Location: ${r.location ?? '(none)'}`);
  if (r.status !== 303) return { r, state, nonce, verifier };
  const resume = r.location;
  r = await request(jar, 'GET', resume);
  console.log(`GET  ${resume}\n  -> ${r.status} Location: ${r.location}`);
  const back = new URL(r.location);
  return { r, state, nonce, verifier, back, code: back.searchParams.get('code') };
}

async function verifyIdToken(idToken) {
  const { header, payload, signed, sig } = decodeJwt(idToken);
  const jwks = JSON.parse((await request(null, 'GET', discovery.jwks_uri)).text);
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  const ok = !!jwk && crypto.verify('sha256', Buffer.from(signed), crypto.createPublicKey({ key: jwk, format: 'jwk' }), sig);
  return { header, payload, ok };
}

// ------------------------------------------------------------------ checks

try {
  step('discovery');
  const d = await request(null, 'GET', `${ISSUER}/.well-known/openid-configuration`);
  discovery = JSON.parse(d.text);
  console.log(JSON.stringify({
    issuer: discovery.issuer, authorization_endpoint: discovery.authorization_endpoint, token_endpoint: discovery.token_endpoint,
    userinfo_endpoint: discovery.userinfo_endpoint, jwks_uri: discovery.jwks_uri,
    code_challenge_methods_supported: discovery.code_challenge_methods_supported,
    token_endpoint_auth_methods_supported: discovery.token_endpoint_auth_methods_supported,
    scopes_supported: discovery.scopes_supported,
  }, null, 1));
  check('discovery 200, issuer matches', d.status === 200 && discovery.issuer === ISSUER);
  check('S256 is the only PKCE method', JSON.stringify(discovery.code_challenge_methods_supported) === '["S256"]');

  step('alice: code flow with PKCE, client_secret_basic');
  const alice = new Jar();
  const a = await signIn(alice, 'alice', 'alice-pass');
  check('final redirect goes to REDIRECT_URI', a.back && `${a.back.origin}${a.back.pathname}` === REDIRECT_URI);
  check('state echoed, iss present', a.back?.searchParams.get('state') === a.state && a.back?.searchParams.get('iss') === ISSUER);
  check('got a code', !!a.code, a.code);

  const wrong = await token(a.code, pkcePair().verifier);
  console.log(`POST /token (wrong code_verifier) -> ${wrong.status} ${wrong.text}`);
  check('(a) wrong code_verifier refused', wrong.status === 400 && wrong.json.error === 'invalid_grant');

  const good = await token(a.code, a.verifier);
  console.log(`POST /token (right code_verifier) -> ${good.status} keys: ${Object.keys(good.json).join(', ')}`);
  check('token exchange 200 with id_token', good.status === 200 && !!good.json.id_token && good.json.token_type === 'Bearer');
  const idt = await verifyIdToken(good.json.id_token);
  console.log('id_token header:', JSON.stringify(idt.header));
  console.log('id_token payload:', JSON.stringify(idt.payload, null, 1));
  const p = idt.payload;
  check('id_token RS256 signature verifies against jwks_uri', idt.ok && idt.header.alg === 'RS256');
  check('iss / aud / sub', p.iss === ISSUER && p.aud === CLIENT_ID && p.sub === 'alice');
  check('nonce echoed', p.nonce === a.nonce);
  check('groups in id_token', JSON.stringify(p.groups) === '["outpost-admins","platform"]');
  check('email, name, preferred_username in id_token', p.email === 'alice@outpost.test' && p.name === 'Alice Admin' && p.preferred_username === 'alice' && p.email_verified === true);

  const again = await token(a.code, a.verifier);
  console.log(`POST /token (same code again) -> ${again.status} ${again.text}`);
  check('(b) code reuse refused', again.status === 400 && again.json.error === 'invalid_grant');

  const ui = await request(null, 'GET', discovery.userinfo_endpoint, { headers: { authorization: `Bearer ${good.json.access_token}` } });
  console.log(`GET /me -> ${ui.status} ${ui.text}`);
  check('access token revoked after code reuse (userinfo 401)', ui.status === 401);

  step('alice again in the same cookie jar: the _session cookie skips the login form');
  {
    const { verifier, challenge } = pkcePair();
    const r = await request(alice, 'GET', authUrl({ state: 's2', nonce: 'n2', challenge }));
    console.log(`GET /auth?… -> ${r.status} Location: ${r.location}`);
    check('existing session: straight to the redirect with a code', r.status === 303 && new URL(r.location).searchParams.has('code'));
    const t = await token(new URL(r.location).searchParams.get('code'), verifier, 'post');
    const ui2 = await request(null, 'GET', discovery.userinfo_endpoint, { headers: { authorization: `Bearer ${t.json.access_token}` } });
    console.log(`GET /me -> ${ui2.status} ${ui2.text}`);
    check('userinfo has the same claims', ui2.status === 200 && JSON.parse(ui2.text).groups?.length === 2);
    const forced = await request(alice, 'GET', authUrl({ state: 's3', nonce: 'n3', challenge, extra: { prompt: 'login' } }));
    check('prompt=login forces the form again', forced.status === 303 && forced.location.startsWith('/interaction/'), forced.location);
    let c = await request(alice, 'GET', authUrl({ state: 's4', nonce: 'n4', challenge, extra: { prompt: 'consent' } }));
    c = await request(alice, 'GET', c.location);
    console.log(`prompt=consent: GET /interaction/… -> ${c.status} Location: ${c.location}`);
    c = await request(alice, 'GET', c.location);
    check('prompt=consent is auto-granted (no screen)', c.status === 303 && new URL(c.location).searchParams.has('code'), c.location);
  }

  step('(c) wrong password, then bob with client_secret_post');
  {
    const jar = new Jar();
    const { verifier, challenge } = pkcePair();
    let r = await request(jar, 'GET', authUrl({ state: 'sb', nonce: 'nb', challenge }));
    const interaction = r.location;
    r = await request(jar, 'GET', interaction);
    const action = formAction(r.text);
    r = await request(jar, 'POST', action, { form: { login: 'bob', password: 'alice-pass' } });
    const err = /<p id="error"[^>]*>([^<]*)</.exec(r.text)?.[1];
    console.log(`POST ${action} login=bob password=wrong -> ${r.status} Location: ${r.location ?? '(none)'} error: "${err}"`);
    check('(c) wrong password: 200, form again with error, no redirect/code', r.status === 200 && !r.location && !!err && formAction(r.text) === action);
    r = await request(jar, 'POST', action, { form: { login: 'nobody', password: 'x' } });
    check('unknown login: same refusal', r.status === 200 && !r.location);
    r = await request(jar, 'POST', action, { form: { login: 'bob', password: 'bob-pass' } });
    check('same form then accepts the right password', r.status === 303, r.location);
    r = await request(jar, 'GET', r.location);
    const code = new URL(r.location).searchParams.get('code');
    const t = await token(code, verifier, 'post');
    const bp = decodeJwt(t.json.id_token).payload;
    console.log('bob id_token:', JSON.stringify({ sub: bp.sub, email: bp.email, groups: bp.groups, nonce: bp.nonce }));
    check('client_secret_post accepted; bob groups ["platform"]', t.status === 200 && JSON.stringify(bp.groups) === '["platform"]' && bp.nonce === 'nb');
  }

  step('carol (no groups)');
  {
    const c = await signIn(new Jar(), 'carol', 'carol-pass');
    const t = await token(c.code, c.verifier);
    const cp = decodeJwt(t.json.id_token).payload;
    console.log('carol id_token:', JSON.stringify({ sub: cp.sub, email: cp.email, groups: cp.groups }));
    check('carol has groups = []', t.status === 200 && Array.isArray(cp.groups) && cp.groups.length === 0);
  }

  step('refusals at the authorization endpoint');
  {
    const jar = new Jar();
    let r = await request(jar, 'GET', authUrl({ state: 'np', nonce: 'np' }));
    console.log(`no code_challenge -> ${r.status} Location: ${r.location}`);
    check('PKCE required (error redirect, no code)', r.status === 303 && new URL(r.location).searchParams.get('error') === 'invalid_request');
    r = await request(jar, 'GET', authUrl({ state: 'pl', nonce: 'pl', extra: { code_challenge: 'x'.repeat(43), code_challenge_method: 'plain' } }));
    check('code_challenge_method=plain refused', r.status === 303 && new URL(r.location).searchParams.get('error') === 'invalid_request');
    r = await request(jar, 'GET', `${discovery.authorization_endpoint}?client_id=${CLIENT_ID}&response_type=code&scope=openid&redirect_uri=${encodeURIComponent('http://127.0.0.1:9/evil')}&code_challenge=${pkcePair().challenge}&code_challenge_method=S256`);
    check('unregistered redirect_uri: error page, no redirect', r.status === 400 && !r.location);
    const { challenge } = pkcePair();
    r = await request(jar, 'GET', authUrl({ state: 'ab', nonce: 'ab', challenge }));
    r = await request(jar, 'GET', `${r.location}/abort`);
    r = await request(jar, 'GET', r.location);
    console.log(`cancel -> ${r.status} Location: ${r.location}`);
    check('cancel link ends in error=access_denied with state', new URL(r.location).searchParams.get('error') === 'access_denied' && new URL(r.location).searchParams.get('state') === 'ab');
    const bad = await request(null, 'POST', discovery.token_endpoint, { form: { grant_type: 'authorization_code', code: 'x', redirect_uri: REDIRECT_URI, code_verifier: 'y'.repeat(43) }, headers: { authorization: `Basic ${Buffer.from(`${CLIENT_ID}:nope`).toString('base64')}` } });
    check('wrong client secret refused (401 invalid_client)', bad.status === 401 && JSON.parse(bad.text).error === 'invalid_client');
  }
} catch (err) {
  failed += 1;
  console.log(`FAIL unexpected error: ${err?.stack ?? err}`);
} finally {
  if (child) { child.kill('SIGTERM'); await once(child, 'exit'); }
}

console.log(`\nflow-check: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);

// session-keeper as an npm user gets it: pkg/ packed with `npm pack`, installed into
// e2e/vite-app/node_modules, imported by its package name and bundled by Vite, next to the
// real @supabase/supabase-js. The Supabase bridge is driven against the reference backend's
// GoTrue-compatible /auth/v1 endpoints in headless Chromium. Every test asserts on the
// server's own counters (GET /__dev/stats) as well as on the page.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, apiTraffic, backendAndBrowser, buildViteApp, sleep } from './support.js';

const DEMO = ['demo@example.com', 'demo'];
// Chromium logs every non-2xx response a page's fetch receives as a console error. The only
// one a test may cause on purpose is the single 401 of the revoked token (the revoke test).
const REFUSED_401 = /Failed to load resource: the server responded with a status of 401/;

let built;
const live = backendAndBrowser(async () => {
  built = await buildViteApp();
  return ['--app', built.dist];
});

/** A fresh context (own localStorage, so own Supabase session) on the Vite page. */
async function openApp(query = '') {
  const context = await live.browser.newContext();
  const page = await context.newPage();
  page.problems = [];
  page.lines = [];
  page.on('console', (message) => {
    page.lines.push(`${message.type()}: ${message.text()}`);
    if (message.type() === 'error') page.problems.push(`${message.text()} (${message.location().url})`);
  });
  page.on('pageerror', (error) => page.problems.push(`pageerror: ${error.message}`));
  await page.goto(`${live.backend.url}/app/${query}`);
  await page.waitForSelector('html[data-ready]');
  const ready = await page.getAttribute('html', 'data-ready');
  assert.equal(ready, 'true', `page failed to start:\n${page.lines.join('\n')}`);
  return { context, page };
}

async function signIn(page) {
  const result = await page.evaluate(([email, password]) => window.app.signIn(email, password), DEMO);
  assert.equal(result.error, null, `sign-in failed: ${JSON.stringify(result.error)}`);
  await page.waitForFunction(() => window.app.state().isAuthenticated, null, { timeout: 5_000 });
  return result;
}

const state = (page) => page.evaluate(() => window.app.state());
const call = (page, path) => page.evaluate((p) => window.app.call(p), path);

/** No console errors or page errors, except those `allowed` matches (each used at most `max`). */
function assertNoProblems(page, allowed = null, max = 0) {
  const unexpected = page.problems.filter((p) => !(allowed && allowed.test(p)));
  assert.deepEqual(unexpected, [], 'no console or page errors');
  const tolerated = page.problems.length - unexpected.length;
  assert.ok(tolerated <= max, `${tolerated} tolerated console errors, at most ${max}: ${page.problems}`);
}

async function assertNoTokenInEvents(page) {
  const { tokensSeen, leaked } = await page.evaluate(() => window.app.tokenLeaks());
  assert.ok(tokensSeen >= 1, 'the page saw Supabase tokens');
  assert.equal(leaked, 0, 'no token appears in an event detail');
}

test('the packed package ships every file the glue imports', () => {
  const glue = readFileSync(join(ROOT, 'pkg', 'session_keeper.js'), 'utf8');
  const imported = [...glue.matchAll(/from\s*["']\.\/([^"']+)["']/g)].map((m) => m[1]);
  const fetched = [...glue.matchAll(/new URL\(\s*["']([^"']+)["']\s*,\s*import\.meta\.url\)/g)].map((m) => m[1]);
  assert.ok(imported.some((p) => p.startsWith('snippets/')), `the glue imports its snippets: ${imported}`);
  assert.deepEqual(fetched, ['session_keeper_bg.wasm']);
  for (const file of [...imported, ...fetched, 'session_keeper.d.ts', 'package.json']) {
    assert.ok(built.files.includes(file), `${file} is in the npm tarball (files: ${built.files.join(', ')})`);
  }
  assert.equal(built.manifest.name, 'session-keeper');
});

test('the npm-imported page signs in through supabase-js and calls the API with the session token', async () => {
  await live.backend.tokenLifetime(3600);
  const { context, page } = await openApp();
  await live.backend.resetStats();
  const { expiresAt } = await signIn(page);
  const answer = await call(page, '/api/users/me');
  const stats = await live.backend.stats();
  const after = await state(page);

  assert.equal(answer.status, 200, JSON.stringify(answer));
  assert.equal(answer.body.email, 'demo@example.com');
  assert.equal(stats.logins, 1, 'one password grant');
  assert.equal(stats.unauthorized, 0, 'the bearer was the session token, not the anon key');
  assert.equal(stats.refreshes, 0, 'a fresh 1 h token needs no refresh');
  assert.equal(stats.by_path['/api/users/me'], 1);
  assert.equal(after.managerRequests, 1, 'the manager sent exactly the one call');
  assert.equal(after.tokenExpiresAt, expiresAt * 1000, 'the manager holds the token Supabase issued');
  assert.equal(after.refreshSessionCalls, 0);
  await assertNoTokenInEvents(page);
  assertNoProblems(page);
  await context.close();
});

test('short tokens: a busy page outlives 3+ token lifetimes, refreshed by supabase-js through the bridge', async (t) => {
  const lifetime = 4;
  await live.backend.tokenLifetime(lifetime);
  const { context, page } = await openApp('?margin=1000');
  await signIn(page);
  await live.backend.resetStats();
  const started = Date.now();
  await page.evaluate(() => window.app.startBusy('/api/data', { concurrency: 2, pauseMs: 100 }));
  await sleep(13_000);
  const results = await page.evaluate(() => window.app.stopBusy());
  const elapsed = Date.now() - started;
  const after = await state(page);
  const stats = await live.backend.stats();
  const refreshedEvents = after.events.filter((e) => e.type === 'tokenRefreshed' && e.at >= started);
  t.diagnostic(`${elapsed} ms busy: ${stats.by_path['/api/data']} API calls, ${stats.refreshes} refresh grants, `
    + `${refreshedEvents.length} tokenRefreshed (${[...new Set(refreshedEvents.map((e) => e.detail.reason))]}), `
    + `provider calls ${JSON.stringify(after.providerCalls.filter((c) => c.at >= started).map((c) => c.reason ?? c.method))}`);

  assert.deepEqual(Object.keys(results), ['200'], `every call answered 200: ${JSON.stringify(results)}`);
  assert.equal(stats.unauthorized, 0, 'no request was refused');
  assert.equal(stats.expired_tokens, 0, 'no expired token reached the server');
  assert.ok(stats.by_path['/api/data'] >= 50, `only ${stats.by_path['/api/data']} API calls`);
  // A 4 s TTL with exp in whole seconds gives tokens of 3-4 s; refreshed 1 s before exp,
  // one lives at least 2 s at the manager. Upper bound: one refresh per 2 s of the window,
  // plus one, plus one for supabase-js's own 30 s auto-refresh tick. Every getSession() the
  // bridge makes refreshes (90 s margin > 4 s TTL), so a bridge that asked Supabase per
  // request would show ~250 here. Measured: 4 in every run.
  const bound = Math.floor(elapsed / 2_000) + 2;
  assert.ok(stats.refreshes >= 3, `${stats.refreshes} refresh grants in ${elapsed} ms: fewer than 3 lifetimes`);
  assert.ok(stats.refreshes <= bound, `${stats.refreshes} refresh grants in ${elapsed} ms, bound ${bound}`);
  assert.equal(stats.by_path['/auth/v1/token'], stats.refreshes, 'no failed grant');
  assert.equal(after.refreshSessionCalls, 0, 'no forced refresh was needed');
  // Each grant reached the manager (adopted from TOKEN_REFRESHED); one may be in flight.
  assert.ok(Math.abs(refreshedEvents.length - stats.refreshes) <= 1,
    `${refreshedEvents.length} tokenRefreshed events for ${stats.refreshes} grants`);
  assert.deepEqual(after.events.filter((e) => e.type === 'refreshFailed' || e.type === 'sessionExpired'), []);
  assert.equal(after.isAuthenticated, true);
  assert.ok(after.tokenExpiresAt > Date.now(), 'the manager holds a live token');
  await assertNoTokenInEvents(page);
  assertNoProblems(page);
  await context.close();
});

test('a revoked token: one 401, one refreshSession() through the bridge, the call resolves 200', async () => {
  await live.backend.tokenLifetime(3600);
  const { context, page } = await openApp();
  await signIn(page);
  assert.equal((await call(page, '/api/users/me')).status, 200);
  const before = await state(page);
  await live.backend.resetStats();

  await live.backend.revoke();
  const answer = await call(page, '/api/users/me');
  const stats = await live.backend.stats();
  const after = await state(page);

  assert.equal(answer.status, 200, JSON.stringify(answer));
  assert.equal(answer.body.email, 'demo@example.com');
  assert.equal(stats.revoked_tokens, 1, 'the old token was refused once');
  assert.equal(stats.unauthorized, 1, 'exactly one 401');
  assert.equal(stats.refreshes, 1, 'exactly one refresh grant');
  assert.equal(stats.by_path['/api/users/me'], 2, 'the call and its single retry');
  assert.equal(after.refreshSessionCalls - before.refreshSessionCalls, 1, 'one supabase.auth.refreshSession()');
  assert.equal(after.managerRequests - before.managerRequests, 2);
  assert.deepEqual(after.events.filter((e) => e.type === 'refreshFailed' || e.type === 'sessionExpired'), []);
  assert.equal(after.isAuthenticated, true);
  await assertNoTokenInEvents(page);
  assertNoProblems(page, REFUSED_401, 1);
  await context.close();
});

test('supabase-js refreshing on its own: the manager adopts the token without a second refresh', async () => {
  await live.backend.tokenLifetime(3600);
  const { context, page } = await openApp();
  await signIn(page);
  // Into the next second, so the new token's exp (whole seconds) differs from the old one's.
  await sleep(1_100);
  const before = await state(page);
  await live.backend.resetStats();

  const refreshed = await page.evaluate(() => window.app.refreshSession());
  assert.equal(refreshed.error, null);
  await page.waitForFunction((old) => window.app.state().tokenExpiresAt !== old, before.tokenExpiresAt,
    { timeout: 3_000 });
  await sleep(1_000); // room for a (wrong) follow-up refresh by the manager
  const answer = await call(page, '/api/users/me');
  const after = await state(page);
  const stats = await live.backend.stats();
  const newEvents = after.events.slice(before.events.length);

  assert.equal(after.tokenExpiresAt, refreshed.expiresAt * 1000, 'the manager holds the new token');
  assert.ok(after.tokenExpiresAt > before.tokenExpiresAt);
  assert.deepEqual(newEvents.filter((e) => e.type === 'tokenRefreshed').map((e) => e.detail),
    [{ expiresAt: refreshed.expiresAt * 1000, reason: 'provider' }]);
  assert.equal(stats.refreshes, 1, 'the page\'s refresh only, none by the manager');
  assert.equal(stats.by_path['/auth/v1/token'], 1);
  assert.equal(after.refreshSessionCalls - before.refreshSessionCalls, 1, 'only the page called refreshSession()');
  assert.equal(answer.status, 200);
  assert.equal(stats.unauthorized, 0);
  await assertNoTokenInEvents(page);
  assertNoProblems(page);
  await context.close();
});

test('supabase.auth.signOut() stops the manager: no refresh, no request, fetchWithAuth rejects', async (t) => {
  const lifetime = 2;
  await live.backend.tokenLifetime(lifetime);
  const { context, page } = await openApp('?margin=500');
  await signIn(page);
  await live.backend.resetStats();
  await sleep(2_500);
  const running = await live.backend.stats();
  assert.ok(running.refreshes >= 1, 'the manager was refreshing before sign-out');

  const beforeSignOut = await state(page);
  const out = await page.evaluate(() => window.app.signOut());
  assert.equal(out.error, null, JSON.stringify(out.error));
  // auth-js notifies SIGNED_OUT before signOut() resolves: the manager knows at once,
  // from the subscription, not from a later getToken() that finds no session.
  const atSignOut = await state(page);
  const signedOut = await live.backend.stats();
  assert.equal(atSignOut.isAuthenticated, false, 'signed out as soon as signOut() resolved');
  const askedDuringSignOut = atSignOut.providerCalls.slice(beforeSignOut.providerCalls.length);
  assert.ok(askedDuringSignOut.every((c) => c.method !== 'getToken' || c.forceRefresh === false),
    `no forced refresh around sign-out: ${JSON.stringify(askedDuringSignOut)}`);
  await sleep(3 * lifetime * 1_000);
  const callAt = Date.now();
  const answer = await call(page, '/api/users/me');
  const later = await live.backend.stats();
  const after = await state(page);
  t.diagnostic(`events from sign-out on: ${JSON.stringify(after.events.slice(beforeSignOut.events.length)
    .map((e) => [e.type, e.detail, e.at - callAt]))} (ms relative to the final call); ${running.refreshes} refresh grants in the 2.5 s before it`);

  assert.equal(signedOut.by_path['/auth/v1/logout'], 1, 'supabase-js told the server');
  assert.equal(later.refreshes, signedOut.refreshes, 'no refresh grant after sign-out');
  assert.equal(apiTraffic(later), apiTraffic(signedOut), 'no API or auth request after sign-out');
  assert.equal(later.requests, signedOut.requests, 'no request at all');
  assert.equal(answer.error?.code, 'unauthenticated', JSON.stringify(answer));
  assert.equal(answer.error?.name, 'SessionError');
  assert.equal(answer.error?.isSessionError, true, 'instanceof the exported SessionError');
  assert.equal(after.managerRequests, atSignOut.managerRequests, 'fetchWithAuth sent nothing');
  // Stopped: nothing asked the provider for a token while the page sat idle (only the
  // fetchWithAuth call itself may ask, and find no session).
  const asked = after.providerCalls.slice(atSignOut.providerCalls.length);
  assert.ok(asked.length <= 1 && asked.every((c) => c.method === 'getToken' && c.at >= callAt),
    `provider calls after sign-out: ${JSON.stringify(asked)}`);
  assert.equal(after.isAuthenticated, false);
  assert.equal(after.tokenExpiresAt, null, 'the token is forgotten');
  const lastState = after.events.filter((e) => e.type === 'stateChanged').at(-1);
  assert.deepEqual(lastState?.detail, { authenticated: false, expiresAt: null });
  assert.deepEqual(after.events.filter((e) => e.type === 'refreshFailed'), [], 'nothing tried to refresh');
  await assertNoTokenInEvents(page);
  assertNoProblems(page);
  await context.close();
});

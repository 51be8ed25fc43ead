// Faults a demanding user meets, end to end in real Chromium against the reference backend:
// a browser without the APIs newer than the README's baseline (deleted before init()), a page
// whose console throws, and every event's runtime detail checked against the published
// declarations. A page-wide trap detector fails a test on `RuntimeError`, `unreachable` or
// "recursive use".

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ARTIFACTS, ROOT, apiTraffic, backendAndBrowser, signedIn, sleep } from './support.js';

const live = backendAndBrowser(async () => ['--app', join(ROOT, 'e2e', 'pages')]);

const TRAP = /RuntimeError|unreachable|recursive use/;

/** Every console line and page error the library's module could trap with. */
function traps(page) {
  return [...page.lines, ...page.problems].filter((line) => TRAP.test(line));
}

// Everything newer than the README's browser baseline (Chrome 96, Firefox 91, Safari 15),
// removed before any script runs, so before init().
const OLDER_BROWSER = () => {
  delete AbortSignal.any;
  delete AbortSignal.timeout;
  delete globalThis.BroadcastChannel;
  if (navigator.locks) Object.defineProperty(Navigator.prototype, 'locks', { get: () => undefined, configurable: true });
  // Before Chrome 98 / Safari 15.4 an abort carried no reason.
  Object.defineProperty(AbortSignal.prototype, 'reason', { get: () => undefined, configurable: true });
};

test('an older browser (no AbortSignal.any/timeout, BroadcastChannel, locks, abort reasons) runs the dashboard', async () => {
  await live.backend.tokenLifetime(4);
  const context = await live.browser.newContext();
  await context.addInitScript(OLDER_BROWSER);
  const { page } = await signedIn(live.browser, live.backend, '?margin=1000&creditsDelay=200', context);
  assert.equal(await page.evaluate(() => typeof AbortSignal.any), 'undefined', 'the API is gone');
  await live.backend.resetStats();
  await page.check('#busy');
  await sleep(9_000);
  await page.uncheck('#busy');
  const busy = await live.backend.stats();
  assert.equal(busy.unauthorized, 0, 'no request was refused');
  assert.ok(busy.by_path['/api/data'] >= 10, `only ${busy.by_path['/api/data']} API calls`);
  assert.ok(busy.refreshes >= 2 && busy.refreshes <= 5, `${busy.refreshes} refreshes in 9 s of 4 s tokens`);

  // A revoked token: one 401, one refresh, the call resolves.
  await live.backend.revoke();
  await live.backend.resetStats();
  assert.equal(await page.evaluate(async () => (await window.demo.session.fetchWithAuth('/api/data')).status), 200);
  const revoked = await live.backend.stats();
  assert.equal(revoked.unauthorized, 1);
  assert.equal(revoked.refreshes, 1);

  // Sign-out reaches a second tab through the storage-event fallback.
  const second = await context.newPage();
  second.lines = [];
  second.problems = [];
  second.on('console', (m) => second.lines.push(`${m.type()}: ${m.text()}`));
  second.on('pageerror', (e) => second.problems.push(`pageerror: ${e.message}`));
  await second.goto(`${live.backend.url}/?margin=1000`);
  await second.waitForSelector('html[data-ready="true"]');
  // Signed in by the first tab's sign-in: the demo's refresh token is shared (localStorage).
  await second.waitForSelector('#dashboard:not([hidden])');
  await page.click('#sign-out');
  await second.waitForSelector('#signin:not([hidden])', { timeout: 5_000 });
  await live.backend.resetStats();
  await sleep(5_000);
  assert.equal(apiTraffic(await live.backend.stats()), 0, 'no tab sends anything after the sign-out');

  assert.deepEqual(traps(page), [], 'no trap');
  assert.deepEqual(traps(second), [], 'no trap in the second tab');
  assert.deepEqual(page.problems.filter((p) => !/status of 401/.test(p)), [], 'no page errors');
  await context.close();
});

test('a page whose console throws keeps its session: refresh failures, 401s and sign-out all settle', async () => {
  await live.backend.tokenLifetime(4);
  const context = await live.browser.newContext();
  await context.addInitScript(() => {
    for (const level of ['debug', 'info', 'warn', 'error', 'log']) {
      console[level] = () => { throw new Error(`console.${level} is broken on this page`); };
    }
  });
  const { page } = await signedIn(live.browser, live.backend, '?margin=1000&log=debug', context);
  await live.backend.resetStats();
  await page.check('#busy');
  await sleep(6_000);
  await live.backend.revoke();
  await sleep(3_000);
  await page.uncheck('#busy');
  const stats = await live.backend.stats();
  assert.ok(stats.by_path['/api/data'] >= 10, `only ${stats.by_path['/api/data']} API calls`);
  assert.ok(stats.unauthorized <= 2, `${stats.unauthorized} 401s after one revoke`);
  assert.equal(await page.isVisible('#signin'), false, 'still signed in');
  await page.click('#sign-out');
  await page.waitForSelector('#signin:not([hidden])');
  assert.deepEqual(traps(page), [], 'no trap');
  assert.deepEqual(page.problems.filter((p) => !/status of 401/.test(p)), [], 'no page errors');
  await context.close();
});

test("every event's runtime detail matches SessionEventMap in the published .d.ts", async () => {
  const page = await live.browser.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(e.message));
  await page.goto(`${live.backend.url}/app/events.html`);
  await page.waitForFunction(() => typeof window.run === 'function');
  const seen = await page.evaluate(() => window.run());
  await page.close();
  assert.deepEqual(problems, []);

  // Every declared event was emitted, and the demo dashboard listens to exactly those.
  const api = readFileSync(join(ROOT, 'js', 'api.d.ts'), 'utf8');
  const block = api.slice(api.indexOf('export interface SessionEventMap {'));
  const declared = [...block.slice(0, block.indexOf('\n}')).matchAll(/^ {2}(\w+):/gm)].map((m) => m[1]).sort();
  assert.deepEqual([...new Set(seen.map((e) => e.name))].sort(), declared, 'every declared event was seen');
  const demo = readFileSync(join(ROOT, 'www', 'app.js'), 'utf8').match(/const EVENTS = \[([^\]]*)\]/)[1];
  assert.deepEqual([...demo.matchAll(/'(\w+)'/g)].map((m) => m[1]).sort(), declared, "the demo's event list");

  // Each detail, as a fresh object literal, must type-check against its declaration: tsc
  // rejects a missing field, an extra one, and a string outside its union.
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = join(ARTIFACTS, 'event-details.ts');
  writeFileSync(file, [
    "import type { SessionEventMap } from '../pkg/session_keeper';",
    ...seen.map((e, i) => `export const e${i}: SessionEventMap['${e.name}'] = ${JSON.stringify(e.detail)};`),
  ].join('\n'));
  try {
    execFileSync(join(ROOT, 'node_modules', '.bin', 'tsc'), ['--noEmit', '--strict', '--exactOptionalPropertyTypes',
      '--target', 'es2022', '--module', 'esnext', '--moduleResolution', 'bundler', '--lib', 'es2022,dom', file],
    { cwd: ROOT, encoding: 'utf8', stdio: 'pipe' });
  } catch (error) {
    assert.fail(`event details do not match the declarations:\n${error.stdout}`);
  }
  const recovered = seen.find((e) => e.name === 'recovered');
  assert.deepEqual(recovered.detail.unhealthy, ['credits', 'checkSession']);
});

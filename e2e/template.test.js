// The script-tag template (www/template.html) in headless Chromium: no bundler, the wasm
// web build from /pkg, supabase-js's UMD build, and classic scripts calling the globals
// that installGlobal() sets. Assertions are on the server's counters.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backendAndBrowser } from './support.js';

const live = backendAndBrowser();

async function openTemplate() {
  const context = await live.browser.newContext();
  const page = await context.newPage();
  page.problems = [];
  page.on('console', (m) => { if (m.type() === 'error') page.problems.push(m.text()); });
  page.on('pageerror', (e) => page.problems.push(e.message));
  await page.goto(`${live.backend.url}/www/template.html`);
  await page.waitForSelector('html[data-ready="true"]');
  return { context, page };
}

const text = (page, id) => page.textContent(`#${id}`);

test('a template calls the global fetchWithAuth with the Supabase user token, no bundler', async () => {
  await live.backend.tokenLifetime(3600);
  const { context, page } = await openTemplate();
  assert.equal(await text(page, 'status'), 'signed out');
  assert.equal(await page.evaluate(() => typeof window.fetchWithAuth), 'function');

  await live.backend.resetStats();
  await page.click('#signin-button');
  await page.waitForFunction(() => document.querySelector('#status').textContent === 'signed in');
  await page.click('#profile-button');
  await page.waitForFunction(() => document.querySelector('#profile').textContent !== '–');
  assert.equal(await text(page, 'profile'), 'demo@example.com');
  await page.click('#credits-button');
  await page.waitForFunction(() => document.querySelector('#credits').textContent !== '–');
  assert.equal(await text(page, 'credits'), '100');

  const stats = await live.backend.stats();
  assert.equal(stats.logins, 1, 'one password grant through supabase-js');
  assert.equal(stats.by_path['/api/users/me'], 1);
  assert.equal(stats.unauthorized, 0);
  assert.equal(stats.refreshes, 0, 'the SIGNED_IN token was adopted: no refresh, no extra getToken round trip');
  // The opt-in mirror holds the same token supabase-js keeps.
  const [mirror, access] = await page.evaluate(async () => [
    localStorage.getItem('auth_token'),
    (await window.supabaseClient.auth.getSession()).data.session?.access_token,
  ]);
  assert.ok(access && mirror === access, 'auth_token mirrors the session access token');
  assert.deepEqual(page.problems, []);
  await context.close();
});

test('after a Supabase sign-out the template sends nothing and goes to its login URL', async () => {
  await live.backend.tokenLifetime(3600);
  const { context, page } = await openTemplate();
  await page.click('#signin-button');
  await page.waitForFunction(() => document.querySelector('#status').textContent === 'signed in');

  await page.click('#signout-button');
  await page.waitForFunction(() => document.querySelector('#status').textContent === 'signed out');
  assert.equal(await page.evaluate(() => localStorage.getItem('auth_token')), null, 'mirror cleared');
  await live.backend.resetStats();
  const navigation = page.waitForNavigation();
  await page.click('#profile-button');
  await navigation;
  await page.waitForSelector('html[data-ready="true"]');
  const stats = await live.backend.stats();
  assert.equal(stats.by_path['/api/users/me'] ?? 0, 0, 'no request without a session');
  assert.equal(stats.refreshes, 0);
  assert.deepEqual(page.problems, []);
  await context.close();
});

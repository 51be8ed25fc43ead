// The demo dashboard against the reference backend, in real headless Chromium. Every test
// asserts on the server's own counters (GET /__dev/stats), not only on the page.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { apiTraffic, backendAndBrowser, screenshotPath, signedIn, sleep } from './support.js';

const live = backendAndBrowser();

test('a busy session outlives five token lifetimes with zero 401s at the server', async () => {
  const lifetime = 4;
  await live.backend.tokenLifetime(lifetime);
  const { context, page } = await signedIn(live.browser, live.backend, '?margin=1000');
  await live.backend.resetStats();
  await page.check('#busy');
  await sleep((5 * lifetime + 1) * 1000);
  await page.uncheck('#busy');
  const stats = await live.backend.stats();

  assert.equal(stats.unauthorized, 0, 'no request was refused');
  assert.equal(stats.expired_tokens, 0, 'no expired token reached the server');
  assert.ok(stats.by_path['/api/data'] >= 30, `only ${stats.by_path['/api/data']} API calls`);
  // One provider refresh per token lifetime (a 4 s token refreshed 1 s before its end).
  assert.ok(stats.refreshes >= 5 && stats.refreshes <= 9, `${stats.refreshes} refreshes in 21 s`);
  assert.equal(await page.isVisible('#signin'), false, 'still signed in');
  const countdown = Number(await page.textContent('#countdown'));
  assert.ok(countdown > 0 && countdown <= lifetime, `countdown shows ${countdown}`);

  await page.screenshot({ path: screenshotPath('dashboard.png'), fullPage: true });
  assert.deepEqual(page.problems, [], 'no console errors');
  await context.close();
});

test('a backend restart heals the credits without a reload, with one recovery check', async () => {
  await live.backend.tokenLifetime(60);
  const { context, page } = await signedIn(live.browser, live.backend, '?cooldown=60000&creditsDelay=200');
  await page.waitForFunction(() => document.querySelector('#credits').textContent === '100');
  await page.evaluate(() => { window.sameDocument = true; });
  await live.backend.resetStats();

  await page.click('#restart-backend');
  await page.waitForSelector('#event-log li.recovered', { timeout: 15_000 }).catch(async (e) => {
    // Show what the page and the server saw, then fail.
    console.log(page.lines.join('\n'));
    console.log(await page.textContent('#event-log'));
    console.log(JSON.stringify(await live.backend.stats()));
    throw e;
  });
  await page.waitForFunction(() => document.querySelector('#credits').textContent === '100');
  // More readers inside the cooldown: healthy now, so nothing more to recover.
  await page.click('#reload-credits');
  await page.waitForFunction(() => document.querySelector('#credits').textContent === '100');
  const stats = await live.backend.stats();

  assert.equal(await page.evaluate(() => window.sameDocument), true, 'healed without a reload');
  assert.equal(stats.restarts, 1);
  assert.ok(stats.zero_credit_reads >= 1, 'the restarted backend did answer 0');
  assert.equal(stats.verifies, 2, 'the probe and the re-verify');
  assert.equal(await page.locator('#event-log li.recoveryCheck').count(), 1, 'one check per cooldown');
  assert.equal(await page.locator('#event-log li.recovered').count(), 1);
  assert.equal(await page.locator('#event-log li.sessionExpired').count(), 0, 'no logout');
  assert.equal(stats.unauthorized, 0);
  assert.deepEqual(page.problems, [], 'no console errors');
  await page.screenshot({ path: screenshotPath('dashboard-recovered.png'), fullPage: true });
  await context.close();
});

test('sign-out stops all refresh traffic', async () => {
  const lifetime = 2;
  await live.backend.tokenLifetime(lifetime);
  const { context, page } = await signedIn(live.browser, live.backend, '?margin=500');
  await sleep(3_000);
  const before = await live.backend.stats();
  assert.ok(before.refreshes >= 1, 'the session was refreshing before sign-out');

  await page.click('#sign-out');
  await page.waitForSelector('#signin:not([hidden])');
  const signedOut = await live.backend.stats();
  await sleep(3 * lifetime * 1000);
  const later = await live.backend.stats();

  assert.equal(later.refreshes, signedOut.refreshes, 'no refresh after sign-out');
  assert.equal(apiTraffic(later), apiTraffic(signedOut), 'no API or auth request after sign-out');
  assert.equal(await page.evaluate(() => localStorage.getItem('authToken')), null, 'mirror cleared');
  assert.deepEqual(page.problems, [], 'no console errors');
  await context.close();
});

test('the bearer does not survive a redirect to another origin', async () => {
  await live.backend.tokenLifetime(60);
  const { context, page } = await signedIn(live.browser, live.backend);
  await live.backend.resetStats();
  // 127.0.0.1 redirects to localhost: same server, another origin.
  const answer = await page.evaluate(async () => {
    const response = await window.demo.session.fetchWithAuth('/api/redirect-elsewhere');
    return { url: response.url, body: await response.json() };
  });
  const stats = await live.backend.stats();

  assert.match(answer.url, /^http:\/\/localhost:\d+\/api\/echo-auth$/);
  assert.equal(stats.by_path['/api/redirect-elsewhere'], 1);
  assert.equal(stats.unauthorized, 0, 'the first hop carried the bearer');
  assert.equal(answer.body.authorization_present, false, 'the other origin got no bearer');
  assert.equal(stats.echo_auth_seen, 0);
  await context.close();
});

// Several tabs of the demo dashboard in one browser context, shared by e2e/tabs.test.js and
// the measurement script e2e/tabs-measure.mjs: open them signed in once, keep each busy with
// one fetchWithAuth a second, and read what the server and each tab saw.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { signedIn, watch } from './support.js';

export { watch };

/** The demo's token timings for the tab tests: 4 s tokens, sent until 1 s before their exp. */
export const TTL_S = 4;
export const MARGIN_MS = 1_000;
export const QUERY = `?margin=${MARGIN_MS}`;

/**
 * What "one token lifetime" is for the refresh schedule: the part of a token's life in which it
 * may be sent (ttl − margin). The bound of the issue, "lifetimes + 1", counts these: 20 s of
 * 4 s tokens with a 1 s margin is ceil(20 / 3) = 7 lifetimes, so at most 8 refreshes.
 */
export const usableLifetimeMs = (ttlS = TTL_S, marginMs = MARGIN_MS) => ttlS * 1000 - marginMs;
export const lifetimesIn = (ms) => Math.ceil(ms / usableLifetimeMs());

/** Resolves once the tab's manager holds a token that is not past its exp. */
export function hasToken(page, timeout = 10_000) {
  return page.waitForFunction(() => {
    const at = window.demo?.session?.tokenExpiresAt;
    return typeof at === 'number' && at > Date.now();
  }, null, { timeout, polling: 50 });
}

/**
 * One more dashboard tab in `context`: it opens signed in, because the demo provider keeps
 * the refresh token in localStorage (one sign-in signs in every tab). `init` runs in the tab
 * before any of its scripts (page.addInitScript).
 */
export async function openTab(context, backend, query = QUERY, init = null) {
  const page = watch(await context.newPage());
  if (init) await page.addInitScript(init);
  await page.goto(`${backend.url}/${query}`);
  await page.waitForSelector('html[data-ready="true"]');
  await page.waitForSelector('#dashboard:not([hidden])', { timeout: 10_000 });
  await hasToken(page);
  return page;
}

/**
 * `n` tabs of the dashboard in one context (a new one unless given), signed in once in the
 * first; resolves when every tab holds a live token.
 */
export async function dashboardTabs(browser, backend, n, { query = QUERY, context = null } = {}) {
  const first = await signedIn(browser, backend, query, context);
  await hasToken(first.page);
  const pages = [first.page];
  while (pages.length < n) pages.push(await openTab(first.context, backend, query));
  return { context: first.context, pages };
}

/**
 * Keeps the tab busy: one `fetchWithAuth(path)` per `periodMs`, through whatever manager the
 * dashboard has at that moment. A tick without a manager (the tab is signed out) is a failed
 * user call too.
 */
export function startLoad(page, { path = '/api/data', periodMs = 1_000 } = {}) {
  return page.evaluate(({ path, periodMs }) => {
    clearInterval(window.__loadTimer);
    const load = { sent: 0, ok: 0, failed: 0, signedOut: 0, statuses: {}, errors: {}, inflight: 0 };
    window.__load = load;
    window.__loadTimer = setInterval(async () => {
      load.sent += 1;
      const session = window.demo.session;
      if (!session) {
        load.failed += 1;
        load.signedOut += 1;
        return;
      }
      load.inflight += 1;
      try {
        const res = await session.fetchWithAuth(path);
        if (res.ok) load.ok += 1;
        else {
          load.failed += 1;
          load.statuses[res.status] = (load.statuses[res.status] ?? 0) + 1;
        }
      } catch (error) {
        load.failed += 1;
        const code = error?.code ?? error?.name ?? String(error);
        load.errors[code] = (load.errors[code] ?? 0) + 1;
      } finally {
        load.inflight -= 1;
      }
    }, periodMs);
  }, { path, periodMs });
}

/** Stops the tab's load and waits (bounded) for its calls under way to settle. */
export async function stopLoad(page, timeout = 20_000) {
  await page.evaluate(() => clearInterval(window.__loadTimer));
  await page.waitForFunction(() => window.__load.inflight === 0, null, { timeout, polling: 50 });
}

/** What the tab saw: its load, its event counts, whether it leads. */
export function tabReport(page) {
  return page.evaluate(() => ({
    load: window.__load ?? null,
    events: { ...window.demo.counts.events },
    isLeader: window.demo.session ? window.demo.session.isLeader : null,
    signedIn: window.demo.session !== null,
    expiresAt: window.demo.session?.tokenExpiresAt ?? null,
  }));
}

/** Sums the tabs' reports. */
export function sumReports(reports) {
  const sum = { sent: 0, ok: 0, failed: 0, signedOut: 0, statuses: {}, errors: {}, sessionExpired: 0, refreshFailed: 0, adopted: 0 };
  for (const { load, events } of reports) {
    if (load) {
      for (const key of ['sent', 'ok', 'failed', 'signedOut']) sum[key] += load[key];
      for (const [k, v] of Object.entries(load.statuses)) sum.statuses[k] = (sum.statuses[k] ?? 0) + v;
      for (const [k, v] of Object.entries(load.errors)) sum.errors[k] = (sum.errors[k] ?? 0) + v;
    }
    sum.sessionExpired += events.sessionExpired ?? 0;
    sum.refreshFailed += events.refreshFailed ?? 0;
  }
  return sum;
}

/** The tab that leads refreshing, once exactly one does (bounded wait). */
export async function leaderOf(pages, timeout = 10_000) {
  const until = Date.now() + timeout;
  for (;;) {
    const flags = await Promise.all(pages.map((page) => page.evaluate(() => window.demo.session?.isLeader ?? null)));
    const leaders = pages.filter((_, i) => flags[i] === true);
    if (leaders.length === 1) return { leader: leaders[0], index: flags.indexOf(true), flags };
    if (Date.now() >= until) {
      throw new Error(`expected exactly one leading tab within ${timeout} ms; isLeader per tab: ${JSON.stringify(flags)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * The tab-count scenario of issue 12: `tabs` tabs of one context, signed in once, each calling
 * fetchWithAuth once a second for `busyMs`; the server's counters cover the busy window only.
 */
export async function busyTabs(browser, backend, tabs, { busyMs = 20_000, query = QUERY } = {}) {
  await backend.tokenLifetime(TTL_S);
  const { context, pages } = await dashboardTabs(browser, backend, tabs, { query });
  try {
    await backend.resetStats();
    await Promise.all(pages.map((page) => startLoad(page)));
    await new Promise((resolve) => setTimeout(resolve, busyMs));
    // A tab that crashed or closed cannot be read: it is reported as lost, not thrown.
    const lost = [];
    const settled = await Promise.all(pages.map((page, i) => stopLoad(page).then(() => true, (error) => {
      lost.push(`tab ${i}: ${error.message.split('\n')[0]}`);
      return false;
    })));
    const stats = await backend.stats();
    const reports = await Promise.all(pages.filter((_, i) => settled[i]).map(tabReport));
    const sum = sumReports(reports);
    return {
      tabs,
      busyMs,
      stats,
      refreshes: stats.refreshes,
      rejections: stats.refresh_rejections,
      // /auth/refresh answers a rejected refresh token with a 401 as well: those are counted
      // apart, as rejections.
      api401s: stats.unauthorized - (stats.refresh_rejections ?? 0),
      unauthorized: stats.unauthorized,
      expiredTokens: stats.expired_tokens,
      apiCalls: stats.by_path['/api/data'] ?? 0,
      ...sum,
      leaders: reports.filter((r) => r.isLeader === true).length,
      lost,
      problems: pages.flatMap((page) => page.problems),
    };
  } finally {
    await context.close();
  }
}

const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
  // What playwright's own launch adds: tabs that are not in front keep their timers.
  '--disable-background-timer-throttling', '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows'];

/**
 * Chromium launched by this process and attached over CDP. Page.setWebLifecycleState is
 * ignored on the pages of a playwright-launched browser, but works on the pages of this
 * browser's default context (`context`).
 */
export async function launchFreezableBrowser() {
  const profile = mkdtempSync(join(tmpdir(), 'session-keeper-chromium-'));
  const child = spawn(process.env.CHROMIUM ?? '/usr/bin/chromium',
    [...CHROMIUM_FLAGS, '--remote-debugging-port=0', `--user-data-dir=${profile}`, 'about:blank'],
    // Its own process group, so that its renderers and zygote go with it.
    { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const closeChild = async () => {
    try { process.kill(-child.pid, 'SIGKILL'); } catch { child.kill('SIGKILL'); }
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
    // Best effort: a renderer still flushing the profile is not the test's failure.
    try { rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }); } catch { /* left in tmp */ }
  };
  try {
    const endpoint = await new Promise((resolve, reject) => {
      let seen = '';
      const timer = setTimeout(() => reject(new Error(`Chromium printed no DevTools endpoint: ${seen}`)), 20_000);
      child.on('exit', (code) => reject(new Error(`Chromium exited with ${code}: ${seen}`)));
      child.stderr.on('data', (chunk) => {
        seen += chunk;
        const match = seen.match(/DevTools listening on (ws:\/\/\S+)/);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      });
    });
    const browser = await chromium.connectOverCDP(endpoint, { noDefaults: true });
    return {
      browser,
      context: browser.contexts()[0],
      close: async () => {
        await browser.close().catch(() => {});
        await closeChild();
      },
    };
  } catch (error) {
    await closeChild();
    throw error;
  }
}

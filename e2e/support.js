// Shared pieces of the end-to-end suite: the reference backend as a child process, Debian's
// Chromium driven by playwright-core, the demo dashboard signed in, and the Vite-built page
// that imports the packed npm package (e2e/vite-app).

import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before } from 'node:test';
import { chromium } from 'playwright-core';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const ARTIFACTS = join(ROOT, 'artifacts');
/** The package under test: pkg/, or another build of it (SESSION_KEEPER_PKG=dir, e.g. an older commit's). */
export const PKG = process.env.SESSION_KEEPER_PKG ?? join(ROOT, 'pkg');

/**
 * Starts target/release/reference-backend on a free port; resolves once it listens.
 * `extraArgs` go after the defaults (e.g. `['--app', dir]`).
 */
export async function startBackend({ extraArgs = [] } = {}) {
  const binary = process.env.REFERENCE_BACKEND ?? join(ROOT, 'target', 'release', 'reference-backend');
  const args = ['--port', '0', '--www', join(ROOT, 'www'), '--pkg', PKG, ...extraArgs];
  const child = spawn(binary, args, {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`backend did not start: ${seen}`)), 15_000);
    child.on('exit', (code) => reject(new Error(`backend exited with ${code}: ${seen}`)));
    child.stdout.on('data', (chunk) => {
      seen += chunk;
      const match = seen.match(/listening on (http:\/\/\S+)/);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
  });
  const call = async (path, body) => {
    const res = await fetch(url + path, body === undefined
      ? {}
      : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`${path}: ${res.status}`);
    return res.status === 204 ? null : res.json();
  };
  return {
    url,
    stats: () => call('/__dev/stats'),
    resetStats: () => call('/__dev/stats/reset', {}),
    tokenLifetime: (seconds) => call('/__dev/config', { token_ttl_secs: seconds }),
    /** Every access token issued so far is refused from now on (refresh tokens still work). */
    revoke: () => call('/__dev/revoke', {}),
    stop: () => child.kill(),
  };
}

/**
 * The reference backend and Chromium for one test file: started before its first test,
 * stopped after its last. `prepare()` runs first and returns extra backend arguments.
 */
export function backendAndBrowser(prepare = async () => []) {
  const live = {};
  before(async () => {
    live.backend = await startBackend({ extraArgs: await prepare() });
    live.browser = await launchBrowser();
  });
  after(async () => {
    await live.browser?.close();
    live.backend?.stop();
  });
  return live;
}

/** Debian's Chromium, with the flags this machine's closed network needs. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}

/** Collects a page's console lines in `page.lines`, and its console errors, uncaught exceptions and crash in `page.problems`. */
export function watch(page) {
  page.problems = [];
  page.lines = [];
  page.on('console', (message) => {
    page.lines.push(`${message.type()}: ${message.text()}`);
    if (message.type() === 'error') page.problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => page.problems.push(`pageerror: ${error.message}`));
  page.on('crash', () => page.problems.push('crash: the tab crashed'));
  return page;
}

/**
 * Opens the dashboard in a fresh context (its own sessionStorage and localStorage) and
 * signs in as the demo user (in `context` when given, e.g. one with an init script).
 * Console errors and uncaught exceptions are collected in `page.problems`.
 */
export async function signedIn(browser, backend, query = '', context = null) {
  context ??= await browser.newContext({ viewport: { width: 1180, height: 900 } });
  const page = watch(await context.newPage());
  await page.goto(`${backend.url}/${query}`);
  await page.waitForSelector('html[data-ready="true"]');
  await page.click('#signin-button');
  await page.waitForSelector('#dashboard:not([hidden])');
  return { context, page };
}

/** Server counters for the API and auth paths only (the dashboard's stats polling excluded). */
export function apiTraffic(stats) {
  return Object.entries(stats.by_path)
    .filter(([path]) => path.startsWith('/api/') || path.startsWith('/auth/'))
    .reduce((sum, [, count]) => sum + count, 0);
}

export function screenshotPath(name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  return join(ARTIFACTS, name);
}

export const VITE_APP = join(ROOT, 'e2e', 'vite-app');

/**
 * Packs pkg/ the way `npm publish` would (so its `files` list decides what ships), installs
 * the tarball as e2e/vite-app/node_modules/session-keeper, and builds the page with Vite's
 * JS API into e2e/vite-app/dist. Returns the packed file list and the dist directory.
 * Needs `make build` first (the Makefile's test-e2e target depends on it).
 */
export async function buildViteApp() {
  const pkg = PKG;
  const scratch = mkdtempSync(join(tmpdir(), 'session-keeper-pack-'));
  try {
    const [packed] = JSON.parse(execFileSync('npm', ['pack', pkg, '--json', '--pack-destination', scratch], {
      cwd: scratch,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    }));
    const target = join(VITE_APP, 'node_modules', 'session-keeper');
    rmSync(target, { recursive: true, force: true });
    mkdirSync(target, { recursive: true });
    // An npm tarball holds everything under package/.
    execFileSync('tar', ['-xzf', join(scratch, packed.filename), '-C', target, '--strip-components=1']);
    const { build } = await import('vite');
    await build({ root: VITE_APP, configFile: join(VITE_APP, 'vite.config.js'), logLevel: 'warn' });
    return {
      files: packed.files.map((f) => f.path).sort(),
      manifest: JSON.parse(readFileSync(join(target, 'package.json'), 'utf8')),
      dist: join(VITE_APP, 'dist'),
    };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

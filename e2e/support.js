// Shared pieces of the end-to-end suite: the reference backend as a child process, Debian's
// Chromium driven by playwright-core, and the demo dashboard signed in.

import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const ARTIFACTS = join(ROOT, 'artifacts');

/** Starts target/release/reference-backend on a free port; resolves once it listens. */
export async function startBackend() {
  const binary = process.env.REFERENCE_BACKEND ?? join(ROOT, 'target', 'release', 'reference-backend');
  const child = spawn(binary, ['--port', '0', '--www', join(ROOT, 'www'), '--pkg', join(ROOT, 'pkg')], {
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
    stop: () => child.kill(),
  };
}

/** Debian's Chromium, with the flags this machine's closed network needs. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}

/**
 * Opens the dashboard in a fresh context (its own sessionStorage and localStorage) and
 * signs in as the demo user. Console errors and uncaught exceptions are collected in
 * `page.problems`.
 */
export async function signedIn(browser, backend, query = '') {
  const context = await browser.newContext({ viewport: { width: 1180, height: 900 } });
  const page = await context.newPage();
  page.problems = [];
  page.lines = [];
  page.on('console', (message) => {
    page.lines.push(`${message.type()}: ${message.text()}`);
    if (message.type() === 'error') page.problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => page.problems.push(`pageerror: ${error.message}`));
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

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// The demo dashboard: session-keeper used exactly as a page would, through its public API
// (the web build in /pkg, loaded with a module script tag; no bundler).
//
// Query parameters tune the timings for the end-to-end tests and for watching things
// happen quickly: ?margin=1000&interval=50000&cooldown=30000&creditsDelay=1000&log=info
// &busy=500 (the "keep busy" period in ms) &tabs=NAME (the group of tabs sharing the
// session; tabs=off turns cross-tab coordination off).
//
// Every tab of the dashboard shares one sign-in: the provider keeps its refresh token in
// localStorage, a tab at the sign-in form starts its session when another tab signs in, and a
// sign-out in any tab shows every tab the sign-in form.

import init, { SessionManager } from '/pkg/session_keeper.js';
import { DemoProvider, REFRESH_KEY } from '/www/demo-provider.js';

const EVENTS = ['tokenRefreshed', 'refreshFailed', 'sessionExpired', 'recoveryCheck', 'recovered', 'creditsUpdated', 'stateChanged'];
const params = new URLSearchParams(location.search);
const setting = (name, fallback) => (params.has(name) ? Number(params.get(name)) : fallback);
const $ = (id) => document.getElementById(id);

const margin = setting('margin', 10_000);
const busyMs = setting('busy', 500);
const tabs = params.get('tabs');
let session = null;
let lifetimeMs = 60_000;
let refreshes = 0;
let adopted = 0;
let expiredReason = null;
// What this tab saw, for a look from the console and for the end-to-end tests.
const counts = { events: Object.create(null), expiredReasons: [], calls: { sent: 0, ok: 0, failed: 0, statuses: Object.create(null), errors: Object.create(null) } };
let busyTimer = null;
let noticeTimer = null;

const provider = new DemoProvider({
  onBusy: (busy) => {
    $('refresh-indicator').textContent = busy ? 'refreshing…' : 'idle';
    $('refresh-indicator').className = `pill ${busy ? 'busy' : 'idle'}`;
  },
});

// ----- the session -----

function startSession() {
  expiredReason = null;
  session = new SessionManager({
    getToken: provider.getToken,
    checkSession: provider.checkSession,
    onSessionExpired: () => showSignIn(expiredReason === 'signed_out_elsewhere'
      ? 'Signed out in another tab.'
      : 'Your session has expired. Please sign in again.'),
    storageKeys: ['authToken'],
    expiryMarginMs: margin,
    refreshIntervalMs: setting('interval', 50_000),
    recoveryCooldownMs: setting('cooldown', 30_000),
    credits: { baseDelayMs: setting('creditsDelay', 1_000) },
    logLevel: params.get('log') ?? 'info',
    // Only when asked for: the default group is the library's own.
    ...(tabs === null ? {} : { tabs: tabs === 'off' ? false : tabs }),
  });
  for (const name of EVENTS) session.on(name, (detail) => onEvent(name, detail));
  session.start();
  showDashboard();
  readCredits();
}

function onEvent(name, detail) {
  counts.events[name] = (counts.events[name] ?? 0) + 1;
  log(name, describe(name, detail));
  switch (name) {
    case 'tokenRefreshed':
      // 'tab': adopted from another tab's refresh, no provider call in this tab.
      if (detail.reason === 'tab') adopted += 1;
      else refreshes += 1;
      $('refresh-count').textContent = refreshes;
      $('adopted-count').textContent = adopted;
      if (detail.expiresAt) lifetimeMs = Math.max(1, detail.expiresAt - Date.now());
      break;
    case 'recoveryCheck':
      $('credits-note').textContent = 'backend looks restarted: checking the session…';
      break;
    case 'recovered':
      notice('Backend restart detected: session re-established without a logout.', 'ok', 6_000);
      break;
    case 'creditsUpdated':
      $('credits').textContent = detail.credits;
      $('credits-note').textContent = `updated ${new Date().toLocaleTimeString()}`;
      break;
    case 'sessionExpired':
      expiredReason = detail.reason;
      counts.expiredReasons.push(detail.reason);
      notice('Session expired.', 'bad');
      if (detail.reason === 'signed_out_elsewhere' && !session) $('signin-error').textContent = 'Signed out in another tab.';
      break;
  }
}

function describe(name, d) {
  switch (name) {
    case 'tokenRefreshed': return `${d.reason}; expires ${d.expiresAt ? new Date(d.expiresAt).toLocaleTimeString() : 'unknown'}`;
    case 'refreshFailed': return `${d.code} (${d.reason}): ${d.message}`;
    case 'sessionExpired': return d.reason;
    case 'recoveryCheck': return `trigger: ${d.trigger}`;
    case 'recovered': return `trigger: ${d.trigger}; unhealthy: ${d.unhealthy.join(', ')}`;
    case 'creditsUpdated': return `credits: ${d.credits}`;
    case 'stateChanged': return d.authenticated ? 'signed in' : 'signed out';
    default: return JSON.stringify(d);
  }
}

async function readCredits(options) {
  if (!session) return;
  $('credits').textContent = '…';
  try {
    await session.updateCredits(options);
  } catch (error) {
    $('credits').textContent = '?';
    $('credits-note').textContent = `could not read credits: ${error.code ?? error.message}`;
  }
}

// ----- the page -----

function showSignIn(message = '') {
  stopBusy();
  $('busy').checked = false;
  session?.free();
  session = null;
  $('dashboard').hidden = true;
  $('signin').hidden = false;
  $('signin-error').textContent = message;
}

function showDashboard() {
  $('signin').hidden = true;
  $('dashboard').hidden = false;
  $('notice').hidden = true;
}

function log(name, text) {
  const item = document.createElement('li');
  item.className = name;
  const time = document.createElement('time');
  time.textContent = new Date().toLocaleTimeString();
  const label = document.createElement('span');
  label.className = 'name';
  label.textContent = name;
  const body = document.createElement('span');
  body.textContent = text;
  item.append(time, label, body);
  $('event-log').prepend(item);
}

function notice(text, kind = '', clearAfterMs = 0) {
  clearTimeout(noticeTimer);
  $('notice').textContent = text;
  $('notice').className = `notice ${kind}`;
  $('notice').hidden = false;
  if (clearAfterMs) noticeTimer = setTimeout(() => { $('notice').hidden = true; }, clearAfterMs);
}

function tick() {
  if (!session) return;
  // Polled: the lead moves between tabs without an event (a tab closes, freezes, or wins).
  const leads = session.isLeader;
  $('leader').textContent = leads === undefined ? 'no tab coordination' : leads ? 'this tab leads refreshing' : 'follows the leading tab';
  $('leader').className = `pill ${leads ? 'leader' : 'idle'}`;
  const expiresAt = session.tokenExpiresAt;
  if (expiresAt === null || expiresAt === undefined) {
    $('countdown').textContent = '–';
    return;
  }
  const left = expiresAt - Date.now();
  $('countdown').textContent = Math.max(0, left / 1000).toFixed(1);
  $('lifetime-bar').style.width = `${Math.max(0, Math.min(100, (left / lifetimeMs) * 100))}%`;
  $('lifetime-bar').classList.toggle('low', left < margin);
  // The manager refreshes before the margin; a token inside it means refreshes are failing.
  if (left < margin && $('notice').hidden) notice(`Session expiring in ${Math.ceil(Math.max(0, left) / 1000)} s: refreshing…`);
  if (left >= margin && $('notice').className === 'notice ') $('notice').hidden = true;
}

async function pollStats() {
  try {
    const stats = await (await fetch('/__dev/stats')).json();
    $('stat-requests').textContent = stats.requests;
    $('stat-unauthorized').textContent = stats.unauthorized;
    $('stat-expired').textContent = stats.expired_tokens;
    $('stat-refreshes').textContent = stats.refreshes;
    $('stat-refresh-rejections').textContent = stats.refresh_rejections ?? '–';
    $('stat-restarts').textContent = stats.restarts;
  } catch {
    // The backend is down or restarting; the next poll will tell.
  }
}

async function callApi() {
  if (!session) return;
  const { calls } = counts;
  calls.sent += 1;
  try {
    const res = await session.fetchWithAuth('/api/data');
    if (res.ok) {
      calls.ok += 1;
    } else {
      calls.failed += 1;
      calls.statuses[res.status] = (calls.statuses[res.status] ?? 0) + 1;
      log('page', `GET /api/data → ${res.status}`);
    }
  } catch (error) {
    const code = error.code ?? error.message;
    calls.failed += 1;
    calls.errors[code] = (calls.errors[code] ?? 0) + 1;
    log('page', `GET /api/data failed: ${code}`);
  }
}

function stopBusy() {
  clearInterval(busyTimer);
  busyTimer = null;
}

// ----- wiring -----

$('signin-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('signin-error').textContent = '';
  try {
    await provider.signIn($('email').value, $('password').value);
    startSession();
  } catch (error) {
    $('signin-error').textContent = error.message;
  }
});

$('sign-out').addEventListener('click', async () => {
  const leaving = session;
  if (!leaving) return;
  const token = provider.access?.token;
  await leaving.signOut();
  await provider.signOut(token);
  log('page', 'signed out');
  showSignIn('Signed out.');
});

$('restart-backend').addEventListener('click', async () => {
  await fetch('/__dev/restart', { method: 'POST' });
  log('page', 'backend restarted: its session cache is gone');
  pollStats();
  await readCredits({ forceRefresh: true });
  pollStats();
});

$('reload-credits').addEventListener('click', () => readCredits());
$('call-api').addEventListener('click', callApi);
$('busy').addEventListener('change', (event) => {
  stopBusy();
  if (event.target.checked) busyTimer = setInterval(callApi, busyMs);
});

$('busy-ms').textContent = busyMs;
await init();
setInterval(tick, 100);
setInterval(pollStats, 1_000);
pollStats();
// Another tab signed in (the shared refresh token appears where there was none): do what
// this tab does after its own sign-in. A refresh replaces the token (oldValue is set), and a
// tab that is signed in already has its session.
addEventListener('storage', (event) => {
  if (event.key !== REFRESH_KEY || session || event.oldValue !== null || event.newValue === null) return;
  log('page', 'signed in in another tab');
  startSession();
});
if (provider.refreshToken) startSession();
else showSignIn();

// For a look from the devtools console: the live manager.
window.demo = { get session() { return session; }, provider, counts };
document.documentElement.dataset.ready = 'true';

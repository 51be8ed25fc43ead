// Drives one SessionManager through every event it emits, against a scripted in-page
// backend (an injected fetch), and hands back each event's runtime detail. The e2e test
// type-checks every detail against SessionEventMap in pkg/session_keeper.d.ts, so the
// declarations and the emit sites cannot drift apart.
import init, { SessionManager } from '/pkg/session_keeper.js';

const enc = (o) => btoa(JSON.stringify(o)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
let minted = 0;
const jwt = () => {
  const now = Date.now() / 1000;
  minted += 1;
  return `${enc({ alg: 'HS256' })}.${enc({ sub: 'u', iat: now, exp: now + 60, n: minted })}.sig${minted}`;
};

window.run = async () => {
  await init();
  let token = null;
  let providerFails = false;
  let sessionHealthy = true;
  let restarted = false;
  let refuseAll = false;
  const listeners = new Set();
  const json = (status, body) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
  const fetch = async (request) => {
    const bearer = request.headers.get('authorization');
    if (refuseAll || bearer !== `Bearer ${token}`) return json(401, { error: 'Token has expired', requires_refresh: true });
    const path = new URL(request.url).pathname;
    if (path === '/auth/verify') {
      restarted = false;
      sessionHealthy = true;
      return json(200, { valid: true });
    }
    if (path === '/api/users/credits') return json(200, { credits: restarted ? 0 : 100 });
    return json(200, { ok: true });
  };
  const manager = new SessionManager({
    getToken: ({ forceRefresh }) => {
      if (providerFails) throw new Error('provider down');
      if (forceRefresh || !token) token = jwt();
      return token;
    },
    checkSession: () => sessionHealthy,
    subscribe: (listener) => { listeners.add(listener); return () => listeners.delete(listener); },
    fetch,
    recoveryCooldownMs: 1,
    credits: { baseDelayMs: 1, maxRetries: 3 },
    onSessionExpired: () => {},
    logLevel: 'silent',
  });
  const seen = [];
  for (const name of ['tokenRefreshed', 'refreshFailed', 'sessionExpired', 'recoveryCheck', 'recovered', 'creditsUpdated', 'stateChanged']) {
    manager.on(name, (detail) => seen.push({ name, detail: JSON.parse(JSON.stringify(detail)) }));
  }
  const pause = (ms) => new Promise((r) => setTimeout(r, ms));

  manager.start();                                   // tokenRefreshed(initial), stateChanged(true)
  await pause(50);
  await manager.refreshToken();                      // tokenRefreshed(manual)
  providerFails = true;
  await manager.refreshToken().catch(() => {});      // refreshFailed(manual)
  providerFails = false;
  await manager.refreshToken();
  restarted = true;
  sessionHealthy = false;
  await manager.triggerSessionRecoveryCheck('restart'); // recoveryCheck, recovered
  await manager.updateCredits();                     // creditsUpdated
  refuseAll = true;
  await manager.fetchWithAuth('/api/refused');       // tokenRefreshed(unauthorized), sessionExpired(unauthorized)
  refuseAll = false;
  await manager.signOut();                           // stateChanged(false)
  token = jwt();
  for (const listener of listeners) listener(token); // tokenRefreshed(provider), stateChanged(true)
  await pause(20);
  manager.free();
  return seen;
};

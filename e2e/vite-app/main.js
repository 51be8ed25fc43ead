// The e2e page: session-keeper imported by its npm name (the packed pkg/ tarball in
// ./node_modules), on the real @supabase/supabase-js, bundled by Vite. It exposes
// `window.app` for e2e/supabase.test.js; the test drives everything from there.
//
// Query parameters: margin (expiryMarginMs), interval (refreshIntervalMs), tabs (the tab group;
// tabs=off: no cross-tab coordination), manager=off (no SessionManager at all: each call takes
// the token from supabase.auth.getSession(), as a page using the SDK alone does; e2e/tabs.test.js
// compares the two).
import init, { SessionManager, SessionError, supabaseTokenProvider } from 'session-keeper';
import { createClient } from '@supabase/supabase-js';

const params = new URLSearchParams(location.search);
const number = (name) => (params.has(name) ? Number(params.get(name)) : undefined);

async function main() {
  await init();

  // The reference backend speaks GoTrue under /auth/v1 on the page's own origin. The anon
  // key identifies a project; the backend ignores it, and it must never be the bearer.
  const supabase = createClient(location.origin, 'e2e-anon-key');
  // Every access token Supabase handed out, to check none leaks into an event detail.
  const tokensSeen = new Set();
  supabase.auth.onAuthStateChange((_event, session) => {
    if (session?.access_token) tokensSeen.add(session.access_token);
  });

  // Spy on the real refreshSession (the bridge looks it up on every call).
  let refreshSessionCalls = 0;
  const realRefreshSession = supabase.auth.refreshSession.bind(supabase.auth);
  supabase.auth.refreshSession = (...args) => {
    refreshSessionCalls += 1;
    return realRefreshSession(...args);
  };

  // Every request the manager sends goes through this fetch, so the test can tell "no
  // request was sent" from "a request was sent and refused".
  let managerRequests = 0;
  const countingFetch = (input, init) => {
    managerRequests += 1;
    return fetch(input, init);
  };

  // The bridge, with its getToken/checkSession calls recorded (the manager asking the
  // provider is what "stopped" rules out).
  const provider = supabaseTokenProvider(supabase);
  const providerCalls = [];
  const config = {
    ...provider,
    getToken: (ctx) => {
      providerCalls.push({ method: 'getToken', forceRefresh: ctx?.forceRefresh ?? null, reason: ctx?.reason ?? null, at: Date.now() });
      return provider.getToken(ctx);
    },
    checkSession: () => {
      providerCalls.push({ method: 'checkSession', at: Date.now() });
      return provider.checkSession();
    },
    allowedOrigins: [location.origin],
    fetch: countingFetch,
    logLevel: 'warn',
  };
  if (number('margin') !== undefined) config.expiryMarginMs = number('margin');
  if (number('interval') !== undefined) config.refreshIntervalMs = number('interval');
  if (params.has('tabs')) config.tabs = params.get('tabs') === 'off' ? false : params.get('tabs');
  const manager = params.get('manager') === 'off' ? null : new SessionManager(config);

  const events = [];
  for (const type of ['tokenRefreshed', 'refreshFailed', 'sessionExpired', 'stateChanged']) {
    manager?.on(type, (detail) => {
      events.push({ type, detail: structuredClone(detail ?? null), at: Date.now() });
    });
  }
  manager?.start();

  // Without the manager: the SDK's own way, the session's access token per call.
  const sdkFetch = async (path) => {
    const { data, error } = await supabase.auth.getSession();
    if (error) throw error;
    const token = data.session?.access_token;
    if (!token) throw Object.assign(new Error('no session'), { code: 'unauthenticated' });
    return countingFetch(path, { headers: { authorization: `Bearer ${token}` } });
  };

  const errorInfo = (error) => ({
    name: error?.name ?? null,
    code: error?.code ?? null,
    message: String(error?.message ?? error),
    isSessionError: error instanceof SessionError,
  });

  // One authenticated call; never throws, so page.evaluate always gets a plain object.
  const call = async (path) => {
    try {
      const response = manager ? await manager.fetchWithAuth(path) : await sdkFetch(path);
      const text = await response.text();
      let body = text;
      try { body = JSON.parse(text); } catch { /* not JSON: keep the text */ }
      return { status: response.status, body };
    } catch (error) {
      return { error: errorInfo(error) };
    }
  };

  // A busy page: `concurrency` calls in flight at a time, back to back, until stopped.
  let busy = null;
  const startBusy = (path, { concurrency = 2, pauseMs = 100 } = {}) => {
    const run = { stop: false, results: {}, loops: [] };
    const loop = async () => {
      while (!run.stop) {
        const result = await call(path);
        const key = result.error ? `error:${result.error.code}` : String(result.status);
        run.results[key] = (run.results[key] ?? 0) + 1;
        await new Promise((resolve) => setTimeout(resolve, pauseMs));
      }
    };
    for (let i = 0; i < concurrency; i += 1) run.loops.push(loop());
    busy = run;
  };
  const stopBusy = async () => {
    if (!busy) return {};
    busy.stop = true;
    await Promise.all(busy.loops);
    const { results } = busy;
    busy = null;
    return results;
  };

  window.app = {
    async signIn(email, password) {
      const { data, error } = await supabase.auth.signInWithPassword({ email, password });
      return { error: error ? errorInfo(error) : null, expiresAt: data.session?.expires_at ?? null };
    },
    async signOut() {
      const { error } = await supabase.auth.signOut();
      return { error: error ? errorInfo(error) : null };
    },
    async refreshSession() {
      const { data, error } = await supabase.auth.refreshSession();
      return { error: error ? errorInfo(error) : null, expiresAt: data.session?.expires_at ?? null };
    },
    call,
    async hasSession() {
      const { data } = await supabase.auth.getSession();
      return Boolean(data.session) && (manager === null || manager.isAuthenticated);
    },
    startBusy,
    stopBusy,
    state: () => ({
      isAuthenticated: manager?.isAuthenticated ?? null,
      tokenExpiresAt: manager?.tokenExpiresAt ?? null,
      isLeader: manager?.isLeader ?? null,
      refreshSessionCalls,
      managerRequests,
      providerCalls: providerCalls.slice(),
      events: events.slice(),
    }),
    // SPEC invariant 6: a token never appears in an event detail.
    tokenLeaks() {
      const text = JSON.stringify(events);
      return { tokensSeen: tokensSeen.size, leaked: [...tokensSeen].filter((t) => text.includes(t)).length };
    },
  };
  document.querySelector('#state').textContent = 'ready';
  document.documentElement.dataset.ready = 'true';
}

main().catch((error) => {
  document.querySelector('#state').textContent = `failed: ${error?.message ?? error}`;
  document.documentElement.dataset.ready = 'failed';
  console.error('vite-app failed to start:', error);
});

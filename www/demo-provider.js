// A tiny identity provider for the demo, standing in for Clerk or Supabase: it signs in
// against the reference backend, keeps the rotating refresh token, and answers getToken()
// from its cache until the access token expires, as Clerk's session.getToken() does. A forced
// call always mints a new token through the rotating refresh endpoint.
//
// The refresh token lives in localStorage, shared by every tab of the origin, as real
// multi-tab dashboards keep it: one sign-in signs in every tab, and a sign-out in any tab
// removes it for all. It is read from storage at each refresh, because another tab may have
// rotated it since. The access token is cached per tab (Clerk keeps its token cache per tab;
// session-keeper shares the tokens between tabs itself).

export const REFRESH_KEY = 'demo_refresh_token';
// Another tab's write can reach this one a few milliseconds late (storage is synchronised
// between renderers asynchronously): how long a refused refresh waits for it.
const LATE_WRITE_MS = 250;
// Refresh attempts per getToken when other tabs keep rotating the token underneath.
const ATTEMPTS = 3;

const stored = () => {
  try { return localStorage.getItem(REFRESH_KEY); } catch { return null; }
};
const store = (value) => {
  try {
    if (value === null) localStorage.removeItem(REFRESH_KEY);
    else localStorage.setItem(REFRESH_KEY, value);
  } catch { /* blocked storage: this tab keeps its access token until it expires */ }
};

export class DemoProvider {
  constructor({ onBusy = () => {} } = {}) {
    this.onBusy = onBusy;
    this.access = null;        // { token, exp, leeway } — exp in ms since the epoch
    this.inflight = null;      // one refresh at a time per tab
    // Arrow functions, so they can be handed to SessionManager as they are.
    this.getToken = (ctx) => this.token(ctx);
    this.checkSession = () => this.refreshToken !== null;
    // A sign-out in another tab removes the refresh token: this tab's cached access token
    // belongs to that ended session.
    globalThis.addEventListener?.('storage', (event) => {
      if ((event.key === REFRESH_KEY || event.key === null) && event.newValue === null) this.access = null;
    });
  }

  get refreshToken() { return stored(); }

  async signIn(email, password) {
    const res = await fetch('/auth/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password }),
    });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(body.error ?? `sign-in failed (${res.status})`);
    this.keep(body);
  }

  async signOut(accessToken) {
    const token = accessToken ?? this.access?.token;
    store(null);
    this.access = null;
    if (token) await fetch('/auth/logout', { method: 'POST', headers: { authorization: `Bearer ${token}` } }).catch(() => {});
  }

  async token({ forceRefresh }) {
    if (!this.refreshToken) return null;
    // Like Clerk, answer from the cache unless the token is close to its end.
    if (!forceRefresh && this.access && this.access.exp > Date.now() + this.access.leeway) return this.access.token;
    this.inflight ??= this.refresh().finally(() => { this.inflight = null; });
    return this.inflight;
  }

  async refresh() {
    this.onBusy(true);
    try {
      for (let attempt = 1; ; attempt += 1) {
        const sent = stored();
        if (sent === null) return this.forget();
        const res = await fetch('/auth/refresh', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ refresh_token: sent }),
        });
        if (res.ok) {
          const session = await res.json();
          // Signed out (in this tab or another) while the refresh was under way: the
          // sign-out wins, and the new token is not written back.
          if (stored() === null) return this.forget();
          return this.keep(session);
        }
        if (res.status !== 401) throw new Error(`refresh failed (${res.status})`);
        // Refused: another tab rotated the token first (a rotation race), or the session
        // is over (revoked, signed out elsewhere). A rotation shows up in storage, maybe a
        // few milliseconds late.
        const newer = await this.changedFrom(sent);
        if (newer === null) {
          if (stored() === sent) store(null);
          return this.forget();
        }
        if (attempt >= ATTEMPTS) throw new Error('refresh failed: the refresh token kept rotating in other tabs');
      }
    } finally {
      this.onBusy(false);
    }
  }

  /** The stored refresh token once it differs from `sent`, or null if it stays (or goes). */
  async changedFrom(sent) {
    const until = Date.now() + LATE_WRITE_MS;
    for (;;) {
      const now = stored();
      if (now !== sent) return now;
      if (Date.now() >= until) return null;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  forget() {
    this.access = null;
    return null;
  }

  keep(session) {
    store(session.refresh_token);
    const lifetime = session.expires_in * 1000;
    this.access = { token: session.access_token, exp: Date.now() + lifetime, leeway: Math.min(10_000, lifetime / 2) };
    return session.access_token;
  }
}

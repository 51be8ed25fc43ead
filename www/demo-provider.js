// A tiny identity provider for the demo, standing in for Clerk or Supabase: it signs in
// against the reference backend, keeps the refresh token, and answers getToken() from its
// cache until the access token expires, as Clerk's session.getToken() does. A forced call
// always mints a new token through the rotating refresh endpoint.

const REFRESH_KEY = 'demo_refresh_token';

export class DemoProvider {
  constructor({ onBusy = () => {} } = {}) {
    this.onBusy = onBusy;
    this.access = null;        // { token, exp } — exp in ms since the epoch
    this.inflight = null;      // one refresh at a time: the rotated refresh token is single-use
    // Arrow functions, so they can be handed to SessionManager as they are.
    this.getToken = (ctx) => this.token(ctx);
    this.checkSession = () => this.refreshToken !== null;
  }

  get refreshToken() { return sessionStorage.getItem(REFRESH_KEY); }

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
    sessionStorage.removeItem(REFRESH_KEY);
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
      const res = await fetch('/auth/refresh', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ refresh_token: this.refreshToken }),
      });
      if (res.status === 401) {
        // The refresh token was revoked or reused: there is no session any more.
        sessionStorage.removeItem(REFRESH_KEY);
        this.access = null;
        return null;
      }
      if (!res.ok) throw new Error(`refresh failed (${res.status})`);
      return this.keep(await res.json());
    } finally {
      this.onBusy(false);
    }
  }

  keep(session) {
    sessionStorage.setItem(REFRESH_KEY, session.refresh_token);
    const lifetime = session.expires_in * 1000;
    this.access = { token: session.access_token, exp: Date.now() + lifetime, leeway: Math.min(10_000, lifetime / 2) };
    return session.access_token;
  }
}

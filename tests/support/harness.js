// Test doubles for the browser suites. Every token minted here carries LEAK_MARK, so
// the leak checks can search logs, errors and event details for it.

export const LEAK_MARK = 'LEAKMARK';
const enc = (obj) => btoa(JSON.stringify(obj)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
let minted = 0;

/** A JWT-shaped token living `lifetimeMs` (fractional exp keeps ms precision). */
export function jwt(lifetimeMs, iatShiftMs = 0) {
  const now = Date.now();
  minted += 1;
  const payload = { sub: 'user-1', iat: (now + iatShiftMs) / 1000, exp: (now + lifetimeMs) / 1000 };
  return `${enc({ alg: 'HS256', typ: 'JWT' })}.${enc(payload)}.${LEAK_MARK}${minted}`;
}

/** A scripted identity provider: plain calls answer from cache while the token lives. */
export class Provider {
  constructor(lifetimeMs) {
    this.lifetimeMs = lifetimeMs;
    this.mode = 'ok';
    this.delayMs = 0;
    this.calls = [];
    this.token = null;
    this.expiresAt = 0;
    this.getToken = (ctx) => this.answer(ctx);
    this.sessionMode = 'true';
    this.sessionChecks = 0;
    this.checkSession = () => this.session();
  }
  /** `checkSession()`: modes true/false/hang/throw/reject. */
  session() {
    this.sessionChecks += 1;
    switch (this.sessionMode) {
      case 'false': return false;
      case 'hang': return new Promise(() => {});
      case 'throw': throw new Error('checkSession exploded');
      case 'reject': return Promise.reject(new Error('checkSession rejected'));
      default: return Promise.resolve(true);
    }
  }
  answer(ctx) {
    this.calls.push({ force: ctx.forceRefresh === true, reason: ctx.reason });
    switch (this.mode) {
      case 'null': return null;
      case 'throw': throw new Error(`provider exploded ${this.token}`);
      case 'reject': return Promise.reject(new Error(`provider rejected ${this.token}`));
      case 'hang': return new Promise(() => {});
      case 'number': return 42;
      case 'same': this.token ??= jwt(this.lifetimeMs); return this.token;
    }
    if (ctx.forceRefresh || !this.token || Date.now() >= this.expiresAt) this.mint();
    const token = this.token;
    return this.delayMs ? new Promise((r) => setTimeout(() => r(token), this.delayMs)) : Promise.resolve(token);
  }
  mint() {
    this.token = jwt(this.lifetimeMs);
    this.expiresAt = Date.now() + this.lifetimeMs;
    return this.token;
  }
  forced() { return this.calls.filter((c) => c.force).length; }
  plain() { return this.calls.filter((c) => !c.force).length; }
  reasons() { return this.calls.map((c) => `${c.force ? 'forced' : 'plain'}:${c.reason}`).join(','); }
}

/**
 * A fake backend used as the injected fetch. It accepts only the provider's current token
 * (rotation) unless that token was revoked; `mode = 'reject'` refuses everything.
 */
export class Backend {
  constructor(provider) {
    this.provider = provider;
    this.mode = 'normal';
    this.requests = [];
    this.revoked = new Set();
    this.held = [];
    this.scripted = [];
    this.credits = 100;
    this.restarted = false;
    this.zeroReads = 0;
    this.verifyMode = 'normal';
    this.failures = 0;
    this.offlineOnFailure = false;
    this.verifyRefusals = 0;
    this.fetch = (input, init) => this.handle(input instanceof Request && init === undefined ? input : new Request(input, init));
  }
  async handle(req) {
    const record = { url: req.url, method: req.method, auth: req.headers.get('authorization'), body: null, type: req.headers.get('content-type'), at: performance.now() };
    this.requests.push(record);
    if (req.signal.aborted) throw req.signal.reason;
    if (this.failures > 0) {
      this.failures -= 1;
      if (this.offlineOnFailure) setOnline(false);
      throw new TypeError('Failed to fetch');
    }
    record.body = req.method === 'GET' || req.method === 'HEAD' ? null : await req.text();
    if (this.held.length) await new Promise((resolve, reject) => {
      const release = this.held.shift();
      release.resolve = resolve;
      req.signal.addEventListener('abort', () => reject(req.signal.reason));
    });
    if (this.mode === 'hang') await new Promise((_, reject) => req.signal.addEventListener('abort', () => reject(req.signal.reason)));
    const script = this.scripted.shift();
    if (script) return new Response(script.body, { status: script.status, headers: { 'content-type': 'application/json', ...script.headers } });
    const ok = this.mode !== 'reject' && record.auth !== null && record.auth === `Bearer ${this.provider.token}` && !this.revoked.has(this.provider.token);
    const json = (status, body) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
    if (!ok) return json(401, { error: 'Token has expired', requires_refresh: true });
    const path = new URL(req.url).pathname;
    if (path === '/auth/verify') {
      // Like the real backends: the token must come in the header and in the JSON body.
      let body = null;
      try { body = JSON.parse(record.body); } catch { /* refused below */ }
      const refuse = this.verifyMode === 'refuse' || (this.verifyRefusals > 0 && this.verifyRefusals--);
      if (refuse || body?.token !== this.provider.token) return json(401, { error: 'Authentication required' });
      this.restarted = false;
      return json(200, { valid: true });
    }
    if (path === '/api/users/credits' || path === '/auth/credits') {
      // After a restart the session cache is gone: 0 until the session is verified again.
      const credits = this.restarted || this.zeroReads-- > 0 ? 0 : this.credits;
      return json(200, path === '/auth/credits' ? { success: true, credits, user_id: 'user-1' } : { credits });
    }
    return json(200, { credits: 100 });
  }
  /** The backend restarted: credits read 0 until a verify succeeds. */
  restart() { this.restarted = true; }
  /** Requests whose path is `path`. */
  hits(path) { return this.requests.filter((r) => new URL(r.url).pathname === path).length; }
  /** Milliseconds between request i and request j (negative indexes count from the end). */
  gap(i, j) { return this.at(j).at - this.at(i).at; }
  /** Holds the next request until the returned function is called. */
  holdNext() {
    const slot = { resolve: null };
    this.held.push(slot);
    return () => slot.resolve && slot.resolve();
  }
  script(status, body, headers) { this.scripted.push({ status, body, headers: headers ?? {} }); }
  revoke(token) { this.revoked.add(token); }
  count() { return this.requests.length; }
  at(i) { return this.requests.at(i); }
  auth(i) { return this.at(i)?.auth ?? null; }
  body(i) { return this.at(i)?.body ?? null; }
  contentType(i) { return this.at(i)?.type ?? null; }
  url(i) { return this.at(i)?.url ?? ''; }
}

/** A SessionConfig wired to the doubles, with `extra` merged in. */
export function config(provider, backend, extra) {
  const merged = { getToken: provider.getToken, fetch: backend.fetch, logLevel: 'debug', ...(extra ?? {}) };
  // `checkSession: true` in a test's extras means "the provider's own probe".
  if (merged.checkSession === true) merged.checkSession = provider.checkSession;
  return merged;
}

/** One request init per replayable body type, as [name, init] pairs. */
export function bodies() {
  const form = new FormData();
  form.append('field', 'value');
  form.append('file', new Blob(['file-bytes'], { type: 'text/plain' }), 'a.txt');
  return [
    ['string', { method: 'POST', body: 'plain text body' }],
    ['json', { method: 'PUT', body: JSON.stringify({ a: 1, b: [2, 3] }), headers: { 'content-type': 'application/json' } }],
    ['urlsearchparams', { method: 'POST', body: new URLSearchParams({ q: 'x y', n: '1' }) }],
    ['formdata', { method: 'POST', body: form }],
    ['blob', { method: 'POST', body: new Blob(['blob-bytes'], { type: 'application/octet-stream' }) }],
    ['arraybuffer', { method: 'PATCH', body: new TextEncoder().encode('buffer-bytes').buffer }],
  ];
}

/** A POST init whose body is a ReadableStream (sent once, never replayed). */
export function streamInit() {
  const stream = new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode('streamed')); c.close(); } });
  return { method: 'POST', body: stream, duplex: 'half' };
}

/** Records events; `listener(name)` is what a page would pass to `on`. */
export class Recorder {
  constructor() { this.seen = []; }
  listener(name) { return (detail) => this.seen.push({ name, detail: JSON.stringify(detail) }); }
  count(name) { return this.seen.filter((e) => e.name === name).length; }
  last(name) { return this.seen.filter((e) => e.name === name).at(-1)?.detail ?? null; }
  leaks() { return this.seen.filter((e) => e.detail.includes(LEAK_MARK)).length; }
}

// Console tap: every line the library logs during the suite, to search for tokens.
const lines = [];
let tapped = false;
export function tapConsole() {
  if (tapped) return;
  tapped = true;
  for (const level of ['debug', 'info', 'warn', 'error', 'log']) {
    const original = console[level].bind(console);
    console[level] = (...args) => { lines.push(args.map(String).join(' ')); original(...args); };
  }
}
export function loggedLines() { return lines.filter((l) => l.includes('[session-keeper]')).length; }
export function loggedLeaks() { return lines.filter((l) => l.includes(LEAK_MARK)).length; }
export function loggedMatching(text) { return lines.filter((l) => l.includes('[session-keeper]') && l.includes(text)).length; }

/** Makes localStorage.setItem/removeItem throw (quota, private mode) until the returned undo runs. */
export function breakStorage() {
  const { setItem, removeItem } = Storage.prototype;
  Storage.prototype.setItem = function () { throw new DOMException('quota', 'QuotaExceededError'); };
  Storage.prototype.removeItem = function () { throw new DOMException('denied', 'SecurityError'); };
  return () => { Storage.prototype.setItem = setItem; Storage.prototype.removeItem = removeItem; };
}

/** Dispatches a page-lifecycle event the way the browser would on wake-up. */
export function wake(name) {
  (name === 'visibilitychange' ? document : window).dispatchEvent(new Event(name));
}

export function errorCode(e) { return e?.code ?? null; }
export function errorName(e) { return e?.name ?? null; }
export function errorText(e) { return `${e?.name}: ${e?.message} ${e?.cause ?? ''}`; }
export function status(r) { return r instanceof Response ? r.status : -1; }

/** Fakes `navigator.onLine`; going online also dispatches the `online` event. */
export function setOnline(online) {
  if (online) {
    delete navigator.onLine;
    window.dispatchEvent(new Event('online'));
  } else {
    Object.defineProperty(navigator, 'onLine', { configurable: true, get: () => false });
  }
}

/** Counts window events of `name` (for `auth-recovered`) and keeps the last detail. */
export class WindowEvents {
  constructor(name) {
    this.seen = [];
    this.handler = (e) => this.seen.push(JSON.stringify(e.detail));
    this.name = name;
    window.addEventListener(name, this.handler);
  }
  count() { return this.seen.length; }
  last() { return this.seen.at(-1) ?? null; }
  close() { window.removeEventListener(this.name, this.handler); }
}

export function storageGet(key) { return localStorage.getItem(key); }
export function storageSet(key, value) { localStorage.setItem(key, value); }
export function storageRemove(key) { localStorage.removeItem(key); }

/** Makes localStorage.getItem throw too (a sandboxed frame); returns the undo. */
export function breakStorageReads() {
  const { getItem } = Storage.prototype;
  Storage.prototype.getItem = function () { throw new DOMException('denied', 'SecurityError'); };
  return () => { Storage.prototype.getItem = getItem; };
}

export function field(object, name) { return object?.[name]; }

// ----- SDK doubles for the bridges (tests/bridges.rs) -----

/**
 * The documented shape of clerk-js's `Clerk`: `session` (null when signed out) with
 * `status` and `getToken(options)`, and `addListener(callback)` returning an unsubscribe.
 * Tokens come from `provider`, so the fake Backend accepts them. `getToken()` answers from
 * cache while the token lives, as Clerk does; `{ skipCache: true }` always mints.
 */
export class FakeClerk {
  constructor(provider) {
    this.provider = provider;
    this.listeners = new Set();
    this.tokenCalls = [];
    this.unsubscribed = 0;
    this.session = this.newSession();
  }
  newSession() {
    const clerk = this;
    return {
      status: 'active',
      getToken(options) {
        clerk.tokenCalls.push(options === undefined ? 'cached' : JSON.stringify(options));
        const { provider } = clerk;
        const fresh = provider.token && Date.now() < provider.expiresAt;
        return Promise.resolve(options?.skipCache || !fresh ? provider.mint() : provider.token);
      },
    };
  }
  addListener(listener) {
    this.listeners.add(listener);
    // clerk-js calls a new listener at once with the current resources when loaded.
    listener({ client: {}, session: this.session, user: this.session ? {} : null });
    return () => {
      this.unsubscribed += 1;
      this.listeners.delete(listener);
    };
  }
  signOut() {
    this.session = null;
    for (const listener of [...this.listeners]) listener({ client: {}, session: null, user: null });
  }
  calls() { return this.tokenCalls.join(','); }
  listenerCount() { return this.listeners.size; }
}

/**
 * The parts of a supabase-js client the bridge uses, behaving as supabase-js does:
 * `getSession()` answers the stored session, `refreshSession()` mints and emits
 * TOKEN_REFRESHED (or answers AuthSessionMissingError when signed out), and
 * `onAuthStateChange` emits INITIAL_SESSION after subscribing. (tests/e2e drive the real
 * supabase-js; this double lets the browser suite count calls exactly.)
 */
export class FakeSupabase {
  constructor(provider) {
    this.provider = provider;
    this.current = null;
    this.callbacks = new Set();
    this.getSessionCalls = 0;
    this.refreshSessionCalls = 0;
    this.unsubscribed = 0;
    this.failWith = null;
    const fake = this;
    this.auth = {
      async getSession() {
        fake.getSessionCalls += 1;
        if (fake.failWith) return { data: { session: null }, error: new Error(fake.failWith) };
        return { data: { session: fake.current }, error: null };
      },
      async refreshSession() {
        fake.refreshSessionCalls += 1;
        if (fake.failWith) return { data: { session: null, user: null }, error: new Error(fake.failWith) };
        if (!fake.current) {
          const error = new Error('Auth session missing!');
          error.name = 'AuthSessionMissingError';
          return { data: { session: null, user: null }, error };
        }
        fake.renew('TOKEN_REFRESHED');
        return { data: { session: fake.current, user: {} }, error: null };
      },
      onAuthStateChange(callback) {
        fake.callbacks.add(callback);
        queueMicrotask(() => callback('INITIAL_SESSION', fake.current));
        return { data: { subscription: { unsubscribe() { fake.unsubscribed += 1; fake.callbacks.delete(callback); } } } };
      },
    };
  }
  renew(event) {
    this.current = { access_token: this.provider.mint(), refresh_token: `${LEAK_MARK}-refresh` };
    this.emit(event);
  }
  signIn() { this.renew('SIGNED_IN'); }
  /** supabase-js's own auto-refresh ticker renewing the token. */
  refreshInBackground() { this.renew('TOKEN_REFRESHED'); }
  signOut() {
    this.current = null;
    this.emit('SIGNED_OUT');
  }
  emit(event) { for (const callback of [...this.callbacks]) callback(event, this.current); }
  subscribers() { return this.callbacks.size; }
  accessToken() { return this.current?.access_token ?? null; }
}

/** A bare `subscribe` for the generic push tests: `push(value)` calls every listener. */
export class Pusher {
  constructor() {
    this.listeners = new Set();
    this.unsubscribed = 0;
    this.subscribe = (listener) => {
      this.listeners.add(listener);
      return () => { this.unsubscribed += 1; this.listeners.delete(listener); };
    };
  }
  push(value) { for (const listener of [...this.listeners]) listener(value); }
}

/** A SessionConfig from a bridge's TokenProvider, spread as a page would, plus the fake fetch. */
export function bridged(tokenProvider, backend, extra) {
  return { ...tokenProvider, fetch: backend.fetch, logLevel: 'debug', ...(extra ?? {}) };
}

/** Calls `object[name]()` and awaits it (a provider's checkSession, a template global). */
export async function callMethod(object, name, ...args) { return object[name](...args); }

/** Removes what installGlobal set, between tests. */
export function clearGlobals() {
  globalThis.sessionKeeper?.stop();
  for (const name of ['sessionKeeper', 'fetchWithAuth', 'triggerSessionRecoveryCheck', 'updateCredits', 'waitForAuthStability']) {
    delete globalThis[name];
  }
}

// Test doubles for the browser suites. Every token minted here carries LEAK_MARK, so
// the leak checks can search logs, errors and event details for it.

export const LEAK_MARK = 'LEAKMARK';
const enc = (obj) => btoa(JSON.stringify(obj)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
let minted = 0;

// ----- the virtual clock -----

// The page's own timer and a macrotask tick, taken before any test replaces a global.
const realSetTimeout = globalThis.setTimeout.bind(globalThis);
const realClearTimeout = globalThis.clearTimeout.bind(globalThis);
const tickChannel = new MessageChannel();
const tickWaiters = [];
tickChannel.port1.onmessage = () => tickWaiters.shift()?.();
/** One real macrotask turn (a MessageChannel message: no 4 ms clamp, unlike setTimeout). */
function macrotask() {
  return new Promise((resolve) => {
    tickWaiters.push(resolve);
    tickChannel.port2.postMessage(0);
  });
}
/** One turn of the page's own timer queue (setTimeout 0: at least 1 ms, often 4). */
function timerTurn() {
  return new Promise((resolve) => { realSetTimeout(resolve, 0); });
}
// Real asynchronous work in progress (body reads, by the doubles and by the library on
// their responses), and a counter that moves whenever a double or the clock does
// something: a flush waits for the work itself, then until the counter has been still for
// a few turns.
const works = new Set();
let activity = 0;
const touch = () => { activity += 1; };
/** Tracks `promise` (a body read) as work in progress until it settles; returns it. */
function work(promise) {
  const tracked = promise.finally(() => {
    works.delete(tracked);
    touch();
  });
  works.add(tracked);
  touch();
  return tracked;
}
/**
 * Quiet turns a flush waits for, and the most turns it spends. The last quiet turn is a
 * timer turn, so that the browser's other task queues get a turn too. A body read is
 * awaited as such (it can take many tasks under load, and a flood of turns can starve it):
 * at most `WORK_BOUND_MS` real ms, after which the flush goes on as if it were done.
 */
const QUIET_TURNS = 10;
const MAX_TURNS = 2000;
const WORK_BOUND_MS = 5000;

/**
 * A clock for `config.clock`: `now()` starts at the real `Date.now()` and moves only when a
 * test says so; `setTimeout`/`clearTimeout` arm virtual timers. `advance(ms)` fires the
 * timers that fall due, in due order (then in the order they were armed), setting `now` to
 * each one's due time first, and lets the page's promises, fetch bodies and events run
 * between them (real macrotask turns: no policy waits on them).
 */
export class VirtualClock {
  constructor(start) {
    this.t = start ?? Date.now();
    this.timers = new Map(); // id → { due, seq, fn }
    this.nextId = 0;
    this.seq = 0;
    this.fired = 0;
    this.now = () => this.t;
    this.setTimeout = (fn, ms) => {
      const delay = Number.isFinite(ms) && ms > 0 ? Math.floor(ms) : 0;
      const id = ++this.nextId;
      this.timers.set(id, { due: this.t + delay, seq: ++this.seq, fn });
      touch();
      return id;
    };
    this.clearTimeout = (id) => {
      if (this.timers.delete(id)) touch();
    };
  }
  /** Armed timers. */
  pending() { return this.timers.size; }
  /** The due time of the earliest armed timer, or null. */
  nextDue() { return this.next()?.due ?? null; }
  next() {
    let best = null;
    let bestId = null;
    for (const [id, timer] of this.timers) {
      if (!best || timer.due < best.due || (timer.due === best.due && timer.seq < best.seq)) {
        best = timer;
        bestId = id;
      }
    }
    return best ? { id: bestId, ...best } : null;
  }
  /** Fires the earliest timer if it is due by `limit`; false when there is none. */
  fireNext(limit) {
    const next = this.next();
    if (!next || next.due > limit) return false;
    this.timers.delete(next.id);
    if (next.due > this.t) this.t = next.due;
    this.fired += 1;
    touch();
    try {
      next.fn();
    } catch (error) {
      // A timer callback that throws is the page's bug, reported like the browser does.
      queueMicrotask(() => { throw error; });
    }
    return true;
  }
  /**
   * Lets everything that is not waiting on time run: promise chains, fetch bodies, events.
   * Real macrotask turns until the doubles and the clock have been still for a few turns.
   * `done()` ends it early (the promise a test waits for has settled).
   */
  async flush(done) {
    let quiet = 0;
    let seen = activity;
    for (let turn = 0; turn < MAX_TURNS; turn++) {
      if (works.size) {
        let bound;
        await Promise.race([
          Promise.allSettled([...works]),
          new Promise((resolve) => { bound = realSetTimeout(resolve, WORK_BOUND_MS); }),
        ]);
        realClearTimeout(bound);
      }
      await (quiet === QUIET_TURNS - 1 ? timerTurn() : macrotask());
      if (done?.()) return;
      if (works.size === 0 && activity === seen) {
        quiet += 1;
        if (quiet >= QUIET_TURNS) return;
      } else {
        quiet = 0;
        seen = activity;
      }
    }
  }
  /** Moves time forward by `ms`, firing due timers in order (see the class). */
  async advance(ms) {
    const target = this.t + Math.max(0, ms);
    await this.flush();
    while (this.fireNext(target)) await this.flush();
    this.t = target;
    await this.flush();
  }
  /** `advance` to the virtual time `at` (ms since the epoch). */
  async advanceTo(at) { return this.advance(at - this.t); }
  /**
   * Moves `now` forward by `ms` without firing anything (a laptop asleep: timers are
   * suspended and fire late, when asked to by `advance`).
   */
  skip(ms) {
    this.t += Math.max(0, ms);
    touch();
  }
  /**
   * What `promise` did within `ms` of virtual time: `{ state, value | reason, at }` as
   * `settleWithin`, `at` the virtual time it settled. Fires the timers due meanwhile, one
   * by one, and stops as soon as it settles (so `now` is then the settling time); when it
   * has not settled by the bound, `now` is the bound.
   */
  async within(promise, ms) {
    const limit = this.t + Math.max(0, ms);
    let report = null;
    Promise.resolve(promise).then(
      (value) => { report = { state: 'fulfilled', value, at: this.t }; },
      (reason) => { report = { state: 'rejected', reason, at: this.t }; },
    );
    const done = () => report !== null;
    await this.flush(done);
    while (!report && this.fireNext(limit)) await this.flush(done);
    if (report) return report;
    this.t = limit;
    await this.flush(done);
    return report ?? { state: 'pending', at: this.t };
  }
}

/** A new virtual clock starting at the real present. */
export function virtualClock() { return new VirtualClock(); }

/**
 * A JWT-shaped token living `lifetimeMs` (fractional exp keeps ms precision). `iatShiftMs`
 * and `expShiftMs` move the claims off the page clock (an issuer clock that is skewed).
 * `wholeSeconds` issues whole-second claims (iat = the current second, exp = iat + lifetime),
 * so `exp - iat` is exactly `lifetimeMs` when that is a multiple of 1000. `now` is the
 * issuer's present (a rig's virtual clock), the page's by default.
 */
export function jwt(lifetimeMs, iatShiftMs = 0, expShiftMs = 0, wholeSeconds = false, now = Date.now()) {
  minted += 1;
  const payload = wholeSeconds
    ? { sub: 'user-1', iat: Math.floor((now + iatShiftMs) / 1000), exp: Math.floor((now + iatShiftMs) / 1000) + lifetimeMs / 1000 }
    : { sub: 'user-1', iat: (now + iatShiftMs) / 1000, exp: (now + lifetimeMs + expShiftMs) / 1000 };
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
    // The issuer's clock minus the page's, applied to iat and exp of minted tokens.
    this.skewMs = 0;
    // Mint whole-second claims (exp - iat exactly the lifetime).
    this.wholeSeconds = false;
    // A VirtualClock: tokens are then minted, cached and delayed on virtual time.
    this.clock = null;
  }
  /** The issuer's present: the virtual clock's when there is one. */
  now() { return this.clock ? this.clock.now() : Date.now(); }
  /** A token of this provider's lifetime, minted now (on its clock). */
  jwt() { return jwt(this.lifetimeMs, this.skewMs, this.skewMs, this.wholeSeconds, this.now()); }
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
    touch();
    this.calls.push({ force: ctx.forceRefresh === true, reason: ctx.reason });
    switch (this.mode) {
      case 'null': return null;
      case 'throw': throw new Error(`provider exploded ${this.token}`);
      case 'reject': return Promise.reject(new Error(`provider rejected ${this.token}`));
      case 'hang': return new Promise(() => {});
      case 'number': return 42;
      case 'empty': return '';
      case 'newline': return `${this.jwt()}\nX-Injected: 1`;
      case 'object': return { token: this.jwt() };
      case 'thenable': return { then() { throw new Error('thenable exploded'); } };
      case 'same': this.token ??= this.jwt(); return this.token;
    }
    if (ctx.forceRefresh || !this.token || this.now() >= this.expiresAt) this.mint();
    const token = this.token;
    if (!this.delayMs) return Promise.resolve(token);
    // The delay is the provider's latency: virtual on a virtual clock.
    const timers = this.clock ?? { setTimeout: realSetTimeout };
    return new Promise((r) => timers.setTimeout(() => { touch(); r(token); }, this.delayMs));
  }
  mint() {
    this.token = this.jwt();
    this.expiresAt = this.now() + this.lifetimeMs;
    (this.issued ??= new Map()).set(this.token, this.expiresAt);
    return this.token;
  }
  /** Whether `token` was minted here and has not expired (on the provider's clock). */
  live(token) { return (this.issued?.get(token) ?? 0) > this.now(); }
  forced() { return this.calls.filter((c) => c.force).length; }
  plain() { return this.calls.filter((c) => !c.force).length; }
  reasons() { return this.calls.map((c) => `${c.force ? 'forced' : 'plain'}:${c.reason}`).join(','); }
}

/**
 * A Response whose body reads (its own and its clones', as the library reads a clone) count
 * as work in progress for the virtual clock's flush: Chrome reads a body in a few tasks of
 * its own, and the clock must not fire a timer (a request timeout) while one is under way.
 */
class TrackedResponse extends Response {
  clone() {
    const copy = super.clone();
    Object.setPrototypeOf(copy, TrackedResponse.prototype);
    return copy;
  }
  text() { return work(super.text()); }
  async json() { return JSON.parse(await this.text()); }
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
    // A VirtualClock for the request times (`gap`); the provider's by default.
    this.clock = null;
    this.fetch = (input, init) => this.handle(input instanceof Request && init === undefined ? input : new Request(input, init));
  }
  /** Request times: virtual milliseconds on a virtual clock, else the page's. */
  now() {
    const clock = this.clock ?? this.provider.clock;
    return clock ? clock.now() : performance.now();
  }
  async handle(req) {
    touch();
    try {
      return await this.respond(req);
    } finally {
      touch();
    }
  }
  async respond(req) {
    const record = { url: req.url, method: req.method, auth: req.headers.get('authorization'), body: null, type: req.headers.get('content-type'), at: this.now() };
    this.requests.push(record);
    if (req.signal.aborted) throw req.signal.reason;
    if (this.failures > 0) {
      this.failures -= 1;
      if (this.offlineOnFailure) setOnline(false);
      throw new TypeError('Failed to fetch');
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') record.body = await work(req.text());
    if (this.held.length) await new Promise((resolve, reject) => {
      const release = this.held.shift();
      release.resolve = resolve;
      req.signal.addEventListener('abort', () => reject(req.signal.reason));
    });
    if (this.mode === 'hang') await new Promise((_, reject) => req.signal.addEventListener('abort', () => reject(req.signal.reason)));
    const script = this.scripted.shift();
    if (script) return new TrackedResponse(script.body, { status: script.status, headers: { 'content-type': 'application/json', ...script.headers } });
    // 'live': any unexpired token of the provider's, as real backends check a JWT (the
    // tabs suite); otherwise only the newest, which makes every stale token visible.
    const bearer = record.auth?.startsWith('Bearer ') ? record.auth.slice(7) : null;
    const ok = this.mode === 'live'
      ? bearer !== null && this.provider.live(bearer) && !this.revoked.has(bearer)
      : this.mode !== 'reject' && record.auth !== null && record.auth === `Bearer ${this.provider.token}` && !this.revoked.has(this.provider.token);
    const json = (status, body) => new TrackedResponse(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
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
  /**
   * Holds the next request until the returned function is called. Called before any request
   * took the hold, that function withdraws it, so it cannot catch a later request.
   */
  holdNext() {
    const slot = { resolve: null };
    this.held.push(slot);
    return () => {
      const waiting = this.held.indexOf(slot);
      if (waiting >= 0) this.held.splice(waiting, 1);
      if (slot.resolve) slot.resolve();
    };
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
  // One tab's policy by default: coordination waits on Web Locks and IndexedDB, real-time
  // browser work that virtual time cannot step. tests/tabs.rs puts managers in a group.
  const merged = { getToken: provider.getToken, fetch: backend.fetch, logLevel: 'debug', tabs: false, ...(extra ?? {}) };
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
  listener(name) { return (detail) => { touch(); this.seen.push({ name, detail: JSON.stringify(detail) }); }; }
  count(name) { return this.seen.filter((e) => e.name === name).length; }
  last(name) { return this.seen.filter((e) => e.name === name).at(-1)?.detail ?? null; }
  leaks() { return this.seen.filter((e) => e.detail.includes(LEAK_MARK)).length; }
}

// Console tap: every line the library logs during the suite, to search for tokens.
const lines = [];
// The same lines with their console level, for the fault suite's per-test searches.
const entries = [];
let tapped = false;
export function tapConsole() {
  if (tapped) return;
  tapped = true;
  for (const level of ['debug', 'info', 'warn', 'error', 'log']) {
    const original = console[level].bind(console);
    console[level] = (...args) => {
      const line = args.map(String).join(' ');
      lines.push(line);
      entries.push({ level, line });
      original(...args);
    };
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
        const fresh = provider.token && provider.now() < provider.expiresAt;
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
  return { ...tokenProvider, fetch: backend.fetch, logLevel: 'debug', tabs: false, ...(extra ?? {}) };
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

// ----- the fault suites (tests/faults.rs, tests/faults_trap.rs) -----

/**
 * Resolves within `ms` with what `promise` did: `{ state: 'fulfilled', value }`,
 * `{ state: 'rejected', reason }`, or `{ state: 'pending' }` when it had not settled by then.
 * Never rejects, so a test can assert "every promise settles" without hanging.
 */
export function settleWithin(promise, ms) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ state: 'pending' }), ms);
    Promise.resolve(promise).then(
      (value) => { clearTimeout(timer); resolve({ state: 'fulfilled', value }); },
      (reason) => { clearTimeout(timer); resolve({ state: 'rejected', reason }); },
    );
  });
}

/** A short, token-free description of any value, for assertion messages. */
export function describeValue(v) {
  const redact = (text) => (String(text).includes(LEAK_MARK) ? '<a token>' : String(text));
  if (v === undefined) return 'undefined';
  if (v === null) return 'null';
  if (typeof Response !== 'undefined' && v instanceof Response) return `Response ${v.status}`;
  if (v?.name === 'SessionError') return `SessionError(${v.code}): ${redact(v.message)}${v.cause !== undefined ? ` [cause ${describeValue(v.cause)}]` : ''}`;
  if (v instanceof Error || (typeof DOMException !== 'undefined' && v instanceof DOMException)) return `${v.name}: ${redact(v.message)}`;
  if (typeof v === 'string') return JSON.stringify(redact(v));
  if (typeof v === 'object') {
    try { return redact(JSON.stringify(v)); } catch { return redact(Object.prototype.toString.call(v)); }
  }
  return redact(v);
}

// Page-wide trap detector: a trapped module shows up as an uncaught `RuntimeError:
// unreachable` (a Rust panic, often a RefCell left borrowed by an earlier JS exception) or a
// wasm-bindgen "recursive use of an object" error, in a window `error` event, an
// `unhandledrejection` or a console.error line. Every other uncaught error is kept too
// (`uncaughtSince`): a JS exception that escaped a Rust frame without trapping yet.
const TRAP = /RuntimeError|unreachable|recursive use/;
const traps = [];
const uncaught = [];
let watching = false;
function noteTrap(text) {
  if (!TRAP.test(text)) return;
  // The first line, and the few stack frames that say where (RefCell, session_keeper).
  const [head, ...rest] = text.split('\n');
  const frames = rest
    .map((l) => l.trim().replace(/^at \S+?\.wasm\./, 'at ').replace(/ \(http[^)]*\)$/, ''))
    .filter((l) => /cell|session_keeper|borrow|recursive/.test(l))
    .slice(0, 4);
  const short = [head.trim(), ...frames].join(' | ');
  traps.push(short.includes(LEAK_MARK) ? '<text with a token>' : short);
}
/** Installs the detector once; later calls do nothing. */
export function watchTraps() {
  if (watching) return;
  watching = true;
  window.addEventListener('error', (e) => {
    const text = `uncaught: ${e.message ?? ''} ${e.error?.stack ?? ''}`;
    uncaught.push(describeValue(e.error ?? e.message));
    noteTrap(text);
  });
  window.addEventListener('unhandledrejection', (e) => {
    const reason = e.reason;
    const text = `unhandled rejection: ${reason?.name ?? ''}: ${reason?.message ?? reason} ${reason?.stack ?? ''}`;
    // Rejections of promises a test chose not to await are not errors of the page.
    if (reason?.name !== 'SessionError') uncaught.push(describeValue(reason));
    noteTrap(text);
  });
  const original = console.error;
  console.error = function (...args) {
    noteTrap(args.map(String).join(' '));
    return original.apply(this, args);
  };
}
/** How many traps were seen so far on this page. */
export function trapCount() { return traps.length; }
/** Every trap text seen on this page, in order. */
export function trapsSeen() { return traps.slice(); }
/** The trap texts seen since `mark` (a `trapCount()`), joined; '' when none. */
export function trapsSince(mark) { return traps.slice(mark).join('\n---\n'); }
/** Uncaught errors (any kind) seen since `mark`, for reports; `uncaughtCount()` is the mark. */
export function uncaughtCount() { return uncaught.length; }
export function uncaughtSince(mark) { return uncaught.slice(mark).join(' | '); }

/** Library lines logged so far (a mark for `loggedSince`). */
export function logMark() { return entries.length; }
/**
 * Library lines logged since `mark` at `level` ('' for any) that contain every one of
 * `needles`.
 */
export function loggedSince(mark, level, needles) {
  return entries.slice(mark).filter((e) => e.line.includes('[session-keeper]')
    && (!level || e.level === level)
    && needles.every((n) => e.line.includes(n))).length;
}

// ----- hostile globals: each helper returns its undo -----

/**
 * Every console method throws. One exception: wasm-bindgen-test's own panic report
 * ("panicked at …") still goes through. Its panic hook writes with console.error, and a
 * hook that throws never returns, so every later panic on the page would abort without a
 * message.
 */
export function breakConsole() {
  const saved = {};
  for (const method of ['debug', 'info', 'warn', 'error', 'log']) {
    saved[method] = console[method];
    console[method] = (...args) => {
      if (method === 'error' && String(args[0]).startsWith('panicked at')) return saved.error(...args);
      throw new Error(`console.${method} is broken`);
    };
  }
  return () => { Object.assign(console, saved); };
}

/** `globalThis.console` is gone. */
export function deleteConsole() {
  const saved = globalThis.console;
  delete globalThis.console;
  return () => { globalThis.console = saved; };
}

function deleteStatic(owner, name) {
  const saved = Object.getOwnPropertyDescriptor(owner, name);
  delete owner[name];
  return () => { if (saved) Object.defineProperty(owner, name, saved); };
}
/** Chrome < 116, Safari < 17.4, Firefox < 124. */
export function deleteAbortSignalAny() { return deleteStatic(AbortSignal, 'any'); }
/** Safari < 16, Chrome < 103. */
export function deleteAbortSignalTimeout() { return deleteStatic(AbortSignal, 'timeout'); }
/** Safari < 15.4. */
export function deleteBroadcastChannel() { return deleteStatic(globalThis, 'BroadcastChannel'); }

function replaceLocalStorage(get) {
  const own = Object.getOwnPropertyDescriptor(window, 'localStorage');
  Object.defineProperty(window, 'localStorage', { configurable: true, enumerable: true, get });
  return () => {
    if (own) Object.defineProperty(window, 'localStorage', own);
    else delete window.localStorage;
  };
}
/** Reading `window.localStorage` throws (sandboxed frame, storage disabled). */
export function breakLocalStorageAccess() {
  return replaceLocalStorage(() => { throw new DOMException('The document is sandboxed', 'SecurityError'); });
}
/** `window.localStorage` is null (some embedded webviews). */
export function nullLocalStorage() { return replaceLocalStorage(() => null); }
/** getItem, setItem and removeItem all throw. */
export function breakStorageAll() {
  const undoWrites = breakStorage();
  const undoReads = breakStorageReads();
  return () => { undoReads(); undoWrites(); };
}
/** Only setItem throws (QuotaExceededError), as when storage is full. */
export function breakStorageQuota() {
  const { setItem } = Storage.prototype;
  Storage.prototype.setItem = function () { throw new DOMException('quota', 'QuotaExceededError'); };
  return () => { Storage.prototype.setItem = setItem; };
}

/** One hostile global by name (see the helpers above); returns its undo. */
export function hostile(name) {
  const make = {
    'console-throws': breakConsole,
    'console-deleted': deleteConsole,
    'abortsignal-any-deleted': deleteAbortSignalAny,
    'abortsignal-timeout-deleted': deleteAbortSignalTimeout,
    'broadcastchannel-deleted': deleteBroadcastChannel,
    'localstorage-throws': breakLocalStorageAccess,
    'localstorage-null': nullLocalStorage,
    'storage-throws': breakStorageAll,
    'storage-quota': breakStorageQuota,
    'storage-reads-throw': breakStorageReads,
  }[name];
  if (!make) throw new Error(`no hostile global named ${name}`);
  return make();
}

/** Counts calls; pass `fn` as a callback (onSessionExpired). */
export class Counter {
  constructor() {
    this.calls = 0;
    this.fn = () => { this.calls += 1; };
    this.callback = this.fn;
  }
  count() { return this.calls; }
}

/**
 * Calls `object[name](...args)` and reports `{ threw, value }` instead of throwing, so a
 * synchronous throw and a returned (possibly rejecting) promise can be told apart.
 */
export function attempt(object, name, args) {
  try {
    return { threw: false, value: object[name](...(args ?? [])) };
  } catch (error) {
    return { threw: true, value: error };
  }
}
/** Reads `object[name]` (a getter) and reports `{ threw, value }`. */
export function attemptGet(object, name) {
  try {
    return { threw: false, value: object[name] };
  } catch (error) {
    return { threw: true, value: error };
  }
}
/** `Object.is(a, b)`: strict identity, for "rejects with exactly the caller's reason". */
export function same(a, b) { return Object.is(a, b); }
export function isPromise(v) { return v instanceof Promise; }

/** An `AbortSignal.timeout(ms)`, taken before any test deletes it. */
const nativeTimeout = AbortSignal.timeout?.bind(AbortSignal);
export function timeoutSignal(ms) { return nativeTimeout(ms); }
/** `controller.abort(reason)`. */
export function abortWith(controller, reason) { controller.abort(reason); }

/** An injected fetch that throws synchronously; `error` is what it throws. */
export class SyncThrowingFetch {
  constructor() {
    this.error = new TypeError('boom');
    this.calls = 0;
    this.fetch = () => { this.calls += 1; throw this.error; };
  }
}

/**
 * Listeners that call `manager[action]` once per event (the first time that event fires),
 * keeping every promise they get back and every synchronous throw.
 */
export class Reentry {
  constructor(action) {
    this.action = action;
    this.manager = null;
    this.promises = [];
    this.threw = [];
    this.fired = [];
  }
  setManager(manager) { this.manager = manager; }
  listener(name) {
    return () => {
      if (this.fired.includes(name) || !this.manager) return;
      this.fired.push(name);
      try {
        const args = this.action === 'fetchWithAuth' ? [`/api/reentry/${name}`] : [];
        const result = this.manager[this.action](...args);
        if (result instanceof Promise) this.promises.push(result);
      } catch (error) {
        this.threw.push(`${name}: ${describeValue(error)}`);
      }
    };
  }
  /** Resolves once every promise the listeners got has settled. */
  all() { return Promise.allSettled(this.promises); }
  count() { return this.promises.length; }
  threwText() { return this.threw.join('; '); }
  firedText() { return this.fired.join(','); }
}

/**
 * A getToken that calls back into the manager the first time it is asked (after
 * `setManager`): `action` 'fetchWithAuth' or 'refreshToken'. It answers only once that
 * inner call has settled, so the manager waits on itself until tokenTimeoutMs breaks it.
 */
export class ReentrantToken {
  constructor(provider, action) {
    this.provider = provider;
    this.action = action;
    this.manager = null;
    this.inner = null;
    this.entered = 0;
    this.getToken = (ctx) => {
      if (this.manager && this.entered === 0) {
        this.entered += 1;
        const inner = this.action === 'fetchWithAuth'
          ? this.manager.fetchWithAuth('/api/inner')
          : this.manager.refreshToken();
        this.inner = inner;
        return Promise.resolve(inner).then(() => provider.getToken(ctx), () => provider.getToken(ctx));
      }
      return provider.getToken(ctx);
    };
  }
  setManager(manager) { this.manager = manager; }
}


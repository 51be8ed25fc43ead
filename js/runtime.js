// session-keeper's browser layer. Every decision is the Rust core's (src/core): this module
// only carries out what the core asks (call the provider, send this request, arm the timer,
// write this stamp, emit this event) and feeds each result back through one entry,
// `core(op, manager, now, a, b)`, which answers with the next deadline and the next things
// to do. It holds no policy: no retry, expiry, recovery or credits decision.
//
// Rules it keeps: nothing here throws into the caller unless the API says so (a page whose
// console, listeners or provider throw is still served); every listener it adds is removed
// by `stop()`/`free()`; the one timer is cleared when replaced; every wait on the page's
// code has a deadline in the core. Web APIs newer than the README's baseline are
// feature-detected: the caller's signal is forwarded (no `AbortSignal.any`), and other tabs
// are told through `storage` events where there is no `BroadcastChannel`.

// ----- the error class -----

// The error class session-keeper throws and rejects with. Branch on `code`, never on
// `message`: codes are stable, messages are for people.
export class SessionError extends Error {
  constructor(code, message, cause) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'SessionError';
    this.code = code;
  }
}

const configError = (field, problem, cause) => new SessionError('config', `${field} ${problem}`, cause);

// ----- the entry into the core (src/web/entry.rs holds the other half of these numbers) -----

let core = null;
let eventNames = [];
/** Called once by the module at `init()`: the door into the Rust core, and the event names
 *  `on()` accepts (the core's list). */
export function connect(entry, names) {
  core = entry;
  eventNames = names;
}

const OP = {
  fetch: 1, refresh: 2, recover: 3, credits: 4, stability: 5, start: 6, stop: 7, signOut: 8,
  free: 9, provider: 10, replied: 11, sampled: 12, stamps: 13, timeout: 14, pushed: 15,
  signedOutElsewhere: 16, woke: 17, online: 18, authenticated: 19, expiresAt: 20, register: 21,
  aborted: 22, sharedRead: 23, sharedToken: 24, leader: 25, isLeader: 26, wanted: 27,
};
const PROVIDER_FAILED = 1;
const PROVIDER_ANSWERED_ODDLY = 2;
const SEND_NETWORK = 0;
const SEND_ABORTED = 1;
const SEND_INPUT = 2;
const LEVELS = ['debug', 'info', 'warn', 'error', 'silent'];
const TURN_LIMIT = 100000;

// ----- reading the config -----

const isFunction = (v) => typeof v === 'function';
const absent = (v) => v === undefined || v === null;

function optional(config, field, check, expected, label = field) {
  let value;
  try {
    value = config[field];
  } catch (error) {
    throw configError(label, 'could not be read', error);
  }
  if (absent(value)) return undefined;
  if (!check(value)) throw configError(label, expected);
  return value;
}

const fn = (config, field) => optional(config, field, isFunction, 'must be a function');
const str = (config, field) => optional(config, field, (v) => typeof v === 'string', 'must be a string');
const num = (config, field) => optional(config, field, (v) => typeof v === 'number', 'must be a number');
const section = (config, field) => optional(config, field, (v) => typeof v === 'object', 'must be an object') ?? {};

function strings(config, field) {
  const list = optional(config, field, Array.isArray, 'must be an array of strings');
  if (list && !list.every((s) => typeof s === 'string' && s !== '')) throw configError(field, 'must contain only non-empty strings');
  return list;
}

function url(raw, base) {
  try {
    return base ? new URL(raw, base) : new URL(raw);
  } catch {
    return null;
  }
}

const pageHref = () => globalThis.location?.href;
const pageOrigin = () => {
  const origin = globalThis.location?.origin;
  return origin && origin !== 'null' ? origin : null;
};

/**
 * Checks a `SessionConfig` and normalizes it; throws `SessionError` `config` naming the
 * field. The numbers are range-checked by the core (`Policy::millis`): they are returned as
 * they are, in `numbers`.
 */
/** `config.clock`: `{ now, setTimeout, clearTimeout }`, all three functions, or null. */
function readClock(config) {
  const clock = optional(config, 'clock', (v) => typeof v === 'object', 'must be an object');
  if (!clock) return null;
  for (const name of ['now', 'setTimeout', 'clearTimeout']) {
    if (!optional(clock, name, isFunction, 'must be a function', `clock.${name}`)) throw configError(`clock.${name}`, 'must be a function');
  }
  return clock;
}

export function readConfig(config) {
  if (config === null || typeof config !== 'object') throw configError('config', 'must be an object with a getToken function');
  const getToken = fn(config, 'getToken');
  if (!getToken) throw configError('getToken', 'is required: a function returning a token, null, or a Promise of one');
  const originsProblem = 'entries must be origins such as https://api.example.com (scheme, host, optional port; no path, no wildcard)';
  const origins = strings(config, 'allowedOrigins')?.map((entry) => {
    const u = url(entry);
    const bare = u && u.pathname === '/' && !u.search && !u.hash && !u.username;
    if (!bare || u.origin === 'null' || !['http:', 'https:'].includes(u.protocol)) throw configError('allowedOrigins', originsProblem);
    return u.origin;
  }) ?? [pageOrigin() ?? (() => { throw configError('allowedOrigins', 'is required where the page has no origin of its own'); })()];
  let loginUrl = str(config, 'loginUrl');
  if (loginUrl !== undefined) {
    // A javascript: URL here would run script on every expiry.
    const u = url(loginUrl, pageHref());
    if (!u) throw configError('loginUrl', 'must be a URL');
    if (!['http:', 'https:'].includes(u.protocol)) throw configError('loginUrl', 'must be an http or https URL');
    loginUrl = u.href;
  }
  const endpoints = section(config, 'endpoints');
  // Endpoints receive the bearer (and verify the token itself), so they must be on an allowed origin.
  const endpoint = (name, fallback) => {
    const field = `endpoints.${name}`;
    const raw = optional(endpoints, name, (v) => typeof v === 'string', 'must be a string');
    const u = url(raw ?? fallback, pageHref());
    if (!u) {
      if (raw === undefined) return null; // a relative default without a page: not set up
      throw configError(field, 'must be a URL');
    }
    if (!origins.includes(u.origin)) {
      if (raw === undefined) return null;
      throw configError(field, 'must be on one of allowedOrigins: it is sent the bearer token');
    }
    return u.href;
  };
  const credits = section(config, 'credits');
  const logLevel = str(config, 'logLevel') ?? 'warn';
  if (!LEVELS.includes(logLevel)) throw configError('logLevel', 'must be one of debug, info, warn, error, silent');
  // The group of tabs that share this session, or null (tabs: false).
  const tabs = optional(config, 'tabs', (v) => v === false || (typeof v === 'string' && v !== ''), 'must be a group name (a non-empty string) or false');
  const group = tabs === false ? null : tabs ?? 'default';
  let fetch = fn(config, 'fetch');
  if (!fetch) {
    if (!isFunction(globalThis.fetch)) throw configError('fetch', 'was not given and this page has no global fetch');
    fetch = globalThis.fetch;
  }
  return {
    getToken,
    checkSession: fn(config, 'checkSession'),
    subscribe: fn(config, 'subscribe'),
    onSessionExpired: fn(config, 'onSessionExpired'),
    fetch,
    loginUrl,
    origins,
    storageKeys: strings(config, 'storageKeys') ?? [],
    creditsUrl: endpoint('credits', '/api/users/credits'),
    verifyUrl: endpoint('verify', '/auth/verify'),
    clock: readClock(config),
    group,
    level: LEVELS.indexOf(logLevel),
    numbers: [
      num(config, 'refreshIntervalMs'), num(config, 'expiryMarginMs'), num(config, 'tokenTimeoutMs'),
      num(config, 'requestTimeoutMs'), num(config, 'recoveryCooldownMs'),
      num(credits, 'maxRetries'), num(credits, 'baseDelayMs'), num(credits, 'maxDelayMs'),
    ],
  };
}

// ----- small helpers -----

/**
 * What a token's payload says of `exp` and `iat`, for the core to judge (`core::jwt`):
 * `[0, exp, iat]` (numbers or null), or why it cannot be read: `[1]` not a JWT, `[2]` not
 * base64url, `[3]` not a JSON object with numeric claims. Nothing is verified: checking the
 * signature is the backend's job.
 */
function claimsOf(token) {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[1]) return [1];
  const b64 = parts[1].replace(/=+$/, '').replace(/-/g, '+').replace(/_/g, '/');
  if (!/^[A-Za-z0-9+/]*$/.test(b64) || b64.length % 4 === 1) return [2];
  let payload;
  try {
    payload = JSON.parse(atob(b64 + '==='.slice((b64.length + 3) % 4)));
  } catch {
    return [3];
  }
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) return [3];
  const claim = (v) => (v === undefined || v === null ? null : typeof v === 'number' ? v : undefined);
  const exp = claim(payload.exp);
  const iat = claim(payload.iat);
  return exp === undefined || iat === undefined ? [3] : [0, exp, iat];
}

/**
 * What a JSON response body says, for the core to judge (`core::action::Body`):
 * `[requires_refresh, detail.requires_refresh, credits, success]`, or null when the body is
 * not a JSON object.
 */
function facts(text) {
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    return null;
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return null;
  const detail = body.detail;
  return [
    body.requires_refresh === true,
    detail !== null && typeof detail === 'object' && detail.requires_refresh === true,
    typeof body.credits === 'number' ? body.credits : null,
    typeof body.success === 'boolean' ? body.success : null,
  ];
}

/** `f(arg)` as a promise; a synchronous throw becomes a rejection. */
function attempt(f, arg) {
  try {
    return Promise.resolve(f(arg));
  } catch (error) {
    return Promise.reject(error);
  }
}

// Forwards an abort from the caller's signal to the manager's own controller (which also
// carries the request timeout). Used instead of AbortSignal.any, which Safari < 17.4,
// Firefox < 124 and Chrome < 116 lack. Returns the function that stops forwarding.
function follow(from, to) {
  const forward = () => to.abort(from.reason);
  if (from.aborted) forward();
  else from.addEventListener('abort', forward);
  return () => from.removeEventListener('abort', forward);
}

function storage() {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null; // sandboxed frames, disabled storage
  }
}

const STAMP_KEY = 'last_recovery_attempt';
const SIGN_OUT = 'signOut';
const TOKEN = 'token:';
const WANT = 'want';

/** Web Locks, where the browser has them (Chrome 69, Firefox 96, Safari 15.4). */
function webLocks() {
  try {
    const locks = globalThis.navigator?.locks;
    return locks && isFunction(locks.request) ? locks : null;
  } catch {
    return null;
  }
}

/** `promise`, or `fallback` after `ms` of real time: an I/O bound, not a policy. */
function bounded(promise, ms, fallback) {
  return new Promise((resolve) => {
    try { setTimeout(resolve, ms, fallback); } catch { /* unbounded rather than broken */ }
    promise.then(resolve, () => resolve(fallback));
  });
}

// The expiry (ms) of the newest token of each group of tabs, kept in IndexedDB: unlike a
// localStorage write, a write committed before the cross-tab lock is released is what the
// next holder reads. The token itself is never stored: it travels in a message to tabs that
// are open, and a tab that reads a newer expiry waits briefly for that message.
let expiryStore = null;
function openExpiryStore() {
  expiryStore ??= new Promise((resolve) => {
    try {
      const open = globalThis.indexedDB.open('session-keeper', 1);
      open.onupgradeneeded = () => open.result.createObjectStore('expiries');
      open.onsuccess = () => resolve(open.result);
      open.onerror = open.onblocked = () => resolve(null);
    } catch {
      resolve(null); // no IndexedDB (or blocked): expiries travel by message only
    }
  });
  return expiryStore;
}

/** The expiry group `group` stored (`write` undefined), or stores `write` (ms or null). */
function storedExpiry(group, write) {
  const work = openExpiryStore().then((db) => new Promise((resolve) => {
    if (!db) return resolve(null);
    try {
      const tx = db.transaction('expiries', write === undefined ? 'readonly' : 'readwrite');
      const request = write === undefined ? tx.objectStore('expiries').get(group) : tx.objectStore('expiries').put(write, group);
      tx.oncomplete = () => resolve(write === undefined && typeof request.result === 'number' ? request.result : null);
      tx.onerror = tx.onabort = () => resolve(null);
    } catch {
      resolve(null);
    }
  }));
  return bounded(work, 1000, null);
}
// The last recovery attempt whose stamp could not be stored, for every manager of the page.
let unstoredAttempt = null;

const noop = () => {};

/**
 * A request built once as fetch would build it, on the manager's own signal (its timeout,
 * `stop`, `free`), so the retry after a 401 carries the same method, URL, headers and body.
 * Each attempt of a request with a body sends a clone; a request without one is sent as it
 * is (fetch does not consume it). A `ReadableStream` body cannot be cloned without buffering
 * it whole, so such a request is sent once. Only a caller's own signal costs a second
 * `Request` and a forwarded abort: a `Request` input carries one, or `init.signal` does.
 */
function prepare(input, init) {
  const object = init !== null && typeof init === 'object';
  const stream = object && init.body instanceof ReadableStream;
  const controller = new AbortController();
  const own = stream ? { signal: controller.signal, duplex: 'half' } : { signal: controller.signal };
  const caller = input instanceof Request || (object && init.signal) ? new Request(input, init) : null;
  // Without a caller's signal, `init`'s members are read through the prototype chain, so
  // `init` stays as the caller built it.
  const base = caller ? new Request(caller, own) : new Request(input, object ? Object.assign(Object.create(init), own) : own);
  return {
    base,
    caller: caller?.signal,
    controller,
    unfollow: caller ? follow(caller.signal, controller) : noop,
    replayable: !stream,
    clone: !stream && base.body !== null,
  };
}

/**
 * Whether `url`, as `Request` serialises it, is on one of `origins`: it starts with the
 * origin and its path does (`scheme://host[:port]/`, with case and the default port
 * normalised, and never credentials, which `Request` refuses). A prefix test instead of
 * `new URL(url).origin` on every call.
 */
const onOrigin = (origins, url) => origins.some((origin) => url.startsWith(origin) && url[origin.length] === '/');

// ----- the driver -----

/** One manager's browser side. */
export class Driver {
  constructor(config, id) {
    this.c = config;
    this.id = id;
    this.calls = new Map();     // call id → { resolve, reject, request?, response?, failure? }
    this.sends = new Map();     // send id → { request, call? }
    this.listeners = new Map(); // event name → Set of listeners
    this.queue = [];
    this.draining = false;
    this.closed = false;
    this.due = null;
    this.timer = null;
    this.timerDue = null;
    this.nextCall = 0;
    this.recovered = undefined;
    this.mirrorWarned = false;
    this.mirrorBroken = false;
    this.unwatchOnline = null;
    this.lifecycle = null;
    this.following = null;
    this.clock = config.clock;
    this.group = config.group;
    this.locks = config.locks;
    this.holds = new Map();     // refresh id → the cross-tab lock it holds or waits for
    this.sharing = Promise.resolve(); // the last write of the stored expiry
    this.leading = null;        // the leader's lock: held or asked for
    this.channel = this.openChannel();
    this.follow();
  }

  now() {
    if (this.clock) {
      try {
        const now = this.clock.now();
        if (Number.isFinite(now)) return now;
      } catch { /* fall back to the page's clock */ }
    }
    return Date.now();
  }

  log(level, line) {
    if (level < this.c.level) return;
    try {
      console[LEVELS[level]](`[session-keeper] ${line}`);
    } catch { /* a console that throws only loses the line */ }
  }

  // ----- feeding the core, and carrying out what it asks -----

  /** Feeds the core; unless a turn is running already, carries out what it asked. */
  feed(op, a, b) {
    let out;
    try {
      out = core(op, this.id, this.now(), a, b);
    } catch (error) {
      this.log(3, `the core failed (${error?.message ?? error})`);
      return undefined;
    }
    this.take(out);
    if (!this.draining) this.turn();
    return out[1];
  }

  /** The core's answer: `[due, value, …rows]`; the rows are queued. */
  take(out) {
    this.due = out[0];
    for (let i = 2; i < out.length; i++) this.queue.push(out[i]);
  }

  turn() {
    this.draining = true;
    try {
      for (let n = 0; n < TURN_LIMIT; n++) {
        if (this.queue.length) {
          this.run(this.queue.shift());
          continue;
        }
        // A deadline that has already passed is handled now: no timer is armed in the past.
        if (this.due !== null && this.due <= this.now() && !this.closed) {
          this.take(core(OP.timeout, this.id, this.now()));
          continue;
        }
        break;
      }
    } finally {
      this.draining = false;
    }
    this.arm();
  }

  /** Keeps the one timer on the core's next deadline. */
  arm() {
    const due = this.closed ? null : this.due;
    if (due === this.timerDue) return;
    if (this.timer !== null) this.clear(this.timer);
    this.timer = null;
    this.timerDue = due;
    if (due === null) return;
    const fire = () => {
      this.timer = null;
      this.timerDue = null;
      this.feed(OP.timeout);
    };
    const ms = Math.min(Math.max(due - this.now(), 0), 2147483647);
    this.timer = this.later(fire, ms, () => {
      this.timerDue = null;
      this.log(2, 'setTimeout refused; refreshing on page wake-ups and requests only');
    });
  }

  clear(timer) {
    try {
      if (this.clock) this.clock.clearTimeout(timer);
      else clearTimeout(timer);
    } catch { /* nothing more to do */ }
  }

  /** Carries out one thing the core asked (see `encode` in src/web/entry.rs). */
  run(item) {
    switch (item[0]) {
      case 0: return this.emit(item);
      case 1: return this.callProvider(item[1], item[2], item[3]);
      case 2: return this.send(item[1], item[2], item[3], item[4], item[5]);
      case 3: return this.sends.get(item[1])?.request.controller.abort();
      case 4: return this.sample(item[1], item[2]);
      case 5: return this.watchOnline(item[1]);
      case 6: return this.mirror(item[1]);
      case 7: return this.readStamps(item[1]);
      case 8: return this.writeStamp(item[1]);
      case 9: try { storage()?.removeItem('user_credits_cache'); } catch { /* best effort */ } return undefined;
      case 10: return this.authRecovered();
      case 11: return this.sessionOver();
      case 12:
        this.sharing = storedExpiry(this.group, null);
        return this.channel?.post(SIGN_OUT);
      case 13: return this.settle(item[1], true, this.value(item));
      case 14: return this.settle(item[1], false, this.rejection(item));
      case 15: return this.log(item[1], item[2]);
      case 16: return this.coordinate(item[1], item[2]);
      case 17: return this.release(item[1]);
      case 18: return this.share(item[1]);
      case 19: return this.lead(true);
      default: return undefined;
    }
  }

  // ----- the JS API (SessionManager delegates here) -----

  call(start) {
    const id = ++this.nextCall;
    const promise = new Promise((resolve, reject) => this.calls.set(id, { resolve, reject }));
    start(id);
    return promise;
  }

  fetchWithAuth(input, init) {
    let request;
    try {
      request = prepare(input, init);
    } catch (error) {
      return Promise.reject(new SessionError('config', 'fetchWithAuth got an input or init that fetch cannot use', error));
    }
    // Other origins never see the bearer; a caller's own Authorization header wins.
    const authorized = onOrigin(this.c.origins, request.base.url) && !request.base.headers.has('authorization');
    return this.call((id) => {
      const page = this.calls.get(id);
      page.request = request;
      // The caller's abort ends a call that waits for a token at once, as fetch would; one
      // in flight is aborted through the forwarded signal and reported by send().
      const { caller, unfollow } = request;
      const aborted = () => {
        page.failure = { aborted: caller.reason };
        this.feed(OP.aborted, id);
      };
      if (caller) {
        caller.addEventListener('abort', aborted);
        request.unfollow = () => {
          unfollow();
          caller.removeEventListener('abort', aborted);
        };
      }
      this.feed(OP.fetch, id, (authorized ? 1 : 0) | (request.replayable ? 2 : 0));
      if (caller?.aborted) aborted();
    });
  }

  refreshToken() { return this.call((id) => this.feed(OP.refresh, id)); }

  triggerSessionRecoveryCheck(trigger) {
    if (!absent(trigger) && typeof trigger !== 'string') return Promise.reject(configError('trigger', 'must be a string'));
    return this.call((id) => this.feed(OP.recover, id, trigger ?? 'manual'));
  }

  updateCredits(options) {
    let force;
    try {
      force = optional(absent(options) ? {} : section({ options }, 'options'), 'forceRefresh', (v) => typeof v === 'boolean', 'must be true or false') ?? false;
    } catch (error) {
      return Promise.reject(error);
    }
    const online = globalThis.navigator?.onLine !== false;
    return this.call((id) => this.feed(OP.credits, id, (force ? 1 : 0) | (online ? 2 : 0)));
  }

  waitForAuthStability(options) {
    let numbers;
    try {
      const o = absent(options) ? {} : section({ options }, 'options');
      numbers = [num(o, 'maxWaitMs'), num(o, 'intervalMs')];
    } catch (error) {
      return Promise.reject(error);
    }
    return this.call((id) => this.feed(OP.stability, id, numbers));
  }

  signOut() {
    this.unlisten();
    this.unlead();
    return this.call((id) => this.feed(OP.signOut, id));
  }

  start() {
    this.follow();
    if (!this.lifecycle && globalThis.addEventListener && globalThis.document) {
      // Hidden tabs throttle timers to once a minute or less (Safari longer), so the session
      // re-checks whenever the page may have slept past its refresh.
      const wake = (event) => {
        if (event.type === 'visibilitychange' && document.visibilityState !== 'visible') return;
        if (event.type === 'online') this.feed(OP.online, true);
        this.feed(OP.woke, ['visibilitychange', 'pageshow', 'online'].indexOf(event.type));
      };
      const targets = [[globalThis, 'pageshow'], [globalThis, 'online'], [document, 'visibilitychange']];
      for (const [target, type] of targets) target.addEventListener(type, wake);
      this.lifecycle = () => { for (const [target, type] of targets) target.removeEventListener(type, wake); };
    }
    if (this.locks && !this.leading) {
      this.feed(OP.leader, false);
      this.lead(false);
    }
    this.feed(OP.start);
  }

  stop() {
    this.unlisten();
    this.unfollow();
    this.unlead();
    this.feed(OP.stop);
  }

  free() {
    if (this.closed) return;
    this.unlisten();
    this.unfollow();
    this.unlead();
    for (const id of [...this.holds.keys()]) this.release(id);
    this.channel?.close();
    this.channel = null;
    this.feed(OP.free);
    this.closed = true;
    this.arm();
    this.watchOnline(false);
  }

  isAuthenticated() { return this.feed(OP.authenticated) === true; }

  isLeader() { return this.feed(OP.isLeader) === true; }

  tokenExpiresAt() { return this.feed(OP.expiresAt) ?? null; }

  on(name, listener) {
    if (!isFunction(listener)) throw configError('on()', 'needs a function as its listener');
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(listener);
    return () => { set.delete(listener); };
  }

  unlisten() {
    this.lifecycle?.();
    this.lifecycle = null;
  }

  // ----- carrying out actions -----

  emit(item) {
    const detail = {};
    for (let i = 2; i < item.length; i += 2) detail[item[i]] = item[i + 1];
    if (item[1] === 'recovered') this.recovered = detail;
    // A snapshot: a listener may unsubscribe itself while we iterate.
    for (const listener of [...(this.listeners.get(item[1]) ?? [])]) {
      try {
        listener(detail);
      } catch {
        this.log(2, `a '${item[1]}' listener threw; the other listeners still ran`);
      }
    }
  }

  callProvider(id, force, reason) {
    attempt(this.c.getToken, { forceRefresh: force, reason }).then(
      (value) => this.feed(OP.provider, id, absent(value) ? null : typeof value === 'string' ? [value, ...claimsOf(value)] : PROVIDER_ANSWERED_ODDLY),
      () => this.feed(OP.provider, id, PROVIDER_FAILED),
    );
  }

  send(id, target, call, token, read) {
    let request;
    if (target === 0) {
      request = this.calls.get(call)?.request;
    } else {
      // The credits endpoint (target 1; `call` is the URL), or verify (target 2).
      const url = target === 1 ? call : this.c.verifyUrl;
      const init = target === 2 ? { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token }) } : undefined;
      try { request = prepare(url, init); } catch { request = null; }
    }
    if (!request) return this.feed(OP.replied, id, SEND_INPUT);
    this.sends.set(id, { request, call: target === 0 ? call : null });
    // Aborted already (the caller gave up while a refresh ran): nothing is sent.
    if (request.base.signal.aborted) return Promise.resolve().then(() => this.failed(id, SEND_NETWORK, request.base.signal.reason));
    let attemptRequest;
    try {
      attemptRequest = request.clone ? request.base.clone() : request.base;
      if (token) attemptRequest.headers.set('Authorization', `Bearer ${token}`);
    } catch (error) {
      return Promise.resolve().then(() => this.failed(id, SEND_INPUT, error));
    }
    return attempt(this.c.fetch, attemptRequest).then(async (response) => {
      if (!(response instanceof Response)) return this.failed(id, SEND_NETWORK, new TypeError('fetch resolved to something that is not a Response'));
      let body = null;
      let retryAfter = null;
      // The body is read from a clone, so the caller keeps it: a 403's (it may ask for a
      // refresh), or everything of our own endpoints.
      if (read === 2 || (read === 1 && response.status === 403)) {
        try { body = await response.clone().text(); } catch { /* an unreadable body is no body */ }
        retryAfter = response.headers.get('retry-after');
      }
      const sent = this.sends.get(id);
      if (!sent) return undefined;
      this.sends.delete(id);
      const page = sent.call !== null ? this.calls.get(sent.call) : null;
      if (page) page.response = response;
      return this.feed(OP.replied, id, [response.status, body === null ? null : facts(body), retryAfter]);
    }, (error) => this.failed(id, SEND_NETWORK, error));
  }

  failed(id, kind, error) {
    const sent = this.sends.get(id);
    if (!sent) return undefined;
    this.sends.delete(id);
    const aborted = sent.request.caller?.aborted === true;
    const page = sent.call !== null ? this.calls.get(sent.call) : null;
    if (page) {
      page.failure = aborted ? { aborted: sent.request.caller.reason }
        : new SessionError(kind === SEND_INPUT ? 'config' : 'network', kind === SEND_INPUT
          ? 'fetchWithAuth got an input or init that fetch cannot use'
          : 'fetch failed (offline, DNS, CORS or a refused connection)', error);
    }
    const online = globalThis.navigator?.onLine !== false;
    this.feed(OP.online, online);
    return this.feed(OP.replied, id, aborted ? SEND_ABORTED : kind);
  }

  /** What the provider (`checkSession`, when asked) and the mirror say of the session. */
  sample(id, provider) {
    const sampled = (answer) => this.feed(OP.sampled, id, [typeof answer === 'boolean' ? answer : null, this.holdsToken()]);
    if (provider && this.c.checkSession) attempt(this.c.checkSession).then(sampled, () => sampled(null));
    else sampled(null);
  }

  watchOnline(on) {
    this.unwatchOnline?.();
    this.unwatchOnline = null;
    if (on && globalThis.addEventListener) {
      const back = () => this.feed(OP.online, true);
      globalThis.addEventListener('online', back);
      this.unwatchOnline = () => globalThis.removeEventListener('online', back);
    }
  }

  // The opt-in localStorage mirror that old templates read (`authToken`, `auth_token`, …).
  // Raw strings, as templates read them; blocked or full storage degrades to memory only.
  mirror(token) {
    const keys = this.c.storageKeys;
    if (!keys.length) return;
    const store = storage();
    let ok = !!store;
    for (const key of keys) {
      try {
        if (token) store.setItem(key, token);
        else store.removeItem(key);
      } catch {
        ok = false;
      }
    }
    // A mirror that cannot be written says nothing about the session.
    this.mirrorBroken = !ok;
    if (!ok && !this.mirrorWarned) {
      this.mirrorWarned = true;
      this.log(2, 'localStorage refused the token mirror; the token stays in memory only');
    }
  }

  /** Whether the mirror holds a token; `null` without a mirror, or one that cannot be trusted. */
  holdsToken() {
    const keys = this.c.storageKeys;
    const store = storage();
    if (!keys.length || this.mirrorBroken || !store) return null;
    try {
      return keys.some((key) => !!store.getItem(key));
    } catch {
      return null;
    }
  }

  readStamps(run) {
    let stored = null;
    try { stored = storage()?.getItem(STAMP_KEY) ?? null; } catch { /* unreadable: none */ }
    this.feed(OP.stamps, run, [stored, unstoredAttempt]);
  }

  writeStamp(at) {
    let saved = false;
    try {
      const store = storage();
      if (store) {
        store.getItem(STAMP_KEY);
        store.setItem(STAMP_KEY, String(at));
        saved = true;
      }
    } catch { /* kept in memory below */ }
    if (!saved) this.log(0, 'localStorage refused last_recovery_attempt; the cooldown is kept in memory');
    unstoredAttempt = saved ? null : at;
  }

  authRecovered() {
    try {
      globalThis.dispatchEvent?.(new CustomEvent('auth-recovered', { detail: this.recovered }));
    } catch { /* nothing listens */ }
  }

  sessionOver() {
    if (this.c.onSessionExpired) {
      try {
        this.c.onSessionExpired();
      } catch {
        this.log(3, 'onSessionExpired threw');
      }
    } else if (this.c.loginUrl) {
      try { globalThis.location.assign(this.c.loginUrl); } catch { /* not a page */ }
    }
  }

  value(item) {
    const page = this.calls.get(item[1]);
    switch (item[2]) {
      case 0: return page?.response;
      case 1: return { ran: item[3], reason: item[4], trigger: item[5] };
      case 2: return undefined;
      default: return item[3];
    }
  }

  rejection(item) {
    if (item[2] !== null) return new SessionError(item[2], item[3]);
    const failure = this.calls.get(item[1])?.failure;
    if (failure && 'aborted' in failure) return failure.aborted;
    return failure ?? new SessionError('network', 'fetch failed (offline, DNS, CORS or a refused connection)');
  }

  settle(id, ok, value) {
    const call = this.calls.get(id);
    if (!call) return;
    this.calls.delete(id);
    call.request?.unfollow();
    (ok ? call.resolve : call.reject)(value);
  }

  // ----- other tabs, the provider's own refreshes -----

  openChannel() {
    if (!this.group) return null;
    const name = `session-keeper:${this.group}`;
    const message = (text) => {
      if (this.closed || typeof text !== 'string') return;
      if (text === SIGN_OUT) {
        this.unlisten();
        this.unlead();
        this.feed(OP.signedOutElsewhere);
      } else if (text === WANT) {
        this.feed(OP.wanted);
      } else if (text.startsWith(TOKEN)) {
        const token = text.slice(TOKEN.length);
        this.feed(OP.sharedToken, [token, ...claimsOf(token)]);
      }
    };
    if (typeof BroadcastChannel === 'function') {
      try {
        const channel = new BroadcastChannel(name);
        channel.onmessage = (event) => message(event.data);
        return { tokens: true, post: (text) => { try { channel.postMessage(text); } catch { /* closed */ } }, close: () => channel.close() };
      } catch { /* fall back to storage events */ }
    }
    if (!globalThis.addEventListener) return null;
    // A fresh suffix makes every write a change (storage events fire only on changes);
    // removing it at once leaves nothing behind. A tab does not hear its own writes.
    const onStorage = (event) => {
      if (event.key === name && event.newValue) message(event.newValue.split('|')[0]);
    };
    globalThis.addEventListener('storage', onStorage);
    return {
      // Sign-out only (no `tokens`): a token is never written to storage, even for a moment.
      // Without BroadcastChannel each tab refreshes for itself, one at a time under the lock.
      post: (text) => {
        try {
          storage()?.setItem(name, `${text}|${Math.random()}`);
          storage()?.removeItem(name);
        } catch { /* storage full or blocked: best effort */ }
      },
      close: () => globalThis.removeEventListener('storage', onStorage),
    };
  }

  /**
   * `fire` after `ms` on the manager's clock; the handle for `clear`. A refused timer gives
   * null (after `refused()`): the core's own deadline still bounds what waits on it.
   */
  later(fire, ms, refused) {
    try {
      return this.clock ? this.clock.setTimeout(fire, ms) : setTimeout(fire, ms);
    } catch {
      refused?.();
      return null;
    }
  }

  /**
   * Refresh `id` takes the cross-tab refresh lock, then reads the expiry the tabs stored and
   * hands it to the core, which waits for that token's message or asks the provider. A lock not granted within
   * `stealAfter` ms is stolen: its holder outlived its own deadline (frozen or hung).
   */
  coordinate(id, stealAfter) {
    const hold = { release: null, stop: new AbortController(), timer: null, over: false, stealing: false };
    this.holds.set(id, hold);
    // A tab that cannot hear tokens (no BroadcastChannel) does not wait for one. One that
    // waits asks the tabs for it: it may have been sent before this tab opened.
    const read = () => storedExpiry(this.group, undefined).then((exp) => {
      if (hold.over) return;
      if (this.feed(OP.sharedRead, id, this.channel?.tokens ? exp : null) === true) this.channel.post(WANT);
    });
    if (!this.locks) return void read();
    const granted = () => new Promise((release) => {
      if (hold.over) return release();
      hold.release = release;
      this.clear(hold.timer);
      read();
      return undefined;
    });
    const ask = (steal) => attempt(() => this.locks.request(`session-keeper:${this.group}:refresh`, steal ? { steal: true } : { signal: hold.stop.signal }, granted));
    // Refused outright (an opaque origin, a broken Web Locks): go on without the lock.
    const refused = () => { if (!hold.over && !hold.release && !hold.stealing) read(); };
    ask(false).catch(refused);
    hold.timer = this.later(() => {
      if (hold.over || hold.release) return;
      hold.stealing = true;
      hold.stop.abort();
      ask(true).catch(() => { if (!hold.over && !hold.release) read(); });
    }, stealAfter);
  }

  /** Refresh `id` is over: its lock goes once the expiry it shared is stored. */
  release(id) {
    const hold = this.holds.get(id);
    if (!hold) return;
    this.holds.delete(id);
    hold.over = true;
    this.clear(hold.timer);
    hold.stop.abort();
    if (hold.release) this.sharing.then(hold.release, hold.release);
  }

  /** Stores a new token's expiry and hands the token to the other open tabs. */
  share(token) {
    // A tab that cannot send tokens stores no expiry: no tab is to wait for its token.
    if (!this.channel?.tokens) return;
    const [readable, exp] = claimsOf(token);
    this.sharing = storedExpiry(this.group, readable === 0 && typeof exp === 'number' ? exp * 1000 : null);
    this.channel.post(TOKEN + token);
  }

  /**
   * Asks for the leader's lock (`steal`: takes it from a leader that missed its refresh).
   * The core learns when this tab leads and when it stops leading.
   */
  lead(steal) {
    if (!this.locks || this.closed) return;
    this.leading?.stop.abort();
    const ticket = { stop: new AbortController(), release: null };
    this.leading = ticket;
    const granted = () => new Promise((release) => {
      if (this.leading !== ticket) return release();
      ticket.release = release;
      this.feed(OP.leader, true);
      return undefined;
    });
    const lost = () => {
      if (this.leading !== ticket) return; // released on purpose
      this.leading = null;
      this.feed(OP.leader, false);
      // Robbed by a follower that took over: queue again. A request that was never granted
      // failed outright: lead without the lock rather than retry forever.
      if (ticket.release) this.lead(false);
      else {
        this.locks = null;
        this.feed(OP.leader, true);
      }
    };
    // A follower's request stays queued for as long as it follows: nothing waits on it (the
    // core's follower grace, not this lock, decides a takeover), and stop/free abort it.
    attempt(() => this.locks.request(`session-keeper:${this.group}:leader`, steal ? { steal: true } : { signal: ticket.stop.signal }, granted))
      .then(lost, lost);
  }

  /** Gives up leading (`stop()`, `free()`): the next tab in line leads. */
  unlead() {
    const ticket = this.leading;
    if (!ticket) return;
    this.leading = null;
    ticket.stop.abort();
    ticket.release?.();
    this.feed(OP.leader, false);
  }

  /** Registers with the provider's `subscribe`, once. */
  follow() {
    if (this.following || !this.c.subscribe || this.closed) return;
    const listener = (pushed) => {
      if (this.closed) return;
      if (absent(pushed)) this.feed(OP.pushed, null);
      else if (typeof pushed === 'string') this.feed(OP.pushed, [pushed, ...claimsOf(pushed)]);
      else this.log(2, "subscribe's listener got something other than a token or null");
    };
    // Marked before the call: the provider may call the listener inside `subscribe`.
    this.following = () => {};
    try {
      const unsubscribe = this.c.subscribe(listener);
      this.following = () => { if (isFunction(unsubscribe)) unsubscribe(); };
    } catch {
      this.following = null;
      this.log(2, 'subscribe threw; following the provider by getToken only');
    }
  }

  unfollow() {
    const unsubscribe = this.following;
    this.following = null;
    try { unsubscribe?.(); } catch { /* nothing more we can do for it */ }
  }
}

// ----- the JS API -----

/** Keeps one login session alive. See README.md; the contract is SPEC.md's. */
export class SessionManager {
  #driver;

  /** `new SessionManager(config)`; an invalid config throws `SessionError` code `config`. */
  constructor(config) {
    const read = readConfig(config);
    read.locks = read.group ? webLocks() : null;
    const flags = (read.checkSession ? 1 : 0) | (read.creditsUrl ? 2 : 0) | (read.verifyUrl ? 4 : 0)
      | (read.group ? 8 : 0) | (read.locks ? 16 : 0);
    // Registering reads no time: the core's clock starts with its first input.
    const id = core(OP.register, 0, 0, read.numbers, [flags, read.level, read.creditsUrl])[1];
    if (typeof id !== 'number') throw id;
    this.#driver = new Driver(read, id);
  }

  #live() {
    if (!this.#driver) throw new SessionError('freed', 'this SessionManager was freed (free()); create a new one');
    return this.#driver;
  }

  #call(method, ...args) {
    try {
      return this.#live()[method](...args);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  start() { this.#live().start(); }
  stop() { this.#driver?.stop(); }
  /** Tears everything down; every method afterwards throws or rejects with code `freed`. */
  free() {
    const driver = this.#driver;
    this.#driver = null;
    driver?.free();
  }
  [Symbol.dispose]() { this.free(); }
  signOut() { return this.#call('signOut'); }
  fetchWithAuth(input, init) { return this.#call('fetchWithAuth', input, init); }
  refreshToken() { return this.#call('refreshToken'); }
  triggerSessionRecoveryCheck(trigger) { return this.#call('triggerSessionRecoveryCheck', trigger); }
  updateCredits(options) { return this.#call('updateCredits', options); }
  waitForAuthStability(options) { return this.#call('waitForAuthStability', options); }
  get isAuthenticated() { return this.#driver?.isAuthenticated() ?? false; }
  get tokenExpiresAt() { return this.#driver?.tokenExpiresAt() ?? null; }
  /** Whether this tab leads the scheduled refresh for its group of tabs (see `tabs`). */
  get isLeader() { return this.#driver?.isLeader() ?? false; }

  /** Calls `listener` with each `event`'s detail; returns the function that unsubscribes. */
  on(event, listener) {
    if (!eventNames.includes(event)) throw configError('on()', 'got an unknown event name; see SessionEvent for the list');
    return this.#live().on(event, listener);
  }
}

// ----- the Clerk and Supabase adapters, installGlobal -----

// Duck-typed: neither SDK is a dependency; anything with the documented shape works. Each
// method is a one-line delegation whose promise the manager already bounds by
// tokenTimeoutMs, and the functions are the object's own properties, so that
// `{ ...supabaseTokenProvider(supabase), loginUrl }` keeps them.

const adapterError = (message) => new SessionError('config', message);

// Clerk keeps its session token fresh by itself (a timer before exp and a poller), and
// session.getToken() answers from that cache. So the manager's scheduled refresh costs no
// request; only a forced refresh (after a 401) skips the cache. No polling is added here.
export function clerkTokenProvider(clerk) {
  if (clerk == null || typeof clerk !== 'object' || !isFunction(clerk.addListener)) {
    throw adapterError('clerkTokenProvider(clerk) needs the Clerk instance (window.Clerk after Clerk.load(), or useClerk()): an object with session and addListener');
  }
  return {
    getToken: ({ forceRefresh } = {}) => {
      const session = clerk.session;
      if (!session) return null;
      return session.getToken(forceRefresh ? { skipCache: true } : undefined);
    },
    checkSession: () => clerk.session?.status === 'active',
    // Clerk reports a signed-out user as `session === null` (undefined means "still loading").
    // A session with a new id is a sign-in: its token is pushed, which ends a halted
    // (signed-out or refused) manager. Clerk's own token refreshes are not pushed: the
    // manager reads them from Clerk's cache on schedule.
    subscribe: (listener) => {
      let id = clerk.session?.id;
      return clerk.addListener(({ session }) => {
        if (session === null) {
          id = null;
          listener(null);
        } else if (session && session.id !== id) {
          id = session.id;
          session.getToken().then((token) => token && listener(token), () => {});
        }
      });
    },
  };
}

// The backend wants the user's session access token, never the anon key the client was
// created with. getSession() refreshes by itself when the token is close to its end;
// refreshSession() mints a new one. onAuthStateChange tells the manager about refreshes
// Supabase ran on its own (TOKEN_REFRESHED) and about sign-outs.
export function supabaseTokenProvider(client) {
  const auth = client?.auth;
  if (auth == null || ![auth.getSession, auth.refreshSession, auth.onAuthStateChange].every(isFunction)) {
    throw adapterError('supabaseTokenProvider(client) needs a Supabase client (createClient(url, key)): an object with auth.getSession, auth.refreshSession and auth.onAuthStateChange');
  }
  const session = async (refresh) => {
    const { data, error } = await (refresh ? auth.refreshSession() : auth.getSession());
    // Without a session, refreshSession() answers AuthSessionMissingError: that is "signed out".
    if (error && error.name !== 'AuthSessionMissingError') throw error;
    return data?.session ?? null;
  };
  return {
    getToken: async ({ forceRefresh } = {}) => (await session(forceRefresh))?.access_token ?? null,
    checkSession: async () => (await session(false)) !== null,
    subscribe: (listener) => {
      const { data } = auth.onAuthStateChange((event, current) => {
        if (event === 'SIGNED_OUT') listener(null);
        else if (current?.access_token) listener(current.access_token);
      });
      return () => data.subscription.unsubscribe();
    },
  };
}

// installGlobal(config): for server-rendered templates written against the old global
// functions. Builds and starts a manager and binds the globals to it; a second call stops
// the previous manager, so a template can re-install safely.
const GLOBALS = ['fetchWithAuth', 'triggerSessionRecoveryCheck', 'updateCredits', 'waitForAuthStability'];

export function installGlobal(config) {
  const manager = new SessionManager(config);
  manager.start();
  const previous = globalThis.sessionKeeper;
  try {
    if (previous && previous !== manager) previous.stop();
  } catch { /* the page's own value, whatever it was */ }
  globalThis.sessionKeeper = manager;
  for (const name of GLOBALS) globalThis[name] = manager[name].bind(manager);
  // Module scripts load asynchronously: templates can wait for this instead of polling.
  try {
    globalThis.dispatchEvent?.(new CustomEvent('session-keeper-ready', { detail: manager }));
  } catch { /* a listener's problem, not the manager's */ }
  return manager;
}

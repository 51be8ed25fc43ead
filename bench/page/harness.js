// The in-page half of the benchmark. bench/run.mjs serves this directory (with the package
// builds under pkg-a/ and pkg-b/ and the esbuild-bundled peers under peers/) from the
// reference backend, opens index.html in headless Chromium and drives it through
// `window.bench`. Every figure is taken here with performance.now(); the driver only
// collects, summarizes and prints.
//
// Nothing in here tunes or patches the library: each session-keeper build is imported as
// it ships (its own ES module, its own wasm instance) and configured as a dashboard would.

const BASE = new URL('./', import.meta.url).href;
/** The authenticated endpoint of the reference backend (server/src/routes/api.rs). */
export const API = new URL('/api/data', location.origin).href;

// ----- tokens -----

const b64url = (value) => btoa(JSON.stringify(value)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');

/** A JWT-shaped string (unsigned: nothing in the page checks signatures). */
export function jwt(claims) {
  return `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url(claims)}.YmVuY2htYXJr`;
}

/** An unexpired token for the injected-fetch runs: valid for an hour. */
export function injectedToken() {
  const now = Math.floor(Date.now() / 1000);
  return jwt({ sub: 'bench-user', iat: now, exp: now + 3600 });
}

// ----- the injected fetch -----

const OK_INIT = { status: 200, headers: { 'content-type': 'application/json' } };

/** The Authorization header a fetch call carries, whatever shape the caller used. */
function authOf(input, init) {
  try {
    if (init?.headers) return new Headers(init.headers).get('authorization');
    if (input instanceof Request) return input.headers.get('authorization');
  } catch { /* no header */ }
  return null;
}

// While `seen` is an array (validation only), the injected fetch records what it was sent.
let seen = null;

/** The injected fetch: resolves at once with a fresh 200 `{}` (a Response body is single-use). */
export function injectedFetch(input, init) {
  if (seen !== null) seen.push(authOf(input, init));
  return Promise.resolve(new Response('{}', OK_INIT));
}

// ----- loading every contender's code -----

let libs = null;

/** `pkgs`: [{ key, label, dir }], each a session-keeper build served under `dir/`. */
export async function load({ pkgs }) {
  const ours = [];
  for (const p of pkgs) {
    const mod = await import(`${BASE}${p.dir}/session_keeper.js`);
    const exports = await mod.default();
    const memory = Object.values(exports ?? {}).find((v) => v instanceof WebAssembly.Memory) ?? null;
    ours.push({ ...p, mod, memory });
  }
  const [ky2, ky1, ax] = await Promise.all([
    import(`${BASE}peers/ky2.js`),
    import(`${BASE}peers/ky1.js`),
    import(`${BASE}peers/axios.js`),
  ]);
  libs = { ours, ky2: ky2.default, ky1: ky1.default, axios: ax.axios, createAuthRefresh: ax.createAuthRefresh };
  return { ours: ours.map((o) => ({ key: o.key, label: o.label, memory: o.memory !== null })) };
}

// ----- the contenders -----

/**
 * Every fetch wrapper, set up once as a dashboard would: the bearer added for the API's
 * origin, and (where the library has one) the refresh-on-401 machinery installed.
 * `mode` 'injected': each is handed `injectedFetch`; 'loopback': each uses the browser's
 * own fetch (or XHR) against the reference backend, and fetch-like contenders read the body
 * (axios always does).
 * Every `call()` resolves with something that has a `status`.
 */
function buildContenders(mode, token, only = null) {
  const injected = mode === 'injected';
  const bearer = `Bearer ${token}`;
  const F = injected ? injectedFetch : (input, init) => fetch(input, init);
  const withFetch = injected ? { fetch: injectedFetch } : {};
  const readBody = injected ? (p) => p : async (p) => {
    const response = await p;
    await response.text();
    return response;
  };
  const list = [];
  const add = (name, kind, setup) => {
    if (only && !only.includes(kind)) return;
    list.push({ name, kind, ...setup() });
  };

  add('fetch', 'fetch', () => ({
    call: () => readBody(F(API, { headers: { Authorization: bearer } })),
  }));

  for (const o of libs.ours) {
    add(o.label, `ours:${o.key}`, () => {
      const manager = new o.mod.SessionManager({ getToken: () => token, tabs: false, ...withFetch });
      manager.start();
      return { call: () => readBody(manager.fetchWithAuth(API)), dispose: () => manager.free(), memory: o.memory };
    });
  }

  add('ky 2', 'ky2', () => {
    const api = libs.ky2.create({
      ...withFetch,
      hooks: { beforeRequest: [({ request }) => { request.headers.set('Authorization', bearer); }] },
    });
    return { call: () => readBody(api.get(API)) };
  });

  // The same job as fetchWithAuth: the bearer, and ky's README refresh-on-401 hook. Not the
  // headline ky figure (the target is ky with a beforeRequest hook), but what ky
  // costs when it carries the refresh too: an afterResponse hook makes ky clone each response.
  add('ky 2 + refresh hook', 'ky2-refresh', () => {
    const api = libs.ky2.create({
      ...withFetch,
      hooks: {
        beforeRequest: [({ request }) => { request.headers.set('Authorization', bearer); }],
        afterResponse: [async ({ request, response, retryCount }) => {
          if (response.status === 401 && retryCount === 0) {
            const headers = new Headers(request.headers);
            headers.set('Authorization', bearer);
            return libs.ky2.retry({ request: new Request(request, { headers }), code: 'TOKEN_REFRESHED' });
          }
          return undefined;
        }],
      },
    });
    return { call: () => readBody(api.get(API)) };
  });

  add('ky 1', 'ky1', () => {
    const api = libs.ky1.create({
      ...withFetch,
      hooks: { beforeRequest: [(request) => { request.headers.set('Authorization', bearer); }] },
    });
    return { call: () => readBody(api.get(API)) };
  });

  const axiosWith = (adapter) => () => {
    const ax = libs.axios.create({ adapter, ...(injected ? { env: { fetch: injectedFetch } } : {}) });
    ax.interceptors.request.use((config) => {
      config.headers.Authorization = bearer;
      return config;
    });
    libs.createAuthRefresh(ax, (failed) => {
      failed.response.config.headers.Authorization = bearer;
      return Promise.resolve();
    });
    return { call: () => ax.get(API) };
  };
  add('axios + auth-refresh (fetch adapter)', 'axios', axiosWith('fetch'));
  // XHR is axios's default adapter in a browser; it cannot use an injected fetch.
  if (!injected) add('axios + auth-refresh (xhr adapter)', 'axios-xhr', axiosWith('xhr'));

  return list;
}

let current = null;

/** Builds the contenders for `mode` and checks each one: 200s, and the bearer at the "server". */
export async function prepare({ mode, token, only = null }) {
  dispose();
  const list = buildContenders(mode, token, only);
  for (const c of list) {
    seen = [];
    let statuses;
    try {
      statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await c.call()).status);
      const par = await Promise.all([c.call(), c.call(), c.call()]);
      statuses.push(...par.map((r) => r.status));
    } catch (error) {
      seen = null;
      throw new Error(`${c.name} (${mode}) threw while being checked: ${error?.stack ?? error}`);
    }
    const sawBearer = seen.every((a) => a === `Bearer ${token}`);
    const calls = seen.length;
    seen = null;
    if (statuses.some((s) => s !== 200)) throw new Error(`${c.name} (${mode}): statuses ${statuses.join(',')}, expected 200s`);
    if (mode === 'injected' && (calls !== 6 || !sawBearer)) {
      throw new Error(`${c.name} (injected): the injected fetch saw ${calls} calls for 6${sawBearer ? '' : ', not all with the bearer'}`);
    }
  }
  current = { mode, list };
  return list.map((c) => ({ name: c.name, kind: c.kind }));
}

export function dispose() {
  for (const c of current?.list ?? []) {
    try { c.dispose?.(); } catch { /* best effort */ }
  }
  current = null;
}

async function sequential(c, n) {
  let bad = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const r = await c.call();
    if (r.status !== 200) bad++;
  }
  return { us: ((performance.now() - t0) * 1000) / n, bad };
}

async function parallel(c, n) {
  const t0 = performance.now();
  const pending = new Array(n);
  for (let i = 0; i < n; i++) pending[i] = c.call();
  const results = await Promise.all(pending);
  const us = ((performance.now() - t0) * 1000) / n;
  let bad = 0;
  for (const r of results) if (r.status !== 200) bad++;
  return { us, bad };
}

/**
 * One round: every contender once, `n` calls each (sequential, or all at once in
 * Promise.all), starting at contender `index` mod their number so that the order rotates
 * from round to round. Resolves with { name: µs per call }; throws if a contender throws
 * or answers anything but 200.
 */
export async function round({ index, n, concurrent }) {
  const list = current.list;
  const out = {};
  for (let k = 0; k < list.length; k++) {
    const c = list[(index + k) % list.length];
    let result;
    try {
      result = concurrent ? await parallel(c, n) : await sequential(c, n);
    } catch (error) {
      throw new Error(`${c.name} (${current.mode}, ${concurrent ? 'Promise.all' : 'sequential'}) threw: ${error?.stack ?? error}`);
    }
    if (result.bad) throw new Error(`${c.name} (${current.mode}): ${result.bad} of ${n} calls did not answer 200`);
    out[c.name] = result.us;
  }
  return out;
}

// ----- the 401 storm -----

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A "server" (an injected fetch that counts requests) that refuses every token but the
 * refreshed ones, and a provider that counts its calls: its first token is refused, and
 * each forced refresh mints a new one that is accepted. The provider answers after
 * `delayMs`, as a refresh call to an identity provider would.
 */
function stormWorld(delayMs) {
  const accepted = new Set();
  const world = { requests: 0, providerCalls: 0, generation: 1 };
  const now = Math.floor(Date.now() / 1000);
  const tokenOf = (gen) => jwt({ sub: 'bench-user', gen, iat: now, exp: now + 3600 + gen });
  world.fetch = (input, init) => {
    world.requests++;
    if (accepted.has(authOf(input, init))) return Promise.resolve(new Response('{}', OK_INIT));
    return Promise.resolve(new Response(JSON.stringify({ error: 'Token has expired', requires_refresh: true }), {
      status: 401, headers: { 'content-type': 'application/json' },
    }));
  };
  world.getToken = async ({ forceRefresh } = {}) => {
    world.providerCalls++;
    const gen = forceRefresh ? ++world.generation : world.generation;
    const token = tokenOf(gen);
    if (gen >= 2) accepted.add(`Bearer ${token}`);
    if (delayMs > 0) await sleep(delayMs);
    return token;
  };
  return world;
}

/**
 * `n` concurrent calls that each meet one 401. `kind`: 'ours:<key>', 'ky2', 'ky1', 'axios'
 * (axios-auth-refresh defaults) or 'axios-nodedup' (`deduplicateRefresh: false`).
 */
export async function storm({ kind, n, delayMs, settleLimitMs = 60_000 }) {
  const world = stormWorld(delayMs);
  let call;
  let dispose = () => {};
  let expired = null;
  if (kind.startsWith('ours:')) {
    const o = libs.ours.find((x) => `ours:${x.key}` === kind);
    const manager = new o.mod.SessionManager({ getToken: world.getToken, fetch: world.fetch, tabs: false, logLevel: 'silent' });
    expired = 0;
    manager.on('sessionExpired', () => { expired++; });
    call = () => manager.fetchWithAuth(API);
    dispose = () => manager.free();
  } else if (kind === 'ky2') {
    let token = await world.getToken({ forceRefresh: false });
    const ky = libs.ky2;
    // ky 2's README: "retry with a fresh token on a 401 error" (afterResponse + ky.retry).
    const api = ky.create({
      fetch: world.fetch,
      hooks: {
        beforeRequest: [({ request }) => { request.headers.set('Authorization', `Bearer ${token}`); }],
        afterResponse: [async ({ request, response, retryCount }) => {
          if (response.status === 401 && retryCount === 0) {
            token = await world.getToken({ forceRefresh: true });
            const headers = new Headers(request.headers);
            headers.set('Authorization', `Bearer ${token}`);
            return ky.retry({ request: new Request(request, { headers }), code: 'TOKEN_REFRESHED' });
          }
          return undefined;
        }],
      },
    });
    call = () => api.get(API);
  } else if (kind === 'ky1') {
    let token = await world.getToken({ forceRefresh: false });
    const ky = libs.ky1;
    // ky 1's README: "retry with a fresh token" in afterResponse, `return ky(request)` (here
    // with the injected fetch, which the README's bare `ky(request)` would not use).
    const api = ky.create({
      fetch: world.fetch,
      hooks: {
        beforeRequest: [(request) => { request.headers.set('Authorization', `Bearer ${token}`); }],
        afterResponse: [async (request, _options, response) => {
          if (response.status === 401) {
            token = await world.getToken({ forceRefresh: true });
            request.headers.set('Authorization', `Bearer ${token}`);
            return ky(request, { fetch: world.fetch });
          }
          return undefined;
        }],
      },
    });
    call = () => api.get(API);
  } else if (kind === 'axios' || kind === 'axios-nodedup') {
    let token = await world.getToken({ forceRefresh: false });
    const ax = libs.axios.create({ adapter: 'fetch', env: { fetch: world.fetch } });
    // axios-auth-refresh's README: the request interceptor reads the current token; the
    // refresh logic stores the new one and sets it on the failed request.
    ax.interceptors.request.use((config) => {
      config.headers.Authorization = `Bearer ${token}`;
      return config;
    });
    libs.createAuthRefresh(ax, (failed) => world.getToken({ forceRefresh: true }).then((t) => {
      token = t;
      failed.response.config.headers.Authorization = `Bearer ${t}`;
    }), kind === 'axios-nodedup' ? { deduplicateRefresh: false } : {});
    call = () => ax.get(API);
  } else {
    throw new Error(`unknown storm contender ${kind}`);
  }

  const t0 = performance.now();
  const calls = [];
  for (let i = 0; i < n; i++) calls.push(Promise.resolve().then(call));
  let limit;
  const settled = await Promise.race([
    Promise.allSettled(calls),
    new Promise((resolve) => { limit = setTimeout(() => resolve(null), settleLimitMs); }),
  ]);
  const settleMs = performance.now() - t0;
  clearTimeout(limit);
  const outcome = {
    providerCalls: world.providerCalls,
    serverRequests: world.requests,
    settled: settled !== null,
    settleMs,
    ok: 0,
    failed: 0,
    errors: {},
    sessionExpired: expired,
  };
  for (const s of settled ?? []) {
    if (s.status === 'fulfilled' && s.value.status === 200) {
      outcome.ok++;
    } else {
      outcome.failed++;
      const what = s.status === 'fulfilled' ? `status ${s.value.status}` : `${s.reason?.name ?? 'Error'}: ${String(s.reason?.message ?? s.reason).slice(0, 80)}`;
      outcome.errors[what] = (outcome.errors[what] ?? 0) + 1;
    }
  }
  if (settled === null) outcome.failed = n;
  try { dispose(); } catch { /* best effort */ }
  return outcome;
}

// ----- memory -----

let memo = null;

/** One contender for the memory runs (`kind` as in prepare), checked and warmed up. */
export async function memoryPrepare({ kind, token, warmup }) {
  await prepare({ mode: 'injected', token, only: [kind] });
  memo = current.list[0];
  await memoryRun({ calls: warmup, batch: 0 });
  return memo.name;
}

/** `calls` calls of the memory contender: sequential (batch 0) or in Promise.all batches. */
export async function memoryRun({ calls, batch }) {
  const c = memo;
  let bad = 0;
  if (!batch) {
    bad = (await sequential(c, calls)).bad;
  } else {
    for (let done = 0; done < calls; done += batch) bad += (await parallel(c, Math.min(batch, calls - done))).bad;
  }
  if (bad) throw new Error(`${c.name} (memory): ${bad} of ${calls} calls did not answer 200`);
  return bad;
}

/** The wasm linear memory of the memory contender's session-keeper build, or null. */
export function wasmBytes() {
  return memo?.memory ? memo.memory.buffer.byteLength : null;
}

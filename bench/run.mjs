#!/usr/bin/env node
// session-keeper's benchmark suite (`make bench`, `make bench-smoke`).
//
//   node bench/run.mjs                 full run: prints the tables, writes BENCHMARKS.md
//   node bench/run.mjs --quick         smoke run (CI): few rounds, small counts, writes nothing
//   options: --out FILE                write the report there (also in --quick mode)
//            --pkg DIR                 the session-keeper build to measure (default pkg/)
//            --pkg-b DIR               a second build, measured in the same page and runs
//            --label-b TEXT            its label (default "session-keeper (baseline)")
//            --skip-herd               do not run the native restart-herd example
//
// Parts: 1 size (esbuild-bundled peers, gzip -9 and brotli), 2 per-request overhead in one
// headless Chromium page (injected fetch and loopback HTTP, sequential and Promise.all,
// interleaved rounds), 3 a 401 storm, 4 memory (JS heap after GC, wasm linear memory),
// 5 cold start-up, 6 the native restart herd (examples/herd.rs, when it exists).
// Every timed figure is taken in-page with performance.now() over many calls per sample;
// each is reported as min / median / max over interleaved rounds, with its ratio to a
// baseline measured in the same run. The run fails only when the harness breaks (a contender
// throws, a number is missing, one of our storm calls fails), never on timing.

import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, platform, release, tmpdir, totalmem } from 'node:os';
import { createServer } from 'node:http';
import { extname, join, normalize, relative, resolve } from 'node:path';
import { brotliCompressSync, constants as zlibConstants } from 'node:zlib';
import { launchBrowser, ROOT, startBackend } from '../e2e/support.js';

// ----- options -----

function parseArgs(argv) {
  const opts = { quick: false, out: null, pkg: join(ROOT, 'pkg'), pkgB: null, labelB: 'session-keeper (baseline)', skipHerd: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === '--quick') opts.quick = true;
    else if (arg === '--out') opts.out = resolve(value());
    else if (arg === '--pkg') opts.pkg = resolve(value());
    else if (arg === '--pkg-b') opts.pkgB = resolve(value());
    else if (arg === '--label-b') opts.labelB = value();
    else if (arg === '--skip-herd') opts.skipHerd = true;
    else if (arg === '--help' || arg === '-h') {
      console.log(readFileSync(new URL(import.meta.url), 'utf8').split('\n').slice(1, 11).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
      process.exit(0);
    } else throw new Error(`unknown option ${arg} (see --help)`);
  }
  if (!opts.quick && !opts.out) opts.out = join(ROOT, 'BENCHMARKS.md');
  return opts;
}

const opts = parseArgs(process.argv.slice(2));

// e2e/support.js starts $REFERENCE_BACKEND, or target/release/reference-backend: follow
// CARGO_TARGET_DIR when the backend was built elsewhere.
if (!process.env.REFERENCE_BACKEND && process.env.CARGO_TARGET_DIR) {
  process.env.REFERENCE_BACKEND = resolve(ROOT, process.env.CARGO_TARGET_DIR, 'release', 'reference-backend');
}

const SETTINGS = opts.quick
  ? { rounds: 3, warmupRounds: 1, calls: 200, loopRounds: 3, loopCalls: 100, stormN: 50, stormRounds: 1, stormDelayMs: 20,
    memCalls: 5_000, memBatch: 1000, memWarmup: 500, loads: 2 }
  : { rounds: 41, warmupRounds: 2, calls: 1000, loopRounds: 15, loopCalls: 300, stormN: 1000, stormRounds: 5, stormDelayMs: 20,
    memCalls: 100_000, memBatch: 1000, memWarmup: 2000, loads: 15 };

const started = Date.now();
const log = (message) => process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] ${message}\n`);
const problems = [];
const problem = (message) => {
  problems.push(message);
  log(`PROBLEM: ${message}`);
};

// ----- statistics and formatting -----

function stats(values) {
  const v = values.filter((x) => typeof x === 'number').sort((a, b) => a - b);
  if (v.length !== values.length || v.length === 0 || v.some((x) => !Number.isFinite(x))) return { min: NaN, median: NaN, max: NaN, n: values.length };
  const mid = v.length >> 1;
  const median = v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
  return { min: v[0], median, max: v[v.length - 1], n: v.length };
}

const fmt = (x, digits = 2) => {
  if (typeof x !== 'number' || !Number.isFinite(x)) return 'n/a';
  const a = Math.abs(x);
  if (a >= 1000) return Math.round(x).toLocaleString('en-US');
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  return x.toFixed(digits);
};
const fmtStats = (s, digits) => `${fmt(s.median, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)})`;
const kb = (bytes) => (bytes / 1024).toFixed(1);
const int = (x) => (typeof x === 'number' && Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : 'n/a');

/** Right-align a column when every cell in it reads as a number (or is empty / n/a). */
function numericColumns(t) {
  return t.headers.map((_, i) => i > 0 && t.rows.every((r) => /^(|n\/a|–|[-−+]?[\d.,]+.*)$/.test(String(r[i] ?? ''))));
}

/** A table: { title, headers, rows, notes }, printed aligned and written as markdown. */
function textTable(t) {
  const cells = [t.headers, ...t.rows].map((r) => r.map((c) => String(c)));
  const right = numericColumns(t);
  const widths = t.headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r) => r.map((c, i) => (right[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  const out = [`== ${t.title}`, line(cells[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)];
  for (const n of t.notes ?? []) out.push(`   ${n.replace(/`/g, '')}`);
  return out.join('\n');
}

function mdTable(t) {
  const esc = (c) => String(c).replace(/\|/g, '\\|');
  const right = numericColumns(t);
  const out = [`### ${t.title}`, '', `| ${t.headers.map(esc).join(' | ')} |`, `|${right.map((r) => (r ? '---:' : '---')).join('|')}|`];
  for (const r of t.rows) out.push(`| ${r.map(esc).join(' | ')} |`);
  if (t.notes?.length) out.push('', ...t.notes.map((n) => `- ${n}`));
  return out.join('\n');
}

// ----- the machine and the versions -----

const pkgVersion = (name) => {
  try {
    return JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return 'not installed';
  }
};

function git(args, cwd = ROOT) {
  try {
    return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

function describePkg(dir) {
  let version = '?';
  try {
    version = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version;
  } catch { /* no manifest */ }
  const inRepo = resolve(dir) === join(ROOT, 'pkg');
  if (!inRepo) return `${version} from \`${dir}\``;
  // The last commit that changed what goes into pkg/, and whether the tree differs from it.
  const sources = ['src', 'js', 'Cargo.toml', 'Cargo.lock', 'scripts/package.sh', 'scripts/minify-names.mjs'];
  const commit = git(['log', '-1', '--format=%h', '--', ...sources]);
  const dirty = git(['status', '--porcelain', '--untracked-files=no', '--', ...sources]);
  return `${version} from \`pkg/\`, built by \`make build\` from the library sources of ${commit ?? '?'}${dirty ? ' plus uncommitted changes' : ''}`;
}

function machine() {
  const cpu = cpus()[0]?.model ?? 'unknown';
  let os = `${platform()} ${release()}`;
  try {
    const pretty = readFileSync('/etc/os-release', 'utf8').match(/^PRETTY_NAME="?([^"\n]*)"?/m);
    if (pretty) os = `${pretty[1]} (kernel ${release()})`;
  } catch { /* not Linux */ }
  return { cpu, cores: cpus().length, memGB: (totalmem() / 2 ** 30).toFixed(0), os, node: process.version };
}

// ----- the site: harness page, package builds, bundled peers -----

const PEERS = [
  { key: 'ky2', file: 'ky2.js', label: 'ky 2', versions: () => `ky ${pkgVersion('ky')}` },
  { key: 'ky1', file: 'ky1.js', label: 'ky 1', versions: () => `ky ${pkgVersion('ky1')}` },
  { key: 'axios', file: 'axios.js', label: 'axios + axios-auth-refresh', versions: () => `axios ${pkgVersion('axios')}, axios-auth-refresh ${pkgVersion('axios-auth-refresh')}` },
  { key: 'supabase-auth', file: 'supabase-auth.js', label: '@supabase/auth-js', versions: () => `@supabase/auth-js ${pkgVersion('@supabase/auth-js')}` },
  { key: 'oidc', file: 'oidc-client-ts.js', label: 'oidc-client-ts', versions: () => `oidc-client-ts ${pkgVersion('oidc-client-ts')}` },
];

async function buildSite(pkgs) {
  const site = mkdtempSync(join(tmpdir(), 'session-keeper-bench-'));
  cpSync(join(ROOT, 'bench', 'page'), site, { recursive: true });
  for (const p of pkgs) {
    if (!existsSync(join(p.path, 'session_keeper.js')) || !existsSync(join(p.path, 'session_keeper_bg.wasm'))) {
      throw new Error(`${p.path} is not a session-keeper build (run \`make build\`, or pass --pkg DIR)`);
    }
    cpSync(p.path, join(site, p.dir), { recursive: true });
  }
  const esbuild = await import('esbuild');
  mkdirSync(join(site, 'peers'));
  for (const peer of PEERS) {
    // The same as `esbuild --bundle --minify --format=esm entry`.
    await esbuild.build({
      entryPoints: [join(ROOT, 'bench', 'peers', peer.file)],
      bundle: true, minify: true, format: 'esm',
      outfile: join(site, 'peers', peer.file),
      absWorkingDir: ROOT, logLevel: 'warning',
    });
  }
  // Our own package bundled the same way (its wasm stays a separate file: esbuild leaves
  // `new URL('session_keeper_bg.wasm', import.meta.url)` as it is).
  for (const p of pkgs) {
    const entry = join(site, `entry-${p.key}.js`);
    writeFileSync(entry, `export { default, SessionManager } from './${p.dir}/session_keeper.js';\n`);
    await esbuild.build({ entryPoints: [entry], bundle: true, minify: true, format: 'esm', outfile: join(site, 'peers', `ours-${p.key}.js`), logLevel: 'warning' });
  }
  return site;
}

/**
 * A tiny static server for the start-up loads (part 5): keep-alive with TCP_NODELAY, so that
 * a load measures the module, not the server. (The reference backend's static files stall
 * about 40 ms on a reused connection: Nagle's algorithm meets the client's delayed ACK,
 * as `axum::serve` leaves TCP_NODELAY off; its JSON API answers are not affected.)
 */
async function staticServer(dir) {
  const types = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.wasm': 'application/wasm' };
  const cache = new Map();
  const server = createServer({ noDelay: true, keepAlive: true }, (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, 'http://localhost').pathname));
    const file = join(dir, path);
    let body = cache.get(file);
    if (!body && file.startsWith(`${dir}/`) && existsSync(file)) {
      try {
        body = readFileSync(file);
        cache.set(file, body);
      } catch { /* a directory */ }
    }
    if (!body) {
      res.writeHead(404, { 'content-type': 'text/plain', 'cache-control': 'no-store' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream', 'content-length': body.length, 'cache-control': 'no-store' });
    res.end(body);
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((ok) => { server.closeAllConnections(); server.close(ok); }) };
}

// ----- part 1: size -----

/** gzip -9 as scripts/size.sh runs it (a file argument; or stdin for the joined snippets). */
function gzipBytes(file, input) {
  const r = input === undefined
    ? spawnSync('gzip', ['-9', '-c', file], { maxBuffer: 1 << 28 })
    : spawnSync('gzip', ['-9', '-c'], { input, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`gzip failed: ${r.stderr}`);
  return r.stdout.length;
}
const brotliBytes = (buf) => brotliCompressSync(buf, {
  params: { [zlibConstants.BROTLI_PARAM_QUALITY]: zlibConstants.BROTLI_MAX_QUALITY, [zlibConstants.BROTLI_PARAM_SIZE_HINT]: buf.length },
}).length;

function snippetFiles(dir) {
  const out = [];
  const walk = (d) => {
    if (!existsSync(d)) return;
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.endsWith('.js')) out.push(join(d, e.name));
    }
  };
  walk(join(dir, 'snippets'));
  return out;
}

function sizeOfPkg(dir) {
  const wasm = join(dir, 'session_keeper_bg.wasm');
  const glue = join(dir, 'session_keeper.js');
  const snippets = Buffer.concat(snippetFiles(dir).map((f) => readFileSync(f)));
  const parts = [readFileSync(wasm), readFileSync(glue), snippets];
  return {
    raw: parts.reduce((s, b) => s + b.length, 0),
    gzip: gzipBytes(wasm) + gzipBytes(glue) + (snippets.length ? gzipBytes(null, snippets) : 0),
    brotli: parts.reduce((s, b) => s + (b.length ? brotliBytes(b) : 0), 0),
    wasm: { raw: parts[0].length, gzip: gzipBytes(wasm) },
  };
}

function sizeOfBundle(file, extra = null) {
  const buf = readFileSync(file);
  const s = { raw: buf.length, gzip: gzipBytes(file), brotli: brotliBytes(buf) };
  if (extra) {
    const w = readFileSync(extra);
    s.raw += w.length;
    s.gzip += gzipBytes(extra);
    s.brotli += brotliBytes(w);
  }
  return s;
}

function sizes(site, pkgs) {
  const rows = [];
  for (const p of pkgs) {
    rows.push({ label: `${p.label}, shipped (pkg/: wasm + glue + snippets)`, ...sizeOfPkg(p.path), ours: true });
    rows.push({ label: `${p.label}, esbuild-bundled JS + its wasm`, ...sizeOfBundle(join(site, 'peers', `ours-${p.key}.js`), join(p.path, 'session_keeper_bg.wasm')) });
  }
  for (const peer of PEERS) rows.push({ label: `${peer.label} (${peer.versions()})`, ...sizeOfBundle(join(site, 'peers', peer.file)) });
  const base = rows[0];
  return {
    base,
    table: {
      title: 'Size: shipped bytes (ratios against session-keeper as shipped)',
      headers: ['what', 'raw B', 'gzip -9 B', 'brotli 11 B', 'gzip × ours', 'brotli × ours'],
      rows: rows.map((r) => [r.label, int(r.raw), int(r.gzip), int(r.brotli), fmt(r.gzip / base.gzip), fmt(r.brotli / base.brotli)]),
      notes: [
        `Ours as scripts/size.sh counts it: gzip -9 of session_keeper_bg.wasm, of session_keeper.js and of the joined snippets/**/*.js, summed (brotli the same way, quality 11). The wasm alone: ${int(base.wasm.raw)} B raw, ${int(base.wasm.gzip)} B gzip -9. SPEC budget: 20 KB (20,480 B) gzip -9, target 16 KB: ours is ${fmt(base.gzip / 20480)}× the budget.`,
        'Peers: `esbuild --bundle --minify --format=esm` (esbuild JS API, same options) of the entries in bench/peers/ (what a dashboard imports), then gzip -9 (the gzip CLI) and brotli quality 11 (node zlib) of the bundle.',
        'Sizes are deterministic: one build, no rounds.',
      ],
    },
  };
}

// ----- part 6: the native restart herd -----

function herd() {
  const example = join(ROOT, 'examples', 'herd.rs');
  if (opts.skipHerd) return { note: 'Skipped (--skip-herd).' };
  if (!existsSync(example)) return { note: '`examples/herd.rs` does not exist in this checkout yet: the restart-herd simulation was skipped.' };
  // Quick mode: a small population, enough to prove the example builds and runs.
  const args = ['run', '--release', '--example', 'herd', '--', '--json', ...(opts.quick ? ['--clients', '300'] : [])];
  log(`part 6: cargo ${args.join(' ')}`);
  const t0 = Date.now();
  const r = spawnSync('cargo', args, {
    cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 26, timeout: 15 * 60_000, env: process.env,
  });
  const seconds = ((Date.now() - t0) / 1000).toFixed(0);
  if (r.status !== 0) {
    const tail = `${r.stderr ?? ''}`.trim().split('\n').slice(-5).join(' / ');
    return { note: `\`cargo run --release --example herd -- --json\` failed (exit ${r.status ?? r.signal}) after ${seconds} s: ${tail}` };
  }
  let rows;
  try {
    // The JSON array is the last thing printed (cargo's own lines go to stderr).
    const text = r.stdout.trim();
    rows = JSON.parse(text.slice(text.indexOf('[')));
  } catch (error) {
    return { note: `the herd example's output is not a JSON array: ${error.message}` };
  }
  if (!Array.isArray(rows) || rows.some((row) => row === null || typeof row !== 'object' || Array.isArray(row))) {
    return { note: 'the herd example printed JSON that is not an array of row objects' };
  }
  const keys = [];
  for (const row of rows) for (const k of Object.keys(row)) if (!keys.includes(k)) keys.push(k);
  const cell = (v) => (v === undefined ? '' : v === null ? 'null' : typeof v === 'object' ? JSON.stringify(v) : typeof v === 'number' ? String(v) : String(v));
  return {
    table: {
      title: 'Restart herd (native simulation, examples/herd.rs)',
      headers: keys,
      rows: rows.map((row) => keys.map((k) => cell(row[k]))),
      notes: [`\`cargo run --release --example herd -- --json\` (${rows.length} rows, ${seconds} s including the build); columns are the rows' keys, as printed.`],
    },
  };
}

// ----- the browser parts -----

async function login(backend) {
  const res = await fetch(`${backend.url}/auth/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'demo@example.com', password: 'demo' }),
  });
  if (!res.ok) throw new Error(`/auth/login answered ${res.status}`);
  return (await res.json()).access_token;
}

async function openHarness(context, backend, pkgs) {
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (error) => page.problems.push(`pageerror: ${error.message}`));
  page.on('console', (m) => { if (m.type() === 'error') page.problems.push(`console: ${m.text()}`); });
  await page.goto(`${backend.url}/app/index.html`);
  await page.waitForSelector('html[data-ready="true"]');
  const loaded = await page.evaluate((p) => window.bench.load({ pkgs: p }), pkgs.map(({ key, label, dir }) => ({ key, label, dir })));
  for (const o of loaded.ours) if (!o.memory) problem(`${o.label}: init() did not resolve to exports with a WebAssembly.Memory`);
  return page;
}

/** Part 2: one mode ('injected' | 'loopback') × (sequential, Promise.all), interleaved rounds. */
async function overhead(page, mode, token, pkgs) {
  const names = (await page.evaluate((a) => window.bench.prepare(a), { mode, token })).map((c) => c.name);
  const rounds = mode === 'injected' ? SETTINGS.rounds : SETTINGS.loopRounds;
  const n = mode === 'injected' ? SETTINGS.calls : SETTINGS.loopCalls;
  const result = {};
  for (const concurrent of [false, true]) {
    const label = concurrent ? `${n} calls in Promise.all` : `${n} sequential calls`;
    log(`part 2: ${mode}, ${label} × ${rounds} rounds (+${SETTINGS.warmupRounds} warm-up), ${names.length} contenders`);
    for (let w = 0; w < SETTINGS.warmupRounds; w++) await page.evaluate((a) => window.bench.round(a), { index: w, n, concurrent });
    const samples = [];
    for (let r = 0; r < rounds; r++) samples.push(await page.evaluate((a) => window.bench.round(a), { index: r, n, concurrent }));
    result[concurrent ? 'parallel' : 'sequential'] = { label, samples };
  }
  await page.evaluate(() => window.bench.dispose());
  return { mode, names, rounds, n, result };
}

/**
 * Against a target ratio: by the median, and said to be unresolved when the per-round range
 * straddles the target, or (`clear` false) when noise swamps what the ratio divides.
 */
function verdict(s, target, clear = true) {
  if (!Number.isFinite(s.median)) return 'n/a';
  if (!clear) return 'within noise';
  const side = s.median <= target ? 'yes' : 'no';
  return s.min <= target && s.max > target ? `${side} (rounds straddle ${target})` : side;
}

function overheadTables(o, pkgs) {
  const tables = [];
  const headline = [];
  const versus = [];
  for (const [key, { label, samples }] of Object.entries(o.result)) {
    const rows = [];
    for (const name of o.names) {
      const us = stats(samples.map((s) => s[name]));
      const ratio = stats(samples.map((s) => s[name] / s.fetch));
      const over = stats(samples.map((s) => s[name] - s.fetch));
      if (!Number.isFinite(us.median) || !Number.isFinite(ratio.median)) problem(`${o.mode}/${key}: ${name} has no figure`);
      rows.push([name, fmtStats(us), name === 'fetch' ? '1 (baseline)' : fmtStats(ratio), name === 'fetch' ? '0' : fmtStats(over)]);
    }
    tables.push({
      title: `Per request, ${o.mode === 'injected' ? 'injected fetch that resolves at once' : 'loopback HTTP to the reference backend (GET /api/data)'}, ${label} (${o.rounds} rounds)`,
      headers: ['contender', 'µs per call: median (min–max)', '× fetch', 'overhead µs (− fetch, same round)'],
      rows,
      notes: [],
    });
    for (const p of pkgs) {
      const ratio = stats(samples.map((s) => s[p.label] / s['ky 2']));
      const overRatio = stats(samples.map((s) => (s[p.label] - s.fetch) / (s['ky 2'] - s.fetch)));
      const ours = stats(samples.map((s) => s[p.label] - s.fetch));
      const ky = stats(samples.map((s) => s['ky 2'] - s.fetch));
      // No verdict where noise swamps the overheads: more than 1 round in 10 where ours or
      // ky 2's came out ≤ 0 (plain fetch's sample was the slower one).
      const swamped = samples.filter((s) => s[p.label] - s.fetch <= 0 || s['ky 2'] - s.fetch <= 0).length;
      headline.push([p.label, o.mode, label, fmtStats(ratio), fmtStats(overRatio), `${fmt(ours.median)} vs ${fmt(ky.median)}`,
        verdict(overRatio, 1, swamped * 10 <= samples.length)]);
      if (!Number.isFinite(ratio.median)) problem(`${o.mode}/${key}: no ${p.label} ÷ ky 2 ratio`);
    }
    if (pkgs.length > 1) {
      const ab = stats(samples.map((s) => s[pkgs[0].label] / s[pkgs[1].label]));
      const abOver = stats(samples.map((s) => (s[pkgs[0].label] - s.fetch) / (s[pkgs[1].label] - s.fetch)));
      tables[tables.length - 1].notes.push(`${pkgs[0].label} ÷ ${pkgs[1].label} per round: ${fmtStats(ab)}.`);
      versus.push([o.mode, label, fmtStats(ab), fmtStats(abOver)]);
    }
  }
  return { tables, headline, versus };
}

/** Part 3. */
async function storms(page, pkgs) {
  const kinds = [...pkgs.map((p) => ({ kind: `ours:${p.key}`, label: p.label })),
    { kind: 'ky2', label: 'ky 2, README afterResponse refresh hook' },
    { kind: 'ky1', label: 'ky 1, README afterResponse refresh hook' },
    { kind: 'axios', label: 'axios + axios-auth-refresh (defaults)' },
    { kind: 'axios-nodedup', label: 'axios + axios-auth-refresh (deduplicateRefresh: false)' }];
  const runs = Object.fromEntries(kinds.map((k) => [k.kind, []]));
  log(`part 3: 401 storm, ${SETTINGS.stormN} concurrent calls × ${SETTINGS.stormRounds} rounds, ${kinds.length} contenders`);
  for (let r = 0; r < SETTINGS.stormRounds; r++) {
    for (let k = 0; k < kinds.length; k++) {
      const { kind, label } = kinds[(r + k) % kinds.length];
      let outcome;
      try {
        outcome = await page.evaluate((a) => window.bench.storm(a), { kind, n: SETTINGS.stormN, delayMs: SETTINGS.stormDelayMs });
      } catch (error) {
        problem(`storm: ${label} threw: ${error.message.split('\n')[0]}`);
        continue;
      }
      runs[kind].push(outcome);
      if (kind.startsWith('ours:') && (outcome.failed > 0 || !outcome.settled)) {
        problem(`storm: ${outcome.failed} of our ${SETTINGS.stormN} calls failed (${JSON.stringify(outcome.errors)})${outcome.settled ? '' : '; not settled'}`);
      }
    }
  }
  const range = (values) => {
    const s = stats(values);
    return s.min === s.max ? int(s.median) : `${int(s.median)} (${int(s.min)}–${int(s.max)})`;
  };
  const baseSettle = runs[kinds[0].kind].map((o) => o.settleMs);
  const rows = kinds.map(({ kind, label }) => {
    const rs = runs[kind];
    if (!rs.length) return [label, 'n/a', 'n/a', 'n/a', 'n/a', 'n/a', 'threw'];
    const errors = {};
    for (const o of rs) for (const [e, c] of Object.entries(o.errors)) errors[e] = (errors[e] ?? 0) + c;
    const settle = stats(rs.map((o) => o.settleMs));
    const ratio = stats(rs.map((o, i) => o.settleMs / baseSettle[i]));
    if (!Number.isFinite(settle.median)) problem(`storm: ${label} has no settle time`);
    const what = Object.entries(errors).map(([e, c]) => `${e} ×${Math.round(c / rs.length)}`).join('; ');
    return [label, range(rs.map((o) => o.providerCalls)), range(rs.map((o) => o.serverRequests)), range(rs.map((o) => o.failed)),
      fmtStats(settle, 1), kind === kinds[0].kind ? '1 (baseline)' : fmtStats(ratio),
      (rs.some((o) => !o.settled) ? 'did not settle in 60 s; ' : '') + (what || '–') + (rs[0].sessionExpired ? `; sessionExpired ×${rs[0].sessionExpired}` : '')];
  });
  return {
    runs,
    table: {
      title: `401 storm: ${SETTINGS.stormN} concurrent calls, each meets one 401 (${SETTINGS.stormRounds} rounds)`,
      headers: ['contender', 'provider calls', 'requests at server', 'failed calls', 'ms to settle: median (min–max)', 'settle × ours', 'failures (per round)'],
      rows,
      notes: [
        `The "server" is an injected fetch that counts requests and answers 401 (with \`{"requires_refresh":true}\`) to every token but a refreshed one. The provider counts its calls, answers after ${SETTINGS.stormDelayMs} ms (a refresh round trip), and mints a new, accepted token on each forced refresh; its first token is refused. Provider calls include the first token (ky and axios fetch it once before the storm). Counts are median (min–max) over rounds.`,
        'ky: the afterResponse hook from each version\'s README, calling the provider instead of a refresh endpoint; ky 2\'s `ky.retry()` waits ky\'s default retry delay (300 ms) before the retry. ky 1\'s README retries with a bare `ky(request)`; here `ky(request, { fetch })` so that it reaches the injected server.',
        'axios-auth-refresh 5 has no `pauseInstanceWhileRefreshing`; its replacement is `deduplicateRefresh` (default true), so "without de-duplication" is `deduplicateRefresh: false`. Its README request interceptor reads the current token; the refresh logic stores the new one and sets it on the failed request. With the default, a 401 that arrives while the refresh runs is passed to the caller, not retried (the instance is in its skip list; known upstream: Flyrell/axios-auth-refresh#90, #113); with `deduplicateRefresh: false` those are retried, and they still share the refresh call in flight (5.0.2 keeps one `refreshCall` either way).',
      ],
    },
  };
}

/** Part 4: a fresh context per contender, so that no other page shares the V8 heap. */
async function memory(browser, backend, pkgs) {
  const kinds = [{ kind: 'fetch', label: 'fetch' }, ...pkgs.map((p) => ({ kind: `ours:${p.key}`, label: p.label })), { kind: 'ky2', label: 'ky 2' }];
  const batches = SETTINGS.memCalls / SETTINGS.memBatch;
  const results = [];
  for (const { kind, label } of kinds) {
    log(`part 4: memory, ${label}: ${SETTINGS.memCalls} sequential, then ${batches} × ${SETTINGS.memBatch} in Promise.all`);
    const context = await browser.newContext();
    try {
      const page = await openHarness(context, backend, pkgs);
      const cdp = await context.newCDPSession(page);
      const measure = async () => {
        await cdp.send('HeapProfiler.collectGarbage');
        await cdp.send('HeapProfiler.collectGarbage');
        const heap = await cdp.send('Runtime.getHeapUsage');
        const wasm = await page.evaluate(() => window.bench.wasmBytes());
        return { heap: heap.usedSize, wasm };
      };
      const token = await page.evaluate(() => window.bench.injectedToken());
      await page.evaluate((a) => window.bench.memoryPrepare(a), { kind, token, warmup: SETTINGS.memWarmup });
      const warm = await measure();
      const t0 = Date.now();
      await page.evaluate((a) => window.bench.memoryRun(a), { calls: SETTINGS.memCalls, batch: 0 });
      const seq = await measure();
      await page.evaluate((a) => window.bench.memoryRun(a), { calls: SETTINGS.memCalls, batch: SETTINGS.memBatch });
      const batched = await measure();
      results.push({ label, kind, warm, seq, batched, seconds: (Date.now() - t0) / 1000 });
      if (page.problems.length) problem(`memory ${label}: ${page.problems.slice(0, 3).join(' | ')}`);
    } catch (error) {
      problem(`memory: ${label} threw: ${error.message.split('\n')[0]}`);
    } finally {
      await context.close();
    }
  }
  for (const r of results) {
    for (const v of [r.warm.heap, r.seq.heap, r.batched.heap]) if (!Number.isFinite(v)) problem(`memory: ${r.label} has no heap figure`);
    if (r.kind.startsWith('ours:')) for (const v of [r.warm.wasm, r.seq.wasm, r.batched.wasm]) if (!Number.isFinite(v)) problem(`memory: ${r.label} has no wasm figure`);
  }
  const base = results.find((r) => r.kind === 'fetch');
  const delta = (a, b) => `${b - a >= 0 ? '+' : '−'}${kb(Math.abs(b - a))}`;
  return {
    results,
    table: {
      title: `Memory after forced GC: ${int(SETTINGS.memCalls)} sequential calls, then ${batches} × ${SETTINGS.memBatch} in Promise.all (injected fetch)`,
      headers: ['contender', 'JS heap after warm-up KB', `Δ after ${int(SETTINGS.memCalls)} sequential KB`, `Δ after ${batches}×${SETTINGS.memBatch} batched KB`, 'Δ − fetch\'s Δ (total) KB', 'wasm memory KB: warm-up → seq → batched'],
      rows: results.map((r) => [r.label, kb(r.warm.heap), delta(r.warm.heap, r.seq.heap), delta(r.seq.heap, r.batched.heap),
        base && r !== base ? delta(0, (r.batched.heap - r.warm.heap) - (base.batched.heap - base.warm.heap)) : '0 (baseline)',
        r.warm.wasm === null ? '–' : `${kb(r.warm.wasm)} → ${kb(r.seq.wasm)} → ${kb(r.batched.wasm)}`]),
      notes: [
        `JS heap: CDP \`HeapProfiler.collectGarbage\` (twice), then \`Runtime.getHeapUsage\` usedSize, in a fresh browser context per contender (the page, ${pkgs.length > 1 ? 'both builds' : 'the build'} and the peers loaded in each). Warm-up: ${int(SETTINGS.memWarmup)} calls. wasm: the byte length of the \`WebAssembly.Memory\` among the exports \`init()\` resolves to. One run per contender (no rounds).`,
      ],
    },
  };
}

/** Part 5: cold loads, each in a fresh browser context, interleaved. */
async function startup(browser, server, pkgs) {
  const kinds = [
    ...pkgs.map((p) => ({ kind: 'ours', dir: p.dir, tabs: false, label: `${p.label} (tabs: false)`, key: p.key })),
    { kind: 'ours', dir: pkgs[0].dir, tabs: true, label: `${pkgs[0].label} (tabs: default)`, key: `${pkgs[0].key}-tabs` },
    { kind: 'ky2', label: 'ky 2 (esbuild bundle)', key: 'ky2' },
  ];
  const runs = Object.fromEntries(kinds.map((k) => [k.key, []]));
  log(`part 5: start-up, ${SETTINGS.loads} cold loads × ${kinds.length} (+1 untimed)`);
  // Load -1 is untimed: the browser's very first loads also pay for starting its processes.
  for (let i = -1; i < SETTINGS.loads; i++) {
    for (let k = 0; k < kinds.length; k++) {
      const spec = kinds[(i + 1 + k) % kinds.length];
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        await page.goto(`${server.url}/startup.html`);
        const r = await page.evaluate(async ({ kind, dir, tabs }) => {
          const now = Math.floor(Date.now() / 1000);
          const b64 = (v) => btoa(JSON.stringify(v)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
          const token = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: 'bench-user', iat: now, exp: now + 3600 })}.YmVuY2htYXJr`;
          const api = new URL('/api/data', location.origin).href;
          const injected = () => Promise.resolve(new Response('{}', { status: 200 }));
          if (kind === 'ours') {
            const t0 = performance.now();
            const m = await import(`/${dir}/session_keeper.js`);
            const t1 = performance.now();
            await m.default();
            const t2 = performance.now();
            const manager = new m.SessionManager({ getToken: () => token, fetch: injected, ...(tabs ? {} : { tabs: false }) });
            const t3 = performance.now();
            const response = await manager.fetchWithAuth(api);
            const t4 = performance.now();
            if (response.status !== 200) throw new Error(`first fetchWithAuth answered ${response.status}`);
            manager.free();
            return { importMs: t1 - t0, initMs: t2 - t1, constructMs: t3 - t2, firstCallMs: t4 - t3, readyMs: t3 - t1, totalMs: t4 - t0 };
          }
          const t0 = performance.now();
          const m = await import('/peers/ky2.js');
          const t1 = performance.now();
          const ky = m.default.create({ fetch: injected, hooks: { beforeRequest: [({ request }) => { request.headers.set('Authorization', `Bearer ${token}`); }] } });
          const response = await ky.get(api);
          const t2 = performance.now();
          if (response.status !== 200) throw new Error(`first ky call answered ${response.status}`);
          return { importMs: t1 - t0, firstCallMs: t2 - t1, totalMs: t2 - t0 };
        }, spec);
        if (i >= 0) runs[spec.key].push(r);
      } catch (error) {
        problem(`start-up: ${spec.label} threw: ${error.message.split('\n')[0]}`);
      } finally {
        await context.close();
      }
    }
  }
  const col = (key, field) => stats((runs[key] ?? []).map((r) => r[field]));
  const show = (key, field) => (runs[key]?.[0]?.[field] === undefined ? '–' : fmtStats(col(key, field)));
  const rows = kinds.map((k) => [k.label, show(k.key, 'importMs'), show(k.key, 'initMs'), show(k.key, 'constructMs'), show(k.key, 'readyMs'), show(k.key, 'firstCallMs'), show(k.key, 'totalMs')]);
  for (const k of kinds) for (const f of ['importMs', 'totalMs']) if (!Number.isFinite(col(k.key, f).median)) problem(`start-up: ${k.label} has no ${f}`);
  // Per load: our init() → ready manager against that load's ky import.
  const ky = runs.ky2;
  const ratios = kinds.filter((k) => k.kind === 'ours').map((k) => {
    const init = stats(runs[k.key].map((r, i) => r.initMs / ky[i]?.importMs));
    const ready = stats(runs[k.key].map((r, i) => r.readyMs / ky[i]?.importMs));
    const total = stats(runs[k.key].map((r, i) => r.totalMs / ky[i]?.totalMs));
    return [k.label, fmtStats(init), fmtStats(ready), verdict(ready, 2), fmtStats(total)];
  });
  return {
    runs,
    tables: [{
      title: `Start-up: ${SETTINGS.loads} cold loads each, a fresh browser context per load (ms: median (min–max))`,
      headers: ['contender', 'import()', 'init()', 'new SessionManager', 'init() → ready manager', 'first call resolved', 'import → first call resolved'],
      rows,
      notes: [
        'Served over loopback HTTP by a tiny node static server (keep-alive, TCP_NODELAY, `Cache-Control: no-store`; bench/run.mjs), into an empty page: the reference backend\'s static files stall ~40 ms on a reused connection (Nagle\'s algorithm against the browser\'s delayed ACK; `axum::serve` leaves TCP_NODELAY off), which would time the server rather than the module. Ours: `import()` of session_keeper.js (and its snippet), `init()` (fetches and instantiates the wasm), the constructor, then the first `fetchWithAuth` over an injected fetch (the provider answers at once). ky 2: `import()` of its esbuild bundle, `ky.create` with a beforeRequest hook, the first call over the same injected fetch.',
        'Each contender gets one untimed load first (the browser\'s first loads also start its processes); the loads are interleaved, their order rotating by one per load.',
        '"tabs: default" is the manager as a dashboard gets it (cross-tab sharing on: Web Locks, BroadcastChannel, IndexedDB); the other rows use `tabs: false` like the per-request runs.',
      ],
    }, {
      title: 'Start-up against importing ky 2 (per load, our figure ÷ that load\'s ky 2 import; target: init() → ready manager ≤ 2× importing ky)',
      headers: ['contender', 'init() ÷ ky import', 'init() → ready ÷ ky import', 'within 2×?', 'import → first call ÷ ky\'s'],
      rows: ratios,
      notes: [],
    }],
  };
}

// ----- the run -----

async function main() {
  const pkgs = [{ key: 'a', label: 'session-keeper', dir: 'pkg-a', path: opts.pkg }];
  if (opts.pkgB) pkgs.push({ key: 'b', label: opts.labelB, dir: 'pkg-b', path: opts.pkgB });
  if (pkgs.length > 1 && pkgs[0].label === pkgs[1].label) throw new Error('--label-b must differ from "session-keeper"');
  const info = machine();
  log(`${opts.quick ? 'quick (smoke)' : 'full'} run; ${pkgs.map((p) => `${p.label}: ${p.path}`).join('; ')}`);

  const site = await buildSite(pkgs);
  const report = { sections: [] };
  let backend = null;
  let browser = null;
  try {
    log('part 1: size');
    const size = sizes(site, pkgs);
    report.sections.push({ heading: '1. Size', tables: [size.table] });

    const herdResult = herd();
    if (herdResult.note) log(`part 6: ${herdResult.note}`);
    if (!herdResult.table && !opts.skipHerd) problem(`part 6: ${herdResult.note}`);

    // Tokens of the reference backend live 60 s by default; an hour keeps one token valid
    // for the whole run, so that no contender meets a 401 in the timed loops.
    backend = await startBackend({ extraArgs: ['--app', site, '--token-ttl-secs', '3600'] });
    browser = await launchBrowser();
    const chromium = browser.version();
    log(`backend ${backend.url}, Chromium ${chromium}`);
    const context = await browser.newContext();
    const page = await openHarness(context, backend, pkgs);
    const injectedToken = await page.evaluate(() => window.bench.injectedToken());
    const loopbackToken = await login(backend);

    const headline = [];
    const versus = [];
    const perRequest = [];
    for (const [mode, token] of [['injected', injectedToken], ['loopback', loopbackToken]]) {
      try {
        const o = await overhead(page, mode, token, pkgs);
        const t = overheadTables(o, pkgs);
        perRequest.push(...t.tables);
        headline.push(...t.headline);
        versus.push(...t.versus);
      } catch (error) {
        problem(`per-request (${mode}): ${error.message.split('\n')[0]}`);
      }
    }
    const stormResult = await storms(page, pkgs);
    if (page.problems.length) problem(`harness page: ${page.problems.slice(0, 3).join(' | ')}`);
    await context.close();

    const mem = await memory(browser, backend, pkgs);
    const files = await staticServer(site);
    let start;
    try {
      start = await startup(browser, files, pkgs);
    } finally {
      await files.close();
    }

    const headlineTable = {
      title: 'session-keeper against ky 2 (per round: ours ÷ ky 2; the issue\'s target is per-call overhead at or below ky 2\'s)',
      headers: ['build', 'fetch', 'calls per sample', 'time ÷ ky 2: median (min–max)', 'overhead ÷ ky 2\'s overhead', 'overhead µs, ours vs ky 2 (medians)', 'overhead ≤ ky 2?'],
      rows: headline,
      notes: [
        'Overhead = the contender\'s µs per call − plain fetch\'s in the same round. ky 2 here: `ky.create` with a beforeRequest hook that sets the bearer (no refresh hook).',
        'Verdict by the median; "rounds straddle 1": some rounds fall on the other side. "within noise": in more than 1 round in 10 the overhead of ours or of ky 2 came out ≤ 0, i.e. the round-to-round noise of that path (loopback HTTP: hundreds of µs) is larger than the overheads being compared, so no verdict is drawn from it.',
      ],
    };
    const versusTables = pkgs.length > 1 ? [{
      title: `${pkgs[0].label} (${relative(ROOT, pkgs[0].path) || '.'}) against ${pkgs[1].label} (${pkgs[1].path}), same page, same rounds`,
      headers: ['fetch', 'calls per sample', 'time ÷ baseline: median (min–max)', 'overhead ÷ baseline\'s overhead'],
      rows: versus,
      notes: [],
    }] : [];
    report.sections.push({ heading: '2. Per-request overhead (headless Chromium, one page)', tables: [headlineTable, ...versusTables, ...perRequest], notes: [
      `Rounds are interleaved: each round runs every contender once, in an order that rotates by one each round; ${SETTINGS.warmupRounds} untimed warm-up round${SETTINGS.warmupRounds > 1 ? 's' : ''} first. Timed in-page with \`performance.now()\` around the whole sample.`,
      'Contenders, each set up once: `fetch` (the same URL with the bearer header written by hand: the baseline); `fetchWithAuth` (`tabs: false`, a provider returning a valid JWT, `start()`ed; injected runs pass `fetch:` the injected fetch); ky with a beforeRequest hook that sets the bearer from a variable (no provider call per request); "ky 2 + refresh hook" adds the README\'s afterResponse refresh-on-401 hook, i.e. the same job as fetchWithAuth; axios with axios-auth-refresh installed and a request interceptor setting the bearer, on axios\'s fetch adapter (`adapter: \'fetch\'`, `env: { fetch }` for the injected fetch, supported since axios 1.12), and on loopback also on XHR, axios\'s default adapter in browsers.',
      'Injected runs: the fetch resolves at once with a fresh `new Response(\'{}\')` (one per call: a body is single-use); responses are not read, except by axios, which always reads and parses the body (part of its figure). Loopback runs: GET /api/data on the reference backend with a token from its `/auth/login` (demo@example.com), valid for the whole run (`--token-ttl-secs 3600`); every contender reads the body. Chromium keeps at most 6 HTTP/1.1 connections per origin, so the Promise.all loopback figures measure a queue.',
      'Every response is checked (200) in the timed loops; before timing, each contender is checked to deliver the bearer to the injected fetch.',
    ] });
    report.sections.push({ heading: '3. 401 storm', tables: [stormResult.table] });
    report.sections.push({ heading: '4. Memory', tables: [mem.table] });
    report.sections.push({ heading: '5. Start-up', tables: start.tables });
    report.sections.push({ heading: '6. Restart herd (native)', tables: herdResult.table ? [herdResult.table] : [], notes: herdResult.note ? [herdResult.note] : [] });

    const seconds = (Date.now() - started) / 1000;
    const command = opts.quick ? `node bench/run.mjs ${process.argv.slice(2).join(' ')}`.trim() : (process.env.BENCH_COMMAND ?? `node bench/run.mjs ${process.argv.slice(2).join(' ')}`.trim());
    const versions = [
      ...pkgs.map((p) => `${p.label}: ${describePkg(p.path)}`),
      `ky ${pkgVersion('ky')} (ky 2) and ${pkgVersion('ky1')} (ky 1, npm alias \`ky1\`)`,
      `axios ${pkgVersion('axios')} + axios-auth-refresh ${pkgVersion('axios-auth-refresh')}`,
      `@supabase/auth-js ${pkgVersion('@supabase/auth-js')}, oidc-client-ts ${pkgVersion('oidc-client-ts')} (size only)`,
      `esbuild ${pkgVersion('esbuild')} (bundler), playwright-core ${pkgVersion('playwright-core')} (driver)`,
    ];
    const header = [
      '# Benchmarks',
      '',
      `Generated by \`${command}\` (bench/run.mjs) on ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}, in ${Math.round(seconds)} s.${opts.quick ? ' **Quick (smoke) mode: few rounds and small counts; not for quoting.**' : ''}`,
      '',
      `- Machine: ${info.cpu}, ${info.cores} cores (shared with other work while this ran), ${info.memGB} GB RAM; ${info.os}`,
      `- Browser: Chromium ${chromium} headless (Debian's /usr/bin/chromium, driven by playwright-core); Node.js ${info.node}`,
      `- Compared: ${versions.join('; ')}`,
      `- Settings: per request ${SETTINGS.rounds} rounds × ${SETTINGS.calls} calls (injected), ${SETTINGS.loopRounds} rounds × ${SETTINGS.loopCalls} calls (loopback); storm ${SETTINGS.stormN} calls × ${SETTINGS.stormRounds} rounds; memory ${int(SETTINGS.memCalls)} calls; start-up ${SETTINGS.loads} cold loads`,
      '',
      'Each timed figure is median (min–max) over interleaved rounds, next to its ratio against a baseline measured in the same run and the same rounds. Numbers come from this benchmark run, not from a test.',
    ].join('\n');
    report.header = header;
    report.seconds = seconds;
  } finally {
    await browser?.close().catch(() => {});
    backend?.stop();
    rmSync(site, { recursive: true, force: true });
  }

  // Print, then write.
  const text = [];
  for (const s of report.sections) {
    text.push(`\n#### ${s.heading}`);
    for (const t of s.tables) text.push(textTable(t), '');
    for (const n of s.notes ?? []) text.push(`   ${n.replace(/`/g, '')}`);
  }
  process.stdout.write(`${text.join('\n')}\n`);
  log(`${opts.quick ? 'quick' : 'full'} run took ${Math.round((Date.now() - started) / 1000)} s`);

  if (problems.length) {
    console.error(`\nbench: the harness broke (${problems.length} problem${problems.length > 1 ? 's' : ''}):\n- ${problems.join('\n- ')}`);
    if (opts.out) console.error(`bench: ${opts.out} not written.`);
    process.exit(1);
  }
  if (opts.out) {
    const md = [report.header];
    for (const s of report.sections) {
      md.push(`\n## ${s.heading}`);
      for (const t of s.tables) md.push('', mdTable(t));
      if (s.notes?.length) md.push('', ...s.notes.map((n) => `- ${n}`));
    }
    writeFileSync(opts.out, `${md.join('\n')}\n`);
    log(`wrote ${opts.out.startsWith(`${ROOT}/`) ? relative(ROOT, opts.out) : opts.out}`);
  }
}

main().catch((error) => {
  console.error(`bench: ${error.stack ?? error}`);
  process.exit(1);
});

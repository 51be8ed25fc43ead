// Issue 12's measurement (a script, not a test): N tabs (pages of one browser context) of the
// demo dashboard on the reference backend, 4 s tokens, the dashboard's defaults except
// ?margin=1000, signed in once; each tab calls fetchWithAuth('/api/data') once a second for
// 20 s. Prints, for each N, what the server counted in those 20 s and what the tabs saw.
//
//   make build server && node e2e/tabs-measure.mjs [--tabs 1,2,5] [--seconds 20] [--runs 1]
//                                                  [--pkg DIR] [--query '?margin=1000'] [--json]
//
// --pkg serves another build of the package (e.g. one made from an older commit) instead of
// pkg/. --query replaces the dashboard's query (e.g. '?margin=1000&tabs=off').

import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { launchBrowser, startBackend } from './support.js';
import { QUERY, TTL_S, busyTabs, lifetimesIn } from './tabs-support.js';

const { values: opts } = parseArgs({
  options: {
    tabs: { type: 'string', default: '1,2,5' },
    seconds: { type: 'string', default: '20' },
    runs: { type: 'string', default: '1' },
    pkg: { type: 'string' },
    query: { type: 'string', default: QUERY },
    json: { type: 'boolean', default: false },
  },
});
const counts = opts.tabs.split(',').map(Number);
const busyMs = Number(opts.seconds) * 1000;
const runs = Number(opts.runs);

const backend = await startBackend({ extraArgs: opts.pkg ? ['--pkg', resolve(opts.pkg)] : [] });
const browser = await launchBrowser();
const rows = [];
try {
  for (let run = 1; run <= runs; run += 1) {
    for (const tabs of counts) {
      const r = await busyTabs(browser, backend, tabs, { busyMs, query: opts.query });
      rows.push({ run, ...r });
      process.stderr.write(`run ${run}, ${tabs} tab(s): ${r.refreshes} refreshes, ${r.rejections} rejections\n`);
    }
  }
} finally {
  await browser.close();
  backend.stop();
}

const bound = lifetimesIn(busyMs) + 1;
if (opts.json) {
  console.log(JSON.stringify(rows.map(({ stats, problems, ...row }) => row), null, 2));
} else {
  console.log(`${TTL_S} s tokens, dashboard ${opts.query}, one fetchWithAuth per tab per second for ${busyMs / 1000} s`);
  console.log(`bound: lifetimes + 1 = ${bound} refreshes (a lifetime is ttl - margin; ${lifetimesIn(busyMs)} in ${busyMs / 1000} s)`);
  const header = ['run', 'tabs', 'refreshes', 'refresh_rejections', '401s', 'failed calls', 'sessionExpired', 'refreshFailed', 'calls ok/sent', 'expired tokens at server', 'leaders'];
  const table = rows.map((r) => [r.run, r.tabs, r.refreshes, r.rejections, r.api401s, r.failed, r.sessionExpired, r.refreshFailed,
    `${r.ok}/${r.sent}`, r.expiredTokens, r.leaders]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => String(row[i]).length)));
  const line = (cells) => `| ${cells.map((c, i) => String(c).padStart(widths[i])).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const row of table) console.log(line(row));
  for (const r of rows) {
    const detail = { statuses: r.statuses, errors: r.errors, signedOut: r.signedOut };
    if (r.lost.length) console.log(`run ${r.run}, ${r.tabs} tab(s): LOST ${r.lost.join('; ')}`);
    const problems = [...new Set(r.problems)].map((p) => `${p} (x${r.problems.filter((q) => q === p).length})`);
    if (r.failed || problems.length) console.log(`run ${r.run}, ${r.tabs} tab(s): ${JSON.stringify(detail)}${problems.length ? ` problems: ${problems.join(' / ')}` : ''}`);
  }
}

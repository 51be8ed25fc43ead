// Fails when the public declarations of pkg/ use `any` (comments aside): every config
// field, event detail and return value must be typed (make test-types).
import { readFileSync } from 'node:fs';

const file = new URL('../pkg/session_keeper.d.ts', import.meta.url);
const code = readFileSync(file, 'utf8')
  .replace(/\/\*[\s\S]*?\*\//g, '')
  .replace(/\/\/.*$/gm, '');
const lines = code.split('\n').filter((line) => /\bany\b/.test(line));
if (lines.length > 0) {
  console.error(`pkg/session_keeper.d.ts uses \`any\`:\n${lines.join('\n')}`);
  process.exit(1);
}
console.log('pkg/session_keeper.d.ts: no `any` in the public declarations');

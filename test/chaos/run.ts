// SPDX-License-Identifier: MIT
/**
 * `npm run chaos`: every chaos scenario at the full length (the 60 s
 * flapping loop, longer outages; npm test runs them shorter), then the table
 * of figures in docs/reliability.md rewritten from what the scenarios printed.
 *
 *   npm run chaos                  run, rewrite the table
 *   npm run chaos -- --no-docs     run, print only
 *   npm run chaos -- --short       npm test's lengths
 *
 * Exits non-zero when a scenario fails (the table is still written, with what ran).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../helpers/gateway-process.js';
import { machineLine, replaceBlock } from './doc.js';
import type { ScenarioFigures } from './figures.js';

const args = new Set(process.argv.slice(2));
const dir = path.join(REPO_ROOT, 'dist', 'test', 'chaos');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.test.js'))
  .sort()
  .map((f) => path.join(dir, f));
const tmp = mkdtempSync(path.join(os.tmpdir(), 'eg-chaos-'));
const figuresFile = path.join(tmp, 'figures.jsonl');
const started = Date.now();
const run = spawnSync(process.execPath, ['--test', '--test-reporter=spec', '--test-concurrency=1', ...files], {
  cwd: REPO_ROOT,
  stdio: 'inherit',
  env: { ...process.env, CHAOS_FIGURES: figuresFile, CHAOS_FULL: args.has('--short') ? '0' : '1' },
});
const seconds = Math.round((Date.now() - started) / 1000);
let rows: ScenarioFigures[] = [];
try {
  rows = readFileSync(figuresFile, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as ScenarioFigures);
} catch {
  /* no scenario got as far as its figures */
}
rmSync(tmp, { recursive: true, force: true });

const cell = (s: ScenarioFigures, keys: string[]): string => keys.map((k) => `${k.replaceAll('_', ' ')} **${s.figures[k]}**`).join('<br>');
const table = [
  `Produced by \`npm run chaos${args.has('--short') ? ' -- --short' : ''}\` (${seconds} s, ${run.status === 0 ? 'all scenarios passed' : 'SOME SCENARIOS FAILED'}) on ${machineLine(REPO_ROOT)}.`,
  '',
  '| scenario | setup | must be 0 | other figures |',
  '|---|---|---|---|',
  ...rows.map((s) => {
    const others = Object.keys(s.figures).filter((k) => !s.mustBeZero.includes(k));
    return `| ${s.scenario} | ${s.setup} | ${cell(s, [...s.mustBeZero])} | ${cell(s, others)} |`;
  }),
].join('\n');
console.log(`\n${table}\n`);
if (!args.has('--no-docs')) {
  replaceBlock(path.join(REPO_ROOT, 'docs', 'reliability.md'), 'chaos', table);
  console.log('docs/reliability.md: chaos table rewritten');
}
process.exit(run.status ?? 1);

// SPDX-License-Identifier: MIT
/**
 * docs/reliability.md's generated blocks: a block between
 * `<!-- NAME:begin -->` and `<!-- NAME:end -->` is replaced whole, the rest of
 * the page is left as written. Used by `npm run chaos` (test/chaos/run.ts) and
 * `npm run soak` (bench/soak.ts).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';

export function replaceBlock(file: string, name: string, body: string): void {
  const text = readFileSync(file, 'utf8');
  const begin = `<!-- ${name}:begin -->`;
  const end = `<!-- ${name}:end -->`;
  const i = text.indexOf(begin);
  const j = text.indexOf(end);
  if (i === -1 || j < i) throw new Error(`${file}: no ${begin} ... ${end} block`);
  writeFileSync(file, `${text.slice(0, i + begin.length)}\n${body.trimEnd()}\n${text.slice(j)}`);
}

/** One line saying on what the figures were produced. */
export function machineLine(repoRoot: string): string {
  const cpus = os.cpus();
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot }).toString().trim();
  } catch {
    /* not a git checkout */
  }
  const load = os.loadavg().map((l) => l.toFixed(1)).join(' ');
  return (
    `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, commit ${commit}, ${os.type()} ${os.release()} ${os.arch()}, ` +
    `${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}, load average ${load} at the end`
  );
}

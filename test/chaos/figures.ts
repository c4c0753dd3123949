// SPDX-License-Identifier: MIT
/**
 * What every chaos scenario shares: its figures printed as one line and, when
 * CHAOS_FIGURES names a file (npm run chaos sets it), appended there as JSON so
 * test/chaos/render.ts can rewrite the table in docs/reliability.md; the
 * durations a scenario runs for (short under npm test, the full length
 * under npm run chaos); and RSS sampling of the process under test.
 */
import { appendFileSync } from 'node:fs';

export type FigureValue = number | string;

export interface ScenarioFigures {
  /** Short scenario name, the table's first column. */
  readonly scenario: string;
  /** What was done, e.g. "60 s, 2 upstreams, one killed every 2 s, 24 wallets". */
  readonly setup: string;
  /** Figures in display order; the ones that must be 0 are named in `mustBeZero`. */
  readonly figures: Readonly<Record<string, FigureValue>>;
  readonly mustBeZero: readonly string[];
}

/** True under `npm run chaos`: the full durations and sizes. */
export const fullRun = process.env.CHAOS_FULL === '1';

/** `short` ms under npm test, `full` ms under npm run chaos. */
export function duration(short: number, full: number): number {
  return fullRun ? full : short;
}

export function report(s: ScenarioFigures): void {
  const text = Object.entries(s.figures)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  console.log(`chaos figures [${s.scenario}] (${s.setup}): ${text}`);
  const file = process.env.CHAOS_FIGURES;
  if (file) appendFileSync(file, `${JSON.stringify({ ...s, at: new Date().toISOString() })}\n`);
}

/** Nonzero must-be-zero figures, as a message for assert (empty when all are 0). */
export function nonZero(s: ScenarioFigures): string {
  return s.mustBeZero
    .filter((k) => s.figures[k] !== 0)
    .map((k) => `${k}=${s.figures[k]}`)
    .join(', ');
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resident set size of this process in MiB. */
export function rssMiB(): number {
  return process.memoryUsage.rss() / 1024 / 1024;
}

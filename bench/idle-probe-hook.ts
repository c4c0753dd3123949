// SPDX-License-Identifier: MIT
/**
 * Preloaded (`node --expose-gc --import dist/bench/idle-probe-hook.js ...`)
 * into the process bench/idle-probe.ts measures: over the IPC channel it
 * answers "mem" (after forced full GCs: process.memoryUsage(), VmRSS and the
 * V8 heap spaces), "churn" (short-lived garbage, so the young generation is
 * grown and every page of it touched before the baseline is read) and "snap"
 * (a heap snapshot to the path given).
 */
import { readFileSync } from 'node:fs';
import v8 from 'node:v8';

type Ask = { probe: 'mem' } | { probe: 'churn' } | { probe: 'snap'; path: string };

const gc = (globalThis as { gc?: () => void }).gc;

function vmRssKb(): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0);
}

process.on('message', (m: Ask) => {
  if (typeof m !== 'object' || m === null || typeof m.probe !== 'string' || !process.send) return;
  if (m.probe === 'mem') {
    if (!gc) throw new Error('idle-probe-hook: run with --expose-gc');
    // Several passes: objects with weak callbacks (sockets' native handles) go in a later one.
    for (let i = 0; i < 4; i++) gc();
    const spaces = v8.getHeapSpaceStatistics().map((s) => [s.space_name, s.space_used_size, s.space_size]);
    process.send({ probe: 'mem', ...process.memoryUsage(), vmRssKb: vmRssKb(), spaces });
  } else if (m.probe === 'churn') {
    let kept = 0;
    for (let i = 0; i < 3_000_000; i++) {
      const o = { a: i, b: [i, i + 1], c: `x${i}` };
      if (i % 1000 === 0) kept += o.b.length;
    }
    process.send({ probe: 'churn', kept });
  } else if (m.probe === 'snap') {
    process.send({ probe: 'snap', path: v8.writeHeapSnapshot(m.path) });
  }
});

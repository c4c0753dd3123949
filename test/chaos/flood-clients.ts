// SPDX-License-Identifier: MIT
/**
 * The memory flood's abusive clients, in a process of their own (see
 * flood-wire.ts): SUBNETS × PER_SUBNET sessions from 127.0.1.0/24 on, each
 * sending a batch of BATCH get_history for the long histories as soon as its
 * last batch is answered, for floodMs.
 *
 *   node flood-clients.js '{"port":P,"subnets":10,"perSubnet":20,"batch":20,"longHistories":8,"floodMs":8000}'
 *
 * Says {"ready":true}; stdin "go" starts the flood (connecting is part of it);
 * at the end it writes what happened to the flood and exits.
 */
import { childArgs, Line, longScripthash, onCommands, tell } from './flood-wire.js';

interface Args {
  port: number;
  subnets: number;
  perSubnet: number;
  batch: number;
  longHistories: number;
  floodMs: number;
}

export interface FloodResult {
  sessions: number;
  batchesSent: number;
  batchesAnswered: number;
  /** Batch items answered -101 "excessive resource usage". */
  excessive: number;
  /** Batch items answered "response too large". */
  tooLarge: number;
  /** Sessions closed by the gateway before the end (-101 after the hard limit, or a budget's cut). */
  cut: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function flood(a: Args): Promise<FloodResult> {
  const started = Date.now();
  const sessions: Line[] = [];
  for (let s = 1; s <= a.subnets; s++) {
    sessions.push(...(await Promise.all(Array.from({ length: a.perSubnet }, (_, i) => Line.open(a.port, `127.0.${s}.${i + 1}`)))));
  }
  const r: FloodResult = { sessions: sessions.length, batchesSent: 0, batchesAnswered: 0, excessive: 0, tooLarge: 0, cut: 0 };
  await Promise.all(
    sessions.map(async (c, k) => {
      for (let n = 0; Date.now() - started < a.floodMs && !c.isClosed; n++) {
        const batch = Array.from({ length: a.batch }, (_, j) => ({ jsonrpc: '2.0', id: j, method: 'blockchain.scripthash.get_history', params: [longScripthash((k + j + n) % a.longHistories)] }));
        r.batchesSent++;
        // The flood ends on time: a batch still throttled then is abandoned (its socket destroyed below).
        const left = a.floodMs - (Date.now() - started);
        const line = await Promise.race([c.ask(JSON.stringify(batch)), sleep(Math.max(0, left)).then(() => 'timeout' as const)]);
        if (line === 'timeout' || line === null) break;
        r.batchesAnswered++;
        // Counted without parsing megabytes: the error texts are fixed.
        const text = line.toString('latin1');
        r.excessive += text.split('excessive resource usage').length - 1;
        r.tooLarge += text.split('response too large').length - 1;
      }
    }),
  );
  r.cut = sessions.filter((c) => c.isClosed).length;
  for (const c of sessions) c.socket.destroy();
  return r;
}

async function main(): Promise<void> {
  const args = childArgs<Args>();
  const go = new Promise<void>((resolve) => onCommands((cmd) => cmd === 'go' && resolve()));
  await tell({ ready: true });
  await go;
  await tell(await flood(args));
  process.exit(0);
}

main().catch((e: unknown) => {
  process.stderr.write(`flood-clients: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});

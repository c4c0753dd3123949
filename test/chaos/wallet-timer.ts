// SPDX-License-Identifier: MIT
/**
 * The memory flood's well-behaved wallets, in a process of their own so that
 * nothing but their own answers runs in the event loop that times them (see
 * flood-wire.ts). Four wallets from 127.0.99.0/24 ask the gateway, one request
 * at a time with 20 ms between, for a header and a short history in turn;
 * four more from 127.0.98.0/24 ask the simulator itself the same, as the
 * baseline of what the upstream alone takes under the same load.
 *
 *   node wallet-timer.js '{"gatewayPort":P,"upstreamPort":Q}'
 *
 * Says {"ready":true} once connected; stdin "flood" starts the flood phase,
 * "done" ends the run: it then writes its samples (ms, by path and phase) and
 * counts, and exits.
 */
import { childArgs, Line, onCommands, tell } from './flood-wire.js';

interface Args {
  gatewayPort: number;
  upstreamPort: number;
}

type Phase = 'idle' | 'flood' | 'done';
type Path = 'gateway' | 'upstream';

export interface TimerResult {
  /** Latencies in ms of the answers that arrived in each phase. */
  samples: Record<Path, { idle: number[]; flood: number[] }>;
  requests: Record<Path, number>;
  errors: Record<Path, number>;
  disconnects: Record<Path, number>;
}

/**
 * Eight wallets, each from its own /24 as wallets usually are, each waiting
 * PAUSE_MS between requests: about 0.7 of cost a request (a header 0.25, a
 * history 1, bytes 1 per 5,000) at ~9.5 requests/s is ~5.7 units/s net of the
 * decay, so a wallet's group stays under the soft limit (1,000) for the whole
 * 70 s of npm run chaos and the timer measures the flood, not the wallets'
 * own throttling. (Four wallets in one /24 with 20 ms pauses, as the test had
 * first, spent ~90 units/s and were throttled by their own cost within 11 s.)
 */
const WALLETS = 8;
const PAUSE_MS = 100;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const args = childArgs<Args>();
  let phase: Phase = 'idle';
  const result: TimerResult = {
    samples: { gateway: { idle: [], flood: [] }, upstream: { idle: [], flood: [] } },
    requests: { gateway: 0, upstream: 0 },
    errors: { gateway: 0, upstream: 0 },
    disconnects: { gateway: 0, upstream: 0 },
  };
  const ids = Array.from({ length: WALLETS }, (_, i) => i + 1);
  const gateway = await Promise.all(ids.map((i) => Line.open(args.gatewayPort, `127.0.${99 + i}.1`)));
  const upstream = await Promise.all(ids.map((i) => Line.open(args.upstreamPort, `127.0.98.${i}`)));
  // The simulator, like ElectrumX 1.18, wants server.version first; the gateway negotiates its own.
  await Promise.all(upstream.map((c) => c.ask(JSON.stringify({ jsonrpc: '2.0', id: 'v', method: 'server.version', params: ['wallet-timer', '1.4'] }))));

  const loop = async (path: Path, c: Line, w: number): Promise<void> => {
    for (let n = 0; phase !== 'done'; n++) {
      const req = n % 2 === 0 ? { method: 'blockchain.block.header', params: [n % 100] } : { method: 'blockchain.scripthash.get_history', params: ['0'.repeat(63) + (w + 1).toString()] };
      const t0 = performance.now();
      const line = await c.ask(JSON.stringify({ jsonrpc: '2.0', id: n, ...req }));
      const ms = performance.now() - t0;
      result.requests[path]++;
      const reply = line === null ? null : (JSON.parse(line.toString('utf8')) as { id?: number; result?: unknown; error?: unknown });
      if (reply === null || reply.id !== n || 'error' in reply) result.errors[path]++;
      if (reply === null) return;
      // Read after the answer, as the phase the answer arrived in.
      const now = phase as Phase;
      if (now !== 'done') result.samples[path][now].push(ms);
      await sleep(PAUSE_MS);
    }
  };
  const loops = [...gateway.map((c, w) => loop('gateway', c, w)), ...upstream.map((c, w) => loop('upstream', c, w))];
  const ended = new Promise<void>((resolve) =>
    onCommands((cmd) => {
      if (cmd === 'flood' && phase === 'idle') phase = 'flood';
      if (cmd === 'done') {
        phase = 'done';
        resolve();
      }
    }),
  );
  await tell({ ready: true });
  await ended;
  await Promise.all(loops);
  result.disconnects.gateway = gateway.filter((c) => c.isClosed).length;
  result.disconnects.upstream = upstream.filter((c) => c.isClosed).length;
  for (const c of [...gateway, ...upstream]) c.socket.destroy();
  await tell(result);
  process.exit(0);
}

main().catch((e: unknown) => {
  process.stderr.write(`wallet-timer: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});

// SPDX-License-Identifier: MIT
/**
 * The simulated Electrum server (test/sim) as a separate process: the
 * upstream behind every proxy in the benchmark, and itself the "upstream
 * answered directly" baseline. Its sim.* control methods (mine, pay, stats)
 * go over an ordinary connection.
 */
import { BenchConnection, PhaseStats } from '../loadgen/client.js';
import { SIM_MAIN } from '../paths.js';
import type { SimControl } from '../scenarios/types.js';
import { ChildTarget } from './process.js';

export interface SimProcess {
  readonly target: ChildTarget;
  readonly host: string;
  readonly port: number;
  readonly url: string;
  readonly control: SimControl;
  stop(): Promise<void>;
}

export async function startSim(opts: { blocks: number; seed?: string }): Promise<SimProcess> {
  const args = [SIM_MAIN, '--port', '0', '--blocks', String(opts.blocks), ...(opts.seed ? ['--seed', opts.seed] : [])];
  const target = new ChildTarget('simulator', process.execPath, args);
  const info = await target.waitForLine((line) => {
    if (!line.startsWith('{')) return undefined;
    try {
      const v = JSON.parse(line) as { host?: string; port?: number; url?: string };
      return typeof v.port === 'number' ? v : undefined;
    } catch {
      return undefined;
    }
  }, 120_000);
  const host = info.host ?? '127.0.0.1';
  const port = info.port!;
  const stats = new PhaseStats();
  let conn: BenchConnection | null = null;
  const control: SimControl = {
    async call(method, params = []) {
      if (conn === null || !conn.open) {
        conn = await BenchConnection.connect(host, port, stats);
        await conn.call('server.version', ['bench-control', '1.4']);
      }
      return conn.call(method, params);
    },
  };
  return {
    target,
    host,
    port,
    url: `tcp://${host}:${port}`,
    control,
    async stop() {
      conn?.destroy();
      await target.stop();
    },
  };
}

// SPDX-License-Identifier: MIT
/**
 * Standalone simulator:
 *
 *   node dist/test/sim/main.js [--host H] [--port P] [--blocks N] [--seed S]
 *                              [--protocol-min 1.4] [--protocol-max 1.6] [--genesis-hash HEX]
 *
 * Prints one JSON line {"url": ..., "host": ..., "port": ..., "tip": ..., "genesis": ...} once
 * listening, then serves until SIGINT/SIGTERM. The same socket accepts the sim.* control
 * methods (see README.md), e.g.
 *   echo '{"id":1,"method":"sim.mine","params":[3]}' | nc -q1 127.0.0.1 P
 */
import { parseArgs } from 'node:util';
import { Simulator } from './index.js';

function usage(message: string): never {
  process.stderr.write(`${message}\nusage: main.js [--host H] [--port P] [--blocks N] [--seed S] [--protocol-min V] [--protocol-max V] [--genesis-hash HEX]\n`);
  process.exit(2);
}

function int(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v)) usage(`--${name} must be a non-negative integer, got "${v}"`);
  return Number(v);
}

async function main(): Promise<void> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      options: {
        host: { type: 'string' },
        port: { type: 'string' },
        blocks: { type: 'string' },
        seed: { type: 'string' },
        'protocol-min': { type: 'string' },
        'protocol-max': { type: 'string' },
        'genesis-hash': { type: 'string' },
        help: { type: 'boolean' },
      },
      strict: true,
    }));
  } catch (e) {
    usage(e instanceof Error ? e.message : String(e));
  }
  if (values['help']) usage('electrum-gateway simulated Electrum server');
  const str = (k: string): string | undefined => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const sim = await Simulator.start({
    host: str('host') ?? '127.0.0.1',
    port: int('port', str('port'), 0),
    initialBlocks: int('blocks', str('blocks'), 110),
    ...(str('seed') !== undefined ? { seed: str('seed') } : {}),
    ...(str('protocol-min') !== undefined ? { protocolMin: str('protocol-min') } : {}),
    ...(str('protocol-max') !== undefined ? { protocolMax: str('protocol-max') } : {}),
    ...(str('genesis-hash') !== undefined ? { genesisHash: str('genesis-hash') } : {}),
    controlMethods: true,
  });
  process.stdout.write(
    JSON.stringify({ url: sim.url, host: sim.host, port: sim.port, tip: sim.tipHeight(), genesis: sim.genesisHash }) + '\n',
  );
  const shutdown = (): void => {
    void sim.stop().then(() => process.exit(0));
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

main().catch((e: unknown) => {
  process.stderr.write(`simulator failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});

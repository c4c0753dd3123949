// SPDX-License-Identifier: MIT
/**
 * What the integration tests that talk to a gateway as a wallet share: a
 * test's own regtest P2WPKH addresses (scripthash computed by hand, not by
 * src/), waiting until the gateway forwards to its upstream, and a call's
 * outcome as a value comparable with deepEqual.
 */
import { createHash } from 'node:crypto';
import { bech32 } from 'bech32';
import { RpcCallError, RpcClient } from './rpc-client.js';

/**
 * A regtest P2WPKH address whose 20-byte program is sha256(`${tag}:${label}`),
 * and its scripthash (sha256 of the output script, reversed) computed here.
 */
export function testP2wpkh(tag: string, label: string): { address: string; scripthash: string } {
  const program = createHash('sha256').update(`${tag}:${label}`).digest().subarray(0, 20);
  const script = Buffer.concat([Buffer.from([0x00, 0x14]), program]);
  return {
    address: bech32.encode('bcrt', [0, ...bech32.toWords(program)]),
    scripthash: Buffer.from(createHash('sha256').update(script).digest()).reverse().toString('hex'),
  };
}

/** One call's outcome, comparable with deepEqual whether it succeeded or failed. */
export type Outcome = { result: unknown } | { error: { code: number; message: string } };

export async function outcome(client: RpcClient, method: string, params: unknown): Promise<Outcome> {
  try {
    return { result: await client.request(method, params) };
  } catch (err) {
    if (err instanceof RpcCallError) return { error: { code: err.code, message: err.message } };
    throw err;
  }
}

/** Polls (every intervalMs, for up to 10 s) until `method(params)` on this client succeeds. */
export async function untilAnswers(client: RpcClient, method: string, params: unknown, intervalMs: number): Promise<void> {
  await RpcClient.until(
    async () => {
      try {
        await client.request(method, params, { timeoutMs: 1000 });
        return true;
      } catch {
        return false;
      }
    },
    'the gateway to reach its upstream',
    10_000,
    intervalMs,
  );
}

/**
 * Polls until a forwarded request succeeds on a connection of its own: the
 * gateway has a ready upstream. By default the request is
 * blockchain.block.header(0), polled every 20 ms.
 */
export async function untilForwarding(
  port: number,
  opts: { method?: string; params?: unknown; intervalMs?: number } = {},
): Promise<void> {
  const c = await RpcClient.connect(port);
  try {
    await untilAnswers(c, opts.method ?? 'blockchain.block.header', opts.params ?? [0], opts.intervalMs ?? 20);
  } finally {
    await c.close();
  }
}

/** The protocol's status: sha256 of "txid:height:" for each entry, in the order served; null when empty. */
export function statusOf(history: readonly { tx_hash: string; height: number }[]): string | null {
  if (history.length === 0) return null;
  return createHash('sha256')
    .update(history.map((h) => `${h.tx_hash}:${h.height}:`).join(''))
    .digest('hex');
}

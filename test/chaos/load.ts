// SPDX-License-Identifier: MIT
/**
 * Wallet-like load for the chaos scenarios: sessions that negotiate, subscribe
 * to headers and to their own address, and then keep asking idempotent
 * questions whose right answers the simulator knows (headers, transactions,
 * merkle proofs, histories). Every answer is checked; failures, wrong answers
 * and notifications are recorded per wallet for the scenario to judge.
 */
import { RpcCallError, RpcClient, type Notification } from '../helpers/rpc-client.js';
import { testP2wpkh } from '../helpers/wallet-session.js';
import type { Simulator } from '../sim/index.js';
import { sleep } from './figures.js';

export interface Wallet {
  readonly client: RpcClient;
  readonly address: string;
  readonly scripthash: string;
  /** Requests that got an error or no answer in time, with what went wrong. */
  readonly failures: string[];
  /** Answers that differ from the simulator's. */
  readonly wrong: string[];
  requests: number;
  /** The gateway closed the connection while the scenario still ran. */
  dropped: boolean;
}

export interface Question {
  readonly method: string;
  readonly params: unknown[];
  /** The right answer, or undefined when any success will do. */
  readonly expect?: (result: unknown) => string | null;
}

/** Questions about the part of the chain no scenario changes (headers 1..100, transactions of blocks 101..119; the scenarios start at height 140 and reorg at most 7 blocks). */
export function stableQuestions(sim: Simulator, count: number, seed = 1): Question[] {
  const out: Question[] = [];
  let x = seed;
  const next = (n: number): number => {
    x = (x * 1103515245 + 12345) % 2147483648;
    // The high bits: an LCG's low bits repeat with a tiny period (x % 4 cycled through two of the four kinds).
    return Math.floor(x / 65536) % n;
  };
  const txHeights = [101, 103, 105, 107, 109, 111, 113, 115, 117, 119].filter((h) => h <= sim.tipHeight() - 10);
  for (let i = 0; i < count; i++) {
    const kind = next(4);
    if (kind === 0) {
      const h = 1 + next(100);
      const hex = sim.headerHex(h);
      out.push({ method: 'blockchain.block.header', params: [h], expect: (r) => (r === hex ? null : `header ${h}`) });
    } else if (kind === 1) {
      const h = txHeights[next(txHeights.length)]!;
      const txid = sim.blockTxids(h)[next(sim.blockTxids(h).length)]!;
      const raw = sim.rawTransaction(txid);
      out.push({ method: 'blockchain.transaction.get', params: [txid], expect: (r) => (r === raw ? null : `tx ${txid}`) });
    } else if (kind === 2) {
      const h = txHeights[next(txHeights.length)]!;
      const txids = sim.blockTxids(h);
      const pos = next(txids.length);
      out.push({
        method: 'blockchain.transaction.get_merkle',
        params: [txids[pos], h],
        expect: (r) => ((r as { pos?: unknown }).pos === pos && (r as { block_height?: unknown }).block_height === h ? null : `merkle ${txids[pos]}`),
      });
    } else {
      const h = 1 + next(90);
      out.push({ method: 'blockchain.block.headers', params: [h, 5], expect: (r) => ((r as { count?: unknown }).count === 5 ? null : `headers ${h}`) });
    }
  }
  return out;
}

export async function openWallet(port: number, tag: string, label: string): Promise<Wallet> {
  const client = await RpcClient.connect(port, '127.0.0.1', 10_000);
  await client.request('server.version', [`chaos-${label}`, ['1.4', '1.6']]);
  const { address, scripthash } = testP2wpkh(tag, label);
  const w: Wallet = { client, address, scripthash, failures: [], wrong: [], requests: 0, dropped: false };
  await client.request('blockchain.headers.subscribe', []);
  await client.request('blockchain.scripthash.subscribe', [scripthash]);
  return w;
}

/** Asks `questions` round-robin with `pauseMs` between answers until `stop()` says so. */
export async function ask(w: Wallet, questions: readonly Question[], stop: () => boolean, pauseMs: number, offset = 0): Promise<void> {
  let i = offset;
  while (!stop()) {
    if (w.client.isClosed) {
      w.dropped = true;
      return;
    }
    const q = questions[i++ % questions.length]!;
    w.requests++;
    try {
      const r = await w.client.request(q.method, q.params);
      const bad = q.expect?.(r);
      if (bad) w.wrong.push(bad);
    } catch (err) {
      if (w.client.isClosed) {
        w.dropped = true;
        return;
      }
      w.failures.push(`${q.method}: ${err instanceof RpcCallError ? `${err.code} ${err.message}` : (err as Error).message}`);
    }
    if (pauseMs > 0) await sleep(pauseMs);
  }
}

/** headers.subscribe notifications as heights, in order. */
export function headerHeights(ns: readonly Notification[]): number[] {
  return ns.filter((n) => n.method === 'blockchain.headers.subscribe').map((n) => (n.params[0] as { height: number }).height);
}

/** The statuses notified for `scripthash`, in order. */
export function statuses(ns: readonly Notification[], scripthash: string): (string | null)[] {
  return ns.filter((n) => n.method === 'blockchain.scripthash.subscribe' && n.params[0] === scripthash).map((n) => n.params[1] as string | null);
}

// SPDX-License-Identifier: MIT
/**
 * Upstreams see a new transaction, and a new block, at different moments. A
 * wallet that read a txid in one upstream's history must not hear "no such
 * transaction" because its next request went to another, nor get an error
 * for a merkle proof of a block that upstream has not got yet.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { rendezvous } from '../../src/upstream/selection.js';
import { Simulator } from '../sim/index.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { RpcCallError, RpcClient, connectNegotiated } from '../helpers/rpc-client.js';
import { testP2wpkh } from '../helpers/wallet-session.js';

const TX_GET = 'blockchain.transaction.get';
const GET_MERKLE = 'blockchain.transaction.get_merkle';
const CANDIDATES = [
  { id: 'a', weight: 1, inFlight: 0, latencyMs: 1 },
  { id: 'b', weight: 1, inFlight: 0, latencyMs: 1 },
];

/** A test address whose scripthash the pool's rendezvous hashing sends to `upstream`. */
function addressStickingTo(upstream: 'a' | 'b', tag = ''): { address: string; scripthash: string } {
  for (let i = 0; ; i++) {
    const w = testP2wpkh('tx-routing', `${upstream}${tag}-${i}`);
    if (rendezvous(w.scripthash, CANDIDATES)?.id === upstream) return w;
  }
}

/** One request on a fresh connection at protocol 1.6; the answer's line exactly as the gateway wrote it. */
async function rawLine(port: number, request: unknown): Promise<string> {
  const socket = net.connect({ host: '127.0.0.1', port });
  let text = '';
  const lines: string[] = [];
  const got = new Promise<void>((resolve, reject) => {
    socket.on('data', (d: Buffer) => {
      text += d.toString('utf8');
      for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n')) {
        lines.push(text.slice(0, nl));
        text = text.slice(nl + 1);
        if (lines.length === 2) resolve();
      }
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error('closed before the answer')));
  });
  socket.write(`${JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'server.version', params: ['tx-routing', '1.6'] })}\n${JSON.stringify(request)}\n`);
  await got;
  socket.destroy();
  return lines[1]!;
}

describe('routing lookups of transactions and proofs that not every upstream has yet', () => {
  let a: Simulator;
  let b: Simulator;
  let tg: TestGateway;
  let client: RpcClient;
  const count = (sim: Simulator, method: string): number => sim.stats.requests[method] ?? 0;

  before(async () => {
    // One seed, one chain: a and b differ only in what is done to one of them below.
    a = await Simulator.start({ seed: 'tx-routing', initialBlocks: 120 });
    b = await Simulator.start({ seed: 'tx-routing', initialBlocks: 120 });
    tg = await startTestGateway({
      upstreams: [
        { host: a.host, port: a.port, name: 'a' },
        { host: b.host, port: b.port, name: 'b' },
      ],
    });
    await RpcClient.until(() => tg.gateway.pool.status().every((u) => u.tipHeight === 120), 'both upstreams followed', 10_000);
    ({ client } = await connectNegotiated(tg.port, '1.6'));
  });

  after(async () => {
    await client?.close();
    await tg?.close();
    await a?.stop();
    await b?.stop();
  });

  it('"no such transaction" from one upstream is asked of the other before the wallet hears it', async () => {
    const txid = a.pay(testP2wpkh('tx-routing', 'only-a').address, 30_000);
    // Lookups not steered by any history: the least-loaded choice sends about half to b, which lacks it.
    for (let i = 0; i < 20; i++) assert.equal(await client.request(TX_GET, [txid]), a.rawTransaction(txid), `lookup ${i}`);

    // A transaction no upstream has: each is asked once, then the wallet gets the daemon's answer.
    const [aBefore, bBefore] = [count(a, TX_GET), count(b, TX_GET)];
    const unknown = randomBytes(32).toString('hex');
    await assert.rejects(client.request(TX_GET, [unknown]), (e: RpcCallError) => e.code === 2 && /-5|no such/i.test(e.message));
    assert.deepEqual([count(a, TX_GET) - aBefore, count(b, TX_GET) - bBefore], [1, 1]);
    assert.deepEqual(
      tg.gateway.pool.status().map((u) => [u.name, u.state]),
      [
        ['a', 'healthy'],
        ['b', 'healthy'],
      ],
      'an honest "not found" counts against nobody',
    );
  });

  it('a transaction listed in one upstream\'s history is looked up there', async () => {
    const w = addressStickingTo('a');
    const txid = a.pay(w.address, 40_000);
    const history = (await client.request('blockchain.scripthash.get_history', [w.scripthash])) as { tx_hash: string }[];
    assert.deepEqual(
      history.map((e) => e.tx_hash),
      [txid],
      'answered by a, which has it in its mempool',
    );
    const bBefore = count(b, TX_GET);
    for (let i = 0; i < 10; i++) assert.equal(await client.request(TX_GET, [txid]), a.rawTransaction(txid));
    assert.equal(count(b, TX_GET) - bBefore, 0, 'b, which has not seen it, was never asked');
  });

  it('a transaction listed in a long history passed through as bytes is looked up there too', async () => {
    const w = addressStickingTo('a', '-raw');
    const txid = a.pay(w.address, 45_000);
    // Over replies.ts's RAW_MIN_BYTES, so the gateway gets it as bytes; written as a server may
    // (height before tx_hash, a fee of 1.50, an escaped string in a key of its own), which a
    // parse and re-serialization would not keep: arriving as sent shows it was never parsed.
    const deep = Array.from({ length: 30 }, (_, n) => `{"height":${n + 1},"tx_hash":"${(n + 1).toString(16).padStart(64, '0')}"}`);
    const text = `[${deep.join(',')},{"tx_hash":"${txid}","height":0,"fee":1.50,"note":"caf\\u00e9 \\"]}\\""}]`;
    assert.ok(text.length > 2048);
    a.setHistory(w.scripthash, text);
    const line = await rawLine(tg.port, { jsonrpc: '2.0', id: 7, method: 'blockchain.scripthash.get_history', params: [w.scripthash] });
    assert.ok(line.includes(`"result":${text}`), `the history as a sent it: ${line.slice(0, 200)}`);
    assert.deepEqual((JSON.parse(line) as { result: unknown }).result, JSON.parse(text));
    // Only the bytes told the gateway where this mempool transaction is: b has never seen it.
    const bBefore = count(b, TX_GET);
    for (let i = 0; i < 10; i++) assert.equal(await client.request(TX_GET, [txid]), a.rawTransaction(txid));
    assert.equal(count(b, TX_GET) - bBefore, 0, 'b, which has not seen it, was never asked');
  });

  it('a merkle proof for the newest block goes only to upstreams that have it', async () => {
    const txid = a.pay(testP2wpkh('tx-routing', 'proof').address, 50_000);
    a.mine(1);
    await RpcClient.until(() => tg.gateway.tracker.tip?.height === 121, 'the gateway to see block 121', 10_000);
    // b is one block behind: within pool.max_lag_blocks, so not lagging, but without block 121.
    assert.equal(tg.gateway.pool.status().find((u) => u.name === 'b')?.state, 'healthy');
    const bBefore = count(b, GET_MERKLE);
    for (let i = 0; i < 20; i++) {
      const proof = (await client.request(GET_MERKLE, [txid, 121])) as { block_height: number; pos: number };
      assert.equal(proof.block_height, 121);
      assert.equal(a.blockTxids(121)[proof.pos], txid);
    }
    assert.equal(count(b, GET_MERKLE) - bBefore, 0);
  });
});

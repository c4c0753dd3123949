// SPDX-License-Identifier: MIT
/**
 * The simulator over a real TCP socket. The chain maths is checked with means
 * independent of the simulator where possible: hashes with node:crypto, the
 * genesis header from the shared vectors, the regtest target written out, merkle
 * folding and status hashing done here by hand.
 */
import { VECTORS_DIR } from '../helpers/vectors.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { NETWORKS } from '../../src/config/networks.js';
import { scriptToAddress } from '../../src/protocol/address.js';
import { parseTransaction, serializeTransaction, txid as txidOf, type Transaction } from '../../src/protocol/bitcoin/tx.js';
import { Simulator } from '../sim/index.js';
import { hash160, p2pkhScript, p2wpkhScript } from '../sim/script.js';
import { bip143Sighash, signHash, type SimKey } from '../sim/sign.js';

const VECTORS = VECTORS_DIR;
const chainVectors = JSON.parse(readFileSync(join(VECTORS, 'chain.json'), 'utf8')) as {
  headers: Array<{ network: string; height: number; header: string; hash: string }>;
};
const REGTEST_GENESIS = chainVectors.headers.find((h) => h.network === 'regtest' && h.height === 0)!;
const REGTEST_TARGET = 0x7fffffn << 232n; // bits 0x207fffff written out
const WALLET_ADDRESS = 'bcrt1qvjzuz6fn60npt5wrluxzxymgazaf8husnws586';

// ------------------------------------------------------------------ independent maths

function sha256(b: Buffer): Buffer {
  return createHash('sha256').update(b).digest();
}
function dsha(b: Buffer): Buffer {
  return sha256(sha256(b));
}
function rev(hex: string): Buffer {
  return Buffer.from(hex, 'hex').reverse();
}
function display(b: Buffer): string {
  return Buffer.from(b).reverse().toString('hex');
}
function headerHash(hex: string): string {
  return display(dsha(Buffer.from(hex, 'hex')));
}
function headerPrev(hex: string): string {
  return display(Buffer.from(hex, 'hex').subarray(4, 36));
}
function headerMerkleRoot(hex: string): string {
  return display(Buffer.from(hex, 'hex').subarray(36, 68));
}
function powOk(hex: string): boolean {
  const bits = Buffer.from(hex, 'hex').readUInt32LE(72);
  return bits === 0x207fffff && BigInt('0x' + headerHash(hex)) <= REGTEST_TARGET;
}
function fold(leaf: string, branch: string[], index: number): string {
  let h = rev(leaf);
  let i = index;
  for (const s of branch) {
    h = i & 1 ? dsha(Buffer.concat([rev(s), h])) : dsha(Buffer.concat([h, rev(s)]));
    i >>= 1;
  }
  return display(h);
}
function statusOf(history: Array<{ tx_hash: string; height: number }>): string | null {
  if (history.length === 0) return null;
  return createHash('sha256')
    .update(history.map((e) => `${e.tx_hash}:${e.height}:`).join(''))
    .digest('hex');
}
function scripthashOf(script: Buffer): string {
  return display(sha256(script));
}

// ------------------------------------------------------------------ a tiny client

interface RpcResponse {
  id?: unknown;
  result?: unknown;
  error?: { code: number; message: string };
  method?: string;
  params?: unknown[];
}

class Client {
  private buf = '';
  private nextId = 1;
  private readonly pending = new Map<unknown, (r: RpcResponse) => void>();
  readonly notifications: RpcResponse[] = [];
  /** Replies to nothing we are waiting for (raw lines, batches, id null errors). */
  private readonly unanswered: Array<RpcResponse | RpcResponse[]> = [];
  private waiters: Array<() => void> = [];
  readonly closed: Promise<void>;

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.buf += d;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        this.dispatch(JSON.parse(line) as RpcResponse | RpcResponse[]);
      }
    });
    this.closed = new Promise((resolve) => socket.on('close', () => resolve()));
    socket.on('error', () => undefined);
  }

  private dispatch(m: RpcResponse | RpcResponse[]): void {
    if (!Array.isArray(m) && m.method !== undefined && m.id === undefined) this.notifications.push(m);
    else if (!Array.isArray(m) && this.pending.has(m.id)) {
      const p = this.pending.get(m.id)!;
      this.pending.delete(m.id);
      p(m);
    } else this.unanswered.push(m);
    const w = this.waiters;
    this.waiters = [];
    w.forEach((f) => f());
  }

  private async until<T>(take: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = take();
      if (v !== undefined) return v;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timeout waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  static connect(port: number): Promise<Client> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => resolve(new Client(s)));
      s.once('error', reject);
    });
  }

  static async session(port: number, version: unknown = ['1.4', '1.6']): Promise<Client> {
    const c = await Client.connect(port);
    await c.request('server.version', ['sim-test', version]);
    return c;
  }

  call(method: string, params: unknown = [], timeoutMs = 5000): Promise<RpcResponse> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`timeout waiting for ${method}`));
      }, timeoutMs);
      this.pending.set(id, (r) => {
        clearTimeout(t);
        resolve(r);
      });
      this.socket.write(JSON.stringify({ jsonrpc: '2.0', id, method, params }) + '\n');
    });
  }

  async request<T = any>(method: string, params: unknown = []): Promise<T> {
    const r = await this.call(method, params);
    if (r.error) throw Object.assign(new Error(r.error.message), { code: r.error.code });
    return r.result as T;
  }

  async error(method: string, params: unknown = []): Promise<{ code: number; message: string }> {
    const r = await this.call(method, params);
    assert.ok(r.error, `${method} should fail, got ${JSON.stringify(r.result)}`);
    return r.error;
  }

  /** Sends a raw line; returns the next message that answers nothing we sent through call(). */
  raw(line: string, timeoutMs = 2000): Promise<RpcResponse | RpcResponse[]> {
    this.socket.write(line + '\n');
    return this.until(() => this.unanswered.shift(), timeoutMs, 'a raw reply');
  }

  waitFor(pred: (n: RpcResponse) => boolean, timeoutMs = 3000): Promise<RpcResponse> {
    return this.until(
      () => {
        const i = this.notifications.findIndex(pred);
        return i >= 0 ? this.notifications.splice(i, 1)[0] : undefined;
      },
      timeoutMs,
      'a notification',
    );
  }

  /** Everything the server sent before this returns has been received. */
  async sync(): Promise<void> {
    await this.request('server.ping');
  }

  close(): void {
    this.socket.destroy();
  }
}

async function splitHeaders(c: Client, start: number, count: number): Promise<string[]> {
  const r = await c.request<{ count: number; headers?: string[]; hex?: string }>('blockchain.block.headers', [start, count]);
  if (r.headers) return r.headers;
  return r.hex!.match(/.{160}/g) ?? [];
}

// ------------------------------------------------------------------ tests

test('simulator over TCP', async (t) => {
  const sim = await Simulator.start();
  t.after(() => sim.stop());
  const port = sim.port;
  assert.equal(sim.url, `tcp://127.0.0.1:${port}`);
  assert.equal(sim.tipHeight(), 110);

  await t.test('ElectrumX rule: server.version must come first (junk notifications, code 1, disconnect)', async () => {
    const c = await Client.connect(port);
    const e = await c.error('blockchain.headers.subscribe');
    assert.deepEqual(e, { code: 1, message: 'use server.version to identify client' });
    assert.deepEqual(
      c.notifications.map((n) => n.method),
      ['blockchain.relayfee', 'blockchain.estimatefee'],
    );
    await c.closed;
  });

  await t.test('version negotiation', async () => {
    const c = await Client.connect(port);
    assert.deepEqual(await c.request('server.version', ['x', ['1.4', '1.6']]), ['ElectrumX 1.18.0', '1.6']);
    assert.deepEqual(await c.error('server.version', ['x', '1.4']), { code: 1, message: 'server.version already sent' });
    c.close();
    for (const [asked, got] of [
      ['1.4', '1.4'],
      [['1.4', '1.9'], '1.6'],
      ['1.4.2', '1.4.2'],
      [['1.2', '1.5'], '1.5'],
      [null, '1.4'],
    ] as const) {
      const d = await Client.connect(port);
      assert.deepEqual(await d.request('server.version', ['x', asked]), ['ElectrumX 1.18.0', got], JSON.stringify(asked));
      d.close();
    }
    const bad = await Client.connect(port);
    assert.deepEqual(await bad.error('server.version', ['x', ['1.7', '1.8']]), {
      code: 1,
      message: "unsupported protocol version: ['1.7', '1.8']",
    });
    await bad.closed;
    // 1.6: extra arguments are ignored.
    const extra = await Client.connect(port);
    assert.deepEqual(await extra.request('server.version', ['x', '1.6', 'extra', 4]), ['ElectrumX 1.18.0', '1.6']);
    extra.close();
  });

  const c = await Client.session(port);
  t.after(() => c.close());

  await t.test('server.* answers', async () => {
    const f = await c.request('server.features');
    assert.equal(f.genesis_hash, REGTEST_GENESIS.hash);
    assert.equal(f.genesis_hash, sim.genesisHash);
    assert.equal(f.hash_function, 'sha256');
    assert.equal(f.pruning, null);
    assert.equal(f.protocol_min, '1.4');
    assert.equal(f.protocol_max, '1.6');
    assert.equal(f.server_version, 'ElectrumX 1.18.0');
    assert.deepEqual(f.hosts, { '127.0.0.1': { tcp_port: port } });
    assert.equal(typeof (await c.request('server.banner')), 'string');
    assert.equal(await c.request('server.donation_address'), '');
    assert.equal(await c.request('server.ping'), null);
    assert.deepEqual(await c.request('server.peers.subscribe'), []);
  });

  await t.test('every header links, meets the regtest target, and block 0 is the real genesis', async () => {
    const tip = await c.request<{ hex: string; height: number }>('blockchain.headers.subscribe');
    assert.equal(tip.height, 110);
    const headers = await splitHeaders(c, 0, 2016);
    assert.equal(headers.length, 111);
    assert.equal(headers[0], REGTEST_GENESIS.header);
    assert.equal(headers[110], tip.hex);
    let prevTime = 0;
    headers.forEach((h, i) => {
      assert.equal(h.length, 160);
      assert.ok(powOk(h), `PoW at ${i}`);
      if (i > 0) assert.equal(headerPrev(h), headerHash(headers[i - 1]!), `link at ${i}`);
      assert.equal(headerHash(h), sim.blockHash(i));
      assert.equal(h, sim.headerHex(i));
      const time = Buffer.from(h, 'hex').readUInt32LE(68);
      assert.ok(time > prevTime, `time increases at ${i}`);
      if (i > 0) assert.equal(time - prevTime, 600);
      prevTime = time;
    });
    assert.equal(await c.request('blockchain.block.header', [57]), headers[57]);
  });

  await t.test('block.headers: max 2016, short at the tip, empty beyond it', async () => {
    const r = await c.request('blockchain.block.headers', [100, 50]);
    assert.equal(r.count, 11);
    assert.equal(r.max, 2016);
    assert.equal(r.headers.length, 11);
    const beyond = await c.request('blockchain.block.headers', [500, 10]);
    assert.deepEqual(beyond, { count: 0, max: 2016, headers: [] });
  });

  await t.test('cp_height proofs fold to the root over block hashes 0..cp_height', async () => {
    const hashes = (await splitHeaders(c, 0, 111)).map(headerHash);
    const r = await c.request<{ header: string; branch: string[]; root: string }>('blockchain.block.header', [37, 100]);
    assert.equal(headerHash(r.header), hashes[37]);
    assert.equal(fold(hashes[37]!, r.branch, 37), r.root);
    // The root is the merkle root of hashes 0..100 computed here from scratch.
    let level = hashes.slice(0, 101).map(rev);
    while (level.length > 1) {
      const next: Buffer[] = [];
      for (let i = 0; i < level.length; i += 2) next.push(dsha(Buffer.concat([level[i]!, level[i + 1] ?? level[i]!])));
      level = next;
    }
    assert.equal(r.root, display(level[0]!));
    const hs = await c.request('blockchain.block.headers', [90, 5, 100]);
    assert.equal(hs.count, 5);
    assert.equal(fold(hashes[94]!, hs.branch, 94), hs.root);
    assert.equal(hs.root, r.root);
    assert.deepEqual(await c.error('blockchain.block.header', [50, 200]), {
      code: 1,
      message: 'require header height 50 <= cp_height 200 <= chain height 110',
    });
  });

  await t.test('transactions: raw hex matches its txid, merkle branches fold to the header root', async () => {
    let multi = 0;
    for (let height = 99; height <= 110; height++) {
      const header = await c.request<string>('blockchain.block.header', [height]);
      const txids: string[] = [];
      for (let pos = 0; ; pos++) {
        const r = await c.call('blockchain.transaction.id_from_pos', [height, pos, true]);
        if (r.error) {
          assert.equal(r.error.message, `no tx at position ${pos} in block at height ${height}`);
          break;
        }
        const { tx_hash, merkle } = r.result as { tx_hash: string; merkle: string[] };
        txids.push(tx_hash);
        assert.equal(fold(tx_hash, merkle, pos), headerMerkleRoot(header), `id_from_pos ${height}/${pos}`);
        const raw = await c.request<string>('blockchain.transaction.get', [tx_hash]);
        const tx = parseTransaction(raw);
        // txid = sha256d of the witness-stripped serialization, hashed here with node:crypto.
        assert.equal(display(dsha(serializeTransaction(tx, { witness: false }))), tx_hash);
        const gm = await c.request<{ block_height: number; merkle: string[]; pos: number }>('blockchain.transaction.get_merkle', [tx_hash, height]);
        assert.deepEqual(gm, { block_height: height, merkle, pos });
        assert.equal(await c.request('blockchain.transaction.id_from_pos', [height, pos]), tx_hash);
      }
      if (txids.length > 1) multi++;
      assert.deepEqual(txids, sim.blockTxids(height));
    }
    assert.ok(multi >= 5, 'the initial chain has blocks with several transactions');
  });

  await t.test('coinbases: BIP34 height, subsidy, witness commitment when a block has segwit txs', async () => {
    for (const height of [1, 16, 17, 104, 110]) {
      const cbId = await c.request<string>('blockchain.transaction.id_from_pos', [height, 0]);
      const cb = parseTransaction(await c.request<string>('blockchain.transaction.get', [cbId]));
      const ss = cb.inputs[0]!.scriptSig;
      if (height <= 16) assert.equal(ss[0], 0x50 + height);
      else {
        assert.equal(ss[0], 1);
        assert.equal(ss[1], height);
      }
      const txids = sim.blockTxids(height);
      const raws = await Promise.all(txids.slice(1).map((id) => c.request<string>('blockchain.transaction.get', [id])));
      const segwit = raws.some((r) => r.slice(8, 12) === '0001');
      const commitment = cb.outputs.find((o) => o.script.subarray(0, 6).toString('hex') === '6a24aa21a9ed');
      assert.equal(Boolean(commitment), segwit, `commitment at ${height}`);
      if (commitment) {
        // wtxids (coinbase = 0) -> witness root -> sha256d(root || 32 zero bytes)
        let level = [Buffer.alloc(32), ...raws.map((r) => dsha(Buffer.from(r, 'hex')))];
        while (level.length > 1) {
          const next: Buffer[] = [];
          for (let i = 0; i < level.length; i += 2) next.push(dsha(Buffer.concat([level[i]!, level[i + 1] ?? level[i]!])));
          level = next;
        }
        assert.deepEqual(commitment.script.subarray(6), dsha(Buffer.concat([level[0]!, Buffer.alloc(32)])));
        assert.deepEqual(cb.inputs[0]!.witness, [Buffer.alloc(32)]);
      }
    }
  });

  await t.test('verbose transaction.get is bitcoind-like', async () => {
    const id = sim.blockTxids(105)[1]!;
    const v = await c.request('blockchain.transaction.get', [id, true]);
    assert.equal(v.txid, id);
    assert.equal(v.confirmations, sim.tipHeight() - 105 + 1);
    assert.equal(v.blockhash, sim.blockHash(105));
    assert.equal(v.hex, await c.request('blockchain.transaction.get', [id]));
    assert.ok(Array.isArray(v.vin) && Array.isArray(v.vout));
    assert.equal(typeof v.vout[0].value, 'number');
    assert.deepEqual(await c.error('blockchain.transaction.get', [id, 'yes']), { code: 1, message: '"verbose" must be a boolean' });
  });

  await t.test('scripthash: subscribe, pay, mine; status = sha256 of get_history; notifications', async () => {
    const script = p2wpkhScript(Buffer.from('6485c16933d3e615d1c3ff0c231368e8ba93df90', 'hex'));
    const sh = scripthashOf(script);
    assert.equal(await c.request('blockchain.scripthash.subscribe', [sh]), null);
    assert.deepEqual(await c.request('blockchain.scripthash.get_history', [sh]), []);
    const txid = sim.pay(WALLET_ADDRESS, 150_000);
    const n1 = await c.waitFor((n) => n.method === 'blockchain.scripthash.subscribe');
    const h1 = await c.request('blockchain.scripthash.get_history', [sh]);
    assert.equal(h1.length, 1);
    assert.equal(h1[0].tx_hash, txid);
    assert.equal(h1[0].height, 0);
    assert.ok(h1[0].fee > 0);
    assert.deepEqual(n1.params, [sh, statusOf(h1)]);
    assert.deepEqual(await c.request('blockchain.scripthash.get_mempool', [sh]), h1);
    assert.deepEqual(await c.request('blockchain.scripthash.get_balance', [sh]), { confirmed: 0, unconfirmed: 150_000 });
    const utxos = await c.request('blockchain.scripthash.listunspent', [sh]);
    assert.equal(utxos.length, 1);
    assert.equal(utxos[0].value, 150_000);
    assert.equal(utxos[0].height, 0);
    assert.deepEqual(sim.history(sh), h1);
    assert.equal(sim.status(sh), statusOf(h1));
    // The raw tx pays the address.
    const tx = parseTransaction(await c.request('blockchain.transaction.get', [txid]));
    assert.ok(tx.outputs.some((o) => o.script.equals(script) && o.value === 150_000n));

    const [hash] = sim.mine();
    const hn = await c.waitFor((n) => n.method === 'blockchain.headers.subscribe');
    assert.equal(headerHash((hn.params![0] as { hex: string }).hex), hash);
    assert.equal((hn.params![0] as { height: number }).height, 111);
    const n2 = await c.waitFor((n) => n.method === 'blockchain.scripthash.subscribe');
    const h2 = await c.request('blockchain.scripthash.get_history', [sh]);
    assert.deepEqual(h2, [{ tx_hash: txid, height: 111 }]);
    assert.deepEqual(n2.params, [sh, statusOf(h2)]);
    assert.deepEqual(await c.request('blockchain.scripthash.get_balance', [sh]), { confirmed: 150_000, unconfirmed: 0 });
    const gm = await c.request('blockchain.transaction.get_merkle', [txid, 111]);
    assert.equal(fold(txid, gm.merkle, gm.pos), headerMerkleRoot(sim.headerHex(111)));
    assert.equal(await c.request('blockchain.scripthash.unsubscribe', [sh]), true);
    assert.equal(await c.request('blockchain.scripthash.unsubscribe', [sh]), false);
  });

  await t.test('broadcast: a tx spending an unconfirmed output is accepted, its outputs get height -1, canonical order', async () => {
    const secret = new Uint8Array(32).fill(7);
    const pubkey = Buffer.from(secp256k1.getPublicKey(secret, true));
    const key: SimKey = { secret, pubkey, pubkeyHash: hash160(pubkey) };
    const ourScript = p2wpkhScript(key.pubkeyHash);
    const ourAddress = scriptToAddress(ourScript, NETWORKS.regtest)!;
    const ourSh = scripthashOf(ourScript);
    await c.request('blockchain.scripthash.subscribe', [ourSh]);
    const fundId = sim.pay(ourAddress, 1_000_000);
    await c.waitFor((n) => n.method === 'blockchain.scripthash.subscribe' && n.params![0] === ourSh);
    const fund = parseTransaction(await c.request('blockchain.transaction.get', [fundId]));
    const vout = fund.outputs.findIndex((o) => o.script.equals(ourScript));
    const dest = p2pkhScript(Buffer.alloc(20, 0x42));
    const unsigned: Transaction = {
      version: 2,
      inputs: [{ prevTxid: fundId, vout, scriptSig: Buffer.alloc(0), sequence: 0xfffffffd, witness: [] }],
      outputs: [
        { value: 600_000n, script: dest },
        { value: 390_000n, script: ourScript },
      ],
      locktime: 0,
    };
    const sig = signHash(key, bip143Sighash(unsigned, 0, p2pkhScript(key.pubkeyHash), 1_000_000n, 1));
    const signed: Transaction = { ...unsigned, inputs: [{ ...unsigned.inputs[0]!, witness: [sig, pubkey] }] };
    const raw = serializeTransaction(signed).toString('hex');

    // A wrong signature is refused with bitcoind's reason, ElectrumX's wrapping.
    const badSig = Buffer.from(sig);
    badSig[10] = badSig[10]! ^ 1;
    const bad = serializeTransaction({ ...unsigned, inputs: [{ ...unsigned.inputs[0]!, witness: [badSig, pubkey] }] }).toString('hex');
    const e = await c.error('blockchain.transaction.broadcast', [bad]);
    assert.equal(e.code, 1);
    assert.match(e.message, /^the transaction was rejected by network rules\.\n\nmandatory-script-verify-flag-failed .*\n\[[0-9a-f]+\]$/);

    const spendId = await c.request('blockchain.transaction.broadcast', [raw]);
    assert.equal(spendId, txidOf(signed));
    assert.equal(await c.request('blockchain.transaction.broadcast', [raw]), spendId, 're-broadcast answers the txid');
    const hist = await c.request('blockchain.scripthash.get_history', [ourSh]);
    assert.deepEqual(
      hist.map((e: { tx_hash: string; height: number }) => [e.tx_hash, e.height]),
      [
        [fundId, 0],
        [spendId, -1],
      ],
    );
    const n = await c.waitFor((x) => x.method === 'blockchain.scripthash.subscribe' && x.params![0] === ourSh && x.params![1] === statusOf(hist));
    assert.ok(n);
    assert.equal(sim.status(ourSh), statusOf(hist));
    const destHist = await c.request('blockchain.scripthash.get_history', [scripthashOf(dest)]);
    assert.deepEqual(destHist, [{ tx_hash: spendId, height: -1, fee: 10_000 }]);
    assert.deepEqual(await c.request('blockchain.scripthash.get_balance', [ourSh]), { confirmed: 0, unconfirmed: 390_000 });
    // Double spend of the same output.
    const conflict = serializeTransaction({ ...signed, outputs: [{ value: 900_000n, script: dest }] }).toString('hex');
    assert.match((await c.error('blockchain.transaction.broadcast', [conflict])).message, /txn-mempool-conflict/);
    // Both confirm in the next block; -1 flips to a height.
    sim.mine();
    const after = await c.request('blockchain.scripthash.get_history', [ourSh]);
    assert.deepEqual(after, [
      { tx_hash: fundId, height: 112 },
      { tx_hash: spendId, height: 112 },
    ]);
    const h = await c.request('mempool.get_fee_histogram');
    assert.deepEqual(h, []);
  });

  await t.test('broadcast garbage: ElectrumX errors', async () => {
    assert.deepEqual(await c.error('blockchain.transaction.broadcast', ['zz']), { code: 1, message: 'zz should be a hex string' });
    assert.deepEqual(await c.error('blockchain.transaction.broadcast', ['0100']), {
      code: 1,
      message: 'the transaction was rejected by network rules.\n\nTX decode failed. Make sure the tx has at least one input.\n[0100]',
    });
    const cbId = sim.blockTxids(50)[0]!;
    const cbRaw = await c.request<string>('blockchain.transaction.get', [cbId]);
    assert.match((await c.error('blockchain.transaction.broadcast', [cbRaw])).message, /\n\ncoinbase\n/);
    const confirmedRaw = await c.request<string>('blockchain.transaction.get', [sim.blockTxids(105)[1]!]);
    assert.match((await c.error('blockchain.transaction.broadcast', [confirmedRaw])).message, /already in utxo set/);
  });

  await t.test('JSON-RPC and parameter errors as ElectrumX / aiorpcX send them', async () => {
    assert.deepEqual(await c.error('no.such.method'), { code: -32601, message: 'unknown method "no.such.method"' });
    assert.deepEqual(await c.error('blockchain.scripthash.get_balance', ['abc']), { code: 1, message: 'abc is not a valid script hash' });
    assert.deepEqual(await c.error('blockchain.transaction.get', ['abc']), { code: 1, message: 'abc should be a transaction hash' });
    assert.deepEqual(await c.error('blockchain.block.header', [-1]), { code: 1, message: '-1 should be a non-negative integer' });
    assert.deepEqual(await c.error('blockchain.block.header', [1000]), { code: 1, message: 'height 1,000 out of range' });
    assert.deepEqual(await c.error('blockchain.block.header', []), {
      code: -32602,
      message: '0 arguments passed to method "blockchain.block.header" but it requires 1',
    });
    assert.deepEqual(await c.error('blockchain.block.header', [1, 0, 3]), {
      code: -32602,
      message: '3 arguments passed to method blockchain.block.header taking at most 2',
    });
    assert.deepEqual(await c.error('blockchain.block.header', { cp_height: 0 }), {
      code: -32602,
      message: 'method "blockchain.block.header" requires parameter "height"',
    });
    assert.equal(await c.request('blockchain.block.header', { height: 3 }), sim.headerHex(3));
    const mp = sim.blockTxids(105)[1]!;
    assert.deepEqual(await c.error('blockchain.transaction.get_merkle', [mp, 104]), { code: 1, message: `tx ${mp} not in block at height 104` });
    assert.deepEqual(await c.error('blockchain.transaction.get', ['00'.repeat(32)]), {
      code: 2,
      message:
        "daemon error: DaemonError({'code': -5, 'message': 'No such mempool or blockchain transaction. Use gettransaction for wallet transactions.'})",
    });
    assert.deepEqual(await c.error('blockchain.estimatefee', [2, 'fast']), { code: 1, message: 'unknown estimatefee mode: FAST' });
    assert.deepEqual(await c.raw('{not json'), { jsonrpc: '2.0', error: { code: -32700, message: 'invalid JSON' }, id: null });
    assert.deepEqual(await c.raw('[]'), { jsonrpc: '2.0', error: { code: -32600, message: 'batch is empty' }, id: null });
    assert.deepEqual(await c.raw('42'), { jsonrpc: '2.0', error: { code: -32600, message: 'request object must be a dictionary' }, id: null });
    const batch = (await c.raw(
      JSON.stringify([
        { jsonrpc: '2.0', id: 'a', method: 'server.ping', params: [] },
        { jsonrpc: '2.0', id: 'b', method: 'blockchain.block.header', params: [0] },
        { jsonrpc: '2.0', method: 'server.ping', params: [] },
      ]),
    )) as RpcResponse[];
    assert.deepEqual(batch, [
      { jsonrpc: '2.0', result: null, id: 'a' },
      { jsonrpc: '2.0', result: REGTEST_GENESIS.header, id: 'b' },
    ]);
    // The connection survives all of that.
    assert.equal(await c.request('server.ping'), null);
  });

  await t.test('fees: deterministic estimates, never an error for Electrum\'s targets; 1.6 methods', async () => {
    const fees = await Promise.all([25, 10, 5, 2].map((n) => c.request<number>('blockchain.estimatefee', [n])));
    fees.forEach((f) => assert.ok(f > 0));
    assert.ok(fees[0]! <= fees[1]! && fees[1]! <= fees[2]! && fees[2]! <= fees[3]!, 'shorter targets cost more');
    assert.equal(await c.request('blockchain.estimatefee', [2, 'ECONOMICAL']), fees[3]);
    sim.setFeeEstimates(false);
    assert.equal(await c.request('blockchain.estimatefee', [2]), -1);
    sim.setFeeEstimates(true);
    assert.deepEqual(await c.request('mempool.get_info'), { mempoolminfee: 0.00001, minrelaytxfee: 0.00001, incrementalrelayfee: 0.00001 });
    assert.deepEqual(await c.error('blockchain.relayfee'), { code: -32601, message: 'unknown method "blockchain.relayfee"' });
    for (let i = 0; i < 10; i++) sim.pay(WALLET_ADDRESS, 10_000 + i);
    const hist = await c.request<Array<[number, number]>>('mempool.get_fee_histogram');
    assert.ok(hist.length >= 1);
    for (let i = 1; i < hist.length; i++) assert.ok(hist[i - 1]![0] > hist[i]![0], 'fee rates descend');
    sim.mine();
  });

  await t.test('1.4 session shapes', async () => {
    const d = await Client.session(port, '1.4');
    const r = await d.request('blockchain.block.headers', [0, 3]);
    assert.deepEqual(Object.keys(r).sort(), ['count', 'hex', 'max']);
    assert.equal(r.hex, REGTEST_GENESIS.header + sim.headerHex(1) + sim.headerHex(2));
    assert.equal(await d.request('blockchain.relayfee'), 0.00001);
    assert.deepEqual(await d.error('mempool.get_info'), { code: -32601, message: 'unknown method "mempool.get_info"' });
    assert.deepEqual(await d.error('blockchain.transaction.broadcast_package', [[]]), {
      code: -32601,
      message: 'unknown method "blockchain.transaction.broadcast_package"',
    });
    // scripthash.unsubscribe arrived in 1.4.2
    assert.equal((await d.error('blockchain.scripthash.unsubscribe', ['00'.repeat(32)])).code, -32601);
    const cp = await d.request('blockchain.block.headers', [10, 2, 20]);
    assert.equal(fold(headerHash(sim.headerHex(11)), cp.branch, 11), cp.root);
    d.close();
    const e = await Client.session(port, '1.4.2');
    assert.equal(await e.request('blockchain.scripthash.unsubscribe', ['00'.repeat(32)]), false);
    e.close();
  });

  await t.test('broadcast_package (1.6)', async () => {
    const garbage = await c.error('blockchain.transaction.broadcast_package', ['nope']);
    assert.deepEqual(garbage, { code: 1, message: 'nope should be a list' });
    const coinbase = await c.request<string>('blockchain.transaction.get', [sim.blockTxids(20)[0]!]);
    const r = await c.request('blockchain.transaction.broadcast_package', [[coinbase]]);
    assert.equal(r.success, false);
    assert.equal(r.errors[0].error, 'coinbase');
  });

  await t.test('lie modes lie, and null restores the truth', async () => {
    const height = 105;
    const good = sim.headerHex(height);
    sim.lie('header');
    const lied = await c.request<string>('blockchain.block.header', [height]);
    assert.notEqual(lied, good);
    assert.equal(powOk(lied), false, 'lying header fails PoW');
    assert.notEqual(headerPrev(lied), sim.blockHash(height - 1), 'lying header does not link');
    const tip = await c.request<{ hex: string }>('blockchain.headers.subscribe');
    assert.equal(powOk(tip.hex), false);
    sim.lie('merkle');
    assert.equal(await c.request('blockchain.block.header', [height]), good);
    const txid = sim.blockTxids(height)[1]!;
    const gm = await c.request('blockchain.transaction.get_merkle', [txid, height]);
    assert.notEqual(fold(txid, gm.merkle, gm.pos), headerMerkleRoot(good));
    const cbId = sim.blockTxids(50)[0]!;
    const single = await c.request('blockchain.transaction.get_merkle', [cbId, 50]);
    assert.notEqual(fold(cbId, single.merkle, single.pos), headerMerkleRoot(sim.headerHex(50)), 'single-tx blocks lie too');
    sim.lie('tx');
    const raw = await c.request<string>('blockchain.transaction.get', [txid]);
    assert.notEqual(display(dsha(serializeTransaction(parseTransaction(raw), { witness: false }))), txid);
    sim.lie(null);
    const honest = await c.request<string>('blockchain.transaction.get', [txid]);
    assert.equal(txidOf(honest), txid);
    const gm2 = await c.request('blockchain.transaction.get_merkle', [txid, height]);
    assert.equal(fold(txid, gm2.merkle, gm2.pos), headerMerkleRoot(good));
  });

  await t.test('knobs: latency, failMethod, dropMethod, stats', async () => {
    sim.setLatency(150);
    const t0 = Date.now();
    await c.request('server.ping');
    assert.ok(Date.now() - t0 >= 140, 'latency applied');
    sim.setLatency(0);
    sim.failMethod('blockchain.estimatefee', { code: -32603, message: 'internal error: bitcoind request timed out' });
    assert.deepEqual(await c.error('blockchain.estimatefee', [2]), { code: -32603, message: 'internal error: bitcoind request timed out' });
    sim.failMethod('blockchain.estimatefee', null);
    assert.ok((await c.request<number>('blockchain.estimatefee', [2])) > 0);
    sim.dropMethod('server.banner', true);
    await assert.rejects(c.call('server.banner', [], 300), /timeout/);
    sim.dropMethod('server.banner', false);
    assert.equal(typeof (await c.request('server.banner')), 'string');
    const s = sim.stats;
    assert.ok(s.requests['server.ping']! >= 2);
    assert.ok(s.requests['server.banner']! >= 3);
    assert.equal(s.connections, 1);
    assert.equal(s.scripthashSubscriptions, 1);
  });

  await t.test('reorg: new tip notified, orphaned txs back to the mempool, old proofs refused', async () => {
    const sh = scripthashOf(p2wpkhScript(Buffer.from('6485c16933d3e615d1c3ff0c231368e8ba93df90', 'hex')));
    await c.request('blockchain.scripthash.subscribe', [sh]);
    const txid = sim.pay(WALLET_ADDRESS, 77_777, { confirm: true });
    const minedAt = sim.tipHeight();
    const oldHash = sim.blockHash(minedAt);
    await c.sync();
    c.notifications.length = 0;
    const orphaned = sim.reorg(2);
    assert.equal(orphaned.length, 2);
    assert.equal(orphaned[1], oldHash);
    assert.equal(sim.tipHeight(), minedAt + 1);
    const hn = await c.waitFor((n) => n.method === 'blockchain.headers.subscribe');
    const tip = hn.params![0] as { hex: string; height: number };
    assert.equal(tip.height, minedAt + 1);
    assert.notEqual(sim.blockHash(minedAt), oldHash);
    // The new branch links and has valid PoW from the fork point.
    const hs = await splitHeaders(c, minedAt - 2, 4);
    for (let i = 1; i < hs.length; i++) assert.equal(headerPrev(hs[i]!), headerHash(hs[i - 1]!));
    hs.forEach((h) => assert.ok(powOk(h)));
    assert.equal(headerHash(hs[3]!), headerHash(tip.hex));
    const hist = await c.request('blockchain.scripthash.get_history', [sh]);
    const entry = hist.find((e: { tx_hash: string }) => e.tx_hash === txid);
    assert.equal(entry.height, 0);
    const n = await c.waitFor((x) => x.method === 'blockchain.scripthash.subscribe');
    assert.deepEqual(n.params, [sh, statusOf(hist)]);
    assert.match((await c.error('blockchain.transaction.get_merkle', [txid, minedAt])).message, /not in block at height/);
    sim.mine();
    const again = await c.request('blockchain.scripthash.get_history', [sh]);
    assert.equal(again.find((e: { tx_hash: string }) => e.tx_hash === txid).height, minedAt + 2);
  });

  await t.test('stop and restart: connections closed, same port, same chain', async () => {
    const d = await Client.session(port);
    const tipBefore = sim.blockHash(sim.tipHeight());
    await sim.stop();
    await d.closed;
    await c.closed;
    await assert.rejects(Client.connect(port));
    assert.equal(sim.stats.connections, 0);
    await sim.restart();
    assert.equal(sim.port, port);
    const e = await Client.session(port);
    const tip = await e.request<{ hex: string }>('blockchain.headers.subscribe');
    assert.equal(headerHash(tip.hex), tipBefore);
    e.close();
  });
});

test('determinism and options', async (t) => {
  const [a, b, other] = await Promise.all([
    Simulator.start({ initialBlocks: 120, seed: 's1' }),
    Simulator.start({ initialBlocks: 120, seed: 's1' }),
    Simulator.start({ initialBlocks: 120, seed: 's2' }),
  ]);
  t.after(() => Promise.all([a.stop(), b.stop(), other.stop()]));
  assert.equal(a.blockHash(120), b.blockHash(120));
  assert.equal(a.pay(WALLET_ADDRESS, 5000), b.pay(WALLET_ADDRESS, 5000));
  assert.deepEqual(a.mine(2), b.mine(2));
  assert.notEqual(a.blockHash(1), other.blockHash(1));
  assert.equal(a.blockHash(0), other.blockHash(0));

  const genesisHash = NETWORKS.bitcoin.genesisHash;
  const foreign = await Simulator.start({ initialBlocks: 3, genesisHash });
  t.after(() => foreign.stop());
  assert.equal(foreign.genesisHash, genesisHash);
  const c = await Client.session(foreign.port);
  assert.equal((await c.request('server.features')).genesis_hash, genesisHash);
  await assert.rejects(Promise.resolve().then(() => foreign.pay(WALLET_ADDRESS, 1000)), /funds exhausted/);
  c.close();
});

test('a 1.4-only simulator: lenient first message, features, negotiation', async (t) => {
  const sim = await Simulator.start({ protocolMax: '1.4', initialBlocks: 5 });
  t.after(() => sim.stop());
  const c = await Client.connect(sim.port);
  // No server.version needed: the session starts at 1.4.
  const r = await c.request('blockchain.block.headers', [0, 2]);
  assert.equal(r.hex.length, 320);
  assert.equal((await c.request('server.features')).protocol_max, '1.4');
  assert.deepEqual(await c.request('server.version', ['x', ['1.4', '1.6']]), ['ElectrumX 1.18.0', '1.4']);
  c.close();
  const d = await Client.connect(sim.port);
  assert.equal((await d.error('server.version', ['x', '1.6'])).message, 'unsupported protocol version: 1.6');
  await d.closed;
});

test('main.ts: prints its URL and takes sim.* control calls', async (t) => {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const child = spawn(process.execPath, [join(here, '../sim/main.js'), '--port', '0', '--blocks', '5', '--protocol-max', '1.4'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => {
    child.kill('SIGTERM');
  });
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(out.slice(0, nl));
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}`)));
  });
  const info = JSON.parse(line) as { url: string; port: number; tip: number };
  assert.equal(info.url, `tcp://127.0.0.1:${info.port}`);
  assert.equal(info.tip, 5);
  const c = await Client.connect(info.port);
  const hashes = await c.request<string[]>('sim.mine', [2]);
  assert.equal(hashes.length, 2);
  const tip = await c.request<{ height: number; hash: string }>('sim.tip');
  assert.deepEqual(tip, { height: 7, hash: hashes[1] });
  assert.equal(await c.request('sim.setLatency', [0]), true);
  assert.equal(await c.request('sim.failMethod', ['server.banner', { code: 5, message: 'nope' }]), true);
  assert.deepEqual(await c.error('server.banner'), { code: 5, message: 'nope' });
  assert.equal((await c.error('sim.pay', ['not-an-address', 1000])).code, 1);
  const orphaned = await c.request<string[]>('sim.reorg', [1]);
  assert.deepEqual(orphaned, [hashes[1]]);
  c.close();
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
});

// SPDX-License-Identifier: MIT
/**
 * Golden conversations, one per protocol version (1.0, 1.1, 1.2, 1.3, 1.4,
 * 1.4.2, 1.6), each held with the gateway twice: once over a 1.6 simulator
 * and once over a 1.4-only one. Every method of the version (methodsAt) is
 * called, and the answers are checked against the spec's shapes and against
 * values computed here, independently of the gateway:
 *
 *  - address -> scripthash from test/vectors/addresses.json (regtest entries,
 *    computed by Electrum 4.3.4), and the amounts this test paid to them;
 *  - header dicts parsed byte by byte here; get_chunk from the simulator's
 *    own headers; block hashes, header checkpoints and transaction merkle
 *    branches hashed here with node:crypto;
 *  - status hashes recomputed here from get_history;
 *  - a transaction built by a twin of the simulator (same seed, same history)
 *    and broadcast fresh through the gateway.
 *
 * Notifications: numblocks (1.0) and headers after a block is mined, and
 * address (as [address, status]) and scripthash notifications after a payment.
 * Methods that do not exist at the version answer -32601.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { METHOD_NAMES, methodsAt } from '../../src/protocol/methods.js';
import { GATEWAY_VERSION, SERVER_SOFTWARE } from '../../src/version.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { RpcCallError, RpcClient, type Notification } from '../helpers/rpc-client.js';
import { loadVectors } from '../helpers/vectors.js';
import { testP2wpkh, untilForwarding } from '../helpers/wallet-session.js';
import { Chain } from '../sim/chain.js';
import { Simulator } from '../sim/index.js';

// ---------------------------------------------------------------- independent maths

const sha256 = (b: Buffer | string): Buffer => createHash('sha256').update(b).digest();
const sha256d = (b: Buffer): Buffer => sha256(sha256(b));
const rev = (hex: string): Buffer => Buffer.from(hex, 'hex').reverse();
const display = (b: Buffer): string => Buffer.from(b).reverse().toString('hex');
const HEX64 = /^[0-9a-f]{64}$/;

interface Dict {
  block_height: number;
  version: number;
  prev_block_hash: string;
  merkle_root: string;
  timestamp: number;
  bits: number;
  nonce: number;
}

function dictOf(hex: string, height: number): Dict {
  const b = Buffer.from(hex, 'hex');
  assert.equal(b.length, 80);
  return {
    block_height: height,
    version: b.readUInt32LE(0),
    prev_block_hash: display(b.subarray(4, 36)),
    merkle_root: display(b.subarray(36, 68)),
    timestamp: b.readUInt32LE(68),
    bits: b.readUInt32LE(72),
    nonce: b.readUInt32LE(76),
  };
}

const blockHashOf = (headerHex: string): string => display(sha256d(Buffer.from(headerHex, 'hex')));

/** Bitcoin's merkle root of display-hex leaves (odd levels duplicate their last node). */
function merkleRoot(leaves: string[]): string {
  let level = leaves.map(rev);
  while (level.length > 1) {
    const next: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(sha256d(Buffer.concat([level[i]!, level[i + 1] ?? level[i]!])));
    level = next;
  }
  return display(level[0]!);
}

/** The root a merkle branch (deepest pairing first, display hex) leads to from `leaf` at `pos`. */
function rootFromBranch(leaf: string, branch: readonly string[], pos: number): string {
  let h = rev(leaf);
  let i = pos;
  for (const s of branch) {
    h = i & 1 ? sha256d(Buffer.concat([rev(s), h])) : sha256d(Buffer.concat([h, rev(s)]));
    i >>= 1;
  }
  return display(h);
}

interface HistoryEntry {
  tx_hash: string;
  height: number;
  fee?: number;
}

/** The spec's status: sha256 of "tx_hash:height:" for each entry in the order given; null when empty. */
function statusOf(history: readonly HistoryEntry[]): string | null {
  if (history.length === 0) return null;
  return sha256(history.map((e) => `${e.tx_hash}:${e.height}:`).join('')).toString('hex');
}

// ---------------------------------------------------------------- fixtures

interface AddressVector {
  network: string;
  kind: 'p2pkh' | 'p2sh' | 'p2wpkh' | 'p2wsh' | 'p2tr';
  address: string;
  scripthash: string;
}

const VECTORS = loadVectors<{ vectors: AddressVector[] }>('addresses.json').vectors;
const REGTEST = VECTORS.filter((v) => v.network === 'regtest');
const CHAIN_VECTORS = loadVectors<{ headers: { network: string; height: number; header: string; hash: string }[] }>('chain.json');
const REGTEST_GENESIS = CHAIN_VECTORS.headers.find((h) => h.network === 'regtest' && h.height === 0)!;
const BITCOIN_ADDRESS = VECTORS.find((v) => v.network === 'bitcoin' && v.kind === 'p2wpkh')!.address;

/** What this test paid to each regtest vector address (confirmed in one block). */
const PAID: Record<string, number> = { p2pkh: 101_000, p2sh: 102_000, p2wpkh: 103_000, p2wsh: 104_000, p2tr: 105_000 };
const MEMPOOL_PAYMENT = 30_000; // to the P2WPKH address, left unconfirmed
const FRESH_PAYMENT = 40_000;
const PACKAGE_PAYMENT = 25_000;

/** A regtest P2WPKH address of this test's own, with its scripthash computed by hand. */
const ownAddress = (label: string): { address: string; scripthash: string } => testP2wpkh('versions-test', label);

interface Setup {
  /** Txid of the confirmed payment to each vector kind. */
  paid: Record<string, string>;
  fundedHeight: number;
  mempoolTxid: string;
}

/** The same calls on the simulator and on its twin give the same chain and mempool. */
function fund(pay: (address: string, sats: number) => string, mine: () => void, tipHeight: () => number): Setup {
  const paid: Record<string, string> = {};
  for (const v of REGTEST) paid[v.kind] = pay(v.address, PAID[v.kind]!);
  mine();
  const fundedHeight = tipHeight();
  const wpkh = REGTEST.find((v) => v.kind === 'p2wpkh')!;
  const mempoolTxid = pay(wpkh.address, MEMPOOL_PAYMENT);
  return { paid, fundedHeight, mempoolTxid };
}

const vector = (kind: AddressVector['kind']): AddressVector => REGTEST.find((v) => v.kind === kind)!;

// ---------------------------------------------------------------- the conversation

class Conversation {
  readonly at: Set<string>;
  readonly used = new Set<string>();

  constructor(
    readonly client: RpcClient,
    readonly version: string,
  ) {
    this.at = new Set(methodsAt(version));
  }

  has(method: string): boolean {
    return this.at.has(method);
  }

  /** Calls a method of this version and returns its result. */
  async ok(method: string, params: unknown = []): Promise<unknown> {
    assert.ok(this.at.has(method), `${method} is not a ${this.version} method`);
    this.used.add(method);
    try {
      return await this.client.request(method, params);
    } catch (err) {
      if (err instanceof RpcCallError) assert.fail(`${method}(${JSON.stringify(params)}) at ${this.version} failed: ${err.code} ${err.message}`);
      throw err;
    }
  }

  /** Calls a method and expects an error with this code (and message). */
  async fails(method: string, params: unknown, code: number, message?: RegExp, timeoutMs?: number): Promise<RpcCallError> {
    if (this.at.has(method)) this.used.add(method);
    try {
      const result = await this.client.request(method, params, timeoutMs === undefined ? {} : { timeoutMs });
      assert.fail(`${method}(${JSON.stringify(params)}) at ${this.version} answered ${JSON.stringify(result)}, expected error ${code}`);
    } catch (err) {
      if (!(err instanceof RpcCallError)) throw err;
      assert.equal(err.code, code, `${method}(${JSON.stringify(params)}) at ${this.version}: ${err.message}`);
      if (message) assert.match(err.message, message, `${method} at ${this.version}`);
      return err;
    }
  }
}

async function converse(version: string, protocolMax: '1.4' | '1.6'): Promise<void> {
  const seed = `versions-${version}-${protocolMax}`;
  const sim = await Simulator.start({ seed, protocolMax });
  // The twin starts from the same seed and sees the same calls, so it holds the same coins:
  // what it pays next is a valid transaction the simulator has never seen.
  const twin = new Chain({ seed, initialBlocks: 110 });
  const setup = fund(
    (a, s) => sim.pay(a, s),
    () => sim.mine(1),
    () => sim.tipHeight(),
  );
  const twinSetup = fund(
    (a, s) => twin.pay(a, s),
    () => twin.mine(1),
    () => twin.tipHeight(),
  );
  assert.deepEqual(twinSetup, setup, 'the twin follows the simulator');
  const fresh = ownAddress('fresh');
  const freshTxid = twin.pay(fresh.address, FRESH_PAYMENT);
  const freshRaw = twin.getTx(freshTxid)!.stx.raw.toString('hex');
  const pkg = ownAddress('package');
  const pkgTxid = twin.pay(pkg.address, PACKAGE_PAYMENT);
  const pkgRaw = twin.getTx(pkgTxid)!.stx.raw.toString('hex');

  let gw: TestGateway | null = null;
  let client: RpcClient | null = null;
  try {
    gw = await startTestGateway({ upstreams: [sim] });
    await untilForwarding(gw.port, { method: 'blockchain.relayfee', params: [] });
    client = await RpcClient.connect(gw.port);
    const c = new Conversation(client, version);
    const v = version;

    // ---- server.version: a bare string at 1.0, [software, version] from 1.1
    c.used.add('server.version');
    const sv = await client.request('server.version', ['golden-wallet', v]);
    assert.deepEqual(sv, v === '1.0' ? SERVER_SOFTWARE : [SERVER_SOFTWARE, v]);

    // ---- server.* answered by the gateway
    assert.equal(await c.ok('server.banner'), `test gateway ${GATEWAY_VERSION} on regtest`);
    assert.equal(await c.ok('server.donation_address'), '');
    assert.deepEqual(await c.ok('server.peers.subscribe'), []);
    if (c.has('server.features')) {
      assert.deepEqual(await c.ok('server.features'), {
        hosts: {},
        genesis_hash: REGTEST_GENESIS.hash,
        hash_function: 'sha256',
        server_version: SERVER_SOFTWARE,
        protocol_min: '1.0',
        protocol_max: '1.6',
        pruning: null,
      });
    }
    if (c.has('server.add_peer')) {
      assert.equal(await c.ok('server.add_peer', [{ hosts: { 'peer.example': { tcp_port: 50001 } } }]), false);
      await c.fails('server.add_peer', [], -32602, /requires 1/);
    }
    if (c.has('server.ping')) assert.equal(await c.ok('server.ping'), null);

    // ---- the tip: numblocks (1.0) and headers.subscribe in the version's form
    const tip = sim.tipHeight();
    const tipHex = sim.headerHex(tip);
    if (c.has('blockchain.numblocks.subscribe')) assert.equal(await c.ok('blockchain.numblocks.subscribe'), tip);
    const HS = 'blockchain.headers.subscribe';
    let headersForm: 'dict' | 'raw';
    if (v === '1.0' || v === '1.1') {
      assert.deepEqual(await c.ok(HS), dictOf(tipHex, tip));
      await c.fails(HS, [true], -32602, /taking at most 0/);
      headersForm = 'dict';
    } else if (v === '1.2') {
      assert.deepEqual(await c.ok(HS), dictOf(tipHex, tip), '1.2: raw defaults to false');
      assert.deepEqual(await c.ok(HS, [false]), dictOf(tipHex, tip));
      assert.deepEqual(await c.ok(HS, [true]), { hex: tipHex, height: tip });
      headersForm = 'raw';
    } else if (v === '1.3') {
      assert.deepEqual(await c.ok(HS), { hex: tipHex, height: tip }, '1.3: raw defaults to true');
      assert.deepEqual(await c.ok(HS, { raw: true }), { hex: tipHex, height: tip });
      assert.deepEqual(await c.ok(HS, [false]), dictOf(tipHex, tip));
      headersForm = 'dict';
    } else {
      assert.deepEqual(await c.ok(HS), { hex: tipHex, height: tip });
      await c.fails(HS, [true], -32602, /taking at most 0/);
      headersForm = 'raw';
    }

    // ---- headers by height
    const fh = setup.fundedHeight;
    if (c.has('blockchain.block.get_header')) {
      const genesis = await c.ok('blockchain.block.get_header', [0]);
      assert.deepEqual(genesis, dictOf(REGTEST_GENESIS.header, 0), 'the real regtest genesis block');
      for (const h of [fh, tip]) assert.deepEqual(await c.ok('blockchain.block.get_header', [h]), dictOf(sim.headerHex(h), h));
      await c.fails('blockchain.block.get_header', [tip + 10], 1, /out of range/);
      await c.fails('blockchain.block.get_header', [-1], 1, /^invalid height: /);
    }
    if (c.has('blockchain.block.get_chunk')) {
      const chunk = (await c.ok('blockchain.block.get_chunk', [0])) as string;
      const expected = Array.from({ length: tip + 1 }, (_, h) => sim.headerHex(h)).join('');
      assert.equal(chunk.length, (tip + 1) * 160, 'chunk 0 holds every header up to the tip');
      assert.equal(chunk, expected);
      assert.equal(chunk.slice(0, 160), REGTEST_GENESIS.header);
      assert.equal(await c.ok('blockchain.block.get_chunk', [1]), '', 'chunk 1 starts at 2016, past the tip');
      await c.fails('blockchain.block.get_chunk', ['0'], 1, /^invalid index: /);
    }
    const blockHashes = Array.from({ length: tip + 1 }, (_, h) => blockHashOf(sim.headerHex(h)));
    assert.equal(blockHashes[0], REGTEST_GENESIS.hash);
    if (c.has('blockchain.block.header')) {
      assert.equal(await c.ok('blockchain.block.header', [fh]), sim.headerHex(fh));
      if (v === '1.3') {
        await c.fails('blockchain.block.header', [3, tip], -32602, /taking at most 1/);
      } else {
        const proof = (await c.ok('blockchain.block.header', [3, tip])) as { header: string; root: string; branch: string[] };
        assert.deepEqual(Object.keys(proof).sort(), ['branch', 'header', 'root']);
        assert.equal(proof.header, sim.headerHex(3));
        assert.equal(proof.root, merkleRoot(blockHashes), 'root of every block hash up to cp_height');
        assert.equal(rootFromBranch(blockHashes[3]!, proof.branch, 3), proof.root, 'the branch proves header 3');
      }
      await c.fails('blockchain.block.header', [-5], 1, /^invalid height: /);
    }
    if (c.has('blockchain.block.headers')) {
      const r = (await c.ok('blockchain.block.headers', [0, 5])) as Record<string, unknown>;
      const first5 = [0, 1, 2, 3, 4].map((h) => sim.headerHex(h));
      if (v === '1.6') assert.deepEqual(r, { count: 5, headers: first5, max: 2016 });
      else assert.deepEqual(r, { count: 5, hex: first5.join(''), max: 2016 });
      const short = (await c.ok('blockchain.block.headers', [tip - 1, 10])) as { count: number };
      assert.equal(short.count, 2, 'truncated at the tip');
      if (v === '1.2' || v === '1.3') {
        await c.fails('blockchain.block.headers', [1, 3, tip], -32602, /taking at most 2/);
      } else {
        const cp = (await c.ok('blockchain.block.headers', [1, 3, tip])) as { count: number; root: string; branch: string[] };
        assert.equal(cp.count, 3);
        assert.equal(cp.root, merkleRoot(blockHashes));
        assert.equal(rootFromBranch(blockHashes[3]!, cp.branch, 3), cp.root, 'the branch proves the last header returned');
      }
      await c.fails('blockchain.block.headers', [0], -32602, /requires 2/);
    }

    // ---- fees (the simulator's estimates are fixed per target: 2 blocks -> 0.00017)
    assert.equal(await c.ok('blockchain.estimatefee', [2]), 0.00017);
    await c.fails('blockchain.estimatefee', [-2], 1, /^invalid number: /);
    if (v === '1.6') {
      assert.equal(await c.ok('blockchain.estimatefee', [2, 'ECONOMICAL']), 0.00017, 'mode is sent only to upstreams that take it');
      assert.equal(await c.ok('blockchain.estimatefee', { number: 2, mode: 'conservative' }), 0.00017);
      await c.fails('blockchain.estimatefee', [2, 'FASTEST'], 1, /^invalid mode: /);
    } else {
      await c.fails('blockchain.estimatefee', [2, 'ECONOMICAL'], -32602, /taking at most 1/);
    }
    if (c.has('blockchain.relayfee')) assert.equal(await c.ok('blockchain.relayfee'), 0.00001);
    if (c.has('mempool.get_info')) {
      assert.deepEqual(await c.ok('mempool.get_info'), { mempoolminfee: 0.00001, minrelaytxfee: 0.00001, incrementalrelayfee: 0.00001 });
    }

    // ---- broadcast a transaction the simulator has never seen
    const BC = 'blockchain.transaction.broadcast';
    assert.equal(await c.ok(BC, [freshRaw]), freshTxid);
    assert.deepEqual(
      sim.history(fresh.scripthash).map(({ tx_hash, height }) => ({ tx_hash, height })),
      [{ tx_hash: freshTxid, height: 0 }],
      'the simulator has it in its mempool, paying this test\'s own address',
    );
    // A confirmed transaction's inputs are spent: the daemon refuses it.
    const confirmedRaw = sim.rawTransaction(setup.paid.p2pkh!)!;
    if (v === '1.0') {
      const text = await c.ok(BC, [confirmedRaw]);
      assert.equal(typeof text, 'string', '1.0 returns the refusal as the result');
      assert.notEqual(text, setup.paid.p2pkh);
      assert.match(text as string, /^the transaction was rejected by network rules\.\n\n\S/);
      assert.doesNotMatch(text as string, /\[[0-9a-f]+\]/, 'without echoing the raw transaction');
    } else {
      const e = await c.fails(BC, [confirmedRaw], 1, /^the transaction was rejected by network rules\.\n\n\S/);
      assert.doesNotMatch(e.message, /\[[0-9a-f]+\]/);
    }
    await c.fails(BC, ['zz'], 1, /^invalid raw_tx: /);

    if (c.has('blockchain.transaction.broadcast_package')) {
      const BP = 'blockchain.transaction.broadcast_package';
      if (protocolMax === '1.6') {
        assert.deepEqual(await c.ok(BP, [[pkgRaw]]), { success: true });
        assert.equal(sim.history(pkg.scripthash)[0]?.tx_hash, pkgTxid);
      } else {
        await c.fails(BP, [[pkgRaw]], -100, /needs an upstream that speaks protocol 1\.6/);
        assert.deepEqual(sim.history(pkg.scripthash), [], 'nothing reached the 1.4 upstream');
      }
      await c.fails(BP, [[]], 1, /^invalid raw_txs: /);
      await c.fails(BP, [['zz']], 1, /^invalid raw_txs\[0\]: /);
    }

    // ---- transactions
    const TG = 'blockchain.transaction.get';
    assert.equal(await c.ok(TG, [freshTxid]), freshRaw);
    if (v === '1.0') {
      assert.equal(await c.ok(TG, [freshTxid, 12345]), freshRaw, '1.0: the height argument is ignored');
    } else if (v === '1.1') {
      await c.fails(TG, [freshTxid, true], -32602, /taking at most 1/);
    } else {
      const verbose = (await c.ok(TG, [freshTxid, true])) as Record<string, unknown>;
      assert.equal(verbose.txid, freshTxid);
      assert.equal(verbose.hex, freshRaw);
    }
    await c.fails(TG, ['ee'.repeat(32)], 2, /No such mempool or blockchain transaction/);
    await c.fails(TG, ['xyz'], 1, /^invalid tx_hash: /);

    const blockTxids = sim.blockTxids(fh);
    const pos = blockTxids.indexOf(setup.paid.p2pkh!);
    assert.ok(pos > 0);
    const fundedMerkleRoot = dictOf(sim.headerHex(fh), fh).merkle_root;
    assert.equal(merkleRoot(blockTxids), fundedMerkleRoot);
    const merkle = (await c.ok('blockchain.transaction.get_merkle', [setup.paid.p2pkh, fh])) as { block_height: number; merkle: string[]; pos: number };
    assert.equal(merkle.block_height, fh);
    assert.equal(merkle.pos, pos);
    assert.equal(rootFromBranch(setup.paid.p2pkh!, merkle.merkle, merkle.pos), fundedMerkleRoot, 'the branch leads to the header\'s merkle root');
    await c.fails('blockchain.transaction.get_merkle', [setup.paid.p2pkh, fh - 1], 1, /not in block/);
    await c.fails('blockchain.transaction.get_merkle', [setup.paid.p2pkh], -32602, /requires 2/);
    if (c.has('blockchain.transaction.id_from_pos')) {
      assert.equal(await c.ok('blockchain.transaction.id_from_pos', [fh, pos]), setup.paid.p2pkh);
      const withProof = (await c.ok('blockchain.transaction.id_from_pos', [fh, pos, true])) as { tx_hash: string; merkle: string[] };
      assert.equal(withProof.tx_hash, setup.paid.p2pkh);
      assert.equal(rootFromBranch(withProof.tx_hash, withProof.merkle, pos), fundedMerkleRoot);
      await c.fails('blockchain.transaction.id_from_pos', [fh, -1], 1, /^invalid tx_pos: /);
    }
    if (c.has('blockchain.utxo.get_address')) {
      const UA = 'blockchain.utxo.get_address';
      for (const kind of ['p2pkh', 'p2wpkh', 'p2tr'] as const) {
        assert.equal(await c.ok(UA, [setup.paid[kind], 0]), vector(kind).address, `the ${kind} payment's output 0`);
      }
      assert.equal(await c.ok(UA, [setup.paid.p2pkh, 99]), null, 'index out of range');
      assert.equal(await c.ok(UA, ['ee'.repeat(32), 0]), null, 'unknown transaction');
      await c.fails(UA, ['zz', 0], 1, /^invalid tx_hash: /);
      await c.fails(UA, [setup.paid.p2pkh, -1], 1, /^invalid index: /);
    }

    // ---- mempool
    if (c.has('mempool.get_fee_histogram')) {
      const histogram = (await c.ok('mempool.get_fee_histogram')) as [number, number][];
      assert.ok(histogram.length > 0, 'the mempool is not empty');
      for (const [fee, vsize] of histogram) assert.ok(fee >= 0 && Number.isInteger(vsize) && vsize > 0);
      for (let i = 1; i < histogram.length; i++) assert.ok(histogram[i - 1]![0] > histogram[i]![0], 'fee rates descend');
    }

    // ---- per-address and per-scripthash queries: the gateway must send the vector's scripthash upstream
    const expectedFor = (kind: AddressVector['kind']): { balance: unknown; confirmed: HistoryEntry; mempool: HistoryEntry[] } => ({
      balance: { confirmed: PAID[kind], unconfirmed: kind === 'p2wpkh' ? MEMPOOL_PAYMENT : 0 },
      confirmed: { tx_hash: setup.paid[kind]!, height: fh },
      mempool: kind === 'p2wpkh' ? [{ tx_hash: setup.mempoolTxid, height: 0 }] : [],
    });
    const checkQueries = async (prefix: 'blockchain.address' | 'blockchain.scripthash', arg: (vec: AddressVector) => string): Promise<void> => {
      for (const vec of REGTEST) {
        const exp = expectedFor(vec.kind);
        assert.deepEqual(await c.ok(`${prefix}.get_balance`, [arg(vec)]), exp.balance, `${prefix} ${vec.kind} balance`);
        const history = (await c.ok(`${prefix}.get_history`, [arg(vec)])) as HistoryEntry[];
        assert.deepEqual(
          history.map(({ tx_hash, height }) => ({ tx_hash, height })),
          [exp.confirmed, ...exp.mempool],
          `${prefix} ${vec.kind} history`,
        );
        const mempool = (await c.ok(`${prefix}.get_mempool`, [arg(vec)])) as HistoryEntry[];
        assert.deepEqual(
          mempool.map(({ tx_hash, height }) => ({ tx_hash, height })),
          exp.mempool,
        );
        for (const e of mempool) assert.ok(Number.isInteger(e.fee) && e.fee! > 0, 'mempool entries carry their fee');
        assert.deepEqual(history.slice(1), mempool, 'get_history ends with get_mempool');
        const utxos = (await c.ok(`${prefix}.listunspent`, [arg(vec)])) as { tx_hash: string; tx_pos: number; height: number; value: number }[];
        const expectedUtxos = [{ tx_hash: exp.confirmed.tx_hash, tx_pos: 0, height: fh, value: PAID[vec.kind] }];
        if (vec.kind === 'p2wpkh') expectedUtxos.push({ tx_hash: setup.mempoolTxid, tx_pos: 0, height: 0, value: MEMPOOL_PAYMENT });
        assert.deepEqual(utxos, expectedUtxos, `${prefix} ${vec.kind} utxos`);
      }
    };
    if (c.has('blockchain.address.get_history')) {
      await checkQueries('blockchain.address', (vec) => vec.address);
      await c.fails('blockchain.address.get_balance', [BITCOIN_ADDRESS], 1, /^invalid address: .* is not a valid regtest address \(.*another network/);
      await c.fails('blockchain.address.get_history', [`${vector('p2wpkh').address.slice(0, -1)}x`], 1, /^invalid address: .*checksum/);
      await c.fails('blockchain.address.listunspent', [vector('p2pkh').scripthash], 1, /^invalid address: /);
    }
    if (c.has('blockchain.scripthash.get_history')) {
      await checkQueries('blockchain.scripthash', (vec) => vec.scripthash);
      await c.fails('blockchain.scripthash.get_balance', [vector('p2pkh').address], 1, /^invalid scripthash: /);
    }

    // ---- subscriptions: the status is recomputed here from get_history
    const subs: { method: string; key: string; vec: AddressVector; historyMethod: string }[] = [];
    if (c.has('blockchain.address.subscribe')) {
      subs.push({ method: 'blockchain.address.subscribe', key: vector('p2wpkh').address, vec: vector('p2wpkh'), historyMethod: 'blockchain.address.get_history' });
    }
    if (c.has('blockchain.scripthash.subscribe')) {
      subs.push({ method: 'blockchain.scripthash.subscribe', key: vector('p2tr').scripthash, vec: vector('p2tr'), historyMethod: 'blockchain.scripthash.get_history' });
    }
    assert.ok(subs.length > 0);
    for (const s of subs) {
      const status = await c.ok(s.method, [s.key]);
      const history = (await c.ok(s.historyMethod, [s.key])) as HistoryEntry[];
      assert.match(String(status), HEX64);
      assert.equal(status, statusOf(history), `${s.method}: status of its get_history`);
      assert.equal(status, sim.status(s.vec.scripthash));
    }
    if (c.has('blockchain.address.subscribe')) await c.fails('blockchain.address.subscribe', ['not-an-address'], 1, /^invalid address: /);
    if (c.has('blockchain.scripthash.subscribe')) await c.fails('blockchain.scripthash.subscribe', ['00'], 1, /^invalid scripthash: /);
    if (c.has('blockchain.scripthash.unsubscribe')) {
      const other = vector('p2sh').scripthash;
      assert.equal(await c.ok('blockchain.scripthash.subscribe', [other]), sim.status(other));
      assert.equal(await c.ok('blockchain.scripthash.unsubscribe', [other]), true);
      assert.equal(await c.ok('blockchain.scripthash.unsubscribe', [other]), false, 'no longer subscribed');
      await c.fails('blockchain.scripthash.unsubscribe', ['zz'], 1, /^invalid scripthash: /);
    }

    // A payment to each subscribed script: one notification each, with the status of the new get_history.
    const since = client.notifications.length;
    for (const s of subs) sim.pay(s.vec.address, 12_345);
    for (const s of subs) {
      const n = await client.waitForNotification(s.method, (p) => p[0] === s.key, { since });
      const history = (await client.request(s.historyMethod, [s.key])) as HistoryEntry[];
      assert.equal(history.length, s.vec.kind === 'p2wpkh' ? 3 : 2, 'the payment is in the history');
      assert.deepEqual(n.params, [s.key, statusOf(history)], `${s.method} notification is [${s.method.includes('address') ? 'address' : 'scripthash'}, status]`);
      assert.equal(n.params[1], sim.status(s.vec.scripthash));
    }

    // A block: numblocks (1.0) and headers in the session's form.
    const beforeBlock = client.notifications.length;
    sim.mine(1);
    const newTip = tip + 1;
    const newHex = sim.headerHex(newTip);
    const hn = await client.waitForNotification(HS, () => true, { since: beforeBlock });
    assert.deepEqual(hn.params, [headersForm === 'dict' ? dictOf(newHex, newTip) : { hex: newHex, height: newTip }]);
    if (c.has('blockchain.numblocks.subscribe')) {
      const nb = await client.waitForNotification('blockchain.numblocks.subscribe', () => true, { since: beforeBlock });
      assert.deepEqual(nb.params, [newTip]);
    } else {
      assert.equal(
        client.notifications.some((n: Notification) => n.method === 'blockchain.numblocks.subscribe'),
        false,
      );
    }
    // The block confirmed the subscribed scripts' mempool payments: their statuses change again.
    for (const s of subs) {
      const n = await client.waitForNotification(s.method, (p) => p[0] === s.key, { since: beforeBlock });
      const history = (await client.request(s.historyMethod, [s.key])) as HistoryEntry[];
      assert.ok(history.every((e) => e.height > 0), 'everything is confirmed');
      assert.deepEqual(n.params, [s.key, statusOf(history)]);
    }

    // ---- "history too large" as Fulcrum words it (-32603, its own text) reaches the wallet as ElectrumX's
    // 10001 "history too large", which Electrum matches; at once, since it is an answer, not an upstream failure.
    const tooLarge = (sh: string): { code: number; message: string } => ({
      code: -32603,
      message: `internal error: History for scripthash ${sh} exceeds max history 125000 with 125001 items!`,
    });
    const big = vector('p2sh');
    sim.failMethod('blockchain.scripthash.get_history', tooLarge(big.scripthash));
    sim.failMethod('blockchain.scripthash.subscribe', tooLarge(big.scripthash));
    const PROMPTLY = 2_000; // the gateway's request timeout is 5 s: a retry-until-deadline would miss this
    const probes: [string, string][] = [];
    if (c.has('blockchain.address.get_history')) probes.push(['blockchain.address.get_history', big.address], ['blockchain.address.subscribe', big.address]);
    if (c.has('blockchain.scripthash.get_history')) probes.push(['blockchain.scripthash.get_history', big.scripthash], ['blockchain.scripthash.subscribe', big.scripthash]);
    for (const [method, arg] of probes) await c.fails(method, [arg], 10001, /^history too large$/, PROMPTLY);
    sim.failMethod('blockchain.scripthash.get_history', null);
    sim.failMethod('blockchain.scripthash.subscribe', null);
    const [historyMethod, historyArg] = probes[0]!;
    assert.equal(((await c.ok(historyMethod, [historyArg])) as HistoryEntry[]).length, 1, 'the upstream still serves');

    // ---- every name the gateway knows that this version does not have: -32601
    for (const name of METHOD_NAMES) {
      if (c.has(name)) continue;
      await c.fails(name, [], -32601, new RegExp(`^unknown method "${name.replace(/\./g, '\\.')}"$`));
    }
    await c.fails('blockchain.scriptpubkey.get_history', [], -32601);

    // ---- and every method of the version was exercised
    assert.deepEqual([...c.used].sort(), methodsAt(v));
  } finally {
    await client?.close();
    await gw?.close();
    await sim.stop();
  }
}

const VERSIONS = ['1.0', '1.1', '1.2', '1.3', '1.4', '1.4.2', '1.6'];

for (const version of VERSIONS) {
  describe(`golden conversation at protocol ${version}`, () => {
    it(`over a 1.6 simulator`, () => converse(version, '1.6'));
    it(`over a 1.4-only simulator`, () => converse(version, '1.4'));
  });
}

// SPDX-License-Identifier: MIT
/**
 * The shapes of old protocol versions (src/routing/legacy.ts):
 *
 *  - deserialized header dicts (1.0-1.3) against the known headers of
 *    test/vectors/chain.json, parsed here byte by byte and checked by hashing
 *    the dict back into the vector's block hash;
 *  - which form blockchain.headers.subscribe takes at each version and raw;
 *  - the address an output pays (1.0's utxo.get_address) for transactions
 *    serialized by hand here with the vectors' scripts;
 *  - ElectrumX, Fulcrum and electrs error texts normalised to one form.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { networkByName, type NetworkName } from '../../src/config/networks.js';
import { ErrorCode, RpcError } from '../../src/protocol/jsonrpc.js';
import { parseVersion } from '../../src/protocol/version.js';
import { broadcastResultV10, formatTip, headerDict, headersForm, normalizeUpstreamError, outputAddress, type HeaderDict } from '../../src/routing/legacy.js';
import { loadVectors } from '../helpers/vectors.js';

interface HeaderVector {
  network: string;
  height: number;
  header: string;
  hash: string;
}
interface AddressVector {
  network: NetworkName;
  kind: string;
  address: string;
  script: string;
}

const chain = loadVectors<{ headers: HeaderVector[] }>('chain.json');
const addresses = loadVectors<{ vectors: AddressVector[] }>('addresses.json');

const sha256d = (b: Buffer): Buffer => createHash('sha256').update(createHash('sha256').update(b).digest()).digest();
const reversedHex = (b: Buffer): string => Buffer.from(b).reverse().toString('hex');

/** The deserialized header as ElectrumX built it, read here straight from the bytes. */
function parseByHand(hex: string, height: number): HeaderDict {
  const b = Buffer.from(hex, 'hex');
  assert.equal(b.length, 80);
  return {
    block_height: height,
    version: b.readUInt32LE(0),
    prev_block_hash: reversedHex(b.subarray(4, 36)),
    merkle_root: reversedHex(b.subarray(36, 68)),
    timestamp: b.readUInt32LE(68),
    bits: b.readUInt32LE(72),
    nonce: b.readUInt32LE(76),
  };
}

/** The 80 bytes a dict describes, so hashing them must give the vector's block hash. */
function serializeByHand(d: HeaderDict): Buffer {
  const b = Buffer.alloc(80);
  b.writeUInt32LE(d.version, 0);
  Buffer.from(d.prev_block_hash, 'hex').reverse().copy(b, 4);
  Buffer.from(d.merkle_root, 'hex').reverse().copy(b, 36);
  b.writeUInt32LE(d.timestamp, 68);
  b.writeUInt32LE(d.bits, 72);
  b.writeUInt32LE(d.nonce, 76);
  return b;
}

describe('headerDict: the deserialized header of protocol 1.0-1.3', () => {
  it('has exactly the spec keys for every known header, and hashes back to the vector hash', () => {
    assert.ok(chain.headers.length >= 6);
    for (const v of chain.headers) {
      const d = headerDict(v.header, v.height);
      assert.deepEqual(Object.keys(d).sort(), ['bits', 'block_height', 'merkle_root', 'nonce', 'prev_block_hash', 'timestamp', 'version']);
      assert.deepEqual(d, parseByHand(v.header, v.height), `${v.network} ${v.height}`);
      const bytes = serializeByHand(d);
      assert.equal(bytes.toString('hex'), v.header.toLowerCase());
      // The block hash is sha256d on litecoin too (only its proof-of-work hash is scrypt).
      assert.equal(reversedHex(sha256d(bytes)), v.hash, `${v.network} ${v.height}`);
    }
  });

  it('the bitcoin and regtest genesis blocks read as everyone knows them', () => {
    const bitcoin = chain.headers.find((h) => h.network === 'bitcoin' && h.height === 0)!;
    assert.deepEqual(headerDict(bitcoin.header, 0), {
      block_height: 0,
      version: 1,
      prev_block_hash: '0'.repeat(64),
      merkle_root: '4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b',
      timestamp: 1231006505,
      bits: 486604799,
      nonce: 2083236893,
    });
    const regtest = chain.headers.find((h) => h.network === 'regtest' && h.height === 0)!;
    assert.deepEqual(headerDict(regtest.header, 0), {
      block_height: 0,
      version: 1,
      prev_block_hash: '0'.repeat(64),
      merkle_root: '4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b',
      timestamp: 1296688602,
      bits: 0x207fffff,
      nonce: 2,
    });
  });

  it('versions with the top bit set stay unsigned, as ElectrumX reports them', () => {
    const v = chain.headers.find((h) => h.network === 'bitcoin')!;
    const b = Buffer.from(v.header, 'hex');
    b.writeUInt32LE(0xe0000000, 0);
    assert.equal(headerDict(b.toString('hex'), 5).version, 0xe0000000);
  });

  it('refuses what is not an 80-byte header', () => {
    assert.throws(() => headerDict('00'.repeat(79), 1));
    assert.throws(() => headerDict('zz'.repeat(80), 1));
  });
});

describe('headersForm: dict or {hex, height} per version and raw argument', () => {
  const form = (version: string, raw?: unknown): string => headersForm(parseVersion(version)!, raw);

  it('1.0 and 1.1 always get the deserialized header', () => {
    for (const raw of [undefined, null, true, false]) {
      assert.equal(form('1.0', raw), 'dict');
      assert.equal(form('1.1', raw), 'dict');
    }
  });

  it('1.2: raw defaults to false', () => {
    assert.equal(form('1.2'), 'dict');
    assert.equal(form('1.2', null), 'dict');
    assert.equal(form('1.2', false), 'dict');
    assert.equal(form('1.2', true), 'raw');
    assert.equal(form('1.2', 1), 'raw');
    assert.equal(form('1.2', 0), 'dict');
  });

  it('1.3: raw defaults to true', () => {
    assert.equal(form('1.3'), 'raw');
    assert.equal(form('1.3', null), 'raw');
    assert.equal(form('1.3', true), 'raw');
    assert.equal(form('1.3', false), 'dict');
    assert.equal(form('1.3', 0), 'dict');
  });

  it('1.4 and later: always raw (the argument no longer exists)', () => {
    for (const v of ['1.4', '1.4.1', '1.4.2', '1.6', '2.0']) {
      for (const raw of [undefined, true, false]) assert.equal(form(v, raw), 'raw', `${v} ${String(raw)}`);
    }
  });

  it('formatTip gives {hex, height} or the dict of the same header', () => {
    const v = chain.headers.find((h) => h.network === 'regtest')!;
    const tip = { hex: v.header, height: 0 };
    assert.deepEqual(formatTip('raw', tip), { hex: v.header, height: 0 });
    assert.deepEqual(formatTip('dict', tip), parseByHand(v.header, 0));
  });
});

// ---- transactions serialized by hand ----

function varint(n: number): Buffer {
  assert.ok(n < 0xfd);
  return Buffer.from([n]);
}

/** A one-input transaction paying `scripts` (1000 sats each), legacy or segwit serialization. */
function txPaying(scripts: Buffer[], segwit: boolean): string {
  const parts: Buffer[] = [Buffer.from('02000000', 'hex')];
  if (segwit) parts.push(Buffer.from([0x00, 0x01]));
  parts.push(varint(1), Buffer.alloc(32, 0x11), Buffer.from('01000000', 'hex'), varint(0), Buffer.from('ffffffff', 'hex'));
  parts.push(varint(scripts.length));
  for (const s of scripts) {
    const value = Buffer.alloc(8);
    value.writeBigUInt64LE(1000n);
    parts.push(value, varint(s.length), s);
  }
  if (segwit) parts.push(varint(2), varint(72), Buffer.alloc(72, 0x30), varint(33), Buffer.alloc(33, 0x02));
  parts.push(Buffer.alloc(4));
  return Buffer.concat(parts).toString('hex');
}

describe('outputAddress: the address an output pays (1.0 blockchain.utxo.get_address)', () => {
  const byNetwork = new Map<NetworkName, AddressVector[]>();
  for (const v of addresses.vectors) byNetwork.set(v.network, [...(byNetwork.get(v.network) ?? []), v]);

  for (const [name, vectors] of byNetwork) {
    it(`${name}: each output's address is the vector's (${vectors.map((v) => v.kind).join(', ')})`, () => {
      const network = networkByName(name);
      for (const segwit of [false, true]) {
        const raw = txPaying(
          vectors.map((v) => Buffer.from(v.script, 'hex')),
          segwit,
        );
        vectors.forEach((v, i) => assert.equal(outputAddress(raw, i, network), v.address, `${v.kind} (segwit serialization: ${segwit})`));
      }
    });
  }

  it('null for an index past the outputs and for scripts without an address', () => {
    const regtest = networkByName('regtest');
    const opReturn = Buffer.from('6a0568656c6c6f', 'hex');
    const bareMultisig = Buffer.from(`5121${'02'.repeat(33)}51ae`, 'hex');
    const p2pk = Buffer.from(`21${'03'.repeat(33)}ac`, 'hex');
    const raw = txPaying([opReturn, bareMultisig, p2pk], false);
    assert.equal(outputAddress(raw, 0, regtest), null);
    assert.equal(outputAddress(raw, 1, regtest), null);
    assert.equal(outputAddress(raw, 2, regtest), null);
    assert.equal(outputAddress(raw, 3, regtest), null);
    assert.equal(outputAddress(raw, 1000, regtest), null);
  });
});

describe('normalizeUpstreamError: one wording whatever the upstream', () => {
  const BROADCAST = 'blockchain.transaction.broadcast';
  const PREFIX = 'the transaction was rejected by network rules.';
  const rawTx = `0200000001${'ab'.repeat(100)}`;

  function same(err: RpcError, code: number, message: string): void {
    assert.ok(err instanceof RpcError);
    assert.equal(err.code, code);
    assert.equal(err.message, message);
  }

  it('ElectrumX broadcast reject: code 1, the reason, without the echoed raw transaction', () => {
    const e = new RpcError(ErrorCode.BAD_REQUEST, `${PREFIX}\n\nbad-txns-inputs-missingorspent\n[${rawTx}]`);
    same(normalizeUpstreamError(BROADCAST, e), 1, `${PREFIX}\n\nbad-txns-inputs-missingorspent`);
    const conflict = new RpcError(1, `${PREFIX}\n\n258: txn-mempool-conflict\n[${rawTx}]`);
    same(normalizeUpstreamError(BROADCAST, conflict), 1, `${PREFIX}\n\n258: txn-mempool-conflict`);
  });

  it('Fulcrum broadcast reject (same prefix, trailing newline, no raw tx): the same text', () => {
    const e = new RpcError(1, `${PREFIX}\n\nbad-txns-inputs-missingorspent\n`);
    same(normalizeUpstreamError(BROADCAST, e), 1, `${PREFIX}\n\nbad-txns-inputs-missingorspent`);
  });

  it('electrs broadcast reject (code 2, the bare bitcoind message): code 1 and the ElectrumX prefix', () => {
    same(normalizeUpstreamError(BROADCAST, new RpcError(ErrorCode.DAEMON_ERROR, 'bad-txns-inputs-missingorspent')), 1, `${PREFIX}\n\nbad-txns-inputs-missingorspent`);
    // electrs-esplora (Blockstream) words it after the daemon method.
    same(
      normalizeUpstreamError(BROADCAST, new RpcError(2, 'sendrawtransaction RPC error -26: txn-mempool-conflict')),
      1,
      `${PREFIX}\n\nsendrawtransaction RPC error -26: txn-mempool-conflict`,
    );
    // electrs' own (non-daemon) broadcast failure is code 1 without the prefix.
    same(normalizeUpstreamError(BROADCAST, new RpcError(1, 'failed to broadcast transaction')), 1, `${PREFIX}\n\nfailed to broadcast transaction`);
  });

  it('the three upstreams\' texts for one reject end up identical', () => {
    const reason = 'min relay fee not met, 100 < 141';
    const forms = [
      new RpcError(1, `${PREFIX}\n\n${reason}\n[${rawTx}]`),
      new RpcError(1, `${PREFIX}\n\n${reason}\n`),
      new RpcError(2, reason),
    ].map((e) => normalizeUpstreamError(BROADCAST, e));
    for (const f of forms) same(f, 1, `${PREFIX}\n\n${reason}`);
  });

  it('other broadcast failures (params, unavailable, timeouts) and other methods are left alone', () => {
    for (const e of [new RpcError(-32602, 'invalid raw_tx: x'), new RpcError(ErrorCode.UNAVAILABLE, 'no upstream server could answer; try again later'), new RpcError(-102, 'server busy - request timed out')]) {
      assert.equal(normalizeUpstreamError(BROADCAST, e), e);
    }
    const daemon = new RpcError(2, "daemon error: DaemonError({'code': -5, 'message': 'No such mempool or blockchain transaction.'})");
    assert.equal(normalizeUpstreamError('blockchain.transaction.get', daemon), daemon);
    const unrelated = new RpcError(1, 'history of this scripthash is unavailable');
    assert.equal(normalizeUpstreamError('blockchain.scripthash.get_history', unrelated), unrelated);
  });

  it('"history too large" in every upstream\'s form becomes ElectrumX\'s code 10001 and exact text', () => {
    const sh = 'ab'.repeat(32);
    const forms = [
      new RpcError(10001, 'history too large'), // ElectrumX
      new RpcError(1, 'Too many history entries'), // electrs-esplora (Blockstream)
      new RpcError(-32603, `internal error: History for scripthash ${sh} exceeds max history 125000 with 125001 items!`), // Fulcrum
      new RpcError(-32603, `internal error: Unspent UTXOs for scripthash ${sh} exceeds max history 125000 with 125001 items!`), // Fulcrum listunspent
    ];
    for (const method of ['blockchain.scripthash.get_history', 'blockchain.scripthash.subscribe', 'blockchain.scripthash.listunspent']) {
      for (const e of forms) same(normalizeUpstreamError(method, e), 10001, 'history too large');
    }
  });
});

describe('broadcastResultV10: protocol 1.0 returns a refused broadcast as the result text', () => {
  it('the (normalised) error message is the result', () => {
    const e = normalizeUpstreamError('blockchain.transaction.broadcast', new RpcError(2, '258: txn-mempool-conflict'));
    assert.equal(broadcastResultV10(e), 'the transaction was rejected by network rules.\n\n258: txn-mempool-conflict');
    assert.doesNotMatch(broadcastResultV10(e), /^[0-9a-f]{64}$/);
  });
});

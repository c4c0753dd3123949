// SPDX-License-Identifier: MIT
/**
 * Address test vectors through the gateway's blockchain.address.* methods
 * (protocol 1.2), one gateway per network (bitcoin, testnet, regtest,
 * litecoin, litecoin-testnet, litecoin-regtest) in front of a scripted
 * upstream that records what it is asked. For every P2PKH, P2SH, P2WPKH, P2WSH
 * and P2TR vector (test/vectors/addresses.json, computed by Electrum 4.3.4 and
 * Litecoin Core) the scripthash the gateway sends upstream must be the
 * vector's. Invalid addresses (the vectors' own, another network's prefix, a
 * broken checksum, mixed case, not a string) get error 1 (BAD_REQUEST), never
 * reach the upstream, and leave the session working.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { describe, it } from 'node:test';
import { bech32m } from 'bech32';
import { networkByName, type NetworkName } from '../../src/config/networks.js';
import { startTestGateway } from '../helpers/gateway.js';
import { onLines } from '../helpers/lines.js';
import { RpcCallError, RpcClient } from '../helpers/rpc-client.js';
import { loadVectors } from '../helpers/vectors.js';
import { untilAnswers } from '../helpers/wallet-session.js';

interface AddressVector {
  network: NetworkName;
  kind: string;
  address: string;
  script: string;
  scripthash: string;
  derived?: string;
}

const FILE = loadVectors<{ vectors: AddressVector[]; invalid: { network: NetworkName; address: string; why: string }[] }>('addresses.json');
const CHAIN = loadVectors<{ headers: { network: string; height: number; header: string; hash: string }[] }>('chain.json');

/**
 * Litecoin has no P2TR vector in the file: the bitcoin P2TR vector's witness
 * program under litecoin's HRP pays the same script, so it has the same
 * (Electrum-computed) scripthash.
 */
function litecoinP2tr(): AddressVector {
  const btc = FILE.vectors.find((v) => v.network === 'bitcoin' && v.kind === 'p2tr')!;
  const program = Buffer.from(btc.script, 'hex').subarray(2);
  return {
    network: 'litecoin',
    kind: 'p2tr',
    address: bech32m.encode('ltc', [1, ...bech32m.toWords(program)]),
    script: btc.script,
    scripthash: btc.scripthash,
    derived: 'bitcoin p2tr program under ltc',
  };
}

const VECTORS = [...FILE.vectors, litecoinP2tr()];
const NETWORKS = [...new Set(VECTORS.map((v) => v.network))];

// ---------------------------------------------------------------- genesis headers, built and checked here

const sha256d = (b: Buffer): Buffer => createHash('sha256').update(createHash('sha256').update(b).digest()).digest();

function header(merkleRoot: string, time: number, bits: number, nonce: number): string {
  const b = Buffer.alloc(80);
  b.writeUInt32LE(1, 0);
  Buffer.from(merkleRoot, 'hex').reverse().copy(b, 36);
  b.writeUInt32LE(time, 68);
  b.writeUInt32LE(bits, 72);
  b.writeUInt32LE(nonce, 76);
  return b.toString('hex');
}

const BTC_MERKLE = '4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b';
const LTC_MERKLE = '97ddfbbae6be97fd6cdf3e7ca13232a3afff2353e29badfab7f73011edd4ced9';
const fromVectors = (network: string): string => CHAIN.headers.find((h) => h.network === network && h.height === 0)!.header;

/** Block 0 of each network: the upstream's tip, so the gateway's chain tracker anchors on a real header. */
const GENESIS: Partial<Record<NetworkName, string>> = {
  bitcoin: fromVectors('bitcoin'),
  regtest: fromVectors('regtest'),
  'litecoin-regtest': fromVectors('litecoin-regtest'),
  testnet: header(BTC_MERKLE, 1296688602, 0x1d00ffff, 414098458),
  litecoin: header(LTC_MERKLE, 1317972665, 0x1e0ffff0, 2084524493),
  'litecoin-testnet': header(LTC_MERKLE, 1486949366, 0x1e0ffff0, 293345),
};

// ---------------------------------------------------------------- a scripted upstream that records requests

/** Answers derived from the scripthash, so a wallet's answer shows which scripthash was asked. */
const balanceOf = (sh: string): { confirmed: number; unconfirmed: number } => ({ confirmed: parseInt(sh.slice(0, 6), 16), unconfirmed: -parseInt(sh.slice(6, 10), 16) });
const historyOf = (sh: string): { tx_hash: string; height: number }[] => [{ tx_hash: sh, height: 0 }];

class RecordingUpstream {
  readonly requests: { method: string; params: unknown[] }[] = [];
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
    private readonly network: NetworkName,
  ) {}

  static async start(network: NetworkName): Promise<RecordingUpstream> {
    let self: RecordingUpstream | null = null;
    const server = net.createServer((s) => self!.accept(s));
    await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
    self = new RecordingUpstream(server, (server.address() as net.AddressInfo).port, network);
    return self;
  }

  get host(): string {
    return '127.0.0.1';
  }

  /** Scripthash requests received since index `from`. */
  scripthashRequests(from = 0): { method: string; params: unknown[] }[] {
    return this.requests.slice(from).filter((r) => r.method.startsWith('blockchain.scripthash.'));
  }

  private answer(method: string, params: unknown[]): { result: unknown } | { error: { code: number; message: string } } {
    const sh = String(params[0]);
    switch (method) {
      case 'server.version':
        return { result: ['RecordingUpstream 1.0', '1.4'] };
      case 'server.features':
        return {
          result: { genesis_hash: networkByName(this.network).genesisHash, hosts: {}, protocol_min: '1.4', protocol_max: '1.4', hash_function: 'sha256', server_version: 'RecordingUpstream 1.0', pruning: null },
        };
      case 'server.ping':
        return { result: null };
      case 'blockchain.headers.subscribe':
        return { result: { height: 0, hex: GENESIS[this.network] } };
      case 'blockchain.block.headers':
        return { result: params[0] === 0 && Number(params[1]) > 0 ? { count: 1, hex: GENESIS[this.network], max: 2016 } : { count: 0, hex: '', max: 2016 } };
      case 'blockchain.scripthash.get_balance':
        return { result: balanceOf(sh) };
      case 'blockchain.scripthash.get_history':
        return { result: historyOf(sh) };
      case 'blockchain.scripthash.get_mempool':
        return { result: [{ ...historyOf(sh)[0], fee: 1000 }] };
      case 'blockchain.scripthash.listunspent':
        return { result: [{ tx_hash: sh, tx_pos: 0, height: 0, value: balanceOf(sh).confirmed }] };
      case 'blockchain.scripthash.subscribe':
        return { result: createHash('sha256').update(`${sh}:0:`).digest('hex') };
      default:
        return { error: { code: -32601, message: `unknown method "${method}"` } };
    }
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    onLines(socket, (line) => {
      const msg = JSON.parse(line) as { id?: unknown; method: string; params?: unknown[] };
      const params = Array.isArray(msg.params) ? msg.params : [];
      this.requests.push({ method: msg.method, params });
      if (msg.id === undefined || msg.id === null) return;
      socket.write(`${JSON.stringify({ jsonrpc: '2.0', id: msg.id, ...this.answer(msg.method, params) })}\n`);
    });
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

// ---------------------------------------------------------------- the tests

const ADDRESS_METHODS = ['get_balance', 'get_history', 'get_mempool', 'listunspent', 'subscribe'] as const;
const BECH32_CHARS = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const BASE58_CHARS = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

const isSegwit = (v: AddressVector): boolean => v.address.toLowerCase().startsWith(`${networkByName(v.network).address.bech32Hrp}1`);

/** The address with its last character replaced, so its checksum no longer matches. */
function brokenChecksum(v: AddressVector): string {
  const last = v.address.slice(-1);
  const alphabet = isSegwit(v) ? BECH32_CHARS : BASE58_CHARS;
  const replacement = alphabet[(alphabet.indexOf(last) + 1) % alphabet.length]!;
  return v.address.slice(0, -1) + replacement;
}

async function expectInvalidParams(client: RpcClient, method: string, address: unknown, what: string): Promise<void> {
  try {
    const result = await client.request(method, [address]);
    assert.fail(`${what}: ${method}(${JSON.stringify(address)}) answered ${JSON.stringify(result)}`);
  } catch (err) {
    assert.ok(err instanceof RpcCallError, `${what}: ${String(err)}`);
    assert.equal(err.code, 1, `${what}: ${err.message}`);
    assert.match(err.message, /^invalid address: /, what);
  }
}

describe('address vectors through blockchain.address.* (protocol 1.2)', () => {
  it('covers bitcoin, testnet, regtest and litecoin with every address kind', () => {
    for (const network of ['bitcoin', 'testnet', 'regtest', 'litecoin'] as const) {
      const kinds = VECTORS.filter((v) => v.network === network).map((v) => v.kind).sort();
      assert.deepEqual(kinds, ['p2pkh', 'p2sh', 'p2tr', 'p2wpkh', 'p2wsh'], network);
    }
    for (const [name, hex] of Object.entries(GENESIS)) {
      assert.equal(Buffer.from(sha256d(Buffer.from(hex, 'hex'))).reverse().toString('hex'), networkByName(name).genesisHash, `${name} genesis header`);
    }
  });

  for (const network of NETWORKS) {
    const vectors = VECTORS.filter((v) => v.network === network);
    it(`${network}: ${vectors.map((v) => v.kind).join(', ')} send the vector's scripthash upstream; invalid addresses get error 1`, async () => {
      const upstream = await RecordingUpstream.start(network);
      const gw = await startTestGateway({ upstreams: [upstream], network });
      let client: RpcClient | null = null;
      try {
        client = await RpcClient.connect(gw.port);
        const [, version] = (await client.request('server.version', ['address-vectors', '1.2'])) as [string, string];
        assert.equal(version, '1.2');
        const first = vectors[0]!;
        await untilAnswers(client, 'blockchain.address.get_balance', [first.address], 20);

        for (const v of vectors) {
          const label = `${network} ${v.kind} ${v.address}${v.derived ? ` (${v.derived})` : ''}`;
          for (const m of ADDRESS_METHODS) {
            const from = upstream.requests.length;
            const result = await client.request(`blockchain.address.${m}`, [v.address]);
            const sent = upstream.scripthashRequests(from);
            if (m === 'subscribe' && sent.length === 0) {
              // Only the first subscription to a scripthash goes upstream; later ones share it.
              assert.ok(upstream.requests.some((r) => r.method === 'blockchain.scripthash.subscribe' && r.params[0] === v.scripthash), label);
            } else {
              assert.ok(sent.some((r) => r.method === `blockchain.scripthash.${m}`), `${label}: ${m} went upstream as blockchain.scripthash.${m}`);
            }
            for (const r of sent) assert.deepEqual(r.params, [v.scripthash], `${label}: ${r.method}`);
            // And the answer is the one for that scripthash.
            switch (m) {
              case 'get_balance':
                assert.deepEqual(result, balanceOf(v.scripthash), label);
                break;
              case 'get_history':
                assert.deepEqual(result, historyOf(v.scripthash), label);
                break;
              case 'get_mempool':
                assert.deepEqual(result, [{ tx_hash: v.scripthash, height: 0, fee: 1000 }], label);
                break;
              case 'listunspent':
                assert.deepEqual(result, [{ tx_hash: v.scripthash, tx_pos: 0, height: 0, value: balanceOf(v.scripthash).confirmed }], label);
                break;
              case 'subscribe':
                assert.equal(result, createHash('sha256').update(`${v.scripthash}:0:`).digest('hex'), label);
                break;
            }
          }
          if (isSegwit(v)) {
            // BIP173: an all-uppercase bech32 address is the same address.
            const from = upstream.requests.length;
            assert.deepEqual(await client.request('blockchain.address.get_balance', [v.address.toUpperCase()]), balanceOf(v.scripthash), `${label} in upper case`);
            assert.deepEqual(upstream.scripthashRequests(from).map((r) => r.params), [[v.scripthash]]);
          }
        }

        // Invalid addresses: error 1 (ElectrumX's BAD_REQUEST), nothing sent upstream, the session goes on.
        const before = upstream.scripthashRequests().length;
        const bad: [unknown, string][] = [];
        for (const inv of FILE.invalid.filter((i) => i.network === network)) bad.push([inv.address, `vector: ${inv.why}`]);
        const hrp = networkByName(network).address.bech32Hrp;
        for (const other of VECTORS.filter((o) => o.network !== network && isSegwit(o))) {
          if (networkByName(other.network).address.bech32Hrp !== hrp) bad.push([other.address, `wrong HRP (${other.network} ${other.kind})`]);
        }
        for (const v of vectors) bad.push([brokenChecksum(v), `wrong checksum (${v.kind})`]);
        for (const v of vectors.filter(isSegwit)) {
          const mixed = v.address.slice(0, -4) + v.address.slice(-4).toUpperCase();
          if (mixed !== v.address && /[A-Z]/.test(mixed)) bad.push([mixed, `mixed case (${v.kind})`]);
        }
        bad.push([42, 'a number'], [null, 'null'], [[first.address], 'a list'], ['', 'empty'], [first.scripthash, 'a scripthash'], ['x'.repeat(5000), 'very long']);
        assert.ok(bad.length >= vectors.length * 2);
        for (const [address, why] of bad) {
          for (const m of ADDRESS_METHODS) await expectInvalidParams(client, `blockchain.address.${m}`, address, `${network}: ${why}`);
        }
        assert.equal(upstream.scripthashRequests().length, before, 'no invalid address reached the upstream');
        assert.equal(client.isClosed, false, 'the session is still open');
        assert.equal(await client.request('server.ping'), null);
        assert.deepEqual(await client.request('blockchain.address.get_balance', [first.address]), balanceOf(first.scripthash), 'and still answers');
      } finally {
        await client?.close();
        await gw.close();
        await upstream.stop();
      }
    });
  }
});

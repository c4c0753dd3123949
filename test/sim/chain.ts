// SPDX-License-Identifier: MIT
/**
 * The simulator's blockchain: a Bitcoin regtest chain grown from the real
 * regtest genesis block, with real headers (proof of work ground against
 * 0x207fffff), real signed transactions, a UTXO set, a mempool with bitcoind's
 * main acceptance rules, per-scripthash histories as ElectrumX indexes them,
 * and reorgs. No sockets here: server.ts serves this over the Electrum protocol.
 */
import { NETWORKS, type Network } from '../../src/config/networks.js';
import { addressToScript, scriptToAddress, scriptToScripthash } from '../../src/protocol/address.js';
import { fromDisplayHex, sha256d, toDisplayHex } from '../../src/protocol/bitcoin/hash.js';
import { bitsToTarget, blockHash, serializeHeader } from '../../src/protocol/bitcoin/header.js';
import { merkleBranchAndRoot, merkleRoot } from '../../src/protocol/bitcoin/merkle.js';
import {
  hasWitness,
  isCoinbase,
  parseTransaction,
  serializeTransaction,
  txid as txidOf,
  weight as weightOf,
  wtxid as wtxidOf,
  type Transaction,
  type TxInput,
  type TxOutput,
} from '../../src/protocol/bitcoin/tx.js';
import { sortMempool } from '../../src/protocol/status.js';
import { classify, disassemble, p2pkhScript, p2wpkhScript, pushData, pushInt } from './script.js';
import { bip143Sighash, checkSpend, deriveKey, legacySighash, p2pkhScriptSig, signHash, type SimKey } from './sign.js';

export const REGTEST_GENESIS_HEADER =
  '0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4adae5494dffff7f2002000000';
export const GENESIS_COINBASE =
  '01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4d04ffff001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e206272696e6b206f66207365636f6e64206261696c6f757420666f722062616e6b73ffffffff0100f2052a01000000434104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac00000000';

export const REGTEST_BITS = 0x207fffff;
const REGTEST_TARGET = bitsToTarget(REGTEST_BITS);
const BLOCK_VERSION = 0x20000000;
const BLOCK_INTERVAL = 600;
const COINBASE_MATURITY = 100;
const HALVING_INTERVAL = 150; // regtest
const COIN = 100_000_000;
const MAX_MONEY = 21_000_000 * COIN;
const DUST = 546;
export const MIN_RELAY_SAT_PER_VB = 1;
const SEQUENCE_FINAL = 0xffffffff;

export interface SimTx {
  readonly tx: Transaction;
  /** Full serialization (with witness when there is one). */
  readonly raw: Buffer;
  readonly txid: string;
  readonly wtxid: string;
  readonly weight: number;
  readonly vsize: number;
  /** Satoshis paid in fees; 0 for a coinbase. */
  readonly fee: number;
}

export interface SimBlock {
  readonly height: number;
  readonly header: Buffer;
  readonly hash: string;
  readonly time: number;
  readonly txs: readonly SimTx[];
  /** Coins each transaction spent, in input order (the undo data for a reorg). */
  readonly undo: readonly (readonly Coin[])[];
}

export interface Coin {
  readonly txid: string;
  readonly vout: number;
  readonly value: number;
  readonly script: Buffer;
  readonly scripthash: string;
  /** Block height; 0 while in the mempool. */
  readonly height: number;
  /** Position of the creating tx in its block (0 for mempool coins). */
  readonly pos: number;
  readonly coinbase: boolean;
}

export interface HistoryEntry {
  tx_hash: string;
  height: number;
  fee?: number;
}

export interface Utxo {
  tx_hash: string;
  tx_pos: number;
  height: number;
  value: number;
}

/** A transaction bitcoind would refuse; `message` is bitcoind's reject reason. */
export class RejectError extends Error {
  override readonly name = 'RejectError';
}

interface MempoolInfo {
  readonly stx: SimTx;
  readonly unconfirmedInputs: boolean;
  readonly scripthashes: ReadonlySet<string>;
}

function outpoint(txid: string, vout: number): string {
  return `${txid}:${vout}`;
}

function isUnspendable(script: Buffer): boolean {
  return script.length > 0 && script[0] === 0x6a;
}

export function subsidy(height: number): number {
  const halvings = Math.floor(height / HALVING_INTERVAL);
  if (halvings >= 33) return 0;
  return Math.floor((50 * COIN) / 2 ** halvings);
}

export function makeSimTx(tx: Transaction, fee = 0): SimTx {
  const raw = serializeTransaction(tx);
  const w = weightOf(tx);
  return { tx, raw, txid: txidOf(tx), wtxid: wtxidOf(tx), weight: w, vsize: Math.ceil(w / 4), fee };
}

export interface ChainOptions {
  seed: string;
  initialBlocks: number;
  /** The bits of the block at each height (default regtest's 0x207fffff everywhere): a harder target makes a chain carry more work. */
  bits?: (height: number) => number;
}

/** Fee rates (sat/vB) the simulator's own payments cycle through, so the fee histogram has some shape. */
const PAY_FEE_RATES = [2, 5, 1, 10, 3];

export class Chain {
  readonly network: Network = NETWORKS.regtest;
  readonly key: SimKey;
  /** Second key, only used as the destination of the background activity in the first blocks. */
  readonly fillerKey: SimKey;
  readonly fundsScripts: readonly Buffer[];

  private readonly blocks: SimBlock[] = [];
  private readonly txIndex = new Map<string, { height: number; pos: number; stx: SimTx }>();
  private readonly coins = new Map<string, Coin>();
  private readonly shCoins = new Map<string, Set<string>>();
  private readonly shHistory = new Map<string, { tx_hash: string; height: number }[]>();

  private mempool = new Map<string, SimTx>();
  private mpInfo = new Map<string, MempoolInfo>();
  private mpSpends = new Map<string, string>();
  private mpCoins = new Map<string, Coin>();
  private mpBySh = new Map<string, HistoryEntry[]>();

  private blocksBuilt = 0;
  private paymentsMade = 0;
  private readonly bitsAt: (height: number) => number;

  constructor(opts: ChainOptions) {
    this.bitsAt = opts.bits ?? (() => REGTEST_BITS);
    this.key = deriveKey(opts.seed, 'funds');
    this.fillerKey = deriveKey(opts.seed, 'filler');
    this.fundsScripts = [p2wpkhScript(this.key.pubkeyHash), p2pkhScript(this.key.pubkeyHash)];
    const genesisTx = makeSimTx(parseTransaction(GENESIS_COINBASE));
    const header = Buffer.from(REGTEST_GENESIS_HEADER, 'hex');
    this.connect({ height: 0, header, hash: blockHash(header), time: header.readUInt32LE(68), txs: [genesisTx], undo: [] });
    for (let h = 1; h <= opts.initialBlocks; h++) {
      if (h > COINBASE_MATURITY && (h <= COINBASE_MATURITY + 30 || h % 25 === 0)) this.backgroundActivity(h);
      this.mineOne(this.takeMempool());
    }
  }

  // ---------------------------------------------------------------- reading

  tipHeight(): number {
    return this.blocks.length - 1;
  }

  block(height: number): SimBlock | undefined {
    return this.blocks[height];
  }

  tip(): SimBlock {
    return this.blocks[this.blocks.length - 1]!;
  }

  headerHex(height: number): string {
    const b = this.blocks[height];
    if (!b) throw new RangeError(`height ${height} out of range`);
    return b.header.toString('hex');
  }

  blockHash(height: number): string {
    const b = this.blocks[height];
    if (!b) throw new RangeError(`height ${height} out of range`);
    return b.hash;
  }

  /** ElectrumX's header branch and root: merkle tree over block hashes 0..cpHeight, proving `height`. */
  headerProof(height: number, cpHeight: number): { branch: string[]; root: string } {
    const hashes = this.blocks.slice(0, cpHeight + 1).map((b) => b.hash);
    return merkleBranchAndRoot(hashes, height);
  }

  txids(height: number): string[] {
    const b = this.blocks[height];
    if (!b) throw new RangeError(`height ${height} out of range`);
    return b.txs.map((t) => t.txid);
  }

  /** A transaction from the chain or the mempool. */
  getTx(txid: string): { stx: SimTx; height: number; pos: number } | undefined {
    const c = this.txIndex.get(txid);
    if (c) return c;
    const m = this.mempool.get(txid);
    return m ? { stx: m, height: 0, pos: -1 } : undefined;
  }

  mempoolTxs(): SimTx[] {
    return [...this.mempool.values()];
  }

  history(scripthash: string): HistoryEntry[] {
    const confirmed = (this.shHistory.get(scripthash) ?? []).map((e) => ({ tx_hash: e.tx_hash, height: e.height }));
    const mp = (this.mpBySh.get(scripthash) ?? []).map((e) => ({ ...e }));
    return [...confirmed, ...mp];
  }

  mempoolHistory(scripthash: string): HistoryEntry[] {
    return (this.mpBySh.get(scripthash) ?? []).map((e) => ({ ...e }));
  }

  balance(scripthash: string): { confirmed: number; unconfirmed: number } {
    let confirmed = 0;
    for (const op of this.shCoins.get(scripthash) ?? []) confirmed += this.coins.get(op)!.value;
    let unconfirmed = 0;
    for (const info of this.mpInfo.values()) {
      if (!info.scripthashes.has(scripthash)) continue;
      for (const inp of info.stx.tx.inputs) {
        const c = this.coins.get(outpoint(inp.prevTxid, inp.vout)) ?? this.mpCoins.get(outpoint(inp.prevTxid, inp.vout));
        if (c && c.scripthash === scripthash) unconfirmed -= c.value;
      }
      info.stx.tx.outputs.forEach((o, vout) => {
        const c = this.mpCoins.get(outpoint(info.stx.txid, vout));
        if (c && c.scripthash === scripthash) unconfirmed += Number(o.value);
      });
    }
    return { confirmed, unconfirmed };
  }

  listUnspent(scripthash: string): Utxo[] {
    const confirmed = [...(this.shCoins.get(scripthash) ?? [])]
      .map((op) => this.coins.get(op)!)
      .filter((c) => !this.mpSpends.has(outpoint(c.txid, c.vout)))
      .sort((a, b) => a.height - b.height || a.pos - b.pos || a.vout - b.vout);
    const mempool = [...this.mpCoins.values()].filter((c) => c.scripthash === scripthash && !this.mpSpends.has(outpoint(c.txid, c.vout)));
    return [...confirmed, ...mempool].map((c) => ({ tx_hash: c.txid, tx_pos: c.vout, height: c.height, value: c.value }));
  }

  /** bitcoind's getrawtransaction verbose=true dict. */
  verboseTx(txid: string, rawOverride?: Buffer): Record<string, unknown> | undefined {
    const found = this.getTx(txid);
    if (!found) return undefined;
    const { stx } = found;
    const tx = stx.tx;
    const coinbase = isCoinbase(tx);
    const vin = tx.inputs.map((inp: TxInput) => {
      const w = inp.witness.length ? { txinwitness: inp.witness.map((x) => x.toString('hex')) } : {};
      if (coinbase) return { coinbase: inp.scriptSig.toString('hex'), ...w, sequence: inp.sequence };
      return {
        txid: inp.prevTxid,
        vout: inp.vout,
        scriptSig: { asm: disassemble(inp.scriptSig), hex: inp.scriptSig.toString('hex') },
        ...w,
        sequence: inp.sequence,
      };
    });
    const vout = tx.outputs.map((o: TxOutput, n: number) => {
      const address = scriptToAddress(o.script, this.network);
      return {
        value: Number(o.value) / COIN,
        n,
        scriptPubKey: {
          asm: disassemble(o.script),
          hex: o.script.toString('hex'),
          ...(address ? { address } : {}),
          type: classify(o.script),
        },
      };
    });
    const raw = rawOverride ?? stx.raw;
    const out: Record<string, unknown> = {
      txid: stx.txid,
      hash: stx.wtxid,
      version: tx.version,
      size: stx.raw.length,
      vsize: stx.vsize,
      weight: stx.weight,
      locktime: tx.locktime,
      vin,
      vout,
      hex: raw.toString('hex'),
    };
    if (found.height > 0 || this.txIndex.has(txid)) {
      const b = this.blocks[found.height]!;
      out['blockhash'] = b.hash;
      out['confirmations'] = this.tipHeight() - found.height + 1;
      out['time'] = b.time;
      out['blocktime'] = b.time;
    }
    return out;
  }

  /** Mempool transactions as [fee rate sat/vB rounded down to 0.1, vsize] for the histogram. */
  mempoolFeeRates(): Array<[number, number]> {
    return [...this.mempool.values()].map((t) => [Math.floor((10 * t.fee) / t.vsize) / 10, t.vsize]);
  }

  // ---------------------------------------------------------------- writing

  /** Validates a transaction like bitcoind's sendrawtransaction and adds it to the mempool. Returns its txid. */
  acceptRaw(raw: Buffer | string): string {
    let tx: Transaction;
    try {
      tx = parseTransaction(raw);
    } catch {
      throw new RejectError('TX decode failed. Make sure the tx has at least one input.');
    }
    const stx = this.validate(tx);
    this.mempool.set(stx.txid, stx);
    this.refreshMempool();
    return stx.txid;
  }

  /**
   * Validates a package (parents before children) and adds all of it, or none:
   * returns the per-transaction reject reasons (empty on success).
   */
  acceptPackage(raws: string[]): { txid: string; wtxid: string; error?: string; vsize?: number; fee?: number }[] {
    const before = new Map(this.mempool);
    const results: { txid: string; wtxid: string; error?: string; vsize?: number; fee?: number }[] = [];
    let failed = false;
    for (const raw of raws) {
      const tx = parseTransaction(raw); // the caller checked decoding
      const id = txidOf(tx);
      const wid = wtxidOf(tx);
      try {
        const stx = this.validate(tx);
        this.mempool.set(stx.txid, stx);
        this.refreshMempool();
        results.push({ txid: id, wtxid: wid, vsize: stx.vsize, fee: stx.fee });
      } catch (e) {
        if (!(e instanceof RejectError)) throw e;
        failed = true;
        results.push({ txid: id, wtxid: wid, error: e.message });
      }
    }
    if (failed) {
      this.mempool = before;
      this.refreshMempool();
    }
    return results;
  }

  /** Builds, signs and accepts a payment from the simulator's funds. Returns the txid. */
  pay(address: string, sats: number): string {
    const script = addressToScript(address, this.network);
    return this.payToScript(script, sats);
  }

  payToScript(script: Buffer, sats: number): string {
    if (!Number.isSafeInteger(sats) || sats <= 0) throw new RangeError(`amount must be a positive integer of satoshis, got ${sats}`);
    const feeRate = PAY_FEE_RATES[this.paymentsMade % PAY_FEE_RATES.length]!;
    this.paymentsMade++;
    const candidates = this.spendableFunds();
    const chosen: Coin[] = [];
    let total = 0;
    let fee = 0;
    for (const c of candidates) {
      chosen.push(c);
      total += c.value;
      fee = this.estimateVsize(chosen, [script, this.fundsScripts[0]!]) * feeRate;
      if (total >= sats + fee) break;
    }
    if (total < sats + fee) {
      throw new Error(`simulator funds exhausted: ${total} sats spendable, ${sats + fee} needed (mine more blocks)`);
    }
    const outputs: TxOutput[] = [{ value: BigInt(sats), script }];
    const change = total - sats - fee;
    if (change >= DUST) outputs.push({ value: BigInt(change), script: this.fundsScripts[0]! });
    const tx = this.signFunds(chosen, outputs);
    const stx = this.validate(tx, { ownSignatures: true });
    this.mempool.set(stx.txid, stx);
    this.refreshMempool();
    return stx.txid;
  }

  /** Mines `n` blocks; the mempool goes into the first. Returns their hashes. */
  mine(n: number): string[] {
    const hashes: string[] = [];
    for (let i = 0; i < n; i++) hashes.push(this.mineOne(i === 0 ? this.takeMempool() : []).hash);
    return hashes;
  }

  /**
   * Disconnects the last `depth` blocks, puts their transactions back in the
   * mempool (before what was there; whatever no longer validates is dropped),
   * then mines depth+1 empty blocks. Returns the orphaned block hashes, lowest first.
   */
  reorg(depth: number): string[] {
    if (!Number.isInteger(depth) || depth < 1 || depth > this.tipHeight()) {
      throw new RangeError(`reorg depth must be 1..${this.tipHeight()}, got ${depth}`);
    }
    const orphaned: SimBlock[] = [];
    for (let i = 0; i < depth; i++) orphaned.unshift(this.disconnectTip());
    const back = orphaned.flatMap((b) => b.txs.slice(1));
    const old = [...this.mempool.values()];
    this.mempool = new Map();
    this.refreshMempool();
    for (const stx of [...back, ...old]) {
      try {
        // Unlike bitcoind (which drops them), keep txs that are only non-final or immature
        // at the lower height: the contract is that orphaned txs return to the mempool.
        const v = this.validate(stx.tx, { reorg: true });
        this.mempool.set(v.txid, v);
        this.refreshMempool();
      } catch (e) {
        if (!(e instanceof RejectError)) throw e;
      }
    }
    for (let i = 0; i <= depth; i++) this.mineOne([]);
    return orphaned.map((b) => b.hash);
  }

  // ---------------------------------------------------------------- internals

  private backgroundActivity(height: number): void {
    const n = (height % 3) + 1;
    for (let i = 0; i < n; i++) {
      const script = (height + i) % 2 === 0 ? p2wpkhScript(this.fillerKey.pubkeyHash) : p2pkhScript(this.fillerKey.pubkeyHash);
      this.payToScript(script, COIN + height * 1000 + i);
    }
  }

  private takeMempool(): SimTx[] {
    const txs = [...this.mempool.values()];
    this.mempool = new Map();
    this.refreshMempool();
    return txs;
  }

  /** Coins the simulator can spend now, oldest first: mature confirmed ones, then its own mempool change. */
  private spendableFunds(): Coin[] {
    const next = this.tipHeight() + 1;
    const mine = (c: Coin): boolean => this.fundsScripts.some((s) => s.equals(c.script));
    const confirmed: Coin[] = [];
    for (const s of this.fundsScripts) {
      for (const op of this.shCoins.get(scriptToScripthash(s)) ?? []) {
        const c = this.coins.get(op)!;
        if (this.mpSpends.has(op)) continue;
        if (c.coinbase && next - c.height < COINBASE_MATURITY) continue;
        confirmed.push(c);
      }
    }
    confirmed.sort((a, b) => a.height - b.height || a.pos - b.pos || a.vout - b.vout);
    const mempool = [...this.mpCoins.values()].filter((c) => mine(c) && !this.mpSpends.has(outpoint(c.txid, c.vout)));
    return [...confirmed, ...mempool];
  }

  private estimateVsize(inputs: Coin[], outputScripts: Buffer[]): number {
    const dummySig = Buffer.alloc(72, 1);
    const tx: Transaction = {
      version: 2,
      inputs: inputs.map((c) => {
        const segwit = classify(c.script) === 'witness_v0_keyhash';
        return {
          prevTxid: c.txid,
          vout: c.vout,
          scriptSig: segwit ? Buffer.alloc(0) : p2pkhScriptSig(dummySig, this.key.pubkey),
          sequence: 0,
          witness: segwit ? [dummySig, this.key.pubkey] : [],
        };
      }),
      outputs: outputScripts.map((script) => ({ value: 0n, script })),
      locktime: 0,
    };
    return Math.ceil(weightOf(tx) / 4);
  }

  private signFunds(coins: Coin[], outputs: TxOutput[]): Transaction {
    const unsigned: Transaction = {
      version: 2,
      inputs: coins.map((c) => ({ prevTxid: c.txid, vout: c.vout, scriptSig: Buffer.alloc(0), sequence: 0xfffffffd, witness: [] })),
      outputs,
      locktime: this.tipHeight(),
    };
    const inputs = coins.map((c, i) => {
      if (classify(c.script) === 'witness_v0_keyhash') {
        const sig = signHash(this.key, bip143Sighash(unsigned, i, p2pkhScript(this.key.pubkeyHash), BigInt(c.value), 0x01));
        return { ...unsigned.inputs[i]!, witness: [sig, this.key.pubkey] };
      }
      const sig = signHash(this.key, legacySighash(unsigned, i, c.script, 0x01));
      return { ...unsigned.inputs[i]!, scriptSig: p2pkhScriptSig(sig, this.key.pubkey) };
    });
    return { ...unsigned, inputs };
  }

  /** bitcoind's mempool acceptance, reduced to what a simulator needs. Throws RejectError. */
  private validate(tx: Transaction, opts: { reorg?: boolean; ownSignatures?: boolean } = {}): SimTx {
    if (tx.inputs.length === 0) throw new RejectError('bad-txns-vin-empty');
    if (tx.outputs.length === 0) throw new RejectError('bad-txns-vout-empty');
    if (isCoinbase(tx)) throw new RejectError('coinbase');
    const id = txidOf(tx);
    if (this.mempool.has(id)) throw new RejectError('txn-already-in-mempool');
    if (this.txIndex.has(id)) throw new RejectError('Transaction outputs already in utxo set');
    let outTotal = 0;
    for (const o of tx.outputs) {
      if (o.value > BigInt(MAX_MONEY)) throw new RejectError('bad-txns-vout-toolarge');
      outTotal += Number(o.value);
      if (outTotal > MAX_MONEY) throw new RejectError('bad-txns-txouttotal-toolarge');
    }
    const seen = new Set<string>();
    const spent: Coin[] = [];
    for (const inp of tx.inputs) {
      const op = outpoint(inp.prevTxid, inp.vout);
      if (seen.has(op)) throw new RejectError('bad-txns-inputs-duplicate');
      seen.add(op);
      if (this.mpSpends.has(op)) throw new RejectError('txn-mempool-conflict');
      const c = this.coins.get(op) ?? this.mpCoins.get(op);
      if (!c) throw new RejectError('bad-txns-inputs-missingorspent');
      if (c.coinbase && !opts.reorg && this.tipHeight() + 1 - c.height < COINBASE_MATURITY) {
        throw new RejectError(`bad-txns-premature-spend-of-coinbase, tried to spend coinbase at depth ${this.tipHeight() - c.height + 1}`);
      }
      spent.push(c);
    }
    const inTotal = spent.reduce((s, c) => s + c.value, 0);
    if (inTotal < outTotal) throw new RejectError(`bad-txns-in-belowout, value in (${inTotal / COIN}) < value out (${outTotal / COIN})`);
    if (!opts.reorg && !this.isFinal(tx)) throw new RejectError('non-final');
    // The simulator's own signatures are known good (test/sim/sign.test.ts); checking them again only costs time.
    for (let i = 0; i < (opts.ownSignatures ? 0 : tx.inputs.length); i++) {
      if (checkSpend(tx, i, spent[i]!.script, BigInt(spent[i]!.value)) === 'bad-signature') {
        throw new RejectError(
          'mandatory-script-verify-flag-failed (Script evaluated without error but finished with a false/empty top stack element)',
        );
      }
    }
    const stx = makeSimTx(tx, inTotal - outTotal);
    const minFee = stx.vsize * MIN_RELAY_SAT_PER_VB;
    if (stx.fee < minFee) throw new RejectError(`min relay fee not met, ${stx.fee} < ${minFee}`);
    return stx;
  }

  private isFinal(tx: Transaction): boolean {
    if (tx.locktime === 0) return true;
    if (tx.inputs.every((i) => i.sequence === SEQUENCE_FINAL)) return true;
    const limit = tx.locktime < 500_000_000 ? this.tipHeight() + 1 : this.tip().time;
    return tx.locktime < limit;
  }

  private coinbaseFor(height: number, fees: number, txs: SimTx[]): SimTx {
    const tag = Buffer.alloc(4);
    tag.writeUInt32LE(this.blocksBuilt, 0);
    const scriptSig = Buffer.concat([pushInt(height), pushData(tag)]);
    const payTo = height % 2 === 0 ? this.fundsScripts[0]! : this.fundsScripts[1]!;
    const outputs: TxOutput[] = [{ value: BigInt(subsidy(height) + fees), script: payTo }];
    const segwit = txs.some((t) => hasWitness(t.tx));
    if (segwit) {
      // BIP141 commitment: sha256d(witness root || reserved value), the coinbase's wtxid counting as zero.
      const witnessRoot = fromDisplayHex(merkleRoot(['00'.repeat(32), ...txs.map((t) => t.wtxid)]));
      const reserved = Buffer.alloc(32);
      const commitment = sha256d(Buffer.concat([witnessRoot, reserved]));
      outputs.push({ value: 0n, script: Buffer.concat([Buffer.from('6a24aa21a9ed', 'hex'), commitment]) });
    }
    const tx: Transaction = {
      version: 2,
      inputs: [
        {
          prevTxid: '00'.repeat(32),
          vout: 0xffffffff,
          scriptSig,
          sequence: SEQUENCE_FINAL,
          witness: segwit ? [Buffer.alloc(32)] : [],
        },
      ],
      outputs,
      locktime: 0,
    };
    return makeSimTx(tx);
  }

  private mineOne(txs: SimTx[]): SimBlock {
    const prev = this.tip();
    const height = prev.height + 1;
    const fees = txs.reduce((s, t) => s + t.fee, 0);
    const coinbase = this.coinbaseFor(height, fees, txs);
    this.blocksBuilt++;
    const all = [coinbase, ...txs];
    const time = prev.time + BLOCK_INTERVAL;
    const bits = this.bitsAt(height);
    const target = bits === REGTEST_BITS ? REGTEST_TARGET : bitsToTarget(bits);
    const fields = { version: BLOCK_VERSION, prevHash: prev.hash, merkleRoot: merkleRoot(all.map((t) => t.txid)), time, bits };
    let header: Buffer;
    let hash: string;
    for (let nonce = 0; ; nonce++) {
      header = serializeHeader({ ...fields, nonce });
      hash = blockHash(header);
      if (BigInt('0x' + hash) <= target) break;
    }
    const block = { height, header, hash, time, txs: all, undo: [] as Coin[][] };
    this.connect(block);
    return block;
  }

  private addHistory(sh: string, txid: string, height: number): void {
    let list = this.shHistory.get(sh);
    if (!list) this.shHistory.set(sh, (list = []));
    const last = list[list.length - 1];
    if (last && last.tx_hash === txid && last.height === height) return;
    list.push({ tx_hash: txid, height });
  }

  private connect(block: SimBlock & { undo: Coin[][] }): void {
    block.txs.forEach((stx, pos) => {
      const touched = new Set<string>();
      const spentCoins: Coin[] = [];
      const coinbase = pos === 0;
      if (!coinbase) {
        for (const inp of stx.tx.inputs) {
          const op = outpoint(inp.prevTxid, inp.vout);
          const c = this.coins.get(op);
          if (!c) throw new Error(`sim bug: block ${block.height} spends missing coin ${op}`);
          this.coins.delete(op);
          this.shCoins.get(c.scripthash)?.delete(op);
          spentCoins.push(c);
          touched.add(c.scripthash);
        }
      }
      stx.tx.outputs.forEach((o, vout) => {
        if (isUnspendable(o.script)) return;
        const sh = scriptToScripthash(o.script);
        const c: Coin = { txid: stx.txid, vout, value: Number(o.value), script: o.script, scripthash: sh, height: block.height, pos, coinbase };
        const op = outpoint(stx.txid, vout);
        this.coins.set(op, c);
        let set = this.shCoins.get(sh);
        if (!set) this.shCoins.set(sh, (set = new Set()));
        set.add(op);
        touched.add(sh);
      });
      block.undo.push(spentCoins);
      for (const sh of touched) this.addHistory(sh, stx.txid, block.height);
      this.txIndex.set(stx.txid, { height: block.height, pos, stx });
    });
    this.blocks.push(block);
  }

  private disconnectTip(): SimBlock {
    const block = this.blocks.pop();
    if (!block || block.height === 0) throw new Error('cannot disconnect the genesis block');
    for (let pos = block.txs.length - 1; pos >= 0; pos--) {
      const stx = block.txs[pos]!;
      stx.tx.outputs.forEach((o, vout) => {
        if (isUnspendable(o.script)) return;
        const op = outpoint(stx.txid, vout);
        const c = this.coins.get(op);
        if (c) {
          this.coins.delete(op);
          this.shCoins.get(c.scripthash)?.delete(op);
        }
      });
      for (const c of block.undo[pos] ?? []) {
        const op = outpoint(c.txid, c.vout);
        this.coins.set(op, c);
        let set = this.shCoins.get(c.scripthash);
        if (!set) this.shCoins.set(c.scripthash, (set = new Set()));
        set.add(op);
      }
      this.txIndex.delete(stx.txid);
    }
    for (const [sh, list] of this.shHistory) {
      while (list.length > 0 && list[list.length - 1]!.height === block.height) list.pop();
      if (list.length === 0) this.shHistory.delete(sh);
    }
    return block;
  }

  /** Recomputes the mempool's derived indexes (spends, coins, per-scripthash entries with 0/-1 heights). */
  private refreshMempool(): void {
    this.mpSpends = new Map();
    this.mpCoins = new Map();
    this.mpInfo = new Map();
    for (const stx of this.mempool.values()) {
      const shs = new Set<string>();
      let unconfirmedInputs = false;
      for (const inp of stx.tx.inputs) {
        const op = outpoint(inp.prevTxid, inp.vout);
        this.mpSpends.set(op, stx.txid);
        const c = this.coins.get(op) ?? this.mpCoins.get(op);
        if (c) shs.add(c.scripthash);
        if (this.mempool.has(inp.prevTxid)) unconfirmedInputs = true;
      }
      stx.tx.outputs.forEach((o, vout) => {
        if (isUnspendable(o.script)) return;
        const sh = scriptToScripthash(o.script);
        shs.add(sh);
        this.mpCoins.set(outpoint(stx.txid, vout), {
          txid: stx.txid,
          vout,
          value: Number(o.value),
          script: o.script,
          scripthash: sh,
          height: 0,
          pos: 0,
          coinbase: false,
        });
      });
      this.mpInfo.set(stx.txid, { stx, unconfirmedInputs, scripthashes: shs });
    }
    const bySh = new Map<string, HistoryEntry[]>();
    for (const info of this.mpInfo.values()) {
      for (const sh of info.scripthashes) {
        let list = bySh.get(sh);
        if (!list) bySh.set(sh, (list = []));
        list.push({ tx_hash: info.stx.txid, height: info.unconfirmedInputs ? -1 : 0, fee: info.stx.fee });
      }
    }
    for (const [sh, list] of bySh) bySh.set(sh, sortMempool(list));
    this.mpBySh = bySh;
  }
}

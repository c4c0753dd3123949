// SPDX-License-Identifier: MIT
/**
 * The shapes old protocol versions use, built from canonical (1.4+/1.6)
 * answers. Pure functions: the session calls them on its way out.
 *
 *   1.0-1.3  blockchain.headers.subscribe as a deserialized header dict
 *   1.0-1.3  blockchain.block.get_header (dict) and get_chunk (hex of a retarget period)
 *   1.0      blockchain.utxo.get_address, blockchain.numblocks.subscribe
 *   1.0      broadcast errors returned as the result string
 */
import type { Network } from '../config/networks.js';
import { scriptToAddress } from '../protocol/address.js';
import { parseHeader } from '../protocol/bitcoin/header.js';
import { parseTransaction } from '../protocol/bitcoin/tx.js';
import { ErrorCode, RpcError } from '../protocol/jsonrpc.js';

/** The "deserialized header" of protocol 1.0-1.3. */
export interface HeaderDict {
  readonly block_height: number;
  readonly version: number;
  readonly prev_block_hash: string;
  readonly merkle_root: string;
  readonly timestamp: number;
  readonly bits: number;
  readonly nonce: number;
}

export function headerDict(hex: string, height: number): HeaderDict {
  const h = parseHeader(hex);
  return {
    block_height: height,
    version: h.version,
    prev_block_hash: h.prevHash,
    merkle_root: h.merkleRoot,
    timestamp: h.time,
    bits: h.bits,
    nonce: h.nonce,
  };
}

/** How a session receives headers.subscribe answers and notifications. */
export type HeadersForm = 'raw' | 'dict';

/** 1.0/1.1: dict; 1.2: raw only when asked (default false); 1.3: raw unless raw=false; 1.4+: always raw. */
export function headersForm(version: readonly number[], rawArg: unknown): HeadersForm {
  const [major = 0, minor = 0] = version;
  if (major > 1 || minor >= 4) return 'raw';
  if (minor <= 1) return 'dict';
  const raw = rawArg === undefined || rawArg === null ? minor >= 3 : Boolean(rawArg);
  return raw ? 'raw' : 'dict';
}

export function formatTip(form: HeadersForm, tip: { hex: string; height: number }): unknown {
  return form === 'raw' ? { hex: tip.hex, height: tip.height } : headerDict(tip.hex, tip.height);
}

/** The address paid by output `index` of a raw transaction, or null when it has none (1.0's utxo.get_address). */
export function outputAddress(rawTx: string, index: number, network: Network): string | null {
  const tx = parseTransaction(rawTx);
  const out = tx.outputs[index];
  if (!out) return null;
  return scriptToAddress(out.script, network);
}

/** Protocol 1.0 reported a refused broadcast as the result text, not as an error. */
export function broadcastResultV10(err: RpcError): string {
  return err.message;
}

const REJECT_PREFIX = 'the transaction was rejected by network rules.';

/**
 * An upstream's refusal to list a history it considers too large: ElectrumX's
 * 10001 "history too large", electrs-esplora's "Too many history entries",
 * Fulcrum's -32603 "internal error: History for scripthash X exceeds max
 * history N with M items!". An answer about the scripthash, not a failure of
 * the upstream.
 */
export function isHistoryTooLarge(err: RpcError): boolean {
  return /history too large|too many history entries|history too long|exceeds max history/i.test(err.message);
}

/**
 * Upstreams word the same failures differently; wallets match some texts.
 * One form for each: ElectrumX's, the most widely deployed.
 */
export function normalizeUpstreamError(method: string, err: RpcError): RpcError {
  if (isHistoryTooLarge(err)) {
    return new RpcError(10001, 'history too large');
  }
  if (method === 'blockchain.transaction.broadcast' && (err.code === ErrorCode.BAD_REQUEST || err.code === ErrorCode.DAEMON_ERROR)) {
    let reason = err.message;
    if (reason.startsWith(REJECT_PREFIX)) reason = reason.slice(REJECT_PREFIX.length);
    // ElectrumX echoes the raw transaction in brackets at the end; a wallet already has it.
    reason = reason.replace(/\n\[[0-9a-fA-F]*\]\s*$/, '').trim();
    return new RpcError(ErrorCode.BAD_REQUEST, `${REJECT_PREFIX}\n\n${reason}`);
  }
  return err;
}

// SPDX-License-Identifier: MIT
/**
 * Validation of the arguments the gateway inspects before forwarding. A bad
 * argument value is error code 1 (BAD_REQUEST), the code ElectrumX and Fulcrum
 * answer for the same input, so wallets and libraries that match on codes see
 * what they see from those servers; the message names the parameter and keeps
 * their wording ("is not a valid script hash"), so garbage never reaches an
 * upstream and the wallet can tell which argument was wrong. A wrong number or
 * shape of arguments stays -32602, as aiorpcX answers it.
 */
import type { Network } from '../config/networks.js';
import { AddressError, addressToScripthash } from './address.js';
import { ErrorCode, RpcError } from './jsonrpc.js';

const HEX64 = /^[0-9a-fA-F]{64}$/;

function invalid(param: string, why: string): RpcError {
  return new RpcError(ErrorCode.BAD_REQUEST, `invalid ${param}: ${why}`);
}

export function scripthashArg(value: unknown, param = 'scripthash'): string {
  if (typeof value !== 'string' || !HEX64.test(value)) throw invalid(param, `${display(value)} is not a valid script hash (64 hex characters)`);
  return value.toLowerCase();
}

export function txHashArg(value: unknown, param = 'tx_hash'): string {
  if (typeof value !== 'string' || !HEX64.test(value)) throw invalid(param, `${display(value)} should be a transaction hash (64 hex characters)`);
  return value.toLowerCase();
}

export function nonNegativeIntegerArg(value: unknown, param: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw invalid(param, `${display(value)} should be a non-negative integer`);
  return value;
}

export function booleanArg(value: unknown, param: string): boolean {
  // Electrum sends JSON booleans; old clients sent 0/1.
  if (typeof value === 'boolean') return value;
  if (value === 0 || value === 1) return value === 1;
  throw invalid(param, `${display(value)} should be true or false`);
}

export function hexArg(value: unknown, param: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(value)) {
    throw invalid(param, 'should be a non-empty hex string of whole bytes');
  }
  return value;
}

export function stringArg(value: unknown, param: string): string {
  if (typeof value !== 'string') throw invalid(param, `${display(value)} should be a string`);
  return value;
}

/** An address of the session's network, as its scripthash; wrong network, checksum or form is invalid params. */
export function addressArg(value: unknown, network: Network, param = 'address'): string {
  try {
    return addressToScripthash(value, network);
  } catch (err) {
    if (err instanceof AddressError) throw invalid(param, `${display(value)} is not a valid ${network.name} address (${err.message})`);
    throw err;
  }
}

function display(value: unknown): string {
  const s = typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  return s.length > 90 ? `${s.slice(0, 90)}…` : s;
}

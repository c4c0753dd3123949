// SPDX-License-Identifier: MIT
/**
 * Validation of the arguments the gateway inspects before forwarding, with
 * ElectrumX's codes and messages so wallets see what a real server would say.
 */
import { ErrorCode, RpcError } from './jsonrpc.js';

const HEX64 = /^[0-9a-fA-F]{64}$/;

export function scripthashArg(value: unknown): string {
  if (typeof value !== 'string' || !HEX64.test(value)) {
    throw new RpcError(ErrorCode.BAD_REQUEST, `${display(value)} is not a valid script hash`);
  }
  return value.toLowerCase();
}

export function txHashArg(value: unknown): string {
  if (typeof value !== 'string' || !HEX64.test(value)) {
    throw new RpcError(ErrorCode.BAD_REQUEST, `${display(value)} should be a transaction hash`);
  }
  return value.toLowerCase();
}

export function nonNegativeIntegerArg(value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new RpcError(ErrorCode.BAD_REQUEST, `${display(value)} should be a non-negative integer`);
  }
  return value;
}

export function hexArg(value: unknown, name: string): string {
  if (typeof value !== 'string' || value.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(value)) {
    throw new RpcError(ErrorCode.BAD_REQUEST, `${name} should be a hex string`);
  }
  return value;
}

function display(value: unknown): string {
  const s = typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}

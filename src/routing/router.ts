// SPDX-License-Identifier: MIT
/**
 * Sends a wallet's request to an upstream and brings the answer back in the
 * wallet's version. A request that dies with its upstream is sent again to
 * another (or to the same one, reconnected) when that cannot do harm:
 * idempotent methods always, a broadcast only when it certainly never left.
 */
import { ErrorCode, RpcError } from '../protocol/jsonrpc.js';
import { UpstreamError, type UpstreamConnection } from '../upstream/connection.js';
import type { UpstreamPool } from '../upstream/pool.js';
import { clientResult, upstreamCall } from './adapt.js';

/** Methods with side effects: never repeated unless the first attempt provably never reached a server. */
const NOT_IDEMPOTENT = new Set(['blockchain.transaction.broadcast', 'blockchain.transaction.broadcast_package']);

export class Router {
  constructor(private readonly pool: UpstreamPool) {}

  async forward(method: string, args: readonly unknown[], clientVersion: string, deadline: number): Promise<unknown> {
    const failed = new Set<UpstreamConnection>();
    for (;;) {
      let conn: UpstreamConnection;
      try {
        conn = await this.pool.acquire(deadline, failed);
      } catch (err) {
        throw toClientError(err);
      }
      const call = upstreamCall(method, args, conn.version!);
      try {
        const raw = await conn.request(call.method, call.params, Math.max(1, deadline - Date.now()));
        return clientResult(method, call.toCanonical(raw), clientVersion);
      } catch (err) {
        const retryable = err instanceof UpstreamError && err.kind !== 'timeout' && (err.notSent || !NOT_IDEMPOTENT.has(method));
        if (retryable && Date.now() < deadline) {
          failed.add(conn);
          continue;
        }
        throw toClientError(err);
      }
    }
  }
}

/** What the wallet sees when the gateway could not get an answer. */
export function toClientError(err: unknown): RpcError {
  if (err instanceof RpcError) return err;
  if (err instanceof UpstreamError) {
    if (err.kind === 'timeout') return new RpcError(ErrorCode.SERVER_BUSY, 'server busy - request timed out');
    return new RpcError(ErrorCode.UNAVAILABLE, 'no upstream server could answer; try again later');
  }
  return new RpcError(ErrorCode.INTERNAL_ERROR, 'internal server error');
}

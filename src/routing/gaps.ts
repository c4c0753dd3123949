// SPDX-License-Identifier: MIT
/**
 * What an upstream lacks though its protocol version has it. electrs speaks
 * 1.4 without blockchain.scripthash.get_mempool and without cp_height proofs
 * (its block.header takes the height alone); other servers may trim other
 * corners. A gap is known from the server's software string when it is a
 * known one, or learned from the server's own refusal, per connection (a
 * restarted, upgraded server starts with a clean slate).
 */
import { ErrorCode, RpcError } from '../protocol/jsonrpc.js';
import type { UpstreamConnection } from '../upstream/connection.js';

export type Gap = 'get_mempool' | 'cp_height';

/** The gap a request falls into on a server that lacks it, if any. */
export function gapNeeded(method: string, args: readonly unknown[]): Gap | null {
  if (method === 'blockchain.scripthash.get_mempool') return 'get_mempool';
  const cp = method === 'blockchain.block.header' ? args[1] : method === 'blockchain.block.headers' ? args[2] : undefined;
  return typeof cp === 'number' && cp > 0 ? 'cp_height' : null;
}

/** Gaps known from server.version's software string. */
export function gapsOfSoftware(software: string | null): readonly Gap[] {
  // romanz/electrs answers "electrs/0.10.6"; electrs-esplora ("electrs-esplora …") has both.
  return software !== null && /^electrs\//i.test(software) ? ['get_mempool', 'cp_height'] : [];
}

/** Whether this answer means the server lacks the gap's method or argument (not that the request was bad). */
export function revealsGap(gap: Gap, err: unknown): boolean {
  if (!(err instanceof RpcError)) return false;
  if (gap === 'get_mempool') return err.code === ErrorCode.METHOD_NOT_FOUND;
  // The gateway checked the arguments before sending them: a refusal of the count is the server's gap.
  return err.code === ErrorCode.INVALID_PARAMS || err.code === ErrorCode.METHOD_NOT_FOUND;
}

export class UpstreamGaps {
  private readonly known = new WeakMap<UpstreamConnection, Set<Gap>>();

  of(conn: UpstreamConnection): ReadonlySet<Gap> {
    let gaps = this.known.get(conn);
    if (gaps === undefined) {
      gaps = new Set(gapsOfSoftware(conn.serverSoftware));
      this.known.set(conn, gaps);
    }
    return gaps;
  }

  learn(conn: UpstreamConnection, gap: Gap): void {
    (this.of(conn) as Set<Gap>).add(gap);
  }
}

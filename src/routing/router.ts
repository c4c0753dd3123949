// SPDX-License-Identifier: MIT
/**
 * Sends a wallet's request to an upstream and brings the answer back in the
 * wallet's version, failing over when an upstream fails:
 *
 * - a server-side failure (connection lost, timeout, internal or daemon
 *   error) on an idempotent call is retried on another upstream within the
 *   wallet's deadline; definitive answers (bad params, unknown transaction)
 *   are returned as they are;
 * - a broadcast is retried only when it certainly never reached a server;
 * - a transaction looked up by hash goes first to the upstream that listed it
 *   in a wallet's history, and "no such transaction" from one upstream is
 *   asked of the others before the wallet hears it (upstreams see a new
 *   transaction at different moments);
 * - a merkle proof or id_from_pos at height H goes only to upstreams whose
 *   tip reaches H.
 */
import { ErrorCode, RpcError } from '../protocol/jsonrpc.js';
import { versionLess } from '../protocol/version.js';
import { UpstreamError, type UpstreamConnection } from '../upstream/connection.js';
import type { UpstreamPool } from '../upstream/pool.js';
import { clientResult, passesThrough, upstreamCall } from './adapt.js';
import { isHistoryTooLarge } from './legacy.js';
import { isTxLookup, TxOrigins } from './tx-origin.js';
import { gapNeeded, revealsGap, UpstreamGaps } from './gaps.js';

/** Methods with side effects: never repeated unless the first attempt provably never reached a server. */
const NOT_IDEMPOTENT = new Set(['blockchain.transaction.broadcast', 'blockchain.transaction.broadcast_package']);

/** Answers that do not depend on the tip: a lagging upstream may give them. */
const TIP_INSENSITIVE = new Set(['mempool.get_fee_histogram', 'blockchain.relayfee', 'mempool.get_info', 'blockchain.estimatefee']);

/** Headers this deep below the best tip are the same on a slightly lagging upstream. */
const BURIED_DEPTH = 6;

/** Why a request left an upstream for another: the connection died, the server failed, or its answer did not verify. */
export type FailoverReason = 'connection' | 'server' | 'verification';

export interface RouterOptions {
  /** How long one upstream gets to answer one attempt; the wallet's own deadline bounds all attempts. */
  readonly attemptTimeoutMs: number;
  /** How long an upstream whose answer failed verification stays out of rotation. */
  readonly quarantineMs: number;
  /** Told of every answer that failed verification (metrics). */
  readonly onVerificationFailure?: (upstream: string, method: string, reason: string) => void;
  /** Told each time a request leaves an upstream that failed it for another attempt (metrics). */
  readonly onFailover?: (upstream: string, reason: FailoverReason) => void;
}

/**
 * Checks a canonical answer before it is used; returns why it is wrong, or
 * null. A wrong answer is never served: its upstream is quarantined and the
 * request goes to another.
 */
export type Verifier = (canonical: unknown) => string | null | Promise<string | null>;

export class Router {
  private readonly origins = new TxOrigins();
  private readonly gaps = new UpstreamGaps();

  constructor(
    private readonly pool: UpstreamPool,
    private readonly opts: RouterOptions,
  ) {}

  /**
   * Where a request may go: tip-sensitive ones avoid lagging upstreams (headers
   * this deep below the tip are the same everywhere), and headers go only to
   * upstreams whose tip reaches the last one asked (a lagging server answers
   * short; a range running past the verified tip is short everywhere, so it
   * asks only for that tip). Measured against the verified tip, not the highest
   * claimed one: an upstream claiming a tip it has not proven would otherwise
   * be the only one let answer requests past the real tip.
   */
  private placement(method: string, args: readonly unknown[]): { tipSensitive: boolean; minTipHeight?: number } {
    const asked = lastHeightAsked(method, args);
    const best = this.pool.referenceTipHeight();
    const tipSensitive = !TIP_INSENSITIVE.has(method) && (asked === null || best === null || asked > best - BURIED_DEPTH);
    return asked !== null && best !== null ? { tipSensitive, minTipHeight: Math.min(asked, best) } : { tipSensitive };
  }

  /** The connections ready now, and those of them whose upstream speaks a version before 1.6. */
  private readyByVersion(): { ready: readonly UpstreamConnection[]; old: readonly UpstreamConnection[] } {
    const ready = this.pool.ready();
    return { ready, old: ready.filter((c) => c.version !== null && versionLess(c.version, '1.6')) };
  }

  /**
   * `wantRaw`: the caller writes the answer to the wallet untouched, so a large
   * result that needs no translation or verification may come back as the
   * upstream's own bytes (RawJson) rather than parsed. Listings are among
   * them: tx origins and the history order are read from their bytes
   * (listing-scan.ts).
   */
  async forward(method: string, args: readonly unknown[], clientVersion: string, deadline: number, verify?: Verifier, wantRaw = false): Promise<unknown> {
    const excludeUpstreams = new Set<string>();
    const excludeConnections = new Set<UpstreamConnection>();
    const key = stickyKey(method, args);
    const placement = this.placement(method, args);
    const prefer = this.origins.originOf(method, args);
    let lastError: unknown = null;
    /** An upstream's "no such transaction": the answer if no other upstream knows it. */
    let notFound: RpcError | null = null;
    const gap = gapNeeded(method, args);
    const passRaw = wantRaw && verify === undefined;
    /** Upstreams left out because they lack what this request needs (cp_height): the error names it. */
    let skippedForGap = false;
    if (method === 'blockchain.transaction.broadcast_package') {
      // Only 1.6 upstreams take packages: the others are left out of the choice, and with
      // none but them ready the wallet hears so at once (adapt's error for an old upstream).
      const { ready, old } = this.readyByVersion();
      for (const c of old) excludeUpstreams.add(c.name);
      if (old.length > 0 && old.length === ready.length) upstreamCall(method, args, old[0]!.version!); // throws
    }
    if (method === 'mempool.get_info') {
      // A 1.6 server reports the daemon's own figures; an older one's are derived (adapt.ts), so it is the fallback.
      const { ready, old } = this.readyByVersion();
      if (old.length < ready.length) for (const c of old) excludeUpstreams.add(c.name);
    }
    for (;;) {
      let conn: UpstreamConnection;
      try {
        conn = await this.pool.acquire(deadline, {
          key,
          ...placement,
          ...(prefer !== undefined ? { prefer } : {}),
          // After a "not found", only upstreams up now are asked: waiting for one to reconnect would hold a definitive answer.
          noWait: notFound !== null,
          ...(NOT_IDEMPOTENT.has(method) ? { broadcast: true } : {}),
          excludeUpstreams,
          excludeConnections,
        });
      } catch (err) {
        if (skippedForGap && lastError === null && notFound === null) {
          throw new RpcError(ErrorCode.UNAVAILABLE, `${method} with cp_height needs an upstream that serves checkpoint proofs (electrs does not); none is available`);
        }
        throw toClientError(notFound ?? lastError ?? err);
      }
      const gaps = this.gaps.of(conn);
      if (gap === 'cp_height' && gaps.has(gap)) {
        excludeUpstreams.add(conn.name);
        skippedForGap = true;
        continue;
      }
      const call = upstreamCall(method, args, conn.version!, gaps);
      const timeout = Math.max(1, Math.min(this.opts.attemptTimeoutMs, deadline - Date.now()));
      try {
        let raw: unknown;
        let alsoRaw: unknown;
        if (call.also === undefined) raw = await conn.request(call.method, call.params, timeout, passRaw && passesThrough(call));
        else [raw, alsoRaw] = await Promise.all([conn.request(call.method, call.params, timeout), conn.request(call.also.method, call.also.params, timeout)]);
        const canonical = call.toCanonical(raw, alsoRaw);
        const wrong = verify ? await verify(canonical) : null;
        if (wrong !== null) {
          this.opts.onVerificationFailure?.(conn.name, method, wrong);
          this.pool.quarantine(conn.name, `${method}: ${wrong}`, this.opts.quarantineMs);
          excludeUpstreams.add(conn.name);
          lastError = new RpcError(ErrorCode.UNAVAILABLE, 'no upstream gave an answer that verifies; try again later');
          if (Date.now() >= deadline) throw lastError;
          this.opts.onFailover?.(conn.name, 'verification');
          continue;
        }
        this.pool.recordSuccess(conn);
        this.origins.learn(method, canonical, conn.name, this.pool.referenceTipHeight());
        return clientResult(method, canonical, clientVersion);
      } catch (err) {
        if (gap !== null && !gaps.has(gap) && revealsGap(gap, err)) {
          // The server lacks it though its version has it: asked again, translated (get_mempool) or elsewhere (cp_height).
          this.gaps.learn(conn, gap);
          this.pool.recordSuccess(conn);
          if (gap === 'cp_height') {
            excludeUpstreams.add(conn.name);
            skippedForGap = true;
          }
          continue;
        }
        const failure = classifyFailure(err);
        if (failure === 'definitive') {
          this.pool.recordSuccess(conn);
          if (isTxLookup(method) && isUnknownTransaction(err) && Date.now() < deadline) {
            // Not this upstream's fault, nor yet the answer: another may have seen the transaction.
            notFound = err;
            excludeUpstreams.add(conn.name);
            continue;
          }
          throw toClientError(err);
        }
        this.pool.recordFailure(conn, (err as Error).message);
        lastError = err;
        const mayRepeat = !NOT_IDEMPOTENT.has(method) || (err instanceof UpstreamError && err.notSent);
        if (!mayRepeat || Date.now() >= deadline) throw toClientError(err);
        this.opts.onFailover?.(conn.name, failure);
        // A dead connection is excluded by itself (its upstream may reconnect); an upstream that answered badly is excluded whole.
        if (failure === 'connection') excludeConnections.add(conn);
        else excludeUpstreams.add(conn.name);
      }
    }
  }
}

export function lastHeightAsked(method: string, args: readonly unknown[]): number | null {
  if (method === 'blockchain.block.header' && typeof args[0] === 'number') return args[0];
  // A proof for a block the upstream has not got yet would be an error ("tx not in block"), not a proof.
  if (method === 'blockchain.transaction.get_merkle' && typeof args[1] === 'number') return args[1];
  if (method === 'blockchain.transaction.id_from_pos' && typeof args[0] === 'number') return args[0];
  if (method === 'blockchain.block.headers' && typeof args[0] === 'number' && typeof args[1] === 'number') return args[0] + Math.max(args[1], 1) - 1;
  return null;
}

/** Requests about one scripthash stick to one upstream so a wallet's views are consistent. */
function stickyKey(method: string, args: readonly unknown[]): string | undefined {
  return method.startsWith('blockchain.scripthash.') && typeof args[0] === 'string' ? args[0] : undefined;
}

/**
 * 'definitive': the server's real answer, the same anywhere; 'connection': the
 * connection died; 'server': this server failed to answer (worth asking another).
 */
export function classifyFailure(err: unknown): 'definitive' | 'connection' | 'server' {
  if (err instanceof UpstreamError) return err.kind === 'closed' || err.kind === 'connect' ? 'connection' : 'server';
  if (!(err instanceof RpcError)) return 'server';
  // Fulcrum says "history too large" with -32603: the same answer from any upstream, not a failure.
  if (isHistoryTooLarge(err)) return 'definitive';
  switch (err.code) {
    case ErrorCode.INTERNAL_ERROR:
    case ErrorCode.SERVER_BUSY:
    case ErrorCode.UNAVAILABLE:
    case ErrorCode.EXCESSIVE_RESOURCE_USAGE:
      return 'server';
    case ErrorCode.DAEMON_ERROR:
      // "No such mempool or blockchain transaction" (bitcoind -5) is an answer, not a failure.
      return isUnknownTransaction(err) ? 'definitive' : 'server';
    default:
      return 'definitive';
  }
}

/** bitcoind's -5 through ElectrumX ("daemon error: ... 'code': -5") or a server's own "not found". */
export function isUnknownTransaction(err: unknown): err is RpcError {
  return (
    err instanceof RpcError &&
    err.code === ErrorCode.DAEMON_ERROR &&
    /no such mempool|not found|"code": ?-5\b|'code': ?-5\b/i.test(err.message)
  );
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

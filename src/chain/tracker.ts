// SPDX-License-Identifier: MIT
/**
 * The chain tracker: follows every upstream's tip, fetches what it needs to
 * link each new tip to the headers it holds, verifies linkage, proof of work
 * and difficulty, and keeps the best valid chain by cumulative work. It owns
 * the tip served to wallets: the tip moves forward, or back only through a
 * real reorg (a heavier chain forking below it), announced as a `reorg` event
 * naming the orphaned blocks. An upstream that sends an invalid header, or
 * follows a lighter fork, is quarantined in the pool.
 */
import { EventEmitter } from 'node:events';
import type { Network } from '../config/networks.js';
import type { Logger } from '../observability/logger.js';
import { blockHash, checkProofOfWork, parseHeader } from '../protocol/bitcoin/header.js';
import { canonicalHeaders } from '../routing/adapt.js';
import type { HeaderTip, UpstreamPool } from '../upstream/pool.js';
import { HeaderChain, type ChainHeader } from './header-chain.js';

export interface Reorg {
  /** The last height both chains share. */
  readonly forkHeight: number;
  /** Hashes of the blocks no longer on the best chain, lowest first. */
  readonly orphaned: readonly string[];
  readonly tip: HeaderTip;
}

export interface TrackerEvents {
  tip: [tip: HeaderTip];
  reorg: [reorg: Reorg];
}

export interface TrackerOptions {
  /** Headers kept in memory (at least the last 200 blocks; a retarget period more is kept anyway). */
  readonly keep: number;
  /** Deepest reorg followed; a fork below it is treated as another chain. */
  readonly maxReorgDepth: number;
  readonly requestTimeoutMs: number;
  /** How long an upstream that sent an invalid header stays out of rotation. */
  readonly quarantineMs: number;
}

/** Headers per blockchain.block.headers call: the cap ElectrumX, Fulcrum and electrs all use. */
const MAX_HEADERS_PER_CALL = 2016;

/** An upstream answered, but without the headers its own tip implies: it announced a chain it cannot show. */
class UnbackedTip extends Error {}

export class ChainTracker extends EventEmitter<TrackerEvents> {
  private readonly chain: HeaderChain;
  /** Tips are handled one at a time, in arrival order. */
  private queue: Promise<void> = Promise.resolve();
  /** Upstreams quarantined because they follow a lighter fork (released when they rejoin). */
  private readonly onFork = new Set<string>();
  /** The last tip each upstream announced (queued or handled), to find those a reorg leaves on the losing side. */
  private readonly offered = new Map<string, { readonly height: number; readonly hash: string }>();

  constructor(
    private readonly pool: UpstreamPool,
    private readonly network: Network,
    private readonly opts: TrackerOptions,
    private readonly log: Logger,
  ) {
    super();
    this.setMaxListeners(0);
    this.chain = new HeaderChain(network, Math.max(opts.keep, opts.maxReorgDepth + 1));
    pool.on('tip', (upstream, tip) => {
      // Checked at once, before the pool weighs this tip against the others': a tip without proof
      // of work must not make honest upstreams look behind, even for a moment.
      const pow = checkProofOfWork(tip.hex, this.network);
      if (!pow.ok) {
        this.quarantine(upstream, `tip ${tip.height} fails proof of work (${pow.reason})`);
        return;
      }
      this.offered.set(upstream, { height: tip.height, hash: blockHash(tip.hex) });
      this.queue = this.queue
        .then(() => this.offer(upstream, tip))
        .catch((err: Error) => (err instanceof UnbackedTip ? this.quarantine(upstream, err.message) : this.log.warn({ upstream, err: err.message }, 'could not follow an upstream tip')));
    });
    // The pool measures lag against the verified tip, not against what upstreams claim.
    this.on('tip', (t) => pool.setVerifiedTip(t.height));
  }

  get tip(): HeaderTip | null {
    const t = this.chain.tip;
    return t ? { height: t.height, hex: t.hex } : null;
  }

  /**
   * The hash of the best chain's block at `height`, when it is verified: in
   * the window held, or the block just below it (the lowest header's prev-hash).
   */
  hashAt(height: number): string | undefined {
    const held = this.chain.hashAt(height);
    if (held !== undefined || height !== this.chain.baseHeight - 1) return held;
    return this.chain.get(this.chain.baseHeight)?.prevHash;
  }

  headerAt(height: number): ChainHeader | undefined {
    return this.chain.get(height);
  }

  /** Resolves once every tip offered so far has been handled (tests and shutdown). */
  settled(): Promise<void> {
    return this.queue;
  }

  private async offer(upstream: string, offered: HeaderTip): Promise<void> {
    const hash = blockHash(offered.hex);
    const ours = this.chain.tip;
    if (!ours) {
      await this.bootstrap(upstream, offered);
      return;
    }
    if (this.chain.hashAt(offered.height) === hash) {
      this.rejoined(upstream);
      return;
    }
    if (offered.height <= ours.height - this.opts.maxReorgDepth) {
      // Far behind on a chain we no longer hold: lagging, or another chain. The pool's lag rules keep it out.
      return;
    }
    if (offered.height === ours.height + 1 && parseHeader(offered.hex).prevHash === ours.hash) {
      this.extend(upstream, ours.height + 1, [offered.hex]);
      return;
    }
    await this.follow(upstream, offered, ours);
  }

  /** The first tip: trust the last `keep` headers below it once they verify among themselves. */
  private async bootstrap(upstream: string, offered: HeaderTip): Promise<void> {
    const start = Math.max(0, offered.height - Math.max(this.opts.keep, this.network.retarget.interval + 1) + 1);
    const hexes = await this.fetch(upstream, start, offered.height - start);
    hexes.push(offered.hex);
    const verdict = this.chain.verifyBranch(start, hexes, true);
    if (!verdict.ok) {
      this.quarantine(upstream, `header ${verdict.height}: ${verdict.reason}`);
      return;
    }
    this.chain.adopt(verdict.headers, true);
    this.log.info({ upstream, height: offered.height, from: start }, 'chain tracker anchored');
    this.emit('tip', this.tip!);
  }

  private extend(upstream: string, start: number, hexes: string[]): void {
    const verdict = this.chain.verifyBranch(start, hexes);
    if (!verdict.ok) {
      this.quarantine(upstream, `header ${verdict.height}: ${verdict.reason}`);
      return;
    }
    this.chain.adopt(verdict.headers);
    this.rejoined(upstream);
    this.emit('tip', this.tip!);
  }

  /** A tip that does not simply extend ours: fetch back to the fork, weigh both branches. */
  private async follow(upstream: string, offered: HeaderTip, ours: ChainHeader): Promise<void> {
    const low = Math.max(this.chain.baseHeight, Math.min(offered.height, ours.height) - this.opts.maxReorgDepth);
    // Where their chain leaves ours: fetch from `low` up to the lower of the two tips and compare hashes.
    const compareTo = Math.min(offered.height - 1, ours.height);
    let fork = -1;
    if (compareTo >= low) {
      const theirs = await this.fetch(upstream, low, compareTo - low + 1);
      for (let i = theirs.length - 1; i >= 0; i--) {
        if (blockHash(theirs[i]!) === this.chain.hashAt(low + i)) {
          fork = low + i;
          break;
        }
      }
    }
    if (fork < 0) {
      this.quarantine(upstream, `no common block with our chain within ${this.opts.maxReorgDepth} blocks`);
      return;
    }
    const branch = await this.fetch(upstream, fork + 1, offered.height - fork - 1);
    branch.push(offered.hex);
    const verdict = this.chain.verifyBranch(fork + 1, branch);
    if (!verdict.ok) {
      this.quarantine(upstream, `header ${verdict.height}: ${verdict.reason}`);
      return;
    }
    const ourWork = this.chain.workAbove(fork);
    if (verdict.work <= ourWork) {
      // A lighter (or equal) fork: wallets stay on ours; this upstream waits until it rejoins.
      if (!this.onFork.has(upstream)) {
        this.onFork.add(upstream);
        this.pool.quarantine(upstream, `follows a lighter fork from height ${fork + 1}`, this.opts.quarantineMs);
      }
      return;
    }
    const orphaned = this.chain.adopt(verdict.headers);
    this.rejoined(upstream);
    const tip = this.tip!;
    if (orphaned.length > 0) {
      this.log.warn({ upstream, forkHeight: fork, orphaned: orphaned.length, height: tip.height }, 'chain reorganisation');
      this.leftBehind(fork);
      this.emit('reorg', { forkHeight: fork, orphaned, tip });
    }
    this.emit('tip', tip);
  }

  /** After a reorg: upstreams whose last tip is now orphaned follow a lighter fork until they announce ours. */
  private leftBehind(fork: number): void {
    const top = this.chain.tip!.height;
    for (const [name, t] of this.offered) {
      if (t.height <= fork || t.height > top || this.chain.hashAt(t.height) === t.hash) continue;
      if (this.onFork.has(name) || this.pool.state(name) === 'quarantined') continue;
      this.onFork.add(name);
      this.pool.quarantine(name, `left on a lighter fork by the reorg above height ${fork}`, this.opts.quarantineMs);
    }
  }

  private rejoined(upstream: string): void {
    if (this.onFork.delete(upstream)) this.pool.release(upstream);
  }

  private quarantine(upstream: string, reason: string): void {
    this.offered.delete(upstream);
    this.log.warn({ upstream, reason }, 'invalid header from upstream');
    this.pool.quarantine(upstream, reason, this.opts.quarantineMs);
  }

  /** Headers [start, start+count) from one upstream, in as many calls as the per-call cap needs. */
  private async fetch(upstream: string, start: number, count: number): Promise<string[]> {
    const out: string[] = [];
    while (out.length < count) {
      const conn = this.pool.connectionFor(upstream);
      if (!conn) throw new Error(`${upstream} has no open connection`);
      const want = Math.min(MAX_HEADERS_PER_CALL, count - out.length);
      const raw = await conn.request('blockchain.block.headers', [start + out.length, want], this.opts.requestTimeoutMs);
      const { headers } = canonicalHeaders(raw) as { headers: string[] };
      if (headers.length === 0) throw new UnbackedTip(`announced tip needs headers from ${start + out.length} that it does not serve`);
      out.push(...headers.slice(0, want));
    }
    return out;
  }
}

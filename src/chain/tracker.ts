// SPDX-License-Identifier: MIT
/**
 * The chain tracker: follows every upstream's tip, fetches what it needs to
 * link each new tip to the headers it holds, verifies linkage, proof of work
 * and difficulty, and keeps the best valid chain by cumulative work. It owns
 * the tip served to wallets: the tip moves forward, or back only through a
 * real reorg (a heavier chain forking below it), announced as a `reorg` event
 * naming the orphaned blocks. An upstream that sends an invalid header, or
 * follows a lighter fork, is quarantined in the pool.
 *
 * Anchoring: nothing an upstream says is trusted but the network's newest
 * checkpoint (config/networks.ts, or chain.checkpoints). A chain is taken only
 * if it holds the checkpoint's block at its height and every header above it
 * follows the rules, retargets included (the anchor holds the period the first
 * retarget measures). The first anchoring waits briefly for every upstream's
 * first tip and weighs them all; a later tip that forks below the headers held
 * is verified from the checkpoint again and weighed the same way. Work decides,
 * never height and never who answered first.
 *
 * Each upstream's tips are handled in its own lane: only its newest offer
 * waits (an older one is superseded), and the headers it needs are fetched
 * from that upstream alone, each call bounded by `fetchTimeoutMs`. A slow or
 * stalling upstream therefore delays only its own lane, and a timeout counts
 * against its health (`pool.recordFailure`). The chain itself changes only in
 * synchronous steps after a lane's fetches: the candidate is checked against
 * the chain as it is then (which another lane may have moved meanwhile), so
 * selection by work stays exact without holding anything across a fetch.
 */
import { EventEmitter } from 'node:events';
import type { Checkpoint, Network } from '../config/networks.js';
import type { Logger } from '../observability/logger.js';
import { blockHash, checkProofOfWork, parseHeader } from '../protocol/bitcoin/header.js';
import { canonicalHeaders } from '../routing/adapt.js';
import { UpstreamError } from '../upstream/connection.js';
import type { HeaderTip, UpstreamPool } from '../upstream/pool.js';
import { HeaderChain, anchorStart, compareWork, type ChainHeader } from './header-chain.js';

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
  /** Bound of each header call to an upstream; a call that takes longer counts against that upstream's health. */
  readonly fetchTimeoutMs: number;
  /** How long an upstream that sent an invalid header stays out of rotation. */
  readonly quarantineMs: number;
  /** Before the first anchoring, how long to wait for every upstream's first tip (so all are weighed). Default 2 s. */
  readonly gatherMs?: number;
}

/** A chain that fails the rules (or the checkpoint): its upstream is a liar. */
class InvalidChain extends Error {}

/** Verdicts kept per tip hash, so a liar re-announcing the same tip costs no new fetch. */
const MAX_VERDICTS = 1024;

/** Headers per blockchain.block.headers call: the cap ElectrumX, Fulcrum and electrs all use. */
const MAX_HEADERS_PER_CALL = 2016;

/** An upstream answered, but without the headers its own tip implies: it announced a chain it cannot show. */
class UnbackedTip extends Error {}

/** The chain moved under a lane's fetch so that what it fetched no longer joins it: fetch again. */
class ChainMoved extends Error {}

/** Times a tip is tried again when the chain moves under its fetches (another lane took blocks meanwhile). */
const MAX_ATTEMPTS = 3;

/** One upstream's lane: its newest tip not yet handled, and the loop handling them while it runs. */
interface Lane {
  pending: HeaderTip | null;
  /** Arrival number of `pending` (see ChainTracker.arrivals). */
  seq: number;
  running: Promise<void> | null;
}

/** The first anchoring under way; `claimsSeq` is the last arrival it weighed (Infinity until it reads them). */
interface Anchoring {
  readonly done: Promise<void>;
  claimsSeq: number;
}

export class ChainTracker extends EventEmitter<TrackerEvents> {
  private chain: HeaderChain;
  private readonly checkpoint: Checkpoint;
  private readonly keep: number;
  /** Tips already verified from the checkpoint and found wanting: hash → why (lighter, or invalid). */
  private readonly verdicts = new Map<string, { readonly invalid: boolean; readonly reason: string; readonly work?: bigint }>();
  /** Per upstream: its newest tip waiting, and the loop handling its tips (one at a time, newest wins). */
  private readonly lanes = new Map<string, Lane>();
  /** Tips offered so far, numbering each arrival (anchoring knows which it weighed). */
  private arrivals = 0;
  private anchoring: Anchoring | null = null;
  /** Upstreams the tracker quarantined for an invalid chain (their tips are ignored while that lasts). */
  private readonly liars = new Set<string>();
  /** Upstreams quarantined because they follow a lighter fork (released when they rejoin). */
  private readonly onFork = new Set<string>();
  /** The last tip each upstream announced (queued or handled), to find those a reorg leaves on the losing side. */
  private readonly offered = new Map<string, { readonly height: number; readonly hash: string; readonly hex: string }>();

  constructor(
    private readonly pool: UpstreamPool,
    private readonly network: Network,
    private readonly opts: TrackerOptions,
    private readonly log: Logger,
  ) {
    super();
    this.setMaxListeners(0);
    this.keep = Math.max(opts.keep, opts.maxReorgDepth + 1);
    this.chain = new HeaderChain(network, this.keep);
    const newest = network.checkpoints[network.checkpoints.length - 1];
    if (!newest) throw new Error(`network ${network.name} has no checkpoint to anchor on`);
    this.checkpoint = newest;
    // Until a chain is verified nobody is lagging: a claimed-higher tip proves nothing.
    pool.measureLagFromVerifiedTip();
    pool.on('tip', (upstream, tip) => {
      // Checked at once, before the pool weighs this tip against the others': a tip without proof
      // of work must not make honest upstreams look behind, even for a moment.
      const pow = checkProofOfWork(tip.hex, this.network);
      if (!pow.ok) {
        this.quarantine(upstream, `tip ${tip.height} fails proof of work (${pow.reason})`);
        return;
      }
      this.offered.set(upstream, { height: tip.height, hash: blockHash(tip.hex), hex: tip.hex });
      this.enqueue(upstream, tip);
    });
    // The pool measures lag against the verified tip, not against what upstreams claim.
    this.on('tip', (t) => pool.setVerifiedTip(t.height));
  }

  get tip(): HeaderTip | null {
    const t = this.chain.tip;
    return t ? { height: t.height, hex: t.hex } : null;
  }

  /**
   * The verified chain's hash at `height`: in the window of whole headers, the
   * block just below it, or deeper, from the index of every hash verified
   * since the anchor (undefined below the anchor and above the tip).
   */
  hashAt(height: number): string | undefined {
    const held = this.chain.verifiedHash(height);
    if (held !== undefined || height !== this.chain.baseHeight - 1) return held;
    return this.chain.get(this.chain.baseHeight)?.prevHash;
  }

  headerAt(height: number): ChainHeader | undefined {
    return this.chain.get(height);
  }

  /**
   * The verified header at `height` from the anchor up, 80 bytes viewed in
   * the index (write it out, never keep it: the next adopt may rewrite it).
   */
  headerBytes(height: number): Buffer | undefined {
    return this.chain.headerBytes(height);
  }

  /**
   * Resolves once every tip offered so far has been handled (tests and
   * shutdown): each busy lane has run dry. A stalled lane holds this for at
   * most its fetch timeouts.
   */
  async settled(): Promise<void> {
    const busy = [...this.lanes.values()].map((l) => l.running).filter((r): r is Promise<void> => r !== null);
    await Promise.all(busy);
  }

  /** The upstream's newest tip replaces any it had waiting; its lane starts if idle. */
  private enqueue(upstream: string, tip: HeaderTip): void {
    let lane = this.lanes.get(upstream);
    if (!lane) {
      lane = { pending: null, seq: 0, running: null };
      this.lanes.set(upstream, lane);
    }
    lane.pending = tip;
    lane.seq = ++this.arrivals;
    lane.running ??= this.drain(upstream, lane);
  }

  private async drain(upstream: string, lane: Lane): Promise<void> {
    while (lane.pending) {
      const tip = lane.pending;
      const seq = lane.seq;
      lane.pending = null;
      try {
        await this.handle(upstream, tip, seq);
      } catch (err) {
        if (err instanceof UnbackedTip || err instanceof InvalidChain) this.quarantine(upstream, err.message);
        else this.log.warn({ upstream, height: tip.height, err: (err as Error).message }, 'could not follow an upstream tip');
      }
    }
    lane.running = null;
    // An idle lane is forgotten (upstreams come and go on reloads); the next tip opens a new one.
    if (this.lanes.get(upstream) === lane) this.lanes.delete(upstream);
  }

  /** One tip, tried again (bounded) when the chain moves under its fetches. */
  private async handle(upstream: string, offered: HeaderTip, seq: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.offer(upstream, offered, seq);
        return;
      } catch (err) {
        if (!(err instanceof ChainMoved)) throw err;
        if (attempt >= MAX_ATTEMPTS) {
          // Its next tip is tried afresh; meanwhile the chain moves without it.
          this.log.debug({ upstream, height: offered.height }, 'chain kept moving under an upstream tip; left for its next one');
          return;
        }
      }
    }
  }

  /**
   * Before the first chain: join the anchoring under way (or start one).
   * True when this tip was weighed by it (nothing more to do), false when it
   * arrived after the claims were read and must be handled on the new chain.
   */
  private async anchored(seq: number): Promise<boolean> {
    while (!this.chain.tip) {
      if (!this.anchoring) {
        const run: { done: Promise<void>; claimsSeq: number } = { done: Promise.resolve(), claimsSeq: Infinity };
        run.done = this.anchor(run).finally(() => {
          if (this.anchoring === run) this.anchoring = null;
        });
        this.anchoring = run;
      }
      const run = this.anchoring;
      await run.done;
      if (seq <= run.claimsSeq) return true;
    }
    return false;
  }

  private async offer(upstream: string, offered: HeaderTip, seq: number): Promise<void> {
    const hash = blockHash(offered.hex);
    if (offered.height < this.checkpoint.height) {
      // Not synced past the checkpoint: behind, not lying; the pool's lag rules keep it out.
      this.log.debug({ upstream, height: offered.height, checkpoint: this.checkpoint.height }, 'upstream tip below the checkpoint');
      return;
    }
    if (this.liars.has(upstream)) {
      if (this.pool.state(upstream) !== 'quarantined') this.liars.delete(upstream);
    }
    if (this.liars.has(upstream)) {
      // A liar's tips are not followed while it is out (each could cost a verification from the
      // checkpoint); once its quarantine ends its next tip is weighed like anyone's.
      this.log.debug({ upstream, height: offered.height }, 'tip of a quarantined upstream ignored');
      return;
    }
    if (!this.chain.tip && (await this.anchored(seq))) return;
    const ours = this.chain.tip;
    if (!ours) return;
    if (this.chain.hashAt(offered.height) === hash) {
      this.rejoined(upstream);
      return;
    }
    const known = this.verdicts.get(hash);
    if (known) {
      if (known.invalid) throw new InvalidChain(known.reason);
      if (known.work !== undefined && known.work <= ours.work) {
        this.lighter(upstream, known.reason);
        return;
      }
    }
    if (offered.height <= ours.height - this.opts.maxReorgDepth) {
      // Far behind on a chain we no longer hold: lagging, or another chain. The pool's lag rules keep it out.
      return;
    }
    if (offered.height === ours.height + 1 && parseHeader(offered.hex).prevHash === ours.hash) {
      this.extend(upstream, ours.height + 1, [offered.hex]);
      return;
    }
    await this.follow(upstream, offered, hash, ours);
  }

  /**
   * The first chain: every upstream's tip offered so far (after a short wait
   * for the others' first tips) is verified from the checkpoint, the most work
   * wins. Those on a valid chain with less work wait, quarantined, until they
   * follow ours; those on an invalid one are quarantined as liars.
   */
  private async anchor(run: Anchoring): Promise<void> {
    await this.gather();
    if (this.chain.tip) return;
    run.claimsSeq = this.arrivals;
    // Highest claim first: honest upstreams a few blocks behind it are then found on it without a fetch.
    const claims = [...this.offered].filter(([, t]) => t.height >= this.checkpoint.height).sort((a, b) => b[1].height - a[1].height);
    const candidates: { upstream: string; chain: HeaderChain }[] = [];
    for (const [upstream, t] of claims) {
      if (candidates.some((c) => c.chain.hashAt(t.height) === t.hash)) continue;
      const known = this.verdicts.get(t.hash);
      if (known?.invalid) {
        this.quarantine(upstream, known.reason);
        continue;
      }
      try {
        candidates.push({ upstream, chain: await this.fromCheckpoint(upstream, { height: t.height, hex: t.hex }) });
      } catch (err) {
        if (err instanceof InvalidChain || err instanceof UnbackedTip) this.quarantine(upstream, err.message);
        else this.log.warn({ upstream, err: (err as Error).message }, 'could not verify an upstream chain');
      }
    }
    let best: { upstream: string; chain: HeaderChain } | undefined;
    for (const c of candidates) if (!best || compareWork(c.chain.tip!, best.chain.tip!) > 0) best = c;
    if (!best) return;
    this.chain = best.chain;
    const tip = this.chain.tip!;
    for (const c of candidates) {
      if (c === best) continue;
      const reason = `its chain to ${c.chain.tip!.height} has less work than the one to ${tip.height}`;
      this.remember(c.chain.tip!, false, reason);
    }
    for (const [upstream, t] of this.offered) {
      if (this.chain.hashAt(t.height) === t.hash) continue;
      const v = this.verdicts.get(t.hash);
      if (v && !v.invalid) this.lighter(upstream, v.reason);
    }
    this.log.info({ upstream: best.upstream, height: tip.height, checkpoint: this.checkpoint.height, candidates: candidates.length, work: tip.work.toString() }, 'chain tracker anchored');
    this.emit('tip', this.tip!);
  }

  /** Waits (bounded) until every upstream has offered a tip or cannot (down, wrong network). */
  private async gather(): Promise<void> {
    const deadline = Date.now() + (this.opts.gatherMs ?? 2000);
    const waiting = (): boolean => this.pool.status().some((u) => u.tipHeight === null && (u.state === 'connecting' || u.state === 'healthy' || u.state === 'lagging'));
    while (waiting() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }

  /**
   * The upstream's chain from the checkpoint to `tip`, verified: the anchor
   * run must end at the checkpoint's block, every header above it must link,
   * meet its proof of work and carry the bits the rules expect. Checked in
   * chunks of one call each, so memory stays at the window held.
   */
  private async fromCheckpoint(upstream: string, tip: HeaderTip): Promise<HeaderChain> {
    const cp = this.checkpoint;
    const chain = new HeaderChain(this.network, this.keep);
    const start = anchorStart(this.network, cp.height);
    const trusted = tip.height === cp.height ? [...(await this.fetch(upstream, start, cp.height - start)), tip.hex] : await this.fetch(upstream, start, cp.height - start + 1);
    const anchored = chain.anchorOn(cp, start, trusted);
    if (!anchored.ok) throw new InvalidChain(`header ${anchored.height}: ${anchored.reason}`);
    for (let next = cp.height + 1; next <= tip.height; ) {
      const count = Math.min(MAX_HEADERS_PER_CALL, tip.height - next + 1);
      const last = next + count - 1 === tip.height;
      const hexes = await this.fetch(upstream, next, last ? count - 1 : count);
      if (last) hexes.push(tip.hex);
      const verdict = chain.verifyBranch(next, hexes);
      if (!verdict.ok) {
        this.remember({ hash: blockHash(tip.hex), height: tip.height }, true, `header ${verdict.height}: ${verdict.reason}`);
        throw new InvalidChain(`header ${verdict.height}: ${verdict.reason}`);
      }
      chain.adopt(verdict.headers);
      next += count;
    }
    return chain;
  }

  private remember(tip: { readonly hash: string; readonly height: number; readonly work?: bigint }, invalid: boolean, reason: string): void {
    if (this.verdicts.size >= MAX_VERDICTS) this.verdicts.delete(this.verdicts.keys().next().value!);
    this.verdicts.set(tip.hash, tip.work === undefined ? { invalid, reason } : { invalid, reason, work: tip.work });
  }

  /** A valid chain with less work than ours: out of rotation until the upstream follows ours. */
  private lighter(upstream: string, reason: string): void {
    if (this.onFork.has(upstream)) return;
    this.onFork.add(upstream);
    this.log.warn({ upstream, reason }, 'upstream follows a chain with less work');
    this.pool.quarantine(upstream, `follows a lighter chain: ${reason}`, this.opts.quarantineMs);
  }

  /**
   * A tip forking below the headers held: verify its chain from the
   * checkpoint and take it only if it carries more work than ours.
   */
  private async deepFork(upstream: string, offered: HeaderTip, hash: string): Promise<void> {
    const theirs = await this.fromCheckpoint(upstream, offered);
    // Weighed against the chain as it is now: other lanes may have moved it during the fetch.
    if (this.chain.hashAt(offered.height) === hash) {
      this.rejoined(upstream);
      return;
    }
    const ours = this.chain.tip!;
    const tip = theirs.tip!;
    if (compareWork(tip, ours) <= 0) {
      const reason = `its chain to ${tip.height} forks below the ${this.keep} headers held and has less work than ours to ${ours.height}`;
      this.remember(tip, false, reason);
      this.lighter(upstream, reason);
      return;
    }
    const old = this.chain;
    let fork = -1;
    for (let h = Math.min(ours.height, tip.height); h >= Math.max(old.baseHeight, theirs.baseHeight); h--) {
      if (old.hashAt(h) === theirs.hashAt(h)) {
        fork = h;
        break;
      }
    }
    // No block in common within both windows: everything held above the checkpoint (or the window) goes.
    if (fork < 0) fork = Math.max(this.checkpoint.height, Math.min(old.baseHeight, theirs.baseHeight) - 1);
    const orphaned: string[] = [];
    for (let h = fork + 1; h <= ours.height; h++) {
      const hash = old.hashAt(h);
      if (hash !== undefined) orphaned.push(hash);
    }
    this.chain = theirs;
    this.remember(ours, false, `its chain to ${ours.height} has less work than the one to ${tip.height}`);
    this.rejoined(upstream);
    this.log.warn({ upstream, forkHeight: fork, orphaned: orphaned.length, height: tip.height }, 'chain replaced by one with more work from the checkpoint');
    // Those that served the replaced chain are now on the lighter one.
    for (const [name, t] of this.offered) {
      if (name !== upstream && old.hashAt(t.height) === t.hash && this.chain.hashAt(t.height) !== t.hash) this.lighter(name, `left on a chain with less work than the one to ${tip.height}`);
    }
    if (orphaned.length > 0) this.emit('reorg', { forkHeight: fork, orphaned, tip: this.tip! });
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

  /**
   * A tip that does not simply extend ours: fetch back to the fork, weigh both
   * branches. The fetches come from this upstream alone; what they bring is
   * then applied in one synchronous step against the chain as it is by then.
   */
  private async follow(upstream: string, offered: HeaderTip, hash: string, ours: ChainHeader): Promise<void> {
    const low = Math.max(this.chain.baseHeight, Math.min(offered.height, ours.height) - this.opts.maxReorgDepth);
    // Where their chain leaves ours: fetch from `low` up to the lower of the two tips and compare hashes.
    const compareTo = Math.min(offered.height - 1, ours.height);
    let fork = -1;
    let forkHash: string | undefined;
    if (compareTo >= low) {
      const theirs = await this.fetch(upstream, low, compareTo - low + 1);
      if (this.chain.hashAt(offered.height) === hash) {
        // Another upstream brought the same blocks meanwhile.
        this.rejoined(upstream);
        return;
      }
      for (let i = theirs.length - 1; i >= 0; i--) {
        const h = blockHash(theirs[i]!);
        if (h === this.chain.hashAt(low + i)) {
          fork = low + i;
          forkHash = h;
          break;
        }
      }
    }
    if (fork < 0) {
      await this.deepFork(upstream, offered, hash);
      return;
    }
    const branch = await this.fetch(upstream, fork + 1, offered.height - fork - 1);
    branch.push(offered.hex);
    // From here to the end nothing awaits: this is the step that changes the chain.
    if (this.chain.hashAt(offered.height) === hash) {
      // Another upstream brought the same blocks meanwhile.
      this.rejoined(upstream);
      return;
    }
    if (this.chain.hashAt(fork) !== forkHash) throw new ChainMoved(`block ${fork} left the chain during the fetch`);
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
    this.onFork.delete(upstream);
    this.liars.add(upstream);
    this.log.warn({ upstream, reason }, 'invalid header from upstream');
    this.pool.quarantine(upstream, reason, this.opts.quarantineMs);
  }

  /**
   * Headers [start, start+count) from one upstream, in as many calls as the
   * per-call cap needs, each bounded by fetchTimeoutMs. A call that times out
   * is a failure on that upstream's health record: it announced a tip and
   * would not show the headers under it in time.
   */
  private async fetch(upstream: string, start: number, count: number): Promise<string[]> {
    const out: string[] = [];
    while (out.length < count) {
      const conn = this.pool.connectionFor(upstream);
      if (!conn) throw new Error(`${upstream} has no open connection`);
      const want = Math.min(MAX_HEADERS_PER_CALL, count - out.length);
      let raw: unknown;
      try {
        raw = await conn.request('blockchain.block.headers', [start + out.length, want], this.opts.fetchTimeoutMs);
      } catch (err) {
        if (err instanceof UpstreamError && err.kind === 'timeout') {
          const reason = `headers from ${start + out.length} not served within ${this.opts.fetchTimeoutMs} ms`;
          this.log.warn({ upstream, start: start + out.length, count: want, timeoutMs: this.opts.fetchTimeoutMs }, 'upstream header fetch timed out');
          this.pool.recordFailure(conn, reason);
        }
        throw err;
      }
      const { headers } = canonicalHeaders(raw) as { headers: string[] };
      if (headers.length === 0) throw new UnbackedTip(`announced tip needs headers from ${start + out.length} that it does not serve`);
      out.push(...headers.slice(0, want));
    }
    return out;
  }
}

// SPDX-License-Identifier: MIT
/**
 * The best chain of headers the gateway has verified: each links to the one
 * before it, meets its proof of work and carries the bits the retarget rules
 * expect. Holds a window of recent headers (enough for a retarget period) with
 * their cumulative work, so a competing branch can be weighed against it.
 * Pure: it never fetches; the tracker feeds it.
 */
import type { Checkpoint, Network } from '../config/networks.js';
import { blockHash, checkProofOfWork, parseHeader, workForBits } from '../protocol/bitcoin/header.js';
import { checkBits, timespanStartHeight, type HeaderFacts } from './difficulty.js';

export interface ChainHeader extends HeaderFacts {
  readonly hex: string;
  readonly hash: string;
  readonly prevHash: string;
  /** Work from the window's base up to and including this header. */
  readonly work: bigint;
}

export type BranchVerdict =
  | { readonly ok: true; readonly headers: readonly ChainHeader[]; readonly work: bigint }
  | { readonly ok: false; readonly reason: string; readonly height: number };

/**
 * The lowest height an anchor on a checkpoint at `height` must hold: the start
 * of the timespan the first retarget above it measures, so that retarget is
 * checked like any other (never taken on trust). Those headers are trusted
 * because their hashes chain up to the checkpoint's, not because of their bits.
 */
export function anchorStart(network: Network, height: number): number {
  const { interval } = network.retarget;
  const nextRetarget = (Math.floor(height / interval) + 1) * interval;
  return Math.max(0, Math.min(height, timespanStartHeight(network, nextRetarget)));
}

/** Which of two verified tips carries more work: positive when `a` does. Height never decides; equal work keeps the one held. */
export function compareWork(a: { readonly work: bigint }, b: { readonly work: bigint }): number {
  return a.work > b.work ? 1 : a.work < b.work ? -1 : 0;
}

/** Bytes of one block hash in the verified index. */
const HASH_BYTES = 32;
/** Bytes of one serialized header. */
const HEADER_BYTES = 80;
/** One height in the verified index: the block hash, then the header itself. */
const ENTRY_BYTES = HASH_BYTES + HEADER_BYTES;
/** The index grows by at least this many heights at a time (7 MB), then by a quarter. */
const INDEX_GROWTH = 65_536;

export class HeaderChain {
  private readonly byHeight = new Map<number, ChainHeader>();
  private base = -1;
  private top = -1;
  /**
   * Every verified block from the anchor up, its hash and its 80 bytes (112
   * bytes a height), long after the window of whole headers moved on. A deep
   * header an upstream sends, or one read back from a cache, is checked
   * against the hash; and the header itself is served from here, so the cache
   * neither stores nor fetches any header above the anchor. About 52,000
   * blocks a year above mainnet's checkpoint: under 3 MB at the end of 2026,
   * 5.8 MB more a year. Heights below the anchor are not in it.
   */
  private entries = Buffer.alloc(0);
  private indexBase = -1;
  private indexTop = -1;

  /** `keep` headers stay in memory; at least one retarget period more, so retargets can be checked. */
  constructor(
    private readonly network: Network,
    private readonly keep: number,
  ) {}

  get tip(): ChainHeader | null {
    return this.top < 0 ? null : this.byHeight.get(this.top)!;
  }

  /** The lowest height held. */
  get baseHeight(): number {
    return this.base;
  }

  get(height: number): ChainHeader | undefined {
    return this.byHeight.get(height);
  }

  hashAt(height: number): string | undefined {
    return this.byHeight.get(height)?.hash;
  }

  /** The verified hash at any height from the anchor up (the window's or the index's), in hex. */
  verifiedHash(height: number): string | undefined {
    const held = this.byHeight.get(height)?.hash;
    if (held !== undefined || height < this.indexBase || height > this.indexTop) return held;
    const at = (height - this.indexBase) * ENTRY_BYTES;
    return this.entries.toString('hex', at, at + HASH_BYTES);
  }

  /**
   * The verified header at `height` (80 bytes, a view into the index: valid
   * until the next adopt, so written out at once, never kept); undefined
   * below the anchor or above the tip.
   */
  headerBytes(height: number): Buffer | undefined {
    if (height < this.indexBase || height > this.indexTop) return undefined;
    const at = (height - this.indexBase) * ENTRY_BYTES + HASH_BYTES;
    return this.entries.subarray(at, at + HEADER_BYTES);
  }

  /**
   * Verifies consecutive headers from `startHeight`. The first links to our
   * header at startHeight-1 unless `anchor` is set (a run to start from; the
   * tracker only anchors through anchorOn, on a checkpoint, whose run holds
   * every header the first retarget above it needs). `bitsRules` false skips
   * the difficulty rules (anchorOn's run is trusted for its hashes instead).
   */
  verifyBranch(startHeight: number, hexes: readonly string[], anchor = false, bitsRules = true): BranchVerdict {
    const out: ChainHeader[] = [];
    let prev: ChainHeader | undefined = anchor ? undefined : this.byHeight.get(startHeight - 1);
    if (!anchor && !prev) return { ok: false, reason: `no header at ${startHeight - 1} to link to`, height: startHeight };
    let work = prev?.work ?? 0n;
    for (let i = 0; i < hexes.length; i++) {
      const height = startHeight + i;
      const hex = hexes[i]!.toLowerCase();
      let parsed;
      try {
        parsed = parseHeader(hex);
      } catch (err) {
        return { ok: false, reason: `malformed header: ${(err as Error).message}`, height };
      }
      const pow = checkProofOfWork(hex, this.network);
      if (!pow.ok) return { ok: false, reason: `proof of work: ${pow.reason}`, height };
      if (prev && parsed.prevHash !== prev.hash) return { ok: false, reason: `does not link to ${prev.hash} at ${prev.height}`, height };
      if (prev && bitsRules) {
        const startAt = timespanStartHeight(this.network, height);
        const periodStart = startAt >= startHeight ? out[startAt - startHeight] : this.byHeight.get(startAt);
        const facts = { height, bits: parsed.bits, time: parsed.time };
        const bits = checkBits(this.network, facts, prev, periodStart ?? null);
        if (!bits.ok && !(anchor && !periodStart)) return { ok: false, reason: bits.reason, height };
      }
      work += workForBits(parsed.bits);
      // On sha256d networks the proof-of-work hash is the block hash: hash each header once.
      const hash = this.network.powHash === 'sha256d' ? pow.powHash : blockHash(hex);
      const header: ChainHeader = { height, hex, hash, prevHash: parsed.prevHash, bits: parsed.bits, time: parsed.time, work };
      out.push(header);
      prev = header;
    }
    return { ok: true, headers: out, work: work - (this.byHeight.get(startHeight - 1)?.work ?? 0n) };
  }

  /**
   * Starts the chain on a checkpoint: `hexes` are the headers from `startHeight`
   * (anchorStart) up to and including the checkpoint's height; they must link
   * among themselves and the last must hash to the checkpoint's hash. Work is
   * then counted so the checkpoint's header carries the checkpoint's chainwork
   * (0 when unknown), making the tip's work comparable across chains anchored
   * on the same checkpoint. Everything verified after this follows every rule.
   */
  anchorOn(checkpoint: Checkpoint, startHeight: number, hexes: readonly string[]): BranchVerdict {
    const end = startHeight + hexes.length - 1;
    if (hexes.length === 0 || end !== checkpoint.height) {
      return { ok: false, reason: `the anchor run ${startHeight}..${end} does not end at the checkpoint height ${checkpoint.height}`, height: Math.max(startHeight, end) };
    }
    // Bits are not checked here: these headers are trusted for their hashes, which chain up to the checkpoint's.
    const verdict = this.verifyBranch(startHeight, hexes, true, false);
    if (!verdict.ok) return verdict;
    const last = verdict.headers[verdict.headers.length - 1]!;
    if (last.hash !== checkpoint.hash.toLowerCase()) {
      return { ok: false, reason: `block ${checkpoint.height} is ${last.hash}, not the checkpoint ${checkpoint.hash}`, height: checkpoint.height };
    }
    const shift = (checkpoint.chainwork ?? 0n) - last.work;
    const headers = verdict.headers.map((h) => ({ ...h, work: h.work + shift }));
    this.adopt(headers, true);
    return { ok: true, headers, work: last.work + shift };
  }

  /** Work of our chain above `height` (0 when height is our tip). */
  workAbove(height: number): bigint {
    const tip = this.tip;
    const at = this.byHeight.get(height);
    if (!tip || !at) return 0n;
    return tip.work - at.work;
  }

  /**
   * Makes a verified branch ours: headers above its start are replaced.
   * Returns the hashes it orphaned, lowest first.
   */
  adopt(branch: readonly ChainHeader[], anchor = false): string[] {
    if (branch.length === 0) return [];
    const start = branch[0]!.height;
    const orphaned: string[] = [];
    if (anchor) {
      this.byHeight.clear();
      this.base = start;
    } else {
      for (let h = start; h <= this.top; h++) {
        const old = this.byHeight.get(h);
        if (old) orphaned.push(old.hash);
        this.byHeight.delete(h);
      }
    }
    for (const header of branch) this.byHeight.set(header.height, header);
    this.top = branch[branch.length - 1]!.height;
    this.indexBranch(branch, anchor);
    const minKeep = Math.max(this.keep, this.network.retarget.interval + 2);
    while (this.top - this.base + 1 > minKeep) this.byHeight.delete(this.base++);
    return orphaned;
  }

  /** Writes a branch into the index; heights above its start it replaces are forgotten first. */
  private indexBranch(branch: readonly ChainHeader[], anchor: boolean): void {
    const start = branch[0]!.height;
    if (anchor || this.indexBase < 0 || start < this.indexBase || start > this.indexTop + 1) {
      this.indexBase = start;
      this.indexTop = start - 1;
    }
    this.indexTop = Math.min(this.indexTop, start - 1);
    const top = branch[branch.length - 1]!.height;
    const need = (top - this.indexBase + 1) * ENTRY_BYTES;
    if (need > this.entries.length) {
      const grown = Buffer.alloc(Math.max(need, this.entries.length + Math.max(INDEX_GROWTH * ENTRY_BYTES, Math.floor(this.entries.length / 4))));
      this.entries.copy(grown, 0, 0, Math.max(0, (this.indexTop - this.indexBase + 1) * ENTRY_BYTES));
      this.entries = grown;
    }
    for (const header of branch) {
      const at = (header.height - this.indexBase) * ENTRY_BYTES;
      this.entries.write(header.hash, at, HASH_BYTES, 'hex');
      this.entries.write(header.hex, at + HASH_BYTES, HEADER_BYTES, 'hex');
    }
    this.indexTop = top;
  }
}

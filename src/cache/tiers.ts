// SPDX-License-Identifier: MIT
/**
 * The two cache tiers: an in-process LRU bounded by bytes (L1) in front of an
 * optional Redis shared by every gateway instance (L2). Values are binary.
 * Redis is a help, never a dependency: every call has a short timeout, and a
 * Redis that is down or slow is skipped (and said so in metrics and a
 * rate-limited log line) until it answers again.
 */
import { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import type { Logger } from '../observability/logger.js';

export interface L2Observer {
  redisUp(up: boolean): void;
  redisLatency(seconds: number): void;
}

export type Tier = 'l1' | 'l2';

/**
 * The format generation of what the cache writes to Redis: bumped whenever a
 * key or value layout changes, so generations sharing one Redis never read
 * each other's entries. v1 keys were `eg:<network>:...`.
 */
export const CACHE_FORMAT_VERSION = 2;

/** Every cache key in Redis starts `eg:v<format>:<network>:`, so two networks or two generations never collide. */
export function redisKeyPrefix(network: string): string {
  return `eg:v${CACHE_FORMAT_VERSION}:${network}:`;
}

/**
 * Share of cache.memory_bytes kept for answers in their wire form (the
 * popular header ranges and chunks, transactions, as the JSON a wallet
 * receives): a memo of what the rest of L1 holds, so it is bounded apart and
 * never pushes out the headers it is built from.
 */
export const WIRE_SHARE = 1 / 8;
/** Per-entry overhead counted for an L1 entry (key object, LRU bookkeeping). */
const ENTRY_OVERHEAD = 64;

export class MemoryTier {
  private readonly lru: LRUCache<string, Buffer>;
  /** Answers in wire form by (key, shape); see WIRE_SHARE. */
  private readonly wire: LRUCache<string, Buffer>;

  constructor(maxBytes: number) {
    const wireBytes = Math.max(1, Math.floor(maxBytes * WIRE_SHARE));
    const sizeCalculation = (v: Buffer, k: string): number => v.length + k.length + ENTRY_OVERHEAD;
    this.lru = new LRUCache<string, Buffer>({ maxSize: Math.max(1, maxBytes - wireBytes), sizeCalculation });
    // One chunk may not take more than a quarter of the memo: a few huge answers cannot flush the popular ones.
    this.wire = new LRUCache<string, Buffer>({ maxSize: wireBytes, maxEntrySize: Math.max(1, Math.floor(wireBytes / 4)), sizeCalculation });
  }

  get(key: string): Buffer | undefined {
    return this.lru.get(key);
  }

  set(key: string, value: Buffer): void {
    this.lru.set(key, value);
  }

  delete(key: string): void {
    this.lru.delete(key);
  }

  /** An answer in wire form, stored by the cache under a key naming its request and its shape. */
  getWire(key: string): Buffer | undefined {
    return this.wire.get(key);
  }

  /** Too large for the memo's per-entry bound: silently not kept. */
  setWire(key: string, value: Buffer): void {
    this.wire.set(key, value);
  }

  /** Forgets every wire form (after a reorg: they are rebuilt from the headers that remain). */
  clearWire(): void {
    this.wire.clear();
  }

  /** Deletes every key matching; for reorgs, which are rare. */
  deleteWhere(match: (key: string) => boolean): number {
    let n = 0;
    for (const key of [...this.lru.keys()]) {
      if (match(key)) {
        this.lru.delete(key);
        n++;
      }
    }
    return n;
  }

  /** Everything held, wire forms included: the figure cache.memory_bytes bounds. */
  get bytes(): number {
    return this.lru.calculatedSize + this.wire.calculatedSize;
  }

  /** Of which, answers in wire form. */
  get wireBytes(): number {
    return this.wire.calculatedSize;
  }
}

export class RedisTier {
  private readonly redis: Redis;
  private up = false;
  private lastLogged = 0;

  constructor(
    url: string,
    private readonly prefix: string,
    private readonly timeoutMs: number,
    private readonly log: Logger,
    private readonly observer?: L2Observer,
  ) {
    this.redis = new Redis(url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: timeoutMs,
      connectTimeout: 2000,
      retryStrategy: (times) => Math.min(200 * times, 5000),
    });
    this.redis.on('ready', () => this.mark(true));
    this.redis.on('error', (err: Error) => this.failed(err));
    this.redis.on('end', () => this.mark(false));
    observer?.redisUp(false);
  }

  get healthy(): boolean {
    return this.up && this.redis.status === 'ready';
  }

  async mget(keys: readonly string[]): Promise<(Buffer | undefined)[]> {
    if (!this.healthy || keys.length === 0) return keys.map(() => undefined);
    const started = performance.now();
    try {
      const values = await this.redis.mgetBuffer(...keys.map((k) => this.prefix + k));
      this.observer?.redisLatency((performance.now() - started) / 1000);
      return values.map((v) => v ?? undefined);
    } catch (err) {
      this.failed(err as Error);
      return keys.map(() => undefined);
    }
  }

  /** Fire and forget: a lost write only costs a future miss. */
  set(entries: readonly [string, Buffer][]): void {
    if (!this.healthy || entries.length === 0) return;
    const pipeline = this.redis.pipeline();
    for (const [k, v] of entries) pipeline.set(this.prefix + k, v);
    pipeline.exec().catch((err: Error) => this.failed(err));
  }

  delete(keys: readonly string[]): void {
    if (!this.healthy || keys.length === 0) return;
    this.redis.del(...keys.map((k) => this.prefix + k)).catch((err: Error) => this.failed(err));
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }

  private mark(up: boolean): void {
    if (this.up === up) return;
    this.up = up;
    this.observer?.redisUp(up);
    if (up) this.log.info('cache connected to Redis');
  }

  private failed(err: Error): void {
    // A timed-out command on a live connection does not make Redis "down"; the connection state does.
    if (this.redis.status !== 'ready') this.mark(false);
    const now = Date.now();
    if (now - this.lastLogged > 60_000) {
      this.lastLogged = now;
      this.log.warn({ err: err.message }, 'Redis cache unavailable or slow; serving from memory and upstreams');
    }
  }
}

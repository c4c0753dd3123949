// SPDX-License-Identifier: MIT
/**
 * Group costs shared by every gateway instance through Redis, so twenty
 * gateways behind one balancer enforce one budget per subnet.
 *
 * Charges are applied locally at once (limits never wait on Redis) and
 * flushed every `flushMs` as one pipelined Lua call per group, which adds the
 * delta with decay applied atomically on the Redis clock and returns the
 * group's shared total. When Redis is down or slow the ledger keeps
 * accounting locally ('fallback') and says so in its state; it resumes by
 * itself when Redis answers again.
 */
import { Redis } from 'ioredis';
import type { Logger } from '../observability/logger.js';
import { LocalLedger, type CostLedger, type LedgerState } from './ledger.js';

/** Adds ARGV[1] to the group's cost after decaying it at ARGV[2] units/s since its last update; returns the new cost. */
const CHARGE_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local v = redis.call('HMGET', KEYS[1], 'c', 't')
local cost = tonumber(v[1]) or 0
local at = tonumber(v[2]) or now
if now > at then
  cost = cost - (now - at) / 1000 * tonumber(ARGV[2])
  if cost < 0 then cost = 0 end
end
cost = cost + tonumber(ARGV[1])
redis.call('HSET', KEYS[1], 'c', tostring(cost), 't', tostring(now))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return tostring(cost)
`;

export interface RedisLedgerOptions {
  readonly url: string;
  /** Key prefix, e.g. "eg:bitcoin:" so networks never share budgets. */
  readonly prefix: string;
  readonly decayPerSecond: number;
  /** A group's key expires after it would have decayed to zero from this cost. */
  readonly hardLimit: number;
  readonly commandTimeoutMs: number;
  readonly flushMs: number;
}

export interface LedgerObserver {
  ledgerState(state: LedgerState): void;
  ledgerError(): void;
}

type RedisWithCharge = Redis & { egCharge(key: string, delta: string, decay: string, ttlMs: string): Promise<string> };

export class RedisLedger implements CostLedger {
  private readonly local: LocalLedger;
  private readonly redis: RedisWithCharge;
  private pending = new Map<string, number>();
  private flushing = false;
  private healthy = false;
  private lastLogged = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly opts: RedisLedgerOptions,
    private readonly log: Logger,
    private readonly observer?: LedgerObserver,
  ) {
    this.local = new LocalLedger(opts.decayPerSecond);
    this.redis = new Redis(opts.url, {
      lazyConnect: false,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: opts.commandTimeoutMs,
      connectTimeout: 2000,
      retryStrategy: (times) => Math.min(200 * times, 5000),
    }) as RedisWithCharge;
    this.redis.defineCommand('egCharge', { numberOfKeys: 1, lua: CHARGE_SCRIPT });
    this.redis.on('error', (err: Error) => this.failed(err));
    // Connected is enough to count as shared: waiting for the first flush would leave a fresh instance in
    // 'fallback' until its first charge, and refusing every request meanwhile when failing closed.
    this.redis.on('ready', () => {
      this.log.info('shared cost ledger connected to Redis');
      this.recovered();
    });
    this.timer = setInterval(() => void this.flush(), opts.flushMs);
    this.timer.unref();
    observer?.ledgerState('fallback');
  }

  charge(group: string, units: number): void {
    if (units <= 0) return;
    this.local.charge(group, units);
    this.pending.set(group, (this.pending.get(group) ?? 0) + units);
  }

  current(group: string): number {
    return this.local.current(group);
  }

  top(n: number): { group: string; cost: number }[] {
    return this.local.top(n);
  }

  state(): LedgerState {
    return this.healthy ? 'shared' : 'fallback';
  }

  /** Sends the charges gathered since the last flush and adopts Redis's totals. */
  async flush(): Promise<void> {
    if (this.flushing || this.pending.size === 0) return;
    if (this.redis.status !== 'ready') {
      this.failed(new Error(`redis is ${this.redis.status}`));
      // Charges made while Redis is away stay local: they are not replayed into the shared budget later.
      this.pending.clear();
      return;
    }
    this.flushing = true;
    const batch = this.pending;
    this.pending = new Map();
    const ttlMs = String(Math.ceil((this.opts.hardLimit / Math.max(this.opts.decayPerSecond, 0.001)) * 1000) + 60_000);
    const decay = String(this.opts.decayPerSecond);
    try {
      const pipeline = this.redis.pipeline();
      const groups = [...batch.keys()];
      for (const g of groups) (pipeline as unknown as RedisWithCharge).egCharge(`${this.opts.prefix}cost:${g}`, String(batch.get(g)), decay, ttlMs);
      const results = await withTimeout(pipeline.exec(), this.opts.commandTimeoutMs * 4);
      groups.forEach((g, i) => {
        const [err, value] = results?.[i] ?? [new Error('no reply'), null];
        if (err) throw err;
        // Charges made while this flush was in flight are ours and not yet in Redis's figure.
        this.local.set(g, Number(value) + (this.pending.get(g) ?? 0));
      });
      this.recovered();
    } catch (err) {
      this.failed(err as Error);
    } finally {
      this.flushing = false;
    }
  }

  private recovered(): void {
    if (this.healthy) return;
    this.healthy = true;
    this.observer?.ledgerState('shared');
    this.log.info('shared cost ledger in use');
  }

  private failed(err: Error): void {
    this.observer?.ledgerError();
    if (this.healthy) {
      this.healthy = false;
      this.observer?.ledgerState('fallback');
    }
    const now = Date.now();
    if (now - this.lastLogged > 60_000) {
      this.lastLogged = now;
      this.log.warn({ err: err.message }, 'Redis unreachable for shared cost accounting; accounting locally until it is back');
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush().catch(() => undefined);
    await this.local.close();
    this.redis.disconnect();
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`redis did not answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

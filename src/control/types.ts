// SPDX-License-Identifier: MIT
/**
 * What the admin API (and `electrum-gateway ctl`) can see and do, as typed
 * operations. The gateway implements them on its own pool, hub and sessions
 * (control/local.ts); under --workers N worker 1 implements them by asking
 * every worker through the primary (control/cluster.ts). The HTTP layer
 * (observability/admin-routes.ts) knows only this interface.
 */
import type { LogLevel } from '../observability/logger.js';
import type { SessionInfo } from '../frontend/session.js';
import type { UpstreamStatus } from '../upstream/pool.js';

export interface SessionView extends SessionInfo {
  /** The worker serving it, under --workers N (its id then reads "WORKER-N"). */
  readonly worker?: number;
}

export interface UpstreamView extends UpstreamStatus {
  /** The URL as configured. */
  readonly url: string;
  /** Unique scripthashes subscribed on it. */
  readonly subscriptions: number;
  /** Under --workers N: each worker's own state of this upstream (the other fields are summed or combined). */
  readonly workers?: Readonly<Record<string, string>>;
}

export interface ReloadReport {
  /** False when the new configuration was refused; the running one is kept. */
  readonly ok: boolean;
  /** Why it was refused: check-config's lines. */
  readonly errors: readonly string[];
  /** Keys that changed and were applied live. */
  readonly applied: readonly string[];
  /** Keys that changed but only take effect after a restart (still running on the old value). */
  readonly requiresRestart: readonly string[];
  readonly upstreams: { readonly added: readonly string[]; readonly removed: readonly string[] };
  /** Under --workers N: how many workers were asked. */
  readonly workers?: number;
  /** Under --workers N: each worker's own report (a worker that did not answer has ok false and says so in errors). */
  readonly perWorker?: readonly WorkerReloadReport[];
}

export interface WorkerReloadReport extends Omit<ReloadReport, 'workers' | 'perWorker'> {
  readonly worker: number;
}

export class ControlError extends Error {
  override readonly name = 'ControlError';
  constructor(
    /** The HTTP status it maps to: 404 for an unknown name, 400 for a bad argument. */
    readonly status: 400 | 404 | 409 | 500 | 503,
    message: string,
  ) {
    super(message);
  }
}

export interface AdminControl {
  sessions(): Promise<SessionView[]>;
  upstreams(): Promise<UpstreamView[]>;
  /** Throws ControlError(404) for an unknown upstream. */
  cordon(name: string, cordoned: boolean): Promise<void>;
  /** Throws ControlError(404) for an unknown session. */
  disconnect(id: string): Promise<void>;
  setLogLevel(level: LogLevel): Promise<void>;
  reload(): Promise<ReloadReport>;
}

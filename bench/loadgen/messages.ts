// SPDX-License-Identifier: MIT
/** The messages between the coordinator and its load-generator worker processes (over the fork IPC channel). */
import type { PhaseStatsData } from './client.js';
import type { StormEvent } from '../scenarios/types.js';

export type CoordinatorMessage =
  | {
      readonly type: 'init';
      readonly scenario: string;
      readonly data: unknown;
      readonly host: string;
      readonly port: number;
      /** Global index of this worker's first session, and how many it owns. */
      readonly first: number;
      readonly count: number;
      readonly seed: number;
      readonly connectConcurrency: number;
    }
  | {
      readonly type: 'run';
      readonly durationMs?: number;
      readonly ops?: number;
      readonly warmupMs?: number;
      /** The worker destroys its connections after this long, whatever happens. */
      readonly hardLimitMs: number;
    }
  | { readonly type: 'event'; readonly event: StormEvent; readonly timeoutMs: number }
  | { readonly type: 'close' };

export interface DeliveryReport {
  /** Per session that got everything: ms from the event's start to its last needed notification. */
  readonly completionMs: number[];
  /** Sessions that had not got everything when the wait timed out. */
  readonly missing: number;
  /** Notifications received in all (setup onwards). */
  readonly notifications: number;
}

export type WorkerMessage =
  | {
      readonly type: 'ready';
      readonly opened: number;
      readonly failed: number;
      readonly failures: string[];
      readonly openMs: number;
      readonly setup: PhaseStatsData;
    }
  | {
      readonly type: 'done';
      readonly measuredMs: number;
      readonly stats: PhaseStatsData;
      readonly warmup: PhaseStatsData;
      readonly generatorCpuMs: number;
      readonly aborted: boolean;
    }
  | { readonly type: 'delivered'; readonly report: DeliveryReport }
  | { readonly type: 'closed' }
  | { readonly type: 'error'; readonly message: string };

// SPDX-License-Identifier: MIT
/** Every scenario by name (the worker processes look them up here). */
import { chunkDownload } from './chunk-download.js';
import { headersHot } from './headers-hot.js';
import { idle } from './idle.js';
import { mixedReal } from './mixed-real.js';
import { passthrough } from './passthrough.js';
import { subscribeStorm } from './subscribe-storm.js';
import type { Scenario } from './types.js';
import { walletSync } from './wallet-sync.js';

export const SCENARIOS: readonly Scenario<never>[] = [
  headersHot,
  walletSync,
  passthrough,
  subscribeStorm,
  idle,
  chunkDownload,
  mixedReal,
] as unknown as Scenario<never>[];

export function getScenario(name: string): Scenario<unknown> {
  const s = SCENARIOS.find((x) => x.name === name);
  if (!s) throw new Error(`unknown scenario "${name}" (known: ${SCENARIOS.map((x) => x.name).join(', ')})`);
  return s as unknown as Scenario<unknown>;
}

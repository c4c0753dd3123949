// SPDX-License-Identifier: MIT
/**
 * `electrum-gateway check-config FILE`: validate without starting anything.
 * Prints every problem as FILE:LINE:COL: PATH: MESSAGE and exits 1, or one
 * OK line summarising what the file configures and exits 0.
 */
import { formatProblem, loadConfig } from '../config/load.js';
import type { GatewayConfig } from '../config/types.js';
import { formatHostPort } from '../config/urls.js';

export interface CheckResult {
  readonly exitCode: 0 | 1;
  readonly lines: readonly string[];
}

export function checkConfig(file: string): CheckResult {
  const result = loadConfig({ file });
  if (!result.ok) {
    const n = result.problems.length;
    return {
      exitCode: 1,
      lines: [...result.problems.map(formatProblem), `${file}: ${n} problem${n === 1 ? '' : 's'}`],
    };
  }
  return { exitCode: 0, lines: [`OK ${file}: ${summarizeConfig(result.config)}`] };
}

/** "network bitcoin; listen tcp://0.0.0.0:50001; 3 upstreams; redis off; admin 127.0.0.1:8080" */
export function summarizeConfig(config: GatewayConfig): string {
  const n = config.upstreams.length;
  return [
    `network ${config.network.name}`,
    `listen ${config.listen.map((l) => l.url).join(', ')}`,
    `${n} upstream${n === 1 ? '' : 's'}`,
    `redis ${config.redis === null ? 'off (in-memory cache)' : 'on'}`,
    `admin ${config.admin === null ? 'off' : formatHostPort(config.admin.host, config.admin.port)}`,
  ].join('; ');
}

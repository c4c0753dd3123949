// SPDX-License-Identifier: MIT
/** Where things are, from this file's place in dist/bench/ (or bench/ under a TS runner). */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    dir = path.dirname(dir);
  }
  throw new Error('bench: cannot find the repository root (package.json)');
})();

export const DIST = path.join(REPO_ROOT, 'dist');
export const GATEWAY_CLI = path.join(DIST, 'src', 'cli', 'main.js');
export const SIM_MAIN = path.join(DIST, 'test', 'sim', 'main.js');
export const ECHO_MAIN = path.join(DIST, 'bench', 'baselines', 'echo.js');
export const RELAY_MAIN = path.join(DIST, 'bench', 'baselines', 'relay.js');
export const WORKER_MAIN = path.join(DIST, 'bench', 'loadgen', 'worker.js');

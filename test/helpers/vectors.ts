// SPDX-License-Identifier: MIT
/** Loads the independent test vectors kept in test/vectors (see its README). */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** test/vectors in the source tree; compiled tests live in dist/test, two levels further down. */
const DIR = fileURLToPath(new URL('../../../test/vectors/', import.meta.url));

export function loadVectors<T>(name: 'chain.json' | 'addresses.json'): T {
  return JSON.parse(readFileSync(`${DIR}${name}`, 'utf8')) as T;
}

export const VECTORS_DIR = DIR;

// SPDX-License-Identifier: MIT
import { readFileSync } from 'node:fs';

/** The package version, read once from package.json (two levels above the compiled file). */
export const GATEWAY_VERSION: string = (() => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
})();

export const SERVER_SOFTWARE = `electrum-gateway ${GATEWAY_VERSION}`;

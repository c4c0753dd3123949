// SPDX-License-Identifier: MIT
/**
 * idle: sessions that negotiate server.version and then say nothing; the
 * target's RSS is read before and after, giving memory per idle session.
 */
import type { Scenario } from './types.js';

export const idle: Scenario<null> = {
  name: 'idle',
  kind: 'idle',
  describe: 'sessions that only negotiate server.version: RSS per session',
  async prepare() {
    return null;
  },
};

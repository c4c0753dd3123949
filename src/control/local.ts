// SPDX-License-Identifier: MIT
/** AdminControl on one process's own sessions, pool and hub (the gateway wires it; see control/types.ts). */
import type { SessionInfo } from '../frontend/session.js';
import { setLogLevel, type Logger } from '../observability/logger.js';
import type { UpstreamStatus } from '../upstream/pool.js';
import { ControlError, type AdminControl, type ReloadReport, type UpstreamView } from './types.js';

/** The parts of a gateway the admin operations act on. */
export interface ControlledGateway {
  sessions(): Iterable<{ readonly id: string; info(now: number): SessionInfo; disconnect(maxWaitMs: number): Promise<void> }>;
  readonly pool: {
    status(): UpstreamStatus[];
    cordon(name: string): boolean;
    uncordon(name: string): boolean;
  };
  readonly hub: { subscriptionsByUpstream(): ReadonlyMap<string, number> };
  /** Configured URL by upstream name (the running configuration). */
  upstreamUrl(name: string): string;
  /** How long a disconnected session's in-flight requests get to be answered. */
  disconnectGraceMs(): number;
  readonly logger: Logger;
  reload(): Promise<ReloadReport>;
}

export function localControl(g: ControlledGateway): AdminControl {
  return {
    sessions: () => {
      const now = Date.now();
      return Promise.resolve([...g.sessions()].map((s) => s.info(now)));
    },
    upstreams: () => {
      const subs = g.hub.subscriptionsByUpstream();
      return Promise.resolve(g.pool.status().map((u): UpstreamView => ({ ...u, url: g.upstreamUrl(u.name), subscriptions: subs.get(u.name) ?? 0 })));
    },
    cordon: (name, cordoned) => {
      const known = cordoned ? g.pool.cordon(name) : g.pool.uncordon(name);
      if (!known) return Promise.reject(new ControlError(404, `unknown upstream: ${JSON.stringify(name)} (GET /upstreams lists them)`));
      g.logger.info({ upstream: name, cordoned }, cordoned ? 'admin: upstream cordoned' : 'admin: upstream uncordoned');
      return Promise.resolve();
    },
    disconnect: async (id) => {
      const session = [...g.sessions()].find((s) => s.id === id);
      if (!session) throw new ControlError(404, `unknown session: ${JSON.stringify(id)} (GET /sessions lists them)`);
      await session.disconnect(g.disconnectGraceMs());
    },
    setLogLevel: (level) => {
      setLogLevel(g.logger, level);
      g.logger.info({ level }, 'admin: log level set');
      return Promise.resolve();
    },
    reload: () => g.reload(),
  };
}

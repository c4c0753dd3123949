// SPDX-License-Identifier: MIT
/**
 * The operator routes of the admin listener, on the typed AdminControl:
 *
 *   GET  /sessions                      GET  /upstreams
 *   POST /sessions/ID/disconnect        POST /upstreams/NAME/cordon | /uncordon
 *   POST /log-level {"level":"debug"}   POST /reload
 *
 * Answers are JSON; mistakes get a 4xx with {"error": "..."} naming what was wrong.
 */
import { LOG_LEVELS } from '../config/defaults.js';
import { ControlError, type AdminControl } from '../control/types.js';
import type { AdminReply, AdminRoute } from './admin.js';
import type { LogLevel } from './logger.js';

export function controlRoutes(control: AdminControl): AdminRoute[] {
  return [
    { method: 'GET', path: '/sessions', handle: () => answer(async () => ({ sessions: await control.sessions() })) },
    { method: 'GET', path: '/upstreams', handle: () => answer(async () => ({ upstreams: await control.upstreams() })) },
    {
      method: 'POST',
      path: '/upstreams/:name/cordon',
      handle: ({ name }) => answer(async () => (await control.cordon(name!, true), { upstream: name, cordoned: true })),
    },
    {
      method: 'POST',
      path: '/upstreams/:name/uncordon',
      handle: ({ name }) => answer(async () => (await control.cordon(name!, false), { upstream: name, cordoned: false })),
    },
    {
      method: 'POST',
      path: '/sessions/:id/disconnect',
      handle: ({ id }) => answer(async () => (await control.disconnect(id!), { session: id, disconnected: true })),
    },
    {
      method: 'POST',
      path: '/log-level',
      handle: (_params, body) =>
        answer(async () => {
          const level = logLevelFrom(body);
          await control.setLogLevel(level);
          return { level };
        }),
    },
    {
      method: 'POST',
      path: '/reload',
      handle: () =>
        answer(async () => {
          const report = await control.reload();
          // A refused configuration is the caller's mistake (the file), not the server's.
          return report.ok ? report : new ControlReply(400, { error: 'configuration refused; the running one is kept', ...report });
        }),
    },
  ];
}

/** A handler's answer with a status other than 200. */
class ControlReply {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {}
}

async function answer(work: () => Promise<unknown>): Promise<AdminReply> {
  try {
    const body = await work();
    return body instanceof ControlReply ? { status: body.status, body: body.body } : { status: 200, body };
  } catch (err) {
    if (err instanceof ControlError) return { status: err.status, body: { error: err.message } };
    throw err;
  }
}

function logLevelFrom(body: unknown): LogLevel {
  const level = (body as { level?: unknown } | null | undefined)?.level;
  if (typeof level !== 'string' || !(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new ControlError(400, `body must be {"level": LEVEL} with LEVEL one of ${LOG_LEVELS.join(', ')}; got ${JSON.stringify(body ?? null)}`);
  }
  return level as LogLevel;
}

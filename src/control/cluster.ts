// SPDX-License-Identifier: MIT
/**
 * The admin operations under --workers N. Each worker has its own sessions,
 * pool and hub; the admin listener runs in worker 1 only. So worker 1 asks
 * the primary, the primary asks every worker (worker 1 included), collects
 * the answers and hands them back; worker 1 combines them:
 *
 *   worker 1 --ADMIN_REQUEST--> primary --ADMIN_CALL--> every worker
 *            <--ADMIN_REPLY----         <--ADMIN_RESULT--
 *
 * Sessions are listed from every worker with ids "WORKER-ID"; upstreams are
 * combined by name (counts summed, each worker's state listed); cordon, log
 * level and reload reach every worker; a disconnect goes to the worker its id names.
 */
import type { LogLevel } from '../observability/logger.js';
import { ControlError, type AdminControl, type ReloadReport, type SessionView, type UpstreamView, type WorkerReloadReport } from './types.js';

const ADMIN_REQUEST = 'electrum-gateway:admin-request';
const ADMIN_REPLY = 'electrum-gateway:admin-reply';
const ADMIN_CALL = 'electrum-gateway:admin-call';
const ADMIN_RESULT = 'electrum-gateway:admin-result';
/** A worker that does not answer within this is reported as such (a reload answers at once; removals drain in the background). */
const CALL_TIMEOUT_MS = 10_000;

export type Op = 'sessions' | 'upstreams' | 'cordon' | 'disconnect' | 'setLogLevel' | 'reload';

interface Call {
  readonly op: Op;
  readonly args: readonly unknown[];
  /** Only this worker (a disconnect); every worker when absent. */
  readonly worker?: number;
}

export interface WorkerResult {
  readonly worker: number;
  readonly ok: boolean;
  readonly value?: unknown;
  readonly error?: { readonly status: number; readonly message: string };
}

interface Channel {
  send?(message: unknown): boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
}

/** In every worker: answer the primary's calls with this process's own operations (null while still starting). */
export function answerAdminCalls(worker: number, control: () => AdminControl | null, channel: Channel = process as Channel): void {
  channel.on('message', (message: unknown) => {
    const m = message as { type?: unknown; id?: unknown; op?: unknown; args?: unknown } | null;
    if (m?.type !== ADMIN_CALL || typeof m.id !== 'number') return;
    const id = m.id;
    const reply = (r: Omit<WorkerResult, 'worker'>): void => void channel.send?.({ type: ADMIN_RESULT, id, worker, ...r });
    const c = control();
    if (c === null) {
      reply({ ok: false, error: { status: 503, message: `worker ${worker} is still starting` } });
      return;
    }
    run(c, m.op as Op, Array.isArray(m.args) ? m.args : []).then(
      (value) => reply({ ok: true, value }),
      (err: Error) => reply({ ok: false, error: { status: err instanceof ControlError ? err.status : 500, message: err.message } }),
    );
  });
}

function run(c: AdminControl, op: Op, args: readonly unknown[]): Promise<unknown> {
  switch (op) {
    case 'sessions':
      return c.sessions();
    case 'upstreams':
      return c.upstreams();
    case 'cordon':
      return c.cordon(String(args[0]), args[1] === true);
    case 'disconnect':
      return c.disconnect(String(args[0]));
    case 'setLogLevel':
      return c.setLogLevel(args[0] as LogLevel);
    case 'reload':
      return c.reload();
    default:
      return Promise.reject(new ControlError(400, `unknown operation ${JSON.stringify(op)}`));
  }
}

/** What the primary relays to: its live workers by index. */
export interface RelayWorker {
  send(message: unknown): boolean;
}

/**
 * In the primary: a handler for worker messages. It relays worker 1's
 * requests to the workers and their results back; returns false for other
 * messages. `onOp` lets the primary apply an operation to itself too (its log level, its copy of the config).
 */
export function adminRelay(workers: () => ReadonlyMap<number, RelayWorker>, onOp?: (op: Op, args: readonly unknown[]) => void): (message: unknown, from: RelayWorker) => boolean {
  let nextId = 0;
  const pending = new Map<number, { results: WorkerResult[]; waiting: Set<number>; done(): void }>();
  return (message, from) => {
    const m = message as { type?: unknown; id?: unknown; op?: unknown; args?: unknown; worker?: unknown } | null;
    if (m?.type === ADMIN_RESULT && typeof m.id === 'number') {
      const p = pending.get(m.id);
      const r = message as WorkerResult;
      if (p && p.waiting.delete(r.worker)) {
        p.results.push({ worker: r.worker, ok: r.ok, value: r.value, error: r.error });
        if (p.waiting.size === 0) p.done();
      }
      return true;
    }
    if (m?.type !== ADMIN_REQUEST || typeof m.id === 'undefined') return false;
    const requestId = m.id;
    const op = m.op as Op;
    onOp?.(op, Array.isArray(m.args) ? (m.args as unknown[]) : []);
    const targets = [...workers()].filter(([index]) => typeof m.worker !== 'number' || index === m.worker);
    const id = nextId++;
    const results: WorkerResult[] = [];
    const waiting = new Set(targets.map(([index]) => index));
    let finished = false;
    const done = (): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      pending.delete(id);
      for (const w of waiting) results.push({ worker: w, ok: false, error: { status: 503, message: `worker ${w} did not answer` } });
      results.sort((a, b) => a.worker - b.worker);
      from.send({ type: ADMIN_REPLY, id: requestId, results });
    };
    const timer = setTimeout(done, CALL_TIMEOUT_MS);
    timer.unref();
    pending.set(id, { results, waiting, done });
    if (targets.length === 0) done();
    for (const [, w] of targets) w.send({ type: ADMIN_CALL, id, op, args: m.args });
    return true;
  };
}

/** In worker 1: AdminControl over every worker, through the primary. */
export function clusterControl(channel: Channel = process as Channel): AdminControl {
  let nextId = 0;
  const pending = new Map<number, (results: WorkerResult[]) => void>();
  channel.on('message', (message: unknown) => {
    const m = message as { type?: unknown; id?: unknown; results?: unknown } | null;
    if (m?.type !== ADMIN_REPLY || typeof m.id !== 'number') return;
    const resolve = pending.get(m.id);
    pending.delete(m.id);
    resolve?.(Array.isArray(m.results) ? (m.results as WorkerResult[]) : []);
  });
  const ask = (call: Call): Promise<WorkerResult[]> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new ControlError(503, 'the cluster primary did not answer'));
      }, CALL_TIMEOUT_MS + 2_000);
      timer.unref();
      pending.set(id, (results) => {
        clearTimeout(timer);
        resolve(results);
      });
      if (channel.send === undefined) {
        clearTimeout(timer);
        pending.delete(id);
        reject(new ControlError(503, 'no IPC channel to the cluster primary'));
        return;
      }
      channel.send({ type: ADMIN_REQUEST, id, ...call });
    });
  /** Every worker's value; the first worker error is thrown (all of them when none succeeded). */
  const values = async (call: Call, allMustSucceed: boolean): Promise<{ worker: number; value: unknown }[]> => {
    const results = await ask(call);
    const failed = results.filter((r) => !r.ok);
    if (results.length === 0) throw new ControlError(503, 'no worker is running');
    if (failed.length > 0 && (allMustSucceed || failed.length === results.length)) {
      const first = failed[0]!.error ?? { status: 500, message: 'failed' };
      const status = ([400, 404, 409, 500, 503] as const).find((s) => s === first.status) ?? 500;
      throw new ControlError(status, failed.length === results.length ? first.message : `worker ${failed[0]!.worker}: ${first.message}`);
    }
    return results.filter((r) => r.ok).map((r) => ({ worker: r.worker, value: r.value }));
  };
  return {
    sessions: async () =>
      (await values({ op: 'sessions', args: [] }, false)).flatMap(({ worker, value }) =>
        (value as SessionView[]).map((s) => ({ ...s, id: `${worker}-${s.id}`, worker })),
      ),
    upstreams: async () => mergeUpstreams((await values({ op: 'upstreams', args: [] }, false)).map((v) => ({ worker: v.worker, upstreams: v.value as UpstreamView[] }))),
    cordon: async (name, cordoned) => {
      await values({ op: 'cordon', args: [name, cordoned] }, true);
    },
    disconnect: async (id) => {
      const m = /^(\d+)-(.+)$/.exec(id);
      if (!m) throw new ControlError(404, `unknown session: ${JSON.stringify(id)} (with --workers, ids read WORKER-ID; GET /sessions lists them)`);
      await values({ op: 'disconnect', args: [m[2]], worker: Number(m[1]) }, true);
    },
    setLogLevel: async (level) => {
      await values({ op: 'setLogLevel', args: [level] }, true);
    },
    reload: async () => {
      const results = await ask({ op: 'reload', args: [] });
      const none = { errors: [], applied: [], requiresRestart: [], upstreams: { added: [], removed: [] } };
      const perWorker: WorkerReloadReport[] = results.map((r) =>
        r.ok
          ? { ...(r.value as ReloadReport), worker: r.worker }
          : { ...none, ok: false, errors: [r.error?.message ?? 'failed'], worker: r.worker },
      );
      const strip = ({ worker: _w, ...report }: WorkerReloadReport): ReloadReport => report;
      if (perWorker.length === 0) return { ...none, ok: false, errors: ['no worker is running'], workers: 0, perWorker };
      // Every worker reads the same file: a refusal's problems are named once; a worker that did not answer is named.
      const answered = new Set(results.filter((r) => r.ok).map((r) => r.worker));
      const first = perWorker.find((r) => answered.has(r.worker) && !r.ok) ?? perWorker.find((r) => r.ok) ?? perWorker[0]!;
      const silent = perWorker.filter((r) => !answered.has(r.worker) && r !== first);
      return {
        ...strip(first),
        ok: perWorker.every((r) => r.ok),
        errors: [...(answered.has(first.worker) ? first.errors : [`worker ${first.worker}: ${first.errors.join('; ')}`]), ...silent.map((f) => `worker ${f.worker}: ${f.errors.join('; ')}`)],
        workers: perWorker.length,
        perWorker,
      };
    },
  };
}

const BREAKER_RANK = { closed: 0, 'half-open': 1, open: 2 } as const;

/** One row per upstream name over every worker's view: counts summed, each worker's state kept. */
export function mergeUpstreams(perWorker: readonly { readonly worker: number; readonly upstreams: readonly UpstreamView[] }[]): UpstreamView[] {
  const byName = new Map<string, { worker: number; u: UpstreamView }[]>();
  for (const { worker, upstreams } of perWorker) {
    for (const u of upstreams) {
      const list = byName.get(u.name) ?? [];
      list.push({ worker, u });
      byName.set(u.name, list);
    }
  }
  return [...byName.values()].map((list) => {
    const first = list[0]!.u;
    const states = new Set(list.map((x) => x.u.state));
    const latencies = list.map((x) => x.u.latencyMs).filter((l): l is number => l !== null);
    const tips = list.map((x) => x.u.tipHeight).filter((t): t is number => t !== null);
    const lags = list.map((x) => x.u.lag).filter((l): l is number => l !== null);
    return {
      ...first,
      // 'mixed' when the workers disagree; `workers` says who sees what.
      state: (states.size === 1 ? first.state : 'mixed') as UpstreamView['state'],
      tipHeight: tips.length > 0 ? Math.max(...tips) : null,
      lag: lags.length > 0 ? Math.min(...lags) : null,
      connections: sum(list.map((x) => x.u.connections)),
      inFlight: sum(list.map((x) => x.u.inFlight)),
      subscriptions: sum(list.map((x) => x.u.subscriptions)),
      latencyMs: latencies.length > 0 ? Math.round((sum(latencies) / latencies.length) * 100) / 100 : null,
      errorRate: Math.max(...list.map((x) => x.u.errorRate)),
      breaker: list.map((x) => x.u.breaker).reduce((a, b) => (BREAKER_RANK[b] > BREAKER_RANK[a] ? b : a)),
      cordoned: list.every((x) => x.u.cordoned),
      quarantine: list.map((x) => x.u.quarantine).find((q) => q !== null) ?? null,
      workers: Object.fromEntries(list.map((x) => [String(x.worker), x.u.cordoned ? `${x.u.state} (cordoned)` : x.u.state])),
    };
  });
}

function sum(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

// SPDX-License-Identifier: MIT
/**
 * One scrape for the whole instance under --workers N. Each worker keeps its
 * own registry; prom-client's AggregatorRegistry in the primary collects them
 * all over the cluster IPC channel and combines them (sums, or the metric's
 * own `aggregator`). The admin listener runs in worker 1, so its /metrics asks
 * the primary for that aggregate instead of reading its own registry.
 *
 *   worker 1 /metrics --METRICS_REQUEST--> primary --prom-client--> every worker
 *            <--------METRICS_REPLY-------         <--registries--
 */
import { AggregatorRegistry, type Registry } from 'prom-client';

const METRICS_REQUEST = 'electrum-gateway:metrics-request';
const METRICS_REPLY = 'electrum-gateway:metrics-reply';
/** prom-client gives up on silent workers after 5 s; the asking worker waits a little longer. */
const ASK_TIMEOUT_MS = 7_000;

interface MetricsRequest {
  readonly type: typeof METRICS_REQUEST;
  readonly id: number;
}

interface MetricsReply {
  readonly type: typeof METRICS_REPLY;
  readonly id: number;
  readonly body?: string;
  readonly error?: string;
}

/**
 * In a worker, before the gateway starts: answer the primary's collection
 * requests (with nothing until `share` names the registry, so a worker still
 * starting does not stall a scrape).
 */
export function joinClusterMetrics(): { share(registry: Registry): void } {
  AggregatorRegistry.setRegistries([]);
  // Constructing one installs prom-client's worker-side listener.
  new AggregatorRegistry();
  return { share: (registry) => AggregatorRegistry.setRegistries([registry]) };
}

/** In the primary: a handler for worker messages that answers metrics requests; returns false for other messages. */
export function clusterMetricsResponder(): (message: unknown, reply: (m: MetricsReply) => void) => boolean {
  const aggregator = new AggregatorRegistry();
  return (message, reply) => {
    const m = message as Partial<MetricsRequest> | null;
    if (m?.type !== METRICS_REQUEST || typeof m.id !== 'number') return false;
    const id = m.id;
    aggregator.clusterMetrics().then(
      (body) => reply({ type: METRICS_REPLY, id, body }),
      (err: Error) => reply({ type: METRICS_REPLY, id, error: err.message }),
    );
    return true;
  };
}

/** In the worker serving /metrics: the exposition text, aggregated over all workers by the primary. */
export function askPrimaryForMetrics(channel: Pick<NodeJS.Process, 'send' | 'on'> = process): () => Promise<string> {
  let nextId = 0;
  const pending = new Map<number, { resolve(body: string): void; reject(err: Error): void; timer: NodeJS.Timeout }>();
  channel.on('message', (message: unknown) => {
    const m = message as Partial<MetricsReply> | null;
    if (m?.type !== METRICS_REPLY || typeof m.id !== 'number') return;
    const waiting = pending.get(m.id);
    if (!waiting) return;
    pending.delete(m.id);
    clearTimeout(waiting.timer);
    if (typeof m.body === 'string') waiting.resolve(m.body);
    else waiting.reject(new Error(`cluster metrics: ${m.error ?? 'no answer'}`));
  });
  return () =>
    new Promise<string>((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error('cluster metrics: the primary did not answer'));
      }, ASK_TIMEOUT_MS);
      timer.unref();
      pending.set(id, { resolve, reject, timer });
      if (channel.send === undefined || !channel.send({ type: METRICS_REQUEST, id } satisfies MetricsRequest)) {
        // send() returning false only means backpressure; the message is still queued.
        if (channel.send === undefined) {
          pending.delete(id);
          clearTimeout(timer);
          reject(new Error('cluster metrics: no IPC channel to the primary'));
        }
      }
    });
}

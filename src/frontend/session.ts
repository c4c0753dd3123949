// SPDX-License-Identifier: MIT
/**
 * One wallet's session, independent of its transport: it receives decoded
 * lines, negotiates the protocol version, answers server.* itself, sends the
 * rest through the router or the subscription hub, and writes replies and
 * notifications back through `send`.
 */
import type { GatewayConfig } from '../config/types.js';
import { ResponseBudget } from '../limits/answer-sizes.js';
import { RequestSlots } from '../limits/request-slots.js';
import type { SessionCost } from '../limits/session-cost.js';
import { logEnabled, type Logger } from '../observability/logger.js';
import type { CounterCell } from '../observability/batched-metrics.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import {
  ErrorCode,
  RpcError,
  decodeLine,
  errorResponse,
  resultResponse,
  type IncomingItem,
  type Params,
  type ReplyShape,
  type Response,
} from '../protocol/jsonrpc.js';
import { OutputBuffer, encodeBatch, encodeError, encodeNotification, encodeResult, type EncodedMessage } from '../protocol/reply-encoder.js';
import { flushAtEndOfTurn, type Flushable } from '../protocol/turn.js';
import { GATEWAY_VERSIONS, METHOD_NAMES, checkArity, lookupMethod } from '../protocol/methods.js';
import { addressArg, booleanArg, hexArg, nonNegativeIntegerArg, scripthashArg, stringArg, txHashArg } from '../protocol/params.js';
import { negotiate, parseClientRange, parseVersion, versionLess } from '../protocol/version.js';
import { broadcastResultV10, formatTip, headerDict, headersForm, normalizeUpstreamError, outputAddress, type HeadersForm } from '../routing/legacy.js';
import type { Forwarder } from '../cache/answer-cache.js';
import { classifyFailure, toClientError } from '../routing/router.js';
import type { HeaderTip, Subscriber, SubscriptionHub } from '../subscriptions/hub.js';
import { SERVER_SOFTWARE } from '../version.js';
import { peersSubscribeAnswer, serverBanner, serverFeatures, type LocalPeers } from './local-methods.js';

/** Until server.version says otherwise a session speaks the spec's default version. */
const DEFAULT_VERSION = '1.4';
/** The form the gateway asks the router for when it reshapes an answer itself. */
const CANONICAL = '1.6';
/** Forward options of answers the session writes to the wallet untouched. */
const PASS_ON = { raw: true } as const;
/** Versions that may be negotiated after other messages: from 1.6 server.version must come first. */
const LATE_NEGOTIABLE = GATEWAY_VERSIONS.filter((v) => versionLess(v, '1.6'));
/** What a session with no scripthash subscription hands the hub when it leaves. */
const NO_SCRIPTHASHES: readonly string[] = Object.freeze([]);
/** Longer client names are cut to this many characters (and copied, see ownCopy). */
const MAX_CLIENT_NAME = 100;

export interface SessionDeps {
  readonly config: GatewayConfig;
  readonly metrics: GatewayMetrics;
  /** Where forwarded requests go: the answer cache, in front of the router. */
  readonly router: Forwarder;
  readonly hub: SubscriptionHub;
  readonly logger: Logger;
  /** False while a shared cost budget is configured, unreachable, and configured to fail closed. */
  readonly costAccountingAvailable: () => boolean;
  /** Peer discovery, when enabled: server.peers.subscribe, server.add_peer and the Tor banner. */
  readonly peers?: LocalPeers | null;
}

/**
 * What a session knows of where it came from. The transport is its own
 * context (one object per connection, and one field in the session, rather
 * than two).
 */
export interface SessionContext {
  /** The listener's URL, for metrics labels. */
  readonly listener: string;
  /** The listener's client_sent_bytes_total series, bound once per listener. */
  readonly sentBytes: CounterCell;
  /** This session's account in the cost model. */
  readonly cost: SessionCost;
  /** The client's address:port, for the admin API's session list and the session's log lines. */
  readonly peer?: string;
  /** The client's address (after a PROXY header, the real client's): add_peer checks it, Tor is told by it. */
  readonly remoteAddress?: string;
}

/** One session as the admin API lists it (GET /sessions). */
export interface SessionInfo {
  readonly id: string;
  readonly peer: string;
  /** The listener (frontend) it came in on. */
  readonly frontend: string;
  /** The negotiated protocol version, null before server.version. */
  readonly version: string | null;
  readonly client: string;
  readonly ageMs: number;
  /** Its own share of its group's cost, and the group's cost now. */
  readonly cost: number;
  readonly groupCost: number;
  /** Scripthashes it subscribed to, plus 1 when it follows headers. */
  readonly subscriptions: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
}

/** Session ids are unique within the process (the cluster admin API prefixes the worker). */
let nextSessionId = 1;

/** The session clock's zero: when this module was loaded (a Date.now() value). */
const EPOCH = Date.now();

/**
 * Milliseconds on the session clock. A session keeps two times (its start, its last line);
 * a Date.now() value is over 2^31, so V8 would keep each in a 16-byte heap number of its own,
 * where a time since EPOCH is a small integer (Smi) stored in the field itself for the first
 * 24 days of uptime (later times box again: memory, never a wrong answer). The `| 0` is what
 * makes it a Smi: V8's subtraction of two doubles gives a heap number even when it is whole.
 */
function sinceEpoch(): number {
  const ms = Date.now() - EPOCH;
  return ms <= 0x7fffffff ? ms | 0 : ms;
}

export interface SessionTransport {
  /**
   * Writes what the session gathered during one event-loop turn (called at
   * most once per turn, never with an empty buffer). The transport takes it
   * all: raw sockets as one newline-framed Buffer, WebSocket one frame per
   * message; it applies back-pressure and max_unsent_bytes.
   */
  write(out: OutputBuffer): void;
  /** Ends the connection after what was already sent has been flushed. */
  close(reason: string): void;
  /** Stop reading from the client: lines are waiting for requests in flight to finish. */
  pauseReading?(): void;
  /** The waiting lines are taken: reading may go on (unless the transport has its own reason to wait). */
  resumeReading?(): void;
}

/**
 * Lines (a request or a batch) one session has in the works at once. A client
 * that pipelines more waits: its lines queue here and the transport stops
 * reading, so a few kilobytes of requests cannot make the gateway hold a
 * thousand large answers at once. aiorpcX allows 20 concurrent requests.
 */
export const MAX_LINES_IN_FLIGHT = 20;

export class Session implements Subscriber, Flushable {
  private version: string | null = null;
  /** The name server.version gave; null until server.version was sent (a second one is refused). */
  private clientName: string | null = null;
  private closed = false;
  /** Set when the session is ending: no new requests are read. */
  private closing = false;
  private inFlight = 0;
  /*
   * What follows is made on first use and let go once empty: a session that
   * only negotiated and went quiet holds none of it (docs/limits.md, "Memory
   * per session").
   */
  /** Requests (batch items one by one) in the works, capped (request-slots.ts); dropped when none is. */
  private slots: RequestSlots | null = null;
  /** What few sessions ever need (see Rare), made the first time one does and kept from then on. */
  private rare: Rare | null = null;
  /** The form headers notifications take, once subscribed. */
  private headersForm: HeadersForm | null = null;
  private lastHeader: string | null = null;
  /** Scripthash -> the status this session was last told; null until the first subscription. */
  private statuses: Map<string, string | null> | null = null;
  /** Scripthash -> how the session subscribed to it: null for the scripthash itself, or the address it named. */
  private aliases: Map<string, Set<string | null>> | null = null;
  /** When the client last sent a line, and when the session began: ms on the session clock (sinceEpoch). */
  private lastActivity = sinceEpoch();
  /** A number, not a string, until the admin API asks. */
  private readonly seq = nextSessionId++;
  private readonly startedAt = sinceEpoch();
  private bytesIn = 0;
  private bytesOut = 0;
  /**
   * Output of the current turn, written once at its end (or before the
   * connection ends). Created on first use: a session that only negotiated
   * and went quiet holds none. It also says whether the end-of-turn flush is
   * asked for: it is from the first message of a turn until flushTurn takes
   * the buffer (one field rather than a flag beside it).
   */
  private output: OutputBuffer | null = null;
  /** The JSON-RPC form of the latest request, which notifications take ('1.0' only after "jsonrpc":"1.0"). */
  private replyShape: ReplyShape = '2.0';

  /** The connection is both the session's transport and its context: one field, not two pointing at one object. */
  constructor(
    private readonly deps: SessionDeps,
    private readonly conn: SessionTransport & SessionContext,
  ) {}

  /** Session ids are unique within the process (the cluster admin API prefixes the worker). */
  get id(): string {
    return String(this.seq);
  }

  /** The session's logger: the root's child naming the peer and the listener. */
  get log(): Logger {
    const rare = this.more();
    return (rare.logger ??= this.deps.logger.child({ peer: this.conn.peer, listener: this.conn.listener }));
  }

  /** Whether a line at `level` would be written: ask before building it, so a line not written makes no logger. */
  logs(level: 'debug' | 'info'): boolean {
    return logEnabled(this.deps.logger, level);
  }

  get cost(): SessionCost {
    return this.conn.cost;
  }

  info(now = Date.now()): SessionInfo {
    return {
      id: this.id,
      peer: this.conn.peer ?? '',
      frontend: this.conn.listener,
      version: this.version,
      client: this.clientName ?? '',
      ageMs: now - EPOCH - this.startedAt,
      cost: Math.round(this.conn.cost.ownCost * 100) / 100,
      groupCost: Math.round(this.conn.cost.current() * 100) / 100,
      subscriptions: (this.statuses?.size ?? 0) + (this.headersForm !== null || (this.rare?.lastHeight ?? null) !== null ? 1 : 0),
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
    };
  }

  /** The operator's disconnect (POST /sessions/ID/disconnect): what is in flight is answered first. */
  disconnect(maxWaitMs: number): Promise<void> {
    this.deps.metrics.disconnects.inc({ reason: 'admin' });
    if (this.logs('info')) this.log.info('disconnected by the operator');
    return this.closeGracefully('disconnected by the operator', maxWaitMs);
  }

  /**
   * Milliseconds since the client last sent anything, or 0 while the gateway still works on
   * what it sent: a wallet that pipelined a thousand requests waits for answers, not idles.
   */
  idleFor(now: number): number {
    if (this.inFlight > 0 || this.backlogged) return 0;
    return now - EPOCH - this.lastActivity;
  }

  /** Closes a session that has been silent too long. */
  closeIdle(): void {
    if (this.closed || this.closing) return;
    this.deps.metrics.disconnects.inc({ reason: 'idle' });
    if (this.logs('info')) this.log.info({ idleMs: sinceEpoch() - this.lastActivity }, 'idle timeout');
    this.end('idle timeout');
  }

  get negotiatedVersion(): string | null {
    return this.version;
  }

  get pendingRequests(): number {
    return this.inFlight;
  }

  /** Resolves once no request is being worked on. */
  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    const rare = this.more();
    return new Promise((resolve) => (rare.idleWaiters ??= []).push(resolve));
  }

  /** Whether lines are waiting to be worked on; the transport reads no more until they are taken. */
  get backlogged(): boolean {
    return (this.rare?.backlog ?? null) !== null;
  }

  /** The session's Rare state, made on first use. */
  private more(): Rare {
    return (this.rare ??= new Rare());
  }

  /** Handles one complete line from the wire. */
  receiveLine(line: Buffer): void {
    if (this.closed || this.closing) return;
    this.lastActivity = sinceEpoch();
    if (this.inFlight >= MAX_LINES_IN_FLIGHT || this.backlogged || (this.slots?.waiting ?? 0) > 0) {
      const rare = this.more();
      (rare.backlog ??= []).push(line);
      this.conn.pauseReading?.();
      return;
    }
    this.processLine(line);
  }

  private processLine(line: Buffer): void {
    // Bytes are counted in the metrics by the transport as it reads them (oversize lines included).
    this.bytesIn += line.length + 1;
    this.conn.cost.bytesReceived(line.length + 1);
    const msg = decodeLine(line);
    if (msg.kind === 'unparsable') {
      this.refused('invalid_json', msg.error);
      this.conn.cost.error();
      this.writeError(msg.error);
      return;
    }
    if (msg.kind === 'batch' && msg.items.length > this.deps.config.limits.maxBatch) {
      const error = new RpcError(ErrorCode.INVALID_REQUEST, `batch too large (over ${this.deps.config.limits.maxBatch} requests)`);
      this.refused('batch_too_large', error);
      this.conn.cost.error();
      this.writeError(error);
      return;
    }
    const frames = this.deps.metrics.frames;
    if (msg.kind === 'single' && msg.item.kind === 'invalid') {
      // Its error reply and its client_requests_total count come from handleItem, as for a bad batch item.
      frames[msg.item.error.message === 'batch is empty' ? 'empty_batch' : 'invalid_request'].inc();
    } else {
      frames.ok.inc();
    }
    // A line's answers are held to max_response_bytes before they are fetched, where their size is known.
    const budget = new ResponseBudget(this.deps.config.limits.maxResponseBytes);
    if (msg.kind === 'single') {
      const reply = this.handleItem(msg.item, budget);
      if (reply instanceof Promise) this.trackReply(reply);
      else if (reply !== null) this.writeAnswered(reply);
      return;
    }
    this.track(
      Promise.all(msg.items.map((item) => this.handleItem(item, budget))).then((replies) => {
        const answered = replies.filter((r): r is Response => r !== null);
        if (answered.length > 0) this.writeReplies(answered, true);
      }),
    );
  }

  /**
   * The line was over the size limit (ElectrumX's MAX_RECV): stop reading,
   * let the answers already being worked on go out, then say why and hang up.
   */
  rejectOversize(bytes: number): void {
    if (this.closing) return;
    this.closing = true;
    this.deps.metrics.disconnects.inc({ reason: 'oversize' });
    this.log.warn({ bytes }, 'request line too large; disconnecting');
    const error = new RpcError(ErrorCode.INVALID_REQUEST, `request too large (over ${this.deps.config.limits.maxLineBytes} bytes)`);
    this.refused('oversize', error);
    void withTimeout(this.idle(), this.deps.config.limits.requestTimeoutMs).then(() => {
      this.writeError(error);
      this.end('oversize request');
    });
  }

  /** Called by the transport when the connection is gone. */
  detach(): void {
    if (this.closed) return;
    this.closed = true;
    this.output = null;
    this.deps.hub.removeSubscriber(this, this.statuses?.keys() ?? NO_SCRIPTHASHES);
    this.statuses = null;
    this.aliases = null;
  }

  notifyHeaders(tip: HeaderTip): void {
    if (this.closed) return;
    if (this.headersForm && tip.hex !== this.lastHeader) {
      this.lastHeader = tip.hex;
      this.notify('blockchain.headers.subscribe', [formatTip(this.headersForm, tip)]);
    }
    const rare = this.rare;
    if (rare !== null && rare.lastHeight !== null && tip.height !== rare.lastHeight) {
      rare.lastHeight = tip.height;
      this.notify('blockchain.numblocks.subscribe', [tip.height]);
    }
  }

  notifyScripthash(scripthash: string, status: string | null): void {
    const statuses = this.statuses;
    if (this.closed || statuses === null || !statuses.has(scripthash) || statuses.get(scripthash) === status) return;
    statuses.set(scripthash, status);
    for (const alias of this.aliases?.get(scripthash) ?? []) {
      if (alias === null) this.notify('blockchain.scripthash.subscribe', [scripthash, status]);
      else this.notify('blockchain.address.subscribe', [alias, status]);
    }
  }

  /** An answer ready at once (a cache hit): written now, with track's guard against the unexpected. */
  private writeAnswered(reply: Response): void {
    try {
      this.writeReplies([reply], false);
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'unexpected error while answering');
    }
  }

  /** One request's answer on its way: written when it comes, with one continuation (not then + catch + finally). */
  private trackReply(reply: Promise<Response | null>): void {
    this.inFlight++;
    reply.then(
      (r) => {
        if (r !== null) this.writeAnswered(r);
        this.lineDone();
      },
      (err: Error) => {
        this.log.error({ err: err.message }, 'unexpected error while answering');
        this.lineDone();
      },
    );
  }

  private track(work: Promise<unknown>): void {
    this.inFlight++;
    work.then(
      () => this.lineDone(),
      (err: Error) => {
        this.log.error({ err: err.message }, 'unexpected error while answering');
        this.lineDone();
      },
    );
  }

  private lineDone(): void {
    this.inFlight--;
    this.takeBacklog();
    if (this.inFlight > 0) return;
    // Every request of every line has left its slot by now; a quiet session keeps no slots.
    if (this.slots !== null && this.slots.busy === 0 && this.slots.waiting === 0) this.slots = null;
    const rare = this.rare;
    const waiters = rare?.idleWaiters ?? null;
    if (rare === null || waiters === null) return;
    rare.idleWaiters = null;
    for (const w of waiters) w();
  }

  /** The session's request slots; made here, not in handleItem, so its callback holds no request. */
  private requestSlots(): RequestSlots {
    return (this.slots ??= new RequestSlots(undefined, () => this.takeBacklog()));
  }

  /** Works on waiting lines while there is room, and lets the transport read again once none wait. */
  private takeBacklog(): void {
    const rare = this.rare;
    const backlog = rare?.backlog ?? null;
    if (rare === null || backlog === null) return;
    if (this.closed || this.closing) {
      rare.backlog = null;
      return;
    }
    while (backlog.length > 0 && this.inFlight < MAX_LINES_IN_FLIGHT && (this.slots?.waiting ?? 0) === 0 && !this.closing) this.processLine(backlog.shift()!);
    // processLine never adds to the backlog (receiveLine does), so this is still the session's.
    if (this.closing || backlog.length === 0) rare.backlog = null;
    if (rare.backlog === null) this.conn.resumeReading?.();
  }

  /**
   * Counts a line refused before any method ran: in client_frames_total by why, and in
   * client_requests_total under the method "(invalid)", so error ratios include it.
   */
  private refused(outcome: 'invalid_json' | 'batch_too_large' | 'oversize', error: RpcError): void {
    this.deps.metrics.frames[outcome].inc();
    this.deps.metrics.requestCells(INVALID_METHOD_LABEL).result(error.code).inc();
    if (this.logs('debug')) this.log.debug({ outcome, err: error.message }, 'request refused');
  }

  /**
   * One request or notification, answered synchronously when it can be (a
   * cache hit in memory, a server.* method the gateway answers itself: the
   * bulk of a busy gateway's requests), else through a promise. Both ways
   * take the same steps in the same order: a slot, the cost model's say,
   * the call, the metrics.
   */
  private handleItem(item: IncomingItem, budget: ResponseBudget): Response | null | Promise<Response | null> {
    if (item.kind === 'response') return null;
    if (item.kind === 'invalid') {
      this.deps.metrics.requestCells(INVALID_METHOD_LABEL).result(item.error.code).inc();
      this.conn.cost.error();
      return errorResponse(item.id, item.error, item.shape);
    }
    // Notifications follow the form of the session's latest request (aiorpcx fixes one per connection).
    if (item.kind === 'request') this.replyShape = item.shape ?? '2.0';
    // The method's metric series, bound on its first request (metrics.ts): counting is adding to numbers.
    const cells = this.deps.metrics.requestCells(lookupMethodName(item.method));
    const started = performance.now();
    // Lines waiting behind requests that wait for a slot are taken once the last of those has one.
    // A session with nothing in flight has no slots object (idle sessions stay small): a request
    // answered at once needs none, one that must wait takes its slot once it knows it waits.
    let slots = this.slots;
    if (slots !== null && !slots.tryTake()) {
      return slots
        .run(() => (this.closed ? Promise.reject(new RpcError(ErrorCode.UNAVAILABLE, 'session closed')) : Promise.resolve(this.admitAndCall(item.method, item.params, budget))))
        .then(
          (result) => this.succeeded(item, cells, started, result),
          (err: unknown) => this.failed(item, cells, started, err),
        );
    }
    let result: unknown;
    try {
      result = this.admitAndCall(item.method, item.params, budget);
    } catch (err) {
      slots?.release();
      return this.failed(item, cells, started, err);
    }
    if (!(result instanceof Promise)) {
      slots?.release();
      return this.succeeded(item, cells, started, result);
    }
    if (slots === null) {
      // Nothing else was in flight, so the slot is free and nobody waits for it.
      slots = this.requestSlots();
      slots.tryTake();
    }
    const held = slots;
    return result.then(
      (value) => {
        held.release();
        return this.succeeded(item, cells, started, value);
      },
      (err: unknown) => {
        held.release();
        return this.failed(item, cells, started, err);
      },
    );
  }

  /** The response object (the encoder's input, one per answer), once the method's metrics are counted. */
  private succeeded(item: CallItem, cells: RequestCells, started: number, result: unknown): Response | null {
    cells.duration.observe((performance.now() - started) / 1000);
    cells.ok.inc();
    return item.kind === 'request' ? resultResponse(item.id, result, item.shape) : null;
  }

  private failed(item: CallItem, cells: RequestCells, started: number, err: unknown): Response | null {
    this.conn.cost.error();
    const rpcErr = toClientError(err);
    cells.duration.observe((performance.now() - started) / 1000);
    cells.result(rpcErr.code).inc();
    if (rpcErr.code === ErrorCode.INTERNAL_ERROR && !(err instanceof RpcError)) {
      this.log.error({ method: item.method, err: (err as Error).message }, 'internal error');
    }
    return item.kind === 'request' ? errorResponse(item.id, rpcErr, item.shape) : null;
  }

  /**
   * The answer's expected size is reserved in the line's budget (refused there if it cannot fit) and
   * charged before the fetch; its real size settles both once it is in.
   */
  private admitAndCall(method: string, params: Params, budget: ResponseBudget): unknown {
    if (!this.deps.costAccountingAvailable()) {
      throw new RpcError(ErrorCode.SERVER_BUSY, 'server busy - cost accounting unavailable, try again later');
    }
    const args = Array.isArray(params) ? params : Object.values(params);
    const expected = budget.reserve(this.conn.cost.expect(method, args));
    let result: unknown;
    try {
      result = this.judgeAndCall(method, params, args, expected);
    } catch (err) {
      budget.settle(expected, 0);
      throw err;
    }
    const settle = (value: unknown): unknown => {
      let actual = 0;
      try {
        actual = this.conn.cost.answered(method, args, value) ?? expected;
      } finally {
        budget.settle(expected, actual);
      }
      return value;
    };
    if (!(result instanceof Promise)) return settle(result);
    return result.then(settle, (err: unknown) => {
      budget.settle(expected, 0);
      throw err;
    });
  }

  /** The cost model's say before the call: run it, delay it behind this session's other throttled requests, or refuse and hang up. */
  private judgeAndCall(method: string, params: Params, args: readonly unknown[], expected: number): unknown {
    const verdict = this.conn.cost.admit(method, args, expected);
    this.deps.metrics.groupCostCell.observe(this.conn.cost.current());
    if (verdict.action === 'run') return this.call(method, params);
    if (verdict.action === 'throttle') {
      this.deps.metrics.throttled.inc();
      // A session gone while its request waited gets nothing done for it (no upstream call, no subscription).
      return this.conn.cost.throttle(verdict.delayMs, () =>
        this.closed ? Promise.reject(new RpcError(ErrorCode.UNAVAILABLE, 'session closed')) : Promise.resolve().then(() => this.call(method, params)),
      );
    }
    if (!this.closing) {
      this.closing = true;
      this.deps.metrics.disconnects.inc({ reason: 'hard_limit' });
      this.log.warn({ group: this.conn.cost.group, cost: Math.round(this.conn.cost.current()) }, 'excessive resource usage; disconnecting');
      // The refusal goes out first (end() flushes this turn's output before it closes).
      setImmediate(() => this.end('excessive resource usage'));
    }
    throw new RpcError(ErrorCode.EXCESSIVE_RESOURCE_USAGE, 'excessive resource usage');
  }

  /** The method itself: a value when it is answered at once, else a promise. */
  private call(method: string, params: Params): unknown {
    if (this.version === null && method !== 'server.version') {
      this.version = DEFAULT_VERSION;
      if (this.logs('debug')) this.log.debug({ method }, 'first message is not server.version; speaking protocol 1.4');
    }
    const spec = lookupMethod(method, this.version ?? GATEWAY_VERSIONS[GATEWAY_VERSIONS.length - 1]!);
    if (!spec) throw new RpcError(ErrorCode.METHOD_NOT_FOUND, `unknown method "${method.length > 100 ? `${method.slice(0, 100)}…` : method}"`);
    const args = checkArity(spec, params);
    const { config, hub } = this.deps;
    const network = config.network;
    const version = this.version ?? DEFAULT_VERSION;
    const deadline = Date.now() + config.limits.requestTimeoutMs;
    switch (method) {
      case 'server.version':
        return this.serverVersion(args);
      case 'server.features':
        return serverFeatures(config);
      case 'server.banner':
        return serverBanner(config, this.fromTor());
      case 'server.donation_address':
        return config.server.donationAddress;
      case 'server.ping':
        return null;
      case 'server.peers.subscribe':
        return peersSubscribeAnswer(config, this.deps.peers ?? null, this.fromTor());
      case 'server.add_peer':
        // Its base cost (100, cost.ts) is charged before this runs: a session calling it in a loop meets the hard limit.
        return this.deps.peers ? this.deps.peers.addPeer(args[0], this.conn.remoteAddress, this) : false;
      case 'blockchain.headers.subscribe': {
        const form = headersForm(parseVersion(version)!, args[0]);
        return hub.subscribeHeaders(this, deadline).then((tip) => {
          this.headersForm = form;
          this.lastHeader = tip.hex;
          return formatTip(form, tip);
        });
      }
      case 'blockchain.numblocks.subscribe':
        return hub.subscribeHeaders(this, deadline).then((tip) => {
          this.more().lastHeight = tip.height;
          return tip.height;
        });
      case 'blockchain.scripthash.subscribe':
        return this.subscribe(scripthashArg(args[0]), null, deadline);
      case 'blockchain.address.subscribe':
        return this.subscribe(addressArg(args[0], network), stringArg(args[0], 'address'), deadline);
      case 'blockchain.scripthash.unsubscribe':
        return this.unsubscribe(scripthashArg(args[0]));
      case 'blockchain.address.get_balance':
      case 'blockchain.address.get_history':
      case 'blockchain.address.get_mempool':
      case 'blockchain.address.listunspent':
        return this.forward(method.replace('blockchain.address.', 'blockchain.scripthash.'), [addressArg(args[0], network)], version, deadline);
      case 'blockchain.block.get_header': {
        const height = nonNegativeIntegerArg(args[0], 'height');
        return this.read('blockchain.block.header', [height], deadline).then((hex) => headerDict(String(hex), height));
      }
      case 'blockchain.block.get_chunk': {
        const index = nonNegativeIntegerArg(args[0], 'index');
        const size = network.chunkSize;
        return this.read('blockchain.block.headers', [index * size, size], deadline).then((r) => (r as { headers: string[] }).headers.join(''));
      }
      case 'blockchain.utxo.get_address': {
        const txHash = txHashArg(args[0]);
        const index = nonNegativeIntegerArg(args[1], 'index');
        // The spec: null when the transaction does not exist, as for an index out of range.
        return this.read('blockchain.transaction.get', [txHash], deadline).then(
          (raw) => outputAddress(String(raw), index, network),
          (err: unknown) => {
            if (err instanceof RpcError && (err.code === ErrorCode.DAEMON_ERROR || err.code === ErrorCode.BAD_REQUEST) && classifyFailure(err) === 'definitive') return null;
            throw err;
          },
        );
      }
      case 'blockchain.transaction.get':
        // 1.0's height argument was always ignored by servers.
        return this.forward(method, versionLess(version, '1.1') ? args.slice(0, 1) : args, version, deadline, validateForwarded);
      case 'blockchain.transaction.broadcast':
        if (versionLess(version, '1.1')) {
          return Promise.resolve(this.forward(method, args, version, deadline, validateForwarded)).catch((err: unknown) => {
            if (err instanceof RpcError) return broadcastResultV10(err);
            throw err;
          });
        }
        return this.forward(method, args, version, deadline, validateForwarded);
      // blockchain.estimatefee: -1 ("no estimate") only when an upstream says so. An outage is an
      // error, as ElectrumX gives when its daemon fails: a made-up -1 would hide it from the wallet,
      // which then stays on a server that cannot serve it, and from the metrics.
      default:
        return this.forward(method, args, version, deadline, validateForwarded);
    }
  }

  /** Whether this connection seems to come through our Tor proxy (its source is the proxy's address). */
  private fromTor(): boolean {
    return this.deps.peers?.isFromTor(this.conn.remoteAddress) ?? false;
  }

  /**
   * Forwards a request whose answer goes to the wallet untouched, so it may
   * come back as wire bytes (RawJson) for the encoder to splice: at once when
   * memory holds it, else through the router. Upstream errors come back in
   * one normalised wording.
   */
  private forward(method: string, args: unknown[], version: string, deadline: number, validate?: (m: string, a: unknown[]) => void): unknown {
    validate?.(method, args);
    const held = this.deps.router.hit?.(method, args, version);
    if (held !== undefined) return held;
    return this.deps.router.forward(method, args, version, deadline, PASS_ON).catch(normalizeFailure(method));
  }

  /** Forwards a canonical request whose answer the session reshapes itself (never wire bytes). */
  private read(method: string, args: unknown[], deadline: number): Promise<unknown> {
    return this.deps.router.forward(method, args, CANONICAL, deadline).catch(normalizeFailure(method));
  }

  /** Subscribes this session to a scripthash, named directly (alias null) or through an address. */
  private async subscribe(scripthash: string, alias: string | null, deadline: number): Promise<string | null> {
    if (this.closed) throw new RpcError(ErrorCode.UNAVAILABLE, 'session closed');
    let names = this.aliases?.get(scripthash);
    const fresh = !names;
    const max = this.deps.config.limits.maxSubscriptionsPerSession;
    if (fresh && (this.aliases?.size ?? 0) >= max) {
      throw new RpcError(4, `subscription limit reached (${max} per session)`);
    }
    if (!names) {
      names = new Set();
      (this.aliases ??= new Map()).set(scripthash, names);
      (this.statuses ??= new Map()).set(scripthash, null);
    }
    names.add(alias);
    try {
      const status = await this.deps.hub.subscribeScripthash(this, scripthash, deadline);
      // Left or unsubscribed while it was in flight: the hub already forgot this session.
      if (!this.closed && this.aliases?.get(scripthash) === names) this.statuses?.set(scripthash, status);
      return status;
    } catch (err) {
      names.delete(alias);
      if (fresh || names.size === 0) this.forget(scripthash);
      // The hub's upstream errors come back in the same wording as forwarded ones ("history too large").
      throw err instanceof RpcError ? normalizeUpstreamError('blockchain.scripthash.subscribe', err) : err;
    }
  }

  private unsubscribe(scripthash: string): boolean {
    const names = this.aliases?.get(scripthash);
    if (!names?.delete(null)) return false;
    if (names.size === 0) {
      this.forget(scripthash);
      this.deps.hub.unsubscribeScripthash(this, scripthash);
    }
    return true;
  }

  /** Drops a scripthash from this session's maps, and the maps once empty. */
  private forget(scripthash: string): void {
    this.aliases?.delete(scripthash);
    this.statuses?.delete(scripthash);
    if (this.aliases?.size === 0) this.aliases = null;
    if (this.statuses?.size === 0) this.statuses = null;
  }

  private serverVersion(args: unknown[]): unknown {
    if (this.clientName !== null) throw new RpcError(ErrorCode.BAD_REQUEST, 'server.version already sent');
    this.clientName = ownCopy(String(args[0] ?? ''), MAX_CLIENT_NAME);
    const range = parseClientRange(args[1]);
    const late = this.version !== null;
    const outcome = typeof range === 'string' ? { ok: false as const, reason: range } : negotiate(range, late ? LATE_NEGOTIABLE : GATEWAY_VERSIONS);
    if (!outcome.ok) {
      if (this.logs('info')) this.log.info({ client: this.clientName, asked: args[1], reason: outcome.reason }, 'version negotiation failed');
      // Reply first, then close once the reply is out, as the spec asks.
      // Nothing read after the refusal is answered: there is no version to answer it in.
      this.closing = true;
      this.deps.metrics.disconnects.inc({ reason: 'version' });
      setImmediate(() => this.end('unsupported protocol version'));
      throw new RpcError(ErrorCode.BAD_REQUEST, `unsupported protocol version: ${JSON.stringify(args[1] ?? null)}`);
    }
    this.version = outcome.version;
    if (this.logs('debug')) this.log.debug({ client: this.clientName, version: this.version }, 'version negotiated');
    // 1.0 answered with the server's name alone.
    return versionLess(this.version, '1.1') ? SERVER_SOFTWARE : [SERVER_SOFTWARE, this.version];
  }

  /**
   * Replies, each held to max_response_bytes (ElectrumX's MAX_SEND) and a
   * batch to that much in all: what does not fit is replaced by an error, so
   * no answer can make the gateway hold unbounded output for one client.
   */
  private writeReplies(replies: readonly Response[], batch: boolean): void {
    const max = this.deps.config.limits.maxResponseBytes;
    let total = 0;
    const encoded = replies.map((r) => {
      let m = 'result' in r ? encodeResult(r.id, r.result, r.shape) : encodeError(r.id, r.error, r.shape);
      if (total + m.bytes > max) m = encodeError(r.id, new RpcError(ErrorCode.INVALID_REQUEST, `response too large (over ${max} bytes)`).toObject(), r.shape);
      total += m.bytes;
      return m;
    });
    this.send(batch ? encodeBatch(encoded) : encoded[0]!);
  }

  private writeError(error: RpcError): void {
    this.send(encodeError(null, error.toObject()));
  }

  private notify(method: string, params: readonly unknown[]): void {
    this.send(encodeNotification(method, params, this.replyShape));
  }

  /** Queues one message for the end of this turn; replies and notifications keep the order they were produced in. */
  private send(m: EncodedMessage): void {
    if (this.closed) return;
    const bytes = m.bytes + 1;
    this.bytesOut += bytes;
    // Charged now, not at the flush: a request admitted later in this turn sees what this one cost.
    this.conn.cost.bytesSent(bytes);
    let out = this.output;
    if (out === null) {
      out = this.output = new OutputBuffer();
      flushAtEndOfTurn(this);
    }
    out.push(m);
  }

  /** End of turn: everything gathered goes to the transport in one write. */
  flushTurn(): void {
    const out = this.output;
    // A quiet session holds no buffer between turns; the next message asks for a flush again.
    this.output = null;
    if (out === null || out.length === 0) return;
    if (this.closed) {
      out.clear();
    } else {
      this.conn.sentBytes.inc(out.bytes);
      this.conn.write(out);
    }
  }

  /** Ends the session for a drain: no new requests are read, those in flight are answered first (up to maxWaitMs). */
  async closeGracefully(reason: string, maxWaitMs: number): Promise<void> {
    if (this.closed) return;
    this.closing = true;
    await withTimeout(this.idle(), maxWaitMs);
    this.end(reason);
  }

  private end(reason: string): void {
    if (this.closed) return;
    // What this turn produced (the refusal that explains the close) goes out before the end.
    this.flushTurn();
    this.conn.close(reason);
    this.detach();
  }
}

/**
 * Session state few sessions ever need, in one object made on first use: the session itself
 * then has one field for all of it, not one each (each field is 8 bytes in every session, idle
 * ones included). A session that needed it once keeps it; its parts are let go once empty.
 */
class Rare {
  /** Lines received while MAX_LINES_IN_FLIGHT were being worked on, or while requests waited for a slot, in order. */
  backlog: Buffer[] | null = null;
  /** Who waits for the session to have nothing in flight (a drain, an oversize line). */
  idleWaiters: (() => void)[] | null = null;
  /** 1.0's numblocks.subscribe: the height last announced, once subscribed. */
  lastHeight: number | null = null;
  /** The session's logger, made on its first line written (a child logger and its bindings are a few hundred bytes). */
  logger: Logger | null = null;
}

/** Metric label for a method: known names as they are, anything else folded so labels stay bounded. */
/** The method label of requests refused before their method was known (bad JSON, bad shape). */
const INVALID_METHOD_LABEL = '(invalid)';

function lookupMethodName(method: string): string {
  return METHOD_NAMES.has(method) ? method : 'other';
}

/**
 * The first `max` characters of `s`, in a string of their own: V8's slice of a long string is a
 * view that keeps the whole of it, and a session keeps its client name for as long as it lives.
 */
function ownCopy(s: string, max: number): string {
  return s.length <= max ? s : Buffer.from(s.slice(0, max), 'utf16le').toString('utf16le');
}

/** A request or a notification: what handleItem calls a method for. */
type CallItem = Extract<IncomingItem, { kind: 'request' | 'notification' }>;

type RequestCells = ReturnType<GatewayMetrics['requestCells']>;

function normalizeFailure(method: string): (err: unknown) => never {
  return (err) => {
    throw err instanceof RpcError ? normalizeUpstreamError(method, err) : err;
  };
}

function withTimeout(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]).finally(() => clearTimeout(timer));
}

/** Cheap checks that keep garbage away from upstreams, naming the bad parameter. */
function validateForwarded(method: string, args: unknown[]): void {
  switch (method) {
    case 'blockchain.scripthash.get_balance':
    case 'blockchain.scripthash.get_history':
    case 'blockchain.scripthash.get_mempool':
    case 'blockchain.scripthash.listunspent':
      args[0] = scripthashArg(args[0]);
      break;
    case 'blockchain.block.header':
      nonNegativeIntegerArg(args[0], 'height');
      if (args[1] !== undefined) nonNegativeIntegerArg(args[1], 'cp_height');
      dropTrailingDefault(args, 1, 0);
      break;
    case 'blockchain.block.headers':
      nonNegativeIntegerArg(args[0], 'start_height');
      nonNegativeIntegerArg(args[1], 'count');
      if (args[2] !== undefined) nonNegativeIntegerArg(args[2], 'cp_height');
      dropTrailingDefault(args, 2, 0);
      break;
    case 'blockchain.transaction.get':
      args[0] = txHashArg(args[0]);
      if (args[1] !== undefined) args[1] = booleanArg(args[1], 'verbose');
      dropTrailingDefault(args, 1, false);
      break;
    case 'blockchain.transaction.get_merkle':
      args[0] = txHashArg(args[0]);
      nonNegativeIntegerArg(args[1], 'height');
      break;
    case 'blockchain.transaction.id_from_pos':
      nonNegativeIntegerArg(args[0], 'height');
      nonNegativeIntegerArg(args[1], 'tx_pos');
      if (args[2] !== undefined) args[2] = booleanArg(args[2], 'merkle');
      dropTrailingDefault(args, 2, false);
      break;
    case 'blockchain.transaction.broadcast':
      hexArg(args[0], 'raw_tx');
      break;
    case 'blockchain.transaction.broadcast_package':
      if (!Array.isArray(args[0]) || args[0].length === 0) throw new RpcError(ErrorCode.BAD_REQUEST, 'invalid raw_txs: should be a non-empty list of hex transactions');
      args[0].forEach((tx, i) => hexArg(tx, `raw_txs[${i}]`));
      if (args[1] !== undefined) args[1] = booleanArg(args[1], 'verbose');
      dropTrailingDefault(args, 1, false);
      break;
    case 'blockchain.estimatefee': {
      nonNegativeIntegerArg(args[0], 'number');
      if (args[1] === null) args.pop();
      if (args[1] === undefined) break;
      // bitcoind's estimate_mode values. Checked here because any upstream failure becomes -1 below;
      // "unset" is bitcoind's default, the same as sending no mode (which ElectrumX also accepts).
      const mode = stringArg(args[1], 'mode');
      if (!/^(economical|conservative|unset)$/i.test(mode)) {
        throw new RpcError(ErrorCode.BAD_REQUEST, `invalid mode: ${JSON.stringify(mode.slice(0, 40))} should be ECONOMICAL or CONSERVATIVE`);
      }
      if (/^unset$/i.test(mode)) args.pop();
      break;
    }
    default:
      break;
  }
}

/**
 * An argument equal to its default is not sent on: one request has one
 * canonical form, and servers without the parameter (electrs has no
 * cp_height) can still answer.
 */
function dropTrailingDefault(args: unknown[], index: number, defaultValue: unknown): void {
  if (args.length === index + 1 && args[index] === defaultValue) args.pop();
}

// SPDX-License-Identifier: MIT
/**
 * The simulated Electrum server: the test upstream for the whole project.
 *
 *   const sim = await Simulator.start({ initialBlocks: 110 });
 *   sim.url                       // 'tcp://127.0.0.1:PORT'
 *   sim.pay(address, 100_000)     // a real signed tx in the mempool, subscribers notified
 *   sim.mine()                    // a real block with valid PoW, subscribers notified
 *   sim.reorg(2)                  // orphan 2 blocks, 3 new ones on the fork
 *   await sim.stop()
 *
 * See test/sim/README.md for what it serves and which knobs it has.
 */
import net from 'node:net';
import { statusHash } from '../../src/protocol/status.js';
import { Chain, type HistoryEntry } from './chain.js';
import { CostModel, ELECTRUMX_COSTS, type CostLimits, type CostStats } from './cost.js';
import { Session, Verbatim, type FailRule, type LieKind, type RpcErrorShape, type SimHost } from './server.js';

export interface SimulatorOptions {
  host?: string; // default '127.0.0.1'
  port?: number; // default 0 (ephemeral); restart() reuses the bound port
  protocolMin?: string; // default '1.4'
  protocolMax?: string; // default '1.6'  (a '1.4'-only sim: protocolMax '1.4')
  initialBlocks?: number; // default 110 so the sim's coinbases are mature
  seed?: string; // deterministic chain and keys; default 'electrum-gateway'
  genesisHash?: string; // reported by server.features instead of the real one (simulates another network)
  /** Extension: the server_version string (server.version / server.features). */
  serverVersion?: string;
  /** Extension: accept sim.* control methods on the Electrum socket (main.ts turns this on). */
  controlMethods?: boolean;
  /**
   * Extension (peer discovery): reshapes server.features, e.g. into an ElectrumX or Fulcrum
   * fixture or with a `hosts` that does not list the host it is reached at. Gets the sim's own answer.
   */
  features?: (base: Record<string, unknown>) => Record<string, unknown>;
  /** Extension: what server.peers.subscribe answers ([ip, host, ["v1.4", "t50001"]] entries); default []. */
  peers?: unknown[];
  /**
   * Extension: 'electrs' serves what romanz/electrs 0.10 serves: protocol 1.4 only (the
   * defaults of protocolMin/Max become 1.4), server_version "electrs/0.10.6", no
   * blockchain.scripthash.get_mempool nor server.add_peer (-32601), and block.header(s)
   * without cp_height (an extra argument is -32602). Default 'electrumx'.
   */
  flavor?: 'electrumx' | 'electrs';
  /** Extension: the bits of the block at each height (default 0x207fffff), for chains with more work per block. */
  bits?: (height: number) => number;
  /**
   * Extension: ElectrumX's session cost model (test/sim/cost.ts): `true` for
   * ElectrumX's default limits, or limits to change. Off by default.
   */
  costs?: true | Partial<CostLimits>;
}

export interface HistoryItem {
  tx_hash: string;
  height: number;
  fee?: number;
}

export interface SimulatorStats {
  requests: Record<string, number>;
  /** Connections open now. */
  connections: number;
  /** Subscriptions held now, summed over open connections. */
  scripthashSubscriptions: number;
  /** Extension: connections accepted since start. */
  totalConnections: number;
  /** Extension: connections closed at accept by the per-IP cap (setMaxClientsPerIp). */
  refusedConnections: number;
  /** Extension: the most requests one connection had read and not yet answered at once (see setLatency), since start or resetMaxInFlight(). */
  maxInFlight: number;
}

const DEFAULT_SERVER_VERSION = 'ElectrumX 1.18.0';

export class Simulator {
  readonly host: string;
  private boundPort: number;
  readonly genesisHash: string;
  private readonly chain: Chain;
  private readonly opts: Required<Omit<SimulatorOptions, 'genesisHash' | 'port' | 'features' | 'peers' | 'bits' | 'costs'>>;
  /** Extension: the cost model, when the `costs` option is set. */
  private readonly costModel: CostModel | null;
  private peerList: unknown[];
  /** Extension: the features argument of every server.add_peer call received. */
  readonly addPeerCalls: unknown[] = [];
  private server: net.Server | null = null;
  private readonly sessions = new Set<Session>();
  private readonly requests: Record<string, number> = {};
  private totalConnections = 0;
  private readonly knobs: SimHost['knobs'] = {
    latencyMs: 0,
    failures: new Map<string, RpcErrorShape>(),
    drops: new Set<string>(),
    lie: null,
    feeEstimates: true,
    padding: false,
    histories: new Map(),
    nextFailures: [],
    verbatim: false,
  };
  /** Extension: Fulcrum's max_clients_per_ip; 0 = no cap. */
  private maxClientsPerIp = 0;
  private refusedConnections = 0;
  private maxInFlight = 0;
  private readonly hostApi: SimHost;

  private constructor(opts: SimulatorOptions) {
    this.host = opts.host ?? '127.0.0.1';
    this.boundPort = opts.port ?? 0;
    this.opts = {
      host: this.host,
      protocolMin: opts.protocolMin ?? '1.4',
      protocolMax: opts.protocolMax ?? (opts.flavor === 'electrs' ? '1.4' : '1.6'),
      initialBlocks: opts.initialBlocks ?? 110,
      seed: opts.seed ?? 'electrum-gateway',
      serverVersion: opts.serverVersion ?? (opts.flavor === 'electrs' ? 'electrs/0.10.6' : DEFAULT_SERVER_VERSION),
      controlMethods: opts.controlMethods ?? false,
      flavor: opts.flavor ?? 'electrumx',
    };
    if (!Number.isInteger(this.opts.initialBlocks) || this.opts.initialBlocks < 0) {
      throw new RangeError(`initialBlocks must be a non-negative integer, got ${this.opts.initialBlocks}`);
    }
    this.chain = new Chain({ seed: this.opts.seed, initialBlocks: this.opts.initialBlocks, ...(opts.bits ? { bits: opts.bits } : {}) });
    this.genesisHash = opts.genesisHash ?? this.chain.blockHash(0);
    this.costModel = opts.costs ? new CostModel({ ...ELECTRUMX_COSTS, ...(opts.costs === true ? {} : opts.costs) }) : null;
    this.peerList = opts.peers ?? [];
    const self = this;
    this.hostApi = {
      chain: this.chain,
      serverVersion: this.opts.serverVersion,
      protocolMin: this.opts.protocolMin,
      protocolMax: this.opts.protocolMax,
      flavor: this.opts.flavor,
      genesisHash: this.genesisHash,
      host: this.host,
      port: () => self.boundPort,
      knobs: this.knobs,
      ...(opts.features ? { featuresOverride: opts.features } : {}),
      peerList: () => self.peerList,
      addPeer: (features) => {
        if (self.addPeerCalls.length < 1000) self.addPeerCalls.push(features);
        // As an ElectrumX whose checks refuse it (the sim never verifies peers).
        return false;
      },
      countRequest: (method) => {
        self.requests[method] = (self.requests[method] ?? 0) + 1;
      },
      noteInFlight: (n) => {
        if (n > self.maxInFlight) self.maxInFlight = n;
      },
      afterChange: () => self.notifyAll(),
      costs: () => self.costModel,
      ...(this.opts.controlMethods ? { control: (method: string, args: unknown[] | Record<string, unknown>) => self.control(method, args) } : {}),
    };
  }

  /** Builds the chain and starts listening. */
  static async start(opts: SimulatorOptions = {}): Promise<Simulator> {
    const sim = new Simulator(opts);
    await sim.listen();
    return sim;
  }

  get port(): number {
    return this.boundPort;
  }

  get url(): string {
    return `tcp://${this.host}:${this.boundPort}`;
  }

  get stats(): SimulatorStats {
    let subs = 0;
    for (const s of this.sessions) subs += s.subs.size;
    return {
      requests: { ...this.requests },
      connections: this.sessions.size,
      scripthashSubscriptions: subs,
      totalConnections: this.totalConnections,
      refusedConnections: this.refusedConnections,
      maxInFlight: this.maxInFlight,
    };
  }

  /**
   * Extension: what the cost model saw (null without the `costs` option):
   * peaks, throttled and timed-out requests, sessions closed for their cost,
   * and the open sessions' costs now (highest first).
   */
  get costStats(): (CostStats & { readonly sessionCosts: number[] }) | null {
    if (!this.costModel) return null;
    return { ...this.costModel.stats, sessionCosts: this.costModel.sessionCosts() };
  }

  /** Extension: every scripthash subscribed on an open connection, with how many connections hold it. */
  subscriptionHolders(): Map<string, number> {
    const held = new Map<string, number>();
    for (const s of this.sessions) for (const sh of s.subs.keys()) held.set(sh, (held.get(sh) ?? 0) + 1);
    return held;
  }

  /** Extension: ElectrumX's periodic pass now (decay rates set from the subscriptions held, group refunds). */
  recalcCosts(): void {
    this.costModel?.periodic();
  }

  /** Extension: restarts stats.maxInFlight from 0. */
  resetMaxInFlight(): void {
    this.maxInFlight = 0;
  }

  // ---------------------------------------------------------------- chain

  tipHeight(): number {
    return this.chain.tipHeight();
  }

  headerHex(height: number): string {
    return this.chain.headerHex(height);
  }

  blockHash(height: number): string {
    return this.chain.blockHash(height);
  }

  /** Mines n blocks (mempool into the first), notifies subscribers, returns the new block hashes. */
  mine(n = 1): string[] {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`mine() needs a positive integer, got ${n}`);
    const hashes = this.chain.mine(n);
    this.notifyAll();
    return hashes;
  }

  /** Pays `sats` from the simulator's funds to `address` (regtest); mempool unless confirm. Returns the txid. */
  pay(address: string, sats: number, opts: { confirm?: boolean } = {}): string {
    const txid = this.chain.pay(address, sats);
    if (opts.confirm) this.chain.mine(1);
    this.notifyAll();
    return txid;
  }

  /** Validates a raw transaction like bitcoind and adds it to the mempool; throws with bitcoind's reason. */
  addRawTransaction(rawHex: string): string {
    const txid = this.chain.acceptRaw(rawHex);
    this.notifyAll();
    return txid;
  }

  /** Replaces the last `depth` blocks by depth+1 new (empty) ones; orphaned txs return to the mempool. */
  reorg(depth: number): string[] {
    const orphaned = this.chain.reorg(depth);
    this.notifyAll();
    return orphaned;
  }

  history(scripthash: string): HistoryItem[] {
    return this.chain.history(scripthash.toLowerCase()) as HistoryEntry[];
  }

  status(scripthash: string): string | null {
    return statusHash(this.chain.history(scripthash.toLowerCase()));
  }

  /** Extension: the raw hex of a transaction the simulator knows (chain or mempool), or null. */
  rawTransaction(txid: string): string | null {
    return this.chain.getTx(txid.toLowerCase())?.stx.raw.toString('hex') ?? null;
  }

  /** Extension: the txids of the block at `height`, in block order. */
  blockTxids(height: number): string[] {
    return this.chain.txids(height);
  }

  /** Extension: txids currently in the mempool, in acceptance order. */
  mempoolTxids(): string[] {
    return this.chain.mempoolTxs().map((t) => t.txid);
  }

  // ---------------------------------------------------------------- knobs

  setLatency(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`latency must be >= 0, got ${ms}`);
    this.knobs.latencyMs = ms;
  }

  failMethod(method: string, error: { code: number; message: string } | null): void {
    if (error) this.knobs.failures.set(method, { code: error.code, message: error.message });
    else this.knobs.failures.delete(method);
  }

  /**
   * Extension: the next `times` requests of `method` (those whose arguments `match`, if
   * given) are answered `error`, or with 'drop' processed and never answered. Rules apply
   * in the order they were added; the returned rule counts its hits.
   */
  failNext(method: string, times: number, error: { code: number; message: string } | 'drop', match?: (args: readonly unknown[]) => boolean): FailRule {
    const rule: FailRule = { method, left: times, error: error === 'drop' ? 'drop' : { code: error.code, message: error.message }, hits: 0, ...(match ? { match } : {}) };
    this.knobs.nextFailures.push(rule);
    return rule;
  }

  /** Extension: scripthash subscriptions held by each open connection. */
  subscriptionsPerConnection(): number[] {
    return [...this.sessions].map((s) => s.subs.size);
  }

  dropMethod(method: string, drop: boolean): void {
    if (drop) this.knobs.drops.add(method);
    else this.knobs.drops.delete(method);
  }

  lie(kind: LieKind | null): void {
    this.knobs.lie = kind;
  }

  /** Extension: with false, blockchain.estimatefee answers -1 (no estimate), as a fresh regtest bitcoind does. */
  setFeeEstimates(enabled: boolean): void {
    this.knobs.feeEstimates = enabled;
  }

  /**
   * Extension: get_history of `scripthash` answers `entries` (null: the chain's own again), so a
   * test can have the long histories of a busy address without mining thousands of transactions.
   * Only get_history sees them: status, balance and subscriptions stay the chain's. A string is
   * the result's JSON text, written as it is (key order, escapes, number spellings of a real server).
   */
  setHistory(scripthash: string, entries: readonly HistoryItem[] | string | null): void {
    if (typeof entries === 'string') {
      this.knobs.verbatim = true;
      this.knobs.histories.set(scripthash.toLowerCase(), new Verbatim(entries));
    } else if (entries) this.knobs.histories.set(scripthash.toLowerCase(), entries);
    else this.knobs.histories.delete(scripthash.toLowerCase());
  }

  /**
   * Extension: ElectrumX 1.18+ output padding (PaddedWriter in server.ts): replies padded with
   * spaces to power-of-two packets of >= 1024 bytes, several per packet, small ones held up to 1 s.
   */
  setPadding(enabled: boolean): void {
    this.knobs.padding = enabled;
  }

  /**
   * Extension: like Fulcrum's max_clients_per_ip (default 12 there): a connection from an IP
   * that already has `n` open is closed at accept. 0 removes the cap. Open connections stay.
   */
  setMaxClientsPerIp(n: number): void {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`max clients per IP must be a non-negative integer, got ${n}`);
    this.maxClientsPerIp = n;
  }

  /** Extension: what server.peers.subscribe answers from now on. */
  setPeers(list: unknown[]): void {
    this.peerList = list;
  }

  // ---------------------------------------------------------------- lifecycle

  private listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = net.createServer((socket) => this.accept(socket));
      server.once('error', reject);
      server.listen({ host: this.host, port: this.boundPort }, () => {
        server.off('error', reject);
        server.on('error', () => undefined);
        const addr = server.address();
        if (addr && typeof addr === 'object') this.boundPort = addr.port;
        this.server = server;
        resolve();
      });
    });
  }

  private accept(socket: net.Socket): void {
    if (this.maxClientsPerIp > 0) {
      let fromIp = 0;
      for (const s of this.sessions) if (s.remoteAddress === socket.remoteAddress) fromIp++;
      if (fromIp >= this.maxClientsPerIp) {
        this.refusedConnections++;
        socket.on('error', () => undefined);
        socket.destroy();
        return;
      }
    }
    this.totalConnections++;
    const session = new Session(this.hostApi, socket, (s) => this.sessions.delete(s));
    this.sessions.add(session);
  }

  /** Closes the listener and every connection. The chain is kept. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sessions) s.destroy();
    this.sessions.clear();
    this.costModel?.stop();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Stops (if running) and listens again on the same port with the same chain. */
  async restart(): Promise<void> {
    await this.stop();
    await this.listen();
  }

  private notifyAll(): void {
    const cache = new Map<string, string | null>();
    const statusOf = (sh: string): string | null => {
      if (!cache.has(sh)) cache.set(sh, statusHash(this.chain.history(sh)));
      return cache.get(sh)!;
    };
    for (const s of this.sessions) s.onChange(statusOf);
  }

  // ---------------------------------------------------------------- sim.* control methods

  private control(method: string, args: unknown[] | Record<string, unknown>): unknown {
    const a = Array.isArray(args) ? args : Object.values(args);
    const num = (v: unknown, name: string): number => {
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${method}: ${name} must be a number`);
      return v;
    };
    switch (method) {
      case 'sim.mine':
        return this.mine(a[0] === undefined ? 1 : num(a[0], 'n'));
      case 'sim.pay': {
        if (typeof a[0] !== 'string') throw new Error('sim.pay: address must be a string');
        return this.pay(a[0], num(a[1], 'sats'), { confirm: a[2] === true });
      }
      case 'sim.reorg':
        return this.reorg(num(a[0], 'depth'));
      case 'sim.setLatency':
        this.setLatency(num(a[0], 'ms'));
        return true;
      case 'sim.failMethod': {
        if (typeof a[0] !== 'string') throw new Error('sim.failMethod: method must be a string');
        const e = a[1] as { code?: unknown; message?: unknown } | null | undefined;
        if (e && (typeof e.code !== 'number' || typeof e.message !== 'string')) throw new Error('sim.failMethod: error must be {code, message} or null');
        this.failMethod(a[0], e ? { code: e.code as number, message: e.message as string } : null);
        return true;
      }
      case 'sim.dropMethod':
        if (typeof a[0] !== 'string') throw new Error('sim.dropMethod: method must be a string');
        this.dropMethod(a[0], a[1] !== false);
        return true;
      case 'sim.lie': {
        const k = a[0] ?? null;
        if (k !== null && k !== 'header' && k !== 'merkle' && k !== 'tx' && k !== 'deep-header' && k !== 'fork-header') throw new Error('sim.lie: kind must be header, merkle, tx, deep-header, fork-header or null');
        this.lie(k);
        return true;
      }
      case 'sim.addRawTransaction':
        if (typeof a[0] !== 'string') throw new Error('sim.addRawTransaction: raw hex must be a string');
        return this.addRawTransaction(a[0]);
      case 'sim.setPadding':
        this.setPadding(a[0] !== false);
        return true;
      case 'sim.setMaxClientsPerIp':
        this.setMaxClientsPerIp(num(a[0], 'n'));
        return true;
      case 'sim.tip':
        return { height: this.tipHeight(), hash: this.blockHash(this.tipHeight()) };
      case 'sim.stats':
        return this.stats;
      default:
        throw new Error(`unknown control method "${method}"`);
    }
  }
}

export type { LieKind } from './server.js';

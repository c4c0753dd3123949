// SPDX-License-Identifier: MIT
/**
 * A harness around the real Electrum wallet (Debian package `electrum`, 4.3.4) for the
 * end-to-end tests: one throw-away data directory per wallet, a deterministic regtest
 * wallet restored from a fixed seed, an `electrum daemon` pinned to exactly one server,
 * and reliable teardown (no stray python processes, no leftover directories).
 *
 * Two ways to talk to the daemon are offered:
 *  - cli(...)  runs the `electrum` command line exactly as a user would (~0.6-0.8 s per
 *              call, that is python start-up);
 *  - rpc(...)  posts the same command straight to the daemon's JSON-RPC server on its
 *              unix socket (what the CLI does internally, a few ms per call). The polling
 *              helpers use rpc() so that waiting is cheap; tests can use cli() for the
 *              final reads. See docs/testing.md for the CLI facts this relies on.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

/**
 * Test data, not a secret: a segwit (native p2wpkh, m/0'/...) Electrum seed made once with
 * `electrum --offline make_seed --seed_type segwit`. Its first receiving addresses on regtest
 * are bcrt1qvjzuz6fn60npt5wrluxzxymgazaf8husnws586, bcrt1qlzqapx2kxawj68589wxzvm8aykj2lcs4nqg7e4, ...
 */
export const TEST_SEED = 'use melt mirror minor call jealous smile scrub raccoon medal victory connect';

/** First receiving addresses of TEST_SEED on regtest (a cross-check of the restore). */
export const TEST_SEED_FIRST_ADDRESSES = [
  'bcrt1qvjzuz6fn60npt5wrluxzxymgazaf8husnws586',
  'bcrt1qlzqapx2kxawj68589wxzvm8aykj2lcs4nqg7e4',
  'bcrt1qen2c7jm85wramlvvhyrlnjf9jekxc27vvjmddr',
] as const;

export const ELECTRUM_BIN = process.env['ELECTRUM_BIN'] ?? 'electrum';

/** Whether the electrum executable can be found (tests skip with a reason when it is not). */
export function electrumAvailable(): boolean {
  if (ELECTRUM_BIN.includes('/')) return existsSync(ELECTRUM_BIN);
  const r = spawnSync('sh', ['-c', `command -v ${ELECTRUM_BIN}`], { stdio: 'ignore' });
  return r.status === 0;
}

export interface ServerAddress {
  host: string;
  port: number;
}

export interface ElectrumWalletOptions {
  /** The one server the daemon may use (plain TCP). */
  server: ServerAddress;
  /** Seed to restore (default TEST_SEED). */
  seed?: string;
  /** Keep the data directory after stop() (for debugging); also via ELECTRUM_KEEP_DIR=1. */
  keepDir?: boolean;
  /** Bound for each CLI invocation (default 60 s). */
  cliTimeoutMs?: number;
}

export interface WalletInfo {
  network: string;
  server: string;
  blockchain_height: number;
  server_height: number;
  connected: boolean;
  auto_connect: boolean;
  spv_nodes: number;
  version: string;
  [k: string]: unknown;
}

export interface Balance {
  /** confirmed balance in satoshis */
  confirmed: number;
  /** unconfirmed (mempool) balance in satoshis; 0 when electrum omits the field */
  unconfirmed: number;
  /** immature coinbase balance in satoshis */
  unmatured: number;
}

export interface HistoryItem {
  txid: string;
  /** block height, 0 (or -1 with unconfirmed parents) for mempool transactions */
  height: number;
  confirmations: number;
  /** value delta for the wallet, satoshis */
  valueSats: number;
  incoming: boolean;
  raw: Record<string, unknown>;
}

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** More diagnostics for the timeout error (e.g. the gateway's log tail). */
  describe?: () => string;
}

/** "0.00123" (BTC, as electrum prints amounts) -> 123000 satoshis, without floating point. */
export function btcToSats(value: unknown): number {
  if (value === undefined || value === null) return 0;
  const s = String(value).trim();
  const m = /^(-?)(\d+)(?:\.(\d{0,8}))?$/.exec(s);
  if (!m) throw new Error(`not a BTC amount: ${JSON.stringify(value)}`);
  const sats = Number(m[2]) * 100_000_000 + Number((m[3] ?? '').padEnd(8, '0'));
  return m[1] === '-' ? -sats : sats;
}

const LOG_LINES_KEPT = 5000;

/** Every live electrum process group we started, killed on process exit as a last resort. */
const liveGroups = new Set<number>();
let exitHookInstalled = false;
function trackGroup(pid: number): void {
  liveGroups.add(pid);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const p of liveGroups) killGroup(p, 'SIGKILL');
    });
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    /* already gone */
  }
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, timeoutMs);
    const onExit = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class ElectrumCliError extends Error {
  constructor(
    message: string,
    readonly args: string[],
    readonly code: number | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(message);
    this.name = 'ElectrumCliError';
  }
}

export class ElectrumWallet {
  /** electrum's -D directory; the regtest files live in `${dir}/regtest`. */
  readonly dir: string;
  readonly netDir: string;
  readonly walletPath: string;
  readonly server: ServerAddress;
  readonly seed: string;
  /** Receiving addresses of the restored wallet (the first gap-limit's worth: 20). */
  receivingAddresses: string[] = [];

  private readonly rpcUser = 'gateway-test';
  private readonly rpcPassword = randomBytes(12).toString('hex');
  private readonly keepDir: boolean;
  private readonly cliTimeoutMs: number;
  private daemon: ChildProcess | undefined;
  private daemonExit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly logLines: string[] = [];
  private logPartial = '';
  private rpcId = 0;
  private stopped = false;

  private constructor(dir: string, opts: ElectrumWalletOptions) {
    this.dir = dir;
    this.netDir = path.join(dir, 'regtest');
    this.walletPath = path.join(this.netDir, 'wallets', 'default_wallet');
    this.server = opts.server;
    this.seed = opts.seed ?? TEST_SEED;
    this.keepDir = opts.keepDir ?? process.env['ELECTRUM_KEEP_DIR'] === '1';
    this.cliTimeoutMs = opts.cliTimeoutMs ?? 60_000;
  }

  /**
   * Makes a fresh data dir, writes a config that pins electrum to the one server, restores
   * the seed offline and lists its receiving addresses. The daemon is not started yet (so a
   * test can fund addresses first); call startDaemon() + loadWallet(), or use open().
   */
  static async create(opts: ElectrumWalletOptions): Promise<ElectrumWallet> {
    // short path: the daemon's unix socket lives inside it (sun_path is limited to 107 bytes)
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ew-'));
    const w = new ElectrumWallet(dir, opts);
    try {
      await w.writeConfig();
      await w.cli(['restore', w.seed], { offline: true, wallet: true });
      const addrs = await w.cli(['listaddresses', '--receiving'], { offline: true, wallet: true });
      if (!Array.isArray(addrs) || addrs.length === 0 || !addrs.every((a) => typeof a === 'string')) {
        throw new Error(`listaddresses returned ${JSON.stringify(addrs)}`);
      }
      w.receivingAddresses = addrs as string[];
      return w;
    } catch (err) {
      await w.stop().catch(() => undefined);
      throw err;
    }
  }

  /** create() + startDaemon() + loadWallet(). */
  static async open(opts: ElectrumWalletOptions): Promise<ElectrumWallet> {
    const w = await ElectrumWallet.create(opts);
    try {
      await w.startDaemon();
      await w.loadWallet();
      return w;
    } catch (err) {
      await w.stop().catch(() => undefined);
      throw err;
    }
  }

  /**
   * The same JSON file `electrum --offline setconfig KEY VALUE` writes. oneserver/auto_connect
   * keep it on one server; known rpc credentials let rpc() talk to the daemon directly.
   */
  private async writeConfig(): Promise<void> {
    // electrum creates wallets/ itself only when it falls back to the default wallet path;
    // with an explicit -w it expects the directory to exist.
    await mkdir(path.dirname(this.walletPath), { recursive: true, mode: 0o700 });
    const config = {
      config_version: 3,
      auto_connect: false,
      oneserver: true,
      server: `${this.server.host}:${this.server.port}:t`,
      rpcuser: this.rpcUser,
      rpcpassword: this.rpcPassword,
      use_exchange_rate: false,
      check_updates: false,
      dont_show_testnet_warning: true,
    };
    await writeFile(path.join(this.netDir, 'config'), JSON.stringify(config, null, 4), { mode: 0o600 });
  }

  /**
   * Runs `electrum --regtest -D DIR [--offline] ARGS [-w WALLET]` and returns its output
   * parsed as JSON (electrum prints JSON for objects/arrays/booleans/numbers, and bare text
   * for strings, which is returned as a string). Non-zero exit throws ElectrumCliError.
   */
  async cli(args: string[], opts: { offline?: boolean; wallet?: boolean; timeoutMs?: number } = {}): Promise<unknown> {
    const full = ['--regtest', '-D', this.dir];
    if (opts.offline) full.push('--offline');
    full.push(...args);
    if (opts.wallet) full.push('-w', this.walletPath);
    const timeoutMs = opts.timeoutMs ?? this.cliTimeoutMs;
    const child = spawn(ELECTRUM_BIN, full, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    if (child.pid !== undefined) trackGroup(child.pid);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
    const finished = await Promise.race([waitExit(child, timeoutMs), spawnError]);
    if (child.pid !== undefined) {
      if (finished !== true) killGroup(child.pid, 'SIGKILL');
      liveGroups.delete(child.pid);
    }
    const shown = `electrum ${full.map((a) => (a === this.seed ? '<seed>' : a)).join(' ')}`;
    if (finished instanceof Error) {
      throw new ElectrumCliError(`${shown}: ${finished.message}`, full, null, stdout, stderr);
    }
    if (finished !== true) {
      throw new ElectrumCliError(`${shown}: timed out after ${timeoutMs} ms\n${stderr}${stdout}`, full, null, stdout, stderr);
    }
    if (child.exitCode !== 0) {
      throw new ElectrumCliError(
        `${shown}: exit ${child.exitCode ?? child.signalCode}\nstderr: ${stderr.trim()}\nstdout: ${stdout.trim()}`,
        full,
        child.exitCode,
        stdout,
        stderr,
      );
    }
    const text = stdout.trim();
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }

  /**
   * Starts `electrum --regtest -D DIR -v daemon --oneserver --server HOST:PORT:t` in the
   * foreground as a child in its own process group (not `-d`: a detached daemon's output
   * goes to /dev/null and its pid is not ours to wait on), captures its verbose log, and
   * waits until its JSON-RPC socket answers `ping`.
   */
  async startDaemon(opts: WaitOptions = {}): Promise<void> {
    if (this.daemon) throw new Error('daemon already started');
    const args = [
      '--regtest', '-D', this.dir, '-v', 'daemon',
      '--oneserver', '--server', `${this.server.host}:${this.server.port}:t`,
    ];
    const child = spawn(ELECTRUM_BIN, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.daemon = child;
    if (child.pid !== undefined) trackGroup(child.pid);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => this.addLog(d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => this.addLog(d));
    child.on('error', (err) => this.addLog(`[harness] spawn error: ${err.message}\n`));
    child.on('exit', (code, signal) => {
      this.daemonExit = { code, signal };
      if (child.pid !== undefined) liveGroups.delete(child.pid);
      this.addLog(`[harness] electrum daemon exited code=${code} signal=${signal}\n`);
    });
    await this.waitUntil('the electrum daemon to answer ping', () => this.rpc('ping', {}, 2000).catch(() => false), (v) => v === true, {
      timeoutMs: opts.timeoutMs ?? 30_000,
      intervalMs: opts.intervalMs ?? 100,
    });
  }

  /** `load_wallet -w WALLET` in the running daemon. */
  async loadWallet(): Promise<void> {
    const r = await this.rpc('load_wallet', { wallet_path: this.walletPath });
    if (r !== true) throw new Error(`load_wallet returned ${JSON.stringify(r)}\n${this.logTail()}`);
  }

  /**
   * One JSON-RPC call to the daemon over its unix socket (`${dir}/regtest/daemon_rpc_socket`,
   * HTTP POST /, basic auth from the config). Commands that take a wallet get
   * `{ wallet: walletPath }` added automatically when `withWallet` is true.
   */
  rpc(method: string, params: Record<string, unknown> = {}, timeoutMs = 15_000, withWallet = false): Promise<unknown> {
    const body = JSON.stringify({
      jsonrpc: '2.0',
      id: ++this.rpcId,
      method,
      params: withWallet ? { ...params, wallet: this.walletPath } : params,
    });
    const auth = Buffer.from(`${this.rpcUser}:${this.rpcPassword}`).toString('base64');
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          socketPath: path.join(this.netDir, 'daemon_rpc_socket'),
          path: '/',
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            authorization: `Basic ${auth}`,
          },
          timeout: timeoutMs,
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => {
            if (res.statusCode !== 200) {
              reject(new Error(`electrum rpc ${method}: HTTP ${res.statusCode}: ${text}`));
              return;
            }
            try {
              const msg = JSON.parse(text) as { result?: unknown; error?: { message?: string } };
              if (msg.error) reject(new Error(`electrum rpc ${method}: ${msg.error.message ?? JSON.stringify(msg.error)}`));
              else resolve(msg.result);
            } catch (err) {
              reject(new Error(`electrum rpc ${method}: bad response ${text}: ${String(err)}`));
            }
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`electrum rpc ${method}: timed out after ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  // --- typed reads (through the daemon's RPC; the same commands as the CLI) ---

  async getInfo(): Promise<WalletInfo> {
    return (await this.rpc('getinfo')) as WalletInfo;
  }

  async isSynchronized(): Promise<boolean> {
    return (await this.rpc('is_synchronized', {}, undefined, true)) === true;
  }

  async getBalance(via: 'rpc' | 'cli' = 'rpc'): Promise<Balance> {
    const raw = (via === 'cli'
      ? await this.cli(['getbalance'], { wallet: true })
      : await this.rpc('getbalance', {}, undefined, true)) as Record<string, unknown>;
    return {
      confirmed: btcToSats(raw['confirmed']),
      unconfirmed: btcToSats(raw['unconfirmed']),
      unmatured: btcToSats(raw['unmatured']),
    };
  }

  async onchainHistory(via: 'rpc' | 'cli' = 'rpc'): Promise<HistoryItem[]> {
    const raw = (via === 'cli'
      ? await this.cli(['onchain_history'], { wallet: true })
      : await this.rpc('onchain_history', {}, undefined, true)) as { transactions?: Record<string, unknown>[] };
    return (raw.transactions ?? []).map((t) => ({
      txid: String(t['txid']),
      height: Number(t['height']),
      confirmations: Number(t['confirmations']),
      valueSats: btcToSats(t['bc_value']),
      incoming: t['incoming'] === true,
      raw: t,
    }));
  }

  // --- waiting ---

  /**
   * Polls `probe` until `done(value)` holds; on timeout throws an error naming what was
   * awaited, the last value (or probe error) and the tail of the daemon log.
   */
  async waitUntil<T>(what: string, probe: () => Promise<T>, done: (v: T) => boolean, opts: WaitOptions = {}): Promise<T> {
    const timeoutMs = opts.timeoutMs ?? 45_000;
    const intervalMs = opts.intervalMs ?? 200;
    const deadline = Date.now() + timeoutMs;
    let last: string = '(never probed)';
    for (;;) {
      if (this.daemon && this.daemonExit) {
        throw new Error(`electrum daemon exited (${JSON.stringify(this.daemonExit)}) while waiting for ${what}; last: ${last}\n${this.logTail()}`);
      }
      try {
        const v = await probe();
        if (done(v)) return v;
        last = JSON.stringify(v);
      } catch (err) {
        last = `error: ${err instanceof Error ? err.message : String(err)}`;
      }
      if (Date.now() >= deadline) {
        const extra = opts.describe?.() ?? '';
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${last}\n${this.logTail()}${extra ? `\n${extra}` : ''}`);
      }
      await sleep(intervalMs);
    }
  }

  /** Until the daemon is connected and the wallet reports is_synchronized. */
  async waitSynchronized(opts: WaitOptions = {}): Promise<void> {
    await this.waitUntil('the wallet to be connected and synchronized', async () => {
      const info = await this.getInfo();
      return { connected: info.connected, height: info.blockchain_height, synchronized: await this.isSynchronized() };
    }, (s) => s.connected && s.synchronized, opts);
  }

  /** Until getinfo's blockchain_height (headers verified by the wallet) reaches `height`. */
  async waitBlockchainHeight(height: number, opts: WaitOptions = {}): Promise<WalletInfo> {
    return this.waitUntil(`blockchain_height ${height}`, () => this.getInfo(), (i) => i.blockchain_height === height, opts);
  }

  // --- logs and teardown ---

  private addLog(chunk: string): void {
    const text = this.logPartial + chunk;
    const parts = text.split('\n');
    this.logPartial = parts.pop() ?? '';
    for (const line of parts) this.logLines.push(line);
    if (this.logLines.length > LOG_LINES_KEPT) this.logLines.splice(0, this.logLines.length - LOG_LINES_KEPT);
  }

  /** The daemon's verbose log (what electrum printed with -v), all kept lines. */
  log(): string {
    return [...this.logLines, this.logPartial].filter((l) => l !== '').join('\n');
  }

  /**
   * Last `n` log lines, formatted for inclusion in assertion messages, preceded by the
   * distinct reasons electrum gave for dropping the server (if any), which a long tail of
   * reconnect noise would otherwise hide.
   */
  logTail(n = 60): string {
    const lines = [...this.logLines, this.logPartial].filter((l) => l !== '');
    const reasons = this.serverRejections();
    const head = reasons.length
      ? `--- electrum's complaints about the server (${reasons.length} distinct) ---\n${reasons.join('\n')}\n`
      : '';
    return `${head}--- electrum daemon log (last ${Math.min(n, lines.length)} of ${lines.length} lines, dir ${this.dir}) ---\n${lines.slice(-n).join('\n')}`;
  }

  /**
   * Distinct reasons, from the daemon log, why electrum disconnected from its server or
   * refused what it sent ("disconnecting due to ...", "Exception in ...",
   * MerkleRootMismatch, "server chain conflicts with checkpoints", ...), without timestamps.
   */
  serverRejections(): string[] {
    const re = /disconnecting due to|Exception in |MerkleRootMismatch|RequestCorrupted|verification failed|conflicts with checkpoints|status mismatch/;
    const seen = new Set<string>();
    for (const line of this.logLines) {
      if (!re.test(line)) continue;
      seen.add(line.replace(/^\s*[\d.]+ \| /, ''));
    }
    return [...seen].slice(0, 20);
  }

  /** Lines of the daemon log that match `re` (e.g. /interface|network/). */
  grepLog(re: RegExp): string[] {
    return this.logLines.filter((l) => re.test(l));
  }

  /**
   * Stops the daemon (`stop` command, then SIGTERM, then SIGKILL to its process group, each
   * bounded) and removes the data directory. Safe to call more than once and after failures.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const child = this.daemon;
    if (child && child.pid !== undefined && !exited(child)) {
      const stopped = await this.rpc('stop', {}, 10_000).then(() => true, () => false);
      let gone = stopped && (await waitExit(child, 10_000));
      if (!gone) {
        this.addLog('[harness] daemon did not stop by itself; SIGTERM to its process group\n');
        killGroup(child.pid, 'SIGTERM');
        gone = await waitExit(child, 5_000);
      }
      if (!gone) {
        this.addLog('[harness] SIGKILL to its process group\n');
        killGroup(child.pid, 'SIGKILL');
        await waitExit(child, 5_000);
      }
      // anything else left in the group (there should be nothing)
      killGroup(child.pid, 'SIGKILL');
      liveGroups.delete(child.pid);
    }
    if (!this.keepDir) await rm(this.dir, { recursive: true, force: true });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  /** The wallet file as JSON (handy when debugging what electrum stored). */
  async walletFile(): Promise<unknown> {
    return JSON.parse(await readFile(this.walletPath, 'utf8')) as unknown;
  }
}

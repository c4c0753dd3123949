// SPDX-License-Identifier: MIT
/**
 * Where an idle session's memory goes (issue 12 point 5; docs/limits.md,
 * "Memory per session"). Not part of `npm run bench`: a probe to run by hand.
 *
 *   node dist/bench/idle-probe.js [--target gateway|echo|bare] [--sessions 10000]
 *        [--warm] [--snapshots DIR] [--gateway-cli PATH]
 *
 * It starts the target as a child with dist/bench/idle-probe-hook.js preloaded
 * (the gateway on built-in defaults plus the bench's lifted session caps, in
 * front of the simulator; the echo floor, bench/baselines/echo.ts; or "bare",
 * a net.Server that reads the one line with a shared listener, answers it with
 * a constant and holds the socket: the least any Node server keeps), opens
 * 50 sessions and closes them (code warmed, the upstream connected), reads the
 * baseline, opens the sessions (each sends server.version, 1.4 or 1.6, reads
 * the answer and goes quiet), waits a second and reads again. It prints one
 * JSON line: per session, the RSS growth read at once (as the benchmark reads
 * it) and after forced GCs, and process.memoryUsage()'s heapUsed, heapTotal,
 * external and arrayBuffers.
 *
 * --warm first fills the young generation with garbage, so the baseline
 * already holds all of it: V8's young generation (up to 3 x 16 MB) is touched
 * page by page the first time the process allocates that much, which the
 * benchmark's idle figure counts against the sessions that happen to cause it.
 * --snapshots writes a heap snapshot before and after and prints self size and
 * object count per constructor, per session (writing a snapshot takes memory of
 * its own: read RSS from a run without). --gateway-cli runs another build
 * (another checkout's dist/src/cli/main.js) for a before/after comparison.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, rmSync, mkdtempSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ECHO_MAIN, GATEWAY_CLI, SIM_MAIN } from './paths.js';

const HERE = fileURLToPath(import.meta.url);
const HOOK = path.join(path.dirname(HERE), 'idle-probe-hook.js');
const REPLY = Buffer.from('{"jsonrpc":"2.0","id":1,"result":["bare","1.4"]}\n');

/** The "bare" target: runs in the child (this script with --serve-bare). */
function serveBare(): void {
  const sockets = new Set<net.Socket>();
  // Shared listeners, as the gateway's: `this` is the socket.
  function onData(this: net.Socket): void {
    this.write(REPLY);
  }
  function onClose(this: net.Socket): void {
    sockets.delete(this);
  }
  function onError(): void {}
  const server = net.createServer((s) => {
    sockets.add(s);
    s.setNoDelay(true);
    s.on('close', onClose);
    s.on('error', onError);
    s.on('data', onData);
  });
  server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: (server.address() as net.AddressInfo).port })));
}

interface Child {
  readonly proc: ChildProcess;
  readonly lines: string[];
  line<T>(pick: (l: string) => T | undefined): Promise<T>;
  ask(msg: Record<string, unknown>): Promise<Record<string, unknown>>;
}

function start(args: string[]): Child {
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  const lines: string[] = [];
  const rl = readline.createInterface({ input: proc.stdout! });
  rl.on('line', (l) => lines.push(l));
  return {
    proc,
    lines,
    line: (pick) =>
      new Promise((resolve, reject) => {
        const check = (): boolean => {
          for (const l of lines) {
            const v = pick(l);
            if (v !== undefined) {
              resolve(v);
              return true;
            }
          }
          return false;
        };
        if (check()) return;
        const on = (): void => void (check() && rl.off('line', on));
        rl.on('line', on);
        proc.once('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code}`)));
      }),
    ask: (msg) =>
      new Promise((resolve) => {
        const on = (m: Record<string, unknown>): void => {
          if (m.probe !== msg.probe) return;
          proc.off('message', on);
          resolve(m);
        };
        proc.on('message', on);
        proc.send(msg);
      }),
  };
}

function portLine(l: string): number | undefined {
  try {
    const v = JSON.parse(l) as { port?: unknown; level?: unknown };
    return typeof v.port === 'number' && v.level === undefined ? v.port : undefined;
  } catch {
    return undefined;
  }
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

async function accepting(port: number): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), r(true)));
      s.once('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing accepts on ${port}`);
}

/** One session: connect, server.version, its answer; then it stays open and says nothing. */
function openSession(port: number, i: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('error', reject);
    s.once('connect', () => {
      const v = i % 2 === 0 ? '1.4' : '1.6';
      const range = i % 4 < 2 ? `"${v}"` : `["1.4","${v}"]`;
      s.write(`{"jsonrpc":"2.0","id":1,"method":"server.version","params":["probe/${i % 7}",${range}]}\n`);
      let got = '';
      const onData = (d: Buffer): void => {
        got += d.toString();
        if (!got.includes('\n')) return;
        s.off('data', onData);
        if (got.includes('"result"')) resolve(s);
        else reject(new Error(`server.version refused: ${got.trim()}`));
      };
      s.on('data', onData);
    });
  });
}

/** Self size and count per constructor (or node type) in a heap snapshot. */
function constructors(file: string): Map<string, [number, number]> {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const [iType, iName, iSize] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f)) as [number, number, number];
  const out = new Map<string, [number, number]>();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + iType]!]!;
    const name = snap.strings[snap.nodes[i + iName]!]!;
    const key = type === 'object' || type === 'closure' || type === 'native' ? `${type} ${name}` : type === 'hidden' || type === 'array' ? `${type} ${name.slice(0, 40)}` : `(${type})`;
    const e = out.get(key) ?? [0, 0];
    e[0]++;
    e[1] += snap.nodes[i + iSize]!;
    out.set(key, e);
  }
  return out;
}

function perConstructor(before: string, after: string, n: number): { total: number; rows: [string, number, number][] } {
  const a = constructors(before);
  const b = constructors(after);
  const rows: [string, number, number][] = [];
  for (const k of new Set([...a.keys(), ...b.keys()])) {
    const [c0, s0] = a.get(k) ?? [0, 0];
    const [c1, s1] = b.get(k) ?? [0, 0];
    rows.push([k, Math.round(((s1 - s0) / n) * 10) / 10, Math.round(((c1 - c0) / n) * 100) / 100]);
  }
  rows.sort((x, y) => y[1] - x[1]);
  return { total: Math.round(rows.reduce((t, r) => t + r[1], 0)), rows: rows.filter((r) => Math.abs(r[1]) >= 4) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      target: { type: 'string', default: 'gateway' },
      sessions: { type: 'string', default: '10000' },
      warm: { type: 'boolean', default: false },
      snapshots: { type: 'string' },
      'gateway-cli': { type: 'string', default: GATEWAY_CLI },
      'serve-bare': { type: 'boolean', default: false },
    },
  });
  if (values['serve-bare']) {
    serveBare();
    return;
  }
  const target = values.target!;
  const n = Number(values.sessions);
  const nodeArgs = ['--expose-gc', '--import', HOOK];
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'idle-probe-'));
  let sim: Child | null = null;
  let t: Child;
  let port: number;
  if (target === 'gateway') {
    sim = start([SIM_MAIN, '--port', '0', '--blocks', '300']);
    const simPort = await sim.line(portLine);
    port = await freePort();
    const file = path.join(tmp, 'gateway.yaml');
    // The bench's settings (bench/targets.ts): every client is 127.0.0.1, so the caps are lifted.
    writeFileSync(
      file,
      ['network: regtest', 'listen:', `  - tcp://127.0.0.1:${port}`, 'upstreams:', `  - tcp://127.0.0.1:${simPort}`, 'admin: null', 'redis: null', 'logging:', '  level: info', 'limits:', '  max_sessions: 1000000', '  max_sessions_per_group: 1000000', 'cost:', '  hard_limit: 0', ''].join('\n'),
    );
    t = start([...nodeArgs, values['gateway-cli']!, 'serve', '--config', file]);
    await accepting(port);
  } else if (target === 'echo' || target === 'bare') {
    t = start([...nodeArgs, ...(target === 'echo' ? [ECHO_MAIN, '--port', '0'] : [HERE, '--serve-bare'])]);
    port = await t.line(portLine);
  } else {
    throw new Error(`--target: gateway, echo or bare, not ${target}`);
  }
  for (let i = 0; i < 50; i++) (await openSession(port, i)).destroy();
  if (values.warm) await t.ask({ probe: 'churn' });
  await new Promise((r) => setTimeout(r, 1500));
  const snapDir = values.snapshots;
  if (snapDir) mkdirSync(snapDir, { recursive: true });
  const before = (await t.ask({ probe: 'mem' })) as Record<string, number>;
  if (snapDir) await t.ask({ probe: 'snap', path: path.join(snapDir, `${target}-before.heapsnapshot`) });
  const open: net.Socket[] = [];
  let next = 0;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: 128 }, async () => {
      while (next < n) open.push(await openSession(port, next++));
    }),
  );
  const openMs = Date.now() - started;
  await new Promise((r) => setTimeout(r, 1000));
  const rssAtOnce = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${t.proc.pid}/status`, 'utf8'))?.[1] ?? 0);
  const after = (await t.ask({ probe: 'mem' })) as Record<string, number>;
  if (snapDir) await t.ask({ probe: 'snap', path: path.join(snapDir, `${target}-after.heapsnapshot`) });
  for (const s of open) s.destroy();
  t.proc.kill('SIGTERM');
  sim?.proc.kill('SIGTERM');
  rmSync(tmp, { recursive: true, force: true });
  const per = (k: string, div = 1): number => Math.round(((after[k]! - before[k]!) / n / div) * 1000) / 1000;
  const result = {
    target,
    sessions: n,
    warm: values.warm,
    openMs,
    rssBeforeKb: before.vmRssKb,
    rssKbPerSessionAtOnce: Math.round(((rssAtOnce - before.vmRssKb!) / n) * 1000) / 1000,
    rssKbPerSessionAfterGc: per('vmRssKb'),
    heapUsedBytesPerSession: per('heapUsed'),
    heapTotalBytesPerSession: per('heapTotal'),
    externalBytesPerSession: per('external'),
    arrayBuffersBytesPerSession: per('arrayBuffers'),
  };
  console.log(JSON.stringify(result));
  if (snapDir) {
    const { total, rows } = perConstructor(path.join(snapDir, `${target}-before.heapsnapshot`), path.join(snapDir, `${target}-after.heapsnapshot`), n);
    console.log(`heap snapshot, self size per session: ${total} B (native objects Node reports with the heap included)`);
    for (const [k, bytes, count] of rows) console.log(`${String(bytes).padStart(8)} B ${String(count).padStart(6)}  ${k}`);
  }
}

await main();

// SPDX-License-Identifier: MIT
/**
 * The dashboards and alert rules against the real thing: Prometheus (Debian
 * package prometheus) scrapes a live gateway (a simulator upstream, a real
 * redis-server) every second while a little wallet traffic runs, and:
 *
 *  - `promtool check rules` and `promtool check config` pass;
 *  - EVERY panel query of every dashboard in grafana/dashboards (read from the
 *    JSON, Grafana's $__rate_interval / $instance substituted) returns data
 *    through Prometheus's HTTP API: a panel with no data is a broken panel;
 *  - every template variable's label_values() finds series;
 *  - EVERY alert expression of grafana/alerts (read from the YAML) is valid
 *    PromQL as written, every series selector inside it returns data, and
 *    Prometheus itself evaluates each rule with health "ok". (The alerts'
 *    thresholds are for an instance in trouble, so the full expressions are
 *    rightly empty here; what can break silently is a name or a label, which
 *    the selector check catches.)
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { REPO_ROOT } from '../helpers/gateway-process.js';
import { httpGet, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { freePort, LOOPBACK } from '../helpers/ports.js';
import { RedisServer } from '../helpers/redis.js';
import { RpcClient } from '../helpers/rpc-client.js';
import { testP2wpkh } from '../helpers/wallet-session.js';
import { Simulator } from '../sim/index.js';

const DASHBOARDS = path.join(REPO_ROOT, 'grafana', 'dashboards');
const ALERTS = path.join(REPO_ROOT, 'grafana', 'alerts');
/** Grafana's variables as it would expand them with a 1 s scrape interval and "All" instances. */
const GRAFANA_VARIABLES: Record<string, string> = {
  __rate_interval: '5s',
  __interval: '1s',
  __range: '1m',
  instance: '.*',
};

interface PanelQuery {
  readonly where: string;
  readonly expr: string;
}

interface Panel {
  title?: string;
  targets?: { expr?: string }[];
  panels?: Panel[];
}

/** Every target expression of every panel (rows' nested panels included), as Grafana would send it. */
function panelQueries(): PanelQuery[] {
  const out: PanelQuery[] = [];
  for (const file of readdirSync(DASHBOARDS).filter((f) => f.endsWith('.json'))) {
    const dashboard = JSON.parse(readFileSync(path.join(DASHBOARDS, file), 'utf8')) as { panels: Panel[] };
    const walk = (panels: readonly Panel[]): void => {
      for (const p of panels) {
        for (const t of p.targets ?? []) if (t.expr) out.push({ where: `${file}: ${p.title}`, expr: substitute(t.expr) });
        walk(p.panels ?? []);
      }
    };
    walk(dashboard.panels);
  }
  return out;
}

/** The label_values(metric, label) queries of every dashboard's template variables. */
function variableQueries(): { where: string; metric: string; label: string }[] {
  const out: { where: string; metric: string; label: string }[] = [];
  for (const file of readdirSync(DASHBOARDS).filter((f) => f.endsWith('.json'))) {
    const dashboard = JSON.parse(readFileSync(path.join(DASHBOARDS, file), 'utf8')) as {
      templating: { list: { name: string; type: string; query?: { query?: string } | string }[] };
    };
    for (const v of dashboard.templating.list) {
      if (v.type !== 'query') continue;
      const q = typeof v.query === 'string' ? v.query : (v.query?.query ?? '');
      const m = /^label_values\((\w+),\s*(\w+)\)$/.exec(q);
      assert.ok(m, `${file}: variable ${v.name} uses label_values(metric, label), got ${q}`);
      out.push({ where: `${file}: $${v.name}`, metric: m[1]!, label: m[2]! });
    }
  }
  return out;
}

function substitute(expr: string): string {
  return expr.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, braced?: string, bare?: string) => {
    const name = braced ?? bare!;
    const value = GRAFANA_VARIABLES[name];
    if (value === undefined) throw new Error(`unknown Grafana variable ${whole} in ${expr}`);
    return value;
  });
}

interface AlertRule {
  readonly alert: string;
  readonly expr: string;
}

function alertRules(): { files: string[]; rules: AlertRule[] } {
  const files = readdirSync(ALERTS)
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => path.join(ALERTS, f));
  const rules: AlertRule[] = [];
  for (const file of files) {
    const doc = parseYaml(readFileSync(file, 'utf8')) as { groups: { rules: AlertRule[] }[] };
    for (const g of doc.groups) rules.push(...g.rules.filter((r) => typeof r.alert === 'string'));
  }
  return { files, rules };
}

/** The series selectors inside a PromQL expression: metric names with their label matchers. */
function selectors(expr: string): string[] {
  return [...new Set([...expr.matchAll(/electrum_gateway_[a-z0-9_]+(?:\{[^}]*\})?/g)].map((m) => m[0]))];
}

interface PromResult {
  status: string;
  error?: string;
  data?: { resultType: string; result: unknown[] };
}

describe('Prometheus scraping a live gateway: every panel and alert query', () => {
  let sim: Simulator;
  let redis: RedisServer;
  let gw: TestGateway;
  let prometheus: ChildProcess;
  let promPort: number;
  let promLog = '';
  let dir: string;
  let traffic: Promise<void> | null = null;
  let stopTraffic = false;
  const clients: RpcClient[] = [];

  const query = async (expr: string): Promise<PromResult> => {
    const reply = await httpGet(LOOPBACK, promPort, `/api/v1/query?query=${encodeURIComponent(expr)}`);
    return JSON.parse(reply.body) as PromResult;
  };

  before(async () => {
    sim = await Simulator.start();
    // A server-side failure for the error-ratio alert: the gateway answers -32603 once its deadline is spent.
    sim.failMethod('blockchain.scripthash.get_balance', { code: -32603, message: 'daemon unavailable' });
    redis = await RedisServer.start();
    gw = await startTestGateway({ upstreams: [sim], admin: true, requestTimeoutMs: 1_000, tweak: (c) => ({ ...c, redis: redis.url }) });
    const status = await gw.status();
    const admin = gw.gateway.admin!;
    assert.ok(status.upstreams.length === 1);

    dir = mkdtempSync(path.join(tmpdir(), 'eg-prometheus-'));
    const configFile = path.join(dir, 'prometheus.yml');
    writeFileSync(
      configFile,
      [
        'global:',
        '  scrape_interval: 1s',
        '  evaluation_interval: 1s',
        'rule_files:',
        ...alertRules().files.map((f) => `  - ${JSON.stringify(f)}`),
        'scrape_configs:',
        '  - job_name: electrum-gateway',
        '    static_configs:',
        `      - targets: ["${LOOPBACK}:${admin.port}"]`,
        '',
      ].join('\n'),
    );
    const check = spawnSync('promtool', ['check', 'config', configFile], { encoding: 'utf8' });
    assert.equal(check.status, 0, `promtool check config: ${check.stdout}${check.stderr}`);

    promPort = await freePort();
    prometheus = spawn(
      'prometheus',
      [`--config.file=${configFile}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=${LOOPBACK}:${promPort}`, '--log.level=warn'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    prometheus.stdout!.on('data', (d: Buffer) => (promLog += d.toString()));
    prometheus.stderr!.on('data', (d: Buffer) => (promLog += d.toString()));
    await RpcClient.until(
      async () => (await httpGet(LOOPBACK, promPort, '/-/ready').catch(() => ({ status: 0 }))).status === 200,
      `Prometheus to be ready (log: ${promLog.slice(-500)})`,
      30_000,
      100,
    );

    // A little wallet traffic, kept up for the whole test so every rate window has some.
    const watcher = await RpcClient.connect(gw.port, gw.host);
    clients.push(watcher);
    await watcher.request('server.version', ['prometheus-test', '1.4']);
    await watcher.request('blockchain.headers.subscribe');
    const wallet = testP2wpkh('prometheus-test', 'watched');
    await watcher.request('blockchain.scripthash.subscribe', [wallet.scripthash]);
    const client = await RpcClient.connect(gw.port, gw.host);
    clients.push(client);
    await client.request('server.version', ['prometheus-test', '1.4']);
    const coinbase = sim.blockTxids(1)[0]!;
    traffic = (async () => {
      let height = 0;
      for (let round = 0; !stopTraffic; round++) {
        const asks: Promise<unknown>[] = [
          client.request('server.ping'),
          client.request('blockchain.block.header', [height % 100]), // new heights miss, repeats hit
          client.request('blockchain.block.header', [1]),
          client.request('blockchain.transaction.get', [coinbase]),
          ...(round % 3 === 0 ? [client.request('blockchain.scripthash.get_balance', [wallet.scripthash])] : []), // the simulator fails it
          client.request('no.such.method'), // a wallet's mistake
        ];
        height += 3;
        await Promise.allSettled(asks);
        if (round % 10 === 5) {
          sim.pay(wallet.address, 10_000 + round, { confirm: true }); // a block and a status change: both kinds of notification
        }
        await new Promise((r) => setTimeout(r, 150));
      }
    })();
  });

  after(async () => {
    stopTraffic = true;
    await traffic;
    await Promise.all(clients.map((c) => c.close()));
    if (prometheus && prometheus.exitCode === null) {
      const exited = new Promise((r) => prometheus.once('exit', r));
      prometheus.kill('SIGTERM');
      await exited;
    }
    await gw?.close();
    await redis?.stop();
    await sim?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('promtool check rules passes on every rules file', () => {
    const { files, rules } = alertRules();
    assert.ok(files.length > 0 && rules.length >= 6, `rules files ${files.join(', ')} with ${rules.length} alerts`);
    const r = spawnSync('promtool', ['check', 'rules', ...files], { encoding: 'utf8' });
    assert.equal(r.status, 0, `promtool check rules: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout, new RegExp(`SUCCESS: ${rules.length} rules found`));
  });

  it('every panel query returns data', async () => {
    const queries = panelQueries();
    assert.ok(queries.length >= 30, `found ${queries.length} panel queries`);
    // Scrapes arrive every second; a rate needs two inside its window. Wait until all have data.
    let empty: string[] = [];
    await RpcClient.until(
      async () => {
        empty = [];
        for (const q of queries) {
          const r = await query(q.expr);
          assert.equal(r.status, 'success', `${q.where}: ${q.expr}: ${r.error}`);
          if ((r.data?.result.length ?? 0) === 0) empty.push(`${q.where}: ${q.expr}`);
        }
        return empty.length === 0;
      },
      'every panel query to return data',
      60_000,
      500,
    ).catch((err: Error) => assert.fail(`${err.message}; still empty:\n${empty.join('\n')}`));
  });

  it("every dashboard variable's label_values() finds the gateway", async () => {
    for (const v of variableQueries()) {
      const reply = await httpGet(LOOPBACK, promPort, `/api/v1/label/${v.label}/values?match[]=${encodeURIComponent(v.metric)}`);
      const body = JSON.parse(reply.body) as { status: string; data: string[] };
      assert.equal(body.status, 'success', `${v.where}: ${reply.body}`);
      assert.ok(body.data.length > 0, `${v.where}: no ${v.label} values for ${v.metric}`);
    }
  });

  it('every alert expression is valid, its series exist, and Prometheus evaluates the rule cleanly', async () => {
    const { rules } = alertRules();
    for (const rule of rules) {
      const whole = await query(rule.expr);
      assert.equal(whole.status, 'success', `${rule.alert}: ${rule.expr}: ${whole.error}`);
      for (const selector of selectors(rule.expr)) {
        await RpcClient.until(
          async () => ((await query(selector)).data?.result.length ?? 0) > 0,
          `${rule.alert}: series ${selector}`,
          30_000,
          500,
        );
      }
    }
    let loaded: { name: string; health: string; lastError?: string; lastEvaluation: string }[] = [];
    await RpcClient.until(
      async () => {
        const reply = await httpGet(LOOPBACK, promPort, '/api/v1/rules?type=alert');
        const body = JSON.parse(reply.body) as { data: { groups: { rules: typeof loaded }[] } };
        loaded = body.data.groups.flatMap((g) => g.rules);
        return loaded.length === rules.length && loaded.every((r) => !r.lastEvaluation.startsWith('0001-'));
      },
      'Prometheus to evaluate every rule once',
      30_000,
      200,
    );
    for (const r of loaded) assert.equal(r.health, 'ok', `${r.name}: ${r.lastError ?? ''}`);
    assert.deepEqual(loaded.map((r) => r.name).sort(), rules.map((r) => r.alert).sort());
  });
});

// SPDX-License-Identifier: MIT
/**
 * deploy/ checked as far as this machine can without Docker or a cluster:
 *
 *  - every Kubernetes manifest parses and validates against the Kubernetes
 *    OpenAPI schemas (kubernetes-models, whose validators are generated from
 *    them; ServiceMonitor from the prometheus-operator CRD schema via
 *    @kubernetes-models/prometheus-operator), and a broken copy is refused;
 *  - ports, probes, the PROXY-protocol annotation and the shutdown timing agree
 *    with the proxy.yaml the ConfigMap carries, which check-config accepts;
 *  - docker-compose.yml names the four services with ports and mounts
 *    consistent with deploy/proxy.yaml and grafana/;
 *  - the Dockerfile's runtime RUN steps run as a shell script in a temporary
 *    root (a packed build, npm ci --omit=dev), and its CMD then answers
 *    /healthz, as does its HEALTHCHECK command.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { ConfigMap, Service } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { loadConfig } from '../../src/config/load.js';
import type { GatewayConfig } from '../../src/config/types.js';
import { REPO_ROOT } from '../helpers/gateway-process.js';
import { httpGet } from '../helpers/gateway.js';
import { freePort, LOOPBACK } from '../helpers/ports.js';
import { RpcClient } from '../helpers/rpc-client.js';
import { selfSignedCertificate } from '../helpers/tls.js';
import { Simulator } from '../sim/index.js';

const DEPLOY = path.join(REPO_ROOT, 'deploy');
const K8S = path.join(DEPLOY, 'kubernetes');
/** Beyond preStop + drain + grace: the close itself and the exit. */
const SHUTDOWN_MARGIN_S = 5;

type Manifest = { apiVersion: string; kind: string; metadata: { name: string }; [k: string]: unknown };
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
};

function manifests(): Manifest[] {
  const out: Manifest[] = [];
  for (const file of readdirSync(K8S).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')) {
    for (const doc of parseAllDocuments(readFileSync(path.join(K8S, file), 'utf8'))) {
      assert.equal(doc.errors.length, 0, `${file}: ${doc.errors.join('; ')}`);
      out.push(doc.toJS() as Manifest);
    }
  }
  return out;
}

function validate(m: Manifest): void {
  const Model = MODELS[`${m.apiVersion}/${m.kind}`];
  assert.ok(Model, `no schema for ${m.apiVersion} ${m.kind}`);
  new Model(m as never).validate();
}

const one = (kind: string, name?: string): Manifest => {
  const found = manifests().filter((m) => m.kind === kind && (name === undefined || m.metadata.name === name));
  assert.equal(found.length, 1, `one ${kind} ${name ?? ''}`);
  return found[0]!;
};

const tmpDirs: string[] = [];
function tempDir(tag: string): string {
  const d = mkdtempSync(path.join(tmpdir(), `eg-deploy-${tag}-`));
  tmpDirs.push(d);
  return d;
}
after(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

/** Where the deploy files mount the admin token (a Secret in Kubernetes, a bind-mounted file in compose). */
const ADMIN_TOKEN_FILE = '/etc/electrum-gateway/admin/token';
const TEST_ADMIN_TOKEN = 'deploy-test-token-0123456789abcdef';

/** A proxy.yaml text loaded as check-config would, its TLS and token files pointed at real test files. */
function checkConfigText(text: string, what: string): GatewayConfig {
  const dir = tempDir('config');
  const cert = selfSignedCertificate();
  tmpDirs.push(cert.dir);
  const file = path.join(dir, 'proxy.yaml');
  const tokenFile = path.join(dir, 'admin-token');
  writeFileSync(tokenFile, `${TEST_ADMIN_TOKEN}\n`);
  writeFileSync(
    file,
    text
      .replaceAll('/etc/electrum-gateway/tls/tls.crt', cert.certFile)
      .replaceAll('/etc/electrum-gateway/tls/tls.key', cert.keyFile)
      .replaceAll(ADMIN_TOKEN_FILE, tokenFile),
  );
  const loaded = loadConfig({ file });
  assert.ok(loaded.ok, `${what}: ${loaded.ok ? '' : JSON.stringify(loaded.problems)}`);
  return loaded.config;
}

describe('deploy/kubernetes', () => {
  it('every manifest validates against the Kubernetes OpenAPI schemas', () => {
    const all = manifests();
    assert.deepEqual(
      [...new Set(all.map((m) => m.kind))].sort(),
      ['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Service', 'ServiceMonitor'],
    );
    for (const m of all) validate(m);
    const kustomization = parseYaml(readFileSync(path.join(K8S, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
    assert.deepEqual(kustomization.resources.sort(), readdirSync(K8S).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort());
  });

  it('the validator refuses broken manifests (a port that is not a number, maxUnavailable an object)', () => {
    const broken = structuredClone(one('Deployment')) as Manifest & { spec: { template: { spec: { containers: { ports: { containerPort: unknown }[] }[] } } } };
    broken.spec.template.spec.containers[0]!.ports[0]!.containerPort = 'fifty';
    assert.throws(() => validate(broken));
    const noSelector = structuredClone(one('PodDisruptionBudget')) as Manifest & { spec: Record<string, unknown> };
    noSelector.spec.maxUnavailable = { not: 'an int or string' };
    assert.throws(() => validate(noSelector));
  });

  it('ports, probes, PROXY protocol and shutdown timing agree with the ConfigMap\'s proxy.yaml', () => {
    const cm = one('ConfigMap') as Manifest & { data: Record<string, string> };
    const config = checkConfigText(cm.data['proxy.yaml']!, 'configmap.yaml proxy.yaml');
    const deployment = one('Deployment') as Manifest & { spec: { template: { spec: Record<string, any> } } };
    const pod = deployment.spec.template.spec;
    const container = pod.containers[0];
    const portByName = new Map<string, number>(container.ports.map((p: { name: string; containerPort: number }) => [p.name, p.containerPort]));
    // Every listener has a container port, and the admin port is the admin listener's.
    assert.deepEqual(config.listen.map((l) => l.port).sort(), [...portByName.entries()].filter(([n]) => n !== 'admin').map(([, p]) => p).sort());
    assert.equal(portByName.get('admin'), config.admin?.port);
    assert.equal(config.admin?.host, '0.0.0.0', 'the admin listener is reachable by the kubelet and Prometheus');
    assert.equal(config.adminToken, TEST_ADMIN_TOKEN, 'beyond loopback the admin token is read from the mounted Secret');
    assert.deepEqual([container.readinessProbe.httpGet.path, container.livenessProbe.httpGet.path], ['/readyz', '/healthz']);
    assert.equal(container.readinessProbe.httpGet.port, 'admin');
    // The admin token comes from one Secret, for the pod and for Prometheus alike.
    const tokenMount = container.volumeMounts.find((v: { mountPath: string }) => v.mountPath === path.dirname(ADMIN_TOKEN_FILE));
    const tokenVolume = deployment.spec.template.spec.volumes.find((v: { name: string }) => v.name === tokenMount?.name);
    const monitorAuth = (one('ServiceMonitor', 'electrum-gateway') as Manifest & { spec: { endpoints: { authorization?: { credentials?: { name: string; key: string } } }[] } }).spec.endpoints[0]!.authorization?.credentials;
    assert.equal(tokenVolume?.secret?.secretName, monitorAuth?.name, 'the pod and Prometheus read the token from one Secret');
    assert.equal(monitorAuth?.key, path.basename(ADMIN_TOKEN_FILE));
    // The config lands where the image's CMD reads it.
    const mount = container.volumeMounts.find((v: { name: string }) => v.name === 'config');
    assert.equal(mount.mountPath, '/etc/electrum-gateway/proxy.yaml');
    // The wallet Service exposes 50001 and 50002 onto the named listener ports.
    const service = one('Service', 'electrum-gateway') as Manifest & { metadata: { annotations: Record<string, string> }; spec: { ports: { port: number; targetPort: string }[] } };
    assert.deepEqual(service.spec.ports.map((p) => p.port).sort(), [50001, 50002]);
    for (const p of service.spec.ports) assert.ok(portByName.has(p.targetPort), `Service targets ${p.targetPort}`);
    // A balancer asked for the PROXY protocol means every listener expects it.
    if (Object.keys(service.metadata.annotations).some((a) => /proxy-protocol/.test(a))) {
      for (const l of config.listen) assert.ok(['1', 'true', 'yes', ''].includes((l.options ?? {}).proxy_protocol ?? 'no'), `${l.url} expects the PROXY header`);
    }
    // The ServiceMonitor finds the admin Service by its labels and port name.
    const admin = one('Service', 'electrum-gateway-admin') as Manifest & { metadata: { labels: Record<string, string> }; spec: { ports: { name: string }[] } };
    const monitor = one('ServiceMonitor') as Manifest & { spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string; path: string }[] } };
    for (const [k, v] of Object.entries(monitor.spec.selector.matchLabels)) assert.equal(admin.metadata.labels[k], v);
    assert.ok(admin.spec.ports.some((p) => p.name === monitor.spec.endpoints[0]!.port));
    assert.equal(monitor.spec.endpoints[0]!.path, '/metrics');
    // Kubernetes waits long enough: preStop pause, then drain, then the in-flight grace.
    const preStop: string[] = container.lifecycle.preStop.exec.command;
    assert.equal(preStop[0], 'sleep');
    const preStopS = Number(preStop[1]);
    // drain_ms as the ConfigMap's proxy.yaml sets it (or its default).
    const drainMs = config.drainMs;
    const needed = preStopS + drainMs / 1000 + config.shutdownGraceMs / 1000 + SHUTDOWN_MARGIN_S;
    assert.ok(pod.terminationGracePeriodSeconds >= needed, `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} >= ${needed}`);
    assert.ok(pod.terminationGracePeriodSeconds <= needed + 30, 'and not so long that a stuck pod lingers');
    // The PodDisruptionBudget and the autoscaler point at this Deployment's pods.
    const pdb = one('PodDisruptionBudget') as Manifest & { spec: { selector: { matchLabels: Record<string, string> } } };
    assert.deepEqual(pdb.spec.selector.matchLabels, (deployment.spec as any).selector.matchLabels);
    const hpa = one('HorizontalPodAutoscaler') as Manifest & { spec: { scaleTargetRef: { kind: string; name: string }; minReplicas: number } };
    assert.deepEqual([hpa.spec.scaleTargetRef.kind, hpa.spec.scaleTargetRef.name], ['Deployment', deployment.metadata.name]);
    assert.ok(hpa.spec.minReplicas >= 2, 'the PodDisruptionBudget can always let one pod go');
  });
});

describe('deploy/docker-compose.yml', () => {
  it('names gateway, redis, prometheus and grafana consistently with deploy/proxy.yaml and grafana/', () => {
    const compose = parseYaml(readFileSync(path.join(DEPLOY, 'docker-compose.yml'), 'utf8')) as { services: Record<string, any> };
    assert.deepEqual(Object.keys(compose.services).sort(), ['gateway', 'grafana', 'prometheus', 'redis']);
    const config = checkConfigText(readFileSync(path.join(DEPLOY, 'proxy.yaml'), 'utf8'), 'deploy/proxy.yaml');
    const gateway = compose.services.gateway;
    const published = (gateway.ports as string[]).map((p) => p.split(':').map(Number));
    assert.deepEqual(published.map(([, inner]) => inner).sort(), config.listen.map((l) => l.port).sort(), 'every listener is published');
    assert.ok(gateway.volumes.includes('./proxy.yaml:/etc/electrum-gateway/proxy.yaml:ro'));
    assert.ok(gateway.volumes.includes(`./admin-token:${ADMIN_TOKEN_FILE}:ro`), 'the token file proxy.yaml names is mounted');
    const promAuth = (parseYaml(readFileSync(path.join(DEPLOY, 'prometheus.yml'), 'utf8')) as { scrape_configs: { authorization?: { credentials_file?: string } }[] })
      .scrape_configs[0]!.authorization?.credentials_file;
    assert.ok(promAuth !== undefined && (compose.services.prometheus.volumes as string[]).includes(`./admin-token:${promAuth}:ro`), 'Prometheus sends the same token');
    assert.equal(gateway.build.dockerfile, 'deploy/Dockerfile');
    assert.ok(gateway.stop_grace_period && parseInt(gateway.stop_grace_period, 10) * 1000 > config.shutdownGraceMs);
    // The config's Redis is the compose redis service.
    assert.equal(new URL(config.redis!).hostname, 'redis');
    assert.match(compose.services.redis.image, /^redis:/);
    // Prometheus scrapes the gateway's admin port and loads grafana/alerts.
    const prom = parseYaml(readFileSync(path.join(DEPLOY, 'prometheus.yml'), 'utf8')) as { rule_files: string[]; scrape_configs: { static_configs: { targets: string[] }[] }[] };
    assert.deepEqual(prom.scrape_configs[0]!.static_configs[0]!.targets, [`gateway:${config.admin!.port}`]);
    const promVolumes: string[] = compose.services.prometheus.volumes;
    assert.ok(promVolumes.includes('./prometheus.yml:/etc/prometheus/prometheus.yml:ro'));
    const rules = promVolumes.find((v) => v.startsWith('../grafana/alerts:'))!;
    assert.ok(rules && prom.rule_files[0]!.startsWith(rules.split(':')[1]!));
    // Grafana gets the provisioning folder and the dashboards where the provider reads them.
    const provider = parseYaml(readFileSync(path.join(REPO_ROOT, 'grafana', 'provisioning', 'dashboards', 'electrum-gateway.yml'), 'utf8')) as { providers: { options: { path: string } }[] };
    const grafanaVolumes: string[] = compose.services.grafana.volumes;
    assert.ok(grafanaVolumes.includes('../grafana/provisioning:/etc/grafana/provisioning:ro'));
    assert.ok(grafanaVolumes.includes(`../grafana/dashboards:${provider.providers[0]!.options.path}:ro`));
    const datasource = parseYaml(readFileSync(path.join(REPO_ROOT, 'grafana', 'provisioning', 'datasources', 'prometheus.yml'), 'utf8')) as { datasources: { type: string; url: string }[] };
    assert.equal(datasource.datasources[0]!.type, 'prometheus');
    assert.equal(new URL(datasource.datasources[0]!.url).hostname, 'prometheus');
    // Every host path mounted exists.
    for (const s of Object.values(compose.services)) {
      for (const v of (s.volumes ?? []) as string[]) {
        const host = v.split(':')[0]!;
        if (host === './tls' || host === './admin-token') continue; // the operator's certificate and secret, not shipped
        assert.ok(existsSync(path.join(DEPLOY, host)), `${host} exists`);
      }
    }
  });
});

interface DockerStage {
  readonly name: string;
  readonly lines: { instruction: string; args: string }[];
}

function dockerStages(text: string): DockerStage[] {
  const stages: { name: string; lines: { instruction: string; args: string }[] }[] = [];
  const joined = text.replace(/\\\n/g, ' ');
  for (const raw of joined.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\w+)\s+(.*)$/.exec(line);
    assert.ok(m, `Dockerfile line: ${line}`);
    const instruction = m[1]!.toUpperCase();
    if (instruction === 'FROM') stages.push({ name: /\bAS\s+(\S+)/i.exec(m[2]!)?.[1] ?? String(stages.length), lines: [] });
    stages[stages.length - 1]!.lines.push({ instruction, args: m[2]! });
  }
  return stages;
}

describe('deploy/Dockerfile', () => {
  const text = readFileSync(path.join(DEPLOY, 'Dockerfile'), 'utf8');
  const stages = dockerStages(text);
  const runtime = stages[stages.length - 1]!;
  const get = (i: string) => runtime.lines.filter((l) => l.instruction === i);

  it('is multi-stage with a non-root runtime, a /healthz HEALTHCHECK and exec-form signals', () => {
    assert.deepEqual(stages.map((s) => s.name), ['build', 'runtime']);
    assert.ok(get('USER').length === 1 && !['root', '0'].includes(get('USER')[0]!.args));
    assert.match(get('HEALTHCHECK')[0]!.args, /CMD \[.*\/healthz/);
    const entry = JSON.parse(get('ENTRYPOINT')[0]!.args) as string[];
    const cmd = JSON.parse(get('CMD')[0]!.args) as string[];
    assert.deepEqual(entry, ['/usr/bin/tini', '--'], 'tini is PID 1 and forwards signals');
    assert.equal(cmd[0], 'node');
    const configPath = cmd[cmd.indexOf('--config') + 1];
    assert.ok(get('COPY').some((c) => c.args === `deploy/proxy.yaml ${configPath}`), 'the documented config path is where the image puts proxy.yaml');
  });

  it('its runtime steps install a packed build, and the start command answers /healthz', { timeout: 180_000 }, async () => {
    const root = tempDir('image');
    const at = (p: string) => path.join(root, p);
    for (const d of ['tmp', 'app', 'pkg', 'etc/electrum-gateway']) mkdirSync(at(d), { recursive: true });
    // What the build stage leaves: the npm pack of this build and its lock file.
    const pack = spawnSync('npm', ['pack', '--silent', '--pack-destination', at('pkg')], { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.equal(pack.status, 0, pack.stderr);
    const tgz = readdirSync(at('pkg')).find((f) => f.endsWith('.tgz'))!;
    const rewrite = (s: string) => s.replaceAll('/tmp/', `${at('tmp')}/`).replaceAll('/app', at('app')).replaceAll('/etc/electrum-gateway', at('etc/electrum-gateway'));
    for (const c of get('COPY')) {
      const [src, dest] = c.args.replace(/^--from=\S+\s+/, '').split(/\s+/) as [string, string];
      const from = /--from=build/.test(c.args)
        ? src === '/pkg/electrum-gateway.tgz' ? path.join(at('pkg'), tgz) : path.join(REPO_ROOT, path.basename(src))
        : path.join(REPO_ROOT, src);
      // The image's config names its own paths (the mounted token); here they live in the temporary root.
      writeFileSync(rewrite(dest), dest.endsWith('.yaml') ? rewrite(readFileSync(from, 'utf8')) : readFileSync(from));
    }
    // apt-get installs tini as root with the network; every other RUN step runs here.
    const steps = get('RUN').map((r) => r.args).filter((r) => !r.startsWith('apt-get'));
    assert.ok(steps.length >= 1 && steps.some((s) => s.includes('npm ci --omit=dev')));
    const script = `set -euo pipefail\n${steps.map(rewrite).join('\n')}\n`;
    const run = spawnSync('bash', ['-c', script], { cwd: at('app'), encoding: 'utf8', env: { ...process.env, NODE_ENV: 'production' } });
    assert.equal(run.status, 0, `${script}\n${run.stdout}\n${run.stderr}`);
    assert.ok(!existsSync(at('app/node_modules/typescript')), 'no dev dependency in the image');
    assert.ok(existsSync(at('app/node_modules/prom-client')));

    const sim = await Simulator.start();
    const [port, adminPort] = [await freePort(), await freePort()];
    const cmd = (JSON.parse(get('CMD')[0]!.args) as string[]).map(rewrite);
    // The token a container gets mounted (docker-compose.yml, the Kubernetes Secret).
    mkdirSync(path.dirname(rewrite(ADMIN_TOKEN_FILE)), { recursive: true });
    writeFileSync(rewrite(ADMIN_TOKEN_FILE), `${TEST_ADMIN_TOKEN}\n`);
    // The image's own config, with the addresses of this machine put on the command line.
    const args = [...cmd.slice(1), '--listen', `tcp://${LOOPBACK}:${port}`, '--admin', `${LOOPBACK}:${adminPort}`, '--upstream', sim.url, '--network', 'regtest', '--redis', 'none'];
    const child = spawn(process.execPath, args, { cwd: at('app'), stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_ENV: 'production' } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await RpcClient.until(async () => (await httpGet(LOOPBACK, adminPort, '/healthz').catch(() => ({ status: 0 }))).status === 200, `/healthz (log: ${out.slice(-800)})`, 30_000, 100);
      const healthcheck = JSON.parse(get('HEALTHCHECK')[0]!.args.replace(/^.*?CMD\s+/, '')) as string[];
      const probe = spawnSync(process.execPath, healthcheck.slice(1).map((a) => a.replace(':8080/', `:${adminPort}/`)), { encoding: 'utf8' });
      assert.equal(probe.status, 0, `HEALTHCHECK: ${probe.stderr}`);
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      child.kill('SIGTERM');
      assert.equal(await exited, 0, `clean exit on SIGTERM: ${out.slice(-800)}`);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await sim.stop();
    }
  });
});

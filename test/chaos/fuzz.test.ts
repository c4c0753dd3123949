// SPDX-License-Identifier: MIT
/**
 * Chaos: fuzzed frames through every door of a gateway running as a child
 * process. Frames come from fast-check generators: JSON-RPC shapes (requests,
 * notifications, batches, with ids, methods and params of every JSON type,
 * real method names mostly) and raw mutations of valid requests (bytes
 * flipped, inserted, deleted, truncated). Each property run sends a block of
 * frames on a fresh connection, then a server.ping; the property is that the
 * gateway is alive, everything it wrote is JSON, and a fresh connection gets
 * a right answer to a normal request. Must be 0: crashes, unparsable replies,
 * a normal request failing afterwards; RSS stays under RSS_BOUND_MIB.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { METHOD_NAMES } from '../../src/protocol/methods.js';
import { GatewayProcess } from '../helpers/gateway-process.js';
import { freePorts } from '../helpers/ports.js';
import { selfSignedCertificate, type Certificate } from '../helpers/tls.js';
import { untilForwarding } from '../helpers/wallet-session.js';
import { Simulator } from '../sim/index.js';
import { DOORS, DoorClient, type Door } from './doors.js';
import { fullRun, nonZero, report } from './figures.js';

const FRAMES_PER_DOOR = 100_000;
const FRAMES_PER_RUN = 1_000;
/**
 * Generous: the gateway idles at about 70-90 MiB; fuzzing must not make it grow
 * without bound (100,000 frames of up to ~1 kB each would be ~100 MiB if kept).
 */
const RSS_BOUND_MIB = 300;

const methods = [...METHOD_NAMES];
const jsonId = fc.oneof(fc.integer(), fc.string({ maxLength: 12 }), fc.constant(null), fc.double(), fc.boolean(), fc.array(fc.integer(), { maxLength: 2 }), fc.object({ maxDepth: 1 }));
const method = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...methods) }, { weight: 1, arbitrary: fc.string({ maxLength: 30 }) }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) });
const params = fc.oneof(
  fc.array(fc.oneof(fc.integer({ min: -5, max: 3000 }), fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), maxLength: 70 }), fc.string({ maxLength: 20 }), fc.boolean(), fc.constant(null), fc.double()), { maxLength: 4 }),
  fc.jsonValue({ maxDepth: 3 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }),
);
const request = fc.record(
  { jsonrpc: fc.oneof(fc.constant('2.0'), fc.constant('1.0'), fc.jsonValue({ maxDepth: 0 })), id: jsonId, method, params },
  { requiredKeys: ['method'] },
);
const jsonFrame = fc.oneof(
  { weight: 6, arbitrary: request.map((r) => JSON.stringify(r)) },
  { weight: 2, arbitrary: fc.array(request, { maxLength: 8 }).map((b) => JSON.stringify(b)) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? 'null') },
);
/** A valid request, then its bytes mutated. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
);
const mutatedFrame = fc.tuple(request, fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([r, ms]) => {
  let b = Buffer.from(JSON.stringify(r));
  for (const m of ms) {
    const at = b.length === 0 ? 0 : m.at % b.length;
    if (m.kind === 'flip') b[at] = m.byte;
    else if (m.kind === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.from(m.bytes), b.subarray(at)]);
    else if (m.kind === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.n)]);
    else b = b.subarray(0, at);
  }
  return b;
});
const frame = fc.oneof({ weight: 1, arbitrary: jsonFrame.map((s) => Buffer.from(s)) }, { weight: 1, arbitrary: mutatedFrame });

function rssMiBOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

describe('chaos: 100,000 fuzzed frames per door', () => {
  let sim: Simulator;
  let cert: Certificate;
  let gw: GatewayProcess;
  const ports = {} as Record<Door, number>;

  before(async () => {
    sim = await Simulator.start({ seed: 'chaos-fuzz' });
    cert = selfSignedCertificate();
    // All four from one freePorts() call, so the tcp door cannot be given one of the others' ports.
    const [tcp, tlsPort, ws, wss] = (await freePorts(4)) as [number, number, number, number];
    // Every fuzzing connection comes from 127.0.0.1: with cost limits on, the errors it earns would
    // (rightly) lock the whole group out, the normal wallet checked afterwards included.
    const config = join(cert.dir, 'proxy.yaml');
    writeFileSync(config, 'cost:\n  hard_limit: 0\n');
    const q = `cert=${encodeURIComponent(cert.certFile)}&key=${encodeURIComponent(cert.keyFile)}`;
    gw = await GatewayProcess.start({
      upstream: sim.url,
      port: tcp,
      logLevel: 'error',
      extraArgs: ['--config', config, '--listen', `tls://127.0.0.1:${tlsPort}?${q}`, '--listen', `ws://127.0.0.1:${ws}/`, '--listen', `wss://127.0.0.1:${wss}/?${q}`],
    });
    Object.assign(ports, { tcp: gw.port, tls: tlsPort, ws, wss });
    await untilForwarding(gw.port);
  });

  after(async () => {
    gw?.kill();
    await sim?.stop();
    cert?.remove();
  });

  it('never crashes, answers only JSON, stays bounded and still answers a normal request', async () => {
    const rssStart = rssMiBOf(gw.pid!);
    let rssMax = rssStart;
    const sent: Record<Door, number> = { tcp: 0, tls: 0, ws: 0, wss: 0 };
    let unparsable = 0;
    let closedByGateway = 0;
    let normalFailed = 0;
    const started = Date.now();
    // The four doors at once: the generators here and the gateway there work in parallel.
    await Promise.all(
      DOORS.map(async (door) => {
        let run = 0;
        await fc.assert(
          fc.asyncProperty(fc.array(frame, { minLength: FRAMES_PER_RUN, maxLength: FRAMES_PER_RUN }), async (frames) => {
            run++;
            const c = await DoorClient.open(door, ports[door], cert);
            for (const f of frames) {
              if (c.closed) break;
              c.send(door === 'ws' || door === 'wss' ? f.toString('utf8') : f);
              sent[door]++;
            }
            // The ping is answered once everything before it is read; a gateway that closed instead is fine.
            if (!c.closed) await c.request('server.ping', [], -run).catch(() => undefined);
            if (c.closed) closedByGateway++;
            c.close();
            for (const m of c.messages) {
              try {
                JSON.parse(m);
              } catch {
                unparsable++;
              }
            }
            rssMax = Math.max(rssMax, rssMiBOf(gw.pid!));
            return gw.exited === undefined;
          }),
          { numRuns: FRAMES_PER_DOOR / FRAMES_PER_RUN, endOnFailure: true, seed: fullRun ? Date.now() : 11 + DOORS.indexOf(door) },
        );
        // A normal wallet on the same door afterwards.
        const n = await DoorClient.open(door, ports[door], cert);
        const version = await n.request('server.version', ['after-fuzz', '1.4'], 1);
        const header = await n.request('blockchain.block.header', [7], 2);
        if (!Array.isArray(version.result) || header.result !== sim.headerHex(7)) normalFailed++;
        n.close();
      }),
    );
    const figures = {
      scenario: 'fuzzing',
      setup: `${FRAMES_PER_DOOR.toLocaleString('en')} frames per door in runs of ${FRAMES_PER_RUN} on fresh connections; half fast-check JSON-RPC shapes, half mutated bytes`,
      figures: {
        frames_sent: Object.values(sent).reduce((a, b) => a + b, 0),
        ...Object.fromEntries(DOORS.map((d) => [`frames_${d}`, sent[d]])),
        runs_closed_by_gateway: closedByGateway,
        crashes: gw.exited === undefined ? 0 : 1,
        unparsable_replies: unparsable,
        normal_requests_failed_after: normalFailed,
        rss_start_mib: Math.round(rssStart),
        rss_max_mib: Math.round(rssMax),
        seconds: Math.round((Date.now() - started) / 1000),
      },
      mustBeZero: ['crashes', 'unparsable_replies', 'normal_requests_failed_after'],
    };
    report(figures);
    assert.equal(nonZero(figures), '', gw.logTail());
    assert.ok(rssMax < RSS_BOUND_MIB, `RSS ${rssMax} MiB over the ${RSS_BOUND_MIB} MiB bound`);
    await gw.stop();
  });
});

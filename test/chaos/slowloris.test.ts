// SPDX-License-Identifier: MIT
/**
 * Chaos: slowloris clients on every door (tcp, tls, ws, wss). Two kinds per
 * door: after the handshake, a request trickled a byte (tcp/tls) or a
 * WebSocket fragment (ws/wss) at a time and never finished; and before it,
 * a connection that starts a TLS handshake or an HTTP upgrade and stalls.
 * With a short idle timeout, every slow client must be cut, and a normal
 * client on the same door keeps getting its answers meanwhile. Must be 0:
 * slow clients still connected at the end, failed normal requests.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { untilForwarding } from '../helpers/wallet-session.js';
import { Simulator } from '../sim/index.js';
import { DOORS, DoorClient, startFourDoors, type Door, type FourDoors } from './doors.js';
import { nonZero, report, sleep } from './figures.js';

const IDLE_MS = 1_500;
const SLOW_PER_DOOR = 10;
const TRICKLE_MS = 200;
/** Generous: the idle sweep runs every IDLE_MS/10 (at least 250 ms); a cut well after that is a bug. */
const CUT_WITHIN_MS = IDLE_MS * 6;
/** Ends the slow clients the gateway did not cut, so a failing run does not hang. */
const leftovers: (() => void)[] = [];

/** A client that trickles a request that never ends; resolves when the gateway cuts it. */
async function trickleAfterHandshake(door: Door, port: number, fd: FourDoors): Promise<void> {
  const c = await DoorClient.open(door, port, fd.cert);
  leftovers.push(() => c.close());
  const request = '{"jsonrpc":"2.0","id":1,"method":"server.version","params":["slowloris","1.4"]}';
  let i = 0;
  const ws = (c as unknown as { ws: WebSocket | null }).ws;
  const timer = setInterval(() => {
    const piece = request.slice(i % request.length, (i % request.length) + 1);
    i++;
    if (ws) {
      if (ws.readyState === ws.OPEN) ws.send(piece, { fin: false, binary: false });
    } else c.sendBytes(piece);
  }, TRICKLE_MS);
  await c.whenClosed;
  clearInterval(timer);
}

/** A raw connection that starts the handshake (TLS ClientHello or HTTP upgrade) and stalls. */
async function stallBeforeHandshake(door: Door, port: number): Promise<void> {
  const s = net.connect({ host: '127.0.0.1', port });
  s.on('error', () => undefined);
  leftovers.push(() => s.destroy());
  await new Promise((r) => s.once('connect', r));
  const closed = new Promise<void>((r) => s.once('close', () => r()));
  let timer: NodeJS.Timeout | undefined;
  if (door === 'ws') {
    const head = 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n';
    let i = 0;
    timer = setInterval(() => s.write(head[i++ % head.length]!), TRICKLE_MS);
  } else if (door === 'tls' || door === 'wss') {
    // The first bytes of a TLS record header (handshake, TLS 1.0), then nothing.
    s.write(Buffer.from([0x16, 0x03, 0x01]));
  } else {
    // A plain tcp door has no handshake: a connection that never sends a byte.
  }
  await closed;
  clearInterval(timer);
}

describe('chaos: slowloris clients on every door', () => {
  let sim: Simulator;
  let fd: FourDoors;

  before(async () => {
    sim = await Simulator.start({ seed: 'chaos-slowloris' });
    fd = await startFourDoors(sim, (c) => ({ ...c, limits: { ...c.limits, idleTimeoutMs: IDLE_MS, maxSessionsPerGroup: 1000 } }));
    await untilForwarding(fd.ports.tcp);
  });

  after(async () => {
    await fd?.close();
    await sim?.stop();
  });

  it('cuts every slow client and keeps answering a normal one', async () => {
    const started = Date.now();
    const cutAfter: Record<string, number> = {};
    const stillOpen: string[] = [];
    const slow: Promise<void>[] = [];
    for (const door of DOORS) {
      for (let i = 0; i < SLOW_PER_DOOR; i++) {
        const kind = i % 2 === 0 ? 'trickle' : 'stall';
        const p = kind === 'trickle' ? trickleAfterHandshake(door, fd.ports[door], fd) : stallBeforeHandshake(door, fd.ports[door]);
        const key = `${door}-${kind}`;
        slow.push(
          p.then(() => {
            cutAfter[key] = Math.max(cutAfter[key] ?? 0, Date.now() - started);
          }),
        );
      }
    }
    // Normal clients, one per door, asking and getting answers while the slow ones hang on.
    let normalOk = 0;
    let normalFailed = 0;
    const normals = await Promise.all(DOORS.map((d) => DoorClient.open(d, fd.ports[d], fd.cert)));
    let id = 1;
    const deadline = Date.now() + IDLE_MS * 2;
    while (Date.now() < deadline) {
      await Promise.all(
        normals.map(async (c) => {
          const mine = id++;
          try {
            const r = await c.request('blockchain.block.header', [mine % 100], mine);
            if (r.result === sim.headerHex(mine % 100)) normalOk++;
            else normalFailed++;
          } catch {
            normalFailed++;
          }
        }),
      );
      await sleep(IDLE_MS / 5);
    }
    const allCut = Promise.all(slow);
    await Promise.race([allCut, sleep(CUT_WITHIN_MS)]);
    for (const door of DOORS) for (const kind of ['trickle', 'stall']) if (cutAfter[`${door}-${kind}`] === undefined) stillOpen.push(`${door}-${kind}`);
    for (const c of normals) c.close();
    const figures = {
      scenario: 'slowloris',
      setup: `${SLOW_PER_DOOR} slow clients per door (half trickling a request, half stalling the handshake); idle timeout ${IDLE_MS / 1000} s`,
      figures: {
        slow_clients: SLOW_PER_DOOR * DOORS.length,
        slow_kinds_not_cut: stillOpen.length,
        normal_requests_ok: normalOk,
        normal_requests_failed: normalFailed,
        ...Object.fromEntries(Object.entries(cutAfter).map(([k, v]) => [`${k}_cut_by_ms`, v])),
      },
      mustBeZero: ['slow_kinds_not_cut', 'normal_requests_failed'],
    };
    report(figures);
    for (const end of leftovers.splice(0)) end();
    assert.equal(nonZero(figures), '', `not cut within ${CUT_WITHIN_MS} ms: ${stillOpen.join(', ')}`);
    assert.ok(normalOk > 0);
  });
});

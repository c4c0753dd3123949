// SPDX-License-Identifier: MIT
/**
 * What a wallet sends is counted even when it is refused (issue 15.5): every
 * byte read, oversize lines included, and every refused line by outcome, in
 * client_frames_total and in client_requests_total under method "(invalid)".
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Simulator } from '../sim/index.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { RpcClient } from '../helpers/rpc-client.js';

const MAX_LINE = 64 * 1024;
const MAX_BATCH = 5;

/** The value of one sample of the /metrics text (0 when absent). */
function sample(text: string, name: string, labels: Record<string, string>): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const close = line.indexOf('} ');
    const body = line.slice(name.length + 1, close);
    const got = Object.fromEntries([...body.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(line.slice(close + 2));
  }
  return 0;
}

function sum(text: string, name: string): number {
  let n = 0;
  for (const line of text.split('\n')) if (line.startsWith(`${name}{`)) n += Number(line.slice(line.indexOf('} ') + 2));
  return n;
}

describe('refused frames and their bytes are counted', () => {
  let sim: Simulator;
  let gw: TestGateway;
  before(async () => {
    sim = await Simulator.start({ initialBlocks: 110, seed: 'frames-metrics' });
    gw = await startTestGateway({
      upstreams: [sim],
      admin: true,
      maxLineBytes: MAX_LINE,
      tweak: (c) => ({ ...c, limits: { ...c.limits, maxBatch: MAX_BATCH } }),
    });
  });
  after(async () => {
    await gw.close();
    await sim.stop();
  });

  it('invalid JSON, bad shapes, empty and oversized batches: answered, and counted by outcome', async () => {
    const before = await gw.metrics();
    const c = await RpcClient.connect(gw.port, gw.host);
    await c.request('server.version', ['t', '1.4']);
    c.sendRaw('{"id": 1, "method": \n');
    assert.equal(((await c.nextUnmatched()) as { error: { code: number } }).error.code, -32700);
    c.sendRaw('[]\n');
    assert.equal(((await c.nextUnmatched()) as { error: { code: number } }).error.code, -32600);
    c.sendRaw('"just a string"\n');
    assert.equal(((await c.nextUnmatched()) as { error: { code: number } }).error.code, -32600);
    const big = Array.from({ length: MAX_BATCH + 1 }, (_, i) => ({ jsonrpc: '2.0', id: 100 + i, method: 'server.ping' }));
    c.sendRaw(`${JSON.stringify(big)}\n`);
    assert.match(((await c.nextUnmatched()) as { error: { message: string } }).error.message, /batch too large/);
    // A batch with one bad item: the frame is fine, the item is an invalid request.
    const mixed = (await c.batch([{ method: 'server.ping' }, { method: 'server.ping', params: [] }])) as unknown[];
    assert.equal(mixed.length, 2);
    c.sendRaw('[{"id": 7, "method": "server.ping"}, 5]\n');
    const replies = (await c.nextUnmatched()) as unknown[];
    assert.equal(replies.length, 2);
    assert.ok(replies.some((r) => (r as { error?: { code: number } }).error?.code === -32600));
    await c.close();

    const after = await gw.metrics();
    const delta = (labels: Record<string, string>, name = 'electrum_gateway_client_frames_total') => sample(after, name, labels) - sample(before, name, labels);
    assert.equal(delta({ outcome: 'invalid_json' }), 1);
    assert.equal(delta({ outcome: 'empty_batch' }), 1);
    assert.equal(delta({ outcome: 'invalid_request' }), 1);
    assert.equal(delta({ outcome: 'batch_too_large' }), 1);
    // server.version, the two-item batch and the batch with a bad item.
    assert.equal(delta({ outcome: 'ok' }), 3);
    const requests = 'electrum_gateway_client_requests_total';
    assert.equal(delta({ method: '(invalid)', result: '-32700' }, requests), 1);
    // The empty batch, the string, the oversized batch and the bad batch item.
    assert.equal(delta({ method: '(invalid)', result: '-32600' }, requests), 4);
  });

  it('a line over max_line_bytes: its bytes are counted and it is refused as oversize', async () => {
    const before = await gw.metrics();
    const c = await RpcClient.connect(gw.port, gw.host);
    const size = 4 * MAX_LINE;
    c.sendRaw(`{"id": 1, "method": "server.ping", "params": ["${'a'.repeat(size)}"]}\n`);
    const reply = (await c.nextUnmatched()) as { error: { code: number; message: string } };
    assert.equal(reply.error.code, -32600);
    assert.match(reply.error.message, /request too large/);
    await c.closed;
    // The gateway stops reading once it refused the line, so "at least the limit" was read, not all of it.
    await RpcClient.until(async () => sum(await gw.metrics(), 'electrum_gateway_client_received_bytes_total') - sum(before, 'electrum_gateway_client_received_bytes_total') > MAX_LINE, 'bytes of the oversize line counted');
    const after = await gw.metrics();
    assert.equal(sample(after, 'electrum_gateway_client_frames_total', { outcome: 'oversize' }) - sample(before, 'electrum_gateway_client_frames_total', { outcome: 'oversize' }), 1);
  });
});

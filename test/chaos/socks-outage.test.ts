// SPDX-License-Identifier: MIT
/**
 * Chaos: the SOCKS proxy (real microsocks) dying under upstreams reached
 * through it, as Tor's SOCKS port would under onion upstreams. The gateway is
 * a real child process; both its upstreams go through the proxy. While the
 * proxy is gone a wallet gets answers or clear JSON-RPC errors, never a hang
 * past the request timeout nor a dropped session; once the proxy is back
 * (same port) the gateway answers again and notifies new blocks to the
 * wallets subscribed before the outage. Must be 0: crashes, dropped sessions,
 * hung requests.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GatewayProcess } from '../helpers/gateway-process.js';
import { RpcCallError, RpcClient } from '../helpers/rpc-client.js';
import { startMicrosocks, type SocksServer } from '../helpers/socks.js';
import { untilForwarding } from '../helpers/wallet-session.js';
import { Simulator } from '../sim/index.js';
import { duration, nonZero, report, sleep } from './figures.js';

const OUTAGE_MS = duration(3_000, 10_000);
const REQUEST_TIMEOUT_MS = 3_000;

describe('chaos: the SOCKS proxy dies under upstreams reached through it', () => {
  let a: Simulator;
  let b: Simulator;
  let proxy: SocksServer;
  let gw: GatewayProcess;
  const dir = mkdtempSync(join(tmpdir(), 'eg-chaos-socks-'));

  before(async () => {
    a = await Simulator.start({ seed: 'chaos-socks', initialBlocks: 140 });
    b = await Simulator.start({ seed: 'chaos-socks', initialBlocks: 140 });
    proxy = await startMicrosocks();
    const via = encodeURIComponent(proxy.url(5));
    const config = join(dir, 'proxy.yaml');
    writeFileSync(config, `limits:\n  request_timeout_ms: ${REQUEST_TIMEOUT_MS}\npool:\n  attempt_timeout_ms: ${REQUEST_TIMEOUT_MS / 2}\n`);
    gw = await GatewayProcess.start({
      upstream: [`tcp://127.0.0.1:${a.port}?socks=${via}`, `tcp://127.0.0.1:${b.port}?socks=${via}`],
      logLevel: 'warn',
      extraArgs: ['--config', config],
    });
    await untilForwarding(gw.port);
  });

  after(async () => {
    gw?.kill();
    await proxy?.stop();
    await a?.stop();
    await b?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps running through the outage and recovers when the proxy returns', async () => {
    const wallets: RpcClient[] = [];
    for (let i = 0; i < 4; i++) {
      const c = await RpcClient.connect(gw.port, '127.0.0.1', REQUEST_TIMEOUT_MS + 5_000);
      await c.request('server.version', [`chaos-socks-${i}`, '1.4']);
      await c.request('blockchain.headers.subscribe', []);
      wallets.push(c);
    }
    await proxy.stop();
    let answered = 0;
    let clearErrors = 0;
    let hung = 0;
    const deadline = Date.now() + OUTAGE_MS;
    let h = 1;
    while (Date.now() < deadline) {
      await Promise.all(
        wallets.map(async (c) => {
          try {
            await c.request('blockchain.block.header', [h++ % 100]);
            answered++;
          } catch (err) {
            if (err instanceof RpcCallError) clearErrors++;
            else hung++;
          }
        }),
      );
      await sleep(200);
    }
    proxy = await startMicrosocks(undefined, proxy.port);
    const back = Date.now();
    // The gateway reconnects with backoff; it must get there by itself.
    await untilForwarding(gw.port, { intervalMs: 200 }).catch(() => untilForwarding(gw.port, { intervalMs: 500 }));
    const recoveredMs = Date.now() - back;
    // Both upstreams back, then a new block reaches every wallet subscribed before the outage.
    a.mine();
    b.mine();
    const tip = a.tipHeight();
    let notified = 0;
    for (const c of wallets) {
      await c.waitForNotification('blockchain.headers.subscribe', (p) => (p[0] as { height: number }).height === tip, { timeoutMs: 30_000 });
      notified++;
    }
    const after1 = (await wallets[0]!.request('blockchain.block.header', [tip])) as string;
    const figures = {
      scenario: 'SOCKS proxy outage',
      setup: `2 upstreams through microsocks; proxy stopped for ${OUTAGE_MS / 1000} s, restarted on the same port; gateway as a child process`,
      figures: {
        answered_during_outage: answered,
        clear_errors_during_outage: clearErrors,
        hung_requests: hung,
        dropped_sessions: wallets.filter((c) => c.isClosed).length,
        crashes: gw.exited ? 1 : 0,
        recovered_after_ms: recoveredMs,
        wallets_notified_after: `${notified}/${wallets.length}`,
      },
      mustBeZero: ['hung_requests', 'dropped_sessions', 'crashes'],
    };
    report(figures);
    assert.equal(nonZero(figures), '', gw.logTail());
    assert.equal(after1, a.headerHex(tip), 'answers come from the upstreams again');
    for (const c of wallets) await c.close();
    await gw.stop();
  });
});

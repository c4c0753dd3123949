// SPDX-License-Identifier: MIT
/**
 * `npm start` as a supervisor runs it: npm -> sh -> scripts/start.sh -> node.
 * SIGTERM sent to npm's PID must reach the gateway, which shuts down cleanly
 * and frees its ports; nothing is left running re-parented to PID 1. And the
 * README's commands work as written in a clone.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { REPO_ROOT } from '../helpers/gateway-process.js';
import { canConnect, freePorts, LOOPBACK } from '../helpers/ports.js';

describe('npm start', () => {
  it('stops when SIGTERM is sent to npm\'s PID: the gateway logs its shutdown and its ports are free', async () => {
    const [port, adminPort] = await freePorts(2);
    const npm = spawn(
      'npm',
      ['start', '--silent', '--', '--listen', `tcp://${LOOPBACK}:${port}`, '--upstream', 'tcp://127.0.0.1:1', '--network', 'regtest', '--admin', `${LOOPBACK}:${adminPort}`],
      { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    npm.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    npm.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    // The pipe is shared by every process in the chain: it closes only once the gateway is gone too.
    const outputClosed = once(npm.stdout, 'close');
    const gatewayPid = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`npm start did not serve within 120 s:\n${out}`)), 120_000);
      const look = (): void => {
        const line = out.split('\n').find((l) => l.includes('"msg":"serving on'));
        if (line === undefined) return;
        clearTimeout(timer);
        npm.stdout.off('data', look);
        resolve((JSON.parse(line) as { pid: number }).pid);
      };
      npm.stdout.on('data', look);
      npm.once('exit', (code) => reject(new Error(`npm start exited (${String(code)}) before serving:\n${out}`)));
    });
    try {
      assert.ok(await canConnect(LOOPBACK, port!), 'the wallet port accepts connections');
      assert.ok(await canConnect(LOOPBACK, adminPort!), 'the admin port accepts connections');
      npm.kill('SIGTERM');
      await once(npm, 'exit');
      // Bounded: on a broken chain the orphaned gateway holds the pipe open for ever.
      let timer: NodeJS.Timeout | undefined;
      const stillRunning = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the gateway is still running 30 s after npm exited:\n${out}`)), 30_000);
      });
      await Promise.race([outputClosed, stillRunning]).finally(() => clearTimeout(timer));
      assert.match(out, /"msg":"signal received, (closing|draining)"/, out);
      assert.match(out, /"msg":"bye"/, out);
      assert.throws(() => process.kill(gatewayPid, 0), /ESRCH/, 'the gateway process is gone');
      assert.equal(await canConnect(LOOPBACK, port!), false, 'the wallet port is free');
      assert.equal(await canConnect(LOOPBACK, adminPort!), false, 'the admin port is free');
    } finally {
      try {
        process.kill(gatewayPid, 'SIGKILL');
      } catch {
        /* already gone, as it should be */
      }
    }
  });
});

/** The shell commands of a markdown file's ```sh blocks, continuation lines joined. */
function shellCommands(file: string): string[] {
  const text = readFileSync(path.join(REPO_ROOT, file), 'utf8');
  const blocks = [...text.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  return blocks.flatMap((b) => b.replace(/\\\n\s*/g, ' ').split('\n')).map((l) => l.replace(/#.*$/, '').trim()).filter((l) => l.length > 0);
}

function npx(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // --offline: the project's own bin, never a package of the same name from the registry.
    execFile('npx', ['--offline', ...args], { cwd: REPO_ROOT, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

describe('the README\'s commands in a clone', () => {
  it('name the gateway as a command that exists there (npx electrum-gateway), never bare', () => {
    for (const file of ['README.md', 'docs/configuration.md']) {
      const commands = shellCommands(file);
      assert.ok(commands.length > 0, file);
      for (const c of commands) assert.doesNotMatch(c, /^electrum-gateway /, `${file}: "${c}" is not on PATH in a clone`);
    }
    assert.ok(shellCommands('README.md').some((c) => c.startsWith('npx electrum-gateway serve ')));
  });

  it('npx electrum-gateway runs the built CLI: check-config proxy.yaml and serve --help', async () => {
    const check = await npx(['electrum-gateway', 'check-config', 'proxy.yaml']);
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stdout, /^OK proxy\.yaml: /);
    const help = await npx(['electrum-gateway', 'serve', '--help']);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /--admin/);
  });
});

#!/usr/bin/env node
// SPDX-License-Identifier: MIT
/**
 * The `electrum-gateway` command.
 *
 *   electrum-gateway serve [--config FILE] [--listen URL]... [--upstream URL]...
 *                          [--network NAME] [--redis URL|none] [--admin HOST:PORT|none]
 *                          [--log-level LEVEL] [--drain-ms MS] [--workers N|auto]
 *   electrum-gateway ctl status|sessions|upstreams|cordon NAME|uncordon NAME|disconnect ID|
 *                        log-level LEVEL|reload [--admin URL] [--token T|--token-file F] [--config FILE] [--json]
 *   electrum-gateway check-config FILE
 *   electrum-gateway peers [--config FILE] [--admin HOST:PORT] [--json]
 *
 * Unknown commands and flags are errors (exit 1). See docs/configuration.md.
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { LOG_LEVELS } from '../config/defaults.js';
import { NETWORK_NAMES } from '../config/networks.js';
import { GATEWAY_VERSION } from '../version.js';
import { checkConfig } from './check-config.js';
import { ctl, CTL_ACTIONS, type CtlAction } from './ctl.js';
import { overridesFromFlags, UsageError } from './overrides.js';
import { peersCommand } from './peers.js';
import { PROGRAM } from './program.js';

function fail(message: string): never {
  process.stderr.write(`${PROGRAM}: ${message}\nRun "${PROGRAM} --help" for usage.\n`);
  process.exit(1);
}

export async function main(argv: readonly string[]): Promise<void> {
  const cli = yargs([...argv])
    .scriptName(PROGRAM)
    .usage(`Usage: $0 <command> [options]\n\nOne Electrum endpoint in front of many Electrum servers.`)
    .parserConfiguration({ 'greedy-arrays': false, 'dot-notation': false })
    .command(
      'serve',
      'Run the gateway (on built-in defaults when given no config file and no flags)',
      (y) =>
        y
          .usage(`Usage: $0 serve [--config FILE] [options]\n\nFlags override the matching key of the config file.`)
          .option('config', {
            alias: 'c',
            type: 'string',
            describe: 'proxy.yaml to load; without it the built-in defaults apply',
            requiresArg: true,
          })
          .option('listen', {
            type: 'string',
            array: true,
            describe: 'Listener URL, e.g. tcp://0.0.0.0:50001 (repeatable; replaces listen:)',
            requiresArg: true,
          })
          .option('upstream', {
            type: 'string',
            array: true,
            describe: 'Upstream server URL, e.g. tcp://electrum.example.com:50001 (repeatable; replaces upstreams:)',
            requiresArg: true,
          })
          .option('network', {
            type: 'string',
            describe: `Chain to serve: ${NETWORK_NAMES.join(', ')}`,
            requiresArg: true,
          })
          .option('redis', {
            type: 'string',
            describe: 'Shared cache, redis://HOST:PORT[/DB]; "none" for the in-memory cache only',
            requiresArg: true,
          })
          .option('admin', {
            type: 'string',
            describe: 'Admin HTTP listener HOST:PORT (/metrics, /status); "none" disables it',
            requiresArg: true,
          })
          .option('log-level', {
            type: 'string',
            describe: `Log level: ${LOG_LEVELS.join(', ')}`,
            requiresArg: true,
          })
          .option('drain-ms', {
            type: 'string',
            describe: 'After SIGTERM, keep serving sessions this long before closing them (replaces drain_ms:)',
            requiresArg: true,
          })
          .option('workers', {
            type: 'string',
            describe: 'Worker processes sharing the listeners (Node cluster): a number, or "auto" for one per core',
            requiresArg: true,
          }),
      async (args) => {
        let overrides;
        try {
          overrides = overridesFromFlags({
            listen: args.listen,
            upstream: args.upstream,
            network: args.network,
            redis: args.redis,
            admin: args.admin,
            logLevel: args['log-level'],
            drainMs: args['drain-ms'],
          });
        } catch (err) {
          if (err instanceof UsageError) fail(err.message);
          throw err;
        }
        const workers: unknown = args.workers;
        if (Array.isArray(workers)) fail(`--workers given ${workers.length} times; give it once`);
        if (workers !== undefined) overrides = { ...overrides, workers: String(workers) };
        const config = args.config;
        if (Array.isArray(config)) fail('--config given more than once; give it once');
        // Loaded here, not at the top: ctl and check-config start faster without the whole gateway.
        const { serve } = await import('./serve.js');
        await serve({ configFile: config ?? null, overrides });
      },
    )
    .command(
      'check-config <file>',
      'Validate a config file: print every problem (exit 1) or a one-line summary (exit 0)',
      (y) =>
        y.usage('Usage: $0 check-config FILE').positional('file', {
          type: 'string',
          describe: 'proxy.yaml to check',
          demandOption: true,
        }),
      (args) => {
        const result = checkConfig(String(args.file));
        // The report is what the command was asked for, so it goes to stdout either way.
        for (const line of result.lines) process.stdout.write(`${line}\n`);
        process.exitCode = result.exitCode;
      },
    )
    .command(
      'ctl <action> [target]',
      'Talk to a running gateway\'s admin listener: status, sessions, upstreams, cordon NAME, uncordon NAME, disconnect ID, log-level LEVEL, reload',
      (y) =>
        y
          .usage('Usage: $0 ctl <status|sessions|upstreams|cordon NAME|uncordon NAME|disconnect ID|log-level LEVEL|reload> [options]')
          .positional('action', { type: 'string', choices: CTL_ACTIONS, describe: 'What to show or do', demandOption: true })
          .positional('target', { type: 'string', describe: 'The upstream NAME, session ID or log LEVEL' })
          .option('admin', { type: 'string', requiresArg: true, describe: 'Admin listener, http://HOST:PORT or HOST:PORT (default: the config\'s admin)' })
          .option('token', { type: 'string', requiresArg: true, describe: 'Bearer token (default: the config\'s admin_token)' })
          .option('token-file', { type: 'string', requiresArg: true, describe: 'File holding the bearer token' })
          .option('config', { alias: 'c', type: 'string', requiresArg: true, describe: 'proxy.yaml to read the admin listener and token from (default ./proxy.yaml if present)' })
          .option('json', { type: 'boolean', describe: 'Print the server\'s JSON instead of a table' }),
      async (args) => {
        for (const key of ['admin', 'token', 'token-file', 'config', 'target'] as const) {
          if (Array.isArray(args[key])) fail(`--${key} given more than once; give it once`);
        }
        process.exitCode = await ctl(
          {
            action: args.action as CtlAction,
            ...(args.target !== undefined ? { arg: String(args.target) } : {}),
            ...(args.admin !== undefined ? { admin: args.admin } : {}),
            ...(args.token !== undefined ? { token: args.token } : {}),
            ...(args['token-file'] !== undefined ? { tokenFile: args['token-file'] } : {}),
            ...(args.config !== undefined ? { config: args.config } : {}),
            json: args.json === true,
          },
          { stdout: process.stdout, stderr: process.stderr },
        );
      },
    )
    .command(
      'peers',
      'Print the peer table of peer discovery: from the running instance (GET /peers), else from discovery.peers_file',
      (y) =>
        y
          .usage('Usage: $0 peers [--config FILE] [--admin HOST:PORT] [--json]')
          .option('config', { alias: 'c', type: 'string', describe: 'proxy.yaml naming the admin listener and the peers file', requiresArg: true })
          .option('admin', { type: 'string', describe: "The instance's admin listener HOST:PORT (default: the config's admin)", requiresArg: true })
          .option('json', { type: 'boolean', default: false, describe: 'Print the rows as JSON' }),
      async (args) => {
        const result = await peersCommand({ configFile: args.config ?? null, ...(args.admin !== undefined ? { admin: args.admin } : {}), json: args.json });
        for (const line of result.lines) (result.exitCode === 0 ? process.stdout : process.stderr).write(`${line}\n`);
        process.exitCode = result.exitCode;
      },
    )
    .demandCommand(1, 'name a command: serve, check-config, ctl or peers')
    .recommendCommands()
    .strict()
    .help()
    .alias('help', 'h')
    .version(GATEWAY_VERSION)
    .alias('version', 'V')
    .epilogue('Configuration reference: docs/configuration.md')
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    .fail((message, err) => {
      // yargs reports its own parse errors as YError; anything else thrown by a handler is a bug.
      if (err !== undefined && err !== null && !(err instanceof UsageError) && err.name !== 'YError') throw err;
      fail(message ?? err.message);
    });

  await cli.parseAsync();
}

await main(hideBin(process.argv));

import { Option, type Command } from 'commander';
import { InterruptedError, UserInputError } from '../../errors.ts';

interface LocalFlags {
  port: string;
  databaseUrl?: string;
  externalApi?: string;
  seed: string;
  seedTenant: string;
  env: string;
  envDir: string;
  stateDir: string;
  pollWait?: string;
  accessLog?: boolean;
  handlersModule?: string;
  templatesDir: string;
}

interface TokenFlags {
  tenant: string;
  role: string[];
  ttl: string;
  subject?: string;
  stateDir: string;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

function nonNegativeInt(flag: string, text: string, max: number): number {
  if (!/^\d+$/.test(text) || Number(text) > max) throw new UserInputError(`${flag}: must be a whole number from 0 to ${max}, got "${text}"`);
  return Number(text);
}

function httpUrl(flag: string, text: string): string {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new UserInputError(`${flag}: "${text}" is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UserInputError(`${flag}: must be an http(s) URL, got "${text}"`);
  return text;
}

export function registerLocal(program: Command): void {
  const local = program
    .command('local')
    .description('Run the Catalog API on 127.0.0.1 as API Gateway would: real handlers, real authorizer, PostgreSQL, local audit sink and poller')
    .option('--port <port>', 'port on 127.0.0.1 (0 picks a free one)', '8080')
    .option('--database-url <url>', 'PostgreSQL to use (default: $DATABASE_URL, else a throwaway cluster started, migrated and removed on exit)')
    .option('--external-api <url>', "base URL of the external catalog API the poller checks (default: the env's poller.externalApiBaseUrl)")
    .option('--seed <n>', 'make sure at least n datasets exist', '0')
    .option('--seed-tenant <id>', 'tenant the seeded datasets belong to', 'demo')
    .option('--env <name>', 'env file whose app settings, stage variables and state machine are used', 'dev')
    .option('--env-dir <dir>', 'directory holding <env>.yaml files', 'envs')
    .option('--state-dir <dir>', 'where the signing key and audit.jsonl live', '.catalogctl/local')
    .option('--poll-wait <seconds>', "replace the poller's Wait and retry intervals (default: the env's)")
    .option('--access-log', 'print one JSON access-log line per request on stderr')
    .option('--templates-dir <dir>', 'rendered output holding <env>/state_machine.json', 'templates-out')
    .addOption(new Option('--handlers-module <file>', 'load handlers from this module instead of src/handlers').hideHelp())
    .addHelpText(
      'after',
      `
The poller sends $CATALOGCTL_EXTERNAL_API_TOKEN to the external API (a token minted with the
local key when unset). Ctrl-C stops the server, any running poller executions and the throwaway database (exit 130).
Local endpoints: GET /_local/info, /_local/jwks.json, /_local/audit?contains=<text>,
/_local/authorizer/decisions, /_local/executions.

Examples:
  $ catalogctl local --seed 1000
  $ catalogctl local --port 9000 --database-url postgres://me@127.0.0.1/catalog --external-api http://127.0.0.1:7000 --seed-tenant acme
  $ TOKEN=$(catalogctl local token --tenant demo --role reader)
  $ curl -H "Authorization: Bearer $TOKEN" 'http://127.0.0.1:8080/storage/v1/catalog/datasets?limit=5'`,
    )
    .action(async (flags: LocalFlags) => {
      const port = nonNegativeInt('--port', flags.port, 65535);
      const seed = nonNegativeInt('--seed', flags.seed, 10_000_000);
      const pollWaitMs = flags.pollWait === undefined ? undefined : nonNegativeInt('--poll-wait', flags.pollWait, 3600) * 1000;
      const databaseUrl = flags.databaseUrl || process.env.DATABASE_URL || undefined;
      const externalApi = flags.externalApi === undefined ? undefined : httpUrl('--external-api', flags.externalApi);
      const { startLocal } = await import('../../local/server.ts');
      const { handlersModuleRuntime, realRuntime } = await import('../../local/runtime.ts');
      const runtime = flags.handlersModule ? await handlersModuleRuntime(flags.handlersModule) : await realRuntime(flags.env, flags.envDir, { seedTenant: flags.seedTenant, templatesDir: flags.templatesDir });

      // Ctrl-C during start-up still removes whatever was started.
      let stopRequested!: () => void;
      const stopSignal = new Promise<void>((r) => (stopRequested = r));
      const onSignal = (): void => stopRequested();
      process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
      const err = (line: string): boolean => process.stderr.write(line + '\n');
      // A pooled connection the database drops (restart, shutdown) surfaces as an 'error' event on
      // an idle pg client; a dev server reports it and keeps serving, as a new Lambda container would.
      let stopping = false;
      process.on('uncaughtException', (e: Error & { code?: string }) => {
        if (e.code === '57P01' || e.code === '57P02' || e.code === '57P03' || e.code === 'ECONNRESET' || e.code === 'ECONNREFUSED') {
          if (!stopping) err(`warning: database connection lost: ${e.message}`);
          return;
        }
        err(`catalogctl: internal error: ${e.stack ?? e.message}`);
        process.exit(1);
      });
      try {
        const server = await startLocal({
          port,
          databaseUrl,
          externalApi: externalApi ?? runtime.externalApi,
          externalApiToken: process.env.CATALOGCTL_EXTERNAL_API_TOKEN || undefined,
          app: runtime.app,
          stageVariables: runtime.stageVariables,
          seed,
          stateDir: flags.stateDir,
          stateMachine: runtime.stateMachine,
          pollWaitMs,
          loadHandlers: runtime.loadHandlers,
          seedDatasets: runtime.seedDatasets,
          reporter: { report: (e) => err(`${e.level === 'warn' ? 'warning: ' : ''}${e.message}`) },
          onAccess: flags.accessLog ? (a) => err(JSON.stringify(a)) : undefined,
        });
        process.stdout.write(
          [
            `Catalog API   ${server.url}/storage/v1/catalog/datasets`,
            `database      ${server.ownsDatabase ? server.databaseUrl + ' (throwaway, removed on exit)' : 'from --database-url / DATABASE_URL'}`,
            `audit sink    ${server.auditFile}  (also GET ${server.url}/_local/audit)`,
            `poller        ${server.poller ? `${runtime.stateMachineSource ?? 'state machine'} runs locally; executions at ${server.url}/_local/executions` : `off: no ${flags.templatesDir}/${flags.env}/state_machine.json (run catalogctl render --env ${flags.env})`}`,
            `token         catalogctl local token --tenant <id> --role <role> --state-dir ${flags.stateDir}`,
            'Ctrl-C to stop.',
            '',
          ].join('\n'),
        );
        await stopSignal;
        stopping = true;
        err('stopping…');
        await server.stop();
      } finally {
        process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
      }
      // Idle keep-alive sockets of handler pools must not hold the process open after a clean stop.
      setTimeout(() => process.exit(130), 2000).unref();
      throw new InterruptedError('local: stopped');
    });

  local
    .command('token')
    .description("Print a JWT signed by the local key, accepted by `catalogctl local`'s authorizer")
    .requiredOption('--tenant <id>', 'tenant id claim')
    .option('--role <role>', 'role claim (repeatable)', collect, [])
    .option('--ttl <duration>', 'lifetime: seconds, or 15m, 2h, 1d', '1h')
    .option('--subject <sub>', 'subject claim (default local:<tenant>)')
    .addHelpText(
      'after',
      `
The key is created on first use and kept in \`local\`'s --state-dir (default .catalogctl/local,
mode 0600), so tokens survive restarts: \`catalogctl local token --state-dir <dir> …\` for another.

Examples:
  $ catalogctl local token --tenant acme --role reader
  $ catalogctl local token --tenant acme --role owner --role platform --ttl 15m`,
    )
    // --state-dir is `local`'s option; commander hands it to the parent wherever it appears.
    .action(async (_: unknown, cmd: Command) => {
      const flags = cmd.optsWithGlobals<TokenFlags>();
      if (!/^[A-Za-z0-9_.-]{1,128}$/.test(flags.tenant)) throw new UserInputError(`--tenant: "${flags.tenant}" must be 1–128 letters, digits, . _ -`);
      const badRole = flags.role.find((r) => !/^[a-z][a-z0-9_-]{0,63}$/.test(r));
      if (badRole !== undefined) throw new UserInputError(`--role: "${badRole}" must be a lower-case letter then up to 63 of a-z 0-9 _ -`);
      if (flags.role.length === 0) throw new UserInputError('--role: give at least one role, e.g. --role reader');
      const { loadOrCreateKey, mintToken, parseTtl } = await import('../../local/keys.ts');
      const ttlSeconds = parseTtl(flags.ttl);
      const key = await loadOrCreateKey(flags.stateDir);
      process.stdout.write((await mintToken(key, { tenant: flags.tenant, roles: flags.role, ttlSeconds, subject: flags.subject })) + '\n');
    });
}

import { Option, type Command } from 'commander';
import { InterruptedError, UserInputError } from '../../errors.ts';
import { cannotConnect, databaseUrl as checkDatabaseUrl, httpUrl, wholeNumber } from '../flag-checks.ts';

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
local key when unset); the banner names the external API it calls, and each failed poll step is
logged with the URL and the error. Ctrl-C stops the server, any running poller executions and the
throwaway database (exit 130).
Local endpoints: GET /_local/info, /_local/jwks.json, /_local/audit?contains=<text>,
/_local/authorizer/decisions, /_local/executions.
Exit codes: 130 stopped with Ctrl-C/SIGTERM, 2 bad flags, a busy port, an unreachable
--database-url or no PostgreSQL to start.

Examples:
  $ catalogctl local --seed 1000
  $ catalogctl local --port 9000 --database-url postgres://me@127.0.0.1/catalog --external-api http://127.0.0.1:7000 --seed-tenant acme
  $ catalogctl local --port 0 --poll-wait 1 --external-api http://127.0.0.1:7000   # a free port, fast polling
  $ TOKEN=$(catalogctl local token --tenant demo --role reader)
  $ curl -H "Authorization: Bearer $TOKEN" 'http://127.0.0.1:8080/storage/v1/catalog/datasets?limit=5'`,
    )
    .action((flags: LocalFlags) => runLocal(flags));

  local
    .command('token')
    .description("Print a JWT signed by the local key, accepted by `catalogctl local`'s authorizer")
    .requiredOption('--tenant <id>', 'tenant id claim')
    .option('--role <role>', 'role claim (repeatable): reader, owner or platform', collect, [])
    .option('--ttl <duration>', 'lifetime: seconds, or 15m, 2h, 1d', '1h')
    .option('--subject <sub>', 'subject claim (default local:<tenant>)')
    .addHelpText(
      'after',
      `
Roles: reader (reads only), owner (writes its own datasets), platform (writes any dataset).
The key is created on first use and kept in \`local\`'s --state-dir (default .catalogctl/local,
mode 0600), so tokens survive restarts: \`catalogctl local token --state-dir <dir> …\` for another.

Examples:
  $ catalogctl local token --tenant acme --role reader
  $ catalogctl local token --tenant acme --role owner --role platform --ttl 15m
  $ export CATALOGCTL_TOKEN=$(catalogctl local token --tenant demo --role platform)`,
    )
    // --state-dir is `local`'s option; commander hands it to the parent wherever it appears.
    .action(async (_: unknown, cmd: Command) => {
      const flags = cmd.optsWithGlobals<TokenFlags>();
      if (!/^[A-Za-z0-9_.-]{1,128}$/.test(flags.tenant)) throw new UserInputError(`--tenant: "${flags.tenant}" must be 1–128 letters, digits, . _ -`);
      if (flags.role.length === 0) throw new UserInputError('--role: give at least one role, e.g. --role reader');
      const { KNOWN_ROLES } = await import('../../handlers/shared/roles.ts');
      const unknown = flags.role.find((r) => !KNOWN_ROLES.includes(r));
      if (unknown !== undefined) throw new UserInputError(`--role: "${unknown}" is not a role the handlers know: ${KNOWN_ROLES.join(', ')}`);
      const { loadOrCreateKey, mintToken, parseTtl } = await import('../../local/keys.ts');
      const ttlSeconds = parseTtl(flags.ttl);
      const key = await loadOrCreateKey(flags.stateDir);
      process.stdout.write((await mintToken(key, { tenant: flags.tenant, roles: flags.role, ttlSeconds, subject: flags.subject })) + '\n');
    });
}

/** Checks the flags, starts the server, prints the banner, serves until Ctrl-C/SIGTERM, stops (exit 130). */
async function runLocal(flags: LocalFlags): Promise<never> {
  const port = wholeNumber('--port', flags.port, 0, 65535);
  const seed = wholeNumber('--seed', flags.seed, 0, 10_000_000);
  const pollWaitMs = flags.pollWait === undefined ? undefined : wholeNumber('--poll-wait', flags.pollWait, 0, 3600) * 1000;
  const dbFlag = flags.databaseUrl ? '--database-url' : 'DATABASE_URL';
  const databaseUrl = flags.databaseUrl || process.env.DATABASE_URL || undefined;
  if (databaseUrl) checkDatabaseUrl(dbFlag, databaseUrl);
  const externalApi = flags.externalApi === undefined ? undefined : httpUrl('--external-api', flags.externalApi);
  const { startLocal } = await import('../../local/server.ts');
  const { handlersModuleRuntime, realRuntime } = await import('../../local/runtime.ts');
  const { cliReporter, writeErr, writeOut } = await import('../output.ts');
  const runtime = flags.handlersModule ? await handlersModuleRuntime(flags.handlersModule) : await realRuntime(flags.env, flags.envDir, { seedTenant: flags.seedTenant, templatesDir: flags.templatesDir });

  // Ctrl-C during start-up still removes whatever was started.
  let stopRequested!: () => void;
  const stopSignal = new Promise<void>((r) => (stopRequested = r));
  const onSignal = (): void => stopRequested();
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  const state = { stopping: false };
  keepServingOnLostConnections(state, writeErr);
  const printer = cliReporter();
  try {
    const server = await startLocal({
      port,
      databaseUrl,
      externalApi: externalApi ?? runtime.externalApi,
      externalApiToken: process.env.CATALOGCTL_EXTERNAL_API_TOKEN || undefined,
      app: runtime.app,
      stageVariables: runtime.stageVariables,
      functionTimeoutsMs: runtime.functionTimeoutsMs,
      successLogSampleRate: runtime.successLogSampleRate,
      seed,
      stateDir: flags.stateDir,
      stateMachine: runtime.stateMachine,
      pollWaitMs,
      loadHandlers: runtime.loadHandlers,
      seedDatasets: runtime.seedDatasets,
      reporter: printer,
      onAccess: flags.accessLog ? (a) => writeErr(JSON.stringify(a) + '\n') : undefined,
    }).catch((err: unknown) => {
      const why = databaseUrl ? cannotConnect(err) : undefined;
      throw why ? new UserInputError(`${dbFlag}: cannot connect: ${why}`) : err;
    });
    writeOut(banner(server, flags, externalApi ? '--external-api' : runtime.externalApi ? `${flags.envDir}/${flags.env}.yaml poller.externalApiBaseUrl` : undefined, runtime.stateMachineSource));
    await stopSignal;
    state.stopping = true;
    writeErr('stopping…\n');
    await server.stop();
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  }
  // Idle keep-alive sockets of handler pools must not hold the process open after a clean stop.
  setTimeout(() => process.exit(130), 2000).unref();
  throw new InterruptedError('local: stopped');
}

/**
 * A pooled connection the database drops (restart, shutdown) surfaces as an 'error' event on an
 * idle pg client; a dev server reports it and keeps serving, as a new Lambda container would.
 */
function keepServingOnLostConnections(state: { stopping: boolean }, writeErr: (s: string) => void): void {
  process.on('uncaughtException', (e: Error & { code?: string }) => {
    if (e.code === '57P01' || e.code === '57P02' || e.code === '57P03' || e.code === 'ECONNRESET' || e.code === 'ECONNREFUSED') {
      if (!state.stopping) writeErr(`warning: database connection lost: ${e.message}\n`);
      return;
    }
    writeErr(`catalogctl: internal error: ${e.stack ?? e.message}\n`);
    process.exit(1);
  });
}

function banner(
  server: import('../../local/server.ts').LocalServer,
  flags: LocalFlags,
  externalApiFrom: string | undefined,
  stateMachineSource: string | undefined,
): string {
  const external = !server.poller
    ? 'not called: the poller is off'
    : externalApiFrom
      ? `${server.externalApi}  (from ${externalApiFrom})`
      : `${server.externalApi}  (none given, so every poll fails: pass --external-api)`;
  return [
    `Catalog API   ${server.url}/storage/v1/catalog/datasets`,
    `database      ${server.ownsDatabase ? server.databaseUrl + ' (throwaway, removed on exit)' : 'from --database-url / DATABASE_URL'}`,
    `audit sink    ${server.auditFile}  (also GET ${server.url}/_local/audit)`,
    `poller        ${server.poller ? `${stateMachineSource ?? 'state machine'} runs locally; executions at ${server.url}/_local/executions` : `off: no ${flags.templatesDir}/${flags.env}/state_machine.json (run catalogctl render --env ${flags.env})`}`,
    `external API  ${external}`,
    `token         catalogctl local token --tenant <id> --role <role> --state-dir ${flags.stateDir}`,
    'Ctrl-C to stop.',
    '',
  ].join('\n');
}

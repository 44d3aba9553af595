/**
 * The AWS flags every AWS command takes (`--region`, `--profile`, `--endpoint-url`), parsed and
 * checked here once, so a malformed value is one line and exit 2 before any SDK call — not an SDK
 * error such as `Unknown` from deep inside a request.
 */
import type { Command } from 'commander';
import { UserInputError } from '../errors.ts';

export interface AwsFlagValues {
  region?: string;
  profile?: string;
  endpointUrl?: string;
}

/**
 * An AWS endpoint: http or https, a host, an optional port, nothing else that could carry a secret
 * (credentials) or be ignored silently (query, fragment). `source` names where it came from.
 */
export function checkEndpointUrl(text: string, source = '--endpoint-url'): string {
  let u: URL | undefined;
  try {
    u = new URL(text);
  } catch {
    u = undefined;
  }
  // `localhost:4566` parses as scheme "localhost:" — the usual slip, so say what was meant.
  if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) {
    const hint = /^[\w.-]+(:\d+)?(\/.*)?$/.test(text) ? `; did you mean http://${text}?` : '';
    throw new UserInputError(`${source}: "${text}" is not an http:// or https:// URL${hint}`);
  }
  if (!u.hostname) throw new UserInputError(`${source}: "${text}" has no host`);
  if (u.username || u.password) throw new UserInputError(`${source}: credentials do not belong in the endpoint URL; use --profile or the AWS credential chain`);
  if (u.search || u.hash) throw new UserInputError(`${source}: "${text}" must not have a query or fragment`);
  // new URL() drops a port equal to the scheme's default and rejects one over 65535; 0 is left.
  if (u.port === '0') throw new UserInputError(`${source}: port 0 is not a port an endpoint can listen on`);
  return text;
}

/** AWS region names: `us-east-1`, `eu-central-2`, `us-gov-west-1`, `ap-southeast-7`. */
export function checkRegion(text: string, source = '--region'): string {
  if (!/^[a-z]{2}(-[a-z]+)+-\d{1,2}$/.test(text)) throw new UserInputError(`${source}: "${text}" is not an AWS region name like us-east-1`);
  return text;
}

/**
 * Adds the three flags with their checks, and checks AWS_ENDPOINT_URL (which the SDK reads by
 * itself) when `--endpoint-url` is not given.
 */
export function addAwsFlags(cmd: Command): Command {
  return cmd
    .option('--region <region>', "AWS region (default: the env file's)", (v: string) => checkRegion(v))
    .option('--profile <name>', 'AWS shared-config profile')
    .option('--endpoint-url <url>', 'AWS endpoint, e.g. a local emulator http://127.0.0.1:5000 (or AWS_ENDPOINT_URL)', (v: string) => checkEndpointUrl(v))
    .hook('preAction', (_: Command, action: Command) => {
      const fromEnv = process.env.AWS_ENDPOINT_URL;
      if (action.opts<AwsFlagValues>().endpointUrl === undefined && fromEnv) checkEndpointUrl(fromEnv, 'AWS_ENDPOINT_URL');
    });
}

/**
 * The secrets of catalog-secrets that an operator sets by hand (`catalogctl secrets set`), and how
 * `status` tells that one still holds the value CloudFormation generated for it.
 *
 * The contract with the catalog-secrets template:
 * - each operator-set secret is an AWS::SecretsManager::Secret whose ARN is the stack Output
 *   `<LogicalId>Arn`;
 * - its GenerateSecretString.SecretStringTemplate carries the key PLACEHOLDER_KEY, so the value
 *   CloudFormation generates says it is a placeholder; `secrets set` writes a value without that
 *   key, so "still a placeholder" means exactly "never set by an operator".
 * The value itself is never printed, logged, or passed in argv.
 */
import type { CloudFormationApi } from '../aws/cloudformation.ts';
import type { SecretsManagerApi } from '../aws/secretsmanager.ts';
import { stackName, type EnvConfig } from '../config/types.ts';
import { DeployError, UserInputError } from '../errors.ts';

/** The key in a generated secret's JSON that marks it as a placeholder nobody has set yet. */
export const PLACEHOLDER_KEY = 'catalogctl:placeholder';

export interface OperatorSecret {
  logicalId: string;
  /** The Output of catalog-secrets holding its ARN. */
  output: string;
  /** The JSON key the value is stored under (what the reading handler takes). */
  jsonKey: string;
  /** A value spanning lines is refused (e.g. a bearer token, which goes into an HTTP header). */
  singleLine: boolean;
  what: string;
}

export const OPERATOR_SECRETS: readonly OperatorSecret[] = [
  {
    logicalId: 'PollerTokenSecret',
    output: 'PollerTokenSecretArn',
    jsonKey: 'token',
    singleLine: true,
    what: 'the bearer token the status poller presents to the external catalog API (read by check-catalog-status as {"token": …})',
  },
];

/** Secrets of catalog-secrets that are not set by hand, and why. */
export const NOT_OPERATOR_SET: Readonly<Record<string, string>> = {
  AppDbSecret: 'it is the application database user, rotated by Secrets Manager (multi-user rotation); setting it by hand would break the database login',
  JwtKeysSecret:
    'JWT verification keys are public and the authorizer fetches them from auth.jwksUri; nothing read it, and catalog-secrets no longer creates it',
};

/** Secrets Manager's limit on a SecretString. */
export const MAX_SECRET_BYTES = 65_536;

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length]![b.length]!;
}

/** The operator-set secret of that name, or exit 2 naming the right one. */
export function findOperatorSecret(name: string): OperatorSecret {
  const s = OPERATOR_SECRETS.find((x) => x.logicalId === name);
  if (s) return s;
  if (name in NOT_OPERATOR_SET) throw new UserInputError(`secrets set: ${name} is not set by hand: ${NOT_OPERATOR_SET[name]}`);
  const known = OPERATOR_SECRETS.map((x) => x.logicalId);
  const typed = name.toLowerCase();
  // Close in spelling, or the start of the name (`pollertoken` for PollerTokenSecret).
  const near = [...known, ...Object.keys(NOT_OPERATOR_SET)]
    .map((k) => ({ k, d: k.toLowerCase().startsWith(typed) && typed.length >= 4 ? 0 : distance(typed, k.toLowerCase()) }))
    .filter((x) => x.d <= Math.max(2, Math.floor(x.k.length / 3)))
    .sort((a, b) => a.d - b.d)[0];
  const hint = near ? `; did you mean ${near.k}?` : '';
  throw new UserInputError(`secrets set: unknown secret "${name}"${hint} (secrets set by hand: ${known.join(', ')})`);
}

/**
 * The value as given on stdin. A single trailing newline (what `echo` and most editors add) is
 * removed, once: a value that really ends in a newline needs two. Empty, over Secrets Manager's
 * size limit, or (for a single-line secret) spanning lines is exit 2.
 */
export function normalizeSecretValue(secret: OperatorSecret, raw: string): string {
  const value = raw.endsWith('\r\n') ? raw.slice(0, -2) : raw.endsWith('\n') ? raw.slice(0, -1) : raw;
  if (value.length === 0) throw new UserInputError(`secrets set: the value for ${secret.logicalId} is empty; give it on stdin (e.g. \`catalogctl secrets set … < token.txt\`)`);
  if (secret.singleLine && /[\r\n]/.test(value))
    throw new UserInputError(`secrets set: the value for ${secret.logicalId} spans several lines; it must be one line (one trailing newline is removed)`);
  if (Buffer.byteLength(secretString(secret, value)) > MAX_SECRET_BYTES) throw new UserInputError(`secrets set: the value for ${secret.logicalId} is over Secrets Manager's ${MAX_SECRET_BYTES}-byte limit`);
  return value;
}

/** What is stored: the value under its key, and no placeholder marker. */
export function secretString(secret: OperatorSecret, value: string): string {
  return JSON.stringify({ [secret.jsonKey]: value });
}

/** Whether a stored value is still the generated placeholder. */
export function isPlaceholder(stored: string | undefined): boolean {
  if (stored === undefined) return false;
  try {
    const parsed = JSON.parse(stored) as unknown;
    return typeof parsed === 'object' && parsed !== null && PLACEHOLDER_KEY in parsed;
  } catch {
    return false;
  }
}

/** The ARN of an operator-set secret, from the catalog-secrets stack's Outputs. */
export async function secretArn(config: EnvConfig, cfn: Pick<CloudFormationApi, 'describeStack'>, secret: OperatorSecret): Promise<string> {
  const name = stackName(config, 'catalog-secrets');
  const stack = await cfn.describeStack(name);
  if (!stack) throw new DeployError(`secrets set: stack ${name} does not exist; deploy it first (catalogctl deploy --env ${config.name})`);
  const arn = stack.outputs[secret.output];
  if (!arn) throw new DeployError(`secrets set: stack ${name} (${stack.status}) has no ${secret.output} output; deploy it first`);
  return arn;
}

/**
 * Puts the value as the secret's new current version; returns the ARN and version id (never the
 * value). The secret is found first, so nobody types a value into a command that then refuses.
 */
export async function setSecret(
  config: EnvConfig,
  apis: { cloudformation: Pick<CloudFormationApi, 'describeStack'>; secrets: SecretsManagerApi },
  secret: OperatorSecret,
  readValue: () => Promise<string>,
): Promise<{ arn: string; versionId?: string }> {
  const arn = await secretArn(config, apis.cloudformation, secret);
  const value = normalizeSecretValue(secret, await readValue());
  const versionId = await apis.secrets.putSecretString(arn, secretString(secret, value));
  return { arn, versionId };
}

export type PlaceholderFinding = { secret: string; state: 'placeholder' } | { secret: string; state: 'unreadable'; reason: string };

/**
 * The operator-set secrets that still hold their generated placeholder (or could not be read), for
 * `status`. Nothing when catalog-secrets does not exist yet.
 */
export async function placeholderSecrets(
  config: EnvConfig,
  apis: { cloudformation: Pick<CloudFormationApi, 'describeStack'>; secrets: SecretsManagerApi },
): Promise<PlaceholderFinding[]> {
  const stack = await apis.cloudformation.describeStack(stackName(config, 'catalog-secrets'));
  if (!stack) return [];
  const findings: PlaceholderFinding[] = [];
  for (const s of OPERATOR_SECRETS) {
    const arn = stack.outputs[s.output];
    if (!arn) continue;
    try {
      if (isPlaceholder(await apis.secrets.getSecretString(arn))) findings.push({ secret: s.logicalId, state: 'placeholder' });
    } catch (err) {
      const e = err as { name?: string; message?: string };
      findings.push({ secret: s.logicalId, state: 'unreadable', reason: `${e.name ?? 'Error'}: ${(e.message ?? '').replace(/\s+/g, ' ').slice(0, 160)}` });
    }
  }
  return findings;
}

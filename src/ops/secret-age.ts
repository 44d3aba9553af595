/**
 * How old each secret's value in use is, for `status`: a warning when one is older than it should
 * be. Every secret here rotates except the poller's token, which the external catalog service
 * issues (AWS cannot rotate it: an operator gets a new one and runs `catalogctl secrets set`), so
 * it is held to the env's rotation period (`database.secretRotationDays`). A rotated secret older
 * than its own schedule (plus a day for the rotation window) means its rotation is failing.
 */
import type { CloudFormationApi } from '../aws/cloudformation.ts';
import type { SecretInfo, SecretsInspectApi } from '../aws/secretsmanager.ts';
import { stackName, type EnvConfig, type StackName } from '../config/types.ts';

const DAY_MS = 86_400_000;

interface Watched {
  name: string;
  stack: StackName;
  output: string;
  /** Who rotates it. */
  rotatedBy: 'secrets-manager' | 'rds' | 'operator';
}

export const WATCHED_SECRETS: readonly Watched[] = [
  { name: 'AppDbSecret', stack: 'catalog-secrets', output: 'AppDbSecretArn', rotatedBy: 'secrets-manager' },
  { name: 'DbMasterSecret', stack: 'catalog-storage', output: 'DbMasterSecretArn', rotatedBy: 'rds' },
  { name: 'PollerTokenSecret', stack: 'catalog-secrets', output: 'PollerTokenSecretArn', rotatedBy: 'operator' },
];

export type SecretAgeFinding =
  | { secret: string; state: 'ok'; ageDays: number; limitDays: number }
  | { secret: string; state: 'stale'; ageDays: number; limitDays: number; advice: string }
  | { secret: string; state: 'unreadable'; reason: string };

function advice(w: Watched, info: SecretInfo, env: string): string {
  if (w.rotatedBy === 'operator') return `the external catalog service issues it: get a new token and \`catalogctl secrets set --env ${env} ${w.name}\``;
  if (!info.rotationEnabled) return 'rotation is off for it; turn it back on (deploy the stack, or for the RDS master secret: aws rds modify-db-instance --manage-master-user-password)';
  return `its rotation is failing: see the last rotation's error (aws secretsmanager describe-secret --secret-id ${info.arn}; the rotation function's log) and retry with aws secretsmanager rotate-secret --secret-id ${info.arn}`;
}

/** The age of each watched secret that exists, judged against its limit; `now` injected for tests. */
export async function secretAges(config: EnvConfig, apis: { cloudformation: Pick<CloudFormationApi, 'describeStack'>; secrets: Pick<SecretsInspectApi, 'describe'> }, now: Date = new Date()): Promise<SecretAgeFinding[]> {
  const outputs = new Map<StackName, Record<string, string> | undefined>();
  const findings: SecretAgeFinding[] = [];
  for (const w of WATCHED_SECRETS) {
    if (!outputs.has(w.stack)) outputs.set(w.stack, (await apis.cloudformation.describeStack(stackName(config, w.stack)))?.outputs);
    const arn = outputs.get(w.stack)?.[w.output];
    if (!arn) continue;
    let info: SecretInfo;
    try {
      info = await apis.secrets.describe(arn);
    } catch (err) {
      const e = err as { name?: string; message?: string };
      findings.push({ secret: w.name, state: 'unreadable', reason: `${e.name ?? 'Error'}: ${(e.message ?? '').replace(/\s+/g, ' ').slice(0, 160)}` });
      continue;
    }
    const since = info.currentSince ?? info.lastRotated ?? info.lastChanged;
    if (!since) continue;
    const ageDays = Math.floor((now.getTime() - since.getTime()) / DAY_MS);
    // A rotated secret gets its own schedule and a day for the rotation window; the token the env's period.
    const schedule = info.rotationEnabled && info.rotationDays ? info.rotationDays : config.database.secretRotationDays;
    const limitDays = w.rotatedBy === 'operator' ? config.database.secretRotationDays : schedule + 1;
    findings.push(ageDays > limitDays ? { secret: w.name, state: 'stale', ageDays, limitDays, advice: advice(w, info, config.name) } : { secret: w.name, state: 'ok', ageDays, limitDays });
  }
  return findings;
}

/** The warning lines `status` prints for these findings (fresh secrets print nothing). */
export function secretAgeWarnings(findings: readonly SecretAgeFinding[]): string[] {
  return findings.flatMap((a) =>
    a.state === 'stale' ? [`warning: secret ${a.secret} is ${a.ageDays} days old (limit ${a.limitDays}): ${a.advice}`] : a.state === 'unreadable' ? [`warning: cannot read secret ${a.secret}'s rotation dates (${a.reason})`] : [],
  );
}

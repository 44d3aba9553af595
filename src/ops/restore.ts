/**
 * `catalogctl db restore`: the seed's recovery runbook as one command, planned in full and
 * confirmed before anything changes. Nothing here deletes data: the instance restored from is
 * kept (deletion protection on, a snapshot taken first, stopped at the end) until an operator
 * removes it (docs/operations.md).
 *
 * 1. Protect the current instance: deletion protection, a manual snapshot (waited for).
 * 2. catalog-storage with the Restore* parameters: CloudFormation creates the restored instance
 *    (RestoreDBInstanceToPointInTime, to a time or the latest restorable time when RestoreTime is empty, or RestoreDBInstanceFromDBSnapshot) in place of the current
 *    one, which its UpdateReplacePolicy Retain keeps; the read replicas are recreated from it and
 *    the proxy's target moves to it (its endpoint stays).
 * 3. A restored PostgreSQL instance comes back with the master password of the restore point and
 *    no RDS-managed secret (RDS restores manage it only for Oracle): RDS is asked to manage it
 *    again (ModifyDBInstance ManageMasterUserPassword), and the stack's DbMasterSecretArn follows.
 * 4. The app secret's host, port and masterarn move to the restored instance by a new secret
 *    version holding the same user and password: the template never regenerates it.
 * 5. catalog-secrets, catalog-service and catalog-observability are deployed ($LATEST of every
 *    function now names the restored instance; the live versions follow the secret or the proxy).
 * 6. Reconciliation, inside the VPC: `migrate` with {"reconcile": true} sets the app users'
 *    passwords (AWSCURRENT's and AWSPREVIOUS's user) as the master and counts the data;
 *    `audit-relay` with {"drain": true} re-sends every outbox event the restored database has not
 *    marked sent (events carry their event_id, so the ledger can drop ones it already has).
 * 7. The old instance is stopped, so nothing keeps writing to it.
 */
import type { CloudFormationApi } from '../aws/cloudformation.ts';
import type { InvokeResult } from '../aws/lambda.ts';
import type { DbInstanceInfo, RdsOpsApi } from '../aws/rds.ts';
import type { SecretsInspectApi } from '../aws/secretsmanager.ts';
import { stackName, type EnvConfig, type StackName } from '../config/types.ts';
import type { DeployResult } from '../deploy/stacks.ts';
import { DeployError, InterruptedError, UserInputError } from '../errors.ts';
import type { Reporter } from '../reporter.ts';

export type RestorePoint = { kind: 'time'; time: Date } | { kind: 'latest' } | { kind: 'snapshot'; id: string };

/** The catalog-storage parameters that say what the Database resource was restored from. */
export const RESTORE_PARAMETERS = ['RestoreSourceDBInstanceIdentifier', 'RestoreTime', 'RestoreDBSnapshotIdentifier'] as const;

export interface RestoreDeps {
  rds: RdsOpsApi;
  secrets: Pick<SecretsInspectApi, 'current' | 'put'>;
  cloudformation: Pick<CloudFormationApi, 'describeStack'>;
  /** Deploys these stacks as `deploy` does, with parameter values set on purpose. */
  deploy(stacks: StackName[], overrides?: Partial<Record<StackName, Record<string, string>>>): Promise<DeployResult>;
  invoke(functionName: string, payload: unknown): Promise<InvokeResult>;
  reporter: Reporter;
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
  signal?: AbortSignal;
  /** Between polls of a snapshot or an instance. */
  pollMs?: number;
}

export interface RestorePlan {
  env: string;
  point: RestorePoint;
  source: DbInstanceInfo & { earliestRestorableTime?: Date };
  /** The manual snapshot taken of the current instance before anything else. */
  snapshotBefore: string;
  overrides: Record<string, string>;
  appSecretArn: string;
  kmsKeyArn: string;
  functions: { migrate: string; auditRelay: string };
  stopOld: boolean;
  steps: string[];
}

export interface RestoreResult {
  oldInstance: { id: string; snapshot: string; stopped: boolean; stopError?: string };
  newInstance: { id: string; endpoint: string; masterSecretArn: string };
  reconcile: Record<string, unknown>;
  relay: Record<string, unknown>;
}

/** ISO-8601 with a date, a time and a zone (Z or ±hh:mm): a time without a zone is ambiguous. */
export function parseRestoreTime(text: string): Date {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/.test(text)) {
    throw new UserInputError(`--to-time: "${text}" is not an ISO-8601 time with a zone, e.g. 2026-11-30T14:05:00Z`);
  }
  const d = new Date(text);
  // Date accepts 2026-02-30 as 2 March: the calendar date must exist as written.
  const [y, m, day] = text.slice(0, 10).split('-').map(Number) as [number, number, number];
  const check = new Date(Date.UTC(y, m - 1, day));
  if (Number.isNaN(d.getTime()) || check.getUTCMonth() !== m - 1 || check.getUTCDate() !== day) throw new UserInputError(`--to-time: "${text}" is not a valid time`);
  return d;
}

/** The restore point from the flags: exactly one of --to-time, --latest, --snapshot. */
export function restorePointFromFlags(flags: { toTime?: string; latest?: boolean; snapshot?: string }): RestorePoint {
  const given = [flags.toTime !== undefined, flags.latest === true, flags.snapshot !== undefined].filter(Boolean).length;
  if (given !== 1) throw new UserInputError('db restore: give exactly one of --to-time <ISO-8601>, --latest, --snapshot <id>');
  if (flags.toTime !== undefined) return { kind: 'time', time: parseRestoreTime(flags.toTime) };
  if (flags.snapshot !== undefined) {
    // RDS snapshot identifiers: letters, digits and hyphens (manual), `rds:` for automated ones.
    if (!/^(rds:)?[A-Za-z][A-Za-z0-9-]{0,254}$/.test(flags.snapshot) || /--|-$/.test(flags.snapshot)) throw new UserInputError(`--snapshot: "${flags.snapshot}" is not an RDS DB snapshot identifier`);
    return { kind: 'snapshot', id: flags.snapshot };
  }
  return { kind: 'latest' };
}

const stamp = (d: Date) => d.toISOString().replace(/[-:T]/g, '').slice(0, 14);

export function describePoint(p: RestorePoint): string {
  return p.kind === 'time' ? `point in time ${p.time.toISOString()}` : p.kind === 'latest' ? 'the latest restorable time' : `snapshot ${p.id}`;
}

async function stackOutputs(cfn: RestoreDeps['cloudformation'], config: EnvConfig, stack: StackName, needed: string[]) {
  const name = stackName(config, stack);
  const s = await cfn.describeStack(name);
  if (!s) throw new DeployError(`db restore: stack ${name} does not exist; there is nothing to restore (deploy the env first)`);
  if (/_IN_PROGRESS$|FAILED$|^ROLLBACK_COMPLETE$/.test(s.status)) throw new DeployError(`db restore: stack ${name} is ${s.status}; it must be in a completed state before a restore`);
  const missing = needed.filter((k) => !s.outputs[k]);
  if (missing.length) throw new DeployError(`db restore: stack ${name} has no ${missing.join(', ')} output(s); deploy it with this version of catalogctl first`);
  return s;
}

/** Reads everything, checks the restore point, and says what will happen; changes nothing. */
export async function planRestore(config: EnvConfig, deps: RestoreDeps, point: RestorePoint, opts: { stopOld?: boolean } = {}): Promise<RestorePlan> {
  const now = (deps.now ?? (() => new Date()))();
  const storage = await stackOutputs(deps.cloudformation, config, 'catalog-storage', ['DbInstanceIdentifier', 'DbMasterSecretArn', 'DbKmsKeyArn']);
  const secrets = await stackOutputs(deps.cloudformation, config, 'catalog-secrets', ['AppDbSecretArn']);
  const service = await stackOutputs(deps.cloudformation, config, 'catalog-service', ['FunctionNameMigrate', 'FunctionNameAuditRelay']);
  const missingParams = RESTORE_PARAMETERS.filter((p) => !(p in storage.parameters));
  if (missingParams.length) throw new DeployError(`db restore: stack ${storage.name} has no ${missingParams.join(', ')} parameter(s): deploy catalog-storage with this version of catalogctl first`);
  const id = storage.outputs.DbInstanceIdentifier!;
  const info = await deps.rds.describeInstance(id);
  if (!info) throw new DeployError(`db restore: DB instance ${id} (catalog-storage's DbInstanceIdentifier) does not exist`);
  if (info.status !== 'available') throw new DeployError(`db restore: DB instance ${id} is ${info.status}; it must be available to snapshot it before the restore`);
  let earliest: Date | undefined;
  if (point.kind !== 'snapshot') {
    if (info.backupRetentionDays < 1) throw new UserInputError(`db restore: ${id} keeps no automated backups (BackupRetentionPeriod 0): only --snapshot can restore it`);
    earliest = await deps.rds.earliestRestorableTime(id);
    if (!info.latestRestorableTime) throw new DeployError(`db restore: RDS reports no latest restorable time for ${id} yet (its first backup is not finished)`);
  }
  if (point.kind === 'time') {
    const latest = info.latestRestorableTime!;
    if (point.time.getTime() > now.getTime()) throw new UserInputError(`--to-time: ${point.time.toISOString()} is in the future`);
    if (point.time.getTime() > latest.getTime()) throw new UserInputError(`--to-time: ${point.time.toISOString()} is after ${id}'s latest restorable time ${latest.toISOString()} (use --latest for that)`);
    if (earliest && point.time.getTime() < earliest.getTime())
      throw new UserInputError(`--to-time: ${point.time.toISOString()} is before ${id}'s earliest restorable time ${earliest.toISOString()} (backups are kept ${info.backupRetentionDays} days)`);
  }
  if (point.kind === 'snapshot') {
    const snap = await deps.rds.describeSnapshot(point.id);
    if (!snap) throw new UserInputError(`--snapshot: no DB snapshot ${point.id} in this account and region`);
    if (snap.status !== 'available') throw new UserInputError(`--snapshot: ${point.id} is ${snap.status}, not available`);
    if (snap.engine !== 'postgres') throw new UserInputError(`--snapshot: ${point.id} is a ${snap.engine ?? 'unknown'} snapshot, not postgres`);
    if (!snap.encrypted) throw new UserInputError(`--snapshot: ${point.id} is not encrypted; the database must stay encrypted at rest`);
  }
  const overrides: Record<string, string> = {
    RestoreSourceDBInstanceIdentifier: point.kind === 'snapshot' ? '' : id,
    RestoreTime: point.kind === 'time' ? point.time.toISOString().replace(/\.\d{3}Z$/, 'Z') : '',
    RestoreDBSnapshotIdentifier: point.kind === 'snapshot' ? point.id : '',
    // Until RDS manages the restored instance's master password, the Output keeps naming the current secret.
    RestoredMasterSecretArn: storage.outputs.DbMasterSecretArn!,
  };
  if (RESTORE_PARAMETERS.every((k) => (storage.parameters[k] ?? '') === overrides[k]))
    throw new UserInputError(`db restore: ${storage.name} already holds this restore (${describePoint(point)}); nothing would change`);
  const snapshotBefore = `${id}-before-restore-${stamp(now)}`.replace(/--+/g, '-').slice(0, 255);
  const stopOld = opts.stopOld !== false;
  const steps = [
    `deletion protection on ${id}${info.deletionProtection ? ' (already on)' : ''}, then a manual snapshot ${snapshotBefore}`,
    `${storage.name}: a new DB instance restored from ${describePoint(point)} replaces ${id} in the stack; ${id} is kept (UpdateReplacePolicy Retain)${config.database.readReplicas ? `, the ${config.database.readReplicas} read replica(s) are recreated from the new instance` : ''}${config.database.proxy?.enabled ? ', the proxy targets the new instance (its endpoint stays)' : ''}`,
    'RDS manages the restored instance\'s master password again (a new secret under the database key)',
    `the app secret (${secrets.outputs.AppDbSecretArn}) gets the new host, port and master secret; its user and password stay`,
    `${stackName(config, 'catalog-secrets')}, ${stackName(config, 'catalog-service')}, ${stackName(config, 'catalog-observability')} deployed against the new instance`,
    `reconciliation: ${service.outputs.FunctionNameMigrate} {"reconcile": true} (app users' passwords from the secret, data counted), ${service.outputs.FunctionNameAuditRelay} {"drain": true} (unsent audit events re-sent)`,
    stopOld ? `${id} stopped (RDS starts a stopped instance again after 7 days: remove it before, docs/operations.md)` : `${id} left running (--keep-old-running)`,
  ];
  return {
    env: config.name,
    point,
    source: { ...info, earliestRestorableTime: earliest },
    snapshotBefore,
    overrides,
    appSecretArn: secrets.outputs.AppDbSecretArn!,
    kmsKeyArn: storage.outputs.DbKmsKeyArn!,
    functions: { migrate: service.outputs.FunctionNameMigrate!, auditRelay: service.outputs.FunctionNameAuditRelay! },
    stopOld,
    steps,
  };
}

function checkDeploy(what: string, r: DeployResult): void {
  if (r.failed) throw new DeployError(`db restore: ${what}: ${r.failed.stack} ${r.failed.kind === 'failed' ? `ended ${r.failed.status}` : `is ${r.failed.status}`}: ${r.failed.advice}`);
}

function parsePayload(what: string, r: InvokeResult): Record<string, unknown> {
  let body: unknown;
  try {
    body = JSON.parse(r.payload || 'null');
  } catch {
    body = r.payload;
  }
  if (r.functionError || r.statusCode !== 200) {
    const msg = typeof body === 'object' && body && 'errorMessage' in body ? String((body as { errorMessage: unknown }).errorMessage) : String(r.payload).slice(0, 300);
    throw new DeployError(`db restore: ${what} failed: ${msg}`);
  }
  return (body && typeof body === 'object' ? body : { result: body }) as Record<string, unknown>;
}

/** Runs an approved plan, step by step, reporting each; stops at the first failure (exit 3). */
export async function executeRestore(config: EnvConfig, deps: RestoreDeps, plan: RestorePlan): Promise<RestoreResult> {
  const r = deps.reporter;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((res) => setTimeout(res, ms)));
  const pollMs = deps.pollMs ?? 30_000;
  const step = (message: string, data?: Record<string, unknown>) => r.report({ level: 'step', topic: 'restore', message, data });
  const check = (where: string) => {
    if (deps.signal?.aborted) throw new InterruptedError(`db restore interrupted ${where}; docs/operations.md says how to go on from here`);
  };
  const old = plan.source.id;

  step(`protecting ${old}: deletion protection and snapshot ${plan.snapshotBefore}`);
  if (!plan.source.deletionProtection) await deps.rds.enableDeletionProtection(old);
  await deps.rds.createSnapshot(old, plan.snapshotBefore, { 'catalog:env': config.name, 'catalog:purpose': 'before-restore' });
  for (let waited = 0; ; waited += pollMs) {
    const s = await deps.rds.describeSnapshot(plan.snapshotBefore);
    if (s?.status === 'available') break;
    if (s && /fail|error|deleted/i.test(s.status)) throw new DeployError(`db restore: snapshot ${plan.snapshotBefore} is ${s.status}; nothing else was changed`);
    check('while the snapshot was being taken (nothing else was changed)');
    r.report({ level: 'progress', topic: 'restore', message: `snapshot ${plan.snapshotBefore}: ${s?.status ?? 'not listed yet'}, ${Math.round(waited / 1000)}s` });
    await sleep(pollMs);
  }
  check('after the snapshot (nothing else was changed)');

  step(`${stackName(config, 'catalog-storage')}: restoring from ${describePoint(plan.point)}`);
  checkDeploy('restoring the database', await deps.deploy(['catalog-storage'], { 'catalog-storage': plan.overrides }));
  const storage = (await deps.cloudformation.describeStack(stackName(config, 'catalog-storage')))!;
  const newId = storage.outputs.DbInstanceIdentifier;
  if (!newId || newId === old) throw new DeployError(`db restore: ${storage.name} still names ${old} as its database: CloudFormation did not replace it`);
  check(`after ${newId} was restored`);

  step(`${newId}: RDS manages its master password`);
  let info = await deps.rds.describeInstance(newId);
  if (!info?.masterSecretArn) await deps.rds.manageMasterPassword(newId, plan.kmsKeyArn);
  for (let waited = 0; ; waited += pollMs) {
    info = await deps.rds.describeInstance(newId);
    if (info?.masterSecretArn && info.status === 'available' && info.endpoint) break;
    check(`while RDS set up ${newId}'s master secret`);
    r.report({ level: 'progress', topic: 'restore', message: `${newId}: ${info?.status ?? 'not found'}${info?.masterSecretArn ? '' : ', master secret pending'}, ${Math.round(waited / 1000)}s` });
    await sleep(pollMs);
  }
  const masterSecretArn = info.masterSecretArn!;
  checkDeploy('recording the master secret', await deps.deploy(['catalog-storage'], { 'catalog-storage': { RestoredMasterSecretArn: masterSecretArn } }));

  step('app secret: host, port and master secret of the restored instance (user and password kept)');
  const current = await deps.secrets.current(plan.appSecretArn);
  let value: Record<string, unknown>;
  try {
    value = JSON.parse(current.value) as Record<string, unknown>;
  } catch {
    throw new DeployError(`db restore: the app secret ${plan.appSecretArn} is not JSON`);
  }
  await deps.secrets.put(plan.appSecretArn, JSON.stringify({ ...value, host: info.endpoint!.address, port: String(info.endpoint!.port), masterarn: masterSecretArn }));
  check('after the app secret moved to the restored instance');

  step('deploying catalog-secrets, catalog-service and catalog-observability against the restored instance');
  checkDeploy('deploying the stacks after the restore', await deps.deploy(['catalog-secrets', 'catalog-service', 'catalog-observability']));

  step(`reconciliation: ${plan.functions.migrate} {"reconcile": true}`);
  const reconcile = parsePayload(plan.functions.migrate, await deps.invoke(plan.functions.migrate, { reconcile: true }));
  step(`reconciliation: ${plan.functions.auditRelay} {"drain": true}`);
  const relay = parsePayload(plan.functions.auditRelay, await deps.invoke(plan.functions.auditRelay, { drain: true }));

  let stopped = false;
  let stopError: string | undefined;
  if (plan.stopOld) {
    step(`stopping ${old}`);
    try {
      await deps.rds.stopInstance(old);
      stopped = true;
    } catch (err) {
      stopError = (err as Error).message;
      r.report({ level: 'warn', topic: 'restore', message: `could not stop ${old}: ${stopError} (stop it by hand: aws rds stop-db-instance --db-instance-identifier ${old})` });
    }
  }
  return {
    oldInstance: { id: old, snapshot: plan.snapshotBefore, stopped, ...(stopError ? { stopError } : {}) },
    newInstance: { id: newId, endpoint: `${info.endpoint!.address}:${info.endpoint!.port}`, masterSecretArn },
    reconcile,
    relay,
  };
}

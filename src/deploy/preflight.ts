/**
 * Preflight: what a first deploy into an account needs from AWS before CloudFormation is asked for
 * anything, checked read-only so a doomed deploy stops (exit 3) before it changes a thing:
 * - the PostgreSQL engine version is offered in the region (RDS DescribeDBEngineVersions);
 * - the instance class is orderable for that engine and version with the storage type, Multi-AZ
 *   setting, read replicas, encryption and Performance Insights the storage stack asks for
 *   (RDS DescribeOrderableDBInstanceOptions);
 * - the env's Availability Zones exist and are available (EC2 DescribeAvailabilityZones), or an
 *   adopted VPC's subnets exist in it and span two AZs (EC2 DescribeSubnets);
 * - the account's Lambda concurrency leaves at least 100 unreserved once the provisioned concurrency
 *   of the API functions' `live` aliases is taken from it (Lambda GetAccountSettings);
 * - the artifact bucket exists in the env's region and is owned by the env's account (S3 HeadBucket);
 * - the Evidence Ledger bus exists when it is in the same account (EventBridge DescribeEventBus).
 * A check whose call fails is a failed check that says why (e.g. AccessDenied): nothing is assumed.
 */
import type { Ec2Api } from '../aws/ec2.ts';
import type { EventsApi } from '../aws/events.ts';
import type { AwsApi } from '../aws/index.ts';
import type { LambdaAccountApi } from '../aws/lambda-account.ts';
import type { OrderableOption, RdsApi } from '../aws/rds.ts';
import type { S3Api } from '../aws/s3.ts';
import { API_FUNCTIONS, type EnvConfig } from '../config/types.ts';
import type { StackTemplates } from './stacks.ts';

export interface PreflightRow {
  check: string;
  found: string;
  needed: string;
  ok: boolean;
}

export interface PreflightApis {
  rds: RdsApi;
  ec2: Ec2Api;
  lambda: LambdaAccountApi;
  s3: Pick<S3Api, 'bucketLocation'>;
  /** EventBridge in the bus's own region. */
  events(region: string): Promise<EventsApi>;
}

/** The SDK clients preflight needs, loaded only when it runs (render never pays for them). */
export async function createPreflightApis(aws: Pick<AwsApi, 'target' | 's3'>): Promise<PreflightApis> {
  const [{ createRdsApi }, { createEc2Api }, { createLambdaAccountApi }, { createEventsApi }] = await Promise.all([
    import('../aws/rds.ts'),
    import('../aws/ec2.ts'),
    import('../aws/lambda-account.ts'),
    import('../aws/events.ts'),
  ]);
  const [rds, ec2, lambda] = await Promise.all([createRdsApi(aws.target), createEc2Api(aws.target), createLambdaAccountApi(aws.target)]);
  return { rds, ec2, lambda, s3: aws.s3, events: (region) => createEventsApi({ ...aws.target, region }) };
}

/** What the storage stack will ask RDS for: from the env file and the rendered writer instance. */
export interface DatabaseNeeds {
  engine: string;
  version: string;
  instanceClass: string;
  multiAz: boolean;
  readReplicas: boolean;
  storageType?: string;
  encrypted: boolean;
  performanceInsights: boolean;
  allocatedGb: number;
  storageAutoscaling: boolean;
}

export function databaseNeeds(config: EnvConfig, storage: Record<string, unknown> | undefined): DatabaseNeeds {
  const resources = (storage?.Resources ?? {}) as Record<string, { Type?: string; Properties?: Record<string, unknown> }>;
  // The writer has no source, or only a conditional one (a `db restore`); a replica's is a plain Ref.
  const conditional = (v: unknown) => typeof v === 'object' && v !== null && 'Fn::If' in v;
  const writer = Object.values(resources).find((r) => r.Type === 'AWS::RDS::DBInstance' && (r.Properties?.SourceDBInstanceIdentifier === undefined || conditional(r.Properties.SourceDBInstanceIdentifier)))?.Properties ?? {};
  // Encrypted as created; left out only for a restored instance, which inherits the encrypted source's key.
  const encrypted = writer.StorageEncrypted === true || (conditional(writer.StorageEncrypted) && (writer.StorageEncrypted as { 'Fn::If': unknown[] })['Fn::If'][2] === true);
  const db = config.database;
  return {
    engine: typeof writer.Engine === 'string' ? writer.Engine : 'postgres',
    version: db.engineVersion,
    instanceClass: db.instanceClass,
    multiAz: db.multiAz,
    readReplicas: db.readReplicas > 0,
    storageType: typeof writer.StorageType === 'string' ? writer.StorageType : undefined,
    encrypted,
    performanceInsights: db.performanceInsights,
    allocatedGb: db.allocatedStorageGb,
    storageAutoscaling: db.maxAllocatedStorageGb > db.allocatedStorageGb,
  };
}

/** What an orderable option lacks for these needs; empty when it fits. */
function lacks(o: OrderableOption, n: DatabaseNeeds): string[] {
  const out: string[] = [];
  if (n.storageType && o.storageType !== n.storageType) out.push(`${n.storageType} storage`);
  if (n.multiAz && !o.multiAzCapable) out.push('Multi-AZ');
  if (n.readReplicas && !o.readReplicaCapable) out.push('read replicas');
  if (n.encrypted && !o.storageEncryption) out.push('storage encryption');
  if (n.performanceInsights && !o.performanceInsights) out.push('Performance Insights');
  if (n.storageAutoscaling && !o.storageAutoscaling) out.push('storage autoscaling');
  if ((o.minStorageGb !== undefined && n.allocatedGb < o.minStorageGb) || (o.maxStorageGb !== undefined && n.allocatedGb > o.maxStorageGb))
    out.push(`${n.allocatedGb} GB (allowed ${o.minStorageGb ?? '?'}–${o.maxStorageGb ?? '?'})`);
  return out;
}

const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim();

/** A check whose AWS call failed: failed, saying why, never assumed fine. */
async function guarded(check: string, needed: string, run: () => Promise<PreflightRow>): Promise<PreflightRow> {
  try {
    return await run();
  } catch (err) {
    const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
    // The SDK appends a paragraph on how to see the raw response when an answer is not AWS's format.
    const message = oneLine(e.message ?? String(err)).replace(/\s*Deserialization error:.*$/, '');
    const status = e.$metadata?.httpStatusCode ? ` (HTTP ${e.$metadata.httpStatusCode})` : '';
    return { check, found: `could not check: ${e.name ?? 'Error'}${status}: ${message.length > 120 ? `${message.slice(0, 119)}…` : message}`, needed, ok: false };
  }
}

export async function checkEngineVersion(rds: RdsApi, n: DatabaseNeeds, region: string): Promise<PreflightRow> {
  const check = 'RDS engine version';
  const needed = `${n.engine} ${n.version} offered`;
  return guarded(check, needed, async () => {
    const v = await rds.engineVersion(n.engine, n.version);
    if (!v) return { check, found: `${n.engine} ${n.version} not offered in ${region}`, needed, ok: false };
    return { check, found: `${n.engine} ${v.version} (${v.status})`, needed, ok: v.status === 'available' };
  });
}

export async function checkInstanceClass(rds: RdsApi, n: DatabaseNeeds): Promise<PreflightRow> {
  const check = 'RDS instance class';
  const wants = [n.storageType, n.multiAz ? 'Multi-AZ' : 'single-AZ', n.readReplicas && 'read replicas', n.encrypted && 'encrypted', n.performanceInsights && 'Performance Insights'].filter(Boolean);
  const needed = `${n.instanceClass} orderable for ${n.engine} ${n.version}: ${wants.join(', ')}`;
  return guarded(check, needed, async () => {
    const options = await rds.orderableOptions(n.engine, n.version, n.instanceClass);
    if (options.length === 0) return { check, found: `${n.instanceClass} not orderable for ${n.engine} ${n.version}`, needed, ok: false };
    if (options.some((o) => lacks(o, n).length === 0)) return { check, found: `${n.instanceClass} orderable (${wants.join(', ')})`, needed, ok: true };
    // The closest option: the one that lacks least, with the wanted storage type first.
    const best = options.map((o) => lacks(o, n)).sort((a, b) => a.length - b.length)[0]!;
    return { check, found: `${n.instanceClass} orderable, but not with ${best.join(', ')}`, needed, ok: false };
  });
}

export async function checkAvailabilityZones(ec2: Ec2Api, config: EnvConfig, region: string): Promise<PreflightRow> {
  const net = config.network;
  if (net.mode === 'adopt') {
    const check = 'subnets (adopted VPC)';
    const needed = `${net.subnetIds.join(', ')} in ${net.vpcId}, 2+ AZs`;
    return guarded(check, needed, async () => {
      const found = await ec2.subnets(net.subnetIds);
      const missing = net.subnetIds.filter((id) => !found.some((s) => s.id === id));
      const elsewhere = found.filter((s) => s.vpcId !== net.vpcId).map((s) => `${s.id} in ${s.vpcId}`);
      const zones = [...new Set(found.map((s) => s.availabilityZone))].sort();
      const problems = [...(missing.length ? [`missing ${missing.join(', ')}`] : []), ...elsewhere];
      return { check, found: problems.length ? problems.join('; ') : `${found.length} subnets in ${zones.join(', ')}`, needed, ok: problems.length === 0 && zones.length >= 2 };
    });
  }
  const check = 'availability zones';
  const wanted = net.availabilityZones;
  const needed = wanted ? `${wanted.join(', ')} available` : `2 available AZs in ${region} (Fn::GetAZs)`;
  return guarded(check, needed, async () => {
    const zones = await ec2.availabilityZones();
    const available = zones.filter((z) => z.state === 'available').map((z) => z.name);
    const shown = available.length > 3 ? `${available.slice(0, 3).join(', ')}, …` : available.join(', ') || 'none';
    if (!wanted) return { check, found: `${available.length} available: ${shown}`, needed, ok: available.length >= 2 };
    const missing = wanted.filter((z) => !available.includes(z));
    const states = missing.map((z) => `${z} ${zones.find((x) => x.name === z)?.state ?? 'not in the region'}`);
    return { check, found: missing.length ? states.join(', ') : `${wanted.join(', ')} available`, needed, ok: missing.length === 0 };
  });
}

/** Lambda keeps 100 of the account's unreserved concurrency for functions without a reservation. */
export const LAMBDA_MIN_UNRESERVED = 100;

export async function checkLambdaConcurrency(lambda: LambdaAccountApi, config: EnvConfig): Promise<PreflightRow> {
  const check = 'Lambda concurrency';
  const pc = config.lambda.provisionedConcurrency;
  const provisioned = pc * API_FUNCTIONS.length;
  const needed = `${provisioned + LAMBDA_MIN_UNRESERVED} unreserved (${pc} provisioned × ${API_FUNCTIONS.length} live aliases + ${LAMBDA_MIN_UNRESERVED})`;
  return guarded(check, needed, async () => {
    const { limit, unreserved } = await lambda.accountConcurrency();
    return { check, found: `${unreserved} unreserved of ${limit}`, needed, ok: unreserved - provisioned >= LAMBDA_MIN_UNRESERVED };
  });
}

export async function checkArtifactBucket(s3: PreflightApis['s3'], config: EnvConfig, region: string): Promise<PreflightRow> {
  const check = 'artifact bucket';
  const { bucket } = config.artifacts;
  const needed = `${bucket} in ${region}, owned by ${config.account.id}`;
  return guarded(check, needed, async () => {
    const where = await s3.bucketLocation(bucket, config.account.id);
    switch (where.kind) {
      case 'missing':
        return { check, found: `${bucket} does not exist`, needed, ok: false };
      case 'forbidden':
        return { check, found: `${bucket}: forbidden (another account's, or not readable with these credentials)`, needed, ok: false };
      case 'elsewhere':
        return { check, found: `${bucket} in ${where.region}`, needed, ok: false };
      case 'found': {
        const ok = where.region === undefined || where.region === region;
        return { check, found: `${bucket} in ${where.region ?? region}`, needed, ok };
      }
    }
  });
}

/** `arn:<partition>:events:<region>:<account>:event-bus/<name>` split up; undefined when it is not one. */
export function parseBusArn(arn: string): { region: string; account: string; name: string } | undefined {
  const m = /^arn:[a-z-]+:events:([a-z0-9-]+):(\d{12}):event-bus\/(.+)$/.exec(arn);
  return m ? { region: m[1]!, account: m[2]!, name: m[3]! } : undefined;
}

export async function checkEvidenceBus(events: PreflightApis['events'], config: EnvConfig): Promise<PreflightRow> {
  const check = 'Evidence Ledger bus';
  const arn = config.evidenceLedger.busArn;
  const bus = parseBusArn(arn);
  if (!bus) return { check, found: `${arn} is not an event bus ARN`, needed: 'arn:aws:events:<region>:<account>:event-bus/<name>', ok: false };
  if (bus.account !== config.account.id)
    return { check, found: `in account ${bus.account}: not checked (its policy must let ${config.account.id} put events)`, needed: 'exists (checked in the same account only)', ok: true };
  const needed = `${bus.name} exists in ${bus.region}`;
  return guarded(check, needed, async () => {
    const exists = await (await events(bus.region)).eventBusExists(bus.name);
    return { check, found: exists ? `${bus.name} exists` : `${bus.name} does not exist in ${bus.region}`, needed, ok: exists };
  });
}

/** Every check, in a fixed order; the calls run at once (they are independent reads). */
export async function runPreflight(config: EnvConfig, apis: PreflightApis, opts: { region: string; templates?: Pick<StackTemplates, 'catalog-storage'> }): Promise<PreflightRow[]> {
  const n = databaseNeeds(config, opts.templates?.['catalog-storage']);
  return Promise.all([
    checkEngineVersion(apis.rds, n, opts.region),
    checkInstanceClass(apis.rds, n),
    checkAvailabilityZones(apis.ec2, config, opts.region),
    checkLambdaConcurrency(apis.lambda, config),
    checkArtifactBucket(apis.s3, config, opts.region),
    checkEvidenceBus(apis.events, config),
  ]);
}

/** The table: check, found, needed, ok. */
export function formatPreflight(rows: PreflightRow[]): string {
  const table = [['check', 'found', 'needed', 'ok'], ...rows.map((r) => [r.check, r.found, r.needed, r.ok ? 'ok' : 'FAIL'])];
  const widths = [0, 1, 2].map((i) => Math.max(...table.map((row) => row[i]!.length)));
  return `${table.map((row) => row.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c)).join('  ')).join('\n')}\n`;
}

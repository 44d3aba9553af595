/**
 * Preflight's checks. The emulator answers EC2 DescribeAvailabilityZones / DescribeSubnets, S3
 * HeadBucket (existence and region) and EventBridge DescribeEventBus truthfully, so those run
 * against it. It has no answer for RDS DescribeDBEngineVersions (HTTP 500), answers
 * DescribeOrderableDBInstanceOptions with nothing for postgres (untruthful), and has no Lambda
 * GetAccountSettings (404): those are scripted SDK responses (aws-sdk-client-mock on the real
 * RDSClient / LambdaClient), written from the RDS and Lambda API references — and so are S3's 301
 * (bucket in another region) and 403 (another account's bucket), which the emulator never gives.
 */
import { strict as assert } from 'node:assert';
import { CreateBucketCommand, HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateEventBusCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { CreateSubnetCommand, CreateVpcCommand, EC2Client } from '@aws-sdk/client-ec2';
import { DescribeDBEngineVersionsCommand, DescribeOrderableDBInstanceOptionsCommand, RDSClient } from '@aws-sdk/client-rds';
import { GetAccountSettingsCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { createAwsApi } from '../../src/aws/index.ts';
import { createS3Api } from '../../src/aws/s3.ts';
import { loadEnv } from '../../src/config/load.ts';
import type { EnvConfig } from '../../src/config/types.ts';
import { createPreflightApis, databaseNeeds, formatPreflight, runPreflight, type PreflightApis, type PreflightRow } from '../../src/deploy/preflight.ts';
import { renderEnvironment } from '../../src/templates/index.ts';
import { getMoto, MOTO_ACCOUNT_ID, TEST_CREDENTIALS, type Moto } from '../support/moto.ts';

/** An orderable option as RDS lists it (DescribeOrderableDBInstanceOptions), for postgres on gp3. */
const orderable = (extra: Record<string, unknown> = {}) => ({
  Engine: 'postgres',
  EngineVersion: '17.9',
  DBInstanceClass: 'db.t4g.medium',
  StorageType: 'gp3',
  MultiAZCapable: true,
  ReadReplicaCapable: true,
  Vpc: true,
  SupportsStorageEncryption: true,
  SupportsPerformanceInsights: true,
  SupportsStorageAutoscaling: true,
  MinStorageSize: 20,
  MaxStorageSize: 65536,
  ...extra,
});

const accessDenied = () => Object.assign(new Error('User: arn:aws:iam::123456789012:user/ci is not authorized to perform: rds:DescribeDBEngineVersions'), { name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 } });

describe('deploy/preflight: what the account and region must offer before a deploy', function () {
  this.timeout(60_000);
  // Installed for this suite only (in before, not at load): mockClient replaces send on every client of the class.
  let rds: ReturnType<typeof mockClient>;
  let lambda: ReturnType<typeof mockClient>;
  let moto: Moto;
  let apis: PreflightApis;
  let c: { endpoint: string; region: string; credentials: typeof TEST_CREDENTIALS };

  /** envs/<env>.yaml in the emulator's account, its artifact bucket and same-account bus named after it. */
  async function env(name: string, edit: (c: EnvConfig) => void = () => undefined): Promise<{ config: EnvConfig; storage: Record<string, unknown> }> {
    const config = structuredClone(await loadEnv(name)) as EnvConfig;
    config.account.id = MOTO_ACCOUNT_ID;
    config.artifacts.bucket = `catalog-artifacts-${MOTO_ACCOUNT_ID}-us-east-1`;
    config.evidenceLedger.busArn = `arn:aws:events:us-east-1:${MOTO_ACCOUNT_ID}:event-bus/evidence-ledger`;
    edit(config);
    return { config, storage: renderEnvironment(config)['catalog-storage.json'] as Record<string, unknown> };
  }

  const run = async (e: { config: EnvConfig; storage: Record<string, unknown> }) => runPreflight(e.config, apis, { region: 'us-east-1', templates: { 'catalog-storage': e.storage } });
  const row = (rows: PreflightRow[], check: string) => rows.find((r) => r.check === check)!;

  before(async () => {
    rds = mockClient(RDSClient);
    lambda = mockClient(LambdaClient);
    moto = await getMoto();
    c = { endpoint: moto.endpoint, region: moto.region, credentials: TEST_CREDENTIALS };
  });
  after(() => {
    rds.restore();
    lambda.restore();
  });

  beforeEach(async () => {
    await moto.reset();
    rds.reset();
    lambda.reset();
    rds.on(DescribeDBEngineVersionsCommand).resolves({ DBEngineVersions: [{ Engine: 'postgres', EngineVersion: '17.9', Status: 'available' }] });
    rds.on(DescribeOrderableDBInstanceOptionsCommand).resolves({ OrderableDBInstanceOptions: [orderable(), orderable({ StorageType: 'io2' })] });
    lambda.on(GetAccountSettingsCommand).resolves({ AccountLimit: { ConcurrentExecutions: 1000, UnreservedConcurrentExecutions: 1000 } });
    process.env.AWS_ACCESS_KEY_ID = 'test';
    process.env.AWS_SECRET_ACCESS_KEY = 'test';
    apis = await createPreflightApis(await createAwsApi({ region: moto.region, endpoint: moto.endpoint }));
    await new S3Client({ ...c, forcePathStyle: true }).send(new CreateBucketCommand({ Bucket: `catalog-artifacts-${MOTO_ACCOUNT_ID}-us-east-1` }));
    await new EventBridgeClient(c).send(new CreateEventBusCommand({ Name: 'evidence-ledger' }));
  });

  it('every check passes for dev in an account that has what it needs, and the table says what was found against what is needed', async () => {
    const rows = await run(await env('dev'));
    assert.deepEqual(rows.filter((r) => !r.ok), []);
    assert.equal(
      formatPreflight(rows),
      `check                found                                                  needed                                                                        ok
RDS engine version   postgres 17.9 (available)                              postgres 17.9 offered                                                         ok
RDS instance class   db.t4g.medium orderable (gp3, single-AZ, encrypted)    db.t4g.medium orderable for postgres 17.9: gp3, single-AZ, encrypted          ok
availability zones   6 available: us-east-1a, us-east-1b, us-east-1c, …     2 available AZs in us-east-1 (Fn::GetAZs)                                     ok
Lambda concurrency   1000 unreserved of 1000                                100 unreserved (0 provisioned × 4 live aliases + 100)                         ok
artifact bucket      catalog-artifacts-123456789012-us-east-1 in us-east-1  catalog-artifacts-123456789012-us-east-1 in us-east-1, owned by 123456789012  ok
Evidence Ledger bus  evidence-ledger exists                                 evidence-ledger exists in us-east-1                                           ok
`,
    );
    // The RDS questions carry exactly the env's engine, version and class, in a VPC.
    assert.deepEqual(rds.commandCalls(DescribeOrderableDBInstanceOptionsCommand)[0]!.args[0].input, { Engine: 'postgres', EngineVersion: '17.9', DBInstanceClass: 'db.t4g.medium', Vpc: true, Marker: undefined, MaxRecords: 100 });
    assert.equal(rds.commandCalls(DescribeDBEngineVersionsCommand)[0]!.args[0].input.IncludeAll, true);
  });

  it('the engine version: not offered, or deprecated, fails', async () => {
    rds.on(DescribeDBEngineVersionsCommand).resolves({ DBEngineVersions: [] });
    assert.deepEqual(row(await run(await env('dev')), 'RDS engine version'), { check: 'RDS engine version', found: 'postgres 17.9 not offered in us-east-1', needed: 'postgres 17.9 offered', ok: false });
    rds.on(DescribeDBEngineVersionsCommand).resolves({ DBEngineVersions: [{ Engine: 'postgres', EngineVersion: '17.9', Status: 'deprecated' }] });
    assert.equal(row(await run(await env('dev')), 'RDS engine version').found, 'postgres 17.9 (deprecated)');
    assert.equal(row(await run(await env('dev')), 'RDS engine version').ok, false);
  });

  it('the instance class: not orderable at all, or not with Multi-AZ and read replicas as prod asks', async () => {
    rds.on(DescribeOrderableDBInstanceOptionsCommand).resolves({ OrderableDBInstanceOptions: [] });
    assert.deepEqual(row(await run(await env('dev')), 'RDS instance class'), {
      check: 'RDS instance class',
      found: 'db.t4g.medium not orderable for postgres 17.9',
      needed: 'db.t4g.medium orderable for postgres 17.9: gp3, single-AZ, encrypted',
      ok: false,
    });
    rds.on(DescribeOrderableDBInstanceOptionsCommand).resolves({ OrderableDBInstanceOptions: [orderable({ DBInstanceClass: 'db.r6g.large', MultiAZCapable: false, ReadReplicaCapable: false })] });
    const prod = row(await run(await env('prod')), 'RDS instance class');
    assert.equal(prod.ok, false);
    assert.equal(prod.found, 'db.r6g.large orderable, but not with Multi-AZ, read replicas');
    assert.equal(prod.needed, 'db.r6g.large orderable for postgres 17.9: gp3, Multi-AZ, read replicas, encrypted, Performance Insights');
    // Paged answers are read to the end: the fitting option is on the second page.
    rds.on(DescribeOrderableDBInstanceOptionsCommand)
      .resolvesOnce({ OrderableDBInstanceOptions: [orderable({ StorageType: 'standard' })], Marker: 'm1' })
      .resolves({ OrderableDBInstanceOptions: [orderable({ DBInstanceClass: 'db.r6g.large' })] });
    assert.equal(row(await run(await env('prod')), 'RDS instance class').ok, true);
  });

  it("the AZs the env names must exist in the region; an adopted VPC's subnets must exist in it and span two AZs (the emulator answers both)", async () => {
    const bad = row(await run(await env('dev', (c) => void ((c.network as { availabilityZones?: string[] }).availabilityZones = ['us-east-1a', 'us-east-1z']))), 'availability zones');
    assert.deepEqual(bad, { check: 'availability zones', found: 'us-east-1z not in the region', needed: 'us-east-1a, us-east-1z available', ok: false });
    assert.equal(row(await run(await env('dev', (c) => void ((c.network as { availabilityZones?: string[] }).availabilityZones = ['us-east-1a', 'us-east-1b']))), 'availability zones').ok, true);

    const ec2 = new EC2Client(c);
    const vpc = (await ec2.send(new CreateVpcCommand({ CidrBlock: '10.20.0.0/16' }))).Vpc!.VpcId!;
    const a = (await ec2.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: '10.20.1.0/24', AvailabilityZone: 'us-east-1a' }))).Subnet!.SubnetId!;
    const b = (await ec2.send(new CreateSubnetCommand({ VpcId: vpc, CidrBlock: '10.20.2.0/24', AvailabilityZone: 'us-east-1b' }))).Subnet!.SubnetId!;
    const adopt = (subnetIds: string[]) => (c: EnvConfig) => void (c.network = { mode: 'adopt', vpcId: vpc, subnetIds, routeTableIds: ['rtb-1'] });
    const good = row(await run(await env('dev', adopt([a, b]))), 'subnets (adopted VPC)');
    assert.deepEqual(good, { check: 'subnets (adopted VPC)', found: '2 subnets in us-east-1a, us-east-1b', needed: `${a}, ${b} in ${vpc}, 2+ AZs`, ok: true });
    const missing = row(await run(await env('dev', adopt([a, 'subnet-0123456789abcdef0']))), 'subnets (adopted VPC)');
    assert.equal(missing.found, 'missing subnet-0123456789abcdef0');
    assert.equal(missing.ok, false);
    assert.equal(row(await run(await env('dev', adopt([a]))), 'subnets (adopted VPC)').ok, false, 'one AZ is not enough');
  });

  it('Lambda concurrency must keep 100 unreserved after the live aliases\' provisioned concurrency', async () => {
    lambda.on(GetAccountSettingsCommand).resolves({ AccountLimit: { ConcurrentExecutions: 1000, UnreservedConcurrentExecutions: 150 } });
    // prod: 20 on each of the 4 API functions' live aliases.
    assert.deepEqual(row(await run(await env('prod')), 'Lambda concurrency'), { check: 'Lambda concurrency', found: '150 unreserved of 1000', needed: '180 unreserved (20 provisioned × 4 live aliases + 100)', ok: false });
    lambda.on(GetAccountSettingsCommand).resolves({ AccountLimit: { ConcurrentExecutions: 1000, UnreservedConcurrentExecutions: 180 } });
    assert.equal(row(await run(await env('prod')), 'Lambda concurrency').ok, true);
  });

  it('the artifact bucket must exist in the env\'s region; the Evidence Ledger bus must exist when it is in the same account', async () => {
    const missingBucket = row(await run(await env('dev', (c) => void (c.artifacts.bucket = 'no-such-bucket-here'))), 'artifact bucket');
    assert.deepEqual(missingBucket, { check: 'artifact bucket', found: 'no-such-bucket-here does not exist', needed: `no-such-bucket-here in us-east-1, owned by ${MOTO_ACCOUNT_ID}`, ok: false });
    await new S3Client({ ...c, forcePathStyle: true }).send(new CreateBucketCommand({ Bucket: 'artifacts-in-ireland', CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' } }));
    const ireland = row(await run(await env('dev', (c) => void (c.artifacts.bucket = 'artifacts-in-ireland'))), 'artifact bucket');
    assert.equal(ireland.found, 'artifacts-in-ireland in eu-west-1');
    assert.equal(ireland.ok, false);

    const noBus = row(await run(await env('dev', (c) => void (c.evidenceLedger.busArn = `arn:aws:events:us-east-1:${MOTO_ACCOUNT_ID}:event-bus/ledger-typo`))), 'Evidence Ledger bus');
    assert.deepEqual(noBus, { check: 'Evidence Ledger bus', found: 'ledger-typo does not exist in us-east-1', needed: 'ledger-typo exists in us-east-1', ok: false });
    const otherAccount = row(await run(await env('dev', (c) => void (c.evidenceLedger.busArn = 'arn:aws:events:us-east-1:999999999999:event-bus/evidence-ledger'))), 'Evidence Ledger bus');
    assert.equal(otherAccount.ok, true);
    assert.match(otherAccount.found, /^in account 999999999999: not checked/);
  });

  it('a check whose call is refused fails and says why; nothing is assumed', async () => {
    rds.on(DescribeDBEngineVersionsCommand).rejects(accessDenied());
    const r = row(await run(await env('dev')), 'RDS engine version');
    assert.equal(r.ok, false);
    assert.match(r.found, /^could not check: AccessDenied \(HTTP 403\): User: arn:aws:iam::123456789012:user\/ci is not authorized/);
  });

  it('reads the storage type, encryption and writer from the rendered storage stack', async () => {
    const { config, storage } = await env('prod');
    assert.deepEqual(databaseNeeds(config, storage), {
      engine: 'postgres',
      version: '17.9',
      instanceClass: 'db.r6g.large',
      multiAz: true,
      readReplicas: true,
      storageType: 'gp3',
      encrypted: true,
      performanceInsights: true,
      allocatedGb: config.database.allocatedStorageGb,
      storageAutoscaling: true,
    });
  });
});

describe('aws/s3 bucketLocation: what HeadBucket answers that the emulator never does (scripted)', () => {
  let s3: ReturnType<typeof mockClient>;
  before(() => void (s3 = mockClient(S3Client)));
  after(() => s3.restore());
  beforeEach(() => s3.reset());

  it('301 with x-amz-bucket-region is a bucket in another region; 403 is another account\'s (or unreadable)', async () => {
    const api = await createS3Api({ region: 'us-east-1' });
    s3.on(HeadBucketCommand).rejects(Object.assign(new Error('Moved Permanently'), { name: 'PermanentRedirect', $metadata: { httpStatusCode: 301 }, $response: { headers: { 'x-amz-bucket-region': 'eu-central-1' } } }));
    assert.deepEqual(await api.bucketLocation('b', '123456789012'), { kind: 'elsewhere', region: 'eu-central-1' });
    s3.on(HeadBucketCommand).rejects(Object.assign(new Error('Forbidden'), { name: 'Forbidden', $metadata: { httpStatusCode: 403 } }));
    assert.deepEqual(await api.bucketLocation('b', '123456789012'), { kind: 'forbidden' });
    assert.equal(s3.commandCalls(HeadBucketCommand)[0]!.args[0].input.ExpectedBucketOwner, '123456789012');
  });
});

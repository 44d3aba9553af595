/**
 * The project's own rules over rendered templates, as library code: the render tests assert them
 * and `catalogctl validate` reports them. Each returns findings naming stack, resource and rule.
 * Some are what AWS itself refuses at deploy time and cfn-lint does not see (a KMS key on a
 * same-region replica, an undeclared cache key, a role on a CloudWatch Logs target): the emulator
 * the deploy tests use accepts them all, so these are the offline check.
 */
import type { EnvConfig } from '../config/types.ts';
import { API_FUNCTIONS, STACK_NAMES } from '../config/types.ts';
import { CHECK_PLACEHOLDER, UPDATE_PLACEHOLDER } from './state-machine.ts';
import { liveVersionParameter, PARAM, PG_LAYER_KEY_PARAMETER } from './ids.ts';

export interface InvariantFinding {
  stack: string;
  logicalId: string;
  rule: string;
  message: string;
}

type Tpl = { Parameters?: Record<string, { Default?: unknown }>; Resources?: Record<string, { Type: string; Properties?: Record<string, unknown> }>; Outputs?: Record<string, unknown>; Conditions?: Record<string, unknown> };

const PSEUDO = new Set(['AWS::AccountId', 'AWS::Region', 'AWS::Partition', 'AWS::StackName', 'AWS::StackId', 'AWS::URLSuffix', 'AWS::NoValue', 'AWS::NotificationARNs']);

function walk(node: unknown, visit: (key: string, value: unknown) => void): void {
  if (Array.isArray(node)) node.forEach((n) => walk(n, visit));
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      visit(k, v);
      walk(v, visit);
    }
  }
}

/** Every Ref, GetAtt and ${Name} in a Sub names a parameter, a resource or a pseudo parameter. */
export function checkReferences(stack: string, t: Tpl): InvariantFinding[] {
  const out: InvariantFinding[] = [];
  const known = new Set([...Object.keys(t.Parameters ?? {}), ...Object.keys(t.Resources ?? {}), ...PSEUDO]);
  for (const [id, r] of Object.entries({ ...(t.Resources ?? {}), ...(t.Outputs ?? {}) })) {
    walk(r, (k, v) => {
      const bad = (name: string) => out.push({ stack, logicalId: id, rule: 'reference-resolves', message: `${k} to ${name}, which is neither a parameter nor a resource` });
      if (k === 'Ref' && typeof v === 'string' && !known.has(v)) bad(v);
      if (k === 'Fn::GetAtt' && Array.isArray(v) && typeof v[0] === 'string' && !(t.Resources ?? {})[v[0]]) bad(v[0]);
      if (k === 'Fn::Sub') {
        const [text, vars] = Array.isArray(v) ? [v[0], v[1] ?? {}] : [v, {}];
        if (typeof text !== 'string') return;
        for (const m of text.matchAll(/\$\{([A-Za-z0-9:]+)(\.[A-Za-z0-9.]+)?\}/g)) {
          const name = m[1]!;
          if (!known.has(name) && !(name in (vars as object))) bad(name);
        }
      }
    });
  }
  return out;
}

function statements(doc: unknown): Record<string, unknown>[] {
  const s = (doc as { Statement?: unknown })?.Statement;
  return Array.isArray(s) ? (s as Record<string, unknown>[]) : s ? [s as Record<string, unknown>] : [];
}

/** No IAM statement allows `*` or `service:*` actions. */
export function checkNoWildcardActions(stack: string, t: Tpl): InvariantFinding[] {
  const out: InvariantFinding[] = [];
  for (const [id, r] of Object.entries(t.Resources ?? {})) {
    const docs: unknown[] = [];
    if (r.Type === 'AWS::IAM::Role') for (const p of (r.Properties?.Policies as { PolicyDocument: unknown }[]) ?? []) docs.push(p.PolicyDocument);
    if (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy') docs.push(r.Properties?.PolicyDocument);
    for (const s of docs.flatMap(statements)) {
      if (s.Effect !== 'Allow') continue;
      const actions = ([] as unknown[]).concat(s.Action ?? []);
      for (const a of actions) if (typeof a === 'string' && (a === '*' || a.endsWith(':*'))) out.push({ stack, logicalId: id, rule: 'no-wildcard-action', message: `IAM action ${a} is a wildcard` });
      if (s.NotAction) out.push({ stack, logicalId: id, rule: 'no-wildcard-action', message: 'IAM NotAction grants everything else' });
    }
  }
  return out;
}

/**
 * 5432 reaches the database only from the functions' security groups (the Lambda group, the secret
 * rotation function's, or RDS Proxy's, which only the Lambda group reaches), never from an address
 * range.
 */
export function checkDatabaseIngress(stack: string, t: Tpl): InvariantFinding[] {
  const out: InvariantFinding[] = [];
  const res = t.Resources ?? {};
  const dbGroups = Object.entries(res).filter(([id, r]) => r.Type === 'AWS::EC2::SecurityGroup' && /database|db/i.test(id)).map(([id]) => id);
  const targetsDb = (v: unknown) => dbGroups.some((g) => JSON.stringify(v).includes(`"${g}"`));
  for (const [id, r] of Object.entries(res)) {
    const rules: { rule: Record<string, unknown>; group: unknown }[] = [];
    if (r.Type === 'AWS::EC2::SecurityGroupIngress') rules.push({ rule: r.Properties ?? {}, group: r.Properties?.GroupId });
    if (r.Type === 'AWS::EC2::SecurityGroup' && dbGroups.includes(id)) for (const i of (r.Properties?.SecurityGroupIngress as Record<string, unknown>[]) ?? []) rules.push({ rule: i, group: { Ref: id } });
    for (const { rule, group } of rules) {
      if (!targetsDb(group)) continue;
      const src = JSON.stringify(rule.SourceSecurityGroupId ?? null);
      if (rule.CidrIp || rule.CidrIpv6 || rule.SourcePrefixListId) out.push({ stack, logicalId: id, rule: 'db-ingress-from-lambda-only', message: `database ingress from an address range (${String(rule.CidrIp ?? rule.CidrIpv6 ?? rule.SourcePrefixListId)})` });
      else if (!/"(Lambda|Rotation|Proxy)SecurityGroup(Id)?"/.test(src)) out.push({ stack, logicalId: id, rule: 'db-ingress-from-lambda-only', message: `database ingress from ${src}, not the Lambda, rotation or proxy security group` });
      else if (rule.FromPort !== 5432 || rule.ToPort !== 5432) out.push({ stack, logicalId: id, rule: 'db-ingress-from-lambda-only', message: `database ingress opens ports ${String(rule.FromPort)}-${String(rule.ToPort)}, not just 5432` });
    }
  }
  return out;
}

/** The seed keeps the WAL archive 14 days: the restore window (BackupRetentionPeriod) is at least that. */
export const MIN_BACKUP_RETENTION_DAYS = 14;

/**
 * Encrypted: StorageEncrypted true, or left out only when the instance is restored or a replica
 * (it then inherits the encrypted source's encryption; CloudFormation rejects the property there).
 */
function encrypted(p: Record<string, unknown>): boolean {
  if (p.StorageEncrypted === true) return true;
  const replica = p.SourceDBInstanceIdentifier !== undefined && !(typeof p.SourceDBInstanceIdentifier === 'object' && p.SourceDBInstanceIdentifier && 'Fn::If' in p.SourceDBInstanceIdentifier);
  if (replica) return true;
  const cond = (p.StorageEncrypted as { 'Fn::If'?: unknown[] } | undefined)?.['Fn::If'];
  return Array.isArray(cond) && cond[0] === 'IsRestored' && JSON.stringify(cond[1]) === '{"Ref":"AWS::NoValue"}' && cond[2] === true;
}

/**
 * Whether a replica's source is in this region: a resource of this template, a name, or an ARN of
 * `${AWS::Region}` or of a literal region other than a cross-region source's.
 */
function sameRegionSource(source: unknown, t: Tpl): boolean {
  if (source && typeof source === 'object') {
    const s = source as { Ref?: unknown; 'Fn::GetAtt'?: unknown; 'Fn::Sub'?: unknown };
    if (typeof s.Ref === 'string' && (t.Resources ?? {})[s.Ref]) return true;
    if (Array.isArray(s['Fn::GetAtt'])) return true;
    const text = Array.isArray(s['Fn::Sub']) ? s['Fn::Sub'][0] : s['Fn::Sub'];
    if (typeof text === 'string') return !text.startsWith('arn:') || /^arn:(\$\{AWS::Partition\}|[a-z-]+):rds:\$\{AWS::Region\}:/.test(text);
    return false; // a parameter: cannot tell
  }
  return typeof source === 'string' && !source.startsWith('arn:');
}

/**
 * Databases are private and encrypted, the writer keeps 14 days of backups; no password appears
 * anywhere; a same-region read replica
 * carries no KmsKeyId (it is always encrypted with its source's key, and RDS refuses the
 * combination: CreateDBInstanceReadReplica, KmsKeyId).
 */
export function checkDatabase(stack: string, t: Tpl): InvariantFinding[] {
  const out: InvariantFinding[] = [];
  for (const [id, r] of Object.entries(t.Resources ?? {})) {
    if (r.Type !== 'AWS::RDS::DBInstance') continue;
    const p = r.Properties ?? {};
    if (p.PubliclyAccessible !== false) out.push({ stack, logicalId: id, rule: 'db-private', message: 'PubliclyAccessible must be false' });
    if (!encrypted(p)) out.push({ stack, logicalId: id, rule: 'db-encrypted', message: 'StorageEncrypted must be true' });
    if (p.BackupRetentionPeriod !== undefined && !(typeof p.BackupRetentionPeriod === 'number' && p.BackupRetentionPeriod >= MIN_BACKUP_RETENTION_DAYS))
      out.push({ stack, logicalId: id, rule: 'backups-14-days', message: `BackupRetentionPeriod ${JSON.stringify(p.BackupRetentionPeriod)}: the seed keeps the WAL archive ${MIN_BACKUP_RETENTION_DAYS} days, and RDS's restore window is the retention period` });
    if (p.MasterUserPassword !== undefined) out.push({ stack, logicalId: id, rule: 'no-plaintext-secret', message: 'MasterUserPassword set; use ManageMasterUserPassword' });
    if (p.SourceDBInstanceIdentifier !== undefined && p.KmsKeyId !== undefined && sameRegionSource(p.SourceDBInstanceIdentifier, t))
      out.push({ stack, logicalId: id, rule: 'replica-inherits-key', message: 'KmsKeyId on a same-region read replica: it is encrypted with its source\'s key, and RDS refuses the parameter' });
  }
  return out;
}

const SECRET_NAME = /(PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE_KEY|API_KEY)(?!_ARN$)/i;

/**
 * Function environments carry secret ARNs, never secret values: no credential-named variable, no
 * key material, no dynamic reference that resolves a secret into the configuration (CloudFormation
 * refuses ssm-secure there, and writes a secretsmanager value into the function's configuration in
 * clear), no NoEcho parameter.
 */
export function checkFunctionEnvironment(stack: string, t: Tpl): InvariantFinding[] {
  const out: InvariantFinding[] = [];
  const parameters = (t.Parameters ?? {}) as Record<string, { NoEcho?: unknown }>;
  for (const [id, r] of Object.entries(t.Resources ?? {})) {
    if (r.Type !== 'AWS::Lambda::Function') continue;
    const vars = ((r.Properties?.Environment as { Variables?: Record<string, unknown> })?.Variables ?? {}) as Record<string, unknown>;
    for (const [k, v] of Object.entries(vars)) {
      if (SECRET_NAME.test(k) && !k.endsWith('_ARN')) out.push({ stack, logicalId: id, rule: 'no-plaintext-secret', message: `environment variable ${k} holds a secret value; pass its ARN instead` });
      if (typeof v === 'string' && /^-----BEGIN|^(AKIA|ASIA)[A-Z0-9]{16}$/.test(v)) out.push({ stack, logicalId: id, rule: 'no-plaintext-secret', message: `environment variable ${k} looks like key material` });
      const text = JSON.stringify(v);
      if (/\{\{resolve:(secretsmanager|ssm-secure):/.test(text)) out.push({ stack, logicalId: id, rule: 'no-plaintext-secret', message: `environment variable ${k} resolves a secret into the function's configuration; pass its ARN instead` });
      const refs = [...text.matchAll(/"Ref":"([A-Za-z0-9]+)"|\$\{([A-Za-z0-9]+)\}/g)].map((m) => m[1] ?? m[2]!);
      for (const name of refs) {
        const noEcho = parameters[name]?.NoEcho;
        if (noEcho === true || noEcho === 'true') out.push({ stack, logicalId: id, rule: 'no-plaintext-secret', message: `environment variable ${k} takes the NoEcho parameter ${name}` });
      }
    }
  }
  return out;
}

/**
 * An API method's cache keys are declared method request parameters: API Gateway refuses a
 * CacheKeyParameters entry the method does not declare in RequestParameters.
 */
export function checkCacheKeysDeclared(stack: string, t: Tpl): InvariantFinding[] {
  const out: InvariantFinding[] = [];
  for (const [id, r] of Object.entries(t.Resources ?? {})) {
    if (r.Type !== 'AWS::ApiGateway::Method') continue;
    const p = r.Properties ?? {};
    const declared = Object.keys((p.RequestParameters as Record<string, unknown> | undefined) ?? {}).map((k) => (k.startsWith('method.request.header.') ? k.toLowerCase() : k));
    for (const key of ((p.Integration as { CacheKeyParameters?: unknown[] } | undefined)?.CacheKeyParameters ?? []) as unknown[]) {
      if (typeof key !== 'string' || !key.startsWith('method.request.')) continue;
      if (!declared.includes(key.startsWith('method.request.header.') ? key.toLowerCase() : key)) out.push({ stack, logicalId: id, rule: 'cache-key-declared', message: `cache key ${key} is not declared in RequestParameters; API Gateway refuses it` });
    }
  }
  return out;
}

/**
 * An EventBridge rule delivers to a CloudWatch Logs group under the group's resource policy, never
 * a role (EventBridge User Guide: do not give RoleArn for a CloudWatch Logs target), and to the
 * group's ARN, not the Arn attribute, which ends in `:*`.
 */
export function checkLogsTargets(stack: string, t: Tpl): InvariantFinding[] {
  const out: InvariantFinding[] = [];
  const res = t.Resources ?? {};
  const isLogGroupArnAttribute = (arn: unknown): boolean => {
    const g = (arn as { 'Fn::GetAtt'?: unknown } | undefined)?.['Fn::GetAtt'];
    return Array.isArray(g) && g[1] === 'Arn' && res[g[0] as string]?.Type === 'AWS::Logs::LogGroup';
  };
  for (const [id, r] of Object.entries(res)) {
    if (r.Type !== 'AWS::Events::Rule') continue;
    for (const target of ((r.Properties?.Targets as Record<string, unknown>[] | undefined) ?? [])) {
      const arn = target.Arn;
      const toLogs = isLogGroupArnAttribute(arn) || /:logs:[^"]*:log-group:/.test(JSON.stringify(arn ?? ''));
      if (!toLogs) continue;
      if (target.RoleArn !== undefined) out.push({ stack, logicalId: id, rule: 'events-logs-target', message: `target ${String(target.Id)} delivers to CloudWatch Logs with a RoleArn; EventBridge writes there under the log group's resource policy only` });
      if (isLogGroupArnAttribute(arn)) out.push({ stack, logicalId: id, rule: 'events-logs-target', message: `target ${String(target.Id)} is the log group's Arn attribute, which ends in ':*'; give the log group's ARN (Fn::Sub …:log-group:\${Group})` });
    }
  }
  return out;
}

/**
 * Every parameter a stack needs at deploy time comes from an upstream stack's Output of the same
 * name, from the package manifest (code keys), or from what is live (LiveVersion*, LiveDeploymentId).
 */
export function checkWiring(rendered: Record<string, unknown>): InvariantFinding[] {
  const out: InvariantFinding[] = [];
  // The app secret's connection details come from catalog-storage's Outputs at creation, then stay (deploy's sticky parameters).
  const fromDeploy = new Set<string>([PG_LAYER_KEY_PARAMETER, ...API_FUNCTIONS.map(liveVersionParameter), PARAM.LiveDeploymentId, PARAM.AppDbSecretHost, PARAM.AppDbSecretPort, PARAM.AppDbSecretMasterArn]);
  const upstream = new Set<string>();
  for (const stack of STACK_NAMES) {
    const t = rendered[`${stack}.json`] as Tpl | undefined;
    if (!t) {
      out.push({ stack, logicalId: '-', rule: 'stack-present', message: `${stack}.json was not rendered` });
      continue;
    }
    for (const [name, p] of Object.entries(t.Parameters ?? {})) {
      if (p.Default !== undefined || upstream.has(name) || fromDeploy.has(name) || name.startsWith('CodeKey')) continue;
      out.push({ stack, logicalId: name, rule: 'parameter-wired', message: `parameter ${name} has no default and no upstream stack outputs it` });
    }
    for (const o of Object.keys(t.Outputs ?? {})) upstream.add(o);
  }
  return out;
}

/** The state machine invokes exactly its two functions through the placeholders the service fills. */
export function checkStateMachinePlaceholders(rendered: Record<string, unknown>): InvariantFinding[] {
  const sm = JSON.stringify(rendered['state_machine.json'] ?? {});
  const out: InvariantFinding[] = [];
  for (const p of [CHECK_PLACEHOLDER, UPDATE_PLACEHOLDER]) if (!sm.includes(p)) out.push({ stack: 'state_machine', logicalId: '-', rule: 'poller-functions', message: `${p} is not used by any Task` });
  return out;
}

export function checkInvariants(rendered: Record<string, unknown>, _config?: EnvConfig): InvariantFinding[] {
  const out: InvariantFinding[] = [];
  for (const stack of STACK_NAMES) {
    const t = rendered[`${stack}.json`] as Tpl | undefined;
    if (!t) continue;
    out.push(
      ...checkReferences(stack, t),
      ...checkNoWildcardActions(stack, t),
      ...checkDatabaseIngress(stack, t),
      ...checkDatabase(stack, t),
      ...checkFunctionEnvironment(stack, t),
      ...checkCacheKeysDeclared(stack, t),
      ...checkLogsTargets(stack, t),
    );
  }
  out.push(...checkWiring(rendered), ...checkStateMachinePlaceholders(rendered));
  return out;
}

/**
 * Runs the env-file JSON Schema. The validator is ajv "standalone" code generated at build time
 * (scripts/gen-env-validator.mjs → env-schema.validator.js), so the CLI never loads or compiles
 * ajv at start-up.
 */
import validate from './env-schema.validator.js';
import { envSchema } from './schema.ts';

export interface SchemaError {
  instancePath: string;
  keyword: string;
  params: Record<string, unknown>;
  message?: string;
  /** For additionalProperties: the keys that are allowed there. */
  allowed?: string[];
  /** For pattern: what a valid value looks like, in words. */
  patternHint?: string;
}

const PATTERN_HINTS: Record<string, string> = {
  id: 'must be a 12-digit AWS account id (quote it in YAML)',
  region: 'must be an AWS region such as us-east-1',
  vpcCidr: 'must be an IPv4 CIDR between /16 and /28, e.g. 10.0.0.0/16',
  privateSubnetCidrs: 'must be an IPv4 CIDR between /16 and /28, e.g. 10.0.1.0/24',
  vpcId: 'must be a VPC id such as vpc-0abc1234',
  subnetIds: 'must be a subnet id such as subnet-0abc1234',
  routeTableIds: 'must be a route table id such as rtb-0abc1234',
  engineVersion: 'must be a PostgreSQL major.minor version from 13 to 17, e.g. "16.4" (quote it)',
  instanceClass: 'must be an RDS instance class such as db.r6g.large',
  databaseName: 'must start with a letter: lower-case letters, digits, _ (max 63)',
  masterUsername: 'must start with a letter: lower-case letters, digits, _ (max 16)',
  appUsername: 'must start with a letter: lower-case letters, digits, _ (max 63)',
  stageName: 'must be letters, digits or _ (API Gateway stage names)',
  path: 'must be a route under /storage/v1/catalog',
  jwksUri: 'must be an https:// URL',
  issuer: 'must be an https:// URL',
  externalApiBaseUrl: 'must be an https:// URL',
  busArn: 'must be an EventBridge event bus ARN (arn:aws:events:<region>:<account>:event-bus/<name>)',
  bucket: 'must be a valid S3 bucket name (lower-case letters, digits, . and -, 3–63 chars)',
  prefix: 'must be an S3 key prefix without a trailing /',
  name: 'must be lower-case letters, digits and -, starting with a letter (2–16 chars)',
  notificationEmail: 'must be an email address',
};

function schemaAt(path: string[]): Record<string, unknown> | undefined {
  let node: Record<string, unknown> | undefined = envSchema as unknown as Record<string, unknown>;
  for (const seg of path) {
    if (!node) return undefined;
    const props = node.properties as Record<string, Record<string, unknown>> | undefined;
    const branch = (node.then as Record<string, unknown> | undefined)?.properties as Record<string, Record<string, unknown>> | undefined;
    const elseBranch = (node.else as Record<string, unknown> | undefined)?.properties as Record<string, Record<string, unknown>> | undefined;
    node = props?.[seg] ?? branch?.[seg] ?? elseBranch?.[seg] ?? (/^\d+$/.test(seg) ? (node.items as Record<string, unknown>) : undefined);
  }
  return node;
}

/** The first meaningful schema error, or undefined when the data is valid. */
export function validateEnvSchema(data: unknown): SchemaError | undefined {
  if (validate(data)) return undefined;
  const errors = ((validate as unknown as { errors?: SchemaError[] }).errors ?? []).filter((e) => e.keyword !== 'if');
  // Prefer the deepest error: it names the most precise place.
  const e = [...errors].sort((a, b) => b.instancePath.split('/').length - a.instancePath.split('/').length)[0];
  if (!e) return { instancePath: '', keyword: 'invalid', params: {}, message: 'is invalid' };
  const segs = e.instancePath.split('/').slice(1);
  if (e.keyword === 'additionalProperties') {
    const props = schemaAt(segs)?.properties ?? (schemaAt(segs)?.then as Record<string, unknown> | undefined)?.properties;
    if (props && typeof props === 'object') e.allowed = Object.keys(props as object);
  }
  if (e.keyword === 'pattern') {
    const key = [...segs].reverse().find((s) => !/^\d+$/.test(s)) ?? '';
    e.patternHint = PATTERN_HINTS[key] ?? `must match ${String(e.params.pattern)}`;
  }
  return e;
}

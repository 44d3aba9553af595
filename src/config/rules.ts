/**
 * Rules the schema cannot say: ones that span several keys, and value checks a pattern cannot
 * express (CIDR alignment, AZs of the env's region, the ARN's partition). Each rule names the keys
 * it reads; it runs only when the schema found nothing wrong at or under them, so a rule never
 * trips over a value of the wrong type and never repeats a problem the schema already reported.
 */
import type { EnvConfig } from './types.ts';
import { FORBIDDEN_IN_VALUE, describeForbidden } from './read.ts';
import { AWS_REGIONS, type ConfigPath, type ConfigProblem } from './validate-schema.ts';

interface Rule {
  uses: ConfigPath[];
  check(c: EnvConfig): ConfigProblem[];
}

function ipv4(cidr: string): { base: number; bits: number } {
  const [addr, bits] = cidr.split('/');
  const base = (addr ?? '').split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  return { base, bits: Number(bits) };
}

function cidrRange(cidr: string): [number, number] {
  const { base, bits } = ipv4(cidr);
  const size = 2 ** (32 - bits);
  const start = base - (base % size);
  return [start, start + size - 1];
}

const dotted = (n: number) => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');

/** EC2 rewrites a block with host bits set to its network address; we ask for what AWS would hold. */
function misaligned(cidr: string): string | undefined {
  const { base, bits } = ipv4(cidr);
  const [start] = cidrRange(cidr);
  return start === base ? undefined : `host bits are set: did you mean ${dotted(start)}/${bits}? (EC2 would silently use that block)`;
}

const partitionOf = (region: string) => AWS_REGIONS.find((r) => r.region === region)?.partition;

function urlProblem(path: ConfigPath, value: string): ConfigProblem[] {
  try {
    const u = new URL(value);
    if (u.username || u.password) return [{ path, message: 'must not carry a user name or password' }];
    return [];
  } catch {
    return [{ path, message: 'is not a URL Node can parse' }];
  }
}

const RULES: Rule[] = [
  {
    uses: [['network']],
    check(c) {
      const out: ConfigProblem[] = [];
      const net = c.network;
      if (net.mode !== 'create') return out;
      const vpcOff = misaligned(net.vpcCidr);
      if (vpcOff) out.push({ path: ['network', 'vpcCidr'], message: vpcOff });
      net.privateSubnetCidrs.forEach((cidr, i) => {
        const off = misaligned(cidr);
        if (off) out.push({ path: ['network', 'privateSubnetCidrs', i], message: off });
      });
      const [vs, ve] = cidrRange(net.vpcCidr);
      const ranges = net.privateSubnetCidrs.map(cidrRange);
      ranges.forEach(([s, e], i) => {
        if (s < vs || e > ve) out.push({ path: ['network', 'privateSubnetCidrs', i], message: `must lie inside vpcCidr ${net.vpcCidr}` });
      });
      const [a, b] = ranges;
      if (a && b && a[0] <= b[1] && b[0] <= a[1]) out.push({ path: ['network', 'privateSubnetCidrs', 1], message: 'must not overlap the first subnet' });
      return out;
    },
  },
  {
    uses: [['network'], ['account', 'region']],
    check(c) {
      const net = c.network;
      if (net.mode !== 'create' || !net.availabilityZones) return [];
      const out: ConfigProblem[] = [];
      net.availabilityZones.forEach((az, i) => {
        if (!new RegExp(`^${c.account.region}[a-z]$`).test(az)) out.push({ path: ['network', 'availabilityZones', i], message: `must be an Availability Zone of ${c.account.region} (${c.account.region}a, ${c.account.region}b, …)` });
      });
      if (net.availabilityZones[0] === net.availabilityZones[1]) out.push({ path: ['network', 'availabilityZones', 1], message: 'must differ from the first: the two subnets need two AZs' });
      return out;
    },
  },
  {
    uses: [['database', 'allocatedStorageGb'], ['database', 'maxAllocatedStorageGb']],
    check: (c) => (c.database.maxAllocatedStorageGb < c.database.allocatedStorageGb ? [{ path: ['database', 'maxAllocatedStorageGb'], message: `must be >= allocatedStorageGb (${c.database.allocatedStorageGb})` }] : []),
  },
  {
    // RDS rejects a target group whose idle share exceeds its share (ModifyDBProxyTargetGroup).
    uses: [['database', 'proxy']],
    check: (c) => {
      const p = c.database.proxy;
      return p && p.maxIdleConnectionsPercent > p.maxConnectionsPercent ? [{ path: ['database', 'proxy', 'maxIdleConnectionsPercent'], message: `must be <= maxConnectionsPercent (${p.maxConnectionsPercent})` }] : [];
    },
  },
  {
    uses: [['api', 'cache']],
    check(c) {
      if (c.api.cache.enabled && c.api.cache.sizeGb === undefined) return [{ path: ['api', 'cache', 'enabled'], message: 'cache enabled but sizeGb is missing' }];
      if (!c.api.cache.enabled && c.api.cache.sizeGb !== undefined) return [{ path: ['api', 'cache', 'sizeGb'], message: 'set while the cache is disabled; remove it or enable the cache' }];
      return [];
    },
  },
  {
    uses: [['api', 'throttling']],
    check(c) {
      const out: ConfigProblem[] = [];
      const seen = new Set<string>();
      c.api.throttling.routes.forEach((r, i) => {
        const key = `${r.method} ${r.path}`;
        if (seen.has(key)) out.push({ path: ['api', 'throttling', 'routes', i], message: `duplicate override for ${key}` });
        seen.add(key);
        if (r.burstLimit > c.api.throttling.burstLimit * 10) out.push({ path: ['api', 'throttling', 'routes', i, 'burstLimit'], message: 'must not exceed 10× the stage burst limit' });
      });
      return out;
    },
  },
  {
    uses: [['lambda', 'provisionedConcurrency'], ['lambda', 'accountConcurrencyLimit']],
    check: (c) =>
      c.lambda.provisionedConcurrency > c.lambda.accountConcurrencyLimit ? [{ path: ['lambda', 'provisionedConcurrency'], message: `must be <= accountConcurrencyLimit (${c.lambda.accountConcurrencyLimit})` }] : [],
  },
  {
    uses: [['release', 'trafficSteps']],
    check(c) {
      const out: ConfigProblem[] = [];
      const steps = c.release.trafficSteps;
      steps.forEach((s, i) => {
        if (i > 0 && s <= (steps[i - 1] ?? 0)) out.push({ path: ['release', 'trafficSteps', i], message: 'traffic steps must be strictly increasing' });
      });
      if (steps[steps.length - 1] !== 100) out.push({ path: ['release', 'trafficSteps'], message: 'the last traffic step must be 100' });
      return out;
    },
  },
  {
    uses: [['poller']],
    check: (c) =>
      c.poller.backoff && c.poller.backoff.maxIntervalSeconds < c.poller.intervalSeconds
        ? [{ path: ['poller', 'backoff', 'maxIntervalSeconds'], message: `must be >= poller.intervalSeconds (${c.poller.intervalSeconds})` }]
        : [],
  },
  {
    uses: [['database', 'appUsername'], ['database', 'masterUsername']],
    check: (c) => (c.database.appUsername === c.database.masterUsername ? [{ path: ['database', 'appUsername'], message: 'must differ from masterUsername (the app user is least-privilege)' }] : []),
  },
  {
    uses: [['name'], ['database', 'multiAz'], ['database', 'deletionProtection'], ['release', 'requireApproval']],
    check(c) {
      if (c.name !== 'prod') return [];
      const out: ConfigProblem[] = [];
      if (!c.database.multiAz) out.push({ path: ['database', 'multiAz'], message: 'must be true for prod' });
      if (!c.database.deletionProtection) out.push({ path: ['database', 'deletionProtection'], message: 'must be true for prod' });
      if (!c.release.requireApproval) out.push({ path: ['release', 'requireApproval'], message: 'must be true for prod' });
      return out;
    },
  },
  {
    uses: [['auth'], ['poller', 'externalApiBaseUrl']],
    check: (c) => [...urlProblem(['auth', 'jwksUri'], c.auth.jwksUri), ...urlProblem(['auth', 'issuer'], c.auth.issuer), ...urlProblem(['poller', 'externalApiBaseUrl'], c.poller.externalApiBaseUrl)],
  },
  {
    // An EventBridge target must be in the env's partition, in a region AWS lists for it.
    uses: [['evidenceLedger', 'busArn'], ['account', 'region']],
    check(c) {
      const [, partition, , region] = c.evidenceLedger.busArn.split(':');
      const home = partitionOf(c.account.region);
      if (partitionOf(region ?? '') !== partition) return [{ path: ['evidenceLedger', 'busArn'], message: `region ${region} is not a region of partition ${partition}` }];
      if (partition !== home) return [{ path: ['evidenceLedger', 'busArn'], message: `must be in partition ${home} (the partition of ${c.account.region})` }];
      return [];
    },
  },
];

const overlaps = (a: ConfigPath, b: ConfigPath) => a.slice(0, Math.min(a.length, b.length)).every((s, i) => String(s) === String(b[i]));

/** Cross-field problems, skipping rules whose keys already have schema problems. */
export function ruleProblems(c: EnvConfig, schemaFailed: readonly ConfigPath[], expectName?: string): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  if (expectName !== undefined && typeof c.name === 'string' && c.name !== expectName && !schemaFailed.some((p) => overlaps(p, ['name']))) {
    out.push({ path: ['name'], message: `must be ${expectName} to match the file name`, at: 'value' });
  }
  for (const rule of RULES) {
    if (schemaFailed.some((p) => rule.uses.some((u) => overlaps(p, u)))) continue;
    out.push(...rule.check(c));
  }
  return out;
}

/** Control and bidirectional characters in any key or string value (escapes like "\u202e" included). */
export function forbiddenCharProblems(data: unknown): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const walk = (node: unknown, path: (string | number)[]) => {
    if (typeof node === 'string') {
      const m = FORBIDDEN_IN_VALUE.exec(node);
      if (m) out.push({ path, message: `${describeForbidden(m[0])} is not allowed in values`, at: 'value' });
    } else if (Array.isArray(node)) {
      node.forEach((v, i) => walk(v, [...path, i]));
    } else if (node && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) {
        const m = FORBIDDEN_IN_VALUE.exec(k);
        if (m) out.push({ path: [...path, k], message: `${describeForbidden(m[0])} is not allowed in keys` });
        walk(v, [...path, k]);
      }
    }
  };
  walk(data, []);
  return out;
}

/**
 * The project's own security rules, for what cfn-lint and checkov do not look at: checkov only
 * flags world-open ingress on ports 22, 80 and 3389, its Lambda secret check recognises
 * credential-shaped values, not a password stored under an obvious name, and nothing checks what
 * an API Gateway cache is keyed on.
 */
import type { Finding } from './report.ts';

type Json = unknown;
type Obj = Record<string, Json>;
const isObj = (v: Json): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const asArray = (v: Json): Json[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** Variable names that hold a credential when they hold a value rather than an ARN or a name. */
const SECRET_NAME = /PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|PRIVATE_?KEY|API_?KEY|ACCESS_?KEY|CREDENTIAL/i;
const REFERENCE_NAME = /(_ARN|_ID|_NAME|_URI|_URL)$/i;

export const RULES = {
  CAT_SG_WORLD_INGRESS: 'security group ingress open to the internet',
  CAT_LAMBDA_ENV_SECRET: 'secret value in a Lambda environment variable',
  CAT_IAM_WILDCARD_ACTION: 'IAM policy allows a wildcard action',
  CAT_API_CACHE_KEY_IDENTITY: "a cached API method's cache key lacks the caller's identity",
  CAT_API_CACHE_KEY_CONDITIONAL: "a cached API method's cache key lacks If-None-Match",
} as const;

export function checkRules(env: string, stack: string, template: Json): Finding[] {
  const findings: Finding[] = [];
  const add = (resource: string, rule: keyof typeof RULES, message: string): void => {
    findings.push({ env, stack, resource, checker: 'rules', rule, severity: 'error', message });
  };
  if (!isObj(template) || !isObj(template.Resources)) return findings;
  const params = isObj(template.Parameters) ? template.Parameters : {};

  for (const [id, r] of Object.entries(template.Resources)) {
    if (!isObj(r)) continue;
    const props = isObj(r.Properties) ? r.Properties : {};
    switch (r.Type) {
      case 'AWS::EC2::SecurityGroup':
        for (const rule of asArray(props.SecurityGroupIngress)) worldIngress(rule, (m) => add(id, 'CAT_SG_WORLD_INGRESS', m));
        break;
      case 'AWS::EC2::SecurityGroupIngress':
        worldIngress(props, (m) => add(id, 'CAT_SG_WORLD_INGRESS', m));
        break;
      case 'AWS::Lambda::Function': {
        const vars = isObj(props.Environment) && isObj(props.Environment.Variables) ? props.Environment.Variables : {};
        for (const [name, value] of Object.entries(vars)) {
          const problem = secretProblem(name, value, params);
          if (problem) add(id, 'CAT_LAMBDA_ENV_SECRET', `environment variable ${name} ${problem}; pass the secret's ARN and read it at run time`);
        }
        break;
      }
      case 'AWS::IAM::Role':
        for (const p of asArray(props.Policies)) if (isObj(p)) wildcardActions(p.PolicyDocument, (m) => add(id, 'CAT_IAM_WILDCARD_ACTION', m));
        break;
      case 'AWS::IAM::Policy':
      case 'AWS::IAM::ManagedPolicy':
      case 'AWS::IAM::RolePolicy':
        wildcardActions(props.PolicyDocument, (m) => add(id, 'CAT_IAM_WILDCARD_ACTION', m));
        break;
    }
  }
  for (const f of cacheKeyFindings(template.Resources)) add(f.method, f.rule, f.message);
  return findings;
}

// --- API Gateway cache keys ---

const IDENTITY_HEADER = 'method.request.header.Authorization';
const CONDITIONAL_HEADER = 'method.request.header.If-None-Match';
/** Header names are case-insensitive; the rest of a parameter name is not. */
const sameParameter = (a: string, b: string): boolean => (a.startsWith('method.request.header.') && b.startsWith('method.request.header.') ? a.toLowerCase() === b.toLowerCase() : a === b);
const refOf = (v: Json): string | undefined => (isObj(v) && typeof v.Ref === 'string' ? v.Ref : undefined);
/** Whether a template value is true, or may be (an intrinsic decides at deploy time). */
const mayBeTrue = (v: Json): boolean => v === true || v === 'true' || isObj(v);

/** `/storage/v1/catalog/datasets/{id}` of an AWS::ApiGateway::Resource, following ParentId to the root. */
function resourcePath(resources: Obj, resourceId: Json): string | undefined {
  const parts: string[] = [];
  let cur = resourceId;
  for (let depth = 0; depth < 64; depth++) {
    if (isObj(cur) && Array.isArray(cur['Fn::GetAtt']) && cur['Fn::GetAtt'][1] === 'RootResourceId') return `/${parts.reverse().join('/')}`;
    const id = refOf(cur);
    const r = id === undefined ? undefined : resources[id];
    if (!isObj(r) || r.Type !== 'AWS::ApiGateway::Resource' || !isObj(r.Properties)) return undefined;
    parts.push(String(r.Properties.PathPart));
    cur = r.Properties.ParentId;
  }
  return undefined;
}

/**
 * Whether a stage caches a method: the most specific MethodSetting that says (path and method, then
 * path with any method, then any path with the method, then the stage default); with none, API
 * Gateway caches GET methods only (API Gateway Developer Guide, "Enable API caching").
 */
function cachedOnStage(settings: Json[], path: string | undefined, httpMethod: string): boolean {
  const encoded = path === undefined ? undefined : `/${path.replace(/\//g, '~1')}`;
  const matches = (s: Obj, p: string | undefined, m: string) => s.ResourcePath === p && s.HttpMethod === m;
  const order: [string | undefined, string][] = [
    [encoded, httpMethod],
    [encoded, '*'],
    ['/*', httpMethod],
    ['/*', '*'],
  ];
  for (const [p, m] of order) {
    const s = settings.find((x) => isObj(x) && matches(x, p, m) && x.CachingEnabled !== undefined);
    if (isObj(s)) return mayBeTrue(s.CachingEnabled);
  }
  return httpMethod === 'GET';
}

/**
 * The request parameters that identify the caller of a method, as its authorizer reads them: a
 * Lambda or Cognito authorizer's IdentitySource (its method.request.* parts), the signed
 * Authorization header for AWS_IAM; none for an open method.
 */
function identityParameters(resources: Obj, method: Obj): string[] {
  const type = String(method.AuthorizationType ?? 'NONE');
  if (type === 'NONE') return [];
  if (type === 'AWS_IAM') return [IDENTITY_HEADER];
  const authorizerId = refOf(method.AuthorizerId);
  const authorizer = authorizerId === undefined ? undefined : resources[authorizerId];
  const source = isObj(authorizer) && isObj(authorizer.Properties) ? authorizer.Properties.IdentitySource : undefined;
  if (typeof source !== 'string') return [IDENTITY_HEADER];
  const parts = source
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.startsWith('method.request.'));
  return parts.length ? parts : [IDENTITY_HEADER];
}

/**
 * Cache enabled ⇒ every cached method keys on the caller's identity and on If-None-Match, each
 * declared in the method's RequestParameters and listed in its integration's CacheKeyParameters.
 * Otherwise API Gateway serves one caller's cached page, or a cached 304, to another.
 */
function cacheKeyFindings(resources: Obj): { method: string; rule: 'CAT_API_CACHE_KEY_IDENTITY' | 'CAT_API_CACHE_KEY_CONDITIONAL'; message: string }[] {
  const out: { method: string; rule: 'CAT_API_CACHE_KEY_IDENTITY' | 'CAT_API_CACHE_KEY_CONDITIONAL'; message: string }[] = [];
  const byType = (type: string) => Object.entries(resources).filter((e): e is [string, Obj] => isObj(e[1]) && e[1].Type === type);
  for (const [stageId, stage] of byType('AWS::ApiGateway::Stage')) {
    const sp = isObj(stage.Properties) ? stage.Properties : {};
    if (!mayBeTrue(sp.CacheClusterEnabled)) continue;
    const api = refOf(sp.RestApiId);
    for (const [methodId, m] of byType('AWS::ApiGateway::Method')) {
      const p = isObj(m.Properties) ? m.Properties : {};
      if (api !== undefined && refOf(p.RestApiId) !== undefined && refOf(p.RestApiId) !== api) continue;
      const httpMethod = String(p.HttpMethod);
      const path = resourcePath(resources, p.ResourceId);
      if (!cachedOnStage(asArray(sp.MethodSettings), path, httpMethod)) continue;
      const declared = isObj(p.RequestParameters) ? Object.keys(p.RequestParameters) : [];
      const keys = isObj(p.Integration) ? asArray(p.Integration.CacheKeyParameters).filter((k): k is string => typeof k === 'string') : [];
      const where = `${httpMethod} ${path ?? String(refOf(p.ResourceId) ?? '?')} (cached on ${stageId})`;
      const missing = (param: string) =>
        [keys.some((k) => sameParameter(k, param)) ? '' : 'CacheKeyParameters', declared.some((k) => sameParameter(k, param)) ? '' : 'RequestParameters'].filter(Boolean).join(' and ');
      for (const param of identityParameters(resources, p)) {
        const gap = missing(param);
        if (gap) out.push({ method: methodId, rule: 'CAT_API_CACHE_KEY_IDENTITY', message: `${where} does not key on the caller's identity: ${param} missing from ${gap}; one caller can be served another's cached response` });
      }
      const gap = missing(CONDITIONAL_HEADER);
      if (gap) out.push({ method: methodId, rule: 'CAT_API_CACHE_KEY_CONDITIONAL', message: `${where}: ${CONDITIONAL_HEADER} missing from ${gap}; a cached 304 can answer a request that sent no If-None-Match` });
    }
  }
  return out;
}

function worldIngress(rule: Json, report: (message: string) => void): void {
  if (!isObj(rule)) return;
  const cidr = rule.CidrIp === '0.0.0.0/0' ? '0.0.0.0/0' : rule.CidrIpv6 === '::/0' ? '::/0' : undefined;
  if (!cidr) return;
  const from = rule.FromPort ?? 'any';
  const to = rule.ToPort ?? from;
  const ports = String(rule.IpProtocol) === '-1' ? 'all ports' : from === to ? `port ${String(from)}` : `ports ${String(from)}-${String(to)}`;
  report(`ingress from ${cidr} on ${ports}`);
}

/** Why a variable carries a secret value, or undefined when it does not. */
function secretProblem(name: string, value: Json, params: Obj): string | undefined {
  const text = JSON.stringify(value);
  // A dynamic reference resolves the secret into the function's configuration, in clear.
  if (/\{\{resolve:(secretsmanager|ssm-secure):/.test(text)) return 'resolves a secret into the configuration';
  if (isObj(value) && typeof value.Ref === 'string') {
    const p = params[value.Ref];
    if (isObj(p) && (p.NoEcho === true || p.NoEcho === 'true')) return `takes the NoEcho parameter ${value.Ref}`;
    return undefined;
  }
  if (!SECRET_NAME.test(name) || REFERENCE_NAME.test(name)) return undefined;
  if (typeof value === 'string' && value !== '' && !value.startsWith('arn:')) return 'holds a literal value';
  return undefined;
}

function wildcardActions(doc: Json, report: (message: string) => void): void {
  if (!isObj(doc)) return;
  for (const st of asArray(doc.Statement)) {
    if (!isObj(st) || st.Effect !== 'Allow') continue;
    if (st.NotAction !== undefined) {
      report(`Allow with NotAction ${JSON.stringify(st.NotAction)} grants every other action`);
      continue;
    }
    for (const a of asArray(st.Action)) {
      if (typeof a === 'string' && (a === '*' || /^[a-z0-9-]+:\*$/i.test(a))) report(`Allow ${a}${st.Sid ? ` (statement ${String(st.Sid)})` : ''}`);
    }
  }
}

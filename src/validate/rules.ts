/**
 * The project's own security rules, for what cfn-lint and checkov do not look at: checkov only
 * flags world-open ingress on ports 22, 80 and 3389, and its Lambda secret check recognises
 * credential-shaped values, not a password stored under an obvious name.
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
  return findings;
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

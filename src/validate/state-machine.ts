/**
 * Cross-check between state_machine.json and catalog-service: every Lambda the definition names
 * through a `${…FunctionArn}` placeholder must be bound to a function of catalog-service, the
 * state machine's role must be allowed to invoke exactly those functions and no other, and the
 * definition catalog-service embeds must be the rendered state_machine.json.
 */
import { isDeepStrictEqual } from 'node:util';
import { RELEASE } from '../templates/ids.ts';
import type { Finding } from './report.ts';

type Json = unknown;
type Obj = Record<string, Json>;
type Resources = Record<string, { Type?: string; Properties?: Obj }>;

const isObj = (v: Json): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const asArray = (v: Json): Json[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

const PLACEHOLDER = /\$\{([A-Za-z0-9_]+)\}/g;
const INVOKE_ACTIONS = ['lambda:invokefunction', 'lambda:invokeasync'];

/** Role ARNs of AWS-managed policies that let a role invoke any function. */
const BROAD_MANAGED_POLICIES = /policy\/(AdministratorAccess|PowerUserAccess|service-role\/AWSLambdaRole|AWSLambda_FullAccess|AWSLambdaFullAccess)$/;

export function checkStateMachine(env: string, definition: Json, serviceTemplate: Json): Finding[] {
  const findings: Finding[] = [];
  const add = (resource: string, rule: string, message: string, stack = 'catalog-service'): void => {
    findings.push({ env, stack, resource, checker: 'state-machine', rule, severity: 'error', message });
  };
  const resources: Resources = isObj(serviceTemplate) && isObj(serviceTemplate.Resources) ? (serviceTemplate.Resources as Resources) : {};

  // The release state machine has its own cross-check (./release-state-machine.ts).
  const machines = Object.entries(resources).filter(([id, r]) => r.Type === 'AWS::StepFunctions::StateMachine' && id !== RELEASE.ReleaseStateMachine);
  if (machines.length !== 1) {
    add('-', 'SM_MACHINE_COUNT', `catalog-service must hold exactly one AWS::StepFunctions::StateMachine besides ${RELEASE.ReleaseStateMachine}, found ${machines.length}`);
    return findings;
  }
  const [machineId, machine] = machines[0]!;
  const props = machine.Properties ?? {};

  // Which Task states use which placeholder, from the rendered definition.
  const lambdaPlaceholders = lambdaPlaceholdersOf(definition);
  const allPlaceholders = new Set<string>();
  collectPlaceholders(definition, allPlaceholders);

  // The embedded definition and its substitution map.
  const embedded = embeddedDefinition(props);
  if (!embedded) {
    add(machineId, 'SM_DEFINITION_FORM', 'DefinitionString must be Fn::Sub [definition, substitutions] (or Definition with DefinitionSubstitutions)');
    return findings;
  }
  if (!isDeepStrictEqual(embedded.definition, definition)) {
    add(machineId, 'SM_DEFINITION_MISMATCH', 'the definition embedded in catalog-service differs from state_machine.json');
  }
  for (const name of allPlaceholders) {
    if (!(name in embedded.substitutions)) add(machineId, 'SM_UNBOUND_PLACEHOLDER', `placeholder \${${name}} has no substitution`);
  }

  // Every Lambda the definition names must be a catalog-service function.
  const named = new Map<string, string[]>(); // function logical id → states naming it
  for (const [placeholder, states] of lambdaPlaceholders) {
    if (!(placeholder in embedded.substitutions)) continue;
    const fn = functionOf(resources, embedded.substitutions[placeholder]);
    if (!fn) {
      for (const state of states) {
        add(state, 'SM_UNKNOWN_FUNCTION', `\${${placeholder}} is not bound to an AWS::Lambda::Function of catalog-service`, 'state_machine');
      }
      continue;
    }
    named.set(fn, [...(named.get(fn) ?? []), ...states]);
  }

  // The role and everything it is granted.
  const roleId = refTarget(props.RoleArn);
  const role = roleId === undefined ? undefined : resources[roleId];
  if (!roleId || role?.Type !== 'AWS::IAM::Role') {
    add(machineId, 'SM_ROLE_UNKNOWN', 'RoleArn must be Fn::GetAtt of an AWS::IAM::Role in catalog-service');
    return findings;
  }
  if (!trustsStates(role.Properties?.AssumeRolePolicyDocument)) {
    add(roleId, 'SM_ROLE_TRUST', 'the state machine role must be assumable by states.amazonaws.com');
  }
  for (const arn of asArray(role.Properties?.ManagedPolicyArns)) {
    if (typeof arn === 'string' && BROAD_MANAGED_POLICIES.test(arn)) {
      add(roleId, 'SM_ROLE_INVOKES_OTHER', `managed policy ${arn} lets the role invoke any function`);
    }
  }
  const granted = new Map<string, string>(); // function logical id, or the raw resource → how it was granted
  for (const [source, doc] of policiesOf(resources, roleId, role)) {
    for (const st of asArray(isObj(doc) ? doc.Statement : undefined)) {
      if (!isObj(st) || st.Effect !== 'Allow' || !grantsInvoke(st)) continue;
      if (st.NotResource !== undefined) {
        granted.set('*', `${source} (NotResource)`);
        continue;
      }
      for (const res of asArray(st.Resource)) {
        const fn = functionOf(resources, res);
        granted.set(fn ?? describe(res), source);
      }
    }
  }

  for (const [fn, states] of named) {
    if (!granted.has(fn)) add(roleId, 'SM_ROLE_CANNOT_INVOKE', `role may not invoke ${fn}, which state ${states.join(', ')} calls`);
  }
  for (const [target, source] of granted) {
    if (!named.has(target)) {
      add(roleId, 'SM_ROLE_INVOKES_OTHER', `role may invoke ${target} (${source}), which the state machine does not call`);
    }
  }
  return findings;
}

/** Placeholders used where Step Functions calls a Lambda: Task Resource or Parameters/Arguments.FunctionName. */
function lambdaPlaceholdersOf(definition: Json): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const visit = (states: Json): void => {
    if (!isObj(states)) return;
    for (const [name, state] of Object.entries(states)) {
      if (!isObj(state)) continue;
      if (state.Type === 'Task') {
        const params = isObj(state.Parameters) ? state.Parameters : isObj(state.Arguments) ? state.Arguments : {};
        for (const v of [state.Resource, params['FunctionName'], params['FunctionName.$']]) {
          if (typeof v !== 'string') continue;
          for (const m of v.matchAll(PLACEHOLDER)) out.set(m[1]!, [...(out.get(m[1]!) ?? []), name]);
        }
      }
      for (const branch of asArray(state.Branches)) if (isObj(branch)) visit(branch.States);
      for (const sub of [state.Iterator, state.ItemProcessor]) if (isObj(sub)) visit(sub.States);
    }
  };
  if (isObj(definition)) visit(definition.States);
  return out;
}

function collectPlaceholders(v: Json, into: Set<string>): void {
  if (typeof v === 'string') for (const m of v.matchAll(PLACEHOLDER)) into.add(m[1]!);
  else if (Array.isArray(v)) v.forEach((x) => collectPlaceholders(x, into));
  else if (isObj(v)) Object.values(v).forEach((x) => collectPlaceholders(x, into));
}

function embeddedDefinition(props: Obj): { definition: Json; substitutions: Obj } | undefined {
  if (isObj(props.Definition)) {
    return { definition: props.Definition, substitutions: isObj(props.DefinitionSubstitutions) ? props.DefinitionSubstitutions : {} };
  }
  const ds = props.DefinitionString;
  const sub = isObj(ds) ? ds['Fn::Sub'] : undefined;
  const [text, vars] = Array.isArray(sub) ? sub : [sub, {}];
  if (typeof text !== 'string') return undefined;
  try {
    return { definition: JSON.parse(text) as Json, substitutions: isObj(vars) ? vars : {} };
  } catch {
    return undefined;
  }
}

/** The logical id an expression refers to: Ref, Fn::GetAtt, or the first `${Id}`/`${Id.Attr}` in Fn::Sub/Fn::Join. */
function refTarget(expr: Json): string | undefined {
  if (!isObj(expr)) return undefined;
  if (typeof expr.Ref === 'string') return expr.Ref;
  const getAtt = expr['Fn::GetAtt'];
  if (Array.isArray(getAtt) && typeof getAtt[0] === 'string') return getAtt[0];
  if (typeof getAtt === 'string') return getAtt.split('.')[0];
  const sub = expr['Fn::Sub'];
  const text = Array.isArray(sub) ? sub[0] : sub;
  if (typeof text === 'string') {
    const m = text.match(/\$\{([A-Za-z0-9]+)(?:\.[A-Za-z0-9.]+)?\}/);
    if (m) return m[1];
  }
  const join = expr['Fn::Join'];
  if (Array.isArray(join) && Array.isArray(join[1])) {
    for (const part of join[1]) {
      const t = refTarget(part);
      if (t) return t;
    }
  }
  return undefined;
}

/** The AWS::Lambda::Function an expression designates, following aliases and versions. */
function functionOf(resources: Resources, expr: Json, depth = 0): string | undefined {
  const id = refTarget(expr);
  const r = id === undefined ? undefined : resources[id];
  if (!id || !r || depth > 3) return undefined;
  if (r.Type === 'AWS::Lambda::Function') return id;
  if (r.Type === 'AWS::Lambda::Alias' || r.Type === 'AWS::Lambda::Version') return functionOf(resources, r.Properties?.FunctionName, depth + 1);
  return undefined;
}

function describe(res: Json): string {
  if (typeof res === 'string') return res;
  return JSON.stringify(res);
}

function grantsInvoke(st: Obj): boolean {
  if (st.NotAction !== undefined) {
    return !asArray(st.NotAction).some((a) => typeof a === 'string' && INVOKE_ACTIONS.every((act) => wildcardMatch(a, act)));
  }
  return asArray(st.Action).some((a) => typeof a === 'string' && INVOKE_ACTIONS.some((act) => wildcardMatch(a, act)));
}

/** IAM action matching: case-insensitive, `*` any run, `?` one character. */
function wildcardMatch(pattern: string, action: string): boolean {
  const re = new RegExp(`^${pattern.toLowerCase().replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  return re.test(action);
}

function trustsStates(doc: Json): boolean {
  if (!isObj(doc)) return false;
  return asArray(doc.Statement).some((st) => {
    if (!isObj(st) || st.Effect !== 'Allow' || !isObj(st.Principal)) return false;
    return asArray(st.Principal.Service).some((s) => typeof s === 'string' && /^states(\.[a-z0-9-]+)?\.amazonaws\.com$/.test(s));
  });
}

/** Inline policies of the role plus IAM policy resources of the template attached to it. */
function policiesOf(resources: Resources, roleId: string, role: { Properties?: Obj }): [string, Json][] {
  const out: [string, Json][] = [];
  for (const p of asArray(role.Properties?.Policies)) {
    if (isObj(p)) out.push([`${roleId} policy ${String(p.PolicyName)}`, p.PolicyDocument]);
  }
  for (const [id, r] of Object.entries(resources)) {
    const props = r.Properties ?? {};
    if (r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy') {
      if (asArray(props.Roles).some((x) => refTarget(x) === roleId)) out.push([id, props.PolicyDocument]);
    } else if (r.Type === 'AWS::IAM::RolePolicy') {
      if (refTarget(props.RoleName) === roleId) out.push([id, props.PolicyDocument]);
    }
  }
  for (const arn of asArray(role.Properties?.ManagedPolicyArns)) {
    const id = refTarget(arn);
    const r = id === undefined ? undefined : resources[id];
    if (id && r?.Type === 'AWS::IAM::ManagedPolicy') out.push([id, r.Properties?.PolicyDocument]);
  }
  return out;
}

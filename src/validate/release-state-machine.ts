/**
 * Cross-check between release_state_machine.json and catalog-service: the definition catalog-service
 * deploys is the rendered file; every Task calls one of the SDK actions the release needs and
 * nothing else (no Lambda invocation, no other service); the state machine's role is granted each of
 * those actions, only on this env's resources, and nothing more than its logs and traces; the
 * stage's cache is flushed after each change of its variables exactly where the env has one; the
 * release records go to this env's artifact prefix; and, for an env whose releases run in AWS by
 * default, a release fits in one execution's history.
 */
import { API_FUNCTIONS, type EnvConfig } from '../config/types.ts';
import { checkHistoryBudget } from '../deploy/server-shift.ts';
import { fnIds, RELEASE, SERVICE } from '../templates/ids.ts';
import { RELEASE_SDK_ACTIONS, sdk } from '../templates/release-state-machine.ts';
import { DEFAULT_INSUFFICIENT_DATA_GRACE_SECONDS } from '../deploy/shift.ts';
import type { Finding } from './report.ts';

type Json = unknown;
type Obj = Record<string, Json>;
const isObj = (v: Json): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const asArray = (v: Json): Json[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** What the role may do besides the SDK actions: deliver its logs and traces (no resource ARNs exist for these). */
const LOGS_AND_TRACES = new Set(
  ['logs:CreateLogDelivery', 'logs:GetLogDelivery', 'logs:UpdateLogDelivery', 'logs:DeleteLogDelivery', 'logs:ListLogDeliveries', 'logs:PutResourcePolicy', 'logs:DescribeResourcePolicies', 'logs:DescribeLogGroups', 'xray:PutTraceSegments', 'xray:PutTelemetryRecords', 'xray:GetSamplingRules', 'xray:GetSamplingTargets'].map((a) => a.toLowerCase()),
);
/** Actions that take no resource for what the release does (stated next to each in the role). */
const UNSCOPED = new Set(['cloudwatch:getmetricdata']);

function tasksOf(definition: Json): { name: string; resource: string; params: Obj }[] {
  const out: { name: string; resource: string; params: Obj }[] = [];
  const visit = (states: Json): void => {
    if (!isObj(states)) return;
    for (const [name, s] of Object.entries(states)) {
      if (!isObj(s)) continue;
      if (s.Type === 'Task') out.push({ name, resource: String(s.Resource), params: isObj(s.Parameters) ? s.Parameters : {} });
      for (const sub of [s.ItemProcessor, s.Iterator]) if (isObj(sub)) visit(sub.States);
      for (const b of asArray(s.Branches)) if (isObj(b)) visit(b.States);
    }
  };
  if (isObj(definition)) visit(definition.States);
  return out;
}

/** Whether a Task calling `resource` comes after state `from`, through Pass and Choice states only (top level). */
function flushFollows(definition: Json, from: string, resource: string): boolean {
  const states = isObj(definition) && isObj(definition.States) ? definition.States : {};
  const seen = new Set<string>();
  const next = (s: Obj): string[] => [s.Next, s.Default, ...asArray(s.Choices).map((c) => (isObj(c) ? c.Next : undefined))].filter((n): n is string => typeof n === 'string');
  let frontier = isObj(states[from]) ? next(states[from] as Obj) : [];
  while (frontier.length) {
    const name = frontier.shift()!;
    const s = states[name];
    if (seen.has(name) || !isObj(s)) continue;
    seen.add(name);
    if (s.Type === 'Task') {
      if (s.Resource === resource) return true;
    } else if (s.Type === 'Pass' || s.Type === 'Choice') frontier = [...frontier, ...next(s)];
  }
  return false;
}

/** The logical id a Ref / GetAtt / `${Id}` of Fn::Sub names. */
function refs(v: Json): string[] {
  const text = JSON.stringify(v);
  return [...text.matchAll(/"Ref":"([A-Za-z0-9]+)"|"Fn::GetAtt":\["([A-Za-z0-9]+)"|\$\{([A-Za-z0-9]+)\}/g)].map((m) => m[1] ?? m[2] ?? m[3]!);
}

/** The names in a rendered catalog-observability's AlarmNames output (a list joined by Fn::Join, or a string). */
export function alarmNamesOf(observabilityTemplate: Json): string[] {
  const out = isObj(observabilityTemplate) && isObj(observabilityTemplate.Outputs) ? observabilityTemplate.Outputs.AlarmNames : undefined;
  const value = isObj(out) ? out.Value : undefined;
  if (typeof value === 'string') return value.split(',').filter(Boolean);
  const join = isObj(value) ? value['Fn::Join'] : undefined;
  return Array.isArray(join) && Array.isArray(join[1]) ? join[1].filter((n): n is string => typeof n === 'string') : [];
}

export function checkReleaseStateMachine(env: string, definition: Json, serviceTemplate: Json, config: EnvConfig, alarmNames: string[]): Finding[] {
  const findings: Finding[] = [];
  const add = (resource: string, rule: string, message: string, stack = 'catalog-service'): void => {
    findings.push({ env, stack, resource, checker: 'state-machine', rule, severity: 'error', message });
  };
  const resources = isObj(serviceTemplate) && isObj(serviceTemplate.Resources) ? (serviceTemplate.Resources as Record<string, Obj>) : {};
  const machine = resources[RELEASE.ReleaseStateMachine];
  if (!machine || machine.Type !== 'AWS::StepFunctions::StateMachine') {
    add('-', 'RSM_MISSING', `catalog-service has no AWS::StepFunctions::StateMachine ${RELEASE.ReleaseStateMachine} (release --on aws starts it)`);
    return findings;
  }
  const props = isObj(machine.Properties) ? machine.Properties : {};
  let embedded: Json;
  try {
    embedded = typeof props.DefinitionString === 'string' ? JSON.parse(props.DefinitionString) : props.Definition;
  } catch {
    embedded = undefined;
  }
  if (JSON.stringify(embedded) !== JSON.stringify(definition)) add(RELEASE.ReleaseStateMachine, 'RSM_DEFINITION_MISMATCH', 'the definition catalog-service deploys differs from release_state_machine.json');

  const tasks = tasksOf(definition);
  const used = new Map<string, string[]>(); // IAM action → states
  for (const t of tasks) {
    const iam = (RELEASE_SDK_ACTIONS as Record<string, string>)[t.resource];
    if (!iam) {
      add(t.name, 'RSM_UNKNOWN_TASK', `Task calls ${t.resource}, which the release does not need (allowed: ${Object.keys(RELEASE_SDK_ACTIONS).join(', ')})`, 'release_state_machine');
      continue;
    }
    used.set(iam.toLowerCase(), [...(used.get(iam.toLowerCase()) ?? []), t.name]);
    if (t.resource.endsWith(':s3:putObject') || t.resource.endsWith(':s3:deleteObject')) {
      if (t.params.Bucket !== config.artifacts.bucket) add(t.name, 'RSM_RECORD_PLACE', `writes to bucket ${JSON.stringify(t.params.Bucket)}, not artifacts.bucket ${config.artifacts.bucket}`, 'release_state_machine');
      const key = t.params.Key;
      if (typeof key === 'string' && !key.startsWith(`${config.artifacts.prefix.replace(/\/+$/, '')}/`)) add(t.name, 'RSM_RECORD_PLACE', `writes ${key}, outside artifacts.prefix`, 'release_state_machine');
    }
  }

  // The stage's cache is flushed after every PATCH of the stage where the env has one, and never otherwise.
  const FLUSH = sdk('apigateway', 'flushStageCache');
  const flushes = tasks.filter((t) => t.resource === FLUSH);
  if (config.api.cache.enabled) {
    for (const t of tasks.filter((x) => x.resource.endsWith(':apigateway:updateStage')))
      if (!flushFollows(definition, t.name, FLUSH)) add(t.name, 'RSM_CACHE_FLUSH', `api.cache is enabled, but nothing flushes the stage's cache after ${t.name} changes its variables`, 'release_state_machine');
  } else for (const t of flushes) add(t.name, 'RSM_CACHE_FLUSH', `flushes the stage's cache, but api.cache is not enabled`, 'release_state_machine');

  const roleId = refs(props.RoleArn)[0];
  const role = roleId === undefined ? undefined : resources[roleId];
  if (!roleId || role?.Type !== 'AWS::IAM::Role') {
    add(RELEASE.ReleaseStateMachine, 'RSM_ROLE_UNKNOWN', 'RoleArn must be Fn::GetAtt of an AWS::IAM::Role in catalog-service');
    return findings;
  }
  const roleProps = isObj(role.Properties) ? role.Properties : {};
  if (asArray(roleProps.ManagedPolicyArns).length) add(roleId, 'RSM_ROLE_EXTRA', 'the release role has managed policies; it may hold only its inline statements');
  const granted = new Map<string, Json[]>();
  for (const p of asArray(roleProps.Policies)) {
    for (const st of asArray(isObj(p) && isObj(p.PolicyDocument) ? p.PolicyDocument.Statement : undefined)) {
      if (!isObj(st) || st.Effect !== 'Allow') continue;
      if (st.NotAction !== undefined || st.NotResource !== undefined) add(roleId, 'RSM_ROLE_EXTRA', 'an Allow with NotAction or NotResource grants more than the release needs');
      for (const a of asArray(st.Action)) {
        const action = String(a).toLowerCase();
        if (!used.has(action) && !LOGS_AND_TRACES.has(action)) {
          add(roleId, 'RSM_ROLE_EXTRA', `the release role may ${String(a)}, which no state calls`);
          continue;
        }
        granted.set(action, [...(granted.get(action) ?? []), ...asArray(st.Resource)]);
        if (!LOGS_AND_TRACES.has(action)) scope(action, asArray(st.Resource), roleId);
      }
    }
  }
  for (const [action, states] of used) if (!granted.has(action)) add(roleId, 'RSM_ROLE_CANNOT', `the release role may not ${action}, which ${states.join(', ')} calls`);

  function scope(action: string, res: Json[], id: string): void {
    const bad = (why: string) => add(id, 'RSM_ROLE_SCOPE', `${action}: ${why}`);
    for (const r of res) {
      const text = JSON.stringify(r);
      if (r === '*' && !UNSCOPED.has(action)) bad('"*" (every resource); name this env\'s');
      if (r === '*') continue;
      switch (action) {
        case 'lambda:updatealias': {
          const apiFns = API_FUNCTIONS.map((fn) => fnIds(fn).function);
          if (!refs(r).every((x) => apiFns.includes(x)) || !refs(r).length) bad(`${text} is not one of this env's API functions`);
          break;
        }
        case 'apigateway:patch':
          if (!text.includes(`\${${SERVICE.RestApi}}/stages/\${${SERVICE.ApiStage}}`)) bad(`${text} is not this env's stage`);
          break;
        case 'apigateway:delete':
          if (!text.endsWith(`/restapis/\${${SERVICE.RestApi}}/stages/\${${SERVICE.ApiStage}}/cache/data"}`)) bad(`${text} is not this env's stage cache (FlushStageCache deletes only /cache/data)`);
          break;
        case 'cloudwatch:describealarms': {
          const name = /:alarm:([^"*?]+)"/.exec(text)?.[1];
          if (!name || !alarmNames.includes(name)) bad(`${text} is not one of this env's gating alarms`);
          break;
        }
        case 's3:putobject':
        case 's3:deleteobject': {
          const want = `:s3:::${config.artifacts.bucket}/${config.artifacts.prefix.replace(/\/+$/, '')}/`;
          if (!text.includes(want)) bad(`${text} is outside s3://${config.artifacts.bucket}/${config.artifacts.prefix}/`);
          break;
        }
      }
    }
  }

  if (config.release.shift === 'aws') {
    const problem = checkHistoryBudget({
      functions: API_FUNCTIONS.map((fn) => ({ functionName: fn, previousVersion: '1', newVersion: '2' })),
      restApiId: '-',
      stageName: config.api.stageName,
      previousDeploymentId: '-',
      newDeploymentId: '-',
      alarmNames,
      steps: config.release.trafficSteps,
      bakeSeconds: config.release.bakeSeconds,
      alarmPollSeconds: config.release.alarmPollSeconds,
      errorRatePercent: config.alarms.api5xxRatePercent,
      insufficientDataGraceSeconds: DEFAULT_INSUFFICIENT_DATA_GRACE_SECONDS,
    });
    if (problem) findings.push({ env, stack: 'env', resource: 'release.shift', checker: 'state-machine', rule: 'RSM_HISTORY_BUDGET', severity: 'error', message: `release.shift is aws, but ${problem}` });
  }
  return findings;
}

/**
 * The release state machine: catalogctl's traffic shift (src/deploy/shift.ts) run by AWS Step
 * Functions, so a rollout does not need the operator's machine. The CLI computes the plan and starts
 * an execution with it (src/deploy/server-shift.ts builds the input); the definition only executes
 * it, through AWS SDK integrations:
 *
 *   gate before any traffic moves (waiting out INSUFFICIENT_DATA) → stage to the new deployment →
 *   its API cache flushed when its variables changed (envs with a cache) → for each step: every `live` alias (lambda:updateAlias) → bake: Wait → DescribeAlarms +
 *   GetMetricData → Choice … → record (s3:putObject) → release lock removed (s3:deleteObject)
 *
 * and any gate failing → aliases and stage restored, the record written rolled back, the execution
 * failed with the reason. The gate semantics are judgeGates' (missing alarm, ALARM, the new
 * versions' failure rate, INSUFFICIENT_DATA grace) in the same order with the same reasons. JSONPath
 * ASL cannot divide, so the failure rates are metric math evaluated by CloudWatch
 * (server-shift.ts writes the queries); nor can it subtract times, so the bake and the grace count
 * the seconds the Wait states waited.
 *
 * Only paths that always select something are used (a JSONPath that selects nothing fails a local
 * interpreter where AWS returns []), lists are read through Map states, and names are joined by a
 * small loop (Join.*), since States.Format takes no arrays.
 */
// Types only (erased): aws-local-stepfunctions' model of ASL checks each state's fields here.
import type { StateMachineDefinition } from 'aws-local-stepfunctions';
import type { EnvConfig } from '../config/types.ts';

type States = StateMachineDefinition['States'];
type State = States[string];
type Retrier = NonNullable<Extract<State, { Type: 'Task' }>['Retry']>[number];
type Catcher = NonNullable<Extract<State, { Type: 'Task' }>['Catch']>[number];

/** Step Functions' AWS SDK integration for one API action (service and action as AWS documents them). */
export const sdk = (service: string, action: string): string => `arn:aws:states:::aws-sdk:${service}:${action}`;

/** Every SDK action the definition calls, with the IAM action that authorizes it (validate checks the role against this). */
export const RELEASE_SDK_ACTIONS = {
  [sdk('lambda', 'updateAlias')]: 'lambda:UpdateAlias',
  [sdk('apigateway', 'updateStage')]: 'apigateway:PATCH',
  // FlushStageCache is DELETE /restapis/{id}/stages/{stage}/cache/data; only in envs with a cache.
  [sdk('apigateway', 'flushStageCache')]: 'apigateway:DELETE',
  [sdk('cloudwatch', 'describeAlarms')]: 'cloudwatch:DescribeAlarms',
  [sdk('cloudwatch', 'getMetricData')]: 'cloudwatch:GetMetricData',
  [sdk('s3', 'putObject')]: 's3:PutObject',
  [sdk('s3', 'deleteObject')]: 's3:DeleteObject',
} as const;

/** Error names the execution fails with; the CLI maps them to outcomes. */
export const RELEASE_ERRORS = {
  notShifted: 'Release.NotShifted',
  rolledBack: 'Release.RolledBack',
  aliasesChanged: 'Release.AliasesChanged',
  restoreFailed: 'Release.RestoreFailed',
} as const;

/** State names the CLI follows in the execution history (src/deploy/server-shift.ts). */
export const RS = {
  init: 'Init',
  readAlarms: 'Gate.ReadAlarms',
  readMetrics: 'Gate.ReadMetrics',
  verdictPass: 'Gate.Pass',
  verdictWait: 'Gate.Wait',
  perAlarm: 'Slow.PerAlarm',
  stageForward: 'Stage.Forward',
  stageFlushed: 'Stage.Flushed',
  stageFlushFailed: 'Stage.FlushFailed',
  restoreFlushed: 'Restore.Flushed',
  restoreFlushFailed: 'Restore.FlushFailed',
  stepMove: 'Step.Move',
  stepMoved: 'Step.Moved',
  restoreBegin: 'Restore.Begin',
  restoreAliases: 'Restore.Aliases',
  record: 'Record.Put',
} as const;

const LIVE = 'live';

/**
 * Transient failures of an SDK call are retried (Step Functions does not retry SDK tasks itself);
 * every call made here is idempotent.
 */
const RETRY: Retrier[] = [{ ErrorEquals: ['States.TaskFailed'], IntervalSeconds: 1, MaxAttempts: 3, BackoffRate: 2, JitterStrategy: 'FULL' }];
/** An AWS call failing while traffic may be split: restore, as a failing gate does. */
const TO_AWS_ERROR: Catcher[] = [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Fail.AwsError' }];

const pass = (Parameters: Record<string, unknown>, ResultPath: string, Next: string): State => ({ Type: 'Pass', Parameters: Parameters as never, ResultPath, Next });

/** The state data the CLI cannot know in advance: where the shift is, its clock and what it tracks. */
function initStates(): States {
  return {
    [RS.init]: {
      Type: 'Pass',
      Comment: 'position, clock (seconds waited), per-alarm INSUFFICIENT_DATA seconds (-1: evaluated), alias revisions, whether the stage moved',
      Parameters: {
        pos: { phase: 'pre', i: 0, percent: 0, where: 'before any traffic moved', 'stepCount.$': 'States.ArrayLength($.steps)' },
        clock: { left: 0, waited: 0, used: 0 },
        track: { 'blindFor.$': '$.gate.notBlind' },
        revs: { 'list.$': '$.revisions' },
        moved: { 'stage.$': '$.stage.movedAtStart' },
      },
      ResultPath: '$.s',
      Next: RS.readAlarms,
    },
  };
}

/**
 * One gate check, for the phase in $.s.pos.phase. The common case (every alarm found and OK, no
 * breach) is decided from counts; anything else goes through the per-alarm Map (Slow.*).
 */
function gateStates(): States {
  return {
    [RS.readAlarms]: {
      Type: 'Task',
      Resource: sdk('cloudwatch', 'describeAlarms'),
      Comment: 'every gating alarm, metric and composite (at most 100 names, one page)',
      Parameters: { 'AlarmNames.$': '$.gate.alarmNames', AlarmTypes: ['MetricAlarm', 'CompositeAlarm'], MaxRecords: 100 },
      ResultPath: '$.r.alarms',
      Retry: RETRY,
      Catch: TO_AWS_ERROR,
      Next: 'Gate.Merge',
    },
    // An empty list may be left out of an answer: the defaults make both lists present.
    'Gate.Merge': pass({ 'a.$': 'States.JsonMerge($.gate.emptyAlarms, $.r.alarms, false)' }, '$.r.norm', 'Gate.Metrics?'),
    'Gate.Metrics?': {
      Type: 'Choice',
      Choices: [{ And: [{ Variable: '$.s.pos.phase', StringEquals: 'bake' }, { Variable: '$.gate.checkVersions', BooleanEquals: true }], Next: RS.readMetrics }],
      Default: 'Gate.NoMetrics',
    },
    [RS.readMetrics]: {
      Type: 'Task',
      Resource: sdk('cloudwatch', 'getMetricData'),
      Comment: "each new version's failures and invocations since the shift began, one period; `breach` is 1 where a version's failure rate exceeds the env's",
      Parameters: { 'StartTime.$': '$.gate.window.start', 'EndTime.$': '$.gate.window.end', ScanBy: 'TimestampDescending', 'MetricDataQueries.$': '$.gate.queries' },
      ResultSelector: { 'breach.$': "$.MetricDataResults[?(@.Id == 'breach')].Values", 'results.$': '$.MetricDataResults' },
      ResultPath: '$.r.metrics',
      Retry: RETRY,
      Catch: TO_AWS_ERROR,
      Next: 'Gate.Count',
    },
    'Gate.NoMetrics': { Type: 'Pass', Result: { breach: [[]], results: [] }, ResultPath: '$.r.metrics', Next: 'Gate.Count' },
    'Gate.Count': pass(
      {
        'mLen.$': 'States.ArrayLength($.r.norm.a.MetricAlarms)',
        'cLen.$': 'States.ArrayLength($.r.norm.a.CompositeAlarms)',
        'found.$': 'States.MathAdd(States.ArrayLength($.r.norm.a.MetricAlarms), States.ArrayLength($.r.norm.a.CompositeAlarms))',
        'bv.$': 'States.ArrayGetItem($.r.metrics.breach, 0)',
      },
      '$.g',
      'Gate.M?',
    ),
    'Gate.M?': { Type: 'Choice', Choices: [{ Variable: '$.g.mLen', NumericGreaterThan: 0, Next: 'Gate.MStates' }], Default: 'Gate.MNone' },
    'Gate.MStates': pass({ 'v.$': '$.r.norm.a.MetricAlarms[*].StateValue' }, '$.g.ms', 'Gate.C?'),
    'Gate.MNone': { Type: 'Pass', Result: { v: [] }, ResultPath: '$.g.ms', Next: 'Gate.C?' },
    'Gate.C?': { Type: 'Choice', Choices: [{ Variable: '$.g.cLen', NumericGreaterThan: 0, Next: 'Gate.CStates' }], Default: 'Gate.CNone' },
    'Gate.CStates': pass({ 'v.$': '$.r.norm.a.CompositeAlarms[*].StateValue' }, '$.g.cs', 'Gate.Flags'),
    'Gate.CNone': { Type: 'Pass', Result: { v: [] }, ResultPath: '$.g.cs', Next: 'Gate.Flags' },
    'Gate.Flags': pass(
      {
        'firing.$': "States.ArrayContains(States.Array(States.ArrayContains($.g.ms.v, 'ALARM'), States.ArrayContains($.g.cs.v, 'ALARM')), true)",
        'blind.$': "States.ArrayContains(States.Array(States.ArrayContains($.g.ms.v, 'INSUFFICIENT_DATA'), States.ArrayContains($.g.cs.v, 'INSUFFICIENT_DATA')), true)",
        'bLen.$': 'States.ArrayLength($.g.bv)',
      },
      '$.f',
      'Gate.Judge',
    ),
    // judgeGates' order: no alarms, missing, ALARM, new versions' failures, INSUFFICIENT_DATA.
    'Gate.Judge': {
      Type: 'Choice',
      Choices: [
        { Variable: '$.gate.alarmCount', NumericEquals: 0, Next: 'Fail.NoAlarms' },
        { Variable: '$.g.found', NumericLessThanPath: '$.gate.alarmCount', Next: 'Slow.NormM' },
        { Variable: '$.f.firing', BooleanEquals: true, Next: 'Slow.NormM' },
        { Variable: '$.f.bLen', NumericGreaterThan: 0, Next: 'Gate.Breach' },
        { Variable: '$.f.blind', BooleanEquals: true, Next: 'Slow.NormM' },
      ],
      Default: 'Gate.Clear',
    },
    'Gate.Breach': pass({ 'b.$': 'States.ArrayGetItem($.g.bv, 0)' }, '$.f.breach', 'Gate.Breach?'),
    'Gate.Breach?': {
      Type: 'Choice',
      Choices: [
        { Variable: '$.f.breach.b', NumericGreaterThan: 0, Next: 'Fail.Versions' },
        { Variable: '$.f.blind', BooleanEquals: true, Next: 'Slow.NormM' },
      ],
      Default: 'Gate.Clear',
    },
    // Every alarm evaluated: no INSUFFICIENT_DATA clock runs; a check costs one unit of history.
    'Gate.Clear': pass(
      { 'blindFor.$': '$.gate.notBlind' },
      '$.s.track',
      'Gate.Spend',
    ),
    'Gate.Spend': pass({ 'left.$': '$.s.clock.left', 'waited.$': '$.s.clock.waited', 'used.$': 'States.MathAdd($.s.clock.used, 1)' }, '$.s.clock', RS.verdictPass),
    [RS.verdictPass]: { Type: 'Pass', Result: { kind: 'pass' }, ResultPath: '$.v', Next: 'Gate.After' },
    [RS.verdictWait]: { Type: 'Pass', Result: { kind: 'wait' }, ResultPath: '$.v', Next: 'Gate.After' },
    'Gate.After': {
      Type: 'Choice',
      Choices: [
        { And: [{ Variable: '$.s.pos.phase', StringEquals: 'pre' }, { Variable: '$.v.kind', StringEquals: 'pass' }], Next: 'Stage.Forward?' },
        { And: [{ Variable: '$.s.pos.phase', StringEquals: 'pre' }, { Variable: '$.s.clock.used', NumericGreaterThanEqualsPath: '$.gate.maxUnits' }], Next: 'Fail.Budget' },
        { Variable: '$.s.pos.phase', StringEquals: 'pre', Next: 'Pre.Wait' },
      ],
      Default: 'Bake.After?',
    },
  };
}

/**
 * Any alarm missing, firing or not evaluated: each gating alarm's state in plan order, and the
 * INSUFFICIENT_DATA clocks (seconds since first seen, -1 when evaluated).
 */
function slowStates(): States {
  const norm = (id: string, list: string, next: string): State => ({
    Type: 'Map',
    ItemsPath: `$.r.norm.a.${list}`,
    ItemSelector: { 's.$': "States.Format('{}|{}', $$.Map.Item.Value.StateValue, $$.Map.Item.Value.AlarmName)" },
    ItemProcessor: { StartAt: `${id}.Item`, States: { [`${id}.Item`]: { Type: 'Pass', OutputPath: '$.s', End: true } } },
    ResultPath: `$.n.${list === 'MetricAlarms' ? 'm' : 'c'}`,
    Next: next,
  });
  const has = (state: string, list: 'm' | 'c') => `States.ArrayContains($.n.${list}, States.Format('${state}|{}', $$.Map.Item.Value))`;
  // One shape for every alarm; a field given as a path replaces its default.
  const out = (over: Record<string, unknown>) => {
    const base: Record<string, unknown> = { missing: '', firing: '', blindFor: -1, expired: 0, expiredName: '' };
    for (const k of Object.keys(over)) delete base[k.replace(/\.\$$/, '')];
    return { ...base, ...over };
  };
  const item: States = {
    'PA.Which': {
      Type: 'Choice',
      Choices: [
        { Or: [{ Variable: '$.aM', BooleanEquals: true }, { Variable: '$.aC', BooleanEquals: true }], Next: 'PA.Firing' },
        { Or: [{ Variable: '$.bM', BooleanEquals: true }, { Variable: '$.bC', BooleanEquals: true }], Next: 'PA.Blind?' },
        { Or: [{ Variable: '$.oM', BooleanEquals: true }, { Variable: '$.oC', BooleanEquals: true }], Next: 'PA.Ok' },
      ],
      Default: 'PA.Missing',
    },
    'PA.Firing': { Type: 'Pass', Parameters: out({ 'firing.$': '$.name' }) as never, End: true },
    'PA.Ok': { Type: 'Pass', Parameters: out({}) as never, End: true },
    'PA.Missing': { Type: 'Pass', Parameters: out({ 'missing.$': '$.name' }) as never, End: true },
    'PA.Blind?': { Type: 'Choice', Choices: [{ Variable: '$.prev', NumericLessThan: 0, Next: 'PA.New' }], Default: 'PA.More' },
    'PA.New': { Type: 'Pass', Parameters: { 'name.$': '$.name', 'grace.$': '$.grace', blindFor: 0 }, Next: 'PA.Expired?' },
    'PA.More': { Type: 'Pass', Parameters: { 'name.$': '$.name', 'grace.$': '$.grace', 'blindFor.$': 'States.MathAdd($.prev, $.waited)' }, Next: 'PA.Expired?' },
    'PA.Expired?': { Type: 'Choice', Choices: [{ Variable: '$.blindFor', NumericGreaterThanEqualsPath: '$.grace', Next: 'PA.Expired' }], Default: 'PA.Waiting' },
    'PA.Expired': { Type: 'Pass', Parameters: out({ 'blindFor.$': '$.blindFor', expired: 1, 'expiredName.$': '$.name' }) as never, End: true },
    'PA.Waiting': { Type: 'Pass', Parameters: out({ 'blindFor.$': '$.blindFor' }) as never, End: true },
  };
  return {
    'Slow.NormM': norm('Slow.NormM', 'MetricAlarms', 'Slow.NormC'),
    'Slow.NormC': norm('Slow.NormC', 'CompositeAlarms', RS.perAlarm),
    [RS.perAlarm]: {
      Type: 'Map',
      ItemsPath: '$.gate.alarmNames',
      ItemSelector: {
        'name.$': '$$.Map.Item.Value',
        'prev.$': 'States.ArrayGetItem($.s.track.blindFor, $$.Map.Item.Index)',
        'waited.$': '$.s.clock.waited',
        'grace.$': '$.gate.graceSeconds',
        'aM.$': has('ALARM', 'm'),
        'aC.$': has('ALARM', 'c'),
        'bM.$': has('INSUFFICIENT_DATA', 'm'),
        'bC.$': has('INSUFFICIENT_DATA', 'c'),
        'oM.$': has('OK', 'm'),
        'oC.$': has('OK', 'c'),
      },
      ItemProcessor: { StartAt: 'PA.Which', States: item },
      ResultSelector: { 'missing.$': '$[*].missing', 'firing.$': '$[*].firing', 'blindFor.$': '$[*].blindFor', 'expired.$': '$[*].expired', 'expiredNames.$': '$[*].expiredName' },
      ResultPath: '$.p',
      Next: 'Slow.Save',
    },
    // A check through here costs more history than a common one (server-shift.ts weighs it).
    'Slow.Save': pass({ 'blindFor.$': '$.p.blindFor' }, '$.s.track', 'Slow.Spend'),
    'Slow.Spend': pass({ 'left.$': '$.s.clock.left', 'waited.$': '$.s.clock.waited', 'used.$': 'States.MathAdd($.s.clock.used, $.gate.slowUnits)' }, '$.s.clock', 'Slow.Flags'),
    'Slow.Flags': pass({ 'anyExpired.$': 'States.ArrayContains($.p.expired, 1)' }, '$.pf', 'Slow.Judge'),
    'Slow.Judge': {
      Type: 'Choice',
      Choices: [
        { Variable: '$.g.found', NumericLessThanPath: '$.gate.alarmCount', Next: 'Fail.Missing' },
        { Variable: '$.f.firing', BooleanEquals: true, Next: 'Fail.Firing' },
        { Variable: '$.pf.anyExpired', BooleanEquals: true, Next: 'Fail.Expired' },
        { Variable: '$.f.blind', BooleanEquals: true, Next: RS.verdictWait },
      ],
      Default: RS.verdictPass,
    },
  };
}

/** The waits between checks: the poll interval, or what is left of the bake when that is shorter. */
function waitStates(): States {
  const tick = (left: string | number, waited: string): Record<string, unknown> => ({
    ...(typeof left === 'number' ? { left } : { 'left.$': left }),
    'waited.$': waited,
    'used.$': '$.s.clock.used',
  });
  return {
    'Pre.Wait': { Type: 'Wait', SecondsPath: '$.gate.pollSeconds', Next: 'Pre.Tick' },
    'Pre.Tick': pass(tick(0, '$.gate.pollSeconds'), '$.s.clock', RS.readAlarms),
    'Bake.After?': {
      Type: 'Choice',
      Choices: [
        { And: [{ Variable: '$.s.clock.left', NumericLessThanEquals: 0 }, { Variable: '$.v.kind', StringEquals: 'pass' }], Next: 'Step.Next' },
        // Before another wait: a shift that would outgrow the execution history restores first.
        { Variable: '$.s.clock.used', NumericGreaterThanEqualsPath: '$.gate.maxUnits', Next: 'Fail.Budget' },
        { Variable: '$.s.clock.left', NumericLessThanEquals: 0, Next: 'Bake.WaitPoll' },
        { Variable: '$.s.clock.left', NumericGreaterThanEqualsPath: '$.gate.pollSeconds', Next: 'Bake.WaitPoll' },
      ],
      Default: 'Bake.WaitLeft',
    },
    'Bake.WaitPoll': { Type: 'Wait', SecondsPath: '$.gate.pollSeconds', Next: 'Bake.TickPoll' },
    'Bake.TickPoll': pass(tick('States.MathAdd($.s.clock.left, $.gate.negPollSeconds)', '$.gate.pollSeconds'), '$.s.clock', RS.readAlarms),
    'Bake.WaitLeft': { Type: 'Wait', SecondsPath: '$.s.clock.left', Next: 'Bake.TickLeft' },
    'Bake.TickLeft': pass(tick(0, '$.s.clock.left'), '$.s.clock', RS.readAlarms),
  };
}

/** The UpdateAlias Map for a list of updates, each guarded by the alias's last known revision. */
function aliasMap(id: string, itemsPath: string, next: string, catches: Catcher[]): State {
  return {
    Type: 'Map',
    ItemsPath: itemsPath,
    ItemSelector: { 'u.$': '$$.Map.Item.Value', 'rev.$': 'States.ArrayGetItem($.s.revs.list, $$.Map.Item.Index)' },
    ItemProcessor: {
      StartAt: `${id}.Alias`,
      States: {
        [`${id}.Alias`]: {
          Type: 'Task',
          Resource: sdk('lambda', 'updateAlias'),
          Comment: 'RevisionId: Lambda refuses the update when someone else changed the alias since (the other hand wins)',
          Parameters: { 'FunctionName.$': '$.u.FunctionName', Name: LIVE, 'FunctionVersion.$': '$.u.FunctionVersion', 'RoutingConfig.$': '$.u.RoutingConfig', 'RevisionId.$': '$.rev' },
          ResultSelector: { 'rev.$': '$.RevisionId' },
          OutputPath: '$.rev',
          Retry: [{ ...RETRY[0]!, ErrorEquals: ['Lambda.ServiceException', 'Lambda.TooManyRequestsException', 'Lambda.ResourceConflictException', 'Lambda.SdkClientException'] }],
          End: true,
        },
      },
    },
    ResultPath: '$.s.revs.list',
    Catch: catches,
    Next: next,
  };
}

/**
 * FlushStageCache right after a PATCH that changed the stage's variables (`$.stage.<when>`), so a
 * response cached under the old flags is not served until its TTL runs out; then `next`. A failed
 * flush goes on to `next` too (`<id>Failed` tells the CLI to warn): the variables and the traffic
 * are already where they must be, and stopping here would leave the shift half-done or the restore
 * short; what it costs is stale responses for at most the TTL (src/deploy/shift.ts flushAfterVariables).
 */
function flushStates(id: 'Stage' | 'Restore', when: 'flushForward' | 'flushRestore', next: string): States {
  return {
    [`${id}.Flush?`]: { Type: 'Choice', Choices: [{ Variable: `$.stage.${when}`, BooleanEquals: true, Next: `${id}.Flush` }], Default: next },
    [`${id}.Flush`]: {
      Type: 'Task',
      Resource: sdk('apigateway', 'flushStageCache'),
      Comment: "the stage's whole API cache: API Gateway accepts the flush (202) and completes it in the background",
      Parameters: { 'RestApiId.$': '$.stage.RestApiId', 'StageName.$': '$.stage.StageName' },
      ResultPath: null,
      Retry: RETRY,
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.flushError', Next: `${id}.FlushFailed` }],
      Next: `${id}.Flushed`,
    },
    [`${id}.Flushed`]: { Type: 'Pass', Next: next },
    [`${id}.FlushFailed`]: { Type: 'Pass', Next: next },
  };
}

/** Stage to the new deployment and variables (and its cache flushed), then each traffic step with its bake. */
function stepStates(config: EnvConfig): States {
  const cache = config.api.cache.enabled;
  return {
    'Stage.Forward?': {
      Type: 'Choice',
      Choices: [{ Variable: '$.stage.hasForward', BooleanEquals: true, Next: RS.stageForward }],
      Default: 'Step.Load',
    },
    [RS.stageForward]: {
      Type: 'Task',
      Resource: sdk('apigateway', 'updateStage'),
      Comment: "the stage's new deployment and exactly the env's stage variables, in one PATCH",
      Parameters: { 'RestApiId.$': '$.stage.RestApiId', 'StageName.$': '$.stage.StageName', 'PatchOperations.$': '$.stage.forward' },
      ResultPath: null,
      Retry: RETRY,
      Catch: TO_AWS_ERROR,
      Next: 'Stage.Moved',
    },
    'Stage.Moved': { Type: 'Pass', Result: { stage: true }, ResultPath: '$.s.moved', Next: cache ? 'Stage.Flush?' : 'Step.Load' },
    ...(cache ? flushStates('Stage', 'flushForward', 'Step.Load') : {}),
    'Step.Load': pass({ 'step.$': 'States.ArrayGetItem($.steps, $.s.pos.i)' }, '$.cur', RS.stepMove),
    [RS.stepMove]: aliasMap('Step.Move', '$.cur.step.updates', RS.stepMoved, [
      { ErrorEquals: ['Lambda.PreconditionFailedException'], ResultPath: '$.error', Next: 'Fail.Outside' },
      ...TO_AWS_ERROR,
    ]),
    [RS.stepMoved]: pass(
      { phase: 'bake', 'i.$': '$.s.pos.i', 'percent.$': '$.cur.step.percent', 'where.$': '$.cur.step.where', 'stepCount.$': '$.s.pos.stepCount' },
      '$.s.pos',
      'Step.Clock',
    ),
    'Step.Clock': pass({ 'left.$': '$.cur.step.bakeSeconds', waited: 0, 'used.$': '$.s.clock.used' }, '$.s.clock', RS.readAlarms),
    'Step.Next': pass(
      { 'phase.$': '$.s.pos.phase', 'i.$': 'States.MathAdd($.s.pos.i, 1)', 'percent.$': '$.s.pos.percent', 'where.$': '$.s.pos.where', 'stepCount.$': '$.s.pos.stepCount' },
      '$.s.pos',
      'Step.More?',
    ),
    'Step.More?': { Type: 'Choice', Choices: [{ Variable: '$.s.pos.i', NumericLessThanPath: '$.s.pos.stepCount', Next: 'Step.Load' }], Default: 'Done.Promoted' },
  };
}

/**
 * Joins the non-empty strings of $.join.items with $.join.tpl ('{}, {}' or '{}; {}'); $.join.k
 * counts them, $.join.then says which reason to build next.
 */
function joinStates(): States {
  const keep = { 'items.$': '$.join.items', 'tpl.$': '$.join.tpl', 'n.$': '$.join.n', 'then.$': '$.join.then', 'i.$': '$.join.i' };
  return {
    'Join.Loop': { Type: 'Choice', Choices: [{ Variable: '$.join.i', NumericGreaterThanEqualsPath: '$.join.n', Next: 'Join.Done' }], Default: 'Join.Pick' },
    'Join.Pick': pass({ ...keep, 'acc.$': '$.join.acc', 'k.$': '$.join.k', 'i.$': 'States.MathAdd($.join.i, 1)', 'item.$': 'States.ArrayGetItem($.join.items, $.join.i)' }, '$.join', 'Join.Skip?'),
    'Join.Skip?': {
      Type: 'Choice',
      Choices: [
        { Variable: '$.join.item', StringEquals: '', Next: 'Join.Loop' },
        { Variable: '$.join.k', NumericEquals: 0, Next: 'Join.First' },
      ],
      Default: 'Join.Append',
    },
    'Join.First': pass({ ...keep, 'acc.$': '$.join.item', k: 1 }, '$.join', 'Join.Loop'),
    'Join.Append': pass({ ...keep, 'acc.$': 'States.Format($.join.tpl, $.join.acc, $.join.item)', 'k.$': 'States.MathAdd($.join.k, 1)' }, '$.join', 'Join.Loop'),
    'Join.Done': {
      Type: 'Choice',
      Choices: [
        { And: [{ Variable: '$.join.then', StringEquals: 'missing' }, { Variable: '$.join.k', NumericEquals: 1 }], Next: 'Reason.MissingOne' },
        { Variable: '$.join.then', StringEquals: 'missing', Next: 'Reason.Missing' },
        { Variable: '$.join.then', StringEquals: 'firing', Next: 'Reason.Firing' },
        { Variable: '$.join.then', StringEquals: 'expired', Next: 'Reason.Expired' },
      ],
      Default: 'Reason.Versions',
    },
  };
}

/** The per-version failures, one GetMetricData each (only once the gate has failed on them). */
function versionTextStates(): States {
  const pick = (v: string) => `States.ArrayGetItem($.r.${v}, 0)`;
  const item: States = {
    'Ver.Read': {
      Type: 'Task',
      Resource: sdk('cloudwatch', 'getMetricData'),
      Parameters: { 'StartTime.$': '$.window.start', 'EndTime.$': '$.window.end', ScanBy: 'TimestampDescending', 'MetricDataQueries.$': '$.c.queries' },
      ResultSelector: { 'f.$': "$.MetricDataResults[?(@.Id == 'f')].Values", 'n.$': "$.MetricDataResults[?(@.Id == 'n')].Values", 'b.$': "$.MetricDataResults[?(@.Id == 'b')].Values" },
      ResultPath: '$.r',
      Retry: RETRY,
      Next: 'Ver.Pick',
    },
    'Ver.Pick': pass({ 'f.$': pick('f'), 'n.$': pick('n'), 'b.$': pick('b') }, '$.v', 'Ver.Lens'),
    'Ver.Lens': pass({ 'f.$': 'States.ArrayLength($.v.f)', 'n.$': 'States.ArrayLength($.v.n)', 'b.$': 'States.ArrayLength($.v.b)' }, '$.l', 'Ver.B?'),
    'Ver.B?': { Type: 'Choice', Choices: [{ Variable: '$.l.b', NumericGreaterThan: 0, Next: 'Ver.B' }], Default: 'Ver.None' },
    'Ver.B': pass({ 'b.$': 'States.ArrayGetItem($.v.b, 0)' }, '$.x', 'Ver.Bad?'),
    'Ver.Bad?': { Type: 'Choice', Choices: [{ Variable: '$.x.b', NumericGreaterThan: 0, Next: 'Ver.F?' }], Default: 'Ver.None' },
    'Ver.F?': { Type: 'Choice', Choices: [{ Variable: '$.l.f', NumericGreaterThan: 0, Next: 'Ver.F' }], Default: 'Ver.F0' },
    'Ver.F': pass({ 'v.$': 'States.ArrayGetItem($.v.f, 0)' }, '$.fv', 'Ver.N?'),
    'Ver.F0': { Type: 'Pass', Result: { v: 0 }, ResultPath: '$.fv', Next: 'Ver.N?' },
    'Ver.N?': { Type: 'Choice', Choices: [{ Variable: '$.l.n', NumericGreaterThan: 0, Next: 'Ver.N' }], Default: 'Ver.N0' },
    'Ver.N': pass({ 'v.$': 'States.ArrayGetItem($.v.n, 0)' }, '$.nv', 'Ver.Text'),
    'Ver.N0': { Type: 'Pass', Result: { v: 0 }, ResultPath: '$.nv', Next: 'Ver.Text' },
    'Ver.Text': { Type: 'Pass', Parameters: { 't.$': "States.Format('{} {} {} in {} invocations', $.c.label, $.fv.v, $.c.failuresLabel, $.nv.v)" }, OutputPath: '$.t', End: true },
    'Ver.None': { Type: 'Pass', Result: { t: '' }, OutputPath: '$.t', End: true },
  };
  return {
    'Fail.Versions': {
      Type: 'Map',
      ItemsPath: '$.gate.checked',
      ItemSelector: { 'c.$': '$$.Map.Item.Value', 'window.$': '$.gate.window' },
      ItemProcessor: { StartAt: 'Ver.Read', States: item },
      ResultPath: '$.vt',
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Reason.VersionsUnnamed' }],
      Next: 'Fail.VersionsJoin',
    },
    'Fail.VersionsJoin': pass({ 'items.$': '$.vt', tpl: '{}; {}', 'n.$': 'States.ArrayLength($.vt)', then: 'versions', i: 0, k: 0, acc: '' }, '$.join', 'Join.Loop'),
  };
}

/** Each failing gate's reason, worded as judgeGates words it, then the restore. */
function failureStates(): States {
  const join = (items: string, tpl: string, then: string): State =>
    pass({ 'items.$': items, tpl, 'n.$': `States.ArrayLength(${items})`, then, i: 0, k: 0, acc: '' }, '$.join', 'Join.Loop');
  const reason = (format: string, kind: string): State => pass({ 'reason.$': format, kind }, '$.fail', RS.restoreBegin);
  return {
    'Fail.NoAlarms': reason("States.Format('no gating alarms (the AlarmNames output of catalog-observability is empty) {}', $.s.pos.where)", 'no-alarms'),
    'Fail.Missing': join('$.p.missing', '{}, {}', 'missing'),
    'Fail.Firing': join('$.p.firing', '{}, {}', 'firing'),
    'Fail.Expired': join('$.p.expiredNames', '{}, {}', 'expired'),
    'Reason.MissingOne': reason("States.Format('gating alarm {} does not exist (AlarmNames of catalog-observability) {}', $.join.acc, $.s.pos.where)", 'missing'),
    'Reason.Missing': reason("States.Format('gating alarms {} do not exist (AlarmNames of catalog-observability) {}', $.join.acc, $.s.pos.where)", 'missing'),
    'Reason.Firing': reason("States.Format('alarm {} in ALARM {}', $.join.acc, $.s.pos.where)", 'firing'),
    'Reason.Expired': reason("States.Format('alarm {} INSUFFICIENT_DATA for {} s {}: the gate cannot be evaluated', $.join.acc, $.gate.graceSeconds, $.s.pos.where)", 'expired'),
    'Reason.Versions': reason("States.Format('new version errors above {}% {}: {}', $.gate.limitText, $.s.pos.where, $.join.acc)", 'versions'),
    'Reason.VersionsUnnamed': reason("States.Format('new version errors above {}% {}', $.gate.limitText, $.s.pos.where)", 'versions'),
    'Fail.AwsError': reason("States.Format('an AWS call failed {}: {}: {}', $.s.pos.where, $.error.Error, $.error.Cause)", 'error'),
    'Fail.Budget': reason(
      "States.Format('the shift used its execution history budget {} (a Standard execution keeps 25,000 events): stopping while it can still restore', $.s.pos.where)",
      'budget',
    ),
    // Someone else moved an alias: stop without moving anything back, as the CLI's shift does.
    'Fail.Outside': pass(
      {
        error: RELEASE_ERRORS.aliasesChanged,
        record: {
          outcome: 'interrupted',
          'reason.$': "States.Format('release stopped at {}%: the live aliases were changed outside this release ({}); nothing was moved back', $.s.pos.percent, $.error.Cause)",
          'finishedAt.$': '$$.State.EnteredTime',
        },
      },
      '$.final',
      'Record.Merge',
    ),
  };
}

/** Aliases back on the previous versions, then the stage when it moved (and its cache), then the record. */
function restoreStates(config: EnvConfig): States {
  const cache = config.api.cache.enabled;
  const restoreFailed: Catcher[] = [
    { ErrorEquals: ['Lambda.PreconditionFailedException'], ResultPath: '$.error', Next: 'Restore.Outside' },
    { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Restore.Failed' },
  ];
  return {
    [RS.restoreBegin]: pass({ 'reason.$': '$.fail.reason', 'kind.$': '$.fail.kind', 'atStep.$': '$.s.pos.percent' }, '$.fail', RS.restoreAliases),
    [RS.restoreAliases]: aliasMap('Restore.Aliases', '$.restore.updates', 'Restore.Stage?', restoreFailed),
    'Restore.Stage?': {
      Type: 'Choice',
      Choices: [{ And: [{ Variable: '$.s.moved.stage', BooleanEquals: true }, { Variable: '$.stage.hasRestore', BooleanEquals: true }], Next: 'Restore.Stage' }],
      Default: 'Restore.Done?',
    },
    'Restore.Stage': {
      Type: 'Task',
      Resource: sdk('apigateway', 'updateStage'),
      Comment: 'the previous deployment and exactly the previous stage variables',
      Parameters: { 'RestApiId.$': '$.stage.RestApiId', 'StageName.$': '$.stage.StageName', 'PatchOperations.$': '$.stage.restore' },
      ResultPath: null,
      Retry: RETRY,
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Restore.Failed' }],
      Next: cache ? 'Restore.Flush?' : 'Restore.Done?',
    },
    ...(cache ? flushStates('Restore', 'flushRestore', 'Restore.Done?') : {}),
    'Restore.Done?': { Type: 'Choice', Choices: [{ Variable: '$.fail.atStep', NumericEquals: 0, Next: 'Done.NotShifted' }], Default: 'Done.RolledBack' },
    'Done.NotShifted': pass({ error: RELEASE_ERRORS.notShifted, record: { outcome: 'rolled-back', 'reason.$': '$.fail.reason', 'finishedAt.$': '$$.State.EnteredTime' } }, '$.final', 'Record.Merge'),
    'Done.RolledBack': pass({ error: RELEASE_ERRORS.rolledBack, record: { outcome: 'rolled-back', 'reason.$': '$.fail.reason', 'finishedAt.$': '$$.State.EnteredTime' } }, '$.final', 'Record.Merge'),
    'Restore.Outside': pass(
      {
        error: RELEASE_ERRORS.aliasesChanged,
        record: {
          outcome: 'interrupted',
          'reason.$': "States.Format('{}; restoring stopped: the live aliases were changed outside this release ({}); nothing more was moved back', $.fail.reason, $.error.Cause)",
          'finishedAt.$': '$$.State.EnteredTime',
        },
      },
      '$.final',
      'Record.Merge',
    ),
    'Restore.Failed': pass(
      {
        error: RELEASE_ERRORS.restoreFailed,
        record: {
          outcome: 'interrupted',
          'reason.$': "States.Format('{}; restoring failed: {}: {}', $.fail.reason, $.error.Error, $.error.Cause)",
          'finishedAt.$': '$$.State.EnteredTime',
        },
      },
      '$.final',
      'Record.Merge',
    ),
  };
}

/** The release record (the manifest release.ts writes), then the lock, then the execution's end. */
function recordStates(config: EnvConfig): States {
  const bucket = config.artifacts.bucket;
  const prefix = config.artifacts.prefix.replace(/\/+$/, '');
  const put = (key: string, next: string): State => ({
    Type: 'Task',
    Resource: sdk('s3', 'putObject'),
    Parameters: { Bucket: bucket, 'Key.$': key, 'Body.$': 'States.JsonToString($.record.m)', ContentType: 'application/json', ServerSideEncryption: 'aws:kms' },
    ResultPath: null,
    Retry: RETRY,
    Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.recordError', Next: 'Unlock' }],
    Next: next,
  });
  return {
    'Done.Promoted': pass({ record: { outcome: 'promoted', 'finishedAt.$': '$$.State.EnteredTime' } }, '$.final', 'Record.Merge'),
    // The keys as plain JSON first: the prefix may hold characters an intrinsic's literal cannot.
    'Record.Merge': pass({ 'm.$': 'States.JsonMerge($.manifest, $.final.record, false)', releases: `${prefix}/releases/` }, '$.record', 'Record.Keys'),
    'Record.Keys': pass({ 'id.$': "States.Format('{}{}.json', $.record.releases, $.release.id)", 'latest.$': "States.Format('{}latest.json', $.record.releases)" }, '$.keys', RS.record),
    [RS.record]: put('$.keys.id', 'Record.Latest'),
    'Record.Latest': put('$.keys.latest', 'Unlock'),
    Unlock: {
      Type: 'Task',
      Resource: sdk('s3', 'deleteObject'),
      Comment: 'the release lock the CLI took for this execution (it names the execution)',
      Parameters: { Bucket: bucket, Key: `${prefix}/release.lock` },
      ResultPath: null,
      Retry: RETRY,
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.unlockError', Next: 'End?' }],
      Next: 'End?',
    },
    'End?': { Type: 'Choice', Choices: [{ Variable: '$.final.record.outcome', StringEquals: 'promoted', Next: 'Promoted' }], Default: 'Failed' },
    // A Pass, not Succeed: CloudFormation's schema for a Succeed state admits no OutputPath.
    Promoted: { Type: 'Pass', OutputPath: '$.final.record', End: true },
    Failed: { Type: 'Fail', ErrorPath: '$.final.error', CausePath: '$.final.record.reason' },
  };
}

export function buildReleaseStateMachine(config: EnvConfig): StateMachineDefinition {
  return {
    Comment: `Catalog ${config.name} release: shifts the live aliases and the API stage through the traffic steps catalogctl plans, gated by the alarms and the new versions' failure rates; restores on any failing gate`,
    StartAt: RS.init,
    States: {
      ...initStates(),
      ...gateStates(),
      ...slowStates(),
      ...waitStates(),
      ...stepStates(config),
      ...versionTextStates(),
      ...failureStates(),
      ...joinStates(),
      ...restoreStates(config),
      ...recordStates(config),
    },
  };
}

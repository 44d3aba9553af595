/**
 * The plan model: what a deploy would do to each stack, as data. Built from the deployed template,
 * the new one and (for updates) CloudFormation's change set, through @aws-cdk/cloudformation-diff's
 * fullDiff; printers live in ./print-plan.ts. No AWS calls here.
 */
import type { Capability } from '../aws/cloudformation.ts';
import type { ParameterOrigin } from './params.ts';

export type ResourceAction = 'add' | 'modify' | 'remove' | 'import';
export type Replacement = 'yes' | 'no' | 'maybe';

export interface PropertyChange {
  /** Property name, e.g. `Code` or `SecurityGroupIngress`. */
  name: string;
  before?: unknown;
  after?: unknown;
  replacement: Replacement;
  /** Set when the change comes from a parameter (e.g. `CodeKeyListDatasets`) rather than the template. */
  causedBy?: string;
}

export type SecurityKind = 'iam' | 'security-group';

export interface ResourcePlan {
  logicalId: string;
  type: string;
  action: ResourceAction;
  replacement: Replacement;
  properties: PropertyChange[];
  security: SecurityKind[];
}

export interface SecuritySummary {
  /** Tables (header row first) from the diff library; empty when nothing changes. */
  iamStatements: string[][];
  managedPolicies: string[][];
  securityGroups: string[][];
}

export interface ParameterChange {
  key: string;
  before?: string;
  after: string;
  origin: ParameterOrigin;
}

/** A stack-level tag that changes (e.g. the env tag added to a stack created before stacks were tagged). */
export interface TagChange {
  key: string;
  before?: string;
  after?: string;
}

/** What both plans of a stack that changes carry. `stack` is the stack's name in AWS. */
interface ChangingPlan {
  stack: string;
  resources: ResourcePlan[];
  security: SecuritySummary;
  parameters: Record<string, ParameterOrigin>;
  /** What the template needs acknowledged (src/deploy/capabilities.ts). */
  capabilities: Capability[];
  /**
   * Why this plan widens access, like CDK's `--require-approval broadening`: IAM statements or
   * managed policies added, security-group rules added. Empty when it does not; deploy always asks.
   */
  broadening: string[];
  tagChanges: TagChange[];
}

export type StackPlan =
  | (ChangingPlan & { kind: 'create' })
  | (ChangingPlan & {
      kind: 'update';
      /** Parameter values that differ from the deployed stack's (new code keys, wiring, live versions). */
      parameterChanges: ParameterChange[];
      /**
       * `template`: from the template diff alone, because no change set can be made yet (an upstream
       * stack this run creates or changes has not produced the Outputs it takes); deploy makes the
       * change set when it gets there and asks again if it shows more.
       */
      source: 'change-set' | 'template';
    })
  | { stack: string; kind: 'no-changes' }
  /** The stack cannot be changed from its current state; `advice` says what to do. */
  | { stack: string; kind: 'blocked'; status: string; advice: string };

export interface PlanExtras {
  capabilities?: Capability[];
  tagChanges?: TagChange[];
}

const IAM_TYPES = /^AWS::IAM::|^AWS::Lambda::Permission$|^AWS::SNS::TopicPolicy$|^AWS::SQS::QueuePolicy$|^AWS::S3::BucketPolicy$|^AWS::Events::EventBusPolicy$/;
const IAM_PROPS = new Set(['Policies', 'PolicyDocument', 'AssumeRolePolicyDocument', 'ManagedPolicyArns', 'KeyPolicy', 'Role', 'Principal', 'Action']);
const SG_TYPES = /^AWS::EC2::SecurityGroup(Ingress|Egress)?$/;
const SG_PROPS = new Set(['SecurityGroupIngress', 'SecurityGroupEgress', 'SecurityGroupIds', 'VpcConfig']);

function securityOf(type: string, props: string[]): SecurityKind[] {
  const kinds: SecurityKind[] = [];
  if (IAM_TYPES.test(type) || props.some((p) => IAM_PROPS.has(p))) kinds.push('iam');
  if (SG_TYPES.test(type) || props.some((p) => SG_PROPS.has(p))) kinds.push('security-group');
  return kinds;
}

const impactToReplacement = (impact: string | undefined): Replacement => (impact === 'WILL_REPLACE' ? 'yes' : impact === 'MAY_REPLACE' ? 'maybe' : 'no');

interface ChangeSetLike {
  Changes?: unknown[];
}

interface RawResourceChange {
  Action?: string;
  LogicalResourceId?: string;
  ResourceType?: string;
  Replacement?: string;
  Details?: { Target?: { Attribute?: string; Name?: string; RequiresRecreation?: string; BeforeValue?: string; AfterValue?: string }; ChangeSource?: string; CausingEntity?: string }[];
}

function changeSetResources(changeSet: ChangeSetLike): Map<string, RawResourceChange> {
  const m = new Map<string, RawResourceChange>();
  for (const c of (changeSet.Changes ?? []) as { Type?: string; ResourceChange?: RawResourceChange }[]) {
    const rc = c.ResourceChange;
    if (c.Type === 'Resource' && rc?.LogicalResourceId) m.set(rc.LogicalResourceId, rc);
  }
  return m;
}

const ACTIONS: Record<string, ResourceAction> = { Add: 'add', Modify: 'modify', Remove: 'remove', Import: 'import', Dynamic: 'modify' };
const REPLACEMENTS: Record<string, Replacement> = { True: 'yes', False: 'no', Conditional: 'maybe' };
const RECREATION: Record<string, Replacement> = { Always: 'yes', Conditionally: 'maybe', Never: 'no' };

type Json = Record<string, unknown>;

/**
 * The plan for one stack. `deployed` is `undefined` for a stack that does not exist yet (every
 * resource is an add); otherwise `changeSet` (DescribeChangeSet output) says which resources
 * CloudFormation will touch and how, and the template diff supplies before/after values.
 */
export async function buildStackPlan(
  stack: string,
  deployed: Json | undefined,
  next: Json,
  changeSet: ChangeSetLike | undefined,
  parameters: Record<string, ParameterOrigin>,
  parameterChanges: ParameterChange[] = [],
  extras: PlanExtras = {},
): Promise<StackPlan> {
  const { fullDiff } = await import('@aws-cdk/cloudformation-diff');
  // The template diff alone: merging the change set in would mark every property the change set
  // gives no Details for as unchanged. The change set's own verdicts are applied below.
  const diff = fullDiff(deployed ?? {}, next);
  const fromChangeSet = changeSet ? changeSetResources(changeSet) : undefined;
  const resources: ResourcePlan[] = [];
  const seen = new Set<string>();

  diff.resources.forEachDifference((logicalId, r) => {
    const raw = fromChangeSet?.get(logicalId);
    if (fromChangeSet && !raw && !r.isAddition && !r.isRemoval) return; // CloudFormation will not touch it
    if (r.changeImpact === 'NO_CHANGE' && !raw) return;
    seen.add(logicalId);
    const properties: PropertyChange[] = Object.entries(r.propertyUpdates).map(([name, p]) => ({
      name,
      before: p.oldValue,
      after: p.newValue,
      replacement: impactToReplacement(p.changeImpact),
    }));
    for (const d of raw?.Details ?? []) {
      const name = d.Target?.Name;
      if (d.Target?.Attribute !== 'Properties' || !name) continue;
      const existing = properties.find((p) => p.name === name);
      const causedBy = d.ChangeSource === 'ParameterReference' ? d.CausingEntity : undefined;
      if (existing) {
        if (causedBy) existing.causedBy = causedBy;
        if (d.Target.RequiresRecreation) existing.replacement = RECREATION[d.Target.RequiresRecreation] ?? existing.replacement;
      } else {
        properties.push({
          name,
          before: d.Target.BeforeValue,
          after: d.Target.AfterValue,
          replacement: RECREATION[d.Target.RequiresRecreation ?? 'Never'] ?? 'no',
          ...(causedBy ? { causedBy } : {}),
        });
      }
    }
    const type = r.resourceType ?? raw?.ResourceType ?? 'unknown';
    const action: ResourceAction = raw?.Action ? (ACTIONS[raw.Action] ?? 'modify') : r.isAddition ? 'add' : r.isRemoval ? 'remove' : 'modify';
    const replacement: Replacement = raw?.Replacement ? (REPLACEMENTS[raw.Replacement] ?? 'no') : impactToReplacement(r.changeImpact);
    properties.sort((a, b) => a.name.localeCompare(b.name));
    resources.push({ logicalId, type, action, replacement: action === 'modify' ? replacement : 'no', properties, security: securityOf(type, properties.map((p) => p.name)) });
  });
  // Resources only the change set knows about (e.g. from a parameter a template diff cannot see).
  for (const [logicalId, raw] of fromChangeSet ?? []) {
    if (seen.has(logicalId)) continue;
    const type = raw.ResourceType ?? 'unknown';
    const properties: PropertyChange[] = (raw.Details ?? [])
      .filter((d) => d.Target?.Attribute === 'Properties' && d.Target.Name)
      .map((d) => ({ name: d.Target!.Name!, before: d.Target!.BeforeValue, after: d.Target!.AfterValue, replacement: RECREATION[d.Target!.RequiresRecreation ?? 'Never'] ?? 'no', ...(d.CausingEntity ? { causedBy: d.CausingEntity } : {}) }));
    const action = ACTIONS[raw.Action ?? 'Modify'] ?? 'modify';
    resources.push({ logicalId, type, action, replacement: REPLACEMENTS[raw.Replacement ?? 'False'] ?? 'no', properties, security: securityOf(type, properties.map((p) => p.name)) });
  }
  resources.sort((a, b) => a.logicalId.localeCompare(b.logicalId));
  const security: SecuritySummary = {
    iamStatements: diff.iamChanges.hasChanges ? diff.iamChanges.summarizeStatements() : [],
    managedPolicies: diff.iamChanges.hasChanges ? diff.iamChanges.summarizeManagedPolicies() : [],
    securityGroups: diff.securityGroupChanges.hasChanges ? diff.securityGroupChanges.summarize() : [],
  };
  for (const t of [security.iamStatements, security.managedPolicies, security.securityGroups]) if (t.length <= 1) t.length = 0;
  const broadening: string[] = [];
  if (diff.iamChanges.permissionsBroadened) broadening.push('adds IAM permissions');
  if (diff.securityGroupChanges.rulesAdded) broadening.push('adds security-group rules');
  const tagChanges = extras.tagChanges ?? [];
  const common = { stack, resources, security, parameters, capabilities: extras.capabilities ?? [], broadening, tagChanges };
  if (!deployed) return { ...common, kind: 'create' };
  if (resources.length === 0 && parameterChanges.length === 0 && tagChanges.length === 0) return { stack, kind: 'no-changes' };
  return { ...common, kind: 'update', parameterChanges, source: changeSet ? 'change-set' : 'template' };
}

/** The tags that differ between a stack's and the ones it will get; none when `next` is undefined (tags kept). */
export function tagChanges(current: Record<string, string>, next: Record<string, string> | undefined): TagChange[] {
  if (!next) return [];
  return [...new Set([...Object.keys(current), ...Object.keys(next)])]
    .sort()
    .filter((k) => current[k] !== next[k])
    .map((k) => ({ key: k, ...(k in current ? { before: current[k] } : {}), ...(k in next ? { after: next[k] } : {}) }));
}

/**
 * Whether `next` (made from a change set at execution time) does anything `approved` (made from the
 * template before) did not show: a resource or action it did not list, a replacement it did not
 * announce, or broadening it did not have. Deploy asks again when it does.
 */
export function exceedsPlan(next: StackPlan, approved: StackPlan): boolean {
  if (next.kind !== 'create' && next.kind !== 'update') return false;
  if (approved.kind !== 'create' && approved.kind !== 'update') return true;
  const known = new Map(approved.resources.map((r) => [r.logicalId, r]));
  for (const r of next.resources) {
    const a = known.get(r.logicalId);
    if (!a || a.action !== r.action) return true;
    if (r.replacement !== 'no' && a.replacement === 'no') return true;
  }
  return next.broadening.some((b) => !approved.broadening.includes(b));
}

/** Parameters whose new value differs from what the stack was deployed with; `usePrevious` ones never do. */
export function parameterChanges(previous: Record<string, string>, next: { key: string; value?: string; usePrevious?: boolean }[], origins: Record<string, ParameterOrigin>): ParameterChange[] {
  return next
    .filter((p) => !p.usePrevious && previous[p.key] !== (p.value ?? ''))
    .map((p) => ({ key: p.key, ...(p.key in previous ? { before: previous[p.key] } : {}), after: p.value ?? '', origin: origins[p.key] ?? 'default' }));
}

/** Counts for summaries: adds, modifies, removes, replacements. */
export function planCounts(plan: StackPlan): { add: number; modify: number; remove: number; replace: number } {
  const counts = { add: 0, modify: 0, remove: 0, replace: 0 };
  if (plan.kind !== 'create' && plan.kind !== 'update') return counts;
  for (const r of plan.resources) {
    if (r.action === 'add' || r.action === 'import') counts.add++;
    else if (r.action === 'remove') counts.remove++;
    else counts.modify++;
    if (r.replacement === 'yes' || r.replacement === 'maybe') counts.replace++;
  }
  return counts;
}

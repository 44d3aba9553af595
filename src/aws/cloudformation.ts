/**
 * The CloudFormation part of the AWS interface: reading deployed stacks, and the change-set calls
 * diff and deploy make. Thin on purpose: AWS errors pass through unchanged and the deploy code
 * decides what they mean (e.g. "no changes").
 */
import type { AwsTarget } from './target.ts';
import { sdkClientConfig } from './target.ts';

export interface StackSummary {
  name: string;
  status: string;
  statusReason?: string;
  outputs: Record<string, string>;
  /** Parameter values the stack was last deployed with. */
  parameters: Record<string, string>;
  /** Stack-level tags (the env tag among them, see ./stack-guard.ts). */
  tags: Record<string, string>;
}

export interface StackParameter {
  key: string;
  /** Absent with `usePrevious`. */
  value?: string;
  usePrevious?: boolean;
}

/**
 * Where a template comes from: inline, an S3 URL for bodies over the 51,200-byte inline limit, or
 * the stack's current template (UsePreviousTemplate: a change of parameter values only).
 */
export type TemplateSource = { body: string } | { url: string } | { previous: true };

/** What a template needs acknowledged on CreateStack / CreateChangeSet (see src/deploy/capabilities.ts). */
export type Capability = 'CAPABILITY_IAM' | 'CAPABILITY_NAMED_IAM' | 'CAPABILITY_AUTO_EXPAND';

export interface StackInput {
  stackName: string;
  template: TemplateSource;
  parameters: StackParameter[];
  /** Stack-level tags; absent leaves the stack's tags as they are (no Tags parameter is sent). */
  tags?: Record<string, string>;
  /** Exactly what the template needs, derived from it; CloudFormation refuses the call without it. */
  capabilities: Capability[];
}

export interface StackEvent {
  eventId: string;
  timestamp: Date;
  logicalId: string;
  resourceType: string;
  status: string;
  reason?: string;
}

/** The raw DescribeChangeSet output, all pages merged; kept raw so the diff library can read it. */
export interface ChangeSetDescription {
  status: string;
  statusReason?: string;
  executionStatus?: string;
  raw: Record<string, unknown> & { Changes?: unknown[] };
}

export interface CloudFormationApi {
  /** The stack, or undefined when it does not exist. */
  describeStack(name: string): Promise<StackSummary | undefined>;
  /** The template the stack was last deployed with (the original, before transforms). */
  getTemplate(name: string): Promise<Record<string, unknown>>;
  createStack(input: StackInput): Promise<void>;
  createChangeSet(input: StackInput & { changeSetName: string; description?: string }): Promise<void>;
  describeChangeSet(stackName: string, changeSetName: string): Promise<ChangeSetDescription>;
  executeChangeSet(stackName: string, changeSetName: string): Promise<void>;
  deleteChangeSet(stackName: string, changeSetName: string): Promise<void>;
  /** Newest first, as CloudFormation returns them; pages are read until `stopAt` (an event id) is seen. */
  describeStackEvents(stackName: string, stopAt?: string): Promise<StackEvent[]>;
}

export async function createCloudFormationApi(target: AwsTarget): Promise<CloudFormationApi> {
  const cfn = await import('@aws-sdk/client-cloudformation');
  const client = new cfn.CloudFormationClient((await sdkClientConfig(target)) as NonNullable<ConstructorParameters<typeof cfn.CloudFormationClient>[0]>);
  const templateArgs = (t: TemplateSource) => ('body' in t ? { TemplateBody: t.body } : 'url' in t ? { TemplateURL: t.url } : { UsePreviousTemplate: true });
  const paramArgs = (ps: StackParameter[]) =>
    ps.map((p) => (p.usePrevious ? { ParameterKey: p.key, UsePreviousValue: true } : { ParameterKey: p.key, ParameterValue: p.value ?? '' }));
  // An empty list is left out rather than sent empty: a template that needs nothing acknowledges nothing.
  const capabilityArgs = (caps: Capability[]) => (caps.length ? { Capabilities: [...caps] } : {});
  const tagArgs = (tags: Record<string, string> | undefined) => (tags ? { Tags: Object.keys(tags).sort().map((k) => ({ Key: k, Value: tags[k] })) } : {});
  return {
    async describeStack(name) {
      try {
        const out = await client.send(new cfn.DescribeStacksCommand({ StackName: name }));
        const s = out.Stacks?.[0];
        if (!s) return undefined;
        const outputs: Record<string, string> = {};
        for (const o of s.Outputs ?? []) if (o.OutputKey && o.OutputValue !== undefined) outputs[o.OutputKey] = o.OutputValue;
        const parameters: Record<string, string> = {};
        for (const p of s.Parameters ?? []) if (p.ParameterKey) parameters[p.ParameterKey] = p.ParameterValue ?? '';
        const tags: Record<string, string> = {};
        for (const t of s.Tags ?? []) if (t.Key) tags[t.Key] = t.Value ?? '';
        return { name: s.StackName ?? name, status: s.StackStatus ?? 'UNKNOWN', statusReason: s.StackStatusReason, outputs, parameters, tags };
      } catch (err) {
        if (/does not exist/.test((err as Error).message)) return undefined;
        throw err;
      }
    },
    async getTemplate(name) {
      const out = await client.send(new cfn.GetTemplateCommand({ StackName: name, TemplateStage: 'Original' }));
      const body = out.TemplateBody ?? '{}';
      // Our templates are JSON; a YAML body (deployed by something else) diffs as an empty template.
      try {
        return JSON.parse(body) as Record<string, unknown>;
      } catch {
        return {};
      }
    },
    async createStack(input) {
      await client.send(
        new cfn.CreateStackCommand({
          StackName: input.stackName,
          ...templateArgs(input.template),
          Parameters: paramArgs(input.parameters),
          ...tagArgs(input.tags),
          ...capabilityArgs(input.capabilities),
          // A failed creation keeps its resources for inspection; deploy explains how to clean up.
          OnFailure: 'ROLLBACK',
        }),
      );
    },
    async createChangeSet(input) {
      await client.send(
        new cfn.CreateChangeSetCommand({
          StackName: input.stackName,
          ChangeSetName: input.changeSetName,
          ChangeSetType: 'UPDATE',
          Description: input.description,
          ...templateArgs(input.template),
          Parameters: paramArgs(input.parameters),
          ...tagArgs(input.tags),
          ...capabilityArgs(input.capabilities),
        }),
      );
    },
    async describeChangeSet(stackName, changeSetName) {
      let token: string | undefined;
      let first: Record<string, unknown> | undefined;
      const changes: unknown[] = [];
      do {
        const out = await client.send(new cfn.DescribeChangeSetCommand({ StackName: stackName, ChangeSetName: changeSetName, NextToken: token, IncludePropertyValues: true }));
        first ??= out as unknown as Record<string, unknown>;
        changes.push(...(out.Changes ?? []));
        token = out.NextToken;
      } while (token);
      const raw: ChangeSetDescription['raw'] = { ...first!, Changes: changes, NextToken: undefined };
      return { status: String(raw.Status ?? 'UNKNOWN'), statusReason: raw.StatusReason as string | undefined, executionStatus: raw.ExecutionStatus as string | undefined, raw };
    },
    async executeChangeSet(stackName, changeSetName) {
      await client.send(new cfn.ExecuteChangeSetCommand({ StackName: stackName, ChangeSetName: changeSetName }));
    },
    async deleteChangeSet(stackName, changeSetName) {
      await client.send(new cfn.DeleteChangeSetCommand({ StackName: stackName, ChangeSetName: changeSetName }));
    },
    async describeStackEvents(stackName, stopAt) {
      const events: StackEvent[] = [];
      let token: string | undefined;
      do {
        const out = await client.send(new cfn.DescribeStackEventsCommand({ StackName: stackName, NextToken: token }));
        for (const e of out.StackEvents ?? []) {
          if (stopAt && e.EventId === stopAt) return events;
          events.push({
            eventId: e.EventId ?? '',
            timestamp: e.Timestamp ?? new Date(0),
            logicalId: e.LogicalResourceId ?? '',
            resourceType: e.ResourceType ?? '',
            status: e.ResourceStatus ?? '',
            reason: e.ResourceStatusReason,
          });
        }
        token = out.NextToken;
        // Without a marker, the first page (the newest events) is enough.
        if (!stopAt) break;
      } while (token);
      return events;
    },
  };
}

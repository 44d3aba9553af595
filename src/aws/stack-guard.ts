/**
 * The env guard on stacks: every stack catalogctl creates or updates carries its env in a
 * stack-level tag, and every AWS command refuses a stack tagged for another env (exit 2). Two envs
 * that share an account and region can therefore never act on each other's stacks, even when one
 * env file was copied from the other and kept its stack names.
 *
 * DescribeStacks is the gate: every command reads a stack before it changes it or reads its
 * Outputs, so refusing there refuses before anything is touched.
 */
import { UserInputError } from '../errors.ts';
import type { CloudFormationApi, StackSummary } from './cloudformation.ts';

/** The stack-level tag that names the env a stack belongs to. */
export const ENV_TAG = 'catalog:env';

/** The tags every stack of `env` is created and updated with: the env file's tags, then the env tag. */
export function stackTags(env: { name: string; tags: Record<string, string> }): Record<string, string> {
  return { ...env.tags, [ENV_TAG]: env.name };
}

export interface StackGuardOptions {
  /**
   * Called once per stack that has no env tag: one created before stacks were tagged. It is
   * addressed by this env's stack name in this env's account, so it is read as this env's; deploy
   * tags it only with --adopt-untagged.
   */
  onUntagged?: (stack: string) => void;
}

/** Refuses (exit 2) a stack whose env tag names another env; says whether it carries the tag at all. */
export function checkStackEnv(summary: StackSummary, envName: string): 'tagged' | 'untagged' {
  const tag = summary.tags[ENV_TAG];
  if (tag === undefined) return 'untagged';
  if (tag !== envName)
    throw new UserInputError(
      `stack ${summary.name} is tagged ${ENV_TAG}=${tag}, not env ${envName}: refusing to act on another env's stack (give env ${envName} its own stackPrefix in its env file)`,
    );
  return 'tagged';
}

/** The CloudFormation interface with the env guard on every DescribeStacks. */
export function guardStacks(cfn: CloudFormationApi, envName: string, opts: StackGuardOptions = {}): CloudFormationApi {
  const warned = new Set<string>();
  return {
    ...cfn,
    async describeStack(name) {
      const s = await cfn.describeStack(name);
      if (s && checkStackEnv(s, envName) === 'untagged' && !warned.has(s.name)) {
        warned.add(s.name);
        opts.onUntagged?.(s.name);
      }
      return s;
    },
  };
}

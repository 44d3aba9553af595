/**
 * The capabilities a template needs acknowledged on CreateStack / CreateChangeSet, derived from the
 * template itself, so each stack acknowledges exactly what it contains and CloudFormation never
 * answers InsufficientCapabilities. Pure. The rules, from the CloudFormation API reference
 * (CreateStack / CreateChangeSet, `Capabilities`):
 * - IAM resources (AccessKey, Group, InstanceProfile, ManagedPolicy, Policy, Role, User,
 *   UserToGroupAddition) need CAPABILITY_IAM, or CAPABILITY_NAMED_IAM when any of them has a custom
 *   name (NAMED_IAM covers both, so it is sent alone);
 * - a template with macros (`Transform`) created or updated without reviewing the processed
 *   template needs CAPABILITY_AUTO_EXPAND — the AWS::Serverless and AWS::Include transforms too.
 * Transforms add resources the template does not show: the AWS::SecretsManager transform turns a
 * RotationSchedule's HostedRotationLambda into a nested stack whose rotation function has its own
 * (generated, unnamed) IAM role, so it needs CAPABILITY_IAM as well; AWS::Serverless functions
 * without a Role get one.
 */
import type { Capability } from '../aws/cloudformation.ts';

/** IAM resource types that need a capability, and the property that gives each a custom name. */
export const IAM_RESOURCE_NAMES: Record<string, string | undefined> = {
  'AWS::IAM::AccessKey': undefined,
  'AWS::IAM::Group': 'GroupName',
  'AWS::IAM::InstanceProfile': 'InstanceProfileName',
  'AWS::IAM::ManagedPolicy': 'ManagedPolicyName',
  // PolicyName is required on every inline policy: it does not make the resource "named".
  'AWS::IAM::Policy': undefined,
  'AWS::IAM::Role': 'RoleName',
  'AWS::IAM::User': 'UserName',
  'AWS::IAM::UserToGroupAddition': undefined,
};

export interface CapabilityNeeds {
  /** Sorted; empty when the template needs none. */
  capabilities: Capability[];
  /** Why, one line each (`RotationRole AWS::IAM::Role has RoleName`), for the plan and errors. */
  reasons: string[];
}

interface TemplateLike {
  Transform?: unknown;
  Resources?: Record<string, { Type?: unknown; Properties?: Record<string, unknown> }>;
}

export function requiredCapabilities(template: TemplateLike): CapabilityNeeds {
  const reasons: string[] = [];
  let iam = false;
  let named = false;
  const transforms = (Array.isArray(template.Transform) ? template.Transform : template.Transform === undefined ? [] : [template.Transform]).map((t) =>
    typeof t === 'string' ? t : typeof t === 'object' && t !== null && typeof (t as { Name?: unknown }).Name === 'string' ? (t as { Name: string }).Name : String(t),
  );
  const resources = Object.entries(template.Resources ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
  for (const [id, r] of resources) {
    const type = typeof r.Type === 'string' ? r.Type : '';
    if (type in IAM_RESOURCE_NAMES) {
      iam = true;
      const nameProp = IAM_RESOURCE_NAMES[type];
      if (nameProp && r.Properties?.[nameProp] !== undefined) {
        named = true;
        reasons.push(`${id} ${type} has ${nameProp}`);
      } else reasons.push(`${id} ${type}`);
    }
    if (type === 'AWS::SecretsManager::RotationSchedule' && r.Properties?.HostedRotationLambda !== undefined && transforms.some((t) => t.startsWith('AWS::SecretsManager-'))) {
      iam = true;
      reasons.push(`${id} HostedRotationLambda: the transform adds a rotation function with its own IAM role`);
    }
    if ((type === 'AWS::Serverless::Function' || type === 'AWS::Serverless::StateMachine') && r.Properties?.Role === undefined) {
      iam = true;
      reasons.push(`${id} ${type} without Role: the transform adds an IAM role`);
    }
  }
  for (const t of transforms) reasons.push(`Transform ${t}`);
  const capabilities: Capability[] = [];
  if (transforms.length) capabilities.push('CAPABILITY_AUTO_EXPAND');
  if (named) capabilities.push('CAPABILITY_NAMED_IAM');
  else if (iam) capabilities.push('CAPABILITY_IAM');
  return { capabilities: capabilities.sort(), reasons };
}

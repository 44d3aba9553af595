/**
 * The one place cloudform-types' resource classes enter the project, grouped like CloudFormation's
 * type names (`new RDS.DBInstance({…})` is `AWS::RDS::DBInstance`), so `tsc` rejects a property
 * the resource type does not have, a value of the wrong type, or a missing required property.
 *
 * Each class is imported by its own deep path: the package index loads all 1,161 resource classes
 * (~250 ms over bare Node), these 41 about 12 ms unbundled and less in the CLI bundle
 * (bench/render.ts; test/templates/bundle.test.ts checks the bundle holds exactly these). The
 * package is CommonJS, so under NodeNext a class is its module's `.default`.
 *
 * Gaps in cloudform-types 7.5 (generated from resource specification 148.0.0), each extended here
 * once, with the AWS document that backs it:
 * - `LoggingConfig` on AWS::Lambda::Function (added to CloudFormation in 2023-11): `LambdaFunction`
 *   below (AWS CloudFormation Template Reference, AWS::Lambda::Function LoggingConfig).
 * - The `UpdateReplacePolicy` resource attribute: `ResourceBase` has `DeletionPolicy` only;
 *   `removalPolicy()` below sets both (Template Reference, UpdateReplacePolicy attribute).
 * - AWS::ApiGateway::Method `RequestParameters`: values are whether the parameter is required
 *   (boolean; the registry schema admits boolean or string), typed string only: `ApiGatewayMethod`
 *   below (Template Reference, AWS::ApiGateway::Method RequestParameters; API Gateway PutMethod).
 * - AWS::RDS::DBProxy `DefaultAuthScheme` (`IAM_AUTH`: end-to-end IAM authentication, added to
 *   CloudFormation in 2025), with which `Auth` is optional: `RdsDbProxy` below (Template Reference,
 *   AWS::RDS::DBProxy DefaultAuthScheme; the registry schema cfn-lint ships lists it).
 * - `Fn::If` where a property's type is an object (e.g. AWS::Lambda::Alias
 *   ProvisionedConcurrencyConfig): only `Value<T>` properties admit an intrinsic in these types,
 *   CloudFormation admits Fn::If on any property. `ifProperty()` in ./cfn.ts.
 */
import type { Value } from 'cloudform-types/types/dataTypes.js';
import { DeletionPolicy, type ResourceBase } from 'cloudform-types/types/resource.js';
import apiGatewayAccount from 'cloudform-types/types/apiGateway/account.js';
import apiGatewayAuthorizer from 'cloudform-types/types/apiGateway/authorizer.js';
import apiGatewayDeployment from 'cloudform-types/types/apiGateway/deployment.js';
import apiGatewayMethod, { type MethodProperties } from 'cloudform-types/types/apiGateway/method.js';
import apiGatewayResource from 'cloudform-types/types/apiGateway/resource.js';
import apiGatewayRestApi from 'cloudform-types/types/apiGateway/restApi.js';
import apiGatewayStage from 'cloudform-types/types/apiGateway/stage.js';
import cloudWatchAlarm from 'cloudform-types/types/cloudWatch/alarm.js';
import cloudWatchDashboard from 'cloudform-types/types/cloudWatch/dashboard.js';
import ec2FlowLog from 'cloudform-types/types/ec2/flowLog.js';
import ec2RouteTable from 'cloudform-types/types/ec2/routeTable.js';
import ec2SecurityGroup from 'cloudform-types/types/ec2/securityGroup.js';
import ec2SecurityGroupEgress from 'cloudform-types/types/ec2/securityGroupEgress.js';
import ec2SecurityGroupIngress from 'cloudform-types/types/ec2/securityGroupIngress.js';
import ec2Subnet from 'cloudform-types/types/ec2/subnet.js';
import ec2SubnetRouteTableAssociation from 'cloudform-types/types/ec2/subnetRouteTableAssociation.js';
import ec2Vpc from 'cloudform-types/types/ec2/vpc.js';
import ec2VpcEndpoint from 'cloudform-types/types/ec2/vpcEndpoint.js';
import eventsEventBus from 'cloudform-types/types/events/eventBus.js';
import eventsRule from 'cloudform-types/types/events/rule.js';
import iamRole from 'cloudform-types/types/iam/role.js';
import kmsKey from 'cloudform-types/types/kms/key.js';
import lambdaAlias from 'cloudform-types/types/lambda/alias.js';
import lambdaFunction, { type FunctionProperties } from 'cloudform-types/types/lambda/function.js';
import lambdaLayerVersion from 'cloudform-types/types/lambda/layerVersion.js';
import lambdaPermission from 'cloudform-types/types/lambda/permission.js';
import lambdaVersion from 'cloudform-types/types/lambda/version.js';
import logsLogGroup from 'cloudform-types/types/logs/logGroup.js';
import logsMetricFilter from 'cloudform-types/types/logs/metricFilter.js';
import logsResourcePolicy from 'cloudform-types/types/logs/resourcePolicy.js';
import rdsDbInstance from 'cloudform-types/types/rds/dbInstance.js';
import rdsDbParameterGroup from 'cloudform-types/types/rds/dbParameterGroup.js';
import rdsDbProxy, { type DBProxyProperties } from 'cloudform-types/types/rds/dbProxy.js';
import rdsDbProxyTargetGroup from 'cloudform-types/types/rds/dbProxyTargetGroup.js';
import rdsDbSubnetGroup from 'cloudform-types/types/rds/dbSubnetGroup.js';
import secretsManagerRotationSchedule from 'cloudform-types/types/secretsManager/rotationSchedule.js';
import secretsManagerSecret from 'cloudform-types/types/secretsManager/secret.js';
import snsSubscription from 'cloudform-types/types/sns/subscription.js';
import snsTopic from 'cloudform-types/types/sns/topic.js';
import snsTopicPolicy from 'cloudform-types/types/sns/topicPolicy.js';
import stepFunctionsStateMachine from 'cloudform-types/types/stepFunctions/stateMachine.js';

export type { ResourceBase };
export type { DBInstanceProperties } from 'cloudform-types/types/rds/dbInstance.js';
export type { MethodSetting } from 'cloudform-types/types/apiGateway/stage.js';
export type { MetricDataQuery, AlarmProperties } from 'cloudform-types/types/cloudWatch/alarm.js';
export type { GenerateSecretString } from 'cloudform-types/types/secretsManager/secret.js';

/**
 * Gap: AWS::Lambda::Function `LoggingConfig` is missing from cloudform-types 7.5 (spec 148.0.0).
 * Its four properties and their allowed values as the CloudFormation Template Reference lists them.
 */
export interface LambdaLoggingConfig {
  ApplicationLogLevel?: Value<'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'FATAL'>;
  LogFormat?: Value<'JSON' | 'Text'>;
  LogGroup?: Value<string>;
  SystemLogLevel?: Value<'DEBUG' | 'INFO' | 'WARN'>;
}
export interface LambdaFunctionProperties extends FunctionProperties {
  LoggingConfig?: LambdaLoggingConfig;
}
class LambdaFunction extends lambdaFunction.default {
  declare Properties: LambdaFunctionProperties;
  constructor(properties: LambdaFunctionProperties) {
    super(properties);
  }
}

/** Gap: AWS::ApiGateway::Method `RequestParameters` maps each parameter to whether it is required. */
export interface ApiGatewayMethodProperties extends Omit<MethodProperties, 'RequestParameters'> {
  RequestParameters?: Record<string, Value<boolean>>;
}
class ApiGatewayMethod extends apiGatewayMethod.default {
  constructor(properties: ApiGatewayMethodProperties) {
    // Cast to the base class's type only: it stores the properties as given, booleans included.
    super(properties as MethodProperties);
  }
}

/** Gap: AWS::RDS::DBProxy `DefaultAuthScheme`; `Auth` (secrets) is optional with IAM_AUTH. */
export interface RdsDbProxyProperties extends Omit<DBProxyProperties, 'Auth'> {
  Auth?: DBProxyProperties['Auth'];
  DefaultAuthScheme?: Value<'IAM_AUTH' | 'NONE'>;
}
class RdsDbProxy extends rdsDbProxy.default {
  constructor(properties: RdsDbProxyProperties) {
    // Cast to the base class's type only: it stores the properties as given.
    super(properties as DBProxyProperties);
  }
}

export type RemovalPolicy = keyof typeof DeletionPolicy;
/**
 * Gap: `ResourceBase` has no `UpdateReplacePolicy` attribute. Every stateful resource here keeps
 * (or deletes, or snapshots) its data the same way whether the stack deletes or replaces it.
 */
export function removalPolicy<R extends ResourceBase>(resource: R, policy: RemovalPolicy): R & { UpdateReplacePolicy: DeletionPolicy } {
  resource.deletionPolicy(DeletionPolicy[policy]);
  return Object.assign(resource, { UpdateReplacePolicy: DeletionPolicy[policy] });
}

export const ApiGateway = {
  Account: apiGatewayAccount.default,
  Authorizer: apiGatewayAuthorizer.default,
  Deployment: apiGatewayDeployment.default,
  Method: ApiGatewayMethod,
  Resource: apiGatewayResource.default,
  RestApi: apiGatewayRestApi.default,
  Stage: apiGatewayStage.default,
};
export const CloudWatch = { Alarm: cloudWatchAlarm.default, Dashboard: cloudWatchDashboard.default };
export const EC2 = {
  FlowLog: ec2FlowLog.default,
  RouteTable: ec2RouteTable.default,
  SecurityGroup: ec2SecurityGroup.default,
  SecurityGroupEgress: ec2SecurityGroupEgress.default,
  SecurityGroupIngress: ec2SecurityGroupIngress.default,
  Subnet: ec2Subnet.default,
  SubnetRouteTableAssociation: ec2SubnetRouteTableAssociation.default,
  VPC: ec2Vpc.default,
  VPCEndpoint: ec2VpcEndpoint.default,
};
export const Events = { EventBus: eventsEventBus.default, Rule: eventsRule.default };
export const IAM = { Role: iamRole.default };
export const KMS = { Key: kmsKey.default };
export const Lambda = {
  Alias: lambdaAlias.default,
  Function: LambdaFunction,
  LayerVersion: lambdaLayerVersion.default,
  Permission: lambdaPermission.default,
  Version: lambdaVersion.default,
};
export const Logs = { LogGroup: logsLogGroup.default, MetricFilter: logsMetricFilter.default, ResourcePolicy: logsResourcePolicy.default };
export const RDS = { DBInstance: rdsDbInstance.default, DBParameterGroup: rdsDbParameterGroup.default, DBProxy: RdsDbProxy, DBProxyTargetGroup: rdsDbProxyTargetGroup.default, DBSubnetGroup: rdsDbSubnetGroup.default };
export const SecretsManager = { RotationSchedule: secretsManagerRotationSchedule.default, Secret: secretsManagerSecret.default };
export const SNS = { Subscription: snsSubscription.default, Topic: snsTopic.default, TopicPolicy: snsTopicPolicy.default };
export const StepFunctions = { StateMachine: stepFunctionsStateMachine.default };

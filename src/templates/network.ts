/**
 * catalog-network: a VPC with two private subnets in two AZs (or an adopted VPC), the Lambda,
 * rotation and database security groups (5432 into the database only from the functions and the
 * secret rotation function), and VPC endpoints so they reach Secrets Manager, the RDS API,
 * EventBridge, Logs, Step Functions and S3 without a NAT.
 */
import type { EnvConfig } from '../config/types.ts';
import { allow, assumeRole, Fn, kmsKey, logGroup, LOGS_PRINCIPAL, rolePolicy, sub, tags, type Template, type Value } from './cfn.ts';
import { NETWORK as N, OUT, privateSubnetId, subnetRouteTableAssociationId } from './ids.ts';
import { EC2, IAM, type ResourceBase } from './resources.ts';

type NewVpc = Extract<EnvConfig['network'], { mode: 'create' }>;

/** Where the functions and the database live: the VPC this stack creates, or the one it adopts. */
interface Placement {
  vpcId: Value<string>;
  subnetIds: Value<string>[];
  routeTableIds: Value<string>[];
}

const INTERFACE_ENDPOINTS: [string, string][] = [
  [N.SecretsManagerEndpoint, 'secretsmanager'],
  // The hosted PostgreSQLMultiUser rotation function finds the host of an RDS-managed master
  // secret (which holds only username and password) with rds:DescribeDBInstances.
  [N.RdsEndpoint, 'rds'],
  [N.EventsEndpoint, 'events'],
  [N.LogsEndpoint, 'logs'],
  [N.StatesEndpoint, 'states'],
];

function placement(config: EnvConfig): Placement {
  const n = config.network;
  if (n.mode === 'adopt') return { vpcId: n.vpcId, subnetIds: [...n.subnetIds], routeTableIds: [...n.routeTableIds] };
  return {
    vpcId: Fn.Ref(N.Vpc),
    subnetIds: n.privateSubnetCidrs.map((_, i) => Fn.Ref(privateSubnetId(i))),
    routeTableIds: [Fn.Ref(N.PrivateRouteTable)],
  };
}

/** The new VPC, its private route table, and one private subnet per AZ. */
function vpcResources(config: EnvConfig, n: NewVpc): Record<string, ResourceBase> {
  const resources: Record<string, ResourceBase> = {
    [N.Vpc]: new EC2.VPC({ CidrBlock: n.vpcCidr, EnableDnsHostnames: true, EnableDnsSupport: true, Tags: tags(config, { Name: `catalog-${config.name}` }) }),
    [N.PrivateRouteTable]: new EC2.RouteTable({ VpcId: Fn.Ref(N.Vpc), Tags: tags(config, { Name: `catalog-${config.name}-private` }) }),
  };
  n.privateSubnetCidrs.forEach((cidr, i) => {
    resources[privateSubnetId(i)] = new EC2.Subnet({
      VpcId: Fn.Ref(N.Vpc),
      CidrBlock: cidr,
      AvailabilityZone: n.availabilityZones?.[i] ?? Fn.Select(i, Fn.GetAZs('')),
      MapPublicIpOnLaunch: false,
      Tags: tags(config, { Name: `catalog-${config.name}-private-${'ab'[i]}` }),
    });
    resources[subnetRouteTableAssociationId(i)] = new EC2.SubnetRouteTableAssociation({ SubnetId: Fn.Ref(privateSubnetId(i)), RouteTableId: Fn.Ref(N.PrivateRouteTable) });
  });
  return resources;
}

/** VPC flow logs into an encrypted log group, written by their own role. */
function flowLogResources(config: EnvConfig): Record<string, ResourceBase> {
  return {
    [N.FlowLogKey]: kmsKey(`Catalog ${config.name} VPC flow logs`, [LOGS_PRINCIPAL], config),
    [N.FlowLogGroup]: logGroup(config, undefined, Fn.GetAtt(N.FlowLogKey, 'Arn')),
    [N.FlowLogRole]: new IAM.Role({
      AssumeRolePolicyDocument: assumeRole('vpc-flow-logs.amazonaws.com'),
      Policies: [rolePolicy('write-flow-logs', [allow(['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'], Fn.GetAtt(N.FlowLogGroup, 'Arn'))])],
      Tags: tags(config),
    }),
    [N.FlowLog]: new EC2.FlowLog({
      ResourceId: Fn.Ref(N.Vpc),
      ResourceType: 'VPC',
      TrafficType: 'ALL',
      LogDestinationType: 'cloud-watch-logs',
      LogGroupName: Fn.Ref(N.FlowLogGroup),
      DeliverLogsPermissionArn: Fn.GetAtt(N.FlowLogRole, 'Arn'),
      Tags: tags(config),
    }),
  };
}

/** Lambda, database and endpoint security groups: 5432 into the database only from the functions. */
function securityGroupResources(config: EnvConfig, { vpcId }: Placement): Record<string, ResourceBase> {
  const lambdaGroupId = Fn.GetAtt(N.LambdaSecurityGroup, 'GroupId');
  const databaseGroupId = Fn.GetAtt(N.DatabaseSecurityGroup, 'GroupId');
  const noEgress = [{ IpProtocol: '-1', CidrIp: '127.0.0.1/32', Description: 'no egress' }];
  return {
    [N.LambdaSecurityGroup]: new EC2.SecurityGroup({
      GroupDescription: `Catalog ${config.name} Lambda functions`,
      VpcId: vpcId,
      // HTTPS to the interface endpoints and the S3 gateway endpoint; with no NAT there is no other way out.
      SecurityGroupEgress: [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, CidrIp: '0.0.0.0/0', Description: 'HTTPS to VPC endpoints and S3' }],
      Tags: tags(config, { Name: `catalog-${config.name}-lambda` }),
    }),
    [N.LambdaToDatabaseEgress]: new EC2.SecurityGroupEgress({
      GroupId: lambdaGroupId,
      IpProtocol: 'tcp',
      FromPort: 5432,
      ToPort: 5432,
      DestinationSecurityGroupId: databaseGroupId,
      Description: 'PostgreSQL to the database',
    }),
    [N.DatabaseSecurityGroup]: new EC2.SecurityGroup({
      GroupDescription: `Catalog ${config.name} PostgreSQL: reachable only from the Lambda functions`,
      VpcId: vpcId,
      SecurityGroupEgress: noEgress,
      Tags: tags(config, { Name: `catalog-${config.name}-db` }),
    }),
    [N.DatabaseIngressFromLambda]: new EC2.SecurityGroupIngress({
      GroupId: databaseGroupId,
      IpProtocol: 'tcp',
      FromPort: 5432,
      ToPort: 5432,
      SourceSecurityGroupId: lambdaGroupId,
      Description: 'PostgreSQL from the Lambda functions only',
    }),
    [N.EndpointSecurityGroup]: new EC2.SecurityGroup({
      GroupDescription: `Catalog ${config.name} VPC interface endpoints`,
      VpcId: vpcId,
      SecurityGroupIngress: [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, SourceSecurityGroupId: lambdaGroupId, Description: 'HTTPS from the Lambda functions' }],
      SecurityGroupEgress: noEgress,
      Tags: tags(config, { Name: `catalog-${config.name}-endpoints` }),
    }),
    ...rotationSecurityGroupResources(config, vpcId),
  };
}

/**
 * The app DB secret's hosted rotation function (catalog-secrets) runs in the VPC with no NAT: it
 * reaches Secrets Manager and the RDS API through the interface endpoints, and the database on
 * 5432, and nothing else. The ingress side is separate resources, so no group refers to another
 * that refers back.
 */
function rotationSecurityGroupResources(config: EnvConfig, vpcId: Value<string>): Record<string, ResourceBase> {
  const rotationGroupId = Fn.GetAtt(N.RotationSecurityGroup, 'GroupId');
  return {
    [N.RotationSecurityGroup]: new EC2.SecurityGroup({
      GroupDescription: `Catalog ${config.name} app DB secret rotation function`,
      VpcId: vpcId,
      SecurityGroupEgress: [
        { IpProtocol: 'tcp', FromPort: 443, ToPort: 443, DestinationSecurityGroupId: Fn.GetAtt(N.EndpointSecurityGroup, 'GroupId'), Description: 'HTTPS to the VPC interface endpoints (Secrets Manager, RDS API)' },
        { IpProtocol: 'tcp', FromPort: 5432, ToPort: 5432, DestinationSecurityGroupId: Fn.GetAtt(N.DatabaseSecurityGroup, 'GroupId'), Description: 'PostgreSQL to the database' },
      ],
      Tags: tags(config, { Name: `catalog-${config.name}-rotation` }),
    }),
    [N.DatabaseIngressFromRotation]: new EC2.SecurityGroupIngress({
      GroupId: Fn.GetAtt(N.DatabaseSecurityGroup, 'GroupId'),
      IpProtocol: 'tcp',
      FromPort: 5432,
      ToPort: 5432,
      SourceSecurityGroupId: rotationGroupId,
      Description: 'PostgreSQL from the secret rotation function',
    }),
    [N.EndpointIngressFromRotation]: new EC2.SecurityGroupIngress({
      GroupId: Fn.GetAtt(N.EndpointSecurityGroup, 'GroupId'),
      IpProtocol: 'tcp',
      FromPort: 443,
      ToPort: 443,
      SourceSecurityGroupId: rotationGroupId,
      Description: 'HTTPS from the secret rotation function',
    }),
  };
}

/**
 * RDS Proxy's security group when the env has a proxy: 5432 from the Lambda group in, 5432 to the
 * database group out, and the database accepting it; functions → proxy → database, nothing else.
 */
function proxySecurityGroupResources(config: EnvConfig, { vpcId }: Placement): Record<string, ResourceBase> {
  if (!config.database.proxy?.enabled) return {};
  const lambdaGroupId = Fn.GetAtt(N.LambdaSecurityGroup, 'GroupId');
  const databaseGroupId = Fn.GetAtt(N.DatabaseSecurityGroup, 'GroupId');
  const proxyGroupId = Fn.GetAtt(N.ProxySecurityGroup, 'GroupId');
  const pg = { IpProtocol: 'tcp', FromPort: 5432, ToPort: 5432 };
  return {
    [N.ProxySecurityGroup]: new EC2.SecurityGroup({
      GroupDescription: `Catalog ${config.name} RDS Proxy: from the Lambda functions to the database only`,
      VpcId: vpcId,
      // Replaced by ProxyToDatabaseEgress: a group created without egress rules would allow all.
      SecurityGroupEgress: [{ IpProtocol: '-1', CidrIp: '127.0.0.1/32', Description: 'no egress but the rule below' }],
      Tags: tags(config, { Name: `catalog-${config.name}-proxy` }),
    }),
    [N.LambdaToProxyEgress]: new EC2.SecurityGroupEgress({ GroupId: lambdaGroupId, ...pg, DestinationSecurityGroupId: proxyGroupId, Description: 'PostgreSQL to RDS Proxy' }),
    [N.ProxyIngressFromLambda]: new EC2.SecurityGroupIngress({ GroupId: proxyGroupId, ...pg, SourceSecurityGroupId: lambdaGroupId, Description: 'PostgreSQL from the Lambda functions only' }),
    [N.ProxyToDatabaseEgress]: new EC2.SecurityGroupEgress({ GroupId: proxyGroupId, ...pg, DestinationSecurityGroupId: databaseGroupId, Description: 'PostgreSQL to the database' }),
    [N.DatabaseIngressFromProxy]: new EC2.SecurityGroupIngress({ GroupId: databaseGroupId, ...pg, SourceSecurityGroupId: proxyGroupId, Description: 'PostgreSQL from RDS Proxy' }),
  };
}

/** Interface endpoints for the AWS APIs the functions call, and the S3 gateway endpoint. */
function endpointResources({ vpcId, subnetIds, routeTableIds }: Placement): Record<string, ResourceBase> {
  const resources: Record<string, ResourceBase> = {};
  for (const [id, service] of INTERFACE_ENDPOINTS) {
    resources[id] = new EC2.VPCEndpoint({
      VpcId: vpcId,
      ServiceName: sub(`com.amazonaws.\${AWS::Region}.${service}`),
      VpcEndpointType: 'Interface',
      PrivateDnsEnabled: true,
      SubnetIds: subnetIds,
      SecurityGroupIds: [Fn.GetAtt(N.EndpointSecurityGroup, 'GroupId')],
    });
  }
  resources[N.S3Endpoint] = new EC2.VPCEndpoint({ VpcId: vpcId, ServiceName: sub('com.amazonaws.${AWS::Region}.s3'), VpcEndpointType: 'Gateway', RouteTableIds: routeTableIds });
  return resources;
}

export function buildNetworkStack(config: EnvConfig): Template {
  const n = config.network;
  const where = placement(config);
  return {
    AWSTemplateFormatVersion: '2010-09-09',
    Description: `Catalog ${config.name}: network (${n.mode === 'create' ? 'new VPC' : 'adopted VPC'}, security groups, VPC endpoints)`,
    Resources: {
      ...(n.mode === 'create' ? { ...vpcResources(config, n), ...flowLogResources(config) } : {}),
      ...securityGroupResources(config, where),
      ...proxySecurityGroupResources(config, where),
      ...endpointResources(where),
    },
    Outputs: {
      [OUT.VpcId]: { Description: 'VPC of the Catalog service', Value: where.vpcId },
      [OUT.SubnetIds]: { Description: 'Private subnets (two AZs), comma-separated', Value: Fn.Join(',', where.subnetIds) },
      [OUT.LambdaSecurityGroupId]: { Description: 'Security group of the in-VPC functions', Value: Fn.GetAtt(N.LambdaSecurityGroup, 'GroupId') },
      [OUT.DbSecurityGroupId]: { Description: 'Security group of the database', Value: Fn.GetAtt(N.DatabaseSecurityGroup, 'GroupId') },
      [OUT.RotationSecurityGroupId]: { Description: 'Security group of the app DB secret rotation function', Value: Fn.GetAtt(N.RotationSecurityGroup, 'GroupId') },
      ...(config.database.proxy?.enabled ? { [OUT.ProxySecurityGroupId]: { Description: 'Security group of RDS Proxy', Value: Fn.GetAtt(N.ProxySecurityGroup, 'GroupId') } } : {}),
    },
  };
}

/**
 * catalog-network: a VPC with two private subnets in two AZs (or an adopted VPC), the Lambda and
 * database security groups (5432 into the database only from the Lambda group), and VPC endpoints
 * so the functions reach Secrets Manager, EventBridge, Logs, Step Functions and S3 without a NAT.
 */
import type { EnvConfig } from '../config/types.ts';
import { getAtt, join, kmsKey, LOGS_PRINCIPAL, ref, sub, tags, type Obj, type Template } from './cfn-json.ts';

const INTERFACE_ENDPOINTS: [string, string][] = [
  ['SecretsManagerEndpoint', 'secretsmanager'],
  ['EventsEndpoint', 'events'],
  ['LogsEndpoint', 'logs'],
  ['StatesEndpoint', 'states'],
];

export function buildNetworkStack(config: EnvConfig): Template {
  const n = config.network;
  const resources: Record<string, Obj> = {};
  let vpcId: Obj | string;
  let subnetIds: (Obj | string)[];
  let routeTables: (Obj | string)[];

  if (n.mode === 'create') {
    resources.Vpc = {
      Type: 'AWS::EC2::VPC',
      Properties: { CidrBlock: n.vpcCidr, EnableDnsHostnames: true, EnableDnsSupport: true, Tags: tags(config, { Name: `catalog-${config.name}` }) },
    };
    resources.PrivateRouteTable = { Type: 'AWS::EC2::RouteTable', Properties: { VpcId: ref('Vpc'), Tags: tags(config, { Name: `catalog-${config.name}-private` }) } };
    subnetIds = [];
    n.privateSubnetCidrs.forEach((cidr, i) => {
      const id = `PrivateSubnet${'AB'[i]}`;
      const az = n.availabilityZones?.[i] ?? { 'Fn::Select': [i, { 'Fn::GetAZs': '' }] };
      resources[id] = {
        Type: 'AWS::EC2::Subnet',
        Properties: { VpcId: ref('Vpc'), CidrBlock: cidr, AvailabilityZone: az, MapPublicIpOnLaunch: false, Tags: tags(config, { Name: `catalog-${config.name}-private-${'ab'[i]}` }) },
      };
      resources[`${id}RouteTableAssociation`] = { Type: 'AWS::EC2::SubnetRouteTableAssociation', Properties: { SubnetId: ref(id), RouteTableId: ref('PrivateRouteTable') } };
      subnetIds.push(ref(id));
    });
    vpcId = ref('Vpc');
    routeTables = [ref('PrivateRouteTable')];
    resources.FlowLogKey = kmsKey(`Catalog ${config.name} VPC flow logs`, [LOGS_PRINCIPAL], config);
    resources.FlowLogGroup = {
      Type: 'AWS::Logs::LogGroup',
      DeletionPolicy: 'Delete',
      UpdateReplacePolicy: 'Delete',
      Properties: { RetentionInDays: config.logging.retentionDays, KmsKeyId: getAtt('FlowLogKey', 'Arn'), Tags: tags(config) },
    };
    resources.FlowLogRole = {
      Type: 'AWS::IAM::Role',
      Properties: {
        AssumeRolePolicyDocument: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'vpc-flow-logs.amazonaws.com' }, Action: 'sts:AssumeRole' }] },
        Policies: [
          {
            PolicyName: 'write-flow-logs',
            PolicyDocument: {
              Version: '2012-10-17',
              Statement: [{ Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'], Resource: getAtt('FlowLogGroup', 'Arn') }],
            },
          },
        ],
        Tags: tags(config),
      },
    };
    resources.FlowLog = {
      Type: 'AWS::EC2::FlowLog',
      Properties: { ResourceId: ref('Vpc'), ResourceType: 'VPC', TrafficType: 'ALL', LogDestinationType: 'cloud-watch-logs', LogGroupName: ref('FlowLogGroup'), DeliverLogsPermissionArn: getAtt('FlowLogRole', 'Arn'), Tags: tags(config) },
    };
  } else {
    vpcId = n.vpcId;
    subnetIds = [...n.subnetIds];
    routeTables = [...n.routeTableIds];
  }

  resources.LambdaSecurityGroup = {
    Type: 'AWS::EC2::SecurityGroup',
    Properties: {
      GroupDescription: `Catalog ${config.name} Lambda functions`,
      VpcId: vpcId,
      // HTTPS to the interface endpoints and the S3 gateway endpoint; with no NAT there is no other way out.
      SecurityGroupEgress: [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, CidrIp: '0.0.0.0/0', Description: 'HTTPS to VPC endpoints and S3' }],
      Tags: tags(config, { Name: `catalog-${config.name}-lambda` }),
    },
  };
  resources.LambdaToDatabaseEgress = {
    Type: 'AWS::EC2::SecurityGroupEgress',
    Properties: { GroupId: getAtt('LambdaSecurityGroup', 'GroupId'), IpProtocol: 'tcp', FromPort: 5432, ToPort: 5432, DestinationSecurityGroupId: getAtt('DatabaseSecurityGroup', 'GroupId'), Description: 'PostgreSQL to the database' },
  };
  resources.DatabaseSecurityGroup = {
    Type: 'AWS::EC2::SecurityGroup',
    Properties: {
      GroupDescription: `Catalog ${config.name} PostgreSQL: reachable only from the Lambda functions`,
      VpcId: vpcId,
      SecurityGroupEgress: [{ IpProtocol: '-1', CidrIp: '127.0.0.1/32', Description: 'no egress' }],
      Tags: tags(config, { Name: `catalog-${config.name}-db` }),
    },
  };
  resources.DatabaseIngressFromLambda = {
    Type: 'AWS::EC2::SecurityGroupIngress',
    Properties: { GroupId: getAtt('DatabaseSecurityGroup', 'GroupId'), IpProtocol: 'tcp', FromPort: 5432, ToPort: 5432, SourceSecurityGroupId: getAtt('LambdaSecurityGroup', 'GroupId'), Description: 'PostgreSQL from the Lambda functions only' },
  };
  resources.EndpointSecurityGroup = {
    Type: 'AWS::EC2::SecurityGroup',
    Properties: {
      GroupDescription: `Catalog ${config.name} VPC interface endpoints`,
      VpcId: vpcId,
      SecurityGroupIngress: [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, SourceSecurityGroupId: getAtt('LambdaSecurityGroup', 'GroupId'), Description: 'HTTPS from the Lambda functions' }],
      SecurityGroupEgress: [{ IpProtocol: '-1', CidrIp: '127.0.0.1/32', Description: 'no egress' }],
      Tags: tags(config, { Name: `catalog-${config.name}-endpoints` }),
    },
  };
  for (const [id, service] of INTERFACE_ENDPOINTS) {
    resources[id] = {
      Type: 'AWS::EC2::VPCEndpoint',
      Properties: {
        VpcId: vpcId,
        ServiceName: sub(`com.amazonaws.\${AWS::Region}.${service}`),
        VpcEndpointType: 'Interface',
        PrivateDnsEnabled: true,
        SubnetIds: subnetIds,
        SecurityGroupIds: [getAtt('EndpointSecurityGroup', 'GroupId')],
      },
    };
  }
  resources.S3Endpoint = {
    Type: 'AWS::EC2::VPCEndpoint',
    Properties: { VpcId: vpcId, ServiceName: sub('com.amazonaws.${AWS::Region}.s3'), VpcEndpointType: 'Gateway', RouteTableIds: routeTables },
  };

  return {
    AWSTemplateFormatVersion: '2010-09-09',
    Description: `Catalog ${config.name}: network (${n.mode === 'create' ? 'new VPC' : 'adopted VPC'}, security groups, VPC endpoints)`,
    Resources: resources,
    Outputs: {
      VpcId: { Description: 'VPC of the Catalog service', Value: vpcId },
      SubnetIds: { Description: 'Private subnets (two AZs), comma-separated', Value: join(',', subnetIds) },
      LambdaSecurityGroupId: { Description: 'Security group of the in-VPC functions', Value: getAtt('LambdaSecurityGroup', 'GroupId') },
      DbSecurityGroupId: { Description: 'Security group of the database', Value: getAtt('DatabaseSecurityGroup', 'GroupId') },
    },
  };
}

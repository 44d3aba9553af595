/**
 * Mistakes the types must reject. Never run: `npm test` type-checks it (tsc over test/**), where
 * an `@ts-expect-error` that no longer meets an error is itself an error (TS2578), and
 * type-errors.test.ts removes each directive in turn and asserts the exact diagnostic code named in
 * its [TSxxxx] tag appears on the line below it. One mistake per directive.
 *
 * What the types cannot catch, and what does instead: which intrinsic stands where a value goes
 * (every Fn returns the same IntrinsicFunction, so a Ref to a Number parameter passes where a string
 * is wanted; cfn-lint in test/validate), and whether a Ref or GetAtt names a resource that exists
 * (the invariants' reference-resolves rule, test/templates).
 */
import type { StateMachineDefinition } from 'aws-local-stepfunctions';
import { allow, Fn, ifProperty, noValue, type PolicyStatement } from '../../src/templates/cfn.ts';
import { ApiGateway, CloudWatch, EC2, Lambda, RDS, removalPolicy } from '../../src/templates/resources.ts';

const code = { S3Bucket: 'artifacts', S3Key: 'fn.zip' };
const role = Fn.GetAtt('FnRole', 'Arn');

// @ts-expect-error [TS2561] a misspelled property
new RDS.DBInstance({ StorageEncryptd: true });

// @ts-expect-error [TS2322] a number where CloudFormation wants a string (EngineVersion)
new RDS.DBInstance({ EngineVersion: 17.9 });

// @ts-expect-error [TS2322] a string where CloudFormation wants a boolean
new RDS.DBInstance({ StorageEncrypted: 'true' });

// @ts-expect-error [TS2322] a number in a function environment (variables are strings)
new Lambda.Function({ Code: code, Role: role, Environment: { Variables: { DB_PORT: 5432 } } });

// @ts-expect-error [TS2353] a property of another resource type (RDS's StorageEncrypted on a function)
new Lambda.Function({ Code: code, Role: role, StorageEncrypted: true });

// @ts-expect-error [TS2353] a property of another resource type (a Lambda VpcConfig on a security group)
new EC2.SecurityGroup({ GroupDescription: 'db', VpcConfig: { SubnetIds: [] } });

// @ts-expect-error [TS2345] a missing required property (Code)
new Lambda.Function({ Role: role, Runtime: 'nodejs22.x' });

// @ts-expect-error [TS2345] a missing required property (EvaluationPeriods)
new CloudWatch.Alarm({ ComparisonOperator: 'GreaterThanThreshold', Threshold: 0 });

// @ts-expect-error [TS2353] a hand-written intrinsic instead of Fn (it would not serialise as one)
new RDS.DBInstance({ DBInstanceClass: { Ref: 'DBInstanceClass' } });

// @ts-expect-error [TS2741] an intrinsic where the property is an object type (use ifProperty)
new Lambda.Alias({ FunctionName: 'f', FunctionVersion: '1', Name: 'live', ProvisionedConcurrencyConfig: Fn.If('HasPc', { ProvisionedConcurrentExecutions: 5 }, Fn.Ref('AWS::NoValue')) });

// @ts-expect-error [TS2741] a misspelled property inside Fn::If on an object-typed property (ifProperty still checks it)
new Lambda.Alias({ FunctionName: 'f', FunctionVersion: '1', Name: 'live', ProvisionedConcurrencyConfig: ifProperty('HasPc', { ProvisionedConcurrentExecution: 5 }, noValue) });

// @ts-expect-error [TS2322] a string where the extended Method RequestParameters want whether the parameter is required
new ApiGateway.Method({ HttpMethod: 'GET', ResourceId: 'r', RestApiId: 'a', RequestParameters: { 'method.request.path.id': 'yes' } });

// @ts-expect-error [TS2820] a value outside the extended LoggingConfig type (LogFormat is JSON or Text)
new Lambda.Function({ Code: code, Role: role, LoggingConfig: { LogFormat: 'json' } });

// @ts-expect-error [TS2345] a removal policy CloudFormation does not have
removalPolicy(new RDS.DBInstance({}), 'Keep');

// @ts-expect-error [TS2554] an IAM statement without a resource
allow('s3:GetObject');

// @ts-expect-error [TS2322] an IAM effect CloudFormation does not have
export const statement: PolicyStatement = { Effect: 'Permit', Action: 's3:GetObject', Resource: '*' };

export const definition: StateMachineDefinition = {
  StartAt: 'Wait',
  // @ts-expect-error [TS2561] a misspelled state field in the poller's ASL
  States: { Wait: { Type: 'Wait', SecondPath: '$.wait_seconds', End: true } },
};

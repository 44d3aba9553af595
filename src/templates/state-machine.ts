/**
 * The Catalog Status Poller in Amazon States Language: CheckCatalogStatus → "Is Catalog Ready?" →
 * Wait → loop, or UpdateCatalogInDB → Success; CatalogPollTimeout after maxAttempts checks.
 * Task resources are placeholders that catalog-service fills with Fn::Sub.
 */
// Types only (erased): aws-local-stepfunctions' model of ASL checks each state's fields here.
import type { StateMachineDefinition } from 'aws-local-stepfunctions';
import type { EnvConfig } from '../config/types.ts';

export const CHECK_PLACEHOLDER = '${CheckCatalogStatusFunctionArn}';
export const UPDATE_PLACEHOLDER = '${UpdateCatalogDbFunctionArn}';

type State = StateMachineDefinition['States'][string];
type Retrier = NonNullable<Extract<State, { Type: 'Task' }>['Retry']>[number];
type Catcher = NonNullable<Extract<State, { Type: 'Task' }>['Catch']>[number];

const TRANSIENT = ['Lambda.ServiceException', 'Lambda.AWSLambdaException', 'Lambda.SdkClientException', 'Lambda.TooManyRequestsException'];

export function buildStateMachine(config: EnvConfig): StateMachineDefinition {
  const p = config.poller;
  const retry: Retrier[] = [
    { ErrorEquals: TRANSIENT, IntervalSeconds: 2, MaxAttempts: 6, BackoffRate: 2, MaxDelaySeconds: 60, JitterStrategy: 'FULL' },
    { ErrorEquals: ['ExternalApiError'], IntervalSeconds: 10, MaxAttempts: 3, BackoffRate: 2 },
  ];
  const catchAll: Catcher[] = [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'CatalogPollFailed' }];
  return {
    Comment: `Catalog Status Poller (${config.name}): waits until the external API reports kb_name and data_source_name, then records them`,
    StartAt: 'CheckCatalogStatus',
    TimeoutSeconds: Math.min(31_536_000, p.maxAttempts * ((p.backoff?.maxIntervalSeconds ?? p.intervalSeconds) + 120) + 600),
    States: {
      CheckCatalogStatus: {
        Type: 'Task',
        Resource: CHECK_PLACEHOLDER,
        Parameters: {
          'catalog_name.$': '$.catalog_name',
          'local_catalog_id.$': '$.local_catalog_id',
          'jwt_token.$': '$.jwt_token',
          'attempt_count.$': '$.attempt_count',
          wait_policy: {
            interval_seconds: p.intervalSeconds,
            backoff_rate: p.backoff?.rate ?? 1,
            max_interval_seconds: p.backoff?.maxIntervalSeconds ?? p.intervalSeconds,
          },
        },
        // Keep the seed's execution input shape for the next loop; the token (when passed at all)
        // rides along unchanged.
        ResultSelector: {
          'catalog_name.$': '$.catalog_name',
          'local_catalog_id.$': '$.local_catalog_id',
          'attempt_count.$': '$.attempt_count',
          'catalog_ready.$': '$.catalog_ready',
          'kb_name.$': '$.kb_name',
          'data_source_name.$': '$.data_source_name',
          'wait_seconds.$': '$.wait_seconds',
        },
        ResultPath: '$.check',
        Retry: retry,
        Catch: catchAll,
        Next: 'CarryState',
      },
      CarryState: {
        Type: 'Pass',
        Parameters: {
          'catalog_name.$': '$.check.catalog_name',
          'local_catalog_id.$': '$.check.local_catalog_id',
          'jwt_token.$': '$.jwt_token',
          'attempt_count.$': '$.check.attempt_count',
          'catalog_ready.$': '$.check.catalog_ready',
          'kb_name.$': '$.check.kb_name',
          'data_source_name.$': '$.check.data_source_name',
          'wait_seconds.$': '$.check.wait_seconds',
        },
        Next: 'Is Catalog Ready?',
      },
      'Is Catalog Ready?': {
        Type: 'Choice',
        Choices: [
          { Variable: '$.catalog_ready', BooleanEquals: true, Next: 'UpdateCatalogInDB' },
          { Variable: '$.attempt_count', NumericGreaterThanEquals: p.maxAttempts, Next: 'CatalogPollTimeout' },
        ],
        Default: 'Wait',
      },
      Wait: { Type: 'Wait', SecondsPath: '$.wait_seconds', Next: 'CheckCatalogStatus' },
      UpdateCatalogInDB: {
        Type: 'Task',
        Resource: UPDATE_PLACEHOLDER,
        Parameters: {
          'local_catalog_id.$': '$.local_catalog_id',
          'kb_name.$': '$.kb_name',
          'data_source_name.$': '$.data_source_name',
          'catalog_name.$': '$.catalog_name',
        },
        Retry: [{ ErrorEquals: [...TRANSIENT, 'States.Timeout'], IntervalSeconds: 2, MaxAttempts: 4, BackoffRate: 2 }],
        Catch: catchAll,
        Next: 'Success',
      },
      Success: { Type: 'Succeed' },
      CatalogPollTimeout: {
        Type: 'Fail',
        Error: 'CatalogPollTimeout',
        Cause: `kb_name and data_source_name not ready after ${p.maxAttempts} checks`,
      },
      CatalogPollFailed: { Type: 'Fail', Error: 'CatalogPollFailed', Cause: 'a poller step failed after its retries' },
    },
  };
}

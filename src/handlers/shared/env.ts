/**
 * Settings from the function's environment, and flags the API stage can override per request.
 *
 * Flags (`DRR_INTEGRATION`, any `FEATURE_*`) are read from the event's `stageVariables` first, so
 * `catalogctl release`/`rollback` (which set the stage's variables) toggle them without a deploy;
 * the function's env var is the fallback. A stage variable that is not a boolean is ignored.
 * Limits, timeouts and ARNs come from the environment only.
 */
function int(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  const n = raw === undefined || raw === '' ? fallback : Number(raw);
  return Number.isInteger(n) && n >= min && n <= max ? n : fallback;
}

function parseBool(raw: string | undefined): boolean | undefined {
  if (raw === undefined) return undefined;
  const v = raw.trim().toLowerCase();
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  return undefined;
}

const bool = (name: string, fallback: boolean): boolean => {
  const raw = process.env[name];
  return raw === undefined || raw === '' ? fallback : raw === 'true' || raw === '1';
};

/** What a handler needs of the event to read flags: API Gateway passes the stage's variables. */
export interface StageVariablesSource {
  stageVariables?: Record<string, string | undefined> | null;
}

/** A boolean flag: the stage variable `name` when it is a boolean, else the env var, else `fallback`. */
export function flag(event: StageVariablesSource | undefined, name: string, fallback: boolean): boolean {
  return parseBool(event?.stageVariables?.[name] ?? undefined) ?? bool(name, fallback);
}

/** Share of successful requests that are logged (0–1); errors are always logged. Default 1. */
export function successLogSampleRate(): number {
  const raw = process.env.LOG_SUCCESS_SAMPLE_RATE;
  const n = raw === undefined || raw.trim() === '' ? 1 : Number(raw);
  return Number.isFinite(n) && n >= 0 && n <= 1 ? n : 1;
}

export function settings(event?: StageVariablesSource) {
  return {
    readPageLimit: int('READ_PAGE_LIMIT', 500, 1, 1000),
    cacheTtlSec: int('CACHE_TTL_SEC', 60, 0, 3600),
    drrIntegration: flag(event, 'DRR_INTEGRATION', true),
    auditAsync: bool('AUDIT_ASYNC', true),
    dbMaxConn: int('DB_MAX_CONN', 10, 1, 100),
    evidenceBusArn: process.env.EVIDENCE_BUS_ARN ?? '',
    stateMachineArn: process.env.STATE_MACHINE_ARN ?? '',
    tokenSecretArn: process.env.TOKEN_SECRET_ARN ?? '',
    externalApiBaseUrl: process.env.EXTERNAL_API_BASE_URL ?? '',
  };
}

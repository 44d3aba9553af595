/** Settings from the function's environment, read once per container. */
function int(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  const n = raw === undefined || raw === '' ? fallback : Number(raw);
  return Number.isInteger(n) && n >= min && n <= max ? n : fallback;
}
const bool = (name: string, fallback: boolean): boolean => {
  const raw = process.env[name];
  return raw === undefined || raw === '' ? fallback : raw === 'true' || raw === '1';
};

export function settings() {
  return {
    readPageLimit: int('READ_PAGE_LIMIT', 500, 1, 1000),
    cacheTtlSec: int('CACHE_TTL_SEC', 60, 0, 3600),
    drrIntegration: bool('DRR_INTEGRATION', true),
    auditAsync: bool('AUDIT_ASYNC', true),
    dbMaxConn: int('DB_MAX_CONN', 10, 1, 100),
    evidenceBusArn: process.env.EVIDENCE_BUS_ARN ?? '',
    stateMachineArn: process.env.STATE_MACHINE_ARN ?? '',
    tokenSecretArn: process.env.TOKEN_SECRET_ARN ?? '',
    externalApiBaseUrl: process.env.EXTERNAL_API_BASE_URL ?? '',
  };
}

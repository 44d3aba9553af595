/**
 * CheckCatalogStatus: asks the external API whether the catalog has its kb_name and
 * data_source_name yet. Input and output are the seed's, field for field; with `wait_policy` it
 * also returns `wait_seconds` for the state machine's Wait state (capped exponential backoff).
 */
import { httpGet, type SmallResponse } from '../shared/http-get.ts';
import { getSecret } from '../shared/secrets.ts';

export interface CheckInput {
  catalog_name: string;
  jwt_token?: string;
  local_catalog_id: number;
  attempt_count?: number;
  wait_policy?: { interval_seconds: number; backoff_rate?: number; max_interval_seconds?: number };
}

const PENDING = 'PENDING';
const TIMEOUT_MS = Number(process.env.EXTERNAL_API_TIMEOUT_MS ?? 5000);
const RETRIES = 3;

class ExternalApiError extends Error {
  override name = 'ExternalApiError';
}

async function token(input: CheckInput, fresh: boolean): Promise<string> {
  const arn = process.env.TOKEN_SECRET_ARN;
  if (arn) {
    const raw = await getSecret(arn, { fresh });
    try {
      const parsed = JSON.parse(raw) as { token?: string };
      if (typeof parsed.token === 'string') return parsed.token;
    } catch {
      // a plain-string secret is the token itself
    }
    return raw;
  }
  if (input.jwt_token) return input.jwt_token;
  throw new ExternalApiError('no token: set TOKEN_SECRET_ARN or pass jwt_token');
}

/** An error's message with its cause's (a failed request's cause says why: ECONNREFUSED, ENOTFOUND…). */
function why(err: unknown): string {
  const e = err as { message?: string; cause?: { message?: string; code?: string } } | undefined;
  const cause = e?.cause?.message ?? e?.cause?.code;
  return `${e?.message ?? String(err)}${cause ? ` (${cause})` : ''}`;
}

async function fetchStatus(url: string, bearer: string): Promise<SmallResponse> {
  let lastError: unknown;
  for (let attempt = 0; attempt < RETRIES; attempt++) {
    try {
      const res = await httpGet(url, { headers: { Authorization: `Bearer ${bearer}`, Accept: 'application/json' }, signal: AbortSignal.timeout(TIMEOUT_MS) });
      if (res.status < 500 && res.status !== 429) return res;
      lastError = new ExternalApiError(`answered ${res.status}`);
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
  }
  // The URL (no token in it) and the cause, so a failed poll says what it called and what happened.
  throw new ExternalApiError(`GET ${url}: external API unavailable after ${RETRIES} tries: ${why(lastError)}`);
}

const ready = (v: unknown): v is string => typeof v === 'string' && v !== '' && v !== PENDING;

export function nextWait(policy: NonNullable<CheckInput['wait_policy']>, attempt: number): number {
  const rate = policy.backoff_rate ?? 1;
  const cap = policy.max_interval_seconds ?? policy.interval_seconds;
  return Math.max(1, Math.min(cap, Math.round(policy.interval_seconds * rate ** Math.max(0, attempt - 1))));
}

export async function handler(input: CheckInput) {
  const base = process.env.EXTERNAL_API_BASE_URL;
  if (!base) throw new Error('EXTERNAL_API_BASE_URL is not set');
  const url = `${base.replace(/\/$/, '')}/catalogs/${encodeURIComponent(input.catalog_name)}`;
  let res = await fetchStatus(url, await token(input, false));
  if (res.status === 401 && process.env.TOKEN_SECRET_ARN) {
    // The token may have rotated: read the secret again, once.
    res = await fetchStatus(url, await token(input, true));
  }
  if (!res.ok) throw new ExternalApiError(`GET ${url}: external API answered ${res.status} for ${input.catalog_name}`);
  const data = (await res.json()) as Record<string, unknown>;
  const kb = ready(data.kb_name) ? data.kb_name : PENDING;
  const ds = ready(data.data_source_name) ? data.data_source_name : PENDING;
  const attempt = (input.attempt_count ?? 0) + 1;
  const out = {
    success: true,
    catalog_ready: kb !== PENDING && ds !== PENDING,
    kb_name: kb,
    data_source_name: ds,
    catalog_data: data,
    local_catalog_id: input.local_catalog_id,
    catalog_name: input.catalog_name,
    attempt_count: attempt,
  };
  console.log(JSON.stringify({ level: 'info', catalog_name: input.catalog_name, attempt, ready: out.catalog_ready }));
  return input.wait_policy ? { ...out, wait_policy: input.wait_policy, wait_seconds: nextWait(input.wait_policy, attempt) } : out;
}

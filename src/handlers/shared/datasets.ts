/** The dataset representation shared by describe and writes, so ETags agree between them. */
import { strongEtag } from './http.ts';

export interface DatasetRow {
  id: string;
  tenant_id: string;
  name: string;
  owner: string;
  description: string;
  descriptor: Record<string, unknown>;
  sla_minutes: number | null;
  last_refreshed_at: Date | null;
  version: number;
  created_at: Date;
  updated_at: Date;
}

export const DATASET_COLUMNS = 'id, tenant_id, name, owner, description, descriptor, sla_minutes, last_refreshed_at, version, created_at, updated_at';

export function summary(r: DatasetRow) {
  return { id: r.id, name: r.name, owner: r.owner, description: r.description, version: r.version, updated_at: r.updated_at.toISOString() };
}

export type FreshnessStatus = 'fresh' | 'stale' | 'unknown';

export function freshness(r: DatasetRow, now: Date) {
  if (!r.last_refreshed_at) return { last_refreshed_at: null, age_seconds: null, sla_minutes: r.sla_minutes, status: 'unknown' as FreshnessStatus };
  const age = Math.max(0, Math.floor((now.getTime() - r.last_refreshed_at.getTime()) / 1000));
  const status: FreshnessStatus = r.sla_minutes === null ? 'unknown' : age <= r.sla_minutes * 60 ? 'fresh' : 'stale';
  return { last_refreshed_at: r.last_refreshed_at.toISOString(), age_seconds: age, sla_minutes: r.sla_minutes, status };
}

export function describe(r: DatasetRow, opts: { drr: boolean; now: Date }) {
  return {
    id: r.id,
    name: r.name,
    owner: r.owner,
    description: r.description,
    descriptor: r.descriptor,
    version: r.version,
    created_at: r.created_at.toISOString(),
    updated_at: r.updated_at.toISOString(),
    ...(opts.drr ? { freshness: freshness(r, opts.now) } : {}),
  };
}

/**
 * The dataset's entity tag: its identity and version, plus the freshness status when DRR is on
 * (the one part of the representation that changes without a write). `age_seconds` is left out on
 * purpose: it is advisory and would make every response a new entity.
 */
export function datasetEtag(r: DatasetRow, opts: { drr: boolean; now: Date }): string {
  return strongEtag(`${r.id}:${r.version}:${opts.drr ? freshness(r, opts.now).status : '-'}`);
}

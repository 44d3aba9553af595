/**
 * The dataset's wire representation, shared by list, describe and the writes so bodies and ETags
 * agree between them. PostgreSQL selects exactly the fields a response carries, timestamps already
 * as ISO text in `Date.prototype.toISOString()`'s exact form (UTC, milliseconds truncated as
 * node-postgres's Date did), so a list page goes from the driver to JSON.stringify untouched.
 */
import { strongEtag } from './http.ts';

/** `toISOString()` output, made by PostgreSQL: `2024-05-01T12:00:00.123Z` (years 0001–9999). */
const iso = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/** A list item, in the order the response carries its keys. */
export interface DatasetSummary {
  id: string;
  name: string;
  owner: string;
  description: string;
  version: number;
  updated_at: string;
}

export const SUMMARY_COLUMNS = `id, name, owner, description, version, ${iso('updated_at')} AS updated_at`;

/** What describe and the writes return, plus the two columns freshness is computed from. */
export interface DatasetRow {
  id: string;
  name: string;
  owner: string;
  description: string;
  descriptor: Record<string, unknown>;
  version: number;
  created_at: string;
  updated_at: string;
  sla_minutes: number | null;
  last_refreshed_at: string | null;
}

export const DATASET_COLUMNS = `id, name, owner, description, descriptor, version, ${iso('created_at')} AS created_at, ${iso('updated_at')} AS updated_at, sla_minutes, ${iso('last_refreshed_at')} AS last_refreshed_at`;

export type FreshnessStatus = 'fresh' | 'stale' | 'unknown';

export function freshness(r: DatasetRow, now: Date) {
  if (!r.last_refreshed_at) return { last_refreshed_at: null, age_seconds: null, sla_minutes: r.sla_minutes, status: 'unknown' as FreshnessStatus };
  const age = Math.max(0, Math.floor((now.getTime() - Date.parse(r.last_refreshed_at)) / 1000));
  const status: FreshnessStatus = r.sla_minutes === null ? 'unknown' : age <= r.sla_minutes * 60 ? 'fresh' : 'stale';
  return { last_refreshed_at: r.last_refreshed_at, age_seconds: age, sla_minutes: r.sla_minutes, status };
}

export function describe(r: DatasetRow, opts: { drr: boolean; now: Date }) {
  return {
    id: r.id,
    name: r.name,
    owner: r.owner,
    description: r.description,
    descriptor: r.descriptor,
    version: r.version,
    created_at: r.created_at,
    updated_at: r.updated_at,
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

// Generated at build time by scripts/gen-env-validator.mjs (ajv standalone code).
import type { AwsRegion } from './schema.ts';

interface AjvError {
  instancePath: string;
  schemaPath: string;
  keyword: string;
  params: Record<string, unknown>;
  propertyName?: string;
  message?: string;
}
declare const validate: ((data: unknown) => boolean) & { errors?: AjvError[] | null };
export default validate;
/** Every region of AWS's partition metadata at build time. */
export declare const awsRegions: readonly AwsRegion[];

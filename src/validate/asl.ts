/**
 * asl-validator over state_machine.json and release_state_machine.json. The poller's definition
 * carries CloudFormation placeholders (`${CheckCatalogStatusFunctionArn}`) as Task resources; they
 * are replaced by well-formed Lambda ARNs first so the validator's ARN check still runs on
 * everything else.
 */
import { createRequire } from 'node:module';
import type { Finding } from './report.ts';

interface AslError {
  'Error code': string;
  Message: string;
  schemaError?: { instancePath?: string };
}
type AslValidator = (definition: unknown, opts?: { checkPaths: boolean; checkArn: boolean }) => { isValid: boolean; errors: AslError[] };

const PLACEHOLDER = /\$\{([A-Za-z0-9_]+)\}/g;

/** Replace `${XFunctionArn}` placeholders by a Lambda ARN in the env's region and account. */
export function substitutePlaceholders(definition: unknown, region: string, account: string): unknown {
  return JSON.parse(
    JSON.stringify(definition),
    (_key, value: unknown) =>
      typeof value === 'string'
        ? value.replace(PLACEHOLDER, (whole, name: string) =>
            name.endsWith('FunctionArn') ? `arn:aws:lambda:${region}:${account}:function:${name.slice(0, -'Arn'.length)}` : whole,
          )
        : value,
  );
}

let validator: AslValidator | undefined;
function loadValidator(): AslValidator {
  // asl-validator is CommonJS (module.exports = fn); load it through require so the bundle keeps it external.
  validator ??= createRequire(import.meta.url)('asl-validator') as AslValidator;
  return validator;
}

export function checkAsl(env: string, definition: unknown, target: { region: string; account: string }, stack = 'state_machine'): Finding[] {
  if (definition === null || typeof definition !== 'object') {
    return [{ env, stack, resource: '-', checker: 'asl', rule: 'NOT_AN_OBJECT', severity: 'error', message: `${stack}.json is missing or not a JSON object` }];
  }
  const validate = loadValidator();
  // The validator writes defaults into the object it checks, so it gets its own copy.
  const copy = substitutePlaceholders(definition, target.region, target.account);
  const result = validate(copy, { checkPaths: true, checkArn: true });
  return result.errors.map((e) => ({
    env,
    stack,
    resource: stateOf(e, definition),
    checker: 'asl',
    rule: e['Error code'],
    severity: 'error',
    message: e.Message,
  }));
}

/** The state an error is about: the one named in the message, or the one that points at a missing target. */
function stateOf(e: AslError, definition: unknown): string {
  const path = e.schemaError?.instancePath;
  const fromPath = path?.match(/^\/States\/([^/]+)/)?.[1];
  if (fromPath) return fromPath.replace(/~1/g, '/').replace(/~0/g, '~');
  const missing = e.Message.match(/target: (.+)$/)?.[1];
  if (missing !== undefined) return statesPointingAt(definition, missing).join(',') || 'StartAt';
  const named = e.Message.match(/^State "?(.+?)"? (?:is not reachable|MUST)/)?.[1];
  return named ?? '-';
}

function statesPointingAt(definition: unknown, target: string): string[] {
  const out: string[] = [];
  const visit = (states: unknown): void => {
    if (!states || typeof states !== 'object') return;
    for (const [name, state] of Object.entries(states as Record<string, Record<string, unknown>>)) {
      const choices = Array.isArray(state.Choices) ? (state.Choices as Record<string, unknown>[]) : [];
      const catches = Array.isArray(state.Catch) ? (state.Catch as Record<string, unknown>[]) : [];
      const targets = [state.Next, state.Default, ...choices.map((c) => c.Next), ...catches.map((c) => c.Next)];
      if (targets.includes(target)) out.push(name);
      for (const branch of Array.isArray(state.Branches) ? (state.Branches as Record<string, unknown>[]) : []) visit(branch.States);
      for (const sub of [state.Iterator, state.ItemProcessor]) if (sub && typeof sub === 'object') visit((sub as Record<string, unknown>).States);
    }
  };
  visit((definition as Record<string, unknown> | null)?.States);
  return out;
}

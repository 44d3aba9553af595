/**
 * The metric math stand-in (test/support/metric-math.ts) against the CloudWatch User Guide's own
 * examples ("Metric math syntax and functions"), and the per-version failure expression the release
 * state machine asks CloudWatch for, against judgeGates' rule it replaces.
 */
import { strict as assert } from 'node:assert';
import { breachExpression } from '../../src/deploy/server-shift.ts';
import { judgeGates } from '../../src/deploy/shift.ts';
import { evaluate, type Series } from '../support/metric-math.ts';

/** A series from the guide's notation: a value per time stamp, undefined for "-" (no value). */
const series = (...values: (number | undefined)[]): Series => new Map(values.flatMap((v, t) => (v === undefined ? [] : [[t, v] as [number, number]])));
const values = (s: unknown, n: number): (number | undefined)[] => Array.from({ length: n }, (_, t) => (s as Series).get(t));

describe('metric math stand-in', () => {
  it("gives the guide's results for comparisons and logical operators (a missing value counts as 0)", () => {
    const m = { metric1: series(30, 20, 0, 0), metric2: series(20, undefined, 20, undefined) };
    assert.deepEqual(values(evaluate('(metric1 < metric2)', m), 4), [0, 0, 1, 0]);
    assert.deepEqual(values(evaluate('(metric1 >= 30)', m), 4), [1, 0, 0, 0]);
    assert.deepEqual(values(evaluate('(metric1 > 15 AND metric2 > 15)', m), 4), [1, 0, 0, 0]);
    assert.deepEqual(values(evaluate('metric1 > 15 && metric2 > 15', m), 4), [1, 0, 0, 0]);
  });

  it("gives the guide's results for IF: a missing true branch reads 0, a missing false branch drops the point", () => {
    const m = { metric1: series(1, 1, 0, 0, undefined), metric2: series(30, undefined, 0, 0, 30), metric3: series(0, 0, 20, undefined, 20) };
    assert.deepEqual(values(evaluate('IF(metric1, metric2, metric3)', m), 5), [30, 0, 20, undefined, undefined]);
    assert.deepEqual(values(evaluate('IF(metric1, 5, metric3)', m), 5), [5, 5, 20, undefined, undefined]);
    assert.deepEqual(values(evaluate('IF(metric1, metric2, 5)', m), 5), [30, 0, 5, 5, undefined]);
  });

  it('drops a division by zero, takes MAX across series per time stamp, and refuses what it does not know', () => {
    assert.deepEqual(values(evaluate('100 * e / n', { e: series(1, 2), n: series(4, 0) }), 2), [25, undefined]);
    assert.deepEqual(values(evaluate('MAX([a, b])', { a: series(0, 1, undefined), b: series(1, 0, undefined) }), 3), [1, 1, undefined]);
    assert.throws(() => evaluate('RATE(a)', { a: series(1) }), /no query with Id RATE|unsupported/);
    assert.throws(() => evaluate('a +', { a: series(1) }), /expected|the end/);
  });

  it("the release's per-version expression breaches exactly when judgeGates' rule does", () => {
    const plan = (limit: number) => ({ alarmNames: ['a'], errorRatePercent: limit });
    for (const limit of [0.5, 1, 5, 50, 99, 100])
      for (const failures of [undefined, 0, 1, 3, 10, 200])
        for (const invocations of [undefined, 0, 1, 50, 100, 1000]) {
          const got = values(evaluate(breachExpression('f', 'n', limit), { f: series(failures), n: series(invocations) }), 1)[0] ?? 0;
          const readings = { alarms: { states: { a: 'OK' as const }, missing: [] }, versions: [{ functionName: 'fn', version: '2', failuresLabel: 'errors', failures: failures ?? 0, invocations: invocations ?? 0 }] };
          const want = judgeGates(plan(limit), readings, new Map(), 0, 'at 10%').kind === 'fail' ? 1 : 0;
          assert.equal(got, want, `limit ${limit}, failures ${failures}, invocations ${invocations}`);
        }
  });
});

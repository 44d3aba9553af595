import { strict as assert } from 'node:assert';
import { descriptorProblems, failingChecks, percentile, type VerifyReport } from '../../src/verify/index.ts';
import { formatJson, formatTable } from '../../src/verify/print.ts';

const report: VerifyReport = {
  ok: false,
  target: 'http://127.0.0.1:8080',
  mode: 'local',
  startedAt: '2026-01-01T00:00:00.000Z',
  durationMs: 1234,
  checks: [
    { name: 'health', status: 'pass', figure: 'p99 3.1 ms, 50/50 × 200', threshold: '200, p99 < 100 ms', value: 3.1 },
    { name: 'synthetic', status: 'pass', figure: 'describe 2.0 ms, audit emitted', threshold: 'descriptor valid, audit event emitted' },
    { name: 'db-smoke', status: 'fail', figure: 'query failed', threshold: 'p95 < 100 ms', detail: 'SELECT COUNT(*) FROM catalog_dataset: connect ECONNREFUSED' },
    { name: 'auth-failures', status: 'skipped', figure: 'not run', threshold: '≤ 1 %', detail: 'no source' },
  ],
};

describe('verify: report and printers', () => {
  it('takes nearest-rank percentiles', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    assert.equal(percentile(xs, 99), 99);
    assert.equal(percentile(xs, 50), 50);
    assert.equal(percentile([7], 99), 7);
    assert.ok(Number.isNaN(percentile([], 99)));
  });

  it('prints an aligned table with the figure, threshold and result of each check, then why', () => {
    assert.equal(
      formatTable(report),
      [
        'check          figure                          threshold                              result',
        '-------------  ------------------------------  -------------------------------------  -------',
        'health         p99 3.1 ms, 50/50 × 200         200, p99 < 100 ms                      pass',
        'synthetic      describe 2.0 ms, audit emitted  descriptor valid, audit event emitted  pass',
        'db-smoke       query failed                    p95 < 100 ms                           fail',
        'auth-failures  not run                         ≤ 1 %                                  skipped',
        'db-smoke: SELECT COUNT(*) FROM catalog_dataset: connect ECONNREFUSED',
        'auth-failures: no source',
        'verify http://127.0.0.1:8080 (local): failed db-smoke',
        '',
      ].join('\n'),
    );
    assert.deepEqual(failingChecks(report), ['db-smoke']);
    assert.deepEqual(JSON.parse(formatJson(report)), report);
  });

  it('checks a descriptor: its own id, a name and an ETag', () => {
    const h = (etag?: string) => new Headers(etag ? { etag } : {});
    assert.deepEqual(descriptorProblems({ headers: h('"1"'), body: '{"id":"a","name":"A"}' }, 'a'), []);
    assert.deepEqual(descriptorProblems({ headers: h(), body: '{"id":"b"}' }, 'a'), ['id is "b", expected "a"', 'name missing', 'no ETag header']);
    assert.deepEqual(descriptorProblems({ headers: h('"1"'), body: 'oops' }, 'a'), ['body is not JSON']);
  });
});

// Loads a function the way the Lambda Node.js runtime loads a CommonJS `index.handler`: require()
// of $LAMBDA_TASK_ROOT/index.js in a process whose NODE_PATH the runtime set, then one invocation
// at a time (a warm container). Events arrive as JSON lines on stdin; each result goes to fd 3 as a
// JSON line, so the function's own stdout/stderr stay its logs.
'use strict';
const { writeSync } = require('node:fs');
const { join } = require('node:path');
const { createInterface } = require('node:readline');

const started = process.hrtime.bigint();
const out = (o) => writeSync(3, `${JSON.stringify(o)}\n`);
let handler;
try {
  handler = require(join(process.env.LAMBDA_TASK_ROOT, 'index.js')).handler;
  if (typeof handler !== 'function') throw new TypeError('index.handler is not a function');
} catch (err) {
  out({ init: false, error: { name: err.name, code: err.code, message: err.message } });
  process.exit(1);
}
out({ init: true, ms: Number(process.hrtime.bigint() - started) / 1e6 });

let chain = Promise.resolve();
createInterface({ input: process.stdin })
  .on('line', (line) => {
    chain = chain.then(async () => {
      const t0 = process.hrtime.bigint();
      try {
        const result = await handler(JSON.parse(line), { awsRequestId: `local-${Date.now()}`, functionName: process.env.AWS_LAMBDA_FUNCTION_NAME });
        out({ ok: true, result, ms: Number(process.hrtime.bigint() - t0) / 1e6 });
      } catch (err) {
        out({ ok: false, error: { name: err && err.name, code: err && err.code, message: err && err.message }, ms: Number(process.hrtime.bigint() - t0) / 1e6 });
      }
    });
  })
  .on('close', () => chain.then(() => process.exit(0)));

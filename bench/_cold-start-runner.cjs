// One cold start as Lambda does it: require $LAMBDA_TASK_ROOT/index.js (NODE_PATH set by the
// caller as the runtime sets it), run the first request (BENCH_EVENT), exit. With BENCH_REQUIRE_ONLY
// it stops after the require.
'use strict';
const { join } = require('node:path');
const { handler } = require(join(process.env.LAMBDA_TASK_ROOT, 'index.js'));
if (process.env.BENCH_REQUIRE_ONLY) process.exit(0);
handler(JSON.parse(process.env.BENCH_EVENT || '{}'), {}).then(
  (r) => {
    if (r && typeof r.statusCode === 'number' && r.statusCode >= 500) {
      console.error(JSON.stringify(r));
      process.exit(2);
    }
    process.exit(0);
  },
  (err) => {
    console.error(err && err.message);
    process.exit(3);
  },
);

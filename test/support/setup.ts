/**
 * Mocha root setup. aws-local-stepfunctions 3.0.0 declares Node >= 22 but runs on Node 20 once
 * Promise.withResolvers exists (checked by hand; see ../shared/notes/aws-emulator.md).
 */
import '../../src/local/polyfill.ts';
import { stopSharedMoto } from './moto.ts';
import { stopSharedPostgres } from './pg.ts';

// As the CLI does (src/cli/main.ts): the pinned SDK supports Node 20; its notice about later releases is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export const mochaHooks = {
  async afterAll(this: Mocha.Context) {
    this.timeout(30_000);
    await stopSharedMoto();
    await stopSharedPostgres();
  },
};

/**
 * Mocha root setup. aws-local-stepfunctions 3.0.0 declares Node >= 22 but runs on Node 20 once
 * Promise.withResolvers exists (checked by hand; see ../shared/notes/aws-emulator.md).
 */
import { stopSharedMoto } from './moto.ts';
import { stopSharedPostgres } from './pg.ts';

type WithResolvers = <T>() => { promise: Promise<T>; resolve: (v: T | PromiseLike<T>) => void; reject: (e?: unknown) => void };
const P = Promise as unknown as { withResolvers?: WithResolvers };
if (typeof P.withResolvers !== 'function') {
  P.withResolvers = <T>() => {
    let resolve!: (v: T | PromiseLike<T>) => void;
    let reject!: (e?: unknown) => void;
    const promise = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

export const mochaHooks = {
  async afterAll(this: Mocha.Context) {
    this.timeout(30_000);
    await stopSharedMoto();
    await stopSharedPostgres();
  },
};

import { freeLoopbackPort } from '../../src/local/postgres.ts';

/** A free TCP port on 127.0.0.1, chosen by the kernel. */
export const freePort = freeLoopbackPort;

export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/**
 * The local AWS emulator (moto in server mode) on a loopback port, started once per mocha process
 * and reset between tests. Tests point the real AWS SDK at `endpoint`.
 * Missing moto is a failure with instructions, never a skip.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { freePort, waitFor } from './ports.ts';

export interface Moto {
  endpoint: string;
  region: string;
  /** Clears every service's state. */
  reset(): Promise<void>;
}

export const MOTO_ACCOUNT_ID = '123456789012';
export const TEST_CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };

/**
 * One emulator per process. Mocha loads this file twice — the root hooks of setup.ts through
 * require, the tests through import — and the two copies share nothing but globalThis, so the state
 * lives there: the root hook must stop the emulator the tests started. A process that exits without
 * the hook (an interrupted run) still kills it.
 */
interface MotoState {
  shared?: { moto: Moto; proc: ChildProcess };
  starting?: Promise<Moto>;
  exitHook?: boolean;
}
const state = ((globalThis as { __catalogctlTestMoto?: MotoState }).__catalogctlTestMoto ??= {});
if (!state.exitHook) {
  state.exitHook = true;
  process.on('exit', () => state.shared?.proc.kill('SIGKILL'));
}

function motoBinary(): string {
  const local = resolve('.venv/bin/moto_server');
  if (existsSync(local)) return local;
  throw new Error('moto_server not found in .venv: run `bash scripts/setup-python.sh` (installs requirements-dev.txt into .venv)');
}

/** The shared emulator, started on first use. */
export function getMoto(): Promise<Moto> {
  if (state.shared) return Promise.resolve(state.shared.moto);
  state.starting ??= start();
  return state.starting;
}

async function start(): Promise<Moto> {
  const port = await freePort();
  const proc = spawn(motoBinary(), ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, MOTO_PORT: String(port) },
  });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const endpoint = `http://127.0.0.1:${port}`;
  try {
    await waitFor(async () => (await fetch(`${endpoint}/moto-api/`)).ok, 30_000, `moto_server on ${endpoint}`);
  } catch (err) {
    proc.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\n${stderr}`);
  }
  const moto: Moto = {
    endpoint,
    region: 'us-east-1',
    async reset() {
      const res = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
      if (!res.ok) throw new Error(`moto reset failed: ${res.status}`);
    },
  };
  state.shared = { moto, proc };
  return moto;
}

export async function stopSharedMoto(): Promise<void> {
  if (!state.shared) return;
  const { proc } = state.shared;
  state.shared = undefined;
  state.starting = undefined;
  await new Promise<void>((res) => {
    proc.once('exit', () => res());
    proc.kill('SIGTERM');
    setTimeout(() => {
      proc.kill('SIGKILL');
      res();
    }, 3000).unref();
  });
}

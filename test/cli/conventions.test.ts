/**
 * The CLI's conventions through the built bin, as a user meets them: output into pipes closed
 * early, one line and the right exit code for each kind of mistake, the account guard on
 * `package --upload`, and colour and the live progress line on a real pseudo-terminal (util-linux
 * `script`) under --no-color, NO_COLOR, FORCE_COLOR and TERM=dumb.
 */
/* eslint-disable no-control-regex -- these tests read terminal escape sequences */
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/main.ts';
import { CLI, runCli, type CliResult } from '../support/cli.ts';
import { getMoto, TEST_CREDENTIALS } from '../support/moto.ts';

/** The one-line rule: a single line on stderr, no stack trace, no Node error dump. */
function assertOneLine(r: CliResult, pattern: RegExp): void {
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, `expected one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0]!, /^catalogctl: /);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at |EPIPE|internal error/);
}

/** The CLI with the reading end of its stdout (or stderr) closed before it writes a byte. */
function runIntoClosedPipe(args: string[], which: 'stdout' | 'stderr' = 'stdout'): Promise<{ code: number | null; other: string }> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    child[which].destroy();
    let other = '';
    child[which === 'stdout' ? 'stderr' : 'stdout'].on('data', (d: Buffer) => (other += d.toString()));
    child.on('error', rej);
    child.on('close', (code) => res({ code, other }));
  });
}

/** A shell pipeline whose reader stops early; the CLI's own exit code and stderr. */
function pipeline(args: string[], reader: string): { code: number; stdout: string; stderr: string } {
  const cmd = `"${process.execPath}" "${CLI}" ${args.map((a) => `'${a}'`).join(' ')} | ${reader}; exit \${PIPESTATUS[0]}`;
  const r = spawnSync('bash', ['-c', cmd], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, maxBuffer: 64 * 1024 * 1024 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe('CLI conventions (built CLI)', function () {
  this.timeout(120_000);
  let dir: string;
  let savedVenv: string | undefined;
  let staleOut: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'catalogctl-conventions-'));
    // validate's output conventions, not its checkers (test/validate runs the real ones): stand-ins
    // for cfn-lint (one error on a file it is given) and checkov (clean) make a run with a finding
    // take a second instead of ten.
    const venv = join(dir, 'stand-in-venv');
    mkdirSync(join(venv, 'bin'), { recursive: true });
    writeFileSync(
      join(venv, 'bin', 'cfn-lint'),
      `#!/bin/sh\nfor f in "$@"; do last="$f"; done\nprintf '[{"Filename":"%s","Level":"Error","Message":"stand-in finding","Rule":{"Id":"E9999"},"Location":{"Path":["Resources","X"]}}]' "$last"\nexit 2\n`,
      { mode: 0o755 },
    );
    writeFileSync(join(venv, 'bin', 'checkov'), `#!/bin/sh\necho '{"check_type":"cloudformation","results":{"failed_checks":[]},"summary":{"checkov_version":"stand-in"}}'\n`, { mode: 0o755 });
    savedVenv = process.env.CATALOGCTL_VENV;
    process.env.CATALOGCTL_VENV = venv;
    // Rendered, then one stack emptied per env: render --check prints ~300 KB of diff, more
    // than a pipe holds, so a reader that stops early makes the CLI's writes fail.
    staleOut = join(dir, 'stale-out');
    assert.equal((await runCli(['render', '--all', '--out', staleOut])).code, 0);
    for (const env of ['dev', 'staging', 'prod']) writeFileSync(join(staleOut, env, 'catalog-service.json'), '{}\n');
  });

  after(() => {
    if (savedVenv === undefined) delete process.env.CATALOGCTL_VENV;
    else process.env.CATALOGCTL_VENV = savedVenv;
    rmSync(dir, { recursive: true, force: true });
  });

  describe('pipes closed early (EPIPE)', () => {
    const cases: [string, () => string[]][] = [
      ['catalogctl --help', () => ['--help']],
      ['render --help', () => ['render', '--help']],
      ['render --all --check (stale)', () => ['render', '--all', '--check', '--out', staleOut]],
      ['validate --json (a finding)', () => ['validate', '--json', '--env', 'dev']],
      ['completion bash', () => ['completion', 'bash']],
      ['local token', () => ['local', 'token', '--tenant', 'acme', '--role', 'reader', '--state-dir', join(dir, 'state')]],
    ];
    for (const [name, args] of cases) {
      it(`${name}: ends quietly with the exit code it has unpiped`, async () => {
        const unpiped = await runCli(args());
        const piped = await runIntoClosedPipe(args());
        assert.equal(piped.code, unpiped.code, piped.other);
        assert.doesNotMatch(piped.other, /EPIPE|\n\s+at |internal error/);
      });
    }

    it('render --all --check | head -1: the first line of the diff, exit 4, the one-line summary', () => {
      const r = pipeline(['render', '--all', '--check', '--out', staleOut], 'head -1');
      assert.equal(r.code, 4, r.stderr);
      assert.equal(r.stdout.split('\n').length, 2);
      assert.ok(Number(spawnSync('bash', ['-c', `"${process.execPath}" "${CLI}" render --all --check --out '${staleOut}' | wc -c`], { encoding: 'utf8' }).stdout) > 256 * 1024, 'the diff is larger than a pipe buffer');
      assertOneLine({ code: r.code, stdout: r.stdout, stderr: r.stderr }, /3 rendered file\(s\) .* are stale/);
    });

    it('render --help | head -1 and validate --json | head -c 10: nothing on stderr', () => {
      const help = pipeline(['render', '--help'], 'head -1');
      assert.deepEqual([help.code, help.stdout, help.stderr], [0, 'Usage: catalogctl render [options]\n', '']);
      const json = pipeline(['validate', '--json', '--env', 'dev'], 'head -c 10');
      assert.equal(json.code, 4);
      assert.equal(json.stdout, '{\n  "ok": ');
      assert.doesNotMatch(json.stderr, /EPIPE|\n\s+at /);
    });

    it('a closed stderr changes neither the result nor the exit code', async () => {
      const out = join(dir, 'rendered-with-closed-stderr');
      assert.equal((await runIntoClosedPipe(['render', '--env', 'dev', '--out', out], 'stderr')).code, 0);
      assert.ok(existsSync(join(out, 'dev', 'catalog-network.json')));
      assert.equal((await runIntoClosedPipe(['render', '--env', 'nosuch'], 'stderr')).code, 2);
    });
  });

  describe('one line and one exit code per kind of mistake', () => {
    /** Every command that takes --endpoint-url, from the tree, with the flags it needs to get that far. */
    function endpointCommands(): string[][] {
      const out: string[][] = [];
      const walk = (cmd: Command, path: string[]) => {
        if (cmd.options.some((o) => o.long === '--endpoint-url')) out.push([...path, '--env', 'dev', ...(path[0] === 'package' ? ['--upload'] : [])]);
        for (const sub of cmd.commands) walk(sub, [...path, sub.name()]);
      };
      walk(buildProgram(), []);
      return out;
    }

    it('--endpoint-url without a scheme: exit 2 naming the flag, on every command that takes it', async () => {
      const commands = endpointCommands();
      assert.ok(commands.length >= 3, JSON.stringify(commands));
      for (const args of commands) {
        const r = await runCli([...args, '--endpoint-url', 'localhost:4566']);
        assert.equal(r.code, 2, `${args[0]}: ${r.stderr}`);
        assertOneLine(r, /--endpoint-url: "localhost:4566" is not an http:\/\/ or https:\/\/ URL; did you mean http:\/\/localhost:4566\?/);
      }
      for (const bad of ['http://', 'https://user:secret@s3.example.com', 'http://127.0.0.1:0', 'http://127.0.0.1:99999', 'http://127.0.0.1:5000/?x=1']) {
        const r = await runCli(['status', '--env', 'dev', '--endpoint-url', bad]);
        assert.equal(r.code, 2, `${bad}: ${r.stderr}`);
        assertOneLine(r, /--endpoint-url: /);
        assert.doesNotMatch(r.stderr, /secret/);
      }
    });

    it('AWS_ENDPOINT_URL and --region are checked the same way', async () => {
      const env = await runCli(['status', '--env', 'dev'], { env: { AWS_ENDPOINT_URL: 'localhost:4566' } });
      assert.equal(env.code, 2);
      assertOneLine(env, /AWS_ENDPOINT_URL: "localhost:4566" is not an http/);
      const region = await runCli(['verify', '--env', 'dev', '--region', 'Frankfurt']);
      assert.equal(region.code, 2);
      assertOneLine(region, /--region: "Frankfurt" is not an AWS region name/);
    });

    it('local token --role with a role the handlers do not know: exit 2 listing the known ones', async () => {
      const r = await runCli(['local', 'token', '--tenant', 'acme', '--role', 'reeder', '--state-dir', join(dir, 'state')]);
      assert.equal(r.code, 2);
      assertOneLine(r, /--role: "reeder" is not a role the handlers know: reader, owner, platform/);
    });

    it('a second catalogctl local on a busy port: exit 2 naming the port and what to do, nothing started', async () => {
      const busy: Server = createServer();
      const port = await new Promise<number>((r) => busy.listen(0, '127.0.0.1', () => r((busy.address() as AddressInfo).port)));
      try {
        const r = await runCli(['local', '--port', String(port), '--state-dir', join(dir, 'state')], { env: { DATABASE_URL: '' } });
        assert.equal(r.code, 2, r.stderr);
        assertOneLine(r, new RegExp(`--port ${port}: 127\\.0\\.0\\.1:${port} is in use .*pick another port with --port`));
        assert.doesNotMatch(r.stderr, /PostgreSQL/);
      } finally {
        busy.close();
      }
    });

    it('a database URL that does not connect: exit 2 naming the flag, for db migrate and local', async () => {
      const free = createServer();
      const port = await new Promise<number>((r) => free.listen(0, '127.0.0.1', () => r((free.address() as AddressInfo).port)));
      await new Promise((r) => free.close(r));
      const url = `postgres://catalog@127.0.0.1:${port}/catalog`;
      const migrate = await runCli(['db', 'migrate', '--database-url', url]);
      assert.equal(migrate.code, 2);
      assertOneLine(migrate, /--database-url: cannot connect: .*ECONNREFUSED/);
      const local = await runCli(['local', '--port', '0', '--database-url', url, '--state-dir', join(dir, 'state')]);
      assert.equal(local.code, 2);
      assert.match(local.stderr, /^catalogctl: --database-url: cannot connect: .*ECONNREFUSED/m);
      assert.doesNotMatch(local.stderr, /\n\s+at /);
    });

    it('flags that do nothing without another are refused, not ignored', async () => {
      const r = await runCli(['package', '--env', 'dev', '--profile', 'prod', '--out', join(dir, 'never')]);
      assert.equal(r.code, 2);
      assertOneLine(r, /--profile: only used with --upload/);
      assert.equal(existsSync(join(dir, 'never')), false);
    });

    it('a path that cannot be written is exit 2 naming it, whichever command writes', async () => {
      const file = join(dir, 'a-file');
      writeFileSync(file, '');
      const render = await runCli(['render', '--all', '--out', join(file, 'out')]);
      assert.equal(render.code, 2);
      assertOneLine(render, new RegExp(`${file}.*: .*not a directory`));
      const token = await runCli(['local', 'token', '--tenant', 'acme', '--role', 'reader', '--state-dir', join(file, 'state')]);
      assert.equal(token.code, 2);
      assertOneLine(token, /: not a directory \(mkdir\)/);
      const pkg = await runCli(['package', '--env', 'dev', '--out', join(file, 'pkg')]);
      assert.equal(pkg.code, 2);
      assert.match(pkg.stderr.trim().split('\n').pop()!, /^catalogctl: --out .*: cannot write .* \(ENOTDIR\)$/);
    });

    it('Ctrl-C during verify is exit 130, not a failed check', async () => {
      const silent: Server = createServer(() => undefined);
      const port = await new Promise<number>((r) => silent.listen(0, '127.0.0.1', () => r((silent.address() as AddressInfo).port)));
      try {
        const child = spawn(process.execPath, [CLI, 'verify', '--url', `http://127.0.0.1:${port}`, '--token', 'x', '--requests', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
        await new Promise((r) => setTimeout(r, 1_500));
        child.kill('SIGINT');
        assert.equal(await exited, 130, stderr);
        assert.match(stderr, /^catalogctl: verify: interrupted$/m);
      } finally {
        silent.close();
      }
    });

    it("commander's own errors are one line too", async () => {
      assertOneLine(await runCli(['render', '--bogus']), /unknown option '--bogus'/);
      assertOneLine(await runCli(['package']), /required option '-e, --env <name>' not specified/);
    });

    it('package --upload runs the account guard first: exit 2, nothing packaged or uploaded', async () => {
      const moto = await getMoto();
      await moto.reset();
      const s3 = new S3Client({ endpoint: moto.endpoint, region: moto.region, credentials: TEST_CREDENTIALS, forcePathStyle: true });
      const bucket = (/bucket: (\S+)/.exec(readFileSync('envs/dev.yaml', 'utf8')) ?? [])[1]!;
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));
      const out = join(dir, 'wrong-account');
      const r = await runCli(['package', '--env', 'dev', '--out', out, '--upload', '--endpoint-url', moto.endpoint], { env: { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' } });
      assert.equal(r.code, 2, r.stderr);
      assertOneLine(r, /account mismatch: env dev is account 111111111111 but the credentials are for 123456789012/);
      assert.equal(existsSync(out), false, 'nothing packaged before the guard');
      assert.equal((await s3.send(new ListObjectsV2Command({ Bucket: bucket }))).KeyCount ?? 0, 0);
    });
  });

  describe('colour and the live progress line on a terminal', () => {
    before(() => {
      if (spawnSync('script', ['--version']).status !== 0) throw new Error('`script` (util-linux) is needed to run the CLI on a pseudo-terminal: apt-get install util-linux');
    });

    /** Runs the built CLI on a pseudo-terminal; returns everything the terminal received. */
    function onTerminal(args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null; screen: string } {
      const base: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm-256color' };
      for (const k of ['NO_COLOR', 'FORCE_COLOR']) delete base[k];
      const command = `"${process.execPath}" "${CLI}" ${args.map((a) => `'${a}'`).join(' ')}`;
      const r = spawnSync('script', ['-qefc', command, '/dev/null'], { encoding: 'utf8', env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      return { code: r.status, screen: r.stdout };
    }

    /** Each drawing of a live line is followed by a carriage return (erase or redraw), never by other text. */
    function assertLiveLinesErased(screen: string, live: RegExp): void {
      const draws = [...screen.matchAll(new RegExp(live.source, 'g'))];
      assert.ok(draws.length > 0, `no live line drawn in ${JSON.stringify(screen.slice(0, 300))}`);
      for (const m of draws) assert.equal(screen[m.index + m[0].length], '\r', `live line "${m[0]}" runs into ${JSON.stringify(screen.slice(m.index + m[0].length, m.index + m[0].length + 40))}`);
    }

    it('by default: colour and a live line, erased before whatever is written next', () => {
      const r = onTerminal(['package', '--env', 'dev', '--out', join(dir, 'pkg')]);
      assert.equal(r.code, 0, r.screen);
      assert.match(r.screen, /\x1b\[32m✔ 9 artifacts/);
      assertLiveLinesErased(r.screen, /\x1b\[2m… bundling [\w -]+(\s+\d+s)?\x1b\[0m/);
      // verify's table goes to stdout through another path than the reporter.
      const v = onTerminal(['verify', '--url', 'http://127.0.0.1:9', '--requests', '1', '--token', 'x']);
      assert.equal(v.code, 3, v.screen);
      assertLiveLinesErased(v.screen, /\x1b\[2m… (health probe|synthetic describe|database smoke query|auth failures)[^\x1b]*\x1b\[0m/);
      assert.match(v.screen, /\r\x1b\[Kcheck\s+figure/);
    });

    for (const [name, args, env] of [
      ['--no-color', ['--no-color'], {}],
      ['NO_COLOR=1', [], { NO_COLOR: '1' }],
      ['FORCE_COLOR=0', [], { FORCE_COLOR: '0' }],
    ] as const) {
      it(`${name}: no escape sequence at all, and the live line still erased`, () => {
        const r = onTerminal([...args, 'package', '--env', 'dev', '--out', join(dir, 'pkg')], env);
        assert.equal(r.code, 0, r.screen);
        assert.doesNotMatch(r.screen, /\x1b/);
        assertLiveLinesErased(r.screen, /… bundling [\w -]+?(\s+\d+s)?(?= *\r)/);
      });
    }

    it('TERM=dumb: no escape sequences and no redraws, one line per event', () => {
      const r = onTerminal(['package', '--env', 'dev', '--out', join(dir, 'pkg')], { TERM: 'dumb' });
      assert.equal(r.code, 0, r.screen);
      assert.doesNotMatch(r.screen, /\x1b/);
      assert.doesNotMatch(r.screen, /\r(?!\n)/);
      assert.match(r.screen, /^… bundling list-datasets\r\n/m);
    });

    it('FORCE_COLOR=1 colours into a pipe: the reporter, and chalk in the printers', async () => {
      const render = await runCli(['render', '--env', 'dev', '--out', join(dir, 'forced')], { env: { NO_COLOR: '', FORCE_COLOR: '1' } });
      assert.match(render.stderr, /\x1b\[32m✔ dev: /);
      const validate = await runCli(['validate', '--env', 'dev'], { env: { NO_COLOR: '', FORCE_COLOR: '1' } });
      assert.equal(validate.code, 4);
      assert.match(validate.stdout, /\x1b\[31m1 finding\x1b\[39m/);
      const plain = await runCli(['validate', '--env', 'dev'], { env: { NO_COLOR: '' } });
      assert.doesNotMatch(plain.stdout + plain.stderr, /\x1b/);
    });
  });
});

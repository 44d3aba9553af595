import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { loadEnv } from '../../src/config/load.ts';
import { FUNCTION_NAMES, type EnvConfig } from '../../src/config/types.ts';
import { createS3Api } from '../../src/aws/s3.ts';
import { allArtifacts, packageArtifacts, uploadArtifacts, type ArtifactManifest } from '../../src/package/index.ts';
import { RecordingReporter } from '../../src/reporter.ts';
import { UserInputError } from '../../src/errors.ts';
import { runCli } from '../support/cli.ts';
import { getMoto, MOTO_ACCOUNT_ID, TEST_CREDENTIALS } from '../support/moto.ts';

const ROOT = resolve('.');

/** A copy of the sources in another directory, sharing node_modules. */
async function repoCopy(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'catalogctl-pkg-copy-'));
  await cp(join(ROOT, 'src'), join(dir, 'src'), { recursive: true });
  await cp(join(ROOT, 'package.json'), join(dir, 'package.json'));
  await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

describe('package', function () {
  this.timeout(120_000);
  let config: EnvConfig;
  let out: string;
  let manifest: ArtifactManifest;
  const cleanup: string[] = [];

  before(async () => {
    config = await loadEnv('dev');
    out = await mkdtemp(join(tmpdir(), 'catalogctl-pkg-'));
    cleanup.push(out);
    manifest = await packageArtifacts({ config, rootDir: ROOT, outDir: out, reporter: new RecordingReporter() });
  });
  after(async () => {
    for (const d of cleanup) await rm(d, { recursive: true, force: true });
  });

  it('names every artifact by the sha256 of its bytes and writes the manifest', async () => {
    assert.deepEqual(Object.keys(manifest.functions).sort(), [...FUNCTION_NAMES].sort());
    for (const [name, a] of allArtifacts(manifest)) {
      const bytes = await readFile(a.zipPath);
      const { createHash } = await import('node:crypto');
      assert.equal(createHash('sha256').update(bytes).digest('hex'), a.sha256, name);
      assert.equal(Buffer.from(a.sha256, 'hex').toString('base64'), a.codeSha256);
      assert.equal(a.size, bytes.length);
      assert.equal(a.bucket, config.artifacts.bucket);
      assert.match(a.key, new RegExp(`^${config.artifacts.prefix}/(${name}|layers/pg)/${a.sha256}\\.zip$`));
    }
    const onDisk = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as ArtifactManifest;
    assert.deepEqual(onDisk, JSON.parse(JSON.stringify(manifest)));
  });

  it('gives identical bytes from a copy of the repo in another directory and another time zone', async () => {
    const copy = await repoCopy();
    cleanup.push(copy);
    const out2 = join(copy, '.build');
    const script = `import { packageArtifacts } from '${join(copy, 'src/package/index.ts')}'; import { loadEnv } from '${join(copy, 'src/config/load.ts')}';
      const m = await packageArtifacts({ config: await loadEnv('dev', { envDir: '${join(ROOT, 'envs')}' }), rootDir: '${copy}', outDir: '${out2}', reporter: { report() {} } });
      console.log(JSON.stringify(Object.fromEntries(Object.entries(m.functions).map(([k, v]) => [k, v.key]).concat([['pg', m.layers.pg.key]]))));`;
    await writeFile(join(copy, 'run.mts'), script);
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(copy, 'run.mts')], { cwd: copy, env: { ...process.env, TZ: 'Pacific/Kiritimati' }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const keys = JSON.parse(r.stdout) as Record<string, string>;
    for (const fn of FUNCTION_NAMES) {
      assert.equal(keys[fn], manifest.functions[fn].key, fn);
      assert.ok((await readFile(join(out2, `${fn}.zip`))).equals(await readFile(manifest.functions[fn].zipPath)), fn);
    }
    assert.equal(keys.pg, manifest.layers.pg.key);
  });

  it('changes only the edited handler\'s key', async () => {
    const copy = await repoCopy();
    cleanup.push(copy);
    await appendFile(join(copy, 'src/handlers/authorizer/index.ts'), '\nexport const build = "changed";\n');
    const m2 = await packageArtifacts({ config, rootDir: copy, outDir: join(copy, '.build'), reporter: new RecordingReporter() });
    for (const fn of FUNCTION_NAMES) {
      if (fn === 'authorizer') assert.notEqual(m2.functions[fn].key, manifest.functions[fn].key);
      else assert.equal(m2.functions[fn].key, manifest.functions[fn].key, fn);
    }
  });

  it('reports a handler that does not compile as bad input naming file:line:col', async () => {
    const copy = await repoCopy();
    cleanup.push(copy);
    await appendFile(join(copy, 'src/handlers/migrate/index.ts'), '\nexport const broken = (;\n');
    await assert.rejects(
      packageArtifacts({ config, rootDir: copy, outDir: join(copy, '.build'), reporter: new RecordingReporter() }),
      (err: unknown) => err instanceof UserInputError && /^src\/handlers\/migrate\/index\.ts:\d+:\d+ /.test(err.message),
    );
    await assert.rejects(packageArtifacts({ config, rootDir: tmpdir(), outDir: join(copy, '.build'), reporter: new RecordingReporter() }), UserInputError);
  });

  it('has no absolute paths in any bundle, and each loads in a fresh Node and exports handler()', async () => {
    const ex = await mkdtemp(join(tmpdir(), 'catalogctl-pkg-ex-'));
    cleanup.push(ex);
    execFileSync('unzip', ['-q', manifest.layers.pg.zipPath, '-d', join(ex, 'layer')]);
    for (const fn of FUNCTION_NAMES) {
      const dir = join(ex, fn);
      await mkdir(dir);
      execFileSync('unzip', ['-q', manifest.functions[fn].zipPath, '-d', dir]);
      const code = await readFile(join(dir, 'index.js'), 'utf8');
      assert.ok(!code.includes(ROOT), `${fn} bundle mentions ${ROOT}`);
      const r = spawnSync(process.execPath, ['-e', `const m = require(${JSON.stringify(join(dir, 'index.js'))}); if (typeof m.handler !== 'function') process.exit(3); require('pg');`], {
        env: { PATH: process.env.PATH, NODE_PATH: join(ex, 'layer/nodejs/node_modules') },
        encoding: 'utf8',
      });
      assert.equal(r.status, 0, `${fn}: ${r.stderr}`);
    }
    const list = execFileSync('unzip', ['-Z', '-T', manifest.functions['get-dataset'].zipPath], { encoding: 'utf8' });
    assert.match(list, /-rw-r--r--.* 19800101\.000000 index\.js/);
  });

  describe('upload (AWS emulator)', () => {
    before(() => {
      process.env.AWS_ACCESS_KEY_ID = TEST_CREDENTIALS.accessKeyId;
      process.env.AWS_SECRET_ACCESS_KEY = TEST_CREDENTIALS.secretAccessKey;
    });
    it('uploads everything once, then nothing, through the CLI', async () => {
      const moto = await getMoto();
      await moto.reset();
      const s3 = new S3Client({ endpoint: moto.endpoint, region: moto.region, credentials: TEST_CREDENTIALS, forcePathStyle: true });
      await s3.send(new CreateBucketCommand({ Bucket: config.artifacts.bucket }));
      const env = { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' };
      const outDir = join(out, 'cli');
      // --upload checks the account first: dev.yaml with the emulator's account (the bucket name kept).
      const envDir = join(out, 'envs');
      await mkdir(envDir);
      await cp('envs/_base.yaml', join(envDir, '_base.yaml'));
      const yaml = await readFile('envs/dev.yaml', 'utf8');
      await writeFile(join(envDir, 'dev.yaml'), yaml.replace(`id: "${config.account.id}"`, `id: "${MOTO_ACCOUNT_ID}"`));
      const first = await runCli(['package', '--env', 'dev', '--env-dir', envDir, '--out', outDir, '--upload', '--endpoint-url', moto.endpoint], { env });
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stderr, /uploaded 9 artifact\(s\), \d+ bytes; 0 already there/);
      const second = await runCli(['package', '--env', 'dev', '--env-dir', envDir, '--out', outDir, '--upload', '--endpoint-url', moto.endpoint], { env });
      assert.equal(second.code, 0, second.stderr);
      assert.match(second.stderr, /nothing to upload: all 9 artifacts already in s3:\/\//);
      const api = await createS3Api({ region: moto.region, endpoint: moto.endpoint });
      const keys = await api.listKeys(config.artifacts.bucket, config.artifacts.prefix);
      assert.deepEqual(keys.sort(), allArtifacts(manifest).map(([, a]) => a.key).sort());
    });

    it('sends the zip\'s sha256 as ChecksumSHA256, so S3 itself refuses a corrupted body', async () => {
      // moto 5 stores a body whose checksum does not match, so the header is checked on the wire:
      // the real SDK against a loopback server that records each PUT.
      const { createServer } = await import('node:http');
      const seen: { key: string; checksum: string | undefined; bytes: number }[] = [];
      const server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          if (req.method === 'PUT') seen.push({ key: decodeURIComponent((req.url ?? '').split('?')[0]!), checksum: req.headers['x-amz-checksum-sha256'] as string | undefined, bytes: Buffer.concat(chunks).length });
          res.statusCode = 200;
          res.end();
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      try {
        const { port } = server.address() as { port: number };
        const api = await createS3Api({ region: 'us-east-1', endpoint: `http://127.0.0.1:${port}` });
        const a = manifest.functions['get-dataset'];
        await api.putObject(a.bucket, a.key, await readFile(a.zipPath), { sha256Base64: a.codeSha256 });
        assert.equal(seen.length, 1);
        assert.equal(seen[0]!.key, `/${a.bucket}/${a.key}`);
        assert.equal(seen[0]!.checksum, a.codeSha256);
        assert.equal(seen[0]!.bytes, a.size);
      } finally {
        server.close();
      }
    });

    it('never leaves a key whose bytes do not match its hash', async () => {
      const moto = await getMoto();
      await moto.reset();
      const api = await createS3Api({ region: moto.region, endpoint: moto.endpoint });
      const s3 = new S3Client({ endpoint: moto.endpoint, region: moto.region, credentials: TEST_CREDENTIALS, forcePathStyle: true });
      await s3.send(new CreateBucketCommand({ Bucket: config.artifacts.bucket }));
      // Real S3 rejects a body whose ChecksumSHA256 does not match; moto stores it anyway. So the
      // fault is injected on the wire (the body is truncated after the checksum was computed) and
      // the read-back check must catch it and remove the key.
      const lossy = { ...api, putObject: (b: string, k: string, body: Uint8Array | string, o?: { sha256Base64?: string }) => api.putObject(b, k, (body as Uint8Array).subarray(0, 100), o) };
      await assert.rejects(uploadArtifacts(lossy, manifest, new RecordingReporter(), (p) => readFile(p)), /stored bytes with sha256 .*; removed it/);
      const first = allArtifacts(manifest)[0]![1];
      assert.equal((await api.headObject(first.bucket, first.key)).exists, false);
      // A zip edited after packaging is refused before any upload.
      const a = manifest.functions['get-dataset'];
      const tampered: ArtifactManifest = JSON.parse(JSON.stringify(manifest));
      const path = join(out, 'tampered.zip');
      await writeFile(path, (await readFile(a.zipPath)).subarray(0, 100));
      tampered.functions['get-dataset'].zipPath = path;
      await assert.rejects(uploadArtifacts(api, tampered, new RecordingReporter(), (p) => readFile(p)), /changed since it was packaged/);
      assert.equal((await api.headObject(a.bucket, a.key)).exists, false);
    });
  });
});

/**
 * package: bundle each handler, zip it deterministically, name it by the sha256 of its bytes, and
 * write the artifact manifest deploy reads to fill the code Parameters. Upload is separate and
 * idempotent: a key that exists is never uploaded again (its name is its content).
 */
import { createHash } from 'node:crypto';
import { join, relative } from 'node:path';
import { FUNCTION_NAMES, type EnvConfig, type FunctionName } from '../config/types.ts';
import type { Reporter } from '../reporter.ts';
import type { S3Api } from '../aws/s3.ts';
import { atomicWrite } from '../util/atomic-write.ts';
import { canonicalJson } from '../util/canonical-json.ts';
import { bundleHandler, bundlePgLayer } from './bundle.ts';
import { deterministicZip } from './zip.ts';

export interface Artifact {
  /** Path of the zip, relative to the working directory. */
  zipPath: string;
  bucket: string;
  key: string;
  /** Hex sha256 of the zip bytes (in the key). */
  sha256: string;
  /** Base64 sha256, as Lambda reports CodeSha256. */
  codeSha256: string;
  size: number;
}

export interface ArtifactManifest {
  env: string;
  runtime: string;
  functions: Record<FunctionName, Artifact>;
  layers: { pg: Artifact };
}

export interface PackageOptions {
  config: EnvConfig;
  /** Repository root: where src/handlers and node_modules are. */
  rootDir: string;
  outDir: string;
  reporter: Reporter;
  /** Only these functions (default: all). */
  functions?: readonly FunctionName[];
}

function artifactFor(config: EnvConfig, outDir: string, name: string, keyDir: string, zip: Buffer): Artifact {
  const digest = createHash('sha256').update(zip).digest();
  const sha256 = digest.toString('hex');
  return {
    zipPath: relative(process.cwd(), join(outDir, `${name}.zip`)) || `${name}.zip`,
    bucket: config.artifacts.bucket,
    key: `${config.artifacts.prefix}/${keyDir}/${sha256}.zip`,
    sha256,
    codeSha256: digest.toString('base64'),
    size: zip.length,
  };
}

export async function packageArtifacts(opts: PackageOptions): Promise<ArtifactManifest> {
  const { config, rootDir, outDir, reporter } = opts;
  const runtime = config.lambda.runtime;
  const names = opts.functions ?? FUNCTION_NAMES;
  const zips = new Map<string, Buffer>();
  const functions = {} as Record<FunctionName, Artifact>;

  // Bundle everything in memory first; only then write, so a failure leaves no half set.
  for (const fn of names) {
    reporter.report({ level: 'progress', topic: 'package', message: `bundling ${fn}` });
    const code = await bundleHandler(rootDir, fn, runtime, config.account.region);
    const zip = await deterministicZip([{ name: 'index.js', data: code }]);
    zips.set(fn, zip);
    functions[fn] = artifactFor(config, outDir, fn, fn, zip);
    reporter.report({ level: 'info', topic: 'package', message: `${fn}: ${(zip.length / 1024).toFixed(1)} KiB ${functions[fn].sha256.slice(0, 12)}`, data: { fn, size: zip.length } });
  }
  reporter.report({ level: 'progress', topic: 'package', message: 'bundling the pg layer' });
  const pgCode = await bundlePgLayer(rootDir, runtime);
  const layerZip = await deterministicZip([
    { name: 'nodejs/node_modules/pg/index.js', data: pgCode },
    { name: 'nodejs/node_modules/pg/package.json', data: '{"name":"pg","main":"index.js"}\n' },
  ]);
  zips.set('layer-pg', layerZip);
  const manifest: ArtifactManifest = { env: config.name, runtime, functions, layers: { pg: artifactFor(config, outDir, 'layer-pg', 'layers/pg', layerZip) } };

  for (const [name, zip] of zips) await atomicWrite(join(outDir, `${name}.zip`), zip);
  await atomicWrite(join(outDir, 'manifest.json'), canonicalJson(manifest));
  reporter.report({ level: 'ok', topic: 'package', message: `${zips.size} artifacts and manifest.json in ${outDir}` });
  return manifest;
}

export function allArtifacts(m: ArtifactManifest): [string, Artifact][] {
  return [...Object.entries(m.functions), ['layer-pg', m.layers.pg]];
}

export interface UploadResult {
  uploaded: string[];
  skipped: string[];
  bytes: number;
}

export async function uploadArtifacts(s3: S3Api, manifest: ArtifactManifest, reporter: Reporter, readZip: (path: string) => Promise<Uint8Array>): Promise<UploadResult> {
  const result: UploadResult = { uploaded: [], skipped: [], bytes: 0 };
  for (const [name, a] of allArtifacts(manifest)) {
    const head = await s3.headObject(a.bucket, a.key);
    if (head.exists) {
      result.skipped.push(name);
      continue;
    }
    const body = await readZip(a.zipPath);
    const actual = createHash('sha256').update(body).digest('hex');
    if (actual !== a.sha256) throw new Error(`${a.zipPath} changed since it was packaged (sha256 ${actual} ≠ ${a.sha256}); package again`);
    reporter.report({ level: 'progress', topic: 'upload', message: `uploading ${name} (${body.length} bytes) → s3://${a.bucket}/${a.key}` });
    await s3.putObject(a.bucket, a.key, body, { sha256Base64: a.codeSha256, contentType: 'application/zip' });
    // S3 verifies ChecksumSHA256 itself; reading back also covers stores that do not (emulators,
    // proxies): a key whose bytes differ from its name is removed, never left behind.
    const stored = await s3.getObject(a.bucket, a.key);
    const storedSha = stored ? createHash('sha256').update(stored).digest('hex') : 'nothing';
    if (storedSha !== a.sha256) {
      await s3.deleteObject(a.bucket, a.key);
      throw new Error(`s3://${a.bucket}/${a.key} stored bytes with sha256 ${storedSha}; removed it`);
    }
    result.uploaded.push(name);
    result.bytes += body.length;
  }
  reporter.report({
    level: 'ok',
    topic: 'upload',
    message: result.uploaded.length ? `uploaded ${result.uploaded.length} artifact(s), ${result.bytes} bytes; ${result.skipped.length} already there` : `nothing to upload: all ${result.skipped.length} artifacts already in s3://${manifest.functions[FUNCTION_NAMES[0]]?.bucket ?? ''}`,
    data: { ...result },
  });
  return result;
}

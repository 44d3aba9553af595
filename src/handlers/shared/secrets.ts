/**
 * Secrets Manager reads, cached per container. `fresh: true` bypasses the cache (after a rotation
 * made the cached value wrong).
 *
 * One GetSecretValue request signed with aws4 over node:http(s), not the SDK client: the first read
 * costs ≈12 ms over bare Node, against ≈48 ms with the SDK client bundled and ≈63 ms with the
 * runtime's (docs/package.md, "The AWS SDK"). Credentials and region are the function's own, as
 * Lambda sets them (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION);
 * AWS_ENDPOINT_URL_SECRETS_MANAGER or AWS_ENDPOINT_URL point it elsewhere (the local emulator).
 */
import aws4 from 'aws4';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

const cache = new Map<string, string>();
// Kept-alive connections: a re-read after a rotation does not pay a second TLS handshake.
const agents = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };
const TIMEOUT_MS = 5000;
const ATTEMPTS = 3;

export class SecretsError extends Error {
  override name = 'SecretsError';
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

function region(): string {
  const r = process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION;
  if (!r) throw new SecretsError('AWS_REGION is not set', false);
  return r;
}

function credentials() {
  const accessKeyId = process.env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = process.env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) throw new SecretsError('no AWS credentials in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)', false);
  return { accessKeyId, secretAccessKey, sessionToken: process.env.AWS_SESSION_TOKEN || undefined };
}

function endpoint(r: string): URL {
  const custom = process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER || process.env.AWS_ENDPOINT_URL;
  return new URL(custom || `https://secretsmanager.${r}.amazonaws.com`);
}

function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
  });
}

/** One call of the Secrets Manager JSON API (awsJson1_1). */
async function call(target: string, input: Record<string, unknown>): Promise<Record<string, unknown>> {
  const r = region();
  const url = endpoint(r);
  const https = url.protocol === 'https:';
  const body = JSON.stringify(input);
  const signed = aws4.sign(
    {
      service: 'secretsmanager',
      region: r,
      method: 'POST',
      host: url.hostname,
      ...(url.port ? { port: Number(url.port) } : {}),
      path: '/',
      headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': `secretsmanager.${target}` },
      body,
    },
    credentials(),
  );
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = (https ? httpsRequest : httpRequest)({ ...signed, protocol: url.protocol, agent: https ? agents.https : agents.http, timeout: TIMEOUT_MS } as never, resolve);
    req.on('timeout', () => req.destroy(new SecretsError(`Secrets Manager ${target}: no answer in ${TIMEOUT_MS} ms`, true)));
    req.on('error', (err) => reject(err instanceof SecretsError ? err : new SecretsError(`Secrets Manager ${target}: ${err.message}`, true)));
    req.end(body);
  });
  const text = await readBody(res);
  const status = res.statusCode ?? 0;
  let data: Record<string, unknown> = {};
  try {
    data = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    // an HTML error page from a proxy: reported by status below
  }
  if (status >= 200 && status < 300) return data;
  // The error names the API's error type and message only; they never carry a secret's value.
  const type = String(data.__type ?? '').split('#').pop() || `HTTP ${status}`;
  const retryable = status >= 500 || status === 429 || /Throttl/.test(type);
  throw new SecretsError(`Secrets Manager ${target} ${type}: ${String(data.message ?? data.Message ?? text.slice(0, 200))}`, retryable);
}

async function getSecretValue(arn: string): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    try {
      const out = await call('GetSecretValue', { SecretId: arn });
      if (typeof out.SecretString !== 'string') throw new SecretsError(`secret ${arn} has no string value`, false);
      return out.SecretString;
    } catch (err) {
      if (!(err instanceof SecretsError) || !err.retryable || attempt >= ATTEMPTS) throw err;
      await new Promise((r) => setTimeout(r, 50 * 2 ** attempt));
    }
  }
}

export async function getSecret(arn: string, opts: { fresh?: boolean } = {}): Promise<string> {
  if (!opts.fresh) {
    const hit = cache.get(arn);
    if (hit !== undefined) return hit;
  }
  const value = await getSecretValue(arn);
  cache.set(arn, value);
  return value;
}

export function clearSecretCache(): void {
  cache.clear();
}

/**
 * One call of an AWS JSON-protocol API (Secrets Manager, EventBridge, Step Functions), signed with aws4 and sent
 * over node:http(s), instead of an SDK client: a function's first call costs ≈12 ms of CPU over bare
 * Node against ≈48 ms with the SDK client bundled and ≈50 ms with the runtime's
 * (`npm run bench`, bench/cold-start.ts; docs/package.md). Credentials and region are the function's
 * own, as Lambda sets them (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION);
 * AWS_ENDPOINT_URL_<SERVICE> or AWS_ENDPOINT_URL point it elsewhere (the local emulator), as the SDK
 * reads them. Retries throttling, 5xx and network errors (3 attempts, backoff from 100 ms).
 */
import aws4 from 'aws4';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

// Kept-alive connections: a second call (a re-read after a rotation) skips the TLS handshake.
const agents = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };
const TIMEOUT_MS = 5000;
const ATTEMPTS = 3;

export interface AwsJsonService {
  /** Signing name and endpoint prefix: `secretsmanager`, `events`. */
  name: string;
  /** The SDK's AWS_ENDPOINT_URL_<ID> suffix: `SECRETS_MANAGER`, `EVENTBRIDGE`. */
  endpointEnv: string;
  /** X-Amz-Target prefix: `secretsmanager`, `AWSEvents`. */
  targetPrefix: string;
  /** The awsJson protocol version the service speaks. */
  jsonVersion: '1.0' | '1.1';
}

export class AwsCallError extends Error {
  override name = 'AwsCallError';
  constructor(
    message: string,
    readonly code: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

function region(): string {
  const r = process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION;
  if (!r) throw new AwsCallError('AWS_REGION is not set', 'Config', false);
  return r;
}

function credentials() {
  const accessKeyId = process.env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = process.env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) throw new AwsCallError('no AWS credentials in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)', 'Config', false);
  return { accessKeyId, secretAccessKey, sessionToken: process.env.AWS_SESSION_TOKEN || undefined };
}

function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
  });
}

async function once(service: AwsJsonService, action: string, input: unknown): Promise<Record<string, unknown>> {
  const r = region();
  const custom = process.env[`AWS_ENDPOINT_URL_${service.endpointEnv}`] || process.env.AWS_ENDPOINT_URL;
  const url = new URL(custom || `https://${service.name}.${r}.amazonaws.com`);
  const https = url.protocol === 'https:';
  const body = JSON.stringify(input);
  const signed = aws4.sign(
    {
      service: service.name,
      region: r,
      method: 'POST',
      host: url.hostname,
      ...(url.port ? { port: Number(url.port) } : {}),
      path: '/',
      headers: { 'Content-Type': `application/x-amz-json-${service.jsonVersion}`, 'X-Amz-Target': `${service.targetPrefix}.${action}` },
      body,
    },
    credentials(),
  );
  const what = `${service.name} ${action}`;
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = (https ? httpsRequest : httpRequest)({ ...signed, protocol: url.protocol, agent: https ? agents.https : agents.http, timeout: TIMEOUT_MS } as never, resolve);
    req.on('timeout', () => req.destroy(new AwsCallError(`${what}: no answer in ${TIMEOUT_MS} ms`, 'Timeout', true)));
    req.on('error', (err) => reject(err instanceof AwsCallError ? err : new AwsCallError(`${what}: ${err.message}`, 'Network', true)));
    req.end(body);
  });
  const text = await readBody(res);
  const status = res.statusCode ?? 0;
  let data: Record<string, unknown> = {};
  try {
    data = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    // an HTML error page from a proxy: reported by its status below
  }
  if (status >= 200 && status < 300) return data;
  // Only the API's error type and message: they never carry a secret's value.
  const code = String(data.__type ?? '').split('#').pop() || `HTTP${status}`;
  const retryable = status >= 500 || status === 429 || /Throttl/.test(code);
  throw new AwsCallError(`${what} ${code}: ${String(data.message ?? data.Message ?? text.slice(0, 200))}`, code, retryable);
}

export async function awsJson(service: AwsJsonService, action: string, input: unknown): Promise<Record<string, unknown>> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await once(service, action, input);
    } catch (err) {
      if (!(err instanceof AwsCallError) || !err.retryable || attempt >= ATTEMPTS) throw err;
      await new Promise((r) => setTimeout(r, 50 * 2 ** attempt));
    }
  }
}

export const SECRETS_MANAGER: AwsJsonService = { name: 'secretsmanager', endpointEnv: 'SECRETS_MANAGER', targetPrefix: 'secretsmanager', jsonVersion: '1.1' };
export const EVENTBRIDGE: AwsJsonService = { name: 'events', endpointEnv: 'EVENTBRIDGE', targetPrefix: 'AWSEvents', jsonVersion: '1.1' };
export const STEP_FUNCTIONS: AwsJsonService = { name: 'states', endpointEnv: 'SFN', targetPrefix: 'AWSStepFunctions', jsonVersion: '1.0' };

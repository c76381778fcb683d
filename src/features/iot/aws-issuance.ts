/**
 * Certificates the AWS face issues (CreateCertificateFromCsr, CreateKeysAndCertificate): signed
 * by the scope's issuing CA through the one issuance engine, with the built-in "device" profile,
 * recorded as issued certificates and registered in the IoT registry.
 */
import { generateKeyPairSync } from 'node:crypto';
import { ZtError } from '../../errors.ts';
import { createCsr, parseCsr } from '../../pki/csr.ts';
import { exportPrivateKeyPem } from '../../pki/keys.ts';
import { certificatePem, loadCertificate } from '../../pki/certificate.ts';
import type { IssuanceEngine, TenantRef } from '../issuance/engine.ts';
import type { IotRegistry } from './registry.ts';
import type { IotCertificate } from './types.ts';

/** AWS's limit on a CSR given to CreateCertificateFromCsr. */
const MAX_CSR_CHARS = 4096;

/** Issues certificates for the AWS face and registers them. */
export class AwsIssuance {
  private readonly engine: IssuanceEngine;
  private readonly registry: IotRegistry;

  constructor(engine: IssuanceEngine, registry: IotRegistry) {
    this.engine = engine;
    this.registry = registry;
  }

  private async register(
    tenant: TenantRef,
    pem: string,
    active: boolean,
    by: string,
  ): Promise<IotCertificate> {
    const cert = loadCertificate(pem);
    const record = await this.registry.newCertificate(tenant.id, cert, {
      status: active ? 'ACTIVE' : 'INACTIVE',
      mode: 'DEFAULT',
      by,
    });
    return (await this.registry.insertCertificate(tenant.id, record, cert)).certificate;
  }

  /** Signs a CSR (PEM) with the scope's issuing CA and registers the certificate. */
  async fromCsr(tenant: TenantRef, csrPem: string, active: boolean, by: string): Promise<IotCertificate> {
    if (csrPem.length > MAX_CSR_CHARS)
      throw new ZtError(
        'BAD_REQUEST',
        `the CSR is ${csrPem.length} characters; AWS accepts at most ${MAX_CSR_CHARS}`,
      );
    const issued = await this.engine.issue({
      tenant,
      profile: 'device',
      csr: parseCsr(csrPem),
      requester: by,
      method: 'api',
    });
    return this.register(tenant, certificatePem(issued.certificate), active, by);
  }

  /** Makes an RSA-2048 key pair (as AWS does), issues a certificate for it and registers it. */
  async keysAndCertificate(
    tenant: TenantRef,
    active: boolean,
    by: string,
  ): Promise<{ certificate: IotCertificate; publicKey: string; privateKey: string }> {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    // The CSR only carries the names; the key is the one made here.
    const csr = parseCsr(createCsr(privateKey, { CN: 'AWS IoT Certificate' }));
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    const issued = await this.engine.issueForKey(
      { tenant, profile: 'device', csr, requester: by, method: 'api' },
      spki,
    );
    return {
      certificate: await this.register(tenant, certificatePem(issued.certificate), active, by),
      publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      privateKey: exportPrivateKeyPem(privateKey),
    };
  }
}

/**
 * Registering a scope's CA for JITP and JITR (AWS RegisterCACertificate / UpdateCACertificate)
 * on the CA record DPS and EST already use: proof of possession with the scope's registration
 * code, DEFAULT or SNI_ONLY mode, status, auto-registration, and a registration config whose
 * template is checked before it is saved.
 */
import { ZtError } from '../../errors.ts';
import { loadCertificates, nameHash } from '../../pki/certificate.ts';
import { validateChain } from '../../pki/chain.ts';
import { OID } from '../../pki/oids.ts';
import type { CaService } from '../cas/service.ts';
import type { CaCertificate } from '../cas/types.ts';
import { parseTemplate } from '../templates/template.ts';
import type { CheckedTemplate } from '../templates/template.ts';
import type { ProvisioningTemplates } from './provisioning-templates.ts';
import type { IotRegistry } from './registry.ts';
import type { CaRegistration, CaRegistrationInput, CaRegistrationUpdate, IotCertificate } from './types.ts';

type RegistrationConfig = NonNullable<CaRegistration['registrationConfig']>;

/** Registers CAs for JITP/JITR and reads their templates. */
export class CaRegistrations {
  private readonly cas: CaService;
  private readonly registry: IotRegistry;
  private readonly templates: ProvisioningTemplates;
  /** Checked templates by body: a template is parsed once, not per device. */
  private readonly checked = new Map<string, CheckedTemplate>();

  constructor(cas: CaService, registry: IotRegistry, templates: ProvisioningTemplates) {
    this.cas = cas;
    this.registry = registry;
    this.templates = templates;
  }

  /** Checks a registration config: a template body that parses as JITP, or a JITP template's name. */
  private async checkConfig(tenantId: string, c: RegistrationConfig): Promise<RegistrationConfig> {
    if (c.templateBody !== undefined && c.templateName !== undefined)
      throw new ZtError('BAD_REQUEST', 'give templateBody or templateName in registrationConfig, not both');
    if (c.templateBody !== undefined) parseTemplate(c.templateBody, 'JITP');
    if (c.templateName !== undefined) {
      const t = await this.templates.get(tenantId, c.templateName);
      if (t.type !== 'JITP')
        throw new ZtError(
          'BAD_REQUEST',
          `the template "${c.templateName}" is of type ${t.type}; a CA's registration config needs a template of type JITP`,
        );
    }
    return c;
  }

  /** Registers the named CA of the scope for JITP/JITR. */
  async register(tenantId: string, caName: string, input: CaRegistrationInput): Promise<CaCertificate> {
    let ca = await this.cas.get(tenantId, caName);
    const mode = input.certificateMode ?? 'DEFAULT';
    if (mode === 'SNI_ONLY') {
      if (input.verificationCertificate)
        throw new ZtError(
          'BAD_REQUEST',
          'a CA registered in SNI_ONLY mode takes no verification certificate; leave it out',
        );
      const settings = await this.registry.settings(tenantId);
      if (!settings.endpoint)
        throw new ZtError(
          'BAD_REQUEST',
          'SNI_ONLY mode needs the scope to have an endpoint host name devices send as SNI; set one first (zerotouch iot settings --endpoint <host>)',
        );
    } else if (input.verificationCertificate) {
      ca = await this.cas.verifyWithRegistrationCode(
        tenantId,
        caName,
        input.verificationCertificate,
        await this.registry.registrationCode(tenantId),
      );
    } else if (!ca.isVerified) {
      throw new ZtError(
        'CA_VERIFICATION_FAILED',
        `the CA "${caName}" is not verified; send a verification certificate whose CN is the scope's registration code (zerotouch iot registration-code), signed by the CA`,
      );
    }
    const config = input.registrationConfig
      ? await this.checkConfig(tenantId, input.registrationConfig)
      : undefined;
    const now = new Date().toISOString();
    const certificateId = ca.sha256Thumbprint.toLowerCase();
    const registration: CaRegistration = {
      certificateId,
      certificateArn: await this.registry.arn(tenantId, `cacert/${certificateId}`),
      status: input.setAsActive === false ? 'INACTIVE' : 'ACTIVE',
      certificateMode: mode,
      autoRegistration: input.allowAutoRegistration ? 'ENABLE' : 'DISABLE',
      ...(config ? { registrationConfig: config } : {}),
      firstConnection: input.firstConnection ?? 'accept',
      ...(input.preProvisioningHook ? { preProvisioningHook: input.preProvisioningHook } : {}),
      registeredAt: ca.awsRegistration?.registeredAt ?? now,
      updatedAt: now,
    };
    this.checkExpiry(ca);
    await this.cas.setRegistration(tenantId, caName, registration);
    return { ...ca, awsRegistration: registration };
  }

  private checkExpiry(ca: CaCertificate): void {
    const cert = loadCertificates(ca.certificate)[0]!;
    if (cert.notAfter.getTime() < Date.now())
      throw new ZtError(
        'CERT_EXPIRED',
        `the CA certificate expired on ${cert.notAfter.toISOString()}; upload a current one`,
      );
  }

  /** The CA record of the scope whose certificate ID (SHA-256 of its DER) is `certificateId`, or NOT_FOUND. */
  async byCertificateId(tenantId: string, certificateId: string): Promise<CaCertificate> {
    const id = certificateId.toLowerCase();
    const ca = (await this.cas.list(tenantId)).find((c) => c.sha256Thumbprint.toLowerCase() === id);
    if (!ca) throw new ZtError('NOT_FOUND', `no CA certificate with ID ${certificateId} in this scope`);
    return ca;
  }

  /**
   * The registered CA of the scope that signed `certificatePem` (by the issuer's name, narrowed
   * by `caCertificatePem` when given): CHAIN_UNKNOWN_ISSUER when none, CONFLICT (rule
   * certificate-conflict) when several could have.
   */
  async signingCa(
    tenantId: string,
    certificatePem: string,
    caCertificatePem?: string,
  ): Promise<CaCertificate> {
    const leaf = loadCertificates(certificatePem)[0]!;
    const issuer = nameHash(leaf.issuer);
    let cas = (await this.registered(tenantId)).filter(
      (c) => nameHash(this.cas.certificateOf(c).subject) === issuer,
    );
    if (caCertificatePem) {
      const id = loadCertificates(caCertificatePem)[0]!.sha256;
      cas = cas.filter((c) => c.sha256Thumbprint === id);
    }
    if (cas.length === 0)
      throw new ZtError(
        'CHAIN_UNKNOWN_ISSUER',
        'the certificate is not signed by a CA certificate registered in this scope; register its CA first',
      );
    if (cas.length > 1)
      throw new ZtError(
        'CONFLICT',
        "more than one registered CA has the subject of this certificate's issuer; pass caCertificatePem",
        { rule: 'certificate-conflict' },
      );
    return cas[0]!;
  }

  /** CA records of the scope registered for JITP/JITR. */
  async registered(tenantId: string): Promise<CaCertificate[]> {
    return (await this.cas.list(tenantId)).filter((c) => c.awsRegistration);
  }

  /**
   * Registers a CA given as PEM (AWS RegisterCACertificate): the scope's CA record with that
   * certificate is used, or one is made (named ca-<first 12 hex of its ID>); CONFLICT when it is
   * registered already.
   */
  async registerPem(tenantId: string, pem: string, input: CaRegistrationInput): Promise<CaCertificate> {
    const cert = loadCertificates(pem)[0]!;
    const id = cert.sha256.toLowerCase();
    let ca = (await this.cas.list(tenantId)).find((c) => c.sha256Thumbprint.toLowerCase() === id);
    if (ca?.awsRegistration)
      throw new ZtError('CONFLICT', `the CA certificate ${id} is already registered in this scope`, {
        resourceId: id,
      });
    ca ??= await this.cas.upload(tenantId, `ca-${id.slice(0, 12)}`, pem);
    return this.register(tenantId, ca.name, input);
  }

  /** Changes status, auto-registration, registration config, first-connection mode or hook. */
  async update(tenantId: string, caName: string, u: CaRegistrationUpdate): Promise<CaCertificate> {
    const ca = await this.cas.get(tenantId, caName);
    const r = ca.awsRegistration;
    if (!r)
      throw new ZtError(
        'NOT_FOUND',
        `the CA "${caName}" is not registered for JITP/JITR; register it first (zerotouch iot ca register)`,
      );
    if (u.newStatus) r.status = u.newStatus;
    if (u.newAutoRegistrationStatus) r.autoRegistration = u.newAutoRegistrationStatus;
    if (u.registrationConfig === null) delete r.registrationConfig;
    else if (u.registrationConfig)
      r.registrationConfig = await this.checkConfig(tenantId, u.registrationConfig);
    if (u.firstConnection) r.firstConnection = u.firstConnection;
    if (u.preProvisioningHook === null) delete r.preProvisioningHook;
    else if (u.preProvisioningHook) r.preProvisioningHook = u.preProvisioningHook;
    r.updatedAt = new Date().toISOString();
    await this.cas.setRegistration(tenantId, caName, r);
    return ca;
  }

  /** Ends the CA's JITP/JITR registration; the CA record stays for DPS and EST. */
  async deregister(tenantId: string, caName: string): Promise<void> {
    const ca = await this.cas.get(tenantId, caName);
    if (!ca.awsRegistration)
      throw new ZtError('NOT_FOUND', `the CA "${caName}" is not registered for JITP/JITR`);
    await this.cas.setRegistration(tenantId, caName, undefined);
  }

  /**
   * Registers a device certificate by an operator (AWS RegisterCertificate and
   * RegisterCertificateWithoutCA): with `caName`, the CA must be registered here and must have
   * signed it; without, it is registered in SNI_ONLY mode. Status defaults to INACTIVE, as in AWS.
   */
  async registerCertificate(
    tenantId: string,
    o: { certificatePem: string; caName?: string; status?: 'ACTIVE' | 'INACTIVE'; by: string },
  ): Promise<IotCertificate> {
    const certs = loadCertificates(o.certificatePem);
    const leaf = certs[0]!;
    if (leaf.basicConstraints?.ca)
      throw new ZtError(
        'BAD_REQUEST',
        'this is a CA certificate; register CAs with zerotouch iot ca register',
      );
    let caCertificateId: string | undefined;
    let mode: 'DEFAULT' | 'SNI_ONLY' = 'SNI_ONLY';
    if (o.caName) {
      const ca = await this.cas.get(tenantId, o.caName);
      if (!ca.awsRegistration)
        throw new ZtError(
          'BAD_REQUEST',
          `the CA "${o.caName}" is not registered for JITP/JITR; register it first (zerotouch iot ca register)`,
        );
      validateChain(leaf, certs.slice(1), [this.cas.certificateOf(ca)], { requiredEku: OID.clientAuth });
      caCertificateId = ca.awsRegistration.certificateId;
      mode = ca.awsRegistration.certificateMode;
    } else {
      const now = Date.now();
      if (leaf.notAfter.getTime() < now)
        throw new ZtError(
          'CERT_EXPIRED',
          `the certificate expired on ${leaf.notAfter.toISOString()}; register a current one`,
        );
    }
    const record = await this.registry.newCertificate(tenantId, leaf, {
      status: o.status ?? 'INACTIVE',
      mode,
      ...(o.caName ? { caName: o.caName } : {}),
      ...(caCertificateId ? { caCertificateId } : {}),
      by: o.by,
    });
    const { certificate, created } = await this.registry.insertCertificate(tenantId, record, leaf);
    if (!created)
      throw new ZtError(
        'CONFLICT',
        `the certificate ${certificate.certificateId} is already registered in this scope`,
      );
    return certificate;
  }

  /** The checked JITP template of a registration, if it has one; TEMPLATE_INVALID or NOT_FOUND when it cannot be used. */
  async templateOf(
    tenantId: string,
    r: CaRegistration,
  ): Promise<{ template: CheckedTemplate; name?: string } | undefined> {
    const c = r.registrationConfig;
    let body = c?.templateBody;
    if (c?.templateName) {
      const t = await this.templates.get(tenantId, c.templateName);
      if (!t.enabled)
        throw new ZtError(
          'NOT_CONFIGURED',
          `the provisioning template "${t.templateName}" is disabled; enable it`,
        );
      body = t.templateBody;
    }
    if (body === undefined) return undefined;
    let template = this.checked.get(body);
    if (!template) {
      if (this.checked.size > 1000) this.checked.clear();
      template = parseTemplate(body, 'JITP');
      this.checked.set(body, template);
    }
    return { template, ...(c?.templateName ? { name: c.templateName } : {}) };
  }
}

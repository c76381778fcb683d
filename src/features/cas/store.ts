/** Persistence contract for CA certificates; implemented over Kysely for both dialects. */
import { prepared } from '../../store/prepared.ts';
import type { Kysely } from 'kysely';
import { ZtError } from '../../errors.ts';
import { type Certificate, loadCertificates } from '../../pki/certificate.ts';
import { formatName } from '../../pki/names.ts';
import { isUniqueViolation } from '../../store/errors.ts';
import type { CaCertificatesTable, Database } from '../../store/schema.ts';
import { idKey } from '../id-key.ts';
import { nameHash } from '../../pki/certificate.ts';
import type { CaRegistration } from '../iot/types.ts';
import type { CaCertificate } from './types.ts';

export interface CaStore {
  /** Inserts a CA; CONFLICT when the name or certificate is already there. */
  insertCa(tenantId: string, ca: CaCertificate): Promise<void>;
  updateCa(tenantId: string, ca: CaCertificate): Promise<void>;
  findCa(tenantId: string, name: string): Promise<CaCertificate | undefined>;
  listCas(tenantId: string): Promise<CaCertificate[]>;
  deleteCa(tenantId: string, name: string): Promise<boolean>;
  /**
   * Sets or clears the CA's JITP/JITR registration; CONFLICT when DEFAULT mode is asked for a
   * CA another scope already registered in DEFAULT mode.
   */
  setRegistration(tenantId: string, name: string, registration: CaRegistration | undefined): Promise<void>;
  /** Registered CAs, across scopes, whose subject hashes to `subjectKey` (leaf-only chains). */
  registeredBySubject(subjectKey: string): Promise<Array<{ tenantId: string; ca: CaCertificate }>>;
  /** Every scope's CA certificates (PEM), for expiry gauges. */
  allCertificates(limit: number): Promise<Array<{ tenantId: string; name: string; certificate: string }>>;
}

/** Columns a CaCertificate is read from. */
const CA_COLUMNS = [
  'name',
  'certificate',
  'verified',
  'verification_code',
  'code_expires_at',
  'aws_doc',
  'etag',
  'created_at',
  'updated_at',
] as const;

type CaRow = Pick<CaCertificatesTable, (typeof CA_COLUMNS)[number]>;

/** The certificate facts shown for a CA. */
export function certificateDetails(c: Certificate) {
  return {
    subject: formatName(c.subject),
    sha1Thumbprint: c.sha1,
    sha256Thumbprint: c.sha256,
    notBeforeUtc: c.notBefore.toISOString(),
    notAfterUtc: c.notAfter.toISOString(),
  };
}

function caRow(
  ca: CaCertificate,
): Omit<CaCertificatesTable, 'tenant_id' | 'aws_doc' | 'aws_default_key' | 'aws_subject_key'> {
  return {
    name: ca.name,
    name_key: idKey(ca.name),
    sha256: ca.sha256Thumbprint,
    certificate: ca.certificate,
    verified: ca.isVerified ? 1 : 0,
    verification_code: ca.verificationCode ?? null,
    code_expires_at: ca.verificationCodeExpiresUtc ?? null,
    etag: ca.etag,
    created_at: ca.createdDateTimeUtc,
    updated_at: ca.lastUpdatedDateTimeUtc,
  };
}

// Details by PEM: CA rows are read on every device connection; each PEM is parsed once.
const details = new Map<string, ReturnType<typeof certificateDetails>>();
function detailsOf(pem: string): ReturnType<typeof certificateDetails> {
  let d = details.get(pem);
  if (!d) {
    if (details.size > 1000) details.clear();
    d = certificateDetails(loadCertificates(pem)[0]!);
    details.set(pem, d);
  }
  return d;
}

/** Rebuilds the CA view, re-deriving the certificate details from the stored PEM. */
function fromCaRow(r: CaRow): CaCertificate {
  return {
    name: r.name,
    certificate: r.certificate,
    ...detailsOf(r.certificate),
    isVerified: Number(r.verified) === 1,
    verificationCode: r.verification_code ?? undefined,
    verificationCodeExpiresUtc: r.code_expires_at ?? undefined,
    ...(r.aws_doc ? { awsRegistration: JSON.parse(r.aws_doc) as CaRegistration } : {}),
    etag: r.etag,
    createdDateTimeUtc: r.created_at,
    lastUpdatedDateTimeUtc: r.updated_at,
  };
}

/** CaStore over Kysely (SQLite or PostgreSQL). */
export class KyselyCaStore implements CaStore {
  private readonly db: Kysely<Database>;

  private readonly listCasQuery;

  constructor(db: Kysely<Database>) {
    this.db = db;
    // Every device chain is matched against the scope's CAs.
    this.listCasQuery = prepared(db, (tenantId: string) =>
      db
        .selectFrom('ca_certificates')
        .select(CA_COLUMNS)
        .where('tenant_id', '=', tenantId)
        .orderBy('name_key'),
    );
  }

  async insertCa(tenantId: string, ca: CaCertificate): Promise<void> {
    try {
      await this.db
        .insertInto('ca_certificates')
        .values({ tenant_id: tenantId, ...caRow(ca) })
        .execute();
    } catch (e) {
      if (isUniqueViolation(e)) {
        throw new ZtError(
          'CONFLICT',
          `a CA named "${ca.name}" or with thumbprint ${ca.sha256Thumbprint} already exists in this scope; delete it first or use another name`,
        );
      }
      throw e;
    }
  }

  async updateCa(tenantId: string, ca: CaCertificate): Promise<void> {
    await this.db
      .updateTable('ca_certificates')
      .set(caRow(ca))
      .where('tenant_id', '=', tenantId)
      .where('name_key', '=', idKey(ca.name))
      .execute();
  }

  async findCa(tenantId: string, name: string): Promise<CaCertificate | undefined> {
    const r = await this.db
      .selectFrom('ca_certificates')
      .select(CA_COLUMNS)
      .where('tenant_id', '=', tenantId)
      .where('name_key', '=', idKey(name))
      .executeTakeFirst();
    return r ? fromCaRow(r) : undefined;
  }

  async listCas(tenantId: string): Promise<CaCertificate[]> {
    return (await this.listCasQuery(tenantId)).rows.map(fromCaRow);
  }

  async deleteCa(tenantId: string, name: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('ca_certificates')
      .where('tenant_id', '=', tenantId)
      .where('name_key', '=', idKey(name))
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async setRegistration(
    tenantId: string,
    name: string,
    registration: CaRegistration | undefined,
  ): Promise<void> {
    const ca = await this.findCa(tenantId, name);
    if (!ca) throw new ZtError('NOT_FOUND', `no CA named "${name}" in this scope`);
    const cert = loadCertificates(ca.certificate)[0]!;
    try {
      await this.db
        .updateTable('ca_certificates')
        .set({
          aws_doc: registration ? JSON.stringify(registration) : null,
          aws_default_key:
            registration?.certificateMode === 'DEFAULT' ? ca.sha256Thumbprint.toLowerCase() : null,
          aws_subject_key: registration ? nameHash(cert.subject) : null,
        })
        .where('tenant_id', '=', tenantId)
        .where('name_key', '=', idKey(name))
        .execute();
    } catch (e) {
      if (isUniqueViolation(e)) {
        throw new ZtError(
          'CONFLICT',
          `this CA is registered in DEFAULT mode in another scope; a CA can be in DEFAULT mode in one scope only. Register it here with certificateMode SNI_ONLY, or deregister it there`,
        );
      }
      throw e;
    }
  }

  async registeredBySubject(subjectKey: string): Promise<Array<{ tenantId: string; ca: CaCertificate }>> {
    const rows = await this.db
      .selectFrom('ca_certificates')
      .select(['tenant_id', ...CA_COLUMNS])
      .where('aws_subject_key', '=', subjectKey)
      .orderBy('tenant_id')
      .orderBy('name_key')
      .limit(50)
      .execute();
    return rows.map((r) => ({ tenantId: r.tenant_id, ca: fromCaRow(r) }));
  }

  async allCertificates(
    limit: number,
  ): Promise<Array<{ tenantId: string; name: string; certificate: string }>> {
    const rows = await this.db
      .selectFrom('ca_certificates')
      .select(['tenant_id', 'name', 'certificate'])
      .limit(limit)
      .execute();
    return rows.map((r) => ({ tenantId: r.tenant_id, name: r.name, certificate: r.certificate }));
  }
}

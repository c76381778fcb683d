/**
 * Enrollment matching, exactly as DPS orders it: the individual enrollment of the leaf's
 * registration ID first, then enrollment groups from the first intermediate up to the verified
 * CA; the first match wins and a disabled match rejects. Registration and diagnose both call
 * this; every rejection carries a precise reason and what to do.
 */
import { operatorText, ZtError } from '../../errors.ts';
import { type Certificate, describeCertificate } from '../../pki/certificate.ts';
import { validateChain } from '../../pki/chain.ts';
import { OID } from '../../pki/oids.ts';
import type { CaService } from '../cas/service.ts';
import type { CaCertificate } from '../cas/types.ts';
import { idKey } from '../id-key.ts';
import { assertRegistrationId } from './registration-id.ts';
import type { EnrollmentStore } from './store.ts';
import type { EnrollmentGroup, IndividualEnrollment } from './types.ts';

export type Match =
  | {
      kind: 'individual';
      registrationId: string;
      enrollment: IndividualEnrollment;
      leaf: Certificate;
      path: Certificate[];
    }
  | {
      kind: 'group';
      registrationId: string;
      enrollment: EnrollmentGroup;
      leaf: Certificate;
      path: Certificate[];
      /** The certificate in the path that the group is bound to. */
      signer: Certificate;
      /** Every group bound to a CA of the path, the chosen one first, each with why it won or lost. */
      candidates: GroupCandidate[];
    };

/** A group that could have taken the device, and the outcome. */
export interface GroupCandidate {
  id: string;
  boundTo: string;
  priority: number;
  provisioningStatus: string;
  outcome: string;
}

/** Highest priority first, then by ID: the order groups bound to one CA are tried in. */
export function byPriority(a: EnrollmentGroup, b: EnrollmentGroup): number {
  return (
    (b.priority ?? 0) - (a.priority ?? 0) ||
    idKey(a.enrollmentGroupId).localeCompare(idKey(b.enrollmentGroupId))
  );
}

// What a device is told; the operator's message names the enrollment, its certificates and CAs.
const NO_ENROLLMENT =
  'no enrollment in this ID scope matches this certificate; check the ID scope and the certificate (full chain, leaf first) configured on the device';
const DISABLED = 'the enrollment of this device is disabled; the operator has to enable it';

const chainText = (chain: Certificate[]) => chain.map((c) => c.commonName ?? c.sha1).join(' -> ');

/** Refuses chains holding a certificate that zerotouch issued and then revoked. */
export interface RevocationCheck {
  assertNotRevoked(chain: Certificate[]): Promise<void>;
}

/** The one enrollment matcher: registration, status lookups and diagnose all call it. */
export class EnrollmentMatcher {
  private readonly enrollments: EnrollmentStore;
  private readonly cas: Pick<CaService, 'withCertificates'>;

  constructor(enrollments: EnrollmentStore, cas: Pick<CaService, 'withCertificates'>) {
    this.enrollments = enrollments;
    this.cas = cas;
  }

  /**
   * Finds the enrollment for a presented chain (leaf first) in a tenant, or throws why there is
   * none. `tenantId` undefined is an ID scope that does not exist: it answers exactly as a scope
   * that trusts nothing of the chain, so a stranger cannot tell scopes, or enrollments in them,
   * from ones that do not exist.
   */
  match(
    tenantId: string | undefined,
    chain: Certificate[],
    at = new Date(),
    revocation?: RevocationCheck,
  ): Promise<Match> {
    return matchEnrollment(this.enrollments, this.cas, tenantId, chain, at, revocation);
  }
}

async function matchEnrollment(
  store: EnrollmentStore,
  casService: Pick<CaService, 'withCertificates'>,
  tenantId: string | undefined,
  chain: Certificate[],
  at: Date,
  revocation: RevocationCheck | undefined,
): Promise<Match> {
  if (chain.length === 0) {
    throw new ZtError(
      'CHAIN_EMPTY',
      'no client certificate was presented; configure the device with its certificate (full chain, leaf first) and key',
    );
  }
  const leaf = chain[0]!;
  const registrationId = assertRegistrationId(leaf.commonName, 'the certificate CN (registration ID)');
  if (at < leaf.notBefore) {
    throw new ZtError(
      'CERT_NOT_YET_VALID',
      `device certificate ${describeCertificate(leaf)} is not valid until ${leaf.notBefore.toISOString()}; check the device clock or reissue it`,
    );
  }
  if (at > leaf.notAfter) {
    throw new ZtError(
      'CERT_EXPIRED',
      `device certificate ${describeCertificate(leaf)} expired on ${leaf.notAfter.toISOString()}; issue the device a new certificate`,
    );
  }

  await revocation?.assertNotRevoked(chain);

  const individual =
    tenantId === undefined
      ? undefined
      : await store.findEnrollment<IndividualEnrollment>(tenantId, 'individual', registrationId);
  const cas = tenantId === undefined ? [] : await casService.withCertificates(tenantId);
  if (individual) {
    const e = individual.doc;
    const cc = e.attestation.x509?.clientCertificates;
    const pinned = [cc?.primary?.info?.sha256Thumbprint, cc?.secondary?.info?.sha256Thumbprint];
    if (!pinned.includes(leaf.sha256)) {
      // Only a device whose chain this scope trusts learns that the enrollment is not its own;
      // anyone else gets the chain's refusal, as if there were no enrollment of that name.
      trustedPath(leaf, chain, cas, at);
      throw new ZtError(
        'ENROLLMENT_NOT_FOUND',
        NO_ENROLLMENT,
        undefined,
        `individual enrollment "${e.registrationId}" exists but its certificate (SHA-256 ${pinned.filter(Boolean).join(' or ')}) is not the presented one (${leaf.sha256}); update the enrollment with this certificate or use the enrolled one`,
      );
    }
    // A disabled individual enrollment blocks the device even when a group would admit it.
    if (e.provisioningStatus === 'disabled') {
      throw new ZtError(
        'ENROLLMENT_DISABLED',
        DISABLED,
        undefined,
        `individual enrollment "${e.registrationId}" is disabled; enable it to let this device provision`,
      );
    }
    return { kind: 'individual', registrationId, enrollment: e, leaf, path: [leaf] };
  }

  const path = trustedPath(leaf, chain, cas, at);

  // Groups bound to any certificate of the path (by signing certificate or CA reference).
  const inPath = path.slice(1);
  const pathShas = inPath.map((c) => c.sha256);
  const caNameBySha = new Map(cas.map((x) => [x.cert.sha256, x.ca.name]));
  const caNames = pathShas.map((s) => caNameBySha.get(s)).filter((n): n is string => !!n);
  // A path exists only where CAs do, so the tenant is known here.
  const groups = await store.findGroupsFor(tenantId!, pathShas, caNames);
  let chosen: { g: EnrollmentGroup; cert: Certificate } | undefined;
  const candidates: GroupCandidate[] = [];
  for (const cert of inPath) {
    const name = caNameBySha.get(cert.sha256);
    const bound = groups
      .filter((g) => {
        const x = g.attestation.x509;
        const shas = [
          x?.signingCertificates?.primary?.info?.sha256Thumbprint,
          x?.signingCertificates?.secondary?.info?.sha256Thumbprint,
        ];
        const refs = [x?.caReferences?.primary, x?.caReferences?.secondary]
          .filter(Boolean)
          .map((r) => idKey(r!));
        return shas.includes(cert.sha256) || (name !== undefined && refs.includes(idKey(name)));
      })
      .sort(byPriority);
    for (const g of bound) {
      const outcome = chosen
        ? chosen.cert === cert
          ? `lost: "${chosen.g.enrollmentGroupId}" on the same CA has ${(chosen.g.priority ?? 0) === (g.priority ?? 0) ? 'the same priority and comes first by ID' : 'a higher priority'}`
          : `lost: "${chosen.g.enrollmentGroupId}" is bound to a CA nearer the device certificate`
        : g.provisioningStatus === 'disabled'
          ? 'chosen, and disabled: the device is refused'
          : 'chosen';
      chosen ??= { g, cert };
      candidates.push({
        id: g.enrollmentGroupId,
        boundTo: describeCertificate(cert),
        priority: g.priority ?? 0,
        provisioningStatus: g.provisioningStatus,
        outcome,
      });
    }
  }
  if (chosen) {
    const { g, cert } = chosen;
    if (g.provisioningStatus === 'disabled') {
      throw new ZtError(
        'ENROLLMENT_DISABLED',
        DISABLED,
        undefined,
        `enrollment group "${g.enrollmentGroupId}" (bound to ${describeCertificate(cert)}) is disabled; enable it to let its devices provision`,
      );
    }
    return { kind: 'group', registrationId, enrollment: g, leaf, path, signer: cert, candidates };
  }
  throw new ZtError(
    'ENROLLMENT_NOT_FOUND',
    NO_ENROLLMENT,
    undefined,
    `no enrollment matches: there is no individual enrollment "${registrationId}" and no enrollment group is bound to any CA of the chain (${chainText(path)}); create an individual enrollment or an enrollment group for one of those CAs`,
  );
}

type ScopeCa = { ca: CaCertificate; cert: Certificate };

/** The path from the leaf to a verified CA of the scope, or the chain's refusal. */
function trustedPath(leaf: Certificate, chain: Certificate[], cas: ScopeCa[], at: Date): Certificate[] {
  const verified = cas.filter((x) => x.ca.isVerified);
  const unverified = cas.filter((x) => !x.ca.isVerified);
  try {
    return validateChain(
      leaf,
      [...chain.slice(1), ...unverified.map((x) => x.cert)],
      verified.map((x) => x.cert),
      { at, requiredEku: OID.clientAuth },
    ).path;
  } catch (e) {
    if (!(e instanceof ZtError) || e.code !== 'CHAIN_UNKNOWN_ISSUER') throw e;
    throw chainProblem(e, leaf, chain, cas, unverified, at);
  }
}

/** Explains a chain that does not reach a verified CA of this tenant. */
function chainProblem(
  e: ZtError,
  leaf: Certificate,
  chain: Certificate[],
  cas: Array<{ ca: CaCertificate; cert: Certificate }>,
  unverified: Array<{ ca: CaCertificate; cert: Certificate }>,
  at: Date,
): ZtError {
  // Would it reach an unverified CA? Then verification is the fix.
  if (unverified.length > 0) {
    try {
      const { anchor } = validateChain(
        leaf,
        chain.slice(1),
        unverified.map((x) => x.cert),
        { at },
      );
      const ca = unverified.find((x) => x.cert.sha256 === anchor.sha256)!.ca;
      return new ZtError(
        'CA_NOT_VERIFIED',
        'the certificate chain reaches a CA that this ID scope does not trust yet; the operator has to verify that CA',
        undefined,
        `the chain reaches CA "${ca.name}" (${ca.subject}), which is not verified; prove possession of its key (zerotouch ca verify) or upload it as verified`,
      );
    } catch {
      // fall through to the general explanation
    }
  }
  const known = cas.length
    ? cas.map((x) => `"${x.ca.name}"${x.ca.isVerified ? '' : ' (unverified)'}`).join(', ')
    : 'none';
  return new ZtError(
    'CHAIN_UNKNOWN_ISSUER',
    `the presented chain (${chainText(chain)}) does not reach a CA this ID scope trusts: ${e.message}`,
    e.detail,
    `the presented chain (${chainText(chain)}) does not reach a verified CA of this ID scope (CAs here: ${known}): ${operatorText(e)}`,
  );
}

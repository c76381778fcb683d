/**
 * The AWS IoT operations zerotouch answers, each a route with the method, path, query and body
 * the Smithy model gives (reference section 2), a TypeBox schema for its body, and a thin
 * handler over the IoT registry, CA registrations, templates and issuance. Paging tokens
 * (marker / nextToken) wrap the store's continuation tokens; timestamps are epoch seconds.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import Type, { type TSchema } from 'typebox';
import type { CaCertificate } from '../../features/cas/types.ts';
import { loadCertificates } from '../../pki/certificate.ts';
import type { IotCertificate, Thing } from '../../features/iot/types.ts';
import type { Services } from '../../services.ts';
import { AwsError } from './sigv4.ts';

/** A request after SigV4: its parsed body is JSON of the operation's shape (validated when it has a schema). */
type Req = Omit<FastifyRequest, 'params' | 'query' | 'body'> & {
  params: Record<string, string>;
  query: Record<string, string | undefined>;
  body: any;
};

interface Op {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  name: string;
  /** Needs a key with write rights. */
  write: boolean;
  body?: TSchema;
  handler: (req: Req) => Promise<unknown>;
}

const epoch = (iso: string | undefined) => (iso ? Date.parse(iso) / 1000 : undefined);
const bool = (v: string | undefined) => v === 'true';
const token = (continuation: string | undefined) =>
  continuation ? Buffer.from(continuation).toString('base64url') : undefined;
/** The store's continuation token inside a marker / nextToken (an offset for lists paged here: `offset`). */
function untoken(t: string | undefined, offset = false): string | undefined {
  if (!t) return undefined;
  const c = t.length <= 4096 ? Buffer.from(t, 'base64url').toString('utf8') : '';
  if (!(offset ? /^\d{1,9}$/ : /^[A-Za-z0-9_-]{1,2048}$/).test(c))
    throw new AwsError('InvalidRequestException', 400, 'the paging token (marker / nextToken) is not valid');
  return c;
}
function pageSize(v: string | undefined, max = 250): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new AwsError('InvalidRequestException', 400, `page size must be 1 to ${max}`);
  return n;
}

/** The certificate ID at the end of a certificate ARN (or an ID as it is). */
function certificateIdOf(target: string): string {
  const m = /(?:^|:cert\/)([0-9a-fA-F]{64})$/.exec(target);
  if (!m)
    throw new AwsError(
      'InvalidRequestException',
      400,
      `"${target}" is not a certificate ARN (arn:aws:iot:<region>:<account>:cert/<id>)`,
    );
  return m[1]!.toLowerCase();
}

const Obj = (props: Record<string, TSchema>) => Type.Object(props);
const RegistrationConfig = Type.Optional(
  Obj({
    templateBody: Type.Optional(Type.String({ maxLength: 10_240 })),
    roleArn: Type.Optional(Type.String({ maxLength: 2048 })),
    templateName: Type.Optional(Type.String({ maxLength: 36 })),
  }),
);

/** Registers every operation on the app. */
export function registerOperations(
  app: FastifyInstance,
  o: { services: Services; dataHost: () => string },
): void {
  const { iot, tenants } = o.services;
  const reg = iot.registry;
  const scope = (req: Req) => req.aws!.tenant;
  const by = (req: Req) => `aws:${req.aws!.grant.name}`;

  const caDescription = async (tenantId: string, ca: CaCertificate) => {
    const r = ca.awsRegistration!;
    const s = await reg.settings(tenantId);
    return {
      certificateDescription: {
        certificateArn: r.certificateArn,
        certificateId: r.certificateId,
        status: r.status,
        certificatePem: ca.certificate,
        ownedBy: s.accountId,
        creationDate: epoch(r.registeredAt),
        autoRegistrationStatus: r.autoRegistration,
        lastModifiedDate: epoch(r.updatedAt),
        customerVersion: 1,
        generationId: ca.etag.replace(/"/g, ''),
        validity: { notBefore: epoch(ca.notBeforeUtc), notAfter: epoch(ca.notAfterUtc) },
        certificateMode: r.certificateMode,
      },
      ...(r.registrationConfig ? { registrationConfig: r.registrationConfig } : {}),
    };
  };
  const registeredCa = async (tenantId: string, id: string) => {
    const ca = await iot.cas.byCertificateId(tenantId, id);
    if (!ca.awsRegistration)
      throw new AwsError('ResourceNotFoundException', 404, `no CA certificate with ID ${id} is registered`);
    return ca;
  };
  const certDescription = async (tenantId: string, c: IotCertificate) => {
    const s = await reg.settings(tenantId);
    return {
      certificateDescription: {
        certificateArn: c.certificateArn,
        certificateId: c.certificateId,
        ...(c.caCertificateId ? { caCertificateId: c.caCertificateId } : {}),
        status: c.status,
        certificatePem: c.certificatePem,
        ownedBy: s.accountId,
        creationDate: epoch(c.createdAt),
        lastModifiedDate: epoch(c.lastModifiedAt),
        customerVersion: 1,
        generationId: c.lastModifiedAt,
        validity: { notBefore: epoch(c.validity.notBefore), notAfter: epoch(c.validity.notAfter) },
        certificateMode: c.certificateMode,
      },
    };
  };
  const certItem = (c: IotCertificate) => ({
    certificateArn: c.certificateArn,
    certificateId: c.certificateId,
    status: c.status,
    certificateMode: c.certificateMode,
    creationDate: epoch(c.createdAt),
  });
  const thingItem = (t: Thing) => ({
    thingName: t.thingName,
    ...(t.thingTypeName ? { thingTypeName: t.thingTypeName } : {}),
    thingArn: t.thingArn,
    attributes: t.attributes,
    version: t.version,
  });
  /** A CONFLICT from the registry, as AWS's ResourceAlreadyExistsException with the resource. */
  const exists = async <T>(p: Promise<T>, resourceId: string, resourceArn: string): Promise<T> => {
    try {
      return await p;
    } catch (e) {
      if ((e as { code?: string }).code === 'CONFLICT')
        throw new AwsError('ResourceAlreadyExistsException', 409, (e as Error).message, {
          resourceId,
          resourceArn,
        });
      throw e;
    }
  };

  const ops: Op[] = [
    // registration code, endpoint
    {
      method: 'GET',
      path: '/registrationcode',
      name: 'GetRegistrationCode',
      write: false,
      handler: async (req) => ({ registrationCode: await reg.registrationCode(scope(req).id) }),
    },
    {
      method: 'GET',
      path: '/endpoint',
      name: 'DescribeEndpoint',
      write: false,
      handler: async (req) => {
        const type = req.query.endpointType ?? 'iot:Data';
        if (!['iot:Data', 'iot:Data-ATS', 'iot:CredentialProvider', 'iot:Jobs'].includes(type))
          throw new AwsError(
            'InvalidRequestException',
            400,
            `endpointType must be iot:Data, iot:Data-ATS, iot:CredentialProvider or iot:Jobs`,
          );
        const s = await reg.settings(scope(req).id);
        return { endpointAddress: s.endpoint ?? o.dataHost() };
      },
    },
    // CA certificates
    {
      method: 'POST',
      path: '/cacertificate',
      name: 'RegisterCACertificate',
      write: true,
      body: Obj({
        caCertificate: Type.String({ minLength: 1, maxLength: 65_536 }),
        verificationCertificate: Type.Optional(Type.String({ maxLength: 65_536 })),
        registrationConfig: RegistrationConfig,
        certificateMode: Type.Optional(Type.Enum(['DEFAULT', 'SNI_ONLY'])),
      }),
      handler: async (req) => {
        const b = req.body;
        const ca = await iot.cas.registerPem(scope(req).id, b.caCertificate, {
          ...(b.verificationCertificate ? { verificationCertificate: b.verificationCertificate } : {}),
          ...(b.certificateMode ? { certificateMode: b.certificateMode } : {}),
          setAsActive: bool(req.query.setAsActive),
          allowAutoRegistration: bool(req.query.allowAutoRegistration),
          ...(b.registrationConfig ? { registrationConfig: b.registrationConfig } : {}),
        });
        return {
          certificateArn: ca.awsRegistration!.certificateArn,
          certificateId: ca.awsRegistration!.certificateId,
        };
      },
    },
    {
      method: 'GET',
      path: '/cacertificate/:certificateId',
      name: 'DescribeCACertificate',
      write: false,
      handler: async (req) =>
        caDescription(scope(req).id, await registeredCa(scope(req).id, req.params.certificateId!)),
    },
    {
      method: 'PUT',
      path: '/cacertificate/:certificateId',
      name: 'UpdateCACertificate',
      write: true,
      body: Obj({
        registrationConfig: RegistrationConfig,
        removeAutoRegistration: Type.Optional(Type.Boolean()),
      }),
      handler: async (req) => {
        const t = scope(req).id;
        const ca = await registeredCa(t, req.params.certificateId!);
        const q = req.query;
        for (const [k, allowed] of [
          ['newStatus', ['ACTIVE', 'INACTIVE']],
          ['newAutoRegistrationStatus', ['ENABLE', 'DISABLE']],
        ] as const) {
          if (q[k] !== undefined && !(allowed as readonly string[]).includes(q[k]!))
            throw new AwsError('InvalidRequestException', 400, `${k} must be ${allowed.join(' or ')}`);
        }
        await iot.cas.update(t, ca.name, {
          ...(q.newStatus ? { newStatus: q.newStatus as 'ACTIVE' | 'INACTIVE' } : {}),
          ...(q.newAutoRegistrationStatus
            ? { newAutoRegistrationStatus: q.newAutoRegistrationStatus as 'ENABLE' | 'DISABLE' }
            : {}),
          ...(req.body?.removeAutoRegistration ? { newAutoRegistrationStatus: 'DISABLE' as const } : {}),
          ...(req.body?.registrationConfig ? { registrationConfig: req.body.registrationConfig } : {}),
        });
        return {};
      },
    },
    {
      method: 'GET',
      path: '/cacertificates',
      name: 'ListCACertificates',
      write: false,
      handler: async (req) => {
        const all = await iot.cas.registered(scope(req).id);
        const ordered = bool(req.query.isAscendingOrder) ? all : [...all].reverse();
        const start = Number(untoken(req.query.marker, true) ?? 0);
        const size = pageSize(req.query.pageSize) ?? 250;
        const page = ordered.slice(start, start + size);
        return {
          certificates: page.map((c) => ({
            certificateArn: c.awsRegistration!.certificateArn,
            certificateId: c.awsRegistration!.certificateId,
            status: c.awsRegistration!.status,
            creationDate: epoch(c.awsRegistration!.registeredAt),
          })),
          ...(start + size < ordered.length ? { nextMarker: token(String(start + size)) } : {}),
        };
      },
    },
    {
      method: 'DELETE',
      path: '/cacertificate/:certificateId',
      name: 'DeleteCACertificate',
      write: true,
      handler: async (req) => {
        const t = scope(req).id;
        const ca = await registeredCa(t, req.params.certificateId!);
        if (ca.awsRegistration!.status === 'ACTIVE')
          throw new AwsError(
            'CertificateStateException',
            406,
            'the CA certificate is ACTIVE; set it INACTIVE first (update-ca-certificate --new-status INACTIVE)',
          );
        await iot.cas.deregister(t, ca.name);
        return {};
      },
    },
    // device certificates
    {
      method: 'POST',
      path: '/certificate/register',
      name: 'RegisterCertificate',
      write: true,
      body: Obj({
        certificatePem: Type.String({ minLength: 1, maxLength: 65_536 }),
        caCertificatePem: Type.Optional(Type.String({ maxLength: 65_536 })),
        status: Type.Optional(Type.Enum(['ACTIVE', 'INACTIVE'])),
      }),
      handler: async (req) => {
        const t = scope(req).id;
        const leaf = loadCertificates(req.body.certificatePem)[0]!;
        let ca;
        try {
          ca = await iot.cas.signingCa(t, req.body.certificatePem, req.body.caCertificatePem);
        } catch (e) {
          const err = e as { code?: string; detail?: { rule?: string }; message: string };
          if (err.code === 'CONFLICT' && err.detail?.rule === 'certificate-conflict')
            throw new AwsError('CertificateConflictException', 409, err.message);
          throw e;
        }
        const status = req.body.status ?? (bool(req.query.setAsActive) ? 'ACTIVE' : 'INACTIVE');
        const c = await exists(
          iot.cas.registerCertificate(t, {
            certificatePem: req.body.certificatePem,
            caName: ca.name,
            status,
            by: by(req),
          }),
          leaf.sha256.toLowerCase(),
          await reg.arn(t, `cert/${leaf.sha256.toLowerCase()}`),
        );
        return { certificateArn: c.certificateArn, certificateId: c.certificateId };
      },
    },
    {
      method: 'POST',
      path: '/certificate/register-no-ca',
      name: 'RegisterCertificateWithoutCA',
      write: true,
      body: Obj({
        certificatePem: Type.String({ minLength: 1, maxLength: 65_536 }),
        status: Type.Optional(Type.Enum(['ACTIVE', 'INACTIVE'])),
      }),
      handler: async (req) => {
        const t = scope(req).id;
        const c = await iot.cas.registerCertificate(t, {
          certificatePem: req.body.certificatePem,
          status: req.body.status ?? 'INACTIVE',
          by: by(req),
        });
        return { certificateArn: c.certificateArn, certificateId: c.certificateId };
      },
    },
    {
      method: 'GET',
      path: '/certificates/:certificateId',
      name: 'DescribeCertificate',
      write: false,
      handler: async (req) =>
        certDescription(scope(req).id, await reg.getCertificate(scope(req).id, req.params.certificateId!)),
    },
    {
      method: 'PUT',
      path: '/certificates/:certificateId',
      name: 'UpdateCertificate',
      write: true,
      handler: async (req) => {
        const s = req.query.newStatus;
        if (!s || !['ACTIVE', 'INACTIVE', 'REVOKED', 'REGISTER_INACTIVE'].includes(s))
          throw new AwsError(
            'InvalidRequestException',
            400,
            `newStatus must be ACTIVE, INACTIVE, REVOKED or REGISTER_INACTIVE, not ${s ?? 'missing'}`,
          );
        try {
          await reg.setCertificateStatus(scope(req).id, req.params.certificateId!, s as 'ACTIVE');
        } catch (e) {
          if ((e as { code?: string }).code === 'CONFLICT')
            throw new AwsError('CertificateStateException', 406, (e as Error).message);
          throw e;
        }
        return {};
      },
    },
    {
      method: 'GET',
      path: '/certificates',
      name: 'ListCertificates',
      write: false,
      handler: async (req) => {
        const p = await reg.listCertificates(
          scope(req).id,
          {},
          pageSize(req.query.pageSize) ?? 25,
          untoken(req.query.marker),
        );
        return {
          certificates: p.items.map(certItem),
          ...(p.continuation ? { nextMarker: token(p.continuation) } : {}),
        };
      },
    },
    {
      method: 'GET',
      path: '/certificates-by-ca/:caCertificateId',
      name: 'ListCertificatesByCA',
      write: false,
      handler: async (req) => {
        const t = scope(req).id;
        const ca = await registeredCa(t, req.params.caCertificateId!);
        const p = await reg.listCertificates(
          t,
          { caName: ca.name },
          pageSize(req.query.pageSize) ?? 25,
          untoken(req.query.marker),
        );
        return {
          certificates: p.items.map(certItem),
          ...(p.continuation ? { nextMarker: token(p.continuation) } : {}),
        };
      },
    },
    {
      method: 'DELETE',
      path: '/certificates/:certificateId',
      name: 'DeleteCertificate',
      write: true,
      handler: async (req) => {
        const t = scope(req).id;
        const c = await reg.getCertificate(t, req.params.certificateId!);
        if (c.status === 'ACTIVE')
          throw new AwsError(
            'CertificateStateException',
            406,
            `certificate ${c.certificateId} is ACTIVE; make it INACTIVE first`,
          );
        try {
          await reg.deleteCertificate(t, c.certificateId);
        } catch (e) {
          if ((e as { code?: string }).code === 'CONFLICT')
            throw new AwsError('DeleteConflictException', 409, (e as Error).message);
          throw e;
        }
        return {};
      },
    },
    {
      method: 'POST',
      path: '/certificates',
      name: 'CreateCertificateFromCsr',
      write: true,
      body: Obj({ certificateSigningRequest: Type.String({ minLength: 1, maxLength: 4096 }) }),
      handler: async (req) => {
        const c = await iot.issuance.fromCsr(
          scope(req),
          req.body.certificateSigningRequest,
          bool(req.query.setAsActive),
          by(req),
        );
        return {
          certificateArn: c.certificateArn,
          certificateId: c.certificateId,
          certificatePem: c.certificatePem,
        };
      },
    },
    {
      method: 'POST',
      path: '/keys-and-certificate',
      name: 'CreateKeysAndCertificate',
      write: true,
      handler: async (req) => {
        const r = await iot.issuance.keysAndCertificate(scope(req), bool(req.query.setAsActive), by(req));
        return {
          certificateArn: r.certificate.certificateArn,
          certificateId: r.certificate.certificateId,
          certificatePem: r.certificate.certificatePem,
          keyPair: { PublicKey: r.publicKey, PrivateKey: r.privateKey },
        };
      },
    },
    // things
    {
      method: 'POST',
      path: '/things/:thingName',
      name: 'CreateThing',
      write: true,
      body: Obj({
        thingTypeName: Type.Optional(Type.String()),
        attributePayload: Type.Optional(
          Obj({
            attributes: Type.Optional(Type.Record(Type.String(), Type.String())),
            merge: Type.Optional(Type.Boolean()),
          }),
        ),
        billingGroupName: Type.Optional(Type.String()),
      }),
      handler: async (req) => {
        const t = scope(req).id;
        const name = req.params.thingName!;
        // AWS: the same call again succeeds; the same name with another configuration conflicts.
        const existing = await reg.findThing(t, name);
        if (
          existing &&
          existing.thingTypeName === req.body.thingTypeName &&
          existing.billingGroup === req.body.billingGroupName &&
          JSON.stringify(existing.attributes) === JSON.stringify(req.body.attributePayload?.attributes ?? {})
        )
          return { thingName: existing.thingName, thingArn: existing.thingArn, thingId: existing.thingId };
        const thing = await exists(
          reg.createThing(
            t,
            name,
            {
              ...(req.body.thingTypeName ? { thingTypeName: req.body.thingTypeName } : {}),
              ...(req.body.attributePayload?.attributes
                ? { attributes: req.body.attributePayload.attributes }
                : {}),
              ...(req.body.billingGroupName ? { billingGroup: req.body.billingGroupName } : {}),
            },
            by(req),
          ),
          name,
          await reg.arn(t, `thing/${name}`),
        );
        return { thingName: thing.thingName, thingArn: thing.thingArn, thingId: thing.thingId };
      },
    },
    {
      method: 'GET',
      path: '/things/:thingName',
      name: 'DescribeThing',
      write: false,
      handler: async (req) => {
        const t = await reg.getThing(scope(req).id, req.params.thingName!);
        return {
          defaultClientId: t.thingName,
          thingName: t.thingName,
          thingId: t.thingId,
          thingArn: t.thingArn,
          ...(t.thingTypeName ? { thingTypeName: t.thingTypeName } : {}),
          attributes: t.attributes,
          version: t.version,
          ...(t.billingGroup ? { billingGroupName: t.billingGroup } : {}),
        };
      },
    },
    {
      method: 'PATCH',
      path: '/things/:thingName',
      name: 'UpdateThing',
      write: true,
      body: Obj({
        thingTypeName: Type.Optional(Type.String()),
        attributePayload: Type.Optional(
          Obj({
            attributes: Type.Optional(Type.Record(Type.String(), Type.String())),
            merge: Type.Optional(Type.Boolean()),
          }),
        ),
        expectedVersion: Type.Optional(Type.Integer()),
        removeThingType: Type.Optional(Type.Boolean()),
      }),
      handler: async (req) => {
        const t = scope(req).id;
        const name = req.params.thingName!;
        const b = req.body;
        const current = await reg.getThing(t, name);
        if (b.expectedVersion !== undefined && b.expectedVersion !== current.version)
          throw new AwsError(
            'VersionConflictException',
            409,
            `the thing is at version ${current.version}, not ${b.expectedVersion}`,
          );
        const attrs = b.attributePayload?.attributes;
        if (attrs && !b.attributePayload?.merge) {
          // Without merge, the payload replaces the attributes.
          for (const k of Object.keys(current.attributes)) if (!(k in attrs)) attrs[k] = '';
        }
        await reg.updateThing(t, name, {
          ...(b.thingTypeName ? { thingTypeName: b.thingTypeName } : {}),
          ...(attrs ? { attributes: attrs } : {}),
          ...(b.removeThingType ? { removeThingType: true } : {}),
        });
        return {};
      },
    },
    {
      method: 'DELETE',
      path: '/things/:thingName',
      name: 'DeleteThing',
      write: true,
      handler: async (req) => {
        const t = scope(req).id;
        const thing = await reg.findThing(t, req.params.thingName!);
        // AWS: deleting a thing that does not exist succeeds.
        if (!thing) return {};
        const expected = req.query.expectedVersion;
        if (expected !== undefined && Number(expected) !== thing.version)
          throw new AwsError(
            'VersionConflictException',
            409,
            `the thing is at version ${thing.version}, not ${expected}`,
          );
        try {
          await reg.deleteThing(t, thing.thingName);
        } catch (e) {
          if ((e as { code?: string }).code === 'CONFLICT')
            throw new AwsError('InvalidRequestException', 400, (e as Error).message);
          throw e;
        }
        return {};
      },
    },
    {
      method: 'GET',
      path: '/things',
      name: 'ListThings',
      write: false,
      handler: async (req) => {
        const q = req.query;
        const max = pageSize(q.maxResults) ?? 50;
        const filtered = q.attributeName !== undefined || q.thingTypeName !== undefined;
        if (!filtered) {
          const p = await reg.listThings(scope(req).id, max, untoken(q.nextToken));
          return {
            things: p.items.map(thingItem),
            ...(p.continuation ? { nextToken: token(p.continuation) } : {}),
          };
        }
        const all = await reg.findThings(scope(req).id, {
          ...(q.thingTypeName !== undefined ? { thingTypeName: q.thingTypeName } : {}),
          ...(q.attributeName !== undefined ? { attributeName: q.attributeName } : {}),
          ...(q.attributeValue !== undefined ? { attributeValue: q.attributeValue } : {}),
          prefix: bool(q.usePrefixAttributeValue),
        });
        const start = Number(untoken(q.nextToken, true) ?? 0);
        return {
          things: all.slice(start, start + max).map(thingItem),
          ...(start + max < all.length ? { nextToken: token(String(start + max)) } : {}),
        };
      },
    },
    {
      method: 'GET',
      path: '/things/:thingName/principals',
      name: 'ListThingPrincipals',
      write: false,
      handler: async (req) => {
        const t = scope(req).id;
        await reg.getThing(t, req.params.thingName!);
        const ids = await reg.principalsOf(t, req.params.thingName!);
        return { principals: await Promise.all(ids.map((id) => reg.arn(t, `cert/${id}`))) };
      },
    },
    {
      method: 'PUT',
      path: '/things/:thingName/principals',
      name: 'AttachThingPrincipal',
      write: true,
      handler: async (req) => {
        const principal = req.headers['x-amzn-principal'];
        if (typeof principal !== 'string')
          throw new AwsError(
            'InvalidRequestException',
            400,
            'the x-amzn-principal header (the certificate ARN) is missing',
          );
        await reg.attachThingPrincipal(scope(req).id, req.params.thingName!, certificateIdOf(principal));
        return {};
      },
    },
    {
      method: 'DELETE',
      path: '/things/:thingName/principals',
      name: 'DetachThingPrincipal',
      write: true,
      handler: async (req) => {
        const principal = req.headers['x-amzn-principal'];
        if (typeof principal !== 'string')
          throw new AwsError(
            'InvalidRequestException',
            400,
            'the x-amzn-principal header (the certificate ARN) is missing',
          );
        await reg.detachThingPrincipal(scope(req).id, req.params.thingName!, certificateIdOf(principal));
        return {};
      },
    },
    {
      method: 'POST',
      path: '/thing-types/:thingTypeName',
      name: 'CreateThingType',
      write: true,
      body: Obj({
        thingTypeProperties: Type.Optional(
          Obj({ thingTypeDescription: Type.Optional(Type.String({ maxLength: 2028 })) }),
        ),
      }),
      handler: async (req) => {
        const t = scope(req).id;
        const name = req.params.thingTypeName!;
        const r = await exists(
          reg.createNamed(t, 'thing-type', name, req.body.thingTypeProperties?.thingTypeDescription),
          name,
          await reg.arn(t, `thingtype/${name}`),
        );
        return { thingTypeName: r.name, thingTypeArn: r.arn, thingTypeId: r.name };
      },
    },
    {
      method: 'POST',
      path: '/thing-groups/:thingGroupName',
      name: 'CreateThingGroup',
      write: true,
      body: Obj({
        thingGroupProperties: Type.Optional(
          Obj({ thingGroupDescription: Type.Optional(Type.String({ maxLength: 2028 })) }),
        ),
      }),
      handler: async (req) => {
        const t = scope(req).id;
        const name = req.params.thingGroupName!;
        const r = await exists(
          reg.createNamed(t, 'thing-group', name, req.body.thingGroupProperties?.thingGroupDescription),
          name,
          await reg.arn(t, `thinggroup/${name}`),
        );
        return { thingGroupName: r.name, thingGroupArn: r.arn, thingGroupId: r.name };
      },
    },
    {
      method: 'PUT',
      path: '/thing-groups/addThingToThingGroup',
      name: 'AddThingToThingGroup',
      write: true,
      body: Obj({
        thingGroupName: Type.Optional(Type.String()),
        thingGroupArn: Type.Optional(Type.String()),
        thingName: Type.Optional(Type.String()),
        thingArn: Type.Optional(Type.String()),
      }),
      handler: async (req) => {
        const b = req.body;
        const group = b.thingGroupName ?? b.thingGroupArn?.split('/').pop();
        const thing = b.thingName ?? b.thingArn?.split('/').pop();
        if (!group || !thing)
          throw new AwsError(
            'InvalidRequestException',
            400,
            'give thingGroupName (or thingGroupArn) and thingName (or thingArn)',
          );
        await reg.addThingToGroup(scope(req).id, thing, group);
        return {};
      },
    },
    {
      method: 'GET',
      path: '/things/:thingName/thing-groups',
      name: 'ListThingGroupsForThing',
      write: false,
      handler: async (req) => {
        const t = scope(req).id;
        const thing = await reg.getThing(t, req.params.thingName!);
        return {
          thingGroups: await Promise.all(
            thing.thingGroups.map(async (g) => ({
              groupName: g,
              groupArn: await reg.arn(t, `thinggroup/${g}`),
            })),
          ),
        };
      },
    },
    // policies
    {
      method: 'POST',
      path: '/policies/:policyName',
      name: 'CreatePolicy',
      write: true,
      body: Obj({ policyDocument: Type.String({ minLength: 1, maxLength: 20_480 }) }),
      handler: async (req) => {
        const t = scope(req).id;
        const name = req.params.policyName!;
        const p = await exists(
          malformed(reg.createPolicy(t, name, req.body.policyDocument, by(req))),
          name,
          await reg.arn(t, `policy/${name}`),
        );
        return {
          policyName: p.policyName,
          policyArn: p.policyArn,
          policyDocument: p.versions[0]!.document,
          policyVersionId: p.defaultVersionId,
        };
      },
    },
    {
      method: 'GET',
      path: '/policies/:policyName',
      name: 'GetPolicy',
      write: false,
      handler: async (req) => {
        const p = await reg.getPolicy(scope(req).id, req.params.policyName!);
        return {
          policyName: p.policyName,
          policyArn: p.policyArn,
          policyDocument: p.versions.find((v) => v.isDefault)!.document,
          defaultVersionId: p.defaultVersionId,
          creationDate: epoch(p.createdAt),
          lastModifiedDate: epoch(p.lastModifiedAt),
          generationId: p.lastModifiedAt,
        };
      },
    },
    {
      method: 'POST',
      path: '/policies/:policyName/version',
      name: 'CreatePolicyVersion',
      write: true,
      body: Obj({ policyDocument: Type.String({ minLength: 1, maxLength: 20_480 }) }),
      handler: async (req) => {
        let p;
        try {
          p = await malformed(
            reg.createPolicyVersion(
              scope(req).id,
              req.params.policyName!,
              req.body.policyDocument,
              bool(req.query.setAsDefault),
            ),
          );
        } catch (e) {
          if ((e as { code?: string }).code === 'CONFLICT')
            throw new AwsError('VersionsLimitExceededException', 409, (e as Error).message);
          throw e;
        }
        const v = p.versions.at(-1)!;
        return {
          policyArn: p.policyArn,
          policyDocument: v.document,
          policyVersionId: v.versionId,
          isDefaultVersion: v.isDefault,
        };
      },
    },
    {
      method: 'GET',
      path: '/policies',
      name: 'ListPolicies',
      write: false,
      handler: async (req) => {
        const all = await reg.listPolicies(scope(req).id);
        const ordered = req.query.isAscendingOrder === 'false' ? [...all].reverse() : all;
        const start = Number(untoken(req.query.marker, true) ?? 0);
        const size = pageSize(req.query.pageSize) ?? 250;
        return {
          policies: ordered
            .slice(start, start + size)
            .map((p) => ({ policyName: p.policyName, policyArn: p.policyArn })),
          ...(start + size < ordered.length ? { nextMarker: token(String(start + size)) } : {}),
        };
      },
    },
    {
      method: 'PUT',
      path: '/target-policies/:policyName',
      name: 'AttachPolicy',
      write: true,
      body: Obj({ target: Type.String({ minLength: 1 }) }),
      handler: async (req) => {
        await reg.attachPolicy(scope(req).id, req.params.policyName!, certificateIdOf(req.body.target));
        return {};
      },
    },
    {
      method: 'POST',
      path: '/target-policies/:policyName',
      name: 'DetachPolicy',
      write: true,
      body: Obj({ target: Type.String({ minLength: 1 }) }),
      handler: async (req) => {
        await reg.detachPolicy(scope(req).id, req.params.policyName!, certificateIdOf(req.body.target));
        return {};
      },
    },
    {
      method: 'POST',
      path: '/attached-policies/:target',
      name: 'ListAttachedPolicies',
      write: false,
      handler: async (req) => {
        const t = scope(req).id;
        const id = certificateIdOf(req.params.target!);
        await reg.getCertificate(t, id);
        const names = await reg.attachedPolicies(t, id);
        return {
          policies: await Promise.all(
            names.map(async (n) => ({ policyName: n, policyArn: await reg.arn(t, `policy/${n}`) })),
          ),
        };
      },
    },
    {
      method: 'POST',
      path: '/policy-targets/:policyName',
      name: 'ListTargetsForPolicy',
      write: false,
      handler: async (req) => {
        const t = scope(req).id;
        await reg.getPolicy(t, req.params.policyName!);
        const ids = await reg.policyTargets(t, req.params.policyName!);
        return { targets: await Promise.all(ids.map((id) => reg.arn(t, `cert/${id}`))) };
      },
    },
    // provisioning templates
    {
      method: 'POST',
      path: '/provisioning-templates',
      name: 'CreateProvisioningTemplate',
      write: true,
      body: Obj({
        templateName: Type.String({ minLength: 1, maxLength: 36 }),
        description: Type.Optional(Type.String({ maxLength: 500 })),
        templateBody: Type.String({ minLength: 1, maxLength: 10_240 }),
        enabled: Type.Optional(Type.Boolean()),
        provisioningRoleArn: Type.Optional(Type.String()),
        type: Type.Optional(Type.Enum(['FLEET_PROVISIONING', 'JITP'])),
      }),
      handler: async (req) => {
        const t = scope(req).id;
        const b = req.body;
        const tpl = await exists(
          iot.templates.create(t, b.templateName, {
            templateBody: b.templateBody,
            ...(b.type ? { type: b.type } : {}),
            ...(b.description ? { description: b.description } : {}),
            ...(b.enabled !== undefined ? { enabled: b.enabled } : {}),
          }),
          b.templateName,
          await reg.arn(t, `provisioningtemplate/${b.templateName}`),
        );
        return { templateArn: tpl.templateArn, templateName: tpl.templateName, defaultVersionId: 1 };
      },
    },
    {
      method: 'GET',
      path: '/provisioning-templates/:templateName',
      name: 'DescribeProvisioningTemplate',
      write: false,
      handler: async (req) => {
        const tpl = await iot.templates.get(scope(req).id, req.params.templateName!);
        return {
          templateArn: tpl.templateArn,
          templateName: tpl.templateName,
          ...(tpl.description ? { description: tpl.description } : {}),
          creationDate: epoch(tpl.createdAt),
          lastModifiedDate: epoch(tpl.lastModifiedAt),
          defaultVersionId: 1,
          templateBody: tpl.templateBody,
          enabled: tpl.enabled,
          type: tpl.type,
        };
      },
    },
    {
      method: 'PATCH',
      path: '/provisioning-templates/:templateName',
      name: 'UpdateProvisioningTemplate',
      write: true,
      body: Obj({
        description: Type.Optional(Type.String({ maxLength: 500 })),
        enabled: Type.Optional(Type.Boolean()),
      }),
      handler: async (req) => {
        await iot.templates.update(scope(req).id, req.params.templateName!, {
          ...(req.body.description !== undefined ? { description: req.body.description } : {}),
          ...(req.body.enabled !== undefined ? { enabled: req.body.enabled } : {}),
        });
        return {};
      },
    },
    {
      method: 'GET',
      path: '/provisioning-templates',
      name: 'ListProvisioningTemplates',
      write: false,
      handler: async (req) => {
        const all = await iot.templates.list(scope(req).id);
        const start = Number(untoken(req.query.nextToken, true) ?? 0);
        const max = pageSize(req.query.maxResults) ?? 250;
        return {
          templates: all.slice(start, start + max).map((tpl) => ({
            templateArn: tpl.templateArn,
            templateName: tpl.templateName,
            ...(tpl.description ? { description: tpl.description } : {}),
            creationDate: epoch(tpl.createdAt),
            lastModifiedDate: epoch(tpl.lastModifiedAt),
            enabled: tpl.enabled,
            type: tpl.type,
          })),
          ...(start + max < all.length ? { nextToken: token(String(start + max)) } : {}),
        };
      },
    },
    {
      method: 'DELETE',
      path: '/provisioning-templates/:templateName',
      name: 'DeleteProvisioningTemplate',
      write: true,
      handler: async (req) => {
        await iot.templates.delete(scope(req).id, req.params.templateName!);
        return {};
      },
    },
  ];

  void tenants;
  for (const op of ops) {
    app.route({
      method: op.method,
      url: op.path,
      ...(op.body ? { schema: { body: op.body } } : {}),
      handler: async (req, reply) => {
        const r = req as unknown as Req;
        if (op.write && r.aws!.grant.rights !== 'write') {
          const s = await reg.settings(r.aws!.tenant.id);
          // The model's UnauthorizedException (401), which the SDK knows by name.
          throw new AwsError(
            'UnauthorizedException',
            401,
            `User: arn:aws:iam::${s.accountId}:user/${r.aws!.grant.name} is not authorized to perform: iot:${op.name} (the access key is read-only)`,
          );
        }
        reply.header('x-amzn-requestid', String(req.id));
        return reply.type('application/json').send(await op.handler(r));
      },
    });
  }
}

/** A policy document the registry refuses, as AWS's MalformedPolicyException. */
async function malformed<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    const err = e as { code?: string; detail?: { rule?: string }; message: string };
    if (err.code === 'BAD_REQUEST' && err.detail?.rule === 'policy-document')
      throw new AwsError('MalformedPolicyException', 400, err.message);
    throw e;
  }
}

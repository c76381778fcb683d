/**
 * The device load the reliability cases put on servers — DPS registrations, EST enrollments and
 * JITP first connections — and the ledger of what devices were told: every acknowledgement a
 * device saw must be in the store afterwards, once.
 */
import assert from 'node:assert/strict';
import { Agent } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt from 'mqtt';
import { certificatePem } from '../src/pki/certificate.ts';
import { createCsr } from '../src/pki/csr.ts';
import { exportPrivateKeyPem, generateKey } from '../src/pki/keys.ts';
import type { adminClient } from '../src/testing/admin.ts';
import { deviceRequest, type RawResponse } from '../src/testing/dps-client.ts';
import { type DeviceIdentity, makeDevice } from '../src/testing/dps.ts';
import { estRequest } from '../src/testing/est-client.ts';
import { createFleet, type Fleet } from '../src/testing/fleet.ts';
import { makeLeaf } from '../src/testing/pki.ts';

type TestLeaf = ReturnType<typeof makeLeaf>;

type Api = ReturnType<typeof adminClient>;

/** Where devices connect (one server, or haproxy in front of several) and what they trust. */
export interface Target {
  devicePort: number;
  mqttPort: number;
  ca: string;
}

export const EST_USER = { user: 'rel', password: 'reliability-password' };

/** JITP template: a thing named after the certificate's CN, the certificate, one policy. */
const TEMPLATE = JSON.stringify({
  Parameters: {
    'AWS::IoT::Certificate::CommonName': { Type: 'String' },
    'AWS::IoT::Certificate::Id': { Type: 'String' },
  },
  Resources: {
    thing: {
      Type: 'AWS::IoT::Thing',
      Properties: { ThingName: { Ref: 'AWS::IoT::Certificate::CommonName' } },
    },
    certificate: {
      Type: 'AWS::IoT::Certificate',
      Properties: { CertificateId: { Ref: 'AWS::IoT::Certificate::Id' }, Status: 'ACTIVE' },
    },
    policy: {
      Type: 'AWS::IoT::Policy',
      Properties: {
        PolicyDocument: {
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: 'iot:*', Resource: '*' }],
        },
      },
    },
  },
});

/** A scope set up for all three faces: DPS group "fleet", EST label "rel", JITP on the root CA. */
export async function reliabilityFleet(api: Api, name: string): Promise<Fleet> {
  const fleet = await createFleet(api, name);
  const s = `/v1/tenants/${fleet.idScope}`;
  assert.equal((await api('POST', `${s}/issuing-cas`, { name: 'rel-ca' })).status, 201);
  assert.equal(
    (await api('PUT', `${s}/est-labels/rel`, { issuingCa: 'rel-ca', profile: 'device-1d' })).status,
    200,
  );
  assert.equal(
    (await api('PUT', `${s}/est-labels/rel/users/${EST_USER.user}`, { password: EST_USER.password })).status,
    204,
  );
  const jitp = await api('PUT', `${s}/iot/cas/root`, {
    allowAutoRegistration: true,
    registrationConfig: { templateBody: TEMPLATE },
  });
  assert.equal(jitp.status, 200, JSON.stringify(jitp.body));
  return fleet;
}

/** What devices were told, and every answer they got by face and status. */
export class Ledger {
  /** registrationId → hubs a device was told "assigned" with. */
  readonly dps = new Map<string, Set<string>>();
  /** Common names of certificates EST returned. */
  readonly est = new Set<string>();
  /** Things whose first connection was accepted. */
  readonly jitp = new Set<string>();
  /** "face status" → count, e.g. "dps 503+Retry-After". */
  readonly answers = new Map<string, number>();
  /** Server errors that are not 503 with Retry-After (must stay empty). */
  readonly serverErrors: string[] = [];

  /** Counts one answer; a 5xx without Retry-After, or other than 503, is recorded as a server error. */
  count(
    face: string,
    r: RawResponse | { status: number; headers: Record<string, unknown>; text: string },
  ): void {
    const ra = r.headers['retry-after'] !== undefined;
    const key = `${face} ${r.status}${r.status >= 500 && ra ? '+Retry-After' : ''}`;
    this.answers.set(key, (this.answers.get(key) ?? 0) + 1);
    if (r.status >= 500 && (r.status !== 503 || !ra))
      this.serverErrors.push(`${key}: ${r.text.slice(0, 200)}`);
  }

  /** Counts something that is not an HTTP answer (a refused or reset connection, an MQTT refusal). */
  note(what: string): void {
    this.answers.set(what, (this.answers.get(what) ?? 0) + 1);
  }

  /** The answers, one "key: count" per kind, sorted. */
  summary(): string {
    return [...this.answers.entries()]
      .sort()
      .map(([k, n]) => `${k}: ${n}`)
      .join(', ');
  }

  /** How many acknowledgements of each face. */
  acknowledged(): string {
    return `${this.dps.size} DPS devices assigned, ${this.est.size} EST certificates, ${this.jitp.size} JITP things`;
  }
}

/** A device stops polling an operation after this long (aziot-identityd gives up sooner). */
const GIVE_UP_MS = 30_000;

/** A device gives up on a request after this long; no answer at all is a server fault. */
const ANSWER_WITHIN_MS = 30_000;

/** `request`, or a recorded server fault (and a failed request) when it has no answer in time. */
async function answered<T>(
  ledger: Ledger,
  face: string,
  agent: Agent | undefined,
  request: Promise<T>,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      ledger.serverErrors.push(`${face}: no answer within ${ANSWER_WITHIN_MS / 1000} s`);
      agent?.destroy();
      reject(new Error('no answer'));
    }, ANSWER_WITHIN_MS);
  });
  try {
    return await Promise.race([request, late]);
  } finally {
    clearTimeout(timer);
  }
}

const retryAfterMs = (r: RawResponse) => Number(r.headers['retry-after'] ?? 1) * 1000;

/**
 * One DPS registration, as a well-behaved device does it: PUT, poll until the operation ends,
 * waiting Retry-After on 429 and 503. Resolves false when the connection failed (server gone).
 */
export async function registerDevice(
  t: Target,
  idScope: string,
  d: DeviceIdentity,
  ledger: Ledger,
): Promise<boolean> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const q = '?api-version=2021-06-01';
  const base = `/${idScope}/registrations/${d.registrationId}`;
  try {
    let put: RawResponse;
    for (;;) {
      put = await answered(
        ledger,
        'dps register',
        agent,
        deviceRequest(
          t.devicePort,
          t.ca,
          d,
          'PUT',
          `${base}/register${q}`,
          JSON.stringify({ registrationId: d.registrationId }),
          agent,
        ),
      );
      ledger.count('dps register', put);
      if (put.status === 202) break;
      if (put.status !== 429 && put.status !== 503) return false;
      await sleep(retryAfterMs(put));
    }
    let wait = retryAfterMs(put);
    const giveUp = performance.now() + GIVE_UP_MS;
    for (;;) {
      if (performance.now() > giveUp) {
        // A registration in flight on a node that died is answered "assigning" by the others
        // until its device lease expires (then "not found"); a device that waits this long
        // registers again.
        ledger.note(`dps gave up polling after ${GIVE_UP_MS / 1000} s`);
        return false;
      }
      await sleep(wait);
      const get = await answered(
        ledger,
        'dps poll',
        agent,
        deviceRequest(
          t.devicePort,
          t.ca,
          d,
          'GET',
          `${base}/operations/${put.json.operationId}${q}`,
          undefined,
          agent,
        ),
      );
      ledger.count('dps poll', get);
      wait = retryAfterMs(get);
      if (get.status === 429 || get.status === 503 || get.json?.status === 'assigning') continue;
      if (get.status === 200 && get.json?.status === 'assigned') {
        const hubs = ledger.dps.get(d.registrationId) ?? new Set();
        hubs.add(get.json.registrationState.assignedHub);
        ledger.dps.set(d.registrationId, hubs);
        return true;
      }
      return false;
    }
  } catch (e) {
    ledger.note(`dps connection ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    return false;
  } finally {
    agent.destroy();
  }
}

/** One EST simpleenroll of a new key with CN `cn`; 503 is retried after Retry-After. */
export async function enrollEst(t: Target, cn: string, ledger: Ledger): Promise<boolean> {
  const csr = createCsr(generateKey('p256'), { CN: cn }).toString('base64');
  try {
    for (;;) {
      const r = await answered(
        ledger,
        'est',
        undefined,
        estRequest(
          { port: t.devicePort, ca: t.ca, path: '/.well-known/est/rel' },
          'POST',
          'simpleenroll',
          { basic: EST_USER },
          csr,
        ),
      );
      const text = r.body.toString();
      ledger.count('est', { status: r.status, headers: r.headers, text });
      if (r.status === 200) {
        ledger.est.add(cn);
        return true;
      }
      if (r.status !== 503 && r.status !== 429) return false;
      await sleep(Number(r.headers['retry-after'] ?? 1) * 1000);
    }
  } catch (e) {
    ledger.note(`est connection ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    return false;
  }
}

let attempt = 0;

/** One JITP connection of a device certificate (from the fleet's root): connect, publish, disconnect. */
export async function connectJitp(t: Target, fleet: Fleet, leaf: TestLeaf, ledger: Ledger): Promise<boolean> {
  const cn = leaf.cert.commonName!;
  try {
    const c = mqtt.connect(`mqtts://localhost:${t.mqttPort}`, {
      // Racing connections of one device each have their own client ID, or one would take over the other.
      clientId: `${cn}-${++attempt}`,
      ca: t.ca,
      cert: certificatePem(leaf.cert),
      key: exportPrivateKeyPem(leaf.key),
      reconnectPeriod: 0,
      connectTimeout: 30_000,
    });
    // connectAsync waits forever when the server goes away before CONNACK: watch 'close' too.
    await new Promise<void>((resolve, reject) => {
      c.once('connect', () => resolve());
      c.once('error', reject);
      c.once('close', () => reject(new Error('connection closed before CONNACK')));
    }).catch((e: Error) => {
      c.end(true);
      throw e;
    });
    ledger.jitp.add(cn);
    ledger.note('jitp connected');
    // QoS 0 and a forced end: a racing connection of the same client ID may have taken this
    // session over, and a QoS 1 publish on a closed client would wait forever.
    c.publish(`${cn}/hello`, 'hi', { qos: 0 });
    await c.endAsync(true).catch(() => {});
    return true;
  } catch (e) {
    ledger.note(`jitp refused: ${(e as Error).message}`);
    return false;
  }
}

/**
 * Runs DPS, EST and JITP lanes (`lanes` of each) against `target` until `stop()` is true, each
 * lane taking new devices in turn; resolves when all lanes have finished their last attempt.
 */
export async function mixedLoad(
  target: () => Target,
  fleet: Fleet,
  ledger: Ledger,
  lanes: number,
  stop: () => boolean,
): Promise<void> {
  let n = 0;
  const run = async (face: 'dps' | 'est' | 'jitp') => {
    while (!stop()) {
      const id = `${face}-${n++}`;
      const t = target();
      let ok: boolean;
      if (face === 'dps') ok = await registerDevice(t, fleet.idScope, makeDevice(fleet.root, id), ledger);
      else if (face === 'est') ok = await enrollEst(t, id, ledger);
      else ok = await connectJitp(t, fleet, makeLeaf(fleet.root, id), ledger);
      // A device whose server is gone tries again a little later, as real ones do.
      if (!ok) await sleep(200);
    }
  };
  const faces = ['dps', 'est', 'jitp'] as const;
  // A DPS registration waits a Retry-After second before its poll: more lanes keep pace.
  await Promise.all(
    faces.flatMap((f) => Array.from({ length: f === 'dps' ? lanes * 4 : lanes }, () => run(f))),
  );
}

async function listAll(api: Api, path: string): Promise<any[]> {
  const items: any[] = [];
  let continuation: string | undefined;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const r = await api('GET', `${path}${sep}max=1000${continuation ? `&continuation=${continuation}` : ''}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    items.push(...r.body.items);
    continuation = r.body.continuation;
  } while (continuation);
  return items;
}

/**
 * Checks the store against the ledger: every acknowledged registration, certificate and thing
 * is there, with what the device was told, and nothing is there twice. Returns the record counts.
 */
export async function checkLedger(
  api: Api,
  fleet: Fleet,
  ledger: Ledger,
): Promise<{ registrations: number; certificates: number; things: number }> {
  const s = `/v1/tenants/${fleet.idScope}`;
  const registrations = await listAll(api, `${s}/registrations`);
  const ids = registrations.map((r) => r.registrationId as string);
  assert.equal(new Set(ids).size, ids.length, 'a device has two registration records');
  const byId = new Map(registrations.map((r) => [r.registrationId as string, r]));
  const lost: string[] = [];
  for (const [id, hubs] of ledger.dps) {
    const r = byId.get(id);
    if (r?.status !== 'assigned' || !hubs.has(r.assignedHub))
      lost.push(`${id} (${r?.status ?? 'missing'} ${r?.assignedHub ?? ''})`);
  }
  assert.deepEqual(lost, [], `acknowledged registrations lost or changed: ${lost.length}`);

  const certificates = await listAll(api, `${s}/certificates`);
  const cns = new Set(certificates.map((c) => /CN=([^,]+)/.exec(c.subject ?? '')?.[1]));
  const missing = [...ledger.est].filter((cn) => !cns.has(cn));
  assert.deepEqual(missing, [], 'EST certificates a device received are missing from the store');

  const things = await listAll(api, `${s}/iot/things`);
  const names = things.map((t) => t.thingName as string);
  assert.equal(new Set(names).size, names.length, 'a thing exists twice');
  const gone = [...ledger.jitp].filter((n) => !names.includes(n));
  assert.deepEqual(gone, [], 'things whose first connection was accepted are missing');
  const iotCerts = await listAll(api, `${s}/iot/certificates`);
  assert.equal(iotCerts.length, new Set(iotCerts.map((c) => c.certificateId)).size);
  return { registrations: registrations.length, certificates: certificates.length, things: things.length };
}

/** Waits until `done()`, printing the ledger every 5 s so that a slow or stuck case shows where it is. */
export async function waitFor(ledger: Ledger, what: string, done: () => boolean): Promise<void> {
  let last = performance.now();
  while (!done()) {
    await sleep(20);
    if (performance.now() - last > 5000) {
      last = performance.now();
      process.stdout.write(`# waiting for ${what}: ${ledger.acknowledged()}; ${ledger.summary()}\n`);
    }
  }
}

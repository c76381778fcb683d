/**
 * Hub allocation: hashed (weighted rendezvous hashing, stable per registration ID), static,
 * geoLatency (hubs in the request's region first) and custom (a webhook decides).
 */
import { readJsonAnswer } from '../webhook-answer.ts';
import { createHash } from 'node:crypto';
import { ZtError } from '../../errors.ts';
import type { EnrollmentGroup, IndividualEnrollment, InitialTwin } from '../enrollments/types.ts';
import type { LinkedHub } from '../hubs/types.ts';
import { idKey } from '../id-key.ts';

export interface AllocationRequest {
  kind: 'individual' | 'group';
  enrollment: IndividualEnrollment | EnrollmentGroup;
  registrationId: string;
  linkedHubs: LinkedHub[];
  /** Region of the request, for geoLatency. */
  region?: string;
  payload?: unknown;
  currentHub?: string;
  currentDeviceId?: string;
  /** Certificate facts passed to a custom webhook in deviceRuntimeContext.x509. */
  x509?: Record<string, unknown>;
}

export interface Allocation {
  hub: string;
  initialTwin?: InitialTwin;
  payload?: unknown;
}

/** Webhook time limit: a slow webhook fails the registration rather than hanging it. */
const WEBHOOK_TIMEOUT_MS = 10_000;

function candidates(r: AllocationRequest): LinkedHub[] {
  const e = r.enrollment;
  const listed = e.iotHubs?.length ? e.iotHubs : e.iotHubHostName ? [e.iotHubHostName] : undefined;
  const hubs = listed
    ? r.linkedHubs.filter((h) => listed.some((l) => idKey(l) === idKey(h.hostName)))
    : r.linkedHubs.filter((h) => h.applyAllocationPolicy);
  if (hubs.length === 0) {
    throw new ZtError(
      'ALLOCATION_FAILED',
      'no IoT hub can be assigned to this device; the operator has to link a hub to the ID scope or the enrollment',
      undefined,
      listed
        ? `none of the enrollment's hubs (${listed.join(', ')}) is linked to this ID scope any more; link them or edit iotHubs`
        : 'this ID scope has no linked hub to assign devices to; link one (zerotouch hub link <host>)',
    );
  }
  return hubs;
}

/** Weighted rendezvous hashing: the same device lands on the same hub while the hub set holds. */
export function hashedHub(registrationId: string, hubs: LinkedHub[]): LinkedHub {
  let best: LinkedHub | undefined;
  let bestScore = -Infinity;
  for (const h of hubs) {
    const d = createHash('sha256')
      .update(`${idKey(registrationId)}\n${idKey(h.hostName)}`)
      .digest();
    const u = (d.readUIntBE(0, 6) + 1) / 2 ** 48;
    const score = -Math.max(h.allocationWeight, 1) / Math.log(u);
    if (score > bestScore) {
      bestScore = score;
      best = h;
    }
  }
  return best!;
}

/** Chooses the hub for a registration under the enrollment's allocation policy. */
export async function allocate(r: AllocationRequest, fetchImpl: typeof fetch = fetch): Promise<Allocation> {
  const policy = r.enrollment.allocationPolicy ?? 'hashed';
  const hubs = candidates(r);
  switch (policy) {
    case 'static':
      return { hub: hubs[0].hostName };
    case 'geoLatency': {
      const near = r.region ? hubs.filter((h) => h.region.toLowerCase() === r.region!.toLowerCase()) : [];
      return { hub: hashedHub(r.registrationId, near.length ? near : hubs).hostName };
    }
    case 'custom':
      return callWebhook(r, hubs, fetchImpl);
    default:
      return { hub: hashedHub(r.registrationId, hubs).hostName };
  }
}

function webhookError(dpsErrorCode: number, message: string, operatorMessage?: string): ZtError {
  return new ZtError('WEBHOOK_FAILED', message, { dpsErrorCode }, operatorMessage);
}

async function callWebhook(
  r: AllocationRequest,
  hubs: LinkedHub[],
  fetchImpl: typeof fetch,
): Promise<Allocation> {
  const def = r.enrollment.customAllocationDefinition!;
  const body = {
    [r.kind === 'group' ? 'enrollmentGroup' : 'individualEnrollment']: r.enrollment,
    deviceRuntimeContext: {
      registrationId: r.registrationId,
      currentIotHubHostName: r.currentHub,
      currentDeviceId: r.currentDeviceId,
      x509: r.x509,
      payload: r.payload,
    },
    linkedHubs: hubs.map((h) => h.hostName),
  };
  let res: Response;
  try {
    res = await fetchImpl(def.webhookUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
    });
  } catch (e) {
    throw webhookError(
      400208,
      'Custom allocation failed: the allocation webhook could not be reached',
      `Custom allocation failed: the webhook ${new URL(def.webhookUrl).origin} could not be reached (${(e as Error).message})`,
    );
  }
  if (!res.ok) {
    const code = res.status === 401 || res.status === 403 ? 400209 : 400207;
    throw webhookError(code, `Custom allocation failed with status code: ${res.status}`);
  }
  let answer: Record<string, unknown>;
  try {
    answer = (await readJsonAnswer(res)) as Record<string, unknown>;
  } catch (e) {
    throw webhookError(
      400206,
      `Custom allocation failed: the webhook answer is not usable: ${(e as Error).message}`,
    );
  }
  const hub = answer?.iotHubHostName;
  if (typeof hub !== 'string' || !hubs.some((h) => idKey(h.hostName) === idKey(hub))) {
    throw webhookError(
      400206,
      'Custom allocation failed: the webhook chose a hub that is not linked to this ID scope',
      `Custom allocation failed: the webhook chose iotHubHostName ${JSON.stringify(hub)}, which is not one of the linked hubs (${hubs.map((h) => h.hostName).join(', ')})`,
    );
  }
  const linked = hubs.find((h) => idKey(h.hostName) === idKey(hub))!;
  return {
    hub: linked.hostName,
    initialTwin: (answer.initialTwin as InitialTwin | undefined) ?? undefined,
    payload: answer.payload,
  };
}

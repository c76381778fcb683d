/**
 * The builtin hub: this server answering the IoT Hub device protocol for devices DPS assigned to
 * a hub of kind `builtin`. A device is who its certificate says: the one it registered with (the
 * registry keeps its SHA-256), enabled, within its validity. Its twin is the registry's twin:
 * desired properties seeded from the enrollment's initial twin, reported properties the device
 * patches, each with a $version. Desired-property changes and direct method calls reach a
 * connected device through the transport that holds its connection.
 */
import { randomUUID } from 'node:crypto';
import { ZtError } from '../../errors.ts';
import type { Certificate } from '../../pki/certificate.ts';
import type { RevocationCheck } from '../enrollments/matching.ts';
import type { RegistryService } from '../registry/service.ts';
import type { RegistryDevice } from '../registry/types.ts';
import { mergePatch } from '../merge-patch.ts';
import type { HubService } from './service.ts';

/** A connected device of a builtin hub. */
export interface HubSession {
  tenantId: string;
  hub: string;
  deviceId: string;
}

/** How the hub reaches connected devices (the MQTT transport sets it). */
export interface HubDelivery {
  /** Publishes JSON to the device's connection; false when it is not connected here. */
  send(s: Pick<HubSession, 'tenantId' | 'hub' | 'deviceId'>, topic: string, payload: unknown): boolean;
  /** Publishes bytes as they are. */
  sendRaw(s: Pick<HubSession, 'tenantId' | 'hub' | 'deviceId'>, topic: string, body: Buffer): boolean;
  /**
   * Hands a message to the other gateway nodes, one of which may hold the device's connection
   * (absent with one node).
   */
  sendElsewhere?(s: Pick<HubSession, 'tenantId' | 'hub' | 'deviceId'>, topic: string, body: Buffer): void;
  /** Hands a method answer to the other nodes, one of which may be waiting for it. */
  answerElsewhere?(rid: string, status: number, payload: unknown): void;
  /** Closes the device's connection, on this node or another. */
  disconnect(s: Pick<HubSession, 'tenantId' | 'hub' | 'deviceId'>): void;
}

type Twin = { desired: Record<string, unknown>; reported: Record<string, unknown> };

/** Longest a direct method call waits for the device (IoT Hub's limit). */
const MAX_METHOD_TIMEOUT_S = 300;
/** Largest reported-properties patch accepted (IoT Hub: 32 KB of reported properties). */
const MAX_PATCH_BYTES = 32 * 1024;

/** IoT Hub's limit on the nesting of twin properties. */
const MAX_TWIN_DEPTH = 10;

/** How deep a JSON value nests (objects and arrays), counted up to `limit + 1`. */
export function depthOf(v: unknown, limit: number, d = 0): number {
  if (d > limit || typeof v !== 'object' || v === null) return d;
  let max = d + 1;
  for (const x of Object.values(v)) max = Math.max(max, depthOf(x, limit, d + 1));
  return max;
}

/** Applies a JSON merge patch (null removes a property) to twin properties; `$` keys are metadata. */
export function mergeTwinPatch(
  target: Record<string, unknown>,
  patch: Record<string, unknown>,
): Record<string, unknown> {
  return mergePatch(target, patch, (k) => k.startsWith('$'));
}

/** The builtin hub's device-facing and operator-facing operations. */
export class BuiltinHub {
  private readonly hubs: HubService;
  private readonly registry: RegistryService;
  private delivery: HubDelivery | undefined;
  private readonly pending = new Map<
    string,
    { resolve: (r: { status: number; payload: unknown }) => void; timer: NodeJS.Timeout }
  >();

  private readonly revocation: RevocationCheck | undefined;
  private readonly telemetry: (tenantId: string, kind: string, message: Record<string, unknown>) => void;

  constructor(
    hubs: HubService,
    registry: RegistryService,
    /** Where device-to-cloud messages go (the scope's event webhooks, through the outbox). */
    telemetry: (tenantId: string, kind: string, message: Record<string, unknown>) => void = () => undefined,
    /** Refuses chains holding a revoked certificate, by issuer and serial (what re-encoding keeps). */
    revocation?: RevocationCheck,
  ) {
    this.hubs = hubs;
    this.registry = registry;
    this.telemetry = telemetry;
    this.revocation = revocation;
  }

  /** A device-to-cloud message: its body and the properties the topic carried. */
  deviceMessage(s: HubSession, properties: Record<string, string>, body: Buffer): void {
    this.telemetry(s.tenantId, `devices/${s.deviceId}/messages/events`, {
      hub: s.hub,
      deviceId: s.deviceId,
      enqueuedTime: new Date().toISOString(),
      properties,
      body: body.toString('base64'),
    });
  }

  /** Sends a cloud-to-device message to a connected device. */
  async sendMessage(
    tenantId: string,
    hub: string,
    deviceId: string,
    body: string,
    properties: Record<string, string> = {},
  ): Promise<void> {
    const d = await this.registry.get(tenantId, hub, deviceId);
    const props = new URLSearchParams(properties).toString();
    const sent = this.deliver(
      tenantId,
      d,
      `devices/${deviceId}/messages/devicebound/${props}`,
      Buffer.from(body),
    );
    if (!sent)
      throw new ZtError(
        'NOT_FOUND',
        `device ${deviceId} is not connected to builtin hub ${d.hub}; cloud-to-device messages are delivered to connected devices only`,
        { rule: 'device-offline' },
      );
  }

  /** Sets how connected devices are reached. */
  setDelivery(d: HubDelivery): void {
    this.delivery = d;
  }

  /**
   * The device `deviceId` of builtin hub `hubHost`, if `chain`'s leaf is the certificate it
   * registered with; throws UNAUTHENTICATED saying why (for the operator's log).
   */
  async authenticate(hubHost: string, deviceId: string, chain: Certificate[]): Promise<HubSession> {
    const leaf = chain[0];
    if (!leaf) throw new ZtError('UNAUTHENTICATED', 'no client certificate in the TLS handshake');
    const now = Date.now();
    if (leaf.notAfter.getTime() < now || leaf.notBefore.getTime() > now)
      throw new ZtError(
        'UNAUTHENTICATED',
        `the client certificate of ${deviceId} is outside its validity period`,
      );
    for (const tenantId of await this.hubs.builtinScopes(hubHost)) {
      const d = await this.registry.find(tenantId, hubHost, deviceId);
      if (!d || d.certificate?.sha256Thumbprint !== leaf.sha256) continue;
      if (d.status !== 'enabled')
        throw new ZtError('UNAUTHENTICATED', `device ${deviceId} of hub ${hubHost} is disabled`);
      // The registry disables devices on revocation by thumbprint; a re-encoded copy of the
      // certificate has another thumbprint but the same issuer and serial, which this checks.
      await this.revocation?.assertNotRevoked(chain);
      return { tenantId, hub: d.hub, deviceId };
    }
    throw new ZtError(
      'UNAUTHENTICATED',
      `no device ${deviceId} of a builtin hub ${hubHost} registered with this certificate (SHA-256 ${leaf.sha256}); register it through DPS first`,
    );
  }

  private twinOf(d: RegistryDevice): Twin {
    const v = d.twinVersions ?? { desired: 1, reported: 1 };
    return {
      desired: { ...d.twin.properties.desired, $version: v.desired },
      reported: { ...d.twin.properties.reported, $version: v.reported },
    };
  }

  /** The device's twin properties, each with its $version. */
  async twin(s: HubSession): Promise<Twin> {
    return this.twinOf(await this.registry.get(s.tenantId, s.hub, s.deviceId));
  }

  /** Merges a reported-properties patch from the device; returns the new $version. */
  async patchReported(s: HubSession, patch: unknown): Promise<number> {
    if (typeof patch !== 'object' || patch === null || Array.isArray(patch))
      throw new ZtError('BAD_REQUEST', 'a reported-properties patch is a JSON object');
    // Depth first: it stops counting at the limit, where stringify would recurse all the way down.
    if (depthOf(patch, MAX_TWIN_DEPTH) > MAX_TWIN_DEPTH)
      throw new ZtError('BAD_REQUEST', `twin properties nest at most ${MAX_TWIN_DEPTH} levels deep`);
    if (JSON.stringify(patch).length > MAX_PATCH_BYTES)
      throw new ZtError('BODY_TOO_LARGE', `a reported-properties patch is at most ${MAX_PATCH_BYTES} bytes`);
    const d = await this.registry.update(s.tenantId, s.hub, s.deviceId, (d) => {
      mergeTwinPatch(d.twin.properties.reported, patch as Record<string, unknown>);
      const v = d.twinVersions ?? { desired: 1, reported: 1 };
      d.twinVersions = { ...v, reported: v.reported + 1 };
      d.lastActivityTime = new Date().toISOString();
      return d;
    });
    return d.twinVersions!.reported;
  }

  /** Merges a desired-properties patch (operator) and pushes it to the device when connected. */
  async patchDesired(
    tenantId: string,
    hub: string,
    deviceId: string,
    patch: Record<string, unknown>,
  ): Promise<RegistryDevice> {
    if (depthOf(patch, MAX_TWIN_DEPTH) > MAX_TWIN_DEPTH)
      throw new ZtError('BAD_REQUEST', `twin properties nest at most ${MAX_TWIN_DEPTH} levels deep`);
    const d = await this.registry.update(tenantId, hub, deviceId, (d) => {
      mergeTwinPatch(d.twin.properties.desired, patch);
      const v = d.twinVersions ?? { desired: 1, reported: 1 };
      d.twinVersions = { ...v, desired: v.desired + 1 };
      return d;
    });
    const version = d.twinVersions!.desired;
    this.deliver(
      tenantId,
      d,
      `$iothub/twin/PATCH/properties/desired/?$version=${version}`,
      Buffer.from(JSON.stringify({ ...patch, $version: version })),
    );
    return d;
  }

  /** Calls a direct method on a connected device and waits for its answer. */
  async invokeMethod(
    tenantId: string,
    hub: string,
    deviceId: string,
    methodName: string,
    payload: unknown,
    timeoutSeconds = 30,
  ): Promise<{ status: number; payload: unknown }> {
    const d = await this.registry.get(tenantId, hub, deviceId);
    if (!/^[\w.-]{1,100}$/.test(methodName))
      throw new ZtError(
        'BAD_REQUEST',
        `"${methodName}" is not a method name (letters, digits, "_", "." or "-")`,
      );
    const timeout = Math.min(Math.max(timeoutSeconds, 1), MAX_METHOD_TIMEOUT_S);
    const rid = randomUUID();
    const answer = new Promise<{ status: number; payload: unknown }>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(rid);
        reject(
          new ZtError('NOT_FOUND', `device ${deviceId} did not answer ${methodName} within ${timeout} s`, {
            rule: 'method-timeout',
          }),
        );
      }, timeout * 1000);
      this.pending.set(rid, { resolve, timer });
    });
    const sent = this.deliver(
      tenantId,
      d,
      `$iothub/methods/POST/${methodName}/?$rid=${rid}`,
      Buffer.from(JSON.stringify(payload ?? null)),
    );
    if (!sent) {
      clearTimeout(this.pending.get(rid)!.timer);
      this.pending.delete(rid);
      throw new ZtError(
        'NOT_FOUND',
        `device ${deviceId} is not connected to builtin hub ${d.hub}; it must be connected to receive a direct method`,
        { rule: 'device-offline' },
      );
    }
    return answer;
  }

  /**
   * Sends to the device on this node, else (when its record says it is connected) through the
   * other nodes; false when it is not connected anywhere.
   */
  private deliver(tenantId: string, d: RegistryDevice, topic: string, body: Buffer): boolean {
    const s = { tenantId, hub: d.hub, deviceId: d.deviceId };
    if (this.delivery?.sendRaw(s, topic, body)) return true;
    if (this.delivery?.sendElsewhere && d.connectionState === 'Connected') {
      this.delivery.sendElsewhere(s, topic, body);
      return true;
    }
    return false;
  }

  /** A method answer that arrived on another node (`rid` unknown there). */
  answerFromElsewhere(rid: string, status: number, payload: unknown): void {
    const p = this.pending.get(rid);
    if (!p) return;
    clearTimeout(p.timer);
    this.pending.delete(rid);
    p.resolve({ status, payload });
  }

  /** The device's answer to a method call (`rid` from the request topic). */
  methodResponse(rid: string, status: number, payload: unknown): void {
    const p = this.pending.get(rid);
    if (!p) {
      // The call may have been made on another node.
      this.delivery?.answerElsewhere?.(rid, status, payload);
      return;
    }
    clearTimeout(p.timer);
    this.pending.delete(rid);
    p.resolve({ status, payload });
  }

  /**
   * A device record changed: a device now disabled (by the operator or a revocation), moved away
   * or deleted loses its connection at once, as IoT Hub drops a disabled device.
   */
  async deviceChanged(c: { tenantId: string; hub: string; deviceId: string }): Promise<void> {
    if (!this.delivery) return;
    const d = await this.registry.find(c.tenantId, c.hub, c.deviceId);
    if (!d || d.status !== 'enabled') this.delivery.disconnect(c);
  }

  /** Records the device's connection state. */
  async setConnected(s: HubSession, connected: boolean): Promise<void> {
    await this.registry
      .update(s.tenantId, s.hub, s.deviceId, (d) => {
        d.connectionState = connected ? 'Connected' : 'Disconnected';
        d.lastActivityTime = new Date().toISOString();
        return d;
      })
      .catch(() => undefined);
  }
}

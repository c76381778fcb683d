/**
 * The AWS IoT events the gateway publishes: certificate registration (JITR) and presence
 * (lifecycle) events, with AWS's topics and payloads (reference section 3.3; DG life-cycle
 * events). They go to the broker's authorised subscribers and to the scope's webhooks.
 */
import { randomUUID } from 'node:crypto';

/** Where events go: the broker (set by the MQTT transport) and the webhook outbox. */
export interface EventSink {
  /** Publishes on the gateway's broker to subscribers the policies let receive it. */
  publish(tenantId: string, topic: string, payload: Record<string, unknown>): void;
}

export interface IotEvent {
  topic: string;
  payload: Record<string, unknown>;
}

/** `$aws/events/certificates/registered/<caCertificateId>`, as JITR publishes it. */
export function certificateRegistered(o: {
  certificateId: string;
  caCertificateId: string;
  accountId: string;
  registeredAt: string;
  sourceIp?: string;
}): IotEvent {
  return {
    topic: `$aws/events/certificates/registered/${o.caCertificateId}`,
    payload: {
      certificateId: o.certificateId,
      caCertificateId: o.caCertificateId,
      timestamp: Date.now(),
      certificateStatus: 'PENDING_ACTIVATION',
      awsAccountId: o.accountId,
      certificateRegistrationTimestamp: String(Date.parse(o.registeredAt)),
      ...(o.sourceIp ? { sourceIp: o.sourceIp } : {}),
    },
  };
}

/** `$aws/events/presence/connected/<clientId>`. */
export function connected(o: {
  clientId: string;
  principal: string;
  accountId: string;
  sessionId: string;
  ip?: string;
}): IotEvent {
  return {
    topic: `$aws/events/presence/connected/${o.clientId}`,
    payload: {
      clientId: o.clientId,
      timestamp: Date.now(),
      eventType: 'connected',
      sessionIdentifier: o.sessionId,
      principalIdentifier: o.principal,
      ipAddress: o.ip ?? '',
      versionNumber: 0,
    },
  };
}

/** `$aws/events/presence/disconnected/<clientId>`. */
export function disconnected(o: {
  clientId: string;
  principal: string;
  sessionId: string;
  clientInitiated: boolean;
  reason: string;
}): IotEvent {
  return {
    topic: `$aws/events/presence/disconnected/${o.clientId}`,
    payload: {
      clientId: o.clientId,
      timestamp: Date.now(),
      eventType: 'disconnected',
      sessionIdentifier: o.sessionId,
      principalIdentifier: o.principal,
      clientInitiatedDisconnect: o.clientInitiated,
      disconnectReason: o.reason,
      versionNumber: 0,
    },
  };
}

/** A fresh session identifier, as AWS gives each connection. */
export const newSessionId = () => randomUUID();

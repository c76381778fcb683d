// Secrets never reach a log line, also when they sit two levels deep in a logged object (a linked
// hub's broker password or webhook secret in a device change), and a change is logged without
// its hub record at all.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { changeFields } from './features/registry/service.ts';
import { createLogger } from './logger.ts';

const hub = {
  hostName: 'broker.example',
  kind: 'mosquitto' as const,
  region: '',
  allocationWeight: 1,
  applyAllocationPolicy: true,
  mosquitto: { url: 'mqtts://broker.example', username: 'admin', password: 'broker-password-1' },
  webhook: { url: 'https://hooks.example', secret: 'webhook-secret-1' },
};

function logged(fields: object): string {
  let out = '';
  createLogger('info', { write: (s: string) => void (out += s) }).warn(fields, 'test line');
  return out;
}

it('redacts a password or secret two levels deep', () => {
  const line = logged({ linkedHub: hub, nested: { token: 'tok-1' } });
  for (const secret of ['broker-password-1', 'webhook-secret-1', 'tok-1'])
    assert.doesNotMatch(line, new RegExp(secret), line);
  assert.match(line, /broker\.example/, 'the rest of the record stays');
});

it('logs a device change without its hub record', () => {
  const change = {
    tenantId: 't-1',
    hub: 'broker.example',
    deviceId: 'dev-1',
    registrationId: 'dev-1',
    what: 'assigned' as const,
    linkedHub: hub,
  };
  assert.deepEqual(changeFields(change), {
    tenantId: 't-1',
    hub: 'broker.example',
    deviceId: 'dev-1',
    registrationId: 'dev-1',
    what: 'assigned',
  });
  assert.doesNotMatch(logged({ err: new Error('x'), ...changeFields(change) }), /password|secret/);
});

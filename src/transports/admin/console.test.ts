// The web console in a real browser (Debian's Chromium, driven by playwright-core): an operator's
// day from signing in to revoking a certificate, with the Azure SDK as the device, openssl for the
// CA and the verification certificate, axe-core on every page, and the console's weight.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { chromium, type Browser, type Page } from 'playwright-core';
import { certificatePem } from '../../pki/certificate.ts';
import { adminClient } from '../../testing/admin.ts';
import { sdkRegister } from '../../testing/azure-sdk.ts';
import { opensslRoot, opensslSigned } from '../../testing/jitp.ts';
import { makeLeaf, makeRoot, opensslCsr, scratchDir } from '../../testing/pki.ts';
import { startTestServer, type TestServer } from '../../testing/server.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// Screenshots go where ZEROTOUCH_CONSOLE_SHOTS says (docs/console when the docs' pictures are
// renewed), else to a scratch directory.
const SHOTS = process.env.ZEROTOUCH_CONSOLE_SHOTS ?? scratchDir('zt-console-shots-');
const AXE = readFileSync(join(import.meta.dirname, '../../../node_modules/axe-core/axe.min.js'), 'utf8');
const run = promisify(execFile);

/** The serious and critical accessibility violations axe-core finds on the page as it is. */
async function axeViolations(page: Page): Promise<string[]> {
  // Evaluated through the DevTools protocol, so the console's CSP does not apply to axe itself.
  await page.evaluate(AXE);
  const result = await page.evaluate(() =>
    (globalThis as any).axe.run((globalThis as any).document, { resultTypes: ['violations'] }),
  );
  return (result.violations as Array<{ id: string; impact: string; help: string; nodes: unknown[] }>)
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help}, ${v.nodes.length} element(s)`);
}

describe('the web console in Chromium', { skip: !existsSync(CHROMIUM) && `no ${CHROMIUM}` }, () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  let scope = '';
  const dir = scratchDir('zt-console-');
  const problems: string[] = [];
  const consoleBytes = new Map<string, number>();
  const api = () => adminClient(server);

  /** Goes to a page of the current scope by its navigation link, and waits for its heading. */
  async function open(link: string, heading = link) {
    await page
      .getByRole('navigation', { name: 'Console' })
      .getByRole('link', { name: link, exact: true })
      .click();
    await page.getByRole('heading', { level: 1, name: heading }).waitFor();
  }

  async function shot(name: string) {
    await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  }

  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    server = await startTestServer();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) problems.push(`console: ${m.text()}`);
    });
    page.on('response', (r) => {
      const path = new URL(r.url()).pathname;
      if (path === '/' || path.startsWith('/console/'))
        consoleBytes.set(path, Number(r.headers()['content-length'] ?? 0));
    });
  });
  after(async () => {
    await browser?.close();
    await server?.dispose();
  });

  it('refuses a wrong token with the reason, then signs in with a good one', async () => {
    await page.goto(server.adminUrl);
    await page.getByLabel('API token').fill('zt_nosuch_token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'UNAUTHENTICATED' }).waitFor();
    await shot('sign-in');
    await page.getByLabel('API token').fill(server.adminToken!);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'ID scopes' }).waitFor();
  });

  it('creates an ID scope', async () => {
    await page.getByLabel('Name').fill('Factory');
    await page.getByRole('button', { name: 'Create ID scope' }).click();
    const notice = await page.getByRole('status').filter({ hasText: 'ID scope' }).textContent();
    scope = /ID scope (\w+)/.exec(notice ?? '')![1]!;
    await shot('scopes');
    await page.getByRole('link', { name: 'Factory' }).click();
    await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor();
    const hub = await api()('PUT', `/v1/tenants/${scope}/hubs/factory.hubs.example`, {});
    assert.ok(hub.status < 300, JSON.stringify(hub.body));
  });

  it('uploads a CA (as a chosen file) and verifies it with the openssl commands it shows (the certificate dropped in)', async () => {
    const ca = opensslRoot(dir, 'fleet-ca', '/CN=Fleet Root CA');
    await open('CA certificates');
    await page.getByLabel('Name', { exact: true }).fill('fleet-ca');
    await page.getByLabel('CA certificate (PEM): choose a file').setInputFiles(ca.pem);
    await page.getByRole('button', { name: 'Upload' }).click();
    await page.getByRole('heading', { level: 1, name: 'CA fleet-ca' }).waitFor();
    await page.getByRole('button', { name: 'Generate verification code' }).click();
    const commands = await page.getByLabel('openssl commands', { exact: true }).textContent();
    const code = await page.locator('code.code').textContent();
    assert.match(commands!, new RegExp(`/CN=${code}`));
    await shot('ca-verification');
    // The commands exactly as shown, run where the CA's files are.
    await run('bash', ['-e', '-c', commands!], { cwd: dir });
    // Dragged in as a file, as an operator drops it from the file manager.
    const dropZone = page.getByRole('textbox', { name: 'Verification certificate (PEM)' });
    await dropZone.evaluate(
      (el: any, text: string) => {
        const g = globalThis as any;
        const files = new g.DataTransfer();
        files.items.add(new g.File([text], 'verification.pem', { type: 'application/x-pem-file' }));
        el.dispatchEvent(new g.DragEvent('drop', { dataTransfer: files, bubbles: true, cancelable: true }));
      },
      readFileSync(join(dir, 'verification.pem'), 'utf8'),
    );
    // The page reads the dropped file asynchronously.
    for (let i = 0; i < 100 && !/BEGIN CERTIFICATE/.test(await dropZone.inputValue()); i++)
      await new Promise((r) => setTimeout(r, 20));
    assert.match(await dropZone.inputValue(), /BEGIN CERTIFICATE/);
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByText('Proof of possession is done.').waitFor();
    const got = await api()('GET', `/v1/tenants/${scope}/cas/fleet-ca`);
    assert.equal(got.body.isVerified, true);
  });

  it('creates a group enrollment, refuses invalid twin JSON, and saves edits with the etag', async () => {
    await open('Enrollment groups');
    await page.getByRole('link', { name: 'New group' }).click();
    await page.getByLabel('Group ID').fill('fleet');
    await page.getByLabel(/^CA certificate/).selectOption('fleet-ca');
    const twin = page.getByLabel('Initial twin (JSON)');
    await twin.fill('{"tags": {"site": "plant-1"');
    await page.getByText(/Not valid JSON/).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Create' }).isDisabled(), true);
    await twin.fill('{"tags": {"site": "plant-1"}, "properties": {"desired": {"interval": 30}}}');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.getByRole('heading', { level: 1, name: 'Group fleet' }).waitFor();
    await page.getByLabel('Migrate device data').uncheck();
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    const g = await api()('GET', `/v1/tenants/${scope}/enrollment-groups/fleet`);
    assert.equal(g.body.reprovisionPolicy.migrateDeviceData, false);
    assert.deepEqual(g.body.initialTwin.tags, { site: 'plant-1' });
    assert.equal(g.body.attestation.x509.caReferences.primary, 'fleet-ca');
    // Someone else changes it: the console's etag is stale and the save says so.
    await api()('PATCH', `/v1/tenants/${scope}/enrollment-groups/fleet`, {
      iotHubs: ['factory.hubs.example'],
    });
    await page.getByLabel('Migrate device data').check();
    await page.getByRole('button', { name: 'Save' }).click();
    await page
      .getByRole('alert')
      .filter({ hasText: /PRECONDITION|etag/i })
      .waitFor();
    await shot('group-enrollment');
  });

  it('shows a device the Azure SDK registered as assigned, and a refused device with its reason', async () => {
    const ca = { key: join(dir, 'fleet-ca.key'), pem: join(dir, 'fleet-ca.pem') };
    const sensor = opensslSigned(dir, 'sensor-01', '/CN=sensor-01', ca);
    const devRoot = certificatePem(server.devPki.root.certificate);
    const state = await sdkRegister(server.devicePort, devRoot, scope, {
      registrationId: 'sensor-01',
      chainPem: readFileSync(sensor.pem, 'utf8'),
      keyPem: readFileSync(sensor.key, 'utf8'),
      sha256: '',
    });
    assert.equal(state.assignedHub, 'factory.hubs.example');
    const other = opensslRoot(dir, 'other-ca');
    const stranger = opensslSigned(dir, 'stranger-01', '/CN=stranger-01', other);
    await assert.rejects(
      sdkRegister(server.devicePort, devRoot, scope, {
        registrationId: 'stranger-01',
        chainPem: readFileSync(stranger.pem, 'utf8'),
        keyPem: readFileSync(stranger.key, 'utf8'),
        sha256: '',
      }),
    );
    await open('Registrations');
    const row = page.getByRole('row').filter({ hasText: 'sensor-01' });
    await row.getByText('assigned').waitFor();
    await shot('registrations');
    await page.getByLabel('Registration ID').fill('stranger-01');
    await page.getByRole('button', { name: 'Look up' }).click();
    await page.getByRole('heading', { level: 1, name: 'Registration stranger-01' }).waitFor();
    const refusal = page.getByRole('row').filter({ hasText: 'refused' });
    await refusal.first().waitFor();
    const text = await refusal.first().textContent();
    assert.match(text!, /CA|chain|certificate/i, text!);
    await shot('registration-refused');
    await page.getByRole('link', { name: 'All registrations' }).click();
    await page.getByRole('link', { name: 'sensor-01' }).click();
    await page.getByText('factory.hubs.example').first().waitFor();
    await shot('registration-assigned');
  });

  it('disables a device in the registry and shows it', async () => {
    await open('Devices');
    await page.getByRole('link', { name: 'sensor-01' }).click();
    await page.getByRole('heading', { level: 1, name: 'Device sensor-01' }).waitFor();
    await page.getByRole('button', { name: 'Disable device' }).click();
    await page.getByRole('status').filter({ hasText: 'sensor-01 is disabled' }).waitFor();
    await page.getByRole('button', { name: 'Enable device' }).waitFor();
    const d = await api()('GET', `/v1/tenants/${scope}/devices/factory.hubs.example/sensor-01`);
    assert.equal(d.body.status, 'disabled');
    await shot('device');
  });

  it('adds a webhook receiver (its secret write-only) and removes it', async () => {
    await open('Webhooks');
    await page.getByLabel('URL').fill('https://ops.example.com/zerotouch');
    await page.getByLabel(/Signing secret/).fill('a-secret-of-24-characters');
    await page.getByRole('button', { name: 'Add' }).click();
    const row = page.getByRole('row').filter({ hasText: 'https://ops.example.com/zerotouch' });
    await row.getByText('HMAC-SHA256').waitFor();
    await page.getByLabel('URL').fill('https://ops.example.com/second');
    await page.getByRole('button', { name: 'Add' }).click();
    await page.getByRole('row').filter({ hasText: 'https://ops.example.com/second' }).waitFor();
    // The first receiver's secret went out masked and came back masked: it is kept, not replaced.
    const settings = await server.services.iot.registry.settings(
      (await server.services.tenants.getTenant(scope)).id,
    );
    assert.equal(settings.eventWebhooks[0]!.secret, 'a-secret-of-24-characters');
    page.once('dialog', (d) => void d.accept());
    await page.getByRole('button', { name: 'Remove https://ops.example.com/second' }).click();
    await page.getByRole('status').filter({ hasText: 'Removed' }).waitFor();
    await shot('webhooks');
  });

  it('finds an issued certificate and revokes it', async () => {
    const ica = await api()('POST', `/v1/tenants/${scope}/issuing-cas`, { name: 'devices' });
    assert.equal(ica.status, 201, JSON.stringify(ica.body));
    opensslCsr(join(dir, 'gateway-7'), '/CN=gateway-7');
    const issued = await api()('POST', `/v1/tenants/${scope}/certificates`, {
      csr: readFileSync(join(dir, 'gateway-7.csr.b64'), 'utf8'),
    });
    assert.equal(issued.status, 201, JSON.stringify(issued.body));
    await open('Issued certificates');
    await page.getByLabel('Subject contains').fill('gateway-7');
    await page.getByRole('button', { name: 'Search' }).click();
    const row = page.getByRole('row').filter({ hasText: 'gateway-7' });
    await row.getByText('valid').waitFor();
    await page.getByLabel('Revocation reason').selectOption('keyCompromise');
    page.once('dialog', (d) => void d.accept());
    await row.getByRole('button', { name: /Revoke/ }).click();
    await page.getByRole('status').filter({ hasText: 'Revoked' }).waitFor();
    await row.getByText('revoked').waitFor();
    await shot('certificates');
    const after = await api()('GET', `/v1/tenants/${scope}/certificates/${issued.body.serialNumber}`);
    assert.equal(after.body.status, 'revoked');
    assert.equal(after.body.revocationReason, 'keyCompromise');
  });

  it('tests a JITP template against a certificate, creating nothing', async () => {
    const ca = { key: join(dir, 'fleet-ca.key'), pem: join(dir, 'fleet-ca.pem') };
    const bulb = opensslSigned(dir, 'bulb', '/C=US/CN=lightbulb-1/serialNumber=LB-1', ca);
    const template = readFileSync(
      join(import.meta.dirname, '../../features/templates/testdata/dg-jitp-template.json'),
      'utf8',
    );
    await open('JITP and JITR');
    await page.getByLabel('Template', { exact: true }).selectOption('body');
    await page.getByLabel('Template body (JSON)').fill(template);
    await page
      .getByRole('textbox', { name: 'Device certificate (PEM)' })
      .fill(readFileSync(bulb.pem, 'utf8'));
    await page.getByRole('button', { name: 'Test' }).click();
    await page.getByRole('heading', { name: 'Thing lightbulb-1' }).waitFor();
    await page.getByText('groups: v1-lightbulbs, US').waitFor();
    await page.getByText('serialNumber=LB-1').first().waitFor();
    await shot('jitp-template-test');
    const things = await api()('GET', `/v1/tenants/${scope}/iot/things`);
    assert.deepEqual(things.body.items, []);
  });

  it('shows every page without a serious accessibility violation, at desktop and phone width', async () => {
    const pages = [
      ['Dashboard', 'Dashboard'],
      ['CA certificates', 'CA certificates'],
      ['Enrollment groups', 'Enrollment groups'],
      ['Individual enrollments', 'Individual enrollments'],
      ['Registrations', 'Registrations'],
      ['Devices', 'Devices'],
      ['Issued certificates', 'Issued certificates'],
      ['Issuing CAs and EST', 'Issuing CAs and EST'],
      ['JITP and JITR', 'JITP and JITR'],
      ['Things', 'Things'],
      ['Hubs', 'Hubs'],
      ['Webhooks', 'Webhooks'],
      ['Audit trail', 'Audit trail'],
      ['ID scopes', 'ID scopes'],
    ];
    const found: string[] = [];
    for (const [link, heading] of pages) {
      await open(link!, heading);
      await page.waitForLoadState('networkidle');
      for (const v of await axeViolations(page)) found.push(`${link}: ${v}`);
      await shot(`page-${link!.toLowerCase().replace(/\W+/g, '-')}`);
    }
    await page.setViewportSize({ width: 390, height: 844 });
    for (const [link, heading] of pages.slice(0, 5)) {
      await open(link!, heading);
      await page.waitForLoadState('networkidle');
      for (const v of await axeViolations(page)) found.push(`${link} (phone): ${v}`);
      await shot(`phone-${link!.toLowerCase().replace(/\W+/g, '-')}`);
    }
    await page.setViewportSize({ width: 1280, height: 800 });
    assert.deepEqual(found, []);
  });

  it('hides every writing control from a read-only token', async () => {
    const token = await api()('POST', '/v1/tokens', { name: 'viewer', scopes: ['read'], tenant: scope });
    assert.equal(token.status, 201, JSON.stringify(token.body));
    const viewer = await browser.newPage();
    try {
      await viewer.goto(server.adminUrl);
      await viewer.getByLabel('API token').fill(token.body.secret);
      await viewer.getByRole('button', { name: 'Sign in' }).click();
      await viewer.getByText('viewer (read-only)').waitFor();
      // A token limited to one scope sees that scope only, and lands in it.
      await viewer.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor();
      assert.deepEqual(await viewer.getByLabel('ID scope').locator('option').allTextContents(), [
        `Factory (${scope})`,
      ]);
      await viewer.getByRole('link', { name: 'CA certificates' }).click();
      await viewer.getByRole('link', { name: 'fleet-ca' }).waitFor();
      assert.equal(await viewer.getByRole('button', { name: /Upload|Delete/ }).count(), 0);
      await viewer.getByRole('link', { name: 'Enrollment groups' }).click();
      await viewer.getByRole('link', { name: 'fleet' }).waitFor();
      assert.equal(await viewer.getByRole('link', { name: 'New group' }).count(), 0);
      assert.equal(await viewer.getByRole('button', { name: /Disable|Delete/ }).count(), 0);
      await viewer.getByRole('link', { name: 'fleet' }).click();
      await viewer.getByRole('heading', { level: 1, name: 'Group fleet' }).waitFor();
      assert.equal(await viewer.getByRole('button', { name: 'Save' }).count(), 0);
    } finally {
      await viewer.close();
    }
  });

  it('renders a list of 1,000 enrollments (the time it takes is printed), and weighs under 300 KB', async () => {
    const root = makeRoot('Bulk Root');
    const enrollments = Array.from({ length: 1000 }, (_, i) => ({
      registrationId: `bulk-${String(i).padStart(4, '0')}`,
      attestation: {
        type: 'x509',
        x509: {
          clientCertificates: { primary: { certificate: certificatePem(makeLeaf(root, `bulk-${i}`).cert) } },
        },
      },
    }));
    const imported = await api()('POST', `/v1/tenants/${scope}/enrollments/import`, { enrollments });
    assert.equal(imported.body.created, 1000, JSON.stringify(imported.body).slice(0, 500));
    await open('Dashboard');
    const started = await page.evaluate(() => performance.now());
    await page
      .getByRole('navigation', { name: 'Console' })
      .getByRole('link', { name: 'Individual enrollments' })
      .click();
    await page.waitForFunction(
      () => {
        const d = (globalThis as any).document;
        return d.querySelector('table[aria-rowcount="1001"] tbody tr[aria-rowindex="2"]') !== null;
      },
      undefined,
      { polling: 'raf' },
    );
    const timing = await page.evaluate((t0) => {
      const now = performance.now();
      const lists = performance
        .getEntriesByType('resource')
        .filter((e) => e.name.includes('/enrollments?') && e.startTime >= t0) as any[];
      const answered = Math.max(...lists.map((e) => e.responseEnd));
      return { total: now - t0, render: now - answered };
    }, started);
    console.log(
      `1,000 enrollments: on screen ${timing.total.toFixed(0)} ms after the click, ${timing.render.toFixed(0)} ms after the API answered`,
    );
    // Scrolled to the end, the last enrollment is there (the rows in view follow the scroll).
    await page.locator('.windowed').evaluate((el: any) => (el.scrollTop = el.scrollHeight));
    await page.getByRole('link', { name: 'bulk-0999' }).waitFor();
    await shot('enrollments-1000');
    assert.deepEqual(await axeViolations(page), []);
    const total = [...consoleBytes.values()].reduce((a, b) => a + b, 0);
    console.log(`the console: ${consoleBytes.size} files, ${(total / 1024).toFixed(1)} KB compressed`);
    assert.ok(consoleBytes.size >= 10, [...consoleBytes.keys()].join(' '));
    assert.ok(total < 300 * 1024, `the console weighs ${total} bytes compressed`);
  });

  it('ran without a page error or a Content-Security-Policy violation', () => {
    assert.deepEqual(problems, []);
  });
});

describe('the console on the admin listener', () => {
  it('is served without a token, compressed, with a strict CSP; the API behind it still needs one', async () => {
    const server = await startTestServer();
    try {
      const index = await fetch(server.adminUrl + '/', { headers: { 'accept-encoding': 'gzip' } });
      assert.equal(index.status, 200);
      const csp = index.headers.get('content-security-policy')!;
      assert.match(csp, /default-src 'none'/);
      assert.match(csp, /script-src 'self' 'sha256-[A-Za-z0-9+/=]+'(;|$)/);
      assert.doesNotMatch(csp, /unsafe/);
      assert.equal(index.headers.get('x-frame-options'), 'DENY');
      assert.match(await index.text(), /<script type="importmap">/);
      const app = await fetch(server.adminUrl + '/console/app.js', {
        headers: { 'accept-encoding': 'gzip' },
      });
      assert.equal(app.headers.get('content-encoding'), 'gzip');
      assert.match(app.headers.get('content-type')!, /text\/javascript/);
      const again = await fetch(server.adminUrl + '/console/app.js', {
        headers: { 'if-none-match': app.headers.get('etag')! },
      });
      assert.equal(again.status, 304);
      assert.equal((await fetch(server.adminUrl + '/console/..%2f..%2fpackage.json')).status, 404);
      assert.equal((await fetch(server.adminUrl + '/console/nosuch.js')).status, 404);
      assert.equal((await fetch(server.adminUrl + '/v1/tenants')).status, 401);
      const me = await adminClient(server)('GET', '/v1/token');
      assert.deepEqual(me.body, { id: me.body.id, name: 'bootstrap admin', scopes: ['admin'], tenant: null });
    } finally {
      await server.dispose();
    }
  });

  it('is off with admin.console = false: / then needs a token like any other path', async () => {
    const server = await startTestServer({ flags: { 'admin.console': false } });
    try {
      assert.equal((await fetch(server.adminUrl + '/')).status, 401);
      assert.equal((await fetch(server.adminUrl + '/console/app.js')).status, 401);
      assert.equal((await adminClient(server)('GET', '/console/app.js')).status, 404);
    } finally {
      await server.dispose();
    }
  });
});

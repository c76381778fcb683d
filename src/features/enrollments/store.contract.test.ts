import assert from 'node:assert/strict';
import { it } from 'node:test';
import { isZtError } from '../../errors.ts';
import { describeEachStore } from '../../store/testing.ts';
import { newTenant } from '../../testing/store.ts';
import { type GroupSigners, KyselyEnrollmentStore } from './store.ts';
import type { EnrollmentGroup, IndividualEnrollment } from './types.ts';

const NO_SIGNERS: GroupSigners = { signer1: null, signer2: null, caRef1: null, caRef2: null };

function individual(registrationId: string, etag: string): IndividualEnrollment {
  const now = new Date().toISOString();
  return {
    registrationId,
    attestation: { type: 'x509', x509: {} },
    capabilities: { iotEdge: false },
    provisioningStatus: 'enabled',
    reprovisionPolicy: { updateHubAssignment: true, migrateDeviceData: true },
    etag,
    createdDateTimeUtc: now,
    lastUpdatedDateTimeUtc: now,
  };
}

function group(enrollmentGroupId: string, etag = '"g"'): EnrollmentGroup {
  const { registrationId: _, ...rest } = individual('x', etag);
  return { ...rest, enrollmentGroupId };
}

describeEachStore('enrollment store', (getStore) => {
  const store = () => new KyselyEnrollmentStore(getStore().db);

  it('writes many individual enrollments in one transaction and deletes by a literal prefix', async () => {
    const t = await newTenant(getStore());
    const s = store();
    const many = Array.from({ length: 120 }, (_, i) => individual(`Line_A-${i}`, `"${i}"`));
    await s.putIndividuals(t.id, many, false);
    assert.equal((await s.existingIndividuals(t.id, ['line_a-3', 'LINE_A-119', 'other'])).size, 2);
    // Inserting an existing ID fails the whole chunk: nothing of it is written.
    await assert.rejects(
      s.putIndividuals(t.id, [individual('new-1', '"n"'), individual('Line_A-5', '"x"')], false),
    );
    assert.equal((await s.existingIndividuals(t.id, ['new-1'])).size, 0);
    await s.putIndividuals(t.id, [individual('Line_A-5', '"replaced"')], true);
    assert.equal((await s.findEnrollment(t.id, 'individual', 'line_a-5'))?.etag, '"replaced"');
    await s.putIndividuals(t.id, [individual('LineXA-1', '"y"')], false);
    assert.equal((await s.deleteByPrefix(t.id, 'individual', 'line_a-', true)).length, 120, 'dry run');
    assert.equal((await s.deleteByPrefix(t.id, 'individual', 'Line_A-', false)).length, 120);
    assert.ok(await s.findEnrollment(t.id, 'individual', 'LineXA-1'), '"_" is not a wildcard');
  });

  it('creates only what does not exist, replaces only on a matching etag, and finds IDs in any case', async () => {
    const t = await newTenant(getStore());
    const s = store();
    assert.equal(
      await s.putEnrollment(t.id, 'individual', 'Dev-1', individual('Dev-1', '"1"'), NO_SIGNERS, null),
      true,
    );
    assert.equal(
      await s.putEnrollment(t.id, 'individual', 'dev-1', individual('dev-1', '"x"'), NO_SIGNERS, null),
      false,
    );
    assert.equal(
      await s.putEnrollment(t.id, 'individual', 'dev-1', individual('Dev-1', '"2"'), NO_SIGNERS, '"stale"'),
      false,
    );
    assert.equal(
      await s.putEnrollment(t.id, 'individual', 'DEV-1', individual('Dev-1', '"2"'), NO_SIGNERS, '"1"'),
      true,
    );
    const got = await s.findEnrollment<IndividualEnrollment>(t.id, 'individual', 'dev-1');
    assert.equal(got?.etag, '"2"');
    assert.equal(got?.doc.registrationId, 'Dev-1');
    assert.equal(await s.findEnrollment(t.id, 'group', 'dev-1'), undefined, 'the kinds are separate');
    assert.equal(
      await s.putEnrollment(t.id, 'individual', 'dev-1', individual('Dev-1', '"3"'), NO_SIGNERS, undefined),
      true,
    );
    assert.equal((await s.findEnrollment(t.id, 'individual', 'dev-1'))?.etag, '"3"');
  });

  it('lets exactly one of several racing creates or conditional updates win', async () => {
    const t = await newTenant(getStore());
    const s = store();
    const creates = await Promise.all(
      [1, 2, 3, 4, 5].map((i) =>
        s.putEnrollment(t.id, 'group', 'race', group('race', `"c${i}"`), NO_SIGNERS, null),
      ),
    );
    assert.equal(creates.filter(Boolean).length, 1);
    const current = (await s.findEnrollment(t.id, 'group', 'race'))!.etag;
    const updates = await Promise.all(
      [1, 2, 3, 4, 5].map((i) =>
        s.putEnrollment(t.id, 'group', 'race', group('race', `"u${i}"`), NO_SIGNERS, current),
      ),
    );
    assert.equal(updates.filter(Boolean).length, 1);
  });

  it('finds the groups bound to certificates or CA names of a chain, and only those', async () => {
    const a = await newTenant(getStore());
    const b = await newTenant(getStore());
    const s = store();
    const sha = (c: string) => c.repeat(64);
    await s.putEnrollment(
      a.id,
      'group',
      'by-signer',
      group('by-signer'),
      { ...NO_SIGNERS, signer1: sha('a') },
      null,
    );
    await s.putEnrollment(
      a.id,
      'group',
      'by-second',
      group('by-second'),
      { ...NO_SIGNERS, signer1: sha('f'), signer2: sha('b') },
      null,
    );
    await s.putEnrollment(
      a.id,
      'group',
      'by-ca',
      group('by-ca'),
      { ...NO_SIGNERS, caRef1: 'plant-root' },
      null,
    );
    await s.putEnrollment(
      a.id,
      'individual',
      'lookalike',
      individual('lookalike', '"i"'),
      { ...NO_SIGNERS, signer1: sha('a') },
      null,
    );
    await s.putEnrollment(
      b.id,
      'group',
      'elsewhere',
      group('elsewhere'),
      { ...NO_SIGNERS, signer1: sha('a') },
      null,
    );
    const ids = async (shas: string[], names: string[]) =>
      (await s.findGroupsFor(a.id, shas, names)).map((g) => g.enrollmentGroupId).sort();
    assert.deepEqual(await ids([sha('a')], []), ['by-signer']);
    assert.deepEqual(await ids([sha('b'), sha('c')], []), ['by-second']);
    assert.deepEqual(await ids([], ['Plant-Root']), ['by-ca']);
    assert.deepEqual(await ids([sha('a')], ['plant-root']), ['by-ca', 'by-signer']);
    assert.deepEqual(await ids([], []), []);
    assert.deepEqual(await ids([sha('d')], ['other']), []);
  });

  it('lists one kind in pages ordered by ID and deletes on a matching etag only', async () => {
    const t = await newTenant(getStore());
    const s = store();
    for (const id of ['c', 'A', 'b', 'd', 'e']) {
      await s.putEnrollment(t.id, 'individual', id, individual(id, `"${id}"`), NO_SIGNERS, null);
    }
    await s.putEnrollment(t.id, 'group', 'g', group('g'), NO_SIGNERS, null);
    const seen: string[] = [];
    let continuation: string | undefined;
    do {
      const page = await s.listEnrollments<IndividualEnrollment>(t.id, 'individual', 2, continuation);
      assert.ok(page.items.length <= 2);
      seen.push(...page.items.map((e) => e.registrationId));
      continuation = page.continuation;
    } while (continuation);
    assert.deepEqual(seen, ['A', 'b', 'c', 'd', 'e']);
    await assert.rejects(s.listEnrollments(t.id, 'individual', 2, '-1'), (e) => isZtError(e, 'BAD_REQUEST'));
    assert.equal(await s.deleteEnrollment(t.id, 'individual', 'a', '"wrong"'), false);
    assert.equal(await s.deleteEnrollment(t.id, 'individual', 'a', '"A"'), true);
    assert.equal(await s.deleteEnrollment(t.id, 'individual', 'B'), true);
    assert.equal(await s.deleteEnrollment(t.id, 'individual', 'b'), false);
    await t.remove();
    assert.equal(await s.findEnrollment(t.id, 'group', 'g'), undefined);
  });
});

/**
 * What a rule asks changes() for: the envelope only for text filters and envelope values in the
 * field mapping, the structure only for attachment filters.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { summaryDetailFor } from '../../src/connect/sync/detail.ts';
import { MAIL_VALUES } from '../../src/connect/types.ts';

describe('summaryDetailFor', () => {
  test('no filter, no mapping (or fixed values, folder, account): neither', () => {
    assert.deepEqual(summaryDetailFor({}, {}), { envelope: false, structure: false });
    assert.deepEqual(
      summaryDetailFor({ unreadOnly: true, maxAgeDays: 30 }, { Kind: { value: 'invoice' }, Folder: { from: 'folder' }, Account: { from: 'account' } }),
      { envelope: false, structure: false },
    );
  });

  test('each text filter needs the envelope', () => {
    for (const filters of [{ from: { contains: 'müller' } }, { to: { regex: '^a' } }, { subject: { contains: '請求書' } }]) {
      assert.deepEqual(summaryDetailFor(filters, {}), { envelope: true, structure: false }, JSON.stringify(filters));
    }
  });

  test('each attachment filter needs the structure', () => {
    assert.deepEqual(summaryDetailFor({ hasAttachment: true }, {}), { envelope: false, structure: true });
    assert.deepEqual(summaryDetailFor({ attachmentTypes: ['pdf'] }, {}), { envelope: false, structure: true });
    assert.deepEqual(summaryDetailFor({ attachmentTypes: [] }, {}), { envelope: false, structure: false });
  });

  test('every mail value but folder and account needs the envelope', () => {
    for (const value of MAIL_VALUES) {
      const { envelope } = summaryDetailFor({}, { Field: { from: value } });
      assert.equal(envelope, value !== 'folder' && value !== 'account', value);
    }
  });
});

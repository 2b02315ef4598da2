/**
 * sync.ledgerRecordMany (one multi-row upsert per archived batch) leaves the ledger exactly as
 * ledgerRecord row by row does, on SQLite and PostgreSQL: new rows start at attempt 1 with the
 * mailbox action not done; recording a key again updates status, document, reason and subject,
 * counts the attempt and keeps when it was first seen and whether the action was done; a key
 * given twice in one call counts twice; more rows than one statement takes are all written.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { LedgerKey, LedgerValue, Store } from '../../src/store/index.ts';
import { dialects, openTestStore, type TestStore } from '../support/databases.ts';

const T1 = '2024-05-01T12:00:00.000Z';
const T2 = '2024-05-02T12:00:00.000Z';

/** An org, a cabinet, an IMAP service, an account and a rule: what a ledger row refers to. */
async function newRule(store: Store): Promise<{ orgId: string; ruleId: string }> {
  const orgId = randomUUID();
  await store.orgs.insert({ id: orgId, name: `org-${orgId}`, created_at: T1 });
  const cabinetId = randomUUID();
  await store.cabinets.insert({ id: cabinetId, org_id: orgId, name: 'Mail', created_at: T1 });
  const serviceId = randomUUID();
  await store.mailConfig.insertService({
    id: serviceId, org_id: orgId, name: 'imap', kind: 'imap', host: 'imap.example.test', port: 993, security: 'tls', tls_mode: 'verify', tls_fingerprint: null,
    auth_type: 'basic', username: null, secret: null, from_address: null, from_name: null, rate_limit_per_minute: null, settings_json: '{}', created_at: T1, updated_at: T1,
  });
  const accountId = randomUUID();
  await store.mailConfig.insertAccount({ id: accountId, org_id: orgId, service_id: serviceId, name: 'inbox', username: 'u', secret: null, owner_user_id: null, shared: 1, created_at: T1, updated_at: T1 });
  const ruleId = randomUUID();
  await store.mailConfig.insertRule({
    id: ruleId, org_id: orgId, name: 'rule', account_id: accountId, cabinet_id: cabinetId, folders_json: '["INBOX"]', include_subfolders: 0, filters_json: '{}',
    mapping_json: '{}', action_json: '{"type":"none"}', interval_seconds: 300, use_idle: 0, enabled: 1, created_at: T1, updated_at: T1,
  });
  return { orgId, ruleId };
}

for (const dialect of dialects()) {
  describe(`sync ledger, many rows at once (${dialect})`, () => {
    let t: TestStore;
    let store: Store;
    before(async () => {
      t = await openTestStore(dialect);
      store = t.store;
    });
    after(async () => {
      await t?.cleanup();
    });

    const key = (ruleId: string, k: string): LedgerKey => ({ ruleId, folder: 'INBOX', epoch: '7', key: k });
    const value = (orgId: string, v: Partial<LedgerValue>): LedgerValue => ({ orgId, status: 'archived', documentId: null, reason: null, subject: 'Grüße', now: T1, ...v });

    test('inserts new rows and updates known ones as ledgerRecord does', async () => {
      const { orgId, ruleId } = await newRule(store);
      await store.sync.ledgerRecordMany([
        [key(ruleId, '1'), value(orgId, { documentId: 'd1', subject: 'Rechnung 請求書' })],
        [key(ruleId, '2'), value(orgId, { status: 'failed', reason: 'PARSE: broken', subject: 'kaputt' })],
        [key(ruleId, '3'), value(orgId, { status: 'duplicate', documentId: 'd0' })],
      ]);
      await store.sync.ledgerActionDone(ruleId, 'INBOX', '7', ['3'], T1);
      await store.sync.ledgerRecordMany([
        [key(ruleId, '2'), value(orgId, { documentId: 'd2', subject: 'repariert', now: T2 })],
        [key(ruleId, '3'), value(orgId, { status: 'duplicate', documentId: 'd0', now: T2 })],
        [key(ruleId, '4'), value(orgId, { status: 'failed', reason: 'FETCH: gone', now: T2 })],
      ]);
      const rows = new Map((await store.sync.ledgerMany(ruleId, 'INBOX', '7', ['1', '2', '3', '4'])).map((r) => [r.msg_key, r]));
      const pick = (k: string) => {
        const r = rows.get(k);
        assert.ok(r, `row ${k}`);
        return { status: r.status, document_id: r.document_id, reason: r.reason, subject: r.subject, attempts: Number(r.attempts), action_done: Number(r.action_done), first: new Date(r.first_seen_at).toISOString(), updated: new Date(r.updated_at).toISOString() };
      };
      assert.deepEqual(pick('1'), { status: 'archived', document_id: 'd1', reason: null, subject: 'Rechnung 請求書', attempts: 1, action_done: 0, first: T1, updated: T1 });
      assert.deepEqual(pick('2'), { status: 'archived', document_id: 'd2', reason: null, subject: 'repariert', attempts: 2, action_done: 0, first: T1, updated: T2 });
      assert.deepEqual(pick('3'), { status: 'duplicate', document_id: 'd0', reason: null, subject: 'Grüße', attempts: 2, action_done: 1, first: T1, updated: T2 });
      assert.deepEqual(pick('4'), { status: 'failed', document_id: null, reason: 'FETCH: gone', subject: 'Grüße', attempts: 1, action_done: 0, first: T2, updated: T2 });
    });

    test('a key given twice in one call counts twice, the later values win', async () => {
      const { orgId, ruleId } = await newRule(store);
      await store.sync.ledgerRecordMany([
        [key(ruleId, '9'), value(orgId, { status: 'failed', reason: 'first' })],
        [key(ruleId, '9'), value(orgId, { status: 'failed', reason: 'second', now: T2 })],
      ]);
      const [row] = await store.sync.ledgerMany(ruleId, 'INBOX', '7', ['9']);
      assert.equal(row?.reason, 'second');
      assert.equal(Number(row?.attempts), 2);
    });

    test('more rows than one statement takes: all written', async () => {
      const { orgId, ruleId } = await newRule(store);
      const keys = Array.from({ length: 1203 }, (_, i) => String(i + 1));
      await store.sync.ledgerRecordMany(keys.map((k) => [key(ruleId, k), value(orgId, { documentId: `d${k}` })]));
      const rows = await store.sync.ledgerMany(ruleId, 'INBOX', '7', keys);
      assert.equal(rows.length, keys.length);
      assert.ok(rows.every((r) => r.document_id === `d${r.msg_key}` && Number(r.attempts) === 1));
    });
  });
}

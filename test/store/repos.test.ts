import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Kysely } from 'kysely';
import { indexTerms, queryTerms } from '../../src/archive/search/terms.ts';
import { migrate } from '../../src/store/index.ts';
import type { AttachmentRow, DocumentRow, DocumentWrite, LedgerKey, LedgerValue, NewDocument, SearchFilter, Store, UserRow } from '../../src/store/index.ts';
import { dialects, openTestStore, type TestStore } from '../support/databases.ts';

const sha = (text: string): string => createHash('sha256').update(text).digest('hex');
const iso = (s: string): string => new Date(s).toISOString();
const NOW = iso('2024-05-01T12:00:00Z');
const T2 = iso('2024-05-02T12:00:00Z');

async function newOrg(store: Store, name = `org-${randomUUID()}`): Promise<string> {
  const id = randomUUID();
  await store.orgs.insert({ id, name, created_at: NOW });
  return id;
}

async function newCabinet(store: Store, orgId: string, name = `cab-${randomUUID()}`): Promise<string> {
  const id = randomUUID();
  await store.cabinets.insert({ id, org_id: orgId, name, created_at: NOW });
  return id;
}

/** An IMAP service, an account and a rule in a new org: what a ledger row refers to. */
async function newRule(store: Store): Promise<{ orgId: string; ruleId: string }> {
  const orgId = await newOrg(store);
  const cabinetId = await newCabinet(store, orgId, 'Mail');
  const serviceId = randomUUID();
  await store.mailConfig.insertService({
    id: serviceId, org_id: orgId, name: 'imap', kind: 'imap', host: 'imap.example.test', port: 993, security: 'tls', tls_mode: 'verify', tls_fingerprint: null,
    auth_type: 'basic', username: null, secret: null, from_address: null, from_name: null, rate_limit_per_minute: null, settings_json: '{}', created_at: NOW, updated_at: NOW,
  });
  const accountId = randomUUID();
  await store.mailConfig.insertAccount({ id: accountId, org_id: orgId, service_id: serviceId, name: 'inbox', username: 'u', secret: null, owner_user_id: null, shared: 1, created_at: NOW, updated_at: NOW });
  const ruleId = randomUUID();
  await store.mailConfig.insertRule({
    id: ruleId, org_id: orgId, name: 'rule', account_id: accountId, cabinet_id: cabinetId, folders_json: '["INBOX"]', include_subfolders: 0, filters_json: '{}',
    mapping_json: '{}', action_json: '{"type":"none"}', interval_seconds: 300, use_idle: 0, enabled: 1, created_at: NOW, updated_at: NOW,
  });
  return { orgId, ruleId };
}

function user(orgId: string, email: string, extra: Partial<UserRow> = {}): UserRow {
  return { id: randomUUID(), org_id: orgId, email, name: 'Test User', role: 'user', language: 'en', password_hash: null, created_at: NOW, ...extra };
}

interface DocSpec {
  org: string;
  cabinet: string;
  text: string;
  subject?: string;
  /** Bytes of the "message"; defaults to something unique. */
  bytes?: string;
  messageId?: string | null;
  date?: string | null;
  archivedAt?: string;
  from?: { name: string; address: string };
  to?: string[];
  cc?: string[];
  attachments?: string[];
}

function doc(s: DocSpec): DocumentWrite {
  const id = randomUUID();
  const from = s.from ?? { name: 'Alice Example', address: 'alice@example.test' };
  const subject = s.subject ?? s.text.slice(0, 40);
  const attachments: AttachmentRow[] = (s.attachments ?? []).map((filename, idx) => ({
    document_id: id,
    idx,
    filename,
    content_type: 'application/pdf',
    size: 100 + idx,
    sha256: sha(`${id}/${idx}`),
    part_path: String(idx + 2),
  }));
  const row: NewDocument = {
    fields_json: "{}",
    id,
    org_id: s.org,
    cabinet_id: s.cabinet,
    message_id: s.messageId === undefined ? `${id}@example.test` : s.messageId,
    sha256: sha(s.bytes ?? `bytes of ${id}`),
    size: (s.bytes ?? id).length,
    subject,
    from_name: from.name,
    from_address: from.address,
    to_json: JSON.stringify((s.to ?? ['bob@example.test']).map((address) => ({ name: '', address }))),
    cc_json: JSON.stringify((s.cc ?? []).map((address) => ({ name: '', address }))),
    date: s.date === undefined ? NOW : s.date,
    in_reply_to: null,
    references_json: '[]',
    attachment_count: attachments.length,
    attachment_names: attachments.map((a) => a.filename).join('\n'),
    source: 'test',
    archived_at: s.archivedAt ?? NOW,
    content_differs: 0,
    warnings_json: '[]',
    preview: s.text.slice(0, 200),
  };
  const terms = indexTerms([subject, `${from.name} ${from.address}`, s.text, ...(s.attachments ?? [])].join('\n'));
  return { doc: row, attachments, terms };
}

/** A document row as written: without SQLite's internal full-text tie (migration 005). */
function withoutSeq(row: DocumentRow | undefined): Omit<DocumentRow, 'fts_seq'> | undefined {
  if (row === undefined) return undefined;
  const { fts_seq: _seq, ...rest } = row;
  return rest;
}

async function insertOne(store: Store, s: DocSpec): Promise<string> {
  const [out] = await store.documents.insertMany([doc(s)]);
  assert.ok(out?.inserted, 'document inserted');
  return out.id;
}

async function search(store: Store, orgId: string, query: string, extra: Partial<SearchFilter> = {}): Promise<{ total: number; ids: string[] }> {
  const page = await store.documents.search({ orgId, terms: queryTerms(query), limit: 50, offset: 0, ...extra });
  return { total: page.total, ids: page.rows.map((r) => r.id) };
}

async function expectViolation(p: Promise<unknown>): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof Error);
    assert.match(err.message, /unique|duplicate/i);
    return true;
  });
}

for (const dialect of dialects()) {
  describe(dialect, () => {
    let t: TestStore;
    let store: Store;
    before(async () => {
      t = await openTestStore(dialect);
      store = t.store;
    });
    after(async () => {
      await t?.cleanup();
    });

    test('migrations are idempotent', async () => {
      assert.equal(store.db.dialect, dialect);
      const k = store.db.kysely as unknown as Kysely<unknown>;
      assert.deepEqual(await migrate({ kysely: k, dialect }), []);
      assert.deepEqual(await migrate({ kysely: k, dialect }), []);
      const orgId = await newOrg(store);
      assert.ok(await store.orgs.byId(orgId), 'the schema still works');
    });

    describe('orgs, users, credentials, cabinets', () => {
      test('orgs: insert, look up, list, unique name', async () => {
        const name = `Ärger & Söhne ${randomUUID()}`;
        const id = await newOrg(store, name);
        assert.deepEqual(await store.orgs.byId(id), { id, name, created_at: NOW });
        assert.deepEqual(await store.orgs.byName(name), { id, name, created_at: NOW });
        assert.equal(await store.orgs.byId(randomUUID()), undefined);
        assert.equal(await store.orgs.byName('no such org'), undefined);
        const names = (await store.orgs.list()).map((o) => o.name);
        assert.ok(names.includes(name));
        assert.deepEqual(names, [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
        await expectViolation(store.orgs.insert({ id: randomUUID(), name, created_at: NOW }));
      });

      test('users: CRUD and email unique across orgs', async () => {
        const orgA = await newOrg(store);
        const orgB = await newOrg(store);
        const email = `käthe-${randomUUID()}@example.test`;
        const u = user(orgA, email, { role: 'admin', language: 'de', password_hash: 'scrypt$x' });
        await store.users.insert(u);
        assert.deepEqual(await store.users.byId(u.id), u);
        assert.deepEqual(await store.users.byEmail(email), u);
        await expectViolation(store.users.insert(user(orgA, email)));
        await expectViolation(store.users.insert(user(orgB, email)));

        const u2 = user(orgA, `a-${randomUUID()}@example.test`);
        await store.users.insert(u2);
        assert.deepEqual((await store.users.listByOrg(orgA)).map((x) => x.id).sort(), [u.id, u2.id].sort());
        assert.deepEqual(await store.users.listByOrg(orgB), []);
        assert.ok((await store.users.countAdmins()) >= 1);

        await store.users.setPassword(u2.id, 'scrypt$new');
        assert.equal((await store.users.byId(u2.id))?.password_hash, 'scrypt$new');
        assert.equal(await store.users.update(u2.id, orgB, { name: 'wrong org' }), 0);
        assert.equal(await store.users.update(u2.id, orgA, { name: 'Zoë', language: 'ru' }), 1);
        const updated = await store.users.byId(u2.id);
        assert.equal(updated?.name, 'Zoë');
        assert.equal(updated?.language, 'ru');
        assert.equal(await store.users.remove(u2.id, orgB), 0);
        assert.equal(await store.users.remove(u2.id, orgA), 1);
        assert.equal(await store.users.byId(u2.id), undefined);
      });

      test('credentials: sessions and API tokens', async () => {
        const orgId = await newOrg(store);
        const u = user(orgId, `s-${randomUUID()}@example.test`);
        await store.users.insert(u);
        const live = sha(`live-${randomUUID()}`);
        const expired = sha(`expired-${randomUUID()}`);
        await store.credentials.insertSession({ token_hash: live, user_id: u.id, created_at: NOW, expires_at: iso('2024-05-02T12:00:00Z') });
        await store.credentials.insertSession({ token_hash: expired, user_id: u.id, created_at: NOW, expires_at: iso('2024-05-01T11:00:00Z') });
        assert.equal((await store.credentials.userBySession(live, NOW))?.id, u.id);
        assert.equal(await store.credentials.userBySession(expired, NOW), undefined);
        assert.equal(await store.credentials.userBySession(sha('unknown'), NOW), undefined);
        await expectViolation(store.credentials.insertSession({ token_hash: live, user_id: u.id, created_at: NOW, expires_at: NOW }));
        await store.credentials.deleteExpiredSessions(NOW);
        assert.equal((await store.credentials.userBySession(live, NOW))?.id, u.id);
        await store.credentials.deleteSession(live);
        assert.equal(await store.credentials.userBySession(live, NOW), undefined);

        const tokenHash = sha(`token-${randomUUID()}`);
        const tokenId = randomUUID();
        await store.credentials.insertToken({ id: tokenId, user_id: u.id, name: 'CI', created_at: NOW, last_used_at: null, token_hash: tokenHash });
        await expectViolation(
          store.credentials.insertToken({ id: randomUUID(), user_id: u.id, name: 'dup', created_at: NOW, last_used_at: null, token_hash: tokenHash }),
        );
        const found = await store.credentials.userByToken(tokenHash);
        assert.equal(found?.id, u.id);
        assert.equal(found?.token_id, tokenId);
        const used = iso('2024-05-01T13:00:00Z');
        await store.credentials.touchToken(tokenId, used);
        assert.deepEqual(await store.credentials.listTokens(u.id), [{ id: tokenId, user_id: u.id, name: 'CI', created_at: NOW, last_used_at: used }]);
        const other = user(orgId, `o-${randomUUID()}@example.test`);
        await store.users.insert(other);
        assert.equal(await store.credentials.deleteToken(tokenId, other.id), 0);
        assert.equal(await store.credentials.deleteToken(tokenId, u.id), 1);
        assert.equal(await store.credentials.userByToken(tokenHash), undefined);
      });

      test('cabinets: CRUD, name unique per org, document counts', async () => {
        const orgA = await newOrg(store);
        const orgB = await newOrg(store);
        const inbox = await newCabinet(store, orgA, 'Eingang/Ärger');
        const sent = await newCabinet(store, orgA, 'Ausgang');
        await expectViolation(store.cabinets.insert({ id: randomUUID(), org_id: orgA, name: 'Eingang/Ärger', created_at: NOW }));
        const inboxB = await newCabinet(store, orgB, 'Eingang/Ärger');
        assert.deepEqual(await store.cabinets.byName(orgA, 'Eingang/Ärger'), { id: inbox, org_id: orgA, name: 'Eingang/Ärger', created_at: NOW });
        assert.equal((await store.cabinets.byName(orgB, 'Eingang/Ärger'))?.id, inboxB);
        assert.equal((await store.cabinets.byId(orgA, sent))?.name, 'Ausgang');
        assert.equal(await store.cabinets.byId(orgB, sent), undefined, 'a cabinet is only found in its own org');
        await insertOne(store, { org: orgA, cabinet: inbox, text: 'one' });
        await insertOne(store, { org: orgA, cabinet: inbox, text: 'two' });
        assert.deepEqual(
          (await store.cabinets.list(orgA)).map((c) => [c.name, c.document_count]),
          [
            ['Ausgang', 0],
            ['Eingang/Ärger', 2],
          ],
        );
        assert.deepEqual((await store.cabinets.list(orgB)).map((c) => [c.id, c.document_count]), [[inboxB, 0]]);
      });
    });

    describe('documents.insertMany', () => {
      let org = '';
      let cabA = '';
      let cabB = '';
      before(async () => {
        org = await newOrg(store);
        cabA = await newCabinet(store, org);
        cabB = await newCabinet(store, org);
      });

      test('inserts documents, attachments and reads them back', async () => {
        const w = doc({ org, cabinet: cabA, text: 'Rechnung Nummer 42', attachments: ['rechnung.pdf', 'Übersicht.xlsx'], bytes: 'insert-1' });
        assert.deepEqual(await store.documents.insertMany([w]), [{ inserted: true, id: w.doc.id, contentDiffers: false }]);
        assert.deepEqual(withoutSeq(await store.documents.byId(org, w.doc.id)), w.doc);
        assert.deepEqual(withoutSeq(await store.documents.bySha(cabA, w.doc.sha256)), w.doc);
        assert.deepEqual(await store.documents.attachments(w.doc.id), w.attachments);
        assert.equal(await store.documents.byId(await newOrg(store), w.doc.id), undefined, 'not visible from another org');
        assert.deepEqual(await store.documents.insertMany([]), []);
      });

      test('the same bytes in the same cabinet are reported with the existing id', async () => {
        const first = doc({ org, cabinet: cabA, text: 'dup', bytes: 'dup-bytes', messageId: 'dup@example.test' });
        await store.documents.insertMany([first]);
        const before = await store.documents.count(org, cabA);
        const again = doc({ org, cabinet: cabA, text: 'dup', bytes: 'dup-bytes', messageId: 'dup@example.test' });
        assert.deepEqual(await store.documents.insertMany([again]), [{ inserted: false, existingId: first.doc.id }]);
        assert.equal(await store.documents.byId(org, again.doc.id), undefined);
        assert.equal(await store.documents.count(org, cabA), before);

        // Same bytes in another cabinet: a separate document.
        const other = doc({ org, cabinet: cabB, text: 'dup', bytes: 'dup-bytes', messageId: 'dup@example.test' });
        assert.deepEqual(await store.documents.insertMany([other]), [{ inserted: true, id: other.doc.id, contentDiffers: false }]);
        assert.equal((await store.documents.byId(org, first.doc.id))?.content_differs, 0);
        assert.equal((await store.documents.byId(org, other.doc.id))?.content_differs, 0);
      });

      test('same Message-ID with different bytes flags both documents', async () => {
        const mid = `differs-${randomUUID()}@example.test`;
        const a = doc({ org, cabinet: cabA, text: 'original', bytes: `${mid} v1`, messageId: mid });
        const b = doc({ org, cabinet: cabA, text: 'altered', bytes: `${mid} v2`, messageId: mid });
        const elsewhere = doc({ org, cabinet: cabB, text: 'original', bytes: `${mid} v1`, messageId: mid });
        assert.deepEqual(await store.documents.insertMany([a]), [{ inserted: true, id: a.doc.id, contentDiffers: false }]);
        assert.deepEqual(await store.documents.insertMany([b, elsewhere]), [
          { inserted: true, id: b.doc.id, contentDiffers: true },
          { inserted: true, id: elsewhere.doc.id, contentDiffers: false },
        ]);
        assert.equal((await store.documents.byId(org, a.doc.id))?.content_differs, 1);
        assert.equal((await store.documents.byId(org, b.doc.id))?.content_differs, 1);
        assert.equal((await store.documents.byId(org, elsewhere.doc.id))?.content_differs, 0, 'only within one cabinet');
      });

      test('documents without Message-ID are never flagged', async () => {
        const a = doc({ org, cabinet: cabA, text: 'no id 1', messageId: null });
        const b = doc({ org, cabinet: cabA, text: 'no id 2', messageId: null });
        const out = await store.documents.insertMany([a, b]);
        assert.deepEqual(out, [
          { inserted: true, id: a.doc.id, contentDiffers: false },
          { inserted: true, id: b.doc.id, contentDiffers: false },
        ]);
      });

      test('a duplicate inside one batch', async () => {
        const cab = await newCabinet(store, org);
        const a = doc({ org, cabinet: cab, text: 'batch', bytes: 'batch-bytes' });
        const b = doc({ org, cabinet: cab, text: 'batch', bytes: 'batch-bytes' });
        const c = doc({ org, cabinet: cab, text: 'batch other', bytes: 'batch-bytes-2' });
        assert.deepEqual(await store.documents.insertMany([a, b, c]), [
          { inserted: true, id: a.doc.id, contentDiffers: false },
          { inserted: false, existingId: a.doc.id },
          { inserted: true, id: c.doc.id, contentDiffers: false },
        ]);
        assert.equal(await store.documents.count(org, cab), 2);
        assert.equal((await search(store, org, 'batch', { cabinetId: cab })).total, 2, 'the duplicate is not indexed twice');
      });

      test('a failing batch inserts nothing', async () => {
        const cab = await newCabinet(store, org);
        const good = doc({ org, cabinet: cab, text: 'rolled back' });
        const bad = doc({ org, cabinet: randomUUID(), text: 'no such cabinet' });
        await assert.rejects(store.documents.insertMany([good, bad]));
        assert.equal(await store.documents.byId(org, good.doc.id), undefined);
        assert.equal(await store.documents.count(org, cab), 0);
      });
    });

    describe('documents.search', () => {
      let org = '';
      let otherOrg = '';
      let cab1 = '';
      let cab2 = '';
      const ids: Record<string, string> = {};
      before(async () => {
        org = await newOrg(store);
        otherOrg = await newOrg(store);
        cab1 = await newCabinet(store, org, 'Eingang');
        cab2 = await newCabinet(store, org, 'Archiv');
        const otherCab = await newCabinet(store, otherOrg, 'Eingang');
        const specs: Record<string, DocSpec> = {
          german: {
            org, cabinet: cab1, subject: 'Grüße aus München', text: 'Sehr geehrter Herr Müller, anbei die Straßenbahnfahrkarte. Viele Grüße',
            date: iso('2024-01-10T09:00:00Z'), from: { name: 'Jürgen Weiß', address: 'juergen@beispiel.test' }, to: ['mueller@beispiel.test'],
          },
          russian: {
            org, cabinet: cab1, subject: 'Договор поставки', text: 'Здравствуйте! Договор подписан, счёт во вложении.',
            date: iso('2024-02-10T09:00:00Z'), from: { name: 'Иван Петров', address: 'ivan@primer.test' }, to: ['olga@primer.test'],
            attachments: ['Счёт.pdf'],
          },
          japanese: {
            org, cabinet: cab1, subject: '会議のお知らせ', text: '明日の午後三時に東京本社で会議を開きます。よろしくお願いします。',
            date: iso('2024-03-10T09:00:00Z'), from: { name: '山田太郎', address: 'yamada@rei.test' }, to: ['sato@rei.test'],
          },
          chinese: {
            org, cabinet: cab2, subject: '合同审核', text: '我们明天讨论合同的付款条款。', date: iso('2024-04-10T09:00:00Z'),
            from: { name: '王伟', address: 'wang@lizi.test' }, to: ['li@lizi.test'], cc: ['zhang@lizi.test'],
          },
          korean: {
            org, cabinet: cab2, subject: '계약서 송부', text: '안녕하세요. 계약서를 보내드립니다.', date: iso('2024-05-10T09:00:00Z'),
            from: { name: '김민수', address: 'kim@yeje.test' }, to: ['park@yeje.test'], attachments: ['계약서.hwp'],
          },
          thai: {
            org, cabinet: cab2, subject: 'นัดประชุม', text: 'สวัสดีครับ การประชุมพรุ่งนี้ที่กรุงเทพ', date: iso('2024-06-10T09:00:00Z'),
            from: { name: 'Somchai', address: 'somchai@tuayang.test' }, to: ['nok@tuayang.test'],
          },
          emoji: {
            org, cabinet: cab2, subject: 'Party 🎉🥳', text: 'See you tonight 😀👍🏽 bring 👨‍👩‍👧‍👦 and 🇩🇪 flags ❤️‍🔥 zwjtest', date: null,
            from: { name: 'Emo 😎', address: 'emo@example.test' }, to: ['all@example.test'],
          },
          lonely: { org: otherOrg, cabinet: otherCab, text: 'Договор Grüße 会議 secretword', date: iso('2024-01-10T09:00:00Z') },
        };
        for (const [key, spec] of Object.entries(specs)) ids[key] = await insertOne(store, spec);
      });

      const cases: Array<[string, string, string]> = [
        ['German', 'grüße', 'german'],
        ['German folded', 'GRUSSE', 'german'],
        ['German without umlaut', 'munchen', 'german'],
        ['German ß in a long word', 'straßenbahnfahrkarte', 'german'],
        ['German sender name', 'Jürgen', 'german'],
        ['Russian', 'договор', 'russian'],
        ['Russian ё', 'счёт', 'russian'],
        ['Russian attachment name', 'Счёт.pdf', 'russian'],
        ['Japanese', '会議', 'japanese'],
        ['Japanese longer phrase', '東京本社', 'japanese'],
        ['Chinese', '合同', 'chinese'],
        ['Chinese single character', '款', 'chinese'],
        ['Korean', '계약서', 'korean'],
        ['Korean with particle', '계약서를', 'korean'],
        ['Thai', 'ประชุม', 'thai'],
        ['Thai city', 'กรุงเทพ', 'thai'],
        ['emoji text', 'tonight', 'emoji'],
        ['emoji text with emoji in the query', 'zwjtest 🎉 ❤️‍🔥', 'emoji'],
      ];
      for (const [name, query, key] of cases) {
        test(`finds exactly its document: ${name} (${query})`, async () => {
          const terms = queryTerms(query);
          assert.ok(terms.length > 0, `query terms for ${query}`);
          assert.deepEqual(await search(store, org, query), { total: 1, ids: [ids[key]] });
        });
      }

      test('all words must match', async () => {
        assert.deepEqual((await search(store, org, 'договор подписан')).ids, [ids.russian]);
        assert.deepEqual(await search(store, org, 'договор grüße'), { total: 0, ids: [] });
        assert.deepEqual(await search(store, org, 'munchen nosuchword'), { total: 0, ids: [] });
        assert.deepEqual(await search(store, org, '会議 東京'), { total: 1, ids: [ids.japanese] });
        assert.deepEqual(await search(store, org, '会議 合同'), { total: 0, ids: [] });
      });

      test("a word in one org never finds another org's document", async () => {
        assert.deepEqual(await search(store, org, 'secretword'), { total: 0, ids: [] });
        assert.deepEqual(await search(store, otherOrg, 'secretword'), { total: 1, ids: [ids.lonely] });
        assert.deepEqual(await search(store, otherOrg, 'договор'), { total: 1, ids: [ids.lonely] });
        assert.deepEqual(await search(store, otherOrg, 'munchen'), { total: 0, ids: [] });
        assert.deepEqual((await search(store, org, 'grüße')).ids, [ids.german]);
      });

      test('a query without terms lists the filtered documents', async () => {
        assert.deepEqual(queryTerms('🎉 😀'), []);
        const all = await search(store, org, '🎉 😀');
        assert.equal(all.total, 7);
        const page = await search(store, org, '', { cabinetId: cab1 });
        assert.deepEqual(page.ids, [ids.japanese, ids.russian, ids.german], 'newest first');
        const undated = await search(store, org, '', { cabinetId: cab2 });
        assert.deepEqual(undated.ids, [ids.thai, ids.korean, ids.chinese, ids.emoji], 'documents without a date come last');
      });

      test('filter by cabinet', async () => {
        assert.deepEqual(await search(store, org, 'договор', { cabinetId: cab1 }), { total: 1, ids: [ids.russian] });
        assert.deepEqual(await search(store, org, 'договор', { cabinetId: cab2 }), { total: 0, ids: [] });
      });

      test('filter by date range', async () => {
        const q = (from?: string, to?: string): Promise<{ total: number; ids: string[] }> =>
          search(store, org, '', { dateFrom: from && iso(from), dateTo: to && iso(to) });
        assert.deepEqual((await q('2024-02-01T00:00:00Z', '2024-04-30T00:00:00Z')).ids, [ids.chinese, ids.japanese, ids.russian]);
        assert.deepEqual((await q('2024-06-01T00:00:00Z')).ids, [ids.thai]);
        assert.deepEqual((await q(undefined, '2024-01-31T00:00:00Z')).ids, [ids.german]);
        assert.deepEqual((await q('2024-01-10T09:00:00Z', '2024-01-10T09:00:00Z')).ids, [ids.german], 'bounds are inclusive');
        assert.deepEqual((await search(store, org, 'договор', { dateFrom: iso('2024-03-01T00:00:00Z') })).total, 0);
      });

      test('filter by sender and recipient', async () => {
        assert.deepEqual((await search(store, org, '', { from: 'ivan@primer' })).ids, [ids.russian]);
        assert.deepEqual((await search(store, org, '', { from: 'PRIMER.test' })).ids, [ids.russian], 'case-insensitive');
        assert.deepEqual((await search(store, org, '', { from: 'Weiß' })).ids, [ids.german], 'sender name');
        assert.deepEqual((await search(store, org, '', { to: 'olga@' })).ids, [ids.russian]);
        assert.deepEqual((await search(store, org, '', { to: 'zhang@lizi' })).ids, [ids.chinese], 'cc counts as recipient');
        assert.deepEqual((await search(store, org, '', { from: '%' })).ids, [], 'LIKE wildcards are literal');
        assert.deepEqual((await search(store, org, '', { to: '_' })).ids, []);
        assert.deepEqual((await search(store, org, '合同', { from: 'wang' })).ids, [ids.chinese]);
        assert.deepEqual((await search(store, org, '合同', { from: 'ivan' })).ids, []);
      });

      test('filter by attachment', async () => {
        assert.deepEqual((await search(store, org, '', { hasAttachment: true })).ids, [ids.korean, ids.russian]);
        assert.equal((await search(store, org, '', { hasAttachment: false })).total, 5);
        assert.deepEqual((await search(store, org, '계약서', { hasAttachment: true })).ids, [ids.korean]);
        assert.deepEqual((await search(store, org, '계약서', { hasAttachment: false })).ids, []);
      });

      test('paging with limit and offset reports the total', async () => {
        const pageOrg = await newOrg(store);
        const cab = await newCabinet(store, pageOrg);
        const made: string[] = [];
        for (let i = 0; i < 5; i++) {
          made.push(await insertOne(store, { org: pageOrg, cabinet: cab, text: `pageword common filler n${i}`, date: iso(`2024-01-0${i + 1}T00:00:00Z`) }));
        }
        const seen: string[] = [];
        for (const offset of [0, 2, 4]) {
          const page = await search(store, pageOrg, 'pageword common', { limit: 2, offset });
          assert.equal(page.total, 5);
          assert.equal(page.ids.length, offset === 4 ? 1 : 2);
          seen.push(...page.ids);
        }
        assert.deepEqual(seen, [...made].reverse(), 'equal ranks: newest first, no overlap between pages');
        assert.deepEqual(await search(store, pageOrg, 'pageword', { limit: 2, offset: 10 }), { total: 5, ids: [] });
        const plain = await search(store, pageOrg, '', { limit: 3, offset: 3 });
        assert.deepEqual(plain, { total: 5, ids: [made[1], made[0]] });
      });

      test('a document with the word many times ranks above one with it once', async () => {
        const rankOrg = await newOrg(store);
        const cab = await newCabinet(store, rankOrg);
        const once = await insertOne(store, {
          org: rankOrg, cabinet: cab, subject: 'x', text: 'rankword alpha beta gamma delta epsilon zeta eta theta iota',
          date: iso('2024-03-01T00:00:00Z'),
        });
        const many = await insertOne(store, {
          org: rankOrg, cabinet: cab, subject: 'x', text: 'rankword rankword rankword rankword rankword rankword rankword alpha beta gamma',
          date: iso('2024-01-01T00:00:00Z'),
        });
        const undated = await insertOne(store, {
          org: rankOrg, cabinet: cab, subject: 'x', text: 'rankword alpha beta gamma delta epsilon zeta eta theta iota', date: null,
        });
        const page = await store.documents.search({ orgId: rankOrg, terms: queryTerms('rankword'), limit: 10, offset: 0 });
        assert.deepEqual(page.rows.map((r) => r.id), [many, once, undated], 'equal ranks: dated before undated');
        assert.ok(page.rows.every((r) => Number.isFinite(r.rank)));
        assert.equal(page.rows[0]?.subject, 'x');
      });
    });

    describe('documents.iterate', () => {
      test('pages through more than one page in archived order', async () => {
        const org = await newOrg(store);
        const cab = await newCabinet(store, org);
        const other = await newCabinet(store, org);
        const writes: DocumentWrite[] = [];
        for (let i = 0; i < 11; i++) {
          // Several documents share an archived_at, so the id breaks ties across page boundaries.
          writes.push(doc({ org, cabinet: i === 5 ? other : cab, text: `iter ${i}`, archivedAt: iso(`2024-02-0${1 + Math.floor(i / 3)}T00:00:00Z`) }));
        }
        await store.documents.insertMany([...writes].reverse());
        const expected = writes
          .map((w) => w.doc)
          .sort((a, b) => (a.archived_at < b.archived_at ? -1 : a.archived_at > b.archived_at ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

        const seen: DocumentRow[] = [];
        for await (const row of store.documents.iterate(org, undefined, 3)) seen.push(row);
        assert.deepEqual(seen.map((r) => r.id), expected.map((d) => d.id));
        assert.deepEqual(withoutSeq(seen[0]), expected[0]);

        const inCab: string[] = [];
        for await (const row of store.documents.iterate(org, cab, 2)) inCab.push(row.id);
        assert.deepEqual(inCab, expected.filter((d) => d.cabinet_id === cab).map((d) => d.id));
        assert.equal(inCab.length, 10);

        const exact: string[] = [];
        for await (const row of store.documents.iterate(org, cab, 5)) exact.push(row.id);
        assert.deepEqual(exact, inCab, 'a last page that is exactly full');

        const none: string[] = [];
        for await (const row of store.documents.iterate(await newOrg(store))) none.push(row.id);
        assert.deepEqual(none, []);
        assert.equal(await store.documents.count(org), 11);
        assert.equal(await store.documents.count(org, other), 1);
      });
    });

    /*
     * sync.ledgerRecordMany (one multi-row upsert per archived batch) leaves the ledger exactly
     * as ledgerRecord row by row does: new rows start at attempt 1 with the mailbox action not
     * done; recording a key again updates status, document, reason and subject, counts the
     * attempt and keeps when it was first seen and whether the action was done; a key given
     * twice in one call counts twice; more rows than one statement takes are all written.
     */
    describe('sync.ledgerRecordMany', () => {
      const key = (ruleId: string, k: string): LedgerKey => ({ ruleId, folder: 'INBOX', epoch: '7', key: k });
      const value = (orgId: string, v: Partial<LedgerValue>): LedgerValue => ({ orgId, status: 'archived', documentId: null, reason: null, subject: 'Grüße', now: NOW, ...v });

      test('inserts new rows and updates known ones as ledgerRecord does', async () => {
        const { orgId, ruleId } = await newRule(store);
        await store.sync.ledgerRecordMany([
          [key(ruleId, '1'), value(orgId, { documentId: 'd1', subject: 'Rechnung 請求書' })],
          [key(ruleId, '2'), value(orgId, { status: 'failed', reason: 'PARSE: broken', subject: 'kaputt' })],
          [key(ruleId, '3'), value(orgId, { status: 'duplicate', documentId: 'd0' })],
        ]);
        await store.sync.ledgerActionDone(ruleId, 'INBOX', '7', ['3'], NOW);
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
        assert.deepEqual(pick('1'), { status: 'archived', document_id: 'd1', reason: null, subject: 'Rechnung 請求書', attempts: 1, action_done: 0, first: NOW, updated: NOW });
        assert.deepEqual(pick('2'), { status: 'archived', document_id: 'd2', reason: null, subject: 'repariert', attempts: 2, action_done: 0, first: NOW, updated: T2 });
        assert.deepEqual(pick('3'), { status: 'duplicate', document_id: 'd0', reason: null, subject: 'Grüße', attempts: 2, action_done: 1, first: NOW, updated: T2 });
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
  });
}

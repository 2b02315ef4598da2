/**
 * Notifications end to end through a real Postfix (root): subscribe (API and CLI), archive,
 * tick, read the Maildir back with mailparser. Immediate mails with the document's subject and
 * link, nothing for documents that do not match, daily digests of several documents at the
 * digest hour, German and English, non-ASCII subjects intact; tenant isolation of subscriptions.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ParsedMail } from 'mailparser';
import { digestSlot } from '../../src/notifications/index.ts';
import { jsonLines, run } from '../cli/helpers.ts';
import { dialects } from '../support/databases.ts';
import { startPostfix, type PostfixPeer } from '../support/peers/postfix.ts';
import { archive, createOrg, message, notificationsVia, parseAll, recipient, sleep, startWorld, type Org, type World } from './support.ts';

const DAY = 24 * 60 * 60_000;
const DIGEST_HOUR = 7;

for (const dialect of dialects()) describe(`notifications through Postfix (${dialect})`, () => {
  let postfix: PostfixPeer;
  let world: World;
  let clock = Date.now();

  /** Mails in the Maildir for this address, once at least `atLeast` are there (and a moment later). */
  async function mailsTo(address: string, atLeast: number, settleMs = 300): Promise<ParsedMail[]> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const mails = (await parseAll(await postfix.readMaildir())).filter((m) => recipient(m) === address);
      if (mails.length >= atLeast) {
        await sleep(settleMs);
        return (await parseAll(await postfix.readMaildir())).filter((m) => recipient(m) === address);
      }
      if (Date.now() > deadline) return mails;
      await sleep(100);
    }
  }

  async function cabinet(org: Org, name: string): Promise<string> {
    return (await world.app.archive.createCabinet(org.id, name)).id;
  }

  before(async () => {
    postfix = await startPostfix({ name: `notify-${dialect}` });
    world = await startWorld({ dialect, notifier: { now: () => clock, digestHour: DIGEST_HOUR } });
  });
  after(async () => {
    await world?.close();
    await postfix?.stop();
  });

  test('immediate: a matching document is mailed with its subject and link, in each user\'s language; a non-matching one is not', async () => {
    const org = await createOrg(world, 'Kontor', { language: 'de' });
    await notificationsVia(world, org.id, 'kontor-smtp', postfix.port);
    const cabinetId = await cabinet(org, 'Rechnungen');

    const filtered = await org.user.client.post('/api/subscriptions', { cabinet: 'Rechnungen', query: 'Rechnung' });
    assert.equal(filtered.status, 201, filtered.text);
    assert.equal(filtered.json.mode, 'immediate');
    assert.equal(filtered.json.query, 'Rechnung');
    assert.equal(filtered.json.cabinetName, 'Rechnungen');
    const all = await org.admin.client.post('/api/subscriptions', { cabinetId });
    assert.equal(all.status, 201, all.text);

    const subject = 'Rechnung März – Größe 😀';
    const invoice = await archive(world, org.id, cabinetId, message(subject, 'Anbei die Rechnung Nr. 42 über 1.234,56 €.'));
    const delivery = await archive(world, org.id, cabinetId, message('Lieferschein 7', 'Die Lieferung kommt am Montag.'));

    const summary = await world.notifier.tick();
    assert.equal(summary.skipped, false);
    assert.equal(summary.enqueued, 3, JSON.stringify(summary));

    const de = await mailsTo(org.user.email, 1);
    assert.equal(de.length, 1, 'the German user follows only invoices');
    const m = de[0]!;
    assert.equal(m.subject, `Neu in „Rechnungen“: ${subject}`);
    assert.ok(m.text?.includes('Hallo Jörg Müller,'), m.text);
    assert.match(m.text ?? '', new RegExp(`Betreff: +${subject}`));
    assert.ok(m.text?.includes(`${world.baseUrl}/documents/${invoice}`), m.text);
    assert.ok(typeof m.html === 'string' && m.html.includes(`href="${world.baseUrl}/documents/${invoice}"`));
    assert.ok(m.html.includes('Größe 😀'));
    assert.equal(m.headers.get('auto-submitted'), 'auto-generated');

    const en = await mailsTo(org.admin.email, 2);
    assert.deepEqual(en.map((x) => x.subject).sort(), [`New in "Rechnungen": Lieferschein 7`, `New in "Rechnungen": ${subject}`]);
    assert.ok(en.some((x) => x.text?.includes(`${world.baseUrl}/documents/${delivery}`)));
    assert.ok(en.every((x) => x.text?.includes('Hello Admin Kontor,')));

    // The Subject travelled RFC 2047-encoded and decodes back to exactly the same text.
    const raw = (await postfix.readMaildir()).map((c) => c.raw.toString('latin1')).find((r) => r.includes(`To: ${org.user.email}`) || r.includes(`<${org.user.email}>`));
    assert.ok(raw && /^Subject: =\?UTF-8\?/m.test(raw), 'encoded subject');

    // Nothing twice.
    const again = await world.notifier.tick();
    assert.equal(again.enqueued, 0);
    await sleep(500);
    assert.equal((await mailsTo(org.user.email, 1)).length, 1);
  });

  test('daily digest: several documents (several cabinets, non-ASCII) in one mail at the digest hour, subscribed by CLI', async () => {
    const org = await createOrg(world, 'Digest GmbH', { domain: 'digest.example', language: 'de' });
    await notificationsVia(world, org.id, 'digest-smtp', postfix.port);
    const contracts = await cabinet(org, 'Verträge');
    const invoices = await cabinet(org, 'Rechnungen');

    const sub1 = await run(world.dataDir, ['notifications', 'subscribe', '--user', org.user.email, '--cabinet', 'Verträge', '--daily', '--json'], { env: world.cliEnv });
    assert.equal(sub1.code, 0, sub1.err);
    const created = jsonLines<{ id: string; mode: string; cabinetName: string; userEmail: string }>(sub1.out)[0]!;
    assert.equal(created.mode, 'daily');
    assert.equal(created.cabinetName, 'Verträge');
    const sub2 = await run(world.dataDir, ['notifications', 'subscribe', '--user', org.user.email, '--cabinet', 'Rechnungen', '--query', 'Rechnung', '--daily'], { env: world.cliEnv });
    assert.equal(sub2.code, 0, sub2.err);
    assert.match(sub2.out, /Subscribed user@digest\.example to "Rechnungen" \(daily, query: Rechnung\)/);
    const listed = await run(world.dataDir, ['notifications', 'list', '--user', org.user.email, '--json'], { env: world.cliEnv });
    assert.equal(listed.code, 0, listed.err);
    assert.deepEqual(jsonLines<{ cabinetName: string }>(listed.out).map((s) => s.cabinetName), ['Verträge', 'Rechnungen']);

    const subjects = ['Mietvertrag Büro – Größe 😀', '請求書 2026年3月', 'Счёт № 17 от 01.03.2026'];
    for (const s of subjects) await archive(world, org.id, contracts, message(s, 'Vertragstext'));
    await archive(world, org.id, invoices, message('Rechnung Juni', 'Rechnung Nr. 7'));
    await archive(world, org.id, invoices, message('Mahnung', 'Zahlungserinnerung')); // does not match "Rechnung"

    // Before the next digest hour: nothing for this user.
    const early = await world.notifier.tick();
    assert.equal(early.digests, 0);

    clock = digestSlot(clock, DIGEST_HOUR) + DAY + 60_000;
    const due = await world.notifier.tick();
    assert.equal(due.digests, 1, JSON.stringify(due));
    const mails = await mailsTo(org.user.email, 1);
    assert.equal(mails.length, 1);
    const digest = mails[0]!;
    assert.equal(digest.subject, 'Tägliche Übersicht: 4 neue Dokumente');
    for (const s of [...subjects, 'Rechnung Juni']) {
      assert.ok(digest.text?.includes(s), `${s} in ${digest.text}`);
      assert.ok(typeof digest.html === 'string' && digest.html.includes(s));
    }
    assert.ok(!digest.text?.includes('Mahnung'));
    assert.ok(digest.text?.includes('== Verträge (3) =='));
    assert.equal((digest.text?.match(new RegExp(`${world.baseUrl}/documents/`, 'g')) ?? []).length, 4);

    // The slot is done; a document archived now waits for the next day's digest.
    await archive(world, org.id, contracts, message('Nachtrag', 'Nachtrag zum Vertrag'));
    assert.equal((await world.notifier.tick()).digests, 0);
    clock += DAY;
    assert.equal((await world.notifier.tick()).digests, 1);
    const next = await mailsTo(org.user.email, 2);
    assert.equal(next.length, 2);
    assert.equal(next.map((x) => x.subject).filter((s) => s === 'Tägliche Übersicht: 1 neues Dokument').length, 1);

    // Unsubscribed by CLI: no more digests.
    const gone = await run(world.dataDir, ['notifications', 'unsubscribe', created.id], { env: world.cliEnv });
    assert.equal(gone.code, 0, gone.err);
    const missing = await run(world.dataDir, ['notifications', 'unsubscribe', created.id], { env: world.cliEnv });
    assert.equal(missing.code, 2);
    assert.match(missing.err, /NOT_FOUND/);
    const unknownCabinet = await run(world.dataDir, ['notifications', 'subscribe', '--user', org.user.email, '--cabinet', 'Nirgendwo'], { env: world.cliEnv });
    assert.equal(unknownCabinet.code, 2);
    assert.match(unknownCabinet.err, /CABINET_NOT_FOUND/);
  });

  test('tenant isolation: another organisation\'s subscription or cabinet is 404; users see only their own', async () => {
    const a = await createOrg(world, 'Alpha');
    const b = await createOrg(world, 'Beta');
    const cabA = await cabinet(a, 'Geheim');
    await cabinet(b, 'Geheim');
    const subA = await a.user.client.post('/api/subscriptions', { cabinetId: cabA, query: 'vertraulich' });
    assert.equal(subA.status, 201, subA.text);
    const id = subA.json.id as string;

    const del = await b.user.client.delete(`/api/subscriptions/${id}`);
    assert.equal(del.status, 404, del.text);
    assert.equal(del.json.code, 'NOT_FOUND');
    const delAdmin = await b.admin.client.delete(`/api/subscriptions/${id}`);
    assert.equal(delAdmin.status, 404);
    const viaCabinet = await b.user.client.post('/api/subscriptions', { cabinetId: cabA });
    assert.equal(viaCabinet.status, 404);
    assert.equal(viaCabinet.json.code, 'CABINET_NOT_FOUND');
    const listB = await b.user.client.get('/api/subscriptions');
    assert.deepEqual(listB.json.subscriptions, []);
    // The same organisation's other user: not theirs either.
    assert.equal((await a.admin.client.delete(`/api/subscriptions/${id}`)).status, 404);
    assert.equal((await a.admin.client.get('/api/subscriptions')).json.subscriptions.length, 0);

    // Still there for its owner, who can remove it.
    const listA = await a.user.client.get('/api/subscriptions');
    assert.deepEqual(listA.json.subscriptions.map((s: { id: string }) => s.id), [id]);
    assert.equal((await a.user.client.delete(`/api/subscriptions/${id}`)).status, 204);
    assert.equal((await a.user.client.delete(`/api/subscriptions/${id}`)).status, 404);

    // Bad input is named.
    const neither = await a.user.client.post('/api/subscriptions', { query: 'x' });
    assert.equal(neither.status, 400);
    const emptyQuery = await a.user.client.post('/api/subscriptions', { cabinetId: cabA, query: '!!!' });
    assert.equal(emptyQuery.status, 400);
    assert.equal(emptyQuery.json.code, 'SEARCH_QUERY_EMPTY');
  });
});

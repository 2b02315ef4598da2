/**
 * Mail templates: both languages, escaping exactly once (HTML only), absolute links from the
 * public URL, digests of several documents, workflow variables, admin alerts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  absoluteUrl,
  escapeHtml,
  languageOf,
  renderAdminAlert,
  renderDocumentArchived,
  renderDocumentDigest,
  renderPasswordReset,
  renderWorkflowMessage,
  type ArchivedDocumentInfo,
} from '../../src/outbox/templates/index.ts';

const URL_BASE = 'https://mailroom.example.com/app';

function doc(over: Partial<ArchivedDocumentInfo> = {}): ArchivedDocumentInfo {
  return {
    id: '11111111-2222-4333-8444-555555555555',
    subject: 'Rechnung März – Größe 😀',
    from: { name: 'Großhändler Müller', address: 'lieferant@example.test' },
    date: '2026-03-02T08:15:00.000Z',
    archivedAt: '2026-03-02T09:00:00.000Z',
    preview: 'Sehr geehrte Damen und Herren, anbei die Rechnung.',
    attachmentCount: 1,
    cabinetName: 'Rechnungen',
    ...over,
  };
}

/** The visible text of an HTML part with tags removed (entities kept). */
function stripTags(html: string): string {
  return html.replace(/<[^>]*>/g, '');
}

describe('escaping', () => {
  test('escapeHtml escapes the five characters and nothing else', () => {
    assert.equal(escapeHtml(`<a href="x">Tom & Jerry's</a> ü 😀`), '&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt; ü 😀');
  });

  test('a <script> title is escaped in the HTML part, verbatim (not escaped) in the text part and subject', () => {
    const title = '<script>alert("x")</script> A & B &amp;';
    const m = renderDocumentArchived({ language: 'en', recipientName: 'Ann <admin>', publicUrl: URL_BASE, document: doc({ subject: title, cabinetName: 'Cab "1" <b>' }) });
    assert.ok(!m.html.includes('<script>'), 'raw <script> in the HTML part');
    assert.ok(m.html.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; A &amp; B &amp;amp;'), m.html);
    assert.ok(!m.html.includes('&amp;lt;'), 'double-escaped in HTML');
    assert.ok(m.html.includes('Cab &quot;1&quot; &lt;b&gt;'));
    assert.ok(m.html.includes('Ann &lt;admin&gt;'));
    // The text part and the subject carry the title as it is, not as HTML entities.
    assert.ok(m.text.includes(title), m.text);
    assert.ok(!m.text.includes('&lt;') && !m.text.includes('&quot;'));
    assert.equal(m.subject, `New in "Cab "1" <b>": ${title}`);
  });

  test('line breaks in a subject never reach the Subject header', () => {
    const m = renderDocumentArchived({ language: 'en', recipientName: 'A', publicUrl: URL_BASE, document: doc({ subject: 'line one\r\nBcc: evil@example.com\n two' }) });
    assert.ok(!/[\r\n]/.test(m.subject));
    assert.equal(m.subject, 'New in "Rechnungen": line one Bcc: evil@example.com two');
  });

  test('links are absolute under the public URL, with query values encoded', () => {
    assert.equal(absoluteUrl(`${URL_BASE}/`, '/reset-password', { token: 'a+b/c=' }), `${URL_BASE}/reset-password?token=a%2Bb%2Fc%3D`);
    const m = renderDocumentArchived({ language: 'en', recipientName: 'A', publicUrl: URL_BASE, document: doc() });
    assert.ok(m.text.includes(`${URL_BASE}/documents/${doc().id}`));
    assert.ok(m.html.includes(`href="${URL_BASE}/documents/${doc().id}"`));
    assert.ok(m.text.includes(`${URL_BASE}/subscriptions`));
  });
});

describe('languages', () => {
  test('languageOf: de and de-AT are German, everything else English', () => {
    assert.equal(languageOf('de'), 'de');
    assert.equal(languageOf('de-AT'), 'de');
    assert.equal(languageOf('en'), 'en');
    assert.equal(languageOf('fr'), 'en');
    assert.equal(languageOf(''), 'en');
  });

  test('password reset in English and German, with the link and its validity', () => {
    const input = { name: 'Jörg Müller', email: 'joerg@example.test', publicUrl: URL_BASE, token: 'mrr_abc-DEF_123', validMinutes: 30 };
    const en = renderPasswordReset({ ...input, language: 'en' });
    const de = renderPasswordReset({ ...input, language: 'de' });
    const link = `${URL_BASE}/reset-password?token=mrr_abc-DEF_123`;
    assert.equal(en.subject, 'Reset your Mailroom password');
    assert.equal(de.subject, 'Ihr Mailroom-Passwort zurücksetzen');
    for (const m of [en, de]) {
      assert.ok(m.text.includes(link));
      assert.ok(m.html.includes(`href="${link}"`));
      assert.ok(m.text.includes('30'));
      assert.ok(m.text.includes('Jörg Müller'));
    }
    assert.ok(en.text.includes('within 30 minutes'));
    assert.ok(de.text.includes('innerhalb von 30 Minuten'));
    assert.ok(de.html.startsWith('<!DOCTYPE html>\n<html lang="de">'));
    assert.ok(en.html.includes('<html lang="en">'));
    assert.ok(de.html.includes('<meta charset="utf-8">'));
  });

  test('document archived in English and German', () => {
    const en = renderDocumentArchived({ language: 'en', recipientName: 'Ann', publicUrl: URL_BASE, document: doc(), query: 'Rechnung' });
    const de = renderDocumentArchived({ language: 'de', recipientName: 'Jörg', publicUrl: URL_BASE, document: doc(), query: 'Rechnung' });
    assert.equal(en.subject, 'New in "Rechnungen": Rechnung März – Größe 😀');
    assert.equal(de.subject, 'Neu in „Rechnungen“: Rechnung März – Größe 😀');
    assert.ok(en.text.includes('Hello Ann,') && en.text.includes('that matches "Rechnung"') && en.text.includes('Subject:'));
    assert.ok(de.text.includes('Hallo Jörg,') && de.text.includes('das zu „Rechnung“ passt') && de.text.includes('Betreff:'));
    assert.ok(de.text.includes('02.03.2026'), de.text);
    assert.ok(en.text.includes('2 Mar 2026'), en.text);
    assert.ok(de.html.includes('Großhändler Müller &lt;lieferant@example.test&gt;'));
  });

  test('a document without a subject says so in each language', () => {
    assert.ok(renderDocumentArchived({ language: 'en', recipientName: 'A', publicUrl: URL_BASE, document: doc({ subject: '  ' }) }).subject.endsWith('(no subject)'));
    assert.ok(renderDocumentArchived({ language: 'de', recipientName: 'A', publicUrl: URL_BASE, document: doc({ subject: '' }) }).subject.endsWith('(kein Betreff)'));
  });
});

describe('digest', () => {
  const docs = [
    doc({ id: 'a1', subject: 'Rechnung 1', cabinetName: 'Rechnungen' }),
    doc({ id: 'b1', subject: 'Lieferschein <7>', cabinetName: 'Lieferungen' }),
    doc({ id: 'a2', subject: 'Rechnung 2 😀', cabinetName: 'Rechnungen' }),
  ];

  test('several documents in one mail, grouped by cabinet, each with its link', () => {
    const en = renderDocumentDigest({ language: 'en', recipientName: 'Ann', publicUrl: URL_BASE, documents: docs });
    assert.equal(en.subject, 'Daily digest: 3 new documents');
    for (const d of docs) {
      assert.ok(en.text.includes(d.subject), d.subject);
      assert.ok(en.text.includes(`${URL_BASE}/documents/${d.id}`));
      assert.ok(en.html.includes(`href="${URL_BASE}/documents/${d.id}"`));
    }
    assert.ok(en.html.includes('Lieferschein &lt;7&gt;') && !en.html.includes('Lieferschein <7>'));
    assert.ok(en.text.includes('== Rechnungen (2) ==') && en.text.includes('== Lieferungen (1) =='));
    // Rechnung 1 and 2 are listed together under their cabinet.
    assert.ok(en.text.indexOf('Rechnung 2') < en.text.indexOf('== Lieferungen'));
  });

  test('German digest, singular and plural', () => {
    assert.equal(renderDocumentDigest({ language: 'de', recipientName: 'J', publicUrl: URL_BASE, documents: docs }).subject, 'Tägliche Übersicht: 3 neue Dokumente');
    const one = renderDocumentDigest({ language: 'de', recipientName: 'J', publicUrl: URL_BASE, documents: docs.slice(0, 1) });
    assert.equal(one.subject, 'Tägliche Übersicht: 1 neues Dokument');
    assert.ok(one.text.includes('wurde 1 neues Dokument archiviert'));
    assert.equal(renderDocumentDigest({ language: 'en', recipientName: 'J', publicUrl: URL_BASE, documents: docs.slice(0, 1) }).subject, 'Daily digest: 1 new document');
  });

  test('long digests list the first ones and count the rest', () => {
    const many = Array.from({ length: 12 }, (_, i) => doc({ id: `d${i}`, subject: `Doc ${i}` }));
    const m = renderDocumentDigest({ language: 'en', recipientName: 'A', publicUrl: URL_BASE, documents: many, maxListed: 10 });
    assert.ok(m.text.includes('Doc 9') && !m.text.includes('Doc 10'));
    assert.ok(m.text.includes('… and 2 more'));
    assert.equal(m.subject, 'Daily digest: 12 new documents');
  });
});

describe('workflow message', () => {
  test('variables fill subject and body; HTML escaped once, text verbatim', () => {
    const m = renderWorkflowMessage({
      language: 'de',
      subject: 'Rechnung {{ number }} für {{customer}}',
      body: 'Guten Tag {{customer}},\n\nanbei Rechnung {{number}} über {{amount}}.\nGrüße',
      variables: { customer: 'Müller & Söhne <GmbH>', number: 42, amount: '1.234,56 €' },
    });
    assert.equal(m.subject, 'Rechnung 42 für Müller & Söhne <GmbH>');
    assert.ok(m.text.includes('Guten Tag Müller & Söhne <GmbH>,'));
    assert.ok(m.html.includes('Guten Tag Müller &amp; Söhne &lt;GmbH&gt;,'));
    assert.ok(!m.html.includes('&amp;amp;'));
    assert.ok(m.html.includes('anbei Rechnung 42 über 1.234,56 €.<br>'));
    assert.ok(m.html.includes('<html lang="de">'));
    assert.equal(stripTags(m.html).includes('<GmbH>'), false);
  });

  test('a missing variable is named in the error', () => {
    assert.throws(() => renderWorkflowMessage({ language: 'en', subject: 'Hi {{name}}', body: '{{name}} {{other}}', variables: { name: 'x' } }), (err: unknown) => {
      assert.ok(err instanceof Error && err.message.includes('{{other}}'));
      return true;
    });
  });
});

describe('admin alert', () => {
  const problem = {
    kind: 'password_reset_unavailable',
    message: 'Password reset is unavailable: the reset mail could not be sent through the SMTP service "Büro <smtp>" [MAIL_HOST_UNREACHABLE]',
    fix: 'Make sure the SMTP server is running & reachable.',
    firstSeenAt: '2026-03-01T07:00:00.000Z',
    lastSeenAt: '2026-03-02T07:00:00.000Z',
    count: 3,
  };

  test('problem and fix, escaped, in both languages', () => {
    const en = renderAdminAlert({ language: 'en', recipientName: 'Admin', orgName: 'Acme', publicUrl: URL_BASE, problem });
    const de = renderAdminAlert({ language: 'de', recipientName: 'Admin', orgName: 'Acme', publicUrl: URL_BASE, problem });
    assert.equal(en.subject, '[Mailroom] Action needed: password reset is unavailable');
    assert.equal(de.subject, '[Mailroom] Handlungsbedarf: Passwort-Zurücksetzen ist nicht verfügbar');
    for (const m of [en, de]) {
      assert.ok(m.text.includes(problem.message) && m.text.includes(problem.fix));
      assert.ok(m.html.includes('&quot;Büro &lt;smtp&gt;&quot;') && m.html.includes('running &amp; reachable'));
      assert.ok(m.text.includes(`${URL_BASE}/admin/problems`));
    }
    assert.ok(en.text.includes('3 times') && de.text.includes('3-mal'));
    assert.ok(de.text.includes('So beheben Sie es:'));
  });
});

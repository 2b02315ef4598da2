/** Strings in the languages the hub must get right (shared by the MIME and SMTP tests). */
export const SAMPLES = {
  de: 'Grüße aus Köln – Überweisungsbeleg für März (ÄÖÜ äöü ß)',
  fr: 'Ça va ? Reçu de la facture n° 42 – où est l’été, Noël à Besançon',
  ru: 'Привет, мир! Счёт-фактура № 17 от Щукина Эдуарда',
  ja: '日本語の件名です。請求書を添付しました（テスト）',
  zh: '这是一个中文主题，附件是发票。谢谢！',
  emoji: '✅ Done 😀🎉 👩‍💻 🇩🇪',
} as const;

import { isUtf8 } from 'node:buffer';
import iconv from 'iconv-lite';

/**
 * Charset names as mailers write them, resolved to a decoder. Lookups use iconv-lite's own
 * normalisation (lower case, alphanumerics only), so `KS_C_5601-1987`, `ks-c-5601-1987` and
 * `ksc56011987` are one key.
 */
export interface Charset {
  /** Canonical name, used to decide whether two RFC 2047 words may be joined byte-wise. */
  readonly name: string;
  decode(bytes: Buffer): string;
}

export function normalizeCharsetName(label: string): string {
  return label.toLowerCase().replace(/[^0-9a-z]/g, '');
}

/**
 * Aliases iconv-lite lacks or maps to a narrower table than mail needs. Targets are iconv-lite
 * codec names, or one of the special decoders below.
 */
const ALIASES: ReadonlyMap<string, string> = new Map(
  Object.entries({
    // Special: ASCII labels. Mailers write us-ascii on bodies they never checked, so 8-bit bytes
    // under this label are read like an unlabelled part (UTF-8 when valid, else windows-1252).
    ascii: 'unlabelled',
    usascii: 'unlabelled',
    us: 'unlabelled',
    ansix341968: 'unlabelled',
    iso646us: 'unlabelled',
    ibm367: 'unlabelled',
    cp367: 'unlabelled',
    csascii: 'unlabelled',
    '7bit': 'unlabelled',
    '8bit': 'unlabelled',
    // WHATWG Encoding: ISO-8859-1 labels decode as windows-1252, because Outlook and web mailers
    // put cp1252 smart quotes (0x80-0x9F) into parts they label Latin-1.
    iso88591: 'windows1252',
    latin1: 'windows1252',
    l1: 'windows1252',
    cp819: 'windows1252',
    ibm819: 'windows1252',
    isoir100: 'windows1252',
    csisolatin1: 'windows1252',
    iso885911987: 'windows1252',
    xiso88591: 'windows1252',
    '88591': 'windows1252',
    xcp1252: 'windows1252',
    winlatin1: 'windows1252',
    // WHATWG: ISO-8859-9 (Turkish) is read as its superset windows-1254.
    iso88599: 'windows1254',
    latin5: 'windows1254',
    l5: 'windows1254',
    csisolatin5: 'windows1254',
    xcp1250: 'windows1250',
    xcp1251: 'windows1251',
    xcp1253: 'windows1253',
    xcp1254: 'windows1254',
    xcp1255: 'windows1255',
    xcp1256: 'windows1256',
    xcp1257: 'windows1257',
    xcp1258: 'windows1258',
    // Thai: TIS-620 and ISO-8859-11 are subsets of windows-874 (Outlook writes windows-874).
    tis620: 'windows874',
    iso885911: 'windows874',
    xwindows874: 'windows874',
    dos874: 'windows874',
    cp874: 'windows874',
    ibm874: 'windows874',
    // Hebrew and Arabic visual/logical variants share one byte table (RFC 1556).
    iso88598i: 'iso88598',
    iso88598e: 'iso88598',
    csiso88598i: 'iso88598',
    csiso88598e: 'iso88598',
    logical: 'iso88598',
    visual: 'iso88598',
    iso88596i: 'iso88596',
    iso88596e: 'iso88596',
    csiso88596i: 'iso88596',
    csiso88596e: 'iso88596',
    // Korean: Outlook labels Unified Hangul Code (cp949) as ks_c_5601-1987; cp949 is a superset
    // of EUC-KR, so every Korean label goes to it.
    ksc56011987: 'cp949',
    ksc56011989: 'cp949',
    ksc5601: 'cp949',
    ksc: 'cp949',
    euckr: 'cp949',
    xeuckr: 'cp949',
    cseuckr: 'cp949',
    korean: 'cp949',
    isoir149: 'cp949',
    csksc56011987: 'cp949',
    windows949: 'cp949',
    xwindows949: 'cp949',
    ms949: 'cp949',
    uhc: 'cp949',
    // Simplified Chinese: GB2312 and GBK mails routinely contain GBK-only and GB18030 characters;
    // gb18030 is the superset of all of them (WHATWG does the same).
    gb2312: 'gb18030',
    gbk: 'gb18030',
    xgbk: 'gb18030',
    cp936: 'gb18030',
    ms936: 'gb18030',
    windows936: 'gb18030',
    euccn: 'gb18030',
    xeuccn: 'gb18030',
    csgb2312: 'gb18030',
    gb231280: 'gb18030',
    xgb2312: 'gb18030',
    chinese: 'gb18030',
    isoir58: 'gb18030',
    csiso58gb231280: 'gb18030',
    // Traditional Chinese: Big5-HKSCS is the superset of Big5 and cp950.
    big5: 'big5hkscs',
    xbig5: 'big5hkscs',
    xxbig5: 'big5hkscs',
    cnbig5: 'big5hkscs',
    csbig5: 'big5hkscs',
    cp950: 'big5hkscs',
    ms950: 'big5hkscs',
    windows950: 'big5hkscs',
    // Japanese: iconv-lite's shiftjis is cp932 (with the NEC/IBM extensions Windows mailers use).
    sjis: 'shiftjis',
    xsjis: 'shiftjis',
    shiftjis: 'shiftjis',
    csshiftjis: 'shiftjis',
    mskanji: 'shiftjis',
    windows31j: 'shiftjis',
    cp932: 'shiftjis',
    ms932: 'shiftjis',
    xmscp932: 'shiftjis',
    eucjp: 'eucjp',
    xeucjp: 'eucjp',
    cseucpkdfmtjapanese: 'eucjp',
    // Special: iconv-lite has no ISO-2022-JP; Node's WHATWG TextDecoder decodes it including the
    // NEC row-13 characters (cp50220/cp50221) that Outlook sends under this label.
    iso2022jp: 'iso2022jp',
    csiso2022jp: 'iso2022jp',
    iso2022jp1: 'iso2022jp',
    iso2022jp2: 'iso2022jp',
    iso2022jp3: 'iso2022jp',
    iso2022jpms: 'iso2022jp',
    cp50220: 'iso2022jp',
    cp50221: 'iso2022jp',
    cp50222: 'iso2022jp',
    jis: 'iso2022jp',
    xjis: 'iso2022jp',
    // UTF-7 (RFC 2152): old Outlook Express and Exchange wrote unicode-1-1-utf-7.
    utf7: 'utf7',
    unicode11utf7: 'utf7',
    csunicode11utf7: 'utf7',
    unicode20utf7: 'utf7',
    xunicode20utf7: 'utf7',
    xutf7: 'utf7',
    // Special: UTF-8 labels.
    utf8: 'utf8',
    unicode11utf8: 'utf8',
    unicode20utf8: 'utf8',
    xunicode20utf8: 'utf8',
    utf8sig: 'utf8',
    xutf8: 'utf8',
    // UTF-16 labels used by Windows mailers ("unicode" is what .NET writes).
    unicode: 'utf16',
    csunicode: 'utf16',
    iso10646ucs2: 'utf16',
    ucs2: 'utf16',
    utf16: 'utf16',
    // Apple Mail's x-mac-* labels; iconv-lite knows the tables under mac* names. The CJK Mac
    // encodings are close enough to their Windows counterparts for search text.
    xmacroman: 'macroman',
    macroman: 'macroman',
    xmaccyrillic: 'maccyrillic',
    xmacukrainian: 'macukraine',
    xmacukraine: 'macukraine',
    xmacgreek: 'macgreek',
    xmacturkish: 'macturkish',
    xmacce: 'maccenteuro',
    xmaccentraleurroman: 'maccenteuro',
    xmaccentraleurope: 'maccenteuro',
    xmacicelandic: 'maciceland',
    xmaciceland: 'maciceland',
    xmaccroatian: 'maccroatian',
    xmacromanian: 'macromania',
    xmacromania: 'macromania',
    xmacthai: 'macthai',
    xmacjapanese: 'shiftjis',
    xmacchinesetrad: 'big5hkscs',
    xmacchinesesimp: 'gb18030',
    xmackorean: 'cp949',
    // DOS code pages (Pegasus Mail, old gateways).
    ibm437: 'cp437',
    cp437: 'cp437',
    '437': 'cp437',
    cspc8codepage437: 'cp437',
    ibm850: 'cp850',
    ibm852: 'cp852',
    ibm866: 'cp866',
    koi8: 'koi8r',
    koi: 'koi8r',
    cskoi8r: 'koi8r',
    koi8ru: 'koi8u',
    latin9: 'iso885915',
    latin0: 'iso885915',
    l9: 'iso885915',
  }),
);

const utf8Charset: Charset = {
  name: 'utf8',
  decode(bytes) {
    // A UTF-8 BOM is a Windows Notepad artefact, not text.
    const start = bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
    return bytes.toString('utf8', start);
  },
};

function iconvCharset(codec: string): Charset {
  return { name: codec, decode: (bytes) => iconv.decode(bytes, codec) };
}

export const windows1252: Charset = iconvCharset('windows1252');

/**
 * Bytes whose charset nobody declared (no charset parameter, raw 8-bit headers, us-ascii labels
 * on 8-bit text): UTF-8 when they are valid UTF-8 (RFC 6532 and every modern mailer), otherwise
 * windows-1252, the most common legacy charset and a superset of ISO-8859-1.
 */
export const unlabelled: Charset = {
  name: 'unlabelled',
  decode(bytes) {
    if (bytes.length >= 2 && ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff))) {
      return iconv.decode(bytes, 'utf16');
    }
    return isUtf8(bytes) ? utf8Charset.decode(bytes) : windows1252.decode(bytes);
  },
};

const iso2022jp: Charset = (() => {
  const decoder = new TextDecoder('iso-2022-jp');
  return { name: 'iso2022jp', decode: (bytes: Buffer) => decoder.decode(bytes) };
})();

const SPECIAL: ReadonlyMap<string, Charset> = new Map([
  ['utf8', utf8Charset],
  ['unlabelled', unlabelled],
  ['iso2022jp', iso2022jp],
]);

const cache = new Map<string, Charset | null>();
const CACHE_LIMIT = 512;

function lookup(key: string): Charset | null {
  const target = ALIASES.get(key) ?? key;
  const special = SPECIAL.get(target);
  if (special) return special;
  if (target.length > 0 && iconv.encodingExists(target)) {
    // iconv-lite's base64/hex "codecs" are transfer encodings, not charsets.
    const codec = normalizeCharsetName(target);
    if (codec === 'base64' || codec === 'hex' || codec === 'binary') return null;
    return iconvCharset(target);
  }
  return null;
}

/**
 * Resolves a charset label as found in a Content-Type parameter or an RFC 2047 word.
 * Returns null for a label nothing knows; the caller decides on the fallback and the warning.
 */
export function resolveCharset(label: string): Charset | null {
  // RFC 2231 section 5 allows a language suffix in encoded words: =?utf-8*de?Q?...?=
  const star = label.indexOf('*');
  const bare = (star >= 0 ? label.slice(0, star) : label).trim().replace(/^["']+|["']+$/g, '');
  const key = normalizeCharsetName(bare);
  const cached = cache.get(key);
  if (cached !== undefined) return cached;
  let found = lookup(key);
  // Mailers invent x- prefixed names for standard charsets (x-gbk, x-euc-jp, x-cp1250...).
  if (found === null && key.startsWith('x') && key.length > 1) found = lookup(key.slice(1));
  if (cache.size < CACHE_LIMIT) cache.set(key, found);
  return found;
}

/** Decodes bytes in a declared charset; an empty or missing label means "unlabelled". */
export function decodeBytes(bytes: Buffer, label: string | null, onUnknown: (label: string) => void): string {
  if (label === null || label.trim() === '') return unlabelled.decode(bytes);
  const charset = resolveCharset(label);
  if (charset) return charset.decode(bytes);
  onUnknown(label);
  return windows1252.decode(bytes);
}

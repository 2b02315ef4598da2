/**
 * format=flowed (RFC 3676), sent by Apple Mail, iOS and Thunderbird: a line ending in a space
 * continues on the next line. With DelSp=yes (Apple Mail for CJK text, where words have no
 * spaces) that space is not part of the text. Unfolding keeps words that were wrapped across
 * lines whole for search.
 */
export function unfoldFlowed(text: string, delSp: boolean): string {
  const out: string[] = [];
  let pending: string | null = null;
  let pendingDepth = 0;
  for (const raw of text.split('\n')) {
    const depthMatch = /^>+/.exec(raw);
    const depth = depthMatch ? depthMatch[0].length : 0;
    let line = raw.slice(depth);
    // Space-stuffing (section 4.4): a leading space protects lines starting with ">", "From ", " ".
    if (line.startsWith(' ')) line = line.slice(1);
    const prefix = depth > 0 ? `${'>'.repeat(depth)} ` : '';
    if (pending !== null && depth !== pendingDepth) {
      out.push(pending);
      pending = null;
    }
    // The signature separator "-- " is never a flowed line (section 4.3).
    const flowed = line.endsWith(' ') && line !== '-- ';
    const content = flowed && delSp ? line.slice(0, -1) : line;
    if (pending === null) {
      pending = prefix + content;
      pendingDepth = depth;
    } else {
      pending += content;
    }
    if (!flowed) {
      out.push(pending);
      pending = null;
    }
  }
  if (pending !== null) out.push(pending);
  return out.join('\n');
}

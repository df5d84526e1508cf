/**
 * Outgoing frame encoding. One Buffer per frame, sized exactly, no intermediate string
 * of the body: MESSAGE frames are the hot path.
 */

const ESCAPE_TEST_12 = /[\\\n:\r]/;
const ESCAPE_TEST_11 = /[\\\n:]/;

/**
 * Header escaping per negotiated version. 1.0 has none, so newlines (which would end the
 * header) are replaced by spaces; 1.1 has no \r escape; CONNECTED is never escaped.
 */
export function escapeHeader(s: string, version: number): string {
  if (version >= 12) {
    if (!ESCAPE_TEST_12.test(s)) return s;
    return s.replace(/[\\\n:\r]/g, (c) =>
      c === '\\' ? '\\\\' : c === '\n' ? '\\n' : c === ':' ? '\\c' : '\\r',
    );
  }
  if (version === 11) {
    if (!ESCAPE_TEST_11.test(s) && s.indexOf('\r') < 0) return s;
    return s.replace(/[\\\n:\r]/g, (c) =>
      c === '\\' ? '\\\\' : c === '\n' ? '\\n' : c === ':' ? '\\c' : ' ',
    );
  }
  return s.indexOf('\n') < 0 && s.indexOf('\r') < 0 ? s : s.replace(/[\r\n]/g, ' ');
}

/** The command and header block of a frame, through the blank line; content-length when there is a body. */
export function encodeHead(
  command: string,
  headers: readonly string[],
  bodyLen: number,
  version: number,
  raw = false,
): string {
  const v = raw ? 0 : version;
  let head = command + '\n';
  for (let i = 0; i + 1 < headers.length; i += 2) {
    head += escapeHeader(headers[i]!, v) + ':' + escapeHeader(headers[i + 1]!, v) + '\n';
  }
  if (bodyLen > 0) head += 'content-length:' + bodyLen + '\n';
  return head + '\n';
}

/**
 * Encodes a frame into one exactly sized Buffer. `headers` is a flat [name, value, ...]
 * list so callers build it without an object per frame. Values are escaped for the
 * negotiated version unless `raw` (CONNECTED is never escaped).
 */
export function encodeFrame(
  command: string,
  headers: readonly string[],
  body: Buffer | undefined,
  version: number,
  raw = false,
): Buffer {
  const bodyLen = body ? body.length : 0;
  const head = encodeHead(command, headers, bodyLen, version, raw);
  const headLen = Buffer.byteLength(head, 'utf8');
  const out = Buffer.allocUnsafe(headLen + bodyLen + 1);
  out.write(head, 0, headLen, 'utf8');
  if (body && bodyLen > 0) body.copy(out, headLen);
  out[headLen + bodyLen] = 0;
  return out;
}

/** Bodies at least this big are written by reference (writev), not copied into the frame. */
export const ZERO_COPY_BODY = 2048;

export const NUL_BYTE = Buffer.from([0]);
export const HEARTBEAT = Buffer.from('\n');

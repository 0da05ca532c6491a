/**
 * Plivo's `extra_headers`: the `extraHeaders` attribute of the `<Stream>` element, handed to the
 * socket as one string of `key=value` pairs. Plivo's XML reference separates pairs with commas
 * (`test1=12,test2=123`); its stream-protocol page shows semicolons (`userId=12345;sessionId=abc`):
 * both are read. The string comes from the network, so reading it is bounded and safe: a cap on
 * its length and on the pairs kept, keys limited to the characters Plivo allows, and a record
 * without a prototype (a key named `__proto__` is a key, not a way into `Object.prototype`).
 */

/** Longest `extra_headers` read, in characters: four times Plivo's own limit of 512 bytes. */
export const MAX_EXTRA_HEADERS_CHARS = 2048;
/** Most pairs kept. */
export const MAX_EXTRA_HEADERS_PAIRS = 64;
/** Longest key and value kept, in characters. */
const MAX_KEY_CHARS = 64;
const MAX_VALUE_CHARS = 512;
/** Plivo allows `[A-Za-z0-9]`; `_` and `-` are accepted too, as integrations use them. */
const KEY = /^[A-Za-z0-9_-]+$/;

/** The pairs read, and a sentence about what was left out (undefined when nothing was). */
export interface ExtraHeaders {
  readonly params: Readonly<Record<string, string>>;
  readonly problem: string | undefined;
}

const NONE: ExtraHeaders = Object.freeze({
  params: Object.freeze(Object.create(null) as Record<string, string>),
  problem: undefined,
});

/**
 * Reads `extra_headers`. Absent or empty: no pairs. Not a string, or longer than
 * {@link MAX_EXTRA_HEADERS_CHARS}: no pairs, and a problem saying so. Otherwise the well-formed
 * pairs (a later repeat of a key wins), and a problem naming how many were left out and why.
 */
export function parseExtraHeaders(value: unknown): ExtraHeaders {
  if (value === undefined || value === null || value === "") return NONE;
  if (typeof value !== "string") {
    return { params: NONE.params, problem: `extra_headers is not a string (got ${typeof value}); ignored` };
  }
  if (value.length > MAX_EXTRA_HEADERS_CHARS) {
    return {
      params: NONE.params,
      problem: `extra_headers is ${value.length} characters, more than ${MAX_EXTRA_HEADERS_CHARS} (Plivo allows 512 bytes); ignored`,
    };
  }
  const params = Object.create(null) as Record<string, string>;
  let kept = 0;
  let malformed = 0;
  let overflow = 0;
  for (const part of value.split(/[,;]/)) {
    const pair = part.trim();
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const key = (eq < 0 ? "" : pair.slice(0, eq)).trim();
    const val = (eq < 0 ? "" : pair.slice(eq + 1)).trim();
    if (key.length === 0 || key.length > MAX_KEY_CHARS || !KEY.test(key) || val.length > MAX_VALUE_CHARS) {
      malformed++;
      continue;
    }
    if (!(key in params)) {
      if (kept === MAX_EXTRA_HEADERS_PAIRS) {
        overflow++;
        continue;
      }
      kept++;
    }
    params[key] = val;
  }
  const problems: string[] = [];
  if (malformed > 0) {
    problems.push(
      `${malformed} pair(s) not of the form key=value with a key of letters and digits (at most ${MAX_KEY_CHARS}) and a value of at most ${MAX_VALUE_CHARS} characters`,
    );
  }
  if (overflow > 0) problems.push(`${overflow} pair(s) past the first ${MAX_EXTRA_HEADERS_PAIRS}`);
  return {
    params: Object.freeze(params),
    problem:
      problems.length === 0
        ? undefined
        : `extra_headers: left out ${problems.join(" and ")}; write extraHeaders on <Stream> as key=value pairs separated by commas`,
  };
}

/**
 * How deeply a JSON message from a client may nest objects and arrays. RTVI messages nest a
 * handful of levels (a UI accessibility snapshot a few dozen, two per level of the page). `JSON.parse` itself accepts any
 * depth, but the code that later walks the value (a `JSON.stringify` to log or echo it, an
 * application's recursive handler) overflows the stack on a message of `[[[[…` a few thousand
 * levels deep, so depth is checked before parsing.
 */
export const DEFAULT_MAX_JSON_DEPTH = 128;

/** The outcome of {@link parseJsonMessage}: the value, or why there is none, in words. */
export type JsonParseResult =
  { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly detail: string };

/**
 * Parses a JSON message from a client. Never throws: invalid JSON and JSON nested deeper than
 * `maxDepth` are reported in words. Linear in the text's length.
 *
 * Allocation: the value is what `JSON.parse` builds, which for pathological text (`[[[…]]]`,
 * `[{},{},…]`) costs V8 up to about 30 bytes per byte of text (measured); callers bound it by bounding
 * the text (the serializer's `maxMessageBytes`).
 */
export function parseJsonMessage(text: string, maxDepth: number = DEFAULT_MAX_JSON_DEPTH): JsonParseResult {
  const depth = nestingDepthOver(text, maxDepth);
  if (depth !== undefined) {
    return {
      ok: false,
      detail: `JSON nested deeper than ${maxDepth} levels (reached ${depth}); send flatter messages`,
    };
  }
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    return { ok: false, detail: `not valid JSON (${why}); the data field must hold one JSON document` };
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/**
 * The depth at which `text` first goes past `maxDepth` levels of `{`/`[`, or `undefined` if it
 * never does. Brackets inside strings do not count. Exact for valid JSON; for invalid JSON the
 * answer does not matter, because `JSON.parse` refuses it next.
 */
function nestingDepthOver(text: string, maxDepth: number): number | undefined {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_BRACKET || c === OPEN_BRACE) {
      if (++depth > maxDepth) return depth;
    } else if (c === CLOSE_BRACKET || c === CLOSE_BRACE) {
      depth--;
    }
  }
  return undefined;
}

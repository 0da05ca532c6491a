/**
 * JSON values a peer can send that a careless reader chokes on, and the variants of a valid
 * message with one field at a time replaced by each of them (the method of
 * test/telephony/hostile-values.test.ts, shared by the other families). Values travel as JSON
 * text, so a value too deep for `JSON.stringify` (and a key named `__proto__`, which an
 * assignment would turn into a prototype) reaches the reader exactly as a peer would send it.
 */

/** Deep enough that a recursive walk (`JSON.stringify`, a recursive check) overflows the stack. */
const DEEP = 20_000;
/** Long enough that a per-element walk is noticed, small enough for every message size limit. */
const LONG = 10_000;

/** Each hostile value as JSON text, with a name for failure messages. */
export const HOSTILE_JSON: readonly { readonly name: string; readonly json: string }[] = [
  // String(), template strings, Number() and `+ ""` throw on these.
  { name: "toString/valueOf strings", json: '{"toString":"","valueOf":""}' },
  { name: "toString/valueOf objects, toJSON string", json: '{"toString":{},"valueOf":{},"toJSON":""}' },
  { name: "a list holding one", json: '[{"toString":""}]' },
  // Arithmetic overflows to Infinity; -0 prints as 0 and divides to -Infinity.
  { name: "1e308", json: "1e308" },
  { name: "-0", json: "-0" },
  { name: "null", json: "null" },
  { name: "empty string", json: '""' },
  // Number() of these is NaN or Infinity.
  { name: "NaN-producing string", json: '"abc"' },
  { name: "Infinity-producing string", json: '"1e999"' },
  // An own key named __proto__ (JSON.parse makes it a key; an assignment would make it a prototype).
  { name: "__proto__ key", json: '{"__proto__":{"toString":""}}' },
  // Recursion and per-element cost.
  { name: `nesting ${DEEP} deep`, json: `${"[".repeat(DEEP)}${"]".repeat(DEEP)}` },
  { name: `a list of ${LONG}`, json: `[${new Array<string>(LONG).fill("0").join(",")}]` },
];

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Path = readonly (string | number)[];

const MARK = "\u0000hostile\u0000";
const MARK_JSON = JSON.stringify(MARK);

/** Every path to a leaf or a branch of `value` (the root excluded). */
export function jsonPaths(value: unknown, prefix: Path = []): (string | number)[][] {
  if (value === null || typeof value !== "object") return [];
  const keys: (string | number)[] = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value);
  return keys.flatMap((k) => {
    const child = (value as Record<string | number, unknown>)[k];
    return [[...prefix, k], ...jsonPaths(child, [...prefix, k])];
  });
}

/** The JSON text of `message` with the value at `path` replaced by the JSON text `json`. */
export function replacedAt(message: unknown, path: Path, json: string): string {
  const copy = structuredClone(message) as Record<string | number, Json>;
  let at = copy;
  for (const k of path.slice(0, -1)) at = at[k] as Record<string | number, Json>;
  at[path.at(-1)!] = MARK;
  return JSON.stringify(copy).replace(MARK_JSON, () => json);
}

/** The JSON text of `message` with a key `__proto__` holding `json` added to the object at `path`. */
export function withProtoKeyAt(message: unknown, path: Path, json: string): string {
  const copy = structuredClone(message) as Record<string | number, Json>;
  let at = copy;
  for (const k of path) at = at[k] as Record<string | number, Json>;
  at[MARK] = null;
  return JSON.stringify(copy).replace(`${MARK_JSON}:null`, () => `"__proto__":${json}`);
}

/** One hostile variant of a message. */
export interface HostileVariant {
  /** What was replaced by what, for failure messages. */
  readonly what: string;
  /** The message as JSON text. */
  readonly text: string;
}

/**
 * Every variant of `message`: each field (leaf or branch) replaced by each hostile value, and each
 * object (the root included) given an extra `__proto__` key holding each hostile object. Paths for
 * which `skip(path)` is true are left alone (e.g. the discriminator a test needs to keep).
 */
export function hostileVariants(
  message: unknown,
  skip: (path: Path) => boolean = () => false,
): HostileVariant[] {
  const out: HostileVariant[] = [];
  const paths = jsonPaths(message).filter((p) => !skip(p));
  for (const path of paths) {
    for (const { name, json } of HOSTILE_JSON) {
      out.push({ what: `${path.join(".")} = ${name}`, text: replacedAt(message, path, json) });
    }
  }
  const objects: Path[] = [[], ...jsonPaths(message)].filter((p) => {
    const v = p.reduce<unknown>((o, k) => (o as Record<string | number, unknown>)[k], message);
    return typeof v === "object" && v !== null && !Array.isArray(v);
  });
  for (const path of objects) {
    for (const { name, json } of HOSTILE_JSON.filter((h) => h.json.startsWith("{"))) {
      out.push({
        what: `${path.length === 0 ? "(root)" : path.join(".")}.__proto__ = ${name}`,
        text: withProtoKeyAt(message, path, json),
      });
    }
  }
  return out;
}

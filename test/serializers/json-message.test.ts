import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DEFAULT_MAX_JSON_DEPTH, parseJsonMessage } from "../../src/serializers/index.js";

const nested = (depth: number): string => "[".repeat(depth) + "]".repeat(depth);

describe("parseJsonMessage", () => {
  it("parses any JSON document within the depth limit (property)", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 10 }), (value) => {
        const text = JSON.stringify(value);
        expect(parseJsonMessage(text)).toEqual({ ok: true, value: JSON.parse(text) });
      }),
      { numRuns: 500 },
    );
  });

  it(`accepts nesting to ${DEFAULT_MAX_JSON_DEPTH} levels and refuses one more, in words`, () => {
    expect(parseJsonMessage(nested(DEFAULT_MAX_JSON_DEPTH)).ok).toBe(true);
    const refused = parseJsonMessage(nested(DEFAULT_MAX_JSON_DEPTH + 1));
    expect(refused).toEqual({
      ok: false,
      detail: `JSON nested deeper than ${DEFAULT_MAX_JSON_DEPTH} levels (reached ${DEFAULT_MAX_JSON_DEPTH + 1}); send flatter messages`,
    });
  });

  it("does not count brackets inside strings, escaped quotes included", () => {
    const text = JSON.stringify({ a: "[[[[{{{{", b: '\\"[[[[', c: ["]]]]"] });
    expect(parseJsonMessage(text, 2)).toEqual({ ok: true, value: JSON.parse(text) });
    expect(parseJsonMessage('["\\\\", [[1]]]', 2).ok).toBe(false); // an escaped backslash ends the escape
  });

  it("refuses text that is not JSON, in words, without throwing", () => {
    for (const text of ["", "{", "{'a':1}", "[1,]", "undefined", "\u0000"]) {
      const result = parseJsonMessage(text);
      expect(result.ok, JSON.stringify(text)).toBe(false);
      if (!result.ok)
        expect(result.detail).toMatch(/^not valid JSON \(.+\); the data field must hold one JSON document$/);
    }
  });

  it("keeps a __proto__ key as data, never as the prototype", () => {
    const result = parseJsonMessage('{"__proto__":{"polluted":true}}');
    expect(result.ok && Object.getPrototypeOf(result.value)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined();
  });
});

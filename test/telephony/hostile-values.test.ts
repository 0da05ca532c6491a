/**
 * Every field of every message a provider sends, replaced one at a time by a value JSON can carry
 * but a careless reader chokes on: an object whose `toString` and `valueOf` are not functions
 * (`String()` and template strings throw on it), a list, a huge number, null. The serializer must
 * answer each with frames or a refusal, never a throw: a throw in `deserialize` would be a caller
 * who can crash the bot's input loop with one message.
 */
import { describe, expect, it } from "vitest";
import { createTelephonySerializer, TELEPHONY_PROVIDERS } from "../../src/telephony/serializers.js";
import { CALLER_WIRES, type CallIds, type WireMessage } from "../support/callers/index.js";

const IDS: CallIds = {
  callId: "CA00000000000000000000000000000001",
  streamId: "MZ00000000000000000000000000000001",
  accountId: "AC00000000000000000000000000000001",
  from: "+15550000001",
  to: "+15550000002",
  customParameters: { greeting: "hello" },
};

const HOSTILE: readonly unknown[] = [
  { toString: "", valueOf: "" },
  { toString: {}, valueOf: {}, toJSON: "" },
  [{ toString: "" }],
  1e308,
  -0,
  null,
  "",
];

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Every path to a leaf or a branch of `value` (the root excluded). */
function paths(value: Json, prefix: readonly (string | number)[] = []): (string | number)[][] {
  if (value === null || typeof value !== "object") return [];
  const keys: (string | number)[] = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value);
  return keys.flatMap((k) => {
    const child = (value as Record<string | number, Json>)[k]!;
    return [[...prefix, k], ...paths(child, [...prefix, k])];
  });
}

function replaced(value: Json, path: readonly (string | number)[], by: unknown): Json {
  const copy = structuredClone(value) as Record<string | number, Json>;
  let at = copy;
  for (const k of path.slice(0, -1)) at = at[k] as Record<string | number, Json>;
  at[path.at(-1)!] = by as Json;
  return copy as Json;
}

/** The messages of one short call: the opening ones, two media messages, a key press, the end. */
function stream(provider: (typeof TELEPHONY_PROVIDERS)[number]): WireMessage[] {
  const wire = CALLER_WIRES[provider];
  const payload = new Uint8Array(wire.inbound.encoding === "l16" ? 640 : 160).fill(0x55);
  const first = wire.firstMessages(IDS, { format: wire.inbound });
  const n = first.length;
  return [
    ...first,
    wire.media(IDS, payload, { seq: n + 1, chunk: 1, timestampMs: 0 }),
    wire.media(IDS, payload, { seq: n + 2, chunk: 2, timestampMs: 20 }),
    wire.dtmf(IDS, "5", n + 3),
    ...(wire.hasStop ? [wire.stop(IDS, n + 4)] : []),
  ];
}

describe("telephony serializers read hostile values without throwing", () => {
  for (const provider of TELEPHONY_PROVIDERS) {
    it(`${provider}: every field of every message, replaced by each hostile value`, () => {
      const messages = stream(provider);
      let variants = 0;
      for (const [index, message] of messages.entries()) {
        if (typeof message !== "string") continue; // binary audio has no fields
        const parsed = JSON.parse(message) as Json;
        for (const path of paths(parsed)) {
          for (const by of HOSTILE) {
            const serializer = createTelephonySerializer(provider);
            for (const before of messages.slice(0, index)) serializer.deserialize(before);
            const hostile = JSON.stringify(replaced(parsed, path, by));
            let result: ReturnType<typeof serializer.deserialize> | undefined;
            expect(
              () => {
                result = serializer.deserialize(hostile);
              },
              `${provider} message ${index} with ${path.join(".")} = ${JSON.stringify(by)}`,
            ).not.toThrow();
            if (result && !result.ok) expect(result.error.detail.length).toBeGreaterThan(0);
            // The rest of the call still reads.
            for (const after of messages.slice(index + 1)) {
              expect(() => serializer.deserialize(after)).not.toThrow();
            }
            variants += 1;
          }
        }
      }
      // Guard against a stream that silently stopped producing fields to replace.
      expect(variants).toBeGreaterThanOrEqual(HOSTILE.length * 5);
    });
  }

  for (const provider of TELEPHONY_PROVIDERS) {
    it(`${provider}: a custom parameter named __proto__ is kept as a parameter`, () => {
      const wire = CALLER_WIRES[provider];
      const customParameters = JSON.parse('{"__proto__":"x","greeting":"hello"}') as Record<string, string>;
      const serializer = createTelephonySerializer(provider);
      for (const m of wire.firstMessages({ ...IDS, customParameters }, { format: wire.inbound })) {
        serializer.deserialize(m);
      }
      const params = serializer.call?.customParameters ?? {};
      if (!Object.hasOwn(params, "greeting")) return; // this provider's stream carries no parameters
      expect(Object.getPrototypeOf(params)).toBe(Object.prototype);
      expect(Object.entries(params)).toEqual(expect.arrayContaining([["__proto__", "x"]]));
    });
  }

  it("given what is not a message (an object whose toString is not a function), refuses it in words", () => {
    for (const provider of TELEPHONY_PROVIDERS) {
      const hostile = JSON.parse('{"toString":"","valueOf":""}') as string;
      const result = createTelephonySerializer(provider).deserialize(hostile);
      expect(result.ok).toBe(false);
      if (!result.ok)
        expect(result.error.detail).toBe("not a message: expected text or bytes (got an object)");
    }
  });
});

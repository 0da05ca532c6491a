/** Exotel's `?sample-rate=` read from any query string (docs/design/dev-server.md): never throws, one clear answer. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { readStreamUrl } from "../../src/telephony/stream-url.js";

describe("readStreamUrl, any query", () => {
  it("accepts exactly one 8000|16000|24000 (however encoded), refuses anything else in a bounded sentence, never throws", () => {
    const value = fc.oneof(
      fc.constantFrom("8000", "16000", "24000", "%31%36000", "16k", "", "016000", "16000.0", "1e4", " 16000"),
      fc.string({ maxLength: 20 }),
      fc.string({ minLength: 1_000, maxLength: 5_000 }),
    );
    fc.assert(
      fc.property(fc.array(value, { maxLength: 4 }), fc.string({ maxLength: 30 }), (values, noise) => {
        const query = [
          `token=${encodeURIComponent(noise)}`,
          ...values.map((v) => `sample-rate=${/%/.test(v) ? v : encodeURIComponent(v)}`),
        ].join("&");
        const url = new URL(`https://bot.example.com/telephony/exotel/ws/t?${query}`);
        const reading = readStreamUrl("exotel", url);
        const decoded = url.searchParams.getAll("sample-rate");
        const good = decoded.length === 1 && ["8000", "16000", "24000"].includes(decoded[0]!);
        if (decoded.length === 0) expect(reading).toEqual({ ok: true, options: {} });
        else if (good) expect(reading).toEqual({ ok: true, options: { sampleRate: Number(decoded[0]) } });
        else {
          expect(reading.ok).toBe(false);
          if (!reading.ok) {
            expect(reading.detail).toMatch(/sample-rate/);
            expect(reading.detail.length).toBeLessThan(400);
          }
        }
        expect(readStreamUrl("twilio", url)).toEqual({ ok: true, options: {} });
      }),
      { numRuns: 500 },
    );
  });
});

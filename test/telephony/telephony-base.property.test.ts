/**
 * Properties of the parts every telephony serializer shares: the Packetizer (cutting wire bytes
 * into the provider's message sizes), the wire codecs (G.711 μ-law and A-law, L16) and the strict
 * base64 decoder.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Packetizer, type PacketRule } from "../../src/serializers/telephony/packetizer.js";
import {
  decodeBase64,
  decodeWireAudio,
  encodeBase64,
  encodeWireAudio,
  silenceByte,
  type WireEncoding,
} from "../../src/serializers/telephony/wire-audio.js";

const RUNS = Number(process.env["FUZZ_RUNS"] ?? 500);
const FILL = 0xff;

/** A rule: exact packets, or Exotel's "a multiple of `multipleOf`, at least `packetBytes`". */
const rule: fc.Arbitrary<PacketRule> = fc.oneof(
  fc.integer({ min: 1, max: 700 }).map((packetBytes) => ({ packetBytes })),
  fc
    .tuple(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 12 }))
    .map(([multipleOf, k]) => ({ packetBytes: multipleOf * k, multipleOf })),
  fc.constantFrom<PacketRule>(
    { packetBytes: 160 },
    { packetBytes: 640 },
    { packetBytes: 3200, multipleOf: 320 },
  ),
);

/** Chunks of any size, including empty ones and ones several packets long. */
const chunks = fc.array(
  fc.oneof(
    fc.uint8Array({ maxLength: 40 }),
    fc
      .integer({ min: 0, max: 8000 })
      .map((n) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + n) & 0xff)),
  ),
  { maxLength: 30 },
);

function isAllowedSize(size: number, r: PacketRule): boolean {
  if (r.multipleOf === undefined) return size === r.packetBytes;
  return size >= r.packetBytes && size % r.multipleOf === 0;
}

describe("Packetizer (property)", () => {
  it("for any chunking: output = input + padding only at flush; every packet of an allowed size; carry < packetBytes", () => {
    fc.assert(
      fc.property(rule, chunks, (r, input) => {
        const packetizer = new Packetizer(r, FILL);
        const out: Buffer[] = [];
        const original: Buffer[] = [];
        let inBytes = 0;
        let outBytes = 0;
        const badSizes: number[] = [];
        for (const chunk of input) {
          original.push(Buffer.from(chunk));
          inBytes += chunk.byteLength;
          for (const packet of packetizer.push(chunk)) {
            // Counted, not asserted one by one: a 1-byte rule makes thousands of packets.
            if (!isAllowedSize(packet.byteLength, r)) badSizes.push(packet.byteLength);
            out.push(Buffer.from(packet));
            outBytes += packet.byteLength;
          }
          // The caller may reuse its buffer at once (an encoder's scratch array): held bytes are copies.
          chunk.fill(0xaa);
          expect(packetizer.pending).toBeLessThan(r.packetBytes);
          expect(outBytes + packetizer.pending).toBe(inBytes);
        }
        expect(badSizes, `packet sizes under ${JSON.stringify(r)}`).toEqual([]);
        const held = packetizer.pending;
        const tail = packetizer.flush();
        if (held === 0) {
          expect(tail).toBeUndefined();
        } else {
          expect(tail!.byteLength).toBe(r.packetBytes);
          expect(tail!.subarray(held).every((b) => b === FILL)).toBe(true);
          out.push(Buffer.from(tail!));
        }
        expect(packetizer.pending).toBe(0);
        const all = Buffer.concat(out);
        expect(all.subarray(0, inBytes).equals(Buffer.concat(original))).toBe(true);
        expect(all.byteLength - inBytes).toBe(held === 0 ? 0 : r.packetBytes - held);
      }),
      { numRuns: RUNS },
    );
  });

  it("drops the held bytes on clear, and starts afresh", () => {
    fc.assert(
      fc.property(rule, chunks, chunks, (r, before, after) => {
        const packetizer = new Packetizer(r, FILL);
        for (const chunk of before) packetizer.push(chunk);
        packetizer.clear();
        expect(packetizer.pending).toBe(0);
        const out: Buffer[] = [];
        for (const chunk of after) for (const packet of packetizer.push(chunk)) out.push(Buffer.from(packet));
        const sent = Buffer.concat(out);
        const all = Buffer.concat(after);
        expect(sent.equals(all.subarray(0, sent.byteLength))).toBe(true);
        expect(sent.byteLength + packetizer.pending).toBe(all.byteLength);
      }),
      { numRuns: RUNS },
    );
  });

  it("refuses a rule it cannot keep, in words", () => {
    expect(() => new Packetizer({ packetBytes: 0 }, FILL)).toThrow(/packetBytes must be a whole number ≥ 1/);
    expect(() => new Packetizer({ packetBytes: 3200, multipleOf: 300 }, FILL)).toThrow(/multipleOf must be/);
  });
});

/** G.711's bound: half a quantisation step, plus clipping at the top of the range (documented in g711.ts). */
const g711Bound = (x: number): number => Math.abs(x) / 32 + 16;

describe("wire audio (property)", () => {
  const samples = fc.int16Array({ maxLength: 2000 });

  for (const encoding of ["mulaw", "alaw"] as const) {
    it(`${encoding}: any PCM16 round trips within G.711's error bound, one byte a sample`, () => {
      fc.assert(
        fc.property(samples, (pcm) => {
          const wire = encodeWireAudio(pcm, encoding);
          expect(wire.byteLength).toBe(pcm.length);
          const decoded = decodeWireAudio(wire, encoding);
          if (!decoded.ok) throw new Error(decoded.detail);
          expect(decoded.samples.length).toBe(pcm.length);
          for (let i = 0; i < pcm.length; i++) {
            expect(Math.abs(decoded.samples[i]! - pcm[i]!)).toBeLessThanOrEqual(g711Bound(pcm[i]!));
          }
        }),
        { numRuns: RUNS },
      );
    });

    it(`${encoding}: every code decodes and encodes back to itself (but μ-law's negative zero), and silence is silent`, () => {
      const codes = Uint8Array.from({ length: 256 }, (_, i) => i);
      const decoded = decodeWireAudio(codes, encoding);
      if (!decoded.ok) throw new Error(decoded.detail);
      const again = encodeWireAudio(decoded.samples, encoding);
      for (let code = 0; code < 256; code++) {
        if (encoding === "mulaw" && code === 0x7f)
          expect(again[code]).toBe(0xff); // −0 and +0 are one sample
        else expect(again[code], `code ${code}`).toBe(code);
      }
      expect(decoded.samples[silenceByte(encoding)]).toBe(encoding === "mulaw" ? 0 : 8); // A-law has no zero code
      // Every sample, exhaustively, within the bound.
      const all = Int16Array.from({ length: 65536 }, (_, i) => i - 32768);
      const back = decodeWireAudio(encodeWireAudio(all, encoding), encoding);
      if (!back.ok) throw new Error(back.detail);
      let worst = 0;
      for (let i = 0; i < all.length; i++)
        worst = Math.max(worst, Math.abs(back.samples[i]! - all[i]!) - g711Bound(all[i]!));
      expect(worst).toBeLessThanOrEqual(0);
    });
  }

  it("l16: any PCM16 round trips exactly, little-endian, two bytes a sample; half a sample is refused in words", () => {
    fc.assert(
      fc.property(samples, fc.uint8Array({ minLength: 1, maxLength: 99 }), (pcm, odd) => {
        const wire = encodeWireAudio(pcm, "l16");
        expect(wire.byteLength).toBe(pcm.length * 2);
        if (pcm.length > 0) expect(wire[0]! | (wire[1]! << 8)).toBe(pcm[0]! & 0xffff);
        const decoded = decodeWireAudio(wire, "l16");
        if (!decoded.ok) throw new Error(decoded.detail);
        expect(Array.from(decoded.samples)).toEqual(Array.from(pcm));
        // The decoded samples are a copy: the message buffer may be reused.
        wire.fill(0x55);
        expect(Array.from(decoded.samples)).toEqual(Array.from(pcm));
        const bytes = odd.byteLength % 2 === 1 ? odd : odd.subarray(1);
        if (bytes.byteLength % 2 === 1) {
          const refused = decodeWireAudio(bytes, "l16");
          expect(refused.ok).toBe(false);
          if (!refused.ok) expect(refused.detail).toMatch(/not a whole number of 16-bit samples/);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("encodes a copy: the caller's samples are never aliased", () => {
    for (const encoding of ["mulaw", "alaw", "l16"] as WireEncoding[]) {
      const pcm = Int16Array.from([1, -2, 300, -4000]);
      const wire = encodeWireAudio(pcm, encoding);
      const before = Array.from(wire);
      pcm.fill(12345);
      expect(Array.from(wire)).toEqual(before);
    }
  });
});

describe("strict base64 (property)", () => {
  it("decodes whatever base64 encodes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        const decoded = decodeBase64(encodeBase64(bytes));
        expect(decoded).toBeDefined();
        expect(Array.from(decoded!)).toEqual(Array.from(bytes));
      }),
      { numRuns: RUNS },
    );
  });

  it("refuses what Node's lenient decoder would accept: foreign characters, URL-safe letters, missing padding, padding inside, leftover bits set", () => {
    const corrupt = fc
      .tuple(
        fc.uint8Array({ minLength: 1, maxLength: 300 }),
        fc.constantFrom(" ", "\n", "\r", "\t", "-", "_", ".", "*", "%", "é", "\u0000", "=", "!"),
        fc.nat(),
      )
      .map(([bytes, c, at]) => {
        // One character replaced, so the length stays a multiple of 4: only the alphabet can tell.
        const text = encodeBase64(bytes);
        const i = at % text.replace(/=+$/, "").length;
        return text.slice(0, i) + c + text.slice(i + 1);
      })
      // "=" replacing the last letter can make another valid string ("AAA=" → "AA=="): not corrupt.
      .filter((text) => Buffer.from(text, "base64").toString("base64") !== text);
    const unpadded = fc
      .uint8Array({ minLength: 1, maxLength: 300 })
      .filter((b) => b.byteLength % 3 !== 0)
      .map((b) => encodeBase64(b).replace(/=+$/, ""));
    fc.assert(
      fc.property(fc.oneof(corrupt, unpadded), (text) => {
        // Node decodes it without a word (skipping or guessing)…
        expect(() => Buffer.from(text, "base64")).not.toThrow();
        // …the strict decoder refuses it.
        expect(decodeBase64(text), JSON.stringify(text)).toBeUndefined();
      }),
      { numRuns: RUNS },
    );
  });
});

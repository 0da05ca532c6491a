import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PcmByteCarry } from "../../../src/services/tts/pcm-byte-carry.js";

describe("PcmByteCarry (property)", () => {
  it("however a PCM16 stream is cut into byte chunks, the samples out are the samples in", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -32768, max: 32767 }), { maxLength: 400 }),
        fc.array(fc.nat({ max: 50 }), { maxLength: 40 }),
        (samples, cuts) => {
          const bytes = Buffer.alloc(samples.length * 2);
          samples.forEach((v, i) => bytes.writeInt16LE(v, i * 2));
          const carry = new PcmByteCarry();
          const out: number[] = [];
          let at = 0;
          for (const cut of cuts) {
            const end = Math.min(bytes.length, at + cut);
            out.push(...carry.push(bytes.subarray(at, end)));
            at = end;
          }
          out.push(...carry.push(bytes.subarray(at)));
          expect(out).toEqual(samples);
          expect(carry.pending).toBe(false);
        },
      ),
    );
  });

  it("an odd byte left at the end of a stream is dropped and counted at reset", () => {
    const carry = new PcmByteCarry();
    expect(Array.from(carry.push(Uint8Array.from([1, 0, 2])))).toEqual([1]);
    expect(carry.pending).toBe(true);
    carry.reset();
    expect(carry.droppedBytes).toBe(1);
    expect(Array.from(carry.push(Uint8Array.from([3, 0])))).toEqual([3]);
  });
});

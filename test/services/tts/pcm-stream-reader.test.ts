import { execFileSync } from "node:child_process";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PcmStreamReader } from "../../../src/services/tts/pcm-stream-reader.js";
import { TTSOutputError } from "../../../src/services/tts/tts-errors.js";

// A real WAV as espeak-ng writes it to a pipe (sizes in the header are placeholders).
const wav = execFileSync("espeak-ng", ["--stdout", "Testing one two."]);

function readAll(bytes: Uint8Array, cuts: number[]): Int16Array {
  const reader = new PcmStreamReader("test");
  const parts: Int16Array[] = [];
  let from = 0;
  for (const cut of [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)) {
    parts.push(reader.push(bytes.subarray(from, cut)));
    from = cut;
  }
  parts.push(reader.push(bytes.subarray(from)));
  reader.end();
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

describe("PcmStreamReader", () => {
  it("reads espeak-ng's streamed WAV (bogus sizes) to the same samples however the bytes are cut", () => {
    const whole = readAll(wav, []);
    expect(whole.length).toBe((wav.length - 44) / 2);
    expect(Buffer.from(whole.buffer).equals(wav.subarray(44))).toBe(true);
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 30 }), (cuts) => {
        expect(Buffer.from(readAll(wav, cuts).buffer).equals(Buffer.from(whole.buffer))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it("learns the format from the header; says clearly what is wrong with a bad stream", () => {
    const reader = new PcmStreamReader("espeak-ng's output");
    reader.push(wav.subarray(0, 60));
    expect(reader.format).toEqual({ sampleRate: 22_050, numChannels: 1 });
    expect(() => new PcmStreamReader("x").push(Buffer.from("Error: no voice\n"))).toThrow(
      /x is not a WAV stream/,
    );
    const empty = new PcmStreamReader("x");
    expect(() => empty.end()).toThrow(TTSOutputError);
    expect(() => empty.end()).toThrow(/before the WAV header was complete \(the program wrote no audio\)/);
    const float = Buffer.from(wav.subarray(0, 44));
    float.writeUInt16LE(3, 20); // IEEE float
    float.writeUInt16LE(32, 34);
    expect(() => new PcmStreamReader("x").push(float)).toThrow(/format 3, 32-bit.*only 16-bit PCM/);
  });

  it("raw PCM: carries a sample split across reads", () => {
    const reader = new PcmStreamReader("raw", { sampleRate: 16_000, numChannels: 1 });
    const a = reader.push(Uint8Array.of(0x01, 0x02, 0x03));
    const b = reader.push(Uint8Array.of(0x04));
    expect(Array.from(a)).toEqual([0x0201]);
    expect(Array.from(b)).toEqual([0x0403]);
  });
});

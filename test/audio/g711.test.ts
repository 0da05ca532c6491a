import { describe, expect, it } from "vitest";
import {
  alawToLinear,
  decodeAlaw,
  decodeUlaw,
  encodeAlaw,
  encodeUlaw,
  linearToAlaw,
  linearToUlaw,
  ulawToLinear,
} from "../../src/audio/g711.js";

const ALL_PCM16 = Int16Array.from({ length: 65536 }, (_, i) => i - 32768);
const ALL_CODES = Uint8Array.from({ length: 256 }, (_, i) => i);

// Reference values from the G.711 tables (16-bit scale, as in the ITU-T G.191 reference coder).
describe("μ-law", () => {
  it("encodes zero, full scale and -1 to the standard codes", () => {
    expect(linearToUlaw(0)).toBe(0xff);
    expect(linearToUlaw(32767)).toBe(0x80);
    expect(linearToUlaw(-32768)).toBe(0x00);
    expect(linearToUlaw(-1)).toBe(0x7f);
  });

  it("decodes codes to the standard table values", () => {
    const table: Array<[number, number]> = [
      [0x00, -32124],
      [0x01, -31100],
      [0x0f, -16764],
      [0x10, -15996],
      [0x70, -120],
      [0x7e, -8],
      [0x7f, 0],
      [0x80, 32124],
      [0xfe, 8],
      [0xff, 0],
    ];
    for (const [code, value] of table) expect(ulawToLinear(code), `code 0x${code.toString(16)}`).toBe(value);
  });

  it("round-trips every PCM16 value within |x|/32 + 16", () => {
    const back = decodeUlaw(encodeUlaw(ALL_PCM16));
    let worst = 0;
    for (let i = 0; i < ALL_PCM16.length; i++) {
      const x = ALL_PCM16[i]!;
      worst = Math.max(worst, Math.abs(back[i]! - x) - Math.abs(x) / 32);
    }
    expect(worst).toBeLessThanOrEqual(16);
  });

  it("is monotonic: larger inputs never decode smaller", () => {
    const back = decodeUlaw(encodeUlaw(ALL_PCM16));
    for (let i = 1; i < back.length; i++)
      if (back[i]! < back[i - 1]!) expect.fail(`not monotonic at ${ALL_PCM16[i]}`);
  });

  it("re-encodes every decoded code to itself, except negative zero", () => {
    const again = encodeUlaw(decodeUlaw(ALL_CODES));
    const mismatches = [...ALL_CODES].filter((c) => again[c] !== c);
    expect(mismatches).toEqual([0x7f]); // -0 decodes to 0, which encodes as +0 (0xff)
  });
});

describe("A-law", () => {
  it("encodes zero, full scale and -1 to the standard codes", () => {
    expect(linearToAlaw(0)).toBe(0xd5);
    expect(linearToAlaw(-1)).toBe(0x55);
    expect(linearToAlaw(32767)).toBe(0xaa);
    expect(linearToAlaw(-32768)).toBe(0x2a);
  });

  it("decodes codes to the standard table values", () => {
    const table: Array<[number, number]> = [
      [0x00, -5504],
      [0x01, -5248],
      [0x02, -6016],
      [0x08, -7552],
      [0x2a, -32256],
      [0x55, -8],
      [0xaa, 32256],
      [0xd5, 8],
    ];
    for (const [code, value] of table) expect(alawToLinear(code), `code 0x${code.toString(16)}`).toBe(value);
  });

  it("round-trips every PCM16 value within |x|/32 + 16", () => {
    const back = decodeAlaw(encodeAlaw(ALL_PCM16));
    let worst = 0;
    for (let i = 0; i < ALL_PCM16.length; i++) {
      const x = ALL_PCM16[i]!;
      worst = Math.max(worst, Math.abs(back[i]! - x) - Math.abs(x) / 32);
    }
    expect(worst).toBeLessThanOrEqual(16);
  });

  it("is monotonic and re-encodes every decoded code to itself", () => {
    const back = decodeAlaw(encodeAlaw(ALL_PCM16));
    for (let i = 1; i < back.length; i++)
      if (back[i]! < back[i - 1]!) expect.fail(`not monotonic at ${ALL_PCM16[i]}`);
    expect(encodeAlaw(decodeAlaw(ALL_CODES))).toEqual(ALL_CODES);
  });
});

describe("buffers", () => {
  it("encode one byte per sample and decode one sample per byte", () => {
    const pcm = Int16Array.from([0, 1000, -1000, 32767]);
    expect(encodeUlaw(pcm)).toEqual(Uint8Array.from(pcm, linearToUlaw));
    expect(encodeAlaw(pcm)).toEqual(Uint8Array.from(pcm, linearToAlaw));
    expect(decodeUlaw(Uint8Array.from([0xff, 0x80]))).toEqual(Int16Array.from([0, 32124]));
    expect(decodeAlaw(Uint8Array.from([0xd5, 0xaa]))).toEqual(Int16Array.from([8, 32256]));
  });
});

import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import wavefile from "wavefile";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  NotAWavError,
  UnsupportedWavEncodingError,
  WavFileNotFoundError,
  readWav,
  readWavFile,
  writeWav,
  writeWavFile,
} from "../../src/audio/wav.js";
import { interleave } from "../../src/audio/pcm.js";
import { sine } from "./signals.js";

let dir = "";
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "voicepipe-wav-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A WAV file made by wavefile (an independent writer), as bytes. */
function wavefileBytes(
  channels: number,
  rate: number,
  bitDepth: string,
  samples: ArrayLike<number> | number[][],
  container?: string,
): Uint8Array {
  const wav = new wavefile.WaveFile();
  wav.fromScratch(channels, rate, bitDepth, samples as number[], container ? { container } : {});
  return wav.toBuffer();
}

/** A WAVE_FORMAT_EXTENSIBLE file built by hand (wavefile writes the plain header). */
function extensibleWav(
  channels: number,
  rate: number,
  bits: number,
  samples: number[],
  subFormat = 1,
): Uint8Array {
  const bytesPerSample = bits / 8;
  const dataBytes = samples.length * bytesPerSample;
  const out = new Uint8Array(68 + dataBytes);
  const view = new DataView(out.buffer);
  const ascii = (offset: number, text: string) =>
    [...text].forEach((ch, i) => (out[offset + i] = ch.charCodeAt(0)));
  ascii(0, "RIFF");
  view.setUint32(4, 60 + dataBytes, true);
  ascii(8, "WAVEfmt ");
  view.setUint32(16, 40, true);
  view.setUint16(20, 0xfffe, true);
  view.setUint16(22, channels, true);
  view.setUint32(24, rate, true);
  view.setUint32(28, rate * channels * bytesPerSample, true);
  view.setUint16(32, channels * bytesPerSample, true);
  view.setUint16(34, bits, true);
  view.setUint16(36, 22, true); // cbSize
  view.setUint16(38, bits, true); // valid bits
  view.setUint32(40, 0, true); // channel mask
  // Sub-format GUID: the format tag, then 0000-0010-8000-00aa00389b71.
  view.setUint32(44, subFormat, true);
  out.set([0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71], 48);
  ascii(60, "data");
  view.setUint32(64, dataBytes, true);
  samples.forEach((v, i) => {
    const o = 68 + i * bytesPerSample;
    if (bits === 16) view.setInt16(o, v, true);
    else for (let b = 0; b < bytesPerSample; b++) out[o + b] = (v >> (8 * b)) & 0xff;
  });
  return out;
}

describe("writeWav", () => {
  it("writes a 16-bit PCM file that an independent parser reads back exactly", () => {
    const audio = interleave([Int16Array.from([1, -2, 32767]), Int16Array.from([-32768, 5, 0])]);
    const bytes = writeWav({ audio, sampleRate: 22050, numChannels: 2 });
    const parsed = new wavefile.WaveFile(bytes) as unknown as {
      fmt: {
        audioFormat: number;
        numChannels: number;
        sampleRate: number;
        bitsPerSample: number;
        byteRate: number;
        blockAlign: number;
      };
      data: { samples: Uint8Array };
    };
    expect(parsed.fmt).toMatchObject({
      audioFormat: 1,
      numChannels: 2,
      sampleRate: 22050,
      bitsPerSample: 16,
      byteRate: 22050 * 4,
      blockAlign: 4,
    });
    const d = parsed.data.samples;
    expect(Array.from(new Int16Array(d.buffer, d.byteOffset, d.byteLength / 2))).toEqual(Array.from(audio));
    expect(bytes.byteLength).toBe(44 + audio.length * 2);
  });

  it("rejects a partial frame", () => {
    expect(() => writeWav({ audio: new Int16Array(3), sampleRate: 8000, numChannels: 2 })).toThrow(
      /whole number of 2-channel frames/,
    );
  });
});

describe("readWavFile / writeWavFile", () => {
  it("round-trips stereo PCM16 through a real file", async () => {
    const audio = interleave([sine(440, 16000, 0.1), sine(880, 16000, 0.1, 5000)]);
    const path = join(dir, "stereo.wav");
    await writeWavFile(path, { audio, sampleRate: 16000, numChannels: 2 });
    const read = await readWavFile(path);
    expect(read.sampleRate).toBe(16000);
    expect(read.numChannels).toBe(2);
    expect(read.audio).toEqual(audio);
  });

  it("defaults to mono when numChannels is omitted (an audio frame shape)", async () => {
    const path = join(dir, "mono.wav");
    await writeWavFile(path, { audio: Int16Array.from([7, 8, 9]), sampleRate: 8000 });
    expect(await readWavFile(path)).toEqual({
      audio: Int16Array.from([7, 8, 9]),
      sampleRate: 8000,
      numChannels: 1,
    });
  });

  it("names the path when the file does not exist", async () => {
    const path = join(dir, "nope", "missing.wav");
    const attempt = readWavFile(path);
    await expect(attempt).rejects.toBeInstanceOf(WavFileNotFoundError);
    await expect(readWavFile(path)).rejects.toThrow(path);
    await expect(readWavFile(path)).rejects.toMatchObject({ code: "VP_WAV_FILE_NOT_FOUND", path });
  });

  it("says a directory is not a WAV file, naming the path, instead of a raw EISDIR", async () => {
    // Regression (issue 6): readWavFile rethrew Node's "EISDIR: illegal operation on a directory, read".
    const path = join(dir, "a-directory.wav");
    await mkdir(path);
    await expect(readWavFile(path)).rejects.toMatchObject({
      code: "VP_WAV_FILE_UNREADABLE",
      path,
      message: `cannot read WAV file ${path}: it is a directory; give the path of a .wav file`,
    });
  });

  it("says why a WAV file cannot be written, naming the path", async () => {
    const path = join(dir, "no-such-dir", "out.wav");
    await expect(writeWavFile(path, { audio: new Int16Array(4), sampleRate: 8000 })).rejects.toMatchObject({
      code: "VP_WAV_FILE_UNWRITABLE",
      message: `cannot write WAV file ${path}: its directory does not exist; create it first or choose another path`,
    });
    await expect(writeWavFile(dir, { audio: new Int16Array(4), sampleRate: 8000 })).rejects.toThrow(
      /it is a directory/,
    );
  });

  it("says a text file is not a WAV, naming the path", async () => {
    const path = join(dir, "notes.wav");
    await writeFile(path, "these are not the samples you are looking for");
    await expect(readWavFile(path)).rejects.toBeInstanceOf(NotAWavError);
    await expect(readWavFile(path)).rejects.toThrow(`${path} is not a readable WAV file`);
  });
});

describe("readWav encodings", () => {
  it("reads 8-bit unsigned PCM, centred on 128", () => {
    const { audio } = readWav(wavefileBytes(1, 8000, "8", [128, 255, 0, 129]));
    expect(Array.from(audio)).toEqual([0, 127 * 256, -32768, 256]);
  });

  it("reads 24-bit PCM, rounded to the nearest 16-bit value", () => {
    const { audio, sampleRate } = readWav(
      wavefileBytes(1, 48000, "24", [0, 1234 * 256 + 100, -1234 * 256 - 200, 8388607, -8388608]),
    );
    expect(sampleRate).toBe(48000);
    expect(Array.from(audio)).toEqual([0, 1234, -1235, 32767, -32768]);
  });

  it("reads 32-bit PCM, rounded to the nearest 16-bit value", () => {
    const { audio } = readWav(
      wavefileBytes(1, 16000, "32", [65536 * 1000 + 40000, -65536 * 7, 2147483647, -2147483648]),
    );
    expect(Array.from(audio)).toEqual([1001, -7, 32767, -32768]);
  });

  it("reads 32- and 64-bit float, scaled and clipped", () => {
    const values = [0, 0.5, -0.5, 1, -1, 1.7];
    for (const depth of ["32f", "64"]) {
      const { audio } = readWav(wavefileBytes(1, 24000, depth, values));
      expect(Array.from(audio), depth).toEqual([0, 16384, -16384, 32767, -32768, 32767]);
    }
  });

  it("reads G.711 μ-law and A-law files", () => {
    expect(
      Array.from(readWav(wavefileBytes(1, 8000, "8m", Uint8Array.from([0xff, 0x80, 0x00]))).audio),
    ).toEqual([0, 32124, -32124]);
    expect(Array.from(readWav(wavefileBytes(1, 8000, "8a", Uint8Array.from([0xd5, 0xaa]))).audio)).toEqual([
      8, 32256,
    ]);
  });

  it("reads WAVE_FORMAT_EXTENSIBLE files (24-bit, 3 channels), keeping the interleaving", () => {
    const samples24 = [1 * 256, 2 * 256, 3 * 256, -4 * 256, 5 * 256, 32767 * 256];
    const { audio, numChannels, sampleRate } = readWav(extensibleWav(3, 44100, 24, samples24));
    expect(numChannels).toBe(3);
    expect(sampleRate).toBe(44100);
    expect(Array.from(audio)).toEqual([1, 2, 3, -4, 5, 32767]);
  });

  it("rejects an extensible file whose sub-format is not PCM or float", () => {
    const bytes = extensibleWav(1, 8000, 16, [1, 2], 0x0055);
    expect(() => readWav(bytes)).toThrow(/MP3 \(format tag 0x55\)/);
  });

  it("reads big-endian RIFX files", () => {
    const { audio } = readWav(wavefileBytes(1, 8000, "16", [1, -2, 300], "RIFX"));
    expect(Array.from(audio)).toEqual([1, -2, 300]);
  });

  it("drops a trailing partial frame of a truncated file", () => {
    const bytes = writeWav({ audio: Int16Array.from([1, 2, 3, 4]), sampleRate: 8000, numChannels: 2 });
    const { audio } = readWav(bytes.subarray(0, bytes.length - 2));
    expect(Array.from(audio)).toEqual([1, 2]);
  });

  it("says how much of a truncated file is missing, and nothing for a whole or size-less one", () => {
    // Regression (issue 6): a truncated file was accepted silently.
    const bytes = writeWav({ audio: new Int16Array(2 * 8000).fill(9), sampleRate: 8000, numChannels: 2 });
    const cut = readWav(bytes.subarray(0, 44 + 4 * 3000 + 3)); // 3000 frames and a partial one
    expect(cut.audio.length).toBe(2 * 3000);
    expect(cut.missingFrames).toBe(5000);
    expect(readWav(bytes).missingFrames).toBeUndefined();
    // A streaming writer's header (data size 0xFFFFFFFF) announces no size: nothing is missing.
    const streamed = bytes.slice();
    new DataView(streamed.buffer).setUint32(40, 0xffffffff, true);
    expect(readWav(streamed).missingFrames).toBeUndefined();
  });

  it("rejects ADPCM with an UnsupportedWavEncodingError that names the encoding", () => {
    const bytes = wavefileBytes(
      1,
      8000,
      "4",
      Int16Array.from({ length: 1017 }, (_, i) => i),
    );
    expect(() => readWav(bytes, "adpcm.wav")).toThrow(UnsupportedWavEncodingError);
    expect(() => readWav(bytes, "adpcm.wav")).toThrow(
      /adpcm\.wav uses IMA ADPCM \(format tag 0x11\) at 4 bits/,
    );
  });

  it("rejects bytes that are not a WAV with a NotAWavError", () => {
    try {
      readWav(new TextEncoder().encode("ID3\u0004 definitely an mp3"));
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(NotAWavError);
      expect((error as NotAWavError).code).toBe("VP_NOT_A_WAV");
      expect((error as NotAWavError).message).toMatch(/^the audio buffer is not a readable WAV file/);
    }
  });
});

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { VADAnalyzer, type VADAnalyzerOptions } from "../../../src/audio/vad/index.js";

/** PCM16 audio read from a WAV file. */
export interface Pcm16Wav {
  readonly samples: Int16Array;
  readonly sampleRate: number;
  readonly numChannels: number;
}

/** A true speech span of a fixture, in ms from the start of the file. */
export interface SpeechSpan {
  readonly startMs: number;
  readonly endMs: number;
  readonly text: string;
}

/** The JSON written next to each `vad-*.wav` fixture. */
export interface VadFixtureTruth {
  readonly sampleRate: number;
  readonly durationMs: number;
  readonly noiseFloorDbfs: number | null;
  readonly speech: readonly SpeechSpan[];
}

const FIXTURES = new URL("../../fixtures/", import.meta.url);

/** Absolute path of a file in `test/fixtures/`. */
export function fixturePath(name: string): string {
  return fileURLToPath(new URL(name, FIXTURES));
}

/**
 * Reads a 16-bit PCM WAV (RIFF, `fmt ` tag 1 or WAVE_FORMAT_EXTENSIBLE with PCM). Enough for the
 * VAD fixtures; not a general WAV reader (the library's own lives in `src/audio/`).
 */
export function readPcm16Wav(path: string): Pcm16Wav {
  const buf = readFileSync(path);
  if (buf.toString("ascii", 0, 4) !== "RIFF" || buf.toString("ascii", 8, 12) !== "WAVE") {
    throw new Error(`${path}: not a RIFF/WAVE file`);
  }
  let offset = 12;
  let sampleRate = 0;
  let numChannels = 0;
  let bits = 0;
  while (offset + 8 <= buf.length) {
    const id = buf.toString("ascii", offset, offset + 4);
    const size = buf.readUInt32LE(offset + 4);
    const body = offset + 8;
    if (id === "fmt ") {
      const format = buf.readUInt16LE(body);
      if (format !== 1 && format !== 0xfffe) throw new Error(`${path}: WAV format ${format} is not PCM`);
      numChannels = buf.readUInt16LE(body + 2);
      sampleRate = buf.readUInt32LE(body + 4);
      bits = buf.readUInt16LE(body + 14);
    } else if (id === "data") {
      if (bits !== 16) throw new Error(`${path}: ${bits}-bit samples; only 16-bit PCM is supported`);
      const bytes = Math.min(size, buf.length - body);
      const samples = new Int16Array(bytes >> 1);
      for (let i = 0; i < samples.length; i++) samples[i] = buf.readInt16LE(body + 2 * i);
      return { samples, sampleRate, numChannels };
    }
    offset = body + size + (size & 1);
  }
  throw new Error(`${path}: no data chunk`);
}

/** Encodes mono PCM16 samples as a WAV file. */
export function encodePcm16Wav(samples: Int16Array, sampleRate: number): Buffer {
  const header = Buffer.alloc(44);
  header.write("RIFF", 0, "ascii");
  header.writeUInt32LE(36 + samples.length * 2, 4);
  header.write("WAVE", 8, "ascii");
  header.write("fmt ", 12, "ascii");
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(sampleRate, 24);
  header.writeUInt32LE(sampleRate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write("data", 36, "ascii");
  header.writeUInt32LE(samples.length * 2, 40);
  const data = Buffer.alloc(samples.length * 2);
  for (let i = 0; i < samples.length; i++) data.writeInt16LE(samples[i]!, 2 * i);
  return Buffer.concat([header, data]);
}

/** Reads a `vad-*.wav` fixture and its `vad-*.json` truth. */
export function loadVadFixture(name: string): { wav: Pcm16Wav; truth: VadFixtureTruth } {
  const wav = readPcm16Wav(fixturePath(`${name}.wav`));
  const truth = JSON.parse(readFileSync(fixturePath(`${name}.json`), "utf8")) as VadFixtureTruth;
  return { wav, truth };
}

/** Splits `samples` into consecutive chunks of `size` samples (the last may be shorter). */
export function* chunks(samples: Int16Array, size: number): Generator<Int16Array> {
  for (let i = 0; i < samples.length; i += size)
    yield samples.subarray(i, Math.min(samples.length, i + size));
}

/**
 * A VAD analyzer whose model is a script: window `i` gets confidence `script(i)`. Windows are
 * 20 ms (320 samples at 16 kHz, 160 at 8 kHz), so `startMs`/`stopMs` of 200 are 10 windows.
 * `async` chooses how the confidence arrives: at once (a resolved promise) or after an
 * event-loop turn, like a model run on onnxruntime-node.
 */
export class ScriptedVADAnalyzer extends VADAnalyzer {
  readonly sampleRates: readonly number[] = [8000, 16000];
  /** Windows seen, in order: their first sample (to check the analyzer never reorders audio). */
  readonly firstSamples: number[] = [];
  #index = 0;

  constructor(
    readonly script: (window: number) => number,
    options: VADAnalyzerOptions & { async?: "immediate" | "turn"; keepWindows?: boolean } = {},
  ) {
    super(options);
    this.mode = options.async ?? "immediate";
    this.keepWindows = options.keepWindows ?? false;
  }

  readonly mode: "immediate" | "turn";
  readonly keepWindows: boolean;

  protected override windowSamples(sampleRate: number): number {
    return sampleRate / 50;
  }

  protected override resetModel(): void {
    this.#index = 0;
  }

  protected override async voiceConfidence(window: Float32Array): Promise<number> {
    if (this.keepWindows) this.firstSamples.push(Math.round(window[0]! * 32768));
    const confidence = this.script(this.#index++);
    if (this.mode === "turn") await new Promise((r) => setImmediate(r));
    return confidence;
  }
}

/** `ms` of a constant-amplitude tone (about −21 dBFS: volume ≈ 0.89), mono PCM16. */
export function loud(ms: number, sampleRate = 16_000): Int16Array {
  const out = new Int16Array((ms * sampleRate) / 1000);
  for (let i = 0; i < out.length; i++) out[i] = i % 2 === 0 ? 3000 : -3000;
  return out;
}

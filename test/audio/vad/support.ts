import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { VADAnalyzer, type VADAnalyzerOptions } from "../../../src/audio/vad/index.js";
import { readWav, writeWav } from "../../../src/audio/wav.js";

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

/** Reads a WAV fixture with the library's own reader (`src/audio/wav.ts`). */
export function readPcm16Wav(path: string): Pcm16Wav {
  const { audio, sampleRate, numChannels } = readWav(readFileSync(path), path);
  return { samples: audio, sampleRate, numChannels };
}

/** Encodes mono PCM16 samples as a WAV file, with the library's own writer. */
export function encodePcm16Wav(samples: Int16Array, sampleRate: number): Buffer {
  return Buffer.from(writeWav({ audio: samples, sampleRate }));
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

/**
 * One 32 ms window at 16 kHz loud enough to be speech by volume (a 400 Hz tone at about
 * −13 dBFS), so the analyzer gives it to the model: a silent window is skipped as too quiet.
 */
export function loudWindow(samples = 512): Int16Array {
  return Int16Array.from({ length: samples }, (_, i) =>
    Math.round(8000 * Math.sin((2 * Math.PI * 400 * i) / 16000)),
  );
}

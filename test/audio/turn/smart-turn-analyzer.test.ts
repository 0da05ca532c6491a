import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import {
  SMART_TURN_SAMPLES,
  SmartTurnAnalysisError,
  SmartTurnAnalyzer,
  type SmartTurnAnalyzerOptions,
  SmartTurnInputError,
  SmartTurnModelLoadError,
  SmartTurnWorker,
  WhisperFeatureExtractor,
} from "../../../src/audio/turn/smart-turn/index.js";
import { DeadlineExceededError } from "../../../src/clock/deadline.js";
import { InvalidOptionError } from "../../../src/errors.js";
import { loadVadFixture } from "../vad/support.js";
import { concat, whiteNoise } from "../signals.js";
import { encodeOnnxModel, smartTurnStandIn } from "./onnx-builder.js";

const MODEL = fileURLToPath(new URL("../../fixtures/smart-turn-test.onnx", import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), "voicepipe-smart-turn-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const made: SmartTurnAnalyzer[] = [];
function analyzer(options: Partial<SmartTurnAnalyzerOptions> = {}): SmartTurnAnalyzer {
  const a = new SmartTurnAnalyzer({ modelPath: MODEL, ...options });
  made.push(a);
  return a;
}
afterEach(async () => {
  await Promise.all(made.splice(0).map((a) => a.release()));
});

const { wav, truth } = loadVadFixture("vad-flite");
const speechEndMs = truth.speech[0]!.endMs; // "The quick brown fox … river bank." ends here
const untilMs = (ms: number): Int16Array => wav.samples.subarray(0, Math.round(ms * 16));
const never = new AbortController().signal;

/** What the stand-in model must answer for this padded window: sigmoid(−10 · (mean of the last 100 frames − 0.2)). */
function expectedProbability(audio: Int16Array): number {
  const window = new Int16Array(SMART_TURN_SAMPLES);
  const tail = audio.subarray(Math.max(0, audio.length - SMART_TURN_SAMPLES));
  window.set(tail, SMART_TURN_SAMPLES - tail.length);
  const f = new WhisperFeatureExtractor().extract(window);
  let sum = 0;
  for (let m = 0; m < 80; m++) for (let t = 700; t < 800; t++) sum += f[m * 800 + t]!;
  return 1 / (1 + Math.exp(10 * (sum / 8000 - 0.2)));
}

function feed(a: SmartTurnAnalyzer, audio: Int16Array, isSpeech = true): void {
  for (let i = 0; i < audio.length; i += 320) a.appendAudio(audio.subarray(i, i + 320), isSpeech);
}

describe("SmartTurnAnalyzer on a stand-in model with Smart Turn v3's interface", () => {
  it("calls a turn that ends in speech incomplete and one that ends in a second of quiet complete", async () => {
    const turn = analyzer();
    feed(turn, untilMs(speechEndMs - 300));
    const midSentence = await turn.analyze(never);
    expect(midSentence.complete).toBe(false);
    expect(midSentence.probability).toBeCloseTo(expectedProbability(untilMs(speechEndMs - 300)), 5);

    turn.clear();
    feed(turn, untilMs(speechEndMs + 1200));
    const afterPause = await turn.analyze(never);
    expect(afterPause.complete).toBe(true);
    expect(afterPause.probability).toBeCloseTo(expectedProbability(untilMs(speechEndMs + 1200)), 5);
    expect(afterPause.inferenceMs).toBeGreaterThanOrEqual(0);
  });

  it("sees only the last 8 s of a long turn, in a window that stays 8 s however long the turn", async () => {
    const turn = analyzer();
    const clip = untilMs(speechEndMs + 1200);
    const long = concat([whiteNoise(16000 * 60, 8000, 5), clip]); // a minute of loud noise first
    feed(turn, long);
    expect(turn.bufferedSamples).toBe(SMART_TURN_SAMPLES);
    const verdict = await turn.analyze(never);
    expect(verdict.probability).toBeCloseTo(
      expectedProbability(long.subarray(long.length - SMART_TURN_SAMPLES)),
      5,
    );
    expect(verdict.complete).toBe(true);
  });

  it("pads a short turn at the start with zeros (the audio sits at the end of the window)", async () => {
    const turn = analyzer({ preSpeechMs: 0 });
    const short = wav.samples.subarray(16 * 1000, 16 * 2500); // 1.5 s of speech
    feed(turn, short);
    expect(turn.bufferedSamples).toBe(short.length);
    const verdict = await turn.analyze(never);
    expect(verdict.probability).toBeCloseTo(expectedProbability(short), 5);
  });

  it("keeps only preSpeechMs of the quiet before the turn's first speech", async () => {
    const turn = analyzer({ preSpeechMs: 500 });
    feed(turn, new Int16Array(16000 * 3), false);
    expect(turn.bufferedSamples).toBe(8000);
    feed(turn, new Int16Array(1600), true);
    expect(turn.bufferedSamples).toBe(9600);
  });

  it("two analyzers share one session of the model, analyse at once, and the last release stops the worker", async () => {
    const worker = SmartTurnWorker.shared();
    const loadsBefore = worker.loads;
    const [a, b] = [analyzer(), analyzer()];
    const speaking = untilMs(speechEndMs - 300);
    const done = untilMs(speechEndMs + 1200);
    feed(a, speaking);
    feed(b, done);
    const [va, vb] = await Promise.all([a.analyze(never), b.analyze(never)]);
    expect([va.complete, vb.complete]).toEqual([false, true]);
    expect(va.probability).toBeCloseTo(expectedProbability(speaking), 5);
    expect(vb.probability).toBeCloseTo(expectedProbability(done), 5);
    expect(worker.loads - loadsBefore).toBeLessThanOrEqual(1); // one load for both (none if a test before kept it)
    expect(worker.held().get(MODEL)).toBe(2);

    await a.release();
    expect(worker.running).toBe(true); // b still holds the model
    expect(worker.held().get(MODEL)).toBe(1);
    await b.release();
    await b.release(); // idempotent
    expect(worker.running).toBe(false);
    expect(worker.held().size).toBe(0);

    // A released analyzer loads again when used.
    const started = worker.threadsStarted;
    feed(a, done);
    expect((await a.analyze(never)).complete).toBe(true);
    expect(worker.threadsStarted).toBe(started + 1);
  });

  it("rejects with signal.reason: aborted before the call, and aborted during the analysis", async () => {
    const turn = analyzer();
    feed(turn, untilMs(3000));
    await turn.load();
    const reason = new Error("the user spoke again");
    await expect(turn.analyze(AbortSignal.abort(reason))).rejects.toBe(reason);
    const controller = new AbortController();
    const pending = turn.analyze(controller.signal);
    setImmediate(() => controller.abort(reason)); // during the feature slices
    await expect(pending).rejects.toBe(reason);
    // Still usable.
    expect((await turn.analyze(never)).probability).toBeGreaterThan(0);
  });

  it("rejects with a DeadlineExceededError naming the analysis when it takes longer than timeoutMs", async () => {
    const turn = analyzer({ timeoutMs: 1 });
    await turn.load();
    feed(turn, untilMs(3000));
    const error = await turn.analyze(never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeadlineExceededError);
    expect((error as Error).message).toMatch(
      /SmartTurnAnalyzer: analysing the turn with .*smart-turn-test\.onnx did not settle within 1 ms/,
    );
  });

  it("refuses a call with no audio, and audio that is not PCM16, saying what to do", async () => {
    const turn = analyzer();
    await expect(turn.analyze(never)).rejects.toThrow(SmartTurnInputError);
    await expect(turn.analyze(never)).rejects.toThrow(
      /no audio of the turn; appendAudio\(\) the user's audio first/,
    );
    expect(() => turn.appendAudio(new Float32Array(320) as unknown as Int16Array, true)).toThrow(
      /Int16Array \(got Float32Array\); convert it first/,
    );
  });

  it("refuses options it cannot use at construction", () => {
    expect(() => new SmartTurnAnalyzer({} as SmartTurnAnalyzerOptions)).toThrow(InvalidOptionError);
    expect(() => new SmartTurnAnalyzer({} as SmartTurnAnalyzerOptions)).toThrow(
      /modelPath is required.*does not ship the model/,
    );
    expect(() => new SmartTurnAnalyzer({ modelPath: MODEL, threshold: 1 })).toThrow(
      /threshold must be a probability/,
    );
    expect(() => new SmartTurnAnalyzer({ modelPath: MODEL, timeoutMs: 0 })).toThrow(/timeoutMs must be/);
    expect(() => new SmartTurnAnalyzer({ modelPath: MODEL, preSpeechMs: 9000 })).toThrow(
      /preSpeechMs must be/,
    );
  });
});

describe("SmartTurnAnalyzer with a model it cannot use", () => {
  it("a missing file: one error naming the path and what to do, kept (no retry per turn) until load() is called again", async () => {
    const path = join(scratch, "smart-turn-v3.2-cpu.onnx");
    const turn = analyzer({ modelPath: path });
    feed(turn, untilMs(2000));
    const first = await turn.analyze(never).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(SmartTurnModelLoadError);
    expect((first as Error).message).toMatch(
      new RegExp(
        `model file ${path.replace(/[.]/g, "\\.")} does not exist.*does not ship the Smart Turn model.*pass its path as \\{ modelPath \\}`,
      ),
    );
    writeFileSync(path, encodeOnnxModel(smartTurnStandIn())); // fixed on disk: turns still fail at once…
    await expect(turn.analyze(never)).rejects.toBe(first);
    await turn.load(); // …until the load is retried on purpose
    expect((await turn.analyze(never)).probability).toBeGreaterThan(0);
  });

  it("a file that is not a model", async () => {
    const turn = analyzer({ modelPath: fileURLToPath(import.meta.url) });
    await expect(turn.load()).rejects.toThrow(SmartTurnModelLoadError);
    await expect(turn.load()).rejects.toThrow(
      /could not load .*smart-turn-analyzer\.test\.ts as a model.*Smart Turn v3 \.onnx file/,
    );
  });

  it("a model whose input is not input_features", async () => {
    const path = join(scratch, "wrong-input.onnx");
    writeFileSync(path, encodeOnnxModel(smartTurnStandIn({ inputName: "input_values" })));
    const turn = analyzer({ modelPath: path });
    await expect(turn.load()).rejects.toThrow(
      /wrong-input\.onnx has inputs \[input_values\], so it is not a Smart Turn v3 model \(expected the input input_features, float32 \[1, 80, 800\]\)/,
    );
    expect(SmartTurnWorker.shared().held().has(path)).toBe(false);
  });

  it("a model that answers something other than one probability", async () => {
    const path = join(scratch, "two-outputs.onnx");
    writeFileSync(path, encodeOnnxModel(smartTurnStandIn({ outputDims: [1, 2] })));
    const turn = analyzer({ modelPath: path });
    feed(turn, untilMs(2000));
    const error = await turn.analyze(never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SmartTurnAnalysisError);
    expect((error as Error).message).toMatch(
      /answered \[[^\]]+\] where a Smart Turn v3 model gives one probability/,
    );
  });
});

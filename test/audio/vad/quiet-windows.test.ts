import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SileroVADAnalyzer } from "../../../src/audio/vad/silero.js";
import { VADAnalyzer, type VADAnalyzerOptions, type VADTransition } from "../../../src/audio/vad/index.js";
import { chunks, loadVadFixture } from "./support.js";

/**
 * A memoryless model that reads its answer from the window itself: a window whose samples are
 * all ≥ 0, not all 0, is "voiced" (confidence 0.9), any other 0.1. With no memory, skipping a window cannot
 * change what the model says of the next, so the decisions with and without skipping must be
 * the same, window for window.
 */
class SignModel extends VADAnalyzer {
  readonly sampleRates: readonly number[] = [16000];
  calls = 0;
  constructor(options: VADAnalyzerOptions) {
    super({ sampleRate: 16000, ...options });
  }
  protected override windowSamples(): number {
    return 320; // 20 ms
  }
  protected override voiceConfidence(window: Float32Array): Promise<number> {
    this.calls++;
    return Promise.resolve(window.every((x) => x >= 0) && window.some((x) => x > 0) ? 0.9 : 0.1);
  }
}

/** Peak amplitudes from digital silence to loud speech: −∞, ≈ −75, −55, −45, −25 and −12 dBFS. */
const LEVELS = [0, 6, 60, 190, 1900, 8000];

/** A 20 ms window at `level`, voiced (all samples ≥ 0) or not (alternating sign). */
function window(level: number, voiced: boolean): Int16Array {
  return Int16Array.from({ length: 320 }, (_, i) => (voiced || i % 2 === 0 ? level : -level));
}

async function run(
  vad: VADAnalyzer,
  windows: Int16Array[],
  chunk: number,
  states: string[] = [],
): Promise<VADTransition[]> {
  const audio = new Int16Array(windows.length * 320);
  windows.forEach((w, i) => audio.set(w, i * 320));
  const out: VADTransition[] = [];
  for (const piece of chunks(audio, chunk)) {
    const { transitions, state } = await vad.analyze(piece);
    out.push(...transitions);
    states.push(state);
  }
  return out;
}

describe("quiet windows kept from the model", () => {
  it("change no decision: the same starts, stops and states with and without skipping, for any audio", async () => {
    // Runs of windows (so speech can start and stop) at random levels, voiced or not.
    const stream = fc.array(
      fc.record({
        level: fc.constantFrom(...LEVELS),
        voiced: fc.boolean(),
        length: fc.integer({ min: 1, max: 12 }),
      }),
      { minLength: 10, maxLength: 40 },
    );
    const params = fc.record({
      startMs: fc.integer({ min: 0, max: 300 }),
      stopMs: fc.integer({ min: 0, max: 800 }),
      minVolume: fc.oneof(fc.double({ min: 0.3, max: 0.95, noNaN: true }), fc.constantFrom(0, 1)),
      confidence: fc.double({ min: 0.2, max: 0.8, noNaN: true }),
    });
    let skippedSomewhere = 0;
    await fc.assert(
      fc.asyncProperty(stream, params, fc.constantFrom(160, 320, 512), async (runs, p, chunk) => {
        const windows = runs.flatMap((r) =>
          Array.from({ length: r.length }, () => window(r.level, r.voiced)),
        );
        const skipping = new SignModel({ params: p });
        const every = new SignModel({ params: p, skipQuietWindows: false });
        const statesA: string[] = [];
        const statesB: string[] = [];
        const a = await run(skipping, windows, chunk, statesA);
        const b = await run(every, windows, chunk, statesB);
        expect(a).toEqual(b);
        expect(statesA).toEqual(statesB); // after every chunk, not just at the end
        expect(skipping.windowsAnalyzed).toBe(every.windowsAnalyzed);
        expect(every.windowsSkipped).toBe(0);
        expect(skipping.calls + skipping.windowsSkipped).toBe(every.calls);
        skippedSomewhere += skipping.windowsSkipped;
      }),
      { numRuns: 400 },
    );
    expect(skippedSomewhere).toBeGreaterThan(0); // the property was not vacuous
  });

  it("spares the model in silence but never while speech is under way", async () => {
    const vad = new SignModel({ params: { startMs: 60, stopMs: 200 } });
    await run(
      vad,
      Array.from({ length: 50 }, () => window(0, false)),
      320,
    ); // 1 s of silence
    expect(vad.calls).toBe(0);
    expect(vad.windowsSkipped).toBe(50);
    // Speech, then a sudden digital silence: the model hears every window until the stop.
    await run(
      vad,
      Array.from({ length: 20 }, () => window(8000, true)),
      320,
    );
    const before = vad.calls;
    const transitions = await run(
      vad,
      Array.from({ length: 30 }, () => window(0, false)),
      320,
    );
    expect(transitions.map((t) => t.type)).toEqual(["stopped"]);
    expect(vad.calls - before).toBe(10); // the 200 ms of stopMs, run through the model
    expect(vad.lastConfidence).toBe(0); // then skipped again
  });

  it("Silero: the same turns on recorded speech, and most of its silence never reaches the model", async () => {
    for (const name of ["vad-espeak", "vad-flite"]) {
      const { wav } = loadVadFixture(name);
      // The recording's pauses are digital silence; a quiet room is not, so add faint noise
      // (about −70 dBFS) to the silence: it must be skipped too.
      let seed = 7;
      const samples = wav.samples.map((s) => {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        return s + ((seed >> 16) % 7) - 3;
      });
      const turns = async (skipQuietWindows: boolean) => {
        const vad = new SileroVADAnalyzer({ sampleRate: 16000, skipQuietWindows });
        const out: VADTransition[] = [];
        for (const piece of chunks(samples, 320)) out.push(...(await vad.analyze(piece)).transitions);
        return { out, skipped: vad.windowsSkipped, total: vad.windowsAnalyzed };
      };
      const skipping = await turns(true);
      const every = await turns(false);
      expect(every.out.length).toBeGreaterThanOrEqual(4); // at least two utterances: not vacuous
      expect(skipping.out.map((t) => t.type)).toEqual(every.out.map((t) => t.type));
      // Starting from a cleared state moves a boundary by at most a window or two.
      skipping.out.forEach((t, i) => expect(Math.abs(t.atMs - every.out[i]!.atMs)).toBeLessThanOrEqual(64));
      expect(skipping.skipped / skipping.total).toBeGreaterThan(0.25);
    }
  });
});

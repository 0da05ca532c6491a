import { describe, expect, it } from "vitest";
import {
  DEFAULT_VAD_PARAMS,
  VADInputError,
  VADSampleRateError,
  VADState,
  type VADTransition,
} from "../../../src/audio/vad/index.js";
import { InvalidOptionError } from "../../../src/errors.js";
import { ScriptedVADAnalyzer, loud } from "./support.js";

/** Confidence script from a pattern of 20 ms windows: "1" speech (0.9), "0" silence (0.1). */
function pattern(p: string): (i: number) => number {
  return (i) => (p[i] === "1" ? 0.9 : 0.1);
}

/** Feeds `ms` of loud audio in 20 ms chunks; returns every transition. */
async function feedLoud(vad: ScriptedVADAnalyzer, ms: number, chunkMs = 20): Promise<VADTransition[]> {
  const out: VADTransition[] = [];
  const audio = loud(ms);
  const step = (chunkMs * 16000) / 1000;
  for (let i = 0; i < audio.length; i += step)
    out.push(...(await vad.analyze(audio.subarray(i, i + step))).transitions);
  return out;
}

describe("VADAnalyzer (scripted model)", () => {
  it("uses Pipecat's defaults and derives window counts from startMs/stopMs and the window length", () => {
    const vad = new ScriptedVADAnalyzer(() => 0, { sampleRate: 16000 });
    expect(vad.params).toEqual(DEFAULT_VAD_PARAMS);
    expect(DEFAULT_VAD_PARAMS).toEqual({ confidence: 0.7, startMs: 200, stopMs: 200, minVolume: 0.6 });
    expect(vad.windowMs).toBe(20);
    expect(vad.windowCounts).toEqual({ start: 10, stop: 10 });
  });

  it("reports a start only after startMs of speech, back-dated to the first speech window", async () => {
    // 300 ms silence, then speech. The volume meter needs two loud windows to open the gate.
    const vad = new ScriptedVADAnalyzer(pattern("0".repeat(15) + "1".repeat(40)), { sampleRate: 16000 });
    const first = await feedLoud(vad, 300 + 180);
    expect(first).toEqual([]);
    expect(vad.state).toBe(VADState.STARTING);
    const next = await feedLoud(vad, 20);
    expect(next).toEqual([{ type: "started", atMs: 500, speechMs: 300 }]);
    expect(vad.state).toBe(VADState.SPEAKING);
  });

  it("reports a stop only after stopMs of silence, dated at the end of the last speech window", async () => {
    const vad = new ScriptedVADAnalyzer(pattern("1".repeat(20) + "0".repeat(30)), { sampleRate: 16000 });
    const events = await feedLoud(vad, 1000);
    // The first window of a stream is below minVolume (the meter opens on the second), so
    // speech counts from window 1.
    expect(events.map((e) => [e.type, e.atMs, e.speechMs])).toEqual([
      ["started", 220, 20],
      ["stopped", 600, 400],
    ]);
    expect(vad.state).toBe(VADState.QUIET);
  });

  it("ignores speech blips shorter than startMs and pauses shorter than stopMs", async () => {
    const script = "111110000" + "1".repeat(9) + "0" + "1".repeat(15) + "000001111" + "0".repeat(12);
    const vad = new ScriptedVADAnalyzer(pattern(script), { sampleRate: 16000 });
    const events = await feedLoud(vad, script.length * 20);
    expect(events.map((e) => e.type)).toEqual(["started", "stopped"]);
    // The run that started is the 15-window one after the 9-window blip; the 5-window pause
    // inside speech did not stop it.
    expect(events[0]!.speechMs).toBe(19 * 20);
    expect(events[1]!.speechMs).toBe((script.length - 12) * 20);
  });

  it("does not count quiet audio as speech, whatever the confidence (minVolume)", async () => {
    const vad = new ScriptedVADAnalyzer(() => 0.99, { sampleRate: 16000 });
    // A −70 dBFS tone: volume 0.4 < 0.6.
    const quiet = new Int16Array(16000).map((_, i) => (i % 2 ? 10 : -10));
    const { transitions, state } = await vad.analyze(quiet);
    expect(transitions).toEqual([]);
    expect(state).toBe(VADState.QUIET);
    vad.setParams({ minVolume: 0.3 });
    expect((await vad.analyze(quiet)).transitions.map((t) => t.type)).toEqual(["started"]);
  });

  it("applies params changed at run time from the next window", async () => {
    const vad = new ScriptedVADAnalyzer(() => 0.5, { sampleRate: 16000 });
    expect(await feedLoud(vad, 400)).toEqual([]);
    vad.setParams({ confidence: 0.4, startMs: 100 });
    expect(vad.windowCounts.start).toBe(5);
    const events = await feedLoud(vad, 100);
    expect(events.map((e) => [e.type, e.atMs])).toEqual([["started", 500]]);
  });

  it("rejects out-of-range params and keeps the old ones", () => {
    const vad = new ScriptedVADAnalyzer(() => 0, { sampleRate: 16000 });
    expect(() => vad.setParams({ confidence: 1.5 })).toThrow(InvalidOptionError);
    expect(() => vad.setParams({ stopMs: -1 })).toThrow(/stopMs/);
    expect(() => new ScriptedVADAnalyzer(() => 0, { params: { minVolume: Number.NaN } })).toThrow(
      InvalidOptionError,
    );
    expect(vad.params).toEqual(DEFAULT_VAD_PARAMS);
  });

  it("gives the same windows and transitions whatever the chunk sizes, holding less than one window", async () => {
    const script = pattern(
      "0".repeat(10) + "1".repeat(30) + "0".repeat(20) + "1".repeat(12) + "0".repeat(30),
    );
    const ramp = new Int16Array(102 * 320).map((_, i) => ((i % 640) - 320) * 9); // loud, and every window's first sample differs
    const whole = new ScriptedVADAnalyzer(script, { sampleRate: 16000, keepWindows: true });
    const expected = (await whole.analyze(ramp)).transitions;
    expect(expected.length).toBe(4);

    const chunked = new ScriptedVADAnalyzer(script, { sampleRate: 16000, keepWindows: true });
    const got: VADTransition[] = [];
    let seed = 7;
    for (let i = 0; i < ramp.length;) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const size = seed % 1500; // 0..1499 samples, sometimes empty, sometimes several windows
      got.push(...(await chunked.analyze(ramp.subarray(i, i + size))).transitions);
      expect(chunked.bufferedSamples).toBeLessThan(chunked.windowSize);
      i += size;
    }
    expect(got).toEqual(expected);
    expect(chunked.firstSamples).toEqual(whole.firstSamples);
    expect(chunked.windowsAnalyzed).toBe(102);
  });

  it("works at 8 kHz with windows of the same duration", async () => {
    const vad = new ScriptedVADAnalyzer(pattern("1".repeat(12) + "0".repeat(12)), { sampleRate: 8000 });
    expect(vad.windowSize).toBe(160);
    const { transitions } = await vad.analyze(loud(480, 8000));
    expect(transitions.map((t) => [t.type, t.atMs])).toEqual([
      ["started", 220], // window 0 is below minVolume, as at 16 kHz
      ["stopped", 440],
    ]);
  });

  it("rejects input it cannot analyse, with errors that say what to do", async () => {
    const vad = new ScriptedVADAnalyzer(() => 0);
    await expect(vad.analyze(new Int16Array(320))).rejects.toThrow(/sample rate is not set/);
    expect(() => vad.setSampleRate(44100)).toThrow(VADSampleRateError);
    expect(() => vad.setSampleRate(44100)).toThrow(/supports 8000 or 16000 Hz.*Resample/);
    vad.setSampleRate(16000);
    await expect(vad.analyze(new Float32Array(320) as unknown as Int16Array)).rejects.toThrow(VADInputError);
    await expect(vad.analyze(Buffer.alloc(640) as unknown as Int16Array)).rejects.toThrow(/Int16Array/);
  });

  it("refuses overlapping analyze calls on one stream", async () => {
    const vad = new ScriptedVADAnalyzer(() => 0, { sampleRate: 16000, async: "turn" });
    const first = vad.analyze(new Int16Array(3200));
    await expect(vad.analyze(new Int16Array(320))).rejects.toThrow(/await each call/);
    await expect(first).resolves.toMatchObject({ windows: 10 });
  });

  it("reset forgets buffered audio, state and stream time; a new rate resets too", async () => {
    const vad = new ScriptedVADAnalyzer(() => 0.9, { sampleRate: 16000 });
    await vad.analyze(loud(410));
    expect(vad.state).toBe(VADState.SPEAKING);
    expect(vad.bufferedSamples).toBe(160);
    vad.reset();
    expect([vad.state, vad.bufferedSamples, vad.streamMs]).toEqual([VADState.QUIET, 0, 0]);
    await vad.analyze(loud(300));
    vad.setSampleRate(8000);
    expect([vad.state, vad.streamMs, vad.windowSize]).toEqual([VADState.QUIET, 0, 160]);
  });

  it("lets timers run while it analyses a long chunk with a model that answers at once", async () => {
    const vad = new ScriptedVADAnalyzer(() => 0.9, { sampleRate: 16000 });
    let timerFiredAfterWindows: number | undefined;
    setTimeout(() => {
      timerFiredAfterWindows = vad.windowsAnalyzed;
    }, 0);
    await vad.analyze(loud(120_000)); // 6000 windows
    expect(timerFiredAfterWindows).toBeDefined();
    expect(timerFiredAfterWindows!).toBeLessThan(6000);
  });
});

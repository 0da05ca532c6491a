import { describe, expect, it } from "vitest";
import { performance } from "node:perf_hooks";
import {
  SileroVADAnalyzer,
  VADModelLoadError,
  defaultSileroModelPath,
  loadSileroSession,
  sileroSessionStats,
  SileroWorker,
} from "../../../src/audio/vad/silero.js";
import { VADSampleRateError, VADState, type VADTransition } from "../../../src/audio/vad/index.js";
import { settledHeap } from "../../support/gc.js";
import { type SpeechSpan, chunks, loadVadFixture, loudWindow } from "./support.js";

interface Segment {
  startMs: number;
  confirmedMs: number;
  endMs: number;
}

/** Runs a whole fixture through `vad` in 20 ms chunks; returns detected segments and per-chunk confidences. */
async function detect(vad: SileroVADAnalyzer, samples: Int16Array, sampleRate: number) {
  const transitions: VADTransition[] = [];
  const confidences: number[] = [];
  for (const chunk of chunks(samples, sampleRate / 50)) {
    transitions.push(...(await vad.analyze(chunk)).transitions);
    confidences.push(vad.lastConfidence);
  }
  return { segments: toSegments(transitions), transitions, confidences };
}

function toSegments(transitions: readonly VADTransition[]): Segment[] {
  const out: Segment[] = [];
  for (const t of transitions) {
    if (t.type === "started") out.push({ startMs: t.speechMs, confirmedMs: t.atMs, endMs: Number.NaN });
    else out.at(-1)!.endMs = t.speechMs;
  }
  return out;
}

/** Detected segments match the truth: one per span, starting within 300 ms, confirmed within startMs + 300 ms, overlapping most of it. */
function expectMatches(segments: Segment[], truth: readonly SpeechSpan[], startMs: number): void {
  expect(segments.length, JSON.stringify(segments)).toBe(truth.length);
  truth.forEach((span, i) => {
    const seg = segments[i]!;
    expect(Math.abs(seg.startMs - span.startMs), `segment ${i} start`).toBeLessThanOrEqual(300);
    expect(seg.confirmedMs - span.startMs, `segment ${i} confirmation delay`).toBeLessThanOrEqual(
      startMs + 300,
    );
    expect(seg.confirmedMs).toBeGreaterThan(span.startMs); // nothing is confirmed before speech exists
    expect(Math.abs(seg.endMs - span.endMs), `segment ${i} end`).toBeLessThanOrEqual(400);
    const overlap = Math.min(seg.endMs, span.endMs) - Math.max(seg.startMs, span.startMs);
    expect(overlap / (span.endMs - span.startMs), `segment ${i} overlap`).toBeGreaterThan(0.8);
  });
}

describe("SileroVADAnalyzer", () => {
  it("finds the speech in a flite recording (16 kHz) and nothing in the silence around it", async () => {
    const { wav, truth } = loadVadFixture("vad-flite");
    const vad = new SileroVADAnalyzer({ sampleRate: 16000 });
    expect(vad.windowSize).toBe(512);
    const { segments, confidences } = await detect(vad, wav.samples, 16000);
    expectMatches(segments, truth.speech, vad.params.startMs);
    // The leading second of (noise-floor) silence never looks like speech.
    const lead = confidences.slice(0, Math.floor(truth.speech[0]!.startMs / 20));
    expect(Math.max(...lead)).toBeLessThan(0.3);
    expect(vad.state).toBe(VADState.QUIET);
  });

  it("finds the speech in an espeak recording", async () => {
    const { wav, truth } = loadVadFixture("vad-espeak");
    const vad = new SileroVADAnalyzer({ sampleRate: 16000 });
    const { segments } = await detect(vad, wav.samples, 16000);
    expectMatches(segments, truth.speech, vad.params.startMs);
  });

  it("works at 8 kHz (256-sample windows)", async () => {
    const { wav, truth } = loadVadFixture("vad-flite-8k");
    expect(wav.sampleRate).toBe(8000);
    const vad = new SileroVADAnalyzer({ sampleRate: 8000 });
    expect(vad.windowSize).toBe(256);
    expect(vad.windowMs).toBe(32);
    const { segments } = await detect(vad, wav.samples, 8000);
    expectMatches(segments, truth.speech, vad.params.startMs);
  });

  it("keeps each stream's state apart: interleaved streams give exactly what each gives alone", async () => {
    const a = loadVadFixture("vad-flite").wav.samples;
    const b = loadVadFixture("vad-espeak").wav.samples;
    const alone = [
      await detect(new SileroVADAnalyzer({ sampleRate: 16000 }), a, 16000),
      await detect(new SileroVADAnalyzer({ sampleRate: 16000 }), b, 16000),
    ];
    // Different chunk sizes too, so the two streams' windows interleave irregularly.
    const va = new SileroVADAnalyzer({ sampleRate: 16000 });
    const vb = new SileroVADAnalyzer({ sampleRate: 16000 });
    const got = [
      { transitions: [] as VADTransition[], confidences: [] as number[] },
      { transitions: [] as VADTransition[], confidences: [] as number[] },
    ];
    const ia = chunks(a, 320);
    const ib = chunks(b, 320);
    for (;;) {
      const ca = ia.next();
      const cb = ib.next();
      if (ca.done && cb.done) break;
      // Run both analyses at once: their model calls are queued together on the shared session.
      const [ra, rb] = await Promise.all([
        ca.done ? undefined : va.analyze(ca.value),
        cb.done ? undefined : vb.analyze(cb.value),
      ]);
      if (ra) {
        got[0]!.transitions.push(...ra.transitions);
        got[0]!.confidences.push(va.lastConfidence);
      }
      if (rb) {
        got[1]!.transitions.push(...rb.transitions);
        got[1]!.confidences.push(vb.lastConfidence);
      }
    }
    for (const i of [0, 1]) {
      expect(got[i]!.transitions).toEqual(alone[i]!.transitions);
      expect(got[i]!.confidences).toEqual(alone[i]!.confidences);
    }
    expect(alone[0]!.transitions).not.toEqual(alone[1]!.transitions); // the comparison can fail
  });

  it("loads one session per process, shared by every analyzer (concurrent loads included)", async () => {
    // In the shared worker (the default)… (its count is the process's: test files share a process,
    // and one that restarts the shared worker makes it load again, so only this test's loads count)
    const loadsBefore = SileroWorker.shared().loads;
    const analyzers = Array.from({ length: 8 }, () => new SileroVADAnalyzer({ sampleRate: 16000 }));
    await Promise.all(analyzers.map((a) => a.ready()));
    const explicit = new SileroVADAnalyzer({ sampleRate: 16000, modelPath: defaultSileroModelPath() });
    await explicit.ready();
    await Promise.all([...analyzers, explicit].map((a) => a.analyze(new Int16Array(1024))));
    expect(SileroWorker.shared().loads - loadsBefore).toBeLessThanOrEqual(1); // 0 if loaded before this test
    expect(SileroWorker.shared().loads).toBeGreaterThanOrEqual(1);
    // …and on this thread.
    const local = Array.from(
      { length: 8 },
      () => new SileroVADAnalyzer({ sampleRate: 16000, inference: "this-thread" }),
    );
    await Promise.all(local.map((a) => a.ready()));
    await Promise.all(local.map((a) => a.analyze(new Int16Array(1024))));
    expect(sileroSessionStats()).toEqual({ loads: 1, sessions: 1 });
    expect(await loadSileroSession()).toBe(await loadSileroSession(defaultSileroModelPath()));
  });

  it("gives the same results in the worker as on this thread", async () => {
    const { wav } = loadVadFixture("vad-flite");
    const inWorker = new SileroVADAnalyzer({ sampleRate: 16000 });
    const local = new SileroVADAnalyzer({ sampleRate: 16000, inference: "this-thread" });
    const a = await inWorker.analyze(wav.samples.subarray(0, 16000 * 3));
    const b = await local.analyze(wav.samples.subarray(0, 16000 * 3));
    expect(a.transitions).toEqual(b.transitions);
    expect(inWorker.lastConfidence).toBeCloseTo(local.lastConfidence, 5);
  });

  it("batches windows from streams that ask together into one model run, each stream keeping its own state", async () => {
    const { wav } = loadVadFixture("vad-flite");
    const worker = SileroWorker.shared();
    const streams = Array.from(
      { length: 16 },
      () => new SileroVADAnalyzer({ sampleRate: 16000, skipQuietWindows: false }),
    );
    await Promise.all(streams.map((s) => s.ready()));
    const runs0 = worker.runs;
    const batches0 = worker.batches;
    // Each stream gets a different second of the file, in 512-sample windows, all at once.
    const pieces = streams.map((_, i) => wav.samples.subarray(i * 4000, i * 4000 + 16000));
    for (let w = 0; w < 31; w++) {
      await Promise.all(streams.map((s, i) => s.analyze(pieces[i]!.subarray(w * 512, (w + 1) * 512))));
    }
    expect(worker.runs - runs0).toBe(16 * 31);
    expect(worker.batches - batches0).toBeLessThanOrEqual(31 + 2);
    // Same confidences as each stream alone on this thread.
    for (let i = 0; i < streams.length; i += 5) {
      const alone = new SileroVADAnalyzer({
        sampleRate: 16000,
        inference: "this-thread",
        skipQuietWindows: false,
      });
      await alone.analyze(pieces[i]!.subarray(0, 31 * 512));
      expect(streams[i]!.lastConfidence).toBeCloseTo(alone.lastConfidence, 5);
    }
  });

  it("keeps the event loop free: 64 streams in the worker use far less of it than on this thread", async () => {
    const { wav } = loadVadFixture("vad-flite");
    const second = wav.samples.subarray(16000, 32000);
    const busy = async (inference: "worker" | "this-thread"): Promise<number> => {
      const streams = Array.from(
        { length: 64 },
        () => new SileroVADAnalyzer({ sampleRate: 16000, inference }),
      );
      await Promise.all(streams.map((s) => s.ready()));
      const start = performance.eventLoopUtilization();
      await Promise.all(streams.map((s) => s.analyze(second)));
      return performance.eventLoopUtilization(start).utilization;
    };
    const local = await busy("this-thread");
    const inWorker = await busy("worker");
    expect(local).toBeGreaterThan(0.5); // on this thread inference is most of the loop's time
    expect(inWorker).toBeLessThan(local / 2);
  });

  it("says which model path failed and how to fix it", async () => {
    const loadsBefore = SileroWorker.shared().loads;
    const vad = new SileroVADAnalyzer({ sampleRate: 16000, modelPath: "/nonexistent/silero.onnx" });
    const failure = vad.analyze(loudWindow());
    await expect(failure).rejects.toThrow(VADModelLoadError);
    await expect(failure).rejects.toThrow(/\/nonexistent\/silero\.onnx.*modelPath/);
    const notAModel = new SileroVADAnalyzer({
      sampleRate: 16000,
      modelPath: new URL(import.meta.url).pathname,
    });
    await expect(notAModel.ready()).rejects.toThrow(/could not load .*silero-vad-analyzer\.test\.ts/);
    expect(SileroWorker.shared().loads).toBe(loadsBefore); // failures are not counted as loads
  });

  it("lets timers run between windows while it analyses a long chunk (session.run blocks only per window)", async () => {
    const { wav } = loadVadFixture("vad-flite");
    const vad = new SileroVADAnalyzer({ sampleRate: 16000 });
    await vad.ready();
    const before = vad.windowsAnalyzed;
    let firedAfter: number | undefined;
    setTimeout(() => {
      firedAfter = vad.windowsAnalyzed - before;
    }, 0);
    const { windows } = await vad.analyze(wav.samples); // ~245 windows in one call
    expect(firedAfter).toBeDefined();
    expect(firedAfter!).toBeLessThan(windows / 4);
  });

  it("gives timers a turn between windows on this thread too (the WebAssembly run is synchronous)", async () => {
    const { wav } = loadVadFixture("vad-flite");
    // Every window given to the model (a window skipped as quiet costs a few µs and no turn).
    const vad = new SileroVADAnalyzer({
      sampleRate: 16000,
      inference: "this-thread",
      skipQuietWindows: false,
    });
    await vad.ready();
    let firedAfter: number | undefined;
    setTimeout(() => {
      firedAfter = vad.windowsAnalyzed;
    }, 0);
    // One window per call, awaited back to back: nothing but the analyzer makes an event-loop turn.
    const windows = 100;
    for (let w = 0; w < windows; w++) await vad.analyze(wav.samples.subarray(w * 512, (w + 1) * 512));
    expect(firedAfter).toBeDefined();
    expect(firedAfter!).toBeLessThan(windows / 4);
  });

  it("rejects sample rates Silero cannot run at", () => {
    expect(() => new SileroVADAnalyzer({ sampleRate: 48000 })).toThrow(VADSampleRateError);
    expect(() => new SileroVADAnalyzer({ resetIntervalMs: -5 })).toThrow(/resetIntervalMs/);
  });

  it("keeps memory flat over 10 minutes of audio and resets the model state every 5 s of quiet", async () => {
    const { wav } = loadVadFixture("vad-flite-8k"); // 8 kHz: the same 32 ms windows, cheaper to feed
    const vad = new SileroVADAnalyzer({ sampleRate: 8000, skipQuietWindows: false }); // every window through the model
    const chunkSize = 160; // 20 ms
    const totalMs = 10 * 60_000;
    const loops = Math.ceil((totalMs * 8) / wav.samples.length);
    let starts = 0;
    let maxBuffered = 0;
    let heapAfterWarmUp = 0;
    let rssAfterWarmUp = 0;
    for (let loop = 0; loop < loops; loop++) {
      for (const chunk of chunks(wav.samples, chunkSize)) {
        const { transitions } = await vad.analyze(chunk);
        for (const t of transitions) if (t.type === "started") starts++;
        maxBuffered = Math.max(maxBuffered, vad.bufferedSamples);
      }
      if (loop === 23) {
        // ~3 minutes in: the WebAssembly runtime's memory (compiled code tiering up, its arena)
        // grows for the first minutes, then stays flat (measured over 20 minutes).
        heapAfterWarmUp = await settledHeap();
        rssAfterWarmUp = process.memoryUsage().rss;
      }
    }
    const heapAtEnd = await settledHeap();
    const rssAtEnd = process.memoryUsage().rss;
    expect(vad.streamMs).toBeGreaterThanOrEqual(totalMs - 32);
    expect(vad.windowsAnalyzed).toBeGreaterThan(18_000);
    expect(starts).toBe(loops * 2); // two utterances per pass, every time
    expect(maxBuffered).toBeLessThan(256);
    // One reset per quiet stretch once 5 s have passed: the file is 7.8 s, so about one per pass.
    expect(vad.modelResets).toBeGreaterThanOrEqual(loops - 1);
    expect(vad.modelResets).toBeLessThanOrEqual(loops * 2);
    expect(heapAtEnd - heapAfterWarmUp).toBeLessThan(2 * 1024 * 1024);
    // Native memory too (a leaked 2 KB input tensor per window would be ~26 MB over these 7 minutes).
    expect(rssAtEnd - rssAfterWarmUp).toBeLessThan(16 * 1024 * 1024);
  });
});

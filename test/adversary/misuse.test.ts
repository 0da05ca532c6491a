/**
 * "Misuse gets a clear error at the point of misuse": odd settings and values. Holes are
 * `it.fails`; each says what is accepted today and what it does later instead.
 */
import { describe, expect, it } from "vitest";
import {
  FrameProcessor,
  InvalidOptionError,
  MemoryTransport,
  OutputAudioRawFrame,
  Pipeline,
  PipelineTask,
  TextFrame,
  VADAnalyzer,
  VADProcessor,
  VirtualClock,
} from "../../src/index.js";
import { ProtobufFrameSerializer } from "../../src/serializers/index.js";
import { startRecordedTask } from "../support/task.js";

/** The values of `values` for which `make` does not throw. */
function accepted<T>(values: readonly T[], make: (v: T) => unknown): string[] {
  const out: string[] = [];
  for (const v of values) {
    try {
      make(v);
      out.push(String(v));
    } catch (e) {
      if (!(e instanceof InvalidOptionError) && !(e instanceof RangeError))
        out.push(`${String(v)} (threw ${String(e)})`);
    }
  }
  return out;
}

const BAD_COUNTS = [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY];
const BAD_RATES = [Number.NaN, 0, -16_000, 1.5, Number.POSITIVE_INFINITY, 5, 1e12];

class Fake extends VADAnalyzer {
  readonly sampleRates = [16_000];
  protected override windowSamples(): number {
    return 320;
  }
  protected override voiceConfidence(): Promise<number> {
    return Promise.resolve(1);
  }
}

describe("settings are checked where they are given (adversary)", () => {
  // Was a HOLE, fixed; now a regression test. FrameProcessorOptions.maxQueuedFrames is not checked (accepted: 0, -1, 1.5, NaN,
  // Infinity). NaN or Infinity silently removes the lane bound; 0 or -1 breaks every lane (next).
  it("FrameProcessor refuses a maxQueuedFrames that is not a whole number ≥ 1", () => {
    expect(accepted(BAD_COUNTS, (v) => new FrameProcessor({ maxQueuedFrames: v }))).toEqual([]);
  });

  // Was a HOLE, fixed; now a regression test. PipelineTask checks its durations but not params.audioInSampleRate /
  // audioOutSampleRate: NaN, 0, negative, fractional, Infinity, 5 and 1e12 are all accepted and
  // reach every processor in StartFrame (below 100 Hz the output transport spins: spin.test.ts).
  it("PipelineTask refuses sample rates no resampler takes", () => {
    expect(
      accepted(BAD_RATES, (v) => new PipelineTask(new Pipeline([]), { params: { audioInSampleRate: v } })),
    ).toEqual([]);
    expect(
      accepted(BAD_RATES, (v) => new PipelineTask(new Pipeline([]), { params: { audioOutSampleRate: v } })),
    ).toEqual([]);
  });

  // Was a HOLE, fixed; now a regression test. TransportParams sample rates are checked to be positive integers only; the resampler
  // takes 1000…768000 Hz. audioInSampleRate 5 fails later as a fatal "could not open its input"
  // at StartFrame; audioOutSampleRate below 100 freezes the process (spin.test.ts).
  it("TransportParams refuse sample rates outside what the resampler takes", () => {
    expect(
      accepted([5, 50, 999, 1e9], (v) => new MemoryTransport({ params: { audioInSampleRate: v } })),
    ).toEqual([]);
    expect(
      accepted([5, 50, 999, 1e9], (v) => new MemoryTransport({ params: { audioOutSampleRate: v } })),
    ).toEqual([]);
  });

  // Was a HOLE, fixed; now a regression test. audioOutMaxQueuedMs: 0 passes the "≥ 0" check but makes the backpressure wait forever
  // with an empty queue (queuedMs 0 ≥ 0): no audio is ever played, and the end hangs on the
  // output until endTimeoutMs cancels it. Measured: 100 ms of audio queued, 0 chunks written,
  // outcome "cancelled" (end timeout naming memory-output).
  it("audioOutMaxQueuedMs: 0 is refused, or audio still plays", async () => {
    let transport: MemoryTransport;
    try {
      transport = new MemoryTransport({ params: { audioOutEnabled: true, audioOutMaxQueuedMs: 0 } });
    } catch (e) {
      expect(e).toBeInstanceOf(InvalidOptionError);
      return;
    }
    const s = startRecordedTask([transport.output()]);
    await s.whenStarted();
    s.task.queueFrame(new OutputAudioRawFrame(new Int16Array(2_400), 24_000));
    const outcome = await s.clock.runUntil(s.task.stopWhenDone());
    expect({ how: outcome?.how, written: transport.output().written.length > 0 }).toEqual({
      how: "ended",
      written: true,
    });
  });

  // HOLE (low). audioOutEndSilenceMs is checked for ≥ 0 and finite only: 1e15 ms of end silence
  // is accepted, and since every silent chunk counts as end progress, stopWhenDone() then never
  // ends (the end watchdog is fed for ever).
  it("audioOutEndSilenceMs has an upper bound", () => {
    expect(accepted([1e15], (v) => new MemoryTransport({ params: { audioOutEndSilenceMs: v } }))).toEqual([]);
  });

  // Was a HOLE, fixed; now a regression test. Observer.frameTypes is not checked: [undefined] (or a string, or a plain object) is
  // accepted, and then `frame instanceof undefined` throws inside every pushFrame of every
  // processor. The StartFrame push itself fails (logged), so the task sits until startTimeoutMs
  // and is cancelled; the misuse is reported 20 s later as a start timeout.
  it("an observer whose frameTypes are not classes is refused when added", () => {
    expect(
      accepted(
        [[undefined], ["TextFrame"], [{}]],
        (types) =>
          new PipelineTask(new Pipeline([]), {
            observers: [{ frameTypes: types as never, onPushFrame() {} }],
          }),
      ),
    ).toEqual([]);
  });

  // Was a HOLE, fixed; now a regression test. idleTimeoutFrames is not checked either: with [undefined], every push throws a
  // TypeError once the task has started (the idle monitor is watching).
  it("idleTimeoutFrames that are not classes are refused", () => {
    expect(
      accepted(
        [[undefined], [{}]],
        (types) => new PipelineTask(new Pipeline([]), { idleTimeoutFrames: types as never }),
      ),
    ).toEqual([]);
  });

  // Was a HOLE, fixed; now a regression test. VirtualClock checks startMs but not settleTurns or realWorkTimeoutMs. realWorkTimeoutMs
  // NaN makes `performance.now() > NaN` never true: tracked work that never settles hangs the test
  // for ever instead of raising VirtualTimeExceededError; settleTurns 1e12 makes every advance()
  // take 1e12 event-loop turns.
  it("VirtualClock refuses odd settleTurns and realWorkTimeoutMs", () => {
    const bad: string[] = [];
    for (const [k, v] of [
      ["settleTurns", Number.NaN],
      ["settleTurns", -1],
      ["settleTurns", 1e12],
      ["realWorkTimeoutMs", Number.NaN],
      ["realWorkTimeoutMs", -1],
    ] as const) {
      try {
        new VirtualClock({ [k]: v });
        bad.push(`${k}=${v}`);
      } catch {
        /* refused: good */
      }
    }
    expect(bad).toEqual([]);
  });

  // Was a HOLE, fixed; now a regression test. VADProcessor checks audioIdleTimeoutMs but not speakingIntervalMs: NaN means no
  // UserSpeakingFrame is ever sent (`x >= NaN` is false) — and UserSpeakingFrame is what the idle
  // monitor counts as the user's activity by default.
  it("VADProcessor refuses a speakingIntervalMs that is not a finite number ≥ 0", () => {
    expect(
      accepted(
        [Number.NaN, -1, Number.POSITIVE_INFINITY],
        (v) => new VADProcessor({ analyzer: new Fake(), speakingIntervalMs: v }),
      ),
    ).toEqual([]);
  });
});

describe("frames with odd values (adversary)", () => {
  // Was a HOLE, fixed; now a regression test. Frame.pts is a plain field; a frame with pts NaN reaches the output's TimedFrameQueue,
  // whose timer computation throws RangeError (from the clock, in the output transport, not at
  // the producer) — and the NaN entry stays at the head of its heap: every later timed frame
  // re-arms on NaN, throws again and is never released. Measured: a valid caption 100 ms ahead
  // never came out; two ErrorFrames "memory-output threw while processing TextFrame#…: Clock:
  // delayMs must be a finite number of ms (got NaN)", the second for the valid frame.
  it("one frame with pts NaN does not stop later timed frames", async () => {
    const transport = new MemoryTransport({ params: { audioOutEnabled: true } });
    const s = startRecordedTask([transport.output()]);
    await s.whenStarted();
    const bad = new TextFrame("nan");
    bad.pts = Number.NaN;
    s.task.queueFrame(bad);
    await s.clock.advance(10);
    const good = new TextFrame("good");
    good.pts = s.clock.now() + 100;
    s.task.queueFrame(good);
    await s.clock.advance(1_000);
    const got = s.recorder.frames.filter((f): f is TextFrame => f instanceof TextFrame).map((f) => f.text);
    await s.clock.runUntil(s.task.cancel());
    expect(got).toContain("good");
  });
});

describe("serializer input (adversary)", () => {
  // HOLE (low). deserialize() "never throws" only for the declared types: null or undefined (a
  // transport bug, or `ws` with an empty payload handler) throw a TypeError on `.byteLength`. A
  // valid message handed over as an ArrayBuffer (ws binaryType "arraybuffer") or Buffer[]
  // ("fragments") is refused as "malformed … not a protobuf pipecat.Frame", which misleads.
  it("deserialize never throws and does not call a valid ArrayBuffer malformed", () => {
    const s = new ProtobufFrameSerializer();
    const good = s.serialize(new OutputAudioRawFrame(new Int16Array(320), 16_000))!;
    const outcome: Record<string, string> = {};
    const inputs: Record<string, unknown> = {
      nul: null,
      undef: undefined,
      arrayBuffer: good.buffer.slice(good.byteOffset, good.byteOffset + good.byteLength),
    };
    for (const [k, v] of Object.entries(inputs)) {
      try {
        const r = s.deserialize(v as Uint8Array);
        outcome[k] = r.ok ? "ok" : r.error.reason;
      } catch (e) {
        outcome[k] = `threw ${String(e)}`;
      }
    }
    expect(outcome.nul).not.toMatch(/^threw/);
    expect(outcome.undef).not.toMatch(/^threw/);
    expect(outcome.arrayBuffer).not.toBe("malformed");
  });

  it("held: a 200 KB run of nested groups is refused at once", () => {
    const s = new ProtobufFrameSerializer();
    const t0 = performance.now();
    const r = s.deserialize(new Uint8Array(200_000).fill(0x0b));
    expect(r.ok).toBe(false);
    expect(performance.now() - t0).toBeLessThan(500);
  });
});

/**
 * Properties of the output transport over its settings (fast-check): every setting that is
 * accepted gives an output whose mixer runs at most once per chunk of elapsed time (plus a
 * small constant) and a task that ends by stopWhenDone() and by cancel() within its bounds,
 * leaving nothing running; every setting that is refused is refused at construction with an
 * error that names it. Mixers and sinks misbehave in every way the output promises to survive.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CancelFrame,
  EndFrame,
  FrameProcessor,
  InterruptionFrame,
  InvalidOptionError,
  Pipeline,
  PipelineTask,
  TTSAudioRawFrame,
  TTSStoppedFrame,
  type TransportParams,
  VirtualClock,
} from "../../src/index.js";
import { resolveTransportParams } from "../../src/transports/transport-params.js";
import { constant } from "../support/audio.js";
import { CountingMixer } from "../support/mixers.js";
import { startOutput } from "../support/task.js";

type MixerKind =
  | "none"
  | "good"
  | "mix-throws"
  | "mix-short"
  | "mix-float32"
  | "mix-async"
  | "active-throws"
  | "start-rejects"
  | "start-never"
  | "stop-never";
type SinkKind = "true" | "false" | "throws" | "never" | "async-true" | "false-later";

const MIXER_KINDS: MixerKind[] = [
  "none",
  "good",
  "mix-throws",
  "mix-short",
  "mix-float32",
  "mix-async",
  "active-throws",
  "start-rejects",
  "start-never",
  "stop-never",
];
const SINK_KINDS: SinkKind[] = ["true", "false", "throws", "never", "async-true", "false-later"];

/** Mostly valid values, sometimes one that must be refused (so most scenarios run). */
function mostly<T>(valid: fc.Arbitrary<T>, invalid: fc.Arbitrary<T>): fc.Arbitrary<T> {
  return fc.oneof({ arbitrary: valid, weight: 12 }, { arbitrary: invalid, weight: 1 });
}

/** Rates: the usual ones, odd valid ones, and values that must be refused. */
const rate = mostly(
  fc.oneof(
    fc.constantFrom(8_000, 16_000, 22_050, 24_000, 44_100, 48_000),
    fc.constantFrom(1_000, 1_001, 7_999, 99_999),
  ),
  fc.constantFrom(0, 50, 999, -16_000, 16_000.5, Number.NaN, Number.POSITIVE_INFINITY, 1_000_000),
);
const channels = mostly(fc.integer({ min: 1, max: 2 }), fc.constantFrom(0, -1, 1.5, 17, Number.NaN));
const tenMsChunks = mostly(fc.integer({ min: 1, max: 10 }), fc.constantFrom(0, 101, 2.5, Number.NaN));
const ms = (max: number, min = 1) =>
  mostly(
    fc.oneof(fc.integer({ min, max }), fc.double({ min, max, noNaN: true })),
    fc.constantFrom(-1, Number.NaN, Number.POSITIVE_INFINITY),
  );

const settings = fc.record({
  audioOutSampleRate: rate,
  audioOutChannels: channels,
  audioOut10msChunks: tenMsChunks,
  audioOutEndSilenceMs: ms(1_500),
  audioOutMaxQueuedMs: mostly(ms(3_000, 100), fc.constantFrom(0, 5, 39)),
  audioOutWriteTimeoutMs: ms(1_500),
  audioOutMixerTimeoutMs: ms(1_500),
  audioOutMaxCatchUpChunks: mostly(fc.integer({ min: 1, max: 6 }), fc.constantFrom(0, Number.NaN)),
});

const scenario = fc.record({
  settings,
  mixer: fc.constantFrom(...MIXER_KINDS),
  sink: fc.constantFrom(...SINK_KINDS),
  /** Speech frames, in ms each, at 16 kHz or at the output rate. */
  speech: fc.array(fc.record({ ms: fc.integer({ min: 1, max: 700 }), atOutputRate: fc.boolean() }), {
    maxLength: 4,
  }),
  interrupt: fc.boolean(),
  /** Virtual time between queueing the speech and ending. */
  waitMs: fc.integer({ min: 0, max: 1_500 }),
  end: fc.constantFrom("stopWhenDone", "cancel", "cancel-while-starting"),
});

function makeMixer(kind: MixerKind, clock: () => VirtualClock): CountingMixer | undefined {
  if (kind === "none") return undefined;
  const mixer = new CountingMixer(clock);
  const mix = mixer.mix.bind(mixer);
  switch (kind) {
    case "mix-throws":
      mixer.mix = (a) => {
        mix(a);
        throw new Error("mix exploded");
      };
      break;
    case "mix-short":
      mixer.mix = (a) => mix(a).subarray(1);
      break;
    case "mix-float32":
      mixer.mix = (a) => (mix(a), new Float32Array(a.length) as unknown as Int16Array);
      break;
    case "mix-async":
      mixer.mix = ((a: Int16Array) => Promise.resolve(mix(a))) as unknown as (a: Int16Array) => Int16Array;
      break;
    case "active-throws":
      Object.defineProperty(mixer, "active", {
        get() {
          throw new Error("active exploded");
        },
      });
      break;
    case "start-rejects":
      mixer.start = () => Promise.reject(new Error("no sound files"));
      break;
    case "start-never":
      mixer.start = () => new Promise<void>(() => {});
      break;
    case "stop-never":
      mixer.stop = () => new Promise<void>(() => {});
      break;
  }
  return mixer;
}

function makeSink(kind: SinkKind): () => boolean | Promise<boolean> {
  let writes = 0;
  switch (kind) {
    case "true":
      return () => true;
    case "false":
      return () => false;
    case "throws":
      return () => {
        throw new Error("socket exploded");
      };
    case "never":
      return () => new Promise<boolean>(() => {});
    case "async-true":
      return () => Promise.resolve(true);
    case "false-later":
      return () => ++writes < 7;
  }
}

describe("output transport settings (property)", () => {
  it("refuses at construction, naming the setting, or runs within its bounds and leaves nothing running", async () => {
    let ran = 0;
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(scenario, async (sc) => {
        const params = { audioOutEnabled: true, ...sc.settings } as Partial<TransportParams>;
        let accepted = true;
        try {
          resolveTransportParams(params);
        } catch (error) {
          accepted = false;
          expect(error).toBeInstanceOf(InvalidOptionError);
          expect((error as Error).message).toMatch(/^TransportParams\.\w+ /);
        }
        const mixer = makeMixer(sc.mixer, () => s.clock);
        const build = () =>
          startOutput(
            sc.settings.audioOutSampleRate,
            { ...params, audioOutMixer: mixer },
            {
              sink: makeSink(sc.sink),
              recordLimit: 0,
            },
          );
        if (!accepted) {
          expect(build).toThrow(InvalidOptionError);
          refused++;
          return;
        }
        ran++;
        const s = build();
        const p = resolveTransportParams(params);
        const outRate = p.audioOutSampleRate!;
        const framesPerChunk = Math.floor(outRate / 100) * p.audioOut10msChunks;
        const chunkMs = (framesPerChunk / outRate) * 1000;
        const t0 = s.clock.now();
        const checkMixerBound = (): void => {
          const elapsed = s.clock.now() - t0;
          expect(mixer?.calls.length ?? 0).toBeLessThanOrEqual(
            elapsed / chunkMs + p.audioOutMaxCatchUpChunks + 2,
          );
        };

        if (sc.end === "cancel-while-starting") {
          const tc = s.clock.now();
          await s.clock.runUntil(s.task.cancel());
          expect(s.clock.now() - tc).toBeLessThanOrEqual(2_000);
        } else {
          await s.clock.runUntil(s.whenStarted(), { maxMs: 10_000 });
          let queuedMs = 0;
          for (const f of sc.speech) {
            const r = f.atOutputRate ? outRate : 16_000;
            const frames = Math.max(1, Math.round((r * f.ms) / 1000));
            s.task.queueFrame(
              new TTSAudioRawFrame(
                constant((frames * 1000) / r, r * p.audioOutChannels),
                r,
                p.audioOutChannels,
              ),
            );
            queuedMs += f.ms;
          }
          s.task.queueFrame(new TTSStoppedFrame());
          await s.clock.advance(sc.waitMs);
          if (sc.interrupt) s.task.queueFrame(new InterruptionFrame());
          checkMixerBound();
          const tEnd = s.clock.now();
          if (sc.end === "stopWhenDone") {
            await s.clock.runUntil(s.task.stopWhenDone(), { maxMs: 60_000 });
            const bound =
              queuedMs +
              p.audioOutEndSilenceMs +
              p.audioOutWriteTimeoutMs +
              p.audioOutMixerTimeoutMs +
              4 * chunkMs +
              100;
            expect(s.clock.now() - tEnd).toBeLessThanOrEqual(bound);
            expect(s.finishedBy[0]).toBeInstanceOf(EndFrame);
          } else {
            await s.clock.runUntil(s.task.cancel());
            expect(s.clock.now() - tEnd).toBeLessThanOrEqual(2_000);
            expect(s.finishedBy[0]).toBeInstanceOf(CancelFrame);
          }
        }
        await s.done;
        checkMixerBound();
        // Nothing keeps running: no writes, no mixing, and every timer gone once the deadlines pass.
        const writes = s.output.writeCalls;
        const mixes = mixer?.calls.length ?? 0;
        await s.clock.advance(5_000);
        expect(s.output.writeCalls).toBe(writes);
        expect(mixer?.calls.length ?? 0).toBe(mixes);
        expect(s.clock.pendingTimers).toBe(0);
        for (const e of s.errors) expect(e.error.message).not.toMatch(/output loop failed|threw while/);
      }),
      { numRuns: Number(process.env.PROP_RUNS ?? 120) },
    );
    if (process.env.PROP_RUNS) console.log(`ran ${ran}, refused ${refused}`);
    expect(ran).toBeGreaterThan(30); // most scenarios run; the rest are refused
    expect(refused).toBeGreaterThan(5);
  }, 120_000);

  it("refuses pipeline params that would make the output spin, at the task's construction", () => {
    fc.assert(
      fc.property(rate, (audioOutSampleRate) => {
        const build = () =>
          new PipelineTask(new Pipeline([new FrameProcessor()]), {
            clock: new VirtualClock(),
            params: { audioOutSampleRate },
          });
        const valid =
          Number.isInteger(audioOutSampleRate) &&
          audioOutSampleRate >= 1_000 &&
          audioOutSampleRate <= 768_000;
        if (valid) expect(build().params.audioOutSampleRate).toBe(audioOutSampleRate);
        else
          expect(build).toThrow(
            /PipelineTask params\.audioOutSampleRate must be an integer sample rate in Hz from 1000/,
          );
      }),
    );
  });
});

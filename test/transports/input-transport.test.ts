import { describe, expect, it } from "vitest";
import { voicepipeLinesDuring } from "../support/console-lines.js";
import type { AudioFilter } from "../../src/audio/filters/audio-filter.js";
import { RNNoiseFilter } from "../../src/audio/filters/rnnoise-filter.js";
import { createStreamResampler } from "../../src/audio/resampler.js";
import { deinterleave, interleave, rms } from "../../src/audio/pcm.js";
import {
  BaseInputTransport,
  CancelFrame,
  EndFrame,
  FrameDirection,
  InputAudioRawFrame,
  InputTransportMessageFrame,
  InvalidOptionError,
  MemoryTransport,
  Pipeline,
  PipelineTask,
  type TransportParams,
  VirtualClock,
  silentLogger,
} from "../../src/index.js";
import { TranscriptionFrame } from "../../src/frames/text.js";
import {
  type BaseInputTransportOptions,
  TransportOpenError,
} from "../../src/transports/base-input-transport.js";
import { memoryLogger } from "../support/logger.js";
import { startTask } from "../support/task.js";
import { FrameRecorder } from "../../src/testing/index.js";
import { chunks, concat, energyDb, sine, sineFitSnrDb, whiteNoise } from "../audio/signals.js";

const PIPELINE_RATE = 16_000; // PipelineTask's default audioInSampleRate

/** An AudioFilter that records what it is given and scales it by `gain`. */
class RecordingFilter implements AudioFilter {
  enabled = true;
  readonly startedAt: number[] = [];
  readonly seen: Int16Array[] = [];
  stops = 0;
  constructor(readonly gain = 0.5) {}
  async start(sampleRate: number): Promise<void> {
    this.startedAt.push(sampleRate);
  }
  filter(chunk: Int16Array): Int16Array {
    this.seen.push(chunk.slice());
    return Int16Array.from(chunk, (v) => Math.round(v * this.gain));
  }
  async stop(): Promise<void> {
    this.stops++;
  }
}

function setup(params: Partial<TransportParams> = {}) {
  const transport = new MemoryTransport({ params: { audioInEnabled: true, ...params } });
  const input = transport.input();
  const down = new FrameRecorder();
  return {
    ...startTask([input, down]),
    input,
    down,
    /** The audio frames that came out of the input transport, joined. */
    received: () => concat(down.ofType(InputAudioRawFrame).map((f) => f.audio)),
  };
}

/** Chunk sizes that vary and do not line up with anything (1 sample to ~21 ms at 48 kHz). */
function irregularChunks(audio: Int16Array, channels = 1): Int16Array[] {
  const out: Int16Array[] = [];
  const sizes = [1, 480, 37, 960, 7, 1_009, 333];
  for (let offset = 0, i = 0; offset < audio.length; i++) {
    const size = sizes[i % sizes.length]! * channels;
    out.push(audio.subarray(offset, offset + size));
    offset += size;
  }
  return out;
}

/** What one stream resampler makes of the whole signal at once: the reference output. */
async function resampledWhole(audio: Int16Array, inRate: number, outRate: number, channels = 1) {
  const resampler = await createStreamResampler({ inRate, outRate, channels });
  const out = resampler.resample(audio);
  resampler.dispose();
  return out;
}

describe("BaseInputTransport: before the start", () => {
  it("drops audio pushed before the pipeline started and counts it", async () => {
    const clock = new VirtualClock();
    const transport = new MemoryTransport({ params: { audioInEnabled: true } });
    const input = transport.input();
    const down = new FrameRecorder();
    await input.pushAudio(sine(440, PIPELINE_RATE, 0.02), PIPELINE_RATE);
    await input.pushAudio(sine(440, PIPELINE_RATE, 0.02));
    expect(input.droppedAudioChunks).toBe(2);
    expect(input.running).toBe(false);
    const task = new PipelineTask(new Pipeline([input, down]), {
      clock,
      logger: silentLogger,
      idleTimeoutMs: null,
    });
    const done = task.run();
    await clock.runUntil(() => input.running);
    await clock.advance(100);
    expect(down.ofType(InputAudioRawFrame)).toHaveLength(0); // not replayed at start
    await input.pushAudio(sine(440, PIPELINE_RATE, 0.02));
    expect(down.ofType(InputAudioRawFrame)).toHaveLength(1);
    expect(input.droppedAudioChunks).toBe(2);
    await clock.runUntil(task.stopWhenDone());
    await done;
  });

  it("with audioInEnabled off, never runs and drops what it is given", async () => {
    const s = setup({ audioInEnabled: false });
    await s.whenStarted();
    expect(s.input.running).toBe(false);
    await s.input.pushAudio(sine(440, PIPELINE_RATE, 0.02));
    expect(s.input.droppedAudioChunks).toBe(1);
    expect(s.down.ofType(InputAudioRawFrame)).toHaveLength(0);
    await s.clock.runUntil(s.task.stopWhenDone());
  });
});

describe("BaseInputTransport: resampling to the pipeline rate", () => {
  it("turns 48 kHz audio into InputAudioRawFrames at 16 kHz, whole length, in order, across many small pushes", async () => {
    const s = setup({ audioInSampleRate: 48_000 });
    await s.whenStarted();
    expect(s.input.pipelineSampleRate).toBe(PIPELINE_RATE);
    const audio = sine(440, 48_000, 1, 12_000);
    const parts = irregularChunks(audio);
    expect(parts.length).toBeGreaterThan(100);
    // Pushed without waiting for each other: the transport must keep them in order itself.
    const pushes = parts.map((p) => s.input.pushAudio(p));
    await Promise.all(pushes);
    const frames = s.down.ofType(InputAudioRawFrame);
    expect(frames.length).toBeGreaterThan(0);
    expect(frames.every((f) => f.sampleRate === PIPELINE_RATE && f.numChannels === 1)).toBe(true);
    expect(frames.every((f) => f.audio.length > 0)).toBe(true);
    const out = s.received();
    expect(out.length).toBe(Math.ceil((audio.length * PIPELINE_RATE) / 48_000));
    // Exactly what one resampler makes of the whole stream: nothing lost, repeated or reordered.
    const reference = await resampledWhole(audio, 48_000, PIPELINE_RATE);
    expect(out.length).toBe(reference.length);
    let mismatches = 0;
    for (let i = 0; i < out.length; i++) if (out[i] !== reference[i]) mismatches++;
    expect(mismatches).toBe(0);
    // And it is still the 440 Hz tone (past the filter's start-up).
    expect(sineFitSnrDb(out.subarray(200), 440, PIPELINE_RATE)).toBeGreaterThan(40);
    expect(s.input.droppedAudioChunks).toBe(0);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("uses the rate given to pushAudio over audioInSampleRate, and passes pipeline-rate audio through untouched", async () => {
    const s = setup({ audioInSampleRate: 48_000 });
    await s.whenStarted();
    const same = Int16Array.from({ length: 320 }, (_, i) => i * 3 - 400);
    await s.input.pushAudio(same, PIPELINE_RATE);
    const frames = s.down.ofType(InputAudioRawFrame);
    expect(frames).toHaveLength(1);
    expect(Array.from(frames[0]!.audio)).toEqual(Array.from(same));
    await s.input.pushAudio(sine(440, 8_000, 0.1), 8_000);
    const up = s.down.ofType(InputAudioRawFrame).slice(1);
    expect(up.every((f) => f.sampleRate === PIPELINE_RATE)).toBe(true);
    expect(concat(up.map((f) => f.audio)).length).toBe(1_600);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("resamples stereo input per channel and keeps its channel count", async () => {
    const s = setup({ audioInSampleRate: 48_000, audioInChannels: 2 });
    await s.whenStarted();
    const left = sine(300, 48_000, 0.5, 10_000);
    const right = sine(1_000, 48_000, 0.5, 5_000);
    const stereo = interleave([left, right]);
    for (const part of irregularChunks(stereo, 2)) await s.input.pushAudio(part);
    const frames = s.down.ofType(InputAudioRawFrame);
    expect(frames.every((f) => f.numChannels === 2 && f.sampleRate === PIPELINE_RATE)).toBe(true);
    const [l, r] = deinterleave(s.received(), 2);
    expect(l!.length).toBe(Math.ceil((left.length * PIPELINE_RATE) / 48_000));
    expect(sineFitSnrDb(l!.subarray(200), 300, PIPELINE_RATE)).toBeGreaterThan(40);
    expect(sineFitSnrDb(r!.subarray(200), 1_000, PIPELINE_RATE)).toBeGreaterThan(40);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("converts stereo pushed into a mono pipeline to mono (the average), at any rate", async () => {
    // Regression (issue 6): the transport kept the client's channel count, so a stereo source
    // reached a mono pipeline as stereo frames that the output refused.
    const s = setup({ audioInSampleRate: 48_000 });
    await s.whenStarted();
    const left = sine(300, 48_000, 0.5, 10_000);
    const right = sine(300, 48_000, 0.5, 2_000);
    const stereo = interleave([left, right]);
    for (const part of irregularChunks(stereo, 2)) await s.input.pushAudio(part, 48_000, 2);
    await s.input.pushAudio(interleave([sine(300, 16_000, 0.1), sine(300, 16_000, 0.1)]), PIPELINE_RATE, 2);
    const frames = s.down.ofType(InputAudioRawFrame);
    expect(frames.every((f) => f.numChannels === 1 && f.sampleRate === PIPELINE_RATE)).toBe(true);
    const mono = Int16Array.from(left, (l, i) => Math.round((l + right[i]!) / 2));
    const reference = await resampledWhole(mono, 48_000, PIPELINE_RATE);
    expect(Array.from(s.received().subarray(0, reference.length))).toEqual(Array.from(reference));
    expect(s.received().length).toBe(reference.length + 1_600);
    expect(s.errors).toEqual([]);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("takes audio sent upstream as an InputAudioRawFrame the same way", async () => {
    const s = setup();
    await s.whenStarted();
    const audio = sine(440, 48_000, 0.1, 8_000);
    s.task.queueFrame(new InputAudioRawFrame(audio, 48_000, 1), FrameDirection.UPSTREAM);
    await s.clock.advance(10);
    const frames = s.down.ofType(InputAudioRawFrame);
    expect(frames.length).toBeGreaterThan(0);
    expect(frames.every((f) => f.sampleRate === PIPELINE_RATE)).toBe(true);
    expect(s.received().length).toBe(1_600);
    await s.clock.runUntil(s.task.stopWhenDone());
  });
});

describe("BaseInputTransport: passthrough and filter", () => {
  it("with audioInPassthrough: false, swallows the audio", async () => {
    const s = setup({ audioInSampleRate: 48_000, audioInPassthrough: false });
    await s.whenStarted();
    for (const part of chunks(sine(440, 48_000, 0.2), 960)) await s.input.pushAudio(part);
    await s.clock.advance(100);
    expect(s.down.ofType(InputAudioRawFrame)).toHaveLength(0);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("runs audioInFilter after resampling, at the pipeline's rate, whatever rate is pushed", async () => {
    const filter = new RecordingFilter(0.5);
    const s = setup({ audioInSampleRate: 48_000, audioInFilter: filter });
    await s.whenStarted();
    expect(filter.startedAt).toEqual([PIPELINE_RATE]);
    const audio = sine(440, 48_000, 0.5, 16_000);
    for (const part of chunks(audio, 960)) await s.input.pushAudio(part);
    // The filter saw the resampled stream, and its output is what was pushed.
    const resampled = await resampledWhole(audio, 48_000, PIPELINE_RATE);
    expect(Array.from(concat(filter.seen))).toEqual(Array.from(resampled));
    expect(Array.from(s.received())).toEqual(
      Array.from(Int16Array.from(resampled, (v) => Math.round(v * 0.5))),
    );
    // Audio pushed at yet another rate reaches the filter at the same rate it was started at.
    const before = concat(filter.seen).length;
    await s.input.pushAudio(sine(440, 8_000, 0.1), 8_000);
    const added = concat(filter.seen).length - before;
    expect(Math.abs(added - 0.1 * PIPELINE_RATE)).toBeLessThanOrEqual(2);
    await s.clock.runUntil(s.task.stopWhenDone());
    expect(filter.stops).toBeGreaterThanOrEqual(1);
  });

  it("a disabled filter is skipped", async () => {
    const filter = new RecordingFilter(0);
    filter.enabled = false;
    const s = setup({ audioInFilter: filter });
    await s.whenStarted();
    const audio = sine(440, PIPELINE_RATE, 0.1, 8_000);
    await s.input.pushAudio(audio);
    expect(filter.seen).toHaveLength(0);
    expect(Array.from(s.received())).toEqual(Array.from(audio));
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("with the real RNNoiseFilter, removes most of a stationary noise", async () => {
    const noise = whiteNoise(48_000 * 1.5, 1_000, 5);
    const run = async (filter: AudioFilter | undefined) => {
      const s = setup({ audioInSampleRate: 48_000, audioInFilter: filter });
      await s.whenStarted();
      for (const part of chunks(noise, 960)) await s.input.pushAudio(part);
      const out = s.received();
      await s.clock.runUntil(s.task.stopWhenDone());
      return out;
    };
    const plain = await run(undefined);
    const filtered = await run(new RNNoiseFilter());
    // Skip the first half second while RNNoise adapts; compare the same stretch of output.
    const from = PIPELINE_RATE / 2;
    const to = Math.min(plain.length, filtered.length);
    expect(to - from).toBeGreaterThan(PIPELINE_RATE / 2);
    expect(-energyDb(filtered.subarray(from, to), plain.subarray(from, to))).toBeGreaterThan(15);
    expect(rms(plain.subarray(from, to))).toBeGreaterThan(500);
  });
});

describe("BaseInputTransport: malformed input", () => {
  type PushArgs = [audio: Int16Array, sampleRate: number, numChannels: number];
  const cases: Array<[what: string, args: () => PushArgs, message: RegExp]> = [
    [
      "a Uint8Array",
      () => [new Uint8Array(320) as unknown as Int16Array, PIPELINE_RATE, 1],
      /must be an Int16Array/,
    ],
    ["a non-integer rate", () => [new Int16Array(320), 44_100.5, 1], /integer number of Hz.*44100\.5/],
    ["a rate below 1000 Hz", () => [new Int16Array(320), 800, 1], /≥ 1000 \(got 800\)/],
    [
      "a sample count that is not whole frames",
      () => [new Int16Array(321), PIPELINE_RATE, 2],
      /321 samples is not a whole number of 2-channel frames/,
    ],
  ];
  it.each(cases)("rejects %s with a message that says what was wrong", async (_what, args, message) => {
    const s = setup();
    await s.whenStarted();
    const [audio, rate, channels] = args();
    const error = await (async () => s.input.pushAudio(audio, rate, channels))().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InvalidOptionError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).toContain(s.input.name);
    expect(s.down.ofType(InputAudioRawFrame)).toHaveLength(0);
    // The transport keeps working after refusing bad input.
    await s.input.pushAudio(new Int16Array(320).fill(5));
    expect(s.down.ofType(InputAudioRawFrame)).toHaveLength(1);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("rejects malformed audio even before the pipeline has started", async () => {
    const transport = new MemoryTransport({ params: { audioInEnabled: true } });
    const input = transport.input();
    await expect(
      (async () => input.pushAudio(new Uint8Array(320) as unknown as Int16Array, PIPELINE_RATE))(),
    ).rejects.toThrow(/must be an Int16Array/);
  });
});

describe("BaseInputTransport: end, cancel and teardown", () => {
  it("a task cancelled before it runs neither starts nor stops the filter, and says nothing", async () => {
    const filter = new RecordingFilter(1);
    const transport = new MemoryTransport({ params: { audioInEnabled: true, audioInFilter: filter } });
    const task = new PipelineTask(new Pipeline([transport.input(), transport.output()]), {
      logger: silentLogger,
      clock: new VirtualClock(),
    });
    // Processors never set up log to the console: a false "did not stop cleanly" went there.
    const { value: outcome, lines } = await voicepipeLinesDuring(() => task.cancel("before run"));
    expect(outcome.how).toBe("cancelled");
    expect(lines).toEqual([]);
    expect(filter.startedAt).toEqual([]);
    expect(filter.stops).toBe(0);
  });

  it("drops and counts audio pushed after EndFrame, and leaves no timer behind", async () => {
    const filter = new RecordingFilter(1);
    const s = setup({ audioInSampleRate: 48_000, audioInFilter: filter });
    await s.whenStarted();
    await s.input.pushAudio(sine(440, 48_000, 0.1));
    const before = s.down.ofType(InputAudioRawFrame).length;
    expect(before).toBeGreaterThan(0);
    await s.clock.runUntil(s.task.stopWhenDone());
    await s.done;
    expect(s.task.hasFinished()).toBe(true);
    expect(s.input.running).toBe(false);
    await s.input.pushAudio(sine(440, 48_000, 0.1));
    await s.input.pushAudio(sine(440, 48_000, 0.1), 48_000);
    expect(s.input.droppedAudioChunks).toBe(2);
    expect(s.down.ofType(InputAudioRawFrame)).toHaveLength(before);
    expect(filter.stops).toBeGreaterThanOrEqual(1);
    expect(filter.seen).toHaveLength(1);
    expect(s.clock.pendingTimers).toBe(0);
    expect(s.errors).toEqual([]);
  });

  it("drops and counts audio pushed after cancel, and leaves no timer behind", async () => {
    const s = setup({ audioInSampleRate: 48_000 });
    await s.whenStarted();
    await s.input.pushAudio(sine(440, 48_000, 0.1));
    const before = s.down.ofType(InputAudioRawFrame).length;
    await s.clock.runUntil(s.task.cancel("test"));
    await s.done;
    await s.input.pushAudio(sine(440, 48_000, 0.1));
    expect(s.input.running).toBe(false);
    expect(s.input.droppedAudioChunks).toBe(1);
    expect(s.down.ofType(InputAudioRawFrame)).toHaveLength(before);
    expect(s.clock.pendingTimers).toBe(0);
  });

  it("audio pushed just before EndFrame still comes out ahead of it", async () => {
    const s = setup({ audioInSampleRate: 48_000 });
    await s.whenStarted();
    const audio = sine(440, 48_000, 0.2);
    const pushes = chunks(audio, 960).map((p) => s.input.pushAudio(p));
    const ending = s.task.stopWhenDone();
    await Promise.all(pushes);
    await s.clock.runUntil(ending);
    const frames = s.down.frames;
    const end = frames.findIndex((f) => f.constructor.name === "EndFrame");
    const lastAudio = frames.findLastIndex((f) => f instanceof InputAudioRawFrame);
    expect(lastAudio).toBeLessThan(end);
    expect(s.received().length).toBe(Math.ceil((audio.length * PIPELINE_RATE) / 48_000));
    expect(s.input.droppedAudioChunks).toBe(0);
  });

  it("counts every chunk it accepted and did not deliver in droppedAudioChunks", async () => {
    const s = setup({ audioInSampleRate: 48_000 });
    await s.whenStarted();
    // 20 ms chunks: each one, once resampled, makes exactly one InputAudioRawFrame.
    const parts = chunks(sine(440, 48_000, 0.2), 960);
    const pushes = parts.map((p) => s.input.pushAudio(p));
    const ending = s.task.stopWhenDone();
    await Promise.all(pushes);
    await s.clock.runUntil(ending);
    const delivered = s.down.ofType(InputAudioRawFrame).length;
    expect(delivered + s.input.droppedAudioChunks).toBe(parts.length);
  });
});

/** An input transport that records its verbs, with an `open` the test controls. */
class VerbTransport extends BaseInputTransport {
  readonly calls: string[] = [];
  openSignal: AbortSignal | undefined;
  constructor(
    private readonly opening: (signal: AbortSignal) => void | Promise<void> = () => {},
    params: Partial<TransportParams> = {},
    options: BaseInputTransportOptions = {},
  ) {
    super({ audioInEnabled: true, ...params }, { name: "verbs", ...options });
  }
  protected override open(signal: AbortSignal): void | Promise<void> {
    this.calls.push("open");
    this.openSignal = signal;
    return this.opening(signal);
  }
  protected override close(): void {
    this.calls.push("close");
  }
}

describe("BaseInputTransport: one input path for every decoded frame", () => {
  it("keeps arrival order: a message pushed after audio never overtakes it, even while a resampler is made", async () => {
    // Regression (issue 6, transports): only audio had an input path; a frame pushed directly
    // went ahead of audio still being converted.
    const s = setup();
    await s.whenStarted();
    const order: string[] = [];
    const pushes: Array<Promise<void>> = [];
    for (let i = 0; i < 5; i++) {
      // 48 kHz: the first chunk waits for the resampler to be created.
      pushes.push(s.input.pushAudio(sine(440, 48_000, 0.02, 1_000 * (i + 1)), 48_000));
      pushes.push(s.input.pushInput(new InputTransportMessageFrame({ after: i })));
      pushes.push(s.input.pushInput(new TranscriptionFrame(`after ${i}`, "user", 0)));
    }
    await Promise.all(pushes);
    for (const f of s.down.frames) {
      if (f instanceof InputAudioRawFrame) order.push("audio");
      else if (f instanceof InputTransportMessageFrame) order.push("message");
      else if (f instanceof TranscriptionFrame) order.push("transcription");
    }
    expect(order).toEqual(Array.from({ length: 5 }, () => ["audio", "message", "transcription"]).flat());
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("refuses lifecycle frames, and drops and counts frames offered before the start or after the end", async () => {
    const transport = new MemoryTransport({ params: { audioInEnabled: true } });
    const input = transport.input();
    expect(() => input.pushInput(new EndFrame())).toThrow(/lifecycle frame.*EndTaskFrame/);
    expect(() => input.pushInput(new CancelFrame())).toThrow(InvalidOptionError);
    await input.pushInput(new InputTransportMessageFrame("too early"));
    expect(input.droppedInputFrames).toBe(1);
    const down = new FrameRecorder();
    const s = startTask([input, down]);
    await s.whenStarted();
    await input.pushInput(new InputTransportMessageFrame("on time"));
    await s.clock.runUntil(s.task.stopWhenDone());
    await input.pushInput(new InputTransportMessageFrame("too late"));
    expect(input.droppedInputFrames).toBe(2);
    expect(down.ofType(InputTransportMessageFrame).map((f) => f.message)).toEqual(["on time"]);
  });
});

describe("BaseInputTransport: open and close verbs", () => {
  it("calls open once at the start and close once at the end, with no super calls in the subclass", async () => {
    const input = new VerbTransport();
    const s = startTask([input]);
    await s.whenStarted();
    expect(input.calls).toEqual(["open"]);
    expect(input.openSignal?.aborted).toBe(false);
    await s.clock.runUntil(s.task.stopWhenDone());
    await s.done;
    expect(input.calls).toEqual(["open", "close"]);
    expect(s.clock.pendingTimers).toBe(0);
  });

  it("calls close once on cancel, and aborts open's signal", async () => {
    const input = new VerbTransport();
    const s = startTask([input]);
    await s.whenStarted();
    await s.clock.runUntil(s.task.cancel("test"));
    await s.done;
    expect(input.calls).toEqual(["open", "close"]);
    expect(input.openSignal?.aborted).toBe(true);
  });

  it("turns a failing open into one fatal error naming the transport, closes, and the task ends", async () => {
    const input = new VerbTransport(() => {
      throw new Error("connection refused");
    });
    const down = new FrameRecorder();
    const s = startTask([input, down]);
    await s.clock.runUntil(s.done, { maxMs: 60_000 });
    expect(s.errors).toHaveLength(1);
    expect(s.errors[0]!.fatal).toBe(true);
    expect(s.errors[0]!.error).toBeInstanceOf(TransportOpenError);
    expect(s.errors[0]!.error.message).toBe("verbs could not open its input: connection refused");
    expect(input.calls).toEqual(["open", "close"]);
    expect(input.running).toBe(false);
  });

  it("gives up on an open that never finishes after openTimeoutMs, with a fatal error that says so", async () => {
    const input = new VerbTransport(() => new Promise<void>(() => {}), {}, { openTimeoutMs: 3_000 });
    const s = startTask([input]);
    await s.clock.runUntil(() => s.errors.length > 0, { maxMs: 60_000 });
    expect(s.clock.now()).toBe(3_000);
    expect(s.errors[0]!.fatal).toBe(true);
    expect(s.errors[0]!.error.message).toMatch(
      /verbs could not open its input: open\(\) did not finish within openTimeoutMs \(3000 ms\)/,
    );
    expect(input.openSignal?.aborted).toBe(true);
    await s.clock.runUntil(s.done, { maxMs: 60_000 });
    expect(input.calls).toEqual(["open", "close"]);
    expect(() => new VerbTransport(undefined, {}, { openTimeoutMs: 0 })).toThrow(
      /openTimeoutMs must be a number of ms > 0/,
    );
  });
});

describe("BaseInputTransport: start failures and cancel during the start", () => {
  it("never opens a transport cancelled while its audio was being prepared (nothing left open)", async () => {
    let filterStarted: () => void = () => {};
    const slowFilter = new RecordingFilter(1);
    slowFilter.start = () => new Promise<void>((resolve) => (filterStarted = resolve));
    const input = new VerbTransport(undefined, { audioInFilter: slowFilter });
    const s = startTask([input]);
    await new Promise((resolve) => setImmediate(resolve)); // the start now waits for the filter
    const cancelled = s.task.cancel("client left during the start");
    filterStarted();
    await s.clock.runUntil(cancelled);
    await s.done;
    await new Promise((resolve) => setImmediate(resolve));
    expect(input.calls).toEqual([]); // open() was never called, so close() is not owed
    expect(input.running).toBe(false);
  });

  it("refuses audio that can never be converted when the transport is built, naming the setting", () => {
    // Earlier this was a fatal error at the start; the params are now checked where they are given.
    expect(() => new VerbTransport(undefined, { audioInSampleRate: 500 })).toThrow(/audioInSampleRate .*500/);
  });
});

describe("BaseInputTransport: repeated problems are said once, then counted", () => {
  it("reports audio at a rate it cannot convert once per rate, however many frames come", async () => {
    // Regression (issue 6, log floods): each bad frame sent upstream became its own ErrorFrame.
    const { logger, lines } = memoryLogger();
    const transport = new MemoryTransport({ params: { audioInEnabled: true } });
    const input = transport.input();
    const down = new FrameRecorder();
    const s = startTask([input, down], { logger });
    await s.whenStarted();
    for (let i = 0; i < 200; i++) {
      s.task.queueFrame(new InputAudioRawFrame(new Int16Array(16), 800, 1), FrameDirection.UPSTREAM);
      s.task.queueFrame(new InputAudioRawFrame(new Int16Array(18), 900, 1), FrameDirection.UPSTREAM);
    }
    await s.clock.advance(100);
    expect(s.errors.map((e) => e.error.message)).toEqual([
      expect.stringMatching(/at 800 Hz cannot be resampled .* and is dropped/),
      expect.stringMatching(/at 900 Hz cannot be resampled/),
    ]);
    expect(input.droppedAudioChunks).toBe(400);
    await s.clock.runUntil(s.task.stopWhenDone());
    // At the end, one summary per rate counts the repeats.
    const summaries = lines.filter((l) => /more times/.test(l.message));
    expect(summaries.map((l) => l.fields?.repeats)).toEqual([199, 199]);
  });

  it("says once that audio pushed after the end is dropped, and counts the rest", async () => {
    const { logger, lines } = memoryLogger();
    const transport = new MemoryTransport({ params: { audioInEnabled: true } });
    const s = startTask([transport.input()], { logger });
    await s.whenStarted();
    await s.clock.runUntil(s.task.stopWhenDone());
    for (let i = 0; i < 300; i++) await transport.input().pushAudio(new Int16Array(320));
    expect(transport.input().droppedAudioChunks).toBe(300);
    const said = lines.filter((l) => l.message.includes("after the input ended"));
    expect(said).toHaveLength(1);
    expect(said[0]!.level).toBe("warn");
  });
});

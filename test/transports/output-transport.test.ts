import { describe, expect, it } from "vitest";
import {
  BotSpeakingFrame,
  BotStartedSpeakingFrame,
  BotStoppedSpeakingFrame,
  EndFrame,
  type Frame,
  InterruptionFrame,
  type MemoryTransportOptions,
  MixerEnableFrame,
  OutputAudioRawFrame,
  OutputTransportMessageFrame,
  TTSAudioRawFrame,
  TTSStoppedFrame,
  TextFrame,
  type TransportParams,
} from "../../src/index.js";
import { constant } from "../support/audio.js";
import { CountingMixer } from "../support/mixers.js";
import { startOutput } from "../support/task.js";

const RATE = 24_000;
const CHUNK = 960; // 40 ms at 24 kHz

function setup(params: Partial<TransportParams> = {}, options: Omit<MemoryTransportOptions, "params"> = {}) {
  return startOutput(RATE, params, options);
}

describe("BaseOutputTransport pacing", () => {
  it("writes one 40 ms chunk per tick, anchored to the clock, and pushes the played audio on", async () => {
    const s = setup();
    await s.whenStarted();
    const t0 = s.clock.now();
    s.task.queueFrame(new TTSAudioRawFrame(constant(1_000, RATE), RATE));
    await s.clock.advance(2_000);
    expect(s.output.written).toHaveLength(25);
    expect(s.output.written.every((w) => w.frame.audio.length === CHUNK)).toBe(true);
    expect(s.output.written.map((w) => w.atMs - t0)).toEqual(Array.from({ length: 25 }, (_, i) => i * 40));
    expect(s.down.ofType(OutputAudioRawFrame)).toHaveLength(25);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("writes nothing while nothing is queued and there is no mixer", async () => {
    const s = setup();
    await s.whenStarted();
    await s.clock.advance(10_000);
    expect(s.output.writeCalls).toBe(0);
    await s.clock.runUntil(s.task.cancel());
  });

  it("with a mixer and nothing queued, writes exactly one chunk of mixed silence per tick", async () => {
    const mixer = new CountingMixer(() => s.clock);
    const s = setup({ audioOutMixer: mixer });
    await s.whenStarted();
    await s.clock.advance(10_000);
    const n = s.output.writeCalls;
    expect(n).toBeGreaterThanOrEqual(250);
    expect(n).toBeLessThanOrEqual(251);
    expect(mixer.calls.length).toBe(n);
    expect(s.output.written.at(-1)!.frame.audio[0]).toBe(100); // silence + the mixer's level
    expect(s.down.ofType(OutputAudioRawFrame)).toHaveLength(0); // mixer-only audio is not bot audio
    expect(s.up.ofType(BotStartedSpeakingFrame)).toHaveLength(0);
    await s.clock.runUntil(s.task.cancel());
    expect(mixer.stopped).toBe(1);
  });

  it("resamples audio to the output rate and cuts it into whole chunks", async () => {
    const s = setup();
    await s.whenStarted();
    s.task.queueFrame(new TTSAudioRawFrame(constant(400, 16_000, 3000), 16_000));
    s.task.queueFrame(new TTSStoppedFrame());
    await s.clock.advance(1_000);
    const chunks = s.output.written.map((w) => w.frame);
    expect(chunks.every((f) => f.sampleRate === RATE && f.audio.length === CHUNK)).toBe(true);
    expect(chunks.length).toBeGreaterThanOrEqual(10);
    expect(chunks.length).toBeLessThanOrEqual(11);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("flushes a turn's partial chunk, padded with silence, on TTSStoppedFrame", async () => {
    const s = setup();
    await s.whenStarted();
    s.task.queueFrame(new TTSAudioRawFrame(constant(50, RATE), RATE)); // 1.25 chunks
    s.task.queueFrame(new TTSStoppedFrame());
    await s.clock.advance(500);
    expect(s.output.written).toHaveLength(2);
    const last = s.output.written[1]!.frame.audio;
    expect(last[0]).toBe(1000);
    expect(last[239]).toBe(1000);
    expect(last[240]).toBe(0);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("keeps frames queued behind audio in step with it", async () => {
    const s = setup();
    await s.whenStarted();
    s.task.queueFrame(new TTSAudioRawFrame(constant(200, RATE), RATE));
    s.task.queueFrame(new TextFrame("after the audio"));
    s.task.queueFrame(new OutputTransportMessageFrame({ hello: "client" }));
    await s.clock.advance(1_000);
    const order = s.down.frames.filter((f) => f instanceof OutputAudioRawFrame || f instanceof TextFrame);
    expect(order.map((f) => f.constructor.name)).toEqual([...Array(5).fill("TTSAudioRawFrame"), "TextFrame"]);
    expect(s.output.messages).toEqual([{ message: { hello: "client" }, urgent: false }]);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("holds frames with a pts until their time on the clock", async () => {
    const s = setup();
    await s.whenStarted();
    const later = new TextFrame("at 500");
    later.pts = s.clock.now() + 500;
    const sooner = new TextFrame("at 200");
    sooner.pts = s.clock.now() + 200;
    s.task.queueFrames([later, sooner]);
    await s.clock.advance(199);
    expect(s.down.ofType(TextFrame)).toEqual([]);
    await s.clock.advance(1);
    expect(s.down.ofType(TextFrame).map((f) => f.text)).toEqual(["at 200"]);
    await s.clock.advance(300);
    expect(s.down.ofType(TextFrame).map((f) => f.text)).toEqual(["at 200", "at 500"]);
    await s.clock.runUntil(s.task.stopWhenDone());
  });
});

describe("BaseOutputTransport bot speaking", () => {
  it("reports start on the first chunk, speaking at most every 200 ms, stop on TTSStoppedFrame", async () => {
    const s = setup();
    await s.whenStarted();
    s.task.queueFrame(new TTSAudioRawFrame(constant(1_000, RATE), RATE));
    s.task.queueFrame(new TTSStoppedFrame());
    await s.clock.advance(1_500);
    const names = (frames: Frame[]) =>
      frames
        .filter((f) => f instanceof BotStartedSpeakingFrame || f instanceof BotStoppedSpeakingFrame)
        .map((f) => f.constructor.name);
    for (const side of [s.up.frames, s.down.frames]) {
      expect(names(side)).toEqual(["BotStartedSpeakingFrame", "BotStoppedSpeakingFrame"]);
      const speaking = side.filter((f) => f instanceof BotSpeakingFrame).length;
      expect(speaking).toBeGreaterThanOrEqual(4);
      expect(speaking).toBeLessThanOrEqual(6);
    }
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("falls back to stopped after botSpeakingFallbackMs without bot audio", async () => {
    const s = setup({ botSpeakingFallbackMs: 1_000 });
    await s.whenStarted();
    s.task.queueFrame(new TTSAudioRawFrame(constant(200, RATE), RATE));
    await s.clock.advance(1_100);
    expect(s.up.ofType(BotStoppedSpeakingFrame)).toHaveLength(0);
    await s.clock.advance(200);
    expect(s.up.ofType(BotStoppedSpeakingFrame)).toHaveLength(1);
    await s.clock.runUntil(s.task.stopWhenDone());
  });
});

describe("BaseOutputTransport interruption and end", () => {
  it("drops queued audio at once on interruption and the mixer plays on without a gap", async () => {
    const mixer = new CountingMixer(() => s.clock);
    const s = setup({ audioOutMixer: mixer });
    await s.whenStarted();
    s.task.queueFrame(new TTSAudioRawFrame(constant(3_000, RATE), RATE));
    await s.clock.advance(1_000);
    const before = s.output.written.length;
    s.task.queueFrame(new InterruptionFrame());
    await s.clock.advance(1_000);
    const afterInterrupt = s.output.written.slice(before);
    const stale = afterInterrupt.filter((w) => w.frame.audio[0] === 1000 + 100).length;
    expect(stale).toBeLessThanOrEqual(1);
    const times = s.output.written.map((w) => w.atMs);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(40);
    expect(s.up.ofType(BotStoppedSpeakingFrame)).toHaveLength(1);
    await s.clock.runUntil(s.task.cancel());
  });

  it("on EndFrame plays what is queued, then the end silence, stops the mixer, then passes the frame on", async () => {
    const mixer = new CountingMixer(() => s.clock);
    const s = setup({ audioOutMixer: mixer, audioOutEndSilenceMs: 400 });
    await s.whenStarted();
    s.task.queueFrame(new TTSAudioRawFrame(constant(400, RATE), RATE));
    const t0 = s.clock.now();
    await s.clock.runUntil(s.task.stopWhenDone());
    const levels = s.output.written.map((w) => w.frame.audio[0]);
    const firstAudio = levels.indexOf(1100);
    const tail = levels.slice(firstAudio);
    expect(tail).toEqual([...Array(10).fill(1100), ...Array(10).fill(100)]); // the audio, then 400 ms of end silence
    expect(mixer.stopped).toBe(1);
    const endAt = s.clock.now() - t0;
    expect(endAt).toBeGreaterThanOrEqual(760);
    expect(endAt).toBeLessThanOrEqual(840);
    expect(s.down.frames.at(-1)).toBeInstanceOf(EndFrame);
    expect(s.clock.pendingTimers).toBe(0);
  });

  it("stops at once on cancel, whatever is queued", async () => {
    const mixer = new CountingMixer(() => s.clock);
    const s = setup({ audioOutMixer: mixer });
    await s.whenStarted();
    s.task.queueFrame(new TTSAudioRawFrame(constant(5_000, RATE), RATE));
    await s.clock.advance(100);
    const t0 = s.clock.now();
    await s.clock.runUntil(s.task.cancel());
    expect(s.clock.now() - t0).toBeLessThanOrEqual(40);
    const writes = s.output.writeCalls;
    await s.clock.advance(1_000);
    expect(s.output.writeCalls).toBe(writes);
    expect(mixer.stopped).toBe(1);
  });

  it("holds a fast producer back once audioOutMaxQueuedMs is queued", async () => {
    const s = setup({ audioOutMaxQueuedMs: 1_000 });
    await s.whenStarted();
    for (let i = 0; i < 10; i++) s.task.queueFrame(new TTSAudioRawFrame(constant(500, RATE), RATE));
    await s.clock.advance(40);
    expect(s.output.sender()!.queuedMs).toBeLessThanOrEqual(1_500);
    await s.clock.advance(6_000);
    expect(s.output.written.length).toBe(125); // nothing lost: 5 s of audio in 40 ms chunks
    await s.clock.runUntil(s.task.stopWhenDone());
  });
});

describe("BaseOutputTransport sinks that misbehave", () => {
  it("stops producing for good when a write returns false", async () => {
    const mixer = new CountingMixer(() => s.clock);
    let accept = true;
    const s = setup({ audioOutMixer: mixer }, { sink: () => accept });
    await s.whenStarted();
    await s.clock.advance(400);
    accept = false;
    await s.clock.advance(5_000);
    const calls = s.output.writeCalls;
    expect(calls).toBeLessThanOrEqual(12);
    expect(mixer.stopped).toBe(1);
    expect(s.output.sender()!.sinkClosed).toBe(true);
    // Text still flows; audio is dropped, never pushed downstream.
    s.task.queueFrame(new TTSAudioRawFrame(constant(1_000, RATE), RATE));
    s.task.queueFrame(new TextFrame("still here"));
    await s.clock.advance(500);
    expect(s.output.writeCalls).toBe(calls);
    expect(s.down.ofType(TextFrame).map((f) => f.text)).toEqual(["still here"]);
    expect(s.down.ofType(OutputAudioRawFrame)).toHaveLength(0);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("stays paced when writes throw, reports errors, and closes the sink after repeated failures", async () => {
    const mixer = new CountingMixer(() => s.clock);
    const s = setup(
      { audioOutMixer: mixer },
      {
        sink: () => {
          throw new Error("socket exploded");
        },
      },
    );
    await s.whenStarted();
    await s.clock.advance(5_000);
    expect(s.output.writeCalls).toBe(5);
    expect(mixer.calls.length).toBe(5);
    expect(s.errors.length).toBeGreaterThanOrEqual(5);
    expect(s.errors[0]!.error.message).toMatch(/socket exploded/);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("treats a write that never settles as a stalled sink", async () => {
    const s = setup({ audioOutWriteTimeoutMs: 500 }, { sink: () => new Promise<boolean>(() => {}) });
    await s.whenStarted();
    s.task.queueFrame(new TTSAudioRawFrame(constant(2_000, RATE), RATE));
    await s.clock.advance(3_000);
    expect(s.output.writeCalls).toBe(1);
    expect(s.output.sender()!.sinkClosed).toBe(true);
    expect(s.errors.map((e) => e.error.message).join()).toMatch(/did not accept audio within 500 ms/);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("reports an unknown destination once, saying how to add it", async () => {
    const s = setup();
    await s.whenStarted();
    for (let i = 0; i < 3; i++) {
      const f = new TTSAudioRawFrame(constant(40, RATE), RATE);
      f.transportDestination = "avatar";
      s.task.queueFrame(f);
    }
    await s.clock.advance(100);
    expect(s.errors).toHaveLength(1);
    expect(s.errors[0]!.error.message).toMatch(/no output destination "avatar".*audioOutDestinations/);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("sends audio for a named destination through its own sender", async () => {
    const s = setup({ audioOutDestinations: ["avatar"] });
    await s.whenStarted();
    const f = new TTSAudioRawFrame(constant(80, RATE), RATE);
    f.transportDestination = "avatar";
    s.task.queueFrame(f);
    s.task.queueFrame(new TTSAudioRawFrame(constant(40, RATE), RATE));
    await s.clock.advance(200);
    expect(s.output.written.map((w) => w.destination ?? "default").sort()).toEqual([
      "avatar",
      "avatar",
      "default",
    ]);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("turns the mixer off and on at run time", async () => {
    const mixer = new CountingMixer(() => s.clock);
    const s = setup({ audioOutMixer: mixer });
    await s.whenStarted();
    await s.clock.advance(400);
    s.task.queueFrame(new MixerEnableFrame(false));
    await s.clock.advance(41);
    const off = s.output.writeCalls;
    await s.clock.advance(1_000);
    expect(s.output.writeCalls).toBe(off); // inactive mixer, nothing queued: idle
    s.task.queueFrame(new MixerEnableFrame(true));
    await s.clock.advance(400);
    expect(s.output.writeCalls).toBeGreaterThanOrEqual(off + 10);
    await s.clock.runUntil(s.task.cancel());
  });
});

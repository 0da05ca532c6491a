import { describe, expect, it } from "vitest";
import {
  BaseOutputTransport,
  BotSpeakingFrame,
  BotStartedSpeakingFrame,
  BotStoppedSpeakingFrame,
  EndFrame,
  type FrameDirection,
  FrameProcessor,
  type Frame,
  InterruptionFrame,
  MemoryTransport,
  type MemoryTransportOptions,
  MixerEnableFrame,
  OutputAudioRawFrame,
  OutputTransportMessageFrame,
  TTSAudioRawFrame,
  TTSStoppedFrame,
  TTSTextFrame,
  TextFrame,
  type OutputCloseReason,
  type OutputOpenInfo,
  TransportDefinitionError,
  type TransportParams,
} from "../../src/index.js";
import { FrameRecorder } from "../../src/testing/index.js";
import { constant } from "../support/audio.js";
import { memoryLogger } from "../support/logger.js";
import { CountingMixer } from "../support/mixers.js";
import { startOutput, startTask } from "../support/task.js";

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

/** A TTS service's word: its pts as the service computes it (audio played as pushed), and its place in the audio. */
function word(text: string, contextId: string, audioOffsetMs: number, pts: number): TTSTextFrame {
  const frame = new TTSTextFrame(text);
  frame.contextId = contextId;
  frame.audioOffsetMs = audioOffsetMs;
  frame.pts = pts;
  return frame;
}

function speech(ms: number, contextId: string): TTSAudioRawFrame {
  const frame = new TTSAudioRawFrame(constant(ms, RATE), RATE);
  frame.contextId = contextId;
  return frame;
}

/** For each word delivered downstream: how many chunks of bot audio had been played before it. */
function playedBeforeEachWord(frames: readonly Frame[]): Record<string, number> {
  const out: Record<string, number> = {};
  let played = 0;
  for (const f of frames) {
    if (f instanceof OutputAudioRawFrame) played++;
    else if (f instanceof TTSTextFrame) out[f.text] = played;
  }
  return out;
}

describe("BaseOutputTransport word timing", () => {
  it("releases a spoken word when the chunk its audio falls in is written, however much audio was queued ahead", async () => {
    const s = setup();
    await s.whenStarted();
    const now = s.clock.now();
    // The first answer (1 s, 25 chunks) is still queued when the second one's words arrive,
    // their pts saying "now": the service synthesised faster than real time.
    s.task.queueFrames([speech(1_000, "first"), speech(1_000, "second")]);
    s.task.queueFrames([word("hello", "second", 0, now), word("there", "second", 520, now + 520)]);
    await s.clock.advance(3_000);
    expect(playedBeforeEachWord(s.down.frames)).toEqual({ hello: 25, there: 25 + 13 });
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("a word whose audio has already played goes at once; one of an unknown response keeps its pts", async () => {
    const s = setup();
    await s.whenStarted();
    const now = s.clock.now();
    s.task.queueFrame(speech(200, "a"));
    await s.clock.advance(1_000);
    s.task.queueFrames([
      word("late", "a", 40, now + 40),
      word("stranger", "unknown", 0, s.clock.now() + 300),
    ]);
    await s.clock.advance(299);
    expect(s.down.ofType(TTSTextFrame).map((f) => f.text)).toEqual(["late"]);
    await s.clock.advance(1);
    expect(s.down.ofType(TTSTextFrame).map((f) => f.text)).toEqual(["late", "stranger"]);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("an interruption drops the words waiting for audio that will not play", async () => {
    const s = setup();
    await s.whenStarted();
    const now = s.clock.now();
    s.task.queueFrames([
      speech(2_000, "a"),
      word("first", "a", 0, now),
      word("never", "a", 1_500, now + 1_500),
    ]);
    await s.clock.advance(400);
    s.task.queueFrame(new InterruptionFrame());
    await s.clock.advance(3_000);
    expect(s.down.ofType(TTSTextFrame).map((f) => f.text)).toEqual(["first"]);
    // Audio of the same response after the interruption starts a new placement, not the old one.
    s.task.queueFrames([speech(400, "b"), word("again", "b", 200, s.clock.now())]);
    await s.clock.advance(1_000);
    expect(s.down.ofType(TTSTextFrame).map((f) => f.text)).toEqual(["first", "again"]);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("a sink that closes while a word goes out: the chunk the word started is counted as dropped, not lost from the count", async () => {
    const transport = new MemoryTransport({ params: { audioOutEnabled: true, audioOutSampleRate: RATE } });
    const output = transport.output();
    // Whoever reads the word closes the sink (the client left just then).
    const closer = new (class extends FrameProcessor {
      override processFrame(frame: Frame, direction: FrameDirection): void | Promise<void> {
        if (frame instanceof TTSTextFrame) transport.closeSink("client left");
        return super.processFrame(frame, direction);
      }
    })({ direct: true });
    const s = startTask([output, closer]);
    await s.whenStarted();
    s.task.queueFrames([speech(400, "a"), word("now", "a", 200, s.clock.now())]);
    await s.clock.advance(1_000);
    const sender = output.sender()!;
    // 10 chunks: 5 written before the word, the 6th taken for it and never written, 4 dropped at the close.
    expect(output.writeCalls).toBe(5);
    expect(sender.chunksWritten + sender.chunksDropped).toBe(10);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("at the end, words still waiting go out before the task ends", async () => {
    const s = setup();
    await s.whenStarted();
    const now = s.clock.now();
    s.task.queueFrames([speech(200, "a"), word("beyond the audio", "a", 5_000, now + 5_000)]);
    await s.clock.runUntil(s.task.stopWhenDone());
    expect(s.down.ofType(TTSTextFrame).map((f) => f.text)).toEqual(["beyond the audio"]);
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

  it("stays paced when writes throw, reports the error once, and closes the sink after repeated failures", async () => {
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
    // Said once (then counted), not once per chunk; the sink closed after 5 throws in a row.
    expect(s.errors.filter((e) => /socket exploded/.test(e.error.message))).toHaveLength(1);
    expect(s.output.sender()!.sinkClosed).toBe(true);
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
    // The client is gone for the whole transport: the shared connection closes too, so a network
    // transport ends the session instead of running on, silent, for a client that still sends.
    expect(s.transport.connection.closed).toBe(true);
    expect(s.transport.connection.closeReason).toMatch(/stopped taking output \(write stalled\)/);
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

describe("BaseOutputTransport: cancel while it is still starting", () => {
  it("leaves no sender running when cancel comes while a mixer's async start is under way", async () => {
    const mixer = new CountingMixer(() => s.clock);
    let startSettled = false;
    // The mixer's start takes real time (like reading its sound files).
    mixer.start = () =>
      new Promise<void>((resolve) =>
        setTimeout(() => {
          mixer.started++;
          startSettled = true;
          resolve();
        }, 30),
      );
    const s = setup({ audioOutMixer: mixer });
    // A few event-loop turns: StartFrame reaches the output and the mixer starts (30 ms of real time).
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(s.isStarted()).toBe(false);
    await s.clock.runUntil(s.task.cancel());
    await s.done;
    while (!startSettled) await new Promise((r) => setTimeout(r, 5));
    await s.clock.settle();
    await s.clock.advance(5_000);
    expect(s.output.writeCalls).toBe(0);
    expect(mixer.calls).toEqual([]);
    expect(mixer.active).toBe(false); // stopped again once its late start settled
    expect(s.output.sender()).toBeUndefined();
    expect(s.clock.pendingTimers).toBe(0);
  });

  it("leaves nothing running when cancel comes while open() is under way, and closes once", async () => {
    const s = startScripted({ audioOutMixer: undefined }, { openHangs: true });
    await s.clock.settle();
    expect(s.output.calls).toEqual(["open"]);
    await s.clock.runUntil(s.task.cancel());
    await s.done;
    s.output.finishOpen();
    await s.clock.advance(5_000);
    expect(s.output.openSignal!.aborted).toBe(true);
    expect(s.output.calls).toEqual(["open", "close(cancel)"]);
    expect(s.output.sender()).toBeUndefined();
    expect(s.clock.pendingTimers).toBe(0);
  });
});

describe("BaseOutputTransport: timed frames take the same route as the others", () => {
  it("writes a timed transport message to the client at its time (it used to be pushed downstream)", async () => {
    const s = setup();
    await s.whenStarted();
    const message = new OutputTransportMessageFrame({ word: "hello" });
    message.pts = s.clock.now() + 300;
    s.task.queueFrame(message);
    await s.clock.advance(299);
    expect(s.output.messages).toEqual([]);
    await s.clock.advance(1);
    expect(s.output.messages).toEqual([{ message: { word: "hello" }, urgent: false }]);
    expect(s.down.ofType(OutputTransportMessageFrame)).toEqual([]);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("sends frames whose pts is not a number in order, says so once, and time keeps moving", async () => {
    const s = setup();
    await s.whenStarted();
    for (const pts of [Number.NaN, Number.POSITIVE_INFINITY, Number.NaN]) {
      const f = new TextFrame(`pts ${pts}`);
      f.pts = pts;
      s.task.queueFrame(f);
    }
    await s.clock.advance(100);
    expect(s.down.ofType(TextFrame).map((f) => f.text)).toEqual(["pts NaN", "pts Infinity", "pts NaN"]);
    const reports = s.errors.filter((e) => /has pts .*which is not a time/.test(e.error.message));
    expect(reports).toHaveLength(1);
    expect(Number.isFinite(s.clock.now())).toBe(true);
    await s.clock.runUntil(s.task.stopWhenDone());
    expect(s.clock.now()).toBeLessThan(3_000);
  }, 10_000);

  it("says each repeated problem once upstream, counts the repeats and logs them at the end", async () => {
    const { logger, lines } = memoryLogger();
    const transport = new MemoryTransport({ params: { audioOutEnabled: true, audioOutSampleRate: RATE } });
    const s = startTask([transport.output()], { logger });
    await s.whenStarted();
    for (let i = 0; i < 50; i++) {
      s.task.queueFrame(new TTSAudioRawFrame(constant(40, RATE), RATE, 2)); // stereo into mono: the sender's check
      const f = new TextFrame("no time");
      f.pts = Number.NaN; // the transport's own check
      s.task.queueFrame(f);
    }
    await s.clock.advance(100);
    const said = s.errors.map((e) => e.error.message);
    expect(said).toHaveLength(2);
    expect(said).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/audio has 2 channel\(s\) but the output plays 1/),
        expect.stringMatching(/has pts NaN, which is not a time/),
      ]),
    );
    expect(lines.filter((l) => /more times/.test(l.message))).toEqual([]); // counted, not said per frame
    await s.clock.runUntil(s.task.stopWhenDone());
    const summaries = lines.filter((l) => /more times/.test(l.message));
    expect(summaries.map((l) => [l.level, l.fields?.repeats])).toEqual([
      ["warn", 49],
      ["warn", 49],
    ]);
    expect(summaries.map((l) => l.message).join("\n")).toMatch(/49 more times .*2 channel\(s\)/);
    expect(summaries.map((l) => l.message).join("\n")).toMatch(/49 more times .*has pts NaN/);
  });

  it("delivers timed frames still waiting at the end, before the EndFrame", async () => {
    const s = setup({ audioOutEndSilenceMs: 0 });
    await s.whenStarted();
    const late = new TextFrame("far future");
    late.pts = s.clock.now() + 60_000;
    s.task.queueFrame(late);
    await s.clock.runUntil(s.task.stopWhenDone());
    expect(
      s.down.frames.filter((f) => f instanceof TextFrame || f instanceof EndFrame).map((f) => f.name),
    ).toEqual([late.name, expect.stringMatching(/^EndFrame/)]);
    expect(s.clock.now()).toBeLessThan(1_000);
  });
});

describe("BaseOutputTransport: the verbs a transport implements", () => {
  it("opens once before writing, writes frames in order with the audio, and closes once at the end", async () => {
    const s = startScripted();
    await s.whenStarted();
    expect(s.output.openInfo?.format).toMatchObject({ sampleRate: RATE, chunkSamples: CHUNK, chunkMs: 40 });
    s.task.queueFrame(new TTSAudioRawFrame(constant(80, RATE), RATE));
    s.task.queueFrame(new TextFrame("after"));
    s.task.queueFrame(new OutputTransportMessageFrame("m"));
    await s.clock.runUntil(s.task.stopWhenDone());
    expect(s.output.calls).toEqual([
      "open",
      "audio",
      "audio",
      "frame TextFrame",
      "frame OutputTransportMessageFrame",
      ...Array(50).fill("audio"), // 2 s of end silence
      "close(end)",
    ]);
    expect(s.down.ofType(TextFrame)).toHaveLength(1); // written to the client and pushed on
  });

  it("tells the client to clear its buffer on interruption, after the chunk being written", async () => {
    const s = startScripted();
    await s.whenStarted();
    s.task.queueFrame(new TTSAudioRawFrame(constant(1_000, RATE), RATE));
    await s.clock.advance(100);
    s.task.queueFrame(new InterruptionFrame());
    await s.clock.advance(100);
    const i = s.output.calls.indexOf("clear(default)");
    expect(i).toBeGreaterThan(0);
    expect(s.output.calls.slice(i + 1)).toEqual([]);
    expect(s.output.calls.filter((c) => c === "audio")).toHaveLength(3);
    await s.clock.runUntil(s.task.cancel());
    expect(s.output.calls.at(-1)).toBe("close(cancel)");
  });

  it("reports a failing open() as fatal, with the transport's name, and still closes", async () => {
    const s = startScripted({}, { openFails: true });
    await s.clock.runUntil(s.done);
    expect(s.errors[0]!.fatal).toBe(true);
    expect(s.errors[0]!.error.message).toMatch(/scripted-output could not open its sink: no such device/);
    expect(s.output.calls).toEqual(["open", "close(cancel)"]);
  });

  it("gives up on an open() that never settles after openTimeoutMs", async () => {
    const s = startScripted({ openTimeoutMs: 3_000 }, { openHangs: true });
    await s.clock.runUntil(s.done);
    expect(s.clock.now()).toBeGreaterThanOrEqual(3_000);
    expect(s.errors[0]!.error.message).toMatch(/open\(\) did not settle within 3000 ms/);
  });

  it("refuses a subclass that overrides a lifecycle hook (forgetting super used to make it a pass-through)", () => {
    class Forgetful extends ScriptedOutput {
      protected override async start(): Promise<void> {}
    }
    expect(() => new Forgetful({})).toThrow(TransportDefinitionError);
    expect(() => new Forgetful({})).toThrow(
      /Forgetful overrides start\(\).*Implement the verbs instead: open\(\)/,
    );
  });
});

/** An output transport that records the verbs the base calls, in order. */
class ScriptedOutput extends BaseOutputTransport {
  readonly calls: string[] = [];
  openInfo: OutputOpenInfo | undefined;
  openSignal: AbortSignal | undefined;
  /** writeFrame() never settles from now on. */
  frameHangs = false;
  #finishOpen: (() => void) | undefined;

  constructor(
    params: Partial<TransportParams>,
    private readonly script: { openHangs?: boolean; openFails?: boolean } = {},
  ) {
    super({ audioOutEnabled: true, audioOutSampleRate: RATE, ...params }, { name: "scripted-output" });
  }

  finishOpen(): void {
    this.#finishOpen?.();
  }

  protected override open(info: OutputOpenInfo): Promise<void> | void {
    this.calls.push("open");
    this.openInfo = info;
    this.openSignal = info.signal;
    if (this.script.openFails) throw new Error("no such device");
    if (this.script.openHangs) {
      return new Promise<void>((resolve) => {
        this.#finishOpen = resolve;
      });
    }
  }

  protected override close(reason: OutputCloseReason): void {
    this.calls.push(`close(${reason})`);
  }

  protected override async writeAudio(): Promise<boolean> {
    this.calls.push("audio");
    return true;
  }

  protected override writeFrame(frame: Frame): Promise<void> | void {
    this.calls.push(`frame ${frame.constructor.name}`);
    if (this.frameHangs) return new Promise<void>(() => {});
  }

  protected override clearClientBuffer(destination: string | undefined): void {
    this.calls.push(`clear(${destination ?? "default"})`);
  }
}

function startScripted(
  params: Partial<TransportParams> = {},
  script: ConstructorParameters<typeof ScriptedOutput>[1] = {},
) {
  const output = new ScriptedOutput(params, script);
  const down = new FrameRecorder();
  return { ...startTask([output, down]), output, down };
}

describe("BaseOutputTransport: a client that stops taking frames", () => {
  it("a writeFrame that never settles stalls the output once, then frames go on without it", async () => {
    const s = startScripted({ audioOutWriteTimeoutMs: 500 });
    await s.whenStarted();
    s.output.frameHangs = true;
    s.task.queueFrames([new TextFrame("a"), new TextFrame("b"), new TextFrame("c")]);
    const t0 = s.clock.now();
    await s.clock.runUntil(() => s.down.ofType(TextFrame).length === 3);
    expect(s.clock.now() - t0).toBeLessThanOrEqual(500 + 1);
    expect(s.output.calls.filter((c) => c.startsWith("frame"))).toEqual(["frame TextFrame"]);
    expect(s.output.sinkClosed).toBe(true);
    expect(s.errors.map((e) => e.error.message)).toEqual([
      expect.stringMatching(/writeFrame failed: .*did not settle within 500 ms/),
    ]);
    await s.clock.runUntil(s.task.stopWhenDone());
  });
});

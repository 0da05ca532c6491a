import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeWavFile } from "../../src/audio/wav.js";
import {
  BotStartedSpeakingFrame,
  BotStoppedSpeakingFrame,
  type Frame,
  InputAudioRawFrame,
  InterruptionFrame,
  InvalidOptionError,
  MemoryTransport,
  OutputAudioRawFrame,
  Pipeline,
  PipelineTask,
  type PipelineParams,
  SoundfileMixer,
  TTSAudioRawFrame,
  TTSStoppedFrame,
  TextFrame,
  UserStartedSpeakingFrame,
  UserStoppedSpeakingFrame,
  silentLogger,
} from "../../src/index.js";
import {
  AudioBufferProcessor,
  type AudioBufferProcessorOptions,
  recordingToWav,
} from "../../src/processors/audio-buffer-processor.js";
import { FrameRecorder, Sleep, VirtualClock, runTest } from "../../src/testing/index.js";
import { readWav } from "../../src/audio/wav.js";
import { constant, tone } from "../support/audio.js";
import { settledHeap } from "../support/gc.js";
import { concat } from "../audio/signals.js";

const RATE = 24_000; // the pipeline's default output rate, so the default recording rate
const perMs = RATE / 1000;

interface Emitted {
  audio: Int16Array;
  sampleRate: number;
  numChannels: number;
}

/** Collects every event of a recorder. */
function listen(p: AudioBufferProcessor) {
  const data: Emitted[] = [];
  const tracks: Array<{ user: Int16Array; bot: Int16Array; sampleRate: number }> = [];
  const userTurns: Emitted[] = [];
  const botTurns: Emitted[] = [];
  p.on("audioData", (audio, sampleRate, numChannels) => void data.push({ audio, sampleRate, numChannels }));
  p.on("trackAudioData", (user, bot, sampleRate) => void tracks.push({ user, bot, sampleRate }));
  p.on(
    "userTurnAudio",
    (audio, sampleRate, numChannels) => void userTurns.push({ audio, sampleRate, numChannels }),
  );
  p.on(
    "botTurnAudio",
    (audio, sampleRate, numChannels) => void botTurns.push({ audio, sampleRate, numChannels }),
  );
  return {
    data,
    tracks,
    userTurns,
    botTurns,
    /** Every audioData payload, end to end. */
    all: () => concat(data.map((d) => d.audio)),
    user: () => concat(tracks.map((t) => t.user)),
    bot: () => concat(tracks.map((t) => t.bot)),
  };
}

function channel(audio: Int16Array, index: number, channels = 2): Int16Array {
  const out = new Int16Array(audio.length / channels);
  for (let i = 0; i < out.length; i++) out[i] = audio[i * channels + index]!;
  return out;
}

function firstNonZero(a: Int16Array): number {
  return a.findIndex((v) => v !== 0);
}

function lastNonZero(a: Int16Array): number {
  return a.findLastIndex((v) => v !== 0);
}

function countNonZero(a: Int16Array): number {
  let n = 0;
  for (const v of a) if (v !== 0) n++;
  return n;
}

/** A task running `processors` on a virtual clock, with a recorder of what comes out downstream. */
async function startTask(
  processors: ConstructorParameters<typeof Pipeline>[0],
  params: Partial<PipelineParams> = {},
) {
  const clock = new VirtualClock();
  const down = new FrameRecorder();
  const task = new PipelineTask(new Pipeline([...processors, down]), {
    clock,
    logger: silentLogger,
    idleTimeoutMs: null,
    params,
  });
  let started = false;
  task.on("pipelineStarted", () => {
    started = true;
  });
  const done = task.run();
  await clock.runUntil(() => started);
  return {
    clock,
    task,
    down,
    t0: clock.now(),
    /** Plays `durationMs` in steps of `stepMs`: queues `make(t)` (t relative to the start), then lets the step pass. */
    async play(durationMs: number, stepMs: number, make: (t: number) => Frame[]): Promise<void> {
      const from = clock.now();
      for (let t = 0; t < durationMs; t += stepMs) {
        for (const f of make(clock.now() - from)) task.queueFrame(f);
        await clock.advance(stepMs);
      }
    },
    end: async () => {
      await clock.runUntil(task.stopWhenDone());
      await clock.runUntil(done);
    },
    cancel: async () => {
      await clock.runUntil(task.cancel("test"));
      await clock.runUntil(done);
    },
  };
}

/** 20 ms user frames and 40 ms bot frames of constant values while `t` is in their windows. */
function talk(
  user: { from: number; to: number; value: number; rate?: number } | undefined,
  bot: { from: number; to: number; value: number; rate?: number } | undefined,
) {
  return (t: number): Frame[] => {
    const out: Frame[] = [];
    if (user && t >= user.from && t < user.to) {
      const rate = user.rate ?? RATE;
      out.push(new InputAudioRawFrame(constant(20, rate, user.value), rate));
    }
    if (bot && t >= bot.from && t < bot.to && (t - bot.from) % 40 === 0) {
      const rate = bot.rate ?? RATE;
      out.push(new OutputAudioRawFrame(constant(40, rate, bot.value), rate));
    }
    return out;
  };
}

describe("AudioBufferProcessor layout", () => {
  it("mono mixes user and bot sample by sample, clipping the sum", async () => {
    for (const [u, b] of [
      [1000, 2000],
      [30_000, 10_000],
      [-30_000, -10_000],
    ] as const) {
      const p = new AudioBufferProcessor({ numChannels: 1 });
      const ev = listen(p);
      const s = await startTask([p]);
      await s.play(1000, 20, talk({ from: 0, to: 1000, value: u }, { from: 0, to: 1000, value: b }));
      await s.end();
      const audio = ev.all();
      expect(ev.data.every((d) => d.sampleRate === RATE && d.numChannels === 1)).toBe(true);
      expect(audio.length).toBe(1000 * perMs);
      const expected = Math.max(-32768, Math.min(32767, u + b));
      expect(audio.every((v) => v === expected)).toBe(true);
    }
  });

  it("stereo puts the user on the left and the bot on the right, and trackAudioData carries the same tracks", async () => {
    const p = new AudioBufferProcessor({ numChannels: 2 });
    const ev = listen(p);
    const s = await startTask([p]);
    await s.play(1000, 20, talk({ from: 0, to: 1000, value: 1111 }, { from: 0, to: 1000, value: -2222 }));
    await s.end();
    const audio = ev.all();
    expect(ev.data.every((d) => d.numChannels === 2)).toBe(true);
    expect(audio.length).toBe(2 * 1000 * perMs);
    expect(channel(audio, 0).every((v) => v === 1111)).toBe(true);
    expect(channel(audio, 1).every((v) => v === -2222)).toBe(true);
    expect(ev.tracks).toHaveLength(ev.data.length);
    expect(ev.user()).toEqual(channel(audio, 0));
    expect(ev.bot()).toEqual(channel(audio, 1));
  });

  it("averages multi-channel input to mono on its track", async () => {
    const p = new AudioBufferProcessor({ numChannels: 2 });
    const ev = listen(p);
    const s = await startTask([p]);
    const stereo = new Int16Array(2 * 20 * perMs);
    for (let i = 0; i < stereo.length; i += 2) {
      stereo[i] = 1000;
      stereo[i + 1] = 3000;
    }
    await s.play(200, 20, () => [new InputAudioRawFrame(stereo.slice(), RATE, 2)]);
    await s.end();
    const user = ev.user();
    expect(user.length).toBe(200 * perMs);
    expect(user.every((v) => v === 2000)).toBe(true);
  });

  it("recordingToWav makes a WAV file of a recording", async () => {
    const p = new AudioBufferProcessor({ numChannels: 2 });
    const ev = listen(p);
    const s = await startTask([p]);
    await s.play(200, 20, talk({ from: 0, to: 200, value: 5 }, { from: 0, to: 200, value: 7 }));
    await s.end();
    const { audio, sampleRate, numChannels } = ev.data[0]!;
    const wav = readWav(recordingToWav(audio, sampleRate, numChannels));
    expect(wav.sampleRate).toBe(RATE);
    expect(wav.numChannels).toBe(2);
    expect(wav.audio).toEqual(audio);
  });

  it("rejects impossible options with a typed error", () => {
    const bad: AudioBufferProcessorOptions[] = [
      { numChannels: 3 as 1 },
      { sampleRate: 12.5 },
      { bufferSizeBytes: -1 },
      { bufferSizeBytes: 3, numChannels: 2 },
      { maxBufferMs: 0 },
      { jitterToleranceMs: Number.NaN },
    ];
    for (const options of bad) expect(() => new AudioBufferProcessor(options)).toThrow(InvalidOptionError);
  });
});

describe("AudioBufferProcessor alignment", () => {
  it("places a bot reply played 3 s after the user spoke 3 s later in the recording", async () => {
    const p = new AudioBufferProcessor({ numChannels: 2 });
    const ev = listen(p);
    const s = await startTask([p]);
    await s.play(4000, 20, talk({ from: 0, to: 1000, value: 1000 }, { from: 3000, to: 4000, value: 2000 }));
    await s.end();
    const audio = ev.all();
    const user = channel(audio, 0);
    const bot = channel(audio, 1);
    const chunk = 40 * perMs; // one output chunk of tolerance
    expect(Math.abs(audio.length / 2 - 4000 * perMs)).toBeLessThanOrEqual(chunk);
    expect(firstNonZero(user)).toBe(0);
    expect(Math.abs(lastNonZero(user) + 1 - 1000 * perMs)).toBeLessThanOrEqual(chunk);
    expect(Math.abs(firstNonZero(bot) - 3000 * perMs)).toBeLessThanOrEqual(chunk);
    expect(Math.abs(lastNonZero(bot) + 1 - 4000 * perMs)).toBeLessThanOrEqual(chunk);
    expect(countNonZero(bot)).toBe(1000 * perMs); // the bot's audio, whole, and nothing else
    expect(countNonZero(user)).toBe(1000 * perMs);
  });

  it("places bot audio that follows silence exactly at its clock time, even while the user streams", async () => {
    const p = new AudioBufferProcessor({ numChannels: 2, jitterToleranceMs: 50 });
    const ev = listen(p);
    const s = await startTask([p]);
    // The user's microphone streams all along; the bot starts at 3040 ms, off the padding grid.
    await s.play(4200, 20, talk({ from: 0, to: 4200, value: 10 }, { from: 3040, to: 4040, value: 2000 }));
    await s.end();
    const bot = channel(ev.all(), 1);
    expect(firstNonZero(ev.user())).toBe(0);
    const start = 3040 * perMs;
    expect(firstNonZero(bot)).toBe(start);
    expect(lastNonZero(bot) + 1).toBe(start + 1000 * perMs);
    expect(countNonZero(bot)).toBe(1000 * perMs);
  });

  it("inserts no silence into audio that arrives a little late, and re-aligns audio that falls far behind", async () => {
    const p = new AudioBufferProcessor({ numChannels: 2, jitterToleranceMs: 50 });
    const ev = listen(p);
    const s = await startTask([p]);
    const frame = () => new InputAudioRawFrame(constant(20, RATE, 300), RATE);
    for (let i = 0; i < 10; i++) {
      s.task.queueFrame(frame());
      await s.clock.advance(i === 4 ? 50 : 20); // frames 5… arrive 30 ms late: the track lags 10 ms
    }
    await s.clock.advance(200); // then the stream stalls for 200 ms
    s.task.queueFrame(frame());
    await s.clock.advance(20);
    await s.end();
    const user = ev.user();
    // The first ten frames are back to back (no gap for the 10 ms lag) …
    expect(user.subarray(0, 200 * perMs).every((v) => v === 300)).toBe(true);
    // … and the frame after the stall ends at its arrival time, 200 ms of silence before it.
    const arrival = 4 * 20 + 50 + 5 * 20 + 200; // ms after the start, when it was pushed (end of capture)
    expect(lastNonZero(user) + 1).toBe(arrival * perMs);
    expect(countNonZero(user)).toBe(11 * 20 * perMs);
  });
});

describe("AudioBufferProcessor buffering", () => {
  it("emits bufferSizeBytes pieces as they complete and holds no more than one buffer", async () => {
    const bufferSizeBytes = 500 * perMs * 2; // 0.5 s of mono PCM16
    const p = new AudioBufferProcessor({ bufferSizeBytes });
    const ev = listen(p);
    const s = await startTask([p]);
    let maxBuffered = 0;
    await s.play(2250, 20, (t) => {
      maxBuffered = Math.max(maxBuffered, p.bufferedMs);
      return talk({ from: 0, to: 2250, value: 100 }, { from: 0, to: 2250, value: 200 })(t);
    });
    const duringPlay = ev.data.length;
    expect(duringPlay).toBe(Math.floor(2250 / 500));
    expect(ev.data.every((d) => d.audio.byteLength === bufferSizeBytes)).toBe(true);
    expect(maxBuffered).toBeLessThan(500 + 40); // one buffer, plus at most the bot chunk in flight
    await s.end();
    expect(ev.data).toHaveLength(duringPlay + 1); // the rest, flushed on EndFrame
    const audio = ev.all();
    expect(audio.length).toBe(2280 * perMs); // 2.25 s of user audio, the last bot chunk ends at 2.28 s
    expect(audio.subarray(0, 2250 * perMs).every((v) => v === 300)).toBe(true);
  });

  it("rounds bufferSizeBytes down to whole stereo frames", async () => {
    const p = new AudioBufferProcessor({ numChannels: 2, bufferSizeBytes: 4 * 1000 + 3 });
    const ev = listen(p);
    const s = await startTask([p]);
    await s.play(200, 20, talk({ from: 0, to: 200, value: 1 }, { from: 0, to: 200, value: 2 }));
    expect(ev.data.length).toBeGreaterThan(0);
    expect(ev.data.every((d) => d.audio.length === 2 * 1000)).toBe(true);
    await s.cancel();
  });

  it("caps every buffer at maxBufferMs even with bufferSizeBytes 0: emits and starts over", async () => {
    const p = new AudioBufferProcessor({ maxBufferMs: 1000, enableTurnAudio: true, turnPrerollMs: 0 });
    const ev = listen(p);
    const s = await startTask([p]);
    s.task.queueFrame(new UserStartedSpeakingFrame());
    let maxBuffered = 0;
    await s.play(2500, 20, (t) => {
      maxBuffered = Math.max(maxBuffered, p.bufferedMs);
      return talk({ from: 0, to: 2500, value: 7 }, { from: 0, to: 2500, value: 8 })(t);
    });
    expect(ev.data.map((d) => d.audio.length)).toEqual([1000 * perMs, 1000 * perMs]);
    expect(maxBuffered).toBeLessThanOrEqual(1000 + 40); // the cap, plus at most the bot chunk in flight
    // The user's turn (never stopped) is cut at the cap too.
    expect(ev.userTurns.map((d) => d.audio.length)).toEqual([1000 * perMs, 1000 * perMs]);
    await s.end();
    expect(ev.data).toHaveLength(3);
    expect(ev.all().length).toBe(2520 * perMs); // nothing lost: the last bot chunk ends at 2.52 s
    expect(ev.userTurns).toHaveLength(3); // the turn in progress is emitted at the end
    expect(ev.userTurns[2]!.audio.length).toBe(500 * perMs);
  });

  it("keeps 30 simulated minutes of user and bot audio in flat memory with bufferSizeBytes set", async () => {
    const bufferSizeBytes = 1000 * perMs * 2; // 1 s
    const p = new AudioBufferProcessor({ bufferSizeBytes });
    let emittedBytes = 0;
    p.on("audioData", (audio) => {
      emittedBytes += audio.byteLength;
    });
    const clock = new VirtualClock();
    const task = new PipelineTask(new Pipeline([p]), { clock, logger: silentLogger, idleTimeoutMs: null });
    let started = false;
    task.on("pipelineStarted", () => {
      started = true;
    });
    const done = task.run();
    await clock.runUntil(() => started);
    const step = 100;
    const minutes = async (n: number) => {
      for (let i = 0; i < (n * 60_000) / step; i++) {
        // Fresh arrays each time, as a transport would send: a recorder keeping them would show.
        task.queueFrame(new InputAudioRawFrame(constant(step, RATE, 100), RATE));
        task.queueFrame(new OutputAudioRawFrame(constant(step, RATE, 200), RATE));
        await clock.advance(step);
      }
    };
    await minutes(2); // warm-up
    const warm = await settledHeap();
    await minutes(28);
    const after = await settledHeap();
    expect(emittedBytes).toBeGreaterThanOrEqual((30 * 60_000 - 1000) * perMs * 2);
    expect(p.bufferedMs).toBeLessThan(1000);
    // 28 minutes of two 24 kHz tracks are 161 MB: holding even 1 % of it would show.
    expect(after - warm).toBeLessThan(1_500_000);
    await clock.runUntil(task.stopWhenDone());
    await clock.runUntil(done);
  }, 120_000);
});

describe("AudioBufferProcessor turns", () => {
  /** 20 ms user frames whose value is their index, so a turn's frames can be recognised. */
  const userFrame = (i: number) => new InputAudioRawFrame(constant(20, RATE, 100 + i), RATE);
  const botFrame = (i: number) => new TTSAudioRawFrame(constant(40, RATE, 5000 + i), RATE);

  it("emits each user and bot turn's audio between its started and stopped frames", async () => {
    const p = new AudioBufferProcessor({ enableTurnAudio: true, turnPrerollMs: 0 });
    const ev = listen(p);
    const s = await startTask([p]);
    const frames: Frame[][] = [];
    for (let i = 0; i < 100; i++) {
      const at: Frame[] = [];
      if (i === 25) at.push(new UserStartedSpeakingFrame());
      if (i === 75) at.push(new UserStoppedSpeakingFrame());
      at.push(userFrame(i));
      frames.push(at);
    }
    await s.play(2000, 20, (t) => frames[t / 20]!);
    const bot: Frame[][] = [];
    for (let i = 0; i < 12; i++) {
      const at: Frame[] = [];
      if (i === 1) at.push(new BotStartedSpeakingFrame());
      at.push(botFrame(i));
      if (i === 10) at.push(new BotStoppedSpeakingFrame());
      bot.push(at);
    }
    await s.play(480, 40, (t) => bot[t / 40]!);
    expect(ev.userTurns).toHaveLength(1);
    expect(ev.botTurns).toHaveLength(1);
    const expectUser = concat(Array.from({ length: 50 }, (_, k) => constant(20, RATE, 100 + 25 + k)));
    expect(ev.userTurns[0]).toEqual({ audio: expectUser, sampleRate: RATE, numChannels: 1 });
    const expectBot = concat(Array.from({ length: 10 }, (_, k) => constant(40, RATE, 5000 + 1 + k)));
    expect(ev.botTurns[0]).toEqual({ audio: expectBot, sampleRate: RATE, numChannels: 1 });
    await s.end();
    expect(ev.userTurns).toHaveLength(1); // nothing was in progress
    expect(ev.botTurns).toHaveLength(1);
  });

  it("puts turnPrerollMs of audio heard before UserStartedSpeakingFrame at the head of the user turn", async () => {
    const p = new AudioBufferProcessor({ enableTurnAudio: true, turnPrerollMs: 100 });
    const ev = listen(p);
    const s = await startTask([p]);
    await s.play(1000, 20, (t) => {
      const i = t / 20;
      const at: Frame[] = [];
      if (i === 30) at.push(new UserStartedSpeakingFrame());
      if (i === 40) at.push(new UserStoppedSpeakingFrame());
      at.push(userFrame(i));
      return at;
    });
    expect(ev.userTurns).toHaveLength(1);
    const expected = concat(Array.from({ length: 15 }, (_, k) => constant(20, RATE, 100 + 25 + k)));
    expect(ev.userTurns[0]!.audio).toEqual(expected);
    await s.end();
  });

  it("emits no turn audio unless enableTurnAudio is set", async () => {
    const p = new AudioBufferProcessor();
    const ev = listen(p);
    const s = await startTask([p]);
    s.task.queueFrame(new UserStartedSpeakingFrame());
    s.task.queueFrame(new BotStartedSpeakingFrame());
    await s.play(400, 20, talk({ from: 0, to: 400, value: 1 }, { from: 0, to: 400, value: 2 }));
    s.task.queueFrame(new UserStoppedSpeakingFrame());
    s.task.queueFrame(new BotStoppedSpeakingFrame());
    await s.end();
    expect(ev.userTurns).toHaveLength(0);
    expect(ev.botTurns).toHaveLength(0);
    expect(ev.all().length).toBe(400 * perMs);
  });
});

describe("AudioBufferProcessor lifecycle", () => {
  it("holds everything until EndFrame, then flushes the recording and the turns in progress", async () => {
    const p = new AudioBufferProcessor({ enableTurnAudio: true, turnPrerollMs: 0 });
    const ev = listen(p);
    const s = await startTask([p]);
    s.task.queueFrame(new UserStartedSpeakingFrame());
    s.task.queueFrame(new BotStartedSpeakingFrame());
    await s.play(1000, 20, talk({ from: 0, to: 1000, value: 1 }, { from: 0, to: 600, value: 2 }));
    expect(ev.data).toHaveLength(0);
    expect(p.bufferedMs).toBe(1000);
    await s.end();
    expect(ev.data).toHaveLength(1);
    const audio = ev.data[0]!.audio;
    expect(audio.length).toBe(1000 * perMs);
    expect(audio.subarray(0, 600 * perMs).every((v) => v === 3)).toBe(true);
    expect(audio.subarray(600 * perMs).every((v) => v === 1)).toBe(true);
    expect(ev.userTurns.map((t) => t.audio.length)).toEqual([1000 * perMs]);
    expect(ev.botTurns.map((t) => t.audio.length)).toEqual([600 * perMs]);
    expect(p.recording).toBe(false);
    expect(p.bufferedMs).toBe(0);
  });

  it("flushes what it holds on cancel, padded with silence up to the clock", async () => {
    const p = new AudioBufferProcessor({ numChannels: 2 });
    const ev = listen(p);
    const s = await startTask([p]);
    await s.play(500, 20, talk({ from: 0, to: 500, value: 9 }, undefined));
    await s.clock.advance(300); // nobody speaks
    expect(ev.data).toHaveLength(0);
    await s.cancel();
    expect(ev.data).toHaveLength(1);
    const user = channel(ev.data[0]!.audio, 0);
    expect(user.length).toBe(800 * perMs);
    expect(countNonZero(user)).toBe(500 * perMs);
    expect(countNonZero(channel(ev.data[0]!.audio, 1))).toBe(0);
  });

  it("records only between startRecording() and stopRecording() when autoStart is false", async () => {
    const p = new AudioBufferProcessor({ autoStart: false });
    const ev = listen(p);
    const s = await startTask([p]);
    const both = talk({ from: 0, to: 1e9, value: 40 }, { from: 0, to: 1e9, value: 2 });
    await s.play(500, 20, both);
    expect(p.recording).toBe(false);
    expect(p.bufferedMs).toBe(0);
    p.startRecording();
    await s.play(720, 20, both);
    expect(ev.data).toHaveLength(0);
    await s.clock.runUntil(p.stopRecording());
    expect(ev.data).toHaveLength(1);
    expect(ev.data[0]!.audio.length).toBe(720 * perMs);
    expect(ev.data[0]!.audio.every((v) => v === 42)).toBe(true);
    await s.play(300, 20, both);
    await s.end();
    expect(ev.data).toHaveLength(1);
  });

  it("startRecording() before the pipeline starts records from the start", async () => {
    const p = new AudioBufferProcessor({ autoStart: false });
    p.startRecording();
    const ev = listen(p);
    const s = await startTask([p]);
    expect(p.recording).toBe(true);
    await s.play(200, 20, talk({ from: 0, to: 200, value: 3 }, undefined));
    await s.end();
    expect(ev.all().length).toBe(200 * perMs);
  });

  it("forwards every frame it sees, unchanged and in order, recording or not", async () => {
    for (const options of [{}, { autoStart: false }, { enableTurnAudio: true, numChannels: 2 as const }]) {
      const frames: Frame[] = [
        new UserStartedSpeakingFrame(),
        new InputAudioRawFrame(constant(20, 16_000, 1), 16_000),
        new BotStartedSpeakingFrame(),
        new TTSAudioRawFrame(constant(40, RATE, 2), RATE),
        new OutputAudioRawFrame(constant(40, 48_000, 2), 48_000, 1),
        new InputAudioRawFrame(constant(20, RATE, 1).subarray(0, 480), RATE, 2),
        new TextFrame("hello"),
        new InterruptionFrame(),
        new BotStoppedSpeakingFrame(),
        new TTSStoppedFrame(),
        new UserStoppedSpeakingFrame(),
      ];
      const script: Array<Frame | Sleep> = frames.flatMap((f) => [f, new Sleep(20)]);
      const { down } = await runTest(new AudioBufferProcessor(options), { framesToSend: script });
      expect(down).toHaveLength(frames.length);
      down.forEach((f, i) => expect(f).toBe(frames[i]));
    }
  });
});

describe("AudioBufferProcessor resampling", () => {
  it("resamples a 16 kHz user track to a 24 kHz recording", async () => {
    const p = new AudioBufferProcessor({ numChannels: 2, sampleRate: 24_000 });
    const ev = listen(p);
    const s = await startTask([p], { audioInSampleRate: 16_000, audioOutSampleRate: 24_000 });
    const sine = tone(1000, 16_000, 440, 8000);
    await s.play(1000, 20, (t) => [
      new InputAudioRawFrame(sine.slice((t / 20) * 320, (t / 20 + 1) * 320), 16_000),
    ]);
    await s.end();
    expect(ev.data.every((d) => d.sampleRate === 24_000)).toBe(true);
    const user = ev.user();
    expect(Math.abs(user.length - 24_000)).toBeLessThanOrEqual(24); // 1 s at 24 kHz, ±1 ms
    // Still a 440 Hz tone: 880 zero crossings a second (at 16 kHz taken as 24 kHz it would be 1320).
    let crossings = 0;
    for (let i = 100; i < 23_900; i++) if (user[i - 1]! < 0 !== user[i]! < 0) crossings++;
    expect(Math.abs(crossings - 880 * (23_800 / 24_000))).toBeLessThanOrEqual(4);
    let sum = 0;
    for (let i = 100; i < 23_900; i++) sum += user[i]! * user[i]!;
    expect(Math.sqrt(sum / 23_800)).toBeCloseTo(8000 / Math.SQRT2, -2);
  });

  it("resamples bot audio at a rate it was not told about, keeping its place on the timeline", async () => {
    const p = new AudioBufferProcessor({ numChannels: 2 });
    const ev = listen(p);
    const s = await startTask([p]);
    await s.play(
      1500,
      20,
      talk({ from: 0, to: 1500, value: 1 }, { from: 500, to: 1500, value: 2000, rate: 48_000 }),
    );
    await s.end();
    const bot = ev.bot();
    expect(bot.length).toBe(1500 * perMs);
    const start = firstNonZero(bot);
    expect(Math.abs(start - 500 * perMs)).toBeLessThanOrEqual(10 * perMs); // the filter's delay at most
    const steady = bot.subarray(start + 10 * perMs, start + 990 * perMs);
    expect(steady.every((v) => Math.abs(v - 2000) <= 20)).toBe(true);
  });
});

describe("AudioBufferProcessor after the output transport", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "voicepipe-abp-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("never records the mixer's background: the bot track is silent without bot speech, and clean with it", async () => {
    const path = join(dir, "hum.wav");
    await writeWavFile(path, { audio: tone(500, 16_000, 200, 10_000), sampleRate: 16_000 });
    const mixer = new SoundfileMixer({ soundFiles: { hum: path }, volume: 0.5 });
    const transport = new MemoryTransport({
      params: {
        audioOutEnabled: true,
        audioOutSampleRate: RATE,
        audioOutEndSilenceMs: 500,
        audioOutMixer: mixer,
      },
    });
    const p = new AudioBufferProcessor({ numChannels: 2 });
    const ev = listen(p);
    const s = await startTask([transport.output(), p]);

    // Five seconds: the user talks, the bot is silent, the mixer hums.
    await s.play(5000, 20, talk({ from: 0, to: 5000, value: 700 }, undefined));
    const written = transport.output().written.map((w) => w.frame.audio);
    expect(written.length).toBeGreaterThanOrEqual(120);
    expect(written.filter((a) => countNonZero(a) > 0).length).toBeGreaterThanOrEqual(120); // the hum played
    await s.clock.runUntil(p.stopRecording());
    const silent = ev.all();
    expect(channel(silent, 1).length).toBeGreaterThanOrEqual(5000 * perMs);
    expect(countNonZero(channel(silent, 1))).toBe(0);
    expect(countNonZero(channel(silent, 0))).toBe(5000 * perMs);

    // Then the bot speaks: the recording has its speech, the client heard speech + hum.
    p.startRecording();
    const before = transport.output().written.length;
    s.task.queueFrame(new TTSAudioRawFrame(constant(1000, RATE, 1000), RATE));
    s.task.queueFrame(new TTSStoppedFrame());
    await s.clock.advance(2000);
    const played = concat(
      transport
        .output()
        .written.slice(before)
        .map((w) => w.frame.audio),
    );
    expect(played.some((v) => v !== 1000 && v !== 0)).toBe(true); // speech was mixed with the hum
    await s.end(); // plays 500 ms of end silence (with the hum), never pushed as bot audio
    const bot = concat(ev.tracks.slice(1).map((t) => t.bot));
    expect(countNonZero(bot)).toBe(1000 * perMs);
    expect(bot.filter((v) => v !== 0).every((v) => v === 1000)).toBe(true);
  });
});

/**
 * Adversary: preemptive speech (docs/design/tts-services.md, "Preemptive speech"), through the
 * public API only. `fixed:` tests were holes (fixed at the root, now regression tests); `held:` tests are attacks that held.
 */
import { describe, expect, it } from "vitest";
import {
  ErrorFrame,
  type Frame,
  InterruptionFrame,
  LLMFullResponseEndFrame,
  LLMFullResponseStartFrame,
  LLMTextFrame,
  MetricsFrame,
  TTSAudioRawFrame,
  TTSStartedFrame,
  TTSStoppedFrame,
  TTSTextFrame,
} from "../../src/index.js";
import { runTest, Sleep } from "../../src/testing/index.js";
import type {
  ContextEnd,
  SynthesisOutput,
  SynthesisRequest,
  TTSServiceOptions,
} from "../../src/services/tts/tts-service.js";
import { HELD_SPEECH_UNCLAIMED_MS } from "../../src/services/tts/held-speech.js";
import { ToneTTS } from "../services/tts/tone-tts.js";
import { startRealTimeTask, startTask } from "../support/task.js";
import { endTTS, expectNothingPending, startTTS, waitFor } from "../services/openai-audio/tts-session.js";
import { CartesiaTTSService } from "../../src/services/cartesia/tts.js";
import { fakeCartesia, sampleFor } from "../services/cartesia/fake-cartesia.js";
import { startStreamingSession, samplesOf as streamedSamples } from "../services/tts/streaming-session.js";
import { STALE_SAMPLE } from "../services/deepgram/fake-deepgram-speak.js";
import {
  expected as deepgramExpected,
  fake as fakeDeepgram,
  service as deepgramService,
} from "../services/deepgram/speak-kit.js";
import { SystemClock, VirtualClock, markdownToSpeakable, type PipelineTaskOptions } from "../../src/index.js";
import { guess, answer } from "../services/tts/preemptive-frames.js";

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `tts` on the real clock, queueing frames and waiting `number`s of ms between them; ends the task. */
async function realRun(
  tts: Spy,
  steps: Array<Frame | Frame[] | number | (() => void | Promise<void>)>,
  options: Partial<PipelineTaskOptions> = {},
  how: "end" | "cancel" = "end",
) {
  const run = startRealTimeTask([tts], options);
  await run.whenStarted();
  for (const step of steps) {
    if (typeof step === "number") await pause(step);
    else if (typeof step === "function") await step();
    else run.task.queueFrames(Array.isArray(step) ? step : [step]);
  }
  if (how === "end") await run.task.stopWhenDone();
  else await run.task.cancel();
  await run.done;
  return { down: run.recorder.frames, errors: run.errors, task: run.task };
}

type How =
  | "holdSlow"
  | "syncThrow"
  | "tone"
  | "fail"
  | "hold"
  | "endless"
  | "tiny"
  | "deaf"
  | "slow"
  | "failAfter"
  | "junk";

/** ToneTTS that records every call, how many run at once, its contexts, and can misbehave. */
class Spy extends ToneTTS {
  readonly requests: Array<{ text: string; contextId: string; index: number; abortedAtCall: boolean }> = [];
  readonly ended: Array<{ contextId: string; reason: ContextEnd }> = [];
  released = 0;
  active = 0;
  maxActive = 0;
  /** Each call: (what was running) — to see two pieces asked at once. */
  readonly overlaps: string[] = [];
  behaviour: (text: string, call: number) => How = () => "tone";

  constructor(options: TTSServiceOptions & { withWords?: boolean } = {}) {
    super({ chunkMs: 20, ...options });
  }

  protected override async *synthesize(
    text: string,
    signal: AbortSignal,
    request?: SynthesisRequest,
  ): AsyncIterable<SynthesisOutput> {
    const call = this.requests.length;
    this.requests.push({
      text,
      contextId: request!.contextId,
      index: request!.index,
      abortedAtCall: signal.aborted,
    });
    this.active++;
    if (this.active > 1) this.overlaps.push(text);
    this.maxActive = Math.max(this.maxActive, this.active);
    try {
      const how = this.behaviour(text, call);
      if (how === "fail") throw new Error("the engine broke");
      if (how === "hold") {
        // One chunk, then nothing until stopped.
        yield new Int16Array(320);
        await new Promise((_, reject) => {
          if (signal.aborted) reject(signal.reason);
          signal.addEventListener("abort", () => reject(signal.reason));
        });
      }
      if (how === "endless") {
        for (;;) {
          if (signal.aborted) throw signal.reason;
          await Promise.resolve();
          yield new Int16Array(16_000);
        }
      }
      if (how === "holdSlow") {
        // One chunk, then nothing until stopped; takes 150 ms to let go.
        yield new Int16Array(320);
        await new Promise<void>((resolve) => {
          if (signal.aborted) resolve();
          signal.addEventListener("abort", () => resolve());
        });
        await pause(150);
        throw signal.reason;
      }
      if (how === "deaf") {
        yield new Int16Array(320);
        await new Promise(() => {}); // ignores the abort, never ends
      }
      if (how === "slow") {
        // 40 chunks of 20 ms, 15 ms apart on the real clock; every sample says which call made it.
        for (let i = 0; i < 40; i++) {
          if (signal.aborted) throw signal.reason;
          await pause(15);
          yield new Int16Array(320).fill(1000 + call);
        }
        return;
      }
      if (how === "failAfter") {
        yield new Int16Array(320);
        await pause(60);
        throw new Error("the engine broke after the claim");
      }
      if (how === "junk") {
        yield "not audio" as unknown as Int16Array;
        yield* super.synthesize(text, signal, request);
        return;
      }
      if (how === "tiny") {
        for (let i = 0; i < 5000; i++) {
          if (signal.aborted) throw signal.reason;
          await Promise.resolve();
          yield new Int16Array(1);
        }
        return;
      }
      yield* super.synthesize(text, signal, request);
    } finally {
      this.active--;
      this.released++;
    }
  }

  protected override endContext(contextId: string, reason: ContextEnd): void {
    this.ended.push({ contextId, reason });
  }
}

const audio = (down: Frame[]): TTSAudioRawFrame[] =>
  down.filter((f): f is TTSAudioRawFrame => f instanceof TTSAudioRawFrame);
const samplesOf = (down: Frame[]): number[] => audio(down).flatMap((f) => Array.from(f.audio));
const shape = (down: Frame[]): string[] =>
  down
    .filter((f) => !(f instanceof MetricsFrame))
    .map((f) => (f instanceof TTSTextFrame ? `Text(${f.text})` : f.constructor.name));
/** Ended-context counts per id. */
const endsPerContext = (ended: Array<{ contextId: string }>) => {
  const counts = new Map<string, number>();
  for (const e of ended) counts.set(e.contextId, (counts.get(e.contextId) ?? 0) + 1);
  return counts;
};

async function fresh(...texts: string[]) {
  const tts = new Spy();
  const { down } = await runTest(tts, { framesToSend: answer(...texts) });
  return down;
}

describe("adversary: preemptive speech", () => {
  it("fixed: an interruption arriving as the claimed piece's TTSStartedFrame goes out orphans the held engine (runs beside the next pieces, counted as used, its context ended late/twice)", async () => {
    const tts = new Spy();
    // The guess's engine gives one chunk and then keeps working until stopped.
    tts.behaviour = (text, call) => (call === 0 ? "hold" : "tone");
    let interrupted = false;
    const { down } = await realRun(
      tts,
      [guess(1, "Sure."), 50, answer("Sure."), 50, answer("Next one."), 100, new InterruptionFrame(), 50],
      {
        observers: [
          {
            onPushFrame: ({ frame, source }) => {
              // A barge-in lands the moment the claimed answer's TTSStartedFrame is pushed.
              if (source === tts && frame instanceof TTSStartedFrame && !interrupted) {
                interrupted = true;
                void tts.queueFrame(new InterruptionFrame());
              }
            },
          },
        ],
      },
    );
    expect(interrupted).toBe(true);
    const heldContext = tts.requests[0]!.contextId;
    // Promise 1: an engine is never asked for two pieces at once.
    expect(tts.overlaps).toEqual([]);
    expect(tts.maxActive).toBe(1);
    // The guess was right (the answer began with it), so it counts as used; the barge-in then
    // stopped that answer as it stops any (docs/design/tts-services.md, "Preemptive speech").
    expect(tts.preemptiveSpeechUsed).toBe(1);
    expect(tts.preemptiveSpeechDiscarded).toBe(0);
    // The held context cancelled exactly once.
    expect(endsPerContext(tts.ended).get(heldContext)).toBe(1);
    expect(tts.ended.find((e) => e.contextId === heldContext)?.reason).toBe("interrupted");
    expect(samplesOf(down).length).toBeGreaterThan(0);
  });

  it("held: a claimed guess with word timings pushes exactly the fresh frames (texts, samples, word offsets, contextIds)", async () => {
    const run = async (withGuess: boolean) => {
      const tts = new Spy({ withWords: true });
      const { down } = await runTest(tts, {
        framesToSend: [
          ...(withGuess ? [...guess(3, "Hi ", "there, ", "friend. ", "And more"), new Sleep(80)] : []),
          ...answer("Hi there, friend. ", "And more words."),
        ],
      });
      const started = down.filter((f): f is TTSStartedFrame => f instanceof TTSStartedFrame);
      expect(started).toHaveLength(1);
      const ctx = started[0]!.contextId;
      const texts = down.filter((f): f is TTSTextFrame => f instanceof TTSTextFrame);
      expect([...audio(down), ...texts].every((f) => f.contextId === ctx)).toBe(true);
      expect(down.filter((f) => f instanceof TTSStoppedFrame)).toHaveLength(1);
      return { tts, down, words: texts.map((t) => [t.text, t.audioOffsetMs]) };
    };
    const claimed = await run(true);
    const plain = await run(false);
    expect(claimed.tts.preemptiveSpeechUsed).toBe(1);
    expect(claimed.tts.requests).toHaveLength(2);
    expect(shape(claimed.down)).toEqual(shape(plain.down));
    expect(samplesOf(claimed.down)).toEqual(samplesOf(plain.down));
    expect(claimed.words).toEqual(plain.words);
  });

  it("held: a guess whose engine yields 5,000 one-sample outputs crosses the 4,096 bound: discarded quietly, context cancelled once, answer spoken fresh", async () => {
    const tts = new Spy();
    tts.behaviour = (_t, call) => (call === 0 ? "tiny" : "tone");
    const { down, up } = await runTest(tts, {
      framesToSend: [...guess(1, "Sure."), new Sleep(200), ...answer("Sure.")],
    });
    expect(up.filter((f) => f instanceof ErrorFrame)).toEqual([]);
    expect(tts.requests.map((r) => r.text)).toEqual(["Sure.", "Sure."]);
    expect(tts.preemptiveSpeechDiscarded).toBe(1);
    expect(tts.preemptiveSpeechUsed).toBe(0);
    expect(endsPerContext(tts.ended).get(tts.requests[0]!.contextId)).toBe(1);
    expect(tts.ended.find((e) => e.contextId === tts.requests[0]!.contextId)!.reason).toBe("interrupted");
    expect(samplesOf(down)).toEqual(samplesOf(await fresh("Sure.")));
    expect(tts.released).toBe(2);
    expect(tts.maxActive).toBe(1);
  });

  it("held: a guess engine that ignores its abort and never ends: the different answer is still spoken within releaseTimeoutMs, no error", async () => {
    const tts = new Spy({ releaseTimeoutMs: 100 });
    tts.behaviour = (_t, call) => (call === 0 ? "deaf" : "tone");
    let askedAt = 0;
    let spokenAt = 0;
    const { down, errors } = await realRun(tts, [
      guess(1, "Sure."),
      50,
      () => void (askedAt = performance.now()),
      answer("No way."),
      async () => {
        for (let i = 0; i < 200 && tts.requests.length < 2; i++) await pause(5);
        spokenAt = performance.now();
      },
      100,
    ]);
    expect(errors).toEqual([]);
    expect(tts.requests.map((r) => r.text)).toEqual(["Sure.", "No way."]);
    expect(spokenAt - askedAt).toBeLessThan(600);
    expect(down.filter((f) => f instanceof TTSTextFrame).map((f) => (f as TTSTextFrame).text)).toEqual([
      "No way.",
    ]);
    expect(endsPerContext(tts.ended).get(tts.requests[0]!.contextId)).toBe(1);
  });

  it("held: guess → claim → barge-in mid-audio → next answer with the same first sentence is synthesised fresh; no audio of the interrupted one after the interruption", async () => {
    const tts = new Spy({ sampleRate: 16_000 }); // no resampling: every sample names its call
    tts.behaviour = () => "slow";
    const run = startRealTimeTask([tts]);
    await run.whenStarted();
    run.task.queueFrames(guess(1, "Sure."));
    await pause(100); // some audio held
    run.task.queueFrames(answer("Sure."));
    await pause(150); // the claimed piece is being read
    const cut = run.recorder.frames.length;
    run.task.queueFrames([new InterruptionFrame()]);
    await pause(20);
    run.task.queueFrames([...guess(2, "Sure."), ...answer("Sure.")]);
    await pause(900);
    await run.task.stopWhenDone();
    await run.done;
    expect(run.errors).toEqual([]);
    const after = run.recorder.frames.slice(cut);
    const i = after.findIndex((f) => f instanceof InterruptionFrame);
    expect(i).toBeGreaterThanOrEqual(0);
    const values = new Set(audio(after.slice(i)).flatMap((f) => Array.from(new Set(f.audio))));
    // Only the last call's audio (the fresh synthesis, or the new guess's) is heard after the barge-in.
    const last = tts.requests.length - 1;
    expect(tts.requests.length).toBeGreaterThanOrEqual(2);
    expect([...values].every((v) => v === 1000 + last || v === 0)).toBe(true);
    expect(audio(after.slice(i)).length).toBeGreaterThan(0);
    expect(tts.maxActive).toBe(1);
    expect(tts.released).toBe(tts.requests.length);
  });

  it("held: an engine failing after the claim is reported once as the piece's error, not fatal; the rest of the answer is spoken", async () => {
    const tts = new Spy();
    tts.behaviour = (_t, call) => (call === 0 ? "failAfter" : "tone");
    const { down, errors } = await realRun(tts, [
      guess(1, "Sure. "),
      20,
      answer("Sure. ", "Then this."),
      300,
    ]);
    expect(tts.preemptiveSpeechUsed).toBe(1);
    expect(errors.map((e) => e.error.message)).toEqual([expect.stringContaining("broke after the claim")]);
    expect(errors[0]!.fatal).toBe(false);
    expect(down.filter((f) => f instanceof TTSTextFrame).map((f) => (f as TTSTextFrame).text)).toEqual([
      "Then this.",
    ]);
    expect(down.filter((f) => f instanceof TTSStartedFrame)).toHaveLength(1);
    expect(down.filter((f) => f instanceof TTSStoppedFrame)).toHaveLength(1);
  });

  it("held: 2,000 guesses (new answerIds, some claimed, some not) on a VirtualClock leave no timers and right counters", async () => {
    const tts = new Spy();
    const frames: Array<Frame | Sleep> = [];
    let claimedCount = 0;
    for (let i = 0; i < 2000; i++) {
      frames.push(...guess(i, `Guess ${i % 7}.`));
      if (i % 10 === 0) {
        frames.push(new Sleep(5), ...answer(`Guess ${i % 7}.`));
        claimedCount++;
      } else if (i % 10 === 1) frames.push(new Sleep(5), ...answer("Other."));
      else if (i % 97 === 0) frames.push(new Sleep(HELD_SPEECH_UNCLAIMED_MS + 5));
    }
    const { clock, up } = await runTest(tts, { framesToSend: frames, maxMs: 10_000_000 });
    expect(up.filter((f) => f instanceof ErrorFrame)).toEqual([]);
    expect(tts.preemptiveSpeechUsed).toBe(claimedCount);
    expect(tts.preemptiveSpeechUsed + tts.preemptiveSpeechDiscarded).toBe(2000);
    expect(clock.pendingTimers).toBe(0);
    expect(tts.released).toBe(tts.requests.length);
    expect(tts.maxActive).toBe(1);
    // every guess's context that was not claimed was cancelled exactly once
    const counts = endsPerContext(tts.ended);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
  }, 120_000);

  it(`fixed: a guess let go after ${HELD_SPEECH_UNCLAIMED_MS} ms unclaimed is not counted in preemptiveSpeechDiscarded when it is discarded (only once something else comes)`, async () => {
    const tts = new Spy();
    const { task, clock, whenStarted, done } = startTask([tts]);
    await whenStarted();
    task.queueFrames(guess(1, "Sure."));
    await clock.advance(200);
    expect(tts.requests).toHaveLength(1);
    expect(tts.ended).toEqual([]);
    await clock.advance(HELD_SPEECH_UNCLAIMED_MS);
    // Discarded by the 10 s bound: its context cancelled...
    expect(tts.ended).toEqual([{ contextId: tts.requests[0]!.contextId, reason: "interrupted" }]);
    // ...and counted, as the counter's documentation says ("nobody claiming it in time").
    const atDiscard = tts.preemptiveSpeechDiscarded;
    await task.stopWhenDone();
    await clock.runUntil(() => false, { maxMs: 5_000 }).catch(() => {});
    await done;
    expect({ atDiscard, atEnd: tts.preemptiveSpeechDiscarded }).toEqual({ atDiscard: 1, atEnd: 1 });
  });

  it("held: cancel in the middle of a claimed piece: every engine run let go, every context ended once, nothing after", async () => {
    const tts = new Spy();
    tts.behaviour = () => "slow";
    const { down } = await realRun(
      tts,
      [guess(1, "Sure. "), 80, answer("Sure. ", "More."), 120],
      {},
      "cancel",
    );
    expect(tts.preemptiveSpeechUsed).toBe(1);
    expect(tts.released).toBe(tts.requests.length);
    const counts = endsPerContext(tts.ended);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    expect(counts.get(tts.requests[0]!.contextId)).toBe(1);
    expect(down.filter((f) => f instanceof TTSStoppedFrame)).toEqual([]);
  });

  describe("Deepgram TTS on a loopback /v1/speak (one stream)", () => {
    const types = (texts: readonly string[]) => texts.map((t) => (JSON.parse(t) as { type: string }).type);
    const join = (parts: Int16Array[]) => Int16Array.from(parts.flatMap((p) => Array.from(p)));

    it("held: a guess claimed on Deepgram: one Speak per sentence, the exact samples, one started/stopped", async () => {
      const server = await fakeDeepgram();
      const tts = deepgramService(server);
      const clock = new VirtualClock();
      const s = await startTTS(tts, clock);
      s.queue(...guess(1, "Sure. ", "Then"));
      await waitFor(s, () => (server.connections[0]?.texts.length ?? 0) >= 2, "the guess sent");
      await clock.advance(50);
      s.answer("Sure. ", "Then more.");
      await waitFor(s, () => s.down.ofType(TTSStoppedFrame).length === 1, "the answer");
      await endTTS(s);
      expect(tts.preemptiveSpeechUsed).toBe(1);
      expect(types(server.connections[0]!.texts)).toEqual(["Speak", "Flush", "Speak", "Flush", "Close"]);
      expect(s.samples()).toEqual(join([deepgramExpected("Sure. "), deepgramExpected("Then more.")]));
      expect(s.down.ofType(TTSStartedFrame)).toHaveLength(1);
      expect(s.errors()).toEqual([]);
      expectNothingPending(s.clock);
    });

    it("held: a guess stalled mid-audio on Deepgram then another answer: Clear, the guess's tail dropped, exactly the answer's samples, no error", async () => {
      const server = await fakeDeepgram({ onFlush: (n) => (n === 1 ? "stall" : "ok") });
      const tts = deepgramService(server);
      const s = await startTTS(tts, new SystemClock()); // a stalled socket read is real work: real time
      s.queue(...guess(1, "A long first sentence. "));
      await waitFor(s, () => (server.connections[0]?.texts.length ?? 0) >= 2, "the guess sent");
      await pause(100); // half its audio came, then nothing
      s.answer("Next.");
      await waitFor(s, () => s.down.ofType(TTSStoppedFrame).length === 1, "the answer");
      await endTTS(s);
      expect(types(server.connections[0]!.texts)).toEqual([
        "Speak",
        "Flush",
        "Clear",
        "Speak",
        "Flush",
        "Close",
      ]);
      expect(s.samples()).toEqual(deepgramExpected("Next."));
      expect(Array.from(s.samples()).includes(STALE_SAMPLE)).toBe(false);
      expect(tts.preemptiveSpeechDiscarded).toBe(1);
      expect(s.errors()).toEqual([]);
      expectNothingPending(s.clock);
    });
  });

  it("fixed: an interruption landing as the confirmed answer's first piece is made speakable: the matching guess is counted used, never counted discarded, and its engine is not waited for before the next answer", async () => {
    let armed = false;
    const tts: Spy = new Spy({
      // A public hook that runs inside the piece, right before the held speech is matched: a barge-in lands here.
      textToSpeakable: () => {
        const inner = markdownToSpeakable();
        return (piece) => {
          if (armed && piece.startsWith("Sure")) {
            armed = false;
            void tts.queueFrame(new InterruptionFrame());
          }
          return inner(piece);
        };
      },
    });
    tts.behaviour = (_t, call) => (call === 0 ? "holdSlow" : "tone");
    await realRun(tts, [
      guess(1, "Sure."),
      50,
      () => void (armed = true),
      answer("Sure."),
      20,
      answer("Next one."),
      400,
    ]);
    expect(armed).toBe(false);
    const info = {
      used: tts.preemptiveSpeechUsed,
      discarded: tts.preemptiveSpeechDiscarded,
      overlaps: tts.overlaps,
    };
    // Nothing of it was spoken: discarded, not used; the next answer waited for its engine to let go.
    expect(info).toEqual({ used: 0, discarded: 1, overlaps: [] });
    expect(endsPerContext(tts.ended).get(tts.requests[0]!.contextId)).toBe(1);
  });

  it("held: an engine whose synthesize throws synchronously for the guess: no error, the answer is spoken fresh", async () => {
    class Thrower extends Spy {
      calls = 0;
      protected override synthesize(
        text: string,
        signal: AbortSignal,
        request?: SynthesisRequest,
      ): AsyncIterable<SynthesisOutput> {
        if (this.calls++ === 0) throw new Error("sync throw");
        return super.synthesize(text, signal, request);
      }
    }
    const tts = new Thrower();
    const { down, up } = await runTest(tts, {
      framesToSend: [...guess(1, "Sure."), new Sleep(50), ...answer("Sure.")],
    });
    expect(up.filter((f) => f instanceof ErrorFrame)).toEqual([]);
    expect(samplesOf(down)).toEqual(samplesOf(await fresh("Sure.")));
    expect(tts.preemptiveSpeechUsed).toBe(0);
    expect(tts.preemptiveSpeechDiscarded).toBe(1);
  });

  it("held: the end's drain of an answer without its end frame claims the guess; frames as fresh, TTSStoppedFrame last", async () => {
    const tts = new Spy();
    const { down } = await runTest(tts, {
      framesToSend: [
        ...guess(1, "Sure thing"),
        new Sleep(50),
        new LLMFullResponseStartFrame(),
        new LLMTextFrame("Sure thing"),
      ],
    });
    const plain = new Spy();
    const { down: freshDown } = await runTest(plain, {
      framesToSend: [new LLMFullResponseStartFrame(), new LLMTextFrame("Sure thing")],
    });
    expect(tts.preemptiveSpeechUsed).toBe(1);
    expect(shape(down)).toEqual(shape(freshDown));
    expect(samplesOf(down)).toEqual(samplesOf(freshDown));
  });

  it("held: odd guesses (whitespace, code block, CJK, emoji, 10,000 chars) never push anything of their own and the answers sound as fresh", async () => {
    const texts = [
      "   ",
      "```js\nconst x = 1;\n```\nDone.",
      "你好。世界！",
      "👍🏽 Great! 🎉",
      "a".repeat(10_000),
    ];
    for (const text of texts) {
      const tts = new Spy();
      const { down, up } = await runTest(tts, {
        framesToSend: [...guess(1, ...text.match(/[\s\S]{1,7}/gu)!), new Sleep(50), ...answer(text)],
      });
      expect(up.filter((f) => f instanceof ErrorFrame)).toEqual([]);
      const f = await fresh(text);
      expect(shape(down)).toEqual(shape(f));
      expect(samplesOf(down)).toEqual(samplesOf(f));
      expect(tts.maxActive).toBeLessThanOrEqual(1);
    }
  });

  it("held: Cartesia loopback: a wrong guess cancelled once, the right one continued in its context with index 1; exact samples and word texts", async () => {
    const server = await fakeCartesia();
    try {
      const tts = new CartesiaTTSService({ apiKey: "test-key", baseUrl: server.baseUrl });
      const s = await startStreamingSession([tts], { clock: new SystemClock() });
      const sent = () =>
        server.connections.flatMap((c) => c.texts.map((t) => JSON.parse(t) as Record<string, unknown>));
      s.queue(...guess(1, "Wrong guess. "));
      await s.until(() => sent().length >= 2, "the first guess sent");
      await pause(80);
      s.queue(...guess(2, "Hello there. ", "How"));
      await s.until(
        () => sent().filter((m) => m["transcript"] === "Hello there. ").length === 1,
        "the second guess sent",
      );
      await pause(80);
      s.respond("Hello there. ", "How are you?");
      await s.until(() => s.down.ofType(LLMFullResponseEndFrame).length === 1, "the answer");
      await s.until(() => sent().some((m) => m["continue"] === false), "the context finished");
      await s.finish();
      const msgs = sent();
      const wrong = msgs[0]!["context_id"];
      const right = msgs.find((m) => m["transcript"] === "Hello there. ")!["context_id"];
      expect(msgs.filter((m) => m["context_id"] === wrong && m["cancel"] === true)).toHaveLength(1);
      expect(
        msgs
          .filter((m) => m["context_id"] === right)
          .map((m) => [
            m["transcript"] ?? null,
            m["continue"] ?? null,
            m["flush"] ?? false,
            m["cancel"] ?? false,
          ]),
      ).toEqual([
        ["Hello there. ", true, false, false],
        ["", true, true, false],
        ["How are you?", true, false, false],
        ["", true, true, false],
        ["", false, false, false],
      ]);
      const want = [..."Hello there. How are you?"].flatMap((c) => new Array<number>(240).fill(sampleFor(c)));
      expect(streamedSamples(s.down.frames)).toEqual(want);
      expect(s.down.ofType(TTSTextFrame).map((f) => f.text)).toEqual([
        "Hello",
        "there.",
        "How",
        "are",
        "you?",
      ]);
      expect(s.down.ofType(TTSStartedFrame)).toHaveLength(1);
      expect(tts.preemptiveSpeechUsed).toBe(1);
      expect(tts.preemptiveSpeechDiscarded).toBe(1);
    } finally {
      await server.close();
    }
  });

  it("held: a newer guess, an interruption, and a different answer each wait for a slow-to-let-go guess engine before asking the engine again", async () => {
    for (const between of [
      guess(2, "Other words."),
      [new InterruptionFrame(), ...answer("No.")],
      answer("No."),
    ] as Frame[][]) {
      const tts = new Spy({ releaseTimeoutMs: 1000 });
      tts.behaviour = (_t, call) => (call === 0 ? "holdSlow" : "tone");
      const { errors } = await realRun(tts, [guess(1, "Sure."), 50, between, 400]);
      expect(errors).toEqual([]);
      expect(tts.requests.length).toBe(2);
      expect(tts.overlaps).toEqual([]);
      expect(tts.released).toBe(2);
      expect(endsPerContext(tts.ended).get(tts.requests[0]!.contextId)).toBe(1);
    }
  });

  it("held: a guess engine that stalls before the claim is dropped quietly; the same answer later is synthesised fresh without error", async () => {
    const tts = new Spy({ stallTimeoutMs: 100 });
    tts.behaviour = (_t, call) => (call === 0 ? "hold" : "tone");
    const { down, errors } = await realRun(tts, [guess(1, "Sure."), 250, answer("Sure."), 150]);
    expect(errors).toEqual([]);
    expect(tts.requests.map((r) => r.text)).toEqual(["Sure.", "Sure."]);
    expect(tts.preemptiveSpeechUsed).toBe(0);
    expect(down.filter((f) => f instanceof TTSTextFrame).map((f) => (f as TTSTextFrame).text)).toEqual([
      "Sure.",
    ]);
    expect(endsPerContext(tts.ended).get(tts.requests[0]!.contextId)).toBe(1);
  });

  it("fixed: the guess engine orphaned by a barge-in during the claim is still running after the task has ended (never let go, its context never cancelled)", async () => {
    const tts = new Spy({ stallTimeoutMs: 3000 });
    tts.behaviour = (_t, call) => (call === 0 ? "hold" : "tone");
    let interrupted = false;
    await realRun(tts, [guess(1, "Sure."), 50, answer("Sure."), 100], {
      observers: [
        {
          onPushFrame: ({ frame, source }) => {
            if (source === tts && frame instanceof TTSStartedFrame && !interrupted) {
              interrupted = true;
              void tts.queueFrame(new InterruptionFrame());
            }
          },
        },
      ],
    });
    expect(interrupted).toBe(true);
    // The task is over: every engine run has let go, the guess's context was cancelled once.
    expect({ released: tts.released, running: tts.active }).toEqual({
      released: tts.requests.length,
      running: 0,
    });
    expect(endsPerContext(tts.ended).get(tts.requests[0]!.contextId)).toBe(1);
  });
});

/**
 * Preemptive speech in the TTS base: the first sentence of an answer the LLM holds for a turn not
 * confirmed yet (`LLMPreemptiveTextFrame`) is synthesised ahead and used only when the confirmed
 * answer starts with the same sentence (docs/design/tts-services.md, "Preemptive speech").
 */
import { describe, expect, it, vi } from "vitest";
import {
  ErrorFrame,
  type Frame,
  InterruptionFrame,
  LLMFullResponseEndFrame,
  LLMFullResponseStartFrame,
  LLMPreemptiveTextFrame,
  LLMTextFrame,
  MetricsFrame,
  TTSAudioRawFrame,
  TTSStartedFrame,
  TTSStoppedFrame,
  TTSTextFrame,
} from "../../../src/index.js";
import { runTest, Sleep } from "../../../src/testing/index.js";
import type {
  ContextEnd,
  SynthesisOutput,
  SynthesisRequest,
  TTSServiceOptions,
} from "../../../src/services/tts/tts-service.js";
import { HELD_SPEECH_UNCLAIMED_MS } from "../../../src/services/tts/held-speech.js";
import { startRealTimeTask } from "../../support/task.js";
import { ToneTTS } from "./tone-tts.js";
import { guess, answer } from "./preemptive-frames.js";

/** ToneTTS that also says which contexts it was told about, and can misbehave on request. */
class WatchedTTS extends ToneTTS {
  readonly requests: Array<{ text: string; contextId: string; index: number }> = [];
  readonly ended: Array<{ contextId: string; reason: ContextEnd }> = [];
  /** Engine runs whose `finally` has run (each run lets go once). */
  released = 0;
  /** What the engine does with a text: "tone" (the default), "fail", "endless" audio, or "stall" after one chunk. */
  behaviour: (text: string) => "tone" | "fail" | "endless" | "stall" = () => "tone";

  constructor(options: TTSServiceOptions = {}) {
    super({ chunkMs: 20, ...options });
  }

  protected override async *synthesize(
    text: string,
    signal: AbortSignal,
    request?: SynthesisRequest,
  ): AsyncIterable<SynthesisOutput> {
    this.requests.push({ text, contextId: request!.contextId, index: request!.index });
    try {
      const how = this.behaviour(text);
      if (how === "fail") throw new Error("the engine broke");
      if (how === "endless") {
        for (;;) {
          if (signal.aborted) throw signal.reason;
          await Promise.resolve();
          yield new Int16Array(16_000); // a second of audio per chunk, forever
        }
      }
      if (how === "stall") {
        yield new Int16Array(320);
        await new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)));
      }
      yield* super.synthesize(text, signal, request);
    } finally {
      this.released++;
    }
  }

  protected override endContext(contextId: string, reason: ContextEnd): void {
    this.ended.push({ contextId, reason });
  }
}

const samples = (down: Frame[]): number =>
  down
    .filter((f): f is TTSAudioRawFrame => f instanceof TTSAudioRawFrame)
    .reduce((n, f) => n + f.numFrames, 0);
const usage = (down: Frame[]): number[] =>
  down
    .filter((f): f is MetricsFrame => f instanceof MetricsFrame)
    .flatMap((f) => f.data)
    .filter((d) => d.kind === "tts_usage")
    .map((d) => d.value as number);

/** The same answer spoken with no guess before it: what a claimed one must be indistinguishable from. */
async function spokenFresh(...texts: string[]) {
  const tts = new WatchedTTS();
  const { down } = await runTest(tts, { framesToSend: answer(...texts) });
  return { tts, down };
}

describe("preemptive speech (TTS base)", () => {
  it("a guess whose first sentence the answer begins with is synthesised once, ahead, and spoken as a fresh one would be", async () => {
    const tts = new WatchedTTS();
    const { down } = await runTest(tts, {
      framesToSend: [...guess(7, "Sure", ". ", "And more"), new Sleep(50), ...answer("Sure. ", "And more.")],
    });
    const fresh = await spokenFresh("Sure. ", "And more.");
    // Synthesised ahead: the first sentence went to the engine before the answer came, once.
    expect(tts.requests.map((r) => r.text)).toEqual(["Sure. ", "And more."]);
    expect(tts.preemptiveSpeechUsed).toBe(1);
    expect(tts.preemptiveSpeechDiscarded).toBe(0);
    // The response goes on in the context the guess began: index 0 then 1, one context, ended once.
    expect(tts.requests.map((r) => r.index)).toEqual([0, 1]);
    expect(new Set(tts.requests.map((r) => r.contextId)).size).toBe(1);
    expect(tts.ended).toEqual([{ contextId: tts.requests[0]!.contextId, reason: "finished" }]);
    // The same frames, audio and texts as without the guess; the guess's own frames are consumed.
    const names = (frames: Frame[]) =>
      frames.filter((f) => !(f instanceof MetricsFrame)).map((f) => f.constructor.name);
    expect(names(down)).toEqual(names(fresh.down));
    expect(down.some((f) => f instanceof LLMPreemptiveTextFrame)).toBe(false);
    expect(samples(down)).toBe(samples(fresh.down));
    const started = down.find((f): f is TTSStartedFrame => f instanceof TTSStartedFrame)!;
    expect(started.contextId).toBe(tts.requests[0]!.contextId);
    expect(
      down.filter((f) => f instanceof TTSAudioRawFrame).every((f) => f.contextId === started.contextId),
    ).toBe(true);
    // Characters are counted once each, as sent.
    expect(usage(down)).toEqual(usage(fresh.down));
  });

  it("nothing of a guess is pushed before its answer comes", async () => {
    const tts = new WatchedTTS();
    const seen: Frame[] = [];
    const { down } = await runTest(tts, {
      framesToSend: [...guess(1, "Hello there."), new Sleep(500)],
      taskOptions: {
        observers: [{ onPushFrame: ({ frame, source }) => void (source === tts && seen.push(frame)) }],
      },
    });
    expect(tts.requests.map((r) => r.text)).toEqual(["Hello there."]);
    // Only the usage of what was sent (a guess is paid for): no audio, no started frame, no text.
    expect(
      seen.filter(
        (f) => f instanceof TTSAudioRawFrame || f instanceof TTSStartedFrame || f instanceof TTSTextFrame,
      ),
    ).toEqual([]);
    expect(usage(down)).toEqual(["Hello there.".length]);
  });

  it("an answer that begins otherwise discards the guess (its context cancelled) and speaks its own words", async () => {
    const tts = new WatchedTTS();
    const { down } = await runTest(tts, {
      framesToSend: [...guess(1, "Sure."), new Sleep(50), ...answer("No.")],
    });
    expect(tts.requests.map((r) => r.text)).toEqual(["Sure.", "No."]);
    expect(tts.preemptiveSpeechUsed).toBe(0);
    expect(tts.preemptiveSpeechDiscarded).toBe(1);
    expect(tts.ended).toEqual([
      { contextId: tts.requests[0]!.contextId, reason: "interrupted" },
      { contextId: tts.requests[1]!.contextId, reason: "finished" },
    ]);
    expect(tts.requests[0]!.contextId).not.toBe(tts.requests[1]!.contextId);
    expect(samples(down)).toBe(samples((await spokenFresh("No.")).down));
    expect(tts.released).toBe(2);
  });

  it("an interruption, a newer guess, the end and cancel each discard the held speech", async () => {
    for (const between of [[new InterruptionFrame()], guess(2, "Other words.")] as Frame[][]) {
      const tts = new WatchedTTS();
      const { down } = await runTest(tts, {
        framesToSend: [...guess(1, "Sure."), new Sleep(50), ...between, new Sleep(50), ...answer("Sure.")],
      });
      // The first guess's context was cancelled; the answer was synthesised again (or from guess 2: no).
      expect(tts.ended[0]).toEqual({ contextId: tts.requests[0]!.contextId, reason: "interrupted" });
      expect(tts.requests.at(-1)!.text).toBe("Sure.");
      expect(tts.requests.length).toBe(between.length === 1 ? 2 : 3);
      expect(samples(down)).toBe(samples((await spokenFresh("Sure.")).down));
      expect(tts.released).toBe(tts.requests.length);
    }
    for (const sendEndFrame of [true, false]) {
      const tts = new WatchedTTS({});
      tts.behaviour = () => "endless";
      const { task } = await runTest(tts, {
        framesToSend: [...guess(1, "Sure."), new Sleep(20)],
        sendEndFrame,
      });
      if (!sendEndFrame) await task.cancel();
      expect(tts.ended).toEqual([{ contextId: tts.requests[0]!.contextId, reason: "interrupted" }]);
      expect(tts.released).toBe(1);
    }
  });

  it(`a guess nobody claims is let go after ${HELD_SPEECH_UNCLAIMED_MS} ms; the answer after that is synthesised afresh`, async () => {
    const tts = new WatchedTTS();
    const { down } = await runTest(tts, {
      framesToSend: [...guess(1, "Sure."), new Sleep(HELD_SPEECH_UNCLAIMED_MS + 10), ...answer("Sure.")],
    });
    expect(tts.ended[0]).toEqual({ contextId: tts.requests[0]!.contextId, reason: "interrupted" });
    expect(tts.requests.map((r) => r.text)).toEqual(["Sure.", "Sure."]);
    expect(tts.preemptiveSpeechUsed).toBe(0);
    expect(samples(down)).toBe(samples((await spokenFresh("Sure.")).down));
  });

  it("an engine that fails, or makes endless audio, for a guess: dropped quietly and bounded; the answer is spoken", async () => {
    for (const how of ["fail", "endless"] as const) {
      const tts = new WatchedTTS();
      let first = true;
      tts.behaviour = () => (first ? ((first = false), how) : "tone");
      const { down, up } = await runTest(tts, {
        framesToSend: [...guess(1, "Sure."), new Sleep(200), ...answer("Sure.")],
      });
      expect(tts.requests.map((r) => r.text)).toEqual(["Sure.", "Sure."]);
      expect(tts.released).toBe(2);
      expect(up.filter((f) => f instanceof ErrorFrame)).toEqual([]); // a guess's failure is nobody's
      expect(samples(down)).toBe(samples((await spokenFresh("Sure.")).down));
    }
  });

  it("after the claim the engine's stall is the piece's stall: reported once as such, the next sentence spoken", async () => {
    // A real clock: the engine's wait counts as real I/O, which a virtual clock would wait out.
    const tts = new WatchedTTS({ stallTimeoutMs: 200 });
    tts.behaviour = (text) => (text === "Sure. " ? "stall" : "tone");
    const { task, errors, done, recorder, whenStarted } = startRealTimeTask([tts]);
    await whenStarted();
    task.queueFrames(guess(1, "Sure. ", "Go"));
    await vi.waitFor(() => expect(tts.requests.length).toBe(1), { timeout: 2_000, interval: 5 });
    task.queueFrames(answer("Sure. ", "Go on."));
    await vi.waitFor(() => expect(tts.requests.length).toBe(2), { timeout: 2_000, interval: 5 });
    await task.stopWhenDone();
    expect((await done).how).toBe("ended");
    expect(errors.map((e) => e.error.name)).toEqual(["TTSTimeoutError"]);
    expect(errors[0]!.error.message).toContain("stallTimeoutMs");
    expect(tts.requests.map((r) => r.text)).toEqual(["Sure. ", "Go on."]);
    const down = recorder.frames;
    expect(down.filter((f) => f instanceof TTSTextFrame).map((f) => (f as TTSTextFrame).text)).toEqual([
      "Go on.",
    ]);
    expect(down.some((f) => f instanceof TTSStoppedFrame)).toBe(true);
    expect(tts.released).toBe(2);
  });

  it("nothing is synthesised ahead while an answer is being spoken, or with preemptiveSpeech off", async () => {
    const speaking = new WatchedTTS();
    await runTest(speaking, {
      framesToSend: [
        new LLMFullResponseStartFrame(),
        new LLMTextFrame("Still talking. "),
        ...guess(1, "Sure."),
        new LLMFullResponseEndFrame(),
      ],
    });
    expect(speaking.requests.map((r) => r.text)).toEqual(["Still talking. "]);
    const off = new WatchedTTS({ preemptiveSpeech: false });
    await runTest(off, { framesToSend: [...guess(1, "Sure."), new Sleep(50), ...answer("Sure.")] });
    expect(off.requests.map((r) => r.text)).toEqual(["Sure."]);
    expect(off.preemptiveSpeechUsed + off.preemptiveSpeechDiscarded).toBe(0);
  });

  it("preemptiveSpeech that is not a boolean is refused with a clear error (a string would have turned it on)", () => {
    for (const bad of ["false", 0, null, {}]) {
      expect(() => new WatchedTTS({ preemptiveSpeech: bad as unknown as boolean })).toThrow(
        /preemptiveSpeech must be true or false/,
      );
    }
    expect(() => new WatchedTTS({ preemptiveSpeech: false })).not.toThrow();
  });
});

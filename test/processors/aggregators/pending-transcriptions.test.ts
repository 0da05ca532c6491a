/**
 * The user aggregator and a segmented STT's pending transcriptions, on the VirtualClock
 * (docs/design/conversation.md, "The bounded wait after the stop"): the stop waits for what is
 * pending, an empty or failed answer ends the wait at once, and nothing stale or unbounded is left
 * by an interruption, a lost frame or a cancel. The frames are scripted as the service pushes them
 * (segmented-support.ts says why); the loopback HTTP regression is segmented-stt-turns.test.ts.
 */
import { afterEach, describe, expect, it } from "vitest";
import {
  type Frame,
  type FrameDirection,
  FrameProcessor,
  InterruptionFrame,
  MinWordsStartStrategy,
  SpeechTimeoutStopStrategy,
  TranscriptionFrame,
  TranscriptionPendingFrame,
  TranscriptionSettledFrame,
  TranscriptionStartStrategy,
} from "../../../src/index.js";
import { final, turnHarness } from "../../turns/support.js";
import { SettledDropper, segmentedTurns } from "./segmented-support.js";

/**
 * Takes `ms` of the clock to pass an InterruptionFrame on, as a long pipeline before the turn
 * processor may; direct, so the frames behind it are not paused with the interruption.
 */
class SlowInterruption extends FrameProcessor {
  constructor(private readonly ms: number) {
    super({ name: "slow-interruption", direct: true });
  }
  override async processFrame(frame: Frame, direction: FrameDirection): Promise<void> {
    if (frame instanceof InterruptionFrame) await this.clock.waitUntil(this.clock.now() + this.ms);
    await super.processFrame(frame, direction);
  }
}

type Session = Awaited<ReturnType<typeof segmentedTurns>>;
const sessions: Session[] = [];
afterEach(async () => {
  for (const s of sessions.splice(0)) if (!s.task.hasFinished()) await s.finish();
});

async function session(options: Parameters<typeof segmentedTurns>[0] = {}): Promise<Session> {
  const s = await segmentedTurns(options);
  sessions.push(s);
  return s;
}

/** "book a table" … a pause shorter than the 200 ms speech timeout … a second segment; its number. */
async function twoSegments(s: Session): Promise<number> {
  const first = await s.speak(400);
  await s.pause(50);
  await s.answer(first, "book a table");
  await s.pause(50);
  const second = await s.speak(300);
  await s.pause(200); // the speech timeout ends the turn: the second answer is still to come
  expect(s.of("stop")).toHaveLength(1);
  return second;
}

describe("the user aggregator waits at the stop for a pending transcription", () => {
  it("commits the moment the last answer comes, with both segments' words, one LLM run", async () => {
    const s = await session();
    const second = await twoSegments(s);
    expect(s.of("commit")).toEqual([]);
    await s.pause(300);
    await s.answer(second, "for two");
    await s.pause(2_000);
    expect(s.of("commit")).toEqual([
      { kind: "commit", atMs: s.of("answer")[1]!.atMs, text: "book a table for two" },
    ]);
    expect(s.runs()).toBe(1);
  });

  it("an empty answer ends the wait at once: the turn commits then, not transcriptWaitMs after the stop", async () => {
    const s = await session();
    const second = await twoSegments(s);
    await s.pause(200);
    await s.answer(second, "");
    const stop = s.of("stop")[0]!;
    expect(s.of("commit")).toEqual([{ kind: "commit", atMs: stop.atMs + 200, text: "book a table" }]);
    await s.pause(2_000);
    expect(s.runs()).toBe(1);
  });

  it("a turn whose only segment is heard as nothing is empty the moment the answer comes", async () => {
    const s = await session();
    const n = await s.speak(300);
    await s.pause(300);
    await s.answer(n, "");
    expect(s.of("empty")).toEqual([{ kind: "empty", atMs: s.of("stop")[0]!.atMs + 100 }]);
    await s.pause(2_000);
    expect(s.of("commit")).toEqual([]);
    expect(s.runs()).toBe(0);
  });

  it("an answer that came before the stop leaves nothing pending: an empty turn ends at the stop, no wait", async () => {
    const s = await session();
    const n = await s.speak(300);
    await s.pause(50);
    await s.answer(n, "");
    await s.pause(500);
    const stop = s.of("stop")[0]!;
    expect(s.of("empty")).toEqual([{ kind: "empty", atMs: stop.atMs }]);
  });

  it("two transcriptions pending at the stop: the turn waits for both, in whatever order they answer", async () => {
    const s = await session();
    const first = await s.speak(400);
    await s.pause(100);
    const second = await s.speak(300);
    await s.pause(250);
    expect(s.of("stop")).toHaveLength(1);
    await s.answer(second, "for two");
    expect(s.of("commit")).toEqual([]);
    await s.pause(100);
    await s.answer(first, "book a table");
    expect(s.of("commit")).toEqual([{ kind: "commit", atMs: s.clock.now(), text: "for two book a table" }]);
    await s.pause(2_000);
    expect(s.runs()).toBe(1);
  });

  it("never waits past transcriptWaitMs: a slower answer is a turn of its own", async () => {
    const s = await session();
    const second = await twoSegments(s);
    await s.pause(1_500);
    await s.answer(second, "for two");
    await s.pause(1_000);
    const stop = s.of("stop")[0]!;
    expect(s.of("commit")).toEqual([
      { kind: "commit", atMs: stop.atMs + 1_000, text: "book a table" },
      { kind: "commit", atMs: s.of("answer")[1]!.atMs, text: "for two" },
    ]);
  });
});

describe("a final that does not come in time", () => {
  it("a segmented STT whose settled count lags: every stop waits transcriptWaitMs, said once, counted", async () => {
    const s = await session();
    for (const words of ["book a table", "for two", "at eight"]) {
      await s.speak(400);
      // The words come, but the STT never says the request was answered: its settled count lags.
      await s.send(new TranscriptionFrame(words, "user", s.clock.now()));
      await s.pause(1_500);
    }
    const stops = s.of("stop");
    expect(s.of("commit")).toEqual(
      ["book a table", "for two", "at eight"].map((text, i) => ({
        kind: "commit",
        atMs: stops[i]!.atMs + 1_000,
        text,
      })),
    );
    expect(s.user.transcriptWaitsExpired).toBe(3);
    const said = s.lines.filter((l) => l.message.includes("transcriptWaitMs"));
    expect(said).toHaveLength(1);
    expect(said[0]!.level).toBe("warn");
    expect(said[0]!.message).toMatch(/push a TranscriptionSettledFrame for every TranscriptionPendingFrame/);
  });

  it("a stop that waited for nothing (no interim, nothing pending) is not counted", async () => {
    const s = await session();
    const first = await s.speak(400);
    await s.pause(50);
    await s.answer(first, "book a table");
    await s.pause(2_000);
    expect(s.of("commit")).toHaveLength(1);
    expect(s.user.transcriptWaitsExpired).toBe(0);
    expect(s.lines.filter((l) => l.message.includes("transcriptWaitMs"))).toEqual([]);
  });
});

describe("nothing stale is left", () => {
  it("the user resumes while a transcription is pending: its words join the new turn, and the next turn is not delayed", async () => {
    const s = await session();
    const first = await s.speak(400);
    await s.pause(300); // the turn stopped at 200 ms and waits for the first answer
    await s.startSpeech(); // the user resumes: a new turn, an interruption…
    await s.pause(100);
    await s.answer(first, "book a table"); // …and the answer comes meanwhile
    await s.pause(200);
    const second = await s.stopSpeech();
    await s.pause(50);
    await s.answer(second, "for two");
    await s.pause(1_500);
    const third = await s.speak(200);
    await s.pause(50);
    await s.answer(third, "thanks");
    await s.pause(1_500);
    expect(s.of("start")).toHaveLength(3);
    expect(s.of("commit").map((c) => c.text)).toEqual(["book a table for two", "thanks"]);
    // Turn 3's answer came before its stop: nothing pending, so it commits at the stop itself.
    expect(s.of("commit")[1]!.atMs).toBe(s.of("stop")[2]!.atMs);
    expect(s.runs()).toBe(2);
  });

  it("an interruption while the stop waits does not drop the settled frame: the commit still comes with the answer", async () => {
    const s = await session();
    const second = await twoSegments(s);
    s.task.queueFrame(new InterruptionFrame());
    await s.pause(100);
    await s.answer(second, "for two");
    expect(s.of("commit")).toEqual([{ kind: "commit", atMs: s.clock.now(), text: "book a table for two" }]);
  });

  it("an interruption between the last words and the stop does not make the turn's LLM run stale", async () => {
    // The answer comes while the VAD hears nothing: the speech timeout restarts from it, inside the
    // turn processor's lane, whose turn the interruption then ends. The stop that timer decides
    // must still run the LLM (found by the property test).
    const s = await session();
    const n = await s.speak(300);
    await s.pause(50);
    await s.answer(n, "hello");
    await s.send(new InterruptionFrame());
    await s.pause(1_000);
    expect(s.of("commit").map((c) => c.text)).toEqual(["hello"]);
    expect(s.runs()).toBe(1);
  });

  it("a settled frame lost on its way costs at most transcriptWaitMs once; the next request's totals put it right", async () => {
    const s = await session({ between: [new SettledDropper(1)] });
    const first = await s.speak(300);
    await s.pause(50);
    await s.answer(first, "hello"); // its settled frame is lost
    await s.pause(2_000);
    const second = await s.speak(300); // its pending frame says 1 of 2 settled
    await s.pause(50);
    await s.answer(second, "book a table");
    await s.pause(2_000);
    const [stop1, stop2] = s.of("stop");
    const commits = s.of("commit");
    expect(commits.map((c) => c.text)).toEqual(["hello", "book a table"]);
    expect(commits[0]!.atMs - stop1!.atMs).toBe(1_000); // the wait's bound, never more
    expect(commits[1]!.atMs).toBe(stop2!.atMs); // put right: no wait at all
  });

  it("cancel while the stop waits on a pending transcription ends at once and leaves no timer", async () => {
    const s = await session();
    await twoSegments(s);
    expect(s.user.inTurn).toBe(true);
    const before = s.clock.now();
    void s.task.cancel("test");
    await s.clock.runUntil(s.done, { maxMs: 60_000 });
    expect(s.clock.now() - before).toBeLessThanOrEqual(200);
    expect(s.user.inTurn).toBe(false);
    expect(s.clock.pendingTimers).toBe(0);
    expect(s.of("commit")).toEqual([]);
  });
});

describe("the pending frames mislead no turn strategy", () => {
  it("a settled frame stays behind its transcript when the turn processor holds the transcript for the interruption", async () => {
    const h = await turnHarness({ startStrategies: [new TranscriptionStartStrategy()] }, [
      new SlowInterruption(50),
    ]);
    // The transcript starts the turn, which asks for an interruption: it is held until that passes
    // (50 ms here: the interruption comes from the head of the pipeline, through the processors
    // before this one), and the settled frame behind it must wait with it.
    await h.send(final("hello"), new TranscriptionSettledFrame(1, "stt", 1, 1));
    await h.advance(100);
    const order = h.down.frames
      .filter((f) => f instanceof TranscriptionFrame || f instanceof TranscriptionSettledFrame)
      .map((f) => f.constructor.name);
    expect(order).toEqual(["TranscriptionFrame", "TranscriptionSettledFrame"]);
    await h.finish();
  });

  it("they start no turn (transcription or min-words start) and do not restart the speech timeout", async () => {
    const h = await turnHarness({
      startStrategies: [new TranscriptionStartStrategy(), new MinWordsStartStrategy({ minWords: 1 })],
      stopStrategies: [new SpeechTimeoutStopStrategy({ timeoutMs: 300 })],
    });
    await h.send(
      new TranscriptionPendingFrame(1, "stt", 1, 0),
      new TranscriptionSettledFrame(1, "stt", 1, 1),
    );
    await h.advance(1_000);
    expect(h.events).toEqual([]);
    await h.send(final("hello")); // a transcript does start one
    await h.advance(100);
    await h.send(new TranscriptionPendingFrame(1, "stt", 2, 1));
    await h.advance(150);
    await h.send(new TranscriptionSettledFrame(1, "stt", 2, 2));
    await h.advance(1_000);
    expect(h.events.map((e) => e.kind)).toEqual(["start", "stop"]);
    expect(h.events[1]!.atMs - h.events[0]!.atMs).toBe(300); // the pending frames did not move the timeout
    expect(h.down.ofType(TranscriptionPendingFrame)).toHaveLength(2); // and they pass on
    expect(h.down.ofType(TranscriptionSettledFrame)).toHaveLength(2);
    await h.finish();
  });
});

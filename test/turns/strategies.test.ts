import { afterEach, describe, expect, it } from "vitest";
import { InvalidOptionError } from "../../src/errors.js";
import { FunctionCallCancelFrame, FunctionCallResultFrame } from "../../src/frames/function-calls.js";
import { InterruptionFrame, InterruptionTaskFrame } from "../../src/frames/lifecycle.js";
import {
  BotStartedSpeakingFrame,
  BotStoppedSpeakingFrame,
  UserSpeakingFrame,
  UserStartedSpeakingFrame,
  VADUserStartedSpeakingFrame,
  VADUserStoppedSpeakingFrame,
} from "../../src/frames/speaking.js";
import { TTSSpeakFrame, TextFrame, TranscriptionFrame } from "../../src/frames/text.js";
import { STTEndOfTurnFrame } from "../../src/frames/turn.js";
import { UserTurnProcessor } from "../../src/processors/user-turn-processor.js";
import {
  AlwaysMuteStrategy,
  FirstBotAnswerMuteStrategy,
  FunctionCallMuteStrategy,
  MinWordsStartStrategy,
  STTEndOfTurnStopStrategy,
  SpeechTimeoutStopStrategy,
  TranscriptionStartStrategy,
  VADStartStrategy,
  VADStopStrategy,
} from "../../src/turns/index.js";
import {
  type TurnHarness,
  call,
  callsStarted,
  final,
  interim,
  turnFrames,
  turnHarness,
  up,
} from "./support.js";

const open: TurnHarness[] = [];
async function harness(...args: Parameters<typeof turnHarness>): Promise<TurnHarness> {
  const h = await turnHarness(...args);
  open.push(h);
  return h;
}
afterEach(async () => {
  for (const h of open.splice(0)) {
    if (!h.task.hasFinished()) await h.finish();
    expect(h.clock.pendingTimers, "no timer outlives the task").toBe(0);
  }
});

const vadStart = (): VADUserStartedSpeakingFrame => new VADUserStartedSpeakingFrame(200);
const vadStop = (): VADUserStoppedSpeakingFrame => new VADUserStoppedSpeakingFrame(200);

describe("speech timeout stop strategy", () => {
  it("ends the turn timeoutMs after the later of the VAD stop and the last transcript", async () => {
    const h = await harness({ stopStrategies: [new SpeechTimeoutStopStrategy({ timeoutMs: 600 })] });
    await h.send(vadStart());
    await h.advance(1000);
    await h.send(vadStop()); // t = 1000: the clock starts
    await h.advance(300);
    await h.send(interim("book a table")); // t = 1300: starts again
    await h.advance(200);
    await h.send(final("book a table")); // t = 1500: and again
    await h.advance(599);
    expect(h.turns.inTurn).toBe(true);
    await h.advance(1);
    expect(h.events.map((e) => [e.kind, e.atMs])).toEqual([
      ["start", 0],
      ["stop", 2100],
    ]);
    expect(h.events[1]!.strategy).toBe("SpeechTimeoutStopStrategy");
    // The transcripts are forwarded, after the turn's start, in order.
    const texts = h.down.frames.filter((f) => f instanceof TextFrame).map((f) => (f as TextFrame).text);
    expect(texts).toEqual(["book a table", "book a table"]);
  });

  it("a VAD start stops the clock; transcripts while the VAD hears speech never start it", async () => {
    const h = await harness({ stopStrategies: [new SpeechTimeoutStopStrategy({ timeoutMs: 600 })] });
    await h.send(vadStart());
    await h.advance(100);
    await h.send(vadStop());
    await h.advance(500);
    await h.send(vadStart()); // resumes before the timeout
    for (let i = 0; i < 10; i++) {
      await h.advance(300);
      await h.send(interim(`word ${i}`), new UserSpeakingFrame());
    }
    expect(h.turns.inTurn).toBe(true);
    await h.send(vadStop());
    await h.advance(600);
    expect(h.events.map((e) => e.kind)).toEqual(["start", "stop"]);
  });

  it("never ends a turn started mid-speech by words while the VAD still hears the user (peer bug: a reset cleared the VAD state)", async () => {
    const h = await harness({
      startStrategies: [new MinWordsStartStrategy({ minWords: 3 })],
      stopStrategies: [new SpeechTimeoutStopStrategy({ timeoutMs: 600 })],
    });
    await h.send(up(new BotStartedSpeakingFrame()));
    await h.send(vadStart()); // the bot speaks: no turn yet
    expect(h.turns.inTurn).toBe(false);
    await h.advance(300);
    await h.send(interim("wait"));
    expect(h.turns.inTurn).toBe(false);
    await h.advance(300);
    await h.send(interim("wait a second")); // 3 words: the turn starts, the VAD still hears speech
    expect(h.turns.inTurn).toBe(true);
    // The user keeps talking for 3 s: transcripts keep coming, the VAD never stops.
    for (let i = 0; i < 10; i++) {
      await h.advance(300);
      await h.send(interim(`wait a second I ${i}`), new UserSpeakingFrame());
    }
    // The STT goes quiet for 2 s (a long word, a slow provider) while the VAD still hears the user.
    for (let i = 0; i < 10; i++) {
      await h.advance(200);
      await h.send(new UserSpeakingFrame());
    }
    expect(h.turns.inTurn).toBe(true);
    await h.send(vadStop());
    await h.advance(600);
    expect(h.turns.inTurn).toBe(false);
    expect(h.events.filter((e) => e.kind === "stop")).toHaveLength(1);
  });
});

describe("start strategies", () => {
  it("a transcript starts the turn when the VAD missed the speech, and its words survive the interruption it causes", async () => {
    const h = await harness({
      startStrategies: [new VADStartStrategy(), new TranscriptionStartStrategy()],
      stopStrategies: [new SpeechTimeoutStopStrategy({ timeoutMs: 500 })],
    });
    await h.send(final("quiet words"));
    await h.advance(10);
    expect(h.events[0]).toMatchObject({ kind: "start", strategy: "TranscriptionStartStrategy" });
    const order = h.down.frames.map((f) => f.constructor.name).filter((n) => n !== "StartFrame");
    // The turn starts, the interruption passes, then the words that started it follow it.
    expect(order).toEqual(["UserStartedSpeakingFrame", "InterruptionFrame", "TranscriptionFrame"]);
    expect(h.up.frames.some((f) => f instanceof InterruptionTaskFrame)).toBe(true);
    await h.advance(500); // no VAD stop will come: the speech timeout started with the turn
    expect(h.events.map((e) => [e.kind, e.atMs])).toEqual([
      ["start", 0],
      ["stop", 500],
    ]);
  });

  it("empty transcripts start nothing; with interim off only finals start a turn", async () => {
    const h = await harness({
      startStrategies: [new TranscriptionStartStrategy({ interim: false })],
      stopStrategies: [new SpeechTimeoutStopStrategy()],
    });
    await h.send(final("   "), interim("hello"));
    expect(h.turns.turns).toBe(0);
    await h.send(final("hello"));
    expect(h.turns.turns).toBe(1);
  });

  it("min words: while the bot speaks, a cough or an 'uh-huh' does not start the turn; N words do and interrupt", async () => {
    const h = await harness({ startStrategies: [new MinWordsStartStrategy({ minWords: 3 })] });
    await h.send(up(new BotStartedSpeakingFrame()));
    await h.send(vadStart());
    await h.send(interim("uh-huh"), final("uh-huh"));
    await h.send(vadStop());
    expect(h.turns.turns).toBe(0);
    await h.send(vadStart()); // a new stretch of speech: counted from zero
    await h.send(final("no")); // a final, then interims of the words after it (Deepgram's way)
    await h.send(interim("wait"));
    expect(h.turns.turns).toBe(0);
    await h.send(interim("wait stop"));
    expect(h.turns.turns).toBe(1);
    expect(h.down.frames.some((f) => f instanceof InterruptionFrame)).toBe(true);
    await h.send(vadStop()); // default stop strategy: the VAD's
    expect(h.turns.inTurn).toBe(false);
    // The bot is silent: a VAD start is enough.
    await h.send(up(new BotStoppedSpeakingFrame()), vadStart());
    expect(h.turns.turns).toBe(2);
  });

  it("rejects a minWords that is not a whole number from 1 to 100", () => {
    expect(() => new MinWordsStartStrategy({ minWords: 0 })).toThrow(/minWords must be a whole number/);
    expect(() => new MinWordsStartStrategy({ minWords: 2.5 })).toThrow(InvalidOptionError);
  });
});

describe("the STT provider's end of turn", () => {
  it("ends the turn at once when the VAD is silent, and at the VAD stop when the provider was faster than the VAD", async () => {
    const h = await harness({ stopStrategies: [new STTEndOfTurnStopStrategy()] });
    await h.send(vadStart(), final("book a table"));
    await h.send(new STTEndOfTurnFrame("speech_final", 0)); // the VAD still hears the tail of the speech
    expect(h.turns.inTurn).toBe(true);
    await h.send(vadStop());
    expect(h.events.map((e) => e.kind)).toEqual(["start", "stop"]);
    expect(h.events[1]!.reason).toContain("at the VAD stop");
    const names = h.down.frames.map((f) => f.constructor.name);
    expect(names.indexOf("TranscriptionFrame")).toBeLessThan(names.indexOf("UserStoppedSpeakingFrame"));
  });

  it("waits for the provider's next decision when the user went on after its end of turn", async () => {
    const h = await harness({ stopStrategies: [new STTEndOfTurnStopStrategy()] });
    await h.send(vadStart(), final("book a table"), new STTEndOfTurnFrame("speech_final", 0));
    await h.send(interim("for two")); // words after the provider's end of turn: the user went on
    await h.send(vadStop());
    expect(h.turns.inTurn).toBe(true); // the VAD stop alone does not end it
    await h.send(final("for two"), new STTEndOfTurnFrame("utterance_end", 0));
    expect(h.events.map((e) => e.kind)).toEqual(["start", "stop"]);
    expect(h.events[1]!.reason).toContain("utterance_end");
  });
});

describe("mute strategies", () => {
  it("during function calls: no turn, no interruption, transcripts dropped; unmuted when every call settled", async () => {
    const h = await harness({ muteStrategies: [new FunctionCallMuteStrategy()] });
    await h.send(up(callsStarted("a", "b")));
    expect(h.turns.muted).toBe(true);
    await h.send(vadStart(), interim("hello"), final("hello"), vadStop());
    expect(h.turns.turns).toBe(0);
    expect(h.up.frames.some((f) => f instanceof InterruptionTaskFrame)).toBe(false);
    expect(h.down.frames.some((f) => f instanceof TranscriptionFrame)).toBe(false);
    expect(h.turns.stats.droppedTranscripts).toBe(2);
    await h.send(up(new FunctionCallResultFrame(call("a"), "12:00")));
    expect(h.turns.muted).toBe(true);
    await h.send(up(new FunctionCallCancelFrame(call("b"))));
    expect(h.turns.muted).toBe(false);
    expect(turnFrames(h.down.frames)).toEqual(["mute", "unmute"]);
    expect(turnFrames(h.up.frames)).toEqual(["mute", "unmute"]);
    await h.send(vadStart());
    expect(h.turns.turns).toBe(1);
  });

  it("until the first bot answer is complete: muted from the start, heard after the first BotStoppedSpeakingFrame", async () => {
    const h = await harness({ muteStrategies: [new FirstBotAnswerMuteStrategy()] });
    expect(h.turns.muted).toBe(true);
    await h.send(up(new BotStoppedSpeakingFrame())); // not after a start: not the answer
    expect(h.turns.muted).toBe(true);
    await h.send(up(new BotStartedSpeakingFrame()), vadStart());
    expect(h.turns.turns).toBe(0);
    await h.send(up(new BotStoppedSpeakingFrame()));
    expect(h.turns.muted).toBe(false);
    await h.send(up(new BotStartedSpeakingFrame()), up(new BotStoppedSpeakingFrame()));
    expect(turnFrames(h.down.frames)).toEqual(["mute", "unmute"]);
  });

  it("a bot that never speaks mutes the user for maxMuteMs at most, said once", async () => {
    const h = await harness({ muteStrategies: [new FirstBotAnswerMuteStrategy({ maxMuteMs: 2000 })] });
    await h.advance(1999);
    expect(h.turns.muted).toBe(true);
    await h.advance(1);
    expect(h.turns.muted).toBe(false);
    expect(h.lines.filter((l) => l.message.includes("maxMuteMs"))).toHaveLength(1);
  });

  it("always: mutes every time the bot speaks", async () => {
    const h = await harness({ muteStrategies: [new AlwaysMuteStrategy()] });
    for (let i = 0; i < 3; i++) {
      await h.send(
        up(new BotStartedSpeakingFrame()),
        vadStart(),
        vadStop(),
        up(new BotStoppedSpeakingFrame()),
      );
    }
    expect(h.turns.turns).toBe(0);
    expect(turnFrames(h.down.frames)).toEqual(["mute", "unmute", "mute", "unmute", "mute", "unmute"]);
  });
});

describe("user idle", () => {
  it("emits userIdle after the bot stops, counts idles in a row, lets the handler speak, and resets on a user turn", async () => {
    const h = await harness({ userIdleTimeoutMs: 3000 });
    const counts: number[] = [];
    h.turns.on("userIdle", (e) => {
      counts.push(e.count);
      e.push(new TTSSpeakFrame("Are you still there?"));
    });
    await h.advance(10_000);
    expect(counts).toEqual([]); // off until the bot spoke
    await h.send(up(new BotStartedSpeakingFrame()), up(new BotStoppedSpeakingFrame()));
    await h.advance(2999);
    expect(counts).toEqual([]);
    await h.advance(1);
    expect(counts).toEqual([1]);
    expect(h.down.frames.filter((f) => f instanceof TTSSpeakFrame)).toHaveLength(1);
    await h.send(up(new BotStartedSpeakingFrame()), up(new BotStoppedSpeakingFrame()));
    await h.advance(3000);
    expect(counts).toEqual([1, 2]);
    await h.send(vadStart(), vadStop(), up(new BotStartedSpeakingFrame()), up(new BotStoppedSpeakingFrame()));
    await h.advance(3000);
    expect(counts).toEqual([1, 2, 1]);
  });

  it("is suppressed during a user turn and during function calls", async () => {
    const h = await harness({ userIdleTimeoutMs: 1000, userTurnStopTimeoutMs: 60_000 });
    const counts: number[] = [];
    h.turns.on("userIdle", (e) => void counts.push(e.count));
    await h.send(vadStart(), up(new BotStartedSpeakingFrame()), up(new BotStoppedSpeakingFrame()));
    await h.advance(5000);
    expect(counts).toEqual([]); // the user is speaking
    await h.send(
      vadStop(),
      up(callsStarted("x")),
      up(new BotStartedSpeakingFrame()),
      up(new BotStoppedSpeakingFrame()),
    );
    await h.advance(5000);
    expect(counts).toEqual([]); // a call runs
    await h.send(up(new FunctionCallResultFrame(call("x"), "ok")));
    await h.advance(1000);
    expect(counts).toEqual([1]);
  });
});

describe("the turn-stop watchdog", () => {
  it("ends a turn that never gets a stop after userTurnStopTimeoutMs without a sign of the user, said once", async () => {
    const h = await harness({ userTurnStopTimeoutMs: 5000 });
    for (let n = 0; n < 3; n++) {
      await h.send(vadStart()); // the VAD's stop is lost
      for (let i = 0; i < 5; i++) {
        await h.advance(1000);
        await h.send(new UserSpeakingFrame()); // the user is still speaking: no cut
      }
      expect(h.turns.inTurn).toBe(true);
      await h.advance(4999);
      expect(h.turns.inTurn).toBe(true);
      await h.advance(1);
      expect(h.turns.inTurn).toBe(false);
    }
    expect(h.turns.stats.watchdogStops).toBe(3);
    expect(h.events.filter((e) => e.kind === "stop").every((e) => e.strategy === "watchdog")).toBe(true);
    const warned = h.lines.filter((l) => l.level === "warn" && l.message.includes("userTurnStopTimeoutMs"));
    // Said once; the repeats are only counted in summary lines (at most one per 10 s).
    expect(warned.filter((l) => !l.message.includes("more time"))).toHaveLength(1);
    expect(warned.at(-1)!.fields).toMatchObject({ total: 3 });
  });
});

describe("options", () => {
  it("are checked at construction with errors that name the option", () => {
    expect(() => new UserTurnProcessor({ startStrategies: [] })).toThrow(/startStrategies is empty/);
    expect(() => new UserTurnProcessor({ stopStrategies: [new VADStartStrategy() as never] })).toThrow(
      /stopStrategies\[0\] is not a UserTurnStopStrategy \(got VADStartStrategy\)/,
    );
    expect(() => new UserTurnProcessor({ userIdleTimeoutMs: -1 })).toThrow(
      /userIdleTimeoutMs must be a number of ms/,
    );
    expect(() => new UserTurnProcessor({ userTurnStopTimeoutMs: Number.NaN })).toThrow(
      /userTurnStopTimeoutMs/,
    );
    expect(
      () =>
        new UserTurnProcessor({
          stopStrategies: [new SpeechTimeoutStopStrategy({ timeoutMs: 6000 })],
          userTurnStopTimeoutMs: 5000,
        }),
    ).toThrow(/must be longer than the longest wait of SpeechTimeoutStopStrategy \(6000 ms\)/);
    const shared = new VADStopStrategy();
    new UserTurnProcessor({ stopStrategies: [shared] });
    expect(() => new UserTurnProcessor({ stopStrategies: [shared] })).toThrow(/already used by/);
    expect(() => new SpeechTimeoutStopStrategy({ timeoutMs: Infinity })).toThrow(
      /timeoutMs must be a number of ms/,
    );
  });
});

it("UserStartedSpeakingFrame is broadcast both ways exactly once per turn", async () => {
  const h = await harness();
  await h.send(vadStart(), vadStop(), vadStart(), vadStop());
  expect(h.up.frames.filter((f) => f instanceof UserStartedSpeakingFrame)).toHaveLength(2);
});

// Adversary pass on user turn-taking (UserTurnProcessor and its strategies), through the public
// API (src/index.ts) and the turn test kit (test/turns/support.ts), on a VirtualClock.
// Each test is marked "held:" (the attack broke nothing), "fixed:" (a real defect when written, fixed at
// the root since; what went wrong and how it was reproduced is above the test) or "known hole:" (a
// real defect not fixed yet: an `it.fails` whose body states the promise, so the suite stays green).
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import {
  AlwaysMuteStrategy,
  BotStartedSpeakingFrame,
  BotStoppedSpeakingFrame,
  FirstBotAnswerMuteStrategy,
  type Frame,
  FrameDirection,
  FunctionCallCancelFrame,
  FunctionCallMuteStrategy,
  FunctionCallResultFrame,
  InterruptionFrame,
  InterruptionTaskFrame,
  InvalidOptionError,
  MinWordsStartStrategy,
  Pipeline,
  PipelineTask,
  STTEndOfTurnFrame,
  STTEndOfTurnStopStrategy,
  SpeechTimeoutStopStrategy,
  TTSSpeakFrame,
  TranscriptionFrame,
  TranscriptionStartStrategy,
  type TurnAnalyzer,
  TurnAnalyzerStopStrategy,
  type TurnInput,
  InputAudioRawFrame,
  UserMuteStrategy,
  UserSpeakingFrame,
  UserStartedSpeakingFrame,
  UserTurnProcessor,
  type UserTurnProcessorOptions,
  UserTurnStartStrategy,
  UserTurnStopStrategy,
  VADStartStrategy,
  VADStopStrategy,
  VADUserStartedSpeakingFrame,
  VADUserStoppedSpeakingFrame,
  SystemClock,
  VirtualClock,
} from "../../src/index.js";
import { FrameRecorder } from "../../src/testing/frame-recorder.js";
import { memoryLogger } from "../support/logger.js";
import {
  type TurnHarness,
  call,
  callsStarted,
  final,
  interim,
  turnFrames,
  turnHarness,
  up,
} from "../turns/support.js";

const open: TurnHarness[] = [];
async function harness(...args: Parameters<typeof turnHarness>): Promise<TurnHarness> {
  const h = await turnHarness(...args);
  open.push(h);
  return h;
}
afterEach(async () => {
  for (const h of open.splice(0)) {
    if (!h.task.hasFinished()) await h.finish();
  }
});

const vadStart = (): VADUserStartedSpeakingFrame => new VADUserStartedSpeakingFrame(200);
const vadStop = (): VADUserStoppedSpeakingFrame => new VADUserStoppedSpeakingFrame(200);

/** Starts/stops alternate beginning with a start. */
function alternates(seq: readonly string[], a: string, b: string): boolean {
  const only = seq.filter((s) => s === a || s === b);
  return only.every((s, i) => s === (i % 2 === 0 ? a : b));
}

// ------------------------------------------------------------------------------------------------
// Options out of range
// ------------------------------------------------------------------------------------------------

describe("options out of range", () => {
  // held: every numeric option refuses NaN, ±Infinity, negative, huge and non-numbers with an InvalidOptionError.
  it("held: NaN, negative, huge and non-number timeouts are refused with a clear error", () => {
    const bad: unknown[] = [
      Number.NaN,
      -1,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      1e12,
      "600",
      null,
    ];
    for (const v of bad) {
      if (v !== null) {
        expect(() => new UserTurnProcessor({ userTurnStopTimeoutMs: v as number })).toThrow(
          InvalidOptionError,
        );
        expect(() => new SpeechTimeoutStopStrategy({ timeoutMs: v as number })).toThrow(InvalidOptionError);
        expect(() => new FunctionCallMuteStrategy({ maxMuteMs: v as number })).toThrow(InvalidOptionError);
        expect(() => new FirstBotAnswerMuteStrategy({ maxMuteMs: v as number })).toThrow(InvalidOptionError);
        expect(() => new MinWordsStartStrategy({ minWords: v as number })).toThrow(InvalidOptionError);
      }
      if (v !== null) {
        expect(() => new UserTurnProcessor({ userIdleTimeoutMs: v as number })).toThrow(/userIdleTimeoutMs/);
      }
    }
    expect(() => new MinWordsStartStrategy({ minWords: 1.5 })).toThrow(InvalidOptionError);
    expect(() => new MinWordsStartStrategy(undefined as never)).toThrow(InvalidOptionError);
    expect(() => new UserTurnProcessor({ startStrategies: [] })).toThrow(/empty/);
    expect(() => new UserTurnProcessor({ stopStrategies: "x" as never })).toThrow(InvalidOptionError);
    expect(() => new UserTurnProcessor({ stopStrategies: [{} as never] })).toThrow(
      /not a UserTurnStopStrategy/,
    );
    expect(() => new UserTurnProcessor({ muteStrategies: [null as never] })).toThrow(/got null/);
    const s = new VADStopStrategy();
    expect(() => new UserTurnProcessor({ stopStrategies: [s, s] })).toThrow(/twice/);
    // A stop strategy whose wait is not shorter than the watchdog.
    expect(
      () =>
        new UserTurnProcessor({
          stopStrategies: [new SpeechTimeoutStopStrategy({ timeoutMs: 5000 })],
          userTurnStopTimeoutMs: 5000,
        }),
    ).toThrow(/userTurnStopTimeoutMs/);
  });

  // held: one strategy object given to two processors is refused.
  it("held: a strategy object shared by two processors is refused", () => {
    const shared = new SpeechTimeoutStopStrategy();
    new UserTurnProcessor({ stopStrategies: [shared] });
    expect(() => new UserTurnProcessor({ stopStrategies: [shared] })).toThrow(/already used/);
  });

  // fixed (this was broken): a custom stop strategy whose maxWaitMs is NaN (garbage: e.g. computed from an unset
  // option) passes the watchdog check, because `NaN >= userTurnStopTimeoutMs` is false. The
  // processor promises the watchdog is "longer than every stop strategy's wait, checked at
  // construction"; a wait that is not a number cannot be checked and should be refused like
  // every other NaN option. Repro: `new UserTurnProcessor({ stopStrategies: [s] })` with
  // `get maxWaitMs() { return NaN }` constructs without error.
  it("fixed: a stop strategy whose maxWaitMs is NaN is refused at construction", () => {
    class NaNWait extends UserTurnStopStrategy {
      override get maxWaitMs(): number {
        return Number.NaN;
      }
    }
    expect(() => new UserTurnProcessor({ stopStrategies: [new NaNWait()] })).toThrow(InvalidOptionError);
  });
});

// ------------------------------------------------------------------------------------------------
// Custom strategies that throw, return garbage, re-enter or hang
// ------------------------------------------------------------------------------------------------

describe("custom strategies", () => {
  // held: strategies throwing from every verb never stop the processor; said once each.
  it("held: strategies that throw from every verb are reported once and the VAD turns still work", async () => {
    class ThrowStart extends UserTurnStartStrategy {
      override shouldStart(): boolean {
        throw new Error("start boom");
      }
      override reset(): void {
        throw new Error("reset boom");
      }
      override start(): void {
        throw new Error("load boom");
      }
      override stop(): void {
        throw new Error("stop boom");
      }
    }
    class ThrowStop extends UserTurnStopStrategy {
      override onInput(): void {
        throw new Error("input boom");
      }
      override onTurnStarted(): void {
        throw new Error("started boom");
      }
      override onTurnEnded(): void {
        throw new Error("ended boom");
      }
    }
    class ThrowMute extends UserMuteStrategy {
      get muted(): boolean {
        return false;
      }
      observe(): void {
        throw new Error("observe boom");
      }
    }
    const h = await harness({
      startStrategies: [new ThrowStart(), new VADStartStrategy()],
      stopStrategies: [new ThrowStop(), new VADStopStrategy()],
      muteStrategies: [new ThrowMute()],
    });
    for (let i = 0; i < 50; i++) {
      await h.send(vadStart());
      await h.advance(100);
      await h.send(vadStop());
    }
    expect(h.events.filter((e) => e.kind === "start")).toHaveLength(50);
    expect(h.events.filter((e) => e.kind === "stop")).toHaveLength(50);
    await h.finish();
    const warns = h.lines.filter((l) => /boom/.test(l.message));
    // Said once per strategy (plus the start failure); repeats only counted in periodic summaries.
    expect(warns.filter((l) => !/more times? in the last/.test(l.message)).length).toBeLessThanOrEqual(4);
    expect(warns.length).toBeLessThanOrEqual(10);
    expect(h.clock.pendingTimers).toBe(0);
  });

  // held: shouldStart returning truthy garbage ("yes", 1, {}) does not start a turn (only `true` does).
  it("held: a start strategy returning garbage never starts a turn", async () => {
    class Garbage extends UserTurnStartStrategy {
      n = 0;
      override shouldStart(): boolean {
        return (["yes", 1, {}, "true", Number.NaN] as unknown as boolean[])[this.n++ % 5]!;
      }
    }
    const h = await harness({ startStrategies: [new Garbage()] });
    for (let i = 0; i < 10; i++) await h.send(vadStart(), final("hello"), vadStop());
    expect(h.events).toHaveLength(0);
    expect(turnFrames(h.down.frames)).toEqual([]);
  });

  // fixed (this was broken): a mute strategy whose `muted` getter throws escapes the processor's "what a strategy
  // throws is said once and never stops the processor": #refreshMute reads `s.muted` outside #ask
  // (observe() is guarded, the getter is not), so the throw leaves processFrame on every frame:
  // the frame is not forwarded (the VAD start and stop never reach the next processor) and no turn
  // starts. Repro: muteStrategies [{ get muted() { throw } }] and send VADUserStartedSpeakingFrame:
  // no UserStartedSpeakingFrame, the VAD frames missing downstream.
  it("fixed: a mute strategy whose muted getter throws does not stop turns or frames", async () => {
    class BadMute extends UserMuteStrategy {
      get muted(): boolean {
        throw new Error("muted boom");
      }
      observe(): void {}
    }
    const h = await harness({ muteStrategies: [new BadMute()] });
    await h.send(vadStart(), final("hi"), vadStop());
    const down = h.down.frames.map((f) => f.constructor.name);
    expect(down).toContain("VADUserStartedSpeakingFrame");
    expect(down).toContain("VADUserStoppedSpeakingFrame");
    expect(h.events.map((e) => e.kind)).toEqual(["start", "stop"]);
  });

  // fixed (this was broken): a stop strategy that decides at the turn's start (it calls host.endTurn from
  // onTurnStarted: e.g. "the VAD is already silent and my timeout is 0") makes the processor emit
  // and broadcast the stop BEFORE the start: userTurnStopped then userTurnStarted, and
  // UserStoppedSpeakingFrame then UserStartedSpeakingFrame both ways; the pipeline below is left
  // believing the user is speaking (no stop follows). #startTurn calls onTurnStarted before it
  // emits and broadcasts the start, and #endTurn accepts the re-entrant call since #inTurn is
  // already true. Repro: stopStrategies [EndAtOnce] (onTurnStarted → host.endTurn), send one
  // VADUserStartedSpeakingFrame, read the recorded UserStarted/UserStopped frames.
  it("fixed: a stop strategy ending the turn from onTurnStarted still gives start then stop", async () => {
    class EndAtOnce extends UserTurnStopStrategy {
      override onTurnStarted(): void {
        this.host.endTurn(this.name, "decided at once");
      }
    }
    const h = await harness({ stopStrategies: [new EndAtOnce()] });
    await h.send(vadStart());
    await h.advance(10);
    expect(h.events.map((e) => e.kind)).toEqual(["start", "stop"]);
    expect(turnFrames(h.down.frames)).toEqual(["start", "stop"]);
    expect(turnFrames(h.up.frames)).toEqual(["start", "stop"]);
  });

  // known hole: UserTurnProcessor.start() awaits every strategy's start(signal) with no deadline of
  // its own: a custom strategy whose start never settles keeps the pipeline from starting until the
  // task's startTimeoutMs (20 s) cancels the session (measured: no pipelineStarted; at 20 s of
  // virtual time the task is cancelled and no timer is left). TurnAnalyzerStopStrategy bounds its
  // own load (loadTimeoutMs). The strategy's doc said "Bounded by the processor"; it now says what
  // bounds it. A processor bound under the task's would abandon slow model loads (onnxruntime-web
  // takes seconds on a busy machine), so the fix needs the task's start deadline in the context.
  it.fails(
    "known hole: a strategy whose start never settles does not keep the pipeline from starting",
    async () => {
      class Hangs extends UserTurnStartStrategy {
        override shouldStart(input: TurnInput): boolean {
          return input.kind === "vad-started";
        }
        override start(): Promise<void> {
          return new Promise(() => {});
        }
      }
      const clock = new VirtualClock();
      const { logger } = memoryLogger();
      const turns = new UserTurnProcessor({ startStrategies: [new Hangs()] });
      const down = new FrameRecorder(FrameDirection.DOWNSTREAM, { name: "down" });
      const task = new PipelineTask(new Pipeline([turns, down]), { clock, logger, idleTimeoutMs: null });
      let started = false;
      task.on("pipelineStarted", () => {
        started = true;
      });
      const done = task.run();
      let why = "";
      await clock
        .runUntil(() => started, { maxMs: 300_000 })
        .catch((e: unknown) => {
          why = String(e);
        });
      const wasStarted = started;
      void task.cancel().catch(() => undefined);
      void done.catch(() => undefined);
      await clock.advance(60_000).catch(() => undefined);
      expect(wasStarted, why).toBe(true);
    },
    20_000,
  );

  // held: a stop strategy whose stop() never settles: the processor itself awaits it unbounded, but
  // the task's endTimeoutMs (10 s) escalates to cancel and the task ends (measured: between 10 s
  // and 15 s of virtual time).
  it("held: a stop strategy whose stop() never settles holds the end of the task at most ~15 s (the task's bound)", async () => {
    class HangsOnStop extends UserTurnStopStrategy {
      override stop(): Promise<void> {
        return new Promise(() => {});
      }
    }
    const h = await harness({ stopStrategies: [new VADStopStrategy(), new HangsOnStop()] });
    const t0 = h.clock.now();
    void h.task.stopWhenDone();
    let finished = false;
    await h.clock
      .runUntil(() => h.task.hasFinished(), { maxMs: 15_000 })
      .then(
        () => {
          finished = true;
        },
        () => undefined,
      );
    const took = h.clock.now() - t0;
    if (!finished) {
      // Leave it: cancel too would wait on the same stop(). Drop it from the afterEach list.
      open.splice(open.indexOf(h), 1);
    }
    expect(finished, `the end still waits after ${took} ms of virtual time`).toBe(true);
  }, 20_000);
});

// ------------------------------------------------------------------------------------------------
// Turn analyzer through TurnAnalyzerStopStrategy
// ------------------------------------------------------------------------------------------------

describe("turn analyzer stop strategy with a misbehaving analyzer", () => {
  const RATE = 16_000;
  const audio = (): InputAudioRawFrame => new InputAudioRawFrame(new Int16Array(320).fill(1000), RATE, 1);
  function analyzer(analyze: TurnAnalyzer["analyze"], load?: TurnAnalyzer["load"]): TurnAnalyzer {
    return { sampleRate: RATE, appendAudio() {}, analyze, clear() {}, ...(load ? { load } : {}) };
  }
  const verdicts: Array<[string, TurnAnalyzer["analyze"]]> = [
    ["throws", () => Promise.reject(new Error("model crashed"))],
    [
      "throws synchronously",
      () => {
        throw new Error("sync crash");
      },
    ],
    ["returns null", () => Promise.resolve(null as never)],
    ["returns { complete: 'yes' }", () => Promise.resolve({ complete: "yes" } as never)],
    [
      "returns incomplete with NaN probability",
      () => Promise.resolve({ complete: false, probability: Number.NaN, inferenceMs: -1 }),
    ],
  ];
  for (const [what, analyze] of verdicts) {
    // held: whatever the analyzer does, the turn ends on the fallback, fallbackTimeoutMs after the VAD stop.
    it(`held: an analyzer that ${what}: the turn ends on the fallback, in its bound`, async () => {
      const h = await harness({
        stopStrategies: [
          new TurnAnalyzerStopStrategy({
            analyzer: analyzer(analyze),
            fallbackTimeoutMs: 1500,
            analyzeTimeoutMs: 500,
          }),
        ],
      });
      await h.send(vadStart());
      for (let i = 0; i < 10; i++) await h.send(audio());
      await h.send(vadStop());
      const stopAt = h.clock.now();
      await h.advance(1500);
      expect(h.events.map((e) => e.kind)).toEqual(["start", "stop"]);
      expect(h.events[1]!.atMs - stopAt).toBeLessThanOrEqual(1500);
      // Said once, not per turn.
      for (let i = 0; i < 20; i++) {
        await h.send(vadStart(), audio(), vadStop());
        await h.advance(1500);
      }
      expect(h.events.filter((e) => e.kind === "stop")).toHaveLength(21);
      expect(h.turns.stats.watchdogStops).toBe(0);
      await h.finish();
      expect(h.clock.pendingTimers).toBe(0);
    });
  }

  // On a VirtualClock an `io: true` deadline waits for the tracked real work in real time (the
  // clock's realWorkTimeoutMs, 60 s) before virtual time moves, so a model that never answers is
  // tried on the SystemClock, with short bounds, in real time.
  async function realTimeRun(
    strategy: TurnAnalyzerStopStrategy,
    body: (t: { task: PipelineTask; events: string[]; started: () => boolean }) => Promise<void>,
  ): Promise<void> {
    const { logger } = memoryLogger();
    const turns = new UserTurnProcessor({ stopStrategies: [strategy], userTurnStopTimeoutMs: 2000 });
    const task = new PipelineTask(new Pipeline([turns]), {
      clock: new SystemClock(),
      logger,
      idleTimeoutMs: null,
    });
    const events: string[] = [];
    turns.on("userTurnStarted", () => void events.push("start"));
    turns.on("userTurnStopped", (e) => void events.push(`stop:${e.strategy}`));
    let started = false;
    task.on("pipelineStarted", () => {
      started = true;
    });
    const done = task.run();
    try {
      await body({ task, events, started: () => started });
    } finally {
      void task.cancel();
      await Promise.race([done, sleep(3000)]);
    }
  }
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

  // held: an analysis that never settles (and ignores its abort signal) is cut at analyzeTimeoutMs; the fallback ends the turn.
  it("held: an analyzer that never settles: the turn still ends on the fallback (real time)", async () => {
    const a = analyzer(() => new Promise(() => {}));
    await realTimeRun(
      new TurnAnalyzerStopStrategy({ analyzer: a, fallbackTimeoutMs: 400, analyzeTimeoutMs: 100 }),
      async (t) => {
        for (let i = 0; i < 100 && !t.started(); i++) await sleep(10);
        expect(t.started()).toBe(true);
        t.task.queueFrame(vadStart());
        for (let i = 0; i < 5; i++) t.task.queueFrame(audio());
        t.task.queueFrame(vadStop());
        await sleep(900); // past the fallback: a second stop would show
        // The stop is due 100 ms (analyzeTimeoutMs) to 400 ms (the fallback) after the VAD's stop;
        // a loaded machine may be later still: waited for, up to 5 s more, not assumed.
        for (let i = 0; i < 500 && t.events.length < 2; i++) await sleep(10);
        expect(t.events).toEqual(["start", "stop:TurnAnalyzerStopStrategy"]);
      },
    );
  }, 10_000);

  // held: a load() that never settles is bounded by loadTimeoutMs: the pipeline starts.
  it("held: an analyzer whose load() never settles does not keep the pipeline from starting past loadTimeoutMs (real time)", async () => {
    const a = analyzer(
      () => Promise.resolve({ complete: true, probability: 1, inferenceMs: 0 }),
      () => new Promise(() => {}),
    );
    await realTimeRun(
      new TurnAnalyzerStopStrategy({ analyzer: a, loadTimeoutMs: 300, fallbackTimeoutMs: 400 }),
      async (t) => {
        for (let i = 0; i < 150 && !t.started(); i++) await sleep(10);
        expect(t.started()).toBe(true);
      },
    );
  }, 10_000);
});

// ------------------------------------------------------------------------------------------------
// Mute, interruptions, held transcripts
// ------------------------------------------------------------------------------------------------

describe("mute and interruptions", () => {
  // held: the turn start broadcasts UserStartedSpeakingFrame both ways and asks for one interruption;
  // with interruptions off it asks for none; while muted nothing starts and nothing is interrupted.
  it("held: interruptions broadcast both ways, none while muted, none with interruptions off", async () => {
    const h = await harness({ muteStrategies: [new AlwaysMuteStrategy()] });
    await h.send(up(new BotStartedSpeakingFrame()));
    await h.send(vadStart(), final("stop talking"), vadStop());
    expect(h.up.frames.filter((f) => f instanceof InterruptionTaskFrame)).toHaveLength(0);
    expect(h.events).toHaveLength(0);
    expect(h.turns.stats.droppedTranscripts).toBe(1);
    await h.send(up(new BotStoppedSpeakingFrame()));
    await h.send(vadStart());
    expect(h.down.frames.filter((f) => f instanceof UserStartedSpeakingFrame)).toHaveLength(1);
    expect(h.up.frames.filter((f) => f instanceof UserStartedSpeakingFrame)).toHaveLength(1);
    expect(h.down.frames.filter((f) => f instanceof InterruptionFrame)).toHaveLength(1);
    await h.send(vadStop());

    const off = await harness({ interruptions: false });
    await off.send(vadStart(), vadStop());
    expect(off.events.map((e) => e.kind)).toEqual(["start", "stop"]);
    expect(off.up.frames.filter((f) => f instanceof InterruptionTaskFrame)).toHaveLength(0);
  });

  // held: the transcript that starts a turn is not dropped by the interruption it caused: it
  // arrives after the InterruptionFrame, even at the end of the stream.
  it("held: the transcript that started the turn follows its interruption, even at the end of the stream", async () => {
    const h = await harness({
      startStrategies: [new TranscriptionStartStrategy()],
      stopStrategies: [new SpeechTimeoutStopStrategy({ timeoutMs: 600 })],
    });
    await h.send(final("hello there"));
    await h.finish();
    const seq = h.down.frames
      .filter((f) => f instanceof InterruptionFrame || f instanceof TranscriptionFrame)
      .map((f) => f.constructor.name);
    expect(seq).toEqual(["InterruptionFrame", "TranscriptionFrame"]);
    expect(h.events.map((e) => e.kind)).toEqual(["start", "stop"]);
  });

  // held: a huge transcript (1 MB, 200k words) and whitespace-only ones: min words counts it,
  // whitespace starts nothing while the bot speaks.
  it("held: whitespace transcripts never start a turn over the bot; a huge one does, fast", async () => {
    const h = await harness({ startStrategies: [new MinWordsStartStrategy({ minWords: 3 })] });
    await h.send(up(new BotStartedSpeakingFrame()), vadStart());
    for (const t of ["", " ", "\t\n", "\u00a0\u2003", "   \n  "]) await h.send(interim(t), final(t));
    expect(h.events).toHaveLength(0);
    const huge = "word ".repeat(200_000);
    const t0 = performance.now();
    await h.send(interim(huge));
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(h.events.map((e) => e.kind)).toEqual(["start"]);
  });
});

describe("stop strategies and the watchdog", () => {
  // held: a turn started mid-speech (min words over the bot) is not ended by transcripts while the VAD
  // still hears the user; the speech timeout counts from the VAD stop / last transcript.
  it("held: speech timeout never ends a turn while the VAD hears the user; ends timeoutMs after the later sign", async () => {
    const h = await harness({
      startStrategies: [new MinWordsStartStrategy({ minWords: 3 })],
      stopStrategies: [new SpeechTimeoutStopStrategy({ timeoutMs: 600 })],
    });
    await h.send(up(new BotStartedSpeakingFrame()), vadStart(), interim("one two three"));
    expect(h.events.map((e) => e.kind)).toEqual(["start"]);
    for (let t = 0; t < 3000; t += 200) {
      await h.send(new UserSpeakingFrame(), final("more words"));
      await h.advance(200);
    }
    expect(h.turns.inTurn).toBe(true);
    await h.send(vadStop());
    await h.advance(400);
    await h.send(final("late words")); // restarts the clock
    const last = h.clock.now();
    await h.advance(599);
    expect(h.turns.inTurn).toBe(true);
    await h.advance(1);
    expect(h.events.at(-1)).toMatchObject({
      kind: "stop",
      strategy: "SpeechTimeoutStopStrategy",
      atMs: last + 600,
    });
  });

  // held: UserSpeakingFrames keep a long monologue alive; once the VAD stop is lost and they stop,
  // the watchdog ends the turn exactly userTurnStopTimeoutMs after the last sign, said once.
  it("held: the watchdog: kept alive by UserSpeakingFrame, fires at last sign + timeout, said once", async () => {
    const h = await harness({ userTurnStopTimeoutMs: 1000 });
    for (let turn = 0; turn < 5; turn++) {
      await h.send(vadStart());
      for (let t = 0; t < 5000; t += 200) {
        await h.send(new UserSpeakingFrame());
        await h.advance(200);
      }
      expect(h.turns.inTurn).toBe(true);
      const last = h.clock.now() - 200;
      await h.advance(1000);
      expect(h.events.at(-1)).toMatchObject({ kind: "stop", strategy: "watchdog" });
      expect(h.events.at(-1)!.atMs).toBeLessThanOrEqual(last + 1000);
    }
    expect(h.turns.stats.watchdogStops).toBe(5);
    // Said once; the repeats only in the reporter's periodic "N more times" summaries.
    const said = h.lines.filter((l) => l.level === "warn" && /a user turn had no stop/.test(l.message));
    expect(said.filter((l) => !/more times? in the last/.test(l.message))).toHaveLength(1);
    // The VAD state was cleared: a new VAD start starts a turn.
    await h.send(vadStart(), vadStop());
    expect(h.events.filter((e) => e.kind === "start")).toHaveLength(6);
  });

  // held: the provider's end of turn while the VAD hears the user waits for the VAD stop; words after it cancel it.
  it("held: STT end of turn: at once when silent, at the VAD stop when speaking, not if words followed", async () => {
    const h = await harness({
      stopStrategies: [new STTEndOfTurnStopStrategy()],
      userTurnStopTimeoutMs: 1000,
    });
    await h.send(vadStart());
    await h.send(final("hello"));
    await h.send(new STTEndOfTurnFrame("speech_final", 0));
    expect(h.turns.inTurn).toBe(true);
    await h.send(vadStop());
    expect(h.events.at(-1)).toMatchObject({ kind: "stop", strategy: "STTEndOfTurnStopStrategy" });
    await h.send(vadStart());
    await h.send(new STTEndOfTurnFrame("speech_final", 0));
    await h.send(interim("and then"));
    await h.send(vadStop());
    expect(h.turns.inTurn).toBe(true);
    await h.send(new STTEndOfTurnFrame("utterance_end", 0));
    expect(h.turns.inTurn).toBe(false);
    // Outside a turn it does nothing, and is not remembered for the next turn.
    await h.send(new STTEndOfTurnFrame("utterance_end", 0));
    await h.send(vadStart());
    await h.send(vadStop());
    expect(h.turns.inTurn).toBe(true);
    await h.advance(1000);
    expect(h.events.at(-1)).toMatchObject({ kind: "stop", strategy: "watchdog" });
  });

  // held: a mute that starts during a turn: the turn can still end, its transcripts are dropped, and
  // nothing new starts until the call settles; at the end of the stream the stop precedes the EndFrame.
  it("held: mute mid-turn lets the turn end; the end of stream stops a turn before the EndFrame", async () => {
    const h = await harness({ muteStrategies: [new FunctionCallMuteStrategy()] });
    await h.send(vadStart());
    await h.send(up(callsStarted("x")));
    await h.send(final("dropped"));
    await h.send(vadStop());
    expect(h.events.map((e) => e.kind)).toEqual(["start", "stop"]);
    expect(h.turns.stats.droppedTranscripts).toBe(1);
    await h.send(vadStart(), vadStop());
    expect(h.events).toHaveLength(2);
    await h.send(up(new FunctionCallCancelFrame(call("x"))), vadStart());
    expect(h.events).toHaveLength(3);
    await h.finish();
    const names = h.down.frames.map((f) => f.constructor.name);
    expect(names.lastIndexOf("UserStoppedSpeakingFrame")).toBeLessThan(names.indexOf("EndFrame"));
    expect(h.events.at(-1)).toMatchObject({ kind: "stop", strategy: "end of stream" });
  });
});

// ------------------------------------------------------------------------------------------------
// User idle
// ------------------------------------------------------------------------------------------------

describe("user idle", () => {
  // fixed (this was broken): the idle timer fires while the VAD hears the user. With AlwaysMuteStrategy (or any mute)
  // the user starts talking over the bot (VAD start while muted: no turn); the bot stops, the
  // user is heard again and the idle timer is armed; the user keeps talking (UserSpeakingFrame
  // every 200 ms, the VAD never stops) and `userIdle` fires after userIdleTimeoutMs anyway: the
  // bot asks "Are you still there?" over a user who is speaking. #maybeArmIdle checks the turn,
  // the bot and the calls, not the VAD. Repro: userIdleTimeoutMs 1000, AlwaysMuteStrategy;
  // BotStarted, VAD start, BotStopped, then UserSpeakingFrame every 200 ms for 3 s.
  it("fixed: userIdle never fires while the VAD hears the user", async () => {
    const h = await harness({ muteStrategies: [new AlwaysMuteStrategy()], userIdleTimeoutMs: 1000 });
    const idles: number[] = [];
    h.turns.on("userIdle", (e) => void idles.push(e.count));
    await h.send(up(new BotStartedSpeakingFrame()));
    await h.send(vadStart());
    await h.send(up(new BotStoppedSpeakingFrame()));
    for (let t = 0; t < 3000; t += 200) {
      await h.send(new UserSpeakingFrame());
      await h.advance(200);
    }
    expect(idles).toEqual([]);
  });

  // fixed (this was a known hole): one function call whose result is lost (no FunctionCallResultFrame
  // nor cancel ever comes) switched the idle timer off for the rest of the session: the processor's
  // own call tracker kept it "running" forever (FunctionCallMuteStrategy bounds the same condition
  // with maxMuteMs). Repro: userIdleTimeoutMs 1000; FunctionCallsStartedFrame(c1) upstream with no
  // result; then ten minutes later BotStarted/BotStopped and wait: no userIdle ever. A call unsettled
  // for 5 minutes is now taken as lost (said once).
  it("fixed: a function call that never settles does not switch userIdle off for the session", async () => {
    const h = await harness({ userIdleTimeoutMs: 1000 });
    const idles: number[] = [];
    h.turns.on("userIdle", (e) => void idles.push(e.count));
    await h.send(up(callsStarted("lost")));
    await h.advance(600_000);
    await h.send(up(new BotStartedSpeakingFrame()), up(new BotStoppedSpeakingFrame()));
    await h.advance(5000);
    expect(idles.length).toBeGreaterThan(0);
    const said = h.lines.filter((l) => l.message.includes("no result and no cancel"));
    expect(said).toHaveLength(1);
  });

  // fixed (review): the lost call was only forgotten at the next bot stop; with the user silent
  // and nothing else happening (the bot said "let me check" and the call's result was lost) no
  // idle ever came. A timer now takes the oldest call as lost on time.
  it("fixed: a lost function call while everything is silent: userIdle comes once the call is taken as lost", async () => {
    const h = await harness({ userIdleTimeoutMs: 1000 });
    const idles: number[] = [];
    h.turns.on("userIdle", () => void idles.push(h.clock.now()));
    await h.send(
      up(new BotStartedSpeakingFrame()),
      up(callsStarted("lost")),
      up(new BotStoppedSpeakingFrame()),
    );
    const t0 = h.clock.now();
    await h.advance(5 * 60_000 - 1);
    expect(idles).toEqual([]); // a call may run that long
    await h.advance(1000 + 10);
    expect(idles).toHaveLength(1);
    expect(idles[0]! - t0).toBeLessThanOrEqual(5 * 60_000 + 1000 + 2);
    expect(h.lines.filter((l) => l.message.includes("no result and no cancel"))).toHaveLength(1);
  });

  // held: once per arming, counts in a row, reset by a user turn, never while the bot speaks or a
  // call runs, never in a turn; push() goes downstream.
  it("held: userIdle fires once per arming, counts in a row, resets on a user turn", async () => {
    const h = await harness({ userIdleTimeoutMs: 1000 });
    const idles: Array<{ count: number; at: number }> = [];
    h.turns.on("userIdle", (e) => {
      idles.push({ count: e.count, at: h.clock.now() });
      e.push(new TTSSpeakFrame("Are you still there?"));
    });
    await h.send(up(new BotStartedSpeakingFrame()), up(new BotStoppedSpeakingFrame()));
    await h.advance(10_000);
    expect(idles.map((i) => i.count)).toEqual([1]);
    await h.send(up(new BotStartedSpeakingFrame()));
    await h.advance(10_000);
    expect(idles).toHaveLength(1);
    await h.send(up(new BotStoppedSpeakingFrame()));
    await h.advance(1000);
    expect(idles.map((i) => i.count)).toEqual([1, 2]);
    await h.send(up(new BotStartedSpeakingFrame()), up(new BotStoppedSpeakingFrame()));
    await h.send(vadStart());
    await h.advance(10_000 - 1);
    expect(idles).toHaveLength(2);
    await h.send(
      vadStop(),
      up(new BotStartedSpeakingFrame()),
      up(callsStarted("a")),
      up(new BotStoppedSpeakingFrame()),
    );
    await h.advance(5000);
    expect(idles).toHaveLength(2);
    await h.send(up(new FunctionCallResultFrame(call("a"), "ok")));
    await h.advance(1000);
    expect(idles.map((i) => i.count)).toEqual([1, 2, 1]);
    expect(h.down.frames.filter((f) => f instanceof TTSSpeakFrame)).toHaveLength(3);
  });
});

// ------------------------------------------------------------------------------------------------
// Growth
// ------------------------------------------------------------------------------------------------

describe("growth", () => {
  // held: 10,000 turns of VAD + transcript + STT end of turn + bot answer + a function call:
  // timers, counters and warnings stay flat.
  it("held: 10,000 turns leave no more timers and no more warnings than 10", async () => {
    const h = await harness({
      startStrategies: [new VADStartStrategy(), new TranscriptionStartStrategy()],
      stopStrategies: [new SpeechTimeoutStopStrategy({ timeoutMs: 300 }), new STTEndOfTurnStopStrategy()],
      muteStrategies: [new FunctionCallMuteStrategy(), new AlwaysMuteStrategy()],
      userIdleTimeoutMs: 5000,
    });
    const timersAt: number[] = [];
    const run = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) {
        await h.send(
          vadStart(),
          interim("hi there"),
          final("hi there"),
          new STTEndOfTurnFrame("speech_final", 0),
        );
        await h.send(vadStop());
        await h.advance(400);
        await h.send(up(callsStarted(`c${i}`)), up(new BotStartedSpeakingFrame()));
        await h.send(up(new FunctionCallResultFrame(call(`c${i}`), "ok")), up(new BotStoppedSpeakingFrame()));
        await h.advance(100);
        h.down.frames.length = 0;
        h.up.frames.length = 0;
      }
      timersAt.push(h.clock.pendingTimers);
    };
    await run(10);
    const linesAfter10 = h.lines.length;
    await run(9_990);
    expect(h.turns.turns).toBe(10_000);
    expect(h.events.filter((e) => e.kind === "stop")).toHaveLength(10_000);
    expect(timersAt[1]).toBeLessThanOrEqual(timersAt[0]!);
    expect(h.lines.filter((l) => l.level === "warn" || l.level === "error").length).toBeLessThanOrEqual(
      Math.max(linesAfter10, 2),
    );
    expect(h.turns.stats.watchdogStops).toBe(0);
    await h.finish();
    expect(h.clock.pendingTimers).toBe(0);
  }, 120_000);
});

// ------------------------------------------------------------------------------------------------
// The property
// ------------------------------------------------------------------------------------------------

const WATCHDOG_MS = 5000;

type Step =
  | { t: "vadStart" | "vadStop" | "speaking" | "sttEnd" | "botStart" | "botStop" | "interrupt" }
  | { t: "interim" | "final"; text: string }
  | { t: "calls" | "result" | "cancel"; id: number }
  | { t: "sleep"; ms: number };

const text = fc.oneof(
  fc.constantFrom("", " ", "\n\t", "hi", "hello there", "one two three four", "\u00a0"),
  fc.string({ maxLength: 20 }),
  fc.integer({ min: 1, max: 5000 }).map((n) => "w ".repeat(n)),
);

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.constantFrom<Step>(
    { t: "vadStart" },
    { t: "vadStop" },
    { t: "speaking" },
    { t: "sttEnd" },
    { t: "botStart" },
    { t: "botStop" },
    { t: "interrupt" },
  ),
  fc.record({ t: fc.constantFrom<"interim" | "final">("interim", "final"), text }),
  fc.record({
    t: fc.constantFrom<"calls" | "result" | "cancel">("calls", "result", "cancel"),
    id: fc.integer({ min: 0, max: 3 }),
  }),
  fc.record({ t: fc.constant<"sleep">("sleep"), ms: fc.integer({ min: 0, max: 8000 }) }),
);

function frameOf(s: Exclude<Step, { t: "sleep" }>): Frame | [Frame, FrameDirection] {
  switch (s.t) {
    case "vadStart":
      return vadStart();
    case "vadStop":
      return vadStop();
    case "speaking":
      return new UserSpeakingFrame();
    case "sttEnd":
      return new STTEndOfTurnFrame("utterance_end", 0);
    case "botStart":
      return up(new BotStartedSpeakingFrame());
    case "botStop":
      return up(new BotStoppedSpeakingFrame());
    case "interrupt":
      return up(new InterruptionTaskFrame());
    case "interim":
      return interim(s.text);
    case "final":
      return final(s.text);
    case "calls":
      return up(callsStarted(`c${s.id}`));
    case "result":
      return up(new FunctionCallResultFrame(call(`c${s.id}`), "ok"));
    case "cancel":
      return up(new FunctionCallCancelFrame(call(`c${s.id}`)));
  }
}

const configs: Array<() => UserTurnProcessorOptions> = [
  () => ({}),
  () => ({
    startStrategies: [new VADStartStrategy(), new TranscriptionStartStrategy()],
    stopStrategies: [new SpeechTimeoutStopStrategy({ timeoutMs: 600 }), new STTEndOfTurnStopStrategy()],
    muteStrategies: [
      new FunctionCallMuteStrategy({ maxMuteMs: 3000 }),
      new FirstBotAnswerMuteStrategy({ maxMuteMs: 4000 }),
    ],
  }),
  () => ({
    startStrategies: [new MinWordsStartStrategy({ minWords: 2 })],
    stopStrategies: [new SpeechTimeoutStopStrategy({ timeoutMs: 1000 })],
    muteStrategies: [new AlwaysMuteStrategy()],
  }),
  () => ({
    startStrategies: [new TranscriptionStartStrategy({ interim: false })],
    stopStrategies: [new STTEndOfTurnStopStrategy(), new VADStopStrategy()],
    interruptions: false,
  }),
];

describe("property: random frames and clock advances", () => {
  // held: starts and stops alternate (events and frames, both ways); no turn starts while muted or
  // asks for an interruption while muted; every turn ends within the watchdog after the last sign
  // of the user; userIdle never fires in a turn, while the bot speaks or while a call runs; no
  // timer outlives the task.
  it("held: alternation, mute, watchdog, idle and timer invariants over random frame sequences", async () => {
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(step, { maxLength: 50 }),
        fc.integer({ min: 0, max: configs.length - 1 }),
        async (steps, which) => {
          runs++;
          const h = await turnHarness({
            ...configs[which]!(),
            userTurnStopTimeoutMs: WATCHDOG_MS,
            userIdleTimeoutMs: 1500,
          });
          const violations: string[] = [];
          let botSpeaking = false;
          const calls = new Set<string>();
          h.turns.on("userTurnStarted", () => {
            if (h.turns.muted) violations.push(`turn started while muted at ${h.clock.now()}`);
          });
          h.turns.on("userIdle", () => {
            if (h.turns.inTurn) violations.push("idle in a turn");
            if (botSpeaking) violations.push("idle while the bot speaks");
            if (calls.size > 0) violations.push("idle while a call runs");
          });
          let lastSignMs = 0;
          let interruptionsAsked = 0;
          for (const s of steps) {
            if (s.t === "sleep") {
              await h.advance(s.ms);
              continue;
            }
            if (s.t === "botStart") botSpeaking = true;
            if (s.t === "botStop") botSpeaking = false;
            if (s.t === "calls") calls.add(`c${s.id}`);
            if (s.t === "result" || s.t === "cancel") calls.delete(`c${s.id}`);
            if (s.t === "interrupt") interruptionsAsked++;
            const wasMuted = h.turns.muted;
            const before = h.up.frames.filter((f) => f instanceof InterruptionTaskFrame).length;
            await h.send(frameOf(s));
            const after = h.up.frames.filter((f) => f instanceof InterruptionTaskFrame).length;
            if (wasMuted && h.turns.muted && after - before > (s.t === "interrupt" ? 1 : 0))
              violations.push(`interruption asked while muted (${s.t})`);
            if (["vadStart", "vadStop", "speaking", "interim", "final", "sttEnd"].includes(s.t))
              lastSignMs = h.clock.now();
          }
          void interruptionsAsked;
          await h.advance(WATCHDOG_MS);
          expect(h.turns.inTurn).toBe(false);
          for (const e of h.events.filter((x) => x.kind === "stop" && x.strategy === "watchdog")) {
            expect(e.atMs).toBeLessThanOrEqual(lastSignMs + WATCHDOG_MS);
          }
          expect(violations).toEqual([]);
          expect(
            alternates(
              h.events.map((e) => e.kind),
              "start",
              "stop",
            ),
          ).toBe(true);
          for (const frames of [h.down.frames, h.up.frames]) {
            const seq = turnFrames(frames);
            expect(alternates(seq, "start", "stop")).toBe(true);
            expect(alternates(seq, "mute", "unmute")).toBe(true);
          }
          await h.finish();
          expect(h.clock.pendingTimers).toBe(0);
          const seq = turnFrames(h.down.frames);
          expect(seq.filter((x) => x === "start").length).toBe(seq.filter((x) => x === "stop").length);
        },
      ),
      { numRuns: 80 },
    );
    expect(runs).toBeGreaterThanOrEqual(80);
  }, 180_000);
});

/**
 * Adversarial tests of three features merged on 2026-12-01, through the public API only
 * (`src/index.ts`, `voicepipe/openai`, `voicepipe/context`, the TTS base a user subclasses):
 *
 * 1. an LLM answer ends at the provider's `complete`; the rest of the body is drained in the
 *    background for at most BODY_END_DRAIN_MS (docs/design/llm-services.md, "The end of an answer");
 * 2. a segmented STT's pending/settled totals and the user aggregator's wait at the stop
 *    (docs/design/conversation.md, docs/design/stt-services.md);
 * 3. the TTS base's `request.waitForConnection` / `request.waitForRateLimit`
 *    (docs/design/tts-services.md, "Stalls and reconnects").
 *
 * `it("fixed: …")` marks a defect found here and fixed (the comment above it says what it was and
 * the root fix). `it("held: …")` marks an attack the code withstood.
 */
import { afterEach, describe, expect, it } from "vitest";
import {
  ErrorFrame,
  InterruptionFrame,
  LLMContextFrame,
  LLMFullResponseEndFrame,
  SystemClock,
  TTSStoppedFrame,
  TTSTextFrame,
} from "../../src/index.js";
import {
  TTSService,
  type SynthesisOutput,
  type SynthesisRequest,
  type TTSServiceOptions,
} from "../../src/services/tts/tts-service.js";
import { TTSConnectionWaitError, TTSTimeoutError } from "../../src/services/tts/tts-errors.js";
import { endTTS, startTTS, type TTSSession } from "../services/openai-audio/tts-session.js";
import { memoryLogger } from "../support/logger.js";
import { OpenAILLMService, type OpenAILLMServiceOptions } from "../../src/services/llm/openai/index.js";
import { LLMContext, defineTool } from "../../src/context/index.js";
import {
  type LoopbackOpenAI,
  type Responder,
  finishChunk,
  loopbackOpenAI,
  roleChunk,
  textChunk,
  toolCallChunk,
  usageChunk,
} from "../services/llm/loopback-openai.js";
import { count, runLLM, runProcessor, userContext } from "../services/http/run-llm.js";
import { LLMSwitcher, LLMTextFrame } from "../../src/index.js";
import {
  LLMUserAggregator,
  TranscriptionFrame,
  TranscriptionPendingFrame,
  TranscriptionSettledFrame,
  UserStartedSpeakingFrame,
  UserStoppedSpeakingFrame,
  VADUserStartedSpeakingFrame,
  VADUserStoppedSpeakingFrame,
  type Frame,
} from "../../src/index.js";
import { started } from "../processors/aggregators/support.js";
import { OpenAISTTService } from "../../src/services/openai-audio/stt.js";
import { type FakeOpenAIAudio, fakeOpenAIAudio } from "../services/openai-audio/fake-openai-audio.js";
import { speechChunk } from "../services/deepgram/stt-session.js";
import { until } from "../services/http/loopback-sse.js";

const closers: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((s) => s.close()));
});

// ============================================================== 1. the end of an answer

async function openaiServer(respond: Responder): Promise<LoopbackOpenAI> {
  const srv = await loopbackOpenAI(respond);
  closers.push(srv);
  return srv;
}

function runOpenAI(srv: LoopbackOpenAI, options: OpenAILLMServiceOptions = {}) {
  const log = memoryLogger();
  const llm = new OpenAILLMService({
    apiKey: "sk-test",
    baseURL: srv.baseURL,
    env: {},
    model: "gpt-test",
    ...options,
  });
  const t = runLLM(llm, new SystemClock(), log.logger);
  const upErrors = (): string[] => t.up.ofType(ErrorFrame).map((f) => f.error.message);
  const ends = (): number => count(t.down, LLMFullResponseEndFrame);
  const warnings = (): string[] => log.lines.filter((l) => l.level === "warn").map((l) => l.message);
  return { ...t, upErrors, ends, warnings };
}

/** Asks turn `n` and waits for its end. */
async function turn(t: ReturnType<typeof runOpenAI>, n: number): Promise<void> {
  t.task.queueFrame(new LLMContextFrame(userContext(`q${n}`)));
  await until(() => t.ends() === n || t.upErrors().length > 0, 3_000, `answer ${n}`);
}

describe("1. the end of an answer (OpenAI on a loopback server, system clock)", () => {
  it("held: a held-open body that sends a second answer's chunks after [DONE] never becomes the next turn", async () => {
    const srv = await openaiServer(async (sse, n) => {
      sse.send(roleChunk());
      sse.send(textChunk(`A${n}.`));
      sse.send(finishChunk("stop"));
      sse.send(usageChunk(3, 1));
      sse.raw("data: [DONE]\n\n");
      await new Promise((r) => setTimeout(r, 10));
      sse.send(roleChunk());
      sse.send(textChunk(`GHOST${n}.`));
      sse.send(finishChunk("stop"));
      sse.send(usageChunk(3, 1)); // held open
    });
    const t = runOpenAI(srv);
    await turn(t, 1);
    await new Promise((r) => setTimeout(r, 50));
    await turn(t, 2);
    await new Promise((r) => setTimeout(r, 50));
    await t.finish();
    expect(t.textsAfter()).toEqual(["A1.", "A2."]);
    expect(t.ends()).toBe(2);
    expect(t.upErrors()).toEqual([]);
  });

  it("held: chunks with a second answer's text after finish_reason and usage (no [DONE]) are read off the answer's path, never pushed", async () => {
    const srv = await openaiServer(async (sse, n) => {
      sse.send(roleChunk());
      sse.send(textChunk(`A${n}.`));
      sse.send(finishChunk("stop"));
      sse.send(usageChunk(3, 1));
      await new Promise((r) => setTimeout(r, 10));
      sse.send(textChunk(`GHOST${n}.`));
      sse.send(finishChunk("stop")); // held open
    });
    const t = runOpenAI(srv);
    await turn(t, 1);
    await new Promise((r) => setTimeout(r, 50));
    await turn(t, 2);
    await new Promise((r) => setTimeout(r, 50));
    await t.finish();
    expect(t.textsAfter()).toEqual(["A1.", "A2."]);
  });

  // Why a defect: the answer is complete at finish_reason (docs: "the base finishes the answer at
  // once"), yet while OpenAI's usage is awaited (includeUsage, the default) the base keeps
  // handling text events, so text after finish_reason is pushed into the answer; with
  // includeUsage: false the same text is drained and dropped. Whether a server's stray text is
  // spoken must not hang on a metrics option. Root fix: in `#attempt`, once `complete` was seen
  // (usageBy set), handle only `usage` events (drop text and tool-call events, or report the
  // malformed stream once), the same as the drain does.
  it("fixed: text after finish_reason is dropped whether includeUsage is on or off", async () => {
    const respond: Responder = (sse) => {
      sse.send(roleChunk());
      sse.send(textChunk("Answer."));
      sse.send(finishChunk("stop"));
      sse.send(textChunk(" AFTER-FINISH."));
      sse.send(usageChunk(3, 1));
      sse.raw("data: [DONE]\n\n");
      sse.end();
    };
    const texts: string[][] = [];
    for (const includeUsage of [true, false]) {
      const srv = await openaiServer(respond);
      const t = runOpenAI(srv, { includeUsage });
      await turn(t, 1);
      await t.finish();
      texts.push(t.textsAfter());
    }
    console.log(
      `measured: text after finish_reason: includeUsage on ${JSON.stringify(texts[0])}, off ${JSON.stringify(texts[1])}`,
    );
    expect(texts[0]).toEqual(texts[1]);
  });

  // Same root, for tool calls: argument deltas after finish_reason are assembled into the call
  // with includeUsage on, and cut off with it off (the call then runs with the arguments so far
  // or fails as malformed).
  it("fixed: tool-call argument deltas after finish_reason: the call is the same with includeUsage on and off", async () => {
    const weather = defineTool({
      name: "get_weather",
      description: "Weather",
      parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
    });
    const respond: Responder = (sse) => {
      sse.send(roleChunk());
      sse.send(toolCallChunk({ index: 0, id: "call_1", name: "get_weather", arguments: '{"city":' }));
      sse.send(finishChunk("tool_calls"));
      sse.send(toolCallChunk({ index: 0, arguments: '"Paris"}' }));
      sse.send(usageChunk(3, 1));
      sse.raw("data: [DONE]\n\n");
      sse.end();
    };
    const seen: string[] = [];
    for (const includeUsage of [true, false]) {
      const srv = await openaiServer(respond);
      const context = new LLMContext({
        messages: [{ role: "user", content: "Weather?" }],
        tools: [weather],
      });
      const t = runOpenAI(srv, { includeUsage, context });
      const args: string[] = [];
      t.llm.registerFunction(weather, (a) => {
        args.push(JSON.stringify(a));
        return { temp_c: 18 };
      });
      t.task.queueFrame(new LLMContextFrame(context));
      await until(() => t.ends() >= 1, 3_000, "the answer");
      await new Promise((r) => setTimeout(r, 50));
      await t.finish();
      seen.push(
        `args ${args.join("|")} errors ${t.upErrors().join("|")} warnings ${t.warnings().join("|")} context ${JSON.stringify(context.messages.slice(1))}`.replace(
          /#\d+/gu,
          "#n", // the service's instance number differs between the two runs
        ),
      );
    }
    console.log(`measured: tool args after finish_reason: on: ${seen[0]} / off: ${seen[1]}`);
    expect(seen[0]).toEqual(seen[1]);
  });

  it("held: 400 turns, each body held open after its answer: bodiesDraining and the server's open connections stay bounded by the 500 ms drain and go to 0", async () => {
    let open = 0;
    let maxOpen = 0;
    const srv = await openaiServer((sse, n) => {
      open++;
      maxOpen = Math.max(maxOpen, open);
      sse.send(roleChunk());
      sse.send(textChunk(`A${n}.`));
      sse.send(finishChunk("stop"));
      sse.send(usageChunk(3, 1)); // held open
    });
    const t = runOpenAI(srv);
    let maxDraining = 0;
    /** Real time each answer ended; a drain belongs to an answer ended within the last 500 ms (the documented bound). */
    const endedAt: number[] = [];
    let worstOverWindow = -Infinity;
    const turns = 400;
    const from = performance.now();
    for (let n = 1; n <= turns; n++) {
      await turn(t, n);
      const now = performance.now();
      endedAt.push(now);
      const draining = t.llm.bodiesDraining;
      maxDraining = Math.max(maxDraining, draining);
      // 500 ms + 500 ms of slack for a late timer on a loaded machine.
      const recent = endedAt.filter((at) => now - at <= 1_000).length;
      worstOverWindow = Math.max(worstOverWindow, draining - recent);
    }
    const elapsed = performance.now() - from;
    const stillOpen = (): number => srv.requests.filter((r) => !r.closed).length;
    const openAtEnd = stillOpen();
    const drainFrom = performance.now();
    await until(() => t.llm.bodiesDraining === 0 && stillOpen() === 0, 3_000, "every drain over");
    const lastDrainMs = performance.now() - drainFrom;
    await t.finish();
    console.log(
      `measured: ${turns} turns in ${elapsed.toFixed(0)} ms (${(elapsed / turns).toFixed(2)} ms/turn); max bodiesDraining ${maxDraining}; bodies open at the last answer ${openAtEnd}; all let go ${lastDrainMs.toFixed(0)} ms later`,
    );
    expect(t.textsAfter()).toHaveLength(turns);
    expect(t.upErrors()).toEqual([]);
    // Bounded by time, not by the session: never more drains than answers of the last second.
    expect(worstOverWindow).toBeLessThanOrEqual(0);
    expect(maxDraining).toBeLessThan(turns);
  });

  it("held: an interruption during a drain: the next turn is answered, the drain still ends within BODY_END_DRAIN_MS, nothing left", async () => {
    const srv = await openaiServer((sse, n) => {
      sse.send(roleChunk());
      sse.send(textChunk(`A${n}.`));
      sse.send(finishChunk("stop"));
      sse.send(usageChunk(3, 1)); // held open
    });
    const t = runOpenAI(srv);
    await turn(t, 1);
    expect(t.llm.bodiesDraining).toBe(1);
    t.task.queueFrame(new InterruptionFrame());
    await turn(t, 2);
    const from = performance.now();
    await until(
      () => t.llm.bodiesDraining === 0 && srv.requests.every((r) => r.closed),
      2_000,
      "the drains over",
    );
    expect(performance.now() - from).toBeLessThan(1_000);
    await t.finish();
    expect(t.textsAfter()).toEqual(["A1.", "A2."]);
    expect(t.upErrors()).toEqual([]);
  });

  it("held: LLMSwitcher fails over while the first service's previous body drains (then breaks): the turn is answered by the second, the drain ends, the break is one non-fatal error, no switch back", async () => {
    const a = await openaiServer(async (sse, n) => {
      if (n > 1) return sse.error(500, "internal error");
      sse.send(roleChunk());
      sse.send(textChunk("A1."));
      sse.send(finishChunk("stop"));
      sse.send(usageChunk(3, 1)); // held open, then cut mid-body
      await new Promise((r) => setTimeout(r, 150));
      sse.raw('data: {"partial');
      sse.destroy();
    });
    const b = await openaiServer((sse, n) => {
      sse.send(roleChunk());
      sse.send(textChunk(`B${n}.`));
      sse.send(finishChunk("stop"));
      sse.send(usageChunk(3, 1));
      sse.raw("data: [DONE]\n\n");
      sse.end();
    });
    const mk = (srv: LoopbackOpenAI, name: string) =>
      new OpenAILLMService({ name, apiKey: "sk-test", baseURL: srv.baseURL, env: {}, model: "gpt-test" });
    const first = mk(a, "first");
    const second = mk(b, "second");
    const switcher = new LLMSwitcher([first, second], { name: "switcher" });
    const switches: string[] = [];
    switcher.on(
      "switched",
      (from, to, reason) => void switches.push(`${from.name}->${to.name}:${JSON.stringify(reason)}`),
    );
    const t = runProcessor(switcher, { clock: new SystemClock() });
    const ends = () => count(t.down, LLMFullResponseEndFrame);
    const texts = () => t.down.ofType(LLMTextFrame).map((f) => f.text);
    t.task.queueFrame(new LLMContextFrame(userContext("q1")));
    await until(() => ends() === 1, 3_000, "answer 1");
    expect(first.bodiesDraining).toBe(1);
    t.task.queueFrame(new LLMContextFrame(userContext("q2")));
    await until(() => ends() === 2, 3_000, "answer 2");
    await until(() => first.bodiesDraining === 0, 2_000, "the first's drain over");
    t.task.queueFrame(new LLMContextFrame(userContext("q3")));
    await until(() => ends() === 3, 3_000, "answer 3");
    await new Promise((r) => setTimeout(r, 50));
    await t.finish();
    const errors = t.up
      .ofType(ErrorFrame)
      .map((f) => `${f.fatal ? "fatal" : "non-fatal"}: ${f.error.message}`);
    console.log(
      `measured: switcher during a drain: texts ${JSON.stringify(texts())}; switches ${JSON.stringify(switches)}; errors ${JSON.stringify(errors)}`,
    );
    expect(texts()).toEqual(["A1.", "B1.", "B2."]); // B numbers its own requests
    expect(switches).toHaveLength(1);
    expect(errors.every((e) => e.startsWith("non-fatal"))).toBe(true);
    expect(errors.filter((e) => /the rest of its body broke/.test(e)).length).toBeLessThanOrEqual(1);
    expect(t.errors.filter((e) => e.fatal)).toEqual([]);
  });

  it("held: cancel during a drain lets go of the body at once", async () => {
    const srv = await openaiServer((sse) => {
      sse.send(roleChunk());
      sse.send(textChunk("A."));
      sse.send(finishChunk("stop"));
      sse.send(usageChunk(3, 1)); // held open
    });
    const t = runOpenAI(srv);
    await turn(t, 1);
    expect(t.llm.bodiesDraining).toBe(1);
    const from = performance.now();
    await t.task.cancel();
    await t.done;
    expect(t.llm.bodiesDraining).toBe(0);
    await until(() => srv.requests[0]!.closed, 1_000, "the body let go");
    expect(performance.now() - from).toBeLessThan(450); // the drain alone would take 500
  });
});

// ============================================================== 2. pending transcriptions

/** The user aggregator alone on a VirtualClock, fed the frames a turn processor and STTs push. */
async function userSide(transcriptWaitMs = 1_000) {
  const context = new LLMContext({ messages: [] });
  const user = new LLMUserAggregator(context, { transcriptWaitMs });
  const s = await started(user);
  const events: string[] = [];
  const at = () => s.clock.now();
  user.on("userTurnCommitted", (text) => void events.push(`commit@${at()}:${text}`));
  user.on("userTurnEmpty", () => void events.push(`empty@${at()}`));
  const pending = (id: number, requested: number, settled: number) =>
    new TranscriptionPendingFrame(id, `stt${id}`, requested, settled);
  const settledF = (id: number, requested: number, settled: number) =>
    new TranscriptionSettledFrame(id, `stt${id}`, requested, settled);
  const words = (text: string) => new TranscriptionFrame(text, "user", at());
  return { ...s, user, context, events, pending, settled: settledF, words };
}

describe("2. pending transcriptions of a segmented STT", () => {
  it("held: two STTs pending at the stop: the turn waits for both, commits once at the second answer with both words", async () => {
    const u = await userSide();
    await u.send(
      new UserStartedSpeakingFrame(),
      u.pending(1, 1, 0),
      u.pending(2, 1, 0),
      new UserStoppedSpeakingFrame(),
    );
    await u.clock.advance(100);
    await u.send(u.words("hello"), u.settled(1, 1, 1));
    expect(u.events).toEqual([]);
    await u.clock.advance(200);
    await u.send(u.words("world"), u.settled(2, 1, 1));
    expect(u.events).toEqual(["commit@300:hello world"]);
    await u.clock.advance(2_000);
    expect(u.events).toHaveLength(1);
  });

  it("held: an interruption storm (500 InterruptionFrames) while the stop waits: the settled frame still commits the turn, once", async () => {
    const u = await userSide();
    await u.send(new UserStartedSpeakingFrame(), u.pending(1, 1, 0), new UserStoppedSpeakingFrame());
    const storm: Frame[] = [];
    for (let i = 0; i < 500; i++) storm.push(new InterruptionFrame());
    await u.send(...storm);
    await u.clock.advance(50);
    await u.send(u.words("still here"), ...storm.map(() => new InterruptionFrame()), u.settled(1, 1, 1));
    expect(u.events).toEqual(["commit@50:still here"]);
  });

  it("held: totals that go backwards or say more settled than requested never wait past transcriptWaitMs, never commit twice", async () => {
    const u = await userSide();
    // settled > requested (a buggy STT), then lower totals than already seen.
    await u.send(u.settled(1, 3, 5), u.pending(1, 2, 1));
    await u.send(new UserStartedSpeakingFrame(), u.words("one"), new UserStoppedSpeakingFrame());
    await u.clock.advance(1_000);
    await u.send(new UserStartedSpeakingFrame(), u.pending(1, 7, 0), new UserStoppedSpeakingFrame());
    await u.clock.advance(1_000);
    expect(u.events).toEqual(["commit@0:one", "empty@2000"]);
  });

  // A buggy STT whose settled total lags one behind forever (it lost one answer and never
  // settles it). Documented: "a stale pending count costs at most one transcriptWaitMs".
  it("held (bounded per turn): a pending that never settles (totals lag by one for ever): every later stop waits, but never past transcriptWaitMs", async () => {
    const u = await userSide(1_000);
    await u.send(new UserStartedSpeakingFrame(), u.pending(1, 1, 0), new UserStoppedSpeakingFrame());
    await u.clock.advance(1_000);
    const waits: number[] = [];
    for (let n = 2; n <= 6; n++) {
      await u.send(new UserStartedSpeakingFrame(), u.pending(1, n, n - 2));
      await u.send(u.words(`turn ${n}`), u.settled(1, n, n - 1));
      const stopAt = u.clock.now();
      await u.send(new UserStoppedSpeakingFrame());
      const before = u.events.length;
      await u.clock.runUntil(() => u.events.length > before, { maxMs: 5_000 });
      waits.push(u.clock.now() - stopAt);
    }
    console.log(`measured: waits at the stop after one never-settled request: ${JSON.stringify(waits)} ms`);
    expect(waits.every((w) => w <= 1_000)).toBe(true);
  });

  it("held: OpenAI transcription against a loopback server (ok, hang past the deadline, 500 twice, malformed, ok) with interruptions between: every request's pending frame is matched by one settled frame, totals only rise, each transcript just before its settled frame", async () => {
    const answers = ["ok", "hang", { status: 500 }, { status: 500 }, { body: "not json" }, "ok"] as const;
    const server: FakeOpenAIAudio = await fakeOpenAIAudio({
      transcription: (n) => answers[Math.min(n - 1, answers.length - 1)]!,
      transcript: (n) => `words ${n}`,
    });
    closers.push(server);
    const stt = new OpenAISTTService({
      apiKey: "test-key",
      env: {},
      baseURL: server.baseURL,
      requestTimeoutMs: 150,
    });
    const s = await startTTS(stt, new SystemClock());
    const utter = () => {
      s.queue(new VADUserStartedSpeakingFrame());
      for (let t = 0; t < 200; t += 20) s.queue(speechChunk(20, 16_000, 1, t));
      s.queue(new VADUserStoppedSpeakingFrame(), new InterruptionFrame());
    };
    for (let i = 0; i < 5; i++) utter();
    const settledFrames = () => s.down.ofType(TranscriptionSettledFrame);
    await until(() => settledFrames().length === 5, 5_000, "five settled frames");
    await endTTS(s);
    const pendings = s.down.ofType(TranscriptionPendingFrame);
    const settleds = settledFrames();
    console.log(
      `measured: pending ${JSON.stringify(pendings.map((p) => [p.requested, p.settled]))} settled ${JSON.stringify(settleds.map((p) => [p.requested, p.settled]))}`,
    );
    expect(pendings.map((p) => p.requested)).toEqual([1, 2, 3, 4, 5]);
    expect(settleds.map((p) => p.settled)).toEqual([1, 2, 3, 4, 5]);
    for (const f of [...pendings, ...settleds]) expect(f.settled).toBeLessThanOrEqual(f.requested);
    // Each transcript is immediately followed by a settled frame.
    const order = s.down.frames.filter(
      (f) => f instanceof TranscriptionFrame || f instanceof TranscriptionSettledFrame,
    );
    order.forEach((f, i) => {
      if (f instanceof TranscriptionFrame) expect(order[i + 1]).toBeInstanceOf(TranscriptionSettledFrame);
    });
  });
});

// ============================================================== 3. TTS waits

const never = (): Promise<void> => new Promise<void>(() => undefined);

type Misuse = (
  request: SynthesisRequest,
  text: string,
  tts: MisusingTTS,
  signal: AbortSignal,
) => Promise<void>;

/**
 * A user's engine (a subclass of the public base) that, before its audio, runs `misuse` for the
 * sentences it names; every other sentence is 10 ms of tone per character, in two chunks.
 * `afterFirstChunk` runs the misuse between the two chunks (after its output began).
 */
class MisusingTTS extends TTSService {
  readonly began: string[] = [];
  constructor(
    readonly misuse: Map<string, Misuse>,
    options: TTSServiceOptions & { afterFirstChunk?: boolean } = {},
  ) {
    super(options);
    this.afterFirstChunk = options.afterFirstChunk ?? false;
  }
  readonly afterFirstChunk: boolean;
  protected override get engineSampleRate(): number {
    return 16_000;
  }
  protected override async *synthesize(
    text: string,
    signal: AbortSignal,
    request: SynthesisRequest,
  ): AsyncIterable<SynthesisOutput> {
    this.began.push(text);
    const misuse = this.misuse.get(text.trim());
    const audio = new Int16Array(text.length * 160).fill(1000);
    const half = Math.floor(audio.length / 2);
    if (misuse && !this.afterFirstChunk) await misuse(request, text, this, signal);
    yield audio.subarray(0, half);
    if (misuse && this.afterFirstChunk) await misuse(request, text, this, signal);
    if (signal.aborted) throw signal.reason;
    yield audio.subarray(half);
  }
  /** The clock, for a misuse that sleeps. */
  get taskClock() {
    return this.clock;
  }
}

const spoken = (s: TTSSession): string[] => s.down.ofType(TTSTextFrame).map((f) => f.text.trim());
const stops = (s: TTSSession): number => s.down.ofType(TTSStoppedFrame).length;
const errorsOf = (s: TTSSession): Error[] => s.errors().map((e) => e.error);

/**
 * On the system clock: a promise that never settles is not I/O of the clock, and the base's own
 * bounded waits for a stuck engine are (docs/design/clock.md), so a virtual clock would only say
 * "tracked real work did not finish". Short bounds keep it quick.
 */
async function ttsSession(
  misuse: Record<string, Misuse>,
  options: TTSServiceOptions & { afterFirstChunk?: boolean } = {},
) {
  const clock = new SystemClock();
  const log = memoryLogger();
  const tts = new MisusingTTS(new Map(Object.entries(misuse)), {
    stallTimeoutMs: 150,
    releaseTimeoutMs: 600,
    ...options,
  });
  const s = await startTTS(tts, clock, { logger: log.logger });
  const warnings = (): string[] => log.lines.filter((l) => l.level === "warn").map((l) => l.message);
  /** Real ms until `predicate` holds. */
  const msUntil = async (predicate: () => boolean, what: string): Promise<number> => {
    const from = performance.now();
    await until(predicate, 5_000, what);
    return performance.now() - from;
  };
  return { s, clock, tts, warnings, msUntil };
}

describe("3. TTS waits misused by a user's engine (system clock, stallTimeoutMs 150, releaseTimeoutMs 600)", () => {
  /**
   * Sends `bad` (whose misuse ends it with an error), then, once the error is out, "Next.";
   * returns the ms from the start to the error and from the error to "Next." spoken.
   */
  async function badThenNext(t: Awaited<ReturnType<typeof ttsSession>>, bad: string) {
    t.s.answer(bad);
    const toError = await t.msUntil(() => t.s.errors().length === 1, "the error");
    t.s.answer("Next.");
    const toNext = await t.msUntil(() => spoken(t.s).includes("Next."), "the next sentence");
    await endTTS(t.s);
    return { toError, toNext };
  }

  it("held: waitForConnection(an already-rejected promise): that error fails the sentence once, the next one is spoken at once, nothing left", async () => {
    const t = await ttsSession({
      "Broken.": (r) => r.waitForConnection(Promise.reject(new Error("socket gave up: 401"))),
    });
    const { toNext } = await badThenNext(t, "Broken.");
    expect(errorsOf(t.s)[0]!.message).toContain("socket gave up: 401");
    expect(t.s.errors()).toHaveLength(1);
    expect(spoken(t.s)).toEqual(["Next."]);
    expect(toNext).toBeLessThan(300); // releaseTimeoutMs is 600
    expect(t.warnings()).toEqual([]);
  });

  it("held: waitForConnection twice in a row (0.6 × the bound each) is no stall: the sentence is spoken", async () => {
    const t = await ttsSession({
      "Twice.": async (r, _t, tts) => {
        await r.waitForConnection(tts.taskClock.sleep(90));
        await r.waitForConnection(tts.taskClock.sleep(90));
      },
    });
    t.s.answer("Twice.");
    await t.msUntil(() => stops(t.s) === 1, "the answer");
    await endTTS(t.s);
    expect(t.s.errors()).toEqual([]);
    expect(spoken(t.s)).toEqual(["Twice."]);
  });

  // Why a defect: `request.waitForConnection(opened)` is the base's own helper, and the base
  // knows the piece's abort signal, but the wait does not end when the piece is abandoned: it
  // waits for `opened` only (src/services/tts/piece-stall.ts `connection`). A socket's "opened"
  // promise that never settles (a connect attempt hung, a socket that neither opens nor gives up)
  // leaves `synthesize` stuck inside the helper after its own TTSConnectionWaitError, so the base
  // then waits releaseTimeoutMs for the engine to let go (holding the next sentence that long)
  // and warns "it may still hold a process or a connection", blaming the engine for the base's
  // wait. Root fix: `PieceStall.connection`/`aside` (or the request built in
  // `#synthesizePiece`) race the promise with the piece's `control.signal`, rejecting with
  // its reason, so the helper ends the moment the piece does.
  it("fixed: waitForConnection(never) ends with the sentence at TTSConnectionWaitError: the next sentence is spoken at once, no warning", async () => {
    const t = await ttsSession({ "Lost.": (r) => r.waitForConnection(never()) });
    const { toError, toNext } = await badThenNext(t, "Lost.");
    console.log(
      `measured: connection wait(never): error after ${toError.toFixed(0)} ms, next sentence ${toNext.toFixed(0)} ms after it; warnings ${JSON.stringify(t.warnings())}`,
    );
    expect(errorsOf(t.s)[0]).toBeInstanceOf(TTSConnectionWaitError);
    expect(toError).toBeGreaterThanOrEqual(140);
    expect(spoken(t.s)).toEqual(["Next."]);
    expect(t.warnings()).toEqual([]);
    expect(toNext).toBeLessThan(300); // releaseTimeoutMs is 600
  });

  // Same root as above, after the sentence's audio began.
  it("fixed: waitForConnection(never) after the sentence's audio began: skipped at stallTimeoutMs, the next sentence at once", async () => {
    const t = await ttsSession({ "Half.": (r) => r.waitForConnection(never()) }, { afterFirstChunk: true });
    const { toError, toNext } = await badThenNext(t, "Half.");
    console.log(
      `measured: after-output connection wait(never): error after ${toError.toFixed(0)} ms, next ${toNext.toFixed(0)} ms after it`,
    );
    expect(errorsOf(t.s)[0]).toBeInstanceOf(TTSConnectionWaitError);
    expect(t.warnings()).toEqual([]);
    expect(toNext).toBeLessThan(300);
  });

  // Same root: `aside` awaits `until` alone. synthesisTimeoutMs does end the sentence (the
  // documented promise holds for the listener), then the lane waits releaseTimeoutMs more.
  it("fixed: waitForRateLimit(never): synthesisTimeoutMs ends the sentence and the wait, the next sentence at once", async () => {
    const t = await ttsSession(
      { "Limited.": (r) => r.waitForRateLimit(never()) },
      { synthesisTimeoutMs: 400 },
    );
    const { toError, toNext } = await badThenNext(t, "Limited.");
    console.log(
      `measured: rate-limit wait(never): error after ${toError.toFixed(0)} ms, next ${toNext.toFixed(0)} ms after it`,
    );
    expect(errorsOf(t.s)[0]).toBeInstanceOf(TTSTimeoutError);
    expect(errorsOf(t.s)[0]!.message).toMatch(/synthesisTimeoutMs/);
    expect(toError).toBeGreaterThanOrEqual(390); // not a stall at 150 ms
    expect(t.warnings()).toEqual([]);
    expect(toNext).toBeLessThan(300);
  });

  it("held: waitForRateLimit(never) is not a stall: only synthesisTimeoutMs ends it (error kind and time)", async () => {
    const t = await ttsSession(
      { "Limited.": (r) => r.waitForRateLimit(never()) },
      { synthesisTimeoutMs: 400 },
    );
    const { toError } = await badThenNext(t, "Limited.");
    expect(errorsOf(t.s)).toHaveLength(1);
    expect(errorsOf(t.s)[0]).toBeInstanceOf(TTSTimeoutError);
    expect(toError).toBeGreaterThanOrEqual(390);
    expect(spoken(t.s)).toEqual(["Next."]);
  });

  for (const wait of ["waitForConnection", "waitForRateLimit"] as const) {
    it(`held: interruption during ${wait}(never): no error, the next answer at once, no warning (the stuck engine is left off the lane)`, async () => {
      const t = await ttsSession({ "Cut.": (r) => r[wait](never()) }, { stallTimeoutMs: 5_000 });
      t.s.answer("Cut.");
      await t.msUntil(() => t.tts.began.length === 1, "the sentence under way");
      await new Promise((r) => setTimeout(r, 30));
      t.s.queue(new InterruptionFrame());
      t.s.answer("Next.");
      const toNext = await t.msUntil(() => spoken(t.s).includes("Next."), "the next answer");
      await endTTS(t.s);
      console.log(
        `measured: interrupted ${wait}(never): next answer after ${toNext.toFixed(0)} ms; warnings ${JSON.stringify(t.warnings())}`,
      );
      expect(t.s.errors()).toEqual([]);
      expect(spoken(t.s)).toEqual(["Next."]);
      expect(t.warnings()).toEqual([]);
      expect(toNext).toBeLessThan(300);
    });
  }

  it("held: interruption during waitForConnection(a promise that honours the signal): the next answer at once, no warning", async () => {
    const t = await ttsSession(
      { "Cut.": (r, _t, tts, signal) => r.waitForConnection(tts.taskClock.sleep(60_000, signal)) },
      { stallTimeoutMs: 5_000 },
    );
    t.s.answer("Cut.");
    await t.msUntil(() => t.tts.began.length === 1, "the sentence under way");
    await new Promise((r) => setTimeout(r, 30));
    t.s.queue(new InterruptionFrame());
    t.s.answer("Next.");
    const toNext = await t.msUntil(() => spoken(t.s).includes("Next."), "the next answer");
    await endTTS(t.s);
    expect(t.s.errors()).toEqual([]);
    expect(spoken(t.s)).toEqual(["Next."]);
    expect(t.warnings()).toEqual([]);
    expect(toNext).toBeLessThan(300);
  });
});

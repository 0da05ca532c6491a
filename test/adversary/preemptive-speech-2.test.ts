/**
 * Adversary, round 2: preemptive speech through the whole pipeline (docs/design/tts-services.md
 * "Preemptive speech", docs/design/llm-services.md "Preemptive generation"):
 * LLMUserAggregator({ preemptiveGeneration }) → OpenAILLMService / LLMSwitcher (loopback) → a TTSService.
 */
import { describe, expect, it } from "vitest";
import {
  type Frame,
  InterruptionFrame,
  LLMFullResponseEndFrame,
  LLMSwitcher,
  Pipeline,
  PipelineTask,
  SystemClock,
  TTSAudioRawFrame,
  TranscriptionFrame,
  UserStartedSpeakingFrame,
  UserStoppedSpeakingFrame,
  VADUserStartedSpeakingFrame,
  VADUserStoppedSpeakingFrame,
  silentLogger,
  type ErrorFrame,
  type FrameProcessor,
} from "../../src/index.js";
import { LLMContext } from "../../src/context/index.js";
import { OpenAILLMService } from "../../src/services/llm/openai/index.js";
import { LLMUserAggregator } from "../../src/processors/aggregators/index.js";
import { FrameRecorder } from "../../src/testing/index.js";
import { type SynthesisOutput, TTSService } from "../../src/services/tts/tts-service.js";
import { type SseWriter, answer, loopbackOpenAI, until } from "../services/llm/loopback-openai.js";
import { closedAfterEach } from "../support/servers.js";

const server = closedAfterEach(loopbackOpenAI);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Audio samples carry the number of the text they were made for; counts runs and active generators. */
class CodedTTS extends TTSService {
  readonly texts: string[] = [];
  readonly asked: string[] = [];
  active = 0;
  maxActive = 0;
  constructor(
    private readonly chunks = 3,
    private readonly chunkDelayMs = 2,
  ) {
    super({});
  }
  protected override get engineSampleRate(): number {
    return 24_000;
  }
  protected override async *synthesize(text: string, signal: AbortSignal): AsyncIterable<SynthesisOutput> {
    this.asked.push(text);
    this.maxActive = Math.max(this.maxActive, ++this.active);
    try {
      let code = this.texts.indexOf(text) + 1;
      if (code === 0) code = this.texts.push(text);
      for (let i = 0; i < this.chunks; i++) {
        await sleep(this.chunkDelayMs);
        if (signal.aborted) throw signal.reason;
        yield new Int16Array(480).fill(code);
      }
    } finally {
      this.active--;
    }
  }
}

const lastUser = (sse: SseWriter): string => {
  const m = sse.request.body["messages"] as { role: string; content: string }[];
  return m.at(-1)!.content;
};
/** "Heard <words>." then " Done." : the first sentence names the words. */
const echo =
  (prefix = "Heard") =>
  (sse: SseWriter) =>
    answer(sse, [`${prefix} ${lastUser(sse)}.`, " Done."]);
const mkLLM = (baseURL: string) =>
  new OpenAILLMService({ apiKey: "sk-test", baseURL, env: {}, model: "gpt-test" });

/**
 * An `LLMSwitcher` over A (answering with `first`) and B ("B says …") before a TTS, after the user
 * said "hello" and the TTS began synthesising A's guess.
 */
async function switcherGuessed(first: (sse: SseWriter) => void | Promise<void>) {
  const a = await server(first);
  const b = await server(echo("B says"));
  const la = mkLLM(a.baseURL);
  const lb = mkLLM(b.baseURL);
  const sw = new LLMSwitcher([la, lb]);
  const tts = new CodedTTS();
  const r = rig(sw, tts);
  await sleep(30);
  r.task.queueFrames(words("hello"));
  await until(() => tts.asked.length === 1, 3_000, "the guess synthesised");
  return { la, lb, sw, tts, r };
}

function words(text: string): Frame[] {
  return [
    new UserStartedSpeakingFrame(),
    new VADUserStartedSpeakingFrame(),
    new TranscriptionFrame(text, "user", 0),
    new VADUserStoppedSpeakingFrame(),
  ];
}
const more = (text: string): Frame[] => [
  new VADUserStartedSpeakingFrame(),
  new TranscriptionFrame(text, "user", 0),
  new VADUserStoppedSpeakingFrame(),
];

function rig(llm: FrameProcessor, tts: CodedTTS) {
  const context = new LLMContext({ messages: [{ role: "system", content: "Be brief." }] });
  const user = new LLMUserAggregator(context, { preemptiveGeneration: true, transcriptWaitMs: 20 });
  const texts = new FrameRecorder();
  const down = new FrameRecorder();
  const task = new PipelineTask(new Pipeline([user, llm, texts, tts, down]), {
    clock: new SystemClock(),
    logger: silentLogger,
    idleTimeoutMs: null,
  });
  const errors: ErrorFrame[] = [];
  task.on("pipelineError", (e) => void errors.push(e));
  const done = task.run();
  const heardTexts = () =>
    down.ofType(TTSAudioRawFrame).map((f) => tts.texts[f.audio[0]! - 1] ?? `<code ${f.audio[0]}>`);
  return {
    task,
    done,
    errors,
    user,
    texts,
    down,
    heardTexts,
    answers: () => texts.ofType(LLMFullResponseEndFrame).length,
  };
}

const unhandled: unknown[] = [];
process.on("unhandledRejection", (e) => void unhandled.push(e));

describe("adversary 2: preemptive speech through aggregator → LLM → TTS", () => {
  it("held: turn confirmed with the guessed words: first sentence synthesised once, used 1; audio is the answer's", async () => {
    const srv = await server(echo());
    const llm = mkLLM(srv.baseURL);
    const tts = new CodedTTS();
    const r = rig(llm, tts);
    await sleep(30);
    r.task.queueFrames(words("hello there"));
    await until(() => tts.asked.length === 1, 3_000, "the guess synthesised");
    await sleep(30);
    r.task.queueFrame(new UserStoppedSpeakingFrame());
    await until(() => r.answers() === 1, 3_000, "answer");
    await sleep(100);
    void r.task.stopWhenDone();
    await r.done;
    expect(tts.asked.filter((t) => t.startsWith("Heard")).map((t) => t.trim())).toEqual([
      "Heard hello there.",
    ]);
    expect(tts.preemptiveSpeechUsed).toBe(1);
    expect(tts.preemptiveSpeechDiscarded).toBe(0);
    expect(llm.preemptiveAnswersUsed).toBe(1);
    expect(new Set(r.heardTexts())).toEqual(
      new Set(["Heard hello there.", " Done."].map((s) => tts.texts.find((t) => t.trim() === s.trim())!)),
    );
    expect(srv.requests).toHaveLength(1);
    expect(tts.active).toBe(0);
    expect(r.errors).toEqual([]);
  });

  it("held: turn confirmed with different words: nothing of the guess heard, discarded 1", async () => {
    const srv = await server(echo());
    const llm = mkLLM(srv.baseURL);
    const tts = new CodedTTS();
    const r = rig(llm, tts);
    await sleep(30);
    r.task.queueFrames(words("hello"));
    await until(() => tts.asked.length === 1, 3_000, "the guess synthesised");
    r.task.queueFrames([...more("again"), new UserStoppedSpeakingFrame()]);
    await until(() => r.answers() >= 1, 3_000, "answer");
    await sleep(150);
    void r.task.stopWhenDone();
    await r.done;
    const heard = new Set(r.heardTexts().map((t) => t.trim()));
    expect(heard.has("Heard hello.")).toBe(false);
    expect([...heard].every((t) => ["Heard hello again.", "Done."].includes(t))).toBe(true);
    expect(heard.has("Heard hello again.")).toBe(true);
    expect(tts.preemptiveSpeechUsed).toBe(0);
    expect(tts.preemptiveSpeechDiscarded).toBeGreaterThanOrEqual(1);
    expect(tts.active).toBe(0);
    expect(r.errors).toEqual([]);
  });

  it("held: LLMSwitcher switched (switchTo) between the guess and the confirmation: only the new service's answer is heard", async () => {
    const { la, lb, sw, tts, r } = await switcherGuessed(echo("A says"));
    expect(tts.asked[0]!.trim()).toBe("A says hello.");
    sw.switchTo(lb);
    r.task.queueFrame(new UserStoppedSpeakingFrame());
    await until(() => r.answers() >= 1, 3_000, "answer");
    await sleep(150);
    void r.task.stopWhenDone();
    await r.done;
    const heard = new Set(r.heardTexts().map((t) => t.trim()));
    expect([...heard].sort()).toEqual(["B says hello.", "Done."].sort());
    expect(tts.preemptiveSpeechUsed).toBe(0);
    expect(tts.preemptiveSpeechDiscarded).toBe(1);
    expect(la.preemptiveAnswersUsed).toBe(0);
    expect(tts.active).toBe(0);
    expect(r.errors).toEqual([]);
  });

  it("held: LLMSwitcher failover (first service's server fails the confirmed request): the guess's audio is not played for B's answer", async () => {
    let n = 0;
    const { tts, r } = await switcherGuessed((sse) => {
      n++;
      // The preemptive request succeeds; anything after fails with 500.
      if (n === 1) return echo("A says")(sse);
      sse.error(500, "boom");
    });
    // Different words: A must ask again, and fails; B answers.
    r.task.queueFrames([...more("again"), new UserStoppedSpeakingFrame()]);
    await until(() => r.answers() >= 1 || r.errors.length > 0, 5_000, "answer");
    await sleep(200);
    void r.task.stopWhenDone();
    await r.done;
    const heard = new Set(r.heardTexts().map((t) => t.trim()));
    expect(heard.has("A says hello.")).toBe(false);
    for (const t of heard) expect(["B says hello again.", "A says hello again.", "Done."]).toContain(t);
    expect(tts.active).toBe(0);
  });

  for (const how of ["interrupt", "cancel", "end"] as const) {
    for (const point of [
      "guess-synthesising",
      "guess-held",
      "confirmed-immediately",
      "mid-answer",
    ] as const) {
      it(`held: ${how} at ${point}: ends within bounds, no engine left running, no unhandled rejection`, async () => {
        const srv = await server(echo());
        const llm = mkLLM(srv.baseURL);
        const tts = new CodedTTS(point === "guess-synthesising" ? 50 : 3, 5);
        const r = rig(llm, tts);
        await sleep(30);
        const before = unhandled.length;
        r.task.queueFrames(words("hello there"));
        await until(() => tts.asked.length === 1, 3_000, "the guess synthesised");
        if (point === "guess-held") await sleep(40);
        if (point !== "guess-synthesising" && point !== "guess-held")
          r.task.queueFrame(new UserStoppedSpeakingFrame());
        if (point === "mid-answer")
          await until(() => r.down.ofType(TTSAudioRawFrame).length > 0, 3_000, "audio");
        const t0 = performance.now();
        if (how === "interrupt") {
          r.task.queueFrame(new InterruptionFrame());
          await sleep(50);
          void r.task.stopWhenDone();
        } else if (how === "cancel") void r.task.cancel();
        else void r.task.stopWhenDone();
        await Promise.race([
          r.done,
          sleep(4_000).then(() => {
            throw new Error("task did not end in 4 s");
          }),
        ]);
        expect(performance.now() - t0).toBeLessThan(4_000);
        await sleep(20);
        expect(tts.active).toBe(0);
        expect(tts.maxActive).toBeLessThanOrEqual(1);
        expect(unhandled.length).toBe(before);
        // Counters consistent: every held guess is used or discarded, never both, by the end.
        expect(tts.preemptiveSpeechUsed + tts.preemptiveSpeechDiscarded).toBe(1);
        if (how === "interrupt" && point !== "mid-answer" && point !== "confirmed-immediately") {
          expect(r.down.ofType(TTSAudioRawFrame)).toEqual([]);
        }
        await until(() => srv.requests.every((q) => q.closed), 2_000, "requests closed");
      });
    }
  }

  it("held: 200 turns (alternating right and wrong guesses): no timer growth, counters consistent", async () => {
    const srv = await server(echo());
    const llm = mkLLM(srv.baseURL);
    const tts = new CodedTTS(1, 0);
    const r = rig(llm, tts);
    await sleep(30);
    const timers = () => process.getActiveResourcesInfo().filter((x) => x === "Timeout").length;
    let baseline = -1;
    const TURNS = 200;
    for (let i = 0; i < TURNS; i++) {
      const guessed = tts.asked.length;
      r.task.queueFrames(words(`turn ${i}`));
      await until(() => tts.asked.length > guessed, 3_000, `guess ${i}`);
      if (i % 2 === 1) r.task.queueFrames(more("extra"));
      r.task.queueFrame(new UserStoppedSpeakingFrame());
      await until(() => r.answers() === i + 1, 3_000, `answer ${i}`);
      await until(() => tts.active === 0 && r.down.ofType(TTSAudioRawFrame).length > 0, 3_000, "quiet");
      await sleep(5);
      if (i === 20) baseline = timers();
    }
    await sleep(50);
    const after = timers();
    void r.task.stopWhenDone();
    await r.done;
    expect(after).toBeLessThanOrEqual(baseline + 3);
    // Odd turns: the extra words may (timing) make a second, right guess that replaces the first.
    // Every turn's first sentence is asked once fresh or once ahead; every ahead one is used or discarded.
    expect(tts.preemptiveSpeechUsed).toBeGreaterThanOrEqual(TURNS / 2);
    expect(tts.preemptiveSpeechDiscarded).toBeGreaterThanOrEqual(
      TURNS / 2 - (tts.preemptiveSpeechUsed - TURNS / 2),
    );
    expect(tts.asked.filter((t) => t.startsWith("Heard")).length).toBe(TURNS + tts.preemptiveSpeechDiscarded);
    expect(llm.preemptiveAnswersUsed).toBeGreaterThanOrEqual(TURNS / 2);
    expect(tts.maxActive).toBe(1);
    expect(r.errors).toEqual([]);
    // No guess's audio for another turn's answer.
    const heard = r.heardTexts().map((t) => t.trim());
    for (let i = 0; i < TURNS; i += 2) expect(heard).toContain(`Heard turn ${i}.`);
    for (let i = 1; i < TURNS; i += 2) expect(heard).not.toContain(`Heard turn ${i}.`);
  }, 60_000);
});

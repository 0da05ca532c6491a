/**
 * A user turn made of several segments of a segmented STT (docs/design/conversation.md, "The bounded
 * wait after the stop"): the turn's stop must wait for the transcription still on its way, so the
 * turn is ONE user message and ONE LLM run. Real loopback servers (OpenAI transcription and chat
 * completions) on the real clock: a virtual clock fires no timer while a request is in flight
 * (docs/design/clock.md), so on it the stop could never come before the second answer.
 */
import { afterEach, describe, expect, it } from "vitest";
import {
  type Frame,
  FrameDirection,
  LLMContext,
  LLMUserAggregator,
  Pipeline,
  PipelineTask,
  SpeechTimeoutStopStrategy,
  SystemClock,
  TranscriptionFrame,
  UserTurnProcessor,
  VADUserStartedSpeakingFrame,
  VADUserStoppedSpeakingFrame,
  silentLogger,
} from "../../../src/index.js";
import { OpenAILLMService } from "../../../src/services/llm/openai/index.js";
import { OpenAISTTService } from "../../../src/services/openai-audio/stt.js";
import { FrameRecorder } from "../../../src/testing/index.js";
import { speechChunk } from "../../services/deepgram/stt-session.js";
import { type LoopbackOpenAI, answer, loopbackOpenAI, until } from "../../services/llm/loopback-openai.js";
import { type FakeOpenAIAudio, fakeOpenAIAudio } from "../../services/openai-audio/fake-openai-audio.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A gate the test opens: the promise the fake transcription server waits on. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

async function assistant(stt: FakeOpenAIAudio, llmServer: LoopbackOpenAI, speechTimeoutMs: number) {
  const context = new LLMContext({ messages: [{ role: "system", content: "Be brief." }] });
  const turns = new UserTurnProcessor({
    stopStrategies: [new SpeechTimeoutStopStrategy({ timeoutMs: speechTimeoutMs })],
  });
  const user = new LLMUserAggregator(context);
  const committed: string[] = [];
  user.on("userTurnCommitted", (text) => void committed.push(text));
  const stops: number[] = [];
  turns.on("userTurnStopped", () => void stops.push(performance.now()));
  const down = new FrameRecorder(FrameDirection.DOWNSTREAM, { name: "down" });
  const task = new PipelineTask(
    new Pipeline([
      new OpenAISTTService({ apiKey: "test-key", baseURL: stt.baseURL, env: {} }),
      turns,
      user,
      new OpenAILLMService({ apiKey: "sk-test", baseURL: llmServer.baseURL, env: {}, model: "gpt-test" }),
      down,
    ]),
    { clock: new SystemClock(), logger: silentLogger, idleTimeoutMs: null },
  );
  let started = false;
  task.on("pipelineStarted", () => void (started = true));
  const finished = task.run();
  cleanups.push(async () => {
    if (!task.hasFinished()) await task.cancel("test over");
    await finished;
  });
  await until(() => started, 5_000, "the task to start");
  const queue = (...frames: Frame[]) => frames.forEach((f) => task.queueFrame(f));
  return {
    context,
    committed,
    stops,
    down,
    task,
    finished,
    /** One VAD segment: start, `ms` of speech in 20 ms frames, stop (queued at once: no pacing needed). */
    segment(ms: number) {
      queue(new VADUserStartedSpeakingFrame());
      for (let t = 0; t < ms; t += 20) queue(speechChunk(20, 16_000, 1, t));
      queue(new VADUserStoppedSpeakingFrame());
    },
    transcripts: () => down.ofType(TranscriptionFrame).map((f) => f.text),
  };
}

describe("a segmented STT, a turn of two segments, ended by a stop strategy before the second transcription answers", () => {
  it("is ONE user message holding both segments' words and ONE LLM run", async () => {
    const second = gate();
    const stt = await fakeOpenAIAudio({
      transcript: (n) => (n === 1 ? "book a table" : "for two"),
      transcription: (n) => (n === 1 ? "ok" : { after: second.promise }),
    });
    cleanups.push(() => stt.close());
    const llm = await loopbackOpenAI((sse) => answer(sse, ["Done."]));
    cleanups.push(() => llm.close());
    const a = await assistant(stt, llm, 500); // a wide margin over the queueing between the segments

    // "book a table" … a pause shorter than the speech timeout … "for two", then silence.
    a.segment(400);
    a.segment(300);
    await until(
      () => a.transcripts().length === 1 && stt.requests.length === 2,
      5_000,
      "the first transcript",
    );
    // The speech timeout ends the turn while the second transcription is still on its way.
    await until(() => a.stops.length === 1, 5_000, "the turn's stop");
    second.open();
    await until(() => a.transcripts().length === 2, 5_000, "the second transcript");
    await until(() => llm.requests.length >= 1 && llm.requests.every((r) => r.closed), 5_000, "the answer");
    void a.task.stopWhenDone();
    await a.finished;

    expect(a.committed).toEqual(["book a table for two"]);
    expect(a.context.messages.filter((m) => m.role === "user").map((m) => m.content)).toEqual([
      "book a table for two",
    ]);
    expect(llm.requests).toHaveLength(1);
  });
});

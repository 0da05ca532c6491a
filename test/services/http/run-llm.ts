import { expect } from "vitest";
import {
  type Clock,
  ErrorFrame,
  type Frame,
  FrameDirection,
  type FrameProcessor,
  LLMContextFrame,
  LLMFullResponseEndFrame,
  LLMTextFrame,
  type Logger,
  MetricsFrame,
  Pipeline,
  PipelineTask,
  SystemClock,
  VirtualClock,
  silentLogger,
} from "../../../src/index.js";
import { LLMContext } from "../../../src/context/index.js";
import type { LLMService } from "../../../src/services/llm/index.js";
import { OpenAILLMService, type OpenAILLMServiceOptions } from "../../../src/services/llm/openai/index.js";
import { FrameRecorder } from "../../../src/testing/index.js";
import { memoryLogger } from "../../support/logger.js";
import { until } from "./loopback-sse.js";

/**
 * A task around `processor`, with recorders at both ends (and `after` behind the downstream
 * one), on `clock`.
 */
export function runProcessor(
  processor: FrameProcessor,
  {
    clock = new VirtualClock(),
    after = [],
    logger = silentLogger,
  }: { clock?: Clock; after?: FrameProcessor[]; logger?: Logger } = {},
) {
  const up = new FrameRecorder(FrameDirection.UPSTREAM);
  const down = new FrameRecorder();
  const task = new PipelineTask(new Pipeline([up, processor, down, ...after]), {
    clock,
    logger,
    idleTimeoutMs: null,
  });
  const errors: ErrorFrame[] = [];
  task.on("pipelineError", (e) => void errors.push(e));
  const done = task.run();
  /** The frames pushed downstream (from the `from`th on), without metrics and the task's Start/End. */
  const kinds = (from = 0): string[] =>
    down.frames
      .slice(from)
      .filter(
        (f) =>
          !(f instanceof MetricsFrame) &&
          f.constructor.name !== "StartFrame" &&
          f.constructor.name !== "EndFrame",
      )
      .map((f) => f.constructor.name);
  /** Ends the task and waits for it (virtual clock: moves time; system clock: real time). */
  async function finish(): Promise<void> {
    void task.stopWhenDone();
    if (clock instanceof VirtualClock) await clock.runUntil(done);
    else await done;
  }
  return { up, down, task, errors, done, kinds, finish, clock };
}

/** A task around an LLM service, with recorders at both ends, on `clock`. */
export function runLLM<S extends LLMService>(llm: S, clock: Clock = new VirtualClock(), logger?: Logger) {
  const t = runProcessor(llm, { clock, ...(logger ? { logger } : {}) });
  const textsAfter = (i = 0): string[] =>
    t.down.frames
      .slice(i)
      .filter((f): f is LLMTextFrame => f instanceof LLMTextFrame)
      .map((f) => f.text);
  const metrics = () => t.down.ofType(MetricsFrame).flatMap((m) => m.data);
  return { ...t, llm, textsAfter, metrics };
}

/**
 * An `OpenAILLMService` on a loopback server (`baseURL`), in a task with recorders at both ends, on
 * `clock` (real time by default: the loopback server is real), with its warnings and the errors
 * that went upstream.
 */
export function runOpenAI(
  srv: { readonly baseURL: string },
  options: OpenAILLMServiceOptions = {},
  clock: Clock = new SystemClock(),
) {
  const log = memoryLogger();
  const llm = new OpenAILLMService({
    apiKey: "sk-test",
    baseURL: srv.baseURL,
    env: {},
    model: "gpt-test",
    ...options,
  });
  const t = runLLM(llm, clock, log.logger);
  const warnings = (): string[] => log.lines.filter((l) => l.level === "warn").map((l) => l.message);
  const upErrors = (): string[] => t.up.ofType(ErrorFrame).map((f) => f.error.message);
  return { ...t, warnings, upErrors };
}

export function userContext(text = "What's the weather in Paris?"): LLMContext {
  return new LLMContext({
    messages: [
      { role: "system", content: "Be brief." },
      { role: "user", content: text },
    ],
  });
}

export const count = (down: FrameRecorder, type: new (...a: never[]) => Frame): number =>
  down.ofType(type).length;

/**
 * Runs two requests whose answers the model cut at its token limit (the server answers both the
 * same way) and checks: each answer is spoken as far as it went, and the cut is said once at warn
 * level with what to do, the repeat counted in the summary at the end.
 */
export async function expectCutShortSaidOnce(llm: LLMService, text: string): Promise<void> {
  const log = memoryLogger();
  const t = runLLM(llm, new VirtualClock(), log.logger);
  const ends = (): number => t.down.frames.filter((f) => f instanceof LLMFullResponseEndFrame).length;
  for (const n of [1, 2]) {
    t.task.queueFrame(new LLMContextFrame(userContext()));
    await until(() => ends() === n, 5_000, `the end of answer ${n}`);
  }
  await t.finish();
  expect(t.textsAfter()).toEqual([text, text]);
  const warns = log.lines.filter((l) => l.level === "warn" && /output token limit/.test(l.message));
  expect(warns.map((w) => /more time/.test(w.message))).toEqual([false, true]);
  expect(warns[0]!.message).toMatch(/Raise the service's token limit/);
  expect(warns[1]!.message).toMatch(/1 more time/);
}

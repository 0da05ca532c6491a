import {
  type Clock,
  type ErrorFrame,
  type Frame,
  FrameDirection,
  LLMTextFrame,
  MetricsFrame,
  Pipeline,
  PipelineTask,
  VirtualClock,
  silentLogger,
} from "../../../src/index.js";
import { LLMContext } from "../../../src/context/index.js";
import type { LLMService } from "../../../src/services/llm/index.js";
import { FrameRecorder } from "../../../src/testing/index.js";

/** A task around an LLM service, with recorders at both ends, on `clock`. */
export function runLLM<S extends LLMService>(llm: S, clock: Clock = new VirtualClock()) {
  const up = new FrameRecorder(FrameDirection.UPSTREAM);
  const down = new FrameRecorder();
  const task = new PipelineTask(new Pipeline([up, llm, down]), {
    clock,
    logger: silentLogger,
    idleTimeoutMs: null,
  });
  const errors: ErrorFrame[] = [];
  task.on("pipelineError", (e) => void errors.push(e));
  const done = task.run();
  const textsAfter = (i = 0): string[] =>
    down.frames
      .slice(i)
      .filter((f): f is LLMTextFrame => f instanceof LLMTextFrame)
      .map((f) => f.text);
  /** The frames pushed downstream, without metrics and the task's Start/End. */
  const kinds = (): string[] =>
    down.frames
      .filter(
        (f) =>
          !(f instanceof MetricsFrame) &&
          f.constructor.name !== "StartFrame" &&
          f.constructor.name !== "EndFrame",
      )
      .map((f) => f.constructor.name);
  const metrics = () => down.ofType(MetricsFrame).flatMap((m) => m.data);
  /** Ends the task and waits for it (virtual clock: moves time; system clock: real time). */
  async function finish(): Promise<void> {
    void task.stopWhenDone();
    if (clock instanceof VirtualClock) await clock.runUntil(done);
    else await done;
  }
  return { llm, up, down, task, errors, done, textsAfter, kinds, metrics, finish, clock };
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

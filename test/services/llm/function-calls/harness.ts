import {
  type Frame,
  FrameDirection,
  FrameProcessor,
  FunctionCallCancelFrame,
  FunctionCallResultFrame,
  FunctionCallsStartedFrame,
  LLMContextFrame,
  LLMFullResponseEndFrame,
  LLMTextFrame,
  VirtualClock,
} from "../../../../src/index.js";
import { LLMContext, defineTool } from "../../../../src/context/index.js";
import { OpenAILLMService, type OpenAILLMServiceOptions } from "../../../../src/services/llm/openai/index.js";
import {
  type LoopbackOpenAI,
  type Responder,
  type SseWriter,
  answer,
  finishChunk,
  loopbackOpenAI,
  roleChunk,
  toolCallChunk,
  usageChunk,
} from "../loopback-openai.js";
import { runProcessor } from "../../http/run-llm.js";

export const weather = defineTool({
  name: "get_weather",
  description: "Current weather in a city",
  parameters: {
    type: "object",
    properties: { city: { type: "string" }, unit: { type: "string", enum: ["c", "f"] } },
    required: ["city"],
  },
});

export const booking = defineTool({
  name: "book_table",
  description: "Books a table",
  parameters: { type: "object", properties: { people: { type: "integer" } }, required: ["people"] },
});

export const clockTool = defineTool({
  name: "get_time",
  description: "The time in a zone",
  parameters: { type: "object", properties: { zone: { type: "string" } }, required: ["zone"] },
});

/** One tool call the loopback server streams: name, id and argument text (sent in two pieces). */
export interface ScriptedCall {
  readonly id: string;
  readonly name: string;
  readonly args: string;
}

/** Streams an answer made of tool calls only, as OpenAI does (arguments in pieces, finish "tool_calls"). */
export function toolCallAnswer(sse: SseWriter, calls: readonly ScriptedCall[]): void {
  sse.send(roleChunk());
  calls.forEach((c, index) => {
    const cut = Math.floor(c.args.length / 2);
    sse.send(toolCallChunk({ index, id: c.id, name: c.name, arguments: c.args.slice(0, cut) }));
    sse.send(toolCallChunk({ index, arguments: c.args.slice(cut) }));
  });
  sse.send(finishChunk("tool_calls"));
  sse.send(usageChunk(50, 20));
  sse.done();
}

/**
 * Stands where the assistant aggregator sits (after the output): records the function-call
 * results and cancels in the context, and once every call of a group is settled with at least one
 * result that asks for it, pushes the context upstream for the LLM to answer. A late result (its
 * group already answered) is answered the same way. Small on purpose: the real aggregator is
 * built elsewhere; this is what the LLM service must work with.
 */
export class ResultsToContext extends FrameProcessor {
  readonly #groups: { pending: Set<string>; runLlm: boolean }[] = [];
  readonly rejected: string[] = [];

  constructor(readonly llmContext: () => LLMContext) {
    super({ name: "ResultsToContext" });
  }

  override async processFrame(frame: Frame, direction: FrameDirection, signal?: AbortSignal): Promise<void> {
    if (direction === FrameDirection.DOWNSTREAM) {
      if (frame instanceof FunctionCallsStartedFrame) {
        this.#groups.push({ pending: new Set(frame.calls.map((c) => c.toolCallId)), runLlm: false });
      } else if (frame instanceof FunctionCallResultFrame) {
        const outcome = this.llmContext().recordToolResult(frame.call.toolCallId, frame.result);
        if (!outcome.accepted) this.rejected.push(`${frame.call.toolCallId}:${outcome.reason}`);
        else this.#settled(frame.call.toolCallId, frame.runLlm);
      } else if (frame instanceof FunctionCallCancelFrame) {
        this.llmContext().cancelToolCall(frame.call.toolCallId);
        this.#settled(frame.call.toolCallId, false);
      }
    }
    await super.processFrame(frame, direction, signal);
  }

  #settled(id: string, runLlm: boolean): void {
    const group = this.#groups.find((g) => g.pending.has(id));
    if (!group) {
      if (runLlm) void this.pushFrame(new LLMContextFrame(this.llmContext()), FrameDirection.UPSTREAM);
      return;
    }
    group.pending.delete(id);
    group.runLlm ||= runLlm;
    if (group.pending.size > 0) return;
    this.#groups.splice(this.#groups.indexOf(group), 1);
    if (group.runLlm) void this.pushFrame(new LLMContextFrame(this.llmContext()), FrameDirection.UPSTREAM);
  }
}

const servers: LoopbackOpenAI[] = [];

/** Closes the servers the tests opened (call in afterEach). */
export async function closeServers(): Promise<void> {
  await Promise.all(servers.splice(0).map((s) => s.close()));
}

export async function server(respond: Responder): Promise<LoopbackOpenAI> {
  const s = await loopbackOpenAI(respond);
  servers.push(s);
  return s;
}

/** Answers request 1 with `calls`, and every later request with the text "Done <n>.". */
export function callsThenText(calls: readonly ScriptedCall[]): Responder {
  return (sse, n) => (n === 1 ? toolCallAnswer(sse, calls) : answer(sse, [`Done ${n}.`]));
}

export function userContext(text = "What's the weather in Paris?"): LLMContext {
  return new LLMContext({
    messages: [
      { role: "system", content: "Be brief." },
      { role: "user", content: text },
    ],
  });
}

/**
 * A task: recorder (upstream frames) → OpenAI LLM → recorder (downstream frames) → results
 * into the context, on a virtual clock.
 */
export function run(srv: LoopbackOpenAI, options: OpenAILLMServiceOptions = {}) {
  const clock = new VirtualClock();
  const llm = new OpenAILLMService({
    apiKey: "sk-test",
    baseURL: srv.baseURL,
    env: {},
    model: "gpt-test",
    ...options,
  });
  const results = new ResultsToContext(() => llm.llmContext);
  const t = runProcessor(llm, { clock, after: [results] });
  const { down } = t;
  /** Downstream frame names, without metrics and lifecycle frames. */
  const kinds = (from = 0): string[] => t.kinds(from).filter((k) => k !== "CancelFrame");
  const texts = (): string[] => down.ofType(LLMTextFrame).map((f) => f.text);
  const answers = (): number => down.ofType(LLMFullResponseEndFrame).length;
  /** Results pushed downstream, by call id. */
  const resultOf = (id: string): FunctionCallResultFrame | undefined =>
    down.ofType(FunctionCallResultFrame).find((f) => f.call.toolCallId === id);
  return { ...t, llm, kinds, texts, answers, resultOf, clock };
}

/** A promise and its resolver. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

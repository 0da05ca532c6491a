import { describe, expect, it } from "vitest";
import {
  LLMContext,
  LLMContextError,
  LLMContextFrame,
  LLMService,
  LLMServiceError,
  type LLMCompletionRequest,
  type LLMStreamEvent,
} from "../../../src/index.js";
import { startRecordedTask } from "../../support/task.js";

/** A provider whose request adapter refuses the context, as the Anthropic and Gemini adapters do for an image they cannot take. */
class RefusingLLM extends LLMService {
  readonly model = "refusing-1";
  attempts = 0;
  protected override async *streamCompletion(_request: LLMCompletionRequest): AsyncIterable<LLMStreamEvent> {
    this.attempts++;
    yield* [];
    throw new LLMContextError(
      "messages[1]: this provider takes PNG, JPEG, GIF or WebP images; convert it first",
    );
  }
  protected override describeError(error: unknown): LLMServiceError {
    return new LLMServiceError(this.name, "connection", `${this.name}: the stream broke: ${String(error)}`);
  }
}

describe("LLMService: a context the provider's adapter refuses", () => {
  it("is a request failure: not retried, said once with the adapter's reason, the service still usable", async () => {
    const llm = new RefusingLLM({ retryBackoffMs: 0 });
    const failures: LLMServiceError[] = [];
    llm.on("completionFailed", (error) => failures.push(error));
    const s = startRecordedTask([llm]);
    await s.whenStarted();
    s.task.queueFrame(new LLMContextFrame(new LLMContext({ messages: [{ role: "user", content: "hi" }] })));
    await s.clock.runUntil(() => failures.length === 1);
    expect(llm.attempts).toBe(1);
    expect(failures[0]!.failure).toBe("request");
    expect(failures[0]!.message).toMatch(
      /cannot be sent to refusing-1: messages\[1\]: this provider takes PNG/,
    );
    expect(llm.usable).toBe(true);
    expect(s.errors).toHaveLength(1);
    await s.clock.runUntil(s.task.stopWhenDone());
  });
});

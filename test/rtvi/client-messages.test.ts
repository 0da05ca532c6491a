import { describe, expect, it } from "vitest";
import {
  EndTaskFrame,
  type Frame,
  FrameDirection,
  FrameProcessor,
  FunctionCallResultFrame,
  InputTransportMessageFrame,
  InterruptionFrame,
  InterruptionTaskFrame,
  InvalidOptionError,
  LLMMessagesAppendFrame,
  TextFrame,
} from "../../src/index.js";
import { LLMConfigureOutputFrame } from "../../src/frames/bot-output.js";
import { InputDTMFFrame } from "../../src/frames/dtmf.js";
import { RTVIClientMessageFrame, type RTVIClientRequest } from "../../src/frames/rtvi.js";
import { RTVIProcessor } from "../../src/processors/rtvi/index.js";
import { FrameRecorder } from "../../src/testing/index.js";
import { SlowTextProcessor } from "../support/processors.js";
import { startRtvi } from "./support.js";

describe("RTVI client → server messages", () => {
  it("disconnect-bot ends the task by the normal end path (EndTaskFrame upstream, outcome ended)", async () => {
    const h = startRtvi();
    await h.whenStarted();
    await h.ready();
    await h.send(h.client("disconnect-bot", {}));
    const outcome = await h.clock.runUntil(h.done, { maxMs: 5_000 });
    expect(outcome?.how).toBe("ended");
    expect(h.up.ofType(EndTaskFrame).map((f) => f.reason)).toEqual(["the client sent disconnect-bot"]);
    expect(h.rtvi.rejectedMessages).toBe(0);
  });

  describe("client-message", () => {
    it("raises clientMessage; respond() sends server-response { t, d } with the request's id", async () => {
      const h = startRtvi();
      await h.whenStarted();
      await h.ready();
      h.rtvi.on("clientMessage", (request) => {
        request.respond({ echoed: request.data, type: request.type });
      });
      await h.send(h.client("client-message", { t: "ping", d: { n: 1 } }, "req-1"));
      expect(h.ofType("server-response")).toEqual([
        {
          label: "rtvi-ai",
          type: "server-response",
          id: "req-1",
          data: { t: "ping", d: { echoed: { n: 1 }, type: "ping" } },
        },
      ]);
      expect(h.rtvi.pendingClientMessages).toBe(0);
      await h.end();
    });

    it("fail() sends error-response; a second answer is refused and sends nothing", async () => {
      const h = startRtvi();
      await h.whenStarted();
      await h.ready();
      const answers: boolean[] = [];
      h.rtvi.on("clientMessage", (request) => {
        answers.push(request.fail("no such thing"), request.respond("late"), request.answered);
      });
      await h.send(h.client("client-message", { t: "lookup" }, "req-2"));
      expect(answers).toEqual([true, false, true]);
      expect(h.messages().slice(1)).toEqual([
        { label: "rtvi-ai", type: "error-response", id: "req-2", data: { error: "no such thing" } },
      ]);
      await h.end();
    });

    it("answers error-response when nobody responds within clientMessageTimeoutMs", async () => {
      const h = startRtvi({ rtvi: { clientMessageTimeoutMs: 2_000 } });
      await h.whenStarted();
      await h.ready();
      await h.send(h.client("client-message", { t: "unheard" }, "req-3"));
      await h.clock.advance(1_999);
      expect(h.ofType("error-response")).toEqual([]);
      await h.clock.advance(1);
      expect(h.ofType("error-response")).toEqual([
        {
          label: "rtvi-ai",
          type: "error-response",
          id: "req-3",
          data: {
            error: expect.stringMatching(/no answer to client-message "unheard" within 2000 ms/) as unknown,
          },
        },
      ]);
      expect(h.rtvi.pendingClientMessages).toBe(0);
      await h.end();
    });

    it("lets a processor downstream answer through RTVIClientMessageFrame", async () => {
      class Answerer extends FrameProcessor {
        override processFrame(frame: Frame, direction: FrameDirection) {
          if (frame instanceof RTVIClientMessageFrame)
            frame.request.respond(`answered ${String(frame.request.data)}`);
          return super.processFrame(frame, direction);
        }
      }
      const h = startRtvi({ middle: [new Answerer()] });
      await h.whenStarted();
      await h.ready();
      await h.send(h.client("client-message", { t: "q", d: 42 }, "req-4"));
      expect(h.ofType("server-response")[0]).toMatchObject({
        id: "req-4",
        data: { t: "q", d: "answered 42" },
      });
      await h.end();
    });

    it("refuses requests past maxPendingClientMessages with an error-response; at the end, answers the waiting ones and clears their timers", async () => {
      const h = startRtvi({ rtvi: { maxPendingClientMessages: 2 } });
      await h.whenStarted();
      await h.ready();
      const held: RTVIClientRequest[] = [];
      h.rtvi.on("clientMessage", (r) => void held.push(r));
      for (const id of ["p1", "p2", "p3"]) await h.send(h.client("client-message", { t: "slow" }, id));
      expect(h.rtvi.pendingClientMessages).toBe(2);
      expect(h.ofType("error-response")).toEqual([
        {
          label: "rtvi-ai",
          type: "error-response",
          id: "p3",
          data: { error: "too many client-message requests waiting for an answer (2); try again later" },
        },
      ]);
      await h.end();
      expect(h.rtvi.pendingClientMessages).toBe(0);
      expect(h.clock.pendingTimers).toBe(0);
      expect(held.every((r) => r.answered)).toBe(true);
      // A graceful end still tells the client its requests will not be answered.
      expect(h.ofType("error-response").map((m) => [m.id, m.data])).toEqual([
        ["p3", expect.anything()],
        ["p1", { error: "the bot ended the session before answering" }],
        ["p2", { error: "the bot ended the session before answering" }],
      ]);
    });
  });

  describe("send-text", () => {
    it("interrupts the bot, then appends the text as a user message and runs the LLM, after the interruption", async () => {
      const h = startRtvi();
      await h.whenStarted();
      await h.ready();
      await h.send(h.client("send-text", { content: "What time is it?" }));
      await h.clock.settle();
      expect(h.up.ofType(InterruptionTaskFrame)).toHaveLength(1);
      const seen = h.down.frames.filter(
        (f) => f instanceof InterruptionFrame || f instanceof LLMMessagesAppendFrame,
      );
      expect(seen.map((f) => f.constructor.name)).toEqual(["InterruptionFrame", "LLMMessagesAppendFrame"]);
      const append = seen[1] as LLMMessagesAppendFrame;
      expect(append.messages).toEqual([{ role: "user", content: "What time is it?" }]);
      expect(append.runLlm).toBe(true);
      expect(h.messages().map((m) => m.type)).toEqual(["bot-ready", "bot-interrupted"]);
      await h.end();
    });

    it("its text survives the interruption it asks for, even behind a busy processor", async () => {
      // A slow processor is busy with the bot's text when send-text arrives: an append pushed before the
      // interruption would wait in its queue and be flushed by that interruption.
      const slow = new SlowTextProcessor(500);
      const end = new FrameRecorder(FrameDirection.DOWNSTREAM, { name: "end" });
      const h = startRtvi({ middle: [slow, end] });
      await h.whenStarted();
      await h.ready();
      await h.queue(new TextFrame("a long answer"));
      await h.send(h.client("send-text", { content: "stop, new question" }));
      await h.clock.advance(1_000);
      expect(slow.aborted).toEqual(["a long answer"]);
      expect(end.ofType(LLMMessagesAppendFrame).map((f) => f.messages)).toEqual([
        [{ role: "user", content: "stop, new question" }],
      ]);
      await h.end();
    });

    it("with audio_response false, frames the run with LLMConfigureOutputFrame(skipTts) on and off", async () => {
      const h = startRtvi();
      await h.whenStarted();
      await h.ready();
      await h.send(h.client("send-text", { content: "text only", options: { audio_response: false } }));
      await h.clock.settle();
      const frames = h.down.frames.filter(
        (f) => f instanceof LLMConfigureOutputFrame || f instanceof LLMMessagesAppendFrame,
      );
      expect(
        frames.map((f) => (f instanceof LLMConfigureOutputFrame ? `skipTts=${f.skipTts}` : "append")),
      ).toEqual(["skipTts=true", "append", "skipTts=false"]);
      await h.end();
    });

    it("with run_immediately false, appends without running the LLM or interrupting", async () => {
      const h = startRtvi();
      await h.whenStarted();
      await h.ready();
      await h.send(h.client("send-text", { content: "later", options: { run_immediately: false } }));
      expect(h.up.ofType(InterruptionTaskFrame)).toHaveLength(0);
      const [append] = h.down.ofType(LLMMessagesAppendFrame);
      expect(append?.runLlm).toBe(false);
      expect(append?.messages).toEqual([{ role: "user", content: "later" }]);
      await h.end();
    });

    it("refuses content that is not a string and options that are not booleans", async () => {
      const h = startRtvi();
      await h.whenStarted();
      await h.ready();
      await h.send(h.client("send-text", { content: 7 }, "t1"));
      await h.send(h.client("send-text", { content: "x", options: { run_immediately: "yes" } }, "t2"));
      expect(h.ofType("error-response").map((m) => [m.id, m.data])).toEqual([
        ["t1", { error: "send-text data.content must be a string (got 7)" }],
        ["t2", { error: "send-text data.options.run_immediately must be true or false (got yes)" }],
      ]);
      expect(h.down.ofType(LLMMessagesAppendFrame)).toHaveLength(0);
      await h.end();
    });
  });

  it("append-to-context appends a message with its role, running only when asked", async () => {
    const h = startRtvi();
    await h.whenStarted();
    await h.ready();
    await h.send(h.client("append-to-context", { role: "assistant", content: "Noted." }));
    await h.send(h.client("append-to-context", { role: "user", content: "Go on", run_immediately: true }));
    await h.clock.settle();
    const appends = h.down.ofType(LLMMessagesAppendFrame);
    expect(appends.map((f) => [f.messages, f.runLlm])).toEqual([
      [[{ role: "assistant", content: "Noted." }], false],
      [[{ role: "user", content: "Go on" }], true],
    ]);
    expect(h.up.ofType(InterruptionTaskFrame)).toHaveLength(1);
    await h.send(h.client("append-to-context", { role: "system", content: "x" }, "bad-role"));
    expect(h.ofType("error-response")[0]).toMatchObject({
      id: "bad-role",
      data: { error: 'append-to-context data.role must be "user" or "assistant" (got system)' },
    });
    await h.end();
  });

  it("llm-function-call-result becomes a FunctionCallResultFrame, reported back as llm-function-call-stopped", async () => {
    const h = startRtvi();
    await h.whenStarted();
    await h.ready();
    await h.send(
      h.client("llm-function-call-result", {
        function_name: "get_weather",
        tool_call_id: "call_1",
        arguments: { city: "Paris" },
        result: { temperature: 21 },
      }),
    );
    const [result] = h.down.ofType(FunctionCallResultFrame);
    expect(result?.call).toEqual({
      functionName: "get_weather",
      toolCallId: "call_1",
      arguments: { city: "Paris" },
    });
    expect(result?.result).toEqual({ temperature: 21 });
    expect(h.ofType("llm-function-call-stopped")[0]?.data).toEqual({
      tool_call_id: "call_1",
      function_name: "get_weather",
      cancelled: false,
      result: { temperature: 21 },
    });
    await h.send(h.client("llm-function-call-result", { function_name: "f" }, "no-id"));
    expect(h.ofType("error-response")[0]).toMatchObject({
      id: "no-id",
      data: { error: "llm-function-call-result data.tool_call_id must be a string (got undefined)" },
    });
    await h.end();
  });

  it("dtmf: 2.1.0 buttons and 2.0 button become InputDTMFFrames in order; a bad key is refused", async () => {
    const h = startRtvi();
    await h.whenStarted();
    await h.ready();
    await h.send(h.client("dtmf", { buttons: ["1", "2", "#"] }));
    await h.send(h.client("dtmf", { button: "*" }));
    expect(h.down.ofType(InputDTMFFrame).map((f) => f.button)).toEqual(["1", "2", "#", "*"]);
    await h.send(h.client("dtmf", { buttons: ["1", "x"] }, "bad-key"));
    await h.send(h.client("dtmf", { buttons: [] }, "none"));
    expect(h.ofType("error-response").map((m) => m.id)).toEqual(["bad-key", "none"]);
    expect(h.down.ofType(InputDTMFFrame)).toHaveLength(4);
    await h.end();
  });

  it("accepts ui-event, ui-snapshot and ui-cancel-job-group quietly, raising uiMessage", async () => {
    const h = startRtvi();
    await h.whenStarted();
    await h.ready();
    const ui: unknown[] = [];
    h.rtvi.on("uiMessage", (type, data) => void ui.push([type, data]));
    await h.send(h.client("ui-event", { event: "click", payload: { id: "b1" } }));
    await h.send(h.client("ui-snapshot", { tree: {} }));
    await h.send(h.client("ui-cancel-job-group", { job_id: "j1" }));
    expect(ui).toEqual([
      ["ui-event", { event: "click", payload: { id: "b1" } }],
      ["ui-snapshot", { tree: {} }],
      ["ui-cancel-job-group", { job_id: "j1" }],
    ]);
    expect(h.messages().map((m) => m.type)).toEqual(["bot-ready"]);
    expect(h.rtvi.rejectedMessages).toBe(0);
    await h.end();
  });

  it("answers an unknown type with error-response 'Unsupported type' and the same id", async () => {
    const h = startRtvi();
    await h.whenStarted();
    await h.ready();
    await h.send(h.client("raw-audio", { base64Audio: "" }, "u1"));
    expect(h.ofType("error-response")).toEqual([
      { label: "rtvi-ai", type: "error-response", id: "u1", data: { error: 'Unsupported type "raw-audio"' } },
    ]);
    expect(h.rtvi.rejectedMessages).toBe(1);
    await h.end();
  });

  it("passes messages of other protocols on untouched", async () => {
    const h = startRtvi();
    await h.whenStarted();
    const other = { label: "my-app", type: "hello" };
    await h.send(other);
    await h.send("plain text");
    const passed = h.down.ofType(InputTransportMessageFrame).map((f) => f.message);
    expect(passed).toEqual([other, "plain text"]);
    expect(h.messages()).toEqual([]);
    expect(h.rtvi.rejectedMessages).toBe(0);
    await h.end();
  });
});

describe("RTVIProcessor options", () => {
  it("refuses bounds that are not positive, naming the option", () => {
    expect(() => new RTVIProcessor({ clientMessageTimeoutMs: -1 })).toThrow(
      "RTVIProcessor: clientMessageTimeoutMs must be a finite number of ms, at least 1 (got -1)",
    );
    expect(() => new RTVIProcessor({ maxHeldMessages: 2.5 })).toThrow(InvalidOptionError);
    expect(() => new RTVIProcessor({ maxPendingClientMessages: 0 })).toThrow(
      /maxPendingClientMessages must be a whole number/,
    );
  });
});

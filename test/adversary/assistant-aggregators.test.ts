/**
 * Adversarial probes: the conversation aggregators (LLMUserAggregator, LLMAssistantAggregator,
 * LLMContextAggregatorPair; docs/design/conversation.md). Public API only.
 *
 * Promises attacked: bad input gives ONE clear error, then repeats are counted; one user message
 * per turn, no word lost or doubled whatever the frame order; a group of settled function calls
 * always gets its answer asked for (never twice for one group); nothing grows; no timer outlives
 * the task.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type Frame,
  FunctionCallCancelFrame,
  FunctionCallResultFrame,
  FunctionCallsStartedFrame,
  InterimTranscriptionFrame,
  InterruptionFrame,
  LLMAssistantAggregator,
  LLMContextFrame,
  LLMFullResponseEndFrame,
  LLMFullResponseStartFrame,
  LLMMessagesAppendFrame,
  LLMSetToolsFrame,
  LLMTextFrame,
  LLMUserAggregator,
  TTSStartedFrame,
  TTSStoppedFrame,
  TTSTextFrame,
  TranscriptionFrame,
  UserStartedSpeakingFrame,
  UserStoppedSpeakingFrame,
} from "../../src/index.js";
import { LLMContext } from "../../src/context/index.js";
import { OpenAILLMService } from "../../src/services/llm/openai/index.js";
import { startRecordedTask } from "../support/task.js";

const RUNS = Number(process.env["ADV_RUNS"] ?? 60);

describe("bad message frames", () => {
  // FIXED (was a hole). Measured: 50 malformed LLMMessagesAppendFrames + 50 malformed LLMSetToolsFrames → 100
  // ErrorFrames, one per frame (each "LLMUserAggregator#1 threw while processing …"). The house
  // rule is "said once, then repeats are counted". Root cause: LLMUserAggregator.processFrame
  // calls `context.addMessages` / `setMessages` / `setTools` without catching LLMContextError, so
  // the FrameProcessor base reports every throw as a new ErrorFrame. Fix: catch LLMContextError
  // there, report through the aggregator's RepeatReporter (`occurred` → one ErrorFrame per cause,
  // repeats counted), and drop the frame.
  it("fixed: 50 malformed appends and 50 malformed tool lists into the user aggregator: one error per cause", async () => {
    const t = startRecordedTask([new LLMUserAggregator(new LLMContext())]);
    await t.whenStarted();
    for (let i = 0; i < 50; i++) {
      t.task.queueFrame(new LLMMessagesAppendFrame([{ role: "bogus", content: 5 } as never], true));
      t.task.queueFrame(new LLMSetToolsFrame([{ name: 5 } as never]));
    }
    await t.clock.advance(100);
    expect(t.errors.length).toBeLessThanOrEqual(2);
  });

  // FIXED (was a hole), same cause in LLMService.processFrame (a pipeline without aggregators): 50 malformed
  // appends → 50 ErrorFrames. Fix: the same, through the service's RepeatReporter.
  it("fixed: 50 malformed appends into an LLM service with no aggregator: one error", async () => {
    const llm = new OpenAILLMService({
      apiKey: "sk-test",
      baseURL: "http://127.0.0.1:9/v1",
      env: {},
      model: "m",
    });
    const t = startRecordedTask([llm]);
    await t.whenStarted();
    for (let i = 0; i < 50; i++)
      t.task.queueFrame(new LLMMessagesAppendFrame([{ role: "bogus", content: 5 } as never], false));
    await t.clock.advance(100);
    expect(t.errors.length).toBe(1);
  });
});

describe("user aggregator: odd transcripts", () => {
  it("held: 20,000 tiny finals with no turn: one message and one context frame each, no timer, linear", async () => {
    const context = new LLMContext();
    const user = new LLMUserAggregator(context);
    const t = startRecordedTask([user]);
    await t.whenStarted();
    for (let i = 0; i < 20_000; i++) t.task.queueFrame(new TranscriptionFrame(`w${i}`, "u", 0));
    await t.clock.settle();
    expect(user.turnsCommitted).toBe(20_000);
    expect(t.recorder.ofType(LLMContextFrame).length).toBe(20_000);
    expect(t.clock.pendingTimers).toBe(0);
    void t.task.cancel();
    await t.clock.runUntil(t.done);
  });

  it("held: one 5 MB transcript and 10,000 x 1 KB finals in one turn are bounded by maxTurnChars", async () => {
    const context = new LLMContext();
    const user = new LLMUserAggregator(context, { maxTurnChars: 1000 });
    const t = startRecordedTask([user]);
    await t.whenStarted();
    t.task.queueFrame(new UserStartedSpeakingFrame());
    t.task.queueFrame(new TranscriptionFrame("x".repeat(5_000_000), "u", 0));
    for (let i = 0; i < 10_000; i++) t.task.queueFrame(new TranscriptionFrame("y".repeat(1000), "u", 0));
    t.task.queueFrame(new UserStoppedSpeakingFrame());
    await t.clock.settle();
    const last = context.messages.at(-1)!;
    expect(last.role).toBe("user");
    expect((last.content as string).length).toBe(1000);
    expect(user.droppedChars).toBe(5_000_000 - 1000 + 10_000 * 1001);
    void t.task.cancel();
    await t.clock.runUntil(t.done);
  });

  it("held: whitespace-only, lone-surrogate and NUL transcripts never make an empty or broken message", async () => {
    const context = new LLMContext();
    const user = new LLMUserAggregator(context, { maxTurnChars: 3 });
    const t = startRecordedTask([user]);
    await t.whenStarted();
    for (const text of ["   ", "\n\t", "\u0000", "ab\ud83d\ude00", "\ud800"]) {
      t.task.queueFrame(new UserStartedSpeakingFrame());
      t.task.queueFrame(new TranscriptionFrame(text, "u", 0));
      t.task.queueFrame(new UserStoppedSpeakingFrame());
      await t.clock.advance(2_000);
    }
    const users = context.messages.filter((m) => m.role === "user").map((m) => m.content as string);
    for (const u of users) expect(u.trim()).not.toBe("");
    // The emoji is not cut in half by the bound.
    expect(users).toContain("ab");
    void t.task.cancel();
    await t.clock.runUntil(t.done);
  });
});

/** One step of a user-side script. */
type UserStep =
  | { k: "start" }
  | { k: "stop" }
  | { k: "final"; text: string }
  | { k: "interim"; text: string }
  | { k: "sleep"; ms: number };

const word = fc.stringMatching(/^[a-z]{1,5}$/);
const userStep: fc.Arbitrary<UserStep> = fc.oneof(
  fc.constant<UserStep>({ k: "start" }),
  fc.constant<UserStep>({ k: "stop" }),
  word.map<UserStep>((text) => ({ k: "final", text })),
  word.map<UserStep>((text) => ({ k: "interim", text })),
  fc.integer({ min: 0, max: 2_500 }).map<UserStep>((ms) => ({ k: "sleep", ms })),
);

describe("user aggregator: fast-check over frame orders", () => {
  it("held: every final word lands in exactly one user message, in order; no empty message; no timer left", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(userStep, { maxLength: 40 }),
        fc.integer({ min: 0, max: 1500 }),
        async (steps, waitMs) => {
          const context = new LLMContext();
          const user = new LLMUserAggregator(context, { transcriptWaitMs: waitMs });
          const t = startRecordedTask([user]);
          await t.whenStarted();
          const finals: string[] = [];
          for (const s of steps) {
            if (s.k === "sleep") await t.clock.advance(s.ms);
            else {
              const frame: Frame =
                s.k === "start"
                  ? new UserStartedSpeakingFrame()
                  : s.k === "stop"
                    ? new UserStoppedSpeakingFrame()
                    : s.k === "final"
                      ? new TranscriptionFrame(s.text, "u", 0)
                      : new InterimTranscriptionFrame(s.text, "u", 0);
              if (s.k === "final") finals.push(s.text);
              t.task.queueFrame(frame);
              await t.clock.settle();
            }
          }
          // Close whatever is open, and let the wait run out.
          t.task.queueFrame(new UserStoppedSpeakingFrame());
          await t.clock.advance(waitMs + 1);
          const users = context.messages.filter((m) => m.role === "user").map((m) => m.content as string);
          expect(users.every((u) => u.trim() !== "")).toBe(true);
          expect(users.join(" ").split(" ")).toEqual(finals.length ? finals : [""]);
          expect(t.recorder.ofType(LLMContextFrame).length).toBe(users.length);
          expect(t.clock.pendingTimers).toBe(0);
          void t.task.stopWhenDone();
          await t.clock.runUntil(t.done);
          expect(t.clock.pendingTimers).toBe(0);
        },
      ),
      { numRuns: RUNS },
    );
  });
});

/** One step of an assistant-side script. */
type AsstStep =
  | { k: "rstart" | "rend" | "tstart" | "tstop" | "interrupt" | "ustart" | "ustop" }
  | { k: "tts" | "llm"; text: string }
  | { k: "calls"; n: number }
  | { k: "settle"; pick: number; how: "result" | "resultNoRun" | "cancel" }
  | { k: "sleep"; ms: number };

const asstStep: fc.Arbitrary<AsstStep> = fc.oneof(
  fc.constantFrom<AsstStep>(
    { k: "rstart" },
    { k: "rend" },
    { k: "tstart" },
    { k: "tstop" },
    { k: "interrupt" },
    { k: "ustart" },
    { k: "ustop" },
  ),
  word.map<AsstStep>((text) => ({ k: "tts", text })),
  word.map<AsstStep>((text) => ({ k: "llm", text })),
  fc.integer({ min: 1, max: 3 }).map<AsstStep>((n) => ({ k: "calls", n })),
  fc
    .record({ pick: fc.nat(), how: fc.constantFrom("result", "resultNoRun", "cancel") })
    .map<AsstStep>((r) => ({
      k: "settle",
      ...(r as { pick: number; how: "result" | "resultNoRun" | "cancel" }),
    })),
  fc.integer({ min: 0, max: 3000 }).map<AsstStep>((ms) => ({ k: "sleep", ms })),
);

describe("assistant aggregator: fast-check over frame orders", () => {
  it("held: each group settled with a runLlm result gets a run asked for (never more runs than groups); no call left open; no timer left", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(asstStep, { maxLength: 50 }), async (steps) => {
        const context = new LLMContext({ messages: [{ role: "user", content: "hi" }] });
        const assistant = new LLMAssistantAggregator(context);
        const t = startRecordedTask([assistant]);
        await t.whenStarted();
        const open: { id: string; name: string }[][] = [];
        let nextId = 0;
        let groupsWithRun = 0;
        const groupRun = new Map<string[], boolean>();
        let userSpeaking = false;
        const send = async (f: Frame): Promise<void> => {
          t.task.queueFrame(f);
          await t.clock.settle();
        };
        const settleOne = async (pick: number, how: string): Promise<void> => {
          const live = open.filter((g) => g.length > 0);
          if (live.length === 0) return;
          const group = live[pick % live.length]!;
          const call = group.splice(pick % group.length, 1)[0]!;
          const info = { functionName: call.name, toolCallId: call.id, arguments: {} };
          if (how === "cancel") await send(new FunctionCallCancelFrame(info));
          else {
            if (how === "result") groupRun.set(group as unknown as string[], true);
            await send(new FunctionCallResultFrame(info, { ok: true }, how === "result"));
          }
          if (group.length === 0 && groupRun.get(group as unknown as string[])) groupsWithRun++;
        };
        for (const s of steps) {
          switch (s.k) {
            case "rstart":
              await send(new LLMFullResponseStartFrame());
              break;
            case "rend":
              await send(new LLMFullResponseEndFrame());
              break;
            case "tstart":
              await send(new TTSStartedFrame());
              break;
            case "tstop":
              await send(new TTSStoppedFrame());
              break;
            case "interrupt":
              await send(new InterruptionFrame());
              break;
            case "ustart":
              userSpeaking = true;
              await send(new UserStartedSpeakingFrame());
              break;
            case "ustop":
              userSpeaking = false;
              await send(new UserStoppedSpeakingFrame());
              break;
            case "tts":
              await send(new TTSTextFrame(s.text));
              break;
            case "llm":
              await send(new LLMTextFrame(s.text));
              break;
            case "sleep":
              await t.clock.advance(s.ms);
              break;
            case "calls": {
              const calls = Array.from({ length: s.n }, () => ({ id: `call_${nextId++}`, name: "f" }));
              context.recordToolCalls(calls.map((c) => ({ id: c.id, name: c.name, arguments: {} })));
              open.push(calls);
              await send(
                new FunctionCallsStartedFrame(
                  calls.map((c) => ({ functionName: c.name, toolCallId: c.id, arguments: {} })),
                ),
              );
              break;
            }
            case "settle":
              await settleOne(s.pick, s.how);
              break;
          }
        }
        // Settle what is left, close the answer, the user stops, and the waits run out.
        while (open.some((g) => g.length > 0)) await settleOne(0, "result");
        if (userSpeaking) await send(new UserStoppedSpeakingFrame());
        await send(new LLMFullResponseEndFrame());
        await t.clock.advance(5_000);
        expect(assistant.openFunctionCalls).toBe(0);
        expect(
          context.messages.filter((m) => m.role === "tool" && "status" in m && m.status === "in_progress"),
        ).toEqual([]);
        if (groupsWithRun > 0) expect(assistant.runsRequested).toBeGreaterThanOrEqual(1);
        expect(assistant.runsRequested).toBeLessThanOrEqual(groupsWithRun);
        expect(t.clock.pendingTimers).toBe(0);
        void t.task.stopWhenDone();
        await t.clock.runUntil(t.done);
        expect(t.errors).toEqual([]);
      }),
      { numRuns: RUNS },
    );
  });
});

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { VirtualClock } from "../../../../src/clock/virtual-clock.js";
import { LLMContext, defineTool } from "../../../../src/context/index.js";
import type { Frame } from "../../../../src/frames/frame.js";
import {
  FunctionCallCancelFrame,
  FunctionCallInProgressFrame,
  FunctionCallResultFrame,
} from "../../../../src/frames/function-calls.js";
import { silentLogger } from "../../../../src/logger.js";
import { FunctionCallRunner } from "../../../../src/services/llm/function-calls/index.js";

/**
 * The runner's settle logic, driven directly on a virtual clock with random handlers (quick,
 * slow, throwing, ignoring their signal), random per-call timeouts and cancel flags, an
 * interruption at a random moment (also between accept and launch), and a random end or cancel.
 */

const tool = defineTool({
  name: "work",
  description: "Does work",
  parameters: { type: "object", properties: { i: { type: "integer" } }, required: ["i"] },
});

interface CallPlan {
  readonly durationMs: number;
  readonly throws: boolean;
  readonly ignoresSignal: boolean;
  readonly cancelOnInterruption: boolean;
}

const callPlan = fc.record({
  durationMs: fc.integer({ min: 0, max: 3_000 }),
  throws: fc.boolean(),
  ignoresSignal: fc.boolean(),
  cancelOnInterruption: fc.boolean(),
});

const scenario = fc.record({
  calls: fc.array(callPlan, { minLength: 1, maxLength: 6 }),
  timeoutMs: fc.integer({ min: 1, max: 2_500 }),
  sequential: fc.boolean(),
  /** -1: between accept and launch; else ms after launch; undefined: none. */
  interruptAt: fc.option(fc.integer({ min: -1, max: 3_000 }), { nil: undefined }),
  finishWith: fc.constantFrom("nothing", "end", "close"),
  finishAt: fc.integer({ min: 0, max: 3_000 }),
  endWaitMs: fc.integer({ min: 0, max: 2_000 }),
});

interface Pushed {
  readonly frame: Frame;
  readonly up: boolean;
  readonly at: number;
}

describe("FunctionCallRunner settle logic (property)", () => {
  it("settles every call exactly once, pushes nothing after close, aborts what it drops, leaves no timer", async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const clock = new VirtualClock();
        const pushed: Pushed[] = [];
        let closed = false;
        let pushedAfterClose = 0;
        const runner = new FunctionCallRunner(
          {
            name: "LLM",
            clock,
            logger: silentLogger,
            broadcast: (make) => {
              if (closed) pushedAfterClose++;
              pushed.push({ frame: make(), up: false, at: clock.now() });
              pushed.push({ frame: make(), up: true, at: clock.now() });
            },
            warnOnce: () => undefined,
          },
          { timeoutMs: s.timeoutMs, sequential: s.sequential, endWaitMs: s.endWaitMs },
        );
        const returnedLate: number[] = [];
        const signals: AbortSignal[] = [];
        // One registration per cancel flag: the flag is per function.
        const kept = defineTool({ ...tool, name: "work_kept" });
        const handler =
          (plans: readonly CallPlan[]) =>
          async ({ i }: { i: number }, call: { signal: AbortSignal; clock: VirtualClock }) => {
            const plan = plans[i]!;
            signals[i] = call.signal;
            await call.clock.sleep(plan.durationMs, plan.ignoresSignal ? undefined : call.signal);
            if (plan.throws) throw new Error(`call ${i} failed`);
            if (call.signal.aborted) returnedLate.push(i);
            return i;
          };
        runner.register(tool, handler(s.calls) as never);
        runner.register(kept, handler(s.calls) as never, { cancelOnInterruption: false });
        const context = new LLMContext();
        const calls = s.calls.map((plan, i) => ({
          info: {
            functionName: plan.cancelOnInterruption ? "work" : "work_kept",
            toolCallId: `c${i}`,
            arguments: { i },
          },
        }));
        const batch = runner.accept(calls, context);
        await batch.announce();
        if (s.interruptAt === -1) runner.interrupt();
        batch.launch();
        const events: { at: number; run: () => void | Promise<void> }[] = [];
        if (s.interruptAt !== undefined && s.interruptAt >= 0)
          events.push({ at: s.interruptAt, run: () => runner.interrupt() });
        let ending: Promise<void> | undefined;
        if (s.finishWith === "end") events.push({ at: s.finishAt, run: () => void (ending = runner.end()) });
        if (s.finishWith === "close")
          events.push({
            at: s.finishAt,
            run: () => {
              runner.close("test");
              closed = true;
            },
          });
        events.sort((a, b) => a.at - b.at);
        for (const e of events) {
          await clock.advanceTo(e.at);
          await e.run();
        }
        await clock.runAll();
        if (ending) await ending;

        // Every call announced once, both ways.
        const down = pushed.filter((p) => !p.up).map((p) => p.frame);
        const inProgress = down.filter((f) => f instanceof FunctionCallInProgressFrame);
        expect(inProgress.map((f) => f.call.toolCallId)).toEqual(calls.map((c) => c.info.toolCallId));
        expect(pushed.filter((p) => p.up).length).toBe(down.length);
        // Settled at most once each; exactly once unless the runner was closed.
        const settledIds = down
          .filter((f) => f instanceof FunctionCallResultFrame || f instanceof FunctionCallCancelFrame)
          .map((f) => (f as FunctionCallResultFrame | FunctionCallCancelFrame).call.toolCallId);
        expect(new Set(settledIds).size).toBe(settledIds.length);
        if (s.finishWith !== "close") expect(settledIds.length).toBe(calls.length);
        expect(pushedAfterClose).toBe(0);
        // Cancels only for cancellable calls, unless the end's wait ran out.
        for (const f of down.filter((x) => x instanceof FunctionCallCancelFrame)) {
          const i = Number(f.call.toolCallId.slice(1));
          if (s.finishWith !== "end") expect(s.calls[i]!.cancelOnInterruption).toBe(true);
        }
        // An interruption cancels each cancellable call not settled before it (at the same
        // moment either may win; before launch, the cancel always does).
        if (s.interruptAt !== undefined && !(s.finishWith !== "nothing" && s.finishAt <= s.interruptAt)) {
          const at = Math.max(0, s.interruptAt);
          for (const [i, plan] of s.calls.entries()) {
            if (!plan.cancelOnInterruption) continue;
            const settle = pushed.find(
              (p) =>
                !p.up &&
                (p.frame instanceof FunctionCallResultFrame || p.frame instanceof FunctionCallCancelFrame) &&
                p.frame.call.toolCallId === `c${i}`,
            )!;
            if (settle.at < at) continue;
            if (s.interruptAt === -1 || settle.at > at) {
              expect(settle.frame).toBeInstanceOf(FunctionCallCancelFrame);
              expect(settle.at).toBe(at);
            }
          }
        }
        // A handler's own result is the value it returned; a call that returned after it was
        // settled is counted as dropped, never pushed.
        for (const f of down.filter((x) => x instanceof FunctionCallResultFrame)) {
          const i = Number(f.call.toolCallId.slice(1));
          if (typeof f.result !== "number") continue;
          expect(f.result).toBe(i);
          expect(returnedLate).not.toContain(i);
        }
        expect(runner.lateResultsDropped).toBe(returnedLate.length);
        // Nothing left: no unsettled call, no timer; every signal of a call whose handler did not
        // settle it (by returning or throwing) was aborted.
        expect(runner.inFlight).toBe(0);
        expect(clock.pendingTimers).toBe(0);
        for (const [i, signal] of signals.entries()) {
          if (signal === undefined) continue;
          const own = down.some(
            (f) =>
              f instanceof FunctionCallResultFrame &&
              f.call.toolCallId === `c${i}` &&
              (f.result === i || JSON.stringify(f.result).includes(`call ${i} failed`)),
          );
          if (!own) expect(signal.aborted).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("in parallel, without interruption, each call's result comes at min(duration, timeout), in order of completion", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 2_000 }), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 1, max: 2_000 }),
        async (durations, timeoutMs) => {
          const clock = new VirtualClock();
          const results: { id: string; at: number; timedOut: boolean }[] = [];
          const runner = new FunctionCallRunner(
            {
              name: "LLM",
              clock,
              logger: silentLogger,
              broadcast: (make) => {
                const f = make();
                if (f instanceof FunctionCallResultFrame)
                  results.push({
                    id: f.call.toolCallId,
                    at: clock.now(),
                    timedOut: typeof f.result !== "number",
                  });
              },
              warnOnce: () => undefined,
            },
            { timeoutMs },
          );
          runner.register(tool, (async ({ i }: { i: number }, { signal }: { signal: AbortSignal }) => {
            await clock.sleep(durations[i]!, signal);
            return i;
          }) as never);
          const batch = runner.accept(
            durations.map((_, i) => ({
              info: { functionName: "work", toolCallId: `c${i}`, arguments: { i } },
            })),
            new LLMContext(),
          );
          await batch.announce();
          batch.launch();
          await clock.runAll();
          const expected = durations
            .map((d, i) => ({ id: `c${i}`, at: Math.min(d, timeoutMs), timedOut: d >= timeoutMs }))
            .sort((a, b) => a.at - b.at);
          expect(results.map((r) => r.at)).toEqual(expected.map((e) => e.at));
          expect(new Map(results.map((r) => [r.id, r.timedOut]))).toEqual(
            new Map(expected.map((e) => [e.id, e.timedOut])),
          );
        },
      ),
      { numRuns: 200 },
    );
  });
});

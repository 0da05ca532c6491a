/**
 * Properties of the user aggregator's wait on a segmented STT's pending transcriptions, over random
 * order and timing of segments, answers (words, nothing, an error), stops, starts and
 * interruptions, on the VirtualClock (docs/design/conversation.md, "The bounded wait after the stop").
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InterruptionFrame } from "../../../src/index.js";
import { type Event, segmentedTurns } from "./segmented-support.js";

const SPEECH_TIMEOUT_MS = 200;
const WAIT_MS = 1_000;

type Answer = { kind: "words" } | { kind: "empty" } | { kind: "error" };
const answerKind: fc.Arbitrary<Answer> = fc.oneof(
  { weight: 3, arbitrary: fc.constant<Answer>({ kind: "words" }) },
  fc.constant<Answer>({ kind: "empty" }),
  fc.constant<Answer>({ kind: "error" }),
);
const textOf = (n: number, a: Answer): string =>
  a.kind === "words" ? `w${n}` : a.kind === "empty" ? "" : "";

/** The events after `i` that end the wait of the stop at `i`: a commit, an empty turn, or the user resuming. */
function resolutionOf(events: readonly Event[], i: number): Event | undefined {
  return events.slice(i + 1).find((e) => e.kind === "commit" || e.kind === "empty" || e.kind === "start");
}

describe("the pending wait, over random order and timing", () => {
  it("when every answer comes within the wait and before the user speaks again, each turn is ONE message with all its words, at the last answer or the stop", async () => {
    const segment = fc.record({
      speechMs: fc.integer({ min: 1, max: 30 }).map((n) => n * 20),
      gapMs: fc.integer({ min: 10, max: SPEECH_TIMEOUT_MS - 10 }),
      delayMs: fc.integer({ min: 0, max: 900 }),
      answer: answerKind,
    });
    const turns = fc.array(fc.array(segment, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 4 });
    await fc.assert(
      fc.asyncProperty(turns, async (script) => {
        const s = await segmentedTurns({
          speechTimeoutMs: SPEECH_TIMEOUT_MS,
          aggregator: { transcriptWaitMs: WAIT_MS },
        });
        // A timeline of VAD starts, VAD stops (each with its request) and answers, in time order.
        type Step = { atMs: number; seq: number; act: () => Promise<unknown> };
        const steps: Step[] = [];
        const expected: Array<{ words: string[]; lastAnswerMs: number }> = [];
        let t = s.clock.now() + 10;
        let n = 0;
        for (const turn of script) {
          const words: Array<{ atMs: number; word: string }> = [];
          let lastAnswerMs = 0;
          turn.forEach((seg, i) => {
            const request = ++n;
            const start = t;
            const stop = start + seg.speechMs;
            const answerAt = stop + seg.delayMs;
            steps.push({ atMs: start, seq: steps.length, act: () => s.startSpeech() });
            steps.push({ atMs: stop, seq: steps.length, act: () => s.stopSpeech() });
            steps.push({
              atMs: answerAt,
              seq: steps.length,
              act: () => s.answer(request, textOf(request, seg.answer)),
            });
            if (seg.answer.kind === "words") words.push({ atMs: answerAt, word: `w${request}` });
            lastAnswerMs = Math.max(lastAnswerMs, answerAt);
            t = stop + (i < turn.length - 1 ? seg.gapMs : 2_600);
          });
          words.sort((a, b) => a.atMs - b.atMs);
          expected.push({ words: words.map((w) => w.word), lastAnswerMs });
        }
        steps.sort((a, b) => a.atMs - b.atMs || a.seq - b.seq);
        for (const step of steps) {
          await s.clock.advanceTo(step.atMs);
          await step.act();
        }
        await s.pause(3_000);

        const stops = s.of("stop");
        expect(stops).toHaveLength(script.length);
        const withWords = expected.filter((e) => e.words.length > 0);
        expect(s.of("commit").map((c) => c.text)).toEqual(withWords.map((e) => e.words.join(" ")));
        expect(s.of("empty")).toHaveLength(expected.length - withWords.length);
        expect(s.runs()).toBe(withWords.length);
        // Each turn ends at its stop or its last answer, whichever is later: no wait for nothing.
        const ends = s.events.filter((e) => e.kind === "commit" || e.kind === "empty");
        ends.forEach((e, i) => expect(e.atMs).toBe(Math.max(stops[i]!.atMs, expected[i]!.lastAnswerMs)));
        await s.finish();
        expect(s.clock.pendingTimers).toBe(0);
      }),
      { numRuns: 60 },
    );
  });

  it("whatever the order: every word is committed exactly once, one LLM run per message, and no stop waits past transcriptWaitMs", async () => {
    type Step =
      | { t: "speak"; ms: number }
      | { t: "sleep"; ms: number }
      | { t: "answer"; pick: number; answer: Answer }
      | { t: "interrupt" };
    const step: fc.Arbitrary<Step> = fc.oneof(
      fc.record({ t: fc.constant("speak" as const), ms: fc.integer({ min: 1, max: 25 }).map((n) => n * 20) }),
      fc.record({ t: fc.constant("sleep" as const), ms: fc.integer({ min: 0, max: 1_500 }) }),
      fc.record({ t: fc.constant("answer" as const), pick: fc.nat(), answer: answerKind }),
      fc.constant<Step>({ t: "interrupt" }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 40 }), async (script) => {
        const s = await segmentedTurns({
          speechTimeoutMs: SPEECH_TIMEOUT_MS,
          aggregator: { transcriptWaitMs: WAIT_MS },
        });
        const unanswered: number[] = [];
        const words: string[] = [];
        const answer = async (request: number, a: Answer): Promise<void> => {
          if (a.kind === "words") words.push(`w${request}`);
          await s.answer(request, textOf(request, a));
        };
        for (const st of script) {
          if (st.t === "speak") unanswered.push(await s.speak(st.ms));
          else if (st.t === "sleep") await s.pause(st.ms);
          else if (st.t === "interrupt") await s.send(new InterruptionFrame());
          else if (unanswered.length > 0) {
            const [request] = unanswered.splice(st.pick % unanswered.length, 1);
            await answer(request!, st.answer);
          }
        }
        for (const request of unanswered.splice(0)) await answer(request, { kind: "words" });
        await s.pause(3_000);

        const commits = s.of("commit");
        expect(commits.every((c) => c.text.trim() !== "")).toBe(true);
        const committedWords = commits.flatMap((c) => c.text.split(" "));
        expect([...committedWords].sort()).toEqual([...words].sort());
        expect(s.runs()).toBe(commits.length);
        s.events.forEach((e, i) => {
          if (e.kind !== "stop") return;
          const end = resolutionOf(s.events, i);
          expect(end, `the stop at ${e.atMs} ms was never resolved`).toBeDefined();
          expect(end!.atMs - e.atMs).toBeLessThanOrEqual(WAIT_MS);
        });
        expect(s.user.inTurn).toBe(false);
        await s.finish();
        expect(s.clock.pendingTimers).toBe(0);
      }),
      { numRuns: 80 },
    );
  });
});

/**
 * Interruption, cancel and deadlines with real subprocesses. These run on the real clock: an engine
 * that hangs is tracked real work, which (by design) stops a virtual clock from firing deadlines.
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import {
  InterruptionFrame,
  LLMFullResponseEndFrame,
  LLMFullResponseStartFrame,
  LLMTextFrame,
  TTSAudioRawFrame,
  TTSSpeakFrame,
  TTSStartedFrame,
  TTSTextFrame,
} from "../../../src/index.js";
import { CommandTTSService } from "../../../src/services/tts/command-tts-service.js";
import { espeakNgCommand } from "../../../src/services/tts/tts-commands.js";
import { TTSTimeoutError } from "../../../src/services/tts/tts-errors.js";
import { hangingEspeak, pidAlive, processHandles, scriptDir, watchRuns } from "./support.js";
import { startRealTimeTask } from "../../support/task.js";

let temp: Awaited<ReturnType<typeof scriptDir>>;
let audioThenHang: string;
let silentHang: string;
let alwaysHang: string;
beforeAll(async () => {
  temp = await scriptDir();
  audioThenHang = await temp.script("audio-then-hang", hangingEspeak("audio-then-hang"));
  silentHang = await temp.script("silent-hang", hangingEspeak("silent-hang"));
  alwaysHang = await temp.script("always-hang", hangingEspeak("always-hang"));
});
afterAll(() => temp.dispose());

const baseline = processHandles();
afterEach(() => {
  expect(processHandles()).toEqual(baseline);
});

const waitFor = (check: () => boolean, what: string) =>
  vi.waitFor(
    () => {
      if (!check()) throw new Error(`still waiting: ${what}`);
    },
    { timeout: 5_000, interval: 5 },
  );

describe("interruption", () => {
  it("kills the program mid-synthesis at once; nothing of the old answer comes after; the next answer is spoken", async () => {
    const tts = new CommandTTSService({ command: espeakNgCommand({ binary: audioThenHang }) });
    const runs = watchRuns(tts);
    rmSync(`${audioThenHang}.sleep-pid`, { force: true });
    const { task, recorder, errors, done, whenStarted } = startRealTimeTask([tts]);
    await whenStarted();
    task.queueFrames([
      new LLMFullResponseStartFrame(),
      new LLMTextFrame("This answer will be cut short. "),
      new LLMTextFrame("It never gets here. "),
    ]);
    // The first sentence's audio is out; its program now hangs with stdout open.
    await waitFor(() => recorder.ofType(TTSAudioRawFrame).length > 0, "first audio");
    await waitFor(() => existsSync(`${audioThenHang}.sleep-pid`), "the program's child started");
    const pid = runs.started.at(-1)!.pid!;
    expect(pidAlive(pid)).toBe(true);
    const before = recorder.frames.length;
    task.queueFrame(new InterruptionFrame());
    await waitFor(() => runs.ended.some((r) => r.pid === pid), "the program ended");
    expect(runs.ended.find((r) => r.pid === pid)).toMatchObject({ killed: true, reaped: true });
    expect(pidAlive(pid)).toBe(false);
    // What the program started died with it (its process group was killed).
    const sleepPid = Number(readFileSync(`${audioThenHang}.sleep-pid`, "utf8"));
    rmSync(`${audioThenHang}.sleep-pid`);
    await waitFor(() => !pidAlive(sleepPid), "the program's child gone");
    expect(tts.pendingChars).toBe(0); // "It never gets here. " was dropped with the aggregator's text

    // A new answer, spoken by a program that works: a fresh context; nothing stale in between.
    task.queueFrames([new TTSSpeakFrame("ok")]);
    await waitFor(() => recorder.ofType(TTSTextFrame).some((f) => f.text === "ok"), "the next answer");
    const after = recorder.frames.slice(before);
    const interruption = after.findIndex((f) => f instanceof InterruptionFrame);
    expect(interruption).toBeGreaterThanOrEqual(0);
    const oldContext = recorder.ofType(TTSStartedFrame)[0]!.contextId;
    const stale = after.filter((f) => f instanceof TTSAudioRawFrame && f.contextId === oldContext);
    expect(stale).toEqual([]);
    expect(after.filter((f) => f instanceof TTSTextFrame && f.text.startsWith("This answer"))).toEqual([]);
    expect(recorder.ofType(TTSStartedFrame).at(-1)!.contextId).not.toBe(oldContext);
    expect(errors).toEqual([]); // an interruption is not a failure
    await task.stopWhenDone();
    expect((await done).how).toBe("ended");
    expect(runs.running()).toBe(0);
  });
});

describe("deadlines", () => {
  it("a program that never writes: the stall deadline kills it, one clear error, the next sentence still tried", async () => {
    const tts = new CommandTTSService({
      command: espeakNgCommand({ binary: silentHang }),
      stallTimeoutMs: 300,
    });
    const runs = watchRuns(tts);
    const { task, errors, done, whenStarted } = startRealTimeTask([tts]);
    await whenStarted();
    task.queueFrames([new TTSSpeakFrame("First. Second. Third.")]);
    await waitFor(() => runs.ended.length === 4, "three stalled runs after the check");
    expect(runs.ended.slice(1).every((r) => r.killed && r.reaped)).toBe(true);
    expect(errors).toHaveLength(1); // said once; the repeats are counted
    expect(errors[0]!.fatal).toBe(false);
    expect(errors[0]!.error).toBeInstanceOf(TTSTimeoutError);
    expect(errors[0]!.error.message).toMatch(
      /gave no audio for 300 ms \(stallTimeoutMs\) while synthesising "First\."/,
    );
    await task.stopWhenDone();
    expect((await done).how).toBe("ended");
  });

  it("a program that hangs at start: the connect deadline kills it and the task fails clearly", async () => {
    const tts = new CommandTTSService({
      command: espeakNgCommand({ binary: alwaysHang }),
      connectTimeoutMs: 300,
    });
    const runs = watchRuns(tts);
    const { errors, done } = startRealTimeTask([tts]);
    const outcome = await done;
    expect(outcome.how).toBe("failed");
    expect(errors[0]!.error.message).toMatch(/connecting to the TTS engine did not settle within 300 ms/);
    expect(runs.ended).toHaveLength(1);
    expect(runs.ended[0]).toMatchObject({ killed: true, reaped: true });
  });

  it("a whole piece is bounded by synthesisTimeoutMs even while audio keeps coming", async () => {
    const trickle = await temp.script(
      "trickle",
      '#!/bin/sh\ntext=$(cat)\nif [ "$text" = "ok" ]; then espeak-ng --stdout "$text"; exit; fi\n' +
        "espeak-ng --stdout \"$text\" | head -c 44\nwhile true; do printf '\\000\\000'; sleep 0.05; done\n",
    );
    const tts = new CommandTTSService({
      command: espeakNgCommand({ binary: trickle }),
      stallTimeoutMs: 1_000,
      synthesisTimeoutMs: 400,
    });
    const runs = watchRuns(tts);
    const { task, errors, done, whenStarted } = startRealTimeTask([tts]);
    await whenStarted();
    task.queueFrames([new TTSSpeakFrame("Never ending.")]);
    await waitFor(() => errors.length === 1, "the synthesis deadline");
    expect(errors[0]!.error.message).toMatch(/took over 400 ms \(synthesisTimeoutMs\)/);
    await waitFor(() => runs.running() === 0, "the program reaped");
    await task.stopWhenDone();
    expect((await done).how).toBe("ended");
  });
});

describe("cancel at every point", () => {
  const points = ["during the start-up check", "mid-synthesis", "between answers", "while ending"] as const;
  for (const point of points) {
    it(`cancel ${point}: returns promptly, no process, pipe or timer left`, async () => {
      const binary = point === "during the start-up check" ? alwaysHang : audioThenHang;
      const tts = new CommandTTSService({ command: espeakNgCommand({ binary }) });
      const runs = watchRuns(tts);
      const { task, recorder, done, whenStarted } = startRealTimeTask([tts]);
      if (point === "during the start-up check") {
        await waitFor(() => runs.started.length === 1, "the check running");
      } else {
        await whenStarted();
        if (point !== "between answers") {
          task.queueFrames([
            new LLMFullResponseStartFrame(),
            new LLMTextFrame("Cut me off. "),
            new LLMTextFrame("More"),
          ]);
          await waitFor(() => recorder.ofType(TTSAudioRawFrame).length > 0, "audio");
        }
        if (point === "while ending") {
          task.queueFrame(new LLMFullResponseEndFrame());
          void task.stopWhenDone();
        }
      }
      const pids = runs.started.map((r) => r.pid!);
      const startedAt = performance.now();
      const outcome = await task.cancel("test");
      const tookMs = performance.now() - startedAt;
      expect(["cancelled", "ended"]).toContain(outcome.how);
      expect(tookMs).toBeLessThan(2_000); // within cancelTimeoutMs
      expect((await done).how).toBe(outcome.how);
      expect(runs.running()).toBe(0);
      expect(runs.ended.every((r) => r.reaped)).toBe(true);
      for (const pid of pids) expect(pidAlive(pid)).toBe(false);
    });
  }
});

/**
 * Helpers for the adversarial probes. Public API only (src/index.ts, src/testing/index.ts).
 */
import { spawnSync } from "node:child_process";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import {
  type Frame,
  type FrameProcessor,
  Pipeline,
  PipelineTask,
  type PipelineTaskOptions,
  type TaskTimeoutEvent,
  VirtualClock,
  silentLogger,
} from "../../src/index.js";
import { FrameRecorder } from "../../src/testing/index.js";

export const REPO = resolve(import.meta.dirname, "../..");

export function setup(processors: FrameProcessor[], options: Partial<PipelineTaskOptions> = {}) {
  const clock = options.clock instanceof VirtualClock ? options.clock : new VirtualClock();
  const recorder = new FrameRecorder();
  const task = new PipelineTask(new Pipeline([...processors, recorder]), {
    logger: silentLogger,
    idleTimeoutMs: null,
    ...options,
    clock,
  });
  const timeouts: TaskTimeoutEvent[] = [];
  const finishedBy: Frame[] = [];
  const errors: Frame[] = [];
  task.on("timeout", (e) => void timeouts.push(e));
  task.on("pipelineFinished", (f) => void finishedBy.push(f));
  task.on("pipelineError", (f) => void errors.push(f));
  let started = false;
  task.on("pipelineStarted", () => {
    started = true;
  });
  const done = task.run();
  const whenStarted = () => clock.runUntil(() => started, { maxMs: 60_000 });
  return { clock, task, recorder, timeouts, finishedBy, errors, done, whenStarted, isStarted: () => started };
}

/**
 * Runs `body` (TypeScript, may import "voicepipe" via REPO/src paths) in a child process with a
 * hard real-time limit. A spin shows as `timedOut: true`. The child prints JSON lines; the last
 * one is returned as `result`.
 */
export function runIsolated(body: string, timeoutMs = 10_000) {
  const dir = mkdtempSync(join(tmpdir(), "vp-adv-"));
  const file = join(dir, "probe.mts");
  writeFileSync(file, body.replaceAll("@SRC@", join(REPO, "src")));
  const started = performance.now();
  const r = spawnSync(process.execPath, ["--import", "tsx", file], {
    cwd: REPO,
    timeout: timeoutMs,
    killSignal: "SIGKILL",
    encoding: "utf8",
  });
  const elapsedMs = Math.round(performance.now() - started);
  const lines = (r.stdout ?? "").trim().split("\n").filter(Boolean);
  let result: unknown;
  try {
    result = lines.length ? JSON.parse(lines.at(-1)!) : undefined;
  } catch {
    result = lines.at(-1);
  }
  return {
    timedOut: r.signal === "SIGKILL" || (r.error as NodeJS.ErrnoException | undefined)?.code === "ETIMEDOUT",
    status: r.status,
    signal: r.signal,
    stdout: r.stdout,
    stderr: r.stderr,
    elapsedMs,
    result,
  };
}

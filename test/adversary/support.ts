/**
 * Helpers for the adversarial probes. Public API only (src/index.ts, src/testing/index.ts); tasks
 * are started with test/support/task.ts's `startRecordedTask`, which is public API only too.
 */
import { spawnSync } from "node:child_process";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const REPO = resolve(import.meta.dirname, "../..");

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

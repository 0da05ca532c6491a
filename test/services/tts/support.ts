import { readFileSync } from "node:fs";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Frame, TextFrame, TTSAudioRawFrame } from "../../../src/index.js";
import type { CommandTTSService, CommandRun } from "../../../src/services/tts/command-tts-service.js";

/** Handles that a finished test must not leave behind (child processes and their pipes). */
export function processHandles(): { processes: number; pipes: number } {
  const info = process.getActiveResourcesInfo();
  return {
    processes: info.filter((r) => r === "ProcessWrap").length,
    pipes: info.filter((r) => r === "PipeWrap").length,
  };
}

/** Runs of a service's program, as its events report them. */
export function watchRuns(tts: CommandTTSService) {
  const started: CommandRun[] = [];
  const ended: Array<CommandRun & { killed: boolean; reaped: boolean; code: number | null }> = [];
  tts.on("processStarted", (run) => void started.push(run));
  tts.on("processEnded", (run) => void ended.push(run));
  return { started, ended, running: () => started.length - ended.length };
}

/** True while a process with this pid runs (a zombie waiting for its parent to reap it does not). */
export function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** A temp dir with executable scripts in it; `dispose()` removes it. */
export async function scriptDir() {
  const dir = await mkdtemp(join(tmpdir(), "vp-tts-"));
  return {
    dir,
    async script(name: string, body: string): Promise<string> {
      const path = join(dir, name);
      await writeFile(path, body);
      await chmod(path, 0o755);
      return path;
    },
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
}

/**
 * A script that speaks the start-up check ("ok") with espeak-ng and then, for any other text,
 * writes that text's audio and hangs with stdout open (`after: "hang"`), or writes nothing and
 * hangs (`before: "hang"` for every text but the check; `always-hang` for the check too).
 */
export function hangingEspeak(mode: "audio-then-hang" | "silent-hang" | "always-hang"): string {
  const speak = 'espeak-ng --stdout -b 1 "$text"';
  const body =
    mode === "always-hang"
      ? "sleep 600"
      : mode === "silent-hang"
        ? `if [ "$text" = "ok" ]; then ${speak}; else sleep 600; fi`
        : // The sleep is a child of the script holding stdout open; its pid is left beside the script.
          `${speak}; if [ "$text" != "ok" ]; then sleep 600 & echo $! > "$0.sleep-pid"; wait; fi`;
  return `#!/bin/sh\ntext=$(cat)\n${body}\n`;
}

/** Total audio in ms among `frames`. */
export function audioMs(frames: readonly Frame[]): number {
  return frames
    .filter((f): f is TTSAudioRawFrame => f instanceof TTSAudioRawFrame)
    .reduce((sum, f) => sum + f.durationMs, 0);
}

/** Frame names, with text for text frames: for readable order assertions. */
export function describeFrames(frames: readonly Frame[]): string[] {
  const out: string[] = [];
  for (const f of frames) {
    const name = f.constructor.name;
    if (name === "TTSAudioRawFrame" && out.at(-1) === "TTSAudioRawFrame*") continue;
    if (name === "TTSAudioRawFrame") out.push("TTSAudioRawFrame*");
    else if (name === "MetricsFrame") continue;
    else if (f instanceof TextFrame) out.push(`${name}(${f.text})`);
    else out.push(name);
  }
  return out;
}

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readWav } from "../../../src/audio/wav.js";
import { type Clock, SystemClock, VirtualClock } from "../../../src/clock/index.js";
import { InputAudioRawFrame } from "../../../src/frames/audio.js";
import { ErrorFrame } from "../../../src/frames/error.js";
import { FrameDirection } from "../../../src/frames/frame.js";
import { VADUserStartedSpeakingFrame, VADUserStoppedSpeakingFrame } from "../../../src/frames/speaking.js";
import { TranscriptionFrame } from "../../../src/frames/text.js";
import { Pipeline } from "../../../src/pipeline/pipeline.js";
import { PipelineTask } from "../../../src/pipeline/task.js";
import {
  PocketsphinxSTTService,
  type PocketsphinxSTTServiceOptions,
} from "../../../src/services/stt/pocketsphinx-stt-service.js";
import { FrameRecorder } from "../../../src/testing/frame-recorder.js";
import { memoryLogger } from "../../support/logger.js";
import { until } from "../websocket/loopback-provider.js";

// Real speech from Debian's flite (voice slt, 16 kHz) into Debian's pocketsphinx: `.ci/run`
// installs both. flite's slt voice is the one pocketsphinx hears best on open vocabulary.
let dir = "";
const speech = new Map<string, Int16Array>();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "voicepipe-sphinx-"));
  for (const text of ["what is the weather like today", "turn on the lights"]) {
    const file = join(dir, `${speech.size}.wav`);
    execFileSync("flite", ["-voice", "slt", "-t", text, "-o", file]);
    const wav = readWav(new Uint8Array(await readFile(file)));
    expect(wav.sampleRate).toBe(16_000);
    speech.set(text, wav.audio);
  }
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function session(
  options: PocketsphinxSTTServiceOptions,
  { waitForStart = true, clock = new VirtualClock() as Clock } = {},
) {
  const { logger } = memoryLogger();
  const stt = new PocketsphinxSTTService(options);
  const up = new FrameRecorder(FrameDirection.UPSTREAM);
  const down = new FrameRecorder(FrameDirection.DOWNSTREAM);
  const task = new PipelineTask(new Pipeline([up, stt, down]), {
    clock,
    logger,
    idleTimeoutMs: null,
    params: { audioInSampleRate: 16_000 },
  });
  let started = false;
  task.on("pipelineStarted", () => (started = true));
  const finished = task.run();
  const settle = <T>(p: Promise<T>): Promise<T | undefined> =>
    clock instanceof VirtualClock ? clock.runUntil(p) : p;
  if (waitForStart)
    await (clock instanceof VirtualClock
      ? clock.runUntil(() => started)
      : until(() => started, "the start", 10_000));
  /** One user turn: the VAD's start, the audio in 20 ms frames, the VAD's stop. */
  const say = async (audio: Int16Array): Promise<void> => {
    task.queueFrame(new VADUserStartedSpeakingFrame());
    for (let at = 0; at < audio.length; at += 320) {
      task.queueFrame(new InputAudioRawFrame(audio.slice(at, at + 320), 16_000, 1));
      if (clock instanceof VirtualClock) await clock.advance(20);
    }
    task.queueFrame(new VADUserStoppedSpeakingFrame());
  };
  const end = async () => (await settle(task.stopWhenDone().then(() => finished)))?.how;
  return { clock, stt, up, down, task, finished, say, end, settle };
}

/** A program that stands in for pocketsphinx and never answers (it sleeps); prints its pid first. */
async function sleeper(): Promise<{ binary: string; pidFile: string }> {
  const binary = join(dir, "sleepy-sphinx");
  const pidFile = join(dir, "sleepy.pid");
  await writeFile(binary, `#!/bin/sh\necho $$ > ${pidFile}\nexec sleep 30\n`);
  await chmod(binary, 0o755);
  return { binary, pidFile };
}

/** The pid the sleeper wrote, once it has (0 before). */
function pidIn(file: string): number {
  try {
    return Number(readFileSync(file, "utf8").trim()) || 0;
  } catch {
    return 0;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("PocketsphinxSTTService (Debian pocketsphinx, real speech from flite)", () => {
  it("transcribes a spoken question, open vocabulary", async () => {
    const s = await session({ prerollMs: 0 });
    await s.say(speech.get("what is the weather like today")!);
    await until(() => s.down.ofType(TranscriptionFrame).length === 1, "the transcript", 20_000);
    expect(s.down.ofType(TranscriptionFrame)[0]!.text.toLowerCase()).toBe("what is the weather like today");
    expect(s.up.ofType(ErrorFrame)).toEqual([]);
    expect(await s.end()).toBe("ended");
  });

  it("with a JSGF grammar, hears exactly the grammar's phrase", async () => {
    const grammar = join(dir, "commands.gram");
    await writeFile(
      grammar,
      "#JSGF V1.0;\ngrammar commands;\npublic <command> = turn (on | off) the (lights | radio) | what time is it;\n",
    );
    const s = await session({ prerollMs: 0, jsgf: grammar });
    await s.say(speech.get("turn on the lights")!);
    await until(() => s.down.ofType(TranscriptionFrame).length === 1, "the transcript", 20_000);
    expect(s.down.ofType(TranscriptionFrame)[0]!.text).toBe("turn on the lights");
    expect(await s.end()).toBe("ended");
  });

  it("a missing program is one fatal error at start, naming it and how to install it", async () => {
    const s = await session({ binary: "/nonexistent/pocketsphinx_continuous" }, { waitForStart: false });
    const outcome = await s.settle(s.finished);
    const errors = s.up.ofType(ErrorFrame);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.fatal).toBe(true);
    expect(errors[0]!.error.message).toMatch(
      /"\/nonexistent\/pocketsphinx_continuous" was not found.*apt-get install pocketsphinx pocketsphinx-en-us/,
    );
    expect(outcome?.how).not.toBe("ended");
  });

  it("a model that does not load is one fatal error at start, with the program's own error line", async () => {
    const s = await session({ hmm: join(dir, "no-such-model") }, { waitForStart: false });
    await s.settle(s.finished);
    const errors = s.up.ofType(ErrorFrame);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.fatal).toBe(true);
    expect(errors[0]!.error.message).toMatch(
      /speech recognition program "pocketsphinx_continuous" exited with code/,
    );
    expect(errors[0]!.error.message).toContain("no-such-model");
    expect(errors[0]!.error.message).not.toContain("INFO:");
  });

  it("a run past requestTimeoutMs is killed and said once; every later turn is still tried", async () => {
    const { binary, pidFile } = await sleeper();
    // A deadline on real work fires in real time (a VirtualClock waits for real work instead).
    const s = await session(
      { binary, checkAtStart: false, prerollMs: 0, requestTimeoutMs: 300 },
      { clock: new SystemClock() },
    );
    const pids: number[] = [];
    for (let turn = 0; turn < 3; turn++) {
      await rm(pidFile, { force: true });
      await s.say(new Int16Array(1600));
      await until(() => pidIn(pidFile) !== 0, "the program");
      pids.push(pidIn(pidFile));
      await until(() => s.stt.requestsInFlight === 0, "the run to be abandoned");
      await until(() => !alive(pids[turn]!), "the program to be killed");
    }
    const errors = s.up.ofType(ErrorFrame);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.fatal).toBe(false);
    expect(new Set(pids).size).toBe(3);
    expect(await s.end()).toBe("ended");
  });

  it("cancel kills a run in flight at once and leaves nothing running", async () => {
    const { binary, pidFile } = await sleeper();
    await rm(pidFile, { force: true });
    const s = await session({ binary, checkAtStart: false, prerollMs: 0 });
    await s.say(new Int16Array(1600));
    await until(() => pidIn(pidFile) !== 0, "the program");
    const pid = pidIn(pidFile);
    expect(alive(pid)).toBe(true);
    expect((await s.settle(s.task.cancel("test")))?.how).toBe("cancelled");
    await until(() => !alive(pid), "the program to be killed");
    expect(s.stt.requestsInFlight).toBe(0);
    const clock = s.clock as VirtualClock;
    expect(clock.pendingTimers).toBe(0);
    expect(clock.pendingRealWork).toBe(0);
  });

  it("refuses options that cannot be a path, naming them", () => {
    expect(() => new PocketsphinxSTTService({ jsgf: "" })).toThrow(/jsgf must be a non-empty path/);
    expect(() => new PocketsphinxSTTService({ binary: 3 as unknown as string })).toThrow(/binary must be/);
  });
});

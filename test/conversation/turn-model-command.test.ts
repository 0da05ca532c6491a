/**
 * `npm start` itself (examples/03-voice-bot/index.ts, run as a command) with `SMART_TURN_MODEL`:
 * the startup line says which turn model is used and from where; the assistant, on loopback
 * Deepgram, OpenAI and Cartesia servers, ends the user's turn by the model and answers (a missing
 * file, one warning and the echo bot without the model: test/examples/voice-bot-command.test.ts). The session's
 * debug log (`VOICEPIPE_LOG_LEVEL=debug`) says which strategy ended each turn. Real time, about
 * 20 s a test: in the real-time project, one file at a time (the model's analysis has a 1 s
 * deadline, which other test files competing for the cores made it miss).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { readWavFile } from "../../src/audio/wav.js";
import { encodeOnnxModel, smartTurnStandIn } from "../audio/turn/onnx-builder.js";
import { LoopbackClient } from "./loopback-client.js";
import { speechDeepgram } from "./speech-deepgram.js";
import { fakeCartesia } from "../services/cartesia/fake-cartesia.js";
import { answer, loopbackOpenAI } from "../services/llm/loopback-openai.js";

const COMMAND = fileURLToPath(new URL("../../examples/03-voice-bot/index.ts", import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), "voicepipe-turn-command-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
/** A Smart Turn v3 stand-in that says "complete" (p = 0.73) whatever it hears. */
const ALWAYS_COMPLETE = join(scratch, "always-complete.onnx");
writeFileSync(ALWAYS_COMPLETE, encodeOnnxModel(smartTurnStandIn({ weight: 0.001, centre: -1000 })));

interface Command {
  readonly child: ChildProcess;
  readonly stdout: () => string;
  readonly stderr: () => string;
  readonly exited: Promise<number | null>;
}
const running: Command[] = [];
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of running.splice(0)) c.child.kill("SIGKILL");
  for (const f of cleanups.splice(0)) await f();
});

/** `npm start` with `env` over a copy of this process's environment without any provider key. */
function start(env: Record<string, string>): Command {
  const base = Object.fromEntries(
    Object.entries(process.env).filter(
      ([k]) => !/_API_KEY$|_BASE_URL$|^VOICEPIPE_|^SMART_TURN_MODEL$/.test(k),
    ),
  );
  const child = spawn(process.execPath, ["--import", "tsx", COMMAND, "--port", "0"], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...base, VOICEPIPE_LOG_LEVEL: "debug", ...env },
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
  const command: Command = {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited: new Promise((resolve) => child.once("exit", (code) => resolve(code))),
  };
  running.push(command);
  return command;
}

/** The first line, once printed, and the page's URL in it. */
async function firstLine(command: Command): Promise<{ line: string; url: string }> {
  await expect.poll(command.stdout, { timeout: 60_000 }).toContain("\n");
  const line = command.stdout().split("\n")[0]!;
  const url = /^voicepipe: open (http:\/\/127\.0\.0\.1:\d+\/) in a browser/.exec(line)?.[1];
  expect(url, command.stdout() + command.stderr()).toBeDefined();
  return { line, url: url! };
}

/** "The quick brown fox … river bank." (3.6 s) with 100 ms of quiet on each side. */
async function sentence(): Promise<Int16Array> {
  const wav = await readWavFile(fileURLToPath(new URL("../fixtures/vad-flite.wav", import.meta.url)));
  return wav.audio.slice(16 * 900, 16 * 4722);
}

/** The debug lines saying how each user turn ended: "(Strategy: reason)". */
const turnEnds = (stderr: string): string[] =>
  [...stderr.matchAll(/ user turn \d+ stopped (\(.*\))(?: \{.*\})?$/gm)].map((m) => m[1]!);

/** The warnings and errors the command logged. */
const warnings = (stderr: string): string[] => stderr.split("\n").filter((l) => / (WARN|ERROR) /.test(l));

async function stop(command: Command): Promise<void> {
  command.child.kill("SIGINT");
  expect(await command.exited).toBe(0);
}

describe("npm start with SMART_TURN_MODEL", () => {
  it("the assistant says it uses the model and from where, ends the user's turn by it, and answers", async () => {
    const deepgram = await speechDeepgram({ utterances: ["What time is it?"] });
    const openai = await loopbackOpenAI((sse) => answer(sse, ["It is noon."]));
    const cartesia = await fakeCartesia();
    cleanups.push(
      () => deepgram.close(),
      () => openai.close(),
      () => cartesia.close(),
    );
    const command = start({
      DEEPGRAM_API_KEY: "test-key",
      DEEPGRAM_BASE_URL: deepgram.baseUrl,
      OPENAI_API_KEY: "sk-test",
      OPENAI_BASE_URL: openai.baseURL,
      OPENAI_MODEL: "gpt-test",
      CARTESIA_API_KEY: "test-key",
      CARTESIA_BASE_URL: cartesia.baseUrl,
      SMART_TURN_MODEL: ALWAYS_COMPLETE,
    });
    const { line, url } = await firstLine(command);
    expect(line).toMatch(
      new RegExp(
        "; the assistant answers: deepgram hears, openai thinks, cartesia speaks; " +
          `Smart Turn v3 ends the user's turns \\(SMART_TURN_MODEL=${ALWAYS_COMPLETE.replace(/[.]/g, "\\.")}\\)$`,
      ),
    );
    const client = await LoopbackClient.connect(url);
    cleanups.push(() => client.close());
    const greeted = await client.waitFor("bot-stopped-speaking", 0, 30_000);
    void client.speak(await sentence());
    const userStopped = await client.waitFor("user-stopped-speaking", greeted.atMs, 15_000);
    await client.waitFor("bot-started-speaking", userStopped.atMs, 15_000);
    expect(turnEnds(command.stderr())[0], warnings(command.stderr()).join("\n")).toBe(
      "(TurnAnalyzerStopStrategy: the turn analyzer says complete (p=0.73))",
    );
    const sent = openai.requests[0]!.body["messages"] as { role: string; content: unknown }[];
    expect(sent.at(-1)).toEqual({ role: "user", content: "What time is it?" });
    expect(warnings(command.stderr()).filter((l) => !l.includes("EventLoopStallMonitor"))).toEqual([]);
    client.close();
    await stop(command);
  }, 120_000);
});

/**
 * The fully local loop of the assistant `npm start` runs: Debian's pocketsphinx hears, a loopback
 * OpenAI-compatible server answers a scripted sentence, Debian's flite speaks, through the
 * development server and a loopback web client. The question is flite speech; the answer the
 * client receives is transcribed back with pocketsphinx and checked. Real time, about 10 s.
 * Skipped where the programs are not installed (`.ci/run` installs both).
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { AudioConverter } from "../../src/audio/audio-converter.js";
import { readWav, writeWav } from "../../src/audio/wav.js";
import { answer } from "../services/llm/loopback-openai.js";
import { type AssistantHarness, startAssistant } from "./assistant-harness.js";

function installed(program: string): boolean {
  try {
    execFileSync("sh", ["-c", 'command -v "$0"', program], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
const missing = ["flite", "pocketsphinx_continuous"].filter((p) => !installed(p));

const QUESTION = "what is the weather like today";
const ANSWER = "The weather is sunny today.";

let harness: AssistantHarness | undefined;
let dir: string | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

/** Transcribes 16 kHz mono speech with pocketsphinx (open vocabulary), lower case. */
function transcribe(file: string): string {
  const out = execFileSync(
    "pocketsphinx_continuous",
    ["-samprate", "16000", "-infile", file, "-logfn", "/dev/null"],
    {
      encoding: "utf8",
      timeout: 20_000,
    },
  );
  return out
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)
    .join(" ")
    .toLowerCase();
}

describe.skipIf(missing.length > 0)(
  `the fully local assistant: pocketsphinx, a loopback LLM, flite (needs ${missing.join(", ") || "nothing more"})`,
  () => {
    it("hears a spoken question, answers it aloud, and the answer the client received says the scripted sentence", async () => {
      dir = await mkdtemp(join(tmpdir(), "vp-local-loop-"));
      const questionFile = join(dir, "question.wav");
      execFileSync("flite", ["-voice", "slt", "-t", QUESTION, "-o", questionFile]);
      const question = readWav(new Uint8Array(await readFile(questionFile)));
      expect(question.sampleRate).toBe(16_000);

      harness = await startAssistant({
        choice: { stt: "pocketsphinx", llm: "openai", tts: "flite" },
        greeting: "Hello.",
        llm: (sse) => answer(sse, ANSWER.split(/(?= )/u)),
      });
      const client = await harness.connect();
      const greeted = await client.waitFor("bot-stopped-speaking", 0, 20_000);
      void client.speak(question.audio);
      const transcript = await client.waitFor("user-transcription", greeted.atMs, 20_000);
      expect(String((transcript.data as { text: string }).text).toLowerCase()).toBe(QUESTION);
      const started = await client.waitFor("bot-started-speaking", transcript.atMs, 20_000);
      const stopped = await client.waitFor("bot-stopped-speaking", started.atMs, 20_000);

      // The LLM was asked the question pocketsphinx heard.
      const sent = harness.openai.requests[0]!.body["messages"] as { role: string; content: unknown }[];
      expect(sent.at(-1)).toEqual({ role: "user", content: QUESTION });

      // The audio the client received for the answer, back to 16 kHz, through pocketsphinx.
      const received = client.audio.filter((a) => a.atMs >= started.atMs - 50 && a.atMs <= stopped.atMs + 1);
      expect(received.every((a) => a.sampleRate === 24_000 && a.numChannels === 1)).toBe(true);
      const at24k = new Int16Array(received.reduce((n, a) => n + a.samples.length, 0));
      let offset = 0;
      for (const a of received) {
        at24k.set(a.samples, offset);
        offset += a.samples.length;
      }
      const converter = new AudioConverter({ outRate: 16_000 });
      await converter.prepare(24_000, 1);
      const at16k = converter.convert(at24k, 24_000, 1);
      const padding = new Int16Array(8_000);
      const answerFile = join(dir, "answer.wav");
      await writeFile(
        answerFile,
        writeWav({ audio: Int16Array.from([...padding, ...at16k, ...padding]), sampleRate: 16_000 }),
      );
      expect(transcribe(answerFile)).toBe("the weather is sunny today");
      expect(harness.session().parts.context.messages.at(-1)).toMatchObject({
        role: "assistant",
        content: ANSWER,
      });
    });
  },
);
